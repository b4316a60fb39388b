/* libFuzzer target for an HTTP response as libcurl and lib/http read it: status line,
 * headers (Retry-After as seconds or an HTTP date, Link with rel="up"/"alternate",
 * Location, Replay-Nonce), body. The input is sent as is by a thread at the other end
 * of a socketpair that curl takes as its connection (this file includes http.c to set
 * that up; the Makefile links without http.o), then ck_http_do, ck_http_header and
 * ck_http_link read it. Checks beyond "no crash": Retry-After is -1 (absent) or
 * >= 0, a body is NUL-terminated at its length, a Link found is an absolute
 * http(s) URL without control bytes, a header found fits its buffer. */
#define _GNU_SOURCE
#include <curl/curl.h>
static CURLcode perform_here(CURL *c);
#define curl_easy_perform perform_here
#include "../../lib/http/http.c"
#undef curl_easy_perform

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *answer;
static size_t answer_len;

struct conn {
    int fd;
    size_t len;
    uint8_t data[]; /* the thread's own copy: curl may give up before it is sent */
};

/* Answers one connection with the input: reads the request head, writes, closes. */
static void *serve(void *arg)
{
    struct conn *c = arg;
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t r = read(c->fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    const uint8_t *p = c->data;
    size_t n = c->len;
    while (n) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    close(c->fd);
    free(c);
    return NULL;
}

/* The "connection": one end of a socketpair, the other served by a thread (no port). */
static curl_socket_t open_pair(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    (void)clientp, (void)purpose, (void)addr;
    int sv[2];
    pthread_t t;
    struct conn *c = malloc(sizeof *c + answer_len);
    if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        free(c);
        return CURL_SOCKET_BAD;
    }
    c->fd = sv[1];
    c->len = answer_len;
    memcpy(c->data, answer, answer_len);
    if (pthread_create(&t, NULL, serve, c) != 0) {
        close(sv[0]);
        close(sv[1]);
        free(c);
        return CURL_SOCKET_BAD;
    }
    pthread_detach(t);
    return sv[0];
}

static int connected(void *clientp, curl_socket_t fd, curlsocktype purpose)
{
    (void)clientp, (void)fd, (void)purpose;
    return CURL_SOCKOPT_ALREADY_CONNECTED;
}

static CURLcode perform_here(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_pair);
    curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, connected);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    return curl_easy_perform(c);
}

static void check_link(const struct ck_http_resp *r, const char *rel, size_t idx)
{
    char out[512];
    if (ck_http_link(r, rel, idx, "https://ca.test/acme/cert/1", out, sizeof out) != 0)
        return;
    size_t n = strlen(out);
    if (n >= sizeof out || (strncmp(out, "https://", 8) != 0 && strncmp(out, "http://", 7) != 0))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ck_http *h;
    struct ck_err e;
    if (!h) {
        struct ck_http_opts o = {.user_agent = "fuzz", .timeout_ms = 2000};
        signal(SIGPIPE, SIG_IGN);
        if (ck_http_new(&o, &h, &e))
            abort();
    }
    answer = data;
    answer_len = size;
    struct ck_http_req req = {.method = "GET", .url = "http://localhost/acme/cert/1", .max_body = 65536};
    struct ck_http_resp r;
    if (ck_http_do(h, &req, &r, &e) != 0) {
        if (getenv("FUZZ_HTTP_SAY"))
            fprintf(stderr, "fuzz_http: %s\n", e.msg);
        if (strchr(e.msg, '\n'))
            abort();
        return 0;
    }
    if (getenv("FUZZ_HTTP_SAY"))
        fprintf(stderr, "fuzz_http: HTTP %ld, Retry-After %ld, %zu header bytes, %zu body bytes\n", r.status,
                r.retry_after, r.headers_len, r.body_len);
    if (r.retry_after < -1 || !r.body || r.body[r.body_len] != '\0' || !r.headers)
        abort();
    for (size_t i = 0; i < 3; i++) {
        check_link(&r, "up", i);
        check_link(&r, "alternate", i);
    }
    char v[64];
    static const char *const names[] = {"Location", "Replay-Nonce", "Content-Type", "Retry-After"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (ck_http_header(&r, names[i], v, sizeof v) == 0 && strlen(v) >= sizeof v)
            abort();
    ck_http_resp_free(&r);
    return 0;
}
