/* The renewal steps `renew` and `run` share: the volume read (with its day-long proof),
 * one issuer under the store lease, store first then volume, tell the app, keep
 * state.json; the pickup of another replica's certificate, and the wait for it. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../acme/acme.h"
#include "../fs/fs.h"
#include "../http/http.h"
#include "../reload/reload.h"
#include "../renewal/renewal.h"
#include "../store/store.h"
#include "keeper.h"

#define RENEW_WAIT_MAX_S 900  /* longest wait for another replica's renewal, as init */

/* <state>/certs/<name>/checked: "<proof hex> <unix time>" of the volume's last full
 * check, trusted for a day (the chain's dates are not checked under it). A cache: a
 * torn or stale file only costs the full check again, so it is written plainly. */
#define PROOF_MAX_AGE_S 86400

static int proof_path(const struct ck_config *c, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/certs/%s/checked", c->state_dir, c->cert_name);
    return n > 0 && (size_t)n < cap;
}

static int proof_read(const struct ck_config *c, unsigned char out[32], int64_t now)
{
    char path[PATH_MAX], *text = NULL;
    size_t len = 0;
    struct ck_err e;
    long long at = 0;
    int ok = 0;
    if (proof_path(c, path, sizeof path) && ck_fs_read_own(path, 128, &text, &len, &e) == 0) {
        ok = len > 65 && text[64] == ' ' && sscanf(text + 65, "%lld", &at) == 1 && at <= now &&
             now - at < PROOF_MAX_AGE_S;
        for (size_t i = 0; ok && i < 32; i++) {
            unsigned v;
            ok = sscanf(text + 2 * i, "%2x", &v) == 1;
            out[i] = (unsigned char)v;
        }
    }
    free(text);
    return ok;
}

static void proof_write(const struct ck_config *c, const unsigned char proof[32], int64_t now)
{
    char path[PATH_MAX], dir[PATH_MAX], text[96];
    struct ck_err e;
    for (int i = 0; i < 32; i++)
        snprintf(text + 2 * i, 3, "%02x", proof[i]);
    int tl = 64 + snprintf(text + 64, sizeof text - 64, " %lld\n", (long long)now);
    int n = snprintf(dir, sizeof dir, "%s/certs/%s", c->state_dir, c->cert_name);
    if (n <= 0 || (size_t)n >= sizeof dir || !proof_path(c, path, sizeof path) ||
        ck_fs_mkdir_p(dir, 0700, &e))
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int ok = write(fd, text, (size_t)tl) == tl;
    close(fd);
    if (!ok)  /* no proof rather than a torn one */
        unlink(path);
}

int ck_keeper_read_volume(const struct ck_config *c, struct ck_cert_summary *sum, char *why,
                          size_t cap)
{
    struct ck_bundle b;
    struct ck_err e;
    ck_err_clear(&e);
    memset(sum, 0, sizeof *sum);
    int rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &b, &e);
    if (rc == CK_BUNDLE_ABSENT) {
        snprintf(why, cap, "volume: nothing at %s/%s", c->out_dir, c->cert_name);
        return CK_KEEPER_VOL_ABSENT;
    }
    if (rc) {
        snprintf(why, cap, "%s", e.msg);
        return CK_KEEPER_VOL_UNUSABLE;
    }
    unsigned char proven[32];
    int64_t now = (int64_t)time(NULL);
    int had = proof_read(c, proven, now);
    rc = ck_keeper_usable_proven(c, "volume", &b, had ? proven : NULL, sum, &e);
    ck_bundle_free(&b);
    /* a full check passed (none yet, or the proof was another pair's): its proof for a day */
    if (rc == 0 && sum->proved && (!had || memcmp(sum->proof, proven, sizeof proven)))
        proof_write(c, sum->proof, now);
    if (rc) {
        snprintf(why, cap, "%s", e.msg);
        return CK_KEEPER_VOL_UNUSABLE;
    }
    if (ck_keeper_revoked(c, NULL, sum->serial_hex)) {  /* local mark only: run's loop calls this */
        snprintf(why, cap, "volume: serial %s is revoked", sum->serial_hex);
        return CK_KEEPER_VOL_UNUSABLE;
    }
    snprintf(why, cap, "usable");
    return 0;
}

