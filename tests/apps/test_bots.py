"""The chat bots (wsframework.apps.bots.Swarm) against a real chat server: they
stay connected across a server restart, as the page does."""

from __future__ import annotations

import gevent
import gevent.event

from wsframework.apps.bots import Swarm
from wsframework.apps.chat import make_server


def counting_connects(server, wanted: int) -> gevent.event.Event:
    """An event set once ``server`` has accepted ``wanted`` WebSocket connections."""
    reached = gevent.event.Event()
    count = [0]

    def on_connect(connection):
        count[0] += 1
        if count[0] >= wanted:
            reached.set()

    server.websockets.on("connect", on_connect)
    return reached


def test_bots_come_back_after_a_restart():
    first = make_server(port=0)
    everyone_on_first = counting_connects(first, 4)
    first.start()
    port = first.port
    swarm = Swarm(f"ws://127.0.0.1:{port}/ws", count=4, rate=40, duration=60, ramp=0.0)
    runner = gevent.spawn(swarm.run)
    second = None
    try:
        assert everyone_on_first.wait(10)
        first.stop(timeout=2)                        # 1001 "going away" to every bot
        second = make_server(port=port)
        everyone_on_second = counting_connects(second, 4)
        second.start()
        assert everyone_on_second.wait(20)
        swarm.stop()
        stats = runner.get(timeout=20)
    finally:
        runner.kill()
        if second is not None:
            second.stop(timeout=2)
    assert stats.failed == 0
    assert stats.reconnects == 4
    assert stats.connected == 0


def test_bots_verify_completeness():
    server = make_server(port=0)
    server.start()
    swarm = Swarm(f"ws://127.0.0.1:{server.port}/ws", count=6, rate=60, duration=1.0,
                  rooms=2, ramp=0.2, verify=True)
    try:
        stats = swarm.run()
    finally:
        server.stop(timeout=2)
    assert stats.failed == 0 and stats.acknowledged > 0
    # Every acknowledged message, to each of the 3 bots of its room, once
    # (a bot that joined after a message does not expect it).
    assert 0 < stats.expected <= 3 * stats.acknowledged
    assert (stats.missing, stats.duplicated) == (0, 0)
    assert stats.delivered >= stats.expected
