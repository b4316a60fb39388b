/* run's seccomp allow-list, installed in a forked child: what run needs still works,
 * ptrace, mount and (without a reload command) execve are refused with one line and
 * SIGSYS, and /proc shows the filter. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"

/* Runs fn in a child under the filter; its status, and its stderr in out. */
static int in_child(int with_exec, int (*fn)(void), char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ck_err e;
        size_t n = 0;
        dup2(p[1], 2);
        close(p[0]);
        if (ck_sandbox_run(with_exec, &n, &e) != 0) {
            dprintf(2, "install: %s\n", e.msg);
            _exit(90);
        }
        if (n < 50 || n > 200)
            _exit(91);
        /* raw exit_group: the sanitizers' _exit makes calls of its own */
        syscall(SYS_exit_group, fn());
    }
    close(p[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < cap && (r = read(p[0], out + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    close(p[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

/* What run does all day: files, a socket pair, a pipe, time, a fork. Raw calls, so
 * that no sanitizer runtime sits in between. */
static int allowed_calls(void)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    char buf[4096];
    ssize_t n = fd >= 0 ? syscall(SYS_read, fd, buf, sizeof buf - 1) : -1;
    if (n <= 0)
        return 1;
    buf[n] = '\0';
    syscall(SYS_close, fd);
    /* mode 2: filter */
    if (!strstr(buf, "Seccomp:\t2"))
        return 2;
    int sv[2];
    if (syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 3;
    if (syscall(SYS_write, sv[0], "x", 1) != 1 || syscall(SYS_read, sv[1], buf, 1) != 1)
        return 4;
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
        return 5;
    return 0;
}

static int try_ptrace(void)
{
    syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    return 10; /* not reached: refused */
}

static int try_mount(void)
{
    syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
    return 10;
}

static int try_execve(void)
{
    char *argv[] = {"/bin/true", NULL}, *envp[] = {NULL};
    syscall(SYS_execve, "/bin/true", argv, envp);
    return 11; /* execve failed for another reason */
}

#ifdef __x86_64__
static int try_x32(void)
{
    syscall(0x40000000 | SYS_getpid);
    return 10;
}
#endif

static void test_allowed(void **state)
{
    (void)state;
    char err[512];
    int st = in_child(0, allowed_calls, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child status %#x: %s", st, err);
}

static void refused(int (*fn)(void), long nr)
{
    char err[512], want[64];
    int st = in_child(0, fn, err, sizeof err);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
        fail_msg("child status %#x, not SIGSYS: %s", st, err);
    snprintf(want, sizeof want, "system call %ld is outside", nr);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "--no-seccomp"));
    assert_int_equal(strchr(err, '\n') - err + 1, (long)strlen(err)); /* one line */
}

static void test_ptrace_refused(void **state)
{
    (void)state;
    refused(try_ptrace, SYS_ptrace);
}

static void test_mount_refused(void **state)
{
    (void)state;
    refused(try_mount, SYS_mount);
}

/* execve only for a reload command: refused without, allowed with. */
static void test_execve(void **state)
{
    (void)state;
    char err[512];
    refused(try_execve, SYS_execve);
    int st = in_child(1, try_execve, err, sizeof err);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) /* /bin/true ran (under the filter too) */
        fail_msg("execve with a reload command: status %#x: %s", st, err);
}

#ifdef __x86_64__
/* x32 calls share the x86_64 audit arch: refused by number, killed without a word. */
static void test_x32_killed(void **state)
{
    (void)state;
    char err[512];
    int st = in_child(0, try_x32, err, sizeof err);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
        fail_msg("x32 call: child status %#x", st);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed),
        cmocka_unit_test(test_ptrace_refused),
        cmocka_unit_test(test_mount_refused),
        cmocka_unit_test(test_execve),
#ifdef __x86_64__
        cmocka_unit_test(test_x32_killed),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
