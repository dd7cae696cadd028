"""The client side: ``WebSocketClient`` (WebSocket-Node's event-style
client) and :func:`connect` (the blocking one).  Both open the TCP (and
TLS) connection, run the handshake, and hand the socket to the same
:class:`WebSocketConnection` class the server uses."""

from __future__ import annotations

import logging
import ssl
from functools import partial
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlsplit

import gevent
from gevent import socket as gsocket
from gevent import ssl as gssl

from .config import client_config
from .connection import WebSocketConnection
from .events import EventEmitter
from .exceptions import HandshakeError, WebSocketHandshakeError
from .protocol.extensions import parse_extension_header
from .protocol.framing import Side
from .protocol.handshake import check_response, client_request, generate_key, non_101_message
from .protocol.http11 import HttpResponse, invalid_token_char, parse_response, read_head
from .protocol.permessage_deflate import client_accept, client_offer
from .protocol.streams import BufferedReader
from .proxy import open_tunnel, proxy_for
from .unix import quote_target, split_unix_url, unix_connect

__all__ = ["WebSocketClient", "connect", "InvalidURL"]

logger = logging.getLogger("wsframework.client")

_DEFAULT_PORTS = {"ws": 80, "wss": 443}
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_MAX_RESPONSE_HEAD = 65536
_MAX_ERROR_BODY = 65536


class InvalidURL(WebSocketHandshakeError, ValueError):
    """The URL or the protocol list given to connect() is not usable."""


def _normalize_protocols(protocols: str | Sequence[str] | None) -> list[str]:
    if isinstance(protocols, str):
        protocols = [protocols] if protocols else []
    elif not isinstance(protocols, (list, tuple)):
        protocols = []
    for protocol in protocols:
        char = invalid_token_char(protocol)
        if char is not None:
            raise InvalidURL(f'Protocol list contains invalid character "{char}"')
    return list(protocols)


class _Target:
    """What a URL says: scheme, host, port, request path, Host header."""

    unix_path: str | None = None

    def __init__(self, url: str) -> None:
        unix = split_unix_url(url)
        if unix is not None:
            self._unix(url, *unix)
            return
        try:
            parts = urlsplit(url)
        except ValueError as exc:                  # e.g. "Invalid IPv6 URL"
            raise InvalidURL(f"Invalid URL {url!r}: {exc}") from None
        if not parts.scheme or "://" not in url:
            raise InvalidURL("You must specify a full WebSocket URL, including protocol.")
        if not parts.hostname:
            raise InvalidURL("You must specify a full WebSocket URL, including hostname. "
                             "Relative URLs are not supported.")
        scheme = _SCHEMES.get(parts.scheme.lower())
        if scheme is None:
            raise InvalidURL(f"Unsupported URL scheme {parts.scheme!r}: use ws:// or wss://")
        try:
            port = parts.port
        except ValueError:
            raise InvalidURL(f"Invalid port in URL {url!r}") from None
        self.url = parts
        self.secure = scheme == "wss"
        self.hostname = parts.hostname
        self.port = port or _DEFAULT_PORTS[scheme]
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        self.host_header = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
        self.path = quote_target((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))

    def _unix(self, url: str, scheme: str, socket_path: str, resource: str) -> None:
        """``ws+unix:/path:/resource``: the socket to connect to, and a Host
        header of ``localhost`` (a Unix socket has no host name)."""
        if not socket_path:
            raise InvalidURL(f"Invalid URL {url!r}: no socket path after '{scheme}+unix:'")
        self.url = urlsplit(f"{scheme}://localhost{resource}")
        self.secure = scheme == "wss"
        self.hostname = "localhost"
        self.port = _DEFAULT_PORTS[scheme]
        self.host_header = "localhost"
        self.path = resource
        self.unix_path = socket_path


def _tls_context(tls_options: Any) -> tuple[ssl.SSLContext, dict]:
    """An SSL context from ``tls_options`` (a context, or a dict with
    ``context``, ``cafile``, ``certfile``, ``keyfile``, ``verify``,
    ``server_hostname``, ``headers``)."""
    if isinstance(tls_options, ssl.SSLContext):
        return tls_options, {}
    options = dict(tls_options or {})
    context = options.get("context")
    if context is None:
        # gevent's ssl module: cooperative even where ssl is not patched.
        context = gssl.create_default_context(cafile=options.get("cafile"))
        if options.get("certfile"):
            context.load_cert_chain(options["certfile"], options.get("keyfile"))
        if options.get("verify") is False or options.get("reject_unauthorized") is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    return context, options


# request_options keys (Node's ``requestOptions`` for ``http.request``) that
# mean something here, in either spelling.
_REQUEST_OPTIONS = {
    "local_address": "local_address", "localAddress": "local_address",
    "local_port": "local_port", "localPort": "local_port",
    "headers": "headers",
}


