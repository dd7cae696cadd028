"""Django: WebSocket views in a Django project served by gevent.

In the project's ``wsgi.py``, take the application from here instead of
``django.core.wsgi``::

    from wsframework.django import get_wsgi_application
    application = get_wsgi_application()

and write views with :func:`websocket_view`.  An upgrade request goes
through Django like any request (middleware, URL patterns), so the view
sees ``request.session`` and ``request.user`` *before* answering: it
accepts with ``websocket.accept()`` or returns a response (403...) that
becomes the handshake's rejection.  Serve it with pywsgi and
:class:`~wsframework.wsgi.WebSocketHandler`, or with gunicorn and
:class:`wsframework.gunicorn.GeventWebSocketWorker`.  Django is an
optional dependency (``pip install 'wsframework[django]'``).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from django.http import HttpRequest, HttpResponse

from .request import WebSocketRequest
from .server import WebSocketServer

__all__ = ["get_wsgi_application", "websocket_view", "NOT_SERVED"]

logger = logging.getLogger("wsframework.django")

#: The body of the 500 response a :func:`websocket_view` gives an upgrade
#: request that the server did not hand to it (``manage.py runserver``, or
#: a ``wsgi.py`` still using Django's own ``get_wsgi_application``).
NOT_SERVED = (
    "This is a WebSocket view, but the upgrade did not come through wsframework. "
    "In wsgi.py use `from wsframework.django import get_wsgi_application`, and serve "
    "the project with gevent: gunicorn -k wsframework.gunicorn.GeventWebSocketWorker "
    "mysite.wsgi (manage.py runserver cannot take WebSocket upgrades).\n")

_KEY = "wsframework.request"


def get_wsgi_application(**config: Any) -> Any:
    """Django's WSGI application (set up as by
    ``django.core.wsgi.get_wsgi_application``) carrying a
    :class:`~wsframework.WebSocketServer` as ``websocket_server``, whose
    upgrade requests Django answers through :func:`websocket_view` views.

    ``config`` takes the server config keys, over the ``WSFRAMEWORK_SERVER``
    dict of the Django settings."""
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application as django_application

    application = django_application()
    config = {**getattr(settings, "WSFRAMEWORK_SERVER", {}), **config}
    server = WebSocketServer(**config)
    server.on("request", functools.partial(_dispatch, application))
    application.websocket_server = server
    return application


def _dispatch(application: Callable, request: WebSocketRequest) -> None:
    """Run Django for an upgrade request; a view accepts it, else Django's
    response becomes the rejection."""
    if request.environ is None:
        request.reject(500, "A Django app takes upgrades through a WSGI server.")
        return
    environ = dict(request.environ)
    environ[_KEY] = request
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list, exc_info: Any = None) -> Callable:
        answer["status"], answer["headers"] = status, headers
        return lambda data: None

    result = application(environ, start_response)
    try:
        body = b"" if request.resolved else b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()                     # Django's request_finished (database connections)
    if request.resolved:
        return
    status = int(str(answer.get("status", "500")).split()[0])
    headers = {name.lower(): value for name, value in answer.get("headers", ())}
    if 400 <= status <= 599:
        reason = None
        if headers.get("content-type", "").startswith("text/") and len(body) <= 200:
            reason = body.decode("utf-8", "replace").strip() or None
        request.reject(status, reason)
    elif 300 <= status <= 399:
        request.reject(403, "Not accepted: the view redirected.")
    else:
        request.reject(404, "No WebSocket view at this URL.")


def websocket_view(view: Callable) -> Callable:
    """Decorate ``view(request, websocket, *args, **kwargs)``: ``websocket``
    (also ``request.websocket``) is the unanswered
    :class:`~wsframework.WebSocketRequest`.  The view calls
    ``websocket.accept()`` and uses the connection (closed when the view
    returns), or returns a response to refuse the upgrade with its status.
    A plain HTTP request gets 426 Upgrade Required; an upgrade the server
    did not hand over gets 500 with :data:`NOT_SERVED`."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        websocket = request.META.get(_KEY)
        if websocket is None:
            return _not_handed_over(request)
        request.websocket = websocket
        response = view(request, websocket, *args, **kwargs)
        connection = websocket.connection
        if connection is not None:
            if connection.connected:
                connection.close()
            return HttpResponse(status=101)         # not sent: the socket is the connection's
        if response is None:
            return HttpResponse("The view neither accepted nor refused.", status=403,
                                content_type="text/plain")
        return response

    return wrapper


def _not_handed_over(request: HttpRequest) -> HttpResponse:
    if "websocket" not in request.META.get("HTTP_UPGRADE", "").lower():
        return HttpResponse("This URL takes WebSocket connections only.\n", status=426,
                            content_type="text/plain", headers={"Upgrade": "websocket"})
    logger.error("WebSocket upgrade for %s reached the view without wsframework: %s",
                 request.path, NOT_SERVED.strip())
    already = request.META.get("wsgi.websocket")
    if already is not None:                        # accepted gevent-websocket style
        already.close(1011, "Use wsframework.django.get_wsgi_application().")
    return HttpResponse(NOT_SERVED, status=500, content_type="text/plain; charset=utf-8",
                        headers={"X-WebSocket-Reject-Reason":
                                 "The upgrade did not come through wsframework."})
