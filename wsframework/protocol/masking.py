"""Payload masking (RFC 6455 §5.3).

:func:`apply_mask` is the C version when the accelerator is in use (see
:mod:`wsframework.protocol.speedups`), else the pure-Python one.
"""

from __future__ import annotations

from .speedups import SPEEDUPS, accelerated  # SPEEDUPS: re-exported, the one flag

__all__ = ["apply_mask", "mask_in_place", "payload_buffer", "py_apply_mask",
           "py_mask_in_place", "py_payload_buffer", "rotate_mask", "SPEEDUPS"]


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


def py_mask_in_place(buf: bytearray | memoryview, mask: bytes, offset: int) -> None:
    """XOR the writable ``buf`` with ``mask`` as it applies ``offset``
    bytes into the payload (a piece unmasked as it arrives)."""
    buf[:] = py_apply_mask(buf, rotate_mask(mask, offset))


def py_payload_buffer(n: int) -> tuple[bytearray, memoryview]:
    """A buffer to receive an ``n``-byte payload into, and a writable view
    on it; ``bytes(buffer)`` is the payload once filled.  (The C version
    gives a bytes object itself, so that ``bytes()`` is no copy.)"""
    buf = bytearray(n)
    return buf, memoryview(buf)


apply_mask = accelerated("apply_mask", py_apply_mask)
mask_in_place = accelerated("mask_in_place", py_mask_in_place)
payload_buffer = accelerated("payload_buffer", py_payload_buffer)
