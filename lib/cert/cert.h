/* Is a certificate usable (SPEC section 4)? One verdict, one reason. */
#ifndef CK_CERT_H
#define CK_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "../err/err.h"

struct ck_cert_want {
    const char *const *names;  /* every name must be covered */
    size_t n_names;
    enum ck_key_type key_type; /* CK_KEY_NONE: any */
    long min_valid;            /* seconds of validity that must be left (see ck_cert_min_left) */
    int64_t now;               /* Unix seconds */
    int just_issued;           /* the CA's answer to our order: its validity is judged by its own
                                * notBefore..notAfter, never by min_valid or by our clock */
    const br_x509_trust_anchor *anchors; /* the chain must lead to one (none: nothing is usable) */
    size_t n_anchors;
    /* sum->proof of an earlier check that passed: when these very bytes and anchors give
     * it again, the key match and the chain (its signatures and the dates of its CA
     * certificates) are not checked again; the leaf's dates, names and key type are.
     * The caller bounds how old a proof it trusts. NULL: everything is checked. */
    const unsigned char *proven;
};

/* The validity a usable certificate must have left: min_valid, but never more
 * than 1/CK_CERT_LIFE_SHARE of its own lifetime. lib/renewal's window closes
 * with at least 1/4 of the lifetime left, so run renews well before this and a
 * restart reuses a short-lived certificate for 7/8 of its life. */
#define CK_CERT_LIFE_SHARE 8
int64_t ck_cert_min_left(int64_t not_before, int64_t not_after, long min_valid);

/* What a usable (or at least parseable) certificate is. */
struct ck_cert_summary {
    int64_t not_before, not_after;
    char serial_hex[65];
    char issuer_cn[256];
    char ari_id[200];          /* "" when the leaf has no AKI */
    enum ck_key_type key_type;
    size_t chain_len;          /* certificates after the leaf */
    unsigned char proof[32];   /* SHA-256 of the files' bytes and the anchors, when usable */
    int proved;                /* proof is set: the check passed in full, or by w->proven */
};

/* Checks `fullchain` (leaf then chain, PEM) against `privkey` (PEM) and `w`.
 * Returns 0 when usable, 1 when not (e->msg says why in one line, naming
 * `where`, e.g. "volume" or "store"), -1 never: every failure is a verdict.
 * `sum` is filled whenever the leaf parsed (also when unusable). A notBefore
 * later than w->now is our clock's fault, not the certificate's: validity left
 * is then counted from notBefore. */
int ck_cert_check(const char *where, const char *fullchain, size_t fullchain_len,
                  const char *privkey, size_t privkey_len, const struct ck_cert_want *w,
                  struct ck_cert_summary *sum, struct ck_err *e);

/* RFC 3339 UTC text for Unix seconds ("2026-01-02T03:04:05Z"). */
void ck_time_format(int64_t t, char out[32]);

#endif
