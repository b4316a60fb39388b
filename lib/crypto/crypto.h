/* Keys, signatures, CSR, PEM and the bits of X.509 we read: all on BearSSL.
 * Private key bytes never leave this folder except as PKCS#8 PEM for storage. */
#ifndef CK_CRYPTO_H
#define CK_CRYPTO_H

#include <bearssl.h>
#include <stddef.h>
#include <stdint.h>

#include "../err/err.h"

enum ck_key_type {
    CK_KEY_NONE = 0,
    CK_KEY_RSA2048,
    CK_KEY_RSA3072,
    CK_KEY_RSA4096,
    CK_KEY_P256,
    CK_KEY_P384
};

/* "rsa2048" … "p384"; NULL for CK_KEY_NONE. */
const char *ck_key_type_name(enum ck_key_type t);
/* Parses "rsa2048|rsa3072|rsa4096|p256|p384"; -1 with a message otherwise. */
int ck_key_type_parse(const char *s, enum ck_key_type *out, struct ck_err *e);

struct ck_key; /* opaque: private + public key; freed (and wiped) by ck_key_free */

int ck_key_generate(enum ck_key_type t, struct ck_key **out, struct ck_err *e);
/* Reads the first private key in PEM text: PKCS#8, PKCS#1 RSA or SEC1 EC.
 * `what` names the source in errors ("privkey.pem"). */
int ck_key_from_pem(const char *pem, size_t len, const char *what, struct ck_key **out,
                    struct ck_err *e);
/* PKCS#8 PEM, NUL-terminated, malloc'd; free with ck_secret_free(pem, len). */
int ck_key_to_pem(const struct ck_key *k, char **pem, size_t *len, struct ck_err *e);
enum ck_key_type ck_key_type(const struct ck_key *k);
void ck_key_free(struct ck_key *k);
/* Wipes then frees a buffer that held secret material. */
void ck_secret_free(void *p, size_t len);
/* 1 when both keys have the same public key (refuse an account key as certificate key). */
int ck_key_same(const struct ck_key *a, const struct ck_key *b);

/* base64url without padding. Returns the length written (excluding NUL), or
 * (size_t)-1 when `cap` is too small; `cap` >= 4*((n+2)/3)+1 always suffices. */
size_t ck_b64url(const void *data, size_t n, char *out, size_t cap);
/* Standard base64 with padding, same contract. */
size_t ck_b64(const void *data, size_t n, char *out, size_t cap);
/* Standard base64 decoding (whitespace skipped, '=' only at the end) into `out`,
 * which has room for len * 3 / 4 bytes. Returns the length, -1 on bad input. */
long ck_unb64(const char *s, size_t len, unsigned char *out);
/* An IP address identifier (RFC 8738) as text: its 4 or 16 bytes into out, and that
 * length; 0 when s is not an IPv4 dotted quad or an IPv6 address. */
int ck_ip_bytes(const char *s, unsigned char out[16]);
/* br_x509_minimal_init_full with BearSSL's default implementations (P-256's own curve code,
 * one RSA verifier) and SHA-1..SHA-512: the one X.509 set-up of TLS and of the chain check. */
void ck_x509_init(br_x509_minimal_context *xc, const br_x509_trust_anchor *tas, size_t n_tas);
/* The hash functions ck_x509_init enables, for the TLS engine too. */
extern const br_hash_class *const ck_x509_hashes[5];
/* Zeroes memory in a way the compiler may not drop (key material). */
void ck_wipe(void *p, size_t n);
/* SHA-256 of data. */
void ck_sha256(const void *data, size_t n, unsigned char out[32]);

/* JWS (RFC 7515/8555): "ES256", "ES384" or "RS256" for this key. */
const char *ck_jws_alg(const struct ck_key *k);
/* Public key as JWK JSON with members in RFC 7638 order ({"crv","kty","x","y"} or
 * {"e","kty","n"}), NUL-terminated, malloc'd. */
int ck_jwk_json(const struct ck_key *k, char **json, struct ck_err *e);
/* RFC 7638 thumbprint: base64url(SHA-256(jwk)), 43 chars + NUL. */
int ck_jwk_thumbprint(const struct ck_key *k, char out[44], struct ck_err *e);
/* Flattened JWS JSON {"protected":b64u(protected_json),"payload":b64u(payload),
 * "signature":…}. payload_len 0 gives the empty payload of POST-as-GET.
 * Output is NUL-terminated, malloc'd. */
int ck_jws_sign(const struct ck_key *k, const char *protected_json, const char *payload,
                size_t payload_len, char **out, size_t *out_len, struct ck_err *e);

