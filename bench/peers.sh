#!/usr/bin/env bash
# Part of make bench (run by bench/run.sh, which starts Pebble and exports
# PEBBLE_*, CK_TMP, BIN, RUSAGE): certkeep side by side with Debian's uacme and
# lego against the same Pebble, interleaved (certkeep, uacme, lego, certkeep,
# ...), PEERS_N rounds per row; medians with min-max, and certkeep's ratio to
# the best peer (goal: <= 0.8).
#
# Trust: each client reads the system store, to which the test CA is added.
# uacme (libcurl-gnutls) has no option for that, so this script is run in a
# private mount namespace (unshare -m) and binds Debian's bundle plus the test
# CA over /etc/ssl/certs/ca-certificates.crt for all three; without one, uacme
# is left out and certkeep gets --ca-bundle, lego LEGO_CA_CERTIFICATES.
# http-01: the three write the token under one webroot that a small server
# serves on Pebble's http-01 port (uacme through its -h hook), so no client's
# figures include a listener and none of them pays for the server.
set -eu
cd "$(dirname "$0")/.."
source tests/e2e/pebble.sh # PEBBLE_DIR_URL, PEBBLE_WFE_CA, pebble_request_count (Pebble runs already)
N=${PEERS_N:-11}
W=$CK_TMP/peers
NAME=bench.example.com
mkdir -p "$W/www"
note() { printf '  note: %s\n' "$*"; }

have_uacme=0 have_lego=0
command -v uacme >/dev/null && have_uacme=1
command -v lego >/dev/null && have_lego=1
CK_CA=() LEGO_ENV=()
cat /etc/ssl/certs/ca-certificates.crt "$PEBBLE_CA_BUNDLE" >"$W/trust.pem"
if [ "${PEERS_NAMESPACE:-0}" = 1 ] && mount --bind "$W/trust.pem" /etc/ssl/certs/ca-certificates.crt 2>"$W/mount.err"; then
    trust="system store (Debian's bundle + the test CA, bound over it in a private mount namespace)"
else
    trust="system store, plus the test CA through --ca-bundle (certkeep) and LEGO_CA_CERTIFICATES (lego)"
    CK_CA=(--ca-bundle "$PEBBLE_CA_BUNDLE")
    LEGO_ENV=(LEGO_CA_CERTIFICATES="$PEBBLE_WFE_CA" LEGO_CA_SYSTEM_CERT_POOL=true)
    [ "$have_uacme" = 0 ] || note "uacme left out: no private mount namespace to add the test CA to its trust store ($(head -c 200 "$W/mount.err" 2>/dev/null))"
    have_uacme=0
fi

# The webroot server, on Pebble's http-01 port for the whole table.
if ss -Hltn "( sport = :$PEBBLE_HTTP01_PORT )" 2>/dev/null | grep -q .; then
    echo "bench: port $PEBBLE_HTTP01_PORT (Pebble's http-01) is in use" >&2
    exit 1
fi
python3 -m http.server --bind 127.0.0.1 --directory "$W/www" "$PEBBLE_HTTP01_PORT" >"$W/www.log" 2>&1 &
WWW_PID=$!
trap 'kill "$WWW_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    curl -fso /dev/null "http://127.0.0.1:$PEBBLE_HTTP01_PORT/" && break
    kill -0 "$WWW_PID" 2>/dev/null || { echo "bench: the webroot server stopped: $(tail -n 1 "$W/www.log")" >&2; exit 1; }
    sleep 0.1
done
cat >"$W/uacme-hook.sh" <<'EOF'
#!/bin/sh
# uacme -h: method type ident token auth. http-01 only, into $UACME_WEBROOT.
d=$UACME_WEBROOT/.well-known/acme-challenge
[ "$2" = http-01 ] || exit 1
case $1 in
begin) mkdir -p "$d" && printf %s "$5" >"$d/$4" ;;
done | failed) rm -f "$d/$4" ;;
*) exit 1 ;;
esac
EOF
chmod +x "$W/uacme-hook.sh"
export UACME_WEBROOT=$W/www
# lego keeps its account key under accounts/<host_port>/<email>/keys/: one made
# beforehand gives it a P-256 account with an RSA certificate key.
LEGO_KEYS=accounts/localhost_$PEBBLE_PORT/b@example.com/keys
openssl ecparam -name prime256v1 -genkey -noout -out "$W/lego-account-p256.key" 2>/dev/null

