#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cert/cert.h"
#include "keeper/keeper.h"
#include "renewal/renewal.h"

#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z */
#define NEVER CK_KEEPER_NEVER

/* A fake world: the clock, the volume's certificate, a random stream. */
struct world {
    struct ck_keeper k;
    struct ck_keeper_out o;
    int64_t now;
    uint32_t rnd;
    struct ck_keeper_volume vol;
    unsigned notes;            /* every note since the last clear */
    int reads;                 /* volume reads answered */
};

static struct ck_keeper_volume cert(int64_t nb, int64_t na, int has_ari)
{
    return (struct ck_keeper_volume){.usable = 1, .parsed = 1, .has_ari = has_ari,
                                     .not_before = nb, .not_after = na};
}

static const struct ck_keeper_volume none = {0};

/* One step; a volume read asked for is answered at once, as the caller does. */
static void step(struct world *w, struct ck_keeper_event ev)
{
    ev.now = w->now;
    ev.rnd = w->rnd = w->rnd * 2654435761u + 12345u;
    ck_keeper_step(&w->k, &ev, &w->o);
    w->notes |= w->o.note;
    while (w->o.act & CK_KA_READ_VOLUME) {
        unsigned act = w->o.act & ~CK_KA_READ_VOLUME;
        struct ck_keeper_event v = {.kind = CK_KE_VOLUME, .now = w->now, .vol = w->vol};
        assert_int_equal(act & CK_KA_JOB, 0);  /* no job before the volume is known */
        w->reads++;
        ck_keeper_step(&w->k, &v, &w->o);
        w->notes |= w->o.note;
    }
}

static void ev(struct world *w, enum ck_keeper_ev kind)
{
    step(w, (struct ck_keeper_event){.kind = kind});
}

static void done(struct world *w, enum ck_keeper_result r, int changed)
{
    step(w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = r, .changed = changed});
}

/* A volume that changed to `v` (same: 0), as after a job wrote it. */
static void set_vol(struct world *w, struct ck_keeper_volume v, int same)
{
    w->vol = v;
    w->vol.same = same;
}

static void start(struct world *w, int has_store, struct ck_keeper_volume v, unsigned failures,
                  int64_t next_retry)
{
    memset(w, 0, sizeof *w);
    w->now = T0;
    w->rnd = 7;
    ck_keeper_init(&w->k, has_store, 0);
    set_vol(w, v, 0);
    step(w, (struct ck_keeper_event){.kind = CK_KE_START, .vol = w->vol, .failures = failures,
                                     .next_retry = next_retry});
    w->vol.same = 1;  /* from now on it stays the same until a test changes it */
}

static void expect_job(struct world *w, enum ck_keeper_job j)
{
    assert_true(w->o.act & CK_KA_JOB);
    assert_int_equal(w->o.job, j);
}

static void expect_idle(struct world *w)
{
    assert_int_equal(w->o.act & (CK_KA_JOB | CK_KA_EXIT | CK_KA_CANCEL), 0);
    assert_true(w->o.wake > w->now);
}

/* Runs the clock to the next wake-up and steps there. */
static void sleep_until_wake(struct world *w)
{
    assert_true(w->o.wake != NEVER);
    w->now = w->o.wake;
    ev(w, CK_KE_TIMER);
}

/* A usable volume at start: init only reconciles (once), then renewal at its moment. */
static void restore_usable_volume(void **state)
{
    (void)state;
    struct world w;
    start(&w, 1, cert(T0 - DAY, T0 + 89 * DAY, 0), 0, 0);
    expect_job(&w, CK_KJ_INIT);
    assert_true(w.k.ready);
    struct ck_window win = ck_renewal_window(T0 - DAY, T0 + 89 * DAY);
    assert_true(w.k.renew_at >= win.start && w.k.renew_at < win.end);
    done(&w, CK_KR_OK, 0);
    assert_int_equal(w.reads, 1);
    assert_true(w.k.inited);
    assert_true(w.notes & CK_KN_NEXT);
    assert_false(w.notes & CK_KN_SUCCESS);  /* nothing new: not a renewal */
    expect_idle(&w);
    assert_true(w.o.wake >= T0 + 600 && w.o.wake < T0 + 900);  /* the store check first */
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_STORE);
    done(&w, CK_KR_OK, 0);
    assert_int_equal(w.reads, 1);  /* nothing changed: no read */
    expect_idle(&w);
}

/* Nothing on the volume: init at once (restore from the store or issue); a restore
 * is a success. Without a store, no store check is ever planned. */
