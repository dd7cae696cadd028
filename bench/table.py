#!/usr/bin/env python3
"""Print benchmark results side by side: one column per server, medians over
repetitions, each cell with its ratio to a baseline server.

    python3 bench/table.py                          # latest run in $BENCH_HOME/results/results.jsonl
    python3 bench/table.py --run all --baseline ws  # every run in the file
    python3 bench/table.py --run 20250101-120000,20250102-090000 --md > table.md
    python3 bench/table.py --servers websockets,picows,wsframework --spread
    python3 bench/table.py --file bench/results/20261126-092746-full-run.jsonl --rows --md

--rows prints one table per scenario with a row per server (and a summary
matrix server x scenario first); the default has a column per server.

Ratios are value / baseline for every metric; the arrow in the metric name says
which way is better (^ higher, v lower).  Failed measurements are left out of
the medians; a cell whose every repetition failed reads FAIL.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

# run.py's default output (it writes under BENCH_HOME, never into the checkout)
WORK = Path(os.environ.get("BENCH_HOME") or Path(os.environ.get("TMPDIR", "/tmp")) / "wsbench")
DEFAULT_FILE = WORK / "results" / "results.jsonl"


def per(n_key: str, scale: float):
    """server CPU seconds per `scale` units of result[n_key]."""
    def f(r: dict):
        cpu, n = r.get("server_cpu_s"), r.get(n_key)
        return cpu / n * scale if cpu is not None and n else None
    return f


def key(k: str):
    return lambda r: r.get(k)


def per_core(k: str):
    """result[k] per core of server CPU: the work one fully busy core would do."""
    def f(r: dict):
        v, pct = r.get(k), r.get("server_cpu_pct")
        return v / (pct / 100) if isinstance(v, (int, float)) and pct else None
    return f


def mib(k: str):
    return lambda r: r[k] / 1024 if isinstance(r.get(k), (int, float)) else None


PEAK_RSS = ("server peak RSS MiB", mib("server_peak_rss_kib"), None, "{:,.0f}")


# scenario -> [(label, extractor, better, format)]
METRICS: dict[str, list] = {
    "echo_rtt": [
        ("msgs/s ^", key("msgs_per_s"), "hi", "{:,.0f}"),
        ("p50 latency us v", key("p50_us"), "lo", "{:,.0f}"),
        ("p99 latency us v", key("p99_us"), "lo", "{:,.0f}"),
        ("msgs/s per server core ^", per_core("msgs_per_s"), "hi", "{:,.0f}"),
        ("server CPU-s/100k msgs v", per("messages", 1e5), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "echo_rtt_5k": [
        ("msgs/s ^", key("msgs_per_s"), "hi", "{:,.0f}"),
        ("p50 latency us v", key("p50_us"), "lo", "{:,.0f}"),
        ("p99 latency us v", key("p99_us"), "lo", "{:,.0f}"),
        ("msgs/s per server core ^", per_core("msgs_per_s"), "hi", "{:,.0f}"),
        ("server CPU-s/100k msgs v", per("messages", 1e5), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "echo_pipelined": [
        ("msgs/s ^", key("msgs_per_s"), "hi", "{:,.0f}"),
        ("p50 latency us v", key("p50_us"), "lo", "{:,.0f}"),
        ("p99 latency us v", key("p99_us"), "lo", "{:,.0f}"),
        ("server CPU-s/100k msgs v", per("messages", 1e5), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "bulk_1m": [
        ("MB/s echoed ^", key("mb_per_s"), "hi", "{:,.0f}"),
        ("server CPU-s/GB v", per("bytes", 1e9), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "bulk_16m": [
        ("MB/s echoed ^", key("mb_per_s"), "hi", "{:,.0f}"),
        ("server CPU-s/GB v", per("bytes", 1e9), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "fanout": [
        ("deliveries/s ^", key("deliveries_per_s"), "hi", "{:,.0f}"),
        ("round p50 ms v", key("round_p50_ms"), "lo", "{:.1f}"),
        ("round p99 ms v", key("round_p99_ms"), "lo", "{:.1f}"),
        ("server CPU-s/100k deliveries v", per("messages", 1e5), "lo", "{:.2f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
    "idle": [
        ("handshakes/s ^", key("handshakes_per_s"), "hi", "{:,.0f}"),
        ("RSS KiB/conn v", key("rss_kib_per_conn"), "lo", "{:.1f}"),
        ("server CPU us/handshake v", per("conns_open", 1e6), "lo", "{:,.0f}"),
        ("server CPU %", key("server_cpu_pct"), None, "{:.0f}"),
        PEAK_RSS,
        ("client CPU %", key("client_cpu_pct"), None, "{:.0f}"),
    ],
}
SCENARIOS = list(METRICS)
TITLES = {
    "echo_rtt": "echo_rtt: {conns} connections, closed loop, 32 B text",
    "echo_pipelined": "echo_pipelined: 1 connection, {window} x 32 B text in flight",
    "bulk_1m": "bulk_1m: 1 connection, 1 MiB binary round trips",
    "bulk_16m": "bulk_16m: 1 connection, 16 MiB binary round trips",
    "fanout": "fanout: {fanout_clients} clients, {rounds} rounds of 32 B text to all",
    "idle": "idle: {idle_conns} connections opened and held",
    "echo_rtt_5k": "echo_rtt_5k: {many_conns} connections, closed loop, 32 B text",
}
DEFAULT_PARAMS = {"conns": 50, "many_conns": 5000, "window": 200, "fanout_clients": 1000,
                  "rounds": 50, "idle_conns": 10000}
# client CPU at or above this (% of its one core): the load client may be what limits
CLIENT_BOUND_PCT = 85


def load(path: Path, runs: str):
    metas, results = [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        (metas if rec.get("type") == "meta" else results).append(rec)
    if not metas:
        sys.exit(f"no runs in {path}")
    if runs == "latest":
        wanted = {metas[-1]["run_id"]}
    elif runs == "all":
        wanted = {m["run_id"] for m in metas}
    else:
        wanted = set(runs.split(","))
    return ([m for m in metas if m["run_id"] in wanted],
            [r for r in results if r.get("run_id") in wanted])


def collect(results: list[dict]):
    """{(server, scenario): {"ok": [result...], "failed": [error...]}}"""
    cells: dict = {}
    for r in results:
        if r.get("superseded"):
            continue                    # measured again (run.py --max-other)
        c = cells.setdefault((r["server"], r["scenario"]), {"ok": [], "failed": []})
        if r.get("ok"):
            env = r.get("env") or {}
            c["ok"].append({**r["result"], "server_rss_kib": env.get("server_rss_kib"),
                            "server_peak_rss_kib": env.get("server_peak_rss_kib")})
        else:
            c["failed"].append(r.get("error") or "failed")
    return cells


def median_of(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return (statistics.median(values), values) if values else (None, [])


def render(rows: list[list[str]], md: bool) -> str:
    if md:
        out = ["| " + " | ".join(rows[0]) + " |",
               "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        out.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def tables(metas, results, servers, baseline, md=False, spread=False) -> str:
    cells = collect(results)
    params = {}
    for m in metas:
        params.update(m.get("params", {}))
    scen_present = [s for s in SCENARIOS if any((sv, s) in cells for sv in servers)]
    blocks = []
    for s in scen_present:
        header = ["" if md else ""] + servers
        title = TITLES[s].format(**{**DEFAULT_PARAMS, **params})
        rows = [[title if not md else "metric"] + [f"{sv}" for sv in servers]]
        for label, fn, better, fmt in METRICS[s]:
            base = None
            if baseline and (baseline, s) in cells:
                base, _ = median_of([fn(r) for r in cells[(baseline, s)]["ok"]])
            row = [label]
            for sv in servers:
                c = cells.get((sv, s))
                if not c:
                    row.append("-")
                    continue
                med, vals = median_of([fn(r) for r in c["ok"]])
                if med is None:
                    row.append("FAIL" if c["failed"] else "-")
                    continue
                cell = fmt.format(med)
                if spread and len(vals) > 1 and med:
                    cell += f" ±{50 * (max(vals) - min(vals)) / abs(med):.0f}%"
                if better and base and sv != baseline:
                    cell += f" ({med / base:.2f}x)"
                if c["failed"]:
                    cell += f" [{len(c['failed'])} failed]"
                row.append(cell)
            rows.append(row)
        if md:
            blocks.append(f"**{title}**\n\n" + render(rows, md))
        else:
            blocks.append(render(rows, md))
    return "\n\n".join(blocks)


# --rows: the metrics of each scenario's table (labels of METRICS), the first is the
# headline (summary matrix, ratio to the baseline)
ROWS = {
    "echo_rtt": ["msgs/s ^", "p50 latency us v", "p99 latency us v", "server CPU %", "server peak RSS MiB"],
    "echo_pipelined": ["msgs/s ^", "p50 latency us v", "p99 latency us v", "server CPU %",
                       "server peak RSS MiB"],
    "bulk_1m": ["MB/s echoed ^", "server CPU %", "server peak RSS MiB"],
    "bulk_16m": ["MB/s echoed ^", "server CPU %", "server peak RSS MiB"],
    "fanout": ["deliveries/s ^", "round p50 ms v", "round p99 ms v", "server CPU %", "server peak RSS MiB"],
    "idle": ["RSS KiB/conn v", "handshakes/s ^", "server CPU %", "server peak RSS MiB"],
    "echo_rtt_5k": ["msgs/s ^", "msgs/s per server core ^", "p50 latency us v", "p99 latency us v",
                    "server CPU %", "server peak RSS MiB"],
}
# the columns of the best-peer and limit tables: (scenario, metric label)
HEADLINES = [
    ("echo_rtt", "msgs/s ^"), ("echo_rtt", "p99 latency us v"), ("echo_pipelined", "msgs/s ^"),
    ("bulk_1m", "MB/s echoed ^"), ("bulk_16m", "MB/s echoed ^"), ("fanout", "deliveries/s ^"),
    ("idle", "RSS KiB/conn v"), ("idle", "handshakes/s ^"), ("echo_rtt_5k", "msgs/s ^"),
    ("echo_rtt_5k", "msgs/s per server core ^"), ("echo_rtt_5k", "p99 latency us v"),
]


def best_and_limit(metas, results, servers, target, limit, md=False, not_peers=()) -> str:
    """Two tables: the target server against the best peer of each headline
    (ratio > 1 is better for the target, whichever way the metric goes), and
    every server as a share of the limit server (% of its value; for
    lower-is-better metrics, limit / value, so 100% is as good as the limit)."""
    cells = collect(results)
    peers = [sv for sv in servers if sv not in (target, limit) and sv not in not_peers]
    heads = [(s, label) for s, label in HEADLINES if any((sv, s) in cells for sv in servers)]
    blocks = []
    if target in servers and peers:
        rows = [["metric", target, "best peer", "ratio to best", limit if limit in servers else "",
                 f"{target} % of {limit}" if limit in servers else ""]]
        for s, label in heads:
            better = next(m[2] for m in METRICS[s] if m[0] == label)
            fmt = next(m[3] for m in METRICS[s] if m[0] == label)
            mine, _, _ = cell_value(cells, target, s, label)
            vals = [(cell_value(cells, sv, s, label)[0], sv) for sv in peers]
            vals = [(v, sv) for v, sv in vals if v]
            if not vals:
                continue
            best, best_sv = (max if better == "hi" else min)(vals)
            lim, _, _ = cell_value(cells, limit, s, label)
            ratio = "-" if not mine else (f"{mine / best:.2f}x" if better == "hi"
                                          else f"{best / mine:.2f}x ({mine / best:.2f}x {'worse' if mine > best else 'better'})")
            share = "-" if not (mine and lim) else f"{100 * (mine / lim if better == 'hi' else lim / mine):.0f}%"
            rows.append([f"{s} {label.rstrip(' ^v')}", "-" if mine is None else fmt.format(mine),
                         f"{best_sv} {fmt.format(best)}", ratio,
                         "" if lim is None else fmt.format(lim), share])
        title = f"{target} against the best peer (ratio > 1: {target} is better)"
        blocks.append((f"**{title}**\n\n" if md else title + "\n") + render(rows, md))
    if limit in servers:
        rows = [["server"] + [f"{s} {label.rstrip(' ^v')}" for s, label in heads]]
        for sv in servers:
            row = [sv]
            for s, label in heads:
                better = next(m[2] for m in METRICS[s] if m[0] == label)
                v, _, _ = cell_value(cells, sv, s, label)
                lim, _, _ = cell_value(cells, limit, s, label)
                row.append("-" if not (v and lim) else
                           f"{100 * (v / lim if better == 'hi' else lim / v):.0f}%")
            rows.append(row)
        title = f"share of the limit ({limit}: a minimal C epoll server; 100% = as good as it)"
        blocks.append((f"**{title}**\n\n" if md else title + "\n") + render(rows, md))
    bound = []
    for (sv, s), c in sorted(cells.items()):
        cpu, _ = median_of([r.get("client_cpu_pct") for r in c["ok"]])
        if cpu is not None and cpu >= CLIENT_BOUND_PCT:
            bound.append(f"{sv} {s} ({cpu:.0f}%)")
    title = f"client-bound measurements (load client CPU >= {CLIENT_BOUND_PCT}% of its core)"
    text = ", ".join(bound) if bound else "none"
    blocks.append((f"**{title}**: " if md else title + ": ") + text)
    return "\n\n".join(blocks)


def cell_value(cells, sv, s, label):
    """(median, values, failed) of one metric of one server and scenario."""
    fn = next(m[1] for m in METRICS[s] if m[0] == label)
    c = cells.get((sv, s))
    if not c:
        return None, [], None
    med, vals = median_of([fn(r) for r in c["ok"]])
    return med, vals, c["failed"]


def fmt_cell(cells, sv, s, label, baseline, spread, ratio=True) -> str:
    _, _, better, fmt = next(m for m in METRICS[s] if m[0] == label)
    med, vals, failed = cell_value(cells, sv, s, label)
    if failed is None:
        return "-"
    if med is None:
        return "FAIL" if failed else "-"
    cell = fmt.format(med)
    if spread and len(vals) > 1 and med:
        cell += f" ±{50 * (max(vals) - min(vals)) / abs(med):.0f}%"
    if ratio and better and baseline and sv != baseline:
        base, _, _ = cell_value(cells, baseline, s, label)
        if base:
            cell += f" ({med / base:.2f}x)"
    if failed:
        cell += f" [{len(failed)} failed]"
    return cell


def row_tables(metas, results, servers, baseline, md=False, spread=False) -> str:
    """A summary matrix (server x scenario, headline metric), then per scenario a
    table with a row per server."""
    cells = collect(results)
    params = {}
    for m in metas:
        params.update(m.get("params", {}))
    scen = [s for s in SCENARIOS if any((sv, s) in cells for sv in servers)]
    blocks = []
    head = ["server"] + [f"{s}: {ROWS[s][0].rstrip(' ^v')}" for s in scen]
    rows = [head] + [[sv] + [fmt_cell(cells, sv, s, ROWS[s][0], baseline, False) for s in scen]
                     for sv in servers]
    title = "summary: median of the repetitions" + (f" (ratio to {baseline})" if baseline else "")
    blocks.append((f"**{title}**\n\n" if md else title + "\n") + render(rows, md))
    for s in scen:
        title = TITLES[s].format(**{**DEFAULT_PARAMS, **params})
        rows = [["server"] + ROWS[s]]
        rows += [[sv] + [fmt_cell(cells, sv, s, label, baseline, spread) for label in ROWS[s]]
                 for sv in servers]
        blocks.append((f"**{title}**\n\n" if md else title + "\n") + render(rows, md))
    return "\n\n".join(blocks)


def failures(results) -> list[str]:
    return [f"{r['server']} {r['scenario']} rep {r['rep']}: {r.get('error')}" for r in results if not r.get("ok")]


def conditions(metas, results, md=False) -> str:
    v = metas[-1].get("versions", {})
    envs = [r["env"] for r in results if r.get("env")]
    lines = []
    if envs:
        la = [e["loadavg_before"][0] for e in envs] + [e["loadavg_after"][0] for e in envs]
        other = sorted(e["other_cpu_pct"] for e in envs if e.get("other_cpu_pct") is not None)
        steal = [e["steal_pct"] for e in envs]
        lines.append(f"load average (1 min) during runs: {min(la):.2f} .. {max(la):.2f} "
                     f"(server + client themselves add up to ~2)")
        if other:
            lines.append(f"CPU used by other processes during scenarios (% of one core): "
                         f"median {statistics.median(other):.0f}, max {max(other):.0f}")
        lines.append(f"steal time: max {max(steal):.1f}%")
    pin = metas[-1].get("pinning", {})
    lines.append(f"pinning: server on CPU {pin.get('server_cpu')}, client on CPU {pin.get('client_cpu')} (taskset)")
    lines.append("runs: " + ", ".join(f"{m['run_id']} ({m.get('reps')} reps)" for m in metas))
    lines.append("versions: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    return "\n".join(("- " + l) if md else l for l in lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, default=DEFAULT_FILE)
    p.add_argument("--run", default="latest", help="latest (default), all, or comma-separated run ids")
    p.add_argument("--servers", help="comma-separated columns, in this order (default: as run)")
    p.add_argument("--baseline", default="websockets", help="server the ratios are against")
    p.add_argument("--md", action="store_true", help="markdown output")
    p.add_argument("--spread", action="store_true", help="add ±half-range of the repetitions, in %% of the median")
    p.add_argument("--no-conditions", action="store_true")
    p.add_argument("--rows", action="store_true", help="a row per server (and a summary matrix first)")
    p.add_argument("--target", default="wsframework",
                   help="the server compared with the best peer of each column (wsframework)")
    p.add_argument("--not-peer", action="append", default=[], metavar="NAME",
                   help="a server left out of the best-peer comparison (an older wsframework, "
                        "say); repeatable")
    p.add_argument("--limit", default="limit",
                   help="the server every other is reported as a share of (limit)")
    a = p.parse_args(argv)

    metas, results = load(a.file, a.run)
    if a.servers:
        servers = a.servers.split(",")
    else:
        servers = []
        for m in metas:
            servers += [s for s in m.get("servers", {}) if s not in servers]
        servers += [r["server"] for r in results if r["server"] not in servers]
    baseline = a.baseline if a.baseline in servers else None
    if baseline:
        # baseline first, the rest as run
        servers = [baseline] + [s for s in servers if s != baseline]
    print((row_tables if a.rows else tables)(metas, results, servers, baseline, a.md, a.spread))
    print()
    print(best_and_limit(metas, results, servers, a.target, a.limit, a.md, a.not_peer))
    fails = failures(results)
    if fails:
        print("\nfailed measurements:" if not a.md else "\n**Failed measurements**\n")
        for f in fails:
            print(("- " if a.md else "  ") + f)
    if not a.no_conditions:
        print()
        print(conditions(metas, results, a.md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
