#!/usr/bin/env bash
# http-01 in a pod: certkeep and the app share port 80. With both --http01-listen and
# --webroot, certkeep listens while the port is free (first issuance, app not up) and
# writes tokens to the webroot the app serves when the port is taken (renewal, app
# up); a refused bind is one line naming the port and the fix. The real static binary,
# a real Pebble, a real nginx serving the webroot through docker/nginx-acme-challenge.conf.
set -u
. "$(dirname "$0")/lib.sh"
plan 20
PEBBLE_PORT=28000 PEBBLE_MGMT_PORT=28001 PEBBLE_TLS01_PORT=28002 PEBBLE_DNS_PORT=28053
PEBBLE_CTS_PORT=28055 PEBBLE_HTTP01_PORT=28080
. "$(dirname "$0")/pebble.sh"

HELD_PORT=28081
W=$CK_TMP/http01
NGINX_PID="" HOLDER_PID="" NOBODY_DIR=""
cleanup() {
    if [ -n "$NGINX_PID" ]; then
        kill -QUIT "$NGINX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null
    fi
    [ -z "$HOLDER_PID" ] || { kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; }
    [ -z "$NOBODY_DIR" ] || rm -rf "$NOBODY_DIR"
    pebble_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "http01: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX_BIN" ]; then fail "http01: nginx" "nginx is not installed"; exit 1; fi
# no reused authorization: the renewal below must answer a challenge
if ! PEBBLE_AUTHZREUSE=0 pebble_start; then fail "http01: pebble start" "see $PEBBLE_LOG"; exit 1; fi
mkdir -p "$W/logs"

port_busy() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }
# ck CMD LABEL VOLUME ARGS...: certkeep CMD against Pebble with the volume and state named
# VOLUME; output in $W/LABEL.log, exit in RC.
ck() {
    local cmd=$1 label=$2 vol=$3; shift 3
    "$CK_BIN" "$cmd" --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$W/out-$vol" --state "$W/state-$vol" "$@" \
        >"$W/$label.log" 2>&1
    RC=$?
}
issued() { openssl x509 -in "$W/out-$1/$2/cert.pem" -noout -checkend 3600; }
serial() { openssl x509 -in "$W/out-$1/$2/cert.pem" -noout -serial 2>/dev/null; }

# ---- 1. first issuance, the app not up: port free, the responder answers ----------------
# the listen address from the environment: configured there counts as configured
WEB=$W/web
mkdir -p "$WEB"
CERTKEEP_HTTP01_LISTEN="127.0.0.1:$PEBBLE_HTTP01_PORT" ck issue free pod --domain h1.example.com \
    --webroot "$WEB"
check_eq "http01 free port: issued (exit 0)" 0 "$RC"
check_match "http01 free port: log says it answers" \
    "http-01: answering on 127\.0\.0\.1:$PEBBLE_HTTP01_PORT" "$(cat "$W/free.log")"
check_eq "http01 free port: nothing written to the webroot" "" "$(find "$WEB" -mindepth 1)"
check "http01 free port: certificate on the volume" issued pod h1.example.com
FIRST=$(serial pod h1.example.com)

# ---- 2. renewal, the app up: nginx holds the port and serves the webroot ------------------
# the snippet as shipped, its root pointed at this test's webroot
sed "s|^\([[:space:]]*root \).*;|\1$WEB;|" "$CK_ROOT/docker/nginx-acme-challenge.conf" \
    >"$W/acme-challenge.conf"
NAME=ck-ngx-http01-$$  # a name of its own: no other test's reload-by-name reaches it
cp "$NGINX_BIN" "$W/$NAME"
cat >"$W/nginx.conf" <<EOF
user root;  # the test's temporary directory is 0700
worker_processes 1;
pid $W/logs/nginx.pid;
error_log $W/logs/error.log info;
events { worker_connections 64; }
http {
    access_log $W/logs/access.log;
    client_body_temp_path $W/tmp_body;
    proxy_temp_path $W/tmp_proxy;
    fastcgi_temp_path $W/tmp_fastcgi;
    uwsgi_temp_path $W/tmp_uwsgi;
    scgi_temp_path $W/tmp_scgi;
    server {
        listen 127.0.0.1:$PEBBLE_HTTP01_PORT;
        include $W/acme-challenge.conf;
        location / { return 200 "the app\n"; }
    }
}
EOF
if ! "$W/$NAME" -p "$W" -c "$W/nginx.conf" -e "$W/logs/error.log" >"$W/nginx-start.log" 2>&1; then
    fail "http01: nginx start" "$(tail -n 3 "$W/nginx-start.log" "$W/logs/error.log" | tr '\n' ' ')"
    exit 1
