"""Cookies in the handshake: parsing the request's ``Cookie`` header and
writing ``Set-Cookie`` lines for ``accept(cookies=...)``, with the rules
and error texts of WebSocket-Node (reference §3.2, §3.4)."""

from __future__ import annotations

import datetime
import email.utils
import math
import re
from typing import Any, Iterable, Mapping
from urllib.parse import unquote

from .headers import AttrDict

__all__ = ["parse_cookies", "serialize_cookies", "decode_uri_component"]

_COOKIE_SPLIT = re.compile(r"[;,] *")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_STRIPPED = re.compile(r"[\x00-\x20;]")


def decode_uri_component(value: str) -> str:
    """JavaScript's ``decodeURIComponent``: ValueError("URI malformed") on
    a bad escape or percent-encoded bytes that are not UTF-8."""
    if "%" not in value:                # nothing to decode (most cookies)
        return value
    if _BAD_PERCENT.search(value):
        raise ValueError("URI malformed")
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("URI malformed") from None


def parse_cookies(header: str | None) -> list[AttrDict]:
    """The ``Cookie`` header as a list of ``{name, value}``; duplicates kept.

    Raises ValueError("URI malformed") for a bad percent-escape.
    """
    if not header:
        return []
    cookies = []
    for pair in _COOKIE_SPLIT.split(header):
        name, eq, value = pair.partition("=")
        if not eq:
            cookies.append(AttrDict(name=pair, value=None))
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.append(AttrDict(name=name.strip(), value=decode_uri_component(value)))
    return cookies


def _bad_name_char(char: str) -> bool:
    code = ord(char)
    return (code <= 0x20 or code == 0x7F or char in '"(),/@{}'
            or 0x3A <= code <= 0x3F or 0x5B <= code <= 0x5E)


def _bad_value_char(char: str) -> bool:
    code = ord(char)
    return not (code == 0x21 or 0x23 <= code <= 0x2B or 0x2D <= code <= 0x3A
                or 0x3C <= code <= 0x5B or 0x5D <= code <= 0x7E)


def _bad_path_char(char: str) -> bool:
    return ord(char) <= 0x20 or char == ";"


def _first(value: str, bad) -> str | None:
    return next((c for c in value if bad(c)), None)


def _serialize_one(cookie: Mapping[str, Any]) -> str:
    name = _STRIPPED.sub("", str(cookie.get("name") or ""))
    value = _STRIPPED.sub("", str(cookie.get("value") or ""))
    if not name or not value:
        raise ValueError('Each cookie to set must at least provide a "name" and "value"')
    char = _first(name, _bad_name_char)
    if char is not None:
        raise ValueError(f"Illegal character {char} in cookie name")
    inner = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    char = _first(inner, _bad_value_char)
    if char is not None:
        raise ValueError(f"Illegal character {char} in cookie value")
    parts = [f"{name}={value}"]
    path = cookie.get("path")
    if path:
        char = _first(str(path), _bad_path_char)
        if char is not None:
            raise ValueError(f"Illegal character {char} in cookie path")
        parts.append(f"Path={path}")
    domain = cookie.get("domain")
    if domain:
        if not isinstance(domain, str):
            raise ValueError("Domain must be specified and must be a string.")
        char = _first(domain, _bad_path_char)
        if char is not None:
            raise ValueError(f"Illegal character {char} in cookie domain")
        parts.append(f"Domain={domain.lower()}")
    expires = cookie.get("expires")
    if expires:
        if not isinstance(expires, datetime.datetime):
            raise ValueError('Value supplied for cookie "expires" must be a vaild date object')
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=datetime.timezone.utc)
        expires = expires.astimezone(datetime.timezone.utc)
        parts.append(f"Expires={email.utils.format_datetime(expires, usegmt=True)}")
    maxage = cookie.get("maxage")
    if maxage:
        try:
            seconds = float(maxage)
        except (TypeError, ValueError):
            seconds = 0.0
        if isinstance(maxage, bool) or not 0 < seconds < math.inf:   # NaN, inf too
            raise ValueError('Value supplied for cookie "maxage" must be a non-zero number')
        parts.append(f"Max-Age={math.floor(seconds + 0.5)}")  # JS Math.round
    for flag, label in (("secure", "Secure"), ("httponly", "HttpOnly")):
        setting = cookie.get(flag)
        if setting:
            if setting is not True:
                raise ValueError(f'Value supplied for cookie "{flag}" must be of type boolean')
            parts.append(label)
    return ";".join(parts)


def serialize_cookies(cookies: Iterable[Mapping[str, Any]]) -> list[str]:
    """``Set-Cookie`` values for ``cookies`` (a list of mappings with
    ``name``, ``value`` and optional ``path``, ``domain``, ``expires``,
    ``maxage``, ``secure``, ``httponly``); ValueError with Node's text."""
    if not isinstance(cookies, (list, tuple)):
        raise ValueError('Value supplied for "cookies" argument must be an array.')
    lines = []
    seen = set()
    for cookie in cookies:
        if not isinstance(cookie, Mapping):
            raise ValueError('Each cookie to set must at least provide a "name" and "value"')
        name = _STRIPPED.sub("", str(cookie.get("name") or ""))
        if name and name in seen:
            raise ValueError("You may not specify the same cookie name twice.")
        lines.append(_serialize_one(cookie))
        seen.add(name)
    return lines
