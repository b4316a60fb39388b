/* Configuration table, YAML loader, environment and flags.
 *
 * Keys (YAML path · variable · flag · meaning, default). Every variable is
 * CERTKEEP_ + the path in capitals with "." → "_"; the SPEC's short names are
 * accepted too (second column, after "|").
 *
 *   domains                  CERTKEEP_DOMAINS (comma-separated)  --domain NAME (repeatable)
 *                            names for the certificate, at most 100
 *   cert_name                CERTKEEP_CERT_NAME           --cert-name NAME   default: first domain ("*" → "_")
 *   email                    CERTKEEP_EMAIL               --email ADDR       ACME account contact
 *   agree_tos                CERTKEEP_AGREE_TOS           --agree-tos        agree to the CA's terms, false
 *   out                      CERTKEEP_OUT                 --out DIR          /certs
 *   state                    CERTKEEP_STATE               --state DIR        /var/lib/certkeep
 *   key_type                 CERTKEEP_KEY_TYPE            --key-type T       p256 (rsa2048|rsa3072|rsa4096|p256|p384)
 *   acme.directory           CERTKEEP_ACME_DIRECTORY | CERTKEEP_DIRECTORY    --directory URL|PRESET
 *                            Let's Encrypt production; presets: letsencrypt, letsencrypt-staging,
 *                            zerossl, google, buypass, sslcom (see directory_presets)
 *   acme.eab.kid             CERTKEEP_ACME_EAB_KID        --eab-kid ID       external account binding
 *   acme.eab.hmac_key_file   CERTKEEP_ACME_EAB_HMAC_KEY_FILE  --eab-hmac-key-file FILE  its MAC key
 *                            (base64url, as the CA hands it out); both or neither
 *   acme.ca_bundle           CERTKEEP_ACME_CA_BUNDLE | CERTKEEP_CA_BUNDLE    --ca-bundle FILE
 *                            extra trust for the CA and the store
 *   acme.profile             CERTKEEP_ACME_PROFILE | CERTKEEP_PROFILE        --profile NAME
 *   acme.preferred_chain     CERTKEEP_ACME_PREFERRED_CHAIN | CERTKEEP_PREFERRED_CHAIN  --preferred-chain CN
 *   acme.account_key_type    CERTKEEP_ACME_ACCOUNT_KEY_TYPE | CERTKEEP_ACCOUNT_KEY_TYPE  --account-key-type T  p256
 *   challenge.type           CERTKEEP_CHALLENGE_TYPE | CERTKEEP_CHALLENGE    --challenge T
 *                            http-01|dns-01|tls-alpn-01, http-01
 *   challenge.http01_listen  CERTKEEP_CHALLENGE_HTTP01_LISTEN | CERTKEEP_HTTP01_LISTEN  --http01-listen ADDR  ":80"
 *   challenge.webroot        CERTKEEP_CHALLENGE_WEBROOT | CERTKEEP_WEBROOT   --webroot DIR
 *                            alone: tokens written there; with http01_listen set too: listen,
 *                            and when the port is taken, the webroot
 *   challenge.http01_store   CERTKEEP_CHALLENGE_HTTP01_STORE  --http01-store  false: true puts each
 *                            key authorization in the store (challenges/<token>) for `certkeep
 *                            serve`, which answers on challenge.http01_listen; this one listens not
 *   challenge.tlsalpn01_listen  CERTKEEP_CHALLENGE_TLSALPN01_LISTEN  --tlsalpn01-listen ADDR  ":443"
 *   challenge.dns_hook       CERTKEEP_CHALLENGE_DNS_HOOK  --dns-hook FILE    run "FILE present|cleanup NAME VALUE"
 *   challenge.rfc2136.server CERTKEEP_CHALLENGE_RFC2136_SERVER  --rfc2136-server HOST[:PORT]
 *   challenge.rfc2136.tsig_key          CERTKEEP_CHALLENGE_RFC2136_TSIG_KEY          TSIG key name
 *   challenge.rfc2136.tsig_alg          CERTKEEP_CHALLENGE_RFC2136_TSIG_ALG          hmac-sha256|hmac-sha384|hmac-sha512
 *   challenge.rfc2136.tsig_secret_file  CERTKEEP_CHALLENGE_RFC2136_TSIG_SECRET_FILE  base64 secret in a file
 *                            (bare, or a Knot or BIND key file)
 *   challenge.rfc2136.zone   CERTKEEP_CHALLENGE_RFC2136_ZONE  the zone to update; default: by SOA lookup
 *   challenge.dns_resolver   CERTKEEP_CHALLENGE_DNS_RESOLVER  HOST[:PORT] asked for the zone, its NS set
 *                            and CNAMEs; default: the rfc2136 server, else /etc/resolv.conf's
 *   challenge.dns_propagation          CERTKEEP_CHALLENGE_DNS_PROPAGATION  all|server-only, all: every
 *                            name server of the zone answers the value before the CA is told
 *   challenge.dns_propagation_timeout  CERTKEEP_CHALLENGE_DNS_PROPAGATION_TIMEOUT  2m
 *   store.dir                CERTKEEP_STORE_DIR           --store-dir DIR    local directory store
 *   store.required           CERTKEEP_STORE_REQUIRED      true: fail when the store is unreachable
 *   store.encryption_key_file      CERTKEEP_STORE_ENCRYPTION_KEY_FILE
 *                            32 bytes (raw or 64 hex digits): private keys in the store are sealed
 *                            (AES-256-GCM, bound to the object name); plain ones are sealed as read
 *   store.encryption_old_key_file  CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE
 *                            the key it replaces: still opens what it sealed, never seals
 *   store.s3.endpoint        CERTKEEP_STORE_S3_ENDPOINT | CERTKEEP_S3_ENDPOINT  --s3-endpoint URL (AWS_ENDPOINT_URL_S3)
 *   store.s3.bucket          CERTKEEP_STORE_S3_BUCKET | CERTKEEP_S3_BUCKET      --s3-bucket NAME
 *   store.s3.prefix          CERTKEEP_STORE_S3_PREFIX | CERTKEEP_S3_PREFIX      --s3-prefix P
 *   store.s3.region          CERTKEEP_STORE_S3_REGION | CERTKEEP_S3_REGION      --s3-region R  us-east-1 (AWS_REGION)
 *   store.s3.path_style      CERTKEEP_STORE_S3_PATH_STYLE | CERTKEEP_S3_PATH_STYLE  --s3-path-style  false
 *   store.s3.allow_http      CERTKEEP_STORE_S3_ALLOW_HTTP | CERTKEEP_S3_ALLOW_HTTP  --s3-allow-http  false
 *                            an http:// endpoint off loopback sends keys in the clear: refused
 *                            unless set (then warned at start)
 *   store.s3.access_key_file / secret_key_file / session_token_file  (CERTKEEP_STORE_S3_…)
 *                            credentials from files; else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 *                            AWS_SESSION_TOKEN
 *   renewal.min_valid        CERTKEEP_RENEWAL_MIN_VALID | CERTKEEP_MIN_VALID  --min-valid D  1h (90s, 10m, 1h, 2d)
 *   reload.signal            CERTKEEP_RELOAD_SIGNAL       HUP (HUP, INT, QUIT, TERM, USR1, USR2, WINCH)
 *   reload.process           CERTKEEP_RELOAD_PROCESS      process name found in /proc
 *   reload.pidfile           CERTKEEP_RELOAD_PIDFILE
 *   reload.command           CERTKEEP_RELOAD_COMMAND
 *   reload.url               CERTKEEP_RELOAD_URL
 *   webhook.url              CERTKEEP_WEBHOOK_URL         http(s): a JSON POST per failure and per recovery
 *   listen                   CERTKEEP_LISTEN              --listen ADDR      /healthz /readyz /metrics, off
 *   log.format               CERTKEEP_LOG_FORMAT          --log-format F     text|json
 *   log.level                CERTKEEP_LOG_LEVEL           --log-level L      debug|info|warn|error, info
 *   no_seccomp               CERTKEEP_NO_SECCOMP          --no-seccomp       run: without its seccomp
 *                            allow-list (a reload command needing other system calls), false
 *   key_types                CERTKEEP_KEY_TYPES           --key-types T,T    one certificate per key type:
 *                            the first named cert_name, the others "<cert_name>.<type>"
 *   certificates             (file only) a list of entries, each a map of per-certificate keys
 *                            (domains, cert_name, key_type, key_types, out, acme.profile,
 *                            acme.preferred_chain, challenge.*, renewal.min_valid, reload.*,
 *                            required); the top-level keys are their defaults
 *   required                 CERTKEEP_REQUIRED            true: init and /readyz wait for it
 *   account                  CERTKEEP_ACCOUNT             shared|per-certificate, shared
 *   max_concurrent_orders    CERTKEEP_MAX_CONCURRENT_ORDERS  run: jobs at once (1-64), 4
 *   test_time_scale          CERTKEEP_TEST_TIME_SCALE     tests only: run's waits (retries, store
 *                            and ARI checks, reload retries) divided by 1-64 (warned at start), 1
 *   (flag only)                                           --cert NAME        the certificate to act on
 *   no_ocsp                  CERTKEEP_NO_OCSP             --no-ocsp          no ocsp.der (OCSP stapling
 *                            material, fetched when the certificate names a responder), false
 *   (file)                   CERTKEEP_CONFIG              --config FILE
 *   (flag only)                                           --force            renew even when not due
 *   (flag only)                                           --now              renew: ask the running `run` to check now
 *   (flag only)                                           --reason R         revoke: RFC 5280 reason, name or code
 *   (flag only)                                           --yes              account deactivate: confirmed
 *
 * Settings of a challenge type other than challenge.type (dns-01's with http-01, ...)
 * are refused with exit 2 rather than ignored.
 */
#include "config.h"
#include "../fs/fs.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <yaml.h>

