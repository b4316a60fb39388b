/* lib/acme against a crafted ACME server (tests/tools/acme_fake.py: problems,
 * garbage, badNonce, rel="up" chains, ARI) and against a real Pebble
 * (tests/e2e/pebble.sh: 50% nonce rejection, http-01, dns-01, ARI, revoke), and
 * the requests an issuance makes (no lookup for a fresh key, authorizations together). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"
#include "acme/internal.h"

#define FAKE_PORT 21080
#define PEBBLE_PORTS "PEBBLE_PORT=21000 PEBBLE_MGMT_PORT=21001 PEBBLE_TLS01_PORT=21002 " \
                     "PEBBLE_DNS_PORT=21053 PEBBLE_CTS_PORT=21055 PEBBLE_HTTP01_PORT=21081"
#define PEBBLE_DIR "https://localhost:21000/dir"
#define PEBBLE_CTS "http://127.0.0.1:21055"
#define HTTP01_PORT 21081

static char work[256];      /* temp dir of this run */
static pid_t fake_pid = -1;
static char pebble_ca[512];

/* ---- helpers ------------------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count_lines(const char *path, const char *needle)
{
    char *s = slurp(path), *p = s;
    int n = 0;
    while ((p = strstr(p, needle))) {
        n++;
        p += strlen(needle);
    }
    free(s);
    return n;
}

static int fake_requests(void)
{
    char p[300];
    snprintf(p, sizeof p, "%s/fake/requests.log", work);
    return count_lines(p, "\n");
}

/* One ck_http + ck_acme with a log captured in a file (for counting events). */
struct t {
    struct ck_http *http;
    struct ck_acme *acme;
    struct ck_log log;
    FILE *logf;
    char logpath[300];
    struct ck_key *akey, *ckey;
    struct ck_err e;
};

static void t_open(struct t *t, const char *dir, const char *ca)
{
    static int seq;
    memset(t, 0, sizeof *t);
    snprintf(t->logpath, sizeof t->logpath, "%s/log-%d.txt", work, ++seq);
    t->logf = fopen(t->logpath, "w");
    assert_non_null(t->logf);
    setvbuf(t->logf, NULL, _IONBF, 0);
    ck_log_init(&t->log, t->logf, CK_LOG_DEBUG, 0);
    struct ck_http_opts ho = {.ca_bundle = ca, .user_agent = "certkeep-test/0"};
    assert_int_equal(ck_http_new(&ho, &t->http, &t->e), 0);
    struct ck_acme_opts ao = {.directory_url = dir, .http = t->http, .log = &t->log, .poll_timeout_s = 60};
    assert_int_equal(ck_acme_new(&ao, &t->acme, &t->e), 0);
    assert_int_equal(ck_key_generate(CK_KEY_P256, &t->akey, &t->e), 0);
    assert_int_equal(ck_key_generate(CK_KEY_P256, &t->ckey, &t->e), 0);
}

static void t_close(struct t *t)
{
    ck_acme_free(t->acme);
    ck_http_free(t->http);
    ck_key_free(t->akey);
    ck_key_free(t->ckey);
    fclose(t->logf);
}

static int t_log_count(const struct t *t, const char *needle)
{
    return count_lines(t->logpath, needle);
}

/* Lines of the log that hold both a and b; *first gets the number (from 1) of the
 * first such line, 0 when none. */
static int t_log_lines(const struct t *t, const char *a, const char *b, int *first)
{
    char *s = slurp(t->logpath), *line = s;
    int n = 0, no = 0;
    if (first)
        *first = 0;
    while (*line) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        no++;
        if (strstr(line, a) && strstr(line, b) && n++ == 0 && first)
            *first = no;
        if (!end)
            break;
        line = end + 1;
    }
    free(s);
    return n;
}

/* Requests the fake logged exactly as `line` ("POST /good/acct"). */
static int fake_count(const char *line)
{
    char p[300], needle[128];
    snprintf(p, sizeof p, "%s/fake/requests.log", work);
    snprintf(needle, sizeof needle, "%s\n", line);
    return count_lines(p, needle);
}

static void fake_url(char *out, size_t cap, const char *mode)
{
    snprintf(out, cap, "http://127.0.0.1:%d/%s/dir", FAKE_PORT, mode);
}

/* A solver that must never be called (authorizations of the fake are valid). */
static int no_present(void *ctx, const char *d, const char *t, const char *k, struct ck_err *e)
{
    (void)ctx, (void)d, (void)t, (void)k;
    return ck_fail(e, "present called");
}
static const struct ck_acme_solver no_solver = {.type = "http-01", .present = no_present};

/* A solver that only counts. */
struct counting {
    int presented, cleaned;
};
static int count_present(void *ctx, const char *d, const char *t, const char *k, struct ck_err *e)
{
    (void)d, (void)t, (void)k, (void)e;
    ((struct counting *)ctx)->presented++;
    return 0;
}
static void count_cleanup(void *ctx, const char *d, const char *t, const char *k)
{
    (void)d, (void)t, (void)k;
    ((struct counting *)ctx)->cleaned++;
}


/* base64url → bytes (NUL-terminated) through ck_unb64. */
static char *unb64url(const char *s, size_t n)
{
    char *std = calloc(1, n + 4);
    char *out = calloc(1, n + 4);
    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    while (n % 4)
        std[n++] = '=';
    long len = ck_unb64(std, n, (unsigned char *)out);
    free(std);
    assert_true(len >= 0);
    out[len] = '\0';
    return out;
}

