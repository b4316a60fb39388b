#!/usr/bin/env bash
# The two-architecture image (issue 8): scripts/image-index.sh puts docker/Dockerfile's
# amd64 image and docker/Dockerfile.arm64's image of the cross-built binary into one
# OCI image index (private podman). The index lists linux/amd64 and linux/arm64; the
# arm64 image has the amd64 one's config, CA bundle and mount points, its binary is
# build/arm64/certkeep and runs under qemu-aarch64-static (binfmt_misc is not mounted
# here: the extracted binary is run explicitly); a rebuild gives the same image.
set -u
. "$(dirname "$0")/../e2e/lib.sh"
. "$(dirname "$0")/lib.sh"
plan 12
W=$CK_TMP/index
PODMAN_DIR=$CK_TMP/podman
mkdir -p "$W"
cleanup() { podman_reset; engine_stop; }
trap cleanup EXIT
ARM=$CK_ROOT/build/arm64/certkeep
if [ ! -x "$ARM" ]; then fail "index: arm64 binary" "$ARM is missing (make arm64)"; exit 1; fi

echo "-- the amd64 image (dockerd), then the index (podman)"
if ! engine_start; then fail "index: dockerd starts" "see $CK_TMP/dockerd/dockerd.log"; exit 1; fi
certkeep_image >/dev/null
docker save -o "$W/amd64.tar" certkeep:local
t0=$(now_ms)
CK_PODMAN_DIR=$PODMAN_DIR "$CK_ROOT/scripts/image-index.sh" 0.0.0-test "$W/amd64.tar" >"$W/index.log" 2>&1
rc=$?
echo "  image-index: $(($(now_ms) - t0)) ms"
check_eq "index: image-index.sh exits 0 (log: $W/index.log)" 0 "$rc"
[ "$rc" = 0 ] || { tail -n 5 "$W/index.log"; exit 1; }
platforms() { python3 -c 'import json, sys
print(" ".join(sorted("%s/%s" % (m["platform"]["os"], m["platform"]["architecture"]) for m in json.load(sys.stdin)["manifests"])))'; }
check_eq "index: podman manifest inspect lists amd64 and arm64" "linux/amd64 linux/arm64" \
    "$(podman manifest inspect localhost/certkeep:index 2>/dev/null | platforms)"
OCI=$CK_ROOT/build/containers/certkeep-oci
oci=$(python3 - "$OCI" <<'PY' 2>&1
import json, sys
d = sys.argv[1]
blob = lambda dg: json.load(open(d + "/blobs/sha256/" + dg.split(":")[1]))
top = json.load(open(d + "/index.json"))["manifests"]
assert len(top) == 1 and top[0]["mediaType"] == "application/vnd.oci.image.index.v1+json", top
idx = blob(top[0]["digest"])
print(top[0]["annotations"]["org.opencontainers.image.ref.name"], idx["mediaType"],
      " ".join(sorted("%s/%s:%s" % (m["platform"]["os"], m["platform"]["architecture"],
                                   blob(m["digest"])["mediaType"].rsplit(".", 2)[-2]) for m in idx["manifests"])))
PY
)
check_eq "index: OCI layout holds an OCI image index of both" \
    "0.0.0-test application/vnd.oci.image.index.v1+json linux/amd64:manifest linux/arm64:manifest" "$oci"

echo "-- the arm64 image"
cfg='{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} {{index .Config.Labels "org.opencontainers.image.version"}}'
check_eq "index: arm64 image is linux/arm64" "linux arm64" \
    "$(podman image inspect -f '{{.Os}} {{.Architecture}}' localhost/certkeep:local-arm64 2>/dev/null)"
a=$(podman image inspect -f "$cfg" localhost/certkeep:local-amd64 2>/dev/null)
b=$(podman image inspect -f "$cfg" localhost/certkeep:local-arm64 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ]; then pass "index: arm64 config as amd64's ($b)"
else fail "index: arm64 config as amd64's" "amd64 '$a', arm64 '$b'"; fi
size=$(podman image inspect -f '{{.Size}}' localhost/certkeep:local-arm64 2>/dev/null)
echo "  arm64 image size: ${size:-?} bytes"
check "index: arm64 image at most 1.2 MB (${size:-?} bytes)" test "${size:-99999999}" -le 1200000
m64=$(podman image mount localhost/certkeep:local-arm64 2>/dev/null)
m86=$(podman image mount localhost/certkeep:local-amd64 2>/dev/null)
check "index: arm64 image's binary is build/arm64/certkeep" cmp "$m64/certkeep" "$ARM"
check "index: same CA bundle as the amd64 image" cmp "$m64/etc/ssl/certs/ca-certificates.crt" \
    "$m86/etc/ssl/certs/ca-certificates.crt"
check_eq "index: mount points owned by 65532" "65532 65532 65532" \
    "$(stat -c %u "$m64/certs" "$m64/var/lib/certkeep" "$m64/var/www/acme" 2>&1 | tr '\n' ' ' | sed 's/ $//')"
cp "$m64/certkeep" "$W/certkeep-arm64" 2>/dev/null
podman image unmount localhost/certkeep:local-arm64 localhost/certkeep:local-amd64 >/dev/null 2>&1
check_match "index: the image's binary is static aarch64" 'ARM aarch64.*statically linked' \
    "$(file "$W/certkeep-arm64" 2>&1)"
# the same sources and deps: the same version text as the amd64 binary
v64=$(qemu-aarch64-static "$W/certkeep-arm64" version 2>&1)
same() { if [ -n "$2" ] && [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }
same "index: the image's arm64 binary runs under qemu (version)" "$("$CK_BIN" version 2>&1)" "$v64"

echo "-- a rebuild gives the same arm64 image"
id1=$(podman image inspect -f '{{.Id}}' localhost/certkeep:local-arm64 2>/dev/null)
CK_PODMAN_DIR=$PODMAN_DIR "$CK_ROOT/scripts/image-index.sh" 0.0.0-test "$W/amd64.tar" >"$W/index2.log" 2>&1
same "index: same arm64 image ID on rebuild" "$id1" "$(podman image inspect -f '{{.Id}}' localhost/certkeep:local-arm64 2>/dev/null)"
