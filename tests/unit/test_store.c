/* lib/store: both backends through one table of tests (directory, and S3 against
 * moto_server checking SigV4: tests/e2e/s3.sh), the lease, key validation, the
 * ListObjectsV2 XML reader, credentials, and S3 failures (403 with a wrong
 * secret, server down → CK_E_NETWORK in bounded time). What the S3 backend
 * writes is read back with boto3, an independent client.
 *
 * MOTO_SLASH: moto 5.2.1 checks SigV4 against the decoded URL, so a signed
 * request whose path or query needs percent-encoding (other than a space) gets
 * 403 even from boto3: non-ASCII keys, and ListObjectsV2 with prefix=a/b.
 * Those cases run against a second moto without signature checks (S3_NOAUTH);
 * everything else runs against both.
 *
 * IGNORING: the directory backend behind a put that drops every condition, as S3
 * servers do that accept If-None-Match / If-Match and ignore them: the lease
 * probes it and keeps one winner by a read-back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "http/http.h"
#include "store/store.h"
#include "store/store_int.h"

enum kind { DIR_STORE, S3_STORE, S3_NOAUTH, IGNORING };

struct moto {
    char home[300];     /* CK_TMP of the harness */
    char endpoint[128], bucket[64], region[32], access[128], secret[128];
    int up;
};

static char work[256];
static struct moto moto_auth, moto_open;
static int dir_seq;

/* Per-test state */
struct t {
    enum kind kind;
    struct ck_http *http;
    struct ck_store *s;
    struct ck_s3_creds creds;
    char dir[512];
    char prefix[64];
    int vhost;  /* virtual-host style: bucket.localhost (curl resolves *.localhost itself) */
    struct ck_err e;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void env_value(const char *file, const char *name, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    char line[512];
    size_t n = strlen(name);
    out[0] = '\0';
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == '=') {
            line[strcspn(line, "\n")] = '\0';
            snprintf(out, cap, "%s", line + n + 1);
        }
    }
    if (f != NULL)
        fclose(f);
}

static int moto_start(struct moto *m, const char *sub, int auth)
{
    char cmd[1024], env[400];
    snprintf(m->home, sizeof m->home, "%s/%s", work, sub);
    snprintf(cmd, sizeof cmd,
             "bash -c 'export CK_TMP=%s S3_AUTH=%d; source tests/e2e/s3.sh && s3_start' >&2",
             m->home, auth);
    if (system(cmd) != 0)
        return -1;
    snprintf(env, sizeof env, "%s/s3/env", m->home);
    env_value(env, "S3_ENDPOINT", m->endpoint, sizeof m->endpoint);
    env_value(env, "S3_BUCKET", m->bucket, sizeof m->bucket);
    env_value(env, "S3_REGION", m->region, sizeof m->region);
    env_value(env, "AWS_ACCESS_KEY_ID", m->access, sizeof m->access);
    env_value(env, "AWS_SECRET_ACCESS_KEY", m->secret, sizeof m->secret);
    m->up = m->endpoint[0] && m->access[0] && m->secret[0];
    return m->up ? 0 : -1;
}

static void moto_stop(struct moto *m)
{
    char cmd[1024];
    if (!m->up)
        return;
    snprintf(cmd, sizeof cmd, "bash -c 'export CK_TMP=%s; source tests/e2e/s3.sh; s3_stop'",
             m->home);
    if (system(cmd) != 0)
        fprintf(stderr, "stopping moto in %s failed\n", m->home);
    m->up = 0;
}

/* Runs python `code` with boto3 (s3, bucket in scope) against m; its stdout into out. */
static int boto3(const struct moto *m, const char *code, char *out, size_t cap)
{
    char file[400], cmd[1200];
    snprintf(file, sizeof file, "%s/boto3.py", work);
    FILE *f = fopen(file, "w");
    if (f == NULL)
        return -1;
    fputs(code, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "bash -c 'set -a; . %s/s3/env; set +a; export CK_TMP=%s; source tests/e2e/s3.sh; "
             "s3_py \"$(cat %s)\"'",
             m->home, m->home, file);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    return pclose(p) == 0 ? 0 : -1;
}

/* A call that must succeed; on failure the store's message is shown. */
#define OK(t, call)                                                                   \
    do {                                                                              \
        int rc_ = (call);                                                             \
        if (rc_ != 0)                                                                 \
            fail_msg("%s: rc %d: %s", #call, rc_, (t)->e.msg);                        \
    } while (0)

static int group_setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "/tmp/certkeep-test-store.XXXXXX");
    if (mkdtemp(work) == NULL)
        return -1;
    if (moto_start(&moto_auth, "auth", 1) != 0 || moto_start(&moto_open, "open", 0) != 0) {
        fprintf(stderr, "cannot start moto_server (tests/e2e/s3.sh)\n");
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[400];
    moto_stop(&moto_auth);
    moto_stop(&moto_open);
    snprintf(cmd, sizeof cmd, "rm -rf %s", work);
    return system(cmd) == 0 ? 0 : -1;
}

static int open_s3(struct t *t, const struct moto *m, const char *endpoint, const char *secret,
                   long timeout_ms)
{
    struct ck_http_opts ho = { .user_agent = "certkeep-test", .connect_timeout_ms = 2000,
                               .timeout_ms = timeout_ms };
    if (ck_http_new(&ho, &t->http, &t->e) != 0)
        return -1;
    char *envp[] = { NULL, NULL, NULL };
    char a[200], s[200];
    snprintf(a, sizeof a, "AWS_ACCESS_KEY_ID=%s", m->access);
    snprintf(s, sizeof s, "AWS_SECRET_ACCESS_KEY=%s", secret ? secret : m->secret);
    envp[0] = a;
    envp[1] = s;
    if (ck_s3_creds_load(&t->creds, envp, NULL, NULL, NULL, &t->e) != 0)
        return -1;
    struct ck_store_s3 o = { .endpoint = endpoint ? endpoint : m->endpoint, .bucket = m->bucket,
                             .prefix = t->prefix, .region = m->region, .path_style = !t->vhost,
                             .creds = &t->creds };
    return ck_store_open_s3(&o, t->http, &t->s, &t->e);
}

static const struct ck_store_ops *dir_ops; /* the directory's, under the ignoring put */

/* A lease write takes 100 ms, as over a network: racers all read before any writes. */
static int ignoring_put(struct ck_store *s, const char *key, const void *data, size_t len,
                        const char *cond, char *etag_out, size_t etag_cap, struct ck_err *e)
{
    (void)cond;
    if (strncmp(key, "locks/", 6) == 0 && strncmp(key, "locks/probe-", 12) != 0) {
        struct timespec d = { 0, 100 * 1000000L };
        nanosleep(&d, NULL);
    }
    return dir_ops->put(s, key, data, len, NULL, etag_out, etag_cap, e);
}

