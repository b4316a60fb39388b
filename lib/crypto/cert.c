/* X.509 reading for what BearSSL does not expose, signature checks, ARI ids.
 * All input is untrusted: every read is bounded by ck_dr, nothing recurses. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

#define CK_MAX_SANS 1000

static const unsigned char OID_CN[] = {0x55, 0x04, 0x03};
static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char OID_EC_PUB[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11};
static const unsigned char OID_AKI[] = {0x55, 0x1d, 0x23};
static const unsigned char OID_AIA[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01};
static const unsigned char OID_OCSP[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01};
static const unsigned char OID_EKU[] = {0x55, 0x1d, 0x25};
static const unsigned char OID_KP_OCSP_SIGNING[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09};
static const unsigned char OID_RSA_SHA256[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b};
static const unsigned char OID_RSA_SHA384[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c};
static const unsigned char OID_RSA_SHA512[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d};
static const unsigned char OID_ECDSA_SHA256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const unsigned char OID_ECDSA_SHA384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};

#define OID_IS(d, o) ck_dr_oid_is((d), (o), sizeof(o))

/* The pieces of a certificate we look at, as slices of the input. */
struct cert_parts {
    struct ck_dr tbs_full; /* the signed bytes */
    struct ck_dr serial, issuer_full, subject_full, spki, extensions;
    struct ck_dr not_before, not_after;
    unsigned char nb_tag, na_tag;
    struct ck_dr sig_alg_oid, sig_bits;
};

static int split_cert(const unsigned char *der, size_t len, struct cert_parts *c)
{
    struct ck_dr in = {der, len}, cert, tbs, v, alg;
    unsigned char tag;

    memset(c, 0, sizeof *c);
    if (ck_dr_expect(&in, 0x30, &cert, NULL) < 0 || in.n != 0)
        return -1;
    if (ck_dr_expect(&cert, 0x30, &tbs, &c->tbs_full) < 0)
        return -1;
    if (ck_dr_expect(&cert, 0x30, &alg, NULL) < 0 || ck_dr_expect(&alg, 0x06, &c->sig_alg_oid, NULL) < 0)
        return -1;
    if (ck_dr_expect(&cert, 0x03, &c->sig_bits, NULL) < 0 || cert.n != 0)
        return -1;
    if (c->sig_bits.n < 1 || c->sig_bits.p[0] != 0)
        return -1;
    c->sig_bits.p++;
    c->sig_bits.n--;

    if (tbs.n > 0 && tbs.p[0] == 0xa0 && ck_dr_next(&tbs, &tag, &v, NULL) < 0)
        return -1;
    if (ck_dr_expect(&tbs, 0x02, &c->serial, NULL) < 0)
        return -1;
    if (ck_dr_expect(&tbs, 0x30, &v, NULL) < 0) /* signature AlgorithmIdentifier */
        return -1;
    if (ck_dr_expect(&tbs, 0x30, &v, &c->issuer_full) < 0)
        return -1;
    if (ck_dr_expect(&tbs, 0x30, &v, NULL) < 0 || ck_dr_next(&v, &c->nb_tag, &c->not_before, NULL) < 0 ||
        ck_dr_next(&v, &c->na_tag, &c->not_after, NULL) < 0 || v.n != 0)
        return -1;
    if (ck_dr_expect(&tbs, 0x30, &v, &c->subject_full) < 0)
        return -1;
    if (ck_dr_expect(&tbs, 0x30, &c->spki, NULL) < 0)
        return -1;
    while (tbs.n > 0) {
        if (ck_dr_next(&tbs, &tag, &v, NULL) < 0)
            return -1;
        if (tag == 0xa3 && ck_dr_expect(&v, 0x30, &c->extensions, NULL) < 0)
            return -1;
    }
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const unsigned char *p, size_t n, unsigned *out)
{
    unsigned v = 0;

    while (n--) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned)(*p++ - '0');
    }
    *out = v;
    return 0;
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 4.1.2.5). */
int ck_dr_time(unsigned char tag, const struct ck_dr *t, int64_t *out)
{
    static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, s;
    size_t yl;

    if (tag == 0x17 && t->n == 13)
        yl = 2;
    else if (tag == 0x18 && t->n == 15)
        yl = 4;
    else
        return -1;
    if (t->p[t->n - 1] != 'Z' || digits(t->p, yl, &y) < 0 || digits(t->p + yl, 2, &mo) < 0 ||
        digits(t->p + yl + 2, 2, &d) < 0 || digits(t->p + yl + 4, 2, &h) < 0 ||
        digits(t->p + yl + 6, 2, &mi) < 0 || digits(t->p + yl + 8, 2, &s) < 0)
        return -1;
    if (yl == 2)
        y += y < 50 ? 2000 : 1900;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return -1;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return -1;
    *out = days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + s;
    return 0;
}

