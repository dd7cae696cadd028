"""The chat's guarantees, in-process over real sockets: recovery with
``since``, acknowledgements and resends with ``client_id``, nicknames
compared as people read them, hostile members; then the same across two
servers sharing a real redis-server (presence, nicknames and ids across
workers, a flushed Redis, a stopped worker's members leaving)."""

from __future__ import annotations

import json

import pytest

from wsframework import WebSocketHandshakeError, connect

from ..redis_server import redis_server  # noqa: F401  (fixture)
from .test_chat import Member, chat  # noqa: F401  (fixture)


def say(member: Member, text: str, client_id: str | None = None) -> int:
    """Send a message and return its id (from its ack, or its echo)."""
    if client_id is None:
        member.send(type="message", text=text)
        return member.next("message")["id"]
    member.send(type="message", text=text, client_id=client_id)
    return member.next("ack")["id"]


def rejoin(server, nick: str, since: int | None, room: str = "lobby") -> tuple[Member, dict]:
    member = Member(server, "")
    event = {"type": "join", "room": room, "nick": nick}
    if since is not None:
        event["since"] = since
    member.send(**event)
    return member, member.next("welcome")


# ------------------------------------------------------------ one process
def test_join_since_recovers_exactly_what_was_missed(chat):  # noqa: F811
    server = chat(history=5)
    alice, bob = Member(server, "alice"), Member(server, "bob")
    alice.next("welcome")
    bob.next("welcome")
    seen = say(alice, "m0")
    assert bob.next("message")["id"] == seen
    bob.connection.close()
    ids = [say(alice, f"m{i}") for i in range(1, 4)]
    assert ids == sorted(ids) and ids[0] > seen
    bob, welcome = rejoin(server, "bob", seen)
    assert welcome["recovered"] is True
    assert [(m["id"], m["text"]) for m in welcome["history"]] == \
        list(zip(ids, ["m1", "m2", "m3"]))
    # Up to date: nothing to send, still recovered.
    bob.connection.close()
    bob, welcome = rejoin(server, "bob", ids[-1])
    assert (welcome["history"], welcome["recovered"]) == ([], True)
    # Too far behind (trimmed): recovered false, the newest messages.
    bob.connection.close()
    more = [say(alice, f"n{i}") for i in range(6)]
    bob, welcome = rejoin(server, "bob", ids[-1])
    assert welcome["recovered"] is False
    assert [m["id"] for m in welcome["history"]] == more[-5:]
    # An id of another epoch (a restarted server): recovered false.
    bob.connection.close()
    bob, welcome = rejoin(server, "bob", 12345)
    assert welcome["recovered"] is False
    # Without since, the welcome is as it always was.
    bob.connection.close()
    bob, welcome = rejoin(server, "bob", None)
    assert "recovered" not in welcome


def test_client_id_is_acknowledged_and_a_resend_is_not_stored_twice(chat):  # noqa: F811
    server = chat()
    alice, bob = Member(server, "alice"), Member(server, "bob")
    alice.next("welcome")
    bob.next("welcome")
    alice.send(type="message", text="once", client_id="a-1")
    ack = alice.next("ack")
    event = bob.next("message")
    assert ack == {"type": "ack", "client_id": "a-1", "id": event["id"]}
    assert event["client_id"] == "a-1"
    alice.send(type="message", text="once", client_id="a-1")     # the ack was lost
    assert alice.next("ack") == ack
    alice.send(type="message", text="twice", client_id="a-2")
    assert bob.next("message")["text"] == "twice"                # not "once" again
    # The same client_id from another nick is another message.
    bob.send(type="message", text="mine", client_id="a-1")
    assert bob.next("ack")["id"] > ack["id"]
    carol = Member(server, "carol")
    assert [m["text"] for m in carol.next("welcome")["history"]] == ["once", "twice", "mine"]
    alice.send(type="message", text="x", client_id="")
    assert "client_id" in alice.next("error")["error"]


