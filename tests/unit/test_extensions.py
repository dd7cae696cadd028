"""The extension mechanism (wsframework/protocol/extensions.py): parsing and writing
``Sec-WebSocket-Extensions`` (RFC 6455 §9.1) and the :class:`Extension`
base with its hooks, as the frame parser uses them."""

from __future__ import annotations

import pytest

from wsframework.exceptions import PayloadTooBig, ProtocolError
from wsframework.protocol.extensions import Extension, format_extension, parse_extension_header
from wsframework.protocol.frame import encode_frame
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader


# -------------------------------------------------------------- parsing
@pytest.mark.parametrize("values, expected", [
    (["permessage-deflate"], [("permessage-deflate", [])]),
    (["permessage-deflate; client_max_window_bits"],
     [("permessage-deflate", [("client_max_window_bits", None)])]),
    (["permessage-deflate; server_max_window_bits=10; client_no_context_takeover"],
     [("permessage-deflate", [("server_max_window_bits", "10"),
                              ("client_no_context_takeover", None)])]),
    # A quoted value is unquoted (RFC 6455 §9.1: it must then be a token).
    (['permessage-deflate; client_max_window_bits="10"'],
     [("permessage-deflate", [("client_max_window_bits", "10")])]),
    (['x-ext; a="quoted-token"; b=plain'],
     [("x-ext", [("a", "quoted-token"), ("b", "plain")])]),
    # Names are case-insensitive (lowercased); values keep their case.
    (["Permessage-Deflate; Server_Max_Window_Bits=10"],
     [("permessage-deflate", [("server_max_window_bits", "10")])]),
    (["x-ext; mode=Fast"], [("x-ext", [("mode", "Fast")])]),
    # Optional whitespace around the separators.
    (["  permessage-deflate ;client_max_window_bits ;  server_max_window_bits=9  "],
     [("permessage-deflate", [("client_max_window_bits", None),
                              ("server_max_window_bits", "9")])]),
])
def test_parse_one_element(values, expected):
    assert parse_extension_header(values) == expected


def test_several_offers_in_one_header_keep_their_order():
    header = ("permessage-deflate; client_max_window_bits; server_max_window_bits=10, "
              "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame")
    assert parse_extension_header([header]) == [
        ("permessage-deflate", [("client_max_window_bits", None),
                                ("server_max_window_bits", "10")]),
        ("permessage-deflate", [("client_max_window_bits", None)]),
        ("x-webkit-deflate-frame", []),
    ]


def test_offers_across_repeated_headers_keep_their_order():
    # Several header lines are one list (RFC 7230 §3.2.2), in order.
    values = ["x-first; a=1, permessage-deflate; server_no_context_takeover",
              "permessage-deflate",
              'x-last; b="2"']
    assert parse_extension_header(values) == [
        ("x-first", [("a", "1")]),
        ("permessage-deflate", [("server_no_context_takeover", None)]),
        ("permessage-deflate", []),
        ("x-last", [("b", "2")]),
    ]


def test_empty_list_elements_are_ignored():
    # RFC 7230 §7: a recipient accepts and ignores empty list elements.
    assert parse_extension_header([" , permessage-deflate ,, ", ""]) == [
        ("permessage-deflate", [])]
    assert parse_extension_header([]) == []


@pytest.mark.parametrize("value", [
    'permessage-deflate; client_max_window_bits="10',   # unterminated quote
    'permessage-deflate; x="a, b"',                      # quoted value not a token
    'permessage-deflate; x="a;b"',
    'permessage-deflate; x="a b"',
    'permessage-deflate; x=""',                          # empty quoted value
    "permessage-deflate; x=",                            # empty value
    "permessage-deflate; x=1=2",
    "permessage-deflate; =10",                           # no parameter name
    "permessage-deflate;;",                              # empty parameter
    "permessage-deflate; a b",                           # space inside a name
    "; client_max_window_bits",                          # no extension name
    "permessage deflate",
    "permessage-deflate/1",                              # separator in a name
    "pérmessage-deflate",                                # not ASCII
    "permessage-deflate; x=\x01",                        # control character
    "permessage-deflate; x=1\"2\"",                      # quote inside a token
])
def test_malformed_headers_raise_value_error(value):
    with pytest.raises(ValueError):
        parse_extension_header([value])


def test_one_malformed_value_among_several_fails_the_whole_header():
    with pytest.raises(ValueError):
        parse_extension_header(["permessage-deflate", "x-bad; ="])


# -------------------------------------------------------------- writing
@pytest.mark.parametrize("name, params, expected", [
    ("permessage-deflate", [], "permessage-deflate"),
    ("permessage-deflate", [("client_max_window_bits", None)],
     "permessage-deflate; client_max_window_bits"),
    ("permessage-deflate", [("server_no_context_takeover", None),
                            ("server_max_window_bits", "10"),
                            ("client_max_window_bits", "9")],
     "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; "
     "client_max_window_bits=9"),
    ("x-ext", iter([("a", "1"), ("b", None)]), "x-ext; a=1; b"),  # any iterable
])
def test_format_extension(name, params, expected):
    assert format_extension(name, params) == expected


