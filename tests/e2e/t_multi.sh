#!/usr/bin/env bash
# Several certificates in one process (issue 10 items 2-4), the real static binary
# against Pebble, store in a directory. One `run` with three required certificates
# and one not required that cannot validate, from empty, max_concurrent_orders 2:
# the http-01 server (webroot, each answer held 1.5 s) counts the validations in
# flight (at most 2, and 2 at once), /readyz stays 503 until the three are usable,
# /metrics has one series per certificate; a restart with all usable is ready at
# once with no order. status lists all; renew needs --cert; init makes the required
# ones usable. Dual key types: p256 and rsa2048 side by side, a real nginx with both
# serves the EC one to an ECDSA-only client and the RSA one to an RSA-only client,
# and both renew. account: per-certificate makes one account each. Refusals. SIGHUP
# re-reads the file. Orders whose http-01 responder binds one port take turns.
set -u
. "$(dirname "$0")/lib.sh"
plan 60
PEBBLE_PORT=31800 PEBBLE_MGMT_PORT=31801 PEBBLE_TLS01_PORT=31802 PEBBLE_DNS_PORT=31853
PEBBLE_CTS_PORT=31855 PEBBLE_HTTP01_PORT=31880
. "$(dirname "$0")/pebble.sh"
LISTEN_PORT=31890
NGINX_PORT=31843

W=$CK_TMP/multi
WEBROOT=$W/webroot
OUT=$W/out
STORE=$W/store
NGINX_PID=""
cleanup() {
    kill_bg
    if [ -n "$NGINX_PID" ]; then
        kill -QUIT "$NGINX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null
    fi
    pebble_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "multi: binary" "$CK_BIN is missing"; exit 1; fi
if ! PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 pebble_start; then fail "multi: pebble start" "see $PEBBLE_LOG"; exit 1; fi
mkdir -p "$WEBROOT" "$W/unserved"

# The http-01 answers, from the webroot, each held 1.5 s so that concurrent orders
# overlap. Pebble asks each challenge 3 times at once (its perspectives), and the
# second entry has two names: the orders in flight are the distinct names (www.
# dropped) being asked at once; their most goes to $W/inflight.max.
python3 "$CK_ROOT/tests/tools/http01_inflight.py" "$PEBBLE_HTTP01_PORT" "$WEBROOT" "$W/inflight.max" 1.5 \
    >"$W/http01.log" 2>&1 &
HTTP01_PID=$!
BG_PIDS="$BG_PIDS $HTTP01_PID"

# wait_for SECONDS 'SHELL TEST'
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
if ! wait_for 10 '_pebble_port_busy $PEBBLE_HTTP01_PORT'; then
    fail "multi: http-01 server" "$(cat "$W/http01.log")"; exit 1
fi
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$LISTEN_PORT$1"; }
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
key_matches() {  # key_matches DIR: cert.pem's public key is privkey.pem's
    [ -n "$(openssl x509 -in "$1/cert.pem" -noout -pubkey 2>/dev/null)" ] &&
        [ "$(openssl x509 -in "$1/cert.pem" -noout -pubkey 2>/dev/null)" = \
          "$(openssl pkey -in "$1/privkey.pem" -pubout 2>/dev/null)" ] && echo yes || echo no
}
keyalg_of() { openssl x509 -in "$1" -noout -text 2>/dev/null | sed -n 's/^ *Public Key Algorithm: //p'; }
accounts() { grep -c 'POST /sign-me-up' "$PEBBLE_LOG" 2>/dev/null || true; }
have_in() { local n=0 o=$1 d; shift; for d in "$@"; do [ -s "$o/$d/cert.pem" ] && n=$((n + 1)); done; echo $n; }
have() { have_in "$OUT" "$@"; }

# common top-level settings, then the entries
head_yaml() {  # $1 state dir, $2 store dir, $3 out dir
    cat <<EOF
email: e2e@example.com
agree_tos: true
state: $1
out: $3
acme:
  directory: $PEBBLE_DIR_URL
  ca_bundle: $PEBBLE_CA_BUNDLE
store:
  dir: $2
challenge:
  webroot: $WEBROOT
EOF
}

# ---- 1. three required certificates and one optional, from empty ------------------------
echo "-- [${SECONDS}s] run: four certificates, at most 2 orders at once"
CFG=$W/multi.yaml
{ head_yaml "$W/state" "$STORE" "$OUT"
  cat <<EOF
listen: 127.0.0.1:$LISTEN_PORT
max_concurrent_orders: 2
certificates:
  - domains: [a.multi.test]
  - domains: [b.multi.test, www.b.multi.test]
    cert_name: bee
  - domains: [c.multi.test]
  - domains: [d.multi.test]
    required: false
    challenge:
      webroot: $W/unserved
EOF
} >"$CFG"
acc0=$(accounts)
"$CK_BIN" run --config "$CFG" >"$W/run1.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
saw_partial_503=0 ready_early=0
for _ in $(seq 600); do
    # /readyz first: files only come, so a count taken after it is never too high for it
    code=$(http_code /readyz)
    n=$(have a.multi.test bee c.multi.test)
    [ "$n" -ge 1 ] && [ "$n" -lt 3 ] && [ "$code" = 503 ] && saw_partial_503=1
    [ "$n" -lt 3 ] && [ "$code" = 200 ] && ready_early=1
    [ "$n" = 3 ] && [ "$code" = 200 ] && break
    sleep 0.1
done
check_eq "multi: run issues the three required certificates" 3 "$(have a.multi.test bee c.multi.test)"
check_eq "multi: /readyz 503 while some required ones are missing" "1 0" "$saw_partial_503 $ready_early"
check_eq "multi: /readyz 200 with the three (the optional one has none)" 200 "$(http_code /readyz)"
check_eq "multi: the optional one that cannot validate has no files" 0 "$(have d.multi.test)"
check_eq "multi: names of the second entry" "DNS:b.multi.test, DNS:www.b.multi.test" \
    "$(openssl x509 -in "$OUT/bee/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | sed 's/^ *//')"
