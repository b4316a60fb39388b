#!/usr/bin/env bash
# SIGTERM/SIGINT during the one-shot commands (issue, init): the command ends
# through its error path, promptly: webroot tokens removed, store lease
# released, no partial file, one "interrupted by" line, exit 128+signal.
# Pebble runs with its VA delay (PEBBLE_VA_NOSLEEP unset) to catch certkeep
# mid-issuance, polling the authorization.
set -u
. "$(dirname "$0")/lib.sh"
plan 20
PEBBLE_PORT=29000 PEBBLE_MGMT_PORT=29001 PEBBLE_TLS01_PORT=29002 PEBBLE_DNS_PORT=29053
PEBBLE_CTS_PORT=29055 PEBBLE_HTTP01_PORT=29080
PEBBLE_VA_NOSLEEP=""
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

cleanup() { kill_bg; pebble_stop; s3_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "signals: binary" "$CK_BIN is missing"; exit 1; fi
if ! pebble_start; then fail "signals: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "signals: moto start" "see $S3_LOG"; exit 1; fi

NAME=signals.example.com
WEB=$CK_TMP/web
TOK=$WEB/.well-known/acme-challenge
now_ms() { date +%s%3N; }

# Waits (10 s max) for a token file in $TOK; 0 when one appeared.
wait_token() {
    local i
    for i in $(seq 1 200); do
        [ -n "$(ls -A "$TOK" 2>/dev/null)" ] && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# sig_case LABEL SIGNAL EXPECTED_RC CMD [ARGS...]: certkeep CMD in the background, SIGNAL once its
# http-01 token is in the webroot; checks exit code, one line, promptness, no token left.
sig_case() {
    local label=$1 sig=$2 want=$3 cmd=$4; shift 4
    local log=$CK_TMP/$label.log vol=$CK_TMP/$label-out
    rm -rf "$WEB"; mkdir -p "$WEB"
    "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --webroot "$WEB" \
        --state "$CK_TMP/$label-state" --out "$vol" "$@" >"$log" 2>&1 &
    local pid=$!
    BG_PIDS="$BG_PIDS $pid"
    if ! wait_token "$pid"; then
        fail "$label: token placed before the signal" "$(tail -n 3 "$log" | tr '\n' ' ')"
        return 1
    fi
    local t0 rc t1
    t0=$(now_ms)
    kill -"$sig" "$pid"
    wait "$pid"; rc=$?
    t1=$(now_ms)
    check_eq "$label: exit code for SIG$sig" "$want" "$rc"
    check_eq "$label: exited within 1 s of the signal" "yes" "$([ $((t1 - t0)) -lt 1000 ] && echo yes || echo "no ($((t1 - t0)) ms)")"
    check_eq "$label: one 'interrupted by SIG$sig' line" "1" "$(grep -c "^certkeep: interrupted by SIG$sig\$" "$log")"
    check_eq "$label: token files removed" "" "$(ls -A "$TOK" 2>/dev/null)"
    check_eq "$label: nothing written to the volume" "" "$(find "$vol" -type f 2>/dev/null | head -3)"
}

# A listener that accepts and never answers: a CA that hangs, and (on the
# http-01 port) a validation that stays pending, so the token window is wide.
silent_on() {
    "$S3_PYTHON" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); held = []
while True:
    c, _ = s.accept(); held.append(c)
' "$1" &
    BG_PIDS="$BG_PIDS $!"
}
silent_on "$PEBBLE_HTTP01_PORT"
sleep 0.3

echo "-- issue, SIGTERM while the CA validates"
sig_case issue-term TERM 143 issue

echo "-- issue, SIGINT while the CA validates"
sig_case issue-int INT 130 issue

echo "-- init with an S3 store, SIGTERM under the lease"
sig_case init-term TERM 143 init \
    --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix psig
check_match "init-term: lease released (expires 0)" '"expires": ?0' \
    "$(s3_py "print(s3.get_object(Bucket=bucket, Key='psig/locks/$NAME')['Body'].read().decode())" 2>&1)"

echo "-- issue, SIGTERM while blocked in a request to a CA that never answers"
SILENT_PORT=29090
silent_on "$SILENT_PORT"
sleep 0.3
LOG=$CK_TMP/silent.log
"$CK_BIN" issue --domain "$NAME" --email e2e@example.com --agree-tos \
    --directory "https://localhost:$SILENT_PORT/dir" --ca-bundle "$PEBBLE_CA_BUNDLE" \
    --webroot "$WEB" --state "$CK_TMP/silent-state" \
    --out "$CK_TMP/silent-out" >"$LOG" 2>&1 &
pid=$!
BG_PIDS="$BG_PIDS $pid"
sleep 1
t0=$(now_ms)
kill -TERM "$pid"
wait "$pid"; rc=$?
t1=$(now_ms)
check_eq "silent CA: exit 143 on SIGTERM" "143" "$rc"
check_eq "silent CA: exited within 1 s of the signal" "yes" "$([ $((t1 - t0)) -lt 1000 ] && echo yes || echo "no ($((t1 - t0)) ms)")"
check_eq "silent CA: one 'interrupted by SIGTERM' line" "1" "$(grep -c '^certkeep: interrupted by SIGTERM$' "$LOG")"
check_eq "silent CA: no account key created before the CA answered" "" "$(ls "$CK_TMP/silent-state" 2>/dev/null | grep account)"
