/* certkeep revoke: the volume's certificate, at the CA, then marked revoked so that
 * init and run refuse it wherever a copy is found (lib/keeper). */
#include "../../lib/keeper/keeper.h"
#include "cmd.h"

int ck_cmd_revoke(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    if (ck_config_validate_for(c, "revoke", e))
        return -1;
    return ck_keeper_revoke(c, log, c->revoke_reason < 0 ? 0 : c->revoke_reason, e);
}
