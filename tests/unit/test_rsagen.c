/* lib/crypto/rsagen.c: the base-2 filter in front of BearSSL's Miller-Rabin.
 * It must never turn a prime away (the keys equal BearSSL's own for a given
 * random stream; primes from openssl pass), must turn composites away, and the
 * keys must satisfy openssl. Also: RSA signing runs on BearSSL's i62 code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bearssl.h>
#include <cmocka.h>

#include "crypto/crypto_int.h"

static char dir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static size_t unhex(const char *s, unsigned char *out, size_t cap)
{
    size_t n = 0;
    unsigned v;

    while (s[0] && s[1] && s[0] != '\n' && n < cap && sscanf(s, "%2x", &v) == 1) {
        out[n++] = (unsigned char)v;
        s += 2;
    }
    return n;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-rsagen-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return sh("rm -rf %s", dir);
}

/* Small fixed cases: a prime, a product of two primes, a Carmichael number
 * that 2 cannot expose (so only BearSSL's random bases can), bad input. */
static void test_euler2_fixed(void **state)
{
    unsigned char x[16];

    (void)state;
    unhex("8000000000000000000000000000007b", x, sizeof x); /* prime */
    assert_int_equal(ck_euler2(x, 16), 1);
    unhex("80000000000000457fffffffffffe92f", x, sizeof x); /* (2^64-59) * 0x8000000000000063 */
    assert_int_equal(ck_euler2(x, 16), 0);
    unhex("80000012ac12854e64ae648a3eb7b231", x, sizeof x); /* (6k+1)(12k+1)(18k+1), k = 508239190405 */
    assert_int_equal(ck_euler2(x, 16), 1);
    x[15] &= 0xfe; /* even */
    assert_int_equal(ck_euler2(x, 16), -1);
    x[15] |= 1, x[0] = 0x7f; /* top bit clear */
    assert_int_equal(ck_euler2(x, 16), -1);
    x[0] = 0x80;
    assert_int_equal(ck_euler2(x, 15), -1); /* not whole 8-byte words */
    assert_int_equal(ck_euler2(x, 8), -1);  /* too short */
}

/* A random prime from `openssl prime` into out (big-endian); its length. */
static size_t openssl_prime(int bits, unsigned char *out, size_t cap)
{
    char cmd[64], line[1024];
    FILE *f;

    snprintf(cmd, sizeof cmd, "openssl prime -generate -bits %d -hex", bits);
    f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    pclose(f);
    return unhex(line, out, cap);
}

/* Primes that openssl makes (either residue mod 4) pass; the product of two does not. */
static void test_euler2_openssl_primes(void **state)
{
    static const int bits[] = {1024, 1024, 1024, 1536, 2048};
    unsigned char p[256], a[128], b[128], prod[256];
    uint32_t acc[256] = {0};
    size_t i, j, k, n;

    (void)state;
    for (i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        n = openssl_prime(bits[i], p, sizeof p);
        assert_int_equal(n * 8, (size_t)bits[i]);
        assert_int_equal(ck_euler2(p, n), 1);
    }
    assert_int_equal(openssl_prime(1024, a, sizeof a), 128);
    assert_int_equal(openssl_prime(1024, b, sizeof b), 128);
    for (i = 0; i < 128; i++) { /* prod = a*b, schoolbook on bytes */
        uint32_t carry = 0;

        for (j = 0; j < 128; j++) {
            uint32_t t = acc[i + j] + (uint32_t)a[127 - i] * b[127 - j] + carry;
            acc[i + j] = t & 0xff;
            carry = t >> 8;
        }
        for (k = i + 128; carry; k++) {
            uint32_t t = acc[k] + carry;
            acc[k] = t & 0xff;
            carry = t >> 8;
        }
    }
    for (i = 0; i < 256; i++)
        prod[i] = (unsigned char)acc[255 - i];
    assert_true(prod[0] & 0x80); /* openssl sets the top two bits of each prime */
    assert_int_equal(ck_euler2(prod, 256), 0);
}

/* The same random stream gives the same key as BearSSL's i62 keygen: the
 * filter turned away nothing that BearSSL would have kept. And random odd
 * numbers are overwhelmingly turned away. */
