/* lib/fs: bounded reads, atomic writes, mkdir -p and the versioned certificate directory,
 * including SIGKILL in the middle of publishing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fs/fs.h"

/* snprintf that must not truncate */
#define SNP(buf, sz, ...) assert_true(snprintf((buf), (sz), __VA_ARGS__) < (int)(sz))

static char g_root[PATH_MAX];

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 32];
    SNP(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fail_msg("cannot remove %s", path);
}

static int setup(void **state)
{
    (void)state;
    SNP(g_root, sizeof g_root, "/tmp/ck_test_fs.XXXXXX");
    if (!mkdtemp(g_root))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(g_root);
    return 0;
}

static void path_of(char *buf, const char *rel)
{
    SNP(buf, PATH_MAX, "%s/%s", g_root, rel);
}

static void put_file(const char *path, const char *data)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(data, f);
    fclose(f);
}

static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

/* ---- ck_fs_read ---- */

static void test_read_ok_and_missing(void **state)
{
    (void)state;
    char p[PATH_MAX], *data = (char *)1;
    size_t len = 99;
    struct ck_err e;
    ck_err_clear(&e);
    path_of(p, "missing");
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), 1);
    assert_null(data);
    assert_string_equal(e.msg, "");

    path_of(p, "hello");
    put_file(p, "hello world");
    assert_int_equal(ck_fs_read(p, 11, &data, &len, &e), 0);
    assert_int_equal(len, 11);
    assert_string_equal(data, "hello world");
    free(data);

    /* symlinks are followed: volumes are made of them */
    char l[PATH_MAX];
    path_of(l, "hello.lnk");
    assert_int_equal(symlink("hello", l), 0);
    assert_int_equal(ck_fs_read(l, 100, &data, NULL, &e), 0);
    assert_string_equal(data, "hello world");
    free(data);

    path_of(p, "empty");
    put_file(p, "");
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), 0);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);
}

static void test_read_refusals(void **state)
{
    (void)state;
    char p[PATH_MAX], *data = NULL;
    size_t len;
    struct ck_err e;
    path_of(p, "big");
    put_file(p, "0123456789ab");
    assert_int_equal(ck_fs_read(p, 11, &data, &len, &e), -1);
    assert_null(data);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "larger than 11"));
    assert_int_equal(e.kind, CK_E_IO);

    path_of(p, "adir");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), -1);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "directory"));

    /* a FIFO must be refused, not waited on */
    path_of(p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), -1);
    assert_non_null(strstr(e.msg, "not a regular file"));

    /* a missing parent is "missing"; a file used as a directory is an error */
    path_of(p, "big/child");
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), -1);
    assert_non_null(strstr(e.msg, p));
}

/* ---- ck_fs_write_atomic ---- */

