/* libFuzzer harness for the untrusted-input readers of lib/crypto:
 * ck_cert_parse (+ ARI id, self-signature check), ck_pem_certs, ck_key_from_pem (+ round trip).
 *
 * Build and run (from the repository root; the corpus directory must come first,
 * libFuzzer writes new inputs there, the seeds are only read):
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 \
 *       -fsanitize=fuzzer,address,undefined -Ibuild/deps/glibc/include -Ilib \
 *       tests/fuzz/fuzz_crypto.c lib/crypto/[a-z]*.c lib/err/err.c \
 *       -Lbuild/deps/glibc/lib -lbearssl -o build/fuzz/fuzz_crypto
 *   mkdir -p build/fuzz/corpus
 *   build/fuzz/fuzz_crypto -max_total_time=120 build/fuzz/corpus tests/fuzz/seeds
 * The first input byte picks the target; the rest is the data. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static void fuzz_cert(const unsigned char *d, size_t n)
{
    struct ck_cert_info ci;
    struct ck_err e;
    char id[256];

    if (ck_cert_parse(d, n, &ci, &e) == 0) {
        ck_ari_cert_id(&ci, id, sizeof id, &e);
        ck_cert_info_free(&ci);
    }
    /* self-signature check over the same bytes: exercises the issuer key reader too */
    ck_cert_signed_by(d, n, d, n, &e);
}

static void fuzz_pem_certs(const unsigned char *d, size_t n)
{
    struct ck_der_list l;
    struct ck_err e;
    size_t i;

    if (ck_pem_certs((const char *)d, n, "fuzz.pem", &l, &e) == 0) {
        for (i = 0; i < l.n; i++) {
            struct ck_cert_info ci;
            if (ck_cert_parse(l.items[i].data, l.items[i].len, &ci, &e) == 0)
                ck_cert_info_free(&ci);
        }
        ck_der_list_free(&l);
    }
}

static void fuzz_key(const unsigned char *d, size_t n)
{
    struct ck_key *k = NULL;
    struct ck_err e;
    char *pem;
    size_t len;

    if (ck_key_from_pem((const char *)d, n, "fuzz.pem", &k, &e) == 0) {
        /* a key we accept must round-trip */
        if (ck_key_to_pem(k, &pem, &len, &e) == 0) {
            struct ck_key *k2 = NULL;
            if (ck_key_from_pem(pem, len, "again", &k2, &e) != 0 || !ck_key_same(k, k2))
                abort();
            ck_key_free(k2);
            ck_secret_free(pem, len);
        }
        ck_key_free(k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *copy;

    if (size < 1)
        return 0;
    /* an exactly sized heap copy so that any overread is reported */
    copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0: fuzz_cert(copy, size - 1); break;
    case 1: fuzz_pem_certs(copy, size - 1); break;
    default: fuzz_key(copy, size - 1); break;
    }
    free(copy);
    return 0;
}
