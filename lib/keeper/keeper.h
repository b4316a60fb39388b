/* The keeping of certificates. Two halves: the policy, and the adapters it is run on.
 *
 * The policy of one certificate, s6 style: a pure step (state x event
 * -> actions, next wake-up). No system call, no I/O, no clock: time (Unix
 * seconds) and randomness come in with each event; the caller runs the actions
 * (volume read, jobs on its adapters) and reports back with events. One struct
 * per certificate, owned by the caller: a list of them can share one loop.
 *
 * The jobs the caller runs on its adapters, one at a time per certificate:
 *   INIT   the volume, else the store, else issue under the lease (ck_keeper_init_with)
 *   RENEW  issue under the lease (a newer store certificate is restored instead)
 *   STORE  pick up another replica's newer certificate from the store
 *   ARI    ask the CA for its renewal window
 *   OCSP   refresh the OCSP response beside the certificate (settings: ocsp)
 *   RELOAD tell the app again: its last reload failed */
#ifndef CK_KEEPER_H
#define CK_KEEPER_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <bearssl.h>

#include "../bundle/bundle.h"
#include "../cert/cert.h"
#include "../config/config.h"
#include "../err/err.h"
#include "../http/http.h"
#include "../log/log.h"
#include "../ocsp/ocsp.h"
#include "../renewal/renewal.h"

#ifndef CK_VERSION
#define CK_VERSION "0.0.0-dev"
#endif

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
    unsigned scale;            /* tests: every wait the keeper sets (not the certificate's
                                * renewal moment) divided by this; 0 or 1: real time */
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

/* A wait of d seconds under the test time scale (test_time_scale): divided, never below 1 s. */
int64_t ck_keeper_scaled(int64_t d, unsigned scale);

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


/* ---- The keeping's adapters: volume, store, ACME, lease, reload, webhook. Each takes
 * the certificate's configuration; c->proc must be set (ck_keeper_attach). ---- */

/* The process around the keeping, owned by cmd/ (one per process): the flags its signal
 * handlers set, the trust anchors, and what the obtaining of certificates shares. */
struct ck_keeper_proc {
    volatile sig_atomic_t *signal;   /* the SIGINT/SIGTERM that asked to stop (0: none) */
    volatile sig_atomic_t *stop;     /* lib/http's stop hook; cleared to let a lease release out */
    struct ck_http *trust;           /* owns the anchors (ck_keeper_trust_load) */
    const br_x509_trust_anchor *anchors;
    size_t n_anchors;
    pthread_mutex_t account_mu;      /* one account set-up at a time */
    pthread_mutex_t said_mu;
    int64_t said_min_valid, said_life; /* the min_valid warning last given (once per pair) */
};
void ck_keeper_proc_init(struct ck_keeper_proc *p, volatile sig_atomic_t *signal,
                         volatile sig_atomic_t *stop);
void ck_keeper_proc_free(struct ck_keeper_proc *p);
/* Points c and each of c->certs at p. */
void ck_keeper_attach(struct ck_config *c, struct ck_keeper_proc *p);

/* The configured store (dir or S3) with what it needs; store NULL when none is configured. */
struct ck_keeper_store {
    struct ck_store *store;
    struct ck_http *http;
};
/* Opening makes no request; only a configuration or credentials problem fails. */
/* HTTP options every command uses: the CA bundle, our User-Agent, the stop flag;
 * timeouts in ms (0: lib/http's defaults). */
struct ck_http_opts ck_keeper_http_opts(const struct ck_config *c, long connect_ms, long total_ms);
int ck_keeper_store_open(const struct ck_config *c, struct ck_keeper_store *out, struct ck_err *e);
/* The same with the S3 requests' timeouts in ms. */
int ck_keeper_store_open_within(const struct ck_config *c, long connect_ms, long total_ms,
                                struct ck_keeper_store *out, struct ck_err *e);
void ck_keeper_store_close(struct ck_keeper_store *s);

/* Parses the trust anchors (system store plus --ca-bundle) that ck_keeper_want hands to
 * every verdict into c->proc; once per process, before any thread starts (later calls
 * do nothing). Without them nothing is usable. */
int ck_keeper_trust_load(const struct ck_config *c, struct ck_err *e);

/* What "usable" means for this configuration, now. */
struct ck_cert_want ck_keeper_want(const struct ck_config *c);

/* A new certificate over ACME, checked, not yet written anywhere. The account
 * comes from the store when st is set (shared by every replica), else <state>. */
int ck_keeper_obtain(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     struct ck_bundle *out, struct ck_cert_summary *sum, struct ck_err *e);
/* Store first (durable, when st is set), then the volume. */
int ck_keeper_save(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                   const struct ck_bundle *b, const struct ck_cert_summary *sum, struct ck_err *e);

