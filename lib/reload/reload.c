/* Telling the app: signals found through /proc or a pidfile, an exec'd command, an
 * HTTP POST. No shell anywhere: a FROM scratch image has none. */
#include "reload.h"
#include "../cert/cert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MATCHES 1024
#define MAX_CMDLINE 4096
#define MAX_PIDFILE 64
#define MAX_COMMAND 4096
#define MAX_ARGS 32

void ck_reload_from_config(struct ck_reload_target *t, const struct ck_config *c)
{
    memset(t, 0, sizeof *t);
    t->signal = c->reload_signal;
    t->process = c->reload_process;
    t->pidfile = c->reload_pidfile;
    t->command = c->reload_command;
    t->url = c->reload_url;
    const char *name = c->cert_name ? c->cert_name : (c->n_domains ? c->domains[0] : NULL);
    t->cert_name = name;
    t->names = c->domains;
    t->n_names = c->n_domains;
    if (c->out_dir && name) {
        int n = snprintf(t->cert_dir, sizeof t->cert_dir, "%s/%s", c->out_dir, name);
        if (n < 0 || (size_t)n >= sizeof t->cert_dir)
            t->cert_dir[0] = '\0'; /* config bounds paths far below this */
    }
}

int ck_reload_configured(const struct ck_reload_target *t)
{
    return t->process || t->pidfile || t->command || t->url;
}

/* ---- small bounded reads ---- */

/* Reads at most cap-1 bytes of a regular (or /proc) file; NUL-terminates; returns the
 * length, -1 with errno on failure, -2 when the file holds more than cap-1 bytes. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    int bad = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (bad) {
        close(fd);
        errno = bad;
        return -1;
    }
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            errno = err;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == cap) {
            close(fd);
            return -2;
        }
    }
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* ---- by name, through /proc ---- */

struct proc_match {
    pid_t pid, ppid;
    unsigned long long start;
};

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* ppid and start time from /proc/<pid>/stat; state 'Z' (zombie) is -1. The name in
 * field 2 may hold ')' and blanks, so parsing starts after the last ')'. */
