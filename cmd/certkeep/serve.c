/* certkeep serve: the central http-01 responder. Replicas with challenge.http01_store put
 * key authorizations in the store; this answers the CA from there until SIGTERM. */
#define _GNU_SOURCE /* ppoll: in the seccomp list, where sigsuspend is not */
#include <poll.h>
#include <signal.h>
#include <stdio.h>

#include "../../lib/challenge/challenge.h"
#include "../../lib/sandbox/sandbox.h"
#include "../../lib/store/store.h"
#include "cmd.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CK_SANITIZED 1
#endif
#endif

int ck_cmd_serve(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_store st;
    struct ck_central *srv = NULL;
    sigset_t stop, old;
    size_t n = 0;
    /* every store read happens on the answering thread: short timeouts keep it moving */
    if (ck_config_validate_for(c, "serve", e) || ck_keeper_store_open_within(c, 1000, 3000, &st, e))
        return -1;
    int rc = ck_central_start(c->http01_listen, st.store, log, &srv, e);
#if !defined(__SANITIZE_ADDRESS__) && !defined(CK_SANITIZED)
    if (!rc && !c->no_seccomp)
        rc = ck_sandbox_run(0, &n, e);
#endif
    if (!rc) {
        char sc[48] = "seccomp off";
        if (n)
            snprintf(sc, sizeof sc, "seccomp: %zu calls allowed", n);
        ck_info(log, "serve", "answering http-01 on %s from %s (%s)", c->http01_listen,
                ck_store_name(st.store), sc);
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        /* checked with the signals blocked, waited for with them open: none is missed */
        pthread_sigmask(SIG_BLOCK, &stop, &old);
        while (!ck_cmd_signal)
            ppoll(NULL, 0, NULL, &old);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        ck_info(log, "serve", "stopping (%s)", ck_cmd_signal == SIGINT ? "SIGINT" : "SIGTERM");
    }
    ck_central_stop(srv);
    ck_keeper_store_close(&st);
    return rc;
}
