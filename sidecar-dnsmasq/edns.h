/*
 * edns.h - the EDNS fallback policy for upstreams that do not speak EDNS
 * (as unbound's serviced queries do it): which answers send the question
 * again without EDNS, and which prove that an upstream should be asked
 * without EDNS for a while. Pure functions; resolver.c acts on them.
 */
#ifndef PORTICO_DNSCACHE_EDNS_H
#define PORTICO_DNSCACHE_EDNS_H

#include <stdint.h>

/* How a try asked its upstream. */
enum edns_try {
    EDNS_TRY_EDNS,          /* with an OPT RR (the default) */
    EDNS_TRY_PLAIN,         /* without: the upstream is known to reject EDNS */
    EDNS_TRY_FALLBACK,      /* without, after FORMERR/NOTIMP to EDNS_TRY_EDNS */
};

enum edns_verdict {
    EDNS_ANSWER,            /* an ordinary answer: handle it as usual */
    EDNS_RETRY_PLAIN,       /* ask the same upstream again without EDNS */
    EDNS_REMEMBER_PLAIN,    /* an answer, and proof that the upstream works
                               without EDNS: ask it without EDNS for now */
};

/* The verdict on an answer with rcode (header RCODE) to a try of kind. */
enum edns_verdict edns_verdict(enum edns_try kind, unsigned rcode);

/* Until when (ms) an upstream proven EDNS-less at now_ms is asked without
 * EDNS: now_ms + ttl_s seconds; 0 (not at all) when ttl_s is 0. */
uint64_t edns_plain_until(uint64_t now_ms, uint32_t ttl_s);

#endif
