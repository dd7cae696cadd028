"""permessage-deflate (RFC 7692) over real sockets: our client and our
server, raw peers that look at the bytes on the wire, fake servers that
answer the client's offer by hand, broadcast, compression bombs and the
RSV rules of RFC 6455 §5.2 with an extension in use."""

from __future__ import annotations

import gc
import os
import struct
import tracemalloc
import zlib
from dataclasses import dataclass

import pytest
from gevent.queue import Empty, Queue
from gevent.server import StreamServer

import wsframework
from wsframework.exceptions import WebSocketHandshakeError
from wsframework.protocol.frame import encode_frame
from wsframework.protocol.http11 import parse_request, read_head
from wsframework.protocol.masking import apply_mask
from wsframework.protocol.permessage_deflate import PerMessageDeflate
from wsframework.protocol.streams import BufferedReader

from ..helpers import RawClient, handshake_request, response_101
from ..interop_peers import large_binary, large_text

PMD = "permessage-deflate"
AGREED = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
OUR_OFFER = AGREED  # what our client offers with the default config
TAIL = b"\x00\x00\xff\xff"
WAIT = 10.0
MiB = 1 << 20
# Limits for the 16 MiB messages: 64 MiB, so that they stay clear of the
# fragmented-message budget bug (see test_a_fragmented_message_over_half_the_limit).
BIG = {"max_received_frame_size": 1 << 26, "max_received_message_size": 1 << 26}

TEXT = "compressed ✓ ünïcödé 🚀 " * 50
BINARY = bytes(range(256)) * 40


# --------------------------------------------------------------- helpers
@dataclass
class WireFrame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes


def read_wire_frame(reader: BufferedReader) -> WireFrame:
    """One frame exactly as sent (payload unmasked, never decompressed)."""
    b0, b1 = reader.read_exact(2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", reader.read_exact(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", reader.read_exact(8))[0]
    key = reader.read_exact(4) if b1 & 0x80 else None
    payload = reader.read_exact(length) if length else b""
    if key is not None:
        payload = apply_mask(payload, key)
    return WireFrame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, key is not None, bytes(payload))


def read_wire_message(reader: BufferedReader, inflater=None) -> tuple[list[WireFrame], bytes]:
    """The frames of the next data message and its data (decompressed with
    ``inflater``, a raw zlib decompressor kept across messages, if its
    first frame has RSV1)."""
    frames = []
    while True:
        frame = read_wire_frame(reader)
        if frame.opcode >= 8:
            assert frame.opcode != 8, f"closed instead: {frame.payload!r}"
            continue
        frames.append(frame)
        if frame.fin:
            break
    data = b"".join(f.payload for f in frames)
    if frames[0].rsv & 4:
        assert inflater is not None, "a compressed message where none was agreed"
        data = inflater.decompress(data + TAIL)
    return frames, data


def close_code(frame: WireFrame) -> int:
    assert frame.opcode == 8, frame
    return struct.unpack("!H", frame.payload[:2])[0]


def compress(data: bytes, wbits: int = 12, compressor=None) -> bytes:
    """A message payload as RFC 7692 §7.2.1 says: deflate, sync flush,
    without the final 00 00 ff ff."""
    compressor = compressor or zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


def raw_deflate_client(port: int, offer: str = f"{PMD}; client_max_window_bits"):
    """A RawClient that offered ``offer``; returns (client, response)."""
    raw = RawClient(port)
    response = raw.handshake(headers={"Sec-WebSocket-Extensions": offer})
    return raw, response


class Accepted:
    """Request handlers that record the offers and the connections."""

    def __init__(self) -> None:
        self.connections: Queue = Queue()
        self.offers: list = []

    def _accept(self, request):
        self.offers.append(request.http_request.headers.get_all("Sec-WebSocket-Extensions"))
        connection = request.accept(None, request.origin)
        self.connections.put(connection)
        return connection

    def echo(self, request) -> None:
        connection = self._accept(request)
        for message in connection:
            connection.send(message.data)

    def idle(self, request) -> None:
        connection = self._accept(request)
        for _ in connection:
            pass

    def next(self) -> wsframework.WebSocketConnection:
        try:
            return self.connections.get(timeout=WAIT)
        except Empty:
            pytest.fail("the server accepted no connection in time")