int ck_keeper_tell_app(const struct ck_config *c, const struct ck_log *log)
{
    struct ck_reload_target t;
    struct ck_err e;
    ck_reload_from_config(&t, c);
    if (!ck_reload_configured(&t))
        return 1;
    struct ck_cert_summary sum = {0};
    char why[600];
    if (t.command)  /* facts for the command's environment; a signal goes out without them */
        ck_keeper_read_volume(c, &sum, why, sizeof why);
    if (sum.serial_hex[0]) {
        memcpy(t.serial, sum.serial_hex, sizeof t.serial);
        t.not_after = sum.not_after;
    }
    ck_err_clear(&e);
    return ck_reload(&t, log, &e);  /* logs each way itself; not a failed renewal */
}

int ck_keeper_pickup(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                     int64_t have_not_after, pthread_mutex_t *write_lock,
                     struct ck_cert_summary *sum, struct ck_err *e)
{
    struct ck_bundle_record r;
    struct ck_bundle b;
    int rc = ck_bundle_store_record(st, c->cert_name, &r, e);
    if (rc < 0)
        return -1;
    int newer = rc == 0 && r.not_after > have_not_after;
    if (rc == 0)
        ck_bundle_record_free(&r);
    if (!newer)
        return 0;
    rc = ck_bundle_store_get(st, c->cert_name, &b, NULL, e);
    if (rc < 0)
        return -1;
    if (rc) {
        if (rc == CK_BUNDLE_ABSENT)
            ck_fail(e, "store: current.json vanished");
        return -1;
    }
    if (ck_keeper_usable(c, "store", &b, sum, e)) {
        ck_bundle_free(&b);
        return -1;
    }
    if (ck_keeper_revoked(c, st, sum->serial_hex)) {  /* nothing newer worth having: renew */
        ck_bundle_free(&b);
        return 0;
    }
    if (write_lock)
        pthread_mutex_lock(write_lock);
    rc = ck_bundle_publish(c->out_dir, c->cert_name, &b, e);
    if (write_lock)
        pthread_mutex_unlock(write_lock);
    ck_bundle_free(&b);
    if (rc)
        return -1;
    char when[32];
    ck_time_format(sum->not_after, when);
    ck_info(log, "store.pickup", "restored from %s: serial %s, notAfter %s (newer)",
            ck_store_name(st), sum->serial_hex, when);
    return 1;
}

/* Obtain + save (+ reload) while holding the lease (or with no store). */
static int renew_holding(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         struct ck_keeper_renewal *r, struct ck_err *e)
{
    struct ck_bundle b;
    if (st) {  /* another replica may have renewed just before we took the lease */
        int rc = ck_keeper_pickup(c, log, st, r->have_not_after, r->write_lock, &r->sum, e);
        if (rc < 0)
            return ck_wrap(e, "reading the store before renewing");
        if (rc == 1) {
            r->restored = 1;
            ck_keeper_ocsp_before_telling(c, log, r->write_lock);
            r->reload = ck_keeper_tell_app(c, log);
            return 0;
        }
    }
    if (ck_keeper_obtain_replacing(c, log, st, r->replaces, &b, &r->sum, e))
        return -1;
    if (r->write_lock)
        pthread_mutex_lock(r->write_lock);
    int rc = ck_keeper_save(c, log, st, &b, &r->sum, e);
    if (r->write_lock)
        pthread_mutex_unlock(r->write_lock);
    ck_bundle_free(&b);
    if (rc == 0) {  /* the files are switched: the app first, the lease and state.json after */
        ck_keeper_ocsp_before_telling(c, log, r->write_lock);
        r->reload = ck_keeper_tell_app(c, log);
    }
    return rc;
}

