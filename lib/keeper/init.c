/* init's work (`certkeep init`, and run's INIT job): the volume, else the store, else
 * issue (one issuer across replicas, under a lease in the store, with its heartbeat).
 * 0 only when the volume then holds a usable certificate. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../keeper/keeper.h"
#include "../store/store.h"
#include "keeper.h"

#define STORE_TRIES 3       /* reads of an unreachable store when the volume has nothing */
#define LEASE_TTL_S CK_KEEPER_LEASE_TTL_S
#define LEASE_BEAT_S 30     /* heartbeat period while issuing */
#define WAIT_MAX_S 900      /* longest wait for another replica's certificate */

/* One place a certificate may come from, and the verdict on it. */
struct source {
    int present;            /* something was read */
    int usable;
    struct ck_bundle b;
    struct ck_cert_summary sum;
    char why[512];          /* reason when not usable */
};

static void source_free(struct source *s)
{
    ck_bundle_free(&s->b);
    memset(s, 0, sizeof *s);
}

static void judge(const struct ck_config *c, const char *where, struct source *s)
{
    struct ck_err e;
    ck_err_clear(&e);
    s->present = 1;
    s->usable = ck_keeper_usable(c, where, &s->b, &s->sum, &e) == 0;
    if (!s->usable)
        snprintf(s->why, sizeof s->why, "%s", e.msg);
}

/* A certificate `certkeep revoke` marked is refused wherever it is found. */
static int refuse_revoked(const struct ck_config *c, struct ck_store *st, const char *where,
                          struct source *s)
{
    if (!s->usable || !ck_keeper_revoked(c, st, s->sum.serial_hex))
        return 0;
    s->usable = 0;
    snprintf(s->why, sizeof s->why, "%s: serial %s is revoked", where, s->sum.serial_hex);
    return 1;
}

static void read_volume(const struct ck_config *c, struct source *s)
{
    struct ck_err e;
    ck_err_clear(&e);
    memset(s, 0, sizeof *s);
    int rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &s->b, &e);
    if (rc == CK_BUNDLE_ABSENT) {
        snprintf(s->why, sizeof s->why, "volume: nothing at %s/%s", c->out_dir, c->cert_name);
        return;
    }
    if (rc) {
        s->present = 1;
        snprintf(s->why, sizeof s->why, "%s", e.msg);
        return;
    }
    judge(c, "volume", s);
}

/* 0 with s judged (or empty), -1 when the store could not be read (e). With
 * newer_than set, the store's certificate is fetched only when its record's
 * notAfter is later (one small GET when the volume is current). */
static int read_store_once(const struct ck_config *c, struct ck_store *st, int64_t newer_than,
                           struct source *s, struct ck_err *e)
{
    memset(s, 0, sizeof *s);
    int rc = 0;
    if (newer_than) {
        struct ck_bundle_record r;
        rc = ck_bundle_store_record(st, c->cert_name, &r, e);
        if (rc == 0 && r.not_after <= newer_than) {
            s->present = 1;
            snprintf(s->why, sizeof s->why, "store: serial %s is not newer", r.serial);
        }
        ck_bundle_record_free(&r);
        if (rc == 0 && s->present)
            return 0;
    }
    if (rc == 0)
        rc = ck_bundle_store_get(st, c->cert_name, &s->b, NULL, e);
    if (rc < 0)
        return -1;
    if (rc == CK_BUNDLE_ABSENT) {
        snprintf(s->why, sizeof s->why, "store: no certificate %s in %s", c->cert_name,
                 ck_store_name(st));
        return 0;
    }
    if (rc == CK_BUNDLE_BROKEN) {
        s->present = 1;
        snprintf(s->why, sizeof s->why, "%s", e->msg);
        return 0;
    }
    judge(c, "store", s);
    refuse_revoked(c, st, "store", s);
    return 0;
}

