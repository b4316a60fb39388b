/* certkeep status: what is held on the volume and in the store, usable or why
 * not, the next renewal window and the last failure. Exit 0 when the volume is
 * usable. */
#include <stdio.h>
#include <string.h>

#include "../../lib/renewal/renewal.h"
#include "../../lib/store/store.h"
#include "cmd.h"

/* "a, b, c" from the leaf's subjectAltName. */
static void leaf_names(const struct ck_bundle *b, char *out, size_t cap)
{
    struct ck_der_list l = {0};
    struct ck_cert_info ci;
    struct ck_err e;
    snprintf(out, cap, "?");
    if (ck_pem_certs(b->fullchain, b->fullchain_len, "fullchain.pem", &l, &e) || l.n == 0 ||
        ck_cert_parse(l.items[0].data, l.items[0].len, &ci, &e)) {
        ck_der_list_free(&l);
        return;
    }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ci.n_dns_names && used + 1 < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", ci.dns_names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    ck_cert_info_free(&ci);
    ck_der_list_free(&l);
}

/* Prints one source; returns 1 when usable. */
static int show(FILE *out, const struct ck_config *c, const char *where, const struct ck_bundle *b)
{
    struct ck_cert_want w = ck_cmd_want(c);
    struct ck_cert_summary sum;
    struct ck_err e;
    char names[1024], nb[32], na[32], ws[32], we[32];
    ck_err_clear(&e);
    memset(&sum, 0, sizeof sum);
    int usable = ck_cert_check(where, b->fullchain, b->fullchain_len, b->privkey,
                               b->privkey_len, &w, &sum, &e) == 0 &&
                 ck_bundle_consistent(b, where, &e) == 0;
    if (sum.not_after) {
        leaf_names(b, names, sizeof names);
        ck_time_format(sum.not_before, nb);
        ck_time_format(sum.not_after, na);
        const char *kt = ck_key_type_name(sum.key_type);
        fprintf(out, "  names:     %s\n  serial:    %s\n  issuer:    %s\n  valid:     %s .. %s\n"
                     "  key:       %s\n", names, sum.serial_hex, sum.issuer_cn[0] ? sum.issuer_cn : "?",
                nb, na, kt ? kt : "unsupported");
        struct ck_window win = ck_renewal_window(sum.not_before, sum.not_after);
        ck_time_format(win.start, ws);
        ck_time_format(win.end, we);
        fprintf(out, "  renewal:   between %s and %s\n", ws, we);
    }
    if (usable)
        fprintf(out, "  usable:    yes\n");
    else
        fprintf(out, "  usable:    no: %s\n", e.msg);
    return usable;
}

static int show_volume(FILE *out, const struct ck_config *c)
{
    struct ck_bundle b;
    struct ck_err e;
    ck_err_clear(&e);
    fprintf(out, "volume %s/%s\n", c->out_dir, c->cert_name);
    int rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &b, &e);
    if (rc == CK_BUNDLE_ABSENT) {
        fprintf(out, "  usable:    no: volume: nothing there\n");
        return 0;
    }
    if (rc) {
        fprintf(out, "  usable:    no: %s\n", e.msg);
        return 0;
    }
    int usable = show(out, c, "volume", &b);
    ck_bundle_free(&b);
    return usable;
}

static void show_store(FILE *out, const struct ck_config *c, struct ck_store *st)
{
    struct ck_bundle b;
    struct ck_bundle_state s;
    struct ck_err e;
    char when[32];
    ck_err_clear(&e);
    fprintf(out, "store %s\n", ck_store_name(st));
    int rc = ck_bundle_store_get(st, c->cert_name, &b, NULL, &e);
    if (rc < 0) {
        fprintf(out, "  unreachable: %s\n", e.msg);
        return;
    }
    if (rc == CK_BUNDLE_ABSENT)
        fprintf(out, "  usable:    no: store: nothing there\n");
    else if (rc)
        fprintf(out, "  usable:    no: %s\n", e.msg);
    else
        show(out, c, "store", &b);
    ck_bundle_free(&b);
    rc = ck_bundle_state_get(st, c->cert_name, &s, &e);
    if (rc == CK_BUNDLE_BROKEN || rc < 0) {
        fprintf(out, "  state:     %s\n", e.msg);
    } else if (rc == 0 && s.failures) {
        ck_time_format(s.last_failure, when);
        fprintf(out, "  last failure: %s (%u in a row): %s\n", when, s.failures, s.last_error);
        if (s.next_retry) {
            ck_time_format(s.next_retry, when);
            fprintf(out, "  next retry: %s\n", when);
        }
    }
}

int ck_cmd_status(const struct ck_config *c, const struct ck_log *log, struct ck_err *e)
{
    struct ck_cmd_store st;
    (void)log;
    if (ck_config_validate_for(c, "status", e))
        return -1;
    if (!c->cert_name)
        return ck_failk(e, CK_E_USAGE, "no certificate named: set --cert-name or --domain");
    if (ck_cmd_store_open(c, &st, e))
        return -1;
    int usable = show_volume(stdout, c);
    if (st.store)
        show_store(stdout, c, st.store);
    else
        printf("store: none configured\n");
    fflush(stdout);
    ck_cmd_store_close(&st);
    if (!usable)
        return ck_fail(e, "the volume holds no usable certificate");
    return 0;
}
