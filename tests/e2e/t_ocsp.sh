#!/usr/bin/env bash
# OCSP stapling material (ocsp.der beside the certificate), the real static binary
# against a real Pebble whose certificates name a real responder (`openssl ocsp`
# serving an index for Pebble's intermediate, its key from Pebble's management port;
# ports 324xx): responder down, init still exits 0 and warns in one line; good, the
# file written (0644, GET); a response signed by another key, by a delegated
# responder without id-kp-OCSPSigning, or expired is refused; a delegated responder
# with it is taken; --no-ocsp and a certificate naming no responder fetch nothing;
# nginx staples the file; in `run`, a responder down keeps the last good file and
# counts the failure; a revoked answer is one line, a metric, a webhook and a new
# certificate, with no response beside it from the old one.
set -u
. "$(dirname "$0")/lib.sh"
PEBBLE_PORT=32400 PEBBLE_MGMT_PORT=32401 PEBBLE_TLS01_PORT=32402 PEBBLE_DNS_PORT=32453
PEBBLE_CTS_PORT=32455 PEBBLE_HTTP01_PORT=32480
OCSP_PORT=32490 LISTEN_PORT=32491 HOOK_PORT=32492 NGINX_PORT=32443
PEBBLE_OCSP_URL=http://127.0.0.1:$OCSP_PORT/ PEBBLE_KEY_ALGORITHM=rsa
. "$(dirname "$0")/pebble.sh"
plan 40

RESP_PID="" NGINX_PID=""
responder_stop() {
    [ -n "$RESP_PID" ] || return 0
    kill "$RESP_PID" 2>/dev/null; wait "$RESP_PID" 2>/dev/null
    for _ in $(seq 50); do _pebble_port_busy "$OCSP_PORT" || break; sleep 0.1; done
    RESP_PID=""
}
cleanup() {
    responder_stop; kill_bg
    [ -z "$NGINX_PID" ] || kill -QUIT "$NGINX_PID" 2>/dev/null
    pebble_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "ocsp: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! pebble_start; then fail "ocsp: pebble start" "see $PEBBLE_LOG"; exit 1; fi

W=$CK_TMP/ocsp
mkdir -p "$W"
pebble_intermediate "$W/inter.pem" && pebble_intermediate_key "$W/inter.key"
IDX=$W/index.txt RLOG=$W/responder.log
: >"$IDX"; : >"$RLOG"

# responder_start SIGNER KEY [ARGS...]: openssl ocsp for Pebble's intermediate, signing with KEY.
responder_start() {
    local signer=$1 key=$2; shift 2
    responder_stop
    openssl ocsp -port "$OCSP_PORT" -index "$IDX" -CA "$W/inter.pem" -rsigner "$signer" \
        -rkey "$key" -ndays 1 "$@" >>"$RLOG" 2>&1 &
    RESP_PID=$!
    for _ in $(seq 50); do _pebble_port_busy "$OCSP_PORT" && return 0; sleep 0.1; done
    return 1
}
# serve_file FILE: a responder that answers every request with FILE (a crafted response).
serve_file() {
    responder_stop
    python3 - "$OCSP_PORT" "$1" >>"$RLOG" 2>&1 <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
body = open(sys.argv[2], 'rb').read()
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def answer(self):
        print("ocsp: Received request, 1st line: %s /" % self.command, flush=True)
        n = int(self.headers.get('Content-Length') or 0)
        if n: self.rfile.read(n)
        self.send_response(200)
        self.send_header('Content-Type', 'application/ocsp-response')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = answer
HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
    RESP_PID=$!
    for _ in $(seq 50); do _pebble_port_busy "$OCSP_PORT" && return 0; sleep 0.1; done
    return 1
}
requests() { grep -c 'Received request' "$RLOG"; }
# craft_resp OUT SIGNER KEY THIS NEXT: a good response for the volume's certificate
# with thisUpdate/nextUpdate THIS/NEXT seconds from now, signed by KEY.
craft_resp() {
    python3 - "$V/$NAME/cert.pem" "$W/inter.pem" "$2" "$3" "$4" "$5" "$1" <<'PY'
import datetime as dt, sys
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import hashes, serialization
leaf = x509.load_pem_x509_certificate(open(sys.argv[1], 'rb').read())
issuer = x509.load_pem_x509_certificate(open(sys.argv[2], 'rb').read())
signer = x509.load_pem_x509_certificate(open(sys.argv[3], 'rb').read())
key = serialization.load_pem_private_key(open(sys.argv[4], 'rb').read(), None)
now = dt.datetime.now(dt.timezone.utc)
b = (ocsp.OCSPResponseBuilder()
     .add_response(cert=leaf, issuer=issuer, algorithm=hashes.SHA1(),
                   cert_status=ocsp.OCSPCertStatus.GOOD,
                   this_update=now + dt.timedelta(seconds=int(sys.argv[5])),
                   next_update=now + dt.timedelta(seconds=int(sys.argv[6])),
                   revocation_time=None, revocation_reason=None)
     .responder_id(ocsp.OCSPResponderEncoding.NAME, signer))
open(sys.argv[7], 'wb').write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
PY
}
# index_add STATUS CERT: the certificate in the responder's index, V (valid) or R (revoked).
index_add() {
    local s exp rev=""
    s=$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)
    exp=$(date -u -d "+80 days" +%y%m%d%H%M%SZ)
    [ "$1" = V ] || rev=$(date -u -d "-1 hour" +%y%m%d%H%M%SZ)
    grep -v "	$s	" "$IDX" >"$IDX.tmp"; mv "$IDX.tmp" "$IDX"
    printf '%s\t%s\t%s\t%s\tunknown\t/CN=%s\n' "$1" "$exp" "$rev" "$s" "$NAME" >>"$IDX"
}