/* Copies a directory string for display: control bytes become '?'. */
static void copy_text(char *dst, size_t cap, const struct ck_dr *v)
{
    size_t i, n = v->n < cap - 1 ? v->n : cap - 1;

    for (i = 0; i < n; i++)
        dst[i] = (v->p[i] < 0x20 || v->p[i] == 0x7f) ? '?' : (char)v->p[i];
    dst[n] = '\0';
}

/* First CN of a Name (SEQUENCE OF SET OF SEQUENCE { OID, value }). */
static int name_cn(struct ck_dr name, char *out, size_t cap)
{
    out[0] = '\0';
    while (name.n > 0) {
        struct ck_dr rdn, atv, oid, val;
        unsigned char tag;
        if (ck_dr_expect(&name, 0x31, &rdn, NULL) < 0)
            return -1;
        while (rdn.n > 0) {
            if (ck_dr_expect(&rdn, 0x30, &atv, NULL) < 0 || ck_dr_expect(&atv, 0x06, &oid, NULL) < 0 ||
                ck_dr_next(&atv, &tag, &val, NULL) < 0)
                return -1;
            /* UTF8String, PrintableString, TeletexString, IA5String */
            if (!out[0] && OID_IS(&oid, OID_CN) &&
                (tag == 0x0c || tag == 0x13 || tag == 0x14 || tag == 0x16))
                copy_text(out, cap, &val);
        }
    }
    return 0;
}

static enum ck_key_type spki_type(struct ck_dr spki)
{
    struct ck_dr alg, oid, param, bits, key, n;
    unsigned char tag;
    size_t bitlen;

    if (ck_dr_expect(&spki, 0x30, &alg, NULL) < 0 || ck_dr_expect(&alg, 0x06, &oid, NULL) < 0)
        return CK_KEY_NONE;
    if (OID_IS(&oid, OID_EC_PUB)) {
        if (ck_dr_next(&alg, &tag, &param, NULL) < 0 || tag != 0x06)
            return CK_KEY_NONE;
        if (OID_IS(&param, OID_P256))
            return CK_KEY_P256;
        if (OID_IS(&param, OID_P384))
            return CK_KEY_P384;
        return CK_KEY_NONE;
    }
    if (!OID_IS(&oid, OID_RSA))
        return CK_KEY_NONE;
    if (ck_dr_expect(&spki, 0x03, &bits, NULL) < 0 || bits.n < 1 || bits.p[0] != 0)
        return CK_KEY_NONE;
    bits.p++;
    bits.n--;
    if (ck_dr_expect(&bits, 0x30, &key, NULL) < 0 || ck_dr_expect(&key, 0x02, &n, NULL) < 0)
        return CK_KEY_NONE;
    while (n.n > 0 && n.p[0] == 0) {
        n.p++;
        n.n--;
    }
    if (n.n == 0)
        return CK_KEY_NONE;
    bitlen = n.n * 8;
    for (tag = n.p[0]; !(tag & 0x80); tag <<= 1)
        bitlen--;
    switch (bitlen) {
    case 2048: return CK_KEY_RSA2048;
    case 3072: return CK_KEY_RSA3072;
    case 4096: return CK_KEY_RSA4096;
    default: return CK_KEY_NONE;
    }
}

static int dns_ok(const struct ck_dr *v)
{
    size_t i;

    if (v->n == 0 || v->n > 253)
        return 0;
    for (i = 0; i < v->n; i++)
        if (v->p[i] <= 0x20 || v->p[i] >= 0x7f)
            return 0;
    return 1;
}

