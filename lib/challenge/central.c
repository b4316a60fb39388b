/* Central validation: key authorizations in the shared store, answered by `certkeep serve`
 * through the http-01 responder, with a small cache in front of the store. */
#include "challenge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "challenge_int.h"
#include "../store/store.h"

#define PREFIX "challenges/"
#define MAX_AUTHZ 1024
#define SLOTS 64
#define WARN_MS 60000

struct slot {
    long long at; /* 0: empty */
    int found;
    char token[CK_STORE_PART_MAX + 1], authz[MAX_AUTHZ + 1];
};

struct ck_central {
    struct ck_store *st;
    const struct ck_log *log;
    struct ck_http01 *http;
    long long window, pause_until, warned_at;
    unsigned reads; /* store reads in the current second */
    struct slot cache[SLOTS];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "challenges/<token>"; the token is base64url and fits one part of a store key. */
static int key_of(const char *token, char *key, size_t cap, struct ck_err *e)
{
    if (!ck_token_ok(token) || strlen(token) > CK_STORE_PART_MAX)
        return ck_failk(e, CK_E_PROTOCOL, "http-01 token \"%.64s\": not a base64url name of "
                        "at most %d bytes", token, CK_STORE_PART_MAX);
    snprintf(key, cap, PREFIX "%s", token);
    return 0;
}

int ck_central_put(struct ck_store *st, const char *token, const char *key_authz,
                   struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1];
    if (key_of(token, key, sizeof key, e) ||
        ck_store_put(st, key, key_authz, strlen(key_authz), e))
        return ck_wrap(e, "http-01 through the store");
    return 0;
}

int ck_central_remove(struct ck_store *st, const char *token, struct ck_err *e)
{
    char key[CK_STORE_KEY_MAX + 1];
    if (key_of(token, key, sizeof key, e) || ck_store_delete(st, key, e))
        return ck_wrap(e, "http-01 through the store");
    return 0;
}

/* The responder's fetch: cache, else one store read within the budget. */
static int fetch(void *ctx, const char *token, char *authz, size_t cap)
{
    struct ck_central *c = ctx;
    long long now = now_ms();
    struct slot *old = &c->cache[0];
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *s = &c->cache[i];
        if (s->at && now - s->at < (s->found ? CK_CENTRAL_HIT_MS : CK_CENTRAL_MISS_MS) &&
            !strcmp(s->token, token)) {
            if (!s->found || strlen(s->authz) >= cap)
                return 404;
            memcpy(authz, s->authz, strlen(s->authz) + 1);
            return 200;
        }
        if (s->at < old->at)
            old = s;
    }
    char key[CK_STORE_KEY_MAX + 1];
    struct ck_err e;
    if (key_of(token, key, sizeof key, &e))
        return 404;
    if (now - c->window >= 1000) {
        c->window = now;
        c->reads = 0;
    }
    if (now < c->pause_until || c->reads >= CK_CENTRAL_READS)
        return 503;
    c->reads++;
    char *data = NULL;
    size_t len = 0;
    int rc = ck_store_get(c->st, key, MAX_AUTHZ, &data, &len, NULL, 0, &e);
    if (rc < 0) {
        c->pause_until = now_ms() + 1000; /* a sick store: no read for a second */
        if (now - c->warned_at >= WARN_MS) {
            c->warned_at = now;
            ck_warn(c->log, "serve", "%s (answering 503; said at most once a minute)", e.msg);
        }
        return 503;
    }
    snprintf(old->token, sizeof old->token, "%s", token);
    old->found = rc == 0 && len > 0 && len <= MAX_AUTHZ && strlen(data) == len;
    for (size_t i = 0; old->found && i < len; i++)
        old->found = data[i] > 0x20 && data[i] < 0x7f;
    snprintf(old->authz, sizeof old->authz, "%s", old->found ? data : "");
    old->at = now;
    free(data);
    if (!old->found || len >= cap)
        return 404;
    memcpy(authz, old->authz, len + 1);
    return 200;
}

int ck_central_start(const char *listen, struct ck_store *st, const struct ck_log *log,
                     struct ck_central **out, struct ck_err *e)
{
    struct ck_central *c = calloc(1, sizeof *c);
    if (!c)
        return ck_fail(e, "serve: out of memory");
    c->st = st;
    c->log = log;
    c->warned_at = -WARN_MS;
    if (ck_http01_start_fetch(listen, fetch, c, log, &c->http, e)) {
        free(c);
        return -1;
    }
    *out = c;
    return 0;
}

void ck_central_stop(struct ck_central *c)
{
    if (!c)
        return;
    ck_http01_stop(c->http);
    free(c);
}
