/* The ACME account key: rollover, deactivation, and the pickup of a rolled-over key by
 * replicas. The account key is account.key in the store's accounts/<host>/ (else
 * <state>/); during a rollover the new key is first written as account.key.next,
 * so a stop between the CA's acceptance and the write of account.key loses
 * nothing: whoever finds the old key refused asks the CA whether it knows the
 * pending one, and makes it account.key when it does. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../acme/acme.h"
#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "../store/store.h"
#include "keeper.h"

#define MAX_KEY_FILE (64 * 1024)
#define KEY "account.key"
#define PENDING "account.key.next"
#define LEASE "account"  /* one rollover or deactivation at a time across replicas */

/* Where `file` of the account lives: the store key, or the path under <state>. */
static int where(const struct ck_config *c, struct ck_store *st, const char *file, char *out,
                 size_t cap, struct ck_err *e)
{
    int n;
    if (st) {
        if (ck_keeper_account_prefix(c, out, cap - strlen(file) - 2, e))
            return -1;
        n = snprintf(out + strlen(out), cap - strlen(out), "/%s", file);
    } else {
        n = snprintf(out, cap, "%s/%s", c->state_dir, file);
    }
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "%s: path too long", file);
    return 0;
}

static const char *place(const struct ck_config *c, struct ck_store *st)
{
    return st ? ck_store_name(st) : c->state_dir;
}

/* 0 read (*pem to be freed with ck_secret_free), CK_STORE_NOTFOUND, or -1. */
static int read_pem(const struct ck_config *c, struct ck_store *st, const char *file, char **pem,
                    size_t *len, struct ck_err *e)
{
    char path[PATH_MAX];
    if (where(c, st, file, path, sizeof path, e))
        return -1;
    if (st) {
        int rc = ck_store_get_secret(st, path, MAX_KEY_FILE, pem, len, e);
        return rc == CK_STORE_BADSEAL ? -1 : rc;
    }
    int rc = ck_fs_read_own(path, MAX_KEY_FILE, pem, len, e);
    return rc > 0 ? CK_STORE_NOTFOUND : rc;
}

static int write_pem(const struct ck_config *c, struct ck_store *st, const char *file,
                     const char *pem, size_t len, struct ck_err *e)
{
    char path[PATH_MAX];
    if (where(c, st, file, path, sizeof path, e))
        return -1;
    if (st)
        return ck_store_put_secret(st, path, pem, len, 0, e) ? ck_wrap(e, "%s", path) : 0;
    return ck_fs_mkdir_p(c->state_dir, 0700, e) || ck_fs_write_atomic(path, pem, len, 0600, e);
}

