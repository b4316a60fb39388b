/* DNS messages by hand (RFC 1035, 2136, 8945): small builders and a bounded
 * parser; every length read from the wire is checked against the message. */
#include "dns.h"
#include "../crypto/crypto.h"
#include "../fs/fs.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MSG_MAX 16384    /* answers we need are small; a longer one is refused */
#define WIRE_NAME_MAX 255
#define T_A 1
#define T_NS 2
#define T_CNAME 5
#define T_SOA 6
#define T_TXT 16
#define T_AAAA 28
#define T_TSIG 250
#define T_ANY 255
#define C_IN 1
#define C_NONE 254
#define C_ANY 255
#define TSIG_FUDGE 300

/* ---- names ---- */

/* Presentation form ("a.b." or "a.b") into wire form; escapes are refused. */
static int name_wire(const char *name, unsigned char *out, size_t cap, int lower, size_t *len)
{
    size_t o = 0, n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && name[j] != '.')
            j++;
        size_t l = j - i;
        if (l == 0 || l > 63 || o + 1 + l + 1 > cap || o + 1 + l + 1 > WIRE_NAME_MAX)
            return -1;
        out[o++] = (unsigned char)l;
        for (size_t k = i; k < j; k++) {
            unsigned char c = (unsigned char)name[k];
            if (c <= ' ' || c > '~' || c == '\\')
                return -1;
            out[o++] = lower && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
        }
        i = j + 1;
    }
    if (o + 1 > cap)
        return -1;
    out[o++] = 0;
    *len = o;
    return 0;
}

/* A name at *off of message m (compression pointers go backwards only), into
 * presentation form with the final dot; *off moves past it. */
static int name_read(const unsigned char *m, size_t len, size_t *off, char *out, size_t cap)
{
    size_t pos = *off, o = 0, wire = 0;
    int jumped = 0;
    for (int hops = 0;;) {
        if (pos >= len)
            return -1;
        unsigned c = m[pos];
        if ((c & 0xC0) == 0xC0) {
            if (pos + 1 >= len)
                return -1;
            size_t ptr = (c & 0x3F) << 8 | m[pos + 1];
            if (ptr >= pos || ++hops > 64)
                return -1;
            if (!jumped)
                *off = pos + 2;
            jumped = 1;
            pos = ptr;
            continue;
        }
        if (c & 0xC0)
            return -1;
        if (c == 0) {
            if (!jumped)
                *off = pos + 1;
            break;
        }
        wire += c + 1;
        if (pos + 1 + c > len || wire > WIRE_NAME_MAX || o + c + 2 > cap)
            return -1;
        for (unsigned k = 0; k < c; k++) {
            unsigned char ch = m[pos + 1 + k];
            if (ch <= ' ' || ch > '~' || ch == '.' || ch == '\\')
                return -1;
            out[o++] = (char)ch;
        }
        out[o++] = '.';
        pos += 1 + c;
    }
    if (o == 0) {
        if (cap < 2)
            return -1;
        out[o++] = '.';
    }
    out[o] = '\0';
    return 0;
}

/* Same name, ignoring case and a missing final dot. */
static int name_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---- building ---- */

struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int over;
};

static void put(struct wbuf *w, const void *d, size_t n)
{
    if (w->over || w->cap - w->len < n) {
        w->over = 1;
        return;
    }
    memcpy(w->p + w->len, d, n);
    w->len += n;
}

static void put16(struct wbuf *w, unsigned v)
{
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(w, b, 2);
}

static void put32(struct wbuf *w, uint32_t v)
{
    put16(w, v >> 16);
    put16(w, v & 0xFFFF);
}

static void put48(struct wbuf *w, uint64_t v)
{
    put16(w, (unsigned)(v >> 32) & 0xFFFF);
    put32(w, (uint32_t)v);
}

static int put_name(struct wbuf *w, const char *name, int lower)
{
    unsigned char n[WIRE_NAME_MAX + 1];
    size_t l;
    if (name_wire(name, n, sizeof n, lower, &l) != 0)
        return -1;
    put(w, n, l);
    return 0;
}

/* A TXT value as character strings of at most 255 bytes each. */
static void put_txt_rdata(struct wbuf *w, const char *txt)
{
    size_t n = strlen(txt), rdlen = n + (n + 254) / 255 + (n == 0);
    put16(w, (unsigned)rdlen);
    do {
        size_t c = n > 255 ? 255 : n;
        unsigned char l = (unsigned char)c;
        put(w, &l, 1);
        put(w, txt, c);
        txt += c;
        n -= c;
    } while (n > 0);
}

static unsigned rand16(void)
{
    unsigned char b[2] = {0, 0};
    if (getentropy(b, sizeof b) != 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (unsigned)(t.tv_nsec ^ getpid()) & 0xFFFF;
    }
    return (unsigned)b[0] << 8 | b[1];
}

