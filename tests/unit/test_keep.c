/* lib/keeper's adapters on real files: the volume, the directory store, state.json,
 * the lease, revocation marks, run.pid. No CA: acme.directory is a closed loopback
 * port, so every path that would order fails at once, naming it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "cert/cert.h"
#include "config/config.h"
#include "crypto/crypto.h"
#include "keeper/keeper.h"
#include "store/store.h"

#define NAME "a.test"
#define CA_URL "https://127.0.0.1:1/directory"

static char dir[64];   /* the fixtures: a CA and leaves for a.test under it */
static int n_case;     /* each test gets dir/<n>/ */

static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Leaves for a.test under one CA (30 days): a (20 days), b (25 days, its own key: a
 * newer one), c (10 days, a's key: an older one), inv (notAfter a day before now: an
 * expired one), and other.key, which matches none of them. */
static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-keep-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key"
       " -out ca.pem -days 30 -subj /CN=Keep-Test-CA -addext basicConstraints=critical,CA:TRUE"
       " 2>/dev/null && printf 'subjectAltName=DNS:a.test\\nauthorityKeyIdentifier=keyid\\n' > ext"
       " && for k in a b other; do openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
       " -out $k.key 2>/dev/null || exit 1; done"
       " && openssl req -new -key a.key -subj /CN=a.test -out a.csr 2>/dev/null"
       " && openssl req -new -key b.key -subj /CN=a.test -out b.csr 2>/dev/null"
       " && leaf() { openssl x509 -req -in $2.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
       " -days $3 -extfile ext -out $1.pem 2>/dev/null && cat $1.pem ca.pem > $1.full; }"
       " && leaf a a 20 && leaf b b 25 && leaf c a 10 && leaf inv a -1",
       dir);
    /* old: a's key, valid from 60 to 30 days ago (openssl x509 cannot backdate) */
    sh("cd %s && touch index.txt && echo 1000 > serial && printf '[ca]\\ndefault_ca=c\\n[c]\\n"
       "database=index.txt\\nnew_certs_dir=.\\nserial=serial\\ndefault_md=sha256\\npolicy=p\\n"
       "unique_subject=no\\n[p]\\ncommonName=supplied\\n[x]\\nsubjectAltName=DNS:a.test\\n"
       "authorityKeyIdentifier=keyid\\n' > ca.cnf && openssl ca -batch -config ca.cnf -cert ca.pem"
       " -keyfile ca.key -in a.csr -out old.pem -notext -extensions x"
       " -startdate $(date -u -d '-60 days' +%%Y%%m%%d%%H%%M%%SZ)"
       " -enddate $(date -u -d '-30 days' +%%Y%%m%%d%%H%%M%%SZ) 2>/dev/null"
       " && cat old.pem ca.pem > old.full",
       dir);
    char ca[128];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    setenv("SSL_CERT_FILE", ca, 1);  /* the system store: the test CA alone */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One process's view: a configuration, its proc, the store, a log kept in memory. */
struct t {
    char root[160], out[200], state[200], store[200], web[200];
    struct ck_config c;
    const struct ck_config *one;
    struct ck_keeper_proc p;
    volatile sig_atomic_t sig, stop;
    struct ck_store *st;       /* NULL: no store configured */
    struct ck_log log;
    FILE *logf;
    char *logbuf;
    size_t loglen;
    struct ck_err e;
    char *env[4];              /* CERTKEEP_* settings for the next process_start */
    char *args[4];             /* more flags for it */
};

/* A configuration as cmd/ loads it, attached to a fresh proc with the test CA. */
static void process_start(struct t *t, int with_store)
{
    char *argv[24];
    int n = 0;
    argv[n++] = "--domain";
    argv[n++] = NAME;
    argv[n++] = "--out";
    argv[n++] = t->out;
    argv[n++] = "--state";
    argv[n++] = t->state;
    argv[n++] = "--directory";
    argv[n++] = CA_URL;
    argv[n++] = "--webroot";  /* no port to bind: the order is the first thing to fail */
    argv[n++] = t->web;
    char ca[128];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    argv[n++] = "--ca-bundle";
    argv[n++] = ca;
    if (with_store) {
        argv[n++] = "--store-dir";
        argv[n++] = t->store;
    }
    for (size_t i = 0; i < 4 && t->args[i]; i++)
        argv[n++] = t->args[i];
    argv[n] = NULL;
    ck_err_clear(&t->e);
    if (ck_config_load(&t->c, n, argv, t->env, &t->e))
        fail_msg("config: %s", t->e.msg);
    t->sig = t->stop = 0;
    ck_keeper_proc_init(&t->p, &t->sig, &t->stop);
    ck_keeper_attach(&t->c, &t->p);
    t->one = ck_config_pick(&t->c, &t->e);
    assert_non_null(t->one);
    assert_non_null(t->one->proc);
    if (ck_keeper_trust_load(t->one, &t->e))
        fail_msg("trust: %s", t->e.msg);
    t->st = NULL;
    if (with_store) {
        struct ck_keeper_store ks;
        if (ck_keeper_store_open(t->one, &ks, &t->e))
            fail_msg("store: %s", t->e.msg);
        assert_non_null(ks.store);
        assert_null(ks.http);
        t->st = ks.store;
    }
    t->logbuf = NULL;
    t->loglen = 0;
    t->logf = open_memstream(&t->logbuf, &t->loglen);
    assert_non_null(t->logf);
    ck_log_init(&t->log, t->logf, CK_LOG_DEBUG, 0);
}