/* init's work on an open store (st NULL: none): volume, else store, else issue. */
int ck_keeper_init_with(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                        struct ck_err *e);

/* <state>/run.pid (runpid.c): `run` takes it (an flock held for its life, its pid in
 * it); ck_keeper_run_signal sends sig to the run holding it, or fails in one line. */
int ck_keeper_run_lock(const struct ck_config *c, int *fd, struct ck_err *e);
int ck_keeper_run_signal(const struct ck_config *c, int sig, long *pid, struct ck_err *e);

/* As ck_keeper_obtain; the order names `replaces` (ARI id, NULL: none) when the CA has ARI. */
int ck_keeper_obtain_replacing(const struct ck_config *c, const struct ck_log *log,
                               struct ck_store *st, const char *replaces, struct ck_bundle *out,
                               struct ck_cert_summary *sum, struct ck_err *e);

/* 0 when b is usable for c now (SPEC section 4; sum filled when the leaf parsed),
 * 1 with the reason in e (naming `where`). */
/* ck_keeper_usable, skipping the key match and signatures when `proven` (32 bytes, a
 * passing check's sum->proof) still fits these very bytes and anchors. */
int ck_keeper_usable_proven(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                            const unsigned char *proven, struct ck_cert_summary *sum,
                            struct ck_err *e);
int ck_keeper_usable(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                     struct ck_cert_summary *sum, struct ck_err *e);
/* The verdict on what the CA just issued for our order, the one every command
 * uses: as ck_keeper_usable, but its validity is judged by its own span, so it is
 * always published (SPEC section 4). Logs a clock skew, and a renewal.min_valid
 * above the lifetime's share (once). 0 or -1 (e). */
int ck_keeper_just_issued(const struct ck_config *c, const struct ck_log *log,
                          const struct ck_bundle *b, struct ck_cert_summary *sum, struct ck_err *e);

/* The issuer lease across replicas: its TTL, an owner string (host/pid/random)
 * and a heartbeat thread (on the lease's own store handle) while holding it. */
#define CK_KEEPER_LEASE_TTL_S 120
struct ck_lease;
void ck_keeper_lease_owner(char *out, size_t cap);
/* After acquiring: one warning when the lease was taken over from an overlong one,
 * one when the store ignores conditional writes. */
void ck_keeper_lease_overlong(const struct ck_config *c, const struct ck_log *log,
                              const struct ck_lease_holder *h);
struct ck_keeper_beat {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int stop, running;
    int lost;                  /* a heartbeat found the lease held by someone else */
    struct ck_lease *lease;
    const struct ck_log *log;
};
/* Without a thread (logged) the lease just lasts its TTL. */
void ck_keeper_beat_start(struct ck_keeper_beat *b, struct ck_lease *lease,
                          const struct ck_log *log);
void ck_keeper_beat_stop(struct ck_keeper_beat *b);

/* The volume's certificate: 0 usable (sum filled), CK_KEEPER_VOL_ABSENT or
 * CK_KEEPER_VOL_UNUSABLE (why says why; sum filled when the leaf parsed). */
#define CK_KEEPER_VOL_ABSENT 1
#define CK_KEEPER_VOL_UNUSABLE 2
int ck_keeper_read_volume(const struct ck_config *c, struct ck_cert_summary *sum, char *why,
                          size_t cap);
/* Restores the store's certificate when its notAfter is later than
 * have_not_after (one GET of current.json otherwise): 1 restored (sum filled),
 * 0 nothing newer, -1 error (an unusable newer one is an error). write_lock
 * (may be NULL) is held while the volume is written. */
int ck_keeper_pickup(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     int64_t have_not_after, pthread_mutex_t *write_lock,
                     struct ck_cert_summary *sum, struct ck_err *e);
/* Tells the app (reload.* keys), each way logged: 0 told, -1 a way failed, 1 none set. */
int ck_keeper_tell_app(const struct ck_config *c, const struct ck_log *log);

/* One renewal: under the store lease when st is set (a newer store certificate
 * is restored instead), store first then volume, app told, lease released,
 * failures cleared.
 * 0 done, CK_KEEPER_BUSY another replica holds the lease, -1 failed (e). */
