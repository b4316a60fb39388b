/* The process hardening main applies before anything else: relocations read-only,
 * no core file, more descriptors for the listeners. */
#define _GNU_SOURCE /* dl_iterate_phdr in glibc (the ASan build); musl has it anyway */
#include "sandbox.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* Descriptors for the listeners' connection slots (lib/listen, 1024 each): the soft
 * limit (often 1024) up to NOFILE_WANT, as far as the hard limit allows; below that
 * the listeners hold fewer connections. */
#define NOFILE_WANT 4096
void ck_sandbox_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= NOFILE_WANT)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NOFILE_WANT ? rl.rlim_max
                                                                            : NOFILE_WANT;
    setrlimit(RLIMIT_NOFILE, &rl);
}

/* Keys live in this process's memory: no core file holds them, and no process of
 * the same user can read it (ptrace, /proc/PID/mem) as it could a dumpable one. */
int ck_sandbox_seal_memory(struct ck_err *e)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return ck_fail(e, "cannot turn off core dumps: %s", strerror(errno));
    return 0;
}

/* The first object is the program. PT_GNU_RELRO made read-only, as a dynamic
 * loader does after relocating: musl's static start-up (rcrt1.o) relocates but
 * leaves it writable, so -z relro -z now would otherwise change nothing. */
static int relro_one(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    long page = sysconf(_SC_PAGESIZE);
    int *rc = data;
    for (size_t i = 0; page > 0 && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_GNU_RELRO)
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)(page - 1);
        if (end > start && mprotect((void *)start, end - start, PROT_READ) != 0)
            *rc = -1;
    }
    return 1;
}

int ck_sandbox_protect_relro(struct ck_err *e)
{
    int rc = 0;
    dl_iterate_phdr(relro_one, &rc);
    if (rc != 0)
        return ck_fail(e, "cannot make relocations read-only: %s", strerror(errno));
    return 0;
}
