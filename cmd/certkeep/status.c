/* certkeep status: what is held on the volume and in the store (lib/keeper's
 * ck_keeper_status). Exit 0 when the volume is usable. */
#include <stdio.h>

#include "cmd.h"

int ck_cmd_status(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_store st;
    (void)log;
    if (ck_config_validate_for(c, "status", e))
        return -1;
    if (!c->cert_name)
        return ck_failk(e, CK_E_USAGE, "no certificate named: set --cert-name or --domain");
    if (ck_keeper_trust_load(c, e) || ck_keeper_store_open(c, &st, e))
        return -1;
    int rc = ck_keeper_status(c, st.store, stdout, e);
    ck_keeper_store_close(&st);
    return rc;
}
