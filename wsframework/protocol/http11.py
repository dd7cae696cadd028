"""The HTTP/1.1 part of the opening handshake: reading a request or
response head and writing the status lines.

Header lines are split in one pass when every line is a plain
``Name: value`` (the usual head); anything else (folded lines, a line
without a colon, stray CR or LF, more than 100 headers) is given to the
standard library's parser (``http.client.parse_headers``, an ``email``
parser that limits line length and header count), whose answer is the
reference: the fast path gives the same pairs for the heads it takes.
"""

from __future__ import annotations

import http.client
import io
import re
from http import HTTPStatus
from typing import Any, Iterable

from ..exceptions import HandshakeError
from .streams import BufferedReader

__all__ = [
    "HttpRequest", "HttpResponse", "Headers", "read_head", "parse_request",
    "parse_response", "status_text", "clean_field_value", "check_field_name",
    "unfold", "MAX_HEAD_SIZE", "SEPARATORS", "invalid_token_char", "is_token",
]

#: Largest request or response head (request line and headers) accepted.
MAX_HEAD_SIZE = 16384

#: HTTP separators (RFC 2616 §2.2): not allowed in a token.
SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')
# Any character but a token one (0x21-0x7E less the separators): one C
# search instead of a Python loop over the characters.
_NOT_TOKEN_CHAR = re.compile("[^" + re.escape("".join(
    chr(code) for code in range(0x21, 0x7F) if chr(code) not in SEPARATORS)) + "]")


def invalid_token_char(value: str) -> str | None:
    """The first character of ``value`` not allowed in an HTTP token
    (outside 0x21-0x7E or a separator), or None when every one is: the one
    token check of the package, so every header agrees on what a token is."""
    match = _NOT_TOKEN_CHAR.search(value)
    return None if match is None else match.group()


def is_token(value: str) -> bool:
    """Whether ``value`` is an HTTP token (RFC 9110 §5.6.2): non-empty, and
    only token characters."""
    return bool(value) and invalid_token_char(value) is None


