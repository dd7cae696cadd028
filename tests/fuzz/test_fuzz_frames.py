"""Property-based fuzz tests of the frame layer: :func:`encode_header` /
:func:`encode_frame` (``wsframework.protocol.frame``) against
:class:`~wsframework.protocol.parser.FrameParser` fed from
:class:`~wsframework.protocol.streams.BufferedReader` in arbitrary chunks, on both
sides (server: masked frames expected; client: unmasked), with and without
a negotiated extension owning the RSV bits, and Node's
``WebSocketFrame.add_data``.

Properties: every valid sequence of frames parses back to exactly what was
encoded (frames mode and message mode); the result never depends on how
the bytes are chunked or on reads interrupted and resumed; the size limits
fail exactly where a model says; and random or mutated input only ever
raises :class:`ProtocolError` (1002, 1007 or 1009) or :class:`EOFError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from wsframework.exceptions import ProtocolError
from wsframework.protocol.extensions import Extension
from wsframework.protocol.frame import WebSocketFrame, encode_frame, encode_header
from wsframework.protocol.masking import apply_mask
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader

from ..fuzzing import (BINARY, CLOSE, CONT, LIMIT, PING, PONG, TEXT, chunked, describe,
                      expected_frame, fuzz, limit_near, mutated, parser_masking, reader_over,
                      repeated_bytes, run)


class RsvExtension(Extension):
    """A negotiated extension that owns all three RSV bits and leaves the
    payload alone, so any RSV bits on a message's first frame are legal."""

    name = "x-rsv"
    rsv_mask = 0b111

    def begin_message(self, rsv: int) -> bool:
        return bool(rsv)


# ------------------------------------------------------------- strategies
@dataclass
class Frame:
    """One frame to encode (the key is chosen separately)."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0


@dataclass
class Case:
    """A stream of valid frames and what each parsing mode returns for it."""

    frames: list[Frame]
    keys: list[bytes | None]
    server: bool                       # the parser is the server's
    rsv_extension: bool
    data: bytes = b""
    frame_events: list | None = None   # what assemble_fragments=False returns
    message_events: list | None = None  # what assemble_fragments=True returns

    def parser(self, reader: BufferedReader, assemble: bool, **limits) -> FrameParser:
        limits.setdefault("max_frame_size", LIMIT)
        limits.setdefault("max_message_size", LIMIT)
        return FrameParser(reader, expect_masked=self.server, assemble_fragments=assemble,
                           extensions=[RsvExtension()] if self.rsv_extension else (),
                           **limits)


def encode(frame: Frame, key: bytes | None) -> bytes:
    """A frame on the wire, masked with ``key`` when given."""
    if key is None:
        return encode_frame(frame.opcode, frame.payload, fin=frame.fin, rsv=frame.rsv)
    return (encode_header(frame.opcode, len(frame.payload), fin=frame.fin, rsv=frame.rsv,
                          mask=key) + apply_mask(frame.payload, key))


# Strategies are built once here: Hypothesis draws faster from a strategy
# object it has already validated.
_UNICODE = st.characters(codec="utf-8")
_SHORT_TEXT = st.text(_UNICODE, max_size=80)
_SEED_TEXT = st.text(_UNICODE, min_size=1, max_size=6)
_LONG_TEXT_BYTES = st.sampled_from([125, 126, 127, 65535, 65536, 65537])
_REASONS = st.text(_UNICODE, max_size=30)
_CONTROL_PAYLOADS = st.binary(max_size=125)
_CONTROL_OPCODES = st.sampled_from([PING, PONG, CLOSE])
_KEYS = st.integers(0, (1 << 32) - 1).map(lambda n: n.to_bytes(4, "big"))
_FEW = st.integers(0, 2)
_ONE_IN_FOUR = st.integers(0, 3)


@st.composite
def texts(draw) -> str:
    """Any text (no surrogates), sometimes long enough for the 16- and
    64-bit length encodings."""
    if draw(_ONE_IN_FOUR) < 3:             # shrinks towards short text
        return draw(_SHORT_TEXT)
    seed = draw(_SEED_TEXT)
    return seed * (draw(_LONG_TEXT_BYTES) // len(seed.encode()) + draw(st.booleans()))


@st.composite
def control_frames(draw) -> Frame:
    opcode = draw(_CONTROL_OPCODES)
    if opcode == CLOSE and draw(st.booleans()):
        code = draw(st.integers(0, 0xFFFF))
        reason = draw(_REASONS).encode()[:123]
        return Frame(opcode, code.to_bytes(2, "big") + reason)
    return Frame(opcode, draw(_CONTROL_PAYLOADS))


def cut(draw, payload: bytes, max_fragments: int = 4) -> list[bytes]:
    """``payload`` in 1..max_fragments pieces, empty pieces allowed (an
    empty fragment is legal anywhere in a message)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=max_fragments - 1)))
    bounds = [0, *cuts, len(payload)]
    return [payload[a:b] for a, b in zip(bounds, bounds[1:])]


