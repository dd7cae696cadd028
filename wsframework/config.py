"""Configuration keys, their defaults and their validation.

Every key of WebSocket-Node (reference §2) is spelled in snake_case, with
durations in seconds.  Unlike Node, an unknown key, a wrong type or an
out-of-range value raises an error that names the key.
"""

from __future__ import annotations

import ssl
from typing import Any, Callable, Mapping

__all__ = ["server_config", "client_config", "SERVER_DEFAULTS", "CLIENT_DEFAULTS"]

# key: (default, check) -- each check returns an error text or None.
_Check = Callable[[Any], "str | None"]


def check_keys(checks: Mapping[str, _Check], given: Mapping[str, Any], *,
               unknown: Callable[[str], Exception],
               invalid: Callable[[str, str, Any], Exception]) -> None:
    """Check each key of ``given`` with its function in ``checks``: the one
    validator of the library's config keys and the command line's settings,
    raising ``unknown(key)`` or ``invalid(key, problem, value)`` so that
    each names the key in its own words."""
    for key, value in given.items():
        check = checks.get(key)
        if check is None:
            raise unknown(key)
        problem = check(value)
        if problem is not None:
            raise invalid(key, problem, value)


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be a bool"


def _size(minimum: int) -> _Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an int (bytes)"
        if value < minimum:
            return f"must be >= {minimum}"
        return None
    return check


def _count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an int"
    return None if value >= 1 else "must be >= 1"


def _seconds(*, positive: bool) -> _Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number of seconds"
        if value < 0 or (positive and value == 0) or value != value:
            return "must be > 0" if positive else "must be >= 0"
        return None
    return check


def _int_range(low: int, high: int) -> _Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an int"
        if not low <= value <= high:
            return f"must be between {low} and {high}"
        return None
    return check


def _choice(*choices: str) -> _Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(repr, choices))}"
    return check


def _optional(check: _Check) -> _Check:
    return lambda value: None if value is None else check(value)


def _version(value: Any) -> str | None:
    if value in (8, 13) and not isinstance(value, bool):
        return None
    return "Requested webSocketVersion is not supported. Allowed values are 8 and 13."


def _tls_options(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, ssl.SSLContext)):
        return None
    return "must be a dict of TLS options or an ssl.SSLContext"


