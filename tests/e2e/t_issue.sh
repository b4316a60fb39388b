#!/usr/bin/env bash
# certkeep issue, the real static binary, against a real Pebble (issue 2, "Real
# parts" and "Bad input"): nonce rejection, chain lengths, alternate roots with a
# preferred chain, authorization reuse, a sleeping VA (polling), every key type,
# 1 and 100 names (101 refused before any request), and failures that leave the
# previous files alone.
set -u
. "$(dirname "$0")/lib.sh"
plan 119
. "$(dirname "$0")/pebble.sh"

JUNK_PID=""
cleanup() {
    pebble_stop
    [ -z "$JUNK_PID" ] || { kill "$JUNK_PID" 2>/dev/null; wait "$JUNK_PID" 2>/dev/null; }
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "issue: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi

OUT=$CK_TMP/out
HTTP01="127.0.0.1:$PEBBLE_HTTP01_PORT"
RUN=0

# ck_issue STATE_NAME ARGS...: certkeep issue against Pebble; stdout+stderr in $CK_TMP/last.log.
ck_issue() {
    local state=$CK_TMP/state-$1; shift
    RUN=$((RUN + 1))
    "$CK_BIN" issue --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$OUT" --state "$state" \
        --http01-listen "$HTTP01" "$@" >"$CK_TMP/run-$RUN.log" 2>&1
    local rc=$?
    cp "$CK_TMP/run-$RUN.log" "$CK_TMP/last.log"
    return $rc
}

# The certificate directory $OUT/$1 is complete, verifies up to root file $2 and
# its key matches; $3 names the checks.
check_certdir() {
    local d=$OUT/$1 root=$2 name=$3
    check "$name: openssl verify" openssl verify -CAfile "$root" -untrusted "$d/chain.pem" "$d/cert.pem"
    check_eq "$name: privkey.pem mode" 600 "$(stat -c %a "$d/privkey.pem" 2>/dev/null)"
    local a b
    a=$(openssl pkey -in "$d/privkey.pem" -pubout 2>/dev/null)
    b=$(openssl x509 -in "$d/cert.pem" -noout -pubkey 2>/dev/null)
    if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "$name: key matches cert"
    else fail "$name: key matches cert" "public keys differ"; fi
    check_eq "$name: fullchain = cert + chain" "$(cat "$d/cert.pem" "$d/chain.pem" | sha256sum)" \
        "$(sha256sum <"$d/fullchain.pem")"
}

san_count() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tr ',' '\n' | grep -c 'DNS:'; }
pem_count() { grep -c 'BEGIN CERTIFICATE' "$1" 2>/dev/null; }
top_issuer() {  # issuer CN of the last certificate of a PEM file
    awk '/BEGIN CERT/{c=""} {c=c $0 "\n"} /END CERT/{last=c} END{printf "%s", last}' "$1" |
        openssl x509 -noout -issuer -nameopt multiline 2>/dev/null | sed -n 's/^ *commonName *= //p'
}
key_desc() {
    openssl x509 -in "$1" -noout -text 2>/dev/null |
        sed -n 's/.*Public-Key: (\([0-9]*\) bit).*/\1/p; s/.*NIST CURVE: \(.*\)/\1/p' | tr '\n' ' '
}
# the error line of the last run, and how many "certkeep:" lines it printed
err_line() { grep '^certkeep: ' "$CK_TMP/last.log" | tail -n 1; }
err_lines() { grep -c '^certkeep: ' "$CK_TMP/last.log"; }
tree_sum() { (cd "$OUT" && find . -type f -print0 | sort -z | xargs -0 sha256sum) 2>/dev/null | sha256sum; }

# ---- 1. 50% of nonces rejected; every key type, account and certificate -----------------
echo "-- Pebble: 50% bad nonces, no authz reuse"
if ! PEBBLE_WFE_NONCEREJECT=50 PEBBLE_AUTHZREUSE=0 pebble_start; then
    fail "issue: pebble start" "see $PEBBLE_LOG"; exit 1
