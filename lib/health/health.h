/* /healthz, /readyz and /metrics (Prometheus text format 0.0.4) on the `listen`
 * address, served by lib/listen from the caller's event loop: no thread of its own,
 * every socket non-blocking, requests bounded (4 KiB) in size and time (2 s), up to
 * CK_HEALTH_MAX_CONNS clients, the oldest idle one closed when a new one finds no
 * room, so neither a slow client nor a flood of idle ones holds up a probe.
 *
 * The loop, s6 style (one poll, a monotonic deadline):
 *     struct pollfd pfd[CK_HEALTH_MAX_FDS + mine];
 *     int timeout = my_timeout;
 *     size_t n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout);
 *     ... add my own fds after pfd[n] ...
 *     poll(pfd, n + mine, timeout);
 *     ck_health_handle(h, pfd, n);
 * or, for a loop that only watches ck_health_fd(): ck_health_serve(h, 0) when it is
 * readable and at least every second. */
#ifndef CK_HEALTH_H
#define CK_HEALTH_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "../err/err.h"
#include "../listen/listen.h"
#include "../log/log.h"

#define CK_HEALTH_MAX_CONNS CK_LISTEN_MAX_CONNS
#define CK_HEALTH_MAX_FDS CK_LISTEN_MAX_FDS
#define CK_HEALTH_MAX_REQUEST 4096
#define CK_HEALTH_REQUEST_MS CK_LISTEN_HEAD_MS
#define CK_HEALTH_MAX_NAMES 1024  /* run keeps up to this many certificates with metrics */

struct ck_health;

/* The reason label of a failed renewal, from its error's kind. */
#define CK_HEALTH_REASONS 7
unsigned ck_health_reason(enum ck_err_kind kind);

/* What /metrics says about one certificate name; the caller updates the fields in
 * place (ck_health_cert). Timestamps are Unix seconds; 0 means unknown and leaves
 * the sample out. */
struct ck_health_cert {
    int64_t not_before, not_after;  /* of the certificate on the volume */
    int64_t next_renewal;           /* when the next attempt is due */
    int64_t last_success;           /* of the last renewal (or issuance) */
    uint64_t renewals_success, renewals_failure;
    uint64_t failures_consecutive;
    uint64_t ocsp_failures, ocsp_revoked;  /* OCSP fetches that failed; revoked answers */
    int64_t ocsp_next_update;              /* nextUpdate of the ocsp.der on the volume */
    uint64_t reloads_success, reloads_failure;  /* telling the app */
    uint64_t failures[CK_HEALTH_REASONS];       /* failed renewals by ck_health_reason */
};

/* Binds `listen` ("host:port", "[v6]:port", ":port"; port 0 picks a free one) and
 * listens. `version` goes into certkeep_build_info. */
int ck_health_start(const char *listen, const char *version, const struct ck_log *log,
                    struct ck_health **out, struct ck_err *e);
/* Closes every socket and frees. NULL is fine. */
void ck_health_stop(struct ck_health *h);

/* The listening socket. */
int ck_health_fd(const struct ck_health *h);
/* The bound port. */
int ck_health_port(const struct ck_health *h);

/* /readyz answers 200 when ready is non-zero, 503 otherwise (the start state). */
void ck_health_set_ready(struct ck_health *h, int ready);
/* The entry for `name`, created zeroed on first use; valid until ck_health_stop.
 * NULL with e set when the name is empty, too long (255) or one too many. */
struct ck_health_cert *ck_health_cert(struct ck_health *h, const char *name, struct ck_err *e);

/* Fills pfd (cap entries, CK_HEALTH_MAX_FDS is enough) with the sockets to watch
 * and returns how many; lowers *timeout_ms (-1: none) to the next connection
 * deadline. */
size_t ck_health_pollfds(struct ck_health *h, struct pollfd *pfd, size_t cap,
                         int *timeout_ms);
/* Acts on the revents of the n entries ck_health_pollfds filled, then drops the
 * connections past their deadline. Never blocks. */
void ck_health_handle(struct ck_health *h, const struct pollfd *pfd, size_t n);
/* pollfds + poll (at most timeout_ms, 0: just look) + handle. */
void ck_health_serve(struct ck_health *h, int timeout_ms);

/* The whole HTTP response to one raw request (for tests and fuzzing); *out is
 * malloc'd. Returns the status code, -1 when out of memory. */
int ck_health_respond(const struct ck_health *h, const char *req, size_t len, char **out,
                      size_t *out_len);
/* The /metrics body; *out is malloc'd and NUL-terminated. */
int ck_health_metrics(const struct ck_health *h, char **out, size_t *len, struct ck_err *e);

#endif
