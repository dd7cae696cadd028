"""Interoperability test cases shared by the peers (not collected itself).

Each ``tests/test_interop_*.py`` subclasses these with the peer's scripts:

* :class:`TheirServerCases` -- our blocking client against the peer's echo
  server (``tests/interop/*_echo_server.*``).
* :class:`TheirClientCases` -- the peer's scripted client
  (``tests/interop/*_client.js``) against our server.

Our server's handlers run in the server's greenlets, where a failed assert
would only be logged; they record what our side saw in a :class:`OurSide`,
and the test asserts on it once ``done`` is set.
"""

from __future__ import annotations

import gevent
import pytest
from gevent.event import Event
from gevent.queue import Empty, Queue

import wsframework

from .conftest import ServerFactory
from .interop_peers import (BIG_MESSAGES, BINARY, CLOSE_CASES, CLOSE_IDS, FRAGMENTED_BINARY,
                            FRAGMENTED_TEXT, GREETING, STEP_TIMEOUT, TEXT, Peers, command, describe,
                            expected_steps, large_binary, large_text, sent_payloads)

# The steps of a long scripted exchange; "large" has tests of its own.
EXCHANGE_STEPS = ["text", "binary", "empty", "fragmented", "ping"]

# Our side's close timeout in these tests is long, and waits for the close
# are shorter: a close that only completes because the timer forced it
# fails the test instead of passing slowly.
CLOSE_TIMEOUT = 30.0
CLOSE_WAIT = 10.0


def _kind(data: str | bytes) -> str:
    return "utf8" if isinstance(data, str) else "binary"


def describe_message(message: wsframework.WebSocketMessage) -> dict:
    """``describe`` of a received message, checking type and data agree."""
    data = message.data
    assert message.type == ("utf8" if isinstance(data, str) else "binary"), message
    return describe(data)


def fragmented(frames: list[tuple[int, bool, int]]) -> bool:
    """Whether data frames (opcode, fin, length) form one message sent in
    more than one frame, with the opcode only on the first and fin only on
    the last."""
    return (len(frames) > 1 and frames[0][0] in (1, 2)
            and all(op == 0 for op, _, _ in frames[1:])
            and [fin for _, fin, _ in frames] == [False] * (len(frames) - 1) + [True])


# ---------------------------------------------------------------------------
# Our server
# ---------------------------------------------------------------------------
class OurSide:
    """What our server's connection saw, recorded from its greenlet."""

    def __init__(self) -> None:
        self.messages: list[wsframework.WebSocketMessage] = []
        self.frames: list[list[tuple[int, bool, int]]] = []
        self.pongs: Queue = Queue()
        self.close_events: list[tuple[int, str | None]] = []
        self.close_reason_code: int | None = None
        self.close_description: str | None = None
        self.closed_cleanly: bool | None = None
        self.errors: list[BaseException] = []
        self.extensions: list = []
        self.done = Event()

    def watch(self, connection: wsframework.WebSocketConnection) -> None:
        self.extensions = list(connection.extensions)
        connection.on("close", lambda code, description: self.close_events.append(
            (code, description)))
        connection.on("pong", self.pongs.put)

    def finish(self, connection: wsframework.WebSocketConnection) -> None:
        self.closed_cleanly = connection.wait_closed(CLOSE_WAIT)
        self.close_reason_code = connection.close_reason_code
        self.close_description = connection.close_description
        self.done.set()

    def wait(self) -> "OurSide":
        assert self.done.wait(STEP_TIMEOUT), "our server's handler did not finish"
        assert not self.errors, f"our server's handler raised: {self.errors!r}"
        return self


def run_handler(side: OurSide, body, protocol: str | None = None):
    """A ``request`` handler: accept (with ``protocol``), watch the
    connection, run ``body``, then record how it closed -- whatever ``body``
    raised."""
    def handler(request):
        connection = request.accept(protocol, request.origin)
        side.watch(connection)
        try:
            body(connection)
        except BaseException as exc:  # recorded; asserted by the test
            side.errors.append(exc)
            connection.drop(1011, "test handler failed")
        finally:
            side.finish(connection)
    return handler


def echo_body(side: OurSide):
    def body(connection):
        for message in connection:
            side.messages.append(message)
            connection.send(message.data)
    return body


