/*
 * resolver.h - cache misses in flight: identical queries coalesced into one
 * upstream query, tried on the healthiest upstream, retried on the next one
 * after the per-try timeout (the earlier try stays open: first answer wins),
 * answers compiled into the cache, and on total failure the stale entry
 * (RFC 8767) or SERVFAIL sent to every waiting client.
 */
#ifndef PORTICO_DNSCACHE_RESOLVER_H
#define PORTICO_DNSCACHE_RESOLVER_H

#include <stdint.h>

#include "answer.h"
#include "worker.h"

struct resolver *resolver_new(struct worker *w);
/* Frees every pending query without answering (shutdown). Call after
 * upstream_set_free. */
void resolver_free(struct resolver *r);

/* Queues the client behind the query (lname/qtype/qclass from q). Returns
 * 0 when the answer will be sent later, -1 when overloaded (the caller
 * answers SERVFAIL now). */
int resolver_query(struct resolver *r, const struct dns_query *q,
                   const struct client_q *cq, const struct reply_to *rt,
                   uint64_t t0_ns);
/* Refreshes an entry in the background (no client waits). Returns 0 if a
 * refresh is (already) in flight, -1 if none could be started. */
int resolver_prefetch(struct resolver *r, const uint8_t *lname, size_t nlen,
                       uint16_t qtype, uint16_t qclass);
size_t resolver_inflight(const struct resolver *r);

#endif
