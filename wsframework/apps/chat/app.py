"""The chat server: one port for the page (WSGI, gevent's pywsgi) and the
sockets (a mounted :class:`~wsframework.WebSocketServer`, ``/ws`` with the
``chat`` subprotocol, routed by a :class:`~wsframework.WebSocketRouter`).

    server = make_server(host="127.0.0.1", port=8080)
    server.serve_forever()          # or start() ... stop()
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
from typing import Any, Callable, Iterable

from gevent import pywsgi

from ...router import WebSocketRouter
from ...server import WebSocketServer
from ...wsgi import WebSocketHandler
from .service import ChatService

__all__ = ["ChatServer", "make_server", "make_wsgi_app"]

logger = logging.getLogger("wsframework.chat")

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: URL path → (body, content type)."""
    files = {}
    for name in sorted(os.listdir(STATIC_DIR)):
        path = os.path.join(STATIC_DIR, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            body = f.read()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        files[f"/static/{name}"] = (body, kind)
    if "/static/index.html" in files:
        files["/"] = files["/static/index.html"]
    return files


def _json(start_response: Callable, report: dict, ok: bool, method: str) -> list[bytes]:
    body = json.dumps(report).encode()
    start_response("200 OK" if ok else "503 Service Unavailable",
                   [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                    ("Content-Length", str(len(body)))])
    return [body if method == "GET" else b""]


def make_metrics_app(metrics: Callable[[], tuple[bytes, str]]) -> Callable:
    """The HTTP side of a separate metrics port: ``/metrics`` only."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Length", "0")])
            return [b""]
        if environ.get("PATH_INFO") != "/metrics":
            body = b"not found\n"
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        body, kind = metrics()
        start_response("200 OK", [("Content-Type", kind), ("Cache-Control", "no-store"),
                                  ("Content-Length", str(len(body)))])
        return [body if method == "GET" else b""]

    return app


def make_wsgi_app(health: Callable[[], dict], ready: Callable[[], dict] | None = None,
                  metrics: Callable[[], tuple[bytes, str]] | None = None) -> Callable:
    """The HTTP side: the page, its static files, ``/healthz`` (alive),
    ``/readyz`` (takes new connections) and ``/metrics`` (Prometheus, when
    enabled)."""
    files = _static_files()

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Length", "0")])
            return [b""]
        if path == "/healthz":
            report = health()
            return _json(start_response, report, report["status"] == "ok", method)
        if path == "/readyz" and ready is not None:
            report = ready()
            return _json(start_response, report, report["status"] == "ready", method)
        if path == "/metrics" and metrics is not None:
            body, kind = metrics()
            start_response("200 OK", [("Content-Type", kind), ("Cache-Control", "no-store"),
                                      ("Content-Length", str(len(body)))])
            return [body if method == "GET" else b""]
        found = files.get(path)
        if found is None:
            body = b"not found\n"
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        body, kind = found
        start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                  ("X-Content-Type-Options", "nosniff")])
        return [body if method == "GET" else b""]

    return app


class _MetricsHandler(WebSocketHandler):
    """The metrics port's handler: the public port's HTTP limits (a head
    within ``handshake_timeout``, keep-alive idles and writes within
    ``http_idle_timeout``, from the chat's WebSocket server) and no
    upgrades: an upgrade request is a plain request to the metrics app."""

    def _is_websocket_upgrade(self) -> bool:
        return False


class ChatServer:
    """The chat server of one process: pywsgi for HTTP, a mounted
    WebSocketServer for ``/ws`` (subprotocol ``chat``).  ``backplane`` is
    None (the state is this process's) or a started
    :class:`~wsframework.apps.chat.backplane.RedisBackplane`; see
    :class:`~wsframework.apps.chat.service.ChatService` for the chat's keys.

    With metrics, ``metrics_listener`` (an address or a listening socket)
    serves ``/metrics`` on a port of its own, and the public port does not
    (it answers 404 there); without it ``/metrics`` is on the public port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, history: int = 50,
                 max_text: int = 4000, max_rooms: int = 1000, history_bytes: int = 65536,
                 rate: float = 10.0, burst: int = 20, resend_window: float = 300.0,
                 allowed_origins: Iterable[str] = (), ssl_context: Any = None,
                 listener: Any = None, metrics_listener: Any = None,
                 **websocket_config: Any) -> None:
        self.service = ChatService(history=history, max_text=max_text, max_rooms=max_rooms,
                                   history_bytes=history_bytes, rate=rate, burst=burst,
                                   resend_window=resend_window,
                                   allowed_origins=allowed_origins)
        self.backplane: Any = None
        # The TLS handshake happens on the first read, under the handler's
        # handshake_timeout (see WebSocketHandler.handle_one_request).
        kwargs = {"ssl_context": ssl_context, "do_handshake_on_connect": False} \
            if ssl_context is not None else {}
        metrics = websocket_config.get("metrics")
        #: The separate metrics server (``metrics_listener``), or None.
        self.metrics_http: pywsgi.WSGIServer | None = None
        if metrics and metrics_listener is not None:
            self.metrics_http = pywsgi.WSGIServer(metrics_listener,
                                                  make_metrics_app(self.metrics_text),
                                                  log=None, error_log=logger,
                                                  handler_class=_MetricsHandler)
            self.metrics_http.init_socket()
        public_metrics = self.metrics_text if metrics and self.metrics_http is None else None
        self.http = pywsgi.WSGIServer(listener or (host, port),
                                      make_wsgi_app(self.health, self.readiness,
                                                    public_metrics),
                                      log=None, error_log=logger, **kwargs)
        self.http.init_socket()
        # A chat member that stops reading is closed (1008) once 1 MiB of
        # chat waits for it, rather than growing the server without bound.
        websocket_config.setdefault("output_buffer_limit", 1 << 20)
        self.websockets = WebSocketServer(http_server=self.http, **websocket_config)
        if self.metrics_http is not None:
            # Whose config _MetricsHandler's limits come from (it routes no upgrades).
            self.metrics_http.websocket_server = self.websockets
        self.metrics = None
        if metrics:
            from .metrics import ChatMetrics
            self.metrics = ChatMetrics(self, None if metrics is True else metrics)
        self.router = WebSocketRouter(self.websockets)
        self.router.mount("/ws", "chat", self.service.handle)

    @property
    def port(self) -> int:
        return self.http.server_port

    @property
    def url(self) -> str:
        return f"http://{self.http.server_host}:{self.port}/"

    def health(self) -> dict:
        """``/healthz``: ok unless the backplane is configured and down (its
        reader disconnected, or dead)."""
        backplane = "none" if self.backplane is None else (
            "up" if self.backplane.connected else "down")
        return {"status": "ok" if backplane != "down" else "degraded",
                "connections": len(self.websockets.connections),
                "rooms": len(self.service.rooms), "backplane": backplane}

    def readiness(self) -> dict:
        """``/readyz``: ready unless draining, near ``max_connections``, or
        the configured backplane is down (new clients should go elsewhere)."""
        reason = self.websockets.not_ready_reason()
        if reason is None and self.backplane is not None and not self.backplane.connected:
            reason = "backplane down"
        report = {"status": "ready" if reason is None else "not ready",
                  "connections": len(self.websockets.connections)}
        if reason is not None:
            report["reason"] = reason
        return report

    def metrics_text(self) -> tuple[bytes, str]:
        """``/metrics``: every series of the process (of every worker when
        they share ``PROMETHEUS_MULTIPROC_DIR``)."""
        from ...metrics import exposition
        if self.metrics is not None:
            self.metrics.sample()
        return exposition(None if self.websockets.config["metrics"] is True
                          else self.websockets.config["metrics"])

    def drain(self, period: float, reason_code: int = 1001) -> None:
        """Drain for a deploy (see :meth:`WebSocketServer.drain`): ``/readyz``
        says 503 at once, connections close spread over ``period``."""
        self.websockets.drain(period, reason_code)

    def start(self) -> None:
        if self.metrics is not None:
            self.metrics.start()
        if self.metrics_http is not None:
            self.metrics_http.start()
        self.http.start()

    def serve_forever(self) -> None:
        self.http.serve_forever()

    def stop(self, timeout: float = 5.0) -> None:
        """Graceful shutdown: stop accepting, close every connection with
        1001, wait for the close handshakes up to ``timeout``."""
        self.http.stop_accepting()
        self.websockets.shut_down(timeout)
        if self.metrics is not None:
            self.metrics.stop()
        if self.backplane is not None:
            self.backplane.close()
        if self.metrics_http is not None:
            self.metrics_http.stop(timeout=timeout)
        self.http.stop(timeout=timeout)


def make_server(host: str = "127.0.0.1", port: int = 8080, history: int = 50,
                **kwargs: Any) -> ChatServer:
    """A chat server bound to ``host:port`` (0 picks a free port)."""
    return ChatServer(host, port, history=history, **kwargs)
