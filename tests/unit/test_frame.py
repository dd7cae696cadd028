"""Unit tests for :mod:`wsframework.protocol.frame`: the header/frame encoders and
the Node-shaped :class:`WebSocketFrame` (reference §6), without sockets."""

from __future__ import annotations

import struct

import pytest

from wsframework.protocol.frame import (MAX_CONTROL_PAYLOAD, Opcode, WebSocketFrame,
                               encode_close_payload, encode_frame, encode_header)
from wsframework.protocol.masking import apply_mask

KEY = b"\x37\xfa\x21\x3d"


def split_frame(data: bytes) -> tuple[int, int, bytes | None, bytes]:
    """Decode a frame independently of the library: (b0, length, key, payload)."""
    b0, b1 = data[0], data[1]
    length, pos = b1 & 0x7F, 2
    if length == 126:
        length, pos = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        length, pos = struct.unpack("!Q", data[2:10])[0], 10
    key = None
    if b1 & 0x80:
        key, pos = data[pos:pos + 4], pos + 4
    payload = data[pos:]
    assert len(payload) == length
    return b0, length, key, payload


# --------------------------------------------------------------- encoding
def test_opcodes():
    assert (Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY) == (0, 1, 2)
    assert (Opcode.CLOSE, Opcode.PING, Opcode.PONG) == (8, 9, 10)
    assert MAX_CONTROL_PAYLOAD == 125


@pytest.mark.parametrize("length, expected", [
    (0, b"\x82\x00"),
    (1, b"\x82\x01"),
    (125, b"\x82\x7d"),
    (126, b"\x82\x7e\x00\x7e"),
    (65535, b"\x82\x7e\xff\xff"),
    (65536, b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
    (2**32 - 1, b"\x82\x7f\x00\x00\x00\x00\xff\xff\xff\xff"),
])
def test_encode_header_minimal_length(length, expected):
    assert encode_header(Opcode.BINARY, length) == expected


@pytest.mark.parametrize("fin, rsv, byte0", [
    (True, 0, 0x81),
    (False, 0, 0x01),
    (True, 4, 0xC1),   # rsv1
    (True, 2, 0xA1),   # rsv2
    (True, 1, 0x91),   # rsv3
    (False, 7, 0x71),
])
def test_encode_header_fin_and_rsv(fin, rsv, byte0):
    assert encode_header(Opcode.TEXT, 5, fin=fin, rsv=rsv) == bytes((byte0, 5))


@pytest.mark.parametrize("length, size_bytes", [(5, b""), (300, b"\x01\x2c"),
                                                (70000, struct.pack("!Q", 70000))])
def test_encode_header_with_mask_key(length, size_bytes):
    header = encode_header(Opcode.TEXT, length, mask=KEY)
    marker = length if length < 126 else 126 if length < 65536 else 127
    assert header == bytes((0x81, 0x80 | marker)) + size_bytes + KEY


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536])
def test_encode_frame_unmasked(length):
    payload = bytes(i & 0xFF for i in range(length))
    data = encode_frame(Opcode.BINARY, payload)
    b0, decoded_length, key, body = split_frame(data)
    assert b0 == 0x82
    assert decoded_length == length
    assert key is None
    assert body == payload


@pytest.mark.parametrize("length", [0, 3, 125, 126, 65536])
def test_encode_frame_masked_round_trips(length):
    payload = bytes((i * 7) & 0xFF for i in range(length))
    data = encode_frame(Opcode.TEXT, payload, mask=True, fin=False)
    b0, decoded_length, key, body = split_frame(data)
    assert b0 == 0x01
    assert decoded_length == length
    assert key is not None and len(key) == 4
    assert apply_mask(body, key) == payload


def test_encode_frame_uses_a_fresh_key_each_time():
    keys = {split_frame(encode_frame(Opcode.TEXT, b"x", mask=True))[2] for _ in range(16)}
    assert len(keys) > 1


def test_encode_close_payload():
    assert encode_close_payload(1000) == b"\x03\xe8"
    assert encode_close_payload(1001, "bye") == b"\x03\xe9bye"
    assert encode_close_payload(4000, "é".encode()) == b"\x0f\xa0\xc3\xa9"
    assert encode_close_payload(3000, "é") == b"\x0b\xb8\xc3\xa9"
    assert encode_close_payload(None) == b""


# ----------------------------------------------------- WebSocketFrame fields
def test_new_frame_fields():
    frame = WebSocketFrame({"max_received_frame_size": 1234})
    assert frame.close_status == -1
    assert frame.protocol_error is False
    assert frame.frame_too_large is False
    assert frame.invalid_close_frame_length is False
    assert frame.max_received_frame_size == 1234
    assert frame.parse_state == WebSocketFrame.DECODE_HEADER == 1
    assert WebSocketFrame.COMPLETE == 6
    assert frame.rsv1 is frame.rsv2 is frame.rsv3 is False


