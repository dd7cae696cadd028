"""Unit tests for :class:`wsframework.protocol.utf8.Utf8Decoder`: incremental UTF-8
validation that accepts valid text split anywhere and rejects each class of
invalid input at the first byte that makes it invalid (RFC 6455 §8.1)."""

from __future__ import annotations

import pytest

from wsframework.exceptions import InvalidUTF8, ProtocolError
from wsframework.protocol.utf8 import Utf8Decoder, decode_utf8

SAMPLE = "a\u00e9\u20ac\U00010348z \u65e5\u672c \U0010ffff\ud7ff\ue000"


def decode_in_pieces(data: bytes, cuts) -> str:
    decoder = Utf8Decoder()
    start = 0
    for cut in list(cuts) + [len(data)]:
        decoder.feed(data[start:cut])
        start = cut
    return decoder.finish()


# ------------------------------------------------------------------- valid
def test_whole_text():
    assert decode_in_pieces(SAMPLE.encode(), []) == SAMPLE


@pytest.mark.parametrize("cut", range(1, len(SAMPLE.encode())))
def test_valid_text_split_at_every_position(cut):
    assert decode_in_pieces(SAMPLE.encode(), [cut]) == SAMPLE


def test_valid_text_one_byte_at_a_time():
    data = SAMPLE.encode()
    assert decode_in_pieces(data, range(1, len(data))) == SAMPLE


@pytest.mark.parametrize("text", ["\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000",
                                  "\U0010ffff", "\ud7ff", "\ue000"])
def test_boundary_code_points(text):
    data = text.encode()
    assert decode_in_pieces(data, range(1, len(data))) == text


def test_empty_message_and_empty_feeds():
    decoder = Utf8Decoder()
    assert decoder.finish() == ""
    decoder.feed(b"")
    decoder.feed(b"ab")
    decoder.feed(b"")
    assert decoder.finish() == "ab"


def test_decoder_is_reusable_after_finish():
    decoder = Utf8Decoder()
    decoder.feed("first €".encode())
    assert decoder.finish() == "first €"
    decoder.feed(b"second")
    assert decoder.finish() == "second"


def test_error_type():
    error = InvalidUTF8()
    assert isinstance(error, ProtocolError)
    assert error.code == 1007
    assert error.reason == "Invalid UTF-8 Data Received"


# ----------------------------------------------------------------- invalid
INVALID = {
    # overlong encodings
    "overlong 2-byte slash": b"\xc0\xaf",
    "overlong 2-byte C1": b"\xc1\xbf",
    "overlong 3-byte": b"\xe0\x80\xaf",
    "overlong 3-byte max": b"\xe0\x9f\xbf",
    "overlong 4-byte": b"\xf0\x80\x80\xaf",
    "overlong 4-byte max": b"\xf0\x8f\xbf\xbf",
    # UTF-16 surrogates
    "high surrogate": b"\xed\xa0\x80",
    "low surrogate": b"\xed\xbf\xbf",
    "surrogate pair": b"\xed\xa0\x80\xed\xb0\x80",
    # beyond U+10FFFF
    "U+110000": b"\xf4\x90\x80\x80",
    "F5 lead": b"\xf5\x80\x80\x80",
    "5-byte form": b"\xf8\x88\x80\x80\x80",
    "6-byte form": b"\xfc\x84\x80\x80\x80\x80",
    # bytes that never appear
    "FE": b"\xfe",
    "FF": b"\xff",
    # misplaced continuation bytes / broken sequences
    "lone continuation": b"\x80",
    "continuation run": b"\x80\xbf\x80",
    "lead then ASCII": b"\xe2\x82(",
    "two leads": b"\xc3\xc3",
}


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_invalid_sequence_raises_on_feed(data):
    decoder = Utf8Decoder()
    decoder.feed(b"valid prefix ")
    with pytest.raises(InvalidUTF8):
        decoder.feed(data)


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_invalid_sequence_raises_one_byte_at_a_time(data):
    decoder = Utf8Decoder()
    with pytest.raises(InvalidUTF8):
        for i in range(len(data)):
            decoder.feed(data[i:i + 1])
        decoder.finish()


def test_decode_utf8_whole_payload():
    assert decode_utf8(SAMPLE.encode()) == SAMPLE
    with pytest.raises(InvalidUTF8):
        decode_utf8(b"\xed\xa0\x80")


@pytest.mark.parametrize("data", [b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"ok\xf4\x8f\xbf"])
def test_truncated_at_end(data):
    decoder = Utf8Decoder()
    decoder.feed(data)            # could still become valid: no error yet
    with pytest.raises(InvalidUTF8):
        decoder.finish()


# --------------------------------------------------------------- fail fast
@pytest.mark.parametrize("valid_prefix, bad_byte", [
    (b"", b"\xc0"),               # C0/C1 can only start an overlong form
    (b"", b"\xc1"),
    (b"", b"\xf5"),               # F5..FF start nothing valid
    (b"", b"\xff"),
    (b"", b"\x80"),
    (b"\xe0", b"\x80"),           # E0 80..9F is overlong
    (b"\xe0", b"\x9f"),
    (b"\xf0", b"\x8f"),           # F0 80..8F is overlong
    (b"\xf4", b"\x90"),           # F4 90.. is above U+10FFFF
    (b"\xed", b"\xa0"),           # ED A0..BF is a surrogate
    (b"\xed", b"\xbf"),
    (b"\xe2\x82", b"A"),          # sequence cut by an ASCII byte
    (b"\xf0\x9f", b"\xf0"),       # sequence cut by another lead
])
def test_fails_at_the_first_impossible_byte(valid_prefix, bad_byte):
    decoder = Utf8Decoder()
    decoder.feed(b"text ")
    for i in range(len(valid_prefix)):
        decoder.feed(valid_prefix[i:i + 1])   # still a possible prefix
    with pytest.raises(InvalidUTF8):
        decoder.feed(bad_byte)


@pytest.mark.parametrize("prefix", [b"\xe0", b"\xe0\xa0", b"\xed", b"\xed\x9f", b"\xf0",
                                    b"\xf0\x90", b"\xf0\x90\x80", b"\xf4", b"\xf4\x8f\xbf"])
def test_valid_prefixes_do_not_raise_early(prefix):
    decoder = Utf8Decoder()
    decoder.feed(prefix)
    with pytest.raises(InvalidUTF8):
        decoder.finish()
