/* lib/webhook: the JSON body (fields, nulls, no surprises), the origin that
 * stands for a URL in messages, and POSTs to a real local receiver (Python, plain
 * HTTP and HTTPS with a test CA): 2xx, 500, nobody listening, untrusted TLS, and a
 * receiver that never answers (the timeout cap holds). */
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "webhook/webhook.h"

static char dir[64];
static int plain_port, tls_port;
static pid_t pids[2];

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
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
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
    for (int i = 0; i < 400; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return 0;
        usleep(25000);
    }
    return -1;
}

/* Records each request as one JSON line {path, ctype, ua, body} in argv[2];
 * /fail... answers 500, /slow never answers in time, the rest 204. With argv[3]
 * and argv[4] (certificate, key) it speaks TLS. */
static const char receiver_py[] =
    "import json, ssl, sys, threading, time\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "lock = threading.Lock()\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a): pass\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n).decode() if n else ''\n"
    "        with lock, open(sys.argv[2], 'a') as f:\n"
    "            f.write(json.dumps({'path': self.path, 'ctype': self.headers.get('Content-Type'),\n"
    "                                'ua': self.headers.get('User-Agent'), 'body': body}) + '\\n')\n"
    "        if self.path.startswith('/slow'): time.sleep(30)\n"
    "        self.send_response(500 if self.path.startswith('/fail') else 204)\n"
    "        self.send_header('Content-Length', '0')\n"
    "        self.end_headers()\n"
    "s = ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H)\n"
    "s.daemon_threads = True\n"
    "if len(sys.argv) > 4:\n"
    "    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "    ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
    "    s.socket = ctx.wrap_socket(s.socket, server_side=True)\n"
    "s.serve_forever()\n";

static pid_t start_receiver(int port, const char *log, int tls)
{
    char script[128], p[16], cert[128], key[128];
    snprintf(script, sizeof script, "%s/receiver.py", dir);
    snprintf(p, sizeof p, "%d", port);
    snprintf(cert, sizeof cert, "%s/leaf.pem", dir);
    snprintf(key, sizeof key, "%s/leaf.key", dir);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);  /* a failed assertion must not leave it behind */
        if (tls)
            execlp("python3", "python3", script, p, log, cert, key, (char *)NULL);
        else
            execlp("python3", "python3", script, p, log, (char *)NULL);
        _exit(127);
    }
    return pid > 0 && wait_port(port) == 0 ? pid : -1;
}

static int make_pki(void)
{
    const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    return sh("cd %s && openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 -subj "
              "/CN=ck-webhook-test-ca -addext basicConstraints=critical,CA:TRUE -addext "
              "keyUsage=critical,keyCertSign >/dev/null 2>&1 && printf "
              "'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
              "extendedKeyUsage=serverAuth\\n' >leaf.ext && openssl req %s -keyout leaf.key "
              "-out leaf.csr -subj /CN=localhost >/dev/null 2>&1 && openssl x509 -req -in "
              "leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile leaf.ext -out "
              "leaf.pem >/dev/null 2>&1", dir, ec, ec);
}

static int group_setup(void **state)
{
    (void)state;
    char path[128], log[128];
    snprintf(dir, sizeof dir, "/tmp/ck-webhook-XXXXXX");
    if (!mkdtemp(dir) || make_pki() != 0)
        return -1;
    snprintf(path, sizeof path, "%s/receiver.py", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(receiver_py, f);
    fclose(f);
    plain_port = free_port();
    snprintf(log, sizeof log, "%s/plain.log", dir);
    if ((pids[0] = start_receiver(plain_port, log, 0)) < 0)
        return -1;
    tls_port = free_port();
    snprintf(log, sizeof log, "%s/tls.log", dir);
    return (pids[1] = start_receiver(tls_port, log, 1)) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGTERM);
            waitpid(pids[i], NULL, 0);
        }
    if (dir[0])
        sh("rm -rf %s", dir);
    return 0;
}

