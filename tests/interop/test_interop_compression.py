"""permessage-deflate interoperability, compression on in both directions:

* the Node package ``ws`` (8.x): its echo server (``ws_echo_server.js
  --deflate``) against our client, its client (``ws_client.js --deflate``)
  against our server;
* the Python ``websockets`` package: its asyncio echo server in a
  subprocess (``websockets_echo_server.py --deflate``) against our client,
  its sync client (compression is its default) against our server;
* WebSocket-Node (``websocket`` 1.0.35), which implements no extension: our
  client must fall back cleanly, and our server must not need it.

Each side must report the same agreement, every kind of message must get
through (text, binary, empty, fragmented, over 1 MiB compressible and
incompressible), and the bytes on the wire (or the peer's own view of the
frames) must show that messages really were compressed.
"""

from __future__ import annotations

import os

import gevent
import pytest
from gevent.queue import Empty, Queue

import wsframework
from wsframework.protocol.extensions import parse_extension_header

from ..interop_cases import (websockets_clients, CLOSE_TIMEOUT, CLOSE_WAIT, OurSide, describe_message, echo_body,
                            expected_steps, fragmented, run_handler)
from ..interop_peers import (BIG_MESSAGES, BINARY, FRAGMENT_BINARY_PARTS, FRAGMENT_TEXT_PARTS,
                            FRAGMENTED_BINARY, FRAGMENTED_TEXT, STEP_TIMEOUT, TEXT, Peers, command,
                            describe, large_binary, large_text, peers)  # noqa: F401 (fixture)

PMD = "permessage-deflate"
AGREED = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
OUR_OFFER = AGREED
MiB = 1 << 20

# Over 1 MiB: compressible text (about 4 MiB) and incompressible binary.
BIG_TEXT = "".join(f"line {i}: compressible ✓ ü 🚀\n" for i in range(120_000))
RANDOM = os.urandom(2 * MiB + 5)
assert len(BIG_TEXT.encode()) > 3 * MiB

MESSAGES = [TEXT, BINARY, "", b"", FRAGMENTED_TEXT, FRAGMENTED_BINARY, BIG_TEXT, RANDOM, TEXT]


def _kind(data) -> str:
    return "utf8" if isinstance(data, str) else "binary"


# ===========================================================================
# Their servers, our client
# ===========================================================================
class _TheirCompressingServer:
    SERVER = ""
    RUNTIME = ""
    # The key of the server's "connection" line that holds the
    # Sec-WebSocket-Extensions it answered.
    ANSWER_KEY = ""

    @pytest.fixture(scope="class")
    @classmethod
    def their_server(cls):
        registry = Peers()
        try:
            yield registry.server(cls.RUNTIME, cls.SERVER, "--deflate")
        finally:
            registry.close()

    @pytest.fixture(autouse=True)
    def _drop_our_connections(self):
        self._opened: list = []
        yield
        for connection in self._opened:
            connection.drop(1001, skip_close_frame=True)

    def connect(self, their_server, path: str, **config):
        connection = wsframework.connect(their_server.url + path, close_timeout=CLOSE_TIMEOUT,
                                         open_timeout=STEP_TIMEOUT, **BIG_MESSAGES, **config)
        self._opened.append(connection)
        return connection

    @staticmethod
    def receive(connection):
        message = connection.receive(timeout=STEP_TIMEOUT)
        assert message is not None, (
            f"closed instead: {connection.close_reason_code} {connection.close_description}")
        return message

    @staticmethod
    def close(their_server, connection, path: str) -> dict:
        connection.close(1000, "done")
        assert connection.wait_closed(CLOSE_WAIT)
        assert connection.close_reason_code == 1000
        closed = their_server.expect(event="close", path=path)
        assert closed["code"] == 1000
        return closed

    def test_agreement_and_messages(self, their_server):
        path = "/deflate-messages"
        # 4 KiB fragments: the compressed payloads are cut into frames too.
        connection = self.connect(their_server, path, fragmentation_threshold=4096)
        reported = their_server.expect(event="connection", path=path)
        assert reported[self.ANSWER_KEY] == AGREED
        assert [str(e) for e in connection.extensions] == [AGREED]
        for data in MESSAGES:
            connection.send(data)
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
            assert their_server.expect(event="message", path=path) == {
                "event": "message", "path": path, **describe(data)}
        # Fragmented messages compressed by them.
        for kind, data in (("text", FRAGMENTED_TEXT), ("binary", FRAGMENTED_BINARY)):
            connection.send(command("fragments", type=kind))
            message = self.receive(connection)
            assert (message.type, describe(message.data)) == (_kind(data), describe(data))
        self.close(their_server, connection, path)

    def test_they_compress(self, their_server):
        # Our frame-level API shows RSV1 on what they send.
        path = "/deflate-frames"
        connection = self.connect(their_server, path, assemble_fragments=False)
        frames: Queue = Queue()
        connection.on("frame", lambda f: frames.put(f) if f.opcode < 8 else None)

        def next_message():
            seen = []
            while not seen or not seen[-1].fin:
                try:
                    seen.append(frames.get(timeout=STEP_TIMEOUT))
                except Empty:
                    pytest.fail(f"no complete message; frames so far: {seen}")
            return seen

        for data in (TEXT, BIG_TEXT, RANDOM):
            connection.send(data)
            seen = next_message()
            assert seen[0].rsv1, f"their echo of {len(data)} bytes was not compressed"
            assert not any(f.rsv1 for f in seen[1:])
            payload = b"".join(f.binary_payload for f in seen)
            assert payload == (data.encode() if isinstance(data, str) else data)
        connection.send(command("fragments", type="binary"))
        seen = next_message()
        assert fragmented([(f.opcode, f.fin, 0) for f in seen]) and seen[0].rsv1
        assert not any(f.rsv1 for f in seen[1:])
        assert b"".join(f.binary_payload for f in seen) == FRAGMENTED_BINARY
        self.close(their_server, connection, path)

    @pytest.mark.parametrize("config, expected", [
        ({"server_no_context_takeover": True, "client_no_context_takeover": True},
         (True, True, 12, 12)),
        ({"server_max_window_bits": 9, "client_max_window_bits": 10}, (False, False, 10, 9)),
    ], ids=["no-context-takeover", "small-windows"])
    def test_our_settings(self, their_server, config, expected):
        path = f"/deflate-settings-{'-'.join(config)}"
        connection = self.connect(their_server, path, **config)
        [extension] = connection.extensions
        assert (extension.local_no_context_takeover, extension.remote_no_context_takeover,
                extension.local_max_window_bits, extension.remote_max_window_bits) == expected
        reported = their_server.expect(event="connection", path=path)
        [(name, answered)] = parse_extension_header([reported[self.ANSWER_KEY]])
        assert name == PMD
        assert dict(answered) == dict(extension.params)
        for data in (TEXT, TEXT, BIG_TEXT, RANDOM, BIG_TEXT):
            connection.send(data)
            assert describe(self.receive(connection).data) == describe(data)
        self.close(their_server, connection, path)


