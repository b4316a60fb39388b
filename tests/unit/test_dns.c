/* lib/dns against a real Knot DNS (tests/e2e/knot.sh: a primary taking TSIG-signed
 * updates and a secondary fed by NOTIFY), plus the parser on hostile bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../lib/dns/dns.h"

#define NET "127.0.54"
#define TIMEOUT 3000

static char tmp[64];
static char key_file[128], secret_file[128];

static int setup(void **state)
{
    (void)state;
    if (getuid() != 0) {
        fprintf(stderr, "test_dns: Knot listens on port 53: run as root (make test does)\n");
        return -1;
    }
    snprintf(tmp, sizeof tmp, "/tmp/ck-dns.XXXXXX");
    if (!mkdtemp(tmp))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "bash -c 'export CK_TMP=%s KNOT_NET=" NET "; source tests/e2e/knot.sh && knot_start' >&2",
             tmp);
    if (system(cmd) != 0)
        return -1;
    snprintf(key_file, sizeof key_file, "%s/knot/ck-key.yaml", tmp);
    snprintf(secret_file, sizeof secret_file, "%s/knot/ck-key.secret", tmp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "bash -c 'export CK_TMP=%s KNOT_NET=" NET "; source tests/e2e/knot.sh; knot_stop'"
             " && rm -rf %s", tmp, tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void server(struct ck_dns_server *s, const char *spec)
{
    struct ck_err e;
    assert_int_equal(ck_dns_server_parse(spec, s, &e), 0);
}

static void key(struct ck_dns_key *k, const char *file)
{
    struct ck_err e;
    assert_int_equal(ck_dns_key_load("ck-key", CK_DNS_HMAC_SHA256, file, k, &e), 0);
    assert_int_equal(k->secret_len, 32);
}

static int has(const struct ck_dns_server *s, const char *name, const char *txt)
{
    struct ck_err e;
    int h = -1;
    assert_int_equal(ck_dns_has_txt(s, name, txt, &h, TIMEOUT, &e), 0);
    return h;
}

static void test_server_parse(void **state)
{
    (void)state;
    struct ck_dns_server s;
    struct ck_err e;
    server(&s, "127.0.0.1");
    assert_string_equal(s.text, "127.0.0.1:53");
    server(&s, "127.0.0.1:5353");
    assert_string_equal(s.text, "127.0.0.1:5353");
    server(&s, "[::1]:54");
    assert_string_equal(s.text, "[::1]:54");
    server(&s, "::1");
    assert_string_equal(s.text, "[::1]:53");
    assert_int_equal(ck_dns_server_parse("127.0.0.1:0", &s, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_int_equal(ck_dns_server_parse("127.0.0.1:x", &s, &e), -1);
    assert_int_equal(ck_dns_server_parse("[::1", &s, &e), -1);
    assert_int_equal(ck_dns_server_parse("", &s, &e), -1);
}

static void test_key_files(void **state)
{
    (void)state;
    struct ck_dns_key a, b;
    key(&a, key_file);     /* Knot's format */
    key(&b, secret_file);  /* the bare secret */
    assert_memory_equal(a.secret, b.secret, 32);
    char path[160];
    snprintf(path, sizeof path, "%s/bind.key", tmp);
    FILE *f = fopen(path, "w");
    char b64[64];
    FILE *s = fopen(secret_file, "r");
    assert_non_null(s);
    assert_non_null(fgets(b64, sizeof b64, s));
    fclose(s);
    b64[strcspn(b64, "\n")] = '\0';
    fprintf(f, "key \"ck-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"%s\";\n};\n", b64);
    fclose(f);
    struct ck_dns_key c;
    key(&c, path);  /* BIND's format */
    assert_memory_equal(a.secret, c.secret, 32);
    ck_dns_key_wipe(&c);
    assert_int_equal(c.secret_len, 0);

    struct ck_err e;
    f = fopen(path, "w");
    fprintf(f, "secret: not*base64\n");
    fclose(f);
    assert_int_equal(ck_dns_key_load("ck-key", CK_DNS_HMAC_SHA256, path, &c, &e), -1);
    assert_non_null(strstr(e.msg, path));
    assert_null(strstr(e.msg, "not*base64"));
    snprintf(path, sizeof path, "%s/none", tmp);
    assert_int_equal(ck_dns_key_load("ck-key", CK_DNS_HMAC_SHA256, path, &c, &e), -1);
    assert_non_null(strstr(e.msg, "no such file"));
    assert_int_equal(ck_dns_key_load("bad..name", CK_DNS_HMAC_SHA256, secret_file, &c, &e), -1);
}