/* Moves k's private half into a signer process: a child forked now keeps only the key
 * and one end of a socketpair (every other descriptor closed, no network code) and
 * answers JWS signing requests; this process wipes its copy and keeps the public key,
 * so ck_jws_alg/ck_jwk_json/ck_jws_sign work as before (ck_jws_sign through the child)
 * while ck_key_to_pem and CSR signing refuse. ck_key_free ends the child. */
int ck_signer_start(struct ck_key *k, struct ck_err *e);
/* The signer's pid, 0 when k has none (tests, logs). */
long ck_signer_pid(const struct ck_key *k);

/* PKCS#10 CSR in DER for `names` (first is the subject CN, all in SAN), signed by k.
 * malloc'd. */
int ck_csr_der(const struct ck_key *k, const char *const *names, size_t n_names,
               unsigned char **der, size_t *der_len, struct ck_err *e);

/* The tls-alpn-01 certificate (RFC 8737) in DER, self-signed by k (P-256): the one
 * dNSName `name` and the critical acmeIdentifier extension holding `digest`, the
 * SHA-256 of the key authorization. malloc'd. */
int ck_tlsalpn_cert_der(const struct ck_key *k, const char *name, const unsigned char digest[32],
                        unsigned char **der, size_t *der_len, struct ck_err *e);
/* ECDSA (DER) or RSA PKCS#1 signature of a SHA-256 hash, as a TLS server signs its
 * key exchange; the length, 0 on failure. */
size_t ck_key_sign_sha256(const struct ck_key *k, const unsigned char hash[32], unsigned char *sig,
                          size_t cap);

/* PEM certificate list → DER blobs, in order. Any non-CERTIFICATE block, a
 * truncated block or bad base64 is an error naming `what`. */
struct ck_der {
    unsigned char *data;
    size_t len;
};
struct ck_der_list {
    struct ck_der *items;
    size_t n;
};
int ck_pem_certs(const char *pem, size_t len, const char *what, struct ck_der_list *out,
                 struct ck_err *e);
void ck_der_list_free(struct ck_der_list *l);
/* DER → PEM block with the given label ("CERTIFICATE"), appended to *buf
 * (realloc'd, NUL-terminated, *len updated). */
int ck_pem_append(char **buf, size_t *len, const char *label, const unsigned char *der,
                  size_t der_len, struct ck_err *e);

/* What we read from a certificate (all from untrusted DER: bounded, checked). */
struct ck_cert_info {
    int64_t not_before, not_after;   /* Unix seconds, UTC */
    unsigned char serial[32];
    size_t serial_len;               /* DER INTEGER content bytes, as is */
    unsigned char aki[64];           /* authorityKeyIdentifier keyIdentifier */
    size_t aki_len;                  /* 0 when absent */
    char issuer_cn[256];             /* issuer CN ("" when absent) */
    char subject_cn[256];
    int self_issued;                 /* issuer DN == subject DN */
    enum ck_key_type key_type;       /* public key type, CK_KEY_NONE if other */
    char **dns_names;                /* subjectAltName dNSName entries, iPAddress ones as text */
    size_t n_dns_names;
    char ocsp_url[512];              /* AIA OCSP responder, "" when absent */
    int ocsp_signing;                /* extendedKeyUsage holds id-kp-OCSPSigning */
};
int ck_cert_parse(const unsigned char *der, size_t len, struct ck_cert_info *out,
                  struct ck_err *e);
void ck_cert_info_free(struct ck_cert_info *ci);
/* 1 when the certificate's public key is k's public key, 0 when not, -1 on a parse error. */
int ck_key_matches_cert(const struct ck_key *k, const unsigned char *der, size_t len,
                        struct ck_err *e);
/* 1 when `cert` is signed by `issuer`'s key (chain link check), 0 when not, -1 on error. */
int ck_cert_signed_by(const unsigned char *cert, size_t cert_len, const unsigned char *issuer,
                      size_t issuer_len, struct ck_err *e);

/* 1 when `chain` (leaf first, as served) leads to one of the anchors: each link's
 * signature, CA flags and validity at `at` (Unix seconds), by BearSSL's x509_minimal;
 * 0 when not, e->msg saying what failed. */
int ck_chain_trusted(const struct ck_der_list *chain, const br_x509_trust_anchor *tas, size_t n_tas,
                     int64_t at, struct ck_err *e);

/* What a trust anchor takes from a certificate, as slices of its DER, read by exactly
 * the rules of BearSSL's br_x509_decoder (the same certificates, the same bytes) at a
 * fraction of its cost. */
