"""Parking: an idle event-style connection of a ``listen()`` server holds
no greenlet (its socket's read watcher waits in the event loop) and a
pooled reader greenlet reads on when something arrives.

Over real sockets, with hand-written clients: each check is synchronised
on what the client reads back (a reply comes only after the server's
reader went round its loop and parked again, as sends never yield).
"""

from __future__ import annotations

import gc
import socket
import ssl

import gevent
import pytest
from gevent.event import Event
from gevent.server import StreamServer
from greenlet import greenlet

from wsframework import WebSocketServer
from wsframework.protocol.message import WebSocketMessage
from wsframework.readers import BATCH as _BATCH, POOL_SIZE as _READERS_SIZE, pool_for as _readers_for
from wsframework.protocol.framing import Opcode
from wsframework.protocol.frame import encode_close_payload, encode_frame

from ..helpers import RawClient


def live_greenlets() -> int:
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), greenlet) and not obj.dead)


def echo(connection) -> None:
    """Echo every message of ``connection``, event style."""
    connection.on("message", lambda message: connection.send(message.data))


class Server:
    """An event-style echo server from ``listen()`` with ``config``,
    which records the close of each connection."""

    def __init__(self, on_accept=echo, **config) -> None:
        self.on_accept = on_accept
        self.server = WebSocketServer.listen(("127.0.0.1", 0), **config)
        self.server.on("request", self.on_request)
        self.server.on("close", self.on_close)
        self.closed = Event()
        self.closes: list[tuple[int, str]] = []
        self.clients: list[RawClient] = []
        self.server.start()

    def stop(self) -> None:
        """Hang up every client, then stop the server."""
        for client in self.clients:
            client.close()
        self.server.stop(timeout=2)

    def on_request(self, request) -> None:
        self.on_accept(request.accept(None, request.origin))

    def on_close(self, connection, code, description) -> None:
        self.closes.append((code, description))
        self.closed.set()

    def client(self) -> RawClient:
        client = RawClient(self.server.port)
        client.handshake("/echo")
        self.clients.append(client)
        return client

    def only_connection(self):
        (connection,) = self.server.connections
        return connection


@pytest.fixture
def echo_server():
    server = Server()
    yield server
    server.stop()


def round_trip(client: RawClient, text: str = "ping") -> None:
    client.send_frame(Opcode.TEXT, text.encode())
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (Opcode.TEXT, text.encode())


def assert_parked(connection) -> None:
    assert connection.read_owner is None
    assert connection._parked is not None
    assert connection._read_event.active


def test_an_idle_connection_holds_no_greenlet(echo_server):
    clients = [echo_server.client() for _ in range(20)]
    for client in clients:
        round_trip(client)
    gc.collect()
    before = live_greenlets()
    more = [echo_server.client() for _ in range(20)]
    for client in more:
        round_trip(client)
    gc.collect()
    # 20 more idle connections, not one greenlet more (the reader that
    # served them went back to its pool, which was made by the first 20).
    assert live_greenlets() - before <= 0
    for connection in echo_server.server.connections:
        assert_parked(connection)
    assert len(_readers_for(gevent.get_hub().loop).idle) <= _READERS_SIZE


def test_parks_right_after_the_handshake(echo_server):
    client = echo_server.client()
    # The client's turn comes only once the server's greenlet has yielded.
    gevent.idle()
    assert_parked(echo_server.only_connection())
    round_trip(client)


def test_wakes_on_data_and_parks_again(echo_server):
    client = echo_server.client()
    for n in range(5):
        round_trip(client, f"message {n}")
        assert_parked(echo_server.only_connection())


def test_a_fragmented_message_across_parks(echo_server):
    client = echo_server.client()
    round_trip(client)
    client.send_frame(Opcode.TEXT, b"hello, ", fin=False)
    client.send_frame(Opcode.PING, b"between")   # read after the first fragment
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (Opcode.PONG, b"between")
    connection = echo_server.only_connection()
    assert_parked(connection)                    # at a fragment boundary
    assert connection._parser.in_message
    client.send_frame(Opcode.CONTINUATION, b"world")
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (Opcode.TEXT, b"hello, world")
    assert_parked(connection)


