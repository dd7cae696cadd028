"""WebSocketRouter over real sockets: every matching rule of the reference
§7, path parameters, query routing, 404, mount/unmount errors."""

from __future__ import annotations

import re

import pytest
from gevent.event import AsyncResult

from wsframework import WebSocketError, WebSocketServer, connect
from wsframework.router import WebSocketRouter

from ..helpers import RawClient, handshake_request


@pytest.fixture
def routed(make_server):
    """A started server with a router; returns (router, server, calls)."""
    server = make_server()
    router = WebSocketRouter(server)
    calls = []
    return router, server, calls


def route(calls, name, accept=True):
    def callback(request):
        calls.append((name, request.protocol, request.params))
        if accept:
            request.accept(request.origin)
        else:
            request.reject(409, f"{name} says no")
    return callback


def status_of(server, path="/", protocols=None):
    headers = {"Sec-WebSocket-Protocol": protocols} if protocols else None
    response = RawClient(server.port).request(handshake_request(path, headers))
    return response.status, response.headers.get("X-WebSocket-Reject-Reason")


def test_exact_path_and_protocol(routed):
    router, server, calls = routed
    router.mount("/chat", "chat", route(calls, "chat"))
    connection = connect(server.url + "/chat", ["chat"])
    assert connection.protocol == "chat"
    assert calls == [("chat", "chat", {})]


def test_no_match_is_404(routed):
    router, server, calls = routed
    router.mount("/chat", "chat", route(calls, "chat"))
    assert status_of(server, "/other", "chat") == (404, "No handler is available for the given request.")
    assert status_of(server, "/chat", "echo") == (404, "No handler is available for the given request.")
    assert status_of(server, "/chat") == (404, "No handler is available for the given request.")
    assert status_of(server, "/chat/") == (404, "No handler is available for the given request.")
    assert calls == []


def test_protocol_is_matched_case_insensitively(routed):
    router, server, calls = routed
    router.mount("/", "Chat", route(calls, "chat"))
    connection = connect(server.url, ["CHAT"])
    assert connection.protocol == "CHAT"          # echoed in the client's spelling
    assert calls == [("chat", "chat", {})]


def test_star_protocol_matches_with_and_without_protocols(routed):
    router, server, calls = routed
    router.mount("/any", "*", route(calls, "star"))
    connect(server.url + "/any", ["x-proto"])
    connect(server.url + "/any")
    assert calls == [("star", "x-proto", {}), ("star", None, {})]


def test_none_protocol_matches_only_requests_without_protocols(routed):
    router, server, calls = routed
    router.mount("/plain", None, route(calls, "plain"))
    connect(server.url + "/plain")
    assert status_of(server, "/plain", "chat")[0] == 404
    assert calls == [("plain", None, {})]


def test_client_protocol_order_wins_over_mount_order(routed):
    router, server, calls = routed
    router.mount("/", "b", route(calls, "b"))
    router.mount("/", "a", route(calls, "a"))
    connection = connect(server.url, ["a", "b"])
    assert connection.protocol == "a"
    assert calls == [("a", "a", {})]


def test_mount_order_wins_for_one_protocol(routed):
    router, server, calls = routed
    router.mount("*", "chat", route(calls, "star path"))
    router.mount("/chat", "chat", route(calls, "exact"))
    connect(server.url + "/chat", ["chat"])
    assert calls == [("star path", "chat", {})]


def test_regex_paths_are_not_anchored(routed):
    router, server, calls = routed
    router.mount(re.compile(r"/rooms/\d+"), None, route(calls, "regex"))
    connect(server.url + "/api/rooms/42/x")
    assert calls == [("regex", None, {})]


def test_path_parameters(routed):
    router, server, calls = routed
    router.mount("/rooms/{room}/users/{user}", None, route(calls, "params"))
    connect(server.url + "/rooms/lobby/users/ann?x=1")
    assert calls == [("params", None, {"room": "lobby", "user": "ann"})]
    assert status_of(server, "/rooms/lobby/users/ann/extra")[0] == 404


