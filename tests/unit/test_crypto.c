/* lib/crypto against independent views: the openssl CLI checks what we write
 * (keys, JWS signatures, CSRs) and produces what we read (keys, certificates). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>
#include <cmocka.h>

#include "crypto/crypto.h"

static char dir[64];

/* ---------- helpers ---------- */

static void path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Output of a shell command, malloc'd and NUL-terminated. */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    f = popen(cmd, "r");
    assert_non_null(f);
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    buf[len] = '\0';
    pclose(f);
    return buf;
}

static unsigned char *slurp(const char *name, size_t *len)
{
    char p[256];
    FILE *f;
    unsigned char *buf;
    long n;

    path(p, sizeof p, name);
    f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *name, const void *data, size_t n)
{
    char p[256];
    FILE *f;

    path(p, sizeof p, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static struct ck_key *load_key(const char *name)
{
    struct ck_err e;
    struct ck_key *k = NULL;
    size_t n;
    unsigned char *pem = slurp(name, &n);
    int rc = ck_key_from_pem((char *)pem, n, name, &k, &e);

    if (rc != 0)
        print_error("%s: %s\n", name, e.msg);
    assert_int_equal(rc, 0);
    free(pem);
    return k;
}

/* DER of the first certificate of a PEM file. */
static unsigned char *load_cert(const char *name, size_t *len)
{
    struct ck_der_list l;
    struct ck_err e;
    size_t n;
    unsigned char *pem = slurp(name, &n), *der;

    assert_int_equal(ck_pem_certs((char *)pem, n, name, &l, &e), 0);
    free(pem);
    der = l.items[0].data;
    *len = l.items[0].len;
    l.items[0].data = NULL;
    ck_der_list_free(&l);
    return der;
}

static size_t b64url_decode(const char *s, size_t n, unsigned char *out)
{
    size_t i, o = 0;
    unsigned acc = 0, bits = 0;

    for (i = 0; i < n; i++) {
        const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const char *p = strchr(al, s[i]);
        assert_non_null(p);
        acc = (acc << 6) | (unsigned)(p - al);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o;
}

/* Value of "member":"…" in flat JSON, malloc'd. */
static char *json_str(const char *json, const char *member)
{
    char key[64], *r;
    const char *p, *q;

    snprintf(key, sizeof key, "\"%s\":\"", member);
    p = strstr(json, key);
    assert_non_null(p);
    p += strlen(key);
    q = strchr(p, '"');
    assert_non_null(q);
    r = strndup(p, (size_t)(q - p));
    assert_non_null(r);
    return r;
}

static size_t hex_decode(const char *s, unsigned char *out, size_t cap)
{
    size_t o = 0;
    unsigned v;

    while (*s) {
        if (*s == ':' || *s == ' ' || *s == '\n') {
            s++;
            continue;
        }
        assert_int_equal(sscanf(s, "%2x", &v), 1);
        assert_true(o < cap);
        out[o++] = (unsigned char)v;
        s += 2;
    }
    return o;
}

/* ---------- fixtures: keys and certificates made by openssl ---------- */

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/ck-crypto-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
#define OSSL(...)                                                                        \
    if (sh(__VA_ARGS__) != 0)                                                            \
        return -1;
    OSSL("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out rsa3072.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out rsa4096.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.pem", dir);
    OSSL("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem", dir);
    OSSL("cd %s && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out p521.pem", dir);
    OSSL("cd %s && openssl genpkey -algorithm ED25519 -out ed25519.pem", dir);
    OSSL("cd %s && openssl rsa -in rsa2048.pem -traditional -out rsa2048_pkcs1.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl ec -in p256.pem -out p256_sec1.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl ecparam -name secp384r1 -genkey -out p384_params.pem", dir);
    OSSL("cd %s && openssl pkcs8 -topk8 -in p256.pem -passout pass:x -out p256_enc.pem", dir);
    /* Root (P-384, ecdsa-with-SHA384) valid until 2067: notAfter is a GeneralizedTime. */
    OSSL("cd %s && openssl req -x509 -new -key p384.pem -sha384 -days 15000 -subj '/O=Test/CN=Test Root CA' "
         "-out ca.pem 2>/dev/null", dir);
    /* RSA leaf signed by the root, serial with a leading zero byte, AKI, SANs, OCSP URL. */
    OSSL("cd %s && printf 'subjectAltName=DNS:a.example.com,DNS:b.example.com,IP:127.0.0.1,DNS:c.example.com\\n"
         "authorityKeyIdentifier=keyid\\nauthorityInfoAccess=OCSP;URI:http://ocsp.example.com/x\\n"
         "basicConstraints=critical,CA:FALSE\\n' > leaf.ext && "
         "openssl req -new -key rsa2048.pem -subj '/CN=a.example.com' -out leaf.csr && "
         "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey p384.pem -set_serial 0x87654321 -days 90 -sha384 "
         "-extfile leaf.ext -out leaf_rsa.pem 2>/dev/null", dir);
    /* Self-signed EC leaf (sha256) and an RSA root signing an EC leaf (sha512). */
    OSSL("cd %s && openssl req -x509 -new -key p256.pem -days 30 -subj '/CN=self.example.org' "
         "-addext 'subjectAltName=DNS:self.example.org' -out self_ec.pem 2>/dev/null", dir);
    OSSL("cd %s && openssl req -x509 -new -key rsa3072.pem -sha256 -days 365 -subj '/CN=RSA Root' "
         "-out rsaca.pem 2>/dev/null", dir);
    OSSL("cd %s && printf 'subjectAltName=DNS:ec.example.net\\nauthorityKeyIdentifier=keyid\\n' > ec.ext && "
         "openssl req -new -key p384.pem -subj '/CN=ec.example.net' -out ec.csr && "
         "openssl x509 -req -in ec.csr -CA rsaca.pem -CAkey rsa3072.pem -set_serial 7 -days 10 -sha512 "
         "-extfile ec.ext -out leaf_ec.pem 2>/dev/null", dir);
    OSSL("cd %s && cat leaf_rsa.pem ca.pem > chain.pem", dir);
    OSSL("cd %s && cat leaf_rsa.pem p256.pem > cert_and_key.pem", dir);
#undef OSSL
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (dir[0])
        sh("rm -rf %s", dir);
    return 0;
}

/* ---------- small pieces ---------- */

static void test_key_type_names(void **state)
{
    static const char *names[] = {"rsa2048", "rsa3072", "rsa4096", "p256", "p384"};
    struct ck_err e;
    enum ck_key_type t;
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        assert_int_equal(ck_key_type_parse(names[i], &t, &e), 0);
        assert_int_equal(t, (enum ck_key_type)(CK_KEY_RSA2048 + i));
        assert_string_equal(ck_key_type_name(t), names[i]);
    }
    assert_null(ck_key_type_name(CK_KEY_NONE));
    assert_null(ck_key_type_name((enum ck_key_type)99));
    assert_int_equal(ck_key_type_parse("rsa1024", &t, &e), -1);
    assert_non_null(strstr(e.msg, "rsa1024"));
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_int_equal(ck_key_type_parse("", &t, &e), -1);
    assert_int_equal(ck_key_type_parse("P256", &t, &e), -1);
}

static void test_base64(void **state)
{
    /* RFC 4648 section 10 vectors */
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *b64u[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char bin[] = {0xfb, 0xff, 0xbf};
    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < 7; i++) {
        assert_int_equal(ck_b64(in[i], strlen(in[i]), out, sizeof out), strlen(b64[i]));
        assert_string_equal(out, b64[i]);
        assert_int_equal(ck_b64url(in[i], strlen(in[i]), out, sizeof out), strlen(b64u[i]));
        assert_string_equal(out, b64u[i]);
    }
    assert_int_equal(ck_b64(bin, 3, out, sizeof out), 4);
    assert_string_equal(out, "+/+/");
    assert_int_equal(ck_b64url(bin, 3, out, sizeof out), 4);
    assert_string_equal(out, "-_-_");
    /* exact fit works, one byte less does not */
    assert_int_equal(ck_b64("foob", 4, out, 9), 8);
    assert_int_equal(ck_b64("foob", 4, out, 8), (size_t)-1);
    assert_int_equal(ck_b64url("foob", 4, out, 7), 6);
    assert_int_equal(ck_b64url("foob", 4, out, 6), (size_t)-1);
}

static void test_sha256(void **state)
{
    unsigned char h[32], want[32];

    (void)state;
    ck_sha256("abc", 3, h);
    hex_decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, sizeof want);
    assert_memory_equal(h, want, 32);
}

