/* certkeep run: init, then stay. One event loop (s6 style): signals arrive on a
 * signalfd, one poll() sleeps until the next thing is due (renewal moment, ARI
 * check, store check, retry after a failure, a health client). What is due when
 * is lib/keeper's (the policy); this file runs its jobs, on one job thread at a
 * time, so /healthz answers and SIGTERM is honoured within a second even while
 * the CA is slow. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/acme/acme.h"
#include "../../lib/health/health.h"
#include "../../lib/http/http.h"
#include "../../lib/keeper/keeper.h"
#include "../../lib/renewal/renewal.h"
#include "../../lib/sandbox/sandbox.h"
#include "../../lib/store/store.h"
#include "cmd.h"

#define STOP_GRACE_MS 700        /* SIGTERM while a job runs: its error path gets this long */
#define STOP_KICK_MS 50          /* ...and a wake-up this often, in case one landed too early */
/* Wakes the job thread out of a blocking call (a sleep, curl's poll) so that it sees the
 * stop flag. Ignored by default: a stray one from outside is harmless. */
#define SIGWAKE SIGURG
#define NEVER CK_KEEPER_NEVER

enum job { JOB_NONE = CK_KJ_NONE, JOB_INIT = CK_KJ_INIT, JOB_RENEW = CK_KJ_RENEW,
           JOB_STORE = CK_KJ_STORE, JOB_ARI = CK_KJ_ARI, JOB_RELOAD = CK_KJ_RELOAD };
static const char *const job_names[] = {"none", "init", "renewal", "store check", "ARI check",
                                        "reload"};

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
    int reload;                  /* ck_cmd_tell_app's answer: 0 told, -1 failed, 1 not told */
    int64_t ari_start, ari_end;
    long retry_after;
    int no_ari;
    unsigned failures;
    int64_t next_retry;
};