/* The requests a receiver logged so far, as a JSON array (caller frees). */
static cJSON *received(const char *which)
{
    char path[128], line[8192];
    snprintf(path, sizeof path, "%s/%s.log", dir, which);
    cJSON *all = cJSON_CreateArray();
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        cJSON_AddItemToArray(all, cJSON_Parse(line));
    if (f)
        fclose(f);
    return all;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static const char *const names[] = {"example.com", "www.example.com"};

static struct ck_webhook_event failure_event(void)
{
    return (struct ck_webhook_event){.cert_name = "example.com", .names = names, .n_names = 2,
                                     .error = "POST https://ca/new-order: \"rateLimited\"\n",
                                     .failures = 2, .next_retry = 1767225600,
                                     .not_after = 1767312000, .time = 1767225000};
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int is_null(const cJSON *o, const char *k)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- the body ------------------------------------------------------------------- */

static void test_json_failure(void **state)
{
    (void)state;
    struct ck_webhook_event ev = failure_event();
    struct ck_err e;
    char *text = NULL;
    assert_int_equal(ck_webhook_json(&ev, &text, &e), 0);
    assert_null(strchr(text, '\n'));  /* one line, control characters escaped */
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_string_equal(str(o, "event"), "failure");
    assert_string_equal(str(o, "certificate"), "example.com");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "names");
    assert_int_equal(cJSON_GetArraySize(n), 2);
    assert_string_equal(cJSON_GetArrayItem(n, 1)->valuestring, "www.example.com");
    assert_string_equal(str(o, "error"), "POST https://ca/new-order: \"rateLimited\"\n");
    assert_true(num(o, "failures") == 2);
    assert_string_equal(str(o, "next_retry"), "2026-01-01T00:00:00Z");
    assert_true(num(o, "next_retry_unix") == 1767225600);
    assert_string_equal(str(o, "not_after"), "2026-01-02T00:00:00Z");
    assert_true(num(o, "not_after_unix") == 1767312000);
    assert_string_equal(str(o, "time"), "2025-12-31T23:50:00Z");
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "previous_failures"));
    assert_int_equal(cJSON_GetArraySize(o), 11);  /* nothing else travels */
    cJSON_Delete(o);
    free(text);
}

static void test_json_recovery(void **state)
{
    (void)state;
    struct ck_webhook_event ev = {.recovery = 1, .cert_name = "example.com", .names = names,
                                  .n_names = 1, .previous_failures = 3, .not_after = 0,
                                  .time = 1767225000};
    struct ck_err e;
    char *text = NULL;
    assert_int_equal(ck_webhook_json(&ev, &text, &e), 0);
    cJSON *o = cJSON_Parse(text);
    assert_non_null(o);
    assert_string_equal(str(o, "event"), "recovery");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "names")), 1);
    assert_true(is_null(o, "error"));
    assert_true(num(o, "failures") == 0);
    assert_true(num(o, "previous_failures") == 3);
    assert_true(is_null(o, "next_retry") && is_null(o, "next_retry_unix"));
    assert_true(is_null(o, "not_after") && is_null(o, "not_after_unix"));
    cJSON_Delete(o);
    free(text);
}

