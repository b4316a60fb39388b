/* Revocation (`certkeep revoke`): the volume's certificate is revoked at the CA with the
 * account key, then marked revoked (certs/<name>/revoked/<serial>.json in the
 * store and under the state directory) so that init and run refuse it ("revoked")
 * wherever a copy is found and issue a new one. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../acme/acme.h"
#include "../fs/fs.h"
#include "../http/http.h"
#include "../store/store.h"
#include "keeper.h"

static int mark_rel(const char *serial, char *out, size_t cap)
{
    int n = snprintf(out, cap, "revoked/%s.json", serial);
    return n > 0 && (size_t)n < cap && *serial ? 0 : -1;
}

int ck_keeper_revoked(const struct ck_config *c, struct ck_store *st, const char *serial)
{
    char rel[128], path[PATH_MAX], key[CK_STORE_KEY_MAX + 1], *data = NULL;
    size_t len = 0;
    struct ck_err e;
    if (!serial || mark_rel(serial, rel, sizeof rel))
        return 0;
    if (ck_keeper_local_path(c, rel, path, sizeof path, &e) == 0 && access(path, F_OK) == 0)
        return 1;
    int n = snprintf(key, sizeof key, "certs/%s/%s", c->cert_name, rel);
    if (!st || n < 0 || (size_t)n >= sizeof key ||
        ck_store_get(st, key, 4096, &data, &len, NULL, 0, &e) != 0)
        return 0;
    free(data);
    return 1;
}

/* The mark in the store (when st is set) and in the state directory; the store's
 * is the one every replica sees, so without a store the state directory's must hold. */
int ck_keeper_mark_revoked(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                           const char *serial, int reason, struct ck_err *e)
{
    char rel[128], path[PATH_MAX], key[CK_STORE_KEY_MAX + 1], text[256];
    struct ck_err le;
    if (mark_rel(serial, rel, sizeof rel))
        return ck_fail(e, "serial %.70s: too long", serial);
    int len = snprintf(text, sizeof text, "{\"serial\":\"%s\",\"reason\":%d,\"revoked_at\":%lld}",
                       serial, reason, (long long)time(NULL));
    if (st) {
        snprintf(key, sizeof key, "certs/%s/%s", c->cert_name, rel);
        if (ck_store_put(st, key, text, (size_t)len, e))
            return ck_wrap(e, "revoked at the CA, but not marked in %s", ck_store_name(st));
    }
    int rc = ck_keeper_local_path(c, "revoked", path, sizeof path, &le) ||
             ck_fs_mkdir_p(path, 0700, &le) ||
             ck_keeper_local_path(c, rel, path, sizeof path, &le) ||
             ck_fs_write_atomic(path, text, (size_t)len, 0600, &le);
    if (!rc)
        return 0;
    if (st) {
        ck_warn(log, "revoke", "%s (the store's mark holds)", le.msg);
        return 0;
    }
    *e = le;
    return ck_wrap(e, "revoked at the CA, but not marked in the state directory");
}

/* Revokes der at the CA with the account's key; "alreadyRevoked" is done too. */
static int revoke_at_ca(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                        const unsigned char *der, size_t len, int reason, struct ck_err *e)
{
    struct ck_http_opts ho = ck_keeper_http_opts(c, 0, 0);
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .log = log,
                              .eab_kid = c->eab_kid, .eab_key_file = c->eab_key_file};
    struct ck_http *h = NULL;
    struct ck_acme *a = NULL;
    struct ck_key *key = NULL;
    int rc = -1;
    struct ck_keeper_rekey rk = {.c = c, .log = log, .st = st};
    if (ck_keeper_account_key(c, log, st, 0, &key, e) || ck_http_new(&ho, &h, e))
        goto out;
    ao.http = rk.http = h;
    ao.key_refused = ck_keeper_rekey;  /* a key rolled over meanwhile, or a rollover cut short */
    ao.key_refused_ctx = &rk;
    if (ck_acme_new(&ao, &a, e) || ck_acme_directory(a, e) ||
        ck_acme_account(a, key, c->email, c->agree_tos, e))
        goto out;
    rc = ck_acme_revoke(a, der, len, reason, e);
    if (rc && strstr(e->msg, "alreadyRevoked")) {
        ck_info(log, "revoke", "the CA says it is already revoked");
        rc = 0;
    }
out:
    ck_acme_free(a);
    ck_keeper_rekey_free(&rk);
    ck_http_free(h);
    ck_key_free(key);
    return rc;
}

int ck_keeper_revoke(const struct ck_config *c, const struct ck_log *log, int reason,
                     struct ck_err *e)
{
    struct ck_keeper_store st = {0};
    struct ck_bundle b = {0};
    struct ck_der_list l = {0};
    struct ck_cert_info ci;
    char serial[65] = "";
    int rc, parsed = 0;
    rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &b, e);
    if (rc == CK_BUNDLE_ABSENT)
        return ck_fail(e, "revoke: no certificate at %s/%s", c->out_dir, c->cert_name);
    if (rc)
        return ck_wrap(e, "revoke");
    rc = -1;
    if (ck_pem_certs(b.fullchain, b.fullchain_len, "volume: fullchain.pem", &l, e))
        goto out;
    if (l.n == 0) {
        ck_fail(e, "volume: fullchain.pem holds no certificate");
        goto out;
    }
    if (ck_cert_parse(l.items[0].data, l.items[0].len, &ci, e))
        goto out;
    parsed = 1;
    for (size_t i = 0; i < ci.serial_len && i < 32; i++)  /* as ck_cert_summary's serial_hex */
        snprintf(serial + 2 * i, 3, "%02x", ci.serial[i]);
    if (ck_keeper_store_open(c, &st, e) ||
        revoke_at_ca(c, log, st.store, l.items[0].data, l.items[0].len, reason, e) ||
        ck_keeper_mark_revoked(c, log, st.store, serial, reason, e))
        goto out;
    ck_info(log, "revoke", "serial %s revoked (reason %d); init and run refuse it from now on "
            "and issue a new certificate (a running `certkeep run` looks again on SIGUSR1)",
            serial, reason);
    rc = 0;
out:
    if (rc)
        ck_wrap(e, "revoke");
    if (parsed)
        ck_cert_info_free(&ci);
    ck_der_list_free(&l);
    ck_bundle_free(&b);
    ck_keeper_store_close(&st);
    return rc;
}
