/* lib/http against real local servers: a Python HTTP server (bodies, headers,
 * Retry-After, keep-alive) and `openssl s_server` instances with certificates
 * from a test CA made here (trust, unknown CA, wrong name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"

static char dir[64];
static int http_port, tls_a, tls_b, tls_other, tls_ca2;
static pid_t pids[8];
static int n_pids;

/* ---- helpers -------------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static int wait_port(int port)
{
    for (int i = 0; i < 200; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return 0;
        usleep(25000);
    }
    return -1;
}

static int spawn(const char *cmd, int port)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    pids[n_pids++] = pid;
    return wait_port(port);
}

static int start_tls(const char *leaf, int *port)
{
    char cmd[512];
    *port = free_port();
    snprintf(cmd, sizeof cmd,
             "exec openssl s_server -quiet -www -accept 127.0.0.1:%d -cert %s/%s.pem -key %s/%s.key"
             " >/dev/null 2>&1 </dev/null", *port, dir, leaf, dir, leaf);
    return spawn(cmd, *port);
}

static const char *server_py =
    "import sys, time, email.utils\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def send(self, code, body, hdrs=()):\n"
    "        self.send_response(code)\n"
    "        for k, v in hdrs: self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        if self.command != 'HEAD': self.wfile.write(body)\n"
    "    def body(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        return self.rfile.read(n) if n else b''\n"
    "    def do_GET(self):\n"
    "        p, b = self.path, self.body()\n"
    "        if p == '/big': self.send(200, b'x' * (2 << 20))\n"
    "        elif p == '/small': self.send(200, b'y' * 100)\n"
    "        elif p == '/chunked':\n"
    "            self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()\n"
    "            for _ in range(50): self.wfile.write(b'1000\\r\\n' + b'z' * 4096 + b'\\r\\n')\n"
    "            self.wfile.write(b'0\\r\\n\\r\\n')\n"
    "        elif p == '/retry': self.send(503, b'busy', [('Retry-After', '7')])\n"
    "        elif p == '/retry0': self.send(429, b'', [('Retry-After', '0')])\n"
    "        elif p == '/retrydate': self.send(429, b'', [('Retry-After', email.utils.formatdate(time.time() + 120, usegmt=True))])\n"
    "        elif p == '/redirect': self.send(302, b'', [('Location', '/small')])\n"
    "        elif p == '/links': self.send(200, b'', [('Link', '<https://a.example/x>;rel=\"alternate\"'),\n"
    "                 ('Link', '</cert/up>; rel=\"up\", <https://b.example/y>; rel=\"alternate\"')])\n"
    "        elif p == '/auth': self.send(200, (self.headers.get('Authorization') or '-').encode())\n"
    "        elif p == '/slow': time.sleep(3); self.send(200, b'late')\n"
    "        elif p == '/hugeheaders':\n"
    "            self.send_response(200)\n"
    "            for i in range(100): self.send_header('X-Pad-%d' % i, 'p' * 1000)\n"
    "            self.send_header('Content-Length', '0'); self.end_headers()\n"
    "        else:\n"
    "            ua = self.headers.get('User-Agent', '-')\n"
    "            x = self.headers.get('X-Test', '-')\n"
    "            self.send(200, ('%s %d %d %s %s %s' % (self.command, self.client_address[1], len(b), ua, x,\n"
    "                       b.decode())).encode())\n"
    "    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET\n"
    "ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

static int make_pki(void)
{
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    if (sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj /CN=ck-test-ca"
           " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
           " >/dev/null 2>&1", dir, ec) != 0)
        return -1;
    if (sh("cd %s && openssl req -x509 %s -keyout ca2.key -out ca2.pem -days 2 -subj /CN=ck-other-ca"
           " -addext basicConstraints=critical,CA:TRUE >/dev/null 2>&1", dir, ec) != 0)
        return -1;
    /* leaf, its DNS name, the CA that signs it */
    const char *names[3][3] = { { "leaf", "localhost", "ca" }, { "other", "other.example", "ca" },
                                { "leaf2", "localhost", "ca2" } };
    for (int i = 0; i < 3; i++) {
        if (sh("cd %s && printf 'subjectAltName=DNS:%s\\nbasicConstraints=CA:FALSE\\n"
               "extendedKeyUsage=serverAuth\\n' >%s.ext && openssl req %s -keyout %s.key -out %s.csr"
               " -subj /CN=%s >/dev/null 2>&1 && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key"
               " -CAcreateserial -days 2 -extfile %s.ext -out %s.pem >/dev/null 2>&1",
               dir, names[i][1], names[i][0], ec, names[i][0], names[i][0], names[i][1], names[i][0],
               names[i][2], names[i][2], names[i][0], names[i][0]) != 0)
            return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-http-XXXXXX");
    if (mkdtemp(dir) == NULL || make_pki() != 0)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/server.py", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(server_py, f);
    fclose(f);
    char cmd[256];
    http_port = free_port();
    snprintf(cmd, sizeof cmd, "exec python3 %s %d >/dev/null 2>&1 </dev/null", path, http_port);
    if (spawn(cmd, http_port) != 0 || start_tls("leaf", &tls_a) != 0 ||
        start_tls("leaf", &tls_b) != 0 || start_tls("other", &tls_other) != 0 ||
        start_tls("leaf2", &tls_ca2) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_pids; i++) {
        kill(pids[i], SIGTERM);
        waitpid(pids[i], NULL, 0);
    }
    if (dir[0] != '\0')
        sh("rm -rf %s", dir);
    return 0;
}

