/* metrics.c - Prometheus rendering of portico-dnscache counters. */
#include "metrics.h"

#include <string.h>

#include "dnswire.h"

#define P "portico_dnscache_"

static const char *const qtype_names[MQ_NTYPES] = {
    "A", "AAAA", "CNAME", "PTR", "SRV", "MX", "TXT", "NS", "SOA", "ANY",
    "other",
};
static const char *const proto_names[MP_NPROTO] = {"udp", "tcp"};
static const char *const cache_type_names[MC_NTYPES] = {"success", "denial"};
static const char *const reason_names[UF_NREASONS] = {
    "timeout", "servfail", "refused", "connection_refused", "malformed",
    "error",
};

int metrics_init(struct worker_metrics *m)
{
    memset(m, 0, sizeof(*m));
    if (prom_histogram_init(&m->request_duration, prom_latency_buckets,
                            prom_latency_nbuckets) < 0)
        return -1;
    for (size_t i = 0; i < CFG_MAX_UPSTREAMS; i++)
        if (prom_histogram_init(&m->up_duration[i], prom_latency_buckets,
                                prom_latency_nbuckets) < 0)
            return -1;
    return 0;
}

void metrics_free(struct worker_metrics *m)
{
    prom_histogram_free(&m->request_duration);
    for (size_t i = 0; i < CFG_MAX_UPSTREAMS; i++)
        prom_histogram_free(&m->up_duration[i]);
}

enum metric_qtype metrics_qtype(uint16_t qtype)
{
    switch (qtype) {
    case DNS_T_A: return MQ_A;
    case DNS_T_AAAA: return MQ_AAAA;
    case DNS_T_CNAME: return MQ_CNAME;
    case DNS_T_PTR: return MQ_PTR;
    case DNS_T_SRV: return MQ_SRV;
    case DNS_T_MX: return MQ_MX;
    case DNS_T_TXT: return MQ_TXT;
    case DNS_T_NS: return MQ_NS;
    case DNS_T_SOA: return MQ_SOA;
    case DNS_T_ANY: return MQ_ANY;
    default: return MQ_OTHER;
    }
}

/* Sum of one counter over the workers; off is its offset in the struct. */
static uint64_t sum_at(struct worker_metrics *const *w, size_t n, size_t off)
{
    uint64_t s = 0;

    for (size_t i = 0; i < n; i++)
        s += prom_get((const uint64_t *)((const char *)w[i] + off));
    return s;
}

#define SUM(field) sum_at(w, n, offsetof(struct worker_metrics, field))

static void counter(struct buf *out, const char *name, const char *help,
                    uint64_t v)
{
    prom_family(out, name, "counter", help);
    prom_sample_u64(out, name, NULL, v);
}

void metrics_render(struct buf *out, const struct config *cfg,
                    struct worker_metrics *const *w, size_t n)
{
    uint64_t entries = 0, evictions = 0;
    char up[CFG_MAX_UPSTREAMS][64];

    prom_family(out, P "queries_total", "counter",
                "Client queries received, by transport and query type.");
    for (int p = 0; p < MP_NPROTO; p++)
        for (int t = 0; t < MQ_NTYPES; t++) {
            const char *l[] = {"protocol", proto_names[p], "type",
                               qtype_names[t], NULL};
            prom_sample_u64(out, P "queries_total", l,
                            SUM(queries[p][t]));
        }
    prom_family(out, P "responses_total", "counter",
                "Responses sent to clients, by rcode.");
    for (int r = 0; r < MR_NRCODES; r++) {
        const char *l[] = {"rcode", dns_rcode_name((uint16_t)r), NULL};
        prom_sample_u64(out, P "responses_total", l, SUM(responses[r]));
    }
    prom_family(out, P "cache_hits_total", "counter",
                "Queries answered from the cache, by type as CoreDNS "
                "counts them: success (records) or denial (NXDOMAIN, "
                "NODATA, a cached error).");
    for (int t = 0; t < MC_NTYPES; t++) {
        const char *l[] = {"type", cache_type_names[t], NULL};
        prom_sample_u64(out, P "cache_hits_total", l, SUM(cache_hits[t]));
    }
    counter(out, P "cache_misses_total",
            "Queries that needed an upstream answer.", SUM(cache_misses));
    counter(out, P "cache_stale_served_total",
            "Expired answers served because no upstream answered (RFC 8767).",
            SUM(stale_served));
    counter(out, P "cache_prefetches_total",
            "Background refreshes of names hit in the last tenth of their TTL.",
            SUM(prefetches));
    for (size_t i = 0; i < n; i++) {
        entries += prom_get(w[i]->cache_entries);
        evictions += prom_get(w[i]->cache_evictions);
    }
    counter(out, P "cache_evictions_total",
            "Entries evicted (least recently used) to respect --cache-size.",
            evictions);
    prom_family(out, P "cache_entries", "gauge", "Entries in the cache.");
    prom_sample_u64(out, P "cache_entries", NULL, entries);
    prom_family(out, P "cache_capacity", "gauge",
                "Maximum entries in the cache (all threads).");
    prom_sample_u64(out, P "cache_capacity", NULL, (uint64_t)cfg->cache_size * n);
    counter(out, P "coalesced_total",
            "Queries that joined an identical query already in flight.",
            SUM(coalesced));
    counter(out, P "local_answers_total", "Queries answered from --hosts.",
            SUM(local_answers));
    counter(out, P "truncated_total",
            "UDP answers sent truncated (TC) because they did not fit.",
            SUM(truncated));
    counter(out, P "malformed_queries_total",
            "Packets that were not a valid query (FORMERR or dropped).",
            SUM(malformed));
    counter(out, P "overload_total",
            "Queries refused because --max-inflight was reached.",
            SUM(overload));
    counter(out, P "hosts_reloads_total", "Successful --hosts (re)loads.",
            SUM(hosts_reloads) / (n ? n : 1));
    prom_family(out, P "hosts_entries", "gauge", "Names loaded from --hosts.");
    prom_sample_u64(out, P "hosts_entries", NULL,
                    n ? prom_get(&w[0]->hosts_entries) : 0);
    prom_family(out, P "inflight_queries", "gauge",
                "Distinct queries waiting for an upstream answer.");
    prom_sample_u64(out, P "inflight_queries", NULL, SUM(inflight));

