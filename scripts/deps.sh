#!/bin/sh
# Builds the static dependencies from the pinned Debian source packages of
# scripts/deps.lock: BearSSL, cJSON, libyaml and a minimal libcurl (HTTP and
# HTTPS over BearSSL, AWS SigV4, proxies) into PREFIX/{include,lib}.
# Usage: scripts/deps.sh musl|glibc|arm64 PREFIX  (PREFIX/.done is written last)
# arm64: the musl flavour cross-built for aarch64 (Debian's gcc-aarch64-linux-gnu
# with musl-dev:arm64's aarch64-linux-musl-gcc wrapper).
# Quiet: the build output goes to build/deps/<flavour>.log.
set -eu

usage() { echo "usage: scripts/deps.sh musl|glibc|arm64 PREFIX" >&2; exit 2; }
[ $# -eq 2 ] || usage
flavour=$1
ar=ar
host=""   # configure's --host: set when cross-building
case "$flavour" in
    musl)  cc=musl-gcc
           # -Os and sections: the shipped binary is linked with --gc-sections;
           # no unwind tables: nothing unwinds C, and .eh_frame was 11% of the binary.
           cflags="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables" ;;
    glibc) cc=gcc
           cflags="-O2 -g" ;;
    arm64) cc=aarch64-linux-musl-gcc
           host=aarch64-linux-musl
           host_bin=aarch64-linux-gnu   # binutils prefix
           ar=$host_bin-ar
           # tiny code model: adr instead of adrp+add (the binary stays far below 1 MB)
           cflags="-Os -mcmodel=tiny -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables" ;;
    *) usage ;;
esac
jobs=${DEPS_JOBS:-2}

root=$(cd "$(dirname "$0")/.." && pwd)
lock=$root/scripts/deps.lock
src=$root/build/deps/src
work=$root/build/deps/work/$flavour
log=$root/build/deps/$flavour.log
mkdir -p "$src" "$work"
mkdir -p "$2"
prefix=$(cd "$2" && pwd)

step="start"
why=""
# One line on failure: the step, the reason (or the log's last error line), the log.
finish() {
    rc=$?
    [ "$rc" = 0 ] && return 0
    if [ -z "$why" ] && [ -f "$log" ]; then
        why=$(grep -i 'error' "$log" | tail -n 1 | cut -c1-200)
    fi
    echo "deps: $flavour: FAILED at $step (exit $rc)${why:+: $why}; log: $log" >&2
}
trap finish EXIT
die() { why="$*"; echo "$*" >>"$log"; exit 1; }

# One build per flavour at a time (make -j, or two makes in one tree): the
# second waits, then finds the work done.
exec 8>"$root/build/deps/$flavour.lock"
flock 8

# Up to date: .done is newer than this script and the lock file.
if [ -f "$prefix/.done" ] && [ ! "$prefix/.done" -ot "$0" ] && [ ! "$prefix/.done" -ot "$lock" ]; then
    echo "deps: $flavour: up to date in $prefix"
    exit 0
fi
: >"$log"

# Never wipe a directory this script did not create (PREFIX=/usr by mistake).
if [ -n "$(ls -A "$prefix")" ] && [ ! -f "$prefix/.certkeep-deps" ]; then
    die "$prefix is not empty and was not made by deps.sh; refusing to overwrite it"
fi
rm -rf "$prefix/include" "$prefix/lib" "$prefix/.done" "$prefix/versions.txt"
mkdir -p "$prefix/include" "$prefix/lib"
: >"$prefix/.certkeep-deps"

command -v "$cc" >/dev/null 2>&1 || die "$cc not found (install musl-tools / build-essential; arm64: gcc-aarch64-linux-gnu musl-dev:arm64)"
command -v "$ar" >/dev/null 2>&1 || die "$ar not found"

lockfield() {  # package column: 2 version, 3 orig tarball, 4 its sha256, 5 debian tarball, 6 its sha256
    awk -v p="$1" -v c="$2" '$1 == p && $c != "" { print $c; found = 1 } END { exit !found }' "$lock" ||
        die "package $1 has no column $2 in $lock"
}

sha_ok() { echo "$2  $1" | sha256sum -c --status 2>/dev/null; }

# deb-src entries come from scripts/apt-sources.sh (derived from the machine's own list).
ensure_source_entry() {
    if ! apt-cache showsrc "$1" 2>/dev/null | grep -Fqx "Version: $2"; then
        [ -f /etc/apt/sources.list.d/certkeep-extra.sources ] || "$root/scripts/apt-sources.sh" >>"$log" 2>&1
        apt-get update -qq >>"$log" 2>&1
        apt-cache showsrc "$1" 2>/dev/null | grep -Fqx "Version: $2" ||
            die "source package $1=$2 not known to apt (deb-src entries missing?)"
    fi
}

