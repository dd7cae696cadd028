"""Memory a single hostile peer can pin, over real sockets (issue 15):
pongs owed to a peer that does not read, a message sent in thousands of
tiny fragments (server and client side, with and without
permessage-deflate), and HTTP answers to a client that reads nothing or a
keep-alive connection left idle."""

from __future__ import annotations

import gc
import os
import socket
import tracemalloc
import zlib

import pytest
from gevent import pywsgi
from gevent.event import AsyncResult, Event
from gevent.pool import Pool
from gevent.server import StreamServer

from wsframework import WebSocketServer, connect
from wsframework.apps.chat.app import STATIC_DIR, make_wsgi_app
from wsframework.protocol.frame import encode_frame
from wsframework.protocol.parser import FrameParser

from ..conftest import echo_handler
from ..helpers import RawClient, answer_handshake, handshake_request

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


# ------------------------------------------------------------------ pongs
PINGS = 20_000


def test_pongs_owed_to_a_peer_that_does_not_read_are_coalesced(make_server):
    """A peer flooding pings with a small receive window and never reading
    is owed one pong at a time: only the latest waits (RFC 6455 §5.5.3),
    counted in ``buffered_amount``, not one queued per ping."""
    queued = AsyncResult()

    def on_request(request):
        connection = request.accept()
        connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for message in connection:
            if message.data == "done":          # every ping before it was answered
                queued.set(connection.buffered_amount)

    server = make_server(on_request, permessage_deflate=False)
    client = RawClient(server.port, rcvbuf=4096)
    client.handshake()
    pings = [b"%08d" % n + b"p" * 117 for n in range(PINGS)]
    client.send_raw(b"".join(encode_frame(PING, ping, mask=True) for ping in pings))
    client.send_frame(TEXT, b"done")
    held = queued.get(timeout=30)
    assert held <= 2 * (2 + 125), f"{held} bytes queued for the pongs of {PINGS} pings"
    # Reading at last: the pongs come in order, and the latest ping is answered.
    answered = []
    while not answered or answered[-1] != pings[-1]:
        frame = client.read_frame()
        assert frame.opcode == PONG
        answered.append(frame.binary_payload)
    assert answered == sorted(set(answered))
    client.close()


def test_pongs_go_out_between_whole_frames_of_queued_messages(make_server):
    """Pongs owed while messages wait for the peer go out between frames,
    ahead of the queued messages, which arrive whole and in order."""
    queued = AsyncResult()
    messages = [bytes([n]) * 100_000 for n in range(8)]

    def on_request(request):
        connection = request.accept()
        connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        for message in messages:
            connection.send(message)
        for message in connection:
            if message.data == "done":
                queued.set(connection.buffered_amount)

    server = make_server(on_request, permessage_deflate=False)
    client = RawClient(server.port, rcvbuf=4096)
    client.handshake()
    pings = [b"%08d" % n for n in range(1000)]
    client.send_raw(b"".join(encode_frame(PING, ping, mask=True) for ping in pings))
    client.send_frame(TEXT, b"done")
    assert queued.get(timeout=30) <= sum(map(len, messages)) + 2 * (2 + 125)
    received, answered, parts = [], [], []
    while len(received) < len(messages) or answered[-1:] != pings[-1:]:
        frame = client.read_frame()
        if frame.opcode == PONG:
            answered.append(frame.binary_payload)
            continue
        parts.append(frame.binary_payload)
        if frame.fin:
            received.append(b"".join(parts))
            parts = []
    assert received == messages
    assert answered == sorted(set(answered)) and len(answered) < len(pings)
    client.close()


# -------------------------------------------------------------- fragments
FRAGMENTS = 30_000
# Allocated meanwhile besides the message (reader buffers, decoder state).
SLACK = 256 * 1024


