/* A new certificate over ACME: the account (its key in the store or <state>), the
 * challenge solver, the order; checked before anything is written, then saved to the
 * store first and the volume after. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../acme/acme.h"
#include "../bundle/bundle.h"
#include "../cert/cert.h"
#include "../challenge/challenge.h"
#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "../http/http.h"
#include "../store/store.h"
#include "keeper.h"

#define MAX_KEY_FILE (64 * 1024)
#define MAX_STATE_FILE (16 * 1024)

static int state_path(char *out, size_t cap, const struct ck_config *c, const char *file,
                      struct ck_err *e)
{
    /* account: per-certificate: the certificate's own account, accounts/<name>/ */
    int account = c->account_name && !strncmp(file, "account.", 8);
    int n = snprintf(out, cap, "%s/%s%s%s%s", c->state_dir, account ? "accounts/" : "",
                     account ? c->account_name : "", account ? "/" : "", file);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "state directory path too long: %.64s...", c->state_dir);
    return 0;
}

/* Where the account lives in the store: accounts/<directory host>/. */
int ck_keeper_account_prefix(const struct ck_config *c, char *out, size_t cap, struct ck_err *e)
{
    const char *h = strstr(c->directory_url, "://");
    h = h ? h + 3 : c->directory_url;
    size_t n = strcspn(h, "/?#");
    if (n == 0 || n > 200)
        return ck_failk(e, CK_E_USAGE, "acme.directory %.80s: no host", c->directory_url);
    if ((size_t)snprintf(out, cap, "accounts/") >= cap || n + 10 > cap)
        return ck_fail(e, "account key path too long");
    size_t o = strlen(out);
    for (size_t i = 0; i < n; i++) {  /* a safe key part: host_port */
        char ch = h[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '-' || (ch == '.' && i > 0);
        out[o++] = ok ? ch : '_';
    }
    out[o] = '\0';
    if (c->account_name && (size_t)snprintf(out + o, cap - o, "/%s", c->account_name) >= cap - o)
        return ck_fail(e, "account key path too long");
    return 0;
}

/* The shared account key in the store; a new one is created with put_if_absent,
 * so replicas racing end with one key (the loser reads the winner's). *fresh: we made it. */
static int store_account_key(const struct ck_config *c, const struct ck_log *log,
                             struct ck_store *st, int create, struct ck_key **out, int *fresh,
                             struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1], *pem = NULL;
    size_t len = 0;
    if (ck_keeper_account_prefix(c, key, sizeof key - 16, e))
        return -1;
    strcat(key, "/account.key");
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc = ck_store_get_secret(st, key, MAX_KEY_FILE, &pem, &len, e);
        if (rc < 0 || rc == CK_STORE_BADSEAL)
            return ck_wrap(e, "account key");
        if (rc == 0) {
            rc = ck_key_from_pem(pem, len, key, out, e);
            ck_secret_free(pem, len);
            return rc;
        }
        if (!create)
            return ck_fail(e, "no account key %s in %s", key, ck_store_name(st));
        if (ck_key_generate(c->account_key_type, out, e) || ck_key_to_pem(*out, &pem, &len, e))
            goto fail;
        rc = ck_store_put_secret(st, key, pem, len, 1, e);
        ck_secret_free(pem, len);
        pem = NULL;
        if (rc == 0) {
            ck_info(log, "account.key", "created %s in %s (%s)", key, ck_store_name(st),
                    ck_key_type_name(c->account_key_type));
            *fresh = 1;
            return 0;
        }
        ck_key_free(*out);
        *out = NULL;
        if (rc < 0)
            return ck_wrap(e, "account key");
        /* CK_STORE_CONFLICT: another replica created it first; use theirs */
    }
    return ck_fail(e, "%s: account key vanished after a lost create race", key);
fail:
    ck_key_free(*out);
    *out = NULL;
    return -1;
}

/* A private key others can read is made 0600 (and said once); one we cannot fix is
 * refused. Through a descriptor: a symlink swapped in meanwhile chmods nothing else. */
static int tighten(const char *path, const struct ck_log *log, struct ck_err *e)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return ck_failk(e, CK_E_IO, "%s: %s", path, strerror(err));
    }
    int rc = 0;
    if ((st.st_mode & 077) != 0) {
        if (fchmod(fd, 0600) != 0)
            rc = ck_failk(e, CK_E_IO, "%s is readable by others (mode %03o) and chmod 0600 "
                          "failed: %s", path, (unsigned)(st.st_mode & 0777), strerror(errno));
        else
            ck_warn(log, "account.key", "%s was mode %03o; now 0600", path,
                    (unsigned)(st.st_mode & 0777));
    }
    close(fd);
    return rc;
}