def _request_options(options: Mapping | None) -> dict[str, Any]:
    """``request_options`` checked: ``local_address``/``local_port`` (the
    source of the TCP connection) and ``headers`` (more request headers).
    Node passes anything to ``http.request``; other keys raise here."""
    result: dict[str, Any] = {}
    for key, value in (options or {}).items():
        name = _REQUEST_OPTIONS.get(key)
        if name is None:
            raise TypeError(f"unknown request_options key {key!r} (known: local_address, "
                            "local_port, headers)")
        if value is not None:
            if name == "local_address" and not isinstance(value, str):
                raise TypeError(f"request_options key {key!r} must be a str (an address)")
            if name == "local_port" and (isinstance(value, bool) or not isinstance(value, int)
                                         or not 0 <= value <= 65535):
                raise ValueError(f"request_options key {key!r} must be a port, 0 to 65535")
            if name == "headers" and not isinstance(value, (Mapping, list, tuple)):
                raise TypeError(f"request_options key {key!r} must be a mapping of headers")
        result[name] = value
    return result


def _open_socket(target: _Target, config: dict, request_options: Mapping | None):
    """The socket the handshake goes over: TCP to the URL's host (directly
    or through a proxy) or a Unix socket, then TLS for ``wss``."""
    timeout = config["open_timeout"]
    options = _request_options(request_options)
    source = None
    if options.get("local_address") is not None or options.get("local_port") is not None:
        source = (options.get("local_address") or "", options.get("local_port") or 0)
    unix_path = config["unix_socket_path"] or target.unix_path
    if unix_path is not None:
        sock = unix_connect(unix_path, timeout)
    else:
        proxy = proxy_for(config["proxy"], target.hostname, target.port, target.secure)
        if proxy is None:
            sock = gsocket.create_connection((target.hostname, target.port), timeout=timeout,
                                             source_address=source)
        else:
            sock = open_tunnel(proxy, target.hostname, target.port, timeout, source,
                               partial(_wrap_for_proxy, config["proxy_tls_options"]))
    try:
        if target.secure:
            context, options = _tls_context(config["tls_options"])
            server_hostname = options.get("server_hostname", target.hostname)
            sock = context.wrap_socket(sock, server_hostname=server_hostname)
        sock.settimeout(None)
    except BaseException:
        sock.close()
        raise
    return sock


def _wrap_for_proxy(tls_options: Any, sock, hostname: str):
    """TLS to an ``https://`` proxy, with ``proxy_tls_options``."""
    context, options = _tls_context(tls_options)
    return context.wrap_socket(sock, server_hostname=options.get("server_hostname", hostname))


def _read_error_body(reader: BufferedReader, response: HttpResponse) -> None:
    try:
        length = int(response.headers.get("Content-Length") or 0)
    except ValueError:
        return
    if 0 < length <= _MAX_ERROR_BODY:
        with gevent.Timeout(1.0, False):
            response.body = reader.read_exact(length)


def _handshake(target: _Target, protocols: list[str], origin: str | None,
               headers: Mapping[str, str] | Iterable | None, config: dict,
               request_options: Mapping | None, client: "WebSocketClient | None" = None):
    """Open the socket and run the handshake.  Returns (connection,
    response), or (None, response) for a non-101 answer when ``client``
    has an ``http_response`` listener.  Raises WebSocketHandshakeError or
    OSError."""
    key = generate_key()
    if client is not None:
        client.base64_nonce = key
    extra: list[tuple[str, str]] = []
    if target.secure and isinstance(config["tls_options"], dict):
        extra.extend((config["tls_options"].get("headers") or {}).items())
    if headers:
        extra.extend(headers.items() if isinstance(headers, Mapping) else headers)
    more = _request_options(request_options).get("headers")
    if more:
        extra.extend(more.items() if isinstance(more, Mapping) else more)
    offer = client_offer(config) if config["permessage_deflate"] else None
    sock = _open_socket(target, config, request_options)
    if client is not None:
        client.socket = sock
    try:
        with gevent.Timeout(config["open_timeout"],
                            WebSocketHandshakeError("Timed out waiting for the handshake response")):
            sock.sendall(client_request(
                target.path, target.host_header, key,
                websocket_version=config["websocket_version"], protocols=protocols,
                origin=origin, headers=extra, extensions=offer))
            reader = BufferedReader(sock.recv_into)
            try:
                head = read_head(reader, _MAX_RESPONSE_HEAD)
                response = parse_response(head)
            except EOFError:
                raise WebSocketHandshakeError("Connection closed before the handshake response")
            except (ValueError, HandshakeError) as exc:   # HandshakeError: head too large
                raise WebSocketHandshakeError(f"Invalid handshake response: {exc}") from None
        if response.status != 101:
            _read_error_body(reader, response)
            if client is not None and client.has_listeners("http_response"):
                sock.close()
                return None, response
            raise WebSocketHandshakeError(non_101_message(response), response)
        protocol = check_response(response, key, protocols, offered_extensions=bool(offer))
        extensions = _accept_extensions(response, config) if offer else []
    except BaseException:
        sock.close()
        raise
    initial = reader.read_exact(reader.buffered) if reader.buffered else b""
    connection = WebSocketConnection(sock, extensions, protocol, Side.CLIENT, config,
                                     initial_data=initial)
    return connection, response


