/* The account's own life after creation: finding it without creating one, key
 * rollover (RFC 8555 7.3.5) and deactivation (7.3.6). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int acme_key_change_jws(const struct ck_key *new_key, const char *url, const char *account_url,
                        const char *old_jwk, char **out, size_t *out_len, struct ck_err *e)
{
    char *jwk = NULL, *prot = NULL, *payload = NULL;
    cJSON *p = cJSON_CreateObject(), *b = cJSON_CreateObject();
    int rc = -1;
    if (ck_jwk_json(new_key, &jwk, e) != 0) {
        ck_wrap(e, "new account key");
        goto out;
    }
    /* the inner JWS has no nonce (7.3.5); its url must equal the outer one */
    if (!p || !b || !cJSON_AddStringToObject(p, "alg", ck_jws_alg(new_key)) ||
        !cJSON_AddRawToObject(p, "jwk", jwk) || !cJSON_AddStringToObject(p, "url", url) ||
        !cJSON_AddStringToObject(b, "account", account_url) ||
        !cJSON_AddRawToObject(b, "oldKey", old_jwk) || !(prot = cJSON_PrintUnformatted(p)) ||
        !(payload = cJSON_PrintUnformatted(b))) {
        ck_fail(e, "keyChange: out of memory");
        goto out;
    }
    rc = ck_jws_sign(new_key, prot, payload, strlen(payload), out, out_len, e);
out:
    cJSON_Delete(p);
    cJSON_Delete(b);
    free(jwk);
    free(prot);
    free(payload);
    return rc;
}

int ck_acme_account_existing(struct ck_acme *a, const struct ck_key *key, struct ck_err *e)
{
    struct ck_http_resp resp;
    int contact_ok;
    if (ck_acme_directory(a, e) != 0 || acme_use_key(a, key, e) != 0)
        return -1;
    if (acme_post(a, a->new_account, "{\"onlyReturnExisting\":true}", 1, NULL, ACME_JSON_MAX,
                  &resp, e) != 0)
        return strcmp(a->problem, "urn:ietf:params:acme:error:accountDoesNotExist") ? -1
                                                                                     : CK_ACME_NO_ACCOUNT;
    int rc = acme_account_from(a, &resp, NULL, &contact_ok, e);
    ck_http_resp_free(&resp);
    return rc;
}

int ck_acme_key_change(struct ck_acme *a, const struct ck_key *new_key, struct ck_err *e)
{
    struct ck_http_resp resp;
    char *inner = NULL;
    size_t len = 0;
    if (ck_acme_directory(a, e) != 0)
        return -1;
    if (!a->key_change)
        return ck_failk(e, CK_E_PROTOCOL, "%s: the CA offers no keyChange", a->dir_url);
    if (!a->kid || !a->jwk)
        return ck_fail(e, "keyChange: no account to change the key of");
    if (acme_key_change_jws(new_key, a->key_change, a->kid, a->jwk, &inner, &len, e) != 0)
        return -1;
    int rc = acme_post(a, a->key_change, inner, 0, NULL, ACME_JSON_MAX, &resp, e);
    free(inner);
    if (rc != 0)
        return ck_wrap(e, "account key rollover refused");
    ck_http_resp_free(&resp);
    return acme_use_key(a, new_key, e);
}

int ck_acme_deactivate(struct ck_acme *a, struct ck_err *e)
{
    struct ck_http_resp resp;
    cJSON *j = NULL;
    if (!a->kid)
        return ck_fail(e, "deactivate: no account");
    if (acme_post(a, a->kid, "{\"status\":\"deactivated\"}", 0, NULL, ACME_JSON_MAX, &resp, e) != 0)
        return ck_wrap(e, "deactivating the account");
    int rc = acme_json(&resp, a->kid, &j, e);
    const char *st = rc ? NULL : acme_str(j, "status", 32);
    if (!rc && (!st || strcmp(st, "deactivated") != 0)) {
        char s[40];
        acme_clean(s, sizeof s, st ? st : "missing");
        rc = ck_failk(e, CK_E_PROTOCOL, "account %s: status is %s after deactivation", a->kid, s);
    }
    cJSON_Delete(j);
    ck_http_resp_free(&resp);
    return rc;
}
