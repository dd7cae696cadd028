"""wss:// with a test CA made by ``trustme``: the server over TLS, the
client verifying certificates and host names by default."""

from __future__ import annotations

import ssl

import pytest
import trustme

from wsframework import WebSocketHandshakeError, connect

from ..conftest import echo_handler


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def tls_server(make_server, ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(echo_handler, ssl_context=context,
                         max_received_frame_size=1 << 23, max_received_message_size=1 << 23)
    return server


def client_context(ca) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_wss_round_trip(tls_server, ca):
    client = connect(f"wss://localhost:{tls_server.port}/", tls_options=client_context(ca),
                     max_received_message_size=1 << 23)
    client.send("over tls")
    assert client.receive(timeout=5).data == "over tls"
    payload = bytes(range(256)) * 16384            # 4 MiB through the TLS flusher
    client.send(payload)
    assert client.receive(timeout=20).data == payload
    client.close()
    assert client.wait_closed(5) and client.close_reason_code == 1000


def test_wss_with_a_cafile_dict(tls_server, ca, tmp_path):
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    client = connect(f"wss://localhost:{tls_server.port}/", tls_options={"cafile": str(cafile)})
    client.send(b"\x01")
    assert client.receive(timeout=5).data == b"\x01"


def test_unknown_ca_is_refused_by_default(tls_server):
    with pytest.raises(WebSocketHandshakeError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(f"wss://localhost:{tls_server.port}/")


def test_host_name_is_checked(tls_server, ca):
    # The certificate names "localhost", not 127.0.0.1.
    with pytest.raises(WebSocketHandshakeError, match="IP address mismatch|doesn't match"):
        connect(f"wss://127.0.0.1:{tls_server.port}/", tls_options=client_context(ca))


def test_verification_can_be_turned_off_explicitly(tls_server):
    client = connect(f"wss://127.0.0.1:{tls_server.port}/", tls_options={"verify": False})
    client.send("insecure but asked for")
    assert client.receive(timeout=5).data == "insecure but asked for"


def test_handshake_timeout_covers_the_tls_handshake(make_server, ca):
    import socket
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(echo_handler, ssl_context=context, handshake_timeout=0.2)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent:
        assert silent.recv(1) == b""          # no TLS ClientHello: dropped at the timeout
    client = connect(f"wss://localhost:{server.port}/", tls_options=client_context(ca))
    client.send("still serving")
    assert client.receive(timeout=5).data == "still serving"


def test_plain_http_to_a_tls_port_is_dropped(make_server, ca):
    import socket
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(echo_handler, ssl_context=context)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            while plain.recv(1024):            # a TLS alert at most, then the close
                pass
        except ConnectionResetError:           # or a reset: our bytes were never read
            pass
    client = connect(f"wss://localhost:{server.port}/", tls_options=client_context(ca))
    assert client.connected


def event_echo_handler(request):
    """Echo in event style: a listener, and the handler returns."""
    connection = request.accept(None, request.origin)
    connection.on("message", lambda message: connection.send(message.data))


def test_an_event_style_tls_connection_keeps_its_reader(make_server, ca):
    """Only plain sockets park: over TLS the connection's greenlet reads on."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(event_echo_handler, ssl_context=context)
    client = connect(f"wss://localhost:{server.port}/", tls_options=client_context(ca))
    client.send("over tls")
    assert client.receive(timeout=5).data == "over tls"
    (connection,) = server.connections
    assert connection._parked is None and connection.read_owner is not None
    client.close()
    assert client.wait_closed(5) and client.close_reason_code == 1000