#define DEFAULT_DIRECTORY "https://acme-v02.api.letsencrypt.org/directory"
#define MAX_VALUE 4096         /* longest accepted value: a path */
#define MAX_DURATION (3650LL * 86400)

enum type { T_STR, T_PATH, T_URL, T_LISTEN, T_EMAIL, T_NAME, T_BOOL, T_LIST, T_DURATION,
            T_KEYTYPE, T_ENUM, T_SIGNAL, T_REASON, T_INT, T_KEYLIST, T_CERTS };

static const char *const challenge_names[] = {"http-01", "dns-01", "tls-alpn-01", NULL};
static const char *const tsig_names[] = {"hmac-sha256", "hmac-sha384", "hmac-sha512", NULL};
static const char *const propagation_names[] = {"all", "server-only", NULL};
static const char *const format_names[] = {"text", "json", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};
static const char *const account_names[] = {"shared", "per-certificate", NULL};

struct key {
    const char *path;        /* YAML path; NULL: flag only */
    const char *env;         /* CERTKEEP_<PATH> */
    const char *alias;       /* the SPEC's short variable, or NULL */
    const char *flag;        /* "--s3-bucket", or NULL */
    const char *arg;         /* value name in usage; NULL for a switch */
    enum type type;
    size_t off;
    const char *const *names;  /* T_ENUM */
    const char *help;
};

#define OFF(m) offsetof(struct ck_config, m)

static const struct key keys[] = {
    {"domains", "CERTKEEP_DOMAINS", NULL, "--domain", "NAME", T_LIST, OFF(domains), NULL,
     "name for the certificate (repeatable, at most 100)"},
    {"cert_name", "CERTKEEP_CERT_NAME", NULL, "--cert-name", "NAME", T_NAME, OFF(cert_name), NULL,
     "directory name under --out (default: first domain)"},
    {"email", "CERTKEEP_EMAIL", NULL, "--email", "ADDR", T_EMAIL, OFF(email), NULL,
     "contact address for the ACME account"},
    {"agree_tos", "CERTKEEP_AGREE_TOS", NULL, "--agree-tos", NULL, T_BOOL, OFF(agree_tos), NULL,
     "agree to the CA's terms of service"},
    {"out", "CERTKEEP_OUT", NULL, "--out", "DIR", T_PATH, OFF(out_dir), NULL,
     "output directory the app reads (default /certs)"},
    {"state", "CERTKEEP_STATE", NULL, "--state", "DIR", T_PATH, OFF(state_dir), NULL,
     "state directory (default /var/lib/certkeep)"},
    {"key_type", "CERTKEEP_KEY_TYPE", NULL, "--key-type", "TYPE", T_KEYTYPE, OFF(key_type), NULL,
     "certificate key: rsa2048|rsa3072|rsa4096|p256|p384 (default p256)"},
    {"acme.directory", "CERTKEEP_ACME_DIRECTORY", "CERTKEEP_DIRECTORY", "--directory", "URL", T_URL,
     OFF(directory_url), NULL,
     "ACME directory URL or preset: letsencrypt (default), letsencrypt-staging, buypass; "
     "zerossl, google, sslcom (these need --eab-kid)"},
    {"acme.eab.kid", "CERTKEEP_ACME_EAB_KID", NULL, "--eab-kid", "ID", T_STR, OFF(eab_kid), NULL,
     "external account binding key id (from the CA)"},
    {"acme.eab.hmac_key_file", "CERTKEEP_ACME_EAB_HMAC_KEY_FILE", NULL, "--eab-hmac-key-file",
     "FILE", T_PATH, OFF(eab_key_file), NULL, "file with the binding's base64url MAC key"},
    {"acme.ca_bundle", "CERTKEEP_ACME_CA_BUNDLE", "CERTKEEP_CA_BUNDLE", "--ca-bundle", "FILE",
     T_PATH, OFF(ca_bundle), NULL, "extra trust anchors for the CA and the store (PEM)"},
    {"acme.profile", "CERTKEEP_ACME_PROFILE", "CERTKEEP_PROFILE", "--profile", "NAME", T_STR,
     OFF(profile), NULL, "ACME profile (classic, tlsserver, shortlived, ...)"},
    {"acme.preferred_chain", "CERTKEEP_ACME_PREFERRED_CHAIN", "CERTKEEP_PREFERRED_CHAIN",
     "--preferred-chain", "CN", T_STR, OFF(preferred_chain), NULL,
     "prefer the chain whose top issuer has this name"},
    {"acme.account_key_type", "CERTKEEP_ACME_ACCOUNT_KEY_TYPE", "CERTKEEP_ACCOUNT_KEY_TYPE",
     "--account-key-type", "TYPE", T_KEYTYPE, OFF(account_key_type), NULL,
     "account key for a new account (default p256)"},
    {"challenge.type", "CERTKEEP_CHALLENGE_TYPE", "CERTKEEP_CHALLENGE", "--challenge", "TYPE",
     T_ENUM, OFF(challenge), challenge_names, "http-01 (the default), dns-01 or tls-alpn-01"},
    {"challenge.http01_listen", "CERTKEEP_CHALLENGE_HTTP01_LISTEN", "CERTKEEP_HTTP01_LISTEN",
     "--http01-listen", "ADDR", T_LISTEN, OFF(http01_listen), NULL,
     "address of the built-in http-01 responder (default :80)"},
    {"challenge.webroot", "CERTKEEP_CHALLENGE_WEBROOT", "CERTKEEP_WEBROOT", "--webroot", "DIR",
     T_PATH, OFF(webroot), NULL,
     "write http-01 tokens under DIR (with --http01-listen: when its port is taken)"},
    {"challenge.http01_store", "CERTKEEP_CHALLENGE_HTTP01_STORE", NULL, "--http01-store", NULL,
     T_BOOL, OFF(http01_store), NULL, "http-01 tokens into the store, answered by certkeep serve"},
    {"challenge.tlsalpn01_listen", "CERTKEEP_CHALLENGE_TLSALPN01_LISTEN", NULL,
     "--tlsalpn01-listen", "ADDR", T_LISTEN, OFF(tlsalpn01_listen), NULL,
     "address of the tls-alpn-01 responder (default :443)"},
    {"challenge.dns_hook", "CERTKEEP_CHALLENGE_DNS_HOOK", "CERTKEEP_DNS_HOOK", "--dns-hook",
     "FILE", T_PATH, OFF(dns_hook), NULL, "dns-01 by FILE present|cleanup NAME VALUE TTL"},
    {"challenge.rfc2136.server", "CERTKEEP_CHALLENGE_RFC2136_SERVER", "CERTKEEP_RFC2136_SERVER",
     "--rfc2136-server", "HOST", T_STR, OFF(rfc2136_server), NULL,
     "dns-01 by RFC 2136 update to HOST[:PORT] (TSIG key in the config)"},
    {"challenge.rfc2136.tsig_key", "CERTKEEP_CHALLENGE_RFC2136_TSIG_KEY", NULL, NULL, NULL, T_STR,
     OFF(tsig_key), NULL, NULL},
    {"challenge.rfc2136.tsig_alg", "CERTKEEP_CHALLENGE_RFC2136_TSIG_ALG", NULL, NULL, NULL, T_ENUM,
     OFF(tsig_alg), tsig_names, NULL},
    {"challenge.rfc2136.tsig_secret_file", "CERTKEEP_CHALLENGE_RFC2136_TSIG_SECRET_FILE", NULL,
     NULL, NULL, T_PATH, OFF(tsig_secret_file), NULL, NULL},
    {"challenge.rfc2136.zone", "CERTKEEP_CHALLENGE_RFC2136_ZONE", NULL, NULL, NULL, T_STR,
     OFF(rfc2136_zone), NULL, NULL},
    {"challenge.dns_resolver", "CERTKEEP_CHALLENGE_DNS_RESOLVER", NULL, NULL, NULL, T_STR,
     OFF(dns_resolver), NULL, NULL},
    {"challenge.dns_propagation", "CERTKEEP_CHALLENGE_DNS_PROPAGATION", NULL, NULL, NULL, T_ENUM,
     OFF(dns_propagation), propagation_names, NULL},
    {"challenge.dns_propagation_timeout", "CERTKEEP_CHALLENGE_DNS_PROPAGATION_TIMEOUT", NULL,
     NULL, NULL, T_DURATION, OFF(dns_propagation_timeout), NULL, NULL},
    {"store.dir", "CERTKEEP_STORE_DIR", NULL, "--store-dir", "DIR", T_PATH, OFF(store_dir), NULL,
     "object store in a local directory"},
    {"store.required", "CERTKEEP_STORE_REQUIRED", NULL, NULL, NULL, T_BOOL, OFF(store_required),
     NULL, NULL},
    {"store.encryption_key_file", "CERTKEEP_STORE_ENCRYPTION_KEY_FILE", NULL, NULL, NULL, T_PATH,
     OFF(store_key_file), NULL, NULL},
    {"store.encryption_old_key_file", "CERTKEEP_STORE_ENCRYPTION_OLD_KEY_FILE", NULL, NULL, NULL,
     T_PATH, OFF(store_old_key_file), NULL, NULL},
    {"store.s3.endpoint", "CERTKEEP_STORE_S3_ENDPOINT", "CERTKEEP_S3_ENDPOINT", "--s3-endpoint",
     "URL", T_URL, OFF(s3.endpoint), NULL, "S3 endpoint"},
    {"store.s3.bucket", "CERTKEEP_STORE_S3_BUCKET", "CERTKEEP_S3_BUCKET", "--s3-bucket", "NAME",
     T_STR, OFF(s3.bucket), NULL, "S3 bucket"},
    {"store.s3.prefix", "CERTKEEP_STORE_S3_PREFIX", "CERTKEEP_S3_PREFIX", "--s3-prefix", "P",
     T_STR, OFF(s3.prefix), NULL, "key prefix in the bucket"},
    {"store.s3.region", "CERTKEEP_STORE_S3_REGION", "CERTKEEP_S3_REGION", "--s3-region", "R",
     T_STR, OFF(s3.region), NULL, "S3 region (default us-east-1)"},
    {"store.s3.path_style", "CERTKEEP_STORE_S3_PATH_STYLE", "CERTKEEP_S3_PATH_STYLE",
     "--s3-path-style", NULL, T_BOOL, OFF(s3.path_style), NULL,
     "path-style bucket URLs (MinIO, Ceph)"},
    {"store.s3.allow_http", "CERTKEEP_STORE_S3_ALLOW_HTTP", "CERTKEEP_S3_ALLOW_HTTP",
     "--s3-allow-http", NULL, T_BOOL, OFF(s3.allow_http), NULL,
     "allow an http:// S3 endpoint off loopback (keys in the clear)"},
    {"store.s3.access_key_file", "CERTKEEP_STORE_S3_ACCESS_KEY_FILE", NULL, NULL, NULL, T_PATH,
     OFF(s3.access_key_file), NULL, NULL},
    {"store.s3.secret_key_file", "CERTKEEP_STORE_S3_SECRET_KEY_FILE", NULL, NULL, NULL, T_PATH,
     OFF(s3.secret_key_file), NULL, NULL},
    {"store.s3.session_token_file", "CERTKEEP_STORE_S3_SESSION_TOKEN_FILE", NULL, NULL, NULL,
     T_PATH, OFF(s3.session_token_file), NULL, NULL},
    {"renewal.min_valid", "CERTKEEP_RENEWAL_MIN_VALID", "CERTKEEP_MIN_VALID", "--min-valid",
     "DURATION", T_DURATION, OFF(min_valid), NULL, "least validity a restored certificate has (default 1h; at most 1/8 of its lifetime)"},
    {"reload.signal", "CERTKEEP_RELOAD_SIGNAL", NULL, NULL, NULL, T_SIGNAL, OFF(reload_signal),
     NULL, NULL},
    {"reload.process", "CERTKEEP_RELOAD_PROCESS", NULL, NULL, NULL, T_STR, OFF(reload_process),
     NULL, NULL},
    {"reload.pidfile", "CERTKEEP_RELOAD_PIDFILE", NULL, NULL, NULL, T_PATH, OFF(reload_pidfile),
     NULL, NULL},
    {"reload.command", "CERTKEEP_RELOAD_COMMAND", NULL, NULL, NULL, T_STR, OFF(reload_command),
     NULL, NULL},
    {"reload.url", "CERTKEEP_RELOAD_URL", NULL, NULL, NULL, T_URL, OFF(reload_url), NULL, NULL},
    {"webhook.url", "CERTKEEP_WEBHOOK_URL", NULL, NULL, NULL, T_URL, OFF(webhook_url), NULL, NULL},
    {"listen", "CERTKEEP_LISTEN", NULL, "--listen", "ADDR", T_LISTEN, OFF(listen), NULL,
     "serve /healthz, /readyz and /metrics (default off)"},
    {"log.format", "CERTKEEP_LOG_FORMAT", NULL, "--log-format", "FMT", T_ENUM, OFF(log_json),
     format_names, "text (default) or json"},
    {"log.level", "CERTKEEP_LOG_LEVEL", NULL, "--log-level", "LEVEL", T_ENUM, OFF(log_level),
     level_names, "debug|info|warn|error (default info)"},
    {"no_seccomp", "CERTKEEP_NO_SECCOMP", NULL, "--no-seccomp", NULL, T_BOOL, OFF(no_seccomp), NULL,
     "run: without the seccomp allow-list"},
    {"certificates", NULL, NULL, NULL, NULL, T_CERTS, 0, NULL, NULL},
    {"key_types", "CERTKEEP_KEY_TYPES", NULL, "--key-types", "T,T", T_KEYLIST, OFF(key_types),
     NULL, "one certificate per key type, files side by side (p256,rsa2048)"},
    {"required", "CERTKEEP_REQUIRED", NULL, NULL, NULL, T_BOOL, OFF(required), NULL, NULL},
    {"account", "CERTKEEP_ACCOUNT", NULL, NULL, NULL, T_ENUM, OFF(account_per_cert),
     account_names, NULL},
    {"max_concurrent_orders", "CERTKEEP_MAX_CONCURRENT_ORDERS", NULL, NULL, NULL, T_INT,
     OFF(max_orders), NULL, NULL},
    {"test_time_scale", "CERTKEEP_TEST_TIME_SCALE", NULL, NULL, NULL, T_INT, OFF(time_scale), NULL,
     NULL},
    {NULL, NULL, NULL, "--cert", "NAME", T_NAME, OFF(cert_pick), NULL,
     "with certificates: the one to act on (init, issue, renew, status, revoke)"},
    {"no_ocsp", "CERTKEEP_NO_OCSP", NULL, "--no-ocsp", NULL, T_BOOL, OFF(no_ocsp), NULL,
     "no OCSP response (ocsp.der) for the app to staple"},
    {NULL, NULL, NULL, "--force", NULL, T_BOOL, OFF(force), NULL, "renew: even when not due"},
    {NULL, NULL, NULL, "--now", NULL, T_BOOL, OFF(now), NULL,
     "renew: ask the `run` on this state directory to retry or renew now (SIGUSR1)"},
    {NULL, NULL, NULL, "--reason", "R", T_REASON, OFF(revoke_reason), NULL,
     "revoke: RFC 5280 reason (keyCompromise, superseded, ...; default unspecified)"},
    {NULL, NULL, NULL, "--yes", NULL, T_BOOL, OFF(yes), NULL,
     "account deactivate: yes, deactivate the account (irreversible)"},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

_Static_assert(sizeof(enum ck_key_type) == sizeof(int), "enums stored as int");
_Static_assert(sizeof(enum ck_challenge_type) == sizeof(int), "enums stored as int");
_Static_assert(sizeof(enum ck_tsig_alg) == sizeof(int), "enums stored as int");
_Static_assert(sizeof(enum ck_log_level) == sizeof(int), "enums stored as int");
_Static_assert(N_KEYS <= 64, "struct ck_config_entry's set[] holds every key");

/* Where a value came from, for the message prefix. */
struct origin {
    char where[300];  /* "certkeep.yaml:7: store.s3.bucket", "CERTKEEP_X", "--x" */
};

static int usage(struct ck_err *e, const struct origin *o, const char *why)
{
    return ck_failk(e, CK_E_USAGE, "%s: %s", o->where, why);
}

/* Copies at most 60 bytes of an untrusted value for a message, escaped, in quotes or not. */
static void escape(char *out, size_t cap, const char *v, int quoted)
{
    size_t j = 0;
    if (quoted)
        out[j++] = '"';
    for (size_t i = 0; v[i] && j + 6 < cap && i < 60; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
            j += (size_t)snprintf(out + j, cap - j, "\\x%02x", ch);
        else
            out[j++] = (char)ch;
    }
    if (strlen(v) > 60 && j + 4 < cap)
        j += (size_t)snprintf(out + j, cap - j, "...");
    if (quoted)
        out[j++] = '"';
    out[j] = '\0';
}

static void quote(char *out, size_t cap, const char *v)
{
    escape(out, cap, v, 1);
}

static int bad_value(struct ck_err *e, const struct origin *o, const char *v, const char *why)
{
    char q[300];
    quote(q, sizeof q, v);
    return ck_failk(e, CK_E_USAGE, "%s: %s %s", o->where, q, why);
}

static void *field(struct ck_config *c, const struct key *k)
{
    return (char *)c + k->off;
}

static int set_int(struct ck_config *c, const struct key *k, int v)
{
    memcpy(field(c, k), &v, sizeof v);
    return 0;
}

static int has_control(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i])) { *out = 1; return 0; }
        if (!strcasecmp(v, no[i])) { *out = 0; return 0; }
    }
    return -1;
}