static void process_end(struct t *t)
{
    ck_store_close(t->st);
    t->st = NULL;
    ck_keeper_proc_free(&t->p);
    ck_config_free(&t->c);
    fclose(t->logf);
    free(t->logbuf);
    t->logf = NULL;
    t->logbuf = NULL;
}

/* The log so far (NUL-terminated by open_memstream after a flush). */
static const char *logged(struct t *t)
{
    fflush(t->logf);
    return t->logbuf ? t->logbuf : "";
}

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    snprintf(t->root, sizeof t->root, "%s/%d", dir, ++n_case);
    snprintf(t->out, sizeof t->out, "%s/out", t->root);
    snprintf(t->state, sizeof t->state, "%s/state", t->root);
    snprintf(t->store, sizeof t->store, "%s/store", t->root);
    snprintf(t->web, sizeof t->web, "%s/web", t->root);
    sh("mkdir -p '%s' '%s' '%s'", t->out, t->store, t->web);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    if (t->logf)
        process_end(t);
    free(t);
    return 0;
}

/* A bundle from fixture files: <leaf>.full and <key>.key. */
static void bundle_of(const char *leaf, const char *key, struct ck_bundle *b)
{
    char p[256];
    size_t fl, kl;
    struct ck_err e;
    snprintf(p, sizeof p, "%s/%s.full", dir, leaf);
    char *full = slurp(p, &fl);
    snprintf(p, sizeof p, "%s/%s.key", dir, key);
    char *k = slurp(p, &kl);
    if (ck_bundle_from_fullchain(full, fl, k, kl, b, &e))
        fail_msg("%s: %s", leaf, e.msg);
    free(full);
    free(k);
}

/* The leaf's summary (set even when the pair is unusable: the leaf parses). */
static struct ck_cert_summary summary_of(struct t *t, const char *leaf, const char *key)
{
    struct ck_bundle b;
    struct ck_cert_summary sum;
    struct ck_err e;
    struct ck_cert_want w = ck_keeper_want(t->one);
    bundle_of(leaf, key, &b);
    memset(&sum, 0, sizeof sum);
    ck_cert_check("fixture", b.fullchain, b.fullchain_len, b.privkey, b.privkey_len, &w, &sum, &e);
    ck_bundle_free(&b);
    assert_true(sum.serial_hex[0] != '\0');
    assert_true(sum.not_after > 0);
    return sum;
}

static void put_volume(struct t *t, const char *leaf, const char *key)
{
    struct ck_bundle b;
    struct ck_err e;
    bundle_of(leaf, key, &b);
    if (ck_bundle_publish(t->out, NAME, &b, &e))
        fail_msg("publish: %s", e.msg);
    ck_bundle_free(&b);
}

static void put_store(struct t *t, const char *leaf, const char *key)
{
    struct ck_bundle b;
    struct ck_bundle_record r;
    struct ck_err e;
    struct ck_cert_summary sum = summary_of(t, leaf, key);
    static const char *const names[] = {NAME};
    bundle_of(leaf, key, &b);
    assert_int_equal(ck_bundle_record_make(&b, &sum, names, 1, time(NULL), &r, &e), 0);
    if (ck_bundle_store_put(t->st, NAME, &b, &r, &e))
        fail_msg("store put: %s", e.msg);
    ck_bundle_record_free(&r);
    ck_bundle_free(&b);
}

/* The volume holds exactly <leaf>.full and <key>.key, the key 0600. */
static void volume_is(struct t *t, const char *leaf, const char *key)
{
    struct ck_bundle want, got;
    struct ck_err e;
    struct stat s;
    char p[300];
    bundle_of(leaf, key, &want);
    if (ck_bundle_read_volume(t->out, NAME, &got, &e))
        fail_msg("volume: %s", e.msg);
    assert_int_equal(got.fullchain_len, want.fullchain_len);
    assert_memory_equal(got.fullchain, want.fullchain, want.fullchain_len);
    assert_int_equal(got.privkey_len, want.privkey_len);
    assert_memory_equal(got.privkey, want.privkey, want.privkey_len);
    assert_int_equal(got.cert_len, want.cert_len);
    assert_memory_equal(got.cert, want.cert, want.cert_len);
    ck_bundle_free(&want);
    ck_bundle_free(&got);
    snprintf(p, sizeof p, "%s/%s/privkey.pem", t->out, NAME);
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0600);
}

static void volume_absent(struct t *t)
{
    char p[300];
    struct stat s;
    snprintf(p, sizeof p, "%s/%s", t->out, NAME);
    assert_int_not_equal(lstat(p, &s), 0);
}

/* The store's current certificate is <leaf>'s (serial), or none (leaf NULL). */
static void store_is(struct t *t, const char *leaf, const char *key)
{
    struct ck_bundle_record r;
    struct ck_err e;
    int rc = ck_bundle_store_record(t->st, NAME, &r, &e);
    if (!leaf) {
        assert_int_equal(rc, CK_BUNDLE_ABSENT);
        return;
    }
    assert_int_equal(rc, 0);
    struct ck_cert_summary sum = summary_of(t, leaf, key);
    assert_string_equal(r.serial, sum.serial_hex);
    ck_bundle_record_free(&r);
}

