#!/usr/bin/env bash
# Bad input against the real static binary and a real Pebble (issue 2, "Bad input";
# guide: "a corrupt file, a garbage server response, a wrong config value, a full
# disk, a killed process: one clear line, nothing lost, never crash, never a partial
# file"). Every failure must print exactly one "certkeep: ..." line naming the thing,
# exit 1 (2 for configuration), leave the previous certificate and account alone and
# leave no temporary behind. A subset runs again under ASan+UBSan for leaks.
set -u
. "$(dirname "$0")/lib.sh"
plan 306
# below the ephemeral range (32768+), clear of 14xxx (t_issue), 24xxx, 34xxx (test_acme)
PEBBLE_PORT=27000 PEBBLE_MGMT_PORT=27001 PEBBLE_TLS01_PORT=27002 PEBBLE_DNS_PORT=27053
PEBBLE_CTS_PORT=27055 PEBBLE_HTTP01_PORT=27080
PROXY_PORT=27090
export PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0  # deterministic: no stray badNonce
. "$(dirname "$0")/pebble.sh"

PROXY_PID=""
MOUNTS=()
cleanup() {
    [ -z "$PROXY_PID" ] || { kill "$PROXY_PID" 2>/dev/null; wait "$PROXY_PID" 2>/dev/null; }
    pebble_stop
    local m
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
}
trap cleanup EXIT

if [ ! -x "$CK_BIN" ]; then
    fail "badinput: binary" "$CK_BIN is missing (make build/certkeep)"
    exit 1
fi
CK_ASAN_BIN=${CK_ASAN_BIN:-$CK_ROOT/build/asan/certkeep}
pebble_start || { fail "badinput: pebble" "cannot start Pebble"; exit 1; }

W=$CK_TMP/bad
OUT=$W/out ST=$W/state NAME=bad.example.com
mkdir -p "$W"
HTTP01="127.0.0.1:$PEBBLE_HTTP01_PORT"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

