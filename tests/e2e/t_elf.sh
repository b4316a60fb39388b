#!/usr/bin/env bash
# The hardened binaries (issue 9, Hardening): each property read from the ELF
# (readelf -h -l -d, and -s of our objects: the binaries are stripped), and the
# running process: no core file, not dumpable, RELRO read-only. amd64 is a static
# PIE with full RELRO and stack protector; arm64 (64 KiB pages) keeps the stack
# protector only (see Makefile).
# Ports 31290-31299.
set -u
. "$(dirname "$0")/lib.sh"
plan 23
MAX_SIZE=768000  # issues 11 and 12: 768 KB with every challenge and CA feature (was 700 KB before them)
BIN=$CK_BIN
ARM=${CK_ARM64_BIN:-$CK_ROOT/build/arm64/certkeep}

if [ ! -x "$BIN" ]; then fail "elf: binary" "$BIN is missing (make build/certkeep)"; exit 1; fi

# ssp_objects DIR: "N of M" of our objects that call __stack_chk_fail.
ssp_objects() {
    local n=0 m=0 o
    for o in $(find "$1" -name '*.o'); do
        m=$((m + 1))
        readelf -sW "$o" | grep -q ' __stack_chk_fail$' && n=$((n + 1))
    done
    echo "$n $m"
}
# most N M: at least 90% of the objects carry the canary check (a file without
# a local array has nothing to protect).
most() { [ "$2" -gt 0 ] && [ $(($1 * 10)) -ge $(($2 * 9)) ]; }

echo "-- amd64: $BIN"
hdr=$(readelf -hW "$BIN") phd=$(readelf -lW "$BIN") dyn=$(readelf -dW "$BIN")
check_match "elf amd64: type DYN (position-independent)" 'Type: +DYN' "$hdr"
check_eq "elf amd64: no INTERP header (no loader: a static PIE)" "" "$(printf '%s' "$phd" | grep -w INTERP)"
check_eq "elf amd64: no NEEDED library" "" "$(printf '%s' "$dyn" | grep NEEDED)"
check_match "elf amd64: file says static-pie linked" 'static-pie linked' "$(file -b "$BIN")"
check_match "elf amd64: a GNU_RELRO segment" 'GNU_RELRO' "$phd"
check_match "elf amd64: BIND_NOW (full RELRO)" 'FLAGS.*BIND_NOW|FLAGS_1.*NOW' "$dyn"
# relr_start.o applies DT_RELR: a binary that runs at all has been relocated by it
check_match "elf amd64: relocations packed as DT_RELR" '\(RELR\)' "$dyn"
check_eq "elf amd64: no RELA relocation left" "0" "$(printf '%s' "$dyn" | awk '/\(RELASZ\)/ {print $3}')"
read -r n m <<<"$(ssp_objects "$CK_ROOT/build/musl")"
check "elf amd64: 90% of our objects call __stack_chk_fail (-fstack-protector-strong; $n of $m)" most "$n" "$m"
size=$(stat -c %s "$BIN")
check "elf amd64: at most $MAX_SIZE bytes ($size)" test "$size" -le "$MAX_SIZE"

echo "-- arm64: $ARM"
if [ -x "$ARM" ]; then
    check_match "elf arm64: AArch64" 'Machine: +AArch64' "$(readelf -hW "$ARM")"
    check_eq "elf arm64: no INTERP header (static)" "" "$(readelf -lW "$ARM" | grep -w INTERP)"
    check_eq "elf arm64: no dynamic section (nothing to load)" "" "$(readelf -dW "$ARM" | grep NEEDED)"
    read -r n m <<<"$(ssp_objects "$CK_ROOT/build/arm64-obj")"
    check "elf arm64: 90% of our objects call __stack_chk_fail ($n of $m)" most "$n" "$m"
    size=$(stat -c %s "$ARM")
    check "elf arm64: at most $MAX_SIZE bytes ($size)" test "$size" -le "$MAX_SIZE"
    skip 2 "elf arm64: static PIE and RELRO do not fit the budget on 64 KiB pages (Makefile)"
else
    fail "elf arm64: binary" "$ARM is missing (make arm64)"
fi

echo "-- the running process (amd64, as nobody)"
D=$CK_TMP/elf
mkdir -p "$D/out" "$D/state" "$D/store"
chown -R nobody "$D"
chmod 755 "$CK_TMP"
# run stays up, retrying: its ACME directory (port 31299) does not answer.
setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$BIN" run --domain elf.example \
    --email e2e@example.com --agree-tos --directory https://127.0.0.1:31299/dir \
    --out "$D/out" --state "$D/state" --store-dir "$D/store" --listen 127.0.0.1:31290 \
    >"$D/log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null' EXIT
up=0
for _ in $(seq 1 100); do
    curl -fs -o /dev/null http://127.0.0.1:31290/healthz && { up=1; break; }
    sleep 0.1
done
check_eq "elf run: up and answering /healthz" 1 "$up"
check_eq "elf run: runs as nobody" "nobody" "$(ps -o user= -p "$PID" | tr -d ' ')"
check_match "elf run: core file size limit 0" 'Max core file size +0 +0 ' "$(cat /proc/$PID/limits)"
# Not dumpable: the kernel makes /proc/PID/* root's, and another process of the
# same user cannot read its environment (its memory neither, but Yama's
# ptrace rules refused that here even to a dumpable one: no check of it).
check_eq "elf run: not dumpable (/proc/PID/environ owned by root, not nobody)" "root" \
    "$(stat -c %U /proc/$PID/environ)"
check_fails "elf run: another process of nobody cannot read its environment" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- cat /proc/$PID/environ
# RELRO applied: every page of the GNU_RELRO range is mapped read-only.
relro_ro() {
    python3 - "$PID" "$BIN" <<'PY'
import os, re, subprocess, sys
pid, binary = sys.argv[1], os.path.realpath(sys.argv[2])
out = subprocess.run(['readelf', '-lW', binary], capture_output=True, text=True).stdout
seg = r'\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)'
m = re.search('GNU_RELRO' + seg, out)
vaddr, size = int(m.group(1), 16), int(m.group(2), 16)
first = int(re.search('LOAD' + seg, out).group(1), 16) & ~4095  # where the file's start goes
maps = [l.split() for l in open('/proc/%s/maps' % pid) if l.rstrip().endswith(binary)]
base = min(int(l[0].split('-')[0], 16) for l in maps if int(l[2], 16) == 0) - first
start, end = (base + vaddr) & ~4095, (base + vaddr + size) & ~4095
assert end > start, (hex(start), hex(end))
seen = 0
for l in maps:
    lo, hi = (int(x, 16) for x in l[0].split('-'))
    if lo < end and hi > start:
        assert l[1].startswith('r--'), (l[0], l[1])
        seen += hi - lo
assert seen >= end - start, 'RELRO range not mapped'
print('ok')
PY
}
check_eq "elf run: the RELRO pages are read-only" ok "$(relro_ro 2>&1 | tail -n 1)"
