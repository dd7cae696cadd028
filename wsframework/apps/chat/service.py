"""The chat itself: rooms, nicknames, history and the JSON protocol.

One :class:`ChatService` serves every connection routed to it; each
connection runs :meth:`ChatService.serve` in its own greenlet, in blocking
style.  The shared state (history, presence, fan-out) lives in a
:class:`~wsframework.apps.chat.store.ChatStore`: in this process by default
(:class:`~wsframework.apps.chat.store.MemoryStore`), or in Redis, shared by
every worker (:class:`~wsframework.apps.chat.backplane.RedisBackplane`).  Every
event, this process's own included, comes back from the store through
:meth:`ChatService.deliver` and is sent to the room's members here
(encoded once, with :func:`wsframework.broadcast`).

Protocol (text messages, one JSON object each):

client → server
    ``{"type": "join", "room": "lobby", "nick": "alice"}`` (first; again to
    switch rooms; may carry ``"since": ID``, the last message id seen in
    that room, and ``"resume": TOKEN``, the token of an earlier welcome,
    which takes the nickname over from that earlier connection, e.g. one
    whose worker died), ``{"type": "message", "text": "hi"}`` (may carry
    ``"client_id": STRING``), ``{"type": "nick", "nick": "bob"}``
server → client
    ``welcome`` (room, nick, members, history, worker: the serving
    process's pid; resume: a token for the next join; with ``since``:
    ``recovered``, true when ``history`` is exactly the messages after
    ``since``), ``message`` (room, nick, text,
    time, id, and client_id when the sender gave one), ``ack`` (client_id,
    id: the sender's message is stored), ``joined`` / ``left`` (room, nick,
    time), ``renamed`` (room, old, nick, time), ``error`` (error)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import logging
import os
import re
import time
import uuid
from typing import Any, Callable, Iterable

from gevent.event import Event

from ...connection import WebSocketConnection
from ...exceptions import ConnectionClosedError
from ...server import broadcast
from .nicks import NicknameError, nick_key
from .store import ChatStore, MemoryStore, StoreUnavailable

__all__ = ["ChatService", "Room"]

logger = logging.getLogger("wsframework.chat")

_NAME = re.compile(r"[\w.-]{1,32}\Z", re.ASCII)
MAX_CLIENT_ID = 64


class _Seat:
    """One connection's place in one room: its nickname, what it has
    been sent (``floors``) and, until its welcome is out, the events
    that arrived meanwhile (``pending``)."""

    __slots__ = ("connection", "nick", "key", "record", "pending", "floor_m", "floor_p")

    def __init__(self, connection: WebSocketConnection, nick: str, key: str, record: dict) -> None:
        self.connection = connection
        self.nick = nick
        self.key = key
        self.record = record
        self.pending: list | None = []
        self.floor_m: int = 1 << 62           # nothing until the history is known
        self.floor_p: tuple[int, int] = (1 << 62, 0)

    def wants(self, kind: str, position: Any) -> bool:
        return position > (self.floor_m if kind == "m" else self.floor_p)


class Room:
    """A room's members on this process (nickname key → seat)."""

    __slots__ = ("name", "members", "ready")

    def __init__(self, name: str) -> None:
        self.name = name
        self.members: dict[str, _Seat] = {}
        self.ready = Event()


class _Member:
    """One connection: its seat (None before joining) and rate budget."""

    __slots__ = ("seat", "room", "tokens", "stamp")

    def __init__(self, burst: float) -> None:
        self.seat: _Seat | None = None
        self.room: Room | None = None
        self.tokens = burst
        self.stamp = time.monotonic()