/* ---- parsing ---- */

struct msg {
    const unsigned char *m;
    size_t len, off;
    unsigned id, flags, count[4];
    unsigned left[4];  /* records not yet read per section */
    int sec;
};

struct rr {
    char name[CK_DNS_NAME_MAX];
    unsigned type, klass;
    uint32_t ttl;
    size_t start, rdoff;  /* where the record and its data begin */
    unsigned rdlen;
    int sec;              /* 1 answer, 2 authority, 3 additional */
};

static unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

static int msg_open(struct msg *x, const unsigned char *m, size_t len)
{
    memset(x, 0, sizeof *x);
    if (len < 12)
        return -1;
    x->m = m;
    x->len = len;
    x->id = get16(m);
    x->flags = get16(m + 2);
    for (int i = 0; i < 4; i++)
        x->count[i] = x->left[i] = get16(m + 4 + 2 * i);
    x->off = 12;
    char skip[CK_DNS_NAME_MAX];
    for (unsigned i = 0; i < x->count[0]; i++) {
        if (name_read(m, len, &x->off, skip, sizeof skip) != 0 || x->off + 4 > len)
            return -1;
        x->off += 4;
    }
    x->left[0] = 0;
    x->sec = 1;
    return 0;
}

/* The next record: 1, none left: 0, malformed: -1. */
static int msg_rr(struct msg *x, struct rr *r)
{
    while (x->sec < 4 && x->left[x->sec] == 0)
        x->sec++;
    if (x->sec == 4)
        return 0;
    x->left[x->sec]--;
    r->sec = x->sec;
    r->start = x->off;
    if (name_read(x->m, x->len, &x->off, r->name, sizeof r->name) != 0 || x->off + 10 > x->len)
        return -1;
    const unsigned char *p = x->m + x->off;
    r->type = get16(p);
    r->klass = get16(p + 2);
    r->ttl = (uint32_t)get16(p + 4) << 16 | get16(p + 6);
    r->rdlen = get16(p + 8);
    r->rdoff = x->off + 10;
    if (r->rdoff + r->rdlen > x->len)
        return -1;
    x->off = r->rdoff + r->rdlen;
    return 1;
}

int ck_dns_parse_check(const unsigned char *m, size_t len)
{
    struct msg x;
    struct rr r;
    int rc;
    if (msg_open(&x, m, len) != 0)
        return -1;
    while ((rc = msg_rr(&x, &r)) == 1) {
        char n[CK_DNS_NAME_MAX];
        size_t off = r.rdoff;
        if ((r.type == T_NS || r.type == T_CNAME || r.type == T_SOA) &&
            (name_read(m, len, &off, n, sizeof n) != 0 || off > r.rdoff + r.rdlen))
            return -1;
    }
    return rc;
}

static const char *rcode_name(unsigned rc)
{
    static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                        "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
                                        "NXRRSET", "NOTAUTH", "NOTZONE"};
    return rc < sizeof names / sizeof *names ? names[rc] : "an unknown rcode";
}

static const char *tsig_error_name(unsigned err)
{
    switch (err) {
    case 16: return "BADSIG";
    case 17: return "BADKEY";
    case 18: return "BADTIME";
    case 22: return "BADTRUNC";
    default: return "an unknown TSIG error";
    }
}

/* ---- transport ---- */

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
              (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms > 0 ? ms : 0;
}

static void deadline_in(struct timespec *d, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, d);
    d->tv_sec += ms / 1000;
    d->tv_nsec += (ms % 1000) * 1000000;
    if (d->tv_nsec >= 1000000000) {
        d->tv_sec++;
        d->tv_nsec -= 1000000000;
    }
}

