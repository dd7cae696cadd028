#!/usr/bin/env bash
# Install everything the tests need (a venv with the package and its test
# extras, the npm peers of tests/interop) and run the whole suite.
#   bash scripts/test.sh [PYTEST ARGS...]
# WSF_VENV picks the venv (default .venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WSF_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
exec "$VENV/bin/pytest-gevent" "$@"
