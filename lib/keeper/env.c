/* What every keeping job shares: the process (signal flags, trust anchors), the
 * configured store, the usability wish, the verdicts. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../http/http.h"
#include "../store/store.h"
#include "keeper.h"

extern char **environ;

void ck_keeper_proc_init(struct ck_keeper_proc *p, volatile sig_atomic_t *signal,
                         volatile sig_atomic_t *stop)
{
    memset(p, 0, sizeof *p);
    p->signal = signal;
    p->stop = stop;
    pthread_mutex_init(&p->account_mu, NULL);
    pthread_mutex_init(&p->said_mu, NULL);
    p->said_min_valid = p->said_life = -1;
}

void ck_keeper_proc_free(struct ck_keeper_proc *p)
{
    ck_http_free(p->trust);
    p->trust = NULL;
    p->anchors = NULL;
    p->n_anchors = 0;
    pthread_mutex_destroy(&p->account_mu);
    pthread_mutex_destroy(&p->said_mu);
}

void ck_keeper_attach(struct ck_config *c, struct ck_keeper_proc *p)
{
    c->proc = p;
    for (size_t i = 0; i < c->n_certs; i++)
        c->certs[i].proc = p;
}

int ck_keeper_trust_load(const struct ck_config *c, struct ck_err *e)
{
    struct ck_keeper_proc *p = c->proc;
    if (p->trust)
        return 0;
    struct ck_http_opts ho = ck_keeper_http_opts(c, 0, 0);
    if (ck_http_new(&ho, &p->trust, e) ||
        ck_http_trust_anchors(p->trust, &p->anchors, &p->n_anchors, e)) {
        ck_http_free(p->trust);
        p->trust = NULL;
        return ck_wrap(e, "trust anchors for the certificate chain");
    }
    return 0;
}

struct ck_cert_want ck_keeper_want(const struct ck_config *c)
{
    struct ck_cert_want w = {
        .names = (const char *const *)c->domains,
        .n_names = c->n_domains,
        .key_type = c->key_type,
        .min_valid = (long)c->min_valid,
        .now = (int64_t)time(NULL),
        .anchors = c->proc->anchors,
        .n_anchors = c->proc->n_anchors,
    };
    return w;
}

int ck_keeper_usable_proven(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                            const unsigned char *proven, struct ck_cert_summary *sum,
                            struct ck_err *e)
{
    struct ck_cert_want w = ck_keeper_want(c);
    w.proven = proven;
    if (ck_cert_check(where, b->fullchain, b->fullchain_len, b->privkey, b->privkey_len, &w, sum,
                      e) != 0)
        return 1;
    return ck_bundle_consistent(b, where, e) ? 1 : 0;
}

int ck_keeper_usable(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                     struct ck_cert_summary *sum, struct ck_err *e)
{
    return ck_keeper_usable_proven(c, where, b, NULL, sum, e);
}

int ck_keeper_just_issued(const struct ck_config *c, const struct ck_log *log,
                          const struct ck_bundle *b, struct ck_cert_summary *sum, struct ck_err *e)
{
    const char *where = "issued certificate";
    struct ck_cert_want w = ck_keeper_want(c);
    char nb[32];
    w.just_issued = 1;
    if (ck_cert_check(where, b->fullchain, b->fullchain_len, b->privkey, b->privkey_len, &w, sum,
                      e) ||
        ck_bundle_consistent(b, where, e))
        return -1;
    ck_time_format(sum->not_before, nb);
    long long ahead = (long long)(w.now - sum->not_before);
    if (ahead < 0)
        ck_warn(log, "clock", "the local clock is %lld s behind the issued certificate's notBefore "
                "%s; judged by its own notBefore..notAfter (renewals follow this clock: check NTP)",
                -ahead, nb);
    else if (w.now >= sum->not_after)
        ck_warn(log, "clock", "the local clock is %lld s ahead of the issued certificate's notBefore "
                "%s, past its notAfter; published, but it looks expired here (check NTP)", ahead, nb);
    else  /* a CA's backdating looks the same */
        ck_debug(log, "clock", "the local clock is %lld s ahead of the issued certificate's "
                 "notBefore %s", ahead, nb);
    int64_t life = sum->not_after - sum->not_before;
    int64_t need = ck_cert_min_left(sum->not_before, sum->not_after, w.min_valid);
    /* each (min_valid, lifetime) pair is said once; only obtaining threads touch it */
    struct ck_keeper_proc *p = c->proc;
    pthread_mutex_lock(&p->said_mu);
    int say = need < c->min_valid && (p->said_min_valid != c->min_valid || p->said_life != life);
    if (say) {
        p->said_min_valid = c->min_valid;
        p->said_life = life;
    }
    pthread_mutex_unlock(&p->said_mu);
    if (say) {
        ck_warn(log, "min_valid", "renewal.min_valid %lld s is more than 1/%d of the certificate's "
                "%lld s lifetime: it is published, and counts as usable down to %lld s left",
                (long long)c->min_valid, CK_CERT_LIFE_SHARE, (long long)life, (long long)need);
    }
    return 0;
}

