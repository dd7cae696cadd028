"""The command line as users run it: ``python -m wsframework serve`` in a
subprocess (page, socket, graceful Ctrl-C, workers joined by Redis), and
its settings (file, flags, errors naming the key and the file)."""

from __future__ import annotations

import json
import os
import re
import signal
import sys

import gevent
import pytest
from gevent import subprocess

from wsframework import connect
from wsframework.apps.cli import _parser, load_settings
from wsframework.apps.settings import SettingsError

from ..redis_server import free_port, redis_server  # noqa: F401  (fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Serve:
    """``python -m wsframework serve ARGS`` until stopped."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "wsframework", "serve", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, cwd=ROOT)
        self.lines: list[str] = []

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20) -> list[re.Match]:
        """Read the log until ``pattern`` matched ``count`` lines."""
        found = []
        with gevent.Timeout(timeout, AssertionError(f"no {pattern!r} in: {self.lines}")):
            while len(found) < count:
                line = self.process.stdout.readline()
                assert line, f"serve exited: {self.lines}"
                self.lines.append(line)
                match = re.search(pattern, line)
                if match:
                    found.append(match)
        return found

    def stop(self, signum: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        with gevent.Timeout(20, AssertionError("serve did not stop")):
            rest = self.process.stdout.read()
            self.lines.extend(rest.splitlines())
            return self.process.wait()


@pytest.fixture
def serve():
    started = []

    def start(*args):
        process = Serve(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def join(port: int, nick: str, room: str = "lobby"):
    connection = connect(f"ws://127.0.0.1:{port}/ws", ["chat"])
    connection.send(json.dumps({"type": "join", "room": room, "nick": nick}))
    welcome = json.loads(connection.receive(timeout=5).data)
    assert welcome["type"] == "welcome"
    return connection, welcome


def next_message(connection) -> dict:
    while True:
        event = json.loads(connection.receive(timeout=10).data)
        if event["type"] == "message":
            return event


def test_serve_runs_on_defaults_and_stops_gracefully(serve):
    server = serve("--port", "0")
    port = int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
    alice, _ = join(port, "alice")
    bob, _ = join(port, "bob")
    alice.send(json.dumps({"type": "message", "text": "hello"}))
    assert next_message(bob)["text"] == "hello"
    assert server.stop(signal.SIGINT) == 0
    for connection in (alice, bob):
        while connection.receive(timeout=5) is not None:
            pass                             # notices still queued before the close
        assert connection.close_reason_code == 1001


def test_workers_share_rooms_through_redis(serve, redis_server):  # noqa: F811
    port = free_port()
    server = serve("--port", str(port), "--workers", "2", "--redis", redis_server.url)
    server.wait_for(r"backplane up", count=2)
    members = {}
    for attempt in range(60):              # until both workers have a member
        connection, welcome = join(port, f"user{attempt}")
        members.setdefault(welcome["worker"], connection)
        if len(members) == 2:
            break
    assert len(members) == 2, "the kernel put every connection on one worker"
    first, second = members.values()
    first.send(json.dumps({"type": "message", "text": "across workers"}))
    assert next_message(second)["text"] == "across workers"
    assert server.stop(signal.SIGTERM) == 0


def parse(*argv):
    return load_settings(_parser().parse_args(["serve", *argv]))


def test_settings_file_then_flags(tmp_path):
    config = tmp_path / "chat.toml"
    config.write_text('[server]\nport = 9001\nlog_level = "DEBUG"\n[chat]\nhistory = 7\n'
                      '[websocket]\nmax_received_message_size = 2048\n')
    settings = parse("--config", str(config), "--port", "9002")
    assert settings["server"]["port"] == 9002            # the flag wins
    assert settings["server"]["log_level"] == "DEBUG"    # the file's value
    assert settings["server"]["host"] == "127.0.0.1"     # the default
    assert settings["chat"]["history"] == 7
    assert settings["websocket"] == {"max_received_message_size": 2048}


def test_the_shipped_config_holds_the_defaults():
    settings = parse("--config", os.path.join(ROOT, "conf", "chat.toml"))
    assert settings == parse()


@pytest.mark.parametrize("content, message", [
    ("[server]\nprot = 1\n", "unknown key server.prot"),
    ("[server]\nport = \"x\"\n", "server.port must be an integer from 0 to 65535"),
    ("[chat]\nhistory = -1\n", "chat.history must be an integer from 0 to 100000"),
    ("[chat]\nmax_rooms = 0\n", "chat.max_rooms must be an integer from 1 to 10000000"),
    ("[nope]\n", "unknown section [nope]"),
    ("[server]\ndrain_period = -1\n",
     "server.drain_period must be a number of seconds from 0 to 3600"),
    ("[server]\nlog_format = \"xml\"\n", "server.log_format must be one of text, json"),
    ("[server]\nmetrics = \"yes\"\n", "server.metrics must be true or false"),
    ("[server]\nunix_socket = 3\n", "server.unix_socket must be a string"),
    ("[server]\nmetrics_port = 70000\n", "server.metrics_port must be an integer from 0 to 65535"),
    ("[server]\nmetrics_host = 1\n", "server.metrics_host must be a non-empty string"),
    ("[websocket]\nclose_timeout = -1\n", "[websocket] config key 'close_timeout' must be >= 0"),
    ("[websocket]\nmax_size = 1\n", "[websocket] unknown config key 'max_size'"),
    ("[server\n", "invalid TOML"),
    ("[server]\nworkers = 2\n", "server.workers above 1 needs redis.url"),
])
def test_bad_settings_name_the_key_and_the_file(tmp_path, content, message):
    config = tmp_path / "bad.toml"
    config.write_text(content)
    with pytest.raises(SettingsError) as info:
        parse("--config", str(config))
    assert message in str(info.value)
    if "needs redis" not in message:
        assert str(config) in str(info.value)


@pytest.mark.parametrize("argv, message", [
    (["--metrics-port", "9100"], "server.metrics_port needs server.metrics (--metrics)"),
    (["--metrics", "--metrics-host", "0.0.0.0"], "server.metrics_host needs server.metrics_port"),
    (["--metrics", "--metrics-port", "8080"], "server.metrics_port must differ from server.port"),
    (["--metrics", "--metrics-port", "0", "--workers", "2", "--redis", "redis://x"],
     "server.metrics_port 0 cannot be shared by several workers"),
])
def test_metrics_port_settings_that_do_not_go_together(argv, message):
    with pytest.raises(SettingsError) as info:
        parse(*argv)
    assert str(info.value) == message


def test_metrics_port_in_use_is_a_one_line_error():
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(run_serve("--port", "0", "--metrics", "--metrics-port", str(port)),
                              f"server.metrics_port: cannot listen on 127.0.0.1:{port}: "
                              f"Address already in use")


def test_bad_flag_exits_with_a_clear_message():
    result = subprocess.run([sys.executable, "-m", "wsframework", "serve", "--port", "70000"],
                            capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 2
    assert "command line: server.port must be an integer from 0 to 65535" in result.stderr


@pytest.fixture
def chat_server():
    from wsframework.apps.chat import make_server
    server = make_server(port=0)
    server.start()
    yield server
    server.stop(timeout=2)


def test_bots_talk_and_report(chat_server):
    result = subprocess.run(
        [sys.executable, "-m", "wsframework", "bots", f"ws://127.0.0.1:{chat_server.port}/ws",
         "--count", "20", "--rate", "100", "--duration", "1", "--rooms", "2", "--ramp", "0.2"],
        capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    match = re.search(r"20 bots, 2 room\(s\), .* sent (\d+), delivered (\d+) .* failed "
                      r"connections 0, reconnects 0, errors 0; delivery latency p50 +([\d.]+) ms",
                      summary)
    assert match, summary
    sent, delivered = int(match.group(1)), int(match.group(2))
    assert sent > 0 and delivered >= sent      # each message reaches its room's bots
    assert re.search(r"up \d+/20 +sent", result.stderr)     # live progress lines


def test_interactive_client(chat_server):
    result = subprocess.run(
        [sys.executable, "-m", "wsframework", "client", f"ws://127.0.0.1:{chat_server.port}/ws",
         "-p", "chat"],
        input='{"type": "join", "room": "lobby", "nick": "terminal"}\n/ping abc\n'
              '/close 4000 bye\n', capture_output=True, text=True, cwd=ROOT, timeout=30)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("! connected to ws://127.0.0.1:") and "(chat)" in lines[0]
    assert any(line.startswith('< {"type": "welcome"') for line in lines)
    assert "< pong b'abc'" in lines
    assert lines[-1] == "! closed 4000 bye"
    assert result.returncode == 0


def test_interactive_client_refused():
    result = subprocess.run(
        [sys.executable, "-m", "wsframework", "client", f"ws://127.0.0.1:{free_port()}/"],
        input="", capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 1 and result.stdout.startswith("! could not connect:")


def run_serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wsframework", "serve", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=30)


def assert_one_line_error(result, text: str) -> None:
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("wsframework serve: ") and text in result.stderr


def test_port_in_use_is_a_one_line_error():
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert_one_line_error(run_serve("--port", str(port)),
                              f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_unreadable_certificate_is_a_one_line_error(tmp_path):
    missing = tmp_path / "missing.pem"
    assert_one_line_error(run_serve("--port", "0", "--certfile", str(missing),
                                    "--keyfile", str(missing)),
                          "server.certfile/server.keyfile: cannot load")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    assert_one_line_error(run_serve("--port", "0", "--certfile", str(garbage),
                                    "--keyfile", str(garbage)),
                          "server.certfile/server.keyfile: cannot load")


def test_wrong_type_flag_is_a_one_line_error():
    result = subprocess.run([sys.executable, "-m", "wsframework", "serve", "--port", "eighty"],
                            capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --port: invalid int value: 'eighty'" in result.stderr


def test_serve_over_tls(serve, tmp_path):
    import ssl
    import trustme
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    server = serve("--port", "0", "--certfile", str(certfile), "--keyfile", str(keyfile))
    port = int(server.wait_for(r"chat server on https://127\.0\.0\.1:(\d+)/")[0].group(1))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    connection = connect(f"wss://localhost:{port}/ws", ["chat"], tls_options=context)
    connection.send(json.dumps({"type": "join", "room": "tls", "nick": "secure"}))
    assert json.loads(connection.receive(timeout=5).data)["type"] == "welcome"
    assert server.stop() == 0


def test_two_serve_processes_share_rooms_and_survive_redis_restarts(serve, redis_server):  # noqa: F811
    servers = [serve("--port", "0", "--redis", redis_server.url) for _ in range(2)]
    ports = []
    for server in servers:
        ports.append(int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1)))
        server.wait_for(r"backplane up")
    alice, _ = join(ports[0], "alice")
    bob, _ = join(ports[1], "bob")
    alice.send(json.dumps({"type": "message", "text": "from the first process"}))
    assert next_message(bob)["text"] == "from the first process"
    assert next_message(alice)["text"] == "from the first process"     # her own echo
    redis_server.stop()                                       # Redis is killed ...
    for server in servers:
        server.wait_for(r"backplane down")
    redis_server.start()                                      # ... and comes back
    for server in servers:
        server.wait_for(r"backplane up", timeout=30)
    bob.send(json.dumps({"type": "message", "text": "after the restart"}))
    assert next_message(alice)["text"] == "after the restart"
    for server in servers:
        assert server.stop() == 0


def test_bots_command_runs_bots_main(monkeypatch):
    """``wsframework bots`` is bots.main with the flags: one runner."""
    import wsframework.apps.bots
    import wsframework.apps.cli
    calls = []
    monkeypatch.setattr(wsframework.apps.cli, "_logging", lambda level: None)
    monkeypatch.setattr(wsframework.apps.bots, "main",
                        lambda *args, **kwargs: calls.append((args, kwargs)) or 7)
    args = _parser().parse_args(["bots", "ws://h/ws", "--count", "3", "--rate", "2",
                                 "--duration", "4", "--rooms", "2", "--ramp", "0.5",
                                 "--verify"])
    assert args.run(args) == 7
    assert calls == [(("ws://h/ws", 3, 2.0, 4.0, 2), {"verify": True, "ramp": 0.5})]


@pytest.mark.parametrize("style", [[], ["--events"]], ids=["loop", "events"])
def test_echo_command_echoes_in_either_style(style):
    """``wsframework echo`` (the Autobahn gate's server, in both styles)."""
    process = subprocess.Popen([sys.executable, "-m", "wsframework", "echo", "--port", "0",
                                *style], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT)
    try:
        with gevent.Timeout(20, AssertionError("the echo server did not start")):
            while True:
                line = process.stdout.readline()
                assert line, "echo exited"
                match = re.search(r"listening on ws://127\.0\.0\.1:(\d+)/", line)
                if match:
                    break
        connection = connect(f"ws://127.0.0.1:{match.group(1)}/")
        for data in ("text", b"\x00binary", "x" * 70000):
            connection.send(data)
            assert connection.receive(timeout=10).data == data
        connection.close()
    finally:
        process.send_signal(signal.SIGINT)
        with gevent.Timeout(20, AssertionError("echo did not stop")):
            process.stdout.read()
            assert process.wait() == 0
