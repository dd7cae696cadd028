"""Keeping a client connected: :func:`connect_forever` yields a new open
connection each time the previous one is lost, with exponential backoff and
full jitter between attempts, and stops on the failures that a retry would
only repeat.

    for connection in wsframework.connect_forever("wss://example.com/feed"):
        connection.send("subscribe")
        for message in connection:      # ends when the connection is lost
            handle(message)
    # reached when the server ends the session for good (1000, 1008...)

Retried: network errors (refused, reset, timed out, a proxy that cannot be
reached), HTTP 5xx answers (and a proxy's 502/503/504), and connections that
end with 1001 (going away), 1006 (dropped), 1011 (server error), 1012
(service restart), 1013 (try again later) or 1014 (bad gateway).  Not
retried: other HTTP answers (4xx: refused, unauthorized...), a handshake
the server answered wrongly, a TLS certificate that does not verify, an
invalid URL, and connections that end with any other code (1000 normal,
1002 protocol error, 1008 policy violation, application codes...).
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from typing import Any, Iterator, Mapping, Sequence

import gevent

from .client import InvalidURL, connect
from .config import client_config
from .connection import WebSocketConnection
from .exceptions import WebSocketHandshakeError

__all__ = ["connect_forever", "backoff_delays", "is_retryable_error", "RETRY_CLOSE_CODES"]

logger = logging.getLogger("wsframework.reconnect")

RETRY_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


def is_retryable_error(error: BaseException) -> bool:
    """Whether a failed connection attempt is worth another one."""
    if isinstance(error, InvalidURL):
        return False
    response = getattr(error, "response", None)
    if response is not None:
        return 500 <= response.status <= 599          # 101 with bad headers, 4xx, 3xx: no
    cause = error.__cause__ or error.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return False
    return isinstance(error, (WebSocketHandshakeError, OSError, gevent.Timeout))


def backoff_delays(initial: float, maximum: float, factor: float,
                   rng: random.Random | None = None) -> Iterator[float]:
    """Seconds to wait before each retry: "full jitter" (uniform between 0
    and ``min(maximum, initial * factor**n)``), so that clients dropped
    together do not come back together."""
    uniform = (rng or random).uniform
    ceiling = initial
    while True:
        yield uniform(0, ceiling)
        ceiling = min(maximum, ceiling * factor)


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0 (got {value!r})")
    return float(value)


def connect_forever(url: str, protocols: str | Sequence[str] | None = None,
                    origin: str | None = None, headers: Mapping[str, str] | None = None, *,
                    request_options: Mapping | None = None, backoff_initial: float = 1.0,
                    backoff_max: float = 60.0, backoff_factor: float = 2.0,
                    backoff_reset_after: float = 10.0, max_attempts: int | None = None,
                    **config: Any) -> Iterator[WebSocketConnection]:
    """Yield an open connection to ``url``, and a new one each time the
    previous one has closed with a code worth retrying.

    The arguments are those of :func:`wsframework.connect`, plus the
    backoff: the n-th consecutive failed attempt waits a random time between
    0 and ``min(backoff_max, backoff_initial * backoff_factor**n)`` seconds;
    a connection that stayed open ``backoff_reset_after`` seconds resets
    the count (one that is closed sooner counts as a failure: a server that
    accepts and at once closes with 1013 is not hammered).  ``max_attempts`` bounds the
    consecutive failed attempts (None: no bound); then the last error is
    raised, as is at once an error that is not retried.  The iteration ends
    when a connection closes with a code that is not retried; leave the
    loop (``break``) to stop earlier.  The next connection is opened only
    once the previous one has closed.
    """
    initial = _positive("backoff_initial", backoff_initial)
    maximum = _positive("backoff_max", backoff_max)
    factor = _positive("backoff_factor", backoff_factor)
    reset_after = _positive("backoff_reset_after", backoff_reset_after)
    if max_attempts is not None and (isinstance(max_attempts, bool)
                                     or not isinstance(max_attempts, int) or max_attempts < 1):
        raise ValueError(f"max_attempts must be an int >= 1 or None (got {max_attempts!r})")
    client_config(config)                     # bad keys raise now, not at the first attempt
    delays = backoff_delays(initial, maximum, factor)
    failures = 0
    while True:
        try:
            connection = connect(url, protocols, origin, headers,
                                 request_options=request_options, **config)
        except (WebSocketHandshakeError, OSError, gevent.Timeout) as error:
            failures += 1
            if not is_retryable_error(error) or (max_attempts is not None
                                                 and failures >= max_attempts):
                raise
            delay = next(delays)
            logger.info("connecting to %s failed (%s); attempt %d in %.2f s", url, error,
                        failures + 1, delay)
            gevent.sleep(delay)
            continue
        opened = time.monotonic()
        yield connection
        connection.wait_closed()
        code = connection.close_reason_code
        if code not in RETRY_CLOSE_CODES:
            logger.debug("connection to %s closed with %s: not reconnecting", url, code)
            return
        if time.monotonic() - opened >= reset_after:
            failures = 0
            delays = backoff_delays(initial, maximum, factor)
        delay = next(delays)
        logger.info("connection to %s closed with %s (%s); reconnecting in %.2f s", url, code,
                    connection.close_description, delay)
        gevent.sleep(delay)
