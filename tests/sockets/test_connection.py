"""WebSocketConnection over real sockets: messages in both styles, control
frames, fragmentation, limits, the close handshake, keepalive, flow
control, backpressure, concurrency, and bad input from raw peers."""

from __future__ import annotations

import socket as stdlib_socket
import struct

import gevent
import pytest
from gevent import socket as gsocket
from gevent.event import AsyncResult, Event
from gevent.queue import Queue

from wsframework import ConnectionClosedError, WebSocketConnection, connect
from wsframework.connection import close_quietly
from wsframework.protocol.frame import encode_frame
from wsframework.protocol.framing import Side

from ..conftest import echo_handler
from ..helpers import RawClient


@pytest.fixture
def pair(make_server):
    """(server-side connection, client connection, server) for a config."""

    def make(server_config=None, client_config=None, protocol=None):
        accepted = AsyncResult()

        def on_request(request):
            accepted.set(request.accept(protocol))

        server = make_server(on_request, **(server_config or {}))
        client = connect(server.url, protocol, **(client_config or {}))
        return accepted.get(timeout=5), client, server

    return make


def close_frame_of(raw: RawClient):
    frame = raw.read_frame()
    while frame.opcode != 0x8:
        frame = raw.read_frame()
    return frame.close_status, frame.binary_payload.decode()


# ------------------------------------------------------------ properties
def test_constants_and_descriptions():
    assert WebSocketConnection.CLOSE_REASON_NORMAL == 1000
    assert WebSocketConnection.CLOSE_REASON_TLS_HANDSHAKE_FAILED == 1015
    assert WebSocketConnection.CLOSE_DESCRIPTIONS[1001] == "Remote peer is going away"
    assert WebSocketConnection.CLOSE_DESCRIPTIONS[1006] == \
        "Abnormal closure, no further detail available"


