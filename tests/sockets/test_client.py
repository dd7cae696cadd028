"""The client over real sockets: connect(), WebSocketClient's events, and
every handshake check against a fake server that sends canned responses."""

from __future__ import annotations

import socket

import pytest
from gevent.event import AsyncResult

from wsframework import WebSocketClient, WebSocketHandshakeError, connect
from wsframework.client import InvalidURL

from ..conftest import echo_handler
from ..helpers import fake_server, response_101


@pytest.fixture
def canned():
    """Start fake servers answering with ``respond(key)``; stop them after."""
    servers = []

    def start(respond):
        server = fake_server(respond)
        servers.append(server)
        return f"ws://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.stop(timeout=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_negotiates_protocol_and_sends_headers(make_server):
    seen = AsyncResult()

    def on_request(request):
        seen.set(request)
        echo_handler(request)

    server = make_server(on_request)
    connection = connect(server.url + "/path?q=1", ["proto-a", "proto-b"],
                         origin="http://origin.example", headers={"X-Token": "t"})
    request = seen.get(timeout=5)
    assert connection.protocol == "proto-a"
    assert connection.remote_address == "127.0.0.1"
    assert connection.remote_addresses == ["127.0.0.1"]
    assert connection.websocket_version == 13
    assert connection.mask_outgoing_packets is True
    assert request.origin == "http://origin.example"
    assert request.http_request.headers["X-Token"] == "t"
    assert request.host == f"127.0.0.1:{server.port}"
    assert request.resource == "/path?q=1"


def test_connect_refused_raises_handshake_error():
    with pytest.raises(WebSocketHandshakeError, match="Could not connect"):
        connect(f"ws://127.0.0.1:{free_port()}/")


@pytest.mark.parametrize("url, message", [
    ("127.0.0.1:80", "You must specify a full WebSocket URL, including protocol."),
    ("ws:///path", "You must specify a full WebSocket URL, including hostname. "
                   "Relative URLs are not supported."),
    ("ftp://example.com/", "Unsupported URL scheme 'ftp': use ws:// or wss://"),
])
def test_invalid_urls(url, message):
    with pytest.raises(InvalidURL) as info:
        connect(url)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_invalid_protocol_character():
    with pytest.raises(InvalidURL, match='Protocol list contains invalid character " "'):
        connect("ws://127.0.0.1:1/", ["bad protocol"])


def test_non_101_response(canned):
    url = canned(lambda key: b"HTTP/1.1 403 Forbidden\r\nX-Reason: no\r\n"
                             b"Content-Length: 4\r\n\r\nnope")
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(url)
    assert str(info.value) == (
        "Server responded with a non-101 status: 403 Forbidden\n"
        "Response Headers Follow:\nx-reason: no\ncontent-length: 4\n")
    assert info.value.response.status == 403
    assert info.value.response.body == b"nope"


@pytest.mark.parametrize("protocols, respond, message", [
    (["chat"], lambda key: response_101(key),
     "Expected a Sec-WebSocket-Protocol header."),
    (["chat"], lambda key: response_101(key, "Sec-WebSocket-Protocol: other"),
     "Server did not respond with a requested protocol."),
    ([], lambda key: response_101(key, "Sec-WebSocket-Protocol: chat"),
     "Server sent a subprotocol but none was requested"),
    ([], lambda key: response_101(key, connection=""),
     "Expected a Connection: Upgrade header from the server"),
    ([], lambda key: response_101(key, upgrade="h2c"),
     "Expected an Upgrade: websocket header from the server"),
    ([], lambda key: response_101(key, accept=""),
     "Expected Sec-WebSocket-Accept header from server"),
    ([], lambda key: response_101(key, "Sec-WebSocket-Extensions: x-foo"),
     "Server sent unrequested extensions"),
])
def test_bad_101_responses(canned, protocols, respond, message):
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(canned(respond), protocols)
    assert str(info.value) == message


def test_wrong_accept_key(canned):
    with pytest.raises(WebSocketHandshakeError,
                       match="Sec-WebSocket-Accept header from server didn't match "
                             "expected value of "):
        connect(canned(lambda key: response_101(key, accept="AAAA")))


def test_connection_token_list_is_accepted(canned):
    connection = connect(canned(lambda key: response_101(key, connection="keep-alive, Upgrade")))
    assert connection.connected


def test_bytes_after_the_101_are_kept(canned):
    # The server's first frame arrives in the same packet as its 101.
    url = canned(lambda key: response_101(key) + b"\x81\x05hello")
    connection = connect(url)
    assert connection.receive(timeout=5).data == "hello"


def test_client_events_connect(make_server):
    server = make_server(echo_handler)
    client = WebSocketClient()
    result = AsyncResult()
    client.on("connect", result.set)
    client.on("connect_failed", result.set_exception)
    client.connect(server.url, "echo")
    connection = result.get(timeout=5)
    assert client.protocol == "echo" and client.connection is connection
    assert client.base64_nonce and client.secure is False
    got = AsyncResult()
    connection.on("message", got.set)
    connection.send("evented")
    assert got.get(timeout=5).data == "evented"


