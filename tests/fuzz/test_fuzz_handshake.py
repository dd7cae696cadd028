"""Property-based fuzz tests of the opening handshake without sockets: the
server reading a request (``http11.read_head`` / ``parse_request``,
``handshake.check_request``, ``WebSocketRequest.read_handshake`` with its
cookie, protocol, extension and X-Forwarded-For parsing, ``ResourceURL``)
and the client reading the response (``parse_response``,
``check_response`` and the client's check of ``Sec-WebSocket-Extensions``).

Properties: a request built by ``client_request`` — with any header case,
order and spacing, read in any chunks — parses back to the same fields; a
response built by ``accept_response`` passes the client's check and yields
the agreed subprotocol and extension; random and mutated heads only ever
raise the documented errors (``HandshakeError`` with a 4xx status or
``EOFError`` on the server; ``ValueError`` from ``parse_response`` and
``WebSocketHandshakeError`` from the checks on the client).
"""

from __future__ import annotations

import base64
import unicodedata
from urllib.parse import quote

from hypothesis import example, given
from hypothesis import strategies as st

from wsframework.client import _accept_extensions
from wsframework.config import client_config, server_config
from wsframework.exceptions import HandshakeError, WebSocketHandshakeError
from wsframework.protocol.extensions import format_extension, parse_extension_header
from wsframework.protocol.handshake import (accept_response, check_request, check_response,
                                   client_request, non_101_message, reject_response)
from wsframework.protocol.headers import SEPARATORS
from wsframework.protocol.http11 import parse_request, parse_response, read_head
from wsframework.protocol.permessage_deflate import client_offer, server_negotiate
from wsframework.request import WebSocketRequest
from wsframework.protocol.streams import BufferedReader
from wsframework.protocol.url import ResourceURL

from ..fuzzing import chunked, fuzz, mutated

PEER = "192.0.2.1"
TOKEN_CHARS = "".join(c for c in map(chr, range(0x21, 0x7F)) if c not in SEPARATORS)
# Strategies are built once here (Hypothesis draws faster from a strategy
# object it has already validated), and without st.from_regex (slow).
TOKENS = st.text(TOKEN_CHARS, min_size=1, max_size=12)
LOWER_TOKENS = TOKENS.map(str.lower)
TEXT = st.characters(codec="utf-8")
SHORT_TEXT = st.text(TEXT, max_size=8)
#: Header values: printable ASCII, no whitespace at either end (HTTP
#: parsers drop it).
VALUES = st.text("".join(map(chr, range(0x20, 0x7F))), min_size=1, max_size=20).map(
    str.strip).filter(bool)
_LABELS = st.text("abcxyz0189-", min_size=1, max_size=8).map(lambda t: t.strip("-") or "a")
HOSTS = st.builds(lambda labels, port: ".".join(labels) + ("" if port is None else f":{port}"),
                  st.lists(_LABELS, min_size=1, max_size=3), st.none() | st.integers(0, 65535))
ORIGINS = st.none() | HOSTS.map(lambda host: "http://" + host)
IPV4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
EXTRA_HEADERS = st.lists(st.tuples(TOKENS.map(lambda t: "X-" + t), VALUES), max_size=3,
                         unique_by=lambda pair: pair[0].lower())
KEYS = st.binary(min_size=16, max_size=16).map(lambda b: base64.b64encode(b).decode())
PROTOCOL_LISTS = st.lists(TOKENS, max_size=4, unique_by=str.lower)
EXTENSION_OFFERS = st.lists(st.tuples(
    LOWER_TOKENS, st.lists(st.tuples(LOWER_TOKENS, st.none() | TOKENS), max_size=3)),
    max_size=3)
COOKIES = st.lists(st.tuples(st.text(TOKEN_CHARS, min_size=1, max_size=8),
                             SHORT_TEXT), max_size=3)
_SEGMENTS = st.lists(st.text("abzAZ09-._~!$&'()*+,;=:@%", min_size=1, max_size=8), max_size=4)
VERSIONS = st.sampled_from([8, 13])
_CASE_FLIPS = st.integers(0, (1 << 40) - 1)
_SPACES = st.integers(0, 3)
_QUERY_PAIRS = st.lists(st.tuples(st.text(TEXT, min_size=1, max_size=6), SHORT_TEXT),
                        max_size=4)


