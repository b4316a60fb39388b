/* The certificate material as one unit (fullchain, cert, chain, privkey) and
 * where it lives: the volume (<out>/<name>, lib/fs) and the object store
 * (lib/store). Store layout under the configured prefix:
 *   certs/<name>/<serial>/{fullchain,cert,chain,privkey}.pem
 *   certs/<name>/current.json   written LAST: names the serial and carries the
 *                               sha256 of fullchain and privkey, so a reader
 *                               never mixes two versions
 *   certs/<name>/state.json     renewal state (failures, next retry) */
#ifndef CK_BUNDLE_H
#define CK_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "../cert/cert.h"
#include "../crypto/crypto.h"
#include "../err/err.h"
#include "../store/store.h"

#define CK_BUNDLE_ABSENT 1  /* nothing there at all */
#define CK_BUNDLE_BROKEN 2  /* something there, unreadable or inconsistent (e->msg says why) */

#define CK_BUNDLE_FILE_MAX (256 * 1024) /* one PEM file */
#define CK_BUNDLE_JSON_MAX (64 * 1024)  /* current.json, state.json */

/* PEM texts, malloc'd and NUL-terminated; privkey is wiped by ck_bundle_free. */
struct ck_bundle {
    char *fullchain, *cert, *chain, *privkey;
    size_t fullchain_len, cert_len, chain_len, privkey_len;
};
void ck_bundle_free(struct ck_bundle *b);

/* Builds cert + chain from a fullchain (leaf first) and copies the key. */
int ck_bundle_from_fullchain(const char *fullchain, size_t fullchain_len, const char *privkey,
                             size_t privkey_len, struct ck_bundle *out, struct ck_err *e);

/* 0 when fullchain.pem is exactly cert.pem followed by chain.pem; 1 (reason in e,
 * naming `where`) otherwise. A truncated cert.pem must not reach the app. */
int ck_bundle_consistent(const struct ck_bundle *b, const char *where, struct ck_err *e);

/* The JSON record (current.json). */
struct ck_bundle_record {
    char **names;                 /* 1..CK_BUNDLE_MAX_NAMES, malloc'd */
    size_t n_names;
    char serial[65];              /* lower-case hex, the key part of the version */
    int64_t not_before, not_after, issued_at;
    enum ck_key_type key_type;
    char ari_id[200];             /* "" when none */
    char fullchain_sha256[65], privkey_sha256[65];
};
#define CK_BUNDLE_MAX_NAMES 100
void ck_bundle_record_free(struct ck_bundle_record *r);
/* Fills r from a bundle and its check summary (names as configured). */
int ck_bundle_record_make(const struct ck_bundle *b, const struct ck_cert_summary *sum,
                          const char *const *names, size_t n_names, int64_t issued_at,
                          struct ck_bundle_record *r, struct ck_err *e);
/* JSON text, malloc'd, NUL-terminated. */
int ck_bundle_record_json(const struct ck_bundle_record *r, char **out, struct ck_err *e);
/* Refuses garbage, oversized input, wrong types, out-of-range values; `what`
 * names the source in e. */
int ck_bundle_record_parse(const char *text, size_t len, const char *what,
                           struct ck_bundle_record *r, struct ck_err *e);

/* Volume: resolves <out>/<name> once, then reads the four files under it.
 * 0 read; CK_BUNDLE_ABSENT when <out>/<name> does not exist; CK_BUNDLE_BROKEN
 * (e.g. "volume: privkey.pem is missing", "...: is a directory"). Never -1. */
int ck_bundle_read_volume(const char *out_dir, const char *name, struct ck_bundle *b,
                          struct ck_err *e);
/* ck_certdir_publish of the four files. */
int ck_bundle_publish(const char *out_dir, const char *name, const struct ck_bundle *b,
                      struct ck_err *e);

/* Store: reads current.json, then fullchain and privkey of the version it
 * names, checks their hashes (retrying once on a mismatch: a writer may have
 * been switching) and derives cert and chain from the fullchain. 0 read (r
 * filled, may be NULL); CK_BUNDLE_ABSENT when there is no current.json;
 * CK_BUNDLE_BROKEN for bad content; -1 when the store could not be read
 * (e->kind from lib/store: CK_E_NETWORK, CK_E_AUTH, ...). */
int ck_bundle_store_get(struct ck_store *s, const char *name, struct ck_bundle *b,
                        struct ck_bundle_record *r, struct ck_err *e);
/* current.json alone (cheap: is the store's newer than what we hold?); same codes. */
int ck_bundle_store_record(struct ck_store *s, const char *name, struct ck_bundle_record *r,
                           struct ck_err *e);
/* Writes the four objects, then current.json. */
int ck_bundle_store_put(struct ck_store *s, const char *name, const struct ck_bundle *b,
                        const struct ck_bundle_record *r, struct ck_err *e);

/* Renewal state (state.json): kept across restarts and replicas. */
struct ck_bundle_state {
    unsigned failures;
    int64_t last_failure;         /* Unix seconds, 0: never */
    int64_t next_retry;           /* 0: none planned */
    char last_error[512];
};
int ck_bundle_state_json(const struct ck_bundle_state *st, char **out, struct ck_err *e);
int ck_bundle_state_parse(const char *text, size_t len, const char *what,
                          struct ck_bundle_state *st, struct ck_err *e);
/* 0 read, CK_BUNDLE_ABSENT (st zeroed), CK_BUNDLE_BROKEN, or -1 (store error). */
int ck_bundle_state_get(struct ck_store *s, const char *name, struct ck_bundle_state *st,
                        struct ck_err *e);
int ck_bundle_state_put(struct ck_store *s, const char *name, const struct ck_bundle_state *st,
                        struct ck_err *e);

/* Lower-case hex SHA-256 of data. */
void ck_bundle_sha256_hex(const void *data, size_t n, char out[65]);

#endif
