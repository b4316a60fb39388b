/* DNS for dns-01: RFC 2136 updates signed with TSIG (RFC 8945), and the few
 * queries the challenge needs (SOA, NS, A/AAAA, CNAME, TXT), sent to a named
 * server: UDP with the fall back to TCP on truncation; updates over TCP. */
#ifndef CK_DNS_H
#define CK_DNS_H

#include <stddef.h>
#include <sys/socket.h>

#include "../err/err.h"

#define CK_DNS_NAME_MAX 256  /* presentation form with the final dot, NUL included */
#define CK_DNS_SECRET_MAX 128

enum ck_dns_alg { CK_DNS_HMAC_SHA256, CK_DNS_HMAC_SHA384, CK_DNS_HMAC_SHA512 };

struct ck_dns_key {
    char name[CK_DNS_NAME_MAX];
    enum ck_dns_alg alg;
    unsigned char secret[CK_DNS_SECRET_MAX];
    size_t secret_len;
};

struct ck_dns_server {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[80];  /* for messages: "127.0.0.1:53" */
};

/* "host", "host:port", "[v6]:port" (port 53 by default); a host name is resolved
 * once, here. */
int ck_dns_server_parse(const char *spec, struct ck_dns_server *out, struct ck_err *e);
/* The first nameserver of /etc/resolv.conf (the system's resolver, asked with RD). */
int ck_dns_server_system(struct ck_dns_server *out, struct ck_err *e);

/* The TSIG secret from `file`: base64 alone, or the value after "secret" in a Knot
 * or BIND key file. The secret never reaches a message. ck_dns_key_wipe after use. */
int ck_dns_key_load(const char *name, enum ck_dns_alg alg, const char *file,
                    struct ck_dns_key *k, struct ck_err *e);
void ck_dns_key_wipe(struct ck_dns_key *k);

/* `name` after following CNAMEs (at most 8) as `s` answers them; `recurse` sets RD. */
int ck_dns_cname(const struct ck_dns_server *s, int recurse, const char *name, char *out,
                 size_t cap, long timeout_ms, struct ck_err *e);
/* The zone holding `name`, from the SOA in the answer or the authority section. */
int ck_dns_zone(const struct ck_dns_server *s, int recurse, const char *name, char *zone,
                size_t cap, long timeout_ms, struct ck_err *e);

enum ck_dns_op {
    CK_DNS_PROBE,   /* prerequisite only (the zone apex exists): proves key and zone */
    CK_DNS_ADD,     /* add one TXT value */
    CK_DNS_DELETE   /* delete exactly that TXT value (class NONE), no other */
};
/* One UPDATE to `zone`, signed with `k` (NULL: unsigned) and its answer's TSIG
 * checked. A refusal names the rcode (NOTAUTH, REFUSED) and TSIG error (BADKEY,
 * BADSIG, BADTIME). */
int ck_dns_update(const struct ck_dns_server *s, const struct ck_dns_key *k, const char *zone,
                  enum ck_dns_op op, const char *name, const char *txt, unsigned ttl,
                  long timeout_ms, struct ck_err *e);

/* Addresses (port 53) of the zone's NS set as `s` answers, glue first, then A/AAAA
 * queries to `s`, then getaddrinfo. At most `cap`. */
int ck_dns_ns(const struct ck_dns_server *s, int recurse, const char *zone,
              struct ck_dns_server *out, size_t cap, size_t *n, long timeout_ms,
              struct ck_err *e);
/* *has = 1 when `s` answers `txt` among the TXT values of `name` (RD clear). */
int ck_dns_has_txt(const struct ck_dns_server *s, const char *name, const char *txt, int *has,
                   long timeout_ms, struct ck_err *e);

/* Test seam for the parser (fuzzed): walks every record of a message. */
int ck_dns_parse_check(const unsigned char *msg, size_t len);

#endif
