"""The long fuzz run (scripts/fuzz.sh) finds the fuzz tests where they
are, and fails when one of them cannot be collected (issue #15 item 12).

Run here with one example per test: what is checked is the script, not
the properties (the suite runs those itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "fuzz.sh")
FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz")


def fuzz_sh(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """scripts/fuzz.sh with this test run's venv, its logs under tmp_path."""
    env = dict(os.environ, WSF_VENV=sys.prefix, FUZZ_LOG_DIR=str(tmp_path / "logs"),
               FUZZ_JOBS="2")
    env.pop("WSFRAMEWORK_FUZZ_EXAMPLES", None)
    return subprocess.run(["bash", SCRIPT, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)


def collected_fuzz_tests() -> int:
    """How many tests pytest itself collects from tests/fuzz."""
    out = subprocess.run([os.path.join(sys.prefix, "bin", "pytest"), "--collect-only", "-q",
                          "-p", "no:cacheprovider", FUZZ_DIR],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return sum(1 for line in out.splitlines() if "::" in line)


def test_fuzz_sh_runs_every_fuzz_test(tmp_path):
    """With a total of one example per test, the script plans and runs
    every fuzz test of tests/fuzz, and passes."""
    count = collected_fuzz_tests()
    assert count > 0
    done = fuzz_sh(tmp_path, str(count))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"fuzz: {count} tests x 1 examples = {count} planned" in done.stdout, done.stdout
    run = re.search(r"examples run: (\d+) \((\d+) passing, (\d+) failing", done.stdout)
    assert run is not None, done.stdout
    assert int(run.group(1)) >= count and int(run.group(3)) == 0, done.stdout
    assert "failures: none" in done.stdout


def test_fuzz_sh_fails_when_a_test_file_fails_to_collect(tmp_path):
    """A test file that cannot be imported fails the run at collection,
    before any test runs (its status was lost in a pipe into grep)."""
    broken = tmp_path / "test_fuzz_broken.py"
    broken.write_text("import wsframework.no_such_module\n\n\ndef test_x():\n    pass\n")
    done = fuzz_sh(tmp_path, "100", str(broken))
    assert done.returncode != 0, done.stdout + done.stderr
    assert "fuzz: collecting the fuzz tests failed" in done.stderr, done.stderr
    assert "planned" not in done.stdout
