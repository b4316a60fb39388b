/* The built-in http-01 responder: one thread, poll() over the listener and up to
 * MAX_CONNS clients, each with its own deadline, so a slow client blocks nobody. */
#include "challenge.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "challenge_int.h"

#define MAX_CONNS 16
#define MAX_REQUEST 8192
#define REQUEST_MS 5000
#define DRAIN_MS 1000
#define MAX_TOKEN 256
#define MAX_AUTHZ 1024
#define MAX_RESPONSE (256 + MAX_AUTHZ)
#define PREFIX "/.well-known/acme-challenge/"

struct entry {
    char *token, *authz;
};

struct ck_http01 {
    int lfd, wake[2];
    pthread_t thread;
    pthread_mutex_t mu; /* guards entries */
    struct entry *entries;
    size_t n_entries;
    const struct ck_log *log;
    char listen[128];
};

enum conn_state { C_READ, C_WRITE, C_DRAIN };

struct conn {
    int fd;
    enum conn_state state;
    long long deadline;
    size_t in_len, out_len, out_off;
    char peer[64];
    char in[MAX_REQUEST + 1];
    char out[MAX_RESPONSE];
};

int ck_token_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > MAX_TOKEN)
        return 0;
    for (; *t; t++)
        if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
              *t == '-' || *t == '_'))
            return 0;
    return 1;
}

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

