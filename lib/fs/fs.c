#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#ifndef O_TMPFILE  /* glibc hides it without _GNU_SOURCE; the Linux value */
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif

/* Not secret, only unlikely to collide; O_EXCL / EEXIST retries settle the rest. */
uint32_t ck_fs_nonce(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
    x ^= (uint64_t)(uintptr_t)&ts;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

static int read_file(const char *path, int flags, size_t max, char **data, size_t *len,
                     struct ck_err *e)
{
    *data = NULL;
    if (len)
        *len = 0;
    if (max > SIZE_MAX / 4)
        max = SIZE_MAX / 4;
    /* O_NONBLOCK so that a FIFO planted at the path cannot hang us before fstat. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | flags);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        if (errno == ELOOP && (flags & O_NOFOLLOW))
            return ck_failk(e, CK_E_IO, "read %s: is a symlink, and certkeep made none there",
                            path);
        return ck_failk(e, CK_E_IO, "read %s: %s", path, strerror(errno));
    }
    int rc = -1;
    char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        ck_failk(e, CK_E_IO, "read %s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        ck_failk(e, CK_E_IO, "read %s: is a directory", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        ck_failk(e, CK_E_IO, "read %s: not a regular file", path);
        goto out;
    }
    if ((uintmax_t)st.st_size > (uintmax_t)max) {
        ck_failk(e, CK_E_IO, "read %s: larger than %zu bytes", path, max);
        goto out;
    }
    /* Size again while reading: the file may grow between fstat and read. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        ck_failk(e, CK_E_IO, "read %s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                ck_failk(e, CK_E_IO, "read %s: larger than %zu bytes", path, max);
                goto out;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            /* not realloc: the old block may hold a key, wiped before it is freed */
            char *nb = malloc(ncap + 1);
            if (!nb) {
                ck_failk(e, CK_E_IO, "read %s: out of memory", path);
                goto out;
            }
            memcpy(nb, buf, n);
            explicit_bzero(buf, n);
            free(buf);
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            ck_failk(e, CK_E_IO, "read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        ck_failk(e, CK_E_IO, "read %s: larger than %zu bytes", path, max);
        goto out;
    }
    buf[n] = '\0';
    *data = buf;
    buf = NULL;
    if (len)
        *len = n;
    rc = 0;
out:
    if (buf)
        explicit_bzero(buf, n); /* an error half-way: what was read may be a key */
    free(buf);
    close(fd);
    return rc;
}

int ck_fs_read(const char *path, size_t max, char **data, size_t *len, struct ck_err *e)
{
    return read_file(path, 0, max, data, len, e);
}

int ck_fs_read_own(const char *path, size_t max, char **data, size_t *len, struct ck_err *e)
{
    return read_file(path, O_NOFOLLOW, max, data, len, e);
}

int ck_fs_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int ck_fs_fsync_dir(const char *dir, struct ck_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ck_failk(e, CK_E_IO, "fsync %s: %s", dir, strerror(errno));
    /* Some file systems cannot fsync a directory; the rename is still done. */
    if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS) {
        int err = errno;
        close(fd);
        return ck_failk(e, CK_E_IO, "fsync %s: %s", dir, strerror(err));
    }
    close(fd);
    return 0;
}

int ck_fs_write_new(const char *path, const void *data, size_t len, mode_t mode,
                    struct ck_err *e)
{
    return ck_fs_write_new_at(AT_FDCWD, NULL, path, data, len, mode, e);
}

int ck_fs_write_new_at(int dfd, const char *where, const char *name, const void *data,
                       size_t len, mode_t mode, struct ck_err *e)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", where ? where : "", where ? "/" : "", name);
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int err = errno;
        ck_failk(e, CK_E_IO, "create %s: %s", path, strerror(err));
        errno = err; /* the caller retries another name on EEXIST */
        return -1;
    }
    /* Held until close: a sweeper that can take it knows the writer is gone. */
    (void)flock(fd, LOCK_EX | LOCK_NB);
    const char *what = "chmod";
    if (fchmod(fd, mode & 07777) < 0)
        goto fail;
    what = "write";
    if (ck_fs_write_all(fd, data, len) < 0)
        goto fail;
    what = "fsync";
    if (fsync(fd) < 0)
        goto fail;
    what = "close";
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail:;
    int err = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, name, 0);
    ck_failk(e, CK_E_IO, "%s %s: %s", what, path, strerror(err));
    errno = err;
    return -1;
}

