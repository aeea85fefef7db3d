/* edns.c - the EDNS fallback policy; see edns.h. */
#include "edns.h"

#include "dnswire.h"

enum { MS_PER_S = 1000 };

enum edns_verdict edns_verdict(enum edns_try kind, unsigned rcode)
{
    switch (kind) {
    case EDNS_TRY_EDNS:
        /* RFC 6891 7: a responder without EDNS answers FORMERR; some
         * answer NOTIMP. Neither is a failure of the upstream. */
        return rcode == DNS_R_FORMERR || rcode == DNS_R_NOTIMP
                   ? EDNS_RETRY_PLAIN : EDNS_ANSWER;
    case EDNS_TRY_FALLBACK:
        /* Only a real answer proves EDNS was the problem; a server that
         * rejects the plain query too is not remembered. */
        return rcode == DNS_R_NOERROR || rcode == DNS_R_NXDOMAIN
                   ? EDNS_REMEMBER_PLAIN : EDNS_ANSWER;
    case EDNS_TRY_PLAIN:
    default:
        return EDNS_ANSWER;
    }
}

uint64_t edns_plain_until(uint64_t now_ms, uint32_t ttl_s)
{
    return ttl_s ? now_ms + (uint64_t)ttl_s * MS_PER_S : 0;
}

int edns_query_is_strippable(const uint8_t *q, size_t len)
{
    const uint8_t *opt;

    if (len < DNS_HEADER_LEN + DNS_OPT_RR_LEN ||
        dns_get16(q + DNS_OFF_AN) != 0 || dns_get16(q + DNS_OFF_NS) != 0 ||
        dns_get16(q + DNS_OFF_AR) != 1)
        return 0;
    opt = q + len - DNS_OPT_RR_LEN;
    /* root owner, type OPT, then (after class and TTL) RDLENGTH 0 */
    return opt[0] == 0 && dns_get16(opt + 1) == DNS_T_OPT &&
           dns_get16(opt + DNS_OPT_RR_LEN - sizeof(uint16_t)) == 0;
}

size_t edns_formerr_add_opt(uint8_t *msg, size_t len, size_t cap)
{
    size_t off = DNS_HEADER_LEN;
    uint16_t flags;

    if (len < DNS_HEADER_LEN || cap < len)
        return len;
    flags = dns_get16(msg + DNS_OFF_FLAGS);
    if (!(flags & DNS_F_QR) || (flags & DNS_F_RCODE) != DNS_R_FORMERR ||
        dns_get16(msg + DNS_OFF_QD) != 1 ||
        dns_name_skip(msg, len, &off) < 0 || len - off < DNS_QFIXED_LEN)
        return len;
    off += DNS_QFIXED_LEN;
    if (cap - off < DNS_OPT_RR_LEN)
        return len;
    dns_put16(msg + DNS_OFF_AN, 0);
    dns_put16(msg + DNS_OFF_NS, 0);
    dns_put16(msg + DNS_OFF_AR, 1);
    dns_opt_write(msg + off, DNS_EDNS_UDP);
    return off + DNS_OPT_RR_LEN;
}
