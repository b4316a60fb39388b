#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cert/cert.h"
#include "http/http.h"

static char dir[64];
/* ca.pem alone as the trust store (lib/http parses it, as certkeep does) */
static struct ck_http *trust;
static const br_x509_trust_anchor *tas;
static size_t n_tas;

static char *slurp(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A CA, an EC leaf for a.test+b.test signed by it, a second key, a self-signed cert. */
static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-cert-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key"
       " -out ca.pem -days 30 -subj /CN=Test-CA -addext basicConstraints=critical,CA:TRUE 2>/dev/null",
       dir);
    sh("cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key"
       " -out leaf.csr -subj /CN=a.test 2>/dev/null && printf 'subjectAltName=DNS:a.test,DNS:b.test,DNS:*.w.test\\n"
       "authorityKeyIdentifier=keyid\\n' > ext && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key"
       " -CAcreateserial -days 20 -extfile ext -out leaf.pem 2>/dev/null && cat leaf.pem ca.pem > full.pem",
       dir);
    sh("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null"
       " && openssl req -x509 -key leaf.key -out self.pem -days 20 -subj /CN=a.test"
       " -addext subjectAltName=DNS:a.test 2>/dev/null && cat self.pem ca.pem > selffull.pem",
       dir);
    /* the same names and key under a CA nobody trusts: what a planted store holds */
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout evil.key"
       " -out evil.pem -days 30 -subj /CN=Planted-CA -addext basicConstraints=critical,CA:TRUE"
       " 2>/dev/null && openssl x509 -req -in leaf.csr -CA evil.pem -CAkey evil.key -CAcreateserial"
       " -days 20 -extfile ext -out planted.pem 2>/dev/null && cat planted.pem evil.pem > plantedfull.pem",
       dir);
    /* a leaf that outlives its CA (40 days under 30): the chain's dates fail first */
    sh("cd %s && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 40"
       " -extfile ext -out long.pem 2>/dev/null && cat long.pem ca.pem > longfull.pem", dir);
    /* notAfter a day before notBefore: no span to be valid in */
    sh("cd %s && openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days -1"
       " -extfile ext -out inv.pem 2>/dev/null && cat inv.pem ca.pem > invfull.pem", dir);
    char ca[128];
    struct ck_err e;
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    struct ck_http_opts o = {.ca_bundle = ca, .system_bundle = "/nonexistent/bundle.pem"};
    if (ck_http_new(&o, &trust, &e) || ck_http_trust_anchors(trust, &tas, &n_tas, &e) || n_tas != 1)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    ck_http_free(trust);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *names_ab[] = {"a.test", "b.test"};

static int check_want(const char *chain_file, const char *key_file, const struct ck_cert_want *w,
                      struct ck_cert_summary *sum, struct ck_err *e)
{
    size_t cl, kl;
    char *c = slurp(chain_file, &cl), *k = slurp(key_file, &kl);
    int rc = ck_cert_check("volume", c, cl, k, kl, w, sum, e);
    free(c);
    free(k);
    return rc;
}

static int check(const char *chain_file, const char *key_file, const char *const *names, size_t n,
                 enum ck_key_type kt, int64_t now, long min_valid, struct ck_cert_summary *sum,
                 struct ck_err *e)
{
    struct ck_cert_want w = {names, n, kt, min_valid, now, 0, tas, n_tas, NULL};
    return check_want(chain_file, key_file, &w, sum, e);
}

/* The same, for the certificate the CA just issued for our order. */
static int fresh(const char *chain_file, const char *key_file, const char *const *names, size_t n,
                 int64_t now, long min_valid, struct ck_cert_summary *sum, struct ck_err *e)
{
    struct ck_cert_want w = {names, n, CK_KEY_P256, min_valid, now, 1, tas, n_tas, NULL};
    return check_want(chain_file, key_file, &w, sum, e);
}

static void usable(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, time(NULL), 3600, &s, &e), 0);
    assert_int_equal(s.key_type, CK_KEY_P256);
    assert_int_equal(s.chain_len, 1);
    assert_string_equal(s.issuer_cn, "Test-CA");
    assert_true(s.not_after - s.not_before >= 19 * 86400);
    assert_true(s.ari_id[0] != '\0');
    const char *wild[] = {"x.w.test"};
    assert_int_equal(check("full.pem", "leaf.key", wild, 1, CK_KEY_NONE, time(NULL), 0, &s, &e), 0);
}

