"""WebSockets on a gevent WSGI server's port: gevent-websocket style
(environ["wsgi.websocket"]), a mounted WebSocketServer with a router, and
Flask — with plain HTTP requests before and after on the same server."""

from __future__ import annotations

import http.client

import gevent
import pytest
from gevent import pywsgi
from gevent.event import AsyncResult, Event
from gevent.queue import Queue

from wsframework import (WebSocketConnection, WebSocketHandshakeError, WebSocketRouter,
                         WebSocketServer, connect)
from wsframework.wsgi import GeventWebSocket

from ..helpers import RawClient, handshake_request


@pytest.fixture
def wsgi():
    """Start a pywsgi server for an app; stopped after the test."""
    servers = []

    def start(app, **kwargs):
        server = pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=1)


def page_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"page"]


def get_twice_on_one_connection(port):
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    bodies = []
    for _ in range(2):                     # keep-alive: one TCP connection
        client.request("GET", "/")
        bodies.append(client.getresponse().read())
    client.close()
    return bodies


# ------------------------------------------------ gevent-websocket style
# This app is written exactly as for gevent-websocket; only the import of
# WebSocketHandler differs (wsframework.wsgi instead of geventwebsocket.handler).
def gevent_websocket_app(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        return page_app(environ, start_response)
    assert environ["PATH_INFO"] == "/echo"
    while True:
        message = ws.receive()
        if message is None:
            break
        if isinstance(message, str):
            ws.send("echo: " + message)
        else:
            ws.send(message[::-1], binary=True)
    return []


def test_gevent_websocket_app_runs_with_only_the_import_changed(wsgi):
    from wsframework.wsgi import WebSocketHandler    # was: geventwebsocket.handler
    server = wsgi(gevent_websocket_app, handler_class=WebSocketHandler)
    server.start()
    assert get_twice_on_one_connection(server.server_port) == [b"page", b"page"]
    client = connect(f"ws://127.0.0.1:{server.server_port}/echo")
    client.send("hi")
    assert client.receive(timeout=5).data == "echo: hi"
    client.send(b"\x01\x02")
    assert client.receive(timeout=5).data == b"\x02\x01"
    client.close()
    assert client.wait_closed(5) and client.close_reason_code == 1000
    assert get_twice_on_one_connection(server.server_port) == [b"page", b"page"]


def test_environ_websocket_is_this_packages_connection(wsgi):
    from wsframework.wsgi import WebSocketHandler
    seen = AsyncResult()

    def app(environ, start_response):
        ws = environ["wsgi.websocket"]
        seen.set((type(ws), isinstance(ws, WebSocketConnection), ws.path, ws.origin,
                  environ["wsgi.websocket_version"], ws.protocol))
        ws.close(4000, b"that is all")
        return []

    server = wsgi(app, handler_class=WebSocketHandler)
    server.start()
    client = connect(f"ws://127.0.0.1:{server.server_port}/x", ["p1", "p2"],
                     origin="http://o.example")
    assert seen.get(timeout=5) == (GeventWebSocket, True, "/x", "http://o.example", "13", "p1")
    assert client.receive(timeout=5) is None
    assert (client.close_reason_code, client.close_description) == (4000, "that is all")


def test_app_return_closes_the_connection(wsgi):
    from wsframework.wsgi import WebSocketHandler
    server = wsgi(lambda environ, start_response: [], handler_class=WebSocketHandler)
    server.start()
    client = connect(f"ws://127.0.0.1:{server.server_port}/")
    assert client.receive(timeout=5) is None
    assert client.close_reason_code == 1000


def test_bad_handshake_on_the_wsgi_handler(wsgi):
    from wsframework.wsgi import WebSocketHandler
    server = wsgi(lambda environ, start_response: pytest.fail("not called"),
                  handler_class=WebSocketHandler)
    server.start()
    response = RawClient(server.server_port).request(
        handshake_request(headers={"Sec-WebSocket-Version": "7"}))
    assert response.status == 426


def test_gevent_websocket_style_holds_allowed_origins(wsgi):
    """The handler answers through the server's one path: an origin not in
    ``allowed_origins`` is refused with 403 before the app runs."""
    from wsframework.wsgi import WebSocketHandler

    class OnlyGood(WebSocketHandler):
        websocket_config = {"allowed_origins": ["http://good.example"]}

    def app(environ, start_response):
        ws = environ["wsgi.websocket"]
        ws.send(ws.origin)
        return []

    server = wsgi(app, handler_class=OnlyGood)
    server.start()
    for origin in ("http://evil.example", None):
        headers = {"Origin": origin} if origin else None
        client = RawClient(server.server_port)
        response = client.request(handshake_request("/", headers))
        assert response.status == 403, origin
        assert response.headers["X-WebSocket-Reject-Reason"] == "Origin not allowed."
        assert client.read_until_eof() == b""
    client = connect(f"ws://127.0.0.1:{server.server_port}/", origin="http://good.example")
    assert client.receive(timeout=5).data == "http://good.example"


@pytest.mark.parametrize("config, other_source, reason", [
    ({"max_connections": 1}, None, "The server has too many connections."),
    ({"max_connections_per_ip": 1}, "127.0.0.2", "Too many connections from this address."),
])
def test_gevent_websocket_style_holds_the_connection_limits(wsgi, config, other_source,
                                                            reason):
    """``max_connections`` and ``max_connections_per_ip`` count the
    gevent-websocket style connections: over the limit is 503 (the app is
    not called), and the place comes back when a connection closes."""
    from wsframework.wsgi import WebSocketHandler

    class Limited(WebSocketHandler):
        websocket_config = config

    closes = Queue()

    def app(environ, start_response):
        ws = environ["wsgi.websocket"]
        ws.on("close", lambda code, description: closes.put(code))
        ws.send("in")
        while ws.receive() is not None:
            pass
        return []

    server = wsgi(app, handler_class=Limited)
    server.start()
    port = server.server_port
    first = RawClient(port)
    first.handshake()
    assert first.read_frame().binary_payload == b"in"
    response = RawClient(port).request(handshake_request())
    assert response.status == 503
    assert response.headers["X-WebSocket-Reject-Reason"] == reason
    expected_closes = 1
    if other_source is not None:            # the limit is per address
        other = RawClient(port, source=other_source)
        other.handshake()
        assert other.read_frame().binary_payload == b"in"
        other.send_frame(0x8, b"\x03\xe8")
        expected_closes += 1
    first.send_frame(0x8, b"\x03\xe8")       # close 1000: the place comes back
    assert [closes.get(timeout=5) for _ in range(expected_closes)] == [1000] * expected_closes
    again = connect(f"ws://127.0.0.1:{port}/")
    assert again.receive(timeout=5).data == "in"
    again.close()


def test_upgrade_after_a_keep_alive_request_on_one_connection(wsgi):
    from wsframework.wsgi import WebSocketHandler
    server = wsgi(gevent_websocket_app, handler_class=WebSocketHandler)
    server.start()
    raw = RawClient(server.server_port)
    response = raw.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200 and raw.reader.read_exact(4) == b"page"
    raw.handshake("/echo")
    raw.send_frame(0x1, b"same socket")
    frame = raw.read_frame()
    assert frame.binary_payload == b"echo: same socket"


# ------------------------------------------------------- mounted server
@pytest.fixture
def mounted(wsgi):
    server = wsgi(page_app)
    websocket_server = WebSocketServer(http_server=server)
    router = WebSocketRouter(websocket_server)
    server.start()
    return server, websocket_server, router


def echo_route(request):
    connection = request.accept(request.origin)
    for message in connection:
        connection.send(message.data)


def test_mounted_server_routes_upgrades_and_serves_pages(mounted):
    server, websocket_server, router = mounted
    router.mount("/chat", "chat", echo_route)
    port = server.server_port
    assert get_twice_on_one_connection(port) == [b"page", b"page"]
    client = connect(f"ws://127.0.0.1:{port}/chat", ["chat"])
    assert client.protocol == "chat"
    client.send("routed")
    assert client.receive(timeout=5).data == "routed"
    assert len(websocket_server.connections) == 1
    assert get_twice_on_one_connection(port) == [b"page", b"page"]
    client.close()
    assert client.wait_closed(5)
    gevent.idle()
    assert websocket_server.connections == []


@pytest.mark.parametrize("path, protocols", [("/unknown", None), ("/chat", ["other"]),
                                             ("/", None)])
def test_mounted_server_unmatched_upgrades_get_404(mounted, path, protocols):
    server, websocket_server, router = mounted
    router.mount("/chat", "chat", echo_route)
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{server.server_port}{path}", protocols)
    assert info.value.response.status == 404
    assert info.value.response.headers["X-WebSocket-Reject-Reason"] == \
        "No handler is available for the given request."
    assert websocket_server.connections == [] and websocket_server.pending_requests == []


def test_unanswered_request_gets_503_and_leaks_nothing(wsgi):
    server = wsgi(page_app)
    websocket_server = WebSocketServer(http_server=server, request_timeout=0.2)
    called = Event()
    websocket_server.on("request", lambda request: called.set())   # never answers
    server.start()
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{server.server_port}/")
    assert called.is_set()
    assert info.value.response.status == 503
    assert websocket_server.pending_requests == [] and websocket_server.connections == []


def test_unmount_restores_the_handler(wsgi):
    server = wsgi(page_app)
    original = server.handler_class
    websocket_server = WebSocketServer(http_server=server)
    assert server.handler_class is not original
    websocket_server.unmount()
    assert server.handler_class is original and not hasattr(server, "websocket_server")


# ---------------------------------------------------------------- Flask
def test_flask_pages_and_sockets_on_one_port():
    from flask import Flask

    from wsframework.flask import Sock

    app = Flask(__name__)
    sock = Sock(app)

    @app.route("/")
    def index():
        return "flask page"

    @sock.route("/rooms/<name>")
    def room(connection, name):
        for message in connection:
            connection.send(f"{name}: {message.data}")

    server = sock.make_server(("127.0.0.1", 0), log=None)
    server.start()
    try:
        port = server.server_port
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        client.request("GET", "/")
        assert client.getresponse().read() == b"flask page"
        ws = connect(f"ws://127.0.0.1:{port}/rooms/lobby")
        ws.send("hello")
        assert ws.receive(timeout=5).data == "lobby: hello"
        client.request("GET", "/")                 # the same keep-alive connection
        assert client.getresponse().read() == b"flask page"
        with pytest.raises(WebSocketHandshakeError) as info:
            connect(f"ws://127.0.0.1:{port}/")     # an upgrade sent to a page route
        assert info.value.response.status == 404
        client.request("GET", "/rooms/lobby")      # plain HTTP to a socket route
        assert client.getresponse().status == 404
        ws.close()
        assert ws.wait_closed(5)
    finally:
        server.stop(timeout=1)


def test_gevent_websocket_iteration_still_yields_messages(wsgi):
    from wsframework.wsgi import WebSocketHandler
    seen = AsyncResult()

    def app(environ, start_response):
        ws = environ["wsgi.websocket"]
        seen.set([message.data for message in ws])
        return []

    server = wsgi(app, handler_class=WebSocketHandler)
    server.start()
    client = connect(f"ws://127.0.0.1:{server.server_port}/")
    client.send("a")
    client.send(b"b")
    client.close()
    assert seen.get(timeout=5) == ["a", b"b"]


def test_x_forwarded_for_on_several_lines_is_one_list_under_pywsgi(mounted):
    """Behind pywsgi too, X-Forwarded-For sent as several header lines (a
    proxy chain) joins in order, as on a server of its own."""
    server, websocket_server, router = mounted
    seen = AsyncResult()

    def route(request):
        connection = request.accept()
        seen.set((request.remote_addresses, connection.remote_address))

    router.mount("/chain", None, route)
    client = RawClient(server.server_port)
    client.request(handshake_request(path="/chain")[:-2] + b"X-Forwarded-For: 1.1.1.1\r\n"
                   b"X-Forwarded-For: 2.2.2.2, 3.3.3.3\r\n\r\n")
    assert seen.get(timeout=5) == (["1.1.1.1", "2.2.2.2", "3.3.3.3", "127.0.0.1"], "1.1.1.1")
