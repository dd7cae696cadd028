"""The examples run as users run them: as scripts, in subprocesses, talked
to over real sockets."""

from __future__ import annotations

import os
import sys

import gevent
import pytest
from gevent import subprocess

from wsframework import connect

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")


class Script:
    """A running example; ``port`` is parsed from its first line."""

    def __init__(self, name: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(EXAMPLES, name), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def line(self, timeout: float = 15) -> str:
        with gevent.Timeout(timeout, AssertionError("the example printed nothing")):
            return self.process.stdout.readline().strip()

    def port(self) -> int:
        return int(self.line().rstrip("/").rsplit(":", 1)[1].split("/")[0])

    def output(self, timeout: float = 15) -> str:
        with gevent.Timeout(timeout, AssertionError("the example did not finish")):
            out = self.process.stdout.read()
            self.process.wait()
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def run():
    scripts = []

    def start(name, *args):
        script = Script(name, *args)
        scripts.append(script)
        return script

    yield start
    for script in scripts:
        script.stop()


def test_echo_server(run):
    port = run("echo_server.py", "0").port()
    client = connect(f"ws://127.0.0.1:{port}/", ["any-protocol"])
    assert client.protocol == "any-protocol"
    client.send(b"\x00" * 100000)
    assert client.receive(timeout=10).data == b"\x00" * 100000


def test_routed_server(run):
    port = run("routed_server.py", "0").port()
    echo = connect(f"ws://127.0.0.1:{port}/echo", ["echo-protocol"])
    echo.send("same")
    assert echo.receive(timeout=10).data == "same"
    shout = connect(f"ws://127.0.0.1:{port}/rooms/lobby", ["shout"])
    shout.send("hello")
    assert shout.receive(timeout=10).data == "[lobby] HELLO"


def test_flask_chat(run):
    import http.client
    port = int(run("flask_chat.py", "0").line().rsplit(":", 1)[1].strip("/"))
    page = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    page.request("GET", "/")
    assert b"new WebSocket" in page.getresponse().read()
    first, second = (connect(f"ws://127.0.0.1:{port}/chat") for _ in range(2))
    first.send("hi all")
    assert first.receive(timeout=10).data == "hi all"
    assert second.receive(timeout=10).data == "hi all"


def test_w3c_client_against_the_echo_server(run):
    port = run("echo_server.py", "0").port()
    out = run("w3c_client.py", f"ws://127.0.0.1:{port}/echo", "echo-protocol").output()
    assert out.splitlines() == [
        "open, protocol: echo-protocol",
        "message: hello from the W3C client",
        "close: 1000 'thanks' clean=True",
    ]



def test_chat_server_example(run):
    import pytest as _pytest
    from wsframework import WebSocketHandshakeError
    port = int(run("chat_server.py", "0").line().split("ws://127.0.0.1:")[1].split("/")[0])
    ann = connect(f"ws://127.0.0.1:{port}/rooms/lobby?nick=ann")
    assert ann.receive(timeout=10).data == "* ann joined"
    bob = connect(f"ws://127.0.0.1:{port}/rooms/lobby?nick=bob")
    assert ann.receive(timeout=10).data == "* bob joined"
    assert bob.receive(timeout=10).data == "* bob joined"
    bob.send("hi ann")
    assert ann.receive(timeout=10).data == "bob: hi ann"
    bob.close()
    assert ann.receive(timeout=10).data == "* bob left"
    with _pytest.raises(WebSocketHandshakeError) as info:
        connect(f"ws://127.0.0.1:{port}/rooms/lobby")
    assert info.value.response.status == 400


def test_chat_bots_against_the_chat_server(run):
    from wsframework.apps.chat import make_server
    server = make_server(port=0)
    server.start()
    try:
        out = run("bot.py", f"ws://127.0.0.1:{server.port}/ws", "4").output(timeout=30)
    finally:
        server.stop(timeout=2)
    assert out.strip() == "chat messages seen per bot: [20, 20, 20, 20]"
