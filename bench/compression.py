"""What permessage-deflate costs and saves, measured.

    python bench/compression.py [--conns N] [--messages M]

1. Memory per idle connection on the server, with compression negotiated
   and used once (so the zlib state of context takeover exists), for
   several settings, against compression off.  The server runs in a child
   process; its VmRSS is read before and after N connections.
2. Bytes on the wire for a chat-like workload: M JSON chat messages of
   about 100-250 bytes, framed as the server sends them, with and without
   compression (frame headers included, TCP/IP headers not).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402

import wsframework  # noqa: E402
from wsframework.protocol.permessage_deflate import PerMessageDeflate  # noqa: E402

SERVER = """
import sys, json
from gevent import monkey; monkey.patch_all()
from wsframework import WebSocketServer
config = json.loads(sys.argv[1])
def on_request(request):
    connection = request.accept()
    for message in connection:
        connection.send(message.data)
server = WebSocketServer.listen(("127.0.0.1", 0), **config)
server.on("request", on_request)
print(server.port, flush=True)
server.serve_forever()
"""

SETTINGS = {
    "compression off": {"permessage_deflate": False},
    "default (12-bit windows, memLevel 5)": {},
    "no context takeover (both sides)": {"server_no_context_takeover": True,
                                         "client_no_context_takeover": True},
    "15-bit windows, memLevel 8": {"server_max_window_bits": 15, "client_max_window_bits": 15,
                                   "compression_memory_level": 8},
    "9-bit windows, memLevel 1": {"server_max_window_bits": 9, "client_max_window_bits": 9,
                                  "compression_memory_level": 1},
}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def chat_message(rng: random.Random, i: int) -> str:
    words = ["hello", "anyone", "around", "the", "build", "is", "green", "again", "lunch?",
             "see", "you", "at", "standup", "ok", "thanks", "deploying", "now", "room"]
    return json.dumps({"type": "message", "room": "lobby", "id": i,
                       "nick": rng.choice(["alice", "bob", "carol", "dave"]),
                       "time": 1764100000 + i,
                       "text": " ".join(rng.choice(words) for _ in range(rng.randint(3, 25)))})


def memory_per_connection(config: dict, conns: int) -> float:
    process = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(config)],
                               stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        url = f"ws://127.0.0.1:{port}/"
        warm = wsframework.connect(url)          # import-time and first-use costs
        warm.send("x" * 200)
        warm.receive(timeout=10)
        before = rss_kib(process.pid)
        clients = []
        for i in range(conns):
            client = wsframework.connect(url)
            client.send(chat_message(random.Random(i), i))   # makes the zlib state exist
            clients.append(client)
        for client in clients:
            client.receive(timeout=30)
        gevent.sleep(0.5)                        # let the server settle before reading
        after = rss_kib(process.pid)
        for client in clients:
            client.close()
        warm.close()
        return (after - before) / conns
    finally:
        process.kill()
        process.wait()


def wire_bytes(messages: list[str], extension: PerMessageDeflate | None) -> int:
    total = 0
    for text in messages:
        payload = text.encode()
        if extension is not None:
            _, payload = extension.encode(payload)
        n = len(payload)
        total += n + (2 if n < 126 else 4 if n < 65536 else 10)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=10000)
    args = parser.parse_args()

    print(f"## Server memory per connection ({args.conns} connections, one message each)\n")
    print("| setting | KiB per connection |\n|---|---:|")
    for name, config in SETTINGS.items():
        print(f"| {name} | {memory_per_connection(config, args.conns):.1f} |", flush=True)

    rng = random.Random(1)
    messages = [chat_message(rng, i) for i in range(args.messages)]
    raw = wire_bytes(messages, None)
    print(f"\n## Bytes on the wire, {args.messages} chat messages "
          f"(average {sum(map(len, messages)) / len(messages):.0f} bytes)\n")
    print("| setting | bytes | ratio to uncompressed |\n|---|---:|---:|")
    print(f"| uncompressed | {raw} | 1.00 |")
    variants = {
        "default (context takeover, 12 bits)": [("server_max_window_bits", "12"),
                                                ("client_max_window_bits", "12")],
        "no context takeover": [("server_no_context_takeover", None)],
        "15 bits": [],
    }
    for name, params in variants.items():
        extension = PerMessageDeflate(params, is_server=True, threshold=32)
        size = wire_bytes(messages, extension)
        print(f"| {name} | {size} | {size / raw:.2f} |")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
