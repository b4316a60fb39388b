/* The listener behind the http-01 responder and the health endpoint: a slot table,
 * one request head per connection, deadlines, and eviction instead of refusal. */
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_MS 1000
#define FIRST_BUF 1024
#define FD_RESERVE 128     /* descriptors left for the rest of the process */
#define MIN_SLOTS 16
#define ACCEPT_ROUND 256   /* accepts per handle call, so reads get their turn */
#define FULL_WARN_MS 60000 /* at most one "full" warning a minute */

enum state { C_FREE, C_READ, C_WRITE, C_DRAIN };

struct conn {
    int fd;
    unsigned char state;
    unsigned char addr[16]; /* the peer, IPv4 as ::ffff:a.b.c.d */
    long long since, deadline;
    char *buf; /* the head while reading, then the response */
    size_t len, cap, off;
};

struct ck_listen {
    int lfd;
    size_t max_head, slots, used, n_free, n_idx;
    long long accept_pause, warned_at;
    ck_listen_answer answer;
    ck_listen_drive drive; /* instead of answer */
    long long deadline_ms;
    void *ctx;
    const struct ck_log *log;
    const char *event;
    struct conn *conns;
    size_t *free_slots; /* stack of free slot numbers */
    size_t *idx;        /* slot of each pollfd entry; SIZE_MAX: the listener */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- binding ---- */

int ck_listen_split(const char *addr, char *host, size_t hsz, char *port, size_t psz)
{
    const char *colon;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr - 1) >= hsz)
            return -1;
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        colon = end + 1;
    } else if ((colon = strrchr(addr, ':')) != NULL) {
        if ((size_t)(colon - addr) >= hsz || memchr(addr, ':', (size_t)(colon - addr)))
            return -1; /* a bare IPv6 address needs brackets */
        memcpy(host, addr, (size_t)(colon - addr));
        host[colon - addr] = '\0';
    } else {
        if (hsz == 0)
            return -1;
        host[0] = '\0';
        colon = addr - 1;
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || n >= psz || strspn(p, "0123456789") != n || strtol(p, NULL, 10) > 65535)
        return -1;
    memcpy(port, p, n + 1);
    return 0;
}

static int bind_one(const struct sockaddr *sa, socklen_t len, int dual)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof one);
    /* the kernel caps the backlog at net.core.somaxconn */
    if (bind(fd, sa, len) < 0 || listen(fd, CK_LISTEN_BACKLOG) < 0 || set_flags(fd) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

/* All addresses: IPv6 dual-stack where the kernel has IPv6, else IPv4. */
static int bind_any(unsigned short port)
{
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_any;
    s6.sin6_port = htons(port);
    int fd = bind_one((struct sockaddr *)&s6, sizeof s6, 1);
    if (fd >= 0 || (errno != EAFNOSUPPORT && errno != EADDRNOTAVAIL))
        return fd;
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_addr.s_addr = htonl(INADDR_ANY);
    s4.sin_port = htons(port);
    return bind_one((struct sockaddr *)&s4, sizeof s4, 0);
}

int ck_listen_socket(const char *addr, const char *what, int *bind_err, struct ck_err *e)
{
    char host[256], port[8];
    *bind_err = 0;
    if (ck_listen_split(addr, host, sizeof host, port, sizeof port) < 0)
        return ck_failk(e, CK_E_USAGE, "%s %s: expected host:port, [v6]:port or :port", what,
                        addr);
    if (!host[0]) {
        int fd = bind_any((unsigned short)atoi(port));
        if (fd < 0) {
            *bind_err = errno;
            return ck_failk(e, CK_E_IO, "%s %s: %s", what, addr, strerror(errno));
        }
        return fd;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return ck_failk(e, CK_E_USAGE, "%s %s: %s", what, addr, gai_strerror(gai));
    int fd = -1, err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai->ai_addr, ai->ai_addrlen, 0);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *bind_err = err;
        return ck_failk(e, CK_E_IO, "%s %s: %s", what, addr, strerror(err));
    }
    return fd;
}

/* ---- life cycle ---- */

/* CK_LISTEN_MAX_CONNS, or what RLIMIT_NOFILE leaves after FD_RESERVE. */
static size_t default_slots(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur >= CK_LISTEN_MAX_CONNS + FD_RESERVE)
        return CK_LISTEN_MAX_CONNS;
    return rl.rlim_cur > MIN_SLOTS + FD_RESERVE ? (size_t)rl.rlim_cur - FD_RESERVE : MIN_SLOTS;
}

