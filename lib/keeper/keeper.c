#include "keeper.h"

#include <string.h>

#include "../cert/cert.h"

#define NEVER CK_KEEPER_NEVER
#define STORE_JITTER_S 300
#define ARI_FIRST_JITTER_S 900
#define ARI_JITTER_S 7200
#define ARI_ERROR_S 3600       /* an ARI check that failed: again in 1..1.5 h */
#define NOSTART_S 60           /* no thread for the job: try again then */

/* Several draws from one event's random bits (an LCG step and a mix). */
static uint32_t draw(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    uint32_t x = *s;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    return x;
}

static int64_t jitter(int64_t base, int64_t spread, uint32_t *s)
{
    return base + (spread > 0 ? (int64_t)(draw(s) % (uint32_t)spread) : 0);
}

int64_t ck_keeper_scaled(int64_t d, unsigned scale)
{
    return scale > 1 && d > 0 ? (d / scale > 0 ? d / scale : 1) : d;
}

static int64_t later(const struct ck_keeper *k, int64_t now, int64_t d)
{
    return now + ck_keeper_scaled(d, k->scale);
}

void ck_keeper_init(struct ck_keeper *k, int has_store, long min_valid)
{
    memset(k, 0, sizeof *k);
    k->has_store = has_store;
    k->min_valid = min_valid;
    k->renew_at = k->store_at = k->ari_at = k->unusable_at = k->ocsp_at = k->reload_at = NEVER;
}

int64_t ck_keeper_next_attempt(const struct ck_keeper *k, int64_t now)
{
    int64_t t = k->ready ? k->renew_at : now;
    return k->retry_at > t ? k->retry_at : t;
}

/* The volume's certificate, told by the caller: readiness, its renewal moment. */
static void refresh(struct ck_keeper *k, const struct ck_keeper_volume *v, int new_moment,
                    int64_t now, uint32_t *s, struct ck_keeper_out *out)
{
    int ok = v->usable;
    int same = ok && k->ready && v->same;
    int was_ready = k->ready;
    if (ok || v->parsed) {  /* parsed but unusable: still the one a renewal replaces */
        k->not_before = v->not_before;
        k->not_after = v->not_after;
        k->has_ari = v->has_ari;
    }
    k->ready = ok;
    if (!ok) {
        if (was_ready || !k->said_unusable)  /* once, not after every failed retry */
            out->note |= CK_KN_SAY_UNUSABLE;
        k->said_unusable = 1;
        k->renew_at = NEVER;
        k->unusable_at = NEVER;
        k->ocsp_at = NEVER;
        return;
    }
    k->said_unusable = 0;
    if (!same) {  /* a new certificate: a new moment, and ARI about it later */
        k->ari_known = 0;
        k->ari_at = later(k, now, jitter(CK_KEEPER_ARI_FIRST_S, ARI_FIRST_JITTER_S, s));
        new_moment = 1;
        k->ocsp_at = k->ocsp ? now : NEVER;  /* the job finds out whether it names a responder */
        k->ocsp_failures = 0;
    }
    if (new_moment) {
        struct ck_window w = k->ari_known ? k->ari
                                          : ck_renewal_window(k->not_before, k->not_after);
        k->renew_at = ck_renewal_pick(w, now, draw(s));
    }
    k->unusable_at = k->not_after - ck_cert_min_left(k->not_before, k->not_after, k->min_valid);
}

/* The job due now, or CK_KJ_NONE with *wake the next moment one is. */
static enum ck_keeper_job next_job(const struct ck_keeper *k, int64_t now, int64_t *wake)
{
    int64_t a = ck_keeper_next_attempt(k, now);
    *wake = NEVER;
    /* init first; with a usable volume it asks nothing of the CA, so no retry to wait for */
    if (!k->inited || !k->ready) {
        if ((k->ready && !k->inited && !k->init_tried) || a <= now)
            return CK_KJ_INIT;
        *wake = a;
        return CK_KJ_NONE;
    }
    if (a <= now)
        return CK_KJ_RENEW;
    if (k->reload_at <= now)
        return CK_KJ_RELOAD;
    if (k->has_store && k->store_at <= now)
        return CK_KJ_STORE;
    if (k->has_ari && k->ari_at <= now)
        return CK_KJ_ARI;
    if (k->ocsp_at <= now)
        return CK_KJ_OCSP;
    *wake = a;
    if (k->unusable_at < *wake)
        *wake = k->unusable_at;
    if (k->reload_at < *wake)
        *wake = k->reload_at;
    if (k->has_store && k->store_at < *wake)
        *wake = k->store_at;
    if (k->has_ari && k->ari_at < *wake)
        *wake = k->ari_at;
    if (k->ocsp_at < *wake)
        *wake = k->ocsp_at;
    return CK_KJ_NONE;
}

