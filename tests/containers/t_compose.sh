#!/usr/bin/env bash
# docker/compose.yaml for real (issue 8): the shipped stack with a private dockerd,
# through tests/containers/compose.test.yaml (test ports, Pebble, moto S3, host
# networking). certkeep-init issues over http-01 with its own responder before nginx
# starts; nginx then serves that certificate over TLS; `certkeep run`, in nginx's
# network and PID namespaces, renews the short-lived certificate (Pebble validity
# 60 s) through the webroot nginx serves on the port it holds, signals nginx by name,
# and nginx serves the new serial without a restart.
set -u
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
plan 19
PEBBLE_PORT=30100 PEBBLE_MGMT_PORT=30101 PEBBLE_TLS01_PORT=30102 PEBBLE_DNS_PORT=30153
PEBBLE_CTS_PORT=30155 PEBBLE_HTTP01_PORT=30180
PEBBLE_VALIDITY=60
. "$(dirname "$0")/../e2e/pebble.sh"
S3_PORT=30160
. "$(dirname "$0")/../e2e/s3.sh"
export CK_HTTP01_PORT=$PEBBLE_HTTP01_PORT CK_HEALTH_PORT=30190
TLS_PORT=30143
NAME=example.com   # the shipped site's certificate path; Pebble's DNS answers 127.0.0.1 for it

W=$CK_TMP/compose
mkdir -p "$W"
compose() {
    docker-compose -p ckcompose --project-directory "$CK_ROOT/docker" -f "$W/compose.yaml" \
        -f "$CK_ROOT/tests/containers/compose.test.yaml" "$@"
}
cleanup() {
    if [ -n "${DOCKER_HOST:-}" ]; then
        compose logs --no-color >"$W/stack.log" 2>&1
        compose down -v --timeout 5 >/dev/null 2>&1
    fi
    engine_stop
    s3_stop
    pebble_stop
}
trap cleanup EXIT

echo "-- engine, images"
if ! engine_start; then fail "compose: dockerd starts" "see $CK_TMP/dockerd/dockerd.log"; exit 1; fi
check_match "compose: certkeep image builds" '^sha256:' "$(certkeep_image)"
check "compose: nginx image (debootstrap root)" nginx_image
if ! PEBBLE_AUTHZREUSE=0 pebble_start; then fail "compose: pebble start" "see $PEBBLE_LOG"; exit 1; fi
if ! s3_start; then fail "compose: s3 start" "see $S3_LOG"; exit 1; fi

# The shipped file without what host networking refuses (published ports, net sysctls).
python3 - "$CK_ROOT/docker/compose.yaml" "$W/compose.yaml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
for s in c["services"].values():
    s.pop("ports", None)
    s.pop("sysctls", None)
yaml.safe_dump(c, open(sys.argv[2], "w"), sort_keys=False)
PY
# The shipped site on the test ports.
sed -e "s/listen 80;/listen $CK_HTTP01_PORT;/" -e "s/listen 443 ssl;/listen $TLS_PORT ssl;/" \
    "$CK_ROOT/k8s/kustomize/example/default.conf" >"$W/default.conf"
install -m 0644 "$PEBBLE_CA_BUNDLE" "$W/ca.pem"
export CK_TEST_CA=$W/ca.pem CK_TEST_SITE=$W/default.conf
export CERTKEEP_DOMAINS=$NAME CERTKEEP_EMAIL=e2e@example.com CERTKEEP_DIRECTORY=$PEBBLE_DIR_URL
export CERTKEEP_S3_ENDPOINT=$S3_ENDPOINT CERTKEEP_S3_BUCKET=$S3_BUCKET CERTKEEP_S3_REGION=$S3_REGION
check "compose: config valid with the test override" compose config -q

