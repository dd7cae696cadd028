"""A bot written as a plain greenlet loop: connect, talk, read the answers.

    python examples/bot.py ws://127.0.0.1:8080/ [COUNT]

Runs COUNT bots (default 3) side by side, each in its own greenlet.
"""

import sys

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402

import wsframework  # noqa: E402


def bot(url: str, number: int) -> int:
    connection = wsframework.connect(url)
    answers = 0
    for i in range(5):
        connection.send(f"bot {number} says {i}")
        message = connection.receive(timeout=10)
        if message is None:
            break
        answers += 1
    connection.close()
    connection.wait_closed(5)
    return answers


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8080/"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    greenlets = [gevent.spawn(bot, url, n) for n in range(count)]
    gevent.joinall(greenlets)
    print("answers per bot:", [g.value for g in greenlets], flush=True)