def test_properties_through_the_lifecycle(pair):
    server_side, client, _ = pair(protocol="chat")
    for connection in (server_side, client):
        assert connection.connected is True
        assert connection.state == "open"
        assert connection.protocol == "chat"
        assert [str(e) for e in connection.extensions] == [
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"]
        assert connection.close_reason_code == -1
        assert connection.close_description is None
        assert connection.websocket_version == 13
        assert connection.remote_address == "127.0.0.1"
        assert connection.socket is not None
    assert server_side.mask_outgoing_packets is False
    client.close()
    assert client.state == "ending" and client.connected is False
    assert client.wait_closed(5) and server_side.wait_closed(5)
    assert client.state == server_side.state == "closed"
    assert (client.close_reason_code, client.close_description) == (1000, "Normal connection closure")
    assert (server_side.close_reason_code, server_side.close_description) == \
        (1000, "Normal connection closure")


@pytest.mark.parametrize("given", [None, ["203.0.113.7", "127.0.0.1"]])
def test_remote_addresses_given_or_read_from_the_socket(given):
    listener = stdlib_socket.create_server(("127.0.0.1", 0))
    with listener, stdlib_socket.create_connection(listener.getsockname()) as peer:
        sock = gsocket.socket(fileno=listener.accept()[0].detach())
        connection = WebSocketConnection(sock, None, None, Side.SERVER,
                                         remote_addresses=given)
        assert connection.mask_outgoing_packets is False
        if given is None:
            assert connection.remote_addresses == ["127.0.0.1"]
        else:
            assert connection.remote_addresses is given
        assert connection.remote_address == connection.remote_addresses[0]
        connection.drop(1001, skip_close_frame=True)
        assert peer.recv(10) == b""


@pytest.mark.parametrize("waiting", [False, True])
def test_close_quietly_shuts_down_and_wakes_a_waiter(waiting):
    sock, peer = gsocket.socketpair()

    def receive():
        try:
            return sock.recv(10)
        except OSError as exc:
            return exc

    waiter = gevent.spawn(receive) if waiting else None
    gevent.sleep(0)                         # the waiter waits on the socket
    assert (sock._read_event.callback is not None) is waiting
    close_quietly(sock)
    assert peer.recv(10) == b""             # shut down: the peer reads EOF
    if waiter is not None:
        assert isinstance(waiter.get(timeout=5), OSError)  # "closed in another greenlet"
    close_quietly(sock)                     # again: nothing happens
    peer.close()


# ------------------------------------------------------------ messages
def test_both_styles_on_one_connection(pair):
    server_side, client, _ = pair()
    got = Queue()
    server_side.on("message", got.put)
    client.send("to listener")
    assert got.get(timeout=5).data == "to listener"
    server_side.off("message", got.put)
    client.send("to receive")
    assert server_side.receive(timeout=5).data == "to receive"


def test_iteration_ends_at_close(pair):
    server_side, client, _ = pair()
    for text in ("a", "b", "c"):
        client.send(text)
    client.close()
    assert [m.data for m in server_side] == ["a", "b", "c"]
    assert server_side.receive() is None


def test_receive_timeout(pair):
    server_side, client, _ = pair()
    with pytest.raises(TimeoutError):
        server_side.receive(timeout=0.05)
    client.send("late")
    assert server_side.receive(timeout=5).data == "late"


def test_send_types(echo_server):
    client = connect(echo_server.url)
    assert client.send_utf("text") is True
    assert client.send_bytes(bytearray(b"ba")) is True
    assert client.send(memoryview(b"mv")) is True
    assert [client.receive(timeout=5).data for _ in range(3)] == ["text", b"ba", b"mv"]
    client.send(12)                  # anything else is sent as its str(), as in Node
    assert client.receive(timeout=5).data == "12"
    with pytest.raises(TypeError):
        client.send(None)
    with pytest.raises(TypeError):
        client.send_bytes("not bytes")


def test_send_callback(echo_server):
    client = connect(echo_server.url)
    done = AsyncResult()
    client.send("x", done.set)
    assert done.get(timeout=5) is None


def test_empty_messages(echo_server):
    client = connect(echo_server.url)
    client.send("")
    client.send(b"")
    assert [client.receive(timeout=5).data for _ in range(2)] == ["", b""]


def test_large_message_round_trip(echo_server):
    client = connect(echo_server.url, max_received_message_size=1 << 25,
                     max_received_frame_size=1 << 25)
    payload = bytes(range(256)) * (1 << 16)      # 16 MiB
    client.send(payload)
    assert client.receive(timeout=30).data == payload


def test_sends_from_many_greenlets_never_interleave(echo_server):
    client = connect(echo_server.url, max_received_message_size=1 << 22)

    def sender(n):
        for i in range(20):
            client.send(f"{n}:{i}:" + "x" * (n * 997 % 70000))

    gevent.joinall([gevent.spawn(sender, n) for n in range(30)], timeout=20)
    received = [client.receive(timeout=20).data for _ in range(600)]
    for text in received:
        n, i, filler = text.split(":")
        assert filler == "x" * (int(n) * 997 % 70000)
    for n in range(30):
        assert [int(t.split(":")[1]) for t in received if t.startswith(f"{n}:")] == list(range(20))


# ------------------------------------------------------- fragmentation
def test_outgoing_fragmentation(pair):
    server_side, client, _ = pair(server_config={"fragmentation_threshold": 4},
                                  client_config={"assemble_fragments": False})
    frames = Queue()
    client.on("frame", frames.put)
    server_side.send("0123456789")
    got = [frames.get(timeout=5) for _ in range(3)]
    assert [(f.opcode, f.fin, f.binary_payload) for f in got] == [
        (1, False, b"0123"), (0, False, b"4567"), (0, True, b"89")]


def test_fragmentation_can_be_turned_off(pair):
    server_side, client, _ = pair(server_config={"fragmentation_threshold": 4,
                                                 "fragment_outgoing_messages": False},
                                  client_config={"assemble_fragments": False})
    frames = Queue()
    client.on("frame", frames.put)
    server_side.send(b"0123456789")
    frame = frames.get(timeout=5)
    assert (frame.opcode, frame.fin, frame.binary_payload) == (2, True, b"0123456789")


def test_fragmented_messages_queued_behind_a_full_socket_arrive_whole_and_in_order(make_server):
    # A small client window: the first message's frames are partly sent,
    # the rest queued uncopied; the next messages queue behind them.
    accepted = AsyncResult()
    server = make_server(lambda request: accepted.set(request.accept()))
    raw = RawClient(server.port, rcvbuf=4096)
    raw.handshake()
    server_side = accepted.get(timeout=5)
    server_side.socket.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_SNDBUF, 4096)
    messages = [bytes([n]) * 300_000 + bytes(range(256)) for n in range(3)]
    server_side.send(messages[0])
    server_side.send("between")
    server_side.send(messages[1])
    server_side.send(messages[2])
    assert server_side.buffered_amount > 0          # the socket did not take it all
    for expected in (messages[0], "between", messages[1], messages[2]):
        frames = [raw.read_frame()]
        while not frames[-1].fin:
            frames.append(raw.read_frame())
        if isinstance(expected, str):
            assert [(f.opcode, f.binary_payload) for f in frames] == [(1, b"between")]
            continue
        assert [f.opcode for f in frames] == [2] + [0] * (len(frames) - 1)
        assert [len(f.binary_payload) for f in frames[:-1]] == [0x4000] * (len(frames) - 1)
        assert b"".join(f.binary_payload for f in frames) == expected
    assert server_side.flush(timeout=5) and server_side.buffered_amount == 0
    raw.close()