/* Splits `path` into its directory ("." when none) and base name; -1 when too long. */
static int split_path(const char *path, char *dir, size_t dsz, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        return snprintf(dir, dsz, ".") >= (int)dsz ? -1 : 0;
    }
    *base = slash + 1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dsz)
        return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

#define STALE_TMP_S 600  /* older than any write in progress: a killed writer's */
#define UNLOCKED_TMP_S 2 /* unlocked and this old: closed, about to be renamed, or dead */

/* 1 when nobody holds the lock ck_fs_write_new takes while writing the file. */
static int tmp_unlocked(int dfd, const char *name)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int free_ = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    return free_;
}

/* Removes ".<base>.tmp.*" left in dir by a writer killed before its rename (one may
 * hold a private key): unlocked ones a few seconds old (a restarted process writes
 * the same file seconds later), and any ten minutes old (file systems without
 * flock). Best effort: a failure here changes nothing for the caller. */
static void sweep_stale_tmp_at(int dir_fd, const char *base)
{
    char prefix[NAME_MAX + 8];
    int n = snprintf(prefix, sizeof prefix, ".%s.tmp.", base);
    if (n < 0 || (size_t)n >= sizeof prefix)
        return;
    int dfd = dup(dir_fd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(de->d_name, prefix, (size_t)n) != 0 ||
            fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            now - st.st_mtime < UNLOCKED_TMP_S)
            continue;
        if (now - st.st_mtime < STALE_TMP_S && !tmp_unlocked(dfd, de->d_name))
            continue;
        unlinkat(dfd, de->d_name, 0);
    }
    closedir(d);
}

static void sweep_stale_tmp(const char *dir, const char *base)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        sweep_stale_tmp_at(dfd, base);
        close(dfd);
    }
}

int ck_fs_write_atomic_at(int dfd, const char *where, const char *name, const void *data,
                          size_t len, mode_t mode, struct ck_err *e)
{
    char tmp[NAME_MAX + 1];
    if (!*name || strchr(name, '/') || strlen(name) > NAME_MAX - 16)
        return ck_failk(e, CK_E_IO, "write %s/%s: bad file name", where, name);
    int rc = -1;
    for (int tries = 0; tries < 100 && rc < 0; tries++) {
        snprintf(tmp, sizeof tmp, ".%s.tmp.%06x", name, (unsigned)(ck_fs_nonce() & 0xffffff));
        rc = ck_fs_write_new_at(dfd, where, tmp, data, len, mode, e);
        if (rc < 0 && errno != EEXIST)
            return ck_wrap(e, "write %s/%s", where, name);
    }
    if (rc < 0)
        return ck_wrap(e, "write %s/%s", where, name);
    if (renameat(dfd, tmp, dfd, name) < 0) {
        int err = errno;
        unlinkat(dfd, tmp, 0);
        return ck_failk(e, CK_E_IO, "rename %s/%s: %s", where, name, strerror(err));
    }
    sweep_stale_tmp_at(dfd, name);
    if (fsync(dfd) < 0 && errno != EINVAL && errno != EROFS)
        return ck_failk(e, CK_E_IO, "fsync %s: %s", where, strerror(errno));
    return 0;
}

