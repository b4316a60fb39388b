#!/usr/bin/env bash
# S3 servers that differ in conditional writes (issue 10, item 6), each against a
# real Pebble: s3rver (npm) accepts and ignores If-None-Match / If-Match, so the
# lease is probed, said in one line, and kept safe by a checked write and a
# read-back (two racing inits issue once); moto honours them and the probe passes
# silently; Ceph's RADOS Gateway (Debian) runs the whole store story: issue to the
# store, restore from it, racing inits, lease take-over, a live lease waited on.
# Each server shows, to plain curl, what it answers to the conditional requests.
set -u
. "$(dirname "$0")/lib.sh"
plan 46
PEBBLE_PORT=31900 PEBBLE_MGMT_PORT=31901 PEBBLE_TLS01_PORT=31902 PEBBLE_DNS_PORT=31903
PEBBLE_CTS_PORT=31904 PEBBLE_HTTP01_PORT=31905
. "$(dirname "$0")/pebble.sh"
S3_PORT=31911
. "$(dirname "$0")/s3.sh"
. "$(dirname "$0")/ceph.sh"
SRV_PORT=31910 SRV_BUCKET=certkeep-test SRV_PID=""
SRV_ENDPOINT="http://127.0.0.1:$SRV_PORT"
S3RVER=$CK_ROOT/tests/tools/node_modules/.bin/s3rver

srv_stop() { [ -z "$SRV_PID" ] || { kill "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; SRV_PID=""; }; }
cleanup() { kill_bg; pebble_stop; s3_stop; srv_stop; ceph_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "s3compat: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
# No rejected nonces: a retried newOrder would count as a second order.
if ! PEBBLE_WFE_NONCEREJECT=0 pebble_start; then fail "s3compat: pebble start" "see $PEBBLE_LOG"; exit 1; fi
NAME=s3compat.example.com
unset AWS_SESSION_TOKEN AWS_PROFILE

# ck COMMAND LOG VOLUME STORE PREFIX [ARGS...]: STORE is srv, moto or ceph; output in $CK_TMP/LOG.log.
ck() { ( ckx "$@" ); }
ckx() {
    local cmd=$1 name=$2 log=$CK_TMP/$2.log vol=$3 st=$4 prefix=$5 ep bucket ak sk; shift 5
    case $st in
        srv) ep=$SRV_ENDPOINT bucket=$SRV_BUCKET ak=S3RVER sk=S3RVER ;;
        moto) ep=$S3_ENDPOINT bucket=$S3_BUCKET ak=$AWS_ACCESS_KEY_ID sk=$AWS_SECRET_ACCESS_KEY ;;
        ceph) ep=$CEPH_ENDPOINT bucket=$CEPH_BUCKET ak=$CEPH_ACCESS sk=$CEPH_SECRET ;;
    esac
    AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state-$name" --out "$vol" \
        --s3-endpoint "$ep" --s3-bucket "$bucket" --s3-path-style --s3-prefix "$prefix" \
        "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
serial() { openssl x509 -in "$1/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }

# s3curl STORE [CURL ARGS...] URL-PATH: a SigV4 request with plain curl; prints the status.
s3curl() {
    local st=$1 ep auth; shift
    case $st in
        srv) ep=$SRV_ENDPOINT/$SRV_BUCKET auth=S3RVER:S3RVER ;;
        moto) ep=$S3_ENDPOINT/$S3_BUCKET auth=$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY ;;
        ceph) ep=$CEPH_ENDPOINT/$CEPH_BUCKET auth=$CEPH_ACCESS:$CEPH_SECRET ;;
    esac
    local path=${*: -1}
    curl -s -o "$CK_TMP/s3curl.out" -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 --user "$auth" \
        -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "${@:1:$#-1}" "$ep/$path"
}
s3body() { cat "$CK_TMP/s3curl.out"; }

# answers STORE: what the server says to a create, a second create (If-None-Match: *),
# a write with a wrong If-Match ETag, and with the object's own ETag as the create
# returned it (quoted) and unquoted.
answers() {
    local k=answers/$RANDOM$RANDOM a b c d f et
    a=$(s3curl "$1" -X PUT -H 'If-None-Match: *' -D "$CK_TMP/answers.head" --data-binary one "$k")
    et=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$CK_TMP/answers.head" | tr -d '\r')
    b=$(s3curl "$1" -X PUT -H 'If-None-Match: *' --data-binary one "$k")
    c=$(s3curl "$1" -X PUT -H 'If-Match: "0123456789abcdef0123456789abcdef"' --data-binary one "$k")
    d=$(s3curl "$1" -X PUT -H "If-Match: $et" --data-binary one "$k")
    f=$(s3curl "$1" -X PUT -H "If-Match: ${et//\"/}" --data-binary one "$k")
    s3curl "$1" -X DELETE "$k" >/dev/null
    echo "create=$a second-create=$b wrong-if-match=$c own-if-match=$d own-if-match-unquoted=$f"
}

