/*
 * edns.h - the EDNS fallback policy for upstreams that do not speak EDNS
 * (as unbound's serviced queries do it): which answers send the question
 * again without EDNS, and which prove that an upstream should be asked
 * without EDNS for a while; and the two wire checks that keep c-ares'
 * own EDNS handling (ARES_FLAG_EDNS, set on our EDNS channels so answers
 * up to DNS_EDNS_UDP bytes are taken over UDP) from ever rewriting one of
 * our queries (see upstream.c). Pure functions; resolver.c and
 * upstream.c act on them.
 */
#ifndef PORTICO_DNSCACHE_EDNS_H
#define PORTICO_DNSCACHE_EDNS_H

#include <stddef.h>
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

/* Whether query q (len bytes) has the one shape c-ares 1.18's EDNS
 * fallback can strip safely: no answer or authority records, ARCOUNT 1
 * and, as its last DNS_OPT_RR_LEN bytes, an OPT RR with no options (what
 * dns_query_build writes). Cutting those bytes and zeroing ARCOUNT, as
 * c-ares does on a FORMERR, leaves exactly the same query without EDNS.
 * Only such queries may go on a channel with ARES_FLAG_EDNS. */
int edns_query_is_strippable(const uint8_t *q, size_t len);

/* c-ares 1.18 with ARES_FLAG_EDNS consumes a FORMERR answer that has no
 * OPT RR itself (it resends the query without EDNS and turns EDNS off
 * for the whole channel). To keep that decision ours, a FORMERR answer
 * with one well-formed question is reduced in place to header, question
 * and an OPT RR with no options (answer and authority records dropped:
 * only its RCODE is read), so c-ares passes it on. Returns the new length
 * (at most cap), or len when msg is not such a FORMERR or there is no
 * room; then it is left as it is. */
size_t edns_formerr_add_opt(uint8_t *msg, size_t len, size_t cap);

#endif