/* RFC 8555 7.3.5: the inner JWS is signed by the new key and carries its jwk, the
 * keyChange URL and no nonce or kid; its payload names the account and the old key. */
static void test_key_change_jws(void **state)
{
    (void)state;
    struct ck_key *oldk = NULL, *newk = NULL;
    struct ck_err e;
    char *old_jwk = NULL, *new_jwk = NULL, *jws = NULL;
    size_t len = 0;
    assert_int_equal(ck_key_generate(CK_KEY_P256, &oldk, &e), 0);
    assert_int_equal(ck_key_generate(CK_KEY_P384, &newk, &e), 0);
    assert_int_equal(ck_jwk_json(oldk, &old_jwk, &e), 0);
    assert_int_equal(ck_jwk_json(newk, &new_jwk, &e), 0);
    assert_int_equal(acme_key_change_jws(newk, "https://ca.test/key-change", "https://ca.test/acct/7",
                                         old_jwk, &jws, &len, &e), 0);
    cJSON *j = cJSON_Parse(jws), *p = NULL, *b = NULL, *want_new = cJSON_Parse(new_jwk),
          *want_old = cJSON_Parse(old_jwk);
    assert_true(cJSON_IsObject(j));
    const char *prot = cJSON_GetObjectItem(j, "protected")->valuestring,
               *pay = cJSON_GetObjectItem(j, "payload")->valuestring,
               *sig = cJSON_GetObjectItem(j, "signature")->valuestring;
    char *pt = unb64url(prot, strlen(prot)), *bt = unb64url(pay, strlen(pay));
    p = cJSON_Parse(pt);
    b = cJSON_Parse(bt);
    assert_string_equal(cJSON_GetObjectItem(p, "alg")->valuestring, "ES384");
    assert_true(cJSON_Compare(cJSON_GetObjectItem(p, "jwk"), want_new, 1));
    assert_string_equal(cJSON_GetObjectItem(p, "url")->valuestring, "https://ca.test/key-change");
    assert_null(cJSON_GetObjectItem(p, "nonce"));
    assert_null(cJSON_GetObjectItem(p, "kid"));
    assert_string_equal(cJSON_GetObjectItem(b, "account")->valuestring, "https://ca.test/acct/7");
    assert_true(cJSON_Compare(cJSON_GetObjectItem(b, "oldKey"), want_old, 1));
    assert_int_equal(strlen(sig), 128);  /* ES384: r||s, 96 bytes */
    cJSON_Delete(j);
    cJSON_Delete(p);
    cJSON_Delete(b);
    cJSON_Delete(want_new);
    cJSON_Delete(want_old);
    free(pt);
    free(bt);
    free(jws);
    free(old_jwk);
    free(new_jwk);
    ck_key_free(oldk);
    ck_key_free(newk);
}

/* ---- the fake server ------------------------------------------------------------ */

static int fake_setup(void **state)
{
    (void)state;
    char dir[300], ready[320];
    snprintf(dir, sizeof dir, "%s/fake", work);
    mkdir(dir, 0700);
    snprintf(ready, sizeof ready, "%s/ready", dir);
    fake_pid = fork();
    if (fake_pid == 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", FAKE_PORT);
        char errlog[320];
        snprintf(errlog, sizeof errlog, "%s/stderr.log", dir);
        if (!freopen(errlog, "w", stderr))
            _exit(126);
        execlp("python3", "python3", "tests/tools/acme_fake.py", port, dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (access(ready, F_OK) == 0) {
            usleep(100000);  /* serve_forever starts right after the file */
            return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "acme_fake.py did not start on port %d\n", FAKE_PORT);
    return -1;
}

static int fake_teardown(void **state)
{
    (void)state;
    if (fake_pid > 0) {
        kill(fake_pid, SIGTERM);
        waitpid(fake_pid, NULL, 0);
    }
    return 0;
}

static void test_garbage_directory(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "garbage");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_directory(t.acme, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_PROTOCOL);
    assert_non_null(strstr(t.e.msg, url));
    assert_non_null(strstr(t.e.msg, "not a JSON object"));
    /* and nothing else is attempted */
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), -1);
    t_close(&t);
}

static void test_huge_directory(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "huge");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_directory(t.acme, &t.e), -1);
    assert_non_null(strstr(t.e.msg, url));
    assert_true(strlen(t.e.msg) < 400);
    t_close(&t);
}

static void test_unreachable(void **state)
{
    (void)state;
    struct t t;
    t_open(&t, "http://127.0.0.1:1/dir", NULL);
    assert_int_equal(ck_acme_directory(t.acme, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_NETWORK);
    assert_non_null(strstr(t.e.msg, "http://127.0.0.1:1/dir"));
    t_close(&t);
}

static void test_directory_meta(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_has_profile(t.acme, "classic"), -1);  /* not fetched yet */
    assert_int_equal(ck_acme_directory(t.acme, &t.e), 0);
    int before = fake_requests();
    assert_int_equal(ck_acme_directory(t.acme, &t.e), 0);  /* once */
    assert_int_equal(fake_requests(), before);
    assert_string_equal(ck_acme_tos(t.acme), "https://fake.test/tos-v7.pdf");
    assert_int_equal(ck_acme_has_profile(t.acme, "classic"), 1);
    assert_int_equal(ck_acme_has_profile(t.acme, "nope"), 0);
    assert_int_equal(ck_acme_has_ari(t.acme), 1);
    t_close(&t);
}

