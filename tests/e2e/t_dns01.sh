#!/usr/bin/env bash
# dns-01 (issue 11) with real parts: Knot DNS (a primary taking TSIG-signed RFC 2136
# updates, a secondary fed by NOTIFY/IXFR), Unbound as the CA's resolver (recursing
# into both zones, following CNAMEs, no cache) and Pebble validating through it.
# A wildcard with its base name and a CNAME-delegated name issue; the wait sees both
# name servers; afterwards exactly our TXT values are gone and a foreign value on the
# same name stays; a wrong key fails before any order; a kill in the middle leaves
# records that the next start removes; the hook drives knsupdate as lego's exec
# provider would; settings of the other challenge are refused with exit 2.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=31600 PEBBLE_MGMT_PORT=31601 PEBBLE_TLS01_PORT=31602 PEBBLE_DNS_PORT=31653
PEBBLE_CTS_PORT=31655 PEBBLE_HTTP01_PORT=31680
KNOT_NET=127.0.53
PEBBLE_DNS_SERVER=$KNOT_NET.3:53
. "$(dirname "$0")/pebble.sh"
. "$(dirname "$0")/knot.sh"

plan 58
cleanup() { kill_bg; pebble_stop; knot_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "dns01: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    skip 58 "dns01: Knot and Unbound listen on port 53 of 127.0.53.x: run as root (make test does)"
    exit 0
fi
if ! knot_start || ! knot_resolver_start; then fail "dns01: knot start" "see $KNOT_HOME"; exit 1; fi
if ! pebble_start; then fail "dns01: pebble start" "see $PEBBLE_LOG"; exit 1; fi

OUT=$CK_TMP/out
# each run its own state directory, so its own account: Pebble reuses an account's
# valid authorizations, and every run here must answer its challenges
# ck COMMAND LOG [ARGS...]: certkeep against Pebble, dns-01 by RFC 2136 to the primary
ck() {
    local cmd=$1 log=$CK_TMP/$2.log state=${ST:-$CK_TMP/state-$2}; shift 2
    CERTKEEP_CHALLENGE_RFC2136_TSIG_KEY=${TSIG_KEY:-ck-key} \
    CERTKEEP_CHALLENGE_RFC2136_TSIG_SECRET_FILE=${TSIG_FILE:-$KNOT_KEY_FILE} \
    "$CK_BIN" "$cmd" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --challenge dns-01 --rfc2136-server "$KNOT_PRIMARY" \
        --state "$state" --out "$OUT" "$@" >"$log" 2>&1
}
# ck_exec: the same as ck, exec'd, for a background process whose pid is certkeep's
ck_exec() {
    local cmd=$1 log=$CK_TMP/$2.log state=${ST:-$CK_TMP/state-$2}; shift 2
    CERTKEEP_CHALLENGE_RFC2136_TSIG_KEY=ck-key CERTKEEP_CHALLENGE_RFC2136_TSIG_SECRET_FILE=$KNOT_KEY_FILE \
    exec "$CK_BIN" "$cmd" --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --challenge dns-01 --state "$state" --out "$OUT" "$@" >"$log" 2>&1
}
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
sans() { openssl x509 -in "$OUT/$1/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | tr -d ' '; }
# our TXT values still at NAME on either server (the foreign one filtered out)
ours_at() { { knot_txt "$1" "$KNOT_NET.1"; knot_txt "$1" "$KNOT_NET.2"; } | grep -v '^foreign-value$' | grep -c . ; }
# none of ours on either server; the secondary follows within seconds
no_ours() {
    local n i
    for n in _acme-challenge.www.ck.test _acme-challenge.ck.test alias.val.test _acme-challenge.api.ck.test \
             _acme-challenge.run.ck.test _acme-challenge.hookrun.ck.test; do
        for i in $(seq 1 100); do [ "$(ours_at $n)" = 0 ] && break; sleep 0.1; done
        [ "$(ours_at $n)" = 0 ] || { echo "left at $n: $(knot_txt $n) / $(knot_txt $n $KNOT_NET.2)"; return 1; }
    done
}
orders() { pebble_order_count; }

echo "-- [${SECONDS}s] RFC 2136: a wildcard, its base name and a CNAME-delegated name in one order"
ck issue rfc --domain www.ck.test --domain '*.ck.test' --domain alias.ck.test
check_eq "dns01: issue exits 0" 0 $?
check_eq "dns01: the certificate names all three" "DNS:www.ck.test,DNS:*.ck.test,DNS:alias.ck.test" "$(sans www.ck.test)"
check "dns01: key file 0600" test "$(stat -c %a "$OUT/www.ck.test/privkey.pem" 2>/dev/null)" = 600
check_match "dns01: the CNAME is followed to the validation zone" "CNAME: the TXT record goes to alias.val.test" "$(logof rfc)"
check_match "dns01: the wait sees both name servers of each zone" "3 TXT record\(s\) answered by all 6 name server\(s\)" "$(logof rfc)"
check "dns01: afterwards none of our values is left on either server" no_ours
check_eq "dns01: the foreign value on the same name stays (primary)" foreign-value "$(knot_txt _acme-challenge.www.ck.test)"
check_eq "dns01: ... and on the secondary" foreign-value "$(knot_txt _acme-challenge.www.ck.test $KNOT_NET.2)"
check "dns01: no pending-records file left" test ! -e "$CK_TMP/state-rfc/dns01-www.ck.test.pending"
check_fails "dns01: the secret never reaches the log" grep -qF "$(cat "$KNOT_SECRET_FILE")" "$CK_TMP/rfc.log"

echo "-- [${SECONDS}s] init and the default propagation on a fresh volume"
ck init init --domain api.ck.test
check_eq "dns01: init exits 0" 0 $?
check_eq "dns01: init's certificate" "DNS:api.ck.test" "$(sans api.ck.test)"
check "dns01: init leaves nothing" no_ours

echo "-- [${SECONDS}s] run (the sidecar, under its seccomp filter) issues by dns-01, RFC 2136 and hook"
# run_until_cert LOG NAME ARGS...: run in the background until NAME's certificate is on the volume
run_until_cert() {
    local log=$1 name=$2 i; shift 2
    "$@" &
    local pid=$!
    BG_PIDS="$BG_PIDS $pid"
    for i in $(seq 1 600); do [ -s "$OUT/$name/cert.pem" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    sleep 0.5
    RUN_PID=$pid
}
run_until_cert runrfc run.ck.test ck_exec run runrfc --rfc2136-server "$KNOT_PRIMARY" --domain run.ck.test
check_eq "dns01: run (RFC 2136) issued" "DNS:run.ck.test" "$(sans run.ck.test)"
check_match "dns01: ... with seccomp on" "run.seccomp: on" "$(logof runrfc)"
kill -TERM "$RUN_PID"; wait "$RUN_PID"
check_eq "dns01: ... and ends on SIGTERM with 0" 0 $?
check "dns01: run leaves nothing of ours" no_ours
echo "-- [${SECONDS}s] a wrong key fails before any order"
before=$(orders)
bad=$CK_TMP/bad.secret
head -c 32 /dev/urandom | base64 >"$bad"
TSIG_FILE=$bad ck issue badsig --domain www.ck.test --force
check_eq "dns01: wrong secret: exit 1" 1 $?
check_match "dns01: wrong secret: the line names the refusal" "BADSIG|NOTAUTH" "$(logof badsig)"
check_match "dns01: ... and says nothing was ordered" "nothing was ordered" "$(logof badsig)"
check_eq "dns01: ... one line" 1 "$(wc -l <"$CK_TMP/badsig.log")"
TSIG_KEY=other-key ck issue badkey --domain www.ck.test --force
check_eq "dns01: unknown key name: exit 1" 1 $?
check_match "dns01: unknown key name: BADKEY or NOTAUTH named" "BADKEY|NOTAUTH" "$(logof badkey)"
check_eq "dns01: no order was spent on either" "$before" "$(orders)"
ck issue notzone --domain www.example.org --force
check_eq "dns01: a name in no zone of the server: exit 1" 1 $?
check_match "dns01: ... naming the name, the server and its answer" "www.example.org: dns $KNOT_NET.1:53: REFUSED" "$(logof notzone)"
check_eq "dns01: ... and no order either" "$before" "$(orders)"

echo "-- [${SECONDS}s] the secondary stops: the wait gives up in time, names the server, removes ours"
kill "$(echo $KNOT_PIDS | cut -d' ' -f2)"
sleep 1
CERTKEEP_CHALLENGE_DNS_PROPAGATION_TIMEOUT=3s ck issue timeout --domain www.ck.test --force
check_eq "dns01: propagation timeout: exit 1" 1 $?
check_match "dns01: ... names the silent server and the setting" "$KNOT_NET.2:53 does not answer.*dns_propagation_timeout" "$(logof timeout)"
check_eq "dns01: ... our value removed from the primary" 0 "$(knot_txt _acme-challenge.www.ck.test | grep -vc foreign-value)"
CERTKEEP_CHALLENGE_DNS_PROPAGATION=server-only ck issue serveronly --domain www.ck.test --force
check_eq "dns01: server-only propagation issues with the secondary down" 0 $?
check_match "dns01: ... having waited for the one server" "answered by all 1 name server" "$(logof serveronly)"

echo "-- [${SECONDS}s] killed in the middle: the next start removes what was left"
ST=$CK_TMP/state-kill CERTKEEP_CHALLENGE_DNS_PROPAGATION_TIMEOUT=60s ck issue killed --domain www.ck.test --force &
pid=$!
BG_PIDS="$BG_PIDS $pid"
for _ in $(seq 1 100); do
    [ "$(knot_txt _acme-challenge.www.ck.test | grep -vc foreign-value)" -ge 1 ] && break
    sleep 0.1
done
sleep 0.5
kill -9 "$pid"; wait "$pid" 2>/dev/null
check_eq "dns01: after kill -9 our value is still there" 1 "$(knot_txt _acme-challenge.www.ck.test | grep -vc foreign-value)"
check "dns01: ... and recorded in the state directory" test -s "$CK_TMP/state-kill/dns01-www.ck.test.pending"
ST=$CK_TMP/state-kill CERTKEEP_CHALLENGE_DNS_PROPAGATION=server-only ck issue after --domain www.ck.test --force
check_eq "dns01: the next run exits 0" 0 $?
check_match "dns01: ... saying it removed the leftover" "removed 1 TXT record\(s\) left by an earlier run" "$(logof after)"
check_eq "dns01: ... and none of ours is left" 0 "$(knot_txt _acme-challenge.www.ck.test | grep -vc foreign-value)"
check_eq "dns01: the foreign value survived all of it" foreign-value "$(knot_txt _acme-challenge.www.ck.test)"
knot_stop; knot_start && knot_resolver_start

echo "-- [${SECONDS}s] the hook: lego's exec convention, driving knsupdate"
HOOK=$CK_TMP/hook.sh
cat >"$HOOK" <<EOF
#!/bin/bash
# lego exec provider: \$1 present|cleanup, \$2 fqdn, \$3 value, \$4 ttl
echo "\$*" >>"$CK_TMP/hook.calls"
[ -e "$CK_TMP/hook.fail" ] && { echo "warming up" >&2; echo "provider said no: quota" >&2; exit 3; }
op=add; [ "\$1" = cleanup ] && op=del
zone=\$(echo "\$2" | sed 's/^.*\.\([^.]*\.test\.\)\$/\1/')
printf 'server $KNOT_NET.1 53\nzone %s\n%s %s 60 TXT "%s"\nsend\n' "\$zone" "\$op" "\$2" "\$3" |
    knsupdate -y "hmac-sha256:ck-key:\$(cat $KNOT_SECRET_FILE)"
EOF
chmod +x "$HOOK"
hook() {
    local log=$CK_TMP/$1.log; shift
    "$CK_BIN" issue --email e2e@example.com --agree-tos --profile default \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --challenge dns-01 --dns-hook "$HOOK" --state "$CK_TMP/state-$(basename "$log" .log)" --out "$OUT" \
        "$@" >"$log" 2>&1
}
CERTKEEP_CHALLENGE_DNS_RESOLVER=$KNOT_NET.3 hook hook --domain '*.ck.test' --domain alias.ck.test --force
check_eq "dns01: hook issue exits 0" 0 $?
check_eq "dns01: hook certificate" "DNS:*.ck.test,DNS:alias.ck.test" "$(sans _.ck.test)"
check_match "dns01: the hook got present FQDN VALUE TTL" "^present _acme-challenge\.ck\.test\. [A-Za-z0-9_-]{43} 60$" "$(cat "$CK_TMP/hook.calls")"
check_eq "dns01: one cleanup per present" "$(grep -c ^present "$CK_TMP/hook.calls")" "$(grep -c ^cleanup "$CK_TMP/hook.calls")"
check_match "dns01: the hook followed the CNAME too" "present alias\.val\.test\. " "$(cat "$CK_TMP/hook.calls")"
check "dns01: hook: nothing of ours left" no_ours
run_until_cert runhook hookrun.ck.test env CERTKEEP_CHALLENGE_DNS_RESOLVER=$KNOT_NET.3 \
    CERTKEEP_CHALLENGE_RFC2136_TSIG_KEY= CERTKEEP_CHALLENGE_RFC2136_TSIG_SECRET_FILE= \
    "$CK_BIN" run --email e2e@example.com --agree-tos --profile default --directory "$PEBBLE_DIR_URL" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --challenge dns-01 --dns-hook "$HOOK" --state "$CK_TMP/state-runhook" \
    --out "$OUT" --domain hookrun.ck.test >"$CK_TMP/runhook.log" 2>&1
check_eq "dns01: run (hook) issued" "DNS:hookrun.ck.test" "$(sans hookrun.ck.test)"
check_match "dns01: ... with seccomp on, execve allowed for the hook" "run.seccomp: on: .*execve for challenge.dns_hook" "$(logof runhook)"
kill -TERM "$RUN_PID"; wait "$RUN_PID"
check_eq "dns01: ... and ends on SIGTERM with 0" 0 $?
check "dns01: run with the hook leaves nothing of ours" no_ours
touch "$CK_TMP/hook.fail"
before=$(orders)
CERTKEEP_CHALLENGE_DNS_RESOLVER=$KNOT_NET.3 hook hookfail --domain www.ck.test --force
check_eq "dns01: a failing hook: exit 1" 1 $?
check_match "dns01: ... its stderr's last line and exit code in the one line" "exit 3: provider said no: quota" "$(logof hookfail)"
rm -f "$CK_TMP/hook.fail"

echo "-- [${SECONDS}s] settings of the other challenge are refused at start"
"$CK_BIN" issue --domain '*.ck.test' --state "$CK_TMP/state-x" --out "$OUT" >"$CK_TMP/wild.log" 2>&1
check_eq "dns01: a wildcard with http-01: exit 2" 2 $?
check_match "dns01: ... naming the name and the fix" "\*\.ck\.test: a wildcard name needs challenge.type dns-01" "$(logof wild)"
"$CK_BIN" issue --domain www.ck.test --rfc2136-server "$KNOT_PRIMARY" --state "$CK_TMP/state-x" --out "$OUT" >"$CK_TMP/mix.log" 2>&1
check_eq "dns01: an RFC 2136 server with http-01: exit 2" 2 $?
check_match "dns01: ... naming the setting and the fix" "challenge.rfc2136.server is a dns-01 setting; set challenge.type dns-01" "$(logof mix)"
"$CK_BIN" issue --domain www.ck.test --challenge dns-01 --rfc2136-server "$KNOT_PRIMARY" --state "$CK_TMP/state-x" --out "$OUT" >"$CK_TMP/nokey.log" 2>&1
check_eq "dns01: RFC 2136 without a TSIG key: exit 2" 2 $?
check_match "dns01: ... naming what is missing" "needs tsig_key and tsig_secret_file" "$(logof nokey)"
"$CK_BIN" issue --domain www.ck.test --challenge dns-01 --webroot /tmp --dns-hook "$HOOK" --state "$CK_TMP/state-x" --out "$OUT" >"$CK_TMP/web.log" 2>&1
check_eq "dns01: a webroot with dns-01: exit 2" 2 $?
check_match "dns01: ... naming it" "challenge.webroot is an http-01 setting" "$(logof web)"
