#!/usr/bin/env bash
# lib/reload against a REAL nginx serving TLS on 127.0.0.1: the certificate files
# are swapped (new serial), lib/reload signals nginx (found by name in /proc, then
# by its pidfile), and `openssl s_client` must see the new serial while the master
# keeps its pid (a reload, not a restart). The nginx binary runs under a name of
# its own so that no other nginx on this machine is signalled.
set -u
. "$(dirname "$0")/lib.sh"
plan 20

W=$CK_TMP/nginx
NGINX_PID=""
cleanup() {
    if [ -n "$NGINX_PID" ]; then
        kill -QUIT "$NGINX_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null
    fi
}
trap cleanup EXIT

NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$NGINX_BIN" ]; then
    fail "reload nginx: nginx" "nginx is not installed"
    exit 1
fi
mkdir -p "$W/logs" "$W/certs"

# ---- the probe: lib/reload from the ASan build (make asan), ASan on ----------------
DEPS=$CK_ROOT/build/deps/glibc
PROBE=$W/reload_probe
cat >"$W/reload_probe.c" <<'EOF'
/* reload_probe --name NAME | --pidfile FILE [--signal N]: one ck_reload call. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reload/reload.h"

int main(int argc, char **argv)
{
    struct ck_reload_target t;
    memset(&t, 0, sizeof t);
    t.signal = SIGHUP;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--name")) t.process = argv[i + 1];
        else if (!strcmp(argv[i], "--pidfile")) t.pidfile = argv[i + 1];
        else if (!strcmp(argv[i], "--signal")) t.signal = atoi(argv[i + 1]);
        else { fprintf(stderr, "usage: reload_probe --name N | --pidfile F\n"); return 2; }
    }
    struct ck_log log;
    ck_log_init(&log, stdout, CK_LOG_INFO, 0);
    struct ck_err e;
    ck_err_clear(&e);
    if (ck_reload(&t, &log, &e) != 0) {
        fprintf(stderr, "reload_probe: %s\n", e.msg);
        return 1;
    }
    return 0;
}
EOF
INC=()
LIBDIR=()
if [ -f "$DEPS/.done" ]; then INC=(-I"$DEPS/include"); LIBDIR=(-L"$DEPS/lib"); fi
if ! cc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g -O1 \
    -fsanitize=address,undefined -fno-sanitize-recover=all -I"$CK_ROOT/lib" "${INC[@]}" \
    -o "$PROBE" "$W/reload_probe.c" "$CK_ROOT/build/asan/libcertkeep.a" "${LIBDIR[@]}" -lcurl \
    -lbearssl -lcjson -lyaml -lpthread >"$W/probe-build.log" 2>&1; then
    fail "reload nginx: build probe" "$(tail -n 3 "$W/probe-build.log" | tr '\n' ' ')"
    exit 1
fi
pass "reload nginx: build probe"

# ---- certificates: one key, three serials ----------------------------------------
gen_cert() {  # gen_cert SERIAL OUT
    openssl req -x509 -new -key "$W/key.pem" -subj "/CN=localhost" -days 2 \
        -set_serial "$1" -addext "subjectAltName=DNS:localhost" -out "$2" 2>/dev/null
}
openssl ecparam -name prime256v1 -genkey -noout -out "$W/key.pem" 2>/dev/null
for s in 1001 2002 3003; do gen_cert "0x$s" "$W/cert-$s.pem"; done
cp "$W/key.pem" "$W/certs/key.pem"
cp "$W/cert-1001.pem" "$W/certs/cert.pem"

# swaps the served certificate the way certkeep does: a rename over the old file
swap_cert() {
    cp "$W/cert-$1.pem" "$W/certs/.cert.tmp" && mv -f "$W/certs/.cert.tmp" "$W/certs/cert.pem"
}

served_serial() {
    echo | timeout 5 openssl s_client -connect "127.0.0.1:$PORT" -servername localhost 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# waits until the served serial is $1 (nginx re-reads in its own time after HUP)
wait_serial() {
    local got=""
    for _ in $(seq 50); do
        got=$(served_serial)
        [ "$got" = "$1" ] && break
        sleep 0.1
    done
    printf '%s' "$got"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- nginx, under a name of its own --------------------------------------------
NAME=ck-ngx-$$
cp "$NGINX_BIN" "$W/$NAME"
PORT=$(free_port)
cat >"$W/nginx.conf" <<EOF
worker_processes 2;
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
        listen 127.0.0.1:$PORT ssl;
        server_name localhost;
        ssl_certificate $W/certs/cert.pem;
        ssl_certificate_key $W/certs/key.pem;
        location / { return 200 "hello\n"; }
    }
}
EOF
if ! "$W/$NAME" -p "$W" -c "$W/nginx.conf" -e "$W/logs/error.log" >"$W/start.log" 2>&1; then
    fail "reload nginx: start" "$(tail -n 3 "$W/start.log" "$W/logs/error.log" | tr '\n' ' ')"
    exit 1
fi
for _ in $(seq 50); do [ -s "$W/logs/nginx.pid" ] && break; sleep 0.1; done
NGINX_PID=$(cat "$W/logs/nginx.pid" 2>/dev/null)
check_eq "reload nginx: serves the first certificate" 1001 "$(wait_serial 1001)"
WORKERS=$(pgrep -P "$NGINX_PID" | sort | tr '\n' ' ')
check_match "reload nginx: two workers" '^[0-9]+ [0-9]+ $' "$WORKERS"
COMMS=$(for w in $NGINX_PID $WORKERS; do cat "/proc/$w/comm"; done | sort -u)
check_eq "reload nginx: master and workers share the name" "$NAME" "$COMMS"

# ---- 1. by name in /proc ----------------------------------------------------------
swap_cert 2002
check_eq "reload nginx: no reload, old serial still served" 1001 "$(served_serial)"
OUT=$("$PROBE" --name "$NAME" 2>&1)
check_match "reload nginx: by name, the master only" "signal 1 sent to 1 process\(es\) named $NAME" "$OUT"
check_eq "reload nginx: by name, new serial served" 2002 "$(wait_serial 2002)"
check_eq "reload nginx: by name, same master" "$NGINX_PID" "$(cat "$W/logs/nginx.pid")"
check "reload nginx: by name, master alive" kill -0 "$NGINX_PID"
# new workers replace the old ones (a reload, as nginx does it on HUP)
NEW_WORKERS=""
for _ in $(seq 50); do
    NEW_WORKERS=$(pgrep -P "$NGINX_PID" | sort | tr '\n' ' ')
    [ "$NEW_WORKERS" != "$WORKERS" ] && [ "$(pgrep -P "$NGINX_PID" | wc -l)" -eq 2 ] && break
    sleep 0.1
done
if [ "$NEW_WORKERS" != "$WORKERS" ]; then pass "reload nginx: by name, workers replaced"
else fail "reload nginx: by name, workers replaced" "still $WORKERS"; fi
check_match "reload nginx: nginx logged the reload" 'reconfiguring|SIGHUP' "$(cat "$W/logs/error.log")"

# ---- 2. by pidfile ------------------------------------------------------------------
swap_cert 3003
OUT=$("$PROBE" --pidfile "$W/logs/nginx.pid" 2>&1)
check_match "reload nginx: by pidfile" "signal 1 sent to pid $NGINX_PID from" "$OUT"
check_eq "reload nginx: by pidfile, new serial served" 3003 "$(wait_serial 3003)"
check_eq "reload nginx: by pidfile, same master" "$NGINX_PID" "$(cat "$W/logs/nginx.pid")"

# ---- 3. failures name what is missing ------------------------------------------------
OUT=$("$PROBE" --name "ck-absent-$$" 2>&1); RC=$?
check_eq "reload nginx: unknown name fails" 1 "$RC"
check_match "reload nginx: unknown name named" "ck-absent-$$: no such process" "$OUT"
printf 'garbage\n' >"$W/bad.pid"
OUT=$("$PROBE" --pidfile "$W/bad.pid" 2>&1); RC=$?
check_eq "reload nginx: bad pidfile fails" 1 "$RC"
check_match "reload nginx: bad pidfile named" "$W/bad.pid" "$OUT"
check "reload nginx: still alive after all" kill -0 "$NGINX_PID"
check_eq "reload nginx: still serving the last certificate" 3003 "$(served_serial)"