fi
ROOT=$CK_TMP/root0.pem
check "pebble: root from the management API" pebble_root "$ROOT"

declare -A WANT=([rsa2048]="2048 " [rsa3072]="3072 " [rsa4096]="4096 " [p256]="256 P-256 " [p384]="384 P-384 ")
for kt in p256 rsa2048 rsa3072 rsa4096 p384; do
    if ck_issue "$kt" --domain "$kt.example.com" --key-type "$kt" --account-key-type "$kt" \
        --log-level debug; then
        pass "issue $kt: exit 0"
    else
        fail "issue $kt: exit 0" "$(tail -n 3 "$CK_TMP/last.log" | tr '\n' ' ')"
        continue
    fi
    check_certdir "$kt.example.com" "$ROOT" "issue $kt"
    check_eq "issue $kt: certificate key type" "${WANT[$kt]}" "$(key_desc "$OUT/$kt.example.com/cert.pem")"
    bits=$(openssl pkey -in "$CK_TMP/state-$kt/account.key" -noout -text 2>/dev/null | sed -n '1s/.*(\([0-9]*\) bit.*/\1/p')
    check_eq "issue $kt: account key type" "${kt//[a-z]/}" "$bits"
done
retries=$(cat "$CK_TMP"/run-*.log | grep -c 'badNonce, retrying')
if [ "$retries" -gt 0 ]; then pass "badNonce retried transparently ($retries times)"
else fail "badNonce retried transparently" "no retry logged"; fi

# ---- 2. 1 and 100 names; 101 refused before any request -------------------------------
names100=()
for i in $(seq 1 100); do names100+=(--domain "n$i.hundred.example.com"); done
if ck_issue hundred "${names100[@]}"; then
    pass "issue 100 names: exit 0"
    check_certdir n1.hundred.example.com "$ROOT" "issue 100 names"
    check_eq "issue 100 names: SAN count" 100 "$(san_count "$OUT/n1.hundred.example.com/cert.pem")"
else
    fail "issue 100 names: exit 0" "$(tail -n 3 "$CK_TMP/last.log" | tr '\n' ' ')"
fi
check_eq "issue 1 name: SAN count" 1 "$(san_count "$OUT/p256.example.com/cert.pem")"
orders=$(pebble_order_count)
requests=$(pebble_request_count)
if ck_issue hundred "${names100[@]}" --domain n101.hundred.example.com; then
    fail "issue 101 names: refused" "exit 0"
else
    pass "issue 101 names: refused"
fi
check_match "issue 101 names: says why" '101|more than 100' "$(err_line)"
check_eq "issue 101 names: no new order at Pebble" "$orders" "$(pebble_order_count)"
check_eq "issue 101 names: no request at all" "$requests" "$(pebble_request_count)"
[ -e "$OUT/n101.hundred.example.com" ] && fail "issue 101 names: no files" "directory created" \
    || pass "issue 101 names: no files"

# ---- trust: --ca-bundle adds to the system store (SSL_CERT_FILE here), never replaces it
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=unrelated CA" \
    -keyout "$CK_TMP/unrelated.key" -out "$CK_TMP/unrelated.pem" >/dev/null 2>&1
trust_issue() {  # SYSTEM_BUNDLE: issue with only the unrelated CA as --ca-bundle
    SSL_CERT_FILE=$1 "$CK_BIN" issue --email e2e@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$CK_TMP/unrelated.pem" --out "$OUT" --state "$CK_TMP/state-trust" \
        --http01-listen "$HTTP01" --domain trust.example.com >"$CK_TMP/last.log" 2>&1
}
if trust_issue "$PEBBLE_CA_BUNDLE"; then pass "trust: system store and an unrelated --ca-bundle: issued"
else fail "trust: system store and an unrelated --ca-bundle: issued" "$(err_line)"; fi
if trust_issue /etc/ssl/certs/ca-certificates.crt; then
    fail "trust: a CA in neither store is refused" "exit 0"
