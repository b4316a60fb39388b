#!/usr/bin/env bash
# Central validation (issue 11 item 4): replicas with --http01-store put key
# authorizations in the store (moto, signatures checked) and never listen; one
# `certkeep serve` on Pebble's http-01 port answers the CA from the store. Checks:
# settings refused at start, serve's 404s (unknown token, bad syntax: no store read),
# its cache, its bounds (oversized head, idle connections), two replicas issuing,
# no challenges/ object left (also after SIGTERM), a kill -9 mid-order harmless.
set -u
. "$(dirname "$0")/lib.sh"
plan 44
# ports 32000-32099 (this script's range)
PEBBLE_PORT=32000 PEBBLE_MGMT_PORT=32001 PEBBLE_TLS01_PORT=32002 PEBBLE_DNS_PORT=32053
PEBBLE_CTS_PORT=32055 PEBBLE_HTTP01_PORT=32080 S3_PORT=32090
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

SERVE_PID="" TARPIT_PID=""
cleanup() {
    kill_bg
    for p in $SERVE_PID $TARPIT_PID; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    pebble_stop; s3_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "central: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
# no authorization reuse: an order after the kill gets fresh tokens, not the killed one's
if ! PEBBLE_AUTHZREUSE=0 pebble_start; then fail "central: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "central: moto start" "see $S3_LOG"; exit 1; fi

PREFIX=ct
URL="http://127.0.0.1:$PEBBLE_HTTP01_PORT/.well-known/acme-challenge"
STORE=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix "$PREFIX")
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }

# replica LOG NAME [ARGS...]: one replica (exec'd: $! is certkeep), no listen address of its own.
replica() {
    local id=$1 name=$2; shift 2
    exec "$CK_BIN" "${CMD:-issue}" --domain "$name" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-store \
        --state "$CK_TMP/state-$id" --out "$CK_TMP/vol-$id" "${STORE[@]}" \
        --log-level debug "$@" >"$CK_TMP/$id.log" 2>&1
}
serve_start() {
    "$CK_BIN" serve --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" "${STORE[@]}" \
        --log-level debug >>"$CK_TMP/serve.log" 2>&1 &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        grep -q "answering http-01" "$CK_TMP/serve.log" 2>/dev/null && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
# (listed without a Prefix: moto checks the signature of a query holding '/' wrongly)
challenges_left() {
    s3_py "print(sum(o['Key'].startswith('$PREFIX/challenges/') for o in s3.list_objects_v2(Bucket=bucket).get('Contents', [])))"
}
# moto's request lines naming this key (its log has one line per request)
store_reads() { grep -c "GET /$S3_BUCKET/$PREFIX/challenges/$1 " "$S3_LOG" || true; }
put_token() { s3_py "s3.put_object(Bucket=bucket, Key='$PREFIX/challenges/$1', Body=b'$2')"; }

# ---- 1. settings refused at start: exit 2, one line -------------------------------------
echo "-- refused settings"
refused() {  # NAME REGEX ARGS...: exit 2 and one line matching REGEX
    local name=$1 re=$2 rc; shift 2
    "$CK_BIN" "$@" >"$CK_TMP/refused.log" 2>&1; rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$CK_TMP/refused.log")" = 1 ] && grep -Eq -- "$re" "$CK_TMP/refused.log"; then
        pass "$name"
    else fail "$name" "exit $rc: $(head -c 300 "$CK_TMP/refused.log")"; fi
}
refused "central: http01_store without a store" "challenge.http01_store needs a store" \
    issue --domain r.example.com --http01-store --state "$CK_TMP/r"
refused "central: http01_store with a webroot" "challenge.webroot has no use with challenge.http01_store" \
    issue --domain r.example.com --http01-store --webroot "$CK_TMP" "${STORE[@]}" --state "$CK_TMP/r"
refused "central: http01_store with dns-01" "challenge.http01_store is an http-01 setting" \
    issue --domain r.example.com --http01-store --challenge dns-01 --dns-hook /bin/true "${STORE[@]}"
refused "central: serve without a store" "serve answers from the store" \
    serve --http01-listen 127.0.0.1:32081
refused "central: serve with a health listen" "listen \(probe the http-01 port\) has no use" \
    serve --http01-listen 127.0.0.1:32081 --listen 127.0.0.1:32082 "${STORE[@]}"

