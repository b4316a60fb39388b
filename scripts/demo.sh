#!/usr/bin/env bash
# make demo: a local Pebble, a real issuance with the built binary, the files shown.
set -eu
cd "$(dirname "$0")/.."
export CK_TMP=${CK_TMP:-$(mktemp -d /tmp/certkeep-demo.XXXXXX)}
source tests/e2e/pebble.sh
trap pebble_stop EXIT
PEBBLE_VA_NOSLEEP=1 pebble_start
out=$CK_TMP/certs
echo "demo: Pebble at $PEBBLE_DIR_URL; issuing for demo.example.com and www.demo.example.com"
build/certkeep issue --domain demo.example.com --domain www.demo.example.com \
    --email demo@example.com --agree-tos --directory "$PEBBLE_DIR_URL" \
    --ca-bundle "$PEBBLE_CA_BUNDLE" --out "$out" --state "$CK_TMP/state" \
    --http01-listen "127.0.0.1:$PEBBLE_HTTP01_PORT"
dir=$out/demo.example.com
echo
echo "demo: $dir -> $(readlink "$dir")"
ls -l "$dir/"
echo
openssl x509 -in "$dir/cert.pem" -noout -subject -issuer -serial -startdate -enddate \
    -ext subjectAltName | sed 's/^/  /'
pebble_root "$CK_TMP/root.pem"
echo
printf '  chain check: '
openssl verify -CAfile "$CK_TMP/root.pem" -untrusted "$dir/chain.pem" "$dir/cert.pem"
printf '  key matches certificate: '
if [ "$(openssl pkey -in "$dir/privkey.pem" -pubout | sha256sum)" = \
     "$(openssl x509 -in "$dir/cert.pem" -noout -pubkey | sha256sum)" ]; then echo yes; else echo NO; exit 1; fi
echo
echo "demo: files kept in $out"
