"""Chaos with real processes: ``serve --workers 2 --redis`` (a real
redis-server), a swarm of bots verifying completeness (every acknowledged
message to every bot of its room, exactly once), and under that load:
a worker killed with SIGKILL, redis-server restarted (append-only file),
Redis flushed, a worker started late."""

from __future__ import annotations

import json
import os
import re
import signal

import gevent
import pytest

from wsframework import connect
from wsframework.apps.bots import Swarm

from ..redis_server import RedisServer, free_port
from .test_cli import Serve

SECRET = "chaos-secret"


@pytest.fixture
def redis_aof(tmp_path):
    server = RedisServer(str(tmp_path))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(redis_aof):
    """``serve --workers 2`` on one port, sharing Redis: (serve, port, pids)."""
    port = free_port()
    server = Serve("--port", str(port), "--workers", "2", "--redis", redis_aof.url,
                   "--redis-secret", SECRET, "--log-level", "INFO")
    pids = [int(p) for p in re.findall(
        r"\d+", server.wait_for(r"2 workers on [\d.:]+: \[([\d, ]+)\]")[0].group(1))]
    server.wait_for(r"backplane up", count=2)
    yield server, port, pids
    if server.process.poll() is None:
        server.stop(signal.SIGTERM)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def start_swarm(port: int, duration: float = 60.0) -> tuple[Swarm, gevent.Greenlet]:
    swarm = Swarm(f"ws://127.0.0.1:{port}/ws", count=16, rate=80, duration=duration,
                  rooms=2, ramp=0.3, verify=True, settle=20)
    return swarm, gevent.spawn(swarm.run)


def wait_for_acks(swarm: Swarm, more: int, timeout: float = 20) -> None:
    """Until ``more`` further messages were acknowledged (bots' progress)."""
    target = swarm.completeness().acknowledged + more
    with gevent.Timeout(timeout, AssertionError(f"fewer than {more} more acks")):
        while swarm.completeness().acknowledged < target:
            swarm._progress_made.clear()
            swarm._progress_made.wait()


def finish(swarm: Swarm, runner: gevent.Greenlet):
    """End the talking; wait for the bots to settle; the verified stats."""
    swarm.finish()
    stats = runner.get(timeout=60)
    print(f"completeness: acknowledged {stats.acknowledged}, delivered {stats.delivered}, "
          f"expected {stats.expected}, missing {stats.missing}, "
          f"duplicated {stats.duplicated}, reconnects {stats.reconnects}, "
          f"not recovered {stats.unrecovered}")
    return stats


def join(port: int, nick: str, room: str, since: int | None = None) -> tuple:
    connection = connect(f"ws://127.0.0.1:{port}/ws", ["chat"])
    event = {"type": "join", "room": room, "nick": nick}
    if since is not None:
        event["since"] = since
    connection.send(json.dumps(event))
    while True:
        answer = json.loads(connection.receive(timeout=10).data)
        if answer["type"] in ("welcome", "error"):
            return connection, answer


def test_kill_9_a_worker_under_load(workers):
    _, port, pids = workers
    swarm, runner = start_swarm(port)
    wait_for_acks(swarm, 40)
    os.kill(pids[0], signal.SIGKILL)
    wait_for_acks(swarm, 80)                  # its bots are back, on the other worker
    stats = finish(swarm, runner)
    assert stats.failed == 0 and stats.reconnects > 0
    assert stats.acknowledged >= 120 and stats.expected > stats.acknowledged
    assert (stats.missing, stats.duplicated) == (0, 0)


def test_redis_restarts_under_load(workers, redis_aof):
    _, port, _ = workers
    swarm, runner = start_swarm(port)
    wait_for_acks(swarm, 40)
    redis_aof.stop()                          # SIGTERM: the append-only file is complete
    redis_aof.start()
    wait_for_acks(swarm, 80)
    stats = finish(swarm, runner)
    assert stats.failed == 0 and stats.acknowledged >= 120
    assert (stats.missing, stats.duplicated) == (0, 0)


def test_flushed_redis_under_load(workers, redis_aof):
    import redis
    server, port, _ = workers
    swarm, runner = start_swarm(port)
    wait_for_acks(swarm, 40)
    seen = max(swarm.bots[0].seen)
    client = redis.Redis.from_url(redis_aof.url)
    client.flushall()
    client.close()
    wait_for_acks(swarm, 40)                  # the chat goes on in a new epoch
    late, welcome = join(port, "late", swarm.bots[0].room, since=seen)
    assert welcome["type"] == "welcome" and welcome["recovered"] is False
    late.close()
    stats = finish(swarm, runner)
    assert stats.failed == 0
    assert (stats.missing, stats.duplicated) == (0, 0)
    assert server.process.poll() is None      # nothing crashed


def test_a_worker_started_late_serves_the_full_history(workers, redis_aof):
    _, port, _ = workers
    swarm, runner = start_swarm(port)
    wait_for_acks(swarm, 60)
    stats = finish(swarm, runner)
    assert (stats.missing, stats.duplicated) == (0, 0)
    late = Serve("--port", "0", "--redis", redis_aof.url, "--redis-secret", SECRET)
    try:
        late_port = int(late.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
        for room in sorted({bot.room for bot in swarm.bots}):
            acked = sorted(set().union(*(bot.acked for bot in swarm.bots if bot.room == room)))
            connection, welcome = join(late_port, "newcomer", room)
            assert [m["id"] for m in welcome["history"]] == acked[-50:]
            assert {m["nick"] for m in welcome["history"]} <= \
                {bot.nick for bot in swarm.bots if bot.room == room}
            connection.close()
    finally:
        late.stop(signal.SIGTERM)