static void refusals(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    int64_t now = time(NULL);
    const char *missing[] = {"a.test", "www.a.test"};
    assert_int_equal(check("full.pem", "leaf.key", missing, 2, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_string_equal(e.msg, "volume: missing name www.a.test");
    const char *deep[] = {"x.y.w.test"};
    assert_int_equal(check("full.pem", "leaf.key", deep, 1, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_RSA2048, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "key type is p256, configured rsa2048"));
    assert_int_equal(check("full.pem", "other.key", names_ab, 2, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "does not match"));
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, now + 40 * 86400, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "expired"));
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, s.not_after - 86400,
                           2 * 86400, &s, &e), 1);
    assert_non_null(strstr(e.msg, "less than the minimum 172800s left"));
    assert_int_equal(check("leaf.pem", "leaf.key", names_ab, 2, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "no chain"));
    const char *a[] = {"a.test"};
    assert_int_equal(check("selffull.pem", "leaf.key", a, 1, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "self-signed"));
}

/* A pair that passes every other check, under a CA that is not an anchor: refused,
 * restored or just issued, naming the chain's top issuer. No anchors: nothing usable. */
static void untrusted_chain(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    int64_t now = time(NULL);
    assert_int_equal(check("plantedfull.pem", "leaf.key", names_ab, 2, CK_KEY_P256, now, 0, &s, &e), 1);
    assert_string_equal(e.msg, "volume: the chain does not lead to a trust anchor (BearSSL error 62);"
                               " its top issuer is \"Planted-CA\"");
    assert_int_equal(fresh("plantedfull.pem", "leaf.key", names_ab, 2, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "does not lead to a trust anchor"));
    size_t cl, kl;
    char *c = slurp("full.pem", &cl), *k = slurp("leaf.key", &kl);
    struct ck_cert_want w = {names_ab, 2, CK_KEY_P256, 0, now, 0, NULL, 0, NULL};
    assert_int_equal(ck_cert_check("store", c, cl, k, kl, &w, &s, &e), 1);
    assert_non_null(strstr(e.msg, "store: no trust anchor"));
    w.anchors = tas;
    w.n_anchors = n_tas;
    assert_int_equal(ck_cert_check("store", c, cl, k, kl, &w, &s, &e), 0);
    /* the certificate's own faults are named before the chain's: 40 days on, the CA's
     * 30 days are over, but the leaf's 20 are too and that is what is reported */
    w.now = now + 40 * 86400;
    assert_int_equal(ck_cert_check("store", c, cl, k, kl, &w, &s, &e), 1);
    assert_non_null(strstr(e.msg, "expired"));
    free(c);
    free(k);
}

/* A passing check's proof spares the key match and the signatures for the very
 * same bytes and anchors, never the names, dates or key type. */
