"""Support for the interoperability tests (tests/test_interop_*.py).

The peers are other WebSocket implementations run in subprocesses:

* ``tests/interop/*.js`` -- echo servers and scripted clients built on the
  Node packages ``ws`` and ``websocket`` (WebSocket-Node 1.0.35), whose
  exact versions are pinned in ``tests/interop/package-lock.json``.  Install
  them with ``npm ci --prefix tests/interop``.
* ``tests/interop/websockets_echo_server.py`` -- the same echo server on the
  Python ``websockets`` package (asyncio), run with ``sys.executable``.

A peer talks to the test over stdout: servers print their port alone on the
first line, then every peer prints one JSON object per line (see
``tests/interop/common.js``).  :class:`PeerProcess` pumps those lines into a
queue so a test can wait for them with a bound; the ``peers`` fixture kills
whatever is still running at teardown.

The payloads are built here exactly as common.js builds them, so a test can
check what a peer reports against what it should have received.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import gevent
import pytest
from gevent import subprocess  # cooperative pipes, patched or not
from gevent.queue import Empty, Queue

INTEROP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "interop")
NODE_MODULES = os.path.join(INTEROP_DIR, "node_modules")
NODE_PACKAGES = ("ws", "websocket")
INSTALL_HINT = "run `npm ci --prefix tests/interop` (from the repository root)"

# Generous enough for 16 MiB messages in both directions on a slow machine;
# every wait in these tests is bounded by one of these.
STARTUP_TIMEOUT = 15.0
STEP_TIMEOUT = 20.0

# What our side accepts in these tests: messages of 16 MiB and more.
BIG_MESSAGES = {"max_received_frame_size": 1 << 26, "max_received_message_size": 1 << 26}

# Close codes exercised in both directions, each with a (non-ASCII) reason.
CLOSE_CASES = [
    (1000, "normal closure ✓"),
    (1001, "going away ✓"),
    (1011, "internal error ✓"),
    (3000, "registered code ✓"),
    (4999, "private code ✓"),
    (4000, "✓" * 41),  # the longest reason a close frame can carry: 123 bytes
]
CLOSE_IDS = ["1000", "1001", "1011", "3000", "4999", "4000-longest-reason"]

# -- payloads (mirrors of common.js) ----------------------------------------
TEXT = "interop: ünïcödé ✓ 🚀"
GREETING = "greeting ✓"  # what the echo servers send first on .../greet
BINARY = bytes(range(256))
FRAGMENT_TEXT_PARTS = [f"part-{k}" + " ✓ " * 1000 for k in (1, 2, 3)]
FRAGMENT_BINARY_PARTS = [bytes([k]) * 5000 for k in (1, 2, 3)]
FRAGMENTED_TEXT = "".join(FRAGMENT_TEXT_PARTS)
FRAGMENTED_BINARY = b"".join(FRAGMENT_BINARY_PARTS)
LARGE_BINARY_SIZE = 16 * 1024 * 1024 + 13
LARGE_TEXT_UNIT = "wsframework ✓ ü 🚀 "
LARGE_TEXT_MIN_BYTES = 16 * 1024 * 1024

_large_cache: dict[str, str | bytes] = {}


def large_binary() -> bytes:
    """16 MiB + 13 bytes; byte i is i % 251."""
    if "binary" not in _large_cache:
        block = bytes(range(251))
        _large_cache["binary"] = (block * (LARGE_BINARY_SIZE // 251 + 1))[:LARGE_BINARY_SIZE]
    return _large_cache["binary"]  # type: ignore[return-value]


def large_text() -> str:
    """LARGE_TEXT_UNIT repeated until its UTF-8 form is at least 16 MiB."""
    if "text" not in _large_cache:
        unit_bytes = len(LARGE_TEXT_UNIT.encode("utf-8"))
        _large_cache["text"] = LARGE_TEXT_UNIT * -(-LARGE_TEXT_MIN_BYTES // unit_bytes)
    return _large_cache["text"]  # type: ignore[return-value]


def describe(data: str | bytes) -> dict:
    """What common.js ``describe`` prints for a message carrying ``data``."""
    for name, payload in _large_cache.items():
        if data is payload:
            # The large payloads are described often; hashing 16 MiB is not free.
            if name not in _large_descriptions:
                _large_descriptions[name] = _describe(payload)
            return dict(_large_descriptions[name])
    return _describe(data)


_large_descriptions: dict[str, dict] = {}


def _describe(data: str | bytes) -> dict:
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    out: dict = {"type": "text" if isinstance(data, str) else "binary", "length": len(raw)}
    if len(raw) <= 65536:
        if isinstance(data, str):
            out["data"] = data
        else:
            out["hex"] = raw.hex()
    out["sha256"] = hashlib.sha256(raw).hexdigest()
    return out


# What each step of a scripted client sends (and expects back), in order.
STEP_PAYLOADS: dict[str, list[tuple[str, object]]] = {
    "text": [("text", lambda: TEXT)],
    "binary": [("binary", lambda: BINARY)],
    "empty": [("empty-text", lambda: ""), ("empty-binary", lambda: b"")],
    "fragmented": [("fragmented-text", lambda: FRAGMENTED_TEXT),
                   ("fragmented-binary", lambda: FRAGMENTED_BINARY)],
    "large": [("large-binary", large_binary), ("large-text", large_text)],
}


def sent_payloads(steps: list[str]) -> list[str | bytes]:
    """The messages a scripted client sends for ``steps`` (ping sends none)."""
    return [make() for step in steps for _, make in STEP_PAYLOADS.get(step, [])]


def expected_steps(steps: list[str], pong: str | None = None) -> list[dict]:
    """The step lines a scripted client prints for ``steps``, in order, when
    the server echoes everything intact and answers its ping with ``pong``."""
    lines = []
    for step in steps:
        if step == "ping":
            lines.append({"step": "ping", "pong": pong})
        for name, make in STEP_PAYLOADS[step] if step != "ping" else []:
            lines.append({"step": name, **describe(make())})
    return lines


# -- peer processes ---------------------------------------------------------
_EOF = object()


class PeerProcess:
    """A peer subprocess whose stdout lines can be awaited with a bound."""

    def __init__(self, argv: list[str], name: str) -> None:
        self.name = name
        self.argv = argv
        self.port: int | None = None
        self.url: str | None = None
        self._lines: Queue = Queue()
        self._stderr: list[str] = []
        self.seen: list[str] = []
        self.proc = subprocess.Popen(
            argv, cwd=INTEROP_DIR, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._pumps = [gevent.spawn(self._pump_stdout), gevent.spawn(self._pump_stderr)]

    def _pump_stdout(self) -> None:
        try:
            for raw in self.proc.stdout:
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        finally:
            self._lines.put(_EOF)

    def _pump_stderr(self) -> None:
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def diagnostics(self) -> str:
        seen = "\n".join(line[:300] for line in self.seen[-20:])
        stderr = "\n".join(self._stderr[-40:])
        return (f"\n--- {self.name} ({' '.join(self.argv)}), exit code {self.proc.poll()}"
                f"\n--- last stdout lines:\n{seen}\n--- stderr:\n{stderr}")

    # -- reading ---------------------------------------------------------------
    def read_line(self, timeout: float = STEP_TIMEOUT) -> str | None:
        """The next stdout line, or None at end of output; fails the test
        when nothing arrives within ``timeout`` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except Empty:
            pytest.fail(f"{self.name}: no output within {timeout} s" + self.diagnostics())
        if line is _EOF:
            self._lines.put(_EOF)  # stay at end of output
            return None
        self.seen.append(line)
        return line

    def read_json(self, timeout: float = STEP_TIMEOUT) -> dict | None:
        line = self.read_line(timeout)
        if line is None:
            return None
        try:
            return json.loads(line)
        except ValueError:
            pytest.fail(f"{self.name}: not a JSON line: {line[:300]!r}" + self.diagnostics())

    def expect(self, timeout: float = STEP_TIMEOUT, **match) -> dict:
        """Read JSON lines until one has every key/value of ``match``;
        fails at end of output or after ``timeout`` seconds in all."""
        deadline = gevent.get_hub().loop.now() + timeout
        while True:
            remaining = deadline - gevent.get_hub().loop.now()
            if remaining <= 0:
                pytest.fail(f"{self.name}: no line matching {match} within {timeout} s"
                            + self.diagnostics())
            obj = self.read_json(remaining)
            if obj is None:
                pytest.fail(f"{self.name}: ended before a line matching {match}"
                            + self.diagnostics())
            if obj.get("event") == "error" and obj.get("path") in (None, match.get("path")):
                pytest.fail(f"{self.name} reported an error: {obj.get('message')}"
                            + self.diagnostics())
            if all(obj.get(key) == value for key, value in match.items()):
                return obj

    def read_all(self, timeout: float = STEP_TIMEOUT) -> list[dict]:
        """Every JSON line until the process ends (which must be with exit
        code 0 within ``timeout`` seconds)."""
        lines = []
        deadline = gevent.get_hub().loop.now() + timeout
        while True:
            remaining = deadline - gevent.get_hub().loop.now()
            if remaining <= 0:
                pytest.fail(f"{self.name}: still running after {timeout} s" + self.diagnostics())
            obj = self.read_json(remaining)
            if obj is None:
                break
            lines.append(obj)
        code = self.wait(timeout=5)
        assert code == 0, f"{self.name} exited with {code}" + self.diagnostics()
        return lines

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name}: did not exit within {timeout} s" + self.diagnostics())

    def read_port(self) -> None:
        line = self.read_line(STARTUP_TIMEOUT)
        if line is None or not line.strip().isdigit():
            pytest.fail(f"{self.name}: expected the port as the first line, got {line!r}"
                        + self.diagnostics())
        self.port = int(line)
        self.url = f"ws://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        gevent.joinall(self._pumps, timeout=2)
        for pump in self._pumps:
            pump.kill(block=False)
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except OSError:
                pass


