# Knot DNS harness for dns-01, sourced by bash tests (e2e scripts, unit tests via bash -c).
#
#   source tests/e2e/knot.sh
#   KNOT_NET=127.0.53 knot_start       # primary $KNOT_NET.1:53 (takes updates), secondary .2:53
#   "$CK_BIN" issue --challenge dns-01 --rfc2136-server "$KNOT_PRIMARY" ...
#   knot_resolver_start                 # Unbound at $KNOT_NET.3:53 recursing into both zones,
#                                       # no cache: the CA's view, following CNAMEs as LE's does
#   knot_txt NAME [ADDR]                # the TXT values ADDR (default the primary) answers
#   knot_stop
#
# Zones ck.test and val.test (the delegated validation zone: _acme-challenge.alias.ck.test
# is a CNAME to alias.val.test), NS ns1/ns2 with glue at the two servers, TSIG key
# ck-key (hmac-sha256) in $KNOT_KEY_FILE (Knot's format) and $KNOT_SECRET_FILE (bare).
# The secondary follows by NOTIFY and IXFR, so it lags the primary for real.
# Port 53 on 127.x addresses of our own: the CA and the propagation check use the
# standard port, so the tests run as root (as make test does).

: "${CK_TMP:=$(mktemp -d /tmp/certkeep-knot.XXXXXX)}"
KNOT_NET=${KNOT_NET:-127.0.53}
KNOT_HOME=${KNOT_HOME:-$CK_TMP/knot}
KNOT_PRIMARY="$KNOT_NET.1:53"
KNOT_SECONDARY="$KNOT_NET.2:53"
KNOT_KEY_FILE="$KNOT_HOME/ck-key.yaml"
KNOT_SECRET_FILE="$KNOT_HOME/ck-key.secret"
KNOT_PIDS=""

_knot_die() { echo "knot.sh: $*" >&2; return 1; }

_knot_zones() {
    local z
    for z in ck.test val.test; do
        cat >"$KNOT_HOME/zones/$z.zone" <<EOF
\$ORIGIN $z.
\$TTL 60
@ SOA ns1.ck.test. hostmaster.ck.test. 1 60 60 3600 60
@ NS ns1.ck.test.
@ NS ns2.ck.test.
EOF
    done
    cat >>"$KNOT_HOME/zones/ck.test.zone" <<EOF
ns1 A $KNOT_NET.1
ns2 A $KNOT_NET.2
www A 127.0.0.1
_acme-challenge.www TXT "foreign-value"
_acme-challenge.alias CNAME alias.val.test.
EOF
}