int ck_listen_new(int lfd, size_t max_head, size_t max_conns, ck_listen_answer answer,
                  void *ctx, const struct ck_log *log, const char *event,
                  struct ck_listen **out, struct ck_err *e)
{
    *out = NULL;
    struct ck_listen *l = calloc(1, sizeof *l);
    size_t slots = max_conns ? max_conns : default_slots();
    if (slots > CK_LISTEN_MAX_CONNS)
        slots = CK_LISTEN_MAX_CONNS;
    if (l) {
        l->conns = calloc(slots, sizeof *l->conns);
        l->free_slots = calloc(slots, sizeof *l->free_slots);
        l->idx = calloc(slots + 1, sizeof *l->idx);
    }
    if (!l || !l->conns || !l->free_slots || !l->idx) {
        if (l) {
            free(l->conns);
            free(l->free_slots);
            free(l->idx);
        }
        free(l);
        close(lfd);
        return ck_fail(e, "%s: out of memory for %zu connection slots", event, slots);
    }
    l->lfd = lfd;
    l->max_head = max_head;
    l->slots = slots;
    l->answer = answer;
    l->ctx = ctx;
    l->log = log;
    l->event = event;
    l->warned_at = -FULL_WARN_MS;
    l->deadline_ms = CK_LISTEN_HEAD_MS;
    for (size_t i = 0; i < slots; i++) {
        l->conns[i].fd = -1;
        l->free_slots[i] = slots - 1 - i;
    }
    l->n_free = slots;
    if (slots < CK_LISTEN_MAX_CONNS)
        ck_debug(log, event, "%zu connection slots (RLIMIT_NOFILE)", slots);
    *out = l;
    return 0;
}

int ck_listen_new_driven(int lfd, size_t max_conns, long deadline_ms, ck_listen_drive drive,
                         void *ctx, const struct ck_log *log, const char *event,
                         struct ck_listen **out, struct ck_err *e)
{
    if (ck_listen_new(lfd, 0, max_conns, NULL, ctx, log, event, out, e))
        return -1;
    (*out)->drive = drive;
    (*out)->deadline_ms = deadline_ms;
    return 0;
}

static void conn_close(struct ck_listen *l, size_t i)
{
    struct conn *c = &l->conns[i];
    if (c->state == C_FREE)
        return;
    close(c->fd);
    free(c->buf);
    *c = (struct conn){ .fd = -1, .state = C_FREE };
    l->free_slots[l->n_free++] = i;
    l->used--;
}

void ck_listen_free(struct ck_listen *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->slots; i++)
        conn_close(l, i);
    close(l->lfd);
    free(l->conns);
    free(l->free_slots);
    free(l->idx);
    free(l);
}

int ck_listen_fd(const struct ck_listen *l)
{
    return l->lfd;
}

size_t ck_listen_count(const struct ck_listen *l)
{
    return l->used;
}

size_t ck_listen_slots(const struct ck_listen *l)
{
    return l->slots;
}

/* ---- one connection ---- */

static void peer_text(const struct conn *c, char *buf, size_t sz)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (memcmp(c->addr, mapped, 12) == 0) {
        if (!inet_ntop(AF_INET, c->addr + 12, buf, (socklen_t)sz))
            snprintf(buf, sz, "?");
    } else if (!inet_ntop(AF_INET6, c->addr, buf, (socklen_t)sz)) {
        snprintf(buf, sz, "?");
    }
}

static void conn_write(struct ck_listen *l, size_t i)
{
    struct conn *c = &l->conns[i];
    while (c->off < c->len) {
        ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w <= 0) {
            conn_close(l, i);
            return;
        }
        c->off += (size_t)w;
    }
    /* Read what the client still sends until it closes, so that our close does not
     * turn into a reset that could destroy the response in flight. */
    shutdown(c->fd, SHUT_WR);
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = c->off = 0;
    c->state = C_DRAIN;
    long long d = now_ms() + DRAIN_MS;
    if (d < c->deadline)
        c->deadline = d;
}

