/* The keeping policy of one certificate, s6 style: a pure step (state x event
 * -> actions, next wake-up). No system call, no I/O, no clock: time (Unix
 * seconds) and randomness come in with each event; the caller runs the actions
 * (volume read, jobs on its adapters) and reports back with events. One struct
 * per certificate, owned by the caller: a list of them can share one loop.
 *
 * The jobs the caller runs on its adapters, one at a time per certificate:
 *   INIT   the volume, else the store, else issue under the lease (cmd init's work)
 *   RENEW  issue under the lease (a newer store certificate is restored instead)
 *   STORE  pick up another replica's newer certificate from the store
 *   ARI    ask the CA for its renewal window
 *   OCSP   refresh the OCSP response beside the certificate (settings: ocsp)
 *   RELOAD tell the app again: its last reload failed */
#ifndef CK_KEEPER_H
#define CK_KEEPER_H

#include <stdint.h>

#include "../renewal/renewal.h"

#define CK_KEEPER_NEVER INT64_MAX
#define CK_KEEPER_STORE_EVERY_S 600   /* + up to 300 s: another replica's renewal */
#define CK_KEEPER_ARI_FIRST_S 300     /* first ARI check 5..20 min after a new certificate */
#define CK_KEEPER_ARI_EVERY_S 36000   /* then every 10..12 h ("at least twice a day") */
#define CK_KEEPER_BUSY_WAIT_S 60      /* another replica holds the lease: look again then */
#define CK_KEEPER_OCSP_RETRY_MAX_S 3600 /* OCSP failures: again after 1 min, 10 min, then hourly */
#define CK_KEEPER_ARI_RA_MIN_S 60     /* the CA's Retry-After on ARI, honoured within these */
#define CK_KEEPER_ARI_RA_MAX_S (7 * 86400)

enum ck_keeper_job { CK_KJ_NONE, CK_KJ_INIT, CK_KJ_RENEW, CK_KJ_STORE, CK_KJ_ARI, CK_KJ_OCSP,
                     CK_KJ_RELOAD };

/* The volume's certificate as the caller judged it (lib/cert, revocation marks). */
struct ck_keeper_volume {
    int usable;
    int parsed;                /* the leaf parsed: the times below are set even if unusable */
    int same;                  /* same serial as the last usable one the keeper was told of */
    int has_ari;               /* it has an ARI id */
    int64_t not_before, not_after;
};

/* How a job ended. */
enum ck_keeper_result {
    CK_KR_OK,
    CK_KR_FAILED,              /* counted: failures, next_retry (ck_keeper_backoff) */
    CK_KR_BUSY,                /* another replica holds the lease */
    CK_KR_CUT,                 /* ended by SIGTERM: nothing counted */
};

enum ck_keeper_ev {
    CK_KE_START,               /* vol, and the persisted failures / next_retry */
    CK_KE_TIMER,               /* the wake-up came (or any loop turn) */
    CK_KE_VOLUME,              /* the answer to CK_KA_READ_VOLUME: vol */
    CK_KE_DONE,                /* the job ended: result and its fields */
    CK_KE_NOSTART,             /* the job asked for could not be started */
    CK_KE_LEASE_LOST,          /* the lease could not be renewed while the job held it */
    CK_KE_TERM,                /* SIGTERM / SIGINT */
    CK_KE_EARLY,               /* SIGUSR1 / SIGHUP: retry now, renew now if the window is open */
    CK_KE_CHANGED,             /* another process (renew) changed the volume: read it again */
};

struct ck_keeper_event {
    enum ck_keeper_ev kind;
    int64_t now;
    uint32_t rnd;              /* uniform random bits, fresh for each event */
    struct ck_keeper_volume vol;
    unsigned failures;         /* START: persisted; DONE FAILED: the new count */
    int64_t next_retry;        /* START: persisted (0: none); DONE FAILED: planned */
    enum ck_keeper_result result;
    int changed;               /* DONE: the job changed the volume's files */
    int64_t ari_start, ari_end; /* DONE of ARI, OK */
    long retry_after;          /* DONE of ARI: the CA's Retry-After (-1: none) */
    int no_ari;                /* DONE of ARI: the CA offers no renewalInfo */
    int64_t ocsp_next;         /* DONE of OCSP, OK: when to refresh (0: never, no responder) */
    int revoked;               /* DONE of OCSP, OK: the responder says revoked (marked) */
    int reload_failed;         /* DONE: the job told the app and that failed (RELOAD: FAILED) */
};

/* Actions, in this order: read the volume (answer with CK_KE_VOLUME, then
 * step again), cancel the running job, start `job`, exit. */
