/* lib/bundle: the current.json record, the store layout with its hash check
 * (dir backend), the renewal state and the volume reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bundle/bundle.h"
#include "store/store.h"

static char tmp[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/test_bundle.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

/* A bundle of two fake certificates (PEM framing only; the store does not parse X.509). */
static void make_bundle(struct ck_bundle *b, unsigned char tag)
{
    unsigned char leaf[40], ca[50];
    char *full = NULL;
    size_t full_len = 0;
    struct ck_err e;
    /* DER framing: a SEQUENCE of the right length */
    memset(leaf, tag, sizeof leaf);
    memset(ca, tag ^ 0x55, sizeof ca);
    leaf[0] = ca[0] = 0x30;
    leaf[1] = sizeof leaf - 2;
    ca[1] = sizeof ca - 2;
    assert_int_equal(ck_pem_append(&full, &full_len, "CERTIFICATE", leaf, sizeof leaf, &e), 0);
    assert_int_equal(ck_pem_append(&full, &full_len, "CERTIFICATE", ca, sizeof ca, &e), 0);
    const char key[] = "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n";
    if (ck_bundle_from_fullchain(full, full_len, key, strlen(key), b, &e))
        fail_msg("%s", e.msg);
    free(full);
}

static void make_record(const struct ck_bundle *b, struct ck_bundle_record *r, const char *serial)
{
    static const char *const names[] = {"example.com", "www.example.com"};
    struct ck_cert_summary sum;
    struct ck_err e;
    memset(&sum, 0, sizeof sum);
    snprintf(sum.serial_hex, sizeof sum.serial_hex, "%s", serial);
    sum.not_before = 1700000000;
    sum.not_after = 1707776000;
    sum.key_type = CK_KEY_P256;
    snprintf(sum.ari_id, sizeof sum.ari_id, "aki.serial");
    assert_int_equal(ck_bundle_record_make(b, &sum, names, 2, 1700000100, r, &e), 0);
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct ck_bundle b;
    struct ck_bundle_record r, p;
    struct ck_err e;
    char *json = NULL;
    make_bundle(&b, 1);
    make_record(&b, &r, "0a1b2c");
    assert_int_equal(ck_bundle_record_json(&r, &json, &e), 0);
    assert_int_equal(ck_bundle_record_parse(json, strlen(json), "t", &p, &e), 0);
    assert_int_equal(p.n_names, 2);
    assert_string_equal(p.names[1], "www.example.com");
    assert_string_equal(p.serial, "0a1b2c");
    assert_int_equal(p.not_before, 1700000000);
    assert_int_equal(p.not_after, 1707776000);
    assert_int_equal(p.issued_at, 1700000100);
    assert_int_equal(p.key_type, CK_KEY_P256);
    assert_string_equal(p.ari_id, "aki.serial");
    assert_string_equal(p.fullchain_sha256, r.fullchain_sha256);
    assert_string_equal(p.privkey_sha256, r.privkey_sha256);
    char h[65];
    ck_bundle_sha256_hex(b.fullchain, b.fullchain_len, h);
    assert_string_equal(h, p.fullchain_sha256);
    free(json);
    ck_bundle_record_free(&r);
    ck_bundle_record_free(&p);
    ck_bundle_free(&b);
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define OK_TAIL "\"not_before\":1,\"not_after\":2,\"issued_at\":3,\"key_type\":\"p256\"," \
                "\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}"

static void test_record_refuses_garbage(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "{", "[]", "null", "\"x\"", "{}",
        "{\"names\":\"example.com\",\"serial\":\"01\"," OK_TAIL,
        "{\"names\":[],\"serial\":\"01\"," OK_TAIL,
        "{\"names\":[1],\"serial\":\"01\"," OK_TAIL,
        "{\"names\":[\"a b\"],\"serial\":\"01\"," OK_TAIL,
        "{\"names\":[\"a\"],\"serial\":1," OK_TAIL,
        "{\"names\":[\"a\"],\"serial\":\"../x\"," OK_TAIL,
        "{\"names\":[\"a\"],\"serial\":\"ABCD\"," OK_TAIL,
        "{\"names\":[\"a\"],\"serial\":\"\"," OK_TAIL,
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":\"1\",\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":-1,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":1.5,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":1e300,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":1,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"ed25519\",\"ari_id\":\"\",\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":1,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":\"\",\"fullchain_sha256\":\"abc\",\"privkey_sha256\":\"" H64 "\"}",
        "{\"names\":[\"a\"],\"serial\":\"01\",\"not_before\":1,\"not_after\":2,\"issued_at\":3,"
        "\"key_type\":\"p256\",\"ari_id\":7,\"fullchain_sha256\":\"" H64 "\",\"privkey_sha256\":\"" H64 "\"}",
    };
    struct ck_bundle_record r;
    struct ck_err e;
    const char *good = "{\"names\":[\"a\"],\"serial\":\"01\"," OK_TAIL;
    assert_int_equal(ck_bundle_record_parse(good, strlen(good), "t", &r, &e), 0);
    ck_bundle_record_free(&r);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_err_clear(&e);
        if (ck_bundle_record_parse(bad[i], strlen(bad[i]), "current.json", &r, &e) != -1)
            fail_msg("accepted bad record %zu: %s", i, bad[i]);
        assert_non_null(strstr(e.msg, "current.json"));
        assert_null(r.names);
    }
    /* 101 names, and an oversized document */
    size_t cap = 200000;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t n = (size_t)snprintf(big, cap, "{\"names\":[");
    for (int i = 0; i < 101; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s\"n%d.example\"", i ? "," : "", i);
    n += (size_t)snprintf(big + n, cap - n, "],\"serial\":\"01\"," OK_TAIL);
    assert_int_equal(ck_bundle_record_parse(big, n, "t", &r, &e), -1);
    memset(big, ' ', cap);
    memcpy(big + cap - 3 - strlen(good), good, strlen(good));
    assert_int_equal(ck_bundle_record_parse(big, cap, "t", &r, &e), -1);
    assert_non_null(strstr(e.msg, "larger"));
    free(big);
}

