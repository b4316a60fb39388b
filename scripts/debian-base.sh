#!/bin/sh
# Writes build/containers/bookworm-minbase.tar: a `debootstrap --variant=minbase
# bookworm` root, the build stage's `debian:bookworm` (no registry is reachable).
# `scripts/debian-base.sh nginx` writes build/containers/bookworm-nginx.tar: the same
# root with Debian's nginx, set up as the official image is (logs to stdout/stderr,
# temp files under /var/cache/nginx, sites in /etc/nginx/conf.d) so that it runs as
# any user with a read-only root and tmpfs /var/cache/nginx and /run: the tests' app.
# The mirror comes from the machine's own Debian source list, as in apt-sources.sh.
# Cached: a second run reuses the tarball.
set -eu
cd "$(dirname "$0")/.."
flavour=${1:-minbase}
case $flavour in
    minbase) include="" ;;
    nginx) include="--include=nginx" ;;
    *) echo "usage: scripts/debian-base.sh [minbase|nginx]" >&2; exit 2 ;;
esac
out=build/containers/bookworm-$flavour.tar
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
log=build/containers/debootstrap-$flavour.log
# shellcheck disable=SC2086
debootstrap --variant=minbase $include bookworm "$root" "$uri" >"$log" 2>&1 ||
    { echo "debian-base: debootstrap failed; log: $log" >&2; exit 1; }
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# The machine's own apt date checks (a snapshot archive may carry expired Release
# files): the build stage's apt then behaves as the host's does.
apt-config dump | grep -E '^Acquire::Check-(Valid-Until|Date) ' \
    >"$root/etc/apt/apt.conf.d/99host-checks" || true
if [ "$flavour" = nginx ]; then
    rm -f "$root"/etc/nginx/sites-enabled/* "$root"/var/log/nginx/*
    # nginx opens its built-in error log before reading the config
    ln -s /dev/stderr "$root/var/log/nginx/error.log"
    ln -s /dev/stdout "$root/var/log/nginx/access.log"
    cat >"$root/etc/nginx/nginx.conf" <<'NGX'
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    client_body_temp_path /var/cache/nginx/client_temp;
    proxy_temp_path /var/cache/nginx/proxy_temp;
    fastcgi_temp_path /var/cache/nginx/fastcgi_temp;
    uwsgi_temp_path /var/cache/nginx/uwsgi_temp;
    scgi_temp_path /var/cache/nginx/scgi_temp;
    include /etc/nginx/conf.d/*.conf;
}
NGX
    # world-writable as a Kubernetes emptyDir is: podman's emptyDir takes the mount
    # point's owner and mode from the image, and nginx runs as any user here
    mkdir -p "$root/var/cache/nginx"
    chmod 1777 "$root/var/cache/nginx" "$root/run"
    [ -x "$root/usr/sbin/nginx" ] || { echo "debian-base: no nginx in the root" >&2; exit 1; }
fi
tar --numeric-owner --sort=name -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
