#include "bundle.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../fs/fs.h"

static const char *const FILES[4] = {"fullchain.pem", "cert.pem", "chain.pem", "privkey.pem"};

static char **slot(struct ck_bundle *b, int i, size_t **len)
{
    switch (i) {
    case 0: *len = &b->fullchain_len; return &b->fullchain;
    case 1: *len = &b->cert_len; return &b->cert;
    case 2: *len = &b->chain_len; return &b->chain;
    default: *len = &b->privkey_len; return &b->privkey;
    }
}

void ck_bundle_free(struct ck_bundle *b)
{
    if (!b)
        return;
    free(b->fullchain);
    free(b->cert);
    free(b->chain);
    if (b->privkey)
        ck_secret_free(b->privkey, b->privkey_len);
    memset(b, 0, sizeof *b);
}

void ck_bundle_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char h[32];
    ck_sha256(data, n, h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int ck_bundle_from_fullchain(const char *fullchain, size_t fullchain_len, const char *privkey,
                             size_t privkey_len, struct ck_bundle *b, struct ck_err *e)
{
    struct ck_der_list l = {0};
    int rc = -1;
    memset(b, 0, sizeof *b);
    if (ck_pem_certs(fullchain, fullchain_len, "fullchain.pem", &l, e))
        return -1;
    if (l.n < 2) {
        ck_fail(e, "fullchain.pem: no chain after the certificate (%zu certificate)", l.n);
        goto out;
    }
    if (ck_pem_append(&b->cert, &b->cert_len, "CERTIFICATE", l.items[0].data, l.items[0].len, e))
        goto out;
    for (size_t i = 1; i < l.n; i++)
        if (ck_pem_append(&b->chain, &b->chain_len, "CERTIFICATE", l.items[i].data,
                          l.items[i].len, e))
            goto out;
    b->fullchain_len = b->cert_len + b->chain_len;
    b->fullchain = malloc(b->fullchain_len + 1);
    b->privkey = malloc(privkey_len + 1);
    if (!b->fullchain || !b->privkey) {
        ck_fail(e, "out of memory");
        goto out;
    }
    memcpy(b->fullchain, b->cert, b->cert_len);
    memcpy(b->fullchain + b->cert_len, b->chain, b->chain_len + 1);
    memcpy(b->privkey, privkey, privkey_len);
    b->privkey[privkey_len] = '\0';
    b->privkey_len = privkey_len;
    rc = 0;
out:
    ck_der_list_free(&l);
    if (rc)
        ck_bundle_free(b);
    return rc;
}

int ck_bundle_consistent(const struct ck_bundle *b, const char *where, struct ck_err *e)
{
    if (b->cert_len == 0) {
        ck_fail(e, "%s: cert.pem is empty", where);
        return 1;
    }
    if (b->chain_len == 0) {
        ck_fail(e, "%s: chain.pem is empty", where);
        return 1;
    }
    if (b->fullchain_len != b->cert_len + b->chain_len ||
        memcmp(b->fullchain, b->cert, b->cert_len) ||
        memcmp(b->fullchain + b->cert_len, b->chain, b->chain_len)) {
        ck_fail(e, "%s: fullchain.pem is not cert.pem followed by chain.pem", where);
        return 1;
    }
    return 0;
}

/* ---- record ---- */

void ck_bundle_record_free(struct ck_bundle_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_names; i++)
        free(r->names[i]);
    free(r->names);
    memset(r, 0, sizeof *r);
}

static int is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static int printable(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

static int names_copy(struct ck_bundle_record *r, const char *const *names, size_t n,
                      struct ck_err *e)
{
    if (n == 0 || n > CK_BUNDLE_MAX_NAMES)
        return ck_fail(e, "record: %zu names (1..%d)", n, CK_BUNDLE_MAX_NAMES);
    if (!(r->names = calloc(n, sizeof *r->names)))
        return ck_fail(e, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!printable(names[i], 253) || !names[i][0])
            return ck_fail(e, "record: name %zu is not a DNS name", i + 1);
        if (!(r->names[i] = strdup(names[i])))
            return ck_fail(e, "out of memory");
        r->n_names = i + 1;
    }
    return 0;
}

