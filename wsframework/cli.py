"""The ``wsframework`` command line (``python -m wsframework``).

Subcommands: ``echo`` runs an echo server (for trying clients, the
Autobahn|Testsuite and benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Sequence

__all__ = ["main"]

logger = logging.getLogger("wsframework.cli")


def _echo_handler(request) -> None:
    protocols = request.requested_protocols
    connection = request.accept(protocols[0] if protocols else None, request.origin)
    for message in connection:
        connection.send(message.data)


def _run_echo(args: argparse.Namespace) -> int:
    import gevent

    from .server import WebSocketServer

    server = WebSocketServer.listen(
        (args.host, args.port),
        max_received_frame_size=args.max_size,
        max_received_message_size=args.max_size,
    )
    server.on("request", _echo_handler)
    server.start()
    logger.warning("echo server listening on ws://%s:%d/", args.host, server.port)
    stop = gevent.event.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop.set)
    stop.wait()
    logger.warning("shutting down")
    server.stop(timeout=5)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsframework", description=__doc__.split("\n")[0])
    parser.add_argument("--log-level", default="WARNING",
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)
    echo = commands.add_parser("echo", help="run an echo server")
    echo.add_argument("--host", default="127.0.0.1")
    echo.add_argument("--port", type=int, default=8080)
    echo.add_argument("--max-size", type=int, default=16 * 1024 * 1024,
                      help="largest frame and message accepted, in bytes")
    echo.set_defaults(run=_run_echo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from gevent import monkey
    monkey.patch_all()
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
