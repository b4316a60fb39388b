/* HTTP over libcurl with TLS through BearSSL. The trust store is parsed once
 * here (curl's BearSSL backend would parse the CA file on every connection)
 * and installed on each new connection through CURLOPT_SSL_CTX_FUNCTION. */
#include "http.h"

#include "../crypto/crypto.h"
#include "../fs/fs.h"
#include "../log/log.h"

#include <bearssl.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Every message names a URL through this: credentials in it stay out of logs. */
#define URL_SHOWN(u) ck_log_url((u), (char[512]){0}, 512)

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define MAX_BUNDLE_BYTES (16u << 20)  /* Debian's bundle is ~220 KB */
#define MAX_DN_BYTES 4096
#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define MAX_HEADER_BYTES ((size_t)64 << 10)
#define MAX_LINK_URL 8192

struct ck_http {
    CURL *curl;
    char *system_bundle;            /* parsed at the first https request, then never again, */
    char *extra_bundle;             /* with this one added (NULL: none) */
    int anchors_loaded;
    br_x509_trust_anchor *anchors;  /* each anchor's dn.data also holds its key bytes */
    size_t n_anchors;
    br_x509_minimal_context x509;   /* used by one handshake at a time (one easy handle) */
    char *user_agent;
    long connect_timeout_ms;
    long timeout_ms;
    const volatile sig_atomic_t *stop;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- trust store ---------------------------------------------------------------- */

struct ta_parser {
    br_x509_trust_anchor *tas;
    size_t n, cap;
};

static void free_anchors(br_x509_trust_anchor *tas, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(tas[i].dn.data);
    free(tas);
}

/* Adds one certificate's anchor, read as br_x509_decoder reads it (ck_cert_anchor).
 * 1 added, 0 skipped (undecodable, a key BearSSL cannot use, a DN over MAX_DN_BYTES),
 * -1 out of memory. */
static int ta_from_der(struct ta_parser *p, const unsigned char *der, size_t len)
{
    struct ck_anchor a;
    if (ck_cert_anchor(der, len, &a) != 0 || a.dn_len > MAX_DN_BYTES)
        return 0;
    size_t keylen = a.key_type == BR_KEYTYPE_RSA ? a.n_len + a.e_len : a.q_len;
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 64;
        br_x509_trust_anchor *t = realloc(p->tas, ncap * sizeof *t);
        if (t == NULL)
            return -1;
        p->tas = t;
        p->cap = ncap;
    }
    unsigned char *mem = malloc(a.dn_len + keylen);
    if (mem == NULL)
        return -1;
    br_x509_trust_anchor *ta = &p->tas[p->n++];
    memset(ta, 0, sizeof *ta);
    memcpy(mem, a.dn, a.dn_len);
    ta->dn.data = mem;
    ta->dn.len = a.dn_len;
    ta->flags = a.is_ca ? BR_X509_TA_CA : 0;
    ta->pkey.key_type = (unsigned char)a.key_type;
    unsigned char *k = mem + a.dn_len;
    if (a.key_type == BR_KEYTYPE_RSA) {
        memcpy(k, a.n, a.n_len);
        memcpy(k + a.n_len, a.e, a.e_len);
        ta->pkey.key.rsa.n = k;
        ta->pkey.key.rsa.nlen = a.n_len;
        ta->pkey.key.rsa.e = k + a.n_len;
        ta->pkey.key.rsa.elen = a.e_len;
    } else {
        memcpy(k, a.q, a.q_len);
        ta->pkey.key.ec.curve = a.curve;
        ta->pkey.key.ec.q = k;
        ta->pkey.key.ec.qlen = a.q_len;
    }
    return 1;
}

/* memmem is not declared by musl without _GNU_SOURCE. */
static const char *find(const char *s, const char *end, const char *needle, size_t nlen)
{
    while ((size_t)(end - s) >= nlen) {
        const char *c = memchr(s, needle[0], (size_t)(end - s) - nlen + 1);
        if (c == NULL)
            return NULL;
        if (memcmp(c, needle, nlen) == 0)
            return c;
        s = c + 1;
    }
    return NULL;
}

