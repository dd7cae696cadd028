#!/usr/bin/env bash
# Install everything the tests need (a venv with the package and its test
# extras, the npm peers of tests/interop) and run the whole suite.
#   bash scripts/test.sh [PYTEST ARGS...]
# WSF_VENV picks the venv (default .venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests drive: a real Redis (the chat backplane), a
# real headless Chromium with its driver (the chat page), real proxies for
# the client (tinyproxy for HTTP CONNECT, stunnel4 for TLS to a proxy), and
# a real Prometheus scraping the chat's /metrics.
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v tinyproxy >/dev/null || need+=(tinyproxy)
command -v stunnel4 >/dev/null || need+=(stunnel4)
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
VENV="${WSF_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# The docs extra too: tests/project/test_docs.py builds the docs and runs their samples.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,docs]'
npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
if [ $# -gt 0 ]; then
  exec "$VENV/bin/pytest-gevent" "$@"
fi
# The whole suite (with the C accelerator), then the framing and
# broadcast tests again on the pure-Python fallback.
"$VENV/bin/pytest-gevent" -q
WSFRAMEWORK_NO_SPEEDUPS=1 "$VENV/bin/pytest-gevent" -q -p no:cacheprovider \
  tests/unit/test_masking.py tests/unit/test_frame.py tests/unit/test_parser.py tests/unit/test_parse_small.py tests/sockets/test_connection.py \
  tests/sockets/test_sending.py tests/sockets/test_slow_consumer.py \
  tests/sockets/test_parking.py tests/sockets/test_socket_calls.py