static void test_random(void **state)
{
    unsigned char a[32], b[32], zero[32] = {0};
    struct ck_err e;

    (void)state;
    assert_int_equal(ck_random(a, sizeof a, &e), 0);
    assert_int_equal(ck_random(b, sizeof b, &e), 0);
    assert_memory_not_equal(a, b, 32);
    assert_memory_not_equal(a, zero, 32);
}

/* RFC 7638 section 3.1: the thumbprint of the RFC's RSA key. */
static void test_rfc7638_thumbprint(void **state)
{
    static const char jwk[] =
        "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT"
        "86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
        "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
        "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\"}";
    unsigned char h[32];
    char out[44];

    (void)state;
    ck_sha256(jwk, strlen(jwk), h);
    assert_int_equal(ck_b64url(h, 32, out, sizeof out), 43);
    assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

/* RFC 9773 section 4.1 example. */
static void test_ari_cert_id(void **state)
{
    static const unsigned char aki[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                        0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
    static const unsigned char serial[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    struct ck_cert_info ci;
    struct ck_err e;
    char out[128];

    (void)state;
    memset(&ci, 0, sizeof ci);
    memcpy(ci.aki, aki, sizeof aki);
    ci.aki_len = sizeof aki;
    memcpy(ci.serial, serial, sizeof serial);
    ci.serial_len = sizeof serial;
    assert_int_equal(ck_ari_cert_id(&ci, out, sizeof out, &e), 0);
    assert_string_equal(out, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
    /* 27 + 1 + 7 + NUL = 36 exactly */
    assert_int_equal(ck_ari_cert_id(&ci, out, 36, &e), 0);
    assert_int_equal(ck_ari_cert_id(&ci, out, 35, &e), -1);
    assert_int_equal(ck_ari_cert_id(&ci, out, 20, &e), -1);
    ci.aki_len = 0;
    assert_int_equal(ck_ari_cert_id(&ci, out, sizeof out, &e), -1);
    assert_non_null(strstr(e.msg, "authority key identifier"));
}

/* ---------- keys ---------- */

static const char *bits_str(enum ck_key_type t)
{
    switch (t) {
    case CK_KEY_RSA2048: return "(2048 bit";
    case CK_KEY_RSA3072: return "(3072 bit";
    case CK_KEY_RSA4096: return "(4096 bit";
    case CK_KEY_P256: return "(256 bit";
    default: return "(384 bit";
    }
}

/* Writes k as PKCS#8, checks it with openssl, reads it back. */
static void check_pem_roundtrip(struct ck_key *k, const char *file)
{
    struct ck_err e;
    struct ck_key *k2 = NULL;
    char *pem, *txt;
    size_t len;

    assert_int_equal(ck_key_to_pem(k, &pem, &len, &e), 0);
    assert_int_equal(strlen(pem), len);
    assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    spit(file, pem, len);
    assert_int_equal(sh("openssl pkey -in %s/%s -check -noout >/dev/null 2>&1", dir, file), 0);
    txt = capture("openssl pkey -in %s/%s -noout -text 2>&1 | head -3", dir, file);
    assert_non_null(strstr(txt, bits_str(ck_key_type(k))));
    free(txt);
    assert_int_equal(ck_key_from_pem(pem, len, file, &k2, &e), 0);
    assert_int_equal(ck_key_type(k2), ck_key_type(k));
    assert_int_equal(ck_key_same(k, k2), 1);
    ck_key_free(k2);
    ck_secret_free(pem, len);
}

static void test_generate_each_type(void **state)
{
    struct ck_err e;
    enum ck_key_type t;

    (void)state;
    for (t = CK_KEY_RSA2048; t <= CK_KEY_P384; t++) {
        struct ck_key *k = NULL, *k2 = NULL;
        struct timespec a, b;
        char file[32];

        clock_gettime(CLOCK_MONOTONIC, &a);
        assert_int_equal(ck_key_generate(t, &k, &e), 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        print_message("  generate %-8s %7.1f ms\n", ck_key_type_name(t),
                      (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
        assert_int_equal(ck_key_type(k), t);
        snprintf(file, sizeof file, "gen_%s.pem", ck_key_type_name(t));
        check_pem_roundtrip(k, file);
        /* Two generations never give the same key. */
        if (t >= CK_KEY_P256) {
            assert_int_equal(ck_key_generate(t, &k2, &e), 0);
            assert_int_equal(ck_key_same(k, k2), 0);
            ck_key_free(k2);
        }
        ck_key_free(k);
    }
    assert_int_equal(ck_key_generate(CK_KEY_NONE, NULL, &e), -1);
}

static void test_load_openssl_keys(void **state)
{
    static const struct {
        const char *file;
        enum ck_key_type t;
    } cases[] = {{"rsa2048.pem", CK_KEY_RSA2048},      {"rsa3072.pem", CK_KEY_RSA3072},
                 {"rsa4096.pem", CK_KEY_RSA4096},      {"p256.pem", CK_KEY_P256},
                 {"p384.pem", CK_KEY_P384},            {"rsa2048_pkcs1.pem", CK_KEY_RSA2048},
                 {"p256_sec1.pem", CK_KEY_P256},       {"p384_params.pem", CK_KEY_P384},
                 {"cert_and_key.pem", CK_KEY_P256}};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ck_key *k = load_key(cases[i].file);
        char out[40];
        assert_int_equal(ck_key_type(k), cases[i].t);
        snprintf(out, sizeof out, "re_%zu.pem", i);
        check_pem_roundtrip(k, out);
        ck_key_free(k);
    }
    {
        struct ck_key *a = load_key("rsa2048.pem"), *b = load_key("rsa2048_pkcs1.pem");
        struct ck_key *c = load_key("p256.pem"), *d = load_key("p256_sec1.pem");
        struct ck_key *x = load_key("rsa3072.pem");
        assert_int_equal(ck_key_same(a, b), 1);
        assert_int_equal(ck_key_same(c, d), 1);
        assert_int_equal(ck_key_same(a, c), 0);
        assert_int_equal(ck_key_same(a, x), 0);
        ck_key_free(a);
        ck_key_free(b);
        ck_key_free(c);
        ck_key_free(d);
        ck_key_free(x);
    }
}

static void expect_key_error(const char *pem, size_t len, const char *what, const char *needle)
{
    struct ck_err e;
    struct ck_key *k = NULL;

    assert_int_equal(ck_key_from_pem(pem, len, what, &k, &e), -1);
    assert_null(k);
    assert_non_null(strstr(e.msg, what));
    if (needle && !strstr(e.msg, needle))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
}

#define BAD64_KEY "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"
#define SHORT_KEY "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
#define BAD64_CERT "-----BEGIN CERTIFICATE-----\nMIIB*\n-----END CERTIFICATE-----\n"
#define NOTDER_CERT "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"

static void test_bad_keys(void **state)
{
    static const char *files[] = {"rsa1024.pem", "p521.pem", "ed25519.pem", "p256_enc.pem", "ca.pem"};
    static const char *needles[] = {"RSA", "EC", "not a valid", "ENCRYPTED", "no private key"};
    unsigned char *pem, *copy;
    size_t i, n, len;

    (void)state;
    for (i = 0; i < 5; i++) {
        pem = slurp(files[i], &n);
        expect_key_error((char *)pem, n, files[i], needles[i]);
        free(pem);
    }
    expect_key_error("", 0, "empty.pem", "no private key");
    expect_key_error("garbage\x01\x02 not pem at all", 24, "garbage.pem", "no private key");
    expect_key_error(BAD64_KEY, strlen(BAD64_KEY), "bad64.pem",
                     "malformed");
    expect_key_error(SHORT_KEY, strlen(SHORT_KEY), "short.pem",
                     "not a valid");

    /* Every truncation of a key file fails, unless all its base64 is there. */
    pem = slurp("p256.pem", &len);
    for (n = 0; n < len; n++) {
        struct ck_err e;
        struct ck_key *k = NULL;
        copy = malloc(n ? n : 1);
        memcpy(copy, pem, n);
        if (ck_key_from_pem((char *)copy, n, "cut.pem", &k, &e) == 0) {
            assert_non_null(strstr((char *)pem, "-----END"));
            assert_true(n > (size_t)(strstr((char *)pem, "-----END") - (char *)pem));
            ck_key_free(k);
        } else {
            assert_non_null(strstr(e.msg, "cut.pem"));
        }
        free(copy);
    }
    /* One flipped base64 character: refused or (rarely) a different, consistent key; never a crash. */
    for (n = 30; n < len - 30; n++) {
        struct ck_err e;
        struct ck_key *k = NULL;
        char c = (char)pem[n];
        if (c == '\n')
            continue;
        pem[n] = c == 'A' ? 'B' : 'A';
        if (ck_key_from_pem((char *)pem, len, "flip.pem", &k, &e) == 0)
            ck_key_free(k);
        pem[n] = (unsigned char)c;
    }
    free(pem);
}

/* ---------- JWK and JWS ---------- */

static void check_jwk(struct ck_key *k, const char *keyfile)
{
    struct ck_err e;
    char *json, tp[44], want_tp[44];
    unsigned char h[32], bin[600], ref[600];
    size_t n, rn;

    assert_int_equal(ck_jwk_json(k, &json, &e), 0);
    ck_sha256(json, strlen(json), h);
    ck_b64url(h, 32, want_tp, sizeof want_tp);
    assert_int_equal(ck_jwk_thumbprint(k, tp, &e), 0);
    assert_int_equal(strlen(tp), 43);
    assert_string_equal(tp, want_tp);
    if (ck_key_type(k) == CK_KEY_P256 || ck_key_type(k) == CK_KEY_P384) {
        size_t c = ck_key_type(k) == CK_KEY_P256 ? 32 : 48;
        char *x = json_str(json, "x"), *y = json_str(json, "y"), *der;
        char want[32];
        snprintf(want, sizeof want, "{\"crv\":\"%s\",", ck_key_type(k) == CK_KEY_P256 ? "P-256" : "P-384");
        assert_true(strncmp(json, want, strlen(want)) == 0);
        assert_non_null(strstr(json, ",\"kty\":\"EC\",\"x\":\""));
        /* the SubjectPublicKeyInfo ends with the point 04||X||Y */
        der = capture("openssl pkey -in %s/%s -pubout -outform DER | od -An -v -tx1", dir, keyfile);
        rn = hex_decode(der, ref, sizeof ref);
        free(der);
        n = b64url_decode(x, strlen(x), bin);
        assert_int_equal(n, c);
        assert_memory_equal(bin, ref + rn - 2 * c, c);
        n = b64url_decode(y, strlen(y), bin);
        assert_int_equal(n, c);
        assert_memory_equal(bin, ref + rn - c, c);
        free(x);
        free(y);
    } else {
        char *nn = json_str(json, "n"), *mod;
        assert_true(strncmp(json, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"", 29) == 0);
        mod = capture("openssl rsa -in %s/%s -noout -modulus 2>/dev/null | cut -d= -f2", dir, keyfile);
        rn = hex_decode(mod, ref, sizeof ref);
        free(mod);
        n = b64url_decode(nn, strlen(nn), bin);
        assert_int_equal(n, rn);
        assert_memory_equal(bin, ref, n);
        assert_true(bin[0] != 0);
        free(nn);
    }
    free(json);
}

/* Verifies a flattened JWS with openssl dgst and the key's public half. */
static void check_jws(struct ck_key *k, const char *keyfile, const char *payload)
{
    struct ck_err e;
    char *jws, *prot, *pay, *sig, input[8192];
    unsigned char raw[600], prot_bin[512];
    size_t len, n;
    const char *alg = ck_jws_alg(k);
    const char *dgst = strcmp(alg, "ES384") == 0 ? "sha384" : "sha256";
    static const char protected_json[] = "{\"alg\":\"X\",\"nonce\":\"abc\",\"url\":\"https://x/y\"}";

    assert_int_equal(ck_jws_sign(k, protected_json, payload, strlen(payload), &jws, &len, &e), 0);
    assert_int_equal(strlen(jws), len);
    assert_true(strncmp(jws, "{\"protected\":\"", 14) == 0);
    prot = json_str(jws, "protected");
    pay = json_str(jws, "payload");
    sig = json_str(jws, "signature");
    n = b64url_decode(prot, strlen(prot), prot_bin);
    assert_int_equal(n, strlen(protected_json));
    assert_memory_equal(prot_bin, protected_json, n);
    if (payload[0] == 0)
        assert_string_equal(pay, "");
    snprintf(input, sizeof input, "%s.%s", prot, pay);
    spit("jws.in", input, strlen(input));
    n = b64url_decode(sig, strlen(sig), raw);
    if (alg[0] == 'E') {
        assert_int_equal(n, strcmp(alg, "ES256") == 0 ? 64 : 96); /* raw r||s */
        n = br_ecdsa_raw_to_asn1(raw, n);
        assert_true(n > 0);
    }
    spit("jws.sig", raw, n);
    assert_int_equal(sh("openssl pkey -in %s/%s -pubout -out %s/jws.pub && openssl dgst -%s -verify %s/jws.pub "
                        "-signature %s/jws.sig %s/jws.in >/dev/null",
                        dir, keyfile, dir, dgst, dir, dir, dir),
                     0);
    /* A changed payload no longer verifies: the check can fail. */
    input[strlen(input) - 1] ^= 1;
    spit("jws.in", input, strlen(input));
    assert_int_not_equal(sh("openssl dgst -%s -verify %s/jws.pub -signature %s/jws.sig %s/jws.in >/dev/null 2>&1",
                            dgst, dir, dir, dir),
                         0);
    free(prot);
    free(pay);
    free(sig);
    free(jws);
}

static void test_jwk_jws(void **state)
{
    static const char *files[] = {"rsa2048.pem", "rsa3072.pem", "rsa4096.pem", "p256.pem", "p384.pem"};
    static const char *algs[] = {"RS256", "RS256", "RS256", "ES256", "ES384"};
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        struct ck_key *k = load_key(files[i]);
        assert_string_equal(ck_jws_alg(k), algs[i]);
        check_jwk(k, files[i]);
        check_jws(k, files[i], "{\"termsOfServiceAgreed\":true}");
        check_jws(k, files[i], ""); /* POST-as-GET */
        ck_key_free(k);
    }
}

/* ---------- CSR ---------- */

static void check_csr(struct ck_key *k, size_t n_names)
{
    struct ck_err e;
    char **names = calloc(n_names, sizeof *names), *txt, *p;
    unsigned char *der;
    size_t i, len, count = 0;
    char want[128];

    for (i = 0; i < n_names; i++) {
        names[i] = malloc(64);
        snprintf(names[i], 64, "n%zu.example.com", i + 1);
    }
    assert_int_equal(ck_csr_der(k, (const char *const *)names, n_names, &der, &len, &e), 0);
    spit("req.der", der, len);
    free(der);
    assert_int_equal(sh("openssl req -inform DER -in %s/req.der -noout -verify >/dev/null 2>&1", dir), 0);
    txt = capture("openssl req -inform DER -in %s/req.der -noout -text 2>&1", dir);
    assert_non_null(strstr(txt, "Subject: CN = n1.example.com"));
    for (p = txt; (p = strstr(p, "DNS:")) != NULL; p += 4)
        count++;
    assert_int_equal(count, n_names);
    for (i = 0; i < n_names; i++) {
        snprintf(want, sizeof want, "DNS:%s%s", names[i], i + 1 < n_names ? "," : "\n");
        if (!strstr(txt, want))
            fail_msg("CSR text lacks %s", want);
        free(names[i]);
    }
    if (ck_key_type(k) == CK_KEY_P256)
        assert_non_null(strstr(txt, "ecdsa-with-SHA256"));
    else if (ck_key_type(k) == CK_KEY_P384)
        assert_non_null(strstr(txt, "ecdsa-with-SHA384"));
    else
        assert_non_null(strstr(txt, "sha256WithRSAEncryption"));
    free(txt);
    free(names);
}

static void test_csr(void **state)
{
    static const char *files[] = {"rsa2048.pem", "rsa3072.pem", "rsa4096.pem", "p256.pem", "p384.pem"};
    struct ck_err e;
    size_t i;

    (void)state;
    for (i = 0; i < 5; i++) {
        struct ck_key *k = load_key(files[i]);
        check_csr(k, 1);
        check_csr(k, 100);
        ck_key_free(k);
    }
    {
        struct ck_key *k = load_key("p256.pem");
        const char *bad[] = {"ok.example.com", "bad name"};
        const char *empty[] = {""};
        char long_cn[120];
        const char *longn[] = {long_cn, "short.example.com"};
        unsigned char *der;
        size_t len;
        char *txt;

        assert_int_equal(ck_csr_der(k, bad, 2, &der, &len, &e), -1);
        assert_non_null(strstr(e.msg, "bad name"));
        assert_int_equal(ck_csr_der(k, empty, 1, &der, &len, &e), -1);
        assert_int_equal(ck_csr_der(k, bad, 0, &der, &len, &e), -1);
        /* A first name longer than a CN may be (64) goes in the SAN only. */
        memset(long_cn, 'a', 100);
        strcpy(long_cn + 100, ".example.com");
        assert_int_equal(ck_csr_der(k, longn, 2, &der, &len, &e), 0);
        spit("req.der", der, len);
        free(der);
        assert_int_equal(sh("openssl req -inform DER -in %s/req.der -noout -verify >/dev/null 2>&1", dir), 0);
        txt = capture("openssl req -inform DER -in %s/req.der -noout -text 2>&1", dir);
        assert_non_null(strstr(txt, long_cn));
        assert_null(strstr(txt, "CN ="));
        free(txt);
        /* IP addresses (RFC 8738) are iPAddress SANs, never the CN */
        const char *ips[] = {"127.0.0.1", "2001:db8::1", "ip.example.com"};
        assert_int_equal(ck_csr_der(k, ips, 3, &der, &len, &e), 0);
        spit("req.der", der, len);
        free(der);
        txt = capture("openssl req -inform DER -in %s/req.der -noout -text 2>&1", dir);
        assert_non_null(strstr(txt, "IP Address:127.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1, DNS:ip.example.com"));
        assert_non_null(strstr(txt, "Subject: CN = ip.example.com"));
        free(txt);
        assert_int_equal(ck_csr_der(k, ips, 1, &der, &len, &e), 0);
        spit("req.der", der, len);
        free(der);
        txt = capture("openssl req -inform DER -in %s/req.der -noout -text 2>&1", dir);
        assert_non_null(strstr(txt, "IP Address:127.0.0.1\n"));
        assert_null(strstr(txt, "CN ="));
        free(txt);
        ck_key_free(k);
    }
}

/* ---------- the tls-alpn-01 certificate ---------- */

/* RFC 8737: openssl reads it, with the one dNSName, the critical acmeIdentifier
 * holding the digest as an OCTET STRING, and a valid self-signature. */
static void test_tlsalpn_cert(void **state)
{
    static const char authz[] = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
    struct ck_key *k = NULL, *rsa;
    struct ck_cert_info ci;
    struct ck_err e;
    unsigned char d[32], *der;
    size_t len, i;
    char *txt, hex[16 + 2 * 34 + 1], name[254];

    (void)state;
    ck_sha256(authz, strlen(authz), d);
    assert_int_equal(ck_key_generate(CK_KEY_P256, &k, &e), 0);
    assert_int_equal(ck_tlsalpn_cert_der(k, "a.example.com", d, &der, &len, &e), 0);
    spit("alpn.der", der, len);
    txt = capture("openssl x509 -inform DER -in %s/alpn.der -noout -text 2>&1", dir);
    assert_non_null(strstr(txt, "Version: 3 (0x2)"));
    assert_non_null(strstr(txt, "DNS:a.example.com\n"));
    assert_null(strstr(txt, "DNS:a.example.com,"));
    assert_non_null(strstr(txt, "1.3.6.1.5.5.7.1.31: critical"));
    assert_non_null(strstr(txt, "ecdsa-with-SHA256"));
    /* the extension's value: OCTET STRING (04 20) of the digest, exactly */
    free(txt);
    snprintf(hex, sizeof hex, "[HEX DUMP]:0420");
    for (i = 0; i < 32; i++)
        snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02X", d[i]);
    txt = capture("openssl asn1parse -inform DER -in %s/alpn.der | "
                  "grep -A2 ':1.3.6.1.5.5.7.1.31' | tr -s ' '", dir);
    assert_non_null(strstr(txt, "BOOLEAN :255"));
    assert_non_null(strstr(txt, hex));
    free(txt);
    /* self-signed: its own signature checks out (the acmeIdentifier is unknown to openssl) */
    assert_int_equal(sh("cd %s && openssl x509 -inform DER -in alpn.der -out alpn.pem && "
                        "openssl verify -ignore_critical -check_ss_sig -partial_chain -trusted alpn.pem alpn.pem "
                        ">/dev/null 2>&1", dir), 0);
    assert_int_equal(ck_cert_signed_by(der, len, der, len, &e), 1);
    assert_int_equal(ck_key_matches_cert(k, der, len, &e), 1);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.n_dns_names, 1);
    assert_string_equal(ci.dns_names[0], "a.example.com");
    assert_true(ci.self_issued);
    assert_true(ci.not_before < (int64_t)time(NULL) && ci.not_after > (int64_t)time(NULL));
    ck_cert_info_free(&ci);
    free(der);
    /* the longest name fits */
    memset(name, 'a', 253);
    for (i = 63; i < 253; i += 64)
        name[i] = '.';
    name[253] = '\0';
    assert_int_equal(ck_tlsalpn_cert_der(k, name, d, &der, &len, &e), 0);
    assert_true(len < 1024);
    free(der);
    /* refused: not a name, no name, a wildcard, an RSA key */
    assert_int_equal(ck_tlsalpn_cert_der(k, "bad name", d, &der, &len, &e), -1);
    assert_non_null(strstr(e.msg, "bad name"));
    assert_int_equal(ck_tlsalpn_cert_der(k, "", d, &der, &len, &e), -1);
    assert_int_equal(ck_tlsalpn_cert_der(k, "*.example.com", d, &der, &len, &e), -1);
    rsa = load_key("rsa2048.pem");
    assert_int_equal(ck_tlsalpn_cert_der(rsa, "a.example.com", d, &der, &len, &e), -1);
    assert_non_null(strstr(e.msg, "P-256"));
    ck_key_free(rsa);
    ck_key_free(k);
}

/* ---------- PEM certificate lists ---------- */

static void test_pem_certs(void **state)
{
    struct ck_der_list l;
    struct ck_err e;
    unsigned char *pem, *cut;
    char *out = NULL, *ossl;
    size_t n, i, len = 0, ends;

    (void)state;
    pem = slurp("chain.pem", &n);
    assert_int_equal(ck_pem_certs((char *)pem, n, "chain.pem", &l, &e), 0);
    assert_int_equal(l.n, 2);
    /* re-encode and compare with openssl's DER of each */
    for (i = 0; i < 2; i++) {
        size_t dn;
        unsigned char *ref;
        assert_int_equal(sh("openssl x509 -in %s/%s -outform DER -out %s/c%zu.der", dir,
                            i == 0 ? "leaf_rsa.pem" : "ca.pem", dir, i),
                         0);
        char name[16];
        snprintf(name, sizeof name, "c%zu.der", i);
        ref = slurp(name, &dn);
        assert_int_equal(l.items[i].len, dn);
        assert_memory_equal(l.items[i].data, ref, dn);
        free(ref);
        assert_int_equal(ck_pem_append(&out, &len, "CERTIFICATE", l.items[i].data, l.items[i].len, &e), 0);
    }
    assert_int_equal(strlen(out), len);
    spit("again.pem", out, len);
    ossl = capture("openssl crl2pkcs7 -nocrl -certfile %s/again.pem | openssl pkcs7 -print_certs -noout | "
                   "grep -c subject=",
                   dir);
    assert_int_equal(atoi(ossl), 2);
    free(ossl);
    assert_int_equal(sh("cmp -s %s/again.pem %s/chain.pem", dir, dir), 0);
    free(out);

    /* Every truncation: an error, or exactly the certificates whose END line is there. */
    for (len = 0; len < n; len++) {
        struct ck_der_list t;
        cut = malloc(len ? len : 1);
        memcpy(cut, pem, len);
        ends = 0;
        /* BearSSL closes a block once it has read "-----END " and the base64 is whole. */
        for (i = 0; i + 9 <= len; i++)
            if (memcmp(cut + i, "-----END ", 9) == 0)
                ends++;
        if (ck_pem_certs((char *)cut, len, "cut.pem", &t, &e) == 0) {
            assert_int_equal(t.n, ends);
            for (i = 0; i < t.n; i++)
                assert_memory_equal(t.items[i].data, l.items[i].data, l.items[i].len);
            ck_der_list_free(&t);
        } else {
            assert_non_null(strstr(e.msg, "cut.pem"));
            assert_null(t.items);
        }
        free(cut);
    }
    free(pem);
    ck_der_list_free(&l);

    /* CRLF line ends and text around the blocks (openssl -text output) are fine. */
    assert_int_equal(sh("cd %s && { echo 'subject=CN = x'; sed 's/$/\\r/' chain.pem; echo trailer; } > crlf.pem", dir), 0);
    pem = slurp("crlf.pem", &n);
    assert_non_null(strstr((char *)pem, "-----\r\n"));
    assert_int_equal(ck_pem_certs((char *)pem, n, "crlf.pem", &l, &e), 0);
    assert_int_equal(l.n, 2);
    ck_der_list_free(&l);
    free(pem);

    /* A key among the certificates, garbage, nothing at all. */
    pem = slurp("cert_and_key.pem", &n);
    assert_int_equal(ck_pem_certs((char *)pem, n, "mixed.pem", &l, &e), -1);
    assert_non_null(strstr(e.msg, "mixed.pem"));
    assert_non_null(strstr(e.msg, "PRIVATE KEY"));
    free(pem);
    assert_int_equal(ck_pem_certs("", 0, "empty.pem", &l, &e), -1);
    assert_non_null(strstr(e.msg, "no certificate"));
    assert_int_equal(ck_pem_certs("\x00\xff garbage", 10, "garbage.pem", &l, &e), -1);
    assert_int_equal(ck_pem_certs(BAD64_CERT, strlen(BAD64_CERT),
                                  "bad64.pem", &l, &e),
                     -1);
    /* valid base64, but not a DER SEQUENCE */
    assert_int_equal(ck_pem_certs(NOTDER_CERT, strlen(NOTDER_CERT),
                                  "notder.pem", &l, &e),
                     -1);
    assert_non_null(strstr(e.msg, "notder.pem"));
}

/* ---------- certificate reading against openssl's view ---------- */

static int64_t ossl_date(const char *file, const char *which)
{
    char *s = capture("date -u -d \"$(openssl x509 -in %s/%s -noout -%s | cut -d= -f2)\" +%%s", dir, file, which);
    int64_t v = strtoll(s, NULL, 10);
    free(s);
    return v;
}

static void check_against_openssl(const char *file, enum ck_key_type type, const char *issuer_cn,
                                  const char *subject_cn, int self, const char *sans, const char *ocsp)
{
    struct ck_cert_info ci;
    struct ck_err e;
    unsigned char *der, ref[128];
    size_t len, rn, i;
    char *s, joined[1024] = "";

    der = load_cert(file, &len);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.not_before, ossl_date(file, "startdate"));
    assert_int_equal(ci.not_after, ossl_date(file, "enddate"));
    s = capture("openssl x509 -in %s/%s -noout -serial | cut -d= -f2", dir, file);
    rn = hex_decode(s, ref, sizeof ref);
    free(s);
    /* openssl prints the magnitude; DER adds a 00 when its top bit is set */
    if (ref[0] & 0x80) {
        assert_int_equal(ci.serial_len, rn + 1);
        assert_int_equal(ci.serial[0], 0);
        assert_memory_equal(ci.serial + 1, ref, rn);
    } else {
        assert_int_equal(ci.serial_len, rn);
        assert_memory_equal(ci.serial, ref, rn);
    }
    s = capture("openssl x509 -in %s/%s -noout -ext authorityKeyIdentifier 2>/dev/null | sed -n 2p | "
                "sed 's/keyid://; s/ //g'",
                dir, file);
    rn = hex_decode(s, ref, sizeof ref);
    free(s);
    assert_int_equal(ci.aki_len, rn);
    assert_memory_equal(ci.aki, ref, rn);
    assert_string_equal(ci.issuer_cn, issuer_cn);
    assert_string_equal(ci.subject_cn, subject_cn);
    assert_int_equal(ci.self_issued, self);
    assert_int_equal(ci.key_type, type);
    for (i = 0; i < ci.n_dns_names; i++) {
        strcat(joined, i ? "," : "");
        strcat(joined, ci.dns_names[i]);
    }
    assert_string_equal(joined, sans);
    assert_string_equal(ci.ocsp_url, ocsp);
    s = capture("openssl x509 -in %s/%s -noout -ocsp_uri", dir, file);
    if (ocsp[0])
        assert_true(strncmp(s, ocsp, strlen(ocsp)) == 0);
    free(s);
    ck_cert_info_free(&ci);
    free(der);
}

static void test_cert_parse(void **state)
{
    (void)state;
    check_against_openssl("leaf_rsa.pem", CK_KEY_RSA2048, "Test Root CA", "a.example.com", 0,
                          "a.example.com,b.example.com,127.0.0.1,c.example.com", "http://ocsp.example.com/x");
    check_against_openssl("ca.pem", CK_KEY_P384, "Test Root CA", "Test Root CA", 1, "", "");
    check_against_openssl("self_ec.pem", CK_KEY_P256, "self.example.org", "self.example.org", 1,
                          "self.example.org", "");
    check_against_openssl("rsaca.pem", CK_KEY_RSA3072, "RSA Root", "RSA Root", 1, "", "");
    check_against_openssl("leaf_ec.pem", CK_KEY_P384, "RSA Root", "ec.example.net", 0, "ec.example.net", "");
}

static void test_cert_serial_leading_zero(void **state)
{
    static const unsigned char want[] = {0x00, 0x87, 0x65, 0x43, 0x21};
    struct ck_cert_info ci;
    struct ck_err e;
    unsigned char *der;
    size_t len;
    char id[128];

    (void)state;
    der = load_cert("leaf_rsa.pem", &len);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.serial_len, 5);
    assert_memory_equal(ci.serial, want, 5);
    assert_int_equal(ck_ari_cert_id(&ci, id, sizeof id, &e), 0);
    assert_non_null(strstr(id, ".AIdlQyE"));
    ck_cert_info_free(&ci);
    free(der);
}

/* Replaces the first time string `from` in der with `to` (same length). */
static int patch(unsigned char *der, size_t len, const char *from, const char *to)
{
    size_t i, n = strlen(from);

    for (i = 0; i + n <= len; i++)
        if (memcmp(der + i, from, n) == 0) {
            memcpy(der + i, to, n);
            return 0;
        }
    return -1;
}

static void test_cert_times(void **state)
{
    struct ck_cert_info ci;
    struct ck_err e;
    unsigned char *der;
    size_t len, i;
    char *nb, *na;
    char *tnb;
    struct {
        const char *utc;
        int64_t want; /* INT64_MIN: must be refused */
    } utc[] = {{"991231235959Z", 946684799},  {"000101000000Z", 946684800},
               {"500101000000Z", -631152000}, {"491231235959Z", 2524607999},
               {"240229120000Z", 1709208000}, {"230229120000Z", INT64_MIN},
               {"241301000000Z", INT64_MIN},  {"240100000000Z", INT64_MIN},
               {"240101240000Z", INT64_MIN},  {"24010100000+Z", INT64_MIN},
               {"2401010000000", INT64_MIN},  {"700101000000Z", 0}};

    (void)state;
    der = load_cert("leaf_rsa.pem", &len);
    /* the leaf's notBefore as openssl wrote it: find the UTCTime bytes */
    for (i = 0; i + 15 <= len; i++)
        if (der[i] == 0x17 && der[i + 1] == 13)
            break;
    assert_true(i + 15 <= len);
    nb = strndup((char *)der + i + 2, 13);
    tnb = strdup(nb);
    for (i = 0; i < sizeof utc / sizeof utc[0]; i++) {
        assert_int_equal(patch(der, len, tnb, utc[i].utc), 0);
        free(tnb);
        tnb = strdup(utc[i].utc);
        if (utc[i].want == INT64_MIN) {
            assert_int_equal(ck_cert_parse(der, len, &ci, &e), -1);
        } else {
            assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
            assert_int_equal(ci.not_before, utc[i].want);
            ck_cert_info_free(&ci);
        }
    }
    free(nb);
    free(tnb);
    free(der);

    /* GeneralizedTime (the root's notAfter, after 2049) */
    der = load_cert("ca.pem", &len);
    for (i = 0; i + 17 <= len; i++)
        if (der[i] == 0x18 && der[i + 1] == 15)
            break;
    assert_true(i + 17 <= len);
    na = strndup((char *)der + i + 2, 15);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_true(ci.not_after > 2524608000); /* after 2050-01-01 */
    assert_int_equal(patch(der, len, na, "20240229120000Z"), 0);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.not_after, 1709208000);
    assert_int_equal(patch(der, len, "20240229120000Z", "21000229120000Z"), 0); /* 2100 is not leap */
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), -1);
    assert_int_equal(patch(der, len, "21000229120000Z", "20000229120000Z"), 0); /* 2000 is */
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.not_after, 951825600);
    assert_int_equal(patch(der, len, "20000229120000Z", "99991231235959Z"), 0);
    assert_int_equal(ck_cert_parse(der, len, &ci, &e), 0);
    assert_int_equal(ci.not_after, 253402300799);
    free(na);
    free(der);
}

