"""Shared fixtures: real servers on 127.0.0.1 (port 0), torn down after
each test.  The suite runs under ``pytest-gevent`` (gevent monkey-patched).

Every test also fails on an error that would otherwise reach only the log:
an ERROR (or worse) log record, or a greenlet that died of an exception
(gevent's hub reports it through ``handle_error``).  A test that provokes
such an error on purpose says so with ``@pytest.mark.expect_errors(...)``,
giving one regular expression per expected kind; each must match at least
one of the errors, and every error must match one of them.
"""

from __future__ import annotations

import logging
import os
import re
import traceback

import gevent
import pytest

from wsframework import WebSocketServer


# The client honours HTTP_PROXY, HTTPS_PROXY and ALL_PROXY as urllib does;
# the suite's own connections go straight to 127.0.0.1 whatever the machine
# says (tests/sockets/test_proxy.py sets them where it means to).
for _name in ("http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
    os.environ.pop(_name.upper(), None)


class ServerFactory:
    """Starts ``WebSocketServer.listen`` servers and stops them at teardown."""

    def __init__(self) -> None:
        self.servers: list[WebSocketServer] = []

    def __call__(self, on_request=None, **config) -> WebSocketServer:
        server = WebSocketServer.listen(("127.0.0.1", 0), **config)
        if on_request is not None:
            server.on("request", on_request)
        server.start()
        server.url = f"ws://127.0.0.1:{server.port}"
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            for connection in server.connections:
                connection.drop(1001, skip_close_frame=True)
            server.http_server.stop(timeout=1)


@pytest.fixture
def make_server():
    factory = ServerFactory()
    yield factory
    factory.close()


def echo_handler(request):
    """Accept with the first requested protocol and echo every message."""
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:
        connection.send(message.data)


@pytest.fixture
def echo_server(make_server):
    """An echo server that takes messages up to 32 MiB."""
    return make_server(echo_handler, max_received_frame_size=1 << 25,
                       max_received_message_size=1 << 25)


class ErrorRecorder(logging.Handler):
    """Collects ERROR log records (any logger) and the exceptions the gevent
    hub is told about (a greenlet that died of one, a failing callback)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"log {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + "".join(traceback.format_exception(*record.exc_info))
        self.errors.append(text)

    def hub_error(self, context, type_, value, tb) -> None:
        self.errors.append(f"greenlet crash in {context!r}:\n"
                           + "".join(traceback.format_exception(type_, value, tb)))


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "expect_errors(*patterns): the test provokes ERROR log records or "
        "greenlet crashes on purpose; each pattern (a regular expression searched in "
        "the error's text) must match one, and every error must match a pattern")
    config.addinivalue_line(
        "markers", "ceiling(seconds): the test's time limit instead of 60 s")


@pytest.fixture(autouse=True)
def _no_unexpected_errors(request):
    # Set up before every other fixture, so torn down after them: errors
    # logged while servers stop count too.
    recorder = ErrorRecorder()
    root = logging.getLogger()
    root.addHandler(recorder)
    hub = gevent.get_hub()
    hub_handle_error = hub.handle_error

    def handle_error(context, type_, value, tb):
        if type_ is not None and not issubclass(type_, hub.NOT_ERROR):
            recorder.hub_error(context, type_, value, tb)
        return hub_handle_error(context, type_, value, tb)

    hub.handle_error = handle_error
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        if hub.__dict__.get("handle_error") is handle_error:
            del hub.handle_error
    marker = request.node.get_closest_marker("expect_errors")
    patterns = [re.compile(pattern) for pattern in (marker.args if marker else ())]
    unexpected = [error for error in recorder.errors
                  if not any(pattern.search(error) for pattern in patterns)]
    unmatched = [pattern.pattern for pattern in patterns
                 if not any(pattern.search(error) for error in recorder.errors)]
    problems = []
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected error(s) (ERROR log records or "
                        f"greenlet crashes):\n\n" + "\n\n".join(unexpected))
    if unmatched:
        problems.append(f"expected errors that did not happen: {unmatched}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _no_stray_timeout(request):
    # Every test gets a hard ceiling so a hang fails instead of blocking CI;
    # @pytest.mark.ceiling(seconds) sets another for a test long by design.
    marker = request.node.get_closest_marker("ceiling")
    with gevent.Timeout(marker.args[0] if marker else 60):
        yield
