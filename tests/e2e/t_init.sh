#!/usr/bin/env bash
# certkeep init and status (issue 3), the real static binary against a real
# Pebble and moto_server with signature checks: restore from the volume, else
# the store, else issue exactly once (also with three replicas at once); bad
# material refused with its reason and never handed to the app; store down or
# wrong credentials; kill -9 while writing. boto3 cross-checks the store.
set -u
. "$(dirname "$0")/lib.sh"
plan 161
PEBBLE_PORT=17000 PEBBLE_MGMT_PORT=17001 PEBBLE_TLS01_PORT=17002 PEBBLE_DNS_PORT=17053
PEBBLE_CTS_PORT=17055 PEBBLE_HTTP01_PORT=17080
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

cleanup() { kill_bg; pebble_stop; s3_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "init: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "init: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "init: moto start" "see $S3_LOG"; exit 1; fi

NAME=init.example.com
PY=$S3_PYTHON

# ck COMMAND LOG VOLUME PREFIX [ARGS...]: certkeep against Pebble and moto; output in $CK_TMP/LOG.log.
ck() { ( ckx "$@" ); }
# Same, but exec'd: run in the background, $! is certkeep itself (for kill -9).
ckx() {
    local cmd=$1 log=$CK_TMP/$2.log vol=$3 prefix=$4; shift 4
    # --profile default: 90-day certificates, so a later issuance has the later notAfter
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$vol" \
        --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix "$prefix" \
        "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
issued() { pebble_issued_count; }

# 0 when DIR holds cert.pem + privkey.pem whose public keys match, and fullchain = cert + chain.
pair_ok() {
    local a b
    a=$(openssl pkey -in "$1/privkey.pem" -pubout 2>/dev/null) || return 1
    b=$(openssl x509 -in "$1/cert.pem" -noout -pubkey 2>/dev/null) || return 1
    [ -n "$a" ] && [ "$a" = "$b" ] || return 1
    [ "$(cat "$1/cert.pem" "$1/chain.pem" | sha256sum)" = "$(sha256sum <"$1/fullchain.pem")" ]
}
serial() { openssl x509 -in "$1/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }

# ---- 1. empty volume + empty store: exactly one issuance; store and volume hold it -----------
echo "-- empty volume, empty store"
before=$(issued)
check "init: empty/empty exits 0" ck init t1 "$CK_TMP/v1" p1
check_eq "init: empty/empty issues once" 1 $(($(issued) - before))
check_match "init: says it issued" "init.issue: issuing: nothing usable" "$(logof t1)"
check "init: volume pair matches" pair_ok "$CK_TMP/v1/$NAME"
mkdir -p "$CK_TMP/s3got"
# boto3, an independent client: current.json names the version; its objects match the hashes.
check "init: boto3 reads the store back" s3_py "
import json, hashlib
cur = json.loads(s3.get_object(Bucket=bucket, Key='p1/certs/$NAME/current.json')['Body'].read())
for f in ('fullchain.pem', 'cert.pem', 'chain.pem', 'privkey.pem'):
    body = s3.get_object(Bucket=bucket, Key='p1/certs/$NAME/%s/%s' % (cur['serial'], f))['Body'].read()
    open('$CK_TMP/s3got/' + f, 'wb').write(body)
    if f in ('fullchain.pem', 'privkey.pem'):
        assert hashlib.sha256(body).hexdigest() == cur[f.split('.')[0] + '_sha256'], f
assert cur['names'] == ['$NAME'] and cur['key_type'] == 'p256', cur
key = s3.get_object(Bucket=bucket, Key='p1/accounts/localhost_$PEBBLE_PORT/account.key')['Body'].read()
assert b'PRIVATE KEY' in key
acct = json.loads(s3.get_object(Bucket=bucket, Key='p1/accounts/localhost_$PEBBLE_PORT/account.json')['Body'].read())
assert acct['url'].startswith('https://localhost:$PEBBLE_PORT/'), acct
"
check "init: store pair matches (openssl)" pair_ok "$CK_TMP/s3got"
check_eq "init: store and volume hold the same fullchain" \
    "$(sha256sum <"$CK_TMP/v1/$NAME/fullchain.pem")" "$(sha256sum <"$CK_TMP/s3got/fullchain.pem")"
check_eq "init: privkey.pem is 0600" 600 "$(stat -c %a "$CK_TMP/v1/$NAME/privkey.pem")"
GOOD_SERIAL=$(serial "$CK_TMP/v1/$NAME")

# ---- 2. second run: volume path; volume wiped: store path; no issuance ----------------------
echo "-- restarts"
before=$(issued)
check "init: second run exits 0" ck init t2 "$CK_TMP/v1" p1
check_match "init: second run uses the volume" "init.volume: using the volume" "$(logof t2)"
rm -rf "$CK_TMP/v1"
check "init: wiped volume exits 0" ck init t3 "$CK_TMP/v1" p1
check_match "init: wiped volume restores from the store" "restored from s3 .*volume: nothing at" "$(logof t3)"
check "init: restored pair matches" pair_ok "$CK_TMP/v1/$NAME"
check_eq "init: restored serial" "$GOOD_SERIAL" "$(serial "$CK_TMP/v1/$NAME")"
check_eq "init: restarts issue nothing" 0 $(($(issued) - before))

# ---- 3. three replicas at the same moment: one issuance, one certificate ---------------------
echo "-- three replicas at once"
before=$(issued)
pids=""
for i in 1 2 3; do
    ck init "race$i" "$CK_TMP/race$i" prace &
    pids="$pids $!"
done
BG_PIDS=$pids
rcs=""
for p in $pids; do wait "$p"; rcs="$rcs$?"; done
BG_PIDS=""
check_eq "init: three replicas all exit 0" 000 "$rcs"
check_eq "init: three replicas, one issuance" 1 $(($(issued) - before))
s1=$(serial "$CK_TMP/race1/$NAME") s2=$(serial "$CK_TMP/race2/$NAME") s3=$(serial "$CK_TMP/race3/$NAME")
if [ -n "$s1" ] && [ "$s1" = "$s2" ] && [ "$s1" = "$s3" ]; then pass "init: three replicas, same serial"
else fail "init: three replicas, same serial" "$s1 $s2 $s3"; fi
for i in 1 2 3; do check "init: replica $i pair matches" pair_ok "$CK_TMP/race$i/$NAME"; done

# ---- 3b. the lease: a stale one is taken over; a live one is waited on -------------------
echo "-- leases"
s3_py "import json, time; s3.put_object(Bucket=bucket, Key='pstale/locks/$NAME', Body=json.dumps({'owner': 'gone/1/dead', 'expires': int(time.time()) - 5, 'heartbeat': int(time.time()) - 200}))"
before=$(issued)
check "init: stale lease, exits 0" ck init stale "$CK_TMP/vstale" pstale
check_eq "init: stale lease taken over, one issuance" 1 $(($(issued) - before))
check_match "init: stale lease, released after" '"expires": ?0' \
    "$(s3_py "print(s3.get_object(Bucket=bucket, Key='pstale/locks/$NAME')['Body'].read().decode())")"
# A live holder that writes its certificate 3 s later (copied from p1 by boto3).
s3_py "import json, time; s3.put_object(Bucket=bucket, Key='plive/locks/$NAME', Body=json.dumps({'owner': 'other/7/live', 'expires': int(time.time()) + 60, 'heartbeat': int(time.time())}))"
before=$(issued)
ck init live "$CK_TMP/vlive" plive &
p=$!; BG_PIDS=$p
sleep 3
s3_py "
cur = s3.get_object(Bucket=bucket, Key='p1/certs/$NAME/current.json')['Body'].read()
import json; serial = json.loads(cur)['serial']
for f in ('fullchain.pem', 'cert.pem', 'chain.pem', 'privkey.pem'):
    s3.copy_object(Bucket=bucket, Key='plive/certs/$NAME/%s/%s' % (serial, f),
                   CopySource={'Bucket': bucket, 'Key': 'p1/certs/$NAME/%s/%s' % (serial, f)})
s3.put_object(Bucket=bucket, Key='plive/certs/$NAME/current.json', Body=cur)
"
wait "$p"; rc=$?; BG_PIDS=""
check_eq "init: live lease, exits 0" 0 "$rc"
check_match "init: live lease, waits for the holder" "init.wait: .*held by other/7/live" "$(logof live)"
check_match "init: live lease, restores what the holder wrote" "restored from s3 .*while we waited" "$(logof live)"
check_eq "init: live lease, no issuance" 0 $(($(issued) - before))
check_eq "init: live lease, the holder's certificate" "$GOOD_SERIAL" "$(serial "$CK_TMP/vlive/$NAME")"

# ---- 4. bad material, on the volume and in the store ----------------------------------------
echo "-- bad material"
BAD=$CK_TMP/bad
"$PY" - "$BAD" "$NAME" <<'EOF' || fail "init: crafting bad material" "python failed"
import sys, os, datetime
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
out, name = sys.argv[1], sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc)
def pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption())
def pem_cert(c): return c.public_bytes(serialization.Encoding.PEM)
ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "throwaway CA")])
ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(days=30)).not_valid_after(now + datetime.timedelta(days=60))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .sign(ca_key, hashes.SHA256()))
def leaf(key, names, nb, na):
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(0x0badca5e)
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
def write(case, cert, key, fullchain=None):
    d = os.path.join(out, case); os.makedirs(d, exist_ok=True)
    chain = pem_cert(ca)
    files = {"cert.pem": cert, "chain.pem": chain,
             "fullchain.pem": cert + chain if fullchain is None else fullchain, "privkey.pem": key}
    for f, data in files.items():
        if data is None:
            os.makedirs(os.path.join(d, f))
        else:
            open(os.path.join(d, f), "wb").write(data)
