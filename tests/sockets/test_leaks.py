"""Leaks: 1,000 connections opened and closed every way a connection can
end — clean closes from either side, abrupt ones (FIN without a close
frame, RST), and handshakes that fail (garbage, a bad key, a handler's
rejection, a client that hangs up mid-handshake or while its request is
pending) — leave nothing behind: no file descriptor, no live greenlet, no
connection or request object, nothing in ``server.connections`` or
``server.pending_requests``.

The same endings, one at a time with room for a single connection, must
each give that place back (``max_connections``, ``max_connections_per_ip``).

The server side is waited for through events, never by sleeping: the
server's ``close`` events (one per accepted connection), ``upgrade_error``
and ``request_rejected`` events, and an event set once ``handle_upgrade``
has returned for as many TCP connections as the cases opened (the
server's greenlet for a connection closes its socket and ends right after,
without yielding).  A request nobody ever answers after its client hung up
must end too, well before ``request_timeout`` (30 s): the wait would time
out otherwise.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import socket
import struct
import weakref

import pytest
from gevent.event import AsyncResult, Event
from gevent.pool import Pool
from greenlet import greenlet

from wsframework import WebSocketConnection, WebSocketRequest, WebSocketServer, connect

from ..helpers import RawClient, handshake_request

TOTAL = 1000
CONCURRENCY = 50


def open_fds() -> dict[str, str]:
    """This process's file descriptors and what they point to."""
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:          # the fd of the listdir itself, closed meanwhile
            pass
    return fds


def live_greenlets() -> list[greenlet]:
    # type(), not isinstance(): a lazy proxy (Django's settings, once
    # imported) raises when asked for its __class__.
    return [obj for obj in gc.get_objects() if issubclass(type(obj), greenlet) and not obj.dead]


def instances(cls: type) -> int:
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), cls))


class CountingServer(WebSocketServer):
    """A WebSocketServer that counts the TCP connections it is done with:
    ``handle_upgrade`` returned (the server's greenlet for it ends and
    closes its socket right after, without yielding)."""

    def __init__(self, **config) -> None:
        super().__init__(**config)
        self.handled = 0
        self.expected_handled = 0
        self.all_handled = Event()

    def handle_upgrade(self, sock, address) -> None:
        try:
            super().handle_upgrade(sock, address)
        finally:
            self.handled += 1
            if self.handled >= self.expected_handled:
                self.all_handled.set()


class LeakServer:
    """A CountingServer from ``listen()`` (its own spawn and greenlets
    untouched) with ``config``, and counters fed by its events."""

    def __init__(self, **config) -> None:
        self.server = CountingServer.listen(("127.0.0.1", 0), **config)
        self.server.on("request", self.on_request)
        self.server.on("close", self.on_close)
        self.server.on("upgrade_error", self.on_upgrade_error)
        self.server.start()
        self.port = self.server.port
        self.url = f"ws://127.0.0.1:{self.port}"
        self.close_codes: dict[int, int] = {}
        self.upgrade_errors = 0
        self.rejected = 0
        self.deferred: dict[str, AsyncResult] = {}
        self.expected_closes = 0
        self.all_closed = Event()

    # -- the handlers --------------------------------------------------------
    def on_request(self, request: WebSocketRequest) -> None:
        path = request.resource
        if path == "/reject":
            request.once("request_rejected", self.on_rejected)
            request.reject(403, "Go away.")
        elif path == "/deferred":
            # Left pending; the test answers it after the client has hung up.
            self.deferred[request.http_request.headers["X-Case"]].set(request)
        elif path == "/server-close":
            connection = request.accept(None, request.origin)
            message = connection.receive()
            connection.send(message.data)
            connection.close(1001, "Server closing.")
        else:                                          # "/echo"
            connection = request.accept(None, request.origin)
            for message in connection:
                connection.send(message.data)

    def on_rejected(self, request: WebSocketRequest) -> None:
        self.rejected += 1

    def on_upgrade_error(self, exc: Exception) -> None:
        self.upgrade_errors += 1

    def on_close(self, connection: WebSocketConnection, code: int, description: str) -> None:
        self.close_codes[code] = self.close_codes.get(code, 0) + 1
        if sum(self.close_codes.values()) >= self.expected_closes:
            self.all_closed.set()

    def expect(self, connections: int, closes: int) -> None:
        """Count from zero: ``connections`` TCP connections, of which
        ``closes`` are accepted (one ``close`` event each)."""
        self.close_codes.clear()
        self.expected_closes = closes
        if closes:
            self.all_closed.clear()
        else:
            self.all_closed.set()
        self.server.handled = 0
        self.server.expected_handled = connections
        self.server.all_handled.clear()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Every expected close event fired and the server is done with
        every TCP connection the cases opened."""
        assert self.all_closed.wait(timeout), (
            f"server close events: {self.close_codes}, expected {self.expected_closes}")
        assert self.server.all_handled.wait(timeout), (
            f"the server finished {self.server.handled} TCP connections of "
            f"{self.server.expected_handled}")

    def stop(self) -> None:
        self.server.http_server.stop(timeout=1)


# ------------------------------------------------------------------- the cases
# Each case runs one connection to its end on the client side and returns
# whether the server accepts it (and so emits one ``close`` for it).

def client_closes(server: LeakServer, case: int) -> None:
    connection = connect(f"{server.url}/echo")
    connection.send("hello")
    assert connection.receive(timeout=10).data == "hello"
    connection.close()
    assert connection.wait_closed(10)
    assert connection.was_clean and connection.close_reason_code == 1000


def server_closes(server: LeakServer, case: int) -> None:
    connection = connect(f"{server.url}/server-close")
    connection.send("hello")
    assert connection.receive(timeout=10).data == "hello"
    assert connection.receive(timeout=10) is None      # the server's close
    assert connection.was_clean and connection.close_reason_code == 1001


def client_vanishes(server: LeakServer, case: int) -> None:
    """The client's socket closes (FIN) without a close frame."""
    client = RawClient(server.port)
    client.handshake("/echo")
    client.close()