/* "90s", "10m", "1h", "2d", "1h30m"; a bare "0" is zero. */
static int parse_duration(const char *v, int64_t *out, const char **why)
{
    int64_t total = 0;
    const char *p = v;
    *why = "is not a duration (90s, 10m, 1h, 2d)";
    if (*p == '-') {
        *why = "is negative; a duration is at least 0s";
        return -1;
    }
    if (!strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    if (!*p)
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p++ - '0');
            if (n > MAX_DURATION)
                goto too_long;
        }
        int64_t unit;
        switch (*p++) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return -1;
        }
        total += n * unit;
        if (total > MAX_DURATION)
            goto too_long;
    }
    *out = total;
    return 0;
too_long:
    *why = "is longer than 3650d";
    return -1;
}

static int parse_signal(const char *v, int *out)
{
    static const struct { const char *name; int sig; } sigs[] = {
        {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"TERM", SIGTERM},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH},
    };
    if (!strncasecmp(v, "SIG", 3))
        v += 3;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (!strcasecmp(v, sigs[i].name)) {
            *out = sigs[i].sig;
            return 0;
        }
    return -1;
}

static int parse_enum(const char *v, const char *const *names, int *out)
{
    for (int i = 0; names[i]; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return 0;
        }
    return -1;
}

/* RFC 5280 CRLReason by name (any case) or code; 7 is unassigned. */
static int parse_reason(const char *v, int *out)
{
    static const char *const names[] = {
        "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
        "cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn",
        "aACompromise"};
    char *end = NULL;
    long code = isdigit((unsigned char)v[0]) ? strtol(v, &end, 10) : -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (names[i][0] && (!strcasecmp(v, names[i]) || (code == i && end && !*end))) {
            *out = i;
            return 0;
        }
    return -1;
}