int ck_bundle_record_make(const struct ck_bundle *b, const struct ck_cert_summary *sum,
                          const char *const *names, size_t n_names, int64_t issued_at,
                          struct ck_bundle_record *r, struct ck_err *e)
{
    memset(r, 0, sizeof *r);
    if (!is_hex(sum->serial_hex, 1, 64)) {
        ck_fail(e, "record: certificate serial is not hex");
        goto fail;
    }
    if (names_copy(r, names, n_names, e))
        goto fail;
    snprintf(r->serial, sizeof r->serial, "%s", sum->serial_hex);
    snprintf(r->ari_id, sizeof r->ari_id, "%s", sum->ari_id);
    r->not_before = sum->not_before;
    r->not_after = sum->not_after;
    r->issued_at = issued_at;
    r->key_type = sum->key_type;
    ck_bundle_sha256_hex(b->fullchain, b->fullchain_len, r->fullchain_sha256);
    ck_bundle_sha256_hex(b->privkey, b->privkey_len, r->privkey_sha256);
    return 0;
fail:
    ck_bundle_record_free(r);
    return -1;
}

int ck_bundle_record_json(const struct ck_bundle_record *r, char **out, struct ck_err *e)
{
    cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray();
    int ok = o && names;
    if (ok)
        cJSON_AddItemToObject(o, "names", names);
    else
        cJSON_Delete(names);
    for (size_t i = 0; ok && i < r->n_names; i++) {
        cJSON *s = cJSON_CreateString(r->names[i]);
        ok = s && cJSON_AddItemToArray(names, s);
    }
    const char *kt = ck_key_type_name(r->key_type);
    ok = ok && cJSON_AddStringToObject(o, "serial", r->serial) &&
         cJSON_AddNumberToObject(o, "not_before", (double)r->not_before) &&
         cJSON_AddNumberToObject(o, "not_after", (double)r->not_after) &&
         cJSON_AddNumberToObject(o, "issued_at", (double)r->issued_at) &&
         cJSON_AddStringToObject(o, "key_type", kt ? kt : "none") &&
         cJSON_AddStringToObject(o, "ari_id", r->ari_id) &&
         cJSON_AddStringToObject(o, "fullchain_sha256", r->fullchain_sha256) &&
         cJSON_AddStringToObject(o, "privkey_sha256", r->privkey_sha256);
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!*out)
        return ck_fail(e, "record: out of memory");
    return 0;
}

/* A whole number of seconds in a sane range (JSON numbers are doubles). */
static int get_time(const cJSON *o, const char *key, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e11 ||
        v->valuedouble != (double)(int64_t)v->valuedouble)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

static const char *get_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ck_bundle_record_parse(const char *text, size_t len, const char *what,
                           struct ck_bundle_record *r, struct ck_err *e)
{
    memset(r, 0, sizeof *r);
    if (len > CK_BUNDLE_JSON_MAX)
        return ck_fail(e, "%s: %zu bytes is larger than %d", what, len, CK_BUNDLE_JSON_MAX);
    cJSON *o = cJSON_ParseWithLength(text, len);
    const char *bad = NULL;
    if (!cJSON_IsObject(o)) {
        bad = "not a JSON object";
        goto out;
    }
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "names");
    int n = cJSON_IsArray(names) ? cJSON_GetArraySize(names) : -1;
    if (n < 1 || n > CK_BUNDLE_MAX_NAMES) {
        bad = "names: expected an array of 1..100 names";
        goto out;
    }
    const char *list[CK_BUNDLE_MAX_NAMES];
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetArrayItem(names, i);
        if (!cJSON_IsString(s)) {
            bad = "names: expected strings";
            goto out;
        }
        list[i] = s->valuestring;
    }
    if (names_copy(r, list, (size_t)n, e)) {
        cJSON_Delete(o);
        ck_bundle_record_free(r);
        return ck_wrap(e, "%s", what);
    }
    const char *serial = get_str(o, "serial"), *kt = get_str(o, "key_type"),
               *ari = get_str(o, "ari_id"), *fh = get_str(o, "fullchain_sha256"),
               *ph = get_str(o, "privkey_sha256");
    struct ck_err ignored;
    if (!serial || !is_hex(serial, 1, 64))
        bad = "serial: expected 1..64 lower-case hex digits";
    else if (!kt || ck_key_type_parse(kt, &r->key_type, &ignored))
        bad = "key_type: expected rsa2048|rsa3072|rsa4096|p256|p384";
    else if (!ari || (ari[0] && !printable(ari, sizeof r->ari_id - 1)))
        bad = "ari_id: expected a short printable string";
    else if (!fh || !is_hex(fh, 64, 64) || !ph || !is_hex(ph, 64, 64))
        bad = "fullchain_sha256/privkey_sha256: expected 64 hex digits";
    else if (get_time(o, "not_before", &r->not_before) || get_time(o, "not_after", &r->not_after) ||
             get_time(o, "issued_at", &r->issued_at))
        bad = "not_before/not_after/issued_at: expected Unix seconds";
    else {
        snprintf(r->serial, sizeof r->serial, "%s", serial);
        snprintf(r->ari_id, sizeof r->ari_id, "%s", ari);
        memcpy(r->fullchain_sha256, fh, 65);
        memcpy(r->privkey_sha256, ph, 65);
    }
