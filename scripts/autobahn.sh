#!/usr/bin/env bash
# Conformance gate: the Autobahn|Testsuite server suite against the echo
# server and the client suite against examples/autobahn_client.py.
#   bash scripts/autobahn.sh [CASES] [EXCLUDE]
# Defaults: CASES="*", EXCLUDE="12.*,13.*" (permessage-deflate comes later).
# Fails on any FAILED or NON-STRICT case or a close that is not OK.
# Reports go to $AUTOBAHN_OUT (default /tmp/wsframework-autobahn).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
T="$ROOT/../shared/tools/autobahn"
CASES="${1:-*}"
EXCLUDE="${2-12.*,13.*}"
VENV="${WSF_VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
OUT="${AUTOBAHN_OUT:-/tmp/wsframework-autobahn}"
[ -x "$PY" ] || { python3 -m venv "$VENV"; "$PY" -m pip install -q -e .; }

bash "$T/setup.sh" > "${TMPDIR:-/tmp}/wsframework-autobahn-setup.log" 2>&1 \
  || { tail -20 "${TMPDIR:-/tmp}/wsframework-autobahn-setup.log"; exit 2; }

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- server suite -----------------------------------------------------------
PORT="$(free_port)"
"$PY" -m wsframework echo --port "$PORT" > "$OUT-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
status=0
AUTOBAHN_EXCLUDE="$EXCLUDE" AUTOBAHN_AGENT=wsframework \
  "$T/run-server-suite.sh" "$PORT" "$CASES" "$OUT/server" || status=$?
kill $SERVER 2>/dev/null || true
wait $SERVER 2>/dev/null || true
trap - EXIT

# --- client suite -----------------------------------------------------------
PORT="$(free_port)"
AUTOBAHN_CASES="$CASES" AUTOBAHN_EXCLUDE="$EXCLUDE" AUTOBAHN_AGENT=wsframework \
  AUTOBAHN_REPORTS="$OUT/client" \
  "$T/run-client-suite.sh" "$PORT" "$PY" examples/autobahn_client.py || status=$?

# --- the gate: nothing but OK and INFORMATIONAL -----------------------------
python3 - "$T/summarize.py" "$OUT/server/index.json" "$OUT/client/index.json" <<'PYEOF' || status=1
import json, subprocess, sys
summarize, *paths = sys.argv[1:]
bad = False
for path in paths:
    for report in json.loads(subprocess.check_output([sys.executable, summarize, "--json", path])):
        problems = {k: report[k] for k in ("failed", "non_strict", "other_close") if report[k]}
        if problems:
            bad = True
            print(f"GATE FAIL {path}: {problems}")
        else:
            print(f"gate ok {path}: {report['cases']} cases, behavior {report['behavior']}")
sys.exit(1 if bad else 0)
PYEOF
exit $status
