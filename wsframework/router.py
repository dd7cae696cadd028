"""``WebSocketRouter``: dispatches a server's requests to handlers by path
and subprotocol, with the matching rules of WebSocket-Node (reference §7).

Beyond the original: string paths may hold parameters (``/rooms/{name}``),
which reach the handler as ``request.params``, and a route may require
query parameters (``query={"room": "lobby"}``).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, Pattern

from .connection import WebSocketConnection
from .events import EventEmitter
from .exceptions import WebSocketError
from .request import WebSocketRequest

__all__ = ["WebSocketRouter", "WebSocketRouterRequest"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_Query = Mapping[str, "str | Pattern[str]"]


def path_to_regexp(path: str | Pattern[str]) -> Pattern[str]:
    """The pattern a route's path matches: ``"*"`` anything, a string
    exactly (``{name}`` parts match one path segment), a compiled regex as
    given (searched, not anchored, as in Node)."""
    if isinstance(path, re.Pattern):
        return path
    if path == "*":
        return re.compile(r"^.*$")
    pattern = []
    position = 0
    for match in _PARAM.finditer(path):
        pattern.append(re.escape(path[position:match.start()]))
        pattern.append(f"(?P<{match.group(1)}>[^/]+)")
        position = match.end()
    pattern.append(re.escape(path[position:]))
    return re.compile("^" + "".join(pattern) + "$")


class _Handler:
    __slots__ = ("path", "pattern", "protocol", "callback", "query")

    def __init__(self, path, pattern, protocol, callback, query) -> None:
        self.path = path
        self.pattern = pattern
        self.protocol = protocol
        self.callback = callback
        self.query = query

    def matches_query(self, query: Mapping[str, Any]) -> bool:
        for name, wanted in self.query.items():
            value = query.get(name)
            if value is None:
                return False
            values = value if isinstance(value, list) else [value]
            if isinstance(wanted, re.Pattern):
                if not any(wanted.fullmatch(v) for v in values):
                    return False
            elif wanted != "*" and wanted not in values:
                return False
        return True


class WebSocketRouter(EventEmitter):
    """Routes the ``request`` events of a :class:`WebSocketServer`.

    ``mount(path, protocol, callback)``: ``path`` is a string (exact match
    of the URL path, ``{param}`` placeholders allowed), ``"*"`` or a
    compiled regex; ``protocol`` is matched case-insensitively, ``"*"``
    matches any request (even one with no subprotocol) and ``None`` only
    requests that asked for none.  Unmatched requests get 404.
    """

    def __init__(self, server: Any = None) -> None:
        super().__init__()
        self.handlers: list[_Handler] = []
        self.server = None
        if server is not None:
            self.attach_server(server)

    # ---------------------------------------------------------- attachment
    def attach_server(self, server: Any) -> None:
        """Handle the ``request`` events of ``server``."""
        if not server:
            raise ValueError("You must specify a WebSocketServer instance to attach to.")
        self.server = server
        server.on("request", self.handle_request)

    def detach_server(self) -> None:
        """Stop handling the attached server's requests."""
        if self.server is None:
            raise WebSocketError("Cannot detach from server: not attached.")
        self.server.off("request", self.handle_request)
        self.server = None

    # -------------------------------------------------------------- routes
    #: Node's ``pathToRegExp``: the module's function (see there).
    path_to_regexp = staticmethod(path_to_regexp)

    def _key(self, path: Any, protocol: str | None) -> tuple[Pattern[str], str | None]:
        """A route's compiled path and lowercased protocol, checked."""
        if not path:
            raise ValueError("You must specify a path for this handler.")
        if not isinstance(path, (str, re.Pattern)):
            raise TypeError("Path must be specified as either a string or a RegExp.")
        return path_to_regexp(path), protocol.lower() if protocol else None

    def find_handler_index(self, pattern: str, protocol: str | None,
                           query: _Query | None = None) -> int:
        """Index of the handler for this path pattern and protocol, or -1."""
        for index, handler in enumerate(self.handlers):
            if (handler.pattern.pattern == pattern and handler.protocol == protocol
                    and handler.query == dict(query or {})):
                return index
        return -1

    def mount(self, path: str | Pattern[str], protocol: str | None,
              callback: Callable[["WebSocketRouterRequest"], Any], *,
              query: _Query | None = None) -> None:
        """Route requests for ``path`` and ``protocol`` to ``callback``;
        ``query`` adds required query parameters (a value, ``"*"`` for any
        value, or a compiled regex that must match the whole value)."""
        compiled, protocol = self._key(path, protocol)
        if not callback:
            raise ValueError("You must specify a callback for this handler.")
        if self.find_handler_index(compiled.pattern, protocol, query) != -1:
            raise ValueError("You may only mount one handler per path/protocol combination.")
        self.handlers.append(_Handler(path, compiled, protocol, callback, dict(query or {})))

    def unmount(self, path: str | Pattern[str], protocol: str | None = None, *,
                query: _Query | None = None) -> None:
        """Remove the route mounted with the same path and protocol."""
        compiled, protocol = self._key(path, protocol)
        index = self.find_handler_index(compiled.pattern, protocol, query)
        if index == -1:
            raise ValueError("Unable to find a route matching the specified path and protocol.")
        del self.handlers[index]

    # ------------------------------------------------------------ dispatch
    def handle_request(self, request: WebSocketRequest) -> None:
        """Give ``request`` to the first matching route, or reject it (404).

        Candidates are tried in the client's order of protocols; for each,
        routes in mount order."""
        url = request.resource_url
        candidates = request.requested_protocols or [None]
        for candidate in candidates:
            for handler in self.handlers:
                if handler.protocol != candidate and handler.protocol != "*":
                    continue
                match = handler.pattern.search(url.pathname)
                if match is None or not handler.matches_query(url.query):
                    continue
                router_request = WebSocketRouterRequest(request, candidate, match.groupdict())
                handler.callback(router_request)
                return
        request.reject(404, "No handler is available for the given request.")


class WebSocketRouterRequest(EventEmitter):
    """What a route's callback receives: the request, narrowed to the
    matched protocol.  ``params`` holds the path parameters."""

    def __init__(self, websocket_request: WebSocketRequest, resolved_protocol: str | None,
                 params: dict[str, str] | None = None) -> None:
        super().__init__()
        self.websocket_request = websocket_request
        self.protocol = resolved_protocol
        self.params = params or {}
        self.origin = websocket_request.origin
        self.resource = websocket_request.resource
        self.resource_url = websocket_request.resource_url
        self.http_request = websocket_request.http_request
        self.remote_address = websocket_request.remote_address
        self.remote_addresses = websocket_request.remote_addresses
        self.websocket_version = websocket_request.websocket_version
        self.requested_extensions = websocket_request.requested_extensions
        self.cookies = websocket_request.cookies
        self.host = websocket_request.host

    def __repr__(self) -> str:
        return f"<WebSocketRouterRequest {self.resource} protocol={self.protocol!r}>"

    def accept(self, origin: str | None = None, cookies=None) -> WebSocketConnection:
        """Accept with the matched protocol; returns the connection."""
        connection = self.websocket_request.accept(self.protocol, origin, cookies)
        self.emit("request_accepted", connection)
        return connection

    def reject(self, status: int = 403, reason: str | None = None,
               extra_headers: Mapping[str, str] | None = None) -> None:
        """Refuse the request (see :meth:`WebSocketRequest.reject`)."""
        self.websocket_request.reject(status, reason, extra_headers)
        self.emit("request_rejected", self)
