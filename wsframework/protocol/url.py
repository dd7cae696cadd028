"""``ResourceURL``: a request target split into path and query, shaped
like the ``url.parse(resource, true)`` object WebSocket-Node exposes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

__all__ = ["ResourceURL"]


class ResourceURL:
    """A parsed request target.  ``pathname`` is the
    path, ``query`` a dict (a list for a repeated key), ``search`` the raw
    ``?...`` part, ``path`` path plus search, ``href`` the whole target."""

    __slots__ = ("href", "pathname", "search", "hash", "_query")

    def __init__(self, resource: str) -> None:
        if resource.startswith("/"):
            # Origin form, as every browser sends: split by hand, so that
            # "//evil/chat" is a path (as in Node) and not a host.
            rest, _, fragment = resource.partition("#")
            path, _, query = rest.partition("?")
        else:
            try:
                parts = urlsplit(resource)
                path, query, fragment = parts.path, parts.query, parts.fragment
            except ValueError:
                # An authority urlsplit refuses (a bad IP literal): read the
                # whole target as path, query and fragment instead.
                rest, _, fragment = resource.partition("#")
                path, _, query = rest.partition("?")
        self.href = resource
        self.pathname = path or "/"
        self.search = f"?{query}" if query else ""
        self.hash = f"#{fragment}" if fragment else ""
        self._query: dict[str, str | list[str]] | None = None

    @property
    def query(self) -> dict[str, str | list[str]]:
        """The query as a dict, parsed on first use (a repeated key gives a
        list of its values)."""
        if self._query is None:
            query: dict[str, str | list[str]] = {}
            for key, values in parse_qs(self.search[1:], keep_blank_values=True).items():
                query[key] = values[0] if len(values) == 1 else values
            self._query = query
        return self._query

    @property
    def path(self) -> str:
        """``pathname`` plus ``search``."""
        return self.pathname + self.search

    def __repr__(self) -> str:
        return f"<ResourceURL {self.href!r}>"
