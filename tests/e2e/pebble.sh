# Pebble test harness, sourced by bash tests (e2e scripts, unit tests via bash -c).
#
#   source tests/e2e/pebble.sh
#   PEBBLE_CHAIN_LENGTH=3 pebble_start    # env PEBBLE_* is passed through
#   "$CK_BIN" issue --directory "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA_BUNDLE" ...
#   pebble_root "$CK_TMP/root.pem"; pebble_issued_count
#   pebble_stop
#
# Pebble's WFE certificate is for DNS:localhost (BearSSL cannot verify an IP host),
# so the directory is https://localhost:$PEBBLE_PORT/dir. Its DNS is
# pebble-challtestsrv answering 127.0.0.1 for every name, so http-01 goes to
# 127.0.0.1:$PEBBLE_HTTP01_PORT, where the client's own responder listens.

: "${CK_TMP:=$(mktemp -d /tmp/certkeep-pebble.XXXXXX)}"
PEBBLE_PORT=${PEBBLE_PORT:-14000}
PEBBLE_MGMT_PORT=${PEBBLE_MGMT_PORT:-14001}
PEBBLE_TLS01_PORT=${PEBBLE_TLS01_PORT:-14002}   # tls-alpn-01: nobody answers, unused
PEBBLE_DNS_PORT=${PEBBLE_DNS_PORT:-14053}
PEBBLE_CTS_PORT=${PEBBLE_CTS_PORT:-14055}       # challtestsrv management
PEBBLE_HTTP01_PORT=${PEBBLE_HTTP01_PORT:-5002}
# PEBBLE_DNS_SERVER=host:port: the CA resolves (and validates dns-01) there instead of challtestsrv
PEBBLE_HOME=${PEBBLE_HOME:-$CK_TMP/pebble}
PEBBLE_DIR_URL="https://localhost:$PEBBLE_PORT/dir"
PEBBLE_WFE_CA="$PEBBLE_HOME/wfe-ca.pem"
PEBBLE_CA_BUNDLE="$PEBBLE_HOME/ca-bundle.pem"
PEBBLE_LOG="$PEBBLE_HOME/pebble.log"
PEBBLE_CONFIG="$PEBBLE_HOME/pebble-config.json"
PEBBLE_PID=""
PEBBLE_CTS_PID=""

_pebble_die() { echo "pebble.sh: $*" >&2; return 1; }

# 0 when something listens on 127.0.0.1:$1 (or any address).
_pebble_port_busy() {
    ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .
}

# WFE CA and a DNS:localhost certificate, once per $PEBBLE_HOME.
pebble_certs() {
    mkdir -p "$PEBBLE_HOME" || return 1
    [ -s "$PEBBLE_HOME/wfe.pem" ] && return 0
    local d=$PEBBLE_HOME
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=certkeep test WFE CA" -keyout "$d/wfe-ca.key" -out "$PEBBLE_WFE_CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        >/dev/null 2>&1 || { _pebble_die "cannot create the WFE CA"; return 1; }
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$d/wfe.key" -out "$d/wfe.csr" >/dev/null 2>&1 \
        || { _pebble_die "cannot create the WFE key"; return 1; }
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
        >"$d/wfe.ext"
    openssl x509 -req -in "$d/wfe.csr" -CA "$PEBBLE_WFE_CA" -CAkey "$d/wfe-ca.key" \
        -CAcreateserial -days 30 -extfile "$d/wfe.ext" -out "$d/wfe.pem" >/dev/null 2>&1 \
        || { _pebble_die "cannot sign the WFE certificate"; return 1; }
}

# The client's --ca-bundle, as a user's for a private CA: the WFE CA (TLS) and the
# roots this Pebble issues under (new at every start: certificates must chain to a
# trust anchor), plus the roots craft_cert made ($CK_TMP/craft-roots.pem).
pebble_trust() {
    local i tmp=$PEBBLE_CA_BUNDLE.tmp
    cat "$PEBBLE_WFE_CA" >"$tmp" || return 1
    for i in $(seq 0 9); do
        _pebble_mgmt_get "roots/$i" >>"$tmp" 2>/dev/null || break
    done
    [ "$i" -gt 0 ] || { _pebble_die "no root from the management API"; return 1; }
    [ ! -s "$CK_TMP/craft-roots.pem" ] || cat "$CK_TMP/craft-roots.pem" >>"$tmp"
    mv "$tmp" "$PEBBLE_CA_BUNDLE"
}

# Pebble's config. Retry-After on polls is PEBBLE_RETRY_AUTHZ / PEBBLE_RETRY_ORDER
# seconds (0: Pebble sends none, the client polls at its own pace). PEBBLE_VALIDITY is
# the default profile's certificate lifetime in seconds (90 days unless set).
# PEBBLE_EAB_KEYS='"kid": "base64url key", ...': new accounts need external account binding.
# PEBBLE_OCSP_URL: the OCSP responder the certificates name (AIA); none when unset.
# PEBBLE_KEY_ALGORITHM: the CA's keys, ecdsa unless set (rsa: the management port hands
# out the intermediate's key, which it does for RSA keys only).
pebble_config() {
    cat >"$PEBBLE_CONFIG" <<EOF
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
    "certificate": "$PEBBLE_HOME/wfe.pem",
    "privateKey": "$PEBBLE_HOME/wfe.key",
    "httpPort": $PEBBLE_HTTP01_PORT,
    "tlsPort": $PEBBLE_TLS01_PORT,
    "ocspResponderURL": "${PEBBLE_OCSP_URL:-}",
    "externalAccountBindingRequired": $([ -n "${PEBBLE_EAB_KEYS:-}" ] && echo true || echo false),
    "externalAccountMACKeys": { ${PEBBLE_EAB_KEYS:-} },
    "retryAfter": { "authz": ${PEBBLE_RETRY_AUTHZ:-0}, "order": ${PEBBLE_RETRY_ORDER:-0} },
    "keyAlgorithm": "${PEBBLE_KEY_ALGORITHM:-ecdsa}",
    "profiles": {
      "default": { "description": "The default profile", "validityPeriod": ${PEBBLE_VALIDITY:-7776000} },
      "shortlived": { "description": "Short-lived certificates", "validityPeriod": 576000 },
      "tlsserver": { "description": "TLS server certificates", "validityPeriod": 7776000 }
    }
  }
}
EOF
}

