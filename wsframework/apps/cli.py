"""The ``wsframework`` command line (``python -m wsframework``).

Subcommands:

* ``serve`` — the chat server with its web page (embedded defaults:
  127.0.0.1:8080, no config file, no Redis); ``--workers N`` forks N
  processes sharing the port (SO_REUSEPORT), joined by Redis.
* ``client URL`` — an interactive terminal client (``/ping``, ``/close``).
* ``bots URL`` — a swarm of chat bots with live progress: the load tool.
* ``echo`` — an echo server (for clients, the Autobahn|Testsuite, benchmarks).

Every ``serve`` flag has a key in the TOML file given with ``--config``;
flags override the file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import ssl
import sys
from typing import Any, Sequence

from .settings import SettingsError, load_file, merge, validate

__all__ = ["main"]

logger = logging.getLogger("wsframework.cli")


# ---------------------------------------------------------------- echo
def _echo_handler(request) -> None:
    """Blocking style: the request's greenlet reads the connection."""
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:
        connection.send(message.data)


def _echo_events_handler(request) -> None:
    """Event style: a ``message`` listener; the idle connection parks."""
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    connection.on("message", lambda message: connection.send(message.data))


def _run_echo(args: argparse.Namespace) -> int:
    from ..server import WebSocketServer

    _logging(args.log_level or "WARNING")
    server = WebSocketServer.listen(
        (args.host, args.port),
        max_received_frame_size=args.max_size,
        max_received_message_size=args.max_size,
    )
    server.on("request", _echo_events_handler if args.events else _echo_handler)
    stop = _stop_signals()
    server.start()
    logger.warning("echo server listening on ws://%s:%d/", args.host, server.port)
    stop.get()
    logger.warning("shutting down")
    server.stop(timeout=5)
    return 0


# ---------------------------------------------------------------- serve
def _flag_settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The settings given as flags (those left out stay unset)."""
    mapping = {
        ("server", "host"): args.host, ("server", "port"): args.port,
        ("server", "unix_socket"): args.unix,
        ("server", "workers"): args.workers, ("server", "certfile"): args.certfile,
        ("server", "keyfile"): args.keyfile, ("server", "log_level"): args.log_level,
        ("chat", "history"): args.history, ("chat", "max_text"): args.max_text,
        ("chat", "max_rooms"): args.max_rooms,
        ("redis", "url"): args.redis,
        ("server", "log_format"): args.log_format, ("server", "metrics"): args.metrics,
        ("server", "metrics_port"): args.metrics_port,
        ("server", "metrics_host"): args.metrics_host,
        ("server", "drain_period"): args.drain_period,
        ("server", "max_connections_per_ip"): args.max_connections_per_ip,
        ("redis", "secret"): args.redis_secret,
    }
    settings: dict[str, dict[str, Any]] = {}
    for (section, key), value in mapping.items():
        if value is not None:
            settings.setdefault(section, {})[key] = value
    return settings


def load_settings(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Defaults, the ``--config`` file, then the flags; checked."""
    layers = []
    if args.config:
        layers.append(validate(load_file(args.config), args.config))
    layers.append(validate(_flag_settings(args), "command line"))
    settings = merge(*layers)
    server = settings["server"]
    if server["workers"] > 1 and not settings["redis"]["url"]:
        raise SettingsError("server.workers above 1 needs redis.url: the workers share "
                            "rooms through Redis")
    if bool(server["certfile"]) != bool(server["keyfile"]):
        raise SettingsError("server.certfile and server.keyfile go together")
    if server["metrics_port"] is None:
        if server["metrics_host"] is not None:
            raise SettingsError("server.metrics_host needs server.metrics_port")
    else:
        if not server["metrics"]:
            raise SettingsError("server.metrics_port needs server.metrics (--metrics)")
        if server["metrics_port"] == 0 and server["workers"] > 1:
            raise SettingsError("server.metrics_port 0 cannot be shared by several workers")
        if (server["metrics_port"] == server["port"] != 0 and not server["unix_socket"]
                and (server["metrics_host"] or server["host"]) == server["host"]):
            raise SettingsError("server.metrics_port must differ from server.port")
    return settings


def _ssl_context(server: dict[str, Any]) -> ssl.SSLContext | None:
    if not server["certfile"]:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server["certfile"], server["keyfile"])
    return context