/* Adds every CERTIFICATE block of the PEM bundle at path to p's anchors: 0 done
 * (*added says how many), 1 the file does not exist, -1 an error naming it. The PEM
 * armour is decoded here rather than with br_pem_decoder: its byte-at-a-time
 * interpreter made up 80% of the 45 ms load of Debian's bundle. */
static int add_bundle(struct ta_parser *p, const char *path, size_t *added, struct ck_err *e)
{
    static const char begin[] = "-----BEGIN ", end_[] = "-----END ", dash[] = "-----";
    char *pem = NULL;
    size_t len = 0, before = p->n;
    *added = 0;
    int rc = ck_fs_read(path, MAX_BUNDLE_BYTES, &pem, &len, e);
    if (rc != 0)
        return rc == 1 ? 1 : ck_wrap(e, "CA bundle");
    rc = -1;
    unsigned char *der = malloc(len / 4 * 3 + 3);
    if (der == NULL) {
        ck_failk(e, CK_E_IO, "CA bundle %s: out of memory", path);
        goto out;
    }
    const char *s = pem, *end = s + len;
    for (;;) {
        const char *b = find(s, end, begin, sizeof begin - 1);
        if (b == NULL)
            break;
        const char *label = b + sizeof begin - 1;
        const char *le = find(label, end, dash, sizeof dash - 1);
        const char *eol = memchr(label, '\n', (size_t)(end - label));
        if (le == NULL || (eol != NULL && le > eol)) {
            ck_failk(e, CK_E_IO, "CA bundle %s: malformed PEM at byte %zu", path, (size_t)(b - pem));
            goto out;
        }
        size_t label_len = (size_t)(le - label);
        const char *body = le + sizeof dash - 1;
        const char *fin = find(body, end, end_, sizeof end_ - 1);
        if (fin == NULL) {
            ck_failk(e, CK_E_IO, "CA bundle %s: PEM block without END at byte %zu", path,
                     (size_t)(b - pem));
            goto out;
        }
        s = fin + sizeof end_ - 1;
        int is_cert = (label_len == 11 && memcmp(label, "CERTIFICATE", 11) == 0) ||
                      (label_len == 16 && memcmp(label, "X509 CERTIFICATE", 16) == 0);
        if (!is_cert)
            continue;
        long n = ck_unb64(body, (size_t)(fin - body), der);
        if (n < 0) {
            ck_failk(e, CK_E_IO, "CA bundle %s: bad base64 at byte %zu", path, (size_t)(b - pem));
            goto out;
        }
        if (ta_from_der(p, der, (size_t)n) < 0) {
            ck_failk(e, CK_E_IO, "CA bundle %s: out of memory", path);
            goto out;
        }
    }
    *added = p->n - before;
    rc = 0;
out:
    free(der);
    free(pem);
    return rc;
}

/* The system store plus the extra bundle, once per ck_http. An extra bundle adds
 * trust (a private CA for the store) and never replaces the system's: it must hold a
 * certificate itself. Without a system store (a bare image) the extra one is enough. */
static int load_anchors(struct ck_http *h, struct ck_err *e)
{
    struct ta_parser *p = calloc(1, sizeof *p);
    if (p == NULL)
        return ck_failk(e, CK_E_IO, "CA bundle: out of memory");
    size_t sys_n = 0, extra_n = 0;
    int rc = add_bundle(p, h->system_bundle, &sys_n, e);
    if (rc < 0)
        goto out;
    if (rc == 1 && h->extra_bundle == NULL) {
        rc = ck_failk(e, CK_E_IO, "CA bundle %s: %s", h->system_bundle, strerror(ENOENT));
        goto out;
    }
    if (rc == 0 && sys_n == 0 && h->extra_bundle == NULL) {
        rc = ck_failk(e, CK_E_IO, "CA bundle %s: no usable certificate", h->system_bundle);
        goto out;
    }
    if (h->extra_bundle != NULL) {
        rc = add_bundle(p, h->extra_bundle, &extra_n, e);
        if (rc == 1)
            rc = ck_failk(e, CK_E_IO, "CA bundle %s: %s", h->extra_bundle, strerror(ENOENT));
        else if (rc == 0 && extra_n == 0)
            rc = ck_failk(e, CK_E_IO, "CA bundle %s: no usable certificate", h->extra_bundle);
        if (rc != 0)
            goto out;
    }
    h->anchors = p->tas;
    h->n_anchors = p->n;
    p->tas = NULL;
    p->n = 0;
    rc = 0;
out:
    free_anchors(p->tas, p->n);
    free(p);
    return rc;
}

