#!/usr/bin/env bash
# A certificate shorter than renewal.min_valid (issue 6, item 2): the real static
# binary against a real Pebble that issues 120 s certificates (default min_valid
# 1 h), store in a directory. issue, init and renew publish and store what the CA
# just issued (exit 0, one warning naming renewal.min_valid and the lifetime);
# init 5 s later and a wiped volume reuse it without an order; run renews it inside
# its renewal window (60..75 s of 120 s), before it stops being usable (15 s left,
# 1/8 of its lifetime), with exactly one order.
#
# Why 120 s: the smallest lifetime that keeps every step tens of seconds apart on a
# loaded machine (a restart 5 s in sees ~110 s left against the 15 s it must keep;
# the renewal window ends 30 s before the unusable moment) while the script stays
# near two minutes. Clock skew cannot be faked for a static binary (LD_PRELOAD does
# not reach it): tests/unit/test_cert.c covers it with an explicit `now`.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=23000 PEBBLE_MGMT_PORT=23001 PEBBLE_TLS01_PORT=23002 PEBBLE_DNS_PORT=23053
PEBBLE_CTS_PORT=23055 PEBBLE_HTTP01_PORT=23080
PEBBLE_VALIDITY=120
. "$(dirname "$0")/pebble.sh"

plan 36
LISTEN_PORT=23090
cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "shortlived: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "shortlived: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=short.example.com
OUT=$CK_TMP/out
STORE=$CK_TMP/store

# ck COMMAND LOG [ARGS...]: certkeep against Pebble with the default min_valid (1 h);
# --profile default: Pebble picks a random profile for an order that names none.
ck() { ( ckx "$@" ); }
ckx() {
    local cmd=$1 log=$CK_TMP/$2.log; shift 2
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$OUT" \
        --store-dir "$STORE" "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
issued() { pebble_issued_count; }
crt() { echo "$OUT/$NAME/cert.pem"; }
serial() { openssl x509 -in "$(crt)" -noout -serial 2>/dev/null | cut -d= -f2; }
epoch() { date -d "$(openssl x509 -in "$(crt)" -noout "-$1" 2>/dev/null | cut -d= -f2)" +%s 2>/dev/null; }
lifetime() { echo $(( $(epoch enddate) - $(epoch startdate) )); }
stored_serial() {  # current.json's serial, as the volume's would be written
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['serial'].lstrip('0'))" \
        "$STORE/certs/$NAME/current.json" 2>/dev/null
}
vol_serial() { serial | tr 'A-F' 'a-f' | sed 's/^0*//'; }
files_ok() {
    local f
    for f in fullchain.pem cert.pem chain.pem privkey.pem; do [ -s "$OUT/$NAME/$f" ] || return 1; done
    a=$(openssl pkey -in "$OUT/$NAME/privkey.pem" -pubout 2>/dev/null) || return 1
    [ -n "$a" ] && [ "$a" = "$(openssl x509 -in "$(crt)" -noout -pubkey 2>/dev/null)" ]
}
warnings() { grep -c 'renewal.min_valid' "$CK_TMP/$1.log" 2>/dev/null; }
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$LISTEN_PORT$1"; }

# ---- 1. issue: published and stored although min_valid (1 h) exceeds its lifetime ------------
echo "-- issue"
before=$(issued)
check "issue: a 120 s certificate: exit 0" ck issue issue
check_eq "issue: one order" 1 $(($(issued) - before))
check "issue: files present, key matches" files_ok
check_eq "issue: privkey.pem is 0600" 600 "$(stat -c %a "$OUT/$NAME/privkey.pem" 2>/dev/null)"
lt=$(lifetime)
if [ -n "$lt" ] && [ "$lt" -ge 118 ] && [ "$lt" -le 120 ]; then pass "issue: Pebble issued a 120 s certificate ($lt s)"
else fail "issue: Pebble issued a 120 s certificate" "lifetime '$lt'"; fi
check_eq "issue: stored" "$(vol_serial)" "$(stored_serial)"
check_eq "issue: one min_valid warning" 1 "$(warnings issue)"
check_match "issue: the warning names the lifetime" \
    "renewal\.min_valid 3600 s .*${lt} s lifetime" "$(logof issue)"

