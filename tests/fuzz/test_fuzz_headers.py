"""Property-based fuzz tests of the handshake's header parsers:
``Sec-WebSocket-Extensions`` (the RFC parser of ``wsframework.protocol.extensions``
and the Node-shaped one of ``wsframework.protocol.headers``), ``Sec-WebSocket-Protocol``,
comma-separated token lists, X-Forwarded-For, ``Cookie`` and ``Set-Cookie``
(``wsframework.protocol.cookies``), and the small checks of ``wsframework.protocol.handshake``
(key format, version, accept key).

Properties: formatted headers parse back to what was formatted, with any
optional whitespace and split over several header lines; arbitrary text
only ever raises the documented ``ValueError`` (or nothing); whatever
parses is well-formed and formats back to itself.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from urllib.parse import quote

from hypothesis import example, given
from hypothesis import strategies as st

from wsframework.protocol.cookies import decode_uri_component, parse_cookies, serialize_cookies
from wsframework.protocol.extensions import format_extension, parse_extension_header
from wsframework.protocol.handshake import (accept_key, header_has_token, is_valid_key,
                                   parse_version)
from wsframework.protocol.headers import (SEPARATORS, invalid_token_char, parse_extensions,
                                 parse_forwarded_for, parse_protocols)
from wsframework.protocol.http11 import Headers

from ..fuzzing import fuzz

TOKEN_CHARS = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in SEPARATORS)
TOKENS = st.text(TOKEN_CHARS, min_size=1, max_size=10)
LOWER_TOKENS = TOKENS.map(str.lower)
OWS = st.sampled_from(["", " ", "  ", "\t", " \t "])
SPACES = st.sampled_from(["", " ", "  "])
TEXT = st.characters(codec="utf-8")
#: Text rich in what the header grammars care about.
HEADER_TEXT = st.text(st.one_of(st.sampled_from(list(',;="\\ \t%')), st.sampled_from(
    list("aZ09-!~")), st.characters(max_codepoint=0x17F)), max_size=40)
ELEMENTS = st.lists(st.tuples(LOWER_TOKENS, st.lists(
    st.tuples(LOWER_TOKENS, st.none() | TOKENS), max_size=3)), max_size=4)


# ------------------------------------------------------------- extensions
@fuzz()
@given(elements=ELEMENTS, data=st.data())
def test_extension_header_round_trip(elements, data):
    """Elements written with optional whitespace around ``,``, ``;`` and
    ``=``, values quoted or not, spread over several header lines, parse
    back to the same names, parameters and (unquoted) values."""
    written = []
    for name, params in elements:
        text = name
        for key, value in params:
            text += data.draw(OWS) + ";" + data.draw(OWS) + key
            if value is not None:
                if data.draw(st.booleans()):
                    value = f'"{value}"'
                text += data.draw(OWS) + "=" + data.draw(OWS) + value
        written.append(text)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(written)), max_size=2)))
    bounds = [0, *cuts, len(written)]
    values = [(data.draw(OWS) + "," + data.draw(OWS)).join(written[a:b])
              for a, b in zip(bounds, bounds[1:])]
    assert parse_extension_header(values) == elements
    formatted = [format_extension(name, params) for name, params in elements]
    assert parse_extension_header([", ".join(formatted)]) == elements


@fuzz()
@given(values=st.lists(HEADER_TEXT, max_size=3))
@example(values=['a; b="'])
@example(values=['a; b="c;d"'])
def test_extension_header_parser_on_any_text(values):
    """Any header text parses or raises ValueError; what parses is tokens
    only and formats back to an equal parse."""
    try:
        elements = parse_extension_header(values)
    except ValueError:
        return
    for name, params in elements:
        assert name and invalid_token_char(name) is None and name == name.lower()
        for key, value in params:
            assert key and invalid_token_char(key) is None and key == key.lower()
            assert value is None or (value and invalid_token_char(value) is None)
    formatted = [format_extension(name, params) for name, params in elements]
    assert parse_extension_header([", ".join(formatted)]) == elements


@fuzz()
@given(header=st.none() | HEADER_TEXT)
def test_node_extension_parser_never_raises(header):
    """WebSocket-Node's ``parseExtensions`` shape for any header: a list
    of ``{name, params: [{name, value}]}`` with lowercased strings."""
    for extension in parse_extensions(header):
        assert isinstance(extension.name, str) and extension.name == extension.name.lower()
        for param in extension.params:
            assert isinstance(param.name, str)
            assert param.value is None or isinstance(param.value, str)


@fuzz()
@given(elements=ELEMENTS)
def test_node_extension_parser_reads_formatted_offers(elements):
    """A formatted offer reads as Node reads it: names, parameter names,
    and values (lowercased, None without ``=``)."""
    header = ", ".join(format_extension(name, params) for name, params in elements)
    expected = [{"name": name, "params": [{"name": key, "value": None if value is None
                                           else value.lower()} for key, value in params]}
                for name, params in elements]
    assert parse_extensions(header) == expected


# ------------------------------------------------------ token lists
@fuzz()
@given(protocols=st.lists(TOKENS, min_size=1, max_size=5),
       spaces=st.lists(SPACES, min_size=5, max_size=5))
def test_protocol_header_round_trip(protocols, spaces):
    """``Sec-WebSocket-Protocol`` as ``a, b,c``: the lowercased list in
    order, and each entry's last spelling by its lowercase."""
    header = "".join(protocol + ("," + space if index < len(protocols) - 1 else "")
                     for index, (protocol, space) in enumerate(zip(protocols, spaces * 2)))
    listed, full_case = parse_protocols(header)
    assert listed == [protocol.lower() for protocol in protocols]
    assert full_case == {protocol.lower(): protocol for protocol in protocols}


