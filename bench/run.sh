#!/usr/bin/env bash
# make bench: binary size (and by part, bench/parts.py), and wall time, CPU and peak RSS of each path, as a table;
# RSA key generation over 50 runs; then the same figures side by side with
# Debian's uacme and lego (bench/peers.sh; installed here when missing).
# Medians over N runs against Pebble on loopback with PEBBLE_VA_NOSLEEP=1 and no
# rejected nonces (every client then makes the same requests on every run).
# Ports 27500-27599 (bench/fleet.sh: 32600-32699). PEERS=0 leaves the peers out; PEERS_N sets their rounds.
# Then the container figures (bench/containers.sh: image size, start times, memory
# requests against the peak RSS); CONTAINERS=0 leaves them out.
set -eu
cd "$(dirname "$0")/.."
N=${N:-11}
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-bench.XXXXXX)}
PEBBLE_PORT=27500 PEBBLE_MGMT_PORT=27501 PEBBLE_TLS01_PORT=27502 PEBBLE_DNS_PORT=27553 \
    PEBBLE_CTS_PORT=27555 PEBBLE_HTTP01_PORT=27580 S3_PORT=27590 PEBBLE_WFE_NONCEREJECT=0
export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_TLS01_PORT PEBBLE_DNS_PORT PEBBLE_CTS_PORT PEBBLE_HTTP01_PORT \
    S3_PORT PEBBLE_WFE_NONCEREJECT
source tests/e2e/pebble.sh
cleanup() { pebble_stop || true; [ -z "${S3_PID_BENCH:-}" ] || kill "$S3_PID_BENCH" 2>/dev/null || true; }
trap cleanup EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start >/dev/null
export BIN=build/certkeep
export RUSAGE=$CK_TMP/rusage
musl-gcc -static -O2 -o "$RUSAGE" bench/rusage.c
ONLY_CA=$PEBBLE_CA_BUNDLE       # Pebble alone (WFE CA + its roots), no system store: costs nothing
FULL_CA=$PEBBLE_CA_BUNDLE       # Pebble's CA, added to Debian's bundle (the system store)


# measure NAME CMD...: median wall ms, CPU ms, peak RSS KiB of CMD itself over N runs.
measure() {
    local name=$1; shift
    local r
    r=$(BENCH_ERR=$CK_TMP/last.err "$RUSAGE" "$N" "$@") \
        || { echo "bench: $name failed: $(tail -n1 "$CK_TMP/last.err")" >&2; return 1; }
    r=${r% *} # without the retry count: none allowed here
    printf '%-46s %9s %9s %9s\n' "$name" $r
    eval "R_${name//[^a-zA-Z0-9]/_}=\"$r\""
}

# issue_args KEYTYPE CAFILE [ACCOUNT_KEYTYPE]: a fresh state directory each run, so a new account each time.
issue_args() {
    ARGS=(issue --domain bench.example.com --email b@example.com --agree-tos
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$2" --out "$CK_TMP/out"
        --state "$CK_TMP/state" --key-type "$1" --account-key-type "${3:-$1}"
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --log-level error)
}
export BENCH_BEFORE="rm -rf $CK_TMP/state"

size=$(stat -c %s "$BIN")
echo "binary: $BIN $size bytes ($(file -b "$BIN" | cut -d, -f1-2 | tr -d '\n'))"
[ ! -f build/arm64/certkeep ] || echo "binary: build/arm64/certkeep $(stat -c %s build/arm64/certkeep) bytes (arm64, make arm64; budget 768000)"
echo "binary by part (bytes the linker kept, from build/certkeep.map; issue 11 asks what each costs):"
python3 bench/parts.py build/certkeep.map
echo "runs per row: $N (median)"
echo
printf '%-46s %9s %9s %9s\n' "path" "wall ms" "CPU ms" "RSS KiB"
issue_args p256 "$ONLY_CA"
SSL_CERT_FILE=/nonexistent measure "issue p256, new account, CA = Pebble only" "$BIN" "${ARGS[@]}"
issue_args p256 "$FULL_CA"; measure "issue p256, new account, full trust store" "$BIN" "${ARGS[@]}"
issue_args p384 "$FULL_CA"; measure "issue p384, new account, full trust store" "$BIN" "${ARGS[@]}"
issue_args rsa2048 "$FULL_CA" p256; measure "issue rsa2048 (p256 account), full trust store" "$BIN" "${ARGS[@]}"
issue_args rsa2048 "$FULL_CA"; measure "issue rsa2048 (rsa2048 account), full store" "$BIN" "${ARGS[@]}"

