/* The operator's webhook (SPEC section 5): one JSON POST per failure and one per
 * recovery. The body holds what an operator acts on and never a secret (no key,
 * no credential, no signed request). A webhook URL often carries its own token,
 * so messages name it only as scheme://host[:port]. */
#ifndef CK_WEBHOOK_H
#define CK_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "../err/err.h"
#include "../http/http.h"

#define CK_WEBHOOK_CONNECT_MS 5000L
#define CK_WEBHOOK_TIMEOUT_MS 10000L  /* the whole request: a slow receiver never holds us longer */

struct ck_webhook_event {
    int recovery;                 /* 0: event "failure", 1: "recovery" */
    const char *cert_name;
    const char *const *names;
    size_t n_names;
    const char *error;            /* the failure's one line; NULL: none */
    unsigned failures;            /* consecutive failures now (0 on recovery) */
    unsigned previous_failures;   /* recovery: how many failures it ends */
    int64_t next_retry;           /* Unix seconds; 0: none planned */
    int64_t not_after;            /* of the certificate on the volume; 0: none */
    int64_t time;                 /* of the event, Unix seconds */
};

/* The body, malloc'd and NUL-terminated:
 * {"event":"failure","time":"…Z","certificate":"example.com","names":["example.com"],
 *  "error":"…","failures":2,"next_retry":"…Z","next_retry_unix":…,
 *  "not_after":"…Z","not_after_unix":…}; a time that is 0 is null; a recovery
 * also has "previous_failures". */
int ck_webhook_json(const struct ck_webhook_event *ev, char **out, struct ck_err *e);

/* POSTs the body (Content-Type: application/json) on a handle of its own made
 * from o, whose timeouts are capped at CK_WEBHOOK_CONNECT_MS and
 * CK_WEBHOOK_TIMEOUT_MS. A 2xx answer is success; anything else is -1 with one
 * line naming the webhook by its origin only. */
int ck_webhook_post(const struct ck_http_opts *o, const char *url,
                    const struct ck_webhook_event *ev, struct ck_err *e);

/* "https://user:pw@host:8443/path?t=x" → "https://host:8443" (at most cap-1 bytes). */
void ck_webhook_origin(const char *url, char *out, size_t cap);

#endif
