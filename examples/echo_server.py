"""An echo server in the blocking style: every message comes back as sent.

    python examples/echo_server.py [PORT]

It accepts any subprotocol the client asks for (or none) and messages up to
16 MiB, which is what the Autobahn|Testsuite needs.
"""

import logging
import sys

from gevent import monkey

monkey.patch_all()

from wsframework import WebSocketServer  # noqa: E402


def on_request(request):
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:          # ends when the connection closes
        connection.send(message.data)   # str stays text, bytes stay binary


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    server = WebSocketServer.listen(
        ("127.0.0.1", port),
        max_received_frame_size=16 * 1024 * 1024,
        max_received_message_size=16 * 1024 * 1024,
    )
    server.on("request", on_request)
    print(f"echo server on ws://127.0.0.1:{server.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop(timeout=2)


if __name__ == "__main__":
    main()
