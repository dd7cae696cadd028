"""A gunicorn worker that serves a WSGI app and its WebSockets on one port.

    gunicorn -k wsframework.gunicorn.GeventWebSocketWorker -w 4 app:app

It is gunicorn's gevent pywsgi worker with :class:`~wsframework.wsgi.WebSocketHandler`
as its handler, so upgrades are taken exactly as on a pywsgi server started
by hand: by the app's ``websocket_server`` (a :class:`~wsframework.flask.Sock`,
:mod:`wsframework.django`, a router), else gevent-websocket style
(``environ["wsgi.websocket"]``).

Server config keys come from the environment (so also from gunicorn's
``-e``/``raw_env``): ``WSFRAMEWORK_SERVER_MAX_CONNECTIONS=1000``; see
:func:`config_from_environ`.  A bad one stops gunicorn at start-up with an
error naming the variable.

Shutdown follows gunicorn's: when the worker stops (SIGTERM, the old
workers of a graceful reload on SIGHUP, ``max_requests`` recycling) it
stops accepting, refuses new upgrades with 503, and closes every open
WebSocket with 1001 after what was already queued for it, waiting up to
``graceful_timeout`` for the closing handshakes.  gunicorn's quick
shutdown (SIGINT or SIGQUIT, sent to the workers when the master gets
either) closes every open WebSocket with 1001 at once, waits up to
:data:`QUICK_CLOSE_WAIT` seconds for the closing handshakes, and exits.
gunicorn is an optional dependency (``pip install 'wsframework[gunicorn]'``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
from typing import Any, Mapping

import gevent
from gevent.event import Event
from gunicorn.workers.base import Worker
from gunicorn.workers.ggevent import GeventPyWSGIWorker, PyWSGIHandler, PyWSGIServer

from .config import SERVER_DEFAULTS, server_config
from .server import WebSocketServer
from .wsgi import WebSocketHandler

__all__ = ["GeventWebSocketWorker", "config_from_environ", "ENV_PREFIX", "QUICK_CLOSE_WAIT"]

logger = logging.getLogger("wsframework.gunicorn")

#: Environment variables with this prefix set server config keys:
#: ``WSFRAMEWORK_SERVER_<KEY>``, the key in upper case.
ENV_PREFIX = "WSFRAMEWORK_SERVER_"

#: Seconds a quick shutdown (SIGINT, SIGQUIT) waits for the closing
#: handshakes of the WebSockets it closed with 1001 before the worker exits.
QUICK_CLOSE_WAIT = 1.0

_WORDS = {"True": True, "False": False, "None": None}


def _parse(text: str) -> Any:
    """A value from the environment: JSON (``100``, ``2.5``, ``true``,
    ``null``, ``["https://a.example", null]``), ``True``/``False``/``None``,
    else the text itself (``drop``)."""
    if text in _WORDS:
        return _WORDS[text]
    try:
        return json.loads(text)
    except ValueError:
        return text


def config_from_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The server config keys set by ``WSFRAMEWORK_SERVER_*`` variables of
    ``environ`` (default ``os.environ``), checked: an unknown key or a bad
    value raises :class:`ValueError` naming the variable and the key."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key not in SERVER_DEFAULTS or key == "http_server":
            raise ValueError(f"{name}: unknown config key {key!r}")
        value = _parse(environ[name])
        try:
            server_config({key: value})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {exc}") from None
        config[key] = value
    try:
        server_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ENV_PREFIX}*: {exc}") from None
    return config


class _Handler(WebSocketHandler, PyWSGIHandler):
    """Our handler with gunicorn's access log and environ keys; counts
    requests for ``max_requests``."""

    def run_application(self) -> None:
        worker = getattr(self.server, "worker", None)
        if worker is not None:
            worker._count_request()
        super().run_application()


class _Server(PyWSGIServer):
    """The worker's pywsgi server: upgrades gevent-websocket style are
    answered by the worker's one server, so its limits count them all."""

    def __init__(self, *args: Any, worker: "GeventWebSocketWorker", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.worker = worker
        self._gevent_websocket_server = worker._gevent_style_server
        worker._http_servers.append(self)


class GeventWebSocketWorker(GeventPyWSGIWorker):
    """gunicorn's gevent (pywsgi) worker, taking WebSocket upgrades on the
    app's port and closing them with 1001 when it stops."""

    wsgi_handler = _Handler

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """gunicorn's start-up check: the ``WSFRAMEWORK_SERVER_*``
        variables must be valid (raises :class:`ValueError` naming one)."""
        check = getattr(super(), "check_config", None)
        if check is not None:
            check(cfg, log)
        config_from_environ()

    @property
    def alive(self) -> bool:
        """gunicorn's flag; setting it False (any way gunicorn stops a
        worker) starts closing the WebSockets."""
        return self._alive

    @alive.setter
    def alive(self, value: bool) -> None:
        self._alive = value
        stopping = getattr(self, "_stopping", None)
        if not value and stopping is not None:
            stopping.set()

    @property
    def websocket_servers(self) -> list[WebSocketServer]:
        """The servers whose connections this worker closes when it stops:
        the app's ``websocket_server`` (if any) and the one answering
        gevent-websocket style upgrades."""
        return list(self._websocket_servers)

    def run(self) -> None:
        """Serve until gunicorn stops the worker (see the module docs)."""
        config = config_from_environ()
        self._stopping = Event()
        self._http_servers: list[_Server] = []
        self._gevent_style_server = WebSocketServer(**{**config, "auto_accept_connections": True})
        self._websocket_servers = [self._gevent_style_server]
        app_server = getattr(self.wsgi, "websocket_server", None)
        if isinstance(app_server, WebSocketServer):
            if config:
                # The deployment's settings win over the app's.
                app_server._configure(config)
            self._websocket_servers.insert(0, app_server)
        self.server_class = functools.partial(_Server, worker=self)
        drain = gevent.spawn(self._drain_when_stopping)
        if not self.alive:
            self._stopping.set()
        try:
            super().run()
        finally:
            drain.kill(block=False)

    def _count_request(self) -> None:
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False

    def handle_quit(self, sig: int, frame: Any) -> None:
        """gunicorn's quick shutdown (SIGINT, SIGQUIT): out of the signal
        handler, close every WebSocket with 1001 at once, then exit as
        gunicorn's worker does."""
        gevent.spawn(self._quit, sig, frame)

    def _quit(self, sig: int, frame: Any) -> None:
        self._quick = True
        for http_server in getattr(self, "_http_servers", ()):
            http_server.stop_accepting()
        self.alive = False
        servers = list(getattr(self, "_websocket_servers", ()))
        count = sum(len(server.connections) for server in servers)
        if count:
            self.log.info("Closing %d WebSocket connection(s) with 1001 at once (worker %s "
                          "quitting)", count, self.pid)
        # A drain over no time: every connection closed at once, after what
        # was queued for it, then a short wait for the closing handshakes.
        gevent.joinall([gevent.spawn(server.drain, 0.0, timeout=QUICK_CLOSE_WAIT)
                        for server in servers])
        # gunicorn's own: the worker_int hook, then exit.
        Worker.handle_quit(self, sig, frame)

    def _drain_when_stopping(self) -> None:
        self._stopping.wait()
        for http_server in self._http_servers:
            http_server.stop_accepting()
        if getattr(self, "_quick", False):
            return                          # _quit closes them all at once
        servers = self._websocket_servers
        count = sum(len(server.connections) for server in servers)
        if count:
            self.log.info("Closing %d WebSocket connection(s) with 1001 (worker %s stopping)",
                          count, self.pid)
        for server in servers:
            server.draining = True
        # The closes are spread over up to half the graceful timeout (at most
        # 10 ms apart: a few connections go at once), so that the clients of a
        # reloaded worker do not all reconnect in the same instant; the rest of
        # the timeout is for their closing handshakes.
        graceful = self.cfg.graceful_timeout
        gevent.joinall([gevent.spawn(server.drain, graceful / 2, timeout=graceful / 2)
                        for server in servers])
