/* Shared by the files of lib/challenge (and its fuzz target) only. */
#ifndef CK_CHALLENGE_INT_H
#define CK_CHALLENGE_INT_H

#include <pthread.h>
#include <stddef.h>

#include "../err/err.h"
#include "../log/log.h"

/* 1 when `t` is 1..256 base64url characters (nothing that could walk a path). */
int ck_token_ok(const char *t);
/* Routes the request head req[0..len): 200 with the token copied into `token`, or the
 * error status (400, 404, 405, 431). *head is set for HEAD requests. */
int ck_http01_route(const char *req, size_t len, char *token, size_t tsz, int *head);
/* Fills e with the one line for a bind of `listen` (port `port`) refused with errno `err`:
 * EACCES below 1024 names the sysctl, EADDRINUSE without a webroot suggests one.
 * has_webroot: 1 configured, 0 not (then suggested), -1 none possible (serve). */
int ck_http01_bind_fail(struct ck_err *e, const char *listen, const char *port, int err,
                        int has_webroot);

/* A token the responder does not hold: 200 with its key authorization copied into
 * authz, 404, or 503. Called from the responder's thread only. */
typedef int (*ck_http01_fetch)(void *ctx, const char *token, char *authz, size_t cap);
struct ck_http01;
/* ck_http01_start, asking `fetch` for tokens not added. */
int ck_http01_start_fetch(const char *listen, ck_http01_fetch fetch, void *ctx,
                          const struct ck_log *log, struct ck_http01 **out, struct ck_err *e);

/* A responder's wake pipe (non-blocking, close-on-exec) and its thread, started with
 * every signal blocked (they belong to the main thread). Errors name what and listen. */
int ck_challenge_thread(int wake[2], pthread_t *thread, void *(*fn)(void *), void *arg,
                        const char *what, const char *listen, struct ck_err *e);

#endif
