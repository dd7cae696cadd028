"""The pure decision tables beside the timer wheel and the close codes:
keepalive steps and the answer to a peer's close frame."""

from __future__ import annotations

import pytest

from wsframework.protocol.close_codes import CloseCode, close_reply
from wsframework.protocol.keepalive import KeepaliveAction, keepalive_step

SETTINGS = {"interval": 20.0, "grace": 10.0, "drop_on_timeout": True}


def test_a_peer_heard_from_recently_is_looked_at_again_later():
    step = keepalive_step(105.0, 100.0, 0.0, **SETTINGS)
    assert step.action is KeepaliveAction.WAIT and step.delay == 15.0
    assert (step.last_receive, step.ping_sent_at) == (100.0, 0.0)


def test_an_idle_peer_is_pinged_and_given_the_grace_period():
    step = keepalive_step(130.0, 100.0, 0.0, **SETTINGS)
    assert step.action is KeepaliveAction.PING and step.delay == 10.0
    assert step.ping_sent_at == 130.0 and step.last_receive == 100.0


def test_without_dropping_a_ping_restarts_the_interval():
    step = keepalive_step(130.0, 100.0, 0.0, interval=20.0, grace=10.0, drop_on_timeout=False)
    assert step.action is KeepaliveAction.PING and step.delay == 20.0
    assert step.last_receive == 130.0 and step.ping_sent_at == 0.0


def test_silence_through_the_grace_period_means_the_peer_is_gone():
    step = keepalive_step(140.0, 100.0, 130.0, **SETTINGS)
    assert step.action is KeepaliveAction.PEER_GONE


def test_an_answer_in_the_grace_period_ends_it():
    step = keepalive_step(140.0, 135.0, 130.0, **SETTINGS)
    assert step.action is KeepaliveAction.WAIT and step.ping_sent_at == 0.0
    assert step.delay == 15.0


def test_a_stalled_reader_does_not_count_the_silence():
    step = keepalive_step(500.0, 100.0, 0.0, stalled=True, **SETTINGS)
    assert step.action is KeepaliveAction.WAIT and step.delay == 20.0
    assert step.last_receive == 500.0


@pytest.mark.parametrize("status, invalid_length, expected", [
    (-1, False, (CloseCode.NOT_PROVIDED, CloseCode.NORMAL)),
    (-1, True, (CloseCode.NOT_PROVIDED, CloseCode.PROTOCOL_ERROR)),
    (1000, False, (1000, CloseCode.NORMAL)),
    (4000, False, (4000, CloseCode.NORMAL)),
    (1005, False, (1005, CloseCode.PROTOCOL_ERROR)),
    (999, False, (999, CloseCode.PROTOCOL_ERROR)),
    (5000, False, (5000, CloseCode.PROTOCOL_ERROR)),
])
def test_close_reply_table(status, invalid_length, expected):
    assert close_reply(status, invalid_length) == expected
