/* The built-in http-01 responder: one thread running lib/listen's poll loop (hundreds
 * of connections, a short head deadline, eviction when full), so nobody starves it. */
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
#include "../listen/listen.h"

#define MAX_REQUEST 8192
#define MAX_TOKEN 256
#define MAX_AUTHZ 1024
#define MAX_RESPONSE (256 + MAX_AUTHZ)
#define PREFIX "/.well-known/acme-challenge/"

struct entry {
    char *token, *authz;
};

struct ck_http01 {
    int wake[2];
    struct ck_listen *l;
    pthread_t thread;
    pthread_mutex_t mu; /* guards entries */
    struct entry *entries;
    size_t n_entries;
    const struct ck_log *log;
    ck_http01_fetch fetch; /* tokens not held: asked here (serve), else 404 */
    void *fetch_ctx;
    char listen[128];
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

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int ck_challenge_thread(int wake[2], pthread_t *thread, void *(*fn)(void *), void *arg,
                        const char *what, const char *listen, struct ck_err *e)
{
    if (pipe(wake) < 0 || set_flags(wake[0]) < 0 || set_flags(wake[1]) < 0)
        return ck_fail(e, "%s listen %s: pipe: %s", what, listen, strerror(errno));
    /* The thread takes no signals: SIGTERM and friends belong to the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return ck_fail(e, "%s listen %s: thread: %s", what, listen, strerror(err));
    return 0;
}

/* One line for a refused bind, naming the port and the way out. */
int ck_http01_bind_fail(struct ck_err *e, const char *listen, const char *port, int err,
                        int has_webroot)
{
    const char *sysctl = "non-root: set the pod sysctl net.ipv4.ip_unprivileged_port_start=0";
    if (has_webroot < 0) /* serve: no webroot to fall back on */
        return ck_failk(e, CK_E_IO, "http-01: cannot listen on %s: %s%s%s%s", listen, strerror(err),
                        err == EACCES && atoi(port) < 1024 ? " (" : "",
                        err == EACCES && atoi(port) < 1024 ? sysctl : "",
                        err == EACCES && atoi(port) < 1024 ? ")" : "");
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
    if (ck_listen_split(listen, host, sizeof host, port, sizeof port) < 0 || atoi(port) < 1)
        return ck_failk(e, CK_E_USAGE,
                        "http-01 listen %s: expected host:port, [v6]:port or :port", listen);
    int fd = ck_listen_socket(listen, "http-01 listen", err, e);
    if (fd < 0 && *err)
        return ck_http01_bind_fail(e, listen, port, *err, has_webroot);
    return fd;
}

/* The port of `listen` for messages ("80"); "?" when it does not parse. */
static void port_of(const char *listen, char *port, size_t psz)
{
    char host[256];
    if (ck_listen_split(listen, host, sizeof host, port, psz) < 0)
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
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

/* The whole response, malloc'd in *out. */
static int respond(int status, const char *body, int head, char **out, size_t *out_len)
{
    if (!body)
        body = reason(status);
    if (!(*out = malloc(MAX_RESPONSE)))
        return -1;
    int n = snprintf(*out, MAX_RESPONSE,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "%sConnection: close\r\n\r\n%s",
                     status, reason(status), strlen(body),
                     status == 405 ? "Allow: GET, HEAD\r\n" : "", head ? "" : body);
    *out_len = n < 0 ? 0 : n >= MAX_RESPONSE ? MAX_RESPONSE - 1 : (size_t)n;
    return status;
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

/* lib/listen's answer: one request head in, the whole response out. */
static int answer(void *ctx, const char *req, size_t len, int oversize, char **out,
                  size_t *out_len)
{
    struct ck_http01 *s = ctx;
    char token[MAX_TOKEN + 1], authz[MAX_AUTHZ + 1];
    int head = 0;
    int status = oversize ? 431 : ck_http01_route(req, len, token, sizeof token, &head);
    if (status == 200 && lookup(s, token, authz, sizeof authz) < 0)
        status = s->fetch ? s->fetch(s->fetch_ctx, token, authz, sizeof authz) : 404;
    return respond(status, status == 200 ? authz : NULL, head, out, out_len);
}

static void *serve(void *arg)
{
    struct ck_http01 *s = arg;
    struct pollfd pfd[CK_LISTEN_MAX_FDS + 1];
    for (;;) {
        int timeout = -1;
        pfd[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        size_t n = ck_listen_pollfds(s->l, pfd + 1, CK_LISTEN_MAX_FDS, &timeout);
        int r = poll(pfd, (nfds_t)n + 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && pfd[0].revents)
            break;
        if (r < 0)
            for (size_t k = 1; k <= n; k++)
                pfd[k].revents = 0; /* EINTR: only the deadlines */
        ck_listen_handle(s->l, pfd + 1, n); /* also on a timeout: it enforces deadlines */
    }
    return NULL;
}

/* ---- lifecycle ---- */

static int start(const char *listen, int has_webroot, ck_http01_fetch fetch, void *fetch_ctx,
                 const struct ck_log *log, struct ck_http01 **out, int *bind_err,
                 struct ck_err *e)
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
    s->fetch = fetch;
    s->fetch_ctx = fetch_ctx;
    snprintf(s->listen, sizeof s->listen, "%s", listen);
    pthread_mutex_init(&s->mu, NULL);
    int lfd = open_listener(listen, has_webroot, bind_err, e);
    if (lfd < 0 || ck_listen_new(lfd, MAX_REQUEST, 0, answer, s, log, "http01.request", &s->l, e))
        goto fail;
    if (ck_challenge_thread(s->wake, &s->thread, serve, s, "http-01", listen, e))
        goto fail;
    ck_debug(log, "http01.listen", "http-01 responder listening on %s", listen);
    *out = s;
    return 0;
fail:
    ck_listen_free(s->l);
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
    return start(listen, 0, NULL, NULL, log, out, &bind_err, e);
}

int ck_http01_start_fetch(const char *listen, ck_http01_fetch fetch, void *ctx,
                          const struct ck_log *log, struct ck_http01 **out, struct ck_err *e)
{
    int bind_err;
    return start(listen, -1, fetch, ctx, log, out, &bind_err, e);
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
        return start(listen, 0, NULL, NULL, log, out, &bind_err, e);
    if (start(listen, 1, NULL, NULL, log, out, &bind_err, e) == 0) {
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
    ck_listen_free(s->l);
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
