"""Web apps served by real servers in subprocesses (gunicorn with
wsframework.gunicorn.GeventWebSocketWorker, pywsgi, Werkzeug's development
server), and :class:`ServerProcess`, which runs one and reads its log.

A server prints ``Listening at: http://127.0.0.1:PORT`` (gunicorn's line;
``serve_pywsgi.py`` prints the same); every wait is bounded and fails the
test with the server's log.
"""

from __future__ import annotations

import os
import re
import signal
import sys

import gevent
import pytest
from gevent import subprocess
from gevent.queue import Empty, Queue

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = "wsframework.gunicorn.GeventWebSocketWorker"
TIMEOUT = 30.0
_EOF = object()


class ServerProcess:
    """A server subprocess (cwd: the repository) whose output lines (stdout
    and stderr together) can be awaited with a bound."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log: list[str] = []
        self._lines: Queue = Queue()
        self.proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})},
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self._pump = gevent.spawn(self._read)
        self.port: int | None = None

    def _read(self) -> None:
        try:
            for raw in self.proc.stdout:
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        finally:
            self._lines.put(_EOF)

    def diagnostics(self) -> str:
        return (f"\n--- {' '.join(self.argv)} (exit code {self.proc.poll()}), its log:\n"
                + "\n".join(self.log[-60:]))

    def wait_for(self, pattern: str, timeout: float = TIMEOUT) -> re.Match:
        """Read log lines until one matches ``pattern`` (a regex)."""
        regex = re.compile(pattern)
        deadline = gevent.get_hub().loop.now() + timeout
        while True:
            remaining = deadline - gevent.get_hub().loop.now()
            try:
                if remaining <= 0:
                    raise Empty
                line = self._lines.get(timeout=remaining)
            except Empty:
                pytest.fail(f"no log line matching {pattern!r} within {timeout} s"
                            + self.diagnostics())
            if line is _EOF:
                self._lines.put(_EOF)
                pytest.fail(f"the server ended before a line matching {pattern!r}"
                            + self.diagnostics())
            self.log.append(line)
            match = regex.search(line)
            if match:
                return match

    def listening(self) -> "ServerProcess":
        self.port = int(self.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
        return self

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = TIMEOUT) -> int:
        """The exit code, once every line is read."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout} s" + self.diagnostics())
        self._pump.join(timeout=5)
        while True:
            try:
                line = self._lines.get_nowait()
            except Empty:
                break
            if line is _EOF:
                self._lines.put(_EOF)
                break
            self.log.append(line)
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._pump.kill()                 # blocks until the reader is out of the pipe
        self.proc.stdout.close()


class Servers:
    """Starts server processes; :meth:`close` kills what still runs."""

    def __init__(self) -> None:
        self.processes: list[ServerProcess] = []

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        process = ServerProcess(argv, env)
        self.processes.append(process)
        return process

    def gunicorn(self, app: str, *args: str, workers: int = 2,
                 env: dict[str, str] | None = None, listening: bool = True) -> ServerProcess:
        """``gunicorn -k wsframework.gunicorn.GeventWebSocketWorker`` on a free port."""
        process = self.start([sys.executable, "-m", "gunicorn", "-k", WORKER, "-w", str(workers),
                              "-b", "127.0.0.1:0", "--graceful-timeout", "20",
                              "--log-level", "info", *args, app], env)
        return process.listening() if listening else process

    def pywsgi(self, app: str, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        """``app`` on a pywsgi server with WebSocketHandler (serve_pywsgi.py)."""
        return self.start([sys.executable, "-u", "-m", "tests.webapps.serve_pywsgi", app, *args],
                          env).listening()

    def close(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def servers():
    registry = Servers()
    yield registry
    registry.close()
