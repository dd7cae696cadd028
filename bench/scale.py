"""Scale benchmark: N concurrent WebSocket connections held open, then one
broadcast to all of them (issue #7, "Scale and leaks").

    python bench/scale.py                      # 10,000 connections, 60 s hold
    python bench/scale.py --count 2000 --hold 10

Two processes on this machine:

* the **server** is this script run again with ``--serve`` as a subprocess:
  a ``WebSocketServer.listen`` server with keepalive pings every
  ``--keepalive`` seconds.  Every connection is event-style (no extra
  greenlet: the server's connection greenlet reads it).  ``/control`` is
  the benchmark's own connection: a JSON message on it asks for the
  server's counters or makes it call ``server.broadcast()``.
* the **clients** are ``wsframework.connect()`` connections in this
  process, one reader greenlet each, opened ``--concurrency`` at a time.
  They answer the server's pings (the library's automatic pong) and send
  their own every ``--ping-interval`` seconds.  If one source address does
  not have enough ephemeral ports for ``--count`` connections, the sockets
  are bound to 127.0.0.1 ... 127.0.0.N (``--sources``) and the handshake is
  done here with the library's handshake functions, since ``connect()``
  cannot choose the source address.

Both processes raise their ``RLIMIT_NOFILE`` soft limit to the hard limit.
The server's RSS is read from ``/proc/PID/status`` (VmRSS) with no
connection but the control one, and again with all of them.  Broadcast
latency is measured per connection from the moment the server starts
``broadcast()`` (CLOCK_MONOTONIC is shared by the processes of a Linux
machine) to the message handler of the client.

The verdict (``result OK``, exit status 0; else ``FAILED`` and 1) needs
every one of these checks: every connection opened and held to the end
(none closed early), the broadcast delivered to each, every client ping
answered, every server keepalive ping the clients saw answered back at the
server (and some seen, when the hold spans two keepalive intervals), every
connection closed cleanly, no ERROR logged by either process, and nothing
left on the server afterwards: no connection, pending request or
connection object, no more live greenlets than when idle.  Times and
memory are reported, never judged.

The report is also saved under ``--results`` (default ``bench/results``):
``scale-STAMP-COUNT.txt`` (what was printed) and ``scale-STAMP-COUNT.json``
(the figures, each check and the verdict).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from greenlet import greenlet  # noqa: E402

import wsframework  # noqa: E402
from wsframework import WebSocketConnection, WebSocketHandshakeError, WebSocketServer  # noqa: E402
from wsframework.config import client_config  # noqa: E402
from wsframework.protocol.extensions import parse_extension_header  # noqa: E402
from wsframework.protocol.handshake import (check_response, client_request, generate_key,  # noqa: E402
                                   non_101_message)
from wsframework.protocol.http11 import parse_response, read_head  # noqa: E402
from wsframework.protocol.permessage_deflate import client_accept, client_offer  # noqa: E402
from wsframework.protocol.streams import BufferedReader  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
BROADCAST_TAG = "B "
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
#: How long the end-of-run counters may take to settle (answers in flight,
#: connections the server is still closing) before they are judged.
SETTLE_SECONDS = 30.0


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class ErrorCount(logging.Handler):
    """Counts the ERROR (and worse) records logged in this process."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def count_errors() -> ErrorCount:
    """Count this process's ERROR records (``logging.basicConfig`` prints them)."""
    counter = ErrorCount()
    logging.getLogger().addHandler(counter)
    return counter


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS line")


