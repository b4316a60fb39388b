#!/usr/bin/env bash
# certkeep run completed (issue 10, item 5), the real static binary against a real
# Pebble whose default profile issues 40 s certificates (--profile tlsserver: 90 days):
#  1. no store, a CA that is down: the failure count and next retry live in
#     <state>/certs/<name>/state.json, so three restarts in a row make no attempt;
#     `renew --now` makes the running run retry (and fails in one line with no run);
#     /metrics counts the failure by reason and passes `promtool check metrics`;
#  2. a real nginx through three renewals in a row (a fresh TLS connection shows each
#     new serial), told by its pidfile; then, run stopped until the certificate fell
#     below min_valid, a restart renews it with `replaces` (ARI);
#  3. the ARI window moved into the past (Pebble's management API) -> SIGUSR1 -> ARI
#     check -> renewal with `replaces`; a reload that fails is counted and retried;
#     `renew --force` beside the run: run re-reads the volume (metrics follow), told by
#     a signal, or by itself at its next wake-up when renew could not find it;
#  4. two run sidecars on one S3 store (moto): one order, both volumes switch, both
#     apps told;
#  5. SIGTERM in the middle of a renewal (a CA that never answers): the store's lease
#     is released at once.
# Ports 32700-32766 (below the ephemeral range).
set -u
. "$(dirname "$0")/lib.sh"
plan 57
PEBBLE_PORT=32700 PEBBLE_MGMT_PORT=32701 PEBBLE_TLS01_PORT=32702 PEBBLE_DNS_PORT=32753
PEBBLE_CTS_PORT=32755 PEBBLE_HTTP01_PORT=32760 PEBBLE_VALIDITY=40
. "$(dirname "$0")/pebble.sh"
S3_PORT=32765
. "$(dirname "$0")/s3.sh"

