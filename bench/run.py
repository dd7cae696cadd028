#!/usr/bin/env python3
"""Run the WebSocket benchmark scenarios against one or more servers.

For every repetition, server and scenario the runner starts a fresh server
process pinned to one CPU, runs the load client (wsload/wsload.c, built into
BENCH_HOME) pinned to the other, stops the server and appends one JSON line
to the results file.  The servers are interleaved within each repetition
(and the order rotates between repetitions), so load from other processes on
the machine hits them alike.

    bash bench/run.sh                     # setup.sh, then this: every server, 3 reps
    python3 bench/run.py ws websockets --reps 1 --scenarios echo_rtt,fanout
    python3 bench/run.py --list           # known servers and scenarios

wsframework is the checkout this file belongs to ({project} in the registry;
--project DIR names another one).  Before a run that includes it, the runner
installs it with `pip install -e` into a venv of its own (BENCH_WSF_VENV,
default /tmp/bench-wsf-venv; {wsf_python} in the registry), so the library's
dependencies never touch the venv of the peer servers (--no-install skips
that step when the venv is already current).

See bench/README.md.  Standard library only; run setup.sh once first.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REGISTRY = BENCH / "servers" / "registry.txt"
CLIENT_SRC = BENCH / "wsload" / "wsload.c"
LIMIT_SRC = BENCH / "servers" / "limit_server.c"
PROJECT = BENCH.parent
# Everything the runner writes (node_modules, the built client, results, logs) goes to a
# writable work folder, so this folder itself may be read-only.
WORK = Path(os.environ.get("BENCH_HOME") or Path(os.environ.get("TMPDIR", "/tmp")) / "wsbench")
CLIENT = WORK / "wsload"
LIMIT = WORK / "limit_server"
DEFAULT_OUT = WORK / "results" / "results.jsonl"
PORTS = range(9300, 9400)
VENV = Path(os.environ.get("BENCH_VENV", "/tmp/bench-venv"))
WSF_VENV = Path(os.environ.get("BENCH_WSF_VENV", "/tmp/bench-wsf-venv"))
NODE = os.environ.get("BENCH_NODE", "node")

SCENARIOS = ["echo_rtt", "echo_pipelined", "bulk_1m", "bulk_16m", "fanout", "idle", "echo_rtt_5k"]


def client_args(scenario: str, a: argparse.Namespace) -> list[str]:
    """wsload arguments for one scenario."""
    timed = ["--duration", str(a.duration), "--warmup", str(a.warmup)]
    if scenario == "echo_rtt":
        return ["echo_rtt", "--conns", str(a.conns), "--size", "32", *timed]
    if scenario == "echo_rtt_5k":
        # cost as work grows: the same closed loops on many more connections
        return ["echo_rtt", "--conns", str(a.many_conns), "--size", "32", *timed]
    if scenario == "echo_pipelined":
        return ["echo_pipelined", "--window", str(a.window), "--size", "32", *timed]
    if scenario == "bulk_1m":
        return ["bulk", "--size", str(1 << 20), *timed]
    if scenario == "bulk_16m":
        return ["bulk", "--size", str(16 << 20), *timed, "--close-timeout", "30"]
    if scenario == "fanout":
        return ["fanout", "--conns", str(a.fanout_clients), "--rounds", str(a.rounds),
                "--warmup-rounds", "3", "--size", "32"]
    if scenario == "idle":
        return ["idle", "--conns", str(a.idle_conns), "--hold", str(a.hold)]
    raise ValueError(scenario)


# --------------------------------------------------------------------------- registry

def load_registry() -> dict[str, dict]:
    """servers/registry.txt: `NAME [skip=SCENARIO,...] COMMAND...` per line."""
    servers: dict[str, dict] = {}
    for line in REGISTRY.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        skip: list[str] = []
        if rest.startswith("skip="):
            opt, _, rest = rest.partition(" ")
            skip = [s for s in opt[len("skip="):].split(",") if s]
        servers[name] = {"cmd": rest.strip(), "skip": skip}
    return servers


def server_argv(template: str, port: int, project: Path) -> list[str]:
    cmd = template.format(port=port, python=VENV / "bin" / "python", node=NODE, project=project,
                          wsf_python=WSF_VENV / "bin" / "python", bench_home=WORK)
    return shlex.split(cmd)


def install_project(project: Path) -> None:
    """`pip install -e project` into WSF_VENV (created when missing)."""
    py = WSF_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating venv {WSF_VENV} for {project}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(WSF_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    print(f"pip install -e {project} into {WSF_VENV}", file=sys.stderr, flush=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-e",
                    str(project)], check=True)


# --------------------------------------------------------------------------- /proc helpers

def listening_inode(port: int) -> str | None:
    """Inode of a socket listening on 127.0.0.1/0.0.0.0:port, from /proc/net/tcp."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                return f[9]
    return None


