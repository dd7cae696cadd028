"""The handshake's fast paths give what the plain code they shortcut gives:
the header index against a scan of the pairs, the single-token check
against the split, the token regex against the per-character rule, the
written 101 head against the generic head writer, the one-send write
against the write loop."""

from __future__ import annotations

import random
import socket as stdlib_socket

import gevent.socket
import pytest
from urllib.parse import unquote

from wsframework.protocol import handshake
from wsframework.protocol.cookies import decode_uri_component
from wsframework.protocol.extensions import _split, parse_extension_header
from wsframework.protocol.handshake import (_TOKEN_SPLIT, accept_key, accept_response,
                                            header_has_token, is_valid_key, parse_version)
from wsframework.protocol.http11 import (SEPARATORS, Headers, invalid_token_char,
                                         parse_request, read_head, serialize_head)
from wsframework.sending import send_all
from wsframework.protocol.streams import BufferedReader


# ----------------------------------------------------------------- the header index
def _scan_get(pairs, name, default=None):
    name = name.lower()
    for key, value in pairs:
        if key.lower() == name:
            return value
    return default


def _scan_get_all(pairs, name, default=None):
    name = name.lower()
    return [value for key, value in pairs if key.lower() == name] or default


HEADS = [
    [],
    [("Host", "a")],
    [("Host", "a"), ("host", "b"), ("HOST", "c")],
    [("X-Forwarded-For", "1.1.1.1"), ("Upgrade", "websocket"), ("x-forwarded-for", "2.2.2.2"),
     ("Cookie", "a=1"), ("COOKIE", "b=2"), ("Connection", "Upgrade")],
    [("Empty", ""), ("empty", "second")],
    [("Sec-WebSocket-Protocol", "chat"), ("sEC-wEBsOCKET-pROTOCOL", "Superchat")],
    [("Na\u00efve", "x"), ("NA\u00cfVE", "y")],            # non-ASCII names (stdlib parser path)
    [("\u0130d", "dotted"), ("i\u0307d", "lowered")],       # 'İ'.lower() is two characters
]
NAMES = ["host", "HOST", "Host", "x-forwarded-for", "X-FORWARDED-FOR", "cookie", "Empty",
         "EMPTY", "sec-websocket-protocol", "na\u00efve", "NA\u00cfVE", "\u0130d", "i\u0307d",
         "missing", ""]


@pytest.mark.parametrize("pairs", HEADS)
def test_index_agrees_with_a_scan(pairs):
    headers = Headers(pairs)
    for name in NAMES:
        assert headers.get(name) == _scan_get(pairs, name), name
        assert headers.get(name, "dflt") == _scan_get(pairs, name, "dflt"), name
        assert headers.get_all(name) == _scan_get_all(pairs, name), name
        assert headers.get_all(name, []) == _scan_get_all(pairs, name, []), name
        assert headers[name] == _scan_get(pairs, name)
        assert (name in headers) == (_scan_get(pairs, name) is not None)


def test_index_agrees_with_a_scan_on_random_heads():
    rng = random.Random(20)
    names = ["Host", "host", "Cookie", "cookie", "COOKIE", "X-A", "x-a", "Upgrade", "Q"]
    for _ in range(500):
        pairs = [(rng.choice(names), rng.choice(["", "v", "w", "a, b"]))
                 for _ in range(rng.randrange(8))]
        headers = Headers(pairs)
        for name in names + ["absent"]:
            assert headers.get(name) == _scan_get(pairs, name)
            assert headers.get_all(name) == _scan_get_all(pairs, name)


def test_get_all_gives_a_fresh_list():
    headers = Headers([("A", "1"), ("a", "2"), ("B", "3")])
    headers.get_all("a").append("mutated")
    headers.get_all("b").append("mutated")
    assert headers.get_all("a") == ["1", "2"]
    assert headers.get_all("b") == ["3"]


def test_parsed_head_index_agrees_with_a_scan_and_survives_compact():
    head = (b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\ncookie: a=1\r\n"
            b"x-forwarded-for: 2.2.2.2\r\nCOOKIE: b=2\r\nUpgrade: websocket\r\n\r\n")
    headers = parse_request(head).headers
    pairs = headers.items()
    for _ in range(2):
        for name in ("host", "X-Forwarded-For", "Cookie", "upgrade", "absent"):
            assert headers.get(name) == _scan_get(pairs, name)
            assert headers.get_all(name) == _scan_get_all(pairs, name)
        headers.compact()                   # the index goes too; lookups rebuild it
        assert headers._first is None and headers._repeated is None and headers._list is None


def test_compact_drops_the_index_of_unparsed_headers():
    headers = Headers([("A", "1")])
    assert headers.get("a") == "1"
    headers.compact()
    assert headers._first is None and headers.items() == [("A", "1")]
    assert headers.get_all("A") == ["1"]


