"""A client on the Python ``websockets`` package (its sync API), printing
JSON lines as ws_client.js does:
    python websockets_client.py URL
opens, sends TEXT and prints {"step":"text","data":<the echo>}, then waits
for the server to close and prints {"event":"close","code":..,"reason":..}."""

import json
import sys

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

TEXT = "interop: ünïcödé ✓ 🚀"


def emit(obj):
    print(json.dumps(obj), flush=True)


with connect(sys.argv[1], max_size=None, compression=None) as ws:
    emit({"event": "open"})
    ws.send(TEXT)
    emit({"step": "text", "data": ws.recv(timeout=20)})
    try:
        while True:
            emit({"event": "message", "data": repr(ws.recv())[:100]})
    except ConnectionClosed as exc:
        received = exc.rcvd
        emit({"event": "close", "code": received.code if received else None,
              "reason": received.reason if received else None})
