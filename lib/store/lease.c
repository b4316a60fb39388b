/* The issuer lease: only conditional puts, so a takeover or a release can never
 * clobber a lease someone else just took. On a store that ignores the conditions
 * (ck_store_cond_probe), each put is preceded by a read that checks them, and an
 * acquired lease is read back after a random delay: of racers that all wrote, the
 * last write is the one every read-back sees. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define LEASE_BODY_MAX 4096
#define LEASE_TRIES 4  /* create / takeover races lost before giving up */
/* Read-back delay: at least MIN, so that a racer whose read and write lie closer
 * together than MIN cannot overwrite a lease after its owner read it back. */
#define READBACK_MIN_MS 1000
#define READBACK_SPAN_MS 1000 /* random part, on top */

struct ck_lease {
    struct ck_store *store;
    char key[CK_STORE_KEY_MAX + 1];
    char owner[128];
    long ttl_s;
    long long expires;
    char etag[CK_STORE_ETAG_MAX];
    long long span_ms; /* unchecked store: from the read before our last write to its answer */
};

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

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

/* The store ignores conditions: checks `cond` with a read; 0 holds, CK_STORE_CONFLICT, -1. */
static int check_cond(struct ck_lease *l, const char *cond, struct ck_err *e)
{
    char *body = NULL, etag[CK_STORE_ETAG_MAX];
    size_t len = 0;
    int star = strcmp(cond, "*") == 0;
    int rc = ck_store_get(l->store, l->key, LEASE_BODY_MAX, &body, &len, etag, sizeof etag, e);
    free(body);
    if (rc < 0)
        return -1;
    if (star ? rc == CK_STORE_NOTFOUND : rc == 0 && strcmp(etag, cond) == 0)
        return 0;
    ck_failk(e, CK_E_GENERIC, "%s: lease %s %s", ck_store_name(l->store), l->key,
             star ? "already exists" : "changed since it was read");
    return CK_STORE_CONFLICT;
}

/* Writes our record with `cond` ("*" or the etag read); returns the store's code. */
static int lease_write(struct ck_lease *l, const char *cond, long long expires, struct ck_err *e)
{
    long long t0 = mono_ms();
    int checked = l->store->cond == CK_STORE_COND_IGNORED;
    if (checked) {
        int rc = check_cond(l, cond, e);
        if (rc != 0)
            return rc;
    }
    long long now = (long long)time(NULL);
    char *body = lease_body(l->owner, expires, now, e);
    if (body == NULL)
        return -1;
    char etag[CK_STORE_ETAG_MAX];
    /* checked: If-Match may be what the store gets wrong; the read above stands for it */
    int rc = strcmp(cond, "*") == 0
                 ? ck_store_put_if_absent(l->store, l->key, body, strlen(body), etag, sizeof etag, e)
             : checked ? ck_store_put_etag(l->store, l->key, body, strlen(body), etag, sizeof etag, e)
                       : ck_store_put_if_match(l->store, l->key, body, strlen(body), cond, etag,
                                               sizeof etag, e);
    free(body);
    if (rc == 0) {
        memcpy(l->etag, etag, sizeof etag);
        l->expires = expires;
        l->span_ms = mono_ms() - t0;
    }
    return rc;
}

/* Reads the record: 0 (*parsed 1 when it is a lease record, described in *h),
 * CK_STORE_NOTFOUND, -1. */
static int lease_read(struct ck_lease *l, struct ck_lease_holder *h, int *parsed, char *etag,
                      struct ck_err *e)
{
    char *body = NULL;
    size_t len = 0;
    *parsed = 0;
    memset(h, 0, sizeof *h);
    int rc = ck_store_get(l->store, l->key, LEASE_BODY_MAX, &body, &len, etag, CK_STORE_ETAG_MAX, e);
    if (rc == 0)
        *parsed = lease_parse(body, len, h) == 0;
    free(body);
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

static void sleep_ms(long long ms)
{
    struct timespec t = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 };
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ; /* a signal is the caller's to act on, after a complete answer */
}

