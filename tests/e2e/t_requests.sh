#!/usr/bin/env bash
# Requests and TCP connections per issuance (issue 7, "fewer round trips"), the real
# static binary against a real Pebble behind a TCP relay that counts connections.
# Pinned: the sequence of requests, each kind counted exactly, polls only where the
# answer is awaited (at least one each; how many more depends on timing, not pinned).
#   fresh account, 1 name:  dir nonce newAccount newOrder authz chall authz-poll+ finalize order-poll+ cert
#                           (10 with one poll each; 13 before)
#   fresh account, 3 names: dir nonce newAccount newOrder 3×authz 3×chall order-poll+ finalize order-poll+ cert
#                           (14; 18 before)
#   existing account, new name: as a fresh account without newAccount: account.json
#                           has its URL (9; 12 before)
#   existing account, valid authorizations: dir nonce newOrder finalize order-poll+ cert (6; 9 before)
# An account the CA does not know (any more) is asked for again and the order sent
# again; a new contact address looks the account up and updates it. One TCP
# connection each time; one newNonce each time, also when Pebble rejects half the nonces.
set -u
. "$(dirname "$0")/lib.sh"
plan 47
PEBBLE_PORT=26500 PEBBLE_MGMT_PORT=26501 PEBBLE_TLS01_PORT=26502 PEBBLE_DNS_PORT=26553
PEBBLE_CTS_PORT=26555 PEBBLE_HTTP01_PORT=26580
RELAY_PORT=26510
. "$(dirname "$0")/pebble.sh"

