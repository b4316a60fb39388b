/* signer N [SIGNS]: what the account key's signer process costs per issuance.
 *
 * One issuance signs about ten JWS (newAccount or lookup, newOrder, authorization,
 * challenge, polls, finalize, download). Each round here is that: ck_signer_start,
 * SIGNS ck_jws_sign through the child, ck_key_free (which reaps it), against the
 * same SIGNS signed in process. CPU is ours plus the reaped children's (getrusage),
 * so fork, the child's hashing and signing and both sides' syscalls all count.
 * Median over N rounds, for p256 and rsa2048 account keys. Built static against
 * build/deps/musl and the build/musl objects, like keygen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "crypto/crypto.h"

#define RUNS_MAX 1000

static double cpu_ms(void)
{
    struct rusage s, c;

    getrusage(RUSAGE_SELF, &s);
    getrusage(RUSAGE_CHILDREN, &c);
    return (s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) * 1e3 +
           (s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec + c.ru_stime.tv_usec) / 1e3;
}

static double wall_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static int signs(const struct ck_key *k, int n, struct ck_err *e)
{
    static const char prot[] = "{\"alg\":\"ES256\",\"kid\":\"https://localhost:14000/my-account/1\","
                               "\"nonce\":\"zyxwvutsrqponmlkjihgfedcba\",\"url\":\"https://localhost:14000/order-plz\"}";
    static const char pay[] = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"bench.example.com\"}]}";

    for (int i = 0; i < n; i++) {
        char *jws = NULL;
        size_t len = 0;
        if (ck_jws_sign(k, prot, pay, sizeof pay - 1, &jws, &len, e) < 0)
            return -1;
        free(jws);
    }
    return 0;
}

/* Rounds of: the same SIGNS in process, then through a signer; fills the medians. */
static int bench(enum ck_key_type t, int n, int s)
{
    static double here_cpu[RUNS_MAX], there_cpu[RUNS_MAX], here_wall[RUNS_MAX], there_wall[RUNS_MAX];
    struct ck_err e;

    for (int i = 0; i < n; i++) {
        struct ck_key *k;
        if (ck_key_generate(t, &k, &e) < 0)
            goto fail;
        double c0 = cpu_ms(), w0 = wall_ms();
        if (signs(k, s, &e) < 0)
            goto fail;
        double c1 = cpu_ms(), w1 = wall_ms();
        if (ck_signer_start(k, &e) < 0 || signs(k, s, &e) < 0)
            goto fail;
        ck_key_free(k);
        double c2 = cpu_ms(), w2 = wall_ms();
        here_cpu[i] = c1 - c0;
        there_cpu[i] = c2 - c1;
        here_wall[i] = w1 - w0;
        there_wall[i] = w2 - w1;
    }
    double hc = median(here_cpu, n), tc = median(there_cpu, n);
    double hw = median(here_wall, n), tw = median(there_wall, n);
    printf("%-8s %2d JWS: in process %6.2f ms CPU %6.2f ms wall; through the signer %6.2f ms CPU "
           "%6.2f ms wall; cost per issuance %+.2f ms CPU %+.2f ms wall\n",
           ck_key_type_name(t), s, hc, hw, tc, tw, tc - hc, tw - hw);
    return 0;
fail:
    fprintf(stderr, "signer: %s\n", e.msg);
    return -1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0, s = argc > 2 ? atoi(argv[2]) : 10;

    if (n < 1 || n > RUNS_MAX || s < 1 || s > 1000) {
        fputs("usage: signer N [SIGNS]\n", stderr);
        return 2;
    }
    if (bench(CK_KEY_P256, n, s) < 0 || bench(CK_KEY_RSA2048, n, s) < 0)
        return 1;
    return 0;
}
