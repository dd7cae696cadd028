"""An interactive terminal client (``python -m wsframework client URL``),
like ``wscat``: each line typed is sent as a text message, each message
received is printed.

Commands: ``/ping [DATA]``, ``/close [CODE [REASON]]``, ``/binary TEXT``
(send TEXT as a binary message), ``/quit``.
"""

from __future__ import annotations

import sys
from typing import TextIO

import gevent
from gevent.event import Event
from gevent.fileobject import FileObject

from ..client import connect
from ..exceptions import WebSocketError

__all__ = ["run"]

HELP = "commands: /ping [DATA], /close [CODE [REASON]], /binary TEXT, /quit"


def run(url: str, protocols: list[str], origin: str | None = None,
        stdin: TextIO | None = None, out: TextIO | None = None) -> int:
    """Connect, then relay lines and messages until closed or end of input."""
    out = out or sys.stdout
    try:
        connection = connect(url, protocols or None, origin=origin)
    except WebSocketError as exc:
        print(f"! could not connect: {exc}", file=out, flush=True)
        return 1
    closed = Event()

    def show(text: str) -> None:
        print(text, file=out, flush=True)

    def on_message(message) -> None:
        show(f"< {message.data}" if message.type == "utf8" else f"< (binary) {message.data!r}")

    def on_close(code: int, description: str | None) -> None:
        show(f"! closed {code} {description or ''}".rstrip())
        closed.set()

    connection.on("message", on_message)
    connection.on("pong", lambda data: show(f"< pong {data!r}"))
    connection.on("close", on_close)
    show(f"! connected to {url}" + (f" ({connection.protocol})" if connection.protocol else "")
         + f"; {HELP}")
    lines = FileObject(stdin if stdin is not None else sys.stdin.fileno(), "r")
    reader = gevent.spawn(_relay, lines, connection, show)
    gevent.wait([closed, reader], count=1)
    if not closed.is_set():
        if connection.connected:
            connection.close()
        closed.wait(connection.close_timeout + 1)
    reader.kill(block=False)
    return 0 if connection.was_clean else 1


def _relay(lines, connection, show) -> None:
    for line in lines:
        line = line.rstrip("\r\n")
        if not connection.connected:
            return
        try:
            if line == "/quit":
                connection.close()
                return
            if line.startswith("/ping"):
                connection.ping(line[5:].strip().encode())
            elif line.startswith("/close"):
                parts = line.split(maxsplit=2)
                code = int(parts[1]) if len(parts) > 1 else 1000
                connection.close(code, parts[2] if len(parts) > 2 else None)
                return
            elif line.startswith("/binary "):
                connection.send(line[8:].encode())
            elif line.startswith("/"):
                show(f"! unknown command; {HELP}")
            else:
                connection.send(line)
        except (ValueError, WebSocketError) as exc:
            show(f"! {exc}")
