"""The exception hierarchy of wsframework.

Every error the library raises on purpose is a :class:`WebSocketError`, so
callers can catch one class.  Protocol errors carry the close code that the
connection is failed with.
"""

from __future__ import annotations

__all__ = [
    "WebSocketError",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidUTF8",
    "HandshakeError",
    "WebSocketHandshakeError",
    "ConnectionClosedError",
]


class WebSocketError(Exception):
    """Base class of every error raised by wsframework."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455; the connection is failed with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class PayloadTooBig(ProtocolError):
    """A frame or message exceeds the configured limit (close code 1009)."""

    def __init__(self, reason: str) -> None:
        super().__init__(1009, reason)


class InvalidUTF8(ProtocolError):
    """A text message or close reason is not valid UTF-8 (close code 1007)."""

    def __init__(self, reason: str = "Invalid UTF-8 Data Received") -> None:
        super().__init__(1007, reason)


class HandshakeError(WebSocketError):
    """An opening handshake request is invalid.

    ``status`` is the HTTP status of the rejection and ``headers`` any extra
    response headers (e.g. ``Sec-WebSocket-Version`` with 426).
    """

    def __init__(self, message: str, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class WebSocketHandshakeError(WebSocketError):
    """The client could not open a connection; the message says why.

    ``response`` is the server's HTTP response when one was received.
    """

    def __init__(self, message: str, response=None) -> None:
        super().__init__(message)
        self.response = response


class ConnectionClosedError(WebSocketError):
    """An operation needs an open connection but it is closing or closed."""
