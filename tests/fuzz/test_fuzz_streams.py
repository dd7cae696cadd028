"""Property-based fuzz tests of :class:`wsframework.protocol.streams.BufferedReader`,
the reader every parser reads from, against a model that is just the bytes
and a position: any sequence of reads over any chunking returns exactly
the model's bytes, a read that fails (end of stream, separator not within
the limit) consumes nothing, and ``read_until`` finds a separator split
across receives.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wsframework.protocol.streams import BufferedReader

from ..fuzzing import chunked, fuzz

SEPARATORS = st.sampled_from([b"\r\n\r\n", b"\n", b"ab"])
_PIECES = st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b"\r\n\r\n", b"xyz"]),
                   max_size=30).map(b"".join)


@st.composite
def streams(draw) -> bytes:
    """Short streams rich in separators, or long ones (past the reader's
    64 KiB compaction and direct-receive sizes) made by repetition."""
    if draw(st.integers(0, 4)) < 4:
        return draw(_PIECES)
    seed = draw(st.binary(min_size=1, max_size=8))
    return seed * draw(st.integers(1, 140_000 // len(seed)))


OPERATIONS = st.lists(st.one_of(
    st.tuples(st.sampled_from(["exact", "some", "into", "peek", "take", "skip"]),
              st.one_of(st.integers(0, 10), st.integers(0, 140_000))),
    st.tuples(st.just("until"), SEPARATORS, st.integers(1, 100)),
), max_size=12)


@fuzz()
@given(stream=streams(), operations=OPERATIONS, data=st.data())
def test_reads_follow_the_model(stream, operations, data):
    """Every read returns the next bytes of the stream; EOFError and the
    ValueError of ``read_until`` leave the position where it was."""
    reader = BufferedReader.from_chunks(data.draw(chunked(stream, max_cuts=20)))
    position = 0
    for operation in operations:
        kind, rest = operation[0], operation[1:]
        left = stream[position:]
        if kind == "skip":
            count = min(rest[0], reader.buffered)
            reader.skip(count)
            position += count
            continue
        if kind == "until":
            separator, limit = rest
            index = left.find(separator)
            try:
                got = reader.read_until(separator, limit)
            except ValueError:
                assert index < 0 or index + len(separator) > limit
                assert len(left) >= limit or 0 <= index
                continue
            except EOFError:
                assert index < 0 and len(left) < limit
                continue
            assert got == left[:index + len(separator)] and len(got) <= limit
            position += len(got)
            continue
        count = rest[0]
        try:
            if kind == "into":
                buffer = bytearray(max(count, 1))
                written = reader.read_into(memoryview(buffer))
                got = bytes(buffer[:written])
            elif kind == "exact":
                got = reader.read_exact(count)
            elif kind == "take":
                got = bytes(reader.take(count))
            elif kind == "peek":
                got = reader.peek(count)
            else:
                got = reader.read_some(max(count, 1))
        except EOFError:
            if kind in ("exact", "take", "peek"):
                assert len(left) < count
            else:
                assert not left
            continue
        if kind in ("exact", "take", "peek"):
            assert got == left[:count]
        else:
            assert 1 <= len(got) <= max(count, 1) and got == left[:len(got)]
        if kind != "peek":
            position += len(got)
        assert reader.buffered <= len(stream) - position
    try:
        assert reader.read_exact(len(stream) - position) == stream[position:]
    except EOFError:
        raise AssertionError("bytes were lost") from None
