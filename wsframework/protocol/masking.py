"""Payload masking (RFC 6455 §5.3).

:func:`apply_mask` is the C version when the accelerator is in use (see
:mod:`wsframework.protocol.speedups`), else the pure-Python one.
"""

from __future__ import annotations

from .speedups import SPEEDUPS, accelerated  # SPEEDUPS: re-exported, the one flag

__all__ = ["apply_mask", "py_apply_mask", "rotate_mask", "SPEEDUPS"]


def py_apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """Return ``data`` XORed with the repeated 4-byte ``mask``.

    Small payloads are XORed as one integer; large ones lane by lane,
    each of the four byte lanes translated through a 256-byte XOR table,
    which avoids huge temporary integers.
    """
    if len(mask) != 4:
        raise ValueError("mask must be 4 bytes long")
    n = len(data)
    if n == 0:
        return b""
    if n < 4096:
        repeated = (mask * ((n >> 2) + 1))[:n]
        value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
        return value.to_bytes(n, "little")
    buf = bytearray(data)
    for lane in range(4):
        buf[lane::4] = buf[lane::4].translate(_table(mask[lane]))
    return bytes(buf)


_tables: dict[int, bytes] = {}


def _table(key: int) -> bytes:
    table = _tables.get(key)
    if table is None:
        table = _tables[key] = bytes(b ^ key for b in range(256))
    return table


def rotate_mask(mask: bytes, offset: int) -> bytes:
    """The mask to apply to a slice that starts ``offset`` bytes in."""
    shift = offset & 3
    return mask[shift:] + mask[:shift] if shift else mask


apply_mask = accelerated("apply_mask", py_apply_mask)
