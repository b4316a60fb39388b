#!/usr/bin/env bash
# The account key lives in its own process (issue 9, Hardening): while `certkeep run`
# issues, a child of run holds the key with one descriptor open; run's own memory
# never holds the private scalar (the child's does: the scan can find it); the child is
# gone once the issuance ends, and run exits 0.
set -u
. "$(dirname "$0")/lib.sh"
plan 8
PEBBLE_PORT=31300 PEBBLE_MGMT_PORT=31301 PEBBLE_TLS01_PORT=31302 PEBBLE_DNS_PORT=31353
PEBBLE_CTS_PORT=31355 PEBBLE_HTTP01_PORT=31380
. "$(dirname "$0")/pebble.sh"

LISTEN_PORT=31390
cleanup() { kill_bg; pebble_stop; }
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "signer: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
# A VA that sleeps and Retry-After 1 s on authorizations: the issuance lasts seconds.
if ! PEBBLE_VA_NOSLEEP="" PEBBLE_RETRY_AUTHZ=1 pebble_start; then
    fail "signer: pebble start" "see $PEBBLE_LOG"; exit 1
fi

NAME=signer.example.com
OUT=$CK_TMP/out
STATE=$CK_TMP/state
mkdir -p "$STATE"
# Our own account key, so that the test knows its private scalar.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$STATE/account.key" 2>/dev/null
chmod 600 "$STATE/account.key"
SCALAR=$(openssl pkey -in "$STATE/account.key" -noout -text 2>/dev/null |
    awk '/^priv:/{p=1; next} /^pub:/{p=0} p' | tr -d ' :\n')
# leading zero bytes are dropped by the text form: pad to 32 bytes
while [ ${#SCALAR} -lt 64 ]; do SCALAR=0$SCALAR; done

# mem_has PID HEX: 0 when the bytes are anywhere in PID's readable memory.
mem_has() {
    python3 - "$1" "$2" <<'EOF'
import re, sys
pid, needle = sys.argv[1], bytes.fromhex(sys.argv[2])
found = False
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if not m or m.group(3)[0] != "r" or "[vvar" in line or "[vsyscall" in line:
            continue
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        try:
            mem.seek(lo)
            if needle in mem.read(hi - lo):
                found = True
                break
        except OSError:
            pass
sys.exit(0 if found else 1)
EOF
}

"$CK_BIN" run --domain "$NAME" --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" \
    --state "$STATE" --out "$OUT" --listen "127.0.0.1:$LISTEN_PORT" >"$CK_TMP/run.log" 2>&1 &
RUN_PID=$!
BG_PIDS="$BG_PIDS $RUN_PID"

SIGNER=""
for _ in $(seq 1 1200); do
    SIGNER=$(pgrep -P "$RUN_PID" | head -n 1)
    [ -n "$SIGNER" ] && break
    [ -e "$OUT/$NAME/fullchain.pem" ] && break
    sleep 0.05
done
if [ -n "$SIGNER" ]; then
    pass "signer: run has a child while it issues"
    check_eq "signer: the child keeps one descriptor (3)" "3" "$(ls "/proc/$SIGNER/fd" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
    check "signer: the child's memory holds the account key" mem_has "$SIGNER" "$SCALAR"
    check_fails "signer: run's memory does not hold it while issuing" mem_has "$RUN_PID" "$SCALAR"
else
    fail "signer: run has a child while it issues" "no child of $RUN_PID seen; $(tail -n 3 "$CK_TMP/run.log")"
    skip 3 "no signer child seen"
fi

for _ in $(seq 1 1200); do [ -e "$OUT/$NAME/fullchain.pem" ] && break; sleep 0.05; done
check "signer: run issued the certificate" test -s "$OUT/$NAME/fullchain.pem"
gone=1
if [ -n "$SIGNER" ]; then
    for _ in $(seq 1 100); do kill -0 "$SIGNER" 2>/dev/null || { gone=0; break; }; sleep 0.05; done
fi
check_eq "signer: the child is gone after the issuance" 0 "$gone"
check_fails "signer: run's memory does not hold the key after issuing" mem_has "$RUN_PID" "$SCALAR"

kill -TERM "$RUN_PID"
wait "$RUN_PID"
check_eq "signer: run exits 0 on SIGTERM" 0 "$?"