static void restore_empty_volume(void **state)
{
    (void)state;
    struct world w;
    start(&w, 1, none, 0, 0);
    assert_true(w.notes & CK_KN_SAY_UNUSABLE);
    assert_false(w.k.ready);
    expect_job(&w, CK_KJ_INIT);
    set_vol(&w, cert(T0, T0 + 90 * DAY, 1), 0);
    done(&w, CK_KR_OK, 1);
    assert_true(w.k.ready && w.k.inited);
    assert_true(w.notes & CK_KN_SUCCESS);
    assert_true(w.k.store_at >= T0 + 600 && w.k.store_at < T0 + 900);
    assert_true(w.k.ari_at >= T0 + 300 && w.k.ari_at < T0 + 1200);
    expect_idle(&w);

    start(&w, 0, none, 0, 0);
    expect_job(&w, CK_KJ_INIT);
    set_vol(&w, cert(T0, T0 + 90 * DAY, 0), 0);
    done(&w, CK_KR_OK, 1);
    expect_idle(&w);
    assert_int_equal(w.k.store_at, NEVER);
    assert_int_equal(w.o.wake, w.k.renew_at);  /* no store, no ARI: the renewal */
}

/* The renewal moment: nothing before it, a renewal at it, a new moment for the new one. */
static void renewal_moment(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, cert(T0, T0 + 90 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    int64_t at = w.k.renew_at;
    assert_int_equal(w.o.wake, at);
    assert_true(at % 60 != 0);
    w.now = at - 1;
    ev(&w, CK_KE_TIMER);
    expect_idle(&w);
    assert_int_equal(w.o.wake, at);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_RENEW);
    ev(&w, CK_KE_TIMER);  /* a turn of the loop while it runs: no second job */
    assert_int_equal(w.o.act, 0);
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    w.notes = 0;
    done(&w, CK_KR_OK, 1);
    assert_true(w.notes & CK_KN_SUCCESS);
    assert_true(w.notes & CK_KN_NEXT);  /* the new moment is said */
    struct ck_window win = ck_renewal_window(w.now, w.now + 90 * DAY);
    assert_true(w.k.renew_at >= win.start && w.k.renew_at < win.end);
    assert_int_equal(w.k.failures, 0);
}

/* ARI: the CA's window moves the moment; its Retry-After sets the next check. */
static void ari_window_and_retry_after(void **state)
{
    (void)state;
    struct world w;
    const int64_t nb = T0 - 10 * DAY, na = T0 + 80 * DAY;
    start(&w, 0, cert(nb, na, 1), 0, 0);
    done(&w, CK_KR_OK, 0);
    assert_true(w.o.wake >= T0 + 300 && w.o.wake < T0 + 1200);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_ARI);
    int64_t s = T0 + 5 * DAY, e = T0 + 6 * DAY;
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .ari_start = s, .ari_end = e,
                                      .retry_after = 7200});
    assert_true(w.notes & CK_KN_ARI_MOMENT);
    assert_false(w.notes & CK_KN_ARI_BOUNDED);
    assert_true(w.k.renew_at >= s && w.k.renew_at < e);
    assert_int_equal(w.k.ari_at, w.now + 7200);
    int64_t at = w.k.renew_at;
    /* the same window again: the moment stays; a Retry-After is honoured whatever its
     * size within 1 min .. 7 days, and bounded to them */
    const long ras[][2] = {{5, 60}, {0, 60}, {60, 60}, {90, 90}, {3600, 3600},
                           {36000, 36000}, {3 * DAY, 3 * DAY}, {7 * DAY, 7 * DAY},
                           {30 * DAY, 7 * DAY}, {LONG_MAX, 7 * DAY}};
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_ARI);
    for (size_t i = 0; i < sizeof ras / sizeof ras[0]; i++) {
        w.k.job = CK_KJ_ARI;  /* each answer to a check started at T0 + 1 h */
        w.now = T0 + 3600;
        w.notes = 0;
        step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .ari_start = s, .ari_end = e,
                                          .retry_after = ras[i][0]});
        assert_false(w.notes & CK_KN_ARI_MOMENT);
        assert_int_equal(w.k.renew_at, at);
        assert_int_equal(w.k.ari_at, w.now + ras[i][1]);
    }
    /* no Retry-After: 10..12 h */
    w.now = T0;
    w.k.job = CK_KJ_ARI;
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .ari_start = s, .ari_end = e,
                                      .retry_after = -1});
    assert_true(w.k.ari_at >= w.now + 36000 && w.k.ari_at < w.now + 43200);
    /* the CA wants it now: a window in the past renews within seconds */
    sleep_until_wake(&w);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .ari_start = T0 - DAY,
                                      .ari_end = T0 - DAY + 60, .retry_after = -1});
    assert_true(w.k.renew_at > w.now && w.k.renew_at <= w.now + 31);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_RENEW);
    /* a window past 7/8 of the lifetime is cut, and said */
    start(&w, 0, cert(nb, na, 1), 0, 0);
    done(&w, CK_KR_OK, 0);
    sleep_until_wake(&w);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .ari_start = na - 15 * DAY,
                                      .ari_end = na + 10 * DAY, .retry_after = -1});
    assert_true(w.notes & CK_KN_ARI_BOUNDED);
    assert_true(w.k.renew_at < na - (na - nb) / 8);
    /* no renewalInfo: never asked again; a failed check: again in 1..1.5 h */
    sleep_until_wake(&w);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .no_ari = 1});
    sleep_until_wake(&w);  /* nothing to do before the renewal */
    start(&w, 0, cert(nb, na, 1), 0, 0);
    done(&w, CK_KR_OK, 0);
    sleep_until_wake(&w);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED});
    assert_true(w.k.ari_at >= w.now + 3600 && w.k.ari_at < w.now + 5400);
    assert_int_equal(w.k.failures, 0);  /* an ARI check is no renewal failure */
}

