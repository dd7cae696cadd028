"""``EventEmitter``: Node-style events for every class that emits them.

Handlers run synchronously in the emitting greenlet.  An exception raised
by a handler is logged with its traceback and does not propagate, so one
faulty handler cannot take down a connection or the server.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

__all__ = ["EventEmitter"]

logger = logging.getLogger("wsframework")

Handler = Callable[..., Any]


class Once:
    """A handler registered with ``once()``: removed when it is called."""

    __slots__ = ("fn",)

    def __init__(self, fn: Handler) -> None:
        self.fn = fn


class EventEmitter:
    """``on``/``once``/``off``/``emit``/``listeners``, as in Node."""

    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events: dict[str, list[Any]] | None = None

    def on(self, event: str, fn: Handler) -> "EventEmitter":
        """Call ``fn`` each time ``event`` is emitted."""
        if self._events is None:
            self._events = {}
        self._events.setdefault(event, []).append(fn)
        self._handlers_changed(event)
        return self

    add_listener = on

    def once(self, event: str, fn: Handler) -> "EventEmitter":
        """Call ``fn`` the next time ``event`` is emitted, then forget it."""
        return self.on(event, Once(fn))

    def off(self, event: str, fn: Handler) -> "EventEmitter":
        """Remove one registration of ``fn`` for ``event``: the most recent
        one, as Node's ``removeListener`` does (with ``on(a); on(b); on(a)``,
        ``off(a)`` leaves ``[a, b]``)."""
        handlers = self._events.get(event) if self._events else None
        if handlers:
            for index in range(len(handlers) - 1, -1, -1):
                handler = handlers[index]
                if handler == fn or (isinstance(handler, Once) and handler.fn == fn):
                    del handlers[index]
                    break
            if not handlers:
                self._forget(event)
            else:
                self._handlers_changed(event)
        return self

    remove_listener = off

    def _forget(self, event: str) -> None:
        # An emitter without handlers keeps no table (idle connections and
        # requests are many; an empty dict is ~64 bytes each).
        del self._events[event]
        if not self._events:
            self._events = None
        self._handlers_changed(event)

    def _remove_wrapper(self, event: str, wrapper: Once) -> None:
        handlers = self._events.get(event) if self._events else None
        if handlers:
            for index, handler in enumerate(handlers):
                if handler is wrapper:
                    del handlers[index]
                    break
            if not handlers:
                self._forget(event)
            else:
                self._handlers_changed(event)

    def remove_all_listeners(self, event: str | None = None) -> "EventEmitter":
        """Forget every handler of ``event``, or of every event."""
        if self._events:
            if event is None:
                self._events = None
            else:
                self._events.pop(event, None)
                if not self._events:
                    self._events = None
            self._handlers_changed(event)
        return self

    def _handlers_changed(self, event: str | None) -> None:
        """The handlers of ``event`` (None: of every event) changed: a hook
        for a subclass that keeps a shortcut to one event's handler."""

    def listeners(self, event: str) -> list[Handler]:
        """The handlers of ``event``, in registration order."""
        handlers = self._events.get(event, ()) if self._events else ()
        return [h.fn if isinstance(h, Once) else h for h in handlers]

    def listener_count(self, event: str) -> int:
        """How many handlers ``event`` has."""
        return len(self._events.get(event, ())) if self._events else 0

    def has_listeners(self, event: str) -> bool:
        """Whether ``event`` has any handler."""
        return bool(self._events and self._events.get(event))

    def emit(self, event: str, *args: Any) -> bool:
        """Call the handlers of ``event`` with ``args``; True if there were any."""
        handlers = self._events.get(event) if self._events else None
        if not handlers:
            return False
        if len(handlers) == 1 and len(args) == 1:
            # The usual case, keeping no copies on this frame while the
            # handler runs: a request handler may run as long as its
            # connection, and idle connections are many.
            (arg,) = args
            del args
            handler = handlers[0]
            del handlers
            if isinstance(handler, Once):
                # The event's only handler: forgetting the event removes
                # it, without a search of the list.
                self._forget(event)
                handler = handler.fn
            try:
                handler(arg)
            except Exception:
                logger.exception("%s handler for %r raised", type(self).__name__, event)
            return True
        for handler in tuple(handlers):
            if isinstance(handler, Once):
                self._remove_wrapper(event, handler)
                handler = handler.fn
            try:
                # Spelled-out calls for the common arities: a Python handler
                # then runs in the same C frame (``f(*args)`` would add one,
                # and a greenlet blocked in a handler saves its C stack).
                if len(args) == 1:
                    handler(args[0])
                elif not args:
                    handler()
                else:
                    handler(*args)
            except Exception:
                logger.exception("%s handler for %r raised", type(self).__name__, event)
        return True