@fuzz()
@given(header=st.none() | HEADER_TEXT)
def test_protocol_parser_never_raises(header):
    """Any ``Sec-WebSocket-Protocol`` text: a list of lowercased strings,
    each a key of the spelling map."""
    listed, full_case = parse_protocols(header)
    for protocol in listed:
        assert protocol == protocol.lower() and protocol in full_case
        assert full_case[protocol].lower() == protocol


@fuzz()
@given(tokens=st.lists(TOKENS, min_size=1, max_size=4), other=TOKENS,
       lines=st.integers(1, 3), data=st.data())
def test_header_has_token(tokens, other, lines, data):
    """A token is found case-insensitively in a comma list with any
    spaces, over repeated header lines; a token not listed is not."""
    joined = [(data.draw(SPACES) + "," + data.draw(SPACES)).join(tokens[i::lines])
              for i in range(lines)]
    headers = Headers([("Connection", value) for value in joined if value])
    probe = data.draw(st.sampled_from(tokens))
    assert header_has_token(headers, "connection", probe.swapcase())
    assert header_has_token(headers, "Connection", other) is (
        other.lower() in {token.lower() for token in tokens})


@fuzz()
@given(addresses=st.lists(st.text("0123456789abcdef.:", min_size=1, max_size=15), max_size=4),
       header=st.none() | HEADER_TEXT)
def test_forwarded_for(addresses, header):
    """X-Forwarded-For: the listed addresses then the peer; any text gives
    a list of strings ending with the peer."""
    peer = "192.0.2.7"
    if addresses:
        assert parse_forwarded_for(", ".join(addresses), peer) == [*addresses, peer]
    result = parse_forwarded_for(header, peer)
    assert result[-1] == peer and all(isinstance(entry, str) for entry in result)


@fuzz()
@given(value=st.text(st.characters(max_codepoint=0x17F), max_size=20))
def test_invalid_token_char(value):
    """The first character outside the token grammar, or None."""
    bad = [c for c in value if c not in TOKEN_CHARS]
    assert invalid_token_char(value) == (bad[0] if bad else None)


# ----------------------------------------------------------------- cookies
COOKIE_NAMES = TOKENS


@fuzz()
@given(text=st.text(TEXT, max_size=30), safe=st.sampled_from(["", "-_.!~*'()"]))
def test_decode_uri_component_inverts_percent_encoding(text, safe):
    """What ``encodeURIComponent`` (or full percent-encoding) writes,
    ``decode_uri_component`` reads back."""
    assert decode_uri_component(quote(text, safe=safe)) == text


@fuzz()
@given(text=HEADER_TEXT | st.text("%0123456789abcdefABCDEFxyz", max_size=20))
@example(text="%ED%A0%80")
@example(text="%C3")
def test_decode_uri_component_on_any_text(text):
    """Any text decodes to a str or raises ValueError("URI malformed");
    text without ``%`` is returned unchanged."""
    try:
        decoded = decode_uri_component(text)
    except ValueError as exc:
        assert str(exc) == "URI malformed"
        return
    assert isinstance(decoded, str)
    if "%" not in text:
        assert decoded == text


