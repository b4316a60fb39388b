#!/usr/bin/env bash
# webhook.url, the real static binary against a real Pebble and a real receiver
# (python3 http.server, ports 241xx): a renewal that cannot reach the CA POSTs one
# "failure" (certificate, names, error line, count, next retry in RFC 3339 and
# Unix, notAfter of the volume's certificate; no key, no secret); the count grows
# across commands; the next success POSTs one "recovery", later successes nothing;
# a receiver answering 500, nobody listening or never answering is one warning that
# names no token and changes no outcome, and costs at most the 10 s cap; `init` and
# `run` (with a store) report their failures and recoveries the same way.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=24100 PEBBLE_MGMT_PORT=24101 PEBBLE_TLS01_PORT=24102 PEBBLE_DNS_PORT=24153
PEBBLE_CTS_PORT=24155 PEBBLE_HTTP01_PORT=24180
. "$(dirname "$0")/pebble.sh"
plan 43

HOOK_PORT=24190 DEAD_CA=https://localhost:24199/dir DEAD_HOOK_PORT=24198 LISTEN=127.0.0.1:24191
cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "webhook: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "webhook: pebble start" "see $PEBBLE_LOG"; exit 1; fi

# The receiver: one JSON line per POST {path, ctype, body}; /fail… answers 500,
# /slow… answers after 30 s, anything else 200.
RECEIVED=$CK_TMP/received.jsonl
cat >"$CK_TMP/receiver.py" <<'PY'
import json, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode() if n else ''
        with lock, open(sys.argv[2], 'a') as f:
            f.write(json.dumps({'path': self.path, 'ctype': self.headers.get('Content-Type'),
                                'body': body}) + '\n')
        if self.path.startswith('/slow'): time.sleep(30)
        self.send_response(500 if self.path.startswith('/fail') else 200)
        self.send_header('Content-Length', '0')
        self.end_headers()
s = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
PY
: >"$RECEIVED"
python3 "$CK_TMP/receiver.py" "$HOOK_PORT" "$RECEIVED" &
BG_PIDS="$BG_PIDS $!"
for i in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$HOOK_PORT) 2>/dev/null && break; sleep 0.1; done

NAME=hook.example.com
TOKEN=T0K3N-s3cret
HOOK=http://127.0.0.1:$HOOK_PORT/hook/$TOKEN?auth=$TOKEN
# ck CMD LOG OUT STATE [ARGS...]: certkeep against Pebble with the webhook; output in $CK_TMP/LOG.log.
ck() {
    local cmd=$1 log=$CK_TMP/$2.log out=$3 state=$4; shift 4
    CERTKEEP_WEBHOOK_URL=${WEBHOOK:-$HOOK} "$CK_BIN" "$cmd" --domain "$NAME" \
        --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" \
        --out "$out" --state "$state" "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
posts() { grep -c . "$RECEIVED"; }
# field N KEY: KEY of the body of POST number N (1-based); "null" for JSON null.
field() {
    python3 -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][int(sys.argv[2]) - 1]
v = json.loads(r["body"]).get(sys.argv[3], "(absent)") if sys.argv[3] not in ("path", "ctype") else r[sys.argv[3]]
print("null" if v is None else json.dumps(v) if isinstance(v, list) else v)' "$RECEIVED" "$1" "$2" 2>&1
}
body() { field "$1" _body_; }
raw_body() { python3 -c 'import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if l.strip()][int(sys.argv[2]) - 1]["body"])' "$RECEIVED" "$1"; }
not_after() { date -d "$(openssl x509 -in "$1/$NAME/cert.pem" -noout -enddate | cut -d= -f2)" +%s; }
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
warnings() { grep -c 'warn  webhook: ' "$CK_TMP/$1.log"; }

V=$CK_TMP/v S=$CK_TMP/s
echo "-- a plain success sends nothing"
check "webhook: init issues" ck init init0 "$V" "$S"
check_eq "webhook: nothing POSTed for a success without failures" 0 "$(posts)"