#define CK_KEEPER_BUSY 1
struct ck_keeper_renewal {
    const char *replaces;      /* ARI id of the certificate being replaced, or NULL */
    int64_t have_not_after;    /* of the volume's usable certificate; 0: none */
    pthread_mutex_t *write_lock; /* held while files are written (NULL: none) */
    struct ck_cert_summary sum; /* out: the new certificate */
    int restored;              /* out: it came from the store */
    int lease_lost;            /* out: the lease was lost while we held it */
    int reload;                /* out: ck_keeper_tell_app's answer (1: not told) */
    unsigned failures;         /* out after a failure (ck_keeper_note_failure) */
    int64_t next_retry;
};
int ck_keeper_renew_once(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         struct ck_keeper_renewal *r, struct ck_err *e);
/* state.json (the store's, else <state>/certs/<name>/state.json): failures+1
 * (unless it already shows more than `seen`: another replica counted this one),
 * last error, next retry = now + ck_retry_delay; *failures in (run's count in
 * memory, used when the state cannot be read) and out. POSTs the "failure"
 * webhook. Nothing is counted or sent after the operator's SIGINT/SIGTERM. */
void ck_keeper_note_failure(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const struct ck_err *failure, unsigned seen,
                            unsigned *failures, int64_t *next_retry);
/* The "failure" webhook for an event that is not a renewal's failure (nothing counted). */
void ck_keeper_alert(const struct ck_config *c, const struct ck_log *log, const char *msg);
/* After a new certificate: failures back to 0, and the "recovery" webhook when there were some. */
void ck_keeper_clear_failures(const struct ck_config *c, const struct ck_log *log,
                              struct ck_store *st);
/* The renewal state from the store, else from the state directory; as ck_bundle_state_get. */
int ck_keeper_state_get(const struct ck_config *c, struct ck_store *st, struct ck_bundle_state *s,
                        struct ck_err *e);
/* <state>/certs/<name>[/rel]: the store's layout, in the state directory. */
int ck_keeper_local_path(const struct ck_config *c, const char *rel, char *out, size_t cap,
                         struct ck_err *e);

/* The ACME account key from the store when st is set, else <state>/account.key;
 * created when absent only if `create` (else an error naming where it was sought). */
int ck_keeper_account_key(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                          int create, struct ck_key **out, struct ck_err *e);

/* accounts/<directory host> in the store: where the shared account lives. */
int ck_keeper_account_prefix(const struct ck_config *c, char *out, size_t cap, struct ck_err *e);
/* lib/acme's key_refused hook for an order: the account key refused by the CA is
 * replaced by a different one in the store (or <state>): account.key, else a
 * pending account.key.next the CA knows (then made account.key). One line logged;
 * when there is none, e says so. */
struct ck_key;
struct ck_keeper_rekey {
    const struct ck_config *c;
    const struct ck_log *log;
    struct ck_store *st;       /* NULL: <state> */
    struct ck_http *http;
    struct ck_key *newer;      /* owned: the key handed over */
};
int ck_keeper_rekey(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                    struct ck_err *e);
void ck_keeper_rekey_free(struct ck_keeper_rekey *r);

/* 1 when `certkeep revoke` marked serial (hex, as in ck_cert_summary) revoked: in
 * <state>/certs/<name>/revoked/, or in the store's certs/<name>/revoked/ when st
 * is set; 0 otherwise (an unreadable store counts as not marked). */
int ck_keeper_revoked(const struct ck_config *c, struct ck_store *st, const char *serial);
/* Marks serial revoked (the store's mark when st is set, and the state directory's). */
int ck_keeper_mark_revoked(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                           const char *serial, int reason, struct ck_err *e);

/* OCSP stapling material: <out>/<name>/ocsp.der for the volume's certificate. */
#define CK_KEEPER_OCSP_FILE "ocsp.der"
struct ck_keeper_ocsp {
    int fetched;               /* a response came from the responder (else none was due) */
    struct ck_ocsp_answer a;   /* of the response fetched, or of the file kept */
    int64_t refresh_at;        /* when to look again; 0: never (off, or no responder) */
    char serial[65];           /* of the certificate asked about */
};
/* Reads the volume's certificate; when it names a responder (and ocsp is on), keeps an
 * ocsp.der that is good and not past half its validity, else fetches one: a good answer
 * is written (under write_lock when set) and the app told when tell_app; a revoked one
 * is returned (0, a.status) and never written. -1 (e): no good response (unknown, the
 * responder down or refused); the file there is kept. */
int ck_keeper_ocsp_refresh(const struct ck_config *c, const struct ck_log *log,
                           pthread_mutex_t *write_lock, int tell_app, struct ck_keeper_ocsp *out,
                           struct ck_err *e);
/* After a new certificate, before the app is told (nginx reads ssl_stapling_file when it
 * reloads): ck_keeper_ocsp_refresh, a failure one warning; a revoked answer is left to run's
 * OCSP check and the next init. */
void ck_keeper_ocsp_before_telling(const struct ck_config *c, const struct ck_log *log,
                                   pthread_mutex_t *write_lock);
/* A revoked answer: one error line, the mark (ck_keeper_mark_revoked, so init and run issue
 * a new certificate) and the webhook. */
void ck_keeper_ocsp_revoked(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const struct ck_keeper_ocsp *o);

