#!/usr/bin/env bash
# The long fuzz run: every property-based fuzz test (tests/fuzz/test_fuzz_*.py)
# with many random examples, outside the normal test command.
#   bash scripts/fuzz.sh [TOTAL] [PYTEST ARGS...]
# TOTAL (default 1000000) is the number of examples across all the fuzz
# tests: each test gets TOTAL / (number of tests), rounded up, through
# WSFRAMEWORK_FUZZ_EXAMPLES (set that instead to choose the per-test count).
# FUZZ_JOBS (default 2) niced pytest processes share the tests; WSF_VENV
# picks the venv (default .venv in the repository); logs go to
# FUZZ_LOG_DIR (default /tmp/wsframework-fuzz).  Prints the examples run
# (Hypothesis's statistics, summed over all tests), the time taken and the
# failures; exits non-zero if any test failed.
#
# Plain pytest, not pytest-gevent: the fuzz tests only parse bytes, and an
# unpatched process cannot switch greenlets, so the suite's 60 s per-test
# ceiling (a gevent.Timeout in conftest.py) never fires on these long tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${WSF_VENV:-.venv}"
TOTAL="${1:-1000000}"
[ $# -gt 0 ] && shift
JOBS="${FUZZ_JOBS:-2}"
LOGS="${FUZZ_LOG_DIR:-/tmp/wsframework-fuzz}"
mkdir -p "$LOGS"

# Collected first, on its own: a fuzz file that fails to import or collect
# fails the run (a pipe into grep would lose pytest's exit status).
if ! collected=$("$VENV/bin/pytest" --collect-only -q -p no:cacheprovider \
    tests/fuzz/test_fuzz_*.py "$@"); then
  printf '%s\n' "$collected" >&2
  echo "fuzz: collecting the fuzz tests failed" >&2
  exit 1
fi
mapfile -t tests < <(printf '%s\n' "$collected" | grep '::')
count=${#tests[@]}
[ "$count" -gt 0 ] || { echo "no fuzz tests collected" >&2; exit 1; }
export WSFRAMEWORK_FUZZ_EXAMPLES="${WSFRAMEWORK_FUZZ_EXAMPLES:-$(( (TOTAL + count - 1) / count ))}"
echo "fuzz: $count tests x $WSFRAMEWORK_FUZZ_EXAMPLES examples" \
     "= $(( count * WSFRAMEWORK_FUZZ_EXAMPLES )) planned, $JOBS jobs, logs in $LOGS"

start=$(date +%s)
pids=()
for ((job = 0; job < JOBS; job++)); do
  share=()
  for ((i = job; i < count; i += JOBS)); do share+=("${tests[i]}"); done
  [ ${#share[@]} -gt 0 ] || continue
  nice -n 10 "$VENV/bin/pytest" -p no:cacheprovider -q --hypothesis-show-statistics \
    "${share[@]}" >"$LOGS/job$job.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
elapsed=$(( $(date +%s) - start ))

# Hypothesis prints "- N passing, M failing, and K invalid test cases" per
# test and phase; the examples run are the passing and failing ones.
cat "$LOGS"/job*.log | awk -v elapsed="$elapsed" '
  /passing, .* failing, and .* invalid/ {
    for (i = 1; i <= NF; i++) {
      if ($(i + 1) ~ /^passing/) passing += $i
      if ($(i + 1) ~ /^failing/) failing += $i
      if ($(i + 1) ~ /^invalid/) invalid += $i
    }
  }
  / (passed|failed|error)/ && /in [0-9.]+s/ { print "pytest:", $0 }
  END {
    printf "examples run: %d (%d passing, %d failing; %d invalid inputs discarded)\n",
      passing + failing, passing, failing, invalid
    printf "time: %d s (%.0f examples/s)\n", elapsed, (passing + failing) / (elapsed ? elapsed : 1)
  }'
grep -h "^FAILED\|^ERROR" "$LOGS"/job*.log || echo "failures: none"
exit $status