@pytest.mark.parametrize("second, refused", [
    ("Alice", "taken"), ("ALICE", "taken"), ("ａｌｉｃｅ", "taken"),
    ("alice\u200b", "zero-width"), ("al\u202eice", "bidi"),
    ("\u0430lice", "mix letters"),                  # a Cyrillic а among Latin letters
])
def test_nicknames_are_compared_as_people_read_them(chat, second, refused):  # noqa: F811
    server = chat()
    alice = Member(server, "alice")
    alice.next("welcome")
    other = Member(server, second)
    assert refused in other.next("error")["error"]


def test_whole_script_lookalikes_are_one_name(chat):  # noqa: F811
    server = chat()
    ace = Member(server, "ace")
    ace.next("welcome")
    cyrillic = Member(server, "\u0430\u0441\u0435")   # асе, all Cyrillic
    assert "taken" in cyrillic.next("error")["error"]
    greek = Member(server, "\u03b1\u03b2\u03b3")      # αβγ: Greek, and no Latin ace
    assert greek.next("welcome")["nick"] == "\u03b1\u03b2\u03b3"


def test_resume_takes_the_nickname_over_from_an_earlier_connection(chat):  # noqa: F811
    server = chat()
    alice = Member(server, "alice")
    token = alice.next("welcome")["resume"]
    thief = Member(server, "")
    thief.send(type="join", room="lobby", nick="alice", resume="a wrong token")
    assert "taken" in thief.next("error")["error"]
    again = Member(server, "")
    again.send(type="join", room="lobby", nick="alice", resume=token)
    welcome = again.next("welcome")
    assert (welcome["members"], welcome["resume"]) == (["alice"], token)
    while alice.connection.receive(timeout=5) is not None:
        pass
    assert alice.connection.close_reason_code == 4000
    say(again, "still alice")


def test_deep_json_gets_an_error_and_the_connection_lives(chat):  # noqa: F811
    server = chat()
    member = Member(server, "alice")
    member.next("welcome")
    member.connection.send("[" * 1000)
    assert member.next("error")["error"] == "messages must be JSON objects"
    member.connection.send('{"type": "message", "text": ' + "[" * 100000 + "]" * 100000 + "}")
    assert member.next("error")["error"] == "messages must be JSON objects"
    assert say(member, "still here") > 0


@pytest.mark.expect_errors(r"failed to handle a message; closing \(1011\)")
def test_a_failure_handling_a_message_closes_that_connection_with_1011(
        chat, monkeypatch):  # noqa: F811
    server = chat()
    victim, other = Member(server, "victim"), Member(server, "other")
    victim.next("welcome")
    other.next("welcome")

    def broken(*args):
        raise KeyError("a bug")

    monkeypatch.setattr(server.service, "_rename", broken)
    victim.send(type="nick", nick="x")
    while victim.connection.receive(timeout=5) is not None:
        pass
    assert victim.connection.close_reason_code == 1011
    assert other.next("left")["nick"] == "victim"
    assert server.service.member_count == 1
    assert len(server.websockets.connections) == 1


def test_messages_are_rate_limited_per_connection(chat):  # noqa: F811
    server = chat(rate=1.0, burst=3)
    member = Member(server, "alice")                # the join is the first of 3
    member.next("welcome")
    for i in range(3):
        member.send(type="message", text=f"m{i}")
    assert member.next("message")["text"] == "m0"
    assert member.next("message")["text"] == "m1"
    assert member.next() == {"type": "error", "error": "too many messages; slow down"}


def test_history_is_bounded_in_bytes(chat):  # noqa: F811
    server = chat(history=50, history_bytes=4096, max_text=4000, burst=50)
    alice = Member(server, "alice")
    alice.next("welcome")
    for i in range(5):
        say(alice, f"{i}" + "\U0001F600" * 500)       # ~2 KB each in UTF-8
    bob = Member(server, "bob")
    history = bob.next("welcome")["history"]
    assert [m["text"][0] for m in history] == ["4"]
    assert sum(len(json.dumps(m, ensure_ascii=False).encode()) for m in history) <= 4096


def test_the_socket_checks_the_origin(chat):  # noqa: F811
    server = chat(allowed_origins=["https://chat.example.com"])
    url = f"ws://127.0.0.1:{server.port}/ws"
    with pytest.raises(WebSocketHandshakeError) as info:
        connect(url, ["chat"], origin="https://evil.example")
    assert info.value.response.status == 403
    for origin in (f"http://127.0.0.1:{server.port}", "https://chat.example.com", None):
        connect(url, ["chat"], origin=origin).close()