int ck_http_trust_anchors(struct ck_http *h, const br_x509_trust_anchor **tas, size_t *n,
                          struct ck_err *e)
{
    if (!h->anchors_loaded) {
        if (load_anchors(h, e) != 0)
            return -1;
        h->anchors_loaded = 1;
    }
    *tas = h->anchors;
    *n = h->n_anchors;
    return 0;
}

/* Called by curl's BearSSL backend for each new connection, before it calls
 * br_ssl_client_reset() with the host name: replaces curl's X.509 engine (which
 * it built from a CA file it would parse every time) with ours on the anchors
 * parsed once. Host name and chain are still checked by br_x509_minimal. */
/* curl's BearSSL backend starts every connection with br_ssl_client_init_full, which
 * offers every suite BearSSL has (3DES, CBC, CCM, static RSA and ECDH) down to TLS 1.0.
 * Every link passes -Wl,--wrap=br_ssl_client_init_full, so curl gets this instead: TLS 1.2,
 * ECDHE with AES-GCM only (what every CA and S3 endpoint offers), the rest out of the binary. */
void __wrap_br_ssl_client_init_full(br_ssl_client_context *cc, br_x509_minimal_context *xc,
                                    const br_x509_trust_anchor *tas, size_t n_tas);
void __wrap_br_ssl_client_init_full(br_ssl_client_context *cc, br_x509_minimal_context *xc,
                                    const br_x509_trust_anchor *tas, size_t n_tas)
{
    static const uint16_t suites[] = {
        BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    };
    br_ssl_client_zero(cc);
    br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(&cc->eng, suites, sizeof suites / sizeof suites[0]);
    br_ssl_engine_set_default_rsavrfy(&cc->eng);
    br_ssl_engine_set_default_ecdsa(&cc->eng);
    for (size_t i = 0; i < 5; i++)
        br_ssl_engine_set_hash(&cc->eng, (int)((ck_x509_hashes[i]->desc >> BR_HASHDESC_ID_OFF) &
                                               BR_HASHDESC_ID_MASK), ck_x509_hashes[i]);
    ck_x509_init(xc, tas, n_tas);  /* install_trust replaces it with the handle's anchors */
    br_ssl_engine_set_x509(&cc->eng, &xc->vtable);
    br_ssl_engine_set_prf_sha256(&cc->eng, &br_tls12_sha256_prf);
    br_ssl_engine_set_prf_sha384(&cc->eng, &br_tls12_sha384_prf);
    br_ssl_engine_set_default_aes_gcm(&cc->eng);
}

static CURLcode install_trust(CURL *curl, void *ssl_ctx, void *userp)
{
    (void)curl;
    struct ck_http *h = userp;
    br_ssl_client_context *cc = ssl_ctx;
    br_x509_minimal_context *xc = &h->x509;

    ck_x509_init(xc, h->anchors, h->n_anchors);
    br_ssl_engine_set_x509(&cc->eng, &xc->vtable);
    /* curl set its own version range after the init: without TLS 1.0's PRF, 1.2 is all there is. */
    br_ssl_engine_set_versions(&cc->eng, BR_TLS12, BR_TLS12);
    /* The X.509 context is shared by the handle's connections: no second handshake later. */
    br_ssl_engine_add_flags(&cc->eng, BR_OPT_NO_RENEGOTIATION);
    return CURLE_OK;
}

