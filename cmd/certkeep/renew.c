/* certkeep renew: if due (--force: now) under the store lease, waiting for another
 * replica's renewal when it holds the lease; --now asks the running `run`. */
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "../../lib/keeper/keeper.h"
#include "../../lib/renewal/renewal.h"
#include "cmd.h"

int ck_cmd_renew(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_store st;
    struct ck_keeper_renewal r;
    char why[600], when[32];
    int64_t now = (int64_t)time(NULL), at = 0;
    long pid = 0;
    if (c->now && c->force)
        return ck_failk(e, CK_E_USAGE, "renew: --now asks the running `run`, --force renews "
                        "here: one or the other");
    if (c->now) {  /* the sidecar does the work, as on SIGUSR1 */
        if (ck_keeper_run_signal(c, SIGUSR1, &pid, e))
            return -1;
        ck_info(log, "renew.now", "asked certkeep run (pid %ld) to retry or renew now", pid);
        return 0;
    }
    if (ck_config_validate_for(c, "renew", e) || ck_keeper_trust_load(c, e) ||
        ck_keeper_store_open(c, &st, e))
        return -1;
    memset(&r, 0, sizeof r);
    struct ck_cert_summary cur;
    int vol = ck_keeper_read_volume(c, &cur, why, sizeof why);
    if (vol == 0) {
        r.have_not_after = cur.not_after;
        r.replaces = cur.ari_id;
    } else if (cur.not_after) {  /* parsed but unusable: still the one it replaces */
        r.replaces = cur.ari_id;
    }
    if (vol == 0 && !c->force && !ck_keeper_renew_due(c, log, &cur, now, &at)) {
        ck_time_format(at, when);
        ck_info(log, "renew.notdue", "serial %s is not due before %s (--force renews now)",
                cur.serial_hex, when);
        ck_keeper_store_close(&st);
        return 0;
    }
    ck_info(log, "renew", "renewing: %s", c->force ? "--force" : vol ? why : "due");
    int rc = ck_keeper_renew_once(c, log, st.store, &r, e);
    if (rc == CK_KEEPER_BUSY)
        rc = ck_keeper_renew_wait(c, log, st.store, &r, e);
    if (rc < 0) {
        unsigned f = 0;
        int64_t next = 0;
        struct ck_err copy = *e;
        ck_keeper_note_failure(c, log, st.store, &copy, UINT_MAX, &f, &next);
    }
    struct ck_err ignored;  /* a `run` beside us: its schedule and metrics follow the volume */
    if (rc == 0 && ck_keeper_run_signal(c, SIGUSR2, &pid, &ignored) == 0)
        ck_info(log, "renew", "told certkeep run (pid %ld) that the volume changed", pid);
    ck_keeper_store_close(&st);
    return rc ? -1 : 0;
}
