/* Commands of the certkeep binary. Each returns 0 on success or -1 with e
 * filled; main turns kind CK_E_USAGE into exit 2 and the rest into exit 1. */
#ifndef CK_CMD_H
#define CK_CMD_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "../../lib/keeper/keeper.h"

/* The SIGINT/SIGTERM that asked a one-shot command to stop (0: none), set by
 * main's handler; ck_cmd_stop is the http stop hook's copy, cleared to let the
 * lease release go out after the signal. */
extern volatile sig_atomic_t ck_cmd_signal, ck_cmd_stop;
/* The command's arguments (after the command word), for run's re-read on SIGHUP. */
extern int ck_cmd_argc;
extern char **ck_cmd_argv;

int ck_cmd_issue(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_init(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_status(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);

int ck_cmd_run(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_renew(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
/* The central http-01 responder: challenge.http01_listen, answered from the store. */
int ck_cmd_serve(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
/* certkeep revoke: the volume's certificate, with the account key, --reason. */
int ck_cmd_revoke(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
/* certkeep account rollover (RFC 8555 7.3.5) and deactivate (7.3.6, needs --yes). */
int ck_cmd_account_rollover(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
int ck_cmd_account_deactivate(const struct ck_config *c, const struct ck_log *log,
                              struct ck_err *e);

/* The command table (commands.c); run is NULL for version and help. */
struct ck_cmd {
    const char *name;
    int (*run)(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
    const char *summary;
};
/* argv[1] (with argv[2] for "account WORD": *sub 1) as a command; NULL after one line. */
const struct ck_cmd *ck_cmd_lookup(int argc, char **argv, int *sub);
void ck_cmd_usage(FILE *out);
void ck_cmd_command_usage(const struct ck_cmd *cmd, FILE *out);
/* A --help or -h among the arguments, before any "--". */
int ck_cmd_wants_help(int argc, char **argv);
/* certkeep help [COMMAND]: the exit status. */
int ck_cmd_help(int argc, char **argv);

#endif
