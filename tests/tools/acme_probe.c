/* Test driver for lib/acme without the CLI: issues one certificate against an ACME
 * server with a tiny in-process http-01 responder, writes the chain to -o and prints
 * one "key=value" line of facts for the calling test.
 *
 *   acme_probe -d URL -c CA_BUNDLE [-p HTTP01_PORT] [-a ACCOUNT_KEY_TYPE] [-k CERT_KEY_TYPE]
 *              [-P PROFILE] [-C PREFERRED_CHAIN] [-R REPLACES] [-n COUNT] [-i ISSUES]
 *              [-o FULLCHAIN] [-K PRIVKEY] [-v] [NAME...]
 * -n COUNT adds names h<i>.probe.test; -i ISSUES repeats the order with the same
 * account (authz reuse). Exit 0 on success, 1 with the error line on stderr. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme/acme.h"

#define MAX_TOKENS 256

struct responder {
    int fd;
    pthread_mutex_t mu;
    char *token[MAX_TOKENS], *ka[MAX_TOKENS];
    unsigned long served;
};

static void *serve(void *arg)
{
    struct responder *r = arg;
    for (;;) {
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[2048], path[1024] = "", resp[1400];
        ssize_t n = recv(c, req, sizeof req - 1, 0);
        req[n > 0 ? n : 0] = '\0';
        sscanf(req, "GET %1000s", path);
        const char *pre = "/.well-known/acme-challenge/", *body = NULL;
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < MAX_TOKENS && !strncmp(path, pre, strlen(pre)); i++)
            if (r->token[i] && strcmp(r->token[i], path + strlen(pre)) == 0)
                body = r->ka[i];
        if (body) {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     strlen(body), body);
            r->served++;
        } else
            snprintf(resp, sizeof resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        pthread_mutex_unlock(&r->mu);
        ssize_t w = write(c, resp, strlen(resp));
        (void)w;
        close(c);
    }
}

static int present(void *ctx, const char *domain, const char *token, const char *ka, struct ck_err *e)
{
    struct responder *r = ctx;
    (void)domain;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < MAX_TOKENS; i++)
        if (!r->token[i]) {
            r->token[i] = strdup(token);
            r->ka[i] = strdup(ka);
            pthread_mutex_unlock(&r->mu);
            return 0;
        }
    pthread_mutex_unlock(&r->mu);
    return ck_fail(e, "responder full");
}

static void cleanup(void *ctx, const char *domain, const char *token, const char *ka)
{
    struct responder *r = ctx;
    (void)domain, (void)ka;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < MAX_TOKENS; i++)
        if (r->token[i] && strcmp(r->token[i], token) == 0) {
            free(r->token[i]);
            free(r->ka[i]);
            r->token[i] = r->ka[i] = NULL;
        }
    pthread_mutex_unlock(&r->mu);
}

static int listen_on(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        perror("http-01 responder");
        return -1;
    }
    return fd;
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f || fwrite(data, 1, len, f) != len) {
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *ca = NULL, *akt = "p256", *ckt = "p256", *profile = NULL;
    const char *pref = NULL, *replaces = NULL, *outp = NULL, *keyp = NULL;
    int port = 5002, count = 0, issues = 1, verbose = 0, opt, rc = 1;
    while ((opt = getopt(argc, argv, "d:c:p:a:k:P:C:R:n:i:o:K:v")) != -1) {
        switch (opt) {
        case 'd': dir = optarg; break;
        case 'c': ca = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'a': akt = optarg; break;
        case 'k': ckt = optarg; break;
        case 'P': profile = optarg; break;
        case 'C': pref = optarg; break;
        case 'R': replaces = optarg; break;
        case 'n': count = atoi(optarg); break;
        case 'i': issues = atoi(optarg); break;
        case 'o': outp = optarg; break;
        case 'K': keyp = optarg; break;
        case 'v': verbose = 1; break;
        default: fprintf(stderr, "usage: see tests/tools/acme_probe.c\n"); return 2;
        }
    }
    size_t n_names = (size_t)(argc - optind) + (size_t)(count > 0 ? count : 0);
    char **names = calloc(n_names + 1, sizeof *names);
    size_t k = 0;
    for (int i = optind; i < argc; i++)
        names[k++] = strdup(argv[i]);
    for (int i = 0; i < count; i++) {
        char b[64];
        snprintf(b, sizeof b, "h%d.probe.test", i);
        names[k++] = strdup(b);
    }

    struct ck_err e;
    struct ck_log log;
    ck_log_init(&log, stderr, verbose ? CK_LOG_DEBUG : CK_LOG_WARN, 0);
    struct ck_http *http = NULL;
    struct ck_acme *a = NULL;
    struct ck_key *akey = NULL, *ckey = NULL;
    enum ck_key_type at, ct;
    struct responder resp = {.fd = -1};
    pthread_t th;
    int thread = 0;
    pthread_mutex_init(&resp.mu, NULL);
    struct ck_http_opts ho = {.ca_bundle = ca, .user_agent = "certkeep-probe/0"};
    struct ck_acme_opts ao = {.directory_url = dir, .log = &log, .poll_timeout_s = 120};
    if (ck_key_type_parse(akt, &at, &e) != 0 || ck_key_type_parse(ckt, &ct, &e) != 0 ||
        ck_http_new(&ho, &http, &e) != 0)
        goto out;
    ao.http = http;
    if (ck_acme_new(&ao, &a, &e) != 0 || ck_key_generate(at, &akey, &e) != 0 ||
        ck_acme_account(a, akey, "probe@example.com", 1, &e) != 0)
        goto out;
    if (n_names > 0 && n_names <= CK_ACME_MAX_NAMES) {
        if ((resp.fd = listen_on(port)) < 0 || pthread_create(&th, NULL, serve, &resp) != 0) {
            ck_fail(&e, "cannot start the http-01 responder on port %d", port);
            goto out;
        }
        thread = 1;
    }
    struct ck_acme_solver sv = {.type = "http-01", .ctx = &resp, .present = present, .cleanup = cleanup};
    for (int i = 0; i < issues; i++) {
        struct ck_acme_cert cert;
        if (ck_key_generate(ct, &ckey, &e) != 0)
            goto out;
        struct ck_acme_order_req r = {.names = (const char *const *)names, .n_names = n_names,
                                      .profile = profile, .replaces = replaces,
                                      .preferred_chain = pref, .cert_key = ckey, .solver = &sv};
        if (ck_acme_issue(a, &r, &cert, &e) != 0)
            goto out;
        if (outp && write_file(outp, cert.fullchain_pem, cert.fullchain_len) != 0) {
            ck_fail(&e, "cannot write %s", outp);
            ck_acme_cert_free(&cert);
            goto out;
        }
        if (keyp) {
            char *pem;
            size_t len;
            if (ck_key_to_pem(ckey, &pem, &len, &e) != 0 || write_file(keyp, pem, len) != 0) {
                ck_acme_cert_free(&cert);
                goto out;
            }
            ck_secret_free(pem, len);
        }
        ck_acme_cert_free(&cert);
        ck_key_free(ckey);
        ckey = NULL;
    }
    printf("ok served=%lu account=%s\n", resp.served, ck_acme_account_url(a));
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "error: %s (kind %d, retry_after %ld)\n", e.msg, e.kind, e.retry_after);
    if (thread) {
        shutdown(resp.fd, SHUT_RDWR);
        close(resp.fd);
        pthread_join(th, NULL);
    }
    for (int i = 0; i < MAX_TOKENS; i++) {
        free(resp.token[i]);
        free(resp.ka[i]);
    }
    ck_key_free(ckey);
    ck_key_free(akey);
    ck_acme_free(a);
    ck_http_free(http);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    return rc;
}
