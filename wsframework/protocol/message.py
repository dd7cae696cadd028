"""``WebSocketMessage``: one complete received message."""

from __future__ import annotations

__all__ = ["WebSocketMessage"]


class WebSocketMessage:
    """A received message: ``type`` is ``"utf8"`` (text) or ``"binary"``.

    ``utf8_data`` (str) or ``binary_data`` (bytes) is set, the other is
    None; ``data`` is whichever is set (an attribute rather than a
    property: handlers read it once per message).
    """

    __slots__ = ("type", "utf8_data", "binary_data", "data")

    def __init__(self, type: str, utf8_data: str | None = None,
                 binary_data: bytes | None = None) -> None:
        # WebSocketConnection._read_woken sets these four itself (no call
        # of this per message it receives): keep the two in step.
        self.type = type
        self.utf8_data = utf8_data
        self.binary_data = binary_data
        self.data: str | bytes = utf8_data if type == "utf8" else binary_data

    @classmethod
    def text(cls, data: str) -> "WebSocketMessage":
        """A text message holding ``data``."""
        return cls("utf8", utf8_data=data)

    @classmethod
    def binary(cls, data: bytes) -> "WebSocketMessage":
        """A binary message holding ``data``."""
        return cls("binary", binary_data=data)

    @property
    def is_text(self) -> bool:
        """Whether this is a text message (``type == "utf8"``)."""
        return self.type == "utf8"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WebSocketMessage):
            return NotImplemented
        return self.type == other.type and self.data == other.data

    def __repr__(self) -> str:
        data = self.data
        shown = data if len(data) <= 40 else data[:40]
        more = "..." if len(data) > 40 else ""
        return f"<WebSocketMessage {self.type} {shown!r}{more} ({len(data)})>"
