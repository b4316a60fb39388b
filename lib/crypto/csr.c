/* PKCS#10 certificate signing request (RFC 2986), written by hand: BearSSL has none. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

#define CK_CSR_MAX_NAMES 1000
#define CK_CN_MAX 64 /* ub-common-name: longer first names go in the SAN only */

static const unsigned char OID_CN[] = {0x55, 0x04, 0x03};
static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char OID_RSA_SHA256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
static const unsigned char OID_EC_PUB[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char OID_ECDSA_SHA256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char OID_ECDSA_SHA384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const unsigned char OID_EXT_REQ[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11};

static int is_ec(const struct ck_key *k)
{
    return k->type == CK_KEY_P256 || k->type == CK_KEY_P384;
}

/* Names go into IA5String: printable ASCII, no space, bounded. */
int ck_ip_bytes(const char *s, unsigned char out[16])
{
    if (inet_pton(AF_INET, s, out) == 1)
        return 4;
    return inet_pton(AF_INET6, s, out) == 1 ? 16 : 0;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > 253)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return 0;
    return 1;
}

void ck_dw_spki(struct ck_dw *w, const struct ck_key *k)
{
    struct ck_dw alg = {0}, key = {0}, bits = {0};
    unsigned char zero = 0;

    if (is_ec(k)) {
        ck_dw_tlv(&alg, 0x06, OID_EC_PUB, sizeof OID_EC_PUB);
        if (k->type == CK_KEY_P256)
            ck_dw_tlv(&alg, 0x06, OID_P256, sizeof OID_P256);
        else
            ck_dw_tlv(&alg, 0x06, OID_P384, sizeof OID_P384);
        ck_dw_put(&bits, &zero, 1);
        ck_dw_put(&bits, k->ec_pk.q, k->ec_pk.qlen);
    } else {
        ck_dw_tlv(&alg, 0x06, OID_RSA, sizeof OID_RSA);
        ck_dw_tlv(&alg, 0x05, NULL, 0);
        ck_dw_uint(&key, k->rsa_pk.n, k->rsa_pk.nlen);
        ck_dw_uint(&key, k->rsa_pk.e, k->rsa_pk.elen);
        ck_dw_put(&bits, &zero, 1);
        ck_dw_wrap(&bits, 0x30, &key);
    }
    {
        struct ck_dw spki = {0};
        ck_dw_wrap(&spki, 0x30, &alg);
        ck_dw_wrap(&spki, 0x03, &bits);
        ck_dw_wrap(w, 0x30, &spki);
    }
}

void ck_dw_sig_alg(struct ck_dw *w, const struct ck_key *k)
{
    struct ck_dw alg = {0};

    if (k->type == CK_KEY_P256) {
        ck_dw_tlv(&alg, 0x06, OID_ECDSA_SHA256, sizeof OID_ECDSA_SHA256);
    } else if (k->type == CK_KEY_P384) {
        ck_dw_tlv(&alg, 0x06, OID_ECDSA_SHA384, sizeof OID_ECDSA_SHA384);
    } else {
        ck_dw_tlv(&alg, 0x06, OID_RSA_SHA256, sizeof OID_RSA_SHA256);
        ck_dw_tlv(&alg, 0x05, NULL, 0);
    }
    ck_dw_wrap(w, 0x30, &alg);
}

void ck_dw_name(struct ck_dw *w, const char *cn)
{
    struct ck_dw atv = {0}, rdn = {0}, name = {0};

    if (*cn && strlen(cn) <= CK_CN_MAX) {
        ck_dw_tlv(&atv, 0x06, OID_CN, sizeof OID_CN);
        ck_dw_tlv(&atv, 0x0c, cn, strlen(cn));
        ck_dw_wrap(&rdn, 0x30, &atv);
        ck_dw_wrap(&name, 0x31, &rdn);
    }
    ck_dw_wrap(w, 0x30, &name);
}

