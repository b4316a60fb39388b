#include "cert.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void ck_time_format(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "@%lld", (long long)t);
}

int64_t ck_cert_min_left(int64_t not_before, int64_t not_after, long min_valid)
{
    int64_t share = (not_after - not_before) / CK_CERT_LIFE_SHARE;
    if (share < 0)
        share = 0;
    if (min_valid < 0)
        min_valid = 0;
    return min_valid < share ? min_valid : share;
}

/* RFC 6125 style: exact (case-insensitive) or a left-most "*." wildcard label. */
static int name_covered(const char *name, const struct ck_cert_info *ci)
{
    unsigned char ip[16];
    int is_ip = ck_ip_bytes(name, ip) != 0;  /* an address matches itself only, never a wildcard */
    for (size_t i = 0; i < ci->n_dns_names; i++) {
        const char *san = ci->dns_names[i];
        if (strcasecmp(san, name) == 0)
            return 1;
        if (!is_ip && san[0] == '*' && san[1] == '.') {
            const char *dot = strchr(name, '.');
            if (dot && dot != name && strcasecmp(dot + 1, san + 2) == 0)
                return 1;
        }
    }
    return 0;
}

static void summarise(const struct ck_cert_info *ci, size_t chain_len, struct ck_cert_summary *s)
{
    struct ck_err ignored;
    s->not_before = ci->not_before;
    s->not_after = ci->not_after;
    s->key_type = ci->key_type;
    s->chain_len = chain_len;
    snprintf(s->issuer_cn, sizeof s->issuer_cn, "%s", ci->issuer_cn);
    size_t n = ci->serial_len < 32 ? ci->serial_len : 32;
    for (size_t i = 0; i < n; i++)
        snprintf(s->serial_hex + 2 * i, 3, "%02x", ci->serial[i]);
    s->serial_hex[2 * n] = '\0';
    if (ci->aki_len == 0 || ck_ari_cert_id(ci, s->ari_id, sizeof s->ari_id, &ignored) != 0)
        s->ari_id[0] = '\0';
}

/* The issuer CN of the chain's last certificate, the one that names the root. */
static void top_issuer(const struct ck_der_list *certs, const struct ck_cert_info *leaf, char *out,
                       size_t cap)
{
    struct ck_cert_info top;
    struct ck_err ignored;
    snprintf(out, cap, "%.48s", leaf->issuer_cn);
    if (certs->n > 1 &&
        ck_cert_parse(certs->items[certs->n - 1].data, certs->items[certs->n - 1].len, &top,
                      &ignored) == 0) {
        snprintf(out, cap, "%.48s", top.issuer_cn);
        ck_cert_info_free(&top);
    }
}

/* Last of the checks, so that a certificate's own faults are named first: 0 when the
 * chain leads to one of w's anchors, 1 (e names the chain's top issuer) when not. The
 * moment is one of the leaf's own validity: its expiry is judged by the caller's clock. */
static int trusted(const char *where, const struct ck_der_list *certs,
                   const struct ck_cert_info *leaf, const struct ck_cert_want *w, struct ck_err *e)
{
    int64_t at = w->now < leaf->not_before ? leaf->not_before : w->now;
    if (at >= leaf->not_after)
        at = leaf->not_after - 1;
    if (ck_chain_trusted(certs, w->anchors, w->n_anchors, at, e) == 1)
        return 0;
    /* The chain check verified the first link too; only a failure pays for naming it. */
    struct ck_err e2;
    if (ck_cert_signed_by(certs->items[0].data, certs->items[0].len, certs->items[1].data,
                          certs->items[1].len, &e2) == 0) {
        ck_fail(e, "%s: the chain's first certificate did not issue the certificate", where);
        return 1;
    }
    char why[sizeof e->msg], issuer[64];
    snprintf(why, sizeof why, "%s", e->msg);
    top_issuer(certs, leaf, issuer, sizeof issuer);
    ck_fail(e, "%s: %s; its top issuer is \"%s\"", where, why, issuer);
    return 1;
}

static void hash_part(br_sha256_context *h, const void *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    br_sha256_update(h, len, sizeof len);
    br_sha256_update(h, p, n);
}

/* What a passing check is a function of: the two files' bytes and the anchors. */
static void proof_of(const char *fullchain, size_t fl, const char *privkey, size_t pl,
                     const struct ck_cert_want *w, unsigned char out[32])
{
    br_sha256_context h;
    br_sha256_init(&h);
    hash_part(&h, "certkeep cert check 1", 21);
    hash_part(&h, fullchain, fl);
    hash_part(&h, privkey, pl);
    for (size_t i = 0; i < w->n_anchors; i++) {
        const br_x509_trust_anchor *ta = &w->anchors[i];
        unsigned char kind = (unsigned char)ta->pkey.key_type;
        hash_part(&h, ta->dn.data, ta->dn.len);
        hash_part(&h, &kind, 1);
        if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
            hash_part(&h, ta->pkey.key.rsa.n, ta->pkey.key.rsa.nlen);
            hash_part(&h, ta->pkey.key.rsa.e, ta->pkey.key.rsa.elen);
        } else {
            unsigned char curve = (unsigned char)ta->pkey.key.ec.curve;
            hash_part(&h, &curve, 1);
            hash_part(&h, ta->pkey.key.ec.q, ta->pkey.key.ec.qlen);
        }
    }
    br_sha256_out(&h, out);
}

