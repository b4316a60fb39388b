/* Minimal DER reader and writer: just what certificates and CSRs need. */
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

int ck_dr_next(struct ck_dr *in, unsigned char *tag, struct ck_dr *val, struct ck_dr *full)
{
    size_t i = 2, l, k;

    if (in->n < 2)
        return -1;
    /* High tag numbers never occur in what we read. */
    if ((in->p[0] & 0x1f) == 0x1f)
        return -1;
    l = in->p[1];
    if (l & 0x80) {
        k = l & 0x7f;
        /* 0 is BER indefinite length; > 4 bytes of length is never a real certificate. */
        if (k == 0 || k > 4 || in->n - 2 < k)
            return -1;
        l = 0;
        while (k--)
            l = (l << 8) | in->p[i++];
    }
    if (l > in->n - i)
        return -1;
    *tag = in->p[0];
    if (val) {
        val->p = in->p + i;
        val->n = l;
    }
    if (full) {
        full->p = in->p;
        full->n = i + l;
    }
    in->p += i + l;
    in->n -= i + l;
    return 0;
}

int ck_dr_expect(struct ck_dr *in, unsigned char want, struct ck_dr *val, struct ck_dr *full)
{
    unsigned char tag;

    if (ck_dr_next(in, &tag, val, full) < 0 || tag != want)
        return -1;
    return 0;
}

int ck_dr_oid_is(const struct ck_dr *oid, const unsigned char *der, size_t len)
{
    return oid->n == len && memcmp(oid->p, der, len) == 0;
}

void ck_dw_put(struct ck_dw *w, const void *data, size_t n)
{
    if (w->oom || n == 0)
        return;
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        unsigned char *p;
        while (cap - w->len < n) {
            if (cap > ((size_t)1 << 28)) {
                w->oom = 1;
                return;
            }
            cap *= 2;
        }
        p = realloc(w->p, cap);
        if (!p) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

void ck_dw_tlv(struct ck_dw *w, unsigned char tag, const void *content, size_t n)
{
    unsigned char h[6];
    size_t hl = 0;

    h[hl++] = tag;
    if (n < 0x80) {
        h[hl++] = (unsigned char)n;
    } else if (n < 0x100) {
        h[hl++] = 0x81;
        h[hl++] = (unsigned char)n;
    } else if (n < 0x10000) {
        h[hl++] = 0x82;
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else if (n < 0x1000000) {
        h[hl++] = 0x83;
        h[hl++] = (unsigned char)(n >> 16);
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        w->oom = 1;
        return;
    }
    ck_dw_put(w, h, hl);
    ck_dw_put(w, content, n);
}

void ck_dw_wrap(struct ck_dw *w, unsigned char tag, struct ck_dw *inner)
{
    if (inner->oom)
        w->oom = 1;
    else
        ck_dw_tlv(w, tag, inner->p, inner->len);
    ck_dw_free(inner);
}

void ck_dw_uint(struct ck_dw *w, const unsigned char *mag, size_t n)
{
    struct ck_dw c = {0};
    unsigned char zero = 0;

    while (n > 1 && mag[0] == 0) {
        mag++;
        n--;
    }
    /* A set top bit would make the INTEGER negative. */
    if (n == 0 || (mag[0] & 0x80))
        ck_dw_put(&c, &zero, 1);
    ck_dw_put(&c, mag, n);
    ck_dw_wrap(w, 0x02, &c);
}

void ck_dw_free(struct ck_dw *w)
{
    free(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
}
