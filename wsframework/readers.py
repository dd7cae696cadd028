"""Who reads a connection when its consumer does not.

* :class:`ReaderChecks`: connections whose consumer stopped reading, looked
  at once per turn of the event loop; those still unread get a background
  reader (pings and close frames must be answered).
* Parking: an idle event-style connection holds no greenlet.  Its socket's
  read watcher calls a :class:`Parked` (an object rather than a greenlet's
  ``switch``, so that gevent's ``cancel_wait`` finds its ``throw``), which
  hands the connection to its :class:`ReaderPool` when data comes.  The
  connections woken in one turn of the event loop are read one after the
  other by one pooled greenlet, in batches of up to :data:`BATCH`: two
  greenlet switches per batch, not per connection.

The connection's read loop itself stays in :mod:`wsframework.connection`;
these objects only decide which greenlet runs it.
"""

from __future__ import annotations

import errno
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import gevent
from gevent import get_hub, getcurrent
from greenlet import greenlet as RawGreenlet

if TYPE_CHECKING:
    from .connection import WebSocketConnection

__all__ = ["ReaderChecks", "checks_for", "Parked", "ReaderPool", "pool_for", "POOL_SIZE"]

logger = logging.getLogger("wsframework.connection")


class ReaderChecks:
    """Connections whose consumer stopped reading, checked together once
    per turn of their event loop (one loop callback for all of them, rather
    than one per received message)."""

    __slots__ = ("loop", "pending")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.pending: list[WebSocketConnection] = []

    def add(self, connection: "WebSocketConnection") -> None:
        pending = self.pending
        if not pending:
            self.loop.run_callback(self._run)
        pending.append(connection)

    def _run(self) -> None:
        pending, self.pending = self.pending, []
        for connection in pending:
            # Usually the consumer is reading again by now: that case is
            # settled here, without a call (this runs once per message).
            if connection._read_owner is None:
                connection._check_reader()
            else:
                connection._check_scheduled = False


# One per event loop (gevent's hubs are per thread).
_reader_checks: dict[Any, ReaderChecks] = {}


def checks_for(loop: Any) -> ReaderChecks:
    checks = _reader_checks.get(loop)
    if checks is None:
        checks = _reader_checks[loop] = ReaderChecks(loop)
    return checks


class Parked:
    """Owner of the read watcher's callback (``wake``) of a parked
    connection (one that waits for data in the event loop, holding no
    greenlet).  An object rather than a greenlet's ``switch``, with the
    ``throw`` that gevent's ``cancel_wait`` calls on a watcher's
    ``callback.__self__`` when the socket is closed under it.  Made once
    per connection, at its first park, and kept until it closes."""

    __slots__ = ("connection", "readers")

    def __init__(self, connection: "WebSocketConnection", readers: "ReaderPool") -> None:
        self.connection = connection
        self.readers = readers

    def wake(self) -> None:
        """Data (or EOF) arrived: read on in a pooled greenlet (runs in the hub)."""
        connection = self.connection
        if connection._parked is None:
            # Not parked (woken already, read elsewhere, closing): the
            # watcher, left armed by the wake-up, is stopped now.
            connection._disarm()
            return
        connection._parked = None
        # The watcher stays armed: parking again right after the read (the
        # usual case) then needs no stop and start (two libev fd changes
        # and a re-check of the fd per message).  Whatever reads or waits
        # otherwise stops it first (WebSocketConnection._disarm).
        # The watcher saw the socket readable: the next receive tries first.
        connection._drained = False
        # Queue it for the pool (once per message of an idle connection).
        readers = self.readers
        ready = readers.ready
        ready.append(connection)
        if not readers.scheduled:
            # The first wake-up of this turn of the loop.
            readers.scheduled = True
            readers.now = readers.loop.now()
            readers.loop.run_callback(readers.run_ready)
        elif len(ready) >= BATCH:
            readers.read_batch()

    def throw(self, error: Any = None, *_args: Any) -> None:
        """The socket was closed elsewhere while parked (runs in the hub):
        the connection fails as a read on a closed socket would."""
        connection = self.connection
        if connection._parked is None:
            return
        connection._parked = None
        if isinstance(error, type):
            error = error()
        if not isinstance(error, OSError):
            error = OSError(errno.EBADF, "the socket was closed")
        self.readers.dispatch(connection, error)


