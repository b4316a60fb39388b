/* certkeep: command dispatch. Exit 0 done, 1 failure, 2 usage or configuration error. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ck_deps_versions.h"  /* written by scripts/deps.sh: the Debian versions built in */
#include "cmd.h"
#include "../../lib/sandbox/sandbox.h"

extern char **environ;

/* One line on stderr; JSON logs get it as a log line so collectors see it. */
static void report(const struct ck_log *log, const struct ck_err *e)
{
    if (log && log->json)
        ck_error(log, "failed", "%s", e->msg);
    else
        fprintf(stderr, "certkeep: %s\n", e->msg);
}

volatile sig_atomic_t ck_cmd_signal, ck_cmd_stop;
int ck_cmd_argc;
char **ck_cmd_argv;

static void on_signal(int sig)
{
    ck_cmd_signal = sig;
    ck_cmd_stop = 1;
}

/* No SA_RESTART: a blocking call returns EINTR and the command takes its error
 * path (cleanup, lease release) instead of dying mid-way. run uses signalfd. */
static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Several certificates: run and serve take them all; init makes every required one
 * usable, one after the other; status shows each; the account commands act on the
 * shared account; the others act on the one --cert names (or the only one). */
static int dispatch(const struct ck_cmd *cmd, const struct ck_config *c,
                    const struct ck_log *log, struct ck_err *e)
{
    if (!strcmp(cmd->name, "run") || !strcmp(cmd->name, "serve"))
        return cmd->run(c, log, e);
    /* the shared account is every certificate's: any one names it */
    if (!strncmp(cmd->name, "account ", 8) && !c->account_per_cert && c->n_certs > 1)
        return cmd->run(&c->certs[0], log, e);
    int each = !strcmp(cmd->name, "init") || !strcmp(cmd->name, "status");
    if (!each || c->cert_pick || c->n_certs <= 1) {
        const struct ck_config *one = ck_config_pick(c, e);
        return one ? cmd->run(one, log, e) : -1;
    }
    if (ck_config_validate_for(c, cmd->name, e))
        return -1;
    for (size_t i = 0; i < c->n_certs; i++) {
        const struct ck_config *one = &c->certs[i];
        if (!strcmp(cmd->name, "init") && !one->required) {
            ck_info(log, "init", "%s: not required; run keeps it", one->cert_name);
            continue;
        }
        if (cmd->run(one, log, e))
            return ck_wrap(e, "%s", one->cert_name);
    }
    return 0;
}

static int run_command(const struct ck_cmd *cmd, int argc, char **argv)
{
    struct ck_config c;
    struct ck_err e;
    struct ck_log log;
    ck_err_clear(&e);
    ck_cmd_argc = argc;
    ck_cmd_argv = argv;
    if (ck_config_load(&c, argc, argv, environ, &e)) {
        report(NULL, &e);
        return e.kind == CK_E_USAGE ? 2 : 1;
    }
    ck_log_init(&log, stderr, c.log_level, c.log_json);
    struct ck_keeper_proc proc;
    ck_keeper_proc_init(&proc, &ck_cmd_signal, &ck_cmd_stop);
    ck_keeper_attach(&c, &proc);
    int rc;
    if (c.n_args > 0) {
        rc = ck_failk(&e, CK_E_USAGE, "%s: unexpected argument \"%.64s\"", cmd->name, c.args[0]);
    } else {
        if (c.s3.allow_http && ck_config_s3_cleartext(&c))
            ck_warn(&log, "store", "store.s3.allow_http: the S3 endpoint is plain http off "
                    "loopback; keys and credentials cross the network in the clear");
        rc = dispatch(cmd, &c, &log, &e);  /* each command checks what it needs */
    }
    int sig = ck_cmd_signal;
    if (rc && sig) {
        fprintf(stderr, "certkeep: interrupted by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        ck_keeper_proc_free(&proc);
        ck_config_free(&c);
        return 128 + sig;
    }
    if (rc)
        report(&log, &e);
    ck_keeper_proc_free(&proc);
    ck_config_free(&c);
    return rc ? (e.kind == CK_E_USAGE ? 2 : 1) : 0;
}

int main(int argc, char **argv)
{
    struct ck_err e;
    if (ck_sandbox_protect_relro(&e) != 0 || ck_sandbox_seal_memory(&e) != 0) {
        report(NULL, &e);
        return 1;
    }
    /* A peer that hangs up must give an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        ck_cmd_usage(stderr);
        return 2;
    }
    int sub;
    const struct ck_cmd *cmd = ck_cmd_lookup(argc, argv, &sub);
    if (!cmd)
        return 2;
    argc -= sub;
    argv += sub;
    if (ck_cmd_wants_help(argc - 2, argv + 2)) {
        ck_cmd_command_usage(cmd, stdout);
        return 0;
    }
    if (!strcmp(cmd->name, "version")) {
        printf("certkeep %s\nbuilt with %s\n", CK_VERSION, CK_DEPS_VERSIONS);
        return 0;
    }
    if (!strcmp(cmd->name, "help"))
        return ck_cmd_help(argc - 2, argv + 2);
    if (strcmp(cmd->name, "run") != 0)
        catch_stop_signals();
    ck_sandbox_raise_nofile();
    return run_command(cmd, argc - 2, argv + 2);
}
