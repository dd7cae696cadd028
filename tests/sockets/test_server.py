"""WebSocketServer and WebSocketRequest over real sockets: handshake checks,
request properties, accept/reject, events, connections, broadcast and
shutdown."""

from __future__ import annotations

import datetime
import logging

import gevent
import pytest
from gevent.event import AsyncResult, Event
from gevent.server import StreamServer
from prometheus_client import CollectorRegistry

from wsframework import WebSocketError, WebSocketServer, connect
from wsframework.protocol.handshake import accept_key

from ..conftest import echo_handler
from ..helpers import RawClient, handshake_request

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def reject_reason(response):
    return response.headers.get("X-WebSocket-Reject-Reason")


# --------------------------------------------------------------- handshake
@pytest.mark.parametrize("request_bytes, status, reason", [
    (handshake_request(omit=("Host",)), 400, "Client must provide a Host header."),
    (handshake_request(omit=("Sec-WebSocket-Key",)), 400,
     "Client must provide a value for Sec-WebSocket-Key."),
    (handshake_request(key="short"), 400,
     "Client must provide a valid Sec-WebSocket-Key (base64 of 16 bytes)."),
    (handshake_request(omit=("Sec-WebSocket-Version",)), 426,
     "Client must provide a value for Sec-WebSocket-Version."),
    (handshake_request(headers={"Sec-WebSocket-Version": "abc"}), 426,
     "Client must provide a value for Sec-WebSocket-Version."),
    (handshake_request(headers={"Sec-WebSocket-Version": "7"}), 426,
     "Unsupported websocket client version: 7Only versions 8 and 13 are supported."),
    (handshake_request(omit=("Upgrade",)), 400,
     "Client must provide an Upgrade: websocket header."),
    (handshake_request(headers={"Upgrade": "h2c"}), 400,
     "Client must provide an Upgrade: websocket header."),
    (handshake_request(omit=("Connection",)), 400,
     "Client must provide a Connection: Upgrade header."),
    (handshake_request().replace(b"GET", b"POST", 1), 400, "Client must use the GET method."),
    (handshake_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400,
     "Client must use HTTP/1.1 or higher."),
    (b"NONSENSE\r\n\r\n", 400, "Malformed HTTP request line."),
    (handshake_request(headers={"Cookie": "a=%E0%A4%A"}), 400, "URI malformed"),
])
def test_bad_handshake_is_rejected(make_server, request_bytes, status, reason):
    errors = []
    server = make_server(lambda request: pytest.fail("must not be called"))
    server.on("upgrade_error", errors.append)
    client = RawClient(server.port)
    response = client.request(request_bytes)
    assert response.status == status
    assert reject_reason(response) == reason
    assert response.headers["Connection"] == "close"
    assert client.read_until_eof() == b""          # no body; the server closed
    assert [str(e) for e in errors] == [reason]
    if status == 426:
        assert response.headers["Sec-WebSocket-Version"] == "13"
    assert server.connections == [] and server.pending_requests == []


@pytest.mark.parametrize("version_header", [None, "", "abc", "0", "x13"])
def test_missing_or_unreadable_version_gets_426_with_ours(make_server, version_header):
    """RFC 6455 §4.2.2: a version the server cannot read is answered
    ``426 Upgrade Required`` with ``Sec-WebSocket-Version: 13``."""
    server = make_server(lambda request: pytest.fail("must not be called"))
    client = RawClient(server.port)
    if version_header is None:
        request_bytes = handshake_request(omit=("Sec-WebSocket-Version",))
    else:
        request_bytes = handshake_request(headers={"Sec-WebSocket-Version": version_header})
    client.send_raw(request_bytes)
    head = client.read_until_eof()
    status_line, *header_lines = head.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert status_line == b"HTTP/1.1 426 Upgrade Required"
    assert b"Sec-WebSocket-Version: 13" in header_lines
    assert (b"X-WebSocket-Reject-Reason: Client must provide a value for "
            b"Sec-WebSocket-Version.") in header_lines


def test_oversized_head_gets_431(make_server):
    server = make_server(echo_handler)
    client = RawClient(server.port)
    response = client.request(handshake_request(headers={"X-Big": "a" * 20000}))
    assert response.status == 431


