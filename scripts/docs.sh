#!/usr/bin/env bash
# Build the documentation site into docs/_build/html; any warning fails.
#   bash scripts/docs.sh [SPHINX-BUILD ARGS...]
# WSF_VENV picks the venv (default .venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WSF_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# The docs need no C accelerator: skip building it (scripts/test.sh builds
# it), which also leaves a _speedups module in use by running servers alone.
WSFRAMEWORK_NO_EXTENSIONS=1 "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[docs]'
exec "$VENV/bin/sphinx-build" -W --keep-going -b html "$@" docs docs/_build/html