static int parse_san(struct ck_dr seq, struct ck_cert_info *ci)
{
    struct ck_dr gns, v;
    unsigned char tag;

    if (ck_dr_expect(&seq, 0x30, &gns, NULL) < 0 || seq.n != 0)
        return -1;
    while (gns.n > 0) {
        char **names, ip[48];
        if (ck_dr_next(&gns, &tag, &v, NULL) < 0)
            return -1;
        if (tag == 0x87) { /* iPAddress: kept as its text, as the configuration names it */
            if ((v.n != 4 && v.n != 16) ||
                !inet_ntop(v.n == 4 ? AF_INET : AF_INET6, v.p, ip, sizeof ip))
                return -1;
            v.p = (const unsigned char *)ip;
            v.n = strlen(ip);
        } else if (tag != 0x82) { /* dNSName; emails, URIs: not ours */
            continue;
        }
        if (!dns_ok(&v) || ci->n_dns_names >= CK_MAX_SANS)
            return -1;
        names = realloc(ci->dns_names, (ci->n_dns_names + 1) * sizeof *names);
        if (!names)
            return -1;
        ci->dns_names = names;
        names[ci->n_dns_names] = malloc(v.n + 1);
        if (!names[ci->n_dns_names])
            return -1;
        memcpy(names[ci->n_dns_names], v.p, v.n);
        names[ci->n_dns_names][v.n] = '\0';
        ci->n_dns_names++;
    }
    return 0;
}

static int parse_aki(struct ck_dr seq, struct ck_cert_info *ci)
{
    struct ck_dr aki, v;
    unsigned char tag;

    if (ck_dr_expect(&seq, 0x30, &aki, NULL) < 0)
        return -1;
    while (aki.n > 0) {
        if (ck_dr_next(&aki, &tag, &v, NULL) < 0)
            return -1;
        if (tag == 0x80) {
            if (v.n == 0 || v.n > sizeof ci->aki)
                return -1;
            memcpy(ci->aki, v.p, v.n);
            ci->aki_len = v.n;
        }
    }
    return 0;
}

static int parse_aia(struct ck_dr seq, struct ck_cert_info *ci)
{
    struct ck_dr ads, ad, oid, loc;
    unsigned char tag;

    if (ck_dr_expect(&seq, 0x30, &ads, NULL) < 0)
        return -1;
    while (ads.n > 0) {
        if (ck_dr_expect(&ads, 0x30, &ad, NULL) < 0 || ck_dr_expect(&ad, 0x06, &oid, NULL) < 0 ||
            ck_dr_next(&ad, &tag, &loc, NULL) < 0)
            return -1;
        /* uniformResourceIdentifier; a URL we cannot hold whole is ignored */
        if (OID_IS(&oid, OID_OCSP) && tag == 0x86 && !ci->ocsp_url[0] && dns_ok(&loc) &&
            loc.n < sizeof ci->ocsp_url) {
            memcpy(ci->ocsp_url, loc.p, loc.n);
            ci->ocsp_url[loc.n] = '\0';
        }
    }
    return 0;
}

static int parse_eku(struct ck_dr seq, struct ck_cert_info *ci)
{
    struct ck_dr kps, oid;

    if (ck_dr_expect(&seq, 0x30, &kps, NULL) < 0)
        return -1;
    while (kps.n > 0) {
        if (ck_dr_expect(&kps, 0x06, &oid, NULL) < 0)
            return -1;
        if (OID_IS(&oid, OID_KP_OCSP_SIGNING))
            ci->ocsp_signing = 1;
    }
    return 0;
}

static int parse_extensions(struct ck_dr exts, struct ck_cert_info *ci)
{
    while (exts.n > 0) {
        struct ck_dr ext, oid, val;
        unsigned char tag;
        if (ck_dr_expect(&exts, 0x30, &ext, NULL) < 0 || ck_dr_expect(&ext, 0x06, &oid, NULL) < 0)
            return -1;
        if (ck_dr_next(&ext, &tag, &val, NULL) < 0)
            return -1;
        if (tag == 0x01 && ck_dr_next(&ext, &tag, &val, NULL) < 0) /* critical flag */
            return -1;
        if (tag != 0x04)
            return -1;
        if (OID_IS(&oid, OID_SAN) && parse_san(val, ci) < 0)
            return -1;
        if (OID_IS(&oid, OID_AKI) && parse_aki(val, ci) < 0)
            return -1;
        if (OID_IS(&oid, OID_AIA) && parse_aia(val, ci) < 0)
            return -1;
        if (OID_IS(&oid, OID_EKU) && parse_eku(val, ci) < 0)
            return -1;
    }
    return 0;
}

