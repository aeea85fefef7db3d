/* libFuzzer target: --hosts parsing and lookup must accept any bytes
 * (binary junk, huge lines, odd addresses) without crashing, and so must
 * reading the input as a reverse (in-addr.arpa / ip6.arpa) wire name. */
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

    struct hosts_addr a;
    int is_rev = hosts_reverse_addr(data, size < DNS_MAX_NAME ? size
                                                              : DNS_MAX_NAME,
                                    &a) == 0;

    if (h) {
        const struct hosts_name *hn = hosts_lookup(h, name, (size_t)n);

        if (hn)
            for (size_t i = 0; i < hn->n4 + hn->n6; i++)
                (void)hosts_addr(h, hn->first + i)->family;
        if (is_rev && (hn = hosts_lookup_addr(h, &a)))
            (void)hn->name_len;
        hosts_free(h);
    }
    return 0;
}
