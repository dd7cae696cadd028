"""Where the chat's shared state lives: history, presence, fan-out.

:class:`ChatStore` is the interface the service talks to;
:class:`MemoryStore` is the embedded one (one process, the default) and
:class:`~wsframework.apps.chat.backplane.RedisBackplane` the one shared by
workers and machines through Redis.  Both give the same guarantees:

* message ids are integers, unique and increasing within a room; each
  room's ids start from an *epoch base* (the millisecond its history
  started, times 2**11), so ids from a history that was lost (a flushed
  Redis, a restarted process) are never mistaken for current ones: a new
  epoch's ids are above every id of the old one (unless a room took more
  than 2**11 messages per millisecond on average);
* every message and presence event (``joined``, ``left``, ``renamed``)
  reaches the service's :meth:`~wsframework.apps.chat.service.ChatService.deliver`
  exactly once, in order within its stream, with its *position* (an ``int``
  message id, or a ``(int, int)`` presence position);
* a message appended with a resend key already seen within the resend
  window gets its first id back and is not stored twice.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict, deque
from typing import Any, NamedTuple

__all__ = ["ChatStore", "HistoryResult", "JoinResult", "MemoryStore", "StoreUnavailable",
           "EPOCH_SHIFT", "epoch_base"]

#: Message ids of a room are ``epoch millisecond << EPOCH_SHIFT`` + a
#: counter: below 2**53 (JavaScript's exact integers) until the year 2109.
EPOCH_SHIFT = 11


def epoch_base(now: float | None = None) -> int:
    """The first id (less one) of a room whose history starts now."""
    return int((time.time() if now is None else now) * 1000) << EPOCH_SHIFT


class StoreUnavailable(RuntimeError):
    """The store cannot be reached (Redis down longer than the retry
    period); the client is told to try again."""


class JoinResult(NamedTuple):
    """What a join claimed: ``status`` is ``"ok"``, ``"taken"`` (the
    nickname's key belongs to another member) or ``"full"`` (no room for
    a new room); ``members`` the display names present (the joiner
    included); ``position`` the joined event's presence position."""

    status: str
    members: list[str]
    position: tuple[int, int]


class HistoryResult(NamedTuple):
    """A room's history for a welcome: ``events`` (messages, oldest
    first); ``recovered`` whether they are exactly those after ``since``;
    ``last`` the id of the room's newest message (0 before the first)."""

    events: list[dict]
    recovered: bool
    last: int


class ChatStore:
    """The interface between :class:`~wsframework.apps.chat.service.ChatService`
    and its shared state.  Methods block (gevent); those reaching a remote
    store raise :class:`StoreUnavailable` when it stays unreachable."""

    #: True while the store is reachable and delivering.
    connected: bool = True
    service: Any = None

    def attach(self, service: Any) -> None:
        """Deliver events to ``service`` (its ``deliver`` and ``rooms``)."""
        self.service = service

    def start(self) -> None:
        """Start background work (reading, heartbeats), if any."""

    def close(self) -> None:
        """Stop background work."""

    def watch(self, room: str, message_position: int, presence_position: tuple[int, int]) -> None:
        """Deliver the room's events after these positions from now on."""

    def unwatch(self, room: str) -> None:
        """This process has no members left in ``room``."""

    def join(self, room: str, key: str, record: dict, event: dict) -> JoinResult:
        raise NotImplementedError

    def leave(self, room: str, key: str, record: dict, event: dict) -> None:
        raise NotImplementedError

    def rename(self, room: str, old_key: str, old_record: dict, key: str, record: dict,
               event: dict) -> str:
        """``"ok"`` or ``"taken"``."""
        raise NotImplementedError

    def append(self, room: str, event: dict, resend_key: str | None) -> tuple[int, bool]:
        """Store a message and hand it to every process: ``(id, duplicate)``."""
        raise NotImplementedError

    def history(self, room: str, since: int | None) -> HistoryResult:
        raise NotImplementedError


def _size(event: dict) -> int:
    return len(json.dumps(event, ensure_ascii=False).encode("utf-8"))


class _MemoryRoom:
    __slots__ = ("messages", "bytes", "last", "floor", "members", "presence")

    def __init__(self) -> None:
        self.messages: deque[tuple[int, dict, int]] = deque()
        self.bytes = 0
        self.last = self.floor = epoch_base()
        self.members: dict[str, dict] = {}
        self.presence = 0