def test_incoming_fragments_are_assembled(make_server):
    server = make_server(echo_handler)
    raw = RawClient(server.port)
    raw.handshake()
    raw.send_frame(0x1, "κό".encode()[:3], fin=False)   # split inside a character
    raw.send_frame(0x9, b"ping in the middle")
    raw.send_frame(0x0, "κό".encode()[3:] + b"!", fin=True)
    pong = raw.read_frame()
    assert (pong.opcode, pong.binary_payload) == (0xA, b"ping in the middle")
    echo = raw.read_frame()
    assert (echo.opcode, echo.binary_payload) == (0x1, "κό!".encode())


def test_pipelined_messages_are_answered_in_order_with_control_frames(make_server):
    """Many messages in one write: the echoes (gathered into few sends while
    more input waits) come back complete and in order, and a ping or the
    close in the same write is answered after the echoes before it."""
    server = make_server(echo_handler)
    raw = RawClient(server.port)
    raw.handshake()
    burst = b"".join(encode_frame(0x1, f"m{i}".encode(), mask=True) for i in range(300))
    burst += encode_frame(0x9, b"after 300", mask=True)
    burst += b"".join(encode_frame(0x2, bytes([i]) * 40, mask=True) for i in range(100))
    burst += encode_frame(0x8, struct.pack("!H", 1000) + b"bye", mask=True)
    raw.send_raw(burst)
    got = [raw.read_frame() for _ in range(402)]
    assert [f.binary_payload for f in got[:300]] == [f"m{i}".encode() for i in range(300)]
    assert (got[300].opcode, got[300].binary_payload) == (0xA, b"after 300")
    assert [f.binary_payload for f in got[301:401]] == [bytes([i]) * 40 for i in range(100)]
    assert (got[401].opcode, got[401].close_status) == (0x8, 1000)
    assert raw.read_until_eof() == b""


# ------------------------------------------------------- control frames
def test_ping_pong_events(pair):
    server_side, client, _ = pair()
    pongs = AsyncResult()
    client.on("pong", pongs.set)
    client.ping(b"are you there")
    assert pongs.get(timeout=5) == b"are you there"