out:
    cJSON_Delete(o);
    if (bad) {
        ck_bundle_record_free(r);
        return ck_fail(e, "%s: %s", what, bad);
    }
    return 0;
}

/* ---- volume ---- */

int ck_bundle_read_volume(const char *out_dir, const char *name, struct ck_bundle *b,
                          struct ck_err *e)
{
    char link[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 32];
    memset(b, 0, sizeof *b);
    int n = snprintf(link, sizeof link, "%s/%s", out_dir, name);
    if (n < 0 || (size_t)n >= sizeof link) {
        ck_failk(e, CK_E_IO, "volume: path %.64s... too long", out_dir);
        return CK_BUNDLE_BROKEN;
    }
    /* Resolve once: every file then comes from the same version. */
    if (!realpath(link, dir)) {
        if (errno == ENOENT)
            return CK_BUNDLE_ABSENT;
        ck_failk(e, CK_E_IO, "volume: %s: %s", link, strerror(errno));
        return CK_BUNDLE_BROKEN;
    }
    struct stat st;
    if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
        ck_failk(e, CK_E_IO, "volume: %s is not a directory", link);
        return CK_BUNDLE_BROKEN;
    }
    for (int i = 0; i < 4; i++) {
        size_t *len;
        char **data = slot(b, i, &len);
        snprintf(path, sizeof path, "%s/%s", dir, FILES[i]);
        int rc = ck_fs_read(path, CK_BUNDLE_FILE_MAX, data, len, e);
        if (rc == 1)
            ck_failk(e, CK_E_IO, "volume: %s is missing", FILES[i]);
        if (rc == -1 && !strstr(e->msg, FILES[i]))
            ck_wrap(e, "volume: %s", FILES[i]);
        else if (rc == -1)
            ck_wrap(e, "volume");
        if (rc) {
            ck_bundle_free(b);
            return CK_BUNDLE_BROKEN;
        }
    }
    return 0;
}

int ck_bundle_publish(const char *out_dir, const char *name, const struct ck_bundle *b,
                      struct ck_err *e)
{
    struct ck_cert_files f = {
        .fullchain = b->fullchain, .fullchain_len = b->fullchain_len,
        .cert = b->cert, .cert_len = b->cert_len,
        .chain = b->chain, .chain_len = b->chain_len,
        .privkey = b->privkey, .privkey_len = b->privkey_len,
    };
    return ck_certdir_publish(out_dir, name, &f, e);
}

/* ---- store ---- */

static int key_of(char *out, size_t cap, const char *name, const char *serial, const char *file,
                  struct ck_err *e)
{
    int n = serial ? snprintf(out, cap, "certs/%s/%s/%s", name, serial, file)
                   : snprintf(out, cap, "certs/%s/%s", name, file);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "store: certificate name %.64s... too long", name);
    return 0;
}