static int remove_file(const struct ck_config *c, struct ck_store *st, const char *file,
                       struct ck_err *e)
{
    char path[PATH_MAX];
    if (where(c, st, file, path, sizeof path, e))
        return -1;
    if (st)
        return ck_store_delete(st, path, e);
    if (unlink(path) != 0 && errno != ENOENT)
        return ck_failk(e, CK_E_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* The key in `file`: 0 (*key, and *pem when pem is not NULL), CK_STORE_NOTFOUND, -1. */
static int read_key(const struct ck_config *c, struct ck_store *st, const char *file,
                    struct ck_key **key, char **pem, size_t *pem_len, struct ck_err *e)
{
    char *text = NULL, path[PATH_MAX];
    size_t len = 0;
    int rc = read_pem(c, st, file, &text, &len, e);
    if (rc)
        return rc;
    if (where(c, st, file, path, sizeof path, e) || ck_key_from_pem(text, len, path, key, e)) {
        ck_secret_free(text, len);
        return -1;
    }
    if (pem) {
        *pem = text;
        *pem_len = len;
    } else {
        ck_secret_free(text, len);
    }
    return 0;
}

/* Short public thumbprint for log lines (never key material). */
static void thumb(const struct ck_key *k, char out[16])
{
    char t[44];
    struct ck_err e;
    if (ck_jwk_thumbprint(k, t, &e))
        snprintf(out, 16, "?");
    else
        snprintf(out, 16, "%.12s", t);
}

/* A pending key the CA knows becomes account.key: 1 done, 0 the CA does not know it
 * (it stays: a rollover may be under way), -1. */
static int promote(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                   struct ck_http *http, const struct ck_key *k, const char *pem, size_t len,
                   struct ck_err *e)
{
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .http = http, .log = log};
    struct ck_acme *a = NULL;
    int rc = ck_acme_new(&ao, &a, e) ? -1 : ck_acme_account_existing(a, k, e);
    ck_acme_free(a);
    if (rc == CK_ACME_NO_ACCOUNT)
        return 0;
    if (rc || write_pem(c, st, KEY, pem, len, e))
        return -1;
    struct ck_err le;
    if (remove_file(c, st, PENDING, &le))
        ck_warn(log, "account.key", "%s", le.msg);
    ck_info(log, "account.key", "finished an interrupted account key rollover: the CA knows "
            "the pending key, now %s in %s", KEY, place(c, st));
    return 1;
}

int ck_keeper_rekey(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                    struct ck_err *e)
{
    struct ck_keeper_rekey *r = ctx;
    const char *files[2] = {KEY, PENDING};
    char was[16], now[16];
    *newer = NULL;
    if (r->newer)  /* refused again after one reload: nothing more to try */
        return 0;
    thumb(refused, was);
    for (int i = 0; i < 2; i++) {
        struct ck_key *k = NULL;
        struct ck_err le;
        char *pem = NULL;
        size_t len = 0;
        int rc = read_key(r->c, r->st, files[i], &k, &pem, &len, &le);
        if (rc < 0)
            ck_warn(r->log, "account.key", "%s", le.msg);
        if (rc)
            continue;
        thumb(k, now);
        if (ck_key_same(k, refused) ||
            (i == 1 && promote(r->c, r->log, r->st, r->http, k, pem, len, &le) != 1) ||
            ck_signer_start(k, &le)) {
            ck_secret_free(pem, len);
            ck_key_free(k);
            continue;
        }
        ck_secret_free(pem, len);
        ck_info(r->log, "account.key", "the CA refuses account key %s (rolled over by another "
                "replica?); signing with the %s in %s (%s)", was, files[i], place(r->c, r->st),
                now);
        r->newer = k;
        *newer = k;
        return 0;
    }
    ck_wrap(e, "the CA refuses account key %s and %s holds no newer one", was, place(r->c, r->st));
    return 0;
}

void ck_keeper_rekey_free(struct ck_keeper_rekey *r)
{
    ck_key_free(r->newer);
    r->newer = NULL;
}

/* What both commands share: the lease (with a store), http, acme, the current key
 * and its account at the CA. */
struct acct {
    struct ck_keeper_store st;
    struct ck_lease *lease;
    struct ck_http *http;
    struct ck_acme *acme;
    struct ck_key *key;
};

static int acct_open(const struct ck_config *c, const struct ck_log *log, const char *what,
                     struct acct *x, struct ck_err *e)
{
    struct ck_http_opts ho = ck_keeper_http_opts(c, 0, 0);
    struct ck_lease_holder holder;
    char owner[128];
    if (ck_keeper_store_open(c, &x->st, e))
        return -1;
    if (x->st.store) {
        ck_keeper_lease_owner(owner, sizeof owner);
        int rc = ck_lease_acquire(x->st.store, LEASE, owner, CK_KEEPER_LEASE_TTL_S, &x->lease,
                                  &holder, e);
        if (rc)
            return rc < 0 ? ck_wrap(e, "taking the account lease")
                          : ck_wrap(e, "%s: another replica holds the account lease", what);
        ck_keeper_lease_overlong(c, log, &holder);
    }
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .log = log};
    if (ck_http_new(&ho, &x->http, e))
        return -1;
    ao.http = x->http;
    if (ck_acme_new(&ao, &x->acme, e) || ck_acme_directory(x->acme, e))
        return -1;
    char path[PATH_MAX], *pem = NULL;
    size_t len = 0;
    if (where(c, x->st.store, KEY, path, sizeof path, e))
        return -1;
    /* A pending key from a rollover cut short: the CA's word decides which one is current. */
    struct ck_key *p = NULL;
    int rc = read_key(c, x->st.store, PENDING, &p, &pem, &len, e);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        rc = promote(c, log, x->st.store, x->http, p, pem, len, e);
        ck_secret_free(pem, len);
        ck_key_free(p);
        if (rc < 0)
            return -1;
        if (rc == 0 && remove_file(c, x->st.store, PENDING, e))  /* we hold the lease */
            return -1;
    }
    rc = read_key(c, x->st.store, KEY, &x->key, NULL, NULL, e);
    if (rc == CK_STORE_NOTFOUND)
        return ck_fail(e, "%s: no account key at %s%s%s (no account yet: issue a certificate "
                       "first)", what, path, x->st.store ? " in " : "",
                       x->st.store ? ck_store_name(x->st.store) : "");
    if (rc)
        return -1;
    rc = ck_acme_account_existing(x->acme, x->key, e);
    if (rc == CK_ACME_NO_ACCOUNT)
        return ck_fail(e, "%s: the CA at %s knows no account for the key at %s", what,
                       c->directory_url, path);
    return rc;
}