else
    check_match "trust: a CA in neither store is refused" 'trust anchor|verif' "$(err_line)"
fi

# ---- 3. bad input: one line, non-zero exit, previous files untouched ------------------
before=$(tree_sum)
expect_failure() {  # NAME REGEX ARGS...
    local name=$1 re=$2; shift 2
    if ck_issue "$@"; then fail "$name: non-zero exit" "exit 0"; else pass "$name: non-zero exit"; fi
    check_eq "$name: one error line" 1 "$(err_lines)"
    check_match "$name: says why" "$re" "$(err_line)"
    check_eq "$name: previous files untouched" "$before" "$(tree_sum)"
}
expect_failure "unreachable directory" 'localhost:1/dir' p256 --domain p256.example.com \
    --directory https://localhost:1/dir
sysonly=$CK_TMP/system-only.pem
cp /etc/ssl/certs/ca-certificates.crt "$sysonly" 2>/dev/null || cp "$ROOT" "$sysonly"
expect_failure "TLS verification failure" "localhost:$PEBBLE_PORT" p256 --domain p256.example.com \
    --ca-bundle "$sysonly"
mkdir -p "$CK_TMP/junk"
printf '<html>{ this is not an ACME directory' >"$CK_TMP/junk/dir"
head -c 3000000 /dev/zero | tr '\0' ' ' >"$CK_TMP/junk/huge"
JUNK_PORT=$((PEBBLE_PORT + 80))
(cd "$CK_TMP/junk" && exec python3 -m http.server "$JUNK_PORT" --bind 127.0.0.1) >/dev/null 2>&1 &
JUNK_PID=$!
for _ in $(seq 1 50); do curl -fs -o /dev/null "http://127.0.0.1:$JUNK_PORT/dir" && break; sleep 0.1; done
expect_failure "garbage directory" "127.0.0.1:$JUNK_PORT/dir" p256 --domain p256.example.com \
    --directory "http://127.0.0.1:$JUNK_PORT/dir"
expect_failure "oversized directory" "127.0.0.1:$JUNK_PORT/huge" p256 --domain p256.example.com \
    --directory "http://127.0.0.1:$JUNK_PORT/huge"
expect_failure "challenge that fails" 'authorization is invalid|connection refused' p256 \
    --domain p256.example.com --http01-listen "127.0.0.1:$((PEBBLE_HTTP01_PORT + 1))"
expect_failure "profile not offered" 'not offered' p256 --domain p256.example.com --profile nosuch