static int wait_fd(int fd, short ev, const struct timespec *deadline)
{
    struct pollfd p = {.fd = fd, .events = ev};
    for (;;) {
        int r = poll(&p, 1, (int)ms_left(deadline));
        if (r > 0)
            return 0;
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* The answer to q over UDP: id and question must match. */
static int xfer_udp(const struct ck_dns_server *s, const unsigned char *q, size_t qlen,
                    unsigned char *r, size_t *rlen, long timeout_ms, struct ck_err *e)
{
    int fd = socket(s->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ck_failk(e, CK_E_NETWORK, "dns %s: socket: %s", s->text, strerror(errno));
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    if (connect(fd, (const struct sockaddr *)&s->addr, s->len) != 0 ||
        send(fd, q, qlen, 0) != (ssize_t)qlen) {
        int err = errno;
        close(fd);
        return ck_failk(e, CK_E_NETWORK, "dns %s: send: %s", s->text, strerror(err));
    }
    for (;;) {
        if (wait_fd(fd, POLLIN, &dl) != 0) {
            int err = errno;
            close(fd);
            return ck_failk(e, CK_E_NETWORK, "dns %s: no answer within %ld ms%s", s->text,
                            timeout_ms, err == ETIMEDOUT ? "" : strerror(err));
        }
        ssize_t n = recv(fd, r, MSG_MAX, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            int err = errno;
            close(fd);
            return ck_failk(e, CK_E_NETWORK, "dns %s: %s", s->text, strerror(err));
        }
        /* another datagram (late, spoofed) is ignored: same id, an answer, same question */
        if (n >= 12 && get16(r) == get16(q) && (r[2] & 0x80) && (size_t)n >= qlen &&
            get16(r + 4) == 1 && memcmp(r + 12, q + 12, qlen - 12) == 0) {
            close(fd);
            *rlen = (size_t)n;
            return 0;
        }
    }
}

static int io_all(int fd, unsigned char *p, size_t n, int wr, const struct timespec *dl)
{
    while (n > 0) {
        if (wait_fd(fd, wr ? POLLOUT : POLLIN, dl) != 0)
            return -1;
        ssize_t k = wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0) {
            if (k == 0)
                errno = ECONNRESET;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Over TCP with the two-byte length; q has two bytes of room before it. */
static int xfer_tcp(const struct ck_dns_server *s, unsigned char *q, size_t qlen,
                    unsigned char *r, size_t *rlen, long timeout_ms, struct ck_err *e)
{
    int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return ck_failk(e, CK_E_NETWORK, "dns %s: socket: %s", s->text, strerror(errno));
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    int err = 0, rc = -1;
    socklen_t el = sizeof err;
    if (connect(fd, (const struct sockaddr *)&s->addr, s->len) != 0) {
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, &dl) != 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || (errno = err) != 0) {
            err = errno;
            close(fd);
            return ck_failk(e, CK_E_NETWORK, "dns %s (TCP): connect: %s", s->text,
                            strerror(err));
        }
    }
    unsigned char *f = q - 2, hdr[2];
    f[0] = (unsigned char)(qlen >> 8);
    f[1] = (unsigned char)qlen;
    if (io_all(fd, f, qlen + 2, 1, &dl) != 0 || io_all(fd, hdr, 2, 0, &dl) != 0)
        goto fail;
    size_t n = get16(hdr);
    if (n > MSG_MAX || n < 12) {
        close(fd);
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: an answer of %zu bytes", s->text, n);
    }
    if (io_all(fd, r, n, 0, &dl) != 0)
        goto fail;
    if (get16(r) != get16(q) || !(r[2] & 0x80)) {
        close(fd);
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: an answer to another message", s->text);
    }
    *rlen = n;
    rc = 0;
fail:
    if (rc != 0) {
        err = errno;
        ck_failk(e, CK_E_NETWORK, "dns %s (TCP): %s", s->text,
                 err == ETIMEDOUT ? "no answer in time" : strerror(err));
    }
    close(fd);
    return rc;
}

/* Buffers for one exchange: the query (after 2 bytes for TCP's length) and the answer. */
struct xchg {
    unsigned char q[2 + 1024];
    unsigned char r[MSG_MAX];
    size_t rlen;
};

/* Query name/type; the answer in x->r. An answer whose rcode is not NOERROR or
 * NXDOMAIN is an error naming it. */
static int query(const struct ck_dns_server *s, int rd, const char *name, unsigned type,
                 struct xchg *x, struct msg *m, long timeout_ms, struct ck_err *e)
{
    struct wbuf w = {x->q + 2, 0, sizeof x->q - 2, 0};
    put16(&w, rand16());
    put16(&w, rd ? 0x0100 : 0);
    put16(&w, 1);
    put16(&w, 0);
    put16(&w, 0);
    put16(&w, 0);
    if (put_name(&w, name, 0) != 0)
        return ck_failk(e, CK_E_USAGE, "dns: \"%.80s\" is not a DNS name", name);
    put16(&w, type);
    put16(&w, C_IN);
    if (w.over)
        return ck_fail(e, "dns: query for %.80s does not fit", name);
    if (xfer_udp(s, w.p, w.len, x->r, &x->rlen, timeout_ms, e) != 0)
        return ck_wrap(e, "%s", name);
    if (x->r[2] & 0x02) { /* TC: the whole answer over TCP */
        if (xfer_tcp(s, w.p, w.len, x->r, &x->rlen, timeout_ms, e) != 0)
            return ck_wrap(e, "%s", name);
    }
    if (msg_open(m, x->r, x->rlen) != 0)
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer for %s", s->text, name);
    unsigned rc = m->flags & 0xF;
    if (rc != 0 && rc != 3)
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: %s for %s", s->text, rcode_name(rc), name);
    return 0;
}

/* ---- servers and keys ---- */

static int addr_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    char host[64], port[8];
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return -1;
    snprintf(out, cap, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
    return 0;
}

int ck_dns_server_parse(const char *spec, struct ck_dns_server *out, struct ck_err *e)
{
    char host[256], port[8] = "53";
    size_t n = spec ? strlen(spec) : 0;
    if (n == 0 || n >= sizeof host)
        return ck_failk(e, CK_E_USAGE, "dns server \"%.80s\": empty or too long", spec ? spec : "");
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || (end[1] && end[1] != ':'))
            return ck_failk(e, CK_E_USAGE, "dns server \"%.80s\": not [address]:port", spec);
        snprintf(host, sizeof host, "%.*s", (int)(end - spec - 1), spec + 1);
        if (end[1] == ':')
            snprintf(port, sizeof port, "%.7s", end + 2);
    } else if (colon && strchr(spec, ':') == colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
        snprintf(port, sizeof port, "%.7s", colon + 1);
    } else {
        snprintf(host, sizeof host, "%s", spec);  /* a name, an IPv4 or a bare IPv6 */
    }
    char *endp;
    long p = strtol(port, &endp, 10);
    if (!*host || *endp || p < 1 || p > 65535)
        return ck_failk(e, CK_E_USAGE, "dns server \"%.80s\": bad host or port", spec);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV}, *ai;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0)
        return ck_failk(e, CK_E_NETWORK, "dns server %.80s: %s", host, gai_strerror(rc));
    memset(out, 0, sizeof *out);
    memcpy(&out->addr, ai->ai_addr, ai->ai_addrlen);
    out->len = ai->ai_addrlen;
    freeaddrinfo(ai);
    if (addr_text((struct sockaddr *)&out->addr, out->len, out->text, sizeof out->text) != 0)
        snprintf(out->text, sizeof out->text, "%.70s", spec);
    return 0;
}