int ck_bundle_store_record(struct ck_store *s, const char *name, struct ck_bundle_record *r,
                           struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1], *text = NULL;
    size_t len = 0;
    memset(r, 0, sizeof *r);
    if (key_of(key, sizeof key, name, NULL, "current.json", e))
        return -1;
    int rc = ck_store_get(s, key, CK_BUNDLE_JSON_MAX, &text, &len, NULL, 0, e);
    if (rc == CK_STORE_NOTFOUND)
        return CK_BUNDLE_ABSENT;
    if (rc)
        return -1;
    rc = ck_bundle_record_parse(text, len, "store: current.json", r, e);
    free(text);
    return rc ? CK_BUNDLE_BROKEN : 0;
}

/* One attempt. Same codes as ck_bundle_store_get; *mismatch set on a hash mismatch. */
static int store_get_once(struct ck_store *s, const char *name, struct ck_bundle *b,
                          struct ck_bundle_record *r, int *mismatch, struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1];
    *mismatch = 0;
    int rc = ck_bundle_store_record(s, name, r, e);
    if (rc)
        return rc;
    /* fullchain and privkey only: the hashes cover them, cert and chain follow from fullchain */
    char *full = NULL, *priv = NULL;
    size_t full_len = 0, priv_len = 0;
    char **data[2] = {&full, &priv};
    size_t *lens[2] = {&full_len, &priv_len};
    const char *files[2] = {"fullchain.pem", "privkey.pem"};
    for (int i = 0; i < 2; i++) {
        if (key_of(key, sizeof key, name, r->serial, files[i], e))
            goto fail;
        rc = i == 1 ? ck_store_get_secret(s, key, CK_BUNDLE_FILE_MAX, data[i], lens[i], e)
                    : ck_store_get(s, key, CK_BUNDLE_FILE_MAX, data[i], lens[i], NULL, 0, e);
        if (rc == CK_STORE_BADSEAL) {
            rc = CK_BUNDLE_BROKEN;
            goto out;
        }
        if (rc == CK_STORE_NOTFOUND) {
            *mismatch = 1; /* a writer may have replaced the version meanwhile */
            ck_fail(e, "store: %s is missing", key);
            rc = CK_BUNDLE_BROKEN;
            goto out;
        }
        if (rc)
            goto fail;
    }
    char fh[65], ph[65];
    ck_bundle_sha256_hex(full, full_len, fh);
    ck_bundle_sha256_hex(priv, priv_len, ph);
    if (strcmp(fh, r->fullchain_sha256) || strcmp(ph, r->privkey_sha256)) {
        *mismatch = 1;
        ck_fail(e, "store: certs/%s/%s does not match the hashes of current.json", name,
                r->serial);
        rc = CK_BUNDLE_BROKEN;
        goto out;
    }
    if (priv_len == 0) {
        ck_fail(e, "store: privkey.pem is empty");
        rc = CK_BUNDLE_BROKEN;
        goto out;
    }
    rc = 0;
    if (ck_bundle_from_fullchain(full, full_len, priv, priv_len, b, e)) {
        ck_wrap(e, "store");
        rc = CK_BUNDLE_BROKEN;
    }
    goto out;
fail:
    rc = -1;
out:
    free(full);
    if (priv)
        ck_secret_free(priv, priv_len);
    return rc;
}

int ck_bundle_store_get(struct ck_store *s, const char *name, struct ck_bundle *b,
                        struct ck_bundle_record *r, struct ck_err *e)
{
    struct ck_bundle_record mine;
    struct ck_bundle_record *rec = r ? r : &mine;
    int rc = -1, mismatch = 0;
    memset(b, 0, sizeof *b);
    memset(rec, 0, sizeof *rec);
    for (int attempt = 0; attempt < 2; attempt++) {
        ck_bundle_free(b);
        ck_bundle_record_free(rec);
        memset(rec, 0, sizeof *rec);
        rc = store_get_once(s, name, b, rec, &mismatch, e);
        if (rc != CK_BUNDLE_BROKEN || !mismatch)
            break;
    }
    if (rc) {
        ck_bundle_free(b);
        ck_bundle_record_free(rec);
    }
    if (rec == &mine)
        ck_bundle_record_free(&mine);
    return rc;
}

