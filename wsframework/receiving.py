"""Reading from sockets: ``recv_small``, an event-style connection's usual
wake-up (one receive that brings one whole small frame) in one call.

The C version (see :mod:`wsframework.protocol.speedups`) receives and parses
without the interpreter in between and keeps the GIL for the system call
(the socket never blocks); the pure-Python one is the fallback.
"""

from __future__ import annotations

from typing import Any

from .protocol.parser import py_parse_small
from .protocol.speedups import accelerated

__all__ = ["recv_small", "py_recv_small"]


def py_recv_small(sock: Any, buf: bytearray, masked: bool, limit: int) -> str | bytes | int:
    """Receive once from ``sock`` (an OS-level socket that never blocks)
    into ``buf``.

    When what arrived is exactly one whole small text or binary frame (see
    :func:`~wsframework.protocol.parser.py_parse_small`), returns its
    payload: str for text, bytes for binary.  Otherwise returns how many
    bytes are now in ``buf[:n]``: 0 at the end of the stream, -1 when there
    was nothing to read.  Failures raise :class:`OSError`.
    """
    try:
        n = sock.recv_into(buf)
    except (BlockingIOError, InterruptedError):
        return -1
    got = py_parse_small(buf, 0, masked, limit, n)
    if got is not None and got[1] == n:
        return got[0]
    return n


recv_small = accelerated("recv_small", py_recv_small)
