#!/bin/sh
# dist.sh VERSION ARCH=BINARY...: build/dist/certkeep-VERSION-linux-ARCH.tar.gz for each
# pair, holding the binary, its sha256 and docker/INSTALL. Reproducible: every entry has
# the last commit's time (or $SOURCE_DATE_EPOCH), owner 0/0 and a fixed mode, names are
# sorted, and gzip -n stores no name or time: the same inputs give the same bytes.
set -eu
[ $# -ge 2 ] || { echo "usage: dist.sh VERSION ARCH=BINARY..." >&2; exit 2; }
version=$1; shift
out=build/dist
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || {
        echo "dist.sh: not a git checkout: set SOURCE_DATE_EPOCH" >&2; exit 1; }
fi
mkdir -p "$out"
for pair in "$@"; do
    arch=${pair%%=*} bin=${pair#*=}
    [ -f "$bin" ] || { echo "dist.sh: $bin (linux-$arch) is missing" >&2; exit 1; }
    name=certkeep-$version-linux-$arch
    stage=$out/.stage-$arch
    rm -rf "$stage" && mkdir -p "$stage/$name"
    cp "$bin" "$stage/$name/certkeep"
    (cd "$stage/$name" && sha256sum certkeep >certkeep.sha256)
    sed -e "s/@VERSION@/$version/g" -e "s/@ARCH@/$arch/g" docker/INSTALL >"$stage/$name/INSTALL"
    # gnu format: no pax headers carrying atime/ctime; modes fixed whatever the umask
    tar --format=gnu --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
        --numeric-owner --mode='u=rwX,go=rX,u-s,g-s' -C "$stage" -cf - "$name" \
        | gzip -n -9 >"$out/$name.tar.gz.tmp"
    mv "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"
    rm -rf "$stage"
    echo "$out/$name.tar.gz"
done
