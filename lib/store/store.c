#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "store_int.h"

#define CRED_MAX 4096 /* session tokens run to ~2 KiB */

int ck_store_key_check(const char *key, int is_prefix, struct ck_err *e)
{
    size_t n = key ? strlen(key) : 0;
    if (key == NULL || (n == 0 && !is_prefix))
        return ck_failk(e, CK_E_USAGE, "store: empty key");
    if (n > CK_STORE_KEY_MAX)
        return ck_failk(e, CK_E_USAGE, "store: key of %zu bytes (max %d)", n, CK_STORE_KEY_MAX);
    size_t part = 0; /* start of the current '/'-separated part */
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 && c != 0)
            return ck_failk(e, CK_E_USAGE, "store: key %.80s has a control character", key);
        if (c == 0x7f || c == '\\')
            return ck_failk(e, CK_E_USAGE, "store: key %.80s has a forbidden character", key);
        if (c != '/' && c != 0)
            continue;
        int last = c == 0;
        if (i == part && !(last && is_prefix))
            return ck_failk(e, CK_E_USAGE, "store: key %.80s has an empty part", key);
        if (i > part && key[part] == '.')
            return ck_failk(e, CK_E_USAGE, "store: key %.80s has a part starting with '.'", key);
        if (i - part > CK_STORE_PART_MAX)
            return ck_failk(e, CK_E_USAGE, "store: key %.80s… has a part longer than %d bytes", key,
                            CK_STORE_PART_MAX);
        part = i + 1;
    }
    return 0;
}

int ck_keylist_add(struct ck_keylist *l, const char *k, size_t len, struct ck_err *e)
{
    if (l->n >= CK_STORE_MAX_KEYS)
        return ck_fail(e, "more than %d keys", CK_STORE_MAX_KEYS);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return ck_fail(e, "out of memory listing keys");
        l->v = v;
        l->cap = cap;
    }
    char *c = malloc(len + 1);
    if (c == NULL)
        return ck_fail(e, "out of memory listing keys");
    memcpy(c, k, len);
    c[len] = '\0';
    l->v[l->n++] = c;
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ck_keylist_sort(struct ck_keylist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_keys);
}

void ck_store_sha256_hex(const void *data, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char h[32];
    ck_sha256(data, len, h);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[h[i] >> 4];
        out[2 * i + 1] = hex[h[i] & 15];
    }
    out[64] = '\0';
}

const char *ck_store_name(const struct ck_store *s)
{
    return s->name;
}

static int check(struct ck_store *s, const char *key, struct ck_err *e)
{
    if (ck_store_key_check(key, 0, e) != 0)
        return ck_wrap(e, "%s", s->name);
    return 0;
}

int ck_store_get(struct ck_store *s, const char *key, size_t max, char **data, size_t *len,
                 char *etag, size_t etag_cap, struct ck_err *e)
{
    *data = NULL;
    *len = 0;
    if (etag != NULL && etag_cap > 0)
        etag[0] = '\0';
    if (check(s, key, e) != 0)
        return -1;
    return s->ops->get(s, key, max, data, len, etag, etag_cap, e);
}

int ck_store_put(struct ck_store *s, const char *key, const void *data, size_t len,
                 struct ck_err *e)
{
    if (check(s, key, e) != 0)
        return -1;
    return s->ops->put(s, key, data, len, NULL, NULL, 0, e);
}

int ck_store_put_if_absent(struct ck_store *s, const char *key, const void *data, size_t len,
                           char *etag_out, size_t etag_cap, struct ck_err *e)
{
    if (check(s, key, e) != 0)
        return -1;
    return s->ops->put(s, key, data, len, "*", etag_out, etag_cap, e);
}

int ck_store_put_if_match(struct ck_store *s, const char *key, const void *data, size_t len,
                          const char *etag, char *etag_out, size_t etag_cap, struct ck_err *e)
{
    if (check(s, key, e) != 0)
        return -1;
    if (etag == NULL || etag[0] == '\0' || strcmp(etag, "*") == 0 ||
        strlen(etag) >= CK_STORE_ETAG_MAX || strpbrk(etag, "\r\n") != NULL)
        return ck_failk(e, CK_E_USAGE, "%s: %s: bad etag for a conditional put", s->name, key);
    return s->ops->put(s, key, data, len, etag, etag_out, etag_cap, e);
}

