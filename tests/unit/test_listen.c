/* lib/listen over real loopback sockets, the loop driven from this thread: eviction of
 * the oldest idle connection (the newcomer's own address first) when every slot is
 * taken, the head deadline counted from accept (a slow drip does not extend it), an
 * oversize head, the slot count under a low RLIMIT_NOFILE, and no leaked descriptor. */
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "listen/listen.h"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct seen {
    int calls, oversize;
    size_t len;
};

/* Answers 200 with what it was given: the length and the oversize flag. */
static int echo(void *ctx, const char *head, size_t len, int oversize, char **out,
                size_t *out_len)
{
    struct seen *s = ctx;
    s->calls++;
    s->len = len;
    s->oversize = oversize;
    assert_int_equal(head[len], '\0');
    char body[64];
    int n = snprintf(body, sizeof body, "len=%zu oversize=%d", len, oversize);
    if (!(*out = malloc(128)))
        return -1;
    *out_len = (size_t)snprintf(*out, 128, "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s",
                                oversize ? 431 : 200, n, body);
    return oversize ? 431 : 200;
}

static struct ck_listen *start(size_t max_head, size_t slots, struct seen *s, int *port)
{
    struct ck_err e;
    int bind_err;
    int fd = ck_listen_socket("127.0.0.1:0", "listen", &bind_err, &e);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    struct ck_listen *l = NULL;
    assert_int_equal(ck_listen_new(fd, max_head, slots, echo, s, NULL, "test", &l, &e), 0);
    return l;
}

/* The loop for ms milliseconds. */
static void serve(struct ck_listen *l, int ms)
{
    long long end = now_ms() + ms;
    struct pollfd pfd[CK_LISTEN_MAX_FDS];
    do {
        int timeout = 20;
        size_t n = ck_listen_pollfds(l, pfd, CK_LISTEN_MAX_FDS, &timeout);
        int r = poll(pfd, n, timeout);
        assert_true(r >= 0 || errno == EINTR);
        ck_listen_handle(l, pfd, r < 0 ? 0 : n);
    } while (now_ms() < end);
}

/* A connection to port from the source address `from` (127.0.0.x). */
static int dial(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in src = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, from, &src.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof src), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* 1 when the server closed fd (EOF after whatever it sent), 0 while it is open. */
static int closed(int fd)
{
    char buf[256];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 1;
        if (r < 0)
            return 0;
    }
}

