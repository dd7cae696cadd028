"""The chat itself: rooms, nicknames, history and the JSON protocol.

One :class:`ChatService` serves every connection routed to it; each
connection runs :meth:`ChatService.serve` in its own greenlet, in blocking
style.  Events are delivered to the members of a room with
:func:`wsframework.broadcast` (encoded once), and handed to an optional
backplane so that other processes can deliver them to their members too.

Protocol (text messages, one JSON object each):

client → server
    ``{"type": "join", "room": "lobby", "nick": "alice"}`` (first; again to
    switch rooms), ``{"type": "message", "text": "hi"}``,
    ``{"type": "nick", "nick": "bob"}``
server → client
    ``welcome`` (room, nick, members, history, worker: the serving
    process's pid), ``message`` (room, nick,
    text, time, id), ``joined`` / ``left`` (room, nick, time), ``renamed``
    (room, old, nick, time), ``error`` (error)
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections import deque
from typing import Any, Callable

from ..connection import WebSocketConnection
from ..exceptions import ConnectionClosedError
from ..server import broadcast

__all__ = ["ChatService", "Room"]

logger = logging.getLogger("wsframework.chat")

_NAME = re.compile(r"[\w.-]{1,32}\Z")
_NICK = re.compile(r"[^\x00-\x1f\x7f]{1,32}\Z")


class Room:
    """A room's local members (nick → connection) and recent history."""

    __slots__ = ("name", "members", "history")

    def __init__(self, name: str, history: int) -> None:
        self.name = name
        self.members: dict[str, WebSocketConnection] = {}
        self.history: deque[dict] = deque(maxlen=history)


class _Member:
    """Where one connection is: its nick and room (None before joining)."""

    __slots__ = ("nick", "room")

    def __init__(self) -> None:
        self.nick: str | None = None
        self.room: Room | None = None


