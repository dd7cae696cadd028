"""The import paths of modules that moved into :mod:`wsframework.protocol`
and :mod:`wsframework.apps` keep working: ``import wsframework.frame`` gives
the very module ``wsframework.protocol.frame`` (one object, so patching
either patches both), with a :class:`DeprecationWarning` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

__all__ = ["MOVED"]

#: old name below ``wsframework`` → its new place below ``wsframework``.
MOVED: dict[str, str] = {
    "close_codes": "protocol.close_codes",
    "cookies": "protocol.cookies",
    "extensions": "protocol.extensions",
    "frame": "protocol.frame",
    "framing": "protocol.framing",
    "handshake": "protocol.handshake",
    "headers": "protocol.headers",
    "http11": "protocol.http11",
    "masking": "protocol.masking",
    "message": "protocol.message",
    "parser": "protocol.parser",
    "permessage_deflate": "protocol.permessage_deflate",
    "streams": "protocol.streams",
    "url": "protocol.url",
    "utf8": "protocol.utf8",
    "timerwheel": "protocol.timerwheel",
    "keepalive": "protocol.keepalive",
    "speedups": "protocol.speedups",
    "bots": "apps.bots",
    "cli": "apps.cli",
    "console": "apps.console",
    "settings": "apps.settings",
    "logformat": "apps.logformat",
    "chat": "apps.chat",
}


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``wsframework.<old>[.sub]`` and loads it as the moved module."""

    @staticmethod
    def _target(fullname: str) -> str | None:
        package, _, rest = fullname.partition(".")
        head, _, tail = rest.partition(".")
        if package != "wsframework" or head not in MOVED:
            return None
        return f"wsframework.{MOVED[head]}" + (f".{tail}" if tail else "")

    def find_spec(self, fullname: str, path: Any = None,
                  target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if self._target(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = self._target(spec.name)
        assert new is not None
        warnings.warn(f"{spec.name} moved to {new}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported under its new name."""


def install() -> None:
    """Put the finder first on :data:`sys.meta_path` (once)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
