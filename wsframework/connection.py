"""``WebSocketConnection``: one open WebSocket over a gevent socket.

The greenlet model, in short:

* **Reading.**  Exactly one greenlet reads the socket at a time (the
  "read owner").  A greenlet blocked in :meth:`receive` reads frames
  itself, so the blocking style costs no greenlet switch per message.
  When nobody is reading — event-style code, or a consumer busy elsewhere —
  a background reader greenlet takes over and queues messages for
  :meth:`receive`.  Event handlers run in whichever greenlet is reading.
* **Parking.**  An event-style connection of a ``listen()`` server on a
  plain socket holds no greenlet while idle: between frames, with nothing
  buffered, its reader arms the socket's read watcher and returns (see
  :meth:`run`).  When data comes, the watcher hands the connection to one
  of a small pool of reader greenlets, which reads it as above until it
  is idle again.
* **Writing** never blocks the caller.  A frame is written with a
  non-blocking ``send``; whatever the kernel does not take is queued and a
  flusher greenlet writes it.  Each frame is queued whole and in order, so
  sends from many greenlets never interleave, and no lock is needed.
  ``send*`` return False above ``output_high_water_mark``; ``drain`` is
  emitted when the queue empties again.
* **Timers** (keepalive, close timeout) are libev/libuv timer watchers, not
  greenlets; what they trigger runs in a short-lived greenlet.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as _socket
import ssl
import struct
from collections import deque
from typing import Any, Callable, Iterable, Iterator

import gevent
from gevent import get_hub, getcurrent
from gevent.socket import socket as GeventSocket
from gevent.event import Event

from .events import EventEmitter, Once
from .exceptions import ConnectionClosedError, ProtocolError, WebSocketError
from .outgoing import CLOSE, CORKED, FAILED, FULL, QUEUED, SENT, Outgoing, call_back
from .protocol.close_codes import CLOSE_DESCRIPTIONS, CloseCode, close_reply, is_valid_close_code
from .protocol.extensions import Extension
from .protocol.frame import WebSocketFrame, encode_close_payload
from .protocol.framing import (MAX_CONTROL_PAYLOAD, SMALL_BINARY_HEADS, SMALL_TEXT_HEADS,
                               Opcode, Side, encode_frame, encode_message)
from .protocol.keepalive import KeepaliveAction, keepalive_step
from .protocol.message import WebSocketMessage
from .protocol.parser import FrameParser
from .protocol.streams import SCRATCH_SIZE, BufferedReader, scratch, scratch_view
from .protocol.timerwheel import wheel_for
from .protocol.utf8 import decode_utf8, utf8_length
from .readers import Parked, checks_for, pool_for
from .receiving import recv_small
from .sending import send_now, send_small

__all__ = ["WebSocketConnection"]

logger = logging.getLogger("wsframework.connection")

OPEN = "open"
PEER_REQUESTED_CLOSE = "peer_requested_close"
ENDING = "ending"
CLOSED = "closed"

# Plain ints of the opcodes for the hot paths (an IntEnum compares slower).
_TEXT, _BINARY = Opcode.TEXT.value, Opcode.BINARY.value
_CLOSE, _PING, _PONG = Opcode.CLOSE.value, Opcode.PING.value, Opcode.PONG.value
_BYTES_LIKE = (bytes, bytearray, memoryview)
# Close codes as plain ints: what close_reason_code and the close event
# report (an IntEnum would print as <CloseCode...>).
_NORMAL, _PROTOCOL_ERROR = CloseCode.NORMAL.value, CloseCode.PROTOCOL_ERROR.value
_ABNORMAL, _NOT_PROVIDED = CloseCode.ABNORMAL.value, CloseCode.NOT_PROVIDED.value
_INVALID_DATA, _POLICY_VIOLATION = CloseCode.INVALID_DATA.value, CloseCode.POLICY_VIOLATION.value
_INTERNAL_ERROR = CloseCode.INTERNAL_SERVER_ERROR.value
# The sides, looked up once (an Enum member's lookup is slow).
_SERVER, _CLIENT = Side.SERVER, Side.CLIENT

Callback = Callable[[Exception | None], Any]


def _os_socket(sock: Any) -> Any:
    """The OS-level socket inside a plain (not TLS) gevent socket, or None."""
    if type(sock) is not GeventSocket:
        return None
    try:
        raw = sock._sock
        raw.sendmsg                        # noqa: B018 - a closed one raises here
        return raw if raw.fileno() >= 0 else None
    except (OSError, AttributeError):    # already closed
        return None


class _NonBlocking:
    """``send``/``recv_into`` of a socket other than a plain gevent one
    (TLS, say), with the send that never waits (gevent's SSL sockets take
    a ``timeout`` of 0.0)."""

    __slots__ = ("sock",)

    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def send(self, data: bytes) -> int:
        return self.sock.send(data, 0, 0.0)

    def recv_into(self, view: memoryview) -> int:
        return self.sock.recv_into(view)


# A message received by the one-step read is made with this, not the class
# call (see _read_woken).
_new_message = object.__new__

# A keepalive ping's payload when metrics are on: a tag and the loop time it
# was sent at, echoed by the pong (wsframework_ping_rtt_seconds).
_RTT_TAG = b"wsf"
_RTT = struct.Struct("!d")

# A large payload's rest is waited for with the socket's receive low-water
# mark raised (SO_RCVLOWAT) to half of it, at most a quarter of the
# receive buffer: the kernel wakes the reader a few times per large frame
# rather than once per arriving segment, and what is left to copy after
# the last byte comes stays small (halves, not one big read at the end).
# Linux only (its TCP honours the mark in epoll); no mark below this.
_LOWAT_MIN = 0x20000
_LOWAT_OK = hasattr(_socket, "SO_RCVLOWAT") and os.uname().sysname == "Linux"
_SOL_SOCKET, _SO_RCVBUF = _socket.SOL_SOCKET, _socket.SO_RCVBUF
_SO_RCVLOWAT = getattr(_socket, "SO_RCVLOWAT", 0)


def _count_in(metrics, message: "WebSocketMessage") -> None:
    """Count a received message (payload bytes: UTF-8 for text)."""
    if message.type == "utf8":
        metrics.on_message_in(False, utf8_length(message.utf8_data))
    else:
        metrics.on_message_in(True, len(message.binary_data))


def _keepalive_due(connection: "WebSocketConnection") -> None:
    """The keepalive wheel's callback: ``connection``'s deadline has come."""
    connection._keepalive_at = 0.0
    connection._keepalive = False
    connection._on_keepalive_timer()


class _ReadInterrupted(Exception):
    """Thrown into a reader waiting for data when the connection is paused;
    the parser keeps its progress, so nothing is lost."""


def _truncate_utf8(text: str, limit: int) -> bytes:
    """``text`` encoded, cut to ``limit`` bytes on a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data
    return data[:limit].decode("utf-8", "ignore").encode("utf-8")


def _control_payload(data: Any) -> bytes:
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, _BYTES_LIKE):
        data = str(data).encode("utf-8")
    data = bytes(data)
    if len(data) > MAX_CONTROL_PAYLOAD:
        raise ValueError(f"control frame payload is {len(data)} bytes; at most 125 are allowed")
    return data


