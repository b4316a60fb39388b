/* keygen N [BITS [SEED]]: CPU time of RSA key generation, N runs, median and min-max.
 *
 * Each run draws a fresh seed from the system (or, given SEED, derives run i's
 * seed from it: the same work on every build, to compare builds) and generates the key twice from
 * it: with certkeep's ck_rsa_keygen and with BearSSL's br_rsa_i62_keygen alone
 * (what certkeep used before). Both then meet the same candidates and must
 * return the same key (checked), so the two columns are the same work done
 * two ways, interleaved against the machine's noise. A third column is the
 * whole ck_key_generate (system seed, d, self-test), which the ACME commands
 * call. Built static against build/deps/musl and the build/musl objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/crypto_int.h"

#define RUNS_MAX 1000

static double cpu_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    double sum = 0;
    int i;

    for (i = 0; i < n; i++)
        sum += v[i];
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("  %-44s %7.1f (%5.1f-%6.1f) %7.1f\n", what,
           n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1], sum / n);
}

static int one(br_rsa_keygen gen, const unsigned char *seed, unsigned bits, unsigned char *priv,
               unsigned char *pub, br_rsa_private_key *sk, double *ms)
{
    br_hmac_drbg_context rng;
    br_rsa_public_key pk;
    double t0;
    uint32_t ok;

    br_hmac_drbg_init(&rng, &br_sha256_vtable, seed, 32);
    t0 = cpu_ms();
    ok = gen(&rng.vtable, sk, priv, &pk, pub, bits, 65537);
    *ms = cpu_ms() - t0;
    return ok == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static unsigned char priv[2][BR_RSA_KBUF_PRIV_SIZE(4096)], pub[2][BR_RSA_KBUF_PUB_SIZE(4096)];
    static double ours[RUNS_MAX], theirs[RUNS_MAX], full[RUNS_MAX], ratio[RUNS_MAX];
    int n = argc > 1 ? atoi(argv[1]) : 0, i;
    unsigned bits = argc > 2 ? (unsigned)atoi(argv[2]) : 2048;
    enum ck_key_type type = bits == 2048 ? CK_KEY_RSA2048 : bits == 3072 ? CK_KEY_RSA3072
                          : bits == 4096 ? CK_KEY_RSA4096 : CK_KEY_NONE;
    br_rsa_keygen bearssl = br_rsa_i62_keygen_get();
    const char *fixed = argc > 3 ? argv[3] : NULL;

    if (n < 1 || n > RUNS_MAX || type == CK_KEY_NONE) {
        fputs("usage: keygen N [2048|3072|4096 [SEED]]\n", stderr);
        return 2;
    }
    if (!bearssl)
        bearssl = br_rsa_keygen_get_default();
    for (i = 0; i < n; i++) {
        br_rsa_private_key a, b;
        struct ck_key *k;
        struct ck_err e;
        unsigned char seed[32];
        double t0;

        if (fixed) {
            char label[64];

            snprintf(label, sizeof label, "%s/%d", fixed, i);
            ck_sha256(label, strlen(label), seed);
        } else if (ck_random(seed, sizeof seed, &e) < 0) {
            fprintf(stderr, "keygen: %s\n", e.msg);
            return 1;
        }
        if (
            one(ck_rsa_keygen, seed, bits, priv[0], pub[0], &a, &ours[i]) < 0 ||
            one(bearssl, seed, bits, priv[1], pub[1], &b, &theirs[i]) < 0) {
            fputs("keygen: key generation failed\n", stderr);
            return 1;
        }
        if (a.plen != b.plen || memcmp(a.p, b.p, a.plen) || memcmp(a.q, b.q, a.qlen)) {
            fputs("keygen: ck_rsa_keygen and BearSSL made different keys from one seed\n", stderr);
            return 1;
        }
        ratio[i] = ours[i] / theirs[i];
        t0 = cpu_ms();
        if (ck_key_generate(type, &k, &e) < 0) {
            fprintf(stderr, "keygen: %s\n", e.msg);
            return 1;
        }
        full[i] = cpu_ms() - t0;
        ck_key_free(k);
    }
    printf("RSA-%u key generation, CPU ms, %d runs        median (  min-   max)    mean\n", bits, n);
    report("ck_rsa_keygen (BearSSL + base-2 filter)", ours, n);
    report("br_rsa_i62_keygen alone, same seeds", theirs, n);
    report("ck_key_generate (system seed, d, self-test)", full, n);
    qsort(ratio, (size_t)n, sizeof *ratio, cmp);
    printf("  per-run ratio ck/BearSSL: median %.2f (%.2f-%.2f)\n", ratio[n / 2], ratio[0],
           ratio[n - 1]);
    return 0;
}
