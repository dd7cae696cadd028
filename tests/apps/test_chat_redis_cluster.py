"""The chat on a real Redis Cluster of three local nodes
(``redis-server --cluster-enabled yes`` + ``redis-cli --cluster create``):
two chat servers, rooms spread over the nodes' hash slots, presence,
messages and recovery across them."""

from __future__ import annotations

import shutil

import gevent
import pytest
from gevent import subprocess

from ..redis_server import RedisServer, free_port
from .test_chat import Member, chat  # noqa: F401  (fixture)
from .test_chat_recovery import rejoin, say


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free as well."""
    import socket
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@pytest.fixture
def redis_cluster(tmp_path):
    nodes = []
    try:
        for number in range(3):
            folder = tmp_path / f"node{number}"
            folder.mkdir()
            node = RedisServer(None, cluster_port(), "--cluster-enabled", "yes", "--cluster-config-file",
                               str(folder / "nodes.conf"), "--dir", str(folder))
            node.start()
            nodes.append(node)
        cli = shutil.which("redis-cli")
        assert cli, "redis-cli is missing: run scripts/test.sh, which installs redis-server"
        subprocess.run([cli, "--cluster", "create",
                        *(f"127.0.0.1:{node.port}" for node in nodes),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=30)
        # The nodes agree on the slots through their cluster bus: no event
        # to wait for, so ask each (bounded) until it says ok.
        with gevent.Timeout(20, AssertionError("the cluster never became ok")):
            for node in nodes:
                while b"cluster_state:ok" not in subprocess.run(
                        [cli, "-p", str(node.port), "cluster", "info"],
                        capture_output=True, check=True).stdout:
                    gevent.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def test_the_chat_on_a_redis_cluster(redis_cluster, chat):  # noqa: F811
    # The cluster first: it is torn down last, after the chat servers.
    from redis.cluster import RedisCluster

    from wsframework.apps.chat.backplane import RedisBackplane
    url = f"redis://127.0.0.1:{redis_cluster[0].port}/0"
    servers = []
    for _ in range(2):
        server = chat()
        server.backplane = RedisBackplane(server.service, url, secret="k", cluster=True)
        server.backplane.start()
        assert server.backplane.wait_connected(True, timeout=10)
        servers.append(server)
    first, second = servers
    # Rooms whose keys live on different nodes.
    probe = RedisCluster.from_url(url)
    rooms = [f"room{n}" for n in range(12)]
    owners = {probe.get_node_from_key(first.backplane.key(room, "m")).port for room in rooms}
    assert len(owners) == 3
    for room in rooms:
        assert len({probe.keyslot(first.backplane.key(room, kind))
                    for kind in ("m", "meta", "p", "who", "alive")}) == 1
    probe.close()
    for room in rooms[:6]:
        alice = Member(first, "alice", room)
        alice.next("welcome")
        bob = Member(second, "bob", room)
        assert bob.next("welcome")["members"] == ["alice", "bob"]
        assert alice.next("joined")["nick"] == "bob"
        impostor = Member(first, "BOB", room)
        assert "taken" in impostor.next("error")["error"]
        seen = say(alice, f"hello {room}", client_id="1")
        assert bob.next("message")["id"] == seen
        bob.connection.close()
        assert alice.next("left")["nick"] == "bob"
        later = [say(alice, f"m{i}", client_id=f"m{i}") for i in range(3)]
        bob, welcome = rejoin(second, "bob", seen, room)
        assert welcome["recovered"] is True
        assert [m["id"] for m in welcome["history"]] == later
        alice.send(type="message", text="live", client_id="live")
        assert bob.next("message")["text"] == "live"