static void test_problem_document(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "problem");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_PROTOCOL);
    assert_non_null(strstr(t.e.msg, "/problem/acct: rejectedIdentifier: Some names are forbidden"));
    assert_non_null(strstr(t.e.msg, "; bad.example: rejectedIdentifier: forbidden name"));
    if (!strstr(t.e.msg, "; caa.example: caa: CAA forbids?issuance"))  /* no raw newline */
        fail_msg("%s", t.e.msg);
    assert_null(strchr(t.e.msg, '\n'));
    t_close(&t);
}

static void test_rate_limited(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "ratelimit");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_RATELIMIT);
    assert_int_equal(t.e.retry_after, 120);
    assert_non_null(strstr(t.e.msg, "rateLimited: too many new accounts"));
    /* the one line says when to come back, in seconds and as a UTC time */
    if (!strstr(t.e.msg, "; retry after 120s (20") || t.e.msg[strlen(t.e.msg) - 1] != ')')
        fail_msg("no retry time in: %s", t.e.msg);
    t_close(&t);
}

static void test_terms_required(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "tos");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 0, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "https://fake.test/tos-v7.pdf"));
    assert_non_null(strstr(t.e.msg, "terms of service"));
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), 0);
    assert_non_null(strstr(ck_acme_account_url(t.acme), "/tos/acct/1"));
    t_close(&t);
}

static void test_bad_email(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    int before = fake_requests();
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c\r\nX: y", 1, &t.e), -1);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c,x@y.z", 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_USAGE);
    assert_int_equal(fake_requests(), before);
    t_close(&t);
}

static void test_bad_nonce_retried(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "badnonce3");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), 0);
    /* 3 refusals on the first POST to newAccount; the account creation then passes */
    assert_int_equal(t_log_count(&t, "badNonce, retrying"), 3);
    t_close(&t);
}

static void test_bad_nonce_bounded(void **state)
{
    (void)state;
    struct t t;
    char url[128], log[300];
    fake_url(url, sizeof url, "badnonce");
    t_open(&t, url, NULL);
    int before = fake_requests();
    snprintf(log, sizeof log, "%s/fake/requests.log", work);
    int posts_before = count_lines(log, "POST /badnonce/acct");
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "badNonce"));
    int posts = count_lines(log, "POST /badnonce/acct") - posts_before;
    assert_true(posts >= 5 && posts <= 20);
    assert_true(fake_requests() - before < 50);
    t_close(&t);
}

static int names_of(size_t n, char ***out)
{
    char **v = calloc(n, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = malloc(32);
        snprintf(v[i], 32, "n%zu.example.com", i);
    }
    *out = v;
    return 0;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void test_name_limits_before_any_request(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128], **names;
    fake_url(url, sizeof url, "good");
    names_of(101, &names);
    t_open(&t, url, NULL);
    struct ck_acme_order_req r = {.names = (const char *const *)names, .n_names = 101,
                                  .cert_key = t.ckey, .solver = &no_solver};
    /* no account, no directory: the limit is still what is reported */
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_USAGE);
    assert_non_null(strstr(t.e.msg, "101 names"));
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    int before = fake_requests();
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "at most 100"));
    r.n_names = 26;
    r.profile = "tlsserver";
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "profile tlsserver allows at most 25"));
    r.profile = "shortlived";
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    r.n_names = 3;
    r.profile = "unheard-of";
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "not offered"));
    r.profile = NULL;
    r.n_names = 0;
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    names[0][0] = '\n';
    r.n_names = 1;
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_int_equal(fake_requests(), before);  /* not one request */
    free_names(names, 101);
    t_close(&t);
}

static void test_up_chain(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    struct ck_der_list l = {0};
    struct ck_cert_info ci;
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@b.c", 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    int polls = fake_count("POST /good/order/1");
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_non_null(strstr(c.cert_url, "/good/cert"));
    /* every authorization valid: the order is ready, polled only once finalized */
    assert_int_equal(fake_count("POST /good/order/1") - polls, 1);
    assert_int_equal(ck_pem_certs(c.fullchain_pem, c.fullchain_len, "chain", &l, &t.e), 0);
    assert_int_equal(l.n, 2);  /* leaf + intermediate via rel="up"; the root is left out */
    assert_int_equal(ck_cert_parse(l.items[1].data, l.items[1].len, &ci, &t.e), 0);
    assert_string_equal(ci.subject_cn, "Fake Intermediate Y");
    ck_cert_info_free(&ci);
    assert_int_equal(ck_key_matches_cert(t.ckey, l.items[0].data, l.items[0].len, &t.e), 1);
    ck_der_list_free(&l);
    ck_acme_cert_free(&c);
    t_close(&t);
}

static void test_order_invalid(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "invalid");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "is invalid: badCSR: CSR names a forbidden key"));
    assert_null(c.fullchain_pem);
    t_close(&t);
}

static void test_cert_key_mismatch(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "mismatch");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "does not match the certificate key"));
    t_close(&t);
}

/* Hostile order/authorization objects: each a clear error, nothing presented. */
static void test_hostile_orders(void **state)
{
    (void)state;
    static const struct {
        const char *mode, *want;
    } cases[] = {
        {"manyauthz", "order with 1000 authorizations"},
        {"badtoken", "without a base64url token"},
        {"notjson", "/notjson/order: the response (HTTP 201"},
    };
    const char *names[] = {"a.example.com"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct t t;
        struct ck_acme_cert c;
        char url[128];
        fake_url(url, sizeof url, cases[i].mode);
        t_open(&t, url, NULL);
        assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
        struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
        assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
        if (!strstr(t.e.msg, cases[i].want))
            fail_msg("%s: %s", cases[i].mode, t.e.msg);
        assert_int_equal(t.e.kind, CK_E_PROTOCOL);
        t_close(&t);
    }
}

