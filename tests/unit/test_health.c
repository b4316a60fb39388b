/* lib/health driven the way the sidecar drives it: the main thread is the event
 * loop (ck_health_serve / ck_health_pollfds + poll + ck_health_handle) while the
 * clients run in another thread (raw sockets, the curl CLI): pages, readiness,
 * metrics text checked line by line and against the text-format grammar, bad and
 * oversized requests, a slowloris next to a normal client, 64 parallel
 * connections, start/stop without leaked memory or descriptors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health/health.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the loop and its clients ------------------------------------------------------ */

struct client {
    int port;
    atomic_int done;
    void (*fn)(struct client *);
    /* results, read by the main thread after the join */
    int status[64];
    char body[16384];
    size_t body_len;
    long long took_ms, slow_closed_ms;
    int ok;
    const char *request;
    size_t request_len;
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    c->fn(c);
    atomic_store(&c->done, 1);
    return NULL;
}

/* Runs fn in a thread while this thread serves, as the sidecar's loop would. */
static void run(struct ck_health *h, struct client *c, void (*fn)(struct client *))
{
    c->port = ck_health_port(h);
    c->fn = fn;
    atomic_store(&c->done, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, client_main, c), 0);
    long long limit = now_ms() + 20000;
    while (!atomic_load(&c->done) && now_ms() < limit)
        ck_health_serve(h, 50);
    pthread_join(t, NULL);
}