    prom_family(out, P "request_duration_seconds", "histogram",
                "Time from receiving a client query to sending its answer.");
    {
        struct prom_histogram h;

        if (prom_histogram_init(&h, prom_latency_buckets,
                                prom_latency_nbuckets) == 0) {
            for (size_t i = 0; i < n; i++)
                prom_histogram_merge(&h, &w[i]->request_duration);
            prom_histogram_write(out, P "request_duration_seconds", NULL, &h);
            prom_histogram_free(&h);
        }
    }

    for (size_t u = 0; u < cfg->nupstream; u++)
        netaddr_format(&cfg->upstream[u], up[u], sizeof(up[u]));
    prom_family(out, P "upstream_queries_total", "counter",
                "Queries sent to each upstream (including probes and retries).");
    for (size_t u = 0; u < cfg->nupstream; u++) {
        const char *l[] = {"upstream", up[u], NULL};
        prom_sample_u64(out, P "upstream_queries_total", l, SUM(up_queries[u]));
    }
    prom_family(out, P "upstream_responses_total", "counter",
                "Answers from each upstream to client queries (not health "
                "probes), by rcode (CoreDNS' forward_responses_total).");
    for (size_t u = 0; u < cfg->nupstream; u++)
        for (int r = 0; r < MR_NRCODES; r++) {
            const char *l[] = {"upstream", up[u], "rcode",
                               dns_rcode_name((uint16_t)r), NULL};
            prom_sample_u64(out, P "upstream_responses_total", l,
                            SUM(up_responses[u][r]));
        }
    prom_family(out, P "upstream_failures_total", "counter",
                "Failed upstream tries, by reason.");
    for (size_t u = 0; u < cfg->nupstream; u++)
        for (int r = 0; r < UF_NREASONS; r++) {
            const char *l[] = {"upstream", up[u], "reason", reason_names[r], NULL};
            prom_sample_u64(out, P "upstream_failures_total", l,
                            SUM(up_failures[u][r]));
        }
    prom_family(out, P "upstream_edns_fallbacks_total", "counter",
                "EDNS queries answered FORMERR or NOTIMP and sent again "
                "without EDNS.");
    for (size_t u = 0; u < cfg->nupstream; u++) {
        const char *l[] = {"upstream", up[u], NULL};
        prom_sample_u64(out, P "upstream_edns_fallbacks_total", l,
                        SUM(up_edns_fallbacks[u]));
    }
    prom_family(out, P "upstream_up", "gauge",
                "1 if the upstream is considered healthy (in any thread).");
    for (size_t u = 0; u < cfg->nupstream; u++) {
        const char *l[] = {"upstream", up[u], NULL};
        uint64_t any = 0;

        for (size_t i = 0; i < n; i++)
            any |= prom_get(&w[i]->up_up[u]);
        prom_sample_u64(out, P "upstream_up", l, any ? 1 : 0);
    }
    prom_family(out, P "upstream_request_duration_seconds", "histogram",
                "Round-trip time of answered upstream queries.");
    for (size_t u = 0; u < cfg->nupstream; u++) {
        struct prom_histogram h;
        const char *l[] = {"upstream", up[u], NULL};

        if (prom_histogram_init(&h, prom_latency_buckets,
                                prom_latency_nbuckets) < 0)
            continue;
        for (size_t i = 0; i < n; i++)
            prom_histogram_merge(&h, &w[i]->up_duration[u]);
        prom_histogram_write(out, P "upstream_request_duration_seconds", l, &h);
        prom_histogram_free(&h);
    }
}