/* The failure schedule: count, 1 m / 10 m / 100 m / 1 d, jitter, Retry-After. */
static void backoff_steps(void **state)
{
    (void)state;
    unsigned f;
    int64_t next;
    const long steps[] = {60, 600, 6000, DAY, DAY};
    for (unsigned i = 0; i < 5; i++) {
        int64_t lo = NEVER, hi = 0;
        for (uint32_t r = 0; r < 5000; r++) {
            ck_keeper_backoff(i, 1, 0, UINT32_MAX, -1, T0, r * 2654435761u, &f, &next);
            assert_int_equal(f, i + 1);
            lo = next < lo ? next : lo;
            hi = next > hi ? next : hi;
        }
        assert_int_equal(lo, T0 + steps[i]);
        assert_true(hi < T0 + steps[i] + (steps[i] / 100 > 5 ? steps[i] / 100 : 5));
        assert_true(hi <= T0 + CK_RETRY_HORIZON);
        assert_true(hi >= lo + 4);  /* a fleet's retries spread, from the first step on */
    }
    /* a Retry-After longer than the step wins, spread too */
    int64_t lo = NEVER, hi = 0;
    for (uint32_t r = 0; r < 5000; r++) {
        ck_keeper_backoff(0, 1, 0, UINT32_MAX, 3000, T0, r * 2654435761u, &f, &next);
        lo = next < lo ? next : lo;
        hi = next > hi ? next : hi;
    }
    assert_int_equal(lo, T0 + 3000);
    assert_true(hi >= T0 + 3020 && hi < T0 + 3030);
    /* one beyond reason is bounded (7 days), never an overflow */
    ck_keeper_backoff(0, 1, 0, UINT32_MAX, LONG_MAX, T0, 12345, &f, &next);
    assert_true(next >= T0 + 7 * DAY && next < T0 + 7 * DAY + 7 * DAY / 100);
    /* another replica counted this failure already (init: seen = count it started from) */
    ck_keeper_backoff(3, 1, 0, 2, -1, T0, 0, &f, &next);
    assert_int_equal(f, 3);
    /* the store's count stands (a replica reset it); a local file below memory does not */
    ck_keeper_backoff(0, 1, 5, UINT32_MAX, -1, T0, 0, &f, &next);
    assert_int_equal(f, 1);
    ck_keeper_backoff(0, 0, 5, UINT32_MAX, -1, T0, 0, &f, &next);
    assert_int_equal(f, 6);
    ck_keeper_backoff(-1, 1, 2, UINT32_MAX, -1, T0, 0, &f, &next);
    assert_int_equal(f, 3);
    assert_int_equal(next, T0 + 6000);
}

/* A failed reload: counted, tried again with backoff (10 s, 1 min, ...) until it works;
 * a new certificate's reload starts the count again. */
static void reload_retry(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, cert(T0, T0 + 90 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    int64_t at = w.k.renew_at;
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_RENEW);
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    w.notes = 0;
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .changed = 1, .reload_failed = 1});
    assert_true(w.notes & CK_KN_SUCCESS);  /* the renewal itself worked */
    assert_true(w.notes & CK_KN_RELOAD_RETRY);
    assert_int_equal(w.k.failures, 0);
    expect_idle(&w);
    assert_true(w.o.wake >= w.now + 10 && w.o.wake <= w.now + 11);
    const long lo[] = {60, 300, 1800, 3600, 3600};
    for (int i = 0; i < 5; i++) {
        sleep_until_wake(&w);
        expect_job(&w, CK_KJ_RELOAD);
        step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED});
        assert_int_equal(w.k.reload_failures, (unsigned)i + 2);
        assert_true(w.k.reload_at >= w.now + lo[i] && w.k.reload_at <= w.now + lo[i] * 11 / 10);
        assert_int_equal(w.o.wake, w.k.reload_at);
    }
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_RELOAD);
    done(&w, CK_KR_OK, 0);
    assert_int_equal(w.k.reload_failures, 0);
    assert_int_equal(w.k.reload_at, NEVER);
    assert_true(w.o.wake > at);  /* back to the renewal schedule */
    /* a store pickup that reloads fine clears a pending retry too */
    w.k.reload_failures = 2;
    w.k.reload_at = w.now + 50;
    w.k.store_at = w.now;
    w.k.has_store = 1;
    ev(&w, CK_KE_TIMER);
    expect_job(&w, CK_KJ_STORE);
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    done(&w, CK_KR_OK, 1);
    assert_int_equal(w.k.reload_at, NEVER);
}

