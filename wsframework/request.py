"""``WebSocketRequest``: a parsed handshake waiting to be accepted or
rejected (WebSocket-Node's ``request``, reference §3.4)."""

from __future__ import annotations

import logging
import socket as _socket
from typing import Any, Callable, Iterable, Mapping, Sequence

from gevent.event import Event

from .connection import WebSocketConnection, close_quietly
from .events import EventEmitter
from .exceptions import HandshakeError, WebSocketError
from .protocol.cookies import parse_cookies, serialize_cookies
from .protocol.extensions import parse_extension_header
from .protocol.handshake import accept_response, check_request, reject_response
from .protocol.headers import parse_extensions, parse_forwarded_for, parse_protocols
from .protocol.http11 import Headers, HttpRequest, invalid_token_char
from .protocol.permessage_deflate import server_negotiate
from .protocol.url import ResourceURL
from .sending import send_all

__all__ = ["WebSocketRequest"]

logger = logging.getLogger("wsframework.request")


class _MadeOnFirstRead:
    """A request attribute kept as None in its slot while the handshake had
    nothing for it: the first read makes (and keeps) the empty container.
    A handler may keep its request as long as the connection, and empty
    containers add up over many idle connections."""

    def __init__(self, slot: str, factory: Callable[[], Any], doc: str) -> None:
        self.slot = slot
        self.factory = factory
        self.__doc__ = doc

    def __get__(self, request: Any, owner: type | None = None) -> Any:
        if request is None:
            return self
        value = getattr(request, self.slot)
        if value is None:
            value = self.factory()
            setattr(request, self.slot, value)
        return value

    def __set__(self, request: Any, value: Any) -> None:
        setattr(request, self.slot, value)


def _check_requested_protocols(protocols: Iterable[str]) -> None:
    """Refuse (400) a ``Sec-WebSocket-Protocol`` entry that is not a token.

    RFC 6455 §4.1 wants each entry a non-empty token; Node keeps any entry,
    and accepting one (as auto-accept and most handlers do) then failed
    with 500 and a logged traceback for what is bad client input.
    """
    for protocol in protocols:
        if not protocol:
            raise HandshakeError("Client must not request an empty subprotocol.", 400)
        char = invalid_token_char(protocol)
        if char is not None:
            raise HandshakeError(
                f'Illegal character "{char}" in requested subprotocol "{protocol}".', 400)


