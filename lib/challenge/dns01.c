/* dns-01: TXT records at _acme-challenge.<name> by RFC 2136 update or by a hook
 * (lego's exec provider convention), then a wait until the zone's name servers
 * answer them, then exactly our values removed again. */
#include "challenge.h"
#include "../dns/dns.h"
#include "../fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOOKUP_MS 5000
#define HOOK_MS 60000
#define MAX_RECORDS 200  /* 100 names, a wildcard and its base each */
#define MAX_ZONES 100
#define MAX_NS 8
#define TTL 60

extern char **environ;

struct record {
    char fqdn[CK_DNS_NAME_MAX];  /* where the TXT goes, CNAMEs followed */
    char zone[CK_DNS_NAME_MAX];
    char value[64];
    int present;
};

struct ck_dns01 {
    struct ck_dns01_opts o;
    const struct ck_log *log;
    struct ck_dns_server server, resolver;
    int have_server, recurse;
    struct ck_dns_key key;
    struct record *rec;
    size_t n_rec;
    char pending[4096];  /* the caller's path may not outlive start */
};

/* What is presented now, for the next start to remove after a kill:
 * "zone fqdn value" lines; no file when nothing is out there. */
static void save_pending(struct ck_dns01 *d)
{
    if (!d->o.pending_file)
        return;
    char *buf = malloc(MAX_RECORDS * (2 * CK_DNS_NAME_MAX + 70));
    size_t len = 0;
    struct ck_err e;
    if (!buf)
        return;
    for (size_t i = 0; i < d->n_rec; i++)
        if (d->rec[i].present)
            len += (size_t)sprintf(buf + len, "%s %s %s\n", d->rec[i].zone, d->rec[i].fqdn,
                                   d->rec[i].value);
    if (len == 0 ? unlink(d->o.pending_file) != 0 && errno != ENOENT
                 : ck_fs_write_atomic(d->o.pending_file, buf, len, 0600, &e) != 0)
        ck_warn(d->log, "dns-01", "%s: cannot record the TXT records to remove after a kill",
                d->o.pending_file);
    free(buf);
}

static void remove_value(struct ck_dns01 *d, struct record *r);

/* Records a killed run left behind, removed now. The file is ours but checked like
 * any input: a line that does not parse is skipped. */
static void remove_left_over(struct ck_dns01 *d)
{
    char *text = NULL;
    size_t len = 0;
    struct ck_err e;
    if (!d->o.pending_file || ck_fs_read(d->o.pending_file, 1 << 20, &text, &len, &e) != 0)
        return;
    size_t n = 0;
    char *save = NULL;  /* strtok_r: run's orders of several certificates share the process */
    for (char *line = strtok_r(text, "\n", &save); line && d->n_rec < MAX_RECORDS;
         line = strtok_r(NULL, "\n", &save)) {
        struct record *r = &d->rec[d->n_rec];
        char fmt[32];
        snprintf(fmt, sizeof fmt, "%%%ds %%%ds %%%ds", CK_DNS_NAME_MAX - 1, CK_DNS_NAME_MAX - 1,
                 (int)sizeof r->value - 1);
        if (sscanf(line, fmt, r->zone, r->fqdn, r->value) != 3)
            continue;
        r->present = 1;
        remove_value(d, r);
        n++;
    }
    free(text);
    if (n)
        ck_info(d->log, "dns-01", "removed %zu TXT record(s) left by an earlier run", n);
    save_pending(d);
}