echo "-- a failing renewal: one failure POST"
t0=$(date +%s)
ck renew down1 "$V" "$S" --force --directory "$DEAD_CA"; rc=$?
check_eq "webhook: CA down: renew exits 1" 1 "$rc"
check_eq "webhook: one POST" 1 "$(posts)"
check_eq "webhook: to the configured URL" "/hook/$TOKEN?auth=$TOKEN" "$(field 1 path)"
check_eq "webhook: as JSON" "application/json" "$(field 1 ctype)"
check_eq "webhook: event failure" failure "$(field 1 event)"
check_eq "webhook: certificate and names" "$NAME [\"$NAME\"]" "$(field 1 certificate) $(field 1 names)"
check_match "webhook: the error line names the CA" "localhost:24199" "$(field 1 error)"
check_eq "webhook: failure count 1" 1 "$(field 1 failures)"
nr=$(field 1 next_retry_unix) tm=$(field 1 time_unix)
# 60 s plus up to 4 s of jitter (lib/keeper: every retry step is spread)
if [ $((nr - t0)) -ge 55 ] && [ $((nr - t0)) -le 70 ] && [ $((nr - tm)) -le 64 ]; then
    pass "webhook: next retry about a minute ahead (Unix)"
else fail "webhook: next retry about a minute ahead (Unix)" "next $nr, sent $tm, start $t0"; fi
check_eq "webhook: next retry in RFC 3339 too" "$(date -u -d "@$nr" +%Y-%m-%dT%H:%M:%SZ)" "$(field 1 next_retry)"
NA=$(not_after "$V")
check_eq "webhook: notAfter of the volume's certificate" "$NA $(date -u -d "@$NA" +%Y-%m-%dT%H:%M:%SZ)" \
    "$(field 1 not_after_unix) $(field 1 not_after)"
keyline=$(sed -n 2p "$V/$NAME/privkey.pem")
acct=$(sed -n 2p "$S/account.key")
b=$(raw_body 1)
if [ -n "$keyline" ] && [ -n "$acct" ] && ! printf '%s' "$b" | grep -qF -e "$keyline" -e "$acct" -e PRIVATE -e BEGIN -e "$TOKEN"; then
    pass "webhook: no key, no token in the body"
else fail "webhook: no key, no token in the body" "$b"; fi
check_eq "webhook: exactly the documented fields" \
    "certificate error event failures names next_retry next_retry_unix not_after not_after_unix time time_unix" \
    "$(printf '%s' "$b" | python3 -c 'import json, sys; print(" ".join(sorted(json.load(sys.stdin))))')"
check_match "webhook: the command says it was sent" "info  webhook: failure sent" "$(logof down1)"
check_eq "webhook: the token never reaches the log" 0 "$(grep -c "$TOKEN" "$CK_TMP/down1.log")"

echo "-- the count grows, the first success recovers, later ones say nothing"
ck renew down2 "$V" "$S" --force --directory "$DEAD_CA"
check_eq "webhook: second failure: count 2 (kept in the state directory)" "2 2" "$(posts) $(field 2 failures)"
check "webhook: CA back: renew exits 0" ck renew up1 "$V" "$S" --force
check_eq "webhook: one more POST" 3 "$(posts)"
check_eq "webhook: event recovery, ending 2 failures" "recovery 0 2 null null" \
    "$(field 3 event) $(field 3 failures) $(field 3 previous_failures) $(field 3 error) $(field 3 next_retry)"
check_eq "webhook: recovery: notAfter of the new certificate" "$(not_after "$V")" "$(field 3 not_after_unix)"
check "webhook: another success" ck renew up2 "$V" "$S" --force
check_eq "webhook: ... POSTs nothing" 3 "$(posts)"

echo "-- a webhook that fails changes no outcome"
WEBHOOK="http://127.0.0.1:$HOOK_PORT/fail/$TOKEN" ck renew w500 "$V" "$S" --force --directory "$DEAD_CA"; rc=$?
check_eq "webhook: 500: renew still exits 1 (its own failure)" 1 "$rc"
check_eq "webhook: 500: one warning naming the origin" \
    "1 webhook http://127.0.0.1:$HOOK_PORT: HTTP 500" \
    "$(warnings w500) $(grep 'warn  webhook: ' "$CK_TMP/w500.log" | sed 's/.*warn  webhook: //')"