def close_after_echo_body(side: OurSide, code: int, reason: str):
    """Echo one message, then close with ``code`` and ``reason``."""
    def body(connection):
        message = connection.receive(timeout=STEP_TIMEOUT)
        side.messages.append(message)
        connection.send(message.data)
        connection.close(code, reason)
    return body


def frame_echo_body(side: OurSide):
    """For ``assemble_fragments=False``: record each message's data frames
    and echo the message once its last frame is in."""
    def body(connection):
        frames: list[tuple[int, bool, int]] = []
        payload: list[bytes] = []

        def on_frame(frame):
            if frame.opcode >= 0x8:
                return
            frames.append((frame.opcode, frame.fin, len(frame.binary_payload)))
            payload.append(frame.binary_payload)
            if frame.fin:
                data = b"".join(payload)
                side.frames.append(list(frames))
                if frames[0][0] == 0x1:
                    connection.send(data.decode("utf-8"))
                else:
                    connection.send(data)
                frames.clear()
                payload.clear()

        connection.on("frame", on_frame)
        connection.wait_closed(STEP_TIMEOUT)
    return body


# Keepalive: a ping after 0.2 s of silence; a grace period that outlasts
# the test.  The reference (2.1): "Any received bytes restart the timer", so
# once the pong to one ping arrives, the next ping follows 0.2 s later; if
# the pong did not restart it, the next timer would be the grace period's,
# an hour away, and the second pong would never come.
KEEPALIVE_CONFIG = {"keepalive": True, "keepalive_interval": 0.2,
                    "drop_connection_on_keepalive_timeout": True,
                    "keepalive_grace_period": 3600.0}


def keepalive_body(side: OurSide, pongs: list):
    """Echo one message, then collect the pongs to two keepalive pings
    (the second one is only sent once the first pong restarted the idle
    interval) and close."""
    def body(connection):
        message = connection.receive(timeout=STEP_TIMEOUT)
        connection.send(message.data)
        try:
            pongs.append(side.pongs.get(timeout=STEP_TIMEOUT))
            pongs.append(side.pongs.get(timeout=STEP_TIMEOUT))
        except Empty:
            pass
        finally:
            connection.close(1000, "kept alive")
    return body


def check_keepalive_pongs(pongs: list) -> None:
    assert pongs, "no pong to our keepalive ping"
    assert pongs == [b"", b""], (
        f"after the pong to the first keepalive ping, no second ping was answered "
        f"although keepalive_interval is {KEEPALIVE_CONFIG['keepalive_interval']} s (the "
        f"pong should restart the idle timer; the grace period is "
        f"{KEEPALIVE_CONFIG['keepalive_grace_period']} s)")