/* CAs by name for acme.directory; "EAB" where the CA binds new accounts to its own. */
static const struct { const char *name, *url; } directory_presets[] = {
    {"letsencrypt", DEFAULT_DIRECTORY},
    {"letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory"},
    {"buypass", "https://api.buypass.com/acme/directory"},
    {"zerossl", "https://acme.zerossl.com/v2/DV90"},            /* EAB */
    {"google", "https://dv.acme-v02.api.pki.goog/directory"},   /* EAB */
    {"sslcom", "https://acme.ssl.com/sslcom-dv-ecc"},           /* EAB */
};

static const char *check_url(const char *v)
{
    const char *rest;
    if (!strncasecmp(v, "https://", 8))
        rest = v + 8;
    else if (!strncasecmp(v, "http://", 7))
        rest = v + 7;
    else
        return "is not an http:// or https:// URL";
    if (!*rest || *rest == '/' || *rest == ':')
        return "has no host";
    for (const char *p = v; *p; p++)
        if (*p == ' ')
            return "contains a space";
    return NULL;
}

/* "[host]:port", ":80", "127.0.0.1:5002", "[::1]:80". */
static const char *check_listen(const char *v)
{
    const char *colon = strrchr(v, ':');
    if (!colon)
        return "is not an address (\":80\", \"127.0.0.1:8080\", \"[::1]:80\")";
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close + 1 != colon)
            return "is not an address (\":80\", \"127.0.0.1:8080\", \"[::1]:80\")";
    } else if (memchr(v, ':', (size_t)(colon - v))) {
        return "has an IPv6 host without brackets (\"[::1]:80\")";
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!isdigit((unsigned char)colon[1]) || *end || errno || port < 1 || port > 65535)
        return "has no port between 1 and 65535";
    if (strchr(v, ' '))
        return "contains a space";
    return NULL;
}

static const char *check_email(const char *v)
{
    const char *at = strchr(v, '@');
    if (!at || at == v || !at[1] || strchr(at + 1, '@'))
        return "is not an email address";
    if (strlen(v) > 254)
        return "is longer than 254 characters";
    if (strpbrk(v, " ,;<>\"()[]\\"))
        return "is not an email address";
    return NULL;
}

/* A file name under --out: no slash, no leading dot. */
static const char *check_name(const char *v)
{
    size_t n = strlen(v);
    if (n > 64)
        return "is longer than 64 characters";
    if (v[0] == '.' || v[0] == '-')
        return "must not start with '.' or '-'";
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)v[i]) && !strchr("._-", v[i]))
            return "may hold only letters, digits, '.', '_' and '-'";
    return NULL;
}

/* A DNS name (lower-cased in place), optionally "*." first. */
static const char *check_domain(char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return "is an empty name";
    if (n > 253)
        return "is longer than 253 characters";
    for (size_t i = 0; i < n; i++)
        v[i] = (char)tolower((unsigned char)v[i]);
    char *p = v;
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    int all_digits = 0;
    while (1) {
        size_t len = strcspn(p, ".");
        if (len == 0)
            return p[0] ? "has an empty label" : "ends with a dot or is empty";
        if (len > 63)
            return "has a label longer than 63 characters";
        all_digits = 1;
        for (size_t i = 0; i < len; i++) {
            if (!isalnum((unsigned char)p[i]) && p[i] != '-')
                return "is not a DNS name (letters, digits, '-', '.', and a leading \"*.\")";
            if (!isdigit((unsigned char)p[i]))
                all_digits = 0;
        }
        if (p[0] == '-' || p[len - 1] == '-')
            return "has a label starting or ending with '-'";
        if (!p[len])
            break;
        p += len + 1;
    }
    if (all_digits)
        return "looks like an IP address, not a DNS name";
    return NULL;
}

static int list_clear(struct ck_config *c)
{
    for (size_t i = 0; i < c->n_domains; i++)
        free(c->domains[i]);
    free(c->domains);
    c->domains = NULL;
    c->n_domains = 0;
    return 0;
}

/* AF_INET or AF_INET6 when v is an IP address (its bytes into ip), else 0. */
static int ip_family(const char *v, unsigned char ip[16])
{
    return inet_pton(AF_INET, v, ip) == 1 ? AF_INET : inet_pton(AF_INET6, v, ip) == 1 ? AF_INET6 : 0;
}

static int list_add(struct ck_config *c, const struct origin *o, const char *v, struct ck_err *e)
{
    if (c->n_domains >= CK_CONFIG_MAX_DOMAINS)
        return ck_failk(e, CK_E_USAGE, "%s: more than %d names", o->where, CK_CONFIG_MAX_DOMAINS);
    unsigned char ip[16];
    char canon[48];
    int af = ip_family(v, ip);
    /* An IP address (RFC 8738) in its one textual form, so that every comparison holds. */
    char *d = strdup(af && inet_ntop(af, ip, canon, sizeof canon) ? canon : v);
    if (!d)
        return ck_fail(e, "out of memory");
    const char *why = af ? NULL : check_domain(d);
    if (why) {
        free(d);
        return bad_value(e, o, v, why);
    }
    for (size_t i = 0; i < c->n_domains; i++)
        if (!strcmp(c->domains[i], d)) {
            free(d);
            return bad_value(e, o, v, "is listed twice");
        }
    char **grown = realloc(c->domains, (c->n_domains + 1) * sizeof *grown);
    if (!grown) {
        free(d);
        return ck_fail(e, "out of memory");
    }
    c->domains = grown;
    c->domains[c->n_domains++] = d;
    return 0;
}

static int is_defaulted_path(const struct key *k)
{
    return k->off == OFF(out_dir) || k->off == OFF(state_dir) || k->off == OFF(directory_url) ||
           k->off == OFF(http01_listen) || k->off == OFF(tlsalpn01_listen) ||
           k->off == OFF(s3.region);
}

/* key_types: "p256,rsa2048" (or one YAML item at a time, append set). */
static int keylist_add(struct ck_config *c, const struct origin *o, const char *v,
                       struct ck_err *e)
{
    struct ck_err ignored;
    enum ck_key_type t;
    if (ck_key_type_parse(v, &t, &ignored))
        return bad_value(e, o, v, "is not one of rsa2048|rsa3072|rsa4096|p256|p384");
    for (size_t i = 0; i < c->n_key_types; i++)
        if (c->key_types[i] == t)
            return bad_value(e, o, v, "is listed twice");
    if (c->n_key_types >= sizeof c->key_types / sizeof c->key_types[0])
        return usage(e, o, "too many key types");
    c->key_types[c->n_key_types++] = t;
    return 0;
}

static int keylist_set(struct ck_config *c, const struct origin *o, const char *v,
                       struct ck_err *e)
{
    char item[32];
    c->n_key_types = 0;
    for (const char *p = v;;) {
        size_t len = strcspn(p, ",");
        while (len && isspace((unsigned char)*p)) {
            p++;
            len--;
        }
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), p);
        for (size_t n = strlen(item); n && isspace((unsigned char)item[n - 1]);)
            item[--n] = '\0';
        if (keylist_add(c, o, item, e))
            return -1;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

/* Sets one scalar value (not a list) after checking it. */
static int set_value(struct ck_config *c, const struct key *k, const struct origin *o,
                     const char *v, struct ck_err *e)
{
    const char *why = NULL;
    int iv;
    if (strlen(v) > MAX_VALUE)
        return usage(e, o, "value longer than 4096 bytes");
    if (has_control(v))
        return usage(e, o, "value contains a control character");
    switch (k->type) {
    case T_BOOL:
        if (parse_bool(v, &iv))
            return bad_value(e, o, v, "is not true or false");
        return set_int(c, k, iv);
    case T_DURATION: {
        int64_t d;
        if (parse_duration(v, &d, &why))
            return bad_value(e, o, v, why);
        memcpy(field(c, k), &d, sizeof d);
        return 0;
    }
    case T_KEYTYPE: {
        struct ck_err ignored;
        enum ck_key_type t;
        if (ck_key_type_parse(v, &t, &ignored))
            return bad_value(e, o, v, "is not one of rsa2048|rsa3072|rsa4096|p256|p384");
        return set_int(c, k, (int)t);
    }
    case T_REASON:
        if (parse_reason(v, &iv))
            return bad_value(e, o, v, "is not an RFC 5280 reason: unspecified, keyCompromise, "
                             "cACompromise, affiliationChanged, superseded, cessationOfOperation, "
                             "certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise, "
                             "or its code 0-10 (not 7)");
        return set_int(c, k, iv);
    case T_ENUM: {
        if (parse_enum(v, k->names, &iv)) {
            char list[128] = "";
            for (size_t i = 0; k->names[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "|" : "",
                         k->names[i]);
            char why_buf[160];
            snprintf(why_buf, sizeof why_buf, "is not one of %s", list);
            return bad_value(e, o, v, why_buf);
        }
        if (k->off == OFF(tsig_alg))
            c->tsig_alg_set = 1;
        return set_int(c, k, iv);
    }
    case T_SIGNAL:
        if (parse_signal(v, &iv))
            return bad_value(e, o, v, "is not a signal (HUP, INT, QUIT, TERM, USR1, USR2, WINCH)");
        return set_int(c, k, iv);
    case T_INT: {
        char *end;
        errno = 0;
        long n = strtol(v, &end, 10);
        if (!isdigit((unsigned char)*v) || *end || errno || n < 1 || n > 64)
            return bad_value(e, o, v, "is not a number between 1 and 64");
        return set_int(c, k, (int)n);
    }
    case T_KEYLIST:
        return keylist_set(c, o, v, e);
    case T_LIST:
    case T_CERTS:
        return usage(e, o, "internal: list set as a value");
    default:
        break;
    }
    /* Strings: empty means "not set", except where a default must stay. */
    char **slot = field(c, k);
    if (!*v) {
        if (is_defaulted_path(k))
            return usage(e, o, "must not be empty");
        free(*slot);
        *slot = NULL;
        return 0;
    }
    if (k->off == OFF(directory_url))
        for (size_t i = 0; i < sizeof directory_presets / sizeof directory_presets[0]; i++)
            if (!strcmp(v, directory_presets[i].name))
                v = directory_presets[i].url;
    switch (k->type) {
    case T_URL: why = check_url(v); break;
    case T_LISTEN: why = check_listen(v); break;
    case T_EMAIL: why = check_email(v); break;
    case T_NAME: why = check_name(v); break;
    default: break;
    }
    if (why && k->type == T_URL) /* its userinfo or query may be a credential */
        return bad_value(e, o, ck_log_url(v, (char[512]){0}, 512), why);
    if (why)
        return bad_value(e, o, v, why);
    char *copy = strdup(v);
    if (!copy)
        return ck_fail(e, "out of memory");
    free(*slot);
    *slot = copy;
    if (k->off == OFF(http01_listen))
        c->http01_listen_set = 1; /* with a webroot too: listen, else the webroot */
    if (k->off == OFF(tlsalpn01_listen))
        c->tlsalpn01_listen_set = 1;
    return 0;
}

static const char *type_word(const struct key *k)
{
    switch (k->type) {
    case T_BOOL: return "expected true or false";
    case T_LIST: return "expected a list of names";
    case T_DURATION: return "expected a duration (90s, 10m, 1h, 2d)";
    case T_KEYTYPE: return "expected a key type";
    case T_ENUM: return "expected one word";
    case T_SIGNAL: return "expected a signal name";
    case T_INT: return "expected a number";
    case T_KEYLIST: return "expected a list of key types";
    case T_CERTS: return "expected a list of certificates";
    default: return "expected a string";
    }
}

static const struct key *key_by_path(const char *path)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].path && !strcmp(keys[i].path, path))
            return &keys[i];
    return NULL;
}

