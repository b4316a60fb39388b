/* JWK, RFC 7638 thumbprints and flattened JWS for ACME. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

static int is_ec(const struct ck_key *k)
{
    return k->type == CK_KEY_P256 || k->type == CK_KEY_P384;
}

const char *ck_jws_alg(const struct ck_key *k)
{
    switch (ck_key_type(k)) {
    case CK_KEY_P256: return "ES256";
    case CK_KEY_P384: return "ES384";
    case CK_KEY_RSA2048:
    case CK_KEY_RSA3072:
    case CK_KEY_RSA4096: return "RS256";
    default: return NULL;
    }
}

int ck_jwk_json(const struct ck_key *k, char **json, struct ck_err *e)
{
    /* n of RSA 4096 is 683 base64url chars; everything fits in 1 KiB. */
    char a[700], b[700], *out;
    size_t cap = 1536;

    if (!k || k->type == CK_KEY_NONE)
        return ck_fail(e, "JWK: no key");
    out = malloc(cap);
    if (!out)
        return ck_fail(e, "JWK: out of memory");
    if (is_ec(k)) {
        /* Uncompressed point 04||X||Y: each coordinate already padded to the curve size. */
        size_t c = (k->ec_pk.qlen - 1) / 2;
        ck_b64url(k->ec_pk.q + 1, c, a, sizeof a);
        ck_b64url(k->ec_pk.q + 1 + c, c, b, sizeof b);
        snprintf(out, cap, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 k->type == CK_KEY_P256 ? "P-256" : "P-384", a, b);
    } else {
        const unsigned char *n = k->rsa_pk.n, *ex = k->rsa_pk.e;
        size_t nl = k->rsa_pk.nlen, el = k->rsa_pk.elen;
        while (nl > 1 && *n == 0) {
            n++;
            nl--;
        }
        while (el > 1 && *ex == 0) {
            ex++;
            el--;
        }
        ck_b64url(ex, el, a, sizeof a);
        ck_b64url(n, nl, b, sizeof b);
        snprintf(out, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
    }
    *json = out;
    return 0;
}

int ck_jwk_thumbprint(const struct ck_key *k, char out[44], struct ck_err *e)
{
    unsigned char h[32];
    char *json;

    if (ck_jwk_json(k, &json, e) < 0)
        return -1;
    ck_sha256(json, strlen(json), h);
    free(json);
    ck_b64url(h, sizeof h, out, 44);
    return 0;
}

/* malloc'd base64url of data, or NULL. */
static char *b64u_dup(const void *data, size_t n, size_t *olen)
{
    size_t cap = 4 * ((n + 2) / 3) + 1;
    char *s = malloc(cap);

    if (s)
        *olen = ck_b64url(data, n, s, cap);
    return s;
}

int ck_jws_sign(const struct ck_key *k, const char *protected_json, const char *payload,
                size_t payload_len, char **out, size_t *out_len, struct ck_err *e)
{
    const br_hash_class *hc = k->type == CK_KEY_P384 ? &br_sha384_vtable : &br_sha256_vtable;
    br_hash_compat_context hctx;
    unsigned char hash[64], sig[600];
    char *prot = NULL, *pay = NULL, *sigb = NULL, *res = NULL;
    size_t plen = 0, ylen = 0, slen = 0, n, cap;
    int rc = -1;

    if (!k || k->type == CK_KEY_NONE || !protected_json)
        return ck_fail(e, "JWS: no key or no protected header");
    if (payload_len > (64u << 20))
        return ck_fail(e, "JWS: payload of %zu bytes is too large", payload_len);
    prot = b64u_dup(protected_json, strlen(protected_json), &plen);
    pay = b64u_dup(payload_len ? payload : "", payload_len, &ylen);
    if (!prot || !pay) {
        ck_fail(e, "JWS: out of memory");
        goto out;
    }
    if (k->remote) {
        n = ck_signer_sign(k, prot, plen, pay, ylen, sig, sizeof sig, e);
        if (n == 0) {
            ck_wrap(e, "JWS");
            goto out;
        }
    } else {
        hc->init(&hctx.vtable);
        hc->update(&hctx.vtable, prot, plen);
        hc->update(&hctx.vtable, ".", 1);
        hc->update(&hctx.vtable, pay, ylen);
        hc->out(&hctx.vtable, hash);
        n = ck_key_sign_hash(k, hc, hash, 1, sig, sizeof sig);
        if (n == 0) {
            ck_fail(e, "JWS: %s signature failed", ck_jws_alg(k));
            goto out;
        }
    }
    sigb = b64u_dup(sig, n, &slen);
    if (!sigb) {
        ck_fail(e, "JWS: out of memory");
        goto out;
    }
    cap = plen + ylen + slen + 64;
    res = malloc(cap);
    if (!res) {
        ck_fail(e, "JWS: out of memory");
        goto out;
    }
    *out_len = (size_t)snprintf(res, cap, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
                                prot, pay, sigb);
    *out = res;
    rc = 0;
out:
    free(prot);
    /* The signed body may carry secrets (EAB, key change): wipe it. */
    if (pay)
        ck_secret_free(pay, ylen);
    free(sigb);
    ck_wipe(&hctx, sizeof hctx);
    return rc;
}
