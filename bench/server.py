"""wsframework echo + fanout server for the benchmark (bench/run.py, bench/README.md).

    python bench/server.py PORT

Follows the harness's server contract: one process on 127.0.0.1:PORT; on
``/echo`` every message comes back as one message of the same type (str is
text, bytes is binary); on ``/fanout`` every text message goes to every open
``/fanout`` connection, the sender included, and binary messages are
ignored; other paths get 404.  The library's defaults are kept except the
frame and message size limits, raised to 16 MiB for bulk_16m.  SIGTERM ends
the process (its default action).

Each connection runs in its own greenlet (the server's), and the request
handler reads it in blocking style until it closes.  ``server.broadcast()``
is not used for fanout because it sends to *every* connection of the
server, ``/echo`` ones included; ``wsframework.broadcast()`` sends to the
members of the ``/fanout`` set only (encoding the frame once).
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
        for message in connection:             # ends when the connection closes
            connection.send(message.data)      # str stays text, bytes stay binary
        return
    fanout.add(connection)
    try:
        for message in connection:
            if message.is_text:
                broadcast(fanout, message.data)    # encoded once for everyone
    finally:
        fanout.discard(connection)


def main():
    port = int(sys.argv[1])
    server = WebSocketServer.listen(("127.0.0.1", port),
                                    max_received_frame_size=MAX_SIZE,
                                    max_received_message_size=MAX_SIZE)
    server.on("request", on_request)
    print(f"wsframework listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
