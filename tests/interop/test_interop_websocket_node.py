"""Interoperability with WebSocket-Node, the Node package ``websocket``
1.0.35 that wsframework ports (pinned in tests/interop/package-lock.json;
install with ``npm ci --prefix tests/interop``).

* ``TestWebSocketNodeClient``: ``tests/interop/websocket_node_client.js``
  against our server.  It fragments with ``fragmentationThreshold`` (4 KiB).
* ``TestWebSocketNodeServer``: our client against
  ``tests/interop/websocket_node_echo_server.js`` (also 4 KiB fragments).

The cases themselves are in interop_cases.py.
"""

from ..interop_cases import TheirClientCases, TheirServerCases
from ..interop_peers import peers  # noqa: F401  (fixture)


class TestWebSocketNodeClient(TheirClientCases):
    CLIENT = "websocket_node_client.js"
    PING_PAYLOAD = "ping from websocket-node ✓"
    # WebSocket-Node 1.0.35 reports the code and reason it sent when it
    # closes first (reference §9 #7).
    INITIATOR_REPORTS_OWN_REASON = True


class TestWebSocketNodeServer(TheirServerCases):
    SERVER = "websocket_node_echo_server.js"
    SERVER_RUNTIME = "node"
    INITIATOR_REPORTS_OWN_REASON = True
