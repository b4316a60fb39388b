/* Directory backend: one file per key under the root, written atomically
 * (mode 0600: the store holds private keys). The etag is the SHA-256 of the
 * content; conditional puts check and write under an flock on <root>/.lock so
 * that processes sharing the directory see the same rules as on S3. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "store_int.h"

#define DIR_MAX_DEPTH 32
#define DIR_CMP_MAX (64u << 20) /* bound when reading an object only to compare its etag */

struct dir_store {
    char root[PATH_MAX];
};

static struct dir_store *D(struct ck_store *s)
{
    return s->impl;
}

static int key_path(struct ck_store *s, const char *key, char *out, size_t cap, struct ck_err *e)
{
    int n = snprintf(out, cap, "%s/%s", D(s)->root, key);
    if (n < 0 || (size_t)n >= cap)
        return ck_failk(e, CK_E_USAGE, "%s: path for %s is too long", s->name, key);
    return 0;
}

static int copy_etag(const char *hex, char *out, size_t cap, struct ck_store *s, struct ck_err *e)
{
    if (out == NULL)
        return 0;
    if (cap <= strlen(hex))
        return ck_fail(e, "%s: etag buffer too small", s->name);
    memcpy(out, hex, strlen(hex) + 1);
    return 0;
}

static int dir_get(struct ck_store *s, const char *key, size_t max, char **data, size_t *len,
                   char *etag, size_t etag_cap, struct ck_err *e)
{
    char path[PATH_MAX];
    if (key_path(s, key, path, sizeof path, e) != 0)
        return -1;
    int rc = ck_fs_read(path, max, data, len, e);
    if (rc == 1)
        return CK_STORE_NOTFOUND;
    if (rc != 0)
        return ck_wrap(e, "%s", s->name);
    if (etag != NULL) {
        char hex[65];
        ck_store_sha256_hex(*data, *len, hex);
        if (copy_etag(hex, etag, etag_cap, s, e) != 0) {
            explicit_bzero(*data, *len); /* may be a private key */
            free(*data);
            *data = NULL;
            return -1;
        }
    }
    return 0;
}

static int lock_root(struct ck_store *s, struct ck_err *e)
{
    char path[PATH_MAX];
    if (key_path(s, ".lock", path, sizeof path, e) != 0)
        return -1;
    /* never through a planted symlink (or into a FIFO): the lock is ours, a plain file */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 && errno == ELOOP)
        return ck_failk(e, CK_E_IO, "%s: %s is a symlink, and certkeep made none there", s->name,
                        path);
    if (fd < 0)
        return ck_failk(e, CK_E_IO, "%s: open %s: %s", s->name, path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ck_failk(e, CK_E_IO, "%s: %s is not a regular file", s->name, path);
    }
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int err = errno;
            close(fd);
            return ck_failk(e, CK_E_IO, "%s: lock %s: %s", s->name, path, strerror(err));
        }
    }
    return fd;
}

/* 0 when `cond` allows writing `path`, CK_STORE_CONFLICT when not, -1 on error. */
static int check_cond(struct ck_store *s, const char *key, const char *path, const char *cond,
                      struct ck_err *e)
{
    struct stat st;
    if (strcmp(cond, "*") == 0) {
        if (lstat(path, &st) == 0)
            return CK_STORE_CONFLICT;
        if (errno != ENOENT)
            return ck_failk(e, CK_E_IO, "%s: stat %s: %s", s->name, key, strerror(errno));
        return 0;
    }
    char *cur = NULL;
    size_t n = 0;
    int rc = ck_fs_read(path, DIR_CMP_MAX, &cur, &n, e);
    if (rc == 1)
        return CK_STORE_CONFLICT;
    if (rc != 0)
        return ck_wrap(e, "%s", s->name);
    char hex[65];
    ck_store_sha256_hex(cur, n, hex);
    explicit_bzero(cur, n); /* may be a private key */
    free(cur);
    return strcmp(hex, cond) == 0 ? 0 : CK_STORE_CONFLICT;
}

