"""The frame header codec and the framing of outgoing messages (RFC 6455 §5).

Pure protocol code: bytes in, bytes out, no sockets and no gevent.  Every
outgoing message is framed by :func:`encode_message` (a connection's
``send()``, ``server.broadcast()`` and the client alike), and every frame
header is decoded by :func:`decode_header` (the parser and
:class:`~wsframework.protocol.frame.WebSocketFrame`).
"""

from __future__ import annotations

import enum
import os
import struct
from typing import Sequence

from .masking import apply_mask

__all__ = [
    "Opcode", "Side", "MAX_CONTROL_PAYLOAD", "SMALL_TEXT_HEADS", "SMALL_BINARY_HEADS",
    "encode_header", "encode_frame", "encode_message", "new_mask_key",
    "decode_header", "header_size",
]

#: The longest payload of a control frame (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD = 125

_pack_short = struct.Struct("!BBH").pack
_pack_long = struct.Struct("!BBQ").pack


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class Side(enum.Enum):
    """Which end of a connection this is: it decides the masking rules."""

    SERVER = "server"
    CLIENT = "client"

    @property
    def masks_outgoing(self) -> bool:
        """Whether frames sent from this side are masked (a client's are)."""
        return self is Side.CLIENT

    @property
    def expects_masked(self) -> bool:
        """Whether frames received on this side must be masked (a server's)."""
        return self is Side.SERVER


# Plain ints of the enums, for hot paths (an IntEnum compares slower).
_CONT = Opcode.CONTINUATION.value
_TEXT = Opcode.TEXT.value
_BINARY = Opcode.BINARY.value

#: Whole headers of unmasked, unfragmented text and binary frames, indexed by
#: payload length (< 126): the small-frame fast path of :func:`encode_message`.
SMALL_TEXT_HEADS: tuple[bytes, ...] = tuple(bytes((0x80 | _TEXT, n)) for n in range(126))
SMALL_BINARY_HEADS: tuple[bytes, ...] = tuple(bytes((0x80 | _BINARY, n)) for n in range(126))


# -- encoding ---------------------------------------------------------------
def encode_header(opcode: int, length: int, *, fin: bool = True, rsv: int = 0,
                  mask: bytes | None = None) -> bytes:
    """The header of a frame, with the minimal length encoding."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((b0, mbit | length))
    elif length < 0x10000:
        header = _pack_short(b0, mbit | 126, length)
    else:
        header = _pack_long(b0, mbit | 127, length)
    return header + mask if mask is not None else header


_key_pool = b""
_key_offset = 0


def new_mask_key() -> bytes:
    """A fresh, unpredictable masking key (RFC 6455 §5.3), taken from
    ``os.urandom`` 4 KiB at a time rather than one system call per frame."""
    global _key_pool, _key_offset
    if _key_offset >= len(_key_pool):
        _key_pool = os.urandom(4096)
        _key_offset = 0
    key = _key_pool[_key_offset:_key_offset + 4]
    _key_offset += 4
    return key


def encode_frame(opcode: int, payload: bytes = b"", *, fin: bool = True,
                 rsv: int = 0, mask: bool = False) -> bytes:
    """A whole frame; a client masks with a fresh random key."""
    if mask:
        key = new_mask_key()
        return (encode_header(opcode, len(payload), fin=fin, rsv=rsv, mask=key)
                + apply_mask(payload, key))
    return encode_header(opcode, len(payload), fin=fin, rsv=rsv) + payload


def encode_message(opcode: int, payload: bytes | bytearray | memoryview, mask: bool = False,
                   fragment_size: int = 0, extensions: Sequence | None = None) -> bytes | list:
    """The frames of one text or binary message, ready for the socket.

    The payload is transformed by ``extensions`` (in order; each returns its
    RSV bits and the new payload), then split into frames of at most
    ``fragment_size`` bytes (0: never split), masked when ``mask``.  The
    result is one buffer, or for a fragmented unmasked message the list of
    its pieces (headers and payload slices), for ``sendmsg`` without a copy.
    """
    if not extensions and not mask:
        n = len(payload)
        if n < 126 and (n <= fragment_size or not fragment_size):
            # The most common frame: a small server message.
            if type(payload) is not bytes:
                payload = bytes(payload)
            if opcode == _TEXT:
                return SMALL_TEXT_HEADS[n] + payload
            if opcode == _BINARY:
                return SMALL_BINARY_HEADS[n] + payload
        rsv = 0
    else:
        rsv = 0
        if extensions:
            for extension in extensions:
                bits, payload = extension.encode(payload)
                rsv |= bits
        n = len(payload)
    if not fragment_size or n <= fragment_size:
        if not mask and n < 126:
            if type(payload) is not bytes:
                payload = bytes(payload)
            return bytes((0x80 | (rsv << 4) | opcode, n)) + payload
        return encode_frame(opcode, bytes(payload), rsv=rsv, mask=mask)
    view = memoryview(payload)
    if mask:
        # Each frame masked with a key of its own: copied anyway.
        return [encode_frame(opcode if start == 0 else _CONT, view[start:start + fragment_size],
                             fin=start + fragment_size >= n, rsv=rsv if start == 0 else 0,
                             mask=True)
                for start in range(0, n, fragment_size)]
    # Headers and payload slices, alternating.  Every frame but the first
    # and the last has the same header, so the list is built at C speed
    # around one loop of slices (a 16 MiB message is 1,024 frames).
    chunks = [view[start:start + fragment_size] for start in range(0, n, fragment_size)]
    pieces = [encode_header(_CONT, fragment_size, fin=False)] * (2 * len(chunks))
    pieces[1::2] = chunks
    pieces[0] = encode_header(opcode, fragment_size, fin=False, rsv=rsv)
    pieces[-2] = encode_header(_CONT, len(chunks[-1]))
    return pieces


# -- decoding ---------------------------------------------------------------
def decode_header(b0: int, b1: int) -> tuple[bool, int, int, bool, int]:
    """The fields of a header's first two bytes: ``(fin, rsv, opcode,
    masked, length)``, where ``length`` is the 7-bit length (126 and 127
    announce a 16- and a 64-bit length after them)."""
    return b0 >= 0x80, (b0 >> 4) & 0x07, b0 & 0x0F, b1 >= 0x80, b1 & 0x7F


def header_size(b1: int) -> int:
    """The whole header's size in bytes, given its second byte: 2, plus the
    extended length, plus the masking key."""
    length = b1 & 0x7F
    return (2 if length < 126 else 4 if length == 126 else 10) + (4 if b1 >= 0x80 else 0)
