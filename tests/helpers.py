"""Raw-socket peers for tests that must send what a library never would:
a hand-written client handshake, unmasked frames, half frames, and a fake
server that answers the client's handshake with canned bytes."""

from __future__ import annotations

import base64
import os
import socket
from typing import Callable

from gevent.event import Event
from gevent.server import StreamServer

from wsframework.protocol.frame import encode_frame
from wsframework.protocol.handshake import accept_key
from wsframework.protocol.http11 import HttpResponse, parse_response, read_head
from wsframework.protocol.parser import FrameParser
from wsframework.protocol.streams import BufferedReader


def handshake_request(path: str = "/", headers: dict | None = None,
                      key: str | None = None, omit: tuple = ()) -> bytes:
    """A client handshake request; ``headers`` override, ``omit`` removes."""
    base = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": key or base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
    }
    base.update(headers or {})
    lines = [f"GET {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in base.items() if k not in omit]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawClient:
    """A TCP client that speaks the protocol by hand."""

    def __init__(self, port: int, source: str | None = None, *,
                 rcvbuf: int | None = None) -> None:
        """Connect to 127.0.0.1:``port``, from the address ``source`` if
        given, with a receive buffer of ``rcvbuf`` bytes if given (a
        small window: the server soon has to queue what it sends)."""
        if rcvbuf is None:
            self.sock = socket.create_connection(
                ("127.0.0.1", port), timeout=10,
                source_address=(source, 0) if source else None)
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(10)
            if source:
                self.sock.bind((source, 0))
            self.sock.connect(("127.0.0.1", port))
        self.reader = BufferedReader(self.sock.recv_into)
        self.parser = FrameParser(self.reader, expect_masked=False, max_frame_size=1 << 26,
                                  max_message_size=1 << 26, assemble_fragments=False)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, data: bytes) -> HttpResponse:
        """Send a request head (and anything after it); read the response head."""
        self.sock.sendall(data)
        return parse_response(read_head(self.reader, 65536))

    def handshake(self, path: str = "/", headers: dict | None = None,
                  extra: bytes = b"") -> HttpResponse:
        response = self.request(handshake_request(path, headers) + extra)
        assert response.status == 101, (response.status, dict(response.headers))
        return response

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True,
                   rsv: int = 0, mask: bool = True) -> None:
        self.sock.sendall(encode_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask))

    def read_frame(self):
        """The next frame from the server (a WebSocketFrame)."""
        return self.parser.next_event()

    def read_until_eof(self) -> bytes:
        chunks = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def close(self) -> None:
        self.sock.close()


def fake_server(respond: Callable[[str], bytes]) -> StreamServer:
    """A server that reads one handshake request and writes
    ``respond(key)``; it keeps the socket open until the peer closes."""

    def handle(sock, address):
        reader = BufferedReader(sock.recv_into)
        head = read_head(reader, 65536)
        key = ""
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "sec-websocket-key":
                key = value.strip()
        sock.sendall(respond(key))
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    server = StreamServer(("127.0.0.1", 0), handle)
    server.start()
    return server


def answer_handshake(sock) -> BufferedReader:
    """Read a client's handshake on ``sock`` and answer 101; returns the
    reader (holding whatever came after the request head)."""
    reader = BufferedReader(sock.recv_into)
    head = read_head(reader, 65536).decode("latin-1")
    key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
               if line.lower().startswith("sec-websocket-key:"))
    sock.sendall(response_101(key))
    return reader


def response_101(key: str, extra: str = "", *, accept: str | None = None,
                 connection: str = "Upgrade", upgrade: str = "websocket") -> bytes:
    """A 101 response for ``key`` with optional changes and extra lines."""
    accept = accept_key(key) if accept is None else accept
    lines = ["HTTP/1.1 101 Switching Protocols"]
    if upgrade:
        lines.append(f"Upgrade: {upgrade}")
    if connection:
        lines.append(f"Connection: {connection}")
    if accept:
        lines.append(f"Sec-WebSocket-Accept: {accept}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class WaitedOn(Event):
    """An Event that reports (``waited``) when someone first waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = Event()

    def wait(self, timeout=None):
        self.waited.set()
        return super().wait(timeout)
