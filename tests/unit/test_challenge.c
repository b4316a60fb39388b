/* lib/challenge: the http-01 responder over real sockets, and webroot files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "challenge/challenge.h"
#include "challenge/challenge_int.h"
#include "store/store.h"
#include "crypto/crypto.h"

#define SNP(buf, sz, ...) assert_true(snprintf((buf), (sz), __VA_ARGS__) < (int)(sz))
#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define AUTHZ TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define PATH "/.well-known/acme-challenge/"
#define NULREQ "GET " PATH TOKEN " HTTP/1.1\r\nX: a\0b\r\n\r\n"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int connect_to(int family, int port)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc;
    if (family == AF_INET) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    } else {
        struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port),
                                  .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    }
    if (rc < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads until EOF or the timeout; returns the bytes read, -1 on timeout. */
static int read_all(int fd, char *buf, size_t sz, int timeout_ms)
{
    size_t n = 0;
    long long end = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long long left = end - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = recv(fd, buf + n, sz - 1 - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || n + (size_t)r >= sz - 1) {
            n += r > 0 ? (size_t)r : 0;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = '\0';
    return (int)n;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* One raw exchange; returns the status (0 when the server just closed). */
static int exchange(int family, int port, const char *req, size_t len, char *resp, size_t sz)
{
    int fd = connect_to(family, port);
    assert_true(fd >= 0);
    send_all(fd, req, len);
    int n = read_all(fd, resp, sz, 3000);
    close(fd);
    assert_true(n >= 0); /* no hang */
    int status = 0;
    if (sscanf(resp, "HTTP/1.1 %d ", &status) != 1)
        status = 0;
    return status;
}

static int get(int port, const char *target, char *resp, size_t sz)
{
    char req[1024];
    SNP(req, sizeof req, "GET %s HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n", target);
    return exchange(AF_INET, port, req, strlen(req), resp, sz);
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : NULL;
}

struct fixture {
    int port;
    struct ck_http01 *s;
};

static int start(void **state)
{
    static struct fixture fx;
    char addr[64];
    struct ck_err e;
    fx.port = free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", fx.port);
    if (ck_http01_start(addr, NULL, &fx.s, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    if (ck_http01_add(fx.s, TOKEN, AUTHZ, &e) < 0)
        return -1;
    *state = &fx;
    return 0;
}

static int stop(void **state)
{
    struct fixture *fx = *state;
    ck_http01_stop(fx->s);
    return 0;
}

static void test_serves_token(void **state)
{
    struct fixture *fx = *state;
    char resp[4096];
    assert_int_equal(get(fx->port, PATH TOKEN, resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), AUTHZ);
    assert_non_null(strstr(resp, "\r\nContent-Type: text/plain\r\n"));
    char cl[64];
    SNP(cl, sizeof cl, "\r\nContent-Length: %zu\r\n", strlen(AUTHZ));
    assert_non_null(strstr(resp, cl));
    assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));

    /* HEAD: same headers, no body; HTTP/1.0 and bare LF line ends are fine too */
    const char *head = "HEAD " PATH TOKEN " HTTP/1.0\n\n";
    assert_int_equal(exchange(AF_INET, fx->port, head, strlen(head), resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "");
    assert_non_null(strstr(resp, cl));

    /* absolute-form target */
    assert_int_equal(get(fx->port, "http://example.com" PATH TOKEN, resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), AUTHZ);
}

static void test_table(void **state)
{
    struct fixture *fx = *state;
    char resp[4096];
    struct ck_err e;
    assert_int_equal(get(fx->port, PATH "unknownToken", resp, sizeof resp), 404);
    assert_int_equal(ck_http01_add(fx->s, "second_tok-2", "second_tok-2.x", &e), 0);
    assert_int_equal(get(fx->port, PATH "second_tok-2", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "second_tok-2.x");
    assert_int_equal(ck_http01_add(fx->s, "second_tok-2", "second_tok-2.y", &e), 0);
    assert_int_equal(get(fx->port, PATH "second_tok-2", resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "second_tok-2.y");
    ck_http01_remove(fx->s, "second_tok-2");
    assert_int_equal(get(fx->port, PATH "second_tok-2", resp, sizeof resp), 404);
    ck_http01_remove(fx->s, "never-added"); /* harmless */
    assert_int_equal(get(fx->port, PATH TOKEN, resp, sizeof resp), 200);

    /* only base64url tokens and printable authorizations get in */
    const char *bad[] = {"", "a/b", "..", "a.b", "a b", "%2e", "tok\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ck_http01_add(fx->s, bad[i], "x.y", &e), -1);
        assert_non_null(strstr(e.msg, "base64url"));
    }
    char longtok[300];
    memset(longtok, 'a', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    assert_int_equal(ck_http01_add(fx->s, longtok, "x.y", &e), -1);
    assert_int_equal(ck_http01_add(fx->s, "tok", "x\r\nSet-Cookie: a", &e), -1);
    assert_int_equal(ck_http01_add(fx->s, "tok", "", &e), -1);
}

static void test_bad_requests(void **state)
{
    struct fixture *fx = *state;
    char resp[4096];
    assert_int_equal(get(fx->port, PATH "../../../etc/passwd", resp, sizeof resp), 404);
    assert_int_equal(get(fx->port, PATH "%2e%2e%2fetc", resp, sizeof resp), 404);
    assert_int_equal(get(fx->port, PATH TOKEN "/x", resp, sizeof resp), 404);
    assert_int_equal(get(fx->port, PATH TOKEN "?q=1", resp, sizeof resp), 404);
    assert_int_equal(get(fx->port, "/", resp, sizeof resp), 404);
    assert_int_equal(get(fx->port, PATH, resp, sizeof resp), 404);
    const struct {
        const char *req;
        size_t len;
        int status;
    } cases[] = {
        {"POST " PATH TOKEN " HTTP/1.1\r\n\r\n", 0, 405},
        {"DELETE " PATH TOKEN " HTTP/1.1\r\n\r\n", 0, 405},
        {"GET " PATH TOKEN " HTTP/2.0\r\n\r\n", 0, 400},
        {"GET " PATH TOKEN "\r\n\r\n", 0, 400},
        {"garbage\r\n\r\n", 0, 400},
        {"\r\n\r\n", 0, 400},
        {"GET  " PATH TOKEN " HTTP/1.1\r\n\r\n", 0, 400},
        {NULREQ, sizeof NULREQ - 1, 400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].req);
        assert_int_equal(exchange(AF_INET, fx->port, cases[i].req, len, resp, sizeof resp),
                         cases[i].status);
        assert_null(strstr(resp, AUTHZ));
    }
    /* the 405 says what is allowed */
    exchange(AF_INET, fx->port, cases[0].req, strlen(cases[0].req), resp, sizeof resp);
    assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
}

static void test_oversized(void **state)
{
    struct fixture *fx = *state;
    char resp[4096];
    size_t n = 64 * 1024;
    char *req = malloc(n);
    assert_non_null(req);
    memcpy(req, "GET " PATH TOKEN " HTTP/1.1\r\n", strlen("GET " PATH TOKEN " HTTP/1.1\r\n"));
    for (size_t i = strlen("GET " PATH TOKEN " HTTP/1.1\r\n"); i < n; i++)
        req[i] = (i % 80 == 79) ? '\n' : 'h';
    int status = exchange(AF_INET, fx->port, req, n, resp, sizeof resp);
    free(req);
    assert_true(status == 431 || status == 0); /* an error status, or closed */
    assert_null(strstr(resp, AUTHZ));
    assert_int_equal(get(fx->port, PATH TOKEN, resp, sizeof resp), 200);
}

static void test_slow_client_blocks_nobody(void **state)
{
    struct fixture *fx = *state;
    char resp[4096];
    int idle = connect_to(AF_INET, fx->port);
    int partial = connect_to(AF_INET, fx->port);
    assert_true(idle >= 0 && partial >= 0);
    assert_int_equal(send_all(partial, "GET " PATH, strlen("GET " PATH)), 0);
    long long t0 = now_ms();
    for (int i = 0; i < 5; i++)
        assert_int_equal(get(fx->port, PATH TOKEN, resp, sizeof resp), 200);
    assert_true(now_ms() - t0 < 1000);
    /* and the idle one is dropped after the head deadline (2 s), not kept forever */
    char buf[64];
    int n = read_all(idle, buf, sizeof buf, 7000);
    assert_true(n >= 0);
    assert_true(now_ms() - t0 >= 1000);
    n = read_all(partial, buf, sizeof buf, 2000);
    assert_true(n >= 0);
    close(idle);
    close(partial);
}

struct worker {
    int port, ok;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char req[256], resp[4096];
    snprintf(req, sizeof req, "GET " PATH TOKEN " HTTP/1.1\r\nHost: x\r\n\r\n");
    for (int i = 0; i < 25; i++) {
        int fd = connect_to(AF_INET, w->port);
        if (fd < 0)
            continue;
        send_all(fd, req, strlen(req));
        int n = read_all(fd, resp, sizeof resp, 5000);
        close(fd);
        const char *b = n > 0 ? strstr(resp, "\r\n\r\n") : NULL;
        if (n > 0 && strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && b && strcmp(b + 4, AUTHZ) == 0)
            w->ok++;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    struct fixture *fx = *state;
    /* many simultaneous connections, all answered */
    enum { N = 24 };
    int fds[N];
    char resp[4096];
    for (int i = 0; i < N; i++)
        assert_true((fds[i] = connect_to(AF_INET, fx->port)) >= 0);
    const char *req = "GET " PATH TOKEN " HTTP/1.1\r\n\r\n";
    for (int i = 0; i < N; i++)
        assert_int_equal(send_all(fds[i], req, strlen(req)), 0);
    for (int i = N - 1; i >= 0; i--) {
        assert_true(read_all(fds[i], resp, sizeof resp, 5000) > 0);
        assert_int_equal(strncmp(resp, "HTTP/1.1 200 ", 13), 0);
        close(fds[i]);
    }
    pthread_t th[8];
    struct worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){fx->port, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, 25);
    }
}

static void test_curl_cli(void **state)
{
    struct fixture *fx = *state;
    if (system("command -v curl >/dev/null 2>&1") != 0)
        skip();
    char cmd[512], out[1024] = "";
    SNP(cmd, sizeof cmd,
        "curl -sS --max-time 5 -w ' %%{http_code}' http://127.0.0.1:%d" PATH TOKEN, fx->port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_string_equal(out, AUTHZ " 200");
    SNP(cmd, sizeof cmd,
        "curl -sS --max-time 5 -o /dev/null -w '%%{http_code}' "
        "--path-as-is http://127.0.0.1:%d" PATH "../../etc/passwd",
        fx->port);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    assert_string_equal(out, "404");
}

/* ---- lifecycle and addresses (own servers) ---- */

static void test_start_stop_cycles(void **state)
{
    (void)state;
    char addr[64], resp[4096];
    struct ck_err e;
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);
    ck_http01_stop(NULL);
    for (int i = 0; i < 20; i++) {
        struct ck_http01 *s = NULL;
        if (ck_http01_start(addr, NULL, &s, &e) < 0)
            fail_msg("cycle %d: %s", i, e.msg);
        assert_int_equal(ck_http01_add(s, "tok", "tok.a", &e), 0);
        assert_int_equal(ck_http01_add(s, "tok2", "tok2.a", &e), 0);
        if (i % 2 == 0)
            assert_int_equal(get(port, PATH "tok", resp, sizeof resp), 200);
        /* a client still connected at stop time is no obstacle */
        int fd = i % 3 == 0 ? connect_to(AF_INET, port) : -1;
        ck_http01_stop(s);
        if (fd >= 0)
            close(fd);
    }
}

static void test_port_in_use_and_bad_addresses(void **state)
{
    (void)state;
    char addr[64];
    struct ck_err e;
    struct ck_http01 *a = NULL, *b = NULL;
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(ck_http01_start(addr, NULL, &a, &e), 0);
    assert_int_equal(ck_http01_start(addr, NULL, &b, &e), -1);
    assert_null(b);
    char want[128];
    SNP(want, sizeof want, "http-01: cannot listen on %s: %s (port %d is taken: ", addr,
        strerror(EADDRINUSE), port);
    assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
    assert_non_null(strstr(e.msg, "use --webroot"));
    ck_http01_stop(a);

    const char *bad[] = {"", "nope", ":", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                         "127.0.0.1:80x", "::1:80", "[::1]80", "[::1:80", "1.2.3.4:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ck_http01_start(bad[i], NULL, &b, &e), -1);
        assert_null(b);
        SNP(want, sizeof want, "http-01 listen %s: ", bad[i]);
        assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
        assert_int_equal(e.kind, CK_E_USAGE);
    }
    /* an address this host does not have */
    assert_int_equal(ck_http01_start("192.0.2.1:8080", NULL, &b, &e), -1);
    assert_non_null(strstr(e.msg, "192.0.2.1:8080"));
}

static void test_any_and_v6(void **state)
{
    (void)state;
    char addr[64], resp[4096];
    struct ck_err e;
    struct ck_http01 *s = NULL;
    int port = free_port();
    SNP(addr, sizeof addr, ":%d", port);
    assert_int_equal(ck_http01_start(addr, NULL, &s, &e), 0);
    assert_int_equal(ck_http01_add(s, "tok", "tok.any", &e), 0);
    assert_int_equal(get(port, PATH "tok", resp, sizeof resp), 200);
    int v6 = connect_to(AF_INET6, port);
    if (v6 >= 0) { /* dual-stack: the same socket answers on ::1 */
        close(v6);
        const char *req = "GET " PATH "tok HTTP/1.1\r\n\r\n";
        assert_int_equal(exchange(AF_INET6, port, req, strlen(req), resp, sizeof resp), 200);
    }
    ck_http01_stop(s);

    port = free_port();
    SNP(addr, sizeof addr, "[::1]:%d", port);
    if (ck_http01_start(addr, NULL, &s, &e) < 0) {
        assert_non_null(strstr(e.msg, addr)); /* no IPv6 here */
        return;
    }
    assert_int_equal(ck_http01_add(s, "tok", "tok.v6", &e), 0);
    const char *req = "GET " PATH "tok HTTP/1.1\r\n\r\n";
    assert_int_equal(exchange(AF_INET6, port, req, strlen(req), resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), "tok.v6");
    ck_http01_stop(s);
}

static void test_logs_requests(void **state)
{
    (void)state;
    char addr[64], resp[4096], *logbuf = NULL;
    size_t loglen = 0;
    struct ck_err e;
    struct ck_http01 *s = NULL;
    struct ck_log log;
    FILE *mem = open_memstream(&logbuf, &loglen);
    assert_non_null(mem);
    ck_log_init(&log, mem, CK_LOG_DEBUG, 0);
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(ck_http01_start(addr, &log, &s, &e), 0);
    assert_int_equal(ck_http01_add(s, "tok", "tok.secretish", &e), 0);
    assert_int_equal(get(port, PATH "tok", resp, sizeof resp), 200);
    assert_int_equal(get(port, PATH "other\x01", resp, sizeof resp), 404);
    ck_http01_stop(s);
    fclose(mem);
    assert_non_null(strstr(logbuf, "http01.request"));
    assert_non_null(strstr(logbuf, "\"GET " PATH "tok HTTP/1.1\" -> 200"));
    assert_non_null(strstr(logbuf, "-> 404"));
    assert_null(strstr(logbuf, "\x01"));           /* escaped */
    assert_null(strstr(logbuf, "tok.secretish")); /* the body is not logged */
    free(logbuf);
}

/* ---- webroot ---- */

static void test_webroot(void **state)
{
    (void)state;
    char root[] = "/tmp/ck_test_webroot.XXXXXX", p[PATH_MAX], buf[256];
    struct ck_err e;
    struct stat st;
    assert_non_null(mkdtemp(root));
    mode_t old = umask(077);
    assert_int_equal(ck_webroot_put(root, TOKEN, AUTHZ, &e), 0);
    umask(old);
    SNP(p, sizeof p, "%s" PATH TOKEN, root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, AUTHZ);
    SNP(p, sizeof p, "%s/.well-known/acme-challenge", root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    SNP(p, sizeof p, "%s/.well-known", root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);

    /* overwrite, then traversal attempts */
    assert_int_equal(ck_webroot_put(root, TOKEN, "new.value", &e), 0);
    const char *bad[] = {"../../escape", "..", "a/b", "", ".hidden"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ck_webroot_put(root, bad[i], "x", &e), -1);
        assert_non_null(strstr(e.msg, "base64url"));
        assert_int_equal(ck_webroot_remove(root, bad[i], &e), -1);
    }
    SNP(p, sizeof p, "%s/escape", root);
    assert_int_equal(stat(p, &st), -1);

    assert_int_equal(ck_webroot_remove(root, TOKEN, &e), 0);
    SNP(p, sizeof p, "%s" PATH TOKEN, root);
    assert_int_equal(stat(p, &st), -1);
    assert_int_equal(ck_webroot_remove(root, TOKEN, &e), 0); /* already gone: fine */

    SNP(p, sizeof p, "%s/missing", root);
    assert_int_equal(ck_webroot_put(p, TOKEN, AUTHZ, &e), -1);
    assert_non_null(strstr(e.msg, p));

    /* the app plants <webroot>/.well-known -> another directory: no token lands there */
    char other[PATH_MAX], wk[PATH_MAX];
    SNP(other, sizeof other, "%s/other", root);
    assert_int_equal(mkdir(other, 0700), 0);
    SNP(wk, sizeof wk, "%s/.well-known", root);
    SNP(buf, sizeof buf, "rm -rf '%s'", wk);
    assert_int_equal(system(buf), 0);
    assert_int_equal(symlink(other, wk), 0);
    assert_int_equal(ck_webroot_put(root, TOKEN, AUTHZ, &e), -1);
    assert_non_null(strstr(e.msg, wk));
    assert_non_null(strstr(e.msg, "symlink"));
    assert_int_equal(ck_webroot_remove(root, TOKEN, &e), 0);
    SNP(p, sizeof p, "%s/acme-challenge", other);
    assert_int_equal(stat(p, &st), -1);
    assert_int_equal(stat(other, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    SNP(buf, sizeof buf, "rm -rf '%s'", root);
    assert_int_equal(system(buf), 0);
}

/* ---- the bind errors, and listen-else-webroot ---- */

static void test_bind_fail_lines(void **state)
{
    (void)state;
    struct ck_err e;
    char want[512];
    assert_int_equal(ck_http01_bind_fail(&e, ":80", "80", EACCES, 0), -1);
    SNP(want, sizeof want, "http-01: cannot listen on :80: %s (non-root: set the pod sysctl "
        "net.ipv4.ip_unprivileged_port_start=0, or use --webroot)", strerror(EACCES));
    assert_string_equal(e.msg, want);
    assert_int_equal(e.kind, CK_E_IO);
    /* with a webroot configured, the way out is not "use --webroot" */
    assert_int_equal(ck_http01_bind_fail(&e, "0.0.0.0:443", "443", EACCES, 1), -1);
    assert_non_null(strstr(e.msg, "cannot listen on 0.0.0.0:443"));
    assert_non_null(strstr(e.msg, "ip_unprivileged_port_start=0"));
    assert_non_null(strstr(e.msg, "drop --http01-listen"));
    /* above 1024 the sysctl is not the cause */
    assert_int_equal(ck_http01_bind_fail(&e, ":8080", "8080", EACCES, 0), -1);
    assert_null(strstr(e.msg, "sysctl"));
    assert_non_null(strstr(e.msg, ":8080"));
    assert_int_equal(ck_http01_bind_fail(&e, "[::1]:80", "80", EADDRINUSE, 0), -1);
    SNP(want, sizeof want, "http-01: cannot listen on [::1]:80: %s (port 80 is taken: stop what "
        "holds it, or use --webroot with a directory it serves at " PATH ")",
        strerror(EADDRINUSE));
    assert_string_equal(e.msg, want);
    assert_int_equal(ck_http01_bind_fail(&e, ":80", "80", EADDRINUSE, 1), -1);
    assert_null(strstr(e.msg, "--webroot"));
    assert_int_equal(ck_http01_bind_fail(&e, ":80", "80", EADDRNOTAVAIL, 0), -1);
    assert_null(strchr(e.msg, '('));
    assert_null(strchr(e.msg, '\n'));
}

/* A plain listener on 127.0.0.1:port, as an app holding the port would be. */
static int hold_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    assert_true(fd >= 0);
    /* as servers do: the responder's connections may still be in TIME_WAIT */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static void test_pick(void **state)
{
    (void)state;
    char addr[64], want[256], resp[4096], *logbuf = NULL;
    size_t loglen = 0;
    struct ck_err e;
    struct ck_http01 *s = NULL;
    struct ck_log log;
    FILE *mem = open_memstream(&logbuf, &loglen);
    assert_non_null(mem);
    ck_log_init(&log, mem, CK_LOG_INFO, 0);
    const char *web = "/tmp/ck-web-never-written";
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);

    /* both, port free: the responder, and the log says so */
    assert_int_equal(ck_http01_pick(addr, web, &log, &s, &e), 0);
    assert_non_null(s);
    assert_int_equal(ck_http01_add(s, "tok", "tok.pick", &e), 0);
    assert_int_equal(get(port, PATH "tok", resp, sizeof resp), 200);
    ck_http01_stop(s);
    fflush(mem);
    SNP(want, sizeof want, "http-01: answering on %s", addr);
    assert_non_null(strstr(logbuf, want));

    /* both, port taken by another server: the webroot, and the log says so */
    int held = hold_port(port);
    s = (struct ck_http01 *)&s; /* garbage in: pick must reset it */
    assert_int_equal(ck_http01_pick(addr, web, &log, &s, &e), 0);
    assert_null(s);
    fflush(mem);
    SNP(want, sizeof want, "http-01: port %d is taken, writing tokens to the webroot %s", port, web);
    assert_non_null(strstr(logbuf, want));

    /* listen alone, port taken: one line naming the port and the webroot */
    assert_int_equal(ck_http01_pick(addr, NULL, &log, &s, &e), -1);
    assert_null(s);
    SNP(want, sizeof want, "port %d is taken", port);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "--webroot"));
    close(held);

    /* webroot alone: nothing is bound, nothing said */
    fflush(mem);
    size_t before = loglen;
    assert_int_equal(ck_http01_pick(NULL, web, &log, &s, &e), 0);
    assert_null(s);
    fflush(mem);
    assert_int_equal(loglen, before);
    assert_int_equal(ck_http01_pick(NULL, NULL, &log, &s, &e), -1);

    /* a listen address that does not parse is a setup error, never a fallback */
    assert_int_equal(ck_http01_pick("127.0.0.1:0", web, &log, &s, &e), -1);
    assert_null(s);
    assert_int_equal(e.kind, CK_E_USAGE);
    /* nor is an address this host does not have */
    assert_int_equal(ck_http01_pick("192.0.2.1:8080", web, &log, &s, &e), -1);
    assert_non_null(strstr(e.msg, "192.0.2.1:8080"));
    fclose(mem);
    assert_null(strstr(logbuf, "192.0.2.1"));
    free(logbuf);
}

/* As nobody (a real EACCES from the kernel), binding 127.0.0.1:81 with and without a webroot. */
/* Central validation on a directory store: put, serve (cached), remove, bad tokens. */
static void test_central(void **state)
{
    (void)state;
    char dir[] = "/tmp/ck-central-XXXXXX", addr[64], resp[4096], path[PATH_MAX];
    struct ck_store *st;
    struct ck_central *c;
    struct ck_err e;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ck_store_open_dir(dir, &st, &e), 0);
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(ck_central_start(addr, st, NULL, &c, &e), 0);

    assert_int_equal(get(port, PATH TOKEN, resp, sizeof resp), 404); /* not there yet */
    assert_int_equal(ck_central_put(st, TOKEN, AUTHZ, &e), 0);
    SNP(path, sizeof path, "%s/challenges/%s", dir, TOKEN);
    assert_int_equal(access(path, F_OK), 0);
    /* the 404 above is remembered for CK_CENTRAL_MISS_MS, then the store answers */
    usleep((CK_CENTRAL_MISS_MS + 200) * 1000);
    assert_int_equal(get(port, PATH TOKEN, resp, sizeof resp), 200);
    assert_string_equal(body_of(resp), AUTHZ);
    assert_int_equal(ck_central_remove(st, TOKEN, &e), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(ck_central_remove(st, TOKEN, &e), 0); /* gone already: fine */
    /* served from memory for a while, then 404 */
    assert_int_equal(get(port, PATH TOKEN, resp, sizeof resp), 200);
    usleep((CK_CENTRAL_HIT_MS + 200) * 1000);
    assert_int_equal(get(port, PATH TOKEN, resp, sizeof resp), 404);

    /* bad tokens: refused when put, 404 when asked */
    assert_int_equal(ck_central_put(st, "../x", AUTHZ, &e), -1);
    char long_tok[CK_STORE_PART_MAX + 2];
    memset(long_tok, 'a', sizeof long_tok - 1);
    long_tok[sizeof long_tok - 1] = '\0';
    assert_int_equal(ck_central_put(st, long_tok, AUTHZ, &e), -1);
    assert_int_equal(get(port, PATH "a.b", resp, sizeof resp), 404);
    char target[512];
    SNP(target, sizeof target, PATH "%s", long_tok);
    assert_int_equal(get(port, target, resp, sizeof resp), 404);
    /* an object that is not a key authorization is not served */
    SNP(path, sizeof path, "%s/challenges/Bad_Body", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("two words\n", f);
    fclose(f);
    assert_int_equal(get(port, PATH "Bad_Body", resp, sizeof resp), 404);
    unlink(path);

    ck_central_stop(c);
    ck_central_stop(NULL);
    ck_store_close(st);
    SNP(path, sizeof path, "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

static void test_pick_eacces(void **state)
{
    (void)state;
    int start = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
    if (f) {
        if (fscanf(f, "%d", &start) != 1)
            start = 0;
        fclose(f);
    }
    if (geteuid() != 0 || start <= 81) {
        fprintf(stderr, "skip: needs root to drop to nobody, and port 81 privileged (is %d)\n",
                start);
        skip();
    }
    for (int with_web = 0; with_web < 2; with_web++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            struct ck_err e;
            struct ck_http01 *s = NULL;
            if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
                _exit(3);
            int rc = ck_http01_pick("127.0.0.1:81", with_web ? "/tmp" : NULL, NULL, &s, &e);
            ssize_t w = write(p[1], e.msg, strlen(e.msg));
            (void)w;
            _exit(rc == -1 && !s ? 0 : 4);
        }
        close(p[1]);
        char msg[600] = "";
        size_t n = 0;
        ssize_t r;
        while (n < sizeof msg - 1 && (r = read(p[0], msg + n, sizeof msg - 1 - n)) > 0)
            n += (size_t)r;
        msg[n] = '\0';
        close(p[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        assert_non_null(strstr(msg, "http-01: cannot listen on 127.0.0.1:81: "));
        assert_non_null(strstr(msg, "net.ipv4.ip_unprivileged_port_start=0"));
        assert_non_null(strstr(msg, with_web ? "drop --http01-listen" : "or use --webroot"));
    }
}

/* ---- tls-alpn-01: openssl s_client as the CA's validator ---- */

/* s_client's report of one handshake, then the text of the certificate it got (if any). */
static void s_client(int port, const char *sni, const char *alpn, char *out, size_t sz)
{
    char cmd[1024];
    SNP(cmd, sizeof cmd,
        "o=$(timeout 30 openssl s_client -connect 127.0.0.1:%d %s%s %s%s </dev/null 2>&1); "
        "printf '%%s\\n' \"$o\"; printf '%%s\\n' \"$o\" | "
        "openssl x509 -noout -text -certopt ext_dump 2>/dev/null",
        port, sni ? "-servername " : "-noservername", sni ? sni : "", alpn ? "-alpn " : "",
        alpn ? alpn : "");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sz - 1, p);
    out[n] = '\0';
    pclose(p);
}

static void test_tlsalpn01(void **state)
{
    (void)state;
    if (system("command -v openssl >/dev/null 2>&1") != 0)
        skip();
    static char out[65536];
    char addr[64], want[128];
    unsigned char d[32];
    struct ck_err e;
    struct ck_tlsalpn01 *s = NULL, *b = NULL;
    int port = free_port();
    SNP(addr, sizeof addr, "127.0.0.1:%d", port);
    assert_int_equal(ck_tlsalpn01_start(addr, NULL, &s, &e), 0);
    assert_int_equal(ck_tlsalpn01_present(s, "a.example.com", TOKEN, AUTHZ, &e), 0);
    assert_int_equal(ck_tlsalpn01_present(s, "b.example.com", "t2", "t2.x", &e), 0);
    /* an idle client and one that sent half a record hold up nobody */
    int idle = connect_to(AF_INET, port), partial = connect_to(AF_INET, port);
    assert_true(idle >= 0 && partial >= 0);
    assert_int_equal(send_all(partial, "\x16\x03\x01\x02\x00\x01", 6), 0);

    s_client(port, "a.example.com", "acme-tls/1", out, sizeof out);
    assert_non_null(strstr(out, "ALPN protocol: acme-tls/1"));
    assert_non_null(strstr(out, "DNS:a.example.com\n"));
    assert_non_null(strstr(out, "1.3.6.1.5.5.7.1.31: critical"));
    ck_sha256(AUTHZ, strlen(AUTHZ), d);
    SNP(want, sizeof want, "0000 - 04 20 %02x %02x %02x %02x %02x %02x-", d[0], d[1], d[2], d[3],
        d[4], d[5]);
    if (!strstr(out, want))
        fail_msg("no '%s' in: %.3000s", want, out);
    s_client(port, "B.example.com", "acme-tls/1", out, sizeof out);
    assert_non_null(strstr(out, "DNS:b.example.com\n"));
    assert_null(strstr(out, "DNS:a.example.com"));

    /* refused: another protocol, no ALPN, an unknown name, no SNI */
    s_client(port, "a.example.com", "http/1.1", out, sizeof out);
    assert_null(strstr(out, "BEGIN CERTIFICATE"));
    assert_non_null(strstr(out, "no application protocol"));
    s_client(port, "a.example.com", NULL, out, sizeof out);
    assert_null(strstr(out, "BEGIN CERTIFICATE"));
    s_client(port, "c.example.com", "acme-tls/1", out, sizeof out);
    assert_null(strstr(out, "BEGIN CERTIFICATE"));
    s_client(port, NULL, "acme-tls/1", out, sizeof out);
    assert_null(strstr(out, "BEGIN CERTIFICATE"));

    /* cleanup takes the name away, the other stays */
    ck_tlsalpn01_cleanup(s, "a.example.com", TOKEN, AUTHZ);
    s_client(port, "a.example.com", "acme-tls/1", out, sizeof out);
    assert_null(strstr(out, "BEGIN CERTIFICATE"));
    s_client(port, "b.example.com", "acme-tls/1", out, sizeof out);
    assert_non_null(strstr(out, "DNS:b.example.com\n"));

    /* a taken port: one line naming it */
    assert_int_equal(ck_tlsalpn01_start(addr, NULL, &b, &e), -1);
    assert_null(b);
    SNP(want, sizeof want, "tls-alpn-01: cannot listen on %s: %s (port %d ", addr,
        strerror(EADDRINUSE), port);
    assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(ck_tlsalpn01_start("127.0.0.1:0", NULL, &b, &e), -1);
    assert_non_null(strstr(e.msg, "tls-alpn-01 listen 127.0.0.1:0: "));
    assert_int_equal(e.kind, CK_E_USAGE);

    /* stopped with clients still connected: the port is closed */
    ck_tlsalpn01_stop(s);
    close(idle);
    close(partial);
    int fd = connect_to(AF_INET, port);
    assert_true(fd < 0);
    ck_tlsalpn01_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serves_token, start, stop),
        cmocka_unit_test_setup_teardown(test_table, start, stop),
        cmocka_unit_test_setup_teardown(test_bad_requests, start, stop),
        cmocka_unit_test_setup_teardown(test_oversized, start, stop),
        cmocka_unit_test_setup_teardown(test_slow_client_blocks_nobody, start, stop),
        cmocka_unit_test_setup_teardown(test_concurrent, start, stop),
        cmocka_unit_test_setup_teardown(test_curl_cli, start, stop),
        cmocka_unit_test(test_start_stop_cycles),
        cmocka_unit_test(test_port_in_use_and_bad_addresses),
        cmocka_unit_test(test_any_and_v6),
        cmocka_unit_test(test_logs_requests),
        cmocka_unit_test(test_webroot),
        cmocka_unit_test(test_bind_fail_lines),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_pick_eacces),
        cmocka_unit_test(test_central),
        cmocka_unit_test(test_tlsalpn01),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