def pid_owning(inode: str, first: int) -> int | None:
    """The process holding socket inode: `first` if it does, else any process."""
    target = f"socket:[{inode}]"
    candidates = [first] + [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != first]
    for pid in candidates:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
        except OSError:
            continue
    return None


def port_is_free(port: int) -> bool:
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return listening_inode(port) is None
    except OSError:
        return False
    finally:
        s.close()


def cpu_times() -> dict[str, list[int]]:
    """Per-CPU jiffies from /proc/stat: {cpuN: [user, nice, system, idle, iowait, irq, softirq, steal]}."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            f = line.split()
            out[f[0]] = [int(x) for x in f[1:9]]
    return out


def process_cpu(pid: int) -> float | None:
    """utime+stime of a process (all its threads, dead ones included), seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    f = stat.rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak since the process started) of pid, KiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def wait_quiet(limit: float, timeout: float) -> float:
    """Wait until the machine's CPU use over one second (nothing of ours runs
    then), steal time included, is below ``limit`` % of one core, at most
    ``timeout`` s; return it."""
    deadline = time.monotonic() + timeout
    hz = os.sysconf("SC_CLK_TCK")
    while True:
        t0 = cpu_times()
        time.sleep(1)
        t1 = cpu_times()
        busy = 100 * sum(sum(t1[k][i] - t0[k][i] for i in (0, 1, 2, 5, 6, 7)) for k in t1) / hz
        if busy <= limit or time.monotonic() > deadline:
            return busy
        time.sleep(2)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    for limit in (max(want, 65536), want):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return limit
        except (ValueError, OSError):
            continue
    return soft


# --------------------------------------------------------------------------- environment

def build_client() -> None:
    """Build the load client and the limit server when missing or older than their source."""
    cc = os.environ.get("CC", "cc")
    WORK.mkdir(parents=True, exist_ok=True)
    for binary, src in ((CLIENT, CLIENT_SRC), (LIMIT, LIMIT_SRC)):
        if binary.exists() and binary.stat().st_mtime >= src.stat().st_mtime:
            continue
        subprocess.run([cc, "-O2", "-Wall", "-o", str(binary), str(src), "-lm"], check=True)


def venv_versions(py: Path, prefix: str = "") -> dict:
    code = ("import sys, json, importlib.metadata as m\n"
            "out = {'python': sys.version.split()[0]}\n"
            "for p in ('websockets', 'gevent', 'gevent-websocket', 'greenlet', 'picows', 'aiofastnet',"
            " 'uvloop', 'wsframework'):\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    try:
        got = json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True,
                                        check=True).stdout)
        return {prefix + k: val for k, val in got.items()}
    except (OSError, subprocess.CalledProcessError, json.JSONDecodeError) as e:
        return {prefix + "python_error": str(e)}


