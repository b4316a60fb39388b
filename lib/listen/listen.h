/* One small HTTP/1 listener for the http-01 responder and the health endpoint:
 * binds, accepts, reads one request head, hands it to the caller's answer function,
 * writes the response and closes (or hands each connection to the caller's drive
 * function: the tls-alpn-01 responder). Driven by one poll loop (the caller's): every
 * socket non-blocking, so one client never holds up another.
 *
 * Hard to starve: up to CK_LISTEN_MAX_CONNS connections (fewer when RLIMIT_NOFILE is
 * low), a CK_LISTEN_HEAD_MS deadline for the whole head counted from accept, the
 * listener always polled, and when every slot is taken the oldest connection still
 * waiting for its head is closed, that of the newcomer's own address first (one
 * address flooding only evicts itself). There is no per-address cap: behind NAT or
 * kube-proxy every client, the CA's vantage points included, can share one address.
 *
 * Memory: a table of slots made at start (88 bytes each on 64-bit: 90 KiB for 1024)
 * plus, per connection that has sent something, a head buffer of 1 KiB growing to
 * at most max_head + 1 bytes, then the response; an idle connection costs only its
 * slot. Bound: slots x (max_head + 1 + the largest response) beyond the table.
 *
 *     struct pollfd pfd[CK_LISTEN_MAX_FDS + mine];
 *     size_t n = ck_listen_pollfds(l, pfd, CK_LISTEN_MAX_FDS, &timeout);
 *     poll(pfd, n + mine, timeout);   (mine after pfd[n])
 *     ck_listen_handle(l, pfd, n);    (also after a timeout: it enforces deadlines) */
#ifndef CK_LISTEN_H
#define CK_LISTEN_H

#include <poll.h>
#include <stddef.h>

#include "../err/err.h"
#include "../log/log.h"

#define CK_LISTEN_MAX_CONNS 1024
#define CK_LISTEN_MAX_FDS (CK_LISTEN_MAX_CONNS + 1)
#define CK_LISTEN_HEAD_MS 2000
#define CK_LISTEN_BACKLOG 1024

struct ck_listen;

/* Builds the whole response to one request head (head[0..len), NUL-terminated;
 * oversize: max_head bytes came without the end of the head). *out is malloc'd
 * and sent as is, then the connection is closed. Returns the status for the log
 * line, or -1 to close without an answer (out of memory). */
typedef int (*ck_listen_answer)(void *ctx, const char *head, size_t len, int oversize,
                                char **out, size_t *out_len);

/* Splits "host:port", "[v6]:port", ":port" or "port" (0-65535); host "" means every
 * address. -1 when it does not parse. */
int ck_listen_split(const char *addr, char *host, size_t hsz, char *port, size_t psz);

/* A non-blocking listening socket on `addr` (host "": IPv6 dual-stack, else IPv4).
 * Messages start with `what` ("listen :8080: ..."). A refused bind sets *bind_err
 * to its errno (0 for anything else). */
int ck_listen_socket(const char *addr, const char *what, int *bind_err, struct ck_err *e);

/* Serves on `lfd`, which it owns from then on (closed by ck_listen_free, and on
 * failure). max_conns 0: CK_LISTEN_MAX_CONNS, lowered to fit RLIMIT_NOFILE.
 * Request lines are logged at debug level under `event`. */
int ck_listen_new(int lfd, size_t max_head, size_t max_conns, ck_listen_answer answer,
                  void *ctx, const struct ck_log *log, const char *event,
                  struct ck_listen **out, struct ck_err *e);
/* A connection the caller drives instead of the head reader (a TLS handshake):
 * called after accept with revents 0, then with what poll reported on fd. *conn
 * (NULL at first) is the caller's state for it, one malloc'd block, freed with
 * free() when the connection closes (also at its deadline or on eviction).
 * Returns the events to wait for next (POLLIN or POLLOUT), 0 to close. */
typedef short (*ck_listen_drive)(void *ctx, int fd, short revents, void **conn);
/* As ck_listen_new, every connection driven by `drive` and closed deadline_ms after
 * accept. */
int ck_listen_new_driven(int lfd, size_t max_conns, long deadline_ms, ck_listen_drive drive,
                         void *ctx, const struct ck_log *log, const char *event,
                         struct ck_listen **out, struct ck_err *e);
/* Closes every connection and the listening socket. NULL is fine. */
void ck_listen_free(struct ck_listen *l);

int ck_listen_fd(const struct ck_listen *l);
/* Open connections now. */
size_t ck_listen_count(const struct ck_listen *l);
/* How many connections it can hold. */
size_t ck_listen_slots(const struct ck_listen *l);

/* Fills pfd (cap entries; slots + 1 is enough) and returns how many; lowers
 * *timeout_ms (-1: none) to the next deadline. */
size_t ck_listen_pollfds(struct ck_listen *l, struct pollfd *pfd, size_t cap, int *timeout_ms);
/* Acts on the revents of the n entries ck_listen_pollfds filled, accepts, then
 * drops connections past their deadline. Never blocks. */
void ck_listen_handle(struct ck_listen *l, const struct pollfd *pfd, size_t n);

#endif
