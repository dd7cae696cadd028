"""Unit tests for the opening handshake: :mod:`wsframework.protocol.handshake`
(keys, request and response checks, the heads each side writes) and
:mod:`wsframework.protocol.http11` (reading and parsing heads), without sockets.

Texts are WebSocket-Node's (reference §3.2, §3.4, §5); the checks Node
leaves out follow §9 items 13, 15 and 16.
"""

from __future__ import annotations

import pytest

from wsframework.exceptions import HandshakeError, WebSocketHandshakeError
from wsframework.protocol.handshake import (GUID, accept_key, accept_response, check_request,
                                   check_response, client_request, generate_key,
                                   header_has_token, is_valid_key, non_101_message,
                                   parse_version, reject_response)
from wsframework.protocol.http11 import (MAX_HEAD_SIZE, parse_request, parse_response, read_head,
                                status_text, clean_field_value)
from wsframework.protocol.streams import BufferedReader

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# ------------------------------------------------------------------- keys
def test_accept_key_rfc_example():
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    assert accept_key(KEY) == ACCEPT


def test_generate_key():
    keys = {generate_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert len(key) == 24 and is_valid_key(key)


@pytest.mark.parametrize("key, valid", [
    (KEY, True),
    ("AAAAAAAAAAAAAAAAAAAAAA==", True),
    ("", False),
    ("abc", False),
    ("dGhlIHNhbXBsZSBub25jZQ", False),            # padding missing
    ("dGhlIHNhbXBsZSBub25jZQ==x", False),
    ("not base64 at all!!!!!!!", False),
    ("AAAAAAAAAAAAAAAAAAAA", False),              # 15 bytes
    ("AAAAAAAAAAAAAAAAAAAAAAA=", False),          # 17 bytes
    ("é" * 24, False),
])
def test_is_valid_key(key, valid):
    assert is_valid_key(key) is valid


@pytest.mark.parametrize("value, expected", [
    ("13", 13), ("8", 8), ("13abc", 13), (" 13", 13), ("8.5", 8), ("+13", 13),
    ("-7", -7), ("0x13", 0), ("abc", 0), ("", 0), (None, 0), ("  ", 0),
])
def test_parse_version_is_parse_int(value, expected):
    assert parse_version(value) == expected


# ---------------------------------------------------------- check_request
VALID_HEADERS = [
    ("Host", "example.com"),
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", KEY),
    ("Sec-WebSocket-Version", "13"),
]


def request(method="GET", version="1.1", drop=(), **replace):
    """A parsed request head built from VALID_HEADERS: headers named in
    ``drop`` are left out; ``replace`` (underscores for dashes) sets values."""
    replace = {k.replace("_", "-").lower(): v for k, v in replace.items()}
    lines = [f"{method} /chat?x=1 HTTP/{version}"]
    for name, value in VALID_HEADERS:
        if name in drop:
            continue
        lines.append(f"{name}: {replace.pop(name.lower(), value)}")
    lines.extend(f"{name}: {value}" for name, value in replace.items())
    return parse_request(("\r\n".join(lines) + "\r\n\r\n").encode())


def rejection(req) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        check_request(req)
    return info.value


def test_valid_request():
    assert check_request(request()) == ("example.com", KEY, 13)


@pytest.mark.parametrize("replace, version", [
    ({"Sec_WebSocket_Version": "8"}, 8),
    ({"Sec_WebSocket_Version": "13abc"}, 13),
    ({"Connection": "keep-alive, Upgrade"}, 13),
    ({"Connection": "upgrade"}, 13),
    ({"Upgrade": "WebSocket"}, 13),
])
def test_accepted_variants(replace, version):
    assert check_request(request(**replace))[2] == version


def test_http_2_0_request_line_is_accepted():
    assert check_request(request(version="2.0"))[2] == 13


@pytest.mark.parametrize("req_kwargs, status, text", [
    (dict(method="POST"), 400, "Client must use the GET method."),
    (dict(version="1.0"), 400, "Client must use HTTP/1.1 or higher."),
    (dict(drop=("Upgrade",)), 400, "Client must provide an Upgrade: websocket header."),
    (dict(Upgrade="foo"), 400, "Client must provide an Upgrade: websocket header."),
    (dict(drop=("Connection",)), 400, "Client must provide a Connection: Upgrade header."),
    (dict(Connection="keep-alive"), 400, "Client must provide a Connection: Upgrade header."),
    (dict(drop=("Host",)), 400, "Client must provide a Host header."),
    (dict(Host=""), 400, "Client must provide a Host header."),
    (dict(drop=("Sec-WebSocket-Key",)), 400,
     "Client must provide a value for Sec-WebSocket-Key."),
    (dict(Sec_WebSocket_Key=""), 400, "Client must provide a value for Sec-WebSocket-Key."),
    # RFC 6455 §4.2.2: a version we cannot read is one we do not support.
    (dict(drop=("Sec-WebSocket-Version",)), 426,
     "Client must provide a value for Sec-WebSocket-Version."),
    (dict(Sec_WebSocket_Version="abc"), 426,
     "Client must provide a value for Sec-WebSocket-Version."),
    (dict(Sec_WebSocket_Version="0"), 426,
     "Client must provide a value for Sec-WebSocket-Version."),
])
def test_request_failures(req_kwargs, status, text):
    error = rejection(request(**req_kwargs))
    assert error.status == status
    assert str(error) == text
    assert error.headers == ({"Sec-WebSocket-Version": "13"} if status == 426 else {})


def test_invalid_key_format():
    # §9 item 13: the key must be base64 of 16 bytes (port text).
    error = rejection(request(Sec_WebSocket_Key="not-a-valid-key"))
    assert error.status == 400
    assert "Sec-WebSocket-Key" in str(error)
    assert str(error) != "Client must provide a value for Sec-WebSocket-Key."


@pytest.mark.parametrize("version", ["7", "12", "14", "7abc"])
def test_unsupported_version(version):
    error = rejection(request(Sec_WebSocket_Version=version))
    assert error.status == 426
    assert error.headers == {"Sec-WebSocket-Version": "13"}
    number = int(version.rstrip("abc"))
    assert str(error) == (f"Unsupported websocket client version: {number}"
                          "Only versions 8 and 13 are supported.")


def test_unsupported_version_7_text():
    assert str(rejection(request(Sec_WebSocket_Version="7"))) == (
        "Unsupported websocket client version: 7Only versions 8 and 13 are supported.")


@pytest.mark.parametrize("req_kwargs, text", [
    (dict(method="POST", version="1.0", drop=("Upgrade", "Host")),
     "Client must use the GET method."),
    (dict(version="1.0", drop=("Upgrade", "Host")), "Client must use HTTP/1.1 or higher."),
    (dict(drop=("Upgrade", "Connection", "Host")),
     "Client must provide an Upgrade: websocket header."),
    (dict(drop=("Connection", "Host")), "Client must provide a Connection: Upgrade header."),
    (dict(drop=("Host", "Sec-WebSocket-Key", "Sec-WebSocket-Version")),
     "Client must provide a Host header."),
    (dict(drop=("Sec-WebSocket-Key", "Sec-WebSocket-Version")),
     "Client must provide a value for Sec-WebSocket-Key."),
    (dict(drop=("Sec-WebSocket-Version",), Sec_WebSocket_Key=KEY),
     "Client must provide a value for Sec-WebSocket-Version."),
])
def test_first_failure_wins(req_kwargs, text):
    assert str(rejection(request(**req_kwargs))) == text


def test_invalid_key_is_reported_before_the_version():
    error = rejection(request(Sec_WebSocket_Key="short", Sec_WebSocket_Version="7"))
    assert error.status == 400


# -------------------------------------------------------- accept_response
def test_accept_response_minimal():
    assert accept_response(KEY) == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
        b"\r\n")


