/* lib/config: precedence, types, errors with file:line:key, lists, durations. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config/config.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-config.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/certkeep.yaml", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Loads with a file (when text is not NULL), extra env and flags. */
static int load(struct ck_config *c, const char *text, char **env, int argc, char **argv,
                struct ck_err *e)
{
    char cfg[160];
    char *envp[32];
    size_t n = 0;
    if (text) {
        write_file(text);
        snprintf(cfg, sizeof cfg, "CERTKEEP_CONFIG=%s", path);
        envp[n++] = cfg;
    }
    for (size_t i = 0; env && env[i]; i++)
        envp[n++] = env[i];
    envp[n] = NULL;
    char *none[] = {NULL};
    return ck_config_load(c, argc, argv ? argv : none, envp, e);
}

/* Expects a CK_E_USAGE failure whose message is exactly `want` ("%s" → file path). */
static void expect_error(const char *text, char **env, int argc, char **argv, const char *want)
{
    struct ck_config c;
    struct ck_err e;
    char expected[600];
    assert_int_equal(load(&c, text, env, argc, argv, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    snprintf(expected, sizeof expected, want, path);
    assert_string_equal(e.msg, expected);
    assert_null(c.out_dir); /* freed and zeroed on error */
}

static void test_defaults(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, NULL, NULL, 0, NULL, &e), 0);
    assert_string_equal(c.out_dir, "/certs");
    assert_string_equal(c.state_dir, "/var/lib/certkeep");
    assert_string_equal(c.directory_url, "https://acme-v02.api.letsencrypt.org/directory");
    assert_string_equal(c.http01_listen, ":80");
    assert_string_equal(c.s3.region, "us-east-1");
    assert_int_equal(c.key_type, CK_KEY_P256);
    assert_int_equal(c.account_key_type, CK_KEY_P256);
    assert_int_equal(c.challenge, CK_CHALLENGE_HTTP01);
    assert_int_equal(c.store_required, 1);
    assert_int_equal(c.min_valid, 3600);
    assert_int_equal(c.reload_signal, SIGHUP);
    assert_int_equal(c.log_level, CK_LOG_INFO);
    assert_int_equal(c.log_json, 0);
    assert_int_equal(c.agree_tos, 0);
    assert_null(c.listen);
    assert_null(c.email);
    assert_null(c.cert_name);
    assert_null(c.config_file);
    assert_int_equal(c.n_domains, 0);
    ck_config_free(&c);
}

static const char full_yaml[] =
    "domains: [Example.COM, www.example.com]\n"
    "email: a@b.c\n"
    "agree_tos: true\n"
    "out: /o\n"
    "state: /s\n"
    "acme: {directory: \"https://localhost:14000/dir\", ca_bundle: /ca.pem, profile: shortlived,\n"
    "       preferred_chain: Root X2, account_key_type: p384}\n"
    "key_type: rsa2048\n"
    "challenge:\n"
    "  type: http-01\n"
    "  http01_listen: \"127.0.0.1:5002\"\n"
    "  webroot: /var/www\n"
    "store:\n"
    "  required: false\n"
    "  s3:\n"
    "    endpoint: http://minio:9000\n"
    "    bucket: certs\n"
    "    prefix: prod/\n"
    "    region: eu-west-1\n"
    "    path_style: yes\n"
    "    access_key_file: /a\n"
    "    secret_key_file: /b\n"
    "renewal: {min_valid: 2d}\n"
    "reload: {signal: SIGUSR1, process: nginx, pidfile: /p, command: \"nginx -s reload\", url: "
    "\"http://app/reload\"}\n"
    "webhook: {url: \"https://hooks/x\"}\n"
    "listen: \":9090\"\n"
    "log: {format: json, level: debug}\n";

static void test_file_all_keys(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, full_yaml, NULL, 0, NULL, &e), 0);
    assert_int_equal(c.n_domains, 2);
    assert_string_equal(c.domains[0], "example.com");
    assert_string_equal(c.domains[1], "www.example.com");
    assert_string_equal(c.cert_name, "example.com");
    assert_string_equal(c.email, "a@b.c");
    assert_int_equal(c.agree_tos, 1);
    assert_string_equal(c.out_dir, "/o");
    assert_string_equal(c.state_dir, "/s");
    assert_string_equal(c.directory_url, "https://localhost:14000/dir");
    assert_string_equal(c.ca_bundle, "/ca.pem");
    assert_string_equal(c.profile, "shortlived");
    assert_string_equal(c.preferred_chain, "Root X2");
    assert_int_equal(c.account_key_type, CK_KEY_P384);
    assert_int_equal(c.key_type, CK_KEY_RSA2048);
    assert_int_equal(c.challenge, CK_CHALLENGE_HTTP01);
    assert_string_equal(c.http01_listen, "127.0.0.1:5002");
    assert_string_equal(c.webroot, "/var/www");
    assert_int_equal(c.store_required, 0);
    assert_string_equal(c.s3.endpoint, "http://minio:9000");
    assert_string_equal(c.s3.bucket, "certs");
    assert_string_equal(c.s3.prefix, "prod/");
    assert_string_equal(c.s3.region, "eu-west-1");
    assert_int_equal(c.s3.path_style, 1);
    assert_string_equal(c.s3.access_key_file, "/a");
    assert_string_equal(c.s3.secret_key_file, "/b");
    assert_int_equal(c.min_valid, 2 * 86400);
    assert_int_equal(c.reload_signal, SIGUSR1);
    assert_string_equal(c.reload_process, "nginx");
    assert_string_equal(c.reload_pidfile, "/p");
    assert_string_equal(c.reload_command, "nginx -s reload");
    assert_string_equal(c.reload_url, "http://app/reload");
    assert_string_equal(c.webhook_url, "https://hooks/x");
    assert_string_equal(c.listen, ":9090");
    assert_int_equal(c.log_json, 1);
    assert_int_equal(c.log_level, CK_LOG_DEBUG);
    assert_string_equal(c.config_file, path);
    ck_config_free(&c);
}

static void test_precedence(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    const char *yaml = "email: file@x.y\nout: /file\nstate: /file\nstore: {s3: {bucket: fb}}\n";
    char *env[] = {"CERTKEEP_EMAIL=env@x.y", "CERTKEEP_OUT=/env", "CERTKEEP_S3_BUCKET=eb", NULL};
    char *argv[] = {"--email", "flag@x.y", NULL};

    /* file over default */
    assert_int_equal(load(&c, yaml, NULL, 0, NULL, &e), 0);
    assert_string_equal(c.email, "file@x.y");
    assert_string_equal(c.out_dir, "/file");
    assert_string_equal(c.s3.bucket, "fb");
    ck_config_free(&c);
    /* env over file; the SPEC's short name works */
    assert_int_equal(load(&c, yaml, env, 0, NULL, &e), 0);
    assert_string_equal(c.email, "env@x.y");
    assert_string_equal(c.out_dir, "/env");
    assert_string_equal(c.state_dir, "/file");
    assert_string_equal(c.s3.bucket, "eb");
    ck_config_free(&c);
    /* flag over env */
    assert_int_equal(load(&c, yaml, env, 2, argv, &e), 0);
    assert_string_equal(c.email, "flag@x.y");
    assert_string_equal(c.out_dir, "/env");
    ck_config_free(&c);
}

