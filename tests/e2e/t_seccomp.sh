#!/usr/bin/env bash
# `certkeep run` under its seccomp allow-list (issue 9, Hardening): once set up, /proc
# shows the filter (Seccomp: 2, one filter) on every thread; the first issuance (the
# signer's fork, the http-01 responder, the CA over TLS, the store), a renewal with a
# reload command (execve, a shell script under the filter) and a stop on SIGTERM all
# work under it; --no-seccomp leaves it off and says
# so. (That a call outside the list is refused: tests/unit/test_sandbox.c.)
set -u
. "$(dirname "$0")/lib.sh"
plan 15
PEBBLE_PORT=31310 PEBBLE_MGMT_PORT=31311 PEBBLE_TLS01_PORT=31312 PEBBLE_DNS_PORT=31313
PEBBLE_CTS_PORT=31315 PEBBLE_HTTP01_PORT=31381
. "$(dirname "$0")/pebble.sh"

LISTEN_PORT=31391
cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "seccomp: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
if ! pebble_start; then fail "seccomp: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=seccomp.example.com
OUT=$CK_TMP/out
STORE=$CK_TMP/store
# start_run LOG [ARGS...]: run in the background; RUN_PID is certkeep itself.
start_run() {
    local log=$CK_TMP/$1.log; shift
    "$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state "$CK_TMP/state" --out "$OUT" \
        --store-dir "$STORE" --listen "127.0.0.1:$LISTEN_PORT" "$@" >"$log" 2>&1 &
    RUN_PID=$!
    BG_PIDS="$BG_PIDS $RUN_PID"
}
wait_for() {  # wait_for SECONDS 'SHELL TEST'
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
serial() { openssl x509 -in "$OUT/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2; }
# every thread of $1 shows the filter: "2 1" per thread, deduplicated
threads_filtered() {
    local t
    for t in /proc/"$1"/task/*; do
        awk '/^Seccomp:/{m=$2} /^Seccomp_filters:/{f=$2} END{print m, f}' "$t/status"
    done 2>/dev/null | sort -u | tr '\n' ';'
}

start_run on
check "seccomp: run says the filter is on" wait_for 30 "grep -q 'run.seccomp.*on: [0-9]* system calls allowed' '$CK_TMP/on.log'"
check "seccomp: the first issuance under the filter" wait_for 60 "test -s '$OUT/$NAME/fullchain.pem'"
check_eq "seccomp: /proc: mode 2, one filter, on every thread" "2 1;" "$(threads_filtered "$RUN_PID")"
check "seccomp: /healthz answers" curl -fsS --max-time 5 "http://127.0.0.1:$LISTEN_PORT/healthz" -o /dev/null
check_fails "seccomp: nothing refused" grep -q 'outside run.s allow-list' "$CK_TMP/on.log"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "seccomp: SIGTERM exits 0" 0 "$?"

# A renewal (30 min left, 2 h wanted) under the filter, with a reload command: execve
# allowed, the command (a shell script) runs under the filter too.
OUT=$CK_TMP/out-renew
STORE=$CK_TMP/store-renew
craft_cert "$OUT/$NAME" "$NAME" $((90 * 86400 - 1800)) 1800
first=$(serial)
printf '#!/bin/sh\necho "reloaded $CERTKEEP_CERT_DIR" >>"%s"\n' "$CK_TMP/reloads" >"$CK_TMP/reload.sh"
chmod +x "$CK_TMP/reload.sh"
CERTKEEP_RELOAD_COMMAND=$CK_TMP/reload.sh start_run renew --min-valid 2h
check_match "seccomp: with a reload command, execve is allowed" 'system calls allowed, execve for reload.command' \
    "$(wait_for 30 "grep -q 'run.seccomp' '$CK_TMP/renew.log'"; grep run.seccomp "$CK_TMP/renew.log")"
check "seccomp: a renewal under the filter" wait_for 60 "[ -n '$first' ] && [ \"\$(serial)\" != '$first' ]"
check "seccomp: the reload command ran under it" wait_for 30 "grep -q reloaded '$CK_TMP/reloads'"
check_fails "seccomp: nothing refused in the renewal" grep -q 'outside run.s allow-list' "$CK_TMP/renew.log"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "seccomp: renewal run: SIGTERM exits 0" 0 "$?"

start_run off --no-seccomp
check "seccomp: --no-seccomp says so" wait_for 30 "grep -q 'run.seccomp.*off (--no-seccomp)' '$CK_TMP/off.log'"
check "seccomp: --no-seccomp: healthz" wait_for 30 "curl -fsS --max-time 2 http://127.0.0.1:$LISTEN_PORT/healthz -o /dev/null"
check_eq "seccomp: --no-seccomp: /proc: no filter" "0 0;" "$(threads_filtered "$RUN_PID")"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "seccomp: --no-seccomp: SIGTERM exits 0" 0 "$?"
