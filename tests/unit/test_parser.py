"""Unit tests for :class:`wsframework.protocol.parser.FrameParser`, fed from
in-memory readers (``BufferedReader.from_bytes`` / ``from_chunks``).

Covers messages and fragments, every protocol-error rule with its close
code and text (reference §4.4 and §9 items 1, 18, 19, 20), incremental
UTF-8 checking, ``assemble_fragments=False``, and resuming a read that was
interrupted part way through a frame.
"""

from __future__ import annotations

import struct

import pytest

from wsframework.exceptions import InvalidUTF8, PayloadTooBig, ProtocolError
from wsframework.protocol.frame import Opcode, WebSocketFrame, encode_frame, encode_header
from wsframework.protocol.message import WebSocketMessage
from wsframework.protocol.extensions import Extension
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader

TEXT, BINARY, CONT = Opcode.TEXT, Opcode.BINARY, Opcode.CONTINUATION
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


def cf(opcode, payload=b"", **kw):
    """A client (masked) frame."""
    return encode_frame(opcode, payload, mask=True, **kw)


def sf(opcode, payload=b"", **kw):
    """A server (unmasked) frame."""
    return encode_frame(opcode, payload, **kw)


def server_parser(reader, **kw):
    kw.setdefault("max_frame_size", 0x10000)
    kw.setdefault("max_message_size", 0x100000)
    return FrameParser(reader, expect_masked=True, **kw)


def client_parser(reader, **kw):
    kw.setdefault("max_frame_size", 0x100000)
    kw.setdefault("max_message_size", 0x800000)
    return FrameParser(reader, expect_masked=False, **kw)


def parse_server(data: bytes, **kw):
    return server_parser(BufferedReader.from_bytes(data), **kw)


def events(parser, count):
    return [parser.next_event() for _ in range(count)]


def expect_error(parser, code, text, exc_type=ProtocolError):
    with pytest.raises(exc_type) as info:
        parser.next_event()
    assert info.value.code == code
    assert info.value.reason == text
    assert str(info.value) == text
    return info.value


def recording_chunks(chunks, consumed):
    """Yield ``chunks`` one by one, recording the index of each one taken."""
    for index, chunk in enumerate(chunks):
        consumed.append(index)
        yield chunk


# --------------------------------------------------------------- messages
@pytest.mark.parametrize("text", ["", "hello", "héllo €𐍈", "x" * 126, "y" * 70000])
def test_single_frame_text_message(text):
    parser = parse_server(cf(TEXT, text.encode()), max_frame_size=1 << 20)
    message = parser.next_event()
    assert isinstance(message, WebSocketMessage)
    assert message.type == "utf8"
    assert message.utf8_data == text
    assert message.binary_data is None
    assert message.data == text


@pytest.mark.parametrize("payload", [b"", b"\x00\xff\x80", bytes(range(256)) * 300])
def test_single_frame_binary_message(payload):
    parser = parse_server(cf(BINARY, payload), max_frame_size=1 << 20)
    message = parser.next_event()
    assert message.type == "binary"
    assert message.binary_data == payload
    assert message.utf8_data is None


def test_client_side_reads_unmasked_frames():
    parser = client_parser(BufferedReader.from_bytes(sf(TEXT, b"hi") + sf(BINARY, b"\x01")))
    assert parser.next_event() == WebSocketMessage.text("hi")
    assert parser.next_event() == WebSocketMessage.binary(b"\x01")


def test_several_messages_in_one_buffer():
    data = cf(TEXT, b"one") + cf(BINARY, b"two") + cf(TEXT, b"three")
    parser = parse_server(data)
    assert [m.data for m in events(parser, 3)] == ["one", b"two", "three"]
    with pytest.raises(EOFError):
        parser.next_event()


def test_fragmented_text_with_interleaved_ping():
    data = (cf(TEXT, b"Hel", fin=False) + cf(PING, b"p1")
            + cf(CONT, b"lo ", fin=False) + cf(PONG, b"p2") + cf(CONT, b"world"))
    parser = parse_server(data)
    ping = parser.next_event()
    assert isinstance(ping, WebSocketFrame)
    assert ping.opcode == PING and ping.binary_payload == b"p1"
    assert parser.in_message
    pong = parser.next_event()
    assert pong.opcode == PONG and pong.binary_payload == b"p2"
    message = parser.next_event()
    assert message == WebSocketMessage.text("Hello world")
    assert not parser.in_message


