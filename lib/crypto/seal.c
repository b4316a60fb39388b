/* Sealed private keys for the object store: AES-256-GCM (BearSSL, constant-time
 * ct64 AES and ctmul64 GHASH: a few KiB per seal, speed does not matter). */
#include "crypto.h"
#include "crypto_int.h"

#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

static const unsigned char MAGIC[5] = {'C', 'K', 'S', 'L', 1}; /* 1: the format version */

#define HDR (sizeof MAGIC + CK_SEAL_ID_LEN + 12)

void ck_seal_key_init(struct ck_seal_key *k, const unsigned char raw[CK_SEAL_KEY_LEN])
{
    /* The id names the key without revealing it: SHA-256 of a label and the key. */
    static const char label[] = "certkeep seal key id";
    unsigned char h[32];
    br_sha256_context c;
    br_sha256_init(&c);
    br_sha256_update(&c, label, sizeof label - 1);
    br_sha256_update(&c, raw, CK_SEAL_KEY_LEN);
    br_sha256_out(&c, h);
    memcpy(k->key, raw, CK_SEAL_KEY_LEN);
    memcpy(k->id, h, CK_SEAL_ID_LEN);
    ck_wipe(&c, sizeof c);
}

void ck_seal_key_wipe(struct ck_seal_key *k)
{
    ck_wipe(k, sizeof *k);
}

int ck_sealed(const void *data, size_t len)
{
    return len >= sizeof MAGIC && memcmp(data, MAGIC, sizeof MAGIC) == 0;
}

int ck_sealed_by(const struct ck_seal_key *k, const void *data, size_t len)
{
    return ck_sealed(data, len) && len >= sizeof MAGIC + CK_SEAL_ID_LEN &&
           memcmp((const unsigned char *)data + sizeof MAGIC, k->id, CK_SEAL_ID_LEN) == 0;
}

/* GCM over buf in place; the header and the object name are the AAD. */
static void gcm(const struct ck_seal_key *k, const unsigned char *hdr, const char *name,
                unsigned char *buf, size_t n, int encrypt, unsigned char tag[16])
{
    br_aes_ct64_ctr_keys aes;
    br_gcm_context g;
    br_aes_ct64_ctr_init(&aes, k->key, CK_SEAL_KEY_LEN);
    br_gcm_init(&g, &aes.vtable, br_ghash_ctmul64);
    br_gcm_reset(&g, hdr + HDR - 12, 12);
    br_gcm_aad_inject(&g, hdr, HDR);
    br_gcm_aad_inject(&g, name, strlen(name));
    br_gcm_flip(&g);
    br_gcm_run(&g, encrypt, buf, n);
    br_gcm_get_tag(&g, tag);
    ck_wipe(&aes, sizeof aes);
    ck_wipe(&g, sizeof g);
}

int ck_seal(const struct ck_seal_key *k, const char *name, const void *plain, size_t len,
            unsigned char **out, size_t *out_len, struct ck_err *e)
{
    *out = NULL;
    *out_len = 0;
    if (len > ((size_t)1 << 30))
        return ck_fail(e, "seal %s: %zu bytes is too large", name, len);
    unsigned char *b = malloc(HDR + len + 16);
    if (b == NULL)
        return ck_fail(e, "seal %s: out of memory", name);
    memcpy(b, MAGIC, sizeof MAGIC);
    memcpy(b + sizeof MAGIC, k->id, CK_SEAL_ID_LEN);
    if (ck_random(b + HDR - 12, 12, e) != 0) {
        free(b);
        return ck_wrap(e, "seal %s", name);
    }
    memcpy(b + HDR, plain, len);
    gcm(k, b, name, b + HDR, len, 1, b + HDR + len);
    *out = b;
    *out_len = HDR + len + 16;
    return 0;
}

int ck_seal_open(const struct ck_seal_key *keys, size_t n_keys, const char *name,
                 const void *sealed, size_t len, char **out, size_t *out_len, struct ck_err *e)
{
    const unsigned char *s = sealed;
    *out = NULL;
    *out_len = 0;
    if (!ck_sealed(s, len))
        return ck_fail(e, "%s: not a sealed object", name);
    if (len < HDR + 16)
        return ck_fail(e, "%s: sealed object truncated (%zu bytes)", name, len);
    const struct ck_seal_key *k = NULL;
    for (size_t i = 0; i < n_keys && k == NULL; i++)
        if (memcmp(keys[i].id, s + sizeof MAGIC, CK_SEAL_ID_LEN) == 0)
            k = &keys[i];
    if (k == NULL)
        return ck_failk(e, CK_E_USAGE,
                        "%s: sealed with another store encryption key (not the configured %s)",
                        name, n_keys > 1 ? "key or old key" : "key");
    size_t n = len - HDR - 16;
    char *b = malloc(n + 1);
    if (b == NULL)
        return ck_fail(e, "%s: out of memory", name);
    memcpy(b, s + HDR, n);
    unsigned char tag[16];
    gcm(k, s, name, (unsigned char *)b, n, 0, tag);
    /* constant time: how many tag bytes match must not show */
    unsigned diff = 0;
    for (size_t i = 0; i < 16; i++)
        diff |= tag[i] ^ s[len - 16 + i];
    if (diff != 0) {
        ck_secret_free(b, n);
        return ck_fail(e, "%s: sealed object does not verify (altered, or sealed for another object)",
                       name);
    }
    b[n] = '\0';
    *out = b;
    *out_len = n;
    return 0;
}