int ck_cert_parse(const unsigned char *der, size_t len, struct ck_cert_info *out,
                  struct ck_err *e)
{
    struct cert_parts c;
    struct ck_dr v, w;
    unsigned char tag;

    memset(out, 0, sizeof *out);
    if (!der || split_cert(der, len, &c) < 0)
        return ck_fail(e, "certificate: malformed DER");
    if (c.serial.n == 0 || c.serial.n > sizeof out->serial)
        return ck_fail(e, "certificate: serial number of %zu bytes", c.serial.n);
    memcpy(out->serial, c.serial.p, c.serial.n);
    out->serial_len = c.serial.n;
    if (ck_dr_time(c.nb_tag, &c.not_before, &out->not_before) < 0 ||
        ck_dr_time(c.na_tag, &c.not_after, &out->not_after) < 0)
        return ck_fail(e, "certificate: malformed validity time");
    w = c.issuer_full;
    if (ck_dr_next(&w, &tag, &v, NULL) < 0 || name_cn(v, out->issuer_cn, sizeof out->issuer_cn) < 0)
        return ck_fail(e, "certificate: malformed issuer name");
    w = c.subject_full;
    if (ck_dr_next(&w, &tag, &v, NULL) < 0 || name_cn(v, out->subject_cn, sizeof out->subject_cn) < 0)
        return ck_fail(e, "certificate: malformed subject name");
    out->self_issued = c.issuer_full.n == c.subject_full.n &&
                       memcmp(c.issuer_full.p, c.subject_full.p, c.issuer_full.n) == 0;
    out->key_type = spki_type(c.spki);
    if (parse_extensions(c.extensions, out) < 0) {
        ck_cert_info_free(out);
        return ck_fail(e, "certificate: malformed extensions");
    }
    return 0;
}

void ck_cert_info_free(struct ck_cert_info *ci)
{
    size_t i;

    if (!ci)
        return;
    for (i = 0; i < ci->n_dns_names; i++)
        free(ci->dns_names[i]);
    free(ci->dns_names);
    ci->dns_names = NULL;
    ci->n_dns_names = 0;
}

/* BearSSL's decoder for the public key; it is built for untrusted input. */
static int cert_pkey(const unsigned char *der, size_t len, br_x509_decoder_context *dc,
                     const br_x509_pkey **pk)
{
    br_x509_decoder_init(dc, NULL, NULL);
    br_x509_decoder_push(dc, der, len);
    *pk = br_x509_decoder_get_pkey(dc);
    return *pk ? 0 : -1;
}

static int same_uint(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    while (an > 0 && *a == 0) {
        a++;
        an--;
    }
    while (bn > 0 && *b == 0) {
        b++;
        bn--;
    }
    return an == bn && memcmp(a, b, an) == 0;
}

int ck_key_matches_cert(const struct ck_key *k, const unsigned char *der, size_t len,
                        struct ck_err *e)
{
    br_x509_decoder_context dc;
    const br_x509_pkey *pk;

    if (!k || !der || cert_pkey(der, len, &dc, &pk) < 0)
        return ck_fail(e, "certificate: cannot read its public key");
    if (pk->key_type == BR_KEYTYPE_EC)
        return (k->type == CK_KEY_P256 || k->type == CK_KEY_P384) &&
               pk->key.ec.curve == k->ec_sk.curve && pk->key.ec.qlen == k->ec_pk.qlen &&
               memcmp(pk->key.ec.q, k->ec_pk.q, k->ec_pk.qlen) == 0;
    if (pk->key_type == BR_KEYTYPE_RSA)
        return (k->type == CK_KEY_RSA2048 || k->type == CK_KEY_RSA3072 || k->type == CK_KEY_RSA4096) &&
               same_uint(pk->key.rsa.n, pk->key.rsa.nlen, k->rsa_pk.n, k->rsa_pk.nlen) &&
               same_uint(pk->key.rsa.e, pk->key.rsa.elen, k->rsa_pk.e, k->rsa_pk.elen);
    return 0;
}