# race STORE PREFIX N LABEL: N inits at once on empty volumes; checks 4 things.
race() {
    local st=$1 prefix=$2 n=$3 label=$4 i p pids="" rcs="" bi bo s first="" same=1
    bi=$(pebble_issued_count) bo=$(pebble_order_count)
    for i in $(seq 1 "$n"); do
        ( ck init "$prefix-$i" "$CK_TMP/$prefix-$i" "$st" "$prefix" ) &
        pids="$pids $!"
    done
    BG_PIDS=$pids
    for p in $pids; do wait "$p"; rcs="$rcs$?"; done
    BG_PIDS=""
    check_eq "$label: $n racing inits all exit 0" "$(printf '0%.0s' $(seq 1 "$n"))" "$rcs"
    check_eq "$label: $n racing inits, one order" 1 $(($(pebble_order_count) - bo))
    check_eq "$label: $n racing inits, one issuance" 1 $(($(pebble_issued_count) - bi))
    for i in $(seq 1 "$n"); do
        s=$(serial "$CK_TMP/$prefix-$i"); [ -n "$s" ] || same=0
        [ -z "$first" ] && first=$s; [ "$s" = "$first" ] || same=0
    done
    if [ "$same" = 1 ]; then pass "$label: $n racing inits, one serial on every volume"
    else fail "$label: $n racing inits, one serial on every volume" "$(for i in $(seq 1 "$n"); do serial "$CK_TMP/$prefix-$i"; done | tr '\n' ' ')"; fi
}

# stale_takeover STORE PREFIX LABEL: an expired lease of another owner is taken over and
# released by conditional writes on its ETag, as a heartbeat writes it; 4 checks.
stale_takeover() {
    local st=$1 prefix=$2 label=$3 now bi
    now=$(date +%s)
    s3curl "$st" -X PUT --data-binary "{\"owner\":\"gone/1/dead\",\"expires\":$((now - 5)),\"heartbeat\":$((now - 200))}" \
        "$prefix/locks/$NAME" >/dev/null
    bi=$(pebble_issued_count)
    check "$label: stale lease, init exits 0" ck init "$prefix" "$CK_TMP/$prefix" "$st" "$prefix"
    check_eq "$label: stale lease taken over, one issuance" 1 $(($(pebble_issued_count) - bi))
    s3curl "$st" "$prefix/locks/$NAME" >/dev/null
    check_match "$label: the lease is ours, released after" '"owner":"[^"]*/[0-9]+/[0-9a-f]{8}","expires":0' "$(s3body)"
    if logof "$prefix" | grep -Eq "warn +lease"; then fail "$label: no lease warning (release by If-Match)" "$(logof "$prefix" | grep -E "warn +lease")"
    else pass "$label: no lease warning (release by If-Match)"; fi
}

# live_lease STORE PREFIX LABEL: a live lease of another owner is waited on, never
# overwritten; 3 checks.
live_lease() {
    local st=$1 prefix=$2 label=$3 now bi p
    now=$(date +%s)
    s3curl "$st" -X PUT --data-binary "{\"owner\":\"other/7/live\",\"expires\":$((now + 60)),\"heartbeat\":$now}" \
        "$prefix/locks/$NAME" >/dev/null
    bi=$(pebble_issued_count)
    ckx init "$prefix" "$CK_TMP/$prefix" "$st" "$prefix" &
    p=$!; BG_PIDS=$p  # certkeep itself (ckx execs it)
    sleep 5
    s3curl "$st" "$prefix/locks/$NAME" >/dev/null
    check_match "$label: live lease, still the holder's after 5 s" '"owner": ?"other/7/live"' "$(s3body)"
    check_match "$label: live lease, init waits for it" "init.wait: .*held by other/7/live" "$(logof "$prefix")"
    kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; BG_PIDS=""
    check_eq "$label: live lease, no issuance" 0 $(($(pebble_issued_count) - bi))
}

# no_probe_left STORE PREFIX: the lease prefix holds the lease alone (probe objects are deleted).
no_probe_left() {
    # curl signs the query as given: radosgw wants '/' encoded there, moto (see s3.sh) decoded
    if [ "$1" = ceph ]; then s3curl "$1" "?list-type=2&prefix=$2%2Flocks%2F"
    else s3curl "$1" "?list-type=2&prefix=$2/locks/"; fi >/dev/null
    s3body | grep -o '<Key>[^<]*</Key>' | tr '\n' ' '
}

# ---- s3rver: accepts conditional headers and ignores them ---------------------------------
echo "-- s3rver"
mkdir -p "$CK_TMP/s3rver"
if [ ! -x "$S3RVER" ]; then
    fail "s3rver: installed" "$S3RVER missing (scripts/setup.sh: npm ci in tests/tools)"
    exit 1
else
    "$S3RVER" -d "$CK_TMP/s3rver" -a 127.0.0.1 -p "$SRV_PORT" --configure-bucket "$SRV_BUCKET" \
        >"$CK_TMP/s3rver.log" 2>&1 &  # logs one line per request
    SRV_PID=$!
    for i in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SRV_PORT") 2>/dev/null && break; sleep 0.1; done
