/* libFuzzer harness: lib/dns's message parser (names with compression pointers,
 * every record of every section, the names inside NS, CNAME and SOA data) on any
 * bytes a DNS server could send. Built and run by `make fuzz`. */
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = ck_dns_parse_check(data, size);
    return rc == 0 || rc == -1 ? 0 : -1;
}
