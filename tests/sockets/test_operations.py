"""Running in production: Prometheus metrics of a server, readiness,
draining spread over a period, connection lifetimes, JSON log lines."""

from __future__ import annotations

import json
import logging
import socket
import time

import gevent
import gevent.event
import pytest
from prometheus_client import CollectorRegistry

from wsframework import WebSocketHandshakeError, WebSocketServer, connect
from wsframework.apps.logformat import JsonFormatter

from ..conftest import echo_handler


def close_counter(server, wanted: int) -> gevent.event.Event:
    """An event set once ``server`` has seen ``wanted`` connections close."""
    done = gevent.event.Event()
    seen = [0]

    def on_close(*_):
        seen[0] += 1
        if seen[0] >= wanted:
            done.set()

    server.on("close", on_close)
    return done


def server_side(server, client):
    """The server's connection that ``client`` talks to."""
    port = client.socket.getsockname()[1]
    return next(c for c in server.connections if c.socket.getpeername()[1] == port)


def test_metrics_count_handshakes_connections_and_closes(make_server):
    registry = CollectorRegistry()

    def handler(request):
        if request.resource == "/forbidden":
            request.reject(403, "no")
        else:
            echo_handler(request)

    server = make_server(handler, metrics=registry)
    value = registry.get_sample_value
    clients = [connect(f"{server.url}/") for _ in range(3)]
    for client in clients:
        client.send("x")
        assert client.receive(timeout=5).data == "x"
    assert value("wsframework_connections") == 3
    assert value("wsframework_handshakes_total", {"outcome": "accepted", "status": "101"}) == 3
    with pytest.raises(WebSocketHandshakeError):
        connect(f"{server.url}/forbidden")
    assert value("wsframework_handshakes_total", {"outcome": "rejected", "status": "403"}) == 1
    # A client that goes away before sending its head: a failed handshake.
    closed = close_counter(server, 3)
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"GET / HTTP/1.1\r\n")
    raw.close()
    # One closed by the client, one by the server, one dropped (no close frame).
    clients[0].close(1000)
    server_side(server, clients[1]).close(4001, "server says bye")
    clients[2].socket.close()
    assert closed.wait(10)
    assert value("wsframework_connections") == 0
    with gevent.Timeout(5):
        while value("wsframework_handshakes_total", {"outcome": "failed", "status": ""}) != 1:
            gevent.sleep(0.01)
    sides = {(s.labels["code"], s.labels["side"]): s.value
             for metric in registry.collect() if metric.name == "wsframework_closes"
             for s in metric.samples if s.name == "wsframework_closes_total"}
    assert sides[("1000", "remote")] == 1
    assert sum(v for (code, side), v in sides.items() if side == "local") == 1
    assert sides[("1006", "none")] == 1


def test_broadcast_is_timed_and_send_queues_sampled(make_server):
    registry = CollectorRegistry()
    server = make_server(echo_handler, metrics=registry)
    clients = [connect(f"{server.url}/") for _ in range(4)]
    server.broadcast("to everyone")
    for client in clients:
        assert client.receive(timeout=5).data == "to everyone"
    assert registry.get_sample_value("wsframework_broadcast_duration_seconds_count") == 1
    server._metrics.sample()
    assert registry.get_sample_value("wsframework_send_queue_bytes") == 0
    for client in clients:
        client.close()


def test_drain_spreads_closes_over_the_period_and_loses_nothing(make_server):
    server = make_server(echo_handler)
    count, period = 500, 5.0
    clients = [connect(f"{server.url}/") for _ in range(count)]
    assert len(server.connections) == count
    closed_at: list[float] = []
    last_words: list[str] = []
    all_closed = gevent.event.Event()

    def watch(client):
        for message in client:
            last_words.append(message.data)
        closed_at.append(time.monotonic())
        if len(closed_at) == count:
            all_closed.set()

    watchers = [gevent.spawn(watch, client) for client in clients]
    # Messages queued just before the drain go out before each close.
    for connection in server.connections:
        connection.send("last words")
    assert server.ready
    drainer = gevent.spawn(server.drain, period)
    gevent.sleep(0)
    assert not server.ready and server.not_ready_reason() == "draining"
    with pytest.raises(WebSocketHandshakeError) as refused:
        connect(f"{server.url}/")
    assert refused.value.response.status == 503
    started = time.monotonic()
    assert all_closed.wait(60)
    drainer.get(timeout=30)
    gevent.joinall(watchers, timeout=10)
    assert last_words == ["last words"] * count
    assert {client.close_reason_code for client in clients} == {1001}
    # Spread, not one burst: the closes cover most of the period, and no
    # tenth of it holds more than a small share of them.
    closed_at.sort()
    assert closed_at[-1] - closed_at[0] >= 0.6 * period
    window = period / 10
    busiest = max(sum(1 for t in closed_at if start <= t < start + window)
                  for start in closed_at)
    assert busiest <= 0.3 * count, busiest
    assert closed_at[0] - started < 0.5 * period


