#!/bin/sh
# Adds deb-src for bookworm and deb + deb-src for trixie and sid, pinned low, derived
# from the machine's own Debian source list so that no archive host is written here.
set -eu
src=/etc/apt/sources.list.d/debian.sources
out=/etc/apt/sources.list.d/certkeep-extra.sources
[ -f "$out" ] && exit 0
if [ -f "$src" ]; then
    uri=$(awk '/^URIs:/ && !/security/ {print $2; exit}' "$src")
else
    uri=$(awk '$1=="deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
fi
[ -n "$uri" ] || { echo "apt-sources: no Debian URI found in $src" >&2; exit 1; }
key=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$out" <<SRC
Types: deb-src
URIs: $uri
Suites: bookworm
Components: main
Signed-By: $key

Types: deb deb-src
URIs: $uri
Suites: trixie sid
Components: main
Signed-By: $key
SRC
cat >/etc/apt/preferences.d/certkeep-extra <<PREF
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=sid
Pin-Priority: 50
PREF
apt-get update -qq