class TestWsServerCompressed(_TheirCompressingServer):
    SERVER = "ws_echo_server.js"
    RUNTIME = "node"
    ANSWER_KEY = "extensionsHeader"

    def test_ws_reports_the_extension(self, their_server):
        path = "/deflate-report"
        connection = self.connect(their_server, path)
        assert their_server.expect(event="connection", path=path)["extensions"] == PMD
        assert connection.extensions == [PMD]
        self.close(their_server, connection, path)

    def test_we_compress_on_the_wire(self, their_server):
        # ws counts the TCP bytes it read: far fewer than the data sent.
        path = "/deflate-bytes"
        connection = self.connect(their_server, path)
        sent = 0
        for data in (BIG_TEXT, large_binary(), BIG_TEXT):
            connection.send(data)
            assert describe(self.receive(connection).data) == describe(data)
            sent += len(data.encode() if isinstance(data, str) else data)
        closed = self.close(their_server, connection, path)
        assert sent > 20 * MiB
        assert closed["bytesRead"] < MiB, f"ws read {closed['bytesRead']} bytes for {sent}"
        assert closed["bytesWritten"] < MiB, f"ws wrote {closed['bytesWritten']} bytes"


class TestWebsocketsServerCompressed(_TheirCompressingServer):
    SERVER = "websockets_echo_server.py"
    RUNTIME = "python"
    ANSWER_KEY = "extensions"  # websockets_echo_server.py reports its response header


# ===========================================================================
# Their clients, our server
# ===========================================================================
def _echo_server(make_server, side, **config):
    return make_server(run_handler(side, echo_body(side)), close_timeout=CLOSE_TIMEOUT,
                       **BIG_MESSAGES, **config)


def _client_lines(peers, script, url, *args):
    lines = peers.node(script, url, *args).read_all(timeout=STEP_TIMEOUT)
    errors = [line for line in lines if line.get("event") in ("error", "socket-error")]
    assert not errors, errors
    return lines


