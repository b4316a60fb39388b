/* libFuzzer target for the http-01 request router (the only code that parses bytes
 * from the network in lib/challenge). Build:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_http01.c \
 *         lib/challenge/http01.c lib/challenge/webroot.c lib/fs/fs.c lib/fs/certdir.c \
 *         lib/err/err.c lib/log/log.c -lpthread -o build/fuzz_http01
 * Checks beyond "no crash": a 200 only for a clean base64url token under the
 * challenge prefix of a GET/HEAD request line. */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge/challenge_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char token[257];
    int head = -1;
    int status = ck_http01_route((const char *)data, size, token, sizeof token, &head);
    if (status != 200 && status != 400 && status != 404 && status != 405 && status != 431)
        abort();
    if (status == 200) {
        if (!ck_token_ok(token) || (head != 0 && head != 1))
            abort();
        const char *want = head ? "HEAD " : "GET ";
        if (size < strlen(want) || memcmp(data, want, strlen(want)) != 0)
            abort();
        if (!memmem(data, size, token, strlen(token)))
            abort();
    }
    return 0;
}
