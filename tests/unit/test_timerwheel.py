"""``TimerWheel`` on gevent's real event loop: items fire in order, never
before their time, once; cancelled ones never; a callback may reschedule
its item; one failing callback does not stop the others."""

from __future__ import annotations

import logging

import gevent
import pytest
from gevent.event import AsyncResult

from wsframework.protocol.timerwheel import TimerWheel, wheel_for


class Recorder:
    """A wheel callback that records (item, loop time) and reports when
    ``expected`` calls have been made."""

    def __init__(self, loop, expected: int) -> None:
        self.loop = loop
        self.calls: list[tuple[str, float]] = []
        self.expected = expected
        self.done = AsyncResult()

    def __call__(self, item: str) -> None:
        self.calls.append((item, self.loop.now()))
        if len(self.calls) == self.expected:
            self.done.set(self.calls)


def test_items_fire_in_order_and_never_early():
    loop = gevent.get_hub().loop
    recorder = Recorder(loop, 3)
    wheel = TimerWheel(loop, recorder)
    now = loop.now()
    due = {"a": now + 0.09, "b": now + 0.03, "c": now + 0.06}
    for item, when in due.items():
        wheel.schedule(item, when)
    assert len(wheel) == 3
    calls = recorder.done.get(timeout=5)
    assert [item for item, _ in calls] == ["b", "c", "a"]
    for item, fired_at in calls:
        assert fired_at >= due[item], (item, fired_at, due[item])
    assert len(wheel) == 0


def test_a_cancelled_item_never_fires():
    loop = gevent.get_hub().loop
    recorder = Recorder(loop, 2)
    wheel = TimerWheel(loop, recorder)
    now = loop.now()
    wheel.schedule("cancelled", now + 0.02)
    wheel.schedule("kept", now + 0.02)
    wheel.schedule("later", now + 0.05)
    wheel.cancel("cancelled", now + 0.02)
    wheel.cancel("never scheduled", now + 0.02)      # nothing happens
    calls = recorder.done.get(timeout=5)
    assert [item for item, _ in calls] == ["kept", "later"]


def test_a_callback_may_reschedule_its_item():
    loop = gevent.get_hub().loop
    fired = []
    done = AsyncResult()

    def callback(item):
        fired.append(loop.now())
        if len(fired) == 1:
            wheel.schedule(item, loop.now() + 0.02)
        else:
            done.set()

    wheel = TimerWheel(loop, callback)
    wheel.schedule("x", loop.now() + 0.01)
    done.get(timeout=5)
    assert len(fired) == 2 and fired[1] >= fired[0] + 0.02


@pytest.mark.expect_errors(r"timer callback for 'bad' raised(.|\n)*RuntimeError: boom")
def test_one_failing_callback_does_not_stop_the_others(caplog):
    loop = gevent.get_hub().loop
    recorder = Recorder(loop, 2)

    def callback(item):
        if item == "bad":
            raise RuntimeError("boom")
        recorder(item)

    wheel = TimerWheel(loop, callback)
    now = loop.now()
    with caplog.at_level(logging.ERROR, logger="wsframework"):
        for item in ("first", "bad", "last"):
            wheel.schedule(item, now + 0.02)
        calls = recorder.done.get(timeout=5)
    assert [item for item, _ in calls] == ["first", "last"]
    assert "boom" in caplog.text


def test_one_wheel_per_loop_and_callback():
    loop = gevent.get_hub().loop
    first, second = (lambda item: None), (lambda item: None)
    assert wheel_for(loop, first) is wheel_for(loop, first)
    assert wheel_for(loop, first) is not wheel_for(loop, second)