def require_node_peers() -> str:
    """The path of ``node``; fails (never skips) when Node or the pinned
    packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`) is not on PATH; the interop tests need Node >= 18.")
    missing = [name for name in NODE_PACKAGES
               if not os.path.isfile(os.path.join(NODE_MODULES, name, "package.json"))]
    if missing:
        pytest.fail(f"tests/interop/node_modules lacks {', '.join(missing)}: {INSTALL_HINT}.",
                    pytrace=False)
    return node


class Peers:
    """Starts peer processes; :meth:`close` kills them (the fixture does)."""

    def __init__(self) -> None:
        self.processes: list[PeerProcess] = []

    def _start(self, argv: list[str], name: str) -> PeerProcess:
        process = PeerProcess(argv, name)
        self.processes.append(process)
        return process

    def node(self, script: str, *args: str) -> PeerProcess:
        """Run ``tests/interop/<script>`` with Node (cwd tests/interop, so
        it finds node_modules there)."""
        node = require_node_peers()
        return self._start([node, script, *args], script)

    def python(self, script: str, *args: str) -> PeerProcess:
        """Run ``tests/interop/<script>`` with this interpreter."""
        return self._start([sys.executable, "-u", script, *args], script)

    def node_server(self, script: str, *args: str) -> PeerProcess:
        """A Node echo server, started and listening (``.port``, ``.url``)."""
        process = self.node(script, *args)
        process.read_port()
        return process

    def python_server(self, script: str, *args: str) -> PeerProcess:
        process = self.python(script, *args)
        process.read_port()
        return process

    def server(self, runtime: str, script: str, *args: str) -> PeerProcess:
        """An echo server run by ``runtime`` ("node" or "python")."""
        if runtime == "node":
            return self.node_server(script, *args)
        return self.python_server(script, *args)

    def close(self) -> None:
        for process in self.processes:
            process.kill()


@pytest.fixture
def peers():
    registry = Peers()
    yield registry
    registry.close()


def command(op: str, **fields) -> str:
    """A command message for the echo servers (see common.js)."""
    return "cmd:" + json.dumps({"op": op, **fields})
