#!/usr/bin/env bash
# setup.sh - install what the benchmark needs; idempotent and quick when done.
#   - a Python venv ($BENCH_VENV, default /tmp/bench-venv) with requirements.txt
#   - the Node servers' packages (package-lock.json) into $BENCH_HOME/node_modules
#   - the C load client, $BENCH_HOME/wsload, and the limit server, $BENCH_HOME/limit_server
# BENCH_HOME (default ${TMPDIR:-/tmp}/wsbench) takes everything written, so this folder
# may be read-only.
# Needs python3 (with venv), node + npm, a C compiler (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")"
VENV="${BENCH_VENV:-/tmp/bench-venv}"
WORK="${BENCH_HOME:-${TMPDIR:-/tmp}/wsbench}"
mkdir -p "$WORK"

log() { printf '[bench-setup] %s\n' "$*" >&2; }

if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt

if ! cmp -s package-lock.json "$WORK/package-lock.json" || [ ! -d "$WORK/node_modules/ws" ] \
   || [ ! -d "$WORK/node_modules/websocket" ]; then
    log "installing Node packages into $WORK/node_modules"
    cp package.json package-lock.json "$WORK/"
    (cd "$WORK" && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! command -v cc >/dev/null 2>&1; then
    log "installing a C compiler"
    apt-get update -qq && apt-get install -y -qq gcc libc6-dev
fi
if [ ! -x "$WORK/wsload" ] || [ wsload/wsload.c -nt "$WORK/wsload" ]; then
    log "building $WORK/wsload"
    cc -O2 -Wall -o "$WORK/wsload" wsload/wsload.c -lm
fi
if [ ! -x "$WORK/limit_server" ] || [ servers/limit_server.c -nt "$WORK/limit_server" ]; then
    log "building $WORK/limit_server"
    cc -O2 -Wall -o "$WORK/limit_server" servers/limit_server.c
fi
log "ready: venv $VENV, node $(node --version), $WORK/wsload"
