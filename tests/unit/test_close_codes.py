"""Unit tests for :mod:`wsframework.protocol.close_codes`: which close codes are
valid on the wire (reference §4.1 with the port's §9 item 2 rule: 1005,
1006 and 1015 are never valid) and the exact WebSocket-Node descriptions."""

from __future__ import annotations

import pytest

from wsframework import CLOSE_DESCRIPTIONS as ROOT_DESCRIPTIONS
from wsframework.protocol.close_codes import (CLOSE_DESCRIPTIONS, CloseCode, close_description,
                                     is_valid_close_code)
from wsframework.connection import WebSocketConnection

VALID = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
         3000, 3001, 3999, 4000, 4500, 4999]
INVALID = [-1, 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 5001,
           65535, 65536]


@pytest.mark.parametrize("code", VALID)
def test_valid_codes(code):
    assert is_valid_close_code(code) is True


@pytest.mark.parametrize("code", INVALID)
def test_invalid_codes(code):
    assert is_valid_close_code(code) is False


def test_whole_range_against_the_rule():
    def rule(code):
        return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    assert [c for c in range(0, 70000) if is_valid_close_code(c) != rule(c)] == []


# Reference §4.1, byte for byte (seed-connection.md's texts are wrong).
REFERENCE_TEXTS = {
    1000: "Normal connection closure",
    1001: "Remote peer is going away",
    1002: "Protocol error",
    1003: "Unprocessable input",
    1004: "Reserved",
    1005: "Reason not provided",
    1006: "Abnormal closure, no further detail available",
    1007: "Invalid data received",
    1008: "Policy violation",
    1009: "Message too big",
    1010: "Extension requested by client is required",
    1011: "Internal Server Error",
    1015: "TLS Handshake Failed",
}


def test_close_descriptions_match_the_reference():
    assert CLOSE_DESCRIPTIONS == REFERENCE_TEXTS


@pytest.mark.parametrize("code, text", sorted(REFERENCE_TEXTS.items()))
def test_close_description_lookup(code, text):
    assert close_description(code) == text


@pytest.mark.parametrize("code", [3000, 4000, 1012, 999])
def test_codes_without_a_text(code):
    assert close_description(code) is None


def test_descriptions_are_shared_by_the_package_and_connection_class():
    assert ROOT_DESCRIPTIONS == REFERENCE_TEXTS
    assert WebSocketConnection.CLOSE_DESCRIPTIONS == REFERENCE_TEXTS


@pytest.mark.parametrize("name, value", [
    ("NORMAL", 1000), ("GOING_AWAY", 1001), ("PROTOCOL_ERROR", 1002),
    ("UNPROCESSABLE_INPUT", 1003), ("RESERVED", 1004), ("NOT_PROVIDED", 1005),
    ("ABNORMAL", 1006), ("INVALID_DATA", 1007), ("POLICY_VIOLATION", 1008),
    ("MESSAGE_TOO_BIG", 1009), ("EXTENSION_REQUIRED", 1010),
    ("INTERNAL_SERVER_ERROR", 1011), ("TLS_HANDSHAKE_FAILED", 1015),
])
def test_close_reason_constants(name, value):
    assert getattr(WebSocketConnection, "CLOSE_REASON_" + name) == value
    assert CloseCode[name] == value
