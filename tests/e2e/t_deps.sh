#!/usr/bin/env bash
# The static dependencies carry Debian's patches: every patch of each pinned
# package's debian/patches/series is in the tree that was built, `certkeep version`
# names the exact Debian versions and patch counts, and a patch that does not apply
# stops scripts/deps.sh with one line (nothing is fetched: the tarballs are copied).
set -u
. "$(dirname "$0")/lib.sh"
plan 15

LOCK=$CK_ROOT/scripts/deps.lock
SRC=$CK_ROOT/build/deps/src
WORK=$CK_ROOT/build/deps/work/musl
field() { awk -v p="$1" -v c="$2" '$1 == p { print $c }' "$LOCK"; }
series_of() { tar -xOf "$SRC/$(field "$1" 5)" debian/patches/series 2>/dev/null | grep -cvE '^[[:space:]]*(#|$)'; }

ere() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }
version=$("$CK_BIN" version 2>&1)
for p in bearssl cjson libyaml curl; do
    n=$(series_of "$p")
    check_match "version: $p $(field "$p" 2) with its $n Debian patches" \
        "$(ere "$p $(field "$p" 2) ($n Debian patches)")" "$version"
    # the series reverses cleanly, last patch first, on a copy of the tree the
    # binary was built from: every patch is in it
    bad=""
    if [ "$n" -gt 0 ]; then
        rm -rf "$CK_TMP/rev" && cp -a "$WORK/$p" "$CK_TMP/rev"
        while read -r name opt _; do
            case "$opt" in -p[0-9]) strip=$opt ;; *) strip=-p1 ;; esac
            patch -d "$CK_TMP/rev" "$strip" -R --batch --fuzz=0 -s --no-backup-if-mismatch \
                -i "debian/patches/$name" >/dev/null 2>&1 || bad="$bad $name"
        done < <(grep -vE '^[[:space:]]*(#|$)' "$WORK/$p/debian/patches/series" | tac)
    fi
    check_eq "build tree: every Debian patch of $p applied" "" "$bad"
done
check_match "the curl build carries Debian's CVE fixes" "curl 8\\.14\\.1-2\\+deb13u[0-9]+ \\(([2-9][0-9]) Debian" "$version"

# A Debian tarball whose series names a patch that does not apply: one line, exit 1.
R=$CK_TMP/deps-root
mkdir -p "$R/scripts" "$R/build/deps/src" "$CK_TMP/deb"
cp "$CK_ROOT/scripts/deps.sh" "$R/scripts/"
for p in bearssl cjson libyaml curl; do cp "$SRC/$(field "$p" 3)" "$SRC/$(field "$p" 5)" "$R/build/deps/src/"; done
deb=$(field bearssl 5)
tar -xf "$SRC/$deb" -C "$CK_TMP/deb"
mkdir -p "$CK_TMP/deb/debian/patches"
printf 'broken.patch\n' >"$CK_TMP/deb/debian/patches/series"
cat >"$CK_TMP/deb/debian/patches/broken.patch" <<'PATCH'
--- a/inc/bearssl.h
+++ b/inc/bearssl.h
@@ -1,3 +1,3 @@
-this line is not in bearssl.h
+nor is this one
 and neither
 is this
PATCH
tar -cJf "$R/build/deps/src/$deb" -C "$CK_TMP/deb" debian
sum=$(sha256sum "$R/build/deps/src/$deb" | cut -d' ' -f1)
awk -v s="$sum" '$1 == "bearssl" { $6 = s } { print }' "$LOCK" >"$R/scripts/deps.lock"
"$R/scripts/deps.sh" musl "$R/prefix" >"$CK_TMP/deps.out" 2>"$CK_TMP/deps.err"; rc=$?
check_eq "broken patch: deps.sh exits 1" 1 "$rc"
check_eq "broken patch: one line on stderr" 1 "$(grep -c . "$CK_TMP/deps.err")"
check_match "broken patch: the line names the package and the patch" \
    "bearssl=0\\.6.*Debian patch broken\\.patch does not apply" "$(cat "$CK_TMP/deps.err")"
check_eq "broken patch: nothing marked built" "" "$(ls "$R/prefix/.done" 2>/dev/null)"

# A mirror that serves another .debian tarball than the pinned one: refused, kept
# aside, never extracted. (apt stands in for such a mirror: the real one serves the
# genuine file.)
mkdir -p "$CK_TMP/mirror" "$CK_TMP/fakeapt"
cp "$R/build/deps/src/$deb" "$CK_TMP/mirror/$deb"
cp "$SRC/$(field bearssl 3)" "$CK_TMP/mirror/"
rm -f "$R/build/deps/src/$deb"
cp "$LOCK" "$R/scripts/deps.lock"   # the pinned sums: the mirror's file does not match
printf '#!/bin/sh\necho "Version: %s"\n' "$(field bearssl 2)" >"$CK_TMP/fakeapt/apt-cache"
printf '#!/bin/sh\ncp %s/mirror/* .\n' "$CK_TMP" >"$CK_TMP/fakeapt/apt-get"
chmod +x "$CK_TMP/fakeapt/apt-cache" "$CK_TMP/fakeapt/apt-get"
PATH=$CK_TMP/fakeapt:$PATH "$R/scripts/deps.sh" musl "$R/prefix" >"$CK_TMP/deps.out" 2>"$CK_TMP/deps.err"
rc=$?
check_eq "tampered .debian tarball: exit 1, one line" "1 1" "$rc $(grep -c . "$CK_TMP/deps.err")"
check_match "tampered .debian tarball: refused by its sha256" "sha256 mismatch for $(ere "$deb").*refusing" \
    "$(cat "$CK_TMP/deps.err")"
