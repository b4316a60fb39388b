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

/* Base64 digit values; B64_WS: whitespace (skipped), B64_PAD: '=', B64_BAD: anything else. */
enum { B64_WS = 64, B64_PAD = 65, B64_BAD = 255 };
static const unsigned char b64_val[256] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255,  64,  64, 255, 255,  64, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
     64, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,  62, 255, 255, 255,  63,
     52,  53,  54,  55,  56,  57,  58,  59,  60,  61, 255, 255, 255,  65, 255, 255,
    255,   0,   1,   2,   3,   4,   5,   6,   7,   8,   9,  10,  11,  12,  13,  14,
     15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25, 255, 255, 255, 255, 255,
    255,  26,  27,  28,  29,  30,  31,  32,  33,  34,  35,  36,  37,  38,  39,  40,
     41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
};

/* Standard base64 (whitespace skipped, '=' only at the end) into out, which has
 * room for len * 3 / 4 bytes. Returns the decoded length, -1 on bad input. Four
 * digits at a time where a line has them: the bundle is 220 KB of base64. */
long ck_unb64(const char *s, size_t len, unsigned char *out)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    unsigned char *o = out;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    while (p < end) {
        if (bits == 0 && pad == 0 && end - p >= 4) {
            uint32_t a = b64_val[p[0]], b = b64_val[p[1]], c = b64_val[p[2]], d = b64_val[p[3]];
            if ((a | b | c | d) < 64) {
                uint32_t v = a << 18 | b << 12 | c << 6 | d;
                o[0] = (unsigned char)(v >> 16);
                o[1] = (unsigned char)(v >> 8);
                o[2] = (unsigned char)v;
                o += 3;
                p += 4;
                continue;
            }
        }
        unsigned v = b64_val[*p++];
        if (v == B64_WS)
            continue;
        if (v == B64_PAD) {
            pad++;
            continue;
        }
        if (v == B64_BAD || pad)
            return -1;  /* not base64, or data after padding */
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (unsigned char)(acc >> bits);
        }
    }
    return pad > 2 ? -1 : (long)(o - out);
}
