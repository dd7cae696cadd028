"""Unit tests for :mod:`wsframework.masking` (RFC 6455 §5.3): ``apply_mask``
against a byte-by-byte reference, and ``rotate_mask`` for slices."""

from __future__ import annotations

import os

import pytest

from wsframework.masking import apply_mask, rotate_mask

KEY = b"\x12\x34\xab\xcd"


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_empty_payload():
    assert apply_mask(b"", KEY) == b""


@pytest.mark.parametrize("n", range(1, 10))
def test_short_payloads(n):
    data = bytes(range(0xF0, 0xF0 + n))
    result = apply_mask(data, KEY)
    assert isinstance(result, bytes)
    assert len(result) == n
    assert result == reference_mask(data, KEY)


def test_known_vector():
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert apply_mask(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"


@pytest.mark.parametrize("n", [4096, 65537, 1 << 20])
def test_long_payloads(n):
    data = os.urandom(n)
    assert apply_mask(data, KEY) == reference_mask(data, KEY)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 1000, 70001])
def test_masking_is_an_involution(n):
    data = os.urandom(n)
    key = os.urandom(4)
    assert apply_mask(apply_mask(data, key), key) == data


def test_zero_key_is_identity():
    data = b"\x00\xff" * 50 + b"\x00"
    assert apply_mask(data, b"\x00\x00\x00\x00") == data


def test_leading_and_trailing_zero_bytes_are_kept():
    data = b"\x00\x00\x00\x01\x00\x00"
    masked = apply_mask(data, b"\x00\x00\x00\x00")
    assert masked == data and len(masked) == 6
    assert apply_mask(b"\x12", b"\x12\x00\x00\x00") == b"\x00"


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_accepts_bytearray_and_memoryview(kind):
    data = bytes(range(37))
    assert apply_mask(kind(data), KEY) == reference_mask(data, KEY)


@pytest.mark.parametrize("offset, expected", [
    (0, KEY),
    (1, b"\x34\xab\xcd\x12"),
    (2, b"\xab\xcd\x12\x34"),
    (3, b"\xcd\x12\x34\xab"),
    (4, KEY),
    (5, b"\x34\xab\xcd\x12"),
    (10, b"\xab\xcd\x12\x34"),
])
def test_rotate_mask(offset, expected):
    assert rotate_mask(KEY, offset) == expected


@pytest.mark.parametrize("offset", range(0, 13))
def test_rotated_mask_masks_a_slice(offset):
    data = os.urandom(40)
    whole = apply_mask(data, KEY)
    assert apply_mask(data[offset:], rotate_mask(KEY, offset)) == whole[offset:]