# Commands, by client and row; ck KEY ACCOUNT_KEY, uacme ACCOUNT_TYPE CERT_TYPE, lego TYPE.
ck_cmd() {
    CMD=("$BIN" issue --domain $NAME --email b@example.com --agree-tos --directory "$PEBBLE_DIR_URL"
        --out "$W/ck/out" --state "$W/ck/state" --key-type "$1" --account-key-type "$2"
        --webroot "$W/www" --log-level error "${CK_CA[@]}")
    BEFORE="rm -rf $W/ck"
}
uacme_cmd() { # two commands: UNEW, then UISSUE
    UNEW=(uacme -c "$W/u" -a "$PEBBLE_DIR_URL" -t "$1" -y new b@example.com)
    UISSUE=(uacme -c "$W/u" -a "$PEBBLE_DIR_URL" -t "$2" -h "$W/uacme-hook.sh" issue $NAME)
    CMD=("${UNEW[@]}" --then "${UISSUE[@]}")
    BEFORE="rm -rf $W/u"
}
lego_cmd() {
    CMD=(env "${LEGO_ENV[@]}" lego --path "$W/l" -s "$PEBBLE_DIR_URL" -a -m b@example.com -k "$1"
        --http --http.webroot "$W/www" -d $NAME run)
    BEFORE="rm -rf $W/l"
    [ "${2:-}" != p256-account ] ||
        BEFORE="$BEFORE && mkdir -p $W/l/$LEGO_KEYS && cp $W/lego-account-p256.key $W/l/$LEGO_KEYS/b@example.com.key"
}

# here CLIENT: 0 when the client is installed and can be run.
here() {
    case $1 in certkeep) true ;; uacme) [ "$have_uacme" = 1 ] ;; lego) [ "$have_lego" = 1 ] ;; esac
}

# once CLIENT: one run of CMD; appends "wall cpu rss" to $W/CLIENT.runs, retries to $W/CLIENT.retries.
once() {
    local r
    r=$(BENCH_BEFORE=$BEFORE BENCH_ERR=$W/$1.err BENCH_OK=${OK:-0} BENCH_RETRY=${RETRY:-0} \
        "$RUSAGE" 1 "${CMD[@]}") || { echo "bench: $1 failed: $(tail -n 2 "$W/$1.err" | tr '\n' ' ')" >&2; return 1; }
    echo "${r% *}" >>"$W/$1.runs"
    echo "${r##* }" >>"$W/$1.retries"
}

# figure FILE COLUMN: "median (min-max)" of one column of a .runs file.
figure() {
    sort -n -k"$2","$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {
        if (NR == 0) { print "-"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        f = m >= 100 ? "%.0f (%.0f-%.0f)" : "%.1f (%.1f-%.1f)"
        printf f "\n", m, v[1], v[NR] }'
}
median() { local s; s=$(figure "$@"); echo "${s%% *}"; }

# row LABEL COLUMN SETUP: N interleaved rounds; SETUP CLIENT sets CMD, BEFORE, OK, RETRY.
row() {
    local label=$1 col=$2 setup=$3 i c
    for c in certkeep uacme lego; do : >"$W/$c.runs"; : >"$W/$c.retries"; done
    for ((i = 0; i < N; i++)); do
        for c in certkeep uacme lego; do
            here "$c" || continue
            OK=0 RETRY=0
            "$setup" "$c"
            once "$c"
        done
    done
    print_row "$label" "$col"
}