static void test_key_matches_and_signed_by(void **state)
{
    struct ck_err e;
    struct ck_key *rsa = load_key("rsa2048.pem"), *p256 = load_key("p256.pem"), *p384 = load_key("p384.pem");
    struct ck_key *rsa3072 = load_key("rsa3072.pem");
    unsigned char *leaf, *ca, *self, *rsaca, *leaf_ec;
    size_t leaf_n, ca_n, self_n, rsaca_n, leaf_ec_n;

    (void)state;
    leaf = load_cert("leaf_rsa.pem", &leaf_n);
    ca = load_cert("ca.pem", &ca_n);
    self = load_cert("self_ec.pem", &self_n);
    rsaca = load_cert("rsaca.pem", &rsaca_n);
    leaf_ec = load_cert("leaf_ec.pem", &leaf_ec_n);

    assert_int_equal(ck_key_matches_cert(rsa, leaf, leaf_n, &e), 1);
    assert_int_equal(ck_key_matches_cert(p384, leaf, leaf_n, &e), 0);
    assert_int_equal(ck_key_matches_cert(rsa3072, leaf, leaf_n, &e), 0);
    assert_int_equal(ck_key_matches_cert(p384, ca, ca_n, &e), 1);
    assert_int_equal(ck_key_matches_cert(p256, ca, ca_n, &e), 0);
    assert_int_equal(ck_key_matches_cert(p256, self, self_n, &e), 1);
    assert_int_equal(ck_key_matches_cert(rsa3072, rsaca, rsaca_n, &e), 1);
    assert_int_equal(ck_key_matches_cert(p384, leaf_ec, leaf_ec_n, &e), 1);
    assert_int_equal(ck_key_matches_cert(rsa, leaf, leaf_n / 2, &e), -1);
    assert_int_equal(ck_key_matches_cert(rsa, (const unsigned char *)"junk", 4, &e), -1);

    /* ECDSA-SHA384 by P-384, SHA-256 self-signed, RSA PKCS#1 SHA-512 and SHA-256 */
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n, ca, ca_n, &e), 1);
    assert_int_equal(ck_cert_signed_by(ca, ca_n, ca, ca_n, &e), 1);
    assert_int_equal(ck_cert_signed_by(self, self_n, self, self_n, &e), 1);
    assert_int_equal(ck_cert_signed_by(leaf_ec, leaf_ec_n, rsaca, rsaca_n, &e), 1);
    assert_int_equal(ck_cert_signed_by(rsaca, rsaca_n, rsaca, rsaca_n, &e), 1);
    /* wrong issuers: same algorithm family and the other one */
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n, self, self_n, &e), 0);
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n, rsaca, rsaca_n, &e), 0);
    assert_int_equal(ck_cert_signed_by(leaf_ec, leaf_ec_n, ca, ca_n, &e), 0);
    assert_int_equal(ck_cert_signed_by(ca, ca_n, leaf, leaf_n, &e), 0);
    /* a changed signed byte (inside the subject CN) breaks the signature */
    assert_int_equal(patch(leaf, leaf_n, "a.example.com", "x.example.com"), 0);
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n, ca, ca_n, &e), 0);
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n - 1, ca, ca_n, &e), -1);
    assert_int_equal(ck_cert_signed_by(leaf, leaf_n, ca, 10, &e), -1);

    free(leaf);
    free(ca);
    free(self);
    free(rsaca);
    free(leaf_ec);
    ck_key_free(rsa);
    ck_key_free(p256);
    ck_key_free(p384);
    ck_key_free(rsa3072);
}