NAME=ocsp.example.com
# ck CMD LOG OUT STATE [ARGS...]: certkeep against Pebble; output in $CK_TMP/LOG.log, status $?.
ck() {
    local cmd=$1 log=$CK_TMP/$2.log out=$3 state=$4; shift 4
    "$CK_BIN" "$cmd" --domain "${DOMAIN:-$NAME}" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$out" --state "$state" "$@" \
        >"$log" 2>&1
}
# run_bg LOG OUT STATE [ARGS...]: certkeep run in the background (RUN: its own pid).
run_bg() {
    local log=$CK_TMP/$1.log out=$2 state=$3; shift 3
    "$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos \
        --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --out "$out" --state "$state" \
        --listen "127.0.0.1:$LISTEN_PORT" "$@" >"$log" 2>&1 &
    RUN=$!; BG_PIDS="$BG_PIDS $RUN"
}
stop_run() { kill -TERM "$RUN" 2>/dev/null; wait "$RUN" 2>/dev/null; }
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }
ocsp_lines() { grep -c ' ocsp[.:]' "$CK_TMP/$1.log"; }
resp_text() { openssl ocsp -respin "$1" -resp_text -noverify 2>&1; }
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
wait_for() {
    local t=$(( $1 * 10 )); shift
    while [ $t -gt 0 ]; do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; t=$((t - 1)); done
    return 1
}
metric() {
    curl -fsS "http://127.0.0.1:$LISTEN_PORT/metrics" 2>/dev/null |
        sed -n "s/^$1{cert=\"$NAME\"} //p"
}

V=$CK_TMP/v S=$CK_TMP/s
echo "-- the responder down: init issues, warns in one line, exits 0"
check "ocsp: init with the responder down: exit 0" ck init init0 "$V" "$S"
check_eq "ocsp: one warning line naming the responder" 1 \
    "$(grep -c "warn  ocsp: OCSP: .*127.0.0.1.*$OCSP_PORT" "$CK_TMP/init0.log")"
check "ocsp: no ocsp.der without a response" test ! -e "$V/$NAME/ocsp.der"
SERIAL=$(serial_of "$V/$NAME/cert.pem")

echo "-- good: written beside the certificate"
index_add V "$V/$NAME/cert.pem"
responder_start "$W/inter.pem" "$W/inter.key"
check "ocsp: init with a good answer: exit 0" ck init init1 "$V" "$S"
check "ocsp: ocsp.der written" test -s "$V/$NAME/ocsp.der"
check_eq "ocsp: ocsp.der is 0644" 644 "$(stat -c %a "$(readlink -f "$V/$NAME/ocsp.der")")"
check_match "ocsp: openssl reads it: good" "Cert Status: good" "$(resp_text "$V/$NAME/ocsp.der")"
check_match "ocsp: for our serial" "Serial Number: $SERIAL" "$(resp_text "$V/$NAME/ocsp.der")"
check "ocsp: it verifies under Pebble's intermediate (openssl)" \
    openssl ocsp -respin "$V/$NAME/ocsp.der" -issuer "$W/inter.pem" -cert "$V/$NAME/cert.pem" \
    -VAfile "$W/inter.pem" -no_nonce
check_match "ocsp: a short request goes as GET" "1st line: GET /" "$(tail -n 3 "$RLOG")"
check_match "ocsp: one line says so" "info  ocsp: serial .* good until .*ocsp.der written" "$(logof init1)"
n=$(requests)
check "ocsp: init again: exit 0" ck init init2 "$V" "$S"
check_eq "ocsp: a fresh ocsp.der is not fetched again" "$n" "$(requests)"
cp "$V/$NAME/ocsp.der" "$W/good.der"

