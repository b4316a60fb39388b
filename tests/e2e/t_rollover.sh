#!/usr/bin/env bash
# certkeep account rollover and deactivate (issue 12 item 3), the real static binary
# against Pebble (ports 325xx) and moto (32590) as the shared store of two replicas:
# - refusals before any request (no account yet, no subcommand, no --yes);
# - a rollover under the store's lease leaves a new key (another thumbprint) in the
#   store; Pebble takes it and refuses the old one;
# - replica B, which read the old key just before (its GET held by a proxy in front
#   of moto, port 32591), is refused, takes the store's key (one log line) and gets
#   its certificate on the same account;
# - a kill -9 between the CA's acceptance and the store write (the PUT held by the
#   proxy) leaves the old account.key and the new account.key.next: the next order
#   is refused, the CA confirms the pending key, it becomes account.key;
# - a pending key the CA never saw is dropped by the next rollover;
# - a rollover without a store (<state>/account.key, 0600);
# - deactivate --yes: Pebble refuses the account, the next order creates a new one;
# - no key material in any log.
set -u
. "$(dirname "$0")/lib.sh"
plan 57
PEBBLE_PORT=32500 PEBBLE_MGMT_PORT=32501 PEBBLE_TLS01_PORT=32502 PEBBLE_DNS_PORT=32553
PEBBLE_CTS_PORT=32555 PEBBLE_HTTP01_PORT=32580
S3_PORT=32590 HOLD_PORT=32591
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

