"""The write side on its own: ``Outgoing`` against stand-in sockets (no
network), its verdicts, cork, callbacks, pong, slow-consumer policies and
flusher steps."""

from __future__ import annotations

import errno
import socket

import gevent
import pytest
from gevent import socket as gsocket

from wsframework.config import server_config
from wsframework.connection import WebSocketConnection
from wsframework.exceptions import ConnectionClosedError, WebSocketError
from wsframework.protocol.framing import Side
from wsframework.outgoing import (CLOSE, CORK_LIMIT, CORKED, FAILED, FULL, IOV_MAX, QUEUED,
                                  REFUSED, SENT, Outgoing, Pieces)


class Raw:
    """A non-blocking OS socket stand-in: takes up to ``room`` bytes."""

    def __init__(self, room: int = 1 << 30, error: OSError | None = None) -> None:
        self.room = room
        self.error = error
        self.sent: list[bytes] = []
        self.sendmsg_calls = 0

    def send(self, data) -> int:
        if self.error is not None:
            raise self.error
        if not self.room:
            raise BlockingIOError(errno.EAGAIN, "would block")
        taken = bytes(data[:self.room])
        self.room -= len(taken)
        self.sent.append(taken)
        return len(taken)

    def sendmsg(self, pieces) -> int:
        self.sendmsg_calls += 1
        return self.send(b"".join(bytes(p) for p in pieces))


class Sock:
    """The gevent socket stand-in for the flusher: ``sendall`` records;
    ``sendmsg`` takes at most ``per_call`` bytes a call (gevent's waits,
    then returns what one send took) and records its buffer counts."""

    def __init__(self, error: OSError | None = None, per_call: int = 1 << 30) -> None:
        self.written: list[bytes] = []
        self.error = error
        self.per_call = per_call
        self.batches: list[int] = []

    def sendall(self, data) -> None:
        if self.error is not None:
            raise self.error
        self.written.append(bytes(data))

    def sendmsg(self, buffers) -> int:
        if self.error is not None:
            raise self.error
        self.batches.append(len(buffers))
        taken = b"".join(bytes(b) for b in buffers)[:self.per_call]
        self.written.append(taken)
        return len(taken)


class Reader:
    """The input buffer stand-in: ``pending`` bytes of input buffered."""

    def __init__(self, pending: int = 0) -> None:
        self.buf = bytearray(pending)
        self.pos = 0


class Metrics:
    def __init__(self) -> None:
        self.slow: list[str] = []

    def on_slow_consumer(self, policy: str) -> None:
        self.slow.append(policy)


def outgoing(raw=None, sock=None, reader=None, *, plain=True, high_water=100, limit=1000,
             policy="error", metrics=None) -> Outgoing:
    return Outgoing(sock or Sock(), raw or Raw(), reader or Reader(), plain=plain,
                    try_send_ok=True, high_water=high_water, limit=limit, policy=policy,
                    metrics=metrics)


def recorder() -> tuple[list, object]:
    calls: list = []
    return calls, calls.append


def test_a_write_to_an_empty_queue_goes_straight_out():
    raw = Raw()
    out = outgoing(raw)
    calls, callback = recorder()
    assert out.write(b"frame", callback, message=True) == SENT
    assert raw.sent == [b"frame"] and calls == [None] and out.pending == 0


def test_what_the_socket_does_not_take_is_queued_and_the_rest_waits_behind_it():
    raw = Raw(room=3)
    out = outgoing(raw)
    assert out.write(b"abcdef") == QUEUED
    assert [bytes(d) for d in out.queue] == [b"def"] and out.size == 3
    raw.room = 100
    assert out.write(b"gh") == QUEUED               # behind the queue, not sent around it
    assert raw.sent == [b"abc"] and out.size == 5


def test_above_the_high_water_mark_the_verdict_is_full():
    out = outgoing(Raw(room=0), high_water=4)
    assert out.write(b"abc") == QUEUED
    assert out.write(b"de") == FULL


def test_a_socket_error_is_reported_not_raised():
    error = OSError(errno.EPIPE, "broken pipe")
    out = outgoing(Raw(error=error))
    calls, callback = recorder()
    assert out.write(b"x", callback) == FAILED
    assert out.error is error and calls == []       # the connection tells the callback


def test_a_closed_queue_refuses_and_tells_the_callback():
    out = outgoing()
    out.closed = True
    calls, callback = recorder()
    assert out.write(b"x", callback) == REFUSED
    assert isinstance(calls[0], ConnectionClosedError)