def close_quietly(sock: Any, how: int = _socket.SHUT_RDWR) -> None:
    """Shut ``sock`` down (``how``) and close it, ignoring socket errors:
    the peer may be gone already."""
    try:
        if (type(sock) is GeventSocket and sock._read_event is not None
                and sock._read_event.callback is None and sock._write_event.callback is None):
            # Nobody waits on the socket, so gevent's shutdown would only
            # shut the OS socket down: that, without its wrapper.
            sock._sock.shutdown(how)
        else:
            sock.shutdown(how)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def _error_name(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    return errno.errorcode.get(code, str(code)) if code else type(exc).__name__


class WebSocketConnection(EventEmitter):
    """An open WebSocket connection, on the server or the client side.

    Built by ``WebSocketRequest.accept()`` and by the client; the arguments
    follow WebSocket-Node: the socket, the negotiated extensions and
    subprotocol, whether to mask outgoing frames (True on the client; a
    :class:`~wsframework.protocol.framing.Side` is taken too), and the config of the
    server or client.  ``initial_data`` holds bytes that arrived together
    with the handshake; ``close_hook(code, description)``, if given, runs
    once when the connection closes, before any ``close`` handler (the
    server's bookkeeping); ``metrics`` (the server's ``ServerMetrics``, or
    None) counts this connection's traffic; ``remote_addresses``, if given,
    are the peer's addresses as the handshake gave them (the first is
    :attr:`remote_address`), else the address is read from the socket.
    """

    CLOSE_REASON_NORMAL = CloseCode.NORMAL.value
    CLOSE_REASON_GOING_AWAY = CloseCode.GOING_AWAY.value
    CLOSE_REASON_PROTOCOL_ERROR = CloseCode.PROTOCOL_ERROR.value
    CLOSE_REASON_UNPROCESSABLE_INPUT = CloseCode.UNPROCESSABLE_INPUT.value
    CLOSE_REASON_RESERVED = CloseCode.RESERVED.value
    CLOSE_REASON_NOT_PROVIDED = CloseCode.NOT_PROVIDED.value
    CLOSE_REASON_ABNORMAL = CloseCode.ABNORMAL.value
    CLOSE_REASON_INVALID_DATA = CloseCode.INVALID_DATA.value
    CLOSE_REASON_POLICY_VIOLATION = CloseCode.POLICY_VIOLATION.value
    CLOSE_REASON_MESSAGE_TOO_BIG = CloseCode.MESSAGE_TOO_BIG.value
    CLOSE_REASON_EXTENSION_REQUIRED = CloseCode.EXTENSION_REQUIRED.value
    CLOSE_REASON_INTERNAL_SERVER_ERROR = CloseCode.INTERNAL_SERVER_ERROR.value
    CLOSE_REASON_TLS_HANDSHAKE_FAILED = CloseCode.TLS_HANDSHAKE_FAILED.value
    CLOSE_DESCRIPTIONS = CLOSE_DESCRIPTIONS

    STATE_OPEN = OPEN
    STATE_PEER_REQUESTED_CLOSE = PEER_REQUESTED_CLOSE
    STATE_ENDING = ENDING
    STATE_CLOSED = CLOSED

    # The attributes read or written for every message of a parked
    # connection come first, right after the object's header: at
    # thousands of connections each message then touches 3-4 cache lines
    # of its connection rather than most of its 8.
    __slots__ = (
        "_parked", "_read_event", "_drained", "_parser", "state", "_read_owner", "_raw",
        "_on_message", "_replying",
        "_keepalive", "_last_receive", "_ping_sent_at", "_loop", "_metrics", "_extensions",
        "mask_outgoing_packets", "_fragment_size", "_reader", "_out", "_socket_closed",
        "_waker", "input_paused", "_lowat",
        "socket", "config", "protocol", "remote_address", "remote_addresses",
        "websocket_version", "close_reason_code", "close_description", "connected",
        "output_buffer_full", "assemble_fragments", "max_received_message_size",
        "close_timeout", "_side", "_queue", "_queue_limit", "_available", "_space",
        "_background", "_resumed", "_closed", "_close_emitted", "_close_timer",
        "_check_scheduled", "_close_when_flushed", "_close_received", "_waiting", "_checks",
        "_queue_full", "_queue_bytes", "_queue_byte_limit", "_close_hook", "_consumer_idle",
        "_keepalive_at", "_closed_locally", "_may_park", "__weakref__",
    )

    def __init__(self, socket: Any, extensions: list | None = None,
                 protocol: str | None = None, mask_outgoing_packets: bool | Side = False,
                 config: dict | None = None, *, initial_data: bytes = b"",
                 close_hook: Callable[[int, str | None], None] | None = None,
                 metrics: Any = None, remote_addresses: list[str | None] | None = None,
                 ) -> None:
        self._events = None                 # EventEmitter.__init__, without the call
        self._on_message: Callable[[WebSocketMessage], Any] | None = None
        # Whether the one-step read is in its message handler with nothing
        # received ahead (until anything more is received): send() then
        # knows the reader's buffer is empty without reading it.
        self._replying = False
        if isinstance(mask_outgoing_packets, Side):
            side = mask_outgoing_packets
        else:
            side = _CLIENT if mask_outgoing_packets else _SERVER
        if config is None:
            from .config import client_config, server_config
            config = client_config({}) if side is _CLIENT else server_config({})
        self.socket = socket
        self.config = config
        self.protocol = protocol
        self._extensions: list | None = extensions or None
        self._side = side
        self.mask_outgoing_packets = side is _CLIENT      # side.masks_outgoing
        if remote_addresses is None:
            try:
                peer = socket.getpeername()
                self.remote_address = peer[0] if isinstance(peer, tuple) else str(peer)
            except (OSError, AttributeError):
                self.remote_address = None
            remote_addresses = [self.remote_address]
        else:
            # Known already (the server's request): no system call.
            self.remote_address = remote_addresses[0]
        self.remote_addresses = remote_addresses
        self.websocket_version = config.get("websocket_version", 13)
        self.close_reason_code = -1
        self.close_description: str | None = None
        self.state = OPEN
        self.connected = True
        self.input_paused = False
        self.output_buffer_full = False
        self.assemble_fragments = config["assemble_fragments"]
        self.max_received_message_size = config["max_received_message_size"]
        self.close_timeout = config["close_timeout"]
        # Outgoing messages are split into frames of this size (0: never).
        self._fragment_size = (config["fragmentation_threshold"]
                               if config["fragment_outgoing_messages"] else 0)
        self._queue_limit = config["receive_queue_size"]
        self._queue_byte_limit = config["receive_queue_bytes"]
        self._queue_bytes = 0
        self._consumer_idle: Event | None = None

        self._waiting = False
        self._drained = False
        self._lowat = 1                     # the socket's SO_RCVLOWAT (see _wait_for_data)
        raw = _os_socket(socket)
        if raw is not None:
            # The hot path talks to the OS socket itself and waits on gevent's
            # watcher (gevent's wrappers cost a frame and, for the receive
            # that finds nothing, an exception per message).  No bound
            # methods are kept: each costs ~90 bytes per idle connection.
            self._raw = raw
            self._read_event = socket._read_event
        else:
            self._raw = _NonBlocking(socket)
            self._read_event = None
        self._queue_full = False
        self._reader = BufferedReader(self._receive, initial_data)
        self._parser = FrameParser(
            self._reader, expect_masked=side is _SERVER,      # side.expects_masked
            max_frame_size=config["max_received_frame_size"],
            max_message_size=config["max_received_message_size"],
            assemble_fragments=self.assemble_fragments,
            extensions=[e for e in extensions or () if isinstance(e, Extension)])

        # The write side (queue, cork, callbacks, slow-consumer policy):
        # made when first needed, see _outgoing().
        self._out: Outgoing | None = None

        self._queue: deque | None = None
        self._available: Event | None = None
        self._space: Event | None = None
        self._read_owner = None
        self._background = False
        self._resumed: Event | None = None
        self._closed: Event | None = None
        self._close_emitted = False
        self._socket_closed = False
        self._close_when_flushed = False
        self._close_received = False
        self._closed_locally = False        # this side sent the first close (or dropped)
        self._check_scheduled = False
        # Parking (see run(park=True)): allowed for this connection; the
        # read watcher's callback (a Parked's wake), made at the first
        # park; the same while parked, else None.
        self._may_park = False
        self._waker: Callable[[], None] | None = None
        self._parked: Callable[[], None] | None = None

        self._loop = gevent.get_hub().loop
        self._checks = checks_for(self._loop)
        self._close_timer = None
        # The owner's bookkeeping, run once on close (see _set_closed): a
        # slot rather than a handler, as it costs no event table.
        self._close_hook = close_hook
        # Read by the hot paths: one check when metrics are off.
        self._metrics = metrics
        self._keepalive_at = 0.0
        # Whether _keepalive_at is set: what the one-step read checks (a
        # bool rather than a float of each connection's own: at thousands
        # of connections that float is a cache miss per message).
        self._keepalive = False
        self._last_receive = 0.0
        self._ping_sent_at = 0.0

        if config["disable_nagle_algorithm"]:
            if raw is not None:
                try:
                    raw.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                except OSError:
                    pass
            else:
                self._setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        if config["keepalive"]:
            if config["use_native_keepalive"]:
                self._enable_native_keepalive(config["keepalive_interval"])
            else:
                self._start_keepalive()
        # Someone must read even if the owner of this object never calls
        # receive(): check once the creating greenlet yields.
        self._schedule_reader_check()

    @property
    def extensions(self) -> list:
        """The extensions agreed in the handshake (permessage-deflate, say)."""
        if self._extensions is None:
            return []
        return self._extensions

    @property
    def read_owner(self) -> Any:
        """The greenlet reading this connection right now, or None (a
        greenlet waiting for the close must not be the one that reads)."""
        return self._read_owner

    @property
    def closed_locally(self) -> bool:
        """Whether this side sent the first close frame (or dropped the
        connection): who ended it, for the close metrics."""
        return self._closed_locally

    def _handlers_changed(self, event: str | None) -> None:
        """Keep ``_on_message``: the ``message`` event's handler when it
        is the only one and not a ``once`` (what the one-step read calls
        without looking the event up: at thousands of connections, the
        handler table and its list are cache misses on every message)."""
        if event is None or event == "message":
            events = self._events
            handlers = events.get("message") if events else None
            self._on_message = (handlers[0] if handlers and len(handlers) == 1
                                and type(handlers[0]) is not Once else None)

    @property
    def side(self) -> Side:
        """Which end of the connection this is: ``Side.SERVER`` or ``Side.CLIENT``."""
        return self._side

    # ------------------------------------------------------------------ repr
    def __repr__(self) -> str:
        return f"<WebSocketConnection {self._side.value} {self.remote_address} {self.state}>"

    # ------------------------------------------------------------- sending
    def send(self, data: str | bytes, callback: Callback | None = None) -> bool:
        """Send ``data``: a str as a text message, bytes-like as binary.

        Returns False when the outgoing buffer is above its high-water mark
        (a ``drain`` event follows), else True.  ``callback(error)`` is
        called once the message is written (``error`` None) or failed.
        """
        kind = type(data)
        if (callback is None and (kind is str or kind is bytes) and self.state == OPEN
                and self._metrics is None and self._out is None and not self._socket_closed
                and self._read_event is not None and not self._extensions
                and not self.mask_outgoing_packets):
            if self._replying or len(self._reader.buf) <= self._reader.pos:
                # The usual case (a small message, nothing queued, corked or
                # received ahead of it, a plain socket) in one call that
                # frames and sends it: once per message sent.
                try:
                    unsent = send_small(self._raw, data, self._fragment_size)
                except OSError as exc:
                    self._on_socket_error(exc, "write")
                    return False
                if unsent == 0:
                    return True
                if unsent is not None:
                    return self._send_rest(data, unsent)
                # Not small: framed below.
        if kind is str:
            opcode, payload, heads = _TEXT, data.encode("utf-8"), SMALL_TEXT_HEADS
        elif kind is bytes:
            opcode, payload, heads = _BINARY, data, SMALL_BINARY_HEADS
        elif isinstance(data, _BYTES_LIKE):
            return self.send_bytes(data, callback)
        elif data is None:
            raise TypeError("Data provided must either be bytes-like (binary) or convert "
                            "to str (text)")
        else:
            return self.send_utf(str(data), callback)
        if self.state != OPEN:
            return self._refuse(callback)
        n = len(payload)
        metrics = self._metrics
        if metrics is not None:
            metrics.on_message_out(kind is bytes, n)
        if (n < 126 and not self._extensions and not self.mask_outgoing_packets
                and (n <= self._fragment_size or not self._fragment_size)):
            # encode_message's small-frame fast path, inlined: this runs
            # once per message sent.
            frame = heads[n] + payload
            reader = self._reader
            if (callback is None and self._out is None and self._read_event is not None
                    and len(reader.buf) <= reader.pos and not self._socket_closed):
                return self._send_direct(frame)     # _write's usual case
            return self._write(frame, callback, True)
        return self._write(encode_message(opcode, payload, self.mask_outgoing_packets,
                                          self._fragment_size, self._extensions),
                           callback, True)

    def send_utf(self, data: str, callback: Callback | None = None) -> bool:
        """Send a text message (str, encoded as UTF-8)."""
        if not isinstance(data, str):
            data = str(data)
        return self._send_message(_TEXT, data.encode("utf-8"), callback)

    def send_bytes(self, data: bytes, callback: Callback | None = None) -> bool:
        """Send a binary message (bytes, bytearray or memoryview)."""
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError("You must pass a bytes-like object to "
                            "WebSocketConnection.send_bytes()")
        return self._send_message(_BINARY, data, callback)

    def _send_message(self, opcode: int, payload: bytes, callback: Callback | None) -> bool:
        if self.state != OPEN:
            return self._refuse(callback)
        metrics = self._metrics
        if metrics is not None:
            metrics.on_message_out(opcode == _BINARY, len(payload))
        return self._write(self.encode_message(opcode, payload), callback, message=True)

    def _refuse(self, callback: Callback | None) -> bool:
        """A message sent when the connection is no longer open."""
        error = ConnectionClosedError(
            f"cannot send: the connection is {self.state.replace('_', ' ')}")
        if callback is not None:
            call_back(callback, error)
            return False
        raise error

    def send_frame(self, frame: WebSocketFrame, callback: Callback | None = None) -> bool:
        """Write one frame as given, masked if this side masks (Node API)."""
        frame.mask = self.mask_outgoing_packets
        return self._write(frame.to_bytes(), callback)

    def fragment_and_send(self, frame: WebSocketFrame, callback: Callback | None = None) -> bool:
        """Send a data frame's payload as a message, fragmented (Node API)."""
        if frame.opcode >= _CLOSE:
            raise ValueError("You cannot fragment control frames.")
        return self._send_message(frame.opcode, frame.binary_payload, callback)

    def ping(self, data: bytes | str = b"") -> None:
        """Send a ping (≤ 125 bytes; ValueError above).  Skipped when the
        connection is no longer open."""
        payload = _control_payload(data)
        if self.state == OPEN:
            self._write(encode_frame(Opcode.PING, payload, mask=self.mask_outgoing_packets))

    def pong(self, data: bytes | str = b"") -> None:
        """Send a pong (≤ 125 bytes); usually sent automatically.

        While output waits for a peer that does not read, only the latest
        pong waits with it, replacing any earlier one not yet written (RFC
        6455 §5.5.3 allows answering only the most recent ping): a ping
        flood cannot grow the outgoing queue.  It counts in
        :attr:`buffered_amount` and goes out after the frame being written.
        """
        payload = _control_payload(data)
        if self.state == OPEN:
            frame = encode_frame(Opcode.PONG, payload, mask=self.mask_outgoing_packets)
            out = self._out
            if out is not None and out.queue and not self._socket_closed:
                out.owe_pong(frame)         # the flusher is running: it writes it next
                return
            self._write(frame)

    # -- the seam for broadcast() ----------------------------------------------
    # server.broadcast() frames a message once for every connection that
    # frames it the same way, and writes it to most of them with one C loop
    # of system calls; these methods are what it needs of a connection.
    def encode_message(self, opcode: int, payload: bytes) -> bytes | list:
        """This connection's frames of one message (its extensions, masking
        and fragmentation; see :func:`wsframework.protocol.framing.encode_message`)."""
        return encode_message(opcode, payload, self.mask_outgoing_packets,
                              self._fragment_size, self._extensions)

    def shared_framing(self) -> int | None:
        """For broadcast(): the fragment size (0: none) of this connection's
        frames when they are plain (no extensions, no masking), so that the
        same bytes serve every connection with the same answer; None when
        it must frame each message itself."""
        if self._extensions or self.mask_outgoing_packets:
            return None
        return self._fragment_size

    @staticmethod
    def broadcast_targets(connections: Iterable["WebSocketConnection"], size: int,
                          ) -> tuple[list["WebSocketConnection"], list[Any],
                                     list["WebSocketConnection"]]:
        """For broadcast(): the open ``connections`` split into those to
        which a message of ``size`` payload bytes, framed plainly as one
        frame, may be written right now (plain socket, no extensions, no
        masking, nothing queued or corked), with their OS sockets, and the
        others (to be sent with :meth:`send_encoded`).  One call for all,
        as it runs per connection per broadcast."""
        direct: list[WebSocketConnection] = []
        socks: list[Any] = []
        others: list[WebSocketConnection] = []
        for connection in connections:
            if not connection.connected:
                continue
            if (connection._extensions or connection.mask_outgoing_packets
                    or connection._read_event is None or connection._socket_closed
                    or 0 < connection._fragment_size < size):
                others.append(connection)
                continue
            out = connection._out
            if out is not None and (out.queue or out.cork is not None):
                others.append(connection)
                continue
            direct.append(connection)
            socks.append(connection._raw)
        return direct, socks, others

    def direct_sent(self, data: bytes, result: int) -> None:
        """For broadcast(): ``data`` went to this connection's socket (see
        :meth:`broadcast_targets`), which took only ``result`` bytes (the
        rest is queued) or failed with errno ``-result``."""
        if result < 0:
            self._on_socket_error(OSError(-result, os.strerror(-result)), "write")
        else:
            self._settle(self._outgoing().enqueue(memoryview(data)[result:]), None)

    def send_encoded(self, data: bytes | list, callback: Callback | None = None) -> bool:
        """Send frames encoded for this connection (by :meth:`encode_message`,
        or shared by connections with the same :meth:`shared_framing`) as
        one data message: queued in order, under the slow-consumer policy."""
        return self._write(data, callback, message=True)

    # -- the outgoing queue --------------------------------------------------
    def _outgoing(self) -> Outgoing:
        """The write side, made on first need (an idle connection has none)."""
        out = self._out
        if out is None:
            config = self.config
            out = self._out = Outgoing(
                self.socket, self._raw, self._reader, plain=self._read_event is not None,
                try_send_ok=not isinstance(self.socket, ssl.SSLSocket),
                high_water=config["output_high_water_mark"],
                limit=config["output_buffer_limit"], policy=config["slow_consumer_policy"],
                metrics=self._metrics)
        return out

    def _write(self, data: bytes | list, callback: Callback | None = None,
               message: bool = False) -> bool:
        """Send ``data`` now or queue it behind what is queued.  Never
        blocks, except a data ``message`` under the "wait" policy when the
        queue is at ``output_buffer_limit``."""
        if self._socket_closed:
            if callback is not None:
                call_back(callback, ConnectionClosedError("the socket is closed"))
            return False
        out = self._out
        if out is None:
            reader = self._reader
            if (callback is None and type(data) is bytes and self._read_event is not None
                    and (not message or len(reader.buf) <= reader.pos)):
                # Nothing queued, nothing to gather: straight to the socket.
                return self._send_direct(data)
            out = self._outgoing()
        verdict = out.write(data, callback, message)
        if verdict == SENT:
            return True
        return self._settle(verdict, callback)

    def _send_rest(self, data: str | bytes, unsent: int) -> bool:
        """Queue the last ``unsent`` bytes of the small frame of ``data``
        that send_small could not hand to the kernel whole."""
        if type(data) is str:
            payload, heads = data.encode("utf-8"), SMALL_TEXT_HEADS
        else:
            payload, heads = data, SMALL_BINARY_HEADS
        frame = heads[len(payload)] + payload
        return self._settle(self._outgoing().enqueue(memoryview(frame)[len(frame) - unsent:]),
                            None)

    def _send_direct(self, data: bytes) -> bool:
        """Write ``data`` to a plain socket with nothing queued before it
        and no callback; what the kernel does not take is queued."""
        try:
            sent = send_now(self._raw, data)
        except OSError as exc:
            self._on_socket_error(exc, "write")
            return False
        if sent == len(data):
            return True
        return self._settle(self._outgoing().enqueue(memoryview(data)[sent:]), None)

    def _settle(self, verdict: int, callback: Callback | None) -> bool:
        """Act on a verdict of the outgoing queue; what send* returns."""
        if verdict == QUEUED or verdict == FULL:
            out = self._out
            if out.flusher is None:
                out.flusher = gevent.spawn(self._flush)
            if verdict == FULL:
                self.output_buffer_full = True
                return False
            return True
        if verdict == CORKED:
            self._loop.run_callback(self._uncork)
            return True
        if verdict == FAILED:
            error = self._out.error
            self._out.error = None
            self._on_socket_error(error, "write")
            if callback is not None:
                call_back(callback, error)
        elif verdict == CLOSE and self.state == OPEN:
            logger.warning("%r: slow consumer, %d bytes queued: closing with 1008",
                           self, self._out.size)
            self.drop(_POLICY_VIOLATION, "Slow consumer: output buffer limit exceeded")
        return verdict == SENT

    def _uncork(self) -> None:
        """Write the corked messages in one send (see Outgoing.write)."""
        out = self._out
        if out is not None and out.cork is not None:
            self._settle(out.uncork(), None)

    def _flush(self) -> None:
        """The flusher greenlet: write the queue, then act on how it went."""
        out = self._out
        try:
            error = out.flush()
        finally:
            out.flusher = None
        if error is not None:
            out.fail(error)
            self._on_socket_error(error, "write")
            return
        if self.output_buffer_full:
            self.output_buffer_full = False
            self.emit("drain")
        if self._close_when_flushed and not out.queue:
            self._close_socket()

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything sent so far is written to the socket.

        Returns False if ``timeout`` passed first.  The blocking-style
        counterpart of waiting for ``drain``.
        """
        out = self._out
        if out is None or self._socket_closed:
            return True
        self._uncork()
        return out.wait_flushed(timeout)

    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by ``send*`` and not yet written to the socket."""
        out = self._out
        return 0 if out is None else out.pending

    # ------------------------------------------------------------ receiving
    def receive(self, timeout: float | None = None) -> WebSocketMessage | None:
        """The next message, or None once the connection is closed.

        Raises :class:`TimeoutError` when ``timeout`` seconds pass first.
        Messages are delivered here only while no ``message`` listener is
        registered; with listeners, they go to the listeners.
        """
        deadline = None if timeout is None else self._loop.now() + timeout
        while True:
            queue = self._queue
            if queue:
                message = queue.popleft()
                self._queue_bytes -= len(message.data)
                if self._space is not None:
                    self._space.set()
                return message
            if self.state == CLOSED:
                return None
            if (self._read_owner is None and deadline is None and not self._background
                    and not self.input_paused):
                message = self._read_inline()
                if message is not None:
                    return message
                continue
            self._ensure_reader()
            if self._consumer_idle is not None:
                self._consumer_idle.set()     # every queued message was taken
            if self._available is None:
                self._available = Event()
            self._available.clear()
            remaining = None
            if deadline is not None:
                self._loop.update_now()
                remaining = deadline - self._loop.now()
                if remaining <= 0:
                    raise TimeoutError(f"no message within {timeout} s")
            self._available.wait(remaining)

    def __iter__(self) -> Iterator[WebSocketMessage]:
        """Messages until the connection closes: the connection is its own
        iterator (``for message in connection``)."""
        return self

    def __next__(self) -> WebSocketMessage:
        # A method rather than a generator: a greenlet blocked in a
        # generator keeps a deeper C stack (~1.7 KB more per idle connection).
        message = self.receive()
        if message is None:
            raise StopIteration
        return message

    def _read_inline(self) -> WebSocketMessage | None:
        self._read_owner = getcurrent()
        try:
            while self.state != CLOSED and not self.input_paused:
                message = self._read_step()
                if message is not None:
                    return message
            return None
        finally:
            self._read_owner = None
            if self.state != CLOSED:
                if self._background:
                    # Someone asked for a background reader meanwhile.
                    gevent.spawn(self._read_loop)
                elif not self._check_scheduled:
                    # _schedule_reader_check(), inlined: once per message.
                    self._check_scheduled = True
                    self._checks.add(self)

    def _schedule_reader_check(self) -> None:
        """After the consumer's read returns: if it does not read again by
        the next turn of the loop, start the background reader (pings and
        close frames must still be answered)."""
        if not self._check_scheduled:
            self._check_scheduled = True
            self._checks.add(self)


    def _check_reader(self) -> None:
        self._check_scheduled = False
        if self._read_owner is None and self.state != CLOSED and not self._background:
            self._ensure_reader()

    def _ensure_reader(self) -> None:
        """Start the background reader unless someone reads already."""
        if not self._background and self.state != CLOSED:
            self._background = True
            if self._read_owner is None:
                gevent.spawn(self._read_loop)
            # else: the inline reader hands over when it returns.

    def run(self, park: bool = False) -> bool:
        """Read and dispatch events in the calling greenlet until closed.

        The server calls this in the connection's own greenlet once the
        ``request`` handlers return; event-style code needs nothing else.
        With ``park`` (the server's own greenlets, on a plain socket), an
        idle connection "parks" instead of blocking: its socket's read
        watcher waits in the event loop and this returns True; a pooled
        reader greenlet reads on when data comes.  Whoever called must
        then leave the socket open: the connection closes it.
        """
        if self._read_owner is None and self.state != CLOSED:
            self._background = True
            if park and self._read_event is not None and self.socket.timeout is None:
                self._may_park = True
                # Nothing read yet: wait for the first bytes parked.
                self._drained = True
            return self._read_loop()
        return False

    def _read_loop(self) -> bool:
        """Read and dispatch until closed; True if the connection parked instead."""
        if self._read_owner is not None or self._parked is not None:
            return False                    # read already (a parked watcher reads on wake)
        self._read_owner = getcurrent()
        try:
            while self.state != CLOSED:
                if self._may_park and self._drained:
                    # The last receive emptied the kernel's buffer (or the
                    # watcher has not yet said there is more): park when
                    # nothing is buffered and no frame is half read.
                    reader = self._reader
                    if (len(reader.buf) <= reader.pos and not self._parser._in_frame
                            and self.state == OPEN and self._park()):
                        return True
                if self.input_paused:
                    if self._resumed is None:
                        self._resumed = Event()
                    self._resumed.wait()
                    continue
                message = self._read_step()
                if message is not None:
                    self._enqueue(message)
        except gevent.GreenletExit:
            pass
        finally:
            self._read_owner = None
        return False

    def _read_woken(self, now: float | None = None) -> bool:
        """Read on after a wake-up from parking; True if parked again.
        ``now``: the loop's time, if the caller has it (its reader pool
        shares one float for all the connections woken in a turn, rather
        than each connection making its own).

        An event-style connection's usual wake-up in one pass: one receive
        brings exactly one whole small text or binary frame; its message
        goes to the ``message`` listener and the connection parks again.
        Anything else (more bytes, a larger, fragmented or control frame,
        the end of the stream) goes on in the general read loop, with what
        was received in the reader's buffer.  A parked connection has
        nothing buffered, no frame half read and nothing corked (see
        :meth:`_park`), so the receive here cannot overtake older bytes.
        """
        parser = self._parser
        if (parser._msg_opcode is not None or self.state != OPEN
                or self._read_owner is not None or not parser.assemble_fragments):
            return self._read_loop()
        fast = False
        self._read_owner = getcurrent()
        try:
            try:
                data = recv_small(self._raw, scratch, parser.expect_masked, parser._small_limit)
            except OSError as exc:
                self._on_socket_error(exc, "read")
                return False
            if type(data) is not int:
                fast = True
                if self._keepalive:
                    # _touch(), inlined for its usual case
                    self._last_receive = self._loop.now() if now is None else now
                    if self._ping_sent_at:
                        self._touch()
                # WebSocketMessage(...), without the class call (which
                # runs __init__ in a frame of its own: ~1,000 instructions).
                message = _new_message(WebSocketMessage)
                if type(data) is str:
                    message.type = "utf8"
                    message.utf8_data = data
                    message.binary_data = None
                else:
                    message.type = "binary"
                    message.utf8_data = None
                    message.binary_data = data
                message.data = data
                metrics = self._metrics
                if metrics is not None:
                    _count_in(metrics, message)
                handler = self._on_message
                if handler is not None:
                    # Nothing was buffered ahead of this message (see above),
                    # so a reply need not look at the reader (see send()).
                    self._replying = True
                    try:                    # emit(), inlined for its usual case
                        handler(message)
                    except Exception:
                        logger.exception("%s handler for %r raised",
                                         type(self).__name__, "message")
                    finally:
                        self._replying = False
                elif self.has_listeners("message"):
                    self.emit("message", message)
                else:
                    self._enqueue(message)
            elif data > 0:
                if self._keepalive_at:
                    self._touch()
                self._reader.buf += scratch_view[:data]
                self._drained = data < SCRATCH_SIZE
            else:
                # -1: woken for nothing, so wait again; 0: the end of the
                # stream, which the general loop's receive sees again.
                self._drained = data < 0
        except gevent.GreenletExit:
            return False
        finally:
            self._read_owner = None
        if fast and self.state == OPEN and self._park():
            return True
        return self._read_loop()

    def _park(self) -> bool:
        """Wait for data in the event loop rather than in this greenlet
        (which then ends or serves another connection): arm the socket's
        read watcher with a :class:`Parked`.  False when that cannot be
        done (someone else's wait, a closed socket).  A watcher that the
        wake-up left armed (see :meth:`Parked.wake`) is kept as it is."""
        watcher = self._read_event
        armed = watcher.callback
        if self._socket_closed or (armed is not None and armed is not self._waker):
            return False
        out = self._out
        if out is not None and out.cork is not None:
            self._uncork()                  # replies out before we wait for more
            if self.state != OPEN or self._socket_closed:
                return False
            armed = watcher.callback
        if self._lowat > 1:
            self._set_lowat(1)              # any byte must wake a parked connection
        waker = self._waker
        if waker is None:
            waker = self._waker = Parked(self, pool_for(self._loop)).wake
        self._parked = waker
        if self.input_paused:
            # Paused: armed by resume().
            if armed is not None:
                watcher.stop()
        elif armed is None:
            watcher.start(waker)
        return True

    def _unpark(self) -> None:
        """Stop waiting in the event loop (woken, closing)."""
        if self._parked is not None:
            self._parked = None
            self._read_event.stop()
        else:
            self._disarm()

    def _disarm(self) -> None:
        """Stop the read watcher if a wake-up left it armed (see
        :meth:`Parked.wake`) and the connection is not parked: it must
        not call back, and whoever waits on the socket next needs it."""
        watcher = self._read_event
        if watcher is not None and self._parked is None:
            callback = watcher.callback
            if callback is not None and callback is self._waker:
                watcher.stop()

    def _enqueue(self, message: WebSocketMessage) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(message)
        if self._available is not None:
            self._available.set()
        self._queue_bytes += len(message.data)
        while ((len(queue) >= self._queue_limit or self._queue_bytes > self._queue_byte_limit)
               and self.state == OPEN):
            # The consumer is behind: stop reading (TCP pushes back on the
            # peer) until it catches up.  Keepalive does not count this time.
            if self._space is None:
                self._space = Event()
            self._space.clear()
            self._queue_full = True
            try:
                self._space.wait()
            finally:
                self._queue_full = False
                self._last_receive = self._loop.now()

    def _receive(self, view: memoryview) -> int:
        self._replying = False              # something may be buffered from now on
        out = self._out
        if out is not None and out.cork is not None:
            self._uncork()                  # replies out before we wait for more
        if self._read_event is None:        # not a plain gevent socket
            self._waiting = True
            try:
                n = self._raw.recv_into(view)
            finally:
                self._waiting = False
        else:
            if self._drained:
                # The last receive emptied the kernel's buffer: rather than
                # try (and fail) again, wait until the socket is readable.
                self._wait_for_data(len(view))
            elif self._lowat > 1 and len(view) < _LOWAT_MIN:
                self._set_lowat(1)
            while True:
                try:
                    n = self._raw.recv_into(view)
                    break
                except (BlockingIOError, InterruptedError):
                    pass
                # Waiting outside the except clause: an idle connection must
                # not keep the exception and its traceback alive.
                self._wait_for_data(len(view))
            self._drained = n < len(view)
        if self._keepalive_at and n:
            self._touch()
        return n

    def _wait_for_data(self, wanted: int = 0) -> None:
        """Block until the socket is readable; with ``wanted`` (the bytes the
        receive has room for) large, until a good part of them has come."""
        self._disarm()                      # left armed by a wake-up
        watcher = self._read_event
        self._waiting = True
        try:
            if self.socket.timeout is not None or watcher.callback is not None:
                if self._lowat > 1:
                    self._set_lowat(1)
                self.socket._wait(watcher)  # gevent's wait: timeouts, misuse checks
                return
            if wanted >= 2 * _LOWAT_MIN and _LOWAT_OK:
                self._set_lowat(wanted // 2)
            elif self._lowat > 1:
                self._set_lowat(1)
            # gevent's wait, inlined: the watcher switches back to us.  Fewer
            # C frames on the stack, which a greenlet blocked here (an idle
            # connection) keeps a copy of: ~1 KB less per idle connection.
            # Closing the socket elsewhere throws into us (gevent's
            # cancel_wait finds this greenlet as the callback's __self__).
            watcher.start(getcurrent().switch)
            try:
                get_hub().switch()
            finally:
                watcher.stop()
        finally:
            self._waiting = False

    def _set_lowat(self, wanted: int) -> None:
        """Make the kernel report the socket readable once ``wanted`` bytes
        are there, but at most a quarter of its receive buffer (so that
        the buffer can always reach the mark), and 1 below _LOWAT_MIN."""
        raw = self._raw
        try:
            if wanted > 1:
                wanted = min(wanted, raw.getsockopt(_SOL_SOCKET, _SO_RCVBUF) // 4)
                if wanted < _LOWAT_MIN:
                    wanted = 1
            if wanted != self._lowat:
                raw.setsockopt(_SOL_SOCKET, _SO_RCVLOWAT, wanted)
                self._lowat = wanted
        except OSError:                     # closed: the receive will say so
            pass

    def _read_step(self) -> WebSocketMessage | None:
        """Read one frame or message and act on it.  A message with no
        ``message`` listener to take it is returned for ``receive()``."""
        try:
            event = self._parser.next_event()
        except ProtocolError as exc:
            if self._close_received:
                # Garbage after the peer's close frame: just stop reading.
                self._set_closed()
                self._close_socket()
            else:
                self._fail(exc.code, exc.reason)
            return None
        except EOFError:
            self._on_eof()
            return None
        except OSError as exc:
            self._on_socket_error(exc, "read")
            return None
        except _ReadInterrupted:
            return None
        except Exception:
            # A bug of ours must not reach the application's handler, nor
            # leave the peer without a close frame.
            logger.exception("%r: internal error while reading", self)
            self._fail(_INTERNAL_ERROR, "Internal Server Error")
            return None
        if self._close_received:
            return None  # nothing may follow a close frame; ignore it
        if type(event) is WebSocketMessage:
            metrics = self._metrics
            if metrics is not None:
                _count_in(metrics, event)
            events = self._events
            if events and events.get("message"):
                self.emit("message", event)
                return None
            return event
        self._on_frame(event)
        return None

    # ------------------------------------------------------- control frames
    def _on_frame(self, frame: WebSocketFrame) -> None:
        if not self.assemble_fragments:
            self.emit("frame", frame)
        opcode = frame.opcode
        if opcode == _PING:
            self._on_ping(frame.binary_payload)
        elif opcode == _PONG:
            payload = frame.binary_payload
            if len(payload) == 11 and payload[:3] == _RTT_TAG:
                metrics = self._metrics
                if metrics is not None:
                    metrics.on_pong(self._loop.now() - _RTT.unpack_from(payload, 3)[0])
            self.emit("pong", payload)
        elif opcode == _CLOSE:
            self._on_close_frame(frame)

    def _on_ping(self, payload: bytes) -> None:
        if self.has_listeners("ping"):
            cancelled = []

            def cancel() -> None:
                cancelled.append(True)

            self.emit("ping", cancel, payload)
            if cancelled:
                return
        self.pong(payload)

    def _on_close_frame(self, frame: WebSocketFrame) -> None:
        state = self.state
        if state == ENDING:
            # The reply to our close: the handshake is complete.  We report
            # the code we sent (as Node does).
            self._close_received = True
            self._finish_handshake()
            return
        if state != OPEN:
            return
        code, reply_code = close_reply(frame.close_status, frame.invalid_close_frame_length)
        code = int(code)
        if code == _NOT_PROVIDED:
            description = CLOSE_DESCRIPTIONS[code]
        else:
            try:
                reason = decode_utf8(frame.binary_payload)
            except ProtocolError:
                self._fail(_INVALID_DATA, "Invalid UTF-8 Data Received")
                return
            description = reason or CLOSE_DESCRIPTIONS.get(code)
        self._await_consumer()
        if self.state != OPEN:
            return                         # closed meanwhile by our side
        self._close_received = True
        self.state = PEER_REQUESTED_CLOSE
        self.connected = False
        self.close_reason_code = code
        self.close_description = description
        self._stop_keepalive()
        self._write(encode_frame(_CLOSE, encode_close_payload(reply_code),
                                 mask=self.mask_outgoing_packets))
        self._finish_handshake()

    def _await_consumer(self) -> None:
        """Before answering a close or failing the connection, give a
        consumer of the receive queue the time (up to close_timeout) to take
        the messages that came first and answer them: nothing the peer sent
        before its close is dropped unanswered."""
        if not self._queue or self._read_owner is not getcurrent():
            return
        idle = self._consumer_idle = Event()
        try:
            idle.wait(self.close_timeout)
        finally:
            self._consumer_idle = None

    def _finish_handshake(self) -> None:
        """Both close frames are exchanged.  The server closes TCP first
        (RFC 6455 §7.1.1); the client waits for it, up to close_timeout."""
        if self._side is _SERVER:
            self._close_after_output()
        else:
            self._start_close_timer()
            if self._read_owner is None:
                self._ensure_reader()

    # ---------------------------------------------------------------- close
    def close(self, reason_code: int = _NORMAL, description: str | None = None) -> None:
        """Start the closing handshake with ``reason_code`` (1000 default).

        Returns at once; the ``close`` event fires when the peer answers or
        after ``close_timeout``.  Does nothing unless connected.
        """
        if not self.connected:
            return
        if isinstance(reason_code, bool) or not isinstance(reason_code, int):
            reason_code = _NORMAL
        elif isinstance(reason_code, CloseCode):
            reason_code = reason_code.value     # reported as a plain int
        if not is_valid_close_code(reason_code):
            raise ValueError(f"Close code {reason_code} is not valid.")
        if not isinstance(description, str):
            description = CLOSE_DESCRIPTIONS.get(reason_code, "")
        reason = description.encode("utf-8")
        if len(reason) > 123:
            raise ValueError("close description is longer than 123 UTF-8 bytes")
        self.close_reason_code = reason_code
        self.close_description = description
        self.state = ENDING
        self._closed_locally = True
        self.connected = False
        self._stop_keepalive()
        self._write(encode_frame(_CLOSE, encode_close_payload(reason_code, reason),
                                 mask=self.mask_outgoing_packets))
        self._start_close_timer()
        if self._space is not None:
            self._space.set()        # a reader waiting on a full queue reads on
        if self._read_owner is None:
            self._ensure_reader()

    def drop(self, reason_code: int = _PROTOCOL_ERROR, description: str | None = None,
             skip_close_frame: bool = False) -> None:
        """Close at once: send a close frame (unless ``skip_close_frame``),
        close the socket, and emit ``close`` before returning."""
        if self.state == CLOSED:
            return
        if self.state == OPEN:
            self._closed_locally = True
        if isinstance(reason_code, CloseCode):
            reason_code = reason_code.value     # reported as a plain int
        if not isinstance(description, str):
            description = CLOSE_DESCRIPTIONS.get(reason_code)
        if not skip_close_frame and self.state in (OPEN, PEER_REQUESTED_CLOSE):
            wire_code = (reason_code if is_valid_close_code(reason_code)
                         else _PROTOCOL_ERROR)
            reason = _truncate_utf8(description or "", 123)
            self._write(encode_frame(_CLOSE, encode_close_payload(wire_code, reason),
                                     mask=self.mask_outgoing_packets))
        self.close_reason_code = reason_code
        self.close_description = description
        self._set_closed()
        self._close_after_output()

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection for a protocol violation (RFC 6455 §7.1.7)."""
        logger.info("%r: failing connection: %d %s", self, code, reason)
        if self.state == OPEN:
            self._await_consumer()
        if self.state == ENDING:
            # We already sent our close frame; just stop.
            self.close_reason_code = code
            self.close_description = reason
            self._set_closed()
            self._close_socket()
            return
        self.drop(code, reason)

    def _on_eof(self) -> None:
        if self.state == CLOSED:
            return
        if self.state == OPEN:
            self.close_reason_code = _ABNORMAL
            self.close_description = "Connection dropped by remote peer."
        self._set_closed()
        self._close_socket()

    def _on_socket_error(self, exc: BaseException, operation: str) -> None:
        if self.state == CLOSED or self._socket_closed:
            self._set_closed()
            return
        logger.debug("%r: socket error on %s: %s", self, operation, exc)
        if self.state == OPEN or self.close_reason_code == -1:
            self.close_reason_code = _ABNORMAL
            self.close_description = f"Socket Error: {operation} {_error_name(exc)}"
        if self.has_listeners("error"):
            self.emit("error", exc)
        if self._out is not None:
            self._out.fail(exc if isinstance(exc, Exception) else WebSocketError(str(exc)))
        self._set_closed()
        self._close_socket()

    def _close_after_output(self) -> None:
        """Close the socket once queued output is written (bounded by the
        close timer, which forces it)."""
        out = self._out
        if out is not None and out.queue and not self._socket_closed:
            self._close_when_flushed = True
            self._start_close_timer()
            return
        self._close_socket()

    def _close_socket(self) -> None:
        if self._socket_closed:
            return
        self._socket_closed = True
        # A parked watcher is stopped first: gevent's close would throw
        # into its callback's owner.
        self._unpark()
        close_quietly(self.socket)
        # Nothing more can be received; dropping the reader's bound method
        # also breaks the only reference cycle (connection -> reader ->
        # connection), so a closed connection is freed by reference
        # counting, not left for the cyclic GC's next full pass.
        self._reader.detach()
        if self._close_timer is not None:
            self._close_timer.stop()
            self._close_timer.close()
            self._close_timer = None
        if self._out is not None:
            self._out.close(ConnectionClosedError("the connection closed before the "
                                                  "message was written"))
        self._set_closed()

    def _set_closed(self) -> None:
        """Enter ``closed``: stop timers, wake waiters, emit ``close`` once."""
        if self.state == CLOSED and self._close_emitted:
            return
        self.state = CLOSED
        self.connected = False
        self._stop_keepalive()
        self._unpark()                      # nothing more is read
        self._waker = None                  # (a cycle through the connection)
        if self.close_reason_code == -1:
            self.close_reason_code = _ABNORMAL
            self.close_description = "Connection dropped by remote peer."
        for event in (self._available, self._space, self._resumed, self._closed):
            if event is not None:
                event.set()
        if self._out is not None:
            self._out.wake()
        if not self._close_emitted:
            self._close_emitted = True
            hook = self._close_hook
            if hook is not None:
                # The owner's bookkeeping (a server forgetting the connection)
                # before any ``close`` handler.
                self._close_hook = None
                try:
                    hook(self.close_reason_code, self.close_description)
                except Exception:
                    logger.exception("%r: close hook raised", self)
            self.emit("close", self.close_reason_code, self.close_description)

    @property
    def was_clean(self) -> bool:
        """Whether the closing handshake completed: both close frames were
        exchanged (the W3C ``wasClean``)."""
        return self._close_received

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the connection is closed; False if ``timeout`` passed."""
        if self.state == CLOSED and self._close_emitted:
            return True
        if self._closed is None:
            self._closed = Event()
        return self._closed.wait(timeout)

    # -- close timer ---------------------------------------------------------
    def _start_close_timer(self) -> None:
        if self._close_timer is None and not self._socket_closed:
            timer = self._loop.timer(self.close_timeout)
            timer.start(self._on_close_timeout)
            self._close_timer = timer

    def _on_close_timeout(self) -> None:
        gevent.spawn(self._force_close)

    def _force_close(self) -> None:
        if self.state == CLOSED and self._socket_closed:
            return
        logger.debug("%r: close timeout, closing the socket", self)
        self._set_closed()
        self._close_socket()

    # ----------------------------------------------------------- keepalive
    # One timer wheel per event loop holds every connection's keepalive
    # deadline (``_keepalive_at``, 0.0 when none is set): no timer object
    # per connection.  Received data only moves ``_last_receive``; when the
    # deadline comes, _on_keepalive_timer looks at how long the peer has
    # really been silent and sets the next one.
    def _start_keepalive(self) -> None:
        self._last_receive = self._loop.now()
        self._arm_keepalive(self.config["keepalive_interval"])

    def _touch(self) -> None:
        self._last_receive = self._loop.now()
        if self._ping_sent_at:
            # The peer answered (or spoke): cancel the grace period and
            # restart the idle interval from now, as Node does.
            self._ping_sent_at = 0.0
            if self._keepalive_at:
                self._arm_keepalive(self.config["keepalive_interval"])

    def _arm_keepalive(self, delay: float) -> None:
        wheel = wheel_for(self._loop, _keepalive_due)
        if self._keepalive_at:
            wheel.cancel(self, self._keepalive_at)
        self._keepalive_at = self._loop.now() + max(delay, 0.001)
        self._keepalive = True
        wheel.schedule(self, self._keepalive_at)

    def _stop_keepalive(self) -> None:
        if self._keepalive_at:
            wheel_for(self._loop, _keepalive_due).cancel(self, self._keepalive_at)
            self._keepalive_at = 0.0
            self._keepalive = False

    def _on_keepalive_timer(self) -> None:
        if self.state != OPEN:
            self._stop_keepalive()
            return
        config = self.config
        now = self._loop.now()
        step = keepalive_step(now, self._last_receive, self._ping_sent_at,
                              interval=config["keepalive_interval"],
                              grace=config["keepalive_grace_period"],
                              drop_on_timeout=config["drop_connection_on_keepalive_timeout"],
                              stalled=self.input_paused or self._queue_full)
        self._last_receive = step.last_receive
        self._ping_sent_at = step.ping_sent_at
        action = step.action
        if action is KeepaliveAction.PEER_GONE:
            self._stop_keepalive()
            code = _ABNORMAL
            logger.info("%r: keepalive timeout: no pong within %s s of the ping; "
                        "dropping the connection", self, config["keepalive_grace_period"],
                        extra={"remote_address": self.remote_address,
                               "close_code": code, "close_reason": "Peer not responding."})
            gevent.spawn(self.drop, code, "Peer not responding.", True)
            return
        if action is KeepaliveAction.PING:
            if self._lowat > 1:
                # Bytes trickling in below the mark are a live peer too: let
                # them wake the reader (the kernel checks the mark at once).
                self._set_lowat(1)
            if self._metrics is not None:
                # The pong echoes this: its round trip, without per-connection state.
                gevent.spawn(self.ping, _RTT_TAG + _RTT.pack(now))
            else:
                gevent.spawn(self.ping)
        self._arm_keepalive(step.delay)

    # ------------------------------------------------------ flow control
    def pause(self) -> None:
        """Stop reading: no frames are parsed until :meth:`resume`."""
        if not self.input_paused:
            self.input_paused = True
            if self._parked is not None:
                self._read_event.stop()     # parked: stays parked, unarmed
            else:
                self._disarm()              # left armed by a wake-up
            owner = self._read_owner
            if owner is not None and owner is not getcurrent() and self._waiting:
                self._loop.run_callback(self._interrupt_reader, owner)
            self.emit("pause")

    def _interrupt_reader(self, owner) -> None:
        if self._read_owner is owner and self._waiting and self.input_paused:
            owner.throw(_ReadInterrupted)

    def resume(self) -> None:
        """Continue reading after :meth:`pause`."""
        if self.input_paused:
            self.input_paused = False
            self._last_receive = self._loop.now()
            parked = self._parked
            if parked is not None and self._read_event.callback is None:
                self._read_event.start(parked)
            if self._resumed is not None:
                self._resumed.set()
                self._resumed = None
            self.emit("resume")

    # ------------------------------------------------------------ helpers
    def _setsockopt(self, level: int, option: int, value: int) -> None:
        try:
            self.socket.setsockopt(level, option, value)
        except (OSError, AttributeError):
            pass

    def _enable_native_keepalive(self, interval: float | None) -> None:
        if not hasattr(self.socket, "setsockopt"):
            raise WebSocketError("Unable to use native keepalive: unsupported by this socket.")
        self._setsockopt(_socket.SOL_SOCKET, _socket.SO_KEEPALIVE, 1)
        if interval and hasattr(_socket, "TCP_KEEPIDLE"):
            self._setsockopt(_socket.IPPROTO_TCP, _socket.TCP_KEEPIDLE, max(1, int(interval)))