fi
for _ in $(seq 50); do [ -s "$W/logs/nginx.pid" ] && break; sleep 0.1; done
NGINX_PID=$(cat "$W/logs/nginx.pid" 2>/dev/null)
# the snippet itself: a token file as text/plain, a missing one 404 (not the app's page)
mkdir -p "$WEB/.well-known/acme-challenge"
echo "probe.value" >"$WEB/.well-known/acme-challenge/probe-token"
URL="http://127.0.0.1:$PEBBLE_HTTP01_PORT/.well-known/acme-challenge"
check_match "http01 nginx snippet: serves a token as text/plain" \
    '^HTTP/1\.1 200.*Content-Type: text/plain.*probe\.value' \
    "$(curl -si --max-time 10 "$URL/probe-token" | tr -d '\r' | tr '\n' ' ')"
check_eq "http01 nginx snippet: a missing token is 404" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/absent-token")"
rm -rf "$WEB/.well-known"  # certkeep makes it again
: >"$W/logs/access.log"
ck renew taken pod --force --domain h1.example.com --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" \
    --webroot "$WEB"
check_eq "http01 port taken: renewed through the webroot (exit 0)" 0 "$RC"
check_match "http01 port taken: log says the webroot" \
    "http-01: port $PEBBLE_HTTP01_PORT is taken, writing tokens to the webroot $WEB" \
    "$(cat "$W/taken.log")"
check_match "http01 port taken: nginx served the token to the CA" \
    'GET /\.well-known/acme-challenge/[A-Za-z0-9_-]{20,} HTTP/1\.[01]" 200' \
    "$(cat "$W/logs/access.log")"
check "http01 port taken: certkeep wrote in the webroot" test -d "$WEB/.well-known/acme-challenge"
check_eq "http01 port taken: tokens removed afterwards" "" \
    "$(ls -A "$WEB/.well-known/acme-challenge" 2>&1)"
check "http01 port taken: certificate on the volume" issued pod h1.example.com
if [ -n "$FIRST" ] && [ "$(serial pod h1.example.com)" != "$FIRST" ]; then
    pass "http01 port taken: a new serial"
else fail "http01 port taken: a new serial" "still '$FIRST'"; fi

# ---- 3. port held by a plain listener, no webroot: one line, no order spent -------------
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(4); time.sleep(600)' "$HELD_PORT" &
HOLDER_PID=$!
for _ in $(seq 100); do port_busy "$HELD_PORT" && break; sleep 0.1; done
ORDERS=$(pebble_order_count)
ck issue held held --domain h3.example.com --http01-listen "127.0.0.1:$HELD_PORT"
check_eq "http01 port held, no webroot: exit 1" 1 "$RC"
check_eq "http01 port held, no webroot: one line" 1 "$(wc -l <"$W/held.log")"
check_match "http01 port held, no webroot: names the port and the webroot" \
    "cannot listen on 127\.0\.0\.1:$HELD_PORT: .*port $HELD_PORT is taken.*--webroot" \
    "$(cat "$W/held.log")"
check_eq "http01 port held, no webroot: no order spent" "$ORDERS" "$(pebble_order_count)"

# ---- 4. non-root on a port below ip_unprivileged_port_start: the line names the sysctl -----
START=$(sysctl -n net.ipv4.ip_unprivileged_port_start 2>/dev/null || echo 0)
if [ "$(id -u)" != 0 ]; then
    skip 3 "http01 EACCES: needs root to run certkeep as nobody"
elif [ "$START" -le 81 ]; then
    skip 3 "http01 EACCES: net.ipv4.ip_unprivileged_port_start is $START here, port 81 is not privileged"
else
    NOBODY_DIR=$(mktemp -d /tmp/ck-http01-nobody.XXXXXX)
    chmod 777 "$NOBODY_DIR"
    cp "$PEBBLE_CA_BUNDLE" "$NOBODY_DIR/ca.pem" && chmod 644 "$NOBODY_DIR/ca.pem"
    (cd "$NOBODY_DIR" && setpriv --reuid=65534 --regid=65534 --clear-groups "$CK_BIN" issue \
        --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$NOBODY_DIR/ca.pem" --out "$NOBODY_DIR/out" --state "$NOBODY_DIR/state" \
        --domain h4.example.com --http01-listen 127.0.0.1:81) >"$W/eacces.log" 2>&1
    RC=$?
    check_eq "http01 EACCES: exit 1" 1 "$RC"
    check_eq "http01 EACCES: one line" 1 "$(wc -l <"$W/eacces.log")"
    check_match "http01 EACCES: names the port and the sysctl" \
        'cannot listen on 127\.0\.0\.1:81: .*net\.ipv4\.ip_unprivileged_port_start=0' \
        "$(cat "$W/eacces.log")"
fi
