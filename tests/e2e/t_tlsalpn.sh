#!/usr/bin/env bash
# tls-alpn-01 (RFC 8737) with the real static binary against a real Pebble, whose
# validation dials its tlsPort. A small TCP relay sits on that port in front of
# certkeep's responder (as a TCP load balancer would): it can hold Pebble's first
# connection while the test dials the responder itself with openssl s_client (the
# certificate per SNI name, and nothing for a ClientHello without acme-tls/1). `run`
# issues for two names, then the responder is gone while run stays up. Settings that
# cannot work are refused at start with exit 2 and one line.
set -u
. "$(dirname "$0")/lib.sh"
plan 21
PEBBLE_PORT=32100 PEBBLE_MGMT_PORT=32101 PEBBLE_TLS01_PORT=32102 PEBBLE_DNS_PORT=32153
PEBBLE_CTS_PORT=32155 PEBBLE_HTTP01_PORT=32180
. "$(dirname "$0")/pebble.sh"

ALPN_PORT=32103  # certkeep's responder; Pebble reaches it through the relay on $PEBBLE_TLS01_PORT
W=$CK_TMP/tlsalpn
mkdir -p "$W"
RELAY_PID="" RUN_PID=""
cleanup() {
    [ -z "$RUN_PID" ] || { kill -9 "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null; }
    [ -z "$RELAY_PID" ] || { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; }
    pebble_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then fail "tlsalpn: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
# every order validates: no authorization reused from an earlier one
if ! PEBBLE_AUTHZREUSE=0 pebble_start; then fail "tlsalpn: pebble start" "see $PEBBLE_LOG"; exit 1; fi

wait_for() {
    local end=$((SECONDS + $1))
    while [ $SECONDS -lt $end ]; do eval "$2" && return 0; sleep 0.2; done
    eval "$2"
}
port_open() { ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }

# The relay: each connection is logged to $W/va.log, held while $W/hold exists (at
# most 30 s), then spliced to the responder.
python3 - "$PEBBLE_TLS01_PORT" "$ALPN_PORT" "$W" >"$W/relay.log" 2>&1 <<'EOF' &
import os, socket, sys, threading, time
lport, tport, w = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport)); ls.listen(16)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except OSError: pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
def serve(c):
    with open(os.path.join(w, "va.log"), "a") as f: f.write("connection\n")
    end = time.time() + 30
    while os.path.exists(os.path.join(w, "hold")) and time.time() < end: time.sleep(0.05)
    try: t = socket.create_connection(("127.0.0.1", tport), timeout=10)
    except OSError: c.close(); return
    threading.Thread(target=pipe, args=(t, c), daemon=True).start()
    pipe(c, t)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
RELAY_PID=$!
if ! wait_for 10 "port_open $PEBBLE_TLS01_PORT"; then fail "tlsalpn: relay" "$(cat "$W/relay.log")"; exit 1; fi

# probe SNI ALPN|-: what s_client saw, then the certificate's text (if it got one)
probe() {
    local o alpn=()
    [ "$2" = - ] || alpn=(-alpn "$2")
    o=$(timeout 30 openssl s_client -connect "127.0.0.1:$ALPN_PORT" -servername "$1" "${alpn[@]}" \
        </dev/null 2>&1)
    printf '%s\n' "$o"
    printf '%s\n' "$o" | openssl x509 -noout -text 2>/dev/null
}

# ---- 1. run issues for two names; the test dials the responder while Pebble waits -------
N1=t1.alpn.test N2=t2.alpn.test OUT=$W/out
touch "$W/hold"
"$CK_BIN" run --domain "$N1" --domain "$N2" --challenge tls-alpn-01 \
    --tlsalpn01-listen "127.0.0.1:$ALPN_PORT" --email e2e@example.com --agree-tos \
    --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" --state "$W/state" \
    --out "$OUT" >"$W/run.log" 2>&1 &
RUN_PID=$!
if wait_for 60 '[ -s "$W/va.log" ] || ! kill -0 $RUN_PID 2>/dev/null'; [ -s "$W/va.log" ]; then
    pass "tlsalpn: Pebble dials its tlsPort during the order"
else fail "tlsalpn: Pebble dials its tlsPort during the order" "$(tail -n 3 "$W/run.log" | tr '\n' ' ')"; fi
check_match "tlsalpn: run says where it answers" "tls-alpn-01: answering on 127\.0\.0\.1:$ALPN_PORT" \
    "$(cat "$W/run.log")"