int ck_dns_server_system(struct ck_dns_server *out, struct ck_err *e)
{
    char *conf = NULL;
    size_t len = 0;
    int rc = ck_fs_read("/etc/resolv.conf", 65536, &conf, &len, e);
    if (rc != 0) {
        if (rc == 1)
            ck_failk(e, CK_E_NETWORK, "/etc/resolv.conf: no such file");
        return -1;
    }
    rc = ck_failk(e, CK_E_NETWORK, "/etc/resolv.conf: no nameserver line");
    char *save = NULL;
    for (char *line = strtok_r(conf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char addr[64];
        if (sscanf(line, " nameserver %63s", addr) == 1) {
            char spec[72];
            snprintf(spec, sizeof spec, strchr(addr, ':') ? "[%s]:53" : "%s:53", addr);
            rc = ck_dns_server_parse(spec, out, e);
            break;
        }
    }
    free(conf);
    return rc;
}

static const br_hash_class *alg_hash(enum ck_dns_alg a)
{
    return a == CK_DNS_HMAC_SHA512 ? &br_sha512_vtable
         : a == CK_DNS_HMAC_SHA384 ? &br_sha384_vtable : &br_sha256_vtable;
}

static const char *alg_name(enum ck_dns_alg a)
{
    return a == CK_DNS_HMAC_SHA512 ? "hmac-sha512." : a == CK_DNS_HMAC_SHA384 ? "hmac-sha384."
                                                                              : "hmac-sha256.";
}

void ck_dns_key_wipe(struct ck_dns_key *k)
{
    explicit_bzero(k->secret, sizeof k->secret);
    k->secret_len = 0;
}

int ck_dns_key_load(const char *name, enum ck_dns_alg alg, const char *file,
                    struct ck_dns_key *k, struct ck_err *e)
{
    memset(k, 0, sizeof *k);
    unsigned char w[WIRE_NAME_MAX + 1];
    size_t wl;
    if (!name || name_wire(name, w, sizeof w, 1, &wl) != 0 || wl < 2)
        return ck_failk(e, CK_E_USAGE, "TSIG key name \"%.80s\": not a DNS name", name ? name : "");
    snprintf(k->name, sizeof k->name, "%s", name);
    k->alg = alg;
    char *text = NULL;
    size_t len = 0;
    int rc = ck_fs_read(file, 4096, &text, &len, e);
    if (rc != 0) {
        if (rc == 1)
            ck_failk(e, CK_E_USAGE, "TSIG secret file %s: no such file", file);
        return -1;
    }
    /* a key file names it "secret"; a bare file holds only the base64 */
    const char *p = text;
    for (const char *s = text; (s = strstr(s, "secret")) != NULL; s += 6) {
        if (strchr(" \t:\"=", s[6]) && s[6]) {
            p = s + 6;
            break;
        }
    }
    p += strspn(p, " \t\r\n:\"=");
    size_t b = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
    unsigned char tmp[CK_DNS_SECRET_MAX * 4 / 3 + 8];
    long n = -1;
    if (b > 0 && b * 3 / 4 <= sizeof tmp)
        n = ck_unb64(p, b, tmp);
    explicit_bzero(text, len);
    free(text);
    if (n < 16 || (size_t)n > CK_DNS_SECRET_MAX) {
        explicit_bzero(tmp, sizeof tmp);
        return ck_failk(e, CK_E_USAGE, "TSIG secret file %s: no base64 secret of 16 to %d bytes",
                        file, CK_DNS_SECRET_MAX);
    }
    memcpy(k->secret, tmp, (size_t)n);
    k->secret_len = (size_t)n;
    explicit_bzero(tmp, sizeof tmp);
    return 0;
}

/* ---- lookups ---- */

int ck_dns_cname(const struct ck_dns_server *s, int recurse, const char *name, char *out,
                 size_t cap, long timeout_ms, struct ck_err *e)
{
    struct xchg *x = malloc(sizeof *x);
    if (!x)
        return ck_fail(e, "dns: out of memory");
    char cur[CK_DNS_NAME_MAX];
    snprintf(cur, sizeof cur, "%s", name);
    int rc = 0;
    for (int hop = 0;; hop++) {
        struct msg m;
        struct rr r;
        if (query(s, recurse, cur, T_CNAME, x, &m, timeout_ms, e) != 0) {
            rc = -1;
            break;
        }
        int found = 0, k;
        while ((k = msg_rr(&m, &r)) == 1) {
            size_t off = r.rdoff;
            if (r.sec == 1 && r.type == T_CNAME && name_eq(r.name, cur)) {
                if (name_read(x->r, x->rlen, &off, cur, sizeof cur) != 0)
                    k = -1;
                found = 1;
                break;
            }
        }
        if (k < 0) {
            rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed CNAME answer for %s", s->text,
                          name);
            break;
        }
        if (!found)
            break;
        if (hop == 8) {
            rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: %s: more than 8 CNAMEs", s->text, name);
            break;
        }
    }
    free(x);
    if (rc == 0 && snprintf(out, cap, "%s", cur) >= (int)cap)
        rc = ck_fail(e, "dns: name %s too long", cur);
    return rc;
}

