"""The chat with and without Redis: the same swarm of bots against one
worker holding its state in memory, then two workers sharing Redis.

    python bench/chat_cluster.py [--count 2000] [--rate 100] [--duration 20] [--rooms 20]

Each run starts fresh processes (redis-server, ``python -m wsframework
serve``, ``python -m wsframework bots --verify``), and prints one line per
setup: deliveries per second, delivery latency p50/p99, the completeness
(acknowledged, expected, missing, duplicated) and, with Redis, the Redis
commands per acknowledged message (``INFO commandstats``: all of them, and
the appends alone).  Not a test: numbers depend on the machine (and on
whatever else runs on it); compare the two lines of one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What the chat's Lua scripts call inside Redis (counted by commandstats too).
_IN_SCRIPTS = {"hget", "hset", "hdel", "hvals", "hincrby", "expire", "zadd", "zrem",
               "zrangebyscore", "xadd", "xdel", "xlen", "xrange", "xrevrange", "get", "set",
               "time", "publish"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_line(process: subprocess.Popen, pattern: str, count: int = 1,
              timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    for line in process.stdout:
        if re.search(pattern, line):
            seen += 1
            if seen == count:
                return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"no {pattern!r} from {process.args}")


def redis_stats(port: int) -> dict[str, int]:
    out = subprocess.run(["redis-cli", "-p", str(port), "info", "commandstats"],
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"cmdstat_(\w+):calls=(\d+)", out)}


def stored(port: int, rooms: int) -> dict[str, int]:
    """Messages stored so far (the rooms' newest ids; each message adds one)."""
    newest = {}
    for n in range(rooms):
        room = f"bots-{n}" if rooms > 1 else "lobby"
        out = subprocess.run(["redis-cli", "-p", str(port), "hget",
                              f"wsframework:chat:{{{room}}}:meta", "last"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if out:
            newest[room] = int(out)
    return newest


def run_bots(port: int, args: argparse.Namespace,
             redis_port: int | None = None) -> dict[str, float]:
    bots = subprocess.Popen(
        [sys.executable, "-m", "wsframework", "bots", f"ws://127.0.0.1:{port}/ws",
         "--count", str(args.count), "--rate", str(args.rate), "--duration", str(args.duration),
         "--rooms", str(args.rooms), "--ramp", str(args.ramp), "--verify"],
        stderr=subprocess.PIPE, text=True, cwd=ROOT)
    window = None
    if redis_port is not None:
        # Steady state: after the ramp (the joins) until just before the end.
        time.sleep(args.ramp + 1)
        before, first = redis_stats(redis_port), stored(redis_port, args.rooms)
        time.sleep(max(1.0, args.duration - 2))
        after, last = redis_stats(redis_port), stored(redis_port, args.rooms)
        window = ({k: after.get(k, 0) - before.get(k, 0) for k in after},
                  sum(last[room] - first[room] for room in first if room in last))
    summary = bots.communicate()[1]
    numbers = {}
    for name, pattern in (("per_second", r"delivered \d+ \((\d+)/s\)"),
                          ("p50", r"p50\s+([\d.]+) ms"), ("p99", r"p99\s+([\d.]+) ms"),
                          ("acknowledged", r"acknowledged (\d+)"),
                          ("expected", r"expected (\d+)"), ("missing", r"missing (\d+)"),
                          ("duplicated", r"duplicated (\d+)"),
                          ("failed", r"failed connections (\d+)"),
                          ("reconnects", r"reconnects (\d+)")):
        found = re.findall(pattern, summary)
        numbers[name] = float(found[-1]) if found else float("nan")
    numbers["window"] = window
    return numbers


def serve(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "wsframework", "serve", "--log-level", "INFO",
                             "--max-connections-per-ip", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def report(name: str, numbers: dict[str, float], extra: str = "") -> None:
    print(f"{name:28s} {numbers['per_second']:8.0f} deliveries/s  p50 {numbers['p50']:7.1f} ms"
          f"  p99 {numbers['p99']:7.1f} ms  acknowledged {numbers['acknowledged']:.0f}"
          f"  expected {numbers['expected']:.0f}  missing {numbers['missing']:.0f}"
          f"  duplicated {numbers['duplicated']:.0f}  failed {numbers['failed']:.0f}"
          f"  reconnects {numbers['reconnects']:.0f}{extra}",
          flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--ramp", type=float, default=5.0)
    args = parser.parse_args()
    print(f"{args.count} bots, {args.rooms} rooms, {args.rate:g} messages/s in all, "
          f"{args.duration:g} s", flush=True)

    port = free_port()
    one = serve(["--port", str(port)])
    try:
        wait_line(one, r"chat server on")
        report("1 worker, no Redis", run_bots(port, args))
    finally:
        stop(one)

    folder = tempfile.mkdtemp(prefix="chat-bench-")
    redis_port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port",
                              str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", folder],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_line(redis, r"Ready to accept connections")
        port = free_port()
        two = serve(["--port", str(port), "--workers", "2", "--redis",
                     f"redis://127.0.0.1:{redis_port}/0", "--redis-secret", "bench"])
        try:
            wait_line(two, r"backplane up", count=2)
            numbers = run_bots(port, args, redis_port)
        finally:
            stop(two)
        calls, messages = numbers["window"]
        messages = max(messages, 1)
        # Commands the clients sent (round trips; a pipeline's commands
        # count one each), not those the scripts ran inside Redis.
        sent = {name: count for name, count in calls.items() if name not in _IN_SCRIPTS}
        top = sorted(sent.items(), key=lambda item: -item[1])[:5]
        report("2 workers, Redis", numbers,
               f"\n{'':28s} steady state: {messages} messages; Redis round trips per message "
               f"{sum(sent.values()) / messages:.2f} ("
               + ", ".join(f"{name} {count / messages:.2f}" for name, count in top)
               + f"); commands run inside the scripts per message "
               f"{sum(calls.values()) / messages - sum(sent.values()) / messages:.2f}")
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