static void test_zone_and_cname(void **state)
{
    (void)state;
    struct ck_dns_server s;
    struct ck_err e;
    char out[CK_DNS_NAME_MAX];
    server(&s, NET ".1");
    assert_int_equal(ck_dns_zone(&s, 0, "_acme-challenge.www.ck.test", out, sizeof out, TIMEOUT, &e), 0);
    assert_string_equal(out, "ck.test.");
    assert_int_equal(ck_dns_zone(&s, 0, "ck.test.", out, sizeof out, TIMEOUT, &e), 0);
    assert_string_equal(out, "ck.test.");
    assert_int_equal(ck_dns_zone(&s, 0, "deep.a.b.val.test", out, sizeof out, TIMEOUT, &e), 0);
    assert_string_equal(out, "val.test.");
    /* not ours: Knot refuses, the line names the server and the name */
    assert_int_equal(ck_dns_zone(&s, 0, "example.org", out, sizeof out, TIMEOUT, &e), -1);
    assert_non_null(strstr(e.msg, "REFUSED"));
    assert_non_null(strstr(e.msg, NET ".1:53"));

    assert_int_equal(ck_dns_cname(&s, 0, "_acme-challenge.alias.ck.test.", out, sizeof out,
                                  TIMEOUT, &e), 0);
    assert_string_equal(out, "alias.val.test.");
    assert_int_equal(ck_dns_cname(&s, 0, "_acme-challenge.www.ck.test.", out, sizeof out,
                                  TIMEOUT, &e), 0);
    assert_string_equal(out, "_acme-challenge.www.ck.test.");
}

static void test_ns(void **state)
{
    (void)state;
    struct ck_dns_server s, ns[8];
    struct ck_err e;
    size_t n = 0;
    server(&s, NET ".1");
    assert_int_equal(ck_dns_ns(&s, 0, "val.test.", ns, 8, &n, TIMEOUT, &e), 0);
    assert_int_equal(n, 2);
    int one = 0, two = 0;
    for (size_t i = 0; i < n; i++) {
        one |= strcmp(ns[i].text, NET ".1:53") == 0;
        two |= strcmp(ns[i].text, NET ".2:53") == 0;
    }
    assert_true(one && two);
}

static void test_update_add_delete(void **state)
{
    (void)state;
    struct ck_dns_server s, sec;
    struct ck_dns_key k;
    struct ck_err e;
    server(&s, NET ".1");
    server(&sec, NET ".2");
    key(&k, secret_file);
    const char *name = "_acme-challenge.www.ck.test.";
    assert_int_equal(ck_dns_update(&s, &k, "ck.test.", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), 0);
    assert_int_equal(ck_dns_update(&s, &k, "ck.test.", CK_DNS_ADD, name, "value-one", 60, TIMEOUT, &e), 0);
    assert_int_equal(ck_dns_update(&s, &k, "ck.test.", CK_DNS_ADD, name, "value-two", 60, TIMEOUT, &e), 0);
    assert_int_equal(has(&s, name, "value-one"), 1);
    assert_int_equal(has(&s, name, "value-two"), 1);
    assert_int_equal(has(&s, name, "value-"), 0);  /* a prefix is not the value */
    assert_int_equal(has(&s, name, "foreign-value"), 1);
    int seen = 0;  /* the secondary follows by NOTIFY, within seconds */
    for (int i = 0; i < 100 && !seen; i++) {
        seen = has(&sec, name, "value-two");
        if (!seen)
            usleep(100 * 1000);
    }
    assert_int_equal(seen, 1);
    /* delete takes exactly that value: the other one and the foreign one stay */
    assert_int_equal(ck_dns_update(&s, &k, "ck.test.", CK_DNS_DELETE, name, "value-one", 0, TIMEOUT, &e), 0);
    assert_int_equal(has(&s, name, "value-one"), 0);
    assert_int_equal(has(&s, name, "value-two"), 1);
    assert_int_equal(has(&s, name, "foreign-value"), 1);
    assert_int_equal(ck_dns_update(&s, &k, "ck.test.", CK_DNS_DELETE, name, "value-two", 0, TIMEOUT, &e), 0);
    assert_int_equal(has(&s, name, "value-two"), 0);
    /* a long value in several strings reads back whole */
    char longv[400];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    longv[300] = 'y';
    assert_int_equal(ck_dns_update(&s, &k, "val.test", CK_DNS_ADD, "long.val.test", longv, 60, TIMEOUT, &e), 0);
    assert_int_equal(has(&s, "long.val.test", longv), 1);
    assert_int_equal(ck_dns_update(&s, &k, "val.test", CK_DNS_DELETE, "long.val.test", longv, 0, TIMEOUT, &e), 0);
    assert_int_equal(has(&s, "long.val.test", longv), 0);
    ck_dns_key_wipe(&k);
}