# Starts challtestsrv and Pebble; waits until the directory answers. PEBBLE_* in
# the environment reaches Pebble; PEBBLE_VA_NOSLEEP defaults to 1 (set it to ""
# for a Pebble that sleeps before validating, to exercise polling).
pebble_start() {
    local p i
    [ -z "$PEBBLE_PID" ] || { _pebble_die "already started (pid $PEBBLE_PID)"; return 1; }
    for p in "$PEBBLE_PORT" "$PEBBLE_MGMT_PORT" "$PEBBLE_DNS_PORT" "$PEBBLE_CTS_PORT"; do
        if _pebble_port_busy "$p"; then
            _pebble_die "port $p is already in use (another Pebble? set PEBBLE_PORT & co.)"
            return 1
        fi
    done
    pebble_certs || return 1
    pebble_config || return 1
    : >"$PEBBLE_LOG"
    pebble-challtestsrv -management "127.0.0.1:$PEBBLE_CTS_PORT" \
        -dnsserver "127.0.0.1:$PEBBLE_DNS_PORT" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
        -http01 "" -https01 "" -tlsalpn01 "" -doh "" >"$PEBBLE_HOME/challtestsrv.log" 2>&1 &
    PEBBLE_CTS_PID=$!
    ( export PEBBLE_VA_NOSLEEP="${PEBBLE_VA_NOSLEEP-1}"
      [ -n "$PEBBLE_VA_NOSLEEP" ] || unset PEBBLE_VA_NOSLEEP
      exec pebble -config "$PEBBLE_CONFIG" -dnsserver "${PEBBLE_DNS_SERVER:-127.0.0.1:$PEBBLE_DNS_PORT}" ) \
        >>"$PEBBLE_LOG" 2>&1 &
    PEBBLE_PID=$!
    echo "$PEBBLE_PID $PEBBLE_CTS_PID" >"$PEBBLE_HOME/pids"  # for pebble_stop from another shell
    for i in $(seq 1 100); do
        if curl -fsS --cacert "$PEBBLE_WFE_CA" -o /dev/null "$PEBBLE_DIR_URL" 2>/dev/null; then
            pebble_trust && return 0
            break
        fi
        if ! kill -0 "$PEBBLE_PID" 2>/dev/null || ! kill -0 "$PEBBLE_CTS_PID" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    _pebble_die "Pebble did not come up on $PEBBLE_DIR_URL; log: $(tail -n 5 "$PEBBLE_LOG" "$PEBBLE_HOME/challtestsrv.log" | tr '\n' ' ')"
    pebble_stop
    return 1
}

# Stops what pebble_start started (by pid) and waits for it.
pebble_stop() {
    local p i
    if [ -z "$PEBBLE_PID" ] && [ -s "$PEBBLE_HOME/pids" ]; then
        read -r PEBBLE_PID PEBBLE_CTS_PID <"$PEBBLE_HOME/pids"
    fi
    # every status is swallowed: this runs from EXIT traps of `set -e` scripts
    for p in $PEBBLE_PID $PEBBLE_CTS_PID; do
        kill "$p" 2>/dev/null || continue
        wait "$p" 2>/dev/null || true
        # not our child (started by another shell): wait for it to go
        for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    rm -f "$PEBBLE_HOME/pids"
    PEBBLE_PID="" PEBBLE_CTS_PID=""
}

# pebble_restart: stop then start (to apply new PEBBLE_* settings). Pebble keeps
# nothing across restarts: new roots, no accounts.
pebble_restart() { pebble_stop; pebble_start; }

_pebble_mgmt_get() {
    curl -fsS --cacert "$PEBBLE_WFE_CA" "https://localhost:$PEBBLE_MGMT_PORT/$1"
}

# pebble_root FILE [N]: root N (0 default; alternates with PEBBLE_ALTERNATE_ROOTS) as PEM.
pebble_root() { _pebble_mgmt_get "roots/${2:-0}" >"$1"; }
# pebble_intermediate FILE [N]: the intermediate that signs leaves under root N.
pebble_intermediate() { _pebble_mgmt_get "intermediates/${2:-0}" >"$1"; }
# pebble_intermediate_key FILE [N]: its private key (an OCSP responder signs with it).
pebble_intermediate_key() { _pebble_mgmt_get "intermediate-keys/${2:-0}" >"$1"; }

# Certificates issued since the last start ("Issued certificate serial … for order …").
pebble_issued_count() { grep -c 'Issued certificate serial' "$PEBBLE_LOG" 2>/dev/null || true; }
# newOrder requests Pebble received since the last start.
pebble_order_count() { grep -c 'POST /order-plz' "$PEBBLE_LOG" 2>/dev/null || true; }
# Any request Pebble logged since the last start.
pebble_request_count() { grep -cE '(GET|POST|HEAD) /' "$PEBBLE_LOG" 2>/dev/null || true; }