/* A key made just now has no account to find: one newAccount, no lookup first. */
static void test_fresh_key_one_request(void **state)
{
    (void)state;
    struct t t;
    struct ck_key *old = NULL;
    char url[128];
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    int before = fake_count("POST /good/acct");
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "a@b.c", 1, &t.e), 0);
    assert_int_equal(fake_count("POST /good/acct") - before, 1);
    assert_non_null(strstr(ck_acme_account_url(t.acme), "/good/acct/1"));
    assert_int_equal(t_log_count(&t, "created account"), 1);
    /* a key that may have one is looked up first: two requests */
    assert_int_equal(ck_key_generate(CK_KEY_P256, &old, &t.e), 0);
    before = fake_count("POST /good/acct");
    assert_int_equal(ck_acme_account(t.acme, old, "a@b.c", 1, &t.e), 0);
    assert_int_equal(fake_count("POST /good/acct") - before, 2);
    /* the address is checked before any request */
    before = fake_requests();
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "a@b.c\r\nX: y", 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_USAGE);
    assert_int_equal(fake_requests(), before);
    t_close(&t);
    ck_key_free(old);
}

/* An account URL saved from an earlier run: no account request at all. */
static void test_saved_account_no_request(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128], acct[160];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "good");
    snprintf(acct, sizeof acct, "http://127.0.0.1:%d/good/acct/1", FAKE_PORT);
    t_open(&t, url, NULL);
    int before = fake_requests();
    assert_int_equal(ck_acme_account_saved(t.acme, t.akey, "not a url", NULL, 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_USAGE);
    assert_int_equal(fake_requests(), before);
    int accts = fake_count("POST /good/acct");
    assert_int_equal(ck_acme_account_saved(t.acme, t.akey, acct, "a@b.c", 1, &t.e), 0);
    assert_string_equal(ck_acme_account_url(t.acme), acct);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(fake_count("POST /good/acct"), accts);
    assert_int_equal(t_log_count(&t, "using saved account"), 1);
    ck_acme_cert_free(&c);
    t_close(&t);
}

static void test_fresh_key_terms_required(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    fake_url(url, sizeof url, "tos");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "a@b.c", 0, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_USAGE);
    assert_non_null(strstr(t.e.msg, "https://fake.test/tos-v7.pdf"));
    assert_non_null(strstr(t.e.msg, "terms of service"));
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "a@b.c", 1, &t.e), 0);
    assert_non_null(strstr(ck_acme_account_url(t.acme), "/tos/acct/1"));
    t_close(&t);
}

/* newOrder answers "ready": nothing to prove, no authorization is even fetched. */
static void test_ready_order_nothing_to_prove(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "ready");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(fake_count("POST /ready/authz/1"), 0);
    assert_int_equal(fake_count("POST /ready/finalize"), 1);
    assert_int_equal(fake_count("POST /ready/order/1"), 1);  /* once, after finalize */
    ck_acme_cert_free(&c);
    t_close(&t);
}

/* A CA that validates inside the challenge POST ("valid" in its answer): no poll. */
static void test_challenge_valid_at_once(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    struct counting n = {0};
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "chalvalid");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &n, .present = count_present,
                                .cleanup = count_cleanup};
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &sv};
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(n.presented, 1);
    assert_int_equal(n.cleaned, 1);
    assert_int_equal(fake_count("POST /chalvalid/chall/1"), 1);
    assert_int_equal(fake_count("POST /chalvalid/authz/1"), 1);  /* fetched, never polled */
    assert_int_equal(fake_count("POST /chalvalid/order/1"), 1);  /* after finalize only */
    ck_acme_cert_free(&c);
    t_close(&t);
}

/* Readiness inferred from valid authorizations, but the CA is behind (orderNotReady):
 * the order is waited for and finalized again. */
static void test_finalize_not_ready_waits(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128];
    const char *names[] = {"a.example.com"};
    fake_url(url, sizeof url, "notready");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(fake_count("POST /notready/finalize"), 2);
    assert_int_equal(t_log_count(&t, "orderNotReady"), 1);
    assert_non_null(c.fullchain_pem);
    ck_acme_cert_free(&c);
    t_close(&t);
}

static void test_ari_window(void **state)
{
    (void)state;
    struct t t;
    char url[128];
    int64_t start = 0, end = 0;
    long ra = 0;
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_renewal_info(t.acme, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &start, &end, &ra, &t.e), 0);
    assert_int_equal(start, 1767319445);  /* 2026-01-02T03:04:05.123+01:00 */
    assert_int_equal(end, 1767398400);    /* 2026-01-03T00:00:00Z */
    assert_int_equal(ra, 21600);
    int before = fake_requests();
    assert_int_equal(ck_acme_renewal_info(t.acme, "../../etc", &start, &end, &ra, &t.e), -1);
    assert_int_equal(fake_requests(), before);
    t_close(&t);
}

/* ---- Pebble --------------------------------------------------------------------- */

struct responder {
    int fd;
    pthread_t th;
    pthread_mutex_t mu;
    char token[8][300], ka[8][400];
    int n;
};

static void *serve(void *arg)
{
    struct responder *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[2048], path[1024] = "", resp[1024];
        ssize_t n = recv(c, req, sizeof req - 1, 0);
        req[n > 0 ? n : 0] = '\0';
        sscanf(req, "GET /.well-known/acme-challenge/%300s", path);
        const char *body = NULL;
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < r->n; i++)
            if (strcmp(r->token[i], path) == 0)
                body = r->ka[i];
        if (body)
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
        else
            snprintf(resp, sizeof resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        pthread_mutex_unlock(&r->mu);
        ssize_t w = write(c, resp, strlen(resp));
        (void)w;
        close(c);
    }
}