int ck_dns_zone(const struct ck_dns_server *s, int recurse, const char *name, char *zone,
                size_t cap, long timeout_ms, struct ck_err *e)
{
    struct xchg *x = malloc(sizeof *x);
    if (!x)
        return ck_fail(e, "dns: out of memory");
    struct msg m;
    struct rr r;
    int rc = query(s, recurse, name, T_SOA, x, &m, timeout_ms, e), k, found = 0;
    while (rc == 0 && (k = msg_rr(&m, &r)) != 0) {
        if (k < 0) {
            rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer for %s", s->text, name);
            break;
        }
        /* the apex's SOA in the answer, else the zone's SOA in the authority section */
        if (r.type == T_SOA && (r.sec == 2 || name_eq(r.name, name))) {
            found = 1;
            if (snprintf(zone, cap, "%s", r.name) >= (int)cap)
                rc = ck_fail(e, "dns: zone name %s too long", r.name);
            break;
        }
    }
    if (rc == 0 && !found)
        rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: no SOA for %s (not authoritative for it?)",
                      s->text, name);
    free(x);
    return rc;
}

int ck_dns_has_txt(const struct ck_dns_server *s, const char *name, const char *txt, int *has,
                   long timeout_ms, struct ck_err *e)
{
    *has = 0;
    struct xchg *x = malloc(sizeof *x);
    if (!x)
        return ck_fail(e, "dns: out of memory");
    struct msg m;
    struct rr r;
    int rc = query(s, 0, name, T_TXT, x, &m, timeout_ms, e), k;
    size_t want = strlen(txt);
    while (rc == 0 && !*has && (k = msg_rr(&m, &r)) != 0) {
        if (k < 0) {
            rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer for %s", s->text, name);
            break;
        }
        if (r.sec != 1 || r.type != T_TXT || !name_eq(r.name, name))
            continue;
        /* the strings of one record, joined, compared piece by piece */
        size_t p = r.rdoff, end = r.rdoff + r.rdlen, at = 0;
        int same = 1;
        while (p < end && same) {
            size_t l = x->r[p++];
            if (p + l > end || at + l > want || memcmp(x->r + p, txt + at, l) != 0)
                same = 0;
            p += l;
            at += l;
        }
        *has = same && at == want;
    }
    free(x);
    return rc;
}

