"""Incoming frames and messages, read in blocking style from a reader.

:class:`FrameParser` turns the bytes of one connection into complete
messages and control frames, checking every rule of RFC 6455 §5 as soon as
the bytes allow: header rules before the payload is read, UTF-8 as each
chunk of a text payload arrives.  It keeps its progress in attributes, so a
read interrupted while waiting for the socket resumes where it stopped.
"""

from __future__ import annotations

import struct
from typing import Sequence

from .exceptions import PayloadTooBig, ProtocolError
from .extensions import Extension
from .frame import MAX_CONTROL_PAYLOAD, Opcode, WebSocketFrame
from .masking import apply_mask, rotate_mask
from .message import WebSocketMessage
from .streams import BufferedReader
from .utf8 import Utf8Decoder

__all__ = ["FrameParser"]

_unpack_short = struct.Struct("!H").unpack
_unpack_long = struct.Struct("!Q").unpack

_TEXT, _BINARY, _CONT = Opcode.TEXT.value, Opcode.BINARY.value, Opcode.CONTINUATION.value
_CLOSE = Opcode.CLOSE.value


class FrameParser:
    """Reads frames from ``reader`` and returns messages and control frames.

    ``expect_masked`` is True on the server (clients must mask) and False on
    the client (servers must not).  With ``assemble_fragments`` False every
    frame is returned as a :class:`WebSocketFrame` and no message is built,
    but fragment sequencing and UTF-8 are still enforced.
    """

    def __init__(self, reader: BufferedReader, *, expect_masked: bool,
                 max_frame_size: int, max_message_size: int,
                 assemble_fragments: bool = True, extensions: Sequence[Extension] = ()) -> None:
        self.reader = reader
        self.expect_masked = expect_masked
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self.assemble_fragments = assemble_fragments
        self.extensions = list(extensions)
        #: RSV bits (as a 3-bit mask) owned by negotiated extensions.
        self.allowed_rsv = 0
        for extension in self.extensions:
            self.allowed_rsv |= extension.rsv_mask
        # The extensions transforming the current message (outermost last).
        self._active: list[Extension] = []
        # The frame being read (set once its header is complete).
        self._in_frame = False
        self._fin = True
        self._rsv = 0
        self._opcode = 0
        self._length = 0
        self._key: bytes | None = None
        self._partial: bytearray | None = None
        self._got = 0
        # The fragmented message being assembled.
        self._msg_opcode: int | None = None
        self._msg_size = 0
        self._parts: list[bytes] = []
        self._decoder: Utf8Decoder | None = None

    @property
    def in_message(self) -> bool:
        """Whether a fragmented message has started and not yet finished."""
        return self._msg_opcode is not None

    def next_event(self) -> WebSocketMessage | WebSocketFrame:
        """Block until a message or a control frame (or, when not assembling,
        any frame) is complete, and return it.

        Raises :class:`ProtocolError` for a violation, :class:`EOFError` when
        the stream ends, and whatever the reader raises.
        """
        while True:
            if not self._in_frame:
                self._read_header()
            payload = self._read_payload()
            self._in_frame = False
            self._partial = None
            result = self._complete_frame(payload)
            if result is not None:
                return result

    # -- header ---------------------------------------------------------------
    def _read_header(self) -> None:
        reader = self.reader
        reader.ensure(2)
        b0, b1 = reader.peek(2)
        fin = bool(b0 & 0x80)
        rsv = (b0 >> 4) & 0x07
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        length = b1 & 0x7F
        size = 2 + (2 if length == 126 else 8 if length == 127 else 0) + (4 if masked else 0)
        header = reader.peek(size) if size > 2 else None
        if opcode >= 8:
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(1002, "Illegal control frame longer than 125 bytes.")
            if not fin:
                raise ProtocolError(1002, "Control frames must not be fragmented.")
        pos = 2
        if length == 126:
            length = _unpack_short(header[2:4])[0]
            pos = 4
        elif length == 127:
            length = _unpack_long(header[2:10])[0]
            if length >> 32:
                raise ProtocolError(1002, "Unsupported 64-bit length frame received")
            pos = 10
        if length > self.max_frame_size:
            raise PayloadTooBig(f"Frame size of {length} bytes exceeds maximum accepted frame size")
        if rsv and (rsv & ~self.allowed_rsv or opcode >= 8 or opcode == _CONT):
            raise ProtocolError(1002, "Unsupported usage of rsv bits without negotiated extension.")
        if masked != self.expect_masked:
            raise ProtocolError(1002, "Unmasked frame from client" if self.expect_masked
                                else "Masked frame from server")
        if opcode < 8:
            self._check_data_opcode(opcode, length, rsv)
        elif opcode > 0xA:
            raise ProtocolError(1002, f"Unrecognized Opcode: {opcode:#x}")
        reader.skip(size)
        self._key = header[pos:pos + 4] if masked else None
        self._fin, self._rsv, self._opcode, self._length = fin, rsv, opcode, length
        self._got = 0
        self._in_frame = True

    def _check_data_opcode(self, opcode: int, length: int, rsv: int) -> None:
        if opcode == _CONT:
            if self._msg_opcode is None:
                raise ProtocolError(1002, "Unexpected Continuation Frame")
        elif self._msg_opcode is not None:
            raise ProtocolError(
                1002, f"Illegal frame opcode {opcode:#x} received in middle of fragmented message.")
        elif opcode not in (_TEXT, _BINARY):
            raise ProtocolError(1002, f"Unrecognized Opcode: {opcode:#x}")
        if opcode != _CONT:
            active = self._active = [e for e in self.extensions if e.begin_message(rsv)] \
                if self.extensions else []
            claimed = 0
            for extension in active:
                claimed |= extension.rsv_mask
            if rsv & ~claimed:
                raise ProtocolError(1002, "Unsupported usage of rsv bits without negotiated "
                                          "extension.")
        if self.assemble_fragments and not self._active:
            # Transformed messages are measured after decoding instead.
            size = (self._msg_size if opcode == _CONT else 0) + length
            if size > self.max_message_size:
                raise PayloadTooBig("Maximum message size exceeded.")
        if opcode != _CONT:
            self._msg_size = 0
            self._decoder = Utf8Decoder() if opcode == _TEXT else None

    # -- payload --------------------------------------------------------------
    def _read_payload(self) -> bytes:
        n = self._length
        if n == 0:
            return b""
        reader = self.reader
        key = self._key
        # UTF-8 is checked here, chunk by chunk, unless an extension must
        # decode the payload first (then it is checked after decoding).
        decoder = self._decoder if self._opcode < 8 and not self._active else None
        if self._partial is None:
            if reader.buffered >= n:
                data = reader.read_exact(n)
                if key is not None:
                    data = apply_mask(data, key)
                if decoder is not None:
                    decoder.feed(data)
                return data
            self._partial = bytearray(n)
        buf = self._partial
        with memoryview(buf) as view:
            while self._got < n:
                start = self._got
                count = reader.read_into(view[start:])
                end = start + count
                self._got = end
                if decoder is not None:
                    # Text: unmask each chunk as it arrives, to fail fast.
                    chunk = bytes(view[start:end])
                    if key is not None:
                        chunk = apply_mask(chunk, rotate_mask(key, start))
                        view[start:end] = chunk
                    decoder.feed(chunk)
        if decoder is not None or key is None:
            return bytes(buf)
        return apply_mask(buf, key)

    # -- frames into messages ------------------------------------------------
    def _complete_frame(self, payload: bytes) -> WebSocketMessage | WebSocketFrame | None:
        opcode, fin = self._opcode, self._fin
        if opcode >= 8:
            return self._control_frame(opcode, payload)
        decoder = self._decoder
        if self._active:
            for extension in reversed(self._active):
                payload = extension.decode(payload, fin, self.max_message_size - self._msg_size)
            if decoder is not None:
                decoder.feed(payload)
            if fin:
                self._active = []
        if not self.assemble_fragments:
            if fin:
                if decoder is not None:
                    decoder.finish()
                self._msg_opcode = None
                self._decoder = None
            elif opcode != _CONT:
                self._msg_opcode = opcode
            frame = WebSocketFrame(opcode=opcode, binary_payload=payload, fin=fin)
            self._set_rsv(frame)
            return frame
        if opcode != _CONT:
            if fin:
                if decoder is not None:
                    self._decoder = None
                    return WebSocketMessage("utf8", utf8_data=decoder.finish())
                return WebSocketMessage("binary", binary_data=payload)
            self._msg_opcode = opcode
            self._msg_size = len(payload)
            if decoder is None:
                self._parts = [payload]
            return None
        self._msg_size += len(payload)
        if decoder is None:
            self._parts.append(payload)
        if not fin:
            return None
        msg_opcode = self._msg_opcode
        self._msg_opcode = None
        if msg_opcode == _TEXT:
            self._decoder = None
            return WebSocketMessage("utf8", utf8_data=decoder.finish())
        parts, self._parts = self._parts, []
        return WebSocketMessage("binary", binary_data=b"".join(parts))

    def _control_frame(self, opcode: int, payload: bytes) -> WebSocketFrame:
        if opcode == _CLOSE:
            frame = WebSocketFrame(opcode=opcode)
            if len(payload) == 1:
                frame.invalid_close_frame_length = True
            elif len(payload) >= 2:
                frame.close_status = _unpack_short(payload[:2])[0]
                frame.binary_payload = payload[2:]
            frame.length = len(payload)
        else:
            frame = WebSocketFrame(opcode=opcode, binary_payload=payload)
        self._set_rsv(frame)
        return frame

    def _set_rsv(self, frame: WebSocketFrame) -> None:
        rsv = self._rsv
        if rsv:
            frame.rsv1, frame.rsv2, frame.rsv3 = bool(rsv & 4), bool(rsv & 2), bool(rsv & 1)
        frame.mask = self._key is not None