class WebSocketRequest(EventEmitter):
    """An upgrade request.  :meth:`read_handshake` parses it; then exactly
    one of :meth:`accept` or :meth:`reject` answers it.

    Events: ``request_accepted(connection)``, ``request_rejected(request)``
    and ``request_resolved(request)`` (fired first by both).
    """

    __slots__ = (
        "socket", "http_request", "server_config", "resource", "resource_url", "_host", "_key",
        "websocket_version", "origin", "requested_protocols", "_protocol_map",
        "_extensions", "_cookies", "remote_address", "remote_addresses", "connection",
        "connection_class", "connection_options", "_initial_data", "_resolved", "_resolved_event", "reject_status",
        "environ", "_place",
        "__weakref__",
    )

    def __init__(self, socket: Any, http_request: HttpRequest, server_config: dict,
                 *, peer_address: str | None = None, initial_data: bytes = b"",
                 connection_class: type[WebSocketConnection] = WebSocketConnection,
                 environ: dict[str, Any] | None = None) -> None:
        self._events = None                 # EventEmitter.__init__, without the call
        self.connection_class = connection_class
        #: Keyword arguments the accepted connection is made with (the
        #: server's close hook and metrics); dropped once it is made.
        self.connection_options: dict[str, Any] | None = None
        # The WSGI environ when the request came through a WSGI server
        # (wsframework.wsgi), so a handler can run the web framework's
        # session and auth on it; None otherwise.
        self.environ = environ
        self.socket = socket
        self.http_request = http_request
        self.server_config = server_config
        self.resource = http_request.path
        self.resource_url = ResourceURL(http_request.path)
        self._host: str | None = None
        self._key: str | None = None
        self.websocket_version: int | None = None
        self.origin: str | None = None
        self.requested_protocols: list[str] | None = []
        # See _MadeOnFirstRead.
        self._protocol_map: dict[str, str] | None = None
        self._extensions: list | None = None
        self._cookies: list | None = None
        self.remote_address = peer_address
        self.remote_addresses = [peer_address]
        self.connection: WebSocketConnection | None = None
        self._initial_data = initial_data
        self._resolved = False
        self._resolved_event: Event | None = None
        self.reject_status: int | None = None
        # The server's bookkeeping for this request (a ``_Place``): told
        # that it is resolved and that it is accepted before any listener
        # (it would be the first listener of both), then dropped.
        self._place: Any = None

    def __repr__(self) -> str:
        return f"<WebSocketRequest {self.resource} from {self.remote_address}>"

    # ``host`` and ``key`` are read from the headers again once the request
    # is accepted (they are not kept for the connection's life).
    @property
    def host(self) -> str | None:
        """The ``Host`` header."""
        if self._host is None and self.connection is not None:
            return self.http_request.headers.get("Host")
        return self._host

    @host.setter
    def host(self, value: str | None) -> None:
        self._host = value

    @property
    def key(self) -> str | None:
        """The client's ``Sec-WebSocket-Key``."""
        if self._key is None and self.connection is not None:
            return (self.http_request.headers.get("Sec-WebSocket-Key") or "").strip()
        return self._key

    @key.setter
    def key(self, value: str | None) -> None:
        self._key = value

    protocol_full_case_map = _MadeOnFirstRead(
        "_protocol_map", dict, "Each requested subprotocol, lowercased, to the client's spelling.")
    requested_extensions = _MadeOnFirstRead(
        "_extensions", list, "The ``Sec-WebSocket-Extensions`` offers, as ``[{name, params}]``.")
    cookies = _MadeOnFirstRead("_cookies", list, "The ``Cookie`` header, as ``[{name, value}]``.")

    @property
    def resolved(self) -> bool:
        """Whether the request was accepted or rejected."""
        return self._resolved

    @staticmethod
    def parse_extensions(header: str | None) -> list:
        """Node's ``parseExtensions``: a header into ``[{name, params}]``
        (``[]`` when malformed), by the one extension parser."""
        return parse_extensions(header)

    @staticmethod
    def parse_cookies(header: str | None) -> list:
        """Node's ``parseCookies``: a ``Cookie`` header into ``[{name, value}]``."""
        return parse_cookies(header)

    def read_handshake(self) -> None:
        """Parse and check the handshake; raise :class:`HandshakeError`."""
        request = self.http_request
        headers = request.headers
        config = self.server_config
        self._host, self._key, self.websocket_version = check_request(request)
        origin_header = "Origin" if self.websocket_version == 13 else "Sec-WebSocket-Origin"
        self.origin = headers.get(origin_header)
        protocols = headers.get_all("Sec-WebSocket-Protocol")
        if protocols:
            self.requested_protocols, self._protocol_map = parse_protocols(", ".join(protocols))
            _check_requested_protocols(self._protocol_map.values())
        if not config["ignore_x_forwarded_for"]:
            # Several lines (a proxy chain may add one each) are one list,
            # as Node's HTTP parser joins them with ", ".
            forwarded = headers.get_all("X-Forwarded-For")
            self.remote_addresses = parse_forwarded_for(
                ", ".join(forwarded) if forwarded else None, self.remote_addresses[-1])
            self.remote_address = self.remote_addresses[0]
        offers = headers.get_all("Sec-WebSocket-Extensions")
        if offers and config["parse_extensions"]:
            self._extensions = parse_extensions(", ".join(offers))
        cookies = headers.get_all("Cookie")
        if cookies and config["parse_cookies"]:
            try:
                self._cookies = parse_cookies("; ".join(cookies))
            except ValueError as exc:
                raise HandshakeError(str(exc), 400) from None

    # ------------------------------------------------------------ answers
    def _resolve(self) -> Any:
        """Mark the request answered, tell the server and the listeners;
        returns the server's place (see ``_place``), or None."""
        if self._resolved:
            raise WebSocketError("WebSocketRequest may only be accepted or rejected one time.")
        self._resolved = True
        place = self._place
        if place is not None:
            self._place = None
            try:
                place.resolved(self)
            except Exception:
                logger.exception("%r: the server's request_resolved raised", self)
        self.emit("request_resolved", self)
        if self._resolved_event is not None:
            self._resolved_event.set()
        return place

    def resolved_event(self) -> Event:
        """A gevent ``Event`` set once the request is accepted or rejected."""
        if self._resolved_event is None:
            self._resolved_event = Event()
            if self._resolved:
                self._resolved_event.set()
        return self._resolved_event

    def wait_resolved(self, timeout: float | None = None) -> bool:
        """Block until the request is accepted or rejected."""
        return self._resolved or self.resolved_event().wait(timeout)

    def accept(self, accepted_protocol: str | None = None, allowed_origin: str | None = None,
               cookies: Sequence[Mapping[str, Any]] | None = None) -> WebSocketConnection:
        """Complete the handshake and return the open connection.

        ``accepted_protocol`` must be one the client requested (compared
        case-insensitively; the response echoes the client's spelling).
        ``allowed_origin`` is echoed in the ``Origin`` header (control
        characters removed); ``cookies`` become ``Set-Cookie`` lines.
        Invalid arguments reject the request with 500 and raise ValueError.
        """
        if self._resolved:
            raise WebSocketError("WebSocketRequest may only be accepted or rejected one time.")
        protocol_header = None
        if accepted_protocol:
            protocol_header = (self._protocol_map or {}).get(
                accepted_protocol.lower(), accepted_protocol)
            char = invalid_token_char(accepted_protocol)
            if char is not None:
                self.reject(500)
                raise ValueError(f'Illegal character "{char}" in subprotocol.')
            if accepted_protocol.lower() not in (self.requested_protocols or ()):
                self.reject(500)
                raise ValueError("Specified protocol was not requested by the client.")
        cookie_lines: list[str] = []
        if cookies:
            try:
                cookie_lines = serialize_cookies(cookies)
            except ValueError:
                self.reject(500)
                raise
        place = self._resolve()
        extensions, extensions_header = self._negotiate_extensions()
        response = accept_response(
            self.key, protocol=protocol_header, origin=allowed_origin,
            websocket_version=self.websocket_version, cookie_lines=cookie_lines,
            extensions=extensions_header)
        options, self.connection_options = self.connection_options, None
        connection = self.connection_class(
            self.socket, extensions, accepted_protocol, False, self.server_config,
            initial_data=self._initial_data, **(options or {}))
        connection.websocket_version = self.websocket_version
        connection.remote_address = self.remote_address
        connection.remote_addresses = self.remote_addresses     # one list for both
        self.connection = connection
        self.requested_protocols = None
        self._host = self._key = None
        # Parsed again if read later: a handler that keeps ``request`` for
        # the connection's life should not keep every header string too.
        headers = self.http_request.headers
        if isinstance(headers, Headers):          # not pywsgi's, from the WSGI handler
            headers.compact()
        try:
            send_all(self.socket, response, self.server_config.get("http_idle_timeout"))
            lost = False
        except OSError:
            lost = True
        if place is not None:
            try:
                place.accepted(connection)
            except Exception:
                logger.exception("%r: the server's request_accepted raised", self)
        self.emit("request_accepted", connection)
        if lost:
            # As Node: the drop comes after request_accepted, so the server
            # (which listens for close from then on) forgets the connection.
            connection.drop(1006, "TCP connection lost before handshake completed.", True)
        return connection

    def _negotiate_extensions(self) -> tuple[list, str | None]:
        """The extensions to agree to, and the response header for them."""
        config = self.server_config
        if not config["permessage_deflate"]:
            return [], None
        values = self.http_request.headers.get_all("Sec-WebSocket-Extensions") or ()
        if not values:
            return [], None
        try:
            offers = parse_extension_header(values)
        except ValueError as exc:
            logger.info("%r: ignoring a malformed Sec-WebSocket-Extensions: %s", self, exc)
            return [], None
        extension, header = server_negotiate(offers, config)
        return ([extension], header) if extension is not None else ([], None)

    def reject(self, status: int = 403, reason: str | None = None,
               extra_headers: Mapping[str, str] | None = None) -> None:
        """Refuse the handshake with an HTTP error and close the socket.

        ``status`` must be an error status (400-599; a non-number becomes
        403, as in Node).  ``reason`` goes in ``X-WebSocket-Reject-Reason``;
        control characters (CR and LF as in Node, and NUL, DEL...) are
        removed from it and from the ``extra_headers`` values.  A status
        that is not an error or an ``extra_headers`` name that is not an
        HTTP token raises :class:`ValueError` and leaves the request
        unanswered.
        """
        if self._resolved:
            raise WebSocketError("WebSocketRequest may only be accepted or rejected one time.")
        if isinstance(status, bool) or not isinstance(status, int):
            status = 403
        response = reject_response(status, reason, dict(extra_headers or {}))
        self.reject_status = status
        self._resolve()
        try:
            send_all(self.socket, response, self.server_config.get("http_idle_timeout"))
        except OSError as exc:
            logger.debug("%r: could not write the rejection: %s", self, exc)
        close_quietly(self.socket, _socket.SHUT_WR)
        self.emit("request_rejected", self)