static void schedule(struct ck_keeper *k, int64_t now, struct ck_keeper_out *out)
{
    out->wake = NEVER;
    if (out->act & CK_KA_READ_VOLUME)
        return;
    if (k->stop) {
        if (k->job == CK_KJ_NONE)
            out->act |= CK_KA_EXIT;
        return;
    }
    if (k->job != CK_KJ_NONE)
        return;
    if (k->ready && k->unusable_at <= now) {  /* ran out of validity: init's path again */
        out->act |= CK_KA_READ_VOLUME;
        k->expiry_check = 1;
        return;
    }
    enum ck_keeper_job j = next_job(k, now, &out->wake);
    if (j != CK_KJ_NONE) {
        k->job = j;
        out->job = j;
        out->act |= CK_KA_JOB;
        out->wake = NEVER;
    }
}

/* What a job's end means once the volume has been read again. */
static void after_volume(struct ck_keeper *k, int64_t now, uint32_t *s,
                         struct ck_keeper_out *out)
{
    enum ck_keeper_job j = k->after;
    int changed = k->after_changed;
    k->after = CK_KJ_NONE;
    if (j == CK_KJ_INIT) {
        k->init_tried = 1;
        /* with a usable volume, init only reconciles with the store: the store check
         * catches up later, no reason to hold renewals back */
        if (k->ready)
            k->inited = 1;
    }
    if (j == CK_KJ_INIT || j == CK_KJ_RENEW) {
        if (k->inited && k->has_store && k->store_at == NEVER)
            k->store_at = later(k, now, jitter(CK_KEEPER_STORE_EVERY_S, STORE_JITTER_S, s));
        if (k->lease_lost && k->has_store) {  /* another replica may have issued meanwhile */
            k->store_at = now;
            out->note |= CK_KN_LEASE_LOST;
        }
        k->lease_lost = 0;
    }
    if (k->ready && (j == CK_KJ_INIT || changed))
        out->note |= CK_KN_NEXT;
}

