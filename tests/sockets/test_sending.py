"""``send_each`` (C and pure Python): one buffer to many sockets without
waiting, reporting the sockets that did not take all of it."""

from __future__ import annotations

import errno
import socket

import pytest

from wsframework import sending

IMPLEMENTATIONS = [pytest.param(sending.py_send_each, id="python")]
if sending.SPEEDUPS:
    IMPLEMENTATIONS.append(pytest.param(sending.send_each, id="c"))


@pytest.fixture(params=IMPLEMENTATIONS)
def send_each(request):
    return request.param


def raw_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair of OS-level (not gevent) non-blocking sockets."""
    a, b = socket.socketpair()
    raw_a = socket.socket(fileno=a.detach())
    raw_b = socket.socket(fileno=b.detach())
    raw_a.setblocking(False)
    return raw_a, raw_b


def test_every_socket_gets_the_data(send_each):
    pairs = [raw_pair() for _ in range(5)]
    assert send_each([a for a, _ in pairs], b"frame") == []
    for a, b in pairs:
        assert b.recv(10) == b"frame"
        a.close()
        b.close()


def test_short_and_failed_sends_are_reported(send_each):
    ok, ok_peer = raw_pair()
    full, full_peer = raw_pair()
    full.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    while True:                          # fill its buffer until it would block
        try:
            full.send(b"x" * 65536)
        except BlockingIOError:
            break
    gone, gone_peer = raw_pair()
    gone_peer.close()
    closed, closed_peer = raw_pair()
    closed.close()
    short = dict(send_each([ok, full, gone, closed], b"frame" * 10))
    assert set(short) == {1, 2, 3}
    assert short[1] == 0                                     # would have blocked
    assert short[2] in (-errno.EPIPE, -errno.ECONNRESET)     # the peer is gone
    assert short[3] == -errno.EBADF                          # closed here
    assert ok_peer.recv(100) == b"frame" * 10
    for sock in (ok, ok_peer, full, full_peer, gone, closed_peer):
        sock.close()


def test_a_partial_send_reports_what_was_taken(send_each):
    a, b = raw_pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = b"y" * (1 << 22)              # far more than the buffer takes
    (index, taken), = send_each([a], data)
    assert index == 0 and 0 < taken < len(data)
    a.close()
    b.close()