def held_by(send, sync) -> int:
    """Bytes still allocated after ``send()`` once ``sync()`` has seen the
    peer process all of it (traced by tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        send()
        sync()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def read_message(client: RawClient) -> bytes:
    """The payload of the next data message (its frames joined)."""
    parts = []
    while True:
        frame = client.read_frame()
        assert frame.opcode in (CONT, TEXT, BINARY), frame.opcode
        parts.append(frame.binary_payload)
        if frame.fin:
            return b"".join(parts)


def ping_sync(client: RawClient) -> None:
    """Ping, and wait for the pong: the server has read everything before."""
    client.send_frame(PING, b"sync")
    frame = client.read_frame()
    assert (frame.opcode, frame.binary_payload) == (PONG, b"sync")


@pytest.mark.parametrize("opcode", [BINARY, TEXT])
def test_tiny_fragments_cost_the_server_no_more_than_their_bytes(echo_server, opcode):
    """30,000 two-byte continuations of a message in progress: the server
    holds about their bytes, not an object (~50 bytes) and a list slot per
    fragment; the message is then echoed whole."""
    client = RawClient(echo_server.port)
    client.handshake()
    client.send_frame(opcode, b"ab", fin=False)
    batch = encode_frame(CONT, b"xy", fin=False, mask=True) * 1000

    def send():
        for _ in range(FRAGMENTS // 1000):
            client.send_raw(batch)

    held = held_by(send, lambda: ping_sync(client))
    client.send_frame(CONT, b"z")
    expected = b"ab" + b"xy" * FRAGMENTS + b"z"
    assert read_message(client) == expected
    assert held < len(expected) + SLACK, \
        f"{held} bytes held for {len(expected)} bytes in {FRAGMENTS} fragments"
    client.close()


def test_tiny_compressed_fragments_cost_the_server_no_more_than_their_bytes(echo_server):
    """The same with permessage-deflate: each fragment inflates to 2 bytes."""
    client = RawClient(echo_server.port)
    response = client.handshake(headers={"Sec-WebSocket-Extensions": "permessage-deflate"})
    assert "permessage-deflate" in response.headers["Sec-WebSocket-Extensions"]
    client.parser.allowed_rsv = 4           # the echo comes compressed (RSV1)
    deflate = zlib.compressobj(6, zlib.DEFLATED, -9)

    def piece(data: bytes) -> bytes:
        return deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)

    client.send_frame(BINARY, piece(b"ab"), fin=False, rsv=4)
    frames = [encode_frame(CONT, piece(b"xy"), fin=False, mask=True) for _ in range(FRAGMENTS)]
    batches = [b"".join(frames[n:n + 1000]) for n in range(0, FRAGMENTS, 1000)]
    del frames

    def send():
        for batch in batches:
            client.send_raw(batch)

    held = held_by(send, lambda: ping_sync(client))
    client.send_frame(CONT, piece(b"z")[:-4])
    expected = b"ab" + b"xy" * FRAGMENTS + b"z"
    echoed = read_message(client)
    assert zlib.decompressobj(-15).decompress(echoed + b"\x00\x00\xff\xff") == expected
    assert held < len(expected) + SLACK, \
        f"{held} bytes held for {len(expected)} bytes in {FRAGMENTS} fragments"
    client.close()


def test_tiny_fragments_cost_the_client_no_more_than_their_bytes():
    """A hostile server sends ``connect()`` a message in 30,000 two-byte
    fragments: the client too holds about their bytes."""
    go, synced, finish = Event(), Event(), Event()

    def handle(sock, address):
        reader = answer_handshake(sock)
        parser = FrameParser(reader, expect_masked=True, max_frame_size=1 << 20,
                             max_message_size=1 << 20, assemble_fragments=False)
        go.wait()
        sock.sendall(encode_frame(BINARY, b"ab", fin=False))
        batch = encode_frame(CONT, b"xy", fin=False) * 1000
        for _ in range(FRAGMENTS // 1000):
            sock.sendall(batch)
        sock.sendall(encode_frame(PING, b"sync"))
        frame = parser.next_event()
        assert (frame.opcode, frame.binary_payload) == (PONG, b"sync")
        synced.set()
        finish.wait()
        sock.sendall(encode_frame(CONT, b"z"))
        while parser.next_event().opcode != CLOSE:
            pass
        sock.sendall(encode_frame(CLOSE, b"\x03\xe8"))     # the closing handshake

    hostile = StreamServer(("127.0.0.1", 0), handle)
    hostile.start()
    try:
        client = connect(f"ws://127.0.0.1:{hostile.server_port}/", permessage_deflate=False)
        held = held_by(go.set, lambda: synced.wait(30))
        finish.set()
        expected = b"ab" + b"xy" * FRAGMENTS + b"z"
        assert client.receive(timeout=30).data == expected
        assert held < len(expected) + SLACK, \
            f"{held} bytes held for {len(expected)} bytes in {FRAGMENTS} fragments"
        client.close()
        assert client.wait_closed(10) and client.was_clean
    finally:
        hostile.stop(timeout=1)


# The default limits (1 MiB server, 8 MiB client) allow 1,024 frames plus
# one per 16 bytes: these many empty continuations are more than that.
TOO_MANY_FOR_THE_SERVER = 1024 + (1 << 20) // 16 + 1000
TOO_MANY_FOR_THE_CLIENT = 1024 + (8 << 20) // 16 + 1000


def test_endless_empty_continuations_end_with_1009_on_the_server(make_server):
    """Empty continuations cost no memory, but a message may not go on for
    ever: beyond its frame allowance the server closes with 1009."""
    server = make_server(echo_handler)          # the default 1 MiB limit
    client = RawClient(server.port)
    client.handshake()
    client.send_frame(BINARY, b"ab", fin=False)
    batch = encode_frame(CONT, b"", fin=False, mask=True) * 1000
    try:
        for _ in range(TOO_MANY_FOR_THE_SERVER // 1000 + 1):
            client.send_raw(batch)
    except OSError:             # the server may close before all is sent
        pass
    frame = client.read_frame()
    assert (frame.opcode, frame.close_status) == (CLOSE, 1009), frame
    client.close()


def test_endless_empty_continuations_end_with_1009_on_the_client():
    """The same from a hostile server to ``connect()``."""
    closed = AsyncResult()

    def handle(sock, address):
        reader = answer_handshake(sock)
        parser = FrameParser(reader, expect_masked=True, max_frame_size=1 << 20,
                             max_message_size=1 << 20, assemble_fragments=False)
        sock.sendall(encode_frame(BINARY, b"ab", fin=False))
        batch = encode_frame(CONT, b"", fin=False) * 1000
        try:
            for _ in range(TOO_MANY_FOR_THE_CLIENT // 1000 + 1):
                sock.sendall(batch)
        except OSError:
            pass
        while True:
            frame = parser.next_event()
            if frame.opcode == CLOSE:
                closed.set(frame.close_status)
                return

    hostile = StreamServer(("127.0.0.1", 0), handle)
    hostile.start()
    try:
        client = connect(f"ws://127.0.0.1:{hostile.server_port}/", permessage_deflate=False)
        assert client.receive(timeout=60) is None
        assert closed.get(timeout=30) == 1009
        assert client.close_reason_code == 1009
    finally:
        hostile.stop(timeout=1)


# ------------------------------------------------------------------- HTTP
CHAT_JS = "/static/chat.js"


@pytest.fixture
def pages():
    """The chat's pages on a pywsgi server with a mounted WebSocketServer
    (as the chat server runs them); its connections' greenlets are in
    ``server.pool``.  The listener's small send buffer is inherited by
    every accepted socket, so a client that stops reading blocks the
    server's writes soon."""
    servers = []

    def start(**config):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        pool = Pool()
        server = pywsgi.WSGIServer(listener, make_wsgi_app(lambda: {"status": "ok"}),
                                   spawn=pool, log=None)
        WebSocketServer(http_server=server, **config)
        server.pool = pool
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=1)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sent until it closed (EOF or reset)."""
    chunks = []
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def test_responses_a_client_does_not_read_time_out(pages):
    """Pipelined requests from a client that reads nothing: once a response
    makes no progress for ``http_idle_timeout`` the connection is reset,
    and its greenlet (and the kernel's send queue) are freed."""
    server = pages(http_idle_timeout=0.2)
    client = RawClient(server.server_port, rcvbuf=1024).sock
    requests = 200
    client.sendall(f"GET {CHAT_JS} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() * requests)
    assert client.recv(1, socket.MSG_PEEK) == b"H"      # the server is answering
    assert server.pool.join(timeout=10), "the server still writes to a client that reads nothing"
    received = read_until_closed(client)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert len(received) < requests * os.path.getsize(os.path.join(STATIC_DIR, "chat.js"))
    client.close()


def test_an_idle_keep_alive_connection_is_closed(pages):
    """Between requests a keep-alive connection waits ``http_idle_timeout``
    for the next one (here with no ``handshake_timeout`` at all)."""
    server = pages(http_idle_timeout=0.2, handshake_timeout=None)
    client = RawClient(server.server_port).sock
    client.sendall(f"GET {CHAT_JS} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    received = read_until_closed(client)
    assert received.startswith(b"HTTP/1.1 200 ")
    assert server.pool.join(timeout=10)
    client.close()


def test_a_rejection_the_client_does_not_read_times_out(make_server):
    """The library's own HTTP answers are bounded too: a rejection the
    client does not read is given up after ``http_idle_timeout``."""
    rejected = Event()

    def on_request(request):
        request.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        request.reject(403, "Go away.", {"X-Padding": "x" * 1_000_000})
        rejected.set()

    server = make_server(on_request, http_idle_timeout=0.2)
    client = RawClient(server.port, rcvbuf=1024)
    client.send_raw(handshake_request())
    assert rejected.wait(10), "reject() still writes to a client that reads nothing"
    received = read_until_closed(client.sock)
    assert received.startswith(b"HTTP/1.1 403 ") and len(received) < 1_000_000
    client.close()


@pytest.mark.parametrize("value, error", [
    (0, ValueError), (-1.0, ValueError), ("30", TypeError), (True, TypeError),
])
def test_http_idle_timeout_is_checked(value, error):
    with pytest.raises(error, match="http_idle_timeout"):
        WebSocketServer(http_idle_timeout=value)


def test_http_idle_timeout_may_be_none():
    assert WebSocketServer(http_idle_timeout=None).config["http_idle_timeout"] is None
