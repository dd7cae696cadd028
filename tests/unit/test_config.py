"""Unit tests for :mod:`wsframework.config`: the defaults of reference §2.1
and §2.2 (durations in seconds), and the port's strict checking: an unknown
key, a wrong type or an out-of-range value raises an error naming the key,
before any I/O happens."""

from __future__ import annotations

import pytest

import wsframework
import wsframework.client
import wsframework.server
from wsframework import WebSocketClient, WebSocketServer
from wsframework.config import client_config, server_config

SERVER_EXPECTED = {
    "http_server": None,
    "max_received_frame_size": 0x10000,
    "max_received_message_size": 0x100000,
    "fragment_outgoing_messages": True,
    "fragmentation_threshold": 0x4000,
    "keepalive": True,
    "keepalive_interval": 20.0,
    "drop_connection_on_keepalive_timeout": True,
    "keepalive_grace_period": 10.0,
    "use_native_keepalive": False,
    "assemble_fragments": True,
    "auto_accept_connections": False,
    "ignore_x_forwarded_for": False,
    "parse_cookies": True,
    "parse_extensions": True,
    "disable_nagle_algorithm": True,
    "close_timeout": 5.0,
}

CLIENT_EXPECTED = {
    "max_received_frame_size": 0x100000,
    "max_received_message_size": 0x800000,
    "fragment_outgoing_messages": True,
    "fragmentation_threshold": 0x4000,
    "websocket_version": 13,
    "assemble_fragments": True,
    "disable_nagle_algorithm": True,
    "close_timeout": 5.0,
    "keepalive": False,      # the Node client config has no keepalive keys
}


# --------------------------------------------------------------- defaults
@pytest.mark.parametrize("key, value", sorted(SERVER_EXPECTED.items()))
def test_server_defaults(key, value):
    config = server_config({})
    assert config[key] == value
    assert type(config[key]) is type(value)


@pytest.mark.parametrize("key, value", sorted(CLIENT_EXPECTED.items()))
def test_client_defaults(key, value):
    config = client_config({})
    assert config[key] == value
    assert type(config[key]) is type(value)


def test_objects_carry_the_defaults():
    assert {k: WebSocketServer().config[k] for k in SERVER_EXPECTED} == SERVER_EXPECTED
    assert {k: WebSocketClient().config[k] for k in CLIENT_EXPECTED} == CLIENT_EXPECTED


def test_given_values_override_defaults():
    config = server_config({"max_received_frame_size": 10, "close_timeout": 0.25,
                            "keepalive": False, "keepalive_interval": None})
    assert config["max_received_frame_size"] == 10
    assert config["close_timeout"] == 0.25
    assert config["keepalive"] is False
    assert config["max_received_message_size"] == 0x100000


def test_base_config_is_layered_under_given():
    config = server_config({"close_timeout": 1.0}, base={"close_timeout": 2.0,
                                                         "keepalive": False})
    assert config["close_timeout"] == 1.0
    assert config["keepalive"] is False


def test_defaults_are_not_shared_between_configs():
    first = server_config({})
    first["close_timeout"] = 99.0
    assert server_config({})["close_timeout"] == 5.0


# ------------------------------------------------------------ unknown keys
@pytest.mark.parametrize("make", [server_config, client_config])
@pytest.mark.parametrize("key", ["bad_key", "maxReceivedFrameSize", "keepaliveInterval",
                                 "close_timout"])
def test_unknown_key(make, key):
    with pytest.raises(TypeError) as info:
        make({key: 1})
    assert key in str(info.value)


@pytest.mark.parametrize("key", ["websocket_version", "tls_options"])
def test_client_only_keys_are_unknown_to_the_server(key):
    with pytest.raises(TypeError, match=key):
        server_config({key: 13})


@pytest.mark.parametrize("key", ["auto_accept_connections", "parse_cookies", "http_server"])
def test_server_only_keys_are_unknown_to_the_client(key):
    with pytest.raises(TypeError, match=key):
        client_config({key: True})


