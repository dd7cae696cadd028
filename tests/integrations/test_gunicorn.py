"""wsframework.gunicorn.GeventWebSocketWorker under a real gunicorn (a
subprocess): pages and WebSockets on one port with 2 workers, clients on
``websockets`` (Python) and ``ws`` (Node) besides ours, graceful reloads
(SIGHUP) and shutdown (SIGTERM) closing with 1001 after everything sent, the
quick shutdown (SIGINT, SIGQUIT) closing with 1001 at once,
``max_requests`` recycling, and server config from the environment."""

from __future__ import annotations

import signal
import sys
import urllib.request

import gevent
import pytest

from wsframework import WebSocketHandshakeError, connect
from wsframework.gunicorn import config_from_environ

from ..interop_peers import TEXT, peers  # noqa: F401 - peers: fixture
from ..webapps import servers  # noqa: F401 - fixture
from ..webapps.gunicorn_app import BURST_SIZE, burst_message

GEVENT_STYLE = "tests.webapps.gunicorn_app:gevent_style"
ROUTED = "tests.webapps.gunicorn_app:routed"


def get(port: int, path: str = "/") -> tuple[int, bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=20) as response:
        return response.status, response.read()


def open_clients(peers, url: str) -> list:
    """A Node ``ws`` client and a Python ``websockets`` client, each open
    and echoed once; they then wait for the server to close."""
    clients = [peers.node("ws_client.js", url, "--steps=text", "--await-close"),
               peers.python("websockets_client.py", url)]
    for client in clients:
        assert client.expect(step="text")["data"] == TEXT
    return clients


def start_burst(port: int, count: int):
    """Our client, with ``count`` burst messages queued by the server and
    only the first one read."""
    client = connect(f"ws://127.0.0.1:{port}/echo")
    client.send(f"burst:{count}")
    assert client.receive(timeout=20).data == burst_message(0)
    return client


def assert_burst_then_1001(client, count: int) -> None:
    """The rest of the burst arrives whole, then the close with 1001."""
    for index in range(1, count):
        message = client.receive(timeout=20)
        assert message is not None, f"closed ({client.close_reason_code}) at message {index}"
        assert len(message.data) == BURST_SIZE and message.data == burst_message(index)
    assert client.receive(timeout=20) is None
    assert client.close_reason_code == 1001


def test_two_workers_pages_websockets_sighup_then_sigterm(servers, peers):
    server = servers.gunicorn(GEVENT_STYLE, workers=2)
    port = server.port
    url = f"ws://127.0.0.1:{port}/echo"
    status, body = get(port)
    assert status == 200 and body.startswith(b"page from ")
    ours = connect(url)
    ours.send("ours")
    assert ours.receive(timeout=20).data == "ours"
    clients = open_clients(peers, url)
    assert get(port)[0] == 200                       # pages go on beside them

    # A graceful reload: the old workers close their WebSockets with 1001.
    server.signal(signal.SIGHUP)
    for client in clients:
        assert client.expect(event="close")["code"] == 1001
    assert ours.receive(timeout=20) is None and ours.close_reason_code == 1001
    server.wait_for(r"Closing \d+ WebSocket connection\(s\) with 1001")

    # The new workers serve both on the same port.
    assert get(port)[0] == 200
    clients = open_clients(peers, url)
    burst = start_burst(port, 100)

    server.signal(signal.SIGTERM)
    for client in clients:
        assert client.expect(event="close")["code"] == 1001
    assert_burst_then_1001(burst, 100)
    assert server.wait_exit() == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGQUIT])
def test_quick_shutdown_closes_every_websocket_with_1001_at_once(servers, signum):
    """gunicorn's quick shutdown (SIGINT, SIGQUIT): no drain spread, but
    every open WebSocket still gets 1001 before its worker exits."""
    server = servers.gunicorn(GEVENT_STYLE, workers=2)
    # Both workers serve (a worker still booting has not set its signal
    # handlers yet: it would ignore the master's SIGQUIT until killed).
    pages = set()
    with gevent.Timeout(30, AssertionError("the second worker never served a page")):
        while len(pages) < 2:
            pages.add(get(server.port)[1])
    url = f"ws://127.0.0.1:{server.port}/echo"
    clients = [connect(url) for _ in range(100)]
    for index, client in enumerate(clients):
        client.send(f"hello {index}")
        assert client.receive(timeout=20).data == f"hello {index}"
    server.signal(signum)
    for client in clients:
        assert client.receive(timeout=20) is None
        assert client.close_reason_code == 1001
    server.wait_for(r"Closing \d+ WebSocket connection\(s\) with 1001 at once", timeout=10)
    # Well within --graceful-timeout (20 s), the master's bound on a quick stop.
    assert server.wait_exit(timeout=10) == 0


