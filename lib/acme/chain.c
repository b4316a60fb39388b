/* Certificate download (RFC 8555 7.4.2): the served chain, rel="up" when only a
 * leaf comes back, rel="alternate" chains for a preferred issuer. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define CHAIN_MAX 10       /* certificates in one served chain */
#define UP_DEPTH 5         /* rel="up" hops */
#define ALTERNATES_MAX 10
#define PEM_CHAIN "application/pem-certificate-chain"

static int is_pem(const char *b, size_t n)
{
    for (size_t i = 0; i + 10 <= n; i++)
        if (memcmp(b + i, "-----BEGIN", 10) == 0)
            return 1;
    return 0;
}

/* Appends the certificates of a PEM or DER body to l. */
static int add_body(const struct ck_http_resp *resp, const char *url, struct ck_der_list *l,
                    struct ck_err *e)
{
    struct ck_der_list got = {0};
    if (!resp->body || resp->body_len == 0)
        return ck_failk(e, CK_E_PROTOCOL, "%s: empty certificate body", url);
    if (is_pem(resp->body, resp->body_len)) {
        if (ck_pem_certs(resp->body, resp->body_len, url, &got, e) != 0)
            return -1;
    } else {
        if (!(got.items = calloc(1, sizeof *got.items)) || !(got.items[0].data = malloc(resp->body_len))) {
            free(got.items);
            return ck_fail(e, "out of memory");
        }
        memcpy(got.items[0].data, resp->body, resp->body_len);
        got.items[0].len = resp->body_len;
        got.n = 1;
    }
    int rc = -1;
    if (got.n == 0 || l->n + got.n > CHAIN_MAX) {
        ck_failk(e, CK_E_PROTOCOL, "%s: %zu certificates (1 to %d expected)", url, l->n + got.n, CHAIN_MAX);
        goto out;
    }
    struct ck_der *items = realloc(l->items, (l->n + got.n) * sizeof *items);
    if (!items) {
        ck_fail(e, "out of memory");
        goto out;
    }
    l->items = items;
    memcpy(l->items + l->n, got.items, got.n * sizeof *got.items);
    l->n += got.n;
    free(got.items);  /* the blobs now belong to l */
    return 0;
out:
    ck_der_list_free(&got);
    return rc;
}

/* Leaf alone: follow rel="up" to its issuers, stopping before a self-issued root. */
static int follow_up(struct ck_acme *a, const struct ck_http_resp *first, const char *first_url,
                     struct ck_der_list *l, struct ck_err *e)
{
    char url[ACME_URL_MAX + 1], base[ACME_URL_MAX + 1];
    struct ck_http_resp resp = {0};
    const struct ck_http_resp *cur = first;
    int rc = -1;
    snprintf(base, sizeof base, "%s", first_url);
    for (int depth = 0; depth < UP_DEPTH; depth++) {
        if (ck_http_link(cur, "up", 0, base, url, sizeof url) != 0 || !acme_url_ok(url))
            break;
        struct ck_http_resp next;
        if (acme_get(a, url, "application/pkix-cert, " PEM_CHAIN, ACME_CERT_MAX, &next, e) != 0)
            goto out;
        ck_http_resp_free(&resp);
        resp = next;
        cur = &resp;
        snprintf(base, sizeof base, "%s", url);
        if (add_body(&resp, url, l, e) != 0)
            goto out;
        struct ck_cert_info ci;
        if (ck_cert_parse(l->items[l->n - 1].data, l->items[l->n - 1].len, &ci, e) != 0) {
            ck_wrap(e, "%s", url);
            goto out;
        }
        int root = ci.self_issued;
        ck_cert_info_free(&ci);
        ck_debug(a->log, "acme.chain", "followed rel=up to %s", url);
        if (root) {  /* trust anchors are not served in a chain */
            free(l->items[--l->n].data);
            break;
        }
    }
    rc = 0;
out:
    ck_http_resp_free(&resp);
    return rc;
}