static void test_write_atomic(void **state)
{
    (void)state;
    char p[PATH_MAX], *data;
    struct ck_err e;
    struct stat st;
    mode_t old = umask(077);
    path_of(p, "w.txt");
    assert_int_equal(ck_fs_write_atomic(p, "one", 3, 0644, &e), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644); /* not narrowed by the umask */
    assert_int_equal(ck_fs_write_atomic(p, "second", 6, 0600, &e), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(ck_fs_read(p, 100, &data, NULL, &e), 0);
    assert_string_equal(data, "second");
    free(data);
    umask(old);
    assert_int_equal(count_entries(g_root, ".w.txt"), 0);

    /* a large write goes through the write loop */
    size_t big = 3 * 1024 * 1024;
    char *buf = malloc(big);
    assert_non_null(buf);
    for (size_t i = 0; i < big; i++)
        buf[i] = (char)('a' + i % 26);
    path_of(p, "big.bin");
    assert_int_equal(ck_fs_write_atomic(p, buf, big, 0644, &e), 0);
    size_t len;
    assert_int_equal(ck_fs_read(p, big, &data, &len, &e), 0);
    assert_int_equal(len, big);
    assert_memory_equal(data, buf, big);
    free(data);
    free(buf);
}

/* A writer killed before its rename leaves ".<name>.tmp.*" (maybe a key): the next
 * write of that name removes the ones no live writer holds, and nothing else. */
static void test_write_atomic_sweeps_stale_tmp(void **state)
{
    (void)state;
    char p[PATH_MAX], dead[PATH_MAX], live[PATH_MAX], fresh[PATH_MAX], other[PATH_MAX];
    struct ck_err e;
    path_of(p, "account.key");
    path_of(dead, ".account.key.tmp.abc123");   /* a killed writer's, 10 s ago */
    path_of(live, ".account.key.tmp.def456");   /* a writer still at it (holds the lock) */
    path_of(fresh, ".account.key.tmp.fed654");  /* just created */
    path_of(other, ".other.key.tmp.abc123");
    const char *files[] = {dead, live, fresh, other};
    int live_fd = -1;
    for (size_t i = 0; i < 4; i++) {
        int fd = open(files[i], O_WRONLY | O_CREAT | O_EXCL, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "secret", 6), 6);
        if (files[i] == live) {
            assert_int_equal(flock(fd, LOCK_EX), 0);
            live_fd = fd;
        } else {
            close(fd);
        }
    }
    struct timespec ago[2] = {{time(NULL) - 10, 0}, {time(NULL) - 10, 0}};
    for (size_t i = 0; i < 4; i++)
        if (files[i] != fresh)
            assert_int_equal(utimensat(AT_FDCWD, files[i], ago, 0), 0);
    assert_int_equal(ck_fs_write_atomic(p, "key", 3, 0600, &e), 0);
    assert_int_equal(access(dead, F_OK), -1);  /* gone */
    assert_int_equal(access(live, F_OK), 0);   /* kept: its writer holds it */
    assert_int_equal(access(fresh, F_OK), 0);  /* kept: may be between close and rename */
    assert_int_equal(access(other, F_OK), 0);  /* another file's: not ours */
    close(live_fd);
    for (size_t i = 1; i < 4; i++)
        unlink(files[i]);
    unlink(p);
}

static void test_write_atomic_errors(void **state)
{
    (void)state;
    char p[PATH_MAX], *data;
    struct ck_err e;
    path_of(p, "nodir/x.pem");
    assert_int_equal(ck_fs_write_atomic(p, "x", 1, 0644, &e), -1);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "No such file"));
    assert_int_equal(e.kind, CK_E_IO);

    /* rename over a directory fails: the temporary must go */
    path_of(p, "isdir");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(ck_fs_write_atomic(p, "x", 1, 0644, &e), -1);
    assert_non_null(strstr(e.msg, p));
    assert_int_equal(count_entries(g_root, ".isdir"), 0);

    /* a write that fails half-way (file size limit: EFBIG) leaves the original alone */
    path_of(p, "keep.txt");
    assert_int_equal(ck_fs_write_atomic(p, "original", 8, 0644, &e), 0);
    struct rlimit old, lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char big[10000];
    memset(big, 'z', sizeof big);
    int rc = ck_fs_write_atomic(p, big, sizeof big, 0644, &e);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "too large"));
    assert_int_equal(ck_fs_read(p, 100, &data, NULL, &e), 0);
    assert_string_equal(data, "original");
    free(data);
    assert_int_equal(count_entries(g_root, ".keep.txt"), 0);
}

/* ENOSPC on a real, tiny file system, when we may mount one. */
static void test_write_atomic_enospc(void **state)
{
    (void)state;
    char mnt[PATH_MAX], p[PATH_MAX], *data;
    struct ck_err e;
    path_of(mnt, "tiny");
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        rmdir(mnt);
        skip();
    }
    SNP(p, sizeof p, "%s/fullchain.pem", mnt);
    assert_int_equal(ck_fs_write_atomic(p, "old", 3, 0644, &e), 0);
    size_t n = 256 * 1024;
    char *buf = calloc(1, n);
    assert_non_null(buf);
    int rc = ck_fs_write_atomic(p, buf, n, 0644, &e);
    free(buf);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "No space left"));
    assert_int_equal(ck_fs_read(p, 100, &data, NULL, &e), 0);
    assert_string_equal(data, "old");
    free(data);
    assert_int_equal(count_entries(mnt, "."), 0); /* no temporary left */
    assert_int_equal(count_entries(mnt, ".fullchain"), 0);
    assert_int_equal(umount(mnt), 0);
}