wait_for 20 'grep -q "d.multi.test: init failed" "$W/run1.log"'
check_eq "multi: at most 2 validations in flight, and 2 at once" 2 "$(cat "$W/inflight.max" 2>/dev/null)"
check_eq "multi: Pebble issued 3" 3 "$(pebble_issued_count)"
check_eq "multi: one shared account" 1 "$(( $(accounts) - acc0 ))"
check_eq "multi: each certificate in the store under its own name" 3 \
    "$(ls "$STORE"/certs/{a.multi.test,bee,c.multi.test}/current.json 2>/dev/null | wc -l)"
metrics=$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")
check_eq "multi: /metrics: expiry of each usable certificate" 3 \
    "$(printf '%s\n' "$metrics" | grep -cE '^certkeep_certificate_expiry_timestamp_seconds\{cert="(a.multi.test|bee|c.multi.test)"\} [1-9]')"
check_match "multi: /metrics: the optional one's failure counted under its name" \
    '^certkeep_renewals_total\{cert="d.multi.test",result="failure"\} [1-9]' "$metrics"
check_match "multi: the log names the certificate" '^.*bee: next renewal at' "$(cat "$W/run1.log")"
kill -TERM "$RUN_PID"; wait "$RUN_PID"
check_eq "multi: SIGTERM exits 0" 0 "$?"

echo "-- [${SECONDS}s] restart with all usable"
orders0=$(pebble_order_count)
t0=$(date +%s%N)
"$CK_BIN" run --config "$CFG" >"$W/run2.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
if wait_for 10 '[ "$(http_code /readyz)" = 200 ]'; then
    t1=$(date +%s%N)
    pass "multi: restart: ready"
else
    t1=$(date +%s%N); fail "multi: restart: ready" "$(tail -n 3 "$W/run2.log")"
fi
echo "   ready after $(( (t1 - t0) / 1000000 )) ms"
sleep 3
check_eq "multi: restart: no order (the optional one waits for its planned retry)" "$orders0" \
    "$(pebble_order_count)"
check_match "multi: restart: the optional one's planned retry honoured" \
    'd.multi.test: honouring the planned retry' "$(cat "$W/run2.log")"
kill -TERM "$RUN_PID"; wait "$RUN_PID"
# The restart took each pair's proof from the state directory (its key match and chain
# not computed again); a key swapped on the volume is still found out.
check_eq "multi: a proof of each usable pair in the state directory, 0600" "600 600 600" \
    "$(stat -c %a "$W"/state/certs/{a.multi.test,bee,c.multi.test}/checked 2>/dev/null | xargs)"
