/* The account key's own process (as OpenBSD acme-client's keyproc): forked with the
 * key and one socket, it reads "length, JWS signing input" and writes "length,
 * signature". It allocates nothing and calls no network code; the parent keeps only
 * the public half. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto_int.h"

#define SIGNER_MAX_INPUT (1u << 20) /* base64url header "." payload: an order of 100 names is ~30 KB */
#define SIGNER_TIMEOUT_MS 30000     /* a signature takes milliseconds; a stuck child is an error */
#define SIGNER_FD 3

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* read() until n bytes; 0 done, -1 EOF or error. */
static int child_read(int fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int child_write(int fd, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Only the socket stays open: moved to SIGNER_FD, everything else closed. */
static void child_fds(int fd)
{
    if (fd != SIGNER_FD && dup2(fd, SIGNER_FD) != SIGNER_FD)
        _exit(120);
    for (int i = 0; i < SIGNER_FD; i++)
        close(i);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, SIGNER_FD + 1, ~0u, 0) == 0)
        return;
#endif
    struct rlimit rl;
    unsigned long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                            ? (unsigned long)rl.rlim_cur : 65536;
    for (unsigned long i = SIGNER_FD + 1; i < max; i++)
        close((int)i);
}

/* The child: async-signal-safe calls and BearSSL only (the parent may have threads). */
static void child_main(struct ck_key *k, int fd)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM};
    const br_hash_class *hc = k->type == CK_KEY_P384 ? &br_sha384_vtable : &br_sha256_vtable;
    br_hash_compat_context h;
    unsigned char buf[4096], hash[64], sig[600];

    /* Stopping is the parent's: it closes the socket, which ends us. */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_IGN);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    child_fds(fd);
    for (;;) {
        if (child_read(SIGNER_FD, buf, 4) != 0)
            break;
        uint32_t n = get32(buf);
        if (n == 0 || n > SIGNER_MAX_INPUT)
            break;
        hc->init(&h.vtable);
        while (n) {
            size_t chunk = n < sizeof buf ? n : sizeof buf;
            if (child_read(SIGNER_FD, buf, chunk) != 0)
                goto out;
            hc->update(&h.vtable, buf, chunk);
            n -= (uint32_t)chunk;
        }
        hc->out(&h.vtable, hash);
        size_t len = ck_key_sign_hash(k, hc, hash, 1, sig + 4, sizeof sig - 4);
        put32(sig, (uint32_t)len);
        if (child_write(SIGNER_FD, sig, len + 4) != 0)
            break;
    }
out:
    ck_wipe(k, sizeof *k);
    _exit(0);
}

int ck_signer_start(struct ck_key *k, struct ck_err *e)
{
    int sv[2];

    if (!k || k->type == CK_KEY_NONE)
        return ck_fail(e, "account key signer: no key");
    if (k->remote)
        return ck_fail(e, "account key signer: already started");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return ck_fail(e, "account key signer: socketpair: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        return ck_fail(e, "account key signer: fork: %s", strerror(err));
    }
    if (pid == 0)
        child_main(k, sv[1]);
    close(sv[1]);
    /* The public half stays for the JWK; every private byte goes. */
    ck_wipe(&k->rsa_sk, sizeof k->rsa_sk);
    ck_wipe(k->rsa_priv, sizeof k->rsa_priv);
    ck_wipe(k->d, sizeof k->d);
    k->d_len = 0;
    ck_wipe(&k->ec_sk, sizeof k->ec_sk);
    ck_wipe(k->ec_priv, sizeof k->ec_priv);
    k->remote = 1;
    k->signer_fd = sv[0];
    k->signer_pid = pid;
    return 0;
}

long ck_signer_pid(const struct ck_key *k)
{
    return k && k->remote ? (long)k->signer_pid : 0;
}