static void respond(struct ck_listen *l, size_t i, size_t len, int oversize)
{
    struct conn *c = &l->conns[i];
    char *out = NULL;
    size_t out_len = 0;
    int status = l->answer(l->ctx, c->buf, len, oversize, &out, &out_len);
    char peer[INET6_ADDRSTRLEN];
    peer_text(c, peer, sizeof peer);
    size_t line = strcspn(c->buf, "\r\n");
    if (status < 0) {
        ck_warn(l->log, l->event, "%s \"%.*s\": out of memory", peer,
                (int)(line > 120 ? 120 : line), c->buf);
        free(out);
        conn_close(l, i);
        return;
    }
    ck_debug(l->log, l->event, "%s \"%.*s\"%s -> %d", peer, (int)(line > 200 ? 200 : line),
             c->buf, oversize ? " (head too large)" : "", status);
    free(c->buf);
    c->buf = out;
    c->len = out_len;
    c->cap = out_len;
    c->off = 0;
    c->state = C_WRITE;
    c->deadline = now_ms() + CK_LISTEN_HEAD_MS; /* a few KiB to a live client */
    conn_write(l, i);
}

static void conn_read(struct ck_listen *l, size_t i)
{
    struct conn *c = &l->conns[i];
    for (;;) {
        if (c->state == C_DRAIN) {
            char sink[512];
            ssize_t r = recv(c->fd, sink, sizeof sink, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return;
            if (r <= 0) {
                conn_close(l, i);
                return;
            }
            continue;
        }
        /* The first bytes land on the stack: an idle connection holds no buffer. */
        char first[FIRST_BUF];
        if (c->buf && c->len + 1 >= c->cap) {
            size_t cap = c->cap * 2 > l->max_head + 1 ? l->max_head + 1 : c->cap * 2;
            char *nb = realloc(c->buf, cap);
            if (!nb) {
                conn_close(l, i);
                return;
            }
            c->buf = nb;
            c->cap = cap;
        }
        size_t room = c->buf ? c->cap - 1 - c->len
                             : l->max_head < sizeof first ? l->max_head : sizeof first - 1;
        ssize_t r = recv(c->fd, c->buf ? c->buf + c->len : first, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_close(l, i);
            return;
        }
        if (!c->buf) {
            size_t cap = l->max_head + 1 < sizeof first ? l->max_head + 1 : sizeof first;
            if (!(c->buf = malloc(cap))) {
                conn_close(l, i);
                return;
            }
            memcpy(c->buf, first, (size_t)r);
            c->cap = cap;
        }
        size_t scan = c->len > 3 ? c->len - 3 : 0;
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        for (size_t k = scan; k < c->len; k++)
            if (c->buf[k] == '\n' && ((k >= 1 && c->buf[k - 1] == '\n') ||
                                      (k >= 3 && memcmp(c->buf + k - 3, "\r\n\r\n", 4) == 0))) {
                c->buf[k + 1] = '\0';
                respond(l, i, k + 1, 0);
                return;
            }
        if (c->len >= l->max_head) {
            respond(l, i, c->len, 1);
            return;
        }
    }
}

/* The caller's turn: its answer says what to wait for, C_READ or C_WRITE. */
static void conn_drive(struct ck_listen *l, size_t i, short revents)
{
    struct conn *c = &l->conns[i];
    void *st = c->buf;
    short ev = l->drive(l->ctx, c->fd, revents, &st);
    c->buf = st;
    if (!ev)
        conn_close(l, i);
    else
        c->state = ev & POLLOUT ? C_WRITE : C_READ;
}

/* ---- accepting ---- */

/* The slot to give up when all are taken: the oldest connection still waiting for
 * its head from the newcomer's address, else the oldest not writing, else the oldest. */
static size_t victim(const struct ck_listen *l, const unsigned char *addr)
{
    size_t same = SIZE_MAX, idle = SIZE_MAX, any = SIZE_MAX;
    for (size_t i = 0; i < l->slots; i++) {
        const struct conn *c = &l->conns[i];
        if (c->state == C_FREE)
            continue;
        if (any == SIZE_MAX || c->since < l->conns[any].since)
            any = i;
        if (c->state != C_WRITE && (idle == SIZE_MAX || c->since < l->conns[idle].since))
            idle = i;
        if (addr && c->state == C_READ && memcmp(c->addr, addr, 16) == 0 &&
            (same == SIZE_MAX || c->since < l->conns[same].since))
            same = i;
    }
    return same != SIZE_MAX ? same : idle != SIZE_MAX ? idle : any;
}

static void evict(struct ck_listen *l, const unsigned char *addr)
{
    size_t v = victim(l, addr);
    if (v == SIZE_MAX)
        return;
    long long now = now_ms();
    if (now - l->warned_at >= FULL_WARN_MS) {
        l->warned_at = now;
        ck_warn(l->log, l->event,
                "all %zu connection slots taken: closing the oldest idle ones (a flood?)",
                l->slots);
    }
    conn_close(l, v);
}

static void addr_key(const struct sockaddr_storage *ss, unsigned char *key)
{
    memset(key, 0, 16);
    if (ss->ss_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    } else if (ss->ss_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

static void accept_some(struct ck_listen *l)
{
    int retried = 0;
    for (int round = 0; round < ACCEPT_ROUND; round++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        memset(&ss, 0, sizeof ss);
        int fd = accept(l->lfd, (struct sockaddr *)&ss, &sl);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if ((errno == EMFILE || errno == ENFILE) && l->used > 0 && !retried) {
                retried = 1; /* out of descriptors: one of ours makes room */
                evict(l, NULL);
                continue;
            }
            ck_warn(l->log, l->event, "accept: %s", strerror(errno));
            l->accept_pause = now_ms() + 100; /* keeps a failing accept() from spinning */
            return;
        }
        if (set_flags(fd) < 0) {
            close(fd);
            continue;
        }
        unsigned char key[16];
        addr_key(&ss, key);
        if (l->n_free == 0)
            evict(l, key);
        size_t i = l->free_slots[--l->n_free];
        struct conn *c = &l->conns[i];
        long long now = now_ms();
        *c = (struct conn){ .fd = fd, .state = C_READ, .since = now,
                            .deadline = now + l->deadline_ms };
        memcpy(c->addr, key, 16);
        l->used++;
        if (l->drive)
            conn_drive(l, i, 0);
        else
            conn_read(l, i); /* the head is often there already */
    }
}

/* ---- the loop's two halves ---- */

size_t ck_listen_pollfds(struct ck_listen *l, struct pollfd *pfd, size_t cap, int *timeout_ms)
{
    size_t n = 0;
    long long now = now_ms(), next = -1;
    for (size_t i = 0; i < l->slots && n < cap; i++) {
        const struct conn *c = &l->conns[i];
        if (c->state == C_FREE)
            continue;
        if (next < 0 || c->deadline < next)
            next = c->deadline;
        l->idx[n] = i;
        pfd[n++] = (struct pollfd){ .fd = c->fd,
                                    .events = c->state == C_WRITE ? POLLOUT : POLLIN };
    }
    if (now < l->accept_pause && (next < 0 || l->accept_pause < next))
        next = l->accept_pause;
    if (now >= l->accept_pause && n < cap) {
        l->idx[n] = SIZE_MAX;
        pfd[n++] = (struct pollfd){ .fd = l->lfd, .events = POLLIN };
    }
    l->n_idx = n;
    if (next >= 0) {
        long long wait = next > now ? next - now : 0;
        if (*timeout_ms < 0 || wait < *timeout_ms)
            *timeout_ms = (int)wait;
    }
    return n;
}

void ck_listen_handle(struct ck_listen *l, const struct pollfd *pfd, size_t n)
{
    int accepting = 0;
    if (n > l->n_idx)
        n = l->n_idx;
    for (size_t k = 0; k < n; k++) {
        if (!pfd[k].revents)
            continue;
        size_t i = l->idx[k];
        if (i == SIZE_MAX) {
            accepting = pfd[k].fd == l->lfd;
            continue;
        }
        struct conn *c = &l->conns[i];
        if (c->state == C_FREE || c->fd != pfd[k].fd)
            continue;
        if (l->drive)
            conn_drive(l, i, pfd[k].revents);
        else if (c->state == C_WRITE)
            conn_write(l, i);
        else
            conn_read(l, i);
    }
    l->n_idx = 0; /* the slots may be reused from here on */
    if (accepting)
        accept_some(l);
    long long now = now_ms();
    for (size_t i = 0; i < l->slots; i++)
        if (l->conns[i].state != C_FREE && l->conns[i].deadline <= now)
            conn_close(l, i);
}
