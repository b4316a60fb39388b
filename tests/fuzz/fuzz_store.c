/* libFuzzer harness for what lib/store reads from the network or a caller: the
 * ListObjectsV2 / error XML reader and key validation.
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_store.c \
 *       lib/store/[a-z]*.c lib/crypto/[a-z]*.c lib/fs/[a-z]*.c lib/http/http.c lib/err/err.c \
 *       -lcurl -lbearssl -lcjson -o build/fuzz_store
 *   build/fuzz_store -max_total_time=60 build/fuzz-store-corpus
 * Invariants: decoded text fits the buffer and is NUL-terminated, the cursor only
 * moves forward inside the input, a valid key is bounded and has no "..". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static void fuzz_xml(const char *d, size_t n)
{
    static const char *tags[] = { "Key", "Code", "IsTruncated", "NextContinuationToken" };
    char out[64];
    for (size_t t = 0; t < sizeof tags / sizeof tags[0]; t++) {
        const char *from = d;
        int rc, guard = 0;
        while ((rc = ck_s3_xml_next(d, n, &from, tags[t], out, sizeof out)) == 1) {
            if (from <= d || from > d + n || strlen(out) >= sizeof out || ++guard > (int)n)
                abort();
        }
        if (rc != 0 && rc != -1)
            abort();
    }
}

static void fuzz_key(const char *d, size_t n)
{
    char key[CK_STORE_KEY_MAX + 64];
    struct ck_err ignored;
    if (n >= sizeof key)
        n = sizeof key - 1;
    memcpy(key, d, n);
    key[n] = '\0';
    for (int prefix = 0; prefix < 2; prefix++) {
        if (ck_store_key_check(key, prefix, &ignored) != 0)
            continue;
        size_t len = strlen(key);
        if (len > CK_STORE_KEY_MAX || key[0] == '/' || strstr(key, "..") == key ||
            strstr(key, "/..") != NULL || strstr(key, "//") != NULL || (!prefix && len == 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *d = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] & 1)
        fuzz_key(d, n);
    else
        fuzz_xml(d, n);
    return 0;
}
