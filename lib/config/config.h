/* Configuration: one YAML file, CERTKEEP_* environment variables and flags.
 * Precedence: flag > environment > file > default. Every key, its variable and
 * its flag come from one table in config.c (which documents them). Errors name
 * the source: "certkeep.yaml:7: store.s3.bucket: expected a string",
 * "CERTKEEP_S3_PATH_STYLE: ...", "--key-type: ...", all with kind CK_E_USAGE. */
#ifndef CK_CONFIG_H
#define CK_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../crypto/crypto.h"
#include "../err/err.h"
#include "../log/log.h"

#define CK_CONFIG_MAX_DOMAINS 100
#define CK_CONFIG_MAX_FILE (64 * 1024)

enum ck_challenge_type { CK_CHALLENGE_HTTP01, CK_CHALLENGE_DNS01, CK_CHALLENGE_TLSALPN01 };
enum ck_tsig_alg { CK_TSIG_HMAC_SHA256, CK_TSIG_HMAC_SHA384, CK_TSIG_HMAC_SHA512 };

/* Every string is malloc'd or NULL ("not set"); ck_config_free releases them. */
struct ck_config {
    char *config_file;               /* the file read, NULL when none */
    char **domains;                  /* lower case, checked, no duplicates */
    size_t n_domains;
    char *cert_name;                 /* default: first domain */
    char *email;
    int agree_tos;
    char *out_dir;                   /* default /certs */
    char *state_dir;                 /* default /var/lib/certkeep */
    char *directory_url;             /* default Let's Encrypt production */
    char *ca_bundle;
    char *profile;
    char *eab_kid;                   /* external account binding: key id ... */
    char *eab_key_file;              /* ... and the file with its base64url MAC key */
    char *preferred_chain;
    enum ck_key_type key_type;       /* default p256 */
    enum ck_key_type account_key_type;
    enum ck_challenge_type challenge;
    char *http01_listen;             /* default ":80" */
    int http01_listen_set;           /* 1: configured, not the default */
    char *webroot;                   /* alone: token files; with http01_listen set: its fallback */
    int http01_store;                /* key authorizations in the store, for `certkeep serve` */
    char *tlsalpn01_listen;          /* default ":443" */
    int tlsalpn01_listen_set;
    char *rfc2136_server;            /* dns-01 by RFC 2136 update: "host[:port]" */
    char *tsig_key;
    enum ck_tsig_alg tsig_alg;
    int tsig_alg_set;
    char *tsig_secret_file;
    char *rfc2136_zone;              /* NULL: found by SOA lookup */
    char *dns_resolver;              /* zone, NS and CNAME lookups: "host[:port]" */
    int dns_propagation;             /* 0: every NS of the zone, 1: the server only */
    int64_t dns_propagation_timeout; /* seconds; default 120 */
    char *dns_hook;                  /* dns-01 by exec: hook present|cleanup domain value */
    char *store_dir;                 /* local directory store */
    /* 32 bytes (raw or 64 hex digits) sealing every private key in the store;
     * the old key is only read (rotation) */
    char *store_key_file, *store_old_key_file;
    struct {
        char *endpoint, *bucket, *prefix, *region;  /* region default us-east-1 */
        int path_style;
        int allow_http;              /* an http:// endpoint off loopback (warned) */
        /* Credentials come from these files, else from AWS_ACCESS_KEY_ID,
         * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (ck_s3_creds_load in lib/store). */
        char *access_key_file, *secret_key_file, *session_token_file;
    } s3;
    int store_required;              /* default 1: no store, no start */
    int64_t min_valid;               /* seconds; default 3600 */
    int reload_signal;               /* default SIGHUP */
    char *reload_process, *reload_pidfile, *reload_command, *reload_url;
    char *webhook_url;
    char *listen;                    /* health and metrics; NULL: off */
    int log_json;
    enum ck_log_level log_level;     /* default info */
    int no_seccomp;                  /* run without its seccomp allow-list */
    int no_ocsp;                     /* no ocsp.der, even when the certificate names a responder */
    int force;                       /* --force (renew), flag only */
    int now;                         /* --now (renew): signal the running `run`, flag only */
    int revoke_reason;               /* --reason (revoke), flag only: RFC 5280 code; -1: none given */
    int yes;                         /* --yes (account deactivate), flag only */
    const char **args;               /* non-flag arguments, borrowed from argv */
    size_t n_args;
    /* Several certificates: `certificates:` entries (each a map of per-certificate keys:
     * domains, cert_name, key_type, key_types, out, acme.profile, acme.preferred_chain,
     * challenge.*, renewal.min_valid, reload.*, required) over the top-level keys as
     * defaults (a challenge or reload section in an entry replaces the top-level one), and
     * key_types (one certificate per type: the first named cert_name, the others
     * "<cert_name>.<type>"). certs: each a whole configuration (n_certs 0, certs NULL);
     * the shorthand (top-level domains) is certs[0]. */
    struct ck_config *certs;
    size_t n_certs;
    int has_list;                    /* certificates: was given */
    int entry;                       /* in certs[]: its entry's index (-1: the shorthand) */
    int required;                    /* init and /readyz wait for it; default 1 */
    int account_per_cert;            /* account: per-certificate (default shared) */
    char *account_name;              /* per-certificate: the account's own name, NULL: shared */
    int max_orders;                  /* run: jobs (orders) at once; default 4 */
    int time_scale;                  /* tests: the keeper's waits divided by this; default 1 */
    enum ck_key_type key_types[8];
    size_t n_key_types;              /* 0: key_type alone */
    char *cert_pick;                 /* --cert NAME: the certificate a command acts on */
    /* Not a setting: the process's signal flags and trust anchors (lib/keeper), set by
     * cmd/ after loading (ck_keeper_attach); never freed here. */
    struct ck_keeper_proc *proc;
    struct ck_config_entry *entries; /* parsed entries, before the merge */
    size_t n_entries;
};

/* Defaults only (fails only when out of memory). */
int ck_config_init(struct ck_config *c, struct ck_err *e);

/* Fills c (ck_config_init first, done here) from argv (what follows the command
 * word; flags anywhere, "--" ends them, the rest goes to c->args), envp and the
 * file named by --config or CERTKEEP_CONFIG. On error c is freed and zeroed. */
int ck_config_load(struct ck_config *c, int argc, char *const argv[], char *const envp[],
                   struct ck_err *e);

/* Applies YAML text over c; `name` is used in messages. Exposed for tests and fuzzing. */
int ck_config_parse_yaml(struct ck_config *c, const char *text, size_t len, const char *name,
                         struct ck_err *e);

/* 1 when the S3 store is reached over http:// on a host other than loopback
 * (refused by ck_config_validate_for unless s3.allow_http; then the caller warns). */
int ck_config_s3_cleartext(const struct ck_config *c);
/* Per-command requirements ("issue", "init", "run", "renew", "status", "revoke", "serve"). */
int ck_config_validate_for(const struct ck_config *c, const char *command, struct ck_err *e);

/* The certificate a one-certificate command acts on: --cert NAME (its cert_name), else
 * the only one; a usage error naming the choices when there are several. NULL c->certs
 * (no domains anywhere): c itself. */
const struct ck_config *ck_config_pick(const struct ck_config *c, struct ck_err *e);

/* "--domain NAME   ..." lines for usage text. */
void ck_config_print_flags(FILE *out);

void ck_config_free(struct ck_config *c);

#endif