# ----------------------------------------------------------------- header tokens
def _split_has_token(headers, name, token):
    token = token.lower()
    for value in headers.get_all(name) or ():
        if any(part.lower() == token for part in _TOKEN_SPLIT.split(value.strip())):
            return True
    return False


@pytest.mark.parametrize("values", [
    [], ["websocket"], ["WebSocket"], [" websocket "], ["websocket2"], ["web socket"],
    ["keep-alive, Upgrade"], ["keep-alive,upgrade"], ["upgrade ,x"], [","], [""],
    ["x", "Upgrade"], ["x", "y, z"], ["\u00a0upgrade\u00a0"], ["UPGRADE\t, keep-alive"],
])
@pytest.mark.parametrize("token", ["websocket", "Upgrade", "x"])
def test_header_has_token_agrees_with_the_split(values, token):
    headers = Headers([("Connection", v) for v in values] + [("Upgrade", v) for v in values])
    for name in ("Connection", "Upgrade"):
        assert header_has_token(headers, name, token) == _split_has_token(headers, name, token)


def _per_char_invalid(value):
    for char in value:
        if not 0x21 <= ord(char) <= 0x7E or char in SEPARATORS:
            return char
    return None


def test_invalid_token_char_agrees_with_the_character_rule():
    for code in range(0x3000):
        char = chr(code)
        for value in (char, "ab" + char, char + "x", "a" + char + "\t"):
            assert invalid_token_char(value) == _per_char_invalid(value), repr(value)
    assert invalid_token_char("") is None
    assert invalid_token_char("permessage-deflate") is None


# ----------------------------------------------------------------- extensions, cookies
def _quote_aware_split(value, separator):
    parts, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


@pytest.mark.parametrize("value", [
    "", ",", "a", "a,b", " a , b ,", "permessage-deflate; client_max_window_bits",
    "x; a=1; b; c=\"2\"", "x; a=\"1,2\", y", ";;;",
])
@pytest.mark.parametrize("separator", [",", ";"])
def test_split_agrees_with_the_quote_aware_loop(value, separator):
    assert _split(value, separator) == _quote_aware_split(value, separator)


def test_split_still_refuses_an_open_quote():
    with pytest.raises(ValueError):
        parse_extension_header(['x; a="1'])


@pytest.mark.parametrize("value", ["", "abc", "a b", "caf\u00e9", "a+b"])
def test_decode_uri_component_without_percent_is_unchanged(value):
    assert decode_uri_component(value) == unquote(value, errors="strict") == value


@pytest.mark.parametrize("value", ["%zz", "%", "%C3"])
def test_decode_uri_component_still_refuses_bad_escapes(value):
    with pytest.raises(ValueError, match="URI malformed"):
        decode_uri_component(value)


# ----------------------------------------------------------------- keys, versions
def test_key_check():
    for _ in range(200):
        key = handshake.generate_key()
        assert is_valid_key(key) and is_valid_key(f" {key}\t")
    assert is_valid_key("AAAAAAAAAAAAAAAAAAAAAB==")      # nonzero pad bits: still 16 bytes
    for bad in ("", "AAAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAA=",
                "AAAAAAAAAAAAAAAAAAAAAA==AAAA", "AAAAAAAAAAAAAAAAAAAAA-==", "é" * 22 + "=="):
        assert not is_valid_key(bad), bad


@pytest.mark.parametrize("value, expected", [
    ("13", 13), (" 13", 13), ("13abc", 13), ("8", 8), ("+13", 13), ("", 0), (None, 0),
    ("x", 0), ("013", 13),
])
def test_parse_version(value, expected):
    assert parse_version(value) == expected


# ----------------------------------------------------------------- the 101 head
def _reference_accept_response(key, *, protocol=None, origin=None, websocket_version=13,
                               cookie_lines=(), extensions=None, extra_headers=()):
    from wsframework.protocol.http11 import check_field_name, clean_field_value
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept_key(key))]
    if protocol:
        headers.append(("Sec-WebSocket-Protocol", protocol))
    if origin:
        name = "Origin" if websocket_version == 13 else "Sec-WebSocket-Origin"
        headers.append((name, clean_field_value(origin)))
    headers.extend(("Set-Cookie", line) for line in cookie_lines)
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    headers.extend((check_field_name(n), clean_field_value(v)) for n, v in extra_headers)
    return serialize_head("HTTP/1.1 101 Switching Protocols", headers)


