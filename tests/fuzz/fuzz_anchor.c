/* libFuzzer harness, differential: ck_cert_anchor (lib/crypto/anchor.c) against BearSSL's
 * br_x509_decoder on the same bytes. Both must accept or both refuse; when they accept,
 * the DN, the CA flag, the key type, the key bytes and the curve must be the same.
 * Built and run by `make fuzz` (build/fuzz/fuzz_anchor). The input is one certificate's
 * DER; the seeds that carry fuzz_crypto's leading target byte are tried without it too. */
#include <bearssl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

struct dn {
    unsigned char *b;
    size_t len, cap;
};

static void dn_append(void *ctx, const void *buf, size_t len)
{
    struct dn *d = ctx;
    if (len > d->cap - d->len)
        abort();  /* the DN is part of the input: it cannot be longer */
    memcpy(d->b + d->len, buf, len);
    d->len += len;
}

static int same(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void check(const unsigned char *der, size_t len)
{
    br_x509_decoder_context xc;
    struct dn d = {malloc(len + 1), 0, len};
    struct ck_anchor a;

    if (d.b == NULL)
        return;
    br_x509_decoder_init(&xc, dn_append, &d);
    br_x509_decoder_push(&xc, der, len);
    const br_x509_pkey *pk = br_x509_decoder_get_pkey(&xc);
    int ref_ok = br_x509_decoder_last_error(&xc) == 0 && pk != NULL;
    int ok = ck_cert_anchor(der, len, &a) == 0;
    if (ref_ok != ok)
        abort();
    if (ok) {
        if (!same(a.dn, a.dn_len, d.b, d.len) || a.is_ca != (br_x509_decoder_isCA(&xc) != 0) ||
            a.key_type != pk->key_type)
            abort();
        if (a.key_type == BR_KEYTYPE_RSA &&
            (!same(a.n, a.n_len, pk->key.rsa.n, pk->key.rsa.nlen) ||
             !same(a.e, a.e_len, pk->key.rsa.e, pk->key.rsa.elen)))
            abort();
        if (a.key_type == BR_KEYTYPE_EC &&
            (a.curve != pk->key.ec.curve || !same(a.q, a.q_len, pk->key.ec.q, pk->key.ec.qlen)))
            abort();
        /* every slice lies inside the input */
        const unsigned char *end = der + len;
        if (a.dn < der || a.dn + a.dn_len > end)
            abort();
    }
    free(d.b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exactly sized heap copy so that any overread is reported */
    unsigned char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    check(copy, size);
    if (size > 1)
        check(copy + 1, size - 1);
    free(copy);
    return 0;
}
