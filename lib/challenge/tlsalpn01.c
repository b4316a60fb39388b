/* The tls-alpn-01 responder (RFC 8737): lib/listen's poll loop on one thread, each
 * connection a BearSSL server engine set up with the least it needs (TLS 1.2,
 * ECDHE-ECDSA-AES128-GCM-SHA256, one P-256 key), whose policy picks the certificate
 * by SNI and refuses a handshake without ALPN acme-tls/1. */
#include "challenge.h"
#include "challenge_int.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../crypto/crypto.h"
#include "../listen/listen.h"

#define MAX_CERT 1024          /* ours are about 450 bytes with a 253-byte name */
#define IOBUF (8192 + 325)     /* records up to 8 KiB: any real ClientHello */
#define MAX_CONNS 256          /* x ~14 KiB each while handshaking */
#define DEADLINE_MS 10000      /* a whole handshake, counted from accept */

struct entry {
    char *name;
    unsigned char *der;
    size_t len;
};

struct ck_tlsalpn01 {
    int wake[2];
    struct ck_listen *l;
    pthread_t thread;
    pthread_mutex_t mu; /* guards entries */
    struct entry *entries;
    size_t n_entries;
    struct ck_key *key; /* one key for every certificate, made at start */
    const struct ck_log *log;
};

/* One connection: freed by lib/listen with free(). */
struct tconn {
    br_ssl_server_context sc;
    const br_ssl_server_policy_class *policy;
    struct ck_tlsalpn01 *s;
    br_x509_certificate chain;
    unsigned char der[MAX_CERT]; /* a copy: cleanup may drop the entry mid-handshake */
    unsigned char buf[IOBUF];
};

static const char *protos[] = {"acme-tls/1"};
static const uint16_t suites[] = {BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256};

/* ---- the policy: which certificate, and its signatures ---- */

static struct tconn *conn_of(const br_ssl_server_policy_class **pctx)
{
    return (struct tconn *)(void *)((char *)pctx - offsetof(struct tconn, policy));
}

static int choose(const br_ssl_server_policy_class **pctx, const br_ssl_server_context *cc,
                  br_ssl_server_choices *ch)
{
    struct tconn *t = conn_of(pctx);
    struct ck_tlsalpn01 *s = t->s;
    size_t n_suites;
    const br_suite_translated *st = br_ssl_server_get_client_suites(cc, &n_suites);
    const char *sni = br_ssl_engine_get_server_name(&cc->eng);
    /* FAIL_ON_ALPN_MISMATCH refuses other names; this refuses no ALPN at all */
    if (!br_ssl_engine_get_selected_protocol((br_ssl_engine_context *)&cc->eng)) {
        ck_debug(s->log, "tlsalpn01.handshake", "refused: no ALPN acme-tls/1 (SNI \"%.253s\")",
                 sni);
        return 0;
    }
    if (n_suites == 0 || !((br_ssl_server_get_client_hashes(cc) >> 8) & (1u << br_sha256_ID)))
        return 0;
    t->chain.data_len = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_entries; i++)
        if (strcasecmp(s->entries[i].name, sni) == 0) {
            memcpy(t->der, s->entries[i].der, s->entries[i].len);
            t->chain.data_len = s->entries[i].len;
            break;
        }
    pthread_mutex_unlock(&s->mu);
    ck_debug(s->log, "tlsalpn01.handshake", "SNI \"%.253s\": %s", sni,
             t->chain.data_len ? "certificate sent" : "no such name, refused");
    if (!t->chain.data_len)
        return 0;
    t->chain.data = t->der;
    ch->chain = &t->chain;
    ch->chain_len = 1;
    ch->cipher_suite = st[0][0];
    ch->algo_id = 0xFF00 + br_sha256_ID;
    return 1;
}

static uint32_t do_keyx(const br_ssl_server_policy_class **pctx, unsigned char *data,
                        size_t *len)
{
    (void)pctx, (void)data, (void)len;
    return 0; /* ECDHE only: never called */
}

