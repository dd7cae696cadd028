"""wsframework: RFC 6455 WebSockets on gevent, a port of WebSocket-Node.

Every public class is importable from here; see the README for the
server, client and blocking-style examples.
"""

from . import _moved, deprecation
from .client import WebSocketClient, connect
from .connection import WebSocketConnection
from .exceptions import (ConnectionClosedError, HandshakeError, PayloadTooBig,
                         ProtocolError, WebSocketError, WebSocketHandshakeError)
from .protocol.close_codes import CLOSE_DESCRIPTIONS, CloseCode
from .protocol.frame import Opcode, WebSocketFrame
from .protocol.message import WebSocketMessage
from .proxy import ProxyError
from .reconnect import connect_forever
from .request import WebSocketRequest
from .router import WebSocketRouter, WebSocketRouterRequest
from .server import WebSocketServer, broadcast
from .version import __version__, version
from .w3c import W3CWebSocket

_moved.install()

__all__ = [
    "WebSocketServer", "WebSocketRequest", "WebSocketConnection", "WebSocketClient",
    "WebSocketRouter", "WebSocketRouterRequest", "W3CWebSocket",
    "WebSocketFrame", "WebSocketMessage", "connect", "connect_forever", "broadcast",
    "WebSocketError", "WebSocketHandshakeError", "ProtocolError", "PayloadTooBig",
    "HandshakeError", "ConnectionClosedError", "ProxyError", "CloseCode", "CLOSE_DESCRIPTIONS", "Opcode",
    "version", "__version__", "deprecation",
]