/* ---- handle ------------------------------------------------------------------- */

int ck_http_new(const struct ck_http_opts *o, struct ck_http **out, struct ck_err *e)
{
    *out = NULL;
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    /* The SSL_CTX callback casts to br_ssl_client_context: any other backend would be memory corruption. */
    if (v == NULL || v->ssl_version == NULL || strncmp(v->ssl_version, "BearSSL", 7) != 0)
        return ck_fail(e, "libcurl %s is not built with BearSSL", v && v->version ? v->version : "?");
    struct ck_http *h = calloc(1, sizeof *h);
    if (h == NULL)
        return ck_fail(e, "http: out of memory");
    /* A named bundle that cannot be read is a configuration error now, not at the first https request. */
    if (o->ca_bundle && access(o->ca_bundle, R_OK) != 0) {
        ck_failk(e, CK_E_IO, "CA bundle %s: %s", o->ca_bundle, strerror(errno));
        goto fail;
    }
    h->system_bundle = strdup(o->system_bundle && *o->system_bundle ? o->system_bundle
                                                                    : DEFAULT_CA_BUNDLE);
    h->extra_bundle = o->ca_bundle ? strdup(o->ca_bundle) : NULL;
    h->user_agent = strdup(o->user_agent ? o->user_agent : "certkeep");
    h->curl = curl_easy_init();
    if (h->system_bundle == NULL || (o->ca_bundle && h->extra_bundle == NULL) ||
        h->user_agent == NULL || h->curl == NULL) {
        ck_fail(e, "http: cannot create a curl handle");
        goto fail;
    }
    h->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    h->stop = o->stop;
    *out = h;
    return 0;
fail:
    ck_http_free(h);
    return -1;
}

void ck_http_free(struct ck_http *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    free_anchors(h->anchors, h->n_anchors);
    free(h->system_bundle);
    free(h->extra_bundle);
    free(h->user_agent);
    free(h);
}

/* TLS is needed for an https URL, and may be for any proxy. */
static int may_need_tls(const char *url)
{
    static const char *const proxies[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                                          "all_proxy", "ALL_PROXY"};
    if (strncasecmp(url, "https://", 8) == 0)
        return 1;
    for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++)
        if (getenv(proxies[i]) != NULL)
            return 1;
    return 0;
}

typedef int (*header_fn)(const char *v, size_t vlen, void *arg);
static int each_header(const struct ck_http_resp *r, const char *name, header_fn fn, void *arg);
static int present(const char *v, size_t vlen, void *arg);

/* ---- one request ----------------------------------------------------------------- */

struct xfer {
    char *body;
    size_t body_len, body_cap, max_body;
    int body_too_big;
    char *hdr;
    size_t hdr_len;
    int hdr_too_big;
    const unsigned char *up;   /* PUT body */
    size_t up_len, up_off;
};