@pytest.mark.parametrize("params", [
    [], [("a", None)], [("a", "1"), ("b", None), ("c", "x-y.z")],
])
def test_format_then_parse_round_trips(params):
    header = format_extension("x-ext", params)
    assert parse_extension_header([header]) == [("x-ext", params)]
    # Two formatted elements joined with a comma are one header.
    assert parse_extension_header([header + ", " + header]) == [("x-ext", params)] * 2


# ---------------------------------------------------------- the base class
def test_extension_base_defaults():
    extension = Extension()
    assert extension.name == "" and extension.rsv_mask == 0
    assert extension.params == []
    assert extension.begin_message(0b100) is False
    assert extension.begin_message(0) is False
    assert extension.decode(b"payload", True, 10) == b"payload"
    assert extension.encode(b"payload") == (0, b"payload")


def test_extension_params_are_copied():
    params = [("a", "1")]
    extension = Extension(params)
    params.append(("b", None))
    assert extension.params == [("a", "1")]
    assert Extension(iter([("x", None)])).params == [("x", None)]


class Upper(Extension):
    name = "x-upper"


def test_extension_str_repr_and_equality():
    extension = Upper([("level", "3"), ("strict", None)])
    assert str(extension) == "x-upper; level=3; strict"
    assert repr(extension) == "<Upper x-upper; level=3; strict>"
    # A str compares with the name, so `"x-upper" in connection.extensions` works.
    assert extension == "x-upper"
    assert extension != "x-lower"
    assert "x-upper" in [extension]
    assert (extension == 42) is False
    assert extension == extension
    assert extension != Upper([("level", "3"), ("strict", None)])  # identity otherwise
    # Hashable (by identity) although __eq__ is overridden.
    assert len({extension, extension, Upper()}) == 2


# ----------------------------------------------------- hooks in the parser
class Reverse(Extension):
    """A toy extension on RSV2: reverses each frame's payload, records the
    calls the parser makes."""

    name = "x-reverse"
    rsv_mask = 0b010

    def __init__(self) -> None:
        super().__init__()
        self.calls: list = []

    def begin_message(self, rsv: int) -> bool:
        self.calls.append(("begin", rsv))
        return bool(rsv & self.rsv_mask)

    def decode(self, payload: bytes, fin: bool, max_size: int) -> bytes:
        self.calls.append(("decode", bytes(payload), fin, max_size))
        if len(payload) > max_size:
            raise PayloadTooBig("too big")
        return bytes(reversed(payload))

    def encode(self, payload: bytes) -> tuple[int, bytes]:
        return self.rsv_mask, bytes(reversed(payload))


def parse(data: bytes, extensions, **kwargs):
    options = {"expect_masked": True, "max_frame_size": 1 << 20, "max_message_size": 1 << 20}
    options.update(kwargs)
    parser = FrameParser(BufferedReader.from_bytes(data), extensions=extensions, **options)
    events = []
    while True:
        try:
            events.append(parser.next_event())
        except EOFError:
            return events


def test_parser_calls_the_hooks_for_messages_it_claims():
    ext = Reverse()
    data = (encode_frame(0x2, b"olleh", rsv=0b010, mask=True)
            + encode_frame(0x1, b"plain", mask=True)
            + encode_frame(0x1, b"cba", rsv=0b010, fin=False, mask=True)
            + encode_frame(0x9, b"ping", mask=True)       # control frames are never decoded
            + encode_frame(0x0, b"fed", fin=True, mask=True))
    events = parse(data, [ext], max_message_size=100)
    assert [(e.type, e.data) for e in events if hasattr(e, "data")] == [
        ("binary", b"hello"), ("utf8", "plain"), ("utf8", "abcdef")]
    # (A message without RSV bits may skip begin_message: extensions only
    # act on messages carrying their bits, as Extension.begin_message says.)
    assert [call for call in ext.calls if call != ("begin", 0)] == [
        ("begin", 0b010), ("decode", b"olleh", True, 100),
        ("begin", 0b010), ("decode", b"cba", False, 100),
        # The budget left for the rest of the message shrinks.
        ("decode", b"fed", True, 97),
    ]


def test_rsv_bits_need_an_extension_that_owns_them():
    frame = encode_frame(0x2, b"x", rsv=0b010, mask=True)
    with pytest.raises(ProtocolError) as failed:
        parse(frame, [])
    assert failed.value.code == 1002
    # RSV1 is not Reverse's bit.
    with pytest.raises(ProtocolError) as failed:
        parse(encode_frame(0x2, b"x", rsv=0b100, mask=True), [Reverse()])
    assert failed.value.code == 1002


def test_decode_errors_propagate_from_the_hook():
    with pytest.raises(PayloadTooBig) as failed:
        parse(encode_frame(0x2, b"x" * 11, rsv=0b010, mask=True), [Reverse()],
              max_message_size=10)
    assert failed.value.code == 1009
