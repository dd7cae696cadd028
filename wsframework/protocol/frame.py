"""Frames (RFC 6455 §5.2): opcodes, the header codec, and ``WebSocketFrame``.

The header codec and message framing live in :mod:`wsframework.protocol.framing`
(re-exported here); decoding of a byte stream is done by
:mod:`wsframework.protocol.parser`; :class:`WebSocketFrame`
keeps WebSocket-Node's frame object (fields, ``add_data``, ``to_bytes``) for
code ported from Node and for ``frame`` events.
"""

from __future__ import annotations

import struct

from .framing import (MAX_CONTROL_PAYLOAD, Opcode, decode_header, encode_frame, encode_header,
                      new_mask_key)
from .masking import apply_mask

__all__ = [
    "Opcode",
    "WebSocketFrame",
    "encode_frame",
    "encode_header",
    "encode_close_payload",
    "MAX_CONTROL_PAYLOAD",
]

_unpack_short = struct.Struct("!H").unpack
_unpack_long = struct.Struct("!Q").unpack
_CLOSE = Opcode.CLOSE.value

DATA_OPCODES = frozenset((Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY))
CONTROL_OPCODES = frozenset((Opcode.CLOSE, Opcode.PING, Opcode.PONG))


def encode_close_payload(code: int | None, reason: str | bytes = b"") -> bytes:
    """The payload of a close frame: a 2-byte code and a UTF-8 reason."""
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


class WebSocketFrame:
    """One frame, spelled as WebSocket-Node's ``WebSocketFrame``.

    ``binary_payload`` is unmasked.  For a close frame ``close_status`` is the
    status code (-1 when absent) and ``binary_payload`` the reason bytes.
    """

    __slots__ = (
        "fin", "rsv1", "rsv2", "rsv3", "mask", "opcode", "length",
        "binary_payload", "close_status", "protocol_error", "frame_too_large",
        "invalid_close_frame_length", "drop_reason", "max_received_frame_size",
        "parse_state", "_pending",
    )

    #: Parse states, as in Node (1 header ... 6 complete).
    DECODE_HEADER, WAITING_FOR_16_BIT_LENGTH, WAITING_FOR_64_BIT_LENGTH = 1, 2, 3
    WAITING_FOR_MASK_KEY, WAITING_FOR_PAYLOAD, COMPLETE = 4, 5, 6

    def __init__(self, config: dict | None = None, *, opcode: int = 0,
                 binary_payload: bytes = b"", fin: bool = True,
                 close_status: int = -1) -> None:
        self.fin = fin
        self.rsv1 = self.rsv2 = self.rsv3 = False
        self.mask = False
        self.opcode = opcode
        self.binary_payload = binary_payload
        self.close_status = close_status
        self.length = len(binary_payload) + (2 if opcode == Opcode.CLOSE and close_status != -1 else 0)
        self.protocol_error = False
        self.frame_too_large = False
        self.invalid_close_frame_length = False
        self.drop_reason = ""
        limit = (config or {}).get("max_received_frame_size", 0x100000)
        self.max_received_frame_size = limit
        self.parse_state = self.DECODE_HEADER
        self._pending = bytearray()

    # -- parsing, for code that feeds bytes by hand ---------------------------
    def add_data(self, data: bytes) -> bool:
        """Feed bytes; True once the frame is complete or found invalid.

        Bytes past the end of the frame stay in :attr:`leftover`.
        """
        self._pending += data
        buf = self._pending
        if len(buf) < 2:
            return False
        self.fin, rsv, self.opcode, self.mask, length = decode_header(buf[0], buf[1])
        self.rsv1, self.rsv2, self.rsv3 = bool(rsv & 4), bool(rsv & 2), bool(rsv & 1)
        pos = 2
        if self.opcode >= _CLOSE:
            if length > MAX_CONTROL_PAYLOAD:
                return self._fail("Illegal control frame longer than 125 bytes.")
            if not self.fin:
                return self._fail("Control frames must not be fragmented.")
        if length == 126:
            self.parse_state = self.WAITING_FOR_16_BIT_LENGTH
            if len(buf) < 4:
                return False
            length = _unpack_short(bytes(buf[2:4]))[0]
            pos = 4
        elif length == 127:
            self.parse_state = self.WAITING_FOR_64_BIT_LENGTH
            if len(buf) < 10:
                return False
            length = _unpack_long(bytes(buf[2:10]))[0]
            if length >> 32:
                return self._fail("Unsupported 64-bit length frame received")
            pos = 10
        self.length = length
        if length > self.max_received_frame_size:
            self.frame_too_large = True
            self.drop_reason = (f"Frame size of {length} bytes exceeds maximum "
                                "accepted frame size")
            return True
        key = None
        if self.mask:
            self.parse_state = self.WAITING_FOR_MASK_KEY
            if len(buf) < pos + 4:
                return False
            key = bytes(buf[pos:pos + 4])
            pos += 4
        self.parse_state = self.WAITING_FOR_PAYLOAD
        if len(buf) < pos + length:
            return False
        payload = bytes(buf[pos:pos + length])
        if key is not None:
            payload = apply_mask(payload, key)
        del buf[:pos + length]
        if self.opcode == _CLOSE:
            if length == 1:
                self.invalid_close_frame_length = True
                payload = b""
            elif length >= 2:
                self.close_status = _unpack_short(payload[:2])[0]
                payload = payload[2:]
        self.binary_payload = payload
        self.parse_state = self.COMPLETE
        return True

    @property
    def leftover(self) -> bytes:
        """Bytes given to :meth:`add_data` beyond this frame."""
        return bytes(self._pending) if self.parse_state == self.COMPLETE else b""

    def _fail(self, reason: str) -> bool:
        self.protocol_error = True
        self.drop_reason = reason
        return True

    def throw_away_payload(self, data: bytes) -> bool:
        """Skip the payload of a frame whose header was read (Node API)."""
        self._pending += data
        return True

    # -- serializing ----------------------------------------------------------
    def to_bytes(self, null_mask: bool = False) -> bytes:
        """The frame on the wire; masked with a random key when ``mask`` is
        set (a zero key when ``null_mask``)."""
        payload = self.binary_payload or b""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if self.opcode == Opcode.CLOSE and self.close_status != -1:
            payload = encode_close_payload(self.close_status, payload)
        rsv = (self.rsv1 << 2) | (self.rsv2 << 1) | int(self.rsv3)
        self.length = len(payload)
        if self.mask:
            key = b"\x00\x00\x00\x00" if null_mask else new_mask_key()
            return encode_header(self.opcode, len(payload), fin=self.fin, rsv=rsv,
                                 mask=key) + apply_mask(payload, key)
        return encode_header(self.opcode, len(payload), fin=self.fin, rsv=rsv) + payload

    to_buffer = to_bytes

    def __str__(self) -> str:
        has_payload = bool(self.binary_payload)
        return (f"Opcode: {self.opcode}, fin: {str(self.fin).lower()}, "
                f"length: {self.length}, hasPayload: {str(has_payload).lower()}, "
                f"masked: {str(self.mask).lower()}")

    def __repr__(self) -> str:
        return f"<WebSocketFrame {self}>"
