/* The keeping of several certificates in one process, driven by the caller's event
 * loop (s6 style): it polls the fds and the deadline the fleet names and calls back
 * here on each event. What is due when is the keeper's (the policy, one state per
 * certificate); this file runs their jobs on threads, at most max_concurrent_orders
 * at once (the others wait their turn, in order), so /healthz answers and SIGTERM
 * is honoured within a second even while the CA is slow. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../acme/acme.h"
#include "../health/health.h"
#include "../http/http.h"
#include "../renewal/renewal.h"
#include "../sandbox/sandbox.h"
#include "../store/store.h"
#include "keeper.h"

#define STOP_GRACE_MS 700        /* SIGTERM while a job runs: its error path gets this long */
#define STOP_KICK_MS 50          /* ...and a wake-up this often, in case one landed too early */
/* Wakes the job thread out of a blocking call (a sleep, curl's poll) so that it sees the
 * stop flag. Ignored by default: a stray one from outside is harmless. */
#define SIGWAKE SIGURG
#define NEVER CK_KEEPER_NEVER

enum job { JOB_NONE = CK_KJ_NONE, JOB_INIT = CK_KJ_INIT, JOB_RENEW = CK_KJ_RENEW,
           JOB_STORE = CK_KJ_STORE, JOB_ARI = CK_KJ_ARI, JOB_OCSP = CK_KJ_OCSP,
           JOB_RELOAD = CK_KJ_RELOAD };
static const char *const job_names[] = {"none", "init", "renewal", "store check", "ARI check",
                                        "OCSP refresh", "reload"};

/* What one job gets and gives back; the job thread touches nothing else but
 * the store and the ACME handle, which the loop leaves alone while it runs. */
struct job_io {
    enum job kind;
    char ari_id[200];
    int64_t have_not_after;
    unsigned failures_before;
    /* out */
    int lease_lost;
    int rc;
    struct ck_err e;
    struct ck_cert_summary sum;
    int changed;                 /* the volume's files changed (app told) */
    int reload;                  /* ck_keeper_tell_app's answer: 0 told, -1 failed, 1 not told */
    int64_t ari_start, ari_end;
    long retry_after;
    int no_ari;
    unsigned failures;
    int64_t next_retry;
    struct ck_keeper_ocsp ocsp;
};

struct slot;

/* One certificate kept: its configuration, the keeper's state, its job. */
struct cert {
    const struct ck_config *c;
    struct ck_health_cert *hc;
    struct ck_keeper k;          /* the policy's state: what is due when */
    struct ck_cert_summary cur;  /* the volume's certificate (serial, ARI id), last read */
    char why[600];               /* why the last volume read was not usable */
    int64_t wake;
    int busy;                    /* a job asked for: waiting for a slot (slot NULL) or running */
    struct slot *slot;
    struct job_io io;
    char pre[80];                /* "name: " in log lines when there are several, else "" */
    struct stat vol_st;          /* <out>/<name> as last looked at (volume_moved) */
};

/* A job thread's place: its own store handle and ACME handle (neither is shared
 * between threads). */
struct slot {
    struct ck_keeper_fleet *r;
    struct cert *cert;           /* running here; NULL: free */
    pthread_t thread;
    struct ck_keeper_store st;
    struct ck_http *acme_http;   /* for ARI, created at the first check */
    struct ck_acme *acme;
};

struct ck_keeper_fleet {
    const struct ck_config *c;
    struct ck_config *loaded;    /* c when re-read on SIGHUP (run's own), else NULL */
    int reread;                  /* SIGHUP: re-read the configuration once no job runs */
    int no_exec;                 /* the seccomp filter set at start has no execve */
    const struct ck_log *log;
    struct cert *certs;
    size_t n;
    struct slot *slots;
    size_t n_slots, running;
    size_t *queue, n_queue;      /* certificates waiting for a slot, first come first */
    struct ck_health *health;
    int done[2], pidfd;
    pthread_mutex_t write_lock;
    int stop;
    struct sigaction old_wake;
};

