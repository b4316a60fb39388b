/* Private keys: generation, PEM in/out, comparison, signing primitive, RNG. */
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

#define CK_KEY_MAX_DER (16 * 1024) /* an RSA 4096 PKCS#8 key is ~2.4 KB */

static const char *const type_names[] = {NULL, "rsa2048", "rsa3072", "rsa4096", "p256", "p384"};

const char *ck_key_type_name(enum ck_key_type t)
{
    if ((int)t <= 0 || (size_t)t >= sizeof type_names / sizeof type_names[0])
        return NULL;
    return type_names[t];
}

int ck_key_type_parse(const char *s, enum ck_key_type *out, struct ck_err *e)
{
    size_t i;

    for (i = 1; s && i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strcmp(s, type_names[i]) == 0) {
            *out = (enum ck_key_type)i;
            return 0;
        }
    }
    return ck_failk(e, CK_E_USAGE, "key type \"%.64s\": want rsa2048, rsa3072, rsa4096, p256 or p384",
                    s ? s : "");
}

void ck_wipe(void *p, size_t n)
{
    /* Through a volatile pointer so the stores cannot be elided as dead. */
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

void ck_secret_free(void *p, size_t len)
{
    if (!p)
        return;
    ck_wipe(p, len);
    free(p);
}

void ck_key_free(struct ck_key *k)
{
    if (!k)
        return;
    ck_signer_end(k);
    ck_wipe(k, sizeof *k);
    free(k);
}

enum ck_key_type ck_key_type(const struct ck_key *k)
{
    return k ? k->type : CK_KEY_NONE;
}

int ck_rng_init(br_hmac_drbg_context *rng, struct ck_err *e)
{
    br_prng_seeder seeder = br_prng_seeder_system(NULL);

    br_hmac_drbg_init(rng, &br_sha256_vtable, NULL, 0);
    if (!seeder || !seeder(&rng->vtable)) {
        ck_wipe(rng, sizeof *rng);
        return ck_fail(e, "no system random source (is /dev/urandom there?)");
    }
    return 0;
}

int ck_random(void *buf, size_t n, struct ck_err *e)
{
    br_hmac_drbg_context rng;

    if (ck_rng_init(&rng, e) < 0)
        return -1;
    br_hmac_drbg_generate(&rng, buf, n);
    ck_wipe(&rng, sizeof rng);
    return 0;
}

static size_t hash_len(const br_hash_class *hc)
{
    return (hc->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
}

size_t ck_key_sign_hash(const struct ck_key *k, const br_hash_class *hc, const unsigned char *hash,
                        int raw, unsigned char *sig, size_t cap)
{
    if (k->remote)
        return 0;
    if (k->type == CK_KEY_P256 || k->type == CK_KEY_P384) {
        if (cap < 2 * 66 + 9)
            return 0;
        if (raw)
            return br_ecdsa_sign_raw_get_default()(br_ec_get_default(), hc, hash, &k->ec_sk, sig);
        return br_ecdsa_sign_asn1_get_default()(br_ec_get_default(), hc, hash, &k->ec_sk, sig);
    } else {
        size_t n = (k->rsa_sk.n_bitlen + 7) / 8;
        const unsigned char *oid;

        if (cap < n)
            return 0;
        switch (hash_len(hc)) {
        case 32: oid = BR_HASH_OID_SHA256; break;
        case 48: oid = BR_HASH_OID_SHA384; break;
        case 64: oid = BR_HASH_OID_SHA512; break;
        default: return 0;
        }
        if (!br_rsa_pkcs1_sign_get_default()(oid, hash, hash_len(hc), &k->rsa_sk, sig))
            return 0;
        return n;
    }
}

/* Signs and verifies a fixed message: catches an RSA key file whose parts do
 * not belong together before a CA sees a bad signature. */
static int self_test(const struct ck_key *k)
{
    static const char msg[] = "certkeep key self-test";
    unsigned char h[32], sig[512], out[64];
    size_t n;
    int ok;

    ck_sha256(msg, sizeof msg - 1, h);
    n = ck_key_sign_hash(k, &br_sha256_vtable, h, 1, sig, sizeof sig);
    if (n == 0)
        return -1;
    if (k->type == CK_KEY_P256 || k->type == CK_KEY_P384)
        ok = br_ecdsa_vrfy_raw_get_default()(br_ec_get_default(), h, 32, &k->ec_pk, sig, n) == 1;
    else
        ok = br_rsa_pkcs1_vrfy_get_default()(sig, n, BR_HASH_OID_SHA256, 32, &k->rsa_pk, out) == 1 &&
             memcmp(out, h, 32) == 0;
    return ok ? 0 : -1;
}

static int ec_pub(struct ck_key *k)
{
    return br_ec_compute_pub(br_ec_get_default(), &k->ec_pk, k->ec_pub, &k->ec_sk) ? 0 : -1;
}

/* n = p*q, big-endian, into out (cap bytes); returns the length without
 * leading zeros, 0 when it does not fit. BearSSL 0.6's compute_modulus has a
 * scratch buffer too small for RSA-4096, hence this schoolbook product. */
static size_t mul_be(const unsigned char *a, size_t an, const unsigned char *b, size_t bn,
                     unsigned char *out, size_t cap)
{
    uint32_t acc[1024] = {0}; /* little-endian bytes of the product, with carries */
    size_t i, j, len = an + bn, skip = 0;

    if (an == 0 || bn == 0 || len > sizeof acc / sizeof acc[0])
        return 0;
    for (i = 0; i < an; i++) {
        uint32_t carry = 0, x = a[an - 1 - i];
        for (j = 0; j < bn; j++) {
            uint32_t t = acc[i + j] + x * b[bn - 1 - j] + carry;
            acc[i + j] = t & 0xff;
            carry = t >> 8;
        }
        for (j = i + bn; carry; j++) {
            uint32_t t = acc[j] + carry;
            acc[j] = t & 0xff;
            carry = t >> 8;
        }
    }
    while (skip < len && acc[len - 1 - skip] == 0)
        skip++;
    if (len - skip > cap || skip == len)
        return 0;
    for (i = 0; i < len - skip; i++)
        out[i] = (unsigned char)acc[len - 1 - skip - i];
    return len - skip;
}

/* Fills rsa_pk (n, e) and d from the private parts already in k->rsa_sk. */
static int rsa_derive(struct ck_key *k, uint32_t pubexp)
{
    size_t nlen = mul_be(k->rsa_sk.p, k->rsa_sk.plen, k->rsa_sk.q, k->rsa_sk.qlen, k->rsa_pub, 512);
    unsigned char *ep;
    size_t elen = 0;
    int i;

    if (nlen == 0 || pubexp < 3 || !(pubexp & 1) || (k->rsa_sk.n_bitlen + 7) / 8 != nlen)
        return -1;
    ep = k->rsa_pub + nlen;
    for (i = 24; i >= 0; i -= 8)
        if ((pubexp >> i) || elen)
            ep[elen++] = (unsigned char)(pubexp >> i);
    k->rsa_pk.n = k->rsa_pub;
    k->rsa_pk.nlen = nlen;
    k->rsa_pk.e = ep;
    k->rsa_pk.elen = elen;
    k->d_len = br_rsa_compute_privexp_get_default()(k->d, &k->rsa_sk, pubexp);
    return k->d_len == 0 || k->d_len > sizeof k->d ? -1 : 0;
}

static enum ck_key_type rsa_type(uint32_t bits)
{
    switch (bits) {
    case 2048: return CK_KEY_RSA2048;
    case 3072: return CK_KEY_RSA3072;
    case 4096: return CK_KEY_RSA4096;
    default: return CK_KEY_NONE;
    }
}

int ck_key_generate(enum ck_key_type t, struct ck_key **out, struct ck_err *e)
{
    br_hmac_drbg_context rng;
    struct ck_key *k;
    unsigned bits = 0;
    int curve = 0, ok;

    switch (t) {
    case CK_KEY_RSA2048: bits = 2048; break;
    case CK_KEY_RSA3072: bits = 3072; break;
    case CK_KEY_RSA4096: bits = 4096; break;
    case CK_KEY_P256: curve = BR_EC_secp256r1; break;
    case CK_KEY_P384: curve = BR_EC_secp384r1; break;
    default: return ck_failk(e, CK_E_USAGE, "key generation: unknown key type %d", (int)t);
    }
    k = calloc(1, sizeof *k);
    if (!k)
        return ck_fail(e, "key generation: out of memory");
    if (ck_rng_init(&rng, e) < 0) {
        free(k);
        return -1;
    }
    k->type = t;
    if (bits) {
        ok = ck_rsa_keygen(&rng.vtable, &k->rsa_sk, k->rsa_priv, &k->rsa_pk, k->rsa_pub, bits,
                           65537) == 1;
        ok = ok && rsa_derive(k, 65537) == 0;
    } else {
        ok = br_ec_keygen(&rng.vtable, br_ec_get_default(), &k->ec_sk, k->ec_priv, curve) != 0;
        ok = ok && ec_pub(k) == 0;
    }
    ck_wipe(&rng, sizeof rng);
    if (!ok) {
        ck_key_free(k);
        return ck_fail(e, "key generation %s failed", ck_key_type_name(t));
    }
    *out = k;
    return 0;
}

/* Copies one CRT element into the key's own buffer. */
static unsigned char *take(struct ck_key *k, size_t *used, const unsigned char *src, size_t n)
{
    unsigned char *dst;

    if (sizeof k->rsa_priv - *used < n)
        return NULL;
    dst = k->rsa_priv + *used;
    memcpy(dst, src, n);
    *used += n;
    return dst;
}

/* The public exponent of an RSAPrivateKey, bare (PKCS#1) or inside PKCS#8:
 * BearSSL's decoder skips it, and recomputing it from p and dp only works for
 * p = 3 mod 4 (BearSSL's own keys, not OpenSSL's). 0 when absent or > 32 bits. */
static uint32_t rsa_pubexp_from_der(const unsigned char *der, size_t len)
{
    struct ck_dr in = {der, len}, seq, v, oct;
    unsigned char tag;
    uint32_t e = 0;

    if (ck_dr_expect(&in, 0x30, &seq, NULL) < 0 || ck_dr_expect(&seq, 0x02, &v, NULL) < 0 ||
        ck_dr_next(&seq, &tag, &v, NULL) < 0)
        return 0;
    if (tag == 0x30) { /* PKCS#8 privateKeyAlgorithm, then the OCTET STRING */
        if (ck_dr_expect(&seq, 0x04, &oct, NULL) < 0 || ck_dr_expect(&oct, 0x30, &seq, NULL) < 0 ||
            ck_dr_expect(&seq, 0x02, &v, NULL) < 0 || ck_dr_expect(&seq, 0x02, &v, NULL) < 0)
            return 0;
    } else if (tag != 0x02) {
        return 0;
    }
    /* v is the modulus; the exponent follows */
    if (ck_dr_expect(&seq, 0x02, &v, NULL) < 0)
        return 0;
    while (v.n > 0 && v.p[0] == 0) {
        v.p++;
        v.n--;
    }
    if (v.n == 0 || v.n > 4)
        return 0;
    while (v.n--)
        e = (e << 8) | *v.p++;
    return e;
}

static int key_from_rsa(struct ck_key *k, const br_rsa_private_key *sk, uint32_t pubexp)
{
    size_t used = 0;

    k->type = rsa_type(sk->n_bitlen);
    if (k->type == CK_KEY_NONE)
        return -1;
    k->rsa_sk.n_bitlen = sk->n_bitlen;
    k->rsa_sk.plen = sk->plen;
    k->rsa_sk.qlen = sk->qlen;
    k->rsa_sk.dplen = sk->dplen;
    k->rsa_sk.dqlen = sk->dqlen;
    k->rsa_sk.iqlen = sk->iqlen;
    if (!(k->rsa_sk.p = take(k, &used, sk->p, sk->plen)) ||
        !(k->rsa_sk.q = take(k, &used, sk->q, sk->qlen)) ||
        !(k->rsa_sk.dp = take(k, &used, sk->dp, sk->dplen)) ||
        !(k->rsa_sk.dq = take(k, &used, sk->dq, sk->dqlen)) ||
        !(k->rsa_sk.iq = take(k, &used, sk->iq, sk->iqlen)))
        return -1;
    if (rsa_derive(k, pubexp) < 0)
        return -1;
    return 0;
}

static int key_from_ec(struct ck_key *k, const br_ec_private_key *sk)
{
    size_t i, size;

    if (sk->curve == BR_EC_secp256r1) {
        k->type = CK_KEY_P256;
        size = 32;
    } else if (sk->curve == BR_EC_secp384r1) {
        k->type = CK_KEY_P384;
        size = 48;
    } else {
        return -1;
    }
    if (sk->xlen == 0 || sk->xlen > size)
        return -1;
    for (i = 0; i < sk->xlen && sk->x[i] == 0; i++)
        ;
    if (i == sk->xlen)
        return -1;
    memcpy(k->ec_priv, sk->x, sk->xlen);
    k->ec_sk.curve = sk->curve;
    k->ec_sk.x = k->ec_priv;
    k->ec_sk.xlen = sk->xlen;
    return ec_pub(k);
}

struct key_ctx {
    const char *what;
    struct ck_key *k;
};

static int key_cb(void *vctx, const char *name, const unsigned char *der, size_t len,
                  struct ck_err *e)
{
    struct key_ctx *c = vctx;
    br_skey_decoder_context dc;
    int rc = -1;

    if (strcmp(name, "PRIVATE KEY") != 0 && strcmp(name, "RSA PRIVATE KEY") != 0 &&
        strcmp(name, "EC PRIVATE KEY") != 0) {
        if (strstr(name, "PRIVATE KEY"))
            return ck_fail(e, "%s: unsupported key block %s (want an unencrypted PKCS#8, RSA or EC key)",
                           c->what, name);
        return 0; /* certificates, EC PARAMETERS: not ours to read */
    }
    c->k = calloc(1, sizeof *c->k);
    if (!c->k)
        return ck_fail(e, "%s: out of memory", c->what);
    br_skey_decoder_init(&dc);
    br_skey_decoder_push(&dc, der, len);
    switch (br_skey_decoder_key_type(&dc)) {
    case BR_KEYTYPE_RSA:
        if (key_from_rsa(c->k, br_skey_decoder_get_rsa(&dc), rsa_pubexp_from_der(der, len)) < 0) {
            ck_fail(e, "%s: unsupported or inconsistent RSA key (want 2048, 3072 or 4096 bits, e < 2^32)",
                    c->what);
            goto out;
        }
        break;
    case BR_KEYTYPE_EC:
        if (key_from_ec(c->k, br_skey_decoder_get_ec(&dc)) < 0) {
            ck_fail(e, "%s: unsupported or invalid EC key (want P-256 or P-384)", c->what);
            goto out;
        }
        break;
    default:
        ck_fail(e, "%s: %s block is not a valid RSA or EC private key (error %d)", c->what, name,
                br_skey_decoder_last_error(&dc));
        goto out;
    }
    /* An EC key is one scalar and its public point is computed from it: nothing can
     * disagree. An RSA key's CRT parts can, and only a signature shows it. */
    if ((c->k->type != CK_KEY_P256 && c->k->type != CK_KEY_P384) && self_test(c->k) < 0) {
        ck_fail(e, "%s: private key fails its signature self-test (corrupt key)", c->what);
        goto out;
    }
    rc = 1;
out:
    ck_wipe(&dc, sizeof dc);
    if (rc < 0) {
        ck_key_free(c->k);
        c->k = NULL;
    }
    return rc;
}

int ck_key_from_pem(const char *pem, size_t len, const char *what, struct ck_key **out,
                    struct ck_err *e)
{
    struct key_ctx c = {what, NULL};

    if (ck_pem_each(pem, len, what, CK_KEY_MAX_DER, key_cb, &c, e) < 0) {
        ck_key_free(c.k);
        return -1;
    }
    if (!c.k)
        return ck_fail(e, "%s: no private key found", what);
    *out = c.k;
    return 0;
}

int ck_key_to_pem(const struct ck_key *k, char **pem, size_t *len, struct ck_err *e)
{
    unsigned char *der;
    size_t dlen, plen;
    char *p;

    if (k->remote)
        return ck_fail(e, "%s key: held by the signer process, not here", ck_key_type_name(k->type));
    if (k->type == CK_KEY_P256 || k->type == CK_KEY_P384)
        dlen = br_encode_ec_pkcs8_der(NULL, &k->ec_sk, &k->ec_pk);
    else
        dlen = br_encode_rsa_pkcs8_der(NULL, &k->rsa_sk, &k->rsa_pk, k->d, k->d_len);
    if (dlen == 0)
        return ck_fail(e, "%s key: cannot encode as PKCS#8", ck_key_type_name(k->type));
    der = malloc(dlen);
    if (!der)
        return ck_fail(e, "key encoding: out of memory");
    if (k->type == CK_KEY_P256 || k->type == CK_KEY_P384)
        br_encode_ec_pkcs8_der(der, &k->ec_sk, &k->ec_pk);
    else
        br_encode_rsa_pkcs8_der(der, &k->rsa_sk, &k->rsa_pk, k->d, k->d_len);
    plen = br_pem_encode(NULL, der, dlen, BR_ENCODE_PEM_PKCS8, BR_PEM_LINE64);
    p = malloc(plen + 1);
    if (!p) {
        ck_secret_free(der, dlen);
        return ck_fail(e, "key encoding: out of memory");
    }
    br_pem_encode(p, der, dlen, BR_ENCODE_PEM_PKCS8, BR_PEM_LINE64);
    ck_secret_free(der, dlen);
    *pem = p;
    *len = plen;
    return 0;
}

int ck_key_same(const struct ck_key *a, const struct ck_key *b)
{
    if (!a || !b || a->type != b->type)
        return 0;
    if (a->type == CK_KEY_P256 || a->type == CK_KEY_P384)
        return a->ec_pk.qlen == b->ec_pk.qlen && memcmp(a->ec_pk.q, b->ec_pk.q, a->ec_pk.qlen) == 0;
    return a->rsa_pk.nlen == b->rsa_pk.nlen && a->rsa_pk.elen == b->rsa_pk.elen &&
           memcmp(a->rsa_pk.n, b->rsa_pk.n, a->rsa_pk.nlen) == 0 &&
           memcmp(a->rsa_pk.e, b->rsa_pk.e, a->rsa_pk.elen) == 0;
}