def test_replies_are_corked_while_input_is_buffered_then_sent_in_one_go():
    raw = Raw()
    out = outgoing(raw, reader=Reader(pending=10))
    assert out.write(b"one", message=True) == CORKED
    assert out.write(b"two", message=True) == SENT
    assert raw.sent == [] and out.pending == 6
    assert out.uncork() == SENT
    assert raw.sent == [b"onetwo"] and out.pending == 0


def test_a_write_that_cannot_join_the_cork_uncorks_first():
    raw = Raw()
    out = outgoing(raw, reader=Reader(pending=10))
    assert out.write(b"one", message=True) == CORKED
    calls, callback = recorder()
    assert out.write(b"two", callback, message=True) == SENT
    assert raw.sent == [b"one", b"two"] and calls == [None]


def test_the_cork_is_bounded():
    out = outgoing(reader=Reader(pending=10))
    assert out.write(b"x" * (CORK_LIMIT - 1), message=True) == CORKED
    assert out.write(b"y", message=True) == SENT
    assert out.write(b"z", message=True) == SENT    # over the limit: uncorked, sent
    assert out.cork is None


def test_pieces_go_through_sendmsg_on_a_plain_socket_and_are_joined_otherwise():
    raw = Raw()
    assert outgoing(raw).write([b"ab", memoryview(b"cd")]) == SENT
    assert raw.sendmsg_calls == 1 and raw.sent == [b"abcd"]
    raw = Raw()
    assert outgoing(raw, plain=False).write([b"ab", b"cd"]) == SENT
    assert raw.sendmsg_calls == 0 and raw.sent == [b"abcd"]


def test_pieces_the_socket_did_not_take_are_queued_uncopied_and_flushed_with_sendmsg():
    sock = Sock(per_call=2)
    out = outgoing(Raw(room=3), sock)
    pieces = [b"ab", b"cd", b"ef"]
    assert out.write(pieces) == QUEUED
    (rest,) = out.queue
    assert type(rest) is Pieces and len(rest) == 3 and out.size == 3
    assert [bytes(b) for b in rest.batch()] == [b"d", b"ef"]
    assert rest.batch()[1] is pieces[2]             # not copied
    assert out.flush() is None
    assert sock.written == [b"de", b"f"] and out.size == 0 and not out.queue
    assert pieces == [b"ab", b"cd", b"ef"]          # the caller's list is left alone


def test_pieces_behind_a_queue_wait_their_turn_uncopied():
    sock = Sock()
    out = outgoing(Raw(room=0), sock)
    assert out.write(b"first") == QUEUED
    payload = b"x" * 10
    assert out.write([b"h", memoryview(payload)[:5], b"h", memoryview(payload)[5:]]) == QUEUED
    assert out.size == 5 + 12 and type(out.queue[1]) is Pieces
    assert out.flush() is None
    assert sock.written == [b"first", b"h" + b"x" * 5 + b"h" + b"x" * 5] and out.size == 0


def test_pieces_go_to_sendmsg_at_most_iov_max_buffers_at_a_time():
    sock = Sock()
    out = outgoing(Raw(room=0), sock, high_water=1 << 20)
    buffers = [bytes((i % 256,)) for i in range(2 * IOV_MAX + 5)]
    assert out.write(buffers) == QUEUED
    assert out.flush() is None
    assert sock.batches == [IOV_MAX, IOV_MAX, 5]
    assert b"".join(sock.written) == b"".join(buffers)


def test_a_pieces_cut_inside_a_buffer_and_across_batches_resumes_where_it_stopped():
    buffers = [bytes([i % 256]) * 3 for i in range(IOV_MAX + 3)]
    whole = b"".join(buffers)
    for done in (0, 1, 3, 4, 3 * IOV_MAX - 1, 3 * IOV_MAX, 3 * IOV_MAX + 2, len(whole) - 1):
        rest = Pieces(buffers)
        rest.done = done
        assert len(rest) == len(whole) - done
        batch = rest.batch()
        assert len(batch) <= IOV_MAX
        assert b"".join(bytes(b) for b in batch) == whole[done:done + len(b"".join(
            bytes(b) for b in batch))]
        assert bytes(batch[0])[:1] == whole[done:done + 1]


def test_the_latest_pong_replaces_an_earlier_one_and_goes_after_the_current_frame():
    sock = Sock()
    out = outgoing(Raw(room=0), sock)
    out.write(b"first")
    out.write(b"second")
    out.owe_pong(b"pong-1")
    out.owe_pong(b"p2")
    assert out.size == len(b"firstsecond") + 2
    assert out.flush() is None
    assert sock.written == [b"first", b"p2", b"second"] and out.size == 0


def test_flush_calls_back_in_order_and_sets_flushed():
    sock = Sock()
    out = outgoing(Raw(room=0), sock)
    calls: list = []
    out.write(b"a", lambda e: calls.append(("a", e)))
    out.write(b"b", lambda e: calls.append(("b", e)))
    out.flushed = gevent.event.Event()
    assert out.flush() is None
    assert calls == [("a", None), ("b", None)] and out.flushed.is_set()
    assert out.wait_flushed(0) is True


