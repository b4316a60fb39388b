/* The object store: certificates, account and renewal state shared by every
 * replica. Two backends behind one interface: a local directory and S3 (SigV4
 * signed by libcurl). Keys are relative ("certs/example.com/fullchain.pem");
 * the store adds its prefix. A key is 1..512 bytes of '/'-separated parts of
 * 1..200 bytes (a file name on the directory backend), none starting with '.',
 * no control character or backslash. */
#ifndef CK_STORE_H
#define CK_STORE_H

#include <stddef.h>

#include "../err/err.h"

struct ck_http;
struct ck_store;

#define CK_STORE_NOTFOUND 1  /* get: no such key */
#define CK_STORE_CONFLICT 2  /* conditional put lost; lease held by someone else */
#define CK_STORE_BADSEAL 3   /* get_secret: sealed object altered or copied from another name */

#define CK_STORE_KEY_MAX  512
#define CK_STORE_PART_MAX 200
#define CK_STORE_ETAG_MAX 128 /* etag buffers: this many bytes always suffice */

/* Credentials, owned: ck_s3_creds_free wipes and frees them. */
struct ck_s3_creds {
    char *access_key, *secret_key, *session_token; /* session_token may be NULL */
};

/* Explicit files win (Kubernetes Secret mounts; one value per file, trailing
 * whitespace dropped); then AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
 * AWS_SESSION_TOKEN from envp; then the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE or $HOME/.aws/credentials, profile AWS_PROFILE or
 * "default"). Any file argument may be NULL. */
int ck_s3_creds_load(struct ck_s3_creds *c, char *const envp[], const char *access_key_file,
                     const char *secret_key_file, const char *session_token_file,
                     struct ck_err *e);
void ck_s3_creds_free(struct ck_s3_creds *c);

struct ck_store_s3 {
    const char *endpoint;   /* "https://host[:port]"; NULL: https://s3.<region>.amazonaws.com */
    const char *bucket;
    const char *prefix;     /* "" or NULL: none; slashes at either end are ignored */
    const char *region;     /* NULL: us-east-1 */
    int path_style;         /* 1: endpoint/bucket/key; 0: bucket.host/key */
    const struct ck_s3_creds *creds; /* copied by open */
};

/* Creates the directory (0700) when missing. */
int ck_store_open_dir(const char *dir, struct ck_store **out, struct ck_err *e);
/* `http` stays owned by the caller and must outlive the store. No request is made. */
int ck_store_open_s3(const struct ck_store_s3 *o, struct ck_http *http, struct ck_store **out,
                     struct ck_err *e);
void ck_store_close(struct ck_store *s);
/* "dir /var/lib/x" or "s3 bucket/prefix", for messages. */
const char *ck_store_name(const struct ck_store *s);

/* 0 with *data malloc'd and NUL-terminated (NUL not counted), CK_STORE_NOTFOUND,
 * or -1; an object larger than `max` is an error. etag may be NULL. */
int ck_store_get(struct ck_store *s, const char *key, size_t max, char **data, size_t *len,
                 char *etag, size_t etag_cap, struct ck_err *e);
int ck_store_put(struct ck_store *s, const char *key, const void *data, size_t len,
                 struct ck_err *e);
/* 0 written (new etag copied out when etag_out != NULL), CK_STORE_CONFLICT when
 * the key exists (S3: If-None-Match: *, 412), or -1. */
int ck_store_put_if_absent(struct ck_store *s, const char *key, const void *data, size_t len,
                           char *etag_out, size_t etag_cap, struct ck_err *e);
/* Same, written only while the object's etag is still `etag` (S3: If-Match);
 * CK_STORE_CONFLICT when it changed or vanished. */
int ck_store_put_if_match(struct ck_store *s, const char *key, const void *data, size_t len,
                          const char *etag, char *etag_out, size_t etag_cap, struct ck_err *e);
/* Private keys go through these two. With a store encryption key set
 * (ck_store_seal), put seals the data bound to `key` (lib/crypto ck_seal) and
 * get opens it with the key or the old key; a sealed object without a key, with
 * another key, altered or copied from another name is an error. An object
 * stored plain before the key was set, or sealed with the old key, is returned
 * and sealed in place with the key (if its etag still matches), so a store
 * migrates as it is read. Without a
 * key, both store and return the data as given (and refuse a sealed object).
 * 0, CK_STORE_NOTFOUND, CK_STORE_BADSEAL (e says which object), or -1 (also a
 * sealed object without the key or with another key: kind CK_E_USAGE). */
int ck_store_get_secret(struct ck_store *s, const char *key, size_t max, char **data,
                        size_t *len, struct ck_err *e);
/* if_absent: as ck_store_put_if_absent (CK_STORE_CONFLICT when the key exists). */
int ck_store_put_secret(struct ck_store *s, const char *key, const void *data, size_t len,
                        int if_absent, struct ck_err *e);
/* Reads the 32-byte store encryption key (raw, or 64 hex digits) from key_file
 * and, when old_key_file is not NULL, the key it replaces (read only). */
int ck_store_seal(struct ck_store *s, const char *key_file, const char *old_key_file,
                  struct ck_err *e);

/* Deleting a missing key is success. */
int ck_store_delete(struct ck_store *s, const char *key, struct ck_err *e);
/* Keys starting with `prefix` (a plain string prefix, "" for all), sorted
 * bytewise; free with ck_store_keys_free. */
int ck_store_list(struct ck_store *s, const char *prefix, char ***keys, size_t *n,
                  struct ck_err *e);
void ck_store_keys_free(char **keys, size_t n);

/* A lease: "one issuer at a time across replicas". Stored at "locks/<name>" as
 * {"owner":..,"expires":unix,"heartbeat":unix}. A missing lease is created with
 * put_if_absent; an expired (or unreadable) one is taken over with put_if_match
 * on the etag read, so of several racers exactly one wins. */
struct ck_lease;
struct ck_lease_holder {
    char owner[128];
    long long expires;    /* Unix seconds */
    long long heartbeat;
    int overlong;         /* acquired by taking over a lease that expired later than
                           * now + ttl + CK_LEASE_SLACK_S (a clock ahead, a bad write) */
    char notice[400];     /* "" or, when the store ignores conditional writes, the one
                           * line that says so (its endpoint, what it accepted) */
};
#define CK_LEASE_SLACK_S 300  /* clock skew between replicas a live lease may show */
/* 0 acquired (holder->overlong: by taking over an overlong lease, *holder describing
 * it); CK_STORE_CONFLICT held by a live owner (described in *holder when not NULL, and
 * in e->msg); -1 on error. `owner` is 1..127 printable bytes.
 * The first call on an S3 handle probes whether the server honours conditional
 * writes (4 requests on a probe object under locks/). When it does not, every lease
 * write is preceded by a read that checks the condition, and an acquired lease is
 * read back after a random 1-2 s delay: acquired only if it still holds our record. */
int ck_lease_acquire(struct ck_store *s, const char *name, const char *owner, long ttl_s,
                     struct ck_lease **out, struct ck_lease_holder *holder, struct ck_err *e);
/* Pushes expiry to now + ttl; CK_STORE_CONFLICT when the lease was lost. */
int ck_lease_heartbeat(struct ck_lease *l, struct ck_err *e);
/* Marks the lease free, only if still ours (conditional put of an expired record:
 * S3 has no portable conditional delete); CK_STORE_CONFLICT when lost. Frees l
 * in every case. */
int ck_lease_release(struct ck_lease *l, struct ck_err *e);
/* Frees without touching the store (the lease then simply expires). */
void ck_lease_free(struct ck_lease *l);

#endif
