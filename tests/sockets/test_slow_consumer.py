"""Slow consumers: a peer that stops reading (its receive window fills up)
meets the ``slow_consumer_policy`` once ``output_buffer_limit`` bytes wait
in the server's outgoing queue; the other peers are not held up."""

from __future__ import annotations

import gevent
import pytest
from gevent.event import AsyncResult, Event

from wsframework import WebSocketError, broadcast, connect

from ..helpers import WaitedOn

LIMIT = 256 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def slow(make_server):
    """(server side, a paused client) for a policy; the client stops
    reading, so the kernel buffers fill and the server's queue grows."""

    def start(policy):
        accepted = AsyncResult()
        server = make_server(lambda request: accepted.set(request.accept()),
                             output_buffer_limit=LIMIT, slow_consumer_policy=policy,
                             permessage_deflate=False)
        client = connect(server.url, permessage_deflate=False, max_received_message_size=1 << 20)
        server_side = accepted.get(timeout=5)
        client.pause()
        return server, server_side, client

    return start


def received_until_marker(client, marker=b"end") -> list[int]:
    """The numbers of the messages the client reads before ``marker``."""
    numbers = []
    while (data := client.receive(timeout=10).data) != marker:
        numbers.append(int.from_bytes(data[:4], "big"))
    return numbers


def fill(server_side, count=200):
    """Send numbered messages until the queue is at its limit (or closed)."""
    results = []
    for n in range(count):
        if not server_side.connected:
            break
        results.append(server_side.send(n.to_bytes(4, "big") + b"x" * CHUNK))
    return results


def test_close_policy(slow):
    server, server_side, client = slow("close")
    closed = AsyncResult()
    server_side.on("close", lambda code, description: closed.set((code, description)))
    fill(server_side)
    assert closed.get(timeout=10) == (1008, "Slow consumer: output buffer limit exceeded")
    assert server_side.buffered_amount <= LIMIT + CHUNK + 64


def test_drop_policy_keeps_the_connection(slow):
    server, server_side, client = slow("drop")
    errors = []
    fill(server_side)
    server_side.send(b"late" + b"y" * CHUNK, errors.append)
    assert server_side.connected
    assert server_side.buffered_amount <= LIMIT + CHUNK + 64
    assert len(errors) == 1 and isinstance(errors[0], WebSocketError)
    client.resume()
    assert server_side.flush(10)                # what was kept went out; now a marker
    server_side.send(b"end")
    numbers = received_until_marker(client)
    assert numbers == list(range(len(numbers))) and 0 < len(numbers) < 200   # the rest dropped


def test_drop_oldest_policy_keeps_the_newest(slow):
    server, server_side, client = slow("drop_oldest")
    fill(server_side)
    assert server_side.connected and server_side.buffered_amount <= LIMIT + CHUNK + 64
    client.resume()
    assert server_side.flush(10)                # what was kept went out; now a marker
    server_side.send(b"end")
    numbers = received_until_marker(client)
    assert numbers[-1] == 199                   # the newest arrived
    assert numbers == sorted(numbers) and len(numbers) < 200    # in order, older ones dropped


def test_wait_policy_blocks_the_sender_until_there_is_room(slow):
    server, server_side, client = slow("wait")
    server_side._outgoing().room = room = WaitedOn()    # what a sender waits on for room
    sender = gevent.spawn(fill, server_side, 200)
    assert room.waited.wait(10)                 # blocked: the client does not read
    assert not sender.ready()
    assert server_side.buffered_amount <= LIMIT + CHUNK + 64
    client.resume()
    numbers = [int.from_bytes(client.receive(timeout=10).data[:4], "big") for _ in range(200)]
    assert numbers == list(range(200))          # nothing lost, in order
    assert len(sender.get(timeout=10)) == 200


def test_a_slow_consumer_does_not_hold_up_the_others(make_server):
    accepted = []
    both = Event()

    def on_request(request):
        accepted.append(request.accept())
        if len(accepted) == 2:
            both.set()

    server = make_server(on_request, output_buffer_limit=LIMIT, slow_consumer_policy="close",
                         permessage_deflate=False)
    stalled = connect(server.url, permessage_deflate=False, max_received_message_size=1 << 20)
    stalled.pause()
    fast = connect(server.url, permessage_deflate=False, max_received_message_size=1 << 20)
    assert both.wait(5)
    received = []
    for n in range(100):
        broadcast(accepted, n.to_bytes(4, "big") + b"z" * CHUNK)
        received.append(int.from_bytes(fast.receive(timeout=5).data[:4], "big"))
    assert received == list(range(100))
    slow_side = next(c for c in accepted if c.socket.getpeername() == stalled.socket.getsockname())
    assert slow_side.close_reason_code == 1008


def test_a_small_message_cut_short_by_the_kernel_is_finished_in_order(slow):
    # Small messages go out framed in one call; once the kernel takes one
    # only in part (or not at all), the rest is queued and what follows
    # goes behind it.
    server, server_side, client = slow("close")
    sent = 0
    while server_side._out is None:
        server_side.send(sent.to_bytes(4, "big") + b"x" * 96)
        sent += 1
        assert sent < 1_000_000, "the kernel never stopped taking data"
    for _ in range(10):
        server_side.send(sent.to_bytes(4, "big") + b"x" * 96)
        sent += 1
    server_side.send(b"end")
    client.resume()
    assert received_until_marker(client) == list(range(sent))
