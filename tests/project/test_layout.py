"""The package's layout: the protocol core never needs gevent, and the old
import paths of moved modules still give the very same modules."""

import importlib
import os
import pkgutil
import subprocess
import sys
import warnings

import pytest

import wsframework
import wsframework.protocol
from wsframework._moved import MOVED

PROTOCOL_MODULES = sorted(name for _, name, _ in pkgutil.iter_modules(wsframework.protocol.__path__))

# Import every module of wsframework.protocol with gevent and greenlet
# made unimportable, and without running wsframework/__init__.py (which
# pulls in the gevent layer): a stand-in parent package points at the tree.
_BLOCKED = """
import sys, types
sys.modules["gevent"] = None
sys.modules["greenlet"] = None
parent = types.ModuleType("wsframework")
parent.__path__ = [{path!r}]
sys.modules["wsframework"] = parent
import importlib
for name in {names!r}:
    importlib.import_module("wsframework.protocol." + name)
loaded = sorted(m for m in sys.modules if m.startswith("wsframework."))
print(" ".join(loaded))
"""


def test_the_protocol_core_imports_without_gevent():
    assert "parser" in PROTOCOL_MODULES and "frame" in PROTOCOL_MODULES
    script = _BLOCKED.format(path=os.path.dirname(wsframework.__file__), names=PROTOCOL_MODULES)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    # Nothing of the gevent layer came along.
    outside = [m for m in loaded if not m.startswith("wsframework.protocol")
               and m != "wsframework.exceptions"]
    assert outside == []


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_import_paths_give_the_moved_module(old):
    sys.modules.pop(f"wsframework.{old}", None)     # imported again: through the finder
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(f"wsframework.{old}")
    assert module is importlib.import_module(f"wsframework.{MOVED[old]}")
    assert [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)] == \
        [f"wsframework.{old} moved to wsframework.{MOVED[old]}"]


def test_a_submodule_of_a_moved_package_by_its_old_path():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from wsframework.chat.store import MemoryStore
    from wsframework.apps.chat.store import MemoryStore as moved
    assert MemoryStore is moved