struct ck_http_opts ck_keeper_http_opts(const struct ck_config *c, long connect_ms, long total_ms)
{
    /* SSL_CERT_FILE moves the system store, as for OpenSSL and Go; --ca-bundle adds to it */
    return (struct ck_http_opts){.ca_bundle = c->ca_bundle, .system_bundle = getenv("SSL_CERT_FILE"),
                                 .user_agent = "certkeep/" CK_VERSION,
                                 .stop = c->proc->stop, .connect_timeout_ms = connect_ms,
                                 .timeout_ms = total_ms};
}

int ck_keeper_store_open(const struct ck_config *c, struct ck_keeper_store *out, struct ck_err *e)
{
    /* Short timeouts: a store that is down must not hold the app's start for long. */
    return ck_keeper_store_open_within(c, 3000, 15000, out, e);
}

int ck_keeper_store_open_within(const struct ck_config *c, long connect_ms, long total_ms,
                                struct ck_keeper_store *out, struct ck_err *e)
{
    memset(out, 0, sizeof *out);
    if (c->store_dir) {
        if (ck_store_open_dir(c->store_dir, &out->store, e))
            return -1;
        goto seal;
    }
    if (!c->s3.bucket)
        return 0;
    struct ck_s3_creds creds = {0};
    if (ck_s3_creds_load(&creds, environ, c->s3.access_key_file, c->s3.secret_key_file,
                         c->s3.session_token_file, e))
        return -1;
    struct ck_http_opts ho = ck_keeper_http_opts(c, connect_ms, total_ms);
    struct ck_store_s3 o = {
        .endpoint = c->s3.endpoint,
        .bucket = c->s3.bucket,
        .prefix = c->s3.prefix,
        .region = c->s3.region,
        .path_style = c->s3.path_style,
        .creds = &creds,
    };
    int rc = ck_http_new(&ho, &out->http, e);
    if (!rc)
        rc = ck_store_open_s3(&o, out->http, &out->store, e);
    ck_s3_creds_free(&creds);
    if (rc) {
        ck_keeper_store_close(out);
        return rc;
    }
seal:
    if (c->store_key_file &&
        ck_store_seal(out->store, c->store_key_file, c->store_old_key_file, e)) {
        ck_keeper_store_close(out);
        return -1;
    }
    return 0;
}

void ck_keeper_store_close(struct ck_keeper_store *s)
{
    ck_store_close(s->store);
    ck_http_free(s->http);
    memset(s, 0, sizeof *s);
}

void ck_keeper_lease_overlong(const struct ck_config *c, const struct ck_log *log,
                              const struct ck_lease_holder *h)
{
    char when[32];
    if (h->notice[0])
        ck_warn(log, "store.unconditional", "%s", h->notice);
    if (!h->overlong)
        return;
    ck_time_format((int64_t)h->expires, when);
    ck_warn(log, "lease", "took over the lease on %s from %s: it claimed to last until %s, "
            "further than a %d s lease can (a clock ahead, or a bad write)", c->cert_name,
            h->owner, when, CK_KEEPER_LEASE_TTL_S);
}
