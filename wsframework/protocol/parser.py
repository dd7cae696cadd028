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

from ..exceptions import PayloadTooBig, ProtocolError
from .close_codes import CloseCode
from .extensions import Extension
from .frame import WebSocketFrame
from .framing import MAX_CONTROL_PAYLOAD, Opcode, decode_header, header_size
from .masking import apply_mask, mask_in_place, payload_buffer, py_payload_buffer
from .message import WebSocketMessage
from .speedups import accelerated
from .streams import BufferedReader
from .utf8 import Utf8Decoder, decode_utf8

__all__ = ["FrameParser", "parse_small", "py_parse_small"]

_unpack_short = struct.Struct("!H").unpack
_unpack_short_from = struct.Struct("!H").unpack_from
_unpack_long_from = struct.Struct("!Q").unpack_from

_TEXT, _BINARY, _CONT = Opcode.TEXT.value, Opcode.BINARY.value, Opcode.CONTINUATION.value
_CLOSE, _PONG = Opcode.CLOSE.value, Opcode.PONG.value
_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
# The first header byte of an unfragmented text / binary frame without RSV bits.
_WHOLE_TEXT, _WHOLE_BINARY = 0x80 | _TEXT, 0x80 | _BINARY

# Payloads of a fragmented binary message shorter than this are gathered in
# one growing bytearray, not kept as one object each: an object and its list
# slot cost ~50 bytes beyond the payload, so a message sent in tiny (or
# empty) fragments would otherwise hold many times its size, beyond what
# max_message_size allows for.
_SMALL_PART = 1024

# A message in progress may have this many frames, plus one per
# _BYTES_PER_FRAME bytes of max_message_size.  Tiny fragments cost no memory
# (see _SMALL_PART), but an endless run of empty continuations would hold the
# connection for ever: it ends with 1009 instead.  The default 1 MiB limit
# allows 66,560 frames; Autobahn's 4 MiB messages in 64-byte fragments
# (65,536 frames, case 9.3.1) fit under a 4 MiB limit.
_FREE_FRAMES = 1024
_BYTES_PER_FRAME = 16


def py_parse_small(buf: bytearray, pos: int, masked: bool, limit: int,
                   stop: int | None = None) -> tuple[str | bytes, int] | None:
    """The receive path's common case in one step: ``buf[pos:stop]`` (all
    of ``buf`` from ``pos`` when ``stop`` is None) starts with a whole
    unfragmented text or binary frame, no RSV bits, a payload shorter than
    126 bytes and at most ``limit``, masked exactly when ``masked``.  Returns ``(payload, end)``: the payload unmasked (str for
    text, strictly decoded; bytes for binary) and the offset past the frame.

    Returns None for anything else, including a frame not wholly buffered
    and text that is not valid UTF-8: the general path then reads it and
    reports the error.  ``wsframework.protocol._speedups.parse_small`` is the C twin
    (one pass: header checks, unmask, UTF-8 decode).
    """
    size = len(buf) if stop is None else min(stop, len(buf))
    available = size - pos
    if available < 2:
        return None
    b0 = buf[pos]
    if b0 != _WHOLE_TEXT and b0 != _WHOLE_BINARY:
        return None
    b1 = buf[pos + 1]
    length = b1 & 0x7F
    if length > 125 or length > limit or (b1 >= 0x80) != masked:
        return None
    if masked:
        end = pos + 6 + length
        if available < 6 + length:
            return None
        payload = apply_mask(buf[pos + 6:end], bytes(buf[pos + 2:pos + 6]))
    else:
        end = pos + 2 + length
        if available < 2 + length:
            return None
        payload = bytes(buf[pos + 2:end])
    if b0 == _WHOLE_TEXT:
        try:
            return payload.decode("utf-8"), end
        except UnicodeDecodeError:
            return None          # the general path reports it
    return payload, end


parse_small = accelerated("parse_small", py_parse_small)


