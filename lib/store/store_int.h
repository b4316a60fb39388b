/* Inside lib/store only: the backend table. Keys reaching a backend are validated. */
#ifndef CK_STORE_INT_H
#define CK_STORE_INT_H

#include "store.h"
#include "../crypto/crypto.h"

struct ck_store_ops {
    int (*get)(struct ck_store *s, const char *key, size_t max, char **data, size_t *len,
               char *etag, size_t etag_cap, struct ck_err *e);
    /* cond: NULL unconditional, "*" only if absent, else only if etag matches */
    int (*put)(struct ck_store *s, const char *key, const void *data, size_t len,
               const char *cond, char *etag_out, size_t etag_cap, struct ck_err *e);
    int (*del)(struct ck_store *s, const char *key, struct ck_err *e);
    int (*list)(struct ck_store *s, const char *prefix, char ***keys, size_t *n,
                struct ck_err *e);
    void (*close)(struct ck_store *s);
};

struct ck_store {
    const struct ck_store_ops *ops;
    char name[320];
    void *impl;
    struct ck_seal_key seal[2]; /* [0] writes and reads, [1] the old key: reads only */
    size_t n_seal;              /* 0: secrets are stored as given */
    int cond;                   /* CK_STORE_COND_*: whether conditional puts are honoured */
    char endpoint[200];         /* where the objects live, for the conditional-write notice */
    char cond_notice[400];      /* CK_STORE_COND_IGNORED: the one line that says so */
};

#define CK_STORE_COND_HONOURED 0 /* the directory backend: flock */
#define CK_STORE_COND_UNKNOWN 1  /* S3 until ck_store_cond_probe ran */
#define CK_STORE_COND_IGNORED 2  /* the probe found a condition ignored or If-Match unusable */

/* An unconditional put that copies out the new etag. */
int ck_store_put_etag(struct ck_store *s, const char *key, const void *data, size_t len,
                      char *etag_out, size_t etag_cap, struct ck_err *e);

/* Once per handle (S3 only): creates a probe object with If-None-Match: *, then
 * expects a second create and an If-Match with a wrong ETag to be refused and one
 * with its own ETag to pass, and deletes it. Sets s->cond (and s->cond_notice); 0, or -1 when the store failed. */
int ck_store_cond_probe(struct ck_store *s, struct ck_err *e);

/* 0 when `key` is a valid relative key (see store.h); prefix mode allows "" and a trailing '/'. */
int ck_store_key_check(const char *key, int is_prefix, struct ck_err *e);

/* Growing key list shared by the backends. */
struct ck_keylist {
    char **v;
    size_t n, cap;
};
int ck_keylist_add(struct ck_keylist *l, const char *k, size_t len, struct ck_err *e);
void ck_keylist_sort(struct ck_keylist *l);

/* Lowercase hex of SHA-256(data): the directory backend's etag. */
void ck_store_sha256_hex(const void *data, size_t len, char out[65]);

/* S3 XML: text of the next <tag>…</tag> at or after *from, entity-decoded into
 * out; 1 found (*from moves past it), 0 none, -1 malformed or too long. */
int ck_s3_xml_next(const char *body, size_t len, const char **from, const char *tag, char *out,
                   size_t cap);

#define CK_STORE_MAX_KEYS 100000  /* list bound: far beyond what certkeep writes */


#endif
