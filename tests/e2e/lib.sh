# Sourced by every tests/e2e/t_*.sh. Records one line per check in $CK_RESULTS
# ("PASS name" / "FAIL name: why" / "SKIP name: why"), and the script's plan
# ("PLAN n"); tests/run.sh counts them, and planned checks that never ran fail.
: "${CK_RESULTS:=/dev/stdout}"
CK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CK_BIN=${CK_BIN:-$CK_ROOT/build/certkeep}
: "${CK_TMP:=$(mktemp -d /tmp/certkeep-e2e.XXXXXX)}"
export CK_ROOT CK_BIN CK_TMP

# Background certkeep processes a test started (append their pids); kill_bg ends them.
BG_PIDS=""
kill_bg() {
    local p
    for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    BG_PIDS=""
}

# plan N: this script runs N checks (passed, failed or skipped) when it runs to the end.
plan() { echo "PLAN $1" >>"$CK_RESULTS"; }
# skip N WHY: N checks that cannot run here; counted apart, never as passed.
skip() {
    local i
    for ((i = 0; i < $1; i++)); do echo "SKIP $2" >>"$CK_RESULTS"; done
    echo "  skip $1 check(s): $2"
}
# unignored CMD...: runs CMD with the stop and reload signals at their defaults. A
# shell cannot trap a signal it started with ignored (nohup ignores SIGHUP, `&` in a
# script ignores SIGINT), so the test apps that count signals start through this.
unignored() {
    python3 -c 'import os, signal, sys
for s in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):
    signal.signal(s, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

pass() { echo "PASS $1" >>"$CK_RESULTS"; echo "  ok   $1"; }
fail() { echo "FAIL $1: ${2:-}" >>"$CK_RESULTS"; echo "  FAIL $1: ${2:-}"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"; fi
}
# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then fail "$name" "expected failure, got exit 0"; else pass "$name"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}
# check_match NAME REGEX TEXT
check_match() {
    if printf '%s' "$3" | grep -Eq -- "$2"; then pass "$1"; else fail "$1" "'$2' not in: $(printf '%s' "$3" | head -c 300)"; fi
}

# An order that named the certificate it replaces (ARI): the line saying so, or Pebble's
# refusal of it and our retry without. Pebble keys its orders by the serial's big-integer
# bytes and looks `replaces` up by the DER bytes (RFC 9773), so a serial whose DER starts
# with a 0x00 pad (about 1 in 256 of its serials) is "not found" (letsencrypt/pebble,
# db/memorystore.go and core.NewCertID); certkeep sent it either way.
REPLACES_SENT='acme\.order: .*(replaces a certificate|could not find order resulting in the given certificate serial number; ordering again without "replaces")'

# craft_cert DIR NAME AGO AHEAD: a leaf for NAME valid from AGO s ago to AHEAD s ahead, under a
# made-up intermediate, with its key, into DIR (the files certkeep writes). Its root is
# trusted as a private CA would be: appended to $CK_TMP/craft-roots.pem and, once Pebble
# runs, to $PEBBLE_CA_BUNDLE (a certificate must chain to a trust anchor to be used).
craft_cert() {
    mkdir -p "$1"
    python3 - "$1" "$2" "$3" "$4" "$CK_TMP/craft-roots.pem" ${PEBBLE_CA_BUNDLE:+"$PEBBLE_CA_BUNDLE"} <<'PYEOF'
import datetime as dt, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
d, name, ago, ahead = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
now = dt.datetime.now(dt.timezone.utc)
def cert(subj, key, issuer, ikey, ca, nb, na, san=None):
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subj)]))
         .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return b.sign(ikey, hashes.SHA256())
rk, ik, lk = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
day = dt.timedelta(days=1)
root = cert("certkeep test root", rk, "certkeep test root", rk, True, now - 30 * day, now + 300 * day)
inter = cert("certkeep test intermediate", ik, "certkeep test root", rk, True, now - 30 * day, now + 300 * day)
sec = dt.timedelta(seconds=1)
leaf = cert(name, lk, "certkeep test intermediate", ik, False, now - ago * sec, now + ahead * sec, name)
pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
open(d + "/cert.pem", "wb").write(pem(leaf))
open(d + "/chain.pem", "wb").write(pem(inter))
open(d + "/fullchain.pem", "wb").write(pem(leaf) + pem(inter))
for trust in sys.argv[5:]:
    if trust == sys.argv[5] or __import__("os").path.exists(trust):
        open(trust, "ab").write(pem(root))
open(d + "/privkey.pem", "wb").write(lk.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
PYEOF
    chmod 600 "$1/privkey.pem"
}
