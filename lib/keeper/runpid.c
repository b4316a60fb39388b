/* <state>/run.pid: the running `run` holds an flock on it for its whole life, so
 * that `renew` finds it (and a pid left by a crash is never signalled: nobody
 * holds its lock). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "keeper.h"

static int pid_path(const struct ck_config *c, char *out, size_t cap, struct ck_err *e)
{
    int n = snprintf(out, cap, "%s/run.pid", c->state_dir);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "state directory path too long: %.64s...", c->state_dir);
    return 0;
}

int ck_keeper_run_lock(const struct ck_config *c, int *fd, struct ck_err *e)
{
    char path[PATH_MAX], pid[32];
    *fd = -1;
    if (pid_path(c, path, sizeof path, e) || ck_fs_mkdir_p(c->state_dir, 0700, e))
        return -1;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0)
        return ck_failk(e, CK_E_IO, "%s: %s", path, strerror(errno));
    if (flock(f, LOCK_EX | LOCK_NB)) {
        int err = errno;
        close(f);
        if (err == EWOULDBLOCK)
            return ck_failk(e, CK_E_IO, "%s: another certkeep run holds it", path);
        return ck_failk(e, CK_E_IO, "%s: flock: %s", path, strerror(err));
    }
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) || pwrite(f, pid, (size_t)n, 0) != n) {
        int err = errno;
        close(f);
        return ck_failk(e, CK_E_IO, "%s: %s", path, strerror(err));
    }
    *fd = f;
    return 0;
}

int ck_keeper_run_signal(const struct ck_config *c, int sig, long *pid_out, struct ck_err *e)
{
    char path[PATH_MAX], buf[32];
    *pid_out = 0;
    if (pid_path(c, path, sizeof path, e))
        return -1;
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0)
        return ck_fail(e, "no certkeep run on state directory %s (%s: %s)", c->state_dir, path,
                       strerror(errno));
    if (flock(f, LOCK_SH | LOCK_NB) == 0) {
        close(f);
        return ck_fail(e, "no certkeep run on state directory %s (%s: nobody holds it)",
                       c->state_dir, path);
    }
    ssize_t n = pread(f, buf, sizeof buf - 1, 0);
    close(f);
    buf[n > 0 ? n : 0] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (pid <= 1 || (*end && *end != '\n'))
        return ck_fail(e, "%s: no pid in it", path);
    if (kill((pid_t)pid, sig))
        return ck_fail(e, "certkeep run (pid %ld, %s): %s", pid, path, strerror(errno));
    *pid_out = pid;
    return 0;
}