int ck_store_delete(struct ck_store *s, const char *key, struct ck_err *e)
{
    if (check(s, key, e) != 0)
        return -1;
    return s->ops->del(s, key, e);
}

int ck_store_list(struct ck_store *s, const char *prefix, char ***keys, size_t *n,
                  struct ck_err *e)
{
    *keys = NULL;
    *n = 0;
    if (prefix == NULL)
        prefix = "";
    if (ck_store_key_check(prefix, 1, e) != 0)
        return ck_wrap(e, "%s", s->name);
    return s->ops->list(s, prefix, keys, n, e);
}

void ck_store_keys_free(char **keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

void ck_store_close(struct ck_store *s)
{
    if (s != NULL)
        s->ops->close(s);
}

/* Credentials */

static const char *env_get(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* A printable single value: what every AWS credential is. */
static int cred_set(char **dst, const char *v, size_t n, const char *what, struct ck_err *e)
{
    while (n > 0 && (v[n - 1] == '\n' || v[n - 1] == '\r' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return ck_failk(e, CK_E_USAGE, "s3 credentials: %s is empty", what);
    if (n > CRED_MAX)
        return ck_failk(e, CK_E_USAGE, "s3 credentials: %s is longer than %d bytes", what, CRED_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f)
            return ck_failk(e, CK_E_USAGE, "s3 credentials: %s has a non-printable character", what);
    *dst = malloc(n + 1);
    if (*dst == NULL)
        return ck_fail(e, "s3 credentials: out of memory");
    memcpy(*dst, v, n);
    (*dst)[n] = '\0';
    return 0;
}

static int cred_file(char **dst, const char *path, struct ck_err *e)
{
    char *d = NULL;
    size_t n = 0;
    int rc = ck_fs_read(path, CRED_MAX + 64, &d, &n, e);
    if (rc == 1)
        return ck_failk(e, CK_E_USAGE, "s3 credentials: %s does not exist", path);
    if (rc != 0)
        return ck_wrap(e, "s3 credentials");
    rc = cred_set(dst, d, n, path, e);
    ck_secret_free(d, n);
    return rc;
}

static int cred_one(char **dst, char *const envp[], const char *file, const char *var,
                    int required, struct ck_err *e)
{
    if (file != NULL)
        return cred_file(dst, file, e);
    const char *v = env_get(envp, var);
    if (v == NULL || v[0] == '\0')
        return required ? ck_failk(e, CK_E_USAGE, "s3 credentials: %s is not set", var) : 0;
    return cred_set(dst, v, strlen(v), var, e);
}

int ck_s3_creds_load(struct ck_s3_creds *c, char *const envp[], const char *access_key_file,
                     const char *secret_key_file, const char *session_token_file,
                     struct ck_err *e)
{
    memset(c, 0, sizeof *c);
    if (cred_one(&c->access_key, envp, access_key_file, "AWS_ACCESS_KEY_ID", 1, e) != 0 ||
        cred_one(&c->secret_key, envp, secret_key_file, "AWS_SECRET_ACCESS_KEY", 1, e) != 0 ||
        cred_one(&c->session_token, envp, session_token_file, "AWS_SESSION_TOKEN", 0, e) != 0) {
        ck_s3_creds_free(c);
        return -1;
    }
    if (strchr(c->access_key, ':') != NULL) {
        ck_s3_creds_free(c);
        return ck_failk(e, CK_E_USAGE, "s3 credentials: the access key id contains ':'");
    }
    return 0;
}

static void wipe_str(char **p)
{
    if (*p != NULL)
        ck_secret_free(*p, strlen(*p));
    *p = NULL;
}

void ck_s3_creds_free(struct ck_s3_creds *c)
{
    if (c == NULL)
        return;
    wipe_str(&c->access_key);
    wipe_str(&c->secret_key);
    wipe_str(&c->session_token);
}
