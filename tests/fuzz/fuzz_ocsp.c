/* libFuzzer harness for lib/crypto's OCSP response reader (ck_ocsp_check), for a fixed
 * certificate and issuer. The first input byte picks the target: even, the rest is a whole
 * OCSPResponse (envelope, responder certificates, signature); odd, the rest is the content
 * of a tbsResponseData that the harness signs with the issuer's key, so that the reader
 * of the response data (behind the signature check) is reached too. The key is a
 * throwaway made for this harness (tests/fuzz/seeds/ocsp_* were answered with it). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

#define NOW 1796071415 /* an hour after the seeds' thisUpdate; they run to 2036 */

static const char LEAF_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBsjCCAVigAwIBAgIUcEuyAnAsgrrpAuODMdX3iKomMmcwCgYIKoZIzj0EAwIw\n"
    "EjEQMA4GA1UEAwwHZnV6ei1jYTAeFw0yNjExMzAxOTQzMzVaFw0zNjExMjcxOTQz\n"
    "MzVaMA8xDTALBgNVBAMMBGxlYWYwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAR4\n"
    "KqzYRpewNO+/Iq0Cse0EBkdOcHrC714JfYjN29gpjW3pYBEPOA1ioHC4Sk1ped1N\n"
    "pHwv1uwffDVUU4389r+ao4GOMIGLMBcGA1UdEQQQMA6CDGxlYWYuZXhhbXBsZTAw\n"
    "BggrBgEFBQcBAQQkMCIwIAYIKwYBBQUHMAGGFGh0dHA6Ly9vY3NwLmV4YW1wbGUv\n"
    "MB0GA1UdDgQWBBTRVjwYdx2mULTStjKjhpQxxf4PoDAfBgNVHSMEGDAWgBSweuPY\n"
    "VZtWB5eb22a6u198pT23vDAKBggqhkjOPQQDAgNIADBFAiEA3yzFRFuwJDxeQEqo\n"
    "BhBK1xxO8hq3Ru54orezyh7+apYCIBAgF0cgu1J+GJ+WxLQ5JrXRT2FCqlbKergz\n"
    "9upg7PNu\n"
    "-----END CERTIFICATE-----\n";

static const char CA_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBiTCCAS+gAwIBAgIUOQTh8gZFUP+iZj1UheIa7eLn0j4wCgYIKoZIzj0EAwIw\n"
    "EjEQMA4GA1UEAwwHZnV6ei1jYTAeFw0yNjExMzAxOTQzMzVaFw0zNjExMjcxOTQz\n"
    "MzVaMBIxEDAOBgNVBAMMB2Z1enotY2EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
    "AATcu2E0nXcncp6BkgmtFlHVRalVgUdkOyGrjvi99UwHfs1GTknYupePOmOcO0nI\n"
    "ACJYZtpTwXrZuOXl5LMZcrsfo2MwYTAdBgNVHQ4EFgQUsHrj2FWbVgeXm9tmurtf\n"
    "fKU9t7wwHwYDVR0jBBgwFoAUsHrj2FWbVgeXm9tmurtffKU9t7wwDwYDVR0TAQH/\n"
    "BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwIDSAAwRQIhAIHyxH/n\n"
    "S8HtQumkn3V3SoVwk4bR/cuRS2+R/V2g80bqAiAEzlXKwAqXyUYyKBnuP+zzfVmX\n"
    "BZZt2SbvsRw1lv2xGg==\n"
    "-----END CERTIFICATE-----\n";

static const char CA_KEY_PEM[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglEHnrcWaCTnaALbX\n"
    "dUZKnvektXnHsXXvBzKmfE35aSShRANCAATcu2E0nXcncp6BkgmtFlHVRalVgUdk\n"
    "OyGrjvi99UwHfs1GTknYupePOmOcO0nIACJYZtpTwXrZuOXl5LMZcrsf\n"
    "-----END PRIVATE KEY-----\n";

static const unsigned char OID_BASIC[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
static const unsigned char OID_ECDSA_SHA256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

static struct ck_der_list leaf, ca;
static struct ck_key *key;

static void init(void)
{
    struct ck_err e;
    if (ck_pem_certs(LEAF_PEM, strlen(LEAF_PEM), "leaf", &leaf, &e) ||
        ck_pem_certs(CA_PEM, strlen(CA_PEM), "ca", &ca, &e) ||
        ck_key_from_pem(CA_KEY_PEM, strlen(CA_KEY_PEM), "ca key", &key, &e))
        abort();
}

static void check(const unsigned char *d, size_t n)
{
    struct ck_ocsp_answer a;
    struct ck_err e;
    ck_ocsp_check(d, n, leaf.items[0].data, leaf.items[0].len, ca.items[0].data, ca.items[0].len,
                  NOW, &a, &e);
}

/* OCSPResponse { successful, [0] { basic, OCTET STRING { BasicOCSPResponse { tbs, alg, sig } } } } */
static void signed_tbs(const unsigned char *d, size_t n)
{
    struct ck_dw tbs = {0}, alg = {0}, bits = {0}, basic = {0}, body = {0}, rb = {0}, x = {0},
                 top = {0}, out = {0};
    unsigned char hash[32], sig[160], zero = 0;
    br_sha256_context h;
    ck_dw_tlv(&tbs, 0x30, d, n);
    if (tbs.oom)
        goto done;
    br_sha256_init(&h);
    br_sha256_update(&h, tbs.p, tbs.len);
    br_sha256_out(&h, hash);
    size_t slen = ck_key_sign_hash(key, &br_sha256_vtable, hash, 0, sig, sizeof sig);
    if (!slen)
        abort();
    ck_dw_put(&basic, tbs.p, tbs.len);
    ck_dw_tlv(&alg, 0x06, OID_ECDSA_SHA256, sizeof OID_ECDSA_SHA256);
    ck_dw_wrap(&basic, 0x30, &alg);
    ck_dw_put(&bits, &zero, 1);
    ck_dw_put(&bits, sig, slen);
    ck_dw_wrap(&basic, 0x03, &bits);
    ck_dw_wrap(&body, 0x30, &basic);
    ck_dw_tlv(&rb, 0x06, OID_BASIC, sizeof OID_BASIC);
    ck_dw_wrap(&rb, 0x04, &body);
    ck_dw_wrap(&x, 0x30, &rb);
    ck_dw_tlv(&top, 0x0a, &zero, 1);
    ck_dw_wrap(&top, 0xa0, &x);
    ck_dw_wrap(&out, 0x30, &top);
    if (!out.oom)
        check(out.p, out.len);
    ck_dw_free(&out);
done:
    ck_dw_free(&tbs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!key)
        init();
    if (size < 1)
        return 0;
    /* an exactly sized heap copy so that any overread is reported */
    unsigned char *copy = malloc(size - 1 ? size - 1 : 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    if (data[0] % 2)
        signed_tbs(copy, size - 1);
    else
        check(copy, size - 1);
    free(copy);
    return 0;
}