static int mkdir_parent(struct ck_store *s, const char *path, struct ck_err *e)
{
    char parent[PATH_MAX];
    size_t n = strlen(path);
    memcpy(parent, path, n + 1);
    char *slash = strrchr(parent, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    if (ck_fs_mkdir_p(parent, 0700, e) != 0)
        return ck_wrap(e, "%s", s->name);
    return 0;
}

static int dir_put(struct ck_store *s, const char *key, const void *data, size_t len,
                   const char *cond, char *etag_out, size_t etag_cap, struct ck_err *e)
{
    char path[PATH_MAX];
    if (key_path(s, key, path, sizeof path, e) != 0 || mkdir_parent(s, path, e) != 0)
        return -1;
    int fd = lock_root(s, e);
    if (fd < 0)
        return -1;
    int rc = cond ? check_cond(s, key, path, cond, e) : 0;
    if (rc == 0 && ck_fs_write_atomic(path, data, len, 0600, e) != 0)
        rc = ck_wrap(e, "%s", s->name);
    close(fd); /* releases the flock */
    if (rc == CK_STORE_CONFLICT)
        ck_failk(e, CK_E_GENERIC, "%s: %s: %s", s->name, key,
                 strcmp(cond, "*") == 0 ? "already exists" : "changed since it was read");
    if (rc == 0 && etag_out != NULL) {
        char hex[65];
        ck_store_sha256_hex(data, len, hex);
        rc = copy_etag(hex, etag_out, etag_cap, s, e);
    }
    return rc;
}

static int dir_del(struct ck_store *s, const char *key, struct ck_err *e)
{
    char path[PATH_MAX];
    if (key_path(s, key, path, sizeof path, e) != 0)
        return -1;
    int fd = lock_root(s, e);
    if (fd < 0)
        return -1;
    int rc = 0;
    if (unlink(path) < 0 && errno != ENOENT)
        rc = ck_failk(e, CK_E_IO, "%s: delete %s: %s", s->name, key, strerror(errno));
    close(fd);
    return rc;
}

/* Walks <root>/<rel>, adding regular files whose key starts with `prefix`.
 * Dot entries (our lock, temporaries) and symlinks are not keys. */
static int walk(struct ck_store *s, const char *rel, const char *prefix, int depth,
                struct ck_keylist *l, struct ck_err *e)
{
    char path[PATH_MAX];
    if (depth > DIR_MAX_DEPTH)
        return ck_failk(e, CK_E_IO, "%s: directories nested deeper than %d under %s", s->name,
                        DIR_MAX_DEPTH, rel);
    if (key_path(s, rel, path, sizeof path, e) != 0)
        return -1;
    DIR *d = opendir(path);
    if (d == NULL)
        return errno == ENOENT || errno == ENOTDIR
                   ? 0
                   : ck_failk(e, CK_E_IO, "%s: open directory %s: %s", s->name, path,
                              strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char key[PATH_MAX];
        int n = snprintf(key, sizeof key, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n > CK_STORE_KEY_MAX)
            continue; /* not a key we could have written */
        size_t pl = strlen(prefix);
        /* descend only where the prefix can still match */
        if (strncmp(key, prefix, (size_t)n < pl ? (size_t)n : pl) != 0)
            continue;
        struct stat st;
        struct ck_err ignored;
        if (key_path(s, key, path, sizeof path, e) != 0 || lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(s, key, prefix, depth + 1, l, e);
        else if (S_ISREG(st.st_mode) && (size_t)n >= pl &&
                 ck_store_key_check(key, 0, &ignored) == 0)
            rc = ck_keylist_add(l, key, (size_t)n, e);
    }
    if (rc == 0 && errno != 0)
        rc = ck_failk(e, CK_E_IO, "%s: read directory %s: %s", s->name, path, strerror(errno));
    closedir(d);
    return rc;
}

static int dir_list(struct ck_store *s, const char *prefix, char ***keys, size_t *n,
                    struct ck_err *e)
{
    struct ck_keylist l = { 0 };
    /* start at the deepest directory the prefix names */
    char rel[CK_STORE_KEY_MAX + 1];
    snprintf(rel, sizeof rel, "%s", prefix);
    char *slash = strrchr(rel, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        rel[0] = '\0';
    int depth = 0;
    for (const char *p = rel; *p; p++)
        depth += *p == '/';
    if (walk(s, rel, prefix, depth, &l, e) != 0) {
        ck_store_keys_free(l.v, l.n);
        return -1;
    }
    ck_keylist_sort(&l);
    *keys = l.v;
    *n = l.n;
    return 0;
}

static void dir_close(struct ck_store *s)
{
    free(s->impl);
    free(s);
}

static const struct ck_store_ops dir_ops = {
    .get = dir_get, .put = dir_put, .del = dir_del, .list = dir_list, .close = dir_close,
};

int ck_store_open_dir(const char *dir, struct ck_store **out, struct ck_err *e)
{
    *out = NULL;
    if (dir == NULL || dir[0] == '\0')
        return ck_failk(e, CK_E_USAGE, "store: empty directory name");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n + CK_STORE_KEY_MAX + 2 > PATH_MAX)
        return ck_failk(e, CK_E_USAGE, "store: directory name %.80s… is too long", dir);
    if (ck_fs_mkdir_p(dir, 0700, e) != 0)
        return ck_wrap(e, "store");
    struct ck_store *s = calloc(1, sizeof *s);
    struct dir_store *d = calloc(1, sizeof *d);
    if (s == NULL || d == NULL) {
        free(s);
        free(d);
        return ck_fail(e, "store: out of memory");
    }
    memcpy(d->root, dir, n);
    d->root[n] = '\0';
    if (n == 1 && dir[0] == '/')
        d->root[0] = '\0'; /* root itself: keys become "/<key>" */
    s->ops = &dir_ops;
    s->impl = d;
    snprintf(s->name, sizeof s->name, "dir %.300s", dir);
    *out = s;
    return 0;
}
