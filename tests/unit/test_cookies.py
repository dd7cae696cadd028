"""Unit tests for :mod:`wsframework.protocol.cookies`: parsing the request's
``Cookie`` header (reference §3.2) and writing ``Set-Cookie`` values for
``accept(cookies=...)`` with every rule and error text of reference §3.4."""

from __future__ import annotations

import datetime

import pytest

from wsframework.protocol.cookies import decode_uri_component, parse_cookies, serialize_cookies


def pairs(header):
    return [(c["name"], c["value"]) for c in parse_cookies(header)]


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize("header, expected", [
    (None, []),
    ("", []),
    ("a=1", [("a", "1")]),
    ("a=1; b=2", [("a", "1"), ("b", "2")]),
    ("a=1;b=2", [("a", "1"), ("b", "2")]),
    ("a=1, b=2", [("a", "1"), ("b", "2")]),          # commas separate too
    ("a=1;   b=2,c=3", [("a", "1"), ("b", "2"), ("c", "3")]),
    ("a=1; a=2", [("a", "1"), ("a", "2")]),          # duplicates are kept
    ("  a  =  1  ", [("a", "1")]),                   # name and value trimmed
    ("a=b=c", [("a", "b=c")]),
    ("a=", [("a", "")]),
    ('a="quoted value"', [("a", "quoted value")]),
    ('a=""x""', [("a", '"x"')]),                     # one pair of quotes only
    ('a=""', [("a", "")]),
    ("a=caf%C3%A9", [("a", "café")]),
    ("a=1%2B1%3B%20x", [("a", "1+1; x")]),
    ("a=x+y", [("a", "x+y")]),                       # '+' is not a space
    ('a="%41"', [("a", "A")]),                       # unquoted, then decoded
    ("a=é", [("a", "é")]),
])
def test_parse_cookies(header, expected):
    assert pairs(header) == expected


def test_pair_without_equals_sign():
    # The whole pair becomes the name, untrimmed, and the value is None.
    assert pairs("flag; a=1; other ") == [("flag", None), ("a", "1"), ("other ", None)]


def test_cookies_have_attribute_access():
    (cookie,) = parse_cookies("session=abc")
    assert cookie.name == "session" and cookie.value == "abc"


@pytest.mark.parametrize("header", ["a=%", "a=%4", "a=%zz", "a=100%", "a=%E9",
                                    "a=%ED%A0%80", "a=%C3", "ok=1; a=%FF"])
def test_uri_malformed(header):
    with pytest.raises(ValueError) as info:
        parse_cookies(header)
    assert str(info.value) == "URI malformed"


@pytest.mark.parametrize("value, expected", [
    ("", ""), ("plain", "plain"), ("%20", " "), ("%e2%82%ac", "€"), ("%F0%9F%98%80", "😀"),
])
def test_decode_uri_component(value, expected):
    assert decode_uri_component(value) == expected


# ------------------------------------------------------------ serializing
def one(**cookie):
    (line,) = serialize_cookies([cookie])
    return line


def error(cookies):
    with pytest.raises(ValueError) as info:
        serialize_cookies(cookies)
    return str(info.value)


def test_basic_cookie():
    assert one(name="a", value="b") == "a=b"


