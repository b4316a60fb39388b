#!/usr/bin/env bash
# IP-address certificates (issue 12, RFC 8738), the real binary against Pebble, which
# validates "ip" identifiers over http-01 at the address itself: 127.0.0.1 alone, then
# with a DNS name; the certificate holds them as iPAddress SANs (no CN for the address);
# a second init finds it usable and orders nothing; a volume certificate for another
# address is not usable for this one; dns-01 for an address is refused at start.
# (Pebble writes no subject CN at all: the CSR's is checked in test_crypto.)
# Ports 32300-32399.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=32300 PEBBLE_MGMT_PORT=32301 PEBBLE_TLS01_PORT=32302 PEBBLE_DNS_PORT=32353
PEBBLE_CTS_PORT=32355 PEBBLE_HTTP01_PORT=32380
. "$(dirname "$0")/pebble.sh"
plan 13

cleanup() { pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "ipcert: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
# No rejected nonces: a retried POST would count twice.
if ! PEBBLE_WFE_NONCEREJECT=0 pebble_start; then fail "ipcert: pebble start" "see $PEBBLE_LOG"; exit 1; fi

# ck CMD LOG [ARGS...]: certkeep against Pebble, listening on every address (127.0.0.2 too).
ck() {
    local cmd=$1 log=$CK_TMP/$2.log; shift 2
    "$CK_BIN" "$cmd" --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen ":$PEBBLE_HTTP01_PORT" --out "$CK_TMP/out" \
        --state "$CK_TMP/state" --log-level debug "$@" >"$log" 2>&1
}
text() { openssl x509 -in "$CK_TMP/out/$1/cert.pem" -noout -text 2>&1; }
serial() { openssl x509 -in "$CK_TMP/out/$1/cert.pem" -noout -serial 2>&1; }
orders() { grep -c 'POST https://[^ ]*/order-plz' "$CK_TMP/$1.log"; }

echo "-- an address alone"
check "ipcert: init for 127.0.0.1 issues" ck init ip1 --domain 127.0.0.1
check_match "ipcert: an iPAddress SAN" 'IP Address:127\.0\.0\.1' "$(text 127.0.0.1)"
check_eq "ipcert: not a dNSName too" "" "$(text 127.0.0.1 | grep 'DNS:127')"
check_eq "ipcert: one order (Pebble puts an iPAddress only for an ip identifier)" 1 "$(orders ip1)"
S1=$(serial 127.0.0.1)
check "ipcert: init again" ck init ip1b --domain 127.0.0.1
check_eq "ipcert: again: usable, no order" 0 "$(orders ip1b)"
check_eq "ipcert: again: the same certificate" "$S1" "$(serial 127.0.0.1)"

echo "-- another address is not covered by it"
check "ipcert: init for 127.0.0.2 into the same directory" ck init ip2 --domain 127.0.0.2 --cert-name 127.0.0.1
check_match "ipcert: the volume's certificate lacks it" 'missing name 127\.0\.0\.2' "$(cat "$CK_TMP/ip2.log")"
check_match "ipcert: and a new one holds it" 'IP Address:127\.0\.0\.2' "$(text 127.0.0.1)"

echo "-- an address with a DNS name"
check "ipcert: issue for 127.0.0.1 and ip.example.com" ck issue mixed --domain 127.0.0.1 --domain ip.example.com --cert-name mixed
both() { grep -q 'IP Address:127\.0\.0\.1' <<<"$1" && grep -q 'DNS:ip\.example\.com' <<<"$1"; }
check "ipcert: both names in the certificate" both "$(text mixed)"

echo "-- dns-01 for an address"
"$CK_BIN" issue --domain 127.0.0.1 --challenge dns-01 --dns-hook /bin/true --out "$CK_TMP/x" \
    --state "$CK_TMP/x" >"$CK_TMP/dns.log" 2>&1
check_eq "ipcert: dns-01 refused, exit 2" 2 "$?"
