/* libFuzzer target for every ACME object a CA sends: directory, account, order,
 * authorization, challenge, problem documents, renewalInfo, and the headers that
 * come with them (Location, Replay-Nonce, Link rel="up"/"alternate", Retry-After).
 *
 * The client runs for real (lib/acme, JWS signing, CSR, chain checks) against a fake
 * CA: lib/http's ck_http_do is replaced (this file includes http.c with it renamed,
 * and the Makefile links without http.o), so each request takes the next response
 * from the input. Input: one byte choosing the flow, then responses separated by
 * "\n%%\n", each "STATUS\nHeader: v\n...\n\nbody". Waits between polls are skipped.
 * Checks beyond "no crash": every error is one line, and the library never asks for
 * a URL outside http(s) nor a plain http one from the https directory. */
#define _GNU_SOURCE /* memmem */
#define ck_http_do ck_http_do_real
#include "../../lib/http/http.c"
#undef ck_http_do

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme/acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *in;     /* what is left of the input */
static size_t in_left;
static __thread int fast_clock; /* set while the client runs: its sleeps return at once */

/* acme_sleep_ms's nanosleep; libFuzzer's own threads still sleep. */
int nanosleep(const struct timespec *req, struct timespec *rem)
{
    if (fast_clock)
        return 0;
    return clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        abort();
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int ck_http_do(struct ck_http *h, const struct ck_http_req *req, struct ck_http_resp *resp,
               struct ck_err *e)
{
    (void)h;
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    if (!req->url || (strncmp(req->url, "https://", 8) != 0 && strncmp(req->url, "http://", 7) != 0))
        abort();
    if (!in_left)
        return ck_failk(e, CK_E_NETWORK, "%s %s: no more responses", req->method, req->url);
    const char *sep = memmem(in, in_left, "\n%%\n", 4);
    size_t n = sep ? (size_t)(sep - in) : in_left;
    const char *r = in;
    in += sep ? n + 4 : n;
    in_left -= sep ? n + 4 : n;

    const char *nl = memchr(r, '\n', n), *blank = memmem(r, n, "\n\n", 2);
    char *line = dup_n(r, nl ? (size_t)(nl - r) : n);
    resp->status = strtol(line, NULL, 10);
    free(line);
    size_t hs = nl ? (size_t)(nl - r) + 1 : n;
    size_t he = blank ? (size_t)(blank - r) + 1 : n;
    if (he < hs)
        he = hs;
    static const char nonce[] = "Replay-Nonce: fuzz-nonce_0\n";
    size_t hl = he - hs;
    resp->headers = malloc(hl + sizeof nonce);
    if (!resp->headers)
        abort();
    memcpy(resp->headers, r + hs, hl);
    memcpy(resp->headers + hl, nonce, sizeof nonce);
    resp->headers_len = hl + sizeof nonce - 1;
    size_t bs = blank ? (size_t)(blank - r) + 2 : n;
    size_t max = req->max_body ? req->max_body : DEFAULT_MAX_BODY;
    if (n - bs > max) {
        free(resp->headers);
        resp->headers = NULL;
        return ck_failk(e, CK_E_NETWORK, "%s: body over %zu bytes", req->url, max);
    }
    resp->body = dup_n(r + bs, n - bs);
    resp->body_len = n - bs;
    /* curl's CURLINFO_RETRY_AFTER: seconds, never negative */
    char ra[64];
    if (ck_http_header(resp, "Retry-After", ra, sizeof ra) == 0) {
        long long v = strtoll(ra, NULL, 10);
        resp->retry_after = v < 0 ? 0 : v > LONG_MAX ? LONG_MAX : (long)v;
    }
    return 0;
}

static int solve(void *ctx, const char *domain, const char *token, const char *key_authz,
                   struct ck_err *e)
{
    (void)ctx, (void)e;
    if (!domain || !token || !key_authz || strchr(token, '/') || strchr(key_authz, '\n'))
        abort();
    return 0;
}

static void unsolve(void *ctx, const char *domain, const char *token, const char *key_authz)
{
    (void)ctx, (void)domain, (void)token, (void)key_authz;
}

static void one_line(const struct ck_err *e)
{
    if (strchr(e->msg, '\n') || strchr(e->msg, '\r'))
        abort();
}

/* The certificate key: the seeds' chain (tests/fuzz/seeds/acme_*) was issued for it. */
static const char cert_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2e7KzbVVgWYk9F8d\n"
    "UOQd0L8+z5pEofZTDJW+AbAjxoqhRANCAARpL+NrlkKXEhUEBFslakq+W59fYU8r\n"
    "QG348AuGDRuMW7SpXvgfeyC0TyNKedFKRUTTVJ6nHEjcBzcdtlJVHhNZ\n"
    "-----END PRIVATE KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ck_key *account, *cert;
    static struct ck_http *http;
    struct ck_err e;
    if (!account) {
        struct ck_http_opts ho = {.user_agent = "fuzz"};
        signal(SIGPIPE, SIG_IGN);
        if (ck_key_generate(CK_KEY_P256, &account, &e) || ck_key_from_pem(cert_key_pem, sizeof cert_key_pem - 1, "cert key", &cert, &e) ||
            ck_http_new(&ho, &http, &e))
            abort();
    }
    if (size < 1)
        return 0;
    in = (const char *)data + 1;
    in_left = size - 1;
    fast_clock = 1;

    struct ck_acme_opts o = {.directory_url = "https://ca.test/dir", .http = http, .poll_timeout_s = 5};
    struct ck_acme *a = NULL;
    if (ck_acme_new(&o, &a, &e))
        abort();
    static const char *const names[] = {"a.test", "b.test"};
    struct ck_acme_solver solver = {.type = "http-01", .present = solve, .cleanup = unsolve};
    struct ck_acme_order_req req = {.names = names, .n_names = 1 + (data[0] >> 7),
                                    .cert_key = cert, .solver = &solver,
                                    .replaces = data[0] & 0x40 ? "aaaa.bbbb" : NULL,
                                    .preferred_chain = data[0] & 0x20 ? "Root X2" : NULL};
    struct ck_acme_cert got = {0};
    int64_t start, end;
    long ra;
    int rc = ck_acme_directory(a, &e);
    if (rc == 0) {
        switch (data[0] & 3) {
        case 0:
            rc = ck_acme_account(a, account, "a@b.test", 1, &e);
            break;
        case 1:
            rc = ck_acme_account_saved(a, account, "https://ca.test/acct/1", "a@b.test", 1, &e);
            break;
        case 2:
            rc = ck_acme_renewal_info(a, "aaaa.bbbb", &start, &end, &ra, &e);
            if (rc == 0 && end < start)
                abort();
            rc = ck_acme_account_fresh(a, account, NULL, 0, &e);
            break;
        default:
            rc = ck_acme_account_fresh(a, account, "a@b.test", 0, &e);
            if (rc == 0) {
                static const unsigned char der[] = {0x30, 0x03, 0x02, 0x01, 0x01};
                rc = ck_acme_revoke(a, der, sizeof der, 1, &e);
            }
            break;
        }
    }
    if (rc == 0 && (data[0] & 3) != 3) {
        rc = ck_acme_issue(a, &req, &got, &e);
        if (rc == 0 && (!got.fullchain_pem || strlen(got.fullchain_pem) != got.fullchain_len))
            abort();
    }
    if (rc != 0)
        one_line(&e);
    if (getenv("FUZZ_ACME_SAY")) /* where a seed ends: FUZZ_ACME_SAY=1 build/fuzz/fuzz_acme SEED */
        fprintf(stderr, "fuzz_acme: flow %d: %s (%zu bytes left)\n", data[0] & 3, rc ? e.msg : "done", in_left);
    ck_acme_cert_free(&got);
    ck_acme_free(a);
    fast_clock = 0;
    return 0;
}