static int open_ignoring(const char *dir, struct ck_store **s, struct ck_err *e)
{
    static struct ck_store_ops ops;
    if (ck_store_open_dir(dir, s, e) != 0)
        return -1;
    dir_ops = (*s)->ops;
    ops = *dir_ops;
    ops.put = ignoring_put;
    (*s)->ops = &ops;
    (*s)->cond = CK_STORE_COND_UNKNOWN;
    snprintf((*s)->endpoint, sizeof (*s)->endpoint, "ignoring://test");
    return 0;
}

/* A fresh, empty namespace per test: a new directory, or a new S3 prefix. */
static int t_open(struct t *t, enum kind k)
{
    memset(t, 0, sizeof *t);
    t->kind = k;
    dir_seq++;
    snprintf(t->prefix, sizeof t->prefix, "/run%d-%ld/", dir_seq, (long)getpid());
    if (k == DIR_STORE || k == IGNORING) {
        snprintf(t->dir, sizeof t->dir, "%s/dir%d/store", work, dir_seq);
        return k == IGNORING ? open_ignoring(t->dir, &t->s, &t->e)
                             : ck_store_open_dir(t->dir, &t->s, &t->e);
    }
    return open_s3(t, k == S3_STORE ? &moto_auth : &moto_open, NULL, NULL, 10000);
}

static void t_close(struct t *t)
{
    ck_store_close(t->s);
    ck_http_free(t->http);
    ck_s3_creds_free(&t->creds);
}