def test_ping_event_cancel_suppresses_pong(pair):
    server_side, client, _ = pair()
    pings = Queue()

    def on_ping(cancel, data):
        pings.put(data)
        if data == b"cancel me":
            cancel()

    server_side.on("ping", on_ping)
    pongs = Queue()
    client.on("pong", pongs.put)
    client.ping(b"cancel me")
    client.ping(b"answer me")
    assert [pings.get(timeout=5), pings.get(timeout=5)] == [b"cancel me", b"answer me"]
    assert pongs.get(timeout=5) == b"answer me"
    assert pongs.empty()


def test_control_payload_limit(pair):
    _, client, _ = pair()
    client.ping(b"x" * 125)
    with pytest.raises(ValueError):
        client.ping(b"x" * 126)
    with pytest.raises(ValueError):
        client.pong(b"x" * 126)


def test_frame_events_when_not_assembling(pair):
    server_side, client, _ = pair(server_config={"assemble_fragments": False})
    frames = Queue()
    messages = []
    server_side.on("frame", frames.put)
    server_side.on("message", messages.append)
    client.ping(b"p")
    client.send("t")
    got = [frames.get(timeout=5) for _ in range(2)]
    assert [(f.opcode, f.binary_payload, f.mask) for f in got] == [(9, b"p", True), (1, b"t", True)]
    assert messages == []


# ------------------------------------------------------- close handshake
def test_server_initiated_close_with_code_and_reason(pair):
    server_side, client, _ = pair()
    events = AsyncResult()
    client.on("close", lambda code, description: events.set((code, description)))
    server_side.close(4000, "bye now")
    assert events.get(timeout=5) == (4000, "bye now")
    assert server_side.wait_closed(5)
    assert (server_side.close_reason_code, server_side.close_description) == (4000, "bye now")


def test_close_event_fires_exactly_once(pair):
    server_side, client, _ = pair()
    calls = []
    done = Event()
    server_side.on("close", lambda *args: (calls.append(args), done.set()))
    client.close()
    server_side.close()        # both sides closing at once
    assert done.wait(5)
    assert client.wait_closed(5)
    gevent.idle()
    assert len(calls) == 1


def test_close_rejects_invalid_codes_and_long_reasons(pair):
    _, client, _ = pair()
    for code in (999, 1004, 1005, 1006, 1015, 2999, 5000):
        with pytest.raises(ValueError, match=f"Close code {code} is not valid."):
            client.close(code)
    with pytest.raises(ValueError):
        client.close(1000, "é" * 62)       # 124 bytes
    client.close(1000, "é" * 61)           # 122 bytes is fine
    assert client.wait_closed(5)


def test_send_after_close_raises(pair):
    _, client, _ = pair()
    client.close()
    with pytest.raises(ConnectionClosedError):
        client.send("too late")
    failed = AsyncResult()
    assert client.send("too late", failed.set) is False
    assert isinstance(failed.get(timeout=1), ConnectionClosedError)
    client.ping()      # skipped silently, as in the reference §9.10


def test_drop_emits_close_synchronously(pair):
    server_side, client, _ = pair()
    events = []
    server_side.on("close", lambda code, description: events.append((code, description)))
    reported = AsyncResult()
    client.on("close", lambda code, description: reported.set((code, description)))
    server_side.drop(1011, "internal trouble")
    assert events == [(1011, "internal trouble")]
    assert reported.get(timeout=5) == (1011, "internal trouble")


def test_drop_never_sends_reserved_codes(make_server):
    accepted = AsyncResult()
    server = make_server(lambda request: accepted.set(request.accept()))
    raw = RawClient(server.port)
    raw.handshake()
    server_side = accepted.get(timeout=5)
    server_side.drop(1006, "x" * 200)
    code, reason = close_frame_of(raw)
    assert code == 1002 and len(reason) == 123
    assert server_side.close_reason_code == 1006


def test_client_close_waits_for_peer_reply_and_reports_own_code(make_server):
    server = make_server()
    server.on("request", lambda request: request.accept().on(
        "close", lambda *a: None))
    client = connect(server.url)
    client.close(1001)
    assert client.wait_closed(5)
    assert client.close_reason_code == 1001


