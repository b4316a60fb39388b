/* The command table: the command word(s) looked up, and the help texts (the usage,
 * certkeep help, COMMAND --help). */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct ck_cmd commands[] = {
    {"init", ck_cmd_init,
     "ensure a usable certificate in --out (from the volume, the store, or issued), exit"},
    {"run", ck_cmd_run, "do what init does, then stay: renew when due, reload the app"},
    {"issue", ck_cmd_issue, "obtain a new certificate now and write it to the output directory"},
    {"renew", ck_cmd_renew, "renew if due (--force: now; --now: ask the running run)"},
    {"status", ck_cmd_status, "what is held where: names, expiry, next renewal, last failure"},
    {"revoke", ck_cmd_revoke,
     "revoke the volume's certificate (--reason); init and run then issue a new one"},
    {"account rollover", ck_cmd_account_rollover,
     "a new ACME account key, taken by the CA and the store (every replica's)"},
    {"account deactivate", ck_cmd_account_deactivate,
     "deactivate the ACME account (--yes); the next order makes a new one"},
    {"serve", ck_cmd_serve,
     "answer http-01 from the store for replicas with challenge.http01_store (central validation)"},
    {"version", NULL, "print the version"},
    {"help", NULL, "show this help, or a command's"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct ck_cmd *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

const struct ck_cmd *ck_cmd_lookup(int argc, char **argv, int *sub)
{
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    if (!strcmp(name, "--version"))
        name = "version";
    /* "account rollover": two words, one command */
    char two[80];
    *sub = 0;
    if (!strcmp(name, "account")) {
        snprintf(two, sizeof two, "account %.64s", argc > 2 ? argv[2] : "");
        name = two;
        *sub = argc > 2;
    }
    const struct ck_cmd *cmd = find(name);
    if (!cmd) {
        if (!strncmp(name, "account ", 8))
            fprintf(stderr, "certkeep: account: say \"account rollover\" or \"account "
                    "deactivate\"\n");
        else
            fprintf(stderr, "certkeep: unknown command \"%.64s\" (try \"certkeep help\")\n", name);
    }
    return cmd;
}

void ck_cmd_usage(FILE *out)
{
    fputs("usage: certkeep COMMAND [flags]\n\n"
          "Gets a TLS certificate over ACME and keeps it valid.\n\ncommands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
    fputs("\n\"certkeep COMMAND --help\" lists the flags. Every flag is also a key of the\n"
          "--config file and a CERTKEEP_* variable; flag > variable > file > default.\n"
          "Exit status: 0 done, 1 failure, 2 usage or configuration error.\n", out);
}

void ck_cmd_command_usage(const struct ck_cmd *cmd, FILE *out)
{
    if (!cmd->run) {
        fprintf(out, "usage: certkeep %s%s\n\n%s\n", cmd->name,
                strcmp(cmd->name, "help") ? "" : " [COMMAND]", cmd->summary);
        return;
    }
    fprintf(out, "usage: certkeep %s [flags]\n\n%s\n\nflags:\n", cmd->name, cmd->summary);
    ck_config_print_flags(out);
    fputs("  -h, --help                   show this help\n", out);
}

int ck_cmd_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    }
    return 0;
}

int ck_cmd_help(int argc, char **argv)
{
    if (argc < 1) {
        ck_cmd_usage(stdout);
        return 0;
    }
    char two[80];
    snprintf(two, sizeof two, "%.8s %.64s", argv[0], argc > 1 ? argv[1] : "");
    const struct ck_cmd *cmd = find(strcmp(argv[0], "account") ? argv[0] : two);
    if (!cmd) {
        fprintf(stderr, "certkeep: help: unknown command \"%.64s\"\n", argv[0]);
        return 2;
    }
    ck_cmd_command_usage(cmd, stdout);
    return 0;
}
