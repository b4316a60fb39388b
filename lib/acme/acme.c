#include "internal.h"
#include "../fs/fs.h"

#include <bearssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BAD_NONCE_TRIES 20  /* Pebble rejects up to half of good nonces in tests */
#define MAX_PROFILES 32

static const char PROBLEM_NS[] = "urn:ietf:params:acme:error:";

void acme_clean(char *out, size_t cap, const char *s)
{
    size_t i = 0;
    if (!cap)
        return;
    for (; s && *s && i + 1 < cap; s++)
        out[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    out[i] = '\0';
}

void acme_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    /* A signal ends the sleep early: the next request sees the http stop flag. */
    nanosleep(&ts, &ts);
}

long long acme_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int text_ok(const char *s, size_t max)
{
    size_t n = 0;
    for (; *s; s++, n++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
            return 0;
    return 1;
}

const char *acme_str(const cJSON *o, const char *name, size_t max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v) || !v->valuestring || !text_ok(v->valuestring, max))
        return NULL;
    return v->valuestring;
}

const char *acme_text(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int acme_url_ok(const char *s)
{
    if (!s || (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || p - s >= ACME_URL_MAX)
            return 0;
    return 1;
}

int acme_json(const struct ck_http_resp *resp, const char *url, cJSON **out, struct ck_err *e)
{
    cJSON *j = resp->body ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return ck_failk(e, CK_E_PROTOCOL, "%s: the response (HTTP %ld, %zu bytes) is not a JSON object",
                        url, resp->status, resp->body_len);
    }
    *out = j;
    return 0;
}

/* Suffix after the ACME error namespace, or the whole (cleaned) type. */
static const char *problem_short(const char *type)
{
    size_t n = sizeof PROBLEM_NS - 1;
    return strncmp(type, PROBLEM_NS, n) == 0 ? type + n : type;
}

/* Appends when to come back to a rate-limit line, cutting the line (not the hint) to fit. */
static void retry_hint(char *line, size_t cap, long retry_after)
{
    char hint[96];
    if (retry_after < 0) {
        snprintf(hint, sizeof hint, "; the CA gave no Retry-After, wait before retrying");
    } else {
        time_t at = time(NULL) + (time_t)(retry_after > 315360000L ? 315360000L : retry_after);
        struct tm tm;
        char when[32] = "";
        if (gmtime_r(&at, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(hint, sizeof hint, "; retry after %lds (%s)", retry_after, when);
    }
    size_t n = strnlen(line, cap), h = strlen(hint);
    if (h + 4 >= cap)
        return;
    if (n + h >= cap) {
        n = cap - h - 4;
        memcpy(line + n, "...", 4);
        n += 3;
    }
    memcpy(line + n, hint, h + 1);
}

/* HTTP >= 400: an ACME problem document (RFC 8555 6.7) or a bare status, as one line. */
static int http_error(struct ck_acme *a, const char *url, const struct ck_http_resp *resp,
                      struct ck_err *e)
{
    char ctype[128] = "", type[128] = "", detail[256] = "", line[sizeof e->msg];
    cJSON *j = NULL;
    a->problem[0] = '\0';
    ck_http_header(resp, "Content-Type", ctype, sizeof ctype);
    if (strncasecmp(ctype, "application/problem+json", 24) == 0 && resp->body)
        j = cJSON_ParseWithLength(resp->body, resp->body_len);
    int rate = resp->status == 429 || (resp->status == 503 && resp->retry_after >= 0);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(line, sizeof line, "%s: HTTP %ld%s", url, resp->status, rate ? " (rate limited)" : "");
        if (rate)
            retry_hint(line, sizeof line, resp->retry_after);
        ck_failk(e, rate ? CK_E_RATELIMIT : CK_E_PROTOCOL, "%s", line);
        e->retry_after = resp->retry_after;
        return -1;
    }
    const char *t = acme_str(j, "type", 256), *d = acme_text(j, "detail");
    acme_clean(a->problem, sizeof a->problem, t ? t : "");
    acme_clean(type, sizeof type, t ? problem_short(t) : "unknown problem");
    acme_clean(detail, sizeof detail, d ? d : "(no detail)");
    int n = snprintf(line, sizeof line, "%s: %s: %s", url, type, detail);
    const cJSON *subs = cJSON_GetObjectItemCaseSensitive(j, "subproblems"), *s;
    cJSON_ArrayForEach(s, (cJSON_IsArray(subs) ? subs : NULL))
    {
        if (n < 0 || (size_t)n >= sizeof line)
            break;
        char id[128], st[64], sd[160];
        const cJSON *ident = cJSON_GetObjectItemCaseSensitive(s, "identifier");
        const char *iv = acme_str(ident, "value", 256), *stt = acme_str(s, "type", 256);
        acme_clean(id, sizeof id, iv ? iv : "?");
        acme_clean(st, sizeof st, stt ? problem_short(stt) : "?");
        acme_clean(sd, sizeof sd, acme_text(s, "detail") ? acme_text(s, "detail") : "");
        n += snprintf(line + n, sizeof line - (size_t)n, "; %s: %s: %s", id, st, sd);
    }
    if (strcmp(a->problem, "urn:ietf:params:acme:error:rateLimited") == 0)
        rate = 1;
    if (rate)
        retry_hint(line, sizeof line, resp->retry_after);
    cJSON_Delete(j);
    ck_failk(e, rate ? CK_E_RATELIMIT : CK_E_PROTOCOL, "%s", line);
    e->retry_after = resp->retry_after;
    return -1;
}

static void keep_nonce(struct ck_acme *a, const struct ck_http_resp *resp)
{
    char n[sizeof a->nonce];
    if (ck_http_header(resp, "Replay-Nonce", n, sizeof n) != 0 || !n[0])
        return;
    for (const char *p = n; *p; p++)  /* base64url only (RFC 8555 6.5.1) */
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return;
    memcpy(a->nonce, n, sizeof n);
}

static int do_req(struct ck_acme *a, const char *method, const char *url, const char *const *hdrs,
                  size_t n_hdrs, const char *body, size_t body_len, size_t max_body,
                  struct ck_http_resp *resp, struct ck_err *e)
{
    struct ck_http_req req = {.method = method, .url = url, .headers = hdrs, .n_headers = n_hdrs,
                              .body = body, .body_len = body_len, .max_body = max_body};
    memset(resp, 0, sizeof *resp);
    /* RFC 8555 6.1: HTTPS only. A CA reached over TLS must not send us anywhere in clear. */
    if (strncmp(a->dir_url, "https://", 8) == 0 && strncmp(url, "https://", 8) != 0)
        return ck_failk(e, CK_E_PROTOCOL, "%s: a plain http URL from the https directory %s; refusing",
                        url, a->dir_url);
    if (ck_http_do(a->http, &req, resp, e) != 0)
        return -1;
    keep_nonce(a, resp);
    ck_debug(a->log, "acme.http", "%s %s -> %ld", method, url, resp->status);
    return 0;
}

int acme_get(struct ck_acme *a, const char *url, const char *accept, size_t max_body,
             struct ck_http_resp *resp, struct ck_err *e)
{
    char acc[128];
    const char *hdrs[1] = {acc};
    if (accept)
        snprintf(acc, sizeof acc, "Accept: %s", accept);
    if (do_req(a, "GET", url, hdrs, accept ? 1 : 0, NULL, 0, max_body, resp, e) != 0)
        return -1;
    if (resp->status >= 400) {
        http_error(a, url, resp, e);
        ck_http_resp_free(resp);
        return -1;
    }
    return 0;
}

static int fresh_nonce(struct ck_acme *a, struct ck_err *e)
{
    struct ck_http_resp resp;
    if (do_req(a, "HEAD", a->new_nonce, NULL, 0, NULL, 0, 4096, &resp, e) != 0)
        return -1;
    long st = resp.status;
    ck_http_resp_free(&resp);
    if (!a->nonce[0])
        return ck_failk(e, CK_E_PROTOCOL, "%s: HTTP %ld without a Replay-Nonce", a->new_nonce, st);
    return 0;
}

/* Protected header {"alg", "jwk"|"kid", "nonce", "url"} as compact JSON. */
static char *protected_json(const struct ck_acme *a, const char *url, int use_jwk)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (!o || !cJSON_AddStringToObject(o, "alg", ck_jws_alg(a->key)))
        goto out;
    if (use_jwk ? !cJSON_AddRawToObject(o, "jwk", a->jwk) : !cJSON_AddStringToObject(o, "kid", a->kid))
        goto out;
    if (!cJSON_AddStringToObject(o, "nonce", a->nonce) || !cJSON_AddStringToObject(o, "url", url))
        goto out;
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

static int create_account(struct ck_acme *a, const char *email, int agree_tos, struct ck_err *e);

/* How a CA answers a request signed with an account URL it does not know for the key. */
static int account_unknown(const char *problem)
{
    return strcmp(problem, "urn:ietf:params:acme:error:accountDoesNotExist") == 0 ||
           strcmp(problem, "urn:ietf:params:acme:error:unauthorized") == 0 ||
           strcmp(problem, "urn:ietf:params:acme:error:malformed") == 0;
}

int acme_post(struct ck_acme *a, const char *url, const char *payload, int use_jwk,
              const char *accept, size_t max_body, struct ck_http_resp *resp, struct ck_err *e)
{
    char acc[128];
    const char *hdrs[2] = {"Content-Type: application/jose+json", acc};
    if (!a->key || (!use_jwk && !a->kid))
        return ck_fail(e, "%s: no ACME account to sign with", url);
    if (accept)
        snprintf(acc, sizeof acc, "Accept: %s", accept);
    int reloaded = 0;
    for (int try = 1;; try++) {
        if (!a->nonce[0] && fresh_nonce(a, e) != 0)
            return -1;
        char *prot = protected_json(a, url, use_jwk), *jws = NULL;
        size_t jws_len = 0;
        a->nonce[0] = '\0';  /* spent, whatever happens next */
        if (!prot)
            return ck_fail(e, "%s: out of memory", url);
        int rc = ck_jws_sign(a->key, prot, payload ? payload : "", payload ? strlen(payload) : 0,
                             &jws, &jws_len, e);
        free(prot);
        if (rc != 0)
            return ck_wrap(e, "%s", url);
        rc = do_req(a, "POST", url, hdrs, accept ? 2 : 1, jws, jws_len, max_body, resp, e);
        free(jws);
        if (rc != 0)
            return -1;
        if (resp->status < 400) {
            a->problem[0] = '\0';
            if (!use_jwk)
                a->kid_saved = 0;
            return 0;
        }
        http_error(a, url, resp, e);
        ck_http_resp_free(resp);
        if (!use_jwk && !reloaded && a->key_refused && account_unknown(a->problem)) {
            /* the account key may have been rolled over elsewhere: the caller has the newer one */
            const struct ck_key *newer = NULL;
            struct ck_err ca = *e;
            reloaded = 1;
            if (a->key_refused(a->key_refused_ctx, a->key, &newer, e) != 0)
                return -1;
            if (newer) {
                if (acme_use_key(a, newer, e) != 0)
                    return -1;
                continue;
            }
            /* nothing newer: unauthorized need not be about the key (an order's replaces) */
            if (!strcmp(a->problem, "urn:ietf:params:acme:error:unauthorized"))
                *e = ca;
            if (!a->kid_saved)
                return -1;
        }
        if (!use_jwk && a->kid_saved && account_unknown(a->problem)) {
            /* newAccount finds the key's account, or creates it; then sign again */
            a->kid_saved = 0;
            ck_info(a->log, "acme.account", "%s; asking for the key's account", e->msg);
            if (create_account(a, a->email, a->agree_tos, e) != 0)
                return -1;
            continue;
        }
        if (strcmp(a->problem, "urn:ietf:params:acme:error:badNonce") != 0 || try >= BAD_NONCE_TRIES)
            return -1;
        a->bad_nonce_retries++;
        ck_debug(a->log, "acme.nonce", "%s: badNonce, retrying (%d)", url, try);
    }
}

/* The EAB MAC key from `path`: base64url as CAs hand it out (padded or standard
 * base64 is accepted too), at least 16 and at most 128 bytes. Never logged. */
static int eab_load(struct ck_acme *a, const char *kid, const char *path, struct ck_err *e)
{
    char *text = NULL, b64[180];
    size_t len = 0, n = 0;
    if (!kid || !*kid || !path || !*path)
        return ck_failk(e, CK_E_USAGE, "external account binding needs both acme.eab.kid and "
                                       "acme.eab.hmac_key_file");
    if (!text_ok(kid, 256))
        return ck_failk(e, CK_E_USAGE, "acme.eab.kid is not a plain key id of at most 256 bytes");
    int rc = ck_fs_read(path, 4096, &text, &len, e);
    if (rc == 1)
        return ck_failk(e, CK_E_USAGE, "acme.eab.hmac_key_file %s: no such file", path);
    if (rc != 0)
        return ck_wrap(e, "acme.eab.hmac_key_file");
    for (size_t i = 0; i < len; i++) {
        char ch = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '=')
            continue;
        if (n + 4 >= sizeof b64) {
            n = 0;
            break;
        }
        b64[n++] = ch;
    }
    while (n % 4 && n + 1 < sizeof b64)
        b64[n++] = '=';
    long k = n ? ck_unb64(b64, n, a->eab_key) : -1;
    ck_wipe(text, len);
    free(text);
    ck_wipe(b64, sizeof b64);
    if (k < 16 || (size_t)k > sizeof a->eab_key)
        return ck_failk(e, CK_E_USAGE, "acme.eab.hmac_key_file %s: not a base64url MAC key of "
                                       "16 to 128 bytes", path);
    a->eab_key_len = (size_t)k;
    if (!(a->eab_kid = strdup(kid)))
        return ck_fail(e, "out of memory");
    return 0;
}

int ck_acme_new(const struct ck_acme_opts *o, struct ck_acme **out, struct ck_err *e)
{
    if (!o || !o->http || !o->directory_url || !acme_url_ok(o->directory_url))
        return ck_failk(e, CK_E_USAGE, "ACME directory URL '%s' is not an http(s) URL",
                        o && o->directory_url ? o->directory_url : "");
    struct ck_acme *a = calloc(1, sizeof *a);
    if (!a || !(a->dir_url = strdup(o->directory_url))) {
        free(a);
        return ck_fail(e, "out of memory");
    }
    a->http = o->http;
    a->log = o->log;
    a->poll_timeout_s = o->poll_timeout_s > 0 ? o->poll_timeout_s : 300;
    a->key_refused = o->key_refused;
    a->key_refused_ctx = o->key_refused_ctx;
    if ((o->eab_kid || o->eab_key_file) && eab_load(a, o->eab_kid, o->eab_key_file, e) != 0) {
        ck_acme_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

void ck_acme_free(struct ck_acme *a)
{
    if (!a)
        return;
    free(a->dir_url);
    free(a->new_nonce);
    free(a->new_account);
    free(a->new_order);
    free(a->revoke_cert);
    free(a->key_change);
    free(a->renewal_info);
    free(a->tos);
    for (size_t i = 0; i < a->n_profiles; i++)
        free(a->profiles[i]);
    free(a->profiles);
    free(a->jwk);
    free(a->kid);
    free(a->email);
    free(a->eab_kid);
    ck_wipe(a->eab_key, sizeof a->eab_key);
    free(a);
}

/* Copies directory member `name` into *dst when it is a sane URL; required ones must be. */
static int dir_url(struct ck_acme *a, const cJSON *dir, const char *name, int required, char **dst,
                   struct ck_err *e)
{
    const char *v = acme_str(dir, name, ACME_URL_MAX);
    if (!v || !acme_url_ok(v)) {
        if (!required && !cJSON_GetObjectItemCaseSensitive(dir, name))
            return 0;
        return ck_failk(e, CK_E_PROTOCOL, "%s: directory has no valid \"%s\" URL", a->dir_url, name);
    }
    return (*dst = strdup(v)) ? 0 : ck_fail(e, "out of memory");
}

static int dir_meta(struct ck_acme *a, const cJSON *meta, struct ck_err *e)
{
    a->eab_required = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(meta, "externalAccountRequired"));
    const char *tos = acme_str(meta, "termsOfService", ACME_URL_MAX);
    if (tos && !(a->tos = strdup(tos)))
        return ck_fail(e, "out of memory");
    const cJSON *profs = cJSON_GetObjectItemCaseSensitive(meta, "profiles"), *p;
    if (!cJSON_IsObject(profs))
        return 0;
    if (!(a->profiles = calloc(MAX_PROFILES, sizeof *a->profiles)))
        return ck_fail(e, "out of memory");
    cJSON_ArrayForEach(p, profs)
    {
        if (a->n_profiles >= MAX_PROFILES || !p->string || !text_ok(p->string, 64))
            continue;
        if (!(a->profiles[a->n_profiles] = strdup(p->string)))
            return ck_fail(e, "out of memory");
        a->n_profiles++;
    }
    return 0;
}

int ck_acme_directory(struct ck_acme *a, struct ck_err *e)
{
    struct ck_http_resp resp;
    cJSON *dir = NULL;
    int rc = -1;
    if (a->have_dir)
        return 0;
    if (acme_get(a, a->dir_url, "application/json", ACME_JSON_MAX, &resp, e) != 0)
        return ck_wrap(e, "ACME directory");
    if (acme_json(&resp, a->dir_url, &dir, e) != 0) {
        ck_wrap(e, "ACME directory");
        goto out;
    }
    if (dir_url(a, dir, "newNonce", 1, &a->new_nonce, e) != 0 ||
        dir_url(a, dir, "newAccount", 1, &a->new_account, e) != 0 ||
        dir_url(a, dir, "newOrder", 1, &a->new_order, e) != 0 ||
        dir_url(a, dir, "revokeCert", 0, &a->revoke_cert, e) != 0 ||
        dir_url(a, dir, "keyChange", 0, &a->key_change, e) != 0 ||
        dir_url(a, dir, "renewalInfo", 0, &a->renewal_info, e) != 0 ||
        dir_meta(a, cJSON_GetObjectItemCaseSensitive(dir, "meta"), e) != 0)
        goto out;
    a->have_dir = 1;
    ck_info(a->log, "acme.directory", "%s: %zu profiles, ARI %s, terms %s", a->dir_url,
            a->n_profiles, a->renewal_info ? "yes" : "no", a->tos ? a->tos : "none");
    rc = 0;
out:
    cJSON_Delete(dir);
    ck_http_resp_free(&resp);
    return rc;
}

int ck_acme_eab_required(const struct ck_acme *a)
{
    return a->eab_required;
}

const char *ck_acme_tos(const struct ck_acme *a)
{
    return a->tos;
}

int ck_acme_has_profile(const struct ck_acme *a, const char *name)
{
    if (!a->profiles)
        return -1;
    for (size_t i = 0; i < a->n_profiles; i++)
        if (name && strcmp(a->profiles[i], name) == 0)
            return 1;
    return 0;
}

int ck_acme_has_ari(const struct ck_acme *a)
{
    return a->renewal_info != NULL;
}

const char *ck_acme_account_url(const struct ck_acme *a)
{
    return a->kid;
}

/* 1 when the account lists exactly "mailto:<email>" as its contact. */
static int contact_is(const cJSON *acct, const char *email)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(acct, "contact");
    const cJSON *first = cJSON_IsArray(c) ? cJSON_GetArrayItem(c, 0) : NULL;
    return cJSON_GetArraySize(c) == 1 && cJSON_IsString(first) &&
           strncmp(first->valuestring, "mailto:", 7) == 0 && strcmp(first->valuestring + 7, email) == 0;
}

int acme_account_from(struct ck_acme *a, const struct ck_http_resp *resp, const char *email,
                      int *contact_ok, struct ck_err *e)
{
    char loc[ACME_URL_MAX + 1];
    cJSON *acct = NULL;
    if (ck_http_header(resp, "Location", loc, sizeof loc) != 0 || !acme_url_ok(loc))
        return ck_failk(e, CK_E_PROTOCOL, "%s: account response without a valid Location",
                        a->new_account);
    if (acme_json(resp, a->new_account, &acct, e) != 0)
        return -1;
    const char *st = acme_str(acct, "status", 32);
    if (!st || strcmp(st, "valid") != 0) {
        char s[40];
        acme_clean(s, sizeof s, st ? st : "missing");
        cJSON_Delete(acct);
        return ck_failk(e, CK_E_PROTOCOL, "account %s: status is %s", loc, s);
    }
    *contact_ok = !email || !*email || contact_is(acct, email);
    cJSON_Delete(acct);
    a->kid_saved = 0;
    free(a->kid);
    return (a->kid = strdup(loc)) ? 0 : ck_fail(e, "out of memory");
}

/* RFC 8555 7.3.4: a JWS over the account's public JWK, MACed (HS256) with the CA's key. */
static cJSON *eab_jws(const struct ck_acme *a)
{
    char prot[2400], sig[48];
    unsigned char mac[32];
    cJSON *o = NULL, *p = cJSON_CreateObject();
    char *pj = NULL, *pb = NULL, *jb = NULL;
    if (!p || !cJSON_AddStringToObject(p, "alg", "HS256") ||
        !cJSON_AddStringToObject(p, "kid", a->eab_kid) ||
        !cJSON_AddStringToObject(p, "url", a->new_account) || !(pj = cJSON_PrintUnformatted(p)))
        goto out;
    size_t pl = strlen(pj), jl = strlen(a->jwk);
    if (!(pb = malloc(pl * 4 / 3 + 4)) || !(jb = malloc(jl * 4 / 3 + 4)))
        goto out;
    size_t pbl = ck_b64url(pj, pl, pb, pl * 4 / 3 + 4), jbl = ck_b64url(a->jwk, jl, jb, jl * 4 / 3 + 4);
    if (pbl == (size_t)-1 || jbl == (size_t)-1 || pbl + jbl + 2 > sizeof prot)
        goto out;
    snprintf(prot, sizeof prot, "%s.%s", pb, jb);
    br_hmac_key_context kc;
    br_hmac_context hc;
    br_hmac_key_init(&kc, &br_sha256_vtable, a->eab_key, a->eab_key_len);
    br_hmac_init(&hc, &kc, 0);
    br_hmac_update(&hc, prot, strlen(prot));
    br_hmac_out(&hc, mac);
    ck_wipe(&kc, sizeof kc);
    ck_wipe(&hc, sizeof hc);
    if (ck_b64url(mac, sizeof mac, sig, sizeof sig) == (size_t)-1 || !(o = cJSON_CreateObject()) ||
        !cJSON_AddStringToObject(o, "protected", pb) || !cJSON_AddStringToObject(o, "payload", jb) ||
        !cJSON_AddStringToObject(o, "signature", sig)) {
        cJSON_Delete(o);
        o = NULL;
    }
out:
    cJSON_Delete(p);
    free(pj);
    free(pb);
    free(jb);
    return o;
}

static char *new_account_payload(const struct ck_acme *a, const char *email, int agree_tos, int bind)
{
    cJSON *o = cJSON_CreateObject(), *contact, *eab;
    char *s = NULL, mail[320];
    if (!o)
        return NULL;
    if (bind && a->eab_kid) {
        if (!(eab = eab_jws(a)))
            goto out;
        cJSON_AddItemToObject(o, "externalAccountBinding", eab);
    }
    if (email && *email) {
        snprintf(mail, sizeof mail, "mailto:%s", email);
        if (!(contact = cJSON_AddArrayToObject(o, "contact")))
            goto out;
        cJSON_AddItemToArray(contact, cJSON_CreateString(mail));
    }
    if (agree_tos && !cJSON_AddTrueToObject(o, "termsOfServiceAgreed"))
        goto out;
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

/* The guide wants a reachable contact: bring an existing account's up to date.
 * Not fatal: the certificate matters more than the mail address. */
static void update_contact(struct ck_acme *a, const char *email)
{
    struct ck_http_resp resp;
    struct ck_err e;
    char *payload = new_account_payload(a, email, 0, 0);
    if (!payload)
        return;
    if (acme_post(a, a->kid, payload, 0, NULL, ACME_JSON_MAX, &resp, &e) == 0) {
        ck_http_resp_free(&resp);
        ck_info(a->log, "acme.account", "account contact set to mailto:%s", email);
    } else {
        ck_warn(a->log, "acme.account", "cannot update the account contact: %s", e.msg);
    }
    free(payload);
}

static int contains_nocase(const char *hay, const char *needle)
{
    for (size_t n = strlen(needle); *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

/* Problems by which a CA says the terms must be agreed first. */
static int wants_agreement(const struct ck_acme *a, const char *msg)
{
    return strstr(a->problem, "agreementRequired") || strstr(a->problem, "userActionRequired") ||
           contains_nocase(msg, "terms of service") || contains_nocase(msg, "termsOfService");
}

/* newAccount with the contact and, if agreed, the terms. The CA creates the account
 * (201) or, when the key has one already, answers with it (200, RFC 8555 7.3.1). */
static int create_account(struct ck_acme *a, const char *email, int agree_tos, struct ck_err *e)
{
    struct ck_http_resp resp;
    int rc, contact_ok = 1;
    if (a->eab_required && !a->eab_kid)
        return ck_failk(e, CK_E_USAGE, "the CA at %s requires external account binding for a new "
                                       "account: set acme.eab.kid and acme.eab.hmac_key_file (the "
                                       "credentials the CA gives you)", a->dir_url);
    char *payload = new_account_payload(a, email, agree_tos, 1);
    if (!payload)
        return ck_fail(e, "out of memory");
    rc = acme_post(a, a->new_account, payload, 1, NULL, ACME_JSON_MAX, &resp, e);
    free(payload);
    if (rc != 0) {
        if (!agree_tos && wants_agreement(a, e->msg))
            return ck_failk(e, CK_E_USAGE,
                            "the CA requires agreeing to its terms of service (%s): read them and "
                            "set agree_tos (--agree-tos)", a->tos ? a->tos : "URL not in directory");
        return -1;
    }
    long status = resp.status;
    rc = acme_account_from(a, &resp, email, &contact_ok, e);
    ck_http_resp_free(&resp);
    if (rc != 0)
        return -1;
    if (status == 201) {
        ck_info(a->log, "acme.account", "created account %s", a->kid);
        return 0;
    }
    ck_info(a->log, "acme.account", "using existing account %s", a->kid);
    if (!contact_ok)
        update_contact(a, email);
    return 0;
}

/* Checks the address, fetches the directory and takes `key` as the signing key. */
static int account_start(struct ck_acme *a, const struct ck_key *key, const char *email,
                         struct ck_err *e)
{
    if (email && (strlen(email) > 254 || !text_ok(email, 254) || strchr(email, ',') || !strchr(email, '@')))
        return ck_failk(e, CK_E_USAGE, "contact email '%.64s' is not an address", email);
    if (ck_acme_directory(a, e) != 0)
        return -1;
    return acme_use_key(a, key, e);
}

int acme_use_key(struct ck_acme *a, const struct ck_key *key, struct ck_err *e)
{
    free(a->jwk);
    a->jwk = NULL;
    a->key = key;
    if (ck_jwk_json(key, &a->jwk, e) != 0 || ck_jwk_thumbprint(key, a->thumb, e) != 0)
        return ck_wrap(e, "account key");
    return 0;
}

int ck_acme_account(struct ck_acme *a, const struct ck_key *key, const char *email, int agree_tos,
                    struct ck_err *e)
{
    struct ck_http_resp resp;
    int rc, contact_ok = 1;
    if (account_start(a, key, email, e) != 0)
        return -1;
    for (int again = 1;; again = 0) {
        rc = acme_post(a, a->new_account, "{\"onlyReturnExisting\":true}", 1, NULL, ACME_JSON_MAX,
                       &resp, e);
        const struct ck_key *newer = NULL;
        /* no account for this key: it may have been rolled over elsewhere */
        if (rc == 0 || !again || !a->key_refused ||
            strcmp(a->problem, "urn:ietf:params:acme:error:accountDoesNotExist") != 0)
            break;
        if (a->key_refused(a->key_refused_ctx, a->key, &newer, e) != 0)
            return -1;
        if (!newer)
            break;
        if (acme_use_key(a, newer, e) != 0)
            return -1;
    }
    if (rc == 0) {
        rc = acme_account_from(a, &resp, email, &contact_ok, e);
        ck_http_resp_free(&resp);
        if (rc == 0)
            ck_info(a->log, "acme.account", "using existing account %s", a->kid);
        if (rc == 0 && !contact_ok)
            update_contact(a, email);
        return rc;
    }
    if (strcmp(a->problem, "urn:ietf:params:acme:error:accountDoesNotExist") != 0)
        return -1;
    return create_account(a, email, agree_tos, e);
}

int ck_acme_account_fresh(struct ck_acme *a, const struct ck_key *key, const char *email,
                          int agree_tos, struct ck_err *e)
{
    if (account_start(a, key, email, e) != 0)
        return -1;
    return create_account(a, email, agree_tos, e);
}

int ck_acme_account_saved(struct ck_acme *a, const struct ck_key *key, const char *url,
                          const char *email, int agree_tos, struct ck_err *e)
{
    if (!acme_url_ok(url))
        return ck_failk(e, CK_E_USAGE, "saved account URL '%.64s' is not an http(s) URL", url ? url : "");
    if (account_start(a, key, email, e) != 0)
        return -1;
    free(a->kid);
    free(a->email);
    a->email = NULL;
    if (!(a->kid = strdup(url)) || (email && !(a->email = strdup(email))))
        return ck_fail(e, "out of memory");
    a->kid_saved = 1;
    a->agree_tos = agree_tos;
    ck_info(a->log, "acme.account", "using saved account %s", a->kid);
    return 0;
}

int ck_acme_issue(struct ck_acme *a, const struct ck_acme_order_req *r, struct ck_acme_cert *out,
                  struct ck_err *e)
{
    return acme_issue(a, r, out, e);
}

void ck_acme_cert_free(struct ck_acme_cert *c)
{
    if (!c)
        return;
    free(c->fullchain_pem);
    free(c->cert_url);
    c->fullchain_pem = c->cert_url = NULL;
    c->fullchain_len = 0;
}

/* Parses up to `n` digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time → Unix seconds (fractions dropped). */
static int rfc3339(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' || digits(&p, 2, &D) ||
        (*p != 'T' && *p != 't' && *p != ' ') || !*p++ || digits(&p, 2, &h) || *p++ != ':' ||
        digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
    } else
        return -1;
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59)
        return -1;
    *out = days_from_civil(Y, M, D) * 86400 + h * 3600 + m * 60 + sec - sign * (oh * 3600 + om * 60);
    return 0;
}

int ck_acme_renewal_info(struct ck_acme *a, const char *cert_id, int64_t *start, int64_t *end,
                         long *retry_after, struct ck_err *e)
{
    char url[ACME_URL_MAX + 600];
    struct ck_http_resp resp;
    cJSON *j = NULL;
    int rc = -1;
    if (ck_acme_directory(a, e) != 0)
        return -1;
    if (!a->renewal_info)
        return ck_failk(e, CK_E_PROTOCOL, "%s: the CA offers no renewalInfo", a->dir_url);
    size_t n = strlen(cert_id);
    if (n == 0 || n > 512 || strspn(cert_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != n)
        return ck_fail(e, "ARI certificate id '%.64s' is not base64url.base64url", cert_id);
    snprintf(url, sizeof url, "%s%s%s", a->renewal_info,
             a->renewal_info[strlen(a->renewal_info) - 1] == '/' ? "" : "/", cert_id);
    if (acme_get(a, url, "application/json", ACME_JSON_MAX, &resp, e) != 0)
        return -1;
    if (acme_json(&resp, url, &j, e) != 0)
        goto out;
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "suggestedWindow");
    const char *s = acme_str(w, "start", 64), *en = acme_str(w, "end", 64);
    if (!s || !en || rfc3339(s, start) != 0 || rfc3339(en, end) != 0 || *end < *start) {
        ck_failk(e, CK_E_PROTOCOL, "%s: no valid suggestedWindow", url);
        goto out;
    }
    if (retry_after)
        *retry_after = resp.retry_after;
    ck_debug(a->log, "acme.ari", "%s: window %lld..%lld", url, (long long)*start, (long long)*end);
    rc = 0;
out:
    cJSON_Delete(j);
    ck_http_resp_free(&resp);
    return rc;
}

int ck_acme_revoke(struct ck_acme *a, const unsigned char *cert_der, size_t len, int reason,
                   struct ck_err *e)
{
    struct ck_http_resp resp;
    char *b64 = NULL, *payload = NULL;
    int rc = -1;
    if (ck_acme_directory(a, e) != 0)
        return -1;
    if (!a->revoke_cert)
        return ck_failk(e, CK_E_PROTOCOL, "%s: the CA offers no revokeCert", a->dir_url);
    if (reason < 0 || reason > 10 || reason == 7)
        return ck_failk(e, CK_E_USAGE, "revocation reason %d is not an RFC 5280 reason code", reason);
    size_t cap = 4 * ((len + 2) / 3) + 1;
    if (!(b64 = malloc(cap)) || !(payload = malloc(cap + 64))) {
        ck_fail(e, "out of memory");
        goto out;
    }
    ck_b64url(cert_der, len, b64, cap);
    snprintf(payload, cap + 64, "{\"certificate\":\"%s\",\"reason\":%d}", b64, reason);
    if (acme_post(a, a->revoke_cert, payload, 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
        goto out;
    ck_http_resp_free(&resp);
    ck_info(a->log, "acme.revoke", "certificate revoked (reason %d)", reason);
    rc = 0;
out:
    free(b64);
    free(payload);
    return rc;
}
