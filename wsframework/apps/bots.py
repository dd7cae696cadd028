"""A swarm of chat bots, each a plain greenlet loop: the load tool of the
chat server (``python -m wsframework bots URL --count N --rate R``).

Every bot joins a room and talks; every message carries its send time, so
each bot that receives it measures the delivery latency.  Progress
(connections up, messages/s, p50/p99 latency) is shown live; a summary is
printed at the end.

Like the page, a bot reconnects with backoff, joins again with ``since``
(the newest id it has seen in its room) and its ``resume`` token, and sends
again what was not acknowledged (each message carries a ``client_id``).
With ``verify`` (``bots --verify``), every bot keeps the ids it has seen
and the ids its messages were acknowledged with, and the summary adds the
completeness of the run: acknowledged messages, delivered, expected
(every acknowledged message, to every bot of its room that was there when
it was sent), missing and duplicated.
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

from ..exceptions import WebSocketError
from ..reconnect import connect_forever

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
    acknowledged: int = 0
    delivered: int = 0
    expected: int = 0
    missing: int = 0
    duplicated: int = 0
    unrecovered: int = 0


class _BotState:
    """What one bot has seen and sent in its room (kept across reconnections)."""

    __slots__ = ("room", "nick", "start", "seen", "duplicates", "acked", "outbox", "resume",
                 "newest", "counter")

    def __init__(self, room: str, nick: str) -> None:
        self.room = room
        self.nick = nick
        self.start: int | None = None       # ids above this one are expected
        self.seen: set[int] = set()
        self.duplicates = 0
        self.acked: set[int] = set()
        self.outbox: dict[str, str] = {}    # client_id → text, not yet acknowledged
        self.resume: str | None = None
        self.newest: int | None = None
        self.counter = 0


class _Welcome(Event):
    """Set by the answer to a join: ``room`` is the welcome's, or None."""

    def __init__(self) -> None:
        super().__init__()
        self.room: str | None = None