static void done(struct ck_keeper *k, const struct ck_keeper_event *ev, uint32_t *s,
                 struct ck_keeper_out *out)
{
    enum ck_keeper_job j = k->job;
    int64_t now = ev->now;
    k->job = CK_KJ_NONE;
    if (ev->result == CK_KR_CUT || (k->stop && ev->result == CK_KR_FAILED))
        return;  /* a stop is not a failure: the next start just tries again */
    if (j == CK_KJ_RELOAD || ev->changed) {  /* the app was told (or should have been) */
        if (ev->reload_failed || (j == CK_KJ_RELOAD && ev->result != CK_KR_OK)) {
            k->reload_failures++;
            k->reload_at = later(k, now, ck_keeper_reload_delay(k->reload_failures, draw(s)));
            out->note |= CK_KN_RELOAD_RETRY;
        } else {
            k->reload_failures = 0;
            k->reload_at = NEVER;
        }
    }
    switch (j) {
    case CK_KJ_INIT:
    case CK_KJ_RENEW:
        if (ev->result == CK_KR_FAILED) {
            k->failures = ev->failures;
            k->retry_at = ev->next_retry;
        } else if (ev->result == CK_KR_BUSY) {
            k->renew_at = later(k, now, jitter(CK_KEEPER_BUSY_WAIT_S, 30, s));
            k->store_at = later(k, now, jitter(CK_KEEPER_BUSY_WAIT_S / 2, 15, s));
        } else {
            k->failures = 0;
            k->retry_at = 0;
            if (j == CK_KJ_RENEW || ev->changed)
                out->note |= CK_KN_SUCCESS;
        }
        k->after = j;
        k->after_changed = ev->changed;
        k->new_moment = 0;
        out->act |= CK_KA_READ_VOLUME;
        break;
    case CK_KJ_STORE:
        k->store_at = later(k, now, jitter(CK_KEEPER_STORE_EVERY_S, STORE_JITTER_S, s));
        if (ev->result == CK_KR_OK && ev->changed) {
            k->after = j;
            k->after_changed = 1;
            k->new_moment = 1;
            out->act |= CK_KA_READ_VOLUME;
        }
        break;
    case CK_KJ_ARI:
        if (ev->result != CK_KR_OK) {
            k->ari_at = later(k, now, jitter(ARI_ERROR_S, ARI_ERROR_S / 2, s));
        } else if (ev->no_ari) {
            out->note |= CK_KN_NO_ARI;
            k->ari_at = NEVER;
        } else {
            long ra = ev->retry_after;  /* honoured whatever its size, within sane bounds */
            if (ra >= 0 && ra < CK_KEEPER_ARI_RA_MIN_S)
                ra = CK_KEEPER_ARI_RA_MIN_S;
            if (ra > CK_KEEPER_ARI_RA_MAX_S)
                ra = CK_KEEPER_ARI_RA_MAX_S;
            k->ari_at = later(k, now, ra >= 0 ? ra
                                              : jitter(CK_KEEPER_ARI_EVERY_S, ARI_JITTER_S, s));
            struct ck_window w = ck_renewal_ari_bound((struct ck_window){ev->ari_start,
                                                                         ev->ari_end},
                                                      k->not_before, k->not_after);
            if (w.start != ev->ari_start || w.end != ev->ari_end)
                out->note |= CK_KN_ARI_BOUNDED;
            if (!k->ari_known || k->ari.start != w.start || k->ari.end != w.end) {
                k->ari_known = 1;
                k->ari = w;
                k->renew_at = ck_renewal_pick(k->ari, now, draw(s));
                out->note |= CK_KN_ARI_MOMENT;
            }
        }
        break;
    case CK_KJ_OCSP:
        if (ev->result != CK_KR_OK) {  /* the last good response stays; 1 min, 10 min, hourly */
            int64_t d = 60;
            for (unsigned i = 0; i < k->ocsp_failures && d < CK_KEEPER_OCSP_RETRY_MAX_S; i++)
                d *= 10;
            if (d > CK_KEEPER_OCSP_RETRY_MAX_S)
                d = CK_KEEPER_OCSP_RETRY_MAX_S;
            k->ocsp_failures++;
            k->ocsp_at = later(k, now, jitter(d, d / 10, s));
        } else {
            k->ocsp_failures = 0;
            k->ocsp_at = ev->ocsp_next > 0 ? ev->ocsp_next : NEVER;
            if (ev->revoked) {  /* marked revoked: the volume is read again, found unusable */
                k->early = 1;
                out->act |= CK_KA_READ_VOLUME;
            }
        }
        break;
    case CK_KJ_RELOAD:
    case CK_KJ_NONE:
        break;
    }
}

/* The operator asks for an early retry / renewal check. */
static void early(struct ck_keeper *k, int64_t now)
{
    k->retry_at = 0;
    k->store_at = now;
    if (k->has_ari)
        k->ari_at = now;
    if (k->ocsp_at != NEVER)
        k->ocsp_at = now;
    if (k->ready && k->inited) {  /* a window already open: no need to wait for its moment */
        struct ck_window w = k->ari_known ? k->ari
                                          : ck_renewal_window(k->not_before, k->not_after);
        if (w.start <= now && k->renew_at > now)
            k->renew_at = now;
    }
}

static void start(struct ck_keeper *k, const struct ck_keeper_event *ev, uint32_t *s,
                  struct ck_keeper_out *out)
{
    int64_t next = ev->next_retry;
    k->failures = ev->failures;
    int64_t bounded = ck_retry_bound(next, ev->failures, ev->now);
    if (bounded != next) {
        out->note |= CK_KN_RETRY_BOUNDED;
        next = bounded;
    }
    if (next > ev->now) {
        k->retry_at = next;
        out->note |= CK_KN_RETRY_PLANNED;
    }
    refresh(k, &ev->vol, 1, ev->now, s, out);
}

