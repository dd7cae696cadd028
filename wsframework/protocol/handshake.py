"""The opening handshake (RFC 6455 §4): keys, checks of the client's
request and of the server's response, and the bytes of each side's head.

Texts are WebSocket-Node's where it has a check; the checks it lacks (the
reference's §9 items 13, 15, 16) have texts in the same style.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from typing import Iterable, Sequence

from ..exceptions import HandshakeError, WebSocketHandshakeError
from .http11 import (HttpRequest, HttpResponse, check_field_name, clean_field_value,
                     serialize_head, status_text)

__all__ = [
    "GUID", "accept_key", "generate_key", "is_valid_key", "parse_version",
    "check_request", "accept_response", "reject_response", "client_request",
    "check_response", "non_101_message", "header_has_token",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSIONS = (8, 13)

_PARSE_INT = re.compile(r"\s*([+-]?\d+)")
_TOKEN_SPLIT = re.compile(r"\s*,\s*")
# A key that is certainly base64 of 16 bytes: 22 base64 digits and the padding.
_KEY = re.compile(r"\s*[A-Za-z0-9+/]{22}==\s*")
# The 101 head up to the accept value: its first lines never change.
_ACCEPT_HEAD = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Accept: ")


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""
    digest = hashlib.sha1((key + GUID).encode("ascii", "replace")).digest()
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def generate_key() -> str:
    """A fresh ``Sec-WebSocket-Key``: 16 bytes from ``os.urandom``, base64."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is the base64 encoding of 16 bytes (RFC 6455 §4.1)."""
    if _KEY.fullmatch(key):             # the usual spelling: no decoding needed
        return True
    try:
        return len(base64.b64decode(key.strip().encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def parse_version(value: str | None) -> int:
    """JavaScript's ``parseInt(value, 10)``; 0 where that gives NaN."""
    if value == "13":                   # what every current client sends
        return 13
    match = _PARSE_INT.match(value or "")
    return int(match.group(1)) if match else 0


def _older_than_1_1(version: str) -> bool:
    """Whether an HTTP version ("1.0", "2.0"...) is below 1.1."""
    major, _, minor = version.partition(".")
    return (int(major), int(minor)) < (1, 1)


def header_has_token(headers, name: str, token: str) -> bool:
    """Whether a comma-separated header (possibly repeated) holds ``token``,
    compared case-insensitively."""
    token = token.lower()
    for value in headers.get_all(name) or ():
        value = value.strip().lower()
        if "," not in value:
            # One element (the usual ``Upgrade: websocket``): no split.
            if value == token:
                return True
        elif token in _TOKEN_SPLIT.split(value):
            return True
    return False


def check_request(request: HttpRequest) -> tuple[str, str, int]:
    """Check a client's handshake request; return (host, key, version).

    Raises :class:`HandshakeError` with the HTTP status and reason of the
    first failed check, in WebSocket-Node's order after the RFC checks that
    Node leaves to its HTTP layer (method, version, Upgrade, Connection).
    """
    headers = request.headers
    if request.method != "GET":
        raise HandshakeError("Client must use the GET method.", 400)
    if request.http_version != "1.1" and _older_than_1_1(request.http_version):
        raise HandshakeError("Client must use HTTP/1.1 or higher.", 400)
    if not header_has_token(headers, "Upgrade", "websocket"):
        raise HandshakeError("Client must provide an Upgrade: websocket header.", 400)
    if not header_has_token(headers, "Connection", "upgrade"):
        raise HandshakeError("Client must provide a Connection: Upgrade header.", 400)
    host = headers.get("Host") or ""
    if not host:
        raise HandshakeError("Client must provide a Host header.", 400)
    key = (headers.get("Sec-WebSocket-Key") or "").strip()
    if not key:
        raise HandshakeError("Client must provide a value for Sec-WebSocket-Key.", 400)
    if not is_valid_key(key):
        raise HandshakeError(
            "Client must provide a valid Sec-WebSocket-Key (base64 of 16 bytes).", 400)
    version = parse_version(headers.get("Sec-WebSocket-Version"))
    # A missing or unreadable version is one we do not understand: RFC 6455
    # §4.2.2 wants 426 and the versions we speak (Node answers 400 bare).
    if not version:
        raise HandshakeError("Client must provide a value for Sec-WebSocket-Version.",
                             426, {"Sec-WebSocket-Version": "13"})
    if version not in SUPPORTED_VERSIONS:
        raise HandshakeError(
            f"Unsupported websocket client version: {version}"
            "Only versions 8 and 13 are supported.",
            426, {"Sec-WebSocket-Version": "13"})
    return host, key, version


def accept_response(key: str, *, protocol: str | None = None,
                    origin: str | None = None, websocket_version: int = 13,
                    cookie_lines: Iterable[str] = (), extensions: str | None = None,
                    extra_headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The ``101 Switching Protocols`` head, headers in Node's order.

    Values have control characters removed; an ``extra_headers`` name that
    is not a token raises :class:`ValueError`."""
    # Written straight from a fixed start (no list of pairs, no formatting
    # of the constant lines): this runs once per accepted connection.
    parts = [_ACCEPT_HEAD, accept_key(key)]
    if protocol:
        parts.append(f"\r\nSec-WebSocket-Protocol: {protocol}")
    if origin:
        name = "Origin" if websocket_version == 13 else "Sec-WebSocket-Origin"
        parts.append(f"\r\n{name}: {clean_field_value(origin)}")
    for line in cookie_lines:
        parts.append(f"\r\nSet-Cookie: {line}")
    if extensions:
        parts.append(f"\r\nSec-WebSocket-Extensions: {extensions}")
    for name, value in extra_headers:
        parts.append(f"\r\n{check_field_name(name)}: {clean_field_value(value)}")
    parts.append("\r\n\r\n")
    return "".join(parts).encode("utf-8")


def reject_response(status: int, reason: str | None = None,
                    extra_headers: dict[str, str] | None = None) -> bytes:
    """A rejection head: status line, ``Connection: close``, the reason in
    ``X-WebSocket-Reject-Reason`` and extra headers.

    Values have control characters removed (CR and LF, as in Node, and the
    others).  :class:`ValueError` if ``status`` is not an error status
    (400-599: a 101 or 200 "rejection" would tell the client it was let in)
    or an extra header name is not a token.
    """
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"A rejection needs an HTTP error status (400-599), not {status!r}.")
    headers = [("Connection", "close")]
    if reason:
        headers.append(("X-WebSocket-Reject-Reason", clean_field_value(reason)))
    for name, value in (extra_headers or {}).items():
        headers.append((check_field_name(name), clean_field_value(value)))
    return serialize_head(f"HTTP/1.1 {status} {status_text(status)}", headers)


def client_request(path: str, host: str, key: str, *, websocket_version: int = 13,
                   protocols: Sequence[str] = (), origin: str | None = None,
                   headers: Iterable[tuple[str, str]] = (),
                   extensions: str | None = None) -> bytes:
    """The client's GET head.  User ``headers`` come first; the handshake's
    own headers override them, except a user ``Host`` (as in Node)."""
    merged: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        merged[name.lower()] = (clean_field_value(name), clean_field_value(value))
    fixed = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", str(websocket_version)),
        ("Sec-WebSocket-Key", key),
    ]
    for name, value in fixed:
        merged[name.lower()] = (name, value)
    merged.setdefault("host", ("Host", host))
    if protocols:
        merged["sec-websocket-protocol"] = ("Sec-WebSocket-Protocol", ", ".join(protocols))
    if origin:
        name = "Origin" if websocket_version == 13 else "Sec-WebSocket-Origin"
        merged[name.lower()] = (name, clean_field_value(origin))
    if extensions:
        merged["sec-websocket-extensions"] = ("Sec-WebSocket-Extensions", extensions)
    return serialize_head(f"GET {path} HTTP/1.1", merged.values())


def non_101_message(response: HttpResponse) -> str:
    """WebSocket-Node's text for a response that is not 101."""
    lines = [f"Server responded with a non-101 status: {response.status} {response.reason}",
             "Response Headers Follow:"]
    lines.extend(f"{name.lower()}: {value}" for name, value in response.headers.items())
    return "\n".join(lines) + "\n"


def check_response(response: HttpResponse, key: str,
                   protocols: Sequence[str], offered_extensions: bool = False) -> str | None:
    """Check a 101 response; return the subprotocol the server chose.

    Raises :class:`WebSocketHandshakeError` with Node's texts, in its order.
    """
    headers = response.headers
    protocol = headers.get("Sec-WebSocket-Protocol")
    if protocols:
        if not protocol:
            raise WebSocketHandshakeError("Expected a Sec-WebSocket-Protocol header.", response)
        if protocol not in protocols:
            raise WebSocketHandshakeError("Server did not respond with a requested protocol.",
                                          response)
    elif protocol:
        raise WebSocketHandshakeError("Server sent a subprotocol but none was requested",
                                      response)
    if not header_has_token(headers, "Connection", "upgrade"):
        raise WebSocketHandshakeError("Expected a Connection: Upgrade header from the server",
                                      response)
    if (headers.get("Upgrade") or "").strip().lower() != "websocket":
        raise WebSocketHandshakeError("Expected an Upgrade: websocket header from the server",
                                      response)
    accept = headers.get("Sec-WebSocket-Accept")
    if not accept:
        raise WebSocketHandshakeError("Expected Sec-WebSocket-Accept header from server",
                                      response)
    expected = accept_key(key)
    if accept.strip() != expected:
        raise WebSocketHandshakeError(
            f"Sec-WebSocket-Accept header from server didn't match expected value of {expected}",
            response)
    if headers.get("Sec-WebSocket-Extensions") and not offered_extensions:
        raise WebSocketHandshakeError("Server sent unrequested extensions", response)
    return protocol or None
