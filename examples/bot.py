"""Chat bots, each written as a plain greenlet loop: connect, join, talk,
read — blocking style, no callbacks.

    python -m wsframework serve &                 # the chat server
    python examples/bot.py ws://127.0.0.1:8080/ws [COUNT]

COUNT bots (default 3) join the lobby side by side, each in its own
greenlet, say five things, and report how many chat messages they saw.
(`python -m wsframework bots` is the full load tool.)
"""

import json
import sys

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402

import wsframework  # noqa: E402


def bot(url: str, number: int, count: int) -> int:
    connection = wsframework.connect(url, ["chat"])
    connection.send(json.dumps({"type": "join", "room": "lobby", "nick": f"bot{number}"}))
    members = 0
    for message in connection:           # wait until every bot is in the room
        event = json.loads(message.data)
        if event["type"] == "welcome":
            members = len(event["members"])
        elif event["type"] == "joined":
            members += 1
        if members == count:
            break
    for line in range(1, 6):
        connection.send(json.dumps({"type": "message", "text": f"line {line}"}))
    seen = 0
    while seen < 5 * count:              # everyone's five lines, our own included
        message = connection.receive(timeout=10)
        if message is None:
            break
        if json.loads(message.data)["type"] == "message":
            seen += 1
    connection.close()
    connection.wait_closed(5)
    return seen


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/ws"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    bots = [gevent.spawn(bot, url, n, count) for n in range(count)]
    gevent.joinall(bots)
    print("chat messages seen per bot:", [b.value for b in bots], flush=True)
