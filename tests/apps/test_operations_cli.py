"""Operating the chat server process: a draining SIGTERM, /readyz,
/metrics (one worker, and two workers scraped by a real Prometheus; on a
port of its own), and JSON log lines."""

from __future__ import annotations

import http.client
import json
import shutil
import signal

import gevent
from gevent import subprocess

from wsframework import connect

from ..proxies import ProxyProcess
from ..redis_server import free_port, redis_server  # noqa: F401  (fixture)
from .test_cli import join, serve  # noqa: F401  (fixture)


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_sigterm_drains_readyz_and_exits(serve):  # noqa: F811
    server = serve("--port", "0", "--drain-period", "3", "--max-connections-per-ip", "0")
    port = int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
    assert get(port, "/readyz")[0] == 200
    assert json.loads(get(port, "/healthz")[1])["status"] == "ok"
    members = [join(port, f"user{n}")[0] for n in range(300)]
    server.process.send_signal(signal.SIGTERM)
    server.wait_for(r"shutting down: closing 300 connections with 1001 over 3\.0 s")
    status, body = get(port, "/readyz")                   # the page still answers, not ready
    assert status == 503 and json.loads(body)["reason"] == "draining"
    assert get(port, "/healthz")[0] == 200                # alive, though
    for connection in members:
        while connection.receive(timeout=20) is not None:
            pass
        assert connection.close_reason_code == 1001
    assert server.stop() == 0


def test_json_logs(serve):  # noqa: F811
    server = serve("--port", "0", "--log-format", "json")
    line = server.wait_for(r'"message": "chat server on http://127\.0\.0\.1:(\d+)/')[0].string
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "wsframework.cli"
    assert isinstance(entry["pid"], int) and entry["time"].endswith("Z")
    assert server.stop(signal.SIGINT) == 0
    for line in server.lines:
        json.loads(line)                                  # every line is one object


def test_metrics_of_one_worker(serve):  # noqa: F811
    server = serve("--port", "0", "--metrics")
    port = int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
    members = [join(port, f"m{n}")[0] for n in range(3)]
    status, text = get(port, "/metrics")
    assert status == 200
    assert "wsframework_connections 3.0" in text
    assert 'wsframework_handshakes_total{outcome="accepted",status="101"} 3.0' in text
    assert "wsframework_chat_rooms 1.0" in text and "wsframework_chat_members 3.0" in text
    for connection in members:
        connection.close()
    assert server.stop(signal.SIGINT) == 0


def test_metrics_without_the_flag_are_not_served(serve):  # noqa: F811
    server = serve("--port", "0")
    port = int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
    assert get(port, "/metrics")[0] == 404
    assert server.stop(signal.SIGINT) == 0


def test_metrics_on_their_own_port_only(serve):  # noqa: F811
    server = serve("--port", "0", "--metrics", "--metrics-port", "0")
    port = int(server.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/")[0].group(1))
    metrics_port = int(server.wait_for(r"metrics on http://127\.0\.0\.1:(\d+)/metrics")[0]
                       .group(1))
    members = [join(port, f"m{n}")[0] for n in range(3)]
    assert get(port, "/metrics")[0] == 404                   # not on the public port
    assert get(port, "/healthz")[0] == 200 and get(port, "/readyz")[0] == 200
    status, text = get(metrics_port, "/metrics")
    assert status == 200
    assert "wsframework_connections 3.0" in text and "wsframework_chat_members 3.0" in text
    assert get(metrics_port, "/")[0] == 404                  # nor the page there
    assert get(metrics_port, "/healthz")[0] == 404
    for connection in members:
        connection.close()
    assert server.stop(signal.SIGINT) == 0


def test_two_workers_share_the_metrics_port(serve, redis_server):  # noqa: F811
    port, metrics_port = free_port(), free_port()
    server = serve("--port", str(port), "--workers", "2", "--redis", redis_server.url,
                   "--metrics", "--metrics-port", str(metrics_port))
    server.wait_for(r"metrics on http://127\.0\.0\.1:%d/metrics" % metrics_port, count=2)
    members, workers = [], set()
    for n in range(20):
        connection, welcome = join(port, f"w{n}")
        members.append(connection)
        workers.add(welcome["worker"])
    assert len(workers) == 2, "every connection went to one worker"
    assert get(port, "/metrics")[0] == 404
    # Whichever worker answers a scrape, it sums both.
    for _ in range(10):
        status, text = get(metrics_port, "/metrics")
        assert status == 200 and "wsframework_connections 20.0" in text
    for connection in members:
        connection.close()
    assert server.stop(signal.SIGTERM) == 0


def prometheus_query(port: int, query: str) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    from urllib.parse import urlencode
    conn.request("GET", "/api/v1/query?" + urlencode({"query": query}))
    body = json.loads(conn.getresponse().read())
    conn.close()
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_two_workers(serve, redis_server, tmp_path):  # noqa: F811
    assert shutil.which("prometheus"), "prometheus is missing: run scripts/test.sh"
    port = free_port()
    server = serve("--port", str(port), "--workers", "2", "--redis", redis_server.url,
                   "--metrics")
    server.wait_for(r"backplane up", count=2)
    # Connections on both workers (the kernel spreads them by SO_REUSEPORT).
    members, workers = [], set()
    for n in range(40):
        connection, welcome = join(port, f"p{n}")
        members.append(connection)
        workers.add(welcome["worker"])
    assert len(workers) == 2, "every connection went to one worker"
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: chat\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n")
    prometheus = ProxyProcess(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path}/data",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        "Server is ready to receive web requests", prom_port).start()
    try:
        # One scrape of either worker sums both: the count is the 40 opened.
        with gevent.Timeout(30, AssertionError("Prometheus never saw 40 connections")):
            while True:
                result = prometheus_query(prom_port, "wsframework_connections")
                if result and float(result[0]["value"][1]) == 40:
                    break
                gevent.sleep(0.5)                 # the next scrape, a second away
        members_now = prometheus_query(prom_port, "wsframework_chat_members")
        assert float(members_now[0]["value"][1]) >= 1
        up = prometheus_query(prom_port, 'up{job="chat"}')
        assert float(up[0]["value"][1]) == 1
    finally:
        prometheus.stop()
    for connection in members:
        connection.close()
    assert server.stop(signal.SIGTERM) == 0


def test_sigint_to_the_supervisor_closes_at_once_in_every_worker(serve, redis_server):  # noqa: F811
    """``kill -INT`` of a multi-worker serve is the quick stop in each
    worker, as Ctrl-C is, not the draining SIGTERM."""
    port = free_port()
    server = serve("--port", str(port), "--workers", "2", "--redis", redis_server.url,
                   "--drain-period", "600", "--max-connections-per-ip", "0")
    server.wait_for(r"chat server on http://127\.0\.0\.1:%d/" % port, count=2)
    members, workers = [], set()
    with gevent.Timeout(20, AssertionError("both workers did not take connections")):
        while len(workers) < 2:
            connection, welcome = join(port, f"q{len(members)}")
            members.append(connection)
            workers.add(welcome["worker"])
    server.process.send_signal(signal.SIGINT)       # the supervisor only
    server.wait_for(r"shutting down: closing \d+ connections with 1001 over 0\.0 s", count=2)
    for connection in members:
        while connection.receive(timeout=20) is not None:
            pass
        assert connection.close_reason_code == 1001
    assert server.stop() == 0