def test_add_data_whole_unmasked_frame():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.TEXT, b"hello")) is True
    assert frame.opcode == 1
    assert frame.fin is True
    assert frame.mask is False
    assert frame.length == 5
    assert frame.binary_payload == b"hello"
    assert frame.parse_state == WebSocketFrame.COMPLETE
    assert not (frame.protocol_error or frame.frame_too_large)


def test_add_data_unmasks_payload():
    data = encode_header(Opcode.BINARY, 4, fin=False, mask=KEY) + apply_mask(b"\x00\x01\x02\x03", KEY)
    frame = WebSocketFrame({})
    assert frame.add_data(data) is True
    assert frame.mask is True
    assert frame.fin is False
    assert frame.opcode == 2
    assert frame.binary_payload == b"\x00\x01\x02\x03"


def test_add_data_reads_rsv_bits():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.BINARY, b"x", rsv=5))
    assert (frame.rsv1, frame.rsv2, frame.rsv3) == (True, False, True)


@pytest.mark.parametrize("length", [0, 10, 125, 126, 300, 65535, 65536])
@pytest.mark.parametrize("masked", [False, True])
def test_add_data_byte_by_byte(length, masked):
    payload = bytes((i * 13) & 0xFF for i in range(length))
    if masked:
        data = encode_header(Opcode.BINARY, length, mask=KEY) + apply_mask(payload, KEY)
    else:
        data = encode_frame(Opcode.BINARY, payload)
    frame = WebSocketFrame({"max_received_frame_size": 1 << 20})
    if length > 1000:
        # Feed the header byte by byte, then the payload in two pieces.
        header_size = len(data) - length
        results = [frame.add_data(data[i:i + 1]) for i in range(header_size)]
        results.append(frame.add_data(data[header_size:header_size + length // 2]))
        results.append(frame.add_data(data[header_size + length // 2:]))
    else:
        results = [frame.add_data(data[i:i + 1]) for i in range(len(data))]
    assert results[-1] is True
    assert not any(results[:-1])
    assert frame.binary_payload == payload
    assert frame.length == length
    assert frame.mask is masked


def test_add_data_parse_states_while_waiting():
    data = encode_header(Opcode.BINARY, 300, mask=KEY) + bytes(300)
    frame = WebSocketFrame({})
    assert frame.add_data(data[:2]) is False
    assert frame.parse_state == WebSocketFrame.WAITING_FOR_16_BIT_LENGTH
    assert frame.add_data(data[2:4]) is False
    assert frame.parse_state == WebSocketFrame.WAITING_FOR_MASK_KEY
    assert frame.add_data(data[4:8]) is False
    assert frame.parse_state == WebSocketFrame.WAITING_FOR_PAYLOAD
    assert frame.add_data(data[8:]) is True
    assert frame.parse_state == WebSocketFrame.COMPLETE

    frame = WebSocketFrame({"max_received_frame_size": 1 << 20})
    assert frame.add_data(encode_header(Opcode.BINARY, 70000)[:2]) is False
    assert frame.parse_state == WebSocketFrame.WAITING_FOR_64_BIT_LENGTH


def test_add_data_keeps_bytes_of_the_next_frame():
    frame = WebSocketFrame({})
    second = encode_frame(Opcode.PING, b"p")
    assert frame.add_data(encode_frame(Opcode.TEXT, b"one") + second)
    assert frame.binary_payload == b"one"
    assert frame.leftover == second


# ----------------------------------------------------- control-frame rules
def test_control_frame_longer_than_125_is_a_protocol_error():
    frame = WebSocketFrame({})
    # Only the first two bytes are needed to see the problem.
    assert frame.add_data(encode_header(Opcode.PING, 126)) is True
    assert frame.protocol_error is True
    assert frame.drop_reason == "Illegal control frame longer than 125 bytes."


def test_control_frame_of_125_bytes_is_fine():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.PONG, b"x" * 125)) is True
    assert frame.protocol_error is False
    assert frame.binary_payload == b"x" * 125


@pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
def test_fragmented_control_frame_is_a_protocol_error(opcode):
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(opcode, b"", fin=False)) is True
    assert frame.protocol_error is True
    assert frame.drop_reason == "Control frames must not be fragmented."


def test_64_bit_length_with_high_word_set_is_a_protocol_error():
    # Reference §6: a 64-bit length must have a zero high word.
    data = bytes((0x82, 127)) + struct.pack("!Q", 1 << 32)
    frame = WebSocketFrame({"max_received_frame_size": 1 << 40})
    assert frame.add_data(data) is True
    assert frame.protocol_error is True
    assert frame.drop_reason == "Unsupported 64-bit length frame received"


# ------------------------------------------------------------ close frames
def test_close_status_parsing():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.CLOSE, b"\x03\xe9going away"))
    assert frame.close_status == 1001
    assert frame.binary_payload == b"going away"
    assert frame.length == 12
    assert frame.invalid_close_frame_length is False


def test_close_status_parsing_masked():
    body = b"\x0f\xa0ok"
    frame = WebSocketFrame({})
    assert frame.add_data(encode_header(Opcode.CLOSE, len(body), mask=KEY) + apply_mask(body, KEY))
    assert frame.close_status == 4000
    assert frame.binary_payload == b"ok"


def test_empty_close_frame_has_no_status():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.CLOSE)) is True
    assert frame.close_status == -1
    assert frame.invalid_close_frame_length is False
    assert frame.length == 0


