/* The account key's signer process: the same JWS as signing here, a process that
 * keeps only its socket, a clear error when it dies, reaped when the key is freed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"

static const char prot[] = "{\"alg\":\"X\",\"nonce\":\"n0\",\"url\":\"https://ca.test/acme/new-order\"}";
static const char payload[] = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}";

static struct ck_key *gen(enum ck_key_type t)
{
    struct ck_key *k = NULL;
    struct ck_err e;
    assert_int_equal(ck_key_generate(t, &k, &e), 0);
    return k;
}

static char *sign(const struct ck_key *k, const char *pay, size_t len)
{
    char *jws = NULL;
    size_t n = 0;
    struct ck_err e;
    int rc = ck_jws_sign(k, prot, pay, len, &jws, &n, &e);
    if (rc != 0)
        fail_msg("ck_jws_sign: %s", e.msg);
    assert_int_equal(strlen(jws), n);
    return jws;
}

/* RS256 and ECDSA (RFC 6979 in BearSSL) are deterministic: the signer's JWS must be
 * byte for byte the one signed here, before the key moved. */
static void same_jws(enum ck_key_type t)
{
    struct ck_key *k = gen(t);
    struct ck_err e;
    char *here = sign(k, payload, strlen(payload)), *here_empty = sign(k, "", 0), *jwk_here = NULL,
         *jwk_there = NULL;
    char *big = malloc(200000);
    assert_non_null(big);
    memset(big, 'a', 199999);
    big[199999] = '\0';
    char *here_big = sign(k, big, strlen(big));
    assert_int_equal(ck_jwk_json(k, &jwk_here, &e), 0);
    assert_int_equal(ck_signer_pid(k), 0);

    assert_int_equal(ck_signer_start(k, &e), 0);
    assert_true(ck_signer_pid(k) > 0);
    char *there = sign(k, payload, strlen(payload)), *there_empty = sign(k, "", 0),
         *there_big = sign(k, big, strlen(big));
    assert_string_equal(here, there);
    assert_string_equal(here_empty, there_empty);
    assert_string_equal(here_big, there_big);
    /* the public half stays here, the private half does not */
    assert_int_equal(ck_jwk_json(k, &jwk_there, &e), 0);
    assert_string_equal(jwk_here, jwk_there);
    char *pem = NULL;
    size_t plen = 0;
    assert_int_equal(ck_key_to_pem(k, &pem, &plen, &e), -1);
    assert_non_null(strstr(e.msg, "signer"));
    unsigned char *der = NULL;
    size_t dlen = 0;
    const char *names[] = {"a.test"};
    assert_int_equal(ck_csr_der(k, names, 1, &der, &dlen, &e), -1);
    assert_int_equal(ck_signer_start(k, &e), -1);

    pid_t pid = (pid_t)ck_signer_pid(k);
    ck_key_free(k);
    /* reaped, not a zombie */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    free(here);
    free(there);
    free(here_empty);
    free(there_empty);
    free(here_big);
    free(there_big);
    free(big);
    free(jwk_here);
    free(jwk_there);
}

static void test_es256(void **state)
{
    (void)state;
    same_jws(CK_KEY_P256);
}

static void test_es384(void **state)
{
    (void)state;
    same_jws(CK_KEY_P384);
}

static void test_rs256(void **state)
{
    (void)state;
    same_jws(CK_KEY_RSA2048);
}

/* Open descriptors (ours, not close-on-exec) do not reach the child: it keeps one. */
static void test_child_keeps_only_its_socket(void **state)
{
    (void)state;
    struct ck_key *k = gen(CK_KEY_P256);
    struct ck_err e;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(ck_signer_start(k, &e), 0);
    free(sign(k, payload, strlen(payload))); /* the child is in its loop by now */
    char fdpath[64];
    snprintf(fdpath, sizeof fdpath, "/proc/%ld/fd", ck_signer_pid(k));
    DIR *d = opendir(fdpath);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') {
            n++;
            assert_string_equal(de->d_name, "3");
        }
    closedir(d);
    assert_int_equal(n, 1);
    /* and so the pipe's write end is ours alone: closing it gives end of file */
    close(p[1]);
    struct pollfd pfd = {p[0], POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 0);
    close(p[0]);
    ck_key_free(k);
}

/* A killed signer is one line saying so, and every later request fails the same way. */
static void test_killed_signer(void **state)
{
    (void)state;
    struct ck_key *k = gen(CK_KEY_P256);
    struct ck_err e;
    char *jws = NULL;
    size_t n = 0;
    assert_int_equal(ck_signer_start(k, &e), 0);
    pid_t pid = (pid_t)ck_signer_pid(k);
    assert_int_equal(kill(pid, SIGKILL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ck_jws_sign(k, prot, payload, strlen(payload), &jws, &n, &e), -1);
        assert_null(jws);
        assert_non_null(strstr(e.msg, "killed by signal 9"));
        assert_null(strchr(e.msg, '\n'));
    }
    ck_key_free(k);
    assert_int_equal(kill(pid, 0), -1);
}

/* A SIGTERM meant for the group does not end the signer; freeing the key does. */
static void test_signer_stopped_then_freed(void **state)
{
    (void)state;
    struct ck_key *k = gen(CK_KEY_RSA2048);
    struct ck_err e;
    assert_int_equal(ck_signer_start(k, &e), 0);
    free(sign(k, payload, strlen(payload))); /* past its start: signals set */
    /* SIGTERM is the parent's business: the child ignores it and still signs */
    assert_int_equal(kill((pid_t)ck_signer_pid(k), SIGTERM), 0);
    free(sign(k, payload, strlen(payload)));
    ck_key_free(k);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es256),
        cmocka_unit_test(test_es384),
        cmocka_unit_test(test_rs256),
        cmocka_unit_test(test_child_keeps_only_its_socket),
        cmocka_unit_test(test_killed_signer),
        cmocka_unit_test(test_signer_stopped_then_freed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