void ck_keeper_step(struct ck_keeper *k, const struct ck_keeper_event *ev,
                    struct ck_keeper_out *out)
{
    uint32_t s = ev->rnd;
    memset(out, 0, sizeof *out);
    switch (ev->kind) {
    case CK_KE_START:
        start(k, ev, &s, out);
        break;
    case CK_KE_TIMER:
        break;
    case CK_KE_VOLUME:
        if (k->expiry_check) {
            k->expiry_check = 0;
            refresh(k, &ev->vol, 0, ev->now, &s, out);
            if (k->ready && k->unusable_at <= ev->now)  /* a clock behind its own verdict */
                k->unusable_at = ev->now + 1;
        } else if (k->after != CK_KJ_NONE) {
            refresh(k, &ev->vol, k->new_moment, ev->now, &s, out);
            after_volume(k, ev->now, &s, out);
        } else {
            int64_t before = k->renew_at;
            refresh(k, &ev->vol, 0, ev->now, &s, out);
            if (k->ready && k->renew_at != before)  /* another process renewed: say when next */
                out->note |= CK_KN_NEXT;
        }
        if (k->early) {
            k->early = 0;
            early(k, ev->now);
        }
        break;
    case CK_KE_DONE:
        done(k, ev, &s, out);
        break;
    case CK_KE_NOSTART:
        k->job = CK_KJ_NONE;
        k->retry_at = later(k, ev->now, NOSTART_S);
        break;
    case CK_KE_LEASE_LOST:
        if (k->job == CK_KJ_INIT || k->job == CK_KJ_RENEW)
            k->lease_lost = 1;
        break;
    case CK_KE_TERM:
        k->stop = 1;
        if (k->job != CK_KJ_NONE)
            out->act |= CK_KA_CANCEL;
        break;
    case CK_KE_CHANGED:
        if (!k->stop && k->job == CK_KJ_NONE)  /* else the job's end reads it anyway */
            out->act |= CK_KA_READ_VOLUME;
        break;
    case CK_KE_EARLY:
        if (k->stop)
            break;
        if (k->job == CK_KJ_NONE) {  /* the volume's certificate may have been revoked meanwhile */
            k->early = 1;
            out->act |= CK_KA_READ_VOLUME;
        } else {
            early(k, ev->now);
        }
        break;
    }
    schedule(k, ev->now, out);
}

void ck_keeper_backoff(long stored, int shared, unsigned memory, unsigned seen,
                       long retry_after, int64_t now, uint32_t rnd, unsigned *failures,
                       int64_t *next_retry)
{
    unsigned f = stored < 0 || (!shared && (unsigned long)stored < memory) ? memory
                                                                          : (unsigned)stored;
    if (f <= seen)
        f++;
    long step = ck_retry_delay(f, -1);
    if (retry_after > step)  /* a CA's, honoured up to a sane bound */
        step = retry_after < CK_KEEPER_ARI_RA_MAX_S ? retry_after : CK_KEEPER_ARI_RA_MAX_S;
    long spread = step / 100;  /* a fleet's retries spread; within CK_RETRY_HORIZON */
    if (spread < 5)
        spread = 5;
    long d = step + (long)(rnd % (uint32_t)spread);
    *failures = f;
    *next_retry = now + d;
}

long ck_keeper_reload_delay(unsigned n, uint32_t rnd)
{
    static const long steps[] = {10, 60, 300, 1800};
    long d = n == 0 ? 0 : n <= 4 ? steps[n - 1] : 3600;
    return d + (d >= 10 ? (long)(rnd % (uint32_t)(d / 10)) : 0);
}

enum ck_keeper_init ck_keeper_init_choice(const struct ck_keeper_sources *s)
{
    if (!s->has_store)
        return s->vol_usable ? CK_KI_VOLUME : CK_KI_ISSUE_LOCAL;
    if (!s->store_read)
        return s->vol_usable ? CK_KI_VOLUME : s->store_required ? CK_KI_FAIL : CK_KI_ISSUE_LOCAL;
    if (s->vol_usable && s->store_usable && s->store_not_after > s->vol_not_after)
        return CK_KI_RESTORE;
    if (s->vol_usable)  /* an empty store is seeded, so that other replicas need not issue */
        return s->store_present ? CK_KI_VOLUME : CK_KI_VOLUME_SEED;
    return s->store_usable ? CK_KI_RESTORE : CK_KI_ISSUE;
}

int ck_keeper_poll_ms(int64_t wake, int64_t now)
{
    const int64_t cap = 3600;
    int64_t left = wake == NEVER || wake - now > cap ? cap : wake - now;
    return left <= 0 ? 0 : (int)(left * 1000);
}