/* renew beside run: run is told the volume changed and takes its new schedule. */
static void volume_changed_outside(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, cert(T0 - 60 * DAY, T0 + 30 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    int reads = w.reads;
    w.now += 100;
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    w.notes = 0;
    ev(&w, CK_KE_CHANGED);
    assert_int_equal(w.reads, reads + 1);
    assert_true(w.notes & CK_KN_NEXT);
    assert_int_equal(w.k.not_after, w.now + 90 * DAY);
    struct ck_window win = ck_renewal_window(w.now, w.now + 90 * DAY);
    assert_true(w.k.renew_at >= win.start && w.k.renew_at < win.end);
    expect_idle(&w);
    assert_int_equal(w.k.retry_at, 0);  /* not an early retry: nothing else moves */
    /* during a job: nothing now, the job's end reads it */
    w.k.job = CK_KJ_STORE;
    ev(&w, CK_KE_CHANGED);
    assert_int_equal(w.reads, reads + 1);
}

/* Failures through the table, then a restart that keeps them. */
static void backoff_survives_restart(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, none, 0, 0);
    expect_job(&w, CK_KJ_INIT);
    w.notes = 0;
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED,
                                      .failures = 1, .next_retry = T0 + 60});
    assert_false(w.notes & CK_KN_SAY_UNUSABLE);  /* said once, not after every retry */
    expect_idle(&w);
    assert_int_equal(w.o.wake, T0 + 60);
    assert_int_equal(ck_keeper_next_attempt(&w.k, w.now), T0 + 60);
    w.now = T0 + 59;
    ev(&w, CK_KE_TIMER);
    expect_idle(&w);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_INIT);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED,
                                      .failures = 2, .next_retry = w.now + 600});
    assert_int_equal(w.k.failures, 2);
    /* the process restarts: state.json's plan is honoured, no attempt before it */
    int64_t planned = w.now + 600;
    start(&w, 0, none, 2, planned);
    assert_true(w.notes & CK_KN_RETRY_PLANNED);
    expect_idle(&w);
    assert_int_equal(w.o.wake, planned);
    assert_int_equal(w.k.failures, 2);
    /* a plan years ahead (a bad write, a clock ahead) gives way to the schedule */
    start(&w, 0, none, 2, T0 + 400 * DAY);
    assert_true(w.notes & CK_KN_RETRY_BOUNDED);
    assert_int_equal(w.o.wake, T0 + 600);
    /* a plan in the past: at once */
    start(&w, 0, none, 3, T0 - 5);
    assert_false(w.notes & CK_KN_RETRY_PLANNED);
    expect_job(&w, CK_KJ_INIT);
    /* a usable volume: init's reconciliation does not wait for the retry */
    start(&w, 1, cert(T0, T0 + 90 * DAY, 0), 1, T0 + 60);
    expect_job(&w, CK_KJ_INIT);
    done(&w, CK_KR_OK, 0);
    assert_int_equal(w.k.failures, 0);
}

/* Another replica holds the lease: look at the store soon, try again a bit later;
 * a stale lease is the lease layer's to take over: the retry just runs. */
static void lease_busy_and_stale(void **state)
{
    (void)state;
    struct world w;
    start(&w, 1, none, 0, 0);
    expect_job(&w, CK_KJ_INIT);
    done(&w, CK_KR_BUSY, 0);
    assert_true(w.k.store_at >= T0 + 30 && w.k.store_at < T0 + 45);
    assert_true(w.k.renew_at == NEVER);  /* nothing usable: init again, at once */
    expect_job(&w, CK_KJ_INIT);
    /* with a usable volume: a renewal that finds the lease busy */
    start(&w, 1, cert(T0 - 61 * DAY, T0 + 29 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    w.now = w.k.renew_at;
    ev(&w, CK_KE_TIMER);
    expect_job(&w, CK_KJ_RENEW);
    done(&w, CK_KR_BUSY, 0);
    assert_int_equal(w.k.failures, 0);
    assert_true(w.k.store_at >= w.now + 30 && w.k.store_at < w.now + 45);
    assert_true(w.k.renew_at >= w.now + 60 && w.k.renew_at < w.now + 90);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_STORE);  /* its certificate may be there already */
    done(&w, CK_KR_OK, 0);
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_RENEW);  /* not there: try the lease again (stale: taken over) */
}

/* The lease was lost while we issued: another replica may have issued too, so
 * the store is read right after; a pickup of a newer certificate follows. */
