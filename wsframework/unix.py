"""Unix domain sockets: the listening socket of
``WebSocketServer.listen("unix:/path")``, the client's connection to one, and
the ``ws+unix:`` URLs that name a socket and a resource together."""

from __future__ import annotations

import errno
import os
import stat
from urllib.parse import quote

from gevent import socket as gsocket

__all__ = ["UNIX_PREFIX", "unix_listener", "unix_connect", "split_unix_url", "unix_peer"]

UNIX_PREFIX = "unix:"
UNIX_SCHEMES = {"ws+unix": "ws", "wss+unix": "wss"}


def unix_listener(address: str, backlog: int) -> gsocket.socket:
    """A listening socket bound to ``"unix:/path"``.

    A socket file left by a server that is gone is replaced; one that a
    live server still answers on, or a file that is not a socket, is not.
    """
    if not address.startswith(UNIX_PREFIX) or len(address) == len(UNIX_PREFIX):
        raise ValueError(f"listen address {address!r}: a str address must be 'unix:/path'")
    path = address[len(UNIX_PREFIX):]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
        probe = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
        probe.settimeout(2.0)                     # a stopped server's full backlog
        try:
            probe.connect(path)
        except TimeoutError:
            raise OSError(errno.EADDRINUSE, f"a server holds {path} (it does not "
                                            "accept connections)") from None
        except OSError:
            os.unlink(path)                       # nobody listens: a stale file
        else:
            raise OSError(errno.EADDRINUSE, f"a server already listens on {path}")
        finally:
            probe.close()
    sock = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def remove_socket_file(sock) -> None:
    """Remove the file a listening Unix socket is bound to (at close)."""
    try:
        path = sock.getsockname()
    except OSError:
        return
    if isinstance(path, str) and path:
        remove_socket_path(path)


def remove_socket_path(path: str) -> None:
    """Remove ``path`` if it is a socket file (never a regular file)."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
    except OSError:
        pass


def unix_connect(path: str, timeout: float | None) -> gsocket.socket:
    """A stream socket connected to the Unix socket at ``path``."""
    sock = gsocket.socket(gsocket.AF_UNIX, gsocket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def split_unix_url(url: str) -> tuple[str, str, str] | None:
    """``ws+unix:/run/app.sock:/chat?x=1`` -> ("ws", "/run/app.sock", "/chat?x=1").

    The socket path ends at the first ``:``; the resource defaults to ``/``.
    Node's ``ws`` spelling with two more slashes (``ws+unix:///run/app.sock:/chat``)
    is the same.  None when ``url`` is not a ``ws+unix:``/``wss+unix:`` URL.
    """
    scheme, sep, rest = url.partition(":")
    plain = UNIX_SCHEMES.get(scheme.lower())
    if not sep or plain is None:
        return None
    if rest.startswith("///"):
        rest = rest[2:]
    path, _, resource = rest.partition(":")
    resource = resource.partition("#")[0]                 # a fragment is not sent
    if not resource:
        resource = "/"
    elif not resource.startswith("/"):
        resource = "/" + resource
    return plain, path, quote_target(resource)


def quote_target(resource: str) -> str:
    """``resource`` safe as an HTTP request target: spaces, control and
    non-ASCII characters percent-encoded (UTF-8), so nothing can break the
    request line or start a header; ``%``-escapes already there are kept."""
    return quote(resource, safe=_TARGET_SAFE)


# Every printable ASCII character but space: what a request target may hold.
_TARGET_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def unix_peer(sock) -> str:
    """The name a connection over a Unix socket goes by (its peer has none):
    ``unix:`` and the path the server listens on."""
    try:
        return UNIX_PREFIX + (sock.getsockname() or "")
    except OSError:
        return UNIX_PREFIX
