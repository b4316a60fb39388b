/* newOrder → authorizations → challenges → finalize (RFC 8555 7.4, 7.5). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PROFILE_NAMES_MAX 25   /* Let's Encrypt's tlsserver and shortlived profiles */
#define TOKEN_MAX 256
#define POLL_FIRST_MS 20
#define POLL_MAX_MS 2000
#define RETRY_AFTER_MAX_S 60

struct authz {
    char *url;
    char *domain;
    char *chall_url;
    char token[TOKEN_MAX + 1];
    char key_authz[TOKEN_MAX + 48];
    char value[TOKEN_MAX + 48];  /* what the solver publishes: key_authz, or its digest for dns-01 */
    int done;       /* valid already (reused) or validated */
    int respond;    /* the challenge still waits for our POST {} */
    int presented;
};

struct order {
    char *url;
    char *finalize;
    char *cert_url;
    struct authz *authzs;
    size_t n;
    char status[16];  /* as last seen; "ready" also when every authorization was seen valid */
    int ready_inferred;  /* "ready" from the authorizations, not from the order itself */
};

static void order_free(struct order *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->authzs[i].url);
        free(o->authzs[i].domain);
        free(o->authzs[i].chall_url);
    }
    free(o->authzs);
    free(o->url);
    free(o->finalize);
    free(o->cert_url);
    memset(o, 0, sizeof *o);
}