def test_a_flush_error_is_returned_and_fail_tells_the_waiting_callbacks():
    error = OSError(errno.ECONNRESET, "reset")
    out = outgoing(Raw(room=0), Sock(error=error))
    calls, callback = recorder()
    out.write(b"a", callback)
    assert out.flush() is error
    out.fail(error)
    assert calls == [error] and out.size == 0 and not out.queue


def test_slow_consumer_error_policy_refuses_and_counts():
    metrics = Metrics()
    out = outgoing(Raw(room=0), limit=10, metrics=metrics)
    out.write(b"x" * 8, message=True)
    calls, callback = recorder()
    assert out.write(b"y" * 8, callback, message=True) == REFUSED
    assert isinstance(calls[0], WebSocketError) and metrics.slow == ["error"]


def test_slow_consumer_close_policy_says_close():
    out = outgoing(Raw(room=0), limit=10, policy="close")
    out.write(b"x" * 8, message=True)
    assert out.write(b"y" * 8, message=True) == CLOSE


def test_slow_consumer_drop_oldest_keeps_the_head_and_the_newest():
    out = outgoing(Raw(room=0), limit=10, high_water=1000, policy="drop_oldest")
    dropped: list = []
    out.write(b"a" * 4, message=True)
    out.write(b"b" * 4, dropped.append, message=True)
    assert out.write(b"c" * 4, message=True) == QUEUED
    assert [bytes(d) for d in out.queue] == [b"aaaa", b"cccc"]
    assert isinstance(dropped[0], WebSocketError)


def test_slow_consumer_wait_policy_blocks_until_the_flusher_makes_room():
    sock = Sock()
    out = outgoing(Raw(room=0), sock, limit=10, high_water=1000, policy="wait")
    out.write(b"a" * 8, message=True)
    writer = gevent.spawn(out.write, b"b" * 8, None, True)
    gevent.sleep(0)
    assert not writer.ready()                       # waiting for room
    out.flush()
    assert writer.get(timeout=5) == QUEUED
    assert [bytes(d) for d in out.queue] == [b"b" * 8]


def test_close_stops_the_flusher_and_fails_the_callbacks():
    out = outgoing(Raw(room=0))
    calls, callback = recorder()
    out.write(b"a", callback)
    out.flusher = gevent.spawn(gevent.sleep, 10)
    error = ConnectionClosedError("closed")
    out.close(error)
    gevent.sleep(0)
    assert out.closed and out.flusher is None and calls == [error]


@pytest.mark.parametrize("policy", ["error", "close", "drop_oldest"])
def test_control_frames_are_never_refused_by_the_policy(policy):
    out = outgoing(Raw(room=0), limit=4, high_water=1000, policy=policy)
    out.write(b"x" * 4, message=True)
    assert out.write(b"ping-frame") == QUEUED       # message=False: not a data message


# -- the broadcast seam of the connection ------------------------------------------
def _connection(side: Side = Side.SERVER, config: dict | None = None):
    """A connection on one end of a socketpair, and the other end."""
    a, b = socket.socketpair()
    connection = WebSocketConnection(gsocket.socket(fileno=a.detach()), None, None, side,
                                     server_config({"keepalive": False, **(config or {})}))
    return connection, b


def test_broadcast_targets_split_idle_plain_connections_from_the_others():
    idle, peer1 = _connection()
    queued, peer2 = _connection()
    queued._outgoing().queue.append(b"waiting")
    tiny, peer3 = _connection(config={"fragmentation_threshold": 4})
    closed, peer4 = _connection()
    closed.drop(1000)
    client, peer5 = _connection(Side.CLIENT)
    direct, socks, others = WebSocketConnection.broadcast_targets(
        [idle, queued, tiny, closed, client], 10)
    assert direct == [idle] and socks == [idle._raw]
    assert others == [queued, tiny, client]
    assert [c.shared_framing() for c in others] == [16384, 4, None]
    for connection in (idle, queued, tiny, client):
        connection.drop(1000)
    for peer in (peer1, peer2, peer3, peer4, peer5):
        peer.close()


def test_direct_sent_queues_what_the_socket_did_not_take():
    connection, peer = _connection()
    connection.direct_sent(b"0123456789", 4)
    assert connection.buffered_amount == 6
    assert connection.flush(5)
    assert peer.recv(100) == b"456789"
    connection.direct_sent(b"x", -errno.EPIPE)          # a failed send: the socket error path
    assert not connection.connected and connection.close_reason_code == 1006
    peer.close()