def test_fragmented_binary_message():
    data = cf(BINARY, b"\x00\x01", fin=False) + cf(CONT, b"", fin=False) + cf(CONT, b"\x02")
    parser = parse_server(data)
    assert parser.next_event() == WebSocketMessage.binary(b"\x00\x01\x02")


def test_multibyte_character_split_across_fragments():
    euro = "€".encode()
    data = cf(TEXT, b"a" + euro[:2], fin=False) + cf(CONT, euro[2:] + b"b")
    assert parse_server(data).next_event() == WebSocketMessage.text("a€b")


def test_close_frame_in_the_middle_of_a_message():
    data = cf(TEXT, b"part", fin=False) + cf(CLOSE, b"\x03\xe8bye")
    parser = parse_server(data)
    frame = parser.next_event()
    assert frame.opcode == CLOSE
    assert frame.close_status == 1000
    assert frame.binary_payload == b"bye"


# ------------------------------------------------------------ control frames
def test_ping_and_pong_frames():
    parser = parse_server(cf(PING, b"abc") + cf(PONG))
    ping, pong = events(parser, 2)
    assert (ping.opcode, ping.binary_payload, ping.fin, ping.mask) == (PING, b"abc", True, True)
    assert (pong.opcode, pong.binary_payload) == (PONG, b"")


def test_control_frame_of_125_bytes_is_accepted():
    frame = parse_server(cf(PING, b"x" * 125)).next_event()
    assert frame.binary_payload == b"x" * 125


@pytest.mark.parametrize("payload, status, reason, length", [
    (b"\x03\xe8", 1000, b"", 2),
    (b"\x03\xe9going away", 1001, b"going away", 12),
    (b"\x0b\xb8\xc3\xa9", 3000, "é".encode(), 4),
])
def test_close_frame_status_parsing(payload, status, reason, length):
    frame = parse_server(cf(CLOSE, payload)).next_event()
    assert frame.opcode == CLOSE
    assert frame.close_status == status
    assert frame.binary_payload == reason
    assert frame.length == length
    assert frame.invalid_close_frame_length is False


def test_empty_close_frame():
    frame = parse_server(cf(CLOSE)).next_event()
    assert frame.close_status == -1
    assert frame.invalid_close_frame_length is False


def test_one_byte_close_frame():
    frame = parse_server(cf(CLOSE, b"\x03")).next_event()
    assert frame.invalid_close_frame_length is True
    assert frame.close_status == -1
    assert frame.binary_payload == b""


# ---------------------------------------------------------- protocol errors
def test_control_frame_longer_than_125_bytes():
    expect_error(parse_server(cf(PING, b"x" * 126)), 1002,
                 "Illegal control frame longer than 125 bytes.")


def test_control_frame_too_long_is_detected_from_the_header_alone():
    # Only the header is available: the error must not wait for the payload.
    data = encode_header(CLOSE, 200, mask=b"abcd")
    expect_error(parse_server(data), 1002, "Illegal control frame longer than 125 bytes.")


@pytest.mark.parametrize("opcode", [CLOSE, PING, PONG])
def test_fragmented_control_frame(opcode):
    expect_error(parse_server(cf(opcode, b"", fin=False)), 1002,
                 "Control frames must not be fragmented.")


@pytest.mark.parametrize("rsv", [4, 2, 1, 7])
def test_rsv_bits(rsv):
    expect_error(parse_server(cf(TEXT, b"x", rsv=rsv)), 1002,
                 "Unsupported usage of rsv bits without negotiated extension.")


def test_rsv_bits_on_control_frame():
    expect_error(parse_server(cf(PING, b"", rsv=4)), 1002,
                 "Unsupported usage of rsv bits without negotiated extension.")


class Reverser(Extension):
    """A toy extension owning RSV2: it reverses each frame's payload."""

    name = "x-reverse"
    rsv_mask = 0b010

    def begin_message(self, rsv):
        return bool(rsv & self.rsv_mask)

    def decode(self, payload, fin, max_size):
        return payload[::-1]


def extension_parser(data, extension):
    return FrameParser(BufferedReader.from_bytes(data), expect_masked=True,
                       max_frame_size=1 << 20, max_message_size=1 << 20,
                       extensions=[extension])


def test_rsv_bit_owned_by_a_negotiated_extension():
    data = cf(BINARY, b"abc", rsv=2) + cf(TEXT, b"plain")
    parser = extension_parser(data, Reverser())
    assert parser.next_event().binary_data == b"cba"
    assert parser.next_event().utf8_data == "plain"