static int http01_present(void *ctx, const char *d, const char *token, const char *ka, struct ck_err *e)
{
    struct responder *r = ctx;
    (void)d;
    pthread_mutex_lock(&r->mu);
    if (r->n < 8) {
        snprintf(r->token[r->n], sizeof r->token[0], "%s", token);
        snprintf(r->ka[r->n], sizeof r->ka[0], "%s", ka);
        r->n++;
    }
    pthread_mutex_unlock(&r->mu);
    return r->n <= 8 ? 0 : ck_fail(e, "full");
}

static void http01_cleanup(void *ctx, const char *d, const char *token, const char *ka)
{
    struct responder *r = ctx;
    (void)d, (void)token, (void)ka;
    pthread_mutex_lock(&r->mu);
    r->n = 0;
    pthread_mutex_unlock(&r->mu);
}

static void responder_start(struct responder *r)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(HTTP01_PORT)};
    int one = 1;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(r->fd, 16), 0);
    assert_int_equal(pthread_create(&r->th, NULL, serve, r), 0);
}

static void responder_stop(struct responder *r)
{
    shutdown(r->fd, SHUT_RDWR);
    close(r->fd);
    pthread_join(r->th, NULL);
    pthread_mutex_destroy(&r->mu);
}

/* dns-01 through challtestsrv's management API. */
struct dns_ctx {
    struct ck_http *http;
    int presented, cleaned;
};

static int cts_post(struct ck_http *h, const char *path, const char *body, struct ck_err *e)
{
    char url[128];
    struct ck_http_resp resp;
    snprintf(url, sizeof url, "%s%s", PEBBLE_CTS, path);
    struct ck_http_req q = {.method = "POST", .url = url, .body = body, .body_len = strlen(body)};
    if (ck_http_do(h, &q, &resp, e) != 0)
        return -1;
    long st = resp.status;
    ck_http_resp_free(&resp);
    return st == 200 ? 0 : ck_fail(e, "%s: HTTP %ld", url, st);
}

static int dns_present(void *ctx, const char *d, const char *token, const char *value, struct ck_err *e)
{
    struct dns_ctx *c = ctx;
    char body[512];
    (void)token;
    assert_int_equal(strlen(value), 43);  /* base64url(sha256) */
    snprintf(body, sizeof body, "{\"host\":\"_acme-challenge.%s.\",\"value\":\"%s\"}", d, value);
    c->presented++;
    return cts_post(c->http, "/set-txt", body, e);
}

static void dns_cleanup(void *ctx, const char *d, const char *token, const char *value)
{
    struct dns_ctx *c = ctx;
    struct ck_err e;
    char body[512];
    (void)token, (void)value;
    snprintf(body, sizeof body, "{\"host\":\"_acme-challenge.%s.\"}", d);
    c->cleaned++;
    cts_post(c->http, "/clear-txt", body, &e);
}

static int pebble_setup(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "bash -c 'export CK_TMP=%s " PEBBLE_PORTS " PEBBLE_WFE_NONCEREJECT=50 PEBBLE_AUTHZREUSE=0; "
             "source tests/e2e/pebble.sh && pebble_start' >&2",
             work);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot start Pebble (see above)\n");
        return -1;
    }
    snprintf(pebble_ca, sizeof pebble_ca, "%s/pebble/ca-bundle.pem", work);
    return 0;
}

static int pebble_teardown(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash -c 'export CK_TMP=%s " PEBBLE_PORTS "; source tests/e2e/pebble.sh; pebble_stop'",
             work);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_pebble_terms_not_agreed(void **state)
{
    (void)state;
    struct t t;
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@example.com", 0, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "data:text/plain,Do%20what%20thou%20wilt"));
    t_close(&t);
}

static void test_pebble_http01_nonce_reject_ari_revoke(void **state)
{
    (void)state;
    struct t t;
    struct responder r;
    struct ck_acme_cert c;
    struct ck_der_list l = {0};
    struct ck_cert_info ci;
    char id[256];
    const char *names[] = {"one.example.com", "two.example.com", "three.example.com"};
    responder_start(&r);
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@example.com", 1, &t.e), 0);
    /* the same key finds the same account */
    char *first = strdup(ck_acme_account_url(t.acme));
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@example.com", 1, &t.e), 0);
    assert_string_equal(first, ck_acme_account_url(t.acme));
    assert_int_equal(t_log_count(&t, "using existing account"), 1);
    assert_int_equal(t_log_count(&t, "account contact set"), 0);
    /* a new address reaches the existing account, once */
    assert_int_equal(ck_acme_account(t.acme, t.akey, "b@example.com", 1, &t.e), 0);
    assert_string_equal(first, ck_acme_account_url(t.acme));
    assert_int_equal(t_log_count(&t, "account contact set to mailto:b@example.com"), 1);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "b@example.com", 1, &t.e), 0);
    assert_int_equal(t_log_count(&t, "account contact set"), 1);
    free(first);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req q = {.names = names, .n_names = 3, .cert_key = t.ckey, .solver = &sv,
                                  .profile = "shortlived"};
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(r.n, 0);  /* cleaned up */
    /* 50% rejection over ~15 POSTs: retried transparently, surely at least once */
    assert_true(t_log_count(&t, "badNonce, retrying") > 0);
    assert_int_equal(ck_pem_certs(c.fullchain_pem, c.fullchain_len, "chain", &l, &t.e), 0);
    assert_true(l.n >= 2);
    assert_int_equal(ck_cert_parse(l.items[0].data, l.items[0].len, &ci, &t.e), 0);
    assert_true(ci.not_after - ci.not_before < 7 * 86400);  /* the shortlived profile */
    assert_int_equal(ck_ari_cert_id(&ci, id, sizeof id, &t.e), 0);
    int64_t start, end;
    long ra = -2;
    if (ck_acme_renewal_info(t.acme, id, &start, &end, &ra, &t.e) != 0)
        fail_msg("ari: %s", t.e.msg);
    assert_true(start > ci.not_before && end <= ci.not_after && start < end);
    ck_cert_info_free(&ci);
    assert_int_equal(ck_acme_revoke(t.acme, l.items[0].data, l.items[0].len, 4, &t.e), 0);
    assert_int_equal(ck_acme_revoke(t.acme, l.items[0].data, l.items[0].len, 4, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "alreadyRevoked"));
    ck_der_list_free(&l);
    ck_acme_cert_free(&c);
    t_close(&t);
    responder_stop(&r);
}

