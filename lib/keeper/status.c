/* certkeep status: what is held on the volume and in the store, usable or why
 * not, the next renewal window and the last failure. Text, or one JSON object
 * with --log-format json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../renewal/renewal.h"
#include "../store/store.h"
#include "keeper.h"

/* What one place holds. */
struct view {
    const char *where;          /* "volume" or "store" */
    char location[1100];
    int reachable;              /* store answered */
    int present, parsed, usable;
    char reason[512];
    struct ck_cert_summary sum;
    char names[1024];           /* "a, b" */
    struct ck_bundle_state state;
    int has_state;
    char state_error[512];
};

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

static void judge(const struct ck_config *c, const struct ck_bundle *b, struct view *v)
{
    struct ck_err e;
    ck_err_clear(&e);
    v->present = 1;
    v->usable = ck_keeper_usable(c, v->where, b, &v->sum, &e) == 0;
    v->parsed = v->sum.not_after != 0;
    if (v->parsed)
        leaf_names(b, v->names, sizeof v->names);
    if (!v->usable)
        snprintf(v->reason, sizeof v->reason, "%s", e.msg);
}

static void look_volume(const struct ck_config *c, struct view *v)
{
    struct ck_bundle b;
    struct ck_err e;
    ck_err_clear(&e);
    v->where = "volume";
    v->reachable = 1;
    snprintf(v->location, sizeof v->location, "%s/%s", c->out_dir, c->cert_name);
    int rc = ck_bundle_read_volume(c->out_dir, c->cert_name, &b, &e);
    if (rc == CK_BUNDLE_ABSENT) {
        snprintf(v->reason, sizeof v->reason, "volume: nothing there");
        return;
    }
    if (rc) {
        v->present = 1;
        snprintf(v->reason, sizeof v->reason, "%s", e.msg);
        return;
    }
    judge(c, &b, v);
    ck_bundle_free(&b);
}

static void look_store(const struct ck_config *c, struct ck_store *st, struct view *v)
{
    struct ck_bundle b;
    struct ck_err e;
    ck_err_clear(&e);
    v->where = "store";
    snprintf(v->location, sizeof v->location, "%s", ck_store_name(st));
    int rc = ck_bundle_store_get(st, c->cert_name, &b, NULL, &e);
    if (rc < 0) {
        snprintf(v->reason, sizeof v->reason, "%s", e.msg);
        return;
    }
    v->reachable = 1;
    if (rc == CK_BUNDLE_ABSENT) {
        snprintf(v->reason, sizeof v->reason, "store: nothing there");
    } else if (rc) {
        v->present = 1;
        snprintf(v->reason, sizeof v->reason, "%s", e.msg);
    } else {
        judge(c, &b, v);
        ck_bundle_free(&b);
    }
    rc = ck_bundle_state_get(st, c->cert_name, &v->state, &e);
    if (rc == 0)
        v->has_state = 1;
    else if (rc != CK_BUNDLE_ABSENT)
        snprintf(v->state_error, sizeof v->state_error, "%s", e.msg);
}

static void print_text(FILE *out, const struct view *v)
{
    char nb[32], na[32], ws[32], we[32], when[32];
    fprintf(out, "%s %s\n", v->where, v->location);
    if (!v->reachable) {
        fprintf(out, "  unreachable: %s\n", v->reason);
        return;
    }
    if (v->parsed) {
        const char *kt = ck_key_type_name(v->sum.key_type);
        struct ck_window win = ck_renewal_window(v->sum.not_before, v->sum.not_after);
        ck_time_format(v->sum.not_before, nb);
        ck_time_format(v->sum.not_after, na);
        ck_time_format(win.start, ws);
        ck_time_format(win.end, we);
        fprintf(out, "  names:     %s\n  serial:    %s\n  issuer:    %s\n  valid:     %s .. %s\n"
                     "  key:       %s\n  renewal:   between %s and %s\n",
                v->names, v->sum.serial_hex, v->sum.issuer_cn[0] ? v->sum.issuer_cn : "?", nb, na,
                kt ? kt : "unsupported", ws, we);
    }
    if (v->usable)
        fprintf(out, "  usable:    yes\n");
    else
        fprintf(out, "  usable:    no: %s\n", v->reason);
    if (v->state_error[0])
        fprintf(out, "  state:     %s\n", v->state_error);
    if (v->has_state && v->state.failures) {
        ck_time_format(v->state.last_failure, when);
        fprintf(out, "  last failure: %s (%u in a row): %s\n", when, v->state.failures,
                v->state.last_error);
        if (v->state.next_retry) {
            ck_time_format(v->state.next_retry, when);
            fprintf(out, "  next retry: %s\n", when);
        }
    }
}

