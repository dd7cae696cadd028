"""``recv_small`` and ``send_now``: the one-call receive of an event-style
connection's wake-up and the send that never waits, in C and in pure
Python, over real TCP sockets on 127.0.0.1.  Both versions must agree."""

from __future__ import annotations

import errno
import socket

import pytest

from wsframework.protocol.frame import encode_frame
from wsframework.protocol.framing import Opcode
from wsframework.protocol.speedups import SPEEDUPS
from wsframework.receiving import py_recv_small
from wsframework.sending import py_send_now, py_send_small

RECEIVERS = [pytest.param(py_recv_small, id="python")]
SENDERS = [pytest.param(py_send_now, id="python")]
SMALL_SENDERS = [pytest.param(py_send_small, id="python")]
if SPEEDUPS:
    from wsframework.protocol._speedups import recv_small as c_recv_small
    from wsframework.protocol._speedups import send_now as c_send_now
    RECEIVERS.append(pytest.param(c_recv_small, id="c"))
    from wsframework.protocol._speedups import send_small as c_send_small
    SENDERS.append(pytest.param(c_send_now, id="c"))
    SMALL_SENDERS.append(pytest.param(c_send_small, id="c"))


@pytest.fixture
def pair():
    """Two connected OS-level TCP sockets, non-blocking as gevent leaves them."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    for sock in (client, server):
        sock.setblocking(False)
    yield client, server
    client.close()
    server.close()


def wait_readable(sock) -> None:
    import select
    assert select.select([sock], [], [], 10)[0], "nothing arrived"


@pytest.fixture(params=RECEIVERS)
def recv_small(request):
    return request.param


@pytest.fixture(params=SENDERS)
def send_now(request):
    return request.param


@pytest.fixture(params=SMALL_SENDERS)
def send_small(request):
    return request.param


@pytest.mark.parametrize("opcode,payload,expected", [
    (Opcode.TEXT, "h\u00e9llo".encode(), "h\u00e9llo"),
    (Opcode.BINARY, b"\x00\xff", b"\x00\xff"),
    (Opcode.TEXT, b"", ""),
])
def test_one_whole_small_frame_is_its_payload(pair, recv_small, opcode, payload, expected):
    client, server = pair
    client.sendall(encode_frame(opcode, payload, mask=True))
    wait_readable(server)
    got = recv_small(server, bytearray(1024), True, 125)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("data", [
    encode_frame(Opcode.TEXT, b"one", mask=True) + encode_frame(Opcode.TEXT, b"two", mask=True),
    encode_frame(Opcode.TEXT, b"partial", mask=True)[:-2],
    encode_frame(Opcode.PING, b"ping", mask=True),
    encode_frame(Opcode.TEXT, b"\xc0\xaf", mask=True),      # invalid UTF-8
    encode_frame(Opcode.TEXT, b"z" * 126, mask=True),
    encode_frame(Opcode.TEXT, b"unmasked", mask=False),
])
def test_anything_else_is_the_count_of_bytes_received(pair, recv_small, data):
    client, server = pair
    client.sendall(data)
    wait_readable(server)
    buf = bytearray(1024)
    assert recv_small(server, buf, True, 125) == len(data)
    assert bytes(buf[:len(data)]) == data


def test_the_limit_leaves_a_frame_to_the_general_parser(pair, recv_small):
    client, server = pair
    data = encode_frame(Opcode.BINARY, b"12345", mask=True)
    client.sendall(data)
    wait_readable(server)
    assert recv_small(server, bytearray(1024), True, 4) == len(data)


def test_nothing_to_read_is_minus_one(pair, recv_small):
    assert recv_small(pair[1], bytearray(1024), True, 125) == -1


def test_the_end_of_the_stream_is_zero(pair, recv_small):
    client, server = pair
    client.shutdown(socket.SHUT_WR)
    wait_readable(server)
    assert recv_small(server, bytearray(1024), True, 125) == 0


def test_a_reset_raises_connection_reset(pair, recv_small):
    client, server = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()
    wait_readable(server)
    with pytest.raises(ConnectionResetError):
        recv_small(server, bytearray(1024), True, 125)


def test_a_closed_socket_raises_ebadf(pair, recv_small, send_now):
    server = pair[1]
    server.close()
    with pytest.raises(OSError) as info:
        recv_small(server, bytearray(1024), True, 125)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError) as info:
        send_now(server, b"x")
    assert info.value.errno == errno.EBADF


class FilenoOnly:
    """Not a socket: only its fileno(), which the C calls take too."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()