LISTEN_PORT=32761
LISTEN2_PORT=32762
NGINX_PORT=32763
HANG_PORT=32764
DOWN_PORT=32766
NGINX_PID=""
cleanup() {
    kill_bg
    [ -z "$NGINX_PID" ] || kill -QUIT "$NGINX_PID" 2>/dev/null
    pebble_stop
    s3_stop >/dev/null 2>&1
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "runplus: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "runplus: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=plus.example.com
STATE=$CK_TMP/state
OUT=$CK_TMP/out
STORE_ARGS=()

# ckx COMMAND LOG [ARGS...]: certkeep against Pebble (exec'd: $! is certkeep itself).
ckx() {
    local cmd=$1 log=$CK_TMP/$2.log; shift 2
    exec "$CK_BIN" "$cmd" --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$STATE" --out "$OUT" \
        "${STORE_ARGS[@]}" "$@" >"$log" 2>&1
}
ck() { ( ckx "$@" ); }
# ck_bg LOG PORT [ARGS...]: `certkeep run` in the background; RUN_PID is certkeep itself.
ck_bg() {
    local log=$1 port=$2; shift 2
    ckx run "$log" --listen "127.0.0.1:$port" "$@" &
    RUN_PID=$!
    BG_PIDS="$BG_PIDS $RUN_PID"
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
serial_of() { openssl x509 -in "$1/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }
serial() { serial_of "$OUT"; }
not_after() { date -d "$(openssl x509 -in "$OUT/$NAME/cert.pem" -noout -enddate | cut -d= -f2)" +%s; }
state_field() {  # state.json field of the state directory (no store)
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" \
        "$STATE/certs/$NAME/state.json" "$1" 2>/dev/null
}
metrics() { curl -s --max-time 2 "http://127.0.0.1:${1:-$LISTEN_PORT}/metrics"; }
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
# stop_pid PID: SIGTERM, wait; STOP_RC its status.
stop_pid() {
    local i
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; fi
    wait "$1"; STOP_RC=$?
}
count() { grep -c -- "$2" "$CK_TMP/$1.log" 2>/dev/null; }
promtool_ok() { metrics "$1" >"$CK_TMP/metrics.txt" && promtool check metrics <"$CK_TMP/metrics.txt"; }

# ---- 1. no store, the CA down: the backoff survives a crash loop --------------------------
echo "-- 1. no store, CA down"
DOWN=(--directory "https://localhost:$DOWN_PORT/dir")
t0=$(date +%s)
ck_bg down0 "$LISTEN_PORT" "${DOWN[@]}"
if wait_for 15 '[ "$(count down0 "failed (1 in a row)")" = 1 ]'; then pass "crashloop: the first failure is logged"
else fail "crashloop: the first failure is logged" "$(logof down0 | tail -n 3)"; fi
check_eq "crashloop: state.json in the state directory counts it" 1 "$(state_field failures)"
nr=$(state_field next_retry)
d=$(( ${nr:-0} - t0 ))
if [ "$d" -ge 55 ] && [ "$d" -le 75 ]; then pass "crashloop: next retry ~60 s ahead ($d s)"
else fail "crashloop: next retry ~60 s ahead" "next_retry $nr, start $t0"; fi
check_match "crashloop: failure counted by reason in /metrics" \
    "^certkeep_renewal_failures_total\{cert=\"$NAME\",reason=\"network\"\} 1\$" "$(metrics)"
check "crashloop: promtool check metrics" promtool_ok "$LISTEN_PORT"
stop_pid "$RUN_PID"
# a crash-looping sidecar: three restarts, none of which asks the CA again
for i in 1 2 3; do
    ck_bg "down$i" "$LISTEN_PORT" "${DOWN[@]}"
    wait_for 5 'grep -q "honouring the planned retry" "$CK_TMP/down$i.log"'
    sleep 1
    [ "$i" = 3 ] || stop_pid "$RUN_PID"
done
check_eq "crashloop: 3 restarts honour the planned retry" 3 \
    "$(cat "$CK_TMP"/down[123].log | grep -c 'honouring the planned retry')"
check_eq "crashloop: 3 restarts make no attempt" 0 "$(cat "$CK_TMP"/down[123].log | grep -c 'failed (')"
check_eq "crashloop: the count stays 1" 1 "$(state_field failures)"
check_eq "crashloop: the planned retry stays" "$nr" "$(state_field next_retry)"
# renew --now: the running run retries at once (and fails again: 10 min next)
check "renew --now: exits 0 beside a run" ck renew now1 --now
check_match "renew --now: names the run's pid" "asked certkeep run \(pid $RUN_PID\)" "$(logof now1)"
if wait_for 15 '[ "$(state_field failures)" = 2 ]'; then pass "renew --now: the run retried at once"
else fail "renew --now: the run retried at once" "$(logof down3 | tail -n 3)"; fi
stop_pid "$RUN_PID"
ck renew now2 --now; rc=$?
check_eq "renew --now: no run: exit 1" 1 "$rc"
check_eq "renew --now: no run: one line" 1 "$(grep -c . "$CK_TMP/now2.log")"
check_match "renew --now: no run: says so" "no certkeep run on state directory" "$(logof now2)"
rm -rf "$STATE"

# ---- 2. a real nginx through three renewals; then below min_valid -> replaces -------------
echo "-- 2. nginx, three renewals"
W=$CK_TMP/nginx
mkdir -p "$W/logs"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
NGX=ck-ngx-plus-$$
cp "$NGINX_BIN" "$W/$NGX"
cat >"$W/nginx.conf" <<EOF
worker_processes 1;
pid $W/logs/nginx.pid;
error_log $W/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $W/tmp_body;
    proxy_temp_path $W/tmp_proxy;
    fastcgi_temp_path $W/tmp_fastcgi;
    uwsgi_temp_path $W/tmp_uwsgi;
    scgi_temp_path $W/tmp_scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        server_name $NAME;
        ssl_certificate $OUT/$NAME/fullchain.pem;
        ssl_certificate_key $OUT/$NAME/privkey.pem;
        location / { return 200 "hello\n"; }
    }
}
EOF
served_serial() {
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$NGINX_PORT" -servername "$NAME" 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}
export CERTKEEP_RELOAD_PIDFILE=$W/logs/nginx.pid
ck_bg ngx "$LISTEN_PORT" --profile default
wait_for 20 '[ -n "$(serial)" ]'
"$W/$NGX" -p "$W" -c "$W/nginx.conf" -e "$W/logs/error.log" >"$W/start.log" 2>&1
wait_for 5 '[ -s "$W/logs/nginx.pid" ]'
NGINX_PID=$(cat "$W/logs/nginx.pid" 2>/dev/null)
s0=$(serial)
check_eq "nginx: serves the issued certificate" "$s0" "$(served_serial)"
seen="$s0"
for i in 1 2 3; do
    prev=$(serial)
    if wait_for 60 '[ -n "$(serial)" ] && [ "$(serial)" != "$prev" ]'; then
        cur=$(serial)
        wait_for 10 '[ "$(served_serial)" = "$cur" ]'
        got=$(served_serial)
        if [ "$got" = "$cur" ] && ! grep -qw "$cur" <<<"$seen"; then
            pass "nginx: renewal $i: a fresh TLS connection shows the new serial"
        else fail "nginx: renewal $i: a fresh TLS connection shows the new serial" "served '$got', volume '$cur', before: $seen"; fi
        seen="$seen $cur"
    else
        fail "nginx: renewal $i: a fresh TLS connection shows the new serial" "no renewal within 60 s: $(logof ngx | tail -n 3)"
    fi
done
check_eq "nginx: same master all along (reloads, not restarts)" "$NGINX_PID" "$(cat "$W/logs/nginx.pid")"
check "nginx: master alive" kill -0 "$NGINX_PID"
m=$(metrics)
check_match "nginx: reloads counted" "^certkeep_reloads_total\{cert=\"$NAME\",result=\"success\"\} [3-9]\$" "$m"
check_match "nginx: no failed reload" "^certkeep_reloads_total\{cert=\"$NAME\",result=\"failure\"\} 0\$" "$m"
check "nginx: promtool check metrics" promtool_ok "$LISTEN_PORT"
check_match "nginx: each renewal replaces the one before (ARI)" "$REPLACES_SENT" "$(logof ngx)"
stop_pid "$RUN_PID"
check_eq "nginx: run SIGTERM exit 0" 0 "$STOP_RC"
# below min_valid (1/8 of 40 s: 5 s left): the restart's init path orders with replaces
na=$(not_after)
while [ "$(date +%s)" -lt $((na - 4)) ]; do sleep 0.5; done
sbefore=$(serial)
ck_bg minvalid "$LISTEN_PORT" --profile tlsserver
if wait_for 30 '[ "$(serial)" != "$sbefore" ]'; then pass "min_valid: run renewed the certificate that fell below it"
else fail "min_valid: run renewed the certificate that fell below it" "$(logof minvalid | tail -n 3)"; fi
check_match "min_valid: the order replaces it (ARI)" "$REPLACES_SENT" "$(logof minvalid)"
wait_for 10 '[ "$(served_serial)" = "$(serial)" ]'
check_eq "min_valid: nginx told, serves it" "$(serial)" "$(served_serial)"
stop_pid "$RUN_PID"
kill -QUIT "$NGINX_PID" 2>/dev/null; NGINX_PID=""
unset CERTKEEP_RELOAD_PIDFILE
rm -rf "$STATE" "$OUT"

# ---- 3. ARI window in the past (Pebble's management API); a failing reload; renew --force --
echo "-- 3. ARI moved, failing reload, renew --force beside run"
export CERTKEEP_RELOAD_PIDFILE=$CK_TMP/no-such-app.pid
ck_bg ari "$LISTEN_PORT" --profile tlsserver
wait_for 20 '[ -n "$(serial)" ]'
sa=$(serial)
past_start=$(date -u -d '-2 hours' +%Y-%m-%dT%H:%M:%SZ)
past_end=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
code=$(python3 - "$OUT/$NAME/cert.pem" "$past_start" "$past_end" "https://localhost:$PEBBLE_MGMT_PORT/set-renewal-info/" "$PEBBLE_WFE_CA" <<'EOF'
import json, ssl, sys, urllib.request
pem, start, end, url, ca = sys.argv[1:]
body = json.dumps({"Certificate": open(pem).read(),
                   "ARIResponse": json.dumps({"suggestedWindow": {"start": start, "end": end}})})
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url, data=body.encode(), method="POST")
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=5).status)
except Exception as e:
    print(e)