def test_accept_response_header_order():
    head = accept_response(KEY, protocol="Chat", origin="http://example.com",
                           cookie_lines=["a=1", "b=2;Path=/"])
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + ACCEPT.encode() + b"\r\n"
        b"Sec-WebSocket-Protocol: Chat\r\n"
        b"Origin: http://example.com\r\n"
        b"Set-Cookie: a=1\r\n"
        b"Set-Cookie: b=2;Path=/\r\n"
        b"\r\n")


def test_accept_response_version_8_origin_header():
    head = accept_response(KEY, origin="http://example.com", websocket_version=8)
    assert b"\r\nSec-WebSocket-Origin: http://example.com\r\n" in head
    assert b"\r\nOrigin:" not in head


def test_accept_response_strips_crlf_from_origin():
    head = accept_response(KEY, origin="http://a\r\nSet-Cookie: evil=1")
    assert b"Origin: http://aSet-Cookie: evil=1\r\n" in head
    assert parse_response(head).headers.get_all("Set-Cookie") is None


def test_accept_response_never_offers_extensions_unless_asked():
    assert b"Extensions" not in accept_response(KEY, protocol="x", origin="o")


# -------------------------------------------------------- reject_response
def test_reject_response_bytes():
    assert reject_response(404, "No handler is configured to accept the connection.") == (
        b"HTTP/1.1 404 Not Found\r\n"
        b"Connection: close\r\n"
        b"X-WebSocket-Reject-Reason: No handler is configured to accept the connection.\r\n"
        b"\r\n")


