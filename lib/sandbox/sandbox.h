/* A seccomp allow-list for `certkeep run` once it is set up: the system calls its loop
 * uses (files, sockets, threads, the signer fork, the reload command), measured on the
 * e2e tests, and nothing else. Any other call is refused: one line on stderr names it,
 * then the process dies by SIGSYS. Linux x86_64 and aarch64; another architecture's
 * calls (x32, i386, arm32) kill at once. */
#ifndef CK_SANDBOX_H
#define CK_SANDBOX_H

#include <stddef.h>

#include "../err/err.h"

/* Installs the filter on every thread of the process (and the children it starts).
 * with_exec allows execve (a reload command). *n_allowed: how many calls the list
 * has, for the log. Irreversible. */
int ck_sandbox_run(int with_exec, size_t *n_allowed, struct ck_err *e);

/* Process hardening, for main before anything else. The program's PT_GNU_RELRO made
 * read-only (static musl relocates but leaves it writable). */
int ck_sandbox_protect_relro(struct ck_err *e);
/* No core file and not dumpable: no other process of the user reads the keys in memory. */
int ck_sandbox_seal_memory(struct ck_err *e);
/* The soft RLIMIT_NOFILE up to 4096 as far as the hard limit allows (the listeners'
 * connection slots); below that they hold fewer connections. */
void ck_sandbox_raise_nofile(void);

#endif
