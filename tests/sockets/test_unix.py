"""Unix domain sockets: WebSocketServer.listen("unix:/path"), the client's
ws+unix: URLs and unix_socket_path, the W3C client, and the chat served on
a socket file (python -m wsframework serve --unix PATH)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket

import gevent.event
import pytest

from wsframework import W3CWebSocket, WebSocketServer, connect
from wsframework.unix import split_unix_url

from ..apps.test_cli import Serve, serve  # noqa: F401  (fixture)


@pytest.fixture
def socket_path(tmp_path):
    # Unix socket paths are short (108 bytes): a short name in the test's folder.
    return str(tmp_path / "ws.sock")


@pytest.fixture
def unix_server(socket_path):
    seen = []

    def on_request(request):
        seen.append(request)
        connection = request.accept(None, request.origin)
        for message in connection:
            connection.send(message.data)

    server = WebSocketServer.listen(f"unix:{socket_path}")
    server.on("request", on_request)
    server.start()
    server.seen = seen
    yield server
    server.shut_down(timeout=1)


def test_echo_over_a_unix_socket(unix_server, socket_path):
    assert unix_server.address == f"unix:{socket_path}"
    assert unix_server.port is None
    connection = connect(f"ws+unix:{socket_path}:/chat?room=1")
    connection.send("over the socket file")
    assert connection.receive(timeout=5).data == "over the socket file"
    request = unix_server.seen[0]
    assert request.resource == "/chat?room=1"
    assert request.host == "localhost"
    assert request.remote_address == f"unix:{socket_path}"
    assert connection.socket.family == socket.AF_UNIX
    connection.close()
    assert connection.wait_closed(5) and connection.close_reason_code == 1000


def test_node_spelling_and_unix_socket_path(unix_server, socket_path):
    connection = connect(f"ws+unix://{socket_path}:/x")        # ws+unix:///abs/path:/x
    connection.send("a")
    assert connection.receive(timeout=5).data == "a"
    connection.close()
    # unix_socket_path: the URL still gives the Host header and the resource.
    other = connect("ws://app.example:8000/feed", unix_socket_path=socket_path)
    other.send("b")
    assert other.receive(timeout=5).data == "b"
    assert unix_server.seen[-1].host == "app.example:8000"
    assert unix_server.seen[-1].resource == "/feed"
    other.close()


def test_w3c_client_over_a_unix_socket(unix_server, socket_path):
    got = gevent.event.AsyncResult()
    ws = W3CWebSocket(f"ws+unix:{socket_path}:/")
    ws.onopen = lambda event: ws.send("w3c")
    ws.onmessage = lambda event: got.set(event.data)
    assert got.get(timeout=5) == "w3c"
    ws.close()


def test_socket_file_lifecycle(socket_path):
    first = WebSocketServer.listen(f"unix:{socket_path}")
    first.start()
    # A live server keeps its socket: a second one may not take it over.
    with pytest.raises(OSError, match="already listens"):
        WebSocketServer.listen(f"unix:{socket_path}")
    first.shut_down(timeout=1)
    assert not os.path.exists(socket_path)                 # removed at close
    # A stale file (its server died without removing it) is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(socket_path)
    stale.close()
    assert os.path.exists(socket_path)
    second = WebSocketServer.listen(f"unix:{socket_path}")
    second.start()
    second.shut_down(timeout=1)
    # A regular file is never removed.
    with open(socket_path, "w") as f:
        f.write("not a socket")
    with pytest.raises(OSError, match="not a socket"):
        WebSocketServer.listen(f"unix:{socket_path}")
    assert open(socket_path).read() == "not a socket"


@pytest.mark.parametrize("url, expected", [
    ("ws+unix:/run/app.sock:/chat?x=1", ("ws", "/run/app.sock", "/chat?x=1")),
    ("ws+unix:///run/app.sock:/chat", ("ws", "/run/app.sock", "/chat")),
    ("wss+unix:/run/app.sock", ("wss", "/run/app.sock", "/")),
    ("ws+unix:relative.sock:x", ("ws", "relative.sock", "/x")),
    ("ws://host/", None),
])
def test_split_unix_url(url, expected):
    assert split_unix_url(url) == expected


def test_a_bad_unix_address_is_refused():
    with pytest.raises(ValueError, match="unix:/path"):
        WebSocketServer.listen("localhost:80")
    with pytest.raises(TypeError, match="'unix_socket_path'"):
        connect("ws://127.0.0.1:1/", unix_socket_path=42)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (the page of the chat)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def test_the_chat_behind_a_unix_socket(serve, socket_path):  # noqa: F811
    server = serve("--unix", socket_path)
    server.wait_for(rf"chat server on unix:{socket_path}")
    page = UnixHTTPConnection(socket_path)
    page.request("GET", "/")
    response = page.getresponse()
    assert response.status == 200 and b"<html" in response.read().lower()
    page.close()
    members = []
    for nick in ("alice", "bob"):
        connection = connect(f"ws+unix:{socket_path}:/ws", ["chat"])
        connection.send(json.dumps({"type": "join", "room": "lobby", "nick": nick}))
        assert json.loads(connection.receive(timeout=5).data)["type"] == "welcome"
        members.append(connection)
    alice, bob = members
    alice.send(json.dumps({"type": "message", "text": "hi over unix"}))
    while True:
        event = json.loads(bob.receive(timeout=5).data)
        if event["type"] == "message":
            break
    assert event["text"] == "hi over unix" and event["nick"] == "alice"
    assert server.stop(signal.SIGTERM) == 0
    for connection in members:
        while connection.receive(timeout=5) is not None:
            pass
        assert connection.close_reason_code == 1001
    assert not os.path.exists(socket_path)                 # the socket file went with it


def test_unix_urls_cannot_break_the_request_line(unix_server, socket_path):
    connection = connect(f"ws+unix:{socket_path}:/x HTTP/1.1\r\nX-Injected: yes\r\nX: #frag")
    request = unix_server.seen[-1]
    assert request.resource == "/x%20HTTP/1.1%0D%0AX-Injected:%20yes%0D%0AX:%20"
    assert "X-Injected" not in request.http_request.headers
    connection.close()