def versions(wsf: Path | None = None) -> dict:
    v: dict = {"kernel": platform.release()}
    try:
        v["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    v["nproc"] = os.cpu_count()
    v.update(venv_versions(VENV / "bin" / "python"))
    if wsf is not None:
        v.update(venv_versions(WSF_VENV / "bin" / "python", "wsf:"))
        try:
            v["wsf:commit"] = subprocess.run(["git", "-C", str(wsf), "describe", "--always", "--dirty"],
                                             capture_output=True, text=True).stdout.strip() or None
        except OSError:
            pass
    try:
        v["node"] = subprocess.run([NODE, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    for pkg in ("ws", "websocket", "bufferutil", "utf-8-validate"):
        pj = WORK / "node_modules" / pkg / "package.json"
        if pj.exists():
            v["npm:" + pkg] = json.loads(pj.read_text())["version"]
    try:
        v["cc"] = subprocess.run([os.environ.get("CC", "cc"), "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    return v


# --------------------------------------------------------------------------- one measurement

class Ports:
    def __init__(self) -> None:
        self.i = int(time.time()) % len(PORTS)

    def next(self) -> int:
        for _ in range(len(PORTS)):
            port = PORTS[self.i % len(PORTS)]
            self.i += 1
            if port_is_free(port):
                return port
        raise RuntimeError("no free port in 9300-9399")


def stop(proc: subprocess.Popen) -> int | None:
    """Stop the server's process group (ours: started with a new session)."""
    if proc.poll() is not None:
        return proc.returncode
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    return None


def run_one(name: str, template: str, scenario: str, rep: int, a, ports: Ports, logdir: Path,
            run_id: str) -> dict:
    port = ports.next()
    argv = ["taskset", "-c", str(a.server_cpu)] + server_argv(template, port, a.project)
    log_path = logdir / f"{name}.{scenario}.r{rep}.log"
    rec: dict = {"type": "result", "run_id": run_id, "rep": rep, "server": name,
                 "scenario": scenario, "port": port, "ok": False, "error": None}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=BENCH, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "NODE_PATH": str(WORK / "node_modules")},
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + a.start_timeout
        pid = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode} before listening")
            inode = listening_inode(port)
            if inode:
                pid = pid_owning(inode, proc.pid)
                if pid:
                    break
            time.sleep(0.05)
        if not pid:
            raise RuntimeError(f"server did not listen on {port} within {a.start_timeout}s")
        time.sleep(a.settle)
        rec["server_pid"] = pid
        cargs = client_args(scenario, a) + ["--port", str(port), "--server-pid", str(pid)]
        rec["client_args"] = cargs
        la0, cpu0, st0, ch0, t0 = loadavg(), process_cpu(pid), cpu_times(), children_cpu(), time.monotonic()
        rec["ts"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        cp = subprocess.run(["taskset", "-c", str(a.client_cpu), str(CLIENT), *cargs],
                            capture_output=True, text=True, timeout=a.client_timeout)
        t1, ch1, st1, cpu1, la1 = time.monotonic(), children_cpu(), cpu_times(), process_cpu(pid), loadavg()
        mem = rss_kib(pid)
        if cp.stderr.strip():
            rec["client_stderr"] = cp.stderr.strip()[-2000:]
        try:
            rec["result"] = json.loads(cp.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            raise RuntimeError(f"client printed no result (rc={cp.returncode}): {cp.stderr[-500:]}")
        wall = t1 - t0
        hz = os.sysconf("SC_CLK_TCK")
        busy = {k: (sum(st1[k][i] - st0[k][i] for i in (0, 1, 2, 5, 6))) / hz for k in st1}
        steal = sum(st1[k][7] - st0[k][7] for k in st1) / hz
        srv = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None
        cli = ch1 - ch0
        rec["env"] = {
            "wall_s": round(wall, 3),
            "loadavg_before": la0, "loadavg_after": la1,
            "cpu_busy_pct": {k: round(100 * v / wall, 1) for k, v in busy.items()},
            "steal_pct": round(100 * steal / wall, 1),
            "server_cpu_s": None if srv is None else round(srv, 3),
            "client_cpu_s": round(cli, 3),
            # the server's resident memory once the client is done (VmRSS) and its
            # peak over the server's life, i.e. this scenario (VmHWM)
            "server_rss_kib": mem.get("VmRSS"), "server_peak_rss_kib": mem.get("VmHWM"),
            # CPU used on the machine by anything but this server and client (and the
            # kernel work not charged to them), in percent of one core
            "other_cpu_pct": None if srv is None else round(100 * (sum(busy.values()) - srv - cli) / wall, 1),
        }
        if proc.poll() is not None:
            raise RuntimeError(f"server died during the scenario (exit {proc.returncode})")
        err = rec["result"].get("error")
        if cp.returncode != 0 or err:
            raise RuntimeError(f"client: {err or 'exit ' + str(cp.returncode)}")
        rec["ok"] = True
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        rec["error"] = str(e)
    finally:
        rc = stop(proc)
        if rc not in (None, 0, -signal.SIGTERM):
            rec["server_exit"] = rc
    rec["server_log"] = str(log_path)
    return rec


def summary_line(rec: dict) -> str:
    r = rec.get("result") or {}
    keys = {"echo_rtt": ("msgs_per_s", "p99_us"), "echo_rtt_5k": ("msgs_per_s", "p99_us"),
            "echo_pipelined": ("msgs_per_s",),
            "bulk_1m": ("mb_per_s",), "bulk_16m": ("mb_per_s",),
            "fanout": ("deliveries_per_s", "round_p99_ms"),
            "idle": ("handshakes_per_s", "rss_kib_per_conn")}[rec["scenario"]]
    parts = [f"{k}={r[k]:.6g}" for k in keys if isinstance(r.get(k), (int, float))]
    for k in ("server_cpu_pct", "client_cpu_pct"):
        if isinstance(r.get(k), (int, float)):
            parts.append(f"{k.split('_')[0]}_cpu={r[k]:.0f}%")
    env = rec.get("env") or {}
    if env.get("other_cpu_pct") is not None:
        parts.append(f"other={env['other_cpu_pct']:.0f}%")
    if not rec["ok"]:
        parts.append(f"ERROR: {rec['error']}")
    return f"[r{rec['rep']}] {rec['server']:<18} {rec['scenario']:<15} " + " ".join(parts)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    servers = load_registry()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("servers", nargs="*", help="server names from servers/registry.txt (default: all)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help="comma-separated subset of: " + ", ".join(SCENARIOS))
    p.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file to append to")
    p.add_argument("--duration", type=float, default=5, help="measured seconds per timed scenario (5)")
    p.add_argument("--warmup", type=float, default=1, help="unmeasured seconds before each window (1)")
    p.add_argument("--conns", type=int, default=50, help="echo_rtt connections (50)")
    p.add_argument("--many-conns", type=int, default=5000, help="echo_rtt_5k connections (5000)")
    p.add_argument("--window", type=int, default=200, help="echo_pipelined messages in flight (200)")
    p.add_argument("--fanout-clients", type=int, default=1000, help="fanout clients (1000)")
    p.add_argument("--rounds", type=int, default=50, help="fanout measured rounds (50)")
    p.add_argument("--idle-conns", type=int, default=10000, help="idle connections (10000)")
    p.add_argument("--hold", type=float, default=2, help="idle: seconds to hold (2)")
    p.add_argument("--server-cpu", default="0", help="CPU list for the server (taskset -c), default 0")
    p.add_argument("--client-cpu", default="1", help="CPU list for the client (taskset -c), default 1")
    p.add_argument("--settle", type=float, default=0.3, help="pause after the server listens (0.3 s)")
    p.add_argument("--start-timeout", type=float, default=30)
    p.add_argument("--client-timeout", type=float, default=240)
    p.add_argument("--max-other", type=float, metavar="PCT",
                   help="wait (at most --quiet-timeout s) until other processes use less than PCT%% "
                        "of one core before each measurement, and measure again (at most --retries "
                        "times) when they (or steal time) took more during it; the disturbed record "
                        "stays in the file marked `superseded` and table.py leaves it out")
    p.add_argument("--quiet-timeout", type=float, default=120,
                   help="with --max-other: longest wait for a quiet machine, s (120)")
    p.add_argument("--retries", type=int, default=2, help="with --max-other: at most this many (2)")
    p.add_argument("--baseline", default="websockets", help="baseline column of the final table")
    p.add_argument("--no-table", action="store_true", help="do not print the table at the end")
    p.add_argument("--no-skip", action="store_true", help="ignore the skip= lists of the registry")
    p.add_argument("--note", default="", help="free text stored in the run's meta record")
    p.add_argument("--project", type=Path, default=PROJECT,
                   help="the wsframework checkout: {project} in the registry (default: this one, "
                        f"{PROJECT})")
    p.add_argument("--no-install", action="store_true",
                   help="do not `pip install -e` the checkout into BENCH_WSF_VENV ({wsf_python}) first")
    p.add_argument("--extra-server", action="append", default=[], metavar="NAME=COMMAND",
                   help="a server for this run only, as a registry line would give it (repeatable); "
                        "e.g. an older wsframework checkout in its own venv, to measure a change "
                        "before and after within one run")
    p.add_argument("--list", action="store_true", help="list servers and scenarios, then exit")
    p.add_argument("--dry-run", action="store_true",
                   help="check the arguments, print what would run, then exit (installs nothing)")
    a = p.parse_args(argv)
    for extra in a.extra_server:
        name, sep, cmd = extra.partition("=")
        if not sep or not name or not cmd.strip():
            p.error(f"--extra-server {extra!r}: expected NAME=COMMAND")
        servers[name.strip()] = {"cmd": cmd.strip(), "skip": []}

    if a.list:
        for n, c in servers.items():
            skip = f"  (skips {','.join(c['skip'])})" if c["skip"] else ""
            print(f"{n:<20} {c['cmd']}{skip}")
        print("scenarios:", " ".join(SCENARIOS))
        return 0
    names = list(servers) if a.servers in ([], ["all"]) else a.servers
    unknown = [n for n in names if n not in servers]
    scen = [s for s in a.scenarios.split(",") if s]
    bad = [s for s in scen if s not in SCENARIOS]
    if unknown or bad:
        p.error(f"unknown server(s) {unknown} or scenario(s) {bad}; see --list")

    a.project = a.project.resolve()
    if a.dry_run:
        print(f"would run {len(names)} server(s) x {len(scen)} scenario(s) x {a.reps} rep(s): "
              f"{' '.join(names)} | {' '.join(scen)} -> {a.out}")
        return 0
    uses_wsf = [n for n in names if "{wsf_python}" in servers[n]["cmd"]]
    if uses_wsf:
        if not a.no_install:
            install_project(a.project)
        elif not (WSF_VENV / "bin" / "python").exists():
            p.error(f"{', '.join(uses_wsf)} need(s) {WSF_VENV}: run once without --no-install")
    build_client()
    nofile = raise_nofile()
    if "idle" in scen and nofile < a.idle_conns + 200:
        # the client and the server each hold one descriptor per connection
        capped = max(nofile - 200, 100)
        print(f"warning: open-file limit {nofile} is too low for {a.idle_conns} idle connections; "
              f"idle uses {capped}", file=sys.stderr)
        a.idle_conns = capped
    run_id = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = WORK / "results" / "logs" / run_id
    logdir.mkdir(parents=True, exist_ok=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "type": "meta", "run_id": run_id,
        "ts": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "servers": {n: servers[n]["cmd"] for n in names}, "scenarios": scen, "reps": a.reps,
        "skipped": {n: servers[n]["skip"] for n in names if servers[n]["skip"]},
        "pinning": {"server_cpu": a.server_cpu, "client_cpu": a.client_cpu},
        "params": {k: getattr(a, k) for k in ("duration", "warmup", "conns", "many_conns", "window",
                                              "fanout_clients", "rounds", "idle_conns", "hold",
                                              "max_other")},
        "nofile": nofile, "loadavg": loadavg(), "versions": versions(a.project if uses_wsf else None),
        "project": str(a.project), "note": a.note,
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(meta) + "\n")
    print(f"run {run_id}: {len(names)} server(s) x {len(scen)} scenario(s) x {a.reps} rep(s) -> {a.out}",
          flush=True)

    ports = Ports()
    failures = 0
    for rep in range(1, a.reps + 1):
        k = (rep - 1) % len(names)
        for name in names[k:] + names[:k]:
            for scenario in scen:
                if scenario in servers[name]["skip"] and not a.no_skip:
                    continue
                for attempt in range(a.retries + 1):
                    if a.max_other is not None:
                        wait_quiet(a.max_other, a.quiet_timeout)
                    rec = run_one(name, servers[name]["cmd"], scenario, rep, a, ports, logdir, run_id)
                    env = rec.get("env") or {}
                    other = env.get("other_cpu_pct")
                    if other is not None:
                        # CPU the hypervisor gave to other guests (steal) is as disturbing
                        # as other processes: on a shared VM it can take most of a core.
                        other += env.get("steal_pct") or 0
                    disturbed = (a.max_other is not None and rec["ok"] and other is not None
                                 and other > a.max_other and attempt < a.retries)
                    if disturbed:
                        rec["superseded"] = (f"other processes and steal took {other:.0f}% > "
                                             f"{a.max_other:g}%")
                    with open(a.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")
                    print(summary_line(rec) + ("  (disturbed: measuring again)" if disturbed else ""),
                          flush=True)
                    if not disturbed:
                        break
                failures += not rec["ok"]

    if not a.no_table:
        import table
        print()
        table.main(["--file", str(a.out), "--run", run_id, "--baseline",
                    a.baseline if a.baseline in names else names[0]])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
