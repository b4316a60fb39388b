/* certkeep account rollover|deactivate (lib/keeper: under the store's account lease). */
#include "../../lib/keeper/keeper.h"
#include "cmd.h"

int ck_cmd_account_rollover(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    if (ck_config_validate_for(c, "account rollover", e))
        return -1;
    return ck_keeper_account_rollover(c, log, e);
}

int ck_cmd_account_deactivate(const struct ck_config *c, const struct ck_log *log,
                              struct ck_err *e)
{
    if (ck_config_validate_for(c, "account deactivate", e))
        return -1;
    if (!c->yes)
        return ck_failk(e, CK_E_USAGE, "account deactivate: the CA never reactivates an "
                        "account; add --yes to deactivate it");
    return ck_keeper_account_deactivate(c, log, e);
}
