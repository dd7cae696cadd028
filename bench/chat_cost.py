#!/usr/bin/env python3
"""The chat's own cost per delivered message under its bots (issue #20).

    python3 bench/chat_cost.py                              # 200 bots, 1 room, 3 rates
    python3 bench/chat_cost.py --count 500 --rates 100,400 --rooms 5 --reps 3
    python3 bench/chat_cost.py --python /tmp/other-venv/bin/python --json out.jsonl

For each rate: a fresh chat server (``python -m wsframework serve``, one
process, no Redis) pinned to one CPU, and the bots (``python -m wsframework
bots URL --count N --rate R --duration S --rooms K``) pinned to the other.
The server's CPU time (utime + stime from /proc, all its threads) is read
over the bots' run; the bots' summary gives the messages sent and
delivered.  Reported: deliveries/s, the server's CPU %, and **deliveries
per second per server core** (deliveries / server CPU seconds): what one
fully busy core of the chat would deliver at this fan-out, and its inverse,
server CPU microseconds per delivery.  With one room every message goes to
every bot, so deliveries = sent x bots.

Standard library only; the Python (``--python``, default the benchmark's
wsframework venv, BENCH_WSF_VENV or /tmp/bench-wsf-venv) must have this
checkout installed (``bench/run.py`` does that: ``pip install -e``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PROJECT = BENCH.parent
WSF_VENV = Path(os.environ.get("BENCH_WSF_VENV", "/tmp/bench-wsf-venv"))
SUMMARY = re.compile(r"sent (\d+), delivered (\d+) .*?failed connections (\d+).*?errors (\d+); "
                     r"delivery latency p50\s+([\d.]+|-) ms, p99\s+([\d.]+|-) ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds used by the whole machine so far (all CPUs)."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (f[0] + f[1] + f[2] + f[5] + f[6]) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the chat server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the chat server did not listen on {port}")


def measure(a: argparse.Namespace, rate: float) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        ["taskset", "-c", a.server_cpu, a.python, "-m", "wsframework", "serve", "--port", str(port)],
        cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        start_new_session=True)
    try:
        wait_listening(port, server)
        time.sleep(0.3)
        cpu0, busy0, t0 = cpu_seconds(server.pid), machine_busy(), time.monotonic()
        bots = subprocess.run(
            ["taskset", "-c", a.client_cpu, a.python, "-m", "wsframework", "bots",
             f"ws://127.0.0.1:{port}/ws", "--count", str(a.count), "--rate", str(rate),
             "--duration", str(a.duration), "--rooms", str(a.rooms), "--ramp", str(a.ramp)],
            cwd=PROJECT, capture_output=True, text=True, env=env, timeout=a.duration + a.ramp + 120)
        wall = time.monotonic() - t0
        cpu = cpu_seconds(server.pid) - cpu0
        busy = machine_busy() - busy0
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    match = SUMMARY.search(bots.stderr)
    if match is None:
        raise RuntimeError(f"no summary from the bots (exit {bots.returncode}): {bots.stderr[-500:]}")
    sent, delivered, failed, errors = (int(match.group(i)) for i in range(1, 5))
    p50, p99 = (None if match.group(i) == "-" else float(match.group(i)) for i in (5, 6))
    return {
        "rate": rate, "count": a.count, "rooms": a.rooms, "duration": a.duration,
        "sent": sent, "delivered": delivered, "failed_connections": failed, "errors": errors,
        "p50_ms": p50, "p99_ms": p99, "wall_s": round(wall, 2), "server_cpu_s": round(cpu, 3),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "deliveries_per_s": round(delivered / wall, 1),
        "deliveries_per_core_s": round(delivered / cpu) if cpu else None,
        "server_cpu_us_per_delivery": round(1e6 * cpu / delivered, 2) if delivered else None,
        # CPU used by anything but this server, % of one core (the bots included)
        "other_cpu_pct": round(100 * (busy - cpu) / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", default=str(WSF_VENV / "bin" / "python"),
                   help="python with wsframework installed (BENCH_WSF_VENV's)")
    p.add_argument("--count", type=int, default=200, help="bots (200)")
    p.add_argument("--rates", default="50,100,200", help="messages/s of all bots together, one run each")
    p.add_argument("--rooms", type=int, default=1, help="rooms (1: every message to every bot)")
    p.add_argument("--duration", type=float, default=10, help="seconds of talking (10)")
    p.add_argument("--ramp", type=float, default=2, help="seconds over which the bots connect (2)")
    p.add_argument("--reps", type=int, default=1, help="repetitions of each rate (medians shown)")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--json", type=Path, help="append one JSON line per measurement here")
    a = p.parse_args(argv)
    rows = []
    for rep in range(a.reps):
        for rate in (float(r) for r in a.rates.split(",")):
            rec = measure(a, rate)
            rec["rep"] = rep + 1
            rows.append(rec)
            print(json.dumps(rec), flush=True)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps({"type": "chat_cost", **rec}) + "\n")
    print(f"\n{a.count} bots, {a.rooms} room(s), {a.duration:g} s, medians of {a.reps}:")
    print(f"{'rate/s':>8} {'deliveries/s':>13} {'server CPU %':>13} {'deliveries/s/core':>18} "
          f"{'CPU us/delivery':>16} {'p99 ms':>8} {'other CPU %':>12}")
    for rate in sorted({r["rate"] for r in rows}):
        rs = [r for r in rows if r["rate"] == rate]
        med = {k: statistics.median(r[k] for r in rs if r[k] is not None)
               for k in ("deliveries_per_s", "server_cpu_pct", "deliveries_per_core_s",
                         "server_cpu_us_per_delivery", "p99_ms", "other_cpu_pct")
               if any(r[k] is not None for r in rs)}
        print(f"{rate:>8g} {med.get('deliveries_per_s', 0):>13,.0f} {med.get('server_cpu_pct', 0):>13.0f} "
              f"{med.get('deliveries_per_core_s', 0):>18,.0f} {med.get('server_cpu_us_per_delivery', 0):>16.2f} "
              f"{med.get('p99_ms', 0):>8.1f} {med.get('other_cpu_pct', 0):>12.0f}")
    return 0 if all(r["failed_connections"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