static void test_flags(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char *argv[] = {"--domain", "a.example", "extra", "--domain=B.example", "--agree-tos",
                    "--key-type=rsa4096", "--s3-path-style=false", "--force", "--",
                    "--not-a-flag", NULL};
    assert_int_equal(load(&c, "domains: [file.example]\n", NULL, 10, argv, &e), 0);
    assert_int_equal(c.n_domains, 2); /* flags replace the file's list, repeats add */
    assert_string_equal(c.domains[0], "a.example");
    assert_string_equal(c.domains[1], "b.example");
    assert_int_equal(c.agree_tos, 1);
    assert_int_equal(c.key_type, CK_KEY_RSA4096);
    assert_int_equal(c.s3.path_style, 0);
    assert_int_equal(c.force, 1);
    assert_int_equal(c.n_args, 2);
    assert_string_equal(c.args[0], "extra");
    assert_string_equal(c.args[1], "--not-a-flag");
    ck_config_free(&c);

    char *cfg[] = {"--config", path, NULL};
    assert_int_equal(load(&c, "email: cfg@x.y\n", NULL, 0, NULL, &e), 0); /* writes the file */
    ck_config_free(&c);
    char *none[] = {NULL};
    assert_int_equal(ck_config_load(&c, 2, cfg, none, &e), 0);
    assert_string_equal(c.email, "cfg@x.y");
    ck_config_free(&c);
}

static void test_flag_errors(void **state)
{
    (void)state;
    char *unknown[] = {"--domian", "a.example", NULL};
    expect_error(NULL, NULL, 2, unknown, "unknown flag --domian");
    char *missing[] = {"--email", NULL};
    expect_error(NULL, NULL, 1, missing, "--email needs a value");
    char *flag_next[] = {"--email", "--agree-tos", NULL};
    expect_error(NULL, NULL, 2, flag_next, "--email needs a value");
    char *short_flag[] = {"-x", NULL};
    expect_error(NULL, NULL, 1, short_flag, "unknown flag -x");
    char *bad_kt[] = {"--key-type", "rsa1024", NULL};
    expect_error(NULL, NULL, 2, bad_kt,
                 "--key-type: \"rsa1024\" is not one of rsa2048|rsa3072|rsa4096|p256|p384");
    char *bad_bool[] = {"--agree-tos=yes-please", NULL};
    expect_error(NULL, NULL, 1, bad_bool, "--agree-tos: \"yes-please\" is not true or false");
    char *bad_dom[] = {"--domain", "exa_mple.com", NULL};
    expect_error(NULL, NULL, 2, bad_dom,
                 "--domain: \"exa_mple.com\" is not a DNS name (letters, digits, '-', '.', and a "
                 "leading \"*.\")");
    char *empty_dom[] = {"--domain=", NULL};
    expect_error(NULL, NULL, 1, empty_dom, "--domain: \"\" is an empty name");
    char *dup[] = {"--domain", "a.example", "--domain", "A.example", NULL};
    expect_error(NULL, NULL, 4, dup, "--domain: \"A.example\" is listed twice");
    char *url[] = {"--directory", "ftp://x/dir", NULL};
    expect_error(NULL, NULL, 2, url, "--directory: \"ftp://x/dir\" is not an http:// or https:// URL");
    char *listen[] = {"--listen", "localhost", NULL};
    expect_error(NULL, NULL, 2, listen,
                 "--listen: \"localhost\" is not an address (\":80\", \"127.0.0.1:8080\", "
                 "\"[::1]:80\")");
    char *empty_out[] = {"--out=", NULL};
    expect_error(NULL, NULL, 1, empty_out, "--out: must not be empty");
    char *cfg_missing[] = {"--config", "/nonexistent/certkeep.yaml", NULL};
    expect_error(NULL, NULL, 2, cfg_missing, "/nonexistent/certkeep.yaml: No such file or directory");
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_error("email: a@b.c\n"
                 "store:\n"
                 "  s3:\n"
                 "    bucket: {name: x}\n",
                 NULL, 0, NULL, "%s:4: store.s3.bucket: expected a string");
    expect_error("agree_tos: yes-please\n", NULL, 0, NULL,
                 "%s:1: agree_tos: \"yes-please\" is not true or false");
    expect_error("\n\nkey_type: rsa1024\n", NULL, 0, NULL,
                 "%s:3: key_type: \"rsa1024\" is not one of rsa2048|rsa3072|rsa4096|p256|p384");
    expect_error("email: a@b.c\nstore:\n  s3:\n    buckt: x\n", NULL, 0, NULL,
                 "%s:4: store.s3.buckt: unknown key");
    expect_error("emial: a@b.c\n", NULL, 0, NULL, "%s:1: emial: unknown key");
    expect_error("store: {s3: {bucket: a}}\nstore.s3.bucket: b\n", NULL, 0, NULL,
                 "%s:2: store.s3.bucket: unknown key");
    expect_error("email: a@b.c\nout: /a\nemail: c@d.e\n", NULL, 0, NULL,
                 "%s:3: email: duplicate key (first on line 1)");
    expect_error("domains:\n  - a.example\n  -\n", NULL, 0, NULL, "%s:3: domains: expected a name");
    expect_error("domains:\n  - a.example\n  - \"\"\n", NULL, 0, NULL,
                 "%s:3: domains: \"\" is an empty name");
    expect_error("domains:\n  - a.example\n  - \"a b.example\"\n", NULL, 0, NULL,
                 "%s:3: domains: \"a b.example\" is not a DNS name (letters, digits, '-', '.', "
                 "and a leading \"*.\")");
    expect_error("domains: a.example\n", NULL, 0, NULL, "%s:1: domains: expected a list of names");
    expect_error("renewal:\n  min_valid: -1h\n", NULL, 0, NULL,
                 "%s:2: renewal.min_valid: \"-1h\" is negative; a duration is at least 0s");
    expect_error("renewal: {min_valid: 10}\n", NULL, 0, NULL,
                 "%s:1: renewal.min_valid: \"10\" is not a duration (90s, 10m, 1h, 2d)");
    expect_error("acme:\n  directory: \"file:///etc/passwd\"\n", NULL, 0, NULL,
                 "%s:2: acme.directory: \"file:///etc/passwd\" is not an http:// or https:// URL");
    expect_error("store: s3\n", NULL, 0, NULL, "%s:1: store: expected a map");
    expect_error("- a\n- b\n", NULL, 0, NULL, "%s:1: expected a map of settings");
    expect_error("email: [unclosed\n", NULL, 0, NULL,
                 "%s:2: invalid YAML: did not find expected ',' or ']' while parsing a flow "
                 "sequence");
    expect_error("email: a@b.c\n---\nemail: c@d.e\n", NULL, 0, NULL,
                 "%s: holds more than one YAML document");
    expect_error("log: {format: xml}\n", NULL, 0, NULL,
                 "%s:1: log.format: \"xml\" is not one of text|json");
    expect_error("reload: {signal: KILL}\n", NULL, 0, NULL,
                 "%s:1: reload.signal: \"KILL\" is not a signal (HUP, INT, QUIT, TERM, USR1, "
                 "USR2, WINCH)");
    expect_error("cert_name: ../etc\n", NULL, 0, NULL,
                 "%s:1: cert_name: \"../etc\" must not start with '.' or '-'");
    expect_error("email: \"a\\0b@c.d\"\n", NULL, 0, NULL, "%s:1: email: value contains a NUL byte");
    expect_error("[1, 2]: x\n", NULL, 0, NULL, "%s:1: : a key must be a plain word");
}

