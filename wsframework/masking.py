"""Payload masking (RFC 6455 §5.3).

A C accelerator may replace :func:`apply_mask` later; this pure-Python
version XORs the payload as one big integer, which keeps it linear.
"""

from __future__ import annotations

__all__ = ["apply_mask"]


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """Return ``data`` XORed with the repeated 4-byte ``mask``."""
    n = len(data)
    if n == 0:
        return b""
    repeated = (mask * ((n >> 2) + 1))[:n]
    value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(n, "little")


def rotate_mask(mask: bytes, offset: int) -> bytes:
    """The mask to apply to a slice that starts ``offset`` bytes in."""
    shift = offset & 3
    return mask[shift:] + mask[:shift] if shift else mask