static int setup(void **state)
{
    struct t *t = malloc(sizeof *t);
    enum kind k = (enum kind)(intptr_t)*state;
    if (t == NULL || t_open(t, k) != 0) {
        fprintf(stderr, "opening the store: %s\n", t ? t->e.msg : "oom");
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    t_close(*state);
    free(*state);
    return 0;
}

static void put_ok(struct t *t, const char *key, const char *data)
{
    int rc = ck_store_put(t->s, key, data, strlen(data), &t->e);
    if (rc != 0)
        fail_msg("put %s: %s", key, t->e.msg);
}

static void get_eq(struct t *t, const char *key, const char *want)
{
    char *d = NULL, etag[CK_STORE_ETAG_MAX];
    size_t n = 0;
    int rc = ck_store_get(t->s, key, 1 << 20, &d, &n, etag, sizeof etag, &t->e);
    if (rc != 0)
        fail_msg("get %s: rc %d: %s", key, rc, t->e.msg);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(d, want, n);
    assert_int_equal(d[n], '\0');
    assert_true(etag[0] != '\0');
    free(d);
}

/* Tests run on every backend */

static void test_put_get_list_delete(void **state)
{
    struct t *t = *state;
    put_ok(t, "certs/example.com/fullchain.pem", "chain");
    put_ok(t, "certs/example.com/privkey.pem", "key");
    put_ok(t, "certs/example.org/record.json", "{}");
    put_ok(t, "account/key.pem", "acct");
    put_ok(t, "certs/a b/with space.pem", "spaced");
    put_ok(t, "certs/example.com/fullchain.pem", "chain v2"); /* overwrite */
    put_ok(t, "empty", "");
    get_eq(t, "certs/example.com/fullchain.pem", "chain v2");
    get_eq(t, "certs/a b/with space.pem", "spaced");
    get_eq(t, "empty", "");

    char **k = NULL;
    size_t n = 0;
    if (t->kind == S3_STORE)
        goto delete; /* moto cannot verify a signed query with '/' (MOTO_SLASH) */
    OK(t, ck_store_list(t->s, "certs/", &k, &n, &t->e));
    assert_int_equal(n, 4);
    assert_string_equal(k[0], "certs/a b/with space.pem");
    assert_string_equal(k[1], "certs/example.com/fullchain.pem");
    assert_string_equal(k[2], "certs/example.com/privkey.pem");
    assert_string_equal(k[3], "certs/example.org/record.json");
    ck_store_keys_free(k, n);
    /* a plain string prefix, not only a directory */
    OK(t, ck_store_list(t->s, "certs/example.c", &k, &n, &t->e));
    assert_int_equal(n, 2);
    ck_store_keys_free(k, n);
    OK(t, ck_store_list(t->s, "", &k, &n, &t->e));
    assert_int_equal(n, 6);
    assert_string_equal(k[0], "account/key.pem");
    assert_string_equal(k[5], "empty");
    ck_store_keys_free(k, n);
    OK(t, ck_store_list(t->s, "nothing/", &k, &n, &t->e));
    assert_int_equal(n, 0);
    ck_store_keys_free(k, n);

delete:
    OK(t, ck_store_delete(t->s, "certs/example.com/privkey.pem", &t->e));
    OK(t, ck_store_delete(t->s, "certs/example.com/privkey.pem", &t->e));
    char *d = NULL;
    assert_int_equal(ck_store_get(t->s, "certs/example.com/privkey.pem", 100, &d, &n, NULL, 0,
                                  &t->e),
                     CK_STORE_NOTFOUND);
    assert_null(d);
}

static void test_not_found_and_limits(void **state)
{
    struct t *t = *state;
    char *d = NULL;
    size_t n = 0;
    assert_int_equal(ck_store_get(t->s, "no/such/key", 100, &d, &n, NULL, 0, &t->e),
                     CK_STORE_NOTFOUND);
    put_ok(t, "big", "0123456789");
    assert_int_equal(ck_store_get(t->s, "big", 9, &d, &n, NULL, 0, &t->e), -1);
    assert_null(d);
    assert_non_null(strstr(t->e.msg, "big"));
    get_eq(t, "big", "0123456789");
}

static void test_bad_keys(void **state)
{
    struct t *t = *state;
    const char *bad[] = { "", "/abs", "a//b", "../up", "a/../b", "a/./b", ".hidden", "a/.b",
                          "trail/", "ctl\x01", "back\\slash", "del\x7f" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_err_clear(&t->e);
        assert_int_equal(ck_store_put(t->s, bad[i], "x", 1, &t->e), -1);
        assert_int_equal(t->e.kind, CK_E_USAGE);
    }
    char longkey[CK_STORE_KEY_MAX + 2];
    memset(longkey, 'a', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    longkey[CK_STORE_PART_MAX + 1] = '\0';
    assert_int_equal(ck_store_put(t->s, longkey, "x", 1, &t->e), -1);
    longkey[CK_STORE_PART_MAX + 1] = 'a';
    for (size_t i = CK_STORE_PART_MAX; i < sizeof longkey - 1; i += CK_STORE_PART_MAX + 1)
        longkey[i] = '/';
    assert_int_equal(ck_store_put(t->s, longkey, "x", 1, &t->e), -1);
    longkey[CK_STORE_KEY_MAX] = '\0';
    OK(t, ck_store_put(t->s, longkey, "x", 1, &t->e));
    char **k;
    size_t n;
    assert_int_equal(ck_store_list(t->s, "../", &k, &n, &t->e), -1);
}

static void test_conditional_put(void **state)
{
    struct t *t = *state;
    char e1[CK_STORE_ETAG_MAX], e2[CK_STORE_ETAG_MAX], eg[CK_STORE_ETAG_MAX];
    const char *k = "state/renewal.json";
    OK(t, ck_store_put_if_absent(t->s, k, "v1", 2, e1, sizeof e1, &t->e));
    assert_int_equal(ck_store_put_if_absent(t->s, k, "v0", 2, NULL, 0, &t->e), CK_STORE_CONFLICT);
    if (t->kind != DIR_STORE) /* moto really answers If-None-Match: * with 412 */
        assert_non_null(strstr(t->e.msg, "already exists (412)"));
    get_eq(t, k, "v1");
    char *d;
    size_t n;
    OK(t, ck_store_get(t->s, k, 100, &d, &n, eg, sizeof eg, &t->e));
    free(d);
    assert_string_equal(eg, e1);
    assert_int_equal(ck_store_put_if_match(t->s, k, "vx", 2, "\"0123\"", NULL, 0, &t->e),
                     CK_STORE_CONFLICT);
    OK(t, ck_store_put_if_match(t->s, k, "v2", 2, e1, e2, sizeof e2, &t->e));
    assert_string_not_equal(e1, e2);
    assert_int_equal(ck_store_put_if_match(t->s, k, "v3", 2, e1, NULL, 0, &t->e),
                     CK_STORE_CONFLICT);
    if (t->kind != DIR_STORE)
        assert_non_null(strstr(t->e.msg, "changed since it was read (412)"));
    assert_non_null(strstr(t->e.msg, k));
    get_eq(t, k, "v2");
    assert_int_equal(ck_store_put_if_match(t->s, "state/missing", "v", 1, e2, NULL, 0, &t->e),
                     CK_STORE_CONFLICT);
    assert_int_equal(ck_store_put_if_match(t->s, k, "v", 1, "", NULL, 0, &t->e), -1);
}

static void put_lease(struct t *t, const char *name, const char *owner, long long expires)
{
    char key[200], body[300];
    snprintf(key, sizeof key, "locks/%s", name);
    snprintf(body, sizeof body, "{\"owner\":\"%s\",\"expires\":%lld,\"heartbeat\":%lld}", owner,
             expires, expires - 60);
    put_ok(t, key, body);
}

static void test_lease(void **state)
{
    struct t *t = *state;
    struct ck_lease *a = NULL, *b = NULL;
    struct ck_lease_holder h;
    long long now = (long long)time(NULL);
    OK(t, ck_lease_acquire(t->s, "issue", "pod-a", 60, &a, &h, &t->e));
    assert_non_null(a);
    assert_int_equal(ck_lease_acquire(t->s, "issue", "pod-b", 60, &b, &h, &t->e),
                     CK_STORE_CONFLICT);
    assert_null(b);
    assert_string_equal(h.owner, "pod-a");
    assert_true(h.expires >= now + 59 && h.expires <= now + 62);
    assert_non_null(strstr(t->e.msg, "held by pod-a until"));
    OK(t, ck_lease_heartbeat(a, &t->e));
    OK(t, ck_lease_heartbeat(a, &t->e));
    /* the same owner name does not get a live lease twice either */
    assert_int_equal(ck_lease_acquire(t->s, "issue", "pod-a", 60, &b, NULL, &t->e),
                     CK_STORE_CONFLICT);
    OK(t, ck_lease_release(a, &t->e));
    OK(t, ck_lease_acquire(t->s, "issue", "pod-b", 60, &b, &h, &t->e));

    /* b's lease is stolen behind its back (expired and taken over): b notices */
    put_lease(t, "issue", "pod-c", now + 300);
    assert_int_equal(ck_lease_heartbeat(b, &t->e), CK_STORE_CONFLICT);
    assert_non_null(strstr(t->e.msg, "lost"));
    assert_int_equal(ck_lease_release(b, &t->e), CK_STORE_CONFLICT);
    assert_int_equal(ck_lease_acquire(t->s, "issue", "pod-d", 60, &b, &h, &t->e),
                     CK_STORE_CONFLICT);
    assert_string_equal(h.owner, "pod-c");

    /* a lease expiring further ahead than a TTL plus slack (a clock years ahead, a bad
     * write) is taken over, and says so; within the slack it is live */
    put_lease(t, "issue", "pod-future", now + 20LL * 365 * 86400);
    OK(t, ck_lease_acquire(t->s, "issue", "pod-d", 60, &b, &h, &t->e));
    assert_int_equal(h.overlong, 1);
    assert_string_equal(h.owner, "pod-future");
    ck_lease_free(b);
    put_lease(t, "issue", "pod-skewed", now + 60 + CK_LEASE_SLACK_S - 10);
    assert_int_equal(ck_lease_acquire(t->s, "issue", "pod-d", 60, &b, &h, &t->e),
                     CK_STORE_CONFLICT);
    assert_int_equal(h.overlong, 0);

    /* stale (past expiry) and garbage leases are taken over */
    put_lease(t, "issue", "pod-gone", now - 5);
    OK(t, ck_lease_acquire(t->s, "issue", "pod-d", 30, &b, &h, &t->e));
    ck_lease_free(b);
    put_ok(t, "locks/other", "not json");
    OK(t, ck_lease_acquire(t->s, "other", "pod-e", 30, &b, &h, &t->e));
    ck_lease_free(b);

    assert_int_equal(ck_lease_acquire(t->s, "a/b", "x", 30, &b, NULL, &t->e), -1);
    assert_int_equal(ck_lease_acquire(t->s, "n", "", 30, &b, NULL, &t->e), -1);
    assert_int_equal(ck_lease_acquire(t->s, "n", "x", 0, &b, NULL, &t->e), -1);
}

/* Several processes race for one stale lease (and then for a missing one):
 * exactly one wins each time. */
static int race(struct t *t, const char *name, int n)
{
    pid_t pids[8];
    int winners = 0, go[2];
    assert_int_equal(pipe(go), 0); /* the start line: EOF once every racer is forked */
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            char b;
            close(go[1]);
            while (read(go[0], &b, 1) > 0)
                ;
            struct t c;
            enum kind k = t->kind;
            memset(&c, 0, sizeof c);
            /* own connection and store, same namespace */
            memcpy(c.prefix, t->prefix, sizeof c.prefix);
            int rc = -1;
            if (k == DIR_STORE)
                rc = ck_store_open_dir(t->dir, &c.s, &c.e);
            else if (k == IGNORING)
                rc = open_ignoring(t->dir, &c.s, &c.e);
            else
                rc = open_s3(&c, k == S3_STORE ? &moto_auth : &moto_open, NULL, NULL, 10000);
            struct ck_lease *l = NULL;
            char owner[32];
            snprintf(owner, sizeof owner, "racer-%d", i);
            if (rc == 0)
                rc = ck_lease_acquire(c.s, name, owner, 60, &l, NULL, &c.e);
            ck_lease_free(l);
            t_close(&c);
            _exit(rc == 0 ? 0 : rc == CK_STORE_CONFLICT ? 1 : 2);
        }
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < n; i++) {
        int st = 0;
        waitpid(pids[i], &st, 0);
        assert_true(WIFEXITED(st));
        assert_int_not_equal(WEXITSTATUS(st), 2);
        winners += WEXITSTATUS(st) == 0;
    }
    return winners;
}