/* <state>/account.key (or the store's), created (0600) with account_key_type when
 * absent and `create` is set; *fresh tells that it was (such a key has no account yet). */
static int account_key(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                       int create, struct ck_key **out, int *fresh, struct ck_err *e)
{
    char path[PATH_MAX], *pem = NULL;
    size_t len = 0;
    *fresh = 0;
    if (st)
        return store_account_key(c, log, st, create, out, fresh, e);
    if (state_path(path, sizeof path, c, "account.key", e))
        return -1;
    if (create) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        *strrchr(dir, '/') = '\0';
        if (ck_fs_mkdir_p(dir, 0700, e))
            return -1;
    }
    int rc = ck_fs_read_own(path, MAX_KEY_FILE, &pem, &len, e);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        rc = ck_key_from_pem(pem, len, path, out, e);
        ck_secret_free(pem, len);
        if (!rc && tighten(path, log, e))
            rc = -1;
        if (!rc && ck_key_type(*out) != c->account_key_type)
            ck_info(log, "account.key", "%s is %s; keeping it (account_key_type %s applies to "
                    "new accounts)", path, ck_key_type_name(ck_key_type(*out)),
                    ck_key_type_name(c->account_key_type));
        return rc;
    }
    if (!create)
        return ck_fail(e, "no account key at %s", path);
    if (ck_key_generate(c->account_key_type, out, e) || ck_key_to_pem(*out, &pem, &len, e))
        goto fail;
    rc = ck_fs_write_atomic(path, pem, len, 0600, e);
    ck_secret_free(pem, len);
    if (rc)
        goto fail;
    ck_info(log, "account.key", "created %s (%s)", path, ck_key_type_name(c->account_key_type));
    *fresh = 1;
    return 0;
fail:
    ck_key_free(*out);
    *out = NULL;
    return -1;
}

int ck_keeper_account_key(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                          int create, struct ck_key **out, struct ck_err *e)
{
    int fresh;
    return account_key(c, log, st, create, out, &fresh, e) || ck_signer_start(*out, e) ? -1 : 0;
}

static char *account_json(const struct ck_config *c, const char *url, struct ck_err *e)
{
    char *text = NULL;
    cJSON *j = cJSON_CreateObject();
    if (!j || !cJSON_AddStringToObject(j, "url", url) ||
        !cJSON_AddStringToObject(j, "directory", c->directory_url) ||
        (c->email && *c->email && !cJSON_AddStringToObject(j, "contact", c->email)) ||
        !(text = cJSON_PrintUnformatted(j)))
        ck_fail(e, "account.json: out of memory");
    cJSON_Delete(j);
    return text;
}

/* account.json from the store or <state> (path filled in): 0 read, 1 absent, -1 error. */
static int read_account(const struct ck_config *c, struct ck_store *st, char *path,
                        char **text, size_t *len, struct ck_err *e)
{
    if (st) {
        if (ck_keeper_account_prefix(c, path, PATH_MAX - 16, e))
            return -1;
        strcat(path, "/account.json");
        return ck_store_get(st, path, MAX_STATE_FILE, text, len, NULL, 0, e);
    }
    if (state_path(path, PATH_MAX, c, "account.json", e))
        return -1;
    return ck_fs_read(path, MAX_STATE_FILE, text, len, e);
}

/* The account URL account.json holds for this directory and contact, or NULL: then
 * the account is looked up (which also brings its contact up to date). */
static char *saved_account(const struct ck_config *c, struct ck_store *st)
{
    char path[PATH_MAX], *text = NULL, *url = NULL;
    size_t len = 0;
    struct ck_err e;
    if (read_account(c, st, path, &text, &len, &e) != 0)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "url"),
                *d = cJSON_GetObjectItemCaseSensitive(j, "directory"),
                *m = cJSON_GetObjectItemCaseSensitive(j, "contact");
    const char *want = c->email && *c->email ? c->email : NULL;
    if (cJSON_IsString(u) && cJSON_IsString(d) && !strcmp(d->valuestring, c->directory_url) &&
        (want ? cJSON_IsString(m) && !strcmp(m->valuestring, want) : m == NULL))
        url = strdup(u->valuestring);
    cJSON_Delete(j);
    free(text);
    return url;
}