/* 1 when some key lives under "<path>.". */
static int is_section(const char *path)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].path && !strncmp(keys[i].path, path, n) && keys[i].path[n] == '.')
            return 1;
    return 0;
}

static const struct key *key_by_flag(const char *flag, size_t len)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].flag && strlen(keys[i].flag) == len && !strncmp(keys[i].flag, flag, len))
            return &keys[i];
    return NULL;
}

/* ---- YAML ---- */

struct yaml_ctx {
    struct ck_config *c;
    yaml_document_t *doc;
    const char *name;
    struct ck_err *e;
    unsigned char *set;  /* in a certificates: entry: which keys it sets; NULL at the top */
    char label[40];      /* "certificates[2]." in an entry */
};

/* A certificates: entry as parsed: its keys over a zeroed configuration. */
struct ck_config_entry {
    struct ck_config part;
    unsigned char set[64];
    unsigned long line;
};

static void yaml_origin(struct origin *o, const struct yaml_ctx *y, const yaml_node_t *n,
                        const char *path)
{
    snprintf(o->where, sizeof o->where, "%s:%lu: %s%s", y->name,
             (unsigned long)n->start_mark.line + 1, y->label, path);
}

static int yaml_fail(const struct yaml_ctx *y, const yaml_node_t *n, const char *path,
                     const char *why)
{
    struct origin o;
    yaml_origin(&o, y, n, path);
    return usage(y->e, &o, why);
}

static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *v = (const char *)n->data.scalar.value;
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* A scalar as a C string; NULL when it holds a NUL byte. */
static const char *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    return strlen(v) == n->data.scalar.length ? v : NULL;
}

static int yaml_map(struct yaml_ctx *y, yaml_node_t *map, const char *prefix);

/* A key an entry of certificates: may set. */
static int per_cert(const char *path)
{
    static const char *const names[] = {"domains", "cert_name", "key_type", "key_types", "out",
                                        "acme.profile", "acme.preferred_chain",
                                        "renewal.min_valid", "required"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(path, names[i]))
            return 1;
    return !strncmp(path, "challenge.", 10) || !strncmp(path, "reload.", 7);
}

static int yaml_certs(struct yaml_ctx *y, yaml_node_t *n)
{
    if (y->set || n->type != YAML_SEQUENCE_NODE)
        return yaml_fail(y, n, "certificates", y->set ? "not a per-certificate setting"
                                                      : "expected a list of certificates");
    struct ck_config *c = y->c;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *item = yaml_document_get_node(y->doc, *it);
        struct ck_config_entry *grown = realloc(c->entries, (c->n_entries + 1) * sizeof *grown);
        if (!grown)
            return ck_fail(y->e, "out of memory");
        c->entries = grown;
        struct ck_config_entry *en = &c->entries[c->n_entries++];
        memset(en, 0, sizeof *en);
        en->line = (unsigned long)item->start_mark.line + 1;
        struct yaml_ctx ey = *y;
        ey.c = &en->part;
        ey.set = en->set;
        snprintf(ey.label, sizeof ey.label, "certificates[%zu].", c->n_entries - 1);
        if (yaml_map(&ey, item, ""))
            return -1;
    }
    c->has_list = 1;
    return 0;
}

static int yaml_leaf(struct yaml_ctx *y, const struct key *k, yaml_node_t *n)
{
    struct origin o;
    if (k->type == T_CERTS)
        return yaml_certs(y, n);
    if (y->set && !per_cert(k->path))
        return yaml_fail(y, n, k->path, "not a per-certificate setting (set it at the top)");
    if (is_null(n))
        return 0;  /* "key:" with no value keeps the default */
    if (y->set)
        y->set[k - keys] = 1;
    if (k->type == T_KEYLIST && n->type == YAML_SEQUENCE_NODE) {
        y->c->n_key_types = 0;
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(y->doc, *it);
            yaml_origin(&o, y, item, k->path);
            if (item->type != YAML_SCALAR_NODE || !scalar(item))
                return usage(y->e, &o, "expected a key type");
            if (keylist_add(y->c, &o, scalar(item), y->e))
                return -1;
        }
        if (!y->c->n_key_types)
            return yaml_fail(y, n, k->path, "is an empty list");
        return 0;
    }
    if (k->type == T_LIST) {
        if (n->type != YAML_SEQUENCE_NODE)
            return yaml_fail(y, n, k->path, type_word(k));
        list_clear(y->c);
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             it < n->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(y->doc, *it);
            yaml_origin(&o, y, item, k->path);
            if (item->type != YAML_SCALAR_NODE || is_null(item))
                return usage(y->e, &o, "expected a name");
            const char *v = scalar(item);
            if (!v)
                return usage(y->e, &o, "value contains a NUL byte");
            if (list_add(y->c, &o, v, y->e))
                return -1;
        }
        return 0;
    }
    if (n->type != YAML_SCALAR_NODE)
        return yaml_fail(y, n, k->path, type_word(k));
    const char *v = scalar(n);
    if (!v)
        return yaml_fail(y, n, k->path, "value contains a NUL byte");
    yaml_origin(&o, y, n, k->path);
    return set_value(y->c, k, &o, v, y->e);
}

static int yaml_map(struct yaml_ctx *y, yaml_node_t *map, const char *prefix)
{
    if (map->type != YAML_MAPPING_NODE)
        return yaml_fail(y, map, prefix, "expected a map");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(y->doc, p->value);
        char path[128];
        if (kn->type != YAML_SCALAR_NODE || !scalar(kn))
            return yaml_fail(y, kn, prefix, "a key must be a plain word");
        const char *name = scalar(kn);
        int n = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        /* A dotted key would reach a nested setting past the duplicate check. */
        if (n < 0 || (size_t)n >= sizeof path || strchr(name, '.') ||
            (!key_by_path(path) && !is_section(path))) {
            char shown[200], esc[100];
            escape(esc, sizeof esc, name, 0);
            snprintf(shown, sizeof shown, "%s%s%s", prefix, *prefix ? "." : "", esc);
            return yaml_fail(y, kn, shown, "unknown key");
        }
        /* Only known keys get here, so this scan stays short. */
        for (yaml_node_pair_t *prev = map->data.mapping.pairs.start; prev < p; prev++) {
            yaml_node_t *pk = yaml_document_get_node(y->doc, prev->key);
            if (!strcmp((const char *)pk->data.scalar.value, name)) {
                char why[64];
                snprintf(why, sizeof why, "duplicate key (first on line %lu)",
                         (unsigned long)pk->start_mark.line + 1);
                return yaml_fail(y, kn, path, why);
            }
        }
        const struct key *k = key_by_path(path);
        int rc = k ? yaml_leaf(y, k, vn) : is_null(vn) ? 0 : yaml_map(y, vn, path);
        if (rc)
            return -1;
    }
    return 0;
}

int ck_config_parse_yaml(struct ck_config *c, const char *text, size_t len, const char *name,
                         struct ck_err *e)
{
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    int rc = -1, have_doc = 0;
    if (len > CK_CONFIG_MAX_FILE)
        return ck_failk(e, CK_E_USAGE, "%s: larger than %d bytes", name, CK_CONFIG_MAX_FILE);
    if (!yaml_parser_initialize(&parser))
        return ck_fail(e, "%s: out of memory", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc))
        goto parse_error;
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (!yaml_parser_load(&parser, &extra))
            goto parse_error;
        int more = yaml_document_get_root_node(&extra) != NULL;
        yaml_document_delete(&extra);
        if (more) {
            ck_failk(e, CK_E_USAGE, "%s: holds more than one YAML document", name);
            goto out;
        }
        struct yaml_ctx y = {c, &doc, name, e, NULL, ""};
        if (root->type != YAML_MAPPING_NODE) {
            ck_failk(e, CK_E_USAGE, "%s:%lu: expected a map of settings", name,
                     (unsigned long)root->start_mark.line + 1);
            goto out;
        }
        if (yaml_map(&y, root, ""))
            goto out;
    }
    rc = 0;
    goto out;
