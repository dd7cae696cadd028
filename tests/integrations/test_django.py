"""wsframework.django: a real minimal Django project (tests/webapps/
djangoproject: sessions and auth on SQLite) whose WebSocket view sees the
session and user at the handshake and refuses anonymous upgrades with 403,
served by pywsgi with WebSocketHandler and by gunicorn with the worker."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import urllib.parse

import pytest

from wsframework import WebSocketHandshakeError, connect
from wsframework.django import NOT_SERVED

from ..webapps import ROOT, servers  # noqa: F401 - fixture

APP = "tests.webapps.djangoproject.wsgi:application"


@pytest.fixture
def database(tmp_path):
    """The project's environment, with its SQLite database made (tables,
    the user alice)."""
    env = {"WSF_DJANGO_DB": str(tmp_path / "db.sqlite3")}
    subprocess.run([sys.executable, "-m", "tests.webapps.djangoproject.setup_db"],
                   cwd=ROOT, env={**os.environ, **env}, check=True, timeout=120)
    return env


def request(port: int, method: str, path: str, body: dict | None = None,
            headers: dict | None = None) -> http.client.HTTPResponse:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    data = urllib.parse.urlencode(body) if body else None
    all_headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    client.request(method, path, data, {**all_headers, **(headers or {})})
    response = client.getresponse()
    response.body = response.read()
    client.close()
    return response


def check_project(port: int):
    """Pages, the 403 for anonymous upgrades, the session's user in the
    view; returns an open connection of alice's."""
    assert request(port, "GET", "/").body == b"django page"
    plain = request(port, "GET", "/ws/lobby")                   # not an upgrade
    assert plain.status == 426 and plain.getheader("Upgrade") == "websocket"
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{port}/ws/lobby")
    assert info.value.response.status == 403
    assert info.value.response.headers["X-WebSocket-Reject-Reason"] == "Log in first."
    with pytest.raises(WebSocketHandshakeError) as info:       # a page, not a socket
        connect(f"ws://127.0.0.1:{port}/")
    assert info.value.response.status == 404
    login = request(port, "POST", "/login", {"username": "alice", "password": "secret"})
    assert login.body == b"logged in"
    cookie = login.getheader("Set-Cookie").split(";")[0]
    assert cookie.startswith("sessionid=")
    ws = connect(f"ws://127.0.0.1:{port}/ws/lobby", headers={"Cookie": cookie})
    ws.send("hi")
    assert ws.receive(timeout=20).data == "lobby alice: hi"
    big = connect(f"ws://127.0.0.1:{port}/ws/lobby", headers={"Cookie": cookie})
    big.send("x" * 5000)              # over WSFRAMEWORK_SERVER's max_received_message_size
    assert big.receive(timeout=20) is None and big.close_reason_code == 1009
    return ws


def test_django_on_pywsgi(servers, database):
    server = servers.pywsgi(APP, env=database)
    ws = check_project(server.port)
    ws.close()
    assert ws.wait_closed(20) and ws.close_reason_code == 1000


def test_django_under_gunicorn_with_the_worker(servers, database):
    server = servers.gunicorn(APP, workers=2, env=database)
    ws = check_project(server.port)
    server.signal(signal.SIGTERM)
    assert ws.receive(timeout=20) is None and ws.close_reason_code == 1001
    assert server.wait_exit() == 0


def test_an_upgrade_that_did_not_come_through_wsframework_gets_how_to(servers, database):
    # pywsgi's own handler takes no upgrades: the request reaches the view.
    server = servers.pywsgi(APP, "--plain", env=database)
    response = request(server.port, "GET", "/ws/lobby", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status == 500
    assert response.body.decode() == NOT_SERVED
    server.wait_for(r"reached the view without wsframework")
