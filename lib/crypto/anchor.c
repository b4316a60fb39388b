/* What a trust anchor takes from a CA certificate, read in one pass by the rules of
 * BearSSL's br_x509_decoder (src/x509/x509_decoder.t0 and asn1.t0 in BearSSL 0.6):
 * its interpreter cost ~0.5 ms per certificate in our -Os build. Its rules are looser
 * than DER (long or padded lengths, any non-zero BOOLEAN) and stricter elsewhere (dates,
 * tag classes); both are followed exactly, so the same certificates give the same
 * anchors. Every read is bounded by the enclosing element; nothing recurses. */
#include <bearssl.h>
#include <string.h>

#include "crypto.h"

/* The decoder's limit on a whole certificate, and on the RSA n+e or EC point bytes. */
#define MAX_CERT 0xFFFFFFu
#define MAX_KEY BR_X509_BUFSIZE_KEY
#define TAG_END (-1)

/* The unread rest of one element. */
struct rd {
    const unsigned char *p;
    size_t n;
};

static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const unsigned char OID_EC_PUB[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const unsigned char OID_P256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char OID_P384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
static const unsigned char OID_P521[] = {0x2b, 0x81, 0x04, 0x00, 0x23};
static const unsigned char OID_BASIC_CONSTRAINTS[] = {0x55, 0x1d, 0x13};

#define OID_IS(r, o) ((r)->n == sizeof(o) && memcmp((r)->p, (o), sizeof(o)) == 0)

static int rd8(struct rd *r, unsigned *x)
{
    if (r->n == 0)
        return -1;
    *x = *r->p++;
    r->n--;
    return 0;
}

/* read-tag: universal 0..30 as is, context-specific 0..30 as 32 + n; the application
 * and private classes and high tag numbers fail. */
static int rd_tag(struct rd *r, int *constructed, int *tag)
{
    unsigned b;
    if (rd8(r, &b) != 0 || (b & 0x40) != 0 || (b & 0x1f) == 0x1f)
        return -1;
    *constructed = (b & 0x20) != 0;
    *tag = (int)(((b & 0x80) >> 2) | (b & 0x1f));
    return 0;
}

/* read-length: definite only; long forms may be padded with zeros, any number of
 * bytes while the value so far stays within 23 bits. */
static int rd_len(struct rd *r, size_t *len)
{
    unsigned b, k;
    if (rd8(r, &b) != 0 || b == 0x80)
        return -1;
    if (b < 0x80) {
        *len = b;
        return 0;
    }
    uint32_t acc = 0;
    for (k = b - 0x80; k > 0; k--) {
        if (acc > 0x7FFFFF || rd8(r, &b) != 0)
            return -1;
        acc = (acc << 8) + b;
    }
    *len = acc;
    return 0;
}

/* read-length-open-elt: the value, which must fit in what is left of r. */
static int rd_open(struct rd *r, struct rd *val)
{
    size_t len;
    if (rd_len(r, &len) != 0 || len > r->n)
        return -1;
    val->p = r->p;
    val->n = len;
    r->p += len;
    r->n -= len;
    return 0;
}

/* A constructed SEQUENCE (read-sequence-open). */
static int rd_seq(struct rd *r, struct rd *val)
{
    int c, t;
    if (rd_tag(r, &c, &t) != 0 || t != 0x10 || !c)
        return -1;
    return rd_open(r, val);
}

/* A primitive element of universal tag `want`. */
static int rd_prim(struct rd *r, int want, struct rd *val)
{
    int c, t;
    if (rd_tag(r, &c, &t) != 0 || t != want || c)
        return -1;
    return rd_open(r, val);
}

/* read-OID: 1 read, 0 read but longer than the decoder's 255-byte pad (it then matches
 * nothing), -1 failed. */
static int rd_oid(struct rd *r, struct rd *oid)
{
    if (rd_prim(r, 0x06, oid) != 0)
        return -1;
    return oid->n <= 255;
}

/* read-bits-open: a BIT STRING with no unused bits; val is what follows that byte. */
static int rd_bits(struct rd *r, struct rd *val)
{
    unsigned unused;
    if (rd_prim(r, 0x03, val) != 0 || rd8(val, &unused) != 0 || unused != 0)
        return -1;
    return 0;
}

/* read-integer: non-negative, leading zeros dropped (all zeros: empty), at most cap bytes. */
static int rd_uint(struct rd *r, size_t cap, struct rd *val)
{
    if (rd_prim(r, 0x02, val) != 0 || val->n == 0 || val->p[0] >= 0x80)
        return -1;
    while (val->n > 0 && val->p[0] == 0) {
        val->p++;
        val->n--;
    }
    return val->n <= cap ? 0 : -1;
}

/* read-boolean, its tag just read: length 1 (in any length form), any non-zero is true. */
static int rd_bool(struct rd *r, int constructed, int *val)
{
    size_t len;
    unsigned b;
    if (constructed || rd_len(r, &len) != 0 || len != 1 || rd8(r, &b) != 0)
        return -1;
    *val = b != 0;
    return 0;
}

/* read-dec2-range: two ASCII digits, a value within [lo, hi]. */
static int rd_dec2(struct rd *r, unsigned lo, unsigned hi, unsigned *v)
{
    unsigned a, b;
    if (rd8(r, &a) != 0 || a - '0' > 9 || rd8(r, &b) != 0 || b - '0' > 9)
        return -1;
    *v = (a - '0') * 10 + (b - '0');
    return *v >= lo && *v <= hi ? 0 : -1;
}

/* read-date: UTCTime or GeneralizedTime as YYMMDDHHMMSS[.digits]Z with a real calendar day. */
static int rd_date(struct rd *r)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct rd v;
    int c, t;
    unsigned y, y2, mon, day, x;
    if (rd_tag(r, &c, &t) != 0 || (t != 0x17 && t != 0x18) || c || rd_open(r, &v) != 0)
        return -1;
    if (rd_dec2(&v, 0, 99, &y) != 0)
        return -1;
    if (t == 0x18) {
        if (rd_dec2(&v, 0, 99, &y2) != 0)
            return -1;
        y = y * 100 + y2;
    } else {
        y += y < 50 ? 2000 : 1900;
    }
    if (rd_dec2(&v, 1, 12, &mon) != 0)
        return -1;
    int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    if (rd_dec2(&v, 1, mdays[mon - 1] + (mon == 2 && leap), &day) != 0 ||
        rd_dec2(&v, 0, 23, &x) != 0 || rd_dec2(&v, 0, 59, &x) != 0 || rd_dec2(&v, 0, 60, &x) != 0)
        return -1;
    if (rd8(&v, &x) != 0)
        return -1;
    if (x == '.') {
        do {
            if (rd8(&v, &x) != 0)
                return -1;
        } while (x - '0' <= 9);
    }
    return x == 'Z' && v.n == 0 ? 0 : -1;
}

