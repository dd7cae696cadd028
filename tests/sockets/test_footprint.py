"""Footprint: what an idle connection costs the server stays within a
budget (Python objects and traced bytes per connection).

Idle memory is one of the benchmark's scenarios (``bench/``, the shared
harness's ``idle``); this keeps the pieces that made it small from coming
back unnoticed: a timer or bound methods per connection, a closure per
greenlet, empty containers kept by requests and event emitters.  The
clients are plain sockets made before the baseline, reading into one
preallocated buffer, so what is counted is the server's.
"""

from __future__ import annotations

import gc
import socket
import tracemalloc

import pytest

from wsframework import WebSocketServer

from ..helpers import handshake_request

N = 200
# Budgets by how the handler reads.  Blocking style (``for message in
# connection``): measured at 18 GC-tracked objects per idle connection (17,
# plus the last message, which the handler's loop variable keeps) and
# ~5.1 KB traced (of which ~2 KB is the copy of the C stack of the greenlet
# blocked in it).  Before the diet of 2026-11-26 it was 34 objects and ~7 KB.
# Event style (a ``message`` listener, as bench/server.py): the idle
# connection parks, holding no greenlet (no C stack copy, no Python data
# stack, which tracemalloc does not even see): measured at 17 objects
# (the listener's closure and its cell among them) and ~2.25 KB.
BUDGETS = {"blocking": (19, 5_600), "event": (17.5, 2_500)}

ECHO_FRAME = b"\x81\x84abcd" + bytes(b ^ m for b, m in zip(b"ping", b"abcd"))


def read_until(sock: socket.socket, buf: memoryview, end: bytes) -> None:
    """Receive into ``buf`` until what came ends with ``end``."""
    got = 0
    while not bytes(buf[max(0, got - len(end)):got]).endswith(end) or got == 0:
        n = sock.recv_into(buf[got:])
        assert n, "the server closed the connection"
        got += n


def echo_in_event_style(request):
    """As bench/server.py: a listener, and the connection parks."""
    connection = request.accept(None, request.origin)
    connection.on("message", lambda message: connection.send(message.data))


def echo_in_blocking_style(request):
    """As the README: the handler's greenlet reads."""
    connection = request.accept(None, request.origin)
    for message in connection:
        connection.send(message.data)


HANDLERS = {"event": echo_in_event_style, "blocking": echo_in_blocking_style}


@pytest.fixture(params=sorted(BUDGETS))
def style(request):
    return request.param


@pytest.fixture
def echo_server(style):
    server = WebSocketServer.listen(("127.0.0.1", 0))   # the defaults: keepalive on
    server.on("request", HANDLERS[style])
    server.start()
    yield server
    server.stop()


def test_an_idle_connection_costs_little(echo_server, style):
    address = echo_server.address
    clients = [socket.socket() for _ in range(N)]
    requests = [handshake_request("/echo") for _ in range(N)]
    buf = memoryview(bytearray(4096))
    gc.collect()
    objects_before = len(gc.get_objects())
    tracemalloc.start()
    try:
        bytes_before = tracemalloc.get_traced_memory()[0]
        for client, request in zip(clients, requests):
            client.connect(address)
            client.sendall(request)
        for client in clients:
            read_until(client, buf, b"\r\n\r\n")
        # One echo each: once it is back, every server connection has gone
        # round its read loop and waits for the next message, in its
        # greenlet or parked (a send never yields, so the reply is only
        # read after that).
        for client in clients:
            client.sendall(ECHO_FRAME)
        for client in clients:
            read_until(client, buf, b"ping")
        assert len(echo_server.connections) == N
        gc.collect()
        per_connection_bytes = (tracemalloc.get_traced_memory()[0] - bytes_before) / N
    finally:
        tracemalloc.stop()
    per_connection_objects = (len(gc.get_objects()) - objects_before) / N
    objects_budget, bytes_budget = BUDGETS[style]
    try:
        assert per_connection_objects <= objects_budget, per_connection_objects
        assert per_connection_bytes <= bytes_budget, per_connection_bytes
    finally:
        for client in clients:
            client.close()