cid() { compose ps -q "$1" 2>/dev/null; }
state() { docker inspect -f "$2" "$(cid "$1")" 2>/dev/null; }
served_serial() {
    openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername "$NAME" </dev/null 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | cut -d= -f2
}
volume_serial() {
    local mp
    mp=$(docker volume inspect -f '{{.Mountpoint}}' ckcompose_certs 2>/dev/null) || return 1
    openssl x509 -in "$mp/$NAME/cert.pem" -noout -serial 2>/dev/null | cut -d= -f2
}
# same NAME A B: A is not empty and equals B
same() { if [ -n "$2" ] && [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
wait_for() {  # wait_for SECONDS CMD...: until CMD succeeds
    local t=$(($1 * 5)); shift
    while [ $t -gt 0 ]; do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; t=$((t - 1)); done
    return 1
}

echo "-- up: init (own responder), then nginx, then certkeep run"
t0=$(now_ms)
compose up -d >"$W/up.log" 2>&1
rc=$?
echo "  compose up: $(($(now_ms) - t0)) ms"
check_eq "compose: up exits 0 (log: $W/up.log)" 0 "$rc"
[ "$rc" = 0 ] || { tail -n 5 "$W/up.log"; exit 1; }
check_eq "compose: init exited 0" 0 "$(state certkeep-init '{{.State.ExitCode}}')"
check_eq "compose: init issued once" 1 "$(pebble_issued_count)"
check_match "compose: init answered http-01 itself (nginx not up)" \
    "http-01: answering on :$CK_HTTP01_PORT" "$(docker logs "$(cid certkeep-init)" 2>&1)"
fin=$(state certkeep-init '{{.State.FinishedAt}}') st=$(state nginx '{{.State.StartedAt}}')
if [ -n "$fin" ] && [ -n "$st" ] && [[ "$fin" < "$st" ]]; then pass "compose: nginx started after init finished"
else fail "compose: nginx started after init finished" "init finished $fin, nginx started $st"; fi
wait_for 30 served_serial
FIRST=$(volume_serial)
same "compose: nginx serves the volume's certificate over TLS ($FIRST)" "$FIRST" "$(served_serial)"
check "compose: certkeep run is ready" wait_for 30 curl -fsS -o /dev/null "http://127.0.0.1:$CK_HEALTH_PORT/readyz"
NGINX_PID=$(state nginx '{{.State.Pid}}')

echo "-- renewal while nginx holds the port (60 s certificates: due after 30..38 s)"
t0=$(now_ms)
renewed() { [ "$(pebble_issued_count)" -ge 2 ] && [ "$(served_serial)" != "$FIRST" ]; }
wait_for 120 renewed
echo "  renewal seen after $(($(now_ms) - t0)) ms"
runlog=$(docker logs "$(cid certkeep)" 2>&1)
check_eq "compose: run renewed once" 2 "$(pebble_issued_count)"
check_match "compose: run found the port taken, used the webroot" \
    "port $CK_HTTP01_PORT is taken, writing tokens to the webroot /var/www/acme" "$runlog"
check_match "compose: nginx served the token to the CA" \
    'GET /\.well-known/acme-challenge/[A-Za-z0-9_-]{20,} HTTP/1\.[01]" 200' \
    "$(docker logs "$(cid nginx)" 2>/dev/null)"
check_match "compose: run signalled nginx by name (shared PID namespace)" \
    'signal 1 sent to 1 process\(es\) named nginx' "$runlog"
SECOND=$(volume_serial)
if [ -n "$SECOND" ] && [ "$SECOND" != "$FIRST" ]; then pass "compose: a new serial on the volume ($SECOND)"
else fail "compose: a new serial on the volume" "still '$FIRST'"; SECOND=""; fi
same "compose: nginx serves the new serial" "$SECOND" "$(served_serial)"
same "compose: nginx reloaded, not restarted (same pid)" "$NGINX_PID" "$(state nginx '{{.State.Pid}}')"
stored=$(s3_py 'import json; print(json.loads(s3.get_object(Bucket=bucket, Key="certs/example.com/current.json")["Body"].read())["serial"])' 2>/dev/null)
same "compose: the store holds the new serial" "$(echo "$SECOND" | tr 'A-F' 'a-f' | sed 's/^0*//')" \
    "$(echo "$stored" | tr 'A-F' 'a-f' | sed 's/^0*//')"
check_eq "compose: nothing restarted" "0 0" "$(state nginx '{{.RestartCount}}') $(state certkeep '{{.RestartCount}}')"