static void test_lease_race(void **state)
{
    struct t *t = *state;
    assert_int_equal(race(t, "fresh", 6), 1);
    put_lease(t, "stale", "gone", (long long)time(NULL) - 1);
    assert_int_equal(race(t, "stale", 6), 1);
}

/* The probe: silent on a store that honours conditions (and leaves no probe object),
 * one line naming the endpoint on one that ignores them. */
static void test_cond_probe(void **state)
{
    struct t *t = *state;
    struct ck_lease *l = NULL;
    struct ck_lease_holder h;
    char **keys = NULL;
    size_t n = 0;
    OK(t, ck_lease_acquire(t->s, "probe", "pod-a", 60, &l, &h, &t->e));
    OK(t, ck_lease_release(l, &t->e));
    OK(t, ck_store_list(t->s, "locks/", &keys, &n, &t->e));
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "locks/probe");
    ck_store_keys_free(keys, n);
    if (t->kind != IGNORING) {
        assert_string_equal(h.notice, "");
        assert_int_equal(t->s->cond, CK_STORE_COND_HONOURED);
        return;
    }
    assert_int_equal(t->s->cond, CK_STORE_COND_IGNORED);
    assert_non_null(strstr(h.notice, "ignoring://test ("));
    assert_non_null(strstr(h.notice, "ignores conditional writes (a second create with "
                                     "If-None-Match: * and a write with a wrong If-Match ETag "
                                     "were accepted)"));
    assert_null(strchr(h.notice, '\n'));
    /* a conflict tells it too */
    OK(t, ck_lease_acquire(t->s, "probe", "pod-a", 60, &l, &h, &t->e));
    struct ck_lease *b = NULL;
    assert_int_equal(ck_lease_acquire(t->s, "probe", "pod-b", 60, &b, &h, &t->e),
                     CK_STORE_CONFLICT);
    assert_non_null(strstr(h.notice, "ignores conditional writes"));
    ck_lease_free(l);
}

/* Keys beyond ASCII: the directory and moto without signature checks (moto 5.2.1
 * cannot verify signatures for such paths, see tests/e2e/s3.sh). */
static void test_unicode_keys(void **state)
{
    struct t *t = *state;
    const char *k1 = "certs/\xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac/fullchain.pem";
    const char *k2 = "certs/a+b=c&d%e'f(g)!*@,;:$/x.pem";
    put_ok(t, k1, "utf8");
    put_ok(t, k2, "reserved");
    get_eq(t, k1, "utf8");
    get_eq(t, k2, "reserved");
    char **k;
    size_t n;
    OK(t, ck_store_list(t->s, "certs/", &k, &n, &t->e));
    assert_int_equal(n, 2);
    assert_string_equal(k[0], k2);
    assert_string_equal(k[1], k1);
    ck_store_keys_free(k, n);
    if (t->kind == S3_NOAUTH) {
        char code[600], out[256];
        snprintf(code, sizeof code,
                 "p = '%s'\n"
                 "for k in sorted(o['Key'] for o in s3.list_objects_v2(Bucket=bucket, Prefix=p + 'certs/')['Contents']):\n"
                 "    print(k[len(p):].encode().hex(), s3.get_object(Bucket=bucket, Key=k)['Body'].read().decode())\n",
                 t->prefix + 1);
        assert_int_equal(boto3(&moto_open, code, out, sizeof out), 0);
        char want[500], h1[200], h2[200];
        for (size_t i = 0; k1[i]; i++)
            sprintf(h1 + 2 * i, "%02x", (unsigned char)k1[i]);
        for (size_t i = 0; k2[i]; i++)
            sprintf(h2 + 2 * i, "%02x", (unsigned char)k2[i]);
        snprintf(want, sizeof want, "%s reserved\n%s utf8\n", h2, h1);
        assert_string_equal(out, want);
    }
}

/* S3 only */

static void test_s3_cross_check_boto3(void **state)
{
    struct t *t = *state;
    const char *pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    put_ok(t, "certs/x y/fullchain.pem", pem);
    char code[800], out[512];
    snprintf(code, sizeof code,
             "import hashlib\n"
             "r = s3.get_object(Bucket=bucket, Key='%s' + 'certs/x y/fullchain.pem')\n"
             "print(hashlib.sha256(r['Body'].read()).hexdigest(), r['ETag'])\n"
             "s3.put_object(Bucket=bucket, Key='%s' + 'from-boto3/k 1', Body=b'written by boto3')\n",
             t->prefix + 1, t->prefix + 1);
    assert_int_equal(boto3(&moto_auth, code, out, sizeof out), 0);
    char hex[65], want[200], etag[CK_STORE_ETAG_MAX];
    ck_store_sha256_hex(pem, strlen(pem), hex);
    char *d;
    size_t n;
    OK(t, ck_store_get(t->s, "certs/x y/fullchain.pem", 4096, &d, &n, etag,
                                  sizeof etag, &t->e));
    free(d);
    snprintf(want, sizeof want, "%s %s\n", hex, etag);
    assert_string_equal(out, want);
    get_eq(t, "from-boto3/k 1", "written by boto3");
}

