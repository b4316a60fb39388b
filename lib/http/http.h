/* HTTP over libcurl (TLS through BearSSL). One ck_http keeps one easy handle,
 * so one keep-alive connection per host, and parses the trust store once per
 * handle, at its first https request (not once per connection). */
#ifndef CK_HTTP_H
#define CK_HTTP_H

#include <bearssl.h>
#include <signal.h>
#include <stddef.h>

#include "../err/err.h"

struct ck_http;

struct ck_http_opts {
    const char *ca_bundle;    /* PEM file of trust anchors added to the system's; NULL: none */
    const char *system_bundle; /* the system's PEM bundle; NULL or "": Debian's path */
    const char *user_agent;   /* "certkeep/<version>" */
    long connect_timeout_ms;  /* 0: 10 s */
    long timeout_ms;          /* whole request; 0: 30 s */
    const volatile sig_atomic_t *stop; /* non-zero aborts a transfer ("interrupted"); NULL: none */
};

int ck_http_new(const struct ck_http_opts *o, struct ck_http **out, struct ck_err *e);
void ck_http_free(struct ck_http *h);

struct ck_http_req {
    const char *method;            /* "GET", "HEAD", "POST", "PUT", "DELETE" */
    const char *url;
    const char *const *headers;    /* "Name: value" lines */
    size_t n_headers;
    const void *body;
    size_t body_len;
    const char *aws_sigv4;         /* CURLOPT_AWS_SIGV4 provider, e.g. "aws:amz:us-east-1:s3"; NULL: none */
    const char *aws_userpwd;       /* "ACCESS:SECRET" for SigV4; never logged */
    size_t max_body;               /* response body limit; 0: 1 MiB. Larger is an error */
};

struct ck_http_resp {
    long status;
    char *body;          /* NUL-terminated (the NUL is not counted in body_len) */
    size_t body_len;
    char *headers;       /* raw header block of the final response, NUL-terminated */
    size_t headers_len;
    long retry_after;    /* seconds from Retry-After (delta or date), -1 when absent */
};

/* Performs the request. A transport failure (DNS, connect, TLS, timeout,
 * oversized body) is -1 with kind CK_E_NETWORK naming the URL; any HTTP status
 * is success here: the caller judges resp->status. */
int ck_http_do(struct ck_http *h, const struct ck_http_req *req, struct ck_http_resp *resp,
               struct ck_err *e);
void ck_http_resp_free(struct ck_http_resp *r);

/* Tests and measurements: loads the trust store now, as the first https request would,
 * and shows its anchors (valid until ck_http_free). */
int ck_http_trust_anchors(struct ck_http *h, const br_x509_trust_anchor **tas, size_t *n,
                          struct ck_err *e);

/* First value of header `name` (case-insensitive), copied into out; 0 found, -1 absent
 * or too long. */
int ck_http_header(const struct ck_http_resp *r, const char *name, char *out, size_t cap);
/* idx-th (from 0) URL of a Link header with rel="rel", resolved against
 * base_url; 0 found, -1 not. */
int ck_http_link(const struct ck_http_resp *r, const char *rel, size_t idx,
                 const char *base_url, char *out, size_t cap);

#endif
