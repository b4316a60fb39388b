#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static const char *level_name[] = {"debug", "info", "warn", "error"};

void ck_log_init(struct ck_log *l, FILE *out, enum ck_log_level min, int json)
{
    l->out = out ? out : stderr;
    l->min = min;
    l->json = json;
}

/* Escapes control bytes, quotes and backslashes so untrusted text cannot forge lines. */
static void put_escaped(FILE *f, const char *s, int json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            fprintf(f, json ? "\\u%04x" : "\\x%02x", *p);
        else if (json && (*p == '"' || *p == '\\'))
            fprintf(f, "\\%c", *p);
        else
            fputc(*p, f);
    }
}

void ck_log(const struct ck_log *l, enum ck_log_level lv, const char *event, const char *fmt, ...)
{
    if (!l || lv < l->min)
        return;
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    FILE *f = l->out ? l->out : stderr;
    flockfile(f); /* the http-01 thread logs too: keep lines whole */
    if (l->json) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", ts, level_name[lv]);
        put_escaped(f, event, 1);
        fputs("\",\"msg\":\"", f);
        put_escaped(f, msg, 1);
        fputs("\"}\n", f);
    } else {
        fprintf(f, "%s %-5s %s: ", ts, level_name[lv], event);
        put_escaped(f, msg, 0);
        fputc('\n', f);
    }
    fflush(f);
    funlockfile(f);
}

/* Appends n bytes of s to out[*j..cap), always leaving room for the NUL. */
static void put(char *out, size_t cap, size_t *j, const char *s, size_t n)
{
    while (n-- > 0 && *j + 1 < cap)
        out[(*j)++] = *s++;
    out[*j] = '\0';
}

const char *ck_log_url(const char *url, char *out, size_t cap)
{
    size_t j = 0;
    if (cap == 0)
        return out;
    out[0] = '\0';
    if (url == NULL)
        return out;
    const char *p = url, *sep = strstr(url, "://");
    if (sep != NULL && (size_t)(sep - url) < strcspn(url, "/?#")) {
        put(out, cap, &j, url, (size_t)(sep - url) + 3);
        p = sep + 3;
        size_t auth = strcspn(p, "/?#");
        const char *at = NULL;
        for (const char *q = p; q < p + auth; q++)
            if (*q == '@')
                at = q; /* userinfo ends at the authority's last '@' */
        if (at != NULL) {
            put(out, cap, &j, "***@", 4);
            auth -= (size_t)(at + 1 - p);
            p = at + 1;
        }
        put(out, cap, &j, p, auth);
        p += auth;
    }
    size_t path = strcspn(p, "?#");
    put(out, cap, &j, p, path);
    p += path;
    if (*p != '?')
        return out;
    p++;
    put(out, cap, &j, "?", 1);
    size_t query = strcspn(p, "#");
    for (const char *end = p + query; p < end;) {
        size_t part = strcspn(p, "&#"), key = strcspn(p, "=&#");
        put(out, cap, &j, p, key);
        if (key < part)
            put(out, cap, &j, "=***", 4);
        p += part;
        if (p < end && *p == '&') {
            put(out, cap, &j, "&", 1);
            p++;
        }
    }
    return out;
}