def test_one_byte_close_payload_is_invalid_close_frame_length():
    frame = WebSocketFrame({})
    assert frame.add_data(encode_frame(Opcode.CLOSE, b"\x03")) is True
    assert frame.invalid_close_frame_length is True
    assert frame.binary_payload == b""
    assert frame.close_status == -1


# -------------------------------------------------------- frame_too_large
def test_frame_too_large():
    frame = WebSocketFrame({"max_received_frame_size": 10})
    assert frame.add_data(encode_frame(Opcode.BINARY, b"x" * 11)) is True
    assert frame.frame_too_large is True
    assert frame.protocol_error is False
    assert frame.drop_reason == "Frame size of 11 bytes exceeds maximum accepted frame size"


def test_frame_at_the_size_limit_is_accepted():
    frame = WebSocketFrame({"max_received_frame_size": 10})
    assert frame.add_data(encode_frame(Opcode.BINARY, b"x" * 10)) is True
    assert frame.frame_too_large is False
    assert frame.binary_payload == b"x" * 10


def test_frame_too_large_with_64_bit_length():
    frame = WebSocketFrame({"max_received_frame_size": 0x10000})
    assert frame.add_data(encode_header(Opcode.BINARY, 0x10001)) is True
    assert frame.frame_too_large is True
    assert frame.drop_reason == "Frame size of 65537 bytes exceeds maximum accepted frame size"


# ------------------------------------------------------------- serializing
def test_to_bytes_unmasked():
    frame = WebSocketFrame(opcode=Opcode.TEXT, binary_payload=b"hi")
    assert frame.to_bytes() == b"\x81\x02hi"
    assert frame.to_buffer() == b"\x81\x02hi"


def test_to_bytes_not_fin_and_rsv():
    frame = WebSocketFrame(opcode=Opcode.BINARY, binary_payload=b"ab", fin=False)
    frame.rsv2 = True
    assert frame.to_bytes() == b"\x22\x02ab"


def test_to_bytes_null_mask():
    frame = WebSocketFrame(opcode=Opcode.BINARY, binary_payload=b"\x01\x02\x03")
    frame.mask = True
    assert frame.to_bytes(null_mask=True) == b"\x82\x83\x00\x00\x00\x00\x01\x02\x03"


def test_to_bytes_random_mask_round_trips():
    payload = bytes(range(200))
    frame = WebSocketFrame(opcode=Opcode.BINARY, binary_payload=payload)
    frame.mask = True
    data = frame.to_bytes()
    b0, length, key, body = split_frame(data)
    assert (b0, length) == (0x82, 200)
    assert apply_mask(body, key) == payload
    parsed = WebSocketFrame({})
    assert parsed.add_data(data)
    assert parsed.binary_payload == payload and parsed.mask is True


def test_to_bytes_close_frame_prepends_status():
    frame = WebSocketFrame(opcode=Opcode.CLOSE, close_status=1000, binary_payload=b"bye")
    assert frame.to_bytes() == b"\x88\x05\x03\xe8bye"
    assert frame.length == 5


@pytest.mark.parametrize("length", [125, 126, 65535, 65536])
def test_to_bytes_length_encodings(length):
    frame = WebSocketFrame(opcode=Opcode.BINARY, binary_payload=b"z" * length)
    data = frame.to_bytes()
    assert data[:len(data) - length] == encode_header(Opcode.BINARY, length)
    assert frame.length == length


# ----------------------------------------------------------------- __str__
def test_str_of_parsed_frame():
    frame = WebSocketFrame({})
    frame.add_data(encode_frame(Opcode.TEXT, b"hi"))
    assert str(frame) == "Opcode: 1, fin: true, length: 2, hasPayload: true, masked: false"


def test_str_of_masked_fragment():
    frame = WebSocketFrame({})
    frame.add_data(encode_header(Opcode.BINARY, 3, fin=False, mask=KEY) + apply_mask(b"abc", KEY))
    assert str(frame) == "Opcode: 2, fin: false, length: 3, hasPayload: true, masked: true"


def test_str_of_frame_without_payload():
    frame = WebSocketFrame(opcode=Opcode.PING)
    assert str(frame) == "Opcode: 9, fin: true, length: 0, hasPayload: false, masked: false"