/* Bounded retries (1 s, 2 s, ...) when the store does not answer. */
static int read_store(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                      int tries, int64_t newer_than, struct source *s, struct ck_err *e)
{
    for (int i = 0; i < tries; i++) {
        if (read_store_once(c, st, newer_than, s, e) == 0)
            return 0;
        if (e->kind == CK_E_USAGE) /* a sealed key without its store key: no retry mends that */
            return -1;
        if (i + 1 < tries && !*c->proc->signal) {
            ck_warn(log, "store.retry", "%s (try %d of %d; again in %d s)", e->msg, i + 1, tries,
                    1 << i);
            sleep(1u << i);
        }
    }
    if (tries > 1)
        ck_wrap(e, "store unreachable after %d tries", tries);
    return -1;
}

/* Reads the volume back: the only proof that the app gets a usable pair. */
static int volume_usable(const struct ck_config *c, struct ck_err *e)
{
    struct source v;
    read_volume(c, &v);
    int ok = v.usable;
    if (!ok)
        ck_fail(e, "after writing: %s", v.why);
    source_free(&v);
    return ok ? 0 : -1;
}

static int publish(const struct ck_config *c, const struct ck_bundle *b, struct ck_err *e)
{
    if (ck_bundle_publish(c->out_dir, c->cert_name, b, e))
        return -1;
    return volume_usable(c, e);
}

static void describe(const struct source *s, char *out, size_t cap)
{
    char when[32];
    ck_time_format(s->sum.not_after, when);
    snprintf(out, cap, "serial %s, notAfter %s", s->sum.serial_hex, when);
}

/* Obtains and writes (store first when st is set). */
/* `replaces`: the ARI id of the certificate this one follows (it ran out, or is revoked), so
 * that the CA counts the order as a renewal; NULL when there was none. */
static int issue_now(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     const char *refused, const char *replaces, struct ck_err *e)
{
    struct ck_bundle b;
    struct ck_cert_summary sum;
    ck_info(log, "init.issue", "issuing: nothing usable (%s)", refused);
    int rc = ck_keeper_obtain_replacing(c, log, st, replaces, &b, &sum, e);
    if (!rc)
        rc = ck_keeper_save(c, log, st, &b, &sum, e);
    ck_bundle_free(&b);
    if (rc)
        return -1;  /* counted by the caller: ck_keeper_note_failure */
    ck_keeper_clear_failures(c, log, st);
    return volume_usable(c, e);
}