static int is_b64url(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

static int status_in(const char *st, const char *const *set)
{
    for (; st && *set; set++)
        if (strcmp(st, *set) == 0)
            return 1;
    return 0;
}

/* " (<type>: <detail>)" from an embedded problem object, "" when none. */
static void embedded_problem(const cJSON *p, char *out, size_t cap)
{
    char t[96], d[256];
    const char *type = acme_str(p, "type", 256), *detail = acme_text(p, "detail");
    out[0] = '\0';
    if (!type && !detail)
        return;
    if (type && strncmp(type, "urn:ietf:params:acme:error:", 27) == 0)
        type += 27;
    acme_clean(t, sizeof t, type ? type : "error");
    acme_clean(d, sizeof d, detail ? detail : "");
    snprintf(out, cap, ": %s: %s", t, d);
}

/* POST-as-GET url until its "status" leaves `busy`, the first look after first_ms;
 * honours Retry-After (capped), else waits from 20 ms doubling to 2 s, within
 * poll_timeout_s. */
static int poll(struct ck_acme *a, const char *url, const char *const *busy, long first_ms,
                cJSON **out, struct ck_err *e)
{
    long long deadline = acme_now_ms() + (long long)a->poll_timeout_s * 1000;
    long delay = POLL_FIRST_MS;
    if (first_ms > 0) {
        acme_sleep_ms(first_ms);
        delay = first_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : first_ms * 2;
    }
    for (;;) {
        struct ck_http_resp resp;
        cJSON *j = NULL;
        if (acme_post(a, url, NULL, 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
            return -1;
        int rc = acme_json(&resp, url, &j, e);
        long ra = resp.retry_after;
        ck_http_resp_free(&resp);
        if (rc != 0)
            return -1;
        const char *st = acme_str(j, "status", 32);
        if (!st) {
            cJSON_Delete(j);
            return ck_failk(e, CK_E_PROTOCOL, "%s: object without a status", url);
        }
        if (!status_in(st, busy)) {
            *out = j;
            return 0;
        }
        long wait = ra > 0 ? (ra > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : ra) * 1000L : delay;
        if (acme_now_ms() + wait > deadline) {
            char s[40];
            acme_clean(s, sizeof s, st);
            cJSON_Delete(j);
            return ck_failk(e, CK_E_PROTOCOL, "%s: still %s after %ld s", url, s, a->poll_timeout_s);
        }
        cJSON_Delete(j);
        ck_debug(a->log, "acme.poll", "%s: %s, next look in %ld ms", url, busy[0], wait);
        acme_sleep_ms(wait);
        if (delay < POLL_MAX_MS)
            delay = delay * 2 > POLL_MAX_MS ? POLL_MAX_MS : delay * 2;
    }
}

static int names_ok(const struct ck_acme_order_req *r, struct ck_err *e)
{
    if (!r->names || r->n_names == 0)
        return ck_failk(e, CK_E_USAGE, "no domain name to order a certificate for");
    if (r->n_names > CK_ACME_MAX_NAMES)
        return ck_failk(e, CK_E_USAGE, "%zu names requested: a certificate holds at most %d",
                        r->n_names, CK_ACME_MAX_NAMES);
    for (size_t i = 0; i < r->n_names; i++) {
        const char *n = r->names[i];
        size_t len = n ? strlen(n) : 0;
        unsigned char ip[16];
        if (len == 0 || len > 253 ||
            (strspn(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.*_") != len &&
             !ck_ip_bytes(n, ip)))
            return ck_failk(e, CK_E_USAGE, "'%.64s' is not a DNS name or an IP address", n ? n : "");
    }
    if (!r->solver || !r->solver->type || !r->solver->present || !r->cert_key)
        return ck_failk(e, CK_E_USAGE, "order without a challenge solver or certificate key");
    if (strcmp(r->solver->type, "http-01") != 0 && strcmp(r->solver->type, "dns-01") != 0 &&
        strcmp(r->solver->type, "tls-alpn-01") != 0)
        return ck_failk(e, CK_E_USAGE, "challenge type '%.32s' is not http-01, dns-01 or tls-alpn-01",
                        r->solver->type);
    return 0;
}

/* The profile must be offered; tlsserver and shortlived hold at most 25 names. */
static int profile_ok(struct ck_acme *a, const struct ck_acme_order_req *r, struct ck_err *e)
{
    if (!r->profile)
        return 0;
    int has = ck_acme_has_profile(a, r->profile);
    if (has < 0)
        return ck_failk(e, CK_E_USAGE, "profile '%.64s' requested but %s lists no profiles",
                        r->profile, a->dir_url);
    if (has == 0)
        return ck_failk(e, CK_E_USAGE, "profile '%.64s' is not offered by %s", r->profile, a->dir_url);
    if ((strcmp(r->profile, "tlsserver") == 0 || strcmp(r->profile, "shortlived") == 0) &&
        r->n_names > PROFILE_NAMES_MAX)
        return ck_failk(e, CK_E_USAGE, "%zu names requested: profile %s allows at most %d",
                        r->n_names, r->profile, PROFILE_NAMES_MAX);
    return 0;
}

static char *order_payload(const struct ck_acme_order_req *r, int with_replaces)
{
    cJSON *o = cJSON_CreateObject(), *ids;
    char *s = NULL;
    if (!o || !(ids = cJSON_AddArrayToObject(o, "identifiers")))
        goto out;
    for (size_t i = 0; i < r->n_names; i++) {
        cJSON *id = cJSON_CreateObject();
        if (!id)
            goto out;
        cJSON_AddItemToArray(ids, id);
        unsigned char ip[16];
        if (!cJSON_AddStringToObject(id, "type", ck_ip_bytes(r->names[i], ip) ? "ip" : "dns") ||
            !cJSON_AddStringToObject(id, "value", r->names[i]))
            goto out;
    }
    if (r->profile && !cJSON_AddStringToObject(o, "profile", r->profile))
        goto out;
    if (with_replaces && r->replaces && !cJSON_AddStringToObject(o, "replaces", r->replaces))
        goto out;
    s = cJSON_PrintUnformatted(o);
out:
    cJSON_Delete(o);
    return s;
}

static int copy_url(const cJSON *j, const char *name, char **dst, const char *what, struct ck_err *e)
{
    const char *v = acme_str(j, name, ACME_URL_MAX);
    if (!v || !acme_url_ok(v))
        return ck_failk(e, CK_E_PROTOCOL, "%s: no valid \"%s\" URL", what, name);
    free(*dst);
    return (*dst = strdup(v)) ? 0 : ck_fail(e, "out of memory");
}

static void keep_status(struct order *o, const cJSON *j)
{
    const char *st = acme_str(j, "status", sizeof o->status - 1);
    snprintf(o->status, sizeof o->status, "%s", st ? st : "");
    o->ready_inferred = 0;
}

static int new_order(struct ck_acme *a, const struct ck_acme_order_req *r, struct order *o,
                     struct ck_err *e)
{
    struct ck_http_resp resp;
    char loc[ACME_URL_MAX + 1];
    cJSON *j = NULL;
    int with_replaces = r->replaces != NULL, rc = -1;
    for (;;) {
        char *payload = order_payload(r, with_replaces);
        if (!payload)
            return ck_fail(e, "out of memory");
        rc = acme_post(a, a->new_order, payload, 0, NULL, ACME_JSON_MAX, &resp, e);
        free(payload);
        if (rc == 0)
            break;
        /* `replaces` only earns the ARI exemption: a CA that refuses it (already replaced,
         * cannot find the certificate: Pebble's serverInternal, or another account ordered
         * it: unauthorized, e.g. after a deactivation) gets the order without it */
        if (!with_replaces || e->kind == CK_E_RATELIMIT || e->kind == CK_E_NETWORK ||
            (strcmp(a->problem, "urn:ietf:params:acme:error:alreadyReplaced") != 0 &&
             strcmp(a->problem, "urn:ietf:params:acme:error:malformed") != 0 &&
             strcmp(a->problem, "urn:ietf:params:acme:error:unauthorized") != 0 &&
             strcmp(a->problem, "urn:ietf:params:acme:error:serverInternal") != 0))
            return -1;
        ck_warn(a->log, "acme.order", "%s; ordering again without \"replaces\"", e->msg);
        with_replaces = 0;
    }
    rc = -1;
    if (ck_http_header(&resp, "Location", loc, sizeof loc) != 0 || !acme_url_ok(loc)) {
        ck_failk(e, CK_E_PROTOCOL, "%s: order without a valid Location", a->new_order);
        goto out;
    }
    if (!(o->url = strdup(loc))) {
        ck_fail(e, "out of memory");
        goto out;
    }
    if (acme_json(&resp, a->new_order, &j, e) != 0 || copy_url(j, "finalize", &o->finalize, o->url, e) != 0)
        goto out;
    keep_status(o, j);
    const cJSON *az = cJSON_GetObjectItemCaseSensitive(j, "authorizations"), *u;
    int count = cJSON_GetArraySize(az);
    if (!cJSON_IsArray(az) || count < 1 || count > 2 * CK_ACME_MAX_NAMES) {
        ck_failk(e, CK_E_PROTOCOL, "%s: order with %d authorizations", o->url, count);
        goto out;
    }
    if (!(o->authzs = calloc((size_t)count, sizeof *o->authzs))) {
        ck_fail(e, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(u, az)
    {
        if (!cJSON_IsString(u) || !acme_url_ok(u->valuestring)) {
            ck_failk(e, CK_E_PROTOCOL, "%s: an authorization URL is not a URL", o->url);
            goto out;
        }
        if (!(o->authzs[o->n].url = strdup(u->valuestring))) {
            ck_fail(e, "out of memory");
            goto out;
        }
        o->n++;
    }
    ck_info(a->log, "acme.order", "order %s: %zu names, %zu authorizations%s%s", o->url, r->n_names,
            o->n, with_replaces ? ", replaces a certificate" : "",
            strcmp(o->status, "ready") == 0 ? ", all valid already" : "");
    rc = 0;
out:
    cJSON_Delete(j);
    ck_http_resp_free(&resp);
    return rc;
}

/* The key authorization, and what the solver publishes for it. */
static int key_authz(struct ck_acme *a, struct authz *z, const char *type, struct ck_err *e)
{
    snprintf(z->key_authz, sizeof z->key_authz, "%s.%s", z->token, a->thumb);
    if (strcmp(type, "dns-01") != 0) {
        memcpy(z->value, z->key_authz, sizeof z->value);
        return 0;
    }
    unsigned char d[32];
    ck_sha256(z->key_authz, strlen(z->key_authz), d);
    if (ck_b64url(d, sizeof d, z->value, sizeof z->value) == (size_t)-1)
        return ck_fail(e, "dns-01 digest does not fit");
    return 0;
}

/* Describes why authorization j (status st) is not valid, with its challenge errors. */
static int authz_failed(const struct authz *z, const cJSON *j, const char *st, struct ck_err *e)
{
    char s[40], why[400] = "";
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "challenges"), *c;
    cJSON_ArrayForEach(c, (cJSON_IsArray(ch) ? ch : NULL))
    {
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(c, "error");
        if (cJSON_IsObject(err)) {
            char t[40];
            size_t n = strlen(why);
            acme_clean(t, sizeof t, acme_str(c, "type", 32) ? acme_str(c, "type", 32) : "?");
            snprintf(why + n, sizeof why - n, "; %s", t);
            n = strlen(why);
            embedded_problem(err, why + n, sizeof why - n);
        }
    }
    acme_clean(s, sizeof s, st);
    return ck_failk(e, CK_E_PROTOCOL, "%s: authorization is %s (%s)%s", z->domain ? z->domain : "?", s,
                    z->url, why);
}

static int load_authz(struct ck_acme *a, struct authz *z, const char *type, struct ck_err *e)
{
    struct ck_http_resp resp;
    cJSON *j = NULL;
    int rc = -1;
    if (acme_post(a, z->url, NULL, 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
        return -1;
    if (acme_json(&resp, z->url, &j, e) != 0)
        goto out;
    const char *st = acme_str(j, "status", 32);
    const char *dom = acme_str(cJSON_GetObjectItemCaseSensitive(j, "identifier"), "value", 253);
    if (!st || !dom || !(z->domain = strdup(dom))) {
        ck_failk(e, CK_E_PROTOCOL, "%s: authorization without status or identifier", z->url);
        goto out;
    }
    if (strcmp(st, "valid") == 0) {
        z->done = 1;
        ck_info(a->log, "acme.authz", "%s: already valid, reused", z->domain);
        rc = 0;
        goto out;
    }
    if (strcmp(st, "pending") != 0) {
        authz_failed(z, j, st, e);
        goto out;
    }
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "challenges"), *c, *pick = NULL;
    cJSON_ArrayForEach(c, (cJSON_IsArray(ch) ? ch : NULL))
    {
        const char *t = acme_str(c, "type", 32);
        if (t && strcmp(t, type) == 0) {
            pick = c;
            break;
        }
    }
    if (!pick) {
        ck_failk(e, CK_E_PROTOCOL, "%s: the CA offers no %s challenge (%s)", z->domain, type, z->url);
        goto out;
    }
    const char *tok = acme_str(pick, "token", TOKEN_MAX), *cst = acme_str(pick, "status", 32);
    if (!tok || !is_b64url(tok, TOKEN_MAX) || !cst) {
        ck_failk(e, CK_E_PROTOCOL, "%s: %s challenge without a base64url token or status", z->url, type);
        goto out;
    }
    if (copy_url(pick, "url", &z->chall_url, z->url, e) != 0)
        goto out;
    memcpy(z->token, tok, strlen(tok) + 1);
    z->respond = strcmp(cst, "pending") == 0;
    rc = key_authz(a, z, type, e);
out:
    cJSON_Delete(j);
    ck_http_resp_free(&resp);
    return rc;
}

/* POST {} to the challenge; a CA that validates at once answers "valid", which
 * makes the authorization valid without a poll (RFC 8555 7.1.6). */
static int respond(struct ck_acme *a, struct authz *z, struct ck_err *e)
{
    struct ck_http_resp resp;
    struct ck_err ignored;
    cJSON *j = NULL;
    if (acme_post(a, z->chall_url, "{}", 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
        return ck_wrap(e, "%s", z->domain);
    if (acme_json(&resp, z->chall_url, &j, &ignored) == 0) {
        const char *st = acme_str(j, "status", 32);
        if (st && strcmp(st, "valid") == 0) {
            z->done = 1;
            ck_info(a->log, "acme.authz", "%s: validated", z->domain);
        }
    }
    cJSON_Delete(j);
    ck_http_resp_free(&resp);
    ck_debug(a->log, "acme.challenge", "%s: challenge answered", z->domain);
    return 0;
}

static int await_authz(struct ck_acme *a, struct authz *z, struct ck_err *e)
{
    static const char *const busy[] = {"pending", NULL};
    cJSON *j = NULL;
    if (poll(a, z->url, busy, POLL_FIRST_MS, &j, e) != 0)
        return ck_wrap(e, "%s", z->domain);
    const char *st = acme_str(j, "status", 32);
    int rc = 0;
    if (strcmp(st, "valid") == 0) {
        z->done = 1;
        ck_info(a->log, "acme.authz", "%s: validated", z->domain);
    } else {
        rc = authz_failed(z, j, st, e);
    }
    cJSON_Delete(j);
    return rc;
}

static int order_bad(const struct order *o, const cJSON *j, struct ck_err *e);

/* The order went invalid while several authorizations were pending: name the first
 * that failed, with its challenge errors (one look at each). */
static int explain_invalid(struct ck_acme *a, const struct order *o, const cJSON *oj,
                           struct ck_err *e)
{
    for (size_t i = 0; i < o->n; i++) {
        const struct authz *z = &o->authzs[i];
        struct ck_http_resp resp;
        cJSON *j = NULL;
        if (z->done || acme_post(a, z->url, NULL, 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
            continue;
        const char *st = NULL;
        if (acme_json(&resp, z->url, &j, e) == 0)
            st = acme_str(j, "status", 32);
        ck_http_resp_free(&resp);
        if (st && strcmp(st, "valid") != 0 && strcmp(st, "pending") != 0) {
            authz_failed(z, j, st, e);
            cJSON_Delete(j);
            return -1;
        }
        cJSON_Delete(j);
    }
    return order_bad(o, oj, e);
}

/* Waits until every answered authorization is decided. One is polled itself (its
 * Retry-After and its error come with it); several are watched through the order,
 * which turns ready when all are valid and invalid when one fails: one poll for
 * all the names instead of one (or more) per name. */
static int await_all(struct ck_acme *a, struct order *o, struct ck_err *e)
{
    static const char *const busy[] = {"pending", NULL};
    struct authz *last = NULL;
    size_t waiting = 0;
    for (size_t i = 0; i < o->n; i++)
        if (!o->authzs[i].done) {
            waiting++;
            last = &o->authzs[i];
        }
    if (waiting == 1 && await_authz(a, last, e) != 0)
        return -1;
    if (waiting <= 1) {
        snprintf(o->status, sizeof o->status, "ready");
        o->ready_inferred = 1;
        return 0;
    }
    cJSON *j = NULL;
    if (poll(a, o->url, busy, POLL_FIRST_MS, &j, e) != 0)
        return -1;
    keep_status(o, j);
    int rc = 0;
    if (strcmp(o->status, "invalid") == 0)
        rc = explain_invalid(a, o, j, e);
    else if (strcmp(o->status, "ready") == 0)
        ck_info(a->log, "acme.authz", "all %zu authorizations valid", waiting);
    cJSON_Delete(j);
    return rc;
}

/* The CA asks us to prove control of one of the names we ordered (a wildcard's
 * authorization names its base domain), never of some other name. */
static int authz_ordered(const struct ck_acme_order_req *r, const struct authz *z, struct ck_err *e)
{
    for (size_t i = 0; i < r->n_names; i++) {
        const char *n = r->names[i];
        if (n[0] == '*' && n[1] == '.')
            n += 2;
        if (strcasecmp(n, z->domain) == 0)
            return 0;
        unsigned char a[16], b[16];  /* an address the CA wrote another way */
        int la = ck_ip_bytes(n, a);
        if (la && la == ck_ip_bytes(z->domain, b) && memcmp(a, b, (size_t)la) == 0)
            return 0;
    }
    char d[80];
    acme_clean(d, sizeof d, z->domain);
    return ck_failk(e, CK_E_PROTOCOL, "%s: authorization for %s, a name not in the order", z->url, d);
}

/* Every authorization valid: present all, answer all, then wait for all at once
 * (the CA validates in parallel). */
static int authorize(struct ck_acme *a, const struct ck_acme_order_req *r, struct order *o,
                     struct ck_err *e)
{
    const struct ck_acme_solver *sv = r->solver;
    int rc = -1;
    for (size_t i = 0; i < o->n; i++)
        if (load_authz(a, &o->authzs[i], sv->type, e) != 0 || authz_ordered(r, &o->authzs[i], e) != 0)
            goto out;
    for (size_t i = 0; i < o->n; i++) {
        struct authz *z = &o->authzs[i];
        if (z->done)
            continue;
        if (sv->present(sv->ctx, z->domain, z->token, z->value, e) != 0) {
            ck_wrap(e, "%s: presenting the %s challenge", z->domain, sv->type);
            goto out;
        }
        z->presented = 1;
    }
    if (sv->ready && sv->ready(sv->ctx, e) != 0)
        goto out;
    for (size_t i = 0; i < o->n; i++)
        if (!o->authzs[i].done && o->authzs[i].respond && respond(a, &o->authzs[i], e) != 0)
            goto out;
    rc = await_all(a, o, e);
out:
    for (size_t i = 0; i < o->n; i++) {
        struct authz *z = &o->authzs[i];
        if (z->presented && sv->cleanup)
            sv->cleanup(sv->ctx, z->domain, z->token, z->value);
        z->presented = 0;
    }
    return rc;
}

/* Order j is not in the state we need: say why, with its error when it has one. */
static int order_bad(const struct order *o, const cJSON *j, struct ck_err *e)
{
    char s[40], why[300];
    acme_clean(s, sizeof s, j ? acme_str(j, "status", 32) : o->status);
    embedded_problem(cJSON_GetObjectItemCaseSensitive(j, "error"), why, sizeof why);
    return ck_failk(e, CK_E_PROTOCOL, "order %s is %s%s", o->url, s, why);
}

/* The CSR for r's names and key as {"csr": base64url(DER)}. */
static int csr_payload(const struct ck_acme_order_req *r, char **out, struct ck_err *e)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    if (ck_csr_der(r->cert_key, r->names, r->n_names, &der, &der_len, e) != 0)
        return ck_wrap(e, "CSR");
    size_t cap = 4 * ((der_len + 2) / 3) + 16;
    char *p = malloc(cap + 16);
    if (!p) {
        free(der);
        return ck_fail(e, "out of memory");
    }
    memcpy(p, "{\"csr\":\"", 8);
    size_t n = ck_b64url(der, der_len, p + 8, cap);
    memcpy(p + 8 + n, "\"}", 3);
    free(der);
    *out = p;
    return 0;
}

/* Polls the order out of "pending" into *j and o->status. */
static int await_order(struct ck_acme *a, struct order *o, cJSON **j, struct ck_err *e)
{
    static const char *const pending[] = {"pending", NULL};
    cJSON_Delete(*j);
    *j = NULL;
    if (poll(a, o->url, pending, 0, j, e) != 0)
        return -1;
    keep_status(o, *j);
    return 0;
}

/* POST the CSR to a ready order. Readiness inferred from the authorizations is
 * checked once more by the CA; a CA that is behind (orderNotReady) is waited for. */
static int send_csr(struct ck_acme *a, struct order *o, const char *payload, cJSON **j,
                    long *retry_after, struct ck_err *e)
{
    struct ck_http_resp resp;
    struct ck_err ignored;
    if (acme_post(a, o->finalize, payload, 0, NULL, ACME_JSON_MAX, &resp, e) != 0) {
        if (!o->ready_inferred ||
            strcmp(a->problem, "urn:ietf:params:acme:error:orderNotReady") != 0)
            return -1;
        ck_info(a->log, "acme.finalize", "%s; waiting for the order", e->msg);
        if (await_order(a, o, j, e) != 0)
            return -1;
        if (strcmp(o->status, "ready") != 0)
            return 0;
        if (acme_post(a, o->finalize, payload, 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
            return -1;
    }
    ck_info(a->log, "acme.finalize", "order %s finalized", o->url);
    /* the answer is the order itself: often valid already, saving a poll */
    cJSON_Delete(*j);
    *j = NULL;
    snprintf(o->status, sizeof o->status, "processing");
    if (acme_json(&resp, o->finalize, j, &ignored) == 0)
        keep_status(o, *j);
    if (!o->status[0])
        snprintf(o->status, sizeof o->status, "processing");
    *retry_after = resp.retry_after;
    ck_http_resp_free(&resp);
    return 0;
}

static int finalize(struct ck_acme *a, const struct ck_acme_order_req *r, struct order *o,
                    struct ck_err *e)
{
    static const char *const processing[] = {"processing", NULL};
    char *payload = NULL;
    cJSON *j = NULL;
    long ra = -1;
    int rc = -1;
    if ((!o->status[0] || strcmp(o->status, "pending") == 0) && await_order(a, o, &j, e) != 0)
        goto out;
    if (strcmp(o->status, "ready") == 0 &&
        (csr_payload(r, &payload, e) != 0 || send_csr(a, o, payload, &j, &ra, e) != 0))
        goto out;
    if (strcmp(o->status, "processing") == 0) {
        /* the CA signs while we wait: its Retry-After, if any, says how long */
        long first = ra > 0 ? (ra > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : ra) * 1000L : 0;
        cJSON_Delete(j);
        j = NULL;
        if (poll(a, o->url, processing, first, &j, e) != 0)
            goto out;
        keep_status(o, j);
    }
    if (strcmp(o->status, "valid") != 0) {
        order_bad(o, j, e);
        goto out;
    }
    rc = copy_url(j, "certificate", &o->cert_url, o->url, e);
out:
    cJSON_Delete(j);
    free(payload);
    return rc;
}

int acme_issue(struct ck_acme *a, const struct ck_acme_order_req *r, struct ck_acme_cert *out,
               struct ck_err *e)
{
    struct order o = {0};
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (names_ok(r, e) != 0)
        return -1;
    if (!a->kid)
        return ck_fail(e, "no ACME account: ck_acme_account must come first");
    if (ck_acme_directory(a, e) != 0 || profile_ok(a, r, e) != 0)
        return -1;
    if (new_order(a, r, &o, e) != 0)
        goto out;
    /* a ready order (every authorization valid already) has nothing to prove */
    if (strcmp(o.status, "ready") != 0 && strcmp(o.status, "processing") != 0 &&
        strcmp(o.status, "valid") != 0 && authorize(a, r, &o, e) != 0)
        goto out;
    if (finalize(a, r, &o, e) != 0 ||
        acme_download(a, o.cert_url, r->preferred_chain, r->cert_key, out, e) != 0)
        goto out;
    rc = 0;
out:
    order_free(&o);
    return rc;
}
