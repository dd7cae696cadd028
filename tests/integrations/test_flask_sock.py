"""wsframework.flask.Sock with blueprints, the app-factory pattern
(``sock.init_app``) and Flask's ``session``/``g`` in the handler: on pywsgi,
under gunicorn with the worker, and the clear error under Werkzeug's
development server (``flask run``)."""

from __future__ import annotations

import http.client
import signal
import sys

import pytest

from wsframework import WebSocketHandshakeError, connect
from wsframework.flask import NOT_SERVED

from ..helpers import RawClient, handshake_request
from ..webapps import servers  # noqa: F401 - fixture
from ..webapps.flask_app import create_app, sock



def body(raw: RawClient) -> bytes:
    """The rest of the response: what the reader holds, then to EOF."""
    held = raw.reader.read_exact(raw.reader.buffered) if raw.reader.buffered else b""
    return held + raw.read_until_eof()

def log_in(port: int, user: str) -> str:
    """The session cookie of ``user`` (as ``name=value``)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    client.request("GET", f"/login/{user}")
    response = client.getresponse()
    assert response.read() == b"logged in"
    client.close()
    return response.getheader("Set-Cookie").split(";")[0]


def page(port: int, path: str) -> tuple[int, bytes]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    client.request("GET", path)
    response = client.getresponse()
    result = response.status, response.read()
    client.close()
    return result


def check_app(port: int) -> None:
    """Pages, the blueprint's WebSocket route with session and g, and the
    refusals, on an app made by create_app()."""
    assert page(port, "/rooms/") == (200, b"rooms page")
    cookie = log_in(port, "alice")
    ws = connect(f"ws://127.0.0.1:{port}/rooms/lobby", headers={"Cookie": cookie})
    ws.send("hi")
    assert ws.receive(timeout=20).data == "lobby alice tagged: hi"
    anonymous = connect(f"ws://127.0.0.1:{port}/rooms/kitchen")
    anonymous.send("yo")
    assert anonymous.receive(timeout=20).data == "kitchen anonymous tagged: yo"
    echo = connect(f"ws://127.0.0.1:{port}/echo")
    echo.send(b"\x00\x01")
    assert echo.receive(timeout=20).data == b"\x00\x01"
    with pytest.raises(WebSocketHandshakeError) as info:       # before_request aborts
        connect(f"ws://127.0.0.1:{port}/rooms/lobby?banned=1")
    assert info.value.response.status == 403
    assert info.value.response.headers["X-WebSocket-Reject-Reason"] == "banned"
    with pytest.raises(WebSocketHandshakeError) as info:       # a page, not a socket
        connect(f"ws://127.0.0.1:{port}/rooms/")
    assert info.value.response.status == 404
    for connection in (ws, anonymous, echo):
        connection.close()
        assert connection.wait_closed(20) and connection.close_reason_code == 1000


def test_blueprint_factory_session_and_g_on_pywsgi():
    app = create_app()
    assert app.websocket_server is sock.server and sock.app is app
    server = sock.make_server(("127.0.0.1", 0), log=None)
    server.start()
    try:
        check_app(server.server_port)
    finally:
        server.stop(timeout=1)


def test_a_second_app_from_the_factory_takes_the_routes_once():
    first, second = create_app(), create_app()
    assert sock.app is second and second.websocket_server is sock.server
    paths = [handler.path for handler in sock.router.handlers]
    assert sorted(paths) == ["/echo", "/rooms/{name}"]
    assert first.extensions["wsframework.sock"] is sock


def test_served_by_gunicorn_with_the_worker(servers):
    server = servers.gunicorn("tests.webapps.flask_app:create_app()", workers=2)
    check_app(server.port)
    ws = connect(f"ws://127.0.0.1:{server.port}/echo")
    ws.send("still here")
    assert ws.receive(timeout=20).data == "still here"
    server.signal(signal.SIGTERM)
    assert ws.receive(timeout=20) is None and ws.close_reason_code == 1001
    assert server.wait_exit() == 0


def test_flask_run_answers_an_upgrade_with_how_to_serve_it(servers):
    server = servers.start([sys.executable, "-m", "flask", "--app",
                            "tests.webapps.flask_app:create_app", "run", "--port", "0"])
    port = int(server.wait_for(r"Running on http://127\.0\.0\.1:(\d+)").group(1))
    assert page(port, "/rooms/") == (200, b"rooms page")
    raw = RawClient(port)
    response = raw.request(handshake_request("/rooms/lobby"))
    assert response.status == 500
    assert response.headers["X-WebSocket-Reject-Reason"] == \
        "The server does not take WebSocket upgrades."
    assert body(raw).decode() == NOT_SERVED
    assert "gunicorn -k wsframework.gunicorn.GeventWebSocketWorker" in NOT_SERVED
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{port}/echo", open_timeout=20)
    assert info.value.response.status == 500
    server.wait_for(r"WebSocket upgrade for /echo reached the Flask app")
    assert page(port, "/rooms/") == (200, b"rooms page")     # the server goes on