/* Is the certificate due (sum: the volume's)? From the CA's ARI window when it offers
 * one, else from its lifetime (the window's start: an operator asked, no jitter). */
int ck_keeper_renew_due(const struct ck_config *c, const struct ck_log *log,
                        const struct ck_cert_summary *sum, int64_t now, int64_t *when);
/* After CK_KEEPER_BUSY: another replica is renewing. Restores its certificate when it
 * lands in the store (app told), or renews here if its lease goes away (bounded wait). */
int ck_keeper_renew_wait(const struct ck_config *c, const struct ck_log *log,
                         struct ck_store *st, struct ck_keeper_renewal *r, struct ck_err *e);

/* The volume's certificate revoked at the CA with the account key ("alreadyRevoked" is
 * done too), then marked (ck_keeper_mark_revoked). */
int ck_keeper_revoke(const struct ck_config *c, const struct ck_log *log, int reason,
                     struct ck_err *e);
/* Account key rollover (RFC 8555 7.3.5) and deactivation (7.3.6), under the store's
 * "account" lease when there is a store. */
int ck_keeper_account_rollover(const struct ck_config *c, const struct ck_log *log,
                               struct ck_err *e);
int ck_keeper_account_deactivate(const struct ck_config *c, const struct ck_log *log,
                                 struct ck_err *e);

/* certkeep status: the volume's certificate and the store's (st NULL: none configured),
 * usable or why not, names, expiry, renewal window and last failure, written to out as
 * text, or as one JSON object when c->log_json. 0 when the volume's is usable, else -1 (e). */
int ck_keeper_status(const struct ck_config *c, struct ck_store *st, FILE *out, struct ck_err *e);

/* ---- The fleet (fleet.c): every certificate of c kept by one process, each by its keeper.
 * The caller owns the event loop and the signals (SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2
 * blocked in every thread, read from a signalfd): it polls the fleet's fds until its next
 * deadline and calls back on each event. The fleet runs the jobs on threads and wakes them
 * with SIGURG (its handler set by ck_keeper_fleet_new, restored by ck_keeper_fleet_free). ---- */
struct ck_keeper_fleet;
struct pollfd;
/* The certificates, the done pipe, run.pid (ck_keeper_run_lock), the health listener
 * (c->listen) and the job slots' store handles. */
int ck_keeper_fleet_new(const struct ck_config *c, const struct ck_log *log,
                        struct ck_keeper_fleet **out, struct ck_err *e);
void ck_keeper_fleet_free(struct ck_keeper_fleet *f);
/* The seccomp filter (lib/sandbox, unless off), then each keeper's start. */
int ck_keeper_fleet_start(struct ck_keeper_fleet *f, struct ck_err *e);
/* Time passed: steps every idle certificate whose moment came; the next deadline. */
int64_t ck_keeper_fleet_due(struct ck_keeper_fleet *f);
/* The health listener's fds (cap: CK_HEALTH_MAX_FDS; *timeout shortened), then
 * ck_keeper_fleet_health on their revents after each poll, a timeout too. */
size_t ck_keeper_fleet_pollfds(struct ck_keeper_fleet *f, struct pollfd *pfd, size_t cap,
                               int *timeout);
void ck_keeper_fleet_health(struct ck_keeper_fleet *f, const struct pollfd *pfd, size_t n);
/* The done pipe: ck_keeper_fleet_done when it is readable (a job ended). */
int ck_keeper_fleet_done_fd(const struct ck_keeper_fleet *f);
void ck_keeper_fleet_done(struct ck_keeper_fleet *f);
/* A signal arrived. SIGHUP only asks for ck_keeper_fleet_wants_reread. */
void ck_keeper_fleet_signal(struct ck_keeper_fleet *f, int signo);
/* SIGHUP came and no job runs: the caller loads the configuration again
 * (ck_config_load, ck_keeper_attach) and hands it over, owned by the fleet from here:
 * nc NULL (no memory), or zeroed by a failed load with why saying why. A bad one is
 * refused in one line and the old one stays; then every certificate is checked now. */
int ck_keeper_fleet_wants_reread(const struct ck_keeper_fleet *f);
void ck_keeper_fleet_reread(struct ck_keeper_fleet *f, struct ck_config *nc,
                            const struct ck_err *why);
/* SIGTERM / SIGINT came (or a re-read failed): leave the loop, then ck_keeper_fleet_stop. */
int ck_keeper_fleet_stopping(const struct ck_keeper_fleet *f);
/* Lets the running jobs end through their error paths within a grace (700 ms): 0.
 * 1: one did not; it is abandoned (logged) with the write lock held, so that no
 * file write starts: the caller exits at once (_exit), nothing freed. */
int ck_keeper_fleet_stop(struct ck_keeper_fleet *f);

#endif
