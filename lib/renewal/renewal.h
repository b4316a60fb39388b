/* When to renew and when to retry (SPEC section 5). Pure functions: time and
 * randomness come in as arguments so that every schedule is testable. */
#ifndef CK_RENEWAL_H
#define CK_RENEWAL_H

#include <stdint.h>

struct ck_window {
    int64_t start, end; /* renew at a moment in [start, end) */
};

/* From the certificate's actual lifetime: one third left, or one half for
 * lifetimes under 10 days; the window spans a quarter of that remainder. */
struct ck_window ck_renewal_window(int64_t not_before, int64_t not_after);

/* A moment in [max(w.start, now), w.end) chosen by `rnd` (uniform 32-bit), never
 * on a whole minute: the step off the minute stays inside (test_keeper checks every
 * offset); only a single second left, on a whole minute, gives the second before it. A
 * window already past gives `now` plus 1..30 s. */
int64_t ck_renewal_pick(struct ck_window w, int64_t now, uint32_t rnd);

/* Delay before retry number `failures` (1-based): 1 min, 10 min, 100 min, then
 * a day; a server's Retry-After (>= 0) wins when it asks for longer. */
long ck_retry_delay(unsigned failures, long retry_after);

/* The furthest a planned retry read from shared state may lie ahead: the schedule's
 * longest step (a day) plus an hour for a CA's Retry-After and clocks. */
#define CK_RETRY_HORIZON (86400 + 3600)
/* A next retry read from the store or the state directory (a replica's clock years
 * ahead, one bad write): beyond now + CK_RETRY_HORIZON it becomes now plus the
 * schedule's own delay for `failures`. 0 (none planned) stays 0. */
int64_t ck_retry_bound(int64_t next_retry, unsigned failures, int64_t now);

/* The CA's suggested window (RFC 9773), bounded by the certificate: it ends at the
 * latest 1/8 of the lifetime before notAfter; one starting later than that gives way
 * to ck_renewal_window. An earlier window (the CA wants it renewed now) stands. */
struct ck_window ck_renewal_ari_bound(struct ck_window ari, int64_t not_before,
                                      int64_t not_after);

#endif
