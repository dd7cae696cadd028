"""The extension mechanism (RFC 6455 §9): what a negotiated extension may
do to frames, and how offers and answers are written.

An :class:`Extension` owns some RSV bits and transforms the payload of data
messages: :meth:`~Extension.encode` on the way out, per message, and
:meth:`~Extension.decode` on the way in, per frame.  The parser and the
connection only call these hooks, so another extension needs no change in
the frame code.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .http11 import is_token

__all__ = ["Extension", "format_extension", "parse_extension_header"]

Params = list[tuple[str, "str | None"]]


class Extension:
    """A negotiated extension of one connection.

    ``rsv_mask`` is the RSV bits it owns (``0b100`` is RSV1); ``params``
    what was agreed, as (name, value) pairs.
    """

    name = ""
    rsv_mask = 0

    def __init__(self, params: Params | None = None) -> None:
        self.params: Params = list(params or [])

    def begin_message(self, rsv: int) -> bool:
        """A data message starts with RSV bits ``rsv``: return whether this
        extension transforms it.  An extension only ever transforms
        messages that carry one of its RSV bits (the parser relies on it:
        messages without RSV bits take a fast path that skips this call)."""
        return False

    def decode(self, payload: bytes, fin: bool, max_size: int) -> bytes:
        """Transform one received frame's payload of a message this
        extension handles; output above ``max_size`` bytes raises
        :class:`~wsframework.exceptions.PayloadTooBig`."""
        return payload

    def encode(self, payload: bytes) -> tuple[int, bytes]:
        """Transform an outgoing message: (RSV bits of its first frame, new
        payload)."""
        return 0, payload

    def __str__(self) -> str:
        return format_extension(self.name, self.params)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.name
        return NotImplemented

    __hash__ = object.__hash__


def format_extension(name: str, params: Iterable[tuple[str, str | None]]) -> str:
    """One element of a ``Sec-WebSocket-Extensions`` header."""
    parts = [name]
    parts.extend(key if value is None else f"{key}={value}" for key, value in params)
    return "; ".join(parts)


def parse_extension_header(values: Sequence[str]) -> list[tuple[str, Params]]:
    """Parse ``Sec-WebSocket-Extensions`` values (RFC 6455 §9.1) into
    ``[(name, [(param, value or None), ...]), ...]``; quoted values are
    unquoted.  :class:`ValueError` for a malformed header."""
    key = tuple(values)
    parsed = _parsed.get(key)
    if parsed is None:
        parsed = _parse_extension_header(key)
        if sum(map(len, key)) <= _CACHED_MAX_LENGTH:
            if len(_parsed) >= _CACHED_MAX:
                _parsed.clear()
            _parsed[key] = parsed
    # Fresh lists for the caller, the cached pairs being immutable tuples.
    return [(name, list(params)) for name, params in parsed]


# The last headers parsed, by their values: clients of one kind send the
# same offer, which a handshake reads twice (Node's shape, negotiation).
# Bounded in count and size, so odd offers cannot make it grow.
_parsed: dict[tuple[str, ...], tuple[tuple[str, tuple], ...]] = {}
_CACHED_MAX = 64
_CACHED_MAX_LENGTH = 256


def _parse_extension_header(values: Sequence[str]) -> tuple[tuple[str, tuple], ...]:
    """parse_extension_header's work, as tuples (cacheable)."""
    result = []
    for value in values:
        for element in _split(value, ","):
            element = element.strip()
            if not element:
                continue
            name, *raw_params = _split(element, ";")
            name = name.strip().lower()
            if not is_token(name):
                raise ValueError(f"invalid extension name {name!r}")
            params: Params = []
            for raw in raw_params:
                key, eq, val = raw.partition("=")
                key = key.strip().lower()
                if not is_token(key):
                    raise ValueError(f"invalid extension parameter {key!r}")
                if not eq:
                    params.append((key, None))
                    continue
                val = val.strip()
                if len(val) >= 2 and val[0] == val[-1] == '"':
                    val = val[1:-1]
                if not is_token(val):
                    raise ValueError(f"invalid value {val!r} for extension parameter {key!r}")
                params.append((key, val))
            result.append((name, tuple(params)))
    return tuple(result)


def _split(value: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes."""
    if '"' not in value:                # no quotes (the usual offer): a plain split
        return value.split(separator)
    parts, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise ValueError("unterminated quoted string in extension header")
    parts.append("".join(current))
    return parts