static void test_consistent(void **state)
{
    (void)state;
    struct ck_bundle b;
    struct ck_err e;
    make_bundle(&b, 2);
    assert_int_equal(ck_bundle_consistent(&b, "volume", &e), 0);
    b.cert[b.cert_len / 2] ^= 1;  /* a cert.pem that differs from fullchain's leaf */
    assert_int_equal(ck_bundle_consistent(&b, "volume", &e), 1);
    assert_non_null(strstr(e.msg, "volume: fullchain.pem is not cert.pem followed by chain.pem"));
    b.cert_len = 0;
    assert_int_equal(ck_bundle_consistent(&b, "volume", &e), 1);
    assert_non_null(strstr(e.msg, "cert.pem is empty"));
    ck_bundle_free(&b);
}

static void open_store(struct ck_store **s)
{
    char dir[300];
    struct ck_err e;
    snprintf(dir, sizeof dir, "%s/store", tmp);
    assert_int_equal(ck_store_open_dir(dir, s, &e), 0);
}

static void test_store_round_trip_and_hash_check(void **state)
{
    (void)state;
    struct ck_store *s;
    struct ck_bundle b, got;
    struct ck_bundle_record r, gr;
    struct ck_err e;
    open_store(&s);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, &gr, &e), CK_BUNDLE_ABSENT);

    make_bundle(&b, 3);
    make_record(&b, &r, "01");
    assert_int_equal(ck_bundle_store_put(s, "example.com", &b, &r, &e), 0);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, &gr, &e), 0);
    assert_int_equal(got.fullchain_len, b.fullchain_len);
    assert_memory_equal(got.fullchain, b.fullchain, b.fullchain_len);
    assert_memory_equal(got.privkey, b.privkey, b.privkey_len);
    assert_memory_equal(got.chain, b.chain, b.chain_len);
    assert_string_equal(gr.serial, "01");
    ck_bundle_free(&got);
    ck_bundle_record_free(&gr);

    /* A version's object changed under current.json: refused, never mixed. */
    assert_int_equal(ck_store_put(s, "certs/example.com/01/privkey.pem", "other", 5, &e), 0);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, NULL, &e), CK_BUNDLE_BROKEN);
    assert_non_null(strstr(e.msg, "does not match the hashes of current.json"));
    assert_null(got.fullchain);

    /* A newer version written completely, current.json last: the reader gets it whole. */
    struct ck_bundle b2;
    struct ck_bundle_record r2;
    make_bundle(&b2, 4);
    make_record(&b2, &r2, "02");
    assert_int_equal(ck_bundle_store_put(s, "example.com", &b2, &r2, &e), 0);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, &gr, &e), 0);
    assert_string_equal(gr.serial, "02");
    assert_memory_equal(got.fullchain, b2.fullchain, b2.fullchain_len);
    ck_bundle_free(&got);
    ck_bundle_record_free(&gr);

    /* current.json naming a version whose objects are missing */
    assert_int_equal(ck_store_delete(s, "certs/example.com/02/fullchain.pem", &e), 0);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, NULL, &e), CK_BUNDLE_BROKEN);
    assert_non_null(strstr(e.msg, "fullchain.pem is missing"));

    /* garbage current.json */
    assert_int_equal(ck_store_put(s, "certs/example.com/current.json", "{\"x\":", 5, &e), 0);
    assert_int_equal(ck_bundle_store_get(s, "example.com", &got, NULL, &e), CK_BUNDLE_BROKEN);
    assert_non_null(strstr(e.msg, "current.json"));

    ck_bundle_record_free(&r);
    ck_bundle_record_free(&r2);
    ck_bundle_free(&b);
    ck_bundle_free(&b2);
    ck_store_close(s);
}