class TestWsClientCompressed:
    STEPS = ["text", "binary", "empty", "fragmented", "large", "random"]

    def test_full_exchange(self, make_server, peers):
        side = OurSide()
        server = _echo_server(make_server, side, fragmentation_threshold=4096)
        lines = _client_lines(peers, "ws_client.js", server.url + "/deflate", "--deflate",
                              "--stats", "--steps=" + ",".join(self.STEPS), "--close=1000:done")
        assert lines[0] == {"event": "open", "protocol": None, "extensions": PMD,
                            "extensionsHeader": AGREED}
        steps = [line for line in lines if "step" in line]
        random_step = steps.pop()
        assert steps == expected_steps(self.STEPS[:-1])
        assert random_step["step"] == "random" and random_step["type"] == "binary"
        assert random_step["length"] == 2 * MiB + 7
        assert random_step["sha256"] == random_step["sentSha256"]
        side.wait()
        assert [str(e) for e in side.extensions] == [AGREED]
        received = [describe_message(m) for m in side.messages]
        assert received[:-1] == [describe(d) for d in (
            TEXT, BINARY, "", b"", FRAGMENTED_TEXT, FRAGMENTED_BINARY,
            large_binary(), large_text())]
        assert received[-1]["sha256"] == random_step["sentSha256"]
        assert (side.close_reason_code, side.close_description) == (1000, "done")
        # 34 MiB went each way; compressed, little more than the 2 MiB of
        # random data crossed the wire in each direction.
        [stats] = [line for line in lines if line.get("event") == "stats"]
        assert stats["bytesWritten"] < 3 * MiB, stats
        assert stats["bytesRead"] < 3 * MiB, stats

    def test_our_server_settings(self, make_server, peers):
        side = OurSide()
        server = _echo_server(make_server, side, server_no_context_takeover=True,
                              client_no_context_takeover=True, server_max_window_bits=9,
                              client_max_window_bits=10)
        steps = ["text", "binary", "fragmented", "random"]
        lines = _client_lines(peers, "ws_client.js", server.url + "/deflate-settings",
                              "--deflate", "--steps=" + ",".join(steps), "--close=1000:done")
        answer = (f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
                  "server_max_window_bits=9; client_max_window_bits=10")
        assert lines[0]["extensionsHeader"] == answer
        step_lines = [line for line in lines if "step" in line]
        assert step_lines[:-1] == expected_steps(steps[:-1])
        assert step_lines[-1]["sha256"] == step_lines[-1]["sentSha256"]
        side.wait()
        assert [str(e) for e in side.extensions] == [answer]
        assert len(side.messages) == 5
        assert side.close_reason_code == 1000


@pytest.fixture
def their_client():
    """``open(url, **kwargs)``: a websockets sync client, with compression
    (its default), closed at teardown."""
    yield from websockets_clients()


def _spy_on_frames(ws):
    """Record (opcode, RSV1) of each data frame websockets receives and
    sends (its extension's decode/encode see every frame)."""
    [extension] = ws.protocol.extensions
    received, sent = [], []
    decode, encode = extension.decode, extension.encode

    def spy_decode(frame, *args, **kwargs):
        if frame.opcode.value in (0, 1, 2):
            received.append((frame.opcode.value, frame.rsv1))
        return decode(frame, *args, **kwargs)

    def spy_encode(frame, *args, **kwargs):
        frame = encode(frame, *args, **kwargs)
        if frame.opcode.value in (0, 1, 2):
            sent.append((frame.opcode.value, frame.rsv1))
        return frame

    extension.decode, extension.encode = spy_decode, spy_encode
    return extension, received, sent


