"""Echo server built on the Python ``websockets`` package (asyncio API).

    python websockets_echo_server.py [--deflate]

Run in a subprocess by the interop tests, away from gevent's monkey-patching.
Listens on 127.0.0.1, port 0, and prints the port as its first stdout line.
Echoes text as text and binary as binary and obeys the same commands as the
Node echo servers (see common.js):

    cmd:{"op":"close","code":4000,"reason":"..."}   close the connection
    cmd:{"op":"ping","data":"..."}                  ping; on pong send "pong:<data>"
    cmd:{"op":"fragments","type":"text"|"binary"}   send the fragment parts

and prints one JSON line per event, as the Node servers do:
``connection``, ``message``, ``pong``, ``close`` (each with ``path``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

MAX_MESSAGE_SIZE = 64 * 1024 * 1024
COMMAND_PREFIX = "cmd:"
GREETING = "greeting ✓"  # sent at once to connections to .../greet
FRAGMENT_TEXT_PARTS = [f"part-{k}" + " ✓ " * 1000 for k in (1, 2, 3)]
FRAGMENT_BINARY_PARTS = [bytes([k]) * 5000 for k in (1, 2, 3)]


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def describe(data: str | bytes) -> dict:
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    out: dict = {"type": "binary" if isinstance(data, bytes) else "text", "length": len(raw)}
    if len(raw) <= 65536:
        if isinstance(data, bytes):
            out["hex"] = data.hex()
        else:
            out["data"] = data
    out["sha256"] = hashlib.sha256(raw).hexdigest()
    return out


async def handler(websocket) -> None:
    path = websocket.request.path
    emit({"event": "connection", "path": path, "protocol": websocket.subprotocol,
          "origin": websocket.request.headers.get("Origin"),
          "extensions": websocket.response.headers.get("Sec-WebSocket-Extensions")})
    if path.endswith("/greet"):
        await websocket.send(GREETING)
    pong_waiters: set[asyncio.Task] = set()
    try:
        async for data in websocket:
            emit({"event": "message", "path": path, **describe(data)})
            if not (isinstance(data, str) and data.startswith(COMMAND_PREFIX)):
                await websocket.send(data)
                continue
            command = json.loads(data[len(COMMAND_PREFIX):])
            op = command["op"]
            if op == "close":
                await websocket.close(command.get("code", 1000), command.get("reason", ""))
            elif op == "ping":
                payload = command["data"]
                waiter = await websocket.ping(payload.encode("utf-8"))
                task = asyncio.create_task(_on_pong(websocket, path, waiter, payload))
                pong_waiters.add(task)
                task.add_done_callback(pong_waiters.discard)
            elif op == "fragments":
                binary = command["type"] == "binary"
                await websocket.send(FRAGMENT_BINARY_PARTS if binary else FRAGMENT_TEXT_PARTS)
            else:
                await websocket.close(1003, f"unknown command {op}")
    except ConnectionClosed:
        pass
    # Wait for the closing handshake to finish so close_code is final.
    await websocket.wait_closed()
    emit({"event": "close", "path": path, "code": websocket.close_code,
          "reason": websocket.close_reason})


async def _on_pong(websocket, path: str, waiter, payload: str) -> None:
    try:
        await asyncio.wait_for(waiter, 10)
    except asyncio.TimeoutError:
        emit({"event": "error", "path": path, "message": "no pong within 10 s"})
        return
    emit({"event": "pong", "path": path, "data": payload})
    try:
        await websocket.send(f"pong:{payload}")
    except ConnectionClosed:
        pass


async def main() -> None:
    # --deflate: accept permessage-deflate offers.
    compression = "deflate" if "--deflate" in sys.argv[1:] else None
    async with serve(handler, "127.0.0.1", 0, max_size=MAX_MESSAGE_SIZE,
                     ping_interval=None, compression=compression,
                     select_subprotocol=lambda ws, offered: offered[0] if offered else None
                     ) as server:
        port = server.sockets[0].getsockname()[1]
        sys.stdout.write(f"{port}\n")
        sys.stdout.flush()
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
