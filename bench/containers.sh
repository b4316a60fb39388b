#!/usr/bin/env bash
# make bench, the container figures (issue 8), with a private dockerd (host networking,
# data root in $CK_TMP, removed at the end): the image's size; `docker run --rm IMAGE
# version` against the engine's floor (the same engine running a static `true` in a
# FROM scratch image: what any container costs); `docker start -a` of an existing
# container, both images; the memory requests and limits in k8s/ against the peak
# RSS measured by bench/run.sh (given as KiB). Medians over N runs.
# Usage: bench/containers.sh PEAK_RSS_KIB [WHAT_PEAKED]
set -eu
cd "$(dirname "$0")/.."
N=${N:-11}
peak=${1:?usage: bench/containers.sh PEAK_RSS_KIB [WHAT_PEAKED]}
what=${2:-}
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-bench.XXXXXX)}
scripts/containers-setup.sh
d=$CK_TMP/dockerd
cleanup() {
    docker rm -f ck-bench-version ck-bench-true >/dev/null 2>&1 || true
    scripts/dockerd.sh stop "$d"
    rm -rf "$d"
}
docker() { /usr/bin/docker "$@"; }
scripts/dockerd.sh start "$d"
trap cleanup EXIT
export DOCKER_HOST="unix://$d/docker.sock"
echo "containers: building certkeep:local (make image) with a private dockerd ..."
scripts/image.sh "$(sed -n 's/^VERSION *:= *//p' Makefile)" >/dev/null
mkdir -p "$CK_TMP/floor"
printf 'int main(void) { return 0; }\n' >"$CK_TMP/floor/true.c"
musl-gcc -static -Os -s -o "$CK_TMP/floor/true" "$CK_TMP/floor/true.c"
printf 'FROM scratch\nCOPY true /true\nENTRYPOINT ["/true"]\n' >"$CK_TMP/floor/Dockerfile"
docker build -q -t ck-floor:bench "$CK_TMP/floor" >/dev/null

# median_ms CMD...: median wall time of N runs of CMD (output discarded), in ms
median_ms() {
    local i t0 ts=()
    "$@" >/dev/null 2>&1 || { echo "bench: $* failed" >&2; return 1; }   # warm-up
    for ((i = 0; i < N; i++)); do
        t0=$(date +%s%N); "$@" >/dev/null 2>&1; ts+=($((($(date +%s%N) - t0) / 1000000)))
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
size=$(docker image inspect -f '{{.Size}}' certkeep:local)
bin=$(stat -c %s build/certkeep)
echo "image certkeep:local: $size bytes (binary $bin, CA bundle and mount points $((size - bin)))"
printf '%-52s %9s\n' "container start (median of $N)" "wall ms"
r_ver=$(median_ms docker run --rm --network host certkeep:local version)
r_true=$(median_ms docker run --rm --network host ck-floor:bench)
docker create --name ck-bench-version --network host certkeep:local version >/dev/null
docker create --name ck-bench-true --network host ck-floor:bench >/dev/null
s_ver=$(median_ms docker start -a ck-bench-version)
s_true=$(median_ms docker start -a ck-bench-true)
native=$(median_ms build/certkeep version)
printf '%-52s %9s\n' "docker run --rm certkeep:local version" "$r_ver" \
    "docker run --rm (static true, FROM scratch: the floor)" "$r_true" \
    "docker start -a (existing container) certkeep version" "$s_ver" \
    "docker start -a (existing container) static true" "$s_true" \
    "build/certkeep version, no container" "$native"
echo "certkeep's share of docker run: $((r_ver - r_true)) ms of $r_ver; of docker start -a: $((s_ver - s_true)) ms of $s_ver"

# Memory: every certkeep container's request and limit in k8s/ against the measured peak.
echo "memory: peak RSS measured $peak KiB${what:+ ($what)}"
python3 - "$peak" k8s <<'PY'
import glob, sys, yaml
peak = int(sys.argv[1])
unit = {"Ki": 1, "Mi": 1024, "Gi": 1024 * 1024}
def kib(q):
    for u, m in unit.items():
        if q.endswith(u):
            return int(q[:-2]) * m
    return int(q) // 1024
def pods(doc):
    spec = doc.get("spec", {})
    if doc.get("kind") == "Pod":
        yield spec
    elif "template" in spec:
        yield spec["template"]["spec"]
for f in sorted(glob.glob(sys.argv[2] + "/**/*.yaml", recursive=True)):
    for doc in yaml.safe_load_all(open(f)):
        if not isinstance(doc, dict):
            continue
        for spec in pods(doc):
            for c in spec.get("initContainers", []) + spec.get("containers", []):
                if not c.get("image", "").startswith("certkeep"):
                    continue
                r = c.get("resources", {})
                req, lim = r.get("requests", {}).get("memory"), r.get("limits", {}).get("memory")
                ok = req and lim and kib(req) >= peak and kib(lim) >= 2 * peak
                print("  %-4s %-40s request %-5s limit %-5s (peak x %.1f / x %.1f)" % (
                    "ok" if ok else "MISS", f + ":" + c["name"], req, lim,
                    kib(req) / peak if req else 0, kib(lim) / peak if lim else 0))
PY
verdict() { if awk "BEGIN {exit !($2)}"; then echo "  ok    $1"; else echo "  MISS  $1"; fi; }
echo "targets (issue 8):"
verdict "image <= 1.2 MB ($size bytes)" "$size <= 1200000"
verdict "docker run ... version <= 50 ms ($r_ver; the engine alone: $r_true)" "$r_ver <= 50"
