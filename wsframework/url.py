"""``ResourceURL``: a request target split into path and query, shaped
like the ``url.parse(resource, true)`` object WebSocket-Node exposes."""

from __future__ import annotations

from urllib.parse import SplitResult, parse_qs, urlsplit

__all__ = ["ResourceURL"]


class ResourceURL:
    """A parsed request target.  ``pathname`` (alias ``path_name``) is the
    path, ``query`` a dict (a list for a repeated key), ``search`` the raw
    ``?...`` part, ``path`` path plus search, ``href`` the whole target."""

    __slots__ = ("href", "pathname", "search", "query", "hash")

    def __init__(self, resource: str) -> None:
        try:
            parts = urlsplit(resource)
        except ValueError:
            # An authority urlsplit refuses ("//[", a bad IP literal): read
            # the whole target as path, query and fragment instead.
            rest, _, fragment = resource.partition("#")
            path, _, query = rest.partition("?")
            parts = SplitResult("", "", path, query, fragment)
        self.href = resource
        self.pathname = parts.path or "/"
        self.search = f"?{parts.query}" if parts.query else ""
        self.hash = f"#{parts.fragment}" if parts.fragment else ""
        query: dict[str, str | list[str]] = {}
        for key, values in parse_qs(parts.query, keep_blank_values=True).items():
            query[key] = values[0] if len(values) == 1 else values
        self.query = query

    @property
    def path(self) -> str:
        """``pathname`` plus ``search``."""
        return self.pathname + self.search

    def __repr__(self) -> str:
        return f"<ResourceURL {self.href!r}>"