class MemoryStore(ChatStore):
    """The embedded store: one process's rooms.

    ``history`` and ``history_bytes`` bound each room's messages (the
    oldest go first); ``max_rooms`` bounds the rooms: beyond it the room
    left empty longest ago is forgotten with its history, and when every
    room has members a new room is refused.  ``resend_window`` is how long
    a resend key is remembered.
    """

    def __init__(self, history: int = 50, history_bytes: int = 65536, max_rooms: int = 1000,
                 resend_window: float = 300.0) -> None:
        self.history_count = history
        self.history_bytes = history_bytes
        self.max_rooms = max_rooms
        self.resend_window = resend_window
        # Insertion order is "empty since" order: a room moves to the end
        # when its last member leaves, so the first empty one is the oldest.
        self.rooms: dict[str, _MemoryRoom] = {}
        self._resent: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()

    def _deliver(self, room: str, kind: str, position: Any, event: dict) -> None:
        if self.service is not None:
            self.service.deliver(room, kind, position, event)

    def _room(self, name: str) -> _MemoryRoom | None:
        room = self.rooms.get(name)
        if room is None:
            if len(self.rooms) >= self.max_rooms:
                empty = next((n for n, r in self.rooms.items() if not r.members), None)
                if empty is None:
                    return None
                del self.rooms[empty]
            room = self.rooms[name] = _MemoryRoom()
        return room

    def _presence(self, name: str, room: _MemoryRoom, event: dict) -> tuple[int, int]:
        room.presence += 1
        position = (room.presence, 0)
        self._deliver(name, "p", position, event)
        return position

    def join(self, room: str, key: str, record: dict, event: dict) -> JoinResult:
        state = self._room(room)
        if state is None:
            return JoinResult("full", [], (0, 0))
        current = state.members.get(key, record)
        if current != record and current.get("t") != record.get("t"):
            return JoinResult("taken", [], (0, 0))
        state.members[key] = record
        position = self._presence(room, state, event)
        return JoinResult("ok", [r["nick"] for r in state.members.values()], position)

    def leave(self, room: str, key: str, record: dict, event: dict) -> None:
        state = self.rooms.get(room)
        if state is None or state.members.get(key) != record:
            return
        del state.members[key]
        self._presence(room, state, event)
        if not state.members:
            del self.rooms[room]
            if state.messages or state.last != state.floor:
                self.rooms[room] = state          # kept, as the newest empty room

    def rename(self, room: str, old_key: str, old_record: dict, key: str, record: dict,
               event: dict) -> str:
        state = self.rooms[room]
        if state.members.get(key, old_record) != old_record:
            return "taken"
        state.members.pop(old_key, None)
        state.members[key] = record
        self._presence(room, state, event)
        return "ok"

    def append(self, room: str, event: dict, resend_key: str | None) -> tuple[int, bool]:
        now = time.monotonic()
        while self._resent and next(iter(self._resent.values()))[1] < now:
            self._resent.popitem(last=False)
        if resend_key is not None:
            seen = self._resent.get((room, resend_key))
            if seen is not None:
                return seen[0], True
        state = self.rooms.get(room) or self._room(room)
        if state is None:                       # the sender's room is always kept
            raise StoreUnavailable("no room")
        state.last += 1
        event = dict(event, id=state.last)
        size = _size(event)
        state.messages.append((state.last, event, size))
        state.bytes += size
        while state.messages and (len(state.messages) > self.history_count
                                  or state.bytes > self.history_bytes):
            gone, _, gone_size = state.messages.popleft()
            state.bytes -= gone_size
            state.floor = gone
        if resend_key is not None:
            self._resent[(room, resend_key)] = (state.last, now + self.resend_window)
        self._deliver(room, "m", state.last, event)
        return state.last, False

    def history(self, room: str, since: int | None) -> HistoryResult:
        state = self.rooms.get(room)
        if state is None:
            return HistoryResult([], False, 0)
        if since is not None and state.floor <= since <= state.last:
            return HistoryResult([e for i, e, _ in state.messages if i > since], True, state.last)
        return HistoryResult([e for _, e, _ in state.messages], False, state.last)
