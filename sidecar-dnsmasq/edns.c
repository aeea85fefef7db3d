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