/* Splits "host:port", "[v6]:port", ":port" or "port"; host "" means every address. */
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
        host[0] = '\0';
        colon = listen - 1;
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || n >= psz || strspn(p, "0123456789") != n)
        return -1;
    long v = strtol(p, NULL, 10);
    if (v < 1 || v > 65535)
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
    if (bind(fd, sa, len) < 0 || listen(fd, 64) < 0 || set_flags(fd) < 0) {
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

/* One line for a refused bind, naming the port and the way out. */
int ck_http01_bind_fail(struct ck_err *e, const char *listen, const char *port, int err,
                        int has_webroot)
{
    const char *sysctl = "non-root: set the pod sysctl net.ipv4.ip_unprivileged_port_start=0";
    if (err == EACCES && atoi(port) < 1024)
        return ck_failk(e, CK_E_IO, "http-01: cannot listen on %s: %s (%s, or %s)", listen,
                        strerror(err), sysctl,
                        has_webroot ? "drop --http01-listen to use the webroot alone"
                                    : "use --webroot");
    if (err == EADDRINUSE && !has_webroot)
        return ck_failk(e, CK_E_IO,
                        "http-01: cannot listen on %s: %s (port %s is taken: stop what holds it, "
                        "or use --webroot with a directory it serves at " PREFIX ")",
                        listen, strerror(err), port);
    return ck_failk(e, CK_E_IO, "http-01: cannot listen on %s: %s", listen, strerror(err));
}

/* The listening socket, or -1 with e filled and *err the bind's errno (0: not a bind). */
static int open_listener(const char *listen, int has_webroot, int *err, struct ck_err *e)
{
    char host[256], port[8];
    *err = 0;
    if (split_listen(listen, host, sizeof host, port, sizeof port) < 0)
        return ck_failk(e, CK_E_USAGE,
                        "http-01 listen %s: expected host:port, [v6]:port or :port", listen);
    if (!host[0]) {
        int fd = bind_any((unsigned short)atoi(port));
        if (fd < 0) {
            *err = errno;
            return ck_http01_bind_fail(e, listen, port, *err, has_webroot);
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
        return ck_failk(e, CK_E_USAGE, "http-01 listen %s: %s", listen, gai_strerror(gai));
    int fd = -1, last = EADDRNOTAVAIL;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = bind_one(ai->ai_addr, ai->ai_addrlen, 0);
        if (fd < 0)
            last = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *err = last;
        return ck_http01_bind_fail(e, listen, port, last, has_webroot);
    }
    return fd;
}

/* The port of `listen` for messages ("80"); "?" when it does not parse. */
static void port_of(const char *listen, char *port, size_t psz)
{
    char host[256];
    if (split_listen(listen, host, sizeof host, port, psz) < 0)
        snprintf(port, psz, "?");
}

/* ---- token table ---- */

int ck_http01_add(struct ck_http01 *s, const char *token, const char *key_authz,
                  struct ck_err *e)
{
    if (!ck_token_ok(token))
        return ck_failk(e, CK_E_PROTOCOL, "http-01 token \"%.64s\" is not base64url", token);
    size_t alen = strlen(key_authz);
    if (alen == 0 || alen > MAX_AUTHZ)
        return ck_failk(e, CK_E_PROTOCOL, "http-01 key authorization for %s: bad length %zu",
                        token, alen);
    for (const char *p = key_authz; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return ck_failk(e, CK_E_PROTOCOL,
                            "http-01 key authorization for %s: not printable ASCII", token);
    char *t = strdup(token), *a = strdup(key_authz);
    if (!t || !a) {
        free(t);
        free(a);
        return ck_failk(e, CK_E_GENERIC, "http-01 token %s: out of memory", token);
    }
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_entries; i++) {
        if (strcmp(s->entries[i].token, token) == 0) {
            free(s->entries[i].authz);
            s->entries[i].authz = a;
            pthread_mutex_unlock(&s->mu);
            free(t);
            return 0;
        }
    }
    struct entry *ne = realloc(s->entries, (s->n_entries + 1) * sizeof *ne);
    if (!ne) {
        pthread_mutex_unlock(&s->mu);
        free(t);
        free(a);
        return ck_failk(e, CK_E_GENERIC, "http-01 token %s: out of memory", token);
    }
    s->entries = ne;
    s->entries[s->n_entries++] = (struct entry){t, a};
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void ck_http01_remove(struct ck_http01 *s, const char *token)
{
    if (!s || !token)
        return;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_entries; i++) {
        if (strcmp(s->entries[i].token, token) == 0) {
            free(s->entries[i].token);
            free(s->entries[i].authz);
            s->entries[i] = s->entries[--s->n_entries];
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Copies the key authorization for `token` into buf; -1 when not held. */
static int lookup(struct ck_http01 *s, const char *token, char *buf, size_t sz)
{
    int rc = -1;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_entries; i++) {
        if (strcmp(s->entries[i].token, token) == 0 && strlen(s->entries[i].authz) < sz) {
            memcpy(buf, s->entries[i].authz, strlen(s->entries[i].authz) + 1);
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
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
    default: return "Error";
    }
}

static void respond(struct conn *c, int status, const char *body, int head)
{
    if (!body)
        body = reason(status);
    int n = snprintf(c->out, sizeof c->out,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n%s",
                     status, reason(status), strlen(body),
                     status == 405 ? "Allow: GET, HEAD\r\n" : "", head ? "" : body);
    c->out_len = n < 0 ? 0 : (size_t)n >= sizeof c->out ? sizeof c->out - 1 : (size_t)n;
    c->out_off = 0;
    c->state = C_WRITE;
}

int ck_http01_route(const char *req, size_t len, char *token, size_t tsz, int *head)
{
    *head = 0;
    const char *eol = memchr(req, '\n', len);
    if (!eol)
        return 400;
    size_t llen = (size_t)(eol - req);
    if (llen > MAX_REQUEST)
        return 431;
    if (llen > 0 && req[llen - 1] == '\r')
        llen--;
    char line[MAX_REQUEST + 1];
    memcpy(line, req, llen);
    line[llen] = '\0';
    if (memchr(req, '\0', len))
        return 400;
    char *sp1 = strchr(line, ' ');
    if (!sp1)
        return 400;
    *sp1 = '\0';
    char *target = sp1 + 1, *sp2 = strchr(target, ' ');
    if (!sp2 || strchr(sp2 + 1, ' '))
        return 400;
    *sp2 = '\0';
    const char *version = sp2 + 1;
    if (strcmp(version, "HTTP/1.1") != 0 && strcmp(version, "HTTP/1.0") != 0)
        return 400;
    *head = strcmp(line, "HEAD") == 0;
    if (!*head && strcmp(line, "GET") != 0)
        return 405;
    /* absolute-form, as a proxy would send it */
    if (strncmp(target, "http://", 7) == 0) {
        target = strchr(target + 7, '/');
        if (!target)
            return 404;
    }
    if (strncmp(target, PREFIX, strlen(PREFIX)) != 0)
        return 404;
    const char *t = target + strlen(PREFIX);
    if (!ck_token_ok(t) || strlen(t) >= tsz)
        return 404;
    memcpy(token, t, strlen(t) + 1);
    return 200;
}

static void handle_request(struct ck_http01 *s, struct conn *c)
{
    char token[MAX_TOKEN + 1], authz[MAX_AUTHZ + 1];
    int head = 0;
    int status = ck_http01_route(c->in, c->in_len, token, sizeof token, &head);
    if (status == 200 && lookup(s, token, authz, sizeof authz) < 0)
        status = 404;
    respond(c, status, status == 200 ? authz : NULL, head);
    const char *eol = memchr(c->in, '\n', c->in_len);
    int llen = eol ? (int)(eol - c->in) : (int)c->in_len;
    if (llen > 0 && c->in[llen - 1] == '\r')
        llen--;
    ck_debug(s->log, "http01.request", "%s \"%.*s\" -> %d", c->peer, llen > 200 ? 200 : llen,
             c->in, status);
}

/* ---- connections ---- */

static void conn_close(struct conn **slot)
{
    close((*slot)->fd);
    free(*slot);
    *slot = NULL;
}

static void conn_read(struct ck_http01 *s, struct conn **slot)
{
    struct conn *c = *slot;
    for (;;) {
        size_t room = c->state == C_DRAIN ? MAX_REQUEST : MAX_REQUEST - c->in_len;
        char *dst = c->state == C_DRAIN ? c->in : c->in + c->in_len;
        ssize_t r = recv(c->fd, dst, room, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_close(slot);
            return;
        }
        if (c->state == C_DRAIN)
            continue;
        size_t scan = c->in_len > 3 ? c->in_len - 3 : 0;
        c->in_len += (size_t)r;
        c->in[c->in_len] = '\0';
        for (size_t i = scan; i < c->in_len; i++) {
            if (c->in[i] == '\n' && ((i >= 1 && c->in[i - 1] == '\n') ||
                                     (i >= 3 && memcmp(c->in + i - 3, "\r\n\r\n", 4) == 0))) {
                handle_request(s, c);
                return;
            }
        }
        if (c->in_len == MAX_REQUEST) {
            respond(c, 431, NULL, 0);
            ck_debug(s->log, "http01.request", "%s request over %d bytes -> 431", c->peer,
                     MAX_REQUEST);
            return;
        }
    }
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
    /* Read what the client still sends until it closes, so our close does not
     * turn into a reset that could destroy the response in flight. */
    shutdown(c->fd, SHUT_WR);
    c->state = C_DRAIN;
    long long d = now_ms() + DRAIN_MS;
    if (d < c->deadline)
        c->deadline = d;
}

static void peer_name(int fd, char *buf, size_t sz)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, NULL, 0, NI_NUMERICHOST);
    /* IPv4 clients of the dual-stack socket read better without the mapping */
    const char *h = strncmp(host, "::ffff:", 7) == 0 && strchr(host, '.') ? host + 7 : host;
    snprintf(buf, sz, "%s", h);
}

/* -1 when accept failed for a reason that will not pass at once (EMFILE...). */
static int accept_one(struct ck_http01 *s, struct conn **conns)
{
    int slot = -1;
    for (int i = 0; i < MAX_CONNS && slot < 0; i++)
        if (!conns[i])
            slot = i;
    if (slot < 0)
        return 0;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                       errno == ECONNABORTED
                   ? 0
                   : -1;
    struct conn *c = calloc(1, sizeof *c);
    if (!c || set_flags(fd) < 0) {
        free(c);
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->state = C_READ;
    c->deadline = now_ms() + REQUEST_MS;
    peer_name(fd, c->peer, sizeof c->peer);
    conns[slot] = c;
    return 0;
}

static void *serve(void *arg)
{
    struct ck_http01 *s = arg;
    struct conn *conns[MAX_CONNS] = {0};
    struct pollfd pfd[MAX_CONNS + 2];
    int idx[MAX_CONNS + 2];
    long long accept_pause = 0; /* keeps a failing accept() from spinning */
    for (;;) {
        int n = 0, busy = 0;
        long long now = now_ms(), next = now < accept_pause ? accept_pause : -1;
        pfd[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = conns[i];
            if (!c)
                continue;
            if (c->deadline <= now) {
                conn_close(&conns[i]);
                continue;
            }
            busy++;
            if (next < 0 || c->deadline < next)
                next = c->deadline;
            idx[n] = i;
            pfd[n++] = (struct pollfd){.fd = c->fd,
                                       .events = c->state == C_WRITE ? POLLOUT : POLLIN};
        }
        int lslot = -1;
        if (busy < MAX_CONNS && now >= accept_pause) {
            lslot = n;
            pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        }
        int timeout = next < 0 ? -1 : (int)(next - now);
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (pfd[0].revents)
            break;
        for (int k = 1; k < n; k++) {
            if (!pfd[k].revents || k == lslot)
                continue;
            struct conn **slot = &conns[idx[k]];
            if ((*slot)->state == C_WRITE)
                conn_write(slot);
            else
                conn_read(s, slot);
            if (*slot && (*slot)->state == C_WRITE)
                conn_write(slot); /* usually completes at once */
        }
        if (lslot >= 0 && pfd[lslot].revents && accept_one(s, conns) < 0)
            accept_pause = now_ms() + 100;
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i])
            conn_close(&conns[i]);
    return NULL;
}

/* ---- lifecycle ---- */

static int start(const char *listen, int has_webroot, const struct ck_log *log,
                 struct ck_http01 **out, int *bind_err, struct ck_err *e)
{
    *bind_err = 0;
    *out = NULL;
    if (strlen(listen) >= sizeof((struct ck_http01 *)0)->listen)
        return ck_failk(e, CK_E_USAGE, "http-01 listen %.64s...: too long", listen);
    struct ck_http01 *s = calloc(1, sizeof *s);
    if (!s)
        return ck_fail(e, "http-01 listen %s: out of memory", listen);
    s->wake[0] = s->wake[1] = -1;
    s->log = log;
    snprintf(s->listen, sizeof s->listen, "%s", listen);
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = open_listener(listen, has_webroot, bind_err, e);
    if (s->lfd < 0)
        goto fail;
    if (pipe(s->wake) < 0 || set_flags(s->wake[0]) < 0 || set_flags(s->wake[1]) < 0) {
        ck_fail(e, "http-01 listen %s: pipe: %s", listen, strerror(errno));
        goto fail;
    }
    /* The thread takes no signals: SIGTERM and friends belong to the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&s->thread, NULL, serve, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        ck_fail(e, "http-01 listen %s: thread: %s", listen, strerror(err));
        goto fail;
    }
    ck_debug(log, "http01.listen", "http-01 responder listening on %s", listen);
    *out = s;
    return 0;
fail:
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return -1;
}

int ck_http01_start(const char *listen, const struct ck_log *log, struct ck_http01 **out,
                    struct ck_err *e)
{
    int bind_err;
    return start(listen, 0, log, out, &bind_err, e);
}

int ck_http01_pick(const char *listen, const char *webroot, const struct ck_log *log,
                   struct ck_http01 **out, struct ck_err *e)
{
    *out = NULL;
    if (!listen && !webroot)
        return ck_fail(e, "http-01: neither a listen address nor a webroot");
    if (!listen)
        return 0;
    int bind_err;
    if (!webroot)
        return start(listen, 0, log, out, &bind_err, e);
    if (start(listen, 1, log, out, &bind_err, e) == 0) {
        ck_info(log, "http-01", "answering on %s", listen);
        return 0;
    }
    /* Taken: the app is up, and serves the webroot. Anything else is a setup to fix. */
    if (bind_err != EADDRINUSE)
        return -1;
    char port[8];
    port_of(listen, port, sizeof port);
    ck_info(log, "http-01", "port %s is taken, writing tokens to the webroot %s", port, webroot);
    return 0;
}

void ck_http01_stop(struct ck_http01 *s)
{
    if (!s)
        return;
    ssize_t w;
    do
        w = write(s->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    for (size_t i = 0; i < s->n_entries; i++) {
        free(s->entries[i].token);
        free(s->entries[i].authz);
    }
    free(s->entries);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