# ---- 2. serve: answers from the store, 404s, cache, bounds ----------------------------------
echo "-- serve"
if ! serve_start; then fail "central: serve starts" "$(tail -n 3 "$CK_TMP/serve.log")"; exit 1; fi
pass "central: serve starts"
"$CK_BIN" serve --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" "${STORE[@]}" >"$CK_TMP/taken.log" 2>&1
check_match "central: a second serve on the port: one line naming it" \
    "^certkeep: http-01: cannot listen on 127\.0\.0\.1:$PEBBLE_HTTP01_PORT: Address in use\$" "$(cat "$CK_TMP/taken.log")"
check_eq "central: no webroot hint for serve" 0 "$(grep -c webroot "$CK_TMP/taken.log")"
check_match "central: serve runs under seccomp" "seccomp: [1-9][0-9]* calls allowed" "$(logof serve)"
TOK=Tok_en-$RANDOM$RANDOM
check "central: a token put by boto3" put_token "$TOK" "$TOK.thumbprint"
check_eq "central: serve answers it from the store" "$TOK.thumbprint" "$(curl -s --max-time 10 "$URL/$TOK")"
check_eq "central: as text/plain 200" "200 text/plain" \
    "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' --max-time 10 "$URL/$TOK")"
s3_py "s3.delete_object(Bucket=bucket, Key='$PREFIX/challenges/$TOK')"
check_eq "central: a found token is cached (one store read for 3 answers)" "1 200" \
    "$(store_reads "$TOK") $(code "$URL/$TOK")"
sleep 6  # past CK_CENTRAL_HIT_MS (5 s)
check_eq "central: deleted from the store: 404 once the cache lapses" 404 "$(code "$URL/$TOK")"

UNK=Unknown_$RANDOM$RANDOM
t0=$(date +%s%N)
for _ in 1 2 3 4 5 6 7 8 9 10; do c=$(code "$URL/$UNK"); [ "$c" = 404 ] || break; done
t1=$(date +%s%N)
check_eq "central: an unknown token is 404" 404 "$c"
# 10 answers, at most 2 store reads (the 1 s negative cache), well inside 5 s on a loaded machine
n=$(store_reads "$UNK")
if [ "$n" -ge 1 ] && [ "$n" -le 2 ] && [ $(((t1 - t0) / 1000000)) -lt 5000 ]; then
    pass "central: unknown token: 10 answers, $n store reads, quick"
else fail "central: unknown token: 10 answers, few store reads, quick" "$n reads, $(((t1 - t0) / 1000000)) ms"; fi

before=$(grep -c "challenges/" "$S3_LOG")
check_eq "central: bad token syntax (a dot) is 404" 404 "$(code "$URL/abc.def")"
check_eq "central: bad token syntax (encoded slash) is 404" 404 "$(code "$URL/..%2Faccount.key")"
check_eq "central: a 257-byte token is 404" 404 "$(code "$URL/$(printf 'a%.0s' $(seq 1 257))")"
check_eq "central: bad syntax never reaches the store" "$before" "$(grep -c "challenges/" "$S3_LOG")"
check_eq "central: another path is 404" 404 "$(code "http://127.0.0.1:$PEBBLE_HTTP01_PORT/ct/accounts/")"
check_eq "central: POST is 405" 405 "$(code -X POST "$URL/$UNK")"

# an oversized head is refused (431), idle connections do not hold anyone up and are closed
out=$(python3 - "$PEBBLE_HTTP01_PORT" "$URL/$TOK" <<'EOF'
import socket, sys, time, urllib.request
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(200)]
t = time.time()
try:
    code = urllib.request.urlopen(sys.argv[2].replace("/" + sys.argv[2].rsplit("/", 1)[1], "/Nope"), timeout=10).status
except urllib.error.HTTPError as e:
    code = e.code
print(code, "fast" if time.time() - t < 3 else "slow")
time.sleep(6)  # the head deadline is 2 s
closed = 0
for c in idle:
    c.settimeout(1)
    try:
        closed += c.recv(1) == b""
    except OSError:
        pass
print("closed", closed)
EOF
)
check_match "central: an oversized head is 431" "HTTP/1.1 431" "$out"
check_match "central: 200 idle connections hold nobody up" "^404 fast" "$(echo "$out" | sed -n 2p)"
check_eq "central: idle connections are closed at the head deadline" "closed 200" "$(echo "$out" | sed -n 3p)"
check "central: serve still up" kill -0 "$SERVE_PID"

