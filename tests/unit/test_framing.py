"""The pure framing module: outgoing messages into frames, frame headers
decoded, fed and checked as bytes (no sockets)."""

from __future__ import annotations

import pytest

from wsframework.protocol.frame import WebSocketFrame
from wsframework.protocol.framing import (SMALL_BINARY_HEADS, SMALL_TEXT_HEADS, Opcode, Side,
                                 decode_header, encode_frame, encode_header, encode_message,
                                 header_size)


def frames_of(data: bytes | list) -> list[WebSocketFrame]:
    """Every frame in ``data`` (one buffer or the pieces of one), decoded."""
    buf = b"".join(data) if isinstance(data, list) else data
    frames = []
    while buf:
        frame = WebSocketFrame({"max_received_frame_size": 1 << 30})
        assert frame.add_data(buf)
        assert not frame.protocol_error, frame.drop_reason
        frames.append(frame)
        buf = frame.leftover
    return frames


class Rsv1Upper:
    """A stand-in extension: upper-cases the payload and claims RSV1."""

    def encode(self, payload):
        return 0b100, bytes(payload).upper()


@pytest.mark.parametrize("n", [0, 1, 125])
def test_small_frames_use_the_precomputed_heads(n):
    payload = b"x" * n
    assert encode_message(Opcode.TEXT, payload) == SMALL_TEXT_HEADS[n] + payload
    assert encode_message(Opcode.BINARY, payload) == SMALL_BINARY_HEADS[n] + payload
    assert encode_message(Opcode.TEXT, payload) == encode_frame(Opcode.TEXT, payload)


def test_small_frames_take_any_bytes_like_payload():
    for payload in (bytearray(b"abc"), memoryview(b"abc")):
        data = encode_message(Opcode.BINARY, payload)
        assert type(data) is bytes and data == b"\x82\x03abc"


@pytest.mark.parametrize("n", [126, 0xFFFF, 0x10000])
def test_larger_frames_get_the_minimal_length_encoding(n):
    data = encode_message(Opcode.BINARY, b"\x00" * n)
    assert data[:len(encode_header(Opcode.BINARY, n))] == encode_header(Opcode.BINARY, n)
    (frame,) = frames_of(data)
    assert frame.fin and frame.opcode == Opcode.BINARY and frame.length == n


def test_masked_messages_round_trip_with_a_fresh_key_each():
    first = encode_message(Opcode.TEXT, b"hello", mask=True)
    second = encode_message(Opcode.TEXT, b"hello", mask=True)
    assert first[1] & 0x80 and first[2:6] != second[2:6]
    (frame,) = frames_of(first)
    assert frame.mask and frame.binary_payload == b"hello"


def test_an_unmasked_fragmented_message_is_pieces_for_sendmsg():
    payload = bytes(range(10))
    pieces = encode_message(Opcode.BINARY, payload, fragment_size=4)
    assert isinstance(pieces, list) and len(pieces) == 6       # header, slice, ...
    assert [bytes(p) for p in pieces[1::2]] == [payload[:4], payload[4:8], payload[8:]]
    frames = frames_of(pieces)
    assert [(f.opcode, f.fin) for f in frames] == [(Opcode.BINARY, False),
                                                   (Opcode.CONTINUATION, False),
                                                   (Opcode.CONTINUATION, True)]
    assert b"".join(f.binary_payload for f in frames) == payload


def test_a_masked_fragmented_message_is_whole_masked_frames():
    pieces = encode_message(Opcode.TEXT, b"abcdefghij", mask=True, fragment_size=4)
    assert len(pieces) == 3 and all(piece[1] & 0x80 for piece in pieces)
    frames = frames_of(pieces)
    assert b"".join(f.binary_payload for f in frames) == b"abcdefghij"
    assert [f.opcode for f in frames] == [Opcode.TEXT, 0, 0]


def test_no_fragment_size_or_a_fitting_message_is_one_frame():
    assert isinstance(encode_message(Opcode.BINARY, b"x" * 5000), bytes)
    assert isinstance(encode_message(Opcode.BINARY, b"x" * 4, fragment_size=4), bytes)


def test_extensions_transform_the_payload_and_set_rsv_on_the_first_frame_only():
    frames = frames_of(encode_message(Opcode.TEXT, b"abcdef", fragment_size=4,
                                      extensions=[Rsv1Upper()]))
    assert b"".join(f.binary_payload for f in frames) == b"ABCDEF"
    assert [f.rsv1 for f in frames] == [True, False]
    (small,) = frames_of(encode_message(Opcode.TEXT, b"abc", extensions=[Rsv1Upper()]))
    assert small.rsv1 and small.binary_payload == b"ABC"


def test_decode_header_reads_every_field():
    for b0 in range(256):
        for b1 in (0x00, 0x05, 0x7D, 0x7E, 0x7F, 0x80, 0x85, 0xFE, 0xFF):
            fin, rsv, opcode, masked, length = decode_header(b0, b1)
            assert fin == bool(b0 & 0x80) and rsv == (b0 >> 4) & 7 and opcode == b0 & 0xF
            assert masked == bool(b1 & 0x80) and length == b1 & 0x7F


@pytest.mark.parametrize("b1, size", [(0x05, 2), (0x85, 6), (0x7E, 4), (0xFE, 8),
                                      (0x7F, 10), (0xFF, 14)])
def test_header_size_counts_extended_length_and_key(b1, size):
    assert header_size(b1) == size


def test_encoded_headers_decode_back():
    for opcode in (Opcode.TEXT, Opcode.CONTINUATION, Opcode.PING):
        for fin in (True, False):
            head = encode_header(opcode, 10, fin=fin, rsv=0b010)
            assert decode_header(head[0], head[1]) == (fin, 0b010, opcode, False, 10)


def test_sides_carry_the_masking_rules():
    assert Side.CLIENT.masks_outgoing and not Side.CLIENT.expects_masked
    assert Side.SERVER.expects_masked and not Side.SERVER.masks_outgoing