# ------------------------------------------------------------ requests
@st.composite
def targets(draw) -> tuple[str, str, dict]:
    """(request target, its path, its query as ResourceURL gives it)."""
    path = "/" + "/".join(draw(_SEGMENTS))
    pairs = draw(_QUERY_PAIRS)
    if not pairs:
        return path, path, {}
    query: dict = {}
    for key, value in pairs:
        query.setdefault(key, []).append(value)
    query = {key: values[0] if len(values) == 1 else values for key, values in query.items()}
    search = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return f"{path}?{search}", path, query


@st.composite
def handshake_requests(draw) -> dict:
    """The parts of a valid handshake request."""
    target, path, query = draw(targets())
    return dict(
        target=target, path=path, query=query, host=draw(HOSTS), key=draw(KEYS),
        version=draw(VERSIONS), protocols=draw(PROTOCOL_LISTS), origin=draw(ORIGINS),
        extensions=draw(EXTENSION_OFFERS), cookies=draw(COOKIES),
        forwarded=draw(st.lists(IPV4, max_size=3)), extra=draw(EXTRA_HEADERS),
    )


def build_request(parts: dict) -> bytes:
    """The head ``client_request`` writes for ``parts``."""
    headers = list(parts["extra"])
    if parts["cookies"]:
        headers.append(("Cookie", "; ".join(f"{name}={quote(value, safe='')}"
                                             for name, value in parts["cookies"])))
    if parts["forwarded"]:
        headers.append(("X-Forwarded-For", ", ".join(parts["forwarded"])))
    offer = ", ".join(format_extension(name, params) for name, params in parts["extensions"])
    return client_request(parts["target"], parts["host"], parts["key"],
                          websocket_version=parts["version"], protocols=parts["protocols"],
                          origin=parts["origin"], headers=headers, extensions=offer or None)


@st.composite
def respelled(draw, head: bytes) -> bytes:
    """The same head with header names in random case, random spacing
    after the colon and the header lines in random order."""
    request_line, *lines = head[:-4].split(b"\r\n")
    new_lines = []
    for line in lines:
        name, _, value = line.partition(b": ")
        flips = draw(_CASE_FLIPS)          # bit i: swap the case of letter i
        name = bytes(c ^ 0x20 if flips >> i & 1 and chr(c).isalpha() else c
                     for i, c in enumerate(name))
        new_lines.append(name + b":" + b" " * draw(_SPACES) + value)
    new_lines = draw(st.permutations(new_lines))
    return b"\r\n".join([request_line, *new_lines]) + b"\r\n\r\n"


def drain(reader: BufferedReader) -> bytes:
    """Everything the reader still holds or will receive."""
    rest = reader.read_exact(reader.buffered)
    try:
        while True:
            rest += reader.read_some(65536)
    except EOFError:
        return rest


def read_request(head_and_more: bytes, chunks: list[bytes]):
    """What the server does with the bytes before any handler: read the
    head, parse it, check it, parse the WebSocket headers; returns the
    request and the reader, positioned after the head."""
    reader = BufferedReader.from_chunks(chunks) if chunks else BufferedReader.from_bytes(
        head_and_more)
    head = read_head(reader)
    http_request = parse_request(head)
    request = WebSocketRequest(None, http_request, server_config({}), peer_address=PEER)
    request.read_handshake()
    return request, reader


@fuzz(0.7)
@given(parts=handshake_requests(), data=st.data())
def test_a_built_request_parses_back_to_its_fields(parts, data):
    """Host, key, version, target (path and query), origin, subprotocols
    (lowercased, with the client's spelling kept), extension offers (both
    parsers), cookies (percent-decoded) and X-Forwarded-For all come back;
    the bytes after the head stay unread."""
    head = data.draw(respelled(build_request(parts)))
    trailing = data.draw(st.binary(max_size=20))
    request, reader = read_request(head + trailing, data.draw(chunked(head + trailing)))
    assert drain(reader) == trailing
    assert (request.host, request.key, request.websocket_version) == (
        parts["host"], parts["key"], parts["version"])
    assert check_request(request.http_request) == (parts["host"], parts["key"], parts["version"])
    assert request.http_request.method == "GET" and request.http_request.http_version == "1.1"
    assert request.resource == parts["target"]
    assert request.resource_url.pathname == parts["path"]
    assert request.resource_url.query == parts["query"]
    assert request.origin == parts["origin"]
    assert request.requested_protocols == [p.lower() for p in parts["protocols"]]
    assert request.protocol_full_case_map == {p.lower(): p for p in parts["protocols"]}
    assert request.requested_extensions == [
        {"name": name, "params": [{"name": key, "value": None if value is None
                                   else value.lower()} for key, value in params]}
        for name, params in parts["extensions"]]
    values = request.http_request.headers.get_all("Sec-WebSocket-Extensions") or ()
    assert parse_extension_header(values) == parts["extensions"]
    assert request.cookies == [{"name": name, "value": value}
                               for name, value in parts["cookies"]]
    assert request.remote_addresses == [*parts["forwarded"], PEER]
    for name, value in parts["extra"]:
        assert request.http_request.headers.get(name) == value


