#!/bin/sh
# The container engine for `make image` / `make test-containers`: Debian's docker.io
# and debootstrap (the build stage's base is a local minbase root: no registry here).
# Not called by `make setup`: `make test` does not install docker.
set -eu
missing=""
for p in docker.io debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "containers-setup: run as root to install:$missing" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The tests start their own dockerd; a system one would only hold resources.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now docker.service docker.socket >/dev/null 2>&1 || true
fi
