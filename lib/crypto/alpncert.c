/* The tls-alpn-01 certificate (RFC 8737 section 3), written by hand like the CSR. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto_int.h"

static const unsigned char OID_SAN[] = {0x55, 0x1d, 0x11};
/* id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31 */
static const unsigned char OID_ACME_ID[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f};

static void put_time(struct ck_dw *w, time_t t)
{
    struct tm tm;
    char s[80];
    gmtime_r(&t, &tm);
    snprintf(s, sizeof s, "%02d%02d%02d%02d%02d%02dZ", tm.tm_year % 100, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    ck_dw_tlv(w, 0x17, s, 13);
}

static void put_extensions(struct ck_dw *w, const char *name, const unsigned char digest[32])
{
    static const unsigned char critical[] = {0x01, 0x01, 0xff};
    struct ck_dw gn = {0}, san = {0}, id = {0}, acme = {0}, exts = {0};
    ck_dw_tlv(&gn, 0x82, name, strlen(name));
    ck_dw_wrap(&san, 0x30, &gn);
    ck_dw_tlv(&id, 0x06, OID_SAN, sizeof OID_SAN);
    ck_dw_wrap(&id, 0x04, &san);
    ck_dw_wrap(&exts, 0x30, &id);
    ck_dw_tlv(&acme, 0x06, OID_ACME_ID, sizeof OID_ACME_ID);
    ck_dw_put(&acme, critical, sizeof critical);
    {
        struct ck_dw inner = {0};
        ck_dw_tlv(&inner, 0x04, digest, 32);
        ck_dw_wrap(&acme, 0x04, &inner);
    }
    ck_dw_wrap(&exts, 0x30, &acme);
    {
        struct ck_dw seq = {0};
        ck_dw_wrap(&seq, 0x30, &exts);
        ck_dw_wrap(w, 0xa3, &seq);
    }
}

int ck_tlsalpn_cert_der(const struct ck_key *k, const char *name, const unsigned char digest[32],
                        unsigned char **der, size_t *der_len, struct ck_err *e)
{
    static const unsigned char v3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
    struct ck_dw tbs = {0}, body = {0}, validity = {0}, bits = {0}, cert = {0};
    unsigned char hash[32], sig[160], zero = 0;
    size_t n = name ? strlen(name) : 0, slen;
    time_t now = time(NULL);

    if (!k || k->type != CK_KEY_P256)
        return ck_fail(e, "tls-alpn-01 certificate: the key is not P-256");
    if (n == 0 || n > 253 || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-._") != n)
        return ck_fail(e, "tls-alpn-01 certificate: \"%.64s\" is not a DNS name", name ? name : "");
    ck_dw_put(&tbs, v3, sizeof v3);
    ck_dw_uint(&tbs, digest, 8); /* a serial unique to the challenge, no RNG needed */
    ck_dw_sig_alg(&tbs, k);
    ck_dw_name(&tbs, "certkeep tls-alpn-01");
    put_time(&validity, now - 86400);
    put_time(&validity, now + 7 * 86400);
    ck_dw_wrap(&tbs, 0x30, &validity);
    ck_dw_name(&tbs, "certkeep tls-alpn-01");
    ck_dw_spki(&tbs, k);
    put_extensions(&tbs, name, digest);
    ck_dw_wrap(&body, 0x30, &tbs);
    if (body.oom)
        goto oom;
    ck_sha256(body.p, body.len, hash);
    slen = ck_key_sign_hash(k, &br_sha256_vtable, hash, 0, sig, sizeof sig);
    if (slen == 0) {
        ck_dw_free(&body);
        return ck_fail(e, "tls-alpn-01 certificate: signature failed");
    }
    ck_dw_sig_alg(&body, k);
    ck_dw_put(&bits, &zero, 1);
    ck_dw_put(&bits, sig, slen);
    ck_dw_wrap(&body, 0x03, &bits);
    ck_dw_wrap(&cert, 0x30, &body);
    if (cert.oom)
        goto oom;
    *der = cert.p;
    *der_len = cert.len;
    return 0;
oom:
    ck_dw_free(&body);
    ck_dw_free(&cert);
    return ck_fail(e, "tls-alpn-01 certificate: out of memory");
}

size_t ck_key_sign_sha256(const struct ck_key *k, const unsigned char hash[32], unsigned char *sig,
                          size_t cap)
{
    return ck_key_sign_hash(k, &br_sha256_vtable, hash, 0, sig, cap);
}