int ck_keeper_renew_once(const struct ck_config *c, const struct ck_log *log, struct ck_store *st,
                         struct ck_keeper_renewal *r, struct ck_err *e)
{
    struct ck_keeper_store ls;
    struct ck_lease *lease = NULL;
    struct ck_lease_holder holder;
    struct ck_keeper_beat beat;
    char owner[128];
    int rc;
    r->restored = 0;
    r->lease_lost = 0;
    r->reload = 1;
    if (!st) {
        rc = renew_holding(c, log, NULL, r, e);
        goto done;
    }
    /* the lease on a handle of its own: the heartbeat thread uses it meanwhile */
    if (ck_keeper_store_open(c, &ls, e))
        return -1;
    ck_keeper_lease_owner(owner, sizeof owner);
    rc = ck_lease_acquire(ls.store, c->cert_name, owner, CK_KEEPER_LEASE_TTL_S, &lease, &holder, e);
    if (rc) {
        ck_keeper_store_close(&ls);
        if (rc < 0)
            return ck_wrap(e, "taking the issuer lease");
        ck_debug(log, "renew.wait", "%s; another replica is renewing", e->msg);
        return CK_KEEPER_BUSY;
    }
    ck_keeper_lease_overlong(c, log, &holder);
    ck_keeper_beat_start(&beat, lease, log);
    rc = renew_holding(c, log, st, r, e);
    ck_keeper_beat_stop(&beat);
    struct ck_err re;
    *c->proc->stop = 0;  /* the release must go out even after a signal */
    int released = ck_lease_release(lease, &re);
    if (released)
        ck_warn(log, "lease", "releasing: %s", re.msg);
    r->lease_lost = beat.lost || released == CK_STORE_CONFLICT;
    ck_keeper_store_close(&ls);
done:
    if (rc)
        return -1;
    ck_keeper_clear_failures(c, log, st);
    r->failures = 0;
    r->next_retry = 0;
    return 0;
}

/* Is the certificate due? From the CA's ARI window when it offers one, else
 * from its lifetime (the start of the window: an operator asked, no jitter). */
int ck_keeper_renew_due(const struct ck_config *c, const struct ck_log *log,
               const struct ck_cert_summary *sum, int64_t now, int64_t *when)
{
    struct ck_window w = ck_renewal_window(sum->not_before, sum->not_after);
    *when = w.start;
    if (!sum->ari_id[0])
        return now >= *when;
    struct ck_http_opts ho = ck_keeper_http_opts(c, 5000, 20000);
    struct ck_acme_opts ao = {.directory_url = c->directory_url, .log = log};
    struct ck_http *h = NULL;
    struct ck_acme *a = NULL;
    struct ck_err e;
    int64_t s = 0, end = 0;
    long ra = -1;
    if (ck_http_new(&ho, &h, &e) == 0) {
        ao.http = h;
        if (ck_acme_new(&ao, &a, &e) == 0 && ck_acme_directory(a, &e) == 0 && ck_acme_has_ari(a)) {
            if (ck_acme_renewal_info(a, sum->ari_id, &s, &end, &ra, &e) == 0 && s > 0)
                *when = s;
            else
                ck_warn(log, "ari", "%s (using the certificate's own window)", e.msg);
        }
    }
    ck_acme_free(a);
    ck_http_free(h);
    return now >= *when;
}

/* Another replica is renewing: restore its certificate when it lands in the
 * store, or renew ourselves if its lease goes away without one (bounded). */
int ck_keeper_renew_wait(const struct ck_config *c, const struct ck_log *log,
                           struct ck_store *st, struct ck_keeper_renewal *r, struct ck_err *e)
{
    time_t deadline = time(NULL) + RENEW_WAIT_MAX_S;
    ck_info(log, "renew.wait", "%s; waiting for its certificate", e->msg);
    while (time(NULL) < deadline) {
        if (!*c->proc->signal)
            sleep(2);  /* SIGINT/SIGTERM cut it short */
        if (*c->proc->signal)
            return ck_fail(e, "interrupted while waiting for the lease holder");
        int rc = ck_keeper_pickup(c, log, st, r->have_not_after, NULL, &r->sum, e);
        if (rc == 1) {
            ck_keeper_tell_app(c, log);
            return 0;
        }
        if (rc < 0)
            ck_warn(log, "renew.wait", "%s", e->msg);
        rc = ck_keeper_renew_once(c, log, st, r, e);
        if (rc != CK_KEEPER_BUSY)
            return rc;
    }
    return ck_fail(e, "no certificate from the lease holder within %d s", RENEW_WAIT_MAX_S);
}
