"""connect_forever: a client that comes back after the server goes away,
with backoff, and that stops on failures a retry would only repeat."""

from __future__ import annotations

import logging
import random

import gevent
import gevent.event
import pytest

from wsframework import WebSocketHandshakeError, WebSocketServer, connect_forever
from wsframework.exceptions import WebSocketHandshakeError as HandshakeErrorClass
from wsframework.protocol.http11 import HttpResponse
from wsframework.reconnect import RETRY_CLOSE_CODES, backoff_delays, is_retryable_error

from ..conftest import echo_handler

FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}


class RetryLog(logging.Handler):
    """Counts the reconnect module's retry lines and wakes a waiter on each."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[str] = []
        self.event = gevent.event.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())
        self.event.set()


@pytest.fixture
def retry_log():
    handler = RetryLog()
    logger = logging.getLogger("wsframework.reconnect")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


def listen_on(port: int, on_request) -> WebSocketServer:
    server = WebSocketServer.listen(("127.0.0.1", port))
    server.on("request", on_request)
    server.start()
    return server


def test_the_server_goes_away_and_comes_back(make_server, retry_log):
    first = make_server(echo_handler)
    port = first.port
    url = f"ws://127.0.0.1:{port}/"
    echoed = gevent.event.Event()              # the latest connection got its echo
    connections = []
    echoes: list[list[str]] = []

    def client():
        for connection in connect_forever(url, **FAST):
            connections.append(connection)
            echoes.append([])
            connection.send(f"hello {len(connections)}")
            for message in connection:
                echoes[-1].append(message.data)
                echoed.set()

    runner = gevent.spawn(client)
    assert echoed.wait(10)
    echoed.clear()
    first.shut_down(timeout=5)                    # 1001 to the client, then no listener
    first.http_server.stop()
    # The client notices, and retries against nothing at least once.
    with gevent.Timeout(10):
        while not any(line.startswith("connecting to") for line in retry_log.records):
            retry_log.event.clear()
            retry_log.event.wait()
    assert any("closed with 1001" in line for line in retry_log.records), retry_log.records
    second = listen_on(port, echo_handler)
    try:
        assert echoed.wait(10)
        assert len(connections) == 2
        # A normal close from the server ends the iteration: no retry loop.
        for connection in second.connections:
            connection.close(1000)
        runner.get(timeout=10)
    finally:
        second.shut_down(timeout=1)
        second.http_server.stop()
    assert echoes == [["hello 1"], ["hello 2"]]
    assert connections[0].close_reason_code == 1001
    assert connections[1].close_reason_code == 1000


def test_a_403_is_not_retried(make_server):
    requests = []

    def refuse(request):
        requests.append(request)
        request.reject(403, "go away")

    server = make_server(refuse)
    with pytest.raises(WebSocketHandshakeError) as caught:
        for _ in connect_forever(f"{server.url}/", **FAST):
            raise AssertionError("a refused handshake yielded a connection")
    assert caught.value.response.status == 403
    assert len(requests) == 1


def test_a_503_is_retried_until_accepted(make_server, retry_log):
    seen = []

    def busy_twice(request):
        seen.append(request)
        if len(seen) <= 2:
            request.reject(503, "busy")
        else:
            echo_handler(request)

    server = make_server(busy_twice)
    for connection in connect_forever(f"{server.url}/", **FAST):
        connection.send("at last")
        assert connection.receive(timeout=5).data == "at last"
        connection.close()
        break
    assert len(seen) == 3
    assert sum(line.startswith("connecting to") for line in retry_log.records) == 2


def test_max_attempts_raises_the_last_error():
    from ..redis_server import free_port
    url = f"ws://127.0.0.1:{free_port()}/"            # nothing listens
    with pytest.raises(WebSocketHandshakeError, match="Could not connect"):
        for _ in connect_forever(url, max_attempts=3, **FAST):
            raise AssertionError("connected to nothing")


@pytest.mark.parametrize("code, again", [(1012, True), (1011, True), (1013, True),
                                         (1008, False), (1002, False), (1000, False),
                                         (4000, False)])
def test_close_codes_that_retry(make_server, code, again):
    count = []

    def close_with(request):
        count.append(request)
        connection = request.accept(None, request.origin)
        connection.close(code if len(count) == 1 else 1000)

    server = make_server(close_with)
    yielded = [c.close_reason_code for c in connect_forever(f"{server.url}/", **FAST)
               if c.wait_closed(5)]
    assert yielded == ([code, 1000] if again else [code])
    assert len(count) == (2 if again else 1)


def test_arguments_are_checked_before_any_attempt():
    with pytest.raises(ValueError, match="backoff_initial"):
        next(connect_forever("ws://127.0.0.1:1/", backoff_initial=0))
    with pytest.raises(ValueError, match="max_attempts"):
        next(connect_forever("ws://127.0.0.1:1/", max_attempts=0))
    with pytest.raises(TypeError, match="'no_such_key'"):
        next(connect_forever("ws://127.0.0.1:1/", no_such_key=1))


def test_backoff_is_full_jitter_under_a_growing_cap():
    rng = random.Random(7)
    delays = backoff_delays(0.5, 8.0, 2.0, rng)
    caps = [0.5, 1, 2, 4, 8, 8, 8]
    drawn = [next(delays) for _ in caps]
    assert all(0 <= d <= cap for d, cap in zip(drawn, caps))
    assert len(set(drawn)) == len(drawn)                   # random, not fixed steps
    # Over many draws the late delays spread over the whole [0, cap] range.
    late = [next(backoff_delays(8.0, 8.0, 2.0, rng)) for _ in range(500)]
    assert min(late) < 1.0 and max(late) > 7.0


def test_which_errors_retry():
    def failed(status):
        from wsframework.protocol.http11 import Headers
        return HandshakeErrorClass("x", HttpResponse(status, "", "HTTP/1.1", Headers()))
    assert is_retryable_error(failed(502)) and is_retryable_error(failed(503))
    assert not is_retryable_error(failed(403)) and not is_retryable_error(failed(401))
    assert not is_retryable_error(failed(101))                # a handshake answered wrongly
    assert is_retryable_error(ConnectionRefusedError())
    assert is_retryable_error(HandshakeErrorClass("Could not connect: reset"))
    assert RETRY_CLOSE_CODES == {1001, 1006, 1011, 1012, 1013, 1014}


def test_short_lived_connections_do_not_reset_the_backoff(make_server, retry_log,
                                                          monkeypatch):
    # A server that accepts and closes at once with 1013 "try again later":
    # each reconnection waits longer (the ceiling keeps growing), instead of
    # starting over because the previous connection had opened.
    import wsframework.reconnect as reconnect
    monkeypatch.setattr(reconnect.random, "uniform", lambda low, high: high)   # the ceiling
    count = []

    def busy(request):
        count.append(request)
        connection = request.accept(None, request.origin)
        connection.close(1013 if len(count) <= 5 else 1000)

    server = make_server(busy)
    codes = [c.close_reason_code for c in connect_forever(
        f"{server.url}/", backoff_initial=0.01, backoff_max=0.08, backoff_reset_after=60)
        if c.wait_closed(5)]
    assert codes == [1013] * 5 + [1000]
    delays = [float(line.rsplit(" in ", 1)[1].split()[0]) for line in retry_log.records
              if line.startswith("connection to")]
    assert delays == [0.01, 0.02, 0.04, 0.08, 0.08]
