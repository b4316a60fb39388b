/* Commands of the certkeep binary. Each returns 0 on success or -1 with e
 * filled; main turns kind CK_E_USAGE into exit 2 and the rest into exit 1. */
#ifndef CK_CMD_H
#define CK_CMD_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>

#include "../../lib/bundle/bundle.h"
#include "../../lib/cert/cert.h"
#include "../../lib/config/config.h"
#include "../../lib/err/err.h"
#include "../../lib/http/http.h"
#include "../../lib/log/log.h"

#ifndef CK_VERSION
#define CK_VERSION "0.0.0-dev"
#endif

/* The SIGINT/SIGTERM that asked a one-shot command to stop (0: none), set by
 * main's handler; ck_cmd_stop is the http stop hook's copy, cleared to let the
 * lease release go out after the signal. */
extern volatile sig_atomic_t ck_cmd_signal, ck_cmd_stop;
/* The command's arguments (after the command word), for run's re-read on SIGHUP. */
extern int ck_cmd_argc;
extern char **ck_cmd_argv;

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_init(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_status(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

/* The configured store (dir or S3) with what it needs; store NULL when none is configured. */
struct ck_cmd_store {
    struct ck_store *store;
    struct ck_http *http;
};
/* Opening makes no request; only a configuration or credentials problem fails. */
/* HTTP options every command uses: the CA bundle, our User-Agent, the stop flag;
 * timeouts in ms (0: lib/http's defaults). */
struct ck_http_opts ck_cmd_http_opts(const struct ck_config *c, long connect_ms, long total_ms);
int ck_cmd_store_open(const struct ck_config *c, struct ck_cmd_store *out, struct ck_err *e);
/* The same with the S3 requests' timeouts in ms. */
int ck_cmd_store_open_within(const struct ck_config *c, long connect_ms, long total_ms,
                             struct ck_cmd_store *out, struct ck_err *e);
void ck_cmd_store_close(struct ck_cmd_store *s);

/* Parses the trust anchors (system store plus --ca-bundle) that ck_cmd_want hands to
 * every verdict; once per process, before any thread starts. Without them nothing is
 * usable. */
int ck_cmd_trust_load(const struct ck_config *c, struct ck_err *e);
void ck_cmd_trust_free(void);

/* What "usable" means for this configuration, now. */
struct ck_cert_want ck_cmd_want(const struct ck_config *c);

/* A new certificate over ACME, checked, not yet written anywhere. The account
 * comes from the store when st is set (shared by every replica), else <state>. */
int ck_cmd_obtain(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                  struct ck_bundle *out, struct ck_cert_summary *sum, struct ck_err *e);
/* Store first (durable, when st is set), then the volume. */
int ck_cmd_save(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                const struct ck_bundle *b, const struct ck_cert_summary *sum, struct ck_err *e);

/* init's work on an open store (st NULL: none): volume, else store, else issue. */
int ck_cmd_init_with(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     struct ck_err *e);
int ck_cmd_run(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_renew(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

/* <state>/run.pid (runpid.c): `run` takes it (an flock held for its life, its pid in
 * it); ck_cmd_run_signal sends sig to the run holding it, or fails in one line. */
int ck_cmd_run_lock(const struct ck_config *c, int *fd, struct ck_err *e);
int ck_cmd_run_signal(const struct ck_config *c, int sig, long *pid, struct ck_err *e);
/* The central http-01 responder: challenge.http01_listen, answered from the store. */
int ck_cmd_serve(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

/* As ck_cmd_obtain; the order names `replaces` (ARI id, NULL: none) when the CA has ARI. */
int ck_cmd_obtain_replacing(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const char *replaces, struct ck_bundle *out,
                            struct ck_cert_summary *sum, struct ck_err *e);

/* 0 when b is usable for c now (SPEC section 4; sum filled when the leaf parsed),
 * 1 with the reason in e (naming `where`). */
/* ck_cmd_usable, skipping the key match and signatures when `proven` (32 bytes, a
 * passing check's sum->proof) still fits these very bytes and anchors. */
int ck_cmd_usable_proven(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                         const unsigned char *proven, struct ck_cert_summary *sum,
                         struct ck_err *e);
int ck_cmd_usable(const struct ck_config *c, const char *where, const struct ck_bundle *b,
                  struct ck_cert_summary *sum, struct ck_err *e);
/* The verdict on what the CA just issued for our order, the one every command
 * uses: as ck_cmd_usable, but its validity is judged by its own span, so it is
 * always published (SPEC section 4). Logs a clock skew, and a renewal.min_valid
 * above the lifetime's share (once). 0 or -1 (e). */
int ck_cmd_just_issued(const struct ck_config *c, const struct ck_log *log,
                       const struct ck_bundle *b, struct ck_cert_summary *sum, struct ck_err *e);

/* The issuer lease across replicas: its TTL, an owner string (host/pid/random)
 * and a heartbeat thread (on the lease's own store handle) while holding it. */
#define CK_CMD_LEASE_TTL_S 120
struct ck_lease;
void ck_cmd_lease_owner(char *out, size_t cap);
/* After acquiring: one warning when the lease was taken over from an overlong one,
 * one when the store ignores conditional writes. */
void ck_cmd_lease_overlong(const struct ck_config *c, const struct ck_log *log,
                           const struct ck_lease_holder *h);
struct ck_cmd_beat {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int stop, running;
    int lost;                  /* a heartbeat found the lease held by someone else */
    struct ck_lease *lease;
    const struct ck_log *log;
};
/* Without a thread (logged) the lease just lasts its TTL. */
void ck_cmd_beat_start(struct ck_cmd_beat *b, struct ck_lease *lease, const struct ck_log *log);
void ck_cmd_beat_stop(struct ck_cmd_beat *b);

/* The volume's certificate: 0 usable (sum filled), CK_CMD_VOL_ABSENT or
 * CK_CMD_VOL_UNUSABLE (why says why; sum filled when the leaf parsed). */
#define CK_CMD_VOL_ABSENT 1
#define CK_CMD_VOL_UNUSABLE 2
int ck_cmd_read_volume(const struct ck_config *c, struct ck_cert_summary *sum, char *why,
                       size_t cap);
/* Restores the store's certificate when its notAfter is later than
 * have_not_after (one GET of current.json otherwise): 1 restored (sum filled),
 * 0 nothing newer, -1 error (an unusable newer one is an error). write_lock
 * (may be NULL) is held while the volume is written. */
int ck_cmd_pickup(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                  int64_t have_not_after, pthread_mutex_t *write_lock,
                  struct ck_cert_summary *sum, struct ck_err *e);
/* Tells the app (reload.* keys), each way logged: 0 told, -1 a way failed, 1 none set. */
int ck_cmd_tell_app(const struct ck_config *c, const struct ck_log *log);

/* One renewal: under the store lease when st is set (a newer store certificate
 * is restored instead), store first then volume, app told, lease released,
 * failures cleared.
 * 0 done, CK_CMD_BUSY another replica holds the lease, -1 failed (e). */
#define CK_CMD_BUSY 1
struct ck_cmd_renewal {
    const char *replaces;      /* ARI id of the certificate being replaced, or NULL */
    int64_t have_not_after;    /* of the volume's usable certificate; 0: none */
    pthread_mutex_t *write_lock; /* held while files are written (NULL: none) */
    struct ck_cert_summary sum; /* out: the new certificate */
    int restored;              /* out: it came from the store */
    int lease_lost;            /* out: the lease was lost while we held it */
    int reload;                /* out: ck_cmd_tell_app's answer (1: not told) */
    unsigned failures;         /* out after a failure (ck_cmd_note_failure) */
    int64_t next_retry;
};
int ck_cmd_renew_once(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                      struct ck_cmd_renewal *r, struct ck_err *e);
/* state.json (the store's, else <state>/certs/<name>/state.json): failures+1
 * (unless it already shows more than `seen`: another replica counted this one),
 * last error, next retry = now + ck_retry_delay; *failures in (run's count in
 * memory, used when the state cannot be read) and out. POSTs the "failure"
 * webhook. Nothing is counted or sent after the operator's SIGINT/SIGTERM. */
void ck_cmd_note_failure(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         const struct ck_err *failure, unsigned seen, unsigned *failures,
                         int64_t *next_retry);
/* The "failure" webhook for an event that is not a renewal's failure (nothing counted). */
void ck_cmd_alert(const struct ck_config *c, const struct ck_log *log, const char *msg);
/* After a new certificate: failures back to 0, and the "recovery" webhook when there were some. */
void ck_cmd_clear_failures(const struct ck_config *c, const struct ck_log *log,
                           struct ck_store *st);
/* The renewal state from the store, else from the state directory; as ck_bundle_state_get. */
int ck_cmd_state_get(const struct ck_config *c, struct ck_store *st, struct ck_bundle_state *s,
                     struct ck_err *e);
/* <state>/certs/<name>[/rel]: the store's layout, in the state directory. */
int ck_cmd_local_path(const struct ck_config *c, const char *rel, char *out, size_t cap,
                      struct ck_err *e);

/* The ACME account key from the store when st is set, else <state>/account.key;
 * created when absent only if `create` (else an error naming where it was sought). */
int ck_cmd_account_key(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                       int create, struct ck_key **out, struct ck_err *e);

/* accounts/<directory host> in the store: where the shared account lives. */
int ck_cmd_account_prefix(const struct ck_config *c, char *out, size_t cap, struct ck_err *e);
/* certkeep account rollover (RFC 8555 7.3.5) and deactivate (7.3.6, needs --yes),
 * under the store's "account" lease when there is a store. */
int ck_cmd_account_rollover(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_account_deactivate(const struct ck_config *c, const struct ck_log *log,
                              struct ck_err *e);
/* lib/acme's key_refused hook for an order: the account key refused by the CA is
 * replaced by a different one in the store (or <state>): account.key, else a
 * pending account.key.next the CA knows (then made account.key). One line logged;
 * when there is none, e says so. */
struct ck_key;
struct ck_cmd_rekey {
    const struct ck_config *c;
    const struct ck_log *log;
    struct ck_store *st;       /* NULL: <state> */
    struct ck_http *http;
    struct ck_key *newer;      /* owned: the key handed over */
};
int ck_cmd_rekey(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                 struct ck_err *e);
void ck_cmd_rekey_free(struct ck_cmd_rekey *r);

/* certkeep revoke: the volume's certificate, with the account key, --reason. */
int ck_cmd_revoke(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
/* 1 when `certkeep revoke` marked serial (hex, as in ck_cert_summary) revoked: in
 * <state>/certs/<name>/revoked/, or in the store's certs/<name>/revoked/ when st
 * is set; 0 otherwise (an unreadable store counts as not marked). */
int ck_cmd_revoked(const struct ck_config *c, struct ck_store *st, const char *serial);
/* Marks serial revoked (the store's mark when st is set, and the state directory's). */
int ck_cmd_mark_revoked(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                        const char *serial, int reason, struct ck_err *e);

/* OCSP stapling material: <out>/<name>/ocsp.der for the volume's certificate. */
#define CK_CMD_OCSP_FILE "ocsp.der"
struct ck_cmd_ocsp {
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
int ck_cmd_ocsp_refresh(const struct ck_config *c, const struct ck_log *log,
                        pthread_mutex_t *write_lock, int tell_app, struct ck_cmd_ocsp *out,
                        struct ck_err *e);
/* After a new certificate, before the app is told (nginx reads ssl_stapling_file when it
 * reloads): ck_cmd_ocsp_refresh, a failure one warning; a revoked answer is left to run's
 * OCSP check and the next init. */
void ck_cmd_ocsp_before_telling(const struct ck_config *c, const struct ck_log *log,
                                pthread_mutex_t *write_lock);
/* A revoked answer: one error line, the mark (ck_cmd_mark_revoked, so init and run issue
 * a new certificate) and the webhook. */
void ck_cmd_ocsp_revoked(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         const struct ck_cmd_ocsp *o);

#endif
