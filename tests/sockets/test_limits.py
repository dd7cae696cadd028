"""Server limits over real sockets: ``max_connections`` and
``max_connections_per_ip`` (503), ``allowed_origins`` (403), requests whose
client hangs up while the handler decides, and graceful shutdown that
loses nothing ``send`` accepted."""

from __future__ import annotations

import logging
import socket

import gevent
import pytest
from gevent.event import AsyncResult, Event

from wsframework import WebSocketServer, connect
from wsframework.protocol.http11 import parse_response, read_head

from ..conftest import echo_handler
from ..helpers import RawClient, handshake_request


def closed_events(server: WebSocketServer) -> gevent.queue.Queue:
    """A queue that gets each connection the server forgets."""
    queue = gevent.queue.Queue()
    server.on("close", lambda connection, code, description: queue.put(connection))
    return queue


# ----------------------------------------------------------- max_connections
def test_max_connections_refuses_with_503_and_frees_places(make_server):
    server = make_server(echo_handler, max_connections=2)
    closed = closed_events(server)
    first, second = connect(server.url), connect(server.url)
    third = RawClient(server.port)
    response = third.request(handshake_request())
    assert response.status == 503
    assert response.headers["X-WebSocket-Reject-Reason"] == "The server has too many connections."
    assert len(server.connections) == 2
    first.close()
    closed.get(timeout=5)
    again = connect(server.url)                 # the place is free again
    again.send("back")
    assert again.receive(timeout=5).data == "back"
    second.close()
    again.close()


def test_pending_requests_take_places_too(make_server):
    holding = Event()

    def on_request(request):
        if request.resource == "/hold":
            holding.set()
            return                              # neither accepted nor rejected yet
        request.accept()

    server = make_server(on_request, max_connections=1)
    waiting = RawClient(server.port)
    waiting.send_raw(handshake_request("/hold"))
    assert holding.wait(5)
    response = RawClient(server.port).request(handshake_request("/"))
    assert response.status == 503
    server.close_all_connections()              # rejects the pending one with 503
    assert waiting.request(b"").status == 503
    client = connect(server.url)                # and its place is free
    assert client.connected
    client.close()


def test_failed_and_rejected_handshakes_take_no_place(make_server):
    def on_request(request):
        if request.resource == "/no":
            request.reject(403)
        else:
            request.accept()

    server = make_server(on_request, max_connections=1)
    for _ in range(5):
        assert RawClient(server.port).request(handshake_request(key="bad")).status == 400
        assert RawClient(server.port).request(handshake_request("/no")).status == 403
    client = connect(server.url)
    assert client.connected and len(server.connections) == 1
    client.close()


def test_max_connections_per_ip_counts_the_tcp_peer(make_server):
    server = make_server(echo_handler, max_connections_per_ip=1)
    first = RawClient(server.port, "127.0.0.1")
    assert first.request(handshake_request()).status == 101
    # A forged X-Forwarded-For does not buy another place...
    forged = RawClient(server.port, "127.0.0.1")
    response = forged.request(handshake_request(headers={"X-Forwarded-For": "203.0.113.9"}))
    assert response.status == 503
    assert response.headers["X-WebSocket-Reject-Reason"] == \
        "Too many connections from this address."
    # ...while another address has its own.
    other = RawClient(server.port, "127.0.0.2")
    assert other.request(handshake_request()).status == 101
    assert sorted(c.remote_address for c in server.connections) == ["127.0.0.1", "127.0.0.2"]


@pytest.mark.parametrize("key, value", [
    ("max_connections", 0), ("max_connections_per_ip", -1), ("max_connections", "10"),
    ("allowed_origins", "https://example.com"), ("allowed_origins", [1]),
    ("backlog", 0), ("backlog", None),
])
def test_limit_keys_are_checked(key, value):
    with pytest.raises((TypeError, ValueError), match=key):
        WebSocketServer(**{key: value})


# ----------------------------------------------------------- allowed_origins
@pytest.mark.parametrize("origin, status", [
    ("https://chat.example", 101),
    ("HTTPS://CHAT.EXAMPLE", 101),               # origins compare case-insensitively
    ("https://evil.example", 403),
    ("https://chat.example.evil.example", 403),
    ("null", 403),
    (None, 101),                                 # None in the list: no Origin header is fine
])
def test_allowed_origins_stop_cross_site_hijacking(make_server, origin, status):
    ran = []

    def on_request(request):
        ran.append(request.origin)
        request.accept(None, request.origin)

    server = make_server(on_request, allowed_origins=["https://chat.example", None])
    headers = {"Origin": origin} if origin is not None else {}
    response = RawClient(server.port).request(handshake_request(headers=headers))
    assert response.status == status
    if status == 403:
        assert response.headers["X-WebSocket-Reject-Reason"] == "Origin not allowed."
        assert ran == []                         # refused before any handler saw it


