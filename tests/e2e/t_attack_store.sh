#!/usr/bin/env bash
# Attacks from the store and the file system (issue 9, items 3, 4, 6 and 7), the real
# static binary against a real Pebble and moto_server: a key pair under a self-made CA
# planted in the store (S3 and directory) or on the volume is never installed; an
# http:// S3 endpoint off loopback is refused; times from the store far in the future
# do not stop issuance; planted symlinks are not followed.
set -u
. "$(dirname "$0")/lib.sh"
plan 59
PEBBLE_PORT=31100 PEBBLE_MGMT_PORT=31101 PEBBLE_TLS01_PORT=31102 PEBBLE_DNS_PORT=31153
PEBBLE_CTS_PORT=31155 PEBBLE_HTTP01_PORT=31180
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

cleanup() { kill_bg; pebble_stop; s3_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "attack: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "attack: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "attack: moto start" "see $S3_LOG"; exit 1; fi

NAME=attack.example.com
W=$CK_TMP/w
mkdir -p "$W"

# ck COMMAND LOG ARGS...: certkeep against Pebble; output in $W/LOG.log. ckx: the same,
# exec'd (in the background, $! is certkeep itself).
ck() { ( ckx "$@" ); }
ckx() {
    local cmd=$1 log=$W/$2.log; shift 2
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" "$@" >"$log" 2>&1
}
s3args() { echo --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix "$1"; }
logof() { cat "$W/$1.log" 2>/dev/null; }
serial() { openssl x509 -in "$1/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }
issuer() { openssl x509 -in "$1/cert.pem" -noout -issuer 2>/dev/null; }
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null | sha256sum | cut -c1-16; }
# wait_for SECONDS CONDITION
wait_for() {
    local end=$((SECONDS + $1))
    while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.2; done
    eval "$2"
}

# ---- the planted pair: a self-made CA (openssl) and a leaf for $NAME with its key --------------
# plant_pair DIR DAYS: DIR/{fullchain,cert,chain,privkey}.pem, valid from now for DAYS days.
plant_pair() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=Planted Evil CA" -keyout "$d/ca.key" -out "$d/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$NAME" \
        -keyout "$d/privkey.pem" -out "$d/leaf.csr" >/dev/null 2>&1
    printf 'subjectAltName=DNS:%s\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n' "$NAME" >"$d/ext"
    openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days "$2" -extfile "$d/ext" -out "$d/cert.pem" >/dev/null 2>&1
    cp "$d/ca.pem" "$d/chain.pem"
    cat "$d/cert.pem" "$d/chain.pem" >"$d/fullchain.pem"
}
# store_objects DIR: the store's objects for the pair in DIR (current.json written as certkeep
# writes it), as "key<TAB>file" lines under $DIR/objects/.
store_objects() {
    python3 - "$1" "$NAME" <<'PYEOF'
import hashlib, json, os, sys
from cryptography import x509
d, name = sys.argv[1], sys.argv[2]
c = x509.load_pem_x509_certificate(open(d + "/cert.pem", "rb").read())
n = c.serial_number
serial = n.to_bytes((n.bit_length() + 8) // 8, "big").hex()
full, priv = open(d + "/fullchain.pem", "rb").read(), open(d + "/privkey.pem", "rb").read()
rec = {"names": [name], "serial": serial, "not_before": int(c.not_valid_before_utc.timestamp()),
       "not_after": int(c.not_valid_after_utc.timestamp()), "issued_at": int(c.not_valid_before_utc.timestamp()),
       "key_type": "p256", "ari_id": "", "fullchain_sha256": hashlib.sha256(full).hexdigest(),
       "privkey_sha256": hashlib.sha256(priv).hexdigest()}
os.makedirs(d + "/objects", exist_ok=True)
open(d + "/objects/current.json", "w").write(json.dumps(rec))
for f in ("fullchain.pem", "cert.pem", "chain.pem", "privkey.pem"):
    print("certs/%s/%s/%s\t%s/%s" % (name, serial, f, d, f))
print("certs/%s/current.json\t%s/objects/current.json" % (name, d))
PYEOF
}
# plant_dir PAIR STOREDIR / plant_s3 PAIR PREFIX: the pair written into a store, current.json last.
plant_dir() {
    local k f
    store_objects "$1" | while IFS=$'\t' read -r k f; do
        mkdir -p "$(dirname "$2/$k")" && cp "$f" "$2/$k"
    done
}
plant_s3() {
    store_objects "$1" >"$1/objects.txt"
    s3_py "
for line in open('$1/objects.txt'):
    k, f = line.rstrip('\n').split('\t')
    s3.put_object(Bucket=bucket, Key='$2/' + k, Body=open(f, 'rb').read())
"
}

echo "-- 3. a key pair planted in the store or on the volume is never installed"
EVIL=$W/evil
plant_pair "$EVIL" 300
EVIL_KEY=$(pubkey "$EVIL/privkey.pem")

# init, directory store holding only the planted pair: refused in one line, a fresh one issued
plant_dir "$EVIL" "$W/store3"
before=$(pebble_issued_count)
check "trust: init, planted directory store: exit 0" ck init t3dir --store-dir "$W/store3" \
    --out "$W/v3dir" --state "$W/s3dir"
check_match "trust: init, planted directory store: one line names the untrusted chain" \
    'store: the chain does not lead to a trust anchor.*Planted Evil CA' "$(logof t3dir)"
check_eq "trust: init, planted directory store: the planted key is not on the volume" "" \
    "$( [ "$(pubkey "$W/v3dir/$NAME/privkey.pem")" = "$EVIL_KEY" ] && echo planted)"
check_match "trust: init, planted directory store: issued by Pebble instead" "Pebble" "$(issuer "$W/v3dir/$NAME")"
check_eq "trust: init, planted directory store: one issuance" 1 $(($(pebble_issued_count) - before))

# init, S3 store holding only the planted pair
plant_s3 "$EVIL" p3
# shellcheck disable=SC2046
check "trust: init, planted S3 store: exit 0" ck init t3s3 $(s3args p3) --out "$W/v3s3" --state "$W/s3s3"
check_match "trust: init, planted S3 store: one line names the untrusted chain" \
    'store: the chain does not lead to a trust anchor.*Planted Evil CA' "$(logof t3s3)"
check_eq "trust: init, planted S3 store: the planted key is not on the volume" "" \
    "$( [ "$(pubkey "$W/v3s3/$NAME/privkey.pem")" = "$EVIL_KEY" ] && echo planted)"
check_match "trust: init, planted S3 store: issued by Pebble instead" "Pebble" "$(issuer "$W/v3s3/$NAME")"
check "trust: init, planted S3 store: the store now holds Pebble's" s3_py "
import json
cur = json.loads(s3.get_object(Bucket=bucket, Key='p3/certs/$NAME/current.json')['Body'].read())
assert cur['serial'].lstrip('0') == '$(serial "$W/v3s3/$NAME" | tr 'A-F' 'a-f')'.lstrip('0'), cur['serial']
"

# the planted pair on the volume itself (no store): refused as any unusable certificate
mkdir -p "$W/v3vol/$NAME"
cp "$EVIL"/{fullchain,cert,chain,privkey}.pem "$W/v3vol/$NAME/"
check "trust: init, planted volume: exit 0" ck init t3vol --out "$W/v3vol" --state "$W/s3vol"
check_match "trust: init, planted volume: says why it was not used" \
    'volume: the chain does not lead to a trust anchor' "$(logof t3vol)"
check_match "trust: init, planted volume: replaced by Pebble's" "Pebble" "$(issuer "$W/v3vol/$NAME")"

# run's pickup: a usable certificate on the volume, then a planted newer one in the store
RV=$W/v3run RS=$W/store3run
check "trust: run pickup: init first" ck init t3runinit --store-dir "$RS" --out "$RV" --state "$W/s3run"
good=$(serial "$RV/$NAME")
ckx run t3run --store-dir "$RS" --out "$RV" --state "$W/s3run" &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
wait_for 20 'grep -q "next renewal at" "$W/t3run.log"'
plant_pair "$W/evil2" 3000   # notAfter years past the volume's: "newer"
plant_dir "$W/evil2" "$RS"
kill -USR1 "$RUN_PID"   # look at the store now
if wait_for 20 'grep -q "does not lead to a trust anchor" "$W/t3run.log"'; then
    pass "trust: run pickup: the planted certificate is refused in one line"
else fail "trust: run pickup: the planted certificate is refused in one line" "$(tail -n 3 "$W/t3run.log")"; fi
check_eq "trust: run pickup: the volume keeps its certificate" "$good" "$(serial "$RV/$NAME")"
check "trust: run pickup: still running" kill -0 "$RUN_PID"
kill -TERM "$RUN_PID"; wait "$RUN_PID" 2>/dev/null

echo "-- 4. an http:// S3 endpoint off loopback"
# 0.0.0.0 reaches moto here, but is not loopback by name: what a remote endpoint looks like
OFF="http://0.0.0.0:$S3_PORT"
ck init t4no --s3-endpoint "$OFF" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p3 \
    --out "$W/v4" --state "$W/s4"
check_eq "cleartext: refused without store.s3.allow_http: exit 2" 2 $?
check_eq "cleartext: refused: one line" 1 "$(wc -l <"$W/t4no.log")"
check_match "cleartext: refused: names the host and the key" \
    'store.s3.endpoint: http:// to 0.0.0.0 .*store.s3.allow_http' "$(logof t4no)"
check_eq "cleartext: refused: nothing on the volume" "" "$(ls -A "$W/v4" 2>/dev/null)"
check "cleartext: --s3-allow-http: init restores from the store" ck init t4yes --s3-endpoint "$OFF" \
    --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p3 --s3-allow-http --out "$W/v4" --state "$W/s4"
check_eq "cleartext: --s3-allow-http: warned once" 1 "$(grep -c 'store.s3.allow_http' "$W/t4yes.log")"
check "cleartext: CERTKEEP_S3_ALLOW_HTTP=true: status reads the store" env CERTKEEP_S3_ALLOW_HTTP=true \
    "$CK_BIN" status --domain "$NAME" --out "$W/v4" --state "$W/s4" --ca-bundle "$PEBBLE_CA_BUNDLE" \
    --s3-endpoint "$OFF" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p3
check_eq "cleartext: loopback (moto on 127.0.0.1) needs no flag and says nothing" 0 \
    "$(grep -c 'allow_http' "$W/t3s3.log")"

echo "-- 6. times from the store years ahead do not stop issuance"
FAR=$(( $(date +%s) + 20 * 365 * 86400 ))
STATE_JSON="{\"failures\":0,\"last_failure\":0,\"next_retry\":$FAR,\"last_error\":\"\"}"
LEASE_JSON="{\"owner\":\"pod-from-the-future\",\"expires\":$FAR,\"heartbeat\":$FAR}"
plant_times_dir() {
    mkdir -p "$1/certs/$NAME" "$1/locks"
    printf '%s' "$STATE_JSON" >"$1/certs/$NAME/state.json"
    printf '%s' "$LEASE_JSON" >"$1/locks/$NAME"
}
plant_times_s3() {
    s3_py "
s3.put_object(Bucket=bucket, Key='$1/certs/$NAME/state.json', Body=b'$STATE_JSON')
s3.put_object(Bucket=bucket, Key='$1/locks/$NAME', Body=b'$LEASE_JSON')
"
}
# init_far KIND LOG STOREARGS...: init on an empty volume, bounded by `timeout` (the wait for
# a lease holder alone is 900 s)
init_far() {
    local kind=$1 log=$2; shift 2
    local t0=$SECONDS
    ( timeout 120 "$CK_BIN" init --domain "$NAME" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$W/v6$kind" --state "$W/s6$kind" \
        "$@" >"$W/$log.log" 2>&1 )
    local rc=$?
    check_eq "times: init, $kind store, lease and retry years ahead: exit 0" 0 "$rc"
    if [ $((SECONDS - t0)) -lt 60 ]; then pass "times: init, $kind store: issued within 60 s"
    else fail "times: init, $kind store: issued within 60 s" "$((SECONDS - t0)) s"; fi
    check_match "times: init, $kind store: one warning names the overlong lease" \
        'took over the lease .* from pod-from-the-future' "$(logof "$log")"
    check_match "times: init, $kind store: Pebble's certificate on the volume" "Pebble" \
        "$(issuer "$W/v6$kind/$NAME")"
}
plant_times_dir "$W/store6"
init_far dir t6dir --store-dir "$W/store6"
plant_times_s3 p6
# shellcheck disable=SC2046
init_far s3 t6s3 $(s3args p6)

# run_far KIND STOREARGS...: a volume certificate whose renewal window is open, the store's
# state and lease years ahead: run renews anyway
run_far() {
    local kind=$1; shift
    local v=$W/v6run$kind
    craft_cert "$v/$NAME" "$NAME" $((10 * 86400)) $((2 * 86400))
    local before
    before=$(serial "$v/$NAME")
    ckx run t6run$kind --out "$v" --state "$W/s6run$kind" "$@" &
    local pid=$!
    BG_PIDS="$BG_PIDS $pid"
    if wait_for 60 '[ "$(serial "$v/$NAME")" != "$before" ]'; then
        pass "times: run, $kind store: renewed within 60 s"
    else fail "times: run, $kind store: renewed within 60 s" "$(tail -n 2 "$W/t6run$kind.log" | tr '\n' ' ')"; fi
    check_match "times: run, $kind store: one warning names the planned retry" \
        'state.json plans the next retry at .*further than the retry schedule allows' "$(logof "t6run$kind")"
    check_match "times: run, $kind store: Pebble's certificate on the volume" "Pebble" "$(issuer "$v/$NAME")"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
}
plant_times_dir "$W/store6run"
run_far dir --store-dir "$W/store6run"
plant_times_s3 p6run
# shellcheck disable=SC2046
run_far s3 $(s3args p6run)

echo "-- 7. planted symlinks are not followed"
# victim DIR: a directory elsewhere with one file of known content and mode; its fingerprint
victim() {
    rm -rf "$1"; mkdir -p "$1"; chmod 0755 "$1"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1/file.pem" 2>/dev/null
    chmod 0644 "$1/file.pem"
}
fingerprint() { (cd "$1" && find . -printf '%p %m %s\n' | sort && cat file.pem) | sha256sum; }
errline() { grep '^certkeep: ' "$W/$1.log"; }
# sym_case NAME LOG VICTIM WHAT-REGEX CMD...: CMD fails, its error is one line naming WHAT,
# and VICTIM is as it was (content, modes, no new entry)
sym_case() {
    local name=$1 log=$2 vdir=$3 re=$4; shift 4
    local before
    before=$(fingerprint "$vdir")
    if "$@"; then fail "symlink: $name: refused" "exit 0"; else pass "symlink: $name: refused"; fi
    check_eq "symlink: $name: one error line" 1 "$(errline "$log" | wc -l)"
    check_match "symlink: $name: the line names the symlink" "$re" "$(errline "$log")"
    check_eq "symlink: $name: the target is untouched" "$before" "$(fingerprint "$vdir")"
}

victim "$W/vict1"
mkdir -p "$W/v7out"
ln -s "$W/vict1" "$W/v7out/.certkeep"
sym_case "<out>/.certkeep" t7out "$W/vict1" "$W/v7out/.certkeep is a symlink" \
    ck issue t7out --out "$W/v7out" --state "$W/s7out"

victim "$W/vict2"
mkdir -p "$W/web7"
ln -s "$W/vict2" "$W/web7/.well-known"
sym_case "<webroot>/.well-known" t7web "$W/vict2" "$W/web7/.well-known is a symlink" \
    sh -c '"$CK_BIN" issue --domain "$1" --email e2e@example.com --agree-tos --directory "$2" \
        --ca-bundle "$3" --out "$4/v7web" --state "$4/s7web" --webroot "$4/web7" >"$4/t7web.log" 2>&1' \
    - "$NAME" "$PEBBLE_DIR_URL" "$PEBBLE_CA_BUNDLE" "$W"

victim "$W/vict3"
mkdir -p "$W/store7"
ln -s "$W/vict3/file.pem" "$W/store7/.lock"
sym_case "directory store .lock (to a file)" t7lock "$W/vict3" "$W/store7/.lock is a symlink" \
    ck init t7lock --out "$W/v7lock" --state "$W/s7lock" --store-dir "$W/store7"
mkdir -p "$W/store7b"
ln -s "$W/vict3/created-through-the-link" "$W/store7b/.lock"
sym_case "directory store .lock (to a new file)" t7lock2 "$W/vict3" "$W/store7b/.lock is a symlink" \
    ck init t7lock2 --out "$W/v7lockb" --state "$W/s7lockb" --store-dir "$W/store7b"

victim "$W/vict4"
mkdir -p "$W/s7key"
ln -s "$W/vict4/file.pem" "$W/s7key/account.key"
sym_case "<state>/account.key" t7key "$W/vict4" "$W/s7key/account.key: is a symlink" \
    ck issue t7key --out "$W/v7key" --state "$W/s7key"