# ------------------------------------------------------------- wrong types
@pytest.mark.parametrize("key, value", [
    ("max_received_frame_size", "64k"),
    ("max_received_frame_size", 1.5),
    ("max_received_frame_size", True),
    ("max_received_message_size", None),
    ("fragmentation_threshold", "16384"),
    ("fragment_outgoing_messages", 1),
    ("keepalive", "yes"),
    ("assemble_fragments", None),
    ("disable_nagle_algorithm", 0),
    ("close_timeout", "5"),
    ("close_timeout", None),
    ("close_timeout", True),
    ("keepalive_interval", "20"),
    ("keepalive_grace_period", [10]),
    ("auto_accept_connections", "false"),
])
def test_server_wrong_types(key, value):
    with pytest.raises(TypeError) as info:
        server_config({key: value})
    assert key in str(info.value)


@pytest.mark.parametrize("key, value", [
    ("tls_options", 5), ("tls_options", "cert.pem"), ("max_received_frame_size", "1"),
    ("close_timeout", "1"),
])
def test_client_wrong_types(key, value):
    with pytest.raises(TypeError) as info:
        client_config({key: value})
    assert key in str(info.value)


def test_accepted_types():
    config = server_config({"close_timeout": 2, "keepalive_interval": 0.5,
                            "max_received_frame_size": 1})
    assert config["close_timeout"] == 2 and config["keepalive_interval"] == 0.5
    assert client_config({"tls_options": {"verify": False}})["tls_options"] == {"verify": False}


# ------------------------------------------------------------ out of range
@pytest.mark.parametrize("key, value", [
    ("fragmentation_threshold", 0),
    ("fragmentation_threshold", -1),
    ("close_timeout", -1),
    ("close_timeout", -0.001),
    ("close_timeout", float("nan")),
    ("max_received_frame_size", 0),
    ("max_received_message_size", -5),
    ("keepalive_interval", 0),
    ("keepalive_interval", -1.0),
    ("keepalive_grace_period", 0),
])
def test_server_out_of_range(key, value):
    with pytest.raises(ValueError) as info:
        server_config({key: value})
    assert key in str(info.value)


@pytest.mark.parametrize("key, value", [("fragmentation_threshold", 0), ("close_timeout", -1)])
def test_client_out_of_range(key, value):
    with pytest.raises(ValueError) as info:
        client_config({key: value})
    assert key in str(info.value)


def test_zero_close_timeout_is_allowed():
    assert server_config({"close_timeout": 0})["close_timeout"] == 0


# -------------------------------------------------------- websocket_version
@pytest.mark.parametrize("version", [8, 13])
def test_supported_versions(version):
    assert client_config({"websocket_version": version})["websocket_version"] == version


@pytest.mark.parametrize("version", [7, 0, 12, 14, "13"])
def test_unsupported_version(version):
    with pytest.raises(ValueError) as info:
        client_config({"websocket_version": version})
    # Node's text, with the key named as every config error does.
    assert str(info.value) == ("config key 'websocket_version': Requested webSocketVersion "
                               "is not supported. Allowed values are 8 and 13.")


def test_unsupported_version_from_client_constructor():
    with pytest.raises(ValueError, match="Allowed values are 8 and 13"):
        WebSocketClient(websocket_version=7)


# --------------------------------------------------------------- keepalive
def test_keepalive_without_interval():
    with pytest.raises(ValueError) as info:
        server_config({"keepalive_interval": None})
    assert "keepalive_interval" in str(info.value)


def test_keepalive_without_grace_period():
    with pytest.raises(ValueError) as info:
        server_config({"keepalive_grace_period": None})
    assert "keepalive_grace_period" in str(info.value)


@pytest.mark.parametrize("given", [
    {"keepalive": False, "keepalive_interval": None},
    {"use_native_keepalive": True, "keepalive_interval": None, "keepalive_grace_period": None},
    {"drop_connection_on_keepalive_timeout": False, "keepalive_grace_period": None},
])
def test_keepalive_settings_that_need_no_interval(given):
    server_config(given)


