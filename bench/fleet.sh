#!/usr/bin/env bash
# The fleet figure (issue 10): FLEET (1,000) certificates of one name each in one
# `run` against Pebble, from empty: the time to issue them all, the most orders in
# flight at once (counted by the http-01 server: distinct names being validated;
# max_concurrent_orders is 4), then idle RSS and CPU ticks over IDLE_S (60) seconds,
# then a restart with all usable: time to /readyz 200 and the orders it makes (0).
# Store in a directory (one lease and one set of objects per certificate).
# Ports 32600-32699. Run from the repository root: bash bench/fleet.sh
set -eu
cd "$(dirname "$0")/.."
FLEET=${FLEET:-1000}
[ "$FLEET" != 0 ] || { echo "fleet: skipped (FLEET=0)"; exit 0; }
IDLE_S=${IDLE_S:-60}
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-fleet.XXXXXX)}
PEBBLE_PORT=32600 PEBBLE_MGMT_PORT=32601 PEBBLE_TLS01_PORT=32602 PEBBLE_DNS_PORT=32653 \
    PEBBLE_CTS_PORT=32655 PEBBLE_HTTP01_PORT=32680 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0
PEBBLE_HOME=$CK_TMP/fleet/pebble  # apart from bench/run.sh's Pebble, which still runs
export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_TLS01_PORT PEBBLE_DNS_PORT PEBBLE_CTS_PORT \
    PEBBLE_HTTP01_PORT PEBBLE_WFE_NONCEREJECT PEBBLE_AUTHZREUSE
LISTEN=127.0.0.1:32690
BIN=${BIN:-build/certkeep}
source tests/e2e/pebble.sh
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; pebble_stop || true; }
trap cleanup EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start >/dev/null
W=$CK_TMP/fleet
mkdir -p "$W/webroot"
python3 tests/tools/http01_inflight.py "$PEBBLE_HTTP01_PORT" "$W/webroot" "$W/inflight.max" \
    >"$W/http01.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do _pebble_port_busy "$PEBBLE_HTTP01_PORT" && break; sleep 0.1; done
CFG=$W/fleet.yaml
{
    printf 'email: b@example.com\nagree_tos: true\nstate: %s\nout: %s\nlisten: %s\n' \
        "$W/state" "$W/out" "$LISTEN"
    printf 'log:\n  level: warn\nacme:\n  directory: %s\n  ca_bundle: %s\n' \
        "$PEBBLE_DIR_URL" "$PEBBLE_CA_BUNDLE"
    printf 'store:\n  dir: %s\nchallenge:\n  webroot: %s\ncertificates:\n' "$W/store" "$W/webroot"
    for i in $(seq -w 1 "$FLEET"); do printf '  - domains: [f%s.fleet.test]\n' "$i"; done
} >"$CFG"
ready() { curl -fs -o /dev/null --max-time 2 "http://$LISTEN/readyz"; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

orders0=$(pebble_order_count)
t0=$(ms)
"$BIN" run --config "$CFG" >"$W/run1.log" 2>&1 &
RUN=$!
PIDS="$PIDS $RUN"
until ready; do
    kill -0 "$RUN" 2>/dev/null || { echo "fleet: run stopped: $(tail -n 2 "$W/run1.log")" >&2; exit 1; }
    sleep 0.2
done
t1=$(ms)
issued=$(ls "$W"/out/*/cert.pem 2>/dev/null | wc -l)
orders=$(( $(pebble_order_count) - orders0 ))
sleep 5  # settled: the jobs after issuance (ARI checks) are done
ticks0=$(awk '{print $14 + $15}' "/proc/$RUN/stat")
sleep "$IDLE_S"
ticks1=$(awk '{print $14 + $15}' "/proc/$RUN/stat")
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$RUN/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$RUN/status")
kill -TERM "$RUN"; wait "$RUN" || true
orders1=$(pebble_order_count)
t2=$(ms)
"$BIN" run --config "$CFG" >"$W/run2.log" 2>&1 &
RUN=$!
PIDS="$PIDS $RUN"
until ready; do
    kill -0 "$RUN" 2>/dev/null || { echo "fleet: restart stopped: $(tail -n 2 "$W/run2.log")" >&2; exit 1; }
    sleep 0.02
done
t3=$(ms)
sleep 5
reorders=$(( $(pebble_order_count) - orders1 ))
kill -TERM "$RUN"; wait "$RUN" || true

printf '%-58s %s\n' "fleet: $FLEET certificates from empty, ready after" "$(( t1 - t0 )) ms ($issued issued, $orders orders)"
printf '%-58s %s\n' "fleet: most orders in flight at once (max_concurrent_orders 4)" "$(cat "$W/inflight.max")"
printf '%-58s %s\n' "fleet: idle RSS (peak during issuance)" "$rss KiB ($hwm KiB)"
printf '%-58s %s\n' "fleet: CPU ticks over ${IDLE_S} s idle" "$(( ticks1 - ticks0 ))"
printf '%-58s %s\n' "fleet: restart with all usable, ready after" "$(( t3 - t2 )) ms, $reorders orders"
verdict() { if awk "BEGIN {exit !($2)}"; then echo "  ok    $1"; else echo "  MISS  $1"; fi; }
echo "targets (issue 10):"
verdict "all $FLEET issued, at most 4 orders in flight ($(cat "$W/inflight.max"))" \
    "$issued == $FLEET && $(cat "$W/inflight.max") <= 4"
verdict "idle RSS <= 20 MB ($rss KiB)" "$rss <= 20480"
verdict "0 CPU ticks over ${IDLE_S} s idle ($(( ticks1 - ticks0 )))" "$(( ticks1 - ticks0 )) == 0"
verdict "restart ready <= 1 s ($(( t3 - t2 )) ms) with 0 orders ($reorders)" "$(( t3 - t2 )) <= 1000 && $reorders == 0"
