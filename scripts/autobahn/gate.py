"""The verdict of scripts/autobahn.sh: every case OK or INFORMATIONAL, and all of them ran.

    python gate.py --summarize summarize.py [--expect N] INDEX.json ...

Each INDEX.json (the server side's and the client side's report) must exist and hold one
agent whose cases are all OK or INFORMATIONAL in behavior, all OK or INFORMATIONAL in close
behavior, and, with --expect N, exactly N of them: a side that ran fewer cases (a crashed
run, a pattern that matched less) or that declined permessage-deflate (UNIMPLEMENTED) fails
the gate as surely as a FAILED case. Prints one "gate ok" or "GATE FAIL" line per side.
"""
import argparse
import json
import os
import subprocess
import sys

GOOD = {"OK", "INFORMATIONAL"}


def check(summarize: str, path: str, expect: int | None) -> list[str]:
    """The reasons the report at path fails the gate (none: it passes)."""
    if not os.path.isfile(path):
        return ["no report"]
    reports = json.loads(subprocess.check_output([sys.executable, summarize, "--json", path]))
    if len(reports) != 1:
        return [f"{len(reports)} agents in the report, expected 1"]
    report = reports[0]
    problems = []
    bad = {k: v for k, v in report["behavior"].items() if k not in GOOD}
    if bad:
        problems.append(f"behavior {bad}")
    bad_close = {k: v for k, v in report["behaviorClose"].items() if k not in GOOD}
    if bad_close:
        problems.append(f"close {bad_close}")
    if report["failed"]:
        problems.append("failed " + " ".join(f["case"] for f in report["failed"][:20]))
    if report["non_strict"]:
        problems.append("non-strict " + " ".join(report["non_strict"][:20]))
    if report["unimplemented_groups"]:
        problems.append("unimplemented in " + " ".join(report["unimplemented_groups"]))
    if expect is not None and report["cases"] != expect:
        problems.append(f"{report['cases']} cases ran, expected {expect}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--summarize", required=True, help="path of summarize.py")
    p.add_argument("--expect", default="", help="the number of cases each side must have run")
    p.add_argument("paths", nargs="+", help="index.json of each side")
    a = p.parse_args(argv)
    expect = int(a.expect) if a.expect else None
    failed = False
    for path in a.paths:
        problems = check(a.summarize, path, expect)
        if problems:
            failed = True
            print(f"GATE FAIL {path}: " + "; ".join(problems))
        else:
            report = json.loads(subprocess.check_output([sys.executable, a.summarize, "--json", path]))[0]
            print(f"gate ok {path}: {report['cases']} cases, behavior {report['behavior']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
