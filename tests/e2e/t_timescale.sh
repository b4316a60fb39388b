#!/usr/bin/env bash
# test_time_scale (CERTKEEP_TEST_TIME_SCALE), the knob that lets tests see run's
# schedule in seconds instead of minutes: out of range refused with exit 2; with 60,
# the real backoff of a real failure (the http-01 port taken: refused before any
# order) is 1 s, then 10 s, each persisted in state.json; once the port is free the
# planned retry, not a signal, issues from a real Pebble and clears the failures.
set -u
. "$(dirname "$0")/lib.sh"
plan 14
PEBBLE_PORT=29650 PEBBLE_MGMT_PORT=29651 PEBBLE_TLS01_PORT=29652 PEBBLE_DNS_PORT=29653
PEBBLE_CTS_PORT=29655 PEBBLE_HTTP01_PORT=29680
. "$(dirname "$0")/pebble.sh"

SQUAT_PID=""
cleanup() { [ -z "$SQUAT_PID" ] || kill "$SQUAT_PID" 2>/dev/null; kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "timescale: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi

NAME=scale.example.com
OUT=$CK_TMP/out
STATE=$CK_TMP/state
ckx() {
    local cmd=$1 log=$CK_TMP/$2.log; shift 2
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$STATE" --out "$OUT" \
        "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
state_field() {  # the state directory's state.json (no store)
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
        "$STATE/certs/$NAME/state.json" "$1" 2>/dev/null
}
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}

# ---- 1. refused at start: exit 2, one line ---------------------------------------------
for v in 0 65 x; do
    CERTKEEP_TEST_TIME_SCALE=$v "$CK_BIN" run --domain "$NAME" --state "$STATE" --out "$OUT" \
        >"$CK_TMP/bad.log" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$CK_TMP/bad.log")" = 1 ] &&
        grep -q CERTKEEP_TEST_TIME_SCALE "$CK_TMP/bad.log"; then
        pass "timescale: $v refused (exit 2, one line naming it)"
    else fail "timescale: $v refused (exit 2, one line naming it)" "rc $rc: $(head -c 300 "$CK_TMP/bad.log")"; fi
done

if ! pebble_start; then fail "timescale: pebble start" "see $PEBBLE_LOG"; exit 1; fi

# ---- 2. 60 times faster: the backoff 1 s, 10 s, then the planned retry succeeds --------
# a squatter on the http-01 port: each attempt fails before the CA is asked
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4); time.sleep(600)' "$PEBBLE_HTTP01_PORT" &
SQUAT_PID=$!
wait_for 10 'ss -Hltn "( sport = :$PEBBLE_HTTP01_PORT )" | grep -q .'
CERTKEEP_TEST_TIME_SCALE=60 ckx run run &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
if wait_for 20 '[ "$(state_field failures)" = 1 ]'; then pass "timescale: first failure counted"
else fail "timescale: first failure counted" "$(logof run | tail -n 3)"; fi
check_match "timescale: warned at start" "test_time_scale 60: .*(a setting for tests)" "$(logof run)"
gap1=$(( $(state_field next_retry) - $(state_field last_failure) ))
if [ "$gap1" -ge 1 ] && [ "$gap1" -le 2 ]; then pass "timescale: first retry 1 min / 60 ahead ($gap1 s)"
else fail "timescale: first retry 1 min / 60 ahead" "$gap1 s"; fi
first=$(state_field last_failure)
if wait_for 30 '[ "$(state_field failures)" = 2 ]'; then pass "timescale: the planned retry ran and failed again"
else fail "timescale: the planned retry ran and failed again" "$(logof run | tail -n 3)"; fi
second=$(state_field last_failure)
if [ $(( second - first )) -ge 1 ]; then pass "timescale: not before its time ($(( second - first )) s after)"
else fail "timescale: not before its time" "$first then $second"; fi
gap2=$(( $(state_field next_retry) - second ))
if [ "$gap2" -ge 10 ] && [ "$gap2" -le 11 ]; then pass "timescale: second retry 10 min / 60 ahead ($gap2 s)"
else fail "timescale: second retry 10 min / 60 ahead" "$gap2 s"; fi
kill "$SQUAT_PID"; wait "$SQUAT_PID" 2>/dev/null; SQUAT_PID=""
# the third attempt comes by itself, 10 s after the second failure (120 s: a loaded machine)
if wait_for 120 '[ -s "$OUT/$NAME/fullchain.pem" ]'; then pass "timescale: the planned retry issued"
else fail "timescale: the planned retry issued" "$(logof run | tail -n 3)"; fi
issued=$(stat -c %Y "$OUT/$NAME/fullchain.pem" 2>/dev/null || echo 0)
if [ $(( issued - second )) -ge 9 ]; then pass "timescale: issued no earlier than planned ($(( issued - second )) s after)"
else fail "timescale: issued no earlier than planned" "$second then $issued"; fi
if wait_for 10 '[ "$(state_field failures)" = 0 ]'; then pass "timescale: failures cleared"
else fail "timescale: failures cleared" "failures $(state_field failures)"; fi
check_eq "timescale: two failures in all" 2 "$(grep -c 'failed (' "$CK_TMP/run.log")"
kill -TERM "$RUN_PID"
wait_for 10 '! kill -0 "$RUN_PID" 2>/dev/null'
wait "$RUN_PID"; rc=$?
check_eq "timescale: SIGTERM exit 0" 0 "$rc"
