"""``TimerWheel``: one event-loop timer for many rarely-firing deadlines.

Keepalive needs a deadline per connection, pushed back each time data
arrives.  A libev timer and its callback per connection cost ~220 bytes
each, which matters at 10,000 idle connections; the wheel keeps items in
buckets of ``granularity`` seconds instead and runs one timer for the
earliest bucket.  Deadlines are rounded up to a bucket boundary, so an item
fires at most ``granularity`` late, never early.
"""

from __future__ import annotations

import heapq
import logging
import math
from typing import Any, Callable

__all__ = ["TimerWheel", "wheel_for"]

logger = logging.getLogger("wsframework")

#: Bucket width (seconds): how late a keepalive ping may be.
GRANULARITY = 1 / 64


class TimerWheel:
    """Items scheduled at due times (seconds on ``loop.now()``'s clock);
    ``callback(item)`` runs in the event loop once an item's time has come.

    The caller remembers each item's due time and passes it back to
    :meth:`cancel`, so the wheel stores nothing per item beyond its place
    in a bucket.
    """

    __slots__ = ("loop", "callback", "granularity", "_buckets", "_ticks", "_timer",
                 "_timer_tick")

    def __init__(self, loop: Any, callback: Callable[[Any], None],
                 granularity: float = GRANULARITY) -> None:
        self.loop = loop
        self.callback = callback
        self.granularity = granularity
        self._buckets: dict[int, dict[Any, None]] = {}
        self._ticks: list[int] = []          # heap of the buckets' ticks
        self._timer: Any = None
        self._timer_tick: int | None = None  # the tick the timer is set for

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())

    def _tick(self, due: float) -> int:
        return math.ceil(due / self.granularity)

    def schedule(self, item: Any, due: float) -> None:
        """Call back ``item`` at ``due`` (or up to one granularity later)."""
        tick = self._tick(due)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = {}
            heapq.heappush(self._ticks, tick)
        bucket[item] = None
        if self._timer_tick is None or tick < self._timer_tick:
            self._arm(tick)

    def cancel(self, item: Any, due: float) -> None:
        """Forget ``item``, scheduled at ``due``; nothing if it is not there."""
        tick = self._tick(due)
        bucket = self._buckets.get(tick)
        if bucket is not None:
            bucket.pop(item, None)
            if not bucket:
                del self._buckets[tick]       # its tick leaves the heap lazily

    def _arm(self, tick: int) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer.close()
        delay = max(tick * self.granularity - self.loop.now(), 0.0)
        self._timer = self.loop.timer(delay)
        self._timer.start(self._fire)
        self._timer_tick = tick

    def _fire(self) -> None:
        self._timer_tick = None
        # Buckets whose whole width has passed; an item rescheduled by its
        # callback for a later time lands in a later bucket.
        now_tick = math.floor(self.loop.now() / self.granularity)
        ticks = self._ticks
        buckets = self._buckets
        while ticks and ticks[0] <= now_tick:
            bucket = buckets.pop(heapq.heappop(ticks), None)
            if bucket:
                for item in bucket:
                    try:
                        self.callback(item)
                    except Exception:       # one item's failure must not stop the rest
                        logger.exception("timer callback for %r raised", item)
        while ticks and ticks[0] not in buckets:
            heapq.heappop(ticks)             # emptied by cancel()
        if ticks:
            self._arm(ticks[0])
        elif self._timer is not None:
            self._timer.close()
            self._timer = None


_wheels: dict[Any, TimerWheel] = {}


def wheel_for(loop: Any, callback: Callable[[Any], None]) -> TimerWheel:
    """The wheel of ``loop`` for ``callback`` (one per event loop and job)."""
    key = (loop, callback)
    wheel = _wheels.get(key)
    if wheel is None:
        wheel = _wheels[key] = TimerWheel(loop, callback)
    return wheel