def test_close_timeout_closes_a_silent_peer(make_server):
    accepted = AsyncResult()
    server = make_server(lambda request: accepted.set(request.accept()), close_timeout=0.2)
    raw = RawClient(server.port)
    raw.handshake()
    server_side = accepted.get(timeout=5)
    server_side.close()
    assert close_frame_of(raw) == (1000, "Normal connection closure")
    # The raw client never answers: the timeout closes the socket.
    assert server_side.wait_closed(5)
    assert raw.read_until_eof() == b""
    assert server_side.close_reason_code == 1000


# The reply is 1000, or 1002 to an invalid code (as WebSocket-Node, §4.6).
@pytest.mark.parametrize("payload, reported, reply", [
    (b"", (1005, "Reason not provided"), 1000),
    (b"\x03", (1005, "Reason not provided"), 1002),
    (struct.pack("!H", 1000), (1000, "Normal connection closure"), 1000),
    (struct.pack("!H", 3000), (3000, None), 1000),
    (struct.pack("!H", 4001) + "fin ✓".encode(), (4001, "fin ✓"), 1000),
    (struct.pack("!H", 1005), (1005, "Reason not provided"), 1002),
    (struct.pack("!H", 999), (999, None), 1002),
    (struct.pack("!H", 1000) + b"\xff", (1007, "Invalid UTF-8 Data Received"), 1007),
])
def test_peer_close_frames(make_server, payload, reported, reply):
    closed = AsyncResult()

    def on_request(request):
        request.accept().on("close", lambda code, description: closed.set((code, description)))

    server = make_server(on_request)
    raw = RawClient(server.port)
    raw.handshake()
    raw.send_frame(0x8, payload)
    frame = raw.read_frame()
    assert frame.opcode == 0x8
    assert (frame.close_status if frame.close_status != -1 else None) == reply
    assert raw.read_until_eof() == b""           # the server closes TCP first
    assert closed.get(timeout=5) == reported


def test_peer_vanishing_mid_frame(make_server):
    closed = AsyncResult()

    def on_request(request):
        request.accept().on("close", lambda code, description: closed.set((code, description)))

    server = make_server(on_request)
    raw = RawClient(server.port)
    raw.handshake()
    raw.send_raw(encode_frame(0x1, b"x" * 1000, mask=True)[:300])
    raw.close()
    assert closed.get(timeout=5) == (1006, "Connection dropped by remote peer.")
    other = connect(server.url)          # the server keeps serving
    assert other.connected


# --------------------------------------------------------- bad input
@pytest.mark.parametrize("frames, code, reason", [
    ([(0x1, b"unmasked", True, 0, False)], 1002, "Unmasked frame from client"),
    ([(0x1, b"\xce\xba\xff", True, 0, True)], 1007, "Invalid UTF-8 Data Received"),
    ([(0x1, b"rsv", True, 4, True)], 1002,
     "Unsupported usage of rsv bits without negotiated extension."),
    ([(0x3, b"", True, 0, True)], 1002, "Unrecognized Opcode: 0x3"),
    ([(0xB, b"", True, 0, True)], 1002, "Unrecognized Opcode: 0xb"),
    ([(0x0, b"cont", True, 0, True)], 1002, "Unexpected Continuation Frame"),
    ([(0x1, b"a", False, 0, True), (0x2, b"b", True, 0, True)], 1002,
     "Illegal frame opcode 0x2 received in middle of fragmented message."),
    ([(0x9, b"p", False, 0, True)], 1002, "Control frames must not be fragmented."),
    ([(0x9, b"p" * 126, True, 0, True)], 1002, "Illegal control frame longer than 125 bytes."),
    ([(0x2, b"x" * 2000, True, 0, True)], 1009,
     "Frame size of 2000 bytes exceeds maximum accepted frame size"),
    ([(0x2, b"x" * 600, False, 0, True), (0x0, b"x" * 600, True, 0, True)], 1009,
     "Maximum message size exceeded."),
])
def test_protocol_violations_close_with_the_right_code(make_server, frames, code, reason):
    closed = AsyncResult()

    def on_request(request):
        connection = request.accept()
        connection.on("close", lambda c, d: closed.set((c, d)))

    server = make_server(on_request, max_received_frame_size=1024,
                         max_received_message_size=1024)
    raw = RawClient(server.port)
    raw.handshake()
    for opcode, payload, fin, rsv, mask in frames:
        raw.send_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask)
    assert close_frame_of(raw) == (code, reason)
    assert raw.read_until_eof() == b""
    assert closed.get(timeout=5) == (code, reason)
    healthy = connect(server.url)        # other connections are unaffected
    healthy.send("ok")
    healthy.close()