# print_row LABEL COLUMN: the three figures and certkeep / best peer.
print_row() {
    local c best="" bname="" m ck
    for c in uacme lego; do
        [ -s "$W/$c.runs" ] || continue
        m=$(median "$W/$c.runs" "$2")
        if [ -z "$best" ] || awk "BEGIN {exit !($m < $best)}"; then best=$m bname=$c; fi
    done
    ck=$(median "$W/certkeep.runs" "$2")
    printf '%-44s %-20s %-20s %-20s %s\n' "$1" "$(figure "$W/certkeep.runs" "$2")" \
        "$(figure "$W/uacme.runs" "$2")" "$(figure "$W/lego.runs" "$2")" \
        "$([ -n "$best" ] && awk -v a="$ck" -v b="$best" -v n="$bname" 'BEGIN {printf "%.2f (%s)", (b > 0 ? a / b : 0), n}')"
    RATIO["$1"]=$([ -n "$best" ] && awk -v a="$ck" -v b="$best" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
}
declare -A RATIO

p256() {
    case $1 in
    certkeep) ck_cmd p256 p256 ;;
    uacme) uacme_cmd EC EC; RETRY=5 ;;
    lego) lego_cmd ec256 ;;
    esac
}
rsa_p256() {
    case $1 in
    certkeep) ck_cmd rsa2048 p256 ;;
    uacme) uacme_cmd EC RSA; RETRY=5 ;;
    lego) lego_cmd rsa2048 p256-account ;;
    esac
}
rsa_rsa() {
    case $1 in
    certkeep) ck_cmd rsa2048 rsa2048 ;;
    uacme) uacme_cmd RSA RSA; RETRY=5 ;;
    lego) lego_cmd rsa2048 ;;
    esac
}
noop() {
    case $1 in
    certkeep) ck_cmd p256 p256; CMD[1]=init; BEFORE=true ;;
    uacme) uacme_cmd EC EC; CMD=("${UISSUE[@]}"); BEFORE=true; OK=1 ;; # exit 1: still current
    lego) lego_cmd ec256; CMD[${#CMD[@]} - 1]=renew; BEFORE=true ;;
    esac
}

# requests CLIENT: ACME requests Pebble logged and TCP connections to it, for
# one P-256 issuance under strace (connect() to 127.0.0.1:PEBBLE_PORT).
requests() {
    local before after conns
    p256 "$1"
    sh -c "$BEFORE"
    before=$(pebble_request_count)
    if [ "$1" = uacme ]; then
        strace -f -qq -e trace=connect -o "$W/$1.strace" "${UNEW[@]}" >/dev/null 2>&1 &&
            strace -f -qq -e trace=connect -o "$W/$1.strace2" "${UISSUE[@]}" >/dev/null 2>&1 ||
            { echo "- -"; return; }
        cat "$W/$1.strace2" >>"$W/$1.strace"
    else
        strace -f -qq -e trace=connect -o "$W/$1.strace" "${CMD[@]}" >/dev/null 2>&1 || { echo "- -"; return; }
    fi
    after=$(pebble_request_count)
    conns=$(grep "sin_port=htons($PEBBLE_PORT)" "$W/$1.strace" | grep -c 'inet_addr("127.0.0.1")' || true)
    echo "$((after - before)) $conns"
}

vu=$([ "$have_uacme" = 1 ] && dpkg-query -W -f='${Version}' uacme 2>/dev/null || echo "not run")
vl=$([ "$have_lego" = 1 ] && dpkg-query -W -f='${Version}' lego 2>/dev/null || echo "not run")
echo "side by side: certkeep, uacme $vu and lego $vl from Debian, one Pebble, $N interleaved rounds per row;"
echo "median (min-max); CPU = user+sys of the client and the children it waited for (uacme: new, then"
echo "issue with its hook); http-01 through one webroot; trust: $trust"
echo
printf '%-44s %-20s %-20s %-20s %s\n' figure certkeep uacme lego "certkeep / best peer"
row "P-256 issuance, CPU ms" 2 p256
print_row "P-256 issuance, wall ms" 1
print_row "P-256 issuance, peak RSS KiB" 3
uacme_retries=$(awk '{s += $1} END {print s + 0}' "$W/uacme.retries")
row "RSA-2048 certificate (P-256 account), CPU ms" 2 rsa_p256
uacme_retries=$((uacme_retries + $(awk '{s += $1} END {print s + 0}' "$W/uacme.retries")))
row "RSA-2048 cert + RSA-2048 account, CPU ms" 2 rsa_rsa
uacme_retries=$((uacme_retries + $(awk '{s += $1} END {print s + 0}' "$W/uacme.retries")))
# The no-op path: each client's own certificate there, valid for more than the
# 30 days after which uacme and lego renew. Pebble picks a profile at random
# for an order that names none (uacme and lego cannot), and one lives 6.7 days:
# issue again until the certificate is a long one.
long_cert() {
    local c i cert
    for c in certkeep uacme lego; do
        here "$c" || continue
        case $c in
        certkeep) cert=$W/ck/out/$NAME/cert.pem ;;
        uacme) cert=$W/u/$NAME/cert.pem ;;
        lego) cert=$W/l/certificates/$NAME.crt ;;
        esac
        for i in 1 2 3 4 5 6 7 8; do
            p256 "$c"
            BENCH_BEFORE=$BEFORE BENCH_RETRY=5 "$RUSAGE" 1 "${CMD[@]}" >/dev/null 2>&1 || true
            openssl x509 -checkend $((31 * 86400)) -noout -in "$cert" >/dev/null 2>&1 && continue 2
        done
        echo "bench: no long-lived certificate for $c after 8 issuances" >&2
        return 1
    done
}
long_cert
row "no-op (a valid certificate there), CPU ms" 2 noop
print_row "no-op, wall ms" 1
declare -A REQ CONN
for c in certkeep uacme lego; do
    REQ[$c]=- CONN[$c]=-
    here "$c" || continue
    read -r "REQ[$c]" "CONN[$c]" <<<"$(requests $c)"