EOF
)
check_eq "ari: Pebble takes the moved window" 200 "$code"
kill -USR1 "$RUN_PID"
if wait_for 60 '[ "$(serial)" != "$sa" ]'; then pass "ari: window in the past: renewed"
else fail "ari: window in the past: renewed" "$(logof ari | tail -n 3)"; fi
check_match "ari: the CA's window was read" "the CA's window: renewing at" "$(logof ari)"
check_match "ari: the order replaces the old certificate" "$REPLACES_SENT" "$(logof ari)"
# the app's pidfile is missing: the reload fails, is counted, and is tried again ~10 s later
if wait_for 10 'metrics | grep -q "^certkeep_reloads_total{cert=\"$NAME\",result=\"failure\"} 1\$"'; then
    pass "reload: a failed reload is counted"
else fail "reload: a failed reload is counted" "$(metrics | grep reloads)"; fi
check_match "reload: its retry is planned ~10 s ahead" "telling the app failed \(1 in a row\); again at .* \(in (9|10) s\)" "$(logof ari)"
if wait_for 25 'metrics | grep -q "^certkeep_reloads_total{cert=\"$NAME\",result=\"failure\"} 2\$"'; then
    pass "reload: retried after its backoff"
else fail "reload: retried after its backoff" "$(metrics | grep reloads)"; fi
check_match "reload: the second wait is ~1 min" "telling the app failed \(2 in a row\); again at .* \(in (59|6[0-5]) s\)" "$(logof ari)"
unset CERTKEEP_RELOAD_PIDFILE
# renew --force beside the run: run re-reads the volume; its gauges follow
sb=$(serial)
check "renew --force beside run: exits 0" ck renew force --force --profile tlsserver
check_match "renew --force: tells the run" "told certkeep run \(pid $RUN_PID\) that the volume changed" "$(logof force)"
if wait_for 10 'grep -q "the volume changed" "$CK_TMP/ari.log"'; then pass "renew --force: run re-reads the volume"
else fail "renew --force: run re-reads the volume" "$(logof ari | tail -n 3)"; fi
wait_for 5 'metrics | grep -q "^certkeep_certificate_expiry_timestamp_seconds{cert=\"$NAME\"} $(not_after)\$"'
check_match "renew --force: /metrics shows the new notAfter" \
    "^certkeep_certificate_expiry_timestamp_seconds\{cert=\"$NAME\"\} $(not_after)\$" "$(metrics)"
