#!/bin/sh
# Installs everything the build and the tests need on a fresh Debian bookworm.
# Idempotent and quiet when all is there already.
set -eu
cd "$(dirname "$0")/.."
need_root() { [ "$(id -u)" = 0 ] || { echo "setup: run as root (apt-get install)" >&2; exit 1; }; }

PKGS="build-essential musl-tools dpkg-dev xz-utils ca-certificates openssl curl file
      libcmocka-dev valgrind time python3 nginx-light knot knot-dnsutils unbound hyperfine procps
      strace iproute2 patch python3-yaml clang libclang-rt-14-dev
      radosgw ceph-mon ceph-osd prometheus"
# make arm64: Debian's aarch64 cross gcc with arm64 musl (its aarch64-linux-musl-gcc
# wrapper), and qemu to run the result. Not musl-tools:arm64: it replaces the amd64 one.
ARM64_PKGS="gcc-aarch64-linux-gnu musl-dev:arm64 qemu-user-static"
missing=""
for p in $PKGS $ARM64_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Pebble 2.10 (ARI, profiles, User-Agent checks) comes from the development suite.
pebble_ok=0
if command -v pebble >/dev/null 2>&1; then
    v=$(dpkg-query -W -f='${Version}' pebble 2>/dev/null || true)
    dpkg --compare-versions "${v:-0}" ge 2.10 && pebble_ok=1
fi
if [ -n "$missing" ] || [ "$pebble_ok" = 0 ] || [ ! -f /etc/apt/sources.list.d/certkeep-extra.sources ]; then
    need_root
    export DEBIAN_FRONTEND=noninteractive
    scripts/apt-sources.sh
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    [ -z "$missing" ] || apt-get install -y -qq --no-install-recommends $missing >/dev/null
    [ "$pebble_ok" = 1 ] || apt-get install -y -qq --no-install-recommends pebble/sid >/dev/null
fi
# nginx, knot and unbound must not hold ports as system services (the tests start their
# own); nor prometheus, there for promtool (the tests check /metrics with it).
for s in nginx knot unbound prometheus; do
    if command -v systemctl >/dev/null 2>&1; then systemctl stop "$s" >/dev/null 2>&1 || true; fi
    pkill -x "$s" >/dev/null 2>&1 || true
done
# The manifest checks (tests/e2e/t_manifests.sh): node and npm (unless another node is
# installed), docker-compose, and kubectl from trixie (bookworm's 1.20 has a kustomize
# without components). By command, so that a node or kubectl from elsewhere is kept.
tools=""
command -v node >/dev/null 2>&1 || tools="$tools nodejs"
command -v npm >/dev/null 2>&1 || tools="$tools npm"
command -v docker-compose >/dev/null 2>&1 || tools="$tools docker-compose"
command -v kubectl >/dev/null 2>&1 || tools="$tools kubectl/trixie"
if [ -n "$tools" ]; then
    need_root
    export DEBIAN_FRONTEND=noninteractive
    scripts/apt-sources.sh
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $tools >/dev/null
fi
# The pinned npm packages (package-lock.json) of tests/tools, again when the lock changed.
if [ ! -f tests/tools/node_modules/.package-lock.json ] ||
   [ tests/tools/package-lock.json -nt tests/tools/node_modules/.package-lock.json ]; then
    (cd tests/tools && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
python3 -c 'import moto, boto3' 2>/dev/null || {
    echo "setup: python3 with moto and boto3 is required for the S3 tests" >&2; exit 1; }
echo "setup: ok"