@pytest.mark.parametrize("frame", [
    cf(BINARY, b"x", rsv=4),                       # a bit the extension does not own
    cf(PING, b"", rsv=2),                          # never on control frames
    cf(TEXT, b"a", fin=False, rsv=2) + cf(CONT, b"b", rsv=2),   # nor on continuations
])
def test_rsv_bits_outside_what_extensions_allow(frame):
    parser = extension_parser(frame, Reverser())
    with pytest.raises(ProtocolError) as info:
        while True:
            parser.next_event()
    assert info.value.code == 1002


def test_unmasked_frame_from_client():
    expect_error(parse_server(sf(TEXT, b"hi")), 1002, "Unmasked frame from client")


def test_unmasked_control_frame_from_client():
    expect_error(parse_server(sf(PING, b"")), 1002, "Unmasked frame from client")


def test_masked_frame_from_server():
    parser = client_parser(BufferedReader.from_bytes(cf(TEXT, b"hi")))
    expect_error(parser, 1002, "Masked frame from server")


def test_continuation_without_start():
    expect_error(parse_server(cf(CONT, b"x")), 1002, "Unexpected Continuation Frame")


def test_continuation_after_a_finished_message():
    parser = parse_server(cf(TEXT, b"a") + cf(CONT, b"b"))
    assert parser.next_event().data == "a"
    expect_error(parser, 1002, "Unexpected Continuation Frame")


@pytest.mark.parametrize("opcode, hex_text", [(TEXT, "0x1"), (BINARY, "0x2"), (3, "0x3"),
                                              (7, "0x7")])
def test_new_data_opcode_mid_message(opcode, hex_text):
    parser = parse_server(cf(TEXT, b"a", fin=False) + cf(opcode, b"b"))
    expect_error(parser, 1002,
                 f"Illegal frame opcode {hex_text} received in middle of fragmented message.")


@pytest.mark.parametrize("opcode, text", [(3, "0x3"), (4, "0x4"), (7, "0x7"), (0xB, "0xb"),
                                          (0xC, "0xc"), (0xF, "0xf")])
def test_reserved_opcodes(opcode, text):
    expect_error(parse_server(cf(opcode, b"")), 1002, f"Unrecognized Opcode: {text}")


def test_64_bit_length_with_high_word_set():
    data = bytes((0x82, 0x80 | 127)) + struct.pack("!Q", 1 << 32) + b"abcd"
    expect_error(parse_server(data, max_frame_size=1 << 40), 1002,
                 "Unsupported 64-bit length frame received")


def test_frame_too_big():
    parser = parse_server(cf(BINARY, b"x" * 101), max_frame_size=100)
    exc = expect_error(parser, 1009, "Frame size of 101 bytes exceeds maximum accepted frame size",
                       PayloadTooBig)
    assert isinstance(exc, ProtocolError)


def test_frame_too_big_is_detected_before_the_payload_arrives():
    header = encode_header(BINARY, 0x10001, mask=b"abcd")
    expect_error(parse_server(header), 1009,
                 "Frame size of 65537 bytes exceeds maximum accepted frame size", PayloadTooBig)


def test_frame_at_the_size_limit_is_accepted():
    parser = parse_server(cf(BINARY, b"x" * 100), max_frame_size=100)
    assert parser.next_event().binary_data == b"x" * 100


def test_single_frame_message_too_big():
    # §9 item 18: the message limit applies to single-frame messages too.
    parser = parse_server(cf(TEXT, b"x" * 51), max_frame_size=1000, max_message_size=50)
    expect_error(parser, 1009, "Maximum message size exceeded.", PayloadTooBig)


def test_first_fragment_too_big_for_message():
    parser = parse_server(cf(BINARY, b"x" * 51, fin=False), max_frame_size=1000,
                          max_message_size=50)
    expect_error(parser, 1009, "Maximum message size exceeded.", PayloadTooBig)


def test_fragmented_message_too_big():
    data = cf(BINARY, b"x" * 30, fin=False) + cf(CONT, b"y" * 20, fin=False) + cf(CONT, b"z")
    parser = parse_server(data, max_frame_size=1000, max_message_size=50)
    expect_error(parser, 1009, "Maximum message size exceeded.", PayloadTooBig)


