/* lib/crypto's OCSP request and response checks against the openssl CLI: openssl reads
 * (and would write the same) request, and answers it as a responder from an index file,
 * signed by the issuer, by delegates with and without id-kp-OCSPSigning, by a stranger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static char dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static unsigned char *slurp(const char *name, size_t *len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *name, const void *data, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* DER of a PEM certificate file, by openssl. */
static unsigned char *cert_der(const char *name, size_t *len)
{
    char out[128];
    snprintf(out, sizeof out, "%s.der", name);
    assert_int_equal(sh("openssl x509 -in %s/%s -outform DER -out %s/%s", dir, name, dir, out), 0);
    return slurp(out, len);
}

struct fx {
    unsigned char *leaf, *other, *ca;
    size_t leaf_len, other_len, ca_len;
};
static struct fx fx;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-ocsp-XXXXXX");
    assert_non_null(mkdtemp(dir));
    /* a CA, two leaves under it, delegates with and without OCSPSigning, a stranger */
    int rc = sh("cd %s && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 "
        "  -subj /CN=ocsp-test-ca -keyout ca.key -out ca.pem "
        "  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign && "
        "for n in leaf other deleg nodeleg; do "
        "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$n "
        "    -keyout $n.key -out $n.csr || exit 1; done && "
        "printf 'subjectAltName=DNS:leaf.example\\nauthorityInfoAccess=OCSP;URI:http://ocsp.example/\\n' >leaf.ext && "
        "printf 'extendedKeyUsage=OCSPSigning\\n' >deleg.ext && "
        "printf 'keyUsage=critical,digitalSignature\\n' >nodeleg.ext && "
        "cp leaf.ext other.ext && "
        "for n in leaf other deleg nodeleg; do "
        "  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 10 "
        "    -extfile $n.ext -out $n.pem || exit 1; done && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=stranger "
        "  -keyout stranger.key -out stranger.pem && "
        "s=$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2) && "
        "printf 'V\\t301231000000Z\\t\\t%%s\\tunknown\\t/CN=leaf\\n' $s >good.idx && "
        "printf 'R\\t301231000000Z\\t200101000000Z\\t%%s\\tunknown\\t/CN=leaf\\n' $s >revoked.idx && "
        ": >empty.idx",
        dir);
    assert_int_equal(rc, 0);
    fx.leaf = cert_der("leaf.pem", &fx.leaf_len);
    fx.other = cert_der("other.pem", &fx.other_len);
    fx.ca = cert_der("ca.pem", &fx.ca_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(fx.leaf);
    free(fx.other);
    free(fx.ca);
    sh("rm -rf %s", dir);
    return 0;
}

/* Our request for leaf, answered by openssl from INDEX signed by SIGNER (its .pem/.key);
 * extra: more openssl ocsp options. The response's DER, malloc'd. */
static unsigned char *answer(const char *index, const char *signer, const char *extra, size_t *len)
{
    unsigned char *req;
    size_t req_len;
    struct ck_err e;
    assert_int_equal(ck_ocsp_request(fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, &req, &req_len, &e), 0);
    spit("req.der", req, req_len);
    free(req);
    assert_int_equal(sh("cd %s && openssl ocsp -index %s -CA ca.pem -rsigner %s.pem -rkey %s.key "
                        "-reqin req.der -respout resp.der %s >/dev/null 2>&1",
                        dir, index, signer, signer, extra), 0);
    return slurp("resp.der", len);
}

static void test_request(void **state)
{
    (void)state;
    unsigned char *req, *ref;
    size_t req_len, ref_len;
    struct ck_err e;
    assert_int_equal(ck_ocsp_request(fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, &req, &req_len, &e), 0);
    spit("ours.der", req, req_len);
    /* openssl parses it, and would have written the very same bytes without a nonce */
    assert_int_equal(sh("openssl ocsp -reqin %s/ours.der -req_text 2>&1 | grep -q 'Hash Algorithm: sha1'",
                        dir), 0);
    assert_int_equal(sh("s=$(openssl x509 -in %s/leaf.pem -noout -serial | cut -d= -f2); "
                        "openssl ocsp -reqin %s/ours.der -req_text | grep -q \"Serial Number: $s\"",
                        dir, dir), 0);
    assert_int_equal(sh("openssl ocsp -issuer %s/ca.pem -cert %s/leaf.pem -no_nonce -reqout %s/ref.der",
                        dir, dir, dir), 0);
    ref = slurp("ref.der", &ref_len);
    assert_int_equal(req_len, ref_len);
    assert_memory_equal(req, ref, ref_len);
    free(req);
    free(ref);
    /* garbage in: one line, nothing out */
    assert_int_equal(ck_ocsp_request(fx.leaf, 10, fx.ca, fx.ca_len, &req, &req_len, &e), -1);
    assert_int_equal(ck_ocsp_request(fx.leaf, fx.leaf_len, fx.ca, 10, &req, &req_len, &e), -1);
    assert_non_null(strstr(e.msg, "issuer"));
}