static int read_stat(const char *root, const char *pid, pid_t *ppid, unsigned long long *start)
{
    char path[PATH_MAX], buf[1024];
    snprintf(path, sizeof path, "%s/%s/stat", root, pid);
    if (read_small(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    char state;
    long pp;
    if (sscanf(p + 1, " %c %ld", &state, &pp) != 2 || state == 'Z')
        return -1;
    /* field 22 (starttime) is the 20th after ')' */
    p++;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p, " %llu", start) != 1)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

static int name_matches(const char *root, const char *pid, const char *name)
{
    char path[PATH_MAX], buf[MAX_CMDLINE];
    snprintf(path, sizeof path, "%s/%s/comm", root, pid);
    ssize_t n = read_small(path, buf, 64);
    if (n > 0) {
        if (buf[n - 1] == '\n')
            buf[n - 1] = '\0';
        if (strcmp(buf, name) == 0)
            return 1;
        /* the kernel keeps 15 bytes of a longer name (a script run by its #! line) */
        if (strlen(buf) == 15 && strlen(name) > 15 && strncmp(buf, name, 15) == 0)
            return 1;
    }
    /* comm is settable by the process and cut: argv[0] is the fallback */
    snprintf(path, sizeof path, "%s/%s/cmdline", root, pid);
    n = read_small(path, buf, sizeof buf);
    if (n == -1 || n == 0)
        return 0; /* kernel threads have an empty cmdline */
    buf[sizeof buf - 1] = '\0'; /* a longer cmdline still has its argv[0] first */
    const char *base = strrchr(buf, '/');
    base = base ? base + 1 : buf;
    return strcmp(base, name) == 0;
}

static int by_start(const void *a, const void *b)
{
    const struct proc_match *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int collect(const char *root, const char *name, struct proc_match *m, size_t *n,
                   struct ck_err *e)
{
    DIR *d = opendir(root);
    if (!d)
        return ck_failk(e, CK_E_IO, "reload process %s: %s: %s", name, root, strerror(errno));
    pid_t self = getpid();
    struct dirent *de;
    *n = 0;
    while ((de = readdir(d)) != NULL) {
        if (!all_digits(de->d_name) || strlen(de->d_name) > 10)
            continue;
        long pid = strtol(de->d_name, NULL, 10);
        if (pid <= 0 || pid > INT_MAX || (pid_t)pid == self)
            continue;
        struct proc_match pm = { .pid = (pid_t)pid };
        if (!name_matches(root, de->d_name, name) ||
            read_stat(root, de->d_name, &pm.ppid, &pm.start) != 0)
            continue; /* gone meanwhile, or a zombie */
        if (*n == MAX_MATCHES) {
            closedir(d);
            return ck_fail(e, "reload process %s: more than %d processes match", name,
                           MAX_MATCHES);
        }
        m[(*n)++] = pm;
    }
    closedir(d);
    return 0;
}

/* The matching processes that are not workers of a matching master, oldest first. */
static int find_masters(const char *root, const char *name, pid_t *out, size_t *n_out,
                        struct ck_err *e)
{
    *n_out = 0;
    if (!name || !*name || strlen(name) > 255 || strchr(name, '/'))
        return ck_failk(e, CK_E_USAGE, "reload process \"%.64s\": not a process name",
                        name ? name : "");
    struct proc_match *m = malloc(MAX_MATCHES * sizeof *m);
    if (!m)
        return ck_fail(e, "reload process %s: out of memory", name);
    size_t n = 0;
    int rc = collect(root, name, m, &n, e);
    if (rc == 0) {
        qsort(m, n, sizeof *m, by_start);
        for (size_t i = 0; i < n; i++) {
            int child = 0;
            for (size_t j = 0; j < n && !child; j++)
                child = m[j].pid == m[i].ppid;
            if (!child)  /* not a worker of a matching master */
                out[(*n_out)++] = m[i].pid;
        }
    }
    free(m);
    return rc;
}

/* Signals each pid; a pid gone meanwhile (ESRCH) is not counted, another error is
 * the first one kept in *err, *err_pid. */
static int signal_pids(const pid_t *pids, size_t n, int sig, int *err, pid_t *err_pid)
{
    int sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (kill(pids[i], sig) == 0)
            sent++;
        else if (errno != ESRCH && !*err) {
            *err = errno;
            *err_pid = pids[i];
        }
    }
    return sent;
}

/* The outcome of signalling the processes found by name, as one error or none. */
static int name_result(const char *root, const char *name, int sig, int sent, int err,
                       pid_t err_pid, struct ck_err *e)
{
    if (err)
        return ck_failk(e, CK_E_IO, "reload process %s: signal %d to pid %d: %s", name, sig,
                        (int)err_pid, strerror(err));
    if (sent == 0)
        return ck_failk(e, CK_E_IO, "reload process %s: no such process in %s%s", name, root,
                        strcmp(root, "/proc") == 0 ? " (Kubernetes: shareProcessNamespace: true?)"
                                                   : "");
    return 0;
}

int ck_reload_signal_name(const char *proc_root, const char *name, int sig, int *n_signalled,
                          struct ck_err *e)
{
    const char *root = proc_root ? proc_root : "/proc";
    *n_signalled = 0;
    pid_t *pids = malloc(MAX_MATCHES * sizeof *pids);
    if (!pids)
        return ck_fail(e, "reload process %s: out of memory", name ? name : "");
    size_t n = 0;
    int rc = find_masters(root, name, pids, &n, e);
    if (rc == 0) {
        int err = 0;
        pid_t err_pid = 0;
        *n_signalled = signal_pids(pids, n, sig, &err, &err_pid);
        rc = name_result(root, name, sig, *n_signalled, err, err_pid, e);
    }
    free(pids);
    return rc;
}

/* ---- by pidfile ---- */

static int parse_pid(const char *s, pid_t *out)
{
    size_t nd = strspn(s, "0123456789");
    if (nd == 0 || nd > 10 || s[strspn(s + nd, " \t\r\n") + nd] != '\0')
        return -1;
    char digits[11];
    memcpy(digits, s, nd);
    digits[nd] = '\0';
    long long v = strtoll(digits, NULL, 10);
    if (v <= 1 || v > INT_MAX)
        return -1;
    *out = (pid_t)v;
    return 0;
}

static int read_pidfile(const char *pidfile, pid_t *pid, struct ck_err *e)
{
    char buf[MAX_PIDFILE];
    ssize_t n = read_small(pidfile, buf, sizeof buf);
    if (n == -2)
        return ck_failk(e, CK_E_IO, "reload pidfile %s: larger than %d bytes", pidfile,
                        MAX_PIDFILE - 1);
    if (n < 0)
        return ck_failk(e, CK_E_IO, "reload pidfile %s: %s", pidfile, strerror(errno));
    if (memchr(buf, '\0', (size_t)n) || parse_pid(buf, pid) != 0)
        return ck_failk(e, CK_E_IO, "reload pidfile %s: not a process id greater than 1",
                        pidfile);
    return 0;
}

static int pidfile_kill_result(const char *pidfile, int sig, pid_t pid, struct ck_err *e)
{
    return ck_failk(e, CK_E_IO, "reload pidfile %s: signal %d to pid %d: %s", pidfile, sig,
                    (int)pid, errno == ESRCH ? "no such process" : strerror(errno));
}

int ck_reload_signal_pidfile(const char *pidfile, int sig, int *pid_out, struct ck_err *e)
{
    pid_t pid;
    if (read_pidfile(pidfile, &pid, e) != 0)
        return -1;
    if (kill(pid, sig) != 0)
        return pidfile_kill_result(pidfile, sig, pid, e);
    if (pid_out)
        *pid_out = (int)pid;
    return 0;
}

/* ---- command ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define MAX_ENV_VARS 8

void ck_reload_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

/* Appends "NAME=value" to env (room for MAX_ENV_VARS + NULL). */
static int env_add(char **env, size_t *n, const char *name, const char *value, struct ck_err *e)
{
    size_t len = strlen(name) + strlen(value) + 2;
    if (*n >= MAX_ENV_VARS || !(env[*n] = malloc(len)))
        return ck_fail(e, "reload command: out of memory");
    snprintf(env[*n], len, "%s=%s", name, value);
    (*n)++;
    return 0;
}

int ck_reload_env(const struct ck_reload_target *t, char ***out, struct ck_err *e)
{
    char **env = calloc(MAX_ENV_VARS + 1, sizeof *env), *names = NULL, num[32], when[32];
    size_t n = 0;
    const char *path = getenv("PATH");
    *out = NULL;
    if (!env)
        return ck_fail(e, "reload command: out of memory");
    int rc = env_add(env, &n, "PATH", path && *path ? path : DEFAULT_PATH, e);
    if (!rc && t->cert_dir[0])
        rc = env_add(env, &n, "CERTKEEP_CERT_DIR", t->cert_dir, e);
    if (!rc && t->cert_name)
        rc = env_add(env, &n, "CERTKEEP_CERT_NAME", t->cert_name, e);
    if (!rc && t->n_names) {
        size_t len = 1;
        for (size_t i = 0; i < t->n_names; i++)
            len += strlen(t->names[i]) + 1;
        if (!(names = calloc(1, len)))
            rc = ck_fail(e, "reload command: out of memory");
        for (size_t i = 0; !rc && i < t->n_names; i++) {
            if (i)
                strcat(names, ",");
            strcat(names, t->names[i]);
        }
        if (!rc)
            rc = env_add(env, &n, "CERTKEEP_NAMES", names, e);
    }
    if (!rc && t->serial[0]) {
        const char *sn = t->serial;  /* the number as openssl prints it: no DER sign byte */
        while (sn[0] == '0' && sn[1] == '0' && sn[2])
            sn += 2;
        rc = env_add(env, &n, "CERTKEEP_SERIAL", sn, e);
    }
    if (!rc && t->not_after) {
        ck_time_format(t->not_after, when);
        snprintf(num, sizeof num, "%lld", (long long)t->not_after);
        rc = env_add(env, &n, "CERTKEEP_NOT_AFTER", when, e);
        if (!rc)
            rc = env_add(env, &n, "CERTKEEP_NOT_AFTER_UNIX", num, e);
    }
    free(names);
    if (rc) {
        ck_reload_env_free(env);
        return -1;
    }
    *out = env;
    return 0;
}

/* Marks every descriptor above 2 close-on-exec, so the command inherits none of
 * ours: libcurl's sockets, run's pipes, a listener. Those opened by another thread
 * after this sweep carry O_CLOEXEC themselves. */
static void cloexec_all(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int self = dirfd(d);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char *end;
            long fd = strtol(de->d_name, &end, 10);
            if (*end == '\0' && end != de->d_name && fd > 2 && fd != self && fd <= INT_MAX) {
                int fl = fcntl((int)fd, F_GETFD);
                if (fl >= 0 && !(fl & FD_CLOEXEC))
                    fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
            }
        }
        closedir(d);
        return;
    }
    long max = sysconf(_SC_OPEN_MAX); /* no /proc: every possible descriptor */
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = 3; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
}