static void test_update_refused(void **state)
{
    (void)state;
    struct ck_dns_server s;
    struct ck_dns_key k;
    struct ck_err e;
    server(&s, NET ".1");
    key(&k, secret_file);
    k.secret[0] ^= 1;  /* a wrong secret: BADSIG */
    assert_int_equal(ck_dns_update(&s, &k, "ck.test", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), -1);
    assert_int_equal(e.kind, CK_E_AUTH);
    assert_true(strstr(e.msg, "BADSIG") || strstr(e.msg, "NOTAUTH"));
    k.secret[0] ^= 1;
    snprintf(k.name, sizeof k.name, "other-key");  /* an unknown key: BADKEY */
    assert_int_equal(ck_dns_update(&s, &k, "ck.test", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), -1);
    assert_true(strstr(e.msg, "BADKEY") || strstr(e.msg, "NOTAUTH"));
    assert_non_null(strstr(e.msg, "ck.test"));
    snprintf(k.name, sizeof k.name, "ck-key");
    /* unsigned: refused by the ACL */
    assert_int_equal(ck_dns_update(&s, NULL, "ck.test", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), -1);
    assert_true(strstr(e.msg, "NOTAUTH") || strstr(e.msg, "REFUSED"));
    /* a zone the server does not have */
    assert_int_equal(ck_dns_update(&s, &k, "example.org", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), -1);
    assert_true(strstr(e.msg, "NOTAUTH") || strstr(e.msg, "REFUSED"));
    /* a name outside the zone */
    assert_int_equal(ck_dns_update(&s, &k, "ck.test", CK_DNS_ADD, "x.val.test", "v", 60, TIMEOUT, &e), -1);
    assert_non_null(strstr(e.msg, "NOTZONE"));
    /* nobody listening: a network error in time */
    struct ck_dns_server dead;
    server(&dead, "127.0.0.1:9");
    assert_int_equal(ck_dns_update(&dead, &k, "ck.test", CK_DNS_PROBE, NULL, NULL, 0, TIMEOUT, &e), -1);
    assert_int_equal(e.kind, CK_E_NETWORK);
    assert_non_null(strstr(e.msg, "127.0.0.1:9"));
    ck_dns_key_wipe(&k);
}

static void test_parser_hostile(void **state)
{
    (void)state;
    /* header + a name pointing at itself, a forward pointer, a long label */
    unsigned char loop[] = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ck_dns_parse_check(loop, sizeof loop), -1);
    unsigned char fwd[] = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xC0, 20, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    assert_int_equal(ck_dns_parse_check(fwd, sizeof fwd), -1);
    unsigned char lbl[] = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 63, 'a'};
    assert_int_equal(ck_dns_parse_check(lbl, sizeof lbl), -1);
    unsigned char rdl[] = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0xFF, 0xFF};
    assert_int_equal(ck_dns_parse_check(rdl, sizeof rdl), -1);
    unsigned char ok[] = {0, 1, 0x80, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 2, 1, 'v'};
    assert_int_equal(ck_dns_parse_check(ok, sizeof ok), 0);
    assert_int_equal(ck_dns_parse_check(ok, 11), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_parse),
        cmocka_unit_test(test_parser_hostile),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_zone_and_cname),
        cmocka_unit_test(test_ns),
        cmocka_unit_test(test_update_add_delete),
        cmocka_unit_test(test_update_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