class Headers:
    """HTTP headers: ordered, case-insensitive, several values per name.

    A light read-only view (a list of pairs) of what the standard library's
    parser produced, kept for the life of a request instead of the parser's
    heavier ``email`` message object.  ``headers[name]`` and ``get`` give
    the first value (None when absent), ``get_all`` every value.
    """

    __slots__ = ("_list", "_raw", "_first", "_repeated")

    def __init__(self, items: Iterable[tuple[str, str]] = (), *,
                 raw: bytes | None = None) -> None:
        self._list: list[tuple[str, str]] | None = [
            (str(name), str(value)) for name, value in items]
        self._raw = raw
        self._first: dict[str, str] | None = None
        self._repeated: dict[str, list[str]] | None = None

    @property
    def _items(self) -> list[tuple[str, str]]:
        items = self._list
        if items is None:                   # compacted: parse the head again
            items = self._list = _parse_headers(self._raw)._list
        return items

    def _index(self) -> dict[str, str]:
        """The first value of each header by lowercased name (and, when a
        name is repeated, every value of each name), built on the first
        lookup: a handshake looks up a dozen names, and one pass over the
        head beats a scan (lowering every name) per lookup."""
        first = self._first
        if first is None:
            items = self._items
            # Reversed, so that the first of repeated names is the one kept.
            first = {key.lower(): value for key, value in reversed(items)}
            if len(first) != len(items):
                repeated: dict[str, list[str]] = {}
                for key, value in items:
                    repeated.setdefault(key.lower(), []).append(value)
                self._repeated = repeated
            self._first = first
        return first

    def compact(self) -> None:
        """Forget the parsed pairs if the raw header lines are kept (they
        are parsed again when next needed), and the lookup index: an
        accepted request then holds one bytes object instead of a list of
        strings while its connection lives."""
        self._first = self._repeated = None
        if self._raw is not None:
            self._list = None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name``, or ``default``."""
        first = self._first
        if first is None:
            first = self._index()
        return first.get(name.lower(), default)

    def get_all(self, name: str, default: list | None = None) -> list[str] | None:
        """Every value of header ``name``, in order, or ``default``."""
        first = self._first
        if first is None:
            first = self._index()
        name = name.lower()
        value = first.get(name)
        if value is None:
            return default
        repeated = self._repeated
        if repeated is None:                # no name repeated: one value
            return [value]
        return list(repeated[name])

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def keys(self) -> list[str]:
        """The header names, in order, as received (repeated ones repeated)."""
        return [key for key, _ in self._items]

    def values(self) -> list[str]:
        """The header values, in order."""
        return [value for _, value in self._items]

    def items(self) -> list[tuple[str, str]]:
        """The (name, value) pairs, in order."""
        return list(self._items)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"

# WebSocket-Node's status table (reference §3.2), including its odd texts.
_NODE_STATUS_TEXTS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
    203: "Non-Authoritative Information", 204: "No Content", 205: "Reset Content",
    206: "Partial Content", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Found", 303: "See Other", 304: "Not Modified", 305: "Use Proxy",
    307: "Temporary Redirect", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    406: "Not Acceptable", 407: "Proxy Authorization Required",
    408: "Request Timeout", 409: "Conflict", 410: "Gone", 411: "Length Required",
    412: "Precondition Failed", 413: "Request Entity Too Long",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Requested Range Not Satisfiable", 417: "Expectation Failed",
    426: "Upgrade Required", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}

# Control characters (C0 but TAB, DEL, C1): not allowed in a field value.
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_REQUEST_LINE = re.compile(rb"([A-Za-z]+) (\S+) HTTP/(\d+)\.(\d+)\Z")
_STATUS_LINE = re.compile(rb"HTTP/(\d+)\.(\d+) (\d{3})(?: (.*))?\Z")


def status_text(status: int) -> str:
    """The reason phrase for ``status`` (WebSocket-Node's texts first)."""
    text = _NODE_STATUS_TEXTS.get(status)
    if text is None:
        try:
            text = HTTPStatus(status).phrase
        except ValueError:
            text = "Unknown"
    return text


def clean_field_value(value: object) -> str:
    """``value`` as a str fit for a header field value (RFC 9110 §5.5):
    control characters removed (CR and LF, as Node removes them, and every
    other one but TAB: NUL, VT, FF, DEL, NEL...), so text from anywhere (a
    reject reason, an echoed ``Origin``) can neither inject a header nor
    carry a character that a peer's parser may take as a line end."""
    value = str(value)
    if value.isascii() and value.isprintable():     # no control character at all
        return value
    return _CONTROLS.sub("", value)


def check_field_name(name: object) -> str:
    """``name`` as a str if it is a valid header field name (an RFC 9110
    token); else :class:`ValueError` saying why.  Names are never repaired:
    a name holding CR LF and a second header is a bug in the caller (or an
    attack through it), not text to clean."""
    name = str(name)
    char = invalid_token_char(name)
    if char is not None or not name:
        why = f"illegal character {char!r}" if name else "it is empty"
        raise ValueError(f"Invalid header name {name!r}: {why} (a header name is a token).")
    return name


class HttpRequest:
    """A parsed request head: ``method``, ``path`` (alias ``url``, the raw
    request target), ``http_version`` ("1.1") and case-insensitive
    ``headers``."""

    __slots__ = ("method", "path", "http_version", "headers")

    def __init__(self, method: str, path: str, http_version: str, headers: Headers) -> None:
        self.method = method
        self.path = path
        self.http_version = http_version
        self.headers = headers

    @property
    def url(self) -> str:
        """The request target (Node's ``httpRequest.url``); same as ``path``."""
        return self.path

    def __repr__(self) -> str:
        return f"<HttpRequest {self.method} {self.path} HTTP/{self.http_version}>"


class HttpResponse:
    """A parsed response head: ``status``, ``reason``, ``http_version`` and
    case-insensitive ``headers``; ``status_code``/``status_message`` are
    aliases in Node's spelling."""

    __slots__ = ("status", "reason", "http_version", "headers", "body")

    def __init__(self, status: int, reason: str, http_version: str, headers: Headers) -> None:
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.body = b""

    @property
    def status_code(self) -> int:
        """``status``, in Node's spelling (``statusCode``)."""
        return self.status

    @property
    def status_message(self) -> str:
        """``reason``, in Node's spelling (``statusMessage``)."""
        return self.reason

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.reason}>"


def read_head(reader: BufferedReader, limit: int = MAX_HEAD_SIZE) -> bytes:
    """Read a head up to its blank line; leftover bytes stay in ``reader``.

    Raises :class:`HandshakeError` (431) when the head exceeds ``limit`` and
    :class:`EOFError` when the stream ends first.
    """
    try:
        return reader.read_until(b"\r\n\r\n", limit)
    except ValueError:
        raise HandshakeError("Request header fields too large.", 431) from None


# The head the one-pass parser takes: at most 99 lines (http.client refuses
# 100), each a token-ish name (the characters the email parser's header
# regex allows, colon excluded), a colon, optional blanks and a value with
# no CR or LF, then the blank line.  As in http.client (email's compat32
# policy), a value keeps its trailing blanks.
# The value may not start with a blank, so each line matches one way only
# (no backtracking between the blanks and the value on a head that fails).
_HEADER_BLOCK = re.compile(r"(?:[!-9;-~]+:[ \t]*(?:[^\r\n \t][^\r\n]*)?\r\n){0,99}\r\n")
_HEADER_PAIR = re.compile(r"([!-9;-~]+):[ \t]*((?:[^\r\n \t][^\r\n]*)?)\r\n")
# http.client's longest line; a head this long is left to it.
_MAX_LINE = 65536