def test_allowed_origins_without_none_require_an_origin(make_server):
    server = make_server(echo_handler, allowed_origins=["https://chat.example"])
    assert RawClient(server.port).request(handshake_request()).status == 403


def test_the_client_sends_the_origin_the_server_checks(make_server):
    server = make_server(echo_handler, allowed_origins=["https://chat.example"])
    client = connect(server.url, origin="https://chat.example")
    client.send("hi")
    assert client.receive(timeout=5).data == "hi"
    client.close()


# ------------------------------------------------------- hang-up while pending
class _LogEvent(logging.Handler):
    """Sets an Event when a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.seen = Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.fixture
def hang_up_logged(request):
    # The resource names the test, so another test's server cannot set it.
    handler = _LogEvent(f"hung up before its request for /{request.node.name} ")
    server_logger = logging.getLogger("wsframework.server")
    level = server_logger.level
    server_logger.setLevel(logging.INFO)
    server_logger.addHandler(handler)
    yield handler.seen
    server_logger.removeHandler(handler)
    server_logger.setLevel(level)


@pytest.mark.parametrize("abrupt", [False, True])
def test_client_hanging_up_leaves_pending_requests_at_once(make_server, hang_up_logged,
                                                          abrupt, request):
    requests = AsyncResult()

    def on_request(request):
        requests.set(request)                    # answered later, from another greenlet

    # No request_timeout: only the hang-up can free the request.
    server = make_server(on_request, request_timeout=None, max_connections=1)
    gone = RawClient(server.port)
    gone.send_raw(handshake_request(f"/{request.node.name}"))
    requests.get(timeout=5)
    gevent.idle()                                # the server is waiting for an answer now
    assert len(server.pending_requests) == 1
    if abrupt:
        gone.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
    gone.close()
    assert hang_up_logged.wait(5)
    assert server.pending_requests == []
    connection = requests.get().accept()         # the late answer
    assert (connection.state, connection.close_reason_code) == ("closed", 1006)
    assert server.connections == []
    # The place it held is free: max_connections=1 admits the next client.
    requests = AsyncResult()
    client = RawClient(server.port)
    client.send_raw(handshake_request())
    requests.get(timeout=5).reject(403)
    client.close()


def test_a_pending_client_that_keeps_talking_is_still_answered(make_server):
    def on_request(request):
        gevent.sleep(0)                          # answer on a later turn of the loop
        request.accept()

    server = make_server(on_request)
    client = RawClient(server.port)
    # The handshake and a frame in one write: the server must not take the
    # bytes for a hang-up, nor lose them.
    from wsframework.protocol.frame import encode_frame
    client.send_raw(handshake_request() + encode_frame(1, b"early", mask=True))
    response = client.request(b"")
    assert response.status == 101


# ------------------------------------------------------------ graceful shutdown
def test_shut_down_loses_nothing_send_accepted(make_server):
    """Megabytes queued for a client that has not read yet are all delivered
    before the 1001 close; the handshake then completes."""
    count, size = 64, 512 * 1024
    queued = AsyncResult()

    def on_request(request):
        connection = request.accept()
        connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        connection.receive()                     # "go": the client's window is small now
        below_mark = [connection.send(bytes([i]) * size) for i in range(count)]
        queued.set((below_mark, connection.buffered_amount))
        connection.run()

    # Without compression, so the bytes queued are the bytes sent.
    server = make_server(on_request, max_received_frame_size=1 << 20,
                         permessage_deflate=False)
    client = connect(server.url, max_received_message_size=1 << 20,
                     max_received_frame_size=1 << 20)
    # Loopback windows grow to tens of MiB here: keep this one small so
    # that most of the messages wait in the server's queue.
    client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    client.send("go")
    below_mark, buffered = queued.get(timeout=10)
    assert False in below_mark and buffered > 4 * size    # still queued in the server
    stopping = gevent.spawn(server.shut_down, 30)
    received = []
    while True:
        message = client.receive(timeout=20)
        if message is None:
            break
        received.append(message.binary_data)
    assert [len(data) for data in received] == [size] * count
    assert all(data == bytes([i]) * size for i, data in enumerate(received))
    assert (client.close_reason_code, client.close_description) == (
        1001, "Server shutting down")
    stopping.get(timeout=10)
    assert client.was_clean and server.connections == []


def test_shut_down_refuses_new_connections_and_pending_requests(make_server):
    holding = Event()

    def on_request(request):
        if request.resource == "/hold":
            holding.set()
            return
        request.accept().run()

    server = make_server(on_request)
    open_client = connect(server.url)
    waiting = RawClient(server.port)
    waiting.send_raw(handshake_request("/hold"))
    assert holding.wait(5)
    server.shut_down(timeout=10)
    assert open_client.receive(timeout=5) is None
    assert open_client.close_reason_code == 1001
    assert waiting.request(b"").status == 503
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2)


# ------------------------------------------------------------ head limits
def test_too_many_headers_get_431_over_a_socket(make_server):
    server = make_server(echo_handler)
    headers = {f"X-Filler-{i}": "x" for i in range(150)}
    response = RawClient(server.port).request(handshake_request(headers=headers))
    assert response.status == 431
    client = connect(server.url)                # and the server keeps serving
    client.send("still here")
    assert client.receive(timeout=5).data == "still here"


def test_an_overlong_request_line_gets_431(make_server):
    server = make_server(echo_handler)
    response = RawClient(server.port).request(handshake_request("/" + "a" * 20000))
    assert response.status == 431


def test_listen_backlog_is_configurable(make_server):
    server = make_server(echo_handler, backlog=4096)
    assert server.http_server.backlog == 4096
    default = WebSocketServer.listen(("127.0.0.1", 0))
    try:
        assert default.http_server.backlog == 1024
    finally:
        default.http_server.close()


def test_heads_still_coming_count_towards_max_connections_per_ip(make_server):
    """One address cannot hold more sockets than max_connections_per_ip by
    never finishing its request heads (a slowloris): a further connection
    from it is refused with 503 before it sends anything."""
    server = make_server(echo_handler, max_connections_per_ip=2, handshake_timeout=60)
    closed = closed_events(server)
    slow = [RawClient(server.port, "127.0.0.1") for _ in range(2)]
    request = handshake_request()
    for client in slow:
        client.send_raw(request[:16])                     # a head that does not end
    # The server takes connections in the order they came: the slow ones hold
    # their address's places when the third is accepted.
    third = RawClient(server.port, "127.0.0.1")
    response = parse_response(read_head(third.reader, 65536))
    assert response.status == 503
    assert response.headers["X-WebSocket-Reject-Reason"] == \
        "Too many connections from this address."
    assert third.read_until_eof() == b""
    other = RawClient(server.port, "127.0.0.2")           # another address has its own
    assert other.request(handshake_request()).status == 101
    # A head that ends takes its place as a connection; the limit holds on.
    assert slow[0].request(request[16:]).status == 101
    assert RawClient(server.port, "127.0.0.1").request(request).status == 503
    assert slow[1].request(request[16:]).status == 101
    assert RawClient(server.port, "127.0.0.1").request(request).status == 503
    # A connection that closes gives its place back.
    slow[0].send_frame(0x8, b"\x03\xe8")
    assert closed.get(timeout=5).remote_address == "127.0.0.1"
    assert RawClient(server.port, "127.0.0.1").request(request).status == 101


def test_a_head_given_up_gives_its_place_back(make_server):
    server = make_server(echo_handler, max_connections_per_ip=1, handshake_timeout=60)
    slow = RawClient(server.port, "127.0.0.1")
    slow.send_raw(b"GET / HTTP/1.1\r\n")
    refused = RawClient(server.port, "127.0.0.1")
    assert parse_response(read_head(refused.reader, 65536)).status == 503
    slow.sock.close()                                      # EOF: the head never comes
    with gevent.Timeout(5, AssertionError("the place was never given back")):
        while server._per_ip:
            gevent.sleep(0.01)
    assert RawClient(server.port, "127.0.0.1").request(handshake_request()).status == 101


def test_a_tls_connection_over_the_limit_is_closed_unanswered(make_server):
    import ssl

    import trustme
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(echo_handler, ssl_context=context, max_connections_per_ip=1,
                         handshake_timeout=60)
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)   # no TLS hello
    refused = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    assert refused.recv(100) == b""                       # closed before any TLS
    refused.close()
    slow.close()
