"""wsframework echo + fanout server for the benchmark (bench/run.py, bench/README.md).

    python bench/server.py PORT

Follows the harness's server contract: one process on 127.0.0.1:PORT; on
``/echo`` every message comes back as one message of the same type (str is
text, bytes is binary); on ``/fanout`` every text message goes to every open
``/fanout`` connection, the sender included, and binary messages are
ignored; other paths get 404.  The library's defaults are kept except the
frame and message size limits, raised to 16 MiB for bulk_16m.  SIGTERM ends
the process (its default action).

The handlers are event style, the original WebSocket-Node API: the
request handler registers a ``message`` listener and returns.  Each
connection's greenlet (the server's) then reads it, and once it is idle
the connection "parks": the greenlet ends, its socket's read watcher waits
in the event loop, and a pooled reader greenlet reads on when data comes;
so the benchmark measures that path.  ``server.broadcast()`` is not used
for fanout because it sends to *every* connection of the server, ``/echo``
ones included; ``wsframework.broadcast()`` sends to the members of the
``/fanout`` set only (encoding the frame once).
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from wsframework import WebSocketServer, broadcast  # noqa: E402

MAX_SIZE = 16 * 1024 * 1024
fanout = set()


def on_request(request):
    path = request.resource_url.pathname
    if path not in ("/echo", "/fanout"):
        request.reject(404, "unknown path")
        return
    connection = request.accept(None, request.origin)
    if path == "/echo":
        # str stays text, bytes stay binary
        connection.on("message", lambda message: connection.send(message.data))
        return
    fanout.add(connection)
    connection.on("message", on_fanout_message)


def on_fanout_message(message):
    if message.is_text:
        broadcast(fanout, message.data)        # encoded once for everyone


def on_close(connection, code, description):
    fanout.discard(connection)


def main():
    port = int(sys.argv[1])
    server = WebSocketServer.listen(("127.0.0.1", port),
                                    max_received_frame_size=MAX_SIZE,
                                    max_received_message_size=MAX_SIZE)
    server.on("request", on_request)
    server.on("close", on_close)
    print(f"wsframework listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