/* Sends req and reads the response the loop gives (served in between). */
static int ask(struct ck_listen *l, int fd, const char *req, size_t len, char *resp, size_t sz)
{
    assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
    size_t got = 0;
    long long end = now_ms() + 3000;
    while (now_ms() < end) {
        serve(l, 20);
        ssize_t r = recv(fd, resp + got, sz - 1 - got, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            break;
    }
    resp[got] = '\0';
    return (int)got;
}

static void test_evicts_oldest_idle(void **state)
{
    (void)state;
    struct seen s = {0};
    int port;
    struct ck_listen *l = start(1024, 4, &s, &port);
    assert_int_equal(ck_listen_slots(l), 4);
    /* a: 127.0.0.2 (oldest), b, c: 127.0.0.1, d: 127.0.0.2 */
    const char *from[4] = {"127.0.0.2", "127.0.0.1", "127.0.0.1", "127.0.0.2"};
    int fd[4];
    for (int i = 0; i < 4; i++) {
        fd[i] = dial(port, from[i]);
        serve(l, 30); /* accepted in this order */
    }
    assert_int_equal(ck_listen_count(l), 4);
    /* a newcomer from 127.0.0.1 evicts the oldest of its own address (b), not a */
    int n1 = dial(port, "127.0.0.1");
    serve(l, 50);
    assert_int_equal(closed(fd[1]), 1);
    assert_int_equal(closed(fd[0]) + closed(fd[2]) + closed(fd[3]), 0);
    /* and is served */
    char resp[256];
    const char req[] = "GET / HTTP/1.1\r\n\r\n";
    assert_true(ask(l, n1, req, sizeof req - 1, resp, sizeof resp) > 0);
    assert_non_null(strstr(resp, "HTTP/1.1 200 "));
    close(n1);
    serve(l, 50);
    /* full again; a newcomer from an address holding none evicts the oldest overall (a) */
    int n2 = dial(port, "127.0.0.1");
    serve(l, 30);
    assert_int_equal(ck_listen_count(l), 4);
    int n3 = dial(port, "127.0.0.3");
    serve(l, 50);
    assert_int_equal(closed(fd[0]), 1);
    assert_int_equal(closed(fd[2]) + closed(fd[3]) + closed(n2), 0);
    assert_true(ask(l, n3, req, sizeof req - 1, resp, sizeof resp) > 0);
    assert_non_null(strstr(resp, "HTTP/1.1 200 "));
    assert_int_equal(s.calls, 2);
    for (int i = 0; i < 4; i++)
        close(fd[i]);
    close(n2);
    close(n3);
    ck_listen_free(l);
}

static void test_head_deadline(void **state)
{
    (void)state;
    struct seen s = {0};
    int port;
    struct ck_listen *l = start(1024, 8, &s, &port);
    int idle = dial(port, "127.0.0.1"), drip = dial(port, "127.0.0.1");
    long long t0 = now_ms(), idle_at = 0, drip_at = 0;
    serve(l, 20);
    /* the loop sleeps until the next deadline, no longer */
    struct pollfd pfd[CK_LISTEN_MAX_FDS];
    int timeout = -1;
    assert_int_equal(ck_listen_pollfds(l, pfd, CK_LISTEN_MAX_FDS, &timeout), 3);
    assert_true(timeout > 0 && timeout <= CK_LISTEN_HEAD_MS);
    ck_listen_handle(l, pfd, 0);
    const char *head = "GET / HTTP/1.1\r\nX: ";
    for (size_t i = 0; now_ms() - t0 < 6000 && (!idle_at || !drip_at); i++) {
        if (!drip_at && i < strlen(head))
            send(drip, head + i, 1, MSG_NOSIGNAL); /* a byte every 300 ms, never the end */
        serve(l, 300);
        if (!idle_at && closed(idle))
            idle_at = now_ms() - t0;
        if (!drip_at && closed(drip))
            drip_at = now_ms() - t0;
    }
    /* both dropped at the deadline counted from accept: the drip bought nothing */
    assert_true(idle_at >= CK_LISTEN_HEAD_MS - 500 && idle_at < CK_LISTEN_HEAD_MS + 2000);
    assert_true(drip_at >= CK_LISTEN_HEAD_MS - 500 && drip_at < CK_LISTEN_HEAD_MS + 2000);
    assert_int_equal(s.calls, 0);
    assert_int_equal(ck_listen_count(l), 0);
    close(idle);
    close(drip);
    ck_listen_free(l);
}

static void test_oversize_head(void **state)
{
    (void)state;
    struct seen s = {0};
    int port;
    struct ck_listen *l = start(64, 8, &s, &port);
    char req[300], resp[512];
    /* 200 bytes and no end of head: answered as oversize after 64 */
    memset(req, 'h', 200);
    int fd = dial(port, "127.0.0.1");
    assert_true(ask(l, fd, req, 200, resp, sizeof resp) > 0);
    close(fd);
    assert_non_null(strstr(resp, "HTTP/1.1 431 "));
    assert_int_equal(s.oversize, 1);
    assert_int_equal(s.len, 64);
    /* exactly 64 with its end: a normal request */
    const char *start_line = "GET / HTTP/1.1\r\nX: ";
    size_t sl = strlen(start_line);
    memcpy(req, start_line, sl);
    memset(req + sl, 'b', 64 - sl - 4);
    memcpy(req + 60, "\r\n\r\n", 4);
    fd = dial(port, "127.0.0.1");
    assert_true(ask(l, fd, req, 64, resp, sizeof resp) > 0);
    close(fd);
    assert_non_null(strstr(resp, "HTTP/1.1 200 "));
    assert_non_null(strstr(resp, "len=64 oversize=0"));
    /* a bare-LF head ends at the blank line; what follows is not part of it */
    fd = dial(port, "127.0.0.1");
    const char lf[] = "GET / HTTP/1.0\n\nbody";
    assert_true(ask(l, fd, lf, sizeof lf - 1, resp, sizeof resp) > 0);
    close(fd);
    assert_non_null(strstr(resp, "len=16 oversize=0"));
    ck_listen_free(l);
}

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

static void test_slots_and_fds(void **state)
{
    (void)state;
    struct seen s = {0};
    int port, before = count_fds();
    /* a low descriptor limit lowers the slot count, leaving room for the rest */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 300;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct ck_listen *l = start(1024, 0, &s, &port);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(ck_listen_slots(l) < 300 && ck_listen_slots(l) >= 16);
    ck_listen_free(l);
    if (old.rlim_cur == RLIM_INFINITY || old.rlim_cur >= CK_LISTEN_MAX_CONNS + 128) {
        l = start(1024, 0, &s, &port);
        assert_int_equal(ck_listen_slots(l), CK_LISTEN_MAX_CONNS);
        ck_listen_free(l);
    }
    /* connections open at free time are closed with it */
    l = start(1024, 8, &s, &port);
    int fd[3];
    for (int i = 0; i < 3; i++)
        fd[i] = dial(port, "127.0.0.1");
    serve(l, 50);
    assert_int_equal(ck_listen_count(l), 3);
    ck_listen_free(l);
    ck_listen_free(NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(closed(fd[i]), 1);
        close(fd[i]);
    }
    assert_int_equal(count_fds(), before);
}

static void test_addresses(void **state)
{
    (void)state;
    char host[64], port[8];
    assert_int_equal(ck_listen_split("[::1]:80", host, sizeof host, port, sizeof port), 0);
    assert_string_equal(host, "::1");
    assert_string_equal(port, "80");
    assert_int_equal(ck_listen_split("8080", host, sizeof host, port, sizeof port), 0);
    assert_string_equal(host, "");
    const char *bad[] = {"::1:80", ":99999", ":", "[::1", "a:b", ":-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ck_listen_split(bad[i], host, sizeof host, port, sizeof port), -1);
    struct ck_err e;
    int bind_err;
    int fd = ck_listen_socket("127.0.0.1:0", "listen", &bind_err, &e);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    char busy[32];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", ntohs(sa.sin_port));
    assert_int_equal(ck_listen_socket(busy, "http-01 listen", &bind_err, &e), -1);
    assert_int_equal(bind_err, EADDRINUSE);
    assert_non_null(strstr(e.msg, "http-01 listen 127.0.0.1:"));
    assert_int_equal(ck_listen_socket("nonsense:x", "listen", &bind_err, &e), -1);
    assert_int_equal(bind_err, 0);
    assert_int_equal(e.kind, CK_E_USAGE);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evicts_oldest_idle),
        cmocka_unit_test(test_head_deadline),
        cmocka_unit_test(test_oversize_head),
        cmocka_unit_test(test_slots_and_fds),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
