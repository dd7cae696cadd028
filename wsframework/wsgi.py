"""WebSockets on the port of a gevent WSGI app (``pywsgi.WSGIServer``,
Flask or Django served by it).

Two ways to use it:

* **A mounted server** — ``WebSocketServer().mount(http_server=wsgi_server)``
  (or ``WebSocketServer(http_server=wsgi_server)``): upgrade requests go to
  the WebSocket server, its ``request`` event and routers, exactly as on a
  ``listen()`` server; every other request goes to the WSGI app.
* **A server carried by the app** — a WSGI app with a ``websocket_server``
  attribute (a :class:`WebSocketServer`) has its upgrades answered by that
  server, as if mounted: how ``Sock``, :mod:`wsframework.django` and
  routers reach a server they did not create (the gunicorn worker's).
* **gevent-websocket style** — ``WSGIServer(address, app,
  handler_class=WebSocketHandler)``: an upgrade request is accepted (with
  the first subprotocol the client asked for) and the app is called with
  ``environ["wsgi.websocket"]``, a :class:`GeventWebSocket`; when the app
  returns, the connection is closed.  Code written for gevent-websocket
  runs with only its import changed.  The upgrade is answered by a
  :class:`WebSocketServer` made from ``websocket_config``, so its checks
  and limits (``allowed_origins``, ``max_connections``...) hold here too.

Upgrade requests are recognised by ``Upgrade: websocket``; everything else
(keep-alive requests before or after, on the same server) is plain WSGI.
"""

from __future__ import annotations

import errno
import logging
import socket as _socket
from typing import Any

import gevent
from gevent import pywsgi

from .connection import WebSocketConnection
from .protocol.http11 import Headers, HttpRequest, unfold
from .protocol.message import WebSocketMessage
from .sending import send_all
from .server import WebSocketServer

__all__ = ["WebSocketHandler", "GeventWebSocket"]

logger = logging.getLogger("wsframework.wsgi")


class GeventWebSocket(WebSocketConnection):
    """A :class:`WebSocketConnection` with gevent-websocket's calling
    conventions, for ``environ["wsgi.websocket"]``: :meth:`receive` returns
    the payload (str or bytes) or None once closed, :meth:`send` takes a
    ``binary`` flag, and there are ``closed``, ``environ``, ``path`` and
    ``origin``.  Events and every other method work as usual;
    :meth:`receive_message` returns the :class:`WebSocketMessage`.
    """

    __slots__ = ("environ",)

    def receive(self, timeout: float | None = None) -> str | bytes | None:  # type: ignore[override]
        """The next message's payload, or None when the connection closed."""
        message = super().receive(timeout)
        return None if message is None else message.data

    def receive_message(self, timeout: float | None = None) -> WebSocketMessage | None:
        """The next :class:`WebSocketMessage`, or None once closed."""
        return super().receive(timeout)

    def __iter__(self):
        """Messages (:class:`WebSocketMessage`) until the connection closes,
        as for any connection."""
        while True:
            message = self.receive_message()
            if message is None:
                return
            yield message

    def send(self, message: Any, binary: bool | None = None,  # type: ignore[override]
             callback=None) -> bool:
        """Send ``message``; ``binary`` forces the frame type, else str is
        text and bytes-like is binary."""
        if isinstance(message, WebSocketMessage):
            message = message.data
        if binary:
            if isinstance(message, str):
                message = message.encode("utf-8")
            return self.send_bytes(message, callback)
        if binary is False and not isinstance(message, str):
            message = bytes(message).decode("utf-8")
        return super().send(message, callback)

    def close(self, code: int = 1000, message: bytes | str = b"") -> None:  # type: ignore[override]
        """Start the closing handshake with ``code`` and the reason
        ``message`` (bytes or str), gevent-websocket's signature."""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        super().close(code, message or None)

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return not self.connected

    @property
    def path(self) -> str | None:
        """``PATH_INFO`` of the upgrade request."""
        environ = getattr(self, "environ", None)
        return environ.get("PATH_INFO") if environ else None

    @property
    def origin(self) -> str | None:
        """The ``Origin`` header of the upgrade request, or None."""
        environ = getattr(self, "environ", None)
        return environ.get("HTTP_ORIGIN") if environ else None


