#!/usr/bin/env bash
# The arm64 binary (make arm64, issue 8 item 2): a static, stripped aarch64 ELF
# within the size budget, built from the pinned Debian sources, that completes
# a real issuance against Pebble under qemu-aarch64-static (binfmt_misc is not
# mounted here, so qemu is called explicitly). Ports 28500-28599.
set -u
. "$(dirname "$0")/lib.sh"
plan 20
PEBBLE_PORT=28500 PEBBLE_MGMT_PORT=28501 PEBBLE_TLS01_PORT=28502 PEBBLE_DNS_PORT=28553
PEBBLE_CTS_PORT=28555 PEBBLE_HTTP01_PORT=28580
. "$(dirname "$0")/pebble.sh"
trap pebble_stop EXIT

BIN=${CK_ARM64_BIN:-$CK_ROOT/build/arm64/certkeep}
QEMU=qemu-aarch64-static
MAX_SIZE=768000   # issues 11 and 12: 768 KB with every challenge and CA feature, as bench/run.sh counts it

# A missing binary or emulator fails the run: the planned checks never run.
if [ ! -x "$BIN" ]; then
    fail "arm64: binary" "$BIN is missing (make arm64)"; exit 1
fi
if ! command -v "$QEMU" >/dev/null 2>&1; then
    fail "arm64: $QEMU" "not installed (make setup)"; exit 1
fi

desc=$(file -b "$BIN")
check_match "arm64: file says ARM aarch64" 'ELF 64-bit LSB .*ARM aarch64' "$desc"
check_match "arm64: statically linked" 'statically linked' "$desc"
check_match "arm64: stripped" ', stripped' "$desc"
size=$(stat -c %s "$BIN")
if [ "$size" -le "$MAX_SIZE" ]; then pass "arm64: size $size <= $MAX_SIZE bytes"
else fail "arm64: size <= $MAX_SIZE bytes" "$size bytes"; fi

# `version` names each pinned Debian version of scripts/deps.lock (not what the build says it used).
ver=$(timeout 60 "$QEMU" "$BIN" version 2>&1)
check_match "arm64: version runs under qemu" '^certkeep [0-9]' "$ver"
for p in bearssl cjson libyaml curl; do
    want=$(awk -v p="$p" '$1 == p { print $2 }' "$CK_ROOT/scripts/deps.lock")
    check_match "arm64: version names $p ${want:-?}" "$p ${want//+/\\+} \\([0-9]+ Debian patches\\)" "$ver"
done

if ! pebble_start; then
    fail "arm64: pebble start" "see $PEBBLE_LOG"; exit 1
fi
ROOT=$CK_TMP/root.pem
check "arm64: pebble root" pebble_root "$ROOT"

# issue_arm64 KEYTYPE: certkeep issue for KEYTYPE.example.com under qemu; log in $CK_TMP/KEYTYPE.log.
issue_arm64() {
    timeout 300 "$QEMU" "$BIN" issue --domain "$1.example.com" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$CK_TMP/out" \
        --state "$CK_TMP/state-$1" --key-type "$1" --account-key-type "$1" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" >"$CK_TMP/$1.log" 2>&1
}

# EC and RSA: BearSSL's 64-bit code paths and our RSA key generation, on aarch64.
for kt in p256 rsa2048; do
    d=$CK_TMP/out/$kt.example.com
    t0=$(date +%s)
    if issue_arm64 "$kt"; then pass "arm64: issue $kt under qemu"
    else fail "arm64: issue $kt under qemu" "exit $?: $(tail -n 3 "$CK_TMP/$kt.log" | tr '\n' ' ')"; fi
    echo "  ($kt issuance under qemu: $(( $(date +%s) - t0 )) s)"
    missing=""
    for f in cert.pem chain.pem fullchain.pem privkey.pem; do [ -s "$d/$f" ] || missing="$missing $f"; done
    check_eq "arm64: $kt: files present" "" "$missing"
    a=$(openssl pkey -in "$d/privkey.pem" -pubout 2>/dev/null)
    b=$(openssl x509 -in "$d/cert.pem" -noout -pubkey 2>/dev/null)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "arm64: $kt: key matches cert"
    else fail "arm64: $kt: key matches cert" "public keys differ or are missing"; fi
    check "arm64: $kt: chain verifies (openssl)" \
        openssl verify -CAfile "$ROOT" -untrusted "$d/chain.pem" "$d/cert.pem"
    check_eq "arm64: $kt: privkey.pem mode" 600 "$(stat -c %a "$d/privkey.pem" 2>/dev/null)"
done