def test_message_exactly_at_the_limit():
    data = cf(TEXT, b"x" * 30, fin=False) + cf(CONT, b"y" * 20)
    parser = parse_server(data, max_frame_size=1000, max_message_size=50)
    assert parser.next_event().data == "x" * 30 + "y" * 20


def test_message_limit_does_not_count_interleaved_control_frames():
    data = cf(BINARY, b"x" * 30, fin=False) + cf(PING, b"p" * 100) + cf(CONT, b"y" * 20)
    parser = parse_server(data, max_frame_size=1000, max_message_size=50)
    assert parser.next_event().opcode == PING
    assert parser.next_event().binary_data == b"x" * 30 + b"y" * 20


def test_message_limit_resets_between_messages():
    data = cf(BINARY, b"x" * 40, fin=False) + cf(CONT, b"y" * 10) + cf(BINARY, b"z" * 50)
    parser = parse_server(data, max_frame_size=1000, max_message_size=50)
    assert len(parser.next_event().binary_data) == 50
    assert parser.next_event().binary_data == b"z" * 50


@pytest.mark.parametrize("data, kw, code, text", [
    # A too-long control frame that is also fragmented: the length wins.
    (encode_header(PING, 126, fin=False, mask=b"abcd"), {}, 1002,
     "Illegal control frame longer than 125 bytes."),
    # A 64-bit length with a high word, over the frame limit too.
    (bytes((0x82, 0xFF)) + struct.pack("!Q", 1 << 33) + b"abcd", {"max_frame_size": 10}, 1002,
     "Unsupported 64-bit length frame received"),
    # Too big and with RSV bits: the size is checked first.
    (cf(BINARY, b"x" * 20, rsv=4), {"max_frame_size": 10}, 1009,
     "Frame size of 20 bytes exceeds maximum accepted frame size"),
    # RSV bits on an unexpected continuation: RSV first.
    (cf(CONT, b"x", rsv=2), {}, 1002,
     "Unsupported usage of rsv bits without negotiated extension."),
    # An unexpected continuation that is also too big for a message.
    (cf(CONT, b"x" * 20), {"max_message_size": 10}, 1002, "Unexpected Continuation Frame"),
])
def test_check_order(data, kw, code, text):
    expect_error(parse_server(data, **kw), code, text)


# ------------------------------------------------------------------- UTF-8
@pytest.mark.parametrize("payload", [
    b"\xff",
    b"abc\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"ok\xe2\x82",        # truncated at the end of the message
])
def test_invalid_utf8_text_message(payload):
    expect_error(parse_server(cf(TEXT, payload)), 1007, "Invalid UTF-8 Data Received",
                 InvalidUTF8)


def test_invalid_utf8_across_fragments():
    data = cf(TEXT, b"ok\xe2", fin=False) + cf(CONT, b"\x28\xa1")
    expect_error(parse_server(data), 1007, "Invalid UTF-8 Data Received", InvalidUTF8)


def test_truncated_utf8_at_the_end_of_a_fragmented_message():
    data = cf(TEXT, b"ok", fin=False) + cf(CONT, b"\xf0\x9f\x98")
    expect_error(parse_server(data), 1007, "Invalid UTF-8 Data Received", InvalidUTF8)


def test_invalid_first_fragment_fails_before_the_continuation_arrives():
    # Only the first fragment exists: the error must come before EOF.
    expect_error(parse_server(cf(TEXT, b"bad\xff", fin=False)), 1007,
                 "Invalid UTF-8 Data Received", InvalidUTF8)


def test_binary_messages_are_not_utf8_checked():
    assert parse_server(cf(BINARY, b"\xff\xfe")).next_event().binary_data == b"\xff\xfe"


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("bad", [b"\xff", b"\xc0\xaf", b"\xed\xa0"])
def test_utf8_fails_fast_within_a_frame(masked, bad):
    """The 2nd chunk holds an invalid sequence: the error is raised before
    the 3rd chunk is received."""
    payload = b"A" * 20 + bad + b"\x80" + b"B" * 40
    if masked:
        frame = cf(TEXT, payload)
        header_size = len(frame) - len(payload)
    else:
        frame = sf(TEXT, payload)
        header_size = 2
    cut1 = header_size + 10              # header + 10 valid bytes
    cut2 = header_size + 20 + len(bad)   # ... up to the end of the bad bytes
    chunks = [frame[:cut1], frame[cut1:cut2], frame[cut2:]]
    consumed: list[int] = []
    reader = BufferedReader.from_chunks(recording_chunks(chunks, consumed))
    parser = (server_parser if masked else client_parser)(reader)
    expect_error(parser, 1007, "Invalid UTF-8 Data Received", InvalidUTF8)
    assert consumed == [0, 1]


