/* libFuzzer target for the store's JSON records, which anyone with write access to the
 * bucket can change: current.json (ck_bundle_record_parse), state.json
 * (ck_bundle_state_parse) and the lease locks/<name> (read by ck_lease_acquire from a
 * directory store under /dev/shm). Input: one byte choosing the record, then its text.
 * Checks beyond "no crash": a record that parses writes back to JSON that parses to
 * the same record (and the same JSON); text that reaches messages (last_error, lease
 * owner) has no control byte; errors are one line. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle/bundle.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            abort();
}

static void same_record(const struct ck_bundle_record *a, const struct ck_bundle_record *b)
{
    if (a->n_names != b->n_names || strcmp(a->serial, b->serial) || a->not_before != b->not_before ||
        a->not_after != b->not_after || a->issued_at != b->issued_at || a->key_type != b->key_type ||
        strcmp(a->ari_id, b->ari_id) || strcmp(a->fullchain_sha256, b->fullchain_sha256) ||
        strcmp(a->privkey_sha256, b->privkey_sha256))
        abort();
    for (size_t i = 0; i < a->n_names; i++)
        if (strcmp(a->names[i], b->names[i]))
            abort();
}

static void record(const char *d, size_t n)
{
    struct ck_bundle_record r, r2;
    struct ck_err e;
    char *json = NULL, *json2 = NULL;
    if (ck_bundle_record_parse(d, n, "current.json", &r, &e) != 0) {
        one_line(e.msg);
        return;
    }
    if (ck_bundle_record_json(&r, &json, &e) != 0 ||
        ck_bundle_record_parse(json, strlen(json), "again", &r2, &e) != 0)
        abort();
    same_record(&r, &r2);
    if (ck_bundle_record_json(&r2, &json2, &e) != 0 || strcmp(json, json2) != 0)
        abort();
    free(json);
    free(json2);
    ck_bundle_record_free(&r);
    ck_bundle_record_free(&r2);
}

static void state(const char *d, size_t n)
{
    struct ck_bundle_state s, s2;
    struct ck_err e;
    char *json = NULL;
    if (ck_bundle_state_parse(d, n, "state.json", &s, &e) != 0) {
        one_line(e.msg);
        return;
    }
    one_line(s.last_error);
    if (ck_bundle_state_json(&s, &json, &e) != 0 ||
        ck_bundle_state_parse(json, strlen(json), "again", &s2, &e) != 0)
        abort();
    if (s.failures != s2.failures || s.last_failure != s2.last_failure ||
        s.next_retry != s2.next_retry || strcmp(s.last_error, s2.last_error))
        abort();
    free(json);
}

static char shm_dir[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_dir(void)
{
    nftw(shm_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void lease(const char *d, size_t n)
{
    static struct ck_store *st;
    struct ck_err e;
    if (!st) {
        snprintf(shm_dir, sizeof shm_dir, "/dev/shm/fuzz_records.%ld", (long)getpid());
        if (ck_store_open_dir(shm_dir, &st, &e))
            abort();
        atexit(rm_dir);
    }
    if (ck_store_put(st, "locks/x", d, n, &e) != 0)
        abort();
    struct ck_lease *l = NULL;
    struct ck_lease_holder h;
    memset(&h, 0, sizeof h);
    int rc = ck_lease_acquire(st, "x", "fuzz-owner", 60, &l, &h, &e);
    if (rc == 0) {
        ck_lease_release(l, &e);
    } else {
        one_line(e.msg);
        if (rc == CK_STORE_CONFLICT)
            one_line(h.owner);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: record(d, n); break;
    case 1: state(d, n); break;
    default: lease(d, n); break;
    }
    return 0;
}