def _reuseport_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _metrics_where(server_settings: dict[str, Any]) -> tuple[str, int]:
    """The address of the separate /metrics listener (server.metrics_port)."""
    return (server_settings["metrics_host"] or server_settings["host"],
            server_settings["metrics_port"])


def _metrics_listener(server_settings: dict[str, Any], shared: bool) -> Any:
    """The separate /metrics listener, bound (SO_REUSEPORT when the
    workers share it); SettingsError names the key if it cannot be."""
    host, port = _metrics_where(server_settings)
    try:
        if shared:
            return _reuseport_listener(host, port)
        from gevent.server import StreamServer
        return StreamServer.get_listener((host, port), 1024, socket.AF_INET6 if ":" in host
                                         else socket.AF_INET)
    except OSError as exc:
        raise SettingsError(f"server.metrics_port: cannot listen on {host}:{port}: "
                            f"{exc.strerror or exc}") from None


def _build_server(settings: dict[str, dict[str, Any]], listener: Any = None):
    """The chat server of one process, bound; SettingsError says what is
    wrong with the certificate or the address."""
    from .chat.app import ChatServer

    server_settings = settings["server"]
    metrics_listener = None
    if server_settings["metrics_port"] is not None and settings["websocket"].get("metrics"):
        metrics_listener = _metrics_listener(server_settings, server_settings["workers"] > 1)
    try:
        context = _ssl_context(server_settings)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"server.certfile/server.keyfile: cannot load "
                            f"{server_settings['certfile']}: {exc.strerror or exc}") from None
    try:
        if listener is None and server_settings["unix_socket"]:
            from ..unix import unix_listener
            listener = unix_listener(_where(server_settings), 1024)
        chat = settings["chat"]
        websocket = dict(settings["websocket"])
        websocket.setdefault("max_connections_per_ip",
                             server_settings["max_connections_per_ip"] or None)
        return ChatServer(server_settings["host"], server_settings["port"],
                          history=chat["history"], history_bytes=chat["history_bytes"],
                          max_text=chat["max_text"], max_rooms=chat["max_rooms"],
                          rate=chat["rate"], burst=chat["burst"],
                          resend_window=chat["resend_window"],
                          allowed_origins=chat["allowed_origins"],
                          ssl_context=context, listener=listener,
                          metrics_listener=metrics_listener, **websocket)
    except OSError as exc:
        raise SettingsError(f"cannot listen on {_where(server_settings)}: "
                            f"{exc.strerror or exc}") from None


def _check_metrics(settings: dict[str, dict[str, Any]]) -> None:
    """server.metrics needs prometheus_client; several workers share one
    directory of values (prometheus_client's multiprocess mode), set up
    before anything imports it."""
    from ..metrics import INSTALL_HINT, MULTIPROC_ENV
    if settings["server"]["workers"] > 1 and not os.environ.get(MULTIPROC_ENV):
        # Before the first import of prometheus_client, which reads it.
        import atexit
        import shutil
        import tempfile
        folder = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="wsframework-metrics-")
        parent = os.getpid()
        atexit.register(lambda: os.getpid() == parent and shutil.rmtree(folder, True))
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise SettingsError(f"server.metrics: {INSTALL_HINT}") from None
    settings["websocket"]["metrics"] = True


def _where(server_settings: dict[str, Any]) -> str:
    """Where the chat listens, as the log and errors say it."""
    if server_settings["unix_socket"]:
        return f"unix:{server_settings['unix_socket']}"
    return f"{server_settings['host']}:{server_settings['port']}"


def _serve_one(settings: dict[str, dict[str, Any]], chat: Any) -> int:
    """Run one chat server process until SIGINT/SIGTERM."""
    stop = _stop_signals()
    server_settings = settings["server"]
    if settings["redis"]["url"]:
        from .chat.backplane import RedisBackplane
        redis = settings["redis"]
        chat.backplane = RedisBackplane(chat.service, redis["url"],
                                        prefix=redis["channel_prefix"], secret=redis["secret"],
                                        presence_ttl=settings["chat"]["presence_ttl"],
                                        cluster=redis["cluster"])
        chat.backplane.start()
    chat.start()
    scheme = "https" if server_settings["certfile"] else "http"
    if server_settings["unix_socket"]:
        logger.info("chat server on %s (%s, pid %d)", _where(server_settings), scheme,
                    os.getpid())
    else:
        logger.info("chat server on %s://%s:%d/ (pid %d)", scheme, server_settings["host"],
                    chat.port, os.getpid())
    if chat.metrics_http is not None:
        logger.info("metrics on http://%s:%d/metrics (pid %d)",
                    _metrics_where(server_settings)[0], chat.metrics_http.server_port,
                    os.getpid())
    signum = stop.get()
    # SIGTERM (a deploy, Kubernetes): drain, spreading the clients'
    # reconnections over drain_period; SIGINT (Ctrl-C): close at once.
    period = server_settings["drain_period"] if signum == signal.SIGTERM else 0.0
    logger.info("shutting down: closing %d connections with 1001 over %.1f s",
                len(chat.websockets.connections), period)
    chat.drain(period)
    chat.stop(timeout=5)
    if server_settings["workers"] == 1:
        _remove_unix_socket(server_settings)
    return 0