static int add_addr(struct ck_dns_server *out, size_t cap, size_t *n, int fam, const void *a)
{
    if (*n == cap)
        return 0;
    struct ck_dns_server *s = &out[*n];
    memset(s, 0, sizeof *s);
    if (fam == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&s->addr;
        in->sin_family = AF_INET;
        in->sin_port = htons(53);
        memcpy(&in->sin_addr, a, 4);
        s->len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&s->addr;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(53);
        memcpy(&in6->sin6_addr, a, 16);
        s->len = sizeof *in6;
    }
    for (size_t i = 0; i < *n; i++)
        if (out[i].len == s->len && memcmp(&out[i].addr, &s->addr, s->len) == 0)
            return 0;
    addr_text((struct sockaddr *)&s->addr, s->len, s->text, sizeof s->text);
    (*n)++;
    return 1;
}

/* A and AAAA records of `host` in the answer (sec 1) or additional (sec 3) section. */
static int take_addrs(struct msg *m, int sec, const char *host, struct ck_dns_server *out,
                      size_t cap, size_t *n)
{
    struct rr r;
    int k, got = 0;
    while ((k = msg_rr(m, &r)) == 1)
        if (r.sec == sec && name_eq(r.name, host) &&
            ((r.type == T_A && r.rdlen == 4) || (r.type == T_AAAA && r.rdlen == 16)))
            got |= add_addr(out, cap, n, r.type == T_A ? AF_INET : AF_INET6, m->m + r.rdoff);
    return k < 0 ? -1 : got;
}

int ck_dns_ns(const struct ck_dns_server *s, int recurse, const char *zone,
              struct ck_dns_server *out, size_t cap, size_t *n, long timeout_ms,
              struct ck_err *e)
{
    enum { NS_MAX = 8 };
    char hosts[NS_MAX][CK_DNS_NAME_MAX];
    size_t nh = 0;
    *n = 0;
    struct xchg *x = malloc(sizeof *x);
    if (!x)
        return ck_fail(e, "dns: out of memory");
    struct msg m;
    struct rr r;
    int rc = query(s, recurse, zone, T_NS, x, &m, timeout_ms, e), k;
    while (rc == 0 && (k = msg_rr(&m, &r)) != 0) {
        size_t off = r.rdoff;
        if (k < 0 || (r.sec == 1 && r.type == T_NS && name_eq(r.name, zone) && nh < NS_MAX &&
                      name_read(x->r, x->rlen, &off, hosts[nh++], CK_DNS_NAME_MAX) != 0)) {
            rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed NS answer for %s", s->text, zone);
            break;
        }
    }
    if (rc == 0 && nh == 0)
        rc = ck_failk(e, CK_E_PROTOCOL, "dns %s: no NS records for %s", s->text, zone);
    for (size_t i = 0; rc == 0 && i < nh; i++) {
        struct msg g;  /* glue from the NS answer first */
        msg_open(&g, x->r, x->rlen);
        if (take_addrs(&g, 3, hosts[i], out, cap, n) > 0)
            continue;
        struct xchg *y = malloc(sizeof *y);
        int got = 0;
        for (unsigned t = T_A; y && t != 0; t = t == T_A ? T_AAAA : 0) {
            struct ck_err ignored;
            struct msg a;
            if (query(s, recurse, hosts[i], t, y, &a, timeout_ms, &ignored) == 0 &&
                take_addrs(&a, 1, hosts[i], out, cap, n) > 0)
                got = 1;
        }
        free(y);
        if (got)
            continue;
        struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai, *p;
        if (getaddrinfo(hosts[i], "53", &hints, &ai) != 0) {
            rc = ck_failk(e, CK_E_NETWORK, "dns: no address for %s, a name server of %s",
                          hosts[i], zone);
            break;
        }
        for (p = ai; p; p = p->ai_next)
            if (p->ai_family == AF_INET)
                add_addr(out, cap, n, AF_INET, &((struct sockaddr_in *)p->ai_addr)->sin_addr);
            else if (p->ai_family == AF_INET6)
                add_addr(out, cap, n, AF_INET6, &((struct sockaddr_in6 *)p->ai_addr)->sin6_addr);
        freeaddrinfo(ai);
    }
    free(x);
    return rc;
}

/* ---- updates ---- */

/* The TSIG variables after the message (RFC 8945 4.3.3), into the running MAC. */
static void tsig_vars(br_hmac_context *h, const unsigned char *kname, size_t kl,
                      const unsigned char *aname, size_t al, uint64_t t, unsigned fudge,
                      unsigned error, const unsigned char *other, unsigned olen)
{
    unsigned char b[16];
    struct wbuf w = {b, 0, sizeof b, 0};
    br_hmac_update(h, kname, kl);
    put16(&w, C_ANY);
    put32(&w, 0);
    br_hmac_update(h, b, w.len);
    br_hmac_update(h, aname, al);
    w.len = 0;
    put48(&w, t);
    put16(&w, fudge);
    put16(&w, error);
    put16(&w, olen);
    br_hmac_update(h, b, w.len);
    br_hmac_update(h, other, olen);
}