#define CK_KA_READ_VOLUME 1u
#define CK_KA_CANCEL 2u
#define CK_KA_JOB 4u
#define CK_KA_EXIT 8u
/* Notes for the caller's log and metrics (no action needed). */
#define CK_KN_SAY_UNUSABLE 1u      /* the volume is not usable: say why (once per spell) */
#define CK_KN_NEXT 2u              /* a new next attempt worth logging (ck_keeper_next_attempt) */
#define CK_KN_RETRY_BOUNDED 4u     /* START: the persisted retry lay too far ahead */
#define CK_KN_RETRY_PLANNED 8u     /* START: a persisted retry is honoured */
#define CK_KN_ARI_MOMENT 16u       /* a new ARI window: new renewal moment */
#define CK_KN_ARI_BOUNDED 32u      /* the CA's window was cut to what the certificate allows */
#define CK_KN_NO_ARI 64u           /* the CA has no renewalInfo */
#define CK_KN_SUCCESS 128u         /* DONE: a renewal or a changed volume succeeded */
#define CK_KN_LEASE_LOST 256u      /* the job held a lost lease: store check right after it */
#define CK_KN_RELOAD_RETRY 512u    /* a failed reload is tried again at reload_at */

struct ck_keeper_out {
    unsigned act, note;
    enum ck_keeper_job job;    /* with CK_KA_JOB */
    int64_t wake;              /* the next CK_KE_TIMER is due then (CK_KEEPER_NEVER: none) */
};

struct ck_keeper {
    /* settings */
    int has_store;
    long min_valid;
    int ocsp;                  /* keep an OCSP response beside the certificate (set after init) */
    /* the volume */
    int ready;                 /* a usable certificate is on the volume */
    int has_ari;
    int64_t not_before, not_after;
    /* the schedule, Unix seconds (CK_KEEPER_NEVER: not planned) */
    int64_t renew_at, store_at, ari_at, retry_at, unusable_at, ocsp_at, reload_at;
    unsigned ocsp_failures;
    int ari_known;
    struct ck_window ari;
    unsigned failures;
    unsigned reload_failures;  /* failed reloads in a row (backoff: ck_keeper_reload_delay) */
    int inited, init_tried, said_unusable, stop, lease_lost, early;
    /* the job in flight, and what waits for the volume read */
    enum ck_keeper_job job;
    enum ck_keeper_job after;  /* a job's end, finished when the volume has been read */
    int after_changed;         /* ...and whether it changed the volume's files */
    int new_moment;            /* with the pending volume read */
    int expiry_check;          /* the pending volume read is the unusable-moment check */
};

void ck_keeper_init(struct ck_keeper *k, int has_store, long min_valid);

/* One step; *out is filled. */
void ck_keeper_step(struct ck_keeper *k, const struct ck_keeper_event *ev,
                    struct ck_keeper_out *out);

/* The moment the next renewal (or retry) is attempted: CK_KEEPER_NEVER when none. */
int64_t ck_keeper_next_attempt(const struct ck_keeper *k, int64_t now);

/* A failure's count and next retry. stored: the count persisted before it (-1:
 * unreadable), shared: it is the store's (taken as it is: a replica may have reset
 * it) rather than this host's (the process's own count `memory` wins when higher);
 * seen: the count the failing job started from (a count above it: another replica
 * counted this one; UINT_MAX: always count). The retry: 1 min / 10 min / 100 min /
 * 1 d, or the CA's retry_after (>= 0, at most 7 d) when longer, plus a random 0 .. max(1 %, 5 s)
 * (exclusive), so that even the first retries of a fleet spread. */
void ck_keeper_backoff(long stored, int shared, unsigned memory, unsigned seen,
                       long retry_after, int64_t now, uint32_t rnd, unsigned *failures,
                       int64_t *next_retry);

/* The wait before reload retry number `n` (1-based): 10 s, 1 min, 5 min, 30 min,
 * then hourly, plus up to 10 %. */
long ck_keeper_reload_delay(unsigned n, uint32_t rnd);

/* Init's choice (cmd init, and the INIT job) from what the volume and the store
 * hold, each judged by the caller (lib/cert, revocation marks). */
enum ck_keeper_init {
    CK_KI_VOLUME,              /* keep the volume's */
    CK_KI_VOLUME_SEED,         /* keep the volume's and copy it to the empty store */
    CK_KI_RESTORE,             /* publish the store's */
    CK_KI_ISSUE,               /* issue, under the store's lease */
    CK_KI_ISSUE_LOCAL,         /* issue to the volume only: no store, or an unreachable
                                * one that is not required */
    CK_KI_FAIL,                /* nothing usable, and the required store is unreachable */
};
struct ck_keeper_sources {
    int has_store, store_required;
    int vol_usable;
    int64_t vol_not_after;
    int store_read;            /* the store answered */
    int store_present;         /* it holds something, usable or not */
    int store_usable;
    int64_t store_not_after;
};
enum ck_keeper_init ck_keeper_init_choice(const struct ck_keeper_sources *s);

/* poll()'s timeout until the wall-clock moment `wake`: at most an hour, so that a
 * step of the wall clock is noticed within an hour (-1 for CK_KEEPER_NEVER is
 * also capped: the loop re-reads the clock at least hourly). */
int ck_keeper_poll_ms(int64_t wake, int64_t now);

#endif
