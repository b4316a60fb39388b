#!/usr/bin/env bash
# make dist (issue 8): per architecture, a tarball holding exactly the binary, its sha256
# and INSTALL, all owner 0/0 at the last commit's time; two runs (the second under
# another umask) give the same bytes; the binary is the build's; its sha256 file verifies.
# arm64 is checked when build/arm64/certkeep exists (make test builds it), else skipped.
set -u
. "$(dirname "$0")/lib.sh"
plan 16
cd "$CK_ROOT" || exit 1

VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
EPOCH=$(git log -1 --format=%ct)
ARCHES="amd64"
[ -f build/arm64/certkeep ] && ARCHES="amd64 arm64"

tgz() { echo "build/dist/certkeep-$VERSION-linux-$1.tar.gz"; }
sums() { local a; for a in $ARCHES; do sha256sum "$(tgz "$a")" 2>/dev/null || echo "missing $a"; done; }

rm -f build/dist/certkeep-*.tar.gz
check "dist: make dist exits 0" make -s dist ARCHES="$ARCHES"
first=$(sums)
# a later mtime on the inputs and a umask that would change the modes: same bytes
touch build/certkeep docker/INSTALL
check "dist: second make dist exits 0" bash -c "umask 077 && make -s dist ARCHES='$ARCHES'"
check_eq "dist: two runs, byte-identical tarballs" "$first" "$(sums)"

# arch_checks ARCH BINARY: 6 checks of one tarball.
arch_checks() {
    local a=$1 bin=$2 t x d
    t=$(tgz "$a") x=$CK_TMP/x-$a d=certkeep-$VERSION-linux-$a
    check_eq "dist: $a: lists exactly the expected files" \
        "$d/ $d/INSTALL $d/certkeep $d/certkeep.sha256" "$(tar -tzf "$t" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
    # every entry: owner 0/0, the last commit's time
    check_eq "dist: $a: owner 0/0, mtime of the last commit" "0/0 $EPOCH" \
        "$(tar --full-time -tvzf "$t" | awk '{print $2}' | sort -u) $(
           tar --full-time -tvzf "$t" | awk '{print $4" "$5}' | sort -u | while read -r dd tt; do
               date -u -d "$dd $tt UTC" +%s; done | sort -u | tr '\n' ' ' | sed 's/ $//')"
    # gzip -n: no stored name (FLG 0) and MTIME 0 in the gzip header
    check_eq "dist: $a: gzip header carries no name or time" "00 00 00 00 00" \
        "$(od -An -tx1 -j3 -N5 "$t" | xargs)"
    mkdir -p "$x" && tar -xzf "$t" -C "$x"
    check "dist: $a: binary inside equals $bin" cmp "$x/$d/certkeep" "$bin"
    check_match "dist: $a: sha256 file verifies" '^certkeep: OK$' \
        "$(cd "$x/$d" && sha256sum -c certkeep.sha256 2>&1)"
    check_match "dist: $a: INSTALL names version and arch" "certkeep $VERSION for linux-$a" \
        "$(cat "$x/$d/INSTALL" 2>&1)"
}
arch_checks amd64 build/certkeep
check_match "dist: amd64: the binary inside runs (certkeep version)" "^certkeep $VERSION" \
    "$("$CK_TMP/x-amd64/certkeep-$VERSION-linux-amd64/certkeep" version 2>&1)"
if [ -f build/arm64/certkeep ]; then
    arch_checks arm64 build/arm64/certkeep
else
    skip 6 "dist: arm64: build/arm64/certkeep not built (make arm64)"
fi
