/* OCSP request and response (RFC 6960, RFC 5019's profile), written and read by hand on
 * the DER helpers: BearSSL has none. The response is untrusted: every read is bounded
 * by ck_dr, nothing recurses, and nothing of it is believed before its signature is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_int.h"

#define MAX_RESPONSES 64    /* SingleResponses looked at for ours */
#define MAX_CERTS 8         /* responder certificates tried */

static const unsigned char OID_SHA1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const unsigned char OID_BASIC[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

/* CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } */
struct cert_id {
    unsigned char name[20], key[20];
    struct ck_cert_info ci;  /* the leaf: its serial */
};

static int make_id(const unsigned char *cert, size_t cert_len, const unsigned char *issuer,
                   size_t issuer_len, struct cert_id *id, struct ck_err *e)
{
    if (ck_cert_parse(cert, cert_len, &id->ci, e) < 0)
        return ck_wrap(e, "OCSP");
    ck_cert_info_free(&id->ci);  /* only the serial is used */
    if (ck_cert_issuer_ids(issuer, issuer_len, id->name, id->key) < 0)
        return ck_fail(e, "OCSP: the issuer certificate is malformed");
    return 0;
}

int ck_ocsp_request(const unsigned char *cert, size_t cert_len, const unsigned char *issuer,
                    size_t issuer_len, unsigned char **der, size_t *der_len, struct ck_err *e)
{
    struct ck_dw alg = {0}, cid = {0}, certid = {0}, req = {0}, list = {0}, tbs = {0}, top = {0};
    struct cert_id id;

    if (make_id(cert, cert_len, issuer, issuer_len, &id, e) < 0)
        return -1;
    ck_dw_tlv(&alg, 0x06, OID_SHA1, sizeof OID_SHA1);
    ck_dw_tlv(&alg, 0x05, NULL, 0);
    ck_dw_wrap(&cid, 0x30, &alg);
    ck_dw_tlv(&cid, 0x04, id.name, sizeof id.name);
    ck_dw_tlv(&cid, 0x04, id.key, sizeof id.key);
    ck_dw_tlv(&cid, 0x02, id.ci.serial, id.ci.serial_len);  /* as the certificate has it */
    ck_dw_wrap(&certid, 0x30, &cid);   /* CertID */
    ck_dw_wrap(&req, 0x30, &certid);   /* Request */
    ck_dw_wrap(&list, 0x30, &req);     /* requestList */
    ck_dw_wrap(&tbs, 0x30, &list);     /* TBSRequest */
    ck_dw_wrap(&top, 0x30, &tbs);      /* OCSPRequest */
    if (top.oom) {
        ck_dw_free(&top);
        return ck_fail(e, "OCSP request: out of memory");
    }
    *der = top.p;
    *der_len = top.len;
    return 0;
}

static int gtime(struct ck_dr *in, int64_t *t)
{
    struct ck_dr v;
    return ck_dr_expect(in, 0x18, &v, NULL) < 0 || ck_dr_time(0x18, &v, t) < 0 ? -1 : 0;
}

/* 1 when the CertID is ours, 0 when it is another's, -1 malformed. */
static int id_is_ours(struct ck_dr cid, const struct cert_id *id)
{
    struct ck_dr alg, oid, name, key, serial;
    if (ck_dr_expect(&cid, 0x30, &alg, NULL) < 0 || ck_dr_expect(&alg, 0x06, &oid, NULL) < 0 ||
        ck_dr_expect(&cid, 0x04, &name, NULL) < 0 || ck_dr_expect(&cid, 0x04, &key, NULL) < 0 ||
        ck_dr_expect(&cid, 0x02, &serial, NULL) < 0 || cid.n != 0)
        return -1;
    return ck_dr_oid_is(&oid, OID_SHA1, sizeof OID_SHA1) && name.n == 20 &&
           !memcmp(name.p, id->name, 20) && key.n == 20 && !memcmp(key.p, id->key, 20) &&
           serial.n == id->ci.serial_len && !memcmp(serial.p, id->ci.serial, serial.n);
}

/* SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] OPTIONAL,
 * singleExtensions [1] OPTIONAL }: 1 ours (out filled), 0 another's, -1 malformed. */
static int single(struct ck_dr sr, const struct cert_id *id, struct ck_ocsp_answer *out)
{
    struct ck_dr cid, st, v;
    unsigned char tag;
    int ours;
    if (ck_dr_expect(&sr, 0x30, &cid, NULL) < 0 || (ours = id_is_ours(cid, id)) < 0)
        return -1;
    if (!ours)
        return 0;
    if (ck_dr_next(&sr, &tag, &st, NULL) < 0)
        return -1;
    if (tag == 0x80 && st.n == 0) {
        out->status = CK_OCSP_GOOD;
    } else if (tag == 0x82 && st.n == 0) {
        out->status = CK_OCSP_UNKNOWN;
    } else if (tag == 0xa1) {  /* RevokedInfo: revocationTime, [0] reason */
        out->status = CK_OCSP_REVOKED;
        if (gtime(&st, &out->revoked_at) < 0)
            return -1;
    } else {
        return -1;
    }
    if (gtime(&sr, &out->this_update) < 0)
        return -1;
    out->next_update = 0;
    if (sr.n > 0 && sr.p[0] == 0xa0) {
        if (ck_dr_next(&sr, &tag, &v, NULL) < 0 || gtime(&v, &out->next_update) < 0 || v.n != 0)
            return -1;
    }
    if (sr.n > 0 && (ck_dr_expect(&sr, 0xa1, &v, NULL) < 0 || sr.n != 0))
        return -1;
    return 1;
}

/* ResponseData ::= SEQUENCE { version [0] DEFAULT v1, responderID, producedAt, responses,
 * responseExtensions [1] OPTIONAL } */
static int response_data(struct ck_dr tbs, const struct cert_id *id, struct ck_ocsp_answer *out,
                         struct ck_err *e)
{
    struct ck_dr v, list, sr;
    unsigned char tag;
    if (tbs.n > 0 && tbs.p[0] == 0xa0) {
        struct ck_dr ver;
        if (ck_dr_next(&tbs, &tag, &v, NULL) < 0 || ck_dr_expect(&v, 0x02, &ver, NULL) < 0 ||
            ver.n != 1 || ver.p[0] != 0)
            return ck_fail(e, "OCSP response: not version 1");
    }
    if (ck_dr_next(&tbs, &tag, &v, NULL) < 0 || (tag != 0xa1 && tag != 0xa2) ||
        gtime(&tbs, &out->produced_at) < 0 || ck_dr_expect(&tbs, 0x30, &list, NULL) < 0)
        return ck_fail(e, "OCSP response: malformed response data");
    for (int i = 0; list.n > 0 && i < MAX_RESPONSES; i++) {
        int rc;
        if (ck_dr_expect(&list, 0x30, &sr, NULL) < 0 || (rc = single(sr, id, out)) < 0)
            return ck_fail(e, "OCSP response: malformed single response");
        if (rc == 1)
            return 0;
    }
    char hex[65] = "";
    for (size_t i = 0; i < id->ci.serial_len && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", id->ci.serial[i]);
    return ck_fail(e, "OCSP response: no answer for serial %s", hex);
}

/* A responder certificate the issuer delegated OCSP signing to (RFC 6960 4.2.2.2). */
static int delegate_ok(const struct ck_dr *cert, const unsigned char *issuer, size_t issuer_len,
                       int64_t now, char *why, size_t cap)
{
    struct ck_cert_info ci;
    struct ck_err e;
    if (ck_cert_parse(cert->p, cert->n, &ci, &e) < 0) {
        snprintf(why, cap, "a responder certificate is malformed");
        return 0;
    }
    int eku = ci.ocsp_signing;
    int in_time = ci.not_before <= now && now <= ci.not_after;
    char cn[80];
    snprintf(cn, sizeof cn, "%.60s", ci.subject_cn);
    ck_cert_info_free(&ci);
    if (ck_cert_signed_by(cert->p, cert->n, issuer, issuer_len, &e) != 1)
        snprintf(why, cap, "the responder certificate \"%s\" is not the issuer's", cn);
    else if (!eku)
        snprintf(why, cap, "the responder certificate \"%s\" lacks id-kp-OCSPSigning", cn);
    else if (!in_time)
        snprintf(why, cap, "the responder certificate \"%s\" is outside its validity", cn);
    else
        return 1;
    return 0;
}

int ck_ocsp_check(const unsigned char *resp, size_t resp_len, const unsigned char *cert,
                  size_t cert_len, const unsigned char *issuer, size_t issuer_len, int64_t now,
                  struct ck_ocsp_answer *out, struct ck_err *e)
{
    static const char *const statuses[] = {"successful", "malformedRequest", "internalError",
                                           "tryLater", "4", "sigRequired", "unauthorized"};
    struct ck_dr in = {resp, resp_len}, top, st, rb, rbs, type, octets, basic, tbs, tbs_full,
                 alg, alg_oid, sig, certs;
    struct cert_id id;
    char why[160] = "";

    memset(out, 0, sizeof *out);
    if (make_id(cert, cert_len, issuer, issuer_len, &id, e) < 0)
        return -1;
    if (!resp || ck_dr_expect(&in, 0x30, &top, NULL) < 0 || in.n != 0 ||
        ck_dr_expect(&top, 0x0a, &st, NULL) < 0 || st.n != 1)
        return ck_fail(e, "OCSP response: malformed");
    if (st.p[0] != 0)
        return ck_fail(e, "OCSP response: the responder answered %s",
                       st.p[0] < 7 ? statuses[st.p[0]] : "an unknown status");
    if (ck_dr_expect(&top, 0xa0, &rb, NULL) < 0 || top.n != 0 ||
        ck_dr_expect(&rb, 0x30, &rbs, NULL) < 0 || rb.n != 0 ||
        ck_dr_expect(&rbs, 0x06, &type, NULL) < 0 || ck_dr_expect(&rbs, 0x04, &octets, NULL) < 0)
        return ck_fail(e, "OCSP response: malformed");
    if (!ck_dr_oid_is(&type, OID_BASIC, sizeof OID_BASIC))
        return ck_fail(e, "OCSP response: not a basic response");
    /* BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature,
     * certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL } */
    if (ck_dr_expect(&octets, 0x30, &basic, NULL) < 0 || octets.n != 0 ||
        ck_dr_expect(&basic, 0x30, &tbs, &tbs_full) < 0 ||
        ck_dr_expect(&basic, 0x30, &alg, NULL) < 0 || ck_dr_expect(&alg, 0x06, &alg_oid, NULL) < 0 ||
        ck_dr_expect(&basic, 0x03, &sig, NULL) < 0 || sig.n < 1 || sig.p[0] != 0)
        return ck_fail(e, "OCSP response: malformed basic response");
    sig.p++;
    sig.n--;
    certs.n = 0;
    if (basic.n > 0) {
        struct ck_dr x;
        if (ck_dr_expect(&basic, 0xa0, &x, NULL) < 0 || basic.n != 0 ||
            ck_dr_expect(&x, 0x30, &certs, NULL) < 0 || x.n != 0)
            return ck_fail(e, "OCSP response: malformed certificates");
    }
    /* the signature first: nothing else in it means anything before */
    int rc = ck_sig_verify(issuer, issuer_len, &alg_oid, &tbs_full, &sig, e);
    if (rc < 0)
        return ck_wrap(e, "OCSP response");
    for (int i = 0; rc != 1 && certs.n > 0 && i < MAX_CERTS; i++) {
        struct ck_dr c, cfull;
        if (ck_dr_expect(&certs, 0x30, &c, &cfull) < 0)
            return ck_fail(e, "OCSP response: malformed certificates");
        if (!delegate_ok(&cfull, issuer, issuer_len, now, why, sizeof why))
            continue;
        struct ck_err ignored;
        if (ck_sig_verify(cfull.p, cfull.n, &alg_oid, &tbs_full, &sig, &ignored) == 1) {
            rc = 1;
            out->delegated = 1;
        } else {
            snprintf(why, sizeof why, "its responder certificate did not sign it");
        }
    }
    if (rc != 1)
        return ck_fail(e, "OCSP response: not signed by the issuer%s%s", why[0] ? "; " : "", why);
    if (response_data(tbs, &id, out, e) < 0)
        return -1;
    if (out->this_update > now + CK_OCSP_SKEW_S)
        return ck_fail(e, "OCSP response: thisUpdate is %lld s ahead of our clock",
                       (long long)(out->this_update - now));
    if (out->next_update == 0)
        return ck_fail(e, "OCSP response: no nextUpdate (nothing to staple)");
    if (out->next_update <= now)
        return ck_fail(e, "OCSP response: expired %lld s ago (nextUpdate)",
                       (long long)(now - out->next_update));
    if (out->next_update <= out->this_update)
        return ck_fail(e, "OCSP response: nextUpdate is not after thisUpdate");
    return 0;
}