static void since(const struct timespec *t0, long *ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    *ms = (long)(t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* ---- hook ---- */

/* Runs `hook op fqdn value ttl`; its stderr's last line goes into the error. */
static int run_hook(const char *hook, const char *op, const char *fqdn, const char *value,
                    struct ck_err *e)
{
    int p[2];
    if (pipe(p) != 0)
        return ck_fail(e, "dns hook %s: pipe: %s", hook, strerror(errno));
    fcntl(p[0], F_SETFD, FD_CLOEXEC);  /* the hook's stderr is p[1], dup'd to 2 */
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    char ttl[8];
    snprintf(ttl, sizeof ttl, "%d", TTL);
    char *argv[] = {(char *)hook, (char *)op, (char *)fqdn, (char *)value, ttl, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, hook, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(p[1]);
    if (err) {
        close(p[0]);
        return ck_fail(e, "dns hook %s: %s", hook, strerror(err));
    }
    char buf[4096], last[200] = "";
    size_t len = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int timed_out = 0;
    for (;;) {
        long ms;
        since(&t0, &ms);
        if (ms >= HOOK_MS) {
            timed_out = 1;
            break;
        }
        struct pollfd pf = {.fd = p[0], .events = POLLIN};
        int r = poll(&pf, 1, (int)(HOOK_MS - ms));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        /* keep the last complete or partial line, drop the rest */
        char *nl;
        while ((nl = strchr(buf, '\n')) && nl[1]) {
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
            len = strlen(buf);
        }
        if (len == sizeof buf - 1)
            len = 0;
    }
    close(p[0]);
    snprintf(last, sizeof last, "%.*s", (int)strcspn(buf, "\n"), len ? buf : "");
    for (char *c = last; *c; c++)
        if ((unsigned char)*c < ' ')
            *c = ' ';
    if (timed_out)
        kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        return ck_fail(e, "dns hook %s %s %s: no exit within %d s, killed", hook, op, fqdn,
                       HOOK_MS / 1000);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        return ck_fail(e, "dns hook %s %s %s: exit %d%s%s", hook, op, fqdn, WEXITSTATUS(st),
                       *last ? ": " : "", last);
    return ck_fail(e, "dns hook %s %s %s: killed by signal %d", hook, op, fqdn, WTERMSIG(st));
}

/* ---- records ---- */

static int add_value(struct ck_dns01 *d, struct record *r, struct ck_err *e)
{
    if (d->o.hook)
        return run_hook(d->o.hook, "present", r->fqdn, r->value, e);
    return ck_dns_update(&d->server, &d->key, r->zone, CK_DNS_ADD, r->fqdn, r->value, TTL,
                         LOOKUP_MS, e);
}

static void remove_value(struct ck_dns01 *d, struct record *r)
{
    struct ck_err e;
    int rc = d->o.hook ? run_hook(d->o.hook, "cleanup", r->fqdn, r->value, &e)
                       : ck_dns_update(&d->server, &d->key, r->zone, CK_DNS_DELETE, r->fqdn,
                                       r->value, 0, LOOKUP_MS, &e);
    if (rc != 0)
        ck_warn(d->log, "dns-01", "removing the TXT record at %s: %s", r->fqdn, e.msg);
    r->present = 0;
}

static void remove_value_saved(struct ck_dns01 *d, struct record *r)
{
    remove_value(d, r);
    save_pending(d);
}

/* Where the TXT for `name` goes (CNAMEs followed) and, with RFC 2136 or a
 * propagation check, its zone. */
static int locate(struct ck_dns01 *d, const char *name, char *fqdn, char *zone,
                  struct ck_err *e)
{
    char first[CK_DNS_NAME_MAX];
    if (name[0] == '*' && name[1] == '.')
        name += 2;
    if (snprintf(first, sizeof first, "_acme-challenge.%s%s", name,
                 name[strlen(name) - 1] == '.' ? "" : ".") >= (int)sizeof first)
        return ck_failk(e, CK_E_USAGE, "dns-01: %.80s: name too long", name);
    if (ck_dns_cname(&d->resolver, d->recurse, first, fqdn, CK_DNS_NAME_MAX, LOOKUP_MS, e) != 0)
        return ck_wrap(e, "dns-01 %s", name);
    if (strcasecmp(first, fqdn) != 0)
        ck_info(d->log, "dns-01", "%s is a CNAME: the TXT record goes to %s", first, fqdn);
    if (d->o.zone) {
        snprintf(zone, CK_DNS_NAME_MAX, "%s", d->o.zone);
        return 0;
    }
    if (ck_dns_zone(&d->resolver, d->recurse, fqdn, zone, CK_DNS_NAME_MAX, LOOKUP_MS, e) != 0)
        return ck_wrap(e, "dns-01 %s: finding the zone (or set challenge.rfc2136.zone)", name);
    return 0;
}

int ck_dns01_start(const struct ck_dns01_opts *o, const char *const *names, size_t n,
                   const struct ck_log *log, struct ck_dns01 **out, struct ck_err *e)
{
    *out = NULL;
    if (!o->hook == !o->server)
        return ck_failk(e, CK_E_USAGE, "dns-01: set one of an RFC 2136 server and a hook");
    struct ck_dns01 *d = calloc(1, sizeof *d);
    if (!d || !(d->rec = calloc(MAX_RECORDS, sizeof *d->rec))) {
        free(d);
        return ck_fail(e, "dns-01: out of memory");
    }
    d->o = *o;
    d->log = log;
    if (o->pending_file) {
        if (snprintf(d->pending, sizeof d->pending, "%s", o->pending_file) >= (int)sizeof d->pending) {
            free(d->rec);
            free(d);
            return ck_fail(e, "dns-01: state path too long");
        }
        d->o.pending_file = d->pending;
    }
    int rc = 0;
    if (o->server) {
        rc = ck_dns_server_parse(o->server, &d->server, e) ||
             ck_dns_key_load(o->tsig_key, (enum ck_dns_alg)o->tsig_alg, o->tsig_secret_file,
                             &d->key, e);
        d->have_server = 1;
    } else if (access(o->hook, X_OK) != 0) {
        rc = ck_failk(e, CK_E_USAGE, "dns hook %s: %s", o->hook, strerror(errno));
    }
    /* lookups: the configured resolver, else the update server, else the system's */
    if (rc == 0 && o->resolver) {
        rc = ck_dns_server_parse(o->resolver, &d->resolver, e);
        d->recurse = 1;
    } else if (rc == 0 && d->have_server) {
        d->resolver = d->server;
    } else if (rc == 0) {
        rc = ck_dns_server_system(&d->resolver, e);
        d->recurse = 1;
    }
    if (rc == 0)
        remove_left_over(d);
    /* prove the key on every zone before the CA is asked for anything */
    char zones[MAX_ZONES][CK_DNS_NAME_MAX];
    size_t nz = 0;
    for (size_t i = 0; rc == 0 && d->have_server && i < n; i++) {
        char fqdn[CK_DNS_NAME_MAX], zone[CK_DNS_NAME_MAX];
        if (locate(d, names[i], fqdn, zone, e) != 0) {
            rc = -1;
            break;
        }
        size_t z = 0;
        while (z < nz && strcasecmp(zones[z], zone) != 0)
            z++;
        if (z < nz || nz == MAX_ZONES)
            continue;
        snprintf(zones[nz++], CK_DNS_NAME_MAX, "%s", zone);
        if (ck_dns_update(&d->server, &d->key, zone, CK_DNS_PROBE, NULL, NULL, 0, LOOKUP_MS, e))
            rc = ck_wrap(e, "dns-01: nothing was ordered");
    }
    if (rc != 0) {
        ck_dns01_stop(d);
        return -1;
    }
    *out = d;
    return 0;
}

int ck_dns01_present(void *ctx, const char *domain, const char *token, const char *value,
                     struct ck_err *e)
{
    struct ck_dns01 *d = ctx;
    (void)token;
    if (d->n_rec == MAX_RECORDS)
        return ck_fail(e, "dns-01: more than %d records", MAX_RECORDS);
    struct record *r = &d->rec[d->n_rec];
    memset(r, 0, sizeof *r);
    if (strlen(value) >= sizeof r->value)
        return ck_fail(e, "dns-01: a TXT value of %zu bytes", strlen(value));
    snprintf(r->value, sizeof r->value, "%s", value);
    if (locate(d, domain, r->fqdn, r->zone, e) != 0 || add_value(d, r, e) != 0)
        return -1;
    r->present = 1;
    d->n_rec++;
    save_pending(d);
    return 0;
}

void ck_dns01_cleanup(void *ctx, const char *domain, const char *token, const char *value)
{
    struct ck_dns01 *d = ctx;
    (void)domain, (void)token;
    for (size_t i = 0; i < d->n_rec; i++)
        if (d->rec[i].present && strcmp(d->rec[i].value, value) == 0) {
            remove_value_saved(d, &d->rec[i]);
            break;
        }
}

/* The servers that must answer r's value. */
static int servers_for(struct ck_dns01 *d, const struct record *r, struct ck_dns_server *out,
                       size_t *n, struct ck_err *e)
{
    if (d->o.server_only) {
        out[0] = d->have_server ? d->server : d->resolver;
        *n = 1;
        return 0;
    }
    if (ck_dns_ns(&d->resolver, d->recurse, r->zone, out, MAX_NS, n, LOOKUP_MS, e) != 0)
        return ck_wrap(e, "dns-01: the name servers of %s (or challenge.dns_propagation: "
                          "server-only)", r->zone);
    return 0;
}

int ck_dns01_ready(void *ctx, struct ck_err *e)
{
    struct ck_dns01 *d = ctx;
    struct {
        struct ck_dns_server s[MAX_NS];
        size_t n;
        unsigned seen;  /* bit per server */
    } *w = calloc(d->n_rec ? d->n_rec : 1, sizeof *w);
    if (!w)
        return ck_fail(e, "dns-01: out of memory");
    int rc = 0;
    size_t total = 0;
    for (size_t i = 0; rc == 0 && i < d->n_rec; i++) {
        rc = servers_for(d, &d->rec[i], w[i].s, &w[i].n, e);
        total += w[i].n;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long ms = 0, pause = 50, limit = (long)d->o.propagation_timeout_s * 1000;
    size_t seen = 0;
    while (rc == 0 && seen < total) {
        seen = 0;
        for (size_t i = 0; i < d->n_rec; i++)
            for (size_t j = 0; j < w[i].n; j++) {
                int has = 0;
                struct ck_err qe;
                if (!(w[i].seen & 1u << j) &&
                    ck_dns_has_txt(&w[i].s[j], d->rec[i].fqdn, d->rec[i].value, &has,
                                   LOOKUP_MS, &qe) == 0 && has)
                    w[i].seen |= 1u << j;
                seen += (w[i].seen >> j) & 1;
            }
        since(&t0, &ms);
        if (seen == total)
            break;
        if (ms >= limit) {
            for (size_t i = 0; i < d->n_rec; i++)
                for (size_t j = 0; j < w[i].n; j++)
                    if (!(w[i].seen & 1u << j)) {
                        rc = ck_fail(e, "dns-01: %s does not answer the TXT value at %s after "
                                        "%ld s (challenge.dns_propagation_timeout)",
                                     w[i].s[j].text, d->rec[i].fqdn, ms / 1000);
                        i = d->n_rec;
                        break;
                    }
            break;
        }
        struct timespec p = {pause / 1000, (pause % 1000) * 1000000};
        nanosleep(&p, NULL);
        pause = pause * 2 > 250 ? 250 : pause * 2;
    }
    if (rc == 0 && d->n_rec)
        ck_info(d->log, "dns-01", "%zu TXT record(s) answered by all %zu name server(s) "
                                  "after %ld ms", d->n_rec, total, ms);
    free(w);
    return rc;
}

void ck_dns01_stop(struct ck_dns01 *d)
{
    if (!d)
        return;
    int any = 0;
    for (size_t i = 0; i < d->n_rec; i++)
        if (d->rec[i].present) {
            remove_value(d, &d->rec[i]);
            any = 1;
        }
    if (any)
        save_pending(d);
    ck_dns_key_wipe(&d->key);
    free(d->rec);
    free(d);
}
