/* Entry point of the amd64 static PIE, in place of musl's rcrt1.o. Debian's musl (1.2.3)
 * relocates a static PIE from DT_RELA only; linked with -z pack-relative-relocs, ld writes
 * the relocations as DT_RELR instead (20 KB of RELA become a few hundred bytes), so this
 * applies both, then starts libc as rcrt1 does. It runs before relocation and before TLS:
 * built without a stack protector, and it reads nothing but hidden, PC-relative symbols. */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#ifndef DT_RELR
#define DT_RELRSZ 35
#define DT_RELR 36
#endif

extern const Elf64_Dyn _DYNAMIC[] __attribute__((visibility("hidden")));
extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));
int main(int, char **, char **);
void _init(void);
void _fini(void);
int __libc_start_main(int (*)(int, char **, char **), int, char **, void (*)(void), void (*)(void),
                      void (*)(void));
void ck_start_c(long *sp) __attribute__((used, noreturn, visibility("hidden")));

__asm__(".text\n"
        ".global _start\n"
        ".type _start,@function\n"
        "_start:\n"
        "    xor %rbp, %rbp\n"
        "    mov %rsp, %rdi\n"
        "    andq $-16, %rsp\n"
        "    call ck_start_c\n"
        "    hlt\n");

void ck_start_c(long *sp)
{
    uintptr_t base = (uintptr_t)&__ehdr_start;  /* the ELF header is mapped at vaddr 0 */
    const Elf64_Rela *rela = NULL;
    const uint64_t *relr = NULL;
    size_t relasz = 0, relrsz = 0;

    for (const Elf64_Dyn *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_RELA)
            rela = (const Elf64_Rela *)(base + d->d_un.d_ptr);
        else if (d->d_tag == DT_RELASZ)
            relasz = d->d_un.d_val;
        else if (d->d_tag == DT_RELR)
            relr = (const uint64_t *)(base + d->d_un.d_ptr);
        else if (d->d_tag == DT_RELRSZ)
            relrsz = d->d_un.d_val;
    }
    for (size_t i = 0; i < relasz / sizeof *rela; i++) {
        if (ELF64_R_TYPE(rela[i].r_info) != R_X86_64_RELATIVE)
            __builtin_trap();  /* a static PIE has nothing else to resolve */
        *(uint64_t *)(base + rela[i].r_offset) = base + (uint64_t)rela[i].r_addend;
    }
    /* RELR: an even entry is an address to relocate; an odd one a bitmap of the 63 words
     * after the last address, one bit each. */
    uint64_t *where = NULL;
    for (size_t i = 0; i < relrsz / sizeof *relr; i++) {
        uint64_t e = relr[i];
        if ((e & 1) == 0) {
            where = (uint64_t *)(base + e);
            *where++ += base;
        } else {
            for (unsigned bit = 0; (e >>= 1) != 0; bit++)
                if (e & 1)
                    where[bit] += base;
            where += 63;
        }
    }
    __libc_start_main(main, (int)sp[0], (char **)(sp + 1), _init, _fini, 0);
    __builtin_unreachable();
}
