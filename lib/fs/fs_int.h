/* Helpers shared by the files of lib/fs only. */
#ifndef CK_FS_INT_H
#define CK_FS_INT_H

#include <stdint.h>

#include "fs.h"

uint32_t ck_fs_nonce(void);
/* Writes all of `data`, retrying on EINTR and short writes; -1 with errno set. */
int ck_fs_write_all(int fd, const void *data, size_t len);
/* Creates `path` (O_EXCL, `mode` set before writing), writes, fsyncs; removes it on
 * failure. On failure errno is kept (EEXIST lets callers retry another name). */
int ck_fs_write_new(const char *path, const void *data, size_t len, mode_t mode,
                    struct ck_err *e);
/* The same, `name` in directory fd dfd (never through a symlink); `where` names it. */
int ck_fs_write_new_at(int dfd, const char *where, const char *name, const void *data,
                       size_t len, mode_t mode, struct ck_err *e);
int ck_fs_fsync_dir(const char *dir, struct ck_err *e);

#endif
