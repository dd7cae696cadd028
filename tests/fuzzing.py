"""Shared pieces of the property-based fuzz tests (``tests/fuzz/test_fuzz_*.py``):
the Hypothesis settings, the mutation and chunking strategies, the payload
strategies that reach every length encoding cheaply, and the summary of a
frame parser's results that the frame and deflate tests compare.

In the normal test command every fuzz test runs :data:`QUICK_EXAMPLES`
derandomized examples with no example database, so CI sees the same
inputs each time.  ``WSFRAMEWORK_FUZZ_EXAMPLES=N`` (what ``scripts/fuzz.sh``
sets) switches to the long run: N random examples per test.
"""

from __future__ import annotations

import os
from unittest import mock

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from wsframework.protocol import masking
from wsframework.protocol import parser as parser_module
from wsframework.exceptions import InvalidUTF8, PayloadTooBig, ProtocolError
from wsframework.protocol.frame import Opcode, WebSocketFrame
from wsframework.protocol.message import WebSocketMessage
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader

__all__ = [
    "EXAMPLES_VARIABLE", "LONG_RUN", "QUICK_EXAMPLES", "fuzz", "chunked", "mutated",
    "repeated_bytes", "limit_near", "describe", "expected_frame", "run", "reader_over", "parser_masking",
    "TEXT", "BINARY", "CONT", "CLOSE", "PING", "PONG", "LIMIT", "PARSER_CODES",
]

#: The environment variable that selects the long run and its size.
EXAMPLES_VARIABLE = "WSFRAMEWORK_FUZZ_EXAMPLES"
#: Examples per test in the normal test command: about 45,000 over the fuzz
#: tests, ~2 minutes on the 2-core development machine.  Not fewer: with a
#: budget of a few hundred, Hypothesis spends it mostly on small examples
#: and mutations of them (at 300 and 500, the size-limit properties drew
#: no case that told a broken fragment sum from a good one; at 1000 and at
#: 60 they did), so a count is only trusted once a deliberate break of
#: what it guards has been seen failing at it.
QUICK_EXAMPLES = 1000

TEXT, BINARY, CONT = Opcode.TEXT.value, Opcode.BINARY.value, Opcode.CONTINUATION.value
CLOSE, PING, PONG = Opcode.CLOSE.value, Opcode.PING.value, Opcode.PONG.value
LIMIT = 1 << 20
#: The close codes a frame parser fails a connection with.
PARSER_CODES = {1002, 1007, 1009}

_long_examples = os.environ.get(EXAMPLES_VARIABLE, "").strip()
LONG_RUN = bool(_long_examples)

_COMMON = dict(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.large_base_example],
)
settings.register_profile("wsframework-quick", max_examples=QUICK_EXAMPLES,
                          derandomize=True, **_COMMON)
settings.register_profile("wsframework-long",
                          max_examples=int(_long_examples) if LONG_RUN else QUICK_EXAMPLES,
                          derandomize=False, print_blob=True, **_COMMON)
_PROFILE = settings.get_profile("wsframework-long" if LONG_RUN else "wsframework-quick")


def fuzz(weight: float = 1.0) -> settings:
    """The settings of one fuzz test: the active profile, with ``weight``
    scaling the example count of the normal run (slow properties take
    fewer, so the whole fuzz set stays quick).  The long run gives every
    test the same count, so its total is what ``scripts/fuzz.sh`` says."""
    if LONG_RUN:
        return settings(_PROFILE)
    return settings(_PROFILE, max_examples=max(10, round(QUICK_EXAMPLES * weight)))


# ------------------------------------------------------------- strategies
@st.composite
def chunked(draw, data: bytes, max_cuts: int = 12) -> list[bytes]:
    """``data`` cut at arbitrary points into non-empty chunks (an empty
    chunk would mean end of stream to ``BufferedReader.from_chunks``)."""
    if len(data) < 2:
        return [data] if data else []
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=max_cuts, unique=True))
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


#: Bytes that mean something to the parsers: length markers, the mask
#: bit, opcodes, UTF-8 leads and continuations, CR, LF, separators.
INTERESTING_BYTES = st.sampled_from([
    0x00, 0x01, 0x02, 0x08, 0x09, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x3A, 0x3B, 0x3D,
    0x7D, 0x7E, 0x7F, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A, 0xA0, 0xBF, 0xC0, 0xC2,
    0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
])
_ANY_BYTE = st.one_of(st.integers(0, 255), INTERESTING_BYTES)


