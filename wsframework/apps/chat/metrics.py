"""The chat's own Prometheus series, beside the server's (see
:mod:`wsframework.metrics`): rooms and members of this process, whether
its Redis backplane is up, and how long events take to cross it."""

from __future__ import annotations

from typing import Any

import gevent

from ...metrics import _prometheus

__all__ = ["ChatMetrics"]

_LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class ChatMetrics:
    """Samples a chat server's state every ``interval`` seconds into
    gauges (summed over the workers when they share a metrics directory)."""

    _series: dict[int, tuple] = {}

    def __init__(self, chat: Any, registry: Any = None, interval: float = 1.0) -> None:
        prom = _prometheus()
        registry = registry if registry is not None else prom.REGISTRY
        series = self._series.get(id(registry))
        if series is None:
            kw = {"registry": registry}
            series = self._series[id(registry)] = (
                prom.Gauge("wsframework_chat_rooms", "Chat rooms held by the process.",
                           multiprocess_mode="livesum", **kw),
                prom.Gauge("wsframework_chat_members", "Chat members connected to the process.",
                           multiprocess_mode="livesum", **kw),
                prom.Gauge("wsframework_chat_backplane_up",
                           "1 when the Redis backplane is configured and up, 0 when down.",
                           multiprocess_mode="livemin", **kw),
                prom.Histogram("wsframework_chat_backplane_lag_seconds",
                               "Time from a message's time (any worker's) to its delivery here.",
                               buckets=_LAG_BUCKETS, **kw),
            )
        self.rooms, self.members, self.backplane_up, self.lag = series
        self.chat = chat
        self.interval = interval
        self._greenlet = None

    def start(self) -> None:
        server_metrics = self.chat.websockets._metrics
        if server_metrics is not None:
            self.chat.service.broadcast = server_metrics.broadcast_to
        if self.chat.backplane is not None:
            self.chat.backplane.on_lag = self.lag.observe
        self.sample()
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)

    def _run(self) -> None:
        while True:
            gevent.sleep(self.interval)
            self.sample()

    def sample(self) -> None:
        """Set the gauges from the chat's state now."""
        rooms = self.chat.service.rooms
        self.rooms.set(len(rooms))
        self.members.set(sum(len(room.members) for room in rooms.values()))
        backplane = self.chat.backplane
        if backplane is not None:
            self.backplane_up.set(1 if backplane.connected else 0)