class TheirClientCases:
    """The peer's scripted client (tests/interop/<CLIENT>) against our server."""

    CLIENT: str = ""
    PING_PAYLOAD: str = ""
    # WebSocket-Node reports the close code and reason it sent when it
    # closes first; ws reports what our close reply carried.
    INITIATOR_REPORTS_OWN_REASON: bool = False

    def initiator_reports(self, code: int) -> int:
        """The code the peer that closed first reports: its own (Node), or
        the code of our reply, which is 1000 as WebSocket-Node answers
        (reference §4.6), not an echo."""
        return code if self.INITIATOR_REPORTS_OWN_REASON else 1000

    def run_client(self, peers, url: str, *args: str, opened: bool = True) -> list[dict]:
        """Run the client script to its end; its JSON lines."""
        client = peers.node(self.CLIENT, url, *args)
        lines = client.read_all(timeout=STEP_TIMEOUT)
        self.check_client_lines(lines, opened)
        return lines

    @staticmethod
    def check_client_lines(lines: list[dict], opened: bool = True) -> None:
        errors = [line for line in lines if line.get("event") in ("error", "socket-error")]
        assert not errors, errors
        if opened:
            assert lines and lines[0] == {"event": "open", "protocol": None,
                                          "extensions": None}, lines[:1]

    @staticmethod
    def steps(lines: list[dict]) -> list[dict]:
        return [line for line in lines if "step" in line]

    @staticmethod
    def close_line(lines: list[dict]) -> dict:
        closes = [line for line in lines if line.get("event") == "close"]
        assert len(closes) == 1, lines
        return closes[0]

    def _echo_server(self, make_server, side, **config):
        return make_server(run_handler(side, echo_body(side)), close_timeout=CLOSE_TIMEOUT,
                           **BIG_MESSAGES, **config)

    # -- data ------------------------------------------------------------------
    def test_text_and_binary(self, make_server, peers):
        side = OurSide()
        server = self._echo_server(make_server, side)
        lines = self.run_client(peers, server.url + "/text", "--steps=text,binary,empty",
                                "--close=1000:done")
        assert self.steps(lines) == [{"step": "text", **describe(TEXT)},
                                     {"step": "binary", **describe(BINARY)},
                                     {"step": "empty-text", **describe("")},
                                     {"step": "empty-binary", **describe(b"")}]
        side.wait()
        assert [(m.type, m.data) for m in side.messages] == [
            ("utf8", TEXT), ("binary", BINARY), ("utf8", ""), ("binary", b"")]
        assert side.close_reason_code == 1000 and side.close_description == "done"

    def test_subprotocol_keeps_the_clients_spelling(self, make_server, peers):
        # The handler accepts the lowercased name from requested_protocols;
        # the response must still carry the client's spelling, or the
        # client refuses the handshake (RFC 6455 4.1; reference 3.4, 9 #14).
        side = OurSide()
        requested = []

        def handler(request):
            requested.append(list(request.requested_protocols))
            run_handler(side, echo_body(side), protocol=request.requested_protocols[0])(request)

        server = make_server(handler, close_timeout=CLOSE_TIMEOUT)
        lines = self.run_client(peers, server.url + "/proto", "--steps=text",
                                "--protocol=Chat.V1", "--close=1000:done", opened=False)
        assert lines[0] == {"event": "open", "protocol": "Chat.V1", "extensions": None}, lines
        assert self.steps(lines) == [{"step": "text", **describe(TEXT)}]
        side.wait()
        assert requested == [["chat.v1"]]

    def test_fragmented_messages_both_ways(self, make_server, peers):
        # The client fragments what it sends; our server, with a 4 KiB
        # threshold, fragments the ~15 KB echoes.
        side = OurSide()
        server = self._echo_server(make_server, side, fragmentation_threshold=4096)
        lines = self.run_client(peers, server.url + "/fragmented", "--steps=fragmented",
                                "--close=1000:done")
        assert self.steps(lines) == [{"step": "fragmented-text", **describe(FRAGMENTED_TEXT)},
                                     {"step": "fragmented-binary",
                                      **describe(FRAGMENTED_BINARY)}]
        side.wait()
        assert [describe_message(m) for m in side.messages] == [
            describe(FRAGMENTED_TEXT), describe(FRAGMENTED_BINARY)]

    def test_their_fragments_arrive_as_frames(self, make_server, peers):
        # With assemble_fragments=False our server sees the frames: this
        # proves the client really fragmented (so the test above is not
        # vacuous) and that our frame-level API sees continuation frames.
        side = OurSide()
        server = make_server(run_handler(side, frame_echo_body(side)), assemble_fragments=False,
                             close_timeout=CLOSE_TIMEOUT, **BIG_MESSAGES)
        lines = self.run_client(peers, server.url + "/frames", "--steps=fragmented",
                                "--close=1000:done")
        assert self.steps(lines) == [{"step": "fragmented-text", **describe(FRAGMENTED_TEXT)},
                                     {"step": "fragmented-binary",
                                      **describe(FRAGMENTED_BINARY)}]
        side.wait()
        assert len(side.frames) == 2, side.frames
        text_frames, binary_frames = side.frames
        assert fragmented(text_frames) and text_frames[0][0] == 0x1, text_frames
        assert fragmented(binary_frames) and binary_frames[0][0] == 0x2, binary_frames
        assert sum(n for _, _, n in text_frames) == len(FRAGMENTED_TEXT.encode("utf-8"))
        assert sum(n for _, _, n in binary_frames) == len(FRAGMENTED_BINARY)

    def test_large_messages(self, make_server, peers):
        side = OurSide()
        server = self._echo_server(make_server, side)
        lines = self.run_client(peers, server.url + "/large", "--steps=large",
                                "--close=1000:done")
        assert self.steps(lines) == [{"step": "large-binary", **describe(large_binary())},
                                     {"step": "large-text", **describe(large_text())}]
        side.wait()
        assert [describe_message(m) for m in side.messages] == [
            describe(large_binary()), describe(large_text())]

    def test_full_exchange(self, make_server, peers):
        # Every step but the large one (tested above; it is the slow one)
        # on one connection, as a long-lived client would.
        side = OurSide()
        server = self._echo_server(make_server, side, fragmentation_threshold=4096)
        lines = self.run_client(peers, server.url + "/exchange",
                                "--steps=" + ",".join(EXCHANGE_STEPS),
                                "--close=1000:exchange done")
        assert self.steps(lines) == expected_steps(EXCHANGE_STEPS, pong=self.PING_PAYLOAD)
        assert self.close_line(lines)["code"] == 1000
        side.wait()
        assert [describe_message(m) for m in side.messages] == [
            describe(data) for data in sent_payloads(EXCHANGE_STEPS)]
        assert side.close_reason_code == 1000
        assert side.close_description == "exchange done"
        assert side.close_events == [(1000, "exchange done")]

    # -- ping/pong -------------------------------------------------------------
    def test_ping_from_their_client(self, make_server, peers):
        side = OurSide()
        server = self._echo_server(make_server, side)
        lines = self.run_client(peers, server.url + "/ping", "--steps=ping", "--close=1000:done")
        assert self.steps(lines) == [{"step": "ping", "pong": self.PING_PAYLOAD}]
        side.wait()
        assert side.messages == []

    def test_ping_from_our_server(self, make_server, peers):
        payload = "ping from wsframework ✓"
        side = OurSide()
        pongs = []

        def body(connection):
            message = connection.receive(timeout=STEP_TIMEOUT)
            side.messages.append(message)
            connection.send(message.data)
            connection.ping(payload.encode("utf-8"))
            try:
                pongs.append(side.pongs.get(timeout=STEP_TIMEOUT))
            finally:
                connection.close(1000, "pinged")

        server = make_server(run_handler(side, body), close_timeout=CLOSE_TIMEOUT)
        lines = self.run_client(peers, server.url + "/server-ping", "--steps=text",
                                "--await-close")
        side.wait()
        assert pongs == [payload.encode("utf-8")]
        assert {"event": "ping", "data": payload} in lines
        assert self.close_line(lines) == {"event": "close", "code": 1000, "reason": "pinged"}
        assert side.closed_cleanly

    def test_keepalive_pings_are_answered(self, make_server, peers):
        side = OurSide()
        pongs: list[bytes] = []
        server = make_server(run_handler(side, keepalive_body(side, pongs)),
                             close_timeout=CLOSE_TIMEOUT, **KEEPALIVE_CONFIG)
        lines = self.run_client(peers, server.url + "/keepalive", "--steps=text",
                                "--await-close")
        side.wait()
        check_keepalive_pongs(pongs)
        pings = [line for line in lines if line.get("event") == "ping"]
        assert len(pings) >= 2 and all(ping["data"] == "" for ping in pings), pings
        assert self.close_line(lines) == {"event": "close", "code": 1000, "reason": "kept alive"}
        assert (side.close_reason_code, side.close_description) == (1000, "kept alive")

    # -- close codes -----------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def close_runs(cls):
        """Every close case, each in its own client process, all started at
        once (one Node start per case, one after the other, would dominate
        the run time).  Yields {path: (client lines or the failure, OurSide)}
        for the parametrized tests below to check, one case each."""
        factory = ServerFactory()
        registry = Peers()
        sides: dict[str, OurSide] = {}
        bodies = {}
        for code, reason in CLOSE_CASES:
            sides[f"/close-{code}"] = side = OurSide()
            bodies[f"/close-{code}"] = echo_body(side)
            sides[f"/server-close-{code}"] = side = OurSide()
            bodies[f"/server-close-{code}"] = close_after_echo_body(side, code, reason)

        def on_request(request):
            path = request.resource
            run_handler(sides[path], bodies[path])(request)

        try:
            server = factory(on_request, close_timeout=CLOSE_TIMEOUT)
            clients = {}
            for code, reason in CLOSE_CASES:
                clients[f"/close-{code}"] = registry.node(
                    cls.CLIENT, server.url + f"/close-{code}", "--steps=text",
                    f"--close={code}:{reason}")
                clients[f"/server-close-{code}"] = registry.node(
                    cls.CLIENT, server.url + f"/server-close-{code}", "--steps=text",
                    "--await-close")
            deadline = gevent.get_hub().loop.now() + STEP_TIMEOUT
            results = {}
            for path, client in clients.items():
                try:
                    remaining = max(deadline - gevent.get_hub().loop.now(), 0.1)
                    results[path] = (client.read_all(timeout=remaining), sides[path])
                except (pytest.fail.Exception, AssertionError) as exc:
                    results[path] = (exc, sides[path])
            yield results
        finally:
            registry.close()
            factory.close()

    def close_run(self, close_runs, path: str) -> tuple[list[dict], OurSide]:
        lines, side = close_runs[path]
        if isinstance(lines, BaseException):
            raise lines
        self.check_client_lines(lines)
        return lines, side

    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_their_client(self, close_runs, code, reason):
        lines, side = self.close_run(close_runs, f"/close-{code}")
        assert self.steps(lines) == [{"step": "text", **describe(TEXT)}]
        close = self.close_line(lines)
        assert close["code"] == self.initiator_reports(code)
        if self.INITIATOR_REPORTS_OWN_REASON:
            assert close["reason"] == reason
        side.wait()
        assert side.closed_cleanly
        assert (side.close_reason_code, side.close_description) == (code, reason)
        assert side.close_events == [(code, reason)]

    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_our_server(self, close_runs, code, reason):
        lines, side = self.close_run(close_runs, f"/server-close-{code}")
        assert self.steps(lines) == [{"step": "text", **describe(TEXT)}]
        assert self.close_line(lines) == {"event": "close", "code": code, "reason": reason}
        side.wait()
        assert side.closed_cleanly, "the close handshake did not complete before the timeout"
        assert (side.close_reason_code, side.close_description) == (code, reason)
        assert side.close_events == [(code, reason)]