# knot_conf ROLE ADDR: the configuration of one server (primary or secondary)
_knot_conf() {
    local role=$1 addr=$2 dir="$KNOT_HOME/$1"
    mkdir -p "$dir/run" "$dir/db"
    {
        echo "server:"
        echo "    rundir: \"$dir/run\""
        echo "    listen: $addr@53"
        echo "    udp-workers: 1"
        echo "    tcp-workers: 1"
        echo "    background-workers: 1"
        echo "log:"
        echo "  - target: stderr"
        echo "    any: info"
        echo "database:"
        echo "    storage: \"$dir/db\""
        echo "include: \"$KNOT_KEY_FILE\""
        echo "remote:"
        echo "  - id: primary"
        echo "    address: $KNOT_NET.1@53"
        echo "  - id: secondary"
        echo "    address: $KNOT_NET.2@53"
        echo "acl:"
        echo "  - id: update"
        echo "    key: ck-key"
        echo "    action: update"
        echo "  - id: loopback"
        echo "    address: 127.0.0.0/8"
        echo "    action: [transfer, notify]"
        echo "template:"
        echo "  - id: default"
        echo "    storage: \"$dir/zones\""
        echo "    zonefile-sync: -1"
        echo "    zonefile-load: whole"
        echo "    journal-content: changes"
        echo "zone:"
        for z in ck.test val.test; do
            echo "  - domain: $z"
            if [ "$role" = primary ]; then
                echo "    acl: [update, loopback]"
                echo "    notify: secondary"
            else
                echo "    master: primary"
                echo "    acl: loopback"
            fi
        done
    } >"$dir/knot.conf"
    mkdir -p "$dir/zones"
    [ "$role" = primary ] && cp "$KNOT_HOME"/zones/*.zone "$dir/zones/"
    return 0
}

knot_start() {
    [ -z "$KNOT_PIDS" ] || { _knot_die "already started"; return 1; }
    command -v knotd >/dev/null || { _knot_die "knotd not installed (make setup)"; return 1; }
    rm -rf "$KNOT_HOME"
    mkdir -p "$KNOT_HOME/zones"
    keymgr -t ck-key hmac-sha256 >"$KNOT_KEY_FILE" || return 1
    sed -n 's/^ *secret: *//p' "$KNOT_KEY_FILE" >"$KNOT_SECRET_FILE"
    chmod 600 "$KNOT_KEY_FILE" "$KNOT_SECRET_FILE"
    _knot_zones
    local role addr i
    for role in primary secondary; do
        [ $role = primary ] && addr=$KNOT_NET.1 || addr=$KNOT_NET.2
        _knot_conf $role $addr || return 1
        knotd -c "$KNOT_HOME/$role/knot.conf" >"$KNOT_HOME/$role.log" 2>&1 &
        KNOT_PIDS="$KNOT_PIDS $!"
    done
    echo "$KNOT_PIDS" >"$KNOT_HOME/pids"  # for knot_stop from another shell
    for i in $(seq 1 100); do
        if kdig +short +time=1 +retry=0 @"$KNOT_NET.1" -p 53 SOA ck.test 2>/dev/null | grep -q ns1 &&
           kdig +short +time=1 +retry=0 @"$KNOT_NET.2" -p 53 SOA val.test 2>/dev/null | grep -q ns1; then
            return 0
        fi
        sleep 0.1
    done
    _knot_die "Knot did not come up: $(tail -n 3 "$KNOT_HOME"/*.log | tr '\n' ' ')"
    knot_stop
    return 1
}

knot_resolver_start() {
    local dir="$KNOT_HOME/unbound" i
    command -v unbound >/dev/null || { _knot_die "unbound not installed (make setup)"; return 1; }
    mkdir -p "$dir"
    cat >"$dir/unbound.conf" <<EOF
server:
    interface: $KNOT_NET.3
    port: 53
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: "$dir/pid"
    use-syslog: no
    verbosity: 0
    module-config: "iterator"
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    local-zone: "test." nodefault
    domain-insecure: "test."
remote-control:
    control-enable: no
stub-zone:
    name: "ck.test"
    stub-addr: $KNOT_NET.1@53
stub-zone:
    name: "val.test"
    stub-addr: $KNOT_NET.1@53
EOF
    unbound -d -c "$dir/unbound.conf" >"$KNOT_HOME/unbound.log" 2>&1 &
    KNOT_PIDS="$KNOT_PIDS $!"
    echo "$KNOT_PIDS" >"$KNOT_HOME/pids"
    for i in $(seq 1 100); do
        kdig +short +time=1 +retry=0 @"$KNOT_NET.3" -p 53 SOA ck.test 2>/dev/null | grep -q ns1 && return 0
        sleep 0.1
    done
    _knot_die "Unbound did not come up: $(tail -n 3 "$KNOT_HOME/unbound.log" | tr '\n' ' ')"
    return 1
}

knot_stop() {
    local p i
    [ -n "$KNOT_PIDS" ] || KNOT_PIDS=$(cat "$KNOT_HOME/pids" 2>/dev/null)
    for p in $KNOT_PIDS; do kill "$p" 2>/dev/null; done
    for p in $KNOT_PIDS; do
        for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    done
    KNOT_PIDS=""
    return 0
}

# The TXT values of NAME at ADDR (default the primary), one per line, sorted.
knot_txt() {
    kdig +short +time=2 +retry=1 @"${2:-$KNOT_NET.1}" -p 53 TXT "$1" 2>/dev/null | tr -d '"' | sort
}

# knsupdate as a hook would drive it: knot_nsupdate add|del NAME VALUE
knot_nsupdate() {
    local op=$1 name=$2 value=$3
    printf 'server %s 53\nzone %s\n%s %s 60 TXT "%s"\nsend\n' "$KNOT_NET.1" \
        "$(echo "$name" | sed 's/^.*\.\([^.]*\.test\.\?\)$/\1/')" "$op" "$name" "$value" |
        knsupdate -y "hmac-sha256:ck-key:$(cat "$KNOT_SECRET_FILE")"
}