static size_t store_count(struct t *t, const char *prefix)
{
    char **keys = NULL;
    size_t n = 0;
    struct ck_err e;
    assert_int_equal(ck_store_list(t->st, prefix, &keys, &n, &e), 0);
    ck_store_keys_free(keys, n);
    return n;
}

static int init(struct t *t)
{
    ck_err_clear(&t->e);
    return ck_keeper_init_with(t->one, &t->log, t->st, &t->e);
}

/* ---- 1. init: the volume, else the store, else issue ---- */

static void init_keeps_a_usable_volume(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    put_volume(t, "a", "a");
    put_store(t, "c", "a");  /* older: the store is not touched */
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    store_is(t, "c", "a");
    assert_non_null(strstr(logged(t), "using the volume"));
    /* a newer one in the store that is not usable (not its key): never published */
    put_store(t, "b", "other");
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    store_is(t, "b", "other");
    assert_non_null(strstr(logged(t), "privkey.pem does not match"));
    process_end(t);
    /* no store configured: the same */
    process_start(t, 0);
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
}

static void init_restores_to_an_empty_volume(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    put_store(t, "a", "a");
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    assert_non_null(strstr(logged(t), "restored from"));
}

static void init_replaces_an_unusable_volume(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    put_volume(t, "a", "other");  /* the key is not the certificate's */
    put_store(t, "b", "b");
    assert_int_equal(init(t), 0);
    volume_is(t, "b", "b");
    assert_non_null(strstr(logged(t), "restored from"));
    /* an expired one, and one whose notAfter is before its notBefore */
    put_volume(t, "old", "a");
    put_store(t, "a", "a");
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    assert_non_null(strstr(logged(t), "(volume: expired"));
    put_volume(t, "inv", "a");
    put_store(t, "c", "a");
    assert_int_equal(init(t), 0);
    volume_is(t, "c", "a");
    assert_non_null(strstr(logged(t), "is not after notBefore"));
}

static void init_restores_a_newer_store(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    put_volume(t, "a", "a");
    put_store(t, "b", "b");
    assert_int_equal(init(t), 0);
    volume_is(t, "b", "b");
    store_is(t, "b", "b");
}

static void init_seeds_an_empty_store(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    put_volume(t, "a", "a");
    store_is(t, NULL, NULL);
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    store_is(t, "a", "a");
    struct ck_bundle got, want;
    assert_int_equal(ck_bundle_store_get(t->st, NAME, &got, NULL, &t->e), 0);
    bundle_of("a", "a", &want);
    assert_int_equal(got.privkey_len, want.privkey_len);
    assert_memory_equal(got.privkey, want.privkey, want.privkey_len);
    assert_memory_equal(got.fullchain, want.fullchain, want.fullchain_len);
    ck_bundle_free(&got);
    ck_bundle_free(&want);
    assert_non_null(strstr(logged(t), "copied the volume's certificate"));
}

/* Nothing anywhere and no CA: one error naming the directory URL, the volume untouched,
 * the issuer lease given back. */
static void init_without_anything_fails_naming_the_ca(void **state)
{
    struct t *t = *state;
    process_start(t, 1);
    assert_int_equal(init(t), -1);
    assert_non_null(strstr(t->e.msg, "127.0.0.1:1"));
    assert_null(strchr(t->e.msg, '\n'));
    volume_absent(t);
    store_is(t, NULL, NULL);
    /* the lease is free again: another replica takes it at once */
    struct ck_lease *l = NULL;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-b", 60, &l, NULL, &t->e), 0);
    ck_lease_free(l);
    process_end(t);
    process_start(t, 0);
    assert_int_equal(init(t), -1);
    assert_non_null(strstr(t->e.msg, "127.0.0.1:1"));
    volume_absent(t);
}

static void init_refuses_a_revoked_volume(void **state)
{
    struct t *t = *state;
    process_start(t, 0);
    put_volume(t, "a", "a");
    struct ck_cert_summary a = summary_of(t, "a", "a");
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, NULL, a.serial_hex, 1, &t->e), 0);
    assert_int_equal(init(t), -1);  /* not kept: an order is attempted, and fails */
    assert_non_null(strstr(t->e.msg, "127.0.0.1:1"));
    assert_non_null(strstr(logged(t), "revoked"));
    process_end(t);
    /* with a store: its (usable) certificate replaces the revoked one */
    process_start(t, 1);
    put_store(t, "b", "b");
    assert_int_equal(init(t), 0);
    volume_is(t, "b", "b");
}

/* ---- 2. pickup of another replica's certificate ---- */

