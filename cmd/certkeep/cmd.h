/* Commands of the certkeep binary. Each returns 0 on success or -1 with e
 * filled; main turns kind CK_E_USAGE into exit 2 and the rest into exit 1. */
#ifndef CK_CMD_H
#define CK_CMD_H

#include "../../lib/config/config.h"
#include "../../lib/err/err.h"
#include "../../lib/log/log.h"

#ifndef CK_VERSION
#define CK_VERSION "0.0.0-dev"
#endif

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

#endif