/* The fake's authorization is for a.example.com whatever was ordered: an authorization
 * for a name we did not order is refused before anything is presented or finalized. */
static void test_authz_for_another_name(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    char url[128];
    const char *names[] = {"b.example.com"};
    fake_url(url, sizeof url, "good");
    t_open(&t, url, NULL);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_order_req r = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &no_solver};
    assert_int_equal(ck_acme_issue(t.acme, &r, &c, &t.e), -1);
    if (!strstr(t.e.msg, "/authz/1: authorization for a.example.com, a name not in the order"))
        fail_msg("%s", t.e.msg);
    assert_int_equal(t.e.kind, CK_E_PROTOCOL);
    /* the same order for the name (or its wildcard) goes through the check */
    const char *wild[] = {"*.a.example.com"};
    r.names = wild;
    if (ck_acme_issue(t.acme, &r, &c, &t.e) != 0 && strstr(t.e.msg, "not in the order"))
        fail_msg("wildcard refused: %s", t.e.msg);
    ck_acme_cert_free(&c);
    t_close(&t);
}

static void test_pebble_dns01(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    const char *names[] = {"dns.example.com", "*.dns.example.com"};
    t_open(&t, PEBBLE_DIR, pebble_ca);
    struct dns_ctx d = {.http = t.http};
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_solver sv = {.type = "dns-01", .ctx = &d, .present = dns_present, .cleanup = dns_cleanup};
    struct ck_acme_order_req q = {.names = names, .n_names = 2, .cert_key = t.ckey, .solver = &sv};
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    assert_int_equal(d.presented, 2);
    assert_int_equal(d.cleaned, 2);
    ck_acme_cert_free(&c);
    t_close(&t);
}

static void test_pebble_challenge_fails(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    struct responder r = {0};
    const char *names[] = {"nobody-listens.example.com"};
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    pthread_mutex_init(&r.mu, NULL);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req q = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &sv};
    assert_int_equal(ck_acme_issue(t.acme, &q, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "nobody-listens.example.com: authorization is invalid"));
    assert_non_null(strstr(t.e.msg, "http-01: connection"));
    assert_int_equal(r.n, 0);  /* cleaned up on failure too */
    /* several names are watched through the order: the failed one is still named */
    const char *two[] = {"nobody-a.example.com", "nobody-b.example.com"};
    q.names = two;
    q.n_names = 2;
    assert_int_equal(ck_acme_issue(t.acme, &q, &c, &t.e), -1);
    if (!strstr(t.e.msg, ".example.com: authorization is invalid") ||
        !strstr(t.e.msg, "http-01: connection") || !strstr(t.e.msg, "nobody-"))
        fail_msg("%s", t.e.msg);
    assert_int_equal(r.n, 0);
    pthread_mutex_destroy(&r.mu);
    t_close(&t);
}

/* A "fresh" key that has an account after all (a replica raced us): the CA answers
 * newAccount with that account (RFC 8555 7.3.1), whose contact is brought up to date. */
static void test_pebble_fresh_key_with_account(void **state)
{
    (void)state;
    struct t t;
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "a@example.com", 1, &t.e), 0);
    assert_int_equal(t_log_count(&t, "created account"), 1);
    char *first = strdup(ck_acme_account_url(t.acme));
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, "c@example.com", 1, &t.e), 0);
    assert_string_equal(first, ck_acme_account_url(t.acme));
    assert_int_equal(t_log_count(&t, "created account"), 1);
    assert_int_equal(t_log_count(&t, "using existing account"), 1);
    assert_int_equal(t_log_count(&t, "account contact set to mailto:c@example.com"), 1);
    free(first);
    t_close(&t);
}

/* A saved account URL the CA does not know for the key (unknown, or another key's):
 * the first order is refused, newAccount finds or creates the key's account, and
 * the order goes through; without agreement to the terms that is the clear error. */