RELAY_PID=""
cleanup() {
    [ -z "$RELAY_PID" ] || { kill "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null; }
    pebble_stop
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "requests: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi

# A TCP relay 127.0.0.1:$RELAY_PORT -> Pebble that appends a line to $ACCEPTS per
# accepted connection. Pebble builds its URLs from the Host header, so every request
# of the issuance comes through here.
ACCEPTS=$CK_TMP/accepts
: >"$ACCEPTS"
cat >"$CK_TMP/relay.py" <<'EOF'
import socket, sys, threading
lport, tport, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def pump(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass
def handle(c):
    try:
        u = socket.create_connection(("127.0.0.1", tport))
    except OSError:
        c.close()
        return
    t = threading.Thread(target=pump, args=(u, c), daemon=True)
    t.start()
    pump(c, u)
    t.join()
    c.close()
    u.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", lport))
s.listen(64)
while True:
    c, _ = s.accept()
    with open(log, "a") as f:
        f.write("accept\n")
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
python3 "$CK_TMP/relay.py" "$RELAY_PORT" "$PEBBLE_PORT" "$ACCEPTS" 2>"$CK_TMP/relay.log" &
RELAY_PID=$!
DIR_URL="https://localhost:$RELAY_PORT/dir"

OUT=$CK_TMP/out
RUN=0
# ck_issue STATE ARGS...: certkeep issue through the relay. Afterwards $SEQ holds the
# kinds of the requests Pebble logged meanwhile ("dir nonce-plz sign-me-up ..."),
# $CONNS the connections the relay accepted, $LOG the output file.
ck_issue() {
    local state=$CK_TMP/state-$1; shift
    RUN=$((RUN + 1))
    LOG=$CK_TMP/run-$RUN.log
    local lines conns rc
    lines=$(wc -l <"$PEBBLE_LOG")
    conns=$(wc -l <"$ACCEPTS")
    "$CK_BIN" issue --email "${EMAIL:-e2e@example.com}" --agree-tos --directory "$DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$OUT" --state "$state" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" "$@" >"$LOG" 2>&1
    rc=$?
    SEQ=$(tail -n +"$((lines + 1))" "$PEBBLE_LOG" | sed -nE 's/.* (GET|POST|HEAD) \/([^/ ]*).*/\2/p' | tr '\n' ' ')
    CONNS=$(($(wc -l <"$ACCEPTS") - conns))
    return $rc
}
# count KIND: requests of that kind in $SEQ.
count() { printf '%s' "$SEQ" | tr ' ' '\n' | grep -cx -- "$1"; }
# polls: POST-as-GET looks at an authorization after its fetch, and at the order.
nonpolls() { echo $(($(echo $SEQ | wc -w) - $(count my-order) - $(count authZ) + $1)); }
# shape NAME REGEX: the whole sequence matches.
shape() {
    if printf '%s' "$SEQ" | grep -Eqx -- "$2"; then pass "$1"
    else fail "$1" "sequence: $SEQ"; fi
}
ran() {  # ran NAME: exit status of the last ck_issue was $1 (0)
    if [ "$2" -eq 0 ]; then pass "$1"; else fail "$1" "$(tail -n 3 "$LOG" | tr '\n' ' ')"; fi
}

echo "-- Pebble: no nonce rejection, authorizations reused"
if ! PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=100 pebble_start; then
    fail "requests: pebble start" "see $PEBBLE_LOG"; exit 1
fi
for i in $(seq 1 50); do
    curl -fsS --cacert "$PEBBLE_WFE_CA" -o /dev/null "$DIR_URL" 2>/dev/null && break
    sleep 0.1
done
check "requests: relay answers" curl -fsS --cacert "$PEBBLE_WFE_CA" -o /dev/null "$DIR_URL"

# ---- 1. fresh account, one name --------------------------------------------------
ck_issue a --domain one.example.com; ran "fresh, 1 name: exit 0" $?
echo "   fresh, 1 name: $(echo $SEQ | wc -w) requests: $SEQ"
shape "fresh, 1 name: dir nonce newAccount newOrder authz chall authz-poll+ finalize order-poll+ cert" \
    'dir nonce-plz sign-me-up order-plz authZ chalZ (authZ )+finalize-order (my-order )+certZ '
check_eq "fresh, 1 name: one newAccount (a new key has no account to look up)" 1 "$(count sign-me-up)"
check_eq "fresh, 1 name: 8 requests besides polls" 8 "$(nonpolls 1)"
check_eq "fresh, 1 name: one newNonce" 1 "$(count nonce-plz)"
check_eq "fresh, 1 name: one TCP connection" 1 "$CONNS"
check_match "fresh, 1 name: account created" 'created account' "$(cat "$LOG")"

# ---- 2. fresh account, three names -----------------------------------------------
ck_issue b --domain t1.example.com --domain t2.example.com --domain t3.example.com
ran "fresh, 3 names: exit 0" $?
echo "   fresh, 3 names: $(echo $SEQ | wc -w) requests: $SEQ"
shape "fresh, 3 names: 3 authz, 3 chall, then the order polled" \
    'dir nonce-plz sign-me-up order-plz (authZ ){3}(chalZ ){3}(my-order )+finalize-order (my-order )+certZ '
check_eq "fresh, 3 names: no authorization polled (3 fetches)" 3 "$(count authZ)"
check_eq "fresh, 3 names: 12 requests besides polls" 12 "$(nonpolls 3)"
check_eq "fresh, 3 names: one TCP connection" 1 "$CONNS"

# ---- 3. existing account, a new name ---------------------------------------------
ck_issue a --domain two.example.com; ran "existing account, new name: exit 0" $?
echo "   existing account, new name: $(echo $SEQ | wc -w) requests: $SEQ"
shape "existing account, new name: no newAccount (account.json), then as fresh" \
    'dir nonce-plz order-plz authZ chalZ (authZ )+finalize-order (my-order )+certZ '
check_match "existing account, new name: the saved account is used" 'using saved account' "$(cat "$LOG")"
check_eq "existing account, new name: one TCP connection" 1 "$CONNS"

# ---- 4. existing account, authorizations still valid ------------------------------
ck_issue a --domain one.example.com; ran "valid authorizations: exit 0" $?
echo "   valid authorizations: $(echo $SEQ | wc -w) requests: $SEQ"
shape "valid authorizations: the ready order is finalized at once" \
    'dir nonce-plz order-plz finalize-order (my-order )+certZ '
check_eq "valid authorizations: no authorization fetched" 0 "$(count authZ)"
check_eq "valid authorizations: no challenge answered" 0 "$(count chalZ)"
check_eq "valid authorizations: one TCP connection" 1 "$CONNS"

# ---- 5. a store: its fresh account key skips the lookup too -----------------------
ck_issue c --store-dir "$CK_TMP/store" --domain store.example.com; ran "store, fresh key: exit 0" $?
check_eq "store, fresh key: one newAccount" 1 "$(count sign-me-up)"
check_match "store, fresh key: account created" 'created account' "$(cat "$LOG")"
ck_issue d --store-dir "$CK_TMP/store" --domain store2.example.com; ran "store, its key again: exit 0" $?
check_eq "store, its key again: no newAccount (the store's account.json)" 0 "$(count sign-me-up)"
check_match "store, its key again: the saved account is used" 'using saved account' "$(cat "$LOG")"
check_eq "store, its key again: one TCP connection" 1 "$CONNS"

# ---- 6. a new contact address: looked up, updated, saved -----------------------------
EMAIL=new@example.com ck_issue a --domain one.example.com; ran "new contact: exit 0" $?
shape "new contact: lookup, contact update, then the order" \
    'dir nonce-plz sign-me-up my-account order-plz finalize-order (my-order )+certZ '
check_match "new contact: the account's contact is updated" 'account contact set to mailto:new@example.com' "$(cat "$LOG")"
EMAIL=new@example.com ck_issue a --domain one.example.com; ran "new contact, again: exit 0" $?
check_eq "new contact, again: no newAccount" 0 "$(count sign-me-up)"
EMAIL=new@example.com  # from here on: account.json's contact

# ---- 7. account.json names an account this CA does not know: asked for, order again --
pebble_stop
echo "-- Pebble restarted: it forgot every account"
if ! PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 pebble_start; then
    fail "requests: pebble restart" "see $PEBBLE_LOG"; exit 1
fi
ck_issue a --domain three.example.com; ran "unknown account: exit 0" $?
shape "unknown account: newOrder refused, newAccount, newOrder again" \
    'dir nonce-plz order-plz sign-me-up order-plz authZ chalZ (authZ )+finalize-order (my-order )+certZ '
check_match "unknown account: refusal logged" 'accountDoesNotExist.*asking for the key.s account' "$(cat "$LOG")"
check_match "unknown account: account created" 'created account' "$(cat "$LOG")"
check_eq "unknown account: one TCP connection" 1 "$CONNS"
ck_issue a --domain four.example.com; ran "unknown account, next time: exit 0" $?
check_eq "unknown account, next time: account.json has the new URL (no newAccount)" 0 "$(count sign-me-up)"

# the key replaced, account.json left as it was: the URL is not the key's account
rm -f "$CK_TMP/state-a/account.key"
cp "$CK_TMP/state-b/account.key" "$CK_TMP/state-a/account.key"
ck_issue a --domain five.example.com; ran "another key's account: exit 0" $?
shape "another key's account: newOrder refused, newAccount, newOrder again" \
    'dir nonce-plz order-plz sign-me-up order-plz authZ chalZ (authZ )+finalize-order (my-order )+certZ '

# ---- 8. half the nonces rejected: badNonce answers carry the next nonce ------------
pebble_stop
echo "-- Pebble: 50% of nonces rejected"
if ! PEBBLE_WFE_NONCEREJECT=50 PEBBLE_AUTHZREUSE=0 pebble_start; then
    fail "requests: pebble restart" "see $PEBBLE_LOG"; exit 1
fi
ck_issue e --domain n1.example.com --domain n2.example.com --log-level debug
ran "bad nonces: exit 0" $?
retries=$(grep -c 'badNonce, retrying' "$LOG")
echo "   bad nonces: $(echo $SEQ | wc -w) requests, $retries badNonce retries"
check_eq "bad nonces: one newNonce all the same" 1 "$(count nonce-plz)"
check_eq "bad nonces: one TCP connection" 1 "$CONNS"
# Pebble draws each rejection at random (12 POSTs all accepted happens, rarely):
# every 400 it sent must have been a retried badNonce
rejected=$(grep -c ' -> 400$' "$LOG")
check_eq "bad nonces: each badNonce answer was retried ($rejected)" "$rejected" "$retries"