static void test_origin(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://user:pw@hooks.example:8443/services/T0/B0/XYZ?token=1", "https://hooks.example:8443"},
        {"http://127.0.0.1:9/hook", "http://127.0.0.1:9"},
        {"https://hooks.example", "https://hooks.example"},
        {"https://hooks.example?x=@evil", "https://hooks.example"},
        {"http://a@b@c.example#f", "http://c.example"},
        {"https://[::1]:8080/x", "https://[::1]:8080"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_webhook_origin(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    ck_webhook_origin("https://a-very-long-host-name.example.com/x", out, 12);
    assert_string_equal(out, "https://a-v");  /* truncated, terminated */
}

/* ---- POST ----------------------------------------------------------------------- */

static void test_post_ok(void **state)
{
    (void)state;
    char url[128];
    struct ck_err e;
    struct ck_webhook_event ev = failure_event();
    struct ck_http_opts o = {.user_agent = "certkeep-test"};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook/T0K3N?k=v", plain_port);
    assert_int_equal(ck_webhook_post(&o, url, &ev, &e), 0);
    cJSON *all = received("plain");
    assert_int_equal(cJSON_GetArraySize(all), 1);
    const cJSON *r = cJSON_GetArrayItem(all, 0);
    assert_string_equal(str(r, "path"), "/hook/T0K3N?k=v");
    assert_string_equal(str(r, "ctype"), "application/json");
    assert_string_equal(str(r, "ua"), "certkeep-test");
    char *want = NULL;
    assert_int_equal(ck_webhook_json(&ev, &want, &e), 0);
    assert_string_equal(str(r, "body"), want);  /* exactly the body, nothing added */
    free(want);
    cJSON_Delete(all);
}

static void test_post_refused(void **state)
{
    (void)state;
    char url[128], want[160];
    struct ck_err e;
    struct ck_webhook_event ev = failure_event();
    struct ck_http_opts o = {.user_agent = "certkeep-test"};
    /* 500: one line naming the origin, never the path or query that hold the token */
    snprintf(url, sizeof url, "http://hook:S3CRET@127.0.0.1:%d/fail/S3CRET?token=S3CRET",
             plain_port);
    assert_int_equal(ck_webhook_post(&o, url, &ev, &e), -1);
    snprintf(want, sizeof want, "webhook http://127.0.0.1:%d: HTTP 500", plain_port);
    assert_string_equal(e.msg, want);
    /* nobody listening */
    int port = free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/S3CRET?token=S3CRET", port);
    int64_t t0 = now_ms();
    assert_int_equal(ck_webhook_post(&o, url, &ev, &e), -1);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(e.kind, CK_E_NETWORK);
    snprintf(want, sizeof want, "webhook http://127.0.0.1:%d: ", port);
    assert_memory_equal(e.msg, want, strlen(want));
    assert_null(strstr(e.msg, "S3CRET"));
    assert_null(strchr(e.msg, '\n'));
}

static void test_post_tls_trust(void **state)
{
    (void)state;
    char url[128], bundle[128];
    struct ck_err e;
    struct ck_webhook_event ev = failure_event();
    snprintf(bundle, sizeof bundle, "%s/ca.pem", dir);
    snprintf(url, sizeof url, "https://localhost:%d/tls/S3CRET", tls_port);
    /* the store's trust (the configured bundle) is the webhook's */
    struct ck_http_opts o = {.user_agent = "certkeep-test", .ca_bundle = bundle};
    assert_int_equal(ck_webhook_post(&o, url, &ev, &e), 0);
    cJSON *all = received("tls");
    assert_int_equal(cJSON_GetArraySize(all), 1);
    assert_string_equal(str(cJSON_GetArrayItem(all, 0), "path"), "/tls/S3CRET");
    cJSON_Delete(all);
    /* without it the test CA is nobody */
    struct ck_http_opts none = {.user_agent = "certkeep-test"};
    assert_int_equal(ck_webhook_post(&none, url, &ev, &e), -1);
    assert_non_null(strstr(e.msg, "webhook https://localhost:"));
    assert_null(strstr(e.msg, "S3CRET"));
    all = received("tls");
    assert_int_equal(cJSON_GetArraySize(all), 1);  /* nothing was sent */
    cJSON_Delete(all);
}

static void test_post_bounded(void **state)
{
    (void)state;
    char url[128];
    struct ck_err e;
    struct ck_webhook_event ev = failure_event();
    /* a caller asking for ten minutes still gets the cap */
    struct ck_http_opts o = {.user_agent = "certkeep-test", .timeout_ms = 600000};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", plain_port);
    int64_t t0 = now_ms();
    assert_int_equal(ck_webhook_post(&o, url, &ev, &e), -1);
    int64_t took = now_ms() - t0;
    assert_true(took >= CK_WEBHOOK_TIMEOUT_MS - 1000);
    assert_true(took < CK_WEBHOOK_TIMEOUT_MS + 10000);
    assert_int_equal(e.kind, CK_E_NETWORK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_failure),
        cmocka_unit_test(test_json_recovery),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_post_ok),
        cmocka_unit_test(test_post_refused),
        cmocka_unit_test(test_post_tls_trust),
        cmocka_unit_test(test_post_bounded),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
