"""Sphinx helpers for the wsframework docs.

* ``.. wsf-config-keys:: server|client|both`` writes one ``confval`` entry
  per config key, with the defaults read from
  :data:`wsframework.config.SERVER_DEFAULTS` / ``CLIENT_DEFAULTS`` at build
  time and the meaning taken from :data:`DESCRIPTIONS` below.  A key
  without a description is a build warning (an error under ``-W``), so a
  new key cannot ship undocumented: add a line to :data:`DESCRIPTIONS`.
* ``.. event:: ClassName.name(args)`` documents an event; it lands in the
  inventory as ``std:event ClassName.name`` (tests/project/test_docs.py checks
  that every event the library emits has one).
"""

from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)

#: key → what it means (reStructuredText).  Every key of SERVER_DEFAULTS and
#: CLIENT_DEFAULTS needs one; keep the order of the keys roughly as in
#: wsframework/config.py.
DESCRIPTIONS: dict[str, str] = {
    # -- the server's HTTP side
    "http_server": (
        "The gevent ``StreamServer`` or ``pywsgi.WSGIServer`` to take upgrade requests "
        "on (Node's ``httpServer``).  Set by :meth:`~wsframework.WebSocketServer.listen`; "
        "give it to :meth:`~wsframework.WebSocketServer.mount` to share a server you "
        "already have."),
    # -- sizes
    "max_received_frame_size": (
        "Largest frame payload read, in bytes.  A bigger frame fails the connection with "
        "1009 \"Frame size of N bytes exceeds maximum accepted frame size\" before its "
        "payload is read."),
    "max_received_message_size": (
        "Largest message, in bytes, after reassembly and decompression.  Checked on every "
        "data frame (Node checks only continuations); over it the connection fails with "
        "1009 \"Maximum message size exceeded.\".  It also bounds a message's frames: at most "
        "1,024 plus one per 16 bytes of the limit (1009 \"Message of more than N frames.\"), "
        "so a message of endless empty continuations ends."),
    "fragment_outgoing_messages": (
        "Split outgoing messages longer than :confval:`fragmentation_threshold` into "
        "several frames."),
    "fragmentation_threshold": (
        "Largest payload of an outgoing data frame, in bytes (≥ 1)."),
    "assemble_fragments": (
        "Reassemble fragmented messages and emit ``message``.  When False, every frame "
        "is emitted as ``frame`` instead (fragment order and UTF-8 are still checked)."),
    "disable_nagle_algorithm": (
        "Set ``TCP_NODELAY`` on the socket, so small frames leave at once."),
    "close_timeout": (
        "Seconds to wait for the peer's close frame (or, on the client, for the server "
        "to close TCP) after a close frame was sent; then the socket is closed anyway.  "
        "Also bounds how long queued messages wait for a consumer when the peer closes."),
    # -- keepalive
    "keepalive": (
        "Send a ping after :confval:`keepalive_interval` seconds without incoming data "
        "(server default True, client default False, as in Node)."),
    "keepalive_interval": (
        "Idle seconds before a keepalive ping.  Any received data restarts the timer; "
        "time spent paused does not count."),
    "drop_connection_on_keepalive_timeout": (
        "Drop the connection when nothing arrives within "
        ":confval:`keepalive_grace_period` after a keepalive ping (reported as 1006 "
        "\"Peer not responding.\"); when False, just keep pinging."),
    "keepalive_grace_period": (
        "Seconds to wait for any data after a keepalive ping before dropping."),
    "use_native_keepalive": (
        "Use TCP keepalive (``SO_KEEPALIVE``, idle time :confval:`keepalive_interval`) "
        "instead of WebSocket pings."),
    # -- output and the receive queue (port extensions)
    "output_high_water_mark": (
        "Bytes queued for the socket above which ``send*`` return False; a ``drain`` "
        "event follows when the queue is written out.  A port extension."),
    "output_buffer_limit": (
        "Bytes queued for a peer that does not read beyond which "
        ":confval:`slow_consumer_policy` applies.  A port extension."),
    "slow_consumer_policy": (
        "What a send does once :confval:`output_buffer_limit` bytes wait: ``\"close\"`` "
        "(close with 1008), ``\"drop\"`` (drop the new message; its callback gets the "
        "error), ``\"drop_oldest\"`` (drop queued messages not yet started) or "
        "``\"wait\"`` (block the sending greenlet until there is room)."),
    "receive_queue_size": (
        "Messages a background reader queues for :meth:`~wsframework.WebSocketConnection."
        "receive` before it stops reading (TCP then pushes back on the peer)."),
    "receive_queue_bytes": (
        "Bytes of queued messages beyond which the background reader stops reading."),
    # -- permessage-deflate (RFC 7692)
    "permessage_deflate": (
        "Offer (client) or accept (server) permessage-deflate compression.  WebSocket-Node "
        "has no extensions; ``ws`` and ``websockets`` negotiate this one by default too."),
    "compression_level": "zlib compression level, 0–9.",
    "compression_memory_level": "zlib ``memLevel`` of the compressor, 1–9.",
    "compression_threshold": "Messages shorter than this many bytes are sent uncompressed.",
    "server_no_context_takeover": (
        "The server resets its compressor after each message (less memory, worse ratio)."),
    "client_no_context_takeover": "The client resets its compressor after each message.",
    "server_max_window_bits": (
        "The server's LZ77 window, 8–15 bits, or None for zlib's 15."),
    "client_max_window_bits": (
        "The client's LZ77 window, 8–15 bits, or None for zlib's 15."),
    # -- the server's handshake
    "auto_accept_connections": (
        "Accept every valid handshake with the first requested subprotocol and the "
        "request's origin, without a ``request`` event."),
    "ignore_x_forwarded_for": (
        "Ignore ``X-Forwarded-For``: ``remote_address`` is then the TCP peer.  The "
        "default (False, as in Node) trusts the header, which any client can send — "
        "see :doc:`/explanation/security`."),
    "parse_cookies": "Parse the ``Cookie`` header into ``request.cookies``.",
    "parse_extensions": (
        "Parse ``Sec-WebSocket-Extensions`` into ``request.requested_extensions``."),
    "handshake_timeout": (
        "Seconds a client has to send its handshake request (and finish TLS) after "
        "connecting; None waits forever.  A port extension."),
    "http_idle_timeout": (
        "Seconds an HTTP exchange may make no progress before its connection is reset: "
        "a response (a page of a mounted WSGI app, a rejection, the 101) the client takes "
        "no byte of, a request body that stops arriving, a keep-alive connection waiting "
        "for its next request.  Without it a client that stops reading holds a greenlet "
        "and the kernel's send queue for ever.  None: no limit.  A port extension."),
    "request_timeout": (
        "Seconds the ``request`` handlers have to accept or reject a request; then it "
        "gets 503.  None waits forever, as Node does.  A port extension."),
    "max_connections": (
        "Most connections the server holds at once, counting handshakes waiting for an "
        "answer; beyond it a request gets 503.  None: no limit.  A port extension."),
    "max_connections_per_ip": (
        "Most connections from one TCP peer address (never X-Forwarded-For), counted as "
        ":confval:`max_connections`; beyond it a request gets 503.  On a server that reads "
        "the request heads itself (``listen()``, a mounted ``StreamServer``) a head still "
        "arriving counts too, and a connection over the limit gets its 503 (TLS: is "
        "closed) before anything is read from it, so one address cannot hold sockets by "
        "never finishing its heads; on a WSGI server, where pywsgi reads the heads of all "
        "HTTP requests, only upgrades count.  None: no limit.  A port extension."),
    "allowed_origins": (
        "The ``Origin`` values accepted (compared exactly, case-insensitively); any other "
        "gets 403 before a ``request`` handler runs.  ``None`` in the list admits requests "
        "without an Origin (non-browser clients).  The default, None, checks nothing.  "
        "Against cross-site WebSocket hijacking — see :doc:`/explanation/security`.  A port "
        "extension."),
    "backlog": (
        "The listen queue of a server made by ``WebSocketServer.listen()``: TCP "
        "connections the kernel holds until they are accepted (gevent's default is "
        "128, too few for a reconnect storm of thousands of clients).  A port "
        "extension."),
    "metrics": (
        "Count into Prometheus series (``pip install 'wsframework[metrics]'``): ``True`` "
        "uses ``prometheus_client``'s default registry, a ``CollectorRegistry`` that one.  "
        "Off, nothing is imported or counted.  See :doc:`/reference/metrics`.  A port "
        "extension."),
    "max_connection_lifetime": (
        "Seconds after which an accepted connection is closed with 1001 \"Connection "
        "lifetime reached\", so that long-lived clients reconnect and load spreads again "
        "over workers and machines; None (the default) never.  A port extension."),
    "connection_lifetime_jitter": (
        "The share (0 to 1) of ``max_connection_lifetime`` taken off at random, per "
        "connection, so that connections opened together do not all end together.  A port "
        "extension."),
    "ready_connection_share": (
        "With ``max_connections``: above this share of it, ``WebSocketServer.ready`` (and "
        "the chat's ``/readyz``) says not ready, so a load balancer sends new clients "
        "elsewhere before the hard limit refuses them.  A port extension."),
    # -- the client
    "websocket_version": (
        "The protocol version the client speaks: 13 (RFC 6455) or 8 (an older draft; "
        "only the Origin header name and the version number differ)."),
    "tls_options": (
        "For ``wss://``: an ``ssl.SSLContext``, or a dict with ``context``, ``cafile``, "
        "``certfile``, ``keyfile``, ``verify`` (False skips certificate checks), "
        "``server_hostname`` and ``headers`` (extra request headers, wss only)."),
    "open_timeout": (
        "Seconds allowed for the TCP connect, TLS and the handshake together; None waits "
        "forever.  A port extension."),
    "proxy": (
        "The proxy the connection goes through: ``True`` reads ``HTTPS_PROXY`` (``wss``), "
        "``HTTP_PROXY`` (``ws``) or ``ALL_PROXY`` and ``NO_PROXY`` from the environment, as "
        "``urllib`` does; a URL (``http://``, ``https://``, ``socks5://``, ``socks5h://``, "
        "``socks4://``, ``socks4a://``, with ``user:password@`` for authentication) forces "
        "that proxy; ``None`` connects directly.  SOCKS needs ``wsframework[socks]``.  "
        "See :doc:`/howto/proxies`.  A port extension."),
    "proxy_tls_options": (
        "For an ``https://`` proxy (TLS to the proxy itself): an ``ssl.SSLContext`` or a "
        "dict as for ``tls_options``.  A port extension."),
    "unix_socket_path": (
        "Connect to this Unix domain socket instead of the URL's host and port; the URL "
        "still gives the ``Host`` header and the resource.  ``ws+unix:/path:/resource`` "
        "URLs say both at once.  See :doc:`/howto/unix`.  A port extension."),
}