cat "$OUT/a.multi.test/privkey.pem" >"$OUT/bee/privkey.pem"
orders0=$(pebble_order_count)
"$CK_BIN" run --config "$CFG" >"$W/run3.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
wait_for 20 '[ "$(key_matches "$OUT/bee")" = yes ] && [ "$(http_code /readyz)" = 200 ]'
check_match "multi: a swapped key under a proof: bee judged unusable" \
    'bee: volume: privkey.pem does not match the certificate' "$(cat "$W/run3.log")"
check_eq "multi: a swapped key under a proof: bee's pair restored from the store, no order" \
    "yes 0" "$(key_matches "$OUT/bee") $(( $(pebble_order_count) - orders0 ))"
kill -TERM "$RUN_PID"; wait "$RUN_PID"

echo "-- [${SECONDS}s] the one-certificate commands"
st=$("$CK_BIN" status --config "$CFG" 2>&1)
check_eq "multi: status lists every certificate" 4 \
    "$(printf '%s\n' "$st" | grep -oE '(a|c|d)\.multi\.test|bee' | sort -u | wc -l)"
"$CK_BIN" renew --config "$CFG" --force >"$W/renew-none.log" 2>&1
check_eq "multi: renew without --cert: exit 2" 2 "$?"
check_match "multi: renew without --cert: names the choices" \
    '^certkeep: 4 certificates: name one with --cert \(a.multi.test, bee, c.multi.test, d.multi.test\)$' \
    "$(cat "$W/renew-none.log")"
sa=$(serial_of "$OUT/a.multi.test/cert.pem") sb=$(serial_of "$OUT/bee/cert.pem")
"$CK_BIN" renew --config "$CFG" --cert bee --force >"$W/renew-bee.log" 2>&1
check_eq "multi: renew --cert bee: exit 0" 0 "$?"
if [ "$(serial_of "$OUT/bee/cert.pem")" != "$sb" ] && [ "$(serial_of "$OUT/a.multi.test/cert.pem")" = "$sa" ]; then
    pass "multi: renew --cert bee: bee renewed, a.multi.test not"
else fail "multi: renew --cert bee: bee renewed, a.multi.test not" "$(tail -n 2 "$W/renew-bee.log")"; fi
# the shared account is every certificate's: account rollover needs no --cert
"$CK_BIN" account rollover --config "$CFG" >"$W/rollover.log" 2>&1
check_match "multi: account rollover without --cert: the shared account" \
    'rolled over from key' "$(cat "$W/rollover.log")"
acc_r=$(accounts)
"$CK_BIN" renew --config "$CFG" --cert c.multi.test --force >"$W/renew-c.log" 2>&1
check_eq "multi: after the rollover a renewal signs with the new key, no new account" "0 0" \
    "$? $(( $(accounts) - acc_r ))"
# init on a fresh volume: the three required ones from the store; the optional one is run's
sed "s|^out: .*|out: $W/out-init|" "$CFG" >"$W/init.yaml"
orders0=$(pebble_order_count)
"$CK_BIN" init --config "$W/init.yaml" >"$W/init.log" 2>&1
check_eq "multi: init: exit 0 (the optional one is left to run)" 0 "$?"
check_eq "multi: init: the three required ones restored, no order" "3 $orders0" \
    "$(ls "$W"/out-init/{a.multi.test,bee,c.multi.test}/cert.pem 2>/dev/null | wc -l) $(pebble_order_count)"
check_match "multi: init: says the optional one is not required" \
    'd.multi.test: not required' "$(cat "$W/init.log")"