static int connect_to(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    struct timeval tv = { 10, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
}

static int send_all(int s, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(s, p, len, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads until EOF; returns the length or -1. */
static ssize_t read_all(int s, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = recv(s, buf + len, cap - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == cap - 1)
            break;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* One request on a fresh connection: the whole response in c->body. */
static void raw_fetch(struct client *c)
{
    int s = connect_to(c->port);
    if (s < 0)
        return;
    ssize_t n = -1;
    if (send_all(s, c->request, c->request_len) == 0)
        n = read_all(s, c->body, sizeof c->body);
    close(s);
    c->body_len = n < 0 ? 0 : (size_t)n;
    c->ok = n > 0;
}

static void fetch(struct ck_health *h, const char *req, struct client *c)
{
    memset(c, 0, sizeof *c);
    c->request = req;
    c->request_len = strlen(req);
    run(h, c, raw_fetch);
    assert_true(c->ok);
}

static int status_of(const struct client *c)
{
    int st = 0;
    if (sscanf(c->body, "HTTP/1.1 %d ", &st) != 1)
        return -1;
    return st;
}

static const char *body_of(const struct client *c)
{
    const char *p = strstr(c->body, "\r\n\r\n");
    return p ? p + 4 : NULL;
}

static struct ck_health *start(void)
{
    struct ck_health *h = NULL;
    struct ck_err e;
    if (ck_health_start("127.0.0.1:0", "1.2.3", NULL, &h, &e) != 0)
        fail_msg("%s", e.msg);
    assert_true(ck_health_port(h) > 0);
    return h;
}

/* ---- pages ------------------------------------------------------------------------- */

static void test_pages(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);

    fetch(h, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", c);
    assert_int_equal(status_of(c), 200);
    assert_string_equal(body_of(c), "ok\n");
    assert_non_null(strstr(c->body, "\r\nContent-Length: 3\r\n"));
    assert_non_null(strstr(c->body, "\r\nConnection: close\r\n"));

    fetch(h, "GET /readyz HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 503);
    ck_health_set_ready(h, 1);
    fetch(h, "GET /readyz HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 200);
    assert_string_equal(body_of(c), "ready\n");
    ck_health_set_ready(h, 0);
    fetch(h, "GET /readyz?verbose=1 HTTP/1.0\n\n", c);
    assert_int_equal(status_of(c), 503);

    fetch(h, "GET /nope HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 404);
    fetch(h, "GET /healthz/ HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 404);
    fetch(h, "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", c);
    assert_int_equal(status_of(c), 405);
    assert_non_null(strstr(c->body, "\r\nAllow: GET, HEAD\r\n"));
    fetch(h, "DELETE /metrics HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 405);
    fetch(h, "HEAD /healthz HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 200);
    assert_string_equal(body_of(c), ""); /* headers only */
    assert_non_null(strstr(c->body, "Content-Length: 3\r\n"));
    fetch(h, "garbage\r\n\r\n", c);
    assert_int_equal(status_of(c), 400);
    fetch(h, "GET /healthz HTTP/2.0\r\n\r\n", c);
    assert_int_equal(status_of(c), 400);
    fetch(h, "GET  /healthz HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 400);
    free(c);
    ck_health_stop(h);
}

static void over_size(struct client *c)
{
    int s = connect_to(c->port);
    if (s < 0)
        return;
    char *big = malloc(65536);
    memcpy(big, "GET /healthz HTTP/1.1\r\nX-Pad: ", 30);
    memset(big + 30, 'a', 65536 - 30);
    send_all(s, big, 8192); /* more than 4 KiB, no end of headers */
    free(big);
    ssize_t n = read_all(s, c->body, sizeof c->body);
    close(s);
    c->ok = n > 0;
}

static void test_oversized(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    run(h, c, over_size);
    assert_true(c->ok);
    assert_int_equal(status_of(c), 431);
    /* exactly at the limit with its end: still served */
    char *req = malloc(CK_HEALTH_MAX_REQUEST + 1);
    const char *head = "GET /healthz HTTP/1.1\r\nX-Pad: ";
    size_t hl = strlen(head);
    memcpy(req, head, hl);
    memset(req + hl, 'b', CK_HEALTH_MAX_REQUEST - hl - 4);
    memcpy(req + CK_HEALTH_MAX_REQUEST - 4, "\r\n\r\n", 5);
    fetch(h, req, c);
    assert_int_equal(status_of(c), 200);
    free(req);
    free(c);
    ck_health_stop(h);
}

static void curl_cli(struct client *c)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd,
             "curl -sS --max-time 10 -w '\\n%%{http_code}' http://127.0.0.1:%d/metrics", c->port);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    c->body_len = fread(c->body, 1, sizeof c->body - 1, p);
    c->body[c->body_len] = '\0';
    c->ok = pclose(p) == 0;
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null --max-time 10 -w '%%{http_code}' http://127.0.0.1:%d/readyz",
             c->port);
    p = popen(cmd, "r");
    if (!p)
        return;
    char code[8] = "";
    if (!fgets(code, sizeof code, p))
        c->ok = 0;
    pclose(p);
    c->status[0] = atoi(code);
}

static void test_curl_cli(void **state)
{
    (void)state;
    struct ck_health *h = start();
    ck_health_set_ready(h, 1);
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    run(h, c, curl_cli);
    assert_true(c->ok);
    assert_non_null(strstr(c->body, "certkeep_build_info{version=\"1.2.3\"} 1\n"));
    assert_non_null(strstr(c->body, "\n200"));
    assert_int_equal(c->status[0], 200);
    free(c);
    ck_health_stop(h);
}

/* ---- metrics ----------------------------------------------------------------------- */

/* The text format 0.0.4 grammar, as far as we use it: HELP/TYPE comments, then
 * samples of a family TYPE'd before, integer values, escaped label values. */
static void check_format(const char *text)
{
    regex_t help, type, sample;
    assert_int_equal(regcomp(&help, "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* [^\n]+$", REG_EXTENDED), 0);
    assert_int_equal(
        regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$",
                REG_EXTENDED),
        0);
    const char *lv = "\"([^\"\\\\\n]|\\\\[\\\\\"n])*\"";
    char pat[1024];
    snprintf(pat, sizeof pat,
             "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[a-zA-Z_][a-zA-Z0-9_]*=%s(,[a-zA-Z_][a-zA-Z0-9_]*=%s)*\\})? "
             "-?[0-9]+$",
             lv, lv);
    assert_int_equal(regcomp(&sample, pat, REG_EXTENDED), 0);
    char typed[32][80];
    size_t n_typed = 0;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    char *copy = strdup(text), *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[3];
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (regexec(&help, line, 0, NULL, 0) != 0)
                fail_msg("bad HELP: %s", line);
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            if (regexec(&type, line, 2, m, 0) != 0)
                fail_msg("bad TYPE: %s", line);
            int len = (int)(m[1].rm_eo - m[1].rm_so);
            for (size_t i = 0; i < n_typed; i++)
                if (strncmp(typed[i], line + m[1].rm_so, (size_t)len) == 0 && typed[i][len] == 0)
                    fail_msg("TYPE twice: %s", line);
            assert_true(n_typed < 32);
            snprintf(typed[n_typed++], sizeof typed[0], "%.*s", len, line + m[1].rm_so);
        } else {
            if (regexec(&sample, line, 2, m, 0) != 0)
                fail_msg("bad sample: %s", line);
            int len = (int)(m[1].rm_eo - m[1].rm_so);
            /* a sample follows the TYPE of its family, which is the last one */
            if (n_typed == 0 || strncmp(typed[n_typed - 1], line, (size_t)len) != 0 ||
                typed[n_typed - 1][len] != 0)
                fail_msg("sample outside its family: %s", line);
        }
    }
    free(copy);
    regfree(&help);
    regfree(&type);
    regfree(&sample);
}

static void test_metrics(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct ck_err e;
    struct ck_health_cert *a = ck_health_cert(h, "example.com", &e);
    assert_non_null(a);
    a->not_before = 1790000000;
    a->not_after = 1797776000;
    a->next_renewal = 1795184000;
    a->last_success = 1790000100;
    a->renewals_success = 3;
    a->renewals_failure = 2;
    a->failures_consecutive = 0;
    a->ocsp_failures = 4;
    a->ocsp_next_update = 1790086400;
    a->reloads_success = 4;
    a->reloads_failure = 1;
    a->failures[ck_health_reason(CK_E_NETWORK)] = 1;
    a->failures[ck_health_reason(CK_E_RATELIMIT)] = 1;
    struct ck_health_cert *w = ck_health_cert(h, "we\"ird\\na\nme", &e);
    assert_non_null(w);
    w->renewals_failure = 7;
    w->failures_consecutive = 7;
    w->ocsp_revoked = 1;
    w->failures[ck_health_reason(CK_E_GENERIC)] = 7;
    assert_ptr_equal(ck_health_cert(h, "example.com", &e), a); /* same entry */
    ck_health_set_ready(h, 1);

    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    fetch(h, "GET /metrics HTTP/1.1\r\n\r\n", c);
    assert_int_equal(status_of(c), 200);
    assert_non_null(strstr(c->body, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    const char *text = body_of(c);
    assert_non_null(text);
    size_t clen = 0;
    const char *cl = strstr(c->body, "Content-Length: ");
    assert_non_null(cl);
    clen = (size_t)strtoul(cl + 16, NULL, 10);
    assert_int_equal(clen, strlen(text));

    const char *want =
        "# HELP certkeep_build_info Version of certkeep, always 1.\n"
        "# TYPE certkeep_build_info gauge\n"
        "certkeep_build_info{version=\"1.2.3\"} 1\n"
        "# HELP certkeep_ready 1 when a usable certificate is on the volume.\n"
        "# TYPE certkeep_ready gauge\n"
        "certkeep_ready 1\n"
        "# HELP certkeep_certificate_expiry_timestamp_seconds notAfter of the certificate on the volume, Unix time.\n"
        "# TYPE certkeep_certificate_expiry_timestamp_seconds gauge\n"
        "certkeep_certificate_expiry_timestamp_seconds{cert=\"example.com\"} 1797776000\n"
        "# HELP certkeep_certificate_not_before_timestamp_seconds notBefore of the certificate on the volume, Unix time.\n"
        "# TYPE certkeep_certificate_not_before_timestamp_seconds gauge\n"
        "certkeep_certificate_not_before_timestamp_seconds{cert=\"example.com\"} 1790000000\n"
        "# HELP certkeep_renewals_total Renewal attempts by result.\n"
        "# TYPE certkeep_renewals_total counter\n"
        "certkeep_renewals_total{cert=\"example.com\",result=\"success\"} 3\n"
        "certkeep_renewals_total{cert=\"example.com\",result=\"failure\"} 2\n"
        "certkeep_renewals_total{cert=\"we\\\"ird\\\\na\\nme\",result=\"success\"} 0\n"
        "certkeep_renewals_total{cert=\"we\\\"ird\\\\na\\nme\",result=\"failure\"} 7\n"
        "# HELP certkeep_reloads_total Times the app was told of new files, by result.\n"
        "# TYPE certkeep_reloads_total counter\n"
        "certkeep_reloads_total{cert=\"example.com\",result=\"success\"} 4\n"
        "certkeep_reloads_total{cert=\"example.com\",result=\"failure\"} 1\n"
        "certkeep_reloads_total{cert=\"we\\\"ird\\\\na\\nme\",result=\"success\"} 0\n"
        "certkeep_reloads_total{cert=\"we\\\"ird\\\\na\\nme\",result=\"failure\"} 0\n"
        "# HELP certkeep_renewal_failures_total Failed renewal attempts by reason.\n"
        "# TYPE certkeep_renewal_failures_total counter\n"
        "certkeep_renewal_failures_total{cert=\"example.com\",reason=\"network\"} 1\n"
        "certkeep_renewal_failures_total{cert=\"example.com\",reason=\"rate_limit\"} 1\n"
        "certkeep_renewal_failures_total{cert=\"we\\\"ird\\\\na\\nme\",reason=\"other\"} 7\n"
        "# HELP certkeep_failures_consecutive Failed attempts since the last success.\n"
        "# TYPE certkeep_failures_consecutive gauge\n"
        "certkeep_failures_consecutive{cert=\"example.com\"} 0\n"
        "certkeep_failures_consecutive{cert=\"we\\\"ird\\\\na\\nme\"} 7\n"
        "# HELP certkeep_next_renewal_timestamp_seconds When the next renewal attempt is due, Unix time.\n"
        "# TYPE certkeep_next_renewal_timestamp_seconds gauge\n"
        "certkeep_next_renewal_timestamp_seconds{cert=\"example.com\"} 1795184000\n"
        "# HELP certkeep_last_success_timestamp_seconds When the last renewal succeeded, Unix time.\n"
        "# TYPE certkeep_last_success_timestamp_seconds gauge\n"
        "certkeep_last_success_timestamp_seconds{cert=\"example.com\"} 1790000100\n"
        "# HELP certkeep_ocsp_failures_total OCSP fetches that gave no good response to staple.\n"
        "# TYPE certkeep_ocsp_failures_total counter\n"
        "certkeep_ocsp_failures_total{cert=\"example.com\"} 4\n"
        "certkeep_ocsp_failures_total{cert=\"we\\\"ird\\\\na\\nme\"} 0\n"
        "# HELP certkeep_ocsp_revoked_total OCSP answers that the certificate is revoked.\n"
        "# TYPE certkeep_ocsp_revoked_total counter\n"
        "certkeep_ocsp_revoked_total{cert=\"example.com\"} 0\n"
        "certkeep_ocsp_revoked_total{cert=\"we\\\"ird\\\\na\\nme\"} 1\n"
        "# HELP certkeep_ocsp_next_update_seconds nextUpdate of the stapled OCSP response on the volume, Unix time.\n"
        "# TYPE certkeep_ocsp_next_update_seconds gauge\n"
        "certkeep_ocsp_next_update_seconds{cert=\"example.com\"} 1790086400\n";
    assert_string_equal(text, want);
    check_format(text);

    /* the grammar check can fail */
    char *broken = strdup(want);
    broken[strlen(broken) - 2] = 'x';
    /* (not run through check_format: fail_msg would end this test) */
    regex_t r;
    assert_int_equal(regcomp(&r, " -?[0-9]+$", REG_EXTENDED | REG_NEWLINE), 0);
    assert_int_not_equal(regexec(&r, strrchr(broken, '}'), 0, NULL, 0), 0);
    regfree(&r);
    free(broken);

    /* values change between scrapes; HEAD has no body */
    a->renewals_success = 4;
    ck_health_set_ready(h, 0);
    fetch(h, "GET /metrics HTTP/1.1\r\n\r\n", c);
    assert_non_null(strstr(body_of(c), "\ncertkeep_renewals_total{cert=\"example.com\",result=\"success\"} 4\n"));
    assert_non_null(strstr(body_of(c), "\ncertkeep_ready 0\n"));
    check_format(body_of(c));

    /* names: bounded */
    assert_null(ck_health_cert(h, "", &e));
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_null(ck_health_cert(h, longname, &e));
    assert_non_null(strstr(e.msg, "longer"));
    for (int i = 0; i < CK_HEALTH_MAX_NAMES - 2; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "n%d.example", i);
        assert_non_null(ck_health_cert(h, nm, &e));
    }
    assert_null(ck_health_cert(h, "one-too-many.example", &e));
    assert_non_null(strstr(e.msg, "one-too-many.example"));
    char *m = NULL;
    size_t ml = 0;
    assert_int_equal(ck_health_metrics(h, &m, &ml, &e), 0);
    assert_int_equal(ml, strlen(m));
    check_format(m);
    free(m);
    free(c);
    ck_health_stop(h);
}

/* A response far larger than the socket buffers: written over many poll rounds. */
static char *big_buf;
static size_t big_len;

static void big_fetch(struct client *c)
{
    int s = connect_to(c->port);
    if (s < 0)
        return;
    const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
    ssize_t n = -1;
    if (send_all(s, req, strlen(req)) == 0) {
        usleep(200 * 1000); /* let the server fill the buffers and wait for POLLOUT */
        n = read_all(s, big_buf, 1 << 23);
    }
    close(s);
    big_len = n < 0 ? 0 : (size_t)n;
    c->ok = n > 0;
}

static void test_large_metrics(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct ck_err e;
    for (int i = 0; i < CK_HEALTH_MAX_NAMES; i++) {
        char nm[256];
        int k = snprintf(nm, sizeof nm, "%03d.", i);
        memset(nm + k, 'x', 250 - (size_t)k);
        nm[250] = '\0';
        struct ck_health_cert *m = ck_health_cert(h, nm, &e);
        assert_non_null(m);
        m->not_after = 1797776000 + i;
        m->not_before = m->next_renewal = m->last_success = 1790000000;
    }
    char *want = NULL;
    size_t want_len = 0;
    assert_int_equal(ck_health_metrics(h, &want, &want_len, &e), 0);
    assert_true(want_len > 200000);
    big_buf = malloc(1 << 23);
    assert_non_null(big_buf);
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    run(h, c, big_fetch);
    assert_true(c->ok);
    const char *body = strstr(big_buf, "\r\n\r\n");
    assert_non_null(body);
    assert_int_equal(strlen(body + 4), want_len);
    assert_memory_equal(body + 4, want, want_len);
    check_format(body + 4);
    free(want);
    free(big_buf);
    free(c);
    ck_health_stop(h);
}

/* ---- slow clients and many clients ------------------------------------------------- */

static void slowloris(struct client *c)
{
    int slow = connect_to(c->port);
    if (slow < 0)
        return;
    send_all(slow, "GET /hea", 8); /* and nothing more */
    /* another client is served at once meanwhile */
    long long t0 = now_ms();
    int s = connect_to(c->port);
    const char *req = "GET /healthz HTTP/1.1\r\n\r\n";
    if (s < 0 || send_all(s, req, strlen(req)) != 0 || read_all(s, c->body, sizeof c->body) <= 0) {
        close(slow);
        return;
    }
    close(s);
    c->took_ms = now_ms() - t0;
    /* the slow one is dropped at its deadline */
    char b[64];
    ssize_t r = recv(slow, b, sizeof b, 0);
    c->slow_closed_ms = now_ms() - t0;
    close(slow);
    c->ok = r == 0;
}

static void test_slowloris(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    run(h, c, slowloris);
    assert_true(c->ok);
    assert_int_equal(status_of(c), 200);
    assert_true(c->took_ms < 1000);
    assert_true(c->slow_closed_ms >= CK_HEALTH_REQUEST_MS - 1500);
    assert_true(c->slow_closed_ms < CK_HEALTH_REQUEST_MS + 2000);
    free(c);
    ck_health_stop(h);
}

#define PARALLEL 64

static void parallel(struct client *c)
{
    int s[PARALLEL];
    const char *req = "GET /metrics HTTP/1.1\r\n\r\n";
    for (int i = 0; i < PARALLEL; i++)
        s[i] = connect_to(c->port);
    for (int i = 0; i < PARALLEL; i++)
        if (s[i] >= 0)
            send_all(s[i], req, strlen(req));
    for (int i = 0; i < PARALLEL; i++) {
        char buf[8192];
        c->status[i] = -1;
        if (s[i] < 0)
            continue;
        if (read_all(s[i], buf, sizeof buf) > 0 && strstr(buf, "certkeep_build_info{"))
            sscanf(buf, "HTTP/1.1 %d", &c->status[i]);
        close(s[i]);
    }
    c->ok = 1;
}

static void test_parallel(void **state)
{
    (void)state;
    struct ck_health *h = start();
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    long long t0 = now_ms();
    run(h, c, parallel);
    assert_true(c->ok);
    for (int i = 0; i < PARALLEL; i++)
        if (c->status[i] != 200)
            fail_msg("connection %d: status %d", i, c->status[i]);
    assert_true(now_ms() - t0 < 5000);
    free(c);
    ck_health_stop(h);
}

/* ---- the caller's own poll --------------------------------------------------------- */

static void test_own_loop(void **state)
{
    (void)state;
    struct ck_health *h = start();
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    struct pollfd pfd[CK_HEALTH_MAX_FDS + 1];
    int timeout = 60000;
    size_t n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout);
    assert_int_equal(n, 1); /* only the listener */
    assert_int_equal(pfd[0].fd, ck_health_fd(h));
    assert_int_equal(timeout, 60000); /* nothing due */

    /* a client that connects and sends half a request: its deadline lowers the timeout */
    int s = connect_to(ck_health_port(h));
    assert_true(s >= 0);
    assert_int_equal(send_all(s, "GET /he", 7), 0);
    n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout);
    assert_int_equal(poll(pfd, n, 1000), 1);
    ck_health_handle(h, pfd, n);
    timeout = 60000;
    n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout);
    assert_int_equal(n, 2);
    assert_true(timeout > 0 && timeout <= CK_HEALTH_REQUEST_MS);
    /* the rest of the request, my own fd beside theirs */
    assert_int_equal(send_all(s, "althz HTTP/1.1\r\n\r\n", 18), 0);
    assert_int_equal(write(pipefd[1], "x", 1), 1);
    pfd[n] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
    long long t0 = now_ms();
    while (now_ms() - t0 < 2000) {
        timeout = 100;
        n = ck_health_pollfds(h, pfd, CK_HEALTH_MAX_FDS, &timeout);
        pfd[n] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
        int r = poll(pfd, n + 1, timeout);
        assert_true(r >= 0);
        assert_true(pfd[n].revents & POLLIN);
        ck_health_handle(h, pfd, n);
        struct pollfd one = { .fd = s, .events = POLLIN };
        if (poll(&one, 1, 0) == 1)
            break;
    }
    char buf[512];
    assert_true(read_all(s, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    close(s);
    close(pipefd[0]);
    close(pipefd[1]);
    ck_health_stop(h);
}

/* ---- life cycle -------------------------------------------------------------------- */

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_start_stop(void **state)
{
    (void)state;
    struct ck_err e;
    struct ck_health *h = NULL;
    const char *bad[] = { "nonsense", "9090", ":99999", ":", "[::1", "[::1]", "::1:80",
                          "host.invalid.:80", ":-1", ":80a" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ck_health_start(bad[i], "v", NULL, &h, &e) == 0)
            fail_msg("%s accepted", bad[i]);
        assert_null(h);
        assert_non_null(strstr(e.msg, bad[i]));
    }
    /* the port in use */
    struct ck_health *a = start();
    char busy[32];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", ck_health_port(a));
    assert_int_equal(ck_health_start(busy, "v", NULL, &h, &e), -1);
    assert_int_equal(e.kind, CK_E_IO);
    assert_non_null(strstr(e.msg, busy));
    ck_health_stop(a);
    ck_health_stop(NULL);

    /* every address, IPv6 with brackets */
    assert_int_equal(ck_health_start(":0", "v", NULL, &h, &e), 0);
    ck_health_stop(h);
    if (ck_health_start("[::1]:0", "v", NULL, &h, &e) == 0)
        ck_health_stop(h);

    /* many rounds, some with a connection open mid-request: no fd or memory left */
    int before = count_fds();
    for (int i = 0; i < 200; i++) {
        h = start();
        ck_health_cert(h, "example.com", &e);
        if (i % 2) {
            int s = connect_to(ck_health_port(h));
            assert_true(s >= 0);
            send_all(s, "GET /", 5);
            for (int k = 0; k < 2; k++)
                ck_health_serve(h, 5);
            close(s);
        }
        ck_health_stop(h);
    }
    assert_int_equal(count_fds(), before);
}

static void test_respond_direct(void **state)
{
    (void)state;
    struct ck_health *h = start();
    char *out = NULL;
    size_t len = 0;
    const char req[] = "GET /healthz HTTP/1.1\r\n\r\n";
    assert_int_equal(ck_health_respond(h, req, sizeof req - 1, &out, &len), 200);
    assert_int_equal(len, strlen(out));
    free(out);
    const char nul[] = "GET /healthz\0 HTTP/1.1\r\n\r\n";
    assert_int_equal(ck_health_respond(h, nul, sizeof nul - 1, &out, &len), 400);
    free(out);
    assert_int_equal(ck_health_respond(h, "", 0, &out, &len), 400);
    free(out);
    ck_health_stop(h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_curl_cli),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_large_metrics),
        cmocka_unit_test(test_slowloris),
        cmocka_unit_test(test_parallel),
        cmocka_unit_test(test_own_loop),
        cmocka_unit_test(test_start_stop),
        cmocka_unit_test(test_respond_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