static void test_pebble_saved_account_unknown(void **state)
{
    (void)state;
    struct t t;
    struct responder r;
    struct ck_acme_cert c;
    struct ck_key *other = NULL;
    const char *one[] = {"saved1.example.com"}, *two[] = {"saved2.example.com"};
    responder_start(&r);
    t_open(&t, PEBBLE_DIR, pebble_ca);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req q = {.names = one, .n_names = 1, .cert_key = t.ckey, .solver = &sv};
    /* unknown URL, no agreement: refused with the terms' URL */
    assert_int_equal(ck_acme_account_saved(t.acme, t.akey, "https://localhost:21000/my-account/nope",
                                           NULL, 0, &t.e), 0);
    assert_int_equal(ck_acme_issue(t.acme, &q, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "terms of service"));
    /* unknown URL: the key's account is created, the order sent again */
    assert_int_equal(ck_acme_account_saved(t.acme, t.akey, "https://localhost:21000/my-account/nope",
                                           NULL, 1, &t.e), 0);
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_int_equal(t_log_count(&t, "asking for the key's account"), 2);
    assert_int_equal(t_log_count(&t, "created account"), 1);
    char *mine = strdup(ck_acme_account_url(t.acme));
    assert_null(strstr(mine, "/nope"));
    /* the key's own URL: nothing asked */
    assert_int_equal(ck_acme_account_saved(t.acme, t.akey, mine, NULL, 1, &t.e), 0);
    q.names = two;
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_int_equal(t_log_count(&t, "asking for the key's account"), 2);
    /* another key's URL (account.key replaced): that key gets its own account */
    assert_int_equal(ck_key_generate(CK_KEY_P256, &other, &t.e), 0);
    assert_int_equal(ck_acme_account_saved(t.acme, other, mine, NULL, 1, &t.e), 0);
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_int_equal(t_log_count(&t, "asking for the key's account"), 3);
    assert_string_not_equal(mine, ck_acme_account_url(t.acme));
    free(mine);
    t_close(&t);
    ck_key_free(other);
    responder_stop(&r);
}


/* The key_refused hook of a replica: hands over `give` (NULL: none). */
struct refused_hook {
    const struct ck_key *give;
    int calls;
};
static int on_refused(void *ctx, const struct ck_key *refused, const struct ck_key **newer,
                      struct ck_err *e)
{
    struct refused_hook *h = ctx;
    (void)refused;
    h->calls++;
    *newer = h->give;
    if (!h->give)
        ck_wrap(e, "no newer key");
    return 0;
}

/* keyChange at Pebble: the account keeps its URL and moves to the new key, the old
 * key has no account any more; a replica still signing with the old key gets the new
 * one from its hook and its order goes through on the same account; one whose hook
 * has none fails with that said; deactivation, after which the CA refuses the key. */
static void test_pebble_key_change(void **state)
{
    (void)state;
    struct t t;
    struct responder r;
    struct ck_acme_cert c;
    struct ck_key *nk = NULL;
    struct ck_acme *b = NULL, *q2 = NULL, *d = NULL;
    struct refused_hook hb = {0}, hd = {0};
    const char *names[] = {"rolled.example.com"};
    responder_start(&r);
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_key_generate(CK_KEY_P256, &nk, &t.e), 0);
    assert_int_equal(ck_acme_account_existing(t.acme, t.akey, &t.e), CK_ACME_NO_ACCOUNT);
    assert_int_equal(ck_acme_account(t.acme, t.akey, "a@example.com", 1, &t.e), 0);
    char *url = strdup(ck_acme_account_url(t.acme));
    /* replicas B and D hold the account with the old key */
    struct ck_acme_opts ob = {.directory_url = PEBBLE_DIR, .http = t.http, .log = &t.log,
                              .poll_timeout_s = 60, .key_refused = on_refused, .key_refused_ctx = &hb};
    struct ck_acme_opts od = ob, oq = ob;
    od.key_refused_ctx = &hd;
    oq.key_refused = NULL;
    assert_int_equal(ck_acme_new(&ob, &b, &t.e), 0);
    assert_int_equal(ck_acme_new(&od, &d, &t.e), 0);
    assert_int_equal(ck_acme_new(&oq, &q2, &t.e), 0);
    assert_int_equal(ck_acme_account_existing(b, t.akey, &t.e), 0);
    assert_int_equal(ck_acme_account_existing(d, t.akey, &t.e), 0);
    /* A rolls over */
    if (ck_acme_key_change(t.acme, nk, &t.e) != 0)
        fail_msg("keyChange: %s", t.e.msg);
    assert_string_equal(url, ck_acme_account_url(t.acme));
    assert_int_equal(ck_acme_account_existing(q2, t.akey, &t.e), CK_ACME_NO_ACCOUNT);
    assert_int_equal(ck_acme_account_existing(q2, nk, &t.e), 0);
    assert_string_equal(url, ck_acme_account_url(q2));
    /* B signs with the old key: refused once, the hook's key signs, the order is done */
    hb.give = nk;
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req oreq = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &sv};
    if (ck_acme_issue(b, &oreq, &c, &t.e) != 0)
        fail_msg("issue after the rollover: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_int_equal(hb.calls, 1);
    assert_string_equal(url, ck_acme_account_url(b));
    assert_int_equal(t_log_count(&t, "created account"), 1);
    /* D's hook has nothing newer: the CA's refusal, said so */
    assert_int_equal(ck_acme_issue(d, &oreq, &c, &t.e), -1);
    assert_int_equal(hd.calls, 1);
    assert_non_null(strstr(t.e.msg, "no newer key: "));
    /* deactivation: the new key is refused from then on, and no second keyChange */
    if (ck_acme_deactivate(t.acme, &t.e) != 0)
        fail_msg("deactivate: %s", t.e.msg);
    assert_int_equal(ck_acme_account_existing(q2, nk, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "unauthorized"));
    assert_int_equal(ck_acme_key_change(t.acme, t.akey, &t.e), -1);
    free(url);
    ck_acme_free(b);
    ck_acme_free(d);
    ck_acme_free(q2);
    t_close(&t);
    ck_key_free(nk);
    responder_stop(&r);
}