def test_a_frame_split_across_reads_is_read_in_a_greenlet(echo_server):
    client = echo_server.client()
    round_trip(client)
    frame = encode_frame(Opcode.TEXT, b"in two parts", mask=True)
    client.send_raw(frame[:4])
    gevent.idle()
    connection = echo_server.only_connection()
    # Inside a frame: the rest is waited for in a (pooled) greenlet.
    assert connection._parked is None and connection.read_owner is not None
    client.send_raw(frame[4:])
    assert client.read_frame().binary_payload == b"in two parts"
    assert_parked(connection)


def test_wakes_on_ping(echo_server):
    client = echo_server.client()
    round_trip(client)
    client.send_frame(Opcode.PING, b"are you there")
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (Opcode.PONG, b"are you there")
    assert_parked(echo_server.only_connection())
    round_trip(client)


def test_keepalive_ping_and_pong_wake_it():
    server = Server(keepalive_interval=0.05, keepalive_grace_period=5)
    try:
        client = server.client()
        round_trip(client)
        frame = client.read_frame()              # the server's keepalive ping
        assert frame.opcode == Opcode.PING
        client.send_frame(Opcode.PONG, frame.binary_payload)
        round_trip(client)                       # read after the pong
        connection = server.only_connection()
        assert_parked(connection)
        assert connection.connected
    finally:
        server.stop()


def read_close(client: RawClient) -> int:
    """Skip to the server's close frame; its code."""
    while True:
        frame = client.read_frame()
        if frame.opcode == Opcode.CLOSE:
            return frame.close_status


def test_server_stop_closes_parked_connections():
    server = Server()
    clients = [server.client() for _ in range(3)]
    for client in clients:
        round_trip(client)
    stopper = gevent.spawn(server.server.stop, 5)
    for client in clients:
        assert read_close(client) == 1001
        client.send_frame(Opcode.CLOSE, encode_close_payload(1001))
        assert client.read_until_eof() == b""
    stopper.get(timeout=5)
    assert [code for code, _ in server.closes] == [1001] * 3


def test_drain_closes_parked_connections(echo_server):
    clients = [echo_server.client() for _ in range(3)]
    for client in clients:
        round_trip(client)
    drainer = gevent.spawn(echo_server.server.drain, 0.01)
    for client in clients:
        assert read_close(client) == 1001
        client.send_frame(Opcode.CLOSE, encode_close_payload(1001))
        assert client.read_until_eof() == b""
    drainer.get(timeout=5)
    assert not echo_server.server.connections


def test_peer_disconnect_while_parked(echo_server):
    client = echo_server.client()
    round_trip(client)
    connection = echo_server.only_connection()
    assert_parked(connection)
    client.close()
    assert echo_server.closed.wait(5)
    assert echo_server.closes == [(1006, "Connection dropped by remote peer.")]
    assert connection._parked is None and not connection._read_event.active


def test_closed_from_another_greenlet_while_parked(echo_server):
    client = echo_server.client()
    round_trip(client)
    connection = echo_server.only_connection()
    gevent.spawn(connection.close, 1000, "bye").join()
    assert read_close(client) == 1000
    assert_parked(connection)                    # waiting for the reply
    client.send_frame(Opcode.CLOSE, encode_close_payload(1000))
    assert client.read_until_eof() == b""
    assert echo_server.closed.wait(5)
    assert echo_server.closes == [(1000, "bye")] and connection.was_clean


def test_dropped_from_another_greenlet_while_parked(echo_server):
    client = echo_server.client()
    round_trip(client)
    connection = echo_server.only_connection()
    gevent.spawn(connection.drop, 1008, "no").join()
    assert read_close(client) == 1008
    assert client.read_until_eof() == b""
    assert echo_server.closes == [(1008, "no")]
    assert connection._parked is None


def test_close_timeout_while_parked():
    server = Server(close_timeout=0.05)
    try:
        client = server.client()
        round_trip(client)
        connection = server.only_connection()
        connection.close()
        assert read_close(client) == 1000
        # No reply: the close timer ends it.
        assert client.read_until_eof() == b""
        assert server.closed.wait(5)
        assert connection._parked is None
    finally:
        server.stop()


def test_socket_closed_under_a_parked_connection(echo_server):
    client = echo_server.client()
    round_trip(client)
    connection = echo_server.only_connection()
    errors = []
    connection.on("error", errors.append)
    connection.socket.close()                    # not the connection's own close
    assert echo_server.closed.wait(5)
    assert echo_server.closes[0][0] == 1006
    assert len(errors) == 1 and isinstance(errors[0], OSError)
    assert client.read_until_eof() == b""


