/* The seccomp filter of `run`, built by hand as classic BPF. musl's toolchain has no
 * kernel headers, so the ABI values of linux/filter.h, linux/seccomp.h and
 * linux/audit.h are spelled out here (stable kernel ABI). */
#include "sandbox.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* linux/filter.h */
struct sock_filter {
    uint16_t code;
    uint8_t jt, jf;
    uint32_t k;
};
struct sock_fprog {
    unsigned short len;
    struct sock_filter *filter;
};
#define BPF_LD 0x00
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_W 0x00
#define BPF_ABS 0x20
#define BPF_JEQ 0x10
#define BPF_JGE 0x30
#define BPF_K 0x00
#define STMT(c, v) ((struct sock_filter){(uint16_t)(c), 0, 0, (uint32_t)(v)})
#define JUMP(c, v, t, f) ((struct sock_filter){(uint16_t)(c), (uint8_t)(t), (uint8_t)(f), (uint32_t)(v)})

/* linux/seccomp.h */
#define SECCOMP_SET_MODE_FILTER 1
#define SECCOMP_FILTER_FLAG_TSYNC 1u
#define SECCOMP_RET_KILL_PROCESS 0x80000000u
#define SECCOMP_RET_TRAP 0x00030000u
#define SECCOMP_RET_ALLOW 0x7fff0000u
#define OFF_NR 0   /* struct seccomp_data: int nr; __u32 arch; ... */
#define OFF_ARCH 4

/* linux/audit.h */
#if defined(__x86_64__)
#define OUR_ARCH 0xc000003eu /* AUDIT_ARCH_X86_64 */
#define X32_BIT 0x40000000u  /* x32 calls share the arch value: refused by number */
#elif defined(__aarch64__)
#define OUR_ARCH 0xc00000b7u /* AUDIT_ARCH_AARCH64 */
#endif

#ifndef SYS_seccomp
#if defined(__x86_64__)
#define SYS_seccomp 317
#elif defined(__aarch64__)
#define SYS_seccomp 277
#endif
#endif

/* What run does, measured with strace -f -c over the e2e tests of run (t_run,
 * t_signals, t_webhook, t_reload_nginx, t_shortlived, t_revoke; static musl, x86_64):
 * files and directories of the volume, store and state; sockets for curl, the http-01
 * responder and musl's resolver; threads; the signer's fork, socketpair and
 * close_range. aarch64 has no open, stat, pipe, poll...: musl uses the *at / 2 / p
 * forms there, listed too. The few not seen in the measure say why. */
static const long allowed[] = {
    /* memory and threads */
    SYS_brk, SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise,
    SYS_mremap, /* musl's realloc of a large block (an HTTP body) */
    SYS_futex, SYS_set_tid_address, SYS_clone, SYS_exit, SYS_exit_group, SYS_gettid, SYS_getpid,
    SYS_uname, SYS_restart_syscall,
    /* time: the vDSO's fallbacks */
    SYS_clock_gettime, SYS_gettimeofday, SYS_nanosleep, SYS_clock_nanosleep,
    /* signals (SIGURG wakes the loop, the reload signal, pthread_kill) */
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_kill, SYS_tkill,
    /* the signer: fork (clone on aarch64), its set-up, reaping */
#ifdef SYS_fork
    SYS_fork,
#endif
    SYS_socketpair, SYS_prctl, SYS_wait4,
    SYS_waitid, /* the signer's exit status, read when it died */
#ifdef SYS_close_range
    SYS_close_range,
#endif
    SYS_prlimit64, /* close_range's fallback before Linux 5.9 */
    /* descriptors and files */
    SYS_read, SYS_write, SYS_writev, SYS_close, SYS_openat, SYS_fstat, SYS_newfstatat, SYS_fcntl,
    SYS_ioctl, SYS_dup3, SYS_pipe2, SYS_getdents64, SYS_faccessat, SYS_readlinkat, SYS_mkdirat,
    SYS_unlinkat, SYS_renameat, SYS_renameat2, SYS_fchmod, SYS_fchmodat, SYS_fsync, SYS_flock,
    SYS_symlinkat, SYS_ppoll, SYS_eventfd2,
#ifdef SYS_open
    SYS_open, SYS_stat, SYS_lstat, SYS_access, SYS_readlink, SYS_mkdir, SYS_rename, SYS_chmod, SYS_unlink,
    SYS_symlink, SYS_pipe, SYS_dup2, SYS_poll,
#endif
    /* sockets */
    SYS_socket, SYS_connect, SYS_bind, SYS_listen, SYS_accept, SYS_getsockname, SYS_getpeername,
    SYS_setsockopt, SYS_getsockopt, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_shutdown,
    SYS_recvmsg, /* musl's resolver over TCP (a truncated DNS answer) */
    SYS_getrandom, /* dns-01's message ids */
    SYS_dup,       /* lib/fs: a directory descriptor kept apart from the one fdopendir owns */
};