static uint32_t rnd32(void)
{
    uint32_t r = 0;
    struct ck_err e;
    if (ck_random(&r, sizeof r, &e))
        r = (uint32_t)time(NULL) * 2654435761u;
    return r;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the job thread ---- */

static void job_ari(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    struct ck_keeper_fleet *r = sl->r;
    if (!sl->acme) {
        struct ck_http_opts ho = ck_keeper_http_opts(c, 5000, 30000);
        struct ck_acme_opts ao = {.directory_url = c->directory_url, .log = r->log};
        if (ck_http_new(&ho, &sl->acme_http, &io->e)) {
            io->rc = -1;
            return;
        }
        ao.http = sl->acme_http;
        if (ck_acme_new(&ao, &sl->acme, &io->e)) {
            io->rc = -1;
            return;
        }
    }
    io->retry_after = -1;
    if (ck_acme_directory(sl->acme, &io->e)) {
        io->rc = -1;
        return;
    }
    if (!ck_acme_has_ari(sl->acme)) {
        io->no_ari = 1;
        return;
    }
    io->rc = ck_acme_renewal_info(sl->acme, io->ari_id, &io->ari_start, &io->ari_end,
                                  &io->retry_after, &io->e);
}

static void job_renew(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    struct ck_keeper_fleet *r = sl->r;
    struct ck_keeper_renewal ren;
    memset(&ren, 0, sizeof ren);
    ren.replaces = io->ari_id[0] ? io->ari_id : NULL;
    ren.have_not_after = io->have_not_after;
    ren.write_lock = &r->write_lock;
    io->rc = ck_keeper_renew_once(c, r->log, sl->st.store, &ren, &io->e);
    io->sum = ren.sum;
    io->changed = io->rc == 0;
    io->reload = io->rc == 0 ? ren.reload : 1;
    io->lease_lost = ren.lease_lost;
}

static void job_init(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    struct ck_keeper_fleet *r = sl->r;
    struct ck_bundle_state s;
    struct ck_err ignored;
    char why[600];
    struct ck_cert_summary before;
    /* files there, usable or not, are what the app was started on */
    int had = ck_keeper_read_volume(c, &before, why, sizeof why) != CK_KEEPER_VOL_ABSENT;
    io->failures_before = io->failures;
    if (ck_keeper_state_get(c, sl->st.store, &s, &ignored) >= 0 &&
        s.failures > io->failures_before)
        io->failures_before = s.failures;
    io->rc = ck_keeper_init_with(c, r->log, sl->st.store, &io->e);
    if (io->rc == 0 && ck_keeper_read_volume(c, &io->sum, why, sizeof why) == 0 &&
        (!had || strcmp(before.serial_hex, io->sum.serial_hex))) {
        io->changed = 1;
        if (had) {  /* the app was started on the old files */
            ck_keeper_ocsp_before_telling(c, r->log, &r->write_lock);
            io->reload = ck_keeper_tell_app(c, r->log);
        }
    }
}

static void job_store(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    struct ck_keeper_fleet *r = sl->r;
    int rc = ck_keeper_pickup(c, r->log, sl->st.store, io->have_not_after, &r->write_lock,
                           &io->sum, &io->e);
    io->rc = rc < 0 ? -1 : 0;
    if (rc == 1) {
        io->changed = 1;
        ck_keeper_ocsp_before_telling(c, r->log, &r->write_lock);
        io->reload = ck_keeper_tell_app(c, r->log);
    }
}

static void job_ocsp(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    struct ck_keeper_fleet *r = sl->r;
    io->rc = ck_keeper_ocsp_refresh(c, r->log, &r->write_lock, 1, &io->ocsp, &io->e);
    if (io->rc == 0 && io->ocsp.fetched && io->ocsp.a.status == CK_OCSP_REVOKED)
        ck_keeper_ocsp_revoked(c, r->log, sl->st.store, &io->ocsp);
}

static void job_reload(struct slot *sl, const struct ck_config *c, struct job_io *io)
{
    io->reload = ck_keeper_tell_app(c, sl->r->log);
    if (io->reload < 0)
        io->rc = ck_fail(&io->e, "the app's reload failed");
}

static void *job_main(void *arg)
{
    struct slot *sl = arg;
    struct ck_keeper_fleet *r = sl->r;
    const struct ck_config *c = sl->cert->c;
    struct job_io *io = &sl->cert->io;
    ck_err_clear(&io->e);
    io->rc = 0;
    switch (io->kind) {
    case JOB_INIT: job_init(sl, c, io); break;
    case JOB_RENEW: job_renew(sl, c, io); break;
    case JOB_STORE: job_store(sl, c, io); break;
    case JOB_ARI: job_ari(sl, c, io); break;
    case JOB_OCSP: job_ocsp(sl, c, io); break;
    case JOB_RELOAD: job_reload(sl, c, io); break;
    case JOB_NONE: break;
    }
    /* a stop is not a failure: the next start just tries again */
    if (io->rc < 0 && !*c->proc->signal && (io->kind == JOB_INIT || io->kind == JOB_RENEW)) {
        struct ck_err copy = io->e;
        ck_keeper_note_failure(c, r->log, sl->st.store, &copy,
                            io->kind == JOB_INIT ? io->failures_before : UINT_MAX, &io->failures,
                            &io->next_retry);
    }
    unsigned char idx = (unsigned char)(sl - r->slots);
    while (write(r->done[1], &idx, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* An order binds this address for its challenge (NULL: it binds none): two such
 * orders of this process at once would refuse each other the port. */
static const char *binds(const struct cert *ct)
{
    const struct ck_config *c = ct->c;
    if (ct->io.kind != JOB_INIT && ct->io.kind != JOB_RENEW)
        return NULL;
    if (c->challenge == CK_CHALLENGE_TLSALPN01)
        return c->tlsalpn01_listen;
    if (c->challenge != CK_CHALLENGE_HTTP01 || c->http01_store ||
        (c->webroot && !c->http01_listen_set))
        return NULL;
    return c->http01_listen;
}

static int port_taken(const struct ck_keeper_fleet *r, const struct cert *ct)
{
    const char *mine = binds(ct);
    for (size_t i = 0; mine && i < r->n_slots; i++) {
        const struct cert *o = r->slots[i].cert;
        if (o && binds(o) && !strcmp(binds(o), mine))
            return 1;
    }
    return 0;
}

static int launch(struct ck_keeper_fleet *r, struct cert *ct, struct slot *sl);
static void step(struct ck_keeper_fleet *r, struct cert *ct, struct ck_keeper_event *ev);

/* Starts waiting jobs while slots are free, first come first (one whose challenge
 * port another order of ours holds waits for it). */
static void start_waiting(struct ck_keeper_fleet *r)
{
    for (size_t q = 0; q < r->n_queue && r->running < r->n_slots && !r->stop && !r->reread;) {
        struct cert *ct = &r->certs[r->queue[q]];
        if (port_taken(r, ct)) {
            q++;
            continue;
        }
        memmove(&r->queue[q], &r->queue[q + 1], (r->n_queue - q - 1) * sizeof *r->queue);
        r->n_queue--;
        struct slot *sl = r->slots;
        while (sl->cert)
            sl++;
        if (launch(r, ct, sl)) {
            struct ck_keeper_event n = {.kind = CK_KE_NOSTART};
            ct->busy = 0;
            step(r, ct, &n);
        }
    }
}

static int launch(struct ck_keeper_fleet *r, struct cert *ct, struct slot *sl)
{
    sl->cert = ct;
    if (pthread_create(&sl->thread, NULL, job_main, sl)) {
        sl->cert = NULL;
        ck_error(r->log, "run", "%scannot start a thread for the %s; trying again in 60 s",
                 ct->pre, job_names[ct->io.kind]);
        return -1;
    }
    ct->slot = sl;
    r->running++;
    ck_debug(r->log, "run.job", "%s%s started (%zu of %zu running, %zu waiting)", ct->pre,
             job_names[ct->io.kind], r->running, r->n_slots, r->n_queue);
    return 0;
}

/* The keeper asked for a job: it waits for a slot. */
static int start_job(struct ck_keeper_fleet *r, struct cert *ct, enum job kind)
{
    struct job_io *io = &ct->io;
    memset(io, 0, sizeof *io);
    io->kind = kind;
    io->reload = 1;  /* 1: the app was not told; 0 told; -1 telling failed */
    io->failures = ct->k.failures;  /* the count in memory, when state.json cannot be read */
    if (ct->k.ready) {
        io->have_not_after = ct->cur.not_after;
        snprintf(io->ari_id, sizeof io->ari_id, "%s", ct->cur.ari_id);
    } else if (ct->cur.ari_id[0]) {
        snprintf(io->ari_id, sizeof io->ari_id, "%s", ct->cur.ari_id);
    }
    ct->busy = 1;
    ct->slot = NULL;
    r->queue[r->n_queue++] = (size_t)(ct - r->certs);
    return 0;
}

/* ---- driving the keeper ---- */

/* Another process switched the volume (a `renew` that could not signal us): the
 * <out>/<name> symlink's inode and mtime, looked at on each turn of the loop. */
static int volume_moved(struct cert *ct)
{
    char path[PATH_MAX];
    struct stat st, *old = &ct->vol_st;
    int n = snprintf(path, sizeof path, "%s/%s", ct->c->out_dir, ct->c->cert_name);
    if (n < 0 || (size_t)n >= sizeof path || lstat(path, &st))
        return 0;
    int moved = old->st_ino && (st.st_ino != old->st_ino ||
                                st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
                                st.st_mtim.tv_nsec != old->st_mtim.tv_nsec);
    *old = st;
    return moved;
}

/* Reads the volume for the keeper (lib/cert's verdict, revocation marks). */
static void read_volume(struct cert *ct, struct ck_keeper_volume *v)
{
    struct ck_cert_summary s;
    volume_moved(ct);  /* what is read now is no change to notice later */
    int ok = ck_keeper_read_volume(ct->c, &s, ct->why, sizeof ct->why) == 0;
    memset(v, 0, sizeof *v);
    v->usable = ok;
    v->parsed = s.not_after != 0;
    v->same = ok && ct->k.ready && !strcmp(s.serial_hex, ct->cur.serial_hex);
    v->has_ari = s.ari_id[0] != 0;
    v->not_before = s.not_before;
    v->not_after = s.not_after;
    if (ok || s.not_after)  /* parsed but unusable: still the one a renewal replaces */
        ct->cur = s;
}

static void log_time(const struct ck_keeper_fleet *r, const struct cert *ct, const char *event,
                     const char *what, int64_t t)
{
    char when[32];
    ck_time_format(t, when);
    ck_info(r->log, event, "%s%s %s (in %lld s)", ct->pre, what, when, (long long)(t - now_s()));
}

/* What the keeper noted, said in the log and the metrics. */
static void notes(struct ck_keeper_fleet *r, struct cert *ct, const struct ck_keeper_event *ev,
                  unsigned note)
{
    struct ck_keeper *k = &ct->k;
    if (note & CK_KN_SAY_UNUSABLE)
        ck_warn(r->log, "run.volume", "%s%s", ct->pre, ct->why);
    if (note & CK_KN_RETRY_BOUNDED) {
        char when[32];
        ck_time_format(ev->next_retry, when);
        ck_warn(r->log, "run.retry", "%sstate.json plans the next retry at %s, further than "
                "the retry schedule allows (a clock ahead, or a bad write): %lld s from now "
                "instead", ct->pre, when, (long long)(k->retry_at - ev->now));
    }
    if (note & CK_KN_RETRY_PLANNED)
        log_time(r, ct, "run.retry", "honouring the planned retry at", k->retry_at);
    if (note & CK_KN_NO_ARI)
        ck_info(r->log, "ari", "%sthe CA offers no renewalInfo; renewing by the certificate's "
                               "lifetime", ct->pre);
    if (note & CK_KN_ARI_BOUNDED) {
        struct ck_window w = ck_renewal_ari_bound((struct ck_window){ev->ari_start, ev->ari_end},
                                                  k->not_before, k->not_after);
        ck_warn(r->log, "ari", "%sthe CA's window ends %lld s after what the "
                "certificate's expiry allows; renewing within [%lld, %lld)", ct->pre,
                (long long)(ev->ari_end - w.end), (long long)w.start, (long long)w.end);
    }
    if (note & CK_KN_ARI_MOMENT)
        log_time(r, ct, "ari", "the CA's window: renewing at", k->renew_at);
    if (note & CK_KN_LEASE_LOST)
        ck_warn(r->log, "lease", "%slost during the %s: reading the store now (another replica "
                "may have renewed too)", ct->pre, job_names[ct->io.kind]);
    if (ct->hc && (note & CK_KN_SUCCESS)) {
        ct->hc->renewals_success += ct->io.kind == JOB_RENEW;
        ct->hc->last_success = ev->now;
    }
    if (note & CK_KN_RELOAD_RETRY) {
        char when[32];
        ck_time_format(k->reload_at, when);
        ck_warn(r->log, "reload", "%stelling the app failed (%u in a row); again at %s (in %lld "
                "s)", ct->pre, k->reload_failures, when, (long long)(k->reload_at - now_s()));
    }
    if (note & CK_KN_NEXT)
        log_time(r, ct, "run.next", "next renewal at", ck_keeper_next_attempt(k, now_s()));
}

/* /readyz: every certificate marked required is usable. */
static void set_ready(struct ck_keeper_fleet *r)
{
    int ready = 1;
    for (size_t i = 0; ready && i < r->n; i++)
        ready = r->certs[i].k.ready || !r->certs[i].c->required;
    if (r->health)  /* NULL: no --listen */
        ck_health_set_ready(r->health, ready);
}

static void set_metrics(struct ck_keeper_fleet *r, struct cert *ct)
{
    if (!ct->hc)
        return;
    ct->hc->not_before = ct->k.ready ? ct->k.not_before : 0;
    ct->hc->not_after = ct->k.ready ? ct->k.not_after : 0;
    ct->hc->failures_consecutive = ct->k.failures;
    int64_t t = ck_keeper_next_attempt(&ct->k, now_s());
    ct->hc->next_renewal = t == NEVER ? 0 : t;
    (void)r;
}

/* One step of a certificate's keeper, and its actions run: volume reads, the job,
 * the exit. */
static void step(struct ck_keeper_fleet *r, struct cert *ct, struct ck_keeper_event *ev)
{
    struct ck_keeper_out o;
    int was_ready = ct->k.ready;
    ev->now = now_s();
    ev->rnd = rnd32();
    ck_keeper_step(&ct->k, ev, &o);
    notes(r, ct, ev, o.note);
    while (o.act & CK_KA_READ_VOLUME) {
        struct ck_keeper_event v = {.kind = CK_KE_VOLUME};
        read_volume(ct, &v.vol);
        v.now = now_s();
        v.rnd = rnd32();
        ck_keeper_step(&ct->k, &v, &o);
        notes(r, ct, &v, o.note);
    }
    set_metrics(r, ct);
    if (was_ready != ct->k.ready)
        set_ready(r);
    ct->wake = o.wake;
    if (o.act & CK_KA_CANCEL && ct->busy && ct->slot)
        pthread_kill(ct->slot->thread, SIGWAKE);
    if (o.act & CK_KA_EXIT)
        r->stop = 1;
    if (o.act & CK_KA_JOB)
        start_job(r, ct, (enum job)o.job);
}

static void finish_job(struct ck_keeper_fleet *r, struct slot *sl)
{
    struct cert *ct = sl->cert;
    struct job_io *io = &ct->io;
    struct ck_keeper_event ev = {.kind = CK_KE_DONE, .changed = io->changed,
                                 .ari_start = io->ari_start, .ari_end = io->ari_end,
                                 .retry_after = io->retry_after, .no_ari = io->no_ari,
                                 .ocsp_next = io->ocsp.refresh_at,
                                 .revoked = io->ocsp.fetched &&
                                            io->ocsp.a.status == CK_OCSP_REVOKED,
                                 .reload_failed = io->reload < 0};
    pthread_join(sl->thread, NULL);
    sl->cert = NULL;
    ct->slot = NULL;
    ct->busy = 0;
    r->running--;
    if (ct->hc && io->reload != 1) {
        ct->hc->reloads_success += io->reload == 0;
        ct->hc->reloads_failure += io->reload < 0;
    }
    int renewal = io->kind == JOB_INIT || io->kind == JOB_RENEW;
    if (r->stop && io->rc < 0) {
        ck_info(r->log, "run.stop", "%sthe %s in progress was cut short: %s", ct->pre,
                job_names[io->kind], io->e.msg);
        ev.result = CK_KR_CUT;
    } else if (io->rc < 0) {
        ev.result = CK_KR_FAILED;
        ev.failures = io->failures;
        ev.next_retry = io->next_retry;
        if (renewal) {
            if (ct->hc) {
                ct->hc->renewals_failure++;
                ct->hc->failures[ck_health_reason(io->e.kind)]++;
            }
            ck_error(r->log, "renew.failed", "%s%s failed (%u in a row): %s; next try in %lld s",
                     ct->pre, job_names[io->kind], io->failures, io->e.msg,
                     (long long)(io->next_retry - now_s()));
        } else if (io->kind == JOB_OCSP) {
            if (ct->hc)
                ct->hc->ocsp_failures++;
            ck_warn(r->log, "ocsp", "%s%s (the last good %s stays)", ct->pre, io->e.msg,
                    CK_KEEPER_OCSP_FILE);
        } else if (io->kind != JOB_RELOAD) {  /* lib/reload said why, the note when next */
            ck_warn(r->log, io->kind == JOB_ARI ? "ari" : "store.check", "%s%s", ct->pre,
                    io->e.msg);
        }
    } else if (renewal && io->rc == CK_KEEPER_BUSY) {
        ck_info(r->log, "renew.wait", "%s%s; looking at the store again shortly", ct->pre,
                io->e.msg);
        ev.result = CK_KR_BUSY;
    }
    if (io->kind == JOB_OCSP && io->rc == 0 && ct->hc) {
        ct->hc->ocsp_revoked += ev.revoked;
        ct->hc->ocsp_next_update = io->ocsp.a.status == CK_OCSP_GOOD ? io->ocsp.a.next_update : 0;
    }
    if (io->lease_lost) {
        struct ck_keeper_event lost = {.kind = CK_KE_LEASE_LOST};
        step(r, ct, &lost);  /* before its end: the keeper still counts the job as running */
    }
    step(r, ct, &ev);
    start_waiting(r);
}

void ck_keeper_fleet_signal(struct ck_keeper_fleet *r, int signo)
{
    struct ck_keeper_event ev = {.kind = CK_KE_EARLY};
    if (signo == SIGTERM || signo == SIGINT) {
        /* as in the one-shot commands: the job ends through its error path
         * (tokens removed, lease released, nothing half-written) */
        r->stop = 1;
        ev.kind = CK_KE_TERM;
        r->n_queue = 0;  /* the waiting jobs never start */
    } else if (signo == SIGHUP) {
        r->reread = !r->stop;  /* in the loop once no job runs, then checking now */
        return;
    } else if (signo == SIGUSR2) {  /* from certkeep renew (runpid.c) */
        ck_info(r->log, "run.signal", "the volume changed (certkeep renew): reading it");
        ev.kind = CK_KE_CHANGED;
    } else {
        ck_info(r->log, "run.signal", "checking now (early retry requested)");
    }
    for (size_t i = 0; i < r->n; i++) {
        struct ck_keeper_event one = ev;
        step(r, &r->certs[i], &one);
    }
    start_waiting(r);
}

/* A job thread's end, told on the done pipe by its slot's index. */
void ck_keeper_fleet_done(struct ck_keeper_fleet *r)
{
    unsigned char idx;
    while (read(r->done[0], &idx, 1) == 1)
        if (idx < r->n_slots && r->slots[idx].cert)
            finish_job(r, &r->slots[idx]);
}

/* SIGTERM during jobs: they see the stop flag and end; should one not within the
 * grace, abandon it, never mid-write. */
int ck_keeper_fleet_stop(struct ck_keeper_fleet *r)
{
    int64_t end = mono_ms() + STOP_GRACE_MS;
    struct pollfd p = {.fd = r->done[0], .events = POLLIN};
    while (r->running) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        for (size_t i = 0; i < r->n_slots; i++)
            if (r->slots[i].cert)
                pthread_kill(r->slots[i].thread, SIGWAKE);
        if (poll(&p, 1, left < STOP_KICK_MS ? (int)left : STOP_KICK_MS) > 0)
            ck_keeper_fleet_done(r);
    }
    if (!r->running)
        return 0;
    pthread_mutex_lock(&r->write_lock);  /* a write in progress finishes; none starts */
    for (size_t i = 0; i < r->n_slots; i++)
        if (r->slots[i].cert)
            ck_info(r->log, "run.stop", "stopping: %sthe %s in progress is abandoned",
                    r->slots[i].cert->pre, job_names[r->slots[i].cert->io.kind]);
    return 1;
}

/* Steps every idle certificate whose moment came; the earliest next moment. */
int64_t ck_keeper_fleet_due(struct ck_keeper_fleet *r)
{
    int64_t wake = NEVER;
    for (size_t i = 0; i < r->n && !r->stop; i++) {
        struct cert *ct = &r->certs[i];
        if (ct->busy)
            continue;
        int moved = volume_moved(ct) && ct->k.job == CK_KJ_NONE;
        if (moved)
            ck_info(r->log, "run.volume", "%sthe volume changed (another process): reading it",
                    ct->pre);
        if (moved || ct->wake <= now_s()) {
            struct ck_keeper_event ev = {.kind = moved ? CK_KE_CHANGED : CK_KE_TIMER};
            step(r, ct, &ev);
            if (ct->busy)
                continue;
        }
        if (ct->wake < wake)
            wake = ct->wake;
    }
    start_waiting(r);
    return wake;
}

static int open_slots(struct ck_keeper_fleet *r, struct ck_err *e);
static void close_slots(struct ck_keeper_fleet *r);
static void start_one(struct ck_keeper_fleet *r, struct cert *ct);

int ck_keeper_fleet_stopping(const struct ck_keeper_fleet *r)
{
    return r->stop;
}

int ck_keeper_fleet_wants_reread(const struct ck_keeper_fleet *r)
{
    return r->reread && !r->running;
}

size_t ck_keeper_fleet_pollfds(struct ck_keeper_fleet *r, struct pollfd *pfd, size_t cap,
                               int *timeout)
{
    return r->health ? ck_health_pollfds(r->health, pfd, cap, timeout) : 0;
}

void ck_keeper_fleet_health(struct ck_keeper_fleet *r, const struct pollfd *pfd, size_t n)
{
    if (r->health)  /* also on a timeout: it drops the clients past their deadline */
        ck_health_handle(r->health, pfd, n);
}

int ck_keeper_fleet_done_fd(const struct ck_keeper_fleet *r)
{
    return r->done[0];
}

static void on_wake(int sig)
{
    (void)sig;
}

static int setup(struct ck_keeper_fleet *r, struct ck_err *e)
{
    struct sigaction wake;
    if (pipe(r->done) || fcntl(r->done[0], F_SETFD, FD_CLOEXEC) ||
        fcntl(r->done[0], F_SETFL, O_NONBLOCK) ||
        fcntl(r->done[1], F_SETFD, FD_CLOEXEC) || pthread_mutex_init(&r->write_lock, NULL))
        return ck_fail(e, "run: pipe: %s", strerror(errno));
    memset(&wake, 0, sizeof wake);
    wake.sa_handler = on_wake;  /* no SA_RESTART: the interrupted call returns EINTR */
    sigemptyset(&wake.sa_mask);
    if (sigaction(SIGWAKE, &wake, &r->old_wake))
        return ck_fail(e, "run: cannot catch SIGURG: %s", strerror(errno));
    struct ck_err pe;  /* without it, `renew --now` cannot find us: nothing else is lost */
    if (ck_keeper_run_lock(r->c, &r->pidfd, &pe))
        ck_warn(r->log, "run", "%s; `certkeep renew --now` will not find this run", pe.msg);
    if (r->c->listen) {
        if (ck_health_start(r->c->listen, CK_VERSION, r->log, &r->health, e))
            return -1;
        for (size_t i = 0; i < r->n; i++)
            if (!(r->certs[i].hc = ck_health_cert(r->health, r->certs[i].c->cert_name, e)))
                return -1;
    }
    return open_slots(r, e);
}

/* The job slots, each with its store handle (max_concurrent_orders, at most one a
 * certificate). */
static int open_slots(struct ck_keeper_fleet *r, struct ck_err *e)
{
    r->n_slots = (size_t)(r->c->max_orders > 0 ? r->c->max_orders : 1);
    if (r->n_slots > r->n)
        r->n_slots = r->n;
    if (!(r->slots = calloc(r->n_slots, sizeof *r->slots)))
        return ck_fail(e, "run: out of memory");
    for (size_t i = 0; i < r->n_slots; i++) {
        r->slots[i].r = r;
        if (ck_keeper_store_open(r->c, &r->slots[i].st, e))
            return -1;
    }
    return 0;
}

static void close_slots(struct ck_keeper_fleet *r)
{
    for (size_t i = 0; r->slots && i < r->n_slots; i++) {
        ck_acme_free(r->slots[i].acme);
        ck_http_free(r->slots[i].acme_http);
        ck_keeper_store_close(&r->slots[i].st);
    }
    free(r->slots);
    r->slots = NULL;
    r->n_slots = 0;
}

/* Set up (listeners bound, store open): from here on only the calls the loop needs. */
static int narrow(struct ck_keeper_fleet *r, struct ck_err *e)
{
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(CK_SANITIZED)
    /* the sanitizers' runtimes make calls of their own (a test build, not the product) */
    (void)e;
    ck_info(r->log, "run.seccomp", "off in a sanitizer build");
    return 0;
#else
    size_t n = 0;
    if (r->c->no_seccomp) {
        ck_warn(r->log, "run.seccomp", "off (--no-seccomp)");
        return 0;
    }
    int exec = 0, hook = 0;  /* programs of the user's */
    for (size_t i = 0; i < r->n; i++) {
        exec |= r->certs[i].c->reload_command || r->certs[i].c->dns_hook;
        hook |= r->certs[i].c->dns_hook != NULL;
    }
    if (ck_sandbox_run(exec, &n, e))
        return -1;
    r->no_exec = !exec;
    ck_info(r->log, "run.seccomp", "on: %zu system calls allowed%s", n,
            !exec ? "" : hook ? ", execve for challenge.dns_hook"
                                        : ", execve for reload.command");
    return 0;
#endif
}

/* Each keeper's start: the volume, and a planned retry kept in state.json from
 * before a restart. */
/* A share of the start's reads (state.json and the volume, every `stride`-th
 * certificate from `from`) on a slot's store handle: verdicts cost CPU, and a fleet
 * is judged on every core. */
struct start_reads {
    struct ck_keeper_fleet *r;
    size_t from, stride;
    struct ck_keeper_event *evs;
    pthread_t thread;
};

static void *start_read(void *arg)
{
    struct start_reads *sr = arg;
    struct ck_keeper_fleet *r = sr->r;
    struct ck_store *st = r->slots[sr->from].st.store;
    for (size_t i = sr->from; i < r->n; i += sr->stride) {
        struct ck_bundle_state s;
        struct ck_err e;
        struct ck_keeper_event *ev = &sr->evs[i];
        ev->kind = CK_KE_START;
        if (ck_keeper_state_get(r->certs[i].c, st, &s, &e) == 0) {
            ev->failures = s.failures;
            ev->next_retry = s.next_retry;
        }
        read_volume(&r->certs[i], &ev->vol);
    }
    return NULL;
}

static void start(struct ck_keeper_fleet *r);

int ck_keeper_fleet_start(struct ck_keeper_fleet *r, struct ck_err *e)
{
    if (narrow(r, e))
        return -1;
    start(r);
    return 0;
}

static void start(struct ck_keeper_fleet *r)
{
    struct ck_keeper_event *evs = r->n > 1 ? calloc(r->n, sizeof *evs) : NULL;
    struct start_reads sr[64];
    size_t nt = r->n_slots < 64 ? r->n_slots : 64, started = 1;
    set_ready(r);
    if (!evs) {
        for (size_t i = 0; i < r->n; i++)
            start_one(r, &r->certs[i]);
        return;
    }
    for (size_t t = 0; t < nt; t++)
        sr[t] = (struct start_reads){r, t, nt, evs, 0};
    for (size_t t = 1; t < nt; t++, started++)
        if (pthread_create(&sr[t].thread, NULL, start_read, &sr[t]))
            break;
    for (size_t t = started; t < nt; t++)  /* no thread: read here */
        start_read(&sr[t]);
    start_read(&sr[0]);
    for (size_t t = 1; t < started; t++)
        pthread_join(sr[t].thread, NULL);
    for (size_t i = 0; i < r->n; i++) {
        struct cert *ct = &r->certs[i];
        ck_keeper_init(&ct->k, r->slots[0].st.store != NULL, (long)ct->c->min_valid);
        ct->k.ocsp = !ct->c->no_ocsp;
        ct->k.scale = (unsigned)ct->c->time_scale;
        step(r, ct, &evs[i]);
    }
    free(evs);
}

/* The certificates (the configuration's list, else c alone). */
static int make(struct ck_keeper_fleet *r, struct ck_err *e)
{
    const struct ck_config *c = r->c;
    r->n = c->certs ? c->n_certs : 1;
    r->certs = calloc(r->n, sizeof *r->certs);
    r->queue = calloc(r->n, sizeof *r->queue);
    if (!r->certs || !r->queue)
        return ck_fail(e, "run: out of memory");
    for (size_t i = 0; i < r->n; i++) {
        struct cert *ct = &r->certs[i];
        ct->c = c->certs ? &c->certs[i] : c;
        if (r->n > 1)
            snprintf(ct->pre, sizeof ct->pre, "%s: ", ct->c->cert_name);
    }
    if (r->n > 1)
        ck_info(r->log, "run", "%zu certificates, at most %zu jobs at once", r->n,
                (size_t)c->max_orders < r->n ? (size_t)c->max_orders : r->n);
    return 0;
}

int ck_keeper_fleet_new(const struct ck_config *c, const struct ck_log *log,
                        struct ck_keeper_fleet **out, struct ck_err *e)
{
    struct ck_keeper_fleet *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return ck_fail(e, "run: out of memory");
    r->c = c;
    r->log = log;
    r->done[0] = r->done[1] = r->pidfd = -1;
    if (make(r, e) || setup(r, e)) {
        ck_keeper_fleet_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void ck_keeper_fleet_free(struct ck_keeper_fleet *r)
{
    if (!r)
        return;
    close_slots(r);
    free(r->certs);
    free(r->queue);
    ck_health_stop(r->health);
    if (r->loaded) {
        ck_config_free(r->loaded);
        free(r->loaded);
    }
    if (r->pidfd >= 0)
        close(r->pidfd);
    if (r->done[0] >= 0) {
        close(r->done[0]);
        close(r->done[1]);
        pthread_mutex_destroy(&r->write_lock);
    }
    sigaction(SIGWAKE, &r->old_wake, NULL);
    free(r);
}

/* The START of a certificate's keeper: its volume, and a planned retry kept in
 * state.json from before a restart. */
static void start_one(struct ck_keeper_fleet *r, struct cert *ct)
{
    struct ck_bundle_state s;
    struct ck_err e;
    struct ck_keeper_event ev = {.kind = CK_KE_START};
    ck_keeper_init(&ct->k, r->slots[0].st.store != NULL, (long)ct->c->min_valid);
    ct->k.ocsp = !ct->c->no_ocsp;
    ct->k.scale = (unsigned)ct->c->time_scale;
    if (ck_keeper_state_get(ct->c, r->slots[0].st.store, &s, &e) == 0) {
        ev.failures = s.failures;
        ev.next_retry = s.next_retry;
    }
    read_volume(ct, &ev.vol);
    step(r, ct, &ev);
}

/* SIGHUP, no job running: the configuration read again. A certificate of the same
 * name keeps its keeper's state (its volume is judged again by the new settings:
 * other names or key type make it unusable, so it is issued again); a new one
 * starts; a removed one is dropped (its metrics zeroed). A bad file changes nothing. */
static void reread(struct ck_keeper_fleet *r, struct ck_config *nc, const struct ck_err *why)
{
    struct ck_err e = *why;
    r->reread = 0;
    if (!nc) {
        ck_error(r->log, "run.config", "not re-read: out of memory; keeping the old one");
        return;
    }
    int execs = 0;
    if (nc->out_dir) {  /* loaded */
        for (size_t i = 0; i < nc->n_certs; i++)
            execs |= nc->certs[i].reload_command || nc->certs[i].dns_hook;
    }
    if (nc->out_dir && r->no_exec && execs)  /* loaded, and would need execve */
        ck_failk(&e, CK_E_USAGE, "reload.command or challenge.dns_hook added: the seccomp "
                 "filter set at start has no execve (restart to apply)");
    if (!nc->out_dir || (r->no_exec && execs) || ck_config_validate_for(nc, "run", &e)) {
        ck_error(r->log, "run.config", "not re-read: %s; keeping the old one", e.msg);
        ck_config_free(nc);
        free(nc);
        return;
    }
    size_t n = nc->certs ? nc->n_certs : 1, added = 0, kept = 0;
    struct cert *certs = calloc(n, sizeof *certs);
    size_t *queue = calloc(n, sizeof *queue), nq = 0;
    unsigned char *fresh = calloc(n, 1);
    if (!certs || !queue || !fresh) {
        free(certs);
        free(queue);
        free(fresh);
        ck_config_free(nc);
        free(nc);
        ck_error(r->log, "run.config", "not re-read: out of memory; keeping the old one");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct ck_config *c = nc->certs ? &nc->certs[i] : nc;
        struct cert *old = NULL;
        for (size_t j = 0; j < r->n && !old; j++)
            if (r->certs[j].c && !strcmp(r->certs[j].c->cert_name, c->cert_name))
                old = &r->certs[j];
        if (old) {
            certs[i] = *old;
            old->c = NULL;  /* taken */
            certs[i].k.min_valid = (long)c->min_valid;
            certs[i].k.scale = (unsigned)c->time_scale;
            if (certs[i].busy)  /* it waited for a slot: it still does */
                queue[nq++] = i;
            kept++;
        } else {
            memset(&certs[i], 0, sizeof certs[i]);
            fresh[i] = 1;
            added++;
        }
        certs[i].c = c;
        certs[i].pre[0] = '\0';
        if (n > 1)
            snprintf(certs[i].pre, sizeof certs[i].pre, "%s: ", c->cert_name);
    }
    for (size_t j = 0; j < r->n; j++)  /* the removed ones */
        if (r->certs[j].c && r->certs[j].hc) {
            struct ck_health_cert *hc = r->certs[j].hc;
            hc->not_before = hc->not_after = hc->next_renewal = 0;
            hc->failures_consecutive = 0;
        }
    size_t removed = r->n - kept;
    if (nc->listen && (!r->c->listen || strcmp(nc->listen, r->c->listen)))
        ck_warn(r->log, "run.config", "listen: a new address takes effect at a restart");
    close_slots(r);
    free(r->certs);
    free(r->queue);
    r->certs = certs;
    r->n = n;
    r->queue = queue;
    r->n_queue = nq;
    if (r->loaded) {
        ck_config_free(r->loaded);
        free(r->loaded);
    }
    r->loaded = nc;
    r->c = nc;
    if (open_slots(r, &e)) {  /* fails only without memory or with a store refused */
        ck_error(r->log, "run.config", "%s; stopping", e.msg);
        r->stop = 1;
        free(fresh);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct cert *ct = &r->certs[i];
        if (r->health && !ct->hc && !(ct->hc = ck_health_cert(r->health, ct->c->cert_name, &e)))
            ck_warn(r->log, "run.config", "%s", e.msg);
        ct->k.has_store = r->slots[0].st.store != NULL;
        if (fresh[i])
            start_one(r, ct);
    }
    free(fresh);
    set_ready(r);
    ck_info(r->log, "run.config", "re-read: %zu certificates (%zu added, %zu removed), at most "
            "%zu jobs at once", n, added, removed, r->n_slots);
}

void ck_keeper_fleet_reread(struct ck_keeper_fleet *r, struct ck_config *nc,
                            const struct ck_err *why)
{
    reread(r, nc, why);  /* then each is checked now, its volume judged by the settings read */
    ck_info(r->log, "run.signal", "checking now (early retry requested)");
    for (size_t i = 0; i < r->n && !r->stop; i++) {
        struct ck_keeper_event ev = {.kind = CK_KE_EARLY};
        step(r, &r->certs[i], &ev);
    }
}
