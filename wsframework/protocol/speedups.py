"""The C accelerator (``wsframework.protocol._speedups``, built by setup.py where a
compiler exists), imported in this one place.

:data:`SPEEDUPS` says whether the C code is in use: it was built and the
environment does not set ``WSFRAMEWORK_NO_SPEEDUPS`` (which forces the
pure-Python fallback; the tests run both).  :func:`accelerated` gives a
module the C twin of one of its functions, or its Python version.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Callable, TypeVar

__all__ = ["SPEEDUPS", "ENV_SWITCH", "accelerated"]

#: Set (to anything non-empty) to run the pure-Python code even if the C
#: accelerator is built.
ENV_SWITCH = "WSFRAMEWORK_NO_SPEEDUPS"

_F = TypeVar("_F", bound=Callable)


def _load() -> ModuleType | None:
    """The extension module, or None when it is switched off or not built."""
    if os.environ.get(ENV_SWITCH):
        return None
    try:
        from . import _speedups
    except ImportError:  # not built (no compiler): the pure-Python versions serve
        return None
    return _speedups


_C = _load()

#: Whether the C accelerator is in use.
SPEEDUPS = _C is not None


def accelerated(name: str, python: _F) -> _F:
    """The C function ``name`` when the accelerator is in use and has it
    (an older build may not), else ``python``, its pure-Python twin."""
    return getattr(_C, name, python) if _C is not None else python
