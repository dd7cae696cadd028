"""WSGI apps for tests/integrations/test_gunicorn.py: a page, and an echo WebSocket
written gevent-websocket style (``gevent_style``) or as a route of a
router whose server the app carries (``routed``).

A text message ``burst:N`` is answered with N binary messages of
BURST_SIZE bytes (message i is ``i`` as 6 digits, then ``i % 251`` bytes),
all queued at once: what ``send`` accepted must arrive before any close.
"""

import os

from wsframework import WebSocketRouter, WebSocketServer

BURST_SIZE = 65536


def burst_message(index: int) -> bytes:
    return f"{index:06d}".encode() + bytes([index % 251]) * (BURST_SIZE - 6)


def page(environ, start_response):
    body = f"page from {os.getpid()}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _answer(send, message) -> None:
    if isinstance(message, str) and message.startswith("burst:"):
        for index in range(int(message[6:])):
            send(burst_message(index))
    else:
        send(message)


def gevent_style(environ, start_response):
    ws = environ.get("wsgi.websocket")
    if ws is None:
        return page(environ, start_response)
    while True:
        message = ws.receive()
        if message is None:
            return []
        _answer(ws.send, message)


def _on_echo(request):
    connection = request.accept(request.origin)
    burst = request.resource_url.query.get("burst")
    if burst:
        # Queued at once, before anything else can run (a worker recycling
        # right after this request included): all of it must arrive.
        _answer(connection.send, f"burst:{burst}")
    for message in connection:
        _answer(connection.send, message.data)


def routed(environ, start_response):
    return page(environ, start_response)


routed.websocket_server = WebSocketServer()
WebSocketRouter(routed.websocket_server).mount("/echo", None, _on_echo)