check "renew --force: the serial changed" test "$(serial)" != "$sb"
check_match "renew --force: run plans from the new one" "next renewal at .* \(in [0-9]{6,} s\)" "$(tail -n 3 "$CK_TMP/ari.log")"
# another process switches the volume without telling the run (as a renew from another
# container would): run notices the switched link at its next wake-up (a /healthz here)
sc=$(serial)
STATE=$CK_TMP/state-other OUT=$CK_TMP/out-other ck issue other --profile tlsserver
v=$(readlink "$CK_TMP/out-other/$NAME")
cp -a "$CK_TMP/out-other/$v" "$OUT/.certkeep/" && ln -s "$v" "$OUT/.link.tmp" &&
    mv -T "$OUT/.link.tmp" "$OUT/$NAME"
check "volume switched elsewhere: a new serial on the volume" test "$(serial)" != "$sc"
curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$LISTEN_PORT/healthz"
if wait_for 10 'grep -q "the volume changed (another process)" "$CK_TMP/ari.log"'; then
    pass "volume switched elsewhere: run notices it"
else fail "volume switched elsewhere: run notices it" "$(logof ari | tail -n 3)"; fi
wait_for 5 'metrics | grep -q "^certkeep_certificate_expiry_timestamp_seconds{cert=\"$NAME\"} $(not_after)\$"'
check_match "volume switched elsewhere: /metrics shows the new notAfter" \
    "^certkeep_certificate_expiry_timestamp_seconds\{cert=\"$NAME\"\} $(not_after)\$" "$(metrics)"
stop_pid "$RUN_PID"
check_eq "ari: run SIGTERM exit 0" 0 "$STOP_RC"
rm -rf "$STATE" "$OUT"

# ---- 4. two run sidecars on one S3 store ---------------------------------------------------
echo "-- 4. two sidecars, one store"
if ! s3_start >/dev/null; then fail "sidecars: moto start" "see $S3_LOG"; exit 1; fi
STORE_ARGS=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-region "$S3_REGION"
            --s3-path-style --s3-prefix two)