/* ---------- hostile DER ---------- */

static void test_hostile_der(void **state)
{
    struct ck_cert_info ci;
    struct ck_err e;
    unsigned char *der, *cut, junk[4096];
    size_t len, n, i;
    unsigned bit;

    (void)state;
    der = load_cert("leaf_rsa.pem", &len);
    /* every truncation, in an exactly sized heap buffer so ASan sees any overread */
    for (n = 0; n < len; n++) {
        cut = malloc(n ? n : 1);
        memcpy(cut, der, n);
        assert_int_equal(ck_cert_parse(n ? cut : NULL, n, &ci, &e), -1);
        assert_int_equal(ci.n_dns_names, 0);
        assert_int_equal(ck_cert_signed_by(cut, n, der, len, &e), -1);
        free(cut);
    }
    /* every single-bit flip: parses or not, never crashes nor leaks */
    for (i = 0; i < len; i++)
        for (bit = 0; bit < 8; bit += 3) {
            der[i] ^= (unsigned char)(1u << bit);
            if (ck_cert_parse(der, len, &ci, &e) == 0)
                ck_cert_info_free(&ci);
            der[i] ^= (unsigned char)(1u << bit);
        }
    /* huge lengths at the top and inside */
    {
        unsigned char *big = malloc(len + 8);
        memcpy(big, der, len);
        big[1] = 0x84;
        big[2] = big[3] = big[4] = big[5] = 0xff;
        assert_int_equal(ck_cert_parse(big, len, &ci, &e), -1);
        big[1] = 0x88; /* 8 length bytes */
        assert_int_equal(ck_cert_parse(big, len, &ci, &e), -1);
        big[1] = 0x80; /* indefinite */
        assert_int_equal(ck_cert_parse(big, len, &ci, &e), -1);
        memcpy(big, der, len);
        big[5] = 0x84; /* tbsCertificate length bytes */
        big[6] = big[7] = 0x7f;
        assert_int_equal(ck_cert_parse(big, len, &ci, &e), -1);
        free(big);
    }
    /* garbage */
    srand(7);
    for (i = 0; i < 2000; i++) {
        size_t j, m = (size_t)rand() % sizeof junk;
        for (j = 0; j < m; j++)
            junk[j] = (unsigned char)rand();
        if (i % 2)
            junk[0] = 0x30;
        assert_int_equal(ck_cert_parse(junk, m, &ci, &e), -1);
    }
    free(der);
}

