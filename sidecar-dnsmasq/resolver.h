/*
 * resolver.h - cache misses in flight: identical queries coalesced into one
 * upstream query, tried on the healthiest upstream, asked again of the next
 * one when the upstream is slow (the earlier try stays open: first answer
 * wins) or fails, answers stored in the cache. Clients still waiting at
 * --stale-timeout get the stale entry (RFC 8767) if there is one, while
 * the query goes on: an answer until --timeout is cached and sent to the
 * clients still waiting; at --timeout they get the stale entry or
 * SERVFAIL.
 *
 * The resolver sends nothing to clients itself: every answer goes to the
 * sink's reply callback with the client's reply_to, shaped for that
 * client. Upstreams are reached through struct upstream_iface (a test
 * scripts them without sockets).
 */
#ifndef PORTICO_DNSCACHE_RESOLVER_H
#define PORTICO_DNSCACHE_RESOLVER_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "client.h"
#include "config.h"
#include "dnswire.h"
#include "evloop.h"
#include "metrics.h"
#include "upstream.h"

/* Where answers go. reply is called exactly once for every client that
 * resolver_query accepted: with its answer (msg, len bytes, valid during
 * the call), or with msg NULL when the resolver is freed first. It may be
 * called from inside resolver_query. */
struct resolver_sink {
    void (*reply)(void *arg, const struct reply_to *rt, const uint8_t *msg,
                  size_t len);
    void *arg;
};

/* The cache, metrics, loop and upstreams are the caller's and must outlive
 * the resolver. NULL when out of memory. */
struct resolver *resolver_new(struct evloop *loop, const struct config *cfg,
                              struct cache *cache, struct worker_metrics *m,
                              const struct upstream_iface *ups,
                              const struct resolver_sink *sink);
/* Cancels every query in flight and replies NULL to every waiting client.
 * Call before the upstreams are freed. */
void resolver_free(struct resolver *r);

/* Queues the client (what it asked: cq; where its answer goes: rt) behind
 * the query for q's name, type and class, starting one if none is in
 * flight. Returns 0 when the answer will go to the sink, -1 when
 * overloaded (nothing is queued: the caller answers SERVFAIL). */
int resolver_query(struct resolver *r, const struct dns_query *q,
                   const struct client_q *cq, const struct reply_to *rt);
/* Refreshes an entry in the background (no client waits). Returns 0 if a
 * refresh is (already) in flight, -1 if none could be started. */
int resolver_prefetch(struct resolver *r, const uint8_t *lname, size_t nlen,
                      uint16_t qtype, uint16_t qclass);

#endif