static void lease_lost_then_pickup(void **state)
{
    (void)state;
    struct world w;
    start(&w, 1, cert(T0 - 61 * DAY, T0 + 29 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    w.now = w.k.renew_at;
    ev(&w, CK_KE_TIMER);
    expect_job(&w, CK_KJ_RENEW);
    ev(&w, CK_KE_LEASE_LOST);
    assert_int_equal(w.o.act, 0);
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    done(&w, CK_KR_OK, 1);
    assert_true(w.notes & CK_KN_LEASE_LOST);
    expect_job(&w, CK_KJ_STORE);
    /* the other replica's is newer: picked up, new moment from its lifetime */
    set_vol(&w, cert(w.now + 5, w.now + 5 + 90 * DAY, 0), 0);
    int reads = w.reads;
    w.notes = 0;
    done(&w, CK_KR_OK, 1);
    assert_int_equal(w.reads, reads + 1);
    assert_true(w.notes & CK_KN_NEXT);
    assert_false(w.k.lease_lost);
    struct ck_window win = ck_renewal_window(w.now + 5, w.now + 5 + 90 * DAY);
    assert_true(w.k.renew_at >= win.start && w.k.renew_at < win.end);
    assert_true(w.k.store_at >= w.now + 600 && w.k.store_at < w.now + 900);
    /* a lost lease outside a renewal means nothing */
    ev(&w, CK_KE_LEASE_LOST);
    assert_false(w.k.lease_lost);
    /* a failed store check: warned by the caller, checked again later, no failure */
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_STORE);
    done(&w, CK_KR_FAILED, 0);
    assert_int_equal(w.k.failures, 0);
    assert_true(w.k.store_at >= w.now + 600);
}

/* SIGTERM in each state: idle exits now; a job is cancelled and its end exits,
 * a failure cut short by it is not counted; no job starts after it. */
static void sigterm_in_each_state(void **state)
{
    (void)state;
    struct world w;
    const enum ck_keeper_job jobs[] = {CK_KJ_INIT, CK_KJ_RENEW, CK_KJ_STORE, CK_KJ_ARI};
    const enum ck_keeper_result ends[] = {CK_KR_CUT, CK_KR_FAILED, CK_KR_OK, CK_KR_BUSY};
    /* idle, usable */
    start(&w, 1, cert(T0, T0 + 90 * DAY, 1), 0, 0);
    done(&w, CK_KR_OK, 0);
    ev(&w, CK_KE_TERM);
    assert_int_equal(w.o.act, CK_KA_EXIT);
    /* idle, waiting for a retry */
    start(&w, 1, none, 2, T0 + 600);
    ev(&w, CK_KE_TERM);
    assert_int_equal(w.o.act, CK_KA_EXIT);
    ev(&w, CK_KE_EARLY);  /* nothing after a stop */
    assert_int_equal(w.o.act, CK_KA_EXIT);
    for (size_t j = 0; j < 4; j++) {
        for (size_t r = 0; r < 4; r++) {
            start(&w, 1, cert(T0 - 80 * DAY, T0 + 10 * DAY, 1), 1, 0);
            done(&w, CK_KR_OK, 0);
            if (jobs[j] == CK_KJ_INIT) {
                start(&w, 1, none, 1, 0);
            } else {
                w.k.renew_at = jobs[j] == CK_KJ_RENEW ? w.now : NEVER;
                w.k.store_at = jobs[j] == CK_KJ_STORE ? w.now : NEVER;
                w.k.ari_at = jobs[j] == CK_KJ_ARI ? w.now : NEVER;
                ev(&w, CK_KE_TIMER);
            }
            expect_job(&w, jobs[j]);
            unsigned before = w.k.failures;
            ev(&w, CK_KE_TERM);
            assert_int_equal(w.o.act, CK_KA_CANCEL);
            ev(&w, CK_KE_TIMER);
            assert_int_equal(w.o.act, 0);  /* still waiting for the job */
            step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = ends[r],
                                              .failures = before + 1,
                                              .next_retry = w.now + 600});
            assert_true(w.o.act & CK_KA_EXIT);
            assert_false(w.o.act & CK_KA_JOB);
            assert_int_equal(w.k.failures, ends[r] == CK_KR_OK && jobs[j] <= CK_KJ_RENEW
                                                   ? 0 : before);
        }
    }
}

/* SIGUSR1 / SIGHUP: a planned retry runs now; an open window renews now; else the
 * store and ARI are asked now. A revoked volume, seen on the re-read, means init. */
