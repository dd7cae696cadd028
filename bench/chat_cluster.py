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


def run_bots(port: int, args: argparse.Namespace) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "wsframework", "bots", f"ws://127.0.0.1:{port}/ws",
         "--count", str(args.count), "--rate", str(args.rate), "--duration", str(args.duration),
         "--rooms", str(args.rooms), "--ramp", str(args.ramp), "--verify"],
        capture_output=True, text=True, cwd=ROOT)
    summary = result.stderr
    numbers = {}
    for name, pattern in (("per_second", r"delivered \d+ \((\d+)/s\)"),
                          ("p50", r"p50\s+([\d.]+) ms"), ("p99", r"p99\s+([\d.]+) ms"),
                          ("acknowledged", r"acknowledged (\d+)"),
                          ("expected", r"expected (\d+)"), ("missing", r"missing (\d+)"),
                          ("duplicated", r"duplicated (\d+)"),
                          ("failed", r"failed connections (\d+)")):
        found = re.findall(pattern, summary)
        numbers[name] = float(found[-1]) if found else float("nan")
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
          f"  duplicated {numbers['duplicated']:.0f}  failed {numbers['failed']:.0f}{extra}",
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
            before = redis_stats(redis_port)
            numbers = run_bots(port, args)
            after = redis_stats(redis_port)
        finally:
            stop(two)
        calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        acked = max(numbers["acknowledged"], 1)
        appends = calls.get("evalsha", 0) + calls.get("eval", 0)
        report("2 workers, Redis", numbers,
               f"\n{'':28s} Redis commands per message: {sum(calls.values()) / acked:.2f} in all"
               f" (evalsha {calls.get('evalsha', 0)}, xread {calls.get('xread', 0)},"
               f" others {sum(calls.values()) - appends - calls.get('xread', 0)});"
               f" scripts per message {appends / acked:.2f}")
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