def test_query_routing(routed):
    router, server, calls = routed
    router.mount("/feed", None, route(calls, "json"), query={"format": "json"})
    router.mount("/feed", None, route(calls, "any-id"), query={"id": re.compile(r"\d+")})
    router.mount("/feed", None, route(calls, "fallback"))
    connect(server.url + "/feed?format=json")
    connect(server.url + "/feed?id=17")
    connect(server.url + "/feed?id=abc")
    assert [name for name, _, _ in calls] == ["json", "any-id", "fallback"]


def test_router_request_reject_and_events(routed):
    router, server, calls = routed
    seen = AsyncResult()

    def callback(request):
        request.on("request_rejected", seen.set)
        assert request.resource == "/no" and request.websocket_request.resource == "/no"
        request.reject(409, "no thanks")

    router.mount("/no", None, callback)
    assert status_of(server, "/no") == (409, "no thanks")
    assert seen.get(timeout=5).protocol is None


def test_router_request_accept_event_and_properties(routed):
    router, server, calls = routed
    seen = AsyncResult()

    def callback(request):
        request.on("request_accepted", seen.set)
        assert request.origin == "http://o.example"
        assert request.resource_url.pathname == "/props"
        assert request.remote_address == "127.0.0.1"
        request.accept(request.origin)

    router.mount("/props", "p", callback)
    client = connect(server.url + "/props", ["p"], origin="http://o.example")
    assert seen.get(timeout=5).protocol == "p" == client.protocol


def test_mount_errors():
    router = WebSocketRouter()
    callback = lambda request: None  # noqa: E731
    with pytest.raises(ValueError, match="You must specify a path for this handler."):
        router.mount("", None, callback)
    with pytest.raises(TypeError, match="Path must be specified as either a string or a RegExp."):
        router.mount(42, None, callback)
    with pytest.raises(ValueError, match="You must specify a callback for this handler."):
        router.mount("/", None, None)
    router.mount("/", "Chat", callback)
    with pytest.raises(ValueError, match="You may only mount one handler per path/protocol combination."):
        router.mount("/", "chat", callback)


def test_unmount(routed):
    router, server, calls = routed
    router.mount("/a", None, route(calls, "a"))
    router.mount("/a", "chat", route(calls, "a-chat"))
    router.unmount("/a")                 # no protocol: the no-protocol route (§9.26)
    assert status_of(server, "/a")[0] == 404
    connect(server.url + "/a", ["chat"])
    router.unmount("/a", "CHAT")
    assert router.handlers == []
    with pytest.raises(ValueError, match="Unable to find a route matching the specified path and protocol."):
        router.unmount("/a", "chat")


def test_attach_and_detach(make_server):
    router = WebSocketRouter()
    with pytest.raises(ValueError, match="You must specify a WebSocketServer instance to attach to."):
        router.attach_server(None)
    with pytest.raises(WebSocketError, match="Cannot detach from server: not attached."):
        router.detach_server()
    server = make_server()
    router.attach_server(server)
    calls = []
    router.mount("*", "*", route(calls, "all"))
    connect(server.url)
    router.detach_server()
    # With no request listener left, the server answers 404 by itself.
    assert status_of(server)[1] == "No handler is configured to accept the connection."
    assert isinstance(server, WebSocketServer) and calls == [("all", None, {})]


def test_path_to_regexp_is_one_function():
    from wsframework import router as router_module
    assert WebSocketRouter.path_to_regexp is router_module.path_to_regexp
    assert WebSocketRouter().path_to_regexp("/rooms/{name}").match("/rooms/a").groupdict() == {
        "name": "a"}
    assert WebSocketRouter.path_to_regexp("*").match("/anything")
    compiled = re.compile(r"/x")
    assert WebSocketRouter.path_to_regexp(compiled) is compiled