# the app of each sidecar: counts SIGHUPs, found by its pidfile
for s in a b; do
    unignored bash -c 'trap "echo hup >>\"$1\"" HUP; echo $$ >"$2"; while kill -0 $PPID 2>/dev/null; do sleep 0.2 & wait $!; done' \
        app "$CK_TMP/hups-$s" "$CK_TMP/app-$s.pid" &
    BG_PIDS="$BG_PIDS $!"
    wait_for 5 '[ -s "$CK_TMP/app-$s.pid" ]'
done
hups() { cat "$CK_TMP/hups-$1" 2>/dev/null | grep -c hup; }
# one certificate whose window is open (10 days old, 2 days left) on both volumes
craft_cert "$CK_TMP/va/$NAME" "$NAME" $((10 * 86400)) $((2 * 86400))
mkdir -p "$CK_TMP/vb" && cp -a "$CK_TMP/va/$NAME" "$CK_TMP/vb/"
s0=$(serial_of "$CK_TMP/va")
before=$(pebble_issued_count)
OUT=$CK_TMP/va STATE=$CK_TMP/sa CERTKEEP_RELOAD_PIDFILE=$CK_TMP/app-a.pid ck_bg two-a "$LISTEN_PORT" --profile tlsserver
PA=$RUN_PID
OUT=$CK_TMP/vb STATE=$CK_TMP/sb CERTKEEP_RELOAD_PIDFILE=$CK_TMP/app-b.pid ck_bg two-b "$LISTEN2_PORT" --profile tlsserver
PB=$RUN_PID
if wait_for 120 '[ "$(serial_of "$CK_TMP/va")" != "$s0" ] && [ "$(serial_of "$CK_TMP/vb")" != "$s0" ]'; then
    pass "sidecars: both volumes switch"
else fail "sidecars: both volumes switch" "$(logof two-a | tail -n 2) / $(logof two-b | tail -n 2)"; fi
check_eq "sidecars: the same new certificate on both" "$(serial_of "$CK_TMP/va")" "$(serial_of "$CK_TMP/vb")"
check_eq "sidecars: one order for both" 1 $(( $(pebble_issued_count) - before ))
wait_for 5 '[ "$(hups a)" -ge 1 ] && [ "$(hups b)" -ge 1 ]'
check_eq "sidecars: app a told once" 1 "$(hups a)"
check_eq "sidecars: app b told once" 1 "$(hups b)"
check_eq "sidecars: one took the store's instead of ordering" 1 \
    "$(cat "$CK_TMP/two-a.log" "$CK_TMP/two-b.log" | grep -c 'store.pickup: restored')"
stop_pid "$PA"; stop_pid "$PB"

# ---- 5. SIGTERM in the middle of a renewal: the lease is released at once ------------------
echo "-- 5. SIGTERM mid-renewal"
python3 -c 'import socket, time, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); time.sleep(120)' "$HANG_PORT" &
BG_PIDS="$BG_PIDS $!"
STORE_ARGS=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-region "$S3_REGION"
            --s3-path-style --s3-prefix term)
OUT=$CK_TMP/vt
STATE=$CK_TMP/st
craft_cert "$OUT/$NAME" "$NAME" $((10 * 86400)) $((2 * 86400))
lease() { s3_py "import json; print(json.loads(s3.get_object(Bucket=bucket, Key='term/locks/$NAME')['Body'].read()).get('expires'))" 2>/dev/null; }
ck_bg term "$LISTEN_PORT" --directory "https://localhost:$HANG_PORT/dir"
wait_for 10 'grep -q "next renewal at" "$CK_TMP/term.log"'
kill -USR1 "$RUN_PID"  # the window is open: renew now, against a CA that never answers
if wait_for 20 '[ "$(lease)" -gt "$(date +%s)" ] 2>/dev/null'; then pass "sigterm: the renewal holds the lease"
else fail "sigterm: the renewal holds the lease" "lease expires '$(lease)'; $(logof term | tail -n 3)"; fi
t1=$(date +%s%N)
stop_pid "$RUN_PID"
t2=$(date +%s%N)
check_eq "sigterm: exit 0" 0 "$STOP_RC"
check_eq "sigterm: the lease is released" 0 "$(lease)"
ms=$(( (t2 - t1) / 1000000 ))
if [ "$ms" -lt 3000 ]; then pass "sigterm: gone and released within 3 s, target 1 s ($ms ms)"
else fail "sigterm: gone and released within 3 s, target 1 s" "$ms ms"; fi
