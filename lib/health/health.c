/* Health and metrics endpoint, driven by the caller's poll loop: every socket is
 * non-blocking and every connection has a deadline, so nothing here waits. */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_MS 1000
#define MAX_NAME 255
#define MAX_VERSION 64
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

enum conn_state { C_READ, C_WRITE, C_DRAIN };

struct conn {
    int fd;
    enum conn_state state;
    long long deadline;
    size_t in_len, out_len, out_off;
    char *out;
    char in[CK_HEALTH_MAX_REQUEST + 1];
};

struct named {
    char *name;
    struct ck_health_cert m;
};

struct ck_health {
    int lfd, port, ready;
    const struct ck_log *log;
    long long accept_pause; /* keeps a failing accept() (EMFILE) from spinning */
    struct conn *conns[CK_HEALTH_MAX_CONNS];
    struct named certs[CK_HEALTH_MAX_NAMES];
    size_t n_certs;
    char version[MAX_VERSION + 1];
    char listen[128];
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

/* ---- listen address ---- */

/* Splits "host:port", "[v6]:port" or ":port"; host "" means every address. */
static int split_listen(const char *listen, char *host, size_t hsz, char *port, size_t psz)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= hsz)
            return -1;
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        colon = end + 1;
    } else if ((colon = strrchr(listen, ':')) != NULL) {
        if ((size_t)(colon - listen) >= hsz || memchr(listen, ':', (size_t)(colon - listen)))
            return -1; /* a bare IPv6 address needs brackets */
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    } else {
        return -1;
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
    if (bind(fd, sa, len) < 0 || listen(fd, 128) < 0 || set_flags(fd) < 0) {
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

static int open_listener(const char *listen, struct ck_err *e)
{
    char host[256], port[8];
    if (split_listen(listen, host, sizeof host, port, sizeof port) < 0)
        return ck_failk(e, CK_E_USAGE, "listen %s: expected host:port, [v6]:port or :port",
                        listen);
    if (!host[0]) {
        int fd = bind_any((unsigned short)atoi(port));
        if (fd < 0)
            return ck_failk(e, CK_E_IO, "listen %s: %s", listen, strerror(errno));
        return fd;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0)
        return ck_failk(e, CK_E_USAGE, "listen %s: %s", listen, gai_strerror(gai));
    int fd = -1, err = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai->ai_addr, ai->ai_addrlen, 0);
        if (fd < 0)
            err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ck_failk(e, CK_E_IO, "listen %s: %s", listen, strerror(err));
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- life cycle and values ---- */

int ck_health_start(const char *listen, const char *version, const struct ck_log *log,
                    struct ck_health **out, struct ck_err *e)
{
    *out = NULL;
    if (!listen || strlen(listen) >= sizeof((struct ck_health *)0)->listen)
        return ck_failk(e, CK_E_USAGE, "listen %.64s: missing or too long",
                        listen ? listen : "");
    struct ck_health *h = calloc(1, sizeof *h);
    if (!h)
        return ck_fail(e, "listen %s: out of memory", listen);
    snprintf(h->listen, sizeof h->listen, "%s", listen);
    snprintf(h->version, sizeof h->version, "%s", version ? version : "unknown");
    h->log = log;
    h->lfd = open_listener(listen, e);
    if (h->lfd < 0) {
        free(h);
        return -1;
    }
    h->port = bound_port(h->lfd);
    ck_info(log, "health.listen", "health and metrics on %s (port %d)", listen, h->port);
    *out = h;
    return 0;
}

static void conn_close(struct conn **slot)
{
    close((*slot)->fd);
    free((*slot)->out);
    free(*slot);
    *slot = NULL;
}

void ck_health_stop(struct ck_health *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < CK_HEALTH_MAX_CONNS; i++)
        if (h->conns[i])
            conn_close(&h->conns[i]);
    for (size_t i = 0; i < h->n_certs; i++)
        free(h->certs[i].name);
    close(h->lfd);
    free(h);
}

int ck_health_fd(const struct ck_health *h)
{
    return h->lfd;
}

int ck_health_port(const struct ck_health *h)
{
    return h->port;
}

void ck_health_set_ready(struct ck_health *h, int ready)
{
    h->ready = ready != 0;
}

struct ck_health_cert *ck_health_cert(struct ck_health *h, const char *name, struct ck_err *e)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > MAX_NAME) {
        ck_failk(e, CK_E_USAGE, "metrics name \"%.64s\": empty or longer than %d bytes",
                 name ? name : "", MAX_NAME);
        return NULL;
    }
    for (size_t i = 0; i < h->n_certs; i++)
        if (strcmp(h->certs[i].name, name) == 0)
            return &h->certs[i].m;
    if (h->n_certs == CK_HEALTH_MAX_NAMES) {
        ck_fail(e, "metrics name %s: more than %d names", name, CK_HEALTH_MAX_NAMES);
        return NULL;
    }
    struct named *n = &h->certs[h->n_certs];
    if (!(n->name = strdup(name))) {
        ck_fail(e, "metrics name %s: out of memory", name);
        return NULL;
    }
    memset(&n->m, 0, sizeof n->m);
    h->n_certs++;
    return &n->m;
}