class ReaderPool:
    """A small pool of greenlets that read connections woken from parking.

    Wake-ups are gathered: the connections woken in one turn of the event
    loop wait in ``ready``, and once every watcher of that turn has been
    called (a loop callback) one reader reads them one after the other;
    as soon as :data:`BATCH` wait, they are read at once (between two
    watchers' callbacks), while their wake-up's objects are still cached.  A
    reader whose handler blocks leaves the rest to another, so one slow
    handler never holds up other connections.

    A new greenlet per wake-up would allocate a fresh Python data stack
    each time; these wait for work between turns instead.  At most
    ``size`` wait idle; more are made only while none is idle."""

    __slots__ = ("hub", "loop", "idle", "size", "ready", "scheduled", "now")

    def __init__(self, hub: Any, size: int) -> None:
        self.hub = hub
        self.loop = hub.loop
        self.idle: list[Any] = []
        self.size = size
        #: Connections woken and not yet taken by a reader.
        self.ready: deque[WebSocketConnection] = deque()
        #: Whether run_ready is due on the loop's next callback run.
        self.scheduled = False
        #: The loop's time at the first wake-up of the latest turn that had
        #: any: when the connections in ``ready`` were found readable (the
        #: time of their last receive, for keepalive).  One float for all of
        #: them, not one made and freed per connection and message.
        self.now: float = hub.loop.now()

    def run_ready(self) -> None:
        """Hand the woken connections to readers until none is left (a loop
        callback, in the hub): usually one reader takes them all and comes
        back idle; if its handler blocks, the hub is back here and the
        next reader goes on with the rest."""
        try:
            self.read_batch()
        finally:
            self.scheduled = False
            if self.ready:                      # after a failure: try again
                self.scheduled = True
                self.loop.run_callback(self.run_ready)

    def read_batch(self) -> None:
        """Read the connections woken so far, now (in the hub, between two
        watchers' callbacks of a turn): see :data:`BATCH`."""
        ready = self.ready
        try:
            while ready:
                self._reader().switch(None, None)
        except Exception:                       # never into the hub
            logger.exception("could not resume reading")

    def dispatch(self, connection: "WebSocketConnection", error: OSError | None) -> None:
        """Read ``connection`` (or fail it with ``error``) in an idle reader
        or a new one, now.  Called in the hub; nothing may raise into it."""
        try:
            self._reader().switch(connection, error)
        except Exception:                       # never into the hub
            logger.exception("%r: could not resume reading", connection)

    def _reader(self) -> Any:
        """An idle reader, or a new one."""
        idle = self.idle
        while idle:
            worker = idle.pop()
            if not worker.dead:
                return worker
        return RawGreenlet(self._work, self.hub)

    def _work(self, connection: Any, error: OSError | None) -> None:
        """A reader's life: read what it is given, then the woken
        connections until none is left, then wait in the pool for more."""
        idle = self.idle
        ready = self.ready
        hub = self.hub
        while True:
            try:
                if error is not None:
                    connection._on_socket_error(error, "read")
                elif connection is not None:
                    connection._read_woken()
                connection = error = None
                while ready:
                    connection = ready.popleft()
                    connection._read_woken(self.now)
            except gevent.GreenletExit:
                return
            except BaseException:               # noqa: B036 - never into the hub
                logger.exception("%r: error while reading", connection)
                connection = error = None
                continue                        # on with the others
            connection = None
            if len(idle) >= self.size:
                return
            me = getcurrent()
            idle.append(me)
            while True:
                work = hub.switch()
                if type(work) is tuple and len(work) == 2:
                    connection, error = work
                    break
                # A stray switch (nothing of ours): wait on, still idle.
                if me not in idle:
                    idle.append(me)


#: Idle pooled readers kept per event loop.
POOL_SIZE = 16

#: Connections woken in one turn are read once this many wait, rather than
#: all at the end of the turn: what their wake-up touched (the connection,
#: its watcher and waker) is then still in the CPU's caches.  With thousands
#: woken per turn, the first would otherwise be long evicted when read.
BATCH = 64

_pools: dict[Any, ReaderPool] = {}


def pool_for(loop: Any) -> ReaderPool:
    readers = _pools.get(loop)
    if readers is None:
        readers = _pools[loop] = ReaderPool(get_hub(), POOL_SIZE)
    return readers
