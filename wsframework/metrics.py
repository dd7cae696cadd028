"""Prometheus metrics of WebSocket servers (``pip install 'wsframework[metrics]'``).

A server made with ``metrics=True`` (or a ``prometheus_client``
``CollectorRegistry``) counts into the series below; without it, nothing is
imported and nothing is counted.  Every server of a process shares one set
of series (per registry).  Names and units follow Prometheus conventions:

=========================================== ========= ===================================
series                                      type      labels
=========================================== ========= ===================================
``wsframework_connections``                 gauge     (open WebSocket connections)
``wsframework_handshakes_total``            counter   ``outcome`` (accepted, rejected,
                                                      failed), ``status`` (HTTP status)
``wsframework_messages_total``              counter   ``direction`` (in, out), ``type``
                                                      (text, binary)
``wsframework_message_bytes_total``         counter   ``direction``, ``type`` (payload)
``wsframework_closes_total``                counter   ``code`` (RFC codes; 3xxx, 4xxx,
                                                      other), ``side`` (who closed:
                                                      local, remote, none for a drop)
``wsframework_ping_rtt_seconds``            histogram keepalive ping to its pong
``wsframework_send_queue_bytes``            gauge     bytes waiting to be written
``wsframework_slow_consumer_actions_total`` counter   ``policy`` (close, drop, ...)
``wsframework_broadcast_duration_seconds``  histogram one broadcast to every receiver
``wsframework_draining``                    gauge     1 while the server drains
=========================================== ========= ===================================

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` before the
workers start (``python -m wsframework serve --workers N --metrics`` does):
each process writes its values there and one scrape of any worker's
``/metrics`` sums them (gauges: over the live processes).
"""

from __future__ import annotations

import os
import time
import weakref
from typing import Any

from .fanout import broadcast
from .protocol.utf8 import utf8_length

__all__ = ["ServerMetrics", "metrics_for", "exposition", "close_code_label", "MULTIPROC_ENV",
           "INSTALL_HINT"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
INSTALL_HINT = "metrics need the prometheus_client package: pip install 'wsframework[metrics]'"

# Buckets in seconds: a ping on loopback is ~50 µs, across a continent ~100 ms.
_RTT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5, 5.0)
_BROADCAST_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                      1.0, 2.5, 5.0, 10.0)


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return prometheus_client


