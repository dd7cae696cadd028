"""``Outgoing``: the write side of one connection.

What the socket does not take at once waits here in order: the queue, the
cork (small replies gathered into one send while more input is buffered),
the latest pong owed, the send callbacks, and the ``slow_consumer_policy``
once ``output_buffer_limit`` bytes wait.  A connection makes its
``Outgoing`` only when it first needs one (an idle connection that never
queued has none).

The object never calls back into its connection: each step returns a
*verdict* (:data:`SENT`, :data:`QUEUED`, ...) and the connection acts on it
(starts the flusher greenlet, emits ``drain``, closes on a socket error or
for a slow consumer).  :meth:`Outgoing.flush` is what the flusher greenlet
runs: it blocks until the queue is written and returns the socket error,
if any.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections import deque
from itertools import accumulate
from typing import Any, Callable

import gevent
from gevent import getcurrent
from gevent.event import Event

from .exceptions import ConnectionClosedError, WebSocketError

__all__ = ["Outgoing", "Pieces", "SENT", "QUEUED", "FULL", "CORKED", "FAILED", "REFUSED", "CLOSE",
           "CORK_LIMIT", "IOV_MAX"]

logger = logging.getLogger("wsframework.connection")

Callback = Callable[[Exception | None], Any]

# Verdicts of Outgoing.write and friends (plain ints: they are compared on
# every queued send).
#: Written to the socket (or gathered in the cork): nothing to do.
SENT = 0
#: Queued: a flusher greenlet must write it (start one unless running).
QUEUED = 1
#: Queued, and the queue is above ``output_high_water_mark``.
FULL = 2
#: A cork was started: the connection must uncork on the loop's next turn.
CORKED = 3
#: The socket failed: :attr:`Outgoing.error` holds the exception.
FAILED = 4
#: Not sent (socket closed, or refused by the slow-consumer policy); the
#: callback, if any, was told.
REFUSED = 5
#: Refused under the ``close`` slow-consumer policy: close with 1008.
CLOSE = 6

#: Buffers per sendmsg call (the usual IOV_MAX).
IOV_MAX = 1024
#: Most bytes of small messages gathered into one send while more input waits.
CORK_LIMIT = 0x10000


def call_back(callback: Callback, error: Exception | None) -> None:
    """Run a send callback; an exception in it is logged, never allowed to
    stop the writer or the reader that called it."""
    try:
        callback(error)
    except Exception:
        logger.exception("send callback %r raised", callback)


class Pieces:
    """A fragmented message's buffers (headers and payload slices), written
    with ``sendmsg`` as they are: never joined, so a 16 MiB message is not
    copied to be queued.  ``len()`` is the bytes not yet written, as for the
    queue's other items; the list itself is never changed (a broadcast
    shares it between connections)."""

    __slots__ = ("buffers", "ends", "done")

    def __init__(self, buffers: list) -> None:
        self.buffers = buffers
        #: Where each buffer ends in the whole, to find where ``done`` falls.
        self.ends = list(accumulate(map(len, buffers)))
        #: Bytes written so far.
        self.done = 0

    def __len__(self) -> int:
        ends = self.ends
        return (ends[-1] if ends else 0) - self.done

    def batch(self) -> list:
        """The next buffers for one ``sendmsg`` (at most :data:`IOV_MAX`),
        the first one cut where the last write stopped."""
        done = self.done
        ends = self.ends
        index = bisect_right(ends, done)
        buffers = self.buffers
        offset = done - (ends[index - 1] if index else 0)
        if offset:
            return [memoryview(buffers[index])[offset:], *buffers[index + 1:index + IOV_MAX]]
        return buffers[index:index + IOV_MAX]


class Outgoing:
    """The outgoing queue of one connection (see the module docstring).

    ``socket`` is the gevent socket (its ``sendall`` waits, for the
    flusher); ``raw`` has the non-blocking ``send`` (and ``sendmsg`` when
    ``plain``: a plain, not TLS, socket); ``reader`` is the connection's
    input buffer, looked at to decide whether to cork.
    """

    __slots__ = (
        "socket", "raw", "reader", "plain", "try_send_ok", "high_water", "limit", "policy",
        "metrics", "queue", "size", "pong", "cork", "cork_size", "callbacks", "flusher",
        "flushed", "room", "closed", "error",
    )

    def __init__(self, socket: Any, raw: Any, reader: Any, *, plain: bool, try_send_ok: bool,
                 high_water: int, limit: int, policy: str, metrics: Any = None) -> None:
        self.socket = socket
        self.raw = raw
        self.reader = reader
        self.plain = plain
        self.try_send_ok = try_send_ok      # False: gevent's SSL sockets always wait
        self.high_water = high_water
        self.limit = limit
        self.policy = policy
        self.metrics = metrics
        self.queue: deque = deque()
        self.size = 0                       # bytes queued (with the pong owed)
        self.pong: bytes | None = None      # the latest pong owed while output waits
        self.cork: list | None = None
        self.cork_size = 0
        self.callbacks: deque | None = None
        self.flusher: Any = None            # the greenlet running flush(), set by the owner
        self.flushed: Event | None = None
        self.room: Event | None = None
        self.closed = False
        self.error: BaseException | None = None

    @property
    def pending(self) -> int:
        """Bytes accepted and not yet written to the socket."""
        return self.size + self.cork_size

    # -- writing ---------------------------------------------------------------
    def write(self, data: bytes | list, callback: Callback | None = None,
              message: bool = False) -> int:
        """Send ``data`` now or queue it behind what waits; returns a verdict.

        ``data`` is one buffer or a list of pieces (a fragmented message,
        sent with ``sendmsg`` uncopied).  Never blocks, except a data
        ``message`` under the "wait" policy while the queue is full.
        """
        if self.closed:
            if callback is not None:
                call_back(callback, ConnectionClosedError("the socket is closed"))
            return REFUSED
        queue = self.queue
        if self.cork is not None:
            if (message and callback is None and type(data) is bytes
                    and self.cork_size < CORK_LIMIT):
                self.cork.append(data)
                self.cork_size += len(data)
                return SENT
            verdict = self.uncork()         # what was corked goes first
            if verdict == FAILED or verdict == REFUSED:
                return verdict
        elif (message and callback is None and type(data) is bytes and not queue
              and len(data) < CORK_LIMIT and self.try_send_ok
              and len(self.reader.buf) > self.reader.pos):
            # More input is already buffered, so the consumer will be back
            # at once: gather its replies into one send, made before the
            # connection next waits for input or on the loop's next turn.
            self.cork = [data]
            self.cork_size = len(data)
            return CORKED
        tried = False
        if type(data) is list:              # the pieces of a fragmented message
            if not self.plain:              # sendmsg: plain sockets only
                data = b"".join(data)
            elif queue:
                data = Pieces(data)
                tried = True
            else:
                tried = True
                try:
                    data = self._send_pieces(data)
                except OSError as exc:
                    self.error = exc
                    return FAILED
                if data is None:
                    if callback is not None:
                        call_back(callback, None)
                    return SENT
        if message and queue and self.size + len(data) > self.limit:
            verdict = self.make_room(len(data), callback)
            if verdict != SENT:
                return verdict
        if not queue and self.try_send_ok and not tried:
            try:
                sent = self.raw.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self.error = exc
                return FAILED
            if sent == len(data):
                if callback is not None:
                    call_back(callback, None)
                return SENT
            data = memoryview(data)[sent:]
        return self.enqueue(data, callback)

    def enqueue(self, data: bytes | memoryview, callback: Callback | None = None) -> int:
        """Queue what the socket did not take: QUEUED, or FULL once the
        queue is above the high-water mark."""
        self.queue.append(data)
        self.size += len(data)
        if callback is not None:
            if self.callbacks is None:
                self.callbacks = deque()
            self.callbacks.append((data, callback))
        return FULL if self.size > self.high_water else QUEUED

    def uncork(self) -> int:
        """Write the corked messages in one send; a verdict."""
        cork = self.cork
        if cork is None:
            return SENT
        self.cork = None
        self.cork_size = 0
        return self.write(cork[0] if len(cork) == 1 else b"".join(cork))

    def owe_pong(self, frame: bytes) -> None:
        """Make ``frame`` the pong written after the frame being written,
        replacing any earlier one still owed (RFC 6455 §5.5.3 allows
        answering only the latest ping): a ping flood cannot grow the queue."""
        previous = self.pong
        self.pong = frame
        self.size += len(frame) - (0 if previous is None else len(previous))

    def _send_pieces(self, pieces: list) -> Pieces | None:
        """``sendmsg`` the pieces without joining them; None once all are
        sent, else the rest (to be queued)."""
        sendmsg = self.raw.sendmsg
        rest = Pieces(pieces)
        while len(rest):
            batch = rest.batch()
            try:
                sent = sendmsg(batch)
            except (BlockingIOError, InterruptedError):
                return rest
            rest.done += sent
            if sent < sum(map(len, batch)):
                return rest                 # the socket is full
        return None

    # -- the slow-consumer policy ----------------------------------------------
    def make_room(self, size: int, callback: Callback | None) -> int:
        """The queue is at ``output_buffer_limit`` (a slow consumer): apply
        the policy.  SENT if ``size`` more bytes may be queued now, else
        REFUSED, or CLOSE under the "close" policy."""
        policy = self.policy
        limit = self.limit
        if self.metrics is not None:
            self.metrics.on_slow_consumer(policy)
        if policy == "wait" and getcurrent() is not gevent.get_hub():
            while self.queue and self.size + size > limit and not self.closed:
                if self.room is None:
                    self.room = Event()
                self.room.clear()
                self.room.wait()
            if not self.closed:
                return SENT
            if callback is not None:
                call_back(callback, ConnectionClosedError("the socket is closed"))
            return REFUSED
        if policy == "drop_oldest":
            queue = self.queue
            while len(queue) > 1 and self.size + size > limit:
                dropped = queue[1]          # queue[0] may be half written: keep it
                del queue[1]
                self.size -= len(dropped)
                self._fail_callback_of(dropped)
            return SENT
        if callback is not None:
            call_back(callback, WebSocketError(
                f"output buffer limit of {limit} bytes reached (slow consumer)"))
        return CLOSE if policy == "close" else REFUSED

    def _fail_callback_of(self, data: Any) -> None:
        callbacks = self.callbacks
        if callbacks:
            for index, (queued, callback) in enumerate(callbacks):
                if queued is data:
                    del callbacks[index]
                    call_back(callback, WebSocketError("message dropped: slow consumer"))
                    return

    # -- the flusher -------------------------------------------------------------
    def flush(self) -> OSError | None:
        """Write the queue with the socket's waiting ``sendall`` until it is
        empty (run by the flusher greenlet); the socket's error, or None."""
        queue = self.queue
        try:
            while queue:
                data = queue[0]
                size = len(data)
                if type(data) is Pieces:
                    self._send_all_pieces(data)
                else:
                    self.socket.sendall(data)
                queue.popleft()
                self.size -= size
                if self.pong is not None:
                    # The latest pong owed (see owe_pong) goes next, between
                    # two frames; it is already counted in size.
                    queue.appendleft(self.pong)
                    self.pong = None
                if self.room is not None:
                    self.room.set()
                callbacks = self.callbacks
                if callbacks and callbacks[0][0] is data:
                    call_back(callbacks.popleft()[1], None)
        except OSError as exc:
            return exc
        if self.flushed is not None:
            self.flushed.set()
        return None

    def _send_all_pieces(self, pieces: Pieces) -> None:
        """Write what is left of ``pieces``, waiting for the socket (gevent's
        ``sendmsg`` waits once when the socket is full, then returns 0)."""
        sendmsg = self.socket.sendmsg
        while len(pieces):
            pieces.done += sendmsg(pieces.batch())

    def wait_flushed(self, timeout: float | None = None) -> bool:
        """Block until the queue is written; False if ``timeout`` passed."""
        if not self.queue or self.closed:
            return True
        if self.flushed is None:
            self.flushed = Event()
        self.flushed.clear()
        return self.flushed.wait(timeout) and not self.queue

    # -- failure and closing -------------------------------------------------------
    def fail(self, error: Exception) -> None:
        """Drop what waits and tell each waiting callback ``error``."""
        callbacks, self.callbacks = self.callbacks, None
        self.pong = None
        if self.queue:
            self.queue.clear()
            self.size = 0
        while callbacks:
            call_back(callbacks.popleft()[1], error)

    def close(self, error: Exception) -> None:
        """The socket is closed: stop the flusher (unless it is the caller)
        and fail the callbacks still waiting with ``error``."""
        self.closed = True
        flusher = self.flusher
        if flusher is not None and flusher is not getcurrent():
            flusher.kill(block=False)
            self.flusher = None
        if self.callbacks:
            self.fail(error)

    def wake(self) -> None:
        """Release whoever waits on the queue (the connection is closed)."""
        for event in (self.flushed, self.room):
            if event is not None:
                event.set()
