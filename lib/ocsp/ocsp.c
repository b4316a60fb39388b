#include "ocsp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* url + "/" + percent-encoded base64 of req; 0, or -1 when it would exceed `cap`. */
static int get_url(const char *url, const unsigned char *req, size_t req_len, char *out,
                   size_t cap, size_t *enc_len)
{
    char b64[4 * ((CK_OCSP_GET_MAX + 2) / 3) + 1];
    size_t n = ck_b64(req, req_len, b64, sizeof b64), u = strlen(url), j;
    if (n == (size_t)-1 || u + 2 >= cap)
        return -1;
    memcpy(out, url, u);
    j = u;
    if (u == 0 || url[u - 1] != '/')
        out[j++] = '/';
    size_t start = j;
    for (size_t i = 0; i < n; i++) {
        char c = b64[i];
        if (j + 4 >= cap)
            return -1;
        if (c == '+' || c == '/' || c == '=')
            j += (size_t)snprintf(out + j, 4, "%%%02X", (unsigned)c);
        else
            out[j++] = c;
    }
    out[j] = '\0';
    *enc_len = j - start;
    return 0;
}

int ck_ocsp_fetch(struct ck_http *h, const char *url, const unsigned char *cert, size_t cert_len,
                  const unsigned char *issuer, size_t issuer_len, int64_t now,
                  unsigned char **resp, size_t *resp_len, struct ck_ocsp_answer *a,
                  struct ck_err *e)
{
    static const char *const post_headers[] = {"Content-Type: application/ocsp-request",
                                               "Accept: application/ocsp-response"};
    unsigned char *req = NULL;
    size_t req_len = 0, enc = 0;
    char gurl[1024];
    struct ck_http_req r = {.method = "POST", .url = url, .headers = post_headers,
                            .n_headers = 2, .max_body = CK_OCSP_MAX_RESPONSE};
    struct ck_http_resp res;
    memset(&res, 0, sizeof res);

    *resp = NULL;
    if (ck_ocsp_request(cert, cert_len, issuer, issuer_len, &req, &req_len, e) < 0)
        return -1;
    if (req_len <= CK_OCSP_GET_MAX && get_url(url, req, req_len, gurl, sizeof gurl, &enc) == 0 &&
        enc <= CK_OCSP_GET_MAX) {
        r.method = "GET";
        r.url = gurl;
        r.headers = post_headers + 1;
        r.n_headers = 1;
    } else {
        r.body = req;
        r.body_len = req_len;
    }
    int rc = ck_http_do(h, &r, &res, e);
    free(req);
    if (rc < 0)
        return ck_wrap(e, "OCSP");
    if (res.status != 200) {
        ck_failk(e, CK_E_PROTOCOL, "OCSP responder %.200s: HTTP %ld", url, res.status);
        ck_http_resp_free(&res);
        return -1;
    }
    if (ck_ocsp_check((const unsigned char *)res.body, res.body_len, cert, cert_len, issuer,
                      issuer_len, now, a, e) < 0) {
        ck_http_resp_free(&res);
        e->kind = CK_E_PROTOCOL;
        return ck_wrap(e, "OCSP responder %.200s", url);
    }
    *resp = (unsigned char *)res.body;
    *resp_len = res.body_len;
    res.body = NULL;
    ck_http_resp_free(&res);
    return 0;
}

int64_t ck_ocsp_refresh_at(const struct ck_ocsp_answer *a, int64_t now)
{
    int64_t t = a->this_update + (a->next_update - a->this_update) / 2;
    return t < now + 60 ? now + 60 : t;
}
