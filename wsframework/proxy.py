"""Client connections through proxies: HTTP ``CONNECT`` tunnels (to a plain
or a TLS proxy, with basic authentication) and SOCKS4/SOCKS5 (through the
optional ``python-socks`` package, ``pip install wsframework[socks]``).

Which proxy a URL goes through follows ``urllib`` and ``websockets``: the
``proxy`` client key ``True`` (the default) reads ``HTTPS_PROXY`` for
``wss://``, ``HTTP_PROXY`` for ``ws://``, else ``ALL_PROXY``, unless
``NO_PROXY`` names the host; a URL forces one; ``None`` uses none.
"""

from __future__ import annotations

import base64
import logging
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit

import gevent
from gevent import socket as gsocket

from .exceptions import HandshakeError, WebSocketHandshakeError
from .protocol.http11 import HttpResponse, parse_response, read_head
from .protocol.streams import BufferedReader

__all__ = ["ProxyError", "proxy_for", "open_tunnel", "PROXY_SCHEMES"]

logger = logging.getLogger("wsframework.proxy")

PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080,
                  "socks5": 1080, "socks5h": 1080}
_MAX_PROXY_HEAD = 16384


class ProxyError(WebSocketHandshakeError):
    """The proxy refused or failed the tunnel.  ``proxy`` is the proxy's URL
    (without credentials) and ``response`` its HTTP answer, if any: not the
    WebSocket server's, which was never reached."""

    def __init__(self, message: str, proxy: str, response: HttpResponse | None = None) -> None:
        super().__init__(message, response)
        self.proxy = proxy


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def check_proxy_url(url: str) -> str | None:
    """Why ``url`` is not a usable proxy URL (None: it is)."""
    try:
        parts = urlsplit(url)
        parts.port                                          # raises on a bad port
    except ValueError as exc:
        return f"is not a proxy URL ({exc})"
    if parts.scheme.lower() not in PROXY_SCHEMES:
        return f"must use one of the schemes {', '.join(PROXY_SCHEMES)}"
    if not parts.hostname:
        return "must name the proxy's host"
    return None


def proxy_for(setting: Any, host: str, port: int, secure: bool) -> str | None:
    """The proxy URL a connection to ``host:port`` goes through.

    ``setting`` is the ``proxy`` client key: ``True`` reads the environment
    (as ``urllib`` does), a string is the proxy, ``None``/``False`` none.
    """
    if setting is None or setting is False:
        return None
    if isinstance(setting, str):
        return setting
    proxies = urllib.request.getproxies_environment()
    url = proxies.get("https" if secure else "http") or proxies.get("all")
    if not url:
        return None
    if urllib.request.proxy_bypass_environment(host, proxies) or \
            urllib.request.proxy_bypass_environment(f"{host}:{port}", proxies):
        return None
    if "://" not in url:                                    # HTTP_PROXY=host:3128
        url = f"http://{url}"
    problem = check_proxy_url(url)
    if problem is not None:
        raise ProxyError(f"The proxy from the environment {url!r} {problem}", url)
    return url


def open_tunnel(proxy_url: str, host: str, port: int, timeout: float | None,
                source: tuple[str, int] | None, proxy_tls: Any) -> gsocket.socket:
    """A socket connected to ``host:port`` through the proxy at
    ``proxy_url``, ready for TLS or the WebSocket handshake.

    ``proxy_tls`` is a callable that wraps the socket to an ``https://``
    proxy (its hostname given).  Raises :class:`ProxyError` when the proxy
    refuses, ``OSError`` when it cannot be reached.
    """
    parts = urlsplit(proxy_url)
    scheme = parts.scheme.lower()
    name = _without_credentials(proxy_url)
    proxy_port = parts.port or _DEFAULT_PORTS[scheme]
    try:
        sock = gsocket.create_connection((parts.hostname, proxy_port), timeout=timeout,
                                         source_address=source)
    except OSError as exc:
        raise ProxyError(f"Could not connect to proxy {name}: {exc}", name) from exc
    try:
        if scheme in ("http", "https"):
            if scheme == "https":
                try:
                    sock = proxy_tls(sock, parts.hostname)
                except OSError as exc:                      # ssl.SSLError is an OSError
                    raise ProxyError(f"TLS to proxy {name} failed: {exc}", name) from exc
            _http_connect(sock, parts, name, host, port, timeout)
        else:
            sock = _socks_connect(sock, proxy_url, name, host, port, timeout)
    except BaseException:
        sock.close()
        raise
    logger.debug("tunnel to %s:%s through %s", host, port, name)
    return sock


def _http_connect(sock, parts, name: str, host: str, port: int, timeout: float | None) -> None:
    """Ask an HTTP proxy for a tunnel (RFC 9110 §9.3.6) and read its answer."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        lines.append(f"Proxy-Authorization: Basic {token}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    reader = BufferedReader(sock.recv_into)
    error = ProxyError(f"Timed out waiting for proxy {name} to open a tunnel to {authority}", name)
    with gevent.Timeout(timeout, error):
        sock.sendall(request)
        try:
            response = parse_response(read_head(reader, _MAX_PROXY_HEAD))
        except EOFError:
            raise ProxyError(f"Proxy {name} closed the connection instead of opening a tunnel "
                             f"to {authority}", name) from None
        except (ValueError, HandshakeError) as exc:
            raise ProxyError(f"Proxy {name} sent an invalid answer to CONNECT: {exc}",
                             name) from None
    if not 200 <= response.status < 300:
        raise ProxyError(f"Proxy {name} refused the tunnel to {authority}: "
                         f"{response.status} {response.reason}".rstrip(), name, response)
    if reader.buffered:
        # The server speaks only after our handshake: bytes here came from the proxy.
        raise ProxyError(f"Proxy {name} sent data after its CONNECT answer", name, response)


def _socks_connect(sock, proxy_url: str, name: str, host: str, port: int,
                   timeout: float | None):
    """SOCKS4/5 handshake over ``sock`` (already connected to the proxy)."""
    try:
        from python_socks import ProxyError as SocksError
        from python_socks import ProxyTimeoutError
        from python_socks.sync import Proxy
    except ImportError:
        raise ProxyError(f"Proxy {name} needs the python-socks package: "
                         "pip install 'wsframework[socks]'", name) from None
    url = proxy_url
    scheme = urlsplit(proxy_url).scheme.lower()
    # socks5h/socks4a: the proxy resolves the name; python-socks says it with rdns.
    rdns = scheme in ("socks5h", "socks4a")
    if scheme in ("socks5h", "socks4a"):
        url = scheme[:-1] + proxy_url[len(scheme):]
    # python-socks times each read; the whole exchange gets open_timeout, as
    # the HTTP CONNECT does (a proxy dripping its answer is a timeout too).
    expired = ProxyError(f"Timed out waiting for proxy {name} to open a tunnel to "
                         f"{host}:{port}", name)
    try:
        with gevent.Timeout(timeout, expired):
            proxy = Proxy.from_url(url, rdns=rdns)
            # _socket: our (gevent) socket, already connected to the proxy.
            # The keyword is python-socks' own (2.x and 3.x) but not public:
            # setup.py bounds the version, tests/sockets/test_proxy.py runs it.
            return proxy.connect(host, port, timeout=timeout, _socket=sock)
    except ProxyTimeoutError:
        raise ProxyError(f"Timed out waiting for proxy {name} to open a tunnel to "
                         f"{host}:{port}", name) from None
    except SocksError as exc:
        raise ProxyError(f"Proxy {name} refused the tunnel to {host}:{port}: {exc}",
                         name) from None
