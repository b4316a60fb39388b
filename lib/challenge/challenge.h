/* Challenge responders: http-01 built-in server and webroot files. */
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

#endif
