"""wsframework: RFC 6455 WebSockets on gevent, a port of WebSocket-Node.

Every public class is importable from here; see the README for the
server, client and blocking-style examples.
"""

from . import deprecation
from .client import WebSocketClient, connect
from .close_codes import CLOSE_DESCRIPTIONS, CloseCode
from .connection import WebSocketConnection
from .exceptions import (ConnectionClosedError, HandshakeError, PayloadTooBig,
                         ProtocolError, WebSocketError, WebSocketHandshakeError)
from .frame import Opcode, WebSocketFrame
from .message import WebSocketMessage
from .request import WebSocketRequest
from .router import WebSocketRouter, WebSocketRouterRequest
from .server import WebSocketServer, broadcast
from .version import __version__, version
from .w3c import W3CWebSocket

__all__ = [
    "WebSocketServer", "WebSocketRequest", "WebSocketConnection", "WebSocketClient",
    "WebSocketRouter", "WebSocketRouterRequest", "W3CWebSocket",
    "WebSocketFrame", "WebSocketMessage", "connect", "broadcast",
    "WebSocketError", "WebSocketHandshakeError", "ProtocolError", "PayloadTooBig",
    "HandshakeError", "ConnectionClosedError", "CloseCode", "CLOSE_DESCRIPTIONS", "Opcode",
    "version", "__version__", "deprecation",
]
