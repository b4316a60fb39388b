/* Telling the app that its certificate files changed (SPEC section 7): a signal
 * to processes found by name in /proc or to the pid in a pidfile, a command to
 * exec, a POST to a URL; any combination. The caller decides when (only after
 * the files are fully switched, only when they changed); this only tells. */
#ifndef CK_RELOAD_H
#define CK_RELOAD_H

#include <stdint.h>

#include "../config/config.h"
#include "../err/err.h"
#include "../http/http.h"
#include "../log/log.h"

#define CK_RELOAD_TIMEOUT_MS 60000L

/* Every pointer is borrowed; NULL means "not this way". */
struct ck_reload_target {
    int signal;               /* 0: SIGHUP */
    const char *process;      /* name: /proc/<pid>/comm, else basename of argv[0] */
    const char *pidfile;
    const char *command;      /* split on blanks, no shell; environment: ck_reload_env */
    const char *url;          /* POST, empty body; 2xx is success */
    long timeout_ms;          /* command: killed after this; 0: CK_RELOAD_TIMEOUT_MS */
    struct ck_http *http;     /* for url; NULL: a temporary one per call */
    const char *proc_root;    /* NULL: "/proc" (tests point elsewhere) */
    /* Called while a command runs, instead of sleeping, for at most max_ms: lets
     * the caller's loop go on (e.g. ck_health_serve). NULL: plain sleeps. */
    void (*idle)(void *ctx, int max_ms);
    void *idle_ctx;
    char cert_dir[1024];      /* value of CERTKEEP_CERT_DIR; "" leaves it unset */
    const char *cert_name;    /* CERTKEEP_CERT_NAME; NULL: unset */
    char *const *names;       /* CERTKEEP_NAMES, comma-separated; n_names 0: unset */
    size_t n_names;
    char serial[65];          /* CERTKEEP_SERIAL; "": unset */
    int64_t not_after;        /* CERTKEEP_NOT_AFTER (RFC 3339) and _UNIX; 0: unset */
};

/* Fills t from the config (reload.* keys, out/cert_name for the cert dir). */
void ck_reload_from_config(struct ck_reload_target *t, const struct ck_config *c);
/* 1 when at least one way is configured. */
int ck_reload_configured(const struct ck_reload_target *t);

/* Does every configured way, logging one line each (event "reload" or
 * "reload.failed"). When several fail, e holds the first failure and the others
 * are logged; returns -1 when any failed, 0 when all worked (or none is set). */
int ck_reload(const struct ck_reload_target *t, const struct ck_log *log, struct ck_err *e);

/* Signals every process named `name` whose parent is not also named `name`
 * (nginx's master, not its workers), never this process; *n_signalled gets the
 * count. None found is -1 naming the process. proc_root NULL: "/proc". */
int ck_reload_signal_name(const char *proc_root, const char *name, int sig, int *n_signalled,
                          struct ck_err *e);
/* Signals the pid in `pidfile`: decimal, optional trailing newline, > 1, alive. */
int ck_reload_signal_pidfile(const char *pidfile, int sig, int *pid_out, struct ck_err *e);
/* The reload command's whole environment: PATH (ours, else a default) and the
 * facts of t that are set, as CERTKEEP_CERT_DIR, CERTKEEP_CERT_NAME,
 * CERTKEEP_NAMES, CERTKEEP_SERIAL, CERTKEEP_NOT_AFTER, CERTKEEP_NOT_AFTER_UNIX;
 * nothing else of ours (no AWS_* credential). Free with ck_reload_env_free. */
int ck_reload_env(const struct ck_reload_target *t, char ***env, struct ck_err *e);
void ck_reload_env_free(char **env);
/* Runs `command` (absolute path or a name looked up in PATH, then arguments,
 * split on blanks, at most 32 words, no quoting), stdout/stderr inherited, in its
 * own process group; the group is killed after timeout_ms (0: default). Exit 0
 * is success. env: its environment (NULL: PATH only). It inherits descriptors
 * 0-2 only: every other one of ours is made close-on-exec first. idle: as in
 * struct ck_reload_target. The child is reaped with waitpid: SIGCHLD must not be
 * SIG_IGN. */
int ck_reload_exec(const char *command, char *const env[], long timeout_ms,
                   void (*idle)(void *ctx, int max_ms), void *idle_ctx, struct ck_err *e);
/* POSTs an empty body to url; 2xx is success. h NULL: a temporary handle. */
int ck_reload_post(struct ck_http *h, const char *url, struct ck_err *e);

#endif