@st.composite
def mutated(draw, data: bytes, max_mutations: int = 4) -> bytes:
    """``data`` after a few random edits: bit flips, byte overwrites,
    insertions, deletions, duplicated ranges and truncation."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, max_mutations))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "duplicate",
                                     "truncate"]))
        if kind == "insert" or not buf:
            at = draw(st.integers(0, len(buf)))
            buf[at:at] = bytes(draw(st.lists(_ANY_BYTE, min_size=1, max_size=8)))
            continue
        at = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            buf[at] = draw(_ANY_BYTE)
        elif kind == "delete":
            del buf[at:at + draw(st.integers(1, 8))]
        elif kind == "duplicate":
            end = at + draw(st.integers(1, 16))
            buf[at:at] = buf[at:end]
        else:
            del buf[at:]
    return bytes(buf)


#: Payload lengths around every boundary of the frame header's length
#: encodings (7-bit, 16-bit, 64-bit) and of the masking code paths.
BOUNDARY_LENGTHS = st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 127, 4095, 4096,
                                    4097, 65535, 65536, 65537])


@st.composite
def repeated_bytes(draw, max_small: int = 300) -> bytes:
    """Mostly short random bytes; sometimes a boundary length (up to 64 KiB
    + 1) built by repeating a short random seed, which keeps Hypothesis's
    buffer small."""
    if draw(st.integers(0, 3)) < 3:        # shrinks towards short bytes
        return draw(st.binary(max_size=max_small))
    seed = draw(st.binary(min_size=1, max_size=16))
    length = draw(BOUNDARY_LENGTHS)
    return (seed * (length // len(seed) + 1))[:length]


@st.composite
def limit_near(draw, sizes, low: int = 1, high: int = 600) -> int:
    """A size limit: mostly at or next to one of ``sizes`` (the sizes a
    limit check must tell apart: one byte under, at, one byte over), else
    anywhere in ``low``..``high``."""
    candidates = sorted({size for size in sizes if size >= low})
    if candidates and draw(st.integers(0, 3)) < 3:
        return max(low, draw(st.sampled_from(candidates)) + draw(st.integers(-1, 1)))
    return draw(st.integers(low, high))


# ------------------------------------------------------- parser results
def describe(event: WebSocketMessage | WebSocketFrame) -> tuple:
    """A comparable summary of what the parser returned."""
    if isinstance(event, WebSocketMessage):
        assert event.type in ("utf8", "binary")
        if event.type == "utf8":
            assert isinstance(event.utf8_data, str) and event.binary_data is None
        else:
            assert isinstance(event.binary_data, bytes) and event.utf8_data is None
        return ("message", event.type, event.data)
    assert isinstance(event, WebSocketFrame)
    assert isinstance(event.binary_payload, bytes)
    rsv = (event.rsv1 << 2) | (event.rsv2 << 1) | event.rsv3
    return ("frame", event.opcode, event.fin, rsv, event.mask, event.close_status,
            event.invalid_close_frame_length, event.binary_payload)


def expected_frame(opcode: int, payload: bytes, fin: bool, rsv: int, masked: bool) -> tuple:
    """What :func:`describe` gives for the frame the parser should return."""
    status, invalid = -1, False
    if opcode == CLOSE:
        if len(payload) == 1:
            payload, invalid = b"", True
        elif len(payload) >= 2:
            status, payload = int.from_bytes(payload[:2], "big"), payload[2:]
    return ("frame", opcode, fin, rsv, masked, status, invalid, payload)


def run(parser: FrameParser, max_events: int = 10_000) -> tuple[list, tuple]:
    """Every event until the parser stops, and why it stopped.  Anything
    but EOFError or a ProtocolError with a parser close code escapes."""
    events = []
    try:
        while len(events) < max_events:
            events.append(describe(parser.next_event()))
    except EOFError:
        return events, ("eof",)
    except ProtocolError as exc:
        assert exc.code in PARSER_CODES, exc
        assert isinstance(exc.reason, str) and str(exc) == exc.reason
        if isinstance(exc, (PayloadTooBig, InvalidUTF8)):
            assert exc.code == (1009 if isinstance(exc, PayloadTooBig) else 1007)
        return events, (type(exc).__name__, exc.code, exc.reason)
    raise AssertionError(f"no end after {max_events} events")


def reader_over(data: bytes, chunks: list[bytes] | None) -> BufferedReader:
    """A reader over ``data``: all buffered at once, or one receive per
    chunk."""
    if chunks is None:
        return BufferedReader.from_bytes(data)
    assert b"".join(chunks) == data
    return BufferedReader.from_chunks(chunks)


def parser_masking(python: bool):
    """A context in which the frame parser unmasks with the pure-Python
    ``apply_mask`` (``python``) or with the active one (the C accelerator
    unless ``WSFRAMEWORK_NO_SPEEDUPS`` is set), so one run covers both."""
    return mock.patch.object(parser_module, "apply_mask",
                             masking.py_apply_mask if python else masking.apply_mask)