# ---- 4. profiles ----------------------------------------------------------------------
if ck_issue p256 --domain short.example.com --profile shortlived; then
    pass "issue shortlived profile: exit 0"
    nb=$(date -d "$(openssl x509 -in "$OUT/short.example.com/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
    na=$(date -d "$(openssl x509 -in "$OUT/short.example.com/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
    check_eq "issue shortlived profile: 160 h lifetime" 576000 "$((na - nb + 1))"
else
    fail "issue shortlived profile: exit 0" "$(err_line)"
fi
names26=()
for i in $(seq 1 26); do names26+=(--domain "t$i.example.com"); done
orders=$(pebble_order_count)
before=$(tree_sum)
expect_failure "26 names with tlsserver" '25' p256 "${names26[@]}" --profile tlsserver
check_eq "26 names with tlsserver: no new order" "$orders" "$(pebble_order_count)"
pebble_stop

# ---- 5. chain lengths -----------------------------------------------------------------
for len in 3 5; do
    echo "-- Pebble: chain length $len"
    PEBBLE_CHAIN_LENGTH=$len pebble_start || { fail "chain $len: pebble start" ""; continue; }
    pebble_root "$CK_TMP/root-c$len.pem"
    if ck_issue "chain$len" --domain "chain$len.example.com"; then
        pass "chain length $len: exit 0"
        check_certdir "chain$len.example.com" "$CK_TMP/root-c$len.pem" "chain length $len"
        check_eq "chain length $len: chain.pem holds $len intermediates" "$len" \
            "$(pem_count "$OUT/chain$len.example.com/chain.pem")"
    else
        fail "chain length $len: exit 0" "$(err_line)"
    fi
    pebble_stop
done

# ---- 6. alternate roots and a preferred chain -----------------------------------------
echo "-- Pebble: 2 alternate roots"
if PEBBLE_ALTERNATE_ROOTS=2 pebble_start; then
    for i in 0 1 2; do pebble_root "$CK_TMP/alt-root$i.pem" "$i"; done
    cn2=$(openssl x509 -in "$CK_TMP/alt-root2.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
    cn0=$(openssl x509 -in "$CK_TMP/alt-root0.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
    if ck_issue alt --domain alt-default.example.com; then
        check_eq "default chain: tops at root 0" "$cn0" "$(top_issuer "$OUT/alt-default.example.com/fullchain.pem")"
        check_certdir alt-default.example.com "$CK_TMP/alt-root0.pem" "default chain"
    else
        fail "default chain: exit 0" "$(err_line)"
    fi
    if ck_issue alt --domain alt-pref.example.com --preferred-chain "$cn2"; then
        check_eq "preferred chain: tops at root 2 ($cn2)" "$cn2" "$(top_issuer "$OUT/alt-pref.example.com/fullchain.pem")"
        check_certdir alt-pref.example.com "$CK_TMP/alt-root2.pem" "preferred chain"
    else
        fail "preferred chain: exit 0" "$(err_line)"
    fi
    if ck_issue alt --domain alt-none.example.com --preferred-chain "No Such Root"; then
        check_eq "unknown preferred chain: default chain" "$cn0" "$(top_issuer "$OUT/alt-none.example.com/fullchain.pem")"
    else
        fail "unknown preferred chain: exit 0" "$(err_line)"
    fi
    pebble_stop
else
    fail "alternate roots: pebble start" ""
fi

# ---- 7. authorization reuse -----------------------------------------------------------
echo "-- Pebble: authz reuse 100%"
if PEBBLE_AUTHZREUSE=100 pebble_start; then
    pebble_root "$CK_TMP/reuse-root.pem"
    ck_issue reuse --domain reuse.example.com --domain reuse2.example.com
    check_eq "authz reuse: first issuance" 1 "$(pebble_issued_count)"
    chal=$(grep -c 'POST /chalZ/' "$PEBBLE_LOG")
    if ck_issue reuse --domain reuse.example.com --domain reuse2.example.com; then
        pass "authz reuse: second issuance exit 0"
        check_eq "authz reuse: no challenge answered the second time" "$chal" "$(grep -c 'POST /chalZ/' "$PEBBLE_LOG")"
        check_eq "authz reuse: two certificates issued" 2 "$(pebble_issued_count)"
        check_certdir reuse.example.com "$CK_TMP/reuse-root.pem" "authz reuse"
    else
        fail "authz reuse: second issuance exit 0" "$(err_line)"
    fi
    pebble_stop
else
    fail "authz reuse: pebble start" ""
fi

# ---- 8. a VA that sleeps: the client polls --------------------------------------------
echo "-- Pebble: VA sleeps (polling), Retry-After 1 s on authorizations"
if PEBBLE_VA_NOSLEEP="" PEBBLE_RETRY_AUTHZ=1 pebble_start; then
    pebble_root "$CK_TMP/sleep-root.pem"
    if ck_issue sleep --domain sleepy.example.com --log-level debug; then
        pass "sleeping VA: exit 0"
        check_match "sleeping VA: Retry-After honoured while polling" 'next look in 1000 ms' \
            "$(cat "$CK_TMP/last.log")"
        check_certdir sleepy.example.com "$CK_TMP/sleep-root.pem" "sleeping VA"
    else
        fail "sleeping VA: exit 0" "$(err_line)"
    fi
    pebble_stop
else
    fail "sleeping VA: pebble start" ""
fi
