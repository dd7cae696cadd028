#!/usr/bin/env python3
"""Draw one run of the benchmark (bench/run.py) as a chart of ratios to a baseline.

    python bench/chart.py --file /tmp/wsf-bench.jsonl                  # -> docs/performance.png
    python bench/chart.py --file results.jsonl --run 20261126-045746 --out /tmp/run.png
    python bench/chart.py --file results.jsonl --table                 # Markdown ratios, no chart

Reads the JSON lines that ``bench/run.py`` writes (one ``meta``
record per run, one ``result`` record per measurement), takes one run (the
latest in the file unless ``--run`` names one), and for every scenario and
server the median of the headline metric over the repetitions (failed
repetitions left out, as ``table.py`` does):

    echo_rtt, echo_pipelined  msgs/s          higher is better
    bulk_1m, bulk_16m         MB/s echoed     higher is better
    fanout                    deliveries/s    higher is better
    idle                      RSS KiB/conn    LOWER is better

Each median is divided by the baseline server's (``--baseline``, default
``websockets``) and drawn as grouped bars, one group per scenario, on a log
scale (the ratios run from 0.01 to 5 and more; ``--linear`` for a linear
one), with a line at 1.0 (the baseline).  The targets of issue #5 for
wsframework (``--target-server``) are drawn as markers over its bars.

``--table`` prints the same ratios as a Markdown table (server x scenario,
with the targets and whether they are met) instead of drawing; the values
themselves are in ``bench/table.py --file FILE --rows --md``.

The chart needs matplotlib (``pip install -e '.[bench]'``); ``--table``
needs only the standard library.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# scenario: (result key, label, higher is better)
HEADLINE = {
    "echo_rtt": ("msgs_per_s", "msgs/s", True),
    "echo_pipelined": ("msgs_per_s", "msgs/s", True),
    "bulk_1m": ("mb_per_s", "MB/s", True),
    "bulk_16m": ("mb_per_s", "MB/s", True),
    "fanout": ("deliveries_per_s", "deliveries/s", True),
    "idle": ("rss_kib_per_conn", "RSS KiB/conn", False),
    "echo_rtt_5k": ("msgs_per_s", "msgs/s", True),
}
SCENARIOS = list(HEADLINE)

# Issue #5: what wsframework should reach, as a ratio to websockets.
# (ratio, higher is better)
TARGETS = {
    "echo_rtt": (2.5, True),
    "echo_pipelined": (2.0, True),
    "bulk_1m": (1.6, True),
    "bulk_16m": (1.6, True),
    "fanout": (2.0, True),
    "idle": (0.6, False),
}

TARGET_SERVER_COLOR = "#d62728"
PALETTE = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#ff7f0e", "#aec7e8", "#98df8a"]


# --------------------------------------------------------------------------- data

def load(path: Path, run: str | None) -> tuple[dict, list[dict]]:
    """(meta, results) of one run in a run.py JSONL file: ``run`` or the last."""
    metas, results = [], []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            (metas if rec.get("type") == "meta" else results).append(rec)
    if not metas:
        sys.exit(f"{path}: no run (no meta record)")
    if run is None:
        meta = metas[-1]
    else:
        found = [m for m in metas if m["run_id"] == run]
        if not found:
            sys.exit(f"{path}: no run {run}; runs: {', '.join(m['run_id'] for m in metas)}")
        meta = found[-1]
    # a `superseded` record was measured again (run.py --max-other): left out, as table.py does
    return meta, [r for r in results if r.get("run_id") == meta["run_id"] and not r.get("superseded")]


def medians(results: list[dict]) -> dict:
    """{(server, scenario): {"median": float|None, "n": ok reps, "failed": failed reps}}"""
    cells: dict = {}
    for r in results:
        s = r.get("scenario")
        if s not in HEADLINE:
            continue
        c = cells.setdefault((r["server"], s), {"values": [], "failed": 0})
        value = (r.get("result") or {}).get(HEADLINE[s][0])
        if r.get("ok") and isinstance(value, (int, float)):
            c["values"].append(value)
        else:
            c["failed"] += 1
    return {k: {"median": statistics.median(c["values"]) if c["values"] else None,
                "n": len(c["values"]), "failed": c["failed"]} for k, c in cells.items()}


def ratios(cells: dict, servers: list[str], scenarios: list[str], baseline: str) -> dict:
    """{(server, scenario): ratio to the baseline, or None (failed / missing)}"""
    out = {}
    for s in scenarios:
        base = (cells.get((baseline, s)) or {}).get("median")
        for sv in servers:
            med = (cells.get((sv, s)) or {}).get("median")
            out[(sv, s)] = med / base if med is not None and base else None
    return out


def servers_of(meta: dict, results: list[dict]) -> list[str]:
    names = list(meta.get("servers", {}))
    names += [r["server"] for r in results if r["server"] not in names]
    return names


def met(ratio: float | None, scenario: str) -> bool | None:
    if ratio is None or scenario not in TARGETS:
        return None
    target, higher = TARGETS[scenario]
    return ratio >= target if higher else ratio <= target


# --------------------------------------------------------------------------- table

def markdown(meta, cells, rat, servers, scenarios, baseline, target_server) -> str:
    head = ["server"] + [f"{s} ({HEADLINE[s][1]}{'' if HEADLINE[s][2] else ', lower is better'})"
                         for s in scenarios]
    rows = [head, ["---"] + ["---:"] * len(scenarios)]
    base_row = [f"{baseline} (baseline)"]
    for s in scenarios:
        med = (cells.get((baseline, s)) or {}).get("median")
        base_row.append("-" if med is None else f"{med:,.1f}" if med < 100 else f"{med:,.0f}")
    rows.append(base_row)
    for sv in servers:
        if sv == baseline:
            continue
        row = [sv]
        for s in scenarios:
            c = cells.get((sv, s))
            r = rat.get((sv, s))
            if c is None:
                cell = "-"
            elif r is None:
                cell = "FAIL" if c["failed"] else "-"
            else:
                cell = f"{r:.2f}x"
                if sv == target_server and met(r, s) is not None:
                    cell += " ✓" if met(r, s) else " ✗"
                if c["failed"]:
                    cell += f" [{c['failed']} failed]"
            row.append(cell)
        rows.append(row)
    rows.append([f"target for {target_server}"] +
                [(("≥ " if TARGETS[s][1] else "≤ ") + f"{TARGETS[s][0]:g}x") if s in TARGETS else ""
                 for s in scenarios])
    text = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    reps = meta.get("reps")
    note = (f"Run {meta['run_id']}: median of {reps} repetition(s), ratio to {baseline} "
            f"(first row: {baseline}'s own medians).")
    return note + "\n\n" + text


# --------------------------------------------------------------------------- chart

def draw(meta, cells, rat, servers, scenarios, baseline, target_server, out: Path,
         linear: bool, title: str | None, dpi: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [sv for sv in servers if sv != baseline]
    if target_server in bars:               # the server of interest first
        bars = [target_server] + [sv for sv in bars if sv != target_server]
    n = len(bars)
    width = 0.8 / max(n, 1)
    colors, k = {}, 0
    for sv in bars:
        if sv == target_server:
            colors[sv] = TARGET_SERVER_COLOR
        else:
            colors[sv] = PALETTE[k % len(PALETTE)]
            k += 1

    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 + 0.3 * n * len(scenarios)), 6.2))
    values = [v for v in rat.values() if v]
    lo = min(values + [min(t for t, _ in TARGETS.values())]) if values else 0.1
    hi = max(values + [max(t for t, _ in TARGETS.values())]) if values else 10
    for i, sv in enumerate(bars):
        xs, ys = [], []
        for j, s in enumerate(scenarios):
            x = j - 0.4 + width * (i + 0.5)
            r = rat.get((sv, s))
            c = cells.get((sv, s))
            if r is None:
                if c is not None and c["failed"]:
                    ax.text(x, 1.0, "FAIL", rotation=90, ha="center", va="bottom", fontsize=6,
                            color=colors[sv])
                continue
            xs.append(x)
            ys.append(r)
            if sv == target_server:
                continue                    # its ratios are in the x labels
            up = linear or r >= 1           # label at the bar's end, outside it
            if linear:
                y = r + (0.01 if up else -0.01) * hi
            else:
                y = r * 1.04 if up else r / 1.04
            ax.text(x, y, f"{r:.2f}", rotation=90, ha="center", va="bottom" if up else "top",
                    fontsize=6.5)
        # log scale: bars grow from the 1.0 line, up means more than the baseline, down less
        bottom = 0 if linear else 1
        ax.bar(xs, [y - bottom for y in ys], width * 0.92, bottom=bottom, color=colors[sv],
               label=sv, edgecolor="black" if sv == target_server else "none", linewidth=0.6)

    # the targets of issue #5, over the target server's bars
    if target_server in bars:
        i = bars.index(target_server)
        first = True
        for j, s in enumerate(scenarios):
            if s not in TARGETS:
                continue
            target, higher = TARGETS[s]
            x = j - 0.4 + width * (i + 0.5)
            ax.plot([x], [target], marker="_", markersize=22, markeredgewidth=2.5,
                    color="black", linestyle="none", zorder=5,
                    label=f"issue #5 target for {target_server}" if first else None)
            first = False

    ax.axhline(1.0, color="black", linewidth=1, zorder=4, label=f"{baseline} = 1.0")
    if linear:
        ax.set_ylim(0, hi * 1.25)
    else:
        ax.set_yscale("log")
        ax.set_ylim(lo / 1.6, hi * 1.9)
        from matplotlib.ticker import FuncFormatter, LogLocator
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, _: ""))
    ax.grid(axis="y", which="major", alpha=0.3)
    labels = []
    for s in scenarios:
        key, unit, higher = HEADLINE[s]
        label = f"{s}\n{unit}" + ("" if higher else "\n(lower is better)")
        if target_server in bars:
            r = rat.get((target_server, s))
            label += f"\n\n{target_server} {'-' if r is None else f'{r:.2f}'}"
            if s in TARGETS:
                ok = met(r, s)
                label += f"\ntarget {'≥' if TARGETS[s][1] else '≤'}{TARGETS[s][0]:g}"
                label += "" if ok is None else " ✓" if ok else " ✗"
        labels.append(label)
    ax.set_xticks(range(len(scenarios)), labels, fontsize=8.5)
    ax.set_xlim(-0.6, len(scenarios) - 0.4)
    ax.set_ylabel(f"median / median of {baseline}" + (" (log scale)" if not linear else ""))
    reps = meta.get("reps")
    params = meta.get("params", {})
    ax.set_title(title or f"Ratio to {baseline}, median of {reps} repetition(s) — run {meta['run_id']}",
                 fontsize=11, pad=30)
    setup = [f"{params.get('duration', '?'):g} s windows" if "duration" in params else ""]
    if "echo_rtt" in scenarios:
        setup.append(f"{params.get('conns', 50)} echo_rtt connections")
    if "fanout" in scenarios:
        setup.append(f"{params.get('fanout_clients', 1000)} fanout clients")
    if "idle" in scenarios:
        setup.append(f"{params.get('idle_conns', 10000)} idle connections")
    pin = meta.get("pinning", {})
    foot = (("Higher is better in every scenario except idle (server memory per idle connection: lower "
             "is better). " if "idle" in scenarios else "Higher is better. ") +
            f"Black marks: the issue #5 targets for {target_server} (its ratios are under the "
            f"scenario names).  " + ", ".join(x for x in setup if x) +
            f"; server on CPU {pin.get('server_cpu', '?')}, load client (wsload) on CPU "
            f"{pin.get('client_cpu', '?')}.")
    fig.text(0.01, 0.01, foot, fontsize=7, wrap=True, va="bottom", ha="left")
    ax.legend(fontsize=8, ncol=n + 2, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              frameon=False, handlelength=1.6, columnspacing=1.2)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, required=True, help="results JSONL of bench/run.py")
    p.add_argument("--run", help="run id (default: the last run in the file)")
    p.add_argument("--out", type=Path, default=Path("docs/performance.png"),
                   help="PNG to write (default docs/performance.png)")
    p.add_argument("--baseline", default="websockets", help="server the ratios are against (websockets)")
    p.add_argument("--target-server", default="wsframework",
                   help="server the issue #5 targets are drawn for (wsframework)")
    p.add_argument("--servers", help="comma-separated servers, in this order (default: as run)")
    p.add_argument("--scenarios", help="comma-separated scenarios (default: those in the run)")
    p.add_argument("--linear", action="store_true", help="linear y axis (default: log)")
    p.add_argument("--title", help="chart title")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--table", action="store_true",
                   help="print the ratios as a Markdown table instead of drawing")
    a = p.parse_args(argv)

    meta, results = load(a.file, a.run)
    servers = a.servers.split(",") if a.servers else servers_of(meta, results)
    present = {r.get("scenario") for r in results}
    scenarios = a.scenarios.split(",") if a.scenarios else [s for s in SCENARIOS if s in present]
    if a.baseline not in servers:
        sys.exit(f"baseline {a.baseline!r} is not in run {meta['run_id']} (servers: {', '.join(servers)})")
    cells = medians(results)
    rat = ratios(cells, servers, scenarios, a.baseline)
    if a.table:
        print(markdown(meta, cells, rat, servers, scenarios, a.baseline, a.target_server))
        return 0
    draw(meta, cells, rat, servers, scenarios, a.baseline, a.target_server, a.out, a.linear,
         a.title, a.dpi)
    print(f"wrote {a.out} (run {meta['run_id']}, {len(servers)} servers, {len(scenarios)} scenarios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