def test_a_drain_may_say_service_restart(make_server):
    """1012 "service restart" instead of 1001, with its own words (both
    are codes connect_forever retries on: test_reconnect.py)."""
    server = make_server(echo_handler)
    clients = [connect(f"{server.url}/") for _ in range(3)]
    server.drain(0.1, reason_code=1012, description="Restarting")
    for client in clients:
        assert client.wait_closed(10) and client.was_clean
        assert (client.close_reason_code, client.close_description) == (1012, "Restarting")


def test_readiness_follows_the_share_of_max_connections(make_server):
    server = make_server(echo_handler, max_connections=10, ready_connection_share=0.5)
    clients = [connect(f"{server.url}/") for _ in range(5)]
    assert server.ready
    clients.append(connect(f"{server.url}/"))
    assert not server.ready
    assert server.not_ready_reason() == "6 of 10 connections in use"
    closed = close_counter(server, 1)
    clients.pop().close()
    assert closed.wait(5)
    assert server.ready


def test_connections_end_after_their_lifetime(make_server):
    server = make_server(echo_handler, max_connection_lifetime=0.2,
                         connection_lifetime_jitter=0.5)
    clients = [connect(f"{server.url}/") for _ in range(5)]
    for client in clients:
        assert client.wait_closed(10)
        assert client.close_reason_code == 1001
        assert client.close_description == "Connection lifetime reached"


def test_config_keys_are_checked():
    with pytest.raises(ValueError, match="'ready_connection_share'"):
        WebSocketServer(ready_connection_share=1.5)
    with pytest.raises(TypeError, match="'metrics'"):
        WebSocketServer(metrics="yes")
    with pytest.raises(ValueError, match="'max_connection_lifetime'"):
        WebSocketServer(max_connection_lifetime=0)


def test_json_log_lines():
    formatter = JsonFormatter()
    record = logging.LogRecord("wsframework.server", logging.INFO, __file__, 1,
                               "refused %s", ("/chat",), None)
    record.remote_address = "10.0.0.7"
    record.status = 503
    entry = json.loads(formatter.format(record))
    assert entry["level"] == "INFO" and entry["logger"] == "wsframework.server"
    assert entry["message"] == "refused /chat"
    assert entry["remote_address"] == "10.0.0.7" and entry["status"] == 503
    assert entry["time"].endswith("Z")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and "RuntimeError" in json.loads(line)["exception"]


def test_keepalive_timeout_has_its_own_log_line(make_server, caplog):
    # A client that never answers pings: a raw socket after the handshake.
    from ..helpers import handshake_request
    server = make_server(echo_handler, keepalive_interval=0.05, keepalive_grace_period=0.05)
    closed = close_counter(server, 1)
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(handshake_request())
    with caplog.at_level(logging.INFO, logger="wsframework.connection"):
        assert closed.wait(10)
    lines = [r for r in caplog.records if "keepalive timeout" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].close_code == 1006 and lines[0].remote_address == "127.0.0.1"
    raw.close()


def test_messages_bytes_rtt_and_slow_consumers_are_counted(make_server):
    registry = CollectorRegistry()
    server = make_server(echo_handler, metrics=registry, keepalive_interval=0.05,
                         keepalive_grace_period=5)
    value = registry.get_sample_value
    client = connect(f"{server.url}/", permessage_deflate=False)
    client.send("héllo")                                     # 6 bytes of UTF-8
    assert client.receive(timeout=5).data == "héllo"
    client.send(b"\x00" * 300)
    assert client.receive(timeout=5).data == b"\x00" * 300
    for direction in ("in", "out"):
        assert value("wsframework_messages_total", {"direction": direction, "type": "text"}) == 1
        assert value("wsframework_message_bytes_total",
                     {"direction": direction, "type": "text"}) == 6
        assert value("wsframework_message_bytes_total",
                     {"direction": direction, "type": "binary"}) == 300
    # The server's keepalive pings come back as pongs: round trips observed.
    pongs = gevent.event.Event()
    server.connections[0].on("pong", lambda payload: pongs.set())
    assert pongs.wait(10)
    assert value("wsframework_ping_rtt_seconds_count") >= 1
    assert 0 < value("wsframework_ping_rtt_seconds_sum") < 5
    client.close()


