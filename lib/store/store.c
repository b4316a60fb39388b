#include "store.h"

#include <stdio.h>
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

int ck_store_put_etag(struct ck_store *s, const char *key, const void *data, size_t len,
                      char *etag_out, size_t etag_cap, struct ck_err *e)
{
    if (check(s, key, e) != 0)
        return -1;
    return s->ops->put(s, key, data, len, NULL, etag_out, etag_cap, e);
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
    if (s == NULL)
        return;
    for (size_t i = 0; i < 2; i++)
        ck_seal_key_wipe(&s->seal[i]);
    s->ops->close(s);
}

/* Sealing */

/* Probe */

int ck_store_cond_probe(struct ck_store *s, struct ck_err *e)
{
    if (s->cond != CK_STORE_COND_UNKNOWN)
        return 0;
    unsigned char r[8];
    char key[64], etag[CK_STORE_ETAG_MAX];
    static const char body[] = "certkeep: probing conditional writes; safe to delete\n";
    /* no ETag this server can have produced: quoted, and not hex */
    static const char wrong[] = "\"certkeep-probe-wrong-etag\"";
    if (ck_random(r, sizeof r, e) != 0)
        return -1;
    snprintf(key, sizeof key, "locks/probe-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3], r[4], r[5], r[6], r[7]);
    int rc = s->ops->put(s, key, body, sizeof body - 1, "*", etag, sizeof etag, e);
    if (rc == CK_STORE_CONFLICT) /* a random name: it cannot be there */
        return ck_failk(e, CK_E_PROTOCOL, "%s: a conditional create of the new object %s was "
                        "refused", s->name, key);
    if (rc != 0)
        return ck_wrap(e, "%s: probing conditional writes", s->name);
    /* each answer: 0 accepted, CK_STORE_CONFLICT refused, -1 failed */
    int again = s->ops->put(s, key, body, sizeof body - 1, "*", NULL, 0, e);
    int bad = again < 0 ? -1 : s->ops->put(s, key, body, sizeof body - 1, wrong, NULL, 0, e);
    int good = bad < 0 ? -1 : s->ops->put(s, key, body, sizeof body - 1, etag, NULL, 0, e);
    struct ck_err de;
    s->ops->del(s, key, &de); /* a probe left behind harms nothing */
    if (good < 0)
        return ck_wrap(e, "%s: probing conditional writes", s->name);
    if (again == CK_STORE_CONFLICT && bad == CK_STORE_CONFLICT && good == 0) {
        s->cond = CK_STORE_COND_HONOURED;
        return 0;
    }
    s->cond = CK_STORE_COND_IGNORED;
    const char *what = again == 0 && bad == 0 ? "a second create with If-None-Match: * and a "
                                                "write with a wrong If-Match ETag were accepted"
                       : again == 0 ? "a second create with If-None-Match: * was accepted"
                       : bad == 0   ? "a write with a wrong If-Match ETag was accepted"
                                    : "a write with the object's own If-Match ETag was refused";
    snprintf(s->cond_notice, sizeof s->cond_notice,
             "%.120s (%.80s) ignores conditional writes (%s): leases on it are read back "
             "after a random delay before issuing", s->endpoint, s->name, what);
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 32 raw bytes, or 64 hex digits (openssl rand -hex 32) and trailing blanks. */
static int seal_key_file(const char *path, struct ck_seal_key *k, struct ck_err *e)
{
    char *d = NULL;
    size_t n = 0;
    unsigned char raw[CK_SEAL_KEY_LEN];
    int rc = ck_fs_read(path, 256, &d, &n, e);
    if (rc == 1)
        return ck_failk(e, CK_E_USAGE, "store encryption key %s does not exist", path);
    if (rc != 0)
        return ck_wrap(e, "store encryption key");
    if (n == CK_SEAL_KEY_LEN) {
        memcpy(raw, d, n);
    } else {
        size_t m = n;
        while (m > 0 && (d[m - 1] == '\n' || d[m - 1] == '\r' || d[m - 1] == ' '))
            m--;
        rc = m == 2 * CK_SEAL_KEY_LEN ? 0 : -1;
        for (size_t i = 0; rc == 0 && i < CK_SEAL_KEY_LEN; i++) {
            int hi = hexval(d[2 * i]), lo = hexval(d[2 * i + 1]);
            if (hi < 0 || lo < 0)
                rc = -1;
            else
                raw[i] = (unsigned char)(hi << 4 | lo);
        }
        if (rc != 0)
            ck_failk(e, CK_E_USAGE,
                     "store encryption key %s: expected 32 bytes or 64 hex digits, not %zu bytes",
                     path, n);
    }
    if (rc == 0)
        ck_seal_key_init(k, raw);
    ck_secret_free(d, n);
    explicit_bzero(raw, sizeof raw);
    return rc;
}

int ck_store_seal(struct ck_store *s, const char *key_file, const char *old_key_file,
                  struct ck_err *e)
{
    s->n_seal = 0;
    if (seal_key_file(key_file, &s->seal[0], e) != 0)
        return -1;
    s->n_seal = 1;
    if (old_key_file == NULL)
        return 0;
    if (seal_key_file(old_key_file, &s->seal[1], e) != 0)
        return -1;
    s->n_seal = 2;
    return 0;
}

/* Seals with the current key what was stored plain or under the old key, if the
 * object is still the one read; on any failure the next read tries again. */
static void reseal(struct ck_store *s, const char *key, const char *plain, size_t n,
                   const char *etag)
{
    unsigned char *sealed = NULL;
    size_t sl = 0;
    struct ck_err ignored;
    if (etag[0] != '\0' && ck_seal(&s->seal[0], key, plain, n, &sealed, &sl, &ignored) == 0)
        s->ops->put(s, key, sealed, sl, etag, NULL, 0, &ignored);
    free(sealed);
}

int ck_store_get_secret(struct ck_store *s, const char *key, size_t max, char **data,
                        size_t *len, struct ck_err *e)
{
    char *raw = NULL, etag[CK_STORE_ETAG_MAX];
    size_t n = 0;
    int rc = ck_store_get(s, key, max + CK_SEAL_OVERHEAD, &raw, &n, etag, sizeof etag, e);
    if (rc != 0)
        return rc;
    if (ck_sealed(raw, n)) {
        if (s->n_seal == 0)
            rc = ck_failk(e, CK_E_USAGE, "%s: %s is sealed; set store.encryption_key_file",
                          s->name, key);
        else if (ck_seal_open(s->seal, s->n_seal, key, raw, n, data, len, e) != 0)
            rc = e->kind == CK_E_USAGE ? ck_wrap(e, "%s", s->name)
                                       : (ck_wrap(e, "%s", s->name), CK_STORE_BADSEAL);
        else if (!ck_sealed_by(&s->seal[0], raw, n))
            reseal(s, key, *data, *len, etag);
        free(raw); /* ciphertext */
        return rc;
    }
    if (n > max) {
        ck_secret_free(raw, n);
        return ck_fail(e, "%s: %s is larger than %zu bytes", s->name, key, max);
    }
    if (s->n_seal > 0)
        reseal(s, key, raw, n, etag);
    *data = raw;
    *len = n;
    return 0;
}

int ck_store_put_secret(struct ck_store *s, const char *key, const void *data, size_t len,
                        int if_absent, struct ck_err *e)
{
    if (s->n_seal == 0)
        return if_absent ? ck_store_put_if_absent(s, key, data, len, NULL, 0, e)
                         : ck_store_put(s, key, data, len, e);
    unsigned char *sealed = NULL;
    size_t sl = 0;
    if (check(s, key, e) != 0)
        return -1;
    if (ck_seal(&s->seal[0], key, data, len, &sealed, &sl, e) != 0)
        return ck_wrap(e, "%s", s->name);
    int rc = s->ops->put(s, key, sealed, sl, if_absent ? "*" : NULL, NULL, 0, e);
    free(sealed);
    return rc;
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

/* Trims blanks at both ends of [*b, *end). */
static void trim(const char **b, const char **end)
{
    while (*b < *end && (**b == ' ' || **b == '\t'))
        (*b)++;
    while (*end > *b && ((*end)[-1] == ' ' || (*end)[-1] == '\t' || (*end)[-1] == '\r'))
        (*end)--;
}

/* Sets the credential named by `k` (other keys are ignored). */
static int ini_pair(struct ck_s3_creds *c, const char *k, size_t kl, const char *v, size_t vl,
                    const char *path, struct ck_err *e)
{
    static const char *const names[] = { "aws_access_key_id", "aws_secret_access_key",
                                         "aws_session_token" };
    char **dst[] = { &c->access_key, &c->secret_key, &c->session_token };
    for (size_t i = 0; i < 3; i++) {
        if (kl != strlen(names[i]) || memcmp(k, names[i], kl) != 0)
            continue;
        if (*dst[i] != NULL)
            return ck_failk(e, CK_E_USAGE, "s3 credentials: %s: %s given twice", path, names[i]);
        if (cred_set(dst[i], v, vl, names[i], e) != 0)
            return ck_wrap(e, "%s", path);
    }
    return 0;
}

/* The shared credentials file (INI): [profile] then "key = value" lines. */
static int shared_file(struct ck_s3_creds *c, const char *path, const char *profile,
                       int must_exist, struct ck_err *e)
{
    char *d = NULL;
    size_t n = 0;
    int rc = ck_fs_read(path, 64 << 10, &d, &n, e);
    if (rc == 1)
        return must_exist ? ck_failk(e, CK_E_USAGE, "s3 credentials: %s does not exist", path)
                          : ck_failk(e, CK_E_USAGE,
                                     "s3 credentials: set AWS_ACCESS_KEY_ID and "
                                     "AWS_SECRET_ACCESS_KEY, key files, or %s",
                                     path);
    if (rc != 0)
        return ck_wrap(e, "s3 credentials");
    size_t pl = strlen(profile);
    int in = 0;
    rc = 0;
    for (const char *l = d, *end = d + n; rc == 0 && l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        const char *b = l, *le = nl ? nl : end;
        l = nl ? nl + 1 : end;
        trim(&b, &le);
        if (b == le || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *nb = b + 1, *ne = le - 1;
            if (le - b < 2 || *ne != ']') {
                rc = ck_failk(e, CK_E_USAGE, "s3 credentials: %s: malformed section line", path);
                break;
            }
            trim(&nb, &ne);
            in = (size_t)(ne - nb) == pl && memcmp(nb, profile, pl) == 0;
            continue;
        }
        const char *eq = memchr(b, '=', (size_t)(le - b));
        if (!in || eq == NULL)
            continue;
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = le;
        trim(&kb, &ke);
        trim(&vb, &ve);
        rc = ini_pair(c, kb, (size_t)(ke - kb), vb, (size_t)(ve - vb), path, e);
    }
    ck_secret_free(d, n);
    if (rc == 0 && (c->access_key == NULL || c->secret_key == NULL))
        rc = ck_failk(e, CK_E_USAGE,
                      "s3 credentials: %s: profile [%.64s] lacks aws_access_key_id or "
                      "aws_secret_access_key",
                      path, profile);
    return rc;
}

/* Used only when neither key files nor AWS_ACCESS_KEY_ID are given. */
static int shared_creds(struct ck_s3_creds *c, char *const envp[], struct ck_err *e)
{
    char path[4096];
    const char *f = env_get(envp, "AWS_SHARED_CREDENTIALS_FILE");
    const char *home = env_get(envp, "HOME");
    const char *profile = env_get(envp, "AWS_PROFILE");
    if (profile == NULL || profile[0] == '\0')
        profile = "default";
    if (f != NULL && f[0] != '\0')
        return shared_file(c, f, profile, 1, e);
    int n = snprintf(path, sizeof path, "%s/.aws/credentials", home ? home : "");
    if (home == NULL || home[0] == '\0' || n < 0 || (size_t)n >= sizeof path)
        return ck_failk(e, CK_E_USAGE,
                        "s3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or key "
                        "files");
    return shared_file(c, path, profile, 0, e);
}

int ck_s3_creds_load(struct ck_s3_creds *c, char *const envp[], const char *access_key_file,
                     const char *secret_key_file, const char *session_token_file,
                     struct ck_err *e)
{
    memset(c, 0, sizeof *c);
    const char *id = env_get(envp, "AWS_ACCESS_KEY_ID");
    int rc = 0;
    if (access_key_file == NULL && secret_key_file == NULL && (id == NULL || id[0] == '\0'))
        rc = shared_creds(c, envp, e);
    else if (cred_one(&c->access_key, envp, access_key_file, "AWS_ACCESS_KEY_ID", 1, e) != 0 ||
             cred_one(&c->secret_key, envp, secret_key_file, "AWS_SECRET_ACCESS_KEY", 1, e) != 0 ||
             cred_one(&c->session_token, envp, session_token_file, "AWS_SESSION_TOKEN", 0, e) != 0)
        rc = -1;
    if (rc == 0 && strchr(c->access_key, ':') != NULL)
        rc = ck_failk(e, CK_E_USAGE, "s3 credentials: the access key id contains ':'");
    if (rc != 0)
        ck_s3_creds_free(c);
    return rc;
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