/* The child is gone: say how, without reaping it (ck_signer_end does). */
static size_t gone(const struct ck_key *k, const char *why, struct ck_err *e)
{
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)k->signer_pid, &si, WEXITED | WNOWAIT) == 0 && si.si_pid == k->signer_pid) {
        if (si.si_code == CLD_EXITED)
            ck_fail(e, "account key signer (pid %ld) exited with status %d; nothing was signed",
                    (long)k->signer_pid, si.si_status);
        else
            ck_fail(e, "account key signer (pid %ld) was killed by signal %d; nothing was signed",
                    (long)k->signer_pid, si.si_status);
    } else {
        ck_fail(e, "account key signer (pid %ld) is gone (%s); nothing was signed",
                (long)k->signer_pid, why);
    }
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads n bytes from the signer by the deadline; 0, or 0-returning gone()/timeout as -1. */
static int parent_read(const struct ck_key *k, void *buf, size_t n, long long deadline,
                       struct ck_err *e)
{
    unsigned char *p = buf;
    while (n) {
        struct pollfd pfd = {k->signer_fd, POLLIN, 0};
        long long left = deadline - now_ms();
        if (left <= 0) {
            ck_fail(e, "account key signer (pid %ld) did not answer in %d s", (long)k->signer_pid,
                    SIGNER_TIMEOUT_MS / 1000);
            return -1;
        }
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            ck_fail(e, "account key signer: poll: %s", strerror(errno));
            return -1;
        }
        if (pr <= 0)
            continue;
        ssize_t r = read(k->signer_fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            gone(k, r == 0 ? "end of file" : strerror(errno), e);
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

size_t ck_signer_sign(const struct ck_key *k, const char *prot, size_t plen, const char *pay,
                      size_t ylen, unsigned char *sig, size_t cap, struct ck_err *e)
{
    unsigned char hdr[4];
    struct iovec iov[4] = {{hdr, 4}, {(void *)prot, plen}, {".", 1}, {(void *)pay, ylen}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 4};

    if (k->signer_fd < 0 || k->signer_pid <= 0) {
        ck_fail(e, "account key signer is not running");
        return 0;
    }
    if (plen + 1 + ylen > SIGNER_MAX_INPUT) {
        ck_fail(e, "JWS signing input of %zu bytes is over the signer's %u", plen + 1 + ylen,
                SIGNER_MAX_INPUT);
        return 0;
    }
    put32(hdr, (uint32_t)(plen + 1 + ylen));
    while (m.msg_iovlen) {
        ssize_t r = sendmsg(k->signer_fd, &m, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return gone(k, strerror(errno), e);
        /* skip what went out, across iovecs */
        while (m.msg_iovlen && (size_t)r >= m.msg_iov->iov_len) {
            r -= (ssize_t)m.msg_iov->iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen) {
            m.msg_iov->iov_base = (char *)m.msg_iov->iov_base + r;
            m.msg_iov->iov_len -= (size_t)r;
        }
    }
    long long deadline = now_ms() + SIGNER_TIMEOUT_MS;
    if (parent_read(k, hdr, 4, deadline, e) != 0)
        return 0;
    uint32_t n = get32(hdr);
    if (n == 0 || n > cap) {
        /* an answer we cannot take leaves the stream out of step: treat as gone */
        ck_fail(e, "account key signer (pid %ld) answered %s", (long)k->signer_pid,
                n ? "an oversized signature" : "that it could not sign");
        return 0;
    }
    if (parent_read(k, sig, n, deadline, e) != 0)
        return 0;
    return n;
}

void ck_signer_end(struct ck_key *k)
{
    if (!k->remote)
        return;
    if (k->signer_fd >= 0)
        close(k->signer_fd);
    k->signer_fd = -1;
    if (k->signer_pid > 0) {
        /* it holds nothing to save: no need to wait for it to see the end of file */
        kill(k->signer_pid, SIGKILL);
        while (waitpid(k->signer_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    k->signer_pid = 0;
}
