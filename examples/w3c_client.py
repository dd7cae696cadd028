"""The browser's WebSocket API from Python: connect, send, print, close.

    python examples/w3c_client.py ws://127.0.0.1:8080/echo echo-protocol
"""

import sys

from gevent import monkey

monkey.patch_all()

from gevent.event import Event  # noqa: E402

from wsframework import W3CWebSocket  # noqa: E402


def main(url: str, protocol: str | None = None) -> int:
    done = Event()
    ws = W3CWebSocket(url, protocol)

    def on_open(event):
        print("open, protocol:", ws.protocol or "(none)", flush=True)
        ws.send("hello from the W3C client")

    def on_message(event):
        print("message:", event.data, flush=True)
        ws.close(1000, "thanks")

    def on_close(event):
        print(f"close: {event.code} {event.reason!r} clean={event.wasClean}", flush=True)
        done.set()

    ws.onopen = on_open
    ws.onmessage = on_message
    ws.onerror = lambda event: print("error", flush=True)
    ws.onclose = on_close
    done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
