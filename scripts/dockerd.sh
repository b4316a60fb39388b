#!/bin/sh
# A private dockerd: data root, exec root and socket under DIR, host networking only
# (no bridge, no iptables), its own containerd. The socket is DIR/docker.sock.
# Usage: scripts/dockerd.sh start DIR | stop DIR
set -eu
[ $# -eq 2 ] || { echo "usage: scripts/dockerd.sh start|stop DIR" >&2; exit 2; }
dir=$2
case $1 in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # unix socket paths are limited to 107 bytes: the exec root gets a short one.
    exec_root=$(mktemp -d /tmp/ckd.XXXXXX)
    echo "$exec_root" >"$dir/exec-root"
    setsid dockerd --data-root "$dir/data" --exec-root "$exec_root" --pidfile "$dir/dockerd.pid" \
        -H "unix://$dir/docker.sock" --bridge=none --iptables=false --ip6tables=false \
        --storage-driver=overlay2 >"$dir/dockerd.log" 2>&1 </dev/null &
    i=0
    until DOCKER_HOST="unix://$dir/docker.sock" /usr/bin/docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $! 2>/dev/null; then
            echo "dockerd: did not start; log: $dir/dockerd.log" >&2; tail -n 5 "$dir/dockerd.log" >&2; exit 1
        fi
        sleep 0.1
    done ;;
stop)
    [ -f "$dir/dockerd.pid" ] || exit 0
    pid=$(cat "$dir/dockerd.pid")
    kill "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    if [ -f "$dir/exec-root" ]; then
        er=$(cat "$dir/exec-root")
        # dockerd leaves its netns mount behind
        grep -o " $er/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
        rm -rf "$er"
    fi
    rm -f "$dir/exec-root" ;;
*) echo "usage: scripts/dockerd.sh start|stop DIR" >&2; exit 2 ;;
esac
