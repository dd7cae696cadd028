"""The receive low-water mark: the rest of a large frame is waited for with
the socket's SO_RCVLOWAT raised (the kernel wakes the reader once per good
part of it, not per arriving segment), and lowered again before anything
small is waited for, so small messages and parked connections still wake
at their first byte.  Over real sockets, in both handler styles (a read
loop, and event style, where idle connections park)."""

from __future__ import annotations

import socket

import gevent
import pytest
from gevent.event import AsyncResult

from wsframework.connection import WebSocketConnection
from wsframework.protocol.framing import encode_header, new_mask_key
from wsframework.protocol.masking import apply_mask

from ..helpers import RawClient

BIG = 3 << 20


def loop_echo(connection) -> None:
    for message in connection:
        connection.send(message.data)


def event_echo(connection) -> None:
    connection.on("message", lambda message: connection.send(message.data))


@pytest.fixture(params=[loop_echo, event_echo], ids=["read-loop", "event"])
def server(request, make_server):
    """An echo server whose connections ask for a 1 MiB receive buffer (the
    mark is at most a quarter of what the kernel gives, 2 MiB unless
    net.core.rmem_max is lower); ``server.accepted`` is the first
    connection."""
    style = request.param
    accepted = AsyncResult()

    def on_request(req):
        connection = req.accept()
        connection.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        accepted.set(connection)
        style(connection)

    config = request.node.callspec.params.get("server_config", {})
    server = make_server(on_request, max_received_frame_size=1 << 25,
                         max_received_message_size=1 << 25, **config)
    server.accepted = accepted
    return server


@pytest.fixture
def marks(monkeypatch):
    """Each mark a connection asks for: (bytes wanted, the socket's
    SO_RCVLOWAT after the call, its SO_RCVBUF); the calls still happen."""
    asked: list[tuple[int, int, int]] = []
    original = WebSocketConnection._set_lowat

    def spy(self, wanted):
        original(self, wanted)
        sock = self.socket
        asked.append((wanted, sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT),
                      sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)))

    monkeypatch.setattr(WebSocketConnection, "_set_lowat", spy)
    return asked


def check_marks(asked: list[tuple[int, int, int]]) -> None:
    """The rule: a large wait raises the mark to what is wanted but at most
    a quarter of the buffer, and not at all below 128 KiB; a small one
    lowers it to 1."""
    assert any(wanted >= 0x20000 for wanted, _, _ in asked), asked
    for wanted, mark, rcvbuf in asked:
        expected = min(wanted, rcvbuf // 4)
        assert mark == (expected if expected >= 0x20000 else 1), (wanted, mark, rcvbuf)


def frame_parts(payload: bytes, opcode: int = 0x2) -> tuple[bytes, bytes]:
    """A masked frame as (header with key, masked payload)."""
    key = new_mask_key()
    return encode_header(opcode, len(payload), mask=key), apply_mask(payload, key)


def read_message(raw: RawClient) -> bytes:
    """The next data message's payload (keepalive pings are passed over)."""
    frames = []
    while not frames or not frames[-1].fin:
        frame = raw.read_frame()
        if frame.opcode != 0x9:
            frames.append(frame)
    return b"".join(frame.binary_payload for frame in frames)


def lowat_of(connection) -> int:
    return connection.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


def test_a_large_frame_in_pieces_is_received_whole_and_small_ones_wake_after_it(server, marks):
    raw = RawClient(server.port)
    raw.handshake()
    connection = server.accepted.get(timeout=5)
    payload = bytes(range(256)) * (BIG // 256)
    header, masked = frame_parts(payload)
    raw.send_raw(header)
    # More than the server's buffer holds: it reads, empties the buffer
    # and then waits for the rest.
    raw.send_raw(masked)
    assert read_message(raw) == payload
    check_marks(marks)                          # the rest was waited for with the mark
    # Then a small message wakes the connection at once, however it waits.
    raw.send_frame(0x1, b"small")
    assert read_message(raw) == b"small"
    assert lowat_of(connection) == 1
    raw.close()


@pytest.mark.parametrize("server_config", [{"keepalive_interval": 0.3,
                                            "keepalive_grace_period": 0.3}])
def test_a_peer_trickling_a_large_frame_below_the_mark_is_not_taken_for_dead(server, marks,
                                                                             server_config):
    # No byte reaches the mark, so no byte wakes the reader; when keepalive
    # would ping, the mark comes down and the trickle counts as life again
    # (a peer in the middle of a frame cannot answer a ping).
    raw = RawClient(server.port)
    raw.handshake()
    connection = server.accepted.get(timeout=5)
    payload = b"t" * (1 << 20)
    header, masked = frame_parts(payload)
    raw.send_raw(header + masked[:10])
    sent = 10
    for _ in range(16):                          # 1.6 s: past interval + grace
        gevent.sleep(0.1)                        # the slow peer's pace
        raw.send_raw(masked[sent:sent + 1000])
        sent += 1000
    raw.send_raw(masked[sent:])
    assert read_message(raw) == payload
    assert connection.state == "open"
    check_marks(marks)
    raw.close()