static void test_s3_wrong_secret(void **state)
{
    (void)state;
    struct t t;
    memset(&t, 0, sizeof t);
    snprintf(t.prefix, sizeof t.prefix, "wrong");
    assert_int_equal(open_s3(&t, &moto_auth, NULL, "c2VjcmV0IHRoYXQgaXMgd3Jvbmc=", 5000), 0);
    char *d = NULL;
    size_t n;
    assert_int_equal(ck_store_get(t.s, "certs/a/fullchain.pem", 100, &d, &n, NULL, 0, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_AUTH);
    assert_non_null(strstr(t.e.msg, "access denied (403 SignatureDoesNotMatch)"));
    assert_non_null(strstr(t.e.msg, "certs/a/fullchain.pem"));
    assert_null(strstr(t.e.msg, "c2VjcmV0"));
    assert_int_equal(ck_store_put(t.s, "x", "y", 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_AUTH);
    char **k;
    assert_int_equal(ck_store_list(t.s, "", &k, &n, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_AUTH);
    t_close(&t);
}

/* Virtual-host style: http://<bucket>.localhost:<port>/<key>, signed. */
static void test_s3_virtual_host(void **state)
{
    (void)state;
    struct t t;
    memset(&t, 0, sizeof t);
    t.vhost = 1;
    snprintf(t.prefix, sizeof t.prefix, "vhost");
    char ep[64];
    snprintf(ep, sizeof ep, "http://localhost:%s", strrchr(moto_auth.endpoint, ':') + 1);
    OK(&t, open_s3(&t, &moto_auth, ep, NULL, 5000));
    put_ok(&t, "certs/v h/cert.pem", "vhost body");
    get_eq(&t, "certs/v h/cert.pem", "vhost body");
    char out[128];
    assert_int_equal(boto3(&moto_auth,
                           "print(s3.get_object(Bucket=bucket, Key='vhost/certs/v h/cert.pem')"
                           "['Body'].read().decode())\n",
                           out, sizeof out),
                     0);
    assert_string_equal(out, "vhost body\n");
    t_close(&t);
}

/* A fake S3 on loopback: answers each request (one per connection) with the
 * next canned response and keeps what it received, to check the wire format. */
struct fake {
    int fd, port;
    const char *const *replies;
    size_t n;
    char got[8][4096];
    pthread_t th;
};

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            break;
        size_t len = 0;
        char *g = f->got[i];
        while (len < sizeof f->got[i] - 1) {
            ssize_t r = recv(c, g + len, sizeof f->got[i] - 1 - len, 0);
            if (r <= 0)
                break;
            len += (size_t)r;
            g[len] = '\0';
            char *end = strstr(g, "\r\n\r\n");
            const char *cl = strstr(g, "Content-Length: ");
            if (end != NULL && (size_t)(end + 4 - g) + (cl ? strtoul(cl + 16, NULL, 10) : 0) <= len)
                break;
        }
        if (send(c, f->replies[i], strlen(f->replies[i]), MSG_NOSIGNAL) < 0)
            fprintf(stderr, "fake s3: send failed\n");
        close(c);
    }
    return NULL;
}

static void fake_start(struct fake *f, const char *const *replies, size_t n)
{
    memset(f, 0, sizeof *f);
    f->replies = replies;
    f->n = n;
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &al), 0);
    assert_int_equal(listen(f->fd, 8), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

static void fake_stop(struct fake *f)
{
    shutdown(f->fd, SHUT_RDWR);
    pthread_join(f->th, NULL);
    close(f->fd);
}

#define assert_prefix(got, want)                                                       \
    do {                                                                               \
        if (strncmp((got), (want), strlen(want)) != 0)                                 \
            fail_msg("request starts with %.120s, want %s", (got), (want));             \
    } while (0)

static int has_line(const char *req, const char *line)
{
    char l[600];
    snprintf(l, sizeof l, "\r\n%s\r\n", line);
    return strstr(req, l) != NULL;
}

/* What goes on the wire: canonical path encoding, real payload hash, session
 * token, conditional headers, canonical list query; and how answers map to
 * errors (503 + Retry-After, NoSuchBucket, truncated listing without token). */
static void test_s3_wire(void **state)
{
    (void)state;
    static const char *const replies[] = {
        "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 180\r\nConnection: close\r\n\r\n"
        "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>pfx/a&amp;b</Key>"
        "</Contents><NextContinuationToken>t/1+=</NextContinuationToken></ListBucketResult>"
        "                       ",
        "HTTP/1.1 200 OK\r\nContent-Length: 62\r\nConnection: close\r\n\r\n"
        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
        "HTTP/1.1 503 Slow Down\r\nRetry-After: 7\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"
        "<Error><Code>SlowDown</Code></Error>",
        "HTTP/1.1 404 Not Found\r\nContent-Length: 39\r\nConnection: close\r\n\r\n"
        "<Error><Code>NoSuchBucket</Code></Error>",
    };
    struct fake f;
    fake_start(&f, replies, 7);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", f.port);
    struct ck_http *http = NULL;
    struct ck_http_opts ho = { .timeout_ms = 5000 };
    struct ck_err e;
    assert_int_equal(ck_http_new(&ho, &http, &e), 0);
    struct ck_s3_creds c = { "AKIDWIRE", "wire-secret", "SESSIONTOKEN" };
    struct ck_store_s3 o = { .endpoint = ep, .bucket = "bkt", .prefix = "pfx", .path_style = 1,
                             .region = "eu-central-1", .creds = &c };
    struct ck_store *s = NULL;
    assert_int_equal(ck_store_open_s3(&o, http, &s, &e), 0);

    const char *key = "a b/\xc3\xa9+~.pem", *body = "hello body";
    char etag[CK_STORE_ETAG_MAX], hex[65], line[200];
    assert_int_equal(ck_store_put_if_absent(s, key, body, strlen(body), etag, sizeof etag, &e), 0);
    assert_string_equal(etag, "\"e1\"");
    assert_int_equal(ck_store_put_if_match(s, key, body, strlen(body), "\"e1\"", NULL, 0, &e),
                     CK_STORE_CONFLICT);
    char **k;
    size_t n;
    assert_int_equal(ck_store_list(s, "a b/", &k, &n, &e), -1); /* page 2 has no token */
    assert_int_equal(e.kind, CK_E_PROTOCOL);
    assert_non_null(strstr(e.msg, "continuation token"));
    assert_int_equal(ck_store_delete(s, "x", &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_int_equal(e.retry_after, 7);
    assert_non_null(strstr(e.msg, "s3 bkt/pfx/x: server error (503 SlowDown)"));
    char *d = NULL;
    assert_int_equal(ck_store_get(s, "y", 100, &d, &n, NULL, 0, &e), -1);
    assert_int_equal(e.kind, CK_E_PROTOCOL);
    assert_non_null(strstr(e.msg, "no such bucket"));
    fake_stop(&f);
    ck_store_close(s);
    ck_http_free(http);

    const char *put = f.got[0];
    assert_prefix(put, "PUT /bkt/pfx/a%20b/%C3%A9%2B~.pem HTTP/1.1\r\n");
    ck_store_sha256_hex(body, strlen(body), hex);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hex);
    assert_true(has_line(put, line));
    assert_true(has_line(put, "x-amz-security-token: SESSIONTOKEN"));
    assert_true(has_line(put, "If-None-Match: *"));
    assert_non_null(strstr(put, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDWIRE/"));
    assert_non_null(strstr(put, "/eu-central-1/s3/aws4_request, SignedHeaders="));
    const char *sh = strstr(put, "SignedHeaders=");
    assert_non_null(strstr(sh, "x-amz-content-sha256"));
    assert_non_null(strstr(sh, "x-amz-security-token"));
    assert_null(strstr(put, "wire-secret"));
    assert_null(strstr(put, "UNSIGNED-PAYLOAD"));
    assert_true(strstr(put, "\r\n\r\nhello body") != NULL);
    assert_true(has_line(f.got[1], "If-Match: \"e1\""));
    /* a 412 to a quoted ETag: once more unquoted (radosgw 16 compares it so) */
    assert_true(has_line(f.got[2], "If-Match: e1"));
    assert_prefix(f.got[3], "GET /bkt/?list-type=2&prefix=pfx%2Fa%20b%2F HTTP/1.1\r\n");
    ck_store_sha256_hex("", 0, hex);
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hex);
    assert_true(has_line(f.got[3], line));
    assert_prefix(f.got[4],
                  "GET /bkt/?continuation-token=t%2F1%2B%3D&list-type=2&prefix=pfx%2Fa%20b%2F "
                  "HTTP/1.1\r\n");
    assert_prefix(f.got[5], "DELETE /bkt/pfx/x HTTP/1.1\r\n");
}

/* A closed port (connection refused) and a listener that never answers. */
static void test_s3_down(void **state)
{
    (void)state;
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    assert_int_equal(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "http://127.0.0.1:%d", ntohs(a.sin_port));

    struct t t;
    memset(&t, 0, sizeof t);
    assert_int_equal(open_s3(&t, &moto_auth, ep, NULL, 1500), 0);
    char *d = NULL;
    size_t n;
    double t0 = now_s();
    assert_int_equal(ck_store_get(t.s, "k", 100, &d, &n, NULL, 0, &t.e), -1); /* not listening */
    assert_int_equal(t.e.kind, CK_E_NETWORK);
    assert_non_null(strstr(t.e.msg, "k"));
    assert_true(now_s() - t0 < 1.0);

    assert_int_equal(listen(ls, 4), 0); /* accepts the connection, never answers */
    t0 = now_s();
    assert_int_equal(ck_store_put(t.s, "k", "v", 1, &t.e), -1);
    assert_int_equal(t.e.kind, CK_E_NETWORK);
    assert_true(now_s() - t0 < 3.0);
    t_close(&t);
    close(ls);
}

/* More than one ListObjectsV2 page (1000 keys each): continuation tokens. With
 * signature checks, in a bucket of its own without prefix (MOTO_SLASH); without,
 * under the test's prefix. */
static void test_s3_list_pages(void **state)
{
    struct t *t = *state, flat;
    const struct moto *m = t->kind == S3_STORE ? &moto_auth : &moto_open;
    char code[600], out[64];
    snprintf(code, sizeof code,
             "b = bucket\n"
             "if %d:\n"
             "    b = 'flat-keys'; s3.create_bucket(Bucket=b)\n"
             "import concurrent.futures as cf\n"
             "with cf.ThreadPoolExecutor(16) as ex:\n"
             "    list(ex.map(lambda i: s3.put_object(Bucket=b, Key='%s' + 'k%%04d' %% i, Body=b''),"
             " range(1003)))\n"
             "print('ok')\n",
             t->kind == S3_STORE, t->kind == S3_STORE ? "" : t->prefix + 1);
    assert_int_equal(boto3(m, code, out, sizeof out), 0);
    struct ck_store *s = t->s;
    if (t->kind == S3_STORE) {
        memset(&flat, 0, sizeof flat);
        struct moto fm = moto_auth;
        snprintf(fm.bucket, sizeof fm.bucket, "flat-keys");
        OK(&flat, open_s3(&flat, &fm, NULL, NULL, 10000));
        s = flat.s;
    }
    char **k;
    size_t n;
    OK(t, ck_store_list(s, "", &k, &n, &t->e));
    assert_int_equal(n, 1003);
    assert_string_equal(k[0], "k0000");
    assert_string_equal(k[1002], "k1002");
    ck_store_keys_free(k, n);
    if (t->kind == S3_STORE)
        t_close(&flat);
}

/* Offline */

static void test_xml(void **state)
{
    (void)state;
    char out[64];
    const char *x = "<R><Key>a&amp;b&lt;&gt;&quot;&apos;&#233;&#x65E5;</Key><Key></Key>"
                    "<Key>bad&nope;</Key></R>";
    const char *from = x;
    assert_int_equal(ck_s3_xml_next(x, strlen(x), &from, "Key", out, sizeof out), 1);
    assert_string_equal(out, "a&b<>\"'\xc3\xa9\xe6\x97\xa5");
    assert_int_equal(ck_s3_xml_next(x, strlen(x), &from, "Key", out, sizeof out), 1);
    assert_string_equal(out, "");
    assert_int_equal(ck_s3_xml_next(x, strlen(x), &from, "Key", out, sizeof out), -1);
    const char *bad[] = { "<Key>unterminated", "<Key>a<b>c</b></Key>", "<Key>&#0;</Key>",
                          "<Key>&#xD800;</Key>", "<Key>&#x110000;</Key>", "<Key>&#123456789;</Key>",
                          "<Key>&amp</Key>", "<Key>0123456789</Key>" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        from = bad[i];
        assert_int_equal(ck_s3_xml_next(bad[i], strlen(bad[i]), &from, "Key", out, 8), -1);
    }
    from = x;
    assert_int_equal(ck_s3_xml_next(x, strlen(x), &from, "Code", out, sizeof out), 0);
    /* bounded by len, not by the NUL */
    from = x;
    assert_int_equal(ck_s3_xml_next(x, 10, &from, "Key", out, sizeof out), -1);
}

static void test_creds(void **state)
{
    (void)state;
    struct ck_s3_creds c;
    struct ck_err e;
    char *env[] = { "HOME=/", "AWS_ACCESS_KEY_ID=AKIA1", "AWS_SECRET_ACCESS_KEY=s/e+c",
                    "AWS_SESSION_TOKEN=tok", NULL };
    assert_int_equal(ck_s3_creds_load(&c, env, NULL, NULL, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKIA1");
    assert_string_equal(c.secret_key, "s/e+c");
    assert_string_equal(c.session_token, "tok");
    ck_s3_creds_free(&c);
    assert_null(c.secret_key);

    char kf[300], sf[300];
    snprintf(kf, sizeof kf, "%s/key", work);
    snprintf(sf, sizeof sf, "%s/secret", work);
    FILE *f = fopen(kf, "w");
    fputs("AKIAFILE\n", f);
    fclose(f);
    f = fopen(sf, "w");
    fputs("filesecret\r\n", f);
    fclose(f);
    assert_int_equal(ck_s3_creds_load(&c, env, kf, sf, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKIAFILE");
    assert_string_equal(c.secret_key, "filesecret");
    assert_string_equal(c.session_token, "tok");
    ck_s3_creds_free(&c);

    char *none[] = { "AWS_ACCESS_KEY_ID=AKIA1", NULL };
    assert_int_equal(ck_s3_creds_load(&c, none, NULL, NULL, NULL, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_non_null(strstr(e.msg, "AWS_SECRET_ACCESS_KEY"));
    assert_null(c.access_key);
    assert_int_equal(ck_s3_creds_load(&c, env, kf, "/nonexistent/secret", NULL, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/secret"));
    f = fopen(sf, "w");
    fputs("two words\n", f);
    fclose(f);
    assert_int_equal(ck_s3_creds_load(&c, env, kf, sf, NULL, &e), -1);
    assert_null(strstr(e.msg, "two"));
}

static void test_creds_shared_file(void **state)
{
    (void)state;
    struct ck_s3_creds c;
    struct ck_err e;
    char f[300], home[300], envf[400], envh[400];
    snprintf(f, sizeof f, "%s/credentials", work);
    FILE *fp = fopen(f, "w");
    fputs("# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key=sdef\r\n"
          "\n[ other ]\n; note\n  aws_access_key_id=AKOTHER  \naws_secret_access_key = s/o+x\n"
          "aws_session_token = TOK\nregion = eu-west-1\n[half]\naws_access_key_id = AKHALF\n",
          fp);
    fclose(fp);
    snprintf(envf, sizeof envf, "AWS_SHARED_CREDENTIALS_FILE=%s", f);
    char *env1[] = { envf, NULL };
    assert_int_equal(ck_s3_creds_load(&c, env1, NULL, NULL, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKDEF");
    assert_string_equal(c.secret_key, "sdef");
    assert_null(c.session_token);
    ck_s3_creds_free(&c);
    char *env2[] = { envf, "AWS_PROFILE=other", NULL };
    assert_int_equal(ck_s3_creds_load(&c, env2, NULL, NULL, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKOTHER");
    assert_string_equal(c.secret_key, "s/o+x");
    assert_string_equal(c.session_token, "TOK");
    ck_s3_creds_free(&c);
    char *env3[] = { envf, "AWS_PROFILE=half", NULL };
    assert_int_equal(ck_s3_creds_load(&c, env3, NULL, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "[half] lacks"));
    assert_null(c.access_key);
    /* the environment wins over the file */
    char *env4[] = { envf, "AWS_ACCESS_KEY_ID=AKENV", "AWS_SECRET_ACCESS_KEY=senv", NULL };
    assert_int_equal(ck_s3_creds_load(&c, env4, NULL, NULL, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKENV");
    ck_s3_creds_free(&c);
    /* $HOME/.aws/credentials */
    snprintf(home, sizeof home, "%s/home", work);
    snprintf(envh, sizeof envh, "HOME=%s", home);
    char *env5[] = { envh, NULL };
    assert_int_equal(ck_s3_creds_load(&c, env5, NULL, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(e.msg, "/home/.aws/credentials"));
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/.aws && cp %s %s/.aws/credentials", home, f, home);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ck_s3_creds_load(&c, env5, NULL, NULL, NULL, &e), 0);
    assert_string_equal(c.access_key, "AKDEF");
    ck_s3_creds_free(&c);
    char *env6[] = { NULL };
    assert_int_equal(ck_s3_creds_load(&c, env6, NULL, NULL, NULL, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    fp = fopen(f, "w");
    fputs("[default\naws_access_key_id=x\n", fp);
    fclose(fp);
    assert_int_equal(ck_s3_creds_load(&c, env1, NULL, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "malformed section"));
}

static void test_s3_open_errors(void **state)
{
    (void)state;
    struct ck_s3_creds c = { "AK", "SK", NULL };
    struct ck_store *s = NULL;
    struct ck_err e;
    struct ck_store_s3 o = { .endpoint = "ftp://x", .bucket = "bkt", .creds = &c };
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    o.endpoint = "http://host/path";
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
    o.endpoint = "http://user@host";
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
    o.endpoint = NULL;
    o.bucket = "Bad_Bucket";
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
    o.path_style = 1;
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), 0);
    assert_string_equal(ck_store_name(s), "s3 Bad_Bucket/");
    ck_store_close(s);
    o.prefix = "/a/../b/";
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
    o.prefix = "/team/certs/";
    o.region = "eu-west-3";
    o.path_style = 0;
    o.bucket = "bkt";
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), 0);
    assert_string_equal(ck_store_name(s), "s3 bkt/team/certs/");
    ck_store_close(s);
    o.creds = NULL;
    assert_int_equal(ck_store_open_s3(&o, NULL, &s, &e), -1);
}

static void test_dir_files(void **state)
{
    struct t *t = *state;
    put_ok(t, "account/key.pem", "secret");
    char p[700];
    struct stat st;
    snprintf(p, sizeof p, "%s/account/key.pem", t->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof p, "%s/account", t->dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* a key where a directory is: an error naming it, not a crash */
    char *d = NULL;
    size_t n;
    assert_int_equal(ck_store_get(t->s, "account", 100, &d, &n, NULL, 0, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "account"));

    /* <store>/.lock planted as a symlink to a file elsewhere: refused, the target untouched */
    char lock[700], victim[700];
    snprintf(lock, sizeof lock, "%s/.lock", t->dir);
    snprintf(victim, sizeof victim, "%s/../victim", t->dir);
    unlink(lock);
    assert_int_equal(symlink(victim, lock), 0);
    assert_int_equal(ck_store_put_if_absent(t->s, "locks/x", "v", 1, NULL, 0, &t->e), -1);
    assert_non_null(strstr(t->e.msg, lock));
    assert_non_null(strstr(t->e.msg, "symlink"));
    assert_int_equal(stat(victim, &st), -1);  /* not created through the link */
    FILE *f = fopen(victim, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(victim, 0644), 0);
    assert_int_equal(ck_store_put_if_absent(t->s, "locks/x", "v", 1, NULL, 0, &t->e), -1);
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(st.st_size, 0);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Private keys through ck_store_*_secret: sealed at rest with the key, opened
 * with the key or the old one, refused when swapped, without a key or with
 * another; a plain object is returned and sealed in place. */
static void test_secrets(void **state)
{
    struct t *t = *state;
    const char *pem = "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----\n";
    char kf_new[400], kf_old[400], kf_bad[400], raw[32];
    snprintf(kf_new, sizeof kf_new, "%s/seal-new-%d", work, dir_seq);
    snprintf(kf_old, sizeof kf_old, "%s/seal-old-%d", work, dir_seq);
    snprintf(kf_bad, sizeof kf_bad, "%s/seal-bad-%d", work, dir_seq);
    memset(raw, 0x5a, sizeof raw);
    write_file(kf_old, raw, sizeof raw); /* raw bytes */
    write_file(kf_new, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", 65);
    write_file(kf_bad, "0011\n", 5);
    char *d = NULL, *r = NULL;
    size_t n = 0, rn = 0;

    assert_int_equal(ck_store_seal(t->s, kf_bad, NULL, &t->e), -1);
    assert_non_null(strstr(t->e.msg, kf_bad));
    assert_int_equal(t->e.kind, CK_E_USAGE);

    /* without a key: plain in, plain out */
    OK(t, ck_store_put_secret(t->s, "certs/a/1/privkey.pem", pem, strlen(pem), 0, &t->e));
    get_eq(t, "certs/a/1/privkey.pem", pem);

    /* sealed with the old key */
    OK(t, ck_store_seal(t->s, kf_old, NULL, &t->e));
    OK(t, ck_store_put_secret(t->s, "certs/a/2/privkey.pem", pem, strlen(pem), 0, &t->e));
    OK(t, ck_store_get(t->s, "certs/a/2/privkey.pem", 4096, &r, &rn, NULL, 0, &t->e));
    assert_int_equal(rn, strlen(pem) + CK_SEAL_OVERHEAD);
    assert_null(strstr(r, "PRIVATE"));
    OK(t, ck_store_get_secret(t->s, "certs/a/2/privkey.pem", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);

    /* a swapped object: another name's sealed key copied over */
    put_ok(t, "certs/b/1/privkey.pem", "x");
    OK(t, ck_store_put(t->s, "certs/b/1/privkey.pem", r, rn, &t->e));
    assert_int_equal(ck_store_get_secret(t->s, "certs/b/1/privkey.pem", 4096, &d, &n, &t->e),
                     CK_STORE_BADSEAL);
    assert_null(d);
    assert_non_null(strstr(t->e.msg, "certs/b/1/privkey.pem"));
    assert_non_null(strstr(t->e.msg, "does not verify"));

    /* rotation: the new key writes, the old key still reads (and a copy of the old
     * key's object shows that reading sealed it anew, with the new key) */
    OK(t, ck_store_put(t->s, "certs/a/3/privkey.pem", "x", 1, &t->e));
    OK(t, ck_store_put_secret(t->s, "certs/a/3/privkey.pem", pem, strlen(pem), 0, &t->e));
    OK(t, ck_store_seal(t->s, kf_new, kf_old, &t->e));
    OK(t, ck_store_get_secret(t->s, "certs/a/2/privkey.pem", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);
    OK(t, ck_store_seal(t->s, kf_new, NULL, &t->e));
    OK(t, ck_store_get_secret(t->s, "certs/a/2/privkey.pem", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);
    assert_int_equal(ck_store_get_secret(t->s, "certs/a/3/privkey.pem", 4096, &d, &n, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "another store encryption key"));
    OK(t, ck_store_seal(t->s, kf_new, kf_old, &t->e));
    OK(t, ck_store_put_secret(t->s, "accounts/x/account.key", pem, strlen(pem), 1, &t->e));
    assert_int_equal(ck_store_put_secret(t->s, "accounts/x/account.key", pem, strlen(pem), 1,
                                         &t->e),
                     CK_STORE_CONFLICT);
    OK(t, ck_store_seal(t->s, kf_new, NULL, &t->e));
    OK(t, ck_store_get_secret(t->s, "accounts/x/account.key", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);

    /* the plain object of before: returned as it is, and sealed in place */
    OK(t, ck_store_get_secret(t->s, "certs/a/1/privkey.pem", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);
    free(r);
    OK(t, ck_store_get(t->s, "certs/a/1/privkey.pem", 4096, &r, &rn, NULL, 0, &t->e));
    assert_int_equal(rn, strlen(pem) + CK_SEAL_OVERHEAD);
    assert_null(strstr(r, "PRIVATE"));
    OK(t, ck_store_get_secret(t->s, "certs/a/1/privkey.pem", 4096, &d, &n, &t->e));
    assert_string_equal(d, pem);
    ck_secret_free(d, n);

    /* a limit applies to the key, not to the sealed size */
    OK(t, ck_store_get_secret(t->s, "certs/a/1/privkey.pem", strlen(pem), &d, &n, &t->e));
    ck_secret_free(d, n);
    assert_int_equal(ck_store_get_secret(t->s, "certs/a/1/privkey.pem", 10, &d, &n, &t->e), -1);
    free(r);

    /* a store without the key refuses a sealed object in one line */
    struct t plain;
    if (t->kind == DIR_STORE) {
        OK(&plain, ck_store_open_dir(t->dir, &plain.s, &plain.e));
        assert_int_equal(ck_store_get_secret(plain.s, "accounts/x/account.key", 4096, &d, &n,
                                             &plain.e),
                         -1);
        assert_non_null(strstr(plain.e.msg, "is sealed"));
        assert_null(strchr(plain.e.msg, '\n'));
        ck_store_close(plain.s);
    }
}

#define ALL(fn)                                                                              \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(intptr_t)DIR_STORE), \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(intptr_t)S3_STORE), \
    cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(intptr_t)S3_NOAUTH)
#define ONE(fn, k) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)(intptr_t)(k))

int main(void)
{
    const struct CMUnitTest tests[] = {
        ALL(test_put_get_list_delete),
        ALL(test_not_found_and_limits),
        ALL(test_bad_keys),
        ALL(test_conditional_put),
        ALL(test_lease),
        ALL(test_lease_race),
        ONE(test_lease, IGNORING),
        ONE(test_lease_race, IGNORING),
        ONE(test_cond_probe, DIR_STORE),
        ONE(test_cond_probe, S3_NOAUTH), /* listing a/b: MOTO_SLASH */
        ONE(test_cond_probe, IGNORING),
        ALL(test_secrets),
        ONE(test_unicode_keys, DIR_STORE),
        ONE(test_unicode_keys, S3_NOAUTH),
        ONE(test_s3_cross_check_boto3, S3_STORE),
        ONE(test_s3_list_pages, S3_STORE),
        ONE(test_s3_list_pages, S3_NOAUTH),
        ONE(test_dir_files, DIR_STORE),
        cmocka_unit_test(test_s3_wrong_secret),
        cmocka_unit_test(test_s3_wire),
        cmocka_unit_test(test_s3_virtual_host),
        cmocka_unit_test(test_s3_down),
        cmocka_unit_test(test_xml),
        cmocka_unit_test(test_creds),
        cmocka_unit_test(test_creds_shared_file),
        cmocka_unit_test(test_s3_open_errors),
    };
    return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