/* Sealing: round trip, then every change refused: each byte flipped, every
 * truncation, another name (AAD), another key; the old key still opens. */
static void test_seal(void **state)
{
    (void)state;
    unsigned char raw1[CK_SEAL_KEY_LEN], raw2[CK_SEAL_KEY_LEN];
    memset(raw1, 0x11, sizeof raw1);
    memset(raw2, 0x22, sizeof raw2);
    struct ck_seal_key keys[2];
    ck_seal_key_init(&keys[0], raw2);
    ck_seal_key_init(&keys[1], raw1);
    assert_memory_not_equal(keys[0].id, keys[1].id, CK_SEAL_ID_LEN);
    const char *pem = "-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n";
    const char *name = "certs/a.example/01/privkey.pem";
    struct ck_err e;
    unsigned char *s1 = NULL, *s2 = NULL;
    size_t n1 = 0, n2 = 0, pn = 0;
    char *p = NULL;
    assert_int_equal(ck_seal(&keys[1], name, pem, strlen(pem), &s1, &n1, &e), 0);
    assert_int_equal(n1, strlen(pem) + CK_SEAL_OVERHEAD);
    assert_true(ck_sealed(s1, n1));
    assert_false(ck_sealed(pem, strlen(pem)));
    for (size_t i = 0; i + 7 <= n1; i++)
        assert_memory_not_equal(s1 + i, "PRIVATE", 7);
    /* a fresh nonce each time */
    assert_int_equal(ck_seal(&keys[1], name, pem, strlen(pem), &s2, &n2, &e), 0);
    assert_int_equal(n1, n2);
    assert_memory_not_equal(s1, s2, n1);
    free(s2);

    /* the old key (keys[1]) opens it when listed second */
    assert_int_equal(ck_seal_open(keys, 2, name, s1, n1, &p, &pn, &e), 0);
    assert_int_equal(pn, strlen(pem));
    assert_string_equal(p, pem);
    ck_secret_free(p, pn);

    /* only the new key: another key, named as such */
    assert_int_equal(ck_seal_open(keys, 1, name, s1, n1, &p, &pn, &e), -1);
    assert_null(p);
    assert_non_null(strstr(e.msg, "another store encryption key"));
    assert_non_null(strstr(e.msg, name));

    /* another object's name */
    assert_int_equal(ck_seal_open(keys, 2, "certs/b.example/01/privkey.pem", s1, n1, &p, &pn, &e),
                     -1);
    assert_null(p);
    assert_non_null(strstr(e.msg, "does not verify"));

    /* every byte flipped in turn */
    for (size_t i = 0; i < n1; i++) {
        s1[i] ^= 0x01;
        assert_int_equal(ck_seal_open(keys, 2, name, s1, n1, &p, &pn, &e), -1);
        assert_null(p);
        s1[i] ^= 0x01;
    }
    /* every truncation, and one byte more */
    for (size_t i = 0; i < n1; i++)
        assert_int_equal(ck_seal_open(keys, 2, name, s1, i, &p, &pn, &e), -1);
    unsigned char *longer = malloc(n1 + 1);
    assert_non_null(longer);
    memcpy(longer, s1, n1);
    longer[n1] = 0;
    assert_int_equal(ck_seal_open(keys, 2, name, longer, n1 + 1, &p, &pn, &e), -1);
    free(longer);
    /* unchanged, it still opens */
    assert_int_equal(ck_seal_open(keys, 2, name, s1, n1, &p, &pn, &e), 0);
    ck_secret_free(p, pn);
    free(s1);

    /* empty plaintext round trip */
    assert_int_equal(ck_seal(&keys[0], name, "", 0, &s1, &n1, &e), 0);
    assert_int_equal(ck_seal_open(keys, 1, name, s1, n1, &p, &pn, &e), 0);
    assert_int_equal(pn, 0);
    assert_string_equal(p, "");
    ck_secret_free(p, pn);
    free(s1);
    ck_seal_key_wipe(&keys[0]);
    ck_seal_key_wipe(&keys[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_type_names),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_seal),
        cmocka_unit_test(test_rfc7638_thumbprint),
        cmocka_unit_test(test_ari_cert_id),
        cmocka_unit_test(test_generate_each_type),
        cmocka_unit_test(test_load_openssl_keys),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_jwk_jws),
        cmocka_unit_test(test_csr),
        cmocka_unit_test(test_tlsalpn_cert),
        cmocka_unit_test(test_pem_certs),
        cmocka_unit_test(test_cert_parse),
        cmocka_unit_test(test_cert_serial_leading_zero),
        cmocka_unit_test(test_cert_times),
        cmocka_unit_test(test_key_matches_and_signed_by),
        cmocka_unit_test(test_hostile_der),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