def _ignore_start_response(status, headers, exc_info=None):
    return lambda data: None


class WebSocketHandler(pywsgi.WSGIHandler):
    """A ``pywsgi`` handler that also takes WebSocket upgrades.

    Set as ``handler_class`` of a ``WSGIServer`` (``mount()`` does it for
    you).  Override :attr:`websocket_class` to hand the app another
    :class:`WebSocketConnection` subclass, and :attr:`websocket_config` (a
    dict of server config keys) to change limits in gevent-websocket style.
    """

    websocket_class: type[WebSocketConnection] = GeventWebSocket
    websocket_config: dict[str, Any] = {}
    #: pywsgi's socket errors that end a connection without an error log:
    #: its own (EPIPE, ECONNRESET) and ETIMEDOUT, a response given up on
    #: after ``http_idle_timeout`` without progress.
    ignored_socket_errors = pywsgi.WSGIHandler.ignored_socket_errors + (errno.ETIMEDOUT,)
    _head_timer: Any = None
    _idle_timeout: float | None = None

    def _routing_server(self) -> WebSocketServer | None:
        """The server upgrades are routed to: the one mounted on the WSGI
        server, else the app's ``websocket_server`` attribute, else None
        (gevent-websocket style)."""
        websocket_server = getattr(self.server, "websocket_server", None)
        if websocket_server is None:
            websocket_server = getattr(self.server.application, "websocket_server", None)
            if not isinstance(websocket_server, WebSocketServer):
                return None
        return websocket_server

    def _websocket_server(self) -> WebSocketServer:
        """The server that answers this WSGI server's upgrades: the one
        mounted on it or carried by the app, else (gevent-websocket style)
        one made at the first request from :attr:`websocket_config`,
        auto-accepting, and kept on the WSGI server so its limits count
        every connection of it."""
        websocket_server = self._routing_server()
        if websocket_server is None:
            websocket_server = getattr(self.server, "_gevent_websocket_server", None)
            if websocket_server is None:
                config = dict(getattr(self.server, "websocket_config", None)
                              or self.websocket_config)
                config["auto_accept_connections"] = True
                websocket_server = WebSocketServer(**config)
                self.server._gevent_websocket_server = websocket_server
        return websocket_server

    def _config(self) -> dict[str, Any]:
        return self._websocket_server().config

    def handle(self) -> None:
        """pywsgi's loop over the requests of one connection."""
        try:
            super().handle()
        except _socket.timeout:
            # pywsgi's own error answers (400, 414) are written with the
            # socket's timeout, http_idle_timeout; the socket is closed.
            logger.info("answer to %s given up: no progress in %s s", self.client_address,
                        self._idle_timeout)

    def handle_one_request(self) -> Any:
        """One HTTP request, whose head (and, on a TLS server started with
        ``do_handshake_on_connect=False``, the TLS handshake) must arrive
        within ``handshake_timeout``, and, on a keep-alive connection, within
        ``http_idle_timeout`` of the previous response: a slowloris client,
        or an idle one, is dropped."""
        config = self._config()
        idle = self._idle_timeout = config["http_idle_timeout"]
        self.socket.settimeout(None)           # the head has the timer below
        timeout = config["handshake_timeout"]
        if timeout is None or (idle is not None and idle < timeout):
            timeout = idle
        result = self._one_request(timeout)
        if isinstance(result, tuple):
            # An error answer (400, 414...) that pywsgi writes with sendall.
            self.socket.settimeout(idle)
        return result

    def _one_request(self, timeout: float | None) -> Any:
        if timeout is None:
            return super().handle_one_request()
        timer = self._head_timer = gevent.Timeout(timeout)
        timer.start()
        try:
            return super().handle_one_request()
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            logger.info("request head from %s timed out after %s s", self.client_address,
                        timeout)
            self.close_connection = True
            return None
        finally:
            timer.close()
            self._head_timer = None

    def read_request(self, raw_requestline: str) -> Any:
        result = super().read_request(raw_requestline)
        if self._head_timer is not None:
            self._head_timer.close()           # the head is in: the app has no deadline
        # ... but each read of the body waits at most http_idle_timeout.
        self.socket.settimeout(self._idle_timeout)
        return result

    def _sendall(self, data: bytes) -> None:
        """pywsgi's write of the response: given up, and the connection
        reset, once the client takes nothing for ``http_idle_timeout``
        seconds (a client that stops reading would hold this greenlet and
        the kernel's send queue for ever)."""
        try:
            send_all(self.socket, data, self._idle_timeout)
        except OSError as exc:
            # What pywsgi's _sendall records for its log line.
            self.status = f"socket error: {exc}"
            if self.code > 0:
                self.code = -self.code
            if isinstance(exc, TimeoutError):
                logger.info("response to %s given up: no progress in %s s",
                            self.client_address, self._idle_timeout)
            raise
        self.response_length += len(data)

    def _is_websocket_upgrade(self) -> bool:
        upgrade = self.headers.get("Upgrade", "")
        return "websocket" in upgrade.lower()

    def run_application(self) -> None:
        """pywsgi's hook: an upgrade request is handled here, any other
        request goes to the WSGI app as usual."""
        if not self._is_websocket_upgrade():
            super().run_application()
            return
        self.close_connection = True
        peer = self.client_address[0] if isinstance(self.client_address, tuple) \
            else str(self.client_address)
        version = self.request_version.partition("/")[2] or "1.1"
        # pywsgi keeps a folded header's line breaks: made one line, as ours are.
        headers = Headers([(name, unfold(value)) for name, value in self.headers.items()])
        http_request = HttpRequest(self.command, self.path, version, headers)
        initial = self._take_buffered_input()
        # A WebSocket connection waits for data, and queues what the peer
        # does not take, with its own limits (keepalive, output_buffer_limit).
        self.socket.settimeout(None)
        websocket_server = self._routing_server()
        if websocket_server is not None:
            connection = websocket_server.handle_request(self.socket, peer, http_request, initial,
                                                         environ=self.environ)
            self._finish(connection)
            return
        self._run_gevent_websocket_style(peer, http_request, initial)

    def _run_gevent_websocket_style(self, peer: str, http_request: HttpRequest,
                                    initial: bytes) -> None:
        # The server's own answer path: handshake checks, allowed_origins
        # and the connection limits hold here as on any server.
        request = self._websocket_server()._answer(self.socket, peer, http_request, initial,
                                                   self.websocket_class, environ=self.environ)
        connection = request.connection
        if connection is None:
            self._finish(None)
            return
        connection.environ = self.environ
        self.environ["wsgi.websocket"] = connection
        self.environ["wsgi.websocket_version"] = str(request.websocket_version)
        self.environ["wsframework.request"] = request
        result = None
        try:
            result = self.application(self.environ, _ignore_start_response)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            if connection.connected:
                connection.close()
            connection.wait_closed()
            self._finish(connection)

    def _take_buffered_input(self) -> bytes:
        """Bytes the client sent after its request head, already buffered
        by ``rfile`` (read without blocking)."""
        sock = self.socket
        timeout = sock.gettimeout()
        try:
            sock.settimeout(0)
            data = self.rfile.peek(65536)
            return self.rfile.read(len(data)) if data else b""
        except (OSError, ValueError):
            return b""
        finally:
            sock.settimeout(timeout)

    def _finish(self, connection: WebSocketConnection | None) -> None:
        """Let pywsgi log the exchange and close the socket; it must not
        write a response of its own."""
        self.status = "101 Switching Protocols" if connection is not None else "400 Bad Request"
        self.response_length = 0
        try:
            self.socket.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