def test_pause_and_resume_while_parked(echo_server):
    client = echo_server.client()
    round_trip(client)
    connection = echo_server.only_connection()
    connection.pause()
    assert connection._parked is not None and not connection._read_event.active
    client.send_frame(Opcode.TEXT, b"later")
    gevent.idle()
    assert connection._parked is not None and connection.read_owner is None
    connection.resume()
    assert connection._read_event.active
    frame = client.read_frame()
    assert frame.binary_payload == b"later"
    assert_parked(connection)


def test_paused_by_a_handler_parks_unarmed():
    def pausing(connection) -> None:
        def on_message(message) -> None:
            connection.send(message.data)
            connection.pause()
        connection.on("message", on_message)

    server = Server(on_accept=pausing, close_timeout=0.1)
    try:
        client = server.client()
        round_trip(client, "first")
        connection = server.only_connection()
        assert connection._parked is not None and connection.read_owner is None
        assert not connection._read_event.active
        client.send_frame(Opcode.TEXT, b"second")
        connection.resume()
        assert client.read_frame().binary_payload == b"second"
    finally:
        server.stop()


def test_receive_from_another_greenlet_while_parked():
    def consume(connection) -> None:
        def loop() -> None:
            for message in connection:
                connection.send(message.data)
        gevent.spawn(loop)

    server = Server(on_accept=consume)
    try:
        client = server.client()
        round_trip(client, "one")
        assert_parked(server.only_connection())
        round_trip(client, "two")
    finally:
        server.stop()


def test_a_blocking_handler_does_not_park():
    def blocking(connection) -> None:
        for message in connection:
            connection.send(message.data)

    server = WebSocketServer.listen(("127.0.0.1", 0))
    server.on("request", lambda request: blocking(request.accept(None, request.origin)))
    server.start()
    try:
        client = RawClient(server.port)
        client.handshake("/")
        round_trip(client)
        (connection,) = server.connections
        assert connection._parked is None and not connection._may_park
        client.close()
    finally:
        server.stop(timeout=2)


def test_a_mounted_server_does_not_park():
    """gevent's own StreamServer closes the socket when the handler
    returns: a connection there keeps its greenlet."""
    stream_server = StreamServer(("127.0.0.1", 0), lambda sock, address: None)
    server = WebSocketServer(http_server=stream_server)
    server.on("request", lambda request: echo(request.accept(None, request.origin)))
    stream_server.start()
    try:
        client = RawClient(stream_server.server_port)
        client.handshake("/")
        round_trip(client)
        (connection,) = server.connections
        assert connection._parked is None and connection.read_owner is not None
        round_trip(client)
    finally:
        server.close_all_connections()
        stream_server.stop(timeout=2)


def test_many_wake_ups_at_once_keep_the_pool_bounded():
    def slow_echo(connection) -> None:
        def on_message(message) -> None:
            gevent.sleep(0)                      # the reader yields: others need one too
            connection.send(message.data)
        connection.on("message", on_message)

    server = Server(on_accept=slow_echo)
    try:
        clients = [server.client() for _ in range(_READERS_SIZE * 2)]
        for client in clients:
            client.send_frame(Opcode.TEXT, b"x")
        for client in clients:
            assert client.read_frame().binary_payload == b"x"
        gevent.idle()
        assert len(_readers_for(gevent.get_hub().loop).idle) <= _READERS_SIZE
        for connection in server.server.connections:
            assert_parked(connection)
    finally:
        server.stop()


def test_max_connection_lifetime_closes_a_parked_connection():
    server = Server(max_connection_lifetime=0.05, connection_lifetime_jitter=0)
    try:
        client = server.client()
        round_trip(client)
        assert_parked(server.only_connection())
        assert read_close(client) == 1001        # from the lifetime wheel
        client.send_frame(Opcode.CLOSE, encode_close_payload(1001))
        assert client.read_until_eof() == b""
        assert server.closes == [(1001, "Connection lifetime reached")]
    finally:
        server.stop()


# -- the wake-up's one-frame receive (_read_woken) and what it leaves to the loop


def test_two_frames_in_one_receive_are_both_read(echo_server):
    client = echo_server.client()
    round_trip(client)
    client.send_raw(encode_frame(Opcode.TEXT, b"first", mask=True)
                    + encode_frame(Opcode.BINARY, b"second", mask=True))
    first, second = client.read_frame(), client.read_frame()
    assert (first.opcode, first.binary_payload) == (Opcode.TEXT, b"first")
    assert (second.opcode, second.binary_payload) == (Opcode.BINARY, b"second")
    assert_parked(echo_server.only_connection())


