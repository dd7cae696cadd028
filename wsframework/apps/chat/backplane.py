"""The chat's shared state in Redis: history, presence and fan-out
across workers and machines (``serve --redis URL``).

Keys (``P`` is ``redis.channel_prefix``; ``{room}`` is a hash tag, so a
room's keys share one hash slot and Redis Cluster can hold them):

``P{room}:m``
    the room's messages, a stream with explicit ids ``<message id>-0``;
    the newest ``max(history, 200)`` entries and ``history_bytes`` bytes
    are kept.  Field ``e`` is the event (JSON, without its id), ``h`` its
    HMAC when ``redis.secret`` is set.
``P{room}:meta``
    hash: ``last`` (the newest id), ``floor`` (the newest id trimmed, or
    the epoch base), ``bytes`` (bytes held by the stream).  When it is gone
    (a flushed Redis) the next message starts a new epoch, and clients
    asking for messages ``since`` an older id get ``recovered: false``.
``P{room}:p``
    presence events (``joined``, ``left``, ``renamed``), a stream trimmed
    to about 1000 entries.
``P{room}:who`` and ``P{room}:alive``
    the members: nickname key → record (display name, worker, seat) and
    nickname key → expiry (ms, Redis time).  Every worker refreshes its
    members' expiries every ``presence_ttl / 3`` seconds; members of a
    worker that stopped (``kill -9``) expire and are announced as ``left``
    by whichever worker sweeps the room next.
``P{room}:r:<nick key>\\n<client id>``
    a resend key (``SET ... EX resend_window``): the id of a message
    already stored.

Every write is one Lua script (one round trip, atomic, one slot).  Each
worker reads every stream of its rooms with one blocking ``XREAD`` from
the last position it delivered, so a worker that loses Redis catches up
when it is back; nothing is read from Redis without being checked (schema,
and the HMAC when a secret is set): a malformed or forged entry is logged
and skipped.

Needs the optional ``redis`` package (``pip install wsframework[redis]``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from typing import Any, Callable

import gevent
from gevent.event import Event

from .nicks import MAX_NICK
from .store import EPOCH_SHIFT, ChatStore, HistoryResult, JoinResult, StoreUnavailable

__all__ = ["RedisBackplane"]

logger = logging.getLogger("wsframework.chat.backplane")

_MIN_RETAINED = 200
_PRESENCE_RETAINED = 1000

_SWEEP = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local gone = {}
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  local rec = redis.call('HGET', KEYS[1], k)
  redis.call('HDEL', KEYS[1], k)
  redis.call('ZREM', KEYS[2], k)
  if rec then table.insert(gone, rec) end
end
"""

_EXPIRE = """
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ttl_s) end
"""

# KEYS who alive p; ARGV key record ttl_ms payload mac room_ttl_s resume_hash
_JOIN = _SWEEP + """
local ttl_s = tonumber(ARGV[6])
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and cur ~= ARGV[2] then
  -- taken, unless the join carries the resume token of that member
  local ok, old = pcall(cjson.decode, string.sub(cur, (string.find(cur, '|', 1, true) or 0) + 1))
  if not (ok and type(old) == 'table' and old['t'] == ARGV[7] and ARGV[7] ~= '') then
    return {0, gone}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', %d, '*', 'e', ARGV[4], 'h', ARGV[5])
--BELL
""" % _PRESENCE_RETAINED + _EXPIRE + """
return {1, gone, id, redis.call('HVALS', KEYS[1])}
"""

# KEYS who alive p; ARGV key record payload mac
_LEAVE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', %d, '*', 'e', ARGV[3], 'h', ARGV[4])
--BELL
return id
""" % _PRESENCE_RETAINED

# KEYS who alive p; ARGV old_key old_record key record ttl_ms payload mac
_RENAME = """
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local cur = redis.call('HGET', KEYS[1], ARGV[3])
if cur and cur ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[5]), ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', %d, '*', 'e', ARGV[6], 'h', ARGV[7])
--BELL
return 1
""" % _PRESENCE_RETAINED

# KEYS who alive p; ARGV ttl_ms room_ttl_s key1 record1 key2 record2 ...
_HEARTBEAT = _SWEEP + """
local ttl_s = tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur and cur ~= ARGV[i + 1] then
    table.insert(lost, ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[i])
  end