@pytest.mark.parametrize("kwargs", [
    {},
    {"protocol": "chat"},
    {"origin": "https://example.com"},
    {"origin": "https://ex\r\nample.com\x00\x7f\u0085\t", "websocket_version": 8},
    {"origin": "https://caf\u00e9.example"},
    {"cookie_lines": ["a=1; Path=/", "b=2"]},
    {"extensions": "permessage-deflate; server_max_window_bits=10"},
    {"extra_headers": [("X-A", "1"), ("X-B", "two\r\nlines")]},
    {"protocol": "p", "origin": "o", "cookie_lines": ["c=1"], "extensions": "e",
     "extra_headers": [("X-Z", "z")], "websocket_version": 8},
])
def test_accept_response_is_the_generic_head(kwargs):
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    assert accept_response(key, **kwargs) == _reference_accept_response(key, **kwargs)


def test_accept_response_refuses_a_bad_header_name():
    with pytest.raises(ValueError, match="Invalid header name"):
        accept_response("dGhlIHNhbXBsZSBub25jZQ==", extra_headers=[("Bad Name", "x")])


# ----------------------------------------------------------------- reading and writing
@pytest.mark.parametrize("chunks", [
    [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"],
    [b"GET / HTTP/1.1\r\nHost: h\r\n\r\nextra"],
    [b"GET / HTTP/1.1\r", b"\nHost: h\r\n\r", b"\n"],
    [b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", b"more"],
])
def test_read_head_leaves_what_follows(chunks):
    data = b"".join(chunks)
    reader = BufferedReader.from_chunks(chunks)
    head = read_head(reader)
    assert head == data[:data.index(b"\r\n\r\n") + 4]
    buffered = reader.buffered
    assert reader.read_exact(buffered) == data[len(head):len(head) + buffered]


def test_read_until_after_earlier_reads():
    reader = BufferedReader.from_bytes(b"abcGET\r\n\r\nrest")
    assert reader.read_exact(3) == b"abc"
    assert reader.read_until(b"\r\n\r\n", 100) == b"GET\r\n\r\n"
    assert reader.read_exact(4) == b"rest"


def _pair():
    a, b = stdlib_socket.socketpair()
    return gevent.socket.socket(fileno=a.detach()), gevent.socket.socket(fileno=b.detach())


def test_send_all_one_send_restores_nothing_it_did_not_touch():
    a, b = _pair()
    try:
        a.settimeout(7.0)
        send_all(a, b"head", 5.0)
        assert b.recv(10) == b"head"
        assert a.gettimeout() == 7.0
    finally:
        a.close()
        b.close()


def test_send_all_larger_than_the_send_buffer_completes():
    a, b = _pair()
    data = bytes(range(256)) * 20000                  # ~5 MB: many sends
    received = []

    def read():
        while sum(map(len, received)) < len(data):
            received.append(b.recv(65536))

    try:
        reader = gevent.spawn(read)
        send_all(a, data, 5.0)
        reader.join(10)
        assert b"".join(received) == data
        assert a.gettimeout() is None
    finally:
        a.close()
        b.close()


def test_send_all_to_a_peer_that_does_not_read_times_out():
    a, b = _pair()
    try:
        with pytest.raises(TimeoutError):
            send_all(a, b"x" * (16 << 20), 0.2)
        assert a.gettimeout() is None
    finally:
        a.close()
        b.close()


def test_send_all_on_other_sockets_uses_the_loop():
    class Plain:
        def __init__(self):
            self.sent, self.timeout = [], None

        def gettimeout(self):
            return self.timeout

        def settimeout(self, value):
            self.timeout = value

        def send(self, view):
            chunk = bytes(view[:3])
            self.sent.append(chunk)
            return len(chunk)

    sock = Plain()
    send_all(sock, b"abcdefgh", 1.0)
    assert sock.sent == [b"abc", b"def", b"gh"] and sock.timeout is None



@pytest.mark.parametrize("values", [
    ["permessage-deflate; client_max_window_bits"],
    ["permessage-deflate; client_max_window_bits", "x-foo"],
    ['a; b="1", c'],
    ["x" * 300],
])
def test_parsed_offers_are_fresh_each_time(values):
    first = parse_extension_header(values)
    first.append(("mutated", []))
    if first[0][1] is not None:
        first[0][1].append(("mutated", None))
    again = parse_extension_header(values)
    assert ("mutated", []) not in again
    assert all(("mutated", None) not in params for _, params in again)
    assert again == parse_extension_header(list(values))


def test_offer_cache_stays_bounded():
    from wsframework.protocol import extensions
    for n in range(3 * extensions._CACHED_MAX):
        parse_extension_header([f"x-ext-{n}"])
    assert len(extensions._parsed) <= extensions._CACHED_MAX
    parse_extension_header(["y" * (extensions._CACHED_MAX_LENGTH + 1)])
    assert ("y" * (extensions._CACHED_MAX_LENGTH + 1),) not in extensions._parsed


def test_a_malformed_offer_raises_every_time():
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid extension name"):
            parse_extension_header(["bad name"])