/* Not realloc: a body may carry a key from the store; the old block is wiped. */
static int grow(char **buf, size_t *cap, size_t used, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *nb = malloc(ncap);
    if (nb == NULL)
        return -1;
    if (*buf != NULL) {
        memcpy(nb, *buf, used);
        explicit_bzero(*buf, used);
        free(*buf);
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    if (len > x->max_body - x->body_len) {
        x->body_too_big = 1;
        return 0;  /* aborts the transfer */
    }
    if (grow(&x->body, &x->body_cap, x->body_len, x->body_len + len + 1) != 0)
        return 0;
    memcpy(x->body + x->body_len, data, len);
    x->body_len += len;
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t len = size * n;
    /* A status line starts a new response (1xx, proxy CONNECT): keep only the last block. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        x->hdr_len = 0;
    if (len > MAX_HEADER_BYTES - x->hdr_len) {
        x->hdr_too_big = 1;
        return 0;
    }
    memcpy(x->hdr + x->hdr_len, data, len);
    x->hdr_len += len;
    return len;
}

static size_t on_upload(char *buf, size_t size, size_t n, void *userp)
{
    struct xfer *x = userp;
    size_t want = size * n, left = x->up_len - x->up_off;
    if (want > left)
        want = left;
    if (want > 0)
        memcpy(buf, x->up + x->up_off, want);
    x->up_off += want;
    return want;
}

static int has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static int set_method(CURL *c, const struct ck_http_req *q, struct xfer *x, struct ck_err *e)
{
    const char *m = q->method ? q->method : "GET";
    int has_body = q->body_len > 0;
    if (strcmp(m, "GET") == 0 && !has_body)
        return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -1;
    if (strcmp(m, "HEAD") == 0 && !has_body)
        return curl_easy_setopt(c, CURLOPT_NOBODY, 1L) == CURLE_OK ? 0 : -1;
    if (strcmp(m, "DELETE") == 0 && !has_body)
        return curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK ? 0 : -1;
    if (strcmp(m, "POST") == 0) {
        CURLcode rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, has_body ? (const char *)q->body : "");
        return rc == CURLE_OK ? 0 : -1;
    }
    if (strcmp(m, "PUT") == 0) {
        x->up = q->body;
        x->up_len = q->body_len;
        CURLcode rc = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_READDATA, x);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
        return rc == CURLE_OK ? 0 : -1;
    }
    return ck_failk(e, CK_E_USAGE, "http: method %.16s%s not supported for %s", m,
                    has_body ? " with a body" : "", URL_SHOWN(q->url));
}

/* Called at least once a second during a transfer, even when idle. */
static int check_stop(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const struct ck_http *h = p;
    return *h->stop != 0;
}

/* Everything a request needs, set after curl_easy_reset() so nothing leaks from
 * the previous request; reset keeps the live connections and TLS sessions. */
static int set_options(struct ck_http *h, const struct ck_http_req *q, struct xfer *x,
                       struct curl_slist *hdrs, struct ck_err *e)
{
    CURL *c = h->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
    SET(CURLOPT_URL, q->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);  /* ACME reads Location itself */
    SET(CURLOPT_USERAGENT, h->user_agent);
    SET(CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, h->timeout_ms);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, h->errbuf);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    /* No CA file for curl to parse per connection: install_trust supplies the anchors. */
    SET(CURLOPT_CAINFO, (char *)NULL);
    SET(CURLOPT_PROXY_CAINFO, (char *)NULL);
    SET(CURLOPT_SSL_CTX_FUNCTION, install_trust);
    SET(CURLOPT_SSL_CTX_DATA, h);
    SET(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max_body);
    if (hdrs != NULL)
        SET(CURLOPT_HTTPHEADER, hdrs);
    if (h->stop != NULL) {
        SET(CURLOPT_XFERINFOFUNCTION, check_stop);
        SET(CURLOPT_XFERINFODATA, h);
        SET(CURLOPT_NOPROGRESS, 0L);  /* else the callback is never called */
    }
    if (q->aws_sigv4 != NULL) {
        SET(CURLOPT_AWS_SIGV4, q->aws_sigv4);
        SET(CURLOPT_USERPWD, q->aws_userpwd ? q->aws_userpwd : "");
    }
#undef SET
    if (rc != CURLE_OK)
        return ck_fail(e, "http: setting up %s: %s", URL_SHOWN(q->url),
                       curl_easy_strerror(rc));
    if (set_method(c, q, x, e) != 0)
        return e->msg[0] ? -1
                          : ck_fail(e, "http: setting the method for %s", URL_SHOWN(q->url));
    return 0;
}

static int transfer_error(const struct ck_http *h, const struct ck_http_req *q, const struct xfer *x,
                          CURLcode rc, struct ck_err *e)
{
    const char *m = q->method ? q->method : "GET";
    if (x->body_too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return ck_failk(e, CK_E_NETWORK, "%s %s: response body larger than %zu bytes", m,
                        URL_SHOWN(q->url),
                        x->max_body);
    if (x->hdr_too_big)
        return ck_failk(e, CK_E_NETWORK, "%s %s: response headers larger than %zu bytes", m,
                        URL_SHOWN(q->url),
                        MAX_HEADER_BYTES);
    if (rc == CURLE_ABORTED_BY_CALLBACK && h->stop != NULL && *h->stop)
        return ck_failk(e, CK_E_NETWORK, "%s %s: interrupted", m, URL_SHOWN(q->url));
    enum ck_err_kind k = CK_E_NETWORK;
    if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL)
        k = CK_E_PROTOCOL;
    /* curl built without verbose strings has only "Error" in strerror: keep the code,
     * and say what the system said ("Connection refused") in its place. */
    long os_err = 0;
    char why[CURL_ERROR_SIZE + 64];
    snprintf(why, sizeof why, "%s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
    size_t n = strlen(why);
    if (curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_err) == CURLE_OK && os_err > 0 &&
        n >= 5 && strcmp(why + n - 5, "Error") == 0)
        snprintf(why + n - 5, sizeof why - (n - 5), "%s", strerror((int)os_err));
    /* BearSSL's 0x100 + alert: handshake_failure (40) or protocol_version (70) from the server */
    if (strstr(why, "error 0x0128") || strstr(why, "error 0x0146"))
        snprintf(why + strlen(why), sizeof why - strlen(why),
                 " (the server accepts none of TLS 1.2 with ECDHE and AES-GCM, all certkeep offers)");
    if (h->errbuf[0] != '\0')
        return ck_failk(e, k, "%s %s: %s", m, URL_SHOWN(q->url), why);
    return ck_failk(e, k, "%s %s: %s (curl error %d)", m, URL_SHOWN(q->url), why, (int)rc);
}

int ck_http_do(struct ck_http *h, const struct ck_http_req *req, struct ck_http_resp *resp,
               struct ck_err *e)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after = -1;
    if (req->url == NULL)
        return ck_failk(e, CK_E_USAGE, "http: request without URL");
    int rc = -1;
    struct curl_slist *hdrs = NULL;
    struct xfer x = { .max_body = req->max_body ? req->max_body : DEFAULT_MAX_BODY };
    if (x.max_body > SIZE_MAX / 2)
        x.max_body = SIZE_MAX / 2;  /* keeps body_len + len + 1 from wrapping */
    x.hdr = malloc(MAX_HEADER_BYTES + 1);
    if (x.hdr == NULL || grow(&x.body, &x.body_cap, 0, 1) != 0) {
        ck_fail(e, "http: out of memory for %s", URL_SHOWN(req->url));
        goto out;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        if (has_crlf(req->headers[i])) {
            ck_failk(e, CK_E_USAGE, "http: header %zu for %s contains a line break", i,
                     URL_SHOWN(req->url));
            goto out;
        }
        struct curl_slist *t = curl_slist_append(hdrs, req->headers[i]);
        if (t == NULL) {
            ck_fail(e, "http: out of memory for %s", URL_SHOWN(req->url));
            goto out;
        }
        hdrs = t;
    }
    curl_easy_reset(h->curl);
    h->errbuf[0] = '\0';
    e->msg[0] = '\0';
    /* Only a process that speaks TLS pays for the trust store (~1 ms of CPU), once. */
    if (!h->anchors_loaded && may_need_tls(req->url)) {
        if (load_anchors(h, e) != 0)
            goto out;
        h->anchors_loaded = 1;
    }
    if (set_options(h, req, &x, hdrs, e) != 0)
        goto out;
    CURLcode cr = h->stop != NULL && *h->stop ? CURLE_ABORTED_BY_CALLBACK
                                             : curl_easy_perform(h->curl);
    if (cr != CURLE_OK) {
        transfer_error(h, req, &x, cr, e);
        goto out;
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    x.body[x.body_len] = '\0';
    x.hdr[x.hdr_len] = '\0';
    resp->body = x.body;
    resp->body_len = x.body_len;
    resp->headers = x.hdr;
    resp->headers_len = x.hdr_len;
    x.body = NULL;
    x.hdr = NULL;
    /* curl reports 0 both for "Retry-After: 0" and for no header: tell them apart. */
    if (each_header(resp, "Retry-After", present, NULL) == 1) {
        curl_off_t ra = 0;
        if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK)
            resp->retry_after = (long)ra;
    }
    rc = 0;
out:
    /* Credentials must not outlive the request in the handle. */
    if (req->aws_userpwd != NULL)
        curl_easy_setopt(h->curl, CURLOPT_USERPWD, (char *)NULL);
    curl_slist_free_all(hdrs);
    if (x.body != NULL)
        explicit_bzero(x.body, x.body_len);
    free(x.body);
    free(x.hdr);
    return rc;
}

