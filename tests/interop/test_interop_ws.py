"""Interoperability with the Node package ``ws`` (8.x, pinned in
tests/interop/package-lock.json; install with ``npm ci --prefix tests/interop``).

* ``TestWsClient``: ``tests/interop/ws_client.js`` against our server.
* ``TestWsServer``: our client against ``tests/interop/ws_echo_server.js``.

The shared cases are in interop_cases.py; the ones here need ws, the only
peer whose API sends a close frame without a status code.
"""

from ..interop_cases import (CLOSE_WAIT, EXCHANGE_STEPS, OurSide, TheirClientCases,
                            TheirServerCases, describe_message)
from ..interop_peers import (STEP_TIMEOUT, command, describe, expected_steps,  # noqa: F401
                            peers, sent_payloads)  # peers: fixture

NO_STATUS = (1005, "Reason not provided")  # RFC 6455 7.1.5; reference 9 #3


class TestWsClient(TheirClientCases):
    CLIENT = "ws_client.js"
    PING_PAYLOAD = "ping from ws ✓"
    # ws reports the close frame it received, i.e. our reply.
    INITIATOR_REPORTS_OWN_REASON = False

    def test_compression_offer(self, make_server, peers):
        # ws offers permessage-deflate (and compresses every message if it
        # is agreed).  Whatever our server agrees to, both sides must agree
        # on it and every kind of message must get through.
        side = OurSide()
        server = self._echo_server(make_server, side, fragmentation_threshold=4096)
        lines = self.run_client(peers, server.url + "/deflate", "--deflate",
                                "--steps=" + ",".join(EXCHANGE_STEPS), "--close=1000:done",
                                opened=False)
        agreed = lines[0]["extensions"]
        assert lines[0]["event"] == "open"
        side.wait()
        assert bool(side.extensions) == (agreed is not None), (
            f"we use {side.extensions!r}, ws agreed to {agreed!r}")
        if agreed is not None:
            assert agreed.startswith("permessage-deflate")
        assert self.steps(lines) == expected_steps(EXCHANGE_STEPS, pong=self.PING_PAYLOAD)
        assert [describe_message(m) for m in side.messages] == [
            describe(data) for data in sent_payloads(EXCHANGE_STEPS)]
        assert (side.close_reason_code, side.close_description) == (1000, "done")

    def test_close_without_status_code(self, make_server, peers):
        # ws.close() sends a close frame with no body: we report 1005 and
        # answer 1000, as WebSocket-Node does, which ws reports.
        side = OurSide()
        server = self._echo_server(make_server, side)
        lines = self.run_client(peers, server.url + "/close-none", "--steps=text",
                                "--close=none")
        assert self.close_line(lines)["code"] == 1000
        side.wait()
        assert side.closed_cleanly
        assert (side.close_reason_code, side.close_description) == NO_STATUS
        assert side.close_events == [NO_STATUS]


class TestWsServer(TheirServerCases):
    SERVER = "ws_echo_server.js"
    SERVER_RUNTIME = "node"
    DEFLATE_SERVER_ARGS = ("--deflate",)
    INITIATOR_REPORTS_OWN_REASON = False

    def test_close_without_status_code_from_their_server(self, their_server):
        path = "/server-close-none"
        connection = self.connect(their_server, path)
        events = []
        connection.on("close", lambda *args: events.append(args))
        connection.send(command("close"))  # ws.close() with no code
        assert connection.receive(timeout=STEP_TIMEOUT) is None
        assert connection.wait_closed(CLOSE_WAIT), "the close handshake did not complete"
        assert (connection.close_reason_code, connection.close_description) == NO_STATUS
        assert events == [NO_STATUS]
        assert their_server.expect(event="close", path=path)["code"] == 1000