static struct ck_http *new_http(const char *bundle_file)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, bundle_file);
    struct ck_http_opts o = { .ca_bundle = path, .user_agent = "certkeep-test/1.0",
                              .connect_timeout_ms = 3000, .timeout_ms = 10000 };
    struct ck_http *h = NULL;
    struct ck_err e;
    ck_err_clear(&e);
    int rc = ck_http_new(&o, &h, &e);
    if (rc != 0)
        print_error("ck_http_new: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return h;
}

static int get(struct ck_http *h, const char *url, size_t max, struct ck_http_resp *r, struct ck_err *e)
{
    struct ck_http_req q = { .method = "GET", .url = url, .max_body = max };
    ck_err_clear(e);
    return ck_http_do(h, &q, r, e);
}

static struct ck_http_resp crafted(const char *hdrs)
{
    struct ck_http_resp r = { .headers = (char *)hdrs, .headers_len = strlen(hdrs), .retry_after = -1 };
    return r;
}

/* ---- header and Link parsing ------------------------------------------------------- */

static void test_header_parse(void **state)
{
    (void)state;
    struct ck_http_resp r = crafted("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    "X-Empty:\r\nretry-after:   12  \r\nReplay-Nonce: abc\r\n"
                                    "Replay-Nonce: second\r\nX-Last: no-newline");
    char v[64];
    assert_int_equal(ck_http_header(&r, "content-type", v, sizeof v), 0);
    assert_string_equal(v, "application/json");
    assert_int_equal(ck_http_header(&r, "Retry-After", v, sizeof v), 0);
    assert_string_equal(v, "12");
    assert_int_equal(ck_http_header(&r, "Replay-Nonce", v, sizeof v), 0);
    assert_string_equal(v, "abc");  /* the first one */
    assert_int_equal(ck_http_header(&r, "X-Empty", v, sizeof v), 0);
    assert_string_equal(v, "");
    assert_int_equal(ck_http_header(&r, "X-Last", v, sizeof v), 0);
    assert_string_equal(v, "no-newline");
    assert_int_equal(ck_http_header(&r, "Content", v, sizeof v), -1);   /* prefix only */
    assert_int_equal(ck_http_header(&r, "Location", v, sizeof v), -1);  /* absent */
    assert_int_equal(ck_http_header(&r, "HTTP/1.1 200 OK", v, sizeof v), -1);
    /* exactly cap-1 fits, cap does not */
    assert_int_equal(ck_http_header(&r, "content-type", v, 17), 0);
    assert_int_equal(ck_http_header(&r, "content-type", v, 16), -1);

    /* hostile: a huge value, a NUL inside a value, bare LF line ends */
    size_t big = 200000;
    char *blk = malloc(big + 64);
    assert_non_null(blk);
    int n = snprintf(blk, 64, "HTTP/1.1 200 OK\nX-Huge: ");
    memset(blk + n, 'h', big);
    strcpy(blk + n + big, "\nX-Ok: fine\n");
    struct ck_http_resp h = crafted(blk);
    assert_int_equal(ck_http_header(&h, "X-Huge", v, sizeof v), -1);
    assert_int_equal(ck_http_header(&h, "X-Ok", v, sizeof v), 0);
    assert_string_equal(v, "fine");
    free(blk);

    char nul[] = "HTTP/1.1 200 OK\r\nX-Nul: a\0b\r\nX-After: yes\r\n";
    struct ck_http_resp z = { .headers = nul, .headers_len = sizeof nul - 1 };
    assert_int_equal(ck_http_header(&z, "X-Nul", v, sizeof v), -1);
    assert_int_equal(ck_http_header(&z, "X-After", v, sizeof v), 0);
    assert_string_equal(v, "yes");

    struct ck_http_resp empty = { 0 };
    assert_int_equal(ck_http_header(&empty, "X", v, sizeof v), -1);
}