static void early_retry(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, none, 1, T0 + 600);
    expect_idle(&w);
    ev(&w, CK_KE_EARLY);
    expect_job(&w, CK_KJ_INIT);
    /* window open, moment later in it */
    const int64_t nb = T0 - 60 * DAY, na = T0 + 30 * DAY;
    start(&w, 0, cert(nb, na, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    w.k.renew_at = T0 + DAY;
    ev(&w, CK_KE_EARLY);
    expect_job(&w, CK_KJ_RENEW);
    /* window not open: store and ARI now, renewal stays */
    start(&w, 1, cert(T0, T0 + 90 * DAY, 1), 0, 0);
    done(&w, CK_KR_OK, 0);
    int64_t at = w.k.renew_at;
    ev(&w, CK_KE_EARLY);
    expect_job(&w, CK_KJ_STORE);
    done(&w, CK_KR_OK, 0);
    expect_job(&w, CK_KJ_ARI);
    assert_int_equal(w.k.renew_at, at);
    /* during a job: no volume read, the job's end comes first */
    int reads = w.reads;
    ev(&w, CK_KE_EARLY);
    assert_int_equal(w.reads, reads);
    assert_int_equal(w.o.act, 0);
    /* the volume's certificate was revoked meanwhile: init's path */
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED});
    expect_job(&w, CK_KJ_STORE);  /* the early store check, asked for meanwhile */
    done(&w, CK_KR_OK, 0);
    expect_idle(&w);
    w.vol.usable = 0;
    ev(&w, CK_KE_EARLY);
    assert_false(w.k.ready);
    assert_true(w.notes & CK_KN_SAY_UNUSABLE);
    expect_job(&w, CK_KJ_INIT);
}

/* The certificate's unusable moment passes (renewals kept failing): re-read, init. */
static void expiry(void **state)
{
    (void)state;
    struct world w;
    start(&w, 0, cert(T0, T0 + 90 * DAY, 0), 0, 0);
    done(&w, CK_KR_OK, 0);
    int64_t unusable = T0 + 90 * DAY - ck_cert_min_left(T0, T0 + 90 * DAY, 0);
    assert_int_equal(w.k.unusable_at, unusable);
    w.now = w.k.renew_at;
    ev(&w, CK_KE_TIMER);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = CK_KR_FAILED,
                                      .failures = 4, .next_retry = unusable + DAY});
    assert_true(w.o.wake <= unusable);
    /* our clock says unusable, lib/cert still says usable: again in a second */
    w.now = unusable;
    int reads = w.reads;
    ev(&w, CK_KE_TIMER);
    assert_int_equal(w.reads, reads + 1);
    assert_int_equal(w.k.unusable_at, w.now + 1);
    w.now += 1;
    w.vol.usable = 0;
    w.notes = 0;
    ev(&w, CK_KE_TIMER);
    assert_true(w.notes & CK_KN_SAY_UNUSABLE);
    assert_false(w.k.ready);
    assert_int_equal(w.k.renew_at, NEVER);
    assert_int_equal(w.o.wake, w.k.retry_at);  /* init's path, at the planned retry */
    /* no thread for a job: again in a minute */
    w.now = w.o.wake;
    ev(&w, CK_KE_TIMER);
    expect_job(&w, CK_KJ_INIT);
    ev(&w, CK_KE_NOSTART);
    assert_int_equal(w.o.wake, w.now + 60);
}

/* Every state x event keeps the table's promises: one job at a time, a job only
 * when none runs, a wake-up never in the past, nothing started after a stop. */
static void every_state_by_every_event(void **state)
{
    (void)state;
    const enum ck_keeper_ev evs[] = {CK_KE_TIMER, CK_KE_DONE, CK_KE_NOSTART, CK_KE_LEASE_LOST,
                                     CK_KE_TERM, CK_KE_EARLY, CK_KE_CHANGED};
    const size_t n_evs = sizeof evs / sizeof evs[0];
    const enum ck_keeper_result res[] = {CK_KR_OK, CK_KR_FAILED, CK_KR_BUSY, CK_KR_CUT};
    for (unsigned setup = 0; setup < 12; setup++) {
        for (size_t e = 0; e < n_evs; e++) {
            for (size_t r = 0; r < 4; r++) {
                struct world w;
                int store = setup & 1, usable = (setup >> 1) % 2;
                start(&w, store, usable ? cert(T0 - 70 * DAY, T0 + 20 * DAY, 1) : none,
                      setup / 4, setup >= 8 ? T0 + 300 : 0);
                if (setup & 4 && w.o.act & CK_KA_JOB)
                    done(&w, CK_KR_OK, 0);
                for (int turn = 0; turn < 7; turn++) {
                    enum ck_keeper_job running = w.k.job;
                    int stopped = w.k.stop;
                    struct ck_keeper_event x = {.kind = evs[(e + (size_t)turn) % n_evs],
                                                .result = res[(r + (size_t)turn) % 4],
                                                .failures = 1, .next_retry = w.now + 60,
                                                .retry_after = -1, .changed = turn & 1,
                                                .reload_failed = (turn & 3) == 1};
                    if (x.kind == CK_KE_DONE && running == CK_KJ_NONE)
                        x.kind = CK_KE_TIMER;  /* no job, no end */
                    if (x.kind == CK_KE_NOSTART && !(w.o.act & CK_KA_JOB))
                        x.kind = CK_KE_TIMER;
                    step(&w, x);
                    if (w.o.act & CK_KA_JOB) {
                        assert_true(running == CK_KJ_NONE || x.kind == CK_KE_DONE ||
                                    x.kind == CK_KE_NOSTART);
                        assert_false(w.k.stop);
                        assert_int_equal(w.k.job, w.o.job);
                    }
                    if (w.o.act & CK_KA_EXIT)
                        assert_true(w.k.stop && w.k.job == CK_KJ_NONE);
                    if (stopped)
                        assert_false(w.o.act & CK_KA_JOB);
                    assert_true(w.o.wake > w.now || w.o.wake == NEVER);
                    if (!(w.o.act & (CK_KA_JOB | CK_KA_EXIT)) && w.k.job == CK_KJ_NONE)
                        assert_true(w.o.wake != NEVER || !w.k.ready);
                    w.now += turn * 100;
                }
            }
        }
    }
}