# ---- 2. dual RSA + EC ---------------------------------------------------------------------
echo "-- [${SECONDS}s] key_types: p256 and rsa2048 side by side"
NGX=$W/nginx
mkdir -p "$NGX/logs"
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
NNAME=ck-ngxm-$$
cp "$NGINX_BIN" "$NGX/$NNAME" 2>/dev/null
DCFG=$W/dual.yaml
{ head_yaml "$W/state-dual" "$W/store-dual" "$W/out-dual"
  cat <<EOF
reload:
  pidfile: $NGX/logs/nginx.pid
certificates:
  - domains: [dual.multi.test]
    key_types: [p256, rsa2048]
EOF
} >"$DCFG"
"$CK_BIN" init --config "$DCFG" >"$W/dual-init.log" 2>&1
check_eq "dual: init: exit 0" 0 "$?"
D=$W/out-dual
check_eq "dual: the first key type keeps the name (EC)" id-ecPublicKey "$(keyalg_of "$D/dual.multi.test/cert.pem")"
check_eq "dual: the second one beside it (RSA)" rsaEncryption "$(keyalg_of "$D/dual.multi.test.rsa2048/cert.pem")"
check_eq "dual: same names on both" "$(openssl x509 -in "$D/dual.multi.test/cert.pem" -noout -ext subjectAltName | tail -n 1)" \
    "$(openssl x509 -in "$D/dual.multi.test.rsa2048/cert.pem" -noout -ext subjectAltName | tail -n 1)"
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
pid $NGX/logs/nginx.pid;
error_log $NGX/logs/error.log info;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp_body;
    proxy_temp_path $NGX/tmp_proxy;
    fastcgi_temp_path $NGX/tmp_fastcgi;
    uwsgi_temp_path $NGX/tmp_uwsgi;
    scgi_temp_path $NGX/tmp_scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        server_name dual.multi.test;
        ssl_certificate $D/dual.multi.test.rsa2048/fullchain.pem;
        ssl_certificate_key $D/dual.multi.test.rsa2048/privkey.pem;
        ssl_certificate $D/dual.multi.test/fullchain.pem;
        ssl_certificate_key $D/dual.multi.test/privkey.pem;
        location / { return 200 "hello\n"; }
    }
}
EOF
if [ -x "$NGX/$NNAME" ] && "$NGX/$NNAME" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" >"$NGX/start.log" 2>&1; then
    wait_for 5 '[ -s "$NGX/logs/nginx.pid" ]'
    NGINX_PID=$(cat "$NGX/logs/nginx.pid" 2>/dev/null)
    pass "dual: nginx starts with both certificates"
else
    fail "dual: nginx starts with both certificates" "$(tail -n 3 "$NGX/start.log" "$NGX/logs/error.log" 2>/dev/null | tr '\n' ' ')"
fi
# served CLIENT_SIGALGS: the served leaf, saved to $NGX/served.pem; prints its key algorithm and serial
served() {
    openssl s_client -connect "127.0.0.1:$NGINX_PORT" -servername dual.multi.test -sigalgs "$1" \
        </dev/null 2>/dev/null | openssl x509 >"$NGX/served.pem" 2>/dev/null
    echo "$(keyalg_of "$NGX/served.pem") $(serial_of "$NGX/served.pem")"
}
se=$(serial_of "$D/dual.multi.test/cert.pem") sr=$(serial_of "$D/dual.multi.test.rsa2048/cert.pem")
check_eq "dual: an ECDSA-only client gets the EC certificate" "id-ecPublicKey $se" "$(served ECDSA+SHA256)"
check_eq "dual: an RSA-only client gets the RSA certificate" "rsaEncryption $sr" "$(served 'RSA-PSS+SHA256:RSA+SHA256')"
"$CK_BIN" renew --config "$DCFG" --cert dual.multi.test --force >"$W/dual-renew1.log" 2>&1 &&
    "$CK_BIN" renew --config "$DCFG" --cert dual.multi.test.rsa2048 --force >"$W/dual-renew2.log" 2>&1
check_eq "dual: both renew (exit 0)" 0 "$?"
se2=$(serial_of "$D/dual.multi.test/cert.pem") sr2=$(serial_of "$D/dual.multi.test.rsa2048/cert.pem")
if [ "$se2" != "$se" ] && [ "$sr2" != "$sr" ]; then pass "dual: both have a new serial"
else fail "dual: both have a new serial" "$se -> $se2, $sr -> $sr2"; fi
wait_for 10 '[ "$(served ECDSA+SHA256)" = "id-ecPublicKey $se2" ]'
check_eq "dual: nginx told: serves the new EC certificate" "id-ecPublicKey $se2" "$(served ECDSA+SHA256)"
wait_for 10 '[ "$(served RSA-PSS+SHA256:RSA+SHA256)" = "rsaEncryption $sr2" ]'
check_eq "dual: nginx told: serves the new RSA certificate" "rsaEncryption $sr2" "$(served 'RSA-PSS+SHA256:RSA+SHA256')"

