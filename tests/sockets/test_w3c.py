"""W3CWebSocket: browser event order, readyState transitions, close code
and reason validation, binaryType, bufferedAmount, listeners."""

from __future__ import annotations

import socket

import pytest
from gevent.event import AsyncResult, Event
from gevent.queue import Queue

from wsframework import W3CWebSocket, WebSocketError

from ..conftest import echo_handler
from ..helpers import fake_server


def recorder(ws):
    """Record (type, details) of every event, via on<type> attributes."""
    events = Queue()
    ws.onopen = lambda e: events.put(("open", ws.readyState))
    ws.onmessage = lambda e: events.put(("message", e.data))
    ws.onerror = lambda e: events.put(("error", ws.readyState))
    ws.onclose = lambda e: events.put(("close", e.code, e.reason, e.wasClean, ws.readyState))
    return events


def test_constants():
    assert (W3CWebSocket.CONNECTING, W3CWebSocket.OPEN, W3CWebSocket.CLOSING,
            W3CWebSocket.CLOSED) == (0, 1, 2, 3)


def test_open_message_close_order(echo_server):
    ws = W3CWebSocket(echo_server.url + "/", "echo-protocol")
    assert ws.readyState == ws.CONNECTING and ws.protocol == "" and ws.extensions == ""
    events = recorder(ws)
    assert events.get(timeout=5) == ("open", 1)
    assert ws.protocol == "echo-protocol" and ws.url == echo_server.url + "/"
    ws.send("text")
    ws.send(b"\x00\x01")
    ws.send("")                       # empty messages are delivered (§9.25)
    assert [events.get(timeout=5) for _ in range(3)] == [
        ("message", "text"), ("message", b"\x00\x01"), ("message", "")]
    ws.close(4000, "done")
    assert ws.readyState == ws.CLOSING
    assert events.get(timeout=5) == ("close", 4000, "done", True, 3)


def test_server_close_is_clean(make_server):
    def on_request(request):
        request.accept().close(1000, "bye")

    ws = W3CWebSocket(make_server(on_request).url)
    events = recorder(ws)
    assert events.get(timeout=5)[0] == "open"
    assert events.get(timeout=5) == ("close", 1000, "bye", True, 3)


def test_dropped_connection_is_not_clean(make_server):
    def on_request(request):
        request.accept().drop(1011, "boom", skip_close_frame=True)

    ws = W3CWebSocket(make_server(on_request).url)
    events = recorder(ws)
    assert events.get(timeout=5)[0] == "open"
    close = events.get(timeout=5)
    assert close[0] == "close" and close[3] is False and close[1] == 1006


def test_connect_failure_fires_error_then_close():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ws = W3CWebSocket(f"ws://127.0.0.1:{port}/")
    events = recorder(ws)
    assert events.get(timeout=5) == ("error", 3)
    assert events.get(timeout=5) == ("close", 1006, "connection failed", False, 3)


def test_rejected_handshake_fires_error_then_close(make_server):
    ws = W3CWebSocket(make_server(lambda request: request.reject(403)).url)
    events = recorder(ws)
    assert [events.get(timeout=5)[0] for _ in range(2)] == ["error", "close"]


def test_close_while_connecting():
    server = fake_server(lambda key: b"")        # never answers the handshake
    try:
        ws = W3CWebSocket(f"ws://127.0.0.1:{server.server_port}/")
        events = recorder(ws)
        ws.close()
        assert events.get(timeout=5) == ("error", 3)
        assert events.get(timeout=5)[:2] == ("close", 1006)
        ws.close()                               # CLOSED: nothing happens
        assert events.empty()
    finally:
        server.stop(timeout=1)


def test_send_before_open_raises(echo_server):
    ws = W3CWebSocket(echo_server.url)
    with pytest.raises(WebSocketError, match="cannot call send\\(\\) while not connected"):
        ws.send("too early")


@pytest.mark.parametrize("code", [999, 1001, 1005, 1006, 1011, 2999, 5000, True])
def test_close_code_validation(echo_server, code):
    ws = W3CWebSocket(echo_server.url)
    with pytest.raises(ValueError, match="InvalidAccessError"):
        ws.close(code)
    assert ws.readyState == ws.CONNECTING


def test_close_reason_validation(echo_server):
    ws = W3CWebSocket(echo_server.url)
    with pytest.raises(ValueError, match="SyntaxError"):
        ws.close(1000, "é" * 62)


def test_binary_type(echo_server):
    ws = W3CWebSocket(echo_server.url)
    assert ws.binaryType == "arraybuffer"
    with pytest.raises(ValueError, match='just "arraybuffer" type allowed'):
        ws.binaryType = "blob"
    ws.binaryType = "arraybuffer"


def test_send_rejects_other_types(echo_server):
    ws = W3CWebSocket(echo_server.url)
    opened = Event()
    ws.onopen = lambda e: opened.set()
    assert opened.wait(5)
    with pytest.raises(TypeError, match="unknown binary data"):
        ws.send(42)


def test_listeners_run_after_the_attribute_and_can_stop(echo_server):
    ws = W3CWebSocket(echo_server.url)
    calls = Queue()
    ws.onopen = lambda e: calls.put("onopen")

    def first(event):
        calls.put("first")
        event.stopImmediatePropagation()

    def never(event):
        calls.put("never")

    def removed(event):
        calls.put("removed")

    ws.addEventListener("open", first)
    ws.addEventListener("open", first)           # added once only
    ws.addEventListener("open", never)
    ws.addEventListener("open", removed)
    ws.removeEventListener("open", removed)
    assert [calls.get(timeout=5) for _ in range(2)] == ["onopen", "first"]
    got = AsyncResult()
    ws.addEventListener("message", lambda e: got.set(e.data))
    ws.send("via listener")
    assert got.get(timeout=5) == "via listener"
    assert calls.empty()


def test_buffered_amount_counts_unwritten_bytes(make_server):
    accepted = AsyncResult()

    def on_request(request):
        connection = request.accept(None, None)
        connection.pause()                    # the server stops reading
        accepted.set(connection)

    server = make_server(on_request, max_received_frame_size=1 << 26,
                         max_received_message_size=1 << 26, permessage_deflate=False)
    ws = W3CWebSocket(server.url)
    assert ws.bufferedAmount == 0
    opened = Event()
    ws.onopen = lambda e: opened.set()
    assert opened.wait(5)
    server_side = accepted.get(timeout=5)
    payload = b"x" * (32 << 20)
    ws.send(payload)                          # more than the socket buffers hold
    assert 0 < ws.bufferedAmount <= len(payload) + 14
    server_side.resume()
    assert server_side.receive(timeout=30).data == payload