/* ---- metrics text ---- */

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (int round = 0; round < 2 && !b->oom; round++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

/* Label value escaping of the text format: backslash, double quote, line feed. */
static void put_label(struct buf *b, const char *v)
{
    for (; *v && !b->oom; v++) {
        if (*v == '\\')
            put(b, "\\\\");
        else if (*v == '"')
            put(b, "\\\"");
        else if (*v == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *v);
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum field { F_NOT_AFTER, F_NOT_BEFORE, F_NEXT, F_LAST, F_CONSEC };

static int64_t value_of(const struct ck_health_cert *m, enum field f)
{
    switch (f) {
    case F_NOT_AFTER: return m->not_after;
    case F_NOT_BEFORE: return m->not_before;
    case F_NEXT: return m->next_renewal;
    case F_LAST: return m->last_success;
    case F_CONSEC: return (int64_t)m->failures_consecutive;
    }
    return 0;
}

/* One gauge per name; timestamps of 0 (unknown) are left out. */
static void gauge(struct buf *b, const struct ck_health *h, const char *name, const char *help,
                  enum field f)
{
    family(b, name, "gauge", help);
    for (size_t i = 0; i < h->n_certs; i++) {
        int64_t v = value_of(&h->certs[i].m, f);
        if (v == 0 && f != F_CONSEC)
            continue;
        put(b, "%s{name=\"", name);
        put_label(b, h->certs[i].name);
        put(b, "\"} %" PRId64 "\n", v);
    }
}

int ck_health_metrics(const struct ck_health *h, char **out, size_t *len, struct ck_err *e)
{
    struct buf b = { 0 };
    family(&b, "certkeep_build_info", "gauge", "Version of certkeep, always 1.");
    put(&b, "certkeep_build_info{version=\"");
    put_label(&b, h->version);
    put(&b, "\"} 1\n");
    family(&b, "certkeep_ready", "gauge", "1 when a usable certificate is on the volume.");
    put(&b, "certkeep_ready %d\n", h->ready);
    gauge(&b, h, "certkeep_certificate_expiry_timestamp_seconds",
          "notAfter of the certificate on the volume, Unix time.", F_NOT_AFTER);
    gauge(&b, h, "certkeep_certificate_not_before_timestamp_seconds",
          "notBefore of the certificate on the volume, Unix time.", F_NOT_BEFORE);
    family(&b, "certkeep_renewals_total", "counter", "Renewal attempts by result.");
    for (size_t i = 0; i < h->n_certs; i++) {
        const struct ck_health_cert *m = &h->certs[i].m;
        for (int ok = 1; ok >= 0; ok--) {
            put(&b, "certkeep_renewals_total{name=\"");
            put_label(&b, h->certs[i].name);
            put(&b, "\",result=\"%s\"} %" PRIu64 "\n", ok ? "success" : "failure",
                ok ? m->renewals_success : m->renewals_failure);
        }
    }
    gauge(&b, h, "certkeep_failures_consecutive",
          "Failed attempts since the last success.", F_CONSEC);
    gauge(&b, h, "certkeep_next_renewal_timestamp_seconds",
          "When the next renewal attempt is due, Unix time.", F_NEXT);
    gauge(&b, h, "certkeep_last_success_timestamp_seconds",
          "When the last renewal succeeded, Unix time.", F_LAST);
    if (b.oom || !b.p) {
        free(b.p);
        return ck_fail(e, "metrics: out of memory");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* ---- one request ---- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

enum route { R_NONE, R_HEALTHZ, R_READYZ, R_METRICS };

/* Status of the request line, and which page when 200; *head for HEAD. */
static int parse(const char *req, size_t len, enum route *r, int *head)
{
    *r = R_NONE;
    *head = 0;
    if (len > CK_HEALTH_MAX_REQUEST)
        return 431;
    if (memchr(req, '\0', len))
        return 400;
    const char *eol = memchr(req, '\n', len);
    if (!eol)
        return 400;
    size_t llen = (size_t)(eol - req);
    if (llen > 0 && req[llen - 1] == '\r')
        llen--;
    char line[CK_HEALTH_MAX_REQUEST + 1];
    memcpy(line, req, llen);
    line[llen] = '\0';
    char *sp1 = strchr(line, ' ');
    if (!sp1)
        return 400;
    *sp1 = '\0';
    char *target = sp1 + 1, *sp2 = strchr(target, ' ');
    if (!sp2 || strchr(sp2 + 1, ' '))
        return 400;
    *sp2 = '\0';
    if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
        return 400;
    *head = strcmp(line, "HEAD") == 0;
    if (!*head && strcmp(line, "GET") != 0)
        return 405;
    target[strcspn(target, "?#")] = '\0';
    if (strcmp(target, "/healthz") == 0)
        *r = R_HEALTHZ;
    else if (strcmp(target, "/readyz") == 0)
        *r = R_READYZ;
    else if (strcmp(target, "/metrics") == 0)
        *r = R_METRICS;
    else
        return 404;
    return 200;
}

int ck_health_respond(const struct ck_health *h, const char *req, size_t len, char **out,
                      size_t *out_len)
{
    enum route r;
    int head;
    int status = parse(req, len, &r, &head);
    char *body = NULL;
    size_t blen = 0;
    const char *ctype = CT_TEXT, *text = NULL;
    if (r == R_HEALTHZ) {
        text = "ok\n";
    } else if (r == R_READYZ) {
        status = h->ready ? 200 : 503;
        text = h->ready ? "ready\n" : "not ready: no usable certificate on the volume yet\n";
    } else if (r == R_METRICS) {
        struct ck_err e;
        if (ck_health_metrics(h, &body, &blen, &e) != 0)
            return -1;
        ctype = CT_METRICS;
    } else {
        static const char *const texts[] = { "bad request\n", "not found\n",
                                             "only GET and HEAD\n", "request too large\n" };
        text = texts[status == 404 ? 1 : status == 405 ? 2 : status == 431 ? 3 : 0];
    }
    if (text) {
        blen = strlen(text);
        body = NULL;
    }
    struct buf b = { 0 };
    put(&b,
        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
        "Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
        status, reason(status), ctype, blen, status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head && blen)
        put(&b, "%s", text ? text : body);
    free(body);
    if (b.oom || !b.p) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    *out_len = b.len;
    return status;
}

/* ---- connections ---- */

static void request_line(const struct conn *c, char *buf, size_t cap)
{
    size_t n = strcspn(c->in, "\r\n");
    if (n > 120)
        n = 120;
    snprintf(buf, cap, "%.*s", (int)n, c->in);
}

static void conn_write(struct conn **slot)
{
    struct conn *c = *slot;
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (w <= 0) {
            conn_close(slot);
            return;
        }
        c->out_off += (size_t)w;
    }
    /* Drain what the client still sends until it closes, so that our close does
     * not become a reset that destroys the response in flight. */
    shutdown(c->fd, SHUT_WR);
    c->state = C_DRAIN;
    long long d = now_ms() + DRAIN_MS;
    if (d < c->deadline)
        c->deadline = d;
}

static void answer(struct ck_health *h, struct conn **slot, size_t len)
{
    struct conn *c = *slot;
    int status = ck_health_respond(h, c->in, len, &c->out, &c->out_len);
    char line[128];
    request_line(c, line, sizeof line);
    if (status < 0) {
        ck_warn(h->log, "health.request", "\"%s\": out of memory", line);
        conn_close(slot);
        return;
    }
    ck_debug(h->log, "health.request", "\"%s\" -> %d", line, status);
    c->state = C_WRITE;
    c->out_off = 0;
    conn_write(slot);
}

static void conn_read(struct ck_health *h, struct conn **slot)
{
    struct conn *c = *slot;
    for (;;) {
        int drain = c->state == C_DRAIN;
        size_t room = drain ? CK_HEALTH_MAX_REQUEST : CK_HEALTH_MAX_REQUEST - c->in_len;
        char *dst = drain ? c->in : c->in + c->in_len;
        ssize_t r = recv(c->fd, dst, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_close(slot);
            return;
        }
        if (drain)
            continue;
        size_t scan = c->in_len > 3 ? c->in_len - 3 : 0;
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        for (size_t i = scan; i < c->in_len; i++)
            if (c->in[i] == '\n' && ((i >= 1 && c->in[i - 1] == '\n') ||
                                     (i >= 3 && memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0))) {
                answer(h, slot, i + 1);
                return;
            }
        if (c->in_len == CK_HEALTH_MAX_REQUEST) {
            answer(h, slot, CK_HEALTH_MAX_REQUEST + 1); /* 431 */
            return;
        }
    }
}

/* Accepts while there are free slots; a persistent failure pauses accepting 100 ms. */
static void accept_all(struct ck_health *h)
{
    for (size_t i = 0; i < CK_HEALTH_MAX_CONNS; i++) {
        if (h->conns[i])
            continue;
        int fd = accept(h->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                ck_warn(h->log, "health.accept", "listen %s: %s", h->listen, strerror(errno));
                h->accept_pause = now_ms() + 100;
            }
            return;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c || set_flags(fd) < 0) {
            free(c);
            close(fd);
            h->accept_pause = now_ms() + 100;
            return;
        }
        c->fd = fd;
        c->state = C_READ;
        c->deadline = now_ms() + CK_HEALTH_REQUEST_MS;
        h->conns[i] = c;
        conn_read(h, &h->conns[i]); /* the request is often there already */
    }
}

size_t ck_health_pollfds(const struct ck_health *h, struct pollfd *pfd, size_t cap,
                         int *timeout_ms)
{
    size_t n = 0, busy = 0;
    long long now = now_ms(), next = -1;
    for (size_t i = 0; i < CK_HEALTH_MAX_CONNS; i++) {
        const struct conn *c = h->conns[i];
        if (!c)
            continue;
        busy++;
        if (next < 0 || c->deadline < next)
            next = c->deadline;
        if (n < cap)
            pfd[n++] = (struct pollfd){ .fd = c->fd,
                                        .events = c->state == C_WRITE ? POLLOUT : POLLIN };
    }
    if (now < h->accept_pause && (next < 0 || h->accept_pause < next))
        next = h->accept_pause;
    if (busy < CK_HEALTH_MAX_CONNS && now >= h->accept_pause && n < cap)
        pfd[n++] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
    if (next >= 0) {
        long long wait = next > now ? next - now : 0;
        if (*timeout_ms < 0 || wait < *timeout_ms)
            *timeout_ms = (int)wait;
    }
    return n;
}

void ck_health_handle(struct ck_health *h, const struct pollfd *pfd, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!pfd[k].revents || pfd[k].fd == h->lfd)
            continue;
        for (size_t i = 0; i < CK_HEALTH_MAX_CONNS; i++) {
            struct conn *c = h->conns[i];
            if (!c || c->fd != pfd[k].fd)
                continue;
            if (c->state == C_WRITE)
                conn_write(&h->conns[i]);
            else
                conn_read(h, &h->conns[i]);
            break;
        }
    }
    for (size_t k = 0; k < n; k++)
        if (pfd[k].fd == h->lfd && pfd[k].revents)
            accept_all(h);
    long long now = now_ms();
    for (size_t i = 0; i < CK_HEALTH_MAX_CONNS; i++)
        if (h->conns[i] && h->conns[i]->deadline <= now)
            conn_close(&h->conns[i]);
}

void ck_health_serve(struct ck_health *h, int timeout_ms)
{
    struct pollfd pfd[CK_HEALTH_MAX_FDS];
    size_t n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout_ms);
    int r = poll(pfd, (nfds_t)n, timeout_ms);
    if (r < 0) {
        for (size_t k = 0; k < n; k++)
            pfd[k].revents = 0; /* EINTR: only the deadlines */
    }
    ck_health_handle(h, pfd, n);
}
