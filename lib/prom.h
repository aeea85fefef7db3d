/*
 * prom.h - Prometheus text exposition (format 0.0.4) for our daemons.
 *
 * Components keep their own counters (plain uint64_t updated with
 * prom_inc/prom_add, relaxed atomics, so a scrape on the HTTP thread reads
 * them safely) and write them at scrape time with the functions below.
 * Output is promtool-clean if the caller follows the naming rules: counters
 * end in _total, units are base units (_seconds, _bytes).
 *
 * Labels are a NULL-terminated array of alternating names and values:
 *   const char *l[] = {"rcode", "NOERROR", NULL};
 * Values are escaped here; names must be valid label names.
 */
#ifndef PORTICO_PROM_H
#define PORTICO_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static inline void prom_add(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline void prom_inc(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static inline uint64_t prom_get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

static inline void prom_set(uint64_t *gauge, uint64_t v)
{
    __atomic_store_n(gauge, v, __ATOMIC_RELAXED);
}

/* "# HELP" and "# TYPE" lines; type is counter, gauge or histogram. */
void prom_family(struct buf *out, const char *name, const char *type,
                 const char *help);
void prom_sample(struct buf *out, const char *name, const char *const *labels,
                 double value);
void prom_sample_u64(struct buf *out, const char *name,
                     const char *const *labels, uint64_t value);
/* Appends value to out with \\, \" and \n escaped (label value rules). */
void prom_escape_label_value(struct buf *out, const char *value);

/* A histogram with fixed bucket bounds. Observations are lock-free. */
struct prom_histogram {
    const double *bounds;   /* ascending finite upper bounds */
    size_t nbounds;
    uint64_t *counts;       /* nbounds + 1, per bucket, not cumulative */
    uint64_t count;
    uint64_t sum_nanos;     /* sum scaled by 1e9, so atomics suffice */
};

int prom_histogram_init(struct prom_histogram *h, const double *bounds,
                        size_t nbounds);
void prom_histogram_free(struct prom_histogram *h);
void prom_histogram_observe(struct prom_histogram *h, double value);
/* Adds src's counts into dst (same bounds), e.g. per-thread histograms. */
void prom_histogram_merge(struct prom_histogram *dst,
                          const struct prom_histogram *src);
/* Writes name_bucket{...,le=...}, name_sum and name_count (no header). */
void prom_histogram_write(struct buf *out, const char *name,
                          const char *const *labels,
                          const struct prom_histogram *h);

/* Bucket bounds in seconds for DNS- and HTTP-scale latencies. */
extern const double prom_latency_buckets[];
extern const size_t prom_latency_nbuckets;

#endif