static void test_link_parse(void **state)
{
    (void)state;
    const char *base = "https://ca.example:14000/acme/cert/abc?x=1";
    char u[256];
    struct ck_http_resp r = crafted(
        "HTTP/1.1 200 OK\r\n"
        "Link: <https://ca.example:14000/dir>;rel=\"index\"\r\n"
        "link: </acme/cert/abc/1>; rel=\"alternate\", <alt2>;rel=alternate ,"
        " <https://ca.example/up,with,commas>; title=\"a, b; rel=up\"; rel=\"UP other\"\r\n"
        "Link: <../issuer>; rel=up; rel=alternate\r\n"
        "Link: <https://evil.example/x; rel=\"up\"\r\n"          /* missing '>' */
        "Link: <https://ca.example/unclosed>; title=\"oops; rel=\"up\r\n" /* unclosed quote */
        "Link: <ftp://ca.example/file>; rel=up\r\n"
        "Link: garbage; rel=up\r\n"
        "\r\n");
    assert_int_equal(ck_http_link(&r, "index", 0, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example:14000/dir");
    assert_int_equal(ck_http_link(&r, "alternate", 0, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example:14000/acme/cert/abc/1");
    assert_int_equal(ck_http_link(&r, "alternate", 1, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example:14000/acme/cert/alt2");
    /* rel=alternate after rel=up in the same link-value is ignored (first rel only) */
    assert_int_equal(ck_http_link(&r, "alternate", 2, base, u, sizeof u), -1);
    assert_int_equal(ck_http_link(&r, "up", 0, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example/up,with,commas");
    assert_int_equal(ck_http_link(&r, "up", 1, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example:14000/acme/issuer");
    assert_int_equal(ck_http_link(&r, "other", 0, base, u, sizeof u), 0);
    /* the malformed ones and the ftp link are never returned */
    assert_int_equal(ck_http_link(&r, "up", 2, base, u, sizeof u), -1);
    assert_string_equal(u, "");
    assert_int_equal(ck_http_link(&r, "next", 0, base, u, sizeof u), -1);
    /* too small an output buffer */
    assert_int_equal(ck_http_link(&r, "index", 0, base, u, 10), -1);
    /* relative without a base cannot be resolved; absolute can */
    assert_int_equal(ck_http_link(&r, "alternate", 0, NULL, u, sizeof u), -1);
    assert_int_equal(ck_http_link(&r, "index", 0, NULL, u, sizeof u), 0);

    /* hostile: a link with a 100 KB URL, then a normal one */
    size_t big = 100000;
    char *blk = malloc(big + 200);
    assert_non_null(blk);
    int n = snprintf(blk, 64, "HTTP/1.1 200 OK\r\nLink: <https://x/");
    memset(blk + n, 'a', big);
    strcpy(blk + n + big, ">; rel=up, </ok>; rel=up\r\n\r\n");
    struct ck_http_resp h = crafted(blk);
    assert_int_equal(ck_http_link(&h, "up", 0, base, u, sizeof u), -1);
    assert_int_equal(ck_http_link(&h, "up", 1, base, u, sizeof u), 0);
    assert_string_equal(u, "https://ca.example:14000/ok");
    free(blk);
}

/* ---- plain HTTP against the Python server ------------------------------------------- */

static void url(char *out, size_t cap, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", http_port, path);
}

static void test_max_body(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];

    url(u, sizeof u, "/big");  /* 2 MiB with Content-Length, default limit 1 MiB */
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "larger than 1048576"));
    assert_null(r.body);
    ck_http_resp_free(&r);
    assert_int_equal(get(h, u, 3u << 20, &r, &e), 0);
    assert_int_equal(r.body_len, 2u << 20);
    ck_http_resp_free(&r);

    url(u, sizeof u, "/small");  /* 100 bytes */
    assert_int_equal(get(h, u, 99, &r, &e), -1);
    assert_non_null(strstr(e.msg, u));
    assert_int_equal(get(h, u, 100, &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 100);
    assert_int_equal(r.body[100], '\0');
    ck_http_resp_free(&r);

    url(u, sizeof u, "/chunked");  /* 200 KiB without Content-Length: the stream is cut */
    assert_int_equal(get(h, u, 100000, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, "larger than 100000"));
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_int_equal(r.body_len, 50 * 4096);
    ck_http_resp_free(&r);

    url(u, sizeof u, "/hugeheaders");  /* 100 KB of headers, limit 64 KiB */
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_non_null(strstr(e.msg, "headers larger than"));
    ck_http_free(h);
}

static void test_retry_after(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];

    url(u, sizeof u, "/retry");
    assert_int_equal(get(h, u, 0, &r, &e), 0);  /* any status is success */
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after, 7);
    assert_string_equal(r.body, "busy");
    ck_http_resp_free(&r);

    url(u, sizeof u, "/retry0");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_int_equal(r.status, 429);
    assert_int_equal(r.retry_after, 0);
    assert_int_equal(r.body_len, 0);
    assert_non_null(r.body);
    ck_http_resp_free(&r);

    url(u, sizeof u, "/retrydate");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_in_range(r.retry_after, 100, 121);
    ck_http_resp_free(&r);

    url(u, sizeof u, "/small");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_int_equal(r.retry_after, -1);
    ck_http_resp_free(&r);
    ck_http_free(h);
}

/* Same client port twice: the connection was kept; no redirect is followed. */
static void test_keepalive_ua_redirect(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128], first[256], loc[64];

    url(u, sizeof u, "/echo");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    snprintf(first, sizeof first, "%s", r.body);
    assert_non_null(strstr(r.body, " certkeep-test/1.0 "));
    ck_http_resp_free(&r);
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_string_equal(r.body, first);  /* same method, port, UA */
    ck_http_resp_free(&r);

    url(u, sizeof u, "/redirect");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_int_equal(r.status, 302);
    assert_int_equal(ck_http_header(&r, "Location", loc, sizeof loc), 0);
    assert_string_equal(loc, "/small");
    assert_int_equal(r.body_len, 0);
    ck_http_resp_free(&r);
    ck_http_free(h);
}

/* Nothing listens: the line says what the system said, not curl's bare "Error". */
static void test_connection_refused(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);  /* a free port, then closed */
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    if (!strstr(e.msg, u) || !strstr(e.msg, "Connection refused") || strstr(e.msg, ": Error"))
        fail_msg("%s", e.msg);
    ck_http_free(h);
}

static void test_methods(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];
    const char *hdrs[] = { "X-Test: hello", "Content-Type: application/jose+json" };
    url(u, sizeof u, "/echo");

    struct ck_http_req q = { .method = "POST", .url = u, .headers = hdrs, .n_headers = 2,
                             .body = "{\"a\":1}", .body_len = 7 };
    assert_int_equal(ck_http_do(h, &q, &r, &e), 0);
    assert_true(strncmp(r.body, "POST ", 5) == 0);
    assert_non_null(strstr(r.body, " 7 certkeep-test/1.0 hello {\"a\":1}"));
    ck_http_resp_free(&r);

    q.method = "PUT";
    q.body = "put-body";
    q.body_len = 8;
    assert_int_equal(ck_http_do(h, &q, &r, &e), 0);
    assert_true(strncmp(r.body, "PUT ", 4) == 0);
    assert_non_null(strstr(r.body, " 8 certkeep-test/1.0 hello put-body"));
    ck_http_resp_free(&r);

    struct ck_http_req d = { .method = "DELETE", .url = u };
    assert_int_equal(ck_http_do(h, &d, &r, &e), 0);
    assert_true(strncmp(r.body, "DELETE ", 7) == 0);
    ck_http_resp_free(&r);

    struct ck_http_req hd = { .method = "HEAD", .url = u };
    assert_int_equal(ck_http_do(h, &hd, &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    ck_http_resp_free(&r);

    /* the GET after a POST must not carry the old body */
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_true(strncmp(r.body, "GET ", 4) == 0);
    assert_non_null(strstr(r.body, " 0 certkeep-test/1.0 - "));
    ck_http_resp_free(&r);

    /* a 100 Continue before the answer: only the final header block is kept */
    const char *expect[] = { "Expect: 100-continue" };
    struct ck_http_req ex = { .method = "POST", .url = u, .headers = expect, .n_headers = 1,
                              .body = "abc", .body_len = 3 };
    assert_int_equal(ck_http_do(h, &ex, &r, &e), 0);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.headers, "HTTP/1.1 200", 12) == 0);
    assert_null(strstr(r.headers, "100 Continue"));
    ck_http_resp_free(&r);

    const char *bad[] = { "X-Test: a\r\nX-Injected: b" };
    struct ck_http_req inj = { .method = "GET", .url = u, .headers = bad, .n_headers = 1 };
    assert_int_equal(ck_http_do(h, &inj, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    struct ck_http_req patch = { .method = "PATCH", .url = u };
    assert_int_equal(ck_http_do(h, &patch, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);

    assert_int_equal(get(h, "ftp://127.0.0.1/x", 0, &r, &e), -1);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", free_port());  /* nothing listens */
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, u));
    ck_http_free(h);
}

static void test_sigv4_and_timeout(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];
    url(u, sizeof u, "/auth");
    struct ck_http_req q = { .method = "GET", .url = u, .aws_sigv4 = "aws:amz:us-east-1:s3",
                             .aws_userpwd = "AKIDEXAMPLE:s3cr3tKEY" };
    assert_int_equal(ck_http_do(h, &q, &r, &e), 0);
    assert_true(strncmp(r.body, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/", 40) == 0);
    assert_null(strstr(r.body, "s3cr3tKEY"));
    ck_http_resp_free(&r);
    /* the credentials do not stick to the handle */
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    assert_string_equal(r.body, "-");
    ck_http_resp_free(&r);
    ck_http_free(h);

    char path[128];
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    struct ck_http_opts o = { .ca_bundle = path, .user_agent = "t", .timeout_ms = 500 };
    assert_int_equal(ck_http_new(&o, &h, &e), 0);
    url(u, sizeof u, "/slow");
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "imed out"));
    ck_http_free(h);
}

/* ---- TLS -------------------------------------------------------------------------- */

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Two servers, two connections, one parse: the bundle file is deleted right
 * after the first https request, so any per-connection reload would fail the
 * second handshake. */
static void test_tls_trusted_parsed_once(void **state)
{
    (void)state;
    assert_int_equal(sh("cat /etc/ssl/certs/ca-certificates.crt %s/ca.pem >%s/bundle.pem", dir, dir), 0);
    double t0 = cpu_ms();
    struct ck_http *h = new_http("bundle.pem");
    double t1 = cpu_ms();
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            assert_int_equal(sh("rm %s/bundle.pem", dir), 0);
        snprintf(u, sizeof u, "https://localhost:%d/", i == 0 ? tls_a : tls_b);
        int rc = get(h, u, 0, &r, &e);
        if (rc != 0)
            print_error("%s\n", e.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "s_server"));
        ck_http_resp_free(&r);
    }
    double t2 = cpu_ms();
    print_message("handle %.1f ms CPU; trust store load and two TLS connections %.1f ms CPU\n",
                  t1 - t0, t2 - t1);

    /* a close-delimited body over TLS is cut at max_body too */
    snprintf(u, sizeof u, "https://localhost:%d/", tls_a);
    assert_int_equal(get(h, u, 100, &r, &e), -1);
    assert_non_null(strstr(e.msg, "larger than 100"));
    ck_http_free(h);
}

static void test_tls_unknown_ca(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca2.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%d/", tls_a);
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, u));
    assert_non_null(strstr(e.msg, "trust anchor"));
    assert_null(r.body);
    ck_http_free(h);
}