def read_request_safely(stream: bytes, chunks: list[bytes]) -> None:
    """``read_request`` plus the server's extension negotiation, allowing
    only the errors the server handles: EOFError, and HandshakeError with
    a 4xx status (answered to the client)."""
    try:
        request, _ = read_request(stream, chunks)
    except EOFError:
        return
    except HandshakeError as exc:
        assert exc.status in (400, 426, 431), exc.status
        assert str(exc)
        return
    values = request.http_request.headers.get_all("Sec-WebSocket-Extensions") or ()
    try:
        offers = parse_extension_header(values)
    except ValueError:
        return                          # the server ignores a malformed header
    server_negotiate(offers, server_config({}))


@fuzz()
@given(parts=handshake_requests(), data=st.data())
@example(parts=None, data=b"GET //[ HTTP/1.1\r\n\r\n").via("regression: bad IPv6 target")
def test_mutated_requests_raise_only_handshake_errors(parts, data):
    """Flipped, inserted, deleted bytes and truncation anywhere in a valid
    request (request line, header names, values, the blank line) are
    refused with HandshakeError or end in EOFError — nothing else."""
    if parts is None:
        read_request_safely(data, [data])
        return
    valid = build_request(parts)
    stream = data.draw(mutated(valid, max_mutations=3))
    read_request_safely(stream, data.draw(chunked(stream)))


@fuzz()
@given(request_line=st.one_of(
           st.builds("{} {} HTTP/{}.{}".format, st.sampled_from(["GET", "get", "POST", "G"]),
                     st.text(st.characters(max_codepoint=0xFF, exclude_characters=" \r\n"),
                             min_size=1, max_size=20),
                     st.integers(0, 12), st.integers(0, 12)),
           st.text(st.characters(max_codepoint=0xFF), max_size=30)),
       headers=st.lists(st.tuples(st.text(st.characters(max_codepoint=0xFF), max_size=12),
                                  st.text(st.characters(max_codepoint=0xFF), max_size=30)),
                        max_size=8))
def test_random_requests_raise_only_handshake_errors(request_line, headers):
    """Random request lines (any target, any version) and header lines of
    arbitrary Latin-1 text: HandshakeError or EOFError only."""
    lines = [request_line] + [f"{name}:{value}" for name, value in headers]
    stream = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    read_request_safely(stream, [stream])


@fuzz()
@given(target=st.text(TEXT, max_size=40) | st.text("/?#[]:@%&=abc", max_size=20))
@example(target="//[")
@example(target="ws://[::1/x?a=1")
def test_resource_url_takes_any_target(target):
    """``ResourceURL`` never raises: any request target gives a path and
    a query dict, and ``path`` is the pathname plus the search."""
    url = ResourceURL(target)
    assert isinstance(url.pathname, str) and url.pathname
    assert isinstance(url.query, dict)
    assert url.path == url.pathname + url.search
    assert url.href == target


# ------------------------------------------------------------ responses
@st.composite
def compression(draw) -> dict:
    return {
        "server_no_context_takeover": draw(st.booleans()),
        "client_no_context_takeover": draw(st.booleans()),
        "server_max_window_bits": draw(st.none() | st.integers(8, 15)),
        "client_max_window_bits": draw(st.none() | st.integers(8, 15)),
        "permessage_deflate": draw(st.booleans()),
    }


@st.composite
def handshake_responses(draw):
    """(response bytes, key, requested protocols, client config, the
    chosen protocol, the server's extension or None)."""
    key = draw(KEYS)
    protocols = draw(st.lists(TOKENS, max_size=4, unique=True))
    chosen = draw(st.sampled_from(protocols)) if protocols else None
    client_conf = client_config(draw(compression()))
    server_conf = server_config(draw(compression()))
    header = extension = None
    if client_conf["permessage_deflate"] and server_conf["permessage_deflate"]:
        offers = parse_extension_header([client_offer(client_conf)])
        extension, header = server_negotiate(offers, server_conf)
    response = accept_response(
        key, protocol=chosen, origin=draw(ORIGINS), websocket_version=draw(VERSIONS),
        extensions=header, cookie_lines=draw(st.lists(VALUES, max_size=2)),
        extra_headers=draw(EXTRA_HEADERS))
    return response, key, protocols, client_conf, chosen, extension


