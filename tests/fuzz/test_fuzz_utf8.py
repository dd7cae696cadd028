"""Property-based fuzz tests of UTF-8 validation (``wsframework.protocol.utf8``),
with CPython's own UTF-8 codec as the oracle, alone and inside the frame
parser.

:class:`Utf8Decoder` must accept exactly the valid UTF-8 (RFC 3629: no
overlong forms, no surrogates, nothing above U+10FFFF), however the bytes
are split, and must fail at the first piece after which no continuation
could make the bytes valid — not later (RFC 6455 §8.1, fail fast) and not
earlier.  ``utf8.py`` has no C accelerator; the parser around it masks with
the C or the pure-Python ``apply_mask``, and both are used here.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from wsframework.exceptions import InvalidUTF8, ProtocolError
from wsframework.protocol.frame import encode_header
from wsframework.protocol.masking import apply_mask
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader
from wsframework.protocol.utf8 import Utf8Decoder, decode_utf8

from ..fuzzing import CONT, TEXT, chunked, fuzz, mutated, parser_masking

# Completions that make any valid prefix valid: the second byte of a
# sequence needs 80.., 90.. (after F0) or A0.. (after E0); later ones 80..
_COMPLETIONS = [b""] + [first + b"\x80" * extra for first in (b"\x80", b"\x90", b"\xa0")
                        for extra in range(3)]


def decodes(data: bytes) -> bool:
    """The oracle: whether CPython decodes ``data`` as UTF-8."""
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def is_valid_prefix(data: bytes) -> bool:
    """Whether some bytes could follow ``data`` to make valid UTF-8."""
    return any(decodes(data + tail) for tail in _COMPLETIONS)


#: Bytes at the edges of the UTF-8 tables: ASCII, continuations at both
#: ends, overlong leads (C0, C1, E0 80, F0 80), the surrogate lead ED, the
#: last leads F4 and the never-valid F5..FF.
EDGE_BYTES = st.sampled_from([0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                              0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0,
                              0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFE, 0xFF])


@st.composite
def utf8_candidates(draw) -> bytes:
    """Valid text, valid text mutated, edge-byte soup, or random bytes."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.text(st.characters(codec="utf-8"), max_size=60)).encode()
    if kind == 1:
        text = draw(st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)).encode()
        return draw(mutated(text, max_mutations=2))
    if kind == 2:
        return bytes(draw(st.lists(EDGE_BYTES, max_size=16)))
    return draw(st.binary(max_size=40))


def pieces_of(draw, data: bytes) -> list[bytes]:
    """``data`` in pieces, empty pieces allowed."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@fuzz()
@given(data=utf8_candidates())
@example(data=b"\xed\xa0\x80")                 # a surrogate
@example(data=b"\xf4\x90\x80\x80")             # above U+10FFFF
@example(data=b"\xe0\x9f\xbf")                 # overlong
def test_decode_utf8_agrees_with_cpython(data):
    """``decode_utf8`` returns what CPython decodes and raises
    :class:`InvalidUTF8` (1007) exactly where CPython refuses."""
    try:
        text = decode_utf8(data)
    except InvalidUTF8 as exc:
        assert exc.code == 1007
        assert not decodes(data)
    else:
        assert text == data.decode("utf-8")


@fuzz()
@given(data=utf8_candidates(), draw=st.data())
@example(data=b"a\xed\xa0", draw=None)       # fails at the surrogate's second byte
@example(data=b"\xf0\x90", draw=None)        # a valid prefix: fails only at finish
def test_incremental_validation_fails_at_the_first_bad_piece(data, draw):
    """Fed in any pieces, the decoder raises at the first piece after which
    the bytes are no longer a valid UTF-8 prefix (never before it), and
    otherwise ``finish`` returns CPython's text, or raises when the bytes
    stop mid-character."""
    pieces = pieces_of(draw.draw, data) if draw is not None else [data[:1], data[1:]]
    decoder = Utf8Decoder()
    received = b""
    for piece in pieces:
        received += piece
        if is_valid_prefix(received):
            decoder.feed(piece)
        else:
            try:
                decoder.feed(piece)
            except InvalidUTF8:
                return
            raise AssertionError(f"{received!r} is no valid prefix, yet accepted")
    if decodes(data):
        assert decoder.finish() == data.decode("utf-8")
    else:
        try:
            decoder.finish()
        except InvalidUTF8:
            return
        raise AssertionError(f"{data!r} accepted by finish")


@fuzz()
@given(first=st.text(st.characters(codec="utf-8"), max_size=30),
       second=st.text(st.characters(codec="utf-8"), max_size=30), draw=st.data())
def test_decoder_is_reusable_after_each_message(first, second, draw):
    """After ``finish`` the decoder starts clean: a second message split
    anywhere decodes on its own, whatever the first one was."""
    decoder = Utf8Decoder()
    for text in (first, second):
        for piece in pieces_of(draw.draw, text.encode()):
            decoder.feed(piece)
        assert decoder.finish() == text


# ---------------------------------------------------------- in the parser
def recording(chunks: list[bytes], taken: list[int]):
    for index, chunk in enumerate(chunks):
        taken.append(index)
        yield chunk


@fuzz()
@given(payload=utf8_candidates(), split=st.integers(0, 60), masked=st.booleans(),
       python_masking=st.booleans(), data=st.data())
def test_the_parser_fails_fast_on_invalid_text(payload, split, masked, python_masking, data):
    """A text message (two fragments, cut anywhere) whose bytes stop being
    a valid UTF-8 prefix in some received chunk fails with 1007 before
    the parser asks for the next chunk; valid text is returned whole; a
    message that only ends mid-character fails at its end."""
    split = min(split, len(payload))
    key = data.draw(st.binary(min_size=4, max_size=4)) if masked else None
    parts = [payload[:split], payload[split:]]
    segments = []                     # (bytes, is payload)
    for opcode, part, fin in ((TEXT, parts[0], False), (CONT, parts[1], True)):
        segments.append((encode_header(opcode, len(part), fin=fin, mask=key), False))
        segments.append((apply_mask(part, key) if key else part, True))
    wire = b"".join(segment for segment, _ in segments)
    chunks = data.draw(chunked(wire))
    # The chunk in which the payload received so far stops being a prefix.
    bad_chunk, received_wire = None, 0
    for index, chunk in enumerate(chunks):
        received_wire += len(chunk)
        position, text_bytes = 0, b""
        for segment, is_payload in segments:
            visible = segment[:max(0, received_wire - position)]
            position += len(segment)
            if is_payload:
                text_bytes += apply_mask(visible, key) if key else visible
        if not is_valid_prefix(text_bytes):
            bad_chunk = index
            break
    taken: list[int] = []
    with parser_masking(python_masking):
        parser = FrameParser(BufferedReader.from_chunks(recording(chunks, taken)),
                             expect_masked=masked, max_frame_size=1 << 16,
                             max_message_size=1 << 16)
        try:
            message = parser.next_event()
        except ProtocolError as exc:
            assert isinstance(exc, InvalidUTF8) and exc.code == 1007
            assert not decodes(payload)
            if bad_chunk is not None:
                assert max(taken) <= bad_chunk
            else:
                assert max(taken, default=-1) == len(chunks) - 1   # at the very end
        else:
            assert decodes(payload)
            assert message.type == "utf8" and message.utf8_data == payload.decode("utf-8")