class ServerMetrics:
    """The series of the servers of one process (see the module's table).

    Made by :func:`metrics_for`; the server and its connections call the
    ``on_*`` methods, each a few dictionary lookups and an addition.
    """

    def __init__(self, registry: Any = None) -> None:
        prom = _prometheus()
        self.registry = registry if registry is not None else prom.REGISTRY
        kw = {"registry": self.registry}
        self.connections = prom.Gauge("wsframework_connections",
                                      "Open WebSocket connections.",
                                      multiprocess_mode="livesum", **kw)
        self.handshakes = prom.Counter("wsframework_handshakes",
                                       "WebSocket handshakes by outcome and HTTP status.",
                                       ["outcome", "status"], **kw)
        self.messages = prom.Counter("wsframework_messages",
                                     "Data messages by direction and type.",
                                     ["direction", "type"], **kw)
        self.message_bytes = prom.Counter("wsframework_message_bytes",
                                          "Payload bytes of data messages.",
                                          ["direction", "type"], **kw)
        self.closes = prom.Counter("wsframework_closes",
                                   "Closed connections by close code and the side "
                                   "that closed.", ["code", "side"], **kw)
        self.ping_rtt = prom.Histogram("wsframework_ping_rtt_seconds",
                                       "Keepalive ping round-trip time.",
                                       buckets=_RTT_BUCKETS, **kw)
        self.send_queue = prom.Gauge("wsframework_send_queue_bytes",
                                     "Bytes queued for writing on open connections.",
                                     multiprocess_mode="livesum", **kw)
        self.slow_consumer = prom.Counter("wsframework_slow_consumer_actions",
                                          "slow_consumer_policy actions taken.",
                                          ["policy"], **kw)
        self.broadcast = prom.Histogram("wsframework_broadcast_duration_seconds",
                                        "Time to hand one broadcast to every receiver.",
                                        buckets=_BROADCAST_BUCKETS, **kw)
        self.draining = prom.Gauge("wsframework_draining",
                                   "1 while a server of the process drains.",
                                   multiprocess_mode="livemax", **kw)
        self._servers: weakref.WeakSet = weakref.WeakSet()
        self._sampler: Any = None
        # Bound children, made once: the hot calls below skip .labels().
        self._in = {kind: (self.messages.labels("in", kind),
                           self.message_bytes.labels("in", kind)) for kind in ("text", "binary")}
        self._out = {kind: (self.messages.labels("out", kind),
                            self.message_bytes.labels("out", kind))
                     for kind in ("text", "binary")}
        self._accepted = self.handshakes.labels("accepted", "101")

    # -- the server --------------------------------------------------------
    def register(self, server: Any) -> None:
        """Count ``server``'s send queues in ``wsframework_send_queue_bytes``
        (sampled every second: nothing is added to the write path)."""
        self._servers.add(server)
        if self._sampler is None:
            import gevent
            self._sampler = gevent.spawn(self._sample_forever)

    def sample(self) -> None:
        """Set the sampled gauges now."""
        self.send_queue.set(sum(connection.buffered_amount for server in list(self._servers)
                                for connection in server.connections))

    def _sample_forever(self, interval: float = 1.0) -> None:
        import gevent
        while True:
            self.sample()
            gevent.sleep(interval)

    def on_accepted(self) -> None:
        """A handshake was accepted: one more open connection."""
        self._accepted.inc()
        self.connections.inc()

    def on_rejected(self, status: int) -> None:
        """A handshake was answered with the HTTP error ``status``."""
        self.handshakes.labels("rejected", str(status)).inc()

    def on_failed(self) -> None:
        """A handshake that never got an answer (timeout, EOF, bad TLS)."""
        self.handshakes.labels("failed", "").inc()

    def on_closed(self, code: int, side: str) -> None:
        """A connection closed with ``code``; ``side`` closed it."""
        self.connections.dec()
        self.closes.labels(close_code_label(code), side).inc()

    def broadcast_to(self, connections: Any, message: str | bytes) -> int:
        """:func:`wsframework.broadcast`, timed and counted."""
        with self.time_broadcast():
            sent = broadcast(connections, message)
        binary = not isinstance(message, str)
        self.on_message_out(binary, len(message) if binary else utf8_length(message), sent)
        return sent

    def time_broadcast(self) -> "_Timer":
        """A context manager observing one broadcast's duration."""
        return _Timer(self.broadcast)

    # -- connections -------------------------------------------------------
    def on_message_in(self, binary: bool, size: int) -> None:
        """A data message of ``size`` payload bytes was received."""
        count, nbytes = self._in["binary" if binary else "text"]
        count.inc()
        nbytes.inc(size)

    def on_message_out(self, binary: bool, size: int, copies: int = 1) -> None:
        """A data message of ``size`` payload bytes was sent (to ``copies``
        connections: a broadcast)."""
        count, nbytes = self._out["binary" if binary else "text"]
        count.inc(copies)
        nbytes.inc(size * copies)

    def on_pong(self, rtt: float) -> None:
        """A keepalive pong came ``rtt`` seconds after its ping."""
        self.ping_rtt.observe(rtt)

    def on_slow_consumer(self, policy: str) -> None:
        """The slow-consumer ``policy`` acted on a connection."""
        self.slow_consumer.labels(policy).inc()


# The codes RFC 6455 §7.4.1 and the IANA registry define: labelled as
# themselves.  Any other value a peer may send is folded into a few labels,
# so that no client can grow the series (and every scrape) without bound.
_KNOWN_CODES = {code: str(code) for code in (1000, 1001, 1002, 1003, 1005, 1006, 1007,
                                             1008, 1009, 1010, 1011, 1012, 1013, 1014,
                                             1015)}


def close_code_label(code: int) -> str:
    """The ``code`` label of a close: the code for those the RFC and IANA
    define, ``3xxx`` (registered for libraries and frameworks), ``4xxx``
    (private to applications), or ``other``."""
    label = _KNOWN_CODES.get(code)
    if label is not None:
        return label
    if 3000 <= code <= 3999:
        return "3xxx"
    if 4000 <= code <= 4999:
        return "4xxx"
    return "other"


class _Timer:
    """``with metrics.time_broadcast():`` observes the block's duration."""

    __slots__ = ("histogram", "start")

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.histogram.observe(time.perf_counter() - self.start)


_by_registry: dict[int, ServerMetrics] = {}


def metrics_for(setting: Any) -> ServerMetrics | None:
    """The process's :class:`ServerMetrics` for the ``metrics`` config key:
    None for False, the default registry's for True, else that registry's."""
    if setting is None or setting is False:
        return None
    registry = None if setting is True else setting
    key = id(registry)
    metrics = _by_registry.get(key)
    if metrics is None:
        metrics = _by_registry[key] = ServerMetrics(registry)
    return metrics


def exposition(registry: Any = None) -> tuple[bytes, str]:
    """The text a ``/metrics`` endpoint answers, and its content type: the
    sum over every worker's values when ``PROMETHEUS_MULTIPROC_DIR`` is set,
    else the registry's (default: the process's)."""
    prom = _prometheus()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return prom.generate_latest(registry or prom.REGISTRY), prom.CONTENT_TYPE_LATEST
