/* prom.c - see prom.h. */
#include "prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double prom_latency_buckets[] = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t prom_latency_nbuckets =
    sizeof(prom_latency_buckets) / sizeof(prom_latency_buckets[0]);

static void escape_help(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

void prom_escape_label_value(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '"')
            buf_puts(out, "\\\"");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else
            buf_append(out, s, 1);
    }
}

void prom_family(struct buf *out, const char *name, const char *type,
                 const char *help)
{
    buf_printf(out, "# HELP %s ", name);
    escape_help(out, help);
    buf_printf(out, "\n# TYPE %s %s\n", name, type);
}

static void write_labels(struct buf *out, const char *const *labels,
                         const char *le)
{
    int first = 1;

    if ((!labels || !labels[0]) && !le)
        return;
    buf_puts(out, "{");
    for (size_t i = 0; labels && labels[i] && labels[i + 1]; i += 2) {
        buf_printf(out, "%s%s=\"", first ? "" : ",", labels[i]);
        prom_escape_label_value(out, labels[i + 1]);
        buf_puts(out, "\"");
        first = 0;
    }
    if (le)
        buf_printf(out, "%sle=\"%s\"", first ? "" : ",", le);
    buf_puts(out, "}");
}

static void write_double(struct buf *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        buf_printf(out, "%.17g", v);
}

void prom_sample(struct buf *out, const char *name, const char *const *labels,
                 double value)
{
    buf_puts(out, name);
    write_labels(out, labels, NULL);
    buf_puts(out, " ");
    write_double(out, value);
    buf_puts(out, "\n");
}

void prom_sample_u64(struct buf *out, const char *name,
                     const char *const *labels, uint64_t value)
{
    buf_puts(out, name);
    write_labels(out, labels, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)value);
}

int prom_histogram_init(struct prom_histogram *h, const double *bounds,
                        size_t nbounds)
{
    memset(h, 0, sizeof(*h));
    h->counts = calloc(nbounds + 1, sizeof(*h->counts));
    if (!h->counts)
        return -1;
    h->bounds = bounds;
    h->nbounds = nbounds;
    return 0;
}

void prom_histogram_free(struct prom_histogram *h)
{
    free(h->counts);
    memset(h, 0, sizeof(*h));
}

void prom_histogram_observe(struct prom_histogram *h, double value)
{
    size_t i = 0;

    /* Linear scan: bucket lists are short and the first buckets hot. */
    while (i < h->nbounds && value > h->bounds[i])
        i++;
    prom_inc(&h->counts[i]);
    prom_inc(&h->count);
    if (value > 0)
        prom_add(&h->sum_nanos, (uint64_t)llround(value * 1e9));
}

void prom_histogram_merge(struct prom_histogram *dst,
                          const struct prom_histogram *src)
{
    size_t n = dst->nbounds < src->nbounds ? dst->nbounds : src->nbounds;

    for (size_t i = 0; i <= n; i++)
        prom_add(&dst->counts[i], prom_get(&src->counts[i]));
    prom_add(&dst->count, prom_get(&src->count));
    prom_add(&dst->sum_nanos, prom_get(&src->sum_nanos));
}

void prom_histogram_write(struct buf *out, const char *name,
                          const char *const *labels,
                          const struct prom_histogram *h)
{
    char le[64];
    uint64_t cumulative = 0, total;
    size_t nlen = strlen(name);
    char *series = malloc(nlen + sizeof("_bucket"));

    if (!series) {
        out->failed = 1;
        return;
    }
    memcpy(series, name, nlen);
    memcpy(series + nlen, "_bucket", sizeof("_bucket"));
    for (size_t i = 0; i < h->nbounds; i++) {
        cumulative += prom_get(&h->counts[i]);
        snprintf(le, sizeof(le), "%g", h->bounds[i]);
        buf_puts(out, series);
        write_labels(out, labels, le);
        buf_printf(out, " %llu\n", (unsigned long long)cumulative);
    }
    cumulative += prom_get(&h->counts[h->nbounds]);
    /* +Inf must equal _count; use the bucket sum so a scrape racing an
     * observation still produces a consistent histogram. */
    total = cumulative;
    buf_puts(out, series);
    write_labels(out, labels, "+Inf");
    buf_printf(out, " %llu\n", (unsigned long long)total);

    memcpy(series + nlen, "_sum", sizeof("_sum"));
    buf_puts(out, series);
    write_labels(out, labels, NULL);
    buf_puts(out, " ");
    write_double(out, (double)prom_get(&h->sum_nanos) / 1e9);
    buf_puts(out, "\n");

    memcpy(series + nlen, "_count", sizeof("_count"));
    buf_puts(out, series);
    write_labels(out, labels, NULL);
    buf_printf(out, " %llu\n", (unsigned long long)total);
    free(series);
}