def test_client_refuses_masked_server_frames(canned_raw_server):
    port, sent = canned_raw_server
    client = connect(f"ws://127.0.0.1:{port}/")
    sent.put(encode_frame(0x1, b"masked", mask=True))
    assert client.receive(timeout=5) is None
    assert (client.close_reason_code, client.close_description) == (1002, "Masked frame from server")


@pytest.fixture
def canned_raw_server():
    """A server that completes the handshake, then writes what the test
    puts in the queue."""
    from gevent.server import StreamServer

    from ..helpers import answer_handshake

    outgoing = Queue()

    def handle(sock, address):
        answer_handshake(sock)
        sock.sendall(outgoing.get(timeout=10))
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    yield server.server_port, outgoing
    server.stop(timeout=1)


# ------------------------------------------------------------ keepalive
def test_keepalive_drops_a_silent_peer(make_server):
    closed = AsyncResult()

    def on_request(request):
        request.accept().on("close", lambda code, description: closed.set((code, description)))

    server = make_server(on_request, keepalive_interval=0.1, keepalive_grace_period=0.1)
    raw = RawClient(server.port)
    raw.handshake()
    ping = raw.read_frame()              # the keepalive ping; never answered
    assert (ping.opcode, ping.binary_payload) == (0x9, b"")
    assert closed.get(timeout=5) == (1006, "Peer not responding.")
    assert raw.read_until_eof() == b""   # dropped without a close frame


def test_keepalive_keeps_a_responsive_peer(pair):
    # The grace period outlasts the test: each ping after the first comes
    # only because the pong to the one before restarted the idle interval
    # (without that, the next timer is the grace period's, an hour away).
    server_side, client, _ = pair(server_config={"keepalive_interval": 0.05,
                                                 "keepalive_grace_period": 3600})
    pings = Queue()
    client.on("ping", lambda cancel, data: pings.put(data))
    for _ in range(4):                   # four rounds of ping and automatic pong
        assert pings.get(timeout=10) == b""
    assert server_side.connected and client.connected


def test_keepalive_without_drop_keeps_pinging(make_server):
    accepted = AsyncResult()
    server = make_server(lambda request: accepted.set(request.accept()),
                         keepalive_interval=0.05, drop_connection_on_keepalive_timeout=False)
    raw = RawClient(server.port)
    raw.handshake()
    assert [raw.read_frame().opcode for _ in range(3)] == [0x9, 0x9, 0x9]
    assert accepted.get(timeout=5).connected


# ------------------------------------------------------- flow control
def test_pause_and_resume(pair):
    server_side, client, _ = pair()
    events = []
    server_side.on("pause", lambda: events.append("pause"))
    server_side.on("resume", lambda: events.append("resume"))
    server_side.pause()
    assert server_side.input_paused is True
    client.send("while paused")
    with pytest.raises(TimeoutError):
        server_side.receive(timeout=0.1)
    server_side.resume()
    assert server_side.receive(timeout=5).data == "while paused"
    assert events == ["pause", "resume"]