void ck_keeper_lease_owner(char *out, size_t cap)
{
    char host[64] = "";
    unsigned char r[4] = {0};
    struct ck_err e;
    if (gethostname(host, sizeof host - 1) || !host[0])
        snprintf(host, sizeof host, "unknown");
    for (char *p = host; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            *p = '_';
    ck_random(r, sizeof r, &e);
    snprintf(out, cap, "%s/%ld/%02x%02x%02x%02x", host, (long)getpid(), r[0], r[1], r[2], r[3]);
}

/* Restores from the store when it now holds a usable certificate: 1 done, 0 not there, -1 error. */
static int restore_if_there(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const char *why, struct ck_err *e)
{
    struct source s;
    struct ck_err ignored;
    if (read_store_once(c, st, 0, &s, &ignored) || !s.usable) {
        source_free(&s);
        return 0;
    }
    int rc = publish(c, &s.b, e);
    if (!rc) {
        char d[160];
        describe(&s, d, sizeof d);
        ck_info(log, "init.store", "restored from %s: %s (%s)", ck_store_name(st), d, why);
    }
    source_free(&s);
    return rc ? -1 : 1;
}

/* Keeps the lease alive while we issue, on a store handle of its own (one
 * ck_http is not shared between threads), so that the TTL can be short and a
 * killed issuer blocks the others for little more than a TTL. */
static void *beat_main(void *arg)
{
    struct ck_keeper_beat *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += LEASE_BEAT_S;
        if (pthread_cond_timedwait(&b->cv, &b->mu, &until) != ETIMEDOUT || b->stop)
            continue;
        pthread_mutex_unlock(&b->mu);
        struct ck_err e;
        int rc = ck_lease_heartbeat(b->lease, &e);
        if (rc)
            ck_warn(b->log, "lease", "heartbeat: %s", e.msg);
        pthread_mutex_lock(&b->mu);
        if (rc == CK_STORE_CONFLICT)
            b->lost = 1;
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

void ck_keeper_beat_start(struct ck_keeper_beat *b, struct ck_lease *lease,
                          const struct ck_log *log)
{
    memset(b, 0, sizeof *b);
    b->lease = lease;
    b->log = log;
    if (pthread_mutex_init(&b->mu, NULL) == 0) {
        if (pthread_cond_init(&b->cv, NULL) == 0) {
            /* The heartbeat must not take SIGINT/SIGTERM: they belong to the main thread. */
            sigset_t stop, old;
            sigemptyset(&stop);
            sigaddset(&stop, SIGINT);
            sigaddset(&stop, SIGTERM);
            pthread_sigmask(SIG_BLOCK, &stop, &old);
            b->running = pthread_create(&b->thread, NULL, beat_main, b) == 0;
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            if (!b->running)
                pthread_cond_destroy(&b->cv);
        }
        if (!b->running)
            pthread_mutex_destroy(&b->mu);
    }
    if (!b->running)
        ck_warn(log, "lease", "no heartbeat thread; the lease lasts %d s", CK_KEEPER_LEASE_TTL_S);
}

void ck_keeper_beat_stop(struct ck_keeper_beat *b)
{
    if (!b->running)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    b->running = 0;
}

/* Holding the lease: re-check the store (someone may have just finished), else issue. */
static int issue_holding(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         struct ck_lease *lease, const char *refused, const char *replaces,
                         struct ck_err *e)
{
    struct ck_keeper_beat b;
    ck_keeper_beat_start(&b, lease, log);
    int rc = restore_if_there(c, log, st, "written by another replica before we took the lease", e);
    if (rc == 0)
        rc = issue_now(c, log, st, refused, replaces, e);
    else
        rc = rc < 0 ? -1 : 0;
    ck_keeper_beat_stop(&b);
    return rc;
}

/* Neither source usable: one replica issues under the lease, the others wait
 * for its certificate (bounded) and restore it. */
static int issue_under_lease(const struct ck_config *c, const struct ck_log *log,
                             struct ck_store *st, const char *refused, const char *replaces,
                             struct ck_err *e)
{
    char owner[128];
    struct ck_keeper_store ls;
    struct ck_lease *lease = NULL;
    struct ck_lease_holder holder;
    time_t deadline = time(NULL) + WAIT_MAX_S;
    int said = 0, rc;
    ck_keeper_lease_owner(owner, sizeof owner);
    if (ck_keeper_store_open(c, &ls, e))
        return -1;
    for (;;) {
        rc = ck_lease_acquire(ls.store, c->cert_name, owner, LEASE_TTL_S, &lease, &holder, e);
        if (rc < 0) {
            ck_wrap(e, "taking the issuer lease");
            goto out;
        }
        if (rc == 0) {
            ck_keeper_lease_overlong(c, log, &holder);
            break;
        }
        if (!said++)
            ck_info(log, "init.wait", "%s; waiting for its certificate", e->msg);
        if (time(NULL) > deadline) {
            rc = ck_fail(e, "no certificate from the lease holder %s within %d s", holder.owner,
                         WAIT_MAX_S);
            goto out;
        }
        if (!*c->proc->signal)
            sleep(1);  /* SIGINT/SIGTERM cut it short */
        if (*c->proc->signal) {
            rc = ck_fail(e, "interrupted while waiting for the lease holder %s", holder.owner);
            goto out;
        }
        rc = restore_if_there(c, log, st, "written by another replica while we waited", e);
        if (rc) {
            rc = rc < 0 ? -1 : 0;
            goto out;
        }
    }
    rc = issue_holding(c, log, st, lease, refused, replaces, e);
    struct ck_err re;
    *c->proc->stop = 0;  /* the release must go out even after a signal */
    if (ck_lease_release(lease, &re))
        ck_warn(log, "lease", "releasing: %s", re.msg);
out:
    ck_keeper_store_close(&ls);
    return rc;
}

/* Copies the volume's certificate to the empty store, so that other replicas need not issue. */
static void seed(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                 const struct source *vol)
{
    struct ck_bundle_record r;
    struct ck_err se;
    if (ck_bundle_record_make(&vol->b, &vol->sum, (const char *const *)c->domains, c->n_domains,
                              vol->sum.not_before, &r, &se) == 0 &&
        ck_bundle_store_put(st, c->cert_name, &vol->b, &r, &se) == 0)
        ck_info(log, "init.seed", "copied the volume's certificate to %s", ck_store_name(st));
    else
        ck_warn(log, "init.seed", "%s", se.msg);
    ck_bundle_record_free(&r);
}

int ck_keeper_init_with(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                        struct ck_err *e)
{
    struct source vol, sto;
    char refused[1100], d[160];
    int rc = -1;
    memset(&sto, 0, sizeof sto);
    read_volume(c, &vol);
    refuse_revoked(c, NULL, "volume", &vol);
    struct ck_keeper_sources in = {.has_store = st != NULL, .store_required = c->store_required,
                                   .vol_usable = vol.usable, .vol_not_after = vol.sum.not_after};
    if (st) {
        in.store_read = read_store(c, log, st, vol.usable ? 1 : STORE_TRIES,
                                   vol.usable ? vol.sum.not_after : 0, &sto, e) == 0;
        if (in.store_read && refuse_revoked(c, st, "volume", &vol) && !sto.b.fullchain) {
            /* the store answers, and marked the volume's revoked: judge the store's own now
             * (it was only asked whether it held something newer) */
            struct ck_err se;
            source_free(&sto);
            if (read_store_once(c, st, 0, &sto, &se))
                snprintf(sto.why, sizeof sto.why, "%s", se.msg);
        }
        in.vol_usable = vol.usable;
        in.store_present = sto.present;
        in.store_usable = sto.usable;
        in.store_not_after = sto.sum.not_after;
    }
    enum ck_keeper_init choice = ck_keeper_init_choice(&in);
    /* the newer of the two certificates found, usable or not, is the one a new order replaces */
    const char *replaces = sto.sum.ari_id[0] && sto.sum.not_after >= vol.sum.not_after
                               ? sto.sum.ari_id
                               : vol.sum.ari_id[0] ? vol.sum.ari_id : NULL;
    switch (choice) {
    case CK_KI_VOLUME:
    case CK_KI_VOLUME_SEED:
        describe(&vol, d, sizeof d);
        if (!st)
            ck_info(log, "init.volume", "using the volume: %s (no store configured)", d);
        else if (!in.store_read)
            ck_warn(log, "init.volume", "using the volume: %s (%s)", d, e->msg);
        else
            ck_info(log, "init.volume", "using the volume: %s (%s)", d,
                    sto.usable ? "store: not newer" : sto.why);
        rc = 0;
        if (choice == CK_KI_VOLUME_SEED)
            seed(c, log, st, &vol);
        break;
    case CK_KI_RESTORE:
        if ((rc = publish(c, &sto.b, e)) == 0) {
            describe(&sto, d, sizeof d);
            ck_info(log, "init.store", "restored from %s: %s (%s)", ck_store_name(st), d,
                    vol.usable ? "newer than the volume's" : vol.why);
        }
        break;
    case CK_KI_ISSUE_LOCAL:
        if (st)
            ck_warn(log, "init.nostore", "%s; store.required is false: issuing without the "
                    "store, the certificate goes to the volume only", e->msg);
        rc = issue_now(c, log, NULL, vol.why, vol.sum.ari_id[0] ? vol.sum.ari_id : NULL, e);
        break;
    case CK_KI_FAIL:
        ck_wrap(e, "no usable certificate (%s), and the store is required", vol.why);
        break;
    case CK_KI_ISSUE:
        snprintf(refused, sizeof refused, "%s; %s", vol.why, sto.why);
        rc = issue_under_lease(c, log, st, refused, replaces, e);
        break;
    }
    source_free(&vol);
    source_free(&sto);
    return rc;
}
