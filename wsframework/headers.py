"""Parsing and checking of the WebSocket-specific handshake headers:
subprotocol lists, extension offers and X-Forwarded-For, with the exact
splitting rules of WebSocket-Node (reference §3.2, §3.3)."""

from __future__ import annotations

import re

# The token check lives with the rest of HTTP syntax; kept importable here.
from .http11 import SEPARATORS, invalid_token_char

__all__ = [
    "AttrDict", "parse_protocols", "parse_extensions", "parse_forwarded_for",
    "invalid_token_char", "SEPARATORS",
]

_LIST_SPLIT = re.compile(r",\s*")
_PARAM_SPLIT = re.compile(r";\s*")


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
    """Parse ``Sec-WebSocket-Extensions`` as WebSocket-Node does: a list of
    ``{name, params: [{name, value}]}``, lowercased, ``value`` None when a
    parameter has no ``=`` (quotes are kept)."""
    if not header:
        return []
    result = []
    for item in _LIST_SPLIT.split(header.lower()):
        name, *raw_params = _PARAM_SPLIT.split(item)
        params = []
        for raw in raw_params:
            pname, eq, value = raw.partition("=")
            params.append(AttrDict(name=pname, value=value if eq else None))
        result.append(AttrDict(name=name, params=params))
    return result


def parse_forwarded_for(header: str | None, peer: str) -> list[str]:
    """``remote_addresses``: the X-Forwarded-For entries, then the peer."""
    if not header:
        return [peer]
    return [entry for entry in (part.strip() for part in _LIST_SPLIT.split(header)) if entry] \
        + [peer]