/* The [0] EXPLICIT version, when present: an INTEGER of at most 2. */
static int rd_version(struct rd *tbs, int *c, int *t)
{
    struct rd v, i;
    if (*t != 0x20)
        return 0;
    if (!*c || rd_open(tbs, &v) != 0 || rd_prim(&v, 0x02, &i) != 0 || i.n == 0 || v.n != 0)
        return -1;
    /* read-small-int-value: the value only grows, so "at most 2" is: zeros, then 0..2 */
    for (size_t k = 0; k + 1 < i.n; k++)
        if (i.p[k] != 0)
            return -1;
    if (i.p[i.n - 1] > 2)
        return -1;
    return rd_tag(tbs, c, t);
}

static int rd_spki(struct rd *tbs, struct ck_anchor *a)
{
    struct rd spki, alg, oid, bits, seq, n, e;
    if (rd_seq(tbs, &spki) != 0 || rd_seq(&spki, &alg) != 0 || rd_oid(&alg, &oid) != 1)
        return -1;
    if (OID_IS(&oid, OID_RSA)) {
        /* the parameters are skipped, whatever they are */
        if (rd_bits(&spki, &bits) != 0 || rd_seq(&bits, &seq) != 0 || rd_uint(&seq, MAX_KEY, &n) != 0 ||
            rd_uint(&seq, MAX_KEY - n.n, &e) != 0 || seq.n != 0 || bits.n != 0)
            return -1;
        a->key_type = BR_KEYTYPE_RSA;
        a->n = n.p;
        a->n_len = n.n;
        a->e = e.p;
        a->e_len = e.n;
    } else if (OID_IS(&oid, OID_EC_PUB)) {
        if (rd_oid(&alg, &oid) != 1 || alg.n != 0)
            return -1;
        if (OID_IS(&oid, OID_P256))
            a->curve = BR_EC_secp256r1;
        else if (OID_IS(&oid, OID_P384))
            a->curve = BR_EC_secp384r1;
        else if (OID_IS(&oid, OID_P521))
            a->curve = BR_EC_secp521r1;
        else
            return -1;
        if (rd_bits(&spki, &bits) != 0 || bits.n > MAX_KEY)
            return -1;
        a->key_type = BR_KEYTYPE_EC;
        a->q = bits.p;
        a->q_len = bits.n;
    } else {
        return -1;
    }
    return spki.n == 0 ? 0 : -1;
}

