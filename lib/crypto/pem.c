/* PEM in (through BearSSL's decoder) and out, base64 and SHA-256. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

#define CK_CERT_MAX_DER (64 * 1024) /* far above any real certificate */
#define CK_CERTS_MAX 32             /* a chain longer than this is not a chain */

struct pem_acc {
    unsigned char *buf;
    size_t len, cap;
    int overflow;
};

static void acc_append(void *ctx, const void *src, size_t n)
{
    struct pem_acc *a = ctx;

    if (a->overflow)
        return;
    if (a->cap - a->len < n) {
        a->overflow = 1;
        return;
    }
    memcpy(a->buf + a->len, src, n);
    a->len += n;
}

int ck_pem_each(const char *pem, size_t len, const char *what, size_t max_obj, ck_pem_cb cb,
                void *ctx, struct ck_err *e)
{
    br_pem_decoder_context pc;
    struct pem_acc acc = {0};
    char name[128] = "", chunk[512];
    size_t off = 0, clen = 0, cpos = 0;
    int in_obj = 0, tail_done = 0, rc = -1, r;

    acc.cap = max_obj;
    acc.buf = malloc(max_obj ? max_obj : 1);
    if (!acc.buf)
        return ck_fail(e, "%s: out of memory", what);
    br_pem_decoder_init(&pc);
    for (;;) {
        int ev;

        if (cpos == clen) {
            /* BearSSL 0.6 mangles the block name of a CRLF BEGIN line: feed it LF only. */
            clen = cpos = 0;
            while (off < len && clen < sizeof chunk) {
                if (pem[off] != '\r')
                    chunk[clen++] = pem[off];
                off++;
            }
            if (clen == 0) {
                if (tail_done)
                    break;
                /* BearSSL ends an object only at the newline after its END line. */
                chunk[clen++] = '\n';
                tail_done = 1;
            }
        }
        cpos += br_pem_decoder_push(&pc, chunk + cpos, clen - cpos);
        ev = br_pem_decoder_event(&pc);
        if (ev == BR_PEM_BEGIN_OBJ) {
            char *q;
            snprintf(name, sizeof name, "%s", br_pem_decoder_name(&pc));
            for (q = name; *q; q++) /* the name ends up in messages */
                if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
                    *q = '?';
            acc.len = 0;
            acc.overflow = 0;
            br_pem_decoder_setdest(&pc, acc_append, &acc);
            in_obj = 1;
        } else if (ev == BR_PEM_END_OBJ) {
            in_obj = 0;
            if (acc.overflow) {
                ck_fail(e, "%s: PEM block %s larger than %zu bytes", what, name, max_obj);
                goto out;
            }
            r = cb(ctx, name, acc.buf, acc.len, e);
            ck_wipe(acc.buf, acc.len);
            if (r < 0)
                goto out;
            if (r > 0)
                break;
        } else if (ev == BR_PEM_ERROR) {
            ck_fail(e, "%s: malformed PEM (bad base64 or framing)", what);
            goto out;
        }
    }
    if (in_obj) {
        ck_fail(e, "%s: truncated PEM block %s (no END line)", what, name);
        goto out;
    }
    rc = 0;
out:
    ck_wipe(acc.buf, acc.cap);
    free(acc.buf);
    ck_wipe(&pc, sizeof pc);
    ck_wipe(chunk, sizeof chunk);
    return rc;
}

struct certs_ctx {
    struct ck_der_list *out;
    const char *what;
};

static int cert_cb(void *vctx, const char *name, const unsigned char *der, size_t len,
                   struct ck_err *e)
{
    struct certs_ctx *c = vctx;
    struct ck_der_list *l = c->out;
    struct ck_dr in = {der, len}, val;
    struct ck_der *items;

    if (strcmp(name, "CERTIFICATE") != 0)
        return ck_fail(e, "%s: unexpected PEM block %s (want CERTIFICATE)", c->what, name);
    /* Catches a block whose base64 is fine but whose DER was cut. */
    if (ck_dr_expect(&in, 0x30, &val, NULL) < 0 || in.n != 0)
        return ck_fail(e, "%s: certificate %zu is not a complete DER SEQUENCE", c->what,
                       l->n + 1);
    if (l->n >= CK_CERTS_MAX)
        return ck_fail(e, "%s: more than %d certificates", c->what, CK_CERTS_MAX);
    items = realloc(l->items, (l->n + 1) * sizeof *items);
    if (!items)
        return ck_fail(e, "%s: out of memory", c->what);
    l->items = items;
    items[l->n].data = malloc(len);
    if (!items[l->n].data)
        return ck_fail(e, "%s: out of memory", c->what);
    memcpy(items[l->n].data, der, len);
    items[l->n].len = len;
    l->n++;
    return 0;
}

int ck_pem_certs(const char *pem, size_t len, const char *what, struct ck_der_list *out,
                 struct ck_err *e)
{
    struct certs_ctx c = {out, what};

    out->items = NULL;
    out->n = 0;
    if (ck_pem_each(pem, len, what, CK_CERT_MAX_DER, cert_cb, &c, e) < 0)
        goto fail;
    if (out->n == 0) {
        ck_fail(e, "%s: no certificate found", what);
        goto fail;
    }
    return 0;
fail:
    ck_der_list_free(out);
    return -1;
}

void ck_der_list_free(struct ck_der_list *l)
{
    size_t i;

    if (!l)
        return;
    for (i = 0; i < l->n; i++)
        free(l->items[i].data);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int ck_pem_append(char **buf, size_t *len, const char *label, const unsigned char *der,
                  size_t der_len, struct ck_err *e)
{
    size_t n = br_pem_encode(NULL, der, der_len, label, BR_PEM_LINE64);
    size_t old = *buf ? *len : 0;
    char *p;

    if (der_len > (1u << 24))
        return ck_fail(e, "PEM %s: object too large", label);
    p = realloc(*buf, old + n + 1);
    if (!p)
        return ck_fail(e, "PEM %s: out of memory", label);
    br_pem_encode(p + old, der, der_len, label, BR_PEM_LINE64);
    *buf = p;
    *len = old + n;
    return 0;
}

static size_t b64_any(const void *data, size_t n, char *out, size_t cap, const char *alpha,
                      int pad)
{
    const unsigned char *s = data;
    size_t need = pad ? 4 * ((n + 2) / 3) : n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    size_t i, o = 0;

    if (n > ((size_t)-1) / 4 - 4 || cap < need + 1)
        return (size_t)-1;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8 | s[i + 2];
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)s[i] << 16;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)s[i] << 16 | (unsigned)s[i + 1] << 8;
        out[o++] = alpha[v >> 18];
        out[o++] = alpha[(v >> 12) & 63];
        out[o++] = alpha[(v >> 6) & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t ck_b64url(const void *data, size_t n, char *out, size_t cap)
{
    return b64_any(data, n, out, cap,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 0);
}

size_t ck_b64(const void *data, size_t n, char *out, size_t cap)
{
    return b64_any(data, n, out, cap,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 1);
}

void ck_sha256(const void *data, size_t n, unsigned char out[32])
{
    br_sha256_context c;

    br_sha256_init(&c);
    br_sha256_update(&c, data, n);
    br_sha256_out(&c, out);
}