# ====================================================================== server
def serve(args: argparse.Namespace) -> int:
    """The server process: prints ``READY PORT`` once listening."""
    raise_fd_limit()
    logging.basicConfig(level=logging.WARNING,
                        format="server %(levelname)s %(name)s: %(message)s")
    errors = count_errors()
    server = WebSocketServer.listen(
        (args.host, 0), keepalive=True, keepalive_interval=args.keepalive,
        keepalive_grace_period=max(10.0, 2 * args.keepalive),
        permessage_deflate=not args.no_deflate)
    pongs = [0]

    def count_pong(data: bytes) -> None:
        pongs[0] += 1

    def on_control(connection: WebSocketConnection, message) -> None:
        command = json.loads(message.data)
        if command["cmd"] == "stats":
            greenlets, connection_objects = _live_objects()
            reply = {"connections": len(server.connections),
                     "pending_requests": len(server.pending_requests),
                     "pongs": pongs[0], "greenlets": greenlets, "errors": errors.count,
                     "connection_objects": connection_objects}
        elif command["cmd"] == "broadcast":
            recipients = len(server.connections)
            started = time.monotonic()
            text = f"{BROADCAST_TAG}{started!r} "
            server.broadcast(text + "x" * max(0, args.size - len(text)))
            reply = {"started": started, "seconds": time.monotonic() - started,
                     "recipients": recipients}
        elif command["cmd"] == "trim":
            # Give freed heap pages back to the OS, to tell memory still in
            # use from memory glibc's malloc keeps for reuse.
            gc.collect()
            reply = {"trimmed": ctypes.CDLL(None).malloc_trim(0)}
        else:
            reply = {"error": f"unknown command {command['cmd']!r}"}
        connection.send(json.dumps(reply))

    def on_request(request) -> None:
        connection = request.accept(None, request.origin)
        if request.resource == "/control":
            connection.on("message", lambda message: on_control(connection, message))
        else:
            connection.on("pong", count_pong)

    server.on("request", on_request)
    server.start()
    print(f"READY {server.port}", flush=True)
    stop = Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    server.stop(timeout=5)
    return 0


def _live_objects() -> tuple[int, int]:
    """Greenlets not dead, and WebSocketConnection objects, in this process."""
    greenlets = connections = 0
    for obj in gc.get_objects():
        if isinstance(obj, greenlet):
            greenlets += not obj.dead
        elif isinstance(obj, WebSocketConnection):
            connections += 1
    return greenlets, connections


