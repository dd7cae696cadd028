"""The repository stands alone: nothing it ships, tests, documents or runs
refers to a folder beside the checkout, and every script the docs name is
in it."""

from __future__ import annotations

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Spelled in pieces so that this file does not mention what it looks for.
SIBLING = re.compile(re.escape("..") + r"[/\\]" + "sha" + "red" + r"\b")
SIBLING_PATHS = re.compile("sha" + "red" + r"/(bench|tools|spec|research)\b")


def tracked_files() -> list[str]:
    """Every file git tracks in the checkout (the test suite runs in a clone)."""
    out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                         check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_the_checkout_is_a_git_clone_with_files():
    files = tracked_files()
    assert "setup.py" in files and "bench/run.py" in files and "scripts/autobahn.sh" in files


def test_no_tracked_file_refers_outside_the_repository():
    offenders = []
    for name in tracked_files():
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path):
            continue                                # deleted in the work tree
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for number, line in enumerate(text.splitlines(), 1):
            if SIBLING.search(line) or SIBLING_PATHS.search(line):
                offenders.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not offenders, "tracked files refer to a folder beside the repository:\n" + "\n".join(
        offenders)


def test_the_detector_finds_what_it_is_for():
    # The check above must be able to fail: each spelling it exists for is caught.
    word = "sha" + "red"
    for line in (f"bash ../{word}/bench/setup.sh", f'T="$ROOT/../{word}/tools/autobahn"',
                 f"see {word}/spec/API.md", f"beside it (..\\{word})"):
        assert SIBLING.search(line) or SIBLING_PATHS.search(line), line
    assert not SIBLING.search("shared memory") and not SIBLING_PATHS.search("shared by the peers")


def test_the_benchmark_and_conformance_gate_are_in_the_repository():
    # What docs/performance.md and the README run: the runner, its setup, its
    # client and peers, and the Autobahn runner with its own installer.
    for name in ("bench/run.sh", "bench/setup.sh", "bench/run.py", "bench/table.py",
                 "bench/chart.py", "bench/server.py", "bench/wsload/wsload.c",
                 "bench/servers/registry.txt", "bench/requirements.txt",
                 "bench/package.json", "bench/package-lock.json",
                 "scripts/autobahn.sh", "scripts/autobahn/setup.sh",
                 "scripts/autobahn/run-server-suite.sh", "scripts/autobahn/run-client-suite.sh",
                 "scripts/autobahn/summarize.py", "scripts/autobahn/gate.py"):
        assert os.path.isfile(os.path.join(ROOT, name)), name
    registry = open(os.path.join(ROOT, "bench/servers/registry.txt"), encoding="utf-8").read()
    commands = [line.split(None, 1) for line in registry.splitlines()
                if line.strip() and not line.startswith("#")]
    names = {name for name, _ in commands}
    assert {"wsframework", "websockets", "gevent-websocket", "picows", "websocket-node",
            "ws"} <= names
    for _, command in commands:
        for word in command.split():
            if word.startswith("servers/"):
                assert os.path.isfile(os.path.join(ROOT, "bench", word)), word


def test_benchmark_runner_lists_its_servers():
    # The runner starts (standard library only) and knows every server of its registry.
    import sys
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "run.py"), "--list"],
                         capture_output=True, text=True, check=True).stdout
    assert re.search(r"^wsframework\s+\{wsf_python\} \{project\}/bench/server.py", out, re.M)
    assert "scenarios: echo_rtt echo_pipelined bulk_1m bulk_16m fanout idle" in out