done
best_req="" best_conn=""
for c in uacme lego; do
    [ "${REQ[$c]}" = - ] && continue
    [ -z "$best_req" ] || [ "${REQ[$c]}" -lt "$best_req" ] && best_req=${REQ[$c]}
    [ -z "$best_conn" ] || [ "${CONN[$c]}" -lt "$best_conn" ] && best_conn=${CONN[$c]}
done
printf '%-44s %-20s %-20s %-20s %s\n' "ACME requests / TCP connections (P-256)" \
    "${REQ[certkeep]} / ${CONN[certkeep]}" "${REQ[uacme]} / ${CONN[uacme]}" "${REQ[lego]} / ${CONN[lego]}" \
    "$([ -n "$best_req" ] && awk -v a="${REQ[certkeep]}" -v b="$best_req" -v c="${CONN[certkeep]}" -v d="$best_conn" \
        'BEGIN {printf "%.2f / %.2f", a / b, (d > 0 ? c / d : 0)}')"
RATIO[requests]=$([ -n "$best_req" ] && awk -v a="${REQ[certkeep]}" -v b="$best_req" 'BEGIN {printf "%.2f", a / b}')
RATIO[connections]=$([ -n "$best_conn" ] && awk -v a="${CONN[certkeep]}" -v b="$best_conn" 'BEGIN {printf "%.2f", (b > 0 ? a / b : 0)}')
echo
[ "$have_uacme" = 0 ] || [ "$uacme_retries" = 0 ] ||
    note "$uacme_retries uacme attempts failed and were run again, not counted (uacme 1.7.4 stops at Pebble's dns-account-01 challenge: \"failed to parse challenge\")"
note "lego's wall time is mostly its own wait between polls of the authorization"
note "RSA rows: the time to find primes varies several-fold from key to key, so their medians over $N rounds move by 20-30% from one run to the next (PEERS_N=21 narrows that)"
verdict() {
    local r=${RATIO[$1]:-}
    if [ -z "$r" ]; then echo "  n/a   $1 (no peer ran)"
    elif awk "BEGIN {exit !($r <= 0.8)}"; then echo "  ok    $1: $r of the best peer"
    else echo "  MISS  $1: $r of the best peer (goal 0.8)"; fi
}
echo "targets (issue 7: every figure <= 0.8 x the best peer):"
for k in "P-256 issuance, CPU ms" "RSA-2048 certificate (P-256 account), CPU ms" \
    "RSA-2048 cert + RSA-2048 account, CPU ms" requests connections "no-op (a valid certificate there), CPU ms" \
    "no-op, wall ms" "P-256 issuance, wall ms" "P-256 issuance, peak RSS KiB"; do
    verdict "$k"
done