def test_reject_response_without_reason():
    assert reject_response(403) == b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n"


def test_reject_response_extra_headers():
    head = reject_response(426, "Unsupported", {"Sec-WebSocket-Version": "13"})
    assert head == (b"HTTP/1.1 426 Upgrade Required\r\n"
                    b"Connection: close\r\n"
                    b"X-WebSocket-Reject-Reason: Unsupported\r\n"
                    b"Sec-WebSocket-Version: 13\r\n"
                    b"\r\n")


@pytest.mark.parametrize("status, text", [
    (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
    (407, "Proxy Authorization Required"), (413, "Request Entity Too Long"),
    (426, "Upgrade Required"), (500, "Internal Server Error"), (503, "Service Unavailable"),
    (101, "Switching Protocols"), (200, "OK"),
])
def test_status_texts(status, text):
    assert status_text(status) == text
    if status >= 400:
        assert reject_response(status).startswith(f"HTTP/1.1 {status} {text}\r\n".encode())


@pytest.mark.parametrize("status", [100, 101, 200, 204, 302, 399, 600, 999, True, "403"])
def test_reject_response_needs_an_error_status(status):
    with pytest.raises(ValueError, match="error status"):
        reject_response(status)


def test_reject_response_has_no_header_injection():
    head = reject_response(400, "bad\r\nSet-Cookie: a=1\r\n\r\nbody",
                           {"X-Extra": "v\r\nSet-Cookie: b=2"})
    assert head.count(b"\r\n\r\n") == 1 and head.endswith(b"\r\n\r\n")
    response = parse_response(head)
    assert response.headers.get_all("Set-Cookie") is None
    assert response.headers["X-WebSocket-Reject-Reason"] == "badSet-Cookie: a=1body"
    assert response.headers["X-Extra"] == "vSet-Cookie: b=2"


@pytest.mark.parametrize("name", ["X-Extra\r\nSet-Cookie: x", "bad name", "X:Y", "", "X\x00",
                                  "Caf\u00e9", "X\x7f"])
def test_header_names_that_are_not_tokens_are_refused(name):
    with pytest.raises(ValueError, match="Invalid header name"):
        reject_response(400, None, {name: "v"})
    with pytest.raises(ValueError, match="Invalid header name"):
        accept_response(KEY, extra_headers=[(name, "v")])


def test_clean_field_value():
    assert clean_field_value("a\rb\nc\r\n") == "abc"
    assert clean_field_value(13) == "13"
    # Every control character but TAB goes: C0, DEL and C1 (NEL is U+0085).
    assert clean_field_value("a\x00b\x0bc\x0cd\x7fe\x85f\x9fg\th\u00e9") == "abcdefg\th\u00e9"


# --------------------------------------------------------- client_request
def test_client_request_bytes():
    assert client_request("/chat?x=1", "example.com:8080", KEY) == (
        b"GET /chat?x=1 HTTP/1.1\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + KEY.encode() + b"\r\n"
        b"Host: example.com:8080\r\n"
        b"\r\n")


def test_client_request_protocols_and_origin():
    head = client_request("/", "h", KEY, protocols=["chat", "superchat"],
                          origin="http://o.example")
    req = parse_request(head)
    assert req.headers["Sec-WebSocket-Protocol"] == "chat, superchat"
    assert req.headers["Origin"] == "http://o.example"
    assert req.headers.get("Sec-WebSocket-Origin") is None
    assert check_request(req) == ("h", KEY, 13)
    names = [name for name, _ in req.headers.items()]
    assert names[-2:] == ["Sec-WebSocket-Protocol", "Origin"]


def test_client_request_version_8():
    req = parse_request(client_request("/", "h", KEY, websocket_version=8, origin="http://o"))
    assert req.headers["Sec-WebSocket-Version"] == "8"
    assert req.headers["Sec-WebSocket-Origin"] == "http://o"
    assert req.headers.get("Origin") is None


def test_client_request_user_headers():
    head = client_request("/", "example.com", KEY, headers=[
        ("X-Token", "abc"), ("upgrade", "h2c"), ("Sec-WebSocket-Key", "mine"),
        ("Host", "virtual.example")])
    req = parse_request(head)
    names = [name.lower() for name, _ in req.headers.items()]
    assert names[0] == "x-token"                      # user headers come first
    assert req.headers["X-Token"] == "abc"
    assert req.headers.get_all("Upgrade") == ["websocket"]   # fixed values win
    assert req.headers.get_all("Sec-WebSocket-Key") == [KEY]
    assert req.headers.get_all("Host") == ["virtual.example"]  # ... except Host


def test_client_request_strips_crlf_from_user_headers():
    head = client_request("/", "h", KEY, headers=[("X-A", "1\r\nX-Injected: 2")],
                          origin="o\r\nX-Evil: 1")
    req = parse_request(head)
    assert req.headers.get("X-Injected") is None and req.headers.get("X-Evil") is None
    assert req.headers["X-A"] == "1X-Injected: 2"


# --------------------------------------------------------- check_response
def response(status="101 Switching Protocols", drop=(), **replace):
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": ACCEPT}
    for name in drop:
        del headers[name]
    headers.update({k.replace("_", "-"): v for k, v in replace.items()})
    lines = [f"HTTP/1.1 {status}"] + [f"{n}: {v}" for n, v in headers.items()]
    return parse_response(("\r\n".join(lines) + "\r\n\r\n").encode())


def failure(resp, protocols=(), offered_extensions=False) -> WebSocketHandshakeError:
    with pytest.raises(WebSocketHandshakeError) as info:
        check_response(resp, KEY, list(protocols), offered_extensions)
    assert info.value.response is resp
    return info.value


def test_valid_response():
    assert check_response(response(), KEY, []) is None


def test_valid_response_with_protocol():
    resp = response(Sec_WebSocket_Protocol="superchat")
    assert check_response(resp, KEY, ["chat", "superchat"]) == "superchat"


@pytest.mark.parametrize("replace", [
    {"Connection": "upgrade"}, {"Upgrade": "WebSocket"},
    {"Connection": "keep-alive, Upgrade"},     # §9 item 15: a token list is fine
])
def test_response_variants_accepted(replace):
    assert check_response(response(**replace), KEY, []) is None


@pytest.mark.parametrize("resp_kwargs, protocols, text", [
    (dict(), ["chat"], "Expected a Sec-WebSocket-Protocol header."),
    (dict(Sec_WebSocket_Protocol="other"), ["chat"],
     "Server did not respond with a requested protocol."),
    (dict(Sec_WebSocket_Protocol="Chat"), ["chat"],
     "Server did not respond with a requested protocol."),
    (dict(Connection="keep-alive"), [], "Expected a Connection: Upgrade header from the server"),
    (dict(drop=("Connection",)), [], "Expected a Connection: Upgrade header from the server"),
    (dict(Upgrade="h2c"), [], "Expected an Upgrade: websocket header from the server"),
    (dict(drop=("Upgrade",)), [], "Expected an Upgrade: websocket header from the server"),
    (dict(drop=("Sec-WebSocket-Accept",)), [], "Expected Sec-WebSocket-Accept header from server"),
    (dict(Sec_WebSocket_Accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA="), [],
     f"Sec-WebSocket-Accept header from server didn't match expected value of {ACCEPT}"),
    # §9 item 16
    (dict(Sec_WebSocket_Protocol="chat"), [], "Server sent a subprotocol but none was requested"),
    (dict(Sec_WebSocket_Extensions="permessage-deflate"), [],
     "Server sent unrequested extensions"),
])
def test_response_failures(resp_kwargs, protocols, text):
    assert str(failure(response(**resp_kwargs), protocols)) == text


def test_offered_extensions_may_be_answered():
    resp = response(Sec_WebSocket_Extensions="permessage-deflate")
    assert check_response(resp, KEY, [], offered_extensions=True) is None


@pytest.mark.parametrize("resp_kwargs, protocols, text", [
    (dict(drop=("Connection", "Upgrade", "Sec-WebSocket-Accept")), ["chat"],
     "Expected a Sec-WebSocket-Protocol header."),
    (dict(Sec_WebSocket_Protocol="x", drop=("Connection", "Upgrade")), ["chat"],
     "Server did not respond with a requested protocol."),
    (dict(drop=("Connection", "Upgrade", "Sec-WebSocket-Accept")), [],
     "Expected a Connection: Upgrade header from the server"),
    (dict(drop=("Upgrade", "Sec-WebSocket-Accept")), [],
     "Expected an Upgrade: websocket header from the server"),
    (dict(drop=("Sec-WebSocket-Accept",), Sec_WebSocket_Extensions="x"), [],
     "Expected Sec-WebSocket-Accept header from server"),
])
def test_response_first_failure_wins(resp_kwargs, protocols, text):
    assert str(failure(response(**resp_kwargs), protocols)) == text


def test_non_101_message():
    resp = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                          b"X-Thing: a b\r\n\r\n")
    assert non_101_message(resp) == (
        "Server responded with a non-101 status: 404 Not Found\n"
        "Response Headers Follow:\n"
        "content-type: text/plain\n"
        "x-thing: a b\n")


def test_non_101_message_without_headers():
    resp = parse_response(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")
    assert non_101_message(resp) == ("Server responded with a non-101 status: 503 "
                                     "Service Unavailable\nResponse Headers Follow:\n")


@pytest.mark.parametrize("value, token, present", [
    ("Upgrade", "upgrade", True), ("keep-alive, Upgrade", "upgrade", True),
    ("keep-alive,upgrade", "UPGRADE", True), ("upgrades", "upgrade", False),
    ("keep-alive", "upgrade", False),
])
def test_header_has_token(value, token, present):
    headers = parse_request(f"GET / HTTP/1.1\r\nConnection: {value}\r\n\r\n".encode()).headers
    assert header_has_token(headers, "Connection", token) is present


def test_header_has_token_over_repeated_headers():
    headers = parse_request(b"GET / HTTP/1.1\r\nConnection: keep-alive\r\n"
                            b"Connection: Upgrade\r\n\r\n").headers
    assert header_has_token(headers, "connection", "upgrade")
    assert not header_has_token(headers, "Upgrade", "websocket")


# --------------------------------------------------------------- http11
def test_parse_request():
    req = parse_request(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n"
                        b"sec-websocket-key: abc\r\nX-Multi: 1\r\nX-Multi: 2\r\n\r\n")
    assert req.method == "GET"
    assert req.path == req.url == "/chat?room=1"
    assert req.http_version == "1.1"
    assert req.headers["host"] == "example.com"
    assert req.headers["Sec-WebSocket-Key"] == "abc"
    assert req.headers.get_all("x-multi") == ["1", "2"]


@pytest.mark.parametrize("head", [
    b"GET /\r\n\r\n",
    b"GET / HTTP/1\r\n\r\n",
    b"GET  / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n",
    b"GET / FTP/1.1\r\n\r\n",
    b"\r\n\r\n",
    b"garbage\r\n\r\n",
])
def test_parse_request_malformed_line(head):
    with pytest.raises(HandshakeError) as info:
        parse_request(head)
    assert info.value.status == 400
    assert str(info.value) == "Malformed HTTP request line."


@pytest.mark.parametrize("header_lines", [
    b"no colon here\r\n",
    b" folded-first-line\r\nHost: x\r\n",
    b"Bad Name: x\r\n",
])
def test_parse_request_malformed_headers(header_lines):
    with pytest.raises(HandshakeError) as info:
        parse_request(b"GET / HTTP/1.1\r\n" + header_lines + b"\r\n")
    assert info.value.status == 400


def test_parse_request_too_many_headers():
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    with pytest.raises(HandshakeError) as info:
        parse_request(b"GET / HTTP/1.1\r\n" + lines + b"\r\n")
    assert info.value.status == 431


def test_parse_response():
    resp = parse_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    assert (resp.status, resp.reason, resp.http_version) == (101, "Switching Protocols", "1.1")
    assert (resp.status_code, resp.status_message) == (101, "Switching Protocols")
    assert resp.headers["upgrade"] == "websocket"


def test_parse_response_without_reason():
    resp = parse_response(b"HTTP/1.1 101\r\n\r\n")
    assert (resp.status, resp.reason) == (101, "")


@pytest.mark.parametrize("head", [b"HTTP/1.1 1O1 OK\r\n\r\n", b"HTTP/1.1\r\n\r\n",
                                  b"ICY 200 OK\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n"])
def test_parse_response_malformed(head):
    with pytest.raises(ValueError):
        parse_response(head)


def test_parse_response_malformed_headers():
    with pytest.raises(ValueError):
        parse_response(b"HTTP/1.1 101 Switching Protocols\r\nno colon\r\n\r\n")


def test_read_head_leaves_the_rest_in_the_reader():
    head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    reader = BufferedReader.from_bytes(head + b"\x81\x00rest")
    assert read_head(reader) == head
    assert reader.read_exact(reader.buffered) == b"\x81\x00rest"


def test_read_head_over_small_chunks():
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    chunks = [head[i:i + 3] for i in range(0, len(head), 3)] + [b"tail"]
    reader = BufferedReader.from_chunks(chunks)
    assert read_head(reader) == head
    assert reader.read_exact(4) == b"tail"


def test_read_head_separator_split_across_chunks():
    reader = BufferedReader.from_chunks([b"GET / HTTP/1.1\r\nA: b\r", b"\n\r", b"\nX"])
    assert read_head(reader) == b"GET / HTTP/1.1\r\nA: b\r\n\r\n"


def test_read_head_too_large():
    head = b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * MAX_HEAD_SIZE + b"\r\n\r\n"
    with pytest.raises(HandshakeError) as info:
        read_head(BufferedReader.from_bytes(head))
    assert info.value.status == 431


def test_read_head_too_large_without_terminator_from_chunks():
    # A client that never ends its head is refused once the limit is hit.
    chunks = [b"GET / HTTP/1.1\r\n"] + [b"X: " + b"a" * 1000 + b"\r\n"] * 100
    with pytest.raises(HandshakeError) as info:
        read_head(BufferedReader.from_chunks(chunks), limit=4096)
    assert info.value.status == 431


def test_read_head_custom_limit_boundary():
    head = b"GET / HTTP/1.1\r\nA: b\r\n\r\n"
    assert read_head(BufferedReader.from_bytes(head), limit=len(head)) == head
    with pytest.raises(HandshakeError):
        read_head(BufferedReader.from_bytes(head), limit=len(head) - 1)


def test_read_head_eof():
    with pytest.raises(EOFError):
        read_head(BufferedReader.from_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n"))