end
""" + _EXPIRE + """
return {gone, lost}
"""

# KEYS m meta resend; ARGV payload mac size retained max_bytes room_ttl_s resend_window_s
_APPEND = """
local ttl_s = tonumber(ARGV[6])
if KEYS[3] ~= KEYS[2] then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {seen, 1} end
end
local last = redis.call('HGET', KEYS[2], 'last')
if not last then
  local t = redis.call('TIME')
  local base = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) * %d
  local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
  if top then
    local top_id = tonumber(string.match(top[1], '^(%%d+)'))
    if top_id > base then base = top_id end
  end
  last = string.format('%%.0f', base)
  redis.call('HSET', KEYS[2], 'floor', last, 'bytes', 0)
end
local newest = tonumber(last)
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if top then
  -- an entry not written by this script (forged) must not stop the room
  local top_id = tonumber(string.match(top[1], '^(%%d+)'))
  if top_id > newest then newest = top_id end
end
local id = string.format('%%.0f', newest + 1)
redis.call('XADD', KEYS[1], id .. '-0', 'e', ARGV[1], 'h', ARGV[2], 'n', ARGV[3])
--BELL
redis.call('HSET', KEYS[2], 'last', id)
local bytes = redis.call('HINCRBY', KEYS[2], 'bytes', tonumber(ARGV[3]))
local n = redis.call('XLEN', KEYS[1])
while n > 1 and (n > tonumber(ARGV[4]) or bytes > tonumber(ARGV[5])) do
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local size = 0
  for i = 1, #first[2], 2 do
    if first[2][i] == 'n' then size = tonumber(first[2][i + 1]) end
  end
  redis.call('XDEL', KEYS[1], first[1])
  bytes = redis.call('HINCRBY', KEYS[2], 'bytes', -size)
  redis.call('HSET', KEYS[2], 'floor', string.match(first[1], '^(%%d+)'))
  n = n - 1
end
if KEYS[3] ~= KEYS[2] then
  redis.call('SET', KEYS[3], id, 'EX', tonumber(ARGV[7]))