void ck_http_resp_free(struct ck_http_resp *r)
{
    if (r == NULL)
        return;
    if (r->body != NULL)
        explicit_bzero(r->body, r->body_len); /* a store object: maybe a key */
    free(r->body);
    free(r->headers);
    r->body = NULL;
    r->headers = NULL;
    r->body_len = r->headers_len = 0;
}

/* ---- header parsing -------------------------------------------------------------- */

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Calls fn on the trimmed value of every header line named `name` in the block,
 * until fn returns non-zero (which is returned). Bounded by headers_len, not NUL. */
static int each_header(const struct ck_http_resp *r, const char *name, header_fn fn, void *arg)
{
    if (r == NULL || r->headers == NULL || name == NULL)
        return 0;
    size_t nlen = strlen(name);
    const char *p = r->headers, *end = r->headers + r->headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *le = eol ? eol : end;
        if (le > p && le[-1] == '\r')
            le--;
        if ((size_t)(le - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (v < le && is_ows(*v))
                v++;
            const char *ve = le;
            while (ve > v && is_ows(ve[-1]))
                ve--;
            int ok = 1;
            for (const char *c = v; c < ve; c++)
                if ((unsigned char)*c < 0x20 && *c != '\t')
                    ok = 0;  /* NUL or control bytes: not a usable value */
            if (ok) {
                int rc = fn(v, (size_t)(ve - v), arg);
                if (rc != 0)
                    return rc;
            }
        }
        p = next;
    }
    return 0;
}