class ChatService:
    """Rooms and members of one process.

    ``history`` is how many messages a room keeps for newcomers;
    ``max_text`` the longest message text accepted; ``max_rooms`` bounds
    the rooms kept: beyond it, the room left empty longest ago is forgotten
    with its history, and when every room has members a join to a new room
    is refused.  ``publish`` (set by
    a backplane) receives every event for other processes; events from
    them come back through :meth:`deliver`.
    """

    def __init__(self, history: int = 50, max_text: int = 4000,
                 max_rooms: int = 1000) -> None:
        self.history = history
        self.max_text = max_text
        self.max_rooms = max_rooms
        # Insertion order is "empty since" order: a room is moved to the end
        # when its last member leaves, so the first empty one is the oldest.
        self.rooms: dict[str, Room] = {}
        self.publish: Callable[[str, dict], None] | None = None
        #: How events reach a room's members: :func:`wsframework.broadcast`,
        #: or its timed and counted form when the server has metrics.
        self.broadcast: Callable[[list, str], int] = broadcast
        self._next_id = 0

    # ------------------------------------------------------------ serving
    def handle(self, request) -> None:
        """A router callback: accept the request and serve the connection."""
        self.serve(request.accept(request.origin))

    def serve(self, connection: WebSocketConnection) -> None:
        """Serve one connection until it closes."""
        member = _Member()
        try:
            for message in connection:
                if message.type != "utf8":
                    self._error(connection, "binary messages are not part of the protocol")
                    continue
                try:
                    event = json.loads(message.utf8_data)
                except ValueError:
                    self._error(connection, "messages must be JSON objects")
                    continue
                if not isinstance(event, dict):
                    self._error(connection, "messages must be JSON objects")
                    continue
                self._dispatch(connection, member, event)
        except ConnectionClosedError:
            pass                # closed while answering (a drain, the peer): it ends here
        finally:
            self._leave(member)

    def _dispatch(self, connection: WebSocketConnection, member: _Member, event: dict) -> None:
        kind = event.get("type")
        if kind == "join":
            self._join(connection, member, event.get("room", "lobby"), event.get("nick"))
        elif kind == "message":
            self._say(connection, member, event.get("text"))
        elif kind == "nick":
            self._rename(connection, member, event.get("nick"))
        else:
            self._error(connection, f"unknown message type {kind!r}")

    # ------------------------------------------------------------ actions
    def _join(self, connection, member: _Member, room_name: Any, nick: Any) -> None:
        if not isinstance(room_name, str) or not _NAME.match(room_name):
            self._error(connection, "room names are 1-32 letters, digits, '.', '_' or '-'")
            return
        nick = self._nick(connection, nick)
        if nick is None:
            return
        room = self.rooms.get(room_name)
        if room is not None and room.members.get(nick) not in (None, connection):
            self._error(connection, f"the nickname {nick!r} is taken in {room_name}")
            return
        if room is None:
            room = self._new_room(room_name)
            if room is None:
                self._error(connection, "the server has too many rooms; join an existing one")
                return
        self._leave(member)
        member.nick, member.room = nick, room
        room.members[nick] = connection
        connection.send(json.dumps({
            "type": "welcome", "room": room.name, "nick": nick,
            "members": sorted(room.members), "history": list(room.history),
            "worker": os.getpid()}))
        self._emit(room, {"type": "joined", "room": room.name, "nick": nick,
                          "time": time.time()}, exclude=connection)

    def _say(self, connection, member: _Member, text: Any) -> None:
        if member.room is None:
            self._error(connection, "join a room first")
            return
        if not isinstance(text, str) or not text.strip():
            self._error(connection, "a message needs some text")
            return
        if len(text) > self.max_text:
            self._error(connection, f"messages are at most {self.max_text} characters")
            return
        self._next_id += 1
        self._emit(member.room, {"type": "message", "room": member.room.name,
                                 "nick": member.nick, "text": text, "time": time.time(),
                                 "id": self._next_id})

    def _rename(self, connection, member: _Member, nick: Any) -> None:
        room = member.room
        if room is None:
            self._error(connection, "join a room first")
            return
        nick = self._nick(connection, nick)
        if nick is None:
            return
        if nick in room.members:
            self._error(connection, f"the nickname {nick!r} is taken in {room.name}")
            return
        old, member.nick = member.nick, nick
        del room.members[old]
        room.members[nick] = connection
        self._emit(room, {"type": "renamed", "room": room.name, "old": old, "nick": nick,
                          "time": time.time()})

    def _leave(self, member: _Member) -> None:
        room = member.room
        if room is None:
            return
        member.room = None
        room.members.pop(member.nick, None)
        self._emit(room, {"type": "left", "room": room.name, "nick": member.nick,
                          "time": time.time()})
        if not room.members:
            self.rooms.pop(room.name, None)
            if room.history:                    # kept, as the newest empty room
                self.rooms[room.name] = room

    def _new_room(self, name: str) -> Room | None:
        """Make room ``name``, forgetting the oldest empty room if there are
        ``max_rooms`` already; None when every room has members."""
        if len(self.rooms) >= self.max_rooms:
            empty = next((r for r in self.rooms.values() if not r.members), None)
            if empty is None:
                logger.warning("room %r refused: %d rooms, all with members",
                               name, len(self.rooms))
                return None
            del self.rooms[empty.name]
        room = self.rooms[name] = Room(name, self.history)
        return room

    # ------------------------------------------------------------ delivery
    def _emit(self, room: Room, event: dict, exclude: WebSocketConnection | None = None) -> None:
        """Deliver ``event`` to the room here and hand it to the backplane."""
        self.deliver(room.name, event, exclude)
        if self.publish is not None:
            self.publish(room.name, event)

    def deliver(self, room_name: str, event: dict,
                exclude: WebSocketConnection | None = None) -> None:
        """Deliver an event to this process's members of a room (and keep
        chat messages in the room's history)."""
        room = self.rooms.get(room_name)
        if room is None:
            if event.get("type") != "message":
                return
            room = self._new_room(room_name)
            if room is None:
                return
        if event.get("type") == "message":
            room.history.append(event)
        members = [c for c in room.members.values() if c is not exclude]
        if members:
            self.broadcast(members, json.dumps(event))

    def _nick(self, connection: WebSocketConnection, nick: Any) -> str | None:
        """``nick`` stripped if it is a valid nickname, else None (with an error sent)."""
        if not isinstance(nick, str) or not _NICK.match(nick.strip() or "\x00"):
            self._error(connection, "nicknames are 1-32 printable characters")
            return None
        return nick.strip()

    @staticmethod
    def _error(connection: WebSocketConnection, text: str) -> None:
        if connection.connected:
            connection.send(json.dumps({"type": "error", "error": text}))

    def close_all(self, code: int = 1001, reason: str = "Server shutting down") -> None:
        """Close every member's connection (graceful shutdown)."""
        for room in list(self.rooms.values()):
            for connection in list(room.members.values()):
                if connection.connected:
                    connection.close(code, reason)

    @property
    def member_count(self) -> int:
        return sum(len(room.members) for room in self.rooms.values())
