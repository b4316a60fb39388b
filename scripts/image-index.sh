#!/bin/sh
# `make image-index`: the two-architecture certkeep image. amd64 is docker/Dockerfile's
# image (scripts/image.sh, loaded from its `docker save`); arm64 is docker/Dockerfile.arm64
# around build/arm64/certkeep (make arm64) with the amd64 image's CA bundle; both go
# into the OCI image index localhost/certkeep:index of a private podman
# (scripts/podman.sh, in $CK_PODMAN_DIR, default build/containers/podman), written as
# an OCI layout to build/containers/certkeep-oci (tag VERSION).
# Usage: scripts/image-index.sh VERSION [AMD64_DOCKER_ARCHIVE]   (default: build it)
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/image-index.sh VERSION [AMD64_DOCKER_ARCHIVE]}
archive=${2:-}
bin=build/arm64/certkeep
[ -x "$bin" ] || { echo "image-index: $bin is missing (make arm64)" >&2; exit 1; }
pdir=${CK_PODMAN_DIR:-build/containers/podman}
podman() { scripts/podman.sh "$pdir" "$@"; }
mkdir -p build/containers
if [ -z "$archive" ]; then
    archive=build/containers/certkeep-amd64.tar
    CK_IMAGE_SAVE=$archive scripts/image.sh "$version" >/dev/null
fi
podman load -q -i "$archive" >/dev/null
podman tag certkeep:local localhost/certkeep:local-amd64

ctx=build/containers/arm64-context
rm -rf "$ctx"
mkdir -p "$ctx/root/etc/ssl/certs" "$ctx/dirs/certs" "$ctx/dirs/var/lib/certkeep" "$ctx/dirs/var/www/acme"
cp "$bin" "$ctx/root/certkeep"
mnt=$(podman image mount localhost/certkeep:local-amd64)
cp "$mnt/etc/ssl/certs/ca-certificates.crt" "$ctx/root/etc/ssl/certs/"
podman image unmount localhost/certkeep:local-amd64 >/dev/null
chmod 0755 "$ctx/root/certkeep"
chmod 0644 "$ctx/root/etc/ssl/certs/ca-certificates.crt"
find "$ctx" -exec touch -h -d @0 {} +
src=$(git remote get-url origin 2>/dev/null || true)
podman build -q --arch arm64 --os linux --timestamp 0 -f docker/Dockerfile.arm64 \
    --build-arg VERSION="$version" --build-arg SOURCE_URL="$src" \
    -t localhost/certkeep:local-arm64 "$ctx" >build/containers/build-arm64.log 2>&1 ||
    { tail -n 20 build/containers/build-arm64.log >&2; echo "image-index: arm64 build failed" >&2; exit 1; }

podman manifest rm localhost/certkeep:index >/dev/null 2>&1 || true
podman manifest create localhost/certkeep:index >/dev/null
podman manifest add localhost/certkeep:index containers-storage:localhost/certkeep:local-amd64 >/dev/null
podman manifest add localhost/certkeep:index containers-storage:localhost/certkeep:local-arm64 >/dev/null
rm -rf build/containers/certkeep-oci
podman manifest push -q --all --format oci localhost/certkeep:index "oci:build/containers/certkeep-oci:$version" \
    >build/containers/push-oci.log 2>&1 ||
    { tail -n 20 build/containers/push-oci.log >&2; echo "image-index: writing the OCI layout failed" >&2; exit 1; }
echo "image-index: localhost/certkeep:index (linux/amd64, linux/arm64), OCI layout build/containers/certkeep-oci"