static void pickup(void **state)
{
    struct t *t = *state;
    struct ck_cert_summary got;
    process_start(t, 1);
    put_volume(t, "a", "a");
    struct ck_cert_summary a = summary_of(t, "a", "a"), b = summary_of(t, "b", "b");
    /* nothing in the store, the same, an older one: nothing to do */
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, NULL, &got, &t->e), 0);
    put_store(t, "a", "a");
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, NULL, &got, &t->e), 0);
    put_store(t, "c", "a");
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, NULL, &got, &t->e), 0);
    volume_is(t, "a", "a");
    /* a newer one that is not usable: an error, the volume untouched */
    put_store(t, "b", "other");
    ck_err_clear(&t->e);
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, NULL, &got, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "store"));
    volume_is(t, "a", "a");
    /* a newer usable one: restored */
    put_store(t, "b", "b");
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, &mu, &got, &t->e), 1);
    assert_string_equal(got.serial_hex, b.serial_hex);
    assert_int_equal(got.not_after, b.not_after);
    volume_is(t, "b", "b");
    assert_non_null(strstr(logged(t), "store.pickup"));
    /* and once we hold it, no more */
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, b.not_after, NULL, &got, &t->e), 0);
    /* a newer one revoked: not worth having */
    put_volume(t, "a", "a");
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, t->st, b.serial_hex, 1, &t->e), 0);
    assert_int_equal(ck_keeper_pickup(t->one, &t->log, t->st, a.not_after, NULL, &got, &t->e), 0);
    volume_is(t, "a", "a");
}

/* ---- 3. failures: count, backoff, across restarts ---- */

static void failures_count_and_back_off(struct t *t, int with_store)
{
    static const long steps[] = {60, 600, 6000, 86400};
    struct ck_err why;
    struct ck_bundle_state s;
    unsigned f = 0;
    int64_t next = 0;
    process_start(t, with_store);
    ck_err_clear(&why);
    ck_fail(&why, "order: %s: connection refused", CA_URL);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), CK_BUNDLE_ABSENT);
    for (unsigned i = 0; i < 3; i++) {
        int64_t t0 = time(NULL);
        ck_keeper_note_failure(t->one, &t->log, t->st, &why, f, &f, &next);
        int64_t t1 = time(NULL);
        long spread = steps[i] / 100 < 5 ? 5 : steps[i] / 100;
        assert_int_equal(f, i + 1);
        assert_in_range(next, t0 + steps[i], t1 + steps[i] + spread - 1);
        assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
        assert_int_equal(s.failures, i + 1);
        assert_int_equal(s.next_retry, next);
        assert_in_range(s.last_failure, t0, t1);
        assert_non_null(strstr(s.last_error, "connection refused"));
    }
    if (!with_store) {  /* where it lives without a store */
        char p[300];
        snprintf(p, sizeof p, "%s/certs/%s/state.json", t->state, NAME);
        assert_int_equal(access(p, F_OK), 0);
    }
    process_end(t);
    /* a restart: a fresh process reads 3 and its next retry back, and counts on from there */
    process_start(t, with_store);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 3);
    assert_int_equal(s.next_retry, next);
    unsigned f2 = 0;
    int64_t t0 = time(NULL);
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, s.failures, &f2, &next);
    assert_int_equal(f2, 4);
    assert_in_range(next, t0 + steps[3], time(NULL) + steps[3] + steps[3] / 100 - 1);
    /* the operator's SIGTERM: nothing counted */
    t->sig = SIGTERM;
    unsigned f3 = 4;
    int64_t n3 = 0;
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, 4, &f3, &n3);
    assert_int_equal(f3, 4);
    assert_int_equal(n3, 0);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 4);
    t->sig = 0;
    /* a new certificate: back to nothing */
    ck_keeper_clear_failures(t->one, &t->log, t->st);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.next_retry, 0);
    process_end(t);
    process_start(t, with_store);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 0);
}

static void failures_in_the_store(void **state)
{
    failures_count_and_back_off(*state, 1);
}

static void failures_in_the_state_dir(void **state)
{
    failures_count_and_back_off(*state, 0);
}

/* The store's count is every replica's: another one's count is taken as it is. */
static void failures_another_replica_counted(void **state)
{
    struct t *t = *state;
    struct ck_err why;
    struct ck_bundle_state s = {.failures = 2, .next_retry = time(NULL) + 600};
    process_start(t, 1);
    ck_err_clear(&why);
    ck_fail(&why, "order failed");
    assert_int_equal(ck_bundle_state_put(t->st, NAME, &s, &t->e), 0);
    /* our job started from 1: the 2 there is this very failure, counted by another replica */
    unsigned f = 1;
    int64_t next = 0;
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, 1, &f, &next);
    assert_int_equal(f, 2);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 2);
}

/* The CA's Retry-After (a rate limit) is honoured when longer than the step, up to 7 days. */
static void failures_honour_the_cas_retry_after(void **state)
{
    struct t *t = *state;
    struct ck_err why;
    unsigned f = 0;
    int64_t next = 0;
    process_start(t, 1);
    ck_err_clear(&why);
    ck_fail(&why, "order: rateLimited");
    why.retry_after = 3600;
    int64_t t0 = time(NULL);
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, f, &f, &next);
    assert_int_equal(f, 1);
    assert_in_range(next, t0 + 3600, time(NULL) + 3600 + 36 - 1);
    why.retry_after = 30L * 86400;  /* beyond reason: cut to 7 days */
    t0 = time(NULL);
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, f, &f, &next);
    assert_int_equal(f, 2);
    assert_in_range(next, t0 + 7 * 86400, time(NULL) + 7 * 86400 + 7 * 864 - 1);
    why.retry_after = 10;  /* shorter than the step: the step */
    t0 = time(NULL);
    ck_keeper_note_failure(t->one, &t->log, t->st, &why, f, &f, &next);
    assert_int_equal(f, 3);
    assert_in_range(next, t0 + 6000, time(NULL) + 6000 + 60 - 1);
}

