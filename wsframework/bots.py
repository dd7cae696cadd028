"""A swarm of chat bots, each a plain greenlet loop: the load tool of the
chat server (``python -m wsframework bots URL --count N --rate R``).

Every bot joins a room and talks; every message carries its send time, so
each bot that receives it measures the delivery latency.  Progress
(connections up, messages/s, p50/p99 latency) is shown live; a summary is
printed at the end.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import gevent
from gevent.event import Event

from .exceptions import WebSocketError
from .reconnect import connect_forever

__all__ = ["Histogram", "Swarm", "SwarmStats"]


class Histogram:
    """Latencies in logarithmic buckets (5% wide): constant memory,
    percentiles within 5%."""

    _BASE = math.log(1.05)

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def add(self, seconds: float) -> None:
        bucket = int(math.log(max(seconds, 1e-6) * 1e6) / self._BASE)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1

    def percentile(self, fraction: float) -> float | None:
        """Seconds below which ``fraction`` of the samples fall (None if empty)."""
        if not self.total:
            return None
        rank = fraction * self.total
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return math.exp((bucket + 1) * self._BASE) / 1e6
        return None

    def merge(self, other: "Histogram") -> None:
        for bucket, count in other.counts.items():
            self.counts[bucket] = self.counts.get(bucket, 0) + count
        self.total += other.total


@dataclass
class SwarmStats:
    """What the swarm did: counts and delivery latencies."""

    connected: int = 0
    failed: int = 0
    reconnects: int = 0
    sent: int = 0
    received: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)


class Swarm:
    """``count`` bots against the chat at ``url``, ``rate`` messages per
    second in total, spread over ``rooms`` rooms, for ``duration`` seconds."""

    def __init__(self, url: str, count: int = 10, rate: float = 10.0, duration: float = 10.0,
                 rooms: int = 1, ramp: float = 1.0) -> None:
        self.url = url
        self.count = count
        self.rate = rate
        self.duration = duration
        self.rooms = rooms
        self.ramp = ramp
        self.stats = SwarmStats()
        self._window = SwarmStats()
        self._stop = Event()
        self._started = 0.0

    def run(self, out: TextIO | None = None, interval: float = 1.0) -> SwarmStats:
        """Run the swarm, printing progress to ``out`` every ``interval``."""
        self._started = time.perf_counter()
        bots = [gevent.spawn(self._bot, n) for n in range(self.count)]
        deadline = self._started + self.ramp + self.duration
        last = self._started
        while not self._stop.wait(min(interval, max(0.0, deadline - time.perf_counter()))):
            now = time.perf_counter()
            if out is not None:
                self._progress(out, now - last)
            self._window = SwarmStats()
            last = now
            if now >= deadline:
                break
        self._stop.set()
        gevent.joinall(bots, timeout=10)
        gevent.killall([bot for bot in bots if not bot.dead], block=False)
        if out is not None:
            self.summary(out)
        return self.stats

    def stop(self) -> None:
        """End the run early: every bot closes its connection (1000)."""
        self._stop.set()

    def _bot(self, number: int) -> None:
        gevent.sleep(random.uniform(0, self.ramp))
        room = f"bots-{number % self.rooms}" if self.rooms > 1 else "lobby"
        period = self.count / self.rate if self.rate > 0 else None
        attempts = 0
        try:
            # A bot stays connected as a page would: when the server goes away
            # (a deploy, a restart) it comes back with jittered backoff.
            for connection in connect_forever(self.url, ["chat"], backoff_initial=0.5,
                                              backoff_max=10.0):
                attempts += 1
                if attempts > 1:
                    self.stats.reconnects += 1
                self._talk(connection, number, room, period)
                if self._stop.is_set():
                    break
        except (WebSocketError, OSError):
            self.stats.failed += 1

    def _talk(self, connection, number: int, room: str, period: float | None) -> None:
        """One connection's life: join, then a message every ``period``
        seconds until the swarm stops or the connection is lost."""
        self.stats.connected += 1
        lost = Event()
        connection.on("message", self._on_message)
        connection.on("close", lambda *_: lost.set())
        stop_or_lost = [self._stop, lost]
        try:
            connection.send(json.dumps({"type": "join", "room": room, "nick": f"bot{number}"}))
            if period is None:
                gevent.wait(stop_or_lost, count=1)
                return
            gevent.wait(stop_or_lost, random.uniform(0, period), count=1)
            sequence = 0
            while not self._stop.is_set() and connection.connected:
                sequence += 1
                text = f"bot{number} #{sequence} t={time.perf_counter():.6f}"
                connection.send(json.dumps({"type": "message", "text": text}))
                self.stats.sent += 1
                self._window.sent += 1
                gevent.wait(stop_or_lost, period, count=1)
        except WebSocketError:
            pass                                    # lost while sending: reconnect
        finally:
            if connection.connected and self._stop.is_set():
                connection.close()
            connection.wait_closed(5)
            self.stats.connected -= 1

    def _on_message(self, message) -> None:
        try:
            event = json.loads(message.data)
        except (ValueError, TypeError):
            return
        kind = event.get("type")
        if kind == "error":
            self.stats.errors += 1
        if kind != "message":
            return
        text = event.get("text", "")
        at = text.rfind(" t=")
        if at < 0:
            return
        latency = time.perf_counter() - float(text[at + 3:])
        for stats in (self.stats, self._window):
            stats.received += 1
            stats.latency.add(latency)

    def _progress(self, out: TextIO, elapsed: float) -> None:
        window = self._window
        p50, p99 = window.latency.percentile(0.5), window.latency.percentile(0.99)
        line = (f"up {self.stats.connected}/{self.count}  "
                f"sent {window.sent / max(elapsed, 1e-9):8.1f}/s  "
                f"recv {window.received / max(elapsed, 1e-9):9.1f}/s  "
                f"p50 {_ms(p50)}  p99 {_ms(p99)}")
        if out.isatty():
            out.write("\r" + line)
        else:
            out.write(line + "\n")
        out.flush()

    def summary(self, out: TextIO) -> None:
        stats = self.stats
        elapsed = time.perf_counter() - self._started
        if out.isatty():
            out.write("\n")
        out.write(
            f"{self.count} bots, {self.rooms} room(s), {elapsed:.1f} s: "
            f"sent {stats.sent}, delivered {stats.received} "
            f"({stats.received / max(elapsed, 1e-9):.0f}/s), failed connections {stats.failed}, "
            f"reconnects {stats.reconnects}, "
            f"errors {stats.errors}; delivery latency p50 {_ms(stats.latency.percentile(0.5))}, "
            f"p99 {_ms(stats.latency.percentile(0.99))}, "
            f"max {_ms(stats.latency.percentile(1.0))}\n")
        out.flush()


def _ms(seconds: float | None) -> str:
    return "     -" if seconds is None else f"{seconds * 1000:6.1f} ms"


def main(url: str, count: int, rate: float, duration: float, rooms: int) -> int:
    swarm = Swarm(url, count, rate, duration, rooms)
    stats = swarm.run(sys.stderr)
    return 0 if stats.failed == 0 else 1
