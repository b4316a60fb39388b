#!/usr/bin/env bash
# certkeep run and renew, the real static binary against a real Pebble, store in a
# directory: renew (not due, --force) with a new serial and the app told by
# pidfile; run serves /healthz /readyz /metrics, sleeps without burning CPU,
# renews a certificate that fell short of --min-valid and tells the app; an
# unreachable CA: run stays up, state.json counts the failure with the next retry
# ~60 s ahead, a restart honours it, SIGHUP retries early; SIGTERM exits 0 in < 1 s;
# run with no store, no --listen, no reload target (each, and all at once).
set -u
. "$(dirname "$0")/lib.sh"
plan 103
PEBBLE_PORT=19000 PEBBLE_MGMT_PORT=19001 PEBBLE_TLS01_PORT=19002 PEBBLE_DNS_PORT=19053
PEBBLE_CTS_PORT=19055 PEBBLE_HTTP01_PORT=19080
. "$(dirname "$0")/pebble.sh"

LISTEN_PORT=19090
cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "run: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "run: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=run.example.com
OUT=$CK_TMP/out
STORE=$CK_TMP/store
HUPS=$CK_TMP/hups
APP_PID=$CK_TMP/app.pid
export CERTKEEP_RELOAD_PIDFILE=$APP_PID

