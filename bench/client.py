#!/usr/bin/env python3
"""Client benchmark: wsframework's client against Python ``websockets``
clients, all talking to the same Node ``ws`` server of the benchmark (``bench/``).

    python bench/client.py                              # 3 reps, every client and scenario
    python bench/client.py --reps 1 --duration 2 --scenarios echo_rtt
    python bench/client.py --clients wsframework,websockets --md
    python bench/client.py --table $BENCH_HOME/results/client.jsonl --md   # render a file again

The server is ``bench/servers/ws_server.js`` (npm ``ws``, the fastest
peer of ``bench/run.py``, so the client is what limits), started fresh for
every measurement with node and ``$BENCH_HOME/node_modules`` and pinned to
CPU 0 (``taskset``); the client runs in its own process pinned to CPU 1.
The clients, each written the way a user would write it:

    wsframework          wsframework.connect() in blocking style, a greenlet per
                         connection (gevent, monkey-patched), speedups as built
    wsframework-pure     the same with WSFRAMEWORK_NO_SPEEDUPS=1 (pure-Python masking)
    websockets           websockets.asyncio.client.connect, a task per connection (asyncio)
    websockets-uvloop    the same on uvloop
    websockets-sync      websockets.sync.client.connect, a thread per connection

Scenarios (payloads are printable ASCII, every echo is compared with what
was sent, compression is off on both sides, size limits raised to 16 MiB):

    echo_rtt        --conns (50) connections, each a closed loop of one 32-byte
                    text message: send, wait for the echo, send again; echoes/s
                    in a --duration (5 s) window after --warmup (1 s); latency
    echo_pipelined  1 connection, --window (200) 32-byte text messages in flight:
                    each echo sends the next one; echoes/s
    bulk_1m         1 connection, 1 MiB binary messages, one in flight; MB/s of
                    payload echoed (10^6 B), whole round trips only

The clients and the order they run in rotate between repetitions (--reps,
3); the table gives medians over them and the ratio to ``websockets``.
Results are appended as JSON lines to --out (default
``$BENCH_HOME/results/client.jsonl``).  Also reported: the client's CPU
(% of one core: near 100 means the client is the limit, which is the point)
and the server's (well below 100 means the server has time to spare).

The venvs are those of ``bench/run.py``: wsframework's client runs in
``BENCH_WSF_VENV`` (default /tmp/bench-wsf-venv, where ``run.py`` installs
this checkout in editable mode), the websockets clients in ``BENCH_VENV``
(/tmp/bench-venv, made by ``bench/setup.sh``).
"""
from __future__ import annotations

import sys

# The wsframework worker is a gevent program: patch before anything else.
if (__name__ == "__main__" and sys.argv[1:2] == ["worker"] and len(sys.argv) > 2
        and sys.argv[2].startswith("wsframework")):
    from gevent import monkey
    monkey.patch_all()

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
WORK = Path(os.environ.get("BENCH_HOME") or Path(os.environ.get("TMPDIR", "/tmp")) / "wsbench")
VENV = Path(os.environ.get("BENCH_VENV", "/tmp/bench-venv"))
WSF_VENV = Path(os.environ.get("BENCH_WSF_VENV", "/tmp/bench-wsf-venv"))
NODE = os.environ.get("BENCH_NODE", "node")
MAX_SIZE = 16 << 20

# name: (venv, extra environment)
CLIENTS = {
    "wsframework": (WSF_VENV, {}),
    "wsframework-pure": (WSF_VENV, {"WSFRAMEWORK_NO_SPEEDUPS": "1"}),
    "websockets": (VENV, {}),
    "websockets-uvloop": (VENV, {}),
    "websockets-sync": (VENV, {}),
}
DEFAULT_CLIENTS = ["wsframework", "wsframework-pure", "websockets", "websockets-uvloop",
                   "websockets-sync"]
SCENARIOS = ["echo_rtt", "echo_pipelined", "bulk_1m"]