# ---- 3. one account per certificate ------------------------------------------------------
echo "-- [${SECONDS}s] account: per-certificate"
ACFG=$W/acct.yaml
{ head_yaml "$W/state-acct" "$W/store-acct" "$W/out-acct"
  cat <<EOF
account: per-certificate
certificates:
  - domains: [e1.multi.test]
  - domains: [e2.multi.test]
EOF
} >"$ACFG"
acc0=$(accounts)
"$CK_BIN" init --config "$ACFG" >"$W/acct.log" 2>&1
check_eq "account: init: exit 0" 0 "$?"
check_eq "account: two new accounts at the CA" 2 "$(( $(accounts) - acc0 ))"
host=$(ls "$W/store-acct/accounts" 2>/dev/null | head -n 1)
check_eq "account: each key in the store under its certificate's name" 2 \
    "$(ls "$W/store-acct/accounts/$host"/{e1,e2}.multi.test/account.key 2>/dev/null | wc -l)"
if ! cmp -s "$W/store-acct/accounts/$host/e1.multi.test/account.key" "$W/store-acct/accounts/$host/e2.multi.test/account.key"; then
    pass "account: two different keys"
else fail "account: two different keys" "same file"; fi
acc1=$(accounts)
"$CK_BIN" renew --config "$ACFG" --cert e2.multi.test --force >"$W/acct-renew.log" 2>&1
check_eq "account: a renewal reuses its certificate's account" "0 0" "$? $(( $(accounts) - acc1 ))"

# ---- 4. refusals ---------------------------------------------------------------------------
echo "-- [${SECONDS}s] refusals"
refused() {  # NAME YAML-ENTRIES REGEX: exit 2, one line, matching
    local out rc
    { head_yaml "$W/state-bad" "$W/store-bad" "$W/out-bad"; printf '%s\n' "$2"; } >"$W/bad.yaml"
    out=$("$CK_BIN" run --config "$W/bad.yaml" 2>&1); rc=$?
    if [ "$rc" = 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && printf '%s' "$out" | grep -Eq -- "$3"; then pass "$1"
    else fail "$1" "exit $rc: $out"; fi
}
refused "refused: two certificates of one name" \
    "$(printf 'certificates:\n  - domains: [x.multi.test]\n  - domains: [y.multi.test]\n    cert_name: x.multi.test\n')" \
    'bad.yaml:[0-9]+: certificates\[1\]: cert_name "x.multi.test" is also certificates\[0\]'"'"'s'
refused "refused: files inside another's" \
    "$(printf 'certificates:\n  - domains: [x.multi.test]\n  - domains: [y.multi.test]\n    out: %s/out-bad/x.multi.test\n' "$W")" \
    'certificates\[1\]: out .*/out-bad/x.multi.test collides with the files of "x.multi.test"'
refused "refused: a top-level-only key in an entry" \
    "$(printf 'certificates:\n  - domains: [x.multi.test]\n    email: a@b.test\n')" \
    'certificates\[0\]\.email: not a per-certificate setting'
refused "refused: an entry's bad challenge, named" \
    "$(printf 'certificates:\n  - domains: [x.multi.test]\n  - domains: ["*.y.multi.test"]\n')" \
    'certificate _.y.multi.test: \*.y.multi.test: a wildcard name needs challenge.type dns-01'

# ---- 5. SIGHUP re-reads the configuration ------------------------------------------------
echo "-- [${SECONDS}s] SIGHUP: certificates added, removed, changed; a bad file refused"
HCFG=$W/hup.yaml
hup_yaml() {  # the entries' lines
    { head_yaml "$W/state-hup" "$W/store-hup" "$W/out-hup"
      printf 'listen: 127.0.0.1:%s\ncertificates:\n' "$LISTEN_PORT"; printf '%s\n' "$@"; } >"$HCFG.new"
    mv "$HCFG.new" "$HCFG"
}
H=$W/out-hup
hup_yaml '  - domains: [h1.multi.test]' '  - domains: [h2.multi.test]'
"$CK_BIN" run --config "$HCFG" >"$W/hup.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
wait_for 60 '[ -s "$H/h1.multi.test/cert.pem" ] && [ -s "$H/h2.multi.test/cert.pem" ] && [ "$(http_code /readyz)" = 200 ]'
h1=$(serial_of "$H/h1.multi.test/cert.pem")
hup_yaml '  - domains: [h1.multi.test, www.h1.multi.test]' '  - domains: [h3.multi.test]'
kill -HUP "$RUN_PID"
wait_for 60 '[ -s "$H/h3.multi.test/cert.pem" ] && [ "$(serial_of "$H/h1.multi.test/cert.pem")" != "$h1" ]'
check_match "sighup: re-read, said in one line" 're-read: 2 certificates \(1 added, 1 removed\)' "$(cat "$W/hup.log")"
check_eq "sighup: the added certificate is issued" 1 "$(have_in "$H" h3.multi.test)"
check_eq "sighup: the changed one is issued again with its new names" \
    "DNS:h1.multi.test, DNS:www.h1.multi.test" \
    "$(openssl x509 -in "$H/h1.multi.test/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | sed 's/^ *//')"