/* A state.json that cannot be read is no count of 0: the process's own count goes on,
 * so that the backoff does not start again at a minute. */
static void failures_with_a_broken_state(void **state)
{
    struct t *t = *state;
    struct ck_err why;
    struct ck_bundle_state s;
    char p[300];
    ck_err_clear(&why);
    ck_fail(&why, "order failed");
    for (int with_store = 1; with_store >= 0; with_store--) {
        unsigned f = 3;
        int64_t next = 0;
        process_start(t, with_store);
        if (with_store) {
            assert_int_equal(ck_store_put(t->st, "certs/" NAME "/state.json", "{\"fail", 6, &t->e), 0);
        } else {
            snprintf(p, sizeof p, "%s/certs/%s", t->state, NAME);
            sh("mkdir -p '%s' && printf '{\"fail' > '%s/state.json'", p, p);
        }
        assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), CK_BUNDLE_BROKEN);
        int64_t t0 = time(NULL);
        ck_keeper_note_failure(t->one, &t->log, t->st, &why, 3, &f, &next);
        assert_int_equal(f, 4);
        assert_in_range(next, t0 + 86400, time(NULL) + 86400 + 864 - 1);
        assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);  /* mended */
        assert_int_equal(s.failures, 4);
        process_end(t);
    }
}

/* ---- 4. the issuer lease ---- */

static void lease_busy(void **state)
{
    struct t *t = *state;
    struct ck_lease *other = NULL;
    struct ck_keeper_renewal r = {0};
    process_start(t, 1);
    put_volume(t, "a", "a");
    put_store(t, "a", "a");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-b/7/cafe", 60, &other, NULL, &t->e), 0);
    ck_err_clear(&t->e);
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, t->st, &r, &t->e), CK_KEEPER_BUSY);
    assert_non_null(strstr(t->e.msg, "replica-b/7/cafe"));
    /* nothing ordered: no account key anywhere, the volume and the store as they were */
    assert_int_equal(store_count(t, "accounts/"), 0);
    char p[300];
    snprintf(p, sizeof p, "%s/account.key", t->state);
    assert_int_not_equal(access(p, F_OK), 0);
    volume_is(t, "a", "a");
    store_is(t, "a", "a");
    assert_int_equal(r.restored, 0);
    /* the other replica's lease is still its own */
    assert_int_equal(ck_lease_heartbeat(other, &t->e), 0);
    assert_int_equal(ck_lease_release(other, &t->e), 0);
}

static void lease_stale_is_taken_over_and_given_back(void **state)
{
    struct t *t = *state;
    struct ck_keeper_renewal r = {0};
    char body[200], *data = NULL;
    size_t len = 0;
    long long now = time(NULL);
    process_start(t, 1);
    put_volume(t, "a", "a");
    put_store(t, "a", "a");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    snprintf(body, sizeof body, "{\"owner\":\"replica-gone/1/dead\",\"expires\":%lld,"
             "\"heartbeat\":%lld}", now - 5, now - 65);
    assert_int_equal(ck_store_put(t->st, "locks/" NAME, body, strlen(body), &t->e), 0);
    ck_err_clear(&t->e);
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, t->st, &r, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "127.0.0.1:1"));
    volume_is(t, "a", "a");
    store_is(t, "a", "a");
    /* given back: no live lease of ours (nor the dead one's) left in the store */
    assert_int_equal(ck_store_get(t->st, "locks/" NAME, 4096, &data, &len, NULL, 0, &t->e), 0);
    assert_null(strstr(data, "replica-gone"));
    assert_non_null(strstr(data, "\"expires\":0"));
    free(data);
    struct ck_lease *l = NULL;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-c", 60, &l, NULL, &t->e), 0);
    ck_lease_free(l);
}

/* Holding the lease, a newer certificate another replica put in the store is restored
 * instead of ordering one. */
static void renew_picks_up_a_newer_store(void **state)
{
    struct t *t = *state;
    struct ck_keeper_renewal r = {0};
    process_start(t, 1);
    put_volume(t, "a", "a");
    put_store(t, "b", "b");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    struct ck_bundle_state s = {.failures = 2, .next_retry = time(NULL) + 600};
    assert_int_equal(ck_bundle_state_put(t->st, NAME, &s, &t->e), 0);
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, t->st, &r, &t->e), 0);
    assert_int_equal(r.restored, 1);
    assert_int_equal(r.lease_lost, 0);
    assert_int_equal(r.reload, 1);  /* no reload.* set */
    assert_string_equal(r.sum.serial_hex, summary_of(t, "b", "b").serial_hex);
    volume_is(t, "b", "b");
    assert_int_equal(store_count(t, "accounts/"), 0);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), 0);
    assert_int_equal(s.failures, 0);
    struct ck_lease *l = NULL;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-c", 60, &l, NULL, &t->e), 0);
    ck_lease_free(l);
}

/* No store: straight to the order, which fails naming the CA; nothing written. */
static void renew_without_store_fails_naming_the_ca(void **state)
{
    struct t *t = *state;
    struct ck_keeper_renewal r = {0};
    process_start(t, 0);
    put_volume(t, "a", "a");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, NULL, &r, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "127.0.0.1:1"));
    volume_is(t, "a", "a");
}

