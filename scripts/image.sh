#!/bin/sh
# `make image`: builds certkeep:local from docker/Dockerfile with the engine at
# $DOCKER_HOST; without one, with a private dockerd whose data root is kept in
# build/containers/docker (so the image and the layer cache stay between runs).
# The build stage's debian:bookworm is imported from scripts/debian-base.sh's root.
# Usage: scripts/image.sh VERSION   (prints the image ID last)
# CK_IMAGE_TAG (default certkeep:local) and CK_BUILD_FLAGS (e.g. --no-cache) for tests;
# CK_IMAGE_SAVE=FILE also writes the image there (docker save: podman loads it).
set -eu
cd "$(dirname "$0")/.."
version=${1:?usage: scripts/image.sh VERSION}
docker=/usr/bin/docker   # Debian's client, the daemon's own version
scripts/containers-setup.sh
scripts/debian-base.sh
own=""
if [ -z "${DOCKER_HOST:-}" ]; then
    own=build/containers/docker
    scripts/dockerd.sh start "$own"
    DOCKER_HOST="unix://$(cd "$own" && pwd)/docker.sock"
    trap 'scripts/dockerd.sh stop "$own"' EXIT
fi
export DOCKER_HOST
$docker image inspect debian:bookworm >/dev/null 2>&1 ||
    $docker import build/containers/bookworm-minbase.tar debian:bookworm >/dev/null
src=$(git remote get-url origin 2>/dev/null || true)
tag=${CK_IMAGE_TAG:-certkeep:local}
# shellcheck disable=SC2086
$docker build ${CK_BUILD_FLAGS:-} --network host -f docker/Dockerfile -t "$tag" \
    --build-arg VERSION="$version" --build-arg SOURCE_URL="$src" \
    --build-arg SOURCE_DATE_EPOCH=0 . >build/containers/build.log 2>&1 ||
    { tail -n 20 build/containers/build.log >&2; echo "image: docker build failed; log: build/containers/build.log" >&2; exit 1; }
[ -z "${CK_IMAGE_SAVE:-}" ] || $docker save -o "$CK_IMAGE_SAVE" "$tag"
$docker image inspect -f '{{.Id}}' "$tag"