def test_utf8_fails_fast_in_a_later_fragment_before_its_end():
    first = cf(TEXT, b"hello ", fin=False)
    second = cf(CONT, b"wor\xffld" + b"!" * 30)
    cut = len(second) - 30
    chunks = [first, second[:cut], second[cut:]]
    consumed: list[int] = []
    parser = server_parser(BufferedReader.from_chunks(recording_chunks(chunks, consumed)))
    expect_error(parser, 1007, "Invalid UTF-8 Data Received", InvalidUTF8)
    assert consumed == [0, 1]


def test_valid_utf8_split_over_chunks_inside_a_frame():
    text = "日本語テキスト €𐍈" * 10
    frame = cf(TEXT, text.encode())
    chunks = [frame[i:i + 5] for i in range(0, len(frame), 5)]
    parser = server_parser(BufferedReader.from_chunks(chunks))
    assert parser.next_event().data == text


# ------------------------------------------------- assemble_fragments=False
def test_frames_mode_returns_every_frame():
    data = (cf(TEXT, b"He", fin=False) + cf(PING, b"p") + cf(CONT, b"llo")
            + cf(BINARY, b"\x01"))
    parser = parse_server(data, assemble_fragments=False)
    frames = events(parser, 4)
    assert all(isinstance(f, WebSocketFrame) for f in frames)
    assert [(f.opcode, f.fin, f.binary_payload) for f in frames] == [
        (TEXT, False, b"He"), (PING, True, b"p"), (CONT, True, b"llo"), (BINARY, True, b"\x01")]
    assert all(f.mask for f in frames)


def test_frames_mode_still_rejects_unexpected_continuation():
    parser = parse_server(cf(CONT, b"x"), assemble_fragments=False)
    expect_error(parser, 1002, "Unexpected Continuation Frame")


def test_frames_mode_still_rejects_new_message_mid_message():
    parser = parse_server(cf(BINARY, b"a", fin=False) + cf(TEXT, b"b"),
                          assemble_fragments=False)
    first = parser.next_event()
    assert (first.opcode, first.fin) == (BINARY, False)
    expect_error(parser, 1002,
                 "Illegal frame opcode 0x1 received in middle of fragmented message.")


def test_frames_mode_continuation_after_finished_message():
    parser = parse_server(cf(BINARY, b"a", fin=False) + cf(CONT, b"b") + cf(CONT, b"c"),
                          assemble_fragments=False)
    events(parser, 2)
    expect_error(parser, 1002, "Unexpected Continuation Frame")


def test_frames_mode_still_checks_control_frame_rules():
    parser = parse_server(cf(PING, b"", fin=False), assemble_fragments=False)
    expect_error(parser, 1002, "Control frames must not be fragmented.")


def test_frames_mode_close_frame():
    frame = parse_server(cf(CLOSE, b"\x03\xe9x"), assemble_fragments=False).next_event()
    assert (frame.opcode, frame.close_status, frame.binary_payload) == (CLOSE, 1001, b"x")


# ---------------------------------------------------------- resumability
def test_one_byte_chunks():
    data = (cf(TEXT, "héllo".encode(), fin=False) + cf(PING, b"pp")
            + cf(CONT, b" w" * 100) + cf(BINARY, bytes(range(256)) * 3))
    parser = server_parser(BufferedReader.from_chunks([data[i:i + 1] for i in range(len(data))]))
    assert parser.next_event().binary_payload == b"pp"
    assert parser.next_event().data == "héllo" + " w" * 100
    assert parser.next_event().data == bytes(range(256)) * 3
    with pytest.raises(EOFError):
        parser.next_event()