class ChatService:
    """Rooms and members of one process, over a shared store.

    ``history`` is how many messages a room keeps for newcomers and
    ``history_bytes`` how many bytes at most (the oldest go first);
    ``max_text`` the longest message text; ``max_rooms`` bounds the rooms
    (see :class:`~wsframework.apps.chat.store.MemoryStore`); ``rate`` and
    ``burst`` the messages per second a connection may send (a token
    bucket); ``resend_window`` how long a ``client_id`` is remembered;
    ``allowed_origins`` the pages of other origins that may connect
    (the page's own origin always may; requests without ``Origin``, from
    non-browser clients, too).
    """

    def __init__(self, history: int = 50, max_text: int = 4000, max_rooms: int = 1000, *,
                 history_bytes: int = 65536, rate: float = 10.0, burst: int = 20,
                 resend_window: float = 300.0, allowed_origins: Iterable[str] = (),
                 store: ChatStore | None = None) -> None:
        self.history = history
        self.history_bytes = history_bytes
        self.max_text = max_text
        self.max_rooms = max_rooms
        self.rate = rate
        self.burst = burst
        self.resend_window = resend_window
        self.allowed_origins = {origin.lower().rstrip("/") for origin in allowed_origins}
        self.rooms: dict[str, Room] = {}
        #: How events reach a room's members: :func:`wsframework.broadcast`,
        #: or its timed and counted form when the server has metrics.
        self.broadcast: Callable[[list, str], int] = broadcast
        #: This process among the workers (in presence records).
        self.worker_id = uuid.uuid4().hex[:12]
        self._seats = itertools.count(1)
        self.store: ChatStore = MemoryStore(history, history_bytes, max_rooms, resend_window)
        self.store.attach(self)
        if store is not None:
            self.use_store(store)

    def use_store(self, store: ChatStore) -> None:
        """Keep the shared state in ``store`` (before serving anyone)."""
        self.store = store
        store.attach(self)

    # ------------------------------------------------------------ serving
    def handle(self, request) -> None:
        """A router callback: check the Origin, accept, serve."""
        origin = request.origin
        if origin is not None and not self.origin_allowed(origin, request.host):
            logger.info("chat: refused origin %r (host %r)", origin, request.host)
            request.reject(403, "Origin not allowed.")
            return
        self.serve(request.accept(request.origin))

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """The page's own origin (same host and port), or a configured one."""
        origin = origin.lower().rstrip("/")
        if origin in self.allowed_origins:
            return True
        if host:
            host = host.lower()
            return origin in (f"http://{host}", f"https://{host}")
        return False

    def serve(self, connection: WebSocketConnection) -> None:
        """Serve one connection until it closes.  Whatever goes wrong with
        one message is answered with an error, or closes this connection
        with 1011: never a connection left without a reader."""
        member = _Member(self.burst)
        try:
            for message in connection:
                try:
                    self._handle(connection, member, message)
                except ConnectionClosedError:
                    break       # closed while answering (a drain, the peer): it ends here
                except StoreUnavailable:
                    self._error(connection, "the chat is unavailable right now; try again")
                except Exception:
                    logger.exception("chat: failed to handle a message; closing (1011)")
                    if connection.connected:
                        connection.close(1011, "Internal error")
                    break
        finally:
            try:
                self._leave(member)
            except Exception:
                logger.exception("chat: failed to leave a room")

    def _handle(self, connection: WebSocketConnection, member: _Member, message: Any) -> None:
        if not self._allow(member):
            self._error(connection, "too many messages; slow down")
            return
        if message.type != "utf8":
            self._error(connection, "binary messages are not part of the protocol")
            return
        try:
            event = json.loads(message.utf8_data)
        except (ValueError, RecursionError):
            self._error(connection, "messages must be JSON objects")
            return
        if not isinstance(event, dict):
            self._error(connection, "messages must be JSON objects")
            return
        kind = event.get("type")
        if kind == "join":
            self._join(connection, member, event)
        elif kind == "message":
            self._say(connection, member, event)
        elif kind == "nick":
            self._rename(connection, member, event.get("nick"))
        else:
            self._error(connection, f"unknown message type {str(kind)[:32]!r}")

    def _allow(self, member: _Member) -> bool:
        """The connection's token bucket: ``rate`` per second, ``burst`` at once."""
        now = time.monotonic()
        member.tokens = min(self.burst, member.tokens + (now - member.stamp) * self.rate)
        member.stamp = now
        if member.tokens < 1:
            return False
        member.tokens -= 1
        return True

    # ------------------------------------------------------------ actions
    def _join(self, connection, member: _Member, event: dict) -> None:
        room_name = event.get("room", "lobby")
        if not isinstance(room_name, str) or not _NAME.match(room_name):
            self._error(connection, "room names are 1-32 letters, digits, '.', '_' or '-'")
            return
        try:
            nick, key = nick_key(event.get("nick"))
        except NicknameError as exc:
            self._error(connection, str(exc))
            return
        resume = event.get("resume")
        if resume is not None and (not isinstance(resume, str) or not 0 < len(resume) <= 64):
            self._error(connection, "resume is the token of a welcome")
            return
        since = event.get("since")
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                                  or not 0 <= since < 1 << 63):
            self._error(connection, "since is the id of the last message seen")
            return
        if member.room is not None and member.room.name == room_name:
            self._leave(member)                    # joining one's own room again
        while True:
            room = self.rooms.get(room_name)
            if room is None:
                break
            room.ready.wait()
            if self.rooms.get(room_name) is room:
                break
        token = resume or secrets.token_urlsafe(18)
        seat_record = {"nick": nick, "w": self.worker_id, "c": next(self._seats),
                       "t": hashlib.sha256(token.encode()).hexdigest()[:32]}
        other = room.members.get(key) if room is not None else None
        if other is not None:
            if other.record.get("t") != seat_record["t"] or other.pending is not None:
                self._error(connection, f"the nickname {nick!r} is taken in {room_name}")
                return
            self.evict(room, other)
        first = room is None
        if first:
            if len(self.rooms) >= self.max_rooms:
                self._error(connection, "the server has too many rooms; join an existing one")
                return
            room = self.rooms[room_name] = Room(room_name)
        seat = _Seat(connection, nick, key, seat_record)
        room.members[key] = seat
        joined = {"type": "joined", "room": room_name, "nick": nick, "time": time.time()}
        try:
            result = self.store.join(room_name, key, seat_record, joined)
            if result.status == "ok":
                try:
                    history = self.store.history(room_name, since)
                except BaseException:
                    left = {"type": "left", "room": room_name, "nick": nick, "time": time.time()}
                    try:
                        self.store.leave(room_name, key, seat_record, left)
                    except StoreUnavailable:
                        pass                       # the presence expires by itself
                    raise
        except BaseException:
            self._drop(room, seat, first)
            raise
        if result.status != "ok":
            self._drop(room, seat, first)
            self._error(connection, f"the nickname {nick!r} is taken in {room_name}"
                        if result.status == "taken"
                        else "the server has too many rooms; join an existing one")
            return
        seat.floor_m, seat.floor_p = history.last, result.position
        if first:
            self.store.watch(room_name, history.last, result.position)
            room.ready.set()
        if member.room is not None:
            self._leave(member)
        member.seat, member.room = seat, room
        welcome = {"type": "welcome", "room": room_name, "nick": nick,
                   "members": sorted(result.members), "history": history.events,
                   "worker": os.getpid(), "resume": token}
        if since is not None:
            welcome["recovered"] = history.recovered
        connection.send(json.dumps(welcome))
        pending, index = seat.pending, 0
        while index < len(pending):               # events that came during the join
            kind, position, text = pending[index]
            index += 1
            if seat.wants(kind, position):
                connection.send(text)
        seat.pending = None

    def _say(self, connection, member: _Member, event: dict) -> None:
        seat = member.seat
        if seat is None:
            self._error(connection, "join a room first")
            return
        text = event.get("text")
        if not isinstance(text, str) or not text.strip():
            self._error(connection, "a message needs some text")
            return
        if len(text) > self.max_text:
            self._error(connection, f"messages are at most {self.max_text} characters")
            return
        client_id = event.get("client_id")
        if client_id is not None and (not isinstance(client_id, str)
                                      or not 0 < len(client_id) <= MAX_CLIENT_ID):
            self._error(connection, f"client_id is a string of 1-{MAX_CLIENT_ID} characters")
            return
        message = {"type": "message", "room": member.room.name, "nick": seat.nick,
                   "text": text, "time": time.time()}
        if client_id is not None:
            message["client_id"] = client_id
        resend_key = None if client_id is None else f"{seat.key}\n{client_id}"
        message_id, _ = self.store.append(member.room.name, message, resend_key)
        if client_id is not None and connection.connected:
            connection.send(json.dumps({"type": "ack", "client_id": client_id,
                                        "id": message_id}))

    def _rename(self, connection, member: _Member, nick: Any) -> None:
        seat, room = member.seat, member.room
        if seat is None:
            self._error(connection, "join a room first")
            return
        try:
            nick, key = nick_key(nick)
        except NicknameError as exc:
            self._error(connection, str(exc))
            return
        other = room.members.get(key)
        if (other is not None and other is not seat) or nick == seat.nick:
            self._error(connection, f"the nickname {nick!r} is taken in {room.name}")
            return
        record = dict(seat.record, nick=nick)
        renamed = {"type": "renamed", "room": room.name, "old": seat.nick, "nick": nick,
                   "time": time.time()}
        status = self.store.rename(room.name, seat.key, seat.record, key, record, renamed)
        if status != "ok":
            self._error(connection, f"the nickname {nick!r} is taken in {room.name}")
            return
        if room.members.get(seat.key) is seat:
            del room.members[seat.key]
        room.members[key] = seat
        seat.nick, seat.key, seat.record = nick, key, record

    def evict(self, room: Room, seat: _Seat,
              reason: str = "Replaced by a newer connection") -> None:
        """Take a seat from its connection (its nickname was taken over by
        a join with its resume token) and close that connection (4000)."""
        if room.members.get(seat.key) is seat:
            del room.members[seat.key]
        if seat.connection.connected:
            seat.connection.close(4000, reason)

    def _drop(self, room: Room, seat: _Seat, first: bool) -> None:
        """Undo a join that failed before its welcome."""
        if room.members.get(seat.key) is seat:
            del room.members[seat.key]
        if first:
            if self.rooms.get(room.name) is room:
                del self.rooms[room.name]
            room.ready.set()
        elif not room.members and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            self.store.unwatch(room.name)

    def _leave(self, member: _Member) -> None:
        seat, room = member.seat, member.room
        if seat is None:
            return
        member.seat = member.room = None
        if room.members.get(seat.key) is seat:
            del room.members[seat.key]
        if not room.members and self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            self.store.unwatch(room.name)
        left = {"type": "left", "room": room.name, "nick": seat.nick, "time": time.time()}
        try:
            self.store.leave(room.name, seat.key, seat.record, left)
        except StoreUnavailable:
            # Its presence expires by itself: no heartbeat keeps it.
            logger.warning("chat: could not record that %r left %s", seat.nick, room.name)

    # ------------------------------------------------------------ delivery
    def deliver(self, room_name: str, kind: str, position: Any, event: dict,
                text: str | None = None) -> None:
        """An event from the store (``kind`` ``"m"``: a message, ``"p"``:
        presence) for this process's members of the room; each member gets
        it once, and only after its welcome."""
        room = self.rooms.get(room_name)
        if room is None:
            return
        if text is None:
            text = json.dumps(event)
        targets = []
        for seat in room.members.values():
            if seat.pending is not None:
                seat.pending.append((kind, position, text))
            elif seat.wants(kind, position):
                targets.append(seat.connection)
        if targets:
            self.broadcast(targets, text)

    @staticmethod
    def _error(connection: WebSocketConnection, text: str) -> None:
        if connection.connected:
            connection.send(json.dumps({"type": "error", "error": text}))

    def close_all(self, code: int = 1001, reason: str = "Server shutting down") -> None:
        """Close every member's connection (graceful shutdown)."""
        for room in list(self.rooms.values()):
            for seat in list(room.members.values()):
                if seat.connection.connected:
                    seat.connection.close(code, reason)

    @property
    def member_count(self) -> int:
        return sum(len(room.members) for room in self.rooms.values())
