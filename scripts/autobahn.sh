#!/usr/bin/env bash
# Conformance gate: the Autobahn|Testsuite server suite against the echo
# server and the client suite against examples/autobahn_client.py.
#   bash scripts/autobahn.sh              the CI gate: 1.* to 10.* in full and a
#                                         fixed subset of the compression cases
#                                         (12.*, 13.*) covering every parameter
#   bash scripts/autobahn.sh all          all 517 cases (compression is slow in
#                                         the suite's own peer: ~25 minutes)
#   bash scripts/autobahn.sh CASES [EXCLUDE]   e.g. "6.*" or "12.*,13.*"
# Fails on any FAILED or NON-STRICT case or a close that is not OK.
# Reports go to $AUTOBAHN_OUT (default /tmp/wsframework-autobahn).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
T="$ROOT/../shared/tools/autobahn"
# Two payloads of each compression group: 12.* (payload kinds, default
# offer) and 13.1-13.7 (no context takeover, window bits 8/9/15, several
# offers), each case with a small and a large message.
PMD_SUBSET="12.1.1,12.1.10,12.2.5,12.3.9,12.4.3,12.5.17"
for group in 1 2 3 4 5 6 7; do PMD_SUBSET="$PMD_SUBSET,13.$group.1,13.$group.10"; done
case "${1:-gate}" in
  gate) CASES="1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*,$PMD_SUBSET"; EXCLUDE="" ;;
  all)  CASES="*"; EXCLUDE="" ;;
  *)    CASES="$1"; EXCLUDE="${2-}" ;;
esac
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