/* Init's choice: the volume, else the store, else issue (under the lease). */
static void init_choice(void **state)
{
    (void)state;
    struct ck_keeper_sources s = {0};
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_ISSUE_LOCAL);  /* no store, nothing */
    s.vol_usable = 1;
    s.vol_not_after = T0 + DAY;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_VOLUME);
    s.has_store = 1;  /* unreachable store: the volume's stands */
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_VOLUME);
    s.vol_usable = 0;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_ISSUE_LOCAL);
    s.store_required = 1;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_FAIL);
    s.store_read = 1;  /* it answers: empty */
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_ISSUE);
    s.vol_usable = 1;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_VOLUME_SEED);
    s.store_present = 1;  /* something unusable (or not newer) there */
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_VOLUME);
    s.store_usable = 1;
    s.store_not_after = T0 + DAY;  /* the same age: the volume's */
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_VOLUME);
    s.store_not_after = T0 + 2 * DAY;  /* newer: restored */
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_RESTORE);
    s.vol_usable = 0;
    s.store_not_after = T0 + 1;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_RESTORE);
    s.store_usable = 0;
    assert_int_equal(ck_keeper_init_choice(&s), CK_KI_ISSUE);
}

/* The loop's poll timeout: the wall-clock moment, capped so a clock step is seen. */
static void poll_timeout(void **state)
{
    (void)state;
    assert_int_equal(ck_keeper_poll_ms(T0 + 10, T0), 10000);
    assert_int_equal(ck_keeper_poll_ms(T0 - 10, T0), 0);
    assert_int_equal(ck_keeper_poll_ms(T0, T0), 0);
    assert_int_equal(ck_keeper_poll_ms(T0 + 90 * DAY, T0), 3600 * 1000);
    assert_int_equal(ck_keeper_poll_ms(NEVER, T0), 3600 * 1000);
}

/* lib/renewal's pick never leaves [max(start, now), end) (windows two seconds wide
 * or more), whatever the window's offset to the minute: the renewal moment the
 * keeper keeps is inside the window the header promises. */
static void pick_stays_in_its_window(void **state)
{
    (void)state;
    for (int64_t off = 0; off < 120; off++) {
        for (int64_t width = 2; width < 200; width += 7) {
            struct ck_window w = {T0 + off, T0 + off + width};
            for (uint32_t i = 0; i < 200; i++) {
                uint32_t rnd = i * 2654435761u + (uint32_t)width;
                int64_t now = T0 + (int64_t)(i % 3) * off / 2;
                int64_t t = ck_renewal_pick(w, now, rnd);
                int64_t from = w.start > now ? w.start : now;
                assert_true(t >= from && t < w.end);
                assert_true(t % 60 != 0 || w.end - from < 2);
            }
        }
    }
}

static void ocsp_done(struct world *w, enum ck_keeper_result r, int64_t next, int revoked)
{
    step(w, (struct ck_keeper_event){.kind = CK_KE_DONE, .result = r, .ocsp_next = next,
                                     .revoked = revoked});
}

/* OCSP: refreshed after each new certificate, then when the job says (half its validity);
 * failures back off 1 min, 10 min, then hourly; a revoked answer reads the volume again
 * (marked revoked: unusable) and issues at once; no responder: never asked again. */