int ck_bundle_store_put(struct ck_store *s, const char *name, const struct ck_bundle *b,
                        const struct ck_bundle_record *r, struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1], *text = NULL;
    const char *data[4] = {b->fullchain, b->cert, b->chain, b->privkey};
    size_t len[4] = {b->fullchain_len, b->cert_len, b->chain_len, b->privkey_len};
    for (int i = 0; i < 4; i++)
        if (key_of(key, sizeof key, name, r->serial, FILES[i], e) ||
            (i == 3 ? ck_store_put_secret(s, key, data[i], len[i], 0, e)
                    : ck_store_put(s, key, data[i], len[i], e)))
            return -1;
    if (key_of(key, sizeof key, name, NULL, "current.json", e) ||
        ck_bundle_record_json(r, &text, e))
        return -1;
    int rc = ck_store_put(s, key, text, strlen(text), e);
    free(text);
    return rc;
}

/* ---- renewal state ---- */

int ck_bundle_state_json(const struct ck_bundle_state *st, char **out, struct ck_err *e)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "failures", st->failures) &&
             cJSON_AddNumberToObject(o, "last_failure", (double)st->last_failure) &&
             cJSON_AddNumberToObject(o, "next_retry", (double)st->next_retry) &&
             cJSON_AddStringToObject(o, "last_error", st->last_error);
    *out = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!*out)
        return ck_fail(e, "state: out of memory");
    return 0;
}

int ck_bundle_state_parse(const char *text, size_t len, const char *what,
                          struct ck_bundle_state *st, struct ck_err *e)
{
    memset(st, 0, sizeof *st);
    if (len > CK_BUNDLE_JSON_MAX)
        return ck_fail(e, "%s: %zu bytes is larger than %d", what, len, CK_BUNDLE_JSON_MAX);
    cJSON *o = cJSON_ParseWithLength(text, len);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "failures");
    const char *msg = get_str(o, "last_error");
    int64_t fails = 0;
    int ok = cJSON_IsObject(o) && cJSON_IsNumber(f) && get_time(o, "failures", &fails) == 0 &&
             fails <= 1000000 && get_time(o, "last_failure", &st->last_failure) == 0 &&
             get_time(o, "next_retry", &st->next_retry) == 0 && msg &&
             strlen(msg) < sizeof st->last_error;
    if (ok) {
        st->failures = (unsigned)fails;
        snprintf(st->last_error, sizeof st->last_error, "%s", msg);
        for (char *c = st->last_error; *c; c++) /* it reaches one-line output */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    }
    cJSON_Delete(o);
    if (!ok) {
        memset(st, 0, sizeof *st);
        return ck_fail(e, "%s: not a renewal state record", what);
    }
    return 0;
}

int ck_bundle_state_get(struct ck_store *s, const char *name, struct ck_bundle_state *st,
                        struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1], *text = NULL;
    size_t len = 0;
    memset(st, 0, sizeof *st);
    if (key_of(key, sizeof key, name, NULL, "state.json", e))
        return -1;
    int rc = ck_store_get(s, key, CK_BUNDLE_JSON_MAX, &text, &len, NULL, 0, e);
    if (rc == CK_STORE_NOTFOUND)
        return CK_BUNDLE_ABSENT;
    if (rc)
        return -1;
    rc = ck_bundle_state_parse(text, len, "store: state.json", st, e);
    free(text);
    return rc ? CK_BUNDLE_BROKEN : 0;
}

int ck_bundle_state_put(struct ck_store *s, const char *name, const struct ck_bundle_state *st,
                        struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1], *text = NULL;
    if (key_of(key, sizeof key, name, NULL, "state.json", e) || ck_bundle_state_json(st, &text, e))
        return -1;
    int rc = ck_store_put(s, key, text, strlen(text), e);
    free(text);
    return rc;
}
