/*
 * metrics.h - portico_dnscache_* counters and their Prometheus rendering.
 *
 * Each worker thread owns one struct worker_metrics and updates it with
 * prom_inc/prom_add (relaxed atomics, uncontended); a scrape on the HTTP
 * thread sums the workers.
 */
#ifndef PORTICO_DNSCACHE_METRICS_H
#define PORTICO_DNSCACHE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "prom.h"

enum metric_proto { MP_UDP, MP_TCP, MP_NPROTO };

enum metric_qtype {
    MQ_A, MQ_AAAA, MQ_CNAME, MQ_PTR, MQ_SRV, MQ_MX, MQ_TXT, MQ_NS, MQ_SOA,
    MQ_ANY, MQ_OTHER, MQ_NTYPES,
};

enum { MR_NRCODES = 7 };        /* NOERROR..REFUSED, then "other" */

/* Cache hits as CoreDNS counts them: an answer with records (success) or
 * a negative one (denial: NXDOMAIN, NODATA, a cached error). */
enum metric_cache_type { MC_SUCCESS, MC_DENIAL, MC_NTYPES };

enum upstream_fail_reason {
    UF_TIMEOUT, UF_SERVFAIL, UF_REFUSED, UF_CONNREFUSED, UF_MALFORMED,
    UF_ERROR, UF_NREASONS,
};

struct worker_metrics {
    uint64_t queries[MP_NPROTO][MQ_NTYPES];
    uint64_t responses[MR_NRCODES];
    uint64_t cache_hits[MC_NTYPES];
    uint64_t cache_misses, stale_served, prefetches;
    uint64_t coalesced, local_answers, truncated, malformed, overload;
    uint64_t hosts_reloads, hosts_entries;
    uint64_t inflight;                                  /* gauge */
    uint64_t heartbeat_ms;                              /* loop alive */
    const uint64_t *cache_entries, *cache_evictions;    /* owned by cache */
    struct prom_histogram request_duration;
    uint64_t up_queries[CFG_MAX_UPSTREAMS];
    uint64_t up_failures[CFG_MAX_UPSTREAMS][UF_NREASONS];
    uint64_t up_up[CFG_MAX_UPSTREAMS];                  /* gauge 0/1 */
    uint64_t up_edns_fallbacks[CFG_MAX_UPSTREAMS];      /* resent w/o EDNS */
    uint64_t up_responses[CFG_MAX_UPSTREAMS][MR_NRCODES]; /* by rcode */
    struct prom_histogram up_duration[CFG_MAX_UPSTREAMS];
};

int metrics_init(struct worker_metrics *m);
void metrics_free(struct worker_metrics *m);

enum metric_qtype metrics_qtype(uint16_t qtype);
static inline unsigned metrics_rcode(unsigned rcode)
{
    return rcode < MR_NRCODES - 1 ? rcode : MR_NRCODES - 1;
}

static inline void metrics_response(struct worker_metrics *m, unsigned rcode)
{
    prom_inc(&m->responses[metrics_rcode(rcode)]);
}

/* An answer from upstream u (not a health probe), by rcode. */
static inline void metrics_upstream_response(struct worker_metrics *m,
                                             size_t u, unsigned rcode)
{
    prom_inc(&m->up_responses[u][metrics_rcode(rcode)]);
}

/* Writes every family, summing the workers' metrics. */
void metrics_render(struct buf *out, const struct config *cfg,
                    struct worker_metrics *const *workers, size_t nworkers);

#endif
