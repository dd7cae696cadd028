"""``WebSocketServer``: takes HTTP upgrade requests on a gevent server and
turns them into :class:`WebSocketRequest` objects and connections.

Each TCP connection is handled in its own greenlet (gevent's
``StreamServer`` spawns it): the handshake is read there, ``request``
handlers run there, and afterwards the same greenlet reads the connection
until it closes.  On a server made by :meth:`WebSocketServer.listen` an
event-style connection (one the handlers did not read themselves) on a
plain socket "parks" when idle: that greenlet ends, the socket's read
watcher waits in the event loop, and a pooled reader greenlet reads on
when data comes (see ``WebSocketConnection.run``).
"""

from __future__ import annotations

import logging
import socket as _socket
import ssl
import random
import sys
import time
from typing import Any, Callable, Iterable

from greenlet import greenlet as RawGreenlet

import gevent
from gevent import get_hub
from gevent.pywsgi import WSGIServer
from gevent.server import StreamServer
from gevent.socket import socket as GeventSocket
from gevent.socket import wait_read

from .config import server_config
from .connection import WebSocketConnection, close_quietly
from .events import EventEmitter
from .exceptions import HandshakeError
from .fanout import broadcast
from .metrics import metrics_for
from .protocol.close_codes import CloseCode
from .protocol.handshake import reject_response
from .protocol.http11 import parse_request, read_head
from .protocol.streams import BufferedReader
from .protocol.timerwheel import TimerWheel
from .request import WebSocketRequest
from .sending import send_all
from .unix import remove_socket_file, unix_listener, unix_peer

__all__ = ["WebSocketServer", "broadcast"]

logger = logging.getLogger("wsframework.server")

#: The blank line that ends a request head.
_END_OF_HEAD = b"\r\n\r\n"

#: What handle_upgrade returns when its connection parked: the socket
#: belongs to the connection now, so _serve must not close it.
PARKED = object()


class _ServeGreenlet(RawGreenlet):
    """The greenlet of one TCP connection of a server made by ``listen()``
    (see _spawn_handler): only there may handle_upgrade return while its
    connection lives on (parked), since only _serve leaves its socket open."""

    __slots__ = ()


class _Place:
    """One place among the server's connections (``max_connections``,
    ``max_connections_per_ip``): taken when a handshake has been parsed,
    given back when the request is rejected or its connection closes.
    (Before that, on a server reading the heads itself, a request head
    still coming counts towards ``max_connections_per_ip``: see
    ``WebSocketServer._open_connection``.)"""

    __slots__ = ("server", "peer", "connection", "held", "expires")

    def __init__(self, server: "WebSocketServer", peer: str) -> None:
        self.server = server
        self.peer = peer
        self.connection: WebSocketConnection | None = None
        self.held = True
        self.expires = 0.0                  # on the lifetime wheel until then
        server._held += 1
        server._count_peer(peer)

    def release(self) -> None:
        if self.held:
            self.held = False
            server = self.server
            server._held -= 1
            server._uncount_peer(self.peer)

    def resolved(self, request: WebSocketRequest) -> None:
        """``request_resolved``: the request is no longer pending."""
        self.server._on_resolved(request)

    def accepted(self, connection: WebSocketConnection) -> None:
        """``request_accepted``: the server tracks the connection until it closes."""
        server = self.server
        self.connection = connection
        server._connections[connection] = None
        if server._metrics is not None:
            server._metrics.on_accepted()
        lifetime = server.config["max_connection_lifetime"]
        if lifetime is not None:
            jitter = server.config["connection_lifetime_jitter"]
            self.expires = server._lifetimes.loop.now() + lifetime * (
                1 - random.uniform(0, jitter))
            server._lifetimes.schedule(self, self.expires)
        server.emit("connect", connection)

    def __call__(self, code: int, description: str) -> None:
        """The connection closed (its ``close_hook``)."""
        self.release()
        server = self.server
        if self.expires:
            server._lifetimes.cancel(self, self.expires)
        if server._metrics is not None:
            server._metrics.on_closed(code, _closing_side(self.connection, code))
        server._on_close(self.connection, code, description)

    def expire(self) -> None:
        """The connection lived ``max_connection_lifetime``: 1001, so that
        its client reconnects (to another worker or machine, maybe)."""
        self.expires = 0.0
        connection = self.connection
        if connection is not None and connection.connected:
            logger.debug("%r: lifetime reached, closing with 1001", connection)
            connection.close(CloseCode.GOING_AWAY, "Connection lifetime reached")