/* The store ignores conditions and we wrote the lease: it is ours when, after a
 * random delay, it still holds our record. Same returns as try_acquire. */
static int read_back(struct ck_lease *l, struct ck_lease_holder *h, int *live, struct ck_err *e)
{
    unsigned char r[2];
    if (ck_random(r, sizeof r, e) != 0)
        return -1;
    sleep_ms(READBACK_MIN_MS + ((r[0] << 8) | r[1]) % READBACK_SPAN_MS);
    struct ck_lease_holder back;
    char etag[CK_STORE_ETAG_MAX];
    int parsed;
    int rc = lease_read(l, &back, &parsed, etag, e);
    if (rc < 0)
        return -1;
    int ours = rc == 0 && parsed && strcmp(back.owner, l->owner) == 0 && back.expires == l->expires;
    if (ours && l->span_ms < READBACK_MIN_MS) {
        memcpy(l->etag, etag, sizeof etag);
        return 0;
    }
    *live = 1; /* to the caller, a lease someone holds: it waits rather than overwrites */
    if (rc == 0 && parsed)
        *h = back;
    if (ours)
        return ck_failk(e, CK_E_GENERIC, "%s: lease %s: our write came %lld ms after the read "
                        "before it (more than the %d ms read-back delay): not issuing, in case "
                        "another replica went ahead meanwhile", ck_store_name(l->store), l->key,
                        l->span_ms, READBACK_MIN_MS);
    if (rc == 0 && parsed)
        return holder_conflict(l, h, e);
    return ck_failk(e, CK_E_GENERIC, "%s: lease %s changed after we wrote it: another replica "
                    "took it", ck_store_name(l->store), l->key);
}

/* One attempt: 0 acquired, CK_STORE_CONFLICT held (rc_live set) or race lost, -1 error. */
static int try_acquire(struct ck_lease *l, struct ck_lease_holder *h, int *live, struct ck_err *e)
{
    long long now = (long long)time(NULL);
    int checked = l->store->cond == CK_STORE_COND_IGNORED;
    *live = 0;
    int rc = lease_write(l, "*", now + l->ttl_s, e);
    if (rc == 0 && checked)
        return read_back(l, h, live, e);
    if (rc != CK_STORE_CONFLICT)
        return rc;
    char etag[CK_STORE_ETAG_MAX];
    int parsed;
    rc = lease_read(l, h, &parsed, etag, e);
    if (rc == CK_STORE_NOTFOUND)
        return CK_STORE_CONFLICT; /* deleted meanwhile: try creating again */
    if (rc != 0)
        return -1;
    /* no replica writes a lease longer than its TTL: further ahead is not a live one */
    h->overlong = parsed && h->expires > now + l->ttl_s + CK_LEASE_SLACK_S;
    if (parsed && h->expires > now && !h->overlong) {
        *live = 1;
        return holder_conflict(l, h, e);
    }
    /* expired, released or unreadable: take it over, unless someone else does first */
    rc = lease_write(l, etag, now + l->ttl_s, e);
    if (rc == 0 && checked) {
        struct ck_lease_holder taken = *h;
        rc = read_back(l, h, live, e);
        if (rc == 0)
            *h = taken; /* the caller is told what it took over (overlong) */
    }
    return rc;
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
    if (ck_store_cond_probe(s, e) != 0) {
        free(l);
        return -1;
    }
    int rc = CK_STORE_CONFLICT, live = 0;
    for (int i = 0; i < LEASE_TRIES && rc == CK_STORE_CONFLICT && !live; i++)
        rc = try_acquire(l, h, &live, e);
    if (s->cond == CK_STORE_COND_IGNORED)
        snprintf(h->notice, sizeof h->notice, "%s", s->cond_notice);
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