def test_routed_app_config_from_environment_and_max_requests(servers):
    """The app's own server (a router) answers upgrades, with the config of
    the environment over the app's; max_requests recycles the worker with
    1001 after what was queued, and the next worker serves."""
    server = servers.gunicorn(ROUTED, "--max-requests", "4", workers=1, env={
        "WSFRAMEWORK_SERVER_ALLOWED_ORIGINS": '["http://good.example", null]',
        "WSFRAMEWORK_SERVER_MAX_RECEIVED_MESSAGE_SIZE": "1000"})
    port = server.port
    with pytest.raises(WebSocketHandshakeError) as info:      # request 1
        connect(f"ws://127.0.0.1:{port}/echo", origin="http://evil.example")
    assert info.value.response.status == 403
    with pytest.raises(WebSocketHandshakeError) as info:      # request 2
        connect(f"ws://127.0.0.1:{port}/elsewhere")
    assert info.value.response.status == 404
    big = connect(f"ws://127.0.0.1:{port}/echo")              # request 3
    big.send("x" * 1001)                                      # over the limit
    assert big.receive(timeout=20) is None and big.close_reason_code == 1009
    # Request 4 makes the worker recycle at once: the burst is queued by the
    # handler as it accepts (a message from the client could come too late).
    burst = connect(f"ws://127.0.0.1:{port}/echo?burst=50")
    assert burst.receive(timeout=20).data == burst_message(0)
    server.wait_for(r"Autorestarting worker")
    assert_burst_then_1001(burst, 50)
    server.wait_for(r"Booting worker")
    assert get(port)[0] == 200
    server.signal(signal.SIGTERM)
    assert server.wait_exit() == 0


def test_a_bad_config_variable_stops_gunicorn_naming_it(servers):
    server = servers.gunicorn(GEVENT_STYLE, env={"WSFRAMEWORK_SERVER_MAX_CONNECTIONS": "lots"},
                              listening=False)
    server.wait_for(r"WSFRAMEWORK_SERVER_MAX_CONNECTIONS: config key 'max_connections' "
                    r"must be an int \(got 'lots'\)")
    assert server.wait_exit() != 0


@pytest.mark.parametrize("environ, error", [
    ({"WSFRAMEWORK_SERVER_MAX_CONECTIONS": "3"},
     "WSFRAMEWORK_SERVER_MAX_CONECTIONS: unknown config key 'max_conections'"),
    ({"WSFRAMEWORK_SERVER_KEEPALIVE_INTERVAL": "null"},
     "keepalive_interval must be specified"),
    ({"WSFRAMEWORK_SERVER_SLOW_CONSUMER_POLICY": "later"},
     "WSFRAMEWORK_SERVER_SLOW_CONSUMER_POLICY: config key 'slow_consumer_policy' must be one of"),
])
def test_config_from_environ_errors_name_the_variable(environ, error):
    with pytest.raises(ValueError) as info:
        config_from_environ(environ)
    assert error in str(info.value)


def test_config_from_environ_values():
    assert config_from_environ({
        "WSFRAMEWORK_SERVER_MAX_CONNECTIONS": "100",
        "WSFRAMEWORK_SERVER_CLOSE_TIMEOUT": "2.5",
        "WSFRAMEWORK_SERVER_PERMESSAGE_DEFLATE": "false",
        "WSFRAMEWORK_SERVER_KEEPALIVE": "False",
        "WSFRAMEWORK_SERVER_REQUEST_TIMEOUT": "None",
        "WSFRAMEWORK_SERVER_SLOW_CONSUMER_POLICY": "drop",
        "WSFRAMEWORK_SERVER_ALLOWED_ORIGINS": '["https://a.example", null]',
        "WSFRAMEWORK_NO_SPEEDUPS": "1",                      # not a config key: left alone
        "PATH": sys.executable,
    }) == {"max_connections": 100, "close_timeout": 2.5, "permessage_deflate": False,
           "keepalive": False, "request_timeout": None, "slow_consumer_policy": "drop",
           "allowed_origins": ["https://a.example", None]}
