#!/bin/sh
# The container engines for `make image`, `make image-index` and the container tests
# (tests/containers, run by `make test`): Debian's docker.io and docker-compose,
# podman (with catatonit for its pods' infra container), debootstrap (the images'
# Debian roots: no registry here) and qemu-user-static (the arm64 binary).
set -eu
missing=""
for p in docker.io docker-compose debootstrap podman catatonit qemu-user-static; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "containers-setup: run as root to install:$missing" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The tests start their own dockerd and podman; system services would only hold resources.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now docker.service docker.socket podman.service podman.socket >/dev/null 2>&1 || true
fi