/* Appends the TSIG record to the message in w; the MAC is kept for the answer's. */
static int tsig_sign(struct wbuf *w, const struct ck_dns_key *k, uint64_t now,
                     unsigned char *mac, size_t *mac_len)
{
    unsigned char kn[WIRE_NAME_MAX + 1], an[32];
    size_t kl, al;
    if (name_wire(k->name, kn, sizeof kn, 1, &kl) != 0 ||
        name_wire(alg_name(k->alg), an, sizeof an, 1, &al) != 0)
        return -1;
    br_hmac_key_context kc;
    br_hmac_context h;
    br_hmac_key_init(&kc, alg_hash(k->alg), k->secret, k->secret_len);
    br_hmac_init(&h, &kc, 0);
    br_hmac_update(&h, w->p, w->len);
    tsig_vars(&h, kn, kl, an, al, now, TSIG_FUDGE, 0, NULL, 0);
    *mac_len = br_hmac_out(&h, mac);
    explicit_bzero(&kc, sizeof kc);
    explicit_bzero(&h, sizeof h);
    unsigned id = get16(w->p);
    put(w, kn, kl);
    put16(w, T_TSIG);
    put16(w, C_ANY);
    put32(w, 0);
    put16(w, (unsigned)(al + 10 + *mac_len + 6));
    put(w, an, al);
    put48(w, now);
    put16(w, TSIG_FUDGE);
    put16(w, (unsigned)*mac_len);
    put(w, mac, *mac_len);
    put16(w, id);
    put16(w, 0);
    put16(w, 0);
    if (w->over)
        return -1;
    unsigned ar = get16(w->p + 10) + 1;
    w->p[10] = (unsigned char)(ar >> 8);
    w->p[11] = (unsigned char)ar;
    return 0;
}

/* Checks the answer's TSIG (the last additional record) against the request's MAC. */
static int tsig_verify(const struct ck_dns_server *s, const struct ck_dns_key *k,
                       const unsigned char *r, size_t rlen, const unsigned char *req_mac,
                       size_t req_mac_len, const char *zone, struct ck_err *e)
{
    struct msg m;
    struct rr rr, last;
    int got = 0, kk;
    if (msg_open(&m, r, rlen) != 0)
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer updating %s", s->text, zone);
    while ((kk = msg_rr(&m, &rr)) == 1) {
        last = rr;
        got = 1;
    }
    unsigned rcode = m.flags & 0xF;
    if (kk < 0)
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer updating %s", s->text, zone);
    if (!got || last.sec != 3 || last.type != T_TSIG) {
        if (rcode != 0)
            return 1;  /* the rcode says it; an unsigned refusal proves nothing more */
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: the answer updating %s is not signed",
                        s->text, zone);
    }
    /* algorithm, time, fudge, MAC, original id, error, other */
    size_t p = last.rdoff, end = last.rdoff + last.rdlen;
    char alg[64];
    if (name_read(r, rlen, &p, alg, sizeof alg) != 0 || p + 10 > end)
        goto bad;
    uint64_t t = (uint64_t)get16(r + p) << 32 | (uint64_t)get16(r + p + 2) << 16 | get16(r + p + 4);
    unsigned fudge = get16(r + p + 6), ml = get16(r + p + 8);
    p += 10;
    if (p + ml + 6 > end)
        goto bad;
    const unsigned char *mac = r + p;
    p += ml;
    unsigned orig = get16(r + p), error = get16(r + p + 2), olen = get16(r + p + 4);
    p += 6;
    if (p + olen != end)
        goto bad;
    if (error != 0)
        return ck_failk(e, CK_E_AUTH, "dns %s: TSIG key %s refused updating %s: %s%s", s->text,
                        k->name, zone, tsig_error_name(error),
                        error == 18 ? " (clocks apart by more than 5 minutes?)" : "");
    if (!name_eq(last.name, k->name) || !name_eq(alg, alg_name(k->alg)) || ml != req_mac_len)
        goto badsig;
    unsigned char kn[WIRE_NAME_MAX + 1], an[32], head[12], want[64], lb[2];
    size_t kl, al;
    if (name_wire(k->name, kn, sizeof kn, 1, &kl) != 0 ||
        name_wire(alg_name(k->alg), an, sizeof an, 1, &al) != 0)
        goto badsig;
    memcpy(head, r, 12);
    head[0] = (unsigned char)(orig >> 8);
    head[1] = (unsigned char)orig;
    unsigned ar = get16(r + 10) - 1;
    head[10] = (unsigned char)(ar >> 8);
    head[11] = (unsigned char)ar;
    br_hmac_key_context kc;
    br_hmac_context h;
    br_hmac_key_init(&kc, alg_hash(k->alg), k->secret, k->secret_len);
    br_hmac_init(&h, &kc, 0);
    lb[0] = (unsigned char)(req_mac_len >> 8);
    lb[1] = (unsigned char)req_mac_len;
    br_hmac_update(&h, lb, 2);
    br_hmac_update(&h, req_mac, req_mac_len);
    br_hmac_update(&h, head, 12);
    br_hmac_update(&h, r + 12, last.start - 12);
    tsig_vars(&h, kn, kl, an, al, t, fudge, error, r + end - olen, olen);
    size_t wl = br_hmac_out(&h, want);
    explicit_bzero(&kc, sizeof kc);
    explicit_bzero(&h, sizeof h);
    unsigned diff = wl != ml;
    for (size_t i = 0; i < wl && i < ml; i++)
        diff |= want[i] ^ mac[i];
    if (diff)
        goto badsig;
    int64_t skew = (int64_t)t - (int64_t)time(NULL);
    if (skew > (int64_t)fudge || -skew > (int64_t)fudge)
        return ck_failk(e, CK_E_PROTOCOL, "dns %s: the answer's TSIG time is %llds off",
                        s->text, (long long)skew);
    return rcode != 0;