@st.composite
def cases(draw, max_messages: int = 4) -> Case:
    """A valid stream: data messages (text split anywhere, even inside a
    character; binary), each in fragments, control frames between and
    inside them, masked with drawn keys on the client-to-server side."""
    server = draw(st.booleans())
    rsv_extension = draw(st.booleans())
    frames: list[Frame] = []
    frame_events, message_events = [], []

    def add(frame: Frame, message=None) -> None:
        frames.append(frame)
        frame_events.append(expected_frame(frame.opcode, frame.payload, frame.fin,
                                           frame.rsv, server))
        if frame.opcode >= 8:
            message_events.append(frame_events[-1])
        elif message is not None:
            message_events.append(message)

    def control_frames_between() -> None:
        if draw(_ONE_IN_FOUR) == 3:
            for _ in range(1 + draw(_FEW)):
                add(draw(control_frames()))

    for _ in range(draw(st.integers(0, max_messages))):
        control_frames_between()
        if draw(st.booleans()):
            text = draw(texts())
            opcode, payload, message = TEXT, text.encode(), ("message", "utf8", text)
        else:
            payload = draw(repeated_bytes())
            opcode, message = BINARY, ("message", "binary", payload)
        rsv = draw(st.integers(0, 7)) if rsv_extension else 0
        pieces = cut(draw, payload)
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if index:
                control_frames_between()
            add(Frame(CONT if index else opcode, piece, fin=last, rsv=0 if index else rsv),
                message if last else None)
    control_frames_between()
    keys = [draw(_KEYS) if server else None for _ in frames]
    case = Case(frames, keys, server, rsv_extension, frame_events=frame_events,
                message_events=message_events)
    case.data = b"".join(encode(frame, key) for frame, key in zip(frames, keys))
    return case


# ------------------------------------------------------------- round trips
@fuzz(0.7)
@given(case=cases(), data=st.data())
def test_every_valid_frame_parses_back_to_what_was_encoded(case, data):
    """Frames mode: each frame comes back with its opcode, FIN, RSV bits,
    mask flag and unmasked payload (a close frame split into code and
    reason), whole or in any chunking, then EOF."""
    chunks = data.draw(chunked(case.data))
    for source in (None, chunks):
        parser = case.parser(reader_over(case.data, source), assemble=False)
        assert run(parser) == (case.frame_events, ("eof",))


@fuzz(0.7)
@given(case=cases(), python_masking=st.booleans(), data=st.data())
def test_every_valid_message_is_assembled(case, python_masking, data):
    """Message mode: fragments (text cut even inside a character) are
    joined into the original text or bytes; control frames come back in
    place, between or inside messages (unmasked by either masking
    implementation)."""
    chunks = data.draw(chunked(case.data))
    for source in (None, chunks):
        parser = case.parser(reader_over(case.data, source), assemble=True)
        with parser_masking(python_masking):
            events, end = run(parser)
        assert (events, end) == (case.message_events, ("eof",))
        assert not parser.in_message


class Interrupted(Exception):
    """A read stopped while waiting (as a timeout or a kill would)."""


def interrupting_reader(chunks: list[bytes], interrupts: set[int]) -> BufferedReader:
    """A reader whose receive calls numbered in ``interrupts`` raise
    :class:`Interrupted` before receiving anything."""
    pending = list(chunks)
    calls = [0]

    def recv_into(view: memoryview) -> int:
        calls[0] += 1
        if calls[0] - 1 in interrupts:
            raise Interrupted()
        if not pending:
            return 0
        chunk = pending.pop(0)
        if len(chunk) > len(view):
            pending.insert(0, chunk[len(view):])
            chunk = chunk[:len(view)]
        view[:len(chunk)] = chunk
        return len(chunk)

    return BufferedReader(recv_into)