class TestWebsocketsClientCompressed:
    @staticmethod
    def close(ws, side):
        with gevent.Timeout(CLOSE_WAIT, AssertionError("the close did not complete in time")):
            ws.close(1000, "done")
        side.wait()
        assert (side.close_reason_code, side.close_description) == (1000, "done")

    def test_agreement_and_messages(self, make_server, their_client):
        side = OurSide()
        server = _echo_server(make_server, side, fragmentation_threshold=4096)
        ws = their_client(server.url + "/deflate")
        assert ws.request.headers["Sec-WebSocket-Extensions"] == f"{PMD}; client_max_window_bits"
        assert ws.response.headers["Sec-WebSocket-Extensions"] == AGREED
        extension, received, sent = _spy_on_frames(ws)
        assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (12, 12)
        expected_received = []
        for data in MESSAGES:
            ws.send(data)
            echoed = ws.recv(timeout=STEP_TIMEOUT)
            assert type(echoed) is type(data) and describe(echoed) == describe(data)
            size = len(data.encode() if isinstance(data, str) else data)
            expected_received.append(size >= 32)  # our compression_threshold
        for parts, data in ((FRAGMENT_TEXT_PARTS, FRAGMENTED_TEXT),
                            (FRAGMENT_BINARY_PARTS, FRAGMENTED_BINARY)):
            ws.send(parts)  # a fragmented message, compressed by websockets
            assert describe(ws.recv(timeout=STEP_TIMEOUT)) == describe(data)
            expected_received.append(True)
        self.close(ws, side)
        assert [str(e) for e in side.extensions] == [AGREED]
        assert [describe_message(m) for m in side.messages] == [
            describe(d) for d in MESSAGES + [FRAGMENTED_TEXT, FRAGMENTED_BINARY]]
        # Our server compressed every echo above its threshold (TEXT is 29
        # bytes): RSV1 on the first frame of those, and on no 4 KiB
        # continuation frame.
        firsts = [rsv1 for opcode, rsv1 in received if opcode != 0]
        continuations = [rsv1 for opcode, rsv1 in received if opcode == 0]
        assert firsts == expected_received
        assert continuations and not any(continuations)
        # websockets compressed what it sent (all but, perhaps, the empty
        # messages), and fragmented the parts.
        sent_firsts = [rsv1 for opcode, rsv1 in sent if opcode != 0]
        assert len(sent_firsts) == len(MESSAGES) + 2
        assert all(rsv1 for data, rsv1 in zip(MESSAGES + ["x", "x"], sent_firsts) if data)
        sent_continuations = [rsv1 for opcode, rsv1 in sent if opcode == 0]
        assert len(sent_continuations) >= 4 and not any(sent_continuations)

    @pytest.mark.parametrize("config, answer", [
        ({"server_no_context_takeover": True, "client_no_context_takeover": True},
         f"{PMD}; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=12; client_max_window_bits=12"),
        ({"server_max_window_bits": 9, "client_max_window_bits": 10},
         f"{PMD}; server_max_window_bits=9; client_max_window_bits=10"),
    ], ids=["no-context-takeover", "small-windows"])
    def test_our_server_settings(self, make_server, their_client, config, answer):
        side = OurSide()
        server = _echo_server(make_server, side, **config)
        ws = their_client(server.url + "/deflate-settings")
        assert ws.response.headers["Sec-WebSocket-Extensions"] == answer
        extension, received, _ = _spy_on_frames(ws)
        agreed = dict(parse_extension_header([answer])[0][1])
        assert extension.remote_no_context_takeover == ("server_no_context_takeover" in agreed)
        assert extension.local_no_context_takeover == ("client_no_context_takeover" in agreed)
        for data in (BINARY, BINARY, BIG_TEXT, RANDOM, BIG_TEXT):
            ws.send(data)
            assert describe(ws.recv(timeout=STEP_TIMEOUT)) == describe(data)
        # Every echo compressed: RSV1 on the first frame of each message,
        # on none of the continuation frames.
        assert [rsv1 for opcode, rsv1 in received if opcode != 0] == [True] * 5
        assert not any(rsv1 for opcode, rsv1 in received if opcode == 0)
        self.close(ws, side)
        assert [str(e) for e in side.extensions] == [answer]


# ===========================================================================
# WebSocket-Node: no extension at all
# ===========================================================================
class TestWebSocketNodeFallback:
    def test_our_client_falls_back(self, peers):
        server = peers.node_server("websocket_node_echo_server.js")
        path = "/no-deflate"
        connection = wsframework.connect(server.url + path, close_timeout=CLOSE_TIMEOUT,
                                         open_timeout=STEP_TIMEOUT, fragmentation_threshold=4096,
                                         **BIG_MESSAGES)
        try:
            reported = server.expect(event="connection", path=path)
            assert reported["offeredExtensions"] == OUR_OFFER  # we did offer
            assert reported["extensions"] is None
            assert connection.extensions == []
            for data in MESSAGES:
                connection.send(data)
                message = connection.receive(timeout=STEP_TIMEOUT)
                assert message is not None, connection.close_description
                assert (message.type, describe(message.data)) == (_kind(data), describe(data))
                assert server.expect(event="message", path=path) == {
                    "event": "message", "path": path, **describe(data)}
            connection.close(1000, "done")
            assert connection.wait_closed(CLOSE_WAIT) and connection.close_reason_code == 1000
            assert server.expect(event="close", path=path)["code"] == 1000
        finally:
            connection.drop(1001, skip_close_frame=True)

    def test_their_client_needs_no_extension(self, make_server, peers):
        side = OurSide()
        server = _echo_server(make_server, side)
        steps = ["text", "binary", "fragmented"]
        lines = _client_lines(peers, "websocket_node_client.js", server.url + "/plain",
                              "--steps=" + ",".join(steps), "--close=1000:done")
        assert lines[0] == {"event": "open", "protocol": None, "extensions": None}
        assert [line for line in lines if "step" in line] == expected_steps(steps)
        side.wait()
        assert side.extensions == []
        assert side.close_reason_code == 1000