def test_version_8_is_accepted_with_its_origin_header(make_server):
    seen = AsyncResult()

    def on_request(request):
        seen.set((request.websocket_version, request.origin))
        request.accept(None, request.origin)

    server = make_server(on_request)
    client = RawClient(server.port)
    response = client.handshake(headers={"Sec-WebSocket-Version": "8",
                                         "Sec-WebSocket-Origin": "http://example.com"})
    assert seen.get(timeout=5) == (8, "http://example.com")
    assert response.headers["Sec-WebSocket-Origin"] == "http://example.com"
    assert "Origin" not in response.headers


#: What must never reach a response head: every control character but TAB
#: (CR and LF only as the line ends of the head itself).
CONTROLS = set(range(0x00, 0x09)) | set(range(0x0A, 0x20)) | {0x7F}


def head_lines(client):
    """The raw lines of the response head (read to EOF or to the blank line)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.sock.recv(65536)
        assert chunk, data
        data += chunk
    return data.split(b"\r\n\r\n")[0].split(b"\r\n")


def assert_clean(lines):
    for line in lines:
        assert not CONTROLS & set(line), line
        assert b"\xc2\x85" not in line and b"\xc2\x9f" not in line, line   # NEL, C1


def test_an_echoed_origin_loses_its_control_characters(make_server):
    """NUL, VT, FF, DEL, ESC and NEL (UTF-8 and Latin-1) in the client's
    Origin do not pass into the 101's echoed Origin; TAB is kept."""
    server = make_server(auto_accept_connections=True)
    client = RawClient(server.port)
    client.send_raw(handshake_request()[:-2] + b"Origin: http://a\x00b\x0bc\x0cd\x7fe"
                    b"\xc2\x85f\x1bg\th.example\r\n\r\n")
    lines = head_lines(client)
    assert lines[0] == b"HTTP/1.1 101 Switching Protocols"
    assert_clean(lines)
    assert b"Origin: http://abcdefg\th.example" in lines


def test_reject_reason_and_extra_values_lose_their_control_characters(make_server):
    def on_request(request):
        request.reject(403, "no\x00\x0b\x0c\x7f\x85\x1b way\r\nSet-Cookie: a=1",
                       {"X-Why": "x\x00y\x0bz\x85\r\nSet-Cookie: b=2"})

    server = make_server(on_request)
    client = RawClient(server.port)
    client.send_raw(handshake_request())
    lines = head_lines(client)
    assert lines == [b"HTTP/1.1 403 Forbidden", b"Connection: close",
                     b"X-WebSocket-Reject-Reason: no waySet-Cookie: a=1",
                     b"X-Why: xyzSet-Cookie: b=2"]


@pytest.mark.parametrize("name", ["bad\r\nSet-Cookie: x", "X Why", "X-Why:", "X\x00", ""])
def test_reject_refuses_a_header_name_that_is_not_a_token(make_server, name):
    """A bad name raises ValueError and leaves the request unanswered, so
    the handler can still answer it; nothing of the name is sent."""
    raised = AsyncResult()

    def on_request(request):
        try:
            request.reject(403, "no", {name: "v"})
        except ValueError as exc:
            raised.set(exc)
            assert not request.resolved
            request.reject(400, "fixed")
        else:
            raised.set(None)

    server = make_server(on_request)
    client = RawClient(server.port)
    client.send_raw(handshake_request())
    lines = head_lines(client)
    assert "Invalid header name" in str(raised.get(timeout=5))
    assert lines == [b"HTTP/1.1 400 Bad Request", b"Connection: close",
                     b"X-WebSocket-Reject-Reason: fixed"]


@pytest.mark.parametrize("status", [101, 200, 204, 301, 600])
def test_reject_refuses_a_status_that_is_not_an_error(make_server, status):
    raised = AsyncResult()

    def on_request(request):
        try:
            request.reject(status, "no")
        except ValueError as exc:
            raised.set(exc)
            request.reject(403, "no")
        else:
            raised.set(None)

    server = make_server(on_request)
    client = RawClient(server.port)
    client.send_raw(handshake_request())
    lines = head_lines(client)
    assert "error status" in str(raised.get(timeout=5))
    assert lines[0] == b"HTTP/1.1 403 Forbidden"


def test_no_request_listener_gives_404(make_server):
    server = make_server()
    response = RawClient(server.port).request(handshake_request())
    assert response.status == 404
    assert reject_reason(response) == "No handler is configured to accept the connection."