static int present(const char *v, size_t vlen, void *arg)
{
    (void)v, (void)vlen, (void)arg;
    return 1;
}

struct copy_arg {
    char *out;
    size_t cap;
};

static int copy_first(const char *v, size_t vlen, void *arg)
{
    struct copy_arg *a = arg;
    if (vlen >= a->cap)
        return -1;
    memcpy(a->out, v, vlen);
    a->out[vlen] = '\0';
    return 1;
}

int ck_http_header(const struct ck_http_resp *r, const char *name, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return -1;
    out[0] = '\0';
    struct copy_arg a = { out, cap };
    return each_header(r, name, copy_first, &a) == 1 ? 0 : -1;
}

/* ---- Link headers (RFC 8288) --------------------------------------------------------- */

struct link_arg {
    const char *rel;
    size_t idx;
    size_t seen;
    const char *uri;  /* of the match */
    size_t uri_len;
};

/* 1 when the space-separated relation list has `rel` (case-insensitive). */
static int rel_has(const char *v, size_t vlen, const char *rel)
{
    size_t rl = strlen(rel), i = 0;
    while (i < vlen) {
        while (i < vlen && is_ows(v[i]))
            i++;
        size_t s = i;
        while (i < vlen && !is_ows(v[i]))
            i++;
        if (i - s == rl && rl > 0 && strncasecmp(v + s, rel, rl) == 0)
            return 1;
    }
    return 0;
}

/* Reads one parameter value at v[*i] (token or quoted-string). The quoted form
 * is returned raw without its quotes (relation types need no unescaping).
 * -1 when a quote is not closed. */