@pytest.fixture
def opened():
    """Registers our client connections; drops them at teardown."""
    connections = []

    def add(url, **config):
        connection = wsframework.connect(url, open_timeout=WAIT, **config)
        connections.append(connection)
        return connection

    yield add
    for connection in connections:
        connection.drop(1001, skip_close_frame=True)


def echo(connection, data):
    connection.send(data)
    message = connection.receive(timeout=WAIT)
    assert message is not None, (connection.close_reason_code, connection.close_description)
    return message.data


def agreed(connection) -> list[str]:
    return [str(extension) for extension in connection.extensions]


# ---------------------------------------------------------- negotiation
def test_defaults_negotiate_on_both_sides(make_server, opened):
    accepted = Accepted()
    server = make_server(accepted.echo)
    client = opened(server.url)
    ours = accepted.next()
    assert accepted.offers == [[OUR_OFFER]]
    assert agreed(client) == agreed(ours) == [AGREED]
    for connection in (client, ours):
        [extension] = connection.extensions
        assert isinstance(extension, PerMessageDeflate) and extension == PMD
        assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (12, 12)
        assert not extension.local_no_context_takeover
        assert not extension.remote_no_context_takeover
    assert echo(client, TEXT) == TEXT


def _request_with_extension_lines(lines: list[str]) -> bytes:
    head = handshake_request().decode()[:-2]  # drop the blank line
    return (head + "".join(f"Sec-WebSocket-Extensions: {line}\r\n" for line in lines)
            + "\r\n").encode()


