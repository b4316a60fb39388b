/* The issuer lease: only conditional puts, so a takeover or a release can never
 * clobber a lease someone else just took. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define LEASE_BODY_MAX 4096
#define LEASE_TRIES 4  /* create / takeover races lost before giving up */

struct ck_lease {
    struct ck_store *store;
    char key[CK_STORE_KEY_MAX + 1];
    char owner[128];
    long ttl_s;
    long long expires;
    char etag[CK_STORE_ETAG_MAX];
};

static char *lease_body(const char *owner, long long expires, long long heartbeat,
                        struct ck_err *e)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "owner", owner) != NULL &&
        cJSON_AddNumberToObject(o, "expires", (double)expires) != NULL &&
        cJSON_AddNumberToObject(o, "heartbeat", (double)heartbeat) != NULL)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL)
        ck_fail(e, "lease: out of memory");
    return s;
}

/* 0 parsed, -1 not a lease record (treated as stale by the caller). */
static int lease_parse(const char *body, size_t len, struct ck_lease_holder *h)
{
    memset(h, 0, sizeof *h);
    cJSON *o = cJSON_ParseWithLength(body, len);
    const cJSON *ow = cJSON_GetObjectItemCaseSensitive(o, "owner");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(o, "expires");
    const cJSON *hb = cJSON_GetObjectItemCaseSensitive(o, "heartbeat");
    int rc = -1;
    if (cJSON_IsString(ow) && cJSON_IsNumber(ex) && strlen(ow->valuestring) < sizeof h->owner &&
        ex->valuedouble > -1e15 && ex->valuedouble < 1e15) {
        snprintf(h->owner, sizeof h->owner, "%s", ow->valuestring);
        for (char *c = h->owner; *c; c++) /* it reaches messages: keep them one line */
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        h->expires = (long long)ex->valuedouble;
        h->heartbeat = cJSON_IsNumber(hb) && hb->valuedouble > -1e15 && hb->valuedouble < 1e15
                           ? (long long)hb->valuedouble
                           : 0;
        rc = 0;
    }
    cJSON_Delete(o);
    return rc;
}

/* Writes our record with `cond` ("*" or the etag read); returns the store's code. */
static int lease_write(struct ck_lease *l, const char *cond, long long expires, struct ck_err *e)
{
    long long now = (long long)time(NULL);
    char *body = lease_body(l->owner, expires, now, e);
    if (body == NULL)
        return -1;
    char etag[CK_STORE_ETAG_MAX];
    int rc = strcmp(cond, "*") == 0
                 ? ck_store_put_if_absent(l->store, l->key, body, strlen(body), etag, sizeof etag, e)
                 : ck_store_put_if_match(l->store, l->key, body, strlen(body), cond, etag,
                                         sizeof etag, e);
    free(body);
    if (rc == 0) {
        memcpy(l->etag, etag, sizeof etag);
        l->expires = expires;
    }
    return rc;
}

static int holder_conflict(const struct ck_lease *l, const struct ck_lease_holder *h,
                           struct ck_err *e)
{
    char when[32];
    time_t t = (time_t)h->expires;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof when, "%lld", h->expires);
    ck_failk(e, CK_E_GENERIC, "%s: lease %s is held by %s until %s", ck_store_name(l->store),
             l->key, h->owner, when);
    return CK_STORE_CONFLICT;
}

/* One attempt: 0 acquired, CK_STORE_CONFLICT held (rc_live set) or race lost, -1 error. */
static int try_acquire(struct ck_lease *l, struct ck_lease_holder *h, int *live, struct ck_err *e)
{
    long long now = (long long)time(NULL);
    *live = 0;
    int rc = lease_write(l, "*", now + l->ttl_s, e);
    if (rc != CK_STORE_CONFLICT)
        return rc;
    char *body = NULL;
    size_t len = 0;
    char etag[CK_STORE_ETAG_MAX];
    rc = ck_store_get(l->store, l->key, LEASE_BODY_MAX, &body, &len, etag, sizeof etag, e);
    if (rc == CK_STORE_NOTFOUND)
        return CK_STORE_CONFLICT; /* deleted meanwhile: try creating again */
    if (rc != 0)
        return -1;
    int parsed = lease_parse(body, len, h);
    free(body);
    /* no replica writes a lease longer than its TTL: further ahead is not a live one */
    h->overlong = parsed == 0 && h->expires > now + l->ttl_s + CK_LEASE_SLACK_S;
    if (parsed == 0 && h->expires > now && !h->overlong) {
        *live = 1;
        return holder_conflict(l, h, e);
    }
    /* expired, released or unreadable: take it over, unless someone else does first */
    return lease_write(l, etag, now + l->ttl_s, e);
}

int ck_lease_acquire(struct ck_store *s, const char *name, const char *owner, long ttl_s,
                     struct ck_lease **out, struct ck_lease_holder *holder, struct ck_err *e)
{
    *out = NULL;
    size_t on = owner ? strlen(owner) : 0;
    if (on == 0 || on >= sizeof ((struct ck_lease *)0)->owner)
        return ck_failk(e, CK_E_USAGE, "lease: owner must be 1..127 bytes");
    for (size_t i = 0; i < on; i++)
        if ((unsigned char)owner[i] < 0x20 || owner[i] == 0x7f)
            return ck_failk(e, CK_E_USAGE, "lease: owner has a control character");
    if (ttl_s <= 0 || ttl_s > 7 * 86400)
        return ck_failk(e, CK_E_USAGE, "lease: ttl %ld s out of range", ttl_s);
    struct ck_lease *l = calloc(1, sizeof *l);
    if (l == NULL)
        return ck_fail(e, "lease: out of memory");
    int n = snprintf(l->key, sizeof l->key, "locks/%s", name ? name : "");
    if (n < 0 || (size_t)n >= sizeof l->key || name == NULL || strchr(name, '/') ||
        ck_store_key_check(l->key, 0, e) != 0) {
        free(l);
        return ck_failk(e, CK_E_USAGE, "lease: bad name %.80s", name ? name : "(null)");
    }
    l->store = s;
    l->ttl_s = ttl_s;
    memcpy(l->owner, owner, on + 1);
    struct ck_lease_holder h_local, *h = holder ? holder : &h_local;
    memset(h, 0, sizeof *h);
    int rc = CK_STORE_CONFLICT, live = 0;
    for (int i = 0; i < LEASE_TRIES && rc == CK_STORE_CONFLICT && !live; i++)
        rc = try_acquire(l, h, &live, e);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int ck_lease_heartbeat(struct ck_lease *l, struct ck_err *e)
{
    int rc = lease_write(l, l->etag, (long long)time(NULL) + l->ttl_s, e);
    if (rc == CK_STORE_CONFLICT)
        ck_failk(e, CK_E_GENERIC, "%s: lease %s was lost (taken over after expiry)",
                 ck_store_name(l->store), l->key);
    return rc;
}

int ck_lease_release(struct ck_lease *l, struct ck_err *e)
{
    if (l == NULL)
        return 0;
    /* expires 0: free for the next acquirer */
    int rc = lease_write(l, l->etag, 0, e);
    if (rc == CK_STORE_CONFLICT)
        ck_failk(e, CK_E_GENERIC, "%s: lease %s was lost before release", ck_store_name(l->store),
                 l->key);
    free(l);
    return rc;
}

void ck_lease_free(struct ck_lease *l)
{
    free(l);
}