/* Requests that got an answer (badNonce refusals are retried and not counted). */
static int answered(const struct t *t, const char *path, int *first)
{
    return t_log_lines(t, path, " -> 200", first);
}

/* Several names: fetched, presented and answered together, then the order is polled
 * (not each authorization). One name: its authorization is polled, and the order is
 * not looked at before finalize (every authorization valid means ready). */
static void test_pebble_authorizations_together(void **state)
{
    (void)state;
    struct t t;
    struct responder r;
    struct ck_acme_cert c;
    int first_poll = 0, finalized = 0;
    const char *three[] = {"t1.example.com", "t2.example.com", "t3.example.com"};
    const char *one[] = {"t4.example.com"};
    responder_start(&r);
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account_fresh(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req q = {.names = three, .n_names = 3, .cert_key = t.ckey, .solver = &sv};
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue 3 names: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_int_equal(answered(&t, "/authZ/", NULL), 3);
    assert_int_equal(answered(&t, "/chalZ/", NULL), 3);
    assert_int_equal(answered(&t, "/finalize-order/", NULL), 1);
    assert_true(answered(&t, "/my-order/", NULL) >= 2);  /* until ready, until valid */
    assert_int_equal(t_log_count(&t, "all 3 authorizations valid"), 1);
    /* one name */
    fclose(t.logf);
    t.logf = fopen(t.logpath, "w");
    assert_non_null(t.logf);
    setvbuf(t.logf, NULL, _IONBF, 0);
    t.log.out = t.logf;
    q.names = one;
    q.n_names = 1;
    if (ck_acme_issue(t.acme, &q, &c, &t.e) != 0)
        fail_msg("issue 1 name: %s", t.e.msg);
    ck_acme_cert_free(&c);
    assert_true(answered(&t, "/authZ/", NULL) >= 2);  /* fetched, then polled */
    assert_int_equal(answered(&t, "/chalZ/", NULL), 1);
    assert_int_equal(answered(&t, "/finalize-order/", &finalized), 1);
    assert_true(answered(&t, "/my-order/", &first_poll) >= 1);
    assert_true(first_poll > finalized);
    assert_int_equal(r.n, 0);
    t_close(&t);
    responder_stop(&r);
}

static void test_pebble_dns01_not_offered_for_wildcard_http(void **state)
{
    (void)state;
    struct t t;
    struct ck_acme_cert c;
    struct responder r = {0};
    const char *names[] = {"*.wild.example.com"};
    t_open(&t, PEBBLE_DIR, pebble_ca);
    assert_int_equal(ck_acme_account(t.acme, t.akey, NULL, 1, &t.e), 0);
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &r, .present = http01_present,
                                .cleanup = http01_cleanup};
    struct ck_acme_order_req q = {.names = names, .n_names = 1, .cert_key = t.ckey, .solver = &sv};
    assert_int_equal(ck_acme_issue(t.acme, &q, &c, &t.e), -1);
    assert_non_null(strstr(t.e.msg, "offers no http-01 challenge"));
    t_close(&t);
}

int main(void)
{
    snprintf(work, sizeof work, "/tmp/certkeep-test-acme.XXXXXX");
    if (!mkdtemp(work))
        return 1;
    const struct CMUnitTest fake[] = {
        cmocka_unit_test(test_garbage_directory),
        cmocka_unit_test(test_huge_directory),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_directory_meta),
        cmocka_unit_test(test_problem_document),
        cmocka_unit_test(test_rate_limited),
        cmocka_unit_test(test_terms_required),
        cmocka_unit_test(test_bad_email),
        cmocka_unit_test(test_bad_nonce_retried),
        cmocka_unit_test(test_bad_nonce_bounded),
        cmocka_unit_test(test_name_limits_before_any_request),
        cmocka_unit_test(test_up_chain),
        cmocka_unit_test(test_order_invalid),
        cmocka_unit_test(test_cert_key_mismatch),
        cmocka_unit_test(test_hostile_orders),
        cmocka_unit_test(test_authz_for_another_name),
        cmocka_unit_test(test_fresh_key_one_request),
        cmocka_unit_test(test_saved_account_no_request),
        cmocka_unit_test(test_fresh_key_terms_required),
        cmocka_unit_test(test_ready_order_nothing_to_prove),
        cmocka_unit_test(test_challenge_valid_at_once),
        cmocka_unit_test(test_finalize_not_ready_waits),
        cmocka_unit_test(test_ari_window),
        cmocka_unit_test(test_key_change_jws),
    };
    const struct CMUnitTest pebble[] = {
        cmocka_unit_test(test_pebble_terms_not_agreed),
        cmocka_unit_test(test_pebble_http01_nonce_reject_ari_revoke),
        cmocka_unit_test(test_pebble_dns01),
        cmocka_unit_test(test_pebble_challenge_fails),
        cmocka_unit_test(test_pebble_fresh_key_with_account),
        cmocka_unit_test(test_pebble_saved_account_unknown),
        cmocka_unit_test(test_pebble_key_change),
        cmocka_unit_test(test_pebble_authorizations_together),
        cmocka_unit_test(test_pebble_dns01_not_offered_for_wildcard_http),
    };
    int failed = cmocka_run_group_tests_name("acme_fake", fake, fake_setup, fake_teardown);
    failed += cmocka_run_group_tests_name("acme_pebble", pebble, pebble_setup, pebble_teardown);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    if (system(cmd) != 0)
        failed++;
    return failed;
}