# ck COMMAND LOG [ARGS...]: certkeep against Pebble, store in $STORE; output in $CK_TMP/LOG.log.
ck() { ( ckx "$@" ); }
# Same, exec'd: in the background $! is certkeep itself (for signals and /proc).
ckx() {
    local cmd=$1 log=$CK_TMP/$2.log; shift 2
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$OUT" \
        --store-dir "$STORE" "$@" >"$log" 2>&1
}
# ck_bg LOG [ARGS...]: `certkeep run` in the background; RUN_PID is certkeep itself.
ck_bg() {
    local log=$1; shift
    ckx run "$log" --listen "127.0.0.1:$LISTEN_PORT" "$@" &
    RUN_PID=$!
    BG_PIDS="$BG_PIDS $RUN_PID"
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
serial() { openssl x509 -in "$OUT/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }
not_after() { date -d "$(openssl x509 -in "$OUT/$NAME/cert.pem" -noout -enddate | cut -d= -f2)" +%s; }
hups() { cat "$HUPS" 2>/dev/null | grep -c hup; }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$LISTEN_PORT$1"; }
state_field() {  # state.json field of the store
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
        "$STORE/certs/$NAME/state.json" "$1" 2>/dev/null
}
# wait_for SECONDS 'SHELL TEST': evaluates the test every 0.1 s until it holds (0) or time runs out (1).
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
# stop_run: SIGTERM, then how long until it exited (ms) in STOP_MS and its status in STOP_RC.
stop_run() {
    local t0 t1 i
    t0=$(date +%s%N)
    kill -TERM "$RUN_PID" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$RUN_PID" 2>/dev/null || break; sleep 0.05; done
    t1=$(date +%s%N)
    STOP_MS=$(( (t1 - t0) / 1000000 ))
    if kill -0 "$RUN_PID" 2>/dev/null; then kill -9 "$RUN_PID"; fi
    wait "$RUN_PID"; STOP_RC=$?
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
file_has() { grep -q -- "$2" "$1"; }

# The app: counts SIGHUPs, found by its pidfile.
unignored bash -c 'trap "echo hup >>\"$1\"" HUP; echo $$ >"$2"; while kill -0 $PPID 2>/dev/null; do sleep 0.2 & wait $!; done' \
    app "$HUPS" "$APP_PID" &
BG_PIDS="$BG_PIDS $!"
wait_for 5 '[ -s "$APP_PID" ]'

# ---- 1. renew: not due, then --force -----------------------------------------------------
echo "-- renew"
check "renew: issue first" ck issue issue0
s0=$(serial)
check "renew: not due: exits 0" ck renew renew-notdue
check_eq "renew: not due: same serial" "$s0" "$(serial)"
check_match "renew: not due: says when" "not due before" "$(logof renew-notdue)"
check_eq "renew: not due: app not told" 0 "$(hups)"
check "renew --force: exits 0" ck renew renew-force --force
s1=$(serial)
if [ -n "$s1" ] && [ "$s1" != "$s0" ]; then pass "renew --force: new serial"
else fail "renew --force: new serial" "$s0 -> $s1"; fi
wait_for 3 '[ "$(hups)" -ge 1 ]'
check_eq "renew --force: app told once" 1 "$(hups)"
check_eq "renew --force: the order replaces the old certificate (ARI)" 1 \
    "$(grep -c 'is a replacement of' "$PEBBLE_LOG")"
check_eq "renew --force: store current.json names it" "$(echo "$s1" | tr 'A-F' 'a-f' | sed 's/^0*//')" \
    "$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['serial'].lstrip('0'))" \
        "$STORE/certs/$NAME/current.json" 2>/dev/null)"
check_eq "renew: a CA that is down fails with exit 1" 1 \
    "$(ck renew renew-down --force --directory https://localhost:19099/dir; echo $?)"
check_eq "renew: the failure is in state.json" 1 "$(state_field failures)"
check_eq "renew: the files are left alone" "$s1" "$(serial)"
check "renew: a later success clears it" ck renew renew-ok --force
check_eq "renew: failures back to 0" 0 "$(state_field failures)"
s1=$(serial)
: >"$HUPS"

# another replica holds the lease: renew waits, restores its certificate, tells the app
now=$(date +%s)
mkdir -p "$STORE/locks"
printf '{"owner":"other/1/abcd","expires":%d,"heartbeat":%d}' $((now + 300)) "$now" >"$STORE/locks/$NAME"
ckx renew renew-wait --force &
WAIT_PID=$!
BG_PIDS="$BG_PIDS $WAIT_PID"
if wait_for 5 'file_has "$CK_TMP/renew-wait.log" "waiting for its certificate"'; then pass "renew: lease held: waits"
else fail "renew: lease held: waits" "$(logof renew-wait | tail -n 3)"; fi
sleep 1  # a later notAfter than the volume's, to the second: that is what "newer" means
check "renew: lease held: the other replica issues" \
    ck issue issue-other --profile default --out "$CK_TMP/out-other"
so=$(openssl x509 -in "$CK_TMP/out-other/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2)
if wait_for 10 '! kill -0 $WAIT_PID 2>/dev/null'; then pass "renew: lease held: done after the other's certificate"
else fail "renew: lease held: done after the other's certificate" "$(logof renew-wait | tail -n 3)"; fi
wait "$WAIT_PID"
check_eq "renew: lease held: exit 0" 0 "$?"
check_eq "renew: lease held: restored the other's certificate" "$so" "$(serial)"
check_eq "renew: lease held: app told" 1 "$(hups)"
rm -f "$STORE/locks/$NAME"
s1=$(serial)
: >"$HUPS"

# ---- 2. run with a usable certificate: health, metrics, idle, SIGHUP, SIGTERM ------------
echo "-- run, idle"
ck_bg run-idle
if wait_for 10 '[ "$(http_code /readyz)" = 200 ]'; then pass "run: /readyz 200"
else fail "run: /readyz 200" "$(http_code /readyz); $(logof run-idle | tail -n 3)"; fi
check_eq "run: /healthz 200" 200 "$(http_code /healthz)"
metrics=$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")
check_match "run: /metrics expiry of the volume's certificate" \
    "^certkeep_certificate_expiry_timestamp_seconds\{cert=\"$NAME\"\} $(not_after)\$" "$metrics"
check_match "run: /metrics next renewal" "^certkeep_next_renewal_timestamp_seconds\{cert=\"$NAME\"\} [1-9]" "$metrics"
check_match "run: logs the next renewal" "next renewal at" "$(logof run-idle)"
# a health client that connects and says nothing: dropped at its 5 s deadline, no spin after
exec 3<>"/dev/tcp/127.0.0.1/$LISTEN_PORT"
sleep 0.5
c0=$(cpu_ticks "$RUN_PID")
sleep 6
c1=$(cpu_ticks "$RUN_PID")
exec 3<&- 3>&-
if [ -n "$c0" ] && [ -n "$c1" ] && [ $((c1 - c0)) -le 2 ]; then pass "run: idle for 6 s (and a silent client) costs ~0 CPU ($((c1 - c0)) ticks)"
else fail "run: idle for 6 s (and a silent client) costs ~0 CPU" "utime+stime went $c0 -> $c1"; fi
check_eq "run: idle: the app is not told" 0 "$(hups)"
check_eq "run: idle: same serial" "$s1" "$(serial)"
kill -HUP "$RUN_PID"
if wait_for 5 'file_has "$CK_TMP/run-idle.log" "early retry"'; then pass "run: SIGHUP: checks now"
else fail "run: SIGHUP: checks now" "$(logof run-idle | tail -n 3)"; fi
sleep 0.5
check "run: SIGHUP: still running" kill -0 "$RUN_PID"
check_eq "run: SIGHUP: not due, no new certificate" "$s1" "$(serial)"
# another replica renews into the store: the store check (SIGHUP: now) picks it up
sleep 1
check "run: another replica issues into the store" \
    ck issue issue-replica --profile default --out "$CK_TMP/out-replica"
sr=$(openssl x509 -in "$CK_TMP/out-replica/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2)
kill -HUP "$RUN_PID"
if wait_for 5 '[ "$(serial)" = "$sr" ]'; then pass "run: store check: the newer certificate is picked up"
else fail "run: store check: the newer certificate is picked up" "$(logof run-idle | tail -n 3)"; fi
if wait_for 5 '[ "$(hups)" -ge 1 ]'; then pass "run: store check: app told"
else fail "run: store check: app told" "$(logof run-idle | tail -n 3)"; fi
check_match "run: store check: /metrics shows the new expiry" \
    "^certkeep_certificate_expiry_timestamp_seconds\{cert=\"$NAME\"\} $(not_after)\$" \
    "$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")"
stop_run
check_eq "run: SIGTERM: exit 0" 0 "$STOP_RC"
if [ "$STOP_MS" -lt 3000 ]; then pass "run: SIGTERM: gone within 3 s, target 1 s (${STOP_MS} ms)"
else fail "run: SIGTERM: gone within 3 s, target 1 s" "$STOP_MS ms"; fi

# ---- 3. run renews a certificate below --min-valid and tells the app ---------------------
echo "-- run, renewal"
OUT=$CK_TMP/out-short
STORE=$CK_TMP/store-short
# 90 days long, 30 min left: short of a 2 h minimum (a just-issued certificate never is:
# min_valid is capped at 1/8 of the lifetime). init's path issues a 90-day one.
craft_cert "$OUT/$NAME" "$NAME" $((90 * 86400 - 1800)) 1800
check "run: a certificate 30 min from its end first" test -s "$OUT/$NAME/privkey.pem"
s2=$(serial)
: >"$HUPS"
ck_bg run-renew --profile default --min-valid 2h
if wait_for 30 '[ "$(serial)" != "$s2" ]'; then pass "run: renewed: new serial"
else fail "run: renewed: new serial" "$(logof run-renew | tail -n 3)"; fi
if wait_for 5 '[ "$(hups)" -ge 1 ]'; then pass "run: renewed: app told"
else fail "run: renewed: app told" "$(logof run-renew | tail -n 3)"; fi
wait_for 5 '[ "$(http_code /readyz)" = 200 ]'
check_eq "run: renewed: /readyz 200" 200 "$(http_code /readyz)"
check_eq "run: renewed: the app told once" 1 "$(hups)"
stop_run
check_eq "run: renewed: SIGTERM exit 0" 0 "$STOP_RC"

# ---- 4. run renews a certificate whose window is open (12-day lifetime, 2 days left) -----
echo "-- run, window open"
OUT=$CK_TMP/out-open
STORE=$CK_TMP/store-open
craft_cert "$OUT/$NAME" "$NAME" $((10 * 86400)) $((2 * 86400))
s3=$(serial)
: >"$HUPS"
ck_bg run-open --profile default
if wait_for 10 'grep -Eq "next renewal at .* \(in ([0-9]|[1-8][0-9]) s\)" "$CK_TMP/run-open.log"'; then
    pass "run: window open: renewal planned within 90 s"
else fail "run: window open: renewal planned within 90 s" "$(logof run-open | tail -n 3)"; fi
check_eq "run: window open: /readyz 200 meanwhile" 200 "$(http_code /readyz)"
kill -HUP "$RUN_PID"   # the operator does not want to wait for the moment
if wait_for 20 '[ "$(serial)" != "$s3" ]'; then pass "run: window open: renewed"
else fail "run: window open: renewed" "$(logof run-open | tail -n 3)"; fi
check_match "run: window open: issued by Pebble" "Pebble" \
    "$(openssl x509 -in "$OUT/$NAME/cert.pem" -noout -issuer 2>/dev/null)"
if wait_for 5 '[ "$(hups)" -ge 1 ]'; then pass "run: window open: app told"
else fail "run: window open: app told" "$(logof run-open | tail -n 3)"; fi
wait_for 5 'curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics" | grep -q "result=\"success\"} 1"'
check_match "run: window open: success metric" \
    "^certkeep_renewals_total\{cert=\"$NAME\",result=\"success\"\} 1\$" \
    "$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")"
check_match "run: window open: store holds the new one" "$(serial | tr 'A-F' 'a-f' | sed 's/^0*//')" \
    "$(cat "$STORE/certs/$NAME/current.json" 2>/dev/null)"
check_match "run: window open: next renewal days ahead" "next renewal at .* \(in [0-9]{6,} s\)" \
    "$(tail -n 2 "$CK_TMP/run-open.log")"
stop_run
check_eq "run: window open: SIGTERM exit 0" 0 "$STOP_RC"
check_eq "run: window open: the app told once" 1 "$(hups)"

# ---- 5. an unreachable CA, nothing anywhere: run stays up and backs off -----------------
echo "-- run, CA down"
OUT=$CK_TMP/out-down
STORE=$CK_TMP/store-down
DOWN="--directory https://localhost:19099/dir"
t0=$(date +%s)
ck_bg run-down $DOWN
if wait_for 10 'file_has "$CK_TMP/run-down.log" "failed (1 in a row)"'; then pass "run: CA down: the failure is logged"
else fail "run: CA down: the failure is logged" "$(logof run-down | tail -n 3)"; fi
check_eq "run: CA down: one failure line" 1 "$(grep -c 'renew.failed\|failed (' "$CK_TMP/run-down.log")"
check "run: CA down: still running" kill -0 "$RUN_PID"
check_eq "run: CA down: state.json failures" 1 "$(state_field failures)"
nr=$(state_field next_retry)
d=$(( ${nr:-0} - t0 ))
if [ "$d" -ge 55 ] && [ "$d" -le 70 ]; then pass "run: CA down: next retry ~60 s ahead ($d s)"
else fail "run: CA down: next retry ~60 s ahead" "next_retry $nr, start $t0"; fi
check_eq "run: CA down: /readyz 503" 503 "$(http_code /readyz)"
check_eq "run: CA down: /healthz 200" 200 "$(http_code /healthz)"
check_match "run: CA down: failure metric" \
    "^certkeep_renewals_total\{cert=\"$NAME\",result=\"failure\"\} 1\$" \
    "$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")"
check_eq "run: CA down: nothing on the volume" no "$(test -e "$OUT/$NAME" && echo yes || echo no)"
stop_run
check_eq "run: CA down: SIGTERM exit 0" 0 "$STOP_RC"
if [ "$STOP_MS" -lt 3000 ]; then pass "run: CA down: SIGTERM within 3 s, target 1 s (${STOP_MS} ms)"
else fail "run: CA down: SIGTERM within 3 s, target 1 s" "$STOP_MS ms"; fi

# a restart honours the planned retry: no new attempt, the count stays
ck_bg run-down2 $DOWN
if wait_for 5 'file_has "$CK_TMP/run-down2.log" "honouring the planned retry"'; then pass "run: restart: planned retry honoured"
else fail "run: restart: planned retry honoured" "$(logof run-down2 | tail -n 3)"; fi
sleep 1
check_eq "run: restart: no new attempt" 1 "$(state_field failures)"
check_eq "run: restart: /readyz 503" 503 "$(http_code /readyz)"
# the operator asks for an early retry: it runs now and fails again (10 min next)
kill -USR1 "$RUN_PID"
if wait_for 10 '[ "$(state_field failures)" = 2 ]'; then pass "run: SIGUSR1: early retry"
else fail "run: SIGUSR1: early retry" "failures $(state_field failures); $(logof run-down2 | tail -n 3)"; fi
nr=$(state_field next_retry)
d=$(( ${nr:-0} - $(date +%s) ))
if [ "$d" -ge 590 ] && [ "$d" -le 610 ]; then pass "run: second failure: next retry ~10 min ahead"
else fail "run: second failure: next retry ~10 min ahead" "$d s"; fi
stop_run
check_eq "run: restart: SIGTERM exit 0" 0 "$STOP_RC"

# a CA that accepts and never answers: SIGTERM mid-request still exits 0 within 1 s
python3 -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 19098)); s.listen(16); time.sleep(60)' &
BG_PIDS="$BG_PIDS $!"
STORE=$CK_TMP/store-hang
OUT=$CK_TMP/out-hang
sleep 0.3
ck_bg run-hang --directory https://localhost:19098/dir
wait_for 5 'file_has "$CK_TMP/run-hang.log" "init.issue"'
sleep 0.5
check "run: CA hangs: still up" kill -0 "$RUN_PID"
check_eq "run: CA hangs: /healthz 200 while the request hangs" 200 "$(http_code /healthz)"
check_eq "run: CA hangs: /readyz 503" 503 "$(http_code /readyz)"
stop_run
check_eq "run: CA hangs: SIGTERM exit 0" 0 "$STOP_RC"
if [ "$STOP_MS" -lt 3000 ]; then pass "run: CA hangs: SIGTERM within 3 s, target 1 s (${STOP_MS} ms)"
else fail "run: CA hangs: SIGTERM within 3 s, target 1 s" "$STOP_MS ms"; fi
check_match "run: CA hangs: the init ended through its error path" \
    "run.stop: the init in progress was cut short: .*interrupted" "$(logof run-hang)"