def _accept_extensions(response: HttpResponse, config: dict) -> list:
    """The extensions the server agreed to, checked against our offer."""
    values = response.headers.get_all("Sec-WebSocket-Extensions") or ()
    if not values:
        return []
    try:
        elements = parse_extension_header(values)
        if any(name != "permessage-deflate" for name, _ in elements):
            raise WebSocketHandshakeError("Server sent unrequested extensions", response)
        return [client_accept(elements, config)]
    except ValueError as exc:
        raise WebSocketHandshakeError(f"Invalid Sec-WebSocket-Extensions from server: {exc}",
                                      response) from None


def connect(url: str, protocols: str | Sequence[str] | None = None,
            origin: str | None = None, headers: Mapping[str, str] | None = None,
            *, request_options: Mapping | None = None, **config: Any) -> WebSocketConnection:
    """Open a WebSocket and return the open connection (blocking).

    Raises :class:`WebSocketHandshakeError` saying why it could not:
    refused TCP connection, TLS failure, non-101 answer (the response is in
    ``exc.response``) or a handshake check.  ``config`` takes the client
    keys (``max_received_frame_size``, ``open_timeout``, ``tls_options``...);
    ``request_options`` as for :meth:`WebSocketClient.connect`.
    """
    config = client_config(config)
    target = _Target(url)
    protocols = _normalize_protocols(protocols)
    _request_options(request_options)
    try:
        connection, _ = _handshake(target, protocols, origin, headers, config,
                                   request_options)
    except WebSocketHandshakeError:
        raise
    except (OSError, gevent.Timeout) as exc:
        raise WebSocketHandshakeError(f"Could not connect to {url}: {exc}") from exc
    return connection


class WebSocketClient(EventEmitter):
    """WebSocket-Node's client: :meth:`connect` starts a handshake in a new
    greenlet and emits ``connect(connection)``, ``connect_failed(error)``
    or, for a non-101 answer when someone listens, ``http_response(response,
    client)``.  After ``connect``, the same greenlet reads the connection.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = client_config(config)
        self.url = None
        self.protocols: list[str] = []
        self.origin: str | None = None
        self.secure = False
        self.base64_nonce: str | None = None
        self.socket = None
        self.response: HttpResponse | None = None
        self.protocol: str | None = None
        self.connection: WebSocketConnection | None = None
        self._greenlet = None

    def connect(self, url: str, requested_protocols: str | Sequence[str] | None = None,
                origin: str | None = None, headers: Mapping[str, str] | None = None,
                request_options: Mapping | None = None) -> None:
        """Start connecting; URL, protocol and ``request_options`` errors
        raise at once.  ``request_options`` takes ``local_address`` and
        ``local_port`` (where the TCP connection comes from) and
        ``headers`` (more request headers); Node's spellings work too."""
        target = _Target(url)
        _request_options(request_options)
        self.protocols = _normalize_protocols(requested_protocols)
        self.url = target.url
        self.secure = target.secure
        self.origin = origin
        self._greenlet = gevent.spawn(self._run, target, headers, request_options)

    def _run(self, target: _Target, headers, request_options) -> None:
        try:
            connection, response = _handshake(target, self.protocols, self.origin, headers,
                                              self.config, request_options, client=self)
        except gevent.GreenletExit:
            return
        except (WebSocketHandshakeError, OSError, gevent.Timeout) as exc:
            self._greenlet = None
            self.emit("connect_failed", exc)
            return
        self._greenlet = None
        self.response = response
        if connection is None:
            self.emit("http_response", response, self)
            return
        self.protocol = connection.protocol
        self.connection = connection
        self.emit("connect", connection)
        connection.run()

    def abort(self) -> None:
        """Abandon a connection attempt in progress; emits nothing."""
        greenlet, self._greenlet = self._greenlet, None
        if greenlet is not None:
            greenlet.kill(block=False)
            if self.socket is not None:
                try:
                    self.socket.close()
                except OSError:
                    pass