# init paths: a usable certificate on the volume; the same in the store (moto, signed).
source tests/e2e/s3.sh
s3_start >/dev/null || { echo "bench: moto did not start" >&2; exit 1; }
S3_PID_BENCH=$S3_PID
INIT=(init --domain bench.example.com --email b@example.com --agree-tos
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$FULL_CA" --state "$CK_TMP/state"
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --log-level error)
S3=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-region "$S3_REGION" --s3-path-style)
"$BIN" "${INIT[@]}" "${S3[@]}" --out "$CK_TMP/vol" >/dev/null 2>&1 \
    || { echo "bench: init against Pebble and moto failed" >&2; exit 1; }
export BENCH_BEFORE=true
measure "init, volume path, no store" "$BIN" "${INIT[@]}" --out "$CK_TMP/vol"
measure "init, volume path, S3 store configured" "$BIN" "${INIT[@]}" "${S3[@]}" --out "$CK_TMP/vol"
export BENCH_BEFORE="rm -rf $CK_TMP/vol2"
measure "init, store path (empty volume)" "$BIN" "${INIT[@]}" "${S3[@]}" --out "$CK_TMP/vol2"
# The sidecar: `run` on that volume until it answers /readyz, then its peak RSS.
"$BIN" run "${INIT[@]:1}" --out "$CK_TMP/vol" --listen 127.0.0.1:27592 >"$CK_TMP/run.log" 2>&1 &
RUN_PID=$!
for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:27592/readyz && break; sleep 0.1; done
rss_run=$(awk '/^VmHWM/ {print $2}' "/proc/$RUN_PID/status" 2>/dev/null || echo 0)
kill "$RUN_PID" 2>/dev/null || true; wait "$RUN_PID" 2>/dev/null || true
printf '%-46s %9s %9s %9s\n' "run (sidecar), ready on the volume" "-" "-" "$rss_run"
s3_stop >/dev/null 2>&1 || true
# the largest peak of every path above, for the manifests' memory requests
peak=$rss_run peak_what="run, ready"
for v in "${!R_@}"; do
    read -r _ _ r <<<"${!v}"
    if [ "$r" -gt "$peak" ]; then peak=$r peak_what=${v#R_}; fi
done
echo
read -r _ c_only _ <<<"$R_issue_p256__new_account__CA___Pebble_only"
read -r w_full c_full rss_full <<<"$R_issue_p256__new_account__full_trust_store"
read -r _ c_rsa _ <<<"$R_issue_rsa2048__p256_account___full_trust_store"
load=$(awk -v a="$c_full" -v b="$c_only" 'BEGIN {print a-b}')
echo "trust-store load (full minus Pebble-only CPU): ${load} ms; the rest of a p256 issuance: ${c_only} ms CPU"
verdict() { if awk "BEGIN {exit !($2)}"; then echo "  ok    $1"; else echo "  MISS  $1"; fi; }
echo "targets (issue 2):"
verdict "stripped binary <= 768,000 bytes, issues 11 and 12 ($size bytes; 700,000 before tls-alpn-01)" "$size <= 768000"
verdict "p256 issuance median wall <= 150 ms (${w_full})" "$w_full <= 150"
verdict "p256 issuance CPU beyond the trust store <= 40 ms (${c_only})" "$c_only <= 40"
verdict "p256 issuance peak RSS <= 3 MB (${rss_full} KiB)" "$rss_full <= 3072"
verdict "rsa2048 issuance CPU <= 300 ms (${c_rsa})" "$c_rsa <= 300"
read -r w_vol _ rss_vol <<<"$R_init__volume_path__no_store"
read -r w_vols _ rss_vols <<<"$R_init__volume_path__S3_store_configured"
read -r w_sto _ _ <<<"$R_init__store_path__empty_volume_"
echo "targets (issue 3):"
verdict "init volume path median wall <= 5 ms (${w_vol}; ${w_vols} with a store to compare)" "$w_vol <= 5"
verdict "init volume path peak RSS <= 1.5 MB (${rss_vol} KiB; ${rss_vols} with a store)" "$rss_vol <= 1536"
verdict "init store path median wall <= 30 ms (${w_sto})" "$w_sto <= 30"

# Starvation (issue 9): issuance and /healthz under 1,000 held connections, memory per
# connection; its own Pebble on ports 31050-31099.
echo
bash bench/starve.sh || echo "starve: the part stopped (above)"

# Renewal -> reload latency of run (issue 10), directory store and S3; its own Pebble
# and moto on ports 32720-32726.
echo
bash bench/reload.sh || echo "reload latency: the rows stopped (above)"

# RSA key generation alone: 50 runs, certkeep's and BearSSL's on the same seeds.
echo
musl-gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -static -O2 -Ilib -Ibuild/deps/musl/include \
    -o "$CK_TMP/keygen" bench/keygen.c build/musl/lib/crypto/*.o build/musl/lib/err/err.o \
    -Lbuild/deps/musl/lib -lbearssl
"$CK_TMP/keygen" "${KEYGEN_N:-50}" 2048

# The account key's signer process (issue 9): fork, ten JWS through it, reap; against in process.
echo
musl-gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -static -O2 -Ilib -Ibuild/deps/musl/include \
    -o "$CK_TMP/signer" bench/signer.c build/musl/lib/crypto/*.o build/musl/lib/err/err.o \
    -Lbuild/deps/musl/lib -lbearssl
"$CK_TMP/signer" "${SIGNER_N:-101}" 10 | tee "$CK_TMP/signer.out"
sc=$(awk '/^p256/{for (i = 1; i <= NF; i++) if ($i == "issuance") {sub(/^\+/, "", $(i+1)); print $(i+1)}}' "$CK_TMP/signer.out")
echo "targets (issue 9):"
verdict "signer CPU per p256 issuance <= 2 ms (${sc})" "${sc:-99} <= 2"

# The OCSP refresh (issue 12): its own Pebble and responder on ports 32460-32479.
echo
bash bench/ocsp.sh || echo "ocsp: the rows stopped (above)"

# dns-01 against Knot (its own Pebble on other ports).
echo
bash bench/dns01.sh || echo "dns-01: the rows stopped (above)"

# The fleet: 1,000 certificates in one run (bench/fleet.sh, its own Pebble; FLEET=0 skips).
echo
bash bench/fleet.sh || echo "fleet: the figures stopped (above)"

# The image and the container engine's share (bench/containers.sh; CONTAINERS=0 skips).
echo
if [ "${CONTAINERS:-1}" = 0 ]; then
    echo "containers: skipped (CONTAINERS=0)"
else
    bench/containers.sh "$peak" "$peak_what" || echo "containers: the figures stopped (above)"
fi

# Side by side with uacme and lego from Debian, installed on demand.
echo
install_peers() {
    local p missing=""
    for p in uacme lego; do command -v "$p" >/dev/null || missing="$missing $p"; done
    [ -n "$missing" ] || return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "peers:$missing not installed (apt-get as root needed)"; return 0
    fi
    for p in $missing; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" \
            >"$CK_TMP/apt-$p.log" 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "$p" >"$CK_TMP/apt-$p.log" 2>&1; } ||
            echo "peers: apt-get could not install $p: $(tail -n 1 "$CK_TMP/apt-$p.log")"
    done
}
if [ "${PEERS:-1}" = 0 ]; then
    echo "peers: skipped (PEERS=0)"
else
    install_peers
    if ! command -v uacme >/dev/null && ! command -v lego >/dev/null; then
        echo "peers: skipped, neither uacme nor lego could be installed"
    elif [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
        PEERS_NAMESPACE=1 unshare -m bash bench/peers.sh || echo "peers: the table stopped (above)"
    else
        bash bench/peers.sh || echo "peers: the table stopped (above)"
    fi
fi
