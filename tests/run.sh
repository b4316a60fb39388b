#!/usr/bin/env bash
# Runs the unit tests (ASan+UBSan builds) and the end-to-end tests (static binary),
# then prints one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0 failed=0
export CK_RESULTS=$(mktemp /tmp/certkeep-results.XXXXXX)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_unit() {
    local t out rc p f
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        echo "== unit $(basename "$t")"
        out=$("$t" 2>&1); rc=$?
        printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR) |^\[  PASSED|ERROR: (Address|Leak)Sanitizer|runtime error' || true
        p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' | awk '{s+=$1} END {print s+0}')
        f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' | awk '{s+=$1} END {print s+0}')
        passed=$((passed + p)); failed=$((failed + f))
        # A crash, a sanitizer report or a leak after the summary is a failure of its own.
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "  FAIL $(basename "$t") exited $rc"; printf '%s\n' "$out" | tail -n 20
            failed=$((failed + 1))
        fi
    done
}

run_e2e() {
    local t before rc
    for t in tests/e2e/t_*.sh; do
        [ -f "$t" ] || continue
        echo "== e2e $(basename "$t")"
        before=$(wc -l <"$CK_RESULTS")
        CK_TMP=$(mktemp -d /tmp/certkeep-e2e.XXXXXX) bash "$t"; rc=$?
        if [ $rc -ne 0 ] && [ "$(wc -l <"$CK_RESULTS")" -eq "$before" ]; then
            echo "FAIL $(basename "$t"): exited $rc before any check" >>"$CK_RESULTS"
        fi
    done
    passed=$((passed + $(grep -c '^PASS ' "$CK_RESULTS")))
    failed=$((failed + $(grep -c '^FAIL ' "$CK_RESULTS")))
    grep '^FAIL ' "$CK_RESULTS" | sed 's/^/  /' || true
}

case $what in
    unit) run_unit ;;
    e2e) run_e2e ;;
    all) run_unit; run_e2e ;;
    *) echo "usage: tests/run.sh [unit|e2e|all]" >&2; exit 2 ;;
esac
rm -f "$CK_RESULTS"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
