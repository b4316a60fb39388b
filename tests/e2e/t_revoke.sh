#!/usr/bin/env bash
# certkeep revoke, the real static binary against a real Pebble (ports 240xx):
# --reason refused when unknown (exit 2), nothing on the volume (exit 1, one line),
# a revocation Pebble's management port reports with its reason, after which init
# refuses the certificate ("revoked") and issues a new serial; with a store, a
# second replica's volume and the store holding the revoked certificate are both
# refused; a revoked certificate revoked again is done; no account key, one line;
# a running `run` issues anew on SIGUSR1 after a revoke.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=24000 PEBBLE_MGMT_PORT=24001 PEBBLE_TLS01_PORT=24002 PEBBLE_DNS_PORT=24053
PEBBLE_CTS_PORT=24055 PEBBLE_HTTP01_PORT=24080
. "$(dirname "$0")/pebble.sh"
plan 32

cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "revoke: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "revoke: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=revoke.example.com
# ck CMD LOG OUT STATE [ARGS...]: certkeep against Pebble; output in $CK_TMP/LOG.log, status $?.
ck() {
    local cmd=$1 log=$CK_TMP/$2.log out=$3 state=$4; shift 4
    "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$out" --state "$state" "$@" \
        >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
# The lines that are not log lines (a command's own error line starts "certkeep: ").
errlines() { grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z (debug|info |warn |error) ' "$CK_TMP/$1.log"; }
# The serial as certkeep writes it: the DER integer's bytes, so "00" first when the top bit is set.
serial() {
    local s
    s=$(openssl x509 -in "$1/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2 | tr 'A-F' 'a-f')
    case $s in [89a-f]*) echo "00$s" ;; *) echo "$s" ;; esac
}
# Pebble's view of a serial: "Valid" or "Revoked", then the reason.
ca_status() {
    curl -fsS --cacert "$PEBBLE_WFE_CA" "https://localhost:$PEBBLE_MGMT_PORT/cert-status-by-serial/${1#00}" |
        python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["Status"], d.get("Reason"))' 2>&1
}
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}

V1=$CK_TMP/v1 S1=$CK_TMP/s1
echo "-- refusals before anything is asked of the CA"
check "revoke: init issues first" ck init init0 "$V1" "$S1"
A=$(serial "$V1")
ck revoke bad-reason "$V1" "$S1" --reason compromised; rc=$?
check_eq "revoke: unknown --reason: exit 2" 2 "$rc"
check_match "revoke: unknown --reason: one line naming it" \
    '^certkeep: --reason: "compromised" is not an RFC 5280 reason' "$(errlines bad-reason)"
check_eq "revoke: unknown --reason: one line" 1 "$(errlines bad-reason | grep -c .)"
ck revoke reason7 "$V1" "$S1" --reason 7; rc=$?
check_eq "revoke: --reason 7 (unassigned): exit 2" 2 "$rc"
ck init reason-init "$V1" "$S1" --reason superseded; rc=$?
check_eq "revoke: --reason on init: exit 2" 2 "$rc"
ck revoke empty "$CK_TMP/nothing" "$S1"; rc=$?
check_eq "revoke: nothing on the volume: exit 1" 1 "$rc"
check_eq "revoke: nothing on the volume: one line" \
    "certkeep: revoke: no certificate at $CK_TMP/nothing/$NAME" "$(errlines empty)"
check_eq "revoke: the refusals revoked nothing" "Valid None" "$(ca_status "$A")"

echo "-- revoke, then init issues anew"
check "revoke: --reason keyCompromise: exit 0" ck revoke rv1 "$V1" "$S1" --reason keyCompromise
check_eq "revoke: Pebble reports it revoked, reason 1" "Revoked 1" "$(ca_status "$A")"
check_match "revoke: says what it did" "serial $A revoked \(reason 1\)" "$(logof rv1)"
check "revoke: marked in the state directory" test -s "$S1/certs/$NAME/revoked/$A.json"
check "revoke: the files stay for the app until a new certificate" test -s "$V1/$NAME/cert.pem"
before=$(pebble_issued_count)
check "revoke: init after it: exit 0" ck init init1 "$V1" "$S1"
check_match "revoke: init refuses the volume's copy: revoked" \
    "issuing: nothing usable \(volume: serial $A is revoked\)" "$(logof init1)"
B=$(serial "$V1")
if [ -n "$B" ] && [ "$B" != "$A" ]; then pass "revoke: init issued a new serial"
else fail "revoke: init issued a new serial" "$A -> $B"; fi
check_eq "revoke: exactly one issuance" 1 $(($(pebble_issued_count) - before))
check_match "revoke: the new order replaces the revoked certificate (ARI)" \
    "$REPLACES_SENT" "$(logof init1)"
check "revoke: the next init uses the new one" ck init init2 "$V1" "$S1"
check_match "revoke: ... from the volume" "using the volume: serial $B" "$(logof init2)"
cp -a "$V1" "$CK_TMP/v1-old"

echo "-- with a store: the store and another replica's volume"
ST=$CK_TMP/store V2=$CK_TMP/v2 V3=$CK_TMP/v3
check "revoke: store: init issues" ck init init-st "$V2" "$CK_TMP/s2" --store-dir "$ST"
C=$(serial "$V2")
cp -a "$V2" "$V3"   # a second replica's volume, its own state directory (no local mark)
check "revoke: store: revoke: exit 0" ck revoke rv-st "$V2" "$CK_TMP/s2" --store-dir "$ST" --reason superseded
check_eq "revoke: store: Pebble reports it revoked, reason 4" "Revoked 4" "$(ca_status "$C")"
check "revoke: store: marked in the store" test -s "$ST/certs/$NAME/revoked/$C.json"
check "revoke: store: the other replica's init: exit 0" ck init init-v3 "$V3" "$CK_TMP/s3" --store-dir "$ST"
check_match "revoke: store: its volume and the store both refused: revoked" \
    "volume: serial $C is revoked; store: serial $C is revoked" "$(logof init-v3)"
D=$(serial "$V3")
if [ -n "$D" ] && [ "$D" != "$C" ]; then pass "revoke: store: a new serial"
else fail "revoke: store: a new serial" "$C -> $D"; fi
check "revoke: store: revoking a revoked certificate again is done" \
    ck revoke rv-twice "$V2" "$CK_TMP/s2" --store-dir "$ST"
check_match "revoke: store: ... the CA said so" "already revoked" "$(logof rv-twice)"
ck revoke no-account "$CK_TMP/v1-old" "$CK_TMP/s-none"; rc=$?
check_match "revoke: no account key: exit 1, one line" "^1 certkeep: revoke: no account key at $CK_TMP/s-none/account.key\$" \
    "$rc $(errlines no-account)"

echo "-- run notices a revocation on SIGUSR1"
"$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$V1" \
    --state "$S1" --listen 127.0.0.1:24090 >"$CK_TMP/run.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
wait_for 20 'grep -q "next renewal at" "$CK_TMP/run.log"'
ck revoke rv-run "$V1" "$S1"
kill -USR1 "$RUN_PID"
if wait_for 30 '[ -n "$(serial "$V1")" ] && [ "$(serial "$V1")" != "$B" ]'; then
    pass "revoke: run issues a new certificate after SIGUSR1"
else fail "revoke: run issues a new certificate after SIGUSR1" "$(tail -n 4 "$CK_TMP/run.log" | tr '\n' ' ')"; fi