def client_resets(server: LeakServer, case: int) -> None:
    """The client's socket is reset (SO_LINGER 0: RST, no close frame)."""
    client = RawClient(server.port)
    client.handshake("/echo")
    client.send_frame(0x1, b"unanswered")              # the echo is never read
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def garbage_request(server: LeakServer, case: int) -> None:
    client = RawClient(server.port)
    assert client.request(b"NONSENSE\r\n\r\n").status == 400
    client.read_until_eof()
    client.close()


def bad_key(server: LeakServer, case: int) -> None:
    client = RawClient(server.port)
    assert client.request(handshake_request("/echo", key="short")).status == 400
    client.read_until_eof()
    client.close()


def rejected_by_handler(server: LeakServer, case: int) -> None:
    client = RawClient(server.port)
    assert client.request(handshake_request("/reject")).status == 403
    client.read_until_eof()
    client.close()


def hangs_up_mid_handshake(server: LeakServer, case: int) -> None:
    """Half a request head, then FIN (even cases) or RST (odd ones)."""
    client = RawClient(server.port)
    client.send_raw(handshake_request("/echo")[:40])
    if case % 2:
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def pending_answer(case: int) -> str | None:
    """How the handler answers the request of hangs_up_while_pending
    ``case``: accept, reject, or never (the server must notice the hang-up)."""
    return ("accept", "reject", None)[(case // len(CASES)) % 3]


def hangs_up_while_pending(server: LeakServer, case: int) -> None:
    """A whole request, then the client hangs up while the handler has not
    answered; the handler answers afterwards (accept or reject) or never."""
    key = str(case)
    answered = server.deferred[key] = AsyncResult()
    client = RawClient(server.port)
    client.send_raw(handshake_request("/deferred", {"X-Case": key}))
    request = answered.get(timeout=10)
    del server.deferred[key]
    client.close()
    answer = pending_answer(case)
    if answer == "accept":
        request.accept()                  # a connection that closes with 1006
    elif answer == "reject":
        request.once("request_rejected", server.on_rejected)
        request.reject(503)


CASES = [client_closes, server_closes, client_vanishes, client_resets, garbage_request,
         bad_key, rejected_by_handler, hangs_up_mid_handshake, hangs_up_while_pending]
ACCEPTED = {client_closes, server_closes, client_vanishes, client_resets}


def run_cases(server: LeakServer, count: int) -> dict[str, int]:
    """``count`` connections, the cases in turn, CONCURRENCY at a time;
    returns how many of each ran.  Waits until the server is idle."""
    plan = list(itertools.islice(itertools.cycle(CASES), count))
    answers = [pending_answer(number) for number, case in enumerate(plan)
               if case is hangs_up_while_pending]
    # Every case opens one TCP connection.
    server.expect(count, sum(1 for case in plan if case in ACCEPTED) + answers.count("accept"))
    pool = Pool(CONCURRENCY)
    greenlets = [pool.spawn(case, server, number) for number, case in enumerate(plan)]
    pool.join()
    failed = [g.exception for g in greenlets if g.exception is not None]
    assert not failed, f"{len(failed)} client cases failed, first: {failed[0]!r}"
    server.wait_idle()
    ran = {case.__name__: plan.count(case) for case in CASES}
    ran.update((f"pending_{answer}", answers.count(answer)) for answer in ("accept", "reject"))
    return ran


@pytest.fixture
def quiet_library():
    """No INFO records from the library: a captured record holds its
    arguments (the connection or request), which would look like a leak."""
    logger = logging.getLogger("wsframework")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


def test_thousand_connections_leave_nothing_behind(quiet_library):
    server = LeakServer()
    try:
        # Warm up: whatever gevent creates once (resolver threads, watchers)
        # is created here, at the same concurrency, not counted as a leak.
        run_cases(server, 2 * CONCURRENCY)
        gc.collect()
        fds_before = open_fds()
        greenlets_before = live_greenlets()    # kept alive: their ids stay theirs
        connections_before = instances(WebSocketConnection)
        requests_before = instances(WebSocketRequest)
        upgrade_errors_before, rejected_before = server.upgrade_errors, server.rejected

        ran = run_cases(server, TOTAL)

        # Every accepted connection closed as it should: 1000 for the
        # client's close, 1001 for the server's, 1006 for the rest.
        assert server.close_codes == {
            1000: ran["client_closes"],
            1001: ran["server_closes"],
            1006: ran["client_vanishes"] + ran["client_resets"] + ran["pending_accept"],
        }
        assert server.upgrade_errors - upgrade_errors_before == \
            ran["garbage_request"] + ran["bad_key"]
        assert server.rejected - rejected_before == \
            ran["rejected_by_handler"] + ran["pending_reject"]

        assert server.server.connections == []
        assert server.server.pending_requests == []
        gc.collect()
        fds_after = open_fds()
        leaked_fds = {fd: target for fd, target in fds_after.items()
                      if fds_before.get(fd) != target}
        assert not leaked_fds, f"{len(leaked_fds)} file descriptors left open: {leaked_fds}"
        known = {id(g) for g in greenlets_before}
        leaked_greenlets = [g for g in live_greenlets() if id(g) not in known]
        assert not leaked_greenlets, \
            f"{len(leaked_greenlets)} greenlets still alive: {leaked_greenlets[:5]}"
        assert instances(WebSocketConnection) <= connections_before
        assert instances(WebSocketRequest) <= requests_before
    finally:
        server.stop()


def test_closed_connections_are_freed_without_the_cyclic_gc(quiet_library):
    """With the cyclic GC off, the connection objects of closed
    connections (both sides; closed by either, or reset; compressed or not)
    are freed as soon as nothing refers to them: a connection holds no
    reference cycle, so closing one does not leave its buffers and parser
    waiting for the GC's next full pass."""
    server = CountingServer.listen(("127.0.0.1", 0), permessage_deflate=True)
    server_sides: list[weakref.ref] = []

    def on_request(request: WebSocketRequest) -> None:
        connection = request.accept(None, request.origin)
        server_sides.append(weakref.ref(connection))
        if request.resource == "/server-close":
            connection.send(connection.receive().data)
            connection.close(1001, "Server closing.")
        else:
            for message in connection:
                connection.send(message.data)

    server.on("request", on_request)
    server.start()
    url = f"ws://127.0.0.1:{server.port}"
    client_sides: list[weakref.ref] = []
    gc.collect()
    gc.disable()
    try:
        server.expected_handled = 4

        def round_trip(path: str, **config) -> WebSocketConnection:
            client = connect(url + path, **config)
            client_sides.append(weakref.ref(client))
            client.send("hello " * 20)
            assert client.receive(timeout=5).data == "hello " * 20
            return client

        client = round_trip("/echo")                          # the client closes
        client.close()
        assert client.wait_closed(5)
        client = round_trip("/echo", permessage_deflate=True)  # compressed
        assert client.extensions
        client.close()
        assert client.wait_closed(5)
        client = round_trip("/server-close")                  # the server closes
        assert client.receive(timeout=5) is None
        assert client.wait_closed(5)
        raw = RawClient(server.port)                          # a reset, no close frame
        raw.handshake("/echo")
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.sock.close()
        del client, raw
        assert server.all_handled.wait(10), server.handled
        assert len(server_sides) == 4 and len(client_sides) == 3
        alive = [ref() for ref in server_sides + client_sides if ref() is not None]
        assert not alive, alive
    finally:
        gc.enable()
        server.stop()


def run_alone(server: LeakServer, case, number: int) -> None:
    """Case ``number`` (a ``case`` of CASES) on its own, to its end on both sides."""
    accepted = case in ACCEPTED or (case is hangs_up_while_pending
                                    and pending_answer(number) == "accept")
    server.expect(1, 1 if accepted else 0)
    case(server, number)
    server.wait_idle()


@pytest.mark.parametrize("limit", ["max_connections_per_ip", "max_connections"])
def test_every_ending_gives_its_place_back(limit):
    """With room for a single connection (from one address, or at all),
    every way a connection or handshake can end, three times each (a
    request pending when its client hangs up is then accepted, rejected,
    never answered), is followed by a connection that needs that one
    place: an ending that kept its place would lock the address out."""
    server = LeakServer(**{limit: 1})
    try:
        for round_number in range(3):
            for index, case in enumerate(CASES):
                number = round_number * len(CASES) + index
                run_alone(server, case, number)
                run_alone(server, client_closes, number)     # needs the place
        # Three rounds also mean each case ran after every other kind.
        assert server.server.connections == [] and server.server.pending_requests == []
    finally:
        server.stop()