def printable(n: int) -> bytes:
    """n bytes of 'a' + offset % 26, as the load client (wsload) sends."""
    alphabet = bytes(range(97, 97 + 26))
    return (alphabet * (n // 26 + 1))[:n]


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_busy() -> float:
    """Busy seconds of all CPUs together (user, nice, system, irq, softirq), /proc/stat."""
    f = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return sum(int(f[i]) for i in (1, 2, 3, 6, 7)) / os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int | None) -> float | None:
    """utime + stime of a process, seconds (None if unreadable)."""
    if not pid:
        return None
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


# =========================================================================== worker
# One process per measurement: opens the connections, runs the scenario,
# prints one JSON line.  The measured window is the time between the two
# flips of State.measuring; echoes completed inside it are counted.

class State:
    def __init__(self) -> None:
        self.measuring = False
        self.stop = False
        self.count = 0
        self.latencies: list[float] = []
        self.stamps: list[float] = []        # bulk: completion time of every echo
        self.error: str | None = None


class Mismatch(Exception):
    pass


def check(got, want) -> None:
    if type(got) is not type(want):
        raise Mismatch(f"echo of type {type(got).__name__}, sent {type(want).__name__}")
    if got != want:
        raise Mismatch(f"echo differs: {len(got)} bytes back, {len(want)} sent")


def payload_for(scenario: str):
    if scenario == "bulk_1m":
        return printable(1 << 20)                  # binary
    return printable(32).decode("ascii")           # text


class Clock:
    """CPU readings at the start and the end of the measured window."""

    def __init__(self, server_pid: int | None) -> None:
        self.pid = server_pid
        self.t0 = time.perf_counter()
        self.c0, self.s0, self.b0 = cpu_self(), cpu_of(server_pid), cpu_busy()

    def stop(self) -> None:
        self.t1 = time.perf_counter()
        self.c1, self.s1, self.b1 = cpu_self(), cpu_of(self.pid), cpu_busy()

    def fields(self) -> dict:
        window = self.t1 - self.t0
        cpu = self.c1 - self.c0
        out: dict = {"duration_s": round(window, 4), "client_cpu_s": round(cpu, 3),
                     "client_cpu_pct": round(100 * cpu / window, 1)}
        if self.s0 is not None and self.s1 is not None:
            srv = self.s1 - self.s0
            out["server_cpu_s"] = round(srv, 3)
            out["server_cpu_pct"] = round(100 * srv / window, 1)
            # CPU used by anything but this client and server (the noise), % of one core
            out["other_cpu_pct"] = round(100 * (self.b1 - self.b0 - cpu - srv) / window, 1)
        return out


def summarize(st: State, scenario: str, clock: Clock, size: int) -> dict:
    window = clock.t1 - clock.t0
    out = clock.fields()
    if scenario == "bulk_1m":
        stamps = st.stamps
        if len(stamps) < 2:
            raise RuntimeError(f"only {len(stamps)} echo(es) in the window")
        span = stamps[-1] - stamps[0]
        n = len(stamps) - 1
        out.update(messages=n, bytes=n * size, duration_s=round(span, 4),
                   mb_per_s=round(n * size / span / 1e6, 2))
        return out
    if not st.count:
        raise RuntimeError("no echo in the window")
    lat = sorted(st.latencies)
    out.update(messages=st.count, msgs_per_s=round(st.count / window, 1),
               p50_us=round(1e6 * lat[len(lat) // 2], 1),
               p99_us=round(1e6 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1),
               mean_us=round(1e6 * statistics.fmean(lat), 1))
    return out


# --------------------------------------------------------------- blocking clients
# wsframework (greenlets) and websockets-sync (threads) share the scenario code:
# only opening, sending, receiving, closing and spawning differ.

def blocking_loops(api, conns, scenario: str, a, st: State, payload) -> list:
    perf = time.perf_counter

    def rtt(conn) -> None:
        while not st.stop:
            t = perf()
            api.send(conn, payload)
            check(api.recv(conn), payload)
            if st.measuring:
                st.count += 1
                st.latencies.append(perf() - t)

    def pipelined(conn) -> None:
        sent = deque()
        for _ in range(a.window):
            sent.append(perf())
            api.send(conn, payload)
        while sent:
            check(api.recv(conn), payload)
            t = sent.popleft()
            if st.measuring:
                st.count += 1
                st.latencies.append(perf() - t)
            if not st.stop:
                sent.append(perf())
                api.send(conn, payload)

    def bulk(conn) -> None:
        while True:
            api.send(conn, payload)
            check(api.recv(conn), payload)
            now = perf()
            if st.measuring or st.stop:
                st.stamps.append(now)
            if st.stop:
                return                 # the first echo after the window closes it

    def guarded(fn, conn):
        try:
            fn(conn)
        except Exception as exc:   # noqa: BLE001 - reported, fails the measurement
            st.error = st.error or f"{type(exc).__name__}: {exc}"
            st.stop = True

    fn = {"echo_rtt": rtt, "echo_pipelined": pipelined, "bulk_1m": bulk}[scenario]
    return [api.spawn(guarded, fn, c) for c in conns]


def run_blocking(api, a) -> dict:
    url = f"ws://127.0.0.1:{a.port}/echo"
    n = a.conns if a.scenario == "echo_rtt" else 1
    conns = [api.connect(url) for _ in range(n)]
    st = State()
    payload = payload_for(a.scenario)
    handles = blocking_loops(api, conns, a.scenario, a, st, payload)
    api.sleep(a.warmup)
    clock = Clock(a.server_pid)
    st.measuring = True
    api.sleep(a.duration)
    st.measuring = False
    clock.stop()
    st.stop = True
    api.join(handles, 30)
    for c in conns:
        api.close(c)
    if st.error:
        raise RuntimeError(st.error)
    return summarize(st, a.scenario, clock, len(payload))


class WsframeworkAPI:
    def __init__(self) -> None:
        import gevent
        import wsframework
        from wsframework.protocol import masking
        self.gevent, self.wsframework = gevent, wsframework
        self.info = {"wsframework": wsframework.__version__, "speedups": bool(masking.SPEEDUPS),
                     "gevent": gevent.__version__}

    def connect(self, url):
        return self.wsframework.connect(url, permessage_deflate=False,
                                        max_received_frame_size=MAX_SIZE,
                                        max_received_message_size=MAX_SIZE)

    def send(self, conn, data) -> None:
        conn.send(data)

    def recv(self, conn):
        message = conn.receive()
        if message is None:
            raise RuntimeError("connection closed")
        return message.data

    def close(self, conn) -> None:
        conn.close()
        conn.wait_closed(5)

    def spawn(self, fn, *args):
        return self.gevent.spawn(fn, *args)

    def join(self, handles, timeout) -> None:
        self.gevent.joinall(handles, timeout=timeout)

    def sleep(self, seconds) -> None:
        self.gevent.sleep(seconds)


class WebsocketsSyncAPI:
    def __init__(self) -> None:
        import threading

        import websockets
        from websockets.sync.client import connect
        self.threading, self._connect = threading, connect
        self.info = {"websockets": websockets.__version__}

    def connect(self, url):
        return self._connect(url, compression=None, max_size=MAX_SIZE)

    def send(self, conn, data) -> None:
        conn.send(data)

    def recv(self, conn):
        return conn.recv()

    def close(self, conn) -> None:
        conn.close()

    def spawn(self, fn, *args):
        t = self.threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        return t

    def join(self, handles, timeout) -> None:
        deadline = time.monotonic() + timeout
        for t in handles:
            t.join(max(0.0, deadline - time.monotonic()))

    def sleep(self, seconds) -> None:
        time.sleep(seconds)


# --------------------------------------------------------------- asyncio client

async def run_asyncio(a) -> dict:
    import asyncio

    import websockets
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{a.port}/echo"
    n = a.conns if a.scenario == "echo_rtt" else 1
    conns = [await connect(url, compression=None, max_size=MAX_SIZE) for _ in range(n)]
    st = State()
    payload = payload_for(a.scenario)
    perf = time.perf_counter

    async def rtt(ws) -> None:
        while not st.stop:
            t = perf()
            await ws.send(payload)
            check(await ws.recv(), payload)
            if st.measuring:
                st.count += 1
                st.latencies.append(perf() - t)

    async def pipelined(ws) -> None:
        sent = deque()
        for _ in range(a.window):
            sent.append(perf())
            await ws.send(payload)
        while sent:
            check(await ws.recv(), payload)
            t = sent.popleft()
            if st.measuring:
                st.count += 1
                st.latencies.append(perf() - t)
            if not st.stop:
                sent.append(perf())
                await ws.send(payload)

    async def bulk(ws) -> None:
        while True:
            await ws.send(payload)
            check(await ws.recv(), payload)
            now = perf()
            if st.measuring or st.stop:
                st.stamps.append(now)
            if st.stop:
                return

    async def guarded(fn, ws):
        try:
            await fn(ws)
        except Exception as exc:   # noqa: BLE001
            st.error = st.error or f"{type(exc).__name__}: {exc}"
            st.stop = True

    fn = {"echo_rtt": rtt, "echo_pipelined": pipelined, "bulk_1m": bulk}[a.scenario]
    tasks = [asyncio.create_task(guarded(fn, ws)) for ws in conns]
    await asyncio.sleep(a.warmup)
    clock = Clock(a.server_pid)
    st.measuring = True
    await asyncio.sleep(a.duration)
    st.measuring = False
    clock.stop()
    st.stop = True
    await asyncio.wait(tasks, timeout=30)
    for ws in conns:
        await ws.close()
    if st.error:
        raise RuntimeError(st.error)
    out = summarize(st, a.scenario, clock, len(payload))
    out["info"] = {"websockets": websockets.__version__}
    return out


def worker(argv) -> int:
    p = argparse.ArgumentParser(prog="client.py worker")
    p.add_argument("client", choices=list(CLIENTS))
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server-pid", type=int)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--conns", type=int, default=50)
    p.add_argument("--window", type=int, default=200)
    a = p.parse_args(argv)
    try:
        if a.client.startswith("wsframework"):
            api = WsframeworkAPI()
            out = run_blocking(api, a)
            out["info"] = api.info
        elif a.client == "websockets-sync":
            api = WebsocketsSyncAPI()
            out = run_blocking(api, a)
            out["info"] = api.info
        else:
            import asyncio
            if a.client == "websockets-uvloop":
                import uvloop
                out = uvloop.run(run_asyncio(a))
                out["info"]["uvloop"] = uvloop.__version__
            else:
                out = asyncio.run(run_asyncio(a))
    except Exception as exc:   # noqa: BLE001 - one JSON line either way
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps(out), flush=True)
    return 0


# =========================================================================== driver

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on {port} within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, to the server's own process group (we started it)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            continue


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait until the machine's CPU use over one second (nothing of ours runs
    then) is below ``limit`` % of one core, at most ``timeout`` s; return it."""
    deadline = time.monotonic() + timeout
    while True:
        b0 = cpu_busy()
        time.sleep(1)
        busy = 100 * (cpu_busy() - b0)
        if busy <= limit or time.monotonic() > deadline:
            return busy
        time.sleep(2)


def measure(client: str, scenario: str, rep: int, a, run_id: str, logdir: Path) -> dict:
    port = free_port()
    rec: dict = {"type": "result", "run_id": run_id, "rep": rep, "client": client,
                 "scenario": scenario, "ok": False, "error": None}
    log = logdir / f"ws.{client}.{scenario}.r{rep}.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            ["taskset", "-c", a.server_cpu, NODE, "servers/ws_server.js", str(port)],
            cwd=HERE, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "NODE_PATH": str(WORK / "node_modules")}, start_new_session=True)
    try:
        wait_listening(port, server)
        time.sleep(0.3)
        venv, extra = CLIENTS[client]
        argv = ["taskset", "-c", a.client_cpu, str(venv / "bin" / "python"), str(Path(__file__).resolve()),
                "worker", client, scenario, "--port", str(port), "--server-pid", str(server.pid),
                "--duration", str(a.duration), "--warmup", str(a.warmup), "--conns", str(a.conns),
                "--window", str(a.window)]
        la0 = os.getloadavg()[0]
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=a.duration + a.warmup + 120,
                            env={**os.environ, **extra}, cwd=PROJECT)
        rec["loadavg"] = [la0, os.getloadavg()[0]]
        if cp.stderr.strip():
            rec["stderr"] = cp.stderr.strip()[-2000:]
        try:
            rec["result"] = json.loads(cp.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise RuntimeError(f"client printed no result (rc={cp.returncode}): {cp.stderr[-500:]}")
        if rec["result"].get("error") or cp.returncode:
            raise RuntimeError(rec["result"].get("error") or f"client exit {cp.returncode}")
        if server.poll() is not None:
            raise RuntimeError(f"server died (exit {server.returncode})")
        rec["ok"] = True
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        rec["error"] = str(exc)
    finally:
        stop_server(server)
    return rec


def summary_line(rec: dict) -> str:
    r = rec.get("result") or {}
    head = "mb_per_s" if rec["scenario"] == "bulk_1m" else "msgs_per_s"
    parts = [f"{head}={r[head]:.6g}"] if isinstance(r.get(head), (int, float)) else []
    for k in ("client_cpu_pct", "server_cpu_pct", "other_cpu_pct"):
        if isinstance(r.get(k), (int, float)):
            parts.append(f"{k.split('_')[0]}{'_cpu' if k != 'other_cpu_pct' else ''}={r[k]:.0f}%")
    if not rec["ok"]:
        parts.append(f"ERROR: {rec['error']}")
    return f"[r{rec['rep']}] {rec['client']:<18} {rec['scenario']:<15} " + " ".join(parts)


# ---------------------------------------------------------------- table

HEADLINE = {"echo_rtt": ("msgs_per_s", "msgs/s"), "echo_pipelined": ("msgs_per_s", "msgs/s"),
            "bulk_1m": ("mb_per_s", "MB/s")}


def med(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def render(rows: list[list[str]], md: bool) -> str:
    if md:
        out = ["| " + " | ".join(rows[0]) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
        return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i])
                               for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def table(meta: dict, results: list[dict], baseline: str, md: bool) -> str:
    clients = [c for c in meta["clients"] if any(r["client"] == c for r in results)]
    scen = [s for s in meta["scenarios"] if any(r["scenario"] == s for r in results)]
    cells: dict = {}
    for r in results:
        c = cells.setdefault((r["client"], r["scenario"]), {"ok": [], "failed": 0})
        if r.get("ok"):
            c["ok"].append(r["result"])
        else:
            c["failed"] += 1

    def value(cl, s, key):
        c = cells.get((cl, s))
        return None if c is None else med([r.get(key) for r in c["ok"]])

    def fmt(v, f="{:,.0f}"):
        return "-" if v is None else f.format(v)

    def with_ratio(cl, s):
        key = HEADLINE[s][0]
        v, base = value(cl, s, key), value(baseline, s, key)
        c = cells.get((cl, s))
        if v is None:
            return "FAIL" if c and c["failed"] else "-"
        cell = fmt(v)
        if base and cl != baseline:
            cell += f" ({v / base:.2f}x)"
        if c["failed"]:
            cell += f" [{c['failed']} failed]"
        return cell

    reps = meta.get("reps")
    blocks = []
    rows = [["client"] + [f"{s}: {HEADLINE[s][1]}" for s in scen]]
    rows += [[cl] + [with_ratio(cl, s) for s in scen] for cl in clients]
    title = f"client summary: median of {reps} repetition(s), ratio to {baseline}"
    blocks.append((f"**{title}**\n\n" if md else title + "\n") + render(rows, md))
    p = meta["params"]
    titles = {"echo_rtt": f"echo_rtt: {p['conns']} connections, closed loop, 32 B text",
              "echo_pipelined": f"echo_pipelined: 1 connection, {p['window']} x 32 B text in flight",
              "bulk_1m": "bulk_1m: 1 connection, 1 MiB binary round trips"}
    for s in scen:
        if s == "bulk_1m":
            head = ["client", "MB/s", "client CPU %", "client CPU-s/GB", "server CPU %"]
        else:
            head = ["client", "msgs/s", "p50 us", "p99 us", "client CPU %", "client CPU-s/100k msgs",
                    "server CPU %"]
        rows = [head]
        for cl in clients:
            c = cells.get((cl, s))
            oks = c["ok"] if c else []
            per = med([r["client_cpu_s"] / r["messages"] * (1e5 if s != "bulk_1m" else 1e9 / (1 << 20))
                       for r in oks if r.get("messages")])
            row = [cl, with_ratio(cl, s)]
            if s != "bulk_1m":
                row += [fmt(value(cl, s, "p50_us")), fmt(value(cl, s, "p99_us"))]
            row += [fmt(value(cl, s, "client_cpu_pct")), fmt(per, "{:.2f}"),
                    fmt(value(cl, s, "server_cpu_pct"))]
            rows.append(row)
        blocks.append((f"**{titles[s]}**\n\n" if md else titles[s] + "\n") + render(rows, md))
    fails = [f"{r['client']} {r['scenario']} rep {r['rep']}: {r['error']}" for r in results if not r["ok"]]
    if fails:
        blocks.append("failed measurements:\n" + "\n".join("- " + f for f in fails))
    la = [x for r in results for x in r.get("loadavg", [])]
    info: dict = {}
    for r in results:
        info.setdefault(r["client"], {}).update((r.get("result") or {}).get("info") or {})
    other = sorted(r["result"]["other_cpu_pct"] for r in results
                   if r.get("ok") and r["result"].get("other_cpu_pct") is not None)
    cond = [f"run {meta['run_id']}; server: npm ws {meta.get('versions', {}).get('npm:ws', '?')} on node "
            f"{meta.get('versions', {}).get('node', '?')}, pinned to CPU {meta['pinning']['server_cpu']}; "
            f"clients pinned to CPU {meta['pinning']['client_cpu']}",
            f"{p['duration']:g} s windows after {p['warmup']:g} s warm-up",
            "clients: " + "; ".join(f"{cl}: " + ", ".join(f"{k} {v}" for k, v in info[cl].items())
                                    for cl in clients if info.get(cl)),
            f"wsframework checkout: {meta.get('versions', {}).get('wsf:commit', '?')}"]
    if la:
        cond.append(f"load average (1 min) around the measurements: {min(la):.2f} .. {max(la):.2f} "
                    f"(client + server add up to ~2)")
    if other:
        cond.append(f"CPU used by other processes in the windows (% of one core): median "
                    f"{statistics.median(other):.0f}, max {max(other):.0f}")
    blocks.append("\n".join(("- " if md else "") + c for c in cond))
    return "\n\n".join(blocks)


def load(path: Path, run: str | None):
    metas, results = [], []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            (metas if rec.get("type") == "meta" else results).append(rec)
    if not metas:
        sys.exit(f"{path}: no run")
    meta = metas[-1] if run is None else next((m for m in metas if m["run_id"] == run), None)
    if meta is None:
        sys.exit(f"{path}: no run {run}")
    return meta, [r for r in results if r.get("run_id") == meta["run_id"] and not r.get("superseded")]


def versions() -> dict:
    v = {"kernel": platform.release(), "nproc": os.cpu_count()}
    try:
        v["node"] = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    pj = WORK / "node_modules" / "ws" / "package.json"
    if pj.exists():
        v["npm:ws"] = json.loads(pj.read_text())["version"]
    try:
        v["wsf:commit"] = subprocess.run(["git", "-C", str(PROJECT), "describe", "--always", "--dirty"],
                                         capture_output=True, text=True).stdout.strip() or None
    except OSError:
        pass
    return v


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return worker(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS),
                   help="comma-separated, from: " + ", ".join(CLIENTS))
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help="from: " + ", ".join(SCENARIOS))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=5, help="measured seconds (5)")
    p.add_argument("--warmup", type=float, default=1, help="unmeasured seconds first (1)")
    p.add_argument("--conns", type=int, default=50, help="echo_rtt connections (50)")
    p.add_argument("--window", type=int, default=200, help="echo_pipelined messages in flight (200)")
    p.add_argument("--server-cpu", default="0")
    p.add_argument("--client-cpu", default="1")
    p.add_argument("--out", type=Path, default=WORK / "results" / "client.jsonl")
    p.add_argument("--baseline", default="websockets")
    p.add_argument("--md", action="store_true", help="Markdown tables")
    p.add_argument("--table", type=Path, metavar="FILE", help="only render FILE's run (--run) again")
    p.add_argument("--run", help="with --table: run id (default: the last)")
    p.add_argument("--max-other", type=float, metavar="PCT",
                   help="wait (at most --quiet-timeout s) until other processes use less than PCT%% "
                        "of a core before each measurement, and measure again when they took more "
                        "in the window (default: neither)")
    p.add_argument("--quiet-timeout", type=float, default=300,
                   help="with --max-other: longest wait for a quiet machine, s (300)")
    p.add_argument("--retries", type=int, default=3, help="with --max-other: at most this many (3)")
    p.add_argument("--retry-pause", type=float, default=3, help="seconds before measuring again (3)")
    p.add_argument("--note", default="")
    a = p.parse_args(argv)

    if a.table:
        meta, results = load(a.table, a.run)
        print(table(meta, results, a.baseline, a.md))
        return 0
    clients = [c for c in a.clients.split(",") if c]
    scen = [s for s in a.scenarios.split(",") if s]
    bad = [c for c in clients if c not in CLIENTS] + [s for s in scen if s not in SCENARIOS]
    if bad:
        p.error(f"unknown client(s)/scenario(s): {bad}")
    if not (WORK / "node_modules" / "ws").exists():
        p.error(f"no {WORK}/node_modules/ws: run bash bench/setup.sh first")
    for c in clients:
        if not (CLIENTS[c][0] / "bin" / "python").exists():
            p.error(f"{c} needs {CLIENTS[c][0]}: run bash bench/setup.sh, then "
                    "python3 bench/run.py wsframework --reps 1 --scenarios echo_rtt once "
                    "(creates the wsframework venv)")

    run_id = "client-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = WORK / "results" / "logs" / run_id
    logdir.mkdir(parents=True, exist_ok=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"type": "meta", "run_id": run_id,
            "ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "clients": clients, "scenarios": scen, "reps": a.reps, "server": "ws (servers/ws_server.js)",
            "pinning": {"server_cpu": a.server_cpu, "client_cpu": a.client_cpu},
            "params": {k: getattr(a, k) for k in ("duration", "warmup", "conns", "window", "max_other")},
            "loadavg": list(os.getloadavg()), "versions": versions(), "note": a.note}
    with open(a.out, "a") as f:
        f.write(json.dumps(meta) + "\n")
    print(f"run {run_id}: {len(clients)} client(s) x {len(scen)} scenario(s) x {a.reps} rep(s) -> {a.out}",
          flush=True)
    # SIGTERM unwinds like Ctrl-C: subprocess.run kills the worker, measure() stops the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    for rep in range(1, a.reps + 1):
        k = (rep - 1) % len(clients)
        for client in clients[k:] + clients[:k]:
            for scenario in scen:
                for attempt in range(a.retries + 1):
                    if a.max_other is not None:
                        wait_quiet(a.max_other, a.quiet_timeout)
                    rec = measure(client, scenario, rep, a, run_id, logdir)
                    other = (rec.get("result") or {}).get("other_cpu_pct")
                    disturbed = (a.max_other is not None and rec["ok"] and other is not None
                                 and other > a.max_other and attempt < a.retries)
                    if disturbed:
                        rec["superseded"] = f"other processes took {other:.0f}% > {a.max_other:g}%"
                    with open(a.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(summary_line(rec) + ("  (disturbed: measuring again)" if disturbed else ""),
                          flush=True)
                    if not disturbed:
                        break
                    time.sleep(a.retry_pause)
                results.append(rec)
    print()
    print(table(meta, results, a.baseline if a.baseline in clients else clients[0], a.md))
    return 1 if any(not r["ok"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