class Swarm:
    """``count`` bots against the chat at ``url``, ``rate`` messages per
    second in total, spread over ``rooms`` rooms, for ``duration`` seconds."""

    def __init__(self, url: str, count: int = 10, rate: float = 10.0, duration: float = 10.0,
                 rooms: int = 1, ramp: float = 1.0, verify: bool = False,
                 settle: float = 15.0) -> None:
        self.url = url
        self.count = count
        self.rate = rate
        self.duration = duration
        self.rooms = rooms
        self.ramp = ramp
        self.verify = verify
        self.settle = settle
        self.stats = SwarmStats()
        self._window = SwarmStats()
        self._stop = Event()
        self._quiet = Event()               # stop sending (the run is over)
        self._progress_made = Event()
        self._started = 0.0
        self.bots: list[_BotState] = []

    def run(self, out: TextIO | None = None, interval: float = 1.0) -> SwarmStats:
        """Run the swarm, printing progress to ``out`` every ``interval``."""
        self._started = time.perf_counter()
        self.bots = [_BotState(f"bots-{n % self.rooms}" if self.rooms > 1 else "lobby",
                               f"bot{n}") for n in range(self.count)]
        bots = [gevent.spawn(self._bot, n) for n in range(self.count)]
        deadline = self._started + self.ramp + self.duration
        last = self._started
        while not self._quiet.wait(min(interval, max(0.0, deadline - time.perf_counter()))):
            now = time.perf_counter()
            if out is not None:
                self._progress(out, now - last)
            self._window = SwarmStats()
            last = now
            if now >= deadline:
                break
        self._quiet.set()
        if self.verify and not self._stop.is_set():
            self._wait_settled()
        self._stop.set()
        gevent.joinall(bots, timeout=10)
        gevent.killall([bot for bot in bots if not bot.dead], block=False)
        if out is not None:
            self.summary(out)
        return self.stats

    def finish(self) -> None:
        """End the talking now; the run then settles (with ``verify``) and
        ends as after its ``duration``."""
        self._quiet.set()

    def stop(self) -> None:
        """End the run early: every bot closes its connection (1000)."""
        self._quiet.set()
        self._stop.set()

    def completeness(self) -> SwarmStats:
        """Count acknowledged, delivered, expected, missing and duplicated
        messages into :attr:`stats` (and return it)."""
        acked: dict[str, set[int]] = {}
        for bot in self.bots:
            acked.setdefault(bot.room, set()).update(bot.acked)
        stats = self.stats
        stats.acknowledged = sum(len(ids) for ids in acked.values())
        stats.delivered = stats.expected = stats.missing = stats.duplicated = 0
        for bot in self.bots:
            if bot.start is None:
                continue
            wanted = {i for i in acked.get(bot.room, ()) if i > bot.start}
            stats.delivered += sum(1 for i in bot.seen if i > bot.start)
            stats.expected += len(wanted)
            stats.missing += len(wanted - bot.seen)
            stats.duplicated += bot.duplicates
        return stats

    def _wait_settled(self) -> None:
        """After the run: wait (up to ``settle`` seconds) until every
        acknowledged message reached every bot, or nothing changes."""
        with gevent.Timeout(self.settle, False):
            while self.completeness().missing or any(bot.outbox for bot in self.bots):
                self._progress_made.clear()
                self._progress_made.wait()

    def _bot(self, number: int) -> None:
        gevent.sleep(random.uniform(0, self.ramp))
        room = self.bots[number].room
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
        """One connection's life: join (with ``since`` and ``resume`` after
        the first time), send again what was not acknowledged, then a
        message every ``period`` seconds until the run is over or the
        connection is lost."""
        self.stats.connected += 1
        bot = self.bots[number]
        lost = Event()
        welcomed = _Welcome()
        connection.on("message", lambda message: self._on_message(bot, welcomed, message))
        connection.on("close", lambda *_: (lost.set(), welcomed.set()))
        stop_or_lost = [self._stop, lost]
        quiet_or_lost = [self._quiet, lost]
        try:
            join = {"type": "join", "room": room, "nick": bot.nick}
            if bot.newest is not None:
                join["since"] = bot.newest
            if bot.resume is not None:
                join["resume"] = bot.resume
            connection.send(json.dumps(join))
            welcomed.wait()
            if welcomed.room is None:
                # Refused (a nickname still held by this bot's ghost...):
                # the next connection tries again, after a backoff.
                connection.close()
                return
            for client_id, text in list(bot.outbox.items()):
                connection.send(json.dumps({"type": "message", "text": text,
                                            "client_id": client_id}))
            if period is None or self._quiet.is_set():
                gevent.wait(stop_or_lost, count=1)
                return
            gevent.wait(quiet_or_lost, random.uniform(0, period), count=1)
            while not self._quiet.is_set() and connection.connected:
                bot.counter += 1
                text = f"bot{number} #{bot.counter} t={time.perf_counter():.6f}"
                client_id = f"{bot.nick}-{bot.counter}"
                bot.outbox[client_id] = text
                connection.send(json.dumps({"type": "message", "text": text,
                                            "client_id": client_id}))
                self.stats.sent += 1
                self._window.sent += 1
                gevent.wait(quiet_or_lost, period, count=1)
            gevent.wait(stop_or_lost, count=1)
        except WebSocketError:
            pass                                    # lost while sending: reconnect
        finally:
            if connection.connected and self._stop.is_set():
                connection.close()
            connection.wait_closed(5)
            self.stats.connected -= 1

    def _on_message(self, bot: _BotState, welcomed: "_Welcome", message) -> None:
        try:
            event = json.loads(message.data)
        except (ValueError, TypeError):
            return
        kind = event.get("type")
        if kind == "error":
            self.stats.errors += 1
            welcomed.set()
        elif kind == "welcome":
            welcomed.room = event.get("room")
            bot.resume = event.get("resume", bot.resume)
            if event.get("recovered") is False:
                self.stats.unrecovered += 1
            ids = [m.get("id") for m in event.get("history", ())]
            if bot.start is None:
                bot.start = max((i for i in ids if isinstance(i, int)), default=0)
            for i in ids:
                self._saw(bot, i)
            welcomed.set()
        elif kind == "ack":
            bot.outbox.pop(event.get("client_id"), None)
            if isinstance(event.get("id"), int):
                bot.acked.add(event["id"])
            self._progress_made.set()
        if kind != "message":
            return
        self._saw(bot, event.get("id"))
        text = event.get("text", "")
        at = text.rfind(" t=")
        if at < 0:
            return
        latency = time.perf_counter() - float(text[at + 3:])
        for stats in (self.stats, self._window):
            stats.received += 1
            stats.latency.add(latency)

    def _saw(self, bot: _BotState, message_id: object) -> None:
        if not isinstance(message_id, int):
            return
        if message_id in bot.seen:
            bot.duplicates += 1
        else:
            bot.seen.add(message_id)
            if bot.newest is None or message_id > bot.newest:
                bot.newest = message_id
        self._progress_made.set()

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
        if self.verify:
            self.completeness()
            out.write(f"completeness: acknowledged {stats.acknowledged}, "
                      f"delivered {stats.delivered}, expected {stats.expected}, "
                      f"missing {stats.missing}, duplicated {stats.duplicated}, "
                      f"welcomes not recovered {stats.unrecovered}\n")
        out.flush()


def _ms(seconds: float | None) -> str:
    return "     -" if seconds is None else f"{seconds * 1000:6.1f} ms"


def main(url: str, count: int, rate: float, duration: float, rooms: int,
         verify: bool = False, ramp: float = 1.0) -> int:
    """Run a swarm with progress and summary on stderr (``wsframework bots``):
    the exit status, 1 when connections failed or, with ``verify``,
    messages went missing or came twice."""
    swarm = Swarm(url, count, rate, duration, rooms, ramp=ramp, verify=verify)
    stats = swarm.run(sys.stderr)
    if stats.failed or (verify and (stats.missing or stats.duplicated)):
        return 1
    return 0
