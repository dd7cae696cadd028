"""The Redis pub/sub backplane: chat events cross processes and machines.

Every event a process emits for a room is published on
``<prefix><room>``; every process subscribes to ``<prefix>*`` and delivers
what other processes published to its own members of that room.  When
Redis goes away the process keeps serving its local rooms, says so in the
log and in ``/healthz``, and reconnects with exponential backoff.

Needs the optional ``redis`` package (``pip install wsframework[redis]``).
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from typing import Any

import gevent
from gevent.event import Event

from .service import ChatService

__all__ = ["RedisBackplane"]

logger = logging.getLogger("wsframework.chat.backplane")


class RedisBackplane:
    """Joins a :class:`ChatService` to the other processes through Redis."""

    def __init__(self, service: ChatService, url: str, *, prefix: str = "wsframework:chat:",
                 max_backoff: float = 10.0) -> None:
        try:
            import redis
        except ImportError:
            raise RuntimeError("the Redis backplane needs the redis package: "
                               "pip install wsframework[redis]") from None
        self._redis = redis
        self.service = service
        self.url = url
        self.prefix = prefix
        self.max_backoff = max_backoff
        self.origin = uuid.uuid4().hex
        self.connected = False
        self._state_changed = Event()
        self._client: Any = None
        self._greenlet: Any = None
        self._closed = False
        #: Called with the seconds an event took from another process's
        #: publish to its arrival here (the chat's backplane lag metric).
        self.on_lag: Any = None
        service.publish = self.publish

    def start(self) -> None:
        """Connect and subscribe in the background (and keep doing so)."""
        self._greenlet = gevent.spawn(self._run)

    def close(self) -> None:
        self._closed = True
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
        self._set_connected(False)

    def wait_connected(self, connected: bool = True, timeout: float | None = None) -> bool:
        """Block until the backplane is up (or down); False on timeout."""
        with gevent.Timeout(timeout, False):
            while self.connected != connected:
                self._state_changed.wait()
            return True
        return False

    def _set_connected(self, connected: bool) -> None:
        if self.connected != connected:
            self.connected = connected
            event, self._state_changed = self._state_changed, Event()
            event.set()

    # ------------------------------------------------------------ publish
    def publish(self, room: str, event: dict) -> None:
        """Hand an event to the other processes (local members already
        have it); dropped, not queued, while Redis is unreachable."""
        client = self._client
        if client is None or not self.connected:
            return
        payload = json.dumps({"origin": self.origin, "event": event, "sent": time.time()})
        try:
            client.publish(self.prefix + room, payload)
        except (self._redis.RedisError, OSError) as exc:
            # The subscriber's connection decides whether we are up; a lost
            # publish is logged, and the next one retries.
            logger.warning("backplane: could not publish to %s: %s", room, exc)

    # ------------------------------------------------------------ subscribe
    def _run(self) -> None:
        delay = 0.25
        while not self._closed:
            pubsub = None
            try:
                client = self._redis.Redis.from_url(self.url, socket_connect_timeout=5)
                pubsub = client.pubsub()
                pubsub.psubscribe(self.prefix + "*")
                self._client = client
                for item in pubsub.listen():
                    kind = item.get("type")
                    if kind == "pmessage":
                        self._receive(item["channel"], item["data"])
                    elif kind == "psubscribe":
                        # Redis confirmed the subscription: nothing is lost from here.
                        delay = 0.25
                        logger.info("backplane up: %s", self.url)
                        self._set_connected(True)
            except (self._redis.RedisError, OSError) as exc:
                self._down(exc)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except (self._redis.RedisError, OSError):
                        pass
            if self._closed:
                break
            delay = min(delay * 2, self.max_backoff)
            gevent.sleep(delay * random.uniform(0.5, 1.0))

    def _receive(self, channel: bytes | str, data: bytes | str) -> None:
        if isinstance(channel, bytes):
            channel = channel.decode("utf-8", "replace")
        try:
            message = json.loads(data)
            origin, event = message["origin"], message["event"]
        except (ValueError, KeyError, TypeError):
            logger.warning("backplane: ignoring a malformed message on %s", channel)
            return
        if origin != self.origin:
            sent = message.get("sent")
            if self.on_lag is not None and isinstance(sent, (int, float)):
                self.on_lag(max(0.0, time.time() - sent))
            self.service.deliver(channel[len(self.prefix):], event)

    def _down(self, exc: BaseException) -> None:
        if self.connected:
            logger.warning("backplane down (%s); serving local rooms, reconnecting", exc)
        self._set_connected(False)
