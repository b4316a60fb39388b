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

# A private rootful podman: storage, run state, volumes, events and networks under
# DIR; cgroupfs (no systemd here), runc, the machine's own rlimits (podman's default
# nofile and nproc exceed what this sandbox lets a process raise to). Defines podman().
podman_env() {
    local d=$1
    mkdir -p "$d" || return 1
    cat >"$d/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
runtime = "runc"
tmp_dir = "$d/tmp"
volume_path = "$d/volumes"
[network]
network_config_dir = "$d/net"
CONF
    cat >"$d/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$d/root"
runroot = "$d/run"
CONF
    export CONTAINERS_CONF=$d/containers.conf CONTAINERS_STORAGE_CONF=$d/storage.conf
}
podman() { /usr/bin/podman "$@"; }
# Removes every container, image and volume of the private podman, then its directory.
podman_reset() {
    [ -n "${CONTAINERS_STORAGE_CONF:-}" ] || return 0
    /usr/bin/podman system reset --force >/dev/null 2>&1
    rm -rf "$(dirname "$CONTAINERS_STORAGE_CONF")"
}
