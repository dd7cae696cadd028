"""Settings of the command line: embedded defaults, a TOML file
(``--config``), then flags — each later source overriding the earlier.

Every flag has a key in the file (``conf/chat.toml`` lists them all).  An
unknown key or a bad value raises :class:`SettingsError` naming the key and
the file.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from ..config import check_keys, server_config

__all__ = ["DEFAULTS", "SettingsError", "load_file", "merge", "validate"]


class SettingsError(ValueError):
    """A setting is unknown or has a bad value; the message names both the
    key and where it came from."""


DEFAULTS: dict[str, dict[str, Any]] = {
    "server": {
        "host": "127.0.0.1",
        "port": 8080,
        # A Unix domain socket to listen on instead of host:port (behind a
        # reverse proxy on the same machine).
        "unix_socket": None,
        "workers": 1,
        "certfile": None,
        "keyfile": None,
        "log_level": "INFO",
        # "text" or "json" (one JSON object per line, for log shippers).
        "log_format": "text",
        # /metrics (Prometheus; needs wsframework[metrics]).
        "metrics": False,
        # Serve /metrics on this port only, not on the public port (which
        # then answers 404 there): keep it for the scraper, e.g. behind a
        # firewall or a NetworkPolicy.  None: on the public port.  0 picks a
        # free port (one worker only).
        "metrics_port": None,
        # The address of metrics_port; None: server.host.
        "metrics_host": None,
        # Seconds over which SIGTERM closes the open connections (1001)
        # before the process exits; SIGINT closes them at once.
        "drain_period": 10.0,
        # WebSocket connections one client address may hold (0: no limit):
        # one address cannot take every room and lock everyone else out.
        "max_connections_per_ip": 100,
    },
    "chat": {
        "history": 50,
        # Bytes of history a room keeps at most (the oldest messages go first).
        "history_bytes": 65536,
        "max_text": 4000,
        "max_rooms": 1000,
        # Messages a connection may send per second, and at once.
        "rate": 10.0,
        "burst": 20,
        # Seconds a message's client_id is remembered: a resend within it
        # is acknowledged with the first id, not stored twice.
        "resend_window": 300.0,
        # Pages of other origins allowed to connect to /ws (the page's own
        # origin always is, and so are clients sending no Origin).
        "allowed_origins": [],
        # Seconds a stopped worker's members stay listed (heartbeats every third).
        "presence_ttl": 15.0,
    },
    "redis": {
        "url": None,
        # Prefix of every key the chat keeps in Redis.
        "channel_prefix": "wsframework:chat:",
        # Shared by the workers: signs every entry (HMAC-SHA256), so that
        # whoever can write to Redis without it cannot post as a member.
        "secret": None,
        # The url is a node of a Redis Cluster.
        "cluster": False,
    },
    # Any WebSocketServer config key (see the README), e.g.
    # max_received_message_size or keepalive_interval.
    "websocket": {},
}

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) and value else "must be a non-empty string"


def _optional_string(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else "must be a string"


def _optional(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    return lambda value: None if value is None else check(value)


def _integer(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be an integer from {low} to {high}"
        return None
    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _seconds(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 3600:
        return "must be a number of seconds from 0 to 3600"
    return None


def _number(low: float, high: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not low <= value <= high:
            return f"must be a number from {low:g} to {high:g}"
        return None
    return check


def _origins(value: Any) -> str | None:
    if not isinstance(value, list) or not all(
            isinstance(item, str) and item.startswith(("http://", "https://")) for item in value):
        return "must be a list of origins like \"https://chat.example.com\""
    return None


def _choice(*choices: str) -> Callable[[Any], str | None]:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def _level(value: Any) -> str | None:
    return None if isinstance(value, str) and value.upper() in _LEVELS else \
        f"must be one of {', '.join(_LEVELS)}"


_CHECKS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "server": {"host": _string, "port": _integer(0, 65535), "unix_socket": _optional_string,
               "workers": _integer(1, 256),
               "certfile": _optional_string, "keyfile": _optional_string, "log_level": _level,
               "log_format": _choice("text", "json"), "metrics": _bool,
               "metrics_port": _optional(_integer(0, 65535)),
               "metrics_host": _optional(_string),
               "drain_period": _seconds, "max_connections_per_ip": _integer(0, 10_000_000)},
    "chat": {"history": _integer(0, 100000), "history_bytes": _integer(1024, 1 << 30),
             "max_text": _integer(1, 10_000_000), "max_rooms": _integer(1, 10_000_000),
             "rate": _number(0.1, 1e6), "burst": _integer(1, 1_000_000),
             "resend_window": _seconds, "allowed_origins": _origins,
             "presence_ttl": _number(1, 3600)},
    "redis": {"url": _optional_string, "channel_prefix": _string,
              "secret": _optional_string, "cluster": _bool},
}


def load_file(path: str) -> dict[str, dict[str, Any]]:
    """Read a TOML settings file; SettingsError for a syntax error."""
    import tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: invalid TOML: {exc}") from None


def validate(settings: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Check sections and keys; SettingsError names ``source`` and the key."""
    for section, values in settings.items():
        if section not in DEFAULTS:
            raise SettingsError(f"{source}: unknown section [{section}] "
                                f"(known: {', '.join(DEFAULTS)})")
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: {section} must be a table")
        if section == "websocket":
            try:
                server_config(values)
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"{source}: [websocket] {exc}") from None
            continue
        checks = _CHECKS[section]
        check_keys(checks, values,
                   unknown=lambda key: SettingsError(
                       f"{source}: unknown key {section}.{key} (known: {', '.join(checks)})"),
                   invalid=lambda key, problem, value: SettingsError(
                       f"{source}: {section}.{key} {problem} (got {value!r})"))
    return settings


def merge(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Defaults, then each layer over it, section by section."""
    result = copy.deepcopy(DEFAULTS)
    for layer in layers:
        for section, values in layer.items():
            result[section].update(values)
    return result
