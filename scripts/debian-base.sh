#!/bin/sh
# Writes build/containers/bookworm-minbase.tar: a `debootstrap --variant=minbase
# bookworm` root, the build stage's `debian:bookworm` (no registry is reachable).
# The mirror comes from the machine's own Debian source list, as in apt-sources.sh.
# Cached: a second run reuses the tarball.
set -eu
cd "$(dirname "$0")/.."
out=build/containers/bookworm-minbase.tar
[ -s "$out" ] && exit 0
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
    uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' "$src")
else
    uri=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "debian-base: no Debian URI found in $src" >&2; exit 1; }
mkdir -p build/containers
root=$(mktemp -d build/containers/rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$uri" >build/containers/debootstrap.log 2>&1 ||
    { echo "debian-base: debootstrap failed; log: build/containers/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# The machine's own apt date checks (a snapshot archive may carry expired Release
# files): the build stage's apt then behaves as the host's does.
apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' \
    >"$root/etc/apt/apt.conf.d/99host-checks" || true
tar --numeric-owner --sort=name -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