# ---------------------------------------------------------------------------
# Their server
# ---------------------------------------------------------------------------
class TheirServerCases:
    """Our blocking client against the peer's echo server."""

    SERVER: str = ""
    SERVER_RUNTIME: str = "node"  # or "python"
    # Arguments that make the server accept permessage-deflate, if it can.
    DEFLATE_SERVER_ARGS: tuple = ()
    # Whether the server reports the reason it sent when it closes first
    # (WebSocket-Node) rather than what our close reply carried.
    INITIATOR_REPORTS_OWN_REASON: bool = False

    def initiator_reports(self, code: int) -> int:
        """The code the peer that closed first reports: its own (Node), or
        the code of our reply, which is 1000 as WebSocket-Node answers
        (reference §4.6), not an echo."""
        return code if self.INITIATOR_REPORTS_OWN_REASON else 1000

    @pytest.fixture(scope="class")
    @classmethod
    def their_server(cls):
        """One echo server for the whole class (starting one per test would
        dominate the run time); each test uses its own request path and
        picks its own lines out of the server's output by that path."""
        registry = Peers()
        try:
            yield registry.server(cls.SERVER_RUNTIME, cls.SERVER)
        finally:
            registry.close()

    @pytest.fixture(autouse=True)
    def _drop_our_connections(self):
        # A failed test may leave its connection open; the server lives on.
        self._opened: list[wsframework.WebSocketConnection] = []
        yield
        for connection in self._opened:
            connection.drop(1001, skip_close_frame=True)  # no-op once closed

    def connect(self, their_server, path: str, **config) -> wsframework.WebSocketConnection:
        connection = wsframework.connect(their_server.url + path, close_timeout=CLOSE_TIMEOUT,
                                         open_timeout=STEP_TIMEOUT, **BIG_MESSAGES, **config)
        self._opened.append(connection)
        return connection

    @staticmethod
    def receive(connection) -> wsframework.WebSocketMessage:
        message = connection.receive(timeout=STEP_TIMEOUT)
        assert message is not None, (
            f"closed instead: {connection.close_reason_code} {connection.close_description}")
        return message

    @staticmethod
    def close(their_server, connection, path: str) -> None:
        connection.close(1000, "done")
        assert connection.wait_closed(CLOSE_WAIT)
        assert connection.close_reason_code == 1000
        assert their_server.expect(event="close", path=path)["code"] == 1000

    # -- data ------------------------------------------------------------------
    def test_text_and_binary(self, their_server):
        connection = self.connect(their_server, "/text")
        assert their_server.expect(event="connection", path="/text")["protocol"] is None
        for data in (TEXT, BINARY, "", b""):
            connection.send(data)
            message = self.receive(connection)
            assert (message.type, message.data) == (_kind(data), data)
            reported = their_server.expect(event="message", path="/text")
            assert reported == {"event": "message", "path": "/text", **describe(data)}
        self.close(their_server, connection, "/text")

    def test_message_right_after_the_handshake(self, their_server):
        # The server sends at once, so the frame may arrive together with
        # the 101 response; none of it may be lost.
        connection = self.connect(their_server, "/greet")
        message = self.receive(connection)
        assert (message.type, message.data) == ("utf8", GREETING)
        connection.send(TEXT)
        assert self.receive(connection).data == TEXT
        self.close(their_server, connection, "/greet")

    def test_subprotocol_and_origin(self, their_server):
        connection = self.connect(their_server, "/proto", protocols=["chat.v2", "chat.v1"],
                                  origin="http://interop.example")
        assert connection.protocol == "chat.v2"
        reported = their_server.expect(event="connection", path="/proto")
        assert (reported["protocol"], reported["origin"]) == ("chat.v2", "http://interop.example")
        # This server takes no extension, whatever our client offers.
        assert reported["extensions"] is None
        assert list(connection.extensions) == []
        connection.send(TEXT)
        assert self.receive(connection).data == TEXT
        self.close(their_server, connection, "/proto")

    def test_fragmented_from_their_server(self, their_server):
        connection = self.connect(their_server, "/fragments")
        for kind, data in (("text", FRAGMENTED_TEXT), ("binary", FRAGMENTED_BINARY)):
            connection.send(command("fragments", type=kind))
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
        self.close(their_server, connection, "/fragments")

    def test_their_fragments_arrive_as_frames(self, their_server):
        # Proves the server really fragments (so the test above is not
        # vacuous) and that our client's frame-level API sees it.
        connection = self.connect(their_server, "/frames", assemble_fragments=False)
        frames: Queue = Queue()
        connection.on("frame", lambda frame: frames.put(frame) if frame.opcode < 0x8 else None)
        for kind, opcode, data in (("text", 0x1, FRAGMENTED_TEXT.encode("utf-8")),
                                   ("binary", 0x2, FRAGMENTED_BINARY)):
            connection.send(command("fragments", type=kind))
            seen, payload = [], []
            while not seen or not seen[-1][1]:
                try:
                    frame = frames.get(timeout=STEP_TIMEOUT)
                except Empty:
                    pytest.fail(f"no complete fragmented {kind} message; frames so far: {seen}")
                seen.append((frame.opcode, frame.fin, len(frame.binary_payload)))
                payload.append(frame.binary_payload)
            assert fragmented(seen) and seen[0][0] == opcode, seen
            assert b"".join(payload) == data
        self.close(their_server, connection, "/frames")

    def test_fragmented_from_our_client(self, their_server):
        connection = self.connect(their_server, "/our-fragments", fragmentation_threshold=4096)
        for data in (FRAGMENTED_TEXT, FRAGMENTED_BINARY):
            connection.send(data)
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
            reported = their_server.expect(event="message", path="/our-fragments")
            assert reported == {"event": "message", "path": "/our-fragments", **describe(data)}
        self.close(their_server, connection, "/our-fragments")

    def test_large_messages(self, their_server):
        # Sent as single frames (64-bit length, one mask over 16 MiB); the
        # fragmented path is covered by the echoes of TheirClientCases.
        connection = self.connect(their_server, "/large", fragment_outgoing_messages=False)
        for data in (large_binary(), large_text()):
            connection.send(data)
            message = self.receive(connection)
            assert message.type == _kind(data)
            assert describe(message.data) == describe(data)
            reported = their_server.expect(event="message", path="/large")
            assert reported == {"event": "message", "path": "/large", **describe(data)}
        self.close(their_server, connection, "/large")

    def test_compression_offer(self, peers):
        # Our client offers permessage-deflate if configured to (it is by
        # default as this is written); a server started with
        # DEFLATE_SERVER_ARGS may accept.  Whatever was agreed, both sides
        # must agree on it and every kind of message must get through.
        server = peers.server(self.SERVER_RUNTIME, self.SERVER, *self.DEFLATE_SERVER_ARGS)
        connection = self.connect(server, "/deflate")
        reported = server.expect(event="connection", path="/deflate")
        agreed = reported["extensions"]
        assert bool(connection.extensions) == (agreed is not None), (
            f"we use {connection.extensions!r}, the server agreed to {agreed!r}")
        if agreed is not None:
            assert agreed.startswith("permessage-deflate")
        for data in (TEXT, BINARY, "", b"", FRAGMENTED_TEXT, FRAGMENTED_BINARY):
            connection.send(data)
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
            assert server.expect(event="message", path="/deflate") == {
                "event": "message", "path": "/deflate", **describe(data)}
        for kind, data in (("text", FRAGMENTED_TEXT), ("binary", FRAGMENTED_BINARY)):
            connection.send(command("fragments", type=kind))
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
        self.close(server, connection, "/deflate")

    # -- ping/pong -------------------------------------------------------------
    def test_ping_from_our_client(self, their_server):
        connection = self.connect(their_server, "/ping")
        pongs: Queue = Queue()
        connection.on("pong", pongs.put)
        # An ordinary payload, then the largest a control frame can carry.
        for payload in ("ping from wsframework ✓".encode("utf-8"), bytes(range(125))):
            connection.ping(payload)
            try:
                assert pongs.get(timeout=STEP_TIMEOUT) == payload
            except Empty:
                pytest.fail(f"no pong to a {len(payload)}-byte ping")
        # The connection still works afterwards.
        connection.send(TEXT)
        assert self.receive(connection).data == TEXT
        self.close(their_server, connection, "/ping")

    def test_ping_from_their_server(self, their_server):
        connection = self.connect(their_server, "/server-ping")
        payload = "ping from the peer ✓"
        connection.send(command("ping", data=payload))
        message = self.receive(connection)
        assert (message.type, message.data) == ("utf8", f"pong:{payload}")
        assert their_server.expect(event="pong", path="/server-ping")["data"] == payload
        self.close(their_server, connection, "/server-ping")

    # -- close codes -----------------------------------------------------------
    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_our_client(self, their_server, code, reason):
        path = f"/close-{code}"
        connection = self.connect(their_server, path)
        events = []
        connection.on("close", lambda *args: events.append(args))
        connection.send(TEXT)
        assert self.receive(connection).data == TEXT
        connection.close(code, reason)
        assert connection.wait_closed(CLOSE_WAIT), "the close handshake did not complete"
        assert (connection.close_reason_code, connection.close_description) == (code, reason)
        assert events == [(code, reason)]
        reported = their_server.expect(event="close", path=path)
        assert (reported["code"], reported["reason"]) == (code, reason)

    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_their_server(self, their_server, code, reason):
        path = f"/server-close-{code}"
        connection = self.connect(their_server, path)
        events = []
        connection.on("close", lambda *args: events.append(args))
        connection.send(command("close", code=code, reason=reason))
        assert connection.receive(timeout=STEP_TIMEOUT) is None
        assert connection.wait_closed(CLOSE_WAIT), "the close handshake did not complete"
        assert (connection.close_reason_code, connection.close_description) == (code, reason)
        assert events == [(code, reason)]
        reported = their_server.expect(event="close", path=path)
        assert reported["code"] == self.initiator_reports(code)
        if self.INITIATOR_REPORTS_OWN_REASON:
            assert reported["reason"] == reason


