#!/usr/bin/env bash
# Store encryption (issue 9, item 5): with store.encryption_key_file every private
# key in the store (certificate key, account key) is sealed, bound to its object
# name. boto3 reads the bucket and finds no key; no key or a wrong key is refused
# in one line; a swapped object is refused; the old key of a rotation reads;
# plain keys of before are sealed as read; the directory store too.
set -u
. "$(dirname "$0")/lib.sh"
plan 43
PEBBLE_PORT=31200 PEBBLE_MGMT_PORT=31201 PEBBLE_TLS01_PORT=31202 PEBBLE_DNS_PORT=31253
PEBBLE_CTS_PORT=31255 PEBBLE_HTTP01_PORT=31280
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/s3.sh"

cleanup() { pebble_stop; s3_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "seal: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "seal: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "seal: moto start" "see $S3_LOG"; exit 1; fi

NAME=seal.example.com
K1=$CK_TMP/k1 K2=$CK_TMP/k2 KBAD=$CK_TMP/kbad
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$K1"; echo >>"$K1"  # 64 hex digits
head -c 32 /dev/urandom >"$K2"                                             # 32 raw bytes
head -c 16 /dev/urandom >"$KBAD"
chmod 600 "$K1" "$K2" "$KBAD"

# ck LOG VOLUME PREFIX [ARGS...]: init against Pebble and moto; output in $CK_TMP/LOG.log.
ck() {
    local log=$CK_TMP/$1.log vol=$2 prefix=$3; shift 3
    "$CK_BIN" init --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$vol" \
        --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix "$prefix" \
        "$@" >"$log" 2>&1
}
# ckd LOG VOLUME STOREDIR [ARGS...]: the same against a directory store.
ckd() {
    local log=$CK_TMP/$1.log vol=$2 dir=$3; shift 3
    "$CK_BIN" init --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$vol" \
        --store-dir "$dir" "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
rc_of() { "$@"; echo $?; }
issued() { pebble_issued_count; }
pair_ok() {
    local a b
    a=$(openssl pkey -in "$1/privkey.pem" -pubout 2>/dev/null) || return 1
    b=$(openssl x509 -in "$1/cert.pem" -noout -pubkey 2>/dev/null) || return 1
    [ -n "$a" ] && [ "$a" = "$b" ]
}
# boto3: how the current certificate's key and the account key under PREFIX are
# stored ("sealed" / "plain" each); fullchain.pem must stay PEM. Objects are read
# by name: moto refuses a signed ListObjectsV2 whose prefix has a '/'.
key_objects() {
    s3_py "
import json
cur = json.loads(s3.get_object(Bucket=bucket, Key='$1/certs/$NAME/current.json')['Body'].read())
full = s3.get_object(Bucket=bucket, Key='$1/certs/$NAME/%s/fullchain.pem' % cur['serial'])['Body'].read()
assert full.startswith(b'-----BEGIN CERTIFICATE-----')
out = []
for k in ('$1/certs/$NAME/%s/privkey.pem' % cur['serial'], '$1/accounts/localhost_$PEBBLE_PORT/account.key'):
    body = s3.get_object(Bucket=bucket, Key=k)['Body'].read()
    if body[:5] == b'CKSL\\x01' and b'PRIVATE KEY' not in body:
        out.append('sealed')
    elif body.startswith(b'-----BEGIN PRIVATE KEY-----'):
        out.append('plain')
    else:
        out.append('other')
print(' '.join(out))
"
}

echo "-- issue with a store key: nothing in the bucket reveals a key"
export CERTKEEP_STORE_ENCRYPTION_KEY_FILE=$K1
before=$(issued)
check "seal: init with a store key exits 0" ck a1 "$CK_TMP/v1" p1
check_eq "seal: it issued once" 1 $(($(issued) - before))
check "seal: the volume's pair matches (plain PEM on the volume)" pair_ok "$CK_TMP/v1/$NAME"
check_eq "seal: boto3 finds the certificate key and the account key sealed, no PEM key" \
    "sealed sealed" "$(key_objects p1 2>&1)"

echo "-- restore with the key"
before=$(issued)
check "seal: a fresh volume restores from the sealed store" ck a2 "$CK_TMP/v2" p1
check_eq "seal: restoring issues nothing" 0 $(($(issued) - before))
check_eq "seal: the restored key is the issued one" "$(sha256sum <"$CK_TMP/v1/$NAME/privkey.pem")" \
    "$(sha256sum <"$CK_TMP/v2/$NAME/privkey.pem")"

echo "-- no key, a wrong key: refused in one line"
unset CERTKEEP_STORE_ENCRYPTION_KEY_FILE
check_eq "seal: without the key init exits 2" 2 "$(rc_of ck a3 "$CK_TMP/v3" p1)"
check_match "seal: ... saying the object is sealed" "privkey.pem is sealed; set store.encryption_key_file" "$(logof a3)"
check_eq "seal: ... in one line" 1 "$(logof a3 | grep -c sealed)"
check "seal: ... and the volume got nothing" test ! -e "$CK_TMP/v3/$NAME"
export CERTKEEP_STORE_ENCRYPTION_KEY_FILE=$K2
check_eq "seal: with a wrong key init exits 2" 2 "$(rc_of ck a4 "$CK_TMP/v4" p1)"
check_match "seal: ... naming another key" "privkey.pem: sealed with another store encryption key" "$(logof a4)"
check_eq "seal: ... in one line" 1 "$(logof a4 | grep -c 'encryption key')"
check "seal: ... and the volume got nothing" test ! -e "$CK_TMP/v4/$NAME"
check_eq "seal: a key file of 16 bytes is refused with exit 2" 2 \
    "$(CERTKEEP_STORE_ENCRYPTION_KEY_FILE=$KBAD rc_of ck a5 "$CK_TMP/v5" p1)"
check_match "seal: ... naming the file" "store encryption key $KBAD: expected 32 bytes or 64 hex digits" "$(logof a5)"
check_eq "seal: an old key without a key is refused with exit 2" 2 \
    "$(CERTKEEP_STORE_ENCRYPTION_KEY_FILE= CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE=$K1 rc_of ck a6 "$CK_TMP/v6" p1)"

echo "-- rotation: new key K2, old key K1"
before=$(issued)
export CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE=$K1
check "seal: the old key still reads" ck a7 "$CK_TMP/v7" p1
unset CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE
check_eq "seal: ... without issuing" 0 $(($(issued) - before))
check "seal: ... the same key" cmp "$CK_TMP/v1/$NAME/privkey.pem" "$CK_TMP/v7/$NAME/privkey.pem"
check "seal: once read, the new key alone reads it (sealed anew)" ck a7b "$CK_TMP/v7b" p1
check_match "seal: ... while the new key alone does not read the unread account key" \
    "sealed with another store encryption key" \
    "$(rc_of "$CK_BIN" revoke --domain "$NAME" --state "$CK_TMP/state" --out "$CK_TMP/v7b" \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --s3-endpoint "$S3_ENDPOINT" \
        --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p1 2>&1)"

echo "-- a swapped object: another name's sealed key copied over privkey.pem"
export CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE=$K1
check "seal: boto3 copies the sealed account key over privkey.pem" s3_py "
import json
cur = json.loads(s3.get_object(Bucket=bucket, Key='p1/certs/$NAME/current.json')['Body'].read())
k = 'p1/certs/$NAME/%s/privkey.pem' % cur['serial']
open('$CK_TMP/saved', 'wb').write(s3.get_object(Bucket=bucket, Key=k)['Body'].read())
acct = s3.get_object(Bucket=bucket, Key='p1/accounts/localhost_$PEBBLE_PORT/account.key')['Body'].read()
s3.put_object(Bucket=bucket, Key=k, Body=acct)
open('$CK_TMP/swapped-key', 'w').write(k)
"
before=$(issued)
ck a8 "$CK_TMP/v8" p1
check_match "seal: the swapped key is refused" "privkey.pem: sealed object does not verify" "$(logof a8)"
check_eq "seal: ... and a new certificate issued instead (the store's is refused)" 1 $(($(issued) - before))
check "seal: ... whose pair matches" pair_ok "$CK_TMP/v8/$NAME"
check "seal: ... not the account key" sh -c "! cmp -s '$CK_TMP/v8/$NAME/privkey.pem' '$CK_TMP/v1/$NAME/privkey.pem'"

echo "-- migration: a store written without a key is sealed as read"
unset CERTKEEP_STORE_ENCRYPTION_KEY_FILE CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE
check "seal: init without a key writes plain keys (prefix p2)" ck b1 "$CK_TMP/w1" p2
check_eq "seal: ... boto3 finds them plain" "plain plain" "$(key_objects p2 2>&1)"
export CERTKEEP_STORE_ENCRYPTION_KEY_FILE=$K1
before=$(issued)
check "seal: with a key, the plain store restores" ck b2 "$CK_TMP/w2" p2
check_eq "seal: ... without issuing" 0 $(($(issued) - before))
check_eq "seal: ... and the certificate key it read is sealed in place (the account key, unread, not yet)" \
    "sealed plain" "$(key_objects p2 2>&1)"

echo "-- directory store"
D=$CK_TMP/dirstore
check "seal: init with a directory store and a key" ckd d1 "$CK_TMP/x1" "$D"
check_eq "seal: no file in the directory store holds a PEM key" "" "$(grep -rl 'PRIVATE KEY' "$D")"
check_eq "seal: the key files start with the sealed magic" "CKSL CKSL" \
    "$(for f in "$D"/certs/$NAME/*/privkey.pem "$D"/accounts/*/account.key; do head -c 4 "$f"; echo; done | xargs)"
check "seal: a fresh volume restores from it" ckd d2 "$CK_TMP/x2" "$D"
check "seal: ... the same key" cmp "$CK_TMP/x1/$NAME/privkey.pem" "$CK_TMP/x2/$NAME/privkey.pem"

echo "-- the reload command (issue 9 item 8): PATH and facts only, descriptors 0-2 only"
cat >"$CK_TMP/dump.sh" <<'SH'
#!/bin/sh
{ env | sort; echo FDS; ls /proc/self/fd | tr '\n' ' '; echo; } >"$1"
SH
chmod 755 "$CK_TMP/dump.sh"
export AWS_SESSION_TOKEN_UNUSED=also-secret CERTKEEP_RELOAD_COMMAND="$CK_TMP/dump.sh $CK_TMP/dump.out"
check "seal: renew --force over S3 runs the reload command" "$CK_BIN" renew --force --domain "$NAME" \
    --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$CK_TMP/w2" \
    --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --s3-prefix p2
unset AWS_SESSION_TOKEN_UNUSED CERTKEEP_RELOAD_COMMAND
dump=$(cat "$CK_TMP/dump.out" 2>/dev/null)
check_eq "seal: ... its environment holds no AWS_* variable" "" "$(printf '%s\n' "$dump" | grep '^AWS_')"
check_eq "seal: ... nor any other variable of ours" \
    "CERTKEEP_CERT_DIR CERTKEEP_CERT_NAME CERTKEEP_NAMES CERTKEEP_NOT_AFTER CERTKEEP_NOT_AFTER_UNIX CERTKEEP_SERIAL PATH" \
    "$(printf '%s\n' "$dump" | sed -n '/^FDS$/q;s/=.*//p' | grep -v '^PWD$' | xargs)"
check_eq "seal: ... CERTKEEP_SERIAL is the new certificate's" \
    "CERTKEEP_SERIAL=$(openssl x509 -in "$CK_TMP/w2/$NAME/cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)" \
    "$(printf '%s\n' "$dump" | grep '^CERTKEEP_SERIAL=')"
check_eq "seal: ... and no descriptor but 0-2 (3 is ls's own)" "0 1 2 3 " "$(printf '%s\n' "$dump" | sed -n '/^FDS$/{n;p}')"