@fuzz(0.7)
@given(case=cases(), assemble=st.booleans(), data=st.data())
def test_an_interrupted_read_resumes_where_it_stopped(case, assemble, data):
    """A receive that raises part way through a header or a payload loses
    nothing: calling ``next_event`` again gives the same events as an
    uninterrupted read, for valid and for mutated streams."""
    stream = case.data
    if data.draw(st.booleans()):
        stream = data.draw(mutated(stream))
    chunks = data.draw(chunked(stream))
    interrupts = set(data.draw(st.lists(st.integers(0, 2 * len(chunks) + 2), max_size=6)))
    expected = run(case.parser(BufferedReader.from_bytes(stream), assemble))
    parser = case.parser(interrupting_reader(chunks, interrupts), assemble)
    events = []
    while True:
        try:
            events.append(describe(parser.next_event()))
        except Interrupted:
            continue
        except EOFError:
            end = ("eof",)
            break
        except ProtocolError as exc:
            end = (type(exc).__name__, exc.code, exc.reason)
            break
    assert (events, end) == expected


# ------------------------------------------------------------- limits
def message_sizes(frames: list[Frame]) -> list[int]:
    """The size of each data message after each of its frames (a running
    total): where a message size limit must fail or not."""
    sizes, total = [], 0
    for frame in frames:
        if frame.opcode < 8:
            total = len(frame.payload) + (total if frame.opcode == CONT else 0)
            sizes.append(total)
    return sizes


@fuzz(0.7)
@given(case=cases(max_messages=3), assemble=st.booleans(), data=st.data())
def test_size_limits_fail_exactly_at_the_first_frame_over_them(case, assemble, data):
    """1009 comes from the header of the first frame longer than
    ``max_frame_size`` or (message mode, no transforming extension) that
    takes its message over ``max_message_size``; everything before that
    frame is returned, nothing after it.  The limits are drawn mostly at
    and next to the stream's frame and message sizes."""
    if data.draw(st.booleans()):
        max_frame_size = LIMIT
    else:
        max_frame_size = data.draw(limit_near([len(f.payload) for f in case.frames], high=400))
    max_message_size = data.draw(limit_near(message_sizes(case.frames)))
    events, before = [], []
    message_size, failed = 0, False
    message_index = frame_index = 0
    transformed = False
    for frame in case.frames:
        length = len(frame.payload)
        if frame.opcode in (TEXT, BINARY):
            message_size = 0
            transformed = case.rsv_extension and frame.rsv != 0
        if length > max_frame_size:
            failed = True
        elif frame.opcode < 8 and assemble and not transformed:
            message_size += length
            failed = message_size > max_message_size
        if failed:
            break
        events.append(case.frame_events[frame_index])
        frame_index += 1
        if frame.opcode >= 8 or frame.fin:
            if assemble:
                before.append(case.message_events[message_index])
            message_index += 1
    expected_events = before if assemble else events
    chunks = data.draw(chunked(case.data))
    parser = case.parser(reader_over(case.data, chunks), assemble,
                         max_frame_size=max_frame_size, max_message_size=max_message_size)
    got, end = run(parser)
    assert got == expected_events
    assert (end[0] == "PayloadTooBig") is failed
    if not failed:
        assert end == ("eof",)


# ------------------------------------------------------------- robustness
@fuzz()
@given(case=cases(max_messages=3), assemble=st.booleans(), python_masking=st.booleans(),
       data=st.data())
def test_mutated_streams_raise_only_protocol_errors(case, assemble, python_masking, data):
    """Bit flips, insertions, deletions and truncations of a valid stream
    only ever end in EOFError or a ProtocolError carrying 1002, 1007 or
    1009, and the outcome is the same whole or chunked."""
    stream = data.draw(mutated(case.data))
    chunks = data.draw(chunked(stream))
    whole = run(case.parser(BufferedReader.from_bytes(stream), assemble))
    with parser_masking(python_masking):
        assert run(case.parser(reader_over(stream, chunks), assemble)) == whole


