/* S3 backend: requests signed by libcurl (CURLOPT_AWS_SIGV4) through ck_http.
 * Paths are encoded canonically (unreserved bytes as is, '/' kept, the rest
 * %XX uppercase) because curl signs S3 paths exactly as given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../crypto/crypto.h"
#include "../http/http.h"
#include "store_int.h"

#define S3_ERR_BODY   (64u << 10)  /* enough for any error document */
#define S3_LIST_BODY  (4u << 20)   /* one ListObjectsV2 page of 1000 keys */
#define S3_TOKEN_MAX  4096
#define S3_MAX_PAGES  1000
#define S3_URL_MAX    (32u << 10) /* base + encoded key + encoded query, with room */

struct s3_store {
    struct ck_http *http;
    char base[512];      /* "scheme://host[:port]/bucket" or "scheme://bucket.host[:port]" */
    char bucket[64];
    char prefix[CK_STORE_KEY_MAX + 2]; /* "" or "p/" */
    char sigv4[64];      /* "aws:amz:<region>:s3" */
    char *userpwd;       /* "ACCESS:SECRET", wiped on close */
    char *token_hdr;     /* "x-amz-security-token: …", wiped on close; NULL when none */
};

static struct s3_store *S(struct ck_store *s)
{
    return s->impl;
}

/* Canonical URI encoding (SigV4): writes at most cap bytes incl. NUL; -1 if too long. */
static int uri_encode(const char *in, int keep_slash, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        unsigned char c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (o + (plain ? 1 : 3) >= cap)
            return -1;
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* XML */

static const char *find(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);
    for (; p + n <= end; p++)
        if (memcmp(p, needle, n) == 0)
            return p;
    return NULL;
}

static size_t utf8_put(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* One entity at p (after '&'); returns bytes consumed incl. ';', 0 when invalid. */
static size_t entity(const char *p, const char *end, char *out, size_t *olen)
{
    static const struct { const char *name; char c; } named[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' }, { "apos;", '\'' },
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        size_t n = strlen(named[i].name);
        if ((size_t)(end - p) >= n && memcmp(p, named[i].name, n) == 0) {
            out[0] = named[i].c;
            *olen = 1;
            return n;
        }
    }
    if (p >= end || *p != '#')
        return 0;
    const char *q = p + 1;
    int base = 10;
    if (q < end && (*q == 'x' || *q == 'X')) {
        base = 16;
        q++;
    }
    unsigned long cp = 0;
    size_t digits = 0;
    for (; q < end && *q != ';'; q++, digits++) {
        int d = (*q >= '0' && *q <= '9')                   ? *q - '0'
                : (base == 16 && *q >= 'a' && *q <= 'f') ? *q - 'a' + 10
                : (base == 16 && *q >= 'A' && *q <= 'F') ? *q - 'A' + 10
                                                          : -1;
        if (d < 0 || digits >= 8)
            return 0;
        cp = cp * (unsigned long)base + (unsigned long)d;
    }
    if (q >= end || digits == 0 || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *olen = utf8_put(cp, out);
    return (size_t)(q + 1 - p);
}

/* See store_int.h. */
int ck_s3_xml_next(const char *body, size_t len, const char **from, const char *tag, char *out,
                   size_t cap)
{
    char open[40], close[40];
    if (snprintf(open, sizeof open, "<%s>", tag) >= (int)sizeof open ||
        snprintf(close, sizeof close, "</%s>", tag) >= (int)sizeof close || cap == 0)
        return -1;
    const char *end = body + len;
    const char *p = find(*from, end, open);
    if (p == NULL)
        return 0;
    p += strlen(open);
    const char *q = find(p, end, close);
    if (q == NULL)
        return -1;
    size_t o = 0;
    while (p < q) {
        char buf[4];
        size_t n = 1, used = 1;
        if (*p == '&') {
            used = entity(p + 1, q, buf, &n);
            if (used == 0)
                return -1;
            used++;
        } else if (*p == '<' || *p == '\0') {
            return -1; /* nested markup or NUL where text belongs */
        } else {
            buf[0] = *p;
        }
        if (o + n >= cap)
            return -1;
        memcpy(out + o, buf, n);
        o += n;
        p += used;
    }
    out[o] = '\0';
    *from = q + strlen(close);
    return 1;
}

/* Requests */

/* The error document's <Code>, letters and digits only, or "" */
static void error_code(const struct ck_http_resp *r, char *out, size_t cap)
{
    const char *from = r->body ? r->body : "";
    out[0] = '\0';
    if (r->body == NULL || ck_s3_xml_next(r->body, r->body_len, &from, "Code", out, cap) != 1) {
        out[0] = '\0';
        return;
    }
    for (char *c = out; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))) {
            out[0] = '\0';
            return;
        }
}