/* A FIFO or a directory named by --config is refused at once, never waited on. */
static void test_config_not_a_file(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char fifo[200], flag[220];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    snprintf(flag, sizeof flag, "--config=%s", fifo);
    char *argv[] = {flag, NULL};
    char *none[] = {NULL};
    assert_int_equal(ck_config_load(&c, 1, argv, none, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    char want[300];
    snprintf(want, sizeof want, "config: read %s: not a regular file", fifo);
    assert_string_equal(e.msg, want);
    unlink(fifo);
    snprintf(flag, sizeof flag, "--config=%s", dir);
    assert_int_equal(ck_config_load(&c, 1, argv, none, &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    snprintf(want, sizeof want, "config: read %s: is a directory", dir);
    assert_string_equal(e.msg, want);
}

static void test_file_too_big(void **state)
{
    (void)state;
    size_t n = CK_CONFIG_MAX_FILE + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n);
    big[n] = '\0';
    expect_error(big, NULL, 0, NULL, "config: read %s: larger than 65536 bytes");
    /* exactly the limit is fine: one comment */
    big[CK_CONFIG_MAX_FILE - 1] = '\n';
    big[CK_CONFIG_MAX_FILE] = '\0';
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, big, NULL, 0, NULL, &e), 0);
    ck_config_free(&c);
    free(big);
}

static void test_env(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char *env[] = {"CERTKEEP_DOMAINS= a.example ,B.example,c.example",
                   "CERTKEEP_MIN_VALID=10m",
                   "CERTKEEP_STORE_S3_PATH_STYLE=true",
                   "CERTKEEP_LOG_FORMAT=json",
                   "AWS_ACCESS_KEY_ID=AKIA",
                   "AWS_SECRET_ACCESS_KEY=secret",
                   "AWS_REGION=eu-central-1",
                   "UNRELATED=1",
                   NULL};
    assert_int_equal(load(&c, NULL, env, 0, NULL, &e), 0);
    assert_int_equal(c.n_domains, 3);
    assert_string_equal(c.domains[0], "a.example");
    assert_string_equal(c.domains[1], "b.example");
    assert_string_equal(c.domains[2], "c.example");
    assert_int_equal(c.min_valid, 600);
    assert_int_equal(c.s3.path_style, 1);
    assert_int_equal(c.log_json, 1);
    assert_string_equal(c.s3.region, "eu-central-1");
    ck_config_free(&c);

    /* an empty variable is unset */
    char *empty[] = {"CERTKEEP_OUT=", "CERTKEEP_DOMAINS=", "CERTKEEP_AGREE_TOS=", NULL};
    assert_int_equal(load(&c, "out: /file\ndomains: [f.example]\n", empty, 0, NULL, &e), 0);
    assert_string_equal(c.out_dir, "/file");
    assert_int_equal(c.n_domains, 1);
    ck_config_free(&c);

    /* the file's region beats AWS_REGION, which is only a better default */
    char *env2[] = {"AWS_REGION=eu-central-1", NULL};
    assert_int_equal(load(&c, "store: {s3: {region: ap-south-1}}\n", env2, 0, NULL, &e), 0);
    assert_string_equal(c.s3.region, "ap-south-1");
    ck_config_free(&c);
}

static void test_env_errors(void **state)
{
    (void)state;
    char *e1[] = {"CERTKEEP_DOMAINS=a.example,,b.example", NULL};
    expect_error(NULL, e1, 0, NULL, "CERTKEEP_DOMAINS: empty name in the list");
    char *e2[] = {"CERTKEEP_DOMAINS=a.example,", NULL};
    expect_error(NULL, e2, 0, NULL, "CERTKEEP_DOMAINS: empty name in the list");
    char *e3[] = {"CERTKEEP_S3_PATH_STYLE=maybe", NULL};
    expect_error(NULL, e3, 0, NULL, "CERTKEEP_S3_PATH_STYLE: \"maybe\" is not true or false");
    char *e4[] = {"CERTKEEP_BUCKET=x", NULL};
    expect_error(NULL, e4, 0, NULL, "CERTKEEP_BUCKET: unknown variable");
    char *e5[] = {"CERTKEEP_S3_BUCKET=x", "CERTKEEP_STORE_S3_BUCKET=y", NULL};
    expect_error(NULL, e5, 0, NULL,
                 "CERTKEEP_STORE_S3_BUCKET and CERTKEEP_S3_BUCKET disagree; set one");
    char *e6[] = {"CERTKEEP_MIN_VALID=1x", NULL};
    expect_error(NULL, e6, 0, NULL,
                 "CERTKEEP_MIN_VALID: \"1x\" is not a duration (90s, 10m, 1h, 2d)");
    char *e7[] = {"CERTKEEP_KEY_TYPE=rsa1024", NULL};
    expect_error(NULL, e7, 0, NULL,
                 "CERTKEEP_KEY_TYPE: \"rsa1024\" is not one of rsa2048|rsa3072|rsa4096|p256|p384");
}

static void test_durations(void **state)
{
    (void)state;
    static const struct { const char *text; int64_t secs; } ok[] = {
        {"90s", 90}, {"10m", 600}, {"1h", 3600}, {"2d", 172800}, {"1h30m", 5400}, {"0", 0},
        {"0s", 0}, {"3650d", 3650LL * 86400},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char var[64];
        snprintf(var, sizeof var, "CERTKEEP_MIN_VALID=%s", ok[i].text);
        char *env[] = {var, NULL};
        struct ck_config c;
        struct ck_err e;
        assert_int_equal(load(&c, NULL, env, 0, NULL, &e), 0);
        assert_int_equal(c.min_valid, ok[i].secs);
        ck_config_free(&c);
    }
    static const char *const bad[] = {"h", "1", "1.5h", "1 h", "1w", "3651d", "99999999999999999999s", "1h-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char var[64];
        snprintf(var, sizeof var, "CERTKEEP_MIN_VALID=%s", bad[i]);
        char *env[] = {var, NULL};
        struct ck_config c;
        struct ck_err e;
        assert_int_equal(load(&c, NULL, env, 0, NULL, &e), -1);
        assert_int_equal(e.kind, CK_E_USAGE);
        assert_non_null(strstr(e.msg, "CERTKEEP_MIN_VALID: "));
    }
}

/* n names as a YAML block list and as flags. */
static void names_case(size_t n, int want_ok)
{
    size_t cap = 64 + n * 40;
    char *yaml = malloc(cap), **argv = calloc(2 * n + 1, sizeof *argv);
    char (*names)[48] = calloc(n, sizeof *names);
    assert_non_null(yaml);
    size_t len = (size_t)snprintf(yaml, cap, "domains:\n");
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "n%zu.example.com", i);
        len += (size_t)snprintf(yaml + len, cap - len, "  - %s\n", names[i]);
        argv[2 * i] = "--domain";
        argv[2 * i + 1] = names[i];
    }
    struct ck_config c;
    struct ck_err e;
    if (want_ok) {
        assert_int_equal(load(&c, yaml, NULL, 0, NULL, &e), 0);
        assert_int_equal(c.n_domains, n);
        ck_config_free(&c);
        assert_int_equal(load(&c, NULL, NULL, (int)(2 * n), argv, &e), 0);
        assert_int_equal(c.n_domains, n);
        assert_string_equal(c.domains[n - 1], names[n - 1]);
        ck_config_free(&c);
    } else {
        char want[64];
        snprintf(want, sizeof want, "%%s:%zu: domains: more than 100 names", n + 1);
        expect_error(yaml, NULL, 0, NULL, want);
        expect_error(NULL, NULL, (int)(2 * n), argv, "--domain: more than 100 names");
    }
    free(names);
    free(argv);
    free(yaml);
}

