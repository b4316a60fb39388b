/* Shared between the files of lib/acme only; acme.h is the folder's interface. */
#ifndef CK_ACME_INTERNAL_H
#define CK_ACME_INTERNAL_H

#include <cjson/cJSON.h>

#include "acme.h"

#define ACME_URL_MAX 2048            /* any URL the server hands us */
#define ACME_JSON_MAX (512 * 1024)   /* ACME JSON bodies (100-name orders, problems) */
#define ACME_CERT_MAX (1024 * 1024)  /* a PEM chain */

struct ck_acme {
    char *dir_url;
    struct ck_http *http;
    const struct ck_log *log;
    long poll_timeout_s;
    int have_dir;
    char *new_nonce, *new_account, *new_order, *revoke_cert, *renewal_info, *tos, *key_change;
    char **profiles;  /* names from meta.profiles; NULL: none listed */
    size_t n_profiles;
    char nonce[256];  /* the one Replay-Nonce we hold; "" when none */
    const struct ck_key *key;
    char *jwk;        /* public JWK JSON of key */
    char thumb[44];
    char *kid;        /* account URL */
    int kid_saved;    /* kid taken from an earlier run, not yet confirmed by the CA */
    char *email;      /* for finding or creating the account again when kid_saved */
    int agree_tos;
    char problem[128]; /* type of the last problem document, "" when none */
    unsigned long bad_nonce_retries; /* counted for tests and logs */
    int eab_required;            /* meta.externalAccountRequired */
    char *eab_kid;               /* NULL: no external account binding */
    unsigned char eab_key[128];  /* the MAC key, wiped in ck_acme_free */
    size_t eab_key_len;
    int (*key_refused)(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                       struct ck_err *e);
    void *key_refused_ctx;
};

/* POST a JWS to url: payload NULL is POST-as-GET, use_jwk selects {"jwk"} over
 * {"kid"}. badNonce is retried inside. HTTP >= 400 is -1 with the problem in e
 * and its type in a->problem. accept may be NULL. */
int acme_post(struct ck_acme *a, const char *url, const char *payload, int use_jwk,
              const char *accept, size_t max_body, struct ck_http_resp *resp, struct ck_err *e);
/* Plain GET; HTTP >= 400 is -1 like acme_post. */
int acme_get(struct ck_acme *a, const char *url, const char *accept, size_t max_body,
             struct ck_http_resp *resp, struct ck_err *e);
/* Parses resp's body as a JSON object; errors name url. */
int acme_json(const struct ck_http_resp *resp, const char *url, cJSON **out, struct ck_err *e);
/* String member bounded to max bytes, with no control characters; NULL when absent or bad. */
const char *acme_str(const cJSON *o, const char *name, size_t max);
/* String member as is (for human text, to be passed through acme_clean); NULL when absent. */
const char *acme_text(const cJSON *o, const char *name);
/* 1 for an http(s) URL of sane length and bytes. */
int acme_url_ok(const char *s);
/* Copies untrusted text into out with control bytes replaced, truncated to cap. */
void acme_clean(char *out, size_t cap, const char *s);
/* Waits `ms` milliseconds (nanosleep, restarted on EINTR). */
void acme_sleep_ms(long ms);
/* Monotonic milliseconds. */
long long acme_now_ms(void);

/* Takes `key` as the signing key (its JWK and thumbprint); 0 or -1 (e). */
int acme_use_key(struct ck_acme *a, const struct ck_key *key, struct ck_err *e);
/* Account URL from a newAccount response's Location; checks the account's status.
 * *contact_ok tells whether its contact is already `email` (1 when email is NULL). */
int acme_account_from(struct ck_acme *a, const struct ck_http_resp *resp, const char *email,
                      int *contact_ok, struct ck_err *e);
/* RFC 8555 7.3.5: the inner JWS of a keyChange, signed by new_key with its jwk, over
 * {"account":account_url,"oldKey":old_jwk}; malloc'd. */
int acme_key_change_jws(const struct ck_key *new_key, const char *url, const char *account_url,
                        const char *old_jwk, char **out, size_t *out_len, struct ck_err *e);

/* order.c */
int acme_issue(struct ck_acme *a, const struct ck_acme_order_req *r, struct ck_acme_cert *out,
               struct ck_err *e);
/* chain.c */
int acme_download(struct ck_acme *a, const char *cert_url, const char *preferred,
                  const struct ck_key *cert_key, struct ck_acme_cert *out, struct ck_err *e);

#endif