P1=$(probe "$N1" acme-tls/1) P2=$(probe "$N2" acme-tls/1)
PH=$(probe "$N1" http/1.1) PN=$(probe "$N1" -) PU=$(probe other.alpn.test acme-tls/1)
rm -f "$W/hold"  # Pebble goes on
check_match "tlsalpn: acme-tls/1 for $N1: negotiated" "ALPN protocol: acme-tls/1" "$P1"
check_match "tlsalpn: ... its certificate names $N1 alone" "DNS:$N1\$" "$P1"
check_match "tlsalpn: ... with the critical acmeIdentifier" "1\.3\.6\.1\.5\.5\.7\.1\.31: critical" "$P1"
check_match "tlsalpn: acme-tls/1 for $N2: its own certificate" "DNS:$N2\$" "$P2"
if printf '%s' "$PH" | grep -q "BEGIN CERTIFICATE"; then
    fail "tlsalpn: ALPN http/1.1 gets no certificate" "$(printf '%s' "$PH" | head -c 300)"
else pass "tlsalpn: ALPN http/1.1 gets no certificate"; fi
check_match "tlsalpn: ... but the no_application_protocol alert" "no application protocol" "$PH"
if printf '%s' "$PN" | grep -q "BEGIN CERTIFICATE"; then
    fail "tlsalpn: no ALPN gets no certificate" "$(printf '%s' "$PN" | head -c 300)"
else pass "tlsalpn: no ALPN gets no certificate"; fi
if printf '%s' "$PU" | grep -q "BEGIN CERTIFICATE"; then
    fail "tlsalpn: a name not in the order gets no certificate" "$(printf '%s' "$PU" | head -c 300)"
else pass "tlsalpn: a name not in the order gets no certificate"; fi

if wait_for 60 'grep -q "next renewal at" "$W/run.log" || ! kill -0 $RUN_PID 2>/dev/null' &&
    [ -s "$OUT/$N1/fullchain.pem" ]; then pass "tlsalpn: run issued"
else fail "tlsalpn: run issued" "$(tail -n 3 "$W/run.log" | tr '\n' ' ')"; fi
check_eq "tlsalpn: the certificate holds both names" "DNS:$N1, DNS:$N2" \
    "$(openssl x509 -in "$OUT/$N1/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n 1 | tr -d ' ' | sed 's/,/, /')"
# Pebble validated each name on its tlsPort (from each of its vantage points), through the relay
check_eq "tlsalpn: Pebble set both authorizations valid" 2 \
    "$(grep -c 'set VALID by completed challenge' "$PEBBLE_LOG")"
check_eq "tlsalpn: ... each validation Pebble started came through its tlsPort" \
    "$(grep -o 'Starting [0-9]* validations' "$PEBBLE_LOG" | awk '{n += $2} END {print n + 0}')" \
    "$(wc -l <"$W/va.log")"
check "tlsalpn: after the order the responder is gone" bash -c "! ss -Hltn '( sport = :$ALPN_PORT )' | grep -q ."
check "tlsalpn: ... while run stays up" kill -0 "$RUN_PID"
kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "tlsalpn: run stops on SIGTERM (exit 0)" 0 $?
RUN_PID=""

# ---- 2. what cannot work is refused at start --------------------------------------------
ck() { "$CK_BIN" issue --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --state "$W/state-x" --out "$W/out-x" "$@" >"$W/x.log" 2>&1; }
ck --domain '*.alpn.test' --challenge tls-alpn-01
check_eq "tlsalpn: a wildcard: exit 2" 2 $?
check_match "tlsalpn: ... naming the name and dns-01" "\*\.alpn\.test: a wildcard name needs challenge.type dns-01" "$(cat "$W/x.log")"
ck --domain "$N1" --tlsalpn01-listen ":$ALPN_PORT"
check_eq "tlsalpn: its listen address with http-01: exit 2" 2 $?
# the relay holds Pebble's tlsPort: a refused bind, one line naming the port, no order
before=$(pebble_order_count)
ck --domain "$N1" --challenge tls-alpn-01 --tlsalpn01-listen "127.0.0.1:$PEBBLE_TLS01_PORT"
rc=$?
if [ "$rc" -ne 0 ] && [ "$(grep -c "cannot listen on 127\.0\.0\.1:$PEBBLE_TLS01_PORT: .*port $PEBBLE_TLS01_PORT" "$W/x.log")" = 1 ] &&
    [ "$(pebble_order_count)" = "$before" ]; then
    pass "tlsalpn: a taken port fails in one line naming it, before any order"
else fail "tlsalpn: a taken port fails in one line naming it, before any order" "exit $rc; $(cat "$W/x.log" | tr '\n' ' ')"; fi
