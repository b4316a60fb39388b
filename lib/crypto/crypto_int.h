/* Private to lib/crypto: the key structure, the DER reader/writer and PEM
 * helpers shared by the .c files of this folder. Not part of the interface. */
#ifndef CK_CRYPTO_INT_H
#define CK_CRYPTO_INT_H

#include <bearssl.h>
#include <stddef.h>
#include <sys/types.h>

#include "crypto.h"

/* Everything inline so one wipe of the struct erases every secret byte. */
struct ck_key {
    enum ck_key_type type;
    br_rsa_private_key rsa_sk; /* points into rsa_priv */
    br_rsa_public_key rsa_pk;  /* points into rsa_pub; n without leading zeros */
    br_ec_private_key ec_sk;   /* points into ec_priv */
    br_ec_public_key ec_pk;    /* points into ec_pub (uncompressed point) */
    size_t d_len;
    unsigned char rsa_priv[BR_RSA_KBUF_PRIV_SIZE(4096) + 64];
    unsigned char rsa_pub[BR_RSA_KBUF_PUB_SIZE(4096)];
    unsigned char d[512];
    unsigned char ec_priv[BR_EC_KBUF_PRIV_MAX_SIZE];
    unsigned char ec_pub[BR_EC_KBUF_PUB_MAX_SIZE];
    int remote;       /* private half wiped: a signer process holds it (signer.c) */
    int signer_fd;    /* our end of the socketpair, -1 once closed */
    pid_t signer_pid; /* 0 once reaped */
};

/* signer.c: signs a JWS signing input through k's signer; the length or 0 (e set). */
size_t ck_signer_sign(const struct ck_key *k, const char *prot, size_t plen, const char *pay,
                      size_t ylen, unsigned char *sig, size_t cap, struct ck_err *e);
/* Closes the socket and reaps the child; quiet. */
void ck_signer_end(struct ck_key *k);

/* Seeds an HMAC-DRBG from the system; 0 or -1 (message set). */
int ck_rng_init(br_hmac_drbg_context *rng, struct ck_err *e);

/* Signs an already computed hash: RSA PKCS#1 v1.5 or ECDSA. `raw` selects
 * r||s (JWS) rather than DER (X.509/CSR) for ECDSA. Returns the length, 0 on failure. */
size_t ck_key_sign_hash(const struct ck_key *k, const br_hash_class *hc, const unsigned char *hash,
                        int raw, unsigned char *sig, size_t cap);

/* br_rsa_keygen's contract: BearSSL's keygen, with composites turned away by
 * a cheaper test first (rsagen.c). */
uint32_t ck_rsa_keygen(const br_prng_class **rng, br_rsa_private_key *sk, void *kbuf_priv,
                       br_rsa_public_key *pk, void *kbuf_pub, unsigned size, uint32_t pubexp);
/* 1 when 2^((x-1)/2) = +-1 mod x (so for every odd prime), 0 when not (x is
 * then composite); x big-endian, len bytes. -1 when x is outside what the test
 * handles (even, top bit clear, not 16..256 bytes in whole 8-byte words) or the
 * build has no 128-bit product. */
int ck_euler2(const unsigned char *x, size_t len);

/* ---- DER reader: never reads past the given bounds, no recursion. ---- */
struct ck_dr {
    const unsigned char *p;
    size_t n;
};
/* Reads the next TLV: tag, content, and (if full != NULL) the whole TLV. 0 or -1. */
int ck_dr_next(struct ck_dr *in, unsigned char *tag, struct ck_dr *val, struct ck_dr *full);
/* Same, but the tag must be `want`. */
int ck_dr_expect(struct ck_dr *in, unsigned char want, struct ck_dr *val, struct ck_dr *full);
/* 1 when the content of an OID equals the given encoded bytes. */
int ck_dr_oid_is(const struct ck_dr *oid, const unsigned char *der, size_t len);

/* UTCTime (0x17) or GeneralizedTime (0x18) content, seconds-precise with 'Z', to Unix seconds. */
int ck_dr_time(unsigned char tag, const struct ck_dr *t, int64_t *out);
/* 1 when `sig` over `data` verifies under the public key of the certificate `issuer`
 * for the X.509 signature algorithm alg_oid; 0 when not; -1 (e) unreadable key or an
 * algorithm we do not verify. */
int ck_sig_verify(const unsigned char *issuer, size_t issuer_len, const struct ck_dr *alg_oid,
                  const struct ck_dr *data, const struct ck_dr *sig, struct ck_err *e);
/* SHA-1 of a CA certificate's subject Name and of its public key bits: an OCSP CertID's
 * issuerNameHash and issuerKeyHash (RFC 6960 4.1.1). 0 or -1 (malformed). */
int ck_cert_issuer_ids(const unsigned char *der, size_t len, unsigned char name_sha1[20],
                       unsigned char key_sha1[20]);

/* ---- DER writer: growable buffer, sticky out-of-memory flag. ---- */
struct ck_dw {
    unsigned char *p;
    size_t len, cap;
    int oom;
};
void ck_dw_put(struct ck_dw *w, const void *data, size_t n);
/* Appends tag, length and content. */
void ck_dw_tlv(struct ck_dw *w, unsigned char tag, const void *content, size_t n);
/* Appends `inner` wrapped as tag (then frees inner). */
void ck_dw_wrap(struct ck_dw *w, unsigned char tag, struct ck_dw *inner);
/* Appends a non-negative INTEGER from big-endian magnitude bytes. */
void ck_dw_uint(struct ck_dw *w, const unsigned char *mag, size_t n);
void ck_dw_free(struct ck_dw *w);
/* csr.c: SubjectPublicKeyInfo, signature AlgorithmIdentifier, Name of one CN
 * (empty when cn is longer than 64). */
void ck_dw_spki(struct ck_dw *w, const struct ck_key *k);
void ck_dw_sig_alg(struct ck_dw *w, const struct ck_key *k);
void ck_dw_name(struct ck_dw *w, const char *cn);

/* ---- PEM reading ---- */
/* Called per complete PEM object; der is a scratch buffer wiped after the call. */
typedef int (*ck_pem_cb)(void *ctx, const char *name, const unsigned char *der, size_t len,
                         struct ck_err *e);
/* Decodes every PEM object (up to max_obj bytes of DER each) in order. A
 * framing or base64 error, an oversized or truncated object is -1 naming `what`. */
int ck_pem_each(const char *pem, size_t len, const char *what, size_t max_obj, ck_pem_cb cb,
                void *ctx, struct ck_err *e);

#endif