_SIDES = ("server", "client", "both")


def _format_default(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return f"``{value}``"
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        kib = value // 1024
        unit = f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"
        return f"``{value}`` ({unit})"
    if isinstance(value, float):
        return f"``{value}`` s"
    return f"``{value!r}``"


class ConfigKeys(SphinxDirective):
    """``.. wsf-config-keys:: server`` — the keys of one side only;
    ``client`` likewise; ``both`` — the keys the two sides share."""

    required_arguments = 1
    option_spec = {"exclude": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        from wsframework.config import CLIENT_DEFAULTS, SERVER_DEFAULTS

        side = self.arguments[0]
        if side not in _SIDES:
            raise self.error(f"wsf-config-keys takes one of {_SIDES}, not {side!r}")
        if side == "server":
            keys = [k for k in SERVER_DEFAULTS if k not in CLIENT_DEFAULTS]
        elif side == "client":
            keys = [k for k in CLIENT_DEFAULTS if k not in SERVER_DEFAULTS]
        else:
            keys = [k for k in SERVER_DEFAULTS if k in CLIENT_DEFAULTS]
        lines: list[str] = []
        for key in keys:
            description = DESCRIPTIONS.get(key)
            if not description:
                logger.warning(
                    "config key %r has no description: add it to DESCRIPTIONS in "
                    "docs/_ext/wsfdocs.py", key, location=self.get_location())
                description = "(not documented yet)"
            if side == "both":
                server_default = _format_default(SERVER_DEFAULTS[key][0])
                client_default = _format_default(CLIENT_DEFAULTS[key][0])
                default = (server_default if server_default == client_default
                           else f"{server_default} (server), {client_default} (client)")
            else:
                table = SERVER_DEFAULTS if side == "server" else CLIENT_DEFAULTS
                default = _format_default(table[key][0])
            lines += [f".. confval:: {key}", f"   :default: {default}", ""]
            lines += ["   " + line for line in description.splitlines()] + [""]
        return self.parse_text_to_nodes("\n".join(lines))


def _parse_event(env, signature: str, signode: addnodes.desc_signature) -> str:
    """``ClassName.name(args)``: shown as ``name(args)``, named
    ``ClassName.name`` in the index and the inventory."""
    qualified, _, args = signature.partition("(")
    owner, _, name = qualified.strip().rpartition(".")
    signode += addnodes.desc_annotation("event ", "event ")
    signode += addnodes.desc_name(name, name)
    if args:
        signode += addnodes.desc_sig_punctuation("", "(")
        signode += nodes.Text(args.rstrip(")"))
        signode += addnodes.desc_sig_punctuation("", ")")
    return f"{owner}.{name}" if owner else name


def setup(app):
    app.add_directive("wsf-config-keys", ConfigKeys)
    app.add_object_type("event", "event", indextemplate="pair: %s; event",
                        parse_node=_parse_event)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
