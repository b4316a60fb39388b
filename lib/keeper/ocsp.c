/* OCSP stapling material beside the certificate: <out>/<name>/ocsp.der (0644), for
 * nginx's ssl_stapling_file and the like. It lives in the certificate's own version
 * directory, so a new certificate never has an older one's response beside it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../fs/fs.h"
#include "../ocsp/ocsp.h"
#include "keeper.h"

/* The volume's cert.pem text, its leaf and issuer DER (the first two of fullchain). */
struct held {
    struct ck_bundle b;
    struct ck_der_list l;
    struct ck_cert_info ci;
    int parsed;
};

static void held_free(struct held *h)
{
    if (h->parsed)
        ck_cert_info_free(&h->ci);
    ck_der_list_free(&h->l);
    ck_bundle_free(&h->b);
}

static int read_held(const struct ck_config *c, struct held *h, struct ck_err *e)
{
    memset(h, 0, sizeof *h);
    int rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &h->b, e);
    if (rc == CK_BUNDLE_ABSENT)
        return ck_fail(e, "no certificate at %s/%s", c->out_dir, c->cert_name);
    if (rc || ck_pem_certs(h->b.fullchain, h->b.fullchain_len, "volume: fullchain.pem", &h->l, e))
        return -1;
    if (h->l.n == 0)
        return ck_fail(e, "volume: fullchain.pem holds no certificate");
    if (ck_cert_parse(h->l.items[0].data, h->l.items[0].len, &h->ci, e))
        return -1;
    h->parsed = 1;
    return 0;
}

/* The ocsp.der there, when it is a good answer for this certificate. */
static int kept(const struct ck_config *c, const struct held *h, int64_t now,
                struct ck_ocsp_answer *a)
{
    char path[PATH_MAX], *data = NULL;
    size_t len = 0;
    struct ck_err e;
    if (snprintf(path, sizeof path, "%s/%s/%s", c->out_dir, c->cert_name, CK_KEEPER_OCSP_FILE) >=
            (int)sizeof path ||
        ck_fs_read(path, CK_OCSP_MAX_RESPONSE, &data, &len, &e) != 0)
        return 0;
    int ok = ck_ocsp_check((unsigned char *)data, len, h->l.items[0].data, h->l.items[0].len,
                           h->l.items[1].data, h->l.items[1].len, now, a, &e) == 0 &&
             a->status == CK_OCSP_GOOD;
    free(data);
    return ok;
}

static int64_t half_way(const struct ck_ocsp_answer *a)
{
    return a->this_update + (a->next_update - a->this_update) / 2;
}

int ck_keeper_ocsp_refresh(const struct ck_config *c, const struct ck_log *log,
                           pthread_mutex_t *write_lock, int tell_app, struct ck_keeper_ocsp *out,
                           struct ck_err *e)
{
    struct held v;
    struct ck_http *h = NULL;
    unsigned char *resp = NULL;
    size_t resp_len = 0;
    int64_t now = (int64_t)time(NULL);
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (c->no_ocsp)
        return 0;
    if (read_held(c, &v, e))
        goto out;
    for (size_t i = 0; i < v.ci.serial_len && i < 32; i++)  /* as ck_cert_summary's serial_hex */
        snprintf(out->serial + 2 * i, 3, "%02x", v.ci.serial[i]);
    if (!v.ci.ocsp_url[0]) {  /* Let's Encrypt's since 2025: nothing to fetch */
        rc = 0;
        goto out;
    }
    if (v.l.n < 2) {
        ck_fail(e, "volume: fullchain.pem holds no issuer certificate to ask the responder about");
        goto out;
    }
    if (kept(c, &v, now, &out->a) && now < half_way(&out->a)) {
        out->refresh_at = half_way(&out->a);
        rc = 0;
        goto out;
    }
    struct ck_http_opts ho = ck_keeper_http_opts(c, 5000, 15000);
    if (ck_http_new(&ho, &h, e))
        goto out;
    if (ck_ocsp_fetch(h, v.ci.ocsp_url, v.l.items[0].data, v.l.items[0].len, v.l.items[1].data,
                      v.l.items[1].len, now, &resp, &resp_len, &out->a, e))
        goto out;
    out->fetched = 1;
    if (out->a.status == CK_OCSP_REVOKED) {  /* never staple it: the caller acts */
        out->refresh_at = now + 3600;  /* and is asked again should its mark not hold */
        rc = 0;
        goto out;
    }
    if (out->a.status != CK_OCSP_GOOD) {
        ck_failk(e, CK_E_PROTOCOL, "OCSP responder %.200s: serial %s is unknown to it",
                 v.ci.ocsp_url, out->serial);
        goto out;
    }
    if (write_lock)
        pthread_mutex_lock(write_lock);
    rc = ck_certdir_put(c->out_dir, c->cert_name, v.b.cert, v.b.cert_len, CK_KEEPER_OCSP_FILE, resp,
                        resp_len, 0644, e);
    if (write_lock)
        pthread_mutex_unlock(write_lock);
    if (rc)
        goto out;
    out->refresh_at = ck_ocsp_refresh_at(&out->a, now);
    char until[32];
    ck_time_format(out->a.next_update, until);
    ck_info(log, "ocsp", "serial %s good until %s%s: %s/%s/%s written", out->serial, until,
            out->a.delegated ? " (a delegated responder)" : "", c->out_dir, c->cert_name,
            CK_KEEPER_OCSP_FILE);
    if (tell_app)
        ck_keeper_tell_app(c, log);
out:
    free(resp);
    ck_http_free(h);
    held_free(&v);
    if (rc)
        out->refresh_at = 0;
    return rc;
}

void ck_keeper_ocsp_revoked(const struct ck_config *c, const struct ck_log *log,
                            struct ck_store *st, const struct ck_keeper_ocsp *o)
{
    char msg[200], when[32];
    struct ck_err e;
    ck_time_format(o->a.revoked_at, when);
    snprintf(msg, sizeof msg, "ocsp: the responder says serial %s was revoked at %s", o->serial,
             when);
    ck_error(log, "ocsp.revoked", "%s; issuing a new certificate", msg);
    if (ck_keeper_mark_revoked(c, log, st, o->serial, 0, &e))
        ck_warn(log, "ocsp", "%s", e.msg);
    ck_keeper_alert(c, log, msg);
}

void ck_keeper_ocsp_before_telling(const struct ck_config *c, const struct ck_log *log,
                                   pthread_mutex_t *write_lock)
{
    struct ck_keeper_ocsp o;
    struct ck_err e;
    if (ck_keeper_ocsp_refresh(c, log, write_lock, 0, &o, &e))
        ck_warn(log, "ocsp", "%s (no %s yet)", e.msg, CK_KEEPER_OCSP_FILE);
}
