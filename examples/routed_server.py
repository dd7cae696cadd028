"""A server with a router: two subprotocols on two paths.

    python examples/routed_server.py [PORT]

``/echo`` with protocol ``echo-protocol`` echoes; ``/rooms/{room}`` with
protocol ``shout`` answers in capitals, naming the room.  Anything else
gets 404.
"""

import sys

from gevent import monkey

monkey.patch_all()

from wsframework import WebSocketRouter, WebSocketServer  # noqa: E402


def echo(request):
    connection = request.accept(request.origin)
    for message in connection:
        connection.send(message.data)


def shout(request):
    connection = request.accept(request.origin)
    room = request.params["room"]
    connection.on("message", lambda message: connection.send(
        f"[{room}] {str(message.data).upper()}"))


def build(port: int) -> WebSocketServer:
    server = WebSocketServer.listen(("127.0.0.1", port))
    router = WebSocketRouter(server)
    router.mount("/echo", "echo-protocol", echo)
    router.mount("/rooms/{room}", "shout", shout)
    return server


if __name__ == "__main__":
    server = build(int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
    print(f"listening on ws://127.0.0.1:{server.port}/", flush=True)
    server.serve_forever()