static void test_100_vs_101_names(void **state)
{
    (void)state;
    names_case(100, 1);
    names_case(101, 0);
}

static void test_domains_and_names(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char *argv[] = {"--domain", "*.Example.com", "--domain", "example.com", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, argv, &e), 0);
    assert_string_equal(c.domains[0], "*.example.com");
    assert_string_equal(c.cert_name, "_.example.com");
    /* a wildcard needs dns-01 */
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "*.example.com: a wildcard name needs challenge.type dns-01");
    ck_config_free(&c);

    static const char *const bad[] = {"-a.example", "a-.example", "a..example", "a.example.",
                                      "1.2.3.400", "*.1.2.3.4", "1.2.3", "a.*.example",
                                      "*example.com", "é.example", "::1::"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *av[] = {"--domain", (char *)bad[i], NULL};
        assert_int_equal(load(&c, NULL, NULL, 2, av, &e), -1);
        assert_int_equal(e.kind, CK_E_USAGE);
    }
    /* IP addresses (RFC 8738): one textual form, a file-safe name, http-01 only */
    char *ips[] = {"--domain", "0:0::1", "--domain", "127.0.0.1", "--domain", "ip.example", NULL};
    assert_int_equal(load(&c, NULL, NULL, 6, ips, &e), 0);
    assert_string_equal(c.domains[0], "::1");
    assert_string_equal(c.domains[1], "127.0.0.1");
    assert_string_equal(c.cert_name, "__1");
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    ck_config_free(&c);
    char *ipdns[] = {"--domain", "192.0.2.7", "--challenge", "dns-01", "--dns-hook", "/bin/true", NULL};
    assert_int_equal(load(&c, NULL, NULL, 6, ipdns, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), -1);
    assert_string_equal(e.msg, "192.0.2.7: an IP address is validated by http-01, not dns-01 (RFC 8738)");
    ck_config_free(&c);

    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".example");
    char *av[] = {"--domain", label, NULL};
    expect_error(NULL, NULL, 2, av, "--domain: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" has "
                                    "a label longer than 63 characters");
}

static void test_validate_for(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, NULL, NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "no domain: set --domain, CERTKEEP_DOMAINS or domains: in the file");
    assert_int_equal(ck_config_validate_for(&c, "status", &e), 0);
    ck_config_free(&c);

    /* --reason is revoke's alone */
    char *argv[] = {"--domain", "a.example", "--reason", "superseded", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, argv, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "revoke", &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "renew", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "--reason: only revoke takes a reason");
    ck_config_free(&c);
    assert_int_equal(load(&c, NULL, NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "revoke", &e), -1);
    assert_string_equal(e.msg, "no certificate named: set --cert-name or --domain");
    ck_config_free(&c);

    char *ok[] = {"--domain", "a.example", "--s3-bucket", "b", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, ok, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    ck_config_free(&c);
}

static void test_null_and_empty(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    /* "key:" with no value keeps the default; "" unsets an optional string */
    assert_int_equal(load(&c, "out:\nemail: \"\"\nlisten: ~\nacme: {}\nstore:\n", NULL, 0, NULL,
                          &e), 0);
    assert_string_equal(c.out_dir, "/certs");
    assert_null(c.email);
    assert_null(c.listen);
    ck_config_free(&c);
    /* an empty file is no settings */
    assert_int_equal(load(&c, "", NULL, 0, NULL, &e), 0);
    ck_config_free(&c);
    assert_int_equal(load(&c, "# only a comment\n", NULL, 0, NULL, &e), 0);
    ck_config_free(&c);
}

static void test_print_flags(void **state)
{
    (void)state;
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    ck_config_print_flags(f);
    fclose(f);
    static const char *const spec_flags[] = {
        "--config FILE", "--domain NAME", "--email ADDR", "--agree-tos", "--out DIR",
        "--state DIR", "--directory URL", "--ca-bundle FILE", "--key-type", "--profile NAME",
        "--http01-listen ADDR", "--webroot DIR", "--s3-endpoint URL", "--s3-bucket NAME",
        "--s3-prefix P", "--s3-region R", "--s3-path-style", "--listen ADDR", "--log-format"};
    for (size_t i = 0; i < sizeof spec_flags / sizeof spec_flags[0]; i++)
        assert_non_null(strstr(buf, spec_flags[i]));
}

/* Validation of the dns-01 settings, as exit-2 lines: one way to publish, signed
 * updates only, and the other challenge's settings refused rather than ignored. */
static void expect_invalid(const char *text, int argc, char **argv, const char *want)
{
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, text, NULL, argc, argv, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, want);
    ck_config_free(&c);
}

