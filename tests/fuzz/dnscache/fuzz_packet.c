/* libFuzzer target: the DNS packet parser and everything a hostile packet
 * reaches - query parsing, the --hosts answers to it, response
 * compilation into a cache image, and answer shaping from that image, and
 * the EDNS wire checks applied to upstream answers as they are read - must
 * never crash, hang or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sidecar-dnsmasq/answer.h"
#include "sidecar-dnsmasq/cache.h"
#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/edns.h"
#include "sidecar-dnsmasq/hosts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dns_writer w;
    static struct dns_compiled c;
    static uint8_t img[DNS_MAX_MSG], out[DNS_MAX_MSG];
    struct dns_query q;
    size_t off = DNS_HEADER_LEN;
    uint8_t name[DNS_MAX_NAME];
    int n;

    if (size <= DNS_MAX_UDP) {
        /* As an upstream answer read by an EDNS channel (c-ares' buffer). */
        static uint8_t rd[DNS_MAX_UDP + 1];

        memcpy(rd, data, size);
        if (edns_formerr_add_opt(rd, size, sizeof(rd)) > sizeof(rd))
            __builtin_trap();
    }
    (void)edns_query_is_strippable(data, size);
    if (dns_query_parse(data, size, &q) == DNS_PARSE_OK) {
        /* Every name a query can reach in a table: forward and reverse. */
        static const char text[] = "10.0.0.1 web.cluster.local a\n"
                                   "fd00::1 web.cluster.local\n"
                                   "127.0.0.1 localhost\n";
        static struct hosts *h;
        static struct dns_writer hw;
        static uint8_t hbuf[DNS_MAX_MSG];
        struct client_q cq;
        int trunc;

        if (!h)
            h = hosts_parse(text, sizeof(text) - 1, NULL);
        answer_client_from_query(&cq, &q, 0);
        answer_error(out, sizeof(out), data, size, &cq, DNS_R_SERVFAIL);
        dnsw_init(&hw, hbuf, sizeof(hbuf));
        if (h)
            hosts_answer(h, &q, &cq, 5, &hw, out, DNS_MAX_UDP, &trunc);
    }
    /* Treat the packet as a response to whatever question it carries. */
    n = dns_name_read(data, size, &off, name);
    if (n > 0 && off + 4 <= size) {
        uint16_t qtype = dns_get16(data + off), qclass = dns_get16(data + off + 2);

        dns_name_lower(name, (size_t)n);
        dnsw_init(&w, img, sizeof(img));
        if (dns_response_compile(data, size, name, (size_t)n, qtype, qclass,
                                 &w, &c) == 0) {
            struct cache *cache = cache_new(4);
            struct cache_entry *e = cache_insert(cache, qtype, qclass, img,
                                                 w.len, c.ttl_offs, c.nttl,
                                                 30, 0, 0);
            if (e) {
                struct client_q cq = {0};
                struct answer_src src = {e->image, e->image_len, e->ttl_offs,
                                         e->nttl, 7, 0};
                int trunc;

                cq.qname_len = (uint8_t)n;
                memcpy(cq.qname, name, (size_t)n);
                cq.limit = DNS_MIN_UDP;
                answer_write(out, sizeof(out), &src, &cq, &trunc);
                cq.limit = DNS_MAX_MSG;
                answer_write(out, sizeof(out), &src, &cq, &trunc);
            }
            cache_free(cache);
        }
    }
    return 0;
}