@fuzz()
@given(stream=st.binary(max_size=300), server=st.booleans(), assemble=st.booleans(),
       rsv_extension=st.booleans(), data=st.data())
def test_random_bytes_raise_only_protocol_errors(stream, server, assemble, rsv_extension,
                                                  data):
    """Arbitrary bytes, on either side: only EOFError or a ProtocolError,
    the same whole or chunked."""
    case = Case([], [], server, rsv_extension)
    chunks = data.draw(chunked(stream))
    whole = run(case.parser(BufferedReader.from_bytes(stream), assemble, max_frame_size=200,
                            max_message_size=250))
    chunked_run = run(case.parser(reader_over(stream, chunks), assemble, max_frame_size=200,
                                  max_message_size=250))
    assert chunked_run == whole


# ------------------------------------------------------------- the codec
@fuzz()
@given(opcode=st.integers(0, 15), length=st.one_of(st.integers(0, 200),
                                                   st.integers(0, (1 << 32) - 1)),
       fin=st.booleans(), rsv=st.integers(0, 7),
       key=st.one_of(st.none(), st.binary(min_size=4, max_size=4)))
def test_encode_header_uses_the_minimal_length_encoding(opcode, length, fin, rsv, key):
    """The header carries every field, with the shortest length form
    (7-bit below 126, 16-bit below 65536, 64-bit above) and the key last."""
    header = encode_header(opcode, length, fin=fin, rsv=rsv, mask=key)
    size = 2 if length < 126 else 4 if length < 0x10000 else 10
    assert len(header) == size + (4 if key is not None else 0)
    assert header[0] == (0x80 if fin else 0) | rsv << 4 | opcode
    assert bool(header[1] & 0x80) is (key is not None)
    marker = header[1] & 0x7F
    if size == 2:
        assert marker == length
    else:
        assert marker == (126 if size == 4 else 127)
        assert int.from_bytes(header[2:size], "big") == length
    if key is not None:
        assert header[size:] == key


@fuzz()
@given(opcode=st.sampled_from([CONT, TEXT, BINARY, CLOSE, PING, PONG]),
       payload=repeated_bytes(), fin=st.booleans(), rsv=st.integers(0, 7),
       masked=st.booleans(), data=st.data())
def test_add_data_reads_back_to_bytes(opcode, payload, fin, rsv, masked, data):
    """Node's ``WebSocketFrame``: ``to_bytes`` then ``add_data`` (fed in
    any pieces) gives back the same fields, and bytes after the frame are
    left in ``leftover``."""
    if opcode >= 8:
        payload, fin = payload[:125], True
    frame = WebSocketFrame({"max_received_frame_size": LIMIT}, opcode=opcode,
                           binary_payload=payload, fin=fin)
    frame.rsv1, frame.rsv2, frame.rsv3 = bool(rsv & 4), bool(rsv & 2), bool(rsv & 1)
    frame.mask = masked
    encoded = frame.to_bytes()
    wire = encoded + b"trailing"
    parsed = WebSocketFrame({"max_received_frame_size": LIMIT})
    fed = 0
    for piece in data.draw(chunked(wire)):
        fed += len(piece)
        if parsed.add_data(piece):
            break
    else:
        raise AssertionError("add_data never completed the frame")
    assert not parsed.protocol_error and not parsed.frame_too_large
    assert describe(parsed) == expected_frame(opcode, payload, fin, rsv, masked)
    assert parsed.leftover == wire[len(encoded):fed]


@fuzz()
@given(stream=st.one_of(st.binary(max_size=200),
                        st.binary(max_size=60).map(lambda b: encode_frame(9, b[:125]) + b)),
       data=st.data())
def test_add_data_never_raises(stream, data):
    """``add_data`` on arbitrary bytes returns a bool and, once it says the
    frame is done, has either a complete frame or a drop reason."""
    frame = WebSocketFrame({"max_received_frame_size": 1000})
    for piece in data.draw(chunked(stream)):
        if frame.add_data(piece):
            if frame.protocol_error or frame.frame_too_large:
                assert frame.drop_reason
            else:
                assert frame.parse_state == WebSocketFrame.COMPLETE
            break