static void test_same_keys_as_bearssl(void **state)
{
    static const struct {
        unsigned bits;
        int runs;
    } sizes[] = {{2048, 6}, {3072, 1}, {4096, 1}};
    static unsigned char priv[2][BR_RSA_KBUF_PRIV_SIZE(4096)], pub[2][BR_RSA_KBUF_PUB_SIZE(4096)];
    size_t s;
    int r, composites = 0;

    (void)state;
    assert_non_null(br_rsa_i62_keygen_get());
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (r = 0; r < sizes[s].runs; r++) {
            br_hmac_drbg_context rng;
            br_rsa_private_key a, b;
            br_rsa_public_key pa, pb;
            char seed[32];

            snprintf(seed, sizeof seed, "certkeep rsagen %u/%d", sizes[s].bits, r);
            br_hmac_drbg_init(&rng, &br_sha256_vtable, seed, strlen(seed));
            assert_int_equal(ck_rsa_keygen(&rng.vtable, &a, priv[0], &pa, pub[0], sizes[s].bits,
                                           65537), 1);
            br_hmac_drbg_init(&rng, &br_sha256_vtable, seed, strlen(seed));
            assert_int_equal(br_rsa_i62_keygen_get()(&rng.vtable, &b, priv[1], &pb, pub[1],
                                                     sizes[s].bits, 65537), 1);
            assert_int_equal(a.n_bitlen, sizes[s].bits);
            assert_int_equal(pa.nlen, pb.nlen);
            assert_memory_equal(pa.n, pb.n, pa.nlen);
            assert_memory_equal(a.p, b.p, a.plen);
            assert_memory_equal(a.q, b.q, a.qlen);
            assert_memory_equal(a.dp, b.dp, a.dplen);
            assert_memory_equal(a.dq, b.dq, a.dqlen);
            assert_memory_equal(a.iq, b.iq, a.iqlen);
            assert_int_equal(ck_euler2(a.p, a.plen), 1);
            assert_int_equal(ck_euler2(a.q, a.qlen), 1);
            assert_int_equal(ck_euler2(pa.n, pa.nlen), pa.nlen <= 256 ? 0 : -1);
        }
    }
    for (r = 0; r < 200; r++) {
        unsigned char x[128];
        struct ck_err e;

        assert_int_equal(ck_random(x, sizeof x, &e), 0);
        x[0] |= 0x80, x[127] |= 1;
        composites += ck_euler2(x, sizeof x) == 0;
    }
    /* a random odd 1024-bit number is prime with probability 1/355 */
    assert_true(composites >= 190);
}

/* What ck_key_generate makes passes `openssl rsa -check` (primality of p and
 * q, n = pq, d, dp, dq, qinv). */
static void test_openssl_checks_keys(void **state)
{
    static const enum ck_key_type types[] = {CK_KEY_RSA2048, CK_KEY_RSA2048, CK_KEY_RSA2048,
                                             CK_KEY_RSA2048, CK_KEY_RSA3072};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct ck_key *k = NULL;
        struct ck_err e;
        char *pem, file[128];
        size_t len;
        FILE *f;

        assert_int_equal(ck_key_generate(types[i], &k, &e), 0);
        assert_int_equal(ck_key_to_pem(k, &pem, &len, &e), 0);
        snprintf(file, sizeof file, "%s/k%zu.pem", dir, i);
        f = fopen(file, "w");
        assert_non_null(f);
        assert_int_equal(fwrite(pem, 1, len, f), len);
        fclose(f);
        assert_int_equal(sh("openssl rsa -check -noout -in %s 2>&1 | grep -qx 'RSA key ok'", file), 0);
        ck_secret_free(pem, len);
        ck_key_free(k);
    }
}

/* Signing and the rest run on the i62 code (64x64 multiplications) where the
 * compiler has 128-bit products, as on x86-64 and arm64. */
static void test_i62_in_use(void **state)
{
    (void)state;
#if defined __SIZEOF_INT128__
    assert_non_null(br_rsa_i62_pkcs1_sign_get());
    assert_ptr_equal(br_rsa_pkcs1_sign_get_default(), br_rsa_i62_pkcs1_sign_get());
    assert_ptr_equal(br_rsa_pkcs1_vrfy_get_default(), br_rsa_i62_pkcs1_vrfy_get());
    assert_ptr_equal(br_rsa_private_get_default(), br_rsa_i62_private_get());
    assert_ptr_equal(br_rsa_keygen_get_default(), br_rsa_i62_keygen_get());
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_euler2_fixed),
        cmocka_unit_test(test_euler2_openssl_primes),
        cmocka_unit_test(test_same_keys_as_bearssl),
        cmocka_unit_test(test_openssl_checks_keys),
        cmocka_unit_test(test_i62_in_use),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