def test_slow_consumer_actions_are_counted(make_server):
    registry = CollectorRegistry()
    closed = gevent.event.Event()

    def flood(request):
        connection = request.accept(None, request.origin)
        connection.on("close", lambda *_: closed.set())
        while connection.connected:
            connection.send(b"x" * 65536)

    server = make_server(flood, metrics=registry, output_buffer_limit=1 << 20)
    from ..helpers import RawClient
    client = RawClient(server.port, rcvbuf=4096)             # never reads
    client.handshake()
    assert closed.wait(20)
    assert registry.get_sample_value("wsframework_slow_consumer_actions_total",
                                     {"policy": "close"}) == 1
    client.close()


def test_close_codes_from_clients_are_a_bounded_label_set(make_server):
    # Any code a peer sends is a label value; beyond the RFC's they fold into
    # a few, so that no client can grow /metrics (and each scrape) at will.
    from ..helpers import RawClient
    registry = CollectorRegistry()
    server = make_server(echo_handler, metrics=registry)
    closed = close_counter(server, 6)
    for code in (1000, 3001, 3999, 4000, 4999, 4321):
        client = RawClient(server.port)
        client.handshake()
        client.send_frame(0x8, code.to_bytes(2, "big"))
        client.read_until_eof()
        client.close()
    assert closed.wait(10)
    labels = {(s.labels["code"], s.labels["side"]): s.value
              for metric in registry.collect() if metric.name == "wsframework_closes"
              for s in metric.samples if s.name == "wsframework_closes_total"}
    assert labels == {("1000", "remote"): 1, ("3xxx", "remote"): 2, ("4xxx", "remote"): 3}


def test_lifetimes_are_jittered(make_server):
    server = make_server(echo_handler, max_connection_lifetime=100,
                         connection_lifetime_jitter=0.5)
    clients = [connect(f"{server.url}/") for _ in range(20)]
    now = server._lifetimes.loop.now()
    left = [c._close_hook.expires - now for c in server.connections]
    assert all(49 <= value <= 100.5 for value in left)
    assert max(left) - min(left) > 5                  # 20 draws over a 50 s range
    even = make_server(echo_handler, max_connection_lifetime=100,
                       connection_lifetime_jitter=0)
    more = [connect(f"{even.url}/") for _ in range(3)]
    assert {round(c._close_hook.expires - now) for c in even.connections} == {100}
    for client in clients + more:
        client.close()


def test_a_host_applying_config_gets_its_metrics():
    # The gunicorn worker applies the deployment's keys over an app's server.
    registry = CollectorRegistry()
    server = WebSocketServer()
    assert server._metrics is None
    server._configure({"metrics": registry})
    assert server._metrics is not None and server._metrics.registry is registry


def test_a_folded_header_cannot_put_a_line_break_in_a_log(make_server, caplog):
    from ..helpers import RawClient, handshake_request
    seen = []
    server = make_server(lambda request: (seen.append(request), echo_handler(request)))
    client = RawClient(server.port)
    head = handshake_request(headers={"X-Forwarded-For": "6.6.6.6"}).replace(
        b"6.6.6.6\r\n", b"6.6.6.6\r\n 2099-01-01 CRITICAL forged\r\n")
    assert client.request(head).status == 101
    assert seen[0].remote_address == "6.6.6.6 2099-01-01 CRITICAL forged"
    with caplog.at_level(logging.INFO, logger="wsframework.connection"):
        client.send_frame(0x1, b"unmasked", mask=False)    # logged: failing connection
        client.read_until_eof()
    lines = [r.getMessage() for r in caplog.records if "failing connection" in r.getMessage()]
    assert lines and all("\n" not in line and "\r" not in line for line in lines)
    client.close()


def test_json_lines_are_ascii():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "line\u2028separator é", (), None)
    line = JsonFormatter().format(record)
    assert line.isascii() and json.loads(line)["message"] == "line\u2028separator é"