static void test_tlsalpn01_settings(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char *deflt[] = {"--domain", "a.example", "--challenge", "tls-alpn-01", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, deflt, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    assert_int_equal(c.challenge, CK_CHALLENGE_TLSALPN01);
    assert_string_equal(c.tlsalpn01_listen, ":443");
    assert_int_equal(c.tlsalpn01_listen_set, 0);
    ck_config_free(&c);
    char *env[] = {"CERTKEEP_CHALLENGE_TLSALPN01_LISTEN=127.0.0.1:8443", NULL};
    assert_int_equal(load(&c, "domains: [a.example]\nchallenge: {type: tls-alpn-01}\n", env, 0,
                          NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "run", &e), 0);
    assert_string_equal(c.tlsalpn01_listen, "127.0.0.1:8443");
    ck_config_free(&c);
    char *wild[] = {"--domain", "*.a.example", "--challenge", "tls-alpn-01", NULL};
    expect_invalid(NULL, 4, wild, "*.a.example: a wildcard name needs challenge.type dns-01");
    char *web[] = {"--domain", "a.example", "--challenge", "tls-alpn-01", "--webroot", "/srv",
                   NULL};
    expect_invalid(NULL, 6, web, "challenge.webroot is an http-01 setting, with challenge.type "
                                 "tls-alpn-01");
    char *listen80[] = {"--domain", "a.example", "--challenge", "tls-alpn-01", "--http01-listen",
                        ":80", NULL};
    expect_invalid(NULL, 6, listen80, "challenge.http01_listen is an http-01 setting, with "
                                      "challenge.type tls-alpn-01");
    char *hook[] = {"--domain", "a.example", "--challenge", "tls-alpn-01", "--dns-hook", "/bin/h",
                    NULL};
    expect_invalid(NULL, 6, hook, "challenge.dns_hook is a dns-01 setting; set challenge.type "
                                  "dns-01 (--challenge dns-01) or remove it");
    /* its listen address with another type is refused, not ignored */
    char *other[] = {"--domain", "a.example", "--tlsalpn01-listen", ":8443", NULL};
    expect_invalid(NULL, 4, other, "challenge.tlsalpn01_listen is a tls-alpn-01 setting, with "
                                   "challenge.type http-01");
    expect_invalid("domains: [a.example]\nchallenge: {type: dns-01, dns_hook: /bin/h, "
                   "tlsalpn01_listen: ':8443'}\n", 0, NULL,
                   "challenge.tlsalpn01_listen is a tls-alpn-01 setting, with challenge.type dns-01");
    expect_error("challenge: {tlsalpn01_listen: 'nope:x'}\n", NULL, 0, NULL,
                 "%s:1: challenge.tlsalpn01_listen: \"nope:x\" has no port between 1 and 65535");
    /* an address would need its reverse name in SNI (RFC 8738): refused, and http01_store too */
    char *ip[] = {"--domain", "192.0.2.7", "--challenge", "tls-alpn-01", NULL};
    expect_invalid(NULL, 4, ip, "192.0.2.7: an IP address is validated by http-01, not "
                                "tls-alpn-01 (its reverse name is not built here)");
    expect_invalid("domains: [a.example]\nstore: {dir: /tmp}\nchallenge: {type: tls-alpn-01, "
                   "http01_store: true}\n", 0, NULL,
                   "challenge.http01_store is an http-01 setting, with challenge.type tls-alpn-01");
}

static void test_dns01_settings(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    const char *full = "domains: ['*.example.com', example.com]\n"
                       "challenge:\n  type: dns-01\n"
                       "  rfc2136: {server: '192.0.2.1:5353', tsig_key: k1, tsig_alg: hmac-sha512,\n"
                       "            tsig_secret_file: /run/secrets/tsig, zone: example.com}\n"
                       "  dns_resolver: 192.0.2.2\n  dns_propagation: server-only\n"
                       "  dns_propagation_timeout: 30s\n";
    assert_int_equal(load(&c, full, NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    assert_int_equal(c.challenge, CK_CHALLENGE_DNS01);
    assert_string_equal(c.rfc2136_server, "192.0.2.1:5353");
    assert_string_equal(c.tsig_key, "k1");
    assert_int_equal(c.tsig_alg, CK_TSIG_HMAC_SHA512);
    assert_string_equal(c.rfc2136_zone, "example.com");
    assert_string_equal(c.dns_resolver, "192.0.2.2");
    assert_int_equal(c.dns_propagation, 1);
    assert_int_equal(c.dns_propagation_timeout, 30);
    ck_config_free(&c);
    char *hook[] = {"--domain", "a.example", "--challenge", "dns-01", "--dns-hook", "/bin/h", NULL};
    assert_int_equal(load(&c, NULL, NULL, 6, hook, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    assert_int_equal(c.dns_propagation, 0);            /* every name server, */
    assert_int_equal(c.dns_propagation_timeout, 120);  /* for at most 2 minutes */
    ck_config_free(&c);

    char *none[] = {"--domain", "a.example", "--challenge", "dns-01", NULL};
    expect_invalid(NULL, 4, none, "dns-01 needs one of challenge.rfc2136.server "
                                  "(--rfc2136-server) and challenge.dns_hook (--dns-hook)");
    char *both[] = {"--domain", "a.example", "--challenge", "dns-01", "--dns-hook", "/bin/h",
                    "--rfc2136-server", "ns1", NULL};
    expect_invalid(NULL, 8, both, "dns-01 needs one of challenge.rfc2136.server "
                                  "(--rfc2136-server) and challenge.dns_hook (--dns-hook)");
    char *unsigned_[] = {"--domain", "a.example", "--challenge", "dns-01", "--rfc2136-server",
                         "ns1", NULL};
    expect_invalid(NULL, 6, unsigned_, "challenge.rfc2136 needs tsig_key and tsig_secret_file "
                                       "(unsigned updates are not sent)");
    expect_invalid("domains: [a.example]\nchallenge: {type: dns-01, dns_hook: /bin/h, "
                   "rfc2136: {zone: a.example}}\n", 0, NULL,
                   "challenge.rfc2136.* settings have no use with challenge.dns_hook");
    char *web[] = {"--domain", "a.example", "--challenge", "dns-01", "--dns-hook", "/bin/h",
                   "--webroot", "/srv", NULL};
    expect_invalid(NULL, 8, web, "challenge.webroot is an http-01 setting, with challenge.type dns-01");
    expect_invalid("domains: [a.example]\nchallenge: {type: dns-01, dns_hook: /bin/h, "
                   "dns_propagation_timeout: 2h}\n", 0, NULL,
                   "challenge.dns_propagation_timeout: between 1s and 1h");
    /* with http-01 (the default), a dns-01 setting is refused, wherever it came from */
    char *mixed[] = {"--domain", "a.example", "--dns-hook", "/bin/h", NULL};
    expect_invalid(NULL, 4, mixed, "challenge.dns_hook is a dns-01 setting; set challenge.type "
                                   "dns-01 (--challenge dns-01) or remove it");
    expect_invalid("domains: [a.example]\nchallenge: {rfc2136: {tsig_alg: hmac-sha512}}\n", 0,
                   NULL, "challenge.rfc2136.tsig_alg is a dns-01 setting; set challenge.type "
                         "dns-01 (--challenge dns-01) or remove it");
    expect_error("challenge: {dns_propagation: everywhere}\n", NULL, 0, NULL,
                 "%s:1: challenge.dns_propagation: \"everywhere\" is not one of all|server-only");
    /* an empty dns-01 key is no setting */
    char *ok[] = {"--domain", "a.example", "--challenge", "http-01", "--dns-hook=", NULL};
    assert_int_equal(load(&c, NULL, NULL, 5, ok, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    assert_null(c.dns_hook);
    ck_config_free(&c);
}

/* Central validation: http01_store with a store, serve with a store alone. */
static void test_http01_store(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, "domains: [a.example]\nchallenge: {http01_store: true}\n"
                              "store: {dir: /srv/store}\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(c.http01_store, 1);
    assert_int_equal(ck_config_validate_for(&c, "run", &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "serve", &e), 0);
    ck_config_free(&c);
    char *env[] = {"CERTKEEP_CHALLENGE_HTTP01_STORE=true", "CERTKEEP_S3_BUCKET=b", NULL};
    char *serve[] = {"--http01-listen", "127.0.0.1:8080", NULL};
    assert_int_equal(load(&c, NULL, env, 2, serve, &e), 0);
    assert_int_equal(c.http01_store, 1);
    assert_int_equal(ck_config_validate_for(&c, "serve", &e), 0); /* no domain needed */
    ck_config_free(&c);

    char *nostore[] = {"--domain", "a.example", "--http01-store", NULL};
    expect_invalid(NULL, 3, nostore, "challenge.http01_store needs a store (store.dir or "
                                     "store.s3.bucket)");
    char *listen[] = {"--domain", "a.example", "--http01-store", "--store-dir", "/s",
                      "--http01-listen", ":80", NULL};
    expect_invalid(NULL, 7, listen, "challenge.http01_listen has no use with "
                                    "challenge.http01_store (certkeep serve answers)");
    char *dns[] = {"--domain", "a.example", "--http01-store", "--store-dir", "/s",
                   "--challenge", "dns-01", "--dns-hook", "/bin/h", NULL};
    expect_invalid(NULL, 9, dns, "challenge.http01_store is an http-01 setting, with "
                                 "challenge.type dns-01");
    char *bare[] = {NULL};
    assert_int_equal(load(&c, NULL, NULL, 0, bare, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "serve", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "serve answers from the store: set store.dir or store.s3.bucket");
    ck_config_free(&c);
    char *web[] = {"--store-dir", "/s", "--webroot", "/w", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, web, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "serve", &e), -1);
    assert_string_equal(e.msg, "serve answers http-01 on challenge.http01_listen alone: "
                               "challenge.webroot has no use there");
    ck_config_free(&c);
}

/* Keys and the session token would cross an http:// endpoint in the clear: only
 * loopback, or with store.s3.allow_http (flag, variable, file). */
static void test_s3_cleartext(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    static const char *const refused[] = {
        "http://minio:9000", "http://10.0.0.7:9000", "http://127.0.0.1.example.com",
        "http://localhost.example.com/", "http://127.0.0.1@evil.example", "http://[::2]:9000",
        "HTTP://minio",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *argv[] = {"--domain", "a.example", "--s3-bucket", "b", "--s3-endpoint",
                        (char *)refused[i], NULL};
        assert_int_equal(load(&c, NULL, NULL, 6, argv, &e), 0);
        assert_int_equal(ck_config_validate_for(&c, "init", &e), -1);
        assert_int_equal(e.kind, CK_E_USAGE);
        assert_non_null(strstr(e.msg, "store.s3.endpoint"));
        assert_non_null(strstr(e.msg, "store.s3.allow_http"));
        assert_null(strchr(e.msg, '\n'));
        assert_int_equal(ck_config_validate_for(&c, "status", &e), -1);
        assert_int_equal(ck_config_s3_cleartext(&c), 1);
        ck_config_free(&c);
    }
    static const char *const allowed[] = {
        "http://127.0.0.1:9000", "http://127.9.8.7/", "http://localhost:4566", "http://LOCALHOST",
        "http://[::1]:9000/", "https://minio:9000", "https://s3.eu-west-1.amazonaws.com",
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        char *argv[] = {"--domain", "a.example", "--s3-bucket", "b", "--s3-endpoint",
                        (char *)allowed[i], NULL};
        assert_int_equal(load(&c, NULL, NULL, 6, argv, &e), 0);
        assert_int_equal(ck_config_validate_for(&c, "init", &e), 0);
        assert_int_equal(ck_config_s3_cleartext(&c), 0);
        ck_config_free(&c);
    }
    char *flag[] = {"--domain", "a.example", "--s3-bucket", "b", "--s3-endpoint",
                    "http://minio:9000", "--s3-allow-http", NULL};
    assert_int_equal(load(&c, NULL, NULL, 7, flag, &e), 0);
    assert_int_equal(c.s3.allow_http, 1);
    assert_int_equal(ck_config_validate_for(&c, "run", &e), 0);
    assert_int_equal(ck_config_s3_cleartext(&c), 1);  /* allowed: the caller warns */
    ck_config_free(&c);
    char *env[] = {"CERTKEEP_S3_ALLOW_HTTP=true", NULL};
    assert_int_equal(load(&c, "domains: [a.example]\nstore: {s3: {bucket: b, endpoint: "
                              "\"http://minio:9000\"}}\n", env, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "init", &e), 0);
    ck_config_free(&c);
    assert_int_equal(load(&c, "domains: [a.example]\nstore: {s3: {bucket: b, allow_http: true, "
                              "endpoint: \"http://minio:9000\"}}\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "init", &e), 0);
    ck_config_free(&c);
    /* no bucket, no store: an endpoint alone is already refused for that */
    assert_int_equal(load(&c, "domains: [a.example]\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_s3_cleartext(&c), 0);
    ck_config_free(&c);
}

static void test_webhook_url(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    char *env[] = {"CERTKEEP_WEBHOOK_URL=https://hooks.example/services/T0", NULL};
    assert_int_equal(load(&c, NULL, env, 0, NULL, &e), 0);
    assert_string_equal(c.webhook_url, "https://hooks.example/services/T0");
    ck_config_free(&c);
    assert_int_equal(load(&c, NULL, NULL, 0, NULL, &e), 0);
    assert_null(c.webhook_url);  /* off by default */
    ck_config_free(&c);
    char *ftp[] = {"CERTKEEP_WEBHOOK_URL=ftp://hooks.example/x", NULL};
    expect_error(NULL, ftp, 0, NULL,
                 "CERTKEEP_WEBHOOK_URL: \"ftp://hooks.example/x\" is not an http:// or https:// URL");
    expect_error("webhook:\n  url: \"hooks.example/x\"\n", NULL, 0, NULL,
                 "%s:2: webhook.url: \"hooks.example/x\" is not an http:// or https:// URL");
    expect_error("webhook: {url: \"https:///x\"}\n", NULL, 0, NULL,
                 "%s:1: webhook.url: \"https:///x\" has no host");
}

/* OCSP stapling material is on unless no_ocsp (file, variable, flag); a wrong type is refused. */
static void test_no_ocsp(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, "domains: [a.example]\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(c.no_ocsp, 0);
    ck_config_free(&c);
    assert_int_equal(load(&c, "domains: [a.example]\nno_ocsp: true\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(c.no_ocsp, 1);
    ck_config_free(&c);
    char *env[] = {"CERTKEEP_NO_OCSP=1", NULL};
    assert_int_equal(load(&c, "domains: [a.example]\n", env, 0, NULL, &e), 0);
    assert_int_equal(c.no_ocsp, 1);
    ck_config_free(&c);
    char *flag[] = {"--domain", "a.example", "--no-ocsp", NULL};
    assert_int_equal(load(&c, NULL, NULL, 3, flag, &e), 0);
    assert_int_equal(c.no_ocsp, 1);
    ck_config_free(&c);
    expect_error("domains: [a.example]\nno_ocsp: [x]\n", NULL, 0, NULL,
                 "%s:2: no_ocsp: expected true or false");
}

/* Presets name the CAs; a URL stays a URL; the EAB pair comes whole or is refused. */
static void test_directory_presets_and_eab(void **state)
{
    (void)state;
    static const char *const presets[][2] = {
        {"letsencrypt", "https://acme-v02.api.letsencrypt.org/directory"},
        {"letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
        {"buypass", "https://api.buypass.com/acme/directory"},
        {"zerossl", "https://acme.zerossl.com/v2/DV90"},
        {"google", "https://dv.acme-v02.api.pki.goog/directory"},
        {"sslcom", "https://acme.ssl.com/sslcom-dv-ecc"},
        {"https://ca.example/dir", "https://ca.example/dir"},
    };
    struct ck_config c;
    struct ck_err e;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        char *argv[] = {"--directory", (char *)presets[i][0], NULL};
        assert_int_equal(load(&c, NULL, NULL, 2, argv, &e), 0);
        assert_string_equal(c.directory_url, presets[i][1]);
        ck_config_free(&c);
    }
    assert_int_equal(load(&c, "domains: [eab.example]\nacme:\n  directory: zerossl\n  eab:\n    kid: k1\n"
                              "    hmac_key_file: /run/secrets/eab\n", NULL, 0, NULL, &e), 0);
    assert_string_equal(c.directory_url, "https://acme.zerossl.com/v2/DV90");
    assert_string_equal(c.eab_kid, "k1");
    assert_string_equal(c.eab_key_file, "/run/secrets/eab");
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), 0);
    free(c.eab_key_file);
    c.eab_key_file = NULL;
    assert_int_equal(ck_config_validate_for(&c, "issue", &e), -1);
    assert_string_equal(e.msg, "acme.eab.kid is set without acme.eab.hmac_key_file");
    ck_config_free(&c);
    char *zero[] = {"--directory", "zero-ssl", NULL};
    expect_error(NULL, NULL, 2, zero, "--directory: \"zero-ssl\" is not an http:// or https:// URL");
}

static void test_reason(void **state)
{
    (void)state;
    static const struct { const char *text; int code; } ok[] = {
        {"unspecified", 0}, {"keyCompromise", 1}, {"KEYCOMPROMISE", 1}, {"superseded", 4},
        {"cessationOfOperation", 5}, {"affiliationChanged", 3}, {"privilegeWithdrawn", 9},
        {"aACompromise", 10}, {"0", 0}, {"4", 4}, {"10", 10}, {"04", 4},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct ck_config c;
        struct ck_err e;
        char *argv[] = {"--reason", (char *)ok[i].text, NULL};
        assert_int_equal(load(&c, NULL, NULL, 2, argv, &e), 0);
        assert_int_equal(c.revoke_reason, ok[i].code);
        ck_config_free(&c);
    }
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, NULL, NULL, 0, NULL, &e), 0);
    assert_int_equal(c.revoke_reason, -1);  /* not given */
    ck_config_free(&c);
    static const char *const bad[] = {"7", "11", "-1", "4x", "", "compromised", "+4", " 4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"--reason", (char *)bad[i], NULL};
        assert_int_equal(load(&c, NULL, NULL, 2, argv, &e), -1);
        assert_int_equal(e.kind, CK_E_USAGE);
        assert_non_null(strstr(e.msg, "is not an RFC 5280 reason"));
        assert_memory_equal(e.msg, "--reason: \"", 11);
    }
}

/* certificates: entries over the top-level keys; key_types; account; refusals. */
static void test_certificates(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c,
        "out: /o\n"
        "key_type: p384\n"
        "reload:\n  pidfile: /run/app.pid\n"
        "challenge:\n  webroot: /w\n"
        "account: per-certificate\n"
        "max_concurrent_orders: 2\n"
        "certificates:\n"
        "  - domains: [a.example, www.a.example]\n"
        "  - domains: [b.example]\n"
        "    cert_name: bee\n"
        "    out: /other\n"
        "    required: false\n"
        "    reload:\n      url: http://127.0.0.1:1/r\n"
        "    challenge:\n      http01_listen: 127.0.0.1:5002\n"
        "  - domains: [c.example]\n"
        "    key_types: [p256, rsa2048]\n"
        "    acme:\n      profile: shortlived\n",
        NULL, 0, NULL, &e), 0);
    assert_int_equal(c.n_certs, 4);
    assert_int_equal(c.max_orders, 2);
    assert_int_equal(c.n_domains, 0);
    const struct ck_config *a = &c.certs[0], *b = &c.certs[1], *c1 = &c.certs[2],
                           *c2 = &c.certs[3];
    assert_string_equal(a->cert_name, "a.example");
    assert_int_equal(a->n_domains, 2);
    assert_string_equal(a->out_dir, "/o");
    assert_int_equal(a->key_type, CK_KEY_P384);
    assert_string_equal(a->reload_pidfile, "/run/app.pid");
    assert_string_equal(a->webroot, "/w");
    assert_int_equal(a->required, 1);
    assert_string_equal(a->account_name, "a.example");
    assert_int_equal(a->entry, 0);
    assert_null(a->profile);
    /* an entry's reload and challenge sections replace the top level's */
    assert_string_equal(b->cert_name, "bee");
    assert_string_equal(b->out_dir, "/other");
    assert_int_equal(b->required, 0);
    assert_null(b->reload_pidfile);
    assert_string_equal(b->reload_url, "http://127.0.0.1:1/r");
    assert_null(b->webroot);
    assert_int_equal(b->http01_listen_set, 1);
    assert_string_equal(b->http01_listen, "127.0.0.1:5002");
    /* key_types: one certificate each, the first keeps the name */
    assert_string_equal(c1->cert_name, "c.example");
    assert_int_equal(c1->key_type, CK_KEY_P256);
    assert_string_equal(c2->cert_name, "c.example.rsa2048");
    assert_int_equal(c2->key_type, CK_KEY_RSA2048);
    assert_string_equal(c2->profile, "shortlived");
    assert_string_equal(c2->account_name, "c.example.rsa2048");
    assert_int_equal(ck_config_validate_for(&c, "run", &e), 0);
    /* a one-certificate command names one */
    assert_null(ck_config_pick(&c, &e));
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "4 certificates: name one with --cert (a.example, bee, c.example, "
                               "c.example.rsa2048)");
    ck_config_free(&c);

    char *pick[] = {"--cert", "bee", NULL};
    assert_int_equal(load(&c, "certificates:\n  - domains: [a.example]\n"
                              "  - domains: [b.example]\n    cert_name: bee\n",
                          NULL, 2, pick, &e), 0);
    const struct ck_config *p = ck_config_pick(&c, &e);
    assert_non_null(p);
    assert_string_equal(p->domains[0], "b.example");
    assert_null(p->account_name);  /* shared by default */
    ck_config_free(&c);

    /* the shorthand is certs[0]; key_types at the top level too */
    char *dual[] = {"--domain", "d.example", "--key-types", "p256,rsa2048", NULL};
    assert_int_equal(load(&c, NULL, NULL, 4, dual, &e), 0);
    assert_int_equal(c.n_certs, 2);
    assert_string_equal(c.certs[1].cert_name, "d.example.rsa2048");
    assert_int_equal(c.certs[1].key_type, CK_KEY_RSA2048);
    assert_int_equal(c.max_orders, 4);
    ck_config_free(&c);
    char *one[] = {"--domain", "d.example", NULL};
    assert_int_equal(load(&c, NULL, NULL, 2, one, &e), 0);
    assert_int_equal(c.n_certs, 1);
    assert_ptr_equal(ck_config_pick(&c, &e), &c.certs[0]);
    ck_config_free(&c);
}

static void test_certificates_refused(void **state)
{
    (void)state;
    expect_error("certificates:\n  - domains: [a.example]\n  - domains: [a.example]\n", NULL, 0,
                 NULL, "%s:3: certificates[1]: cert_name \"a.example\" is also certificates[0]'s "
                 "(each certificate needs its own name)");
    expect_error("certificates:\n  - domains: [a.example]\n    out: /o\n"
                 "  - domains: [b.example]\n    out: /o/a.example/x\n", NULL, 0, NULL,
                 "%s:4: certificates[1]: out /o/a.example/x collides with the files of "
                 "\"a.example\"");
    expect_error("certificates:\n  - domains: [a.example]\n  - domains: [x.rsa2048]\n"
                 "  - domains: [a.example]\n    cert_name: x\n    key_types: [p384, rsa2048]\n",
                 NULL, 0, NULL, "%s:4: certificates[2]: cert_name \"x.rsa2048\" is also "
                 "certificates[1]'s (each certificate needs its own name)");
    expect_error("certificates:\n  - cert_name: x\n", NULL, 0, NULL,
                 "%s:2: certificates[0]: no domains");
    expect_error("certificates:\n  - domains: [a.example]\n    email: a@b.c\n", NULL, 0, NULL,
                 "%s:3: certificates[0].email: not a per-certificate setting (set it at the top)");
    expect_error("certificates:\n  - domains: [a.example]\n    store:\n      dir: /s\n", NULL,
                 0, NULL, "%s:4: certificates[0].store.dir: not a per-certificate setting (set it "
                 "at the top)");
    expect_error("certificates:\n  - domains: [a.example]\n    colour: red\n", NULL, 0, NULL,
                 "%s:3: certificates[0].colour: unknown key");
    expect_error("domains: [x.example]\ncertificates:\n  - domains: [a.example]\n", NULL, 0, NULL,
                 "%s: top-level domains with certificates: set the names in each entry");
    expect_error("certificates: []\n", NULL, 0, NULL, "%s: certificates: is an empty list");
    expect_error("certificates: a.example\n", NULL, 0, NULL,
                 "%s:1: certificates: expected a list of certificates");
    expect_error("key_types: [p256, p256]\n", NULL, 0, NULL,
                 "%s:1: key_types: \"p256\" is listed twice");
    expect_error("key_types: [p256, ed25519]\n", NULL, 0, NULL,
                 "%s:1: key_types: \"ed25519\" is not one of rsa2048|rsa3072|rsa4096|p256|p384");
    expect_error("certificates:\n  - domains: [a.example]\n    key_type: p384\n"
                 "    key_types: [p256]\n", NULL, 0, NULL,
                 "%s:2: certificates[0]: key_type and key_types: set one");
    expect_error("max_concurrent_orders: 0\n", NULL, 0, NULL,
                 "%s:1: max_concurrent_orders: \"0\" is not a number between 1 and 64");
    expect_error("account: mine\n", NULL, 0, NULL,
                 "%s:1: account: \"mine\" is not one of shared|per-certificate");
    expect_error("certificates:\n  - domains: [a.example]\n    certificates: []\n", NULL, 0,
                 NULL, "%s:3: certificates[0].certificates: not a per-certificate setting");
    char *pick[] = {"--cert", "nope", NULL};
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(load(&c, "certificates:\n  - domains: [a.example]\n", NULL, 2, pick, &e), 0);
    assert_null(ck_config_pick(&c, &e));
    assert_string_equal(e.msg, "--cert nope: no such certificate (a.example)");
    ck_config_free(&c);
    /* an entry's challenge is validated as its own, naming it */
    assert_int_equal(load(&c, "certificates:\n  - domains: [a.example]\n"
                              "  - domains: ['*.b.example']\n", NULL, 0, NULL, &e), 0);
    assert_int_equal(ck_config_validate_for(&c, "run", &e), -1);
    assert_int_equal(e.kind, CK_E_USAGE);
    assert_string_equal(e.msg, "certificate _.b.example: *.b.example: a wildcard name needs "
                               "challenge.type dns-01");
    ck_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_s3_cleartext),
        cmocka_unit_test(test_file_all_keys),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_file_too_big),
        cmocka_unit_test(test_config_not_a_file),
        cmocka_unit_test(test_no_ocsp),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_env_errors),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_100_vs_101_names),
        cmocka_unit_test(test_domains_and_names),
        cmocka_unit_test(test_validate_for),
        cmocka_unit_test(test_null_and_empty),
        cmocka_unit_test(test_print_flags),
        cmocka_unit_test(test_dns01_settings),
        cmocka_unit_test(test_http01_store),
        cmocka_unit_test(test_tlsalpn01_settings),
        cmocka_unit_test(test_webhook_url),
        cmocka_unit_test(test_directory_presets_and_eab),
        cmocka_unit_test(test_reason),
        cmocka_unit_test(test_certificates),
        cmocka_unit_test(test_certificates_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
