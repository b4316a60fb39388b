/* Commands of the certkeep binary. Each returns 0 on success or -1 with e
 * filled; main turns kind CK_E_USAGE into exit 2 and the rest into exit 1. */
#ifndef CK_CMD_H
#define CK_CMD_H

#include "../../lib/bundle/bundle.h"
#include "../../lib/cert/cert.h"
#include "../../lib/config/config.h"
#include "../../lib/err/err.h"
#include "../../lib/log/log.h"

#ifndef CK_VERSION
#define CK_VERSION "0.0.0-dev"
#endif

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_init(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_status(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

/* The configured store (dir or S3) with what it needs; store NULL when none is configured. */
struct ck_cmd_store {
    struct ck_store *store;
    struct ck_http *http;
};
/* Opening makes no request; only a configuration or credentials problem fails. */
int ck_cmd_store_open(const struct ck_config *c, struct ck_cmd_store *out, struct ck_err *e);
void ck_cmd_store_close(struct ck_cmd_store *s);

/* What "usable" means for this configuration, now. */
struct ck_cert_want ck_cmd_want(const struct ck_config *c);

/* A new certificate over ACME, checked, not yet written anywhere. The account
 * comes from the store when st is set (shared by every replica), else <state>. */
int ck_cmd_obtain(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                  struct ck_bundle *out, struct ck_cert_summary *sum, struct ck_err *e);
/* Store first (durable, when st is set), then the volume. */
int ck_cmd_save(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                const struct ck_bundle *b, const struct ck_cert_summary *sum, struct ck_err *e);

#endif