/* With a reload command or a dns hook: execve, and what the programs it starts need before their
 * main (glibc's loader: arch_prctl, rseq) and commonly after (sh, kill, nginx -s
 * reload, measured the same way). They run under this filter too: a command that
 * needs more dies by SIGSYS, and --no-seccomp is the way out. */
static const long for_exec[] = {
    SYS_execve, SYS_setpgid, SYS_getppid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
    SYS_sysinfo, SYS_pread64, SYS_lseek, SYS_set_robust_list, SYS_sigaltstack,
    SYS_statfs,  /* a dns hook's tools (knsupdate), measured with strace -f */
    SYS_getcwd,  /* sh without PWD: the command's environment is PATH and CERTKEEP_* only */
#ifdef SYS_getpgrp
    SYS_getpgrp,
#endif
#ifdef SYS_arch_prctl
    SYS_arch_prctl,
#endif
#ifdef SYS_rseq
    SYS_rseq,
#endif
#ifdef SYS_fadvise64
    SYS_fadvise64,
#endif
#ifdef SYS_vfork
    SYS_vfork,
#endif
};

static void put_dec(char **p, unsigned long v)
{
    char d[24];
    int n = 0;
    do
        d[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof d);
    while (n)
        *(*p)++ = d[--n];
}

/* One line, then death by SIGSYS: async-signal-safe calls only. */
static void refused(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    static const char a[] = "certkeep: seccomp: system call ",
                      b[] = " is outside run's allow-list; stopping (--no-seccomp turns the filter off; please report it)\n";
    char line[sizeof a + sizeof b + 24], *p = line;
    memcpy(p, a, sizeof a - 1);
    p += sizeof a - 1;
    put_dec(&p, (unsigned long)(unsigned)si->si_syscall);
    memcpy(p, b, sizeof b - 1);
    p += sizeof b - 1;
    ssize_t w = write(2, line, (size_t)(p - line));
    (void)w;
    signal(sig, SIG_DFL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    syscall(SYS_tkill, syscall(SYS_gettid), sig);
    _exit(128 + sig);
}

int ck_sandbox_run(int with_exec, size_t *n_allowed, struct ck_err *e)
{
#ifndef OUR_ARCH
    (void)with_exec, (void)n_allowed;
    return ck_fail(e, "seccomp: no allow-list for this architecture (--no-seccomp to run without)");
#else
    enum { N = sizeof allowed / sizeof allowed[0], X = sizeof for_exec / sizeof for_exec[0] };
    struct sock_filter f[N + X + 8]; /* arch check 3, x32 2, the lists, trap, allow */
    size_t n = 0, calls = N + (with_exec ? X : 0);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH);
    f[n++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, OUR_ARCH, 1, 0);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    f[n++] = STMT(BPF_LD | BPF_W | BPF_ABS, OFF_NR);
#ifdef X32_BIT
    f[n++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_BIT, 0, 1);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
    size_t first = n;
    _Static_assert(N + X < 250, "jump offsets are 8 bits");
    for (size_t i = 0; i < calls; i++) {
        long nr = i < N ? allowed[i] : for_exec[i - N];
        /* to the ALLOW after the TRAP at the end */
        f[n] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, (uint8_t)(first + calls - n), 0);
        n++;
    }
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
    f[n++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {(unsigned short)n, f};

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = refused;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) != 0)
        return ck_fail(e, "seccomp: cannot catch SIGSYS: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return ck_fail(e, "seccomp: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (rc != 0)
        return ck_fail(e, "seccomp: the filter was refused (%s)%s", rc < 0 ? strerror(errno) : "a thread has another filter",
                       " (--no-seccomp to run without)");
    if (n_allowed)
        *n_allowed = calls;
    return 0;
#endif
}
