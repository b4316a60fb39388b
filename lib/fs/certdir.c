/* The versioned certificate directory: <out>/<name> -> .certkeep/<name>.<stamp>.<nonce>. */
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define VERSIONS_DIR ".certkeep"
#define DIR_MODE 0750 /* the app's group may read; nobody else (privkey is 0600 anyway) */
#define MAX_NAME 200
/* "YYYYmmddTHHMMSSZ.nnnnnnnnn-xxxx": fixed width, so name order is time order. */
#define STAMP_LEN 31

struct certdir {
    char out[PATH_MAX];
    char kdir[PATH_MAX];   /* <out>/.certkeep */
    char link[PATH_MAX];   /* <out>/<name> */
    char lnktmp[PATH_MAX]; /* <out>/.<name>.lnk.tmp */
    const char *name;
    int kfd;               /* <out>/.certkeep, opened without following a symlink, locked */
};

static int safe_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MAX_NAME || name[0] == '.')
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '/')
            return 0;
    return 1;
}

static int fmt_path(char *buf, size_t sz, struct ck_err *e, const char *fmt, const char *a,
                    const char *b)
{
    int n = snprintf(buf, sz, fmt, a, b);
    if (n < 0 || (size_t)n >= sz)
        return ck_failk(e, CK_E_IO, "path too long under %s", a);
    return 0;
}

static int certdir_init(struct certdir *c, const char *out, const char *name, struct ck_err *e)
{
    if (!safe_name(name))
        return ck_failk(e, CK_E_USAGE, "certificate name \"%.*s\" is not a safe file name",
                        MAX_NAME, name);
    c->name = name;
    if (fmt_path(c->out, sizeof c->out, e, "%s%s", out, "") < 0 ||
        fmt_path(c->kdir, sizeof c->kdir, e, "%s/%s", out, VERSIONS_DIR) < 0 ||
        fmt_path(c->link, sizeof c->link, e, "%s/%s", out, name) < 0 ||
        fmt_path(c->lnktmp, sizeof c->lnktmp, e, "%s/.%s.lnk.tmp", out, name) < 0)
        return -1;
    return 0;
}

/* A version of `name`: "<name>.<stamp>" with an optional ".tmp"; sets *is_tmp. */
static int is_version(const char *entry, const char *name, int *is_tmp)
{
    size_t n = strlen(name);
    if (strncmp(entry, name, n) != 0 || entry[n] != '.')
        return 0;
    const char *s = entry + n + 1;
    static const char shape[] = "DDDDDDDDTDDDDDDZ.DDDDDDDDD-XXXX";
    for (size_t i = 0; i < STAMP_LEN; i++) {
        char c = s[i], want = shape[i];
        int ok = want == 'D'   ? (c >= '0' && c <= '9')
                 : want == 'X' ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
                               : c == want;
        if (!ok)
            return 0;
    }
    if (s[STAMP_LEN] == '\0') {
        *is_tmp = 0;
        return 1;
    }
    if (strcmp(s + STAMP_LEN, ".tmp") == 0) {
        *is_tmp = 1;
        return 1;
    }
    return 0;
}

static void version_name(char *buf, size_t sz, const char *name)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(buf, sz, "%s.%s.%09ld-%04x", name, stamp, (long)ts.tv_nsec,
             (unsigned)(ck_fs_nonce() & 0xffff));
}

