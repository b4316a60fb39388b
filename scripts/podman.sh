#!/bin/sh
# A private rootful podman: storage, run state, volumes, events and networks under
# DIR; cgroupfs (no systemd here), runc, no registry. Its rlimits are the machine's
# (podman's default nofile and nproc exceed what this sandbox lets a process raise).
# Usage: scripts/podman.sh DIR ARGS...   (runs podman ARGS with that configuration)
#        scripts/podman.sh DIR --reset   (removes all it holds, then DIR)
set -eu
[ $# -ge 2 ] || { echo "usage: scripts/podman.sh DIR ARGS... | DIR --reset" >&2; exit 2; }
mkdir -p "$1"
d=$(cd "$1" && pwd); shift
export CONTAINERS_CONF=$d/containers.conf CONTAINERS_STORAGE_CONF=$d/storage.conf
if [ ! -s "$d/storage.conf" ]; then
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
fi
if [ "$1" = --reset ]; then
    podman system reset --force >/dev/null 2>&1 || true
    rm -rf "$d"
    exit 0
fi
exec podman "$@"