/* ---- 5. revocation marks, run.pid ---- */

static void revocation_marks(void **state)
{
    struct t *t = *state;
    char p[400];
    process_start(t, 0);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, "0abc"), 0);
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, NULL, "0abc", 4, &t->e), 0);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, "0abc"), 1);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, "0abd"), 0);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, ""), 0);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, NULL), 0);
    snprintf(p, sizeof p, "%s/certs/%s/revoked/0abc.json", t->state, NAME);
    size_t len;
    char *text = slurp(p, &len);
    assert_non_null(strstr(text, "\"serial\":\"0abc\""));
    assert_non_null(strstr(text, "\"reason\":4"));
    free(text);
    process_end(t);
    /* with a store: the store's mark is the one every replica sees */
    process_start(t, 1);
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, t->st, "0def", 1, &t->e), 0);
    assert_int_equal(ck_keeper_revoked(t->one, t->st, "0def"), 1);
    snprintf(p, sizeof p, "%s/certs/%s/revoked/0def.json", t->state, NAME);
    assert_int_equal(unlink(p), 0);  /* another replica: no local mark */
    assert_int_equal(ck_keeper_revoked(t->one, t->st, "0def"), 1);
    assert_int_equal(ck_keeper_revoked(t->one, NULL, "0def"), 0);
    assert_int_equal(ck_keeper_revoked(t->one, t->st, "0abc"), 1);  /* the local one still */
    assert_int_equal(ck_keeper_revoked(t->one, t->st, "0123"), 0);
}

static void run_pid(void **state)
{
    struct t *t = *state;
    int fd = -1, fd2 = -1;
    long pid = -1;
    process_start(t, 0);
    /* no run yet: one line naming the state directory */
    assert_int_equal(ck_keeper_run_signal(t->one, 0, &pid, &t->e), -1);
    assert_non_null(strstr(t->e.msg, t->state));
    assert_null(strchr(t->e.msg, '\n'));
    assert_int_equal(pid, 0);
    assert_int_equal(ck_keeper_run_lock(t->one, &fd, &t->e), 0);
    assert_true(fd >= 0);
    /* a second run on the same state directory is refused, even from this process */
    assert_int_equal(ck_keeper_run_lock(t->one, &fd2, &t->e), -1);
    assert_int_equal(fd2, -1);
    assert_non_null(strstr(t->e.msg, "another certkeep run holds it"));
    /* renew --now finds the run (signal 0: only asks whether it is there) */
    assert_int_equal(ck_keeper_run_signal(t->one, 0, &pid, &t->e), 0);
    assert_int_equal(pid, (long)getpid());
    close(fd);
    /* the run ended (or crashed): its pid is never signalled */
    assert_int_equal(ck_keeper_run_signal(t->one, 0, &pid, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "nobody holds it"));
    assert_null(strchr(t->e.msg, '\n'));
    assert_int_equal(pid, 0);
    /* and the next run takes it */
    assert_int_equal(ck_keeper_run_lock(t->one, &fd, &t->e), 0);
    close(fd);
}

/* ---- 6. the volume read, with its day-long proof ---- */

static void read_volume(void **state)
{
    struct t *t = *state;
    struct ck_cert_summary sum;
    char why[600], proof[300];
    process_start(t, 0);
    snprintf(proof, sizeof proof, "%s/certs/%s/checked", t->state, NAME);
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), CK_KEEPER_VOL_ABSENT);
    assert_non_null(strstr(why, t->out));
    assert_int_not_equal(access(proof, F_OK), 0);
    put_volume(t, "a", "a");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), 0);
    assert_string_equal(sum.serial_hex, summary_of(t, "a", "a").serial_hex);
    size_t len;
    char *text = slurp(proof, &len);
    long long at = 0;
    assert_true(len > 65 && text[64] == ' ');
    assert_int_equal(sscanf(text + 65, "%lld", &at), 1);
    assert_in_range(at, time(NULL) - 5, time(NULL));
    /* the second read under the proof: still usable, the proof kept as it was */
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), 0);
    size_t len2;
    char *text2 = slurp(proof, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(text2, text, len);
    free(text2);
    /* a new certificate (a renewal, a restore) under the old proof: the full check it
     * passes leaves its own proof, so that the next reads are spared it */
    put_volume(t, "b", "b");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), 0);
    assert_true(sum.proved);
    text2 = slurp(proof, &len2);
    assert_true(len2 > 64);
    for (int i = 0; i < 32; i++) {
        unsigned v;
        assert_int_equal(sscanf(text2 + 2 * i, "%2x", &v), 1);
        if (v != sum.proof[i])
            fail_msg("%s: not the proof of the certificate now on the volume", proof);
    }
    assert_memory_not_equal(text2, text, 64);
    free(text);
    free(text2);
    /* expired */
    put_volume(t, "old", "a");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), CK_KEEPER_VOL_UNUSABLE);
    assert_non_null(strstr(why, "volume: expired"));
    /* the key swapped for another valid key: the proof does not cover it */
    put_volume(t, "a", "other");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), CK_KEEPER_VOL_UNUSABLE);
    /* a corrupted key file */
    put_volume(t, "a", "a");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), 0);
    char kp[300];
    snprintf(kp, sizeof kp, "%s/%s/privkey.pem", t->out, NAME);
    FILE *f = fopen(kp, "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    assert_int_equal(fputs("!!!!", f) >= 0, 1);
    fclose(f);
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), CK_KEEPER_VOL_UNUSABLE);
    assert_non_null(strstr(why, "privkey.pem"));
    /* revoked (the local mark) */
    put_volume(t, "a", "a");
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), 0);
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, NULL, sum.serial_hex, 1, &t->e), 0);
    assert_int_equal(ck_keeper_read_volume(t->one, &sum, why, sizeof why), CK_KEEPER_VOL_UNUSABLE);
    assert_non_null(strstr(why, "revoked"));
}

