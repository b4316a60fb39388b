/* certkeep issue: a new certificate now, published only once it is checked. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../../lib/acme/acme.h"
#include "../../lib/cert/cert.h"
#include "../../lib/challenge/challenge.h"
#include "../../lib/crypto/crypto.h"
#include "../../lib/fs/fs.h"
#include "../../lib/http/http.h"
#include "cmd.h"

#define MAX_KEY_FILE (64 * 1024)
#define MAX_STATE_FILE (16 * 1024)

static int state_path(char *out, size_t cap, const struct ck_config *c, const char *file,
                      struct ck_err *e)
{
    int n = snprintf(out, cap, "%s/%s", c->state_dir, file);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "state directory path too long: %.64s...", c->state_dir);
    return 0;
}

/* <state>/account.key, created (0600) with account_key_type when absent. */
static int account_key(const struct ck_config *c, const struct ck_log *log, struct ck_key **out,
                       struct ck_err *e)
{
    char path[PATH_MAX], *pem = NULL;
    size_t len = 0;
    if (state_path(path, sizeof path, c, "account.key", e) ||
        ck_fs_mkdir_p(c->state_dir, 0700, e))
        return -1;
    int rc = ck_fs_read(path, MAX_KEY_FILE, &pem, &len, e);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        rc = ck_key_from_pem(pem, len, path, out, e);
        ck_secret_free(pem, len);
        if (!rc && ck_key_type(*out) != c->account_key_type)
            ck_info(log, "account.key", "%s is %s; keeping it (account_key_type %s applies to "
                    "new accounts)", path, ck_key_type_name(ck_key_type(*out)),
                    ck_key_type_name(c->account_key_type));
        return rc;
    }
    if (ck_key_generate(c->account_key_type, out, e) || ck_key_to_pem(*out, &pem, &len, e))
        goto fail;
    rc = ck_fs_write_atomic(path, pem, len, 0600, e);
    ck_secret_free(pem, len);
    if (rc)
        goto fail;
    ck_info(log, "account.key", "created %s (%s)", path, ck_key_type_name(c->account_key_type));
    return 0;
fail:
    ck_key_free(*out);
    *out = NULL;
    return -1;
}

/* <state>/account.json {"url":…,"directory":…}, rewritten only when it changes. */
static int save_account(const struct ck_config *c, const char *url, struct ck_err *e)
{
    char path[PATH_MAX], *old = NULL, *text = NULL;
    size_t old_len = 0;
    int rc = -1;
    cJSON *j = cJSON_CreateObject();
    if (state_path(path, sizeof path, c, "account.json", e))
        goto out;
    if (!j || !cJSON_AddStringToObject(j, "url", url) ||
        !cJSON_AddStringToObject(j, "directory", c->directory_url) ||
        !(text = cJSON_PrintUnformatted(j))) {
        ck_fail(e, "%s: out of memory", path);
        goto out;
    }
    int r = ck_fs_read(path, MAX_STATE_FILE, &old, &old_len, e);
    if (r == 0 && old_len == strlen(text) && !memcmp(old, text, old_len))
        rc = 0;
    else
        rc = ck_fs_write_atomic(path, text, strlen(text), 0600, e);
out:
    free(old);
    free(text);
    cJSON_Delete(j);
    return rc;
}

/* ---- solvers: lib/challenge behind struct ck_acme_solver ---- */

static int http01_present(void *ctx, const char *domain, const char *token,
                          const char *key_authz, struct ck_err *e)
{
    (void)domain;
    return ck_http01_add(ctx, token, key_authz, e);
}

static void http01_cleanup(void *ctx, const char *domain, const char *token,
                           const char *key_authz)
{
    (void)domain, (void)key_authz;
    ck_http01_remove(ctx, token);
}

struct webroot {
    const char *dir;
    const struct ck_log *log;
};

static int webroot_present(void *ctx, const char *domain, const char *token,
                           const char *key_authz, struct ck_err *e)
{
    const struct webroot *w = ctx;
    (void)domain;
    return ck_webroot_put(w->dir, token, key_authz, e);
}

static void webroot_cleanup(void *ctx, const char *domain, const char *token,
                            const char *key_authz)
{
    const struct webroot *w = ctx;
    struct ck_err e;
    (void)key_authz;
    if (ck_webroot_remove(w->dir, token, &e))
        ck_warn(w->log, "webroot", "%s: %s", domain, e.msg);
}

/* ---- the order's result ---- */

struct material {
    char *cert, *chain, *fullchain, *privkey;
    size_t cert_len, chain_len, fullchain_len, privkey_len;
};

static void material_free(struct material *m)
{
    free(m->cert);
    free(m->chain);
    free(m->fullchain);
    if (m->privkey)
        ck_secret_free(m->privkey, m->privkey_len);
    memset(m, 0, sizeof *m);
}

/* fullchain → cert (first block) + chain (the rest) + fullchain (both), re-encoded. */
static int split_chain(const struct ck_acme_cert *got, const struct ck_key *key,
                       struct material *m, struct ck_err *e)
{
    struct ck_der_list l = {0};
    int rc = -1;
    if (ck_pem_certs(got->fullchain_pem, got->fullchain_len, "issued certificate", &l, e))
        return -1;
    if (l.n < 2) {
        ck_fail(e, "issued certificate: the CA sent no chain (%zu certificate)", l.n);
        goto out;
    }
    if (ck_pem_append(&m->cert, &m->cert_len, "CERTIFICATE", l.items[0].data, l.items[0].len, e))
        goto out;
    for (size_t i = 1; i < l.n; i++)
        if (ck_pem_append(&m->chain, &m->chain_len, "CERTIFICATE", l.items[i].data,
                          l.items[i].len, e))
            goto out;
    m->fullchain_len = m->cert_len + m->chain_len;
    if (!(m->fullchain = malloc(m->fullchain_len + 1))) {
        ck_fail(e, "out of memory");
        goto out;
    }
    memcpy(m->fullchain, m->cert, m->cert_len);
    memcpy(m->fullchain + m->cert_len, m->chain, m->chain_len + 1);
    rc = ck_key_to_pem(key, &m->privkey, &m->privkey_len, e);
out:
    ck_der_list_free(&l);
    return rc;
}

