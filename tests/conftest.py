"""Shared fixtures: real servers on 127.0.0.1 (port 0), torn down after
each test.  The suite runs under ``pytest-gevent`` (gevent monkey-patched)."""

from __future__ import annotations

import os

import gevent
import pytest

from wsframework import WebSocketServer


# The client honours HTTP_PROXY, HTTPS_PROXY and ALL_PROXY as urllib does;
# the suite's own connections go straight to 127.0.0.1 whatever the machine
# says (tests/test_proxy.py sets them where it means to).
for _name in ("http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.upper(), None)


class ServerFactory:
    """Starts ``WebSocketServer.listen`` servers and stops them at teardown."""

    def __init__(self) -> None:
        self.servers: list[WebSocketServer] = []

    def __call__(self, on_request=None, **config) -> WebSocketServer:
        server = WebSocketServer.listen(("127.0.0.1", 0), **config)
        if on_request is not None:
            server.on("request", on_request)
        server.start()
        server.url = f"ws://127.0.0.1:{server.port}"
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            for connection in server.connections:
                connection.drop(1001, skip_close_frame=True)
            server.http_server.stop(timeout=1)


@pytest.fixture
def make_server():
    factory = ServerFactory()
    yield factory
    factory.close()


def echo_handler(request):
    """Accept with the first requested protocol and echo every message."""
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:
        connection.send(message.data)


@pytest.fixture
def echo_server(make_server):
    """An echo server that takes messages up to 32 MiB."""
    return make_server(echo_handler, max_received_frame_size=1 << 25,
                       max_received_message_size=1 << 25)


@pytest.fixture(autouse=True)
def _no_stray_timeout():
    # Every test gets a hard ceiling so a hang fails instead of blocking CI.
    with gevent.Timeout(60):
        yield