# ------------------------------------------------------------ across servers
@pytest.fixture
def cluster(chat, redis_server):  # noqa: F811
    """``start(**settings)``: a chat server joined to the others by Redis."""
    from wsframework.apps.chat.backplane import RedisBackplane

    def start(presence_ttl: float = 15.0, **kwargs):
        server = chat(**kwargs)
        server.backplane = RedisBackplane(server.service, redis_server.url, secret="k",
                                          presence_ttl=presence_ttl)
        server.backplane.start()
        assert server.backplane.wait_connected(True, timeout=10)
        return server

    return start


def test_presence_nicknames_and_ids_across_servers(cluster):
    first, second = cluster(), cluster()
    alice = Member(first, "alice")
    alice.next("welcome")
    bob = Member(second, "bob")
    assert bob.next("welcome")["members"] == ["alice", "bob"]
    assert alice.next("joined")["nick"] == "bob"
    impostor = Member(second, "Alice")
    assert "taken" in impostor.next("error")["error"]
    bob.send(type="nick", nick="robert")
    assert (alice.next("renamed")["nick"], bob.next("renamed")["old"]) == ("robert", "bob")
    watchers = [Member(first, "w1"), Member(second, "w2")]
    for watcher in watchers:
        watcher.next("welcome")
    ids = []
    for i in range(6):
        ids.append(say(alice if i % 2 else bob, f"m{i}", client_id=f"c{i}"))
    assert ids == sorted(set(ids))                              # unique, in order
    for watcher in watchers:
        assert [watcher.next("message")["id"] for _ in ids] == ids
    bob.connection.close()
    assert alice.next("left")["nick"] == "robert"
    carol, welcome = rejoin(first, "carol", ids[2])
    assert welcome["recovered"] is True
    assert [m["id"] for m in welcome["history"]] == ids[3:]


def test_a_third_server_started_late_has_the_history(cluster):
    first = cluster()
    alice = Member(first, "alice")
    alice.next("welcome")
    ids = [say(alice, f"m{i}") for i in range(4)]
    late = cluster()
    bob = Member(late, "bob")
    assert [m["id"] for m in bob.next("welcome")["history"]] == ids


def test_a_flushed_redis_is_not_mistaken_for_nothing_new(cluster, redis_server):  # noqa: F811
    import redis
    first = cluster()
    alice = Member(first, "alice")
    alice.next("welcome")
    seen = say(alice, "before")
    raw = redis.Redis.from_url(redis_server.url)
    raw.flushall()
    raw.close()
    after = say(alice, "after the flush")
    assert after > seen
    bob, welcome = rejoin(first, "bob", seen)
    assert welcome["recovered"] is False
    assert [m["text"] for m in welcome["history"]] == ["after the flush"]


def test_a_stopped_servers_members_leave_everywhere(cluster):
    first, second = cluster(presence_ttl=1.5), cluster(presence_ttl=1.5)
    alice = Member(first, "alice")
    alice.next("welcome")
    ghost = Member(second, "ghost")
    ghost.next("welcome")
    assert alice.next("joined")["nick"] == "ghost"
    # The second server stops talking to Redis without a word (as kill -9
    # would): no leave, no more heartbeats.
    second.backplane.close()
    second.backplane.leave = lambda *args: None
    assert alice.next("left")["nick"] == "ghost"     # swept after the TTL
    bob = Member(first, "ghost")                      # the name is free again
    assert bob.next("welcome")["members"] == ["alice", "ghost"]


def test_a_client_of_a_dead_server_resumes_its_nickname_at_once(cluster):
    first, second = cluster(), cluster()
    alice = Member(first, "alice")
    alice.next("welcome")
    ghost = Member(second, "ghost")
    token = ghost.next("welcome")["resume"]
    second.backplane.close()                          # dead, as far as Redis knows
    second.backplane.leave = lambda *args: None
    impostor = Member(first, "ghost")
    assert "taken" in impostor.next("error")["error"]
    back = Member(first, "")
    back.send(type="join", room="lobby", nick="ghost", resume=token)
    assert back.next("welcome")["members"] == ["alice", "ghost"]
