/* RSA key generation: BearSSL's own (candidates, trial division, Miller-Rabin
 * rounds, CRT parts) with a cheaper first test in front of its Miller-Rabin.
 *
 * About 55 candidates per 1024-bit prime survive BearSSL's trial division and
 * almost all are composite; BearSSL spends a full modular exponentiation with
 * a random base on each. Here each first meets a base-2 Euler test
 * (2^((x-1)/2) = +-1 mod x, true for every odd prime): squarings and
 * doublings only, on a Montgomery squaring of our own, at about a third of
 * that cost. A composite it catches is reported as a failed round; a
 * candidate that passes goes through every one of BearSSL's rounds
 * unchanged. So a prime is accepted exactly when BearSSL accepts it, and a
 * given random stream gives the same key as BearSSL's i62 keygen
 * (test_rsagen checks this).
 *
 * Constant-time for the candidate that becomes a prime: no branch or memory
 * index depends on its bits (masks only); the one branch is on the verdict,
 * and a prime always passes. */
#include <string.h>

#include "crypto_int.h"

/* BearSSL internals (src/inner.h of BearSSL 0.6, pinned by scripts/deps.lock):
 * its keygen takes the exponentiation that Miller-Rabin uses as a parameter. */
typedef uint32_t (*br_i31_modpow_opt_type)(uint32_t *x, const unsigned char *e, size_t elen,
                                           const uint32_t *m, uint32_t m0i, uint32_t *tmp,
                                           size_t twlen);
uint32_t br_i62_modpow_opt_as_i31(uint32_t *x, const unsigned char *e, size_t elen,
                                  const uint32_t *m, uint32_t m0i, uint32_t *tmp, size_t twlen);
uint32_t br_rsa_i31_keygen_inner(const br_prng_class **rng, br_rsa_private_key *sk,
                                 void *kbuf_priv, br_rsa_public_key *pk, void *kbuf_pub,
                                 unsigned size, uint32_t pubexp, br_i31_modpow_opt_type mp31);

#if defined __SIZEOF_INT128__

typedef unsigned __int128 u128;

#define LIMBS_MAX 32 /* 2048-bit primes (RSA-4096) */

/* d = a^2 / 2^(64n) mod m, for a < m, m odd; m0i = -1/m mod 2^64. Product
 * scanning with the reduction folded into each column: one 192-bit
 * accumulator instead of a carry chain along every row. */
static void mont_sqr(uint64_t *d, const uint64_t *a, const uint64_t *m, uint64_t m0i, size_t n)
{
    uint64_t f[LIMBS_MAX], out[LIMBS_MAX], c2, x2, hi, borrow = 0, keep;
    const uint64_t *u, *v;
    u128 c = 0, x, p;
    size_t k, i;

    for (k = 0; k < 2 * n - 1; k++) {
        size_t lo = k < n ? 0 : k - n + 1, top = k < n ? k : n;

        x = 0, x2 = 0; /* cross products a[i]*a[k-i], i < k-i, counted twice */
        for (u = a + lo, v = a + k - lo; u < v; u++, v--) {
            p = (u128)*u * *v;
            x += p;
            x2 += x < p;
        }
        x2 = (x2 << 1) | (uint64_t)(x >> 127);
        x <<= 1;
        c += x;
        c2 = x2 + (c < x);
        if (!(k & 1)) {
            p = (u128)a[k / 2] * a[k / 2];
            c += p;
            c2 += c < p;
        }
        for (u = f + lo, v = m + k - lo; u < f + top; u++, v--) {
            p = (u128)*u * *v;
            c += p;
            c2 += c < p;
        }
        if (k < n) { /* the multiple of m that clears this column */
            f[k] = (uint64_t)c * m0i;
            p = (u128)f[k] * m[0];
            c += p;
            c2 += c < p;
        } else {
            out[k - n] = (uint64_t)c;
        }
        c = (c >> 64) | ((u128)c2 << 64);
    }
    out[n - 1] = (uint64_t)c;
    hi = (uint64_t)(c >> 64);
    for (i = 0; i < n; i++) { /* out < 2m: subtract m when out >= m */
        p = (u128)out[i] - m[i] - borrow;
        d[i] = (uint64_t)p;
        borrow = (uint64_t)(p >> 64) & 1;
    }
    keep = (uint64_t)0 - (hi | (borrow ^ 1));
    for (i = 0; i < n; i++)
        d[i] = (d[i] & keep) | (out[i] & ~keep);
}

/* r = 2r mod m when bit is 1, r unchanged when 0 (r < m). */
static void double_if(uint64_t *r, const uint64_t *m, size_t n, uint64_t bit)
{
    uint64_t t[LIMBS_MAX], carry = 0, borrow = 0, keep;
    u128 p;
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t w = r[i];

        r[i] = (w << bit) | carry;
        carry = (w >> 63) & bit;
        p = (u128)r[i] - m[i] - borrow;
        t[i] = (uint64_t)p;
        borrow = (uint64_t)(p >> 64) & 1;
    }
    keep = (uint64_t)0 - (carry | (borrow ^ 1)); /* 2r >= m */
    for (i = 0; i < n; i++)
        r[i] = (t[i] & keep) | (r[i] & ~keep);
}