end
redis.call('EXPIRE', KEYS[1], ttl_s)
redis.call('EXPIRE', KEYS[2], ttl_s)
return {id, 0}
""" % (1 << EPOCH_SHIFT)

_MESSAGE_KEYS = {"type", "room", "nick", "text", "time", "client_id"}
_PRESENCE_KEYS = {"joined": {"type", "room", "nick", "time"},
                  "left": {"type", "room", "nick", "time"},
                  "renamed": {"type", "room", "old", "nick", "time"}}


def _nick_ok(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NICK


def _time_ok(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisBackplane(ChatStore):
    """A :class:`~wsframework.apps.chat.store.ChatStore` in Redis, shared by
    every worker given the same ``url`` and ``prefix``.

    ``secret`` (shared by the workers) signs every entry (HMAC-SHA256),
    so that whoever can write to Redis but does not know it cannot post
    as a member; ``presence_ttl`` is how long a worker's members outlive
    its last heartbeat; ``retry_for`` how long a call waits for Redis to
    come back before the client is told to try again; ``room_ttl`` how
    long an idle room's keys are kept.
    """

    def __init__(self, service: Any, url: str, *, prefix: str = "wsframework:chat:",
                 secret: str | None = None, presence_ttl: float = 15.0,
                 retry_for: float = 10.0, room_ttl: int = 7 * 86400,
                 max_backoff: float = 5.0, cluster: bool = False) -> None:
        try:
            import redis
        except ImportError:
            raise RuntimeError("the Redis backplane needs the redis package: "
                               "pip install wsframework[redis]") from None
        self._redis = redis
        #: What "Redis is unreachable, try again" looks like.
        self._unreachable = (redis.ConnectionError, redis.TimeoutError, OSError,
                             redis.exceptions.ClusterDownError,
                             redis.exceptions.RedisClusterException)
        self.url = url
        self.prefix = prefix
        self.secret = secret.encode() if secret else None
        self.presence_ttl = presence_ttl
        self.retry_for = retry_for
        self.room_ttl = room_ttl
        self.max_backoff = max_backoff
        self.cluster = cluster
        self._up = False
        self._state_changed = Event()
        self._positions: dict[str, list] = {}     # room → [message id, presence (ms, seq)]
        self._wake = Event()
        self._reading: Any = None                  # (client, its CLIENT ID) while blocked
        self._greenlets: list = []
        self._closed = False
        #: Seconds from a message's time to its delivery here (the chat's
        #: backplane lag metric), when set.
        self.on_lag: Callable[[float], None] | None = None
        #: Entries skipped because they were malformed or forged.
        self.rejected = 0
        self.client = self._make_client()
        # On a Redis Cluster one XREAD cannot span rooms (hash slots): every
        # write also rings a bell (PUBLISH, which reaches every node) naming
        # the room, and the reader reads the rooms whose bell rang.
        self.bell = f"{prefix}bell"
        ring = f"redis.call('PUBLISH', '{self.bell}', KEYS[1])" if cluster else ""
        self._scripts = {name: self.client.register_script(source.replace("--BELL", ring))
                         for name, source in (
                             ("join", _JOIN), ("leave", _LEAVE), ("rename", _RENAME),
                             ("heartbeat", _HEARTBEAT), ("append", _APPEND))}
        self._dirty: set[str] = set()
        service.use_store(self)
        self.history_count = service.history
        self.history_bytes = service.history_bytes
        self.resend_window = service.resend_window
        self.max_text = service.max_text

    def _make_client(self, **options: Any) -> Any:
        options.setdefault("socket_connect_timeout", 2)
        options.setdefault("socket_timeout", 5)
        if self.cluster:
            from redis.cluster import RedisCluster
            return RedisCluster.from_url(self.url, **options)
        return self._redis.Redis.from_url(self.url, **options)

    # ------------------------------------------------------------ state
    @property
    def connected(self) -> bool:
        """True while the reader is connected and alive (what /healthz says)."""
        return self._up and bool(self._greenlets) and not self._greenlets[0].dead

    def start(self) -> None:
        """Read and heartbeat in the background (reconnecting as needed)."""
        self._greenlets = [gevent.spawn(self._read_forever), gevent.spawn(self._heartbeat)]

    def close(self) -> None:
        self._closed = True
        gevent.killall(self._greenlets, block=False)
        self._set_up(False)

    def wait_connected(self, connected: bool = True, timeout: float | None = None) -> bool:
        """Block until the backplane is up (or down); False on timeout."""
        with gevent.Timeout(timeout, False):
            while self.connected != connected:
                self._state_changed.wait(0.5)
            return True
        return False

    def _set_up(self, up: bool) -> None:
        if self._up != up:
            self._up = up
            event, self._state_changed = self._state_changed, Event()
            event.set()

    # ------------------------------------------------------------ keys, signing
    def key(self, room: str, kind: str) -> str:
        """A key of ``room`` (all of a room's keys share its hash slot)."""
        return f"{self.prefix}{{{room}}}:{kind}"

    def _mac(self, room: str, kind: str, payload: str) -> str:
        if self.secret is None:
            return ""
        return hmac.new(self.secret, f"{room}\0{kind}\0{payload}".encode(),
                        hashlib.sha256).hexdigest()

    def _seal(self, room: str, kind: str, value: dict) -> tuple[str, str]:
        payload = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        return payload, self._mac(room, kind, payload)

    def _record(self, room: str, record: dict) -> str:
        """A presence record as stored: its JSON, signed when there is a secret."""
        payload, mac = self._seal(room, "who", record)
        return f"{mac}|{payload}"

    def _open(self, room: str, kind: str, payload: Any, mac: Any) -> dict | None:
        """An entry read from Redis, checked: the event, or None (logged)."""
        try:
            payload = _text(payload)
            if self.secret is not None and not hmac.compare_digest(
                    _text(mac or b""), self._mac(room, kind, payload)):
                raise ValueError("bad signature")
            event = json.loads(payload)
            if not isinstance(event, dict) or event.get("room") != room \
                    or not _time_ok(event.get("time")):
                raise ValueError("not an event of this room")
            if kind == "m":
                if event.keys() - _MESSAGE_KEYS or event.get("type") != "message" \
                        or not _nick_ok(event.get("nick")) \
                        or not isinstance(event.get("text"), str) \
                        or not 0 < len(event["text"]) <= self.max_text \
                        or not isinstance(event.get("client_id", ""), str):
                    raise ValueError("not a message")
            else:
                keys = _PRESENCE_KEYS.get(event.get("type"))
                if keys is None or event.keys() != keys or not _nick_ok(event.get("nick")) \
                        or not _nick_ok(event.get("old", "x")):
                    raise ValueError("not a presence event")
            return event
        except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            self.rejected += 1
            logger.warning("backplane: skipping an entry of %s (%s): %s", self.key(room, kind),
                           kind, exc)
            return None

    def _open_record(self, room: str, stored: Any) -> dict | None:
        try:
            mac, _, payload = _text(stored).partition("|")
            if self.secret is not None and not hmac.compare_digest(
                    mac, self._mac(room, "who", payload)):
                raise ValueError("bad signature")
            record = json.loads(payload)
            if not isinstance(record, dict) or not _nick_ok(record.get("nick")):
                raise ValueError("not a member record")
            return record
        except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
            self.rejected += 1
            logger.warning("backplane: skipping a member of %s: %s", room, exc)
            return None

    # ------------------------------------------------------------ calls
    def _call(self, action: Callable[[], Any]) -> Any:
        """Run ``action``, retrying while Redis is unreachable for up to
        ``retry_for`` seconds; then StoreUnavailable."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.05
        while True:
            try:
                return action()
            except self._unreachable as exc:
                if self._closed or time.monotonic() + delay > deadline:
                    raise StoreUnavailable(str(exc)) from exc
                gevent.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, 1.0)
            except self._redis.RedisError as exc:
                logger.error("backplane: Redis refused a command: %s", exc)
                raise StoreUnavailable(str(exc)) from exc

    def _presence_keys(self, room: str) -> list[str]:
        return [self.key(room, "who"), self.key(room, "alive"), self.key(room, "p")]

    def _announce_gone(self, room: str, gone: list) -> None:
        """Tell everyone that the members of a dead worker left ``room``."""
        for stored in gone:
            record = self._open_record(room, stored)
            if record is None:
                continue
            payload, mac = self._seal(room, "p", {"type": "left", "room": room,
                                                  "nick": record["nick"], "time": time.time()})
            self._call(lambda: self.client.xadd(self.key(room, "p"), {"e": payload, "h": mac},
                                                maxlen=_PRESENCE_RETAINED, approximate=True))
            if self.cluster:
                self._call(lambda: self.client.publish(self.bell, self.key(room, "p")))
            logger.info("backplane: %r left %s (its worker stopped)", record["nick"], room)

    # ------------------------------------------------------------ the store
    def join(self, room: str, key: str, record: dict, event: dict) -> JoinResult:
        payload, mac = self._seal(room, "p", event)
        result = self._call(lambda: self._scripts["join"](
            keys=self._presence_keys(room),
            args=[key, self._record(room, record), int(self.presence_ttl * 1000), payload, mac,
                  self.room_ttl, record.get("t", "")]))
        if result[1]:
            self._announce_gone(room, result[1])
        if not result[0]:
            return JoinResult("taken", [], (0, 0))
        members = [r["nick"] for r in map(lambda s: self._open_record(room, s), result[3]) if r]
        return JoinResult("ok", members, _position(result[2]))

    def leave(self, room: str, key: str, record: dict, event: dict) -> None:
        payload, mac = self._seal(room, "p", event)
        self._call(lambda: self._scripts["leave"](
            keys=self._presence_keys(room), args=[key, self._record(room, record), payload, mac]))

    def rename(self, room: str, old_key: str, old_record: dict, key: str, record: dict,
               event: dict) -> str:
        payload, mac = self._seal(room, "p", event)
        done = self._call(lambda: self._scripts["rename"](
            keys=self._presence_keys(room),
            args=[old_key, self._record(room, old_record), key, self._record(room, record),
                  int(self.presence_ttl * 1000), payload, mac]))
        return "ok" if done else "taken"

    def append(self, room: str, event: dict, resend_key: str | None) -> tuple[int, bool]:
        payload, mac = self._seal(room, "m", event)
        if resend_key is None:
            # A retry after a lost reply must not store the message twice.
            resend_key, window = f"\0{random.getrandbits(64):x}", 60
        else:
            window = int(self.resend_window) or 1
        size = len(payload.encode("utf-8"))
        message_id, duplicate = self._call(lambda: self._scripts["append"](
            keys=[self.key(room, "m"), self.key(room, "meta"), self.key(room, "r:" + resend_key)],
            args=[payload, mac, size, max(self.history_count, _MIN_RETAINED),
                  self.history_bytes, self.room_ttl, window]))
        return int(message_id), bool(duplicate)

    def history(self, room: str, since: int | None) -> HistoryResult:
        def read() -> list:
            pipe = self.client.pipeline(transaction=not self.cluster)
            pipe.hmget(self.key(room, "meta"), "last", "floor")
            if since is not None:
                pipe.xrange(self.key(room, "m"), min=f"({since}-0")
            pipe.xrevrange(self.key(room, "m"), count=max(self.history_count, 1))
            return pipe.execute()
        results = self._call(read)
        last, floor = results[0]
        last = int(last) if last is not None else 0
        recovered = (since is not None and floor is not None
                     and int(floor) <= since <= last)
        if recovered:
            entries = results[1]
        else:
            entries = list(reversed(results[-1]))[-self.history_count:] \
                if self.history_count else []
        events = []
        for entry_id, fields in entries:
            event = self._open(room, "m", fields.get(b"e", b""), fields.get(b"h"))
            if event is not None:
                event["id"] = _position(entry_id)[0]
                events.append(event)
        return HistoryResult(events, recovered, last)

    # ------------------------------------------------------------ reading
    def watch(self, room: str, message_position: int, presence_position: tuple[int, int]) -> None:
        self._positions[room] = [message_position, presence_position]
        self._interrupt(room)

    def unwatch(self, room: str) -> None:
        if self._positions.pop(room, None) is not None:
            self._interrupt()

    def _interrupt(self, room: str | None = None) -> None:
        """Wake the reader so that its next XREAD covers the rooms now watched."""
        if room is not None:
            self._dirty.add(room)
        self._wake.set()
        reading = self._reading
        if reading is None:
            return
        gevent.spawn(self._unblock, reading)

    def _unblock(self, reading: tuple) -> None:
        # The XREAD may reach Redis after this CLIENT UNBLOCK (two
        # connections): try until it is unblocked or returned by itself.
        for _ in range(200):
            if self._reading is not reading:
                return
            try:
                if self.client.client_unblock(reading[1]):
                    return
            except (self._redis.RedisError, OSError):
                return
            gevent.sleep(0.005)

    def _read_forever(self) -> None:
        delay = 0.1
        while not self._closed:
            reader = None
            try:
                if self.cluster:
                    reader = self._make_client(socket_timeout=15)
                    self._read_cluster(reader)
                    continue
                reader = self._make_client(single_connection_client=True, socket_timeout=15)
                reader_id = reader.client_id()
                logger.info("backplane up: %s", self.url)
                self._set_up(True)
                delay = 0.1
                self._read(reader, reader_id)
            except (self._redis.RedisError, *self._unreachable) as exc:
                if self._up:
                    logger.warning("backplane down (%s); catching up when it is back", exc)
                self._set_up(False)
            except Exception:
                logger.exception("backplane: the reader failed; restarting it")
                self._set_up(False)
            finally:
                self._reading = None
                if reader is not None:
                    try:
                        reader.close()
                    except Exception:
                        pass
            if self._closed:
                break
            gevent.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.max_backoff)

    def _read(self, reader: Any, reader_id: int) -> None:
        while not self._closed:
            self._wake.clear()
            streams: dict[str, str] = {}
            rooms: dict[str, tuple[str, str]] = {}
            for room, (message_position, presence_position) in self._positions.items():
                streams[self.key(room, "m")] = f"{message_position}-0"
                streams[self.key(room, "p")] = "%d-%d" % presence_position
                rooms[self.key(room, "m")] = (room, "m")
                rooms[self.key(room, "p")] = (room, "p")
            if not streams:
                reader.ping()                      # still there?
                self._wake.wait(5)
                continue
            self._reading = reading = (reader, reader_id)
            try:
                result = reader.xread(streams, count=1000, block=10000)
            finally:
                if self._reading is reading:
                    self._reading = None
            for stream, entries in (result.items() if isinstance(result, dict) else result or ()):
                room, kind = rooms[_text(stream)]
                for entry_id, fields in entries:
                    self._dispatch(room, kind, entry_id, fields)

    def _read_cluster(self, reader: Any, poll: float = 1.0) -> None:
        """The reader on a Redis Cluster: the bell says which rooms changed;
        every ``poll`` seconds (and after a reconnection) all are read, in
        case a bell was missed."""
        bells = reader.pubsub()
        try:
            bells.subscribe(self.bell)
            while bells.get_message(timeout=5) is None:    # the confirmation
                pass
            logger.info("backplane up: %s (cluster)", self.url)
            self._set_up(True)
            everything_at = 0.0
            while not self._closed:
                if time.monotonic() >= everything_at:
                    self._dirty.update(self._positions)
                    everything_at = time.monotonic() + poll
                rooms = [room for room in self._dirty if room in self._positions]
                self._dirty.clear()
                self._wake.clear()
                if rooms:
                    pipe = reader.pipeline(transaction=False)
                    for room in rooms:
                        message_position, presence_position = self._positions[room]
                        pipe.xread({self.key(room, "m"): f"{message_position}-0",
                                    self.key(room, "p"): "%d-%d" % presence_position},
                                   count=1000)
                    for room, result in zip(rooms, pipe.execute()):
                        for stream, entries in (result.items() if isinstance(result, dict)
                                                else result or ()):
                            kind = _text(stream).rpartition(":")[2]
                            for entry_id, fields in entries:
                                self._dispatch(room, kind, entry_id, fields)
                            if len(entries) >= 1000:
                                self._dirty.add(room)
                if self._dirty:
                    continue
                bell = bells.get_message(timeout=min(0.25, poll))
                while bell is not None:
                    if bell.get("type") == "message":
                        key = _text(bell["data"])
                        room = key[key.find("{") + 1:key.rfind("}")]
                        if room in self._positions:
                            self._dirty.add(room)
                    bell = bells.get_message(timeout=0)
        finally:
            bells.close()

    def _dispatch(self, room: str, kind: str, entry_id: Any, fields: dict) -> None:
        positions = self._positions.get(room)
        if positions is None:
            return                                  # unwatched meanwhile
        position = _position(entry_id)
        if kind == "m":
            position = position[0]
            if position <= positions[0]:
                return
            positions[0] = position
        else:
            if position <= positions[1]:
                return
            positions[1] = position
        event = self._open(room, kind, fields.get(b"e", b""), fields.get(b"h"))
        if event is None:
            return
        if kind == "m":
            event["id"] = position
            if self.on_lag is not None:
                self.on_lag(max(0.0, time.time() - event["time"]))
        try:
            self.service.deliver(room, kind, position, event)
        except Exception:
            logger.exception("backplane: could not deliver an event of %s", room)

    # ------------------------------------------------------------ presence
    def _heartbeat(self) -> None:
        """Keep this worker's members alive, and sweep the rooms it is in
        for members whose worker stopped."""
        interval = self.presence_ttl / 3
        while not self._closed:
            gevent.sleep(interval)
            for room in list(self.service.rooms.values()):
                seats = [s for s in list(room.members.values()) if s.pending is None]
                if not seats:
                    continue
                args: list = [int(self.presence_ttl * 1000), self.room_ttl]
                for seat in seats:
                    args += [seat.key, self._record(room.name, seat.record)]
                try:
                    gone, lost = self._scripts["heartbeat"](
                        keys=self._presence_keys(room.name), args=args)
                    if gone:
                        self._announce_gone(room.name, gone)
                    for key in lost:
                        seat = room.members.get(_text(key))
                        if seat is not None:
                            logger.info("backplane: %r in %s was taken over", seat.nick,
                                        room.name)
                            self.service.evict(room, seat)
                except (self._redis.RedisError, OSError, StoreUnavailable) as exc:
                    logger.debug("backplane: heartbeat of %s failed: %s", room.name, exc)
                except Exception:
                    logger.exception("backplane: heartbeat of %s failed", room.name)


def _position(entry_id: Any) -> tuple[int, int]:
    first, _, second = _text(entry_id).partition("-")
    return int(first), int(second or 0)
