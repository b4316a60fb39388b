/* Challenge responders: http-01 built-in server, webroot files, the store (central
 * validation), dns-01, tls-alpn-01. */
#ifndef CK_CHALLENGE_H
#define CK_CHALLENGE_H

#include "../err/err.h"
#include "../log/log.h"

struct ck_http01;

/* Binds `listen` ("[host]:port", ":80", "127.0.0.1:5002", "[::1]:80") and serves
 * from a background thread: only GET /.well-known/acme-challenge/<token> for
 * tokens it holds (200, text/plain, the key authorization), 404 otherwise.
 * Requests are bounded in size and time. A refused bind is one line naming the
 * port and the fix ("http-01: cannot listen on :80: ..."). */
int ck_http01_start(const char *listen, const struct ck_log *log, struct ck_http01 **out,
                    struct ck_err *e);
/* http-01 for one order, by what is configured. `listen` alone: the responder
 * (*out set). `webroot` alone: *out NULL, write token files. Both: the responder,
 * or, when its port is taken (EADDRINUSE: the app is up and serves the webroot),
 * *out NULL; one info line says which. Any other bind error fails, naming the port. */
int ck_http01_pick(const char *listen, const char *webroot, const struct ck_log *log,
                   struct ck_http01 **out, struct ck_err *e);
int ck_http01_add(struct ck_http01 *s, const char *token, const char *key_authz,
                  struct ck_err *e);
void ck_http01_remove(struct ck_http01 *s, const char *token);
/* Stops the thread, closes the socket, frees. NULL is fine. */
void ck_http01_stop(struct ck_http01 *s);

/* Writes <webroot>/.well-known/acme-challenge/<token> (0644, atomically), creating
 * the directories; the token must be base64url. */
int ck_webroot_put(const char *webroot, const char *token, const char *key_authz,
                   struct ck_err *e);
int ck_webroot_remove(const char *webroot, const char *token, struct ck_err *e);

/* Central validation (the guide's "Central Validation Servers"): the issuing replica puts
 * each key authorization in the shared store as challenges/<token>, and any number of
 * `certkeep serve` responders answer the http-01 path from there. */
struct ck_store;
int ck_central_put(struct ck_store *st, const char *token, const char *key_authz,
                   struct ck_err *e);
int ck_central_remove(struct ck_store *st, const char *token, struct ck_err *e);
#define CK_CENTRAL_HIT_MS 5000  /* a found token is served this long from memory */
#define CK_CENTRAL_MISS_MS 1000 /* an absent one is 404 this long without a store read */
#define CK_CENTRAL_READS 200    /* store reads a second at most, beyond: 503 */
struct ck_central;
/* The http-01 responder on `listen` (as ck_http01_start), answering from `st` (borrowed):
 * a bad token is 404 without a store read; a store error is 503, and no read is made
 * for a second after it. */
int ck_central_start(const char *listen, struct ck_store *st, const struct ck_log *log,
                     struct ck_central **out, struct ck_err *e);
/* NULL is fine. */
void ck_central_stop(struct ck_central *c);

/* dns-01: one TXT value per authorization at _acme-challenge.<name> (CNAMEs
 * followed), by RFC 2136 update or by a hook run as lego's exec provider runs it
 * ("HOOK present|cleanup FQDN VALUE TTL"). */
struct ck_dns01_opts {
    const char *server;            /* RFC 2136 primary "host[:port]", or NULL */
    const char *tsig_key, *tsig_secret_file;
    int tsig_alg;                  /* 0 hmac-sha256, 1 hmac-sha384, 2 hmac-sha512 */
    const char *zone;              /* NULL: by SOA lookup */
    const char *hook;              /* instead of server */
    const char *resolver;          /* lookups; NULL: the server, else /etc/resolv.conf's */
    int server_only;               /* propagation: the server alone, not the zone's NS set */
    long propagation_timeout_s;
    const char *pending_file;      /* what is presented, for removal after a kill; or NULL */
};
struct ck_dns01;
/* Checks the settings (the strings in `o` must outlive *out, but pending_file); with RFC 2136, finds each name's zone and proves the key on
 * it (a prerequisite-only update) before any order: a wrong key costs no order. */
int ck_dns01_start(const struct ck_dns01_opts *o, const char *const *names, size_t n,
                   const struct ck_log *log, struct ck_dns01 **out, struct ck_err *e);
/* ck_acme_solver callbacks, ctx the ck_dns01. ready: waits until every name server
 * answers every value presented (bounded by propagation_timeout_s). */
int ck_dns01_present(void *ctx, const char *domain, const char *token, const char *value,
                     struct ck_err *e);
int ck_dns01_ready(void *ctx, struct ck_err *e);
void ck_dns01_cleanup(void *ctx, const char *domain, const char *token, const char *value);
/* Removes what is still presented (any exit path), wipes the key, frees. NULL is fine. */
void ck_dns01_stop(struct ck_dns01 *d);

/* tls-alpn-01 (RFC 8737): binds `listen` (":443") and answers from a background
 * thread, as the http-01 responder does (bounded connections and time), TLS 1.2
 * handshakes offering ALPN acme-tls/1 with the SNI name's self-signed certificate
 * holding its key authorization's digest; any other handshake is refused. A refused
 * bind is one line naming the port. */
struct ck_tlsalpn01;
int ck_tlsalpn01_start(const char *listen, const struct ck_log *log, struct ck_tlsalpn01 **out,
                       struct ck_err *e);
/* ck_acme_solver callbacks, ctx the ck_tlsalpn01: one certificate per name. */
int ck_tlsalpn01_present(void *ctx, const char *domain, const char *token, const char *key_authz,
                         struct ck_err *e);
void ck_tlsalpn01_cleanup(void *ctx, const char *domain, const char *token, const char *key_authz);
/* Stops the thread, closes the socket, frees. NULL is fine. */
void ck_tlsalpn01_stop(struct ck_tlsalpn01 *s);

#endif