check_eq "run: CA hangs: no partial file on the volume" "" \
    "$(find "$OUT" -type f 2>/dev/null | head -n 3)"
# ---- 6. run in its default configuration, and with each optional part absent ------------
# The README's default and the image's CMD ["run"]: no store, no --listen, no reload
# target, no webhook. Then each part left out of an otherwise full set-up (no webhook
# is the full set-up: it is not built yet). Each must come up, issue or restore, stay
# up, sleep, and stop on SIGTERM with exit 0 (1 s is the target; 3 s the deadline here).
echo "-- run, optional parts absent"
# run_part LABEL STORE|- LISTEN|- RELOAD(yes|no) PATH(issued|restored)
run_part() {
    local label=$1 store=$2 listen=$3 reload=$4 path=$5
    local out=$CK_TMP/out-$label log=$CK_TMP/$label.log opt=() envs=(-u CERTKEEP_RELOAD_PIDFILE)
    [ "$store" = - ] || opt+=(--store-dir "$store")
    [ "$listen" = - ] || opt+=(--listen "$listen")
    [ "$reload" = no ] || envs=(CERTKEEP_RELOAD_PIDFILE="$APP_PID")
    env "${envs[@]}" "$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state-$label" \
        --out "$out" "${opt[@]}" >"$log" 2>&1 &
    RUN_PID=$!
    BG_PIDS="$BG_PIDS $RUN_PID"
    local want='init\.issue'
    [ "$path" = issued ] || want='restored from'
    if wait_for 30 'file_has "$log" "next renewal at" || ! kill -0 $RUN_PID'; then :; fi
    if file_has "$log" "next renewal at" && grep -Eq "$want" "$log" &&
        [ -s "$out/$NAME/fullchain.pem" ]; then pass "run $label: up with a certificate ($path)"
    else fail "run $label: up with a certificate ($path)" "$(tail -n 3 "$log" | tr '\n' ' ')"; fi
    sleep 1
    if kill -0 "$RUN_PID" 2>/dev/null; then pass "run $label: still running"
    else wait "$RUN_PID"; fail "run $label: still running" "exit $?; $(tail -n 2 "$log" | tr '\n' ' ')"; fi
    local c0 c1
    c0=$(cpu_ticks "$RUN_PID")
    sleep 3
    c1=$(cpu_ticks "$RUN_PID")
    if [ -n "$c0" ] && [ -n "$c1" ] && [ $((c1 - c0)) -le 2 ]; then pass "run $label: idle for 3 s costs ~0 CPU ($((c1 - c0)) ticks)"
    else fail "run $label: idle for 3 s costs ~0 CPU" "utime+stime went '$c0' -> '$c1'"; fi
    stop_run
    check_eq "run $label: SIGTERM: exit 0" 0 "$STOP_RC"
    if [ "$STOP_MS" -lt 3000 ]; then pass "run $label: SIGTERM: gone within 3 s (${STOP_MS} ms)"
    else fail "run $label: SIGTERM: gone within 3 s" "$STOP_MS ms"; fi
}
PARTS=$CK_TMP/store-parts
run_part default - - no issued
run_part no-store - "127.0.0.1:$LISTEN_PORT" yes issued
run_part no-listen "$PARTS" - yes issued
run_part no-reload "$PARTS" "127.0.0.1:$LISTEN_PORT" no restored
run_part no-webhook "$PARTS" "127.0.0.1:$LISTEN_PORT" yes restored
exit 0
