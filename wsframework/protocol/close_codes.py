"""Close status codes (RFC 6455 §7.4) and the texts WebSocket-Node reports.

:func:`is_valid_close_code` is the one rule for both directions: a code we
may send is exactly a code we accept from the peer.  Unlike WebSocket-Node,
1005, 1006 and 1015 are never valid on the wire (RFC 6455 §7.4.1).
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "CLOSE_DESCRIPTIONS", "is_valid_close_code", "close_description",
           "close_reply"]


class CloseCode(enum.IntEnum):
    """The close codes that have a name in RFC 6455 and the IANA registry."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNPROCESSABLE_INPUT = 1003
    RESERVED = 1004
    NOT_PROVIDED = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    EXTENSION_REQUIRED = 1010
    INTERNAL_SERVER_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE_FAILED = 1015


#: The exact texts of WebSocket-Node 1.0.35 (reference §4.1).
CLOSE_DESCRIPTIONS: dict[int, str] = {
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


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame, sent or received."""
    return (1000 <= code <= 1003 or 1007 <= code <= 1014
            or 3000 <= code <= 4999)


def close_description(code: int) -> str | None:
    """The WebSocket-Node text for ``code``, or None when it has none."""
    return CLOSE_DESCRIPTIONS.get(code)


def close_reply(status: int, invalid_length: bool = False) -> tuple[int, int]:
    """How to answer the peer's close frame: ``(reported, reply)``, the code
    the connection reports and the code of the close frame sent back.

    ``status`` is the frame's code (-1 when it has none); ``invalid_length``
    marks a payload of one byte.  As WebSocket-Node: 1000 in answer to a
    valid code or to none, 1002 to an invalid code or length; a frame
    without a code is reported as 1005.
    """
    if invalid_length:
        return CloseCode.NOT_PROVIDED, CloseCode.PROTOCOL_ERROR
    if status == -1:
        return CloseCode.NOT_PROVIDED, CloseCode.NORMAL
    return status, CloseCode.NORMAL if is_valid_close_code(status) else CloseCode.PROTOCOL_ERROR
