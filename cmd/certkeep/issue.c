/* certkeep issue: a new certificate now, published only once it is checked. */
#include "../../lib/bundle/bundle.h"
#include "../../lib/keeper/keeper.h"
#include "cmd.h"

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_store st;
    struct ck_bundle b;
    struct ck_cert_summary sum;
    if (ck_config_validate_for(c, "issue", e) || ck_keeper_trust_load(c, e) ||
        ck_keeper_store_open(c, &st, e))
        return -1;
    int rc = ck_keeper_obtain(c, log, st.store, &b, &sum, e);
    if (!rc)
        rc = ck_keeper_save(c, log, st.store, &b, &sum, e);
    if (!rc)
        ck_keeper_ocsp_before_telling(c, log, NULL);
    ck_bundle_free(&b);
    ck_keeper_store_close(&st);
    return rc;
}
