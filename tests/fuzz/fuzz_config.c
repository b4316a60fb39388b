/* libFuzzer harness for the YAML loader: any input gives 0, or -1 with a one-line
 * CK_E_USAGE message, and never a crash, a leak or a half-freed config.
 *   clang -fsanitize=fuzzer,address,undefined -Ilib tests/fuzz/fuzz_config.c \
 *       lib/config/config.c lib/crypto/key.c lib/err/err.c lib/log/log.c -lbearssl -lyaml */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ck_config c;
    struct ck_err e;
    if (ck_config_init(&c, &e))
        return 0;
    ck_err_clear(&e);
    if (ck_config_parse_yaml(&c, (const char *)data, size, "fuzz.yaml", &e)) {
        if (e.kind != CK_E_USAGE && strstr(e.msg, "out of memory") == NULL)
            abort();
        if (!e.msg[0] || strchr(e.msg, '\n'))
            abort();
    } else if (c.n_domains > CK_CONFIG_MAX_DOMAINS || !c.out_dir || !c.state_dir) {
        abort();
    }
    ck_config_free(&c);
    return 0;
}