parse_error:
    ck_failk(e, CK_E_USAGE, "%s:%lu: invalid YAML: %s%s%s", name,
             (unsigned long)parser.problem_mark.line + 1,
             parser.problem ? parser.problem : "unknown error",
             parser.context ? " " : "", parser.context ? parser.context : "");
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* Through ck_fs_read: bounded, and a FIFO or a directory at the path is refused
 * with its name instead of hanging start-up. */
static int load_file(struct ck_config *c, const char *path, struct ck_err *e)
{
    char *buf = NULL;
    size_t n = 0;
    int rc = ck_fs_read(path, CK_CONFIG_MAX_FILE, &buf, &n, e);
    if (rc == 1)
        return ck_failk(e, CK_E_USAGE, "%s: %s", path, strerror(ENOENT));
    if (rc != 0) {
        e->kind = CK_E_USAGE;
        return ck_wrap(e, "config");
    }
    rc = ck_config_parse_yaml(c, buf, n, path, e);
    free(buf);
    return rc;
}

/* ---- environment ---- */

static const char *env_get(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], name, n) && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

static int env_known(const char *var, size_t len)
{
    static const char cfg[] = "CERTKEEP_CONFIG";
    if (len == sizeof cfg - 1 && !strncmp(var, cfg, len))
        return 1;
    for (size_t i = 0; i < N_KEYS; i++) {
        const char *names[2] = {keys[i].env, keys[i].alias};
        for (size_t j = 0; j < 2; j++)
            if (names[j] && strlen(names[j]) == len && !strncmp(names[j], var, len))
                return 1;
    }
    return 0;
}

/* "a.com, b.com" → the list; an empty item is an error. */
static int env_list(struct ck_config *c, const struct origin *o, const char *v, struct ck_err *e)
{
    char item[300];
    list_clear(c);
    for (const char *p = v;;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *end = p + len;
        while (s < end && isspace((unsigned char)*s))
            s++;
        while (end > s && isspace((unsigned char)end[-1]))
            end--;
        if (end == s)
            return usage(e, o, "empty name in the list");
        if ((size_t)(end - s) >= sizeof item)
            return usage(e, o, "a name longer than 253 characters");
        memcpy(item, s, (size_t)(end - s));
        item[end - s] = '\0';
        if (list_add(c, o, item, e))
            return -1;
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

static int load_env(struct ck_config *c, char *const envp[], struct ck_err *e)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *var = envp[i];
        size_t len = strcspn(var, "=");
        if (!strncmp(var, "CERTKEEP_", 9) && !env_known(var, len))
            return ck_failk(e, CK_E_USAGE, "%.*s: unknown variable", (int)(len > 100 ? 100 : len),
                            var);
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (!k->env)
            continue;
        const char *v = env_get(envp, k->env), *name = k->env;
        const char *va = k->alias ? env_get(envp, k->alias) : NULL;
        if (v && va && strcmp(v, va))
            return ck_failk(e, CK_E_USAGE, "%s and %s disagree; set one", k->env, k->alias);
        if (!v && va) {
            v = va;
            name = k->alias;
        }
        if (!v || !*v)
            continue;  /* empty is unset: compose files expand missing ${VAR} to "" */
        struct origin o;
        snprintf(o.where, sizeof o.where, "%s", name);
        int rc = k->type == T_LIST ? env_list(c, &o, v, e) : set_value(c, k, &o, v, e);
        if (rc)
            return -1;
    }
    return 0;
}

/* Standard AWS variables give better defaults for region and endpoint (the
 * credentials are lib/store's business: ck_s3_creds_load). */
static int load_aws_env(struct ck_config *c, char *const envp[], struct ck_err *e)
{
    const char *region = env_get(envp, "AWS_REGION");
    if (!region || !*region)
        region = env_get(envp, "AWS_DEFAULT_REGION");
    const char *endpoint = env_get(envp, "AWS_ENDPOINT_URL_S3");
    if (!endpoint || !*endpoint)
        endpoint = env_get(envp, "AWS_ENDPOINT_URL");
    struct origin o;
    if (region && *region) {
        snprintf(o.where, sizeof o.where, "AWS_REGION");
        if (set_value(c, key_by_path("store.s3.region"), &o, region, e))
            return -1;
    }
    if (endpoint && *endpoint) {
        snprintf(o.where, sizeof o.where, "AWS_ENDPOINT_URL");
        if (set_value(c, key_by_path("store.s3.endpoint"), &o, endpoint, e))
            return -1;
    }
    return 0;
}

/* ---- flags ---- */

struct flag_val {
    const struct key *k;
    const char *name;  /* as typed, up to '=' */
    size_t name_len;
    const char *v;
};

struct flags {
    struct flag_val *vals;
    size_t n;
    const char *config;
};

static int parse_flags(struct ck_config *c, int argc, char *const argv[], struct flags *f,
                       struct ck_err *e)
{
    int only_args = 0;
    f->vals = calloc((size_t)argc + 1, sizeof *f->vals);
    c->args = calloc((size_t)argc + 1, sizeof *c->args);
    if (!f->vals || !c->args)
        return ck_fail(e, "out of memory");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_args || a[0] != '-' || !a[1]) {
            c->args[c->n_args++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_args = 1;
            continue;
        }
        size_t len = strcspn(a, "=");
        const char *v = a[len] == '=' ? a + len + 1 : NULL;
        int is_config = len == 8 && !strncmp(a, "--config", 8);
        const struct key *k = is_config ? NULL : key_by_flag(a, len);
        if (!is_config && !k)
            return ck_failk(e, CK_E_USAGE, "unknown flag %.*s", (int)(len > 100 ? 100 : len), a);
        if (k && k->type == T_BOOL && !k->arg) {
            if (!v)
                v = "true";
        } else if (!v) {
            if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2))
                return ck_failk(e, CK_E_USAGE, "%.*s needs a value", (int)len, a);
            v = argv[++i];
        }
        if (is_config) {
            if (!*v)
                return ck_failk(e, CK_E_USAGE, "--config needs a value");
            f->config = v;
            continue;
        }
        f->vals[f->n++] = (struct flag_val){k, a, len, v};
    }
    return 0;
}

static int apply_flags(struct ck_config *c, const struct flags *f, struct ck_err *e)
{
    int list_seen = 0;
    for (size_t i = 0; i < f->n; i++) {
        const struct flag_val *fv = &f->vals[i];
        struct origin o;
        snprintf(o.where, sizeof o.where, "%.*s", (int)fv->name_len, fv->name);
        if (fv->k->type == T_LIST) {
            if (!list_seen++)
                list_clear(c);  /* flags replace the file's list; repeats add */
            if (list_add(c, &o, fv->v, e))
                return -1;
        } else if (set_value(c, fv->k, &o, fv->v, e)) {
            return -1;
        }
    }
    return 0;
}

/* ---- the whole ---- */

static int set_default(char **slot, const char *v, struct ck_err *e)
{
    if (!(*slot = strdup(v)))
        return ck_fail(e, "out of memory");
    return 0;
}

int ck_config_init(struct ck_config *c, struct ck_err *e)
{
    memset(c, 0, sizeof *c);
    c->key_type = CK_KEY_P256;
    c->account_key_type = CK_KEY_P256;
    c->challenge = CK_CHALLENGE_HTTP01;
    c->tsig_alg = CK_TSIG_HMAC_SHA256;
    c->store_required = 1;
    c->min_valid = 3600;
    c->dns_propagation_timeout = 120;
    c->reload_signal = SIGHUP;
    c->log_level = CK_LOG_INFO;
    c->revoke_reason = -1;
    c->required = 1;
    c->max_orders = 4;
    c->time_scale = 1;
    c->entry = -1;
    if (set_default(&c->out_dir, "/certs", e) || set_default(&c->state_dir, "/var/lib/certkeep", e) ||
        set_default(&c->directory_url, DEFAULT_DIRECTORY, e) ||
        set_default(&c->http01_listen, ":80", e) || set_default(&c->tlsalpn01_listen, ":443", e) ||
        set_default(&c->s3.region, "us-east-1", e)) {
        ck_config_free(c);
        return -1;
    }
    return 0;
}

/* First domain as a file name: "*.example.com" → "_.example.com". */
static int default_cert_name(struct ck_config *c, struct ck_err *e)
{
    if (c->cert_name || !c->n_domains)
        return 0;
    if (!(c->cert_name = strdup(c->domains[0])))
        return ck_fail(e, "out of memory");
    if (c->cert_name[0] == '*')
        c->cert_name[0] = '_';
    for (char *p = c->cert_name; *p; p++)
        if (*p == ':')
            *p = '_';  /* an IPv6 address: "::1" → "__1" */
    return 0;
}

/* ---- several certificates ---- */

static int is_string(const struct key *k)
{
    return k->type <= T_NAME;
}

/* d's value of key k becomes s's (strings copied). */
static int copy_key(struct ck_config *d, const struct ck_config *s, const struct key *k,
                    struct ck_err *e)
{
    if (is_string(k)) {
        char **ds = field(d, k);
        char *const *ss = (char *const *)((const char *)s + k->off);
        free(*ds);
        *ds = NULL;
        if (*ss && !(*ds = strdup(*ss)))
            return ck_fail(e, "out of memory");
        return 0;
    }
    switch (k->type) {
    case T_LIST:
        list_clear(d);
        for (size_t i = 0; i < s->n_domains; i++) {
            char *n = strdup(s->domains[i]);
            char **grown = n ? realloc(d->domains, (d->n_domains + 1) * sizeof *grown) : NULL;
            if (!grown) {
                free(n);
                return ck_fail(e, "out of memory");
            }
            d->domains = grown;
            d->domains[d->n_domains++] = n;
        }
        return 0;
    case T_KEYLIST:
        memcpy(d->key_types, s->key_types, sizeof d->key_types);
        d->n_key_types = s->n_key_types;
        return 0;
    case T_DURATION:
        memcpy(field(d, k), (const char *)s + k->off, sizeof(int64_t));
        return 0;
    case T_CERTS:
        return 0;
    default:
        memcpy(field(d, k), (const char *)s + k->off, sizeof(int));
        return 0;
    }
}