static void test_tls_wrong_name(void **state)
{
    (void)state;
    struct ck_http *h = new_http("ca.pem");
    struct ck_http_resp r;
    struct ck_err e;
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%d/", tls_other);  /* cert is for other.example */
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, "server name"));
    /* the right name on the same handle still works afterwards */
    snprintf(u, sizeof u, "https://localhost:%d/", tls_a);
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    ck_http_resp_free(&r);
    /* an IP address cannot be checked by BearSSL: refused, never unchecked */
    snprintf(u, sizeof u, "https://127.0.0.1:%d/", tls_b);
    assert_int_equal(get(h, u, 0, &r, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    ck_http_free(h);
}

/* The bundle is parsed at the first https request: errors surface there, naming it. */
static int https_with(const char *path, struct ck_err *e)
{
    struct ck_http *h = NULL;
    struct ck_http_opts o = { .ca_bundle = path };
    if (ck_http_new(&o, &h, e) != 0)
        return -1;
    struct ck_http_resp r;
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%d/", tls_b);
    int rc = get(h, u, 0, &r, e);
    if (rc == 0)
        ck_http_resp_free(&r);
    ck_http_free(h);
    return rc;
}

static void test_bundle_errors(void **state)
{
    (void)state;
    struct ck_http *h = NULL;
    struct ck_err e;
    char path[128];
    snprintf(path, sizeof path, "%s/missing.pem", dir);
    struct ck_http_opts o = { .ca_bundle = path };
    assert_int_equal(ck_http_new(&o, &h, &e), -1);  /* unreadable: refused at once */
    assert_null(h);
    assert_int_equal(e.kind, CK_E_IO);
    assert_non_null(strstr(e.msg, path));

    snprintf(path, sizeof path, "%s/ca.key", dir);  /* PEM, but no certificate */
    assert_int_equal(https_with(path, &e), -1);
    assert_non_null(strstr(e.msg, "no usable certificate"));
    /* plain http never parses it: a handle used only for http pays nothing */
    assert_int_equal(ck_http_new(&o, &h, &e), 0);
    struct ck_http_resp r;
    char u[128];
    url(u, sizeof u, "/");
    assert_int_equal(get(h, u, 0, &r, &e), 0);
    ck_http_resp_free(&r);
    ck_http_free(h);

    snprintf(path, sizeof path, "%s/junk.pem", dir);
    assert_int_equal(sh("printf -- '-----BEGIN CERTIFICATE-----\\n@@@@\\n' >%s", path), 0);
    assert_int_equal(https_with(path, &e), -1);
    assert_int_equal(e.kind, CK_E_IO);

    assert_int_equal(sh("printf -- '-----BEGIN CERTIFICATE-----\\n@@@@\\n-----END CERTIFICATE-----\\n' >%s", path), 0);
    assert_int_equal(https_with(path, &e), -1);
    assert_non_null(strstr(e.msg, "bad base64"));
    /* decodable base64 that is no certificate: skipped, so nothing usable */
    assert_int_equal(sh("printf -- '-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n' >%s", path), 0);
    assert_int_equal(https_with(path, &e), -1);
    assert_non_null(strstr(e.msg, "no usable certificate"));

    /* other PEM blocks are skipped; CRLF line ends are fine; the anchor really works */
    snprintf(path, sizeof path, "%s/mixed.pem", dir);
    assert_int_equal(sh("cd %s && cat ca.key ca2.pem ca.pem | sed 's/$/\\r/' >mixed.pem", dir), 0);
    assert_int_equal(https_with(path, &e), 0);

    /* a directory or a FIFO at the path: a line that says so, not "read error" or a hang */
    assert_int_equal(https_with(dir, &e), -1);
    assert_int_equal(e.kind, CK_E_IO);
    if (!strstr(e.msg, "CA bundle") || !strstr(e.msg, "is a directory"))
        fail_msg("%s", e.msg);
    snprintf(path, sizeof path, "%s/fifo.pem", dir);
    assert_int_equal(sh("mkfifo %s", path), 0);
    assert_int_equal(https_with(path, &e), -1);
    if (!strstr(e.msg, "CA bundle") || !strstr(e.msg, "not a regular file"))
        fail_msg("%s", e.msg);

    o.ca_bundle = NULL;  /* the system default bundle */
    assert_int_equal(ck_http_new(&o, &h, &e), 0);
    ck_http_free(h);
}

/* --ca-bundle adds to the system store, never replaces it; SPEC section 1. */
static int https_trust(const char *system, const char *extra, int port, struct ck_err *e)
{
    struct ck_http *h = NULL;
    char sys_path[128], extra_path[128];
    snprintf(sys_path, sizeof sys_path, "%s/%s", dir, system);
    snprintf(extra_path, sizeof extra_path, "%s/%s", dir, extra ? extra : "");
    struct ck_http_opts o = { .system_bundle = sys_path, .ca_bundle = extra ? extra_path : NULL };
    if (ck_http_new(&o, &h, e) != 0)
        return -1;
    struct ck_http_resp r;
    char u[128];
    snprintf(u, sizeof u, "https://localhost:%d/", port);
    int rc = get(h, u, 0, &r, e);
    if (rc == 0)
        ck_http_resp_free(&r);
    ck_http_free(h);
    return rc;
}

static void test_extra_bundle_adds(void **state)
{
    (void)state;
    struct ck_err e;
    /* the system store (ca2) and the extra bundle (ca) both trusted, on one handle */
    struct ck_http *h = NULL;
    char sys_path[128], extra_path[128], u[128];
    snprintf(sys_path, sizeof sys_path, "%s/ca2.pem", dir);
    snprintf(extra_path, sizeof extra_path, "%s/ca.pem", dir);
    struct ck_http_opts o = { .system_bundle = sys_path, .ca_bundle = extra_path };
    assert_int_equal(ck_http_new(&o, &h, &e), 0);
    int ports[2] = { tls_ca2, tls_a };
    for (int i = 0; i < 2; i++) {
        struct ck_http_resp r;
        snprintf(u, sizeof u, "https://localhost:%d/", ports[i]);
        if (get(h, u, 0, &r, &e) != 0)
            fail_msg("port %d: %s", ports[i], e.msg);
        ck_http_resp_free(&r);
    }
    ck_http_free(h);
    /* without the extra bundle, only the system's CA */
    assert_int_equal(https_trust("ca2.pem", NULL, tls_ca2, &e), 0);
    assert_int_equal(https_trust("ca2.pem", NULL, tls_a, &e), -1);
    assert_non_null(strstr(e.msg, "trust anchor"));
    /* no system store (a bare image): the extra bundle alone */
    assert_int_equal(https_trust("no-system.pem", "ca.pem", tls_a, &e), 0);
    assert_int_equal(https_trust("no-system.pem", NULL, tls_a, &e), -1);
    assert_int_equal(e.kind, CK_E_IO);
    assert_non_null(strstr(e.msg, "no-system.pem"));
    /* a system store without certificates and no extra: said, naming it */
    assert_int_equal(https_trust("ca.key", NULL, tls_a, &e), -1);
    assert_non_null(strstr(e.msg, "ca.key: no usable certificate"));
    /* an extra bundle without certificates is a mistake even beside a good system store */
    assert_int_equal(https_trust("ca2.pem", "ca.key", tls_ca2, &e), -1);
    assert_non_null(strstr(e.msg, "ca.key: no usable certificate"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_parse),
        cmocka_unit_test(test_link_parse),
        cmocka_unit_test(test_max_body),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_keepalive_ua_redirect),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_sigv4_and_timeout),
        cmocka_unit_test(test_tls_trusted_parsed_once),
        cmocka_unit_test(test_tls_unknown_ca),
        cmocka_unit_test(test_tls_wrong_name),
        cmocka_unit_test(test_bundle_errors),
        cmocka_unit_test(test_extra_bundle_adds),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