/* account.json {"url":…,"directory":…,"contact":…} in the store or <state>, rewritten
 * only when it changes. */
static int save_account(const struct ck_config *c, struct ck_store *st, const char *url,
                        struct ck_err *e)
{
    char path[PATH_MAX], *old = NULL, *text = NULL;
    size_t old_len = 0;
    int rc = -1, r;
    if (!(text = account_json(c, url, e)))
        return -1;
    r = read_account(c, st, path, &old, &old_len, e);
    if (r < 0)
        goto out;
    if (r == 0 && old_len == strlen(text) && !memcmp(old, text, old_len))
        rc = 0;
    else if (st)
        rc = ck_store_put(st, path, text, strlen(text), e);
    else
        rc = ck_fs_write_atomic(path, text, strlen(text), 0600, e);
out:
    free(old);
    free(text);
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

/* Tokens put in the store and not yet removed, one a line, also in the state directory:
 * a replica killed mid-order removes them at its next order. */
struct central {
    struct ck_store *st;
    const struct ck_log *log;
    volatile sig_atomic_t *stop;
    char *text;
    size_t len;
    char pending[4096];
};

static void central_note(struct central *w, const char *token, int add)
{
    size_t n = strlen(token);
    struct ck_err e;
    char *t = add ? realloc(w->text, w->len + n + 2) : w->text;
    if (add && t) {
        memcpy(t + w->len, token, n);
        t[w->len + n] = '\n';
        w->len += n + 1;
        w->text = t;
    }
    for (char *p = add ? NULL : w->text; p && p < w->text + w->len; p = strchr(p, '\n') + 1)
        if (!strncmp(p, token, n) && p[n] == '\n') {
            memmove(p, p + n + 1, (size_t)(w->text + w->len - (p + n + 1)));
            w->len -= n + 1;
            break;
        }
    if (w->len ? ck_fs_write_atomic(w->pending, w->text, w->len, 0600, &e)
               : unlink(w->pending) && errno != ENOENT &&
                 ck_failk(&e, CK_E_IO, "%s: %s", w->pending, strerror(errno)))
        ck_warn(w->log, "http01.store", "%s", e.msg);
}

static int central_present(void *ctx, const char *domain, const char *token,
                           const char *key_authz, struct ck_err *e)
{
    (void)domain;
    central_note(ctx, token, 1);
    return ck_central_put(((struct central *)ctx)->st, token, key_authz, e);
}

static void central_cleanup(void *ctx, const char *domain, const char *token,
                            const char *key_authz)
{
    struct central *w = ctx;
    struct ck_err e;
    (void)key_authz;
    /* after SIGTERM too: the stop flag would abort the delete, so it waits for it */
    int stopped = *w->stop;
    if (stopped)
        *w->stop = 0;
    if (ck_central_remove(w->st, token, &e))
        ck_warn(w->log, "http01.store", "%s: %s", domain, e.msg);
    else
        central_note(w, token, 0);
    if (stopped)
        *w->stop = 1;
}

/* What a killed run left in the store: removed now (a failure is only logged). */
static int central_start(const struct ck_config *c, const struct ck_log *log,
                         struct ck_store *st, struct central *w, struct ck_err *e)
{
    char file[300], *text = NULL, *save = NULL;
    size_t len;
    struct ck_err re;
    *w = (struct central){.st = st, .log = log, .stop = c->proc->stop};
    snprintf(file, sizeof file, "http01-store-%s.pending", c->cert_name);
    if (state_path(w->pending, sizeof w->pending, c, file, e) ||
        ck_fs_mkdir_p(c->state_dir, 0700, e))
        return -1;
    if (ck_fs_read(w->pending, 1 << 20, &text, &len, &re))
        return 0;
    for (char *t = strtok_r(text, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        if (ck_central_remove(st, t, &re))
            ck_warn(log, "http01.store", "left by an earlier run: %s", re.msg);
        else
            ck_info(log, "http01.store", "removed a token an earlier run left in the store");
    free(text);
    central_note(w, "", 0); /* the list is empty now: the file goes */
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
    char *saved_account;  /* URL from account.json, or NULL */
    struct ck_http *http;
    struct ck_acme *acme;
    struct ck_key *account, *cert_key;
    struct ck_http01 *http01;
    struct ck_dns01 *dns01;
    struct ck_tlsalpn01 *tlsalpn01;
    struct webroot webroot;
    struct central central;
    struct ck_acme_solver solver;
    struct ck_acme_cert got;
    struct ck_keeper_rekey rekey;
};

static int start_solver(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                        struct issue *s, struct ck_err *e)
{
    if (c->http01_store) {
        if (!st)
            return ck_fail(e, "challenge.http01_store: no store to put the tokens in (it is "
                              "unreachable); nothing was ordered");
        if (central_start(c, log, st, &s->central, e))
            return -1;
        s->solver = (struct ck_acme_solver){"http-01", &s->central, central_present, NULL,
                                            central_cleanup};
        return 0;
    }
    if (c->challenge == CK_CHALLENGE_DNS01) {
        char pending[4096], file[300];
        snprintf(file, sizeof file, "dns01-%s.pending", c->cert_name);
        if (state_path(pending, sizeof pending, c, file, e) ||
            ck_fs_mkdir_p(c->state_dir, 0700, e))
            return -1;
        struct ck_dns01_opts o = {
            .pending_file = pending,
            .server = c->rfc2136_server, .tsig_key = c->tsig_key,
            .tsig_secret_file = c->tsig_secret_file, .tsig_alg = (int)c->tsig_alg,
            .zone = c->rfc2136_zone, .hook = c->dns_hook, .resolver = c->dns_resolver,
            .server_only = c->dns_propagation == 1,
            .propagation_timeout_s = (long)c->dns_propagation_timeout,
        };
        if (ck_dns01_start(&o, (const char *const *)c->domains, c->n_domains, log, &s->dns01, e))
            return -1;
        s->solver = (struct ck_acme_solver){"dns-01", s->dns01, ck_dns01_present,
                                            ck_dns01_ready, ck_dns01_cleanup};
        return 0;
    }
    if (c->challenge == CK_CHALLENGE_TLSALPN01) {
        if (ck_tlsalpn01_start(c->tlsalpn01_listen, log, &s->tlsalpn01, e))
            return -1;
        s->solver = (struct ck_acme_solver){"tls-alpn-01", s->tlsalpn01, ck_tlsalpn01_present,
                                            NULL, ck_tlsalpn01_cleanup};
        return 0;
    }
    s->solver.type = "http-01";
    /* A webroot alone means no listening; with a listen address set too, listen
     * when the port is free (the app is not up yet), else the webroot. */
    const char *listen = c->webroot && !c->http01_listen_set ? NULL : c->http01_listen;
    if (ck_http01_pick(listen, c->webroot, log, &s->http01, e))
        return -1;
    if (!s->http01) {
        s->webroot = (struct webroot){c->webroot, log};
        s->solver.ctx = &s->webroot;
        s->solver.present = webroot_present;
        s->solver.cleanup = webroot_cleanup;
        return 0;
    }
    s->solver.ctx = s->http01;
    s->solver.present = http01_present;
    s->solver.cleanup = http01_cleanup;
    return 0;
}

/* The account key (its signer started) and the account at the CA. */
static int account_setup(const struct ck_config *c, const struct ck_log *log,
                         struct ck_store *st, struct issue *s, struct ck_err *e)
{
    int fresh;
    if (account_key(c, log, st, 1, &s->account, &fresh, e) || ck_signer_start(s->account, e))
        return -1;
    /* No request for the account when account.json knows it; none to look it up
     * when the key was made just now (it cannot have one). */
    if (!fresh)
        s->saved_account = saved_account(c, st);
    if (s->saved_account)
        return ck_acme_account_saved(s->acme, s->account, s->saved_account, c->email,
                                     c->agree_tos, e);
    if ((fresh ? ck_acme_account_fresh : ck_acme_account)(s->acme, s->account, c->email,
                                                          c->agree_tos, e) ||
        save_account(c, st, ck_acme_account_url(s->acme), e))
        return -1;
    return 0;
}

/* mkdir -p, then room for more than a bundle, checked without leaving a file. */
static int check_writable(const char *dir, struct ck_err *e)
{
    if (ck_fs_mkdir_p(dir, 0755, e) || ck_fs_check_room(dir, 16384, e))
        return ck_wrap(e, "nothing was ordered: the output directory cannot take a certificate");
    return 0;
}

static int order(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                 const char *replaces, struct issue *s, struct ck_bundle *out,
                 struct ck_cert_summary *sum, struct ck_err *e)
{
    struct ck_http_opts ho = ck_keeper_http_opts(c, 0, 0);
    /* A volume that cannot take the result fails before the CA spends an order on us. */
    if (check_writable(c->out_dir, e) || ck_http_new(&ho, &s->http, e))
        return -1;
    /* The solver first: a busy port fails before anything is asked of the CA;
     * then the directory, so a wrong URL leaves no new account key behind. */
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .http = s->http, .log = log,
                              .eab_kid = c->eab_kid, .eab_key_file = c->eab_key_file,
                              .key_refused = ck_keeper_rekey, .key_refused_ctx = &s->rekey};
    s->rekey = (struct ck_keeper_rekey){.c = c, .log = log, .st = st, .http = s->http};
    if (start_solver(c, log, st, s, e) || ck_acme_new(&ao, &s->acme, e) ||
        ck_acme_directory(s->acme, e))
        return -1;
    /* several orders at once in `run`: one creates the shared account, the others find it */
    pthread_mutex_lock(&c->proc->account_mu);
    int rc = account_setup(c, log, st, s, e);
    pthread_mutex_unlock(&c->proc->account_mu);
    if (rc || ck_key_generate(c->key_type, &s->cert_key, e))
        return -1;
    if (ck_key_same(s->account, s->cert_key))
        return ck_fail(e, "the certificate key is the account key; refusing");
    struct ck_acme_order_req req = {
        .names = (const char *const *)c->domains,
        .n_names = c->n_domains,
        .profile = c->profile,
        /* only a CA with renewalInfo knows what `replaces` means */
        .replaces = replaces && *replaces && ck_acme_has_ari(s->acme) ? replaces : NULL,
        .preferred_chain = c->preferred_chain,
        .cert_key = s->cert_key,
        .solver = &s->solver,
    };
    int issued = ck_acme_issue(s->acme, &req, &s->got, e);
    /* the CA did not know the saved account: keep the one it answered with */
    const char *url = ck_acme_account_url(s->acme);
    struct ck_err se;
    if (s->saved_account && url && strcmp(url, s->saved_account) && save_account(c, st, url, &se))
        ck_warn(log, "account", "%s", se.msg);
    if (issued)
        return -1;
    /* The responder is no longer needed; free the port before the disk work. */
    ck_http01_stop(s->http01);
    s->http01 = NULL;
    ck_tlsalpn01_stop(s->tlsalpn01);
    s->tlsalpn01 = NULL;
    char *key_pem = NULL;
    size_t key_len = 0;
    if (ck_key_to_pem(s->cert_key, &key_pem, &key_len, e))
        return -1;
    rc = ck_bundle_from_fullchain(s->got.fullchain_pem, s->got.fullchain_len, key_pem,
                                      key_len, out, e);
    ck_secret_free(key_pem, key_len);
    if (rc)
        return ck_wrap(e, "issued certificate");
    /* Everything SPEC section 4 asks, checked before anything is published. */
    return ck_keeper_just_issued(c, log, out, sum, e);
}

int ck_keeper_obtain(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     struct ck_bundle *out, struct ck_cert_summary *sum, struct ck_err *e)
{
    return ck_keeper_obtain_replacing(c, log, st, NULL, out, sum, e);
}

int ck_keeper_obtain_replacing(const struct ck_config *c, const struct ck_log *log,
                               struct ck_store *st, const char *replaces, struct ck_bundle *out,
                               struct ck_cert_summary *sum, struct ck_err *e)
{
    struct issue s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    int rc = order(c, log, st, replaces, &s, out, sum, e);
    if (rc)
        ck_bundle_free(out);
    ck_http01_stop(s.http01);
    ck_dns01_stop(s.dns01);
    free(s.central.text);
    ck_tlsalpn01_stop(s.tlsalpn01);
    ck_acme_cert_free(&s.got);
    ck_acme_free(s.acme);
    free(s.saved_account);
    ck_key_free(s.cert_key);
    ck_key_free(s.account);
    ck_keeper_rekey_free(&s.rekey);
    ck_http_free(s.http);
    return rc;
}

int ck_keeper_save(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                   const struct ck_bundle *b, const struct ck_cert_summary *sum, struct ck_err *e)
{
    if (st) {
        struct ck_bundle_record r;
        if (ck_bundle_record_make(b, sum, (const char *const *)c->domains, c->n_domains,
                                  (int64_t)time(NULL), &r, e))
            return -1;
        int rc = ck_bundle_store_put(st, c->cert_name, b, &r, e);
        ck_bundle_record_free(&r);
        if (rc)
            return ck_wrap(e, "writing the certificate to %s", ck_store_name(st));
    }
    if (ck_bundle_publish(c->out_dir, c->cert_name, b, e))
        return -1;
    log_issued(c, log, sum);
    return 0;
}
