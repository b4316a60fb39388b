# Sourced by every tests/e2e/t_*.sh. Records one line per check in $CK_RESULTS
# ("PASS name" / "FAIL name: why" / "SKIP name: why"), and the script's plan
# ("PLAN n"); tests/run.sh counts them, and planned checks that never ran fail.
: "${CK_RESULTS:=/dev/stdout}"
CK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CK_BIN=${CK_BIN:-$CK_ROOT/build/certkeep}
: "${CK_TMP:=$(mktemp -d /tmp/certkeep-e2e.XXXXXX)}"
export CK_ROOT CK_BIN CK_TMP

# Background certkeep processes a test started (append their pids); kill_bg ends them.
BG_PIDS=""
kill_bg() {
    local p
    for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    BG_PIDS=""
}

# plan N: this script runs N checks (passed, failed or skipped) when it runs to the end.
plan() { echo "PLAN $1" >>"$CK_RESULTS"; }
# skip N WHY: N checks that cannot run here; counted apart, never as passed.
skip() {
    local i
    for ((i = 0; i < $1; i++)); do echo "SKIP $2" >>"$CK_RESULTS"; done
    echo "  skip $1 check(s): $2"
}
# unignored CMD...: runs CMD with the stop and reload signals at their defaults. A
# shell cannot trap a signal it started with ignored (nohup ignores SIGHUP, `&` in a
# script ignores SIGINT), so the test apps that count signals start through this.
unignored() {
    python3 -c 'import os, signal, sys
for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

pass() { echo "PASS $1" >>"$CK_RESULTS"; echo "  ok   $1"; }
fail() { echo "FAIL $1: ${2:-}" >>"$CK_RESULTS"; echo "  FAIL $1: ${2:-}"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then fail "$name" "expected failure, got exit 0"; else pass "$name"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
# check_match NAME REGEX TEXT
check_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1" "'$2' not in: $(printf '%s' "$3" | head -c 300)"; fi
}