echo "-- nginx staples it"
NGX=$W/nginx
mkdir -p "$NGX/logs"
cat >"$NGX/nginx.conf" <<EOF
worker_processes 1;
pid $NGX/logs/nginx.pid;
error_log $NGX/logs/error.log info;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path $NGX/tmp_body;
    proxy_temp_path $NGX/tmp_proxy;
    fastcgi_temp_path $NGX/tmp_fastcgi;
    uwsgi_temp_path $NGX/tmp_uwsgi;
    scgi_temp_path $NGX/tmp_scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT ssl;
        server_name $NAME;
        ssl_certificate $V/$NAME/fullchain.pem;
        ssl_certificate_key $V/$NAME/privkey.pem;
        ssl_stapling on;
        ssl_stapling_file $V/$NAME/ocsp.der;
        location / { return 200 "hello\n"; }
    }
}
EOF
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
if "$NGINX_BIN" -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/logs/error.log" >"$NGX/start.log" 2>&1 &&
    wait_for 5 "test -s '$NGX/logs/nginx.pid'"; then
    NGINX_PID=$(cat "$NGX/logs/nginx.pid")
    out=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$NGINX_PORT" -servername "$NAME" \
        -status 2>/dev/null)
    check_match "ocsp: nginx staples it: Cert Status: good" "Cert Status: good" "$out"
    check_match "ocsp: ...for the served serial" "Serial Number: $SERIAL" "$out"
    kill -QUIT "$NGINX_PID" 2>/dev/null; NGINX_PID=""
else
    fail "ocsp: nginx starts with ssl_stapling_file" "$(tail -n 3 "$NGX/start.log" "$NGX/logs/error.log" | tr '\n' ' ')"
    fail "ocsp: ...for the served serial" "nginx did not start"
fi

echo "-- refused: another key, a delegate without OCSPSigning, expired"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=impostor" \
    -keyout "$W/other.key" -out "$W/other.pem" >/dev/null 2>&1
delegate() {  # delegate NAME EXT: a responder certificate Pebble's intermediate signed
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$W/$1.key" -out "$W/$1.csr" \
        >/dev/null 2>&1
    printf '%s\n' "$2" >"$W/$1.ext"
    openssl x509 -req -in "$W/$1.csr" -CA "$W/inter.pem" -CAkey "$W/inter.key" -CAcreateserial \
        -days 2 -extfile "$W/$1.ext" -out "$W/$1.pem" >/dev/null 2>&1
}
delegate deleg-eku "extendedKeyUsage=OCSPSigning"
delegate deleg-none "keyUsage=critical,digitalSignature"
rm -f "$V/$NAME/ocsp.der"
responder_start "$W/other.pem" "$W/other.key"
check "ocsp: another key: init exit 0" ck init wrong "$V" "$S"
check_match "ocsp: another key: refused in one line" \
    'warn  ocsp: .*not signed by the issuer; the responder certificate "impostor" is not the issuer.s' \
    "$(logof wrong)"
check "ocsp: another key: nothing written" test ! -e "$V/$NAME/ocsp.der"
responder_start "$W/deleg-none.pem" "$W/deleg-none.key"
ck init noeku "$V" "$S"
check_match "ocsp: a delegate without OCSPSigning: refused" \
    'warn  ocsp: .*"deleg-none" lacks id-kp-OCSPSigning' "$(logof noeku)"
check "ocsp: a delegate without OCSPSigning: nothing written" test ! -e "$V/$NAME/ocsp.der"
craft_resp "$W/expired.der" "$W/inter.pem" "$W/inter.key" -172800 -86400
serve_file "$W/expired.der"
ck init expired "$V" "$S"
check_match "ocsp: expired: refused" 'warn  ocsp: .*expired [0-9]+ s ago' "$(logof expired)"
check "ocsp: expired: nothing written" test ! -e "$V/$NAME/ocsp.der"
responder_start "$W/deleg-eku.pem" "$W/deleg-eku.key"
ck init eku "$V" "$S"
check_match "ocsp: a delegate with OCSPSigning: taken" "good until .*delegated responder" "$(logof eku)"
check_match "ocsp: ...its response written" "Cert Status: good" "$(resp_text "$V/$NAME/ocsp.der")"

