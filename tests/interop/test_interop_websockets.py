"""Interoperability with the Python ``websockets`` package.

* ``TestWebsocketsClient``: its sync client (``websockets.sync.client``),
  in this process, against our server.  Under gevent's monkey-patching its
  background thread is a greenlet, which works; the tests fail with a clear
  message when run without ``pytest-gevent``.
* ``TestWebsocketsServer``: our client against its asyncio server, run in a
  subprocess (``tests/interop/websockets_echo_server.py``) so that asyncio
  and gevent never share a process.  Those cases are in interop_cases.py.
"""

from __future__ import annotations

import gevent
import pytest
from websockets.exceptions import ConnectionClosed

from ..interop_cases import (CLOSE_TIMEOUT, CLOSE_WAIT, KEEPALIVE_CONFIG, OurSide,
                            TheirServerCases, check_keepalive_pongs, describe_message,
                            echo_body, fragmented, frame_echo_body, keepalive_body, run_handler,
                            websockets_clients)
from ..interop_peers import (BIG_MESSAGES, BINARY, CLOSE_CASES, CLOSE_IDS, FRAGMENT_BINARY_PARTS,
                            FRAGMENT_TEXT_PARTS, FRAGMENTED_BINARY, FRAGMENTED_TEXT,
                            STEP_TIMEOUT, TEXT, describe, large_binary, large_text,
                            peers)  # noqa: F401  (peers: fixture)


class TestWebsocketsServer(TheirServerCases):
    SERVER = "websockets_echo_server.py"
    SERVER_RUNTIME = "python"
    DEFLATE_SERVER_ARGS = ("--deflate",)
    # websockets reports the close frame it received, i.e. our reply.
    INITIATOR_REPORTS_OWN_REASON = False


@pytest.fixture
def their_client():
    """``open(url, **kwargs)`` -> an open websockets sync client connection,
    without compression unless a test asks (websockets offers
    permessage-deflate by default), closed at teardown."""
    yield from websockets_clients(compression=None)


def recv(ws):
    return ws.recv(timeout=STEP_TIMEOUT)


