"""Incremental UTF-8 validation that fails as soon as the bytes can no
longer be valid, not at the end of the message (RFC 6455 §8.1)."""

from __future__ import annotations

import codecs

from ..exceptions import InvalidUTF8

__all__ = ["Utf8Decoder", "utf8_length"]

_IncrementalDecoder = codecs.getincrementaldecoder("utf-8")

# Decoded pieces shorter than this are joined to the previous short piece:
# a str object and its list slot cost ~60 bytes beyond the text, so a
# message in tiny fragments would otherwise hold many times its size.
_SMALL_PIECE = 1024


class Utf8Decoder:
    """Decodes a text message piece by piece, raising :class:`InvalidUTF8`
    at the first byte that makes the sequence invalid.

    CPython's incremental decoder already rejects most bad prefixes at once;
    the one it leaves pending is a surrogate lead (``ED A0..BF``), which is
    checked here so that it fails fast too.
    """

    __slots__ = ("_decoder", "_parts")

    def __init__(self) -> None:
        self._decoder = _IncrementalDecoder("strict")
        self._parts: list[str] = []

    def feed(self, data: bytes) -> None:
        """Validate and decode the next bytes of the message."""
        try:
            text = self._decoder.decode(data, False)
        except UnicodeDecodeError:
            raise InvalidUTF8() from None
        if text:
            parts = self._parts
            if len(text) < _SMALL_PIECE and parts and len(parts[-1]) < _SMALL_PIECE:
                parts[-1] += text
            else:
                parts.append(text)
        pending = self._decoder.getstate()[0]
        if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
            raise InvalidUTF8()

    def finish(self) -> str:
        """End the message: raise if it stops mid-character, else return it."""
        try:
            tail = self._decoder.decode(b"", True)
        except UnicodeDecodeError:
            raise InvalidUTF8() from None
        parts = self._parts
        if tail:
            parts.append(tail)
        self._parts = []
        self._decoder.reset()
        if len(parts) == 1:
            return parts[0]
        return "".join(parts)


def decode_utf8(data: bytes) -> str:
    """Decode a complete UTF-8 payload or raise :class:`InvalidUTF8`."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUTF8() from None


def utf8_length(text: str) -> int:
    """Bytes of ``text`` in UTF-8, without encoding it when it is ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))