/* ---- the account key ---- */

static void account_key(void **state)
{
    struct t *t = *state;
    struct ck_key *k1 = NULL, *k2 = NULL;
    char p[300];
    struct stat s;
    process_start(t, 0);
    snprintf(p, sizeof p, "%s/account.key", t->state);
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, NULL, 0, &k1, &t->e), -1);
    assert_non_null(strstr(t->e.msg, t->state));
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, NULL, 1, &k1, &t->e), 0);
    assert_int_equal(stat(p, &s), 0);
    assert_int_equal(s.st_mode & 0777, 0600);
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, NULL, 0, &k2, &t->e), 0);
    assert_true(ck_key_same(k1, k2));
    ck_key_free(k1);
    ck_key_free(k2);
    process_end(t);
    /* with a store: the shared one, under accounts/<directory host> */
    process_start(t, 1);
    char prefix[300];
    assert_int_equal(ck_keeper_account_prefix(t->one, prefix, sizeof prefix, &t->e), 0);
    assert_string_equal(prefix, "accounts/127.0.0.1_1");
    k1 = k2 = NULL;
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, t->st, 0, &k1, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "accounts/127.0.0.1_1"));
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, t->st, 1, &k1, &t->e), 0);
    assert_int_equal(store_count(t, "accounts/127.0.0.1_1/"), 1);
    assert_int_equal(ck_keeper_account_key(t->one, &t->log, t->st, 0, &k2, &t->e), 0);
    assert_true(ck_key_same(k1, k2));
    ck_key_free(k1);
    ck_key_free(k2);
}

/* Another replica revoked the volume's certificate: only the store holds the mark. The
 * store's older, unrevoked one is published instead. */
static void init_refuses_a_volume_revoked_in_the_store(void **state)
{
    struct t *t = *state;
    char p[400];
    process_start(t, 1);
    put_volume(t, "b", "b");
    put_store(t, "a", "a");
    struct ck_cert_summary b = summary_of(t, "b", "b");
    assert_int_equal(ck_keeper_mark_revoked(t->one, &t->log, t->st, b.serial_hex, 1, &t->e), 0);
    snprintf(p, sizeof p, "%s/certs/%s/revoked/%s.json", t->state, NAME, b.serial_hex);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(init(t), 0);
    volume_is(t, "a", "a");
    store_is(t, "a", "a");
}

/* ---- SIGTERM while waiting for another replica ---- */

static void sigterm_while_init_waits_for_the_lease(void **state)
{
    struct t *t = *state;
    struct ck_lease *other = NULL;
    process_start(t, 1);
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-b/7/cafe", 60, &other, NULL, &t->e), 0);
    t->sig = SIGTERM;
    assert_int_equal(init(t), -1);
    assert_non_null(strstr(t->e.msg, "interrupted"));
    assert_non_null(strstr(t->e.msg, "replica-b/7/cafe"));
    volume_absent(t);
    assert_int_equal(ck_lease_heartbeat(other, &t->e), 0);  /* still the other's */
    assert_int_equal(ck_lease_release(other, &t->e), 0);
}

static void sigterm_while_renew_waits_for_the_lease(void **state)
{
    struct t *t = *state;
    struct ck_lease *other = NULL;
    struct ck_keeper_renewal r = {0};
    process_start(t, 1);
    put_volume(t, "a", "a");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-b/7/cafe", 60, &other, NULL, &t->e), 0);
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, t->st, &r, &t->e), CK_KEEPER_BUSY);
    t->sig = SIGTERM;
    assert_int_equal(ck_keeper_renew_wait(t->one, &t->log, t->st, &r, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "interrupted"));
    volume_is(t, "a", "a");
    assert_int_equal(ck_lease_release(other, &t->e), 0);
}

/* SIGTERM during a renewal that holds the lease: the lease still goes back. */
static void sigterm_while_renewing_gives_the_lease_back(void **state)
{
    struct t *t = *state;
    struct ck_keeper_renewal r = {0};
    struct ck_bundle_state s;
    process_start(t, 1);
    put_volume(t, "a", "a");
    r.have_not_after = summary_of(t, "a", "a").not_after;
    t->sig = SIGTERM;
    t->stop = 1;  /* what the handler sets: lib/http's requests stop */
    assert_int_equal(ck_keeper_renew_once(t->one, &t->log, t->st, &r, &t->e), -1);
    assert_int_equal(t->stop, 0);  /* cleared so that the release went out */
    struct ck_lease *l = NULL;
    assert_int_equal(ck_lease_acquire(t->st, NAME, "replica-c", 60, &l, NULL, &t->e), 0);
    ck_lease_free(l);
    volume_is(t, "a", "a");
    /* and nothing counted for it */
    unsigned f = 0;
    int64_t next = 0;
    ck_keeper_note_failure(t->one, &t->log, t->st, &t->e, 0, &f, &next);
    assert_int_equal(ck_keeper_state_get(t->one, t->st, &s, &t->e), CK_BUNDLE_ABSENT);
    assert_int_equal(f, 0);
}