def test_large_payload_in_uneven_chunks():
    payload = bytes((i * 31) & 0xFF for i in range(200_000))
    data = cf(BINARY, payload)
    # from_chunks hands over one chunk per receive, so none may exceed
    # the reader's 64 KiB receive buffer.
    sizes = [1, 2, 3, 7, 65536, 100, 40000]
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        chunks.append(data[pos:pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    parser = server_parser(BufferedReader.from_chunks(chunks), max_frame_size=1 << 20,
                           max_message_size=1 << 20)
    message = parser.next_event()
    # bytes, not the bytearray it may have been received into
    assert type(message.binary_data) is bytes and message.binary_data == payload


class Interrupt(Exception):
    """Stands for a timeout or a kill while the parser waits for bytes."""


def interrupted_reader(items):
    """A reader whose receives return ``items`` in turn; an exception item
    is raised instead, once, as a timeout would be."""
    it = iter(items)

    def recv_into(view):
        item = next(it, b"")
        if isinstance(item, Exception):
            raise item
        view[:len(item)] = item
        return len(item)

    return BufferedReader(recv_into)


@pytest.mark.parametrize("opcode, payload, expected", [
    (TEXT, "añb€c".encode() * 40, "añb€c" * 40),
    (BINARY, bytes(range(250)), bytes(range(250))),
])
@pytest.mark.parametrize("masked", [True, False])
def test_read_resumes_after_an_interruption(opcode, payload, expected, masked):
    frame = encode_frame(opcode, payload, mask=masked)
    # Interrupt inside the header and twice inside the payload, at points
    # that cut multi-byte characters.
    pieces = [frame[:1], Interrupt(), frame[1:9], frame[9:50], Interrupt(),
              frame[50:51], Interrupt(), frame[51:]]
    reader = interrupted_reader(pieces)
    parser = FrameParser(reader, expect_masked=masked, max_frame_size=1 << 20,
                         max_message_size=1 << 20)
    interruptions = 0
    while True:
        try:
            message = parser.next_event()
            break
        except Interrupt:
            interruptions += 1
    assert interruptions == 3
    assert message.data == expected


def test_resume_between_fragments():
    data = cf(TEXT, b"abc", fin=False) + cf(CONT, b"def")
    cut = len(data) - 2
    parser = server_parser(interrupted_reader([data[:cut], Interrupt(), data[cut:]]))
    with pytest.raises(Interrupt):
        parser.next_event()
    assert parser.next_event().data == "abcdef"


# ------------------------------------------------------------- end of stream
@pytest.mark.parametrize("data", [
    b"",
    b"\x81",                                  # half a header
    encode_header(TEXT, 300, mask=b"abcd")[:3],  # inside the extended length
    encode_header(TEXT, 5, mask=b"abcd")[:4],    # inside the mask key
    cf(TEXT, b"hello")[:-2],                  # inside the payload
    cf(TEXT, b"part", fin=False),             # message never finished
])
def test_eof_error_at_end_of_stream(data):
    with pytest.raises(EOFError):
        parse_server(data).next_event()


def test_eof_from_chunked_reader():
    parser = server_parser(BufferedReader.from_chunks([cf(TEXT, b"a")]))
    assert parser.next_event().data == "a"
    with pytest.raises(EOFError):
        parser.next_event()


# ------------------------------------------------------- frames per message
def test_a_message_may_have_1024_frames_plus_one_per_16_bytes_of_the_limit():
    # max_message_size 160: 1,024 + 10 frames.  Empty continuations cost no
    # memory, but a message may not go on for ever.
    allowed = 1024 + 160 // 16
    ok = cf(BINARY, b"a", fin=False) + cf(CONT, b"", fin=False) * (allowed - 2) + cf(CONT, b"b")
    parser = server_parser(BufferedReader.from_bytes(ok), max_message_size=160)
    assert parser.next_event().data == b"ab"
    too_many = cf(BINARY, b"a", fin=False) + cf(CONT, b"", fin=False) * allowed
    parser = server_parser(BufferedReader.from_bytes(too_many), max_message_size=160)
    with pytest.raises(PayloadTooBig, match="more than 1034 frames"):
        parser.next_event()


def test_the_frame_count_starts_again_with_each_message():
    allowed = 1024 + 160 // 16
    one = cf(TEXT, b"a", fin=False) + cf(CONT, b"", fin=False) * (allowed - 2) + cf(CONT, b"b")
    parser = server_parser(BufferedReader.from_bytes(one * 3), max_message_size=160)
    assert [parser.next_event().data for _ in range(3)] == ["ab"] * 3


def test_unassembled_fragments_are_not_counted():
    frames = cf(BINARY, b"a", fin=False) + cf(CONT, b"", fin=False) * 2000 + cf(CONT, b"b")
    parser = server_parser(BufferedReader.from_bytes(frames), max_message_size=160,
                           assemble_fragments=False)
    assert sum(1 for _ in range(2002) if parser.next_event()) == 2002
