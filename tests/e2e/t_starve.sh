#!/usr/bin/env bash
# Starvation (issue 9, items 1 and 2): 1,000 idle connections and 20 slow-drip ones
# (a byte a second, never the end of the head), from one address and reopened as soon
# as they are closed, held against (a) the http-01 responder during a real issuance
# against Pebble, and (b) run's /healthz. The flood comes from 127.0.0.1, the address
# Pebble validates from too (as behind NAT): per-address tricks cannot help.
# The real static binary; tests/tools/hold_conns.py is the attacker.
set -u
. "$(dirname "$0")/lib.sh"
plan 10
PEBBLE_PORT=31000 PEBBLE_MGMT_PORT=31001 PEBBLE_TLS01_PORT=31002 PEBBLE_DNS_PORT=31003
PEBBLE_CTS_PORT=31004 PEBBLE_HTTP01_PORT=31010
. "$(dirname "$0")/pebble.sh"

LISTEN_PORT=31011
IDLE=1000 DRIP=20
W=$CK_TMP/starve
HOLDER_PID=""
stop_holder() {
    [ -z "$HOLDER_PID" ] || { kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; }
    HOLDER_PID=""
    rm -f "$W/hold"
}
cleanup() { stop_holder; kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "starve: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "starve: pebble start" "see $PEBBLE_LOG"; exit 1; fi
mkdir -p "$W"

# holder PORT: the flood on 127.0.0.1:PORT, in the background (it retries until the port listens).
holder() {
    python3 "$CK_ROOT/tests/tools/hold_conns.py" 127.0.0.1 "$1" --idle "$IDLE" --drip "$DRIP" \
        --status "$W/hold" >"$W/holder.log" 2>&1 &
    HOLDER_PID=$!
}
held() { local n; n=$(sed -n 's/^open=\([0-9]*\).*/\1/p' "$W/hold" 2>/dev/null); echo "${n:-0}"; }
port_up() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }
now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# issue_timed LABEL WANT: one issuance of LABEL.example.com. The process is stopped
# (SIGSTOP) as soon as its responder listens, until the holder has WANT connections
# open as the holder sees them (at most 5 s: longer trips certkeep's own timeouts), so
# validation meets the whole flood. OPEN: connections open at SIGCONT; MS: SIGCONT to
# exit; RC.
issue_timed() {
    local label=$1 want=$2 pid i t0
    # the previous responder's connections are gone (its status file is fresh)
    for i in $(seq 50); do [ "$(held)" = 0 ] && break; sleep 0.1; done
    "$CK_BIN" issue --domain "$label.example.com" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --key-type p256 \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$W/state" --out "$W/out" \
        >"$W/$label.log" 2>&1 &
    pid=$!
    for i in $(seq 500); do port_up "$PEBBLE_HTTP01_PORT" && break; sleep 0.01; done
    kill -STOP "$pid" 2>/dev/null
    for i in $(seq 50); do [ "$(held)" -ge "$want" ] && break; sleep 0.1; done
    OPEN=$(held)
    t0=$(now_ms)
    kill -CONT "$pid" 2>/dev/null
    wait "$pid"
    RC=$?
    MS=$(($(now_ms) - t0))
}

# ---- (a) http-01 responder ---------------------------------------------------------------
echo "-- issuance without, then with the flood"
base="" base_rc=0
for i in 1 2 3; do
    issue_timed "base$i" 0
    base="$base $MS"
    [ "$RC" = 0 ] || base_rc="$RC ($(tail -n 1 "$W/base$i.log"))"
done
check_eq "starve http-01: 3 issuances without a flood (exit 0)" 0 "$base_rc"

holder "$PEBBLE_HTTP01_PORT"
att="" opens="" att_ok=0
for i in 1 2 3; do
    issue_timed "att$i" "$((IDLE + DRIP))"
    att="$att $MS" opens="$opens $OPEN"
    if [ "$RC" = 0 ]; then att_ok=$((att_ok + 1)); pass "starve http-01: issuance $i under the flood (exit 0)"
    else fail "starve http-01: issuance $i under the flood (exit 0)" \
        "rc $RC after $MS ms: $(tail -n 1 "$W/att$i.log")"; fi
done
stop_holder
min_open=$(printf '%s\n' $opens | sort -n | head -n 1)
if [ "$min_open" -ge "$IDLE" ]; then pass "starve http-01: the flood was in place ($opens open)"
else fail "starve http-01: the flood was in place" "open at validation:$opens, wanted $IDLE"; fi
mb=$(printf '%s\n' $base | median) ma=$(printf '%s\n' $att | median)
echo "   issuance: median $mb ms without ($base), $ma ms with $IDLE idle + $DRIP drip ($att)"
# the 100 ms goal is measured by make bench; here, headroom for a loaded machine
if [ "$att_ok" = 3 ] && [ "$ma" -le "$((mb + 3000))" ]; then pass "starve http-01: at most 3 s slower under the flood"
else fail "starve http-01: at most 3 s slower under the flood" "$att_ok of 3 issued; $ma ms vs $mb ms"; fi

# ---- (b) health endpoint -------------------------------------------------------------------
echo "-- /healthz of run with the flood"
"$CK_BIN" run --domain run.example.com --email e2e@example.com --agree-tos \
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$W/state" --out "$W/out" \
    --listen "127.0.0.1:$LISTEN_PORT" >"$W/run.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
code() { curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 1 "http://127.0.0.1:$LISTEN_PORT$1"; }
for i in $(seq 100); do [ "$(code /readyz | cut -d' ' -f1)" = 200 ] && break; sleep 0.1; done
check_eq "starve health: run is ready" 200 "$(code /readyz | cut -d' ' -f1)"
holder "$LISTEN_PORT"
for i in $(seq 100); do [ "$(held)" -ge "$((IDLE + DRIP))" ] && break; sleep 0.1; done
OPEN=$(held)
if [ "$OPEN" -ge "$IDLE" ]; then pass "starve health: the flood is in place ($OPEN open)"
else fail "starve health: the flood is in place" "$OPEN open, wanted $IDLE"; fi
ok=0 times=""
for i in $(seq 15); do
    r=$(code /healthz)
    [ "${r%% *}" = 200 ] && ok=$((ok + 1))
    times="$times ${r#* }"
    sleep 0.2
done
echo "   /healthz under the flood ($(held) open): seconds$times"
check_eq "starve health: 15 of 15 /healthz probes (1 s timeout) answer 200" 15 "$ok"
stop_holder
check "starve health: run still up" kill -0 "$RUN_PID"