/* ---- ck_fs_check_room ---- */

static void test_check_room(void **state)
{
    (void)state;
    char mnt[PATH_MAX], p[PATH_MAX];
    struct ck_err e;
    assert_int_equal(ck_fs_check_room(g_root, 100000, &e), 0);
    assert_int_equal(count_entries(g_root, ""), 0);  /* the probe leaves no name behind */
    path_of(p, "absent");
    assert_int_equal(ck_fs_check_room(p, 10, &e), -1);
    assert_non_null(strstr(e.msg, p));
    path_of(mnt, "small");
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        rmdir(mnt);
        skip();
    }
    assert_int_equal(ck_fs_check_room(mnt, 16384, &e), 0);
    assert_int_equal(ck_fs_check_room(mnt, 256 * 1024, &e), -1);
    assert_non_null(strstr(e.msg, mnt));
    assert_non_null(strstr(e.msg, "No space left"));
    assert_int_equal(count_entries(mnt, ""), 0);
    assert_int_equal(mount("tmpfs", mnt, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=64k"), 0);
    assert_int_equal(ck_fs_check_room(mnt, 16, &e), -1);
    assert_non_null(strstr(e.msg, "Read-only"));
    assert_int_equal(umount(mnt), 0);
}

/* ---- ck_fs_mkdir_p ---- */

static void test_mkdir_p(void **state)
{
    (void)state;
    char p[PATH_MAX];
    struct ck_err e;
    struct stat st;
    mode_t old = umask(077);
    path_of(p, "a/b//c/");
    assert_int_equal(ck_fs_mkdir_p(p, 0755, &e), 0);
    umask(old);
    path_of(p, "a/b/c");
    assert_int_equal(stat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_int_equal(ck_fs_mkdir_p(p, 0755, &e), 0); /* exists: fine */
    path_of(p, "a/f");
    put_file(p, "x");
    path_of(p, "a/f/g");
    assert_int_equal(ck_fs_mkdir_p(p, 0755, &e), -1);
    assert_non_null(strstr(e.msg, "not a directory"));
}

/* ---- ck_certdir ---- */

static void files_for(struct ck_cert_files *f, char bufs[4][64], const char *marker)
{
    SNP(bufs[0], 64, "%s fullchain\n", marker);
    SNP(bufs[1], 64, "%s cert\n", marker);
    SNP(bufs[2], 64, "%s chain\n", marker);
    SNP(bufs[3], 64, "%s privkey\n", marker);
    *f = (struct ck_cert_files){bufs[0], strlen(bufs[0]), bufs[1], strlen(bufs[1]),
                                bufs[2], strlen(bufs[2]), bufs[3], strlen(bufs[3])};
}

/* Checks <out>/<name> holds a complete set carrying one marker; returns the marker. */
static void check_set(const char *out, const char *name, char *marker, size_t msz)
{
    static const char *const names[] = {"fullchain", "cert", "chain", "privkey"};
    char p[PATH_MAX], first[64] = "";
    for (int i = 0; i < 4; i++) {
        char *data = NULL;
        struct ck_err e;
        SNP(p, sizeof p, "%s/%s/%s.pem", out, name, names[i]);
        int rc = ck_fs_read(p, 4096, &data, NULL, &e);
        if (rc != 0)
            fail_msg("%s: rc %d %s", p, rc, e.msg);
        char m[64], kind[32];
        assert_int_equal(sscanf(data, "%63s %31s", m, kind), 2);
        assert_string_equal(kind, names[i]);
        if (i == 0)
            SNP(first, sizeof first, "%s", m);
        else
            assert_string_equal(m, first);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, i == 3 ? 0600 : 0644);
        free(data);
    }
    SNP(marker, msz, "%s", first);
}

static void test_certdir_publish(void **state)
{
    (void)state;
    char out[PATH_MAX], kdir[PATH_MAX], lnk[PATH_MAX], target[PATH_MAX], marker[64];
    char bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    struct stat st;
    path_of(out, "out");
    SNP(kdir, sizeof kdir, "%s/.certkeep", out);
    SNP(lnk, sizeof lnk, "%s/example.com", out);

    files_for(&f, bufs, "v1");
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), 0);
    check_set(out, "example.com", marker, sizeof marker);
    assert_string_equal(marker, "v1");
    assert_int_equal(lstat(lnk, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(kdir, &st), 0);
    assert_int_equal(st.st_mode & 0007, 0); /* not world-readable */
    ssize_t n = readlink(lnk, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_int_equal(strncmp(target, ".certkeep/example.com.", 22), 0); /* relative */
    char v1[PATH_MAX];
    SNP(v1, sizeof v1, "%s", target);

    files_for(&f, bufs, "v2");
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), 0);
    check_set(out, "example.com", marker, sizeof marker);
    assert_string_equal(marker, "v2");
    n = readlink(lnk, target, sizeof target - 1);
    target[n] = '\0';
    assert_string_not_equal(target, v1);
    assert_int_equal(count_entries(kdir, "example.com."), 2);

    /* a third version pushes out the first; the previous one stays for readers */
    files_for(&f, bufs, "v3");
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), 0);
    check_set(out, "example.com", marker, sizeof marker);
    assert_string_equal(marker, "v3");
    assert_int_equal(count_entries(kdir, "example.com."), 2);
    char p[PATH_MAX];
    SNP(p, sizeof p, "%s/%s", out, v1);
    assert_int_equal(stat(p, &st), -1);

    /* another certificate name sharing the prefix is left alone */
    files_for(&f, bufs, "other");
    assert_int_equal(ck_certdir_publish(out, "example.com.b", &f, &e), 0);
    files_for(&f, bufs, "v4");
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), 0);
    check_set(out, "example.com.b", marker, sizeof marker);
    assert_string_equal(marker, "other");
    check_set(out, "example.com", marker, sizeof marker);
    assert_string_equal(marker, "v4");
}

