"""The client through real proxies: tinyproxy (HTTP CONNECT, with and
without basic authentication), stunnel in front of it (TLS to the proxy),
pproxy (SOCKS5, SOCKS4), chosen by argument or by the environment."""

from __future__ import annotations

import ssl

import pytest
import trustme

from wsframework import ProxyError, W3CWebSocket, WebSocketClient, connect
from wsframework.proxy import proxy_for

from .. import proxies
from ..conftest import echo_handler


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def started():
    running = []
    yield running
    for proxy in running:
        proxy.stop()


def run(started, proxy):
    started.append(proxy)
    return proxy


def round_trip(connection, text="through the proxy"):
    connection.send(text)
    assert connection.receive(timeout=10).data == text
    connection.close()
    assert connection.wait_closed(5) and connection.close_reason_code == 1000


def peer_port(connection) -> int:
    """The port the client's socket is connected to: the proxy's when tunnelled."""
    sock = connection.socket
    return getattr(sock, "_sock", sock).getpeername()[1]


def test_http_connect_tunnel(echo_server, tmp_path, started):
    proxy = run(started, proxies.tinyproxy(tmp_path))
    connection = connect(f"{echo_server.url}/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert peer_port(connection) == proxy.port            # not the server's port
    round_trip(connection)
    assert any(f"127.0.0.1:{echo_server.port}" in line for line in proxy.log), proxy.log


def test_http_connect_with_basic_auth(echo_server, tmp_path, started):
    proxy = run(started, proxies.tinyproxy(tmp_path, auth=("alice", "hunter2")))
    # Credentials in the URL are percent-decoded before they are sent.
    connection = connect(f"{echo_server.url}/",
                         proxy=f"http://alice:%68unter2@127.0.0.1:{proxy.port}")
    assert peer_port(connection) == proxy.port
    round_trip(connection)


def test_proxy_refusing_authentication_names_the_hop(echo_server, tmp_path, started):
    proxy = run(started, proxies.tinyproxy(tmp_path, auth=("alice", "secret")))
    for url in (f"http://127.0.0.1:{proxy.port}", f"http://alice:wrong@127.0.0.1:{proxy.port}"):
        with pytest.raises(ProxyError) as caught:
            connect(f"{echo_server.url}/", proxy=url)
        error = caught.value
        assert error.response.status in (401, 407)            # tinyproxy answers CONNECT 401
        assert error.proxy == f"http://127.0.0.1:{proxy.port}"     # no credentials shown
        assert str(error).startswith(f"Proxy http://127.0.0.1:{proxy.port} refused the tunnel "
                                     f"to 127.0.0.1:{echo_server.port}: {error.response.status}")
        assert "wrong" not in str(error)


def test_proxy_forbidding_the_port_is_a_403(echo_server, tmp_path, started):
    proxy = run(started, proxies.tinyproxy(tmp_path, connect_ports=[443]))
    with pytest.raises(ProxyError) as caught:
        connect(f"{echo_server.url}/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert caught.value.response.status == 403
    assert "refused the tunnel" in str(caught.value)


def test_proxy_that_cannot_reach_the_server(tmp_path, started):
    from ..redis_server import free_port
    proxy = run(started, proxies.tinyproxy(tmp_path))
    closed = free_port()                                    # nothing listens there
    with pytest.raises(ProxyError) as caught:
        connect(f"ws://127.0.0.1:{closed}/", proxy=f"http://127.0.0.1:{proxy.port}")
    assert 500 <= caught.value.response.status <= 599       # tinyproxy says 500
    assert f"to 127.0.0.1:{closed}" in str(caught.value)


def test_proxy_that_is_not_there():
    from ..redis_server import free_port
    port = free_port()
    with pytest.raises(ProxyError) as caught:
        connect("ws://127.0.0.1:1/", proxy=f"http://127.0.0.1:{port}")
    assert caught.value.response is None
    assert str(caught.value).startswith(f"Could not connect to proxy http://127.0.0.1:{port}")


def test_tls_to_the_proxy(echo_server, tmp_path, started, ca):
    backend = run(started, proxies.tinyproxy(tmp_path))
    tls_proxy = run(started, proxies.stunnel(tmp_path, ca, backend.port))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    connection = connect(f"{echo_server.url}/", proxy=f"https://127.0.0.1:{tls_proxy.port}",
                         proxy_tls_options=context)
    assert peer_port(connection) == tls_proxy.port
    round_trip(connection)
    # Without the CA, the proxy's certificate does not verify.
    with pytest.raises(ProxyError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        connect(f"{echo_server.url}/", proxy=f"https://127.0.0.1:{tls_proxy.port}")


def test_tls_to_the_server_through_the_tunnel(make_server, tmp_path, started, ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(context)
    server = make_server(echo_handler, ssl_context=context)
    proxy = run(started, proxies.tinyproxy(tmp_path))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    connection = connect(f"wss://localhost:{server.port}/", tls_options=client_context,
                         proxy=f"http://127.0.0.1:{proxy.port}")
    assert isinstance(connection.socket, ssl.SSLSocket)
    assert peer_port(connection) == proxy.port
    round_trip(connection, "tls inside the tunnel")


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "socks4", "socks4a"])
def test_socks(echo_server, started, scheme):
    proxy = run(started, proxies.pproxy("socks4" if scheme.startswith("socks4") else "socks5"))
    connection = connect(f"{echo_server.url}/", proxy=f"{scheme}://127.0.0.1:{proxy.port}")
    assert peer_port(connection) == proxy.port
    round_trip(connection, f"through {scheme}")


def test_socks5_with_authentication(echo_server, started):
    proxy = run(started, proxies.pproxy("socks5", auth=("bob", "hunter2")))
    # Wrong credentials first: pproxy then remembers an address that logged in.
    with pytest.raises(ProxyError) as caught:
        connect(f"{echo_server.url}/", proxy=f"socks5://bob:nope@127.0.0.1:{proxy.port}")
    assert caught.value.proxy == f"socks5://127.0.0.1:{proxy.port}"
    assert "refused the tunnel" in str(caught.value)
    assert "nope" not in str(caught.value)
    connection = connect(f"{echo_server.url}/",
                         proxy=f"socks5://bob:hunter2@127.0.0.1:{proxy.port}")
    round_trip(connection)


class TestEnvironment:
    """proxy=True (the default) reads the environment as urllib does."""

    @pytest.fixture(autouse=True)
    def clean(self, monkeypatch):
        for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)

    def test_http_proxy_for_ws(self, echo_server, tmp_path, started, monkeypatch):
        proxy = run(started, proxies.tinyproxy(tmp_path))
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        connection = connect(f"{echo_server.url}/")
        assert peer_port(connection) == proxy.port
        round_trip(connection)
        # proxy=None: straight to the server whatever the environment says.
        direct = connect(f"{echo_server.url}/", proxy=None)
        assert peer_port(direct) == echo_server.port
        round_trip(direct)

    def test_https_proxy_for_wss_only(self, make_server, tmp_path, started, ca, monkeypatch):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("localhost").configure_cert(context)
        server = make_server(echo_handler, ssl_context=context)
        proxy = run(started, proxies.tinyproxy(tmp_path))
        monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{proxy.port}")      # no scheme: http
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        connection = connect(f"wss://localhost:{server.port}/", tls_options=client_context)
        assert peer_port(connection) == proxy.port
        round_trip(connection)
        assert proxy_for(True, "localhost", server.port, secure=False) is None

    def test_all_proxy_socks(self, echo_server, started, monkeypatch):
        proxy = run(started, proxies.pproxy("socks5"))
        monkeypatch.setenv("ALL_PROXY", f"socks5://127.0.0.1:{proxy.port}")
        connection = connect(f"{echo_server.url}/")
        assert peer_port(connection) == proxy.port
        round_trip(connection)

    def test_no_proxy(self, echo_server, tmp_path, started, monkeypatch):
        proxy = run(started, proxies.tinyproxy(tmp_path))
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        for no_proxy in ("127.0.0.1", "example.com, 127.0.0.1", "*"):
            monkeypatch.setenv("NO_PROXY", no_proxy)
            connection = connect(f"{echo_server.url}/")
            assert peer_port(connection) == echo_server.port, no_proxy
            round_trip(connection)
        monkeypatch.setenv("NO_PROXY", "example.com")
        assert proxy_for(True, "127.0.0.1", echo_server.port, False) == \
            f"http://127.0.0.1:{proxy.port}"
        assert proxy_for(True, "api.example.com", 80, False) is None

    def test_a_forced_proxy_ignores_no_proxy(self, echo_server, tmp_path, started, monkeypatch):
        proxy = run(started, proxies.tinyproxy(tmp_path))
        monkeypatch.setenv("NO_PROXY", "*")
        connection = connect(f"{echo_server.url}/", proxy=f"http://127.0.0.1:{proxy.port}")
        assert peer_port(connection) == proxy.port
        round_trip(connection)


def test_event_style_and_w3c_clients_take_a_proxy(echo_server, tmp_path, started):
    import gevent.event
    proxy = run(started, proxies.tinyproxy(tmp_path))
    client = WebSocketClient(proxy=f"http://127.0.0.1:{proxy.port}")
    opened = gevent.event.AsyncResult()
    client.on("connect", opened.set)
    client.on("connect_failed", opened.set_exception)
    client.connect(f"{echo_server.url}/")
    connection = opened.get(timeout=10)
    assert peer_port(connection) == proxy.port
    connection.close()
    assert connection.wait_closed(5)

    messages = gevent.event.AsyncResult()
    ws = W3CWebSocket(f"{echo_server.url}/",
                     client_config={"proxy": f"http://127.0.0.1:{proxy.port}"})
    ws.onopen = lambda event: ws.send("w3c")
    ws.onmessage = lambda event: messages.set(event.data)
    assert messages.get(timeout=10) == "w3c"
    ws.close()


@pytest.mark.parametrize("value, error", [
    ("ftp://127.0.0.1:21", ValueError), ("http://", ValueError), (3128, TypeError),
    ("http://127.0.0.1:99999", ValueError),
])
def test_bad_proxy_config_names_the_key(value, error):
    with pytest.raises(error, match="'proxy'"):
        connect("ws://127.0.0.1:1/", proxy=value)


def test_a_socks_proxy_dripping_its_answer_times_out_naming_it():
    # A hostile SOCKS5 proxy answering one byte at a time, each just in time
    # for python-socks' per-read timeout: open_timeout bounds the whole.
    import gevent
    from gevent.server import StreamServer

    def drip(sock, address):
        sock.recv(16)                                    # the greeting
        try:
            for byte in b"\x05\x00" + b"\x05\x00\x00\x01" + bytes(6):
                sock.sendall(bytes([byte]))
                gevent.sleep(0.3)
        except OSError:
            pass

    proxy = StreamServer(("127.0.0.1", 0), drip)
    proxy.start()
    try:
        with pytest.raises(ProxyError) as caught:
            connect("ws://127.0.0.1:9/", proxy=f"socks5://127.0.0.1:{proxy.server_port}",
                    open_timeout=0.5)
        assert str(caught.value).startswith(
            f"Timed out waiting for proxy socks5://127.0.0.1:{proxy.server_port}")
    finally:
        proxy.stop()


@pytest.mark.parametrize("status, reason", [(407, "Proxy Authentication Required"),
                                            (502, "Bad Gateway")])
def test_refusals_tinyproxy_does_not_give_name_the_hop(status, reason):
    # tinyproxy answers a failed login 401 and an unreachable server 500; the
    # statuses other proxies (squid, nginx) give are refused the same way.
    from gevent.server import StreamServer

    from wsframework.protocol.http11 import read_head
    from wsframework.protocol.streams import BufferedReader

    heads = []

    def refuse(sock, address):
        heads.append(read_head(BufferedReader(sock.recv_into), 65536))
        sock.sendall(f"HTTP/1.1 {status} {reason}\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
                     f"Content-Length: 0\r\n\r\n".encode())

    proxy = StreamServer(("127.0.0.1", 0), refuse)
    proxy.start()
    try:
        with pytest.raises(ProxyError) as caught:
            connect("ws://127.0.0.1:9/", proxy=f"http://bob:secret@127.0.0.1:{proxy.server_port}")
        assert caught.value.response.status == status
        assert str(caught.value) == (f"Proxy http://127.0.0.1:{proxy.server_port} refused the "
                                     f"tunnel to 127.0.0.1:9: {status} {reason}")
        assert bytes(heads[0]).startswith(b"CONNECT 127.0.0.1:9 HTTP/1.1\r\n")
    finally:
        proxy.stop()