def client_reads(stream: bytes, chunks: list[bytes], key: str, protocols: list[str],
                 client_conf: dict):
    """What the client does with the server's answer: read and parse the
    head, check a 101 and its extensions; returns (response, protocol,
    extensions, bytes left)."""
    reader = BufferedReader.from_chunks(chunks)
    response = parse_response(read_head(reader, 65536))
    if response.status != 101:
        return response, non_101_message(response), [], b""
    offered = client_conf["permessage_deflate"]
    protocol = check_response(response, key, protocols, offered_extensions=offered)
    extensions = _accept_extensions(response, client_conf) if offered else []
    return response, protocol, extensions, drain(reader)


@fuzz(0.7)
@given(case=handshake_responses(), data=st.data())
def test_a_built_response_passes_the_client_check(case, data):
    """The 101 ``accept_response`` writes, read in any chunks, passes
    ``check_response`` with the chosen subprotocol, and the client takes
    the extension the server agreed to, with the same parameters."""
    response_bytes, key, protocols, client_conf, chosen, extension = case
    trailing = data.draw(st.binary(max_size=10))
    stream = response_bytes + trailing
    response, protocol, extensions, rest = client_reads(
        stream, data.draw(chunked(stream)), key, protocols, client_conf)
    assert (response.status, response.reason, response.http_version) == (
        101, "Switching Protocols", "1.1")
    assert protocol == chosen
    assert rest == trailing
    if extension is None:
        assert extensions == []
    else:
        [agreed] = extensions
        assert agreed.params == extension.params
        assert agreed.remote_max_window_bits == extension.local_max_window_bits


def client_reads_safely(stream: bytes, chunks: list[bytes], key: str, protocols: list[str],
                        client_conf: dict) -> None:
    """``client_reads`` allowing only what the client turns into a failed
    connection: EOFError, ValueError from ``parse_response`` and
    WebSocketHandshakeError from the checks."""
    try:
        reader = BufferedReader.from_chunks(chunks)
        response = parse_response(read_head(reader, 65536))
    except (EOFError, ValueError):
        return
    if response.status != 101:
        assert non_101_message(response)
        return
    offered = client_conf["permessage_deflate"]
    try:
        check_response(response, key, protocols, offered_extensions=offered)
        if offered:
            _accept_extensions(response, client_conf)
    except WebSocketHandshakeError as exc:
        assert str(exc) and exc.response is response


@fuzz()
@given(case=handshake_responses(), data=st.data())
def test_mutated_responses_raise_only_handshake_errors(case, data):
    """Any edit of a valid 101 response fails the client's reading with
    ValueError (unparsable head), WebSocketHandshakeError (a failed check)
    or EOFError — nothing else."""
    response_bytes, key, protocols, client_conf, _, _ = case
    stream = data.draw(mutated(response_bytes, max_mutations=3))
    if stream:
        client_reads_safely(stream, data.draw(chunked(stream)), key, protocols, client_conf)


@fuzz()
@given(status=st.integers(400, 599), reason=st.none() | VALUES,
       # Names differing only in case would be one header to the reader
       # (found by the long run): keep one spelling per name.
       extra=st.lists(st.tuples(TOKENS.map(lambda t: "X-" + t.lower()),
                                st.text(TEXT, max_size=20)),
                      max_size=3, unique_by=lambda pair: pair[0]).map(dict))
def test_a_rejection_parses_back(status, reason, extra):
    """``reject_response`` writes a head the client parses: the status,
    ``Connection: close``, the reason and extra headers with control
    characters (CR and LF among them) gone; ``non_101_message`` describes it."""
    response = parse_response(reject_response(status, reason, extra))
    assert response.status == status
    assert response.headers.get("Connection") == "close"
    assert response.headers.get("X-WebSocket-Reject-Reason") == reason
    for name, value in extra.items():
        sent = "".join(c for c in value if c == "\t" or unicodedata.category(c) != "Cc")
        assert not any(c != "\t" and unicodedata.category(c) == "Cc"
                       for c in response.headers.get(name))
        # Heads are written in UTF-8 and values that are valid UTF-8 read
        # back as such; the reader drops leading blanks.
        assert response.headers.get(name) == sent.lstrip(" \t")
    assert non_101_message(response).startswith(f"Server responded with a non-101 status: "
                                                f"{status} ")
