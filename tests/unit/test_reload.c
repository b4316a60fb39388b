/* lib/reload against real processes: children that count SIGHUPs (found by their
 * prctl name in /proc, with a same-named "worker" child that must not be
 * signalled, and by pidfile), hostile pidfiles, commands that fail, time out or
 * succeed, and a tiny Python HTTP server answering POST with 200 or 500. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reload/reload.h"

static char dir[64];

/* ---- helpers -------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Blocks SIGHUP and writes `tag` to fd for each one received, forever. */
static void hup_counter(int fd, char tag)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    for (;;) {
        int sig;
        if (sigwait(&s, &sig) == 0 && sig == SIGHUP && write(fd, &tag, 1) != 1)
            _exit(1);
    }
}

struct counter {
    pid_t pid;   /* its own process group: killing -pid takes the worker too */
    char name[16];
    int rfd;     /* 'm' per SIGHUP to the master, 'w' per SIGHUP to the worker */
};

/* A child named `name` (prctl), with a worker child of the same name when asked. */
static struct counter start_counter(const char *name, int with_worker)
{
    int p[2], ready[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(ready), 0);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGHUP);
    sigprocmask(SIG_BLOCK, &s, &old); /* inherited: no HUP can kill them before sigwait */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed assertion must not leave it behind */
        prctl(PR_SET_NAME, name, 0, 0, 0);
        close(p[0]);
        close(ready[0]);
        if (with_worker) {
            pid_t w = fork();
            if (w == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (write(ready[1], "w", 1) != 1)
                    _exit(1);
                hup_counter(p[1], 'w');
            }
        }
        if (write(ready[1], "m", 1) != 1)
            _exit(1);
        hup_counter(p[1], 'm');
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(p[1]);
    close(ready[1]);
    char buf[2];
    size_t want = with_worker ? 2 : 1, got = 0;
    while (got < want) {
        ssize_t n = read(ready[0], buf, want - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(ready[0]);
    struct counter c = { .pid = pid, .rfd = p[0] };
    snprintf(c.name, sizeof c.name, "%s", name);
    return c;
}

static void stop_counter(struct counter *c)
{
    kill(-c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    close(c->rfd);
    /* the worker is reaped by someone else and may still be dying on a loaded machine:
     * wait (up to 10 s) until no live process has the name */
    struct ck_err e;
    int n = 1;
    for (int i = 0; i < 1000 && ck_reload_signal_name(NULL, c->name, 0, &n, &e) == 0 && n > 0; i++)
        usleep(10000);
}

/* Bytes the counter wrote within ms. */
static size_t read_tags(int fd, char *out, size_t cap, int ms)
{
    size_t len = 0;
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    while (len < cap && poll(&pfd, 1, ms) == 1) {
        ssize_t n = read(fd, out + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        ms = 100; /* after the first tag, only stragglers */
    }
    return len;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- by name -------------------------------------------------------------------- */

static void test_name_master_not_worker(void **state)
{
    (void)state;
    char name[16];
    snprintf(name, sizeof name, "ckm%d", (int)getpid());
    struct counter c = start_counter(name, 1);
    struct ck_err e;
    int n = -1;
    for (int round = 1; round <= 3; round++) {
        assert_int_equal(ck_reload_signal_name(NULL, name, SIGHUP, &n, &e), 0);
        assert_int_equal(n, 1);
        char tags[8];
        size_t got = read_tags(c.rfd, tags, sizeof tags, 2000);
        assert_int_equal(got, 1);
        assert_int_equal(tags[0], 'm');
    }
    stop_counter(&c);
}

static void test_name_two_masters(void **state)
{
    (void)state;
    char name[16];
    snprintf(name, sizeof name, "ck2m%d", (int)getpid());
    struct counter a = start_counter(name, 0), b = start_counter(name, 1);
    struct ck_err e;
    int n = -1;
    assert_int_equal(ck_reload_signal_name(NULL, name, SIGHUP, &n, &e), 0);
    assert_int_equal(n, 2);
    char tags[8];
    assert_int_equal(read_tags(a.rfd, tags, sizeof tags, 2000), 1);
    assert_int_equal(read_tags(b.rfd, tags, sizeof tags, 2000), 1);
    assert_int_equal(tags[0], 'm');
    stop_counter(&a);
    stop_counter(&b);
}

static void test_name_odd_comm(void **state)
{
    (void)state;
    /* ')' and blanks in comm: /proc/<pid>/stat must be parsed from the last ')' */
    const char *name = "a) S 1 (b";
    struct counter c = start_counter(name, 0);
    struct ck_err e;
    int n = -1;
    assert_int_equal(ck_reload_signal_name(NULL, name, SIGHUP, &n, &e), 0);
    assert_int_equal(n, 1);
    char tags[4];
    assert_int_equal(read_tags(c.rfd, tags, sizeof tags, 2000), 1);
    stop_counter(&c);
}

static void test_name_truncated_comm(void **state)
{
    (void)state;
    /* a script run by its #! line: comm is the first 15 bytes of its name */
    char script[128], name[64];
    snprintf(name, sizeof name, "certkeep-long-name-%d", (int)getpid());
    path_in(script, sizeof script, name);
    const char *body = "#!/bin/sh\ntrap 'echo h >>\"$0.hups\"' HUP\n: >\"$0.ready\"\n"
                       "while :; do sleep 0.05; done\n";
    write_file(script, body, strlen(body));
    chmod(script, 0755);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGHUP, SIG_DFL); /* a shell cannot trap a signal it started with ignored (nohup) */
        execl(script, script, (char *)NULL);
        _exit(127);
    }
    char ready[160];
    snprintf(ready, sizeof ready, "%s.ready", script);
    for (int i = 0; i < 1000 && access(ready, F_OK) != 0; i++) /* sh has set its trap; 10 s */
        usleep(10 * 1000);
    struct ck_err e;
    int n = -1;
    int rc = ck_reload_signal_name(NULL, name, SIGHUP, &n, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    char hups[160], buf[16];
    snprintf(hups, sizeof hups, "%s.hups", script);
    int found = 0;
    for (int i = 0; i < 500 && !found; i++) {
        FILE *f = fopen(hups, "r");
        if (f) {
            found = fgets(buf, sizeof buf, f) != NULL;
            fclose(f);
        }
        if (!found)
            usleep(20 * 1000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_true(found);
}

static void test_name_argv0(void **state)
{
    (void)state;
    /* comm is "sleep"; argv[0]'s basename is the name asked for */
    char name[32], argv0[64];
    snprintf(name, sizeof name, "ckargv%d", (int)getpid());
    snprintf(argv0, sizeof argv0, "/opt/app/%s", name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGHUP, SIG_DFL); /* not inherited as ignored (nohup): it must die of it */
        execl("/bin/sleep", argv0, "30", (char *)NULL);
        _exit(127);
    }
    struct ck_err e;
    int n = -1, rc = -1;
    for (int i = 0; i < 1000 && rc != 0; i++) { /* until the exec happened; 10 s */
        rc = ck_reload_signal_name(NULL, name, SIGHUP, &n, &e);
        if (rc != 0)
            usleep(10 * 1000);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGHUP);
}

static void test_name_missing(void **state)
{
    (void)state;
    struct ck_err e;
    int n = -1;
    assert_int_equal(ck_reload_signal_name(NULL, "ck-no-such-proc", SIGHUP, &n, &e), -1);
    assert_int_equal(n, 0);
    assert_non_null(strstr(e.msg, "ck-no-such-proc"));
    assert_non_null(strstr(e.msg, "no such process"));
    assert_int_equal(ck_reload_signal_name(NULL, "a/b", SIGHUP, &n, &e), -1);
    assert_int_equal(ck_reload_signal_name(NULL, "", SIGHUP, &n, &e), -1);
    assert_int_equal(ck_reload_signal_name("/nonexistent-proc", "x", SIGHUP, &n, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent-proc"));
    /* never ourselves, even when the name is ours */
    char self[32] = "";
    prctl(PR_GET_NAME, self, 0, 0, 0);
    char unique[16];
    snprintf(unique, sizeof unique, "cks%d", (int)getpid());
    prctl(PR_SET_NAME, unique, 0, 0, 0);
    int rc = ck_reload_signal_name(NULL, unique, SIGHUP, &n, &e);
    prctl(PR_SET_NAME, self, 0, 0, 0);
    assert_int_equal(rc, -1);
}

/* ---- by pidfile ----------------------------------------------------------------- */

static void test_pidfile_ok(void **state)
{
    (void)state;
    struct counter c = start_counter("ckpidfile", 0);
    char pf[128], text[32];
    path_in(pf, sizeof pf, "app.pid");
    int len = snprintf(text, sizeof text, "%d\n", (int)c.pid);
    write_file(pf, text, (size_t)len);
    struct ck_err e;
    int pid = 0;
    assert_int_equal(ck_reload_signal_pidfile(pf, SIGHUP, &pid, &e), 0);
    assert_int_equal(pid, c.pid);
    char tags[4];
    assert_int_equal(read_tags(c.rfd, tags, sizeof tags, 2000), 1);
    /* no newline, and CRLF, are fine too */
    len = snprintf(text, sizeof text, "%d", (int)c.pid);
    write_file(pf, text, (size_t)len);
    assert_int_equal(ck_reload_signal_pidfile(pf, SIGHUP, &pid, &e), 0);
    len = snprintf(text, sizeof text, "%d\r\n", (int)c.pid);
    write_file(pf, text, (size_t)len);
    assert_int_equal(ck_reload_signal_pidfile(pf, SIGHUP, &pid, &e), 0);
    assert_int_equal(read_tags(c.rfd, tags, sizeof tags, 2000), 2);
    stop_counter(&c);
}

static void expect_pidfile_refused(const char *content, size_t len, const char *needle)
{
    char pf[128];
    path_in(pf, sizeof pf, "bad.pid");
    write_file(pf, content, len);
    struct ck_err e;
    int pid = 0;
    assert_int_equal(ck_reload_signal_pidfile(pf, SIGHUP, &pid, &e), -1);
    assert_int_equal(pid, 0);
    assert_non_null(strstr(e.msg, pf));
    if (!strstr(e.msg, needle))
        fail_msg("\"%s\" not in \"%s\"", needle, e.msg);
}

static void test_pidfile_hostile(void **state)
{
    (void)state;
    const char *bad = "not a process id";
    expect_pidfile_refused("", 0, bad);
    expect_pidfile_refused("garbage\n", 8, bad);
    expect_pidfile_refused("-5\n", 3, bad);
    expect_pidfile_refused("+5\n", 3, bad);
    expect_pidfile_refused("1\n", 2, bad);
    expect_pidfile_refused("0\n", 2, bad);
    expect_pidfile_refused(" 42\n", 4, bad);
    expect_pidfile_refused("42abc\n", 6, bad);
    expect_pidfile_refused("42\n43\n", 6, bad);
    expect_pidfile_refused("42\0\n", 4, bad);
    expect_pidfile_refused("99999999999\n", 12, bad);
    expect_pidfile_refused("2147483648\n", 11, bad);
    expect_pidfile_refused("0x10\n", 5, bad);
    size_t big = 1 << 20;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, '7', big);
    expect_pidfile_refused(huge, big, "larger than");
    free(huge);

    /* a pid that no longer exists */
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0)
        _exit(0);
    waitpid(gone, NULL, 0);
    char text[32];
    int len = snprintf(text, sizeof text, "%d\n", (int)gone);
    expect_pidfile_refused(text, (size_t)len, "no such process");

    struct ck_err e;
    char p[128];
    path_in(p, sizeof p, "missing.pid");
    assert_int_equal(ck_reload_signal_pidfile(p, SIGHUP, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "missing.pid"));
    assert_int_equal(ck_reload_signal_pidfile(dir, SIGHUP, NULL, &e), -1);
    /* a FIFO must not block the caller */
    path_in(p, sizeof p, "fifo.pid");
    assert_int_equal(mkfifo(p, 0600), 0);
    long long t0 = now_ms();
    assert_int_equal(ck_reload_signal_pidfile(p, SIGHUP, NULL, &e), -1);
    assert_true(now_ms() - t0 < 1000);
}

/* ---- command -------------------------------------------------------------------- */

static void test_exec(void **state)
{
    (void)state;
    struct ck_err e;
    assert_int_equal(ck_reload_exec("/bin/true", NULL, 0, NULL, NULL, &e), 0);
    assert_int_equal(ck_reload_exec("  true  ", NULL, 0, NULL, NULL, &e), 0); /* looked up in PATH */
    assert_int_equal(ck_reload_exec("/bin/false", NULL, 0, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "/bin/false"));
    assert_non_null(strstr(e.msg, "status 1"));
    assert_int_equal(ck_reload_exec("/bin/sh -c exit${IFS}7", NULL, 0, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "status 7"));
    assert_int_equal(ck_reload_exec("/nonexistent/reload-me now", NULL, 0, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "/nonexistent/reload-me"));
    assert_int_equal(ck_reload_exec("", NULL, 0, NULL, NULL, &e), -1);
    assert_int_equal(ck_reload_exec(" \t ", NULL, 0, NULL, NULL, &e), -1);
    char many[256] = "/bin/true";
    for (int i = 0; i < 40; i++)
        strcat(many, " x");
    assert_int_equal(ck_reload_exec(many, NULL, 0, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "words"));
    char *longcmd = malloc(8192);
    assert_non_null(longcmd);
    memset(longcmd, 'a', 8191);
    longcmd[0] = '/';
    longcmd[8191] = '\0';
    assert_int_equal(ck_reload_exec(longcmd, NULL, 0, NULL, NULL, &e), -1);
    free(longcmd);
    /* killed by a signal */
    assert_int_equal(ck_reload_exec("/bin/sh -c kill${IFS}-9${IFS}$$", NULL, 0, NULL, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "signal 9"));
}

static void test_exec_env_and_args(void **state)
{
    (void)state;
    char script[128], out[128], cmd[512];
    path_in(script, sizeof script, "hook.sh");
    path_in(out, sizeof out, "hook.out");
    const char *body = "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$CERTKEEP_CERT_DIR\" \"$2\" \"$#\" >\"$1\"\n";
    write_file(script, body, strlen(body));
    chmod(script, 0755);
    setenv("CERTKEEP_CERT_DIR", "/stale", 1);
    snprintf(cmd, sizeof cmd, "%s %s  second\targ3", script, out);
    struct ck_err e;
    struct ck_reload_target t = {0};
    snprintf(t.cert_dir, sizeof t.cert_dir, "/certs/example.com");
    char **env = NULL;
    assert_int_equal(ck_reload_env(&t, &env, &e), 0);
    assert_int_equal(ck_reload_exec(cmd, env, 0, NULL, NULL, &e), 0);
    ck_reload_env_free(env);
    char got[256] = "";
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, "/certs/example.com|second|3\n");
    /* no environment given: PATH only, never ours */
    assert_int_equal(ck_reload_exec(cmd, NULL, 0, NULL, NULL, &e), 0);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    assert_string_equal(got, "|second|3\n");
    unsetenv("CERTKEEP_CERT_DIR");
}

/* The command sees PATH and the facts, not our secrets, and no descriptor of
 * ours: a pipe and a socket opened without close-on-exec stay behind. */
static void test_exec_minimal_env_and_fds(void **state)
{
    (void)state;
    char script[128], out[128], cmd[300];
    path_in(script, sizeof script, "dump.sh");
    path_in(out, sizeof out, "dump.out");
    const char *body = "#!/bin/sh\n{ env | sort; echo FDS; ls /proc/self/fd; } >\"$1\"\n";
    write_file(script, body, strlen(body));
    chmod(script, 0755);
    setenv("AWS_SECRET_ACCESS_KEY", "very-secret", 1);
    setenv("AWS_SESSION_TOKEN", "token-secret", 1);
    int p[2];
    assert_int_equal(pipe(p), 0);
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(sock > 2);
    char *names[] = {"a.example", "b.example"};
    struct ck_reload_target t = {.cert_name = "a.example", .names = names, .n_names = 2,
                                 .not_after = 1798761600};
    snprintf(t.cert_dir, sizeof t.cert_dir, "/certs/a.example");
    snprintf(t.serial, sizeof t.serial, "0abc");
    char **env = NULL;
    struct ck_err e;
    snprintf(cmd, sizeof cmd, "%s %s", script, out);
    assert_int_equal(ck_reload_env(&t, &env, &e), 0);
    assert_int_equal(ck_reload_exec(cmd, env, 0, NULL, NULL, &e), 0);
    ck_reload_env_free(env);
    char got[4096] = "";
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_null(strstr(got, "AWS_"));
    assert_null(strstr(got, "secret"));
    assert_non_null(strstr(got, "CERTKEEP_CERT_DIR=/certs/a.example\n"));
    assert_non_null(strstr(got, "CERTKEEP_CERT_NAME=a.example\n"));
    assert_non_null(strstr(got, "CERTKEEP_NAMES=a.example,b.example\n"));
    assert_non_null(strstr(got, "CERTKEEP_SERIAL=0abc\n"));
    assert_non_null(strstr(got, "CERTKEEP_NOT_AFTER=2027-01-01T00:00:00Z\n"));
    assert_non_null(strstr(got, "CERTKEEP_NOT_AFTER_UNIX=1798761600\n"));
    assert_non_null(strstr(got, "\nPATH="));
    /* ls's own directory descriptor is 3: 0, 1, 2 and that one, nothing else */
    const char *fds = strstr(got, "FDS\n");
    assert_non_null(fds);
    assert_string_equal(fds, "FDS\n0\n1\n2\n3\n");
    close(p[0]);
    close(p[1]);
    close(sock);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
}

static void test_exec_timeout_kills_group(void **state)
{
    (void)state;
    char script[128], pidf[128], cmd[300];
    path_in(script, sizeof script, "slow.sh");
    path_in(pidf, sizeof pidf, "slow.pid");
    /* a grandchild that would outlive a kill of the direct child alone */
    const char *body = "#!/bin/sh\nsleep 30 &\necho $! >\"$1\"\nwait\n";
    write_file(script, body, strlen(body));
    chmod(script, 0755);
    snprintf(cmd, sizeof cmd, "%s %s", script, pidf);
    struct ck_err e;
    long long t0 = now_ms();
    assert_int_equal(ck_reload_exec(cmd, NULL, 400, NULL, NULL, &e), -1);
    long long took = now_ms() - t0;
    assert_true(took >= 400 && took < 3000);
    assert_non_null(strstr(e.msg, "killed"));
    assert_non_null(strstr(e.msg, script));
    FILE *f = fopen(pidf, "r");
    assert_non_null(f);
    int gpid = 0;
    assert_int_equal(fscanf(f, "%d", &gpid), 1);
    fclose(f);
    /* gone, or a zombie waiting for whoever reaps orphans here */
    int alive = 1;
    for (int i = 0; i < 500 && alive; i++) {
        char sp[64], st[512] = "";
        snprintf(sp, sizeof sp, "/proc/%d/stat", gpid);
        FILE *s = fopen(sp, "r");
        if (!s) {
            alive = 0;
            break;
        }
        size_t n = fread(st, 1, sizeof st - 1, s);
        fclose(s);
        st[n] = '\0';
        char *p = strrchr(st, ')');
        alive = !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
        if (alive)
            usleep(20 * 1000);
    }
    assert_false(alive);
}

struct idle_count {
    int calls;
    long long max_ms;
};

static void count_idle(void *ctx, int max_ms)
{
    struct idle_count *c = ctx;
    c->calls++;
    if (max_ms > c->max_ms)
        c->max_ms = max_ms;
    usleep((useconds_t)max_ms * 1000);
}

static void test_exec_idle(void **state)
{
    (void)state;
    struct idle_count ic = { 0, 0 };
    struct ck_err e;
    long long t0 = now_ms();
    assert_int_equal(ck_reload_exec("/bin/sleep 0.3", NULL, 0, count_idle, &ic, &e), 0);
    assert_true(now_ms() - t0 >= 300);
    assert_true(ic.calls >= 5);
    assert_true(ic.max_ms > 0 && ic.max_ms <= 50);
    /* through ck_reload as well, and with the timeout */
    struct ck_reload_target t;
    memset(&t, 0, sizeof t);
    t.command = "/bin/sleep 5";
    t.timeout_ms = 200;
    t.idle = count_idle;
    t.idle_ctx = &ic;
    ic.calls = 0;
    assert_int_equal(ck_reload(&t, NULL, &e), -1);
    assert_true(ic.calls >= 3);
    assert_non_null(strstr(e.msg, "killed"));
}

/* ---- URL ------------------------------------------------------------------------ */

static pid_t py_pid;
static int py_port;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static const char server_py[] =
    "import http.server, sys\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get('Content-Length') or 0)\n"
    "        body = self.rfile.read(n) if n else b''\n"
    "        p = self.path.split('?')[0]\n"
    "        code = 200 if p == '/ok' else 500 if p == '/fail' else 404\n"
    "        with open(sys.argv[2], 'a') as f:\n"
    "            f.write('%s %s %d\\n' % (self.command, self.path, len(body)))\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Length', '2')\n"
    "        self.end_headers()\n"
    "        self.wfile.write(b'ok')\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

static int start_py(void)
{
    char script[128], log[128], port[16];
    path_in(script, sizeof script, "post_server.py");
    path_in(log, sizeof log, "post.log");
    write_file(script, server_py, strlen(server_py));
    py_port = free_port();
    if (py_port < 0)
        return -1;
    snprintf(port, sizeof port, "%d", py_port);
    py_pid = fork();
    if (py_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execlp("python3", "python3", script, port, log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 1000; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)py_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        close(s);
        if (ok)
            return 0;
        usleep(20 * 1000);
    }
    return -1;
}

static void test_post(void **state)
{
    (void)state;
    assert_int_equal(start_py(), 0);
    char url[128], log[128];
    struct ck_err e;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", py_port);
    assert_int_equal(ck_reload_post(NULL, url, &e), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fail", py_port);
    assert_int_equal(ck_reload_post(NULL, url, &e), -1);
    assert_non_null(strstr(e.msg, url));
    assert_non_null(strstr(e.msg, "HTTP 500"));
    /* a shared handle works as well */
    struct ck_http *h = NULL;
    struct ck_http_opts o = { .user_agent = "certkeep-test" };
    assert_int_equal(ck_http_new(&o, &h, &e), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", py_port);
    assert_int_equal(ck_reload_post(h, url, &e), 0);
    ck_http_free(h);
    /* nobody listening */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", free_port());
    assert_int_equal(ck_reload_post(NULL, url, &e), -1);
    assert_non_null(strstr(e.msg, "reload url"));
    path_in(log, sizeof log, "post.log");
    char got[256] = "";
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_string_equal(got, "POST /ok 0\nPOST /fail 0\nPOST /ok 0\n");
}

/* A reload URL's userinfo and query values never reach a log line or a message. */
static void test_post_redacts_credentials(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(ck_log_url("https://u:p@h.example:8443/a/b?token=s3&flag&z=#frag", out,
                                   sizeof out),
                        "https://***@h.example:8443/a/b?token=***&flag&z=***");
    assert_string_equal(ck_log_url("http://h/x", out, sizeof out), "http://h/x");
    assert_string_equal(ck_log_url("http://a@b@h/?k=v@w", out, sizeof out), "http://***@h/?k=***");
    assert_string_equal(ck_log_url("https://user:secret@host.example/p", out, 12), "https://***");

    char url[256], logbuf[4096] = "";
    FILE *lf = fmemopen(logbuf, sizeof logbuf, "w");
    assert_non_null(lf);
    setvbuf(lf, NULL, _IONBF, 0);
    struct ck_log log;
    ck_log_init(&log, lf, CK_LOG_DEBUG, 0);
    struct ck_reload_target t;
    memset(&t, 0, sizeof t);
    t.url = url;
    struct ck_err e;
    ck_err_clear(&e);
    snprintf(url, sizeof url, "http://admin:pa55word@127.0.0.1:%d/ok?token=t0ps3cret&v=1", py_port);
    assert_int_equal(ck_reload(&t, &log, &e), 0);
    snprintf(url, sizeof url, "http://admin:pa55word@127.0.0.1:%d/fail?token=t0ps3cret", py_port);
    assert_int_equal(ck_reload(&t, &log, &e), -1);
    assert_non_null(strstr(e.msg, "HTTP 500"));
    assert_null(strstr(e.msg, "pa55word"));
    assert_null(strstr(e.msg, "t0ps3cret"));
    snprintf(url, sizeof url, "http://admin:pa55word@127.0.0.1:%d/ok?token=t0ps3cret",
             free_port());
    assert_int_equal(ck_reload(&t, &log, &e), -1);
    assert_null(strstr(e.msg, "pa55word"));
    assert_null(strstr(e.msg, "t0ps3cret"));
    fclose(lf);
    char want[128];
    snprintf(want, sizeof want, "POST http://***@127.0.0.1:%d/ok?token=***&v=*** answered 2xx",
             py_port);
    assert_non_null(strstr(logbuf, want));
    assert_non_null(strstr(logbuf, "/fail?token=***"));
    assert_null(strstr(logbuf, "pa55word"));
    assert_null(strstr(logbuf, "t0ps3cret"));
    assert_null(strstr(logbuf, "admin"));
}

/* ---- several at once ------------------------------------------------------------ */

/* A pidfile naming another process than the one found by name: both get one signal. */
static void test_reload_name_and_other_pidfile(void **state)
{
    (void)state;
    char name[16], other[16], pf[128], text[32];
    snprintf(name, sizeof name, "ckn%d", (int)getpid());
    snprintf(other, sizeof other, "cko%d", (int)getpid());
    struct counter a = start_counter(name, 0), b = start_counter(other, 0);
    path_in(pf, sizeof pf, "other.pid");
    int len = snprintf(text, sizeof text, "%d\n", (int)b.pid);
    write_file(pf, text, (size_t)len);
    struct ck_reload_target t;
    memset(&t, 0, sizeof t);
    t.process = name;
    t.pidfile = pf;
    struct ck_err e;
    ck_err_clear(&e);
    assert_int_equal(ck_reload(&t, NULL, &e), 0);
    char tags[8];
    assert_int_equal(read_tags(a.rfd, tags, sizeof tags, 2000), 1);
    assert_int_equal(read_tags(b.rfd, tags, sizeof tags, 2000), 1);
    /* the name finds nothing: the pidfile's process is still told, and the failure said */
    t.process = "no-such-proc-ck";
    assert_int_equal(ck_reload(&t, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "no-such-proc-ck"));
    assert_int_equal(read_tags(b.rfd, tags, sizeof tags, 2000), 1);
    stop_counter(&a);
    stop_counter(&b);
}

static void test_reload_all(void **state)
{
    (void)state;
    char name[16], pf[128], url[128], text[32];
    snprintf(name, sizeof name, "cka%d", (int)getpid());
    struct counter c = start_counter(name, 1);
    path_in(pf, sizeof pf, "all.pid");
    int len = snprintf(text, sizeof text, "%d\n", (int)c.pid);
    write_file(pf, text, (size_t)len);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", py_port);

    char logbuf[4096] = "";
    FILE *lf = fmemopen(logbuf, sizeof logbuf, "w");
    assert_non_null(lf);
    setvbuf(lf, NULL, _IONBF, 0);
    struct ck_log log;
    ck_log_init(&log, lf, CK_LOG_INFO, 0);

    struct ck_reload_target t;
    memset(&t, 0, sizeof t);
    t.process = name;
    t.pidfile = pf;
    t.command = "/bin/true secret-arg";
    t.url = url;
    struct ck_err e;
    ck_err_clear(&e);
    assert_true(ck_reload_configured(&t));
    assert_int_equal(ck_reload(&t, &log, &e), 0);
    char tags[8];
    size_t got = read_tags(c.rfd, tags, sizeof tags, 2000);
    /* named both ways, signalled once (two SIGHUPs may coalesce, so the log says it
     * too); the worker never */
    assert_int_equal(got, 1);
    assert_int_equal(tags[0], 'm');
    assert_non_null(strstr(logbuf, "to 1 process(es) named"));
    assert_non_null(strstr(logbuf, "the pidfile's among them"));
    assert_null(strstr(logbuf, "sent to pid"));
    assert_null(strstr(logbuf, "secret-arg"));

    /* the process is gone, the command fails, the URL says 500: three lines, -1, the
     * first failure in e */
    stop_counter(&c);
    t.command = "/bin/false";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/fail", py_port);
    rewind(lf);
    memset(logbuf, 0, sizeof logbuf);
    assert_int_equal(ck_reload(&t, &log, &e), -1);
    assert_non_null(strstr(e.msg, name));
    assert_non_null(strstr(logbuf, "/bin/false"));
    assert_non_null(strstr(logbuf, "HTTP 500"));
    assert_non_null(strstr(logbuf, pf));
    int lines = 0;
    for (char *p = logbuf; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 4);
    fclose(lf);

    struct ck_reload_target none;
    memset(&none, 0, sizeof none);
    assert_false(ck_reload_configured(&none));
    assert_int_equal(ck_reload(&none, NULL, &e), 0);

    kill(py_pid, SIGTERM);
    waitpid(py_pid, NULL, 0);
}

static void test_from_config(void **state)
{
    (void)state;
    struct ck_config c;
    struct ck_err e;
    assert_int_equal(ck_config_init(&c, &e), 0);
    char *doms[] = { "example.com" };
    char **saved = c.domains;
    size_t saved_n = c.n_domains;
    c.domains = doms;
    c.n_domains = 1;
    char proc[] = "nginx", pidf[] = "/run/nginx.pid";
    c.reload_process = proc;
    c.reload_pidfile = pidf;
    struct ck_reload_target t;
    ck_reload_from_config(&t, &c);
    assert_string_equal(t.process, "nginx");
    assert_string_equal(t.pidfile, "/run/nginx.pid");
    assert_null(t.command);
    assert_int_equal(t.signal, SIGHUP);
    assert_string_equal(t.cert_dir, "/certs/example.com");
    c.reload_process = c.reload_pidfile = NULL;
    c.domains = saved;
    c.n_domains = saved_n;
    ck_config_free(&c);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ck-reload.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_master_not_worker),
        cmocka_unit_test(test_name_two_masters),
        cmocka_unit_test(test_name_odd_comm),
        cmocka_unit_test(test_name_truncated_comm),
        cmocka_unit_test(test_name_argv0),
        cmocka_unit_test(test_name_missing),
        cmocka_unit_test(test_pidfile_ok),
        cmocka_unit_test(test_pidfile_hostile),
        cmocka_unit_test(test_exec),
        cmocka_unit_test(test_exec_env_and_args),
        cmocka_unit_test(test_exec_minimal_env_and_fds),
        cmocka_unit_test(test_exec_timeout_kills_group),
        cmocka_unit_test(test_exec_idle),
        cmocka_unit_test(test_post),
        cmocka_unit_test(test_post_redacts_credentials),
        cmocka_unit_test(test_reload_name_and_other_pidfile),
        cmocka_unit_test(test_reload_all),
        cmocka_unit_test(test_from_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
