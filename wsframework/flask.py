"""Flask integration: WebSocket routes on the same port as the app's pages.

    from flask import Flask
    from wsframework.flask import Sock

    app = Flask(__name__)
    sock = Sock(app)

    @sock.route("/echo")
    def echo(connection):
        for message in connection:
            connection.send(message.data)

    sock.run(("127.0.0.1", 5000))      # pywsgi serves pages and sockets

Routes live in a :class:`~wsframework.WebSocketRouter` of a mounted
:class:`~wsframework.WebSocketServer`, so an upgrade request goes to the
WebSocket route of its path (404 when there is none) and every other
request to Flask.  The handler runs in a Flask request context of the
upgrade request (``session``, ``g``, ``request`` and the app's
``before_request`` functions).  Routes may be declared on a blueprint
(``bp=``) and the app bound later with :meth:`Sock.init_app` (the
app-factory pattern); the app then carries the server as its
``websocket_server``, which is how the gunicorn worker
(:mod:`wsframework.gunicorn`) finds it.  Under a server that does not take
WebSocket upgrades (``flask run``), an upgrade gets a 500 response saying
how to serve the app.  Flask is an optional dependency
(``pip install wsframework[flask]``).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Callable

from gevent import pywsgi

from .router import WebSocketRouter, WebSocketRouterRequest
from .server import WebSocketServer

__all__ = ["Sock", "NOT_SERVED"]

logger = logging.getLogger("wsframework.flask")

_FLASK_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")

#: The body of the 500 response an upgrade gets when the app is served by
#: a server that does not take WebSocket upgrades (``flask run``).
NOT_SERVED = (
    "This is a WebSocket endpoint, but the server running this Flask app does not take "
    "WebSocket upgrades (Flask's development server, `flask run`, cannot). Serve the app "
    "with gevent: sock.run((host, port)), or in production "
    "gunicorn -k wsframework.gunicorn.GeventWebSocketWorker module:app\n")


def _join(prefix: str | None, path: str) -> str:
    """A blueprint rule under its ``url_prefix``, joined as Flask does."""
    if not prefix:
        return path
    return prefix.rstrip("/") + "/" + path.lstrip("/") if path else prefix


class _NotServed:
    """Around ``app.wsgi_app``: an upgrade request that reaches the app was
    not taken by the server (not gevent with our handler), so it gets a
    clear error instead of a page or a hang."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if "websocket" not in environ.get("HTTP_UPGRADE", "").lower():
            return self.wsgi_app(environ, start_response)
        logger.error("WebSocket upgrade for %s reached the Flask app: the server does not "
                     "take upgrades (serve with sock.run() or the gunicorn worker "
                     "wsframework.gunicorn.GeventWebSocketWorker)", environ.get("PATH_INFO"))
        body = NOT_SERVED.encode("utf-8")
        start_response("500 Internal Server Error", [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-WebSocket-Reject-Reason", "The server does not take WebSocket upgrades."),
            ("Connection", "close")])
        return [body]


class Sock:
    """WebSocket routes for a Flask app (Flask-Sock's shape, this package's
    connections).  ``config`` takes the server config keys."""

    def __init__(self, app: Any = None, **config: Any) -> None:
        self.server = WebSocketServer(**config)
        self.router = WebSocketRouter(self.server)
        self.app = None
        self._routes: set[tuple[str, str | None]] = set()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        """Bind to ``app`` (now, or later in the application-factory
        pattern): the app carries :attr:`server` as ``app.websocket_server``
        and answers upgrades that reach it with a clear 500 error."""
        self.app = app
        app.websocket_server = self.server
        app.extensions["wsframework.sock"] = self
        if not isinstance(app.wsgi_app, _NotServed):
            app.wsgi_app = _NotServed(app.wsgi_app)

    def route(self, path: str, protocol: str | None = "*",
              origins: tuple[str, ...] | None = None, bp: Any = None) -> Callable:
        """Decorate ``fn(connection, **params)`` to serve upgrades on
        ``path`` (Flask ``<name>`` parameters allowed).  ``protocol`` is
        matched as the router does; ``origins`` restricts the Origin;
        ``bp``, a Flask blueprint, puts the route under its ``url_prefix``
        once the blueprint is registered on the app."""

        def decorator(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def on_request(request: WebSocketRouterRequest) -> None:
                if origins is not None and request.origin not in origins:
                    request.reject(403, "Origin not allowed.")
                    return
                self._serve(request, fn)

            if bp is None:
                self._mount(path, protocol, on_request)
            else:
                bp.record(lambda state: self._mount(_join(state.url_prefix, path), protocol,
                                                    on_request, state.app))
            return fn

        return decorator

    def _mount(self, path: str, protocol: str | None, on_request: Callable,
               app: Any = None) -> None:
        if app is not None and self.app is None:
            self.init_app(app)
        router_path = _FLASK_PARAM.sub(r"{\1}", path)
        if (router_path, protocol) in self._routes:   # a blueprint registered again
            return
        self._routes.add((router_path, protocol))
        self.router.mount(router_path, protocol, on_request)

    def _serve(self, request: WebSocketRouterRequest, fn: Callable) -> None:
        """Accept and run ``fn`` in a request context of the upgrade
        request (when it came through a WSGI server of this app)."""
        environ = request.websocket_request.environ
        if environ is None or self.app is None:
            self._run(request, fn)
            return
        app = self.app
        with app.request_context(environ):
            refusal = self._before_request(app)
            if refusal is not None:
                request.reject(*refusal)
                return
            self._run(request, fn)

    @staticmethod
    def _before_request(app: Any) -> tuple[int, str | None] | None:
        """Run the app's ``before_request`` functions: None to go on, or
        the (status, reason) to refuse the upgrade with when one answered
        or aborted."""
        from werkzeug.exceptions import HTTPException
        try:
            answer = app.preprocess_request()
        except HTTPException as exc:
            return (exc.code if exc.code and 400 <= exc.code <= 599 else 403), exc.description
        except Exception:
            logger.exception("before_request failed for a WebSocket upgrade")
            return 500, None
        if answer is None:
            return None
        response = app.make_response(answer)
        status = response.status_code if 400 <= response.status_code <= 599 else 403
        reason = response.get_data(as_text=True)[:200] if response.mimetype.startswith(
            "text/") else None
        return status, reason or None

    @staticmethod
    def _run(request: WebSocketRouterRequest, fn: Callable) -> None:
        connection = request.accept(request.origin)
        try:
            fn(connection, **request.params)
        finally:
            if connection.connected:
                connection.close()

    def mount(self, wsgi_server: pywsgi.WSGIServer) -> None:
        """Take upgrades on ``wsgi_server``, which serves the Flask app."""
        self.server.mount(http_server=wsgi_server)

    def make_server(self, address: tuple[str, int], **kwargs: Any) -> pywsgi.WSGIServer:
        """A ``pywsgi.WSGIServer`` for the app with the sockets mounted,
        already bound (so port 0 is resolved in ``server_port``)."""
        server = pywsgi.WSGIServer(address, self.app, **kwargs)
        server.init_socket()
        self.mount(server)
        return server

    def run(self, address: tuple[str, int], **kwargs: Any) -> None:
        """Serve the app and its WebSocket routes until interrupted."""
        self.make_server(address, **kwargs).serve_forever()
