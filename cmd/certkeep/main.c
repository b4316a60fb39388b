/* certkeep: command dispatch. Exit 0 done, 1 failure, 2 usage or configuration error. */
#define _GNU_SOURCE /* dl_iterate_phdr in glibc (the ASan build); musl has it anyway */
#include <errno.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ck_deps_versions.h"  /* written by scripts/deps.sh: the Debian versions built in */
#include "cmd.h"

extern char **environ;

struct command {
    const char *name;
    int (*run)(const struct ck_config *c, const struct ck_log *log, struct ck_err *e);
    const char *summary;
};

static const struct command commands[] = {
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

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fputs("usage: certkeep COMMAND [flags]\n\n"
          "Gets a TLS certificate over ACME and keeps it valid.\n\ncommands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-18s %s\n", commands[i].name, commands[i].summary);
    fputs("\n\"certkeep COMMAND --help\" lists the flags. Every flag is also a key of the\n"
          "--config file and a CERTKEEP_* variable; flag > variable > file > default.\n"
          "Exit status: 0 done, 1 failure, 2 usage or configuration error.\n", out);
}

static void command_usage(const struct command *cmd, FILE *out)
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

static int wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return 0;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return 1;
    }
    return 0;
}

/* One line on stderr; JSON logs get it as a log line so collectors see it. */
static void report(const struct ck_log *log, const struct ck_err *e)
{
    if (log && log->json)
        ck_error(log, "failed", "%s", e->msg);
    else
        fprintf(stderr, "certkeep: %s\n", e->msg);
}

static int help(int argc, char **argv)
{
    if (argc < 1) {
        usage(stdout);
        return 0;
    }
    char two[80];
    snprintf(two, sizeof two, "%.8s %.64s", argv[0], argc > 1 ? argv[1] : "");
    const struct command *cmd = find(strcmp(argv[0], "account") ? argv[0] : two);
    if (!cmd) {
        fprintf(stderr, "certkeep: help: unknown command \"%.64s\"\n", argv[0]);
        return 2;
    }
    command_usage(cmd, stdout);
    return 0;
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
static int dispatch(const struct command *cmd, const struct ck_config *c,
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

static int run_command(const struct command *cmd, int argc, char **argv)
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

/* Descriptors for the listeners' connection slots (lib/listen, 1024 each): the soft
 * limit (often 1024) up to NOFILE_WANT, as far as the hard limit allows; below that
 * the listeners hold fewer connections. */
#define NOFILE_WANT 4096
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= NOFILE_WANT)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE_WANT ? rl.rlim_max
                                                                            : NOFILE_WANT;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* Keys live in this process's memory: no core file holds them, and no process of
 * the same user can read it (ptrace, /proc/PID/mem) as it could a dumpable one. */
static int seal_memory(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "certkeep: cannot turn off core dumps: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* The first object is the program. PT_GNU_RELRO made read-only, as a dynamic
 * loader does after relocating: musl's static start-up (rcrt1.o) relocates but
 * leaves it writable, so -z relro -z now would otherwise change nothing. */
static int relro_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    long page = sysconf(_SC_PAGESIZE);
    int *rc = data;
    for (size_t i = 0; page > 0 && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_GNU_RELRO)
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)(page - 1);
        if (end > start && mprotect((void *)start, end - start, PROT_READ) != 0)
            *rc = -1;
    }
    return 1;
}

static int protect_relro(void)
{
    int rc = 0;
    dl_iterate_phdr(relro_one, &rc);
    if (rc != 0)
        fprintf(stderr, "certkeep: cannot make relocations read-only: %s\n", strerror(errno));
    return rc;
}

int main(int argc, char **argv)
{
    if (protect_relro() != 0 || seal_memory() != 0)
        return 1;
    /* A peer that hangs up must give an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    if (!strcmp(name, "--version"))
        name = "version";
    /* "account rollover": two words, one command */
    char two[80];
    int sub = 0;
    if (!strcmp(name, "account")) {
        snprintf(two, sizeof two, "account %.64s", argc > 2 ? argv[2] : "");
        name = two;
        sub = argc > 2;
    }
    const struct command *cmd = find(name);
    if (!cmd) {
        if (!strncmp(name, "account ", 8))
            fprintf(stderr, "certkeep: account: say \"account rollover\" or \"account "
                    "deactivate\"\n");
        else
            fprintf(stderr, "certkeep: unknown command \"%.64s\" (try \"certkeep help\")\n", name);
        return 2;
    }
    argc -= sub;
    argv += sub;
    if (wants_help(argc - 2, argv + 2)) {
        command_usage(cmd, stdout);
        return 0;
    }
    if (!strcmp(cmd->name, "version")) {
        printf("certkeep %s\nbuilt with %s\n", CK_VERSION, CK_DEPS_VERSIONS);
        return 0;
    }
    if (!strcmp(cmd->name, "help"))
        return help(argc - 2, argv + 2);
    if (strcmp(cmd->name, "run") != 0)
        catch_stop_signals();
    raise_nofile();
    return run_command(cmd, argc - 2, argv + 2);
}
