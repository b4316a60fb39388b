/* certkeep init: the volume, else the store, else issue (lib/keeper), then the
 * OCSP response; exit 0 only when the volume then holds a usable certificate. */
#include <limits.h>

#include "../../lib/keeper/keeper.h"
#include "cmd.h"

int ck_cmd_init(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_store st;
    if (ck_config_validate_for(c, "init", e) || ck_keeper_trust_load(c, e) ||
        ck_keeper_store_open(c, &st, e))
        return -1;
    int rc = ck_keeper_init_with(c, log, st.store, e);
    struct ck_keeper_ocsp o;
    struct ck_err oe;
    /* stapling material is welcome, never a reason to hold the app back */
    if (rc == 0 && ck_keeper_ocsp_refresh(c, log, NULL, 0, &o, &oe))
        ck_warn(log, "ocsp", "%s (no new %s)", oe.msg, CK_KEEPER_OCSP_FILE);
    else if (rc == 0 && o.fetched && o.a.status == CK_OCSP_REVOKED) {
        ck_keeper_ocsp_revoked(c, log, st.store, &o);
        rc = ck_keeper_init_with(c, log, st.store, e);  /* refuses the marked one: a new one */
        if (rc == 0 && ck_keeper_ocsp_refresh(c, log, NULL, 0, &o, &oe))
            ck_warn(log, "ocsp", "%s (no new %s)", oe.msg, CK_KEEPER_OCSP_FILE);
    }
    if (rc) {
        unsigned f = 0;
        int64_t next = 0;
        struct ck_err copy = *e;
        ck_keeper_note_failure(c, log, st.store, &copy, UINT_MAX, &f, &next);
    }
    ck_keeper_store_close(&st);
    return rc;
}