static int status_error(struct ck_store *s, const char *fkey, const struct ck_http_resp *r,
                        struct ck_err *e)
{
    char code[64];
    error_code(r, code, sizeof code);
    const char *b = S(s)->bucket;
    long st = r->status;
    int rc;
    if (st == 401 || st == 403)
        rc = ck_failk(e, CK_E_AUTH, "s3 %s/%s: access denied (%ld %s)", b, fkey, st,
                      code[0] ? code : "no code");
    else if (st >= 500 || st == 429)
        rc = ck_failk(e, CK_E_NETWORK, "s3 %s/%s: server error (%ld %s)", b, fkey, st,
                      code[0] ? code : "no code");
    else
        rc = ck_failk(e, CK_E_PROTOCOL, "s3 %s/%s: unexpected HTTP %ld%s%s", b, fkey, st,
                      code[0] ? " " : "", code);
    e->retry_after = r->retry_after;
    return rc;
}

struct s3_call {
    const char *method;
    const char *fkey;     /* full key (with prefix), "" for the bucket */
    const char *query;    /* canonical query string or NULL */
    const void *body;
    size_t body_len;
    const char *cond;     /* NULL, "*" or an etag */
    size_t max_body;
};

static int s3_do(struct ck_store *s, const struct s3_call *c, struct ck_http_resp *r,
                 struct ck_err *e)
{
    struct s3_store *x = S(s);
    char path[CK_STORE_KEY_MAX * 2 * 3 + 8];
    char *url = malloc(S3_URL_MAX);
    char sha_hdr[96], cond_hdr[CK_STORE_ETAG_MAX + 16];
    int rc = -1;
    if (url == NULL)
        return ck_fail(e, "s3 %s/%s: out of memory", x->bucket, c->fkey);
    if (uri_encode(c->fkey, 1, path, sizeof path) != 0) {
        ck_failk(e, CK_E_USAGE, "s3 %s/%s: key too long", x->bucket, c->fkey);
        goto out;
    }
    size_t cap = S3_URL_MAX;
    int n = snprintf(url, cap, "%s/%s%s%s", x->base, path, c->query ? "?" : "",
                     c->query ? c->query : "");
    if (n < 0 || (size_t)n >= cap) {
        ck_failk(e, CK_E_USAGE, "s3 %s/%s: URL too long", x->bucket, c->fkey);
        goto out;
    }
    char hex[65];
    ck_store_sha256_hex(c->body ? c->body : "", c->body_len, hex);
    snprintf(sha_hdr, sizeof sha_hdr, "x-amz-content-sha256: %s", hex);
    const char *hdrs[3];
    size_t nh = 0;
    hdrs[nh++] = sha_hdr;
    if (x->token_hdr != NULL)
        hdrs[nh++] = x->token_hdr;
    if (c->cond != NULL) {
        snprintf(cond_hdr, sizeof cond_hdr, "%s: %s",
                 strcmp(c->cond, "*") == 0 ? "If-None-Match" : "If-Match", c->cond);
        hdrs[nh++] = cond_hdr;
    }
    struct ck_http_req q = {
        .method = c->method,
        .url = url,
        .headers = hdrs,
        .n_headers = nh,
        .body = c->body,
        .body_len = c->body_len,
        .aws_sigv4 = x->sigv4,
        .aws_userpwd = x->userpwd,
        .max_body = c->max_body,
    };
    if (ck_http_do(x->http, &q, r, e) != 0) {
        ck_wrap(e, "s3 %s/%s", x->bucket, c->fkey);
        goto out;
    }
    rc = 0;
out:
    free(url);
    return rc;
}

