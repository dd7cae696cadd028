"""The chat server in-process: the JSON protocol over real sockets, the
page and /healthz over HTTP, graceful shutdown, and the Redis backplane
between two services (a real redis-server on 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import os
import socket

import pytest

from wsframework import WebSocketHandshakeError, connect
from wsframework.apps.chat import make_server

from ..helpers import handshake_request
from ..redis_server import redis_server  # noqa: F401  (fixture)


@pytest.fixture
def chat():
    servers = []

    def start(**kwargs):
        server = make_server(port=0, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(timeout=2)


class Member:
    """A chat client speaking the JSON protocol."""

    def __init__(self, server, nick: str, room: str = "lobby") -> None:
        self.connection = connect(f"ws://127.0.0.1:{server.port}/ws", ["chat"])
        self.nick = nick
        if nick:
            self.send(type="join", room=room, nick=nick)

    def send(self, **event) -> None:
        self.connection.send(json.dumps(event))

    def next(self, kind: str | None = None) -> dict:
        """The next event (of ``kind``, skipping others)."""
        while True:
            message = self.connection.receive(timeout=5)
            assert message is not None, "the connection closed"
            event = json.loads(message.data)
            if kind is None or event["type"] == kind:
                return event


def http_get(server, path: str):
    client = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    client.request("GET", path)
    response = client.getresponse()
    return response.status, response.getheader("Content-Type"), response.read()


def test_join_welcome_and_notices(chat):
    server = chat()
    alice = Member(server, "alice")
    welcome = alice.next()
    assert isinstance(welcome.pop("resume"), str)
    assert welcome == {"type": "welcome", "room": "lobby", "nick": "alice",
                       "members": ["alice"], "history": [], "worker": os.getpid()}
    bob = Member(server, "bob")
    assert bob.next()["members"] == ["alice", "bob"]
    joined = alice.next()
    assert (joined["type"], joined["nick"], joined["room"]) == ("joined", "bob", "lobby")
    bob.connection.close()
    left = alice.next()
    assert (left["type"], left["nick"]) == ("left", "bob")


def test_messages_reach_the_room_only(chat):
    server = chat()
    alice, bob, carol = Member(server, "alice"), Member(server, "bob"), Member(server, "carol", "other")
    for member in (alice, bob, carol):
        member.next("welcome")
    alice.send(type="message", text="hi <b>all</b>")
    for member in (alice, bob):
        event = member.next("message")
        assert (event["nick"], event["text"], event["room"]) == ("alice", "hi <b>all</b>", "lobby")
        assert isinstance(event["id"], int) and isinstance(event["time"], float)
    carol.send(type="message", text="elsewhere")
    assert carol.next("message")["text"] == "elsewhere"
    alice.send(type="message", text="second")
    assert bob.next("message")["text"] == "second"      # bob never saw "elsewhere"


def test_history_for_newcomers(chat):
    server = chat(history=3)
    alice = Member(server, "alice")
    alice.next("welcome")
    for i in range(5):
        alice.send(type="message", text=f"m{i}")
        alice.next("message")
    bob = Member(server, "bob")
    assert [m["text"] for m in bob.next("welcome")["history"]] == ["m2", "m3", "m4"]


def test_nicknames(chat):
    server = chat()
    alice = Member(server, "alice")
    alice.next("welcome")
    impostor = Member(server, "alice")
    assert "taken" in impostor.next("error")["error"]
    impostor.send(type="join", room="lobby", nick="bob")
    assert impostor.next("welcome")["nick"] == "bob"
    impostor.send(type="nick", nick="robert")
    renamed = alice.next("renamed")
    assert (renamed["old"], renamed["nick"]) == ("bob", "robert")
    impostor.send(type="nick", nick="alice")
    assert "taken" in impostor.next("error")["error"]


@pytest.mark.parametrize("raw, error", [
    ("not json", "messages must be JSON objects"),
    ("[1, 2]", "messages must be JSON objects"),
    ('{"type": "shout"}', "unknown message type 'shout'"),
    ('{"type": "message", "text": "hi"}', "join a room first"),
    ('{"type": "join", "room": "no spaces", "nick": "x"}',
     "room names are 1-32 letters, digits, '.', '_' or '-'"),
    ('{"type": "join", "room": "lobby", "nick": ""}', "nicknames are 1-32 printable characters"),
    ('{"type": "join", "room": "lobby", "nick": "' + "n" * 33 + '"}',
     "nicknames are 1-32 printable characters"),
])
def test_bad_input_gets_an_error_and_the_connection_stays(chat, raw, error):
    server = chat()
    member = Member(server, "")
    member.connection.send(raw)
    assert member.next("error")["error"] == error
    member.send(type="join", room="lobby", nick="ok")
    assert member.next("welcome")["nick"] == "ok"


def test_binary_and_oversized_messages(chat):
    server = chat(max_text=10)
    member = Member(server, "alice")
    member.next("welcome")
    member.connection.send(b"\x00")
    assert "binary" in member.next("error")["error"]
    member.send(type="message", text="x" * 11)
    assert member.next("error")["error"] == "messages are at most 10 characters"


def test_wrong_path_or_protocol_is_404(chat):
    server = chat()
    for path, protocols in (("/other", ["chat"]), ("/ws", ["echo"]), ("/ws", None)):
        with pytest.raises(WebSocketHandshakeError) as info:
            connect(f"ws://127.0.0.1:{server.port}{path}", protocols)
        assert info.value.response.status == 404


def test_page_static_files_and_health(chat):
    server = chat()
    status, kind, body = http_get(server, "/")
    assert status == 200 and kind.startswith("text/html") and b"<html" in body.lower()
    for name, expected in (("chat.js", "javascript"), ("chat.css", "text/css")):
        status, kind, _ = http_get(server, f"/static/{name}")
        assert status == 200 and expected in kind
    assert http_get(server, "/nope")[0] == 404
    alice = Member(server, "alice")
    alice.next("welcome")
    status, kind, body = http_get(server, "/healthz")
    assert status == 200 and kind == "application/json"
    assert json.loads(body) == {"status": "ok", "connections": 1, "rooms": 1, "backplane": "none"}


def test_graceful_stop_closes_with_1001(chat):
    server = chat()
    alice = Member(server, "alice")
    alice.next("welcome")
    server.stop(timeout=2)
    assert alice.connection.receive(timeout=5) is None
    assert (alice.connection.close_reason_code, alice.connection.close_description) == \
        (1001, "Server shutting down")


# ------------------------------------------------------------ backplane
@pytest.fixture
def joined_servers(chat, redis_server):  # noqa: F811
    """Two chat servers sharing their state in Redis: (first, second, planes)."""
    from wsframework.apps.chat.backplane import RedisBackplane
    first, second = chat(), chat()
    planes = []
    for server in (first, second):
        server.backplane = RedisBackplane(server.service, redis_server.url, secret="s3cret")
        server.backplane.start()
        planes.append(server.backplane)
    assert all(plane.wait_connected(True, timeout=10) for plane in planes)
    return first, second, planes


def test_backplane_joins_two_servers(joined_servers, redis_server):  # noqa: F811
    first, second, planes = joined_servers
    alice = Member(first, "alice")
    alice.next("welcome")
    # bob joins only once alice's join is stored: otherwise his may come first.
    bob = Member(second, "bob")
    assert bob.next("welcome")["members"] == ["alice", "bob"]
    alice.send(type="message", text="across processes")
    assert bob.next("message")["text"] == "across processes"
    assert json.loads(http_get(first, "/healthz")[2])["backplane"] == "up"
    # Redis goes away: /healthz and /readyz say so; a message waits for it.
    redis_server.stop()
    assert planes[0].wait_connected(False, timeout=10)
    status, _, body = http_get(first, "/healthz")
    assert status == 503 and json.loads(body)["status"] == "degraded"
    assert http_get(first, "/readyz")[0] == 503
    alice.send(type="message", text="while redis was away", client_id="m1")
    # ... and comes back: the backplanes reconnect by themselves, the
    # message is stored and acknowledged, and bob gets it.
    redis_server.start()
    assert all(plane.wait_connected(True, timeout=30) for plane in planes)
    assert alice.next("ack")["client_id"] == "m1"
    assert bob.next("message")["text"] == "while redis was away"
    alice.send(type="message", text="back again")
    assert bob.next("message")["text"] == "back again"


def test_forged_and_malformed_entries_are_skipped(joined_servers, redis_server):  # noqa: F811
    import redis
    first, second, planes = joined_servers
    alice, bob = Member(first, "alice"), Member(second, "bob")
    alice.next("welcome")
    bob.next("welcome")
    raw = redis.Redis.from_url(redis_server.url)
    stream = planes[0].key("lobby", "m")
    raw.publish("wsframework:chat:lobby", json.dumps({"origin": "x", "event": "boom"}))
    forged = {"type": "message", "room": "lobby", "nick": "admin", "text": "obey",
              "time": 1.0}
    raw.xadd(stream, {"e": json.dumps(forged)}, id=f"{(1 << 52) + 1}-0")   # no signature
    raw.xadd(stream, {"e": "{not json"}, id=f"{(1 << 52) + 2}-0")
    raw.xadd(stream, {"x": "y"}, id=f"{(1 << 52) + 3}-0")
    raw.xadd(planes[0].key("lobby", "p"), {"e": "[" * 5000})
    raw.hset(planes[0].key("lobby", "who"), "mallory", '|{"nick": "mallory"}')
    raw.close()
    alice.send(type="message", text="still delivered")
    for member in (alice, bob):
        assert member.next("message")["text"] == "still delivered"
    assert planes[0].rejected >= 4 and planes[1].rejected >= 4
    carol = Member(second, "carol")
    welcome = carol.next("welcome")
    assert welcome["members"] == ["alice", "bob", "carol"]          # no mallory
    assert [m["text"] for m in welcome["history"]] == ["still delivered"]
    assert all(plane.connected for plane in planes)


def test_a_dead_reader_is_down(joined_servers):
    first, second, planes = joined_servers
    planes[0]._greenlets[0].kill()
    status, _, body = http_get(first, "/healthz")
    assert status == 503 and json.loads(body)["backplane"] == "down"
    assert http_get(first, "/readyz")[0] == 503


# ------------------------------------------------------------ hostile clients
def test_rooms_are_bounded_oldest_empty_room_forgotten_first(chat):
    server = chat(max_rooms=2)
    alice = Member(server, "alice", room="a")
    alice.next("welcome")
    for room in ("a", "b"):
        if room != "a":
            alice.send(type="join", room=room, nick="alice")
            alice.next("welcome")
        alice.send(type="message", text=f"kept in {room}")
        alice.next("message")
    alice.send(type="join", room="c", nick="alice")    # a third room: "a" goes
    alice.next("welcome")
    assert sorted(server.service.store.rooms) == ["b", "c"]
    bob = Member(server, "bob", room="b")               # "b" kept its history
    assert [m["text"] for m in bob.next("welcome")["history"]] == ["kept in b"]
    bob.send(type="join", room="c", nick="bob")         # "b" is empty again
    bob.next("welcome")
    carol = Member(server, "carol", room="a")           # "b" goes, "a" starts afresh
    assert carol.next("welcome")["history"] == []
    assert sorted(server.service.store.rooms) == ["a", "c"]


def test_a_new_room_is_refused_when_every_room_has_members(chat):
    server = chat(max_rooms=1)
    alice = Member(server, "alice", room="a")
    alice.next("welcome")
    bob = Member(server, "bob", room="b")
    assert "too many rooms" in bob.next("error")["error"]
    bob.send(type="join", room="a", nick="bob")          # an existing room is fine
    assert bob.next("welcome")["members"] == ["alice", "bob"]


def test_slowloris_head_is_dropped_and_others_are_served(chat):
    server = chat(handshake_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the rest
        assert slow.recv(1024) == b""                   # dropped at the timeout
    alice = Member(server, "alice")
    assert alice.next("welcome")["nick"] == "alice"


def test_tls_handshake_of_the_chat_server_is_under_the_timeout(chat):
    import ssl

    import trustme
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = chat(ssl_context=context, handshake_timeout=0.3)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
        assert silent.recv(1) == b""                    # no ClientHello: dropped
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    member = connect(f"wss://localhost:{server.port}/ws", ["chat"], tls_options=client_context)
    member.send(json.dumps({"type": "join", "room": "lobby", "nick": "tls"}))
    assert json.loads(member.receive(timeout=5).data)["type"] == "welcome"


def test_backplane_series(joined_servers, redis_server):  # noqa: F811
    """/metrics' backplane series: up while Redis is, 0 once it is gone, and
    the lag of every event that crossed it."""
    from prometheus_client import CollectorRegistry

    from wsframework.apps.chat.metrics import ChatMetrics
    first, second, planes = joined_servers
    registry = CollectorRegistry()
    metrics = ChatMetrics(first, registry, interval=3600)    # sampled by hand below
    metrics.start()
    try:
        alice = Member(first, "alice")
        alice.next("welcome")
        bob = Member(second, "bob")
        bob.next("welcome")
        bob.send(type="message", text="across")
        assert alice.next("message")["text"] == "across"     # came to first through Redis
        metrics.sample()
        assert registry.get_sample_value("wsframework_chat_backplane_up") == 1
        assert registry.get_sample_value("wsframework_chat_backplane_lag_seconds_count") >= 1
        assert registry.get_sample_value("wsframework_chat_members") == 1    # alice, here
        redis_server.stop()
        assert planes[0].wait_connected(False, timeout=10)
        metrics.sample()
        assert registry.get_sample_value("wsframework_chat_backplane_up") == 0
    finally:
        metrics.stop()
        redis_server.start()


def test_the_metrics_port_holds_the_public_ports_http_limits(chat):
    """A client that connects to the metrics port and sends nothing is
    dropped after handshake_timeout, as on the public port (it was held for
    ever); an upgrade request there is a plain request, not a WebSocket."""
    from prometheus_client import CollectorRegistry
    server = chat(metrics=CollectorRegistry(), metrics_listener=("127.0.0.1", 0),
                  handshake_timeout=0.5)
    port = server.metrics_http.server_port
    idle = socket.create_connection(("127.0.0.1", port))
    idle.settimeout(30)
    assert idle.recv(100) == b""                        # dropped, not held
    idle.close()
    upgrade = socket.create_connection(("127.0.0.1", port))
    upgrade.settimeout(10)
    upgrade.sendall(handshake_request(path="/metrics"))
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = upgrade.recv(4096)
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ") and b"text/plain" in answer
    upgrade.close()