/* rm -r of one entry under `parent`, never following symlinks; depth-bounded. */
static int remove_tree_at(int parent, const char *entry, int depth)
{
    if (unlinkat(parent, entry, 0) == 0 || errno == ENOENT)
        return 0;
    if ((errno != EISDIR && errno != EPERM) || depth > 8)
        return -1;
    int fd = openat(parent, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_tree_at(dirfd(d), de->d_name, depth + 1) < 0)
            rc = -1;
    }
    closedir(d);
    if (unlinkat(parent, entry, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

/* The version <out>/<name> points to, or "" when it is not one of ours. */
static void current_version(const struct certdir *c, char *cur, size_t sz)
{
    char target[PATH_MAX];
    cur[0] = '\0';
    ssize_t n = readlink(c->link, target, sizeof target - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *prefix = VERSIONS_DIR "/";
    int is_tmp;
    if (strncmp(target, prefix, strlen(prefix)) != 0)
        return;
    const char *v = target + strlen(prefix);
    if (is_version(v, c->name, &is_tmp) && !is_tmp && strlen(v) < sz)
        memcpy(cur, v, strlen(v) + 1);
}

/* With the lock held: drops temporaries and every version but `cur` and `prev`.
 * prev NULL: the newest version older than `cur`. Unknown current: temporaries only. */
static int cleanup_locked(const struct certdir *c, const char *cur, const char *prev,
                          struct ck_err *e)
{
    if (remove_tree_at(AT_FDCWD, c->lnktmp, 0) < 0)
        return ck_failk(e, CK_E_IO, "remove %s: %s", c->lnktmp, strerror(errno));
    int dfd = dup(c->kfd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return ck_failk(e, CK_E_IO, "open %s: %s", c->kdir, strerror(errno));
    }
    char newest_older[NAME_MAX + 1] = "";
    struct dirent *de;
    if (!prev && cur[0]) {
        while ((de = readdir(d)) != NULL) {
            int is_tmp;
            if (is_version(de->d_name, c->name, &is_tmp) && !is_tmp &&
                strcmp(de->d_name, cur) < 0 && strcmp(de->d_name, newest_older) > 0)
                snprintf(newest_older, sizeof newest_older, "%s", de->d_name);
        }
        rewinddir(d);
        prev = newest_older;
    }
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        int is_tmp;
        if (!is_version(de->d_name, c->name, &is_tmp))
            continue;
        if (!is_tmp && (!cur[0] || strcmp(de->d_name, cur) == 0 ||
                        (prev && strcmp(de->d_name, prev) == 0)))
            continue;
        if (remove_tree_at(dirfd(d), de->d_name, 0) < 0 && rc == 0)
            rc = ck_failk(e, CK_E_IO, "remove %s/%s: %s", c->kdir, de->d_name,
                          strerror(errno));
    }
    closedir(d);
    return rc;
}

/* Opens <out>/.certkeep (created when `create`; a symlink there is refused) and
 * serialises publishers and cleaners of one volume; released by the kernel on a crash. */
static int lock_versions(struct certdir *c, int create, struct ck_err *e)
{
    int *fd = &c->kfd;
    *fd = ck_fs_open_below(c->out, VERSIONS_DIR, create ? DIR_MODE : 0, e);
    if (*fd < 0)
        return -1;
    while (flock(*fd, LOCK_EX) < 0) {
        if (errno == EINTR)
            continue;
        /* File systems without flock (some NFS): go on unlocked, as a lone writer. */
        if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL)
            break;
        int err = errno;
        close(*fd);
        *fd = -1;
        return ck_failk(e, CK_E_IO, "lock %s: %s", c->kdir, strerror(err));
    }
    return 0;
}

int ck_certdir_cleanup(const char *out_dir, const char *name, struct ck_err *e)
{
    struct certdir c;
    char cur[NAME_MAX + 1];
    if (certdir_init(&c, out_dir, name, e) < 0)
        return -1;
    struct stat st;
    if (lstat(c.kdir, &st) < 0 && errno == ENOENT)
        return 0;
    if (lock_versions(&c, 0, e) < 0)
        return -1;
    current_version(&c, cur, sizeof cur);
    int rc = cleanup_locked(&c, cur, NULL, e);
    close(c.kfd);
    return rc;
}

/* Writes the four files into a fresh <kdir>/<version>.tmp, fsyncs, renames it final;
 * all from the directory descriptor, so nothing is written through a planted symlink. */
static int write_version(const struct certdir *c, const char *version,
                         const struct ck_cert_files *f, struct ck_err *e)
{
    char tmp[NAME_MAX + 1], where[PATH_MAX + NAME_MAX + 2];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", version) >= (int)sizeof tmp)
        return ck_failk(e, CK_E_IO, "path too long under %s", c->kdir);
    snprintf(where, sizeof where, "%s/%s", c->kdir, tmp);
    if (mkdirat(c->kfd, tmp, DIR_MODE) < 0)
        return ck_failk(e, CK_E_IO, "mkdir %s: %s", where, strerror(errno));
    int tfd = openat(c->kfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0) {
        ck_failk(e, CK_E_IO, "open %s: %s", where, strerror(errno));
        goto fail;
    }
    const struct {
        const char *file, *data;
        size_t len;
        mode_t mode;
    } files[] = {
        {"privkey.pem", f->privkey, f->privkey_len, 0600},
        {"cert.pem", f->cert, f->cert_len, 0644},
        {"chain.pem", f->chain, f->chain_len, 0644},
        {"fullchain.pem", f->fullchain, f->fullchain_len, 0644},
    };
    if (fchmodat(c->kfd, tmp, DIR_MODE, 0) < 0) {
        ck_failk(e, CK_E_IO, "chmod %s: %s", where, strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if (ck_fs_write_new_at(tfd, where, files[i].file, files[i].data, files[i].len,
                               files[i].mode, e) < 0)
            goto fail;
    if (fsync(tfd) < 0 && errno != EINVAL && errno != EROFS) {
        ck_failk(e, CK_E_IO, "fsync %s: %s", where, strerror(errno));
        goto fail;
    }
    if (renameat(c->kfd, tmp, c->kfd, version) < 0) {
        ck_failk(e, CK_E_IO, "rename %s: %s", where, strerror(errno));
        goto fail;
    }
    close(tfd);
    if (fsync(c->kfd) < 0 && errno != EINVAL && errno != EROFS) {
        ck_failk(e, CK_E_IO, "fsync %s: %s", c->kdir, strerror(errno));
        remove_tree_at(c->kfd, version, 0);
        return -1;
    }
    return 0;
fail:
    if (tfd >= 0)
        close(tfd);
    remove_tree_at(c->kfd, tmp, 0);
    return -1;
}

/* <out>/<name> is a plain directory: put the link in its place and the directory
 * into .certkeep as version `mig`, atomically where the kernel can exchange. */
static int swap_migrating(const struct certdir *c, const char *mig, struct ck_err *e)
{
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof dst, "%s/%s", c->kdir, mig) >= (int)sizeof dst)
        return ck_failk(e, CK_E_IO, "path too long under %s", c->kdir);
    if (syscall(SYS_renameat2, AT_FDCWD, c->lnktmp, AT_FDCWD, c->link, RENAME_EXCHANGE) == 0) {
        if (renameat(AT_FDCWD, c->lnktmp, c->kfd, mig) < 0)
            return ck_failk(e, CK_E_IO, "move %s to %s: %s", c->lnktmp, dst, strerror(errno));
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS)
        return ck_failk(e, CK_E_IO, "swap %s: %s", c->link, strerror(errno));
    /* No exchange here: a brief moment without <out>/<name>, never a mixed set. */
    if (renameat(AT_FDCWD, c->link, c->kfd, mig) < 0)
        return ck_failk(e, CK_E_IO, "move %s to %s: %s", c->link, dst, strerror(errno));
    if (rename(c->lnktmp, c->link) < 0)
        return ck_failk(e, CK_E_IO, "rename %s: %s", c->link, strerror(errno));
    return 0;
}

static int switch_link(const struct certdir *c, const char *version, int migrate,
                       const char *mig, struct ck_err *e)
{
    char target[PATH_MAX];
    snprintf(target, sizeof target, VERSIONS_DIR "/%s", version);
    if (remove_tree_at(AT_FDCWD, c->lnktmp, 0) < 0)
        return ck_failk(e, CK_E_IO, "remove %s: %s", c->lnktmp, strerror(errno));
    /* Relative target: the volume still works when mounted at another path. */
    if (symlink(target, c->lnktmp) < 0)
        return ck_failk(e, CK_E_IO, "symlink %s: %s", c->lnktmp, strerror(errno));
    if (migrate) {
        if (swap_migrating(c, mig, e) < 0)
            goto fail;
    } else if (rename(c->lnktmp, c->link) < 0) {
        ck_failk(e, CK_E_IO, "rename %s: %s", c->link, strerror(errno));
        goto fail;
    }
    if (ck_fs_fsync_dir(c->out, e) < 0)
        return -1;
    if (migrate && fsync(c->kfd) < 0 && errno != EINVAL && errno != EROFS)
        return ck_failk(e, CK_E_IO, "fsync %s: %s", c->kdir, strerror(errno));
    return 0;
fail:
    unlink(c->lnktmp);
    return -1;
}

/* What <out>/<name> is now: sets *migrate for a plain directory, prev to our version. */
static int inspect_link(const struct certdir *c, int *migrate, char *prev, size_t sz,
                        struct ck_err *e)
{
    struct stat st;
    *migrate = 0;
    prev[0] = '\0';
    if (lstat(c->link, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return ck_failk(e, CK_E_IO, "stat %s: %s", c->link, strerror(errno));
    }
    if (S_ISLNK(st.st_mode)) {
        current_version(c, prev, sz);
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        *migrate = 1;
        return 0;
    }
    return ck_failk(e, CK_E_IO, "%s exists and is neither a directory nor a symlink", c->link);
}

int ck_certdir_publish(const char *out_dir, const char *name, const struct ck_cert_files *f,
                       struct ck_err *e)
{
    struct certdir c;
    char prev[NAME_MAX + 1], mig[NAME_MAX + 1], version[NAME_MAX + 1];
    int migrate;
    if (certdir_init(&c, out_dir, name, e) < 0)
        return -1;
    if (!f->fullchain || !f->cert || !f->chain || !f->privkey)
        return ck_failk(e, CK_E_GENERIC, "publish %s: a certificate file is missing", c.link);
    if (ck_fs_mkdir_p(c.out, 0755, e) < 0)
        return -1;
    if (lock_versions(&c, 1, e) < 0)
        return ck_wrap(e, "publish %s", c.link);
    int rc = -1;
    if (inspect_link(&c, &migrate, prev, sizeof prev, e) < 0)
        goto out;
    /* Named before the new version, so it sorts as the older of the two. */
    version_name(mig, sizeof mig, name);
    do
        version_name(version, sizeof version, name);
    while (strcmp(version, mig) == 0);
    if (write_version(&c, version, f, e) < 0)
        goto out;
    if (switch_link(&c, version, migrate, mig, e) < 0) {
        /* Only remove it if the link did not switch (an fsync may fail after it). */
        current_version(&c, prev, sizeof prev);
        if (strcmp(prev, version) != 0)
            remove_tree_at(c.kfd, version, 0);
        goto out;
    }
    rc = 0;
    /* Leftovers are harmless and retried next time, so a failure here is not one of publish. */
    struct ck_err ignored;
    cleanup_locked(&c, version, migrate ? mig : prev, &ignored);
out:
    close(c.kfd);
    return rc;
}

int ck_certdir_put(const char *out_dir, const char *name, const char *cert, size_t cert_len,
                   const char *file, const void *data, size_t len, mode_t mode, struct ck_err *e)
{
    struct certdir c;
    char cur[NAME_MAX + 1], where[PATH_MAX + NAME_MAX + 2], *have = NULL;
    size_t have_len = 0;
    if (certdir_init(&c, out_dir, name, e) < 0 || lock_versions(&c, 0, e) < 0)
        return -1;
    int rc = -1, vfd = -1;
    current_version(&c, cur, sizeof cur);
    snprintf(where, sizeof where, "%s/%s", c.kdir, cur);
    if (!cur[0]) {
        ck_failk(e, CK_E_IO, "%s is not a certificate certkeep published", c.link);
        goto out;
    }
    vfd = openat(c.kfd, cur, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd < 0) {
        ck_failk(e, CK_E_IO, "open %s: %s", where, strerror(errno));
        goto out;
    }
    int cfd = openat(vfd, "cert.pem", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd >= 0) {
        have = malloc(cert_len + 1);
        ssize_t n = have ? read(cfd, have, cert_len + 1) : -1;
        have_len = n < 0 ? 0 : (size_t)n;
        close(cfd);
    }
    if (!have || have_len != cert_len || memcmp(have, cert, cert_len) != 0) {
        ck_failk(e, CK_E_IO, "%s: the certificate changed meanwhile; %s not written", c.link, file);
        goto out;
    }
    rc = ck_fs_write_atomic_at(vfd, where, file, data, len, mode, e);
out:
    free(have);
    if (vfd >= 0)
        close(vfd);
    close(c.kfd);
    return rc;
}
