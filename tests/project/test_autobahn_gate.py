"""The conformance gate's verdict (scripts/autobahn/gate.py) on reports
shaped as wstest writes them: it passes only a complete, clean run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "scripts", "autobahn")


def write_report(folder, behaviors: dict[str, tuple[str, str]], agents=("wsframework",)) -> str:
    """An index.json of wstest: per agent, per case id, behavior and close behavior."""
    os.makedirs(folder, exist_ok=True)
    index = {}
    for agent in agents:
        index[agent] = {}
        for case, (behavior, close) in behaviors.items():
            report = f"{agent}_case_{case.replace('.', '_')}.json"
            with open(os.path.join(folder, report), "w") as f:
                json.dump({"result": f"result of {case}", "resultClose": "close"}, f)
            index[agent][case] = {"behavior": behavior, "behaviorClose": close,
                                  "duration": 1, "reportfile": report}
    path = os.path.join(folder, "index.json")
    with open(path, "w") as f:
        json.dump(index, f)
    return path


def gate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, os.path.join(TOOLS, "gate.py"), "--summarize",
                           os.path.join(TOOLS, "summarize.py"), *args],
                          capture_output=True, text=True)


CLEAN = {"1.1.1": ("OK", "OK"), "1.1.2": ("OK", "OK"), "7.1.6": ("INFORMATIONAL", "INFORMATIONAL")}


def test_a_clean_complete_run_passes(tmp_path):
    server = write_report(tmp_path / "server", CLEAN)
    client = write_report(tmp_path / "client", CLEAN)
    done = gate("--expect", "3", server, client)
    assert done.returncode == 0, done.stdout
    assert done.stdout.count("gate ok") == 2


@pytest.mark.parametrize("case, verdict, reason", [
    ("1.1.2", ("FAILED", "OK"), "failed 1.1.2"),
    ("1.1.2", ("NON-STRICT", "OK"), "non-strict 1.1.2"),
    ("12.1.1", ("UNIMPLEMENTED", "OK"), "unimplemented in 12.*"),
    ("1.1.2", ("OK", "UNCLEAN"), "close {'UNCLEAN': 1}"),
    ("1.1.2", ("OK", "WRONG CODE"), "close {'WRONG CODE': 1}"),
])
def test_any_case_not_ok_fails(tmp_path, case, verdict, reason):
    server = write_report(tmp_path / "server", {**CLEAN, case: verdict})
    client = write_report(tmp_path / "client", CLEAN)
    done = gate(server, client)
    assert done.returncode == 1
    assert f"GATE FAIL {server}" in done.stdout and reason in done.stdout, done.stdout
    assert f"gate ok {client}" in done.stdout


def test_fewer_cases_than_expected_fail(tmp_path):
    # A run that stopped early, or a selection that matched less, is no pass.
    server = write_report(tmp_path / "server", CLEAN)
    short = write_report(tmp_path / "client", {"1.1.1": ("OK", "OK")})
    done = gate("--expect", "3", server, short)
    assert done.returncode == 1
    assert "1 cases ran, expected 3" in done.stdout


def test_a_missing_side_fails(tmp_path):
    server = write_report(tmp_path / "server", CLEAN)
    done = gate(server, str(tmp_path / "client" / "index.json"))
    assert done.returncode == 1
    assert "no report" in done.stdout


def test_a_report_of_two_agents_fails(tmp_path):
    server = write_report(tmp_path / "server", CLEAN, agents=("wsframework", "other"))
    done = gate(server)
    assert done.returncode == 1
    assert "2 agents" in done.stdout


def test_the_gate_script_expects_the_full_counts():
    # The counts the gate holds each side to: 321 cases for the CI selection, 517 for all.
    script = open(os.path.join(ROOT, "scripts", "autobahn.sh"), encoding="utf-8").read()
    assert 'EXPECT=321' in script and 'EXPECT=517' in script
    assert '"$T/gate.py"' in script and '--expect "$EXPECT"' in script


def test_the_gate_runs_the_server_suite_in_both_styles():
    # A read loop and message listeners (parked connections, one-frame wake-ups).
    script = open(os.path.join(ROOT, "scripts", "autobahn.sh"), encoding="utf-8").read()
    assert "wsframework echo --port" in script and "wsframework echo --events --port" in script
    assert '"$OUT/server-events/index.json"' in script
