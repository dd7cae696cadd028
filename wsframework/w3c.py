"""``W3CWebSocket``: the browser's WebSocket API on top of the client.

It keeps the browser's spelling (``onopen``, ``readyState``,
``addEventListener`` ...) since mimicking the browser is its purpose, and
follows the WHATWG rules where WebSocket-Node 1.0.35 did not (reference
§9.25): empty messages are delivered, ``wasClean`` means the closing
handshake completed, ``close()`` validates codes and reasons as browsers do,
and ``extensions`` stays a str.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

from .client import WebSocketClient
from .connection import WebSocketConnection
from .exceptions import WebSocketError

__all__ = ["W3CWebSocket", "Event", "MessageEvent", "CloseEvent"]

logger = logging.getLogger("wsframework.w3c")

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3


class Event:
    """A DOM-style event: ``type`` and ``target``."""

    def __init__(self, type: str, target: Any = None) -> None:
        self.type = type
        self.target = target
        self._stopped = False

    def stopImmediatePropagation(self) -> None:  # noqa: N802 (browser spelling)
        """Skip the listeners not yet called for this event."""
        self._stopped = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type}>"


class MessageEvent(Event):
    """A ``message`` event: ``data`` is a str (text) or bytes (binary)."""

    def __init__(self, data: str | bytes, target: Any = None) -> None:
        super().__init__("message", target)
        self.data = data


class CloseEvent(Event):
    """A ``close`` event: ``code``, ``reason`` and ``wasClean``."""

    def __init__(self, code: int, reason: str, was_clean: bool, target: Any = None) -> None:
        super().__init__("close", target)
        self.code = code
        self.reason = reason
        self.wasClean = was_clean


class W3CWebSocket:
    """A WebSocket with the browser's API; connecting starts at once.

    ``W3CWebSocket(url, protocols=None, origin=None, headers=None,
    request_options=None, client_config=None)``.  Events are dispatched in
    the connection's greenlet: ``on<type>`` first, then the listeners added
    with ``addEventListener``, as browsers do.
    """

    CONNECTING = CONNECTING
    OPEN = OPEN
    CLOSING = CLOSING
    CLOSED = CLOSED

    def __init__(self, url: str, protocols: str | Sequence[str] | None = None,
                 origin: str | None = None, headers: Mapping[str, str] | None = None,
                 request_options: Mapping | None = None,
                 client_config: Mapping[str, Any] | None = None) -> None:
        self.url = url
        self.readyState = CONNECTING
        self.protocol = ""
        self.extensions = ""
        self.onopen: Callable[[Event], Any] | None = None
        self.onmessage: Callable[[MessageEvent], Any] | None = None
        self.onerror: Callable[[Event], Any] | None = None
        self.onclose: Callable[[CloseEvent], Any] | None = None
        self._binary_type = "arraybuffer"
        self._listeners: dict[str, list[Callable]] = {}
        self._connection: WebSocketConnection | None = None
        self._pending_close: tuple[int | None, str | None] | None = None
        config = dict(client_config or {})
        config["assemble_fragments"] = True
        self._client = WebSocketClient(**config)
        self._client.on("connect", self._on_connect)
        self._client.on("connect_failed", self._on_connect_failed)
        self._client.connect(url, protocols, origin, headers, request_options)

    # ------------------------------------------------------------ attributes
    @property
    def binaryType(self) -> str:  # noqa: N802
        """``"arraybuffer"``, the only value (binary messages arrive as bytes)."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:  # noqa: N802
        if value != "arraybuffer":
            raise ValueError('just "arraybuffer" type allowed for "binaryType" attribute')
        self._binary_type = value

    @property
    def bufferedAmount(self) -> int:  # noqa: N802
        """Bytes passed to send() and not yet written to the socket."""
        return self._connection.buffered_amount if self._connection is not None else 0

    # --------------------------------------------------------------- events
    def addEventListener(self, type: str, listener: Callable) -> None:  # noqa: N802
        """Call ``listener(event)`` for each ``type`` event (once per listener)."""
        listeners = self._listeners.setdefault(type, [])
        if listener not in listeners:
            listeners.append(listener)

    def removeEventListener(self, type: str, listener: Callable) -> None:  # noqa: N802
        """Stop calling ``listener`` for ``type`` events."""
        listeners = self._listeners.get(type)
        if listeners and listener in listeners:
            listeners.remove(listener)

    def dispatchEvent(self, event: Event) -> bool:  # noqa: N802
        """Call ``on<type>``, then the listeners, until one stops it."""
        event.target = self
        handlers = []
        attribute = getattr(self, "on" + event.type, None)
        if attribute is not None:
            handlers.append(attribute)
        handlers.extend(self._listeners.get(event.type, ()))
        for handler in handlers:
            try:
                handler(event)
            except Exception:
                logger.exception("W3CWebSocket %s listener raised", event.type)
            if event._stopped:
                break
        return True

    # ---------------------------------------------------------------- API
    def send(self, data: str | bytes) -> None:
        """Send text (str) or binary (bytes-like) data."""
        if self.readyState != OPEN or self._connection is None:
            raise WebSocketError("cannot call send() while not connected")
        if isinstance(data, str):
            self._connection.send_utf(data)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self._connection.send_bytes(data)
        else:
            raise TypeError(f"unknown binary data: {type(data).__name__}")

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        """Close with ``code`` (1000 or 3000-4999) and ``reason`` (at most
        123 UTF-8 bytes), as browsers allow."""
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)
                                 or not (code == 1000 or 3000 <= code <= 4999)):
            raise ValueError(f"InvalidAccessError: close code must be 1000 or "
                             f"3000-4999, not {code!r}")
        if reason is not None and len(reason.encode("utf-8")) > 123:
            raise ValueError("SyntaxError: close reason must be at most 123 UTF-8 bytes")
        if self.readyState == CONNECTING:
            self._client.abort()
            self._pending_close = (code, reason)
            self._fail()
        elif self.readyState == OPEN:
            self.readyState = CLOSING
            self._connection.close(code or 1000, reason)

    # ------------------------------------------------------------ internals
    def _fail(self) -> None:
        self.readyState = CLOSED
        self.dispatchEvent(Event("error"))
        self.dispatchEvent(CloseEvent(1006, "connection failed", False))
        self._listeners.clear()

    def _on_connect_failed(self, error: Exception) -> None:
        logger.debug("W3CWebSocket %s: connect failed: %s", self.url, error)
        if self.readyState == CONNECTING:
            self._fail()

    def _on_connect(self, connection: WebSocketConnection) -> None:
        if self.readyState != CONNECTING:
            # close() was called while connecting: finish the job.
            code, reason = self._pending_close or (None, None)
            connection.close(code or 1000, reason)
            return
        self._connection = connection
        self.protocol = connection.protocol or ""
        self.extensions = ", ".join(str(e) for e in connection.extensions)
        self.readyState = OPEN
        connection.on("message", self._on_message)
        connection.on("close", self._on_close)
        self.dispatchEvent(Event("open"))

    def _on_message(self, message) -> None:
        self.dispatchEvent(MessageEvent(message.data))

    def _on_close(self, code: int, description: str | None) -> None:
        self.readyState = CLOSED
        connection = self._connection
        clean = bool(connection is not None and connection.was_clean)
        self.dispatchEvent(CloseEvent(code, description or "", clean))
        self._listeners.clear()
