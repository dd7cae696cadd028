"""Real proxies on 127.0.0.1 for the client's proxy tests: Debian's
``tinyproxy`` (HTTP CONNECT, with and without basic authentication),
Debian's ``stunnel4`` in front of it (a TLS proxy), and ``pproxy`` from PyPI
(SOCKS5 and SOCKS4).  scripts/test.sh installs all three."""

from __future__ import annotations

import os
import shutil
import sys

import gevent
from gevent import subprocess

from .redis_server import free_port


class ProxyProcess:
    """A proxy in a subprocess on a free port, started when its log says it
    is ready, stopped at the end of the test."""

    def __init__(self, argv: list[str], ready: str, port: int) -> None:
        self.argv = argv
        self.ready = ready
        self.port = port
        self.log: list[str] = []
        self.process = None

    def start(self) -> "ProxyProcess":
        binary = shutil.which(self.argv[0]) or self.argv[0]
        assert os.path.exists(binary), (
            f"{self.argv[0]} is missing: run scripts/test.sh, which installs it")
        self.process = subprocess.Popen([binary, *self.argv[1:]], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        with gevent.Timeout(15, AssertionError(f"{self.argv[0]} did not start: {self.log}")):
            for line in self.process.stdout:
                self.log.append(line.rstrip())
                if self.ready in line:
                    break
            else:
                raise AssertionError(f"{self.argv[0]} exited before it was ready: {self.log}")
        gevent.spawn(self._drain)
        return self

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.log.append(line.rstrip())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


def tinyproxy(tmp_path, auth: tuple[str, str] | None = None,
              connect_ports: list[int] | None = None) -> ProxyProcess:
    """tinyproxy taking CONNECT from 127.0.0.1 (to ``connect_ports`` only,
    when given), with basic authentication when ``auth`` is given."""
    port = free_port()
    lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", "LogLevel Info",
             "MaxClients 64", "Allow 127.0.0.1"]
    if auth:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    for allowed in connect_ports or ():
        lines.append(f"ConnectPort {allowed}")
    conf = tmp_path / f"tinyproxy-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    # -d: stay in the foreground, logging to stderr.
    return ProxyProcess(["tinyproxy", "-d", "-c", str(conf)], "Starting main loop",
                        port).start()


def stunnel(tmp_path, ca, backend_port: int) -> ProxyProcess:
    """stunnel4 terminating TLS (a certificate for 127.0.0.1 from ``ca``)
    and passing the bytes to ``backend_port``: an ``https://`` proxy."""
    port = free_port()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    pem = tmp_path / f"stunnel-{port}.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    conf = tmp_path / f"stunnel-{port}.conf"
    conf.write_text("\n".join([
        "foreground = yes", f"pid = {tmp_path}/stunnel-{port}.pid", "debug = notice",
        "[proxy]", f"accept = 127.0.0.1:{port}", f"connect = 127.0.0.1:{backend_port}",
        f"cert = {pem}"]) + "\n")
    return ProxyProcess(["stunnel4", str(conf)], "Configuration successful", port).start()


def pproxy(scheme: str, auth: tuple[str, str] | None = None) -> ProxyProcess:
    """pproxy serving ``scheme`` (socks5, socks4) on a free port."""
    port = free_port()
    listen = f"{scheme}://127.0.0.1:{port}"
    if auth:
        listen += f"#{auth[0]}:{auth[1]}"
    binary = os.path.join(os.path.dirname(sys.executable), "pproxy")
    return ProxyProcess([binary, "-l", listen, "-v"], "Serving on", port).start()