static cJSON *add_time(cJSON *o, const char *key, int64_t t)
{
    char s[32];
    ck_time_format(t, s);
    return cJSON_AddStringToObject(o, key, s);
}

static cJSON *to_json(const struct view *v)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "location", v->location);
    cJSON_AddBoolToObject(o, "reachable", v->reachable);
    cJSON_AddBoolToObject(o, "present", v->present);
    cJSON_AddBoolToObject(o, "usable", v->usable);
    if (!v->usable)
        cJSON_AddStringToObject(o, "reason", v->reason);
    if (v->parsed) {
        const char *kt = ck_key_type_name(v->sum.key_type);
        struct ck_window win = ck_renewal_window(v->sum.not_before, v->sum.not_after);
        cJSON_AddStringToObject(o, "names", v->names);
        cJSON_AddStringToObject(o, "serial", v->sum.serial_hex);
        cJSON_AddStringToObject(o, "issuer", v->sum.issuer_cn);
        add_time(o, "not_before", v->sum.not_before);
        add_time(o, "not_after", v->sum.not_after);
        cJSON_AddStringToObject(o, "key_type", kt ? kt : "unsupported");
        add_time(o, "renewal_start", win.start);
        add_time(o, "renewal_end", win.end);
    }
    if (v->state_error[0])
        cJSON_AddStringToObject(o, "state_error", v->state_error);
    if (v->has_state) {
        cJSON_AddNumberToObject(o, "failures", v->state.failures);
        if (v->state.failures) {
            add_time(o, "last_failure", v->state.last_failure);
            cJSON_AddStringToObject(o, "last_error", v->state.last_error);
        }
        if (v->state.next_retry)
            add_time(o, "next_retry", v->state.next_retry);
    }
    return o;
}

static int print_json(FILE *out, const struct view *vol, const struct view *sto, struct ck_err *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = to_json(vol), *b = sto ? to_json(sto) : cJSON_CreateNull();
    char *text = NULL;
    if (o && a && b) {
        cJSON_AddItemToObject(o, "volume", a);
        cJSON_AddItemToObject(o, "store", b);
        a = b = NULL;
        text = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(o);
    if (!text)
        return ck_fail(e, "status: out of memory");
    fprintf(out, "%s\n", text);
    free(text);
    return 0;
}

int ck_keeper_status(const struct ck_config *c, struct ck_store *st, FILE *out, struct ck_err *e)
{
    struct view *vol = calloc(1, sizeof *vol), *sto = calloc(1, sizeof *sto);
    int rc = -1;
    if (!vol || !sto) {
        ck_fail(e, "status: out of memory");
        goto out;
    }
    look_volume(c, vol);
    if (st)
        look_store(c, st, sto);
    if (c->log_json) {
        if (print_json(out, vol, sto->where ? sto : NULL, e))
            goto out;
    } else {
        print_text(out, vol);
        if (sto->where)
            print_text(out, sto);
        else
            fprintf(out, "store: none configured\n");
    }
    fflush(out);
    rc = vol->usable ? 0 : ck_fail(e, "the volume holds no usable certificate");
out:
    free(vol);
    free(sto);
    return rc;
}
