"""Writing to sockets: ``send_now``, one send that never waits;
``send_small``, a small message framed and sent that way; ``send_each``,
one message to many sockets for ``broadcast()``; and ``send_all``, an
HTTP answer written with an idle limit.

The C versions (see :mod:`wsframework.protocol.speedups`) keep the GIL for
their system calls (the sockets never block) and run the loop of a
broadcast without the interpreter in between (a broadcast to a thousand
connections spends its time in the kernel); the pure-Python ones are the
fallback.
"""

from __future__ import annotations

import errno
import socket as _socket
import struct
from typing import Any, Sequence

from gevent.socket import socket as _GeventSocket

from .protocol.framing import SMALL_BINARY_HEADS, SMALL_TEXT_HEADS
from .protocol.speedups import SPEEDUPS, accelerated  # SPEEDUPS: re-exported, the one flag

__all__ = ["send_now", "py_send_now", "send_small", "py_send_small", "send_each",
           "py_send_each", "send_all", "SPEEDUPS"]


def py_send_now(sock: Any, data: bytes | bytearray | memoryview) -> int:
    """Send ``data`` to ``sock`` (an OS-level socket) without waiting:
    returns how many bytes the kernel took, 0 when it would have blocked.
    Failures raise :class:`OSError`."""
    try:
        return sock.send(data, _socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return 0


send_now = accelerated("send_now", py_send_now)


def py_send_small(sock: Any, data: str | bytes, fragment: int) -> int | None:
    """Frame ``data`` (str: a text message, bytes: binary) unmasked as one
    frame and send it to ``sock`` without waiting, when its payload is at
    most 125 bytes and (``fragment`` > 0) at most ``fragment``: returns
    how many bytes of the frame the kernel did not take (0: all sent).
    None, with nothing sent, when the message is not that small.  A
    server's usual message, in one call."""
    kind = type(data)
    if kind is str:
        if len(data) > 125:                 # never small: not encoded for nothing
            return None
        payload, heads = data.encode("utf-8"), SMALL_TEXT_HEADS
    elif kind is bytes:
        payload, heads = data, SMALL_BINARY_HEADS
    else:
        raise TypeError("send_small: data must be str or bytes")
    n = len(payload)
    if n > 125 or (fragment > 0 and n > fragment):
        return None
    frame = heads[n] + payload
    return len(frame) - py_send_now(sock, frame)


send_small = accelerated("send_small", py_send_small)


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


_LINGER_RESET = struct.pack("ii", 1, 0)


def send_all(sock: Any, data: bytes | bytearray | memoryview,
             idle_timeout: float | None) -> None:
    """Write all of ``data`` to ``sock`` (a gevent socket), giving up once
    the peer has taken nothing for ``idle_timeout`` seconds (None: no limit).

    An HTTP answer to a client that does not read would otherwise hold the
    writing greenlet, and the kernel's send queue, for ever.  On giving up
    the connection is set to reset when closed (``SO_LINGER`` 0: the kernel
    drops what it still holds for the peer) and :class:`TimeoutError`
    (``ETIMEDOUT``) is raised.  A slow reader that keeps taking data is not
    cut off: the limit is on a lack of progress, not on the whole write.
    """
    if idle_timeout is None:
        sock.sendall(data)
        return
    if type(sock) is _GeventSocket:
        # A head nearly always fits the kernel's send buffer: one
        # non-blocking send (the OS socket's own: gevent's never blocks on
        # it either, so its wrapper is skipped), and the timeout juggling
        # below only if not.
        try:
            sent = sock._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent == len(data):
            return
        data = memoryview(data)[sent:]
    previous = sock.gettimeout()
    sock.settimeout(idle_timeout)
    try:
        view = memoryview(data)
        while len(view):
            try:
                sent = sock.send(view)
            except _socket.timeout:
                try:
                    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, _LINGER_RESET)
                except OSError:
                    pass
                raise TimeoutError(errno.ETIMEDOUT, f"the peer took no data for "
                                                    f"{idle_timeout} s") from None
            view = view[sent:]
    finally:
        sock.settimeout(previous)