static int full_key(struct ck_store *s, const char *key, char *out, size_t cap, struct ck_err *e)
{
    int n = snprintf(out, cap, "%s%s", S(s)->prefix, key);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "%s: key %s too long with the prefix", s->name, key);
    return 0;
}

static int copy_etag(struct ck_store *s, const char *fkey, const struct ck_http_resp *r,
                     char *etag, size_t cap, struct ck_err *e)
{
    if (etag == NULL)
        return 0;
    if (ck_http_header(r, "ETag", etag, cap) != 0 || etag[0] == '\0')
        return ck_failk(e, CK_E_PROTOCOL, "s3 %s/%s: no usable ETag in the response",
                        S(s)->bucket, fkey);
    return 0;
}

static int s3_get(struct ck_store *s, const char *key, size_t max, char **data, size_t *len,
                  char *etag, size_t etag_cap, struct ck_err *e)
{
    char fkey[sizeof S(s)->prefix + CK_STORE_KEY_MAX];
    if (full_key(s, key, fkey, sizeof fkey, e) != 0)
        return -1;
    struct ck_http_resp r;
    struct s3_call c = { .method = "GET", .fkey = fkey,
                         .max_body = max > S3_ERR_BODY ? max : S3_ERR_BODY };
    if (s3_do(s, &c, &r, e) != 0)
        return -1;
    int rc = -1;
    if (r.status == 404) {
        char code[64];
        error_code(&r, code, sizeof code);
        if (strcmp(code, "NoSuchBucket") == 0)
            ck_failk(e, CK_E_PROTOCOL, "s3 %s/%s: no such bucket", S(s)->bucket, fkey);
        else
            rc = CK_STORE_NOTFOUND;
    } else if (r.status != 200) {
        status_error(s, fkey, &r, e);
    } else if (r.body_len > max) {
        ck_failk(e, CK_E_PROTOCOL, "s3 %s/%s: object of %zu bytes is larger than %zu",
                 S(s)->bucket, fkey, r.body_len, max);
    } else if (copy_etag(s, fkey, &r, etag, etag_cap, e) == 0) {
        *data = r.body;
        *len = r.body_len;
        r.body = NULL;
        rc = 0;
    }
    ck_http_resp_free(&r);
    return rc;
}

static int s3_put(struct ck_store *s, const char *key, const void *data, size_t len,
                  const char *cond, char *etag_out, size_t etag_cap, struct ck_err *e)
{
    char fkey[sizeof S(s)->prefix + CK_STORE_KEY_MAX];
    if (full_key(s, key, fkey, sizeof fkey, e) != 0)
        return -1;
    struct ck_http_resp r;
    struct s3_call c = { .method = "PUT", .fkey = fkey, .body = data, .body_len = len,
                         .cond = cond, .max_body = S3_ERR_BODY };
    if (s3_do(s, &c, &r, e) != 0)
        return -1;
    if (r.status == 412 && cond != NULL && cond[0] == '"' && strcmp(cond, "*") != 0) {
        /* Ceph 16 (radosgw) compares If-Match on PUT with the ETag unquoted: the same
         * condition once more in that form (a changed object fails it as well) */
        char bare[CK_STORE_ETAG_MAX];
        size_t n = strlen(cond);
        if (n >= 2 && n - 2 < sizeof bare && cond[n - 1] == '"') {
            memcpy(bare, cond + 1, n - 2);
            bare[n - 2] = '\0';
            ck_http_resp_free(&r);
            c.cond = bare;
            if (s3_do(s, &c, &r, e) != 0)
                return -1;
        }
    }
    int rc = -1;
    /* 409 ConditionalRequestConflict: a concurrent conditional write won */
    if (cond != NULL && (r.status == 412 || r.status == 409 ||
                         (r.status == 404 && strcmp(cond, "*") != 0))) {
        rc = CK_STORE_CONFLICT;
        ck_failk(e, CK_E_GENERIC, "s3 %s/%s: %s (%ld)", S(s)->bucket, fkey,
                 strcmp(cond, "*") == 0 ? "already exists" : "changed since it was read",
                 r.status);
    } else if (r.status != 200) {
        status_error(s, fkey, &r, e);
    } else if (copy_etag(s, fkey, &r, etag_out, etag_cap, e) == 0) {
        rc = 0;
    }
    ck_http_resp_free(&r);
    return rc;
}

