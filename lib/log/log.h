/* One line per event, text or JSON. The logger is a value the caller owns;
 * libraries take a `const struct ck_log *` (NULL means silent). Never pass a
 * secret (key, signed body, credential) to these functions. */
#ifndef CK_LOG_H
#define CK_LOG_H

#include <stdio.h>

enum ck_log_level { CK_LOG_DEBUG, CK_LOG_INFO, CK_LOG_WARN, CK_LOG_ERROR };

struct ck_log {
    FILE *out;               /* stderr by default */
    enum ck_log_level min;   /* lines below are dropped */
    int json;                /* 1: {"ts":..,"level":..,"event":..,"msg":..} */
};

void ck_log_init(struct ck_log *l, FILE *out, enum ck_log_level min, int json);
/* `event` is a short stable word ("issued", "renew.failed"); the message is
 * formatted text, control characters from untrusted sources are escaped. */
void ck_log(const struct ck_log *l, enum ck_log_level lv, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A URL as it may be shown in a log line or message: scheme://host[:port]/path,
 * with any userinfo replaced by "***@", every query value by "***" (keys kept)
 * and the fragment dropped. Credentials in a URL never reach a log this way.
 * Returns out. */
const char *ck_log_url(const char *url, char *out, size_t cap);

#define ck_debug(l, ev, ...) ck_log((l), CK_LOG_DEBUG, (ev), __VA_ARGS__)
#define ck_info(l, ev, ...)  ck_log((l), CK_LOG_INFO, (ev), __VA_ARGS__)
#define ck_warn(l, ev, ...)  ck_log((l), CK_LOG_WARN, (ev), __VA_ARGS__)
#define ck_error(l, ev, ...) ck_log((l), CK_LOG_ERROR, (ev), __VA_ARGS__)

#endif
