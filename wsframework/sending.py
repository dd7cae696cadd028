"""``send_each``: one message to many sockets, for ``broadcast()``.

The C version (see :mod:`wsframework.speedups`) runs the loop of system
calls without the interpreter in between (a broadcast to a thousand
connections spends its time in the kernel); the pure-Python one is the
fallback.
"""

from __future__ import annotations

import errno
import socket as _socket
from typing import Any, Sequence

from .speedups import SPEEDUPS, accelerated  # SPEEDUPS: re-exported, the one flag

__all__ = ["send_each", "py_send_each", "SPEEDUPS"]


def py_send_each(socks: Sequence[Any], data: bytes) -> list[tuple[int, int]]:
    """Send ``data`` to each OS-level socket of ``socks`` without waiting.

    Returns ``(index, result)`` for each socket that did not take all of
    it: ``result`` is how many bytes it took (0 when it would have blocked)
    or minus the errno of the failure.
    """
    short = []
    size = len(data)
    for index, sock in enumerate(socks):
        try:
            sent = sock.send(data, _socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            sent = -(exc.errno or errno.EIO)
        if sent != size:
            short.append((index, sent))
    return short


send_each = accelerated("send_each", py_send_each)