/* A whole copy of s, without its list and borrowed arguments. */
static int copy_config(struct ck_config *d, const struct ck_config *s, struct ck_err *e)
{
    *d = *s;
    d->domains = NULL;
    d->n_domains = 0;
    d->config_file = d->account_name = NULL;
    d->args = NULL;
    d->n_args = 0;
    d->certs = NULL;
    d->n_certs = 0;
    d->entries = NULL;
    d->n_entries = 0;
    for (size_t i = 0; i < N_KEYS; i++)
        if (is_string(&keys[i]))
            *(char **)field(d, &keys[i]) = NULL;
    for (size_t i = 0; i < N_KEYS; i++)
        if ((is_string(&keys[i]) || keys[i].type == T_LIST) && copy_key(d, s, &keys[i], e)) {
            ck_config_free(d);
            return -1;
        }
    if (s->config_file && !(d->config_file = strdup(s->config_file))) {
        ck_config_free(d);
        return ck_fail(e, "out of memory");
    }
    return 0;
}

static int in_section(const struct key *k, const char *sec)
{
    return k->path && !strncmp(k->path, sec, strlen(sec));
}

/* An entry's keys over d (a copy of the top level); a challenge or reload section
 * in the entry replaces the top-level one rather than mixing with it. */
static int overlay(struct ck_config *d, const struct ck_config_entry *en,
                   const struct ck_config *def, struct ck_err *e)
{
    static const char *const sections[] = {"challenge.", "reload."};
    for (size_t s = 0; s < 2; s++) {
        int touched = 0;
        for (size_t i = 0; i < N_KEYS; i++)
            touched |= en->set[i] && in_section(&keys[i], sections[s]);
        for (size_t i = 0; touched && i < N_KEYS; i++)
            if (in_section(&keys[i], sections[s]) && copy_key(d, def, &keys[i], e))
                return -1;
        if (touched && s == 0)
            d->http01_listen_set = d->tlsalpn01_listen_set = d->tsig_alg_set = 0;
    }
    for (size_t i = 0; i < N_KEYS; i++)
        if (en->set[i] && copy_key(d, &en->part, &keys[i], e))
            return -1;
    const struct key *kt = key_by_path("key_type"), *kts = key_by_path("key_types");
    if (en->set[kt - keys] && !en->set[kts - keys])
        d->n_key_types = 0;  /* the entry's one type over the top level's list */
    d->http01_listen_set |= en->part.http01_listen_set;
    d->tlsalpn01_listen_set |= en->part.tlsalpn01_listen_set;
    d->tsig_alg_set |= en->part.tsig_alg_set;
    return 0;
}

static int entry_fail(const struct ck_config *c, int entry, struct ck_err *e, const char *fmt,
                      const char *a, const char *b)
{
    char what[300];
    snprintf(what, sizeof what, fmt, a, b);
    if (entry < 0)
        return ck_failk(e, CK_E_USAGE, "%s", what);
    return ck_failk(e, CK_E_USAGE, "%s:%lu: certificates[%d]: %s", c->config_file,
                    c->entries[entry].line, entry, what);
}

/* One certificate per key type of base, appended to c->certs. */
static int expand(struct ck_config *c, struct ck_config *base, int entry, struct ck_err *e)
{
    if (!base->n_domains)
        return entry_fail(c, entry, e, "no domains%s%s", "", "");
    if (default_cert_name(base, e))
        return -1;
    size_t nt = base->n_key_types ? base->n_key_types : 1;
    for (size_t t = 0; t < nt; t++) {
        struct ck_config *grown = realloc(c->certs, (c->n_certs + 1) * sizeof *grown);
        if (!grown)
            return ck_fail(e, "out of memory");
        c->certs = grown;
        struct ck_config *d = &c->certs[c->n_certs];
        if (copy_config(d, base, e))
            return -1;
        c->n_certs++;
        d->entry = entry;
        d->has_list = 0;
        if (base->n_key_types)
            d->key_type = base->key_types[t];
        d->n_key_types = 0;
        if (t > 0) {
            char name[128];
            snprintf(name, sizeof name, "%s.%s", base->cert_name, ck_key_type_name(d->key_type));
            if (check_name(name))
                return entry_fail(c, entry, e, "cert_name \"%s\" with its key type: %s",
                                  base->cert_name, check_name(name));
            free(d->cert_name);
            if (!(d->cert_name = strdup(name)))
                return ck_fail(e, "out of memory");
        }
        if (c->account_per_cert && !(d->account_name = strdup(d->cert_name)))
            return ck_fail(e, "out of memory");
    }
    return 0;
}

/* Whether the directory dir falls inside <out>/<name> of a. */
static int inside(const struct ck_config *a, const char *dir)
{
    size_t n = strlen(a->out_dir), m = strlen(a->cert_name);
    if (strncmp(dir, a->out_dir, n) || dir[n] != '/')
        return 0;
    while (dir[n] == '/')
        n++;
    return !strncmp(dir + n, a->cert_name, m) && (dir[n + m] == '\0' || dir[n + m] == '/');
}

/* Another certificate's files inside a's directory (a fleet has few out dirs: each
 * certificate is checked against each distinct one, not against every other). */
static int collide(struct ck_config *c, struct ck_err *e)
{
    const struct ck_config **first = calloc(c->n_certs, sizeof *first);
    size_t nd = 0;
    int rc = 0;
    if (!first)
        return ck_fail(e, "out of memory");
    for (size_t i = 0; i < c->n_certs; i++) {
        size_t d = 0;
        while (d < nd && strcmp(first[d]->out_dir, c->certs[i].out_dir))
            d++;
        if (d == nd)
            first[nd++] = &c->certs[i];  /* the first certificate with that out dir */
    }
    for (size_t i = 0; rc == 0 && i < c->n_certs; i++)
        for (size_t d = 0; rc == 0 && d < nd; d++)
            if (inside(&c->certs[i], first[d]->out_dir))
                rc = entry_fail(c, first[d]->entry, e, "out %s collides with the files of \"%s\"",
                                first[d]->out_dir, c->certs[i].cert_name);
    free(first);
    return rc;
}

static int build_certs(struct ck_config *c, struct ck_err *e)
{
    if (!c->has_list) {
        if (!c->n_domains)
            return 0;
        struct ck_config base;
        if (copy_config(&base, c, e))
            return -1;
        int rc = expand(c, &base, -1, e);
        ck_config_free(&base);
        if (rc == 0 && c->account_per_cert && !(c->account_name = strdup(c->cert_name)))
            return ck_fail(e, "out of memory");
        return rc;
    }
    if (c->n_domains || c->cert_name)
        return ck_failk(e, CK_E_USAGE, "%s: top-level %s with certificates: set the names in "
                        "each entry", c->config_file, c->n_domains ? "domains" : "cert_name");
    if (!c->n_entries)
        return ck_failk(e, CK_E_USAGE, "%s: certificates: is an empty list", c->config_file);
    struct ck_config def;
    if (ck_config_init(&def, e))
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->n_entries; i++) {
        struct ck_config base;
        const struct ck_config_entry *en = &c->entries[i];
        if (en->set[key_by_path("key_type") - keys] && en->set[key_by_path("key_types") - keys]) {
            rc = entry_fail(c, (int)i, e, "key_type and key_types: set one%s%s", "", "");
            break;
        }
        if (copy_config(&base, c, e))
            rc = -1;
        else if (overlay(&base, en, &def, e) || expand(c, &base, (int)i, e))
            rc = -1;
        ck_config_free(&base);
    }
    ck_config_free(&def);
    for (size_t i = 0; rc == 0 && i < c->n_certs; i++)
        for (size_t j = 0; rc == 0 && j < i; j++) {
            const struct ck_config *a = &c->certs[j], *b = &c->certs[i];
            char other[16];
            if (!strcmp(a->cert_name, b->cert_name) &&
                snprintf(other, sizeof other, "%d", a->entry) > 0)
                rc = entry_fail(c, b->entry, e, "cert_name \"%s\" is also certificates[%s]'s "
                                "(each certificate needs its own name)", b->cert_name, other);
        }
    return rc ? rc : collide(c, e);
}

const struct ck_config *ck_config_pick(const struct ck_config *c, struct ck_err *e)
{
    if (!c->certs)
        return c;
    for (size_t i = 0; c->cert_pick && i < c->n_certs; i++)
        if (!strcmp(c->certs[i].cert_name, c->cert_pick))
            return &c->certs[i];
    if (!c->cert_pick && c->n_certs == 1)
        return &c->certs[0];
    char names[300] = "";
    for (size_t i = 0; i < c->n_certs && strlen(names) < 200; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 c->certs[i].cert_name);
    if (c->cert_pick)
        ck_failk(e, CK_E_USAGE, "--cert %s: no such certificate (%s)", c->cert_pick, names);
    else
        ck_failk(e, CK_E_USAGE, "%zu certificates: name one with --cert (%s)", c->n_certs, names);
    return NULL;
}

int ck_config_load(struct ck_config *c, int argc, char *const argv[], char *const envp[],
                   struct ck_err *e)
{
    struct flags f = {0};
    if (ck_config_init(c, e))
        return -1;
    int rc = -1;
    if (parse_flags(c, argc, argv, &f, e) || load_aws_env(c, envp, e))
        goto out;
    const char *file = f.config ? f.config : env_get(envp, "CERTKEEP_CONFIG");
    if (file && *file) {
        if (!(c->config_file = strdup(file))) {
            ck_fail(e, "out of memory");
            goto out;
        }
        if (load_file(c, file, e))
            goto out;
    }
    if (load_env(c, envp, e) || apply_flags(c, &f, e) || default_cert_name(c, e) ||
        build_certs(c, e))
        goto out;
    rc = 0;
out:
    free(f.vals);
    if (rc)
        ck_config_free(c);
    return rc;
}

