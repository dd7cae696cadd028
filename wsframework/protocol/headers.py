"""Parsing of the WebSocket-specific handshake headers in WebSocket-Node's
shapes: subprotocol lists and X-Forwarded-For with its exact splitting
rules (reference §3.2, §3.3), and extension offers as the one RFC parser
of :mod:`wsframework.protocol.extensions` reads them."""

from __future__ import annotations

import re

from .extensions import parse_extension_header
# The token check lives with the rest of HTTP syntax; kept importable here.
from .http11 import SEPARATORS, invalid_token_char

__all__ = [
    "AttrDict", "parse_protocols", "parse_extensions", "parse_forwarded_for",
    "invalid_token_char", "SEPARATORS",
]

_LIST_SPLIT = re.compile(r",\s*")


class AttrDict(dict):
    """A dict whose keys can also be read as attributes (``c.name``), so
    Node-shaped objects (``{name, value}``) read naturally in Python."""

    __slots__ = ()

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def parse_protocols(header: str | None) -> tuple[list[str], dict[str, str]]:
    """Split ``Sec-WebSocket-Protocol`` on ``,\\s*``: the lowercased list and
    a map from each lowercased entry to the client's spelling."""
    if not header:
        return [], {}
    protocols = []
    full_case = {}
    for entry in _LIST_SPLIT.split(header):
        lower = entry.lower()
        protocols.append(lower)
        full_case[lower] = entry
    return protocols, full_case


def parse_extensions(header: str | None) -> list[AttrDict]:
    """``Sec-WebSocket-Extensions`` in WebSocket-Node's shape, ``[{name,
    params: [{name, value}]}]``, read by the package's one extension parser
    (:func:`~wsframework.protocol.extensions.parse_extension_header`, RFC 6455 §9.1):
    values unquoted and, as Node has them, lowercased; ``value`` None for
    a parameter without ``=``; ``[]`` for a malformed header, which the
    negotiation ignores too."""
    if not header:
        return []
    try:
        elements = parse_extension_header([header])
    except ValueError:
        return []
    return [AttrDict(name=name, params=[
        AttrDict(name=key, value=None if value is None else value.lower())
        for key, value in params]) for name, params in elements]


def parse_forwarded_for(header: str | None, peer: str) -> list[str]:
    """``remote_addresses``: the X-Forwarded-For entries, then the peer."""
    if not header:
        return [peer]
    return [entry for entry in (part.strip() for part in _LIST_SPLIT.split(header)) if entry] \
        + [peer]