int ck_sig_verify(const unsigned char *issuer, size_t issuer_len, const struct ck_dr *alg_oid,
                  const struct ck_dr *data, const struct ck_dr *sig, struct ck_err *e)
{
    br_x509_decoder_context dc;
    const br_x509_pkey *pk;
    const br_hash_class *hc;
    const unsigned char *hash_oid = NULL;
    br_hash_compat_context hctx;
    unsigned char hash[64], rec[64];
    size_t hlen;
    int is_rsa;

    if (!issuer || cert_pkey(issuer, issuer_len, &dc, &pk) < 0)
        return ck_fail(e, "issuer certificate: cannot read its public key");
    if (OID_IS(alg_oid, OID_RSA_SHA256)) {
        hc = &br_sha256_vtable, hash_oid = BR_HASH_OID_SHA256, is_rsa = 1;
    } else if (OID_IS(alg_oid, OID_RSA_SHA384)) {
        hc = &br_sha384_vtable, hash_oid = BR_HASH_OID_SHA384, is_rsa = 1;
    } else if (OID_IS(alg_oid, OID_RSA_SHA512)) {
        hc = &br_sha512_vtable, hash_oid = BR_HASH_OID_SHA512, is_rsa = 1;
    } else if (OID_IS(alg_oid, OID_ECDSA_SHA256)) {
        hc = &br_sha256_vtable, is_rsa = 0;
    } else if (OID_IS(alg_oid, OID_ECDSA_SHA384)) {
        hc = &br_sha384_vtable, is_rsa = 0;
    } else {
        return ck_fail(e, "unsupported signature algorithm");
    }
    hlen = (hc->desc >> BR_HASHDESC_OUT_OFF) & BR_HASHDESC_OUT_MASK;
    hc->init(&hctx.vtable);
    hc->update(&hctx.vtable, data->p, data->n);
    hc->out(&hctx.vtable, hash);
    if (is_rsa) {
        if (pk->key_type != BR_KEYTYPE_RSA)
            return 0;
        /* BearSSL verifies up to RSA-4096: a bigger issuer is "cannot tell", not "no" */
        if (pk->key.rsa.nlen > 513)
            return ck_fail(e, "issuer certificate: RSA key larger than 4096 bits");
        return br_rsa_pkcs1_vrfy_get_default()(sig->p, sig->n, hash_oid, hlen,
                                               &pk->key.rsa, rec) == 1 &&
               memcmp(rec, hash, hlen) == 0;
    }
    if (pk->key_type != BR_KEYTYPE_EC)
        return 0;
    return br_ecdsa_vrfy_asn1_get_default()(br_ec_get_default(), hash, hlen, &pk->key.ec,
                                            sig->p, sig->n) == 1;
}

int ck_cert_signed_by(const unsigned char *cert, size_t cert_len, const unsigned char *issuer,
                      size_t issuer_len, struct ck_err *e)
{
    struct cert_parts c;
    int rc;

    if (!cert || split_cert(cert, cert_len, &c) < 0)
        return ck_fail(e, "certificate: malformed DER");
    rc = ck_sig_verify(issuer, issuer_len, &c.sig_alg_oid, &c.tbs_full, &c.sig_bits, e);
    if (rc < 0 && strncmp(e->msg, "unsupported", 11) == 0)
        return ck_fail(e, "certificate: unsupported signature algorithm");
    return rc;
}

int ck_cert_issuer_ids(const unsigned char *der, size_t len, unsigned char name_sha1[20],
                       unsigned char key_sha1[20])
{
    struct cert_parts c;
    struct ck_dr spki, alg, bits;
    br_sha1_context h;

    if (!der || split_cert(der, len, &c) < 0)
        return -1;
    spki = c.spki;
    if (ck_dr_expect(&spki, 0x30, &alg, NULL) < 0 || ck_dr_expect(&spki, 0x03, &bits, NULL) < 0 ||
        bits.n < 1)
        return -1;
    br_sha1_init(&h);
    br_sha1_update(&h, c.subject_full.p, c.subject_full.n);
    br_sha1_out(&h, name_sha1);
    /* the key's BIT STRING value without its unused-bits byte (RFC 6960 4.1.1) */
    br_sha1_init(&h);
    br_sha1_update(&h, bits.p + 1, bits.n - 1);
    br_sha1_out(&h, key_sha1);
    return 0;
}