static void proven_shortcut(void **state)
{
    (void)state;
    size_t cl, kl, ol, ll;
    char *c = slurp("full.pem", &cl), *k = slurp("leaf.key", &kl), *o = slurp("other.key", &ol);
    char *l = slurp("longfull.pem", &ll);
    int64_t now = time(NULL);
    struct ck_cert_want w = {names_ab, 2, CK_KEY_P256, 0, now, 0, tas, n_tas, NULL};
    struct ck_cert_summary s, s2;
    struct ck_err e;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s, &e), 0);
    assert_true(s.proved);
    w.proven = s.proof;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s2, &e), 0);
    assert_true(s2.proved);
    assert_memory_equal(s.proof, s2.proof, sizeof s.proof);
    /* another key is another proof: the full check runs and finds the mismatch */
    assert_int_equal(ck_cert_check("volume", c, cl, o, ol, &w, &s2, &e), 1);
    assert_string_equal(e.msg, "volume: privkey.pem does not match the certificate");
    assert_false(s2.proved);
    static const char *names_c[] = {"c.test"};
    w.names = names_c;
    w.n_names = 1;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s2, &e), 1);
    assert_string_equal(e.msg, "volume: missing name c.test");
    w.names = names_ab;
    w.n_names = 2;
    w.now = now + 25 * 86400;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s2, &e), 1);
    assert_non_null(strstr(e.msg, "volume: expired"));
    w.now = now;
    w.key_type = CK_KEY_RSA2048;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s2, &e), 1);
    assert_non_null(strstr(e.msg, "key type is p256"));
    /* other anchors are another proof: no anchor at all is the full check's verdict */
    w.key_type = CK_KEY_P256;
    w.n_anchors = 0;
    assert_int_equal(ck_cert_check("volume", c, cl, k, kl, &w, &s2, &e), 1);
    assert_non_null(strstr(e.msg, "no trust anchor"));
    w.n_anchors = n_tas;
    /* the chain's dates belong to the proof (the caller bounds its age); the leaf's
     * own dates never do */
    w.proven = NULL;
    assert_int_equal(ck_cert_check("volume", l, ll, k, kl, &w, &s, &e), 0);
    w.proven = s.proof;
    w.now = now + 35 * 86400;
    assert_int_equal(ck_cert_check("volume", l, ll, k, kl, &w, &s2, &e), 0);
    w.now = now + 41 * 86400;
    assert_int_equal(ck_cert_check("volume", l, ll, k, kl, &w, &s2, &e), 1);
    assert_non_null(strstr(e.msg, "volume: expired"));
    /* what the CA just issued is always checked in full, and proved for the next time */
    w.now = now;
    w.proven = s.proof;
    w.just_issued = 1;
    assert_int_equal(ck_cert_check("volume", l, ll, o, ol, &w, &s2, &e), 1);
    free(c);
    free(k);
    free(o);
    free(l);
}

static void hostile_bytes(void **state)
{
    (void)state;
    size_t cl, kl;
    char *c = slurp("full.pem", &cl), *k = slurp("leaf.key", &kl);
    struct ck_cert_want w = {names_ab, 2, CK_KEY_P256, 0, time(NULL), 0, tas, n_tas, NULL};
    struct ck_cert_summary s;
    struct ck_err e;
    /* Every cut before the last END line is refused (only the final newline may go). */
    for (size_t n = 0; n + 30 < cl; n += 7)
        assert_int_equal(ck_cert_check("store", c, n, k, kl, &w, &s, &e), 1);
    for (size_t n = 0; n + 30 < kl; n += 5)
        assert_int_equal(ck_cert_check("store", c, cl, k, n, &w, &s, &e), 1);
    assert_int_equal(ck_cert_check("store", c, cl - 1, k, kl - 1, &w, &s, &e), 0);
    assert_int_equal(ck_cert_check("store", "", 0, k, kl, &w, &s, &e), 1);
    assert_string_equal(e.msg, "store: fullchain.pem is empty");
    char garbage[512];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (char)(i * 131 + 7);
    assert_int_equal(ck_cert_check("store", garbage, sizeof garbage, k, kl, &w, &s, &e), 1);
    assert_int_equal(ck_cert_check("store", c, cl, garbage, sizeof garbage, &w, &s, &e), 1);
    free(c);
    free(k);
}

static void min_left_is_a_share_of_the_lifetime(void **state)
{
    (void)state;
    const int64_t t0 = 1767225600, day = 86400;
    assert_int_equal(ck_cert_min_left(t0, t0 + 300, 3600), 37);
    assert_int_equal(ck_cert_min_left(t0, t0 + 119, 3600), 14);
    assert_int_equal(ck_cert_min_left(t0, t0 + 90 * day, 3600), 3600);
    assert_int_equal(ck_cert_min_left(t0, t0 + 160 * 3600, 3600), 3600);
    assert_int_equal(ck_cert_min_left(t0, t0 + 160 * 3600, 7 * day), 20 * 3600);
    assert_int_equal(ck_cert_min_left(t0, t0 + 90 * day, 30 * day), 90 * day / 8);
    assert_int_equal(ck_cert_min_left(t0, t0 + 300, 0), 0);
    assert_int_equal(ck_cert_min_left(t0, t0, 3600), 0);
    assert_int_equal(ck_cert_min_left(t0, t0 - 5, 3600), 0);
}