/* data holds the hash (hv_len bytes); the signature replaces it. */
static size_t do_sign(const br_ssl_server_policy_class **pctx, unsigned algo_id,
                      unsigned char *data, size_t hv_len, size_t len)
{
    unsigned char hv[32];
    if ((algo_id & 0xFF) != br_sha256_ID || hv_len != 32)
        return 0;
    memcpy(hv, data, 32);
    return ck_key_sign_sha256(conn_of(pctx)->s->key, hv, data, len);
}

static const br_ssl_server_policy_class policy = {sizeof(const br_ssl_server_policy_class *),
                                                  choose, do_keyx, do_sign};

/* ---- one connection ---- */

static struct tconn *conn_new(struct ck_tlsalpn01 *s)
{
    struct tconn *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    br_ssl_engine_context *eng = &t->sc.eng;
    br_ssl_server_zero(&t->sc);
    br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
    br_ssl_engine_set_suites(eng, suites, 1);
    br_ssl_engine_set_ec(eng, br_ec_get_default());
    br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
    br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
    /* the AES and GHASH code lib/crypto's seal already links */
    br_ssl_engine_set_gcm(eng, &br_sslrec_in_gcm_vtable, &br_sslrec_out_gcm_vtable);
    br_ssl_engine_set_aes_ctr(eng, &br_aes_ct64_ctr_vtable);
    br_ssl_engine_set_ghash(eng, br_ghash_ctmul64);
    br_ssl_engine_set_protocol_names(eng, protos, 1);
    br_ssl_engine_add_flags(eng, BR_OPT_FAIL_ON_ALPN_MISMATCH | BR_OPT_NO_RENEGOTIATION);
    t->policy = &policy;
    t->s = s;
    br_ssl_server_set_policy(&t->sc, &t->policy);
    br_ssl_engine_set_buffer(eng, t->buf, sizeof t->buf, 0);
    if (!br_ssl_server_reset(&t->sc)) {
        free(t);
        return NULL;
    }
    return t;
}

/* lib/listen's drive: moves records between the socket and the engine; once the
 * handshake is done, closes (RFC 8737: no application data) and waits for the peer. */
