"""Edge cases of the connection's greenlet model, each once a bug: a send
callback that raises, a queue consumer answering before the close, a
close while the receive queue is full, garbage after the close frame, the
receive queue bounded in bytes."""

from __future__ import annotations

import logging

import gevent
import pytest
from gevent.event import AsyncResult, Event

from wsframework import connect
from wsframework.protocol.frame import encode_frame

from ..helpers import RawClient, WaitedOn


def reader_blocked(connection) -> Event:
    """Set once ``connection``'s reader stops for a full receive queue (it
    waits for the consumer to take a message)."""
    connection._space = WaitedOn()
    return connection._space.waited


def start_background_reader(connection) -> None:
    """A receive() that gives up at once starts the background reader: from
    then on, messages nobody takes are queued."""
    with pytest.raises(TimeoutError):
        connection.receive(timeout=0)


@pytest.fixture
def accepted(make_server):
    """A server whose accepted connection is handed to the test."""
    result = AsyncResult()

    def start(**config):
        server = make_server(lambda request: result.set(request.accept()), **config)
        return server, result

    return start


@pytest.mark.expect_errors(r"send callback .* raised(.|\n)*RuntimeError: callback bug")
def test_a_raising_send_callback_does_not_stop_the_writer(accepted, caplog):
    server, result = accepted(permessage_deflate=False)
    client = connect(server.url, max_received_message_size=1 << 23)
    server_side = result.get(timeout=5)
    client.pause()                           # so the 4 MiB goes through the flusher

    def bad_callback(error):
        raise RuntimeError("callback bug")

    with caplog.at_level(logging.ERROR):
        server_side.send(b"x" * (4 << 20), bad_callback)
        server_side.send("after")
        client.resume()
        assert len(client.receive(timeout=10).data) == 4 << 20
        assert client.receive(timeout=10).data == "after"
    assert server_side.flush(5) and server_side.buffered_amount == 0
    assert any("callback bug" in (r.exc_text or "") for r in caplog.records)


def test_queue_consumer_answers_before_the_close_reply(make_server):
    # The consumer is busy (it yields) while the client sends a message and
    # closes at once: the echo must still go out before the close reply.
    def on_request(request):
        connection = request.accept()
        for message in connection:
            gevent.sleep(0.05)                # busy elsewhere: a background reader takes over
            connection.send(message.data)

    server = make_server(on_request)
    raw = RawClient(server.port)
    raw.handshake()
    raw.send_frame(0x1, b"one")
    raw.send_frame(0x1, b"two")
    raw.send_frame(0x8, b"\x03\xe8")
    frames = [raw.read_frame() for _ in range(3)]
    assert [(f.opcode, f.binary_payload) for f in frames[:2]] == [(1, b"one"), (1, b"two")]
    assert frames[2].opcode == 0x8 and frames[2].close_status == 1000


def test_close_while_the_receive_queue_is_full(accepted):
    server, result = accepted(receive_queue_size=2, close_timeout=30)
    client = connect(server.url)
    server_side = result.get(timeout=5)
    blocked = reader_blocked(server_side)
    start_background_reader(server_side)
    for n in range(6):
        client.send(f"m{n}")
    pongs = []
    client.on("pong", pongs.append)
    client.ping(b"sync")                      # behind the messages the queue has no room for
    assert blocked.wait(10)                   # the full queue stops the reader
    server_side.send("marker")
    assert client.receive(timeout=10).data == "marker"
    assert pongs == []                        # the ping was not read before the marker went
    server_side.close()
    # The reader wakes up for the close: the client's reply is read at
    # once, the handshake completes (after close_timeout it would be a drop).
    assert server_side.wait_closed(45)
    assert server_side.was_clean and server_side.close_reason_code == 1000


def test_nothing_is_sent_after_the_close_handshake(canned_frames):
    port, sent, received = canned_frames
    client = connect(f"ws://127.0.0.1:{port}/", close_timeout=0.5)
    sent.put(encode_frame(0x8, b"\x03\xe9") + encode_frame(0x3, b"garbage"))
    assert client.receive(timeout=5) is None
    assert (client.close_reason_code, client.close_description) == (1001, "Remote peer is going away")
    assert [f.opcode for f in received()] == [0x8]        # one close frame, no second one


def test_the_receive_queue_is_bounded_in_bytes(accepted):
    server, result = accepted(receive_queue_bytes=1 << 20, max_received_message_size=1 << 21)
    client = connect(server.url)
    server_side = result.get(timeout=5)
    blocked = reader_blocked(server_side)
    start_background_reader(server_side)
    for _ in range(8):
        client.send(b"\x00" * (1 << 20))      # tiny on the wire when compressed
    pong = AsyncResult()
    client.on("pong", pong.set)
    client.ping(b"x")
    assert blocked.wait(10)                   # the reader stopped: the queue is full
    assert server_side._queue_bytes <= 2 << 20
    server_side.send("marker")
    assert client.receive(timeout=10).data == "marker"
    assert not pong.ready()                   # the ping was not read before the marker went
    assert len([server_side.receive(timeout=5) for _ in range(8)]) == 8
    assert pong.get(timeout=10) == b"x"       # reading resumed once the queue emptied


@pytest.fixture
def canned_frames():
    """A server that completes the handshake, writes what the test queues,
    and records the frames the client sends."""
    from gevent.event import Event
    from gevent.queue import Queue
    from gevent.server import StreamServer

    from wsframework.protocol.parser import FrameParser

    from ..helpers import answer_handshake

    outgoing = Queue()
    frames = []
    done = Event()

    def handle(sock, address):
        reader = answer_handshake(sock)
        sock.sendall(outgoing.get(timeout=10))
        parser = FrameParser(reader, expect_masked=True, max_frame_size=1 << 20,
                             max_message_size=1 << 20, assemble_fragments=False)
        try:
            while True:
                frames.append(parser.next_event())
        except (EOFError, OSError):
            done.set()                    # the client closed TCP: all its frames are in

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()

    def received():
        assert done.wait(10), "the client never closed the connection"
        return list(frames)

    yield server.server_port, outgoing, received
    server.stop(timeout=1)