static void acct_close(const struct ck_config *c, const struct ck_log *log, struct acct *x)
{
    struct ck_err re;
    ck_acme_free(x->acme);
    ck_http_free(x->http);
    ck_key_free(x->key);
    if (x->lease) {
        *c->proc->stop = 0;  /* the release must go out even after a signal */
        if (ck_lease_release(x->lease, &re))
            ck_warn(log, "lease", "releasing: %s", re.msg);
    }
    ck_keeper_store_close(&x->st);
}

/* The CA did not take the new key, or we could not hear that it did: asked again,
 * only a CA that does not know the key lets us drop it. 1 it has it, 0 not, -1 unknown. */
static int ca_has(const struct ck_config *c, const struct ck_log *log, struct ck_http *http,
                  const struct ck_key *k)
{
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .http = http, .log = log};
    struct ck_acme *a = NULL;
    struct ck_err e;
    int rc = ck_acme_new(&ao, &a, &e) ? -1 : ck_acme_account_existing(a, k, &e);
    ck_acme_free(a);
    return rc == 0 ? 1 : rc == CK_ACME_NO_ACCOUNT ? 0 : -1;
}

int ck_keeper_account_rollover(const struct ck_config *c, const struct ck_log *log,
                                struct ck_err *e)
{
    struct acct x = {0};
    struct ck_key *nk = NULL;
    char *pem = NULL, was[16], now[16], url[512];
    size_t len = 0;
    int rc = -1;
    if (acct_open(c, log, "account rollover", &x, e))
        goto out;
    struct ck_store *st = x.st.store;
    /* the same type as the key it replaces: a rollover changes the key, not the account's kind */
    if (ck_key_generate(ck_key_type(x.key), &nk, e) || ck_key_to_pem(nk, &pem, &len, e) ||
        write_pem(c, st, PENDING, pem, len, e) || ck_signer_start(nk, e))
        goto out;
    thumb(x.key, was);
    thumb(nk, now);
    snprintf(url, sizeof url, "%s", ck_acme_account_url(x.acme));
    if (ck_acme_key_change(x.acme, nk, e)) {
        int has = ca_has(c, log, x.http, nk);
        struct ck_err le;
        if (has == 0) {
            if (remove_file(c, st, PENDING, &le))
                ck_warn(log, "account.key", "%s", le.msg);
            goto out;
        }
        if (has < 0) {
            ck_wrap(e, "the new key stays pending as %s in %s, tried when the old one is refused",
                    PENDING, place(c, st));
            goto out;
        }
        ck_info(log, "account.key", "%s; yet the CA has the new key", e->msg);
    }
    if (write_pem(c, st, KEY, pem, len, e)) {
        ck_wrap(e, "the CA took the new key; it stays as %s in %s, taken up when the old one "
                "is refused", PENDING, place(c, st));
        goto out;
    }
    struct ck_err le;
    if (remove_file(c, st, PENDING, &le))
        ck_warn(log, "account.key", "%s", le.msg);
    ck_info(log, "account", "account %s rolled over from key %s to %s (%s, in %s)", url, was, now,
            ck_key_type_name(ck_key_type(nk)), place(c, st));
    rc = 0;
out:
    ck_secret_free(pem, len);
    ck_key_free(nk);
    acct_close(c, log, &x);
    return rc;
}

int ck_keeper_account_deactivate(const struct ck_config *c, const struct ck_log *log,
                                 struct ck_err *e)
{
    struct acct x = {0};
    char url[512];
    int rc = -1;
    if (acct_open(c, log, "account deactivate", &x, e))
        goto out;
    struct ck_store *st = x.st.store;
    snprintf(url, sizeof url, "%s", ck_acme_account_url(x.acme));
    if (ck_acme_deactivate(x.acme, e))
        goto out;
    /* its key is of no use any more: the next order makes a new key and account */
    if (remove_file(c, st, KEY, e) || remove_file(c, st, "account.json", e)) {
        ck_wrap(e, "account %s is deactivated, but its key is still in %s", url, place(c, st));
        goto out;
    }
    ck_info(log, "account", "account %s deactivated; its key is removed from %s, the next "
            "order creates a new account", url, place(c, st));
    rc = 0;
out:
    acct_close(c, log, &x);
    return rc;
}