class TestWebsocketsClient:
    """The websockets sync client against our server."""

    @staticmethod
    def echo_server(make_server, side, **config):
        return make_server(run_handler(side, echo_body(side)), close_timeout=CLOSE_TIMEOUT,
                           **BIG_MESSAGES, **config)

    @staticmethod
    def close(ws, side, code=1000, reason="done"):
        with gevent.Timeout(CLOSE_WAIT, AssertionError(
                "the close handshake and TCP close did not complete in time")):
            ws.close(code, reason)  # returns once the TCP connection is closed
        assert ws.wait_closed(0)
        assert ws.close_code == 1000     # our reply: 1000, as WebSocket-Node answers
        side.wait()
        assert side.closed_cleanly
        assert (side.close_reason_code, side.close_description) == (code, reason)
        assert side.close_events == [(code, reason)]

    # -- data ------------------------------------------------------------------
    def test_text_and_binary(self, make_server, their_client):
        side = OurSide()
        server = self.echo_server(make_server, side)
        ws = their_client(server.url + "/text")
        for data in (TEXT, BINARY, "", b""):
            ws.send(data)
            assert recv(ws) == data
        self.close(ws, side)
        assert [(m.type, m.data) for m in side.messages] == [
            ("utf8", TEXT), ("binary", BINARY), ("utf8", ""), ("binary", b"")]

    def test_subprotocol_keeps_the_clients_spelling(self, make_server, their_client):
        # websockets checks that the server picked one of the names it sent,
        # spelled the same (reference 3.4 and 9 #14).
        side = OurSide()
        requested = []

        def handler(request):
            requested.append(list(request.requested_protocols))
            run_handler(side, echo_body(side), protocol=request.requested_protocols[0])(request)

        server = make_server(handler, close_timeout=CLOSE_TIMEOUT)
        ws = their_client(server.url + "/proto", subprotocols=["Chat.V1"])
        assert ws.subprotocol == "Chat.V1"
        assert requested == [["chat.v1"]]
        ws.send(TEXT)
        assert recv(ws) == TEXT
        self.close(ws, side)

    def test_compression_offer(self, make_server, their_client):
        # websockets offers permessage-deflate.  Whatever our server agrees
        # to, both sides must agree on it and every kind of message, including
        # fragmented ones, must get through.
        side = OurSide()
        server = self.echo_server(make_server, side, fragmentation_threshold=4096)
        ws = their_client(server.url + "/deflate", compression="deflate")
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
        for data in (TEXT, BINARY, "", b"", FRAGMENTED_TEXT, FRAGMENTED_BINARY):
            ws.send(data)
            echoed = recv(ws)
            assert type(echoed) is type(data) and describe(echoed) == describe(data)
        for parts, data in ((FRAGMENT_TEXT_PARTS, FRAGMENTED_TEXT),
                            (FRAGMENT_BINARY_PARTS, FRAGMENTED_BINARY)):
            ws.send(parts)
            assert describe(recv(ws)) == describe(data)
        assert ws.ping(b"compressed?").wait(STEP_TIMEOUT)
        self.close(ws, side)
        assert bool(side.extensions) == (agreed is not None), (
            f"we use {side.extensions!r}, websockets agreed to {agreed!r}")
        if agreed is not None:
            assert agreed.startswith("permessage-deflate")
        assert [describe_message(m) for m in side.messages] == [
            describe(data) for data in (TEXT, BINARY, "", b"", FRAGMENTED_TEXT,
                                        FRAGMENTED_BINARY, FRAGMENTED_TEXT, FRAGMENTED_BINARY)]

    def test_fragmented_messages_both_ways(self, make_server, their_client):
        # The client sends each part as a frame (an iterable makes websockets
        # fragment); our server fragments the echoes at 4 KiB.
        side = OurSide()
        server = self.echo_server(make_server, side, fragmentation_threshold=4096)
        ws = their_client(server.url + "/fragmented")
        for parts, data in ((FRAGMENT_TEXT_PARTS, FRAGMENTED_TEXT),
                            (FRAGMENT_BINARY_PARTS, FRAGMENTED_BINARY)):
            ws.send(parts)
            assert describe(recv(ws)) == describe(data)
        self.close(ws, side)
        assert [describe_message(m) for m in side.messages] == [
            describe(FRAGMENTED_TEXT), describe(FRAGMENTED_BINARY)]

    def test_their_fragments_arrive_as_frames(self, make_server, their_client):
        side = OurSide()
        server = make_server(run_handler(side, frame_echo_body(side)), assemble_fragments=False,
                             close_timeout=CLOSE_TIMEOUT, **BIG_MESSAGES)
        ws = their_client(server.url + "/frames")
        for parts, data in ((FRAGMENT_TEXT_PARTS, FRAGMENTED_TEXT),
                            (FRAGMENT_BINARY_PARTS, FRAGMENTED_BINARY)):
            ws.send(parts)
            assert recv(ws) == data
        self.close(ws, side)
        text_frames, binary_frames = side.frames
        # Three parts, then websockets ends the message with an empty frame.
        assert fragmented(text_frames) and text_frames[0][0] == 0x1, text_frames
        assert fragmented(binary_frames) and binary_frames[0][0] == 0x2, binary_frames
        assert len(text_frames) >= 3 and len(binary_frames) >= 3

    def test_large_messages(self, make_server, their_client):
        # Our server echoes each as one 16 MiB frame (64-bit length).
        side = OurSide()
        server = self.echo_server(make_server, side, fragment_outgoing_messages=False)
        ws = their_client(server.url + "/large")
        for data in (large_binary(), large_text()):
            ws.send(data)
            echoed = recv(ws)
            assert type(echoed) is type(data)
            assert describe(echoed) == describe(data)
        self.close(ws, side)
        assert [describe_message(m) for m in side.messages] == [
            describe(large_binary()), describe(large_text())]

    # -- ping/pong -------------------------------------------------------------
    def test_ping_from_their_client(self, make_server, their_client):
        side = OurSide()
        server = self.echo_server(make_server, side)
        ws = their_client(server.url + "/ping")
        payload = "ping from websockets ✓".encode("utf-8")
        assert ws.ping(payload).wait(STEP_TIMEOUT), "no pong from our server"
        ws.send(TEXT)
        assert recv(ws) == TEXT
        self.close(ws, side)

    def test_ping_from_our_server(self, make_server, their_client):
        payload = "ping from wsframework ✓".encode("utf-8")
        side = OurSide()
        pongs = []

        def body(connection):
            message = connection.receive(timeout=STEP_TIMEOUT)
            connection.send(message.data)
            connection.ping(payload)
            try:
                pongs.append(side.pongs.get(timeout=STEP_TIMEOUT))
            finally:
                connection.close(1000, "pinged")

        server = make_server(run_handler(side, body), close_timeout=CLOSE_TIMEOUT)
        ws = their_client(server.url + "/server-ping")
        ws.send(TEXT)
        assert recv(ws) == TEXT
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "pinged")
        side.wait()
        assert pongs == [payload]
        assert side.closed_cleanly

    def test_keepalive_pings_are_answered(self, make_server, their_client):
        side = OurSide()
        pongs: list[bytes] = []
        server = make_server(run_handler(side, keepalive_body(side, pongs)),
                             close_timeout=CLOSE_TIMEOUT, **KEEPALIVE_CONFIG)
        ws = their_client(server.url + "/keepalive")
        ws.send(TEXT)
        assert recv(ws) == TEXT
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "kept alive")
        side.wait()
        check_keepalive_pongs(pongs)
        assert (side.close_reason_code, side.close_description) == (1000, "kept alive")

    # -- close codes -----------------------------------------------------------
    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_their_client(self, make_server, their_client, code, reason):
        side = OurSide()
        server = self.echo_server(make_server, side)
        ws = their_client(server.url + f"/close-{code}")
        ws.send(TEXT)
        assert recv(ws) == TEXT
        self.close(ws, side, code, reason)

    @pytest.mark.parametrize("code, reason", CLOSE_CASES, ids=CLOSE_IDS)
    def test_close_from_our_server(self, make_server, their_client, code, reason):
        side = OurSide()

        def body(connection):
            message = connection.receive(timeout=STEP_TIMEOUT)
            connection.send(message.data)
            connection.close(code, reason)

        server = make_server(run_handler(side, body), close_timeout=CLOSE_TIMEOUT)
        ws = their_client(server.url + f"/server-close-{code}")
        ws.send(TEXT)
        assert recv(ws) == TEXT
        with pytest.raises(ConnectionClosed) as closed:
            recv(ws)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (code, reason)
        assert ws.wait_closed(CLOSE_WAIT)
        side.wait()
        assert side.closed_cleanly, "the close handshake did not complete before the timeout"
        assert (side.close_reason_code, side.close_description) == (code, reason)
        assert side.close_events == [(code, reason)]
