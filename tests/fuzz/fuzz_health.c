/* libFuzzer target for lib/health: the request parser and the metrics text. Input:
 * one flag byte (bit 0: ready), a certificate name up to the first 0xff byte, then
 * the raw request. Checks beyond "no crash": a well-formed status line, a
 * Content-Length equal to the body sent (none for HEAD), only the known statuses,
 * and metrics lines that all start with "# " or "certkeep_" (a name can never
 * break a line or a label value). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_metrics(const struct ck_health *h)
{
    char *m = NULL;
    size_t len = 0;
    struct ck_err e;
    if (ck_health_metrics(h, &m, &len, &e) != 0)
        abort();
    if (strlen(m) != len || len == 0 || m[len - 1] != '\n')
        abort();
    for (const char *line = m; *line; line = strchr(line, '\n') + 1)
        if (strncmp(line, "# ", 2) != 0 && strncmp(line, "certkeep_", 9) != 0)
            abort();
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ck_health *h = NULL;
    struct ck_err e;
    if (ck_health_start("127.0.0.1:0", "fuzz", NULL, &h, &e) != 0)
        abort();
    ck_health_set_ready(h, data[0] & 1);
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *sep = memchr(p, 0xff, (size_t)(end - p));
    if (sep) {
        char name[300];
        size_t n = (size_t)(sep - p) < sizeof name - 1 ? (size_t)(sep - p) : sizeof name - 1;
        memcpy(name, p, n);
        name[n] = '\0';
        struct ck_health_cert *c = ck_health_cert(h, name, &e);
        if (c) {
            c->not_after = 1797776000;
            c->renewals_failure = n;
        }
        p = sep + 1;
    }
    char *out = NULL;
    size_t out_len = 0;
    int status = ck_health_respond(h, (const char *)p, (size_t)(end - p), &out, &out_len);
    if (status != 200 && status != 400 && status != 404 && status != 405 && status != 431 &&
        status != 503)
        abort();
    char line[32];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
    if (out_len != strlen(out) || strncmp(out, line, strlen(line)) != 0)
        abort();
    const char *cl = strstr(out, "\r\nContent-Length: "), *body = strstr(out, "\r\n\r\n");
    if (!cl || !body)
        abort();
    size_t want = strtoul(cl + 18, NULL, 10), got = strlen(body + 4);
    int head = (size_t)(end - p) >= 5 && memcmp(p, "HEAD ", 5) == 0;
    /* HEAD is known as such once the request line parsed */
    if (head && (status == 200 || status == 404 || status == 503))
        want = 0;
    if (got != want)
        abort();
    free(out);
    check_metrics(h);
    ck_health_stop(h);
    return 0;
}
