# Ceph RADOS Gateway test harness (Debian's radosgw, ceph-mon, ceph-osd), sourced
# by bash tests: one monitor and one memstore OSD with `auth none`, and radosgw
# serving SigV4 S3 on loopback.
#
#   source tests/e2e/ceph.sh
#   ceph_start     # exports CEPH_ENDPOINT CEPH_BUCKET CEPH_ACCESS CEPH_SECRET; about 15 s
#   ceph_stop
#
# ceph_missing prints why it cannot run here (nothing when it can). Ports: the monitor
# on $CEPH_MON_PORT, OSD messengers in $CEPH_PORT_MIN..$CEPH_PORT_MAX, S3 on
# $CEPH_RGW_PORT. `ms mon client mode = crc`: without it radosgw, a client under
# `auth none`, never gets past the monitor's secure mode and never listens.

: "${CK_TMP:=$(mktemp -d /tmp/certkeep-ceph.XXXXXX)}"
CEPH_HOME=${CEPH_HOME:-$CK_TMP/ceph}
CEPH_MON_PORT=${CEPH_MON_PORT:-31930}
CEPH_PORT_MIN=${CEPH_PORT_MIN:-31940}
CEPH_PORT_MAX=${CEPH_PORT_MAX:-31960}
CEPH_RGW_PORT=${CEPH_RGW_PORT:-31920}
CEPH_BUCKET=${CEPH_BUCKET:-certkeep-test}
CEPH_ACCESS=certkeepaccess
CEPH_SECRET=certkeep-ceph-secret-not-a-secret
CEPH_ENDPOINT="http://127.0.0.1:$CEPH_RGW_PORT"
CEPH_CONF="$CEPH_HOME/ceph.conf"
CEPH_LOG="$CEPH_HOME/log"

_ceph_die() { echo "ceph.sh: $*" >&2; return 1; }

ceph_missing() {
    local b
    for b in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool ceph; do
        command -v "$b" >/dev/null 2>&1 || { echo "no $b (scripts/setup.sh installs radosgw ceph-mon ceph-osd)"; return; }
    done
}

_ceph_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

_ceph_conf() {
    cat >"$CEPH_CONF" <<EOF
[global]
fsid = $1
mon host = v2:127.0.0.1:$CEPH_MON_PORT
mon initial members = a
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = $CEPH_PORT_MIN
ms bind port max = $CEPH_PORT_MAX
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 536870912
run dir = $CEPH_HOME/run
log file = $CEPH_LOG/\$name.log
admin socket = $CEPH_HOME/run/\$name.asok
pid file = $CEPH_HOME/run/\$name.pid
osd data = $CEPH_HOME/osd
mon data = $CEPH_HOME/mon
keyring = $CEPH_HOME/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$CEPH_RGW_PORT
rgw data = $CEPH_HOME/rgw
EOF
}

ceph_start() {
    local i fsid why C
    why=$(ceph_missing); [ -z "$why" ] || { _ceph_die "$why"; return 1; }
    for i in "$CEPH_MON_PORT" "$CEPH_RGW_PORT"; do
        ! _ceph_port_open "$i" || { _ceph_die "port $i is already in use"; return 1; }
    done
    rm -rf "$CEPH_HOME"
    mkdir -p "$CEPH_HOME/run" "$CEPH_LOG" "$CEPH_HOME/mon" "$CEPH_HOME/osd" "$CEPH_HOME/rgw" || return 1
    fsid=$(cat /proc/sys/kernel/random/uuid)
    _ceph_conf "$fsid"
    C="-c $CEPH_CONF"
    {
        ceph-authtool --create-keyring "$CEPH_HOME/keyring" --gen-key -n mon. --cap mon 'allow *' &&
        monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$CEPH_MON_PORT]" "$CEPH_HOME/monmap" &&
        ceph-mon $C --mkfs -i a --monmap "$CEPH_HOME/monmap" --keyring "$CEPH_HOME/keyring" &&
        ceph-mon $C -i a &&
        ceph $C osd create >/dev/null && ceph-osd $C -i 0 --mkfs &&
        ceph $C osd crush add-bucket localhost host && ceph $C osd crush move localhost root=default &&
        ceph $C osd crush add osd.0 1.0 host=localhost && ceph-osd $C -i 0
    } >>"$CEPH_LOG/setup.log" 2>&1 || { _ceph_die "monitor or OSD setup failed: $(tail -n 2 "$CEPH_LOG/setup.log" | tr '\n' ' ')"; ceph_stop; return 1; }
    radosgw $C -n client.rgw >>"$CEPH_LOG/setup.log" 2>&1 ||
        { _ceph_die "radosgw did not start: $(tail -n 2 "$CEPH_LOG/setup.log" | tr '\n' ' ')"; ceph_stop; return 1; }
    for i in $(seq 1 90); do
        _ceph_port_open "$CEPH_RGW_PORT" && break
        sleep 1
    done
    if ! _ceph_port_open "$CEPH_RGW_PORT"; then
        _ceph_die "radosgw did not listen on $CEPH_ENDPOINT within 90 s; log: $(tail -n 3 "$CEPH_LOG/client.rgw.log" 2>/dev/null | tr '\n' ' ')"
        ceph_stop
        return 1
    fi
    if ! radosgw-admin $C user create --uid=certkeep --display-name=certkeep \
            --access-key="$CEPH_ACCESS" --secret-key="$CEPH_SECRET" >>"$CEPH_LOG/setup.log" 2>&1 ||
       [ "$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 aws:amz:us-east-1:s3 \
            --user "$CEPH_ACCESS:$CEPH_SECRET" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            -X PUT "$CEPH_ENDPOINT/$CEPH_BUCKET")" != 200 ]; then
        _ceph_die "creating the user or the bucket failed: $(tail -n 2 "$CEPH_LOG/setup.log" | tr '\n' ' ')"
        ceph_stop
        return 1
    fi
    export CEPH_ENDPOINT CEPH_BUCKET CEPH_ACCESS CEPH_SECRET
}

# Stops the daemons by their pid files (radosgw first), each waited for.
ceph_stop() {
    local n p i
    for n in client.rgw osd.0 mon.a; do
        [ -s "$CEPH_HOME/run/$n.pid" ] || continue
        read -r p <"$CEPH_HOME/run/$n.pid"
        [ -n "$p" ] && kill "$p" 2>/dev/null || continue
        for i in $(seq 1 100); do
            kill -0 "$p" 2>/dev/null || break
            [ "$(ps -o stat= -p "$p" 2>/dev/null)" = Z ] && break
            sleep 0.1
        done
        kill -9 "$p" 2>/dev/null
        rm -f "$CEPH_HOME/run/$n.pid"
    done
}