/* 1 when 2^((m-1)/2) = +-1 mod m; m odd, n limbs, top bit of m[n-1] set.
 * Works in Montgomery form throughout: 1 is R - m (R = 2^(64n) < 2m), -1 is
 * m - (R - m); every value stays below m. */
static int euler2_limbs(const uint64_t *m, size_t n)
{
    uint64_t r[LIMBS_MAX], one[LIMBS_MAX], m0i = m[0], eq1 = 0, eqm1 = 0, borrow = 0;
    u128 p = 1;
    size_t i;
    int k;

    for (k = 0; k < 6; k++) /* Newton: 3, 6, 12, ... 96 correct low bits of 1/m */
        m0i *= 2 - m[0] * m0i;
    m0i = (uint64_t)0 - m0i;
    for (i = 0; i < n; i++) {
        p += ~m[i];
        one[i] = r[i] = (uint64_t)p;
        p >>= 64;
    }
    for (i = 64 * n - 1; i >= 1; i--) { /* exponent (m-1)/2: bits 64n-1 .. 1 of m */
        mont_sqr(r, r, m, m0i, n);
        double_if(r, m, n, (m[i / 64] >> (i % 64)) & 1);
    }
    for (i = 0; i < n; i++) {
        p = (u128)m[i] - one[i] - borrow; /* -1 */
        borrow = (uint64_t)(p >> 64) & 1;
        eq1 |= r[i] ^ one[i];
        eqm1 |= r[i] ^ (uint64_t)p;
    }
    ck_wipe(r, sizeof r);
    ck_wipe(one, sizeof one);
    return (eq1 == 0) | (eqm1 == 0);
}

/* BearSSL's i31 form (x[0] its encoded bit length, then 31-bit words) into n
 * 64-bit limbs; n = 0 when the size is not a whole number of limbs this handles. */
static size_t limbs_from_i31(uint64_t *m, const uint32_t *x)
{
    size_t words = (x[0] + 31) >> 5, bits = (x[0] >> 5) * 31 + (x[0] & 31), n = bits / 64, u;

    if (bits % 64 || n < 2 || n > LIMBS_MAX)
        return 0;
    memset(m, 0, n * sizeof *m);
    for (u = 0; u < words; u++) {
        uint64_t w = x[1 + u];
        size_t at = 31 * u, k = at / 64, s = at % 64;

        m[k] |= w << s;
        if (s > 33 && k + 1 < n)
            m[k + 1] |= w >> (64 - s);
    }
    return m[n - 1] >> 63 ? n : 0;
}

/* Miller-Rabin's exponentiation for BearSSL's keygen: a^e mod x, unless the
 * base-2 test already shows x composite; then a becomes 0, which is neither
 * 1 nor x-1 (x = 3 mod 4, x > 3), so the round fails. */
static uint32_t modpow_after_euler2(uint32_t *a, const unsigned char *e, size_t elen,
                                    const uint32_t *x, uint32_t x0i, uint32_t *tmp, size_t twlen)
{
    uint64_t m[LIMBS_MAX];
    size_t n = limbs_from_i31(m, x);
    int composite = n && !euler2_limbs(m, n);

    ck_wipe(m, sizeof m);
    if (composite) {
        memset(a + 1, 0, ((x[0] + 31) >> 5) * sizeof *a);
        return 1;
    }
    return br_i62_modpow_opt_as_i31(a, e, elen, x, x0i, tmp, twlen);
}

uint32_t ck_rsa_keygen(const br_prng_class **rng, br_rsa_private_key *sk, void *kbuf_priv,
                       br_rsa_public_key *pk, void *kbuf_pub, unsigned size, uint32_t pubexp)
{
    return br_rsa_i31_keygen_inner(rng, sk, kbuf_priv, pk, kbuf_pub, size, pubexp,
                                   modpow_after_euler2);
}

int ck_euler2(const unsigned char *x, size_t len)
{
    uint64_t m[LIMBS_MAX] = {0};
    size_t n = len / 8, i;
    int r;

    if (len % 8 || n < 2 || n > LIMBS_MAX || !(x[0] & 0x80) || !(x[len - 1] & 1))
        return -1;
    for (i = 0; i < len; i++)
        m[(len - 1 - i) / 8] |= (uint64_t)x[i] << (8 * ((len - 1 - i) % 8));
    r = euler2_limbs(m, n);
    ck_wipe(m, sizeof m);
    return r;
}

#else /* no 64x64->128 multiplication: BearSSL's keygen as it is */

uint32_t ck_rsa_keygen(const br_prng_class **rng, br_rsa_private_key *sk, void *kbuf_priv,
                       br_rsa_public_key *pk, void *kbuf_pub, unsigned size, uint32_t pubexp)
{
    return br_rsa_keygen_get_default()(rng, sk, kbuf_priv, pk, kbuf_pub, size, pubexp);
}

int ck_euler2(const unsigned char *x, size_t len)
{
    (void)x, (void)len;
    return -1;
}

#endif
