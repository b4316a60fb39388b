#!/usr/bin/env bash
# The scratch root (issue 8): the static binary in an otherwise empty root, as in a
# FROM scratch image: only /certkeep, Debian's CA bundle, /etc/hosts, /etc/resolv.conf
# (plus the Pebble test CA, and /certs and /state owned by 65532). No /bin, no libc,
# no /proc, no /dev, no /tmp: certkeep needs none of them. Run by util-linux unshare
# (new mount and pid namespaces, chroot, uid/gid 65532), sharing the host network,
# against the real Pebble on the host: init issues, a second init issues nothing,
# version runs, run answers /readyz and stops on SIGTERM with exit 0. Runs as root.
set -u
. "$(dirname "$0")/lib.sh"
plan 14
PEBBLE_PORT=29500 PEBBLE_MGMT_PORT=29501 PEBBLE_TLS01_PORT=29502 PEBBLE_DNS_PORT=29553
PEBBLE_CTS_PORT=29555 PEBBLE_HTTP01_PORT=29580
LISTEN_PORT=29590
. "$(dirname "$0")/pebble.sh"

RUN_PID=""    # the unshare process of `certkeep run`
cleanup() {
    [ -z "$RUN_PID" ] || { kill -9 "$RUN_PID" 2>/dev/null; wait "$RUN_PID" 2>/dev/null; }
    pebble_stop
}
trap cleanup EXIT

# Every check below needs these; missing, the plan fails (never a silent skip).
if [ ! -x "$CK_BIN" ]; then fail "scratch: binary" "$CK_BIN is missing (make build/certkeep)"; exit 1; fi
if ! command -v unshare >/dev/null; then fail "scratch: unshare" "unshare (util-linux) is missing"; exit 1; fi
if [ "$(id -u)" != 0 ]; then fail "scratch: root" "must run as root (unshare --root/--setuid)"; exit 1; fi
if ! pebble_start; then fail "scratch: pebble start" "see $PEBBLE_LOG"; exit 1; fi

NAME=scratch.example.com
R=$CK_TMP/root
mkdir -p "$R/etc/ssl/certs" "$R/etc/certkeep" "$R/certs" "$R/state"
cp "$CK_BIN" "$R/certkeep"
cp /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
cp "$PEBBLE_CA_BUNDLE" "$R/etc/certkeep/pebble-ca.pem"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$R/etc/hosts"
printf 'nameserver 127.0.0.1\n' >"$R/etc/resolv.conf"
chown 65532:65532 "$R/certs" "$R/state"
chmod 0755 "$R" "$R/etc" "$R/etc/ssl" "$R/etc/ssl/certs" "$R/etc/certkeep"
chmod 0644 "$R"/etc/ssl/certs/* "$R"/etc/certkeep/* "$R/etc/hosts" "$R/etc/resolv.conf"

# in_root ARGS...: certkeep ARGS in the root as 65532, pid 1 of a new pid namespace.
in_root() {
    unshare --mount --pid --fork --root="$R" --setuid 65532 --setgid 65532 /certkeep "$@"
}
ckargs=(--domain "$NAME" --email e2e@example.com --agree-tos --profile default
    --directory "$PEBBLE_DIR_URL" --ca-bundle /etc/certkeep/pebble-ca.pem
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT" --state /state --out /certs)
logof() { cat "$CK_TMP/$1.log" 2>/dev/null; }

# ---- the root holds nothing else -------------------------------------------------------------
check_eq "scratch: root holds only the expected files" \
    "/certkeep /certs /etc /etc/certkeep /etc/certkeep/pebble-ca.pem /etc/hosts /etc/resolv.conf /etc/ssl /etc/ssl/certs /etc/ssl/certs/ca-certificates.crt /state" \
    "$(cd "$R" && find . -mindepth 1 | sed 's/^\.//' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"

# ---- version ---------------------------------------------------------------------------------
out=$(in_root version 2>&1)
check_match "scratch: certkeep version runs in the root" '^certkeep [0-9]+\.[0-9]+\.[0-9]+' "$out"

# ---- first init: one issuance ----------------------------------------------------------------
before=$(pebble_issued_count)
in_root init "${ckargs[@]}" >"$CK_TMP/init1.log" 2>&1
rc=$?
check_eq "scratch: init exits 0" 0 "$rc"
[ "$rc" = 0 ] || logof init1 | tail -n 5
check_eq "scratch: init issued once" 1 $(($(pebble_issued_count) - before))
D=$R/certs/$NAME
files=$(cd "$D" 2>/dev/null && ls | LC_ALL=C sort | tr '\n' ' ')
check_eq "scratch: the four files" "cert.pem chain.pem fullchain.pem privkey.pem " "$files"
check_eq "scratch: privkey 0600 owned by 65532" "600 65532:65532" "$(stat -c '%a %u:%g' "$D/privkey.pem" 2>&1)"
pebble_root "$CK_TMP/pebble-root.pem"
check "scratch: chain verifies with openssl" openssl verify -CAfile "$CK_TMP/pebble-root.pem" \
    -untrusted "$D/chain.pem" "$D/cert.pem"
check "scratch: fullchain = cert + chain" \
    test "$(cat "$D/cert.pem" "$D/chain.pem" | sha256sum)" = "$(sha256sum <"$D/fullchain.pem")"

# ---- second init: restores from the volume, issues nothing -----------------------------------
before=$(pebble_issued_count)
in_root init "${ckargs[@]}" >"$CK_TMP/init2.log" 2>&1
check_eq "scratch: second init exits 0" 0 "$?"
check_eq "scratch: second init issues nothing" 0 $(($(pebble_issued_count) - before))

# ---- run: /readyz 200, SIGTERM ends it with 0 ------------------------------------------------
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$LISTEN_PORT$1"; }
# --kill-child: should the test die, unshare's death takes certkeep along
unshare --mount --pid --fork --kill-child --root="$R" --setuid 65532 --setgid 65532 \
    /certkeep run "${ckargs[@]}" --listen "127.0.0.1:$LISTEN_PORT" >"$CK_TMP/run.log" 2>&1 &
RUN_PID=$!
code=000
for _ in $(seq 1 200); do
    code=$(http_code /readyz)
    [ "$code" = 200 ] && break
    kill -0 "$RUN_PID" 2>/dev/null || break
    sleep 0.1
done
check_eq "scratch: run: /readyz 200" 200 "$code"
# unshare --fork blocks SIGTERM in itself and waits for its one child, certkeep: pid 1 of
# the new pid namespace, seen from here by its host pid (init of a pid namespace takes only
# the signals it has a handler for, as certkeep has for SIGTERM).
CK_PID=$(cat "/proc/$RUN_PID/task/$RUN_PID/children" 2>/dev/null | awk '{print $1}')
check_eq "scratch: run: certkeep is pid 1 in its namespace" 1 \
    "$(awk '/^NSpid:/ {print $NF}' "/proc/${CK_PID:-0}/status" 2>/dev/null)"
check_eq "scratch: run: certkeep is the root's binary" "$R/certkeep" \
    "$(readlink "/proc/${CK_PID:-0}/exe" 2>/dev/null | sed 's/ (deleted)$//')"
[ -z "$CK_PID" ] || kill -TERM "$CK_PID"
rc=timeout
for _ in $(seq 1 150); do
    if ! kill -0 "$RUN_PID" 2>/dev/null; then wait "$RUN_PID"; rc=$?; RUN_PID=""; break; fi
    sleep 0.1
done
check_eq "scratch: run: SIGTERM exits 0" 0 "$rc"
[ "$rc" = 0 ] || logof run | tail -n 5
