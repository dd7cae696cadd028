"""The one-pass header parser of :mod:`wsframework.protocol.http11` against its
reference, the standard library's ``http.client.parse_headers`` (with
obsolete line folds made spaces): on every
head the fast path takes it must give the same pairs, and heads it does not
take (folded lines, lines without a colon, stray CR/LF, too many headers)
go to the reference, whose answers and errors stay as they were."""

from __future__ import annotations

import http.client
import io
import random

import pytest

from wsframework.protocol import http11
from wsframework.exceptions import HandshakeError


def reference(lines: bytes):
    """What the standard library makes of ``lines``: ("ok", pairs) or ("error",)."""
    try:
        message = http.client.parse_headers(io.BytesIO(lines))
    except http.client.HTTPException:
        return ("error",)
    if message.defects:
        return ("error",)
    # Folded lines are made one (RFC 9112 §5.2: each fold is a space).
    return ("ok", [(name, http11._utf8_if_valid(http11.unfold(value)))
                   for name, value in message.items()])


def parsed(lines: bytes):
    try:
        return ("ok", http11._parse_headers(lines).items())
    except HandshakeError:
        return ("error",)


PIECES = [b"Host", b"host", b"X-A", b":", b" ", b"\t", b"\r\n", b"\r", b"\n", b"v",
          b"\xc3\xa9", b"\xe9", b"From ", b"a b", b"\x00", b"=", b";", b"\r\n\r\n", b"  ",
          b": ", b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"\x7f", b"Upgrade: websocket\r\n"]


def test_random_heads_parse_as_the_standard_library_does():
    rng = random.Random(6455)
    taken = split = 0
    for _ in range(20000):
        lines = b"".join(rng.choice(PIECES) for _ in range(rng.randrange(14)))
        if rng.random() < 0.7:
            lines += b"\r\n\r\n"
        taken += http11._fast_header_items(lines) is not None
        split += split_agrees(lines)
        assert parsed(lines) == reference(lines), lines
    assert taken > 1000                 # the fast path was exercised
    assert split > 300                  # and its string-method part


def regex_items(lines: bytes):
    """What the regular-expression pass alone makes of ``lines``."""
    text = lines.decode("latin-1")
    block = http11._HEADER_BLOCK.match(text)
    return None if block is None else http11._HEADER_PAIR.findall(text, 0, block.end())


def split_agrees(lines: bytes) -> bool:
    """Whether the string-method pass took ``lines`` (checking that it then
    gives what the regular expressions give)."""
    items = http11._split_header_items(lines.decode("latin-1"))
    if items is None:
        return False
    assert items == regex_items(lines), lines
    return True


@pytest.mark.parametrize("lines", [
    b"Host: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    b"X-Trailing:  a b \t\r\nX-Empty:\r\nX-Blank:   \r\nX-Colons: a:b: c\r\n\r\n",
    b"X-Utf8: \xc3\xa9t\xc3\xa9\r\nX-Latin1: \xe9\r\nX-Nul: a\x00b\r\n\r\n",
])
def test_usual_heads_take_the_string_methods(lines):
    assert split_agrees(lines)
    assert parsed(lines) == reference(lines)


@pytest.mark.parametrize("lines", [
    b"A: 1\r\nA: 2\r\n\r\nIgnored: after the blank line\r\n",   # a blank line before the end
    b"\r\n",                                                    # no header at all
    b"\r\n\r\n",
    b"X\x7f: v\r\n\r\n",                                         # not a token-ish name
    b"\xe9: v\r\n\r\n",
    b"X: a\rb\r\n\r\n",
    b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\n",
])
def test_other_heads_go_to_the_regular_expressions(lines):
    assert not split_agrees(lines)
    assert parsed(lines) == reference(lines)


@pytest.mark.parametrize("lines", [
    b"Host: example.com\r\nUpgrade: websocket\r\n\r\n",
    b"X-Trailing:  a b \t\r\nX-Empty:\r\nX-Blank:   \r\n\r\n",
    b"X-Utf8: \xc3\xa9t\xc3\xa9\r\nX-Latin1: \xe9\r\n\r\n",
    b"A: 1\r\nA: 2\r\n\r\nIgnored: after the blank line\r\n",
    b"\r\n",
])
def test_plain_heads_take_the_fast_path(lines):
    assert http11._fast_header_items(lines) is not None
    assert parsed(lines) == reference(lines)


@pytest.mark.parametrize("lines", [
    b"X-Folded: a\r\n b\r\n\r\n",            # obsolete line folding
    b"No colon here\r\n\r\n",
    b"Bad Name: x\r\n\r\n",
    b"X: a\rb\r\n\r\n",                      # a bare CR inside a line
    b"X: a\nY: b\r\n\r\n",                    # a bare LF
    b"Host: a\r\n",                          # no blank line
])
def test_other_heads_go_to_the_standard_library(lines):
    assert http11._fast_header_items(lines) is None
    assert parsed(lines) == reference(lines)


@pytest.mark.parametrize("count, ok", [(99, True), (100, False)])
def test_the_header_count_limit_is_the_standard_librarys(count, ok):
    lines = b"".join(b"X-%d: v\r\n" % i for i in range(count)) + b"\r\n"
    assert (parsed(lines)[0] == "ok") is ok
    assert parsed(lines) == reference(lines)


def test_a_failing_head_is_rejected_in_one_pass():
    # Runs of blanks on many lines and no blank line at the end: a pattern
    # that could split blanks and value several ways would backtrack
    # through every combination here (it would not finish).
    lines = (b"X:" + b" " * 40 + b"v \t \r\n") * 90 + b"Y:" + b" " * 40
    assert http11._fast_header_items(lines) is None
    assert parsed(lines) == reference(lines)