static int s3_del(struct ck_store *s, const char *key, struct ck_err *e)
{
    char fkey[sizeof S(s)->prefix + CK_STORE_KEY_MAX];
    if (full_key(s, key, fkey, sizeof fkey, e) != 0)
        return -1;
    struct ck_http_resp r;
    struct s3_call c = { .method = "DELETE", .fkey = fkey, .max_body = S3_ERR_BODY };
    if (s3_do(s, &c, &r, e) != 0)
        return -1;
    int rc = 0;
    if (r.status != 204 && r.status != 200 && r.status != 404)
        rc = status_error(s, fkey, &r, e);
    ck_http_resp_free(&r);
    return rc;
}

/* Keys of one page, without the store prefix, added to l; the continuation
 * token (or "") into token. */
static int parse_page(struct ck_store *s, const struct ck_http_resp *r, struct ck_keylist *l,
                      char *token, struct ck_err *e)
{
    const char *b = r->body;
    size_t plen = strlen(S(s)->prefix);
    char key[1100], trunc[8];
    struct ck_err ignored;
    const char *from = b;
    int got;
    while ((got = ck_s3_xml_next(b, r->body_len, &from, "Key", key, sizeof key)) == 1) {
        if (strncmp(key, S(s)->prefix, plen) != 0)
            return ck_failk(e, CK_E_PROTOCOL, "%s: listing returned %.80s outside the prefix",
                            s->name, key);
        if (ck_store_key_check(key + plen, 0, &ignored) != 0)
            continue; /* written by something else; not a key we can address */
        if (ck_keylist_add(l, key + plen, strlen(key + plen), e) != 0)
            return ck_wrap(e, "%s", s->name);
    }
    if (got < 0)
        return ck_failk(e, CK_E_PROTOCOL, "%s: malformed <Key> in the listing", s->name);
    from = b;
    token[0] = '\0';
    if (ck_s3_xml_next(b, r->body_len, &from, "IsTruncated", trunc, sizeof trunc) != 1)
        return ck_failk(e, CK_E_PROTOCOL, "%s: listing without <IsTruncated>", s->name);
    if (strcmp(trunc, "true") != 0)
        return 0;
    from = b;
    if (ck_s3_xml_next(b, r->body_len, &from, "NextContinuationToken", token, S3_TOKEN_MAX) != 1 ||
        token[0] == '\0')
        return ck_failk(e, CK_E_PROTOCOL, "%s: truncated listing without a usable continuation token",
                        s->name);
    return 0;
}

