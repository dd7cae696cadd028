"""The C accelerator is imported in one place (``wsframework.protocol.speedups``):
one flag for whether it is in use, honouring ``WSFRAMEWORK_NO_SPEEDUPS``
(scripts/test.sh runs the framing tests again with it set), and each
accelerated module takes its C twin from there."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from wsframework.protocol import masking, parser, speedups


from wsframework import sending
PACKAGE = os.path.dirname(speedups.__file__)


def test_one_flag():
    assert speedups.SPEEDUPS is (not os.environ.get(speedups.ENV_SWITCH)
                                 and speedups._C is not None)
    assert masking.SPEEDUPS is speedups.SPEEDUPS and sending.SPEEDUPS is speedups.SPEEDUPS


def test_each_module_uses_the_implementation_the_flag_says():
    pairs = [(masking.apply_mask, masking.py_apply_mask),
             (sending.send_each, sending.py_send_each),
             (parser.parse_small, parser.py_parse_small),
             (masking.mask_in_place, masking.py_mask_in_place),
             (masking.payload_buffer, masking.py_payload_buffer)]
    for used, python in pairs:
        assert (used is not python) is speedups.SPEEDUPS, used


def test_accelerated_falls_back_to_the_python_twin():
    def twin() -> None:
        """Stands for a function an older build of the extension lacks."""

    assert speedups.accelerated("no_such_function", twin) is twin
    expected = speedups._C.apply_mask if speedups.SPEEDUPS else masking.py_apply_mask
    assert speedups.accelerated("apply_mask", masking.py_apply_mask) is expected


def test_the_switch_forces_pure_python_in_a_fresh_process():
    code = ("from wsframework import masking, speedups; "
            "print(speedups.SPEEDUPS, masking.apply_mask is masking.py_apply_mask)")
    env = {**os.environ, speedups.ENV_SWITCH: "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_only_the_speedups_module_imports_the_extension():
    importers = []
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py") and name != "speedups.py":
            with open(os.path.join(PACKAGE, name), encoding="utf-8") as f:
                if re.search(r"^\s*(from\s+\S*_speedups\s+import|import\s+\S*_speedups)",
                             f.read(), re.M):
                    importers.append(name)
    assert importers == []
