/* ACME client (RFC 8555, RFC 9773 renewal information). One ck_acme holds the
 * directory, the nonce pool, the account URL and the http handle; every exchange
 * is a GET or a signed POST with badNonce retried inside. The account key is
 * borrowed: acme asks lib/crypto to sign, it never reads key bytes. */
#ifndef CK_ACME_H
#define CK_ACME_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "../err/err.h"
#include "../http/http.h"
#include "../log/log.h"

#define CK_ACME_MAX_NAMES 100

struct ck_acme;

struct ck_acme_opts {
    const char *directory_url;
    struct ck_http *http;        /* borrowed */
    const struct ck_log *log;    /* borrowed; NULL: silent */
    long poll_timeout_s;         /* give up waiting on an order/authz; 0: 300 s */
    /* External account binding (RFC 8555 7.3.4): the key id and a file holding the
     * base64url MAC key the CA handed out; both or neither. Bound into newAccount only. */
    const char *eab_kid;
    const char *eab_key_file;
    /* The CA refused a request signed with the account key as not the account's (a
     * rollover elsewhere): *newer gets another key to sign with (borrowed, outliving
     * the ck_acme; the request is sent again once) or stays NULL. NULL: no such hook. */
    int (*key_refused)(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                       struct ck_err *e);
    void *key_refused_ctx;
};

int ck_acme_new(const struct ck_acme_opts *o, struct ck_acme **out, struct ck_err *e);
void ck_acme_free(struct ck_acme *a);

/* Fetches the directory (once; later calls reuse it). */
int ck_acme_directory(struct ck_acme *a, struct ck_err *e);
/* meta.termsOfService, or NULL. */
const char *ck_acme_tos(const struct ck_acme *a);
/* 1 when meta.profiles lists `name`, 0 when not; -1 when the server lists no profiles. */
int ck_acme_has_profile(const struct ck_acme *a, const char *name);
/* 1 when the directory has renewalInfo. */
int ck_acme_has_ari(const struct ck_acme *a);

/* 1 when the directory says meta.externalAccountRequired. */
int ck_acme_eab_required(const struct ck_acme *a);

/* Finds the account for `key` (onlyReturnExisting) or creates it with contact
 * `email` (may be NULL) and agreement only if agree_tos is set; a server that
 * demands agreement without it is a clear error naming the ToS URL, one that
 * requires external account binding without it a usage error sent before the
 * newAccount that would create the account. The key is
 * borrowed and must outlive `a`. The account URL is kept in `a`. */
int ck_acme_account(struct ck_acme *a, const struct ck_key *key, const char *email,
                    int agree_tos, struct ck_err *e);
/* The same for a key generated just now, which cannot have an account yet: one
 * newAccount, no lookup first (should the key have one after all, the CA answers
 * with it). */
int ck_acme_account_fresh(struct ck_acme *a, const struct ck_key *key, const char *email,
                          int agree_tos, struct ck_err *e);
/* The account at `url`, saved from an earlier run for this key and directory, taken
 * without a request. Should the CA not know it for the key (accountDoesNotExist,
 * unauthorized or malformed on the first request signed with it), newAccount with
 * email/agree_tos finds or creates the key's account and that request is sent again:
 * see ck_acme_account_url afterwards. */
int ck_acme_account_saved(struct ck_acme *a, const struct ck_key *key, const char *url,
                          const char *email, int agree_tos, struct ck_err *e);
const char *ck_acme_account_url(const struct ck_acme *a);
/* The account of `key` (onlyReturnExisting), never creating one: 0 found (see
 * ck_acme_account_url), CK_ACME_NO_ACCOUNT when the CA knows none for it, -1. */
#define CK_ACME_NO_ACCOUNT 1
int ck_acme_account_existing(struct ck_acme *a, const struct ck_key *key, struct ck_err *e);
/* RFC 8555 7.3.5 keyChange: the account (found with ck_acme_account_existing) moves
 * to new_key, which then signs (borrowed, must outlive `a`). */
int ck_acme_key_change(struct ck_acme *a, const struct ck_key *new_key, struct ck_err *e);
/* RFC 8555 7.3.6: deactivates the account; the CA refuses its key from then on. */
int ck_acme_deactivate(struct ck_acme *a, struct ck_err *e);

/* A challenge solver, supplied by the caller (lib/challenge adapters in cmd). */
struct ck_acme_solver {
    const char *type;  /* "http-01", "dns-01" or "tls-alpn-01" */
    void *ctx;
    /* Make `key_authz` reachable for `token` (http-01, tls-alpn-01) or publish the TXT value
     * `key_authz` already hashed/base64url'd for dns-01 at _acme-challenge.<domain>. */
    int (*present)(void *ctx, const char *domain, const char *token, const char *key_authz,
                   struct ck_err *e);
    /* Optional: after every present, before the CA is told (dns-01's propagation wait). */
    int (*ready)(void *ctx, struct ck_err *e);
    /* Undo present; called for every present that succeeded, also on failure. */
    void (*cleanup)(void *ctx, const char *domain, const char *token, const char *key_authz);
};

struct ck_acme_order_req {
    const char *const *names;     /* DNS names, 1..CK_ACME_MAX_NAMES */
    size_t n_names;
    const char *profile;          /* NULL: server default */
    const char *replaces;         /* ARI cert id of the certificate being renewed, or NULL */
    const char *preferred_chain;  /* issuer CN of the chain's top to prefer, or NULL */
    const struct ck_key *cert_key;
    const struct ck_acme_solver *solver;
};

struct ck_acme_cert {
    char *fullchain_pem;   /* leaf first, then the chain as served (or built via rel="up") */
    size_t fullchain_len;
    char *cert_url;
};

/* newOrder → authorizations → challenges → finalize → download. Refuses more
 * than the name limit (100, or the profile's) before any request. On
 * `alreadyReplaced` with `replaces` set, retries once without it. */
int ck_acme_issue(struct ck_acme *a, const struct ck_acme_order_req *r, struct ck_acme_cert *out,
                  struct ck_err *e);
void ck_acme_cert_free(struct ck_acme_cert *c);

/* RFC 9773: suggested window for cert id; *retry_after from the response (seconds). */
int ck_acme_renewal_info(struct ck_acme *a, const char *cert_id, int64_t *start, int64_t *end,
                         long *retry_after, struct ck_err *e);

/* revokeCert with the account key; reason per RFC 5280 (0 unspecified). */
int ck_acme_revoke(struct ck_acme *a, const unsigned char *cert_der, size_t len, int reason,
                   struct ck_err *e);

#endif