static int s3_list(struct ck_store *s, const char *prefix, char ***keys, size_t *n,
                   struct ck_err *e)
{
    char fpre[sizeof S(s)->prefix + CK_STORE_KEY_MAX], epre[sizeof fpre * 3];
    char *token = malloc(S3_TOKEN_MAX), *etok = malloc(S3_TOKEN_MAX * 3 + 1);
    char *query = malloc(S3_TOKEN_MAX * 3 + sizeof epre + 64);
    struct ck_keylist l = { 0 };
    int rc = -1;
    if (token == NULL || etok == NULL || query == NULL) {
        ck_fail(e, "%s: out of memory", s->name);
        goto out;
    }
    if (full_key(s, prefix, fpre, sizeof fpre, e) != 0)
        goto out;
    uri_encode(fpre, 0, epre, sizeof epre);
    token[0] = '\0';
    for (int page = 0;; page++) {
        if (page >= S3_MAX_PAGES) {
            ck_failk(e, CK_E_PROTOCOL, "%s: listing longer than %d pages", s->name, S3_MAX_PAGES);
            goto out;
        }
        /* parameters in canonical (sorted) order */
        if (token[0] != '\0') {
            uri_encode(token, 0, etok, S3_TOKEN_MAX * 3 + 1);
            sprintf(query, "continuation-token=%s&list-type=2&prefix=%s", etok, epre);
        } else {
            sprintf(query, "list-type=2&prefix=%s", epre);
        }
        struct ck_http_resp r;
        struct s3_call c = { .method = "GET", .fkey = "", .query = query,
                             .max_body = S3_LIST_BODY };
        if (s3_do(s, &c, &r, e) != 0)
            goto out;
        int prc = r.status == 200 ? parse_page(s, &r, &l, token, e)
                                  : status_error(s, fpre, &r, e);
        ck_http_resp_free(&r);
        if (prc != 0)
            goto out;
        if (token[0] == '\0')
            break;
    }
    ck_keylist_sort(&l);
    *keys = l.v;
    *n = l.n;
    l.v = NULL;
    rc = 0;
out:
    ck_store_keys_free(l.v, l.n);
    free(token);
    free(etok);
    free(query);
    return rc;
}

static void s3_close(struct ck_store *s)
{
    struct s3_store *x = S(s);
    if (x->userpwd)
        ck_secret_free(x->userpwd, strlen(x->userpwd));
    if (x->token_hdr)
        ck_secret_free(x->token_hdr, strlen(x->token_hdr));
    free(x);
    free(s);
}

static const struct ck_store_ops s3_ops = {
    .get = s3_get, .put = s3_put, .del = s3_del, .list = s3_list, .close = s3_close,
};

/* Setup */

static int valid_chars(const char *v, const char *extra, int upper)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              (upper && *p >= 'A' && *p <= 'Z') || strchr(extra, *p)))
            return 0;
    return 1;
}

static int set_base(struct s3_store *x, const struct ck_store_s3 *o, const char *region,
                    struct ck_err *e)
{
    char def[128];
    const char *ep = o->endpoint;
    if (ep == NULL || ep[0] == '\0') {
        snprintf(def, sizeof def, "https://s3.%s.amazonaws.com", region);
        ep = def;
    }
    const char *hp = strncmp(ep, "https://", 8) == 0  ? ep + 8
                     : strncmp(ep, "http://", 7) == 0 ? ep + 7
                                                      : NULL;
    if (hp == NULL)
        return ck_failk(e, CK_E_USAGE, "s3 endpoint %.200s: not an http:// or https:// URL", ep);
    size_t scheme = (size_t)(hp - ep), hl = strcspn(hp, "/?#");
    if (hl == 0 || (hp[hl] != '\0' && strcmp(hp + hl, "/") != 0) ||
        !valid_chars(hp, ".-:[]/", 1) || memchr(hp, '@', hl) != NULL)
        return ck_failk(e, CK_E_USAGE, "s3 endpoint %.200s: expected scheme://host[:port]", ep);
    int n;
    if (o->path_style)
        n = snprintf(x->base, sizeof x->base, "%.*s%.*s/%s", (int)scheme, ep, (int)hl, hp,
                     o->bucket);
    else
        n = snprintf(x->base, sizeof x->base, "%.*s%s.%.*s", (int)scheme, ep, o->bucket, (int)hl,
                     hp);
    if (n < 0 || (size_t)n >= sizeof x->base)
        return ck_failk(e, CK_E_USAGE, "s3 endpoint %.200s: too long", ep);
    return 0;
}