class FrameParser:
    """Reads frames from ``reader`` and returns messages and control frames.

    ``expect_masked`` is True on the server (clients must mask) and False on
    the client (servers must not).  With ``assemble_fragments`` False every
    frame is returned as a :class:`WebSocketFrame` and no message is built,
    but fragment sequencing and UTF-8 are still enforced.
    """

    # What a connection's one-step read looks at (once per message) first,
    # next to the object's header: one cache line at thousands of parsers.
    __slots__ = (
        "_msg_opcode", "assemble_fragments", "expect_masked", "_small_limit",
        "reader", "max_frame_size", "max_message_size",
        "extensions", "allowed_rsv", "_active", "_in_frame", "_fin", "_rsv", "_opcode",
        "_length", "_key", "_partial", "_view", "_got", "_msg_size", "_parts",
        "_decoder", "_text", "_validated", "_msg_frames",
    )

    def __init__(self, reader: BufferedReader, *, expect_masked: bool,
                 max_frame_size: int, max_message_size: int,
                 assemble_fragments: bool = True, extensions: Sequence[Extension] = ()) -> None:
        self.reader = reader
        self.expect_masked = expect_masked
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        # The largest payload the one-step path may take (the limits are
        # reported by the general path).
        self._small_limit = min(max_frame_size, max_message_size)
        self.assemble_fragments = assemble_fragments
        self.extensions = tuple(extensions)
        #: RSV bits (as a 3-bit mask) owned by negotiated extensions.
        self.allowed_rsv = 0
        for extension in self.extensions:
            self.allowed_rsv |= extension.rsv_mask
        # The extensions transforming the current message (outermost last).
        self._active: Sequence[Extension] = ()
        # The frame being read (set once its header is complete).
        self._in_frame = False
        self._fin = True
        self._rsv = 0
        self._opcode = 0
        self._length = 0
        self._key: bytes | None = None
        self._partial: bytes | bytearray | None = None     # a payload arriving in pieces
        self._view: memoryview | None = None                # ... and a writable view on it
        self._got = 0
        # The fragmented message being assembled.
        self._msg_opcode: int | None = None
        self._msg_size = 0
        self._msg_frames = 0        # its continuation frames so far
        # A binary message's fragments (small ones gathered: see _SMALL_PART).
        self._parts: list[bytes | bytearray] | None = None
        self._decoder: Utf8Decoder | None = None
        self._text = False          # the current message is text
        self._validated = False     # the last payload was UTF-8-checked on arrival

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
        if not self._in_frame and self._msg_opcode is None and self.assemble_fragments:
            # The common case in one step: a whole small text or binary
            # message (see py_parse_small), inlined here as this runs once
            # per received message.
            reader = self.reader
            buf = reader.buf
            if len(buf) - reader.pos < 2:
                # Nothing buffered (the usual case between round trips):
                # wait for data here first.
                reader.fill()
            got = parse_small(buf, reader.pos, self.expect_masked, self._small_limit)
            if got is not None:
                data, end = got
                if end >= len(buf):         # reader.skip(), inlined
                    buf.clear()
                    reader.pos = 0
                else:
                    reader.skip(end - reader.pos)
                if type(data) is str:
                    return WebSocketMessage("utf8", data)
                return WebSocketMessage("binary", None, data)
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
        # The header is read straight from the reader's buffer and consumed
        # only once complete and valid.
        reader = self.reader
        buf, pos = reader.buf, reader.pos
        if len(buf) - pos < 2:
            reader.ensure(2)
            buf, pos = reader.buf, reader.pos
        b1 = buf[pos + 1]
        fin, rsv, opcode, masked, length = decode_header(buf[pos], b1)
        size = header_size(b1)
        if len(buf) - pos < size:
            reader.ensure(size)
            buf, pos = reader.buf, reader.pos
        if opcode >= _CLOSE:
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(_PROTOCOL_ERROR, "Illegal control frame longer than 125 bytes.")
            if not fin:
                raise ProtocolError(_PROTOCOL_ERROR, "Control frames must not be fragmented.")
        if length == 126:
            length = _unpack_short_from(buf, pos + 2)[0]
        elif length == 127:
            length = _unpack_long_from(buf, pos + 2)[0]
            if length >> 32:
                raise ProtocolError(_PROTOCOL_ERROR, "Unsupported 64-bit length frame received")
        if length > self.max_frame_size:
            raise PayloadTooBig(f"Frame size of {length} bytes exceeds maximum accepted frame size")
        if rsv and (rsv & ~self.allowed_rsv or opcode >= _CLOSE or opcode == _CONT):
            raise ProtocolError(_PROTOCOL_ERROR,
                                "Unsupported usage of rsv bits without negotiated extension.")
        if masked != self.expect_masked:
            raise ProtocolError(_PROTOCOL_ERROR, "Unmasked frame from client" if self.expect_masked
                                else "Masked frame from server")
        if opcode < _CLOSE:
            self._check_data_opcode(opcode, length, rsv)
        elif opcode > _PONG:
            raise ProtocolError(_PROTOCOL_ERROR, f"Unrecognized Opcode: {opcode:#x}")
        self._key = bytes(buf[pos + size - 4:pos + size]) if masked else None
        reader.skip(size)
        self._fin, self._rsv, self._opcode, self._length = fin, rsv, opcode, length
        self._got = 0
        self._in_frame = True

    def _check_data_opcode(self, opcode: int, length: int, rsv: int) -> None:
        if opcode == _CONT:
            if self._msg_opcode is None:
                raise ProtocolError(_PROTOCOL_ERROR, "Unexpected Continuation Frame")
            self._msg_frames += 1
            if self._msg_frames >= _FREE_FRAMES and self.assemble_fragments:
                allowed = _FREE_FRAMES + self.max_message_size // _BYTES_PER_FRAME
                if self._msg_frames >= allowed:
                    raise PayloadTooBig(f"Message of more than {allowed} frames.")
        elif self._msg_opcode is not None:
            raise ProtocolError(
                _PROTOCOL_ERROR,
                f"Illegal frame opcode {opcode:#x} received in middle of fragmented message.")
        elif opcode != _TEXT and opcode != _BINARY:
            raise ProtocolError(_PROTOCOL_ERROR, f"Unrecognized Opcode: {opcode:#x}")
        if opcode != _CONT:
            self._msg_size = 0
            self._msg_frames = 0
            self._text = opcode == _TEXT
            self._decoder = None
            if self.extensions:
                active = self._active = [e for e in self.extensions if e.begin_message(rsv)]
                claimed = 0
                for extension in active:
                    claimed |= extension.rsv_mask
                if rsv & ~claimed:
                    raise ProtocolError(_PROTOCOL_ERROR, "Unsupported usage of rsv bits without "
                                              "negotiated extension.")
        if self.assemble_fragments and not self._active:
            # Transformed messages are measured after decoding instead.
            size = (self._msg_size if opcode == _CONT else 0) + length
            if size > self.max_message_size:
                raise PayloadTooBig("Maximum message size exceeded.")

    # -- payload --------------------------------------------------------------
    def _read_payload(self) -> bytes:
        n = self._length
        if n == 0:
            return b""
        reader = self.reader
        key = self._key
        if self._partial is None and len(reader.buf) - reader.pos >= n:
            # The whole payload is here: one copy, one unmask.  A text
            # payload is validated by the caller (in one piece when the
            # message is one frame).
            if key is not None:
                return apply_mask(reader.take(n), key)
            return reader.read_exact(n)
        # The payload arrives in pieces: received straight into the object
        # the message will carry, each piece unmasked while it is still in
        # the cache.  A text payload is validated as each piece arrives, to
        # fail fast (unless an extension must decode it first: then it is
        # checked after decoding).
        decoder = None
        if self._text and self._opcode < _CLOSE and not self._active:
            decoder = self._decoder
            if decoder is None:
                decoder = self._decoder = Utf8Decoder()
        if self._partial is None:
            self._partial, self._view = payload_buffer(n) if n > 1 else py_payload_buffer(n)
        view = self._view
        while self._got < n:
            start = self._got
            end = start + reader.read_into(view[start:])
            self._got = end
            if key is not None:
                mask_in_place(view[start:end], key, start)
            if decoder is not None:
                decoder.feed(bytes(view[start:end]))
        payload = self._partial
        view.release()
        self._view = None
        if decoder is not None:
            self._validated = True
        return bytes(payload)       # the payload itself when it is a bytes object

    # -- frames into messages ------------------------------------------------
    def _feed_text(self, payload: bytes) -> None:
        """Validate a text frame's payload that was not checked on arrival."""
        if self._validated:
            self._validated = False
            return
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = Utf8Decoder()
        decoder.feed(payload)

    def _complete_frame(self, payload: bytes) -> WebSocketMessage | WebSocketFrame | None:
        opcode, fin = self._opcode, self._fin
        if opcode >= _CLOSE:
            return self._control_frame(opcode, payload)
        if self._active:
            for extension in reversed(self._active):
                payload = extension.decode(payload, fin, self.max_message_size - self._msg_size)
            if fin:
                self._active = ()
        text = self._text
        if opcode != _CONT and fin and self.assemble_fragments:
            # A whole message in one frame: the common case.
            if not text:
                return WebSocketMessage("binary", binary_data=payload)
            if self._validated:
                self._validated = False
                return WebSocketMessage("utf8", utf8_data=self._decoder.finish())
            return WebSocketMessage("utf8", utf8_data=decode_utf8(payload))
        if text:
            self._feed_text(payload)
        if not self.assemble_fragments:
            if fin:
                if text:
                    self._decoder.finish()
                self._msg_opcode = None
                self._decoder = None
            elif opcode != _CONT:
                self._msg_opcode = opcode
            frame = WebSocketFrame(opcode=opcode, binary_payload=payload, fin=fin)
            self._set_rsv(frame)
            return frame
        if opcode != _CONT:
            self._msg_opcode = opcode
            self._msg_size = len(payload)
            if not text:
                self._parts = [payload if len(payload) >= _SMALL_PART else bytearray(payload)]
            return None
        self._msg_size += len(payload)
        if not text:
            parts = self._parts
            if len(payload) >= _SMALL_PART:
                parts.append(payload)
            else:
                last = parts[-1]
                if type(last) is bytearray:
                    last += payload
                else:
                    parts.append(bytearray(payload))
        if not fin:
            return None
        self._msg_opcode = None
        if text:
            decoder, self._decoder = self._decoder, None
            return WebSocketMessage("utf8", utf8_data=decoder.finish())
        parts, self._parts = self._parts, None
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
