"""Unit tests for :class:`wsframework.events.EventEmitter`: Node-style
``on``/``once``/``off``/``listeners``/``emit``, and the port's rule that a
raising handler is logged and does not stop the handlers after it (and
one test of ``off`` on a connection over a real socket)."""

from __future__ import annotations

import logging

import pytest
from gevent.event import AsyncResult

from wsframework import connect
from wsframework.events import EventEmitter


class Recorder:
    def __init__(self):
        self.calls = []

    def handler(self, name):
        def fn(*args):
            self.calls.append((name, args))
        fn.__name__ = name
        return fn


@pytest.fixture
def rec():
    return Recorder()


def test_emit_without_listeners_returns_false():
    assert EventEmitter().emit("message", 1) is False


def test_on_and_emit(rec):
    emitter = EventEmitter()
    a, b = rec.handler("a"), rec.handler("b")
    assert emitter.on("message", a) is emitter      # chainable, as in Node
    emitter.on("message", b)
    assert emitter.emit("message", 1, "two") is True
    assert rec.calls == [("a", (1, "two")), ("b", (1, "two"))]
    assert emitter.emit("other") is False


def test_same_handler_twice_runs_twice(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.on("x", a).on("x", a)
    emitter.emit("x")
    assert rec.calls == [("a", ()), ("a", ())]


def test_once(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    assert emitter.once("x", a) is emitter
    assert emitter.listeners("x") == [a]
    assert emitter.emit("x", 1) is True
    assert emitter.emit("x", 2) is False
    assert rec.calls == [("a", (1,))]
    assert emitter.listeners("x") == []


def test_once_and_on_keep_their_order(rec):
    emitter = EventEmitter()
    emitter.on("x", rec.handler("a"))
    emitter.once("x", rec.handler("b"))
    emitter.on("x", rec.handler("c"))
    emitter.emit("x")
    emitter.emit("x")
    assert [name for name, _ in rec.calls] == ["a", "b", "c", "a", "c"]


def test_once_does_not_remove_a_permanent_registration_of_the_same_function(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.on("x", a)
    emitter.once("x", a)
    for _ in range(3):
        assert emitter.emit("x") is True
    # Node: 2 calls, then 1 per emit for the permanent registration.
    assert len(rec.calls) == 4
    assert emitter.listeners("x") == [a]


def test_off(rec):
    emitter = EventEmitter()
    a, b = rec.handler("a"), rec.handler("b")
    emitter.on("x", a).on("x", b)
    assert emitter.off("x", a) is emitter
    assert emitter.listeners("x") == [b]
    emitter.emit("x")
    assert rec.calls == [("b", ())]


def test_off_removes_one_registration_at_a_time(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.on("x", a).on("x", a)
    emitter.off("x", a)
    assert emitter.listeners("x") == [a]
    emitter.off("x", a)
    assert emitter.listeners("x") == []
    assert emitter.emit("x") is False


def test_off_removes_the_most_recent_registration_as_node_does(rec):
    emitter = EventEmitter()
    a, b = rec.handler("a"), rec.handler("b")
    emitter.on("x", a).on("x", b).on("x", a)
    emitter.off("x", a)
    assert emitter.listeners("x") == [a, b]           # Node: [a, b]
    emitter.emit("x")
    assert [name for name, _ in rec.calls] == ["a", "b"]


def test_off_after_once_then_on_removes_the_permanent_one(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.once("x", a)
    emitter.on("x", a)
    emitter.off("x", a)                               # the later on(a) goes
    for _ in range(3):
        emitter.emit("x")
    assert len(rec.calls) == 1                        # the once, then nothing


def test_off_order_on_a_real_connection(make_server):
    """Over a socket: a server connection's ``message`` handlers after
    ``on(a), on(b), on(a); off(a)`` run as ``a, b``; after ``once(c);
    on(c); off(c)``, ``c`` runs for the first message only."""
    calls = []
    done = AsyncResult()

    def handler(name):
        return lambda message: calls.append((name, message.data))

    a, b, c = handler("a"), handler("b"), handler("c")

    def on_request(request):
        connection = request.accept(None, request.origin)
        connection.on("message", a).on("message", b).on("message", a)
        connection.off("message", a)
        connection.once("message", c).on("message", c)
        connection.off("message", c)
        connection.on("close", lambda code, description: done.set(code))

    server = make_server(on_request)
    client = connect(server.url)
    client.send("1")
    client.send("2")
    client.close()
    assert done.get(timeout=5) == 1000
    assert calls == [("a", "1"), ("b", "1"), ("c", "1"), ("a", "2"), ("b", "2")]


def test_remove_listener_is_an_alias(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.on("x", a)
    assert emitter.remove_listener("x", a) is emitter
    assert emitter.emit("x") is False


def test_off_a_once_handler(rec):
    emitter = EventEmitter()
    a = rec.handler("a")
    emitter.once("x", a)
    emitter.off("x", a)
    assert emitter.emit("x") is False
    assert rec.calls == []


def test_off_unknown_handler_or_event_is_harmless(rec):
    emitter = EventEmitter()
    emitter.off("nothing", rec.handler("a"))
    emitter.on("x", rec.handler("b"))
    emitter.off("x", rec.handler("c"))
    assert len(emitter.listeners("x")) == 1


def test_listeners(rec):
    emitter = EventEmitter()
    a, b = rec.handler("a"), rec.handler("b")
    assert emitter.listeners("x") == []
    emitter.on("x", a).once("x", b).on("y", b)
    assert emitter.listeners("x") == [a, b]
    assert emitter.listeners("y") == [b]
    emitter.listeners("x").clear()         # a copy: the emitter is unchanged
    assert emitter.listeners("x") == [a, b]
    assert emitter.listener_count("x") == 2
    assert emitter.has_listeners("y") and not emitter.has_listeners("z")


def test_remove_all_listeners(rec):
    emitter = EventEmitter()
    emitter.on("x", rec.handler("a")).on("y", rec.handler("b"))
    emitter.remove_all_listeners("x")
    assert emitter.listeners("x") == [] and len(emitter.listeners("y")) == 1
    emitter.remove_all_listeners()
    assert emitter.emit("y") is False


def test_handler_added_during_emit_runs_next_time(rec):
    emitter = EventEmitter()
    late = rec.handler("late")

    def adder():
        rec.calls.append(("adder", ()))
        emitter.on("x", late)

    emitter.on("x", adder)
    emitter.emit("x")
    assert [n for n, _ in rec.calls] == ["adder"]
    emitter.off("x", adder)
    emitter.emit("x")
    assert [n for n, _ in rec.calls] == ["adder", "late"]


@pytest.mark.expect_errors(r"EventEmitter handler for 'message' raised(.|\n)*boom 7")
def test_raising_handler_is_logged_and_later_handlers_run(rec, caplog):
    emitter = EventEmitter()

    def broken(value):
        raise RuntimeError(f"boom {value}")

    emitter.on("message", rec.handler("before"))
    emitter.on("message", broken)
    emitter.on("message", rec.handler("after"))
    with caplog.at_level(logging.ERROR, logger="wsframework"):
        assert emitter.emit("message", 7) is True
    assert rec.calls == [("before", (7,)), ("after", (7,))]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    record = errors[0]
    assert record.name.startswith("wsframework")
    assert "message" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == "boom 7"
    assert "RuntimeError: boom 7" in caplog.text      # the traceback is logged


@pytest.mark.expect_errors(r"EventEmitter handler for 'x' raised(.|\n)*ValueError: once")
def test_raising_once_handler_is_still_removed(rec, caplog):
    emitter = EventEmitter()

    def broken():
        raise ValueError("once")

    emitter.once("x", broken)
    with caplog.at_level(logging.ERROR, logger="wsframework"):
        emitter.emit("x")
    assert emitter.listeners("x") == []
    assert any(r.exc_info and isinstance(r.exc_info[1], ValueError) for r in caplog.records)


@pytest.mark.expect_errors(r"EventEmitter handler for 'x' raised(.|\n)*KeyError: 'k'")
def test_every_raising_handler_is_logged(caplog):
    emitter = EventEmitter()

    def broken():
        raise KeyError("k")

    emitter.on("x", broken).on("x", broken)
    with caplog.at_level(logging.ERROR, logger="wsframework"):
        emitter.emit("x")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2


def test_an_emitter_without_handlers_keeps_no_table():
    """Once its last handler is gone (off, a once that fired, or
    remove_all_listeners), an emitter holds no event table: idle
    connections and requests are many."""
    emitter = EventEmitter()
    seen = []
    emitter.once("a", seen.append)
    emitter.emit("a", 1)
    assert emitter._events is None and seen == [1]
    emitter.on("b", seen.append)
    emitter.off("b", seen.append)
    assert emitter._events is None
    emitter.on("c", seen.append)
    emitter.on("d", seen.append)
    emitter.remove_all_listeners("c")
    emitter.remove_all_listeners("d")
    assert emitter._events is None
    emitter.on("e", seen.append)
    emitter.emit("e", 2)
    assert seen == [1, 2] and emitter.listener_count("e") == 1