# ---- 3. two replicas issue through serve, neither listens -------------------------------
echo "-- two replicas"
before=$(pebble_issued_count)
( replica a a.central.test ) & pa=$!
( replica b b.central.test ) & pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
check_eq "central: both replicas exit 0" "0 0" "$ra $rb"
check "central: replica a has its certificate" test -s "$CK_TMP/vol-a/a.central.test/fullchain.pem"
check "central: replica b has its certificate" test -s "$CK_TMP/vol-b/b.central.test/fullchain.pem"
check_eq "central: two issuances" 2 $(($(pebble_issued_count) - before))
check_eq "central: neither replica listened" "" "$(grep -h 'http01.listen\|answering on' "$CK_TMP/a.log" "$CK_TMP/b.log")"
check_match "central: serve answered the CA (200)" "http01.request.*acme-challenge/[A-Za-z0-9_-]+ HTTP/1.1\" -> 200" "$(logof serve)"
check_eq "central: no challenges/ object left" 0 "$(challenges_left)"

# two replicas of one certificate (init, shared store): one issues, the other restores it
before=$(pebble_issued_count)
( CMD=init replica i1 i.central.test ) & p1=$!
( CMD=init replica i2 i.central.test ) & p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
check_eq "central: init replicas both exit 0" "0 0" "$r1 $r2"
check_eq "central: init replicas, one issuance" 1 $(($(pebble_issued_count) - before))
check_eq "central: init replicas hold the same certificate" \
    "$(sha256sum <"$CK_TMP/vol-i1/i.central.test/fullchain.pem")" \
    "$(sha256sum <"$CK_TMP/vol-i2/i.central.test/fullchain.pem" 2>/dev/null)"
check_eq "central: no challenges/ object left after init" 0 "$(challenges_left)"

# ---- 4. SIGTERM and kill -9 mid-order: the CA's request hangs in a tarpit -------------------
echo "-- interrupted orders"
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"; rc=$?; SERVE_PID=""
check_eq "central: serve exits 0 on SIGTERM" 0 "$rc"
python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$PEBBLE_HTTP01_PORT"')); s.listen(64); held = []
while True: held.append(s.accept()[0])' &
TARPIT_PID=$!
for _ in $(seq 1 100); do _s3_port_open "$PEBBLE_HTTP01_PORT" && break; sleep 0.1; done
# wait_token: 0 once the store holds a challenges/ object (the order is at the CA)
wait_token() {
    for _ in $(seq 1 150); do [ "$(challenges_left)" -ge 1 ] 2>/dev/null && return 0; sleep 0.2; done
    return 1
}
( replica t t.central.test ) &
pt=$!
if wait_token; then
    kill -TERM "$pt"; wait "$pt"; rc=$?
    check_eq "central: SIGTERM mid-order: exit 143" 143 "$rc"
    check_eq "central: SIGTERM mid-order: its challenges/ object deleted" 0 "$(challenges_left)"
else
    kill -9 "$pt"; wait "$pt"
    fail "central: SIGTERM mid-order: exit 143" "no challenges/ object appeared: $(tail -n 2 "$CK_TMP/t.log")"
    fail "central: SIGTERM mid-order: its challenges/ object deleted" "not reached"
fi
( replica k k.central.test ) & pk=$!
if wait_token; then
    kill -9 "$pk"; wait "$pk" 2>/dev/null
    check_eq "central: kill -9 mid-order leaves its object" 1 "$(challenges_left)"
else
    kill -9 "$pk"; wait "$pk" 2>/dev/null
    fail "central: kill -9 mid-order leaves its object" "no challenges/ object appeared"
fi
kill -9 "$TARPIT_PID"; wait "$TARPIT_PID" 2>/dev/null; TARPIT_PID=""
if ! serve_start; then fail "central: serve starts again" "$(tail -n 3 "$CK_TMP/serve.log")"; exit 1; fi
( replica k k.central.test ); rc=$?
check_eq "central: after the kill, the next issuance succeeds" 0 "$rc"
check "central: ... with its certificate" test -s "$CK_TMP/vol-k/k.central.test/fullchain.pem"
check_eq "central: ... and removes what the killed one left" 0 "$(challenges_left)"
