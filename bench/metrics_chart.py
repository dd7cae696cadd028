#!/usr/bin/env python3
"""Draw the chat server's Prometheus series during a bots run, then a
draining SIGTERM: the picture on the metrics reference page.

    python bench/metrics_chart.py                       # -> docs/metrics.png
    python bench/metrics_chart.py --bots 300 --rate 600 --duration 20 --out /tmp/m.png

Starts ``python -m wsframework serve --metrics`` (keepalive pings every
second, so the ping round trip has samples), runs ``python -m wsframework
bots`` against it, scrapes ``/metrics`` every ``--every`` seconds, sends
SIGTERM while they talk (a drain over ``--drain`` seconds; the bots retry
with backoff and are refused with 503 while it drains),
and plots: open connections, messages per second in and out, broadcast
duration and ping round trip (p50/p99 from the histograms), and closes by
code.  Needs matplotlib (``pip install -e '.[bench]'``) and prometheus_client.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple, float] | None:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """The q-quantile of a histogram's cumulative (upper bound, count) pairs."""
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return previous_bound
            share = (rank - previous_count) / max(count - previous_count, 1e-12)
            return previous_bound + (bound - previous_bound) * share
        previous_bound, previous_count = bound, count
    return previous_bound


def histogram_delta(before: dict, after: dict, name: str) -> list[tuple[float, float]]:
    """Cumulative buckets of the observations between two scrapes."""
    out = []
    for (sample, labels), value in after.items():
        if sample == f"{name}_bucket":
            bound = float(dict(labels)["le"])
            out.append((bound, value - before.get((sample, labels), 0.0)))
    return sorted(out)


def total(samples: dict, name: str, **match: str) -> float:
    return sum(value for (sample, labels), value in samples.items()
               if sample == name and all(dict(labels).get(k) == v for k, v in match.items()))


def run(args: argparse.Namespace) -> list[tuple[float, dict]]:
    port = free_port()
    config = Path(tempfile.mkdtemp(prefix="wsf-metrics-")) / "chat.toml"
    config.write_text("[websocket]\nkeepalive_interval = 1.0\n")
    server = subprocess.Popen(
        [sys.executable, "-m", "wsframework", "serve", "--port", str(port), "--metrics",
         "--config", str(config), "--drain-period", str(args.drain), "--log-level", "WARNING"],
        cwd=PROJECT)
    series: list[tuple[float, dict]] = []
    try:
        start = time.monotonic()
        while scrape(port) is None:
            if time.monotonic() - start > 20:
                raise SystemExit("the chat server did not start")
            time.sleep(0.1)
        bots = subprocess.Popen(
            [sys.executable, "-m", "wsframework", "bots", f"ws://127.0.0.1:{port}/ws",
             "--count", str(args.bots), "--rate", str(args.rate), "--duration",
             str(args.duration), "--rooms", str(args.rooms), "--ramp", "2"],
            cwd=PROJECT, stderr=subprocess.DEVNULL)
        start = time.monotonic()
        stopping = None
        while True:
            now = time.monotonic() - start
            samples = scrape(port)
            if samples is None:
                if server.poll() is not None:
                    break                               # the server has exited
                continue                                # busy: scrape again
            series.append((now, samples))
            if stopping is None and now > args.sigterm_at:
                server.send_signal(signal.SIGTERM)      # drain with bots still connected
                stopping = now
            time.sleep(args.every)
        bots.wait(timeout=args.duration + 60)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return series


def plot(series: list[tuple[float, dict]], out: Path, drain_at: float | None) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [t for t, _ in series]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharex=True)
    ax = axes[0][0]
    ax.plot(times, [total(s, "wsframework_connections") for _, s in series], label="open")
    ax.plot(times, [total(s, "wsframework_chat_members") for _, s in series], label="chat members",
            linestyle="--")
    ax.set_title("wsframework_connections, wsframework_chat_members")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[0][1]
    for direction in ("in", "out"):
        rates = [0.0]
        for (t0, s0), (t1, s1) in zip(series, series[1:]):
            delta = (total(s1, "wsframework_messages_total", direction=direction)
                     - total(s0, "wsframework_messages_total", direction=direction))
            rates.append(delta / max(t1 - t0, 1e-9))
        ax.plot(times, rates, label=f"direction={direction}")
    ax.set_title("rate(wsframework_messages_total) per second")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[1][0]
    for name, label in (("wsframework_broadcast_duration_seconds", "broadcast"),
                        ("wsframework_ping_rtt_seconds", "ping RTT")):
        for q, style in ((0.5, "-"), (0.99, ":")):
            values = [None]
            for (_, s0), (_, s1) in zip(series, series[1:]):
                value = quantile(histogram_delta(s0, s1, name), q)
                values.append(None if value is None else value * 1000)
            ax.plot(times, [float("nan") if v is None else v for v in values], style,
                    label=f"{label} p{int(q * 100)}")
    ax.set_yscale("log")
    ax.set_title("broadcast duration and ping RTT (ms)")
    ax.legend(loc="upper left", fontsize=8)

    ax = axes[1][1]
    codes = sorted({dict(labels)["code"] for _, s in series for (name, labels) in s
                    if name == "wsframework_closes_total"})
    for code in codes:
        ax.plot(times, [total(s, "wsframework_closes_total", code=code) for _, s in series],
                label=f"code={code}")
    ax.plot(times, [total(s, "wsframework_draining") * max(1, len(codes)) for _, s in series],
            color="grey", linewidth=0.8, label="draining (scaled)")
    ax.set_title("wsframework_closes_total by code")
    ax.legend(loc="upper left", fontsize=8)
    for row in axes:
        for ax in row:
            if drain_at is not None:
                ax.axvline(drain_at, color="grey", linewidth=0.6, linestyle="--")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("seconds (dashed: SIGTERM, drain begins)")
    fig.suptitle("python -m wsframework serve --metrics under python -m wsframework bots")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bots", type=int, default=200)
    p.add_argument("--rate", type=float, default=200, help="messages per second, all bots")
    p.add_argument("--rooms", type=int, default=10)
    p.add_argument("--duration", type=float, default=15, help="seconds the bots talk")
    p.add_argument("--drain", type=float, default=5, help="drain period after SIGTERM")
    p.add_argument("--every", type=float, default=0.5, help="seconds between scrapes")
    p.add_argument("--sigterm-at", type=float, default=None,
                   help="seconds into the run to send SIGTERM (default: 60%% of --duration)")
    p.add_argument("--out", type=Path, default=PROJECT / "docs" / "metrics.png")
    a = p.parse_args(argv)
    if a.sigterm_at is None:
        a.sigterm_at = 2 + 0.6 * a.duration
    series = run(a)
    if len(series) < 3:
        print("too few scrapes to draw", file=sys.stderr)
        return 1
    plot(series, a.out, a.sigterm_at)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
