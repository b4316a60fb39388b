/* Health and metrics endpoint: the pages, served by lib/listen from the caller's
 * poll loop (every socket non-blocking, every connection with a deadline). */
#include "health.h"

#include "../listen/listen.h"

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

#define MAX_NAME 255
#define MAX_VERSION 64
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct named {
    char *name;
    struct ck_health_cert m;
};

struct ck_health {
    int port, ready;
    const struct ck_log *log;
    struct ck_listen *l;
    struct named certs[CK_HEALTH_MAX_NAMES];
    size_t n_certs;
    char version[MAX_VERSION + 1];
    char listen[128];
};

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

static int answer(void *ctx, const char *req, size_t len, int oversize, char **out,
                  size_t *out_len);

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
    int bind_err, lfd = -1;
    if (!strchr(listen, ':'))
        ck_failk(e, CK_E_USAGE, "listen %s: expected host:port, [v6]:port or :port", listen);
    else
        lfd = ck_listen_socket(listen, "listen", &bind_err, e);
    if (lfd < 0 || ck_listen_new(lfd, CK_HEALTH_MAX_REQUEST, 0, answer, h, log,
                                 "health.request", &h->l, e)) {
        free(h);
        return -1;
    }
    h->port = bound_port(lfd);
    ck_info(log, "health.listen", "health and metrics on %s (port %d)", listen, h->port);
    *out = h;
    return 0;
}

void ck_health_stop(struct ck_health *h)
{
    if (!h)
        return;
    ck_listen_free(h->l);
    for (size_t i = 0; i < h->n_certs; i++)
        free(h->certs[i].name);
    free(h);
}

int ck_health_fd(const struct ck_health *h)
{
    return ck_listen_fd(h->l);
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

static const char *const reason_names[CK_HEALTH_REASONS] = {
    "other", "config", "network", "rate_limit", "protocol", "auth", "io"};

unsigned ck_health_reason(enum ck_err_kind kind)
{
    switch (kind) {
    case CK_E_USAGE: return 1;
    case CK_E_NETWORK: return 2;
    case CK_E_RATELIMIT: return 3;
    case CK_E_PROTOCOL: return 4;
    case CK_E_AUTH: return 5;
    case CK_E_IO: return 6;
    case CK_E_GENERIC: break;
    }
    return 0;
}

enum field { F_NOT_AFTER, F_NOT_BEFORE, F_NEXT, F_LAST, F_CONSEC, F_OCSP_FAIL, F_OCSP_REVOKED,
             F_OCSP_NEXT };

static int64_t value_of(const struct ck_health_cert *m, enum field f)
{
    switch (f) {
    case F_NOT_AFTER: return m->not_after;
    case F_NOT_BEFORE: return m->not_before;
    case F_NEXT: return m->next_renewal;
    case F_LAST: return m->last_success;
    case F_CONSEC: return (int64_t)m->failures_consecutive;
    case F_OCSP_FAIL: return (int64_t)m->ocsp_failures;
    case F_OCSP_REVOKED: return (int64_t)m->ocsp_revoked;
    case F_OCSP_NEXT: return m->ocsp_next_update;
    }
    return 0;
}

/* One gauge per name; timestamps of 0 (unknown) are left out. */
static void sample(struct buf *b, const struct ck_health *h, const char *name, const char *type,
                   const char *help, enum field f)
{
    family(b, name, type, help);
    for (size_t i = 0; i < h->n_certs; i++) {
        int64_t v = value_of(&h->certs[i].m, f);
        if (v == 0 && f != F_CONSEC && f != F_OCSP_FAIL && f != F_OCSP_REVOKED)
            continue;
        put(b, "%s{cert=\"", name);
        put_label(b, h->certs[i].name);
        put(b, "\"} %" PRId64 "\n", v);
    }
}

static void gauge(struct buf *b, const struct ck_health *h, const char *name, const char *help,
                  enum field f)
{
    sample(b, h, name, "gauge", help, f);
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
            put(&b, "certkeep_renewals_total{cert=\"");
            put_label(&b, h->certs[i].name);
            put(&b, "\",result=\"%s\"} %" PRIu64 "\n", ok ? "success" : "failure",
                ok ? m->renewals_success : m->renewals_failure);
        }
    }
    family(&b, "certkeep_reloads_total", "counter",
           "Times the app was told of new files, by result.");
    for (size_t i = 0; i < h->n_certs; i++) {
        const struct ck_health_cert *m = &h->certs[i].m;
        for (int ok = 1; ok >= 0; ok--) {
            put(&b, "certkeep_reloads_total{cert=\"");
            put_label(&b, h->certs[i].name);
            put(&b, "\",result=\"%s\"} %" PRIu64 "\n", ok ? "success" : "failure",
                ok ? m->reloads_success : m->reloads_failure);
        }
    }
    family(&b, "certkeep_renewal_failures_total", "counter", "Failed renewal attempts by reason.");
    for (size_t i = 0; i < h->n_certs; i++) {
        for (unsigned r = 0; r < CK_HEALTH_REASONS; r++) {
            if (!h->certs[i].m.failures[r])  /* a reason appears with its first failure */
                continue;
            put(&b, "certkeep_renewal_failures_total{cert=\"");
            put_label(&b, h->certs[i].name);
            put(&b, "\",reason=\"%s\"} %" PRIu64 "\n", reason_names[r],
                h->certs[i].m.failures[r]);
        }
    }
    gauge(&b, h, "certkeep_failures_consecutive",
          "Failed attempts since the last success.", F_CONSEC);
    gauge(&b, h, "certkeep_next_renewal_timestamp_seconds",
          "When the next renewal attempt is due, Unix time.", F_NEXT);
    gauge(&b, h, "certkeep_last_success_timestamp_seconds",
          "When the last renewal succeeded, Unix time.", F_LAST);
    sample(&b, h, "certkeep_ocsp_failures_total", "counter",
           "OCSP fetches that gave no good response to staple.", F_OCSP_FAIL);
    sample(&b, h, "certkeep_ocsp_revoked_total", "counter",
           "OCSP answers that the certificate is revoked.", F_OCSP_REVOKED);
    gauge(&b, h, "certkeep_ocsp_next_update_seconds",
          "nextUpdate of the stapled OCSP response on the volume, Unix time.", F_OCSP_NEXT);
    if (b.oom || !b.p) {
        free(b.p);
        return ck_fail(e, "metrics: out of memory");
    }
    *out = b.p;
    *len = b.len;
    return 0;
}

/* ---- one request ---- */

/* lib/listen's answer: the whole response to one request head. */
static int answer(void *ctx, const char *req, size_t len, int oversize, char **out,
                  size_t *out_len)
{
    return ck_health_respond(ctx, req, oversize ? CK_HEALTH_MAX_REQUEST + 1 : len, out, out_len);
}

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

size_t ck_health_pollfds(struct ck_health *h, struct pollfd *pfd, size_t cap, int *timeout_ms)
{
    return ck_listen_pollfds(h->l, pfd, cap, timeout_ms);
}

void ck_health_handle(struct ck_health *h, const struct pollfd *pfd, size_t n)
{
    ck_listen_handle(h->l, pfd, n);
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
