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
    if (ck_fs_mkdir_p(dir, 0755, e) < 0)
        return ck_wrap(e, "webroot");
    if (ck_fs_write_atomic(path, key_authz, strlen(key_authz), 0644, e) < 0)
        return ck_wrap(e, "webroot");
    return 0;
}

int ck_webroot_remove(const char *webroot, const char *token, struct ck_err *e)
{
    char path[PATH_MAX];
    if (token_path(webroot, token, path, sizeof path, e) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return ck_failk(e, CK_E_IO, "webroot remove %s: %s", path, strerror(errno));
    return 0;
}