/* A file beside the certificate (ocsp.der) goes into the current version, only for the
 * certificate it was made for; a new version starts without it. */
static void test_certdir_put(void **state)
{
    (void)state;
    char out[PATH_MAX], p[PATH_MAX], bufs[4][64], *data = NULL;
    size_t len = 0;
    struct ck_cert_files f;
    struct ck_err e;
    struct stat st;
    path_of(out, "put");
    files_for(&f, bufs, "v1");
    /* nothing published yet */
    assert_int_equal(ck_certdir_put(out, "a.example", f.cert, f.cert_len, "ocsp.der", "x", 1,
                                    0644, &e), -1);
    assert_int_equal(ck_certdir_publish(out, "a.example", &f, &e), 0);
    assert_int_equal(ck_certdir_put(out, "a.example", f.cert, f.cert_len, "ocsp.der", "resp1", 5,
                                    0644, &e), 0);
    SNP(p, sizeof p, "%s/a.example/ocsp.der", out);
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), 0);
    assert_string_equal(data, "resp1");
    free(data);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* made for another certificate (or a prefix of this one's): refused, the file stays */
    assert_int_equal(ck_certdir_put(out, "a.example", "v0 cert\n", 8, "ocsp.der", "resp0", 5,
                                    0644, &e), -1);
    assert_non_null(strstr(e.msg, "the certificate changed meanwhile"));
    assert_int_equal(ck_certdir_put(out, "a.example", f.cert, f.cert_len - 1, "ocsp.der", "r", 1,
                                    0644, &e), -1);
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), 0);
    assert_string_equal(data, "resp1");
    free(data);
    /* a new version: no response beside it until one is put for it */
    files_for(&f, bufs, "v2");
    assert_int_equal(ck_certdir_publish(out, "a.example", &f, &e), 0);
    assert_int_equal(stat(p, &st), -1);
    assert_int_equal(ck_certdir_put(out, "a.example", f.cert, f.cert_len, "ocsp.der", "resp2", 5,
                                    0644, &e), 0);
    assert_int_equal(ck_fs_read(p, 100, &data, &len, &e), 0);
    assert_string_equal(data, "resp2");
    free(data);
    /* a link that is not ours */
    SNP(p, sizeof p, "%s/b.example", out);
    assert_int_equal(symlink("/tmp", p), 0);
    assert_int_equal(ck_certdir_put(out, "b.example", f.cert, f.cert_len, "ocsp.der", "x", 1,
                                    0644, &e), -1);
    assert_non_null(strstr(e.msg, "is not a certificate certkeep published"));
}