def test_a_whole_frame_then_part_of_the_next(echo_server):
    client = echo_server.client()
    round_trip(client)
    second = encode_frame(Opcode.TEXT, b"second", mask=True)
    client.send_raw(encode_frame(Opcode.TEXT, b"first", mask=True) + second[:3])
    assert client.read_frame().binary_payload == b"first"
    client.send_raw(second[3:])
    assert client.read_frame().binary_payload == b"second"
    assert_parked(echo_server.only_connection())


@pytest.mark.parametrize("opcode,payload", [
    (Opcode.BINARY, bytes(range(125))),      # the largest small frame
    (Opcode.BINARY, b""),
    (Opcode.TEXT, "h\u00e9\u20ac\U0001f600".encode()),
    (Opcode.TEXT, b"x" * 126),               # a 16-bit length: the general parser
    (Opcode.BINARY, b"y" * 65000),           # a 64-bit length, maybe in pieces
])
def test_each_kind_of_message_after_a_park(echo_server, opcode, payload):
    client = echo_server.client()
    round_trip(client)
    client.send_frame(opcode, payload)
    frame = client.read_frame()
    assert frame.opcode == opcode
    echoed = frame.binary_payload
    while not frame.fin:                     # the server fragments at 16 KiB
        frame = client.read_frame()
        echoed += frame.binary_payload
    assert echoed == payload
    assert_parked(echo_server.only_connection())


def test_invalid_utf8_after_a_park_closes_with_1007(echo_server):
    client = echo_server.client()
    round_trip(client)
    client.send_frame(Opcode.TEXT, b"\xc0\xaf")
    assert read_close(client) == 1007


def test_a_once_listener_after_a_park():
    got = []

    def on_accept(connection):
        connection.once("message", lambda message: got.append(message.data))
        connection.on("message", lambda message: connection.send(message.data))

    server = Server(on_accept)
    try:
        client = server.client()
        round_trip(client, "one")
        round_trip(client, "two")
        assert got == ["one"]
        assert_parked(server.only_connection())
    finally:
        server.stop()


def test_a_message_with_no_listener_left_waits_for_receive():
    received = []

    def on_accept(connection):
        def first(message):
            connection.send(message.data)
            connection.off("message", first)
            # Later messages queue for receive(), read here.
            received.append(gevent.spawn(connection.receive))

        connection.on("message", first)

    server = Server(on_accept)
    try:
        client = server.client()
        round_trip(client, "first")
        client.send_frame(Opcode.TEXT, b"queued")
        (reader,) = received
        assert reader.get(timeout=10).data == "queued"
    finally:
        server.stop()


@pytest.mark.expect_errors(r"WebSocketConnection handler for 'message' raised(.|\n)*RuntimeError: boom")
def test_a_handler_error_after_a_park_is_logged_and_reading_goes_on():
    def on_accept(connection):
        def handler(message):
            if message.data == "boom":
                raise RuntimeError("boom")
            connection.send(message.data)

        connection.on("message", handler)

    server = Server(on_accept)
    try:
        client = server.client()
        round_trip(client)
        client.send_frame(Opcode.TEXT, b"boom")
        round_trip(client, "after")
        assert_parked(server.only_connection())
    finally:
        server.stop()


def test_a_handler_that_blocks_leaves_the_other_wake_ups_to_another_reader():
    """Connections woken in the same turn are read by one reader in turn;
    when one's handler blocks, the others are still served."""
    release = Event()

    def on_accept(connection):
        def handler(message):
            if message.data == "block":
                release.wait()               # blocks the reader that runs it
            connection.send(message.data)

        connection.on("message", handler)

    server = Server(on_accept)
    try:
        clients = [server.client() for _ in range(4)]
        for client in clients:
            round_trip(client)
        # All four are readable before the server's next turn: one batch.
        # The first and the last block, so whichever end of the batch is
        # read first, the free ones behind it need another reader.
        for n, client in enumerate(clients):
            client.send_frame(Opcode.TEXT, b"block" if n in (0, 3) else f"free {n}".encode())
        for n in (1, 2):
            assert clients[n].read_frame().binary_payload == f"free {n}".encode()
        release.set()
        for n in (0, 3):
            assert clients[n].read_frame().binary_payload == b"block"
        for connection in server.server.connections:
            assert_parked(connection)
    finally:
        release.set()
        server.stop()