def _remove_unix_socket(server_settings: dict[str, Any]) -> None:
    """The socket file of ``--unix`` goes with the server (the workers'
    supervisor removes it once they have all stopped)."""
    if server_settings["unix_socket"]:
        from ..unix import remove_socket_path
        remove_socket_path(server_settings["unix_socket"])


def _run_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args)
        _logging(settings["server"]["log_level"], settings["server"]["log_format"])
        if settings["server"]["metrics"]:
            _check_metrics(settings)
        workers = settings["server"]["workers"]
        host, port = settings["server"]["host"], settings["server"]["port"]
        shared = None
        if workers == 1:
            chat = _build_server(settings)
        elif settings["server"]["unix_socket"]:
            # One Unix socket, bound before the fork: the workers share it.
            from ..unix import unix_listener
            chat = None
            if settings["server"]["metrics_port"] is not None:
                _metrics_listener(settings["server"], shared=True).close()
            shared = unix_listener(_where(settings["server"]), 1024)
        elif port == 0:
            raise SettingsError("server.port 0 cannot be shared by several workers")
        else:
            # The address and certificate are usable: fork.  (Checked without
            # metrics: this process serves none, and must not count as a live
            # worker in the shared gauges.)
            check = {**settings, "websocket": {**settings["websocket"], "metrics": False}}
            _build_server(check, _reuseport_listener(host, port)).http.close()
            if settings["server"]["metrics_port"] is not None:
                _metrics_listener(settings["server"], shared=True).close()
            chat = None
    except SettingsError as exc:
        print(f"wsframework serve: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"wsframework serve: cannot listen on {_where(settings['server'])}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    if chat is not None:
        return _serve_one(settings, chat)
    return _supervise(settings, workers, host, port, shared)


def _supervise(settings: dict, workers: int, host: str, port: int, shared: Any = None) -> int:
    """Fork the workers (each binds the port with SO_REUSEPORT), pass
    SIGINT/SIGTERM on, and wait for them."""
    import gevent

    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            try:
                listener = shared if shared is not None else _reuseport_listener(host, port)
                code = _serve_one(settings, _build_server(settings, listener))
            except SettingsError as exc:
                print(f"wsframework serve: {exc}", file=sys.stderr)
                code = 2
            except BaseException:
                logger.exception("worker failed")
                code = 1
            os._exit(code)
        children.append(pid)
    logger.info("%d workers on %s: %s", workers, _where(settings["server"]), children)

    def forward(signum: int) -> None:
        # The same signal: SIGTERM drains, SIGINT closes at once (Ctrl-C
        # reaches the workers too, as the process group's; a second SIGINT
        # changes nothing).
        for child in children:
            try:
                os.kill(child, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, forward, signum)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or (os.waitstatus_to_exitcode(code) != 0)
        _forget_metrics_of(child)
    _remove_unix_socket(settings["server"])
    return status


def _forget_metrics_of(pid: int) -> None:
    """A worker is gone: its live gauges leave the sums of /metrics."""
    from ..metrics import MULTIPROC_ENV
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


# ---------------------------------------------------------------- client, bots
def _run_client(args: argparse.Namespace) -> int:
    from .console import run

    _logging(args.log_level or "WARNING")
    return run(args.url, args.protocol or [], origin=args.origin)


def _run_bots(args: argparse.Namespace) -> int:
    from .bots import main

    _logging(args.log_level or "WARNING")
    return main(args.url, args.count, args.rate, args.duration, args.rooms,
                verify=args.verify, ramp=args.ramp)


# ---------------------------------------------------------------- helpers
def _stop_signals() -> Any:
    """An AsyncResult set to SIGINT or SIGTERM when one arrives (installed
    before the server says it listens, so no signal finds it unprepared)."""
    import gevent
    from gevent.event import AsyncResult

    stop = AsyncResult()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set, signum)
    return stop