fi
a=$(answers srv)
echo "   s3rver answers: $a"
check_match "s3rver: ignores both conditions (200 to each)" "^create=200 second-create=200 wrong-if-match=200 " "$a"
race srv sr 2 "s3rver"
check_match "s3rver: one line says the store ignores conditional writes, naming the endpoint" \
    "warn +store.unconditional: $SRV_ENDPOINT \(s3 $SRV_BUCKET/sr/\) ignores conditional writes" "$(logof sr-1; logof sr-2)"
check_match "s3rver: the other replica waited for the lease holder" "init.wait: .*lease locks/$NAME (is held by|changed)" "$(logof sr-1; logof sr-2)"
check_eq "s3rver: no probe object left behind" "<Key>sr/locks/$NAME</Key> " "$(no_probe_left srv sr)"
# init's volume path neither probes nor touches the lease
n0=$(grep -c 'locks/' "$CK_TMP/s3rver.log")
check "s3rver: the racers' probe and lease requests are in the server's log" test "$n0" -gt 4
check "s3rver: init on a usable volume exits 0" ck init sr-vol "$CK_TMP/sr-1" srv sr
check_match "s3rver: init on a usable volume uses it" "init.volume: using the volume" "$(logof sr-vol)"
check_eq "s3rver: init on a usable volume makes no probe or lease request" "$n0" "$(grep -c 'locks/' "$CK_TMP/s3rver.log")"
stale_takeover srv srstale "s3rver"
live_lease srv srlive "s3rver"
srv_stop

# ---- moto: honours them ------------------------------------------------------------------
echo "-- moto"
if ! s3_start; then fail "s3compat: moto start" "see $S3_LOG"; exit 1; fi
a=$(answers moto)
echo "   moto answers: $a"
check_match "moto: refuses a second create and a wrong If-Match with 412" "^create=200 second-create=412 wrong-if-match=412 " "$a"
bi=$(pebble_issued_count)
check "moto: init exits 0" ck init mo "$CK_TMP/mo" moto mo
check_eq "moto: one issuance" 1 $(($(pebble_issued_count) - bi))
if logof mo | grep -q "unconditional\|ignores conditional"; then fail "moto: the probe passes silently" "$(logof mo | grep conditional)"
else pass "moto: the probe passes silently"; fi
check_eq "moto: no probe object left behind" "<Key>mo/locks/$NAME</Key> " "$(no_probe_left moto mo)"
s3_stop

# ---- Ceph RADOS Gateway: the whole store story ---------------------------------------------
echo "-- Ceph RADOS Gateway"
why=$(ceph_missing)
t0=$SECONDS
if [ -z "$why" ] && ! ceph_start 2>"$CK_TMP/ceph-start.err"; then
    why="radosgw did not come up here: $(tail -n 1 "$CK_TMP/ceph-start.err")"
fi
if [ -n "$why" ]; then
    skip 22 "ceph: $why"
else
    echo "   radosgw up after $((SECONDS - t0)) s"
    a=$(answers ceph)
    echo "   radosgw answers: $a"
    check_match "ceph: refuses a second create and a wrong If-Match with 412" "^create=200 second-create=412 wrong-if-match=412 " "$a"
    bi=$(pebble_issued_count)
    check "ceph: empty volume, empty store: init exits 0" ck init cs "$CK_TMP/cs" ceph cs
    check_eq "ceph: one issuance" 1 $(($(pebble_issued_count) - bi))
    check_match "ceph: issued" "init.issue: issuing: nothing usable" "$(logof cs)"
    if logof cs | grep -q "ignores conditional"; then fail "ceph: the probe passes silently" "$(logof cs | grep conditional)"
    else pass "ceph: the probe passes silently"; fi
    s3curl ceph "cs/certs/$NAME/current.json" >/dev/null
    check_match "ceph: the store holds the certificate" "\"serial\": ?\"0*$(serial "$CK_TMP/cs" | tr A-F a-f | sed 's/^0*//')\"" "$(s3body)"
    first=$(serial "$CK_TMP/cs"); first=${first:-none-issued}
    rm -rf "$CK_TMP/cs"
    bi=$(pebble_issued_count)
    check "ceph: wiped volume, init exits 0" ck init cs2 "$CK_TMP/cs" ceph cs
    check_match "ceph: restored from the store" "restored from s3 .*volume: nothing at" "$(logof cs2)"
    check_eq "ceph: the store's serial" "$first" "$(serial "$CK_TMP/cs")"
    check_eq "ceph: restore issues nothing" 0 $(($(pebble_issued_count) - bi))
    race ceph cr 3 "ceph"
    check_eq "ceph: no probe object left behind" "<Key>cr/locks/$NAME</Key> " "$(no_probe_left ceph cr)"
    stale_takeover ceph cstale "ceph"
    live_lease ceph clive "ceph"
fi
