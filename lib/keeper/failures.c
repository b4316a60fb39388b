/* Failures and recoveries (SPEC section 5): the renewal state (failure count,
 * last error, next retry) kept in the store when there is one, else under
 * <state>/certs/<name>/ (the store's layout), and the webhook POST for each
 * failure and for the first success after failures. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "../keeper/keeper.h"
#include "../webhook/webhook.h"
#include "keeper.h"

int ck_keeper_local_path(const struct ck_config *c, const char *rel, char *out, size_t cap,
                         struct ck_err *e)
{
    int n = snprintf(out, cap, "%s/certs/%s%s%s", c->state_dir, c->cert_name, *rel ? "/" : "",
                     rel);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "state directory path too long: %.64s...", c->state_dir);
    return 0;
}

int ck_keeper_state_get(const struct ck_config *c, struct ck_store *st, struct ck_bundle_state *s,
                        struct ck_err *e)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    memset(s, 0, sizeof *s);
    if (st)
        return ck_bundle_state_get(st, c->cert_name, s, e);
    if (ck_keeper_local_path(c, "state.json", path, sizeof path, e))
        return -1;
    int rc = ck_fs_read(path, CK_BUNDLE_JSON_MAX, &text, &len, e);
    if (rc)
        return rc == 1 ? CK_BUNDLE_ABSENT : -1;
    rc = ck_bundle_state_parse(text, len, path, s, e);
    free(text);
    return rc ? CK_BUNDLE_BROKEN : 0;
}

static int state_put(const struct ck_config *c, struct ck_store *st,
                     const struct ck_bundle_state *s, struct ck_err *e)
{
    char path[PATH_MAX], *text = NULL;
    if (st)
        return ck_bundle_state_put(st, c->cert_name, s, e);
    if (ck_keeper_local_path(c, "", path, sizeof path, e) || ck_fs_mkdir_p(path, 0700, e) ||
        ck_keeper_local_path(c, "state.json", path, sizeof path, e) ||
        ck_bundle_state_json(s, &text, e))
        return -1;
    int rc = ck_fs_write_atomic(path, text, strlen(text), 0600, e);
    free(text);
    return rc;
}

/* One POST, bounded (lib/webhook); its failure is one warning, never the command's. */
static void hook(const struct ck_config *c, const struct ck_log *log, struct ck_webhook_event *ev)
{
    struct ck_cert_summary sum;
    struct ck_err e;
    char why[600];
    if (!c->webhook_url)
        return;
    /* sum.not_after is set when the leaf parsed */
    ck_keeper_read_volume(c, &sum, why, sizeof why);
    ev->cert_name = c->cert_name;
    ev->names = (const char *const *)c->domains;
    ev->n_names = c->n_domains;
    ev->not_after = sum.not_after;
    ev->time = (int64_t)time(NULL);
    struct ck_http_opts ho = ck_keeper_http_opts(c, CK_WEBHOOK_CONNECT_MS, CK_WEBHOOK_TIMEOUT_MS);
    ck_err_clear(&e);
    if (ck_webhook_post(&ho, c->webhook_url, ev, &e))
        ck_warn(log, "webhook", "%s", e.msg);
    else
        ck_info(log, "webhook", "%s sent", ev->recovery ? "recovery" : "failure");
}

void ck_keeper_note_failure(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const struct ck_err *failure, unsigned seen,
                            unsigned *failures, int64_t *next_retry)
{
    struct ck_bundle_state s;
    struct ck_err e;
    int64_t now = (int64_t)time(NULL);
    /* a stop the operator asked for is not a failure to count, back off from or report */
    if (*c->proc->signal)
        return;
    uint32_t rnd = 0;
    int got = ck_keeper_state_get(c, st, &s, &e);
    int have = got == 0 || got == CK_BUNDLE_ABSENT;  /* a broken one is unreadable too */
    long stored = have ? (long)s.failures : -1;
    if (!have || (!st && s.failures < *failures))  /* no state file: run's count in memory */
        memset(&s, 0, sizeof s);
    ck_random(&rnd, sizeof rnd, &e);  /* without it, no jitter */
    ck_keeper_backoff(stored, st != NULL, *failures, seen, failure->retry_after, now, rnd,
                      &s.failures, &s.next_retry);
    s.next_retry = now + ck_keeper_scaled(s.next_retry - now, (unsigned)c->time_scale);
    s.last_failure = now;
    snprintf(s.last_error, sizeof s.last_error, "%s", failure->msg);
    if (state_put(c, st, &s, &e))
        ck_warn(log, "state", "%s", e.msg);
    *failures = s.failures;
    *next_retry = s.next_retry;
    struct ck_webhook_event ev = {.error = failure->msg, .failures = s.failures,
                                  .next_retry = s.next_retry};
    hook(c, log, &ev);
}

void ck_keeper_alert(const struct ck_config *c, const struct ck_log *log, const char *msg)
{
    struct ck_webhook_event ev = {.error = msg};
    hook(c, log, &ev);
}

void ck_keeper_clear_failures(const struct ck_config *c, const struct ck_log *log,
                              struct ck_store *st)
{
    struct ck_bundle_state s;
    struct ck_err e;
    if (ck_keeper_state_get(c, st, &s, &e) != 0 || (!s.failures && !s.next_retry))
        return;
    unsigned before = s.failures;
    memset(&s, 0, sizeof s);
    if (state_put(c, st, &s, &e))
        ck_warn(log, "state", "%s", e.msg);
    if (before) {
        struct ck_webhook_event ev = {.recovery = 1, .previous_failures = before};
        hook(c, log, &ev);
    }
}
