"""Unit tests for :mod:`wsframework.protocol.headers`: WebSocket-Node's splitting of
``Sec-WebSocket-Protocol``, ``Sec-WebSocket-Extensions`` and
``X-Forwarded-For`` (reference §3.2, §3.3), and HTTP token checking."""

from __future__ import annotations

import pytest

from wsframework.protocol import extensions, headers, http11
from wsframework.protocol.extensions import parse_extension_header
from wsframework.protocol.headers import (AttrDict, parse_extensions, parse_forwarded_for,
                                 parse_protocols, invalid_token_char)
from wsframework.protocol.http11 import check_field_name, is_token


# -------------------------------------------------------------- protocols
@pytest.mark.parametrize("header, expected", [
    (None, []),
    ("", []),
    ("chat", ["chat"]),
    ("Chat, SuperChat", ["chat", "superchat"]),
    ("a,b,  c", ["a", "b", "c"]),
    ("a,,b", ["a", "", "b"]),          # empty entries are kept
    ("a , b", ["a ", "b"]),            # space before a comma is kept
    (" a", [" a"]),
])
def test_parse_protocols_list(header, expected):
    assert parse_protocols(header)[0] == expected


def test_parse_protocols_full_case_map():
    protocols, full_case = parse_protocols("Chat, SuperChat,echo")
    assert protocols == ["chat", "superchat", "echo"]
    assert full_case == {"chat": "Chat", "superchat": "SuperChat", "echo": "echo"}


def test_parse_protocols_empty_map():
    assert parse_protocols(None) == ([], {})


# ------------------------------------------------------------- extensions
# parse_extensions is Node's shape over the one RFC parser
# (extensions.parse_extension_header): the cases below are those both
# parsers used to cover, with the stricter reading where they differed.
def test_parse_extensions():
    result = parse_extensions(
        'permessage-deflate; client_max_window_bits, X-Foo;A=1; b="Two", bare')
    assert result == [
        {"name": "permessage-deflate",
         "params": [{"name": "client_max_window_bits", "value": None}]},
        {"name": "x-foo", "params": [{"name": "a", "value": "1"},
                                     {"name": "b", "value": "two"}]},   # unquoted
        {"name": "bare", "params": []},
    ]


def test_parse_extensions_attribute_access():
    (ext,) = parse_extensions("foo; bar=baz")
    assert isinstance(ext, AttrDict)
    assert ext.name == "foo"
    assert ext.params[0].name == "bar" and ext.params[0].value == "baz"
    with pytest.raises(AttributeError):
        ext.missing


@pytest.mark.parametrize("header", [None, ""])
def test_parse_extensions_empty(header):
    assert parse_extensions(header) == []


@pytest.mark.parametrize("header, expected", [
    ("a,,b", ["a", "b"]),                   # empty elements are skipped
    ("a , b", ["a", "b"]),                  # blanks around names are not part of them
    (" a ;\tk = 1 ", ["a"]),
    ('a; k="x,y", b', None),                # a comma inside quotes is not a separator
])
def test_parse_extensions_whitespace_and_empty_elements(header, expected):
    result = parse_extensions(header)
    if expected is None:
        assert result == []                 # "x,y" is not a token: malformed
    else:
        assert [ext.name for ext in result] == expected


@pytest.mark.parametrize("header", [
    "e; k=a=b",             # a value that is not a token
    "e; empty=",            # an empty value
    "e; =1",                # a parameter without a name
    "a b",                  # a name that is not a token
    'e; k="open',           # an unterminated quoted string
    "caf\u00e9",
])
def test_malformed_extension_headers_read_as_none_offered(header):
    assert parse_extensions(header) == []


@pytest.mark.parametrize("header", [
    'permessage-deflate; client_max_window_bits, X-Foo;A=1; b="Two", bare',
    "a,,b", "a , b", "e; k=a=b", 'x; y="z', "permessage-deflate; server_max_window_bits=10",
])
def test_node_shape_and_rfc_parse_agree(header):
    try:
        elements = parse_extension_header([header])
    except ValueError:
        elements = []
    assert parse_extensions(header) == [
        {"name": name, "params": [{"name": key, "value": None if value is None else value.lower()}
                                  for key, value in params]} for name, params in elements]


# -------------------------------------------------------- X-Forwarded-For
@pytest.mark.parametrize("header, expected", [
    (None, ["10.0.0.9"]),
    ("", ["10.0.0.9"]),
    ("1.2.3.4", ["1.2.3.4", "10.0.0.9"]),
    ("1.2.3.4, 5.6.7.8", ["1.2.3.4", "5.6.7.8", "10.0.0.9"]),
    ("1.2.3.4,5.6.7.8,  ::1", ["1.2.3.4", "5.6.7.8", "::1", "10.0.0.9"]),
])
def test_parse_forwarded_for(header, expected):
    assert parse_forwarded_for(header, "10.0.0.9") == expected


# ----------------------------------------------------------------- tokens
@pytest.mark.parametrize("value", ["chat", "echo-protocol", "v1.chat_x", "a!#$%&'*+-.^`|~z",
                                   "", "\x21\x7e"])
def test_valid_tokens(value):
    assert invalid_token_char(value) is None


@pytest.mark.parametrize("value, char", [
    ("a b", " "), ("a\tb", "\t"), ("x/y", "/"), ("a,b", ","), ("a;b", ";"), ("a=b", "="),
    ('a"b', '"'), ("(", "("), (")", ")"), ("<", "<"), (">", ">"), ("@", "@"), (":", ":"),
    ("\\", "\\"), ("[", "["), ("]", "]"), ("?", "?"), ("{", "{"), ("}", "}"),
    ("ok\x7f", "\x7f"), ("\x00", "\x00"), ("ok\x20", " "), ("caf\u00e9", "\u00e9"),
    ("ab/c d", "/"),   # the first bad character is reported
])
def test_invalid_token_char(value, char):
    assert invalid_token_char(value) == char


def test_one_token_check():
    # http11 owns HTTP syntax; the old import path names the same objects.
    assert headers.invalid_token_char is http11.invalid_token_char
    assert headers.SEPARATORS is http11.SEPARATORS
    assert extensions.is_token is http11.is_token


@pytest.mark.parametrize("value", ["chat", "x-foo", "a!#$%&'*+-.^`|~z", "\x21\x7e"])
def test_is_token(value):
    assert is_token(value)
    assert check_field_name(value) == value


@pytest.mark.parametrize("value", ["", "a b", "a,b", "x/y", "caf\u00e9", "ok\x7f", 'a"b'])
def test_is_not_token(value):
    assert not is_token(value)
    with pytest.raises(ValueError, match="Invalid header name"):
        check_field_name(value)
