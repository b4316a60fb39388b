#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "../log/log.h"

void ck_webhook_origin(const char *url, char *out, size_t cap)
{
    const char *rest = strstr(url, "://");
    size_t scheme = rest ? (size_t)(rest - url) + 3 : 0;
    const char *host = url + scheme;
    size_t auth = strcspn(host, "/?#");
    /* userinfo ends at the authority's last '@' */
    for (size_t i = auth; i > 0; i--)
        if (host[i - 1] == '@') {
            auth -= i;
            host += i;
            break;
        }
    snprintf(out, cap, "%.*s%.*s", (int)scheme, url, (int)auth, host);
}

/* Adds name (RFC 3339) and name_unix, or two nulls when t is 0. */
static int add_time(cJSON *o, const char *name, int64_t t)
{
    char key[32], text[32];
    struct tm tm;
    time_t tt = (time_t)t;
    snprintf(key, sizeof key, "%s_unix", name);
    if (t == 0)
        return cJSON_AddNullToObject(o, name) && cJSON_AddNullToObject(o, key);
    if (!gmtime_r(&tt, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return 0;
    return cJSON_AddStringToObject(o, name, text) && cJSON_AddNumberToObject(o, key, (double)t);
}

int ck_webhook_json(const struct ck_webhook_event *ev, char **out, struct ck_err *e)
{
    *out = NULL;
    cJSON *o = cJSON_CreateObject(), *names = NULL;
    int ok = o && cJSON_AddStringToObject(o, "event", ev->recovery ? "recovery" : "failure") &&
             add_time(o, "time", ev->time) &&
             cJSON_AddStringToObject(o, "certificate", ev->cert_name ? ev->cert_name : "") &&
             (names = cJSON_AddArrayToObject(o, "names")) != NULL;
    for (size_t i = 0; ok && i < ev->n_names; i++) {
        cJSON *s = cJSON_CreateString(ev->names[i]);
        ok = s && cJSON_AddItemToArray(names, s);
    }
    ok = ok &&
         (ev->error ? cJSON_AddStringToObject(o, "error", ev->error) != NULL
                    : cJSON_AddNullToObject(o, "error") != NULL) &&
         cJSON_AddNumberToObject(o, "failures", ev->failures) &&
         (!ev->recovery || cJSON_AddNumberToObject(o, "previous_failures", ev->previous_failures)) &&
         add_time(o, "next_retry", ev->next_retry) && add_time(o, "not_after", ev->not_after) &&
         (*out = cJSON_PrintUnformatted(o)) != NULL;
    cJSON_Delete(o);
    return ok ? 0 : ck_fail(e, "webhook: out of memory");
}

/* e->msg as "webhook <origin>: <why>": lib/http names the URL ("POST <url>: why"),
 * whose path may hold a token; any other copy of it is replaced by the origin. */
static void reword(struct ck_err *e, const char *url, const char *origin)
{
    char buf[sizeof e->msg];
    size_t n = strlen(url), used = 0;
    const char *p = e->msg, *hit;
    if (!strncmp(p, "POST ", 5) && !strncmp(p + 5, url, n) && !strncmp(p + 5 + n, ": ", 2))
        p += 7 + n;
    used = (size_t)snprintf(buf, sizeof buf, "webhook %s: ", origin);
    while (n && (hit = strstr(p, url)) != NULL && used < sizeof buf) {
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%.*s%s", (int)(hit - p), p,
                                 origin);
        p = hit + n;
    }
    if (used < sizeof buf)
        snprintf(buf + used, sizeof buf - used, "%s", p);
    memcpy(e->msg, buf, sizeof buf);
}

int ck_webhook_post(const struct ck_http_opts *o, const char *url,
                    const struct ck_webhook_event *ev, struct ck_err *e)
{
    char origin[256], *body = NULL;
    struct ck_http *h = NULL;
    struct ck_http_resp resp;
    struct ck_http_opts ho = *o;
    int rc = -1;
    memset(&resp, 0, sizeof resp);
    ck_webhook_origin(url, origin, sizeof origin);
    if (ho.connect_timeout_ms <= 0 || ho.connect_timeout_ms > CK_WEBHOOK_CONNECT_MS)
        ho.connect_timeout_ms = CK_WEBHOOK_CONNECT_MS;
    if (ho.timeout_ms <= 0 || ho.timeout_ms > CK_WEBHOOK_TIMEOUT_MS)
        ho.timeout_ms = CK_WEBHOOK_TIMEOUT_MS;
    if (ck_webhook_json(ev, &body, e))
        return -1;
    static const char *const hdrs[] = {"Content-Type: application/json"};
    struct ck_http_req req = {.method = "POST", .url = url, .headers = hdrs, .n_headers = 1,
                              .body = body, .body_len = strlen(body), .max_body = 64 * 1024};
    if (ck_http_new(&ho, &h, e) || ck_http_do(h, &req, &resp, e)) {
        reword(e, ck_log_url(url, (char[512]){0}, 512), origin); /* as lib/http names it */
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        ck_failk(e, CK_E_PROTOCOL, "webhook %s: HTTP %ld", origin, resp.status);
        goto out;
    }
    rc = 0;
out:
    ck_http_resp_free(&resp);
    ck_http_free(h);
    free(body);
    return rc;
}