check_match "webhook: 500: the error is still the command's" "^certkeep: .*localhost:24199" "$(grep '^certkeep:' "$CK_TMP/w500.log")"
WEBHOOK="http://127.0.0.1:$HOOK_PORT/fail/$TOKEN" ck renew w500ok "$V" "$S" --force; rc=$?
check_eq "webhook: 500 on the recovery: renew exits 0" 0 "$rc"
WEBHOOK="http://127.0.0.1:$DEAD_HOOK_PORT/x/$TOKEN" ck renew wdead "$V" "$S" --force --directory "$DEAD_CA"; rc=$?
check_eq "webhook: nobody listening: exit 1, one warning" "1 1" "$rc $(warnings wdead)"
check_match "webhook: nobody listening: the warning names the origin only" \
    "warn  webhook: webhook http://127.0.0.1:$DEAD_HOOK_PORT: " "$(logof wdead)"
check_eq "webhook: no token in any of these logs" 0 "$(cat "$CK_TMP"/w500*.log "$CK_TMP/wdead.log" | grep -c "$TOKEN")"
t0=$(date +%s)
WEBHOOK="http://127.0.0.1:$HOOK_PORT/slow" ck renew wslow "$V" "$S" --force --directory "$DEAD_CA"; rc=$?
took=$(( $(date +%s) - t0 ))
check_eq "webhook: never answers: exit 1, one warning" "1 1" "$rc $(warnings wslow)"
if [ "$took" -ge 9 ] && [ "$took" -le 25 ]; then pass "webhook: never answers: given up after the 10 s cap"
else fail "webhook: never answers: given up after the 10 s cap" "${took} s"; fi
WEBHOOK=ftp://127.0.0.1/x ck renew wftp "$V" "$S"; rc=$?
check_eq "webhook: an ftp:// URL is refused at start: exit 2" 2 "$rc"
check_eq "webhook: ... in one line" \
    'certkeep: CERTKEEP_WEBHOOK_URL: "ftp://127.0.0.1/x" is not an http:// or https:// URL' "$(logof wftp)"

echo "-- init, one-shot"
: >"$RECEIVED"
ck init idown "$CK_TMP/v3" "$CK_TMP/s3" --directory "$DEAD_CA"; rc=$?
check_eq "webhook: init, CA down: exit 1, one failure POST" "1 1 failure 1" "$rc $(posts) $(field 1 event) $(field 1 failures)"
check_eq "webhook: init: nothing on the volume: notAfter null" null "$(field 1 not_after)"
check "webhook: init, CA back: exit 0" ck init iup "$CK_TMP/v3" "$CK_TMP/s3"
check_eq "webhook: init: recovery POST" "2 recovery 1" "$(posts) $(field 2 event) $(field 2 previous_failures)"

echo "-- run, with a store"
: >"$RECEIVED"
ST=$CK_TMP/store
CERTKEEP_WEBHOOK_URL=$HOOK "$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos \
    --directory "$DEAD_CA" --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" \
    --out "$CK_TMP/v4" --state "$CK_TMP/s4" --store-dir "$ST" --listen "$LISTEN" >"$CK_TMP/run1.log" 2>&1 &
RUN=$!
BG_PIDS="$BG_PIDS $RUN"
if wait_for 20 '[ "$(posts)" -ge 1 ]'; then pass "webhook: run, CA down: a failure POST"
else fail "webhook: run, CA down: a failure POST" "$(tail -n 3 "$CK_TMP/run1.log" | tr '\n' ' ')"; fi
check_eq "webhook: run: failure 1, the count in the store" "failure 1 1" \
    "$(field 1 event) $(field 1 failures) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failures"])' "$ST/certs/$NAME/state.json" 2>&1)"
kill -TERM "$RUN"; wait "$RUN" 2>/dev/null
CERTKEEP_WEBHOOK_URL=$HOOK "$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos \
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" \
    --out "$CK_TMP/v4" --state "$CK_TMP/s4" --store-dir "$ST" --listen "$LISTEN" >"$CK_TMP/run2.log" 2>&1 &
RUN=$!
BG_PIDS="$BG_PIDS $RUN"
wait_for 10 'grep -q "honouring the planned retry" "$CK_TMP/run2.log"'
kill -USR1 "$RUN"  # the early retry an operator asks for
if wait_for 30 '[ "$(posts)" -ge 2 ]'; then pass "webhook: run, CA back: a second POST"
else fail "webhook: run, CA back: a second POST" "$(tail -n 3 "$CK_TMP/run2.log" | tr '\n' ' ')"; fi
check_eq "webhook: run: it is the recovery from 1 failure, with the new notAfter" \
    "recovery 1 $(not_after "$CK_TMP/v4" 2>/dev/null)" \
    "$(field 2 event) $(field 2 previous_failures) $(field 2 not_after_unix)"
