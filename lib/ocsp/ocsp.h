/* OCSP stapling material: a certificate's response fetched from the responder its
 * AIA names (RFC 6960 over HTTP, RFC 5019's profile) and checked by lib/crypto. */
#ifndef CK_OCSP_H
#define CK_OCSP_H

#include <stddef.h>
#include <stdint.h>

#include "../crypto/crypto.h"
#include "../err/err.h"
#include "../http/http.h"

#define CK_OCSP_MAX_RESPONSE (64 * 1024) /* real ones are 0.3..4 KB */
#define CK_OCSP_GET_MAX 255              /* the encoded request up to this: GET, else POST */

/* The request for cert under issuer, sent to url (GET with the request base64 and
 * URL-encoded in the path when short, else POST application/ocsp-request); the answer,
 * malloc'd (free), is checked (ck_ocsp_check at `now`) before it is handed back. -1
 * with one line naming the responder: a transport failure (kind CK_E_NETWORK), an HTTP
 * status other than 200, an oversized or failing response. */
int ck_ocsp_fetch(struct ck_http *h, const char *url, const unsigned char *cert, size_t cert_len,
                  const unsigned char *issuer, size_t issuer_len, int64_t now,
                  unsigned char **resp, size_t *resp_len, struct ck_ocsp_answer *a,
                  struct ck_err *e);

/* When to fetch again: half way from thisUpdate to nextUpdate (RFC 5019 6), never
 * earlier than a minute from now. */
int64_t ck_ocsp_refresh_at(const struct ck_ocsp_answer *a, int64_t now);

#endif
