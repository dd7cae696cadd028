"""``broadcast()``: one message to many connections, encoded once.

Apart from the server so that whatever counts or times a broadcast (the
metrics) can call it without importing the server.
"""

from __future__ import annotations

from typing import Iterable

from .connection import WebSocketConnection
from .protocol.framing import Opcode, encode_message
from .sending import send_each

__all__ = ["broadcast"]

_TEXT, _BINARY = Opcode.TEXT.value, Opcode.BINARY.value


def broadcast(connections: Iterable[WebSocketConnection], message: str | bytes) -> int:
    """Send ``message`` (str: text, bytes-like: binary) to each open
    connection of ``connections``; returns how many it was sent to.

    The frames are encoded once and the same bytes written to every
    connection that shares the same framing (no masking, no compression);
    a compressed connection encodes for itself, since its compressor state
    is its own.  Closing connections are skipped; a slow one only queues,
    up to its ``output_buffer_limit`` (then its ``slow_consumer_policy``
    applies), so one peer cannot hold up the others.  Only the connection's
    broadcast seam is used (``broadcast_targets``, ``direct_sent``,
    ``shared_framing``, ``encode_message``, ``send_encoded``).
    """
    if isinstance(message, str):
        opcode, payload = _TEXT, message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode, payload = _BINARY, bytes(message)
    else:
        raise TypeError("message must be str (text) or bytes-like (binary)")
    size = len(payload)
    direct, socks, others = WebSocketConnection.broadcast_targets(list(connections), size)
    shared: dict[int, bytes | list] = {}     # encodings by fragment size (0: one frame)
    for connection in others:
        key = connection.shared_framing()
        if key is None:
            data = connection.encode_message(opcode, payload)
        else:
            if key and size <= key:
                key = 0                      # fits in one frame
            data = shared.get(key)
            if data is None:
                data = shared[key] = encode_message(opcode, payload, fragment_size=key)
        connection.send_encoded(data)
    if direct:
        whole = shared.get(0)
        if whole is None:
            whole = encode_message(opcode, payload)
        # One loop of system calls (in C when built); those that did not
        # take the whole frame queue the rest, as send_encoded would have.
        for index, result in send_each(socks, whole):
            direct[index].direct_sent(whole, result)
    return len(direct) + len(others)