def websockets_clients(**defaults):
    """Generator behind the ``their_client`` fixtures: yields
    ``open(url, **kwargs)``, which returns an open ``websockets`` sync
    client connection, and closes them all afterwards.  Its background
    thread needs gevent's monkey-patching (``pytest-gevent``)."""
    import gevent.monkey
    from websockets.sync.client import connect as websockets_connect

    if not (gevent.monkey.is_module_patched("socket")
            and gevent.monkey.is_module_patched("threading")):
        pytest.fail("the websockets sync client runs in a thread: run these tests with "
                    "`pytest-gevent` (gevent monkey-patching) or they would deadlock",
                    pytrace=False)
    opened = []

    def open_(url: str, **kwargs):
        # Its close_timeout is longer than any wait here: websockets waits
        # for the server to close TCP first (RFC 6455 7.1.1), so a server
        # that does not would make the bounded waits fail.
        options = {"max_size": 1 << 26, "open_timeout": STEP_TIMEOUT,
                   "close_timeout": CLOSE_TIMEOUT, "ping_interval": None, **defaults}
        options.update(kwargs)
        ws = websockets_connect(url, **options)
        opened.append(ws)
        return ws.__enter__()

    yield open_
    for ws in opened:
        ws.close_timeout = 1  # a failed test may leave one open
        ws.__exit__(None, None, None)