static int param_value(const char *v, size_t vlen, size_t *i, const char **val, size_t *val_len)
{
    if (*i < vlen && v[*i] == '"') {
        size_t s = ++*i;
        while (*i < vlen && v[*i] != '"') {
            if (v[*i] == '\\' && *i + 1 < vlen)
                ++*i;
            ++*i;
        }
        if (*i >= vlen)
            return -1;
        *val = v + s;
        *val_len = *i - s;
        ++*i;
        return 0;
    }
    size_t s = *i;
    while (*i < vlen && v[*i] != ';' && v[*i] != ',' && !is_ows(v[*i]))
        ++*i;
    *val = v + s;
    *val_len = *i - s;
    return 0;
}

/* One Link header value: `<uri>; rel="x"; a=b, <uri2>; rel=y`. A malformed
 * link-value (no '>', unclosed quote) ends parsing of this header. */
static int link_scan(const char *v, size_t vlen, void *arg)
{
    struct link_arg *a = arg;
    size_t i = 0;
    for (;;) {
        while (i < vlen && (is_ows(v[i]) || v[i] == ','))
            i++;
        if (i >= vlen || v[i] != '<')
            return 0;
        const char *close = memchr(v + i, '>', vlen - i);
        if (close == NULL)
            return 0;
        const char *uri = v + i + 1;
        size_t uri_len = (size_t)(close - uri);
        i = (size_t)(close - v) + 1;
        int matched = 0, rel_seen = 0;
        for (;;) {
            while (i < vlen && is_ows(v[i]))
                i++;
            if (i >= vlen || v[i] != ';')
                break;
            i++;
            while (i < vlen && is_ows(v[i]))
                i++;
            size_t ns = i;
            while (i < vlen && v[i] != '=' && v[i] != ';' && v[i] != ',' && !is_ows(v[i]))
                i++;
            size_t nl = i - ns;
            while (i < vlen && is_ows(v[i]))
                i++;
            const char *val = "";
            size_t val_len = 0;
            if (i < vlen && v[i] == '=') {
                i++;
                while (i < vlen && is_ows(v[i]))
                    i++;
                if (param_value(v, vlen, &i, &val, &val_len) != 0)
                    return 0;
            }
            /* Only the first rel parameter counts (RFC 8288 section 3.3). */
            if (nl == 3 && strncasecmp(v + ns, "rel", 3) == 0 && !rel_seen) {
                rel_seen = 1;
                matched = rel_has(val, val_len, a->rel);
            }
        }
        if (i < vlen && v[i] != ',')
            return 0;
        if (matched && a->seen++ == a->idx) {
            a->uri = uri;
            a->uri_len = uri_len;
            return 1;
        }
    }
}

static int resolve_url(const char *base, const char *ref, size_t ref_len, char *out, size_t cap)
{
    if (ref_len > MAX_LINK_URL || memchr(ref, '\0', ref_len) != NULL)
        return -1;
    char *r = strndup(ref, ref_len);
    CURLU *u = curl_url();
    char *s = NULL;
    int rc = -1;
    if (r == NULL || u == NULL)
        goto out;
    if (base != NULL && curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
        goto out;
    /* With a base set, curl resolves a relative reference against it (RFC 3986). */
    if (curl_url_set(u, CURLUPART_URL, r, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_URL, &s, 0) != CURLUE_OK)
        goto out;
    size_t n = strlen(s);
    if (n >= cap)
        goto out;
    memcpy(out, s, n + 1);
    rc = 0;
out:
    curl_free(s);
    curl_url_cleanup(u);
    free(r);
    return rc;
}

int ck_http_link(const struct ck_http_resp *r, const char *rel, size_t idx,
                 const char *base_url, char *out, size_t cap)
{
    if (out == NULL || cap == 0 || rel == NULL)
        return -1;
    out[0] = '\0';
    struct link_arg a = { .rel = rel, .idx = idx };
    if (each_header(r, "Link", link_scan, &a) != 1)
        return -1;
    if (resolve_url(base_url, a.uri, a.uri_len, out, cap) != 0) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