int ck_ari_cert_id(const struct ck_cert_info *ci, char *out, size_t cap, struct ck_err *e)
{
    size_t a, s;

    if (ci->aki_len == 0 || ci->serial_len == 0)
        return ck_fail(e, "ARI certificate id: certificate has no %s",
                       ci->aki_len == 0 ? "authority key identifier" : "serial");
    a = ck_b64url(ci->aki, ci->aki_len, out, cap);
    if (a == (size_t)-1 || cap - a < 2)
        return ck_fail(e, "ARI certificate id: buffer of %zu bytes too small", cap);
    out[a] = '.';
    s = ck_b64url(ci->serial, ci->serial_len, out + a + 1, cap - a - 1);
    if (s == (size_t)-1)
        return ck_fail(e, "ARI certificate id: buffer of %zu bytes too small", cap);
    return 0;
}

const br_hash_class *const ck_x509_hashes[5] = {
    &br_sha1_vtable, &br_sha224_vtable, &br_sha256_vtable, &br_sha384_vtable, &br_sha512_vtable,
};

/* Not init_full itself: its generic i31 curve code took 80% of init's volume path, and it
 * links a second RSA verifier. */
void ck_x509_init(br_x509_minimal_context *xc, const br_x509_trust_anchor *tas, size_t n_tas)
{
    br_x509_minimal_init(xc, &br_sha256_vtable, tas, n_tas);
    for (size_t i = 0; i < 5; i++)
        br_x509_minimal_set_hash(xc, (int)((ck_x509_hashes[i]->desc >> BR_HASHDESC_ID_OFF) &
                                           BR_HASHDESC_ID_MASK), ck_x509_hashes[i]);
    br_x509_minimal_set_rsa(xc, br_rsa_pkcs1_vrfy_get_default());
    br_x509_minimal_set_ecdsa(xc, br_ec_get_default(), br_ecdsa_vrfy_asn1_get_default());
}

/* BearSSL counts days from 0001-01-01 (proleptic Gregorian); 719528 of them to 1970. */
#define DAYS_TO_1970 719528

int ck_chain_trusted(const struct ck_der_list *chain, const br_x509_trust_anchor *tas, size_t n_tas,
                     int64_t at, struct ck_err *e)
{
    br_x509_minimal_context xc;
    if (chain->n == 0 || n_tas == 0) {
        ck_fail(e, chain->n ? "no trust anchor to check the chain against" : "the chain is empty");
        return 0;
    }
    ck_x509_init(&xc, tas, n_tas);
    if (at < 0)
        at = 0;
    br_x509_minimal_set_time(&xc, (uint32_t)(at / 86400 + DAYS_TO_1970), (uint32_t)(at % 86400));
    const br_x509_class **vt = &xc.vtable;
    (*vt)->start_chain(vt, NULL);  /* no server name: the names are checked by the caller */
    for (size_t i = 0; i < chain->n; i++) {
        (*vt)->start_cert(vt, (uint32_t)chain->items[i].len);
        (*vt)->append(vt, chain->items[i].data, chain->items[i].len);
        (*vt)->end_cert(vt);
    }
    unsigned err = (*vt)->end_chain(vt);
    const char *why;
    switch (err) {
    case 0: return 1;  /* end_chain turns BR_ERR_X509_OK into 0 */
    case BR_ERR_X509_NOT_TRUSTED: why = "does not lead to a trust anchor"; break;
    case BR_ERR_X509_BAD_SIGNATURE: why = "has a bad signature"; break;
    case BR_ERR_X509_DN_MISMATCH: why = "is out of order (an issuer name does not match)"; break;
    case BR_ERR_X509_EXPIRED: why = "holds a certificate outside its validity"; break;
    case BR_ERR_X509_NOT_CA: why = "holds an issuer that is not a CA"; break;
    case BR_ERR_X509_CRITICAL_EXTENSION: why = "holds an unsupported critical extension"; break;
    case BR_ERR_X509_WEAK_PUBLIC_KEY: why = "holds a weak public key"; break;
    case BR_ERR_X509_UNSUPPORTED: case BR_ERR_X509_WRONG_KEY_TYPE:
        why = "uses an unsupported algorithm"; break;
    default: why = "cannot be decoded"; break;
    }
    ck_fail(e, "the chain %s (BearSSL error %u)", why, err);
    return 0;
}