#: The longest pause between two closes of a drain (seconds).
_DRAIN_GAP = 0.01


def _closing_side(connection: WebSocketConnection | None, code: int) -> str:
    """Who ended ``connection``: ``local`` (this server sent the first close
    frame or dropped it), ``remote`` (the client did), ``none`` (the TCP
    connection was lost without a close handshake)."""
    if (connection is None or code == CloseCode.ABNORMAL
            or not connection.was_clean and code == CloseCode.NOT_PROVIDED):
        return "none"
    return "local" if connection.closed_locally else "remote"


def _expire(place: _Place) -> None:
    # The wheel calls back in the event loop, where nothing may block.
    gevent.spawn(place.expire)


class WebSocketServer(EventEmitter):
    """The WebSocket server of WebSocket-Node, on gevent.

    Either :meth:`listen` on an address (the server owns a gevent
    ``StreamServer``) or :meth:`mount` onto a ``StreamServer`` you have.

    Events: ``request(request)``, ``connect(connection)``,
    ``close(connection, reason_code, description)``, ``upgrade_error(exc)``.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = server_config(config)
        self._connections: dict[WebSocketConnection, None] = {}
        self.pending_requests: list[WebSocketRequest] = []
        self._held = 0                         # places taken (see _Place)
        self._per_ip: dict[str, int] = {}
        #: True while :meth:`drain` runs: new upgrades get 503, ``ready`` is False.
        self.draining = False
        self._metrics = metrics_for(self.config["metrics"])
        if self._metrics is not None:
            self._metrics.register(self)
        self._lifetimes = TimerWheel(get_hub().loop, _expire, granularity=1.0)
        self.http_server: Any = None
        self._owned = False
        self._previous_handle = None
        if config.get("http_server") is not None:
            self.mount()

    @property
    def connections(self) -> list[WebSocketConnection]:
        """The accepted connections that have not closed yet (a copy)."""
        return list(self._connections)

    # ------------------------------------------------------------ lifecycle
    @classmethod
    def listen(cls, address: tuple[str, int] | str | Any, ssl_context: Any = None,
               **config: Any) -> "WebSocketServer":
        """A server that owns a gevent ``StreamServer`` bound to ``address``:
        ``(host, port)`` (port 0 picks a free port; see :attr:`address`),
        ``"unix:/path"`` for a Unix domain socket, or a listening socket.
        Call :meth:`start` or :meth:`serve_forever` to take connections."""
        server = cls(**config)
        if isinstance(address, str):
            address = unix_listener(address, server.config["backlog"])
        # The TLS handshake is done in handle_upgrade, under handshake_timeout.
        kwargs = {"ssl_context": ssl_context, "do_handshake_on_connect": False} \
            if ssl_context is not None else {}
        stream_server = StreamServer(address, server.handle_upgrade,
                                     spawn=server._spawn_handler,
                                     # a socket given as address keeps its own
                                     backlog=None if hasattr(address, "accept")
                                     else server.config["backlog"], **kwargs)
        stream_server.init_socket()
        server.http_server = stream_server
        server.config["http_server"] = stream_server
        server._owned = True
        return server

    def mount(self, **config: Any) -> None:
        """Take upgrades on ``http_server`` (a gevent ``StreamServer``),
        with ``config`` over the defaults."""
        if config:
            self._configure(config)
        http_server = self.config.get("http_server")
        if http_server is None:
            raise ValueError("You must specify an httpServer on which to mount "
                             "the WebSocket server.")
        if not isinstance(http_server, StreamServer):
            raise TypeError("config key 'http_server' must be a gevent StreamServer "
                            "or pywsgi WSGIServer")
        self.http_server = http_server
        if isinstance(http_server, WSGIServer):
            # Upgrades arrive through the WSGI handler, which hands them here.
            from .wsgi import WebSocketHandler
            self._previous_handle = http_server.handler_class
            if not issubclass(http_server.handler_class, WebSocketHandler):
                http_server.handler_class = WebSocketHandler
            http_server.websocket_server = self
            return
        self._previous_handle = getattr(http_server, "handle", None)
        http_server.set_handle(self.handle_upgrade)

    def _configure(self, config: dict[str, Any]) -> None:
        """More config keys (checked) over the current ones, and the metrics
        they ask for (a host such as the gunicorn worker applies its own)."""
        self.config = server_config(config, base=self.config)
        self._metrics = metrics_for(self.config["metrics"])
        if self._metrics is not None:
            self._metrics.register(self)

    def unmount(self) -> None:
        """Stop taking upgrades; open connections are left alone."""
        server = self.http_server
        if server is None:
            return
        if self._owned:
            server.stop_accepting()
            if server.socket is not None:
                if server.socket.family == _socket.AF_UNIX:
                    remove_socket_file(server.socket)
                server.close()
        elif isinstance(server, WSGIServer):
            if getattr(server, "websocket_server", None) is self:
                del server.websocket_server
            if self._previous_handle is not None:
                server.handler_class = self._previous_handle
        elif self._previous_handle is not None:
            server.set_handle(self._previous_handle)

    @property
    def address(self) -> tuple[str, int] | str:
        """The (host, port) the server listens on; ``"unix:/path"`` for a
        Unix domain socket."""
        sock = getattr(self.http_server, "socket", None)
        if sock is not None and sock.family == _socket.AF_UNIX:
            return f"unix:{sock.getsockname()}"
        return self.http_server.address

    @property
    def port(self) -> int | None:
        """The port the server listens on (useful after binding port 0);
        None on a Unix domain socket."""
        sock = getattr(self.http_server, "socket", None)
        if sock is not None and sock.family == _socket.AF_UNIX:
            return None
        return self.http_server.server_port

    def _server(self) -> Any:
        if self.http_server is None:
            raise ValueError("This WebSocketServer has no server to run: use "
                             "WebSocketServer.listen(address) or mount(http_server=...).")
        return self.http_server

    def start(self) -> None:
        """Start accepting connections in the background."""
        self._server().start()

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop` is called."""
        self._server().serve_forever()

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting, close every connection with 1001, wait up to
        ``timeout`` seconds (default: each one's close_timeout) for the
        closing handshakes, then stop the server."""
        server = self._server()
        server.stop_accepting()
        self._close_gracefully(timeout)
        server.stop(timeout)

    def close_all_connections(self, reason_code: int = CloseCode.NORMAL,
                              description: str | None = None) -> None:
        """Close every connection and reject pending requests with 503."""
        for connection in list(self._connections):
            connection.close(reason_code, description)
        pending = list(self.pending_requests)
        if pending:
            gevent.spawn(self._reject_pending, pending)

    @staticmethod
    def _reject_pending(requests: list[WebSocketRequest]) -> None:
        for request in requests:
            if not request.resolved:
                request.reject(503)

    def shut_down(self, timeout: float | None = None) -> None:
        """Shut down gracefully: stop taking upgrades, reject pending requests
        (503), close every connection with 1001 (going away) after what was
        already queued for it, and wait up to ``timeout`` seconds (default:
        each connection's ``close_timeout``) for the closing handshakes.

        Node's ``shutDown()`` closes with 1000 and does not wait.
        """
        self.unmount()
        self._close_gracefully(timeout)

    def drain(self, period: float = 10.0, reason_code: int = CloseCode.GOING_AWAY,
              description: str = "Server shutting down", timeout: float | None = None) -> None:
        """Drain for a deploy: from now on :attr:`ready` is False and new
        upgrades get 503; the open connections are closed with
        ``reason_code`` (1001, or 1012 "service restart") one by one, in a
        random order spread evenly over ``period`` seconds (at most 10 ms
        apart, so a few connections close at once), so that their clients
        do not all reconnect at the same moment; each close goes
        out after what was already queued for the connection.  Returns once
        every closing handshake is done (or ``timeout`` more seconds, default
        each connection's ``close_timeout``, have passed).  Blocks: call it
        from the greenlet that stops the process."""
        self.draining = True
        if self._metrics is not None:
            self._metrics.draining.set(1)
        pending = list(self.pending_requests)
        if pending:
            gevent.spawn(self._reject_pending, pending)
        connections = self.connections
        random.shuffle(connections)
        logger.info("draining %d connections over %.1f s", len(connections), period)
        if connections:
            start = time.monotonic()
            # Spread over the period, but never more than _DRAIN_GAP apart:
            # a few connections need not wait the whole period.
            step = min(period / len(connections), _DRAIN_GAP)
            for index, connection in enumerate(connections):
                delay = start + index * step - time.monotonic()
                if delay > 0:
                    gevent.sleep(delay)
                if connection.connected:
                    connection.close(reason_code, description)
        me = gevent.getcurrent()
        with gevent.Timeout(timeout if timeout is not None
                            else self.config["close_timeout"] + 1, False):
            for connection in connections:
                if connection.read_owner is not me:
                    connection.wait_closed()
        if self._metrics is not None:
            self._metrics.draining.set(0)

    @property
    def ready(self) -> bool:
        """Whether this server wants new connections (what ``/readyz``
        says): not while it drains, nor once it holds more than
        ``ready_connection_share`` of ``max_connections``."""
        return self.not_ready_reason() is None

    def not_ready_reason(self) -> str | None:
        """Why :attr:`ready` is False, or None."""
        if self.draining:
            return "draining"
        limit = self.config["max_connections"]
        if limit is not None and self._held > limit * self.config["ready_connection_share"]:
            return f"{self._held} of {limit} connections in use"
        return None

    def _close_gracefully(self, timeout: float | None) -> None:
        """Close every connection with 1001 and wait for the handshakes."""
        connections = self.connections
        self.close_all_connections(CloseCode.GOING_AWAY, "Server shutting down")
        me = gevent.getcurrent()
        with gevent.Timeout(timeout, False):
            for connection in connections:
                # A connection read by this very greenlet cannot finish its
                # handshake while we wait; its close timer ends it.
                if connection.read_owner is not me:
                    connection.wait_closed()

    # ------------------------------------------------------------ broadcast
    def broadcast(self, data: str | bytes) -> None:
        """Send to every open connection: bytes as binary, str as text."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.broadcast_bytes(data)
        else:
            self.broadcast_utf(str(data))

    def broadcast_utf(self, text: str) -> None:
        """Send a text message to every open connection."""
        self._broadcast(str(text))

    def broadcast_bytes(self, data: bytes) -> None:
        """Send a binary message to every open connection."""
        self._broadcast(bytes(data))

    def _broadcast(self, message: str | bytes) -> None:
        if self._metrics is None:
            broadcast(self._connections, message)
        else:
            self._metrics.broadcast_to(self._connections, message)

    # ------------------------------------------------------------ upgrades
    def _spawn_handler(self, _wrapper: Any, handle: Any, _close: Any, args: tuple) -> None:
        """``StreamServer`` spawn for servers made by :meth:`listen`: each TCP
        connection in a plain greenlet (child of the hub) that calls
        :meth:`handle_upgrade` directly.  A gevent ``Greenlet`` and the
        ``handle(*args)`` indirection would cost an idle connection ~1 KB
        more (object, and saved C stack while it waits)."""
        sock, address = args
        if isinstance(address, tuple):
            # Only the IP is kept: the (host, port) tuple would stay on the
            # greenlet's frames for the connection's life.
            address = address[0]
        hub = get_hub()
        hub.loop.run_callback(_ServeGreenlet(_serve, hub).switch, handle, sock, address)

    def handle_upgrade(self, sock: Any, address: Any) -> Any:
        """Handle one TCP connection: read and answer the handshake, then
        read the WebSocket connection until it closes.  Returns
        :data:`PARKED` if the connection parked instead (in a greenlet of
        ``listen()``'s server only): the socket is then left open."""
        # Everything of the handshake lives in _open_connection's frame and
        # is freed before the (possibly long) life of the connection.
        connection = self._open_connection(sock, address)
        if connection is not None:
            if connection.run(park=type(gevent.getcurrent()) is _ServeGreenlet):
                return PARKED
            connection.wait_closed()
        return None

    def _open_connection(self, sock: Any, address: Any) -> WebSocketConnection | None:
        # Interned: the connections from one address (a proxy, a NAT) share
        # one string for their life.
        peer = sys.intern(address[0] if isinstance(address, tuple)
                          else str(address) or unix_peer(sock))
        # A head still coming counts towards max_connections_per_ip, so that
        # one address cannot hold any number of sockets (and greenlets) by
        # never finishing its request (a slowloris); over the limit, the
        # connection is refused before anything is read from it.
        per_ip = self.config["max_connections_per_ip"]
        if per_ip is not None:
            if self._per_ip.get(peer, 0) >= per_ip:
                self._refuse_at_once(sock, peer, "Too many connections from this address.")
                return None
            self._count_peer(peer)
        try:
            http_request, initial = self._read_request(sock, peer)
        finally:
            if per_ip is not None:
                self._uncount_peer(peer)          # _answer takes a _Place instead
        if http_request is None:
            return None
        return self._answer(sock, peer, http_request, initial).connection

    def _read_request(self, sock: Any, peer: str) -> tuple[Any, bytes]:
        """The parsed request head of a new TCP connection and the bytes
        after it, or (None, b"") once it failed or was refused."""
        reader = BufferedReader(sock.recv_into)
        try:
            head = None
            # The request usually came with the connection: when one receive
            # that does not wait brings all of its head, no timer is set.
            if (type(sock) is GeventSocket and reader.try_fill(sock._sock.recv_into)
                    and _END_OF_HEAD in reader.buf):
                head = read_head(reader)
            else:
                with gevent.Timeout(self.config["handshake_timeout"], False):
                    if isinstance(sock, ssl.SSLSocket):
                        sock.do_handshake()
                    head = read_head(reader)
            if head is None:
                logger.info("handshake from %s timed out", peer,
                            extra={"remote_address": peer})
                if self._metrics is not None:
                    self._metrics.on_failed()
                return None, b""
            http_request = parse_request(head)
        except (EOFError, OSError):          # ssl.SSLError included: a bad TLS client
            if self._metrics is not None:
                self._metrics.on_failed()
            return None, b""
        except HandshakeError as exc:
            self._refuse(sock, peer, exc)
            if self._metrics is not None:
                self._metrics.on_rejected(exc.status)
            return None, b""
        # The reader and the head go with this frame, before the (possibly
        # long) life of the connection.
        return http_request, reader.read_exact(reader.buffered) if reader.buffered else b""

    def _count_peer(self, peer: str) -> None:
        self._per_ip[peer] = self._per_ip.get(peer, 0) + 1

    def _uncount_peer(self, peer: str) -> None:
        left = self._per_ip[peer] - 1
        if left:
            self._per_ip[peer] = left
        else:
            del self._per_ip[peer]

    def _refuse_at_once(self, sock: Any, peer: str, reason: str) -> None:
        """Refuse a new TCP connection before reading anything from it: a
        plain one gets a 503 head at once (one write that does not wait: a
        fresh socket's send buffer takes it), a TLS one is closed without
        an answer (that would cost a TLS handshake)."""
        logger.info("refused a connection from %s: %s", peer, reason,
                    extra={"remote_address": peer, "status": 503})
        if isinstance(sock, ssl.SSLSocket):
            if self._metrics is not None:
                self._metrics.on_failed()
            return
        if self._metrics is not None:
            self._metrics.on_rejected(503)
        try:
            sock.settimeout(0.0)
            sock.send(reject_response(503, reason))
            sock.shutdown(_socket.SHUT_WR)
            # Read away (a bounded amount of) what the client already sent,
            # so that the close sends a FIN, not a reset that may make the
            # client lose the answer.
            for _ in range(16):
                if not sock.recv(4096):
                    break
        except OSError:                      # BlockingIOError: nothing more sent yet
            pass

    def handle_request(self, sock: Any, peer: str, http_request: Any,
                       initial_data: bytes = b"", environ: dict[str, Any] | None = None,
                       ) -> WebSocketConnection | None:
        """Answer a parsed upgrade request on ``sock`` (the WSGI handler
        uses this, with the request's WSGI ``environ``, kept as
        :attr:`WebSocketRequest.environ`), then run the connection, if
        accepted, until it closes.  Returns the connection, or None if the
        request was rejected."""
        connection = self._answer(sock, peer, http_request, initial_data,
                                  environ=environ).connection
        if connection is not None:
            connection.run()
            connection.wait_closed()
        return connection

    def answer_request(self, sock: Any, peer: str, http_request: Any,
                       initial_data: bytes = b"") -> WebSocketConnection | None:
        """Check the handshake, let ``request`` handlers (or auto-accept)
        answer it, and return the accepted connection (None if rejected)."""
        return self._answer(sock, peer, http_request, initial_data).connection

    def _answer(self, sock: Any, peer: str, http_request: Any, initial_data: bytes = b"",
                connection_class: type[WebSocketConnection] = WebSocketConnection,
                environ: dict[str, Any] | None = None) -> WebSocketRequest:
        """The one path from a parsed upgrade request to its answer, for
        every way requests arrive (``listen()``, a mounted server, the WSGI
        handler's gevent-websocket style): the handshake checks,
        ``allowed_origins``, ``max_connections`` and
        ``max_connections_per_ip``, then the handlers or auto-accept.
        Returns the request; its ``connection`` is None if rejected."""
        request = WebSocketRequest(sock, http_request, self.config, peer_address=peer,
                                   initial_data=initial_data,
                                   connection_class=connection_class, environ=environ)
        try:
            request.read_handshake()
        except HandshakeError as exc:
            logger.debug("rejected handshake from %s: %d %s", peer, exc.status, exc)
            self._reject(request, exc.status, str(exc), exc.headers)
            self.emit("upgrade_error", exc)
            return request
        allowed = self.config["allowed_origins"]
        if allowed is not None and not _origin_allowed(request.origin, allowed):
            logger.info("refused %s from %s: origin %r not allowed", request.resource, peer,
                        request.origin, extra={"remote_address": peer,
                                               "path": request.resource, "status": 403})
            self._reject(request, 403, "Origin not allowed.")
            return request
        refusal = self._refusal(peer)
        if refusal is not None:
            logger.info("refused %s from %s: %s", request.resource, peer, refusal,
                        extra={"remote_address": peer, "path": request.resource, "status": 503})
            self._reject(request, 503, refusal)
            return request
        place = _Place(self, peer)
        # The connection, once accepted, tells its place when it closes and
        # counts its traffic in the server's metrics.
        request.connection_options = {"close_hook": place, "metrics": self._metrics,
                                      "remote_addresses": request.remote_addresses}
        try:
            self.pending_requests.append(request)
            # Told when the request is resolved, then if it is accepted
            # (before the request's own listeners).
            request._place = place
            if self.config["auto_accept_connections"]:
                protocols = request.requested_protocols
                try:
                    request.accept(protocols[0] if protocols else None, request.origin)
                except ValueError as exc:       # an invalid protocol: rejected with 500
                    self.emit("upgrade_error", exc)
            elif self.has_listeners("request"):
                self.emit("request", request)
            else:
                request.reject(404, "No handler is configured to accept the connection.")
            if not request.resolved:
                self._await_answer(request, sock, peer)
        finally:
            if request.connection is None:
                place.release()
                if self._metrics is not None and request.reject_status is not None:
                    self._metrics.on_rejected(request.reject_status)
        return request

    def _reject(self, request: WebSocketRequest, status: int, reason: str,
                headers: dict | None = None) -> None:
        """Reject before any handler saw the request (and count it)."""
        request.reject(status, reason, headers)
        if self._metrics is not None:
            self._metrics.on_rejected(status)

    def _refusal(self, peer: str) -> str | None:
        """Why a new connection from ``peer`` is over a limit, or None."""
        if self.draining:
            return "The server is shutting down."
        limit = self.config["max_connections"]
        if limit is not None and self._held >= limit:
            return "The server has too many connections."
        limit = self.config["max_connections_per_ip"]
        if limit is not None and self._per_ip.get(peer, 0) >= limit:
            return "Too many connections from this address."
        return None

    def _await_answer(self, request: WebSocketRequest, sock: Any, peer: str) -> None:
        """Wait for the ``request`` handlers to accept or reject ``request``:
        up to ``request_timeout`` (then 503), or until the client hangs up
        (then the request leaves ``pending_requests`` and its socket is
        closed; a late ``accept()`` gets a connection closed with 1006)."""
        timeout = self.config["request_timeout"]
        deadline = None if timeout is None else time.monotonic() + timeout
        resolved = request.resolved_event()
        watcher = None if isinstance(sock, ssl.SSLSocket) or request.resolved \
            else gevent.spawn(_hung_up, sock)
        try:
            gevent.wait([resolved] if watcher is None else [resolved, watcher],
                        timeout=timeout, count=1)
            if not request.resolved and watcher is not None and watcher.ready():
                if watcher.value:
                    self._on_resolved(request)
                    close_quietly(sock)
                    logger.info("client %s hung up before its request for %s was "
                                "answered", peer, request.resource)
                    return
                # The client sent more already: nothing left to watch for.
                resolved.wait(None if deadline is None
                              else max(0.0, deadline - time.monotonic()))
        finally:
            if watcher is not None:
                watcher.kill(block=False)
        if not request.resolved:
            logger.warning("request for %s from %s was neither accepted nor rejected "
                           "within %s s", request.resource, peer, timeout)
            request.reject(503, "The request was neither accepted nor rejected in time.")

    def _refuse(self, sock: Any, peer: str, exc: HandshakeError) -> None:
        """Answer a request we could not even parse."""
        logger.debug("malformed handshake from %s: %s", peer, exc)
        try:
            send_all(sock, reject_response(exc.status, str(exc), exc.headers),
                     self.config["http_idle_timeout"])
            sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass
        self.emit("upgrade_error", exc)

    def _on_resolved(self, request: WebSocketRequest) -> None:
        try:
            self.pending_requests.remove(request)
        except ValueError:
            pass

    def _on_close(self, connection: WebSocketConnection, code: int, description: str) -> None:
        self._connections.pop(connection, None)
        self.emit("close", connection, code, description)


def _hung_up(sock: Any) -> bool:
    """Wait until ``sock`` is readable: True if the peer closed (EOF or a
    reset), False if it sent data."""
    try:
        fileno = sock.fileno()
        if fileno < 0:                      # answered and closed meanwhile
            return False
        wait_read(fileno)
        return not sock.recv(1, _socket.MSG_PEEK)
    except (OSError, ValueError):           # ValueError: closed while waiting
        return True


def _origin_allowed(origin: str | None, allowed: Any) -> bool:
    if origin is None:
        return None in allowed
    origin = origin.lower()
    return any(item is not None and item.lower() == origin for item in allowed)


def _serve(handle: Callable[[Any, Any], Any], sock: Any, address: Any) -> None:
    """The body of a connection's greenlet: ``handle(sock, address)``
    (handle_upgrade, or the TLS-wrapping handle of a ``StreamServer``);
    logs what it raises and closes the socket, unless the connection
    parked (it closes the socket itself)."""
    parked = False
    try:
        parked = handle(sock, address) is PARKED
    except gevent.GreenletExit:
        pass
    except BaseException:               # noqa: B036 - never into the hub
        logger.exception("error serving %s", address)
    finally:
        if not parked:
            sock.close()
