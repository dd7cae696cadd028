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
request to Flask.  Flask is an optional dependency
(``pip install wsframework[flask]``).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from gevent import pywsgi

from .router import WebSocketRouter, WebSocketRouterRequest
from .server import WebSocketServer

__all__ = ["Sock"]

_FLASK_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")


class Sock:
    """WebSocket routes for a Flask app (Flask-Sock's shape, this package's
    connections).  ``config`` takes the server config keys."""

    def __init__(self, app: Any = None, **config: Any) -> None:
        self.server = WebSocketServer(**config)
        self.router = WebSocketRouter(self.server)
        self.app = app

    def init_app(self, app: Any) -> None:
        """Bind to ``app`` later (the Flask application-factory pattern)."""
        self.app = app

    def route(self, path: str, protocol: str | None = "*",
              origins: tuple[str, ...] | None = None) -> Callable:
        """Decorate ``fn(connection, **params)`` to serve upgrades on
        ``path`` (Flask ``<name>`` parameters allowed).  ``protocol`` is
        matched as the router does; ``origins`` restricts the Origin."""
        router_path = _FLASK_PARAM.sub(r"{\1}", path)

        def decorator(fn: Callable) -> Callable:
            @functools.wraps(fn)
            def on_request(request: WebSocketRouterRequest) -> None:
                if origins is not None and request.origin not in origins:
                    request.reject(403, "Origin not allowed.")
                    return
                connection = request.accept(request.origin)
                try:
                    fn(connection, **request.params)
                finally:
                    if connection.connected:
                        connection.close()

            self.router.mount(router_path, protocol, on_request)
            return fn

        return decorator

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
