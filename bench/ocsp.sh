#!/usr/bin/env bash
# make bench, the OCSP refresh (issue 12): `init` on a usable volume whose certificate
# names a responder (openssl ocsp for Pebble's RSA intermediate), each run fetching,
# checking and writing ocsp.der, against the same with --no-ocsp: the difference is
# what a refresh costs. Medians over N runs; its own Pebble on ports 32460-32479.
set -eu
cd "$(dirname "$0")/.."
N=${N:-21}
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-bench.XXXXXX)}
PEBBLE_PORT=32460 PEBBLE_MGMT_PORT=32461 PEBBLE_TLS01_PORT=32462 PEBBLE_DNS_PORT=32463
PEBBLE_CTS_PORT=32464 PEBBLE_HTTP01_PORT=32465 OCSP_PORT=32466 PEBBLE_WFE_NONCEREJECT=0
PEBBLE_OCSP_URL=http://127.0.0.1:$OCSP_PORT/ PEBBLE_KEY_ALGORITHM=rsa
PEBBLE_HOME=$CK_TMP/pebble-ocsp
export PEBBLE_WFE_NONCEREJECT
source tests/e2e/pebble.sh
RESP=""
cleanup() { [ -z "$RESP" ] || kill "$RESP" 2>/dev/null || true; pebble_stop || true; }
trap cleanup EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start >/dev/null
BIN=${BIN:-build/certkeep}
RUSAGE=${RUSAGE:-$CK_TMP/rusage}
[ -x "$RUSAGE" ] || musl-gcc -static -O2 -o "$RUSAGE" bench/rusage.c
W=$CK_TMP/ocsp-bench
mkdir -p "$W"
pebble_intermediate "$W/inter.pem"
pebble_intermediate_key "$W/inter.key"
INIT=(init --domain ocsp.bench.example --email b@example.com --agree-tos
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --state "$W/state"
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$W/vol" --log-level error)
"$BIN" "${INIT[@]}" --no-ocsp >/dev/null 2>&1 || { echo "bench: ocsp: init failed" >&2; exit 1; }
s=$(openssl x509 -in "$W/vol/ocsp.bench.example/cert.pem" -noout -serial | cut -d= -f2)
printf 'V\t%s\t\t%s\tunknown\t/CN=ocsp.bench.example\n' "$(date -u -d '+80 days' +%y%m%d%H%M%SZ)" \
    "$s" >"$W/index.txt"
openssl ocsp -port "$OCSP_PORT" -index "$W/index.txt" -CA "$W/inter.pem" -rsigner "$W/inter.pem" \
    -rkey "$W/inter.key" -ndays 1 >"$W/responder.log" 2>&1 &
RESP=$!
for _ in $(seq 50); do _pebble_port_busy "$OCSP_PORT" && break; sleep 0.1; done
row() {  # row NAME CMD...: the table's line (stderr); median wall ms, CPU ms, peak RSS KiB (stdout)
    local name=$1 r; shift
    r=$(BENCH_ERR=$W/last.err "$RUSAGE" "$N" "$@") || { echo "bench: $name failed" >&2; return 1; }
    r=${r% *}
    printf '%-46s %9s %9s %9s\n' "$name" $r >&2
    echo "$r"
}
printf '%-46s %9s %9s %9s\n' "path (OCSP, median of $N)" "wall ms" "CPU ms" "RSS KiB"
export BENCH_BEFORE="rm -f $W/vol/ocsp.bench.example/ocsp.der"
off=$(row "init, volume path, --no-ocsp" "$BIN" "${INIT[@]}" --no-ocsp)
on=$(row "init, volume path, OCSP fetched and written" "$BIN" "${INIT[@]}")
test -s "$W/vol/ocsp.bench.example/ocsp.der" || { echo "bench: ocsp: no ocsp.der written" >&2; exit 1; }
BENCH_BEFORE=true row "init, volume path, a fresh ocsp.der kept" "$BIN" "${INIT[@]}" >/dev/null
read -r _ c_off _ <<<"$off"
read -r _ c_on _ <<<"$on"
cost=$(awk -v a="$c_on" -v b="$c_off" 'BEGIN {printf "%.2f", a - b}')
echo "OCSP refresh CPU (fetch, check, write): $cost ms"
if awk "BEGIN {exit !($cost <= 5)}"; then echo "  ok    OCSP refresh CPU <= 5 ms ($cost)"
else echo "  MISS  OCSP refresh CPU <= 5 ms ($cost)"; fi
