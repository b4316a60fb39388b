/* Files on the volume: bounded reads, crash-safe writes, and the certificate
 * directory that switches key and chain together. */
#ifndef CK_FS_H
#define CK_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "../err/err.h"

/* Reads at most `max` bytes; a larger file, a directory or an unreadable file is
 * an error naming the path. *data is malloc'd and NUL-terminated. Returns 1 (not
 * -1) with no error set when the file does not exist. */
int ck_fs_read(const char *path, size_t max, char **data, size_t *len, struct ck_err *e);

/* As ck_fs_read, for a file certkeep made itself (<state>/account.key): a symlink
 * there is refused in one line naming it, never followed. */
int ck_fs_read_own(const char *path, size_t max, char **data, size_t *len, struct ck_err *e);

/* Temporary file in the same directory (mode set before any byte is written),
 * write, fsync, rename over `path`, fsync the directory. On any failure the
 * temporary is removed and `path` is untouched. */
int ck_fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                       struct ck_err *e);

/* ck_fs_write_atomic of `name` (a plain file name) in the directory fd dfd, from
 * ck_fs_open_below; `where` names that directory in errors. */
int ck_fs_write_atomic_at(int dfd, const char *where, const char *name, const void *data,
                          size_t len, mode_t mode, struct ck_err *e);

/* The directory <base>/<rel> ('/'-separated parts, no "." or ".."), opened part by
 * part from base without following a symlink (base itself may be one: the
 * operator's path). A symlink below base is refused in one line naming it. Missing
 * parts are created with `mode` (0: not created, an error with errno ENOENT); an
 * existing part writable by group or others beyond `mode` loses those bits. Returns
 * a directory fd (close-on-exec) or -1. */
int ck_fs_open_below(const char *base, const char *rel, mode_t mode, struct ck_err *e);

/* mkdir -p with `mode` for the directories it creates. */
int ck_fs_mkdir_p(const char *path, mode_t mode, struct ck_err *e);

/* Whether the directory can take `len` more bytes now: an unnamed file (O_TMPFILE)
 * is written, fsync'd and dropped, so nothing is left even when killed. A file
 * system without unnamed files is only asked for write permission. */
int ck_fs_check_room(const char *dir, size_t len, struct ck_err *e);

/* The certificate directory <out>/<name> is a symlink to a versioned directory
 * <out>/.certkeep/<name>.<stamp> holding fullchain.pem, cert.pem, chain.pem (0644) and
 * privkey.pem (0600); .certkeep and the versions are 0750 (the app's group may read,
 * nobody else). Publishing writes and fsyncs a new version, then swaps the
 * symlink with one rename, so a reader sees the old complete set or the new one,
 * never a mix (a reader wanting a matching pair resolves <out>/<name> once, e.g.
 * realpath(), then reads both files under it); older versions beyond the previous
 * one are removed. A plain directory left at <out>/<name> by another tool is migrated.
 * `name` must be a safe file name (no '/', no leading '.', no control characters). */
struct ck_cert_files {
    const char *fullchain; size_t fullchain_len;
    const char *cert;      size_t cert_len;
    const char *chain;     size_t chain_len;
    const char *privkey;   size_t privkey_len;
};
int ck_certdir_publish(const char *out_dir, const char *name, const struct ck_cert_files *f,
                       struct ck_err *e);
/* Writes `file` (a plain name) atomically into the current version of <out>/<name>, the
 * versions lock held, only when that version's cert.pem is exactly `cert` (so nothing
 * meant for one certificate lands beside another: a new version starts without it). */
int ck_certdir_put(const char *out_dir, const char *name, const char *cert, size_t cert_len,
                   const char *file, const void *data, size_t len, mode_t mode, struct ck_err *e);
/* Removes temporaries and versions a crash left behind (not the current one nor
 * its predecessor). */
int ck_certdir_cleanup(const char *out_dir, const char *name, struct ck_err *e);

#endif