/* [0] { SEQUENCE { extensionRequest, SET { SEQUENCE { SEQUENCE { SAN, OCTET STRING {...} } } } } } */
static void put_attributes(struct ck_dw *w, const char *const *names, size_t n)
{
    struct ck_dw gn = {0}, san = {0}, ext = {0}, exts = {0}, set = {0}, attr = {0}, attrs = {0};
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ip[16];
        int iplen = ck_ip_bytes(names[i], ip);
        if (iplen)
            ck_dw_tlv(&gn, 0x87, ip, (size_t)iplen);  /* iPAddress */
        else
            ck_dw_tlv(&gn, 0x82, names[i], strlen(names[i]));
    }
    ck_dw_wrap(&san, 0x30, &gn);
    ck_dw_tlv(&ext, 0x06, OID_SAN, sizeof OID_SAN);
    ck_dw_wrap(&ext, 0x04, &san);
    ck_dw_wrap(&exts, 0x30, &ext);
    ck_dw_wrap(&set, 0x30, &exts);
    ck_dw_tlv(&attr, 0x06, OID_EXT_REQ, sizeof OID_EXT_REQ);
    ck_dw_wrap(&attr, 0x31, &set);
    ck_dw_wrap(&attrs, 0x30, &attr);
    ck_dw_wrap(w, 0xa0, &attrs);
}

int ck_csr_der(const struct ck_key *k, const char *const *names, size_t n_names,
               unsigned char **der, size_t *der_len, struct ck_err *e)
{
    const br_hash_class *hc = k && k->type == CK_KEY_P384 ? &br_sha384_vtable : &br_sha256_vtable;
    br_hash_compat_context hctx;
    struct ck_dw info = {0}, body = {0}, bits = {0}, csr = {0};
    unsigned char hash[64], sig[600], zero = 0, ver = 0;
    size_t i, slen;

    if (!k || k->type == CK_KEY_NONE)
        return ck_fail(e, "CSR: no key");
    if (n_names == 0 || n_names > CK_CSR_MAX_NAMES)
        return ck_fail(e, "CSR: %zu names (want 1 to %d)", n_names, CK_CSR_MAX_NAMES);
    for (i = 0; i < n_names; i++)
        if (!names[i] || !name_ok(names[i]))
            return ck_fail(e, "CSR: name %zu \"%.64s\" is not a valid DNS name", i + 1,
                           names[i] ? names[i] : "");
    ck_dw_tlv(&info, 0x02, &ver, 1);
    /* the first DNS name as CN; an IP address goes in the SAN only, as CAs want */
    const char *cn = "";
    unsigned char ipb[16];
    for (i = 0; i < n_names && !*cn; i++)
        if (!ck_ip_bytes(names[i], ipb))
            cn = names[i];
    ck_dw_name(&info, cn);
    ck_dw_spki(&info, k);
    put_attributes(&info, names, n_names);
    ck_dw_wrap(&body, 0x30, &info);
    if (body.oom)
        goto oom;
    hc->init(&hctx.vtable);
    hc->update(&hctx.vtable, body.p, body.len);
    hc->out(&hctx.vtable, hash);
    slen = ck_key_sign_hash(k, hc, hash, 0, sig, sizeof sig);
    if (slen == 0) {
        ck_dw_free(&body);
        return ck_fail(e, "CSR: %s signature failed", ck_key_type_name(k->type));
    }
    ck_dw_sig_alg(&body, k);
    ck_dw_put(&bits, &zero, 1);
    ck_dw_put(&bits, sig, slen);
    ck_dw_wrap(&body, 0x03, &bits);
    ck_dw_wrap(&csr, 0x30, &body);
    if (csr.oom)
        goto oom;
    *der = csr.p;
    *der_len = csr.len;
    return 0;
oom:
    ck_dw_free(&body);
    ck_dw_free(&csr);
    return ck_fail(e, "CSR: out of memory");
}