echo "-- nothing fetched: --no-ocsp, a certificate naming no responder"
rm -f "$V/$NAME/ocsp.der"
n=$(requests)
ck init noocsp "$V" "$S" --no-ocsp
check_eq "ocsp: --no-ocsp: nothing asked, nothing said" "$n 0" "$(requests) $(ocsp_lines noocsp)"
check "ocsp: --no-ocsp: no file" test ! -e "$V/$NAME/ocsp.der"
VC=$CK_TMP/vc
craft_cert "$VC/plain.example.com" plain.example.com 60 864000
rc=0; DOMAIN=plain.example.com ck init plain "$VC" "$CK_TMP/sc" || rc=$?
check_eq "ocsp: no responder named: init uses the volume" "0 1" \
    "$rc $(grep -c 'using the volume' "$CK_TMP/plain.log")"
check_eq "ocsp: no responder named: nothing asked, nothing said, no file" "$n 0 no" \
    "$(requests) $(ocsp_lines plain) $(test -e "$VC/plain.example.com/ocsp.der" && echo yes || echo no)"

echo "-- run: the responder down keeps the last good file"
craft_resp "$W/half.der" "$W/inter.pem" "$W/inter.key" -7200 3600  # past half its validity
cp "$W/half.der" "$V/$NAME/ocsp.der"
responder_stop
run_bg run1 "$V" "$S"
if wait_for 30 '[ "$(metric certkeep_ocsp_failures_total)" = 1 ]'; then
    pass "ocsp: run: the failure counted (certkeep_ocsp_failures_total 1)"
else
    fail "ocsp: run: the failure counted" "metric: '$(metric certkeep_ocsp_failures_total)'; $(tail -n 3 "$CK_TMP/run1.log" | tr '\n' ' ')"
fi
check "ocsp: run: the last good ocsp.der stays" cmp -s "$W/half.der" "$V/$NAME/ocsp.der"
check_match "ocsp: run: one warning says so" "warn  ocsp: .*the last good ocsp.der stays" "$(logof run1)"
stop_run

echo "-- run: revoked (elsewhere): one line, a metric, a webhook, a new certificate"
HOOKS=$W/hooks.log
: >"$HOOKS"
python3 - "$HOOK_PORT" "$HOOKS" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        open(sys.argv[2], 'ab').write(body + b'\n')
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
BG_PIDS="$BG_PIDS $!"
wait_for 10 "_pebble_port_busy $HOOK_PORT" || fail "ocsp: webhook receiver" "not listening on $HOOK_PORT"
cp -a "$S" "$CK_TMP/s-elsewhere"
check "ocsp: certkeep revoke (another host's state): exit 0" ck revoke rv "$V" "$CK_TMP/s-elsewhere"
index_add R "$V/$NAME/cert.pem"
responder_start "$W/inter.pem" "$W/inter.key"
rm -f "$V/$NAME/ocsp.der"
before=$(pebble_issued_count)
CERTKEEP_WEBHOOK_URL=http://127.0.0.1:$HOOK_PORT/hook run_bg run2 "$V" "$S"
wait_for 60 '[ "$(serial_of "$V/$NAME/cert.pem")" != "$SERIAL" ] && grep -q "serial .* is unknown to it\|ocsp: serial" "$CK_TMP/run2.log"'
check_eq "ocsp: revoked: one error line" 1 "$(grep -c "error ocsp.revoked: .*serial .* was revoked at" "$CK_TMP/run2.log")"
check_eq "ocsp: revoked: certkeep_ocsp_revoked_total 1" 1 "$(metric certkeep_ocsp_revoked_total)"
check_match "ocsp: revoked: a webhook POST says so" '"event":"failure".*was revoked at' "$(cat "$HOOKS")"
check_eq "ocsp: revoked: one new certificate issued" $((before + 1)) "$(pebble_issued_count)"
NEW=$(serial_of "$V/$NAME/cert.pem")
check "ocsp: revoked: the volume holds the new one" test -n "$NEW" -a "$NEW" != "$SERIAL"
check "ocsp: no response for the old one beside the new one" test ! -e "$V/$NAME/ocsp.der"
# the responder learns the new one; SIGUSR1 asks run to look again now (seccomp on)
index_add V "$V/$NAME/cert.pem"
responder_start "$W/inter.pem" "$W/inter.key"
kill -USR1 "$RUN"
wait_for 30 "test -s '$V/$NAME/ocsp.der'"
check_match "ocsp: run writes the new certificate's ocsp.der" "Serial Number: $NEW" \
    "$(resp_text "$V/$NAME/ocsp.der")"
check_eq "ocsp: certkeep_ocsp_next_update_seconds is its nextUpdate" \
    "$(date -u -d "$(resp_text "$V/$NAME/ocsp.der" | sed -n 's/^ *Next Update: //p')" +%s)" \
    "$(metric certkeep_ocsp_next_update_seconds)"
stop_run
