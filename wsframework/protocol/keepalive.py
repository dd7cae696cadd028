"""Keepalive decisions (ping an idle peer, drop one that does not answer) as
a pure function of the clock and a connection's keepalive state.

The connection keeps the state (when data last arrived, when our ping went
out) and one deadline on the loop's :class:`~wsframework.protocol.timerwheel.TimerWheel`;
when the deadline comes it asks :func:`keepalive_step` what to do and when
to look again.  No sockets, timers or greenlets here.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["KeepaliveAction", "KeepaliveStep", "keepalive_step"]


class KeepaliveAction(enum.Enum):
    """What a connection does when its keepalive deadline comes."""

    WAIT = "wait"              # nothing now: look again after ``delay``
    PING = "ping"              # send a ping, look again after ``delay``
    PEER_GONE = "peer_gone"    # no pong within the grace period: drop (1006)


class KeepaliveStep(NamedTuple):
    """The decision and the connection's keepalive state after it."""

    action: KeepaliveAction
    delay: float               # seconds until the next deadline (WAIT, PING)
    last_receive: float        # when the peer was last heard from
    ping_sent_at: float        # when our unanswered ping went out (0.0: none)


def keepalive_step(now: float, last_receive: float, ping_sent_at: float, *,
                   interval: float, grace: float, drop_on_timeout: bool,
                   stalled: bool = False) -> KeepaliveStep:
    """Decide at ``now`` (loop seconds) about a peer last heard from at
    ``last_receive``, pinged at ``ping_sent_at`` (0.0: not waiting for a
    pong).  ``stalled``: this side is not reading (paused, or its receive
    queue is full), so the peer's silence does not count."""
    if stalled:
        return KeepaliveStep(KeepaliveAction.WAIT, interval, now, ping_sent_at)
    if ping_sent_at:
        if last_receive < ping_sent_at:
            # The grace period after our ping has run out in silence.
            return KeepaliveStep(KeepaliveAction.PEER_GONE, 0.0, last_receive, ping_sent_at)
        ping_sent_at = 0.0
    idle = now - last_receive
    if idle < interval:
        return KeepaliveStep(KeepaliveAction.WAIT, interval - idle, last_receive, ping_sent_at)
    if drop_on_timeout:
        return KeepaliveStep(KeepaliveAction.PING, grace, last_receive, now)
    return KeepaliveStep(KeepaliveAction.PING, interval, now, ping_sent_at)