/* ---- the app told (reload.command), the webhook ---- */

static void tell_app(void **state)
{
    struct t *t = *state;
    char script[300], told[300], cmd[700], env[400];
    process_start(t, 0);
    put_volume(t, "a", "a");
    assert_int_equal(ck_keeper_tell_app(t->one, &t->log), 1);  /* no reload.* set */
    process_end(t);
    snprintf(told, sizeof told, "%s/told", t->root);
    snprintf(script, sizeof script, "%s/reload.sh", t->root);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\necho \"$CERTKEEP_CERT_NAME $CERTKEEP_SERIAL\" > '%s'\nexit \"$1\"\n",
            told);
    fclose(f);
    assert_int_equal(chmod(script, 0755), 0);
    snprintf(env, sizeof env, "CERTKEEP_RELOAD_COMMAND=%s 0", script);
    t->env[0] = env;
    process_start(t, 0);
    assert_int_equal(ck_keeper_tell_app(t->one, &t->log), 0);
    size_t len;
    char *text = slurp(told, &len);
    snprintf(cmd, sizeof cmd, "%s %s\n", NAME, summary_of(t, "a", "a").serial_hex);
    assert_string_equal(text, cmd);
    free(text);
    process_end(t);
    snprintf(env, sizeof env, "CERTKEEP_RELOAD_COMMAND=%s 3", script);
    process_start(t, 0);
    assert_int_equal(ck_keeper_tell_app(t->one, &t->log), -1);
    assert_non_null(strstr(logged(t), "reload.failed"));
}

/* A webhook that cannot be reached is a warning; the failure is counted all the same. */
static void failure_webhook_unreachable(void **state)
{
    struct t *t = *state;
    struct ck_err why;
    struct ck_bundle_state s;
    unsigned f = 0;
    int64_t next = 0;
    t->env[0] = "CERTKEEP_WEBHOOK_URL=http://127.0.0.1:1/hook";
    process_start(t, 0);
    ck_err_clear(&why);
    ck_fail(&why, "order failed");
    ck_keeper_note_failure(t->one, &t->log, NULL, &why, 0, &f, &next);
    assert_int_equal(f, 1);
    assert_int_equal(ck_keeper_state_get(t->one, NULL, &s, &t->e), 0);
    assert_int_equal(s.failures, 1);
    assert_non_null(strstr(logged(t), "webhook"));
    assert_non_null(strstr(logged(t), "127.0.0.1:1"));
}

/* ---- the verdicts ---- */

static void usable_and_just_issued(void **state)
{
    struct t *t = *state;
    struct ck_bundle b;
    struct ck_cert_summary sum;
    t->args[0] = "--min-valid";
    t->args[1] = "3d";  /* more than 1/8 of a 20-day certificate */
    process_start(t, 0);
    bundle_of("a", "a", &b);
    assert_int_equal(ck_keeper_usable(t->one, "store", &b, &sum, &t->e), 0);
    assert_int_equal(ck_keeper_just_issued(t->one, &t->log, &b, &sum, &t->e), 0);
    assert_int_equal(ck_keeper_just_issued(t->one, &t->log, &b, &sum, &t->e), 0);
    const char *l = logged(t), *w = strstr(l, "renewal.min_valid");
    assert_non_null(w);
    assert_null(strstr(w + 1, "renewal.min_valid"));  /* said once per process */
    ck_bundle_free(&b);
    bundle_of("a", "other", &b);
    assert_int_equal(ck_keeper_usable(t->one, "store", &b, &sum, &t->e), 1);
    assert_non_null(strstr(t->e.msg, "store"));
    assert_int_equal(ck_keeper_just_issued(t->one, &t->log, &b, &sum, &t->e), -1);
    assert_non_null(strstr(t->e.msg, "issued certificate"));
    ck_bundle_free(&b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(init_keeps_a_usable_volume),
        T(init_restores_to_an_empty_volume),
        T(init_replaces_an_unusable_volume),
        T(init_restores_a_newer_store),
        T(init_seeds_an_empty_store),
        T(init_without_anything_fails_naming_the_ca),
        T(init_refuses_a_revoked_volume),
        T(init_refuses_a_volume_revoked_in_the_store),
        T(pickup),
        T(failures_in_the_store),
        T(failures_in_the_state_dir),
        T(failures_another_replica_counted),
        T(failures_with_a_broken_state),
        T(failures_honour_the_cas_retry_after),
        T(lease_busy),
        T(lease_stale_is_taken_over_and_given_back),
        T(renew_picks_up_a_newer_store),
        T(renew_without_store_fails_naming_the_ca),
        T(revocation_marks),
        T(run_pid),
        T(read_volume),
        T(account_key),
        T(sigterm_while_init_waits_for_the_lease),
        T(sigterm_while_renew_waits_for_the_lease),
        T(sigterm_while_renewing_gives_the_lease_back),
        T(tell_app),
        T(failure_webhook_unreachable),
        T(usable_and_just_issued),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