def test_client_keepalive_without_interval():
    with pytest.raises(ValueError, match="keepalive_interval"):
        client_config({"keepalive": True, "keepalive_interval": None})
    assert client_config({"keepalive": True})["keepalive_interval"] == 20.0


# --------------------------------------------------- checked before any I/O
@pytest.fixture
def no_io(monkeypatch):
    """Make any attempt to open or bind a socket fail the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("I/O attempted before the config was checked")
    monkeypatch.setattr(wsframework.client, "_open_socket", forbidden)
    monkeypatch.setattr(wsframework.server, "StreamServer", forbidden)
    monkeypatch.setattr("socket.create_connection", forbidden)
    monkeypatch.setattr("gevent.socket.create_connection", forbidden)


def test_server_constructor_rejects_bad_key(no_io):
    with pytest.raises(TypeError, match="bad_key"):
        WebSocketServer(bad_key=1)


def test_server_constructor_rejects_bad_value(no_io):
    with pytest.raises(ValueError, match="fragmentation_threshold"):
        WebSocketServer(fragmentation_threshold=0)


def test_server_listen_rejects_bad_key_before_binding(no_io):
    with pytest.raises(TypeError, match="bad_key"):
        WebSocketServer.listen(("127.0.0.1", 0), bad_key=1)


def test_server_mount_rejects_bad_key(no_io):
    server = WebSocketServer()
    with pytest.raises(TypeError, match="bad_key"):
        server.mount(bad_key=1)


def test_connect_rejects_bad_key_before_connecting(no_io):
    with pytest.raises(TypeError, match="bad_key"):
        wsframework.connect("ws://127.0.0.1:9/", bad_key=1)


def test_connect_rejects_bad_value_before_connecting(no_io):
    with pytest.raises(ValueError, match="close_timeout"):
        wsframework.connect("ws://127.0.0.1:9/", close_timeout=-1)
    with pytest.raises(ValueError, match="Allowed values are 8 and 13"):
        wsframework.connect("ws://127.0.0.1:9/", websocket_version=7)


def test_client_constructor_rejects_bad_key(no_io):
    with pytest.raises(TypeError, match="bad_key"):
        WebSocketClient(bad_key=1)


# ------------------------------------------------- the one key validator
def test_check_keys_is_the_one_validator_of_config_and_settings():
    """config.check_keys checks the library's keys and the CLI's settings;
    each caller words its errors, always naming the key."""
    from wsframework.apps import settings
    from wsframework.config import check_keys

    checks = {"size": lambda v: None if isinstance(v, int) else "must be an int"}

    def unknown(key):
        return KeyError(f"unknown {key}")

    def invalid(key, problem, value):
        return ValueError(f"{key} {problem} (got {value!r})")

    check_keys(checks, {"size": 3}, unknown=unknown, invalid=invalid)
    with pytest.raises(KeyError, match="unknown colour"):
        check_keys(checks, {"size": 3, "colour": 1}, unknown=unknown, invalid=invalid)
    with pytest.raises(ValueError, match=r"size must be an int \(got 'x'\)"):
        check_keys(checks, {"size": "x"}, unknown=unknown, invalid=invalid)
    assert settings.check_keys is check_keys
    with pytest.raises(settings.SettingsError, match=r"f\.toml: unknown key chat\.colour"):
        settings.validate({"chat": {"colour": 1}}, "f.toml")
    with pytest.raises(settings.SettingsError,
                       match=r"f\.toml: chat\.history must be an integer from 0 to 100000"):
        settings.validate({"chat": {"history": "x"}}, "f.toml")
    with pytest.raises(settings.SettingsError,
                       match=r"f\.toml: \[websocket\] config key 'close_timeout' must be >= 0"):
        settings.validate({"websocket": {"close_timeout": -1}}, "f.toml")