def test_message_handlers_changed_between_messages_of_a_parked_connection():
    # The one-step read calls the only plain "message" handler directly
    # (a shortcut kept by on/off/once/remove_all_listeners): each change
    # of the handlers shows in the next message's replies.
    def first(message) -> None:
        connection = message_owner[0]
        text = message.data
        connection.send("first " + text)
        if text == "add":
            connection.on("message", second)
        elif text == "drop first":
            connection.off("message", first)

    def second(message) -> None:
        message_owner[0].send("second " + message.data)

    def once(message) -> None:
        message_owner[0].send("once " + message.data)

    message_owner = []

    def accept(connection) -> None:
        message_owner.append(connection)
        connection.on("message", first)

    server = Server(on_accept=accept)
    try:
        client = server.client()

        def replies(text: str, count: int) -> list[str]:
            client.send_frame(Opcode.TEXT, text.encode())
            return sorted(client.read_frame().binary_payload.decode() for _ in range(count))

        assert replies("one", 1) == ["first one"]
        assert replies("add", 1) == ["first add"]
        assert replies("two", 2) == ["first two", "second two"]
        assert replies("drop first", 2) == ["first drop first", "second drop first"]
        assert replies("three", 1) == ["second three"]
        connection = server.only_connection()
        connection.once("message", once)
        assert replies("four", 2) == ["once four", "second four"]
        assert replies("five", 1) == ["second five"]
        connection.remove_all_listeners("message")
        connection.on("message", once)
        assert replies("six", 1) == ["once six"]
        connection.off("message", once)
        connection.once("message", once)
        assert replies("seven", 1) == ["once seven"]
        # No handler left: the message waits for receive().
        client.send_frame(Opcode.TEXT, b"eight")
        assert connection.receive(timeout=5).data == "eight"
    finally:
        server.stop()


def test_messages_of_the_one_step_read_are_whole():
    # _read_woken makes its messages without WebSocketMessage's __init__:
    # they must equal those of the class call, attribute by attribute.
    received = []

    def accept(connection) -> None:
        def on_message(message) -> None:
            received.append(message)
            connection.send(message.data)
        connection.on("message", on_message)

    server = Server(on_accept=accept)
    try:
        client = server.client()
        round_trip(client, "h\u00e9llo")
        client.send_frame(Opcode.BINARY, b"\x00\xff")
        assert client.read_frame().binary_payload == b"\x00\xff"
        assert_parked(server.only_connection())
        expected = [WebSocketMessage("utf8", "h\u00e9llo"), WebSocketMessage("binary", None, b"\x00\xff")]
        assert [(m.type, m.utf8_data, m.binary_data, m.data) for m in received] == \
            [(m.type, m.utf8_data, m.binary_data, m.data) for m in expected]
        assert received[0].is_text and not received[1].is_text
    finally:
        server.stop()


def test_a_message_of_a_parked_connection_is_its_last_receive():
    # The one-step read takes the loop's time from its reader pool (one
    # float per turn of the loop): never older than the wake-up.
    server = Server(keepalive_interval=60)
    try:
        client = server.client()
        round_trip(client, "one")
        connection = server.only_connection()
        for text in ("two", "three"):
            gevent.sleep(0.01)                   # the loop's time moves on
            before = connection._loop.now()
            assert connection._last_receive < before
            round_trip(client, text)
            assert connection._last_receive >= before
            assert_parked(connection)
    finally:
        server.stop()


def test_more_wake_ups_in_a_turn_than_a_batch_are_all_read(echo_server):
    # Once BATCH connections are woken in a turn they are read at once,
    # between the watchers' callbacks; the rest at the end of the turn.
    clients = [echo_server.client() for _ in range(3 * _BATCH + 5)]
    for client in clients:
        round_trip(client)
    for index, client in enumerate(clients):
        client.send_frame(Opcode.TEXT, b"%d" % index)
    gevent.sleep(0.05)                  # (a fast loop takes them over several turns)
    for index, client in enumerate(clients):
        frame = client.read_frame()
        assert (frame.opcode, frame.binary_payload) == (Opcode.TEXT, b"%d" % index)
    for connection in echo_server.server.connections:
        assert_parked(connection)
    assert not _readers_for(gevent.get_hub().loop).ready