static void test_good_revoked_unknown(void **state)
{
    (void)state;
    struct ck_ocsp_answer a;
    struct ck_err e;
    size_t n;
    int64_t now = (int64_t)time(NULL);
    /* without the signer's certificate: every byte is signed data or signature */
    unsigned char *r = answer("good.idx", "ca", "-ndays 1 -resp_no_certs", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), 0);
    assert_int_equal(a.status, CK_OCSP_GOOD);
    assert_int_equal(a.delegated, 0);
    assert_true(a.this_update <= now + 5 && a.this_update >= now - 60);
    assert_int_equal(a.next_update - a.this_update, 86400);
    /* the same response asked about another certificate of the same CA */
    assert_int_equal(ck_ocsp_check(r, n, fx.other, fx.other_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "no answer for serial"));
    /* times: past its nextUpdate, and far ahead of our clock */
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now + 86400 + 60,
                                   &a, &e), -1);
    assert_non_null(strstr(e.msg, "expired"));
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len,
                                   now - CK_OCSP_SKEW_S - 120, &a, &e), -1);
    assert_non_null(strstr(e.msg, "ahead of our clock"));
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now - 60, &a, &e), 0);
    /* one changed byte anywhere */
    for (size_t i = 0; i < n; i++) {
        r[i] ^= 0x01;
        assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
        r[i] ^= 0x01;
    }
    free(r);

    r = answer("revoked.idx", "ca", "-ndays 1", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), 0);
    assert_int_equal(a.status, CK_OCSP_REVOKED);
    assert_int_equal(a.revoked_at, 1577836800);  /* 2020-01-01T00:00:00Z, from the index */
    free(r);

    r = answer("empty.idx", "ca", "-ndays 1", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), 0);
    assert_int_equal(a.status, CK_OCSP_UNKNOWN);
    free(r);

    /* no nextUpdate: nothing a server may staple for long */
    r = answer("good.idx", "ca", "", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "no nextUpdate"));
    free(r);
}

static void test_signers(void **state)
{
    (void)state;
    struct ck_ocsp_answer a;
    struct ck_err e;
    size_t n;
    int64_t now = (int64_t)time(NULL);
    unsigned char *r = answer("good.idx", "deleg", "-ndays 1", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), 0);
    assert_int_equal(a.status, CK_OCSP_GOOD);
    assert_int_equal(a.delegated, 1);
    /* the delegate's certificate past its validity */
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len,
                                   now + 11 * 86400 - 86400 / 2, &a, &e), -1);
    assert_non_null(strstr(e.msg, "outside its validity"));
    free(r);
    /* a delegate's response without its certificate: nothing vouches for the key */
    r = answer("good.idx", "deleg", "-ndays 1 -resp_no_certs", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "not signed by the issuer"));
    free(r);

    r = answer("good.idx", "nodeleg", "-ndays 1", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "\"nodeleg\" lacks id-kp-OCSPSigning"));
    free(r);

    r = answer("good.idx", "stranger", "-ndays 1", &n);
    assert_int_equal(ck_ocsp_check(r, n, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    assert_non_null(strstr(e.msg, "\"stranger\" is not the issuer's"));
    free(r);
}

static void test_hostile(void **state)
{
    (void)state;
    static const unsigned char try_later[] = {0x30, 0x03, 0x0a, 0x01, 0x03};
    static const unsigned char bad_status[] = {0x30, 0x03, 0x0a, 0x01, 0x42};
    struct ck_ocsp_answer a;
    struct ck_err e;
    size_t n;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(ck_ocsp_check(try_later, sizeof try_later, fx.leaf, fx.leaf_len, fx.ca,
                                   fx.ca_len, now, &a, &e), -1);
    assert_string_equal(e.msg, "OCSP response: the responder answered tryLater");
    assert_int_equal(ck_ocsp_check(bad_status, sizeof bad_status, fx.leaf, fx.leaf_len, fx.ca,
                                   fx.ca_len, now, &a, &e), -1);
    assert_int_equal(ck_ocsp_check(NULL, 0, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    unsigned char *r = answer("good.idx", "deleg", "-ndays 1", &n);
    /* every truncation is refused, and a trailing byte too */
    for (size_t i = 0; i < n; i++) {
        unsigned char *cut = malloc(i ? i : 1);
        memcpy(cut, r, i);
        assert_int_equal(ck_ocsp_check(cut, i, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
        free(cut);
    }
    unsigned char *more = malloc(n + 1);
    memcpy(more, r, n);
    more[n] = 0;
    assert_int_equal(ck_ocsp_check(more, n + 1, fx.leaf, fx.leaf_len, fx.ca, fx.ca_len, now, &a, &e), -1);
    free(more);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_good_revoked_unknown),
        cmocka_unit_test(test_signers),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
