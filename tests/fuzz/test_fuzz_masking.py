"""Property-based fuzz tests of payload masking (``wsframework.protocol.masking``,
RFC 6455 §5.3): the C accelerator and the pure-Python fallback agree with
a byte-by-byte reference for any key, length and input type; masking twice
is the identity; and a payload masked piece by piece with
:func:`rotate_mask` at each piece's offset equals the payload masked whole
(how the parser unmasks a payload that arrives in chunks)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wsframework.protocol.masking import py_apply_mask, rotate_mask

from ..fuzzing import fuzz, repeated_bytes

IMPLEMENTATIONS = {"python": py_apply_mask}
try:
    from wsframework.protocol._speedups import apply_mask as c_apply_mask
    IMPLEMENTATIONS["c"] = c_apply_mask
except ImportError:  # test_masking.py says whether the accelerator must exist
    pass

KEYS = st.binary(min_size=4, max_size=4)
#: Lengths 0..300, or around the C loop's 8-byte steps and the Python
#: version's 4096-byte switch, up to 64 KiB + 1.
PAYLOADS = repeated_bytes()


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@fuzz()
@given(data=PAYLOADS, key=KEYS, kind=st.sampled_from([bytes, bytearray, memoryview]),
       offset=st.integers(0, 11))
def test_implementations_agree_with_the_reference(data, key, kind, offset):
    """Both implementations give ``bytes`` equal to the byte-by-byte XOR,
    for bytes, bytearray and memoryview input, also for a slice that
    starts at an unaligned address."""
    expected = reference_mask(data[offset:], key)
    for name, apply_mask in IMPLEMENTATIONS.items():
        source = kind(data)[offset:]
        result = apply_mask(source, key)
        assert type(result) is bytes, name
        assert result == expected, name


@fuzz()
@given(data=PAYLOADS, key=KEYS)
def test_masking_twice_is_the_identity(data, key):
    """``apply_mask(apply_mask(data, key), key) == data``, with either
    implementation for either step."""
    for first in IMPLEMENTATIONS.values():
        for second in IMPLEMENTATIONS.values():
            assert second(first(data, key), key) == data


@fuzz()
@given(data=PAYLOADS, key=KEYS, cuts=st.lists(st.integers(0, 70000), max_size=8))
def test_masking_piece_by_piece_with_rotated_keys(data, key, cuts):
    """Cut anywhere, each piece masked with ``rotate_mask(key, start)``
    joins into the payload masked in one go."""
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    for apply_mask in IMPLEMENTATIONS.values():
        pieces = [apply_mask(data[a:b], rotate_mask(key, a)) for a, b in zip(bounds, bounds[1:])]
        assert b"".join(pieces) == apply_mask(data, key)


@fuzz()
@given(data=st.binary(max_size=20), key=st.binary(max_size=9).filter(lambda k: len(k) != 4))
def test_a_key_that_is_not_4_bytes_is_refused(data, key):
    """Both implementations raise ValueError for any other key length."""
    for name, apply_mask in IMPLEMENTATIONS.items():
        try:
            apply_mask(data, key)
        except ValueError:
            continue
        raise AssertionError(f"{name} accepted a {len(key)}-byte key")
