/* Webroot mode: another web server serves the token files we write. */
#include "challenge.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fs/fs.h"
#include "challenge_int.h"

#define CHALLENGE_DIR "/.well-known/acme-challenge"

static int token_path(const char *webroot, const char *token, char *buf, size_t sz,
                      struct ck_err *e)
{
    if (!ck_token_ok(token))
        return ck_failk(e, CK_E_PROTOCOL, "webroot token \"%.64s\" is not base64url", token);
    int n = snprintf(buf, sz, "%s" CHALLENGE_DIR "/%s", webroot, token);
    if (n < 0 || (size_t)n >= sz)
        return ck_failk(e, CK_E_USAGE, "webroot %s: path too long", webroot);
    return 0;
}

int ck_webroot_put(const char *webroot, const char *token, const char *key_authz,
                   struct ck_err *e)
{
    char path[PATH_MAX], dir[PATH_MAX];
    struct stat st;
    if (token_path(webroot, token, path, sizeof path, e) < 0)
        return -1;
    /* A mistyped webroot must fail here, not later as a mysterious 404 at the CA. */
    if (stat(webroot, &st) < 0)
        return ck_failk(e, CK_E_IO, "webroot %s: %s", webroot, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return ck_failk(e, CK_E_IO, "webroot %s: not a directory", webroot);
    snprintf(dir, sizeof dir, "%s" CHALLENGE_DIR, webroot);
    /* the app shares the webroot: a symlink planted below it is not followed */
    int dfd = ck_fs_open_below(webroot, &CHALLENGE_DIR[1], 0755, e);
    if (dfd < 0)
        return ck_wrap(e, "webroot");
    int rc = ck_fs_write_atomic_at(dfd, dir, token, key_authz, strlen(key_authz), 0644, e);
    close(dfd);
    return rc < 0 ? ck_wrap(e, "webroot") : 0;
}

int ck_webroot_remove(const char *webroot, const char *token, struct ck_err *e)
{
    char path[PATH_MAX];
    struct ck_err ignored;
    if (token_path(webroot, token, path, sizeof path, e) < 0)
        return -1;
    int dfd = ck_fs_open_below(webroot, &CHALLENGE_DIR[1], 0, &ignored);
    if (dfd < 0)  /* nothing of ours there (gone, or not ours to follow): nothing to remove */
        return 0;
    int rc = unlinkat(dfd, token, 0) < 0 && errno != ENOENT ? -1 : 0;
    if (rc)
        ck_failk(e, CK_E_IO, "webroot remove %s: %s", path, strerror(errno));
    close(dfd);
    return rc;
}
