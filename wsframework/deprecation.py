"""WebSocket-Node's ``Deprecation`` helper, as a thin layer over
:mod:`warnings`: :func:`warn` issues a :class:`DeprecationWarning` once per
name, unless :data:`disable_warnings` is set."""

from __future__ import annotations

import warnings

__all__ = ["warn", "disable_warnings", "deprecation_warning_map"]

#: Set to True to silence every deprecation warning of the package.
disable_warnings = False

#: name → message of the deprecated features (none yet, as in 1.0.35).
deprecation_warning_map: dict[str, str] = {}

_warned: set[str] = set()


def warn(name: str) -> None:
    """Warn once about the deprecated feature ``name``, if it is known."""
    message = deprecation_warning_map.get(name)
    if disable_warnings or message is None or name in _warned:
        return
    _warned.add(name)
    warnings.warn(f"DEPRECATION WARNING: {message}", DeprecationWarning, stacklevel=2)
