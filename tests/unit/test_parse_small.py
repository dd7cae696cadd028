"""``parse_small``: the receive path's one-step parse of a whole small text
or binary frame (header checks, unmask, UTF-8 decode).  The C version
(``wsframework.protocol._speedups.parse_small``) and the pure-Python one
(``wsframework.protocol.parser.py_parse_small``) must agree on every input: what
they take, and what they leave (None) to the general parser."""

from __future__ import annotations

import os
import random

import pytest

from wsframework.protocol import parser
from wsframework.protocol.frame import encode_frame
from wsframework.protocol.masking import SPEEDUPS
from wsframework.protocol.parser import py_parse_small

IMPLEMENTATIONS = [pytest.param(py_parse_small, id="python")]
try:
    from wsframework.protocol._speedups import parse_small as c_parse_small
    IMPLEMENTATIONS.append(pytest.param(c_parse_small, id="c"))
except ImportError:  # tests/unit/test_masking.py says whether the accelerator should be built
    c_parse_small = None


@pytest.fixture(params=IMPLEMENTATIONS)
def parse_small(request):
    return request.param


def test_the_parser_uses_the_accelerator_when_built():
    if os.environ.get("WSFRAMEWORK_NO_SPEEDUPS") or not SPEEDUPS:
        assert parser.parse_small is py_parse_small
    else:
        assert parser.parse_small is c_parse_small


@pytest.mark.parametrize("opcode,payload,expected", [
    (1, b"hello", "hello"), (1, "h\u00e9\u20ac\U0001f600".encode(), "h\u00e9\u20ac\U0001f600"),
    (1, b"", ""), (2, b"\x00\xff" * 62 + b"z", b"\x00\xff" * 62 + b"z"), (2, b"", b""),
])
def test_masked_and_unmasked_frames(parse_small, opcode, payload, expected):
    for masked in (True, False):
        frame = encode_frame(opcode, payload, mask=masked)
        buf = bytearray(b"xyz" + frame + b"\x81")      # bytes before and after it
        got = parse_small(buf, 3, masked, 1 << 20)
        assert got == (expected, 3 + len(frame))
        assert type(got[0]) is type(expected)


@pytest.mark.parametrize("frame", [
    encode_frame(1, b"x" * 126, mask=True),              # 16-bit length
    encode_frame(1, b"abc", mask=True, fin=False),       # a fragment
    encode_frame(0, b"abc", mask=True),                  # a continuation
    encode_frame(9, b"abc", mask=True),                  # control frames
    encode_frame(8, b"\x03\xe8", mask=True),
    encode_frame(1, b"abc", mask=True, rsv=4),           # RSV bits
    encode_frame(1, b"\xed\xa0\x80", mask=True),         # a surrogate: invalid UTF-8
    encode_frame(1, b"\xc0\xaf", mask=True),             # overlong
    encode_frame(1, b"abc\xe2\x82", mask=True),          # truncated sequence
    encode_frame(1, b"abc", mask=False),                 # unmasked to a server
    encode_frame(1, b"abcdef", mask=True)[:-1],          # not wholly buffered
    b"\x81",
])
def test_anything_else_is_left_to_the_general_parser(parse_small, frame):
    buf = bytearray(frame)
    assert parse_small(buf, 0, True, 1 << 20) is None


def test_the_limit(parse_small):
    frame = bytearray(encode_frame(2, b"12345", mask=True))
    assert parse_small(frame, 0, True, 4) is None
    assert parse_small(frame, 0, True, 5) == (b"12345", len(frame))


def test_stop_bounds_what_is_looked_at(parse_small):
    """Bytes at and past ``stop`` (stale bytes of a reused receive buffer)
    are not part of the frame."""
    frame = encode_frame(1, b"hello", mask=True)
    buf = bytearray(frame + b"stale bytes")
    assert parse_small(buf, 0, True, 125, len(frame)) == ("hello", len(frame))
    assert parse_small(buf, 0, True, 125, len(frame) - 1) is None
    assert parse_small(buf, 0, True, 125, 1) is None
    # A stop past the end is the end.
    assert parse_small(bytearray(frame), 0, True, 125, 1 << 20) == ("hello", len(frame))


def test_implementations_agree_on_random_bytes():
    assert c_parse_small is not None, "the C accelerator is not built (see test_masking.py)"
    rng = random.Random(20)
    for _ in range(20000):
        size = rng.randrange(0, 24)
        head = bytes([rng.choice([0x81, 0x82, 0x88, 0x01, 0x91]),
                      rng.choice([0x80, 0]) | rng.randrange(0, min(size + 1, 127))])
        buf = bytearray(bytes(rng.randrange(3)) + head + rng.randbytes(size))
        pos = len(buf) - size - 2
        for masked in (True, False):
            limit = rng.choice([125, 3, 0])
            assert py_parse_small(buf, pos, masked, limit) == c_parse_small(buf, pos, masked, limit)
            stop = rng.randrange(pos, len(buf) + 2)
            assert (py_parse_small(buf, pos, masked, limit, stop)
                    == c_parse_small(buf, pos, masked, limit, stop))