# Both tarballs of one package present with their pinned sha256, else fetched.
fetch() {  # package
    ver=$(lockfield "$1" 2)
    step="fetch $1=$ver"
    have=1
    for col in 3 5; do
        f=$(lockfield "$1" $col); sum=$(lockfield "$1" $((col + 1)))
        { [ -f "$src/$f" ] && sha_ok "$src/$f" "$sum"; } || { have=0; rm -f "$src/$f"; }
    done
    [ "$have" = 1 ] && return 0
    ensure_source_entry "$1" "$ver"
    echo "deps: fetching $1=$ver"
    (cd "$src" && apt-get source --download-only -qq "$1=$ver") >>"$log" 2>&1
    for col in 3 5; do
        f=$(lockfield "$1" $col); sum=$(lockfield "$1" $((col + 1)))
        [ -f "$src/$f" ] || die "apt-get source $1=$ver did not produce $f"
        if ! sha_ok "$src/$f" "$sum"; then
            mv "$src/$f" "$src/$f.rejected"
            die "sha256 mismatch for $f (expected $sum); refusing it (kept as $f.rejected)"
        fi
    done
}

# The upstream tree with Debian's patches applied in series order; a patch that
# does not apply cleanly stops the build (no fuzz: a drifted patch is a wrong pin).
unpack() {  # package -> $work/package (checked again: the files may have changed since fetch)
    ver=$(lockfield "$1" 2)
    orig=$(lockfield "$1" 3); osum=$(lockfield "$1" 4)
    deb=$(lockfield "$1" 5); dsum=$(lockfield "$1" 6)
    step="unpack $1"
    sha_ok "$src/$orig" "$osum" || die "sha256 mismatch for $orig; refusing to extract"
    sha_ok "$src/$deb" "$dsum" || die "sha256 mismatch for $deb; refusing to extract"
    rm -rf "${work:?}/$1"
    mkdir -p "$work/$1"
    tar -xf "$src/$orig" -C "$work/$1" --strip-components=1
    tar -xf "$src/$deb" -C "$work/$1"
    [ -f "$work/$1/debian/changelog" ] || die "$deb holds no debian/changelog"
    got=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$work/$1/debian/changelog")
    [ "$got" = "$ver" ] || die "$deb is version '$got', not the pinned $ver"
    step="patch $1=$ver"
    n=0
    series=$work/$1/debian/patches/series
    if [ -f "$series" ]; then
        # quilt's series: one patch a line, an optional -pN, # comments
        while read -r name opt _; do
            case "$name" in ''|'#'*) continue ;; esac
            case "$opt" in -p[0-9]) strip=$opt ;; *) strip=-p1 ;; esac
            [ -f "$work/$1/debian/patches/$name" ] || die "$1=$ver: patch $name named in series is missing"
            echo "== $1: applying $name" >>"$log"
            patch -d "$work/$1" "$strip" --batch --forward --fuzz=0 --no-backup-if-mismatch -s \
                -i "debian/patches/$name" >>"$log" 2>&1 ||
                die "$1=$ver: Debian patch $name does not apply"
            n=$((n + 1))
        done <"$series"
    fi
    patched="$patched $1=$ver($n)"
    printf '%s %s %s\n' "$1" "$ver" "$n" >>"$prefix/versions.txt"
}

now() { date +%s; }
timings=""
timed() {  # label command...
    t0=$(now); label=$1; shift
    step="$label"
    echo "== $label" >>"$log"
    "$@"
    timings="$timings $label $(( $(now) - t0 ))s,"
}