/* Settings of the other challenge type would be ignored: refused instead. */
static int check_challenge(const struct ck_config *c, struct ck_err *e)
{
    const char *dns_set = c->dns_hook ? "challenge.dns_hook"
                        : c->rfc2136_server ? "challenge.rfc2136.server"
                        : c->tsig_key ? "challenge.rfc2136.tsig_key"
                        : c->tsig_secret_file ? "challenge.rfc2136.tsig_secret_file"
                        : c->tsig_alg_set ? "challenge.rfc2136.tsig_alg"
                        : c->rfc2136_zone ? "challenge.rfc2136.zone"
                        : c->dns_resolver ? "challenge.dns_resolver" : NULL;
    const char *type = c->challenge == CK_CHALLENGE_HTTP01 ? "http-01"
                     : c->challenge == CK_CHALLENGE_DNS01 ? "dns-01" : "tls-alpn-01";
    if (c->challenge != CK_CHALLENGE_TLSALPN01 && c->tlsalpn01_listen_set)
        return ck_failk(e, CK_E_USAGE, "challenge.tlsalpn01_listen is a tls-alpn-01 setting, "
                                       "with challenge.type %s", type);
    if (c->challenge != CK_CHALLENGE_DNS01) {
        for (size_t i = 0; i < c->n_domains; i++)
            if (c->domains[i][0] == '*')
                return ck_failk(e, CK_E_USAGE, "%s: a wildcard name needs challenge.type dns-01",
                                c->domains[i]);
        if (dns_set)
            return ck_failk(e, CK_E_USAGE, "%s is a dns-01 setting; set challenge.type dns-01 "
                                           "(--challenge dns-01) or remove it", dns_set);
    }
    if (c->challenge == CK_CHALLENGE_HTTP01) {
        if (c->http01_store && (c->http01_listen_set || c->webroot))
            return ck_failk(e, CK_E_USAGE, "%s has no use with challenge.http01_store (certkeep "
                            "serve answers)", c->webroot ? "challenge.webroot"
                                                         : "challenge.http01_listen");
        if (c->http01_store && !c->store_dir && !c->s3.bucket)
            return ck_failk(e, CK_E_USAGE, "challenge.http01_store needs a store (store.dir or "
                                           "store.s3.bucket)");
        return 0;
    }
    if (c->http01_listen_set || c->webroot || c->http01_store)
        return ck_failk(e, CK_E_USAGE, "%s is an http-01 setting, with challenge.type %s",
                        c->webroot ? "challenge.webroot" : c->http01_store
                        ? "challenge.http01_store" : "challenge.http01_listen", type);
    for (size_t i = 0; i < c->n_domains; i++) {
        unsigned char ip[16];
        if (ip_family(c->domains[i], ip))
            return ck_failk(e, CK_E_USAGE, "%s: an IP address is validated by http-01, not %s%s",
                            c->domains[i], type, c->challenge == CK_CHALLENGE_DNS01
                            ? " (RFC 8738)" : " (its reverse name is not built here)");
    }
    if (c->challenge == CK_CHALLENGE_TLSALPN01)
        return 0;
    if (!c->dns_hook == !c->rfc2136_server)
        return ck_failk(e, CK_E_USAGE, "dns-01 needs one of challenge.rfc2136.server "
                                       "(--rfc2136-server) and challenge.dns_hook (--dns-hook)");
    if (c->rfc2136_server && (!c->tsig_key || !c->tsig_secret_file))
        return ck_failk(e, CK_E_USAGE, "challenge.rfc2136 needs tsig_key and tsig_secret_file "
                                       "(unsigned updates are not sent)");
    if (c->dns_hook && (c->tsig_key || c->tsig_secret_file || c->tsig_alg_set || c->rfc2136_zone))
        return ck_failk(e, CK_E_USAGE, "challenge.rfc2136.* settings have no use with "
                                       "challenge.dns_hook");
    if (c->dns_propagation_timeout < 1 || c->dns_propagation_timeout > 3600)
        return ck_failk(e, CK_E_USAGE, "challenge.dns_propagation_timeout: between 1s and 1h");
    return 0;
}

/* The host of an http:// URL (userinfo dropped, brackets kept), NULL for any other. */
static const char *http_host(const char *url, char *out, size_t cap)
{
    if (strncasecmp(url, "http://", 7))
        return NULL;
    const char *a = url + 7, *end = a + strcspn(a, "/?#"), *at;
    while ((at = memchr(a, '@', (size_t)(end - a))))
        a = at + 1;
    const char *h_end = *a == '[' ? memchr(a, ']', (size_t)(end - a)) : NULL;
    h_end = h_end ? h_end + 1 : a + strcspn(a, ":/?#");
    if (h_end > end)
        h_end = end;
    snprintf(out, cap, "%.*s", (int)(h_end - a), a);
    return out;
}

int ck_config_s3_cleartext(const struct ck_config *c)
{
    char host[300];
    unsigned char ip[16];
    if (!c->s3.bucket || !c->s3.endpoint || !http_host(c->s3.endpoint, host, sizeof host))
        return 0;
    if (!strcasecmp(host, "localhost") || !strcmp(host, "[::1]"))
        return 0;
    return !(inet_pton(AF_INET, host, ip) == 1 && ip[0] == 127);
}

int ck_config_validate_for(const struct ck_config *c, const char *command, struct ck_err *e)
{
    char host[300];
    if (ck_config_s3_cleartext(c) && !c->s3.allow_http)
        return ck_failk(e, CK_E_USAGE, "store.s3.endpoint: http:// to %.64s (not loopback) sends "
                        "keys and credentials in the clear; use https, or set store.s3.allow_http",
                        http_host(c->s3.endpoint, host, sizeof host));
    int issues = !strcmp(command, "issue") || !strcmp(command, "init") ||
                 !strcmp(command, "run") || !strcmp(command, "renew");
    if (issues && c->certs && (c->has_list || c->n_certs > 1)) {
        for (size_t i = 0; i < c->n_certs; i++)
            if (ck_config_validate_for(&c->certs[i], command, e))
                return ck_wrap(e, "certificate %s", c->certs[i].cert_name);
        return 0;
    }
    if (issues && !c->n_domains)
        return ck_failk(e, CK_E_USAGE,
                        "no domain: set --domain, CERTKEEP_DOMAINS or domains: in the file");
    if (!strcmp(command, "revoke") && !c->cert_name)
        return ck_failk(e, CK_E_USAGE, "no certificate named: set --cert-name or --domain");
    if (strcmp(command, "revoke") && c->revoke_reason >= 0)
        return ck_failk(e, CK_E_USAGE, "--reason: only revoke takes a reason");
    if (strcmp(command, "account deactivate") && c->yes)
        return ck_failk(e, CK_E_USAGE, "--yes: only account deactivate takes it");
    if (c->store_old_key_file && !c->store_key_file)
        return ck_failk(e, CK_E_USAGE, "store.encryption_old_key_file is set without "
                                       "store.encryption_key_file");
    if (c->store_key_file && !c->store_dir && !c->s3.bucket)
        return ck_failk(e, CK_E_USAGE, "store.encryption_key_file is set without a store");
    if (!c->eab_kid != !c->eab_key_file)
        return ck_failk(e, CK_E_USAGE, "%s is set without %s", c->eab_kid ? "acme.eab.kid" :
                        "acme.eab.hmac_key_file", c->eab_kid ? "acme.eab.hmac_key_file" : "acme.eab.kid");
    int serve = !strcmp(command, "serve");
    if (!issues && !serve)
        return 0;
    if (serve && (c->challenge != CK_CHALLENGE_HTTP01 || c->webroot || c->listen))
        return ck_failk(e, CK_E_USAGE, "serve answers http-01 on challenge.http01_listen alone: "
                        "%s has no use there", c->webroot ? "challenge.webroot"
                        : c->listen ? "listen (probe the http-01 port)" : "challenge.type dns-01");
    if (serve && !c->store_dir && !c->s3.bucket)
        return ck_failk(e, CK_E_USAGE, "serve answers from the store: set store.dir or "
                                       "store.s3.bucket");
    if (!serve && check_challenge(c, e) != 0)
        return -1;
    if ((c->s3.endpoint || c->s3.prefix || c->s3.path_style) && !c->s3.bucket)
        return ck_failk(e, CK_E_USAGE, "store.s3.bucket is not set");
    if (c->s3.bucket && c->store_dir)
        return ck_failk(e, CK_E_USAGE, "store.dir and store.s3 are both set; choose one");
    return 0;
}

void ck_config_print_flags(FILE *out)
{
    fprintf(out, "  %-28s %s\n", "--config FILE", "YAML configuration file");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (!k->flag)
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", k->flag, k->arg ? " " : "", k->arg ? k->arg : "");
        fprintf(out, "  %-28s %s\n", left, k->help ? k->help : "");
    }
}

void ck_config_free(struct ck_config *c)
{
    for (size_t i = 0; i < c->n_certs; i++)
        ck_config_free(&c->certs[i]);
    free(c->certs);
    for (size_t i = 0; i < c->n_entries; i++)
        ck_config_free(&c->entries[i].part);
    free(c->entries);
    free(c->account_name);
    list_clear(c);
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (k->type <= T_NAME) {
            char **slot = field(c, k);
            free(*slot);
            *slot = NULL;
        }
    }
    free(c->config_file);
    free(c->args);
    memset(c, 0, sizeof *c);
}