# ---- 2. init on nothing: publishes; 5 s later and with the volume wiped: no order -----------
echo "-- init"
rm -rf "$OUT" "$STORE"
before=$(issued)
check "init: nothing anywhere: exit 0" ck init init1
check_eq "init: one order" 1 $(($(issued) - before))
check "init: files present, key matches" files_ok
check_eq "init: privkey.pem is 0600" 600 "$(stat -c %a "$OUT/$NAME/privkey.pem" 2>/dev/null)"
check_eq "init: stored" "$(vol_serial)" "$(stored_serial)"
check_eq "init: one min_valid warning" 1 "$(warnings init1)"
s1=$(serial)
sleep 5
before=$(issued)
check "init 5 s later: exit 0" ck init init2
check_eq "init 5 s later: no order" 0 $(($(issued) - before))
check_match "init 5 s later: uses the volume" "init.volume: using the volume" "$(logof init2)"
check_eq "init 5 s later: same serial" "$s1" "$(serial)"
rm -rf "$OUT"
check "init, volume wiped: exit 0" ck init init3
check_eq "init, volume wiped: no order" 0 $(($(issued) - before))
check_match "init, volume wiped: restored from the store" "restored from" "$(logof init3)"
check_eq "init, volume wiped: same serial" "$s1" "$(serial)"

# ---- 3. renew --force: a new one, published and stored ---------------------------------------
echo "-- renew"
before=$(issued)
check "renew --force: exit 0" ck renew renew --force
check_eq "renew --force: one order" 1 $(($(issued) - before))
s2=$(serial)
if [ -n "$s2" ] && [ "$s2" != "$s1" ]; then pass "renew --force: new serial"
else fail "renew --force: new serial" "$s1 -> $s2"; fi
check_eq "renew --force: stored" "$(vol_serial)" "$(stored_serial)"

# ---- 4. run: keeps it, renews it at about half its lifetime, once ----------------------------
echo "-- run"
nb=$(epoch startdate)
before=$(issued)
ckx run run --listen "127.0.0.1:$LISTEN_PORT" &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
if wait_for 10 '[ "$(http_code /readyz)" = 200 ]'; then pass "run: the 120 s certificate is ready"
else fail "run: the 120 s certificate is ready" "$(logof run | tail -n 3)"; fi
check_eq "run: no order at start" 0 $(($(issued) - before))
# the window opens at 60 s (half the lifetime) and ends at 75 s; unusable at 105 s
left=$(( nb + 100 - $(date +%s) ))
if wait_for "$left" '[ "$(serial)" != "$s2" ]'; then pass "run: renewed within 100 s of notBefore"
else fail "run: renewed within 100 s of notBefore" "$(logof run | tail -n 3)"; fi
at=$(( $(epoch startdate) - nb ))
if [ "$at" -ge 60 ] && [ "$at" -le 100 ]; then pass "run: renewed inside its window, not before half ($at s)"
else fail "run: renewed inside its window, not before half" "at $at s after notBefore"; fi
sleep 3
check_eq "run: one order" 1 $(($(issued) - before))
check_eq "run: stored" "$(vol_serial)" "$(stored_serial)"
check_match "run: the renewal's order replaces the old certificate" "$REPLACES_SENT" "$(logof run)"
check_eq "run: never through init's issuance" 0 "$(grep -c 'init.issue' "$CK_TMP/run.log")"
check_eq "run: /readyz 200 after" 200 "$(http_code /readyz)"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "run: SIGTERM: exit 0" 0 "$?"
BG_PIDS=""
exit 0