def _split_header_items(text: str) -> list[tuple[str, str]] | None:
    """The pairs of the usual head, by string methods alone: its only blank
    line is its end, CR and LF come only as CR LF line ends, at most 99
    lines, each a plain ``Name: value``.  None when any of that does not
    hold (the head may still be plain: the regular expressions decide).

    The regular expressions test each character against a class in
    Python's matcher, which costs more than the whole of this on the heads
    every client sends; the pairs are the same for every head taken here."""
    end = len(text) - 4
    if text.find("\r\n\r\n") != end or end <= 0:
        return None
    lines = text[:end].split("\r\n")
    if len(lines) > 99:
        return None
    joined = "".join(lines)                 # a CR or LF left is not a line end
    if "\r" in joined or "\n" in joined:
        return None
    items = []
    names = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not name or not colon:
            return None
        names.append(name)
        items.append((name, value.lstrip(" \t")))
    # A name is token-ish: 0x21-0x7E (the colon cannot be in it).
    names = "".join(names)
    if not (names.isascii() and names.isprintable()) or " " in names:
        return None
    return items


def _fast_header_items(lines: bytes) -> list[tuple[str, str]] | None:
    """The (name, value) pairs of a head whose every line is a plain
    ``Name: value``, up to the blank line: string methods for the usual
    head (see _split_header_items), else two regular-expression passes,
    no Python loop over the lines.  None for anything else."""
    if len(lines) >= _MAX_LINE:
        return None
    text = lines.decode("latin-1")
    items = _split_header_items(text)
    if items is None:
        block = _HEADER_BLOCK.match(text)
        if block is None:
            return None
        items = _HEADER_PAIR.findall(text, 0, block.end())
    if not text.isascii():
        items = [(name, _utf8_if_valid(value)) for name, value in items]
    return items


def _parse_headers(lines: bytes) -> Headers:
    items = _fast_header_items(lines)
    if items is not None:
        headers = Headers.__new__(Headers)
        headers._list = items               # already str: kept uncopied
        headers._raw = lines
        headers._first = headers._repeated = None
        return headers
    try:
        message = http.client.parse_headers(io.BytesIO(lines))
    except http.client.LineTooLong:
        raise HandshakeError("Request header fields too large.", 431) from None
    except http.client.HTTPException as exc:
        raise HandshakeError(f"Malformed HTTP headers: {exc}.", 431) from None
    if message.defects:
        raise HandshakeError("Malformed HTTP headers.", 400)
    return Headers([(name, _utf8_if_valid(unfold(value))) for name, value in message.items()],
                   raw=lines)


_OBS_FOLD = re.compile(r"\r?\n[ \t]*")


def unfold(value: str) -> str:
    """A value continued on the next line (obsolete line folding) made one
    line: each fold becomes a space (RFC 9112 §5.2), so no CR or LF reaches
    a header value (and from there a log line or a response)."""
    if "\n" in value or "\r" in value:
        return _OBS_FOLD.sub(" ", value).replace("\r", " ")
    return value


def _utf8_if_valid(value: str) -> str:
    """A header value read as Latin-1 (as HTTP has it), read again as UTF-8
    when its bytes are valid UTF-8: heads are written in UTF-8 (a reject
    reason in any language), so what we send reads back the same."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


# The usual method and version strings, shared by every request that keeps
# them (a request may live as long as its connection).
_METHODS = {b"GET": "GET"}
_VERSIONS = {"1.1": "1.1", "1.0": "1.0"}


def parse_request(head: bytes) -> HttpRequest:
    """Parse a request head; :class:`HandshakeError` (400) if malformed."""
    line, _, rest = head.partition(b"\r\n")
    match = _REQUEST_LINE.match(line)
    if match is None:
        raise HandshakeError("Malformed HTTP request line.", 400)
    method, target, major, minor = match.groups()
    headers = _parse_headers(rest)
    if major == b"1" and minor == b"1":
        version = "1.1"
    else:
        version = f"{int(major)}.{int(minor)}"
        version = _VERSIONS.get(version, version)
    return HttpRequest(_METHODS.get(method) or method.decode("ascii"), target.decode("latin-1"),
                       version, headers)


def parse_response(head: bytes) -> HttpResponse:
    """Parse a response head; :class:`ValueError` if malformed."""
    line, _, rest = head.partition(b"\r\n")
    match = _STATUS_LINE.match(line)
    if match is None:
        raise ValueError(f"malformed HTTP status line {line[:80]!r}")
    major, minor, status, reason = match.groups()
    try:
        headers = _parse_headers(rest)
    except HandshakeError as exc:
        raise ValueError(str(exc)) from None
    return HttpResponse(int(status), (reason or b"").decode("latin-1"),
                        f"{int(major)}.{int(minor)}", headers)


def serialize_head(first_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """A head: the first line, ``Name: value`` lines, and the blank line."""
    lines = [first_line]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")