@pytest.mark.parametrize("offers, answer", [
    ([f"{PMD}; client_max_window_bits"], AGREED),
    ([OUR_OFFER], AGREED),
    ([PMD], f"{PMD}; server_max_window_bits=12"),
    ([f"{PMD}; server_no_context_takeover; server_max_window_bits=10"],
     f"{PMD}; server_no_context_takeover; server_max_window_bits=10"),
    ([f"{PMD}; server_max_window_bits=8"], None),
    (["x-webkit-deflate-frame"], None),
    ([f'{PMD}; client_max_window_bits="10'], None),    # malformed: ignored, not refused
    ([f"{PMD}; foo, {PMD}; client_max_window_bits=10"],
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=10"),
    (["x-foo", f"{PMD}; bogus", f"{PMD}; client_max_window_bits=10"],
     f"{PMD}; server_max_window_bits=12; client_max_window_bits=10"),
], ids=["client-bits", "our-offer", "plain", "server-nct-10", "8-bits", "other", "malformed",
        "second-offer", "repeated-headers"])
def test_the_101_response_header(make_server, offers, answer):
    server = make_server(Accepted().idle)
    raw = RawClient(server.port)
    try:
        response = raw.request(_request_with_extension_lines(offers))
        assert response.status == 101
        assert response.headers.get_all("Sec-WebSocket-Extensions") == (
            None if answer is None else [answer])
    finally:
        raw.close()


# ---------------------------------------------------------- round trips
LARGE_RANDOM = os.urandom(4 * MiB + 3)


@pytest.mark.parametrize("client_config", [
    {},
    {"fragmentation_threshold": 4096},
    {"fragment_outgoing_messages": False},
], ids=["default", "fragmented-4k", "unfragmented"])
def test_round_trips(make_server, opened, client_config):
    server = make_server(Accepted().echo, **BIG)
    client = opened(server.url, **BIG, **client_config)
    assert agreed(client) == [AGREED]
    for data in (TEXT, BINARY, "", b"", "tiny", b"\x00", "x" * 100_000, BINARY * 30,
                 large_text(), large_binary(), LARGE_RANDOM, TEXT):
        echoed = echo(client, data)
        assert type(echoed) is type(data) and len(echoed) == len(data)
        assert echoed == data


def test_fragmented_frames_of_a_compressed_message(make_server, opened):
    # Only the first frame carries RSV1; the frame-level API sees each
    # frame's decompressed part (assemble_fragments=False).
    frames: Queue = Queue()

    def handler(request):
        connection = request.accept()
        connection.on("frame", lambda f: frames.put(f) if f.opcode < 8 else None)
        connection.wait_closed(WAIT)

    server = make_server(handler, assemble_fragments=False)
    client = opened(server.url, fragmentation_threshold=512)
    data = os.urandom(3000) + b"z" * 3000
    client.send(data)
    seen = []
    while not seen or not seen[-1].fin:
        seen.append(frames.get(timeout=WAIT))
    assert len(seen) > 1
    assert [f.opcode for f in seen] == [2] + [0] * (len(seen) - 1)
    assert [f.rsv1 for f in seen] == [True] + [False] * (len(seen) - 1)
    assert b"".join(f.binary_payload for f in seen) == data


def test_a_fragmented_message_over_half_the_limit(make_server, opened):
    # 600000 bytes under the default 1 MiB limit, fragmented at 16 KiB.
    # The parser hands decode() the budget left for the message, which
    # PerMessageDeflate reduces again by what it already inflated: past
    # half the limit the budget goes negative and zlib raises ValueError.
    accepted = Accepted()
    server = make_server(accepted.echo)
    client = opened(server.url, **BIG)
    ours = accepted.next()
    data = bytes(300_000) + os.urandom(300_000)
    client.send(data)
    message = client.receive(timeout=WAIT)
    assert message is not None, (
        f"our server dropped a {len(data)}-byte compressed message under its "
        f"{ours.max_received_message_size}-byte limit: server side "
        f"{ours.close_reason_code} {ours.close_description!r}, client side "
        f"{client.close_reason_code} {client.close_description!r}")
    assert message.data == data


# ------------------------------------------------------------- the wire
def test_server_frames_on_the_wire(make_server):
    server = make_server(Accepted().echo)
    raw, response = raw_deflate_client(server.port)
    inflater = zlib.decompressobj(-12)
    try:
        assert response.headers["Sec-WebSocket-Extensions"] == AGREED
        big = ("wire ✓ " * 2000).encode()
        for _ in range(2):
            raw.send_frame(0x1, big)  # uncompressed from the client: allowed
            [frame], data = read_wire_message(raw.reader, inflater)
            assert (frame.opcode, frame.fin, frame.rsv, frame.masked) == (1, True, 4, False)
            assert len(frame.payload) < len(big) // 20
            assert data == big
        # Under the 32-byte threshold: not compressed.
        raw.send_frame(0x2, b"small")
        [frame], data = read_wire_message(raw.reader, inflater)
        assert (frame.rsv, data) == (0, b"small")
        # A compressed message from the client (RSV1), echoed compressed.
        deflater = zlib.compressobj(6, zlib.DEFLATED, -12)
        for _ in range(2):
            raw.send_frame(0x1, compress(big, compressor=deflater), rsv=4)
            [frame], data = read_wire_message(raw.reader, inflater)
            assert frame.rsv == 4 and data == big
        # Fragmented by the client: RSV1 on the first frame only.
        payload = compress(BINARY * 10, compressor=deflater)
        raw.send_frame(0x2, payload[:10], fin=False, rsv=4)
        raw.send_frame(0x0, payload[10:20], fin=False)
        raw.send_frame(0x0, payload[20:], fin=True)
        _, data = read_wire_message(raw.reader, inflater)
        assert data == BINARY * 10
    finally:
        raw.close()


class FakeServer:
    """Answers one handshake with ``answer`` as Sec-WebSocket-Extensions
    (none if None), then records every frame the client sends; ``send``
    writes raw bytes to the client."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.requests: Queue = Queue()
        self.frames: Queue = Queue()
        self.sock = None
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.url = f"ws://127.0.0.1:{self.server.server_port}/"

    def _handle(self, sock, address) -> None:
        reader = BufferedReader(sock.recv_into)
        request = parse_request(read_head(reader, 65536))
        self.requests.put(request)
        self.sock = sock
        extra = f"Sec-WebSocket-Extensions: {self.answer}" if self.answer else ""
        sock.sendall(response_101(request.headers["Sec-WebSocket-Key"], extra))
        try:
            while True:
                self.frames.put(read_wire_frame(reader))
        except (EOFError, OSError):
            self.frames.put(None)

    def offer(self) -> list | None:
        return self.requests.get(timeout=WAIT).headers.get_all("Sec-WebSocket-Extensions")

    def next_frame(self) -> WireFrame | None:
        try:
            return self.frames.get(timeout=WAIT)
        except Empty:
            pytest.fail("the client sent no frame in time")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


@pytest.fixture
def fake_servers():
    servers = []

    def start(answer):
        server = FakeServer(answer)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.server.stop(timeout=1)


def test_client_frames_on_the_wire(fake_servers, opened):
    fake = fake_servers(AGREED)
    client = opened(fake.url)
    assert fake.offer() == [OUR_OFFER]
    assert agreed(client) == [AGREED]
    inflater = zlib.decompressobj(-12)
    big = ("client wire ✓ " * 2000).encode()
    sizes = []
    for _ in range(2):
        client.send(big.decode())
        frame = fake.next_frame()
        assert (frame.opcode, frame.fin, frame.rsv, frame.masked) == (1, True, 4, True)
        assert inflater.decompress(frame.payload + TAIL) == big
        sizes.append(len(frame.payload))
    assert sizes[0] < len(big) // 20
    assert sizes[1] < sizes[0]  # context takeover: the second refers to the first
    client.send(b"tiny")
    frame = fake.next_frame()
    assert (frame.rsv, frame.payload) == (0, b"tiny")


@pytest.mark.parametrize("answer, same", [
    (f"{PMD}; client_no_context_takeover; server_max_window_bits=12", True),
    (f"{PMD}; server_max_window_bits=12", False),
])
def test_client_context_takeover_follows_the_answer(fake_servers, opened, answer, same):
    fake = fake_servers(answer)
    client = opened(fake.url)
    assert agreed(client) == [answer]
    payloads = []
    for _ in range(2):
        client.send("the very same message " * 20)
        frame = fake.next_frame()
        assert frame.rsv == 4
        payloads.append(frame.payload)
    assert (payloads[0] == payloads[1]) is same


def test_client_window_bits_follow_the_answer(fake_servers, opened):
    answer = f"{PMD}; server_max_window_bits=10; client_max_window_bits=9"
    fake = fake_servers(answer)
    client = opened(fake.url)
    [extension] = client.extensions
    assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (9, 10)
    block = os.urandom(2000)
    client.send(block * 3)   # a 9-bit window cannot see 2000 bytes back
    frame = fake.next_frame()
    assert len(frame.payload) > 5500
    assert zlib.decompressobj(-9).decompress(frame.payload + TAIL) == block * 3
    # And what the server sends with its 10-bit window is read.
    fake.send(encode_frame(0x2, compress(block * 3, wbits=10), rsv=4))
    assert client.receive(timeout=WAIT).data == block * 3


@pytest.mark.parametrize("answer", [
    f"{PMD}; server_max_window_bits=13",                       # above our 12
    f"{PMD}; server_max_window_bits=12; client_max_window_bits",
    f"{PMD}; server_max_window_bits=12; foo",
    f"{PMD}; server_max_window_bits=12; server_max_window_bits=12",
    PMD,                                                        # ours not answered
    "x-webkit-deflate-frame",
    f"{AGREED}, {AGREED}",
    f'{PMD}; server_max_window_bits="12',                      # malformed
])
def test_client_refuses_a_bad_answer(fake_servers, answer):
    fake = fake_servers(answer)
    with pytest.raises(WebSocketHandshakeError):
        wsframework.connect(fake.url, open_timeout=WAIT)


def test_client_refuses_an_answer_it_did_not_ask_for(fake_servers):
    fake = fake_servers(AGREED)
    with pytest.raises(WebSocketHandshakeError):
        wsframework.connect(fake.url, open_timeout=WAIT, permessage_deflate=False)
    assert fake.offer() is None


def test_client_requires_server_no_context_takeover_it_asked_for(fake_servers):
    fake = fake_servers(AGREED)
    with pytest.raises(WebSocketHandshakeError):
        wsframework.connect(fake.url, open_timeout=WAIT, server_no_context_takeover=True)
    assert fake.offer() == [f"{PMD}; server_no_context_takeover; server_max_window_bits=12; "
                            "client_max_window_bits=12"]


# ------------------------------------------- W3C client, WSGI handler
def test_w3c_client_reports_the_agreed_extension(echo_server):
    ws = wsframework.W3CWebSocket(echo_server.url)
    events: Queue = Queue()
    ws.onopen = lambda event: events.put(("open", ws.extensions))
    ws.onmessage = lambda event: events.put(("message", event.data))
    try:
        assert events.get(timeout=WAIT) == ("open", AGREED)
        ws.send("w3c " * 1000)
        assert events.get(timeout=WAIT) == ("message", "w3c " * 1000)
    finally:
        ws.close()


def test_wsgi_handler_negotiates(opened):
    from gevent import pywsgi

    from wsframework.wsgi import WebSocketHandler

    seen: Queue = Queue()

    def app(environ, start_response):
        ws = environ["wsgi.websocket"]
        seen.put([str(e) for e in ws.extensions])
        while (message := ws.receive()) is not None:
            ws.send(message)
        return []

    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None, handler_class=WebSocketHandler)
    server.start()
    try:
        client = opened(f"ws://127.0.0.1:{server.server_port}/")
        assert agreed(client) == [AGREED]
        assert seen.get(timeout=WAIT) == [AGREED]
        assert echo(client, TEXT) == TEXT
        assert echo(client, BINARY * 100) == BINARY * 100
    finally:
        server.stop(timeout=1)


# ------------------------------------------------------ turning it off
def test_server_without_permessage_deflate(make_server, opened):
    accepted = Accepted()
    server = make_server(accepted.echo, permessage_deflate=False)
    client = opened(server.url)
    ours = accepted.next()
    assert accepted.offers == [[OUR_OFFER]]  # offered, declined
    assert client.extensions == [] and ours.extensions == []
    for data in (TEXT, BINARY, "x" * 100_000):
        assert echo(client, data) == data
    raw, response = raw_deflate_client(server.port)
    try:
        assert response.headers.get("Sec-WebSocket-Extensions") is None
        raw.send_frame(0x1, b"a" * 1000)
        [frame], data = read_wire_message(raw.reader)
        assert (frame.rsv, data) == (0, b"a" * 1000)
    finally:
        raw.close()


def test_client_without_permessage_deflate(make_server, opened):
    accepted = Accepted()
    server = make_server(accepted.echo)
    client = opened(server.url, permessage_deflate=False)
    ours = accepted.next()
    assert accepted.offers == [None]  # nothing offered
    assert client.extensions == [] and ours.extensions == []
    for data in (TEXT, BINARY, "x" * 100_000):
        assert echo(client, data) == data


# ------------------------------------------------ no context takeover
@pytest.mark.parametrize("server_cfg, client_cfg, expected", [
    ({"server_no_context_takeover": True}, {},
     f"{PMD}; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"),
    ({"client_no_context_takeover": True}, {},
     f"{PMD}; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12"),
    ({}, {"server_no_context_takeover": True, "client_no_context_takeover": True},
     f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
     "server_max_window_bits=12; client_max_window_bits=12"),
    ({}, {"server_max_window_bits": 9, "client_max_window_bits": 10},
     f"{PMD}; server_max_window_bits=9; client_max_window_bits=10"),
    ({"server_max_window_bits": None, "client_max_window_bits": None},
     {"server_max_window_bits": None, "client_max_window_bits": None}, PMD),
    ({"server_max_window_bits": 15, "client_max_window_bits": 15},
     {"server_max_window_bits": None, "client_max_window_bits": 15},
     f"{PMD}; server_max_window_bits=15; client_max_window_bits=15"),
], ids=["server-imposes-server-nct", "server-imposes-client-nct", "client-asks-both-nct",
        "client-asks-windows", "no-limits", "15-bits"])
def test_settings_are_agreed_and_used(make_server, opened, server_cfg, client_cfg, expected):
    accepted = Accepted()
    server = make_server(accepted.echo, **BIG, **server_cfg)
    client = opened(server.url, **BIG, **client_cfg)
    ours = accepted.next()
    assert agreed(client) == agreed(ours) == [expected]
    [theirs], [mine] = ours.extensions, client.extensions
    assert mine.local_no_context_takeover == theirs.remote_no_context_takeover
    assert mine.remote_no_context_takeover == theirs.local_no_context_takeover
    assert mine.local_max_window_bits == theirs.remote_max_window_bits
    assert mine.remote_max_window_bits == theirs.local_max_window_bits
    for data in (TEXT, TEXT, BINARY * 50, LARGE_RANDOM[:MiB], "again " * 1000):
        assert echo(client, data) == data


@pytest.mark.parametrize("config, same", [({"server_no_context_takeover": True}, True),
                                          ({}, False)], ids=["server-nct", "takeover"])
def test_server_context_takeover_on_the_wire(make_server, config, same):
    server = make_server(Accepted().echo, **config)
    raw, response = raw_deflate_client(server.port, PMD)
    message = b"the very same message " * 20
    try:
        answer = response.headers["Sec-WebSocket-Extensions"]
        assert ("server_no_context_takeover" in answer) is same
        payloads = []
        for _ in range(3):
            raw.send_frame(0x1, message)
            frame = read_wire_frame(raw.reader)
            assert frame.rsv == 4
            payloads.append(frame.payload)
        if same:
            # Identical, and each one decodes on its own.
            assert payloads[0] == payloads[1] == payloads[2]
            for payload in payloads:
                assert zlib.decompressobj(-12).decompress(payload + TAIL) == message
        else:
            assert len(payloads[1]) < len(payloads[0])
            inflater = zlib.decompressobj(-12)
            assert [inflater.decompress(p + TAIL) for p in payloads] == [message] * 3
    finally:
        raw.close()


# ------------------------------------------------------------ broadcast
def test_broadcast_to_compressed_and_uncompressed_connections(make_server, opened):
    accepted = Accepted()
    server = make_server(accepted.idle)
    clients = [opened(server.url), opened(server.url, client_no_context_takeover=True),
               opened(server.url, permessage_deflate=False),
               opened(server.url, permessage_deflate=False, fragmentation_threshold=100)]
    raw_plain = RawClient(server.port)
    raw_plain.handshake()
    raw_deflate, _ = raw_deflate_client(server.port)
    try:
        for _ in range(6):
            accepted.next()
        assert sorted(bool(c.extensions) for c in server.connections) == [False] * 3 + [True] * 3
        messages = ["broadcast ✓ " * 100, os.urandom(1000) * 100, "short", b"\x00" * 40_000,
                    "broadcast ✓ " * 100]
        for n, message in enumerate(messages):
            if n % 2:
                assert wsframework.broadcast(server.connections, message) == 6
            else:
                server.broadcast(message)
        for client in clients:
            for message in messages:
                received = client.receive(timeout=WAIT)
                assert received is not None and received.data == message
        inflater = zlib.decompressobj(-12)
        for raw, compressed in ((raw_plain, False), (raw_deflate, True)):
            for message in messages:
                frames, data = read_wire_message(raw.reader, inflater)
                raw_bytes = message.encode() if isinstance(message, str) else message
                assert data == raw_bytes
                if len(raw_bytes) >= 32:
                    assert bool(frames[0].rsv & 4) is compressed
                if not compressed:
                    assert all(f.rsv == 0 for f in frames)
    finally:
        raw_plain.close()
        raw_deflate.close()


# ------------------------------------------------------------------ bombs
@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    """1 GiB of zeros as a permessage-deflate payload, about 1 MB.  A full
    flush makes each 16 MiB chunk independent, so one chunk repeated 64
    times is a valid stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)
    chunk = compressor.compress(bytes(16 * MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert zlib.decompressobj(-12).decompress(chunk) == bytes(16 * MiB)
    bomb = (chunk * 64)[:-4]
    assert len(bomb) < 1_100_000
    return bomb


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_compression_bomb_is_refused_with_bounded_memory(make_server, opened, gigabyte_bomb):
    accepted = Accepted()
    # Frames up to 4 MiB, so the 1 MB bomb is read whole; messages 1 MiB.
    server = make_server(accepted.echo, max_received_frame_size=4 * MiB)
    good = opened(server.url)
    accepted.next()
    assert echo(good, TEXT) == TEXT
    raw, _ = raw_deflate_client(server.port)
    victim = accepted.next()
    frame = encode_frame(0x2, gigabyte_bomb, rsv=4, mask=True)
    pieces = [frame[i:i + 65536] for i in range(0, len(frame), 65536)]
    gc.collect()
    rss_before = _rss()
    tracemalloc.start()
    try:
        for n, piece in enumerate(pieces):
            raw.send_raw(piece)
            if n == len(pieces) // 2:
                # Half a bomb in flight: the other connection works.
                assert echo(good, BINARY) == BINARY
        close = read_wire_frame(raw.reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = _rss() - rss_before
    try:
        assert close_code(close) == 1009
        assert raw.read_until_eof() == b""
    finally:
        raw.close()
    assert victim.wait_closed(WAIT) and victim.close_reason_code == 1009
    assert peak < 64 * MiB, f"{peak / MiB:.1f} MiB allocated while refusing a 1 GiB bomb"
    assert rss_growth < 64 * MiB, f"RSS grew by {rss_growth / MiB:.1f} MiB"
    assert echo(good, TEXT) == TEXT


def test_compression_bomb_in_fragments_is_refused(make_server, opened):
    # Default limits: frames of 64 KiB, messages of 1 MiB.  Each fragment
    # inflates to 300000 bytes: the fourth one crosses the limit.  A ping
    # after each of the first three proves the server took it.
    accepted = Accepted()
    server = make_server(accepted.echo)
    good = opened(server.url)
    accepted.next()
    raw, _ = raw_deflate_client(server.port)
    victim = accepted.next()
    compressor = zlib.compressobj(9, zlib.DEFLATED, -12)
    fragment = [compressor.compress(bytes(300_000)) + compressor.flush(zlib.Z_SYNC_FLUSH)
                for _ in range(4)]
    try:
        for n in range(3):
            raw.send_frame(0x2 if n == 0 else 0x0, fragment[n], fin=False, rsv=4 if n == 0 else 0)
            raw.send_frame(0x9, b"%d" % n)
            try:
                reply = read_wire_frame(raw.reader)
            except (EOFError, OSError) as exc:
                pytest.fail(f"the connection broke after fragment {n + 1} "
                            f"({300_000 * (n + 1)} bytes inflated of a 1 MiB limit): {exc!r}; "
                            f"server side {victim.close_reason_code} "
                            f"{victim.close_description!r}")
            assert (reply.opcode, reply.payload) == (0xA, b"%d" % n), (
                f"after fragment {n + 1}: {reply}")
            assert echo(good, "still here") == "still here"
        raw.send_frame(0x0, fragment[3], fin=False)
        try:
            reply = read_wire_frame(raw.reader)
        except (EOFError, OSError) as exc:
            pytest.fail(f"no close frame after the fourth fragment (1.2 MB inflated of a 1 MiB "
                        f"limit): {exc!r}; server side {victim.close_reason_code} "
                        f"{victim.close_description!r}")
        assert close_code(reply) == 1009
    finally:
        raw.close()
    assert victim.wait_closed(WAIT) and victim.close_reason_code == 1009
    assert echo(good, TEXT) == TEXT


def test_client_refuses_a_bomb_from_the_server(fake_servers, opened):
    fake = fake_servers(AGREED)
    client = opened(fake.url, max_received_message_size=MiB)
    fake.send(encode_frame(0x2, compress(bytes(64 * MiB), wbits=12), rsv=4))
    assert client.receive(timeout=WAIT) is None
    assert client.close_reason_code == 1009
    assert close_code(fake.next_frame()) == 1009


# --------------------------------------------------------- RSV and data
def _partial() -> bytes:
    return compress(b"first part of a message " * 10)


SERVER_VIOLATIONS = {
    # RFC 7692 §6.1: RSV1 only on the first frame of a message.
    "rsv1-on-continuation": ([(0x1, _partial(), False, 4), (0x0, b"\x00", True, 4)], 1002),
    # RFC 6455 §5.2 / RFC 7692 §6: no RSV bit on control frames.
    "rsv1-on-ping": ([(0x9, b"ping", True, 4)], 1002),
    "rsv1-on-pong": ([(0xA, b"pong", True, 4)], 1002),
    "rsv1-on-close": ([(0x8, struct.pack("!H", 1000), True, 4)], 1002),
    # permessage-deflate owns RSV1 only.
    "rsv2-on-data": ([(0x1, b"text", True, 2)], 1002),
    "rsv3-on-data": ([(0x2, b"data", True, 1)], 1002),
    "rsv1-and-rsv2": ([(0x2, _partial(), True, 6)], 1002),
    # Corrupt compressed data, and compressed invalid UTF-8.
    "corrupt-deflate": ([(0x2, b"\x07\x00\xff\xff", True, 4)], 1007),
    "invalid-utf8": ([(0x1, compress(b"ok \xff\xfe not utf-8"), True, 4)], 1007),
    "invalid-utf8-fragmented": ([(0x1, compress(b"ok \xc3\x28 bad")[:3], False, 4),
                                 (0x0, compress(b"ok \xc3\x28 bad")[3:], True, 0)], 1007),
}


@pytest.mark.parametrize("frames, code", SERVER_VIOLATIONS.values(), ids=SERVER_VIOLATIONS.keys())
def test_server_fails_bad_frames(make_server, frames, code):
    accepted = Accepted()
    server = make_server(accepted.echo)
    raw, _ = raw_deflate_client(server.port)
    victim = accepted.next()
    try:
        for opcode, payload, fin, rsv in frames:
            raw.send_frame(opcode, payload, fin=fin, rsv=rsv)
        assert close_code(read_wire_frame(raw.reader)) == code
    finally:
        raw.close()
    assert victim.wait_closed(WAIT) and victim.close_reason_code == code


def test_rsv1_without_the_extension_is_1002(make_server):
    accepted = Accepted()
    server = make_server(accepted.echo)
    raw = RawClient(server.port)
    raw.handshake()  # no offer
    victim = accepted.next()
    try:
        raw.send_frame(0x1, compress(b"compressed without agreement"), rsv=4)
        assert close_code(read_wire_frame(raw.reader)) == 1002
    finally:
        raw.close()
    assert victim.wait_closed(WAIT) and victim.close_reason_code == 1002


@pytest.mark.parametrize("answer, frames, code", [
    (AGREED, [encode_frame(0x1, compress(b"abc " * 20)[:5], fin=False, rsv=4),
              encode_frame(0x0, compress(b"abc " * 20)[5:], rsv=4)], 1002),
    (AGREED, [encode_frame(0x9, b"ping", rsv=4)], 1002),
    (None, [encode_frame(0x1, compress(b"not agreed"), rsv=4)], 1002),
    (AGREED, [encode_frame(0x2, b"\x07\x00garbage", rsv=4)], 1007),
], ids=["rsv1-on-continuation", "rsv1-on-ping", "rsv1-not-agreed", "corrupt"])
def test_client_fails_bad_frames(fake_servers, opened, answer, frames, code):
    fake = fake_servers(answer)
    client = opened(fake.url)
    for frame in frames:
        fake.send(frame)
    assert client.receive(timeout=WAIT) is None
    assert client.close_reason_code == code
    assert close_code(fake.next_frame()) == code