def test_the_c_calls_take_anything_with_fileno(pair):
    # A socket's descriptor is read from the object; anything else is asked.
    if not SPEEDUPS:
        return                              # the pure-Python twins take sockets only
    client, server = pair
    assert c_send_now(FilenoOnly(client), encode_frame(Opcode.TEXT, b"hi", mask=True)) == 8
    wait_readable(server)
    assert c_recv_small(FilenoOnly(server), bytearray(1024), True, 125) == "hi"
    wrapped = FilenoOnly(server)
    server.close()
    for call in (lambda: c_recv_small(wrapped, bytearray(1024), True, 125),
                 lambda: c_send_now(wrapped, b"x")):
        with pytest.raises(OSError) as info:
            call()
        assert info.value.errno == errno.EBADF


def test_send_now_sends_and_never_waits(pair, send_now):
    client, server = pair
    assert send_now(server, b"hello") == 5
    wait_readable(client)
    assert client.recv(10) == b"hello"
    # Until the peer reads, the kernel's buffers fill: then 0, not a wait.
    chunk = bytes(65536)
    total = 0
    for _ in range(10000):
        sent = send_now(server, memoryview(chunk))
        if sent == 0:
            break
        total += sent
    else:
        pytest.fail("the send never stopped taking data")
    assert total > 0


def test_send_now_to_a_reset_peer_raises(pair, send_now):
    client, server = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()
    wait_readable(server)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        send_now(server, b"x")


@pytest.mark.parametrize("data,fragment,frame", [
    ("hello", 0, encode_frame(Opcode.TEXT, b"hello")),
    ("h\u00e9llo \U0001f600", 0, encode_frame(Opcode.TEXT, "h\u00e9llo \U0001f600".encode())),
    ("", 0, encode_frame(Opcode.TEXT, b"")),
    (b"\x00\xff", 0, encode_frame(Opcode.BINARY, b"\x00\xff")),
    ("x" * 125, 0, encode_frame(Opcode.TEXT, b"x" * 125)),
    (b"x" * 10, 10, encode_frame(Opcode.BINARY, b"x" * 10)),
])
def test_send_small_frames_and_sends(pair, send_small, data, fragment, frame):
    client, server = pair
    assert send_small(server, data, fragment) == 0
    received = b""
    while len(received) < len(frame):
        wait_readable(client)
        received += client.recv(1024)
    assert received == frame


@pytest.mark.parametrize("data,fragment", [
    ("x" * 126, 0),
    ("\u00e9" * 63, 0),                    # 63 characters, 126 bytes
    (b"x" * 126, 0),
    (b"x" * 11, 10),
    ("x" * 11, 10),
])
def test_send_small_sends_nothing_larger(pair, send_small, data, fragment):
    client, server = pair
    assert send_small(server, data, fragment) is None
    assert send_small(server, "next", 0) == 0
    wait_readable(client)
    assert client.recv(1024) == encode_frame(Opcode.TEXT, b"next")


def test_send_small_says_what_the_kernel_did_not_take(pair, send_small, send_now):
    client, server = pair
    chunk = bytes(65536)
    for _ in range(10000):
        if send_now(server, memoryview(chunk)) == 0:
            break
    else:
        pytest.fail("the send never stopped taking data")
    assert send_small(server, b"x" * 100, 0) == 102


def test_send_small_refuses_what_is_not_str_or_bytes(pair, send_small):
    with pytest.raises(TypeError):
        send_small(pair[1], bytearray(b"x"), 0)
    with pytest.raises(UnicodeEncodeError):
        send_small(pair[1], "\ud800", 0)


def test_send_small_to_a_closed_socket_raises_ebadf(pair, send_small):
    server = pair[1]
    server.close()
    with pytest.raises(OSError) as info:
        send_small(server, "x", 0)
    assert info.value.errno == errno.EBADF


def test_the_connection_uses_the_accelerator_when_built():
    from wsframework import receiving, sending
    if SPEEDUPS:
        assert receiving.recv_small is c_recv_small
        assert sending.send_now is c_send_now
        assert sending.send_small is c_send_small
    else:
        assert receiving.recv_small is py_recv_small
        assert sending.send_now is py_send_now
        assert sending.send_small is py_send_small