# ====================================================================== clients
class Clients:
    """The client side: the connections, what they saw, and the counters."""

    def __init__(self, args: argparse.Namespace, port: int, sources: list[str]) -> None:
        self.args = args
        self.url = f"ws://{args.host}:{port}/"
        self.port = port
        self.sources = sources
        self.config = client_config({"permessage_deflate": not args.no_deflate})
        self.connections: list[WebSocketConnection] = []
        self.failures: Counter[str] = Counter()
        self.closed_early: Counter[str] = Counter()
        self.closing = False
        self.close_times: list[float] = []
        self.server_pings = 0          # pings from the server (keepalive), seen by clients
        self.pings_sent = 0            # our pings
        self.pongs = 0                 # answers to them
        self.arrivals: list[float] = []
        self.latencies: list[float] = []
        self.all_delivered = Event()
        self.expected = 0

    # -- opening -----------------------------------------------------------
    def open_all(self) -> float:
        pool = Pool(self.args.concurrency)
        started = time.monotonic()
        reporter = gevent.spawn(self._report_opening, started)
        for index in range(self.args.count):
            pool.spawn(self._open, index)
        pool.join()
        reporter.kill()
        return time.monotonic() - started

    def _report_opening(self, started: float) -> None:
        while True:
            gevent.sleep(2.0)
            print(f"  t+{time.monotonic() - started:4.0f} s: {len(self.connections)} open, "
                  f"{sum(self.failures.values())} failed", flush=True)

    def _open(self, index: int) -> None:
        try:
            if len(self.sources) == 1:
                connection = wsframework.connect(self.url, **self._config_keys())
            else:
                connection = self._connect_from(self.sources[index % len(self.sources)])
        except (WebSocketHandshakeError, OSError, gevent.Timeout) as exc:
            self.failures[f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}"] += 1
            return
        connection.on("ping", self._on_ping)
        connection.on("pong", self._on_pong)
        connection.on("message", self._on_message)
        connection.on("close", self._on_close)
        self.connections.append(connection)

    def _config_keys(self) -> dict:
        return {"permessage_deflate": not self.args.no_deflate}

    def _connect_from(self, source: str) -> WebSocketConnection:
        """``connect()`` from a chosen source address, with the library's
        handshake functions (``connect()`` has no option for it)."""
        config = self.config
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # Let connect() pick the port for the 4-tuple, not bind().
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
            sock.settimeout(config["open_timeout"])
            sock.connect((self.args.host, self.port))
            key = generate_key()
            offer = client_offer(config) if config["permessage_deflate"] else None
            sock.sendall(client_request("/", f"{self.args.host}:{self.port}", key,
                                        extensions=offer))
            reader = BufferedReader(sock.recv_into)
            response = parse_response(read_head(reader, 65536))
            if response.status != 101:
                raise WebSocketHandshakeError(non_101_message(response), response)
            check_response(response, key, [], offered_extensions=bool(offer))
            values = response.headers.get_all("Sec-WebSocket-Extensions") or ()
            extensions = [client_accept(parse_extension_header(values), config)] \
                if offer and values else []
            sock.settimeout(None)
        except BaseException:
            sock.close()
            raise
        initial = reader.read_exact(reader.buffered) if reader.buffered else b""
        return WebSocketConnection(sock, extensions, None, True, config, initial_data=initial)

    # -- events ------------------------------------------------------------
    def _on_ping(self, cancel, data: bytes) -> None:
        self.server_pings += 1         # the automatic pong follows

    def _on_pong(self, data: bytes) -> None:
        self.pongs += 1

    def _on_message(self, message) -> None:
        now = time.monotonic()
        data = message.data
        if isinstance(data, str) and data.startswith(BROADCAST_TAG):
            started = float(data[len(BROADCAST_TAG):].split(" ", 1)[0])
            self.arrivals.append(now)
            self.latencies.append(now - started)
            if len(self.arrivals) >= self.expected:
                self.all_delivered.set()

    def _on_close(self, code: int, description: str | None) -> None:
        if not self.closing:
            self.closed_early[f"{code} {description}"] += 1
        else:
            self.close_times.append(time.monotonic())

    # -- pinging -----------------------------------------------------------
    def ping_forever(self, interval: float) -> None:
        """Ping every connection every ``interval`` s, spread over it."""
        while True:
            round_started = time.monotonic()
            connections = list(self.connections)
            step = interval / max(1, len(connections) // 100)
            for start in range(0, len(connections), 100):
                for connection in connections[start:start + 100]:
                    if connection.connected:
                        connection.ping(b"bench")
                        self.pings_sent += 1
                gevent.sleep(step)
            gevent.sleep(max(0.0, interval - (time.monotonic() - round_started)))

    def open_count(self) -> int:
        return sum(1 for connection in self.connections if connection.state == "open")


class Control:
    """The benchmark's own connection to the server (not counted)."""

    def __init__(self, url: str) -> None:
        self.connection = wsframework.connect(url + "control")

    def ask(self, command: str) -> dict:
        self.connection.send(json.dumps({"cmd": command}))
        while True:
            message = self.connection.receive(timeout=120)
            if message is None:
                raise RuntimeError("the control connection closed")
            if isinstance(message.data, str) and message.data.startswith("{"):
                return json.loads(message.data)


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(0, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[rank]


def choose_sources(count: int, wanted: int) -> list[str]:
    if wanted <= 0:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
            low, high = map(int, ports.read().split())
        usable = int((high - low + 1) * 0.8)     # leave room for TIME_WAIT and others
        wanted = max(1, math.ceil(count / usable))
    return [f"127.0.0.{n}" for n in range(1, wanted + 1)]


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


def settle(condition: Callable[[], bool], seconds: float = SETTLE_SECONDS,
           step: float = 0.1) -> bool:
    """Wait up to ``seconds`` for ``condition()`` to hold; whether it does."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        gevent.sleep(step)
    return True


class Tee(io.TextIOBase):
    """Writes to ``stream`` and keeps a copy (the saved report)."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING,
                        format="client %(levelname)s %(name)s: %(message)s")
    args.errors = count_errors()
    limit = raise_fd_limit()
    if limit < args.count + 100:
        print(f"RLIMIT_NOFILE hard limit is {limit}: {args.count} connections need "
              f"{args.count + 100} file descriptors in each process; raise it "
              f"(ulimit -Hn, /etc/security/limits.conf) or lower --count", file=sys.stderr)
        return 2
    sources = choose_sources(args.count, args.sources)
    if len(sources) > 1 and args.host != "127.0.0.1":
        print("--sources > 1 needs --host 127.0.0.1", file=sys.stderr)
        return 2
    command = [sys.executable, os.path.abspath(__file__), "--serve", "--host", args.host,
               "--keepalive", str(args.keepalive), "--size", str(args.size)]
    if args.no_deflate:
        command.append("--no-deflate")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if not line.startswith("READY "):
            print(f"the server did not start: {line!r}", file=sys.stderr)
            return 2
        port = int(line.split()[1])
        tee = Tee(sys.stdout)
        sys.stdout = tee
        try:
            status, summary = measure(args, process.pid, port, sources)
        finally:
            sys.stdout = tee.stream
        if args.results:
            save(args, tee.copy.getvalue(), summary)
        return status
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def save(args: argparse.Namespace, report: str, summary: dict) -> None:
    """The report and the summary into ``args.results``."""
    os.makedirs(args.results, exist_ok=True)
    stem = os.path.join(args.results, f"scale-{time.strftime('%Y%m%d-%H%M%S')}-{args.count}")
    with open(stem + ".txt", "w", encoding="utf-8") as out:
        out.write(report)
    with open(stem + ".json", "w", encoding="utf-8") as out:
        json.dump(summary, out, indent=1, sort_keys=True)
        out.write("\n")
    print(f"saved         {stem}.txt and .json")


def measure(args: argparse.Namespace, pid: int, port: int,
            sources: list[str]) -> tuple[int, dict]:
    clients = Clients(args, port, sources)
    control = Control(clients.url)
    base = control.ask("stats")
    rss_base = rss_kib(pid)
    how = ("wsframework.connect()" if len(sources) == 1 else
           f"WebSocketConnection over sockets bound to {sources[0]}..{sources[-1]}")
    print(f"server pid {pid} on port {port}; {args.count} clients: {how}, "
          f"{args.concurrency} at a time; server RSS {mib(rss_base)}", flush=True)

    ramp = clients.open_all()
    held = len(clients.connections)
    gevent.sleep(1.0)                  # let the last handshakes settle on the server
    rss_connected = rss_kib(pid)
    stats_connected = control.ask("stats")
    print(f"  {held} open in {ramp:.1f} s; server has {stats_connected['connections'] - 1}, "
          f"RSS {mib(rss_connected)}; holding {args.hold:.0f} s", flush=True)

    pinger = gevent.spawn(clients.ping_forever, args.ping_interval)
    hold_started = time.monotonic()
    while (remaining := args.hold - (time.monotonic() - hold_started)) > 0:
        gevent.sleep(min(10.0, remaining))
        stats = control.ask("stats")
        print(f"  t+{time.monotonic() - hold_started:4.0f} s: {clients.open_count()} open, "
              f"server {stats['connections'] - 1} connections, RSS {mib(rss_kib(pid))}, "
              f"server pings seen {clients.server_pings}, server pongs {stats['pongs']}, "
              f"client pings {clients.pings_sent}/{clients.pongs} answered", flush=True)
    pinger.kill()
    # The answers to the last pings in flight, both ways: each client ping
    # answered, and each server ping a client saw answered back at the server.
    settle(lambda: clients.pongs >= clients.pings_sent)
    server_pings_seen = clients.server_pings
    stats_held = control.ask("stats")

    def pongs_back() -> bool:
        stats_held.update(control.ask("stats"))
        return stats_held["pongs"] >= server_pings_seen

    settle(pongs_back, step=0.5)
    rss_held = rss_kib(pid)

    clients.expected = clients.open_count()
    triggered = time.monotonic()
    reply = control.ask("broadcast")
    delivered_all = clients.all_delivered.wait(60)
    last = max(clients.arrivals) if clients.arrivals else math.nan
    latencies = sorted(clients.latencies)
    gevent.sleep(1.0)
    rss_broadcast = rss_kib(pid)

    open_at_end = clients.open_count()
    stats_end = control.ask("stats")

    clients.closing = True
    close_started = time.monotonic()
    for connection in clients.connections:
        connection.close()
    with gevent.Timeout(60, False):
        for connection in clients.connections:
            connection.wait_closed()
    close_seconds = time.monotonic() - close_started
    clean = sum(1 for connection in clients.connections if connection.was_clean)
    unclean = Counter(f"{connection.close_reason_code} {connection.close_description}"
                      for connection in clients.connections if not connection.was_clean)
    close_waits = sorted(at - close_started for at in clients.close_times)
    # The server forgets each connection when its side has closed; its
    # greenlet ends right after.
    stats_closed = control.ask("stats")

    def all_gone() -> bool:
        stats_closed.update(control.ask("stats"))
        return stats_closed["connections"] == 1 and stats_closed["greenlets"] <= base["greenlets"]

    settle(all_gone, step=0.5)
    rss_closed = rss_kib(pid)
    control.ask("trim")                # gc.collect() and malloc_trim(0)
    rss_trimmed = rss_kib(pid)
    stats_closed = control.ask("stats")

    failed = sum(clients.failures.values())
    per_connection = (rss_connected - rss_base) / held if held else math.nan
    per_connection_end = (rss_broadcast - rss_base) / held if held else math.nan
    checks = {
        "all opened": failed == 0 and held == args.count,
        "all held to the end": (open_at_end == args.count and not clients.closed_early
                                and stats_end["connections"] - 1 == args.count),
        "broadcast reached all": delivered_all and len(latencies) == args.count,
        "client pings all answered": clients.pongs == clients.pings_sent,
        "server pings all answered": (
            stats_held["pongs"] >= server_pings_seen
            and (server_pings_seen > 0 or args.hold < 2 * args.keepalive)),
        "all closed cleanly": clean == held == args.count and not unclean,
        "no errors logged": stats_closed["errors"] == 0 and args.errors.count == 0,
        "nothing left on the server": (
            stats_closed["connections"] - 1 == 0 and stats_closed["pending_requests"] == 0
            and stats_closed["connection_objects"] - 1 == 0
            and stats_closed["greenlets"] <= base["greenlets"]),
    }
    ok = all(checks.values())
    print()
    print(f"== wsframework scale: {args.count} connections, hold {args.hold:g} s, "
          f"deflate {'off' if args.no_deflate else 'on'} ==")
    print(f"connections   {held} held, {failed} failed, of {args.count} "
          f"(opened in {ramp:.1f} s, {held / ramp:.0f}/s; "
          f"{len(sources)} source address{'es' if len(sources) > 1 else ''})")
    for failure, number in clients.failures.most_common(5):
        print(f"  failed      {number} x {failure}")
    print(f"server RSS    {mib(rss_base)} idle -> {mib(rss_connected)} with {held} connections: "
          f"{per_connection:.1f} KiB per connection; after the hold {mib(rss_held)}, "
          f"after the broadcast {mib(rss_broadcast)} ({per_connection_end:.1f} KiB per "
          f"connection)")
    print(f"pings         server keepalive (every {args.keepalive:g} s): "
          f"{server_pings_seen} seen by clients, {stats_held['pongs']} pongs back at the "
          f"server; client pings (every "
          f"{args.ping_interval:g} s): {clients.pings_sent} sent, {clients.pongs} answered")
    print(f"broadcast     {len(latencies)}/{reply['recipients'] - 1} delivered; trigger -> last "
          f"delivery {last - triggered:.3f} s; server.broadcast() call {reply['seconds']:.3f} s; "
          f"per connection p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000 if latencies else math.nan:.0f} ms")
    print(f"at the end    {open_at_end}/{args.count} client connections open, server has "
          f"{stats_end['connections'] - 1}; closed early: "
          f"{sum(clients.closed_early.values())}"
          + "".join(f"; {n} x {what}" for what, n in clients.closed_early.most_common(3)))
    print(f"close         {clean}/{held} closed cleanly (client close(), the server answers) "
          f"in {close_seconds:.1f} s: close event after p50 "
          f"{percentile(close_waits, 0.5):.2f} s, p99 {percentile(close_waits, 0.99):.2f} s"
          + "".join(f"; not clean: {n} x {what}" for what, n in unclean.most_common(3)))
    print(f"after close   server connections {stats_closed['connections'] - 1}, pending "
          f"requests {stats_closed['pending_requests']}, connection objects after gc.collect() "
          f"{stats_closed['connection_objects'] - 1}, live greenlets {stats_closed['greenlets']} "
          f"(idle: {base['greenlets']}); server RSS {mib(rss_closed)}, {mib(rss_trimmed)} after "
          f"gc.collect() and malloc_trim(0)")
    print(f"client        RSS {mib(rss_kib())} (this process)")
    print(f"errors        logged: server {stats_closed['errors']}, clients {args.errors.count}")
    for check, passed in checks.items():
        print(f"check         {'ok    ' if passed else 'FAILED'} {check}")
    print(f"result        {'OK' if ok else 'FAILED'}")
    summary = {
        "args": {key: value for key, value in vars(args).items()
                 if key not in ("serve", "errors", "results")},
        "errors_logged": {"server": stats_closed["errors"], "clients": args.errors.count},
        "sources": len(sources), "held": held, "failed": failed,
        "failures": dict(clients.failures), "open_at_end": open_at_end,
        "server_connections_at_end": stats_end["connections"] - 1,
        "closed_early": dict(clients.closed_early),
        "delivered": len(latencies), "delivered_all": delivered_all,
        "client_pings_sent": clients.pings_sent, "client_pongs": clients.pongs,
        "server_pings_seen": server_pings_seen, "server_pongs": stats_held["pongs"],
        "clean_closes": clean, "unclean": dict(unclean),
        "after_close": {"connections": stats_closed["connections"] - 1,
                        "pending_requests": stats_closed["pending_requests"],
                        "connection_objects": stats_closed["connection_objects"] - 1,
                        "greenlets": stats_closed["greenlets"],
                        "greenlets_idle": base["greenlets"]},
        "seconds": {"open": ramp, "broadcast_last": last - triggered,
                    "broadcast_call": reply["seconds"],
                    "latency_p50": percentile(latencies, 0.5),
                    "latency_p99": percentile(latencies, 0.99), "close": close_seconds},
        "rss_kib": {"idle": rss_base, "connected": rss_connected, "held": rss_held,
                    "broadcast": rss_broadcast, "closed": rss_closed, "trimmed": rss_trimmed},
        "checks": checks, "ok": ok,
    }
    return (0 if ok else 1), summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="connections (10000)")
    parser.add_argument("--hold", type=float, default=60.0,
                        help="seconds to hold them open before the broadcast (60)")
    parser.add_argument("--host", default="127.0.0.1", help="server address (127.0.0.1)")
    parser.add_argument("--keepalive", type=float, default=5.0,
                        help="server keepalive_interval: a ping after this many idle "
                             "seconds (5)")
    parser.add_argument("--ping-interval", type=float, default=15.0,
                        help="each client pings the server this often, seconds (15)")
    parser.add_argument("--concurrency", type=int, default=100,
                        help="handshakes in flight at once (100; the listen backlog is 128)")
    parser.add_argument("--sources", type=int, default=0,
                        help="source addresses 127.0.0.1..N (0: as many as the ephemeral "
                             "port range needs)")
    parser.add_argument("--size", type=int, default=64, help="broadcast message bytes (64)")
    parser.add_argument("--no-deflate", action="store_true",
                        help="turn permessage-deflate off (on by default, as in the library)")
    parser.add_argument("--results", default=RESULTS,
                        help="directory for the saved report and JSON summary "
                             "(bench/results; '' to save nothing)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return serve(args) if args.serve else run(args)


if __name__ == "__main__":
    sys.exit(main())