/* Downloads one chain from url (POST-as-GET) into PEM; *resp_out keeps the response for its Links. */
static int fetch_chain(struct ck_acme *a, const char *url, char **pem, size_t *pem_len,
                       struct ck_http_resp *resp, struct ck_err *e)
{
    struct ck_der_list l = {0};
    int rc = -1;
    *pem = NULL;
    *pem_len = 0;
    if (acme_post(a, url, NULL, 0, PEM_CHAIN, ACME_CERT_MAX, resp, e) != 0)
        return -1;
    if (add_body(resp, url, &l, e) != 0)
        goto out;
    if (l.n == 1 && follow_up(a, resp, url, &l, e) != 0)
        goto out;
    for (size_t i = 0; i < l.n; i++)
        if (ck_pem_append(pem, pem_len, "CERTIFICATE", l.items[i].data, l.items[i].len, e) != 0)
            goto out;
    rc = 0;
out:
    ck_der_list_free(&l);
    if (rc != 0) {
        free(*pem);
        *pem = NULL;
        ck_http_resp_free(resp);
    }
    return rc;
}

/* 1 when the chain's topmost certificate is issued by (or is) `name`. */
static int top_is(const char *pem, size_t len, const char *name)
{
    struct ck_der_list l = {0};
    struct ck_cert_info ci;
    struct ck_err e;
    int hit = 0;
    if (ck_pem_certs(pem, len, "chain", &l, &e) != 0 || l.n == 0)
        goto out;
    if (ck_cert_parse(l.items[l.n - 1].data, l.items[l.n - 1].len, &ci, &e) != 0)
        goto out;
    hit = strcmp(ci.issuer_cn, name) == 0 || strcmp(ci.subject_cn, name) == 0;
    ck_cert_info_free(&ci);
out:
    ck_der_list_free(&l);
    return hit;
}

/* The first alternate whose top matches `preferred`, else keep the default chain. */
static void pick_alternate(struct ck_acme *a, const char *cert_url, const struct ck_http_resp *resp,
                           const char *preferred, char **pem, size_t *len)
{
    char url[ACME_URL_MAX + 1];
    for (size_t i = 0; i < ALTERNATES_MAX; i++) {
        if (ck_http_link(resp, "alternate", i, cert_url, url, sizeof url) != 0)
            break;
        if (!acme_url_ok(url))
            continue;
        struct ck_http_resp r2;
        struct ck_err e;
        char *alt;
        size_t alt_len;
        if (fetch_chain(a, url, &alt, &alt_len, &r2, &e) != 0) {
            ck_warn(a->log, "acme.chain", "alternate chain skipped: %s", e.msg);
            continue;
        }
        ck_http_resp_free(&r2);
        if (top_is(alt, alt_len, preferred)) {
            ck_info(a->log, "acme.chain", "using the alternate chain %s (preferred %s)", url, preferred);
            free(*pem);
            *pem = alt;
            *len = alt_len;
            return;
        }
        free(alt);
    }
    ck_info(a->log, "acme.chain", "no chain tops at '%s': using the default chain", preferred);
}

static int leaf_matches(const char *pem, size_t len, const char *url, const struct ck_key *key,
                        struct ck_err *e)
{
    struct ck_der_list l = {0};
    int rc = -1;
    if (ck_pem_certs(pem, len, url, &l, e) != 0 || l.n == 0)
        goto out;
    int m = ck_key_matches_cert(key, l.items[0].data, l.items[0].len, e);
    if (m < 0)
        ck_wrap(e, "%s", url);
    else if (m == 0)
        ck_failk(e, CK_E_PROTOCOL, "%s: the certificate does not match the certificate key", url);
    else
        rc = 0;
out:
    ck_der_list_free(&l);
    return rc;
}

int acme_download(struct ck_acme *a, const char *cert_url, const char *preferred,
                  const struct ck_key *cert_key, struct ck_acme_cert *out, struct ck_err *e)
{
    struct ck_http_resp resp;
    char *pem = NULL;
    size_t len = 0;
    if (fetch_chain(a, cert_url, &pem, &len, &resp, e) != 0)
        return -1;
    if (preferred && *preferred && !top_is(pem, len, preferred))
        pick_alternate(a, cert_url, &resp, preferred, &pem, &len);
    ck_http_resp_free(&resp);
    if (leaf_matches(pem, len, cert_url, cert_key, e) != 0) {
        free(pem);
        return -1;
    }
    if (!(out->cert_url = strdup(cert_url))) {
        free(pem);
        return ck_fail(e, "out of memory");
    }
    out->fullchain_pem = pem;
    out->fullchain_len = len;
    ck_info(a->log, "acme.certificate", "downloaded %s", cert_url);
    return 0;
}