build_bearssl() {
    unpack bearssl
    step="build bearssl"
    make -C "$work/bearssl" -j"$jobs" lib CC="$cc" AR="$ar" CFLAGS="-W -Wall $cflags" >>"$log" 2>&1
    if [ "$flavour" = musl ] || [ "$flavour" = arm64 ]; then
        # RSA key generation and signing live in these: speed there, -Os elsewhere
        # (RSA-2048 keygen 99.6 -> 67.7 ms mean over 30 seeds with rsagen.o at -O2; +4 KB)
        step="build bearssl hot files at -O2"
        d=$work/bearssl
        for f in "$d"/src/int/*.c "$d"/src/rsa/*.c "$d"/src/hash/sha2small.c \
                 "$d"/src/rand/hmac_drbg.c "$d"/src/mac/hmac.c; do
            $cc -W -Wall $cflags -O2 -I"$d/src" -I"$d/inc" -c "$f" \
                -o "$d/build/obj/$(basename "$f" .c).o" >>"$log" 2>&1
        done
        rm -f "$d/build/libbearssl.a"
        $ar rcs "$d/build/libbearssl.a" "$d"/build/obj/*.o
    fi
    cp "$work/bearssl/build/libbearssl.a" "$prefix/lib/"
    cp "$work/bearssl/inc/"*.h "$prefix/include/"
}

build_cjson() {
    unpack cjson
    step="build cjson"
    d=$work/cjson
    $cc $cflags -std=c89 -c "$d/cJSON.c" -o "$d/cJSON.o" >>"$log" 2>&1
    rm -f "$prefix/lib/libcjson.a"
    $ar rcs "$prefix/lib/libcjson.a" "$d/cJSON.o"
    mkdir -p "$prefix/include/cjson"
    cp "$d/cJSON.h" "$prefix/include/cjson/"
}

build_libyaml() {
    unpack libyaml
    step="build libyaml"
    d=$work/libyaml
    # The tarball has no configure script: the version comes from defines.
    for f in "$d"/src/*.c; do
        $cc $cflags -I"$d/include" -I"$d/src" -DYAML_DECLARE_STATIC \
            -DYAML_VERSION_MAJOR=0 -DYAML_VERSION_MINOR=2 -DYAML_VERSION_PATCH=5 \
            -DYAML_VERSION_STRING='"0.2.5"' -c "$f" -o "${f%.c}.o" >>"$log" 2>&1
    done
    rm -f "$prefix/lib/libyaml.a"
    $ar rcs "$prefix/lib/libyaml.a" "$d"/src/*.o
    cp "$d/include/yaml.h" "$prefix/include/"
}

build_curl() {
    unpack curl
    step="configure curl"
    d=$work/curl
    # HTTP and HTTPS only, TLS through BearSSL; AWS SigV4, proxies, IPv6 and the
    # date parser (Retry-After dates) stay on. No kernel headers are needed, so
    # musl-gcc works as is (linux/tcp.h is optional for curl). --disable-verbose
    # drops info text only (error-buffer messages stay): 25 KB of the 700 KB budget.
    # Cross (arm64): the binutils are aarch64-linux-gnu-*, and no pkg-config may
    # hand the build machine's libraries to the target.
    cross=""
    [ -z "$host" ] || cross="--host=$host AR=$ar RANLIB=$host_bin-ranlib STRIP=$host_bin-strip PKG_CONFIG=false"
    (cd "$d" && CC="$cc" CFLAGS="$cflags" CPPFLAGS="" LDFLAGS="" LIBS="" ./configure $cross \
        --prefix="$prefix" --disable-shared --enable-static --with-pic=no \
        --disable-dependency-tracking --disable-silent-rules \
        --with-bearssl="$prefix" --without-ca-path \
        --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt --without-ca-fallback \
        --enable-http --enable-proxy --enable-ipv6 --enable-aws --enable-dateparse \
        --disable-ftp --disable-file --disable-ipfs --disable-ldap --disable-ldaps \
        --disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3 \
        --disable-imap --disable-smb --disable-smtp --disable-gopher --disable-mqtt \
        --disable-websockets --disable-doh --disable-alt-svc --disable-hsts \
        --disable-cookies --disable-ntlm --disable-kerberos-auth --disable-negotiate-auth \
        --disable-tls-srp --disable-sspi --disable-netrc --disable-mime --disable-form-api \
        --disable-unix-sockets --disable-progress-meter --disable-get-easy-options \
        --disable-headers-api --disable-libcurl-option --disable-manual --disable-docs \
        --disable-ech --disable-httpsrr --disable-ssls-export --disable-ares \
        --disable-digest-auth --disable-bearer-auth --disable-bindlocal --disable-verbose \
        --without-zlib --without-brotli --without-zstd --without-nghttp2 --without-nghttp3 \
        --without-ngtcp2 --without-quiche --without-msh3 --without-libpsl \
        --without-libidn2 --without-librtmp --without-libssh2 --without-libssh \
        --without-wolfssh --without-libgsasl --without-libuv \
        --without-zsh-functions-dir --without-fish-functions-dir) >>"$log" 2>&1
    h=$d/lib/curl_config.h
    grep -q '^#define USE_BEARSSL 1' "$h" || die "curl configure did not select BearSSL"
    ! grep -q '^#define CURL_DISABLE_AWS 1' "$h" || die "curl configure disabled AWS SigV4"
    ! grep -q '^#define CURL_DISABLE_PROXY 1' "$h" || die "curl configure disabled proxies"
    step="build curl"
    make -C "$d/lib" -j"$jobs" >>"$log" 2>&1
    make -C "$d/lib" install >>"$log" 2>&1
    make -C "$d/include" install >>"$log" 2>&1
    rm -f "$prefix/lib/libcurl.la"
}

start=$(now)
step="fetch sources"
exec 9>"$src/.lock"
flock 9   # both flavours may run at once (make -j deps): one downloader at a time
for p in bearssl cjson libyaml curl; do fetch "$p"; done
flock -u 9
exec 9>&-

echo "deps: building $flavour into $prefix (log: $log)"
patched=""
timed bearssl build_bearssl
timed cjson build_cjson
timed libyaml build_libyaml
timed curl build_curl

step="finish"
# What `certkeep version` prints: the exact Debian versions built in, with their patch counts.
{
    echo "/* generated by scripts/deps.sh */"
    printf '#define CK_DEPS_VERSIONS "'
    awk '{ printf "%s%s %s (%s Debian patches)", (NR > 1 ? ", " : ""), $1, $2, $3 }' "$prefix/versions.txt"
    printf '"\n'
} >"$prefix/include/ck_deps_versions.h"
for f in libbearssl.a libcjson.a libyaml.a libcurl.a; do
    [ -s "$prefix/lib/$f" ] || die "missing $prefix/lib/$f"
done
: >"$prefix/.done"
echo "deps: $flavour done in $(( $(now) - start ))s:${timings%,}; Debian patches:$patched"