/* Everything SPEC section 4 asks of the volume, checked before anything is published. */
static int verify(const struct ck_config *c, const struct material *m,
                  struct ck_cert_summary *sum, struct ck_err *e)
{
    struct ck_cert_want want = {
        .names = (const char *const *)c->domains,
        .n_names = c->n_domains,
        .key_type = c->key_type,
        .min_valid = (long)c->min_valid,
        .now = (int64_t)time(NULL),
    };
    if (ck_cert_check("issued certificate", m->fullchain, m->fullchain_len, m->privkey,
                      m->privkey_len, &want, sum, e))
        return -1;
    return 0;
}

static void log_issued(const struct ck_config *c, const struct ck_log *log,
                       const struct ck_cert_summary *sum)
{
    char names[512] = "", when[32];
    size_t used = 0;
    for (size_t i = 0; i < c->n_domains && used < sizeof names; i++) {
        int n = snprintf(names + used, sizeof names - used, "%s%s", i ? "," : "", c->domains[i]);
        if (n < 0 || (size_t)n >= sizeof names - used) {
            snprintf(names + sizeof names - 4, 4, "...");
            break;
        }
        used += (size_t)n;
    }
    ck_time_format(sum->not_after, when);
    ck_info(log, "issued", "issued %s serial %s notAfter %s → %s/%s", names, sum->serial_hex, when,
            c->out_dir, c->cert_name);
}

struct issue {
    struct ck_http *http;
    struct ck_acme *acme;
    struct ck_key *account, *cert_key;
    struct ck_http01 *http01;
    struct webroot webroot;
    struct ck_acme_solver solver;
    struct ck_acme_cert got;
    struct material m;
};

static int start_solver(const struct ck_config *c, const struct ck_log *log, struct issue *s,
                        struct ck_err *e)
{
    if (c->challenge == CK_CHALLENGE_DNS01)
        return ck_fail(e, "dns-01 is not implemented yet");
    s->solver.type = "http-01";
    if (c->webroot) {
        s->webroot = (struct webroot){c->webroot, log};
        s->solver.ctx = &s->webroot;
        s->solver.present = webroot_present;
        s->solver.cleanup = webroot_cleanup;
        return 0;
    }
    if (ck_http01_start(c->http01_listen, log, &s->http01, e))
        return -1;
    s->solver.ctx = s->http01;
    s->solver.present = http01_present;
    s->solver.cleanup = http01_cleanup;
    return 0;
}

static int issue(const struct ck_config *c, const struct ck_log *log, struct issue *s,
                 struct ck_err *e)
{
    struct ck_http_opts ho = {.ca_bundle = c->ca_bundle, .user_agent = "certkeep/" CK_VERSION};
    if (ck_http_new(&ho, &s->http, e) || account_key(c, log, &s->account, e))
        return -1;
    if (ck_key_generate(c->key_type, &s->cert_key, e))
        return -1;
    if (ck_key_same(s->account, s->cert_key))
        return ck_fail(e, "the certificate key is the account key; refusing");
    /* The solver first: a busy port fails before anything is asked of the CA. */
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .http = s->http, .log = log};
    if (start_solver(c, log, s, e) || ck_acme_new(&ao, &s->acme, e) ||
        ck_acme_account(s->acme, s->account, c->email, c->agree_tos, e) ||
        save_account(c, ck_acme_account_url(s->acme), e))
        return -1;
    struct ck_acme_order_req req = {
        .names = (const char *const *)c->domains,
        .n_names = c->n_domains,
        .profile = c->profile,
        .preferred_chain = c->preferred_chain,
        .cert_key = s->cert_key,
        .solver = &s->solver,
    };
    if (ck_acme_issue(s->acme, &req, &s->got, e))
        return -1;
    /* The responder is no longer needed; free the port before the disk work. */
    ck_http01_stop(s->http01);
    s->http01 = NULL;
    struct ck_cert_summary sum;
    if (split_chain(&s->got, s->cert_key, &s->m, e) || verify(c, &s->m, &sum, e))
        return -1;
    struct ck_cert_files f = {
        .fullchain = s->m.fullchain, .fullchain_len = s->m.fullchain_len,
        .cert = s->m.cert, .cert_len = s->m.cert_len,
        .chain = s->m.chain, .chain_len = s->m.chain_len,
        .privkey = s->m.privkey, .privkey_len = s->m.privkey_len,
    };
    if (ck_certdir_publish(c->out_dir, c->cert_name, &f, e))
        return -1;
    log_issued(c, log, &sum);
    return 0;
}

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct issue s;
    memset(&s, 0, sizeof s);
    if (ck_config_validate_for(c, "issue", e))
        return -1;
    int rc = issue(c, log, &s, e);
    ck_http01_stop(s.http01);
    material_free(&s.m);
    ck_acme_cert_free(&s.got);
    ck_acme_free(s.acme);
    ck_key_free(s.cert_key);
    ck_key_free(s.account);
    ck_http_free(s.http);
    return rc;
}