def test_backpressure_and_drain(pair):
    server_side, client, _ = pair(server_config={"output_high_water_mark": 1024,
                                                 "permessage_deflate": False})
    client.pause()                       # the client stops reading
    drained = Event()
    server_side.on("drain", drained.set)
    results = [server_side.send(b"x" * 65536) for _ in range(100)]
    assert results[0] in (True, False) and results[-1] is False
    assert server_side.output_buffer_full is True
    assert server_side.buffered_amount > 1024
    client.resume()
    for _ in range(100):
        assert len(client.receive(timeout=10).data) == 65536
    assert drained.wait(10)
    assert server_side.flush(5) is True
    assert server_side.buffered_amount == 0 and server_side.output_buffer_full is False


def test_blocking_consumer_busy_elsewhere_still_answers_pings(pair):
    # The consumer sleeps instead of calling receive(): a background reader
    # takes over, so pings are answered and messages wait in the queue.
    server_side, client, _ = pair()
    client.send("queued")
    pongs = AsyncResult()
    client.on("pong", pongs.set)
    client.ping(b"hello?")
    assert pongs.get(timeout=5) == b"hello?"
    assert server_side.receive(timeout=5).data == "queued"


# ------------------------------------------------------- errors, Node API
def test_socket_error_emits_error_then_close(make_server):
    import socket as stdlib_socket
    seen = Queue()

    def on_request(request):
        connection = request.accept()
        connection.on("error", lambda exc: seen.put(("error", type(exc).__name__)))
        connection.on("close", lambda code, description: seen.put(("close", code, description)))

    server = make_server(on_request)
    raw = RawClient(server.port)
    raw.handshake()
    raw.sock.setsockopt(stdlib_socket.SOL_SOCKET, stdlib_socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
    raw.close()                          # RST instead of FIN
    assert seen.get(timeout=5) == ("error", "ConnectionResetError")
    assert seen.get(timeout=5) == ("close", 1006, "Socket Error: read ECONNRESET")


def test_send_frame_and_fragment_and_send(pair):
    from wsframework import WebSocketFrame
    server_side, client, _ = pair(server_config={"fragmentation_threshold": 3},
                                  client_config={"assemble_fragments": False})
    frames = Queue()
    client.on("frame", frames.put)
    frame = WebSocketFrame(opcode=0x2, binary_payload=b"raw frame")
    assert server_side.send_frame(frame) is True
    got = frames.get(timeout=5)
    assert (got.opcode, got.fin, got.binary_payload) == (2, True, b"raw frame")
    server_side.fragment_and_send(WebSocketFrame(opcode=0x1, binary_payload=b"abcdefg"))
    assert [frames.get(timeout=5).binary_payload for _ in range(3)] == [b"abc", b"def", b"g"]
    with pytest.raises(ValueError, match="You cannot fragment control frames."):
        server_side.fragment_and_send(WebSocketFrame(opcode=0x9))


def test_native_keepalive_sets_so_keepalive(pair):
    import socket as stdlib_socket
    server_side, _, _ = pair(server_config={"use_native_keepalive": True,
                                            "keepalive_interval": 30.0})
    assert server_side.socket.getsockopt(stdlib_socket.SOL_SOCKET,
                                         stdlib_socket.SO_KEEPALIVE) == 1
    assert server_side.socket.getsockopt(stdlib_socket.IPPROTO_TCP,
                                         stdlib_socket.TCP_KEEPIDLE) == 30


def test_nagle_is_disabled_by_default(pair):
    import socket as stdlib_socket
    server_side, client, _ = pair()
    for connection in (server_side, client):
        assert connection.socket.getsockopt(stdlib_socket.IPPROTO_TCP,
                                            stdlib_socket.TCP_NODELAY) != 0


def test_client_waits_for_the_server_to_close_tcp(canned_raw_server):
    # This server answers nothing after the handshake: after our close
    # frame the client waits close_timeout, then closes the socket itself.
    port, sent = canned_raw_server
    client = connect(f"ws://127.0.0.1:{port}/", close_timeout=0.2)
    sent.put(b"")
    client.close(1000)
    assert client.state == "ending"
    assert client.wait_closed(5)
    assert client.close_reason_code == 1000