static int spawn_attrs(posix_spawnattr_t *a)
{
    sigset_t none, dfl;
    sigemptyset(&none);
    sigemptyset(&dfl);
    /* the sidecar may block or catch these; the command gets them plain */
    int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&dfl, sigs[i]);
    if (posix_spawnattr_init(a) != 0)
        return -1;
    if (posix_spawnattr_setflags(a, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF) != 0 ||
        posix_spawnattr_setpgroup(a, 0) != 0 || posix_spawnattr_setsigmask(a, &none) != 0 ||
        posix_spawnattr_setsigdefault(a, &dfl) != 0) {
        posix_spawnattr_destroy(a);
        return -1;
    }
    return 0;
}

/* Waits for pid until the deadline; kills its group then. */
static int wait_child(pid_t pid, long timeout_ms, void (*idle)(void *, int), void *idle_ctx,
                      const char *argv0, struct ck_err *e)
{
    long long deadline = now_ms() + timeout_ms;
    long nap = 1;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return ck_fail(e, "reload command %s: waitpid: %s", argv0, strerror(errno));
        if (now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return ck_fail(e, "reload command %s: still running after %ld ms, killed", argv0,
                           timeout_ms);
        }
        if (idle)
            idle(idle_ctx, (int)nap);
        else
            sleep_ms(nap);
        nap = nap < 25 ? nap * 2 : 50;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return ck_fail(e, "reload command %s: exited with status %d", argv0, WEXITSTATUS(status));
    return ck_fail(e, "reload command %s: killed by signal %d", argv0,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int ck_reload_exec(const char *command, char *const env[], long timeout_ms,
                   void (*idle)(void *ctx, int max_ms), void *idle_ctx, struct ck_err *e)
{
    char buf[MAX_COMMAND], *argv[MAX_ARGS + 1];
    size_t len = command ? strlen(command) : 0;
    if (len == 0 || len >= sizeof buf)
        return ck_failk(e, CK_E_USAGE, "reload command: empty or longer than %d bytes",
                        MAX_COMMAND - 1);
    memcpy(buf, command, len + 1);
    int argc = 0;
    for (char *save = NULL, *w = strtok_r(buf, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        if (argc == MAX_ARGS)
            return ck_failk(e, CK_E_USAGE, "reload command %s: more than %d words", buf,
                            MAX_ARGS);
        argv[argc++] = w;
    }
    if (argc == 0)
        return ck_failk(e, CK_E_USAGE, "reload command: only blanks");
    argv[argc] = NULL;
    if (timeout_ms <= 0)
        timeout_ms = CK_RELOAD_TIMEOUT_MS;

    int rc = -1;
    posix_spawnattr_t attr;
    if (spawn_attrs(&attr) != 0)
        return ck_fail(e, "reload command %s: spawn attributes", argv[0]);
    char path_only[sizeof DEFAULT_PATH + 8] = "PATH=" DEFAULT_PATH;
    char *no_env[] = {path_only, NULL};
    const char *path = getenv("PATH");
    if (!env) {
        if (path && *path && strlen(path) < sizeof path_only - 5)
            snprintf(path_only, sizeof path_only, "PATH=%s", path);
        env = no_env;
    }
    cloexec_all();
    pid_t pid;
    int err = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], NULL, &attr, argv, env)
                                   : posix_spawnp(&pid, argv[0], NULL, &attr, argv, env);
    if (err != 0) {
        ck_fail(e, "reload command %s: %s", argv[0], strerror(err));
        goto out;
    }
    rc = wait_child(pid, timeout_ms, idle, idle_ctx, argv[0], e);
out:
    posix_spawnattr_destroy(&attr);
    return rc;
}

/* ---- URL ---- */

int ck_reload_post(struct ck_http *h, const char *url, struct ck_err *e)
{
    struct ck_http *own = NULL;
    if (!h) {
        /* the app is local: a slow answer should not hold the caller long */
        struct ck_http_opts o = { .user_agent = "certkeep", .connect_timeout_ms = 5000,
                                  .timeout_ms = 10000 };
        if (ck_http_new(&o, &own, e) != 0)
            return ck_wrap(e, "reload url %s", ck_log_url(url, (char[512]){0}, 512));
        h = own;
    }
    struct ck_http_req req = { .method = "POST", .url = url, .max_body = 64 * 1024 };
    struct ck_http_resp resp;
    memset(&resp, 0, sizeof resp);
    int rc = -1;
    if (ck_http_do(h, &req, &resp, e) != 0) {
        ck_wrap(e, "reload url");
        goto out;
    }
    if (resp.status < 200 || resp.status > 299) {
        ck_failk(e, CK_E_PROTOCOL, "reload url %s: HTTP %ld", ck_log_url(url, (char[512]){0}, 512),
                 resp.status);
        goto out;
    }
    rc = 0;
out:
    ck_http_resp_free(&resp);
    ck_http_free(own);
    return rc;
}

/* ---- all of them ---- */

static void failed_one(const struct ck_log *log, struct ck_err *first, const struct ck_err *one,
                       int *failed)
{
    ck_error(log, "reload.failed", "%s", one->msg);
    if (!*failed)
        *first = *one;
    *failed = 1;
}

/* The processes found by name and by pidfile, each signalled once: a process that
 * both name (an nginx master writing its pidfile) would otherwise get two signals
 * for one change, and two SIGHUPs may coalesce into one or cause two reloads. */
static void signal_targets(const struct ck_reload_target *t, int sig, const struct ck_log *log,
                           struct ck_err *first, int *failed)
{
    if (!t->process && !t->pidfile)
        return;
    const char *root = t->proc_root ? t->proc_root : "/proc";
    struct ck_err one;
    pid_t *pids = malloc(MAX_MATCHES * sizeof *pids);
    if (!pids) {
        ck_fail(&one, "reload: out of memory");
        failed_one(log, first, &one, failed);
        return;
    }
    size_t n = 0;
    int found = 0;
    pid_t pf = 0;
    if (t->process) {
        if (find_masters(root, t->process, pids, &n, &one) == 0)
            found = 1;
        else
            failed_one(log, first, &one, failed);
    }
    if (t->pidfile && read_pidfile(t->pidfile, &pf, &one) != 0) {
        failed_one(log, first, &one, failed);
        pf = 0;
    }
    int among = 0;  /* the pidfile's process is one of those found by name */
    for (size_t i = 0; pf && i < n; i++)
        among |= pids[i] == pf;
    if (found) {
        int err = 0;
        pid_t err_pid = 0;
        int sent = signal_pids(pids, n, sig, &err, &err_pid);
        if (name_result(root, t->process, sig, sent, err, err_pid, &one) == 0)
            ck_info(log, "reload", "signal %d sent to %d process(es) named %s%s", sig, sent,
                    t->process, among ? ", the pidfile's among them" : "");
        else
            failed_one(log, first, &one, failed);
    }
    if (pf && !among) {
        if (kill(pf, sig) == 0)
            ck_info(log, "reload", "signal %d sent to pid %d from %s", sig, (int)pf, t->pidfile);
        else {
            pidfile_kill_result(t->pidfile, sig, pf, &one);
            failed_one(log, first, &one, failed);
        }
    }
    free(pids);
}

int ck_reload(const struct ck_reload_target *t, const struct ck_log *log, struct ck_err *e)
{
    int sig = t->signal > 0 ? t->signal : SIGHUP;
    int failed = 0;
    struct ck_err one;
    ck_err_clear(&one);
    signal_targets(t, sig, log, e, &failed);
    if (t->command) {
        char **env = NULL;
        int rc = ck_reload_env(t, &env, &one);
        if (rc == 0)
            rc = ck_reload_exec(t->command, env, t->timeout_ms, t->idle, t->idle_ctx, &one);
        ck_reload_env_free(env);
        if (rc == 0)
            ck_info(log, "reload", "command %.*s exited 0", (int)strcspn(t->command, " \t"),
                    t->command); /* its arguments may hold a secret */
        else
            failed_one(log, e, &one, &failed);
    }
    if (t->url) {
        if (ck_reload_post(t->http, t->url, &one) == 0)
            ck_info(log, "reload", "POST %s answered 2xx", ck_log_url(t->url, (char[512]){0}, 512));
        else
            failed_one(log, e, &one, &failed);
    }
    return failed ? -1 : 0;
}