static void ocsp_refresh(void **state)
{
    (void)state;
    struct world w;
    memset(&w, 0, sizeof w);
    w.now = T0;
    w.rnd = 7;
    ck_keeper_init(&w.k, 0, 0);
    w.k.ocsp = 1;
    set_vol(&w, cert(T0 - DAY, T0 + 89 * DAY, 0), 0);
    step(&w, (struct ck_keeper_event){.kind = CK_KE_START, .vol = w.vol});
    w.vol.same = 1;
    expect_job(&w, CK_KJ_INIT);
    done(&w, CK_KR_OK, 0);
    expect_job(&w, CK_KJ_OCSP);  /* right after init: the certificate is new to us */
    ocsp_done(&w, CK_KR_OK, T0 + 3 * DAY, 0);
    expect_idle(&w);
    assert_int_equal(w.o.wake, T0 + 3 * DAY);  /* before the renewal moment */
    sleep_until_wake(&w);
    expect_job(&w, CK_KJ_OCSP);
    int64_t want[] = {60, 600, 3600, 3600};
    for (int i = 0; i < 4; i++) {
        int64_t t = w.now;
        ocsp_done(&w, CK_KR_FAILED, 0, 0);
        expect_idle(&w);
        assert_true(w.o.wake >= t + want[i] && w.o.wake <= t + want[i] + want[i] / 10);
        assert_int_equal(w.k.failures, 0);  /* not a renewal's failure */
        sleep_until_wake(&w);
        expect_job(&w, CK_KJ_OCSP);
    }
    /* revoked: the caller marked it, so the volume reads unusable; a new one at once */
    struct ck_keeper_volume revoked = w.vol;
    revoked.usable = 0;
    revoked.same = 0;
    w.vol = revoked;
    int reads = w.reads;
    ocsp_done(&w, CK_KR_OK, 0, 1);
    assert_int_equal(w.reads, reads + 1);
    assert_false(w.k.ready);
    expect_job(&w, CK_KJ_INIT);
    set_vol(&w, cert(w.now, w.now + 90 * DAY, 0), 0);
    done(&w, CK_KR_OK, 1);
    w.vol.same = 1;
    expect_job(&w, CK_KJ_OCSP);  /* the new certificate's, at once */
    ocsp_done(&w, CK_KR_OK, 0, 0);  /* it names no responder */
    expect_idle(&w);
    assert_int_equal(w.k.ocsp_at, NEVER);
    assert_int_equal(w.o.wake, w.k.renew_at);

    /* off: never a job */
    start(&w, 0, cert(T0 - DAY, T0 + 89 * DAY, 0), 0, 0);
    expect_job(&w, CK_KJ_INIT);
    done(&w, CK_KR_OK, 0);
    expect_idle(&w);
    assert_int_equal(w.k.ocsp_at, NEVER);
}

/* test_time_scale: every wait the keeper sets is divided (never below 1 s); the
 * certificate's own renewal moment is not. */
static void time_scale(void **state)
{
    (void)state;
    struct world w;
    start(&w, 1, cert(T0 - 61 * DAY, T0 + 29 * DAY, 0), 0, 0);
    w.k.scale = 60;
    done(&w, CK_KR_OK, 0);
    assert_true(w.k.store_at >= T0 + 10 && w.k.store_at <= T0 + 15);   /* 600..900 s / 60 */
    struct ck_window win = ck_renewal_window(T0 - 61 * DAY, T0 + 29 * DAY);
    assert_true(w.k.renew_at >= win.start && w.k.renew_at < win.end);  /* not scaled */
    w.now = w.k.renew_at;
    ev(&w, CK_KE_TIMER);
    expect_job(&w, CK_KJ_RENEW);
    done(&w, CK_KR_BUSY, 0);
    assert_true(w.k.renew_at >= w.now + 1 && w.k.renew_at <= w.now + 2); /* 60..90 s / 60 */
    assert_true(w.k.store_at >= w.now && w.k.store_at <= w.now + 1);    /* 30..45 s / 60 */
    sleep_until_wake(&w);
    assert_true(w.o.act & CK_KA_JOB);  /* the store check or the renewal: both 1 s away */
    step(&w, (struct ck_keeper_event){.kind = CK_KE_NOSTART});
    assert_int_equal(w.k.retry_at, w.now + 1);                           /* 60 s / 60 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ocsp_refresh),
        cmocka_unit_test(restore_usable_volume),
        cmocka_unit_test(restore_empty_volume),
        cmocka_unit_test(renewal_moment),
        cmocka_unit_test(ari_window_and_retry_after),
        cmocka_unit_test(backoff_steps),
        cmocka_unit_test(backoff_survives_restart),
        cmocka_unit_test(reload_retry),
        cmocka_unit_test(volume_changed_outside),
        cmocka_unit_test(lease_busy_and_stale),
        cmocka_unit_test(lease_lost_then_pickup),
        cmocka_unit_test(sigterm_in_each_state),
        cmocka_unit_test(early_retry),
        cmocka_unit_test(expiry),
        cmocka_unit_test(every_state_by_every_event),
        cmocka_unit_test(init_choice),
        cmocka_unit_test(poll_timeout),
        cmocka_unit_test(pick_stays_in_its_window),
        cmocka_unit_test(time_scale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
