#!/usr/bin/env bash
# make bench, starvation part (issue 9, items 1-2; run alone: bash bench/starve.sh):
# issuance time against Pebble without and with 1,000 idle + 20 slow-drip connections
# held open to the http-01 responder (tests/tools/hold_conns.py; the process is
# stopped from the moment it listens until the flood is in place, then timed from
# SIGCONT to exit, as in tests/e2e/t_starve.sh); /healthz latency of `run` without and
# with 1,000 idle connections; peak RSS of `run` with 1,000 idle connections and with
# 1,000 that each sent a 4,000-byte unfinished head, per connection.
# Ports 31050-31099. STARVE_N sets the issuance rounds (11).
set -eu
cd "$(dirname "$0")/.."
N=${STARVE_N:-11}
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-bench.XXXXXX)}
PEBBLE_PORT=31050 PEBBLE_MGMT_PORT=31051 PEBBLE_TLS01_PORT=31052 PEBBLE_DNS_PORT=31053
PEBBLE_CTS_PORT=31055 PEBBLE_HTTP01_PORT=31080 PEBBLE_HOME=$CK_TMP/pebble-starve
LISTEN_PORT=31090
source tests/e2e/pebble.sh
BIN=${BIN:-build/certkeep}
W=$CK_TMP/starve
mkdir -p "$W"
HOLDER_PID="" RUN_PID=""
stop_holder() {
    [ -z "$HOLDER_PID" ] || { kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null || true; }
    HOLDER_PID=""
    rm -f "$W/hold"
}
cleanup() {
    stop_holder
    [ -z "$RUN_PID" ] || { kill "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null || true; }
    pebble_stop || true
}
trap cleanup EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start >/dev/null

# holder PORT ARGS...: the flood from 127.0.0.1, in the background.
holder() {
    local port=$1; shift
    python3 tests/tools/hold_conns.py 127.0.0.1 "$port" --status "$W/hold" "$@" >"$W/holder.log" 2>&1 &
    HOLDER_PID=$!
}
held() { local n; n=$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$W/hold" 2>/dev/null); echo "${n:-0}"; }
port_up() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
wait_held() { local i; for i in $(seq 100); do [ "$(held)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }

# issue_timed LABEL WANT: as in t_starve.sh; MS, RC.
issue_timed() {
    local label=$1 want=$2 pid i t0
    for i in $(seq 50); do [ "$(held)" = 0 ] && break; sleep 0.1; done
    "$BIN" issue --domain "$label.example.com" --email b@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --key-type p256 \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$W/state" --out "$W/out" \
        --log-level error >"$W/issue.log" 2>&1 &
    pid=$!
    for i in $(seq 500); do port_up "$PEBBLE_HTTP01_PORT" && break; sleep 0.01; done
    kill -STOP "$pid" 2>/dev/null || true
    for i in $(seq 50); do [ "$(held)" -ge "$want" ] && break; sleep 0.1; done
    t0=$(now_ms)
    kill -CONT "$pid" 2>/dev/null || true
    RC=0
    wait "$pid" || RC=$?
    MS=$(($(now_ms) - t0))
}

# rounds PREFIX WANT: N issuances; their times in TIMES, failures in FAILS.
rounds() {
    local i
    TIMES="" FAILS=0
    for i in $(seq "$N"); do
        issue_timed "$1$i" "$2"
        if [ "$RC" = 0 ]; then TIMES="$TIMES $MS"; else FAILS=$((FAILS + 1)); fi
    done
}

echo "starvation (issue 9): 1,000 idle connections from one address, held throughout"
issue_timed warm 0 # the account, once
rounds base 0
base=$(printf '%s\n' $TIMES | median) base_fails=$FAILS
holder "$PEBBLE_HTTP01_PORT" --idle 1000 --drip 20
rounds att 1020
att=$(printf '%s\n' $TIMES | median) att_fails=$FAILS
stop_holder
printf '%-58s %7s ms (%s failed of %s)\n' "issue p256, median SIGCONT to exit, no flood" "$base" "$base_fails" "$N"
printf '%-58s %7s ms (%s failed of %s)\n' "issue p256, 1,000 idle + 20 drip connections held" "${att:-none}" "$att_fails" "$N"

# /healthz of run: latency, then memory.
"$BIN" run --domain run.example.com --email b@example.com --agree-tos \
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$W/state" --out "$W/out" \
    --listen "127.0.0.1:$LISTEN_PORT" --log-level error >"$W/run.log" 2>&1 &
RUN_PID=$!
probe() { curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 1 "http://127.0.0.1:$LISTEN_PORT/healthz"; }
for i in $(seq 100); do [ "$(probe | cut -d' ' -f1)" = 200 ] && break; sleep 0.1; done
probes() { # 50 probes: median and max ms in LAT, failures in LFAIL
    local i r ok=0 t=""
    for i in $(seq 50); do
        r=$(probe)
        if [ "${r%% *}" = 200 ]; then ok=$((ok + 1)); t="$t ${r#* }"; fi
        sleep 0.05
    done
    LFAIL=$((50 - ok))
    LAT=$(printf '%s\n' $t | sort -g | awk '{a[NR] = $1 * 1000}
        END {printf "%.1f %.1f", a[int((NR + 1) / 2)], a[NR]}')
}
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$RUN_PID/status"; }
rss0=$(hwm)
probes
read -r l_med0 l_max0 <<<"$LAT"; f0=$LFAIL
holder "$LISTEN_PORT" --idle 1000
wait_held 1000 || true
probes
read -r l_med l_max <<<"$LAT"; f1=$LFAIL
rss_idle=$(hwm)
stop_holder
holder "$LISTEN_PORT" --idle 1000 --burst 4000
wait_held 1000 || true
sleep 3 # across a head deadline: the reopened ones too
rss_head=$(hwm)
stop_holder
printf '%-58s %7s ms median, %s ms max (%s of 50 failed)\n' "/healthz, no flood" "$l_med0" "$l_max0" "$f0"
printf '%-58s %7s ms median, %s ms max (%s of 50 failed)\n' "/healthz, 1,000 idle connections held" "$l_med" "$l_max" "$f1"
per_idle=$(( (rss_idle - rss0) * 1024 / 1000 )) per_head=$(( (rss_head - rss0) * 1024 / 1000 ))
[ "$per_idle" -gt 0 ] || per_idle=0 # no buffer for an idle one: what is left is noise
printf '%-58s %7s KiB peak RSS; +%s B per connection\n' "run, 1,000 idle connections" "$rss_idle" "$per_idle"
printf '%-58s %7s KiB peak RSS; +%s B per connection\n' "run, 1,000 connections with a 4,000-byte unfinished head" "$rss_head" "$per_head"
verdict() { if awk "BEGIN {exit !($2)}"; then echo "  ok    $1"; else echo "  MISS  $1"; fi; }
echo "targets (issue 9):"
verdict "issuance under the flood succeeds, at most 100 ms slower ($att vs $base ms)" \
    "$att_fails == 0 && ${att:-999999} - $base <= 100"
verdict "/healthz under 1,000 idle connections within 100 ms, none failed (max $l_max ms)" \
    "$f1 == 0 && $l_max <= 100"
verdict "memory per connection bounded: <= 5 KiB with a 4 KiB head ($per_head B)" "$per_head <= 5120"