/* min_valid longer than the certificate lives: usable until 1/8 of it is left. */
static void short_lived_usable_on_restore(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    const long month = 30 * 86400;
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, time(NULL), 0, &s, &e), 0);
    int64_t nb = s.not_before, na = s.not_after, need = (na - nb) / 8;
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb, month, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb + 60, month, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na - need, month, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na - need + 1, month, &s,
                           &e), 1);
    char want[160];
    snprintf(want, sizeof want, "less than the minimum %llds left (1/8 of its %llds lifetime)",
             (long long)need, (long long)(na - nb));
    assert_non_null(strstr(e.msg, want));
    /* the configured minimum still holds where it is the smaller */
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na - 3599, 3600, &s, &e), 1);
    assert_non_null(strstr(e.msg, "less than the minimum 3600s left"));
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na - 3600, 3600, &s, &e), 0);
}

/* Our clock behind the CA's (notBefore ahead of `now`): never refused for that
 * alone, and the validity left counts from notBefore. Expiry stays strict. */
static void clock_behind_on_restore(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    const long month = 30 * 86400;
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, time(NULL), 0, &s, &e), 0);
    int64_t nb = s.not_before, na = s.not_after;
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb - 1, 3600, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb - 7200, 3600, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb - 7200, month, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, nb - 40 * 86400, 3600, &s,
                           &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "expired"));
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na + 3600, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "expired"));
}

/* What the CA just issued is judged by its own span: published whatever
 * min_valid and our clock say; everything else is checked as on restore. */
static void just_issued(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    const long month = 30 * 86400, year = 365 * 86400;
    assert_int_equal(fresh("full.pem", "leaf.key", names_ab, 2, time(NULL), 3600, &s, &e), 0);
    int64_t nb = s.not_before, na = s.not_after;
    assert_int_equal(fresh("full.pem", "leaf.key", names_ab, 2, nb, month, &s, &e), 0);
    assert_int_equal(fresh("full.pem", "leaf.key", names_ab, 2, nb, year, &s, &e), 0);
    assert_int_equal(fresh("full.pem", "leaf.key", names_ab, 2, nb - 3 * 3600, 3600, &s, &e), 0);
    assert_int_equal(s.not_before, nb);  /* the caller logs the skew from the summary */
    assert_int_equal(fresh("full.pem", "leaf.key", names_ab, 2, na + 3600, 3600, &s, &e), 0);
    assert_int_equal(check("full.pem", "leaf.key", names_ab, 2, CK_KEY_P256, na + 3600, 3600, &s, &e), 1);
    const char *missing[] = {"a.test", "c.test"};
    assert_int_equal(fresh("full.pem", "leaf.key", missing, 2, nb, 0, &s, &e), 1);
    assert_string_equal(e.msg, "volume: missing name c.test");
    assert_int_equal(fresh("full.pem", "other.key", names_ab, 2, nb, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "does not match"));
    assert_int_equal(fresh("leaf.pem", "leaf.key", names_ab, 2, nb, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "no chain"));
    const char *a[] = {"a.test"};
    assert_int_equal(fresh("selffull.pem", "leaf.key", a, 1, nb, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "self-signed"));
}

/* notAfter before notBefore: no span to judge by, on either path. */
static void no_validity_span(void **state)
{
    (void)state;
    struct ck_cert_summary s;
    struct ck_err e;
    int64_t now = time(NULL);
    assert_int_equal(fresh("invfull.pem", "leaf.key", names_ab, 2, now, 0, &s, &e), 1);
    assert_non_null(strstr(e.msg, "is not after notBefore"));
    assert_true(s.not_after < s.not_before);
    assert_int_equal(check("invfull.pem", "leaf.key", names_ab, 2, CK_KEY_P256, s.not_before - 10, 0,
                           &s, &e), 1);
    assert_non_null(strstr(e.msg, "is not after notBefore"));
}

static void time_format(void **state)
{
    (void)state;
    char buf[32];
    ck_time_format(1767323045, buf);
    assert_string_equal(buf, "2026-01-02T03:04:05Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usable),
        cmocka_unit_test(refusals),
        cmocka_unit_test(untrusted_chain),
        cmocka_unit_test(hostile_bytes),
        cmocka_unit_test(min_left_is_a_share_of_the_lifetime),
        cmocka_unit_test(short_lived_usable_on_restore),
        cmocka_unit_test(clock_behind_on_restore),
        cmocka_unit_test(just_issued),
        cmocka_unit_test(proven_shortcut),
        cmocka_unit_test(no_validity_span),
        cmocka_unit_test(time_format),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