k = ec.generate_private_key(ec.SECP256R1())
good = pem_cert(leaf(k, [name], now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30)))
write("good", good, pem_key(k))  # usable by itself: proves the cases below fail for their reason only
full = good + pem_cert(ca)
write("truncated", good, pem_key(k), full[:len(good) * 2 // 3])  # inside the leaf
write("garbage", good, pem_key(k), os.urandom(1500))
write("otherkey", good, pem_key(ec.generate_private_key(ec.SECP256R1())))
write("expired", pem_cert(leaf(k, [name], now - datetime.timedelta(days=10), now - datetime.timedelta(days=1))), pem_key(k))
write("missingname", pem_cert(leaf(k, ["other.example.com"], now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30))), pem_key(k))
rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
write("wrongkeytype", pem_cert(leaf(rk, [name], now - datetime.timedelta(hours=1), now + datetime.timedelta(days=30))), pem_key(rk))
write("emptyfile", good, b"")
write("directory", good, None)
open(os.path.join(out, "ca.pem"), "wb").write(pem_cert(ca))
EOF
# the throwaway CA is trusted, as a private CA would be: each case fails for its own reason
cat "$BAD/ca.pem" >>"$PEBBLE_CA_BUNDLE"
declare -A WHY=(
    [truncated]="fullchain.pem: (malformed|truncated)" [garbage]="fullchain.pem" [otherkey]="privkey.pem does not match the certificate"
    [expired]="expired 20" [missingname]="missing name $NAME" [wrongkeytype]="key type is rsa2048, configured p256"
    [emptyfile]="privkey.pem is empty" [directory]="privkey.pem.*is a directory"
)
CASES="truncated garbage otherkey expired missingname wrongkeytype emptyfile directory"

# The throwaway "good" case is usable on its own (so each case fails for its own reason).
rm -rf "$CK_TMP/vb"; mkdir -p "$CK_TMP/vb"; cp -r "$BAD/good" "$CK_TMP/vb/$NAME"
check "init: crafted good material is usable (status exits 0)" ck status bgood "$CK_TMP/vb" p1

for c in $CASES; do
    rm -rf "$CK_TMP/vb"; mkdir -p "$CK_TMP/vb"; cp -r "$BAD/$c" "$CK_TMP/vb/$NAME"
    before=$(issued)
    check "init: volume $c: exits 0" ck init "bv-$c" "$CK_TMP/vb" p1
    check_match "init: volume $c: refused with its reason" "volume: .*${WHY[$c]}" "$(logof "bv-$c")"
    check_match "init: volume $c: store path taken" "restored from s3" "$(logof "bv-$c")"
    check_eq "init: volume $c: no issuance" 0 $(($(issued) - before))
    check_eq "init: volume $c: the app gets the store's certificate" "$GOOD_SERIAL" "$(serial "$CK_TMP/vb/$NAME")"
    check "init: volume $c: pair matches" pair_ok "$CK_TMP/vb/$NAME"
done

# status names the reason, and exits 1 on a bad volume.
rm -rf "$CK_TMP/vb"; mkdir -p "$CK_TMP/vb"; cp -r "$BAD/otherkey" "$CK_TMP/vb/$NAME"
if ck status st-bad "$CK_TMP/vb" p1; then fail "status: bad volume exits 1" "exit 0"; else pass "status: bad volume exits 1"; fi
check_match "status: names the volume's reason" "usable: +no: volume: privkey.pem does not match" "$(logof st-bad)"
check_match "status: shows the store's certificate" "serial: +(00)?$(echo "$GOOD_SERIAL" | tr A-F a-f)" "$(logof st-bad)"
check "status: good volume exits 0" ck status st-good "$CK_TMP/v1" p1
check_match "status: usable, with the renewal window" "usable: +yes" "$(logof st-good)"
check_match "status: renewal window" "renewal: +between 20" "$(logof st-good)"
ck status st-json "$CK_TMP/v1" p1 --log-format json 2>/dev/null
check "status: --log-format json is one JSON object" python3 -c "
import json, sys
o = json.load(open('$CK_TMP/st-json.log'))
assert o['volume']['usable'] is True and o['store']['usable'] is True, o
assert o['volume']['names'] == '$NAME' and o['volume']['key_type'] == 'p256', o
assert o['volume']['renewal_start'] < o['volume']['renewal_end'] < o['volume']['not_after'], o
"

# In the store: bad but self-consistent material (hashes right) under its own prefix.
store_put_bad() {  # CASE PREFIX
    S3_BAD_DIR="$BAD/$1" s3_py "
import os, json, hashlib
d = os.environ['S3_BAD_DIR']; k = '$2/certs/$NAME/'
def rd(f):
    p = os.path.join(d, f)
    return b'' if os.path.isdir(p) else open(p, 'rb').read()
for f in ('fullchain.pem', 'cert.pem', 'chain.pem', 'privkey.pem'):
    if not os.path.isdir(os.path.join(d, f)):
        s3.put_object(Bucket=bucket, Key=k + '0badca5e/' + f, Body=rd(f))
cur = {'names': ['$NAME'], 'serial': '0badca5e', 'not_before': 0, 'not_after': 2000000000,
       'issued_at': 0, 'key_type': 'p256', 'ari_id': '',
       'fullchain_sha256': hashlib.sha256(rd('fullchain.pem')).hexdigest(),
       'privkey_sha256': hashlib.sha256(rd('privkey.pem')).hexdigest()}
s3.put_object(Bucket=bucket, Key=k + 'current.json', Body=json.dumps(cur))
"
}
WHY[directory]="privkey.pem is missing"  # an object store has no directories: a missing object
for c in $CASES; do
    store_put_bad "$c" "bad-$c" || { fail "init: store $c: setup" "boto3 failed"; continue; }
    rm -rf "$CK_TMP/vs"
    before=$(issued)
    check "init: store $c: exits 0" ck init "bs-$c" "$CK_TMP/vs" "bad-$c"
    check_match "init: store $c: refused with its reason" "store: .*${WHY[$c]}" "$(logof "bs-$c")"
    check_eq "init: store $c: issued instead" 1 $(($(issued) - before))
    check "init: store $c: pair matches" pair_ok "$CK_TMP/vs/$NAME"
    check_eq "init: store $c: store now holds the new one" "$(serial "$CK_TMP/vs/$NAME" | tr A-F a-f | sed 's/^0*//')" \
        "$(s3_py "import json; print(json.loads(s3.get_object(Bucket=bucket, Key='bad-$c/certs/$NAME/current.json')['Body'].read())['serial'].lstrip('0'))" 2>/dev/null)"
done

# ---- 4b. issue writes the store first; a newer certificate in the store wins ---------------
echo "-- issue, then a newer certificate in the store"
check "issue: with a store, exits 0" ck issue iss "$CK_TMP/vi" p1
NEWER=$(serial "$CK_TMP/vi/$NAME")
check_eq "issue: the store holds the new certificate" "$(echo "$NEWER" | tr A-F a-f | sed 's/^0*//')" \
    "$(s3_py "import json; print(json.loads(s3.get_object(Bucket=bucket, Key='p1/certs/$NAME/current.json')['Body'].read())['serial'].lstrip('0'))" 2>/dev/null)"
before=$(issued)
check "init: newer in the store, exits 0" ck init newer "$CK_TMP/v1" p1
check_match "init: newer in the store wins" "restored from s3 .*newer than the volume" "$(logof newer)"
check_eq "init: the volume now holds the newer certificate" "$NEWER" "$(serial "$CK_TMP/v1/$NAME")"
check_eq "init: newer in the store, no issuance" 0 $(($(issued) - before))

# ---- 4c. a failed issuance is recorded and shown by status -------------------------------
echo "-- a failed issuance"
if ck init ifail "$CK_TMP/vf" pfail --directory "https://localhost:1/dir"; then
    fail "init: failed issuance exits 1" "exit 0"; else pass "init: failed issuance exits 1"; fi
check_match "init: failed issuance, one clear line" "^certkeep: .*localhost:1" "$(grep '^certkeep:' "$CK_TMP/ifail.log")"
ck status sfail "$CK_TMP/vf" pfail
check_eq "status: empty volume exits 1" 1 "$?"
check_match "status: shows the last failure" "last failure: 20.*\(1 in a row\): .*localhost:1" "$(logof sfail)"

# ---- 5. kill -9 while writing: the old complete pair or the new complete pair ---------------
echo "-- kill -9 while writing"
# The volume holds X, a complete pair that is not usable (expired); prefix pnew holds Y.
ck init knew "$CK_TMP/vnew" pnew >/dev/null
Y=$(serial "$CK_TMP/vnew/$NAME")
rm -rf "$CK_TMP/vk.snap"; mkdir -p "$CK_TMP/vk.snap"; cp -r "$BAD/expired" "$CK_TMP/vk.snap/$NAME"
X=$(serial "$CK_TMP/vk.snap/$NAME")
# How long a restore takes, so that the kills land before, during and after the writes.
rm -rf "$CK_TMP/vk"; cp -a "$CK_TMP/vk.snap" "$CK_TMP/vk"
t0=$(date +%s%N); ck init ktime "$CK_TMP/vk" pnew; span=$((($(date +%s%N) - t0) / 1000))
echo "   a restore takes ${span} us"
old=0 new=0 bad=0
for i in $(seq 1 12); do
    rm -rf "$CK_TMP/vk"; cp -a "$CK_TMP/vk.snap" "$CK_TMP/vk"
    delay=$(( (span * i / 12) + RANDOM % 5000 ))  # spread over the run, microseconds
    ckx init "kill$i" "$CK_TMP/vk" pnew &
    p=$!; BG_PIDS=$p
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; BG_PIDS=""
    s=$(serial "$CK_TMP/vk/$NAME")
    if pair_ok "$CK_TMP/vk/$NAME" && [ "$s" = "$X" ]; then old=$((old + 1))
    elif pair_ok "$CK_TMP/vk/$NAME" && [ "$s" = "$Y" ]; then new=$((new + 1))
    else bad=$((bad + 1)); fi
done
echo "   kill -9: $old old, $new new, $bad broken"
check_eq "init: kill -9 at 12 points leaves a complete pair" 0 "$bad"
check "init: after the kills, init completes" ck init kafter "$CK_TMP/vk" pnew
check_eq "init: after the kills, the store's certificate" "$Y" "$(serial "$CK_TMP/vk/$NAME")"
check "init: after the kills, the pair matches" pair_ok "$CK_TMP/vk/$NAME"

# The same during an issuance (each on its own prefix: a killed issuer leaves its lease behind).
rm -rf "$CK_TMP/vk"; cp -a "$CK_TMP/vk.snap" "$CK_TMP/vk"
t0=$(date +%s%N); ck init kitime "$CK_TMP/vk" pktime; span=$((($(date +%s%N) - t0) / 1000))
echo "   an issuance takes ${span} us"
old=0 new=0 bad=0
for i in $(seq 1 6); do
    rm -rf "$CK_TMP/vk"; cp -a "$CK_TMP/vk.snap" "$CK_TMP/vk"
    delay=$(( span * (4 + i) / 10 + RANDOM % 20000 ))  # the second half: order, download, writes
    ckx init "ikill$i" "$CK_TMP/vk" "pk$i" &
    p=$!; BG_PIDS=$p
    sleep "$(printf '%d.%06d' $((delay / 1000000)) $((delay % 1000000)))"
    kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; BG_PIDS=""
    s=$(serial "$CK_TMP/vk/$NAME")
    if pair_ok "$CK_TMP/vk/$NAME" && [ "$s" = "$X" ]; then old=$((old + 1))
    elif pair_ok "$CK_TMP/vk/$NAME" && [ -n "$s" ]; then new=$((new + 1))
    else bad=$((bad + 1)); fi
done
echo "   kill -9 during issuance: $old old, $new new, $bad broken"
check_eq "init: kill -9 during 6 issuances leaves a complete pair" 0 "$bad"

# ---- 6. wrong credentials, then the store down --------------------------------------------
echo "-- wrong credentials"
store_trouble() {  # LABEL [VAR=VALUE...]: the environment of every run
    local label=$1 rc t0; shift
    before=$(issued)
    ( export "$@"; ck init "tr-vol-$label" "$CK_TMP/v1" p1 ); rc=$?
    check_eq "init: $label, usable volume wins (exit)" 0 "$rc"
    check_match "init: $label, says why it did not use the store" "warn .*using the volume" "$(logof "tr-vol-$label")"
    rm -rf "$CK_TMP/vt"
    t0=$SECONDS
    ( export "$@"; ck init "tr-none-$label" "$CK_TMP/vt" p1 ); rc=$?
    check_eq "init: $label, empty volume fails" 1 "$rc"
    if [ $((SECONDS - t0)) -le 20 ]; then pass "init: $label, fails within 20 s"; else fail "init: $label, fails within 20 s" "$((SECONDS - t0)) s"; fi
    check_match "init: $label, one clear line after bounded tries" \
        "^certkeep: .*unreachable after 3 tries" "$(grep '^certkeep:' "$CK_TMP/tr-none-$label.log")"
    check_eq "init: $label, nothing written to the volume" "" "$(ls "$CK_TMP/vt" 2>/dev/null)"
    ( export "$@" CERTKEEP_STORE_REQUIRED=false; ck init "tr-opt-$label" "$CK_TMP/vt" p1 ); rc=$?
    check_eq "init: $label, store.required false: exits 0" 0 "$rc"
    check_match "init: $label, store.required false: says so" "store.required is false" "$(logof "tr-opt-$label")"
    check_eq "init: $label, store.required false: issued" 1 $(($(issued) - before))
    check "init: $label, store.required false: volume pair matches" pair_ok "$CK_TMP/vt/$NAME"
}
store_trouble wrong-secret AWS_SECRET_ACCESS_KEY=wrong-secret-wrong-secret
check_match "init: wrong secret is reported as access denied" "access denied|403" "$(logof tr-vol-wrong-secret)"
echo "-- store down"
s3_stop
store_trouble store-down CK_DOWN=1