def _logging(level: str, log_format: str = "text") -> None:
    if log_format == "json":
        from .logformat import JsonFormatter
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
        return
    logging.basicConfig(level=level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsframework", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the chat server and its web page")
    serve.add_argument("--config", metavar="FILE", help="TOML settings (see conf/chat.toml)")
    serve.add_argument("--host", help="address to listen on [server.host]")
    serve.add_argument("--port", type=int, help="port to listen on [server.port]")
    serve.add_argument("--unix", metavar="PATH",
                       help="Unix domain socket to listen on instead [server.unix_socket]")
    serve.add_argument("--workers", type=int, help="processes sharing the port [server.workers]")
    serve.add_argument("--certfile", help="TLS certificate (PEM) [server.certfile]")
    serve.add_argument("--keyfile", help="TLS private key (PEM) [server.keyfile]")
    serve.add_argument("--log-level", help="DEBUG, INFO, WARNING... [server.log_level]")
    serve.add_argument("--log-format", choices=("text", "json"),
                       help="text, or json: one object per line [server.log_format]")
    serve.add_argument("--metrics", action="store_true", default=None,
                       help="Prometheus /metrics (wsframework[metrics]) [server.metrics]")
    serve.add_argument("--metrics-port", type=int, metavar="PORT",
                       help="serve /metrics on this port only, not on --port "
                            "[server.metrics_port]")
    serve.add_argument("--metrics-host", metavar="HOST",
                       help="address of --metrics-port (default: --host) "
                            "[server.metrics_host]")
    serve.add_argument("--drain-period", type=float, metavar="SECONDS",
                       help="SIGTERM closes connections spread over this long "
                            "[server.drain_period]")
    serve.add_argument("--history", type=int, help="messages kept per room [chat.history]")
    serve.add_argument("--max-text", type=int, help="longest message text [chat.max_text]")
    serve.add_argument("--max-rooms", type=int,
                       help="rooms kept, empty ones with history included [chat.max_rooms]")
    serve.add_argument("--redis", metavar="URL",
                       help="keep the chat's state in Redis, redis://... [redis.url]")
    serve.add_argument("--redis-secret", metavar="SECRET",
                       help="sign what the workers write to Redis [redis.secret]")
    serve.add_argument("--max-connections-per-ip", type=int, metavar="N",
                       help="connections one address may hold, 0: no limit "
                            "[server.max_connections_per_ip]")
    serve.set_defaults(run=_run_serve)

    client = commands.add_parser("client", help="an interactive terminal client (like wscat)")
    client.add_argument("url", help="ws:// or wss:// URL")
    client.add_argument("--protocol", "-p", action="append", help="subprotocol to request")
    client.add_argument("--origin", help="Origin header to send")
    client.add_argument("--log-level", default=None)
    client.set_defaults(run=_run_client)

    bots = commands.add_parser("bots", help="a swarm of chat bots: the chat's load tool")
    bots.add_argument("url", help="the chat's socket URL, e.g. ws://127.0.0.1:8080/ws")
    bots.add_argument("--count", type=_positive_int, default=10, help="bots (10)")
    bots.add_argument("--rate", type=float, default=10.0,
                      help="messages per second, all bots together (10)")
    bots.add_argument("--duration", type=float, default=10.0, help="seconds of talking (10)")
    bots.add_argument("--rooms", type=_positive_int, default=1, help="rooms to spread over (1)")
    bots.add_argument("--ramp", type=float, default=1.0,
                      help="seconds over which the bots connect (1)")
    bots.add_argument("--verify", action="store_true",
                      help="track ids and acknowledgements; report missing and duplicated "
                           "messages (exit 1 if any)")
    bots.add_argument("--log-level", default=None)
    bots.set_defaults(run=_run_bots)

    echo = commands.add_parser("echo", help="run an echo server")
    echo.add_argument("--host", default="127.0.0.1")
    echo.add_argument("--port", type=int, default=8080)
    echo.add_argument("--max-size", type=int, default=16 * 1024 * 1024,
                      help="largest frame and message accepted, in bytes")
    echo.add_argument("--log-level", default=None)
    echo.add_argument("--events", action="store_true",
                      help="echo from a message listener (event style) instead of a loop")
    echo.set_defaults(run=_run_echo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gevent import monkey
    monkey.patch_all()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