static int set_prefix(struct s3_store *x, const char *p, struct ck_err *e)
{
    if (p == NULL)
        p = "";
    while (*p == '/')
        p++;
    size_t n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n > CK_STORE_KEY_MAX)
        return ck_failk(e, CK_E_USAGE, "s3 prefix: longer than %d bytes", CK_STORE_KEY_MAX);
    memcpy(x->prefix, p, n);
    x->prefix[n] = '\0';
    if (n > 0 && ck_store_key_check(x->prefix, 0, e) != 0)
        return ck_wrap(e, "s3 prefix");
    if (n > 0)
        memcpy(x->prefix + n, "/", 2);
    return 0;
}

static int set_creds(struct s3_store *x, const struct ck_s3_creds *c, struct ck_err *e)
{
    if (c == NULL || c->access_key == NULL || c->secret_key == NULL)
        return ck_failk(e, CK_E_USAGE, "s3: no credentials");
    size_t a = strlen(c->access_key), b = strlen(c->secret_key);
    x->userpwd = malloc(a + b + 2);
    if (x->userpwd == NULL)
        return ck_fail(e, "s3: out of memory");
    memcpy(x->userpwd, c->access_key, a);
    x->userpwd[a] = ':';
    memcpy(x->userpwd + a + 1, c->secret_key, b + 1);
    if (c->session_token == NULL)
        return 0;
    static const char h[] = "x-amz-security-token: ";
    size_t t = strlen(c->session_token);
    x->token_hdr = malloc(sizeof h + t);
    if (x->token_hdr == NULL)
        return ck_fail(e, "s3: out of memory");
    memcpy(x->token_hdr, h, sizeof h - 1);
    memcpy(x->token_hdr + sizeof h - 1, c->session_token, t + 1);
    return 0;
}

int ck_store_open_s3(const struct ck_store_s3 *o, struct ck_http *http, struct ck_store **out,
                     struct ck_err *e)
{
    *out = NULL;
    const char *region = o->region && o->region[0] ? o->region : "us-east-1";
    const char *b = o->bucket ? o->bucket : "";
    size_t bl = strlen(b);
    if (bl < 3 || bl > 63 || !valid_chars(b, o->path_style ? ".-_" : ".-", o->path_style))
        return ck_failk(e, CK_E_USAGE, "s3 bucket %.80s: not a valid bucket name%s", b,
                        o->path_style ? "" : " for virtual-host style");
    if (strlen(region) > 32 || !valid_chars(region, "-", 0))
        return ck_failk(e, CK_E_USAGE, "s3 region %.40s: not a valid region", region);
    struct ck_store *s = calloc(1, sizeof *s);
    struct s3_store *x = calloc(1, sizeof *x);
    if (s == NULL || x == NULL) {
        free(s);
        free(x);
        return ck_fail(e, "s3: out of memory");
    }
    s->ops = &s3_ops;
    s->impl = x;
    x->http = http;
    memcpy(x->bucket, b, bl + 1);
    snprintf(x->sigv4, sizeof x->sigv4, "aws:amz:%s:s3", region);
    if (set_base(x, o, region, e) != 0 || set_prefix(x, o->prefix, e) != 0 ||
        set_creds(x, o->creds, e) != 0) {
        s3_close(s);
        return -1;
    }
    snprintf(s->name, sizeof s->name, "s3 %s/%.200s", x->bucket, x->prefix);
    if (o->endpoint && o->endpoint[0])
        snprintf(s->endpoint, sizeof s->endpoint, "%.*s", (int)strcspn(o->endpoint, "?#"),
                 o->endpoint);
    else
        snprintf(s->endpoint, sizeof s->endpoint, "https://s3.%s.amazonaws.com", region);
    size_t el = strlen(s->endpoint);
    if (el > 0 && s->endpoint[el - 1] == '/')
        s->endpoint[el - 1] = '\0';
    s->cond = CK_STORE_COND_UNKNOWN; /* many S3-compatible servers accept and ignore them */
    *out = s;
    return 0;
}