int ck_cert_check(const char *where, const char *fullchain, size_t fullchain_len,
                  const char *privkey, size_t privkey_len, const struct ck_cert_want *w,
                  struct ck_cert_summary *sum, struct ck_err *e)
{
    struct ck_der_list certs = {0};
    struct ck_cert_info ci;
    struct ck_key *key = NULL;
    char when[32];
    int rc = 1, parsed = 0;

    memset(sum, 0, sizeof *sum);
    memset(&ci, 0, sizeof ci);
    if (fullchain_len == 0) {
        ck_fail(e, "%s: fullchain.pem is empty", where);
        goto out;
    }
    if (ck_pem_certs(fullchain, fullchain_len, "fullchain.pem", &certs, e) != 0) {
        ck_wrap(e, "%s", where);
        goto out;
    }
    if (certs.n == 0) {
        ck_fail(e, "%s: fullchain.pem holds no certificate", where);
        goto out;
    }
    if (ck_cert_parse(certs.items[0].data, certs.items[0].len, &ci, e) != 0) {
        ck_wrap(e, "%s: fullchain.pem", where);
        goto out;
    }
    parsed = 1;
    summarise(&ci, certs.n - 1, sum);
    if (privkey_len == 0) {
        ck_fail(e, "%s: privkey.pem is empty", where);
        goto out;
    }
    unsigned char proof[32];
    proof_of(fullchain, fullchain_len, privkey, privkey_len, w, proof);
    int proven = w->proven && !w->just_issued && memcmp(proof, w->proven, sizeof proof) == 0;
    if (proven)
        ;  /* the key matched this very certificate before: no need to load it again */
    else if (ck_key_from_pem(privkey, privkey_len, "privkey.pem", &key, e) != 0) {
        ck_wrap(e, "%s", where);
        goto out;
    }
    int m = proven ? 1 : ck_key_matches_cert(key, certs.items[0].data, certs.items[0].len, e);
    if (m != 1) {
        if (m == 0)
            ck_fail(e, "%s: privkey.pem does not match the certificate", where);
        else
            ck_wrap(e, "%s", where);
        goto out;
    }
    if (ci.self_issued) {
        ck_fail(e, "%s: the certificate is self-signed (issuer %s)", where, ci.issuer_cn);
        goto out;
    }
    if (certs.n < 2) {
        ck_fail(e, "%s: fullchain.pem has no chain after the certificate", where);
        goto out;
    }
    if (w->key_type != CK_KEY_NONE && ci.key_type != w->key_type) {
        ck_fail(e, "%s: key type is %s, configured %s", where,
                ck_key_type_name(ci.key_type) ? ck_key_type_name(ci.key_type) : "unsupported",
                ck_key_type_name(w->key_type));
        goto out;
    }
    for (size_t i = 0; i < w->n_names; i++) {
        if (!name_covered(w->names[i], &ci)) {
            ck_fail(e, "%s: missing name %s", where, w->names[i]);
            goto out;
        }
    }
    if (ci.not_after <= ci.not_before) {
        ck_time_format(ci.not_after, when);
        ck_fail(e, "%s: notAfter %s is not after notBefore", where, when);
        goto out;
    }
    if (w->just_issued) {
        rc = trusted(where, &certs, &ci, w, e);
        goto out;
    }
    /* The CA dates what it issues: a notBefore ahead of our clock means our
     * clock is behind, and a new certificate would carry the same date. */
    int64_t from = ci.not_before > w->now ? ci.not_before : w->now;
    if (ci.not_after <= from) {
        ck_time_format(ci.not_after, when);
        ck_fail(e, "%s: expired %s", where, when);
        goto out;
    }
    int64_t need = ck_cert_min_left(ci.not_before, ci.not_after, w->min_valid);
    if (ci.not_after - from < need) {
        ck_time_format(ci.not_after, when);
        if (need < w->min_valid)
            ck_fail(e, "%s: expires %s, less than the minimum %llds left (1/%d of its %llds "
                    "lifetime)", where, when, (long long)need, CK_CERT_LIFE_SHARE,
                    (long long)(ci.not_after - ci.not_before));
        else
            ck_fail(e, "%s: expires %s, less than the minimum %lds left", where, when,
                    w->min_valid);
        goto out;
    }
    rc = proven ? 0 : trusted(where, &certs, &ci, w, e);
    if (rc == 0) {
        memcpy(sum->proof, proof, sizeof proof);
        sum->proved = 1;
    }
out:
    if (parsed)
        ck_cert_info_free(&ci);
    ck_key_free(key);
    ck_der_list_free(&certs);
    return rc;
}
