# Sourced by tests/containers/t_*.sh after ../e2e/lib.sh: the engine and the images.
# tests/run.sh starts one private dockerd for all the scripts of a run and names its
# directory in CK_DOCKER_DIR (so the images are built once); a script run alone starts
# its own in $CK_TMP/dockerd. engine_stop stops only a dockerd the script started,
# and removes its data root (~2.5 GB with the build stages).
DOCKER_BIN=/usr/bin/docker   # Debian's client, the daemon's own version
ENGINE_DIR="" ENGINE_OWN=0

engine_start() {
    if [ -n "${CK_DOCKER_DIR:-}" ] && [ -S "$CK_DOCKER_DIR/docker.sock" ]; then
        ENGINE_DIR=$CK_DOCKER_DIR ENGINE_OWN=0
    else
        ENGINE_DIR=$CK_TMP/dockerd ENGINE_OWN=1
        "$CK_ROOT/scripts/dockerd.sh" start "$ENGINE_DIR" || return 1
    fi
    export DOCKER_HOST="unix://$ENGINE_DIR/docker.sock"
}
engine_stop() {
    [ "$ENGINE_OWN" = 1 ] || return 0
    "$CK_ROOT/scripts/dockerd.sh" stop "$ENGINE_DIR"
    rm -rf "$ENGINE_DIR/data"
}
docker() { "$DOCKER_BIN" "$@"; }

# certkeep:local from docker/Dockerfile (scripts/image.sh; the layer cache makes a
# second call in one run take seconds). Prints the image ID.
certkeep_image() {
    "$CK_ROOT/scripts/image.sh" 0.0.0-test 2>"$CK_TMP/image.err" | tail -n 1
}

# ck-nginx:test, the app: Debian's nginx in a debootstrap'd root (scripts/debian-base.sh
# nginx, cached under build/containers), imported with the official image's command.
nginx_image() {
    "$CK_ROOT/scripts/debian-base.sh" nginx || return 1
    docker image inspect ck-nginx:test >/dev/null 2>&1 && return 0
    docker import --change 'CMD ["nginx", "-g", "daemon off;"]' --change "ENV PATH=$NGINX_PATH" \
        "$CK_ROOT/build/containers/bookworm-nginx.tar" ck-nginx:test >/dev/null
}

NGINX_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The private podman of scripts/podman.sh, its directory in $PODMAN_DIR.
podman() { "$CK_ROOT/scripts/podman.sh" "$PODMAN_DIR" "$@"; }
podman_reset() { [ -z "${PODMAN_DIR:-}" ] || "$CK_ROOT/scripts/podman.sh" "$PODMAN_DIR" --reset; }