/* Planted symlinks where certkeep made none are refused, naming the path; their
 * targets stay as they were; loose modes on directories we own are tightened. */
static void test_symlinks_refused(void **state)
{
    (void)state;
    char out[PATH_MAX], kdir[PATH_MAX], elsewhere[PATH_MAX], victim[PATH_MAX], p[PATH_MAX];
    char bufs[4][64], *data = NULL;
    struct ck_cert_files f;
    struct ck_err e;
    struct stat st;
    size_t len;
    path_of(out, "out");
    path_of(elsewhere, "elsewhere");
    SNP(kdir, sizeof kdir, "%s/.certkeep", out);
    SNP(victim, sizeof victim, "%s/victim", elsewhere);
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(mkdir(elsewhere, 0700), 0);
    put_file(victim, "precious\n");
    assert_int_equal(chmod(victim, 0644), 0);

    /* <out>/.certkeep -> elsewhere: no key written there */
    assert_int_equal(symlink(elsewhere, kdir), 0);
    files_for(&f, bufs, "v1");
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), -1);
    assert_non_null(strstr(e.msg, kdir));
    assert_non_null(strstr(e.msg, "symlink"));
    assert_int_equal(count_entries(elsewhere, ""), 1);
    assert_int_equal(ck_certdir_cleanup(out, "example.com", &e), -1);
    assert_int_equal(unlink(kdir), 0);

    /* a .certkeep left world-writable is tightened */
    assert_int_equal(mkdir(kdir, 0777), 0);
    assert_int_equal(chmod(kdir, 0777), 0);
    assert_int_equal(ck_certdir_publish(out, "example.com", &f, &e), 0);
    assert_int_equal(stat(kdir, &st), 0);
    assert_int_equal(st.st_mode & 022, 0);

    /* ck_fs_read_own: a symlink at a file certkeep made is refused, a file is read */
    SNP(p, sizeof p, "%s/own", out);
    assert_int_equal(symlink(victim, p), 0);
    assert_int_equal(ck_fs_read_own(p, 1024, &data, &len, &e), -1);
    assert_null(data);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "symlink"));
    assert_int_equal(ck_fs_read(p, 1024, &data, &len, &e), 0);  /* operators' files: followed */
    free(data);
    assert_int_equal(unlink(p), 0);
    put_file(p, "mine");
    assert_int_equal(ck_fs_read_own(p, 1024, &data, &len, &e), 0);
    assert_string_equal(data, "mine");
    free(data);
    SNP(p, sizeof p, "%s/none", out);
    assert_int_equal(ck_fs_read_own(p, 1024, &data, &len, &e), 1);

    /* ck_fs_open_below: parts below the base are never followed */
    SNP(p, sizeof p, "%s/web", g_root);
    assert_int_equal(mkdir(p, 0755), 0);
    char wk[PATH_MAX];
    SNP(wk, sizeof wk, "%s/.well-known", p);
    assert_int_equal(symlink(elsewhere, wk), 0);
    assert_int_equal(ck_fs_open_below(p, ".well-known/acme-challenge", 0755, &e), -1);
    assert_non_null(strstr(e.msg, wk));
    assert_int_equal(count_entries(elsewhere, ""), 1);
    assert_int_equal(unlink(wk), 0);
    int fd = ck_fs_open_below(p, ".well-known/acme-challenge", 0755, &e);
    assert_true(fd >= 0);
    assert_int_equal(ck_fs_write_atomic_at(fd, "web", "tok", "abc", 3, 0644, &e), 0);
    close(fd);
    SNP(wk, sizeof wk, "%s/.well-known/acme-challenge/tok", p);
    assert_int_equal(stat(wk, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);

    /* the target is untouched throughout */
    assert_int_equal(stat(victim, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(ck_fs_read(victim, 1024, &data, &len, &e), 0);
    assert_string_equal(data, "precious\n");
    free(data);
}

static void test_certdir_bad_names(void **state)
{
    (void)state;
    char out[PATH_MAX], bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    path_of(out, "out");
    files_for(&f, bufs, "x");
    const char *bad[] = {"", "..", ".hidden", "a/b", "../etc", "a\nb", "a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ck_certdir_publish(out, bad[i], &f, &e), -1);
        assert_non_null(strstr(e.msg, "not a safe file name"));
        assert_int_equal(ck_certdir_cleanup(out, bad[i], &e), -1);
    }
    /* a regular file in the way is not overwritten */
    assert_int_equal(mkdir(out, 0755), 0);
    char p[PATH_MAX];
    SNP(p, sizeof p, "%s/file.example", out);
    put_file(p, "mine");
    assert_int_equal(ck_certdir_publish(out, "file.example", &f, &e), -1);
    assert_non_null(strstr(e.msg, p));
}

static void test_certdir_migrates_plain_dir(void **state)
{
    (void)state;
    char out[PATH_MAX], dir[PATH_MAX], p[PATH_MAX], marker[64], bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    struct stat st;
    path_of(out, "out");
    SNP(dir, sizeof dir, "%s/legacy.org", out);
    assert_int_equal(ck_fs_mkdir_p(dir, 0755, &e), 0);
    SNP(p, sizeof p, "%s/cert.pem", dir);
    put_file(p, "old plain cert\n");
    files_for(&f, bufs, "new");
    assert_int_equal(ck_certdir_publish(out, "legacy.org", &f, &e), 0);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    check_set(out, "legacy.org", marker, sizeof marker);
    assert_string_equal(marker, "new");
    /* the old directory is kept as the previous version */
    char kdir[PATH_MAX];
    SNP(kdir, sizeof kdir, "%s/.certkeep", out);
    assert_int_equal(count_entries(kdir, "legacy.org."), 2);
    assert_int_equal(count_entries(out, ".legacy.org"), 0);
}

static void test_certdir_cleanup_leftovers(void **state)
{
    (void)state;
    char out[PATH_MAX], kdir[PATH_MAX], p[PATH_MAX], marker[64], bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    path_of(out, "out");
    SNP(kdir, sizeof kdir, "%s/.certkeep", out);
    files_for(&f, bufs, "a");
    assert_int_equal(ck_certdir_publish(out, "c.net", &f, &e), 0);
    files_for(&f, bufs, "b");
    assert_int_equal(ck_certdir_publish(out, "c.net", &f, &e), 0);
    /* what a crash leaves: a half-written version, an orphan newer version, a link temp */
    SNP(p, sizeof p, "%s/c.net.29991231T235959Z.000000000-ffff.tmp", kdir);
    assert_int_equal(mkdir(p, 0750), 0);
    SNP(p, sizeof p, "%s/c.net.29991231T235959Z.000000000-ffff.tmp/cert.pem", kdir);
    put_file(p, "partial");
    SNP(p, sizeof p, "%s/c.net.29991231T235959Z.000000001-ffff", kdir);
    assert_int_equal(mkdir(p, 0750), 0);
    SNP(p, sizeof p, "%s/.c.net.lnk.tmp", out);
    assert_int_equal(symlink("nowhere", p), 0);
    SNP(p, sizeof p, "%s/unrelated", kdir);
    put_file(p, "keep me");
    assert_int_equal(count_entries(kdir, "c.net."), 4);
    assert_int_equal(ck_certdir_cleanup(out, "c.net", &e), 0);
    assert_int_equal(count_entries(kdir, "c.net."), 2);
    assert_int_equal(count_entries(kdir, "unrelated"), 1);
    assert_int_equal(count_entries(out, ".c.net"), 0);
    check_set(out, "c.net", marker, sizeof marker);
    assert_string_equal(marker, "b");
    /* nothing published yet: nothing to do */
    assert_int_equal(ck_certdir_cleanup(out, "never.org", &e), 0);
}

/* The child publishes forever; the parent kills it at a random moment. */
static void publish_forever(const char *out)
{
    char bufs[4][64], marker[32];
    struct ck_cert_files f;
    struct ck_err e;
    for (unsigned i = 0;; i++) {
        SNP(marker, sizeof marker, "m%d-%u", (int)getpid(), i);
        files_for(&f, bufs, marker);
        if (ck_certdir_publish(out, "crash.test", &f, &e) < 0) {
            fprintf(stderr, "child: %s\n", e.msg);
            _exit(3);
        }
    }
}

static void test_certdir_sigkill(void **state)
{
    (void)state;
    char out[PATH_MAX], kdir[PATH_MAX], marker[64], prev[64] = "", bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    path_of(out, "crash");
    SNP(kdir, sizeof kdir, "%s/.certkeep", out);
    files_for(&f, bufs, "m0-0");
    assert_int_equal(ck_certdir_publish(out, "crash.test", &f, &e), 0);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    int changed = 0;
    for (int it = 0; it < 20; it++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            publish_forever(out);
        /* from "before the first publish finished" to "many publishes in" */
        struct timespec d = {0, (long)(rand() % 30000 + it * 1500) * 1000};
        nanosleep(&d, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status)); /* the child never failed on its own */
        check_set(out, "crash.test", marker, sizeof marker);
        if (strcmp(marker, prev) != 0)
            changed++;
        SNP(prev, sizeof prev, "%s", marker);
        assert_int_equal(ck_certdir_cleanup(out, "crash.test", &e), 0);
        assert_true(count_entries(kdir, "crash.test.") <= 2);
        assert_int_equal(count_entries(out, ".crash.test"), 0);
        check_set(out, "crash.test", marker, sizeof marker);
    }
    assert_true(changed > 5); /* the kills really landed mid-stream */
}

/* A reader that resolves <out>/<name> once never sees a mixed set while a writer publishes. */
static void test_certdir_concurrent_reader(void **state)
{
    (void)state;
    static const char *const names[] = {"fullchain", "cert", "chain", "privkey"};
    char out[PATH_MAX], lnk[PATH_MAX], bufs[4][64];
    struct ck_cert_files f;
    struct ck_err e;
    path_of(out, "race");
    SNP(lnk, sizeof lnk, "%s/race.test", out);
    files_for(&f, bufs, "m0-0");
    assert_int_equal(ck_certdir_publish(out, "race.test", &f, &e), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char marker[32];
        for (int i = 1; i <= 300; i++) {
            SNP(marker, sizeof marker, "m%d", i);
            files_for(&f, bufs, marker);
            if (ck_certdir_publish(out, "race.test", &f, &e) < 0)
                _exit(3);
        }
        _exit(0);
    }
    int reads = 0, status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        char dir[PATH_MAX], p[PATH_MAX + 32], first[64] = "";
        if (!realpath(lnk, dir)) {
            if (errno == ENOENT)  /* retired between reading the link and resolving it (load) */
                continue;
            fail_msg("%s does not resolve: %s", lnk, strerror(errno));
        }
        int complete = 1;
        for (int i = 0; i < 4 && complete; i++) {
            char *data = NULL, m[64];
            SNP(p, sizeof p, "%s/%s.pem", dir, names[i]);
            int rc = ck_fs_read(p, 4096, &data, NULL, &e);
            assert_int_not_equal(rc, -1);
            if (rc == 1) { /* that version was retired meanwhile (two publishes later) */
                complete = 0;
                break;
            }
            assert_int_equal(sscanf(data, "%63s", m), 1);
            free(data);
            if (i == 0)
                SNP(first, sizeof first, "%s", m);
            else
                assert_string_equal(m, first);
        }
        reads += complete;
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(reads > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_ok_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlinks_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_sweeps_stale_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic_enospc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_room, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_bad_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_migrates_plain_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_cleanup_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_sigkill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certdir_concurrent_reader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