@fuzz()
@given(cookies=st.lists(st.tuples(COOKIE_NAMES, st.text(TEXT, max_size=10)), max_size=4),
       data=st.data())
def test_cookie_header_round_trip(cookies, data):
    """``name=percent-encoded value`` pairs joined by ``;`` or ``,`` and
    spaces parse back to the names and decoded values, duplicates kept."""
    header = ""
    for index, (name, value) in enumerate(cookies):
        if index:
            header += data.draw(st.sampled_from([";", ",", "; ", ",  "]))
        encoded = quote(value, safe="")
        if data.draw(st.booleans()):
            encoded = f'"{encoded}"'
        header += f"{name}={encoded}"
    assert [(c.name, c.value) for c in parse_cookies(header)] == cookies


@fuzz()
@given(header=st.none() | HEADER_TEXT)
def test_cookie_parser_on_any_text(header):
    """Any ``Cookie`` text: a list of ``{name, value}`` (value None without
    ``=``) or ValueError("URI malformed")."""
    try:
        cookies = parse_cookies(header)
    except ValueError as exc:
        assert str(exc) == "URI malformed"
        return
    for cookie in cookies:
        assert isinstance(cookie.name, str)
        assert cookie.value is None or isinstance(cookie.value, str)


COOKIE_FIELDS = st.fixed_dictionaries({}, optional={
    "name": st.one_of(TOKENS, HEADER_TEXT, st.integers(), st.none()),
    "value": st.one_of(TOKENS, HEADER_TEXT, st.integers(), st.none()),
    "path": st.one_of(st.text(TEXT, max_size=10), st.none()),
    "domain": st.one_of(st.text(TEXT, max_size=10), st.integers(), st.none()),
    "expires": st.one_of(st.datetimes(timezones=st.none() | st.just(datetime.timezone.utc)),
                         st.text(max_size=3)),
    "maxage": st.one_of(st.integers(-5, 10**6), st.floats(), st.text(max_size=4),
                        st.booleans()),
    "secure": st.one_of(st.booleans(), st.integers(0, 2)),
    "httponly": st.one_of(st.booleans(), st.text(max_size=2)),
})


@fuzz()
@given(cookies=st.lists(COOKIE_FIELDS, max_size=3))
@example(cookies=[{"name": "a", "value": "b", "maxage": float("inf")}]).via(
    "regression: an infinite maxage raised OverflowError")
@example(cookies=[{"name": "a", "value": "b", "maxage": "1e400"}])
def test_set_cookie_lines_are_safe(cookies):
    """``serialize_cookies`` on any cookie fields: ValueError with Node's
    text, or one line per cookie that starts with ``name=value`` and
    holds no CR, LF or NUL (no header injection)."""
    try:
        lines = serialize_cookies(cookies)
    except ValueError as exc:
        assert str(exc)
        return
    assert len(lines) == len(cookies)
    for line, cookie in zip(lines, cookies):
        assert not {"\r", "\n", "\x00"} & set(line)
        name, _, rest = line.partition("=")
        assert name and rest


# ------------------------------------------------------- handshake checks
@fuzz()
@given(raw=st.binary(min_size=16, max_size=16), padding=OWS)
def test_every_16_byte_key_is_valid(raw, padding):
    """The base64 of any 16 bytes, with spaces around, is a valid key,
    and its accept key is the base64 of a 20-byte SHA-1."""
    key = base64.b64encode(raw).decode()
    assert is_valid_key(padding + key + padding)
    assert len(base64.b64decode(accept_key(key))) == 20


@fuzz()
@given(key=st.text(max_size=30) | st.text("ABCabc019+/= ", max_size=30))
def test_key_check_on_any_text(key):
    """Any text: True exactly for base64 of 16 bytes; never raises; and
    ``accept_key`` gives 28 base64 characters for any text."""
    try:
        expected = len(base64.b64decode(key.strip().encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        expected = False
    assert is_valid_key(key) is expected
    assert len(accept_key(key)) == 28


@fuzz()
@given(value=st.none() | st.text(max_size=12) | st.from_type(int).map(str),
       digits=st.integers(-10**6, 10**6), tail=st.text(max_size=5))
def test_version_is_javascript_parse_int(value, digits, tail):
    """``parse_version`` never raises, gives an int, and reads the leading
    (optionally signed) decimal digits like ``parseInt``."""
    assert isinstance(parse_version(value), int)
    if not tail[:1].isdigit():
        assert parse_version(f" {digits}{tail}") == digits
