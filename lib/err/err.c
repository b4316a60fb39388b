#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set(struct ck_err *e, enum ck_err_kind kind, const char *fmt, va_list ap)
{
    e->kind = kind;
    e->retry_after = -1;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

int ck_fail(struct ck_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(e, CK_E_GENERIC, fmt, ap);
    va_end(ap);
    return -1;
}

int ck_failk(struct ck_err *e, enum ck_err_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set(e, kind, fmt, ap);
    va_end(ap);
    return -1;
}

int ck_wrap(struct ck_err *e, const char *fmt, ...)
{
    char prefix[256], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* A message too long for the buffer is cut: the prefix matters most. */
    if (snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old) < 0)
        e->msg[0] = '\0';
    return -1;
}

void ck_err_clear(struct ck_err *e)
{
    e->kind = CK_E_GENERIC;
    e->retry_after = -1;
    e->msg[0] = '\0';
}