def test_client_events_connect_failed():
    client = WebSocketClient()
    result = AsyncResult()
    client.on("connect_failed", result.set)
    client.connect(f"ws://127.0.0.1:{free_port()}/")
    assert isinstance(result.get(timeout=5), OSError)


def test_client_http_response_replaces_connect_failed(canned):
    url = canned(lambda key: b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    client = WebSocketClient()
    result = AsyncResult()
    failed = []
    client.on("http_response", lambda response, c: result.set((response.status, c)))
    client.on("connect_failed", failed.append)
    client.connect(url)
    assert result.get(timeout=5) == (404, client)
    assert failed == []


def test_client_non_101_without_listener_is_connect_failed(canned):
    url = canned(lambda key: b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    client = WebSocketClient()
    result = AsyncResult()
    client.on("connect_failed", result.set)
    client.connect(url)
    error = result.get(timeout=5)
    assert str(error).startswith("Server responded with a non-101 status: 500")


def test_abort_emits_nothing(canned):
    # This fake server never answers the handshake.
    url = canned(lambda key: b"")
    client = WebSocketClient()
    events = []
    for name in ("connect", "connect_failed", "http_response"):
        client.on(name, lambda *args, name=name: events.append(name))
    client.connect(url)
    client.abort()
    assert client._greenlet is None and events == []


def test_websocket_version_8(make_server):
    seen = AsyncResult()

    def on_request(request):
        seen.set((request.websocket_version, request.origin))
        request.accept(None, request.origin)

    server = make_server(on_request)
    connection = connect(server.url, origin="http://o.example", websocket_version=8)
    assert seen.get(timeout=5) == (8, "http://o.example")
    assert connection.websocket_version == 8


def test_unsupported_version_config():
    with pytest.raises(ValueError, match="Allowed values are 8 and 13"):
        WebSocketClient(websocket_version=7)


def test_request_options_source_address_and_headers(make_server):
    from gevent.event import AsyncResult
    seen = AsyncResult()

    def on_request(request):
        seen.set((request.remote_address, request.http_request.headers.get("X-Extra")))
        request.accept().run()

    server = make_server(on_request, ignore_x_forwarded_for=True)
    client = connect(server.url, request_options={"localAddress": "127.0.0.2",
                                                  "headers": {"X-Extra": "yes"}})
    assert seen.get(timeout=5) == ("127.0.0.2", "yes")
    assert client.socket.getsockname()[0] == "127.0.0.2"
    client.close()


def test_unknown_request_options_raise_naming_the_key(make_server):
    from wsframework import WebSocketClient
    server = make_server(echo_handler)
    with pytest.raises(TypeError, match="'agent'"):
        WebSocketClient().connect(server.url, request_options={"agent": object()})
    with pytest.raises(TypeError, match="'agent'"):
        connect(server.url, request_options={"agent": object()})


def test_an_oversized_response_head_is_a_handshake_error():
    server = fake_server(lambda key: b"HTTP/1.1 101 Switching Protocols\r\nX-Big: "
                         + b"a" * 70000 + b"\r\n\r\n")
    try:
        with pytest.raises(WebSocketHandshakeError, match="Invalid handshake response"):
            connect(f"ws://127.0.0.1:{server.server_port}/")
    finally:
        server.stop()


def test_a_malformed_url_is_invalid_url():
    with pytest.raises(InvalidURL, match="Invalid URL"):
        connect("ws://[::1/")


@pytest.mark.parametrize("options, error", [
    ({"local_port": "80"}, ValueError), ({"local_port": 70000}, ValueError),
    ({"localAddress": 127}, TypeError), ({"headers": "X-A: 1"}, TypeError),
])
def test_bad_request_options_values_raise_naming_the_key(make_server, options, error):
    server = make_server(echo_handler)
    with pytest.raises(error, match=repr(next(iter(options)))):
        connect(server.url, request_options=options)


def test_a_non_ascii_reject_reason_reads_back_the_same(make_server):
    """Heads are written in UTF-8; header values that are valid UTF-8 are
    read as such (others stay Latin-1, as HTTP has them), so a reason in
    any language crosses from our server to our client intact."""
    reason = "Zugang verweigert: Größe über 10 €"
    server = make_server(lambda request: request.reject(403, reason))
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{server.port}/")
    assert info.value.response.headers["X-WebSocket-Reject-Reason"] == reason


def test_a_latin1_header_value_stays_latin1(canned):
    url = canned(lambda key: b"HTTP/1.1 403 Forbidden\r\nX-Reason: caf\xe9\r\n\r\n")
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(url)
    assert info.value.response.headers["X-Reason"] == "caf\xe9"
