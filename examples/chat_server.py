"""A chat server in one file, with the public API only.

    python examples/chat_server.py [PORT]

Clients connect to ws://127.0.0.1:PORT/rooms/<room>?nick=<nick> and send
text; every message goes to everyone in the room as "<nick>: <text>".
(The full chat — page, history, Redis, CLI — is `python -m wsframework serve`.)
"""

import sys
from collections import defaultdict

from gevent import monkey

monkey.patch_all()

from wsframework import WebSocketRouter, WebSocketServer, broadcast  # noqa: E402

rooms = defaultdict(set)      # room name -> open connections


def on_join(request):
    nick = request.resource_url.query.get("nick")
    if not isinstance(nick, str) or not nick:
        request.reject(400, "Say who you are: ?nick=...")
        return
    room = rooms[request.params["room"]]
    connection = request.accept(request.origin)
    room.add(connection)
    broadcast(room, f"* {nick} joined")
    try:
        for message in connection:                # one greenlet per member
            if message.type == "utf8":
                broadcast(room, f"{nick}: {message.data}")
    finally:
        room.discard(connection)
        broadcast(room, f"* {nick} left")


def main() -> None:
    server = WebSocketServer.listen(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
    WebSocketRouter(server).mount("/rooms/{room}", None, on_join)
    print(f"chat on ws://127.0.0.1:{server.port}/rooms/<room>?nick=<nick>", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