static void test_state(void **state)
{
    (void)state;
    struct ck_store *s;
    struct ck_bundle_state st, got;
    struct ck_err e;
    open_store(&s);
    assert_int_equal(ck_bundle_state_get(s, "state.example", &got, &e), CK_BUNDLE_ABSENT);
    memset(&st, 0, sizeof st);
    st.failures = 3;
    st.last_failure = 1700000000;
    st.next_retry = 1700006000;
    snprintf(st.last_error, sizeof st.last_error, "acme: rateLimited\nsecond line");
    assert_int_equal(ck_bundle_state_put(s, "state.example", &st, &e), 0);
    assert_int_equal(ck_bundle_state_get(s, "state.example", &got, &e), 0);
    assert_int_equal(got.failures, 3);
    assert_int_equal(got.last_failure, 1700000000);
    assert_int_equal(got.next_retry, 1700006000);
    assert_string_equal(got.last_error, "acme: rateLimited?second line"); /* kept to one line */
    static const char *const bad[] = {"", "[]", "{\"failures\":\"1\"}",
                                      "{\"failures\":-1,\"last_failure\":0,\"next_retry\":0,\"last_error\":\"\"}",
                                      "{\"failures\":1,\"last_failure\":0,\"next_retry\":0}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ck_bundle_state_parse(bad[i], strlen(bad[i]), "state.json", &got, &e), -1);
    assert_int_equal(ck_store_put(s, "certs/state.example/state.json", "nope", 4, &e), 0);
    assert_int_equal(ck_bundle_state_get(s, "state.example", &got, &e), CK_BUNDLE_BROKEN);
    ck_store_close(s);
}

static void test_volume(void **state)
{
    (void)state;
    char out[300], path[400];
    struct ck_bundle b, got;
    struct ck_err e;
    snprintf(out, sizeof out, "%s/out", tmp);
    assert_int_equal(ck_bundle_read_volume(out, "example.com", &got, &e), CK_BUNDLE_ABSENT);
    make_bundle(&b, 5);
    assert_int_equal(ck_bundle_publish(out, "example.com", &b, &e), 0);
    assert_int_equal(ck_bundle_read_volume(out, "example.com", &got, &e), 0);
    assert_memory_equal(got.fullchain, b.fullchain, b.fullchain_len);
    assert_memory_equal(got.privkey, b.privkey, b.privkey_len);
    assert_int_equal(ck_bundle_consistent(&got, "volume", &e), 0);
    ck_bundle_free(&got);

    snprintf(path, sizeof path, "%s/example.com/privkey.pem", out);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(ck_bundle_read_volume(out, "example.com", &got, &e), CK_BUNDLE_BROKEN);
    assert_non_null(strstr(e.msg, "volume: privkey.pem is missing"));
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ck_bundle_read_volume(out, "example.com", &got, &e), CK_BUNDLE_BROKEN);
    assert_non_null(strstr(e.msg, "is a directory"));
    assert_null(got.fullchain);
    ck_bundle_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_record_refuses_garbage),
        cmocka_unit_test(test_consistent),
        cmocka_unit_test(test_store_round_trip_and_hash_check),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_volume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
