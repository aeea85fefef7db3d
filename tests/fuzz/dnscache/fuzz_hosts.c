/* libFuzzer target: --hosts parsing and lookup must accept any bytes
 * (binary junk, huge lines, odd addresses) without crashing. */
#include <stddef.h>
#include <stdint.h>

#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t bad = 0;
    struct hosts *h = hosts_parse((const char *)data, size, &bad);
    uint8_t name[DNS_MAX_NAME];
    int n = dns_name_from_text("web.cluster.local", name);

    if (h) {
        const struct hosts_name *hn = hosts_lookup(h, name, (size_t)n);

        if (hn)
            for (size_t i = 0; i < hn->n4 + hn->n6; i++)
                (void)hosts_addr(h, hn->first + i)->family;
        hosts_free(h);
    }
    return 0;
}