def test_accept_response_headers_in_node_order(make_server):
    def on_request(request):
        request.accept("Chat", "http://example.com", cookies=[
            {"name": "session", "value": "abc", "path": "/", "httponly": True},
            {"name": "theme", "value": "dark", "maxage": 60.4},
        ])

    server = make_server(on_request)
    client = RawClient(server.port)
    response = client.handshake(headers={
        "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Protocol": "Chat, superchat",
        "Origin": "http://example.com"})
    assert list(response.headers.keys()) == [
        "Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
        "Origin", "Set-Cookie", "Set-Cookie"]
    assert response.headers["Sec-WebSocket-Accept"] == accept_key(KEY)
    assert response.headers["Sec-WebSocket-Protocol"] == "Chat"
    assert response.headers.get_all("Set-Cookie") == [
        "session=abc;Path=/;HttpOnly", "theme=dark;Max-Age=60"]


def test_request_properties(make_server):
    seen = AsyncResult()

    def on_request(request):
        seen.set(request)
        request.reject(403)

    server = make_server(on_request)
    RawClient(server.port).request(handshake_request(
        "/chat/room?name=lobby&x=1&x=2",
        headers={"Host": "example.com:8080", "Origin": "http://example.com",
                 "Sec-WebSocket-Protocol": "Chat, Echo-Protocol",
                 "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits, x-foo",
                 "Cookie": 'id=1; name="J%C3%B6rg"; flag',
                 "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}))
    request = seen.get(timeout=5)
    assert request.host == "example.com:8080"
    assert request.resource == "/chat/room?name=lobby&x=1&x=2"
    assert request.resource_url.pathname == "/chat/room"
    assert request.resource_url.query == {"name": "lobby", "x": ["1", "2"]}
    assert request.origin == "http://example.com"
    assert request.websocket_version == 13
    assert request.requested_protocols == ["chat", "echo-protocol"]
    assert request.requested_extensions == [
        {"name": "permessage-deflate", "params": [{"name": "client_max_window_bits", "value": None}]},
        {"name": "x-foo", "params": []}]
    assert [(c.name, c.value) for c in request.cookies] == [
        ("id", "1"), ("name", "Jörg"), ("flag", None)]
    assert request.remote_addresses == ["203.0.113.7", "10.0.0.1", "127.0.0.1"]
    assert request.remote_address == "203.0.113.7"
    assert request.http_request.method == "GET"
    assert request.http_request.headers["host"] == "example.com:8080"


def test_request_properties_after_accept(make_server):
    """What an accepted request no longer keeps for itself (host, key, the
    empty lists and maps of a plain handshake) still reads the same."""
    seen = AsyncResult()

    def on_request(request):
        request.accept()
        seen.set(request)

    server = make_server(on_request)
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    RawClient(server.port).handshake("//evil/chat?a=1", headers={
        "Host": "example.com", "Sec-WebSocket-Key": key})
    request = seen.get(timeout=5)
    assert request.connection is not None
    assert (request.host, request.key) == ("example.com", key)
    # An origin-form target is a path, even when it starts with "//" (as in
    # Node's url.parse); routing must not see a host there.
    assert request.resource_url.pathname == "//evil/chat"
    assert request.resource_url.query == {"a": "1"}
    assert request.requested_extensions == [] and request.cookies == []
    assert request.protocol_full_case_map == {}
    request.cookies.append("kept")            # a list of its own, not a fresh one per read
    assert request.cookies == ["kept"]
    assert request.connection.extensions == []
    assert request.connection.remote_addresses == ["127.0.0.1"]


def test_ignore_x_forwarded_for(make_server):
    seen = AsyncResult()

    def on_request(request):
        connection = request.accept()
        seen.set((request.remote_addresses, connection.remote_addresses,
                  connection.remote_address))

    server = make_server(on_request, ignore_x_forwarded_for=True)
    RawClient(server.port).handshake(headers={"X-Forwarded-For": "203.0.113.7"})
    assert seen.get(timeout=5) == (["127.0.0.1"], ["127.0.0.1"], "127.0.0.1")


def test_x_forwarded_for_on_several_lines_is_one_list(make_server):
    """A proxy chain may send X-Forwarded-For as several header lines:
    they join in order, as Node's HTTP parser joins them."""
    seen = AsyncResult()

    def on_request(request):
        connection = request.accept()
        seen.set((request.remote_addresses, connection.remote_addresses,
                  connection.remote_address))

    server = make_server(on_request)
    client = RawClient(server.port)
    client.request(handshake_request()[:-2] + b"X-Forwarded-For: 1.1.1.1\r\n"
                   b"X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n")
    chain = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "127.0.0.1"]
    assert seen.get(timeout=5) == (chain, chain, "1.1.1.1")


def test_parse_cookies_and_extensions_can_be_turned_off(make_server):
    seen = AsyncResult()

    def on_request(request):
        seen.set((request.cookies, request.requested_extensions))
        request.reject()

    server = make_server(on_request, parse_cookies=False, parse_extensions=False)
    RawClient(server.port).request(handshake_request(
        headers={"Cookie": "a=1", "Sec-WebSocket-Extensions": "x"}))
    assert seen.get(timeout=5) == ([], [])


# ------------------------------------------------------------ accept rules
def test_accept_protocol_case_insensitively(make_server):
    seen = AsyncResult()

    def on_request(request):
        connection = request.accept("chat")
        seen.set(connection.protocol)

    server = make_server(on_request)
    connection = connect(server.url, ["Chat"])
    assert connection.protocol == "Chat"        # the header echoes the client's spelling
    assert seen.get(timeout=5) == "chat"         # the server keeps what it passed


@pytest.mark.parametrize("protocol, message", [
    ("other", "Specified protocol was not requested by the client."),
    ("bad/char", 'Illegal character "/" in subprotocol.'),
])
def test_accept_invalid_protocol_rejects_with_500(make_server, protocol, message):
    raised = AsyncResult()

    def on_request(request):
        try:
            request.accept(protocol)
        except ValueError as exc:
            raised.set(str(exc))

    server = make_server(on_request)
    response = RawClient(server.port).request(
        handshake_request(headers={"Sec-WebSocket-Protocol": "chat"}))
    assert response.status == 500
    assert raised.get(timeout=5) == message


def test_accept_bad_cookie_rejects_with_500(make_server):
    raised = AsyncResult()

    def on_request(request):
        try:
            request.accept(cookies=[{"name": "a", "value": "b", "expires": "tomorrow"}])
        except ValueError as exc:
            raised.set(str(exc))

    server = make_server(on_request)
    response = RawClient(server.port).request(handshake_request())
    assert response.status == 500
    assert raised.get(timeout=5) == 'Value supplied for cookie "expires" must be a vaild date object'


def test_cookie_expires_is_an_rfc1123_date(make_server):
    def on_request(request):
        request.accept(cookies=[{"name": "a", "value": "b", "secure": True,
                                 "expires": datetime.datetime(2030, 1, 2, 3, 4, 5)}])

    server = make_server(on_request)
    response = RawClient(server.port).handshake()
    assert response.headers["Set-Cookie"] == "a=b;Expires=Wed, 02 Jan 2030 03:04:05 GMT;Secure"


def test_request_may_be_answered_only_once(make_server):
    raised = AsyncResult()

    def on_request(request):
        request.accept()
        try:
            request.reject()
        except WebSocketError as exc:
            raised.set(str(exc))

    server = make_server(on_request)
    connect(server.url)
    assert raised.get(timeout=5) == "WebSocketRequest may only be accepted or rejected one time."


def test_reject_with_reason_and_headers_strips_crlf(make_server):
    events = []

    def on_request(request):
        request.on("request_rejected", lambda r: events.append("rejected"))
        request.reject(401, "no\r\nX-Injected: 1", {"WWW-Authenticate": "Basic\r\nX-Evil: 1"})

    server = make_server(on_request)
    response = RawClient(server.port).request(handshake_request())
    assert response.status == 401 and response.reason == "Unauthorized"
    assert reject_reason(response) == "noX-Injected: 1"
    assert response.headers["WWW-Authenticate"] == "BasicX-Evil: 1"
    assert "X-Injected" not in response.headers and "X-Evil" not in response.headers
    assert events == ["rejected"]


def test_reject_with_non_numeric_status_is_403(make_server):
    server = make_server(lambda request: request.reject("nope"))
    response = RawClient(server.port).request(handshake_request())
    assert (response.status, response.reason) == (403, "Forbidden")


def test_accept_later_from_another_greenlet(make_server):
    def on_request(request):
        gevent.spawn(lambda: echo_handler(request))

    server = make_server(on_request)
    connection = connect(server.url)
    connection.send("later")
    assert connection.receive(timeout=5).data == "later"


# ------------------------------------------------------------ events
def test_server_events_and_connections(make_server):
    order = []
    closed = AsyncResult()

    def on_request(request):
        order.append("request")
        request.on("request_accepted", lambda connection: order.append("request_accepted"))
        connection = request.accept()
        order.append("accept returned")
        assert server.connections == [connection]
        connection.on("close", lambda code, description: order.append("user close"))

    server = make_server(on_request)
    server.on("connect", lambda connection: order.append("connect"))
    server.on("close", lambda connection, code, description: (
        order.append("server close"), closed.set((code, description))))
    client = connect(server.url)
    client.close(4001, "done")
    assert closed.get(timeout=5) == (4001, "done")
    assert order == ["request", "connect", "request_accepted", "accept returned",
                     "server close", "user close"]
    assert server.connections == []


def test_the_server_hears_of_an_answer_before_the_requests_listeners(make_server):
    seen = []

    def on_request(request):
        request.on("request_resolved", lambda r: seen.append(
            ("resolved", r in server.pending_requests)))
        request.on("request_accepted", lambda connection: seen.append(
            ("accepted", server.connections == [connection])))
        request.accept()

    server = make_server(on_request)
    connect(server.url)
    with gevent.Timeout(5):
        while len(seen) < 2:
            gevent.sleep(0.01)
    assert seen == [("resolved", False), ("accepted", True)]


@pytest.mark.expect_errors("the server's request_(resolved|accepted) raised")
@pytest.mark.parametrize("hook", ["resolved", "accepted"])
def test_a_raising_server_hook_is_logged_and_the_listeners_still_run(
        make_server, monkeypatch, caplog, hook):
    import wsframework.server as server_module

    def broken(self, arg):
        raise RuntimeError("hook bug")

    monkeypatch.setattr(server_module._Place, hook, broken)
    heard = []

    def on_request(request):
        request.on(f"request_{hook}", heard.append)
        echo_handler(request)

    server = make_server(on_request)
    with caplog.at_level(logging.ERROR):
        connection = connect(server.url)
        connection.send("still works")
        assert connection.receive(timeout=5).data == "still works"
    assert len(heard) == 1
    assert any(f"the server's request_{hook} raised" in record.getMessage()
               for record in caplog.records)


def test_auto_accept_connections(make_server):
    connected = AsyncResult()
    server = make_server(auto_accept_connections=True)
    server.on("connect", connected.set)
    client = connect(server.url, ["first", "second"], origin="http://o.example")
    assert client.protocol == "first"
    server_side = connected.get(timeout=5)
    assert server_side.protocol == "first"


@pytest.mark.expect_errors(r"WebSocketServer handler for 'request' raised(.|\n)*"
                            r"RuntimeError: handler bug")
def test_handler_exception_is_logged_and_server_survives(make_server, caplog):
    calls = []

    def on_request(request):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("handler bug")
        echo_handler(request)

    server = make_server(on_request)
    with caplog.at_level(logging.ERROR):
        first = RawClient(server.port)
        first.sock.sendall(handshake_request())
        connection = connect(server.url)
        connection.send("still alive")
        assert connection.receive(timeout=5).data == "still alive"
    assert any("handler bug" in record.exc_text for record in caplog.records if record.exc_text)


def test_bytes_sent_with_the_handshake_are_kept(make_server):
    server = make_server(echo_handler)
    client = RawClient(server.port)
    from wsframework.protocol.frame import encode_frame
    client.handshake(extra=encode_frame(0x1, b"early", mask=True))
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (0x1, b"early")


def test_handshake_timeout_drops_a_slow_client(make_server):
    server = make_server(echo_handler, handshake_timeout=0.2)
    client = RawClient(server.port)
    client.send_raw(b"GET / HTTP/1.1\r\n")
    assert client.read_until_eof() == b""


class _CountingTimeout(gevent.Timeout):
    """gevent's Timeout, recording the seconds of each one made."""

    made: list = []

    def __init__(self, seconds=None, *args, **kwargs):
        _CountingTimeout.made.append(seconds)
        super().__init__(seconds, *args, **kwargs)


@pytest.fixture
def counted_timeouts(monkeypatch):
    _CountingTimeout.made = []
    monkeypatch.setattr(gevent, "Timeout", _CountingTimeout)
    return _CountingTimeout.made


def test_a_head_that_came_whole_is_read_without_a_timer(make_server, counted_timeouts):
    server = make_server(echo_handler, handshake_timeout=7.25)
    client = RawClient(server.port)
    client.handshake()
    client.send_frame(0x1, b"hi")
    assert client.read_frame().binary_payload == b"hi"
    assert 7.25 not in counted_timeouts


def test_a_head_in_pieces_is_read_under_the_handshake_timeout(make_server, counted_timeouts):
    server = make_server(echo_handler, handshake_timeout=7.25)
    client = RawClient(server.port)
    head = handshake_request()
    client.send_raw(head[:20])
    gevent.sleep(0.05)              # the server reads the first piece alone
    response = client.request(head[20:])
    assert response.status == 101
    assert 7.25 in counted_timeouts
    client.send_frame(0x1, b"hi")
    assert client.read_frame().binary_payload == b"hi"


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\n"])
def test_a_client_that_hangs_up_before_its_head_is_dropped(make_server, sent):
    registry = CollectorRegistry()
    server = make_server(echo_handler, metrics=registry)
    client = RawClient(server.port)
    client.send_raw(sent)
    client.close()
    with gevent.Timeout(5):
        while registry.get_sample_value("wsframework_handshakes_total",
                                        {"outcome": "failed", "status": ""}) != 1:
            gevent.sleep(0.01)
    connection = connect(server.url)          # the server serves on
    connection.send("still here")
    assert connection.receive(timeout=5).data == "still here"


# ------------------------------------------------------------ broadcast
def test_broadcast_reaches_every_open_connection(make_server):
    ready = Event()

    def on_request(request):
        request.accept()
        if len(server.connections) == 3:
            ready.set()

    server = make_server(on_request, fragmentation_threshold=10)
    clients = [connect(server.url) for _ in range(3)]
    assert ready.wait(5)
    server.broadcast("hello everyone, this is long")
    server.broadcast(b"\x01\x02")
    server.broadcast_utf("text")
    server.broadcast_bytes(bytearray(b"bin"))
    for client in clients:
        assert [client.receive(timeout=5).data for _ in range(4)] == [
            "hello everyone, this is long", b"\x01\x02", "text", b"bin"]


def test_broadcast_skips_closing_connections(make_server):
    ready = Event()

    def on_request(request):
        request.accept()
        if len(server.connections) == 2:
            ready.set()

    server = make_server(on_request)
    first, second = connect(server.url), connect(server.url)
    assert ready.wait(5)
    closing = server.connections[0]
    closing.close()
    assert closing.state == "ending"
    server.broadcast("only the open one")   # must not raise for the closing one
    messages = {client: client.receive(timeout=5) for client in (first, second)}
    assert sorted(m.data for m in messages.values() if m is not None) == ["only the open one"]


# ------------------------------------------------------------ shutdown
def test_close_all_connections_and_pending_requests(make_server):
    pending = Event()

    def on_request(request):
        if request.resource == "/wait":
            pending.set()
            return            # neither accepted nor rejected
        request.accept()

    server = make_server(on_request)
    clients = [connect(server.url) for _ in range(2)]
    waiting = RawClient(server.port)
    waiting.send_raw(handshake_request("/wait"))
    assert pending.wait(5)
    assert len(server.pending_requests) == 1
    server.close_all_connections()
    for client in clients:
        assert client.receive(timeout=5) is None
        assert client.close_reason_code == 1000
    response = waiting.request(b"")
    assert response.status == 503
    assert server.pending_requests == []


def test_shut_down_stops_accepting(make_server):
    server = make_server(echo_handler)
    client = connect(server.url)
    server.shut_down()
    assert client.receive(timeout=5) is None
    with pytest.raises(WebSocketError):
        connect(server.url, open_timeout=2)


def test_mount_on_an_existing_stream_server():
    stream_server = StreamServer(("127.0.0.1", 0), lambda sock, address: None)
    stream_server.start()
    try:
        server = WebSocketServer(http_server=stream_server)
        server.on("request", echo_handler)
        client = connect(f"ws://127.0.0.1:{stream_server.server_port}/")
        client.send("mounted")
        assert client.receive(timeout=5).data == "mounted"
        server.unmount()
        with pytest.raises(WebSocketError):
            connect(f"ws://127.0.0.1:{stream_server.server_port}/", open_timeout=2)
    finally:
        stream_server.stop(timeout=1)


def test_mount_requires_a_server():
    with pytest.raises(ValueError, match="You must specify an httpServer"):
        WebSocketServer().mount()


def test_broadcast_function_to_a_chosen_set(make_server):
    from wsframework import broadcast
    accepted = []
    ready = Event()

    def on_request(request):
        accepted.append(request.accept())
        if len(accepted) == 4:
            ready.set()

    server = make_server(on_request)
    first, second = (connect(server.url, permessage_deflate=False) for _ in range(2))
    compressed = connect(server.url)                 # negotiates permessage-deflate
    outsider = connect(server.url, permessage_deflate=False)
    assert ready.wait(5)

    def server_side(client):
        return next(c for c in accepted
                    if c.socket.getpeername() == client.socket.getsockname())

    room = [server_side(c) for c in (first, second, compressed)]
    assert server_side(compressed).extensions and not server_side(first).extensions
    server_side(first).close()                       # closing: skipped
    assert broadcast(room, "to the room " * 10) == 2
    assert broadcast(room, b"\x00\x01") == 2
    with pytest.raises(TypeError):
        broadcast(room, 42)
    for client in (second, compressed):
        assert client.receive(timeout=5).data == "to the room " * 10
        assert client.receive(timeout=5).data == b"\x00\x01"
    assert first.receive(timeout=5) is None
    with pytest.raises(TimeoutError):
        outsider.receive(timeout=0.1)


def test_client_gone_before_accept_leaves_nothing_behind(make_server):
    import socket as stdlib_socket
    import struct
    gone = Event()
    events = []
    accepted = AsyncResult()

    def on_request(request):
        gone.wait(5)                              # the client resets meanwhile
        connection = request.accept()             # writing the 101 fails
        accepted.set((connection.state, connection.close_reason_code,
                      connection.close_description))

    server = make_server(on_request)
    server.on("close", lambda connection, code, description: events.append(code))
    raw = RawClient(server.port)
    raw.send_raw(handshake_request())
    raw.sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    raw.close()                                   # RST
    gevent.idle()
    gone.set()
    assert accepted.get(timeout=5) == ("closed", 1006,
                                       "TCP connection lost before handshake completed.")
    assert events == [1006] and server.connections == []


@pytest.mark.parametrize("auto_accept", [True, False])
@pytest.mark.parametrize("offer, reason", [
    ("a b", 'Illegal character " " in requested subprotocol "a b".'),
    ("chat, bad/protocol", 'Illegal character "/" in requested subprotocol "bad/protocol".'),
    ("chat,,echo", "Client must not request an empty subprotocol."),
])
def test_an_illegal_subprotocol_offer_is_a_400_not_a_logged_500(make_server, caplog,
                                                                 auto_accept, offer, reason):
    """A client offering a subprotocol that is not a token sent a bad
    request: 400 with the reason, the handler never sees it, and nothing
    above DEBUG is logged (one traceback per request would flood logs)."""
    errors = []
    server = make_server(None if auto_accept else echo_handler,
                         auto_accept_connections=auto_accept)
    server.on("upgrade_error", errors.append)
    with caplog.at_level(logging.DEBUG, logger="wsframework"):
        client = RawClient(server.port)
        response = client.request(
            handshake_request(headers={"Sec-WebSocket-Protocol": offer}))
        assert client.read_until_eof() == b""
    assert response.status == 400
    assert reject_reason(response) == reason
    assert [str(e) for e in errors] == [reason]
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG] == []
    assert server.connections == [] and server.pending_requests == []


def test_stop_waits_for_the_closing_handshakes(make_server):
    server = make_server(echo_handler)
    clients = [connect(server.url) for _ in range(3)]
    for client in clients:
        client.send("x")
        client.receive(timeout=5)
    server.stop(timeout=5)
    for client in clients:
        assert client.state == "closed" or client.receive(timeout=5) is None
        assert client.close_reason_code == 1001 and client.was_clean


def test_mount_keeps_the_constructor_config():
    stream_server = StreamServer(("127.0.0.1", 0), lambda sock, address: None)
    server = WebSocketServer(max_received_frame_size=10, permessage_deflate=False)
    server.mount(http_server=stream_server)
    assert server.config["max_received_frame_size"] == 10
    assert server.config["permessage_deflate"] is False
    assert server.config["http_server"] is stream_server


def test_start_without_a_server_is_a_clear_error():
    with pytest.raises(ValueError, match="has no server to run"):
        WebSocketServer().start()