static short drive(void *ctx, int fd, short revents, void **conn)
{
    struct tconn *t = *conn;
    if (!t) {
        if (!revents)
            return POLLIN; /* an idle connection holds no engine */
        if (!(t = conn_new(ctx)))
            return 0;
        *conn = t;
    }
    br_ssl_engine_context *eng = &t->sc.eng;
    for (;;) {
        unsigned st = br_ssl_engine_current_state(eng);
        size_t len;
        ssize_t r;
        if (st & BR_SSL_CLOSED)
            return 0;
        if (st & BR_SSL_SENDREC) {
            unsigned char *b = br_ssl_engine_sendrec_buf(eng, &len);
            if ((r = send(fd, b, len, MSG_NOSIGNAL)) > 0)
                br_ssl_engine_sendrec_ack(eng, (size_t)r);
        } else if (st & BR_SSL_SENDAPP) {
            br_ssl_engine_close(eng);
            continue;
        } else if (st & BR_SSL_RECVAPP) {
            br_ssl_engine_recvapp_buf(eng, &len);
            br_ssl_engine_recvapp_ack(eng, len);
            continue;
        } else if (st & BR_SSL_RECVREC) {
            unsigned char *b = br_ssl_engine_recvrec_buf(eng, &len);
            if ((r = recv(fd, b, len, 0)) > 0)
                br_ssl_engine_recvrec_ack(eng, (size_t)r);
        } else {
            return 0;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return st & BR_SSL_SENDREC ? POLLOUT : POLLIN;
        if (r <= 0)
            return 0;
    }
}

static void *serve(void *arg)
{
    struct ck_tlsalpn01 *s = arg;
    struct pollfd pfd[MAX_CONNS + 2];
    for (;;) {
        int timeout = -1;
        pfd[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        size_t n = ck_listen_pollfds(s->l, pfd + 1, MAX_CONNS + 1, &timeout);
        int r = poll(pfd, (nfds_t)n + 1, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && pfd[0].revents)
            break;
        if (r < 0)
            for (size_t k = 1; k <= n; k++)
                pfd[k].revents = 0; /* EINTR: only the deadlines */
        ck_listen_handle(s->l, pfd + 1, n);
    }
    return NULL;
}

/* ---- lifecycle ---- */

int ck_tlsalpn01_start(const char *listen, const struct ck_log *log, struct ck_tlsalpn01 **out,
                       struct ck_err *e)
{
    char host[256], port[8];
    *out = NULL;
    if (ck_listen_split(listen, host, sizeof host, port, sizeof port) < 0 || atoi(port) < 1)
        return ck_failk(e, CK_E_USAGE,
                        "tls-alpn-01 listen %s: expected host:port, [v6]:port or :port", listen);
    struct ck_tlsalpn01 *s = calloc(1, sizeof *s);
    if (!s)
        return ck_fail(e, "tls-alpn-01 listen %s: out of memory", listen);
    s->wake[0] = s->wake[1] = -1;
    s->log = log;
    pthread_mutex_init(&s->mu, NULL);
    int bind_err, lfd = -1;
    if (ck_key_generate(CK_KEY_P256, &s->key, e))
        goto fail;
    if ((lfd = ck_listen_socket(listen, "tls-alpn-01 listen", &bind_err, e)) < 0) {
        if (bind_err == EACCES && atoi(port) < 1024)
            ck_failk(e, CK_E_IO, "tls-alpn-01: cannot listen on %s: %s (non-root: set the pod "
                     "sysctl net.ipv4.ip_unprivileged_port_start=0)", listen, strerror(bind_err));
        else if (bind_err)
            ck_failk(e, CK_E_IO, "tls-alpn-01: cannot listen on %s: %s (port %s is needed "
                     "during the order)", listen, strerror(bind_err), port);
        goto fail;
    }
    if (ck_listen_new_driven(lfd, MAX_CONNS, DEADLINE_MS, drive, s, log, "tlsalpn01.conn",
                             &s->l, e))
        goto fail;
    if (ck_challenge_thread(s->wake, &s->thread, serve, s, "tls-alpn-01", listen, e))
        goto fail;
    ck_info(log, "tls-alpn-01", "answering on %s", listen);
    *out = s;
    return 0;
fail:
    ck_listen_free(s->l);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    ck_key_free(s->key);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return -1;
}

int ck_tlsalpn01_present(void *ctx, const char *domain, const char *token, const char *key_authz,
                         struct ck_err *e)
{
    struct ck_tlsalpn01 *s = ctx;
    unsigned char digest[32], *der = NULL;
    size_t len;
    (void)token;
    ck_sha256(key_authz, strlen(key_authz), digest);
    if (ck_tlsalpn_cert_der(s->key, domain, digest, &der, &len, e))
        return -1;
    char *name = strdup(domain);
    struct entry *ne = NULL;
    if (len > MAX_CERT || !name) {
        free(der);
        free(name);
        return ck_fail(e, "tls-alpn-01 %s: %s", domain,
                       name ? "certificate too large" : "out of memory");
    }
    pthread_mutex_lock(&s->mu);
    if ((ne = realloc(s->entries, (s->n_entries + 1) * sizeof *ne))) {
        s->entries = ne;
        s->entries[s->n_entries++] = (struct entry){name, der, len};
    }
    pthread_mutex_unlock(&s->mu);
    if (!ne) {
        free(der);
        free(name);
        return ck_fail(e, "tls-alpn-01 %s: out of memory", domain);
    }
    return 0;
}

void ck_tlsalpn01_cleanup(void *ctx, const char *domain, const char *token, const char *key_authz)
{
    struct ck_tlsalpn01 *s = ctx;
    (void)token, (void)key_authz;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_entries; i++)
        if (strcmp(s->entries[i].name, domain) == 0) {
            free(s->entries[i].name);
            free(s->entries[i].der);
            s->entries[i] = s->entries[--s->n_entries];
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

void ck_tlsalpn01_stop(struct ck_tlsalpn01 *s)
{
    if (!s)
        return;
    ssize_t w;
    do
        w = write(s->wake[1], "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
    ck_listen_free(s->l);
    close(s->wake[0]);
    close(s->wake[1]);
    for (size_t i = 0; i < s->n_entries; i++) {
        free(s->entries[i].name);
        free(s->entries[i].der);
    }
    free(s->entries);
    ck_key_free(s->key);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
