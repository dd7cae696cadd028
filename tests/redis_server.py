"""A real redis-server on 127.0.0.1 for the backplane tests (Debian's
``redis-server``, installed by scripts/test.sh)."""

from __future__ import annotations

import shutil
import socket

import gevent
import pytest
from gevent import subprocess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """redis-server on a free port; stop() and start() again on the same
    port simulate Redis going away and coming back."""

    def __init__(self, appendonly_dir: str | None = None, port: int | None = None,
                 *extra: str) -> None:
        self.binary = shutil.which("redis-server")
        assert self.binary, "redis-server is missing: run scripts/test.sh, which installs it"
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        # With a directory: its append-only file keeps the data across restarts.
        self.persistence = ["--appendonly", "no"] if appendonly_dir is None else \
            ["--appendonly", "yes", "--appendfsync", "always", "--dir", appendonly_dir]
        self.extra = list(extra)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *self.persistence, "--loglevel", "notice", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with gevent.Timeout(15, AssertionError("redis-server did not start")):
            for line in self.process.stdout:
                if "Ready to accept connections" in line:
                    break
            else:
                raise AssertionError("redis-server exited before it was ready")
        gevent.spawn(self._drain, self.process)

    @staticmethod
    def _drain(process) -> None:
        for _ in process.stdout:
            pass

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self.process = None


@pytest.fixture
def redis_server():
    server = RedisServer()
    server.start()
    yield server
    server.stop()
