/* certkeep run: init, then stay. One event loop (s6 style) for every certificate:
 * signals arrive on a signalfd, one poll() sleeps until the next thing is due for
 * any of them (renewal moment, ARI check, store check, retry after a failure, a
 * health client). What is due when, and the jobs that do it, are lib/keeper's
 * fleet; this file owns the signals, the poll() and the re-read configuration. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "../../lib/health/health.h"
#include "../../lib/keeper/keeper.h"
#include "cmd.h"

extern char **environ;

/* SIGHUP, no job running: the configuration read again, as at start (the fleet
 * keeps the old one when this one is bad). */
static void reread(struct ck_keeper_fleet *f, const struct ck_config *c)
{
    struct ck_config *nc = calloc(1, sizeof *nc);
    struct ck_err e;
    ck_err_clear(&e);
    if (nc && ck_config_load(nc, ck_cmd_argc, ck_cmd_argv, environ, &e) == 0)
        ck_keeper_attach(nc, c->proc);
    ck_keeper_fleet_reread(f, nc, &e);
}

static void on_signals(struct ck_keeper_fleet *f, int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            /* the one-shot commands' flags: the jobs see them and end */
            ck_cmd_signal = (sig_atomic_t)si.ssi_signo;
            ck_cmd_stop = 1;
        }
        ck_keeper_fleet_signal(f, (int)si.ssi_signo);
    }
}

static int setup(sigset_t *old, int *sigfd, struct ck_err *e)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGHUP);
    sigaddset(&s, SIGUSR1);
    sigaddset(&s, SIGUSR2);
    /* blocked before any thread exists, so that every thread inherits it */
    if (pthread_sigmask(SIG_BLOCK, &s, old))
        return ck_fail(e, "run: cannot block signals");
    *sigfd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
    if (*sigfd < 0)
        return ck_fail(e, "run: signalfd: %s", strerror(errno));
    return 0;
}

static int loop(struct ck_keeper_fleet *f, int sigfd, const struct ck_config *c,
                const struct ck_log *log)
{
    struct pollfd pfd[CK_HEALTH_MAX_FDS + 2];
    while (!ck_keeper_fleet_stopping(f)) {
        if (ck_keeper_fleet_wants_reread(f))
            reread(f, c);
        int64_t wake = ck_keeper_fleet_due(f);
        if (ck_keeper_fleet_stopping(f))
            continue;
        /* poll() waits on the monotonic clock; the wall clock names the moment and
         * is read again at each wake-up, at least hourly (a clock step) */
        int timeout = ck_keeper_poll_ms(wake, (int64_t)time(NULL));
        size_t n = ck_keeper_fleet_pollfds(f, pfd, CK_HEALTH_MAX_FDS, &timeout);
        pfd[n] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        pfd[n + 1] = (struct pollfd){.fd = ck_keeper_fleet_done_fd(f), .events = POLLIN};
        int got = poll(pfd, n + 2, timeout);
        if (got < 0 && errno != EINTR) {
            ck_error(log, "run", "poll: %s", strerror(errno));
            sleep(1);
            continue;
        }
        if (got < 0)
            continue;
        ck_keeper_fleet_health(f, pfd, n);
        if (got == 0)
            continue;
        if (pfd[n].revents)
            on_signals(f, sigfd);
        if (pfd[n + 1].revents & POLLIN)
            ck_keeper_fleet_done(f);
    }
    if (ck_keeper_fleet_stop(f)) {  /* a job abandoned: never mid-write */
        fflush(NULL);
        _exit(0);
    }
    ck_info(log, "run.stop", "stopping");
    return 0;
}

int ck_cmd_run(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_keeper_fleet *f = NULL;
    sigset_t old;
    int sigfd = -1;
    if (ck_config_validate_for(c, "run", e) || ck_keeper_trust_load(c, e))
        return -1;
    if (c->time_scale > 1)
        ck_warn(log, "run", "test_time_scale %d: retries, store and ARI checks wait %d times "
                "less than they should (a setting for tests)", c->time_scale, c->time_scale);
    pthread_sigmask(SIG_SETMASK, NULL, &old);  /* restored as it was, whatever fails */
    int rc = setup(&old, &sigfd, e);
    if (rc == 0)
        rc = ck_keeper_fleet_new(c, log, &f, e);
    if (rc == 0)
        rc = ck_keeper_fleet_start(f, e);
    if (rc == 0)
        rc = loop(f, sigfd, c, log);
    ck_keeper_fleet_free(f);
    if (sigfd >= 0)
        close(sigfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
