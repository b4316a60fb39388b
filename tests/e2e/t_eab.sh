#!/usr/bin/env bash
# External account binding (issue 12), the real binary against a Pebble that requires it
# (externalAccountBindingRequired with its MAC keys): without a binding, one line and exit 2
# before any newAccount; a wrong MAC key, the CA's refusal in one line and no account; the
# right one issues; the account, once bound, is used again without the binding; half a
# binding or a key file that is no key, exit 2. Ports 32200-32299.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=32200 PEBBLE_MGMT_PORT=32201 PEBBLE_TLS01_PORT=32202 PEBBLE_DNS_PORT=32253
PEBBLE_CTS_PORT=32255 PEBBLE_HTTP01_PORT=32280
# Pebble's own example key (base64url of 48 random bytes); the wrong one differs in every byte.
KEY=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W
PEBBLE_EAB_KEYS="\"kid-1\": \"$KEY\""
. "$(dirname "$0")/pebble.sh"
plan 17

cleanup() { pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "eab: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
# No rejected nonces: a retried POST would count twice.
if ! PEBBLE_WFE_NONCEREJECT=0 pebble_start; then fail "eab: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=eab.example.com
# ck LOG STATE [ARGS...]: certkeep issue against Pebble, debug log in $CK_TMP/LOG.log, status $?.
ck() {
    local log=$CK_TMP/$1.log state=$CK_TMP/$2 out=$CK_TMP/out-$2; shift 2
    "$CK_BIN" issue --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$out" --state "$state" \
        --log-level debug "$@" >"$log" 2>&1
}
errlines() { grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z (debug|info |warn |error) ' "$CK_TMP/$1.log"; }
new_accounts() { grep -c 'POST https://[^ ]*/sign-me-up' "$CK_TMP/$1.log"; }
printf '%s\n' "$KEY" >"$CK_TMP/eab.key"
printf '%s\n' "$KEY" | tr 'A-Za-z' 'B-ZAb-za' >"$CK_TMP/wrong.key"
printf 'not a key\n' >"$CK_TMP/garbage.key"
chmod 600 "$CK_TMP"/*.key

echo "-- no binding: refused before any account request"
ck none s-none; rc=$?
check_eq "eab: none given: exit 2" 2 "$rc"
check_match "eab: none given: the line names what to set" \
    'requires external account binding.*acme.eab.kid and acme.eab.hmac_key_file' "$(errlines none)"
check_eq "eab: none given: one line" 1 "$(errlines none | grep -c .)"
check_eq "eab: none given: no newAccount sent" 0 "$(new_accounts none)"

echo "-- a wrong MAC key: the CA refuses, no certificate"
ck wrong s-wrong --eab-kid kid-1 --eab-hmac-key-file "$CK_TMP/wrong.key"; rc=$?
check_eq "eab: wrong key: exit 1" 1 "$rc"
check_match "eab: wrong key: the CA's refusal in one line" 'sign-me-up|account|binding|JWS|MAC' "$(errlines wrong)"
check_eq "eab: wrong key: one line" 1 "$(errlines wrong | grep -c .)"
check "eab: wrong key: no certificate" test ! -e "$CK_TMP/out-s-wrong/$NAME/cert.pem"

echo "-- the right binding issues; the bound account needs it no more"
check "eab: issue with the binding" ck right s-right --eab-kid kid-1 --eab-hmac-key-file "$CK_TMP/eab.key"
check "eab: a certificate" openssl x509 -in "$CK_TMP/out-s-right/$NAME/cert.pem" -noout
check_eq "eab: one newAccount" 1 "$(new_accounts right)"
check_eq "eab: the key never reaches the log" 0 "$(grep -c "$KEY" "$CK_TMP/right.log")"
check "eab: the same account again, without the binding" ck again s-right
check_eq "eab: again: no newAccount" 0 "$(new_accounts again)"

echo "-- settings refused at start"
ck half s-half --eab-kid kid-1; rc=$?
check_eq "eab: kid without key file: exit 2" 2 "$rc"
ck garbage s-garbage --eab-kid kid-1 --eab-hmac-key-file "$CK_TMP/garbage.key"; rc=$?
check_eq "eab: a key file that is no key: exit 2" 2 "$rc"
check_match "eab: a key file that is no key: named" "acme.eab.hmac_key_file $CK_TMP/garbage.key: not a base64url MAC key" \
    "$(errlines garbage)"