cleanup() { kill_bg; pebble_stop; s3_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "rollover: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "rollover: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "rollover: moto start" "see $S3_LOG"; exit 1; fi

NAME=rollover.example.com
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
PY=$S3_PYTHON
ACC=p1/accounts/localhost_$PEBBLE_PORT

# ck "COMMAND [SUB]" LOG VOLUME STATE [ARGS...]: certkeep against Pebble; output in $CK_TMP/LOG.log.
# With EXEC=exec (in a subshell) certkeep replaces the shell: $! is certkeep, for kill -9.
EXEC=""
ck() {
    local cmd=$1 log=$CK_TMP/$2.log vol=$3 state=$4; shift 4
    # shellcheck disable=SC2086  # "account rollover" is two words
    $EXEC "$CK_BIN" $cmd --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$state" --out "$vol" "$@" \
        >"$log" 2>&1
}
# The same with the shared store.
cks() { ck "$@" --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p1; }
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
errlines() { grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z (debug|info |warn |error) ' "$CK_TMP/$1.log"; }
# Store objects, through boto3 (an independent client).
sget() { S3_K=$1 s3_py 'import sys; sys.stdout.write(s3.get_object(Bucket=bucket, Key=os.environ["S3_K"])["Body"].read().decode())' 2>/dev/null; }
sput() { S3_K=$1 S3_F=$2 s3_py 's3.put_object(Bucket=bucket, Key=os.environ["S3_K"], Body=open(os.environ["S3_F"], "rb").read())'; }
sabsent() { S3_K=$1 s3_py '
try:
    s3.head_object(Bucket=bucket, Key=os.environ["S3_K"]); sys.exit(1)
except s3.exceptions.ClientError: pass' 2>/dev/null; }
thumb() { "$PY" "$TOOLS/jwk_thumb.py" 2>/dev/null; }
# What Pebble answers a request signed with KEY_FILE for account URL.
probe() { "$PY" "$TOOLS/acme_kid_probe.py" "$PEBBLE_DIR_URL" "$PEBBLE_WFE_CA" "$1" "$2" 2>&1 | tail -n 1; }
acct_url() { sget "$ACC/account.json" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["url"])' 2>/dev/null; }
# 0 when no line of a PEM key's base64 body appears in any log of this run.
no_key_in_logs() {
    local f line
    for f in "$@"; do
        while read -r line; do
            case $line in -----*|"") continue ;; esac
            if grep -rqF -- "$line" "$CK_TMP"/*.log; then return 1; fi
        done <"$f"
    done
}

# ckh: cks through the holding proxy (tests/tools/s3_hold.py) in front of moto.
ckh() { ck "$@" --s3-endpoint "http://127.0.0.1:$HOLD_PORT" --s3-bucket "$S3_BUCKET" --s3-path-style \
    --s3-prefix p1; }
ARMED=$CK_TMP/hold.armed HELD=$CK_TMP/hold.held
# hold METHOD: the proxy's next METHOD of account.key is held until unhold.
hold() {
    "$PY" "$TOOLS/s3_hold.py" "$HOLD_PORT" "$S3_PORT" "$1" /account.key "$ARMED" "$HELD" \
        "$CK_TMP/hold.release" 2>>"$CK_TMP/hold.err" &
    HOLD_PID=$!
    BG_PIDS="${BG_PIDS:-} $HOLD_PID"
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$HOLD_PORT") 2>/dev/null && break; sleep 0.1; done
    rm -f "$HELD" "$CK_TMP/hold.release"
    touch "$ARMED"
}
unhold() { { kill "$HOLD_PID"; wait "$HOLD_PID"; } 2>/dev/null; rm -f "$ARMED" "$HELD" "$CK_TMP/hold.release"; }

VA=$CK_TMP/va SA=$CK_TMP/sa VB=$CK_TMP/vb SB=$CK_TMP/sb

echo "-- refusals"
cks "account rollover" none "$VA" "$SA"; rc=$?
check_eq "rollover: no account yet: exit 1" 1 "$rc"
check_match "rollover: no account yet: says where it looked" \
    "^certkeep: account rollover: no account key at accounts/localhost_$PEBBLE_PORT/account.key in s3 " \
    "$(errlines none)"
check_eq "rollover: no account yet: one line" 1 "$(errlines none | grep -c .)"
"$CK_BIN" account >"$CK_TMP/bare.log" 2>&1; rc=$?
check_eq "account without a subcommand: exit 2" 2 "$rc"
cks "account deactivate" noyes "$VA" "$SA"; rc=$?
check_eq "deactivate without --yes: exit 2" 2 "$rc"
check_match "deactivate without --yes: says why" "add --yes" "$(errlines noyes)"
cks issue yesissue "$VA" "$SA" --yes; rc=$?
check_eq "--yes on issue: exit 2" 2 "$rc"

echo "-- replica A issues, then rolls the account key over"
check "rollover: A issues" cks issue a1 "$VA" "$SA"
sget "$ACC/account.key" >"$CK_TMP/old.pem"
T0=$(thumb <"$CK_TMP/old.pem")
URL=$(acct_url)
check_match "rollover: the old key signs for the account before" "^200 valid$" \
    "$(probe "$CK_TMP/old.pem" "$URL")"
check "rollover: A rolls over: exit 0" cks "account rollover" roll1 "$VA" "$SA"
check_match "rollover: one line says what happened" \
    "account $URL rolled over from key ${T0:0:12} to [A-Za-z0-9_-]{12} \(p256, in s3 " "$(logof roll1)"
sget "$ACC/account.key" >"$CK_TMP/new.pem"
T1=$(thumb <"$CK_TMP/new.pem")
check "rollover: the store holds another key (thumbprint $T0 -> $T1)" \
    test -n "$T1" -a -n "$T0" -a "$T1" != "$T0"
check "rollover: no pending key is left" sabsent "$ACC/account.key.next"
check_eq "rollover: the account URL stays" "$URL" "$(acct_url)"
old_says=$(probe "$CK_TMP/old.pem" "$URL")
echo "   Pebble to the old key: $old_says"
check_match "rollover: Pebble refuses the old key" \
    "^40[0-9] urn:ietf:params:acme:error:(malformed|unauthorized|accountDoesNotExist)$" "$old_says"
check_match "rollover: Pebble takes the new key" "^200 valid$" "$(probe "$CK_TMP/new.pem" "$URL")"
check "rollover: the lease is released (a second rollover goes through)" \
    cks "account rollover" roll2 "$VA" "$SA"
sget "$ACC/account.key" >"$CK_TMP/new2.pem"
T2=$(thumb <"$CK_TMP/new2.pem")
check "rollover: again another key" test -n "$T2" -a "$T2" != "$T1"

echo "-- replica B read the key just before A rolled it over"
# B's GET of account.key is answered only after A's rollover: B orders with the old key.
hold GET
( EXEC=exec; ckh issue b0 "$VB" "$SB" ) &
pid=$!
for _ in $(seq 1 300); do [ -e "$HELD" ] && break; sleep 0.1; done
check "rollover: B has read the old key" test -e "$HELD"
sget "$ACC/account.key" >"$CK_TMP/pre.pem"
check "rollover: A rolls over meanwhile" cks "account rollover" roll0 "$VA" "$SA"
sget "$ACC/account.key" >"$CK_TMP/post.pem"
TP=$(thumb <"$CK_TMP/pre.pem") TQ=$(thumb <"$CK_TMP/post.pem")
touch "$CK_TMP/hold.release"
wait "$pid"; rc=$?
unhold
check_eq "rollover: B's order with the old key: exit 0" 0 "$rc"
check_match "rollover: B says the CA refused its key and takes the store's" \
    "the CA refuses account key ${TP:0:12} .*signing with the account.key in s3 .*\(${TQ:0:12}\)" \
    "$(logof b0)"
check "rollover: B stayed with the account" eval "! grep -q 'created account' '$CK_TMP/b0.log'"
check_match "rollover: B's certificate is there" "issued $NAME serial" "$(logof b0)"
rm -rf "$VB"

echo "-- replica B orders with the store's key"
check "rollover: B issues: exit 0" cks issue b1 "$VB" "$SB"
check_match "rollover: B uses the same account" "using saved account $URL" "$(logof b1)"
check "rollover: B created no account" eval "! grep -q 'created account' '$CK_TMP/b1.log'"

echo "-- kill -9 after the CA took the new key, before the store had it"
# The rollover goes through a proxy in front of moto that holds the PUT of account.key:
# certkeep is killed exactly between the CA's acceptance and the store write.
hold PUT
( EXEC=exec; ckh "account rollover" killed "$VA" "$SA" ) &
pid=$!
for _ in $(seq 1 300); do [ -e "$HELD" ] && break; sleep 0.1; done
check "rollover: killed while writing account.key (the CA had taken the key)" test -e "$HELD"
{ kill -9 "$pid"; wait "$pid"; } 2>/dev/null
unhold
sget "$ACC/account.key" >"$CK_TMP/cut-old.pem"
sget "$ACC/account.key.next" >"$CK_TMP/cut-new.pem"
TO=$(thumb <"$CK_TMP/cut-old.pem") TN=$(thumb <"$CK_TMP/cut-new.pem")
check_match "rollover: after the kill Pebble refuses account.key" "^40[0-9] " \
    "$(probe "$CK_TMP/cut-old.pem" "$URL")"
check_match "rollover: after the kill Pebble takes the pending key" "^200 valid$" \
    "$(probe "$CK_TMP/cut-new.pem" "$URL")"
check "rollover: B issues after the cut-short rollover: exit 0" cks issue b2 "$VB" "$SB"
check_match "rollover: B says the CA refused its key and which one it signs with now" \
    "the CA refuses account key ${TO:0:12} .*signing with the account.key.next in s3 .*\(${TN:0:12}\)" \
    "$(logof b2)"
check_match "rollover: B says it finished the rollover" "finished an interrupted account key rollover" \
    "$(logof b2)"
check_eq "rollover: the pending key is account.key now" "$TN" "$(sget "$ACC/account.key" | thumb)"
check "rollover: and no longer pending" sabsent "$ACC/account.key.next"
check "rollover: B created no account" eval "! grep -q 'created account' '$CK_TMP/b2.log'"
cp "$CK_TMP/cut-new.pem" "$CK_TMP/new2.pem"
T2=$TN
s3_py 's3.delete_object(Bucket=bucket, Key="p1/locks/account")' 2>/dev/null  # the killed one's lease

echo "-- a pending key the CA never saw (a kill before keyChange)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$CK_TMP/stray.pem" 2>/dev/null
sput "$ACC/account.key.next" "$CK_TMP/stray.pem"
check "rollover: with a stray pending key: exit 0" cks "account rollover" roll3 "$VA" "$SA"
sget "$ACC/account.key" >"$CK_TMP/new3.pem"
T3=$(thumb <"$CK_TMP/new3.pem")
check "rollover: the stray key was not taken" test -n "$T3" -a "$T3" != "$(thumb <"$CK_TMP/stray.pem")" -a "$T3" != "$T2"
check_match "rollover: the newest key signs" "^200 valid$" "$(probe "$CK_TMP/new3.pem" "$URL")"

echo "-- without a store: the state directory's account"
VL=$CK_TMP/vl SL=$CK_TMP/sl
check "rollover: local issue" ck issue l1 "$VL" "$SL"
LT0=$(thumb <"$SL/account.key")
LURL=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["url"])' "$SL/account.json")
cp "$SL/account.key" "$CK_TMP/lold.pem"
check "rollover: local rollover: exit 0" ck "account rollover" lroll "$VL" "$SL"
LT1=$(thumb <"$SL/account.key")
check "rollover: local key replaced" test -n "$LT1" -a "$LT1" != "$LT0"
check_eq "rollover: local key file 0600" 600 "$(stat -c %a "$SL/account.key")"
check_match "rollover: local old key refused" "^40[0-9] " "$(probe "$CK_TMP/lold.pem" "$LURL")"
check "rollover: local issue with the new key" ck issue l2 "$VL" "$SL"
# a certificate of a deactivated account, renewed on the new one: the CA refuses its
# `replaces` (another account ordered it) and gets the order without it
check "deactivate: local: exit 0" ck "account deactivate" ldeact "$VL" "$SL" --yes
check "deactivate: local: renewing the old account's certificate: exit 0" \
    ck renew lrenew "$VL" "$SL" --force
check_match "deactivate: local: the CA's refusal of replaces, then the order without it" \
    'unauthorized: [^;]*; ordering again without "replaces"' "$(logof lrenew)"
check_eq "deactivate: local: not taken for a refused account key" 0 \
    "$(grep -c 'refuses account key' "$CK_TMP/lrenew.log")"

echo "-- deactivate"
check "deactivate: exit 0" cks "account deactivate" deact "$VA" "$SA" --yes
check_match "deactivate: one line says what happened" "account $URL deactivated; its key is removed" \
    "$(logof deact)"
check_match "deactivate: Pebble refuses the account" "^40[0-9] urn:ietf:params:acme:error:unauthorized$" \
    "$(probe "$CK_TMP/new3.pem" "$URL")"
check "deactivate: the key is gone from the store" sabsent "$ACC/account.key"
check "deactivate: the next order: exit 0" cks issue b3 "$VB" "$SB"
check_match "deactivate: it creates a new account" "created account" "$(logof b3)"
check "deactivate: under a new URL" test -n "$(acct_url)" -a "$(acct_url)" != "$URL"

check "rollover: no key material in any log" no_key_in_logs "$CK_TMP"/*.pem "$SL/account.key"
