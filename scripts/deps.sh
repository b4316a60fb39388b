#!/bin/sh
# Builds the static dependencies from the pinned Debian source packages of
# scripts/deps.lock: BearSSL, cJSON, libyaml and a minimal libcurl (HTTP and
# HTTPS over BearSSL, AWS SigV4, proxies) into PREFIX/{include,lib}.
# Usage: scripts/deps.sh musl|glibc PREFIX        (PREFIX/.done is written last)
# Quiet: the build output goes to build/deps/<flavour>.log.
set -eu

usage() { echo "usage: scripts/deps.sh musl|glibc PREFIX" >&2; exit 2; }
[ $# -eq 2 ] || usage
flavour=$1
case "$flavour" in
    musl)  cc=musl-gcc
           # -Os and sections: the shipped binary is linked with --gc-sections;
           # no unwind tables: nothing unwinds C, and .eh_frame was 11% of the binary.
           cflags="-Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables" ;;
    glibc) cc=gcc
           cflags="-O2 -g" ;;
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
rm -rf "$prefix/include" "$prefix/lib" "$prefix/.done"
mkdir -p "$prefix/include" "$prefix/lib"
: >"$prefix/.certkeep-deps"

command -v "$cc" >/dev/null 2>&1 || die "$cc not found (install musl-tools / build-essential)"

lockfield() {  # package column: 2 version, 3 tarball, 4 sha256
    awk -v p="$1" -v c="$2" '$1 == p { print $c; found = 1 } END { exit !found }' "$lock" ||
        die "package $1 missing from $lock"
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

fetch() {  # package
    ver=$(lockfield "$1" 2); tarball=$(lockfield "$1" 3); sum=$(lockfield "$1" 4)
    step="fetch $1=$ver"
    if [ -f "$src/$tarball" ] && sha_ok "$src/$tarball" "$sum"; then
        return 0
    fi
    rm -f "$src/$tarball"
    ensure_source_entry "$1" "$ver"
    echo "deps: fetching $1=$ver"
    (cd "$src" && apt-get source --download-only -qq "$1=$ver") >>"$log" 2>&1
    [ -f "$src/$tarball" ] || die "apt-get source $1=$ver did not produce $tarball"
    if ! sha_ok "$src/$tarball" "$sum"; then
        mv "$src/$tarball" "$src/$tarball.rejected"
        die "sha256 mismatch for $tarball (expected $sum); refusing it (kept as $tarball.rejected)"
    fi
}

unpack() {  # package -> $work/package (checked again: the file may have changed since fetch)
    tarball=$(lockfield "$1" 3); sum=$(lockfield "$1" 4)
    step="unpack $1"
    sha_ok "$src/$tarball" "$sum" || die "sha256 mismatch for $tarball; refusing to extract"
    rm -rf "${work:?}/$1"
    mkdir -p "$work/$1"
    tar -xf "$src/$tarball" -C "$work/$1" --strip-components=1
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
    make -C "$work/bearssl" -j"$jobs" lib CC="$cc" CFLAGS="-W -Wall $cflags" >>"$log" 2>&1
    cp "$work/bearssl/build/libbearssl.a" "$prefix/lib/"
    cp "$work/bearssl/inc/"*.h "$prefix/include/"
}

build_cjson() {
    unpack cjson
    step="build cjson"
    d=$work/cjson
    $cc $cflags -std=c89 -c "$d/cJSON.c" -o "$d/cJSON.o" >>"$log" 2>&1
    rm -f "$prefix/lib/libcjson.a"
    ar rcs "$prefix/lib/libcjson.a" "$d/cJSON.o"
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
    ar rcs "$prefix/lib/libyaml.a" "$d"/src/*.o
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
    (cd "$d" && CC="$cc" CFLAGS="$cflags" CPPFLAGS="" LDFLAGS="" LIBS="" ./configure \
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
timed bearssl build_bearssl
timed cjson build_cjson
timed libyaml build_libyaml
timed curl build_curl

step="finish"
for f in libbearssl.a libcjson.a libyaml.a libcurl.a; do
    [ -s "$prefix/lib/$f" ] || die "missing $prefix/lib/$f"
done
: >"$prefix/.done"
echo "deps: $flavour done in $(( $(now) - start ))s:${timings%,}"