/* process-basicConstraints: the value must be exactly one SEQUENCE; a BOOLEAN first in
 * it sets cA, anything else leaves it as it was (only its tag byte is checked). */
static int rd_basic_constraints(struct rd *val, int *is_ca)
{
    struct rd seq;
    int c, t;
    if (rd_seq(val, &seq) != 0 || val->n != 0)
        return -1;
    if (seq.n == 0)
        return 0;
    if (rd_tag(&seq, &c, &t) != 0)
        return -1;
    return t == 0x01 ? rd_bool(&seq, c, is_ca) : 0;
}

/* The extensions ([3]), after the skipped unique ids ([1], [2]); then the TBS must end. */
static int rd_extensions(struct rd *tbs, int *is_ca)
{
    struct rd x3, exts, ext, oid, val;
    int c, t, crit, known;
    *is_ca = 0;
    t = TAG_END;
    if (tbs->n > 0 && rd_tag(tbs, &c, &t) != 0)
        return -1;
    for (int id = 0x21; id <= 0x22; id++) {
        if (t != id)
            continue;
        if (rd_open(tbs, &val) != 0)
            return -1;
        t = TAG_END;
        if (tbs->n > 0 && rd_tag(tbs, &c, &t) != 0)
            return -1;
    }
    if (t == TAG_END)
        return 0;
    if (t != 0x23 || !c || rd_open(tbs, &x3) != 0 || rd_seq(&x3, &exts) != 0)
        return -1;
    while (exts.n > 0) {
        if (rd_seq(&exts, &ext) != 0 || (known = rd_oid(&ext, &oid)) < 0 || rd_tag(&ext, &c, &t) != 0)
            return -1;
        if (t == 0x01 && (rd_bool(&ext, c, &crit) != 0 || rd_tag(&ext, &c, &t) != 0))
            return -1;
        if (t != 0x04 || c || rd_open(&ext, &val) != 0)
            return -1;
        if (known && OID_IS(&oid, OID_BASIC_CONSTRAINTS) && rd_basic_constraints(&val, is_ca) != 0)
            return -1;
        if (ext.n != 0)
            return -1;
    }
    return x3.n == 0 && tbs->n == 0 ? 0 : -1;
}

int ck_cert_anchor(const unsigned char *der, size_t len, struct ck_anchor *a)
{
    struct rd in = {der, len < MAX_CERT ? len : MAX_CERT}, cert, tbs, skip, alg, oid;
    int c, t;
    memset(a, 0, sizeof *a);
    if (rd_seq(&in, &cert) != 0 || in.p != der + len)
        return -1;
    if (rd_seq(&cert, &tbs) != 0 || rd_tag(&tbs, &c, &t) != 0 || rd_version(&tbs, &c, &t) != 0)
        return -1;
    /* serial, signature algorithm, issuer: skipped; validity: two well-formed dates */
    if (t != 0x02 || c || rd_open(&tbs, &skip) != 0 || rd_seq(&tbs, &skip) != 0 ||
        rd_seq(&tbs, &skip) != 0 || rd_seq(&tbs, &skip) != 0 || rd_date(&skip) != 0 ||
        rd_date(&skip) != 0 || skip.n != 0)
        return -1;
    a->dn = tbs.p;
    if (rd_seq(&tbs, &skip) != 0)
        return -1;
    a->dn_len = (size_t)(tbs.p - a->dn);
    if (rd_spki(&tbs, a) != 0 || rd_extensions(&tbs, &a->is_ca) != 0)
        return -1;
    /* signatureAlgorithm starts with an OID (which one does not matter here); the
     * signature is a BIT STRING; nothing follows */
    if (rd_seq(&cert, &alg) != 0 || rd_oid(&alg, &oid) < 0 || rd_bits(&cert, &skip) != 0 ||
        cert.n != 0)
        return -1;
    return 0;
}