def _origins(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        return "must be a list of origins (str, or None for no Origin header)"
    if not all(item is None or isinstance(item, str) for item in value):
        return "must be a list of origins (str, or None for no Origin header)"
    return None


def _anything(value: Any) -> str | None:
    return None


def _fraction(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "must be a number from 0 to 1"
    return None if 0 <= value <= 1 else "must be from 0 to 1"


def _metrics(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if hasattr(value, "register") and hasattr(value, "collect"):
        return None                       # a prometheus_client CollectorRegistry
    return "must be a bool or a prometheus_client CollectorRegistry"


def _proxy(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str):
        return "must be a proxy URL (str), True (from the environment) or None (no proxy)"
    from .proxy import check_proxy_url
    return check_proxy_url(value)


def _path(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value):
        return None
    return "must be a str (a filesystem path) or None"


_CONNECTION_KEYS: dict[str, tuple[Any, _Check]] = {
    "fragment_outgoing_messages": (True, _bool),
    "fragmentation_threshold": (0x4000, _size(1)),
    "assemble_fragments": (True, _bool),
    "disable_nagle_algorithm": (True, _bool),
    "close_timeout": (5.0, _seconds(positive=False)),
    "keepalive": (True, _bool),
    "keepalive_interval": (20.0, _optional(_seconds(positive=True))),
    "drop_connection_on_keepalive_timeout": (True, _bool),
    "keepalive_grace_period": (10.0, _optional(_seconds(positive=True))),
    "use_native_keepalive": (False, _bool),
    # Port extensions: output backpressure and the blocking-style queue.
    "output_high_water_mark": (0x10000, _size(1)),
    # A slow consumer: once this many bytes wait in the outgoing queue, a
    # new message gets the policy: close (1008), drop (the new message),
    # drop_oldest (queued messages not yet started), or wait (send blocks).
    "output_buffer_limit": (64 << 20, _size(1)),
    "slow_consumer_policy": ("close", _choice("close", "drop", "drop_oldest", "wait")),
    "receive_queue_size": (64, _size(1)),
    "receive_queue_bytes": (0x400000, _size(1)),
    # permessage-deflate (RFC 7692), on by default as in ws and websockets.
    "permessage_deflate": (True, _bool),
    "compression_level": (6, _int_range(0, 9)),
    "compression_memory_level": (5, _int_range(1, 9)),
    "compression_threshold": (32, _size(0)),
    "server_no_context_takeover": (False, _bool),
    "client_no_context_takeover": (False, _bool),
    "server_max_window_bits": (12, _optional(_int_range(8, 15))),
    "client_max_window_bits": (12, _optional(_int_range(8, 15))),
}

SERVER_DEFAULTS: dict[str, tuple[Any, _Check]] = {
    "http_server": (None, _anything),
    "max_received_frame_size": (0x10000, _size(1)),
    "max_received_message_size": (0x100000, _size(1)),
    **_CONNECTION_KEYS,
    "auto_accept_connections": (False, _bool),
    "ignore_x_forwarded_for": (False, _bool),
    "parse_cookies": (True, _bool),
    "parse_extensions": (True, _bool),
    # Port extension: seconds a client has to send its handshake request.
    "handshake_timeout": (10.0, _optional(_seconds(positive=True))),
    # Port extension: seconds an HTTP exchange may make no progress (a
    # response the client does not read, a keep-alive connection waiting
    # for its next request); then the connection is closed (reset).
    "http_idle_timeout": (30.0, _optional(_seconds(positive=True))),
    # Port extension: seconds the ``request`` handlers have to accept or
    # reject (then 503); None waits forever, as WebSocket-Node does.
    "request_timeout": (30.0, _optional(_seconds(positive=True))),
    # Port extensions: connections (accepted, or handshakes waiting for an
    # answer) beyond these limits are refused with 503; None is no limit.
    # Per IP counts the TCP peer address, never X-Forwarded-For, and (where
    # the server reads the heads itself) the request heads still arriving.
    "max_connections": (None, _optional(_count)),
    "max_connections_per_ip": (None, _optional(_count)),
    # Port extension: the Origin values accepted (exact, case-insensitive);
    # others get 403 before any handler runs.  None in the list admits
    # requests without an Origin header (non-browser clients); the default
    # None checks nothing.  Against cross-site WebSocket hijacking.
    "allowed_origins": (None, _origins),
    # Port extension: the listen() socket's accept queue (gevent's default
    # of 128 overflows when thousands of clients reconnect at once).
    "backlog": (1024, _count),
    # Port extensions for operation: Prometheus metrics (True: the default
    # registry; or a prometheus_client CollectorRegistry), a longest life
    # for connections (closed with 1001 after it, less up to a random
    # share ``connection_lifetime_jitter`` so they do not all end at once),
    # and the share of max_connections above which ``ready`` turns False.
    "metrics": (False, _metrics),
    "max_connection_lifetime": (None, _optional(_seconds(positive=True))),
    "connection_lifetime_jitter": (0.1, _fraction),
    "ready_connection_share": (0.9, _fraction),
}

CLIENT_DEFAULTS: dict[str, tuple[Any, _Check]] = {
    "max_received_frame_size": (0x100000, _size(1)),
    "max_received_message_size": (0x800000, _size(1)),
    **_CONNECTION_KEYS,
    "keepalive": (False, _bool),
    "websocket_version": (13, _version),
    "tls_options": (None, _tls_options),
    # Port extension: seconds allowed for TCP connect, TLS and handshake.
    "open_timeout": (10.0, _optional(_seconds(positive=True))),
    # Port extensions for real networks: the proxy (True: from HTTPS_PROXY,
    # HTTP_PROXY, ALL_PROXY and NO_PROXY, as urllib; a URL: that one; None:
    # none), TLS options for an https:// proxy, and a Unix socket to connect
    # to instead of the URL's host and port.
    "proxy": (True, _proxy),
    "proxy_tls_options": (None, _tls_options),
    "unix_socket_path": (None, _path),
}


_SERVER_CHECKS = {key: check for key, (_, check) in SERVER_DEFAULTS.items()}
_CLIENT_CHECKS = {key: check for key, (_, check) in CLIENT_DEFAULTS.items()}


def _unknown_key(key: str) -> Exception:
    return TypeError(f"unknown config key {key!r}")


def _bad_value(key: str, problem: str, value: Any) -> Exception:
    """ValueError for a value out of range, TypeError for one of a wrong type."""
    if key == "websocket_version":
        return ValueError(f"config key {key!r}: {problem}")
    error = TypeError if problem.startswith("must be a") else ValueError
    return error(f"config key {key!r} {problem} (got {value!r})")


def _build(defaults: Mapping[str, tuple[Any, _Check]], checks: Mapping[str, _Check],
           given: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    check_keys(checks, given, unknown=_unknown_key, invalid=_bad_value)
    config = {key: default for key, (default, _) in defaults.items()}
    if base:
        config.update(base)
    config.update(given)
    _check_keepalive(config)
    return config


def _check_keepalive(config: dict[str, Any]) -> None:
    if config["keepalive"] and not config["use_native_keepalive"]:
        if config["keepalive_interval"] is None:
            raise ValueError("keepalive_interval must be specified and numeric "
                             "if keepalive is true.")
        if (config["drop_connection_on_keepalive_timeout"]
                and config["keepalive_grace_period"] is None):
            raise ValueError("keepalive_grace_period must be specified and numeric "
                             "if drop_connection_on_keepalive_timeout is true.")


def server_config(given: Mapping[str, Any], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The server config: defaults, then ``base``, then ``given`` (checked)."""
    return _build(SERVER_DEFAULTS, _SERVER_CHECKS, given, base)


def client_config(given: Mapping[str, Any]) -> dict[str, Any]:
    """The client config: defaults overridden by ``given`` (checked)."""
    return _build(CLIENT_DEFAULTS, _CLIENT_CHECKS, given)