badsig:
    return ck_failk(e, CK_E_PROTOCOL, "dns %s: the answer updating %s fails its TSIG check",
                    s->text, zone);
bad:
    return ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed TSIG updating %s", s->text, zone);
}

int ck_dns_update(const struct ck_dns_server *s, const struct ck_dns_key *k, const char *zone,
                  enum ck_dns_op op, const char *name, const char *txt, unsigned ttl,
                  long timeout_ms, struct ck_err *e)
{
    struct xchg *x = malloc(sizeof *x);
    if (!x)
        return ck_fail(e, "dns: out of memory");
    struct wbuf w = {x->q + 2, 0, sizeof x->q - 2, 0};
    put16(&w, rand16());
    put16(&w, 5 << 11);              /* opcode UPDATE */
    put16(&w, 1);                    /* zone */
    put16(&w, op == CK_DNS_PROBE);   /* prerequisites */
    put16(&w, op != CK_DNS_PROBE);   /* updates */
    put16(&w, 0);
    int bad = put_name(&w, zone, 0);
    put16(&w, T_SOA);
    put16(&w, C_IN);
    if (op == CK_DNS_PROBE) {  /* "name is in use" for the apex: true in any zone */
        bad |= put_name(&w, zone, 0);
        put16(&w, T_ANY);
        put16(&w, C_ANY);
        put32(&w, 0);
        put16(&w, 0);
    } else {
        if (strlen(txt) > 255 * 3)
            bad = -1;
        bad |= put_name(&w, name, 0);
        put16(&w, T_TXT);
        put16(&w, op == CK_DNS_ADD ? C_IN : C_NONE);
        put32(&w, op == CK_DNS_ADD ? ttl : 0);
        put_txt_rdata(&w, txt);
    }
    unsigned char mac[64];
    size_t mac_len = 0;
    int rc;
    if (bad || w.over)
        rc = ck_failk(e, CK_E_USAGE, "dns: update of %.80s in zone %.80s: a bad name or value",
                      name ? name : zone, zone);
    else if (k && tsig_sign(&w, k, (uint64_t)time(NULL), mac, &mac_len) != 0)
        rc = ck_fail(e, "dns: TSIG for an update of zone %.80s does not fit", zone);
    else if (xfer_tcp(s, w.p, w.len, x->r, &x->rlen, timeout_ms, e) != 0)
        rc = ck_wrap(e, "updating zone %s", zone);
    else {
        struct msg m;
        rc = k ? tsig_verify(s, k, x->r, x->rlen, mac, mac_len, zone, e)
               : (msg_open(&m, x->r, x->rlen) != 0
                      ? ck_failk(e, CK_E_PROTOCOL, "dns %s: a malformed answer", s->text)
                      : (m.flags & 0xF) != 0);
        unsigned rcode = get16(x->r + 2) & 0xF;
        if (rc == 1)
            rc = ck_failk(e, rcode == 9 || rcode == 5 ? CK_E_AUTH : CK_E_PROTOCOL,
                          "dns %s: update of zone %s refused: %s%s", s->text, zone,
                          rcode_name(rcode),
                          rcode == 9 ? " (TSIG key unknown or not allowed for this zone)"
                          : rcode == 5 ? " (updates not allowed for this key or zone)"
                          : rcode == 10 ? " (the name is not in the zone)" : "");
    }
    explicit_bzero(mac, sizeof mac);
    free(x);
    return rc;
}