struct run {
    const struct ck_config *c;
    const struct ck_log *log;
    struct ck_cmd_store st;
    struct ck_health *health;
    struct ck_health_cert *hc;
    int sigfd, done[2], pidfd;
    pthread_mutex_t write_lock;
    /* the job thread */
    int busy;
    pthread_t thread;
    struct job_io io;
    struct ck_http *acme_http;   /* for ARI, created at the first check */
    struct ck_acme *acme;
    struct ck_keeper k;          /* the policy's state: what is due when */
    struct ck_cert_summary cur;  /* the volume's certificate (serial, ARI id), last read */
    char why[600];               /* why the last volume read was not usable */
    int64_t wake;
    int stop;
    struct sigaction old_wake;
    struct stat vol_st;          /* <out>/<name> as last looked at (volume_moved) */
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

static void job_ari(struct run *r, struct job_io *io)
{
    const struct ck_config *c = r->c;
    if (!r->acme) {
        struct ck_http_opts ho = ck_cmd_http_opts(c, 5000, 30000);
        struct ck_acme_opts ao = {.directory_url = c->directory_url, .log = r->log};
        if (ck_http_new(&ho, &r->acme_http, &io->e)) {
            io->rc = -1;
            return;
        }
        ao.http = r->acme_http;
        if (ck_acme_new(&ao, &r->acme, &io->e)) {
            io->rc = -1;
            return;
        }
    }
    io->retry_after = -1;
    if (ck_acme_directory(r->acme, &io->e)) {
        io->rc = -1;
        return;
    }
    if (!ck_acme_has_ari(r->acme)) {
        io->no_ari = 1;
        return;
    }
    io->rc = ck_acme_renewal_info(r->acme, io->ari_id, &io->ari_start, &io->ari_end,
                                  &io->retry_after, &io->e);
}

static void job_renew(struct run *r, struct job_io *io)
{
    struct ck_cmd_renewal ren;
    memset(&ren, 0, sizeof ren);
    ren.replaces = io->ari_id[0] ? io->ari_id : NULL;
    ren.have_not_after = io->have_not_after;
    ren.write_lock = &r->write_lock;
    io->rc = ck_cmd_renew_once(r->c, r->log, r->st.store, &ren, &io->e);
    io->sum = ren.sum;
    io->changed = io->rc == 0;
    io->reload = io->rc == 0 ? ren.reload : 1;
    io->lease_lost = ren.lease_lost;
}

static void job_init(struct run *r, struct job_io *io)
{
    struct ck_bundle_state s;
    struct ck_err ignored;
    char why[600];
    struct ck_cert_summary before;
    /* files there, usable or not, are what the app was started on */
    int had = ck_cmd_read_volume(r->c, &before, why, sizeof why) != CK_CMD_VOL_ABSENT;
    io->failures_before = io->failures;
    if (ck_cmd_state_get(r->c, r->st.store, &s, &ignored) >= 0 &&
        s.failures > io->failures_before)
        io->failures_before = s.failures;
    io->rc = ck_cmd_init_with(r->c, r->log, r->st.store, &io->e);
    if (io->rc == 0 && ck_cmd_read_volume(r->c, &io->sum, why, sizeof why) == 0 &&
        (!had || strcmp(before.serial_hex, io->sum.serial_hex))) {
        io->changed = 1;
        if (had)  /* the app was started on the old files */
            io->reload = ck_cmd_tell_app(r->c, r->log);
    }
}

static void job_store(struct run *r, struct job_io *io)
{
    int rc = ck_cmd_pickup(r->c, r->log, r->st.store, io->have_not_after, &r->write_lock,
                           &io->sum, &io->e);
    io->rc = rc < 0 ? -1 : 0;
    if (rc == 1) {
        io->changed = 1;
        io->reload = ck_cmd_tell_app(r->c, r->log);
    }
}

static void job_reload(struct run *r, struct job_io *io)
{
    io->reload = ck_cmd_tell_app(r->c, r->log);
    if (io->reload < 0)
        io->rc = ck_fail(&io->e, "the app's reload failed");
}

static void *job_main(void *arg)
{
    struct run *r = arg;
    struct job_io *io = &r->io;
    ck_err_clear(&io->e);
    io->rc = 0;
    switch (io->kind) {
    case JOB_INIT: job_init(r, io); break;
    case JOB_RENEW: job_renew(r, io); break;
    case JOB_STORE: job_store(r, io); break;
    case JOB_ARI: job_ari(r, io); break;
    case JOB_RELOAD: job_reload(r, io); break;
    case JOB_NONE: break;
    }
    /* a stop is not a failure: the next start just tries again */
    if (io->rc < 0 && !ck_cmd_signal && (io->kind == JOB_INIT || io->kind == JOB_RENEW)) {
        struct ck_err copy = io->e;
        ck_cmd_note_failure(r->c, r->log, r->st.store, &copy,
                            io->kind == JOB_INIT ? io->failures_before : UINT_MAX, &io->failures,
                            &io->next_retry);
    }
    char one = 1;
    while (write(r->done[1], &one, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static int start_job(struct run *r, enum job kind)
{
    struct job_io *io = &r->io;
    memset(io, 0, sizeof *io);
    io->kind = kind;
    io->reload = 1;
    io->failures = r->k.failures;  /* the count in memory, when state.json cannot be read */
    if (r->k.ready) {
        io->have_not_after = r->cur.not_after;
        snprintf(io->ari_id, sizeof io->ari_id, "%s", r->cur.ari_id);
    } else if (r->cur.ari_id[0]) {
        snprintf(io->ari_id, sizeof io->ari_id, "%s", r->cur.ari_id);
    }
    if (pthread_create(&r->thread, NULL, job_main, r)) {
        ck_error(r->log, "run", "cannot start a thread for the %s; trying again in 60 s",
                 job_names[kind]);
        return -1;
    }
    r->busy = 1;
    ck_debug(r->log, "run.job", "%s started", job_names[kind]);
    return 0;
}

/* ---- driving the keeper ---- */

/* Another process switched the volume (a `renew` that could not signal us): the
 * <out>/<name> symlink's inode and mtime, looked at on each turn of the loop. */
static int volume_moved(struct run *r)
{
    char path[PATH_MAX];
    struct stat st, *old = &r->vol_st;
    int n = snprintf(path, sizeof path, "%s/%s", r->c->out_dir, r->c->cert_name);
    if (n < 0 || (size_t)n >= sizeof path || lstat(path, &st))
        return 0;
    int moved = old->st_ino && (st.st_ino != old->st_ino ||
                                st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
                                st.st_mtim.tv_nsec != old->st_mtim.tv_nsec);
    *old = st;
    return moved;
}

/* Reads the volume for the keeper (lib/cert's verdict, revocation marks). */
static void read_volume(struct run *r, struct ck_keeper_volume *v)
{
    struct ck_cert_summary s;
    volume_moved(r);  /* what is read now is no change to notice later */
    int ok = ck_cmd_read_volume(r->c, &s, r->why, sizeof r->why) == 0;
    memset(v, 0, sizeof *v);
    v->usable = ok;
    v->parsed = s.not_after != 0;
    v->same = ok && r->k.ready && !strcmp(s.serial_hex, r->cur.serial_hex);
    v->has_ari = s.ari_id[0] != 0;
    v->not_before = s.not_before;
    v->not_after = s.not_after;
    if (ok || s.not_after)  /* parsed but unusable: still the one a renewal replaces */
        r->cur = s;
}

static void log_time(const struct run *r, const char *event, const char *what, int64_t t)
{
    char when[32];
    ck_time_format(t, when);
    ck_info(r->log, event, "%s %s (in %lld s)", what, when, (long long)(t - now_s()));
}

/* What the keeper noted, said in the log and the metrics. */
static void notes(struct run *r, const struct ck_keeper_event *ev, unsigned note)
{
    struct ck_keeper *k = &r->k;
    if (note & CK_KN_SAY_UNUSABLE)
        ck_warn(r->log, "run.volume", "%s", r->why);
    if (note & CK_KN_RETRY_BOUNDED) {
        char when[32];
        ck_time_format(ev->next_retry, when);
        ck_warn(r->log, "run.retry", "state.json plans the next retry at %s, further than the "
                "retry schedule allows (a clock ahead, or a bad write): %lld s from now instead",
                when, (long long)(k->retry_at - ev->now));
    }
    if (note & CK_KN_RETRY_PLANNED)
        log_time(r, "run.retry", "honouring the planned retry at", k->retry_at);
    if (note & CK_KN_NO_ARI)
        ck_info(r->log, "ari", "the CA offers no renewalInfo; renewing by the certificate's "
                               "lifetime");
    if (note & CK_KN_ARI_BOUNDED) {
        struct ck_window w = ck_renewal_ari_bound((struct ck_window){ev->ari_start, ev->ari_end},
                                                  k->not_before, k->not_after);
        ck_warn(r->log, "ari", "the CA's window ends %lld s after what the "
                "certificate's expiry allows; renewing within [%lld, %lld)",
                (long long)(ev->ari_end - w.end), (long long)w.start, (long long)w.end);
    }
    if (note & CK_KN_ARI_MOMENT)
        log_time(r, "ari", "the CA's window: renewing at", k->renew_at);
    if (note & CK_KN_LEASE_LOST)
        ck_warn(r->log, "lease", "lost during the %s: reading the store now (another replica "
                "may have renewed too)", job_names[r->io.kind]);
    if (r->hc && (note & CK_KN_SUCCESS)) {
        r->hc->renewals_success += r->io.kind == JOB_RENEW;
        r->hc->last_success = ev->now;
    }
    if (note & CK_KN_RELOAD_RETRY) {
        char when[32];
        ck_time_format(k->reload_at, when);
        ck_warn(r->log, "reload", "telling the app failed (%u in a row); again at %s (in %lld s)",
                k->reload_failures, when, (long long)(k->reload_at - now_s()));
    }
    if (note & CK_KN_NEXT)
        log_time(r, "run.next", "next renewal at", ck_keeper_next_attempt(k, now_s()));
}

static void set_metrics(struct run *r)
{
    if (r->health)  /* NULL: no --listen */
        ck_health_set_ready(r->health, r->k.ready);
    if (!r->hc)
        return;
    r->hc->not_before = r->k.ready ? r->k.not_before : 0;
    r->hc->not_after = r->k.ready ? r->k.not_after : 0;
    r->hc->failures_consecutive = r->k.failures;
    int64_t t = ck_keeper_next_attempt(&r->k, now_s());
    r->hc->next_renewal = t == NEVER ? 0 : t;
}

/* One step of the keeper, and its actions run: volume reads, the job, the exit. */
static void step(struct run *r, struct ck_keeper_event *ev)
{
    struct ck_keeper_out o;
    ev->now = now_s();
    ev->rnd = rnd32();
    ck_keeper_step(&r->k, ev, &o);
    notes(r, ev, o.note);
    while (o.act & CK_KA_READ_VOLUME) {
        struct ck_keeper_event v = {.kind = CK_KE_VOLUME};
        read_volume(r, &v.vol);
        v.now = now_s();
        v.rnd = rnd32();
        ck_keeper_step(&r->k, &v, &o);
        notes(r, &v, o.note);
    }
    set_metrics(r);
    r->wake = o.wake;
    if (o.act & CK_KA_CANCEL && r->busy)
        pthread_kill(r->thread, SIGWAKE);
    if (o.act & CK_KA_EXIT)
        r->stop = 1;
    if (o.act & CK_KA_JOB && start_job(r, (enum job)o.job)) {
        struct ck_keeper_event n = {.kind = CK_KE_NOSTART};
        step(r, &n);
    }
}

static void finish_job(struct run *r)
{
    struct job_io *io = &r->io;
    struct ck_keeper_event ev = {.kind = CK_KE_DONE, .changed = io->changed,
                                 .ari_start = io->ari_start, .ari_end = io->ari_end,
                                 .retry_after = io->retry_after, .no_ari = io->no_ari,
                                 .reload_failed = io->reload < 0};
    pthread_join(r->thread, NULL);
    r->busy = 0;
    if (r->hc && io->reload != 1) {
        r->hc->reloads_success += io->reload == 0;
        r->hc->reloads_failure += io->reload < 0;
    }
    int renewal = io->kind == JOB_INIT || io->kind == JOB_RENEW;
    if (r->stop && io->rc < 0) {
        ck_info(r->log, "run.stop", "the %s in progress was cut short: %s", job_names[io->kind],
                io->e.msg);
        ev.result = CK_KR_CUT;
    } else if (io->rc < 0) {
        ev.result = CK_KR_FAILED;
        ev.failures = io->failures;
        ev.next_retry = io->next_retry;
        if (renewal) {
            if (r->hc) {
                r->hc->renewals_failure++;
                r->hc->failures[ck_health_reason(io->e.kind)]++;
            }
            ck_error(r->log, "renew.failed", "%s failed (%u in a row): %s; next try in %lld s",
                     job_names[io->kind], io->failures, io->e.msg,
                     (long long)(io->next_retry - now_s()));
        } else if (io->kind != JOB_RELOAD) {  /* lib/reload said why, the note when next */
            ck_warn(r->log, io->kind == JOB_ARI ? "ari" : "store.check", "%s", io->e.msg);
        }
    } else if (renewal && io->rc == CK_CMD_BUSY) {
        ck_info(r->log, "renew.wait", "%s; looking at the store again shortly", io->e.msg);
        ev.result = CK_KR_BUSY;
    }
    if (io->lease_lost) {
        struct ck_keeper_event lost = {.kind = CK_KE_LEASE_LOST};
        step(r, &lost);  /* before its end: the keeper still counts the job as running */
    }
    step(r, &ev);
}

static void on_signals(struct run *r)
{
    struct signalfd_siginfo si;
    while (read(r->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        struct ck_keeper_event ev = {.kind = CK_KE_EARLY};
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            /* as in the one-shot commands: the job ends through its error path
             * (tokens removed, lease released, nothing half-written) */
            r->stop = 1;
            ck_cmd_signal = (sig_atomic_t)si.ssi_signo;
            ck_cmd_stop = 1;
            ev.kind = CK_KE_TERM;
        } else if (si.ssi_signo == SIGUSR2) {  /* from certkeep renew (runpid.c) */
            ck_info(r->log, "run.signal", "the volume changed (certkeep renew): reading it");
            ev.kind = CK_KE_CHANGED;
        } else {
            ck_info(r->log, "run.signal", "checking now (early retry requested)");
        }
        step(r, &ev);
    }
}

/* SIGTERM during a job: it sees the stop flag and ends; should it not within
 * the grace, abandon it, never mid-write. */
static void stop_busy(struct run *r)
{
    int64_t end = mono_ms() + STOP_GRACE_MS;
    struct pollfd p = {.fd = r->done[0], .events = POLLIN};
    while (r->busy) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        pthread_kill(r->thread, SIGWAKE);
        if (poll(&p, 1, left < STOP_KICK_MS ? (int)left : STOP_KICK_MS) > 0) {
            char b;
            if (read(r->done[0], &b, 1) == 1)
                finish_job(r);
        }
    }
    if (!r->busy)
        return;
    pthread_mutex_lock(&r->write_lock);  /* a write in progress finishes; none starts */
    ck_info(r->log, "run.stop", "stopping: the %s in progress is abandoned", job_names[r->io.kind]);
    fflush(NULL);
    _exit(0);
}

static int loop(struct run *r)
{
    struct pollfd pfd[CK_HEALTH_MAX_FDS + 2];
    while (!r->stop) {
        int timeout = -1;
        if (!r->busy) {
            struct ck_keeper_event ev = {.kind = CK_KE_TIMER};
            if (volume_moved(r) && r->k.job == CK_KJ_NONE) {
                ck_info(r->log, "run.volume", "the volume changed (another process): reading it");
                ev.kind = CK_KE_CHANGED;
            }
            step(r, &ev);
            if (r->busy || r->stop)
                continue;
            /* poll() waits on the monotonic clock; the wall clock names the moment and
             * is read again at each wake-up, at least hourly (a clock step) */
            timeout = ck_keeper_poll_ms(r->wake, now_s());
        }
        size_t n = 0;
        if (r->health)
            n = ck_health_pollfds(r->health, pfd, CK_HEALTH_MAX_FDS, &timeout);
        pfd[n] = (struct pollfd){.fd = r->sigfd, .events = POLLIN};
        pfd[n + 1] = (struct pollfd){.fd = r->done[0], .events = POLLIN};
        int got = poll(pfd, n + 2, timeout);
        if (got < 0 && errno != EINTR) {
            ck_error(r->log, "run", "poll: %s", strerror(errno));
            sleep(1);
            continue;
        }
        if (got < 0)
            continue;
        if (r->health)  /* also on a timeout: it drops the clients past their deadline */
            ck_health_handle(r->health, pfd, n);
        if (got == 0)
            continue;
        if (pfd[n].revents)
            on_signals(r);
        if (pfd[n + 1].revents & POLLIN) {
            char b;
            if (read(r->done[0], &b, 1) == 1 && r->busy)
                finish_job(r);
        }
    }
    if (r->busy)
        stop_busy(r);
    ck_info(r->log, "run.stop", "stopping");
    return 0;
}

static void on_wake(int sig)
{
    (void)sig;
}

static int setup(struct run *r, sigset_t *old, struct ck_err *e)
{
    sigset_t s;
    struct sigaction wake;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGHUP);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    /* blocked before any thread exists, so that every thread inherits it */
    if (pthread_sigmask(SIG_BLOCK, &s, old))
        return ck_fail(e, "run: cannot block signals");
    r->sigfd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
    if (r->sigfd < 0)
        return ck_fail(e, "run: signalfd: %s", strerror(errno));
    if (pipe(r->done) || fcntl(r->done[0], F_SETFD, FD_CLOEXEC) ||
        fcntl(r->done[1], F_SETFD, FD_CLOEXEC) || pthread_mutex_init(&r->write_lock, NULL))
        return ck_fail(e, "run: pipe: %s", strerror(errno));
    memset(&wake, 0, sizeof wake);
    wake.sa_handler = on_wake;  /* no SA_RESTART: the interrupted call returns EINTR */
    sigemptyset(&wake.sa_mask);
    if (sigaction(SIGWAKE, &wake, &r->old_wake))
        return ck_fail(e, "run: cannot catch SIGURG: %s", strerror(errno));
    struct ck_err pe;  /* without it, `renew --now` cannot find us: nothing else is lost */
    if (ck_cmd_run_lock(r->c, &r->pidfd, &pe))
        ck_warn(r->log, "run", "%s; `certkeep renew --now` will not find this run", pe.msg);
    if (r->c->listen) {
        if (ck_health_start(r->c->listen, CK_VERSION, r->log, &r->health, e))
            return -1;
        if (!(r->hc = ck_health_cert(r->health, r->c->cert_name, e)))
            return -1;
    }
    return ck_cmd_store_open(r->c, &r->st, e);
}

/* Set up (listeners bound, store open): from here on only the calls the loop needs. */
static int narrow(struct run *r, struct ck_err *e)
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
    int exec = r->c->reload_command || r->c->dns_hook;  /* programs of the user's */
    if (ck_sandbox_run(exec, &n, e))
        return -1;
    ck_info(r->log, "run.seccomp", "on: %zu system calls allowed%s", n,
            !exec ? "" : r->c->dns_hook ? ", execve for challenge.dns_hook"
                                        : ", execve for reload.command");
    return 0;
#endif
}

/* The keeper's start: the volume, and a planned retry kept in state.json from
 * before a restart. */
static void start(struct run *r)
{
    struct ck_bundle_state s;
    struct ck_err e;
    struct ck_keeper_event ev = {.kind = CK_KE_START};
    if (ck_cmd_state_get(r->c, r->st.store, &s, &e) == 0) {
        ev.failures = s.failures;
        ev.next_retry = s.next_retry;
    }
    read_volume(r, &ev.vol);
    step(r, &ev);
}

int ck_cmd_run(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct run r;
    sigset_t old;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.log = log;
    r.sigfd = r.done[0] = r.done[1] = r.pidfd = -1;
    if (ck_config_validate_for(c, "run", e) || ck_cmd_trust_load(c, e))
        return -1;
    int rc = setup(&r, &old, e);
    if (rc == 0)
        rc = narrow(&r, e);
    if (rc == 0) {
        ck_keeper_init(&r.k, r.st.store != NULL, (long)c->min_valid);
        start(&r);
        rc = loop(&r);
    }
    ck_acme_free(r.acme);
    ck_http_free(r.acme_http);
    ck_health_stop(r.health);
    ck_cmd_store_close(&r.st);
    if (r.sigfd >= 0)
        close(r.sigfd);
    if (r.pidfd >= 0)
        close(r.pidfd);
    if (r.done[0] >= 0) {
        close(r.done[0]);
        close(r.done[1]);
        pthread_mutex_destroy(&r.write_lock);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGWAKE, &r.old_wake, NULL);
    return rc;
}