metrics=$(curl -s --max-time 2 "http://127.0.0.1:$LISTEN_PORT/metrics")
check_eq "sighup: the removed one has left the expiry metrics; the others are there" "0 2" \
    "$(printf '%s\n' "$metrics" | grep -c '^certkeep_certificate_expiry_timestamp_seconds{cert="h2.multi.test"}') $(printf '%s\n' "$metrics" | grep -cE '^certkeep_certificate_expiry_timestamp_seconds\{cert="h[13].multi.test"\} [1-9]')"
printf 'certificates:\n  - domains: [h1.multi.test\n' >"$HCFG"
kill -HUP "$RUN_PID"
wait_for 10 'grep -q "not re-read" "$W/hup.log"'
check_eq "sighup: a bad file is refused in one line, the old configuration kept" 1 \
    "$(grep -c 'not re-read: .*hup.yaml.*; keeping the old one' "$W/hup.log")"
check_eq "sighup: still up and ready after the bad file" "0 200" "$(kill -0 "$RUN_PID"; echo "$? $(http_code /readyz)")"
if grep -q 'run.seccomp: on:' "$W/hup.log"; then  # the filter set at start has no execve
    hup_yaml '  - domains: [h1.multi.test, www.h1.multi.test]' '  - domains: [h3.multi.test]' \
        '    reload: {command: /bin/true}'
    kill -HUP "$RUN_PID"
    wait_for 10 'grep -q "reload.command or challenge.dns_hook added" "$W/hup.log"'
    check_eq "sighup: a reload.command the seccomp filter cannot run is refused, run stays up" "1 0" \
        "$(grep -c 'not re-read: reload.command or challenge.dns_hook added: the seccomp filter set at start has no execve' "$W/hup.log") $(kill -0 "$RUN_PID"; echo $?)"
else
    skip 1 "sighup: seccomp is off in this build"
fi
kill -TERM "$RUN_PID"; wait "$RUN_PID"
check_eq "sighup: SIGTERM exits 0" 0 "$?"

# ---- 6. orders binding one http-01 port take turns ----------------------------------------
echo "-- [${SECONDS}s] two certificates, one http01_listen: the orders take turns"
kill "$HTTP01_PID"; wait "$HTTP01_PID" 2>/dev/null
wait_for 10 '! _pebble_port_busy $PEBBLE_HTTP01_PORT'
PCFG=$W/port.yaml
{ head_yaml "$W/state-port" "$W/store-port" "$W/out-port"
  cat <<EOF
certificates:
  - domains: [p1.multi.test]
    challenge: {http01_listen: "127.0.0.1:$PEBBLE_HTTP01_PORT"}
  - domains: [p2.multi.test]
    challenge: {http01_listen: "127.0.0.1:$PEBBLE_HTTP01_PORT"}
EOF
} >"$PCFG"
orders0=$(pebble_order_count)
"$CK_BIN" run --config "$PCFG" >"$W/port.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"
wait_for 60 '[ "$(have_in "$W/out-port" p1.multi.test p2.multi.test)" = 2 ]'
check_eq "port: both issued" 2 "$(have_in "$W/out-port" p1.multi.test p2.multi.test)"
check_eq "port: one order each, none failed on a taken port" "2 0" \
    "$(( $(pebble_order_count) - orders0 )) $(grep -c 'cannot listen' "$W/port.log")"
kill -TERM "$RUN_PID"; wait "$RUN_PID"
check_eq "port: SIGTERM exits 0" 0 "$?"