# ck BIN STATE OUT [ARGS...]: certkeep issue against Pebble; stderr+stdout in $W/log, rc in $RC.
ck() {
    local bin=$1 state=$2 out=$3; shift 3
    "$bin" issue --email bad@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$out" --state "$state" --http01-listen "$HTTP01" \
        --domain "$NAME" "$@" >"$W/log" 2>&1
    RC=$?
}
# The error lines: everything that is not a timestamped log line.
errlines() { grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+Z (debug|info |warn ) ' "$W/log"; }
# expect NAME RC REGEX: the last run exited RC with exactly one error line matching REGEX.
expect() {
    local name=$1 rc=$2 re=$3 lines
    lines=$(errlines)
    check_eq "$name: exit $rc" "$rc" "$RC"
    if [ "$(printf '%s\n' "$lines" | grep -c .)" -eq 1 ] && printf '%s' "$lines" | grep -q '^certkeep: '; then
        check_match "$name: one line" "$re" "$lines"
    else
        fail "$name: one line" "got: $(printf '%s' "$lines" | head -c 400)"
    fi
    if grep -qE 'Sanitizer|runtime error' "$W/log"; then
        fail "$name: sanitizers" "$(grep -m1 -E 'Sanitizer|runtime error' "$W/log")"
    fi
}
snap() { cat "$OUT/$NAME"/*.pem "$ST/account.key" "$ST/account.json" 2>/dev/null | sha256sum; }
# intact NAME: the previous certificate and account are byte for byte what they were,
# no temporary is left in either directory, and the key still matches the certificate.
intact() {
    check_eq "$1: previous files untouched" "$BASE" "$(snap)"
    check_eq "$1: no temporaries left" "" "$(find "$OUT" "$ST" -name '*.tmp*' 2>/dev/null | head -3)"
}
pair_ok() {
    local d a b
    d=$(readlink -f "$OUT/$NAME")
    a=$(openssl pkey -in "$d/privkey.pem" -pubout 2>/dev/null)
    b=$(openssl x509 -in "$d/cert.pem" -noout -pubkey 2>/dev/null)
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# ---- the baseline every failure must leave alone ----
ck "$CK_BIN" "$ST" "$OUT"
check_eq "badinput: baseline issuance" 0 "$RC"
BASE=$(snap)
check_eq "badinput: account.key mode" 600 "$(stat -c %a "$ST/account.key" 2>/dev/null)"
check_eq "badinput: privkey.pem mode" 600 "$(stat -c %a "$OUT/$NAME/privkey.pem" 2>/dev/null)"

# ---- secrets: a debug run logs no key, JWS or signature ----
ck "$CK_BIN" "$W/state-dbg" "$W/out-dbg" --log-level debug
k1=$(sed -n 2p "$W/state-dbg/account.key" 2>/dev/null | cut -c1-24)
k2=$(sed -n 2p "$W/out-dbg/$NAME/privkey.pem" 2>/dev/null | cut -c1-24)
if [ "$RC" -eq 0 ] && [ -n "$k1" ] && [ -n "$k2" ] &&
    ! grep -qiE 'eyJ|PRIVATE KEY|"signature"|"protected"|"payload"' "$W/log" &&
    ! grep -qF -e "$k1" -e "$k2" "$W/log"; then
    pass "badinput: debug log holds no key material or JWS"
else
    fail "badinput: debug log holds no key material or JWS" "rc $RC; $(grep -m1 -iE 'eyJ|PRIVATE|signature' "$W/log")"
fi

# ---- a corrupt account.key: one line naming the file, nothing replaced ----
S2=$W/state-corrupt
corrupt_key() {  # NAME REGEX SETUP...
    local name=$1 re=$2; shift 2
    rm -rf "$S2"; mkdir -p "$S2"
    "$@" >/dev/null 2>&1
    local before
    before=$(find "$S2" -type f -exec sha256sum {} + 2>/dev/null | sort)
    ck "$CK_BIN" "$S2" "$OUT"
    expect "account.key $name" 1 "$re"
    check_eq "account.key $name: left as it was" "$before" \
        "$(find "$S2" -type f -exec sha256sum {} + 2>/dev/null | sort)"
    intact "account.key $name"
}
KEYP="state-corrupt/account\.key"
corrupt_key truncated "$KEYP: .*(PEM|truncated)" sh -c "head -c 100 '$ST/account.key' >'$S2/account.key'"
corrupt_key garbage "$KEYP: no private key" sh -c "head -c 600 /dev/urandom >'$S2/account.key'"
corrupt_key empty "$KEYP: no private key" sh -c ": >'$S2/account.key'"
corrupt_key rsa1024 "$KEYP: .*RSA.*2048" openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$S2/account.key"
corrupt_key ed25519 "$KEYP: .*not a valid RSA or EC" openssl genpkey -algorithm ed25519 -out "$S2/account.key"
corrupt_key p521 "$KEYP: .*P-256 or P-384" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$S2/account.key"
corrupt_key certificate "$KEYP: no private key" cp "$OUT/$NAME/cert.pem" "$S2/account.key"
corrupt_key encrypted "$KEYP: .*ENCRYPTED" openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -aes256 -pass pass:x -out "$S2/account.key"
corrupt_key directory "$KEYP: is a directory" mkdir "$S2/account.key"
corrupt_key fifo "$KEYP: not a regular file" mkfifo "$S2/account.key"
corrupt_key oversized "$KEYP: larger than" sh -c "head -c 200000 /dev/zero >'$S2/account.key'"
rm -rf "$S2"; : >"$S2"
ck "$CK_BIN" "$S2" "$OUT"
expect "state dir is a file" 1 "state-corrupt: exists and is not a directory"

# ---- configuration of every wrong type: exit 2, file and line named ----
cfg() {  # NAME REGEX YAML
    printf '%s\n' "$3" >"$W/c.yaml"
    "$CK_BIN" issue --config "$W/c.yaml" --out "$OUT" --state "$ST" >"$W/log" 2>&1
    RC=$?
    expect "config $1" 2 "$2"
}
D="domains: [$NAME]"
cfg "domains scalar" 'c\.yaml:1: domains: expected a list' "domains: $NAME"
cfg "domains map" 'c\.yaml:1: domains: expected a list' 'domains: {a: b}'
cfg "domains nested list" 'c\.yaml:1: domains: expected a name' "domains: [$NAME, [x]]"
cfg "unknown key" 'c\.yaml:2: bogus: unknown key' "$D
bogus: 1"
cfg "unknown nested key" 'c\.yaml:2: acme\.unknown: unknown key' "$D
acme: {unknown: 1}"
cfg "bool" 'c\.yaml:2: agree_tos: .*true or false' "$D
agree_tos: maybe"
cfg "bool as list" 'c\.yaml:2: agree_tos: expected true or false' "$D
agree_tos: [true]"
cfg "key type number" 'c\.yaml:2: key_type: "7"' "$D
key_type: 7"
cfg "section as scalar" 'c\.yaml:2: renewal: expected a map' "$D
renewal: 5"
cfg "negative duration" 'c\.yaml:2: renewal\.min_valid: .*negative' "$D
renewal: {min_valid: -5h}"
cfg "overflowing duration" 'c\.yaml:2: renewal\.min_valid: .*longer than' "$D
renewal: {min_valid: 99999999999999999999h}"
cfg "duration as list" 'c\.yaml:2: renewal\.min_valid: expected a duration' "$D
renewal: {min_valid: [1]}"
cfg "port out of range" 'c\.yaml:2: challenge\.http01_listen: .*port' "$D
challenge: {http01_listen: '127.0.0.1:99999'}"
cfg "directory scheme" 'c\.yaml:2: acme\.directory: .*http' "$D
acme: {directory: 'ftp://x'}"
cfg "email list" 'c\.yaml:2: email: expected a string' "$D
email: [a]"
cfg "control character" 'c\.yaml:2: email: .*control character' "$D
email: \"a@b.c\\nX: 1\""
cfg "duplicate key" 'c\.yaml:2: domains: duplicate key' "$D
$D"
cfg "not a map" 'c\.yaml:1: expected a map' '- a'
cfg "broken yaml" 'c\.yaml:2: invalid YAML' "domains: [$NAME"
cfg "cert_name traversal" "c\\.yaml:2: cert_name: .*must not start" "$D
cert_name: ../evil"
cfg "101 names" 'c\.yaml:1: domains: more than 100' \
    "domains: [$(seq -s, -f 'd%g.example.com' 1 101)]"
printf 'domains: [%s]\n\001\n' "$NAME" >"$W/c.yaml"
"$CK_BIN" issue --config "$W/c.yaml" >"$W/log" 2>&1; RC=$?
expect "config control byte" 2 'c\.yaml:[0-9]+: invalid YAML'
"$CK_BIN" issue --config "$W/none.yaml" >"$W/log" 2>&1; RC=$?
expect "config missing" 2 'none\.yaml: No such file'
mkfifo "$W/fifo.yaml"
timeout 10 "$CK_BIN" issue --config "$W/fifo.yaml" >"$W/log" 2>&1; RC=$?  # 124: it hung
expect "config is a FIFO" 2 'fifo\.yaml: not a regular file'
intact "config errors"

# ---- the CA's side: unreachable, untrusted, garbage at each step ----
"$CK_BIN" issue --agree-tos --directory "https://localhost:$PEBBLE_MGMT_PORT/roots/0" --ca-bundle \
    "$PEBBLE_CA_BUNDLE" --out "$OUT" --state "$ST" --domain "$NAME" --http01-listen "$HTTP01" >"$W/log" 2>&1
RC=$?
expect "directory not ACME" 1 'roots/0: the response .* not a JSON object'
ck "$CK_BIN" "$ST" "$OUT" --ca-bundle /etc/hostname
expect "CA bundle without certificates" 1 'CA bundle /etc/hostname: no usable certificate'
ck "$CK_BIN" "$ST" "$OUT" --ca-bundle "$W"
expect "CA bundle is a directory" 1 "CA bundle: read $W: is a directory"
mkfifo "$W/fifo.pem"
# a FIFO must be refused, not block on open (timeout would exit 124)
timeout 10 "$CK_BIN" issue --agree-tos --directory "$PEBBLE_DIR_URL" --ca-bundle "$W/fifo.pem" \
    --out "$OUT" --state "$ST" --domain "$NAME" --http01-listen "$HTTP01" >"$W/log" 2>&1
RC=$?
expect "CA bundle is a FIFO" 1 "fifo\.pem: not a regular file"
ck "$CK_BIN" "$ST" "$OUT" --directory "https://localhost:$PEBBLE_TLS01_PORT/dir"  # nobody listens
expect "directory unreachable" 1 "GET https://localhost:$PEBBLE_TLS01_PORT/dir: .*Connection refused"
ck "$CK_BIN" "$ST" "$OUT" --ca-bundle /etc/ssl/certs/ca-certificates.crt  # lacks the test CA
expect "directory untrusted" 1 "GET $PEBBLE_DIR_URL: .*(trust anchor|verif)"
intact "CA side"

# A TLS proxy in front of Pebble (Pebble's own DNS:localhost certificate; the Host
# header passes through, so Pebble's URLs and JWS checks name the proxy) that
# corrupts the responses to one path prefix, as told by $W/mode.
cat >"$W/acme_corrupt.py" <<'EOF'
import http.client, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PORT, UPPORT, CAFILE, CERT, KEY, MODEFILE = int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:7]
CTX = ssl.create_default_context(cafile=CAFILE)
BODIES = {"notpem": b"this is not a certificate\n" * 20, "junkjson": b"[1,2,3]",
          "huge": b'{"x":"' + b"A" * (4 << 20) + b'"}', "500": b""}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPSConnection("localhost", UPPORT, context=CTX, timeout=30)
        c.request(self.command, self.path, body=body,
                  headers={k: v for k, v in self.headers.items() if k.lower() != "connection"})
        r = c.getresponse()
        data, status = r.read(), r.status
        out = [(k, v) for k, v in r.getheaders()
               if k.lower() not in ("content-length", "connection", "transfer-encoding")]
        c.close()
        try:
            prefix, kind = open(MODEFILE).read().split()
        except (OSError, ValueError):
            prefix, kind = None, None
        if prefix and self.path.startswith(prefix):
            if kind.startswith("set:"):  # set:KEY=JSON in the JSON object answered
                import json
                k, v = kind[4:].split("=", 1)
                j = json.loads(data)
                j[k] = json.loads(v)
                data = json.dumps(j).encode()
            elif kind == "trunc":
                data = data[: len(data) // 2]
            elif kind in BODIES:
                data = BODIES[kind]
                status = 500 if kind == "500" else status
            elif kind == "html":
                status, data = 502, b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                out = [(k, v) for k, v in out if k.lower() != "content-type"] + [("Content-Type", "text/html")]
            elif kind == "nononce":
                out = [(k, v) for k, v in out if k.lower() != "replay-nonce"]
            elif kind == "badnonce":  # a nonce that is no base64url, on every answer
                out = [(k, v) for k, v in out if k.lower() != "replay-nonce"] + [("Replay-Nonce", "a b\tc")]
            elif kind == "noloc":
                out = [(k, v) for k, v in out if k.lower() != "location"]
            elif kind in ("badchain", "leafonly"):  # the leaf, then a stranger or nothing
                leaf = data[: data.index(b"-----END CERTIFICATE-----") + 26]
                data = leaf + (open(CAFILE, "rb").read() if kind == "badchain" else b"")
                out = [(k, v) for k, v in out if k.lower() != "link"]
            elif kind == "busy":  # 503 with an HTTP-date Retry-After two hours ahead, no body
                import email.utils, time
                status, data = 503, b""
                out = [(k, v) for k, v in out if k.lower() not in ("content-type", "retry-after")]
                out += [("Retry-After", email.utils.formatdate(time.time() + 7200, usegmt=True))]
            elif kind == "ratelimit":
                status = 429
                data = b'{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates"}'
                out = [(k, v) for k, v in out if k.lower() not in ("content-type", "retry-after")]
                out += [("Content-Type", "application/problem+json"), ("Retry-After", "3600")]
        self.send_response(status)
        for k, v in out:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_POST = do_HEAD = relay
srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
srv.daemon_threads = True
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.load_cert_chain(CERT, KEY)
srv.socket = sctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
: >"$W/mode"
python3 "$W/acme_corrupt.py" "$PROXY_PORT" "$PEBBLE_PORT" "$PEBBLE_WFE_CA" "$PEBBLE_HOME/wfe.pem" \
    "$PEBBLE_HOME/wfe.key" "$W/mode" >"$W/proxy.log" 2>&1 &
PROXY_PID=$!
PROXY_DIR="https://localhost:$PROXY_PORT/dir"
for i in $(seq 1 50); do
    curl -fsS --cacert "$PEBBLE_WFE_CA" -o /dev/null "$PROXY_DIR" 2>/dev/null && break
    sleep 0.1
done
# garbled PREFIX KIND REGEX [BIN]: a fresh account each time, so nothing is reused.
garbled() {
    echo "$1 $2" >"$W/mode"
    rm -rf "$W/state-px"
    ck "${4:-$CK_BIN}" "$W/state-px" "$OUT" --directory "$PROXY_DIR"
    : >"$W/mode"
    expect "server $1 $2${4:+ (asan)}" 1 "$3"
    intact "server $1 $2${4:+ (asan)}"
}
echo "" >"$W/mode"
ck "$CK_BIN" "$W/state-px" "$W/out-px" --directory "$PROXY_DIR"
check_eq "badinput: issuance through the proxy" 0 "$RC"
garbled /dir trunc '/dir: the response \(HTTP 200, [0-9]+ bytes\) is not a JSON object'
garbled /dir html '/dir: HTTP 502'
garbled /dir huge '/dir: response body larger than'
garbled /sign-me-up noloc 'sign-me-up: account response without a valid Location'
# (Pebble's first answer there is a 400 accountDoesNotExist, now with a garbage body)
garbled /sign-me-up junkjson 'sign-me-up: (HTTP 400|the response .* not a JSON object)'
garbled /authZ/ junkjson 'authZ/[A-Za-z0-9_-]+: the response .* not a JSON object'
garbled /order-plz noloc 'order-plz: order without a valid Location'
garbled /order-plz trunc 'order-plz: the response .* not a JSON object'
garbled /authZ/ 500 'authZ/[A-Za-z0-9_-]+: HTTP 500'
garbled /authZ/ huge 'authZ/[A-Za-z0-9_-]+: response body larger than'
garbled /chalZ/ html 'chalZ/[A-Za-z0-9_-]+: HTTP 502'
garbled /finalize-order/ 500 'finalize-order/[A-Za-z0-9_-]+: HTTP 500'
garbled /my-order/ junkjson 'my-order/[A-Za-z0-9_-]+: the response .* not a JSON object'
garbled /certZ/ trunc 'certZ/[0-9a-f]+: truncated PEM'
garbled /certZ/ notpem 'certZ/[0-9a-f]+: .*(DER|PEM|certificate)'
garbled /certZ/ huge 'certZ/[0-9a-f]+: response body larger than'
garbled / nononce 'nonce-plz: HTTP 200 without a Replay-Nonce'
garbled / badnonce 'nonce-plz: HTTP 200 without a Replay-Nonce'
garbled /authZ/ 'set:identifier={"type":"dns","value":"evil.example.com"}' \
    'authZ/[A-Za-z0-9_-]+: authorization for evil\.example\.com, a name not in the order'
garbled /authZ/ 'set:challenges=[{"type":"http-01","token":"../../x","url":"https://localhost/x","status":"pending"}]' \
    'authZ/[A-Za-z0-9_-]+: http-01 challenge without a base64url token'
garbled /order-plz 'set:finalize="file:///etc/passwd"' 'my-order/[A-Za-z0-9_-]+: no valid "finalize" URL'
garbled /my-order/ 'set:certificate="http://localhost:1/cert"' 'http://localhost:1/cert: a plain http URL from the https directory'
garbled /dir 'set:newOrder="http://localhost:1/order"' 'http://localhost:1/order: a plain http URL from the https directory'
garbled /my-order/ 'set:status="invalid"' 'order https://localhost:[0-9]+/my-order/[A-Za-z0-9_-]+ is invalid'
garbled /certZ/ badchain "certZ/[0-9a-f]+: the chain's first certificate did not issue the certificate|issued certificate: the chain's first certificate did not issue"
garbled /certZ/ leafonly 'issued certificate: fullchain\.pem:? (has )?no chain after the certificate'
# Rate limited: one line that says when to come back; exit 1, not 2.
garbled /order-plz ratelimit 'order-plz: rateLimited: too many certificates; retry after 3600s \(20[0-9-]+T[0-9:]+Z\)'
garbled /finalize-order/ busy 'finalize-order/[A-Za-z0-9_-]+: HTTP 503 \(rate limited\); retry after (7199|7200)s \(20'

# ---- under ASan+UBSan: no leak on the error paths ----
if [ -x "$CK_ASAN_BIN" ]; then
    garbled /certZ/ notpem 'certZ/[0-9a-f]+: ' "$CK_ASAN_BIN"
    garbled /my-order/ trunc 'my-order/[A-Za-z0-9_-]+: the response' "$CK_ASAN_BIN"
    garbled /order-plz ratelimit 'retry after 3600s' "$CK_ASAN_BIN"
    rm -rf "$S2"; mkdir -p "$S2"; cp "$OUT/$NAME/cert.pem" "$S2/account.key"
    ck "$CK_ASAN_BIN" "$S2" "$OUT"
    expect "account.key certificate (asan)" 1 'no private key'
    printf '%s\n' "$D" 'renewal: {min_valid: [1]}' >"$W/c.yaml"
    "$CK_ASAN_BIN" issue --config "$W/c.yaml" >"$W/log" 2>&1; RC=$?
    expect "config wrong type (asan)" 2 'renewal\.min_valid'
else
    skip 16 "no $CK_ASAN_BIN: the leak checks"
fi

# ---- a full or read-only disk (needs mount: root) ----
FULL=$W/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=64k tmpfs "$FULL" 2>/dev/null; then
    MOUNTS+=("$FULL")
    ck "$CK_BIN" "$ST" "$FULL/out"
    check_eq "full disk: first issuance fits" 0 "$RC"
    fb=$(cat "$FULL/out/$NAME"/*.pem | sha256sum)
    dd if=/dev/zero of="$FULL/filler" bs=1k count=128 2>/dev/null
    n0=$(pebble_issued_count)
    ck "$CK_BIN" "$ST" "$FULL/out"
    expect "full output disk" 1 "nothing was ordered: the output directory .*No space left on device"
    check_eq "full output disk: checked before ordering (no issuance at the CA)" "$n0" "$(pebble_issued_count)"
    check_eq "full output disk: previous set untouched" "$fb" "$(cat "$FULL/out/$NAME"/*.pem | sha256sum)"
    check_eq "full output disk: no partial version left" "" "$(find "$FULL" -name '*.tmp*' | head -3)"
    rm -f "$FULL/filler"
    mount -o remount,ro "$FULL" 2>/dev/null
    n0=$(pebble_issued_count)
    ck "$CK_BIN" "$ST" "$FULL/out"
    expect "read-only output" 1 "nothing was ordered: the output directory .*Read-only file system"
    check_eq "read-only output: checked before ordering (no issuance at the CA)" "$n0" "$(pebble_issued_count)"
    check_eq "read-only output: previous set untouched" "$fb" "$(cat "$FULL/out/$NAME"/*.pem | sha256sum)"
    umount "$FULL" && MOUNTS=()
    FS=$W/fullstate
    mkdir -p "$FS"
    if mount -t tmpfs -o size=16k tmpfs "$FS" 2>/dev/null; then
        MOUNTS+=("$FS")
        dd if=/dev/zero of="$FS/filler" bs=1k count=64 2>/dev/null
        ck "$CK_BIN" "$FS/state" "$OUT"
        expect "full state disk" 1 "account\.key.*No space left on device"
        check_eq "full state disk: no key, no temporary" "" "$(find "$FS/state" -type f | head -3)"
        intact "full state disk"
        umount "$FS" && MOUNTS=()
    else
        skip 5 "cannot mount a tmpfs: the full state disk"
    fi
else
    skip 15 "cannot mount a tmpfs: the full and read-only disks"
fi

# ---- killed mid-way: the published set stays a matching pair, no secret readable,
# and the next run clears what the dead one left ----
if command -v strace >/dev/null; then
    # the room check of the output directory comes first: one fsync of an unnamed file;
    # the version directory is renamed with renameat (from its parent's descriptor), the link
    # with rename
    for at in fchmod:1 fsync:3 renameat:1 symlink:1 rename:1; do
        ( strace -f -o /dev/null -e trace="${at%:*}" -e inject="${at%:*}:signal=SIGKILL:when=${at#*:}" \
            "$CK_BIN" issue --email bad@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
            --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$OUT" --state "$ST" --http01-listen "$HTTP01" \
            --domain "$NAME" >/dev/null 2>&1; exit $? ) 2>/dev/null
        rc=$?
        check_eq "SIGKILL at $at: killed" 137 "$rc"
        if pair_ok; then pass "SIGKILL at $at: key matches certificate"
        else fail "SIGKILL at $at: key matches certificate" "$(readlink "$OUT/$NAME")"; fi
        check_eq "SIGKILL at $at: no world-readable key" "" \
            "$(find "$OUT" "$ST" -type f -perm -o=r \( -name 'privkey*' -o -name '*.key*' \) | head -3)"
    done
    # killed while creating the account key: the temporary (a key) is 0600 and the
    # restarted process, creating the key again, removes it
    SK=$W/state-killed
    ( strace -f -o /dev/null -e trace=fchmod -e inject=fchmod:signal=SIGKILL:when=1 \
        "$CK_BIN" issue --email bad@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$W/out-killed" --state "$SK" --http01-listen "$HTTP01" \
        --domain "$NAME" >/dev/null 2>&1; exit $? ) 2>/dev/null
    check_eq "SIGKILL creating account.key: temporary left 0600" 600 \
        "$(stat -c %a "$SK"/.account.key.tmp.* 2>/dev/null | sort -u)"
    check_eq "SIGKILL creating account.key: no account.key" "" "$(ls "$SK"/account.key 2>/dev/null)"
    sleep 2.2
    ck "$CK_BIN" "$SK" "$W/out-killed"
    check_eq "after SIGKILL creating account.key: issuance works" 0 "$RC"
    check_eq "after SIGKILL creating account.key: temporary removed" "" "$(ls -A "$SK" | grep tmp)"
else
    skip 19 "no strace: the kill points"
fi
for i in 1 2 3 4 5 6; do
    sig=TERM; [ $((i % 2)) -eq 0 ] && sig=KILL
    "$CK_BIN" issue --email bad@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
        --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$OUT" --state "$ST" --http01-listen "$HTTP01" \
        --domain "$NAME" >/dev/null 2>&1 &
    p=$!
    sleep "0.0$((i * 15 % 10))$i"
    kill -$sig "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    pair_ok && pass "SIG$sig run $i: key matches certificate" || fail "SIG$sig run $i: key matches certificate"
done
ck "$CK_BIN" "$ST" "$OUT"
check_eq "after the kills: issuance works" 0 "$RC"
check_eq "after the kills: no temporaries left" "" "$(find "$OUT" -name '*.tmp*' | head -3)"
pair_ok && pass "after the kills: key matches certificate" || fail "after the kills: key matches certificate"
check_eq "after the kills: at most two versions kept" 1 \
    "$(( $(find "$OUT/.certkeep" -mindepth 1 -maxdepth 1 | wc -l) <= 2 ))"

# ---- an account.key others can read is made 0600 and said so; a wrong directory
# URL creates no account key (the directory is fetched first) ----
SL=$W/state-loose
cp -r "$ST" "$SL" && chmod 0644 "$SL/account.key"
ck "$CK_BIN" "$SL" "$W/out-loose"
check_eq "loose account.key: issuance works" 0 "$RC"
check_eq "loose account.key: now 0600" 600 "$(stat -c %a "$SL/account.key")"
check_eq "loose account.key: said once" 1 "$(grep -c 'was mode 644' "$W/log")"
check_match "loose account.key: says what it was and is" "warn .*account\.key.* was mode 644; now 0600" \
    "$(grep 'was mode' "$W/log")"
check_eq "loose account.key: the same key kept" "$(sha256sum <"$ST/account.key")" "$(sha256sum <"$SL/account.key")"
SN=$W/state-nodir
"$CK_BIN" issue --email bad@example.com --agree-tos --directory "https://localhost:$PEBBLE_PORT/no-such-dir" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$W/out-nodir" --state "$SN" --http01-listen "$HTTP01" \
    --domain "$NAME" >"$W/log" 2>&1
RC=$?
expect "wrong directory URL" 1 "ACME directory"
check_eq "wrong directory URL: no account key created" "" "$(ls -A "$SN" 2>/dev/null | grep -v '^$')"

