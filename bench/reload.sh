#!/usr/bin/env bash
# Renewal -> reload latency of `certkeep run` (issue 10): from the moment the new
# files are switched on the volume (the mtime of the <out>/<name> symlink, made just
# before its rename) to the moment the app receives its SIGHUP (a Python app in
# sigwaitinfo, found by its pidfile). Each round: a certificate whose window is open,
# a fresh run, SIGUSR1, one renewal against Pebble; store in a directory, then in S3
# (moto). Medians over ROUNDS (default 7). Its own Pebble and moto on ports 32720-32726.
# BIN=... compares another binary.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-7}
BIN=${BIN:-build/certkeep}
# its own directory even under bench/run.sh: its Pebble must not replace the CA bundle
# (PEBBLE_HOME) and moto home of run.sh's, which later rows still use
export CK_TMP=$(mktemp -d "${CK_TMP:-/tmp}/certkeep-bench-reload.XXXXXX")
PEBBLE_PORT=32720 PEBBLE_MGMT_PORT=32721 PEBBLE_TLS01_PORT=32722 PEBBLE_DNS_PORT=32723
PEBBLE_CTS_PORT=32724 PEBBLE_HTTP01_PORT=32725 S3_PORT=32726 PEBBLE_WFE_NONCEREJECT=0
export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_TLS01_PORT PEBBLE_DNS_PORT PEBBLE_CTS_PORT \
    PEBBLE_HTTP01_PORT S3_PORT PEBBLE_WFE_NONCEREJECT
. tests/e2e/lib.sh
. tests/e2e/pebble.sh
. tests/e2e/s3.sh
APP_PID=""
cleanup() {
    [ -z "$APP_PID" ] || kill "$APP_PID" 2>/dev/null || true
    [ ! -s "$CK_TMP/app.pid" ] || kill "$(cat "$CK_TMP/app.pid")" 2>/dev/null || true
    pebble_stop >/dev/null 2>&1 || true
    s3_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start >/dev/null
s3_start >/dev/null || { echo "reload bench: moto did not start" >&2; exit 1; }
NAME=reload.example.com

# The app: each SIGHUP's arrival time (ns) on a line of its own.
HUPS=$CK_TMP/hups
unignored python3 -c 'import os, signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
open(sys.argv[2], "w").write(str(os.getpid()))
while True:
    signal.sigwaitinfo({signal.SIGHUP})
    t = time.time_ns()
    with open(sys.argv[1], "a") as f:
        f.write("%d\n" % t)' "$HUPS" "$CK_TMP/app.pid" >/dev/null 2>&1 &
APP_PID=$!
for _ in $(seq 50); do [ -s "$CK_TMP/app.pid" ] && break; sleep 0.1; done

# round KIND I: one renewal by a fresh run; prints the latency in ms (3 decimals).
round() {
    local kind=$1 i=$2 out=$CK_TMP/out-$1-$2 store=() n before pid
    case $kind in
    dir) store=(--store-dir "$CK_TMP/store-dir-$i") ;;
    s3) store=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-region "$S3_REGION"
               --s3-path-style --s3-prefix "r$i") ;;
    esac
    craft_cert "$out/$NAME" "$NAME" $((10 * 86400)) $((2 * 86400))
    before=$(cat "$HUPS" 2>/dev/null | wc -l)
    CERTKEEP_RELOAD_PIDFILE=$CK_TMP/app.pid "$BIN" run --domain "$NAME" --email b@example.com \
        --agree-tos --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state-$kind-$i" \
        --out "$out" --profile tlsserver "${store[@]}" >"$CK_TMP/run-$kind-$i.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "next renewal at" "$CK_TMP/run-$kind-$i.log" && break; sleep 0.1; done
    kill -USR1 "$pid"
    for _ in $(seq 300); do
        n=$(cat "$HUPS" 2>/dev/null | wc -l)
        [ "$n" -gt "$before" ] && break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    [ "$n" -gt "$before" ] || { echo "reload bench: no reload in round $kind $i: $(tail -n 2 "$CK_TMP/run-$kind-$i.log")" >&2; return 1; }
    python3 -c 'import os, sys
hup = int(open(sys.argv[1]).read().split()[int(sys.argv[3])])
switched = os.lstat(sys.argv[2]).st_mtime_ns
print("%.3f" % ((hup - switched) / 1e6))' "$HUPS" "$out/$NAME" "$before"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
for kind in dir s3; do
    : >"$CK_TMP/lat-$kind"
    for i in $(seq "$ROUNDS"); do round "$kind" "$i" >>"$CK_TMP/lat-$kind"; done
    m=$(median <"$CK_TMP/lat-$kind")
    printf '%-46s %9s ms  (rounds: %s)\n' "run: files switched -> app's SIGHUP, $kind store" "$m" \
        "$(tr '\n' ' ' <"$CK_TMP/lat-$kind")"
    eval "LAT_$kind=$m"
done
ok() { if awk "BEGIN {exit !($2)}"; then echo "  ok    $1"; else echo "  MISS  $1"; fi; }
echo "targets (issue 10):"
ok "renewal -> reload <= 10 ms, directory store (${LAT_dir})" "$LAT_dir <= 10"
ok "renewal -> reload <= 10 ms, S3 store (${LAT_s3})" "$LAT_s3 <= 10"