int ck_fs_open_below(const char *base, const char *rel, mode_t mode, struct ck_err *e)
{
    char shown[PATH_MAX], part[NAME_MAX + 1];
    int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ck_failk(e, CK_E_IO, "open %s: %s", base, strerror(errno));
    snprintf(shown, sizeof shown, "%s", base);
    for (const char *p = rel; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2))) {
            close(fd);
            return ck_failk(e, CK_E_IO, "open %s/%s: bad path", base, rel);
        }
        memcpy(part, p, n);
        part[n] = '\0';
        size_t used = strlen(shown);
        snprintf(shown + used, sizeof shown - used, "/%s", part);
        /* created: the umask must not narrow it */
        if (mode && mkdirat(fd, part, mode & 07777) == 0)
            (void)fchmodat(fd, part, mode & 07777, 0);
        int nfd = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (nfd < 0) {
            int err = errno;
            int link = fstatat(fd, part, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
            close(fd);
            if (link)
                return ck_failk(e, CK_E_IO, "%s is a symlink, and certkeep made none there: "
                                "refusing to follow it", shown);
            ck_failk(e, CK_E_IO, "open %s: %s", shown, strerror(err));
            errno = err;
            return -1;
        }
        close(fd);
        fd = nfd;
        /* no looser for writing than we would make it (best effort: a directory we do
         * not own stays as it is) */
        if (fstat(fd, &st) == 0 && (st.st_mode & 022 & ~mode))
            (void)fchmod(fd, st.st_mode & 07777 & ~(022 & ~mode));
        p += n;
        while (*p == '/')
            p++;
    }
    return fd;
}

int ck_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct ck_err *e)
{
    char dir[PATH_MAX], tmp[PATH_MAX];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) < 0 || !*base)
        return ck_failk(e, CK_E_IO, "write %s: bad path", path);
    int rc = -1;
    for (int tries = 0; tries < 100 && rc < 0; tries++) {
        int n = snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%06x", dir, base,
                         (unsigned)(ck_fs_nonce() & 0xffffff));
        if (n < 0 || (size_t)n >= sizeof tmp)
            return ck_failk(e, CK_E_IO, "write %s: path too long", path);
        rc = ck_fs_write_new(tmp, data, len, mode, e);
        if (rc < 0 && errno != EEXIST)
            return ck_wrap(e, "write %s", path);
    }
    if (rc < 0)
        return ck_wrap(e, "write %s", path);
    if (rename(tmp, path) < 0) {
        int err = errno;
        unlink(tmp);
        return ck_failk(e, CK_E_IO, "rename %s to %s: %s", tmp, path, strerror(err));
    }
    sweep_stale_tmp(dir, base);
    return ck_fs_fsync_dir(dir, e) < 0 ? ck_wrap(e, "write %s", path) : 0;
}

int ck_fs_mkdir_p(const char *path, mode_t mode, struct ck_err *e)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return ck_failk(e, CK_E_IO, "mkdir %s: bad path", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, mode & 07777) == 0) {
            /* The umask must not narrow what the caller asked for. */
            if (chmod(buf, mode & 07777) < 0)
                return ck_failk(e, CK_E_IO, "chmod %s: %s", buf, strerror(errno));
        } else if (errno == EEXIST) {
            struct stat st;
            if (stat(buf, &st) < 0)
                return ck_failk(e, CK_E_IO, "mkdir %s: %s", buf, strerror(errno));
            if (!S_ISDIR(st.st_mode))
                return ck_failk(e, CK_E_IO, "mkdir %s: exists and is not a directory", buf);
        } else {
            return ck_failk(e, CK_E_IO, "mkdir %s: %s", buf, strerror(errno));
        }
        if (c == '\0')
            break;
        *p = c;
        while (p[1] == '/')
            p++;
        if (p[1] == '\0')
            break;
    }
    return 0;
}

int ck_fs_check_room(const char *dir, size_t len, struct ck_err *e)
{
    static const char zeros[512];
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        if (access(dir, W_OK) != 0)
            return ck_failk(e, CK_E_IO, "%s: %s", dir, strerror(errno));
        return 0;
    }
    if (fd < 0)
        return ck_failk(e, CK_E_IO, "%s: %s", dir, strerror(errno));
    int rc = 0;
    for (size_t done = 0; done < len && rc == 0; done += sizeof zeros) {
        size_t n = len - done < sizeof zeros ? len - done : sizeof zeros;
        rc = ck_fs_write_all(fd, zeros, n);
    }
    if (rc == 0)
        rc = fsync(fd);
    if (rc != 0)
        ck_failk(e, CK_E_IO, "%s: %s", dir, strerror(errno));
    close(fd);
    return rc ? -1 : 0;
}