def test_several_cookies():
    assert serialize_cookies([{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]) == [
        "a=1", "b=2"]
    assert serialize_cookies([]) == []
    assert serialize_cookies(({"name": "a", "value": "1"},)) == ["a=1"]


def test_every_attribute_in_order():
    line = one(httponly=True, secure=True, maxage=3600,
               expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
               domain="Example.COM", path="/chat", value="v", name="n")
    assert line == ("n=v;Path=/chat;Domain=example.com;"
                    "Expires=Wed, 02 Jan 2030 03:04:05 GMT;Max-Age=3600;Secure;HttpOnly")


def test_expires_naive_is_utc():
    assert one(name="n", value="v", expires=datetime.datetime(1999, 12, 31, 23, 59, 59)) == (
        "n=v;Expires=Fri, 31 Dec 1999 23:59:59 GMT")


def test_expires_aware_is_converted_to_gmt():
    tz = datetime.timezone(datetime.timedelta(hours=2))
    assert one(name="n", value="v", expires=datetime.datetime(2030, 1, 2, 5, 4, 5, tzinfo=tz)) == (
        "n=v;Expires=Wed, 02 Jan 2030 03:04:05 GMT")


@pytest.mark.parametrize("maxage, written", [
    (60, "60"), ("30", "30"), (1.4, "1"), (59.6, "60"), (2.5, "3"), (0.5, "1"),
])
def test_max_age_is_rounded(maxage, written):
    # Node: Math.round, which rounds halves up.
    assert one(name="n", value="v", maxage=maxage) == f"n=v;Max-Age={written}"


@pytest.mark.parametrize("flags, suffix", [
    ({"secure": True}, ";Secure"), ({"httponly": True}, ";HttpOnly"),
    ({"secure": False, "httponly": False}, ""), ({"secure": True, "httponly": True},
                                                 ";Secure;HttpOnly"),
])
def test_flags(flags, suffix):
    assert one(name="n", value="v", **flags) == "n=v" + suffix


def test_controls_and_semicolons_are_removed_from_name_and_value():
    assert one(name="a\r\n", value="b;c d\x00") == "a=bcd"


def test_quoted_value_is_allowed():
    assert one(name="a", value='"abc"') == 'a="abc"'


# ----------------------------------------------------- serializing errors
NAME_VALUE = 'Each cookie to set must at least provide a "name" and "value"'


@pytest.mark.parametrize("cookies", [{"name": "a", "value": "b"}, "a=b", None, 5])
def test_cookies_must_be_a_list(cookies):
    assert error(cookies) == 'Value supplied for "cookies" argument must be an array.'


@pytest.mark.parametrize("cookie", [
    {"name": "a"}, {"value": "b"}, {"name": "a", "value": ""}, {"name": "", "value": "b"},
    {"name": "\r\n", "value": "b"}, {"name": "a", "value": " ;"}, {},
])
def test_name_and_value_required(cookie):
    assert error([cookie]) == NAME_VALUE


def test_duplicate_names():
    assert error([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}]) == (
        "You may not specify the same cookie name twice.")


def test_duplicate_names_after_stripping():
    assert error([{"name": "a", "value": "1"}, {"name": "a\r\n", "value": "2"}]) == (
        "You may not specify the same cookie name twice.")


@pytest.mark.parametrize("char", list('"(),/:<=>?@[\\]^{}') + ["\x7f"])
def test_illegal_name_characters(char):
    # (';' and 0x00-0x20 are stripped silently, so they are never reported.)
    assert error([{"name": f"a{char}b", "value": "v"}]) == f"Illegal character {char} in cookie name"


@pytest.mark.parametrize("char", ['"', ",", "\\", "\x7f", "é"])
def test_illegal_value_characters(char):
    assert error([{"name": "n", "value": f"a{char}b"}]) == f"Illegal character {char} in cookie value"


def test_illegal_value_character_inside_quotes():
    assert error([{"name": "n", "value": '"a,b"'}]) == "Illegal character , in cookie value"


@pytest.mark.parametrize("value", ["!#$%&'()*+-./09:<=>?@AZ[]^_`az{|}~"])
def test_every_legal_value_character(value):
    assert one(name="n", value=value) == f"n={value}"


@pytest.mark.parametrize("path, char", [("/a b", " "), ("/a;b", ";"), ("/a\nb", "\n"),
                                        ("/a\x00", "\x00")])
def test_illegal_path_characters(path, char):
    assert error([{"name": "n", "value": "v", "path": path}]) == (
        f"Illegal character {char} in cookie path")


def test_domain_must_be_a_string():
    assert error([{"name": "n", "value": "v", "domain": 123}]) == (
        "Domain must be specified and must be a string.")


@pytest.mark.parametrize("domain, char", [("ex ample.com", " "), ("a;b", ";"), ("a\rb", "\r")])
def test_illegal_domain_characters(domain, char):
    assert error([{"name": "n", "value": "v", "domain": domain}]) == (
        f"Illegal character {char} in cookie domain")


@pytest.mark.parametrize("expires", ["Wed, 02 Jan 2030 03:04:05 GMT", 1893553445, True])
def test_expires_must_be_a_date(expires):
    assert error([{"name": "n", "value": "v", "expires": expires}]) == (
        'Value supplied for cookie "expires" must be a vaild date object')


@pytest.mark.parametrize("maxage", [-1, -0.5, "abc", "-5", float("nan")])
def test_maxage_must_be_positive_number(maxage):
    assert error([{"name": "n", "value": "v", "maxage": maxage}]) == (
        'Value supplied for cookie "maxage" must be a non-zero number')


@pytest.mark.parametrize("flag", ["secure", "httponly"])
@pytest.mark.parametrize("setting", [1, "yes", "true"])
def test_flags_must_be_booleans(flag, setting):
    assert error([{"name": "n", "value": "v", flag: setting}]) == (
        f'Value supplied for cookie "{flag}" must be of type boolean')
