"""Unit tests for :mod:`wsframework.protocol.masking` (RFC 6455 §5.3): ``apply_mask``
against a byte-by-byte reference, and ``rotate_mask`` for slices.  Every
test runs against both implementations: the C accelerator and the
pure-Python fallback."""

from __future__ import annotations

import os

import pytest

from wsframework.protocol import masking
from wsframework.protocol.masking import py_apply_mask, rotate_mask

IMPLEMENTATIONS = [pytest.param(py_apply_mask, id="python")]
try:
    from wsframework.protocol._speedups import apply_mask as c_apply_mask
    IMPLEMENTATIONS.append(pytest.param(c_apply_mask, id="c"))
except ImportError:  # test_the_accelerator_is_built says whether that is expected
    pass


@pytest.fixture(params=IMPLEMENTATIONS)
def apply_mask(request):
    return request.param


def test_the_accelerator_is_built_and_used():
    # setup.py builds it wherever a compiler exists (CI has one); the
    # environment variable forces the fallback.
    if os.environ.get("WSFRAMEWORK_NO_SPEEDUPS"):
        assert masking.apply_mask is py_apply_mask and not masking.SPEEDUPS
    else:
        assert masking.SPEEDUPS and masking.apply_mask is c_apply_mask


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 95, 96, 97,
                               4095, 4096, 4097, 100003])
def test_implementations_agree(n):
    data = os.urandom(n)
    results = {impl.values[0](data, KEY) for impl in IMPLEMENTATIONS}
    assert results == {reference_mask(data, KEY)}


def test_every_length_and_alignment_around_the_32_byte_steps(apply_mask):
    # The C loop goes 32 bytes a step, then 8, then 1: each length up to
    # three steps, starting at each byte of a word.
    data = os.urandom(112)
    for start in range(8):
        for n in range(0, 104):
            piece = memoryview(data)[start:start + n]
            assert apply_mask(piece, KEY) == reference_mask(bytes(piece), KEY), (start, n)


def test_bad_mask_length(apply_mask):
    with pytest.raises((ValueError, TypeError)):
        apply_mask(b"abc", b"\x01\x02")

KEY = b"\x12\x34\xab\xcd"


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_empty_payload(apply_mask):
    assert apply_mask(b"", KEY) == b""


@pytest.mark.parametrize("n", range(1, 10))
def test_short_payloads(n, apply_mask):
    data = bytes(range(0xF0, 0xF0 + n))
    result = apply_mask(data, KEY)
    assert isinstance(result, bytes)
    assert len(result) == n
    assert result == reference_mask(data, KEY)


def test_known_vector(apply_mask):
    # RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
    assert apply_mask(b"Hello", b"\x37\xfa\x21\x3d") == b"\x7f\x9f\x4d\x51\x58"


@pytest.mark.parametrize("n", [4096, 65537, 1 << 20])
def test_long_payloads(n, apply_mask):
    data = os.urandom(n)
    assert apply_mask(data, KEY) == reference_mask(data, KEY)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 1000, 70001])
def test_masking_is_an_involution(n, apply_mask):
    data = os.urandom(n)
    key = os.urandom(4)
    assert apply_mask(apply_mask(data, key), key) == data


def test_zero_key_is_identity(apply_mask):
    data = b"\x00\xff" * 50 + b"\x00"
    assert apply_mask(data, b"\x00\x00\x00\x00") == data


def test_leading_and_trailing_zero_bytes_are_kept(apply_mask):
    data = b"\x00\x00\x00\x01\x00\x00"
    masked = apply_mask(data, b"\x00\x00\x00\x00")
    assert masked == data and len(masked) == 6
    assert apply_mask(b"\x12", b"\x12\x00\x00\x00") == b"\x00"


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_accepts_bytearray_and_memoryview(kind, apply_mask):
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
def test_rotated_mask_masks_a_slice(offset, apply_mask):
    data = os.urandom(40)
    whole = apply_mask(data, KEY)
    assert apply_mask(data[offset:], rotate_mask(KEY, offset)) == whole[offset:]


# -- a payload received in pieces: mask_in_place and payload_buffer ----------

IN_PLACE = [pytest.param((masking.py_mask_in_place, masking.py_payload_buffer), id="python")]
try:
    from wsframework.protocol import _speedups
    IN_PLACE.append(pytest.param((_speedups.mask_in_place, _speedups.payload_buffer), id="c"))
except ImportError:  # not built: test_the_accelerator_is_built_and_used fails
    _speedups = None


@pytest.fixture(params=IN_PLACE)
def in_place(request):
    return request.param


@pytest.mark.parametrize("n", [2, 3, 8, 9, 4097, 100003])
def test_a_payload_unmasked_piece_by_piece_equals_one_unmask(n, in_place):
    # Pieces of every alignment, each unmasked where it lands.
    mask_in_place, payload_buffer = in_place
    data = os.urandom(n)
    masked = py_apply_mask(data, KEY)
    payload, view = payload_buffer(n)
    start = 0
    for size in [1, 2, 3, 5, 7, 31, 33, 4096, n]:
        end = min(n, start + size)
        view[start:end] = masked[start:end]
        mask_in_place(view[start:end], KEY, start)
        start = end
        if start == n:
            break
    view[start:] = masked[start:]
    mask_in_place(view[start:], KEY, start)
    view.release()
    assert bytes(payload) == data


def test_the_c_payload_buffer_is_the_bytes_the_message_carries():
    # bytes() of it is no copy: one fresh buffer per large message.
    payload, view = _speedups.payload_buffer(1 << 20)
    assert type(payload) is bytes and len(payload) == 1 << 20
    assert not view.readonly and view.nbytes == 1 << 20
    view[:4] = b"abcd"
    view.release()
    assert bytes(payload) is payload and payload[:4] == b"abcd"


@pytest.mark.parametrize("n", [0, 1, -1])
def test_the_c_payload_buffer_refuses_the_sizes_python_shares(n):
    with pytest.raises(ValueError):
        _speedups.payload_buffer(n)


def test_the_python_payload_buffer_gives_a_copy_as_bytes():
    buf, view = masking.py_payload_buffer(3)
    view[:] = b"xyz"
    assert bytes(buf) == b"xyz" and type(bytes(buf)) is bytes


def test_mask_in_place_needs_a_writable_buffer_and_a_4_byte_mask(in_place):
    mask_in_place, _ = in_place
    with pytest.raises((TypeError, ValueError)):
        mask_in_place(bytearray(8), b"abc", 0)
    if mask_in_place is not masking.py_mask_in_place:
        with pytest.raises(TypeError):
            mask_in_place(b"readonly", KEY, 0)