struct ck_anchor {
    const unsigned char *dn;    /* subject Name: the whole TLV, as encoded */
    size_t dn_len;
    int is_ca;                  /* a basicConstraints cA, as br_x509_decoder_isCA */
    int key_type;               /* BR_KEYTYPE_RSA or BR_KEYTYPE_EC */
    const unsigned char *n, *e; /* RSA, without leading zeros */
    size_t n_len, e_len;
    int curve;                  /* EC: BR_EC_secp256r1, BR_EC_secp384r1 or BR_EC_secp521r1 */
    const unsigned char *q;
    size_t q_len;
};
/* 0 read; -1 when br_x509_decoder would not decode the certificate either. */
int ck_cert_anchor(const unsigned char *der, size_t len, struct ck_anchor *out);

/* RFC 9773 certificate identifier: b64u(AKI keyIdentifier) "." b64u(serial). */
int ck_ari_cert_id(const struct ck_cert_info *ci, char *out, size_t cap, struct ck_err *e);

/* OCSP (RFC 6960, the RFC 5019 profile). The request: one SHA-1 CertID of cert (serial)
 * under issuer (its name and key hashes), no nonce, unsigned. malloc'd. */
int ck_ocsp_request(const unsigned char *cert, size_t cert_len, const unsigned char *issuer,
                    size_t issuer_len, unsigned char **der, size_t *der_len, struct ck_err *e);
enum ck_ocsp_status { CK_OCSP_GOOD, CK_OCSP_REVOKED, CK_OCSP_UNKNOWN };
struct ck_ocsp_answer {
    enum ck_ocsp_status status;
    int64_t this_update, next_update, produced_at; /* Unix seconds */
    int64_t revoked_at;                            /* CK_OCSP_REVOKED */
    int delegated;                                 /* signed by a responder certificate */
};
#define CK_OCSP_SKEW_S 300  /* a thisUpdate this far ahead of our clock is still taken */
/* Checks an OCSPResponse for cert under issuer at `now`: status successful, a
 * BasicOCSPResponse signed by the issuer or by a responder certificate in it that the
 * issuer signed, with id-kp-OCSPSigning, valid now; a SingleResponse for our CertID;
 * thisUpdate not ahead (beyond CK_OCSP_SKEW_S), nextUpdate present and ahead. 0 with
 * *out filled (any status), -1 with one line saying what is wrong. */
int ck_ocsp_check(const unsigned char *resp, size_t resp_len, const unsigned char *cert,
                  size_t cert_len, const unsigned char *issuer, size_t issuer_len, int64_t now,
                  struct ck_ocsp_answer *out, struct ck_err *e);

/* Fills buf with cryptographically random bytes (BearSSL's seeder). */
int ck_random(void *buf, size_t n, struct ck_err *e);

/* Sealing private keys for the object store: AES-256-GCM with a random 12-byte
 * nonce, bound to the object's name (AAD). Format: "CKSL" 0x01, 8-byte key id,
 * nonce, ciphertext, 16-byte tag. */
#define CK_SEAL_KEY_LEN 32
#define CK_SEAL_ID_LEN 8
#define CK_SEAL_OVERHEAD (5 + CK_SEAL_ID_LEN + 12 + 16)
struct ck_seal_key {
    unsigned char key[CK_SEAL_KEY_LEN];
    unsigned char id[CK_SEAL_ID_LEN];  /* derived from the key: which key sealed an object */
};
void ck_seal_key_init(struct ck_seal_key *k, const unsigned char raw[CK_SEAL_KEY_LEN]);
void ck_seal_key_wipe(struct ck_seal_key *k);
/* 1 when data starts with the sealed format's magic and version. */
int ck_sealed(const void *data, size_t len);
/* 1 when a sealed object names k as its key. */
int ck_sealed_by(const struct ck_seal_key *k, const void *data, size_t len);
/* *out malloc'd (free), *out_len = len + CK_SEAL_OVERHEAD. */
int ck_seal(const struct ck_seal_key *k, const char *name, const void *plain, size_t len,
            unsigned char **out, size_t *out_len, struct ck_err *e);
/* Opens with whichever of keys[0..n_keys) sealed it; *out NUL-terminated, free with
 * ck_secret_free(*out, *out_len). Refuses another key, another name, any change. */
int ck_seal_open(const struct ck_seal_key *keys, size_t n_keys, const char *name,
                 const void *sealed, size_t len, char **out, size_t *out_len, struct ck_err *e);

#endif
