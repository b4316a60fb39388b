/* Errors: every fallible function takes a struct ck_err and returns -1 (or a
 * documented positive code) after filling it with one line that names the thing. */
#ifndef CK_ERR_H
#define CK_ERR_H

enum ck_err_kind {
    CK_E_GENERIC = 0,
    CK_E_USAGE,      /* bad flag, config key or value: exit 2 */
    CK_E_NETWORK,    /* connect, TLS, timeout: worth retrying */
    CK_E_RATELIMIT,  /* CA said rateLimited (429/503): honour retry_after */
    CK_E_PROTOCOL,   /* server answered garbage or an ACME problem */
    CK_E_AUTH,       /* credentials refused (403) */
    CK_E_IO          /* local file system */
};

struct ck_err {
    enum ck_err_kind kind;
    long retry_after;  /* seconds the server asked us to wait, -1 when none */
    char msg[512];
};

/* Sets kind CK_E_GENERIC and the message; returns -1 so callers can `return ck_fail(...)`. */
int ck_fail(struct ck_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same with an explicit kind. */
int ck_failk(struct ck_err *e, enum ck_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "<prefix>: " to the message already there; keeps kind; returns -1. */
int ck_wrap(struct ck_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears to "no error". */
void ck_err_clear(struct ck_err *e);

#endif
