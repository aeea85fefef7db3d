/* resolver.c - coalesced upstream queries with failover and the EDNS
 * fallback; see resolver.h. */
#include "resolver.h"

#include <stdlib.h>
#include <string.h>

#include "edns.h"
#include "log.h"
#include "server.h"
#include "upstream.h"

enum {
    MAX_WAITERS = 1024,             /* clients behind one query */
    MAX_WAITERS_TOTAL = 65536,      /* clients waiting, per thread (~20 MB) */
    MAX_TRIES = CFG_MAX_UPSTREAMS + 1,
    MS_PER_S = 1000,
    QUERY_BUF = DNS_HEADER_LEN + DNS_MAX_NAME + DNS_QFIXED_LEN + DNS_OPT_RR_LEN,
    MIN_BUCKETS = 64,
};

struct waiter {
    struct waiter *next;
    struct reply_to rt;
    struct client_q cq;
    uint64_t t0_ns;
};

struct pending {
    struct pending *hnext;
    struct resolver *r;
    uint32_t hash;
    uint8_t lname[DNS_MAX_NAME];
    size_t nlen;
    uint16_t qtype, qclass;
    struct waiter *waiters;
    size_t nwaiters;
    struct ev_timer *try_timer, *deadline;
    struct upq *att[MAX_TRIES];     /* outstanding tries */
    uint8_t kind[MAX_TRIES];        /* enum edns_try of each */
    struct upq *last;               /* the most recent try */
    size_t ntries;
    uint32_t tried;                 /* bitmask of upstream indices */
};

struct resolver {
    struct worker *w;
    struct pending **buckets;
    size_t nbuckets;
    size_t n;
    size_t nwaiters;                /* over all pending queries */
};

struct resolver *resolver_new(struct worker *w)
{
    struct resolver *r = calloc(1, sizeof(*r));
    size_t nb = MIN_BUCKETS;

    if (!r)
        return NULL;
    while (nb < w->cfg->max_inflight)
        nb <<= 1;
    r->buckets = calloc(nb, sizeof(*r->buckets));
    if (!r->buckets) {
        free(r);
        return NULL;
    }
    r->nbuckets = nb;
    r->w = w;
    return r;
}

static void pending_free(struct pending *p, int detach)
{
    p->r->nwaiters -= p->nwaiters;
    for (struct waiter *wt = p->waiters, *next; wt; wt = next) {
        next = wt->next;
        if (wt->rt.tcp)
            server_tcp_unref(wt->rt.tcp);
        free(wt);
    }
    if (detach)
        for (size_t i = 0; i < MAX_TRIES; i++)
            if (p->att[i])
                upstream_detach(p->att[i]);
    evloop_timer_free(p->try_timer);
    evloop_timer_free(p->deadline);
    free(p);
}

void resolver_free(struct resolver *r)
{
    if (!r)
        return;
    for (size_t b = 0; b < r->nbuckets; b++)
        for (struct pending *p = r->buckets[b], *next; p; p = next) {
            next = p->hnext;
            pending_free(p, 0);     /* the upstreams are gone already */
        }
    free(r->buckets);
    free(r);
}

size_t resolver_inflight(const struct resolver *r)
{
    return r->n;
}

static struct pending *find(struct resolver *r, const uint8_t *lname,
                            size_t nlen, uint16_t qtype, uint16_t qclass,
                            uint32_t hash)
{
    for (struct pending *p = r->buckets[hash & (r->nbuckets - 1)]; p;
         p = p->hnext)
        if (p->hash == hash && p->qtype == qtype && p->qclass == qclass &&
            p->nlen == nlen && memcmp(p->lname, lname, nlen) == 0)
            return p;
    return NULL;
}

static void unlink_pending(struct pending *p)
{
    struct resolver *r = p->r;
    struct pending **pp = &r->buckets[p->hash & (r->nbuckets - 1)];

    while (*pp && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = p->hnext;
    r->n--;
    prom_set(&r->w->m.inflight, r->n);
}

/* Sends src to every waiter and frees p. */
static void serve_all(struct pending *p, const struct answer_src *src,
                      uint16_t fail_rcode)
{
    struct worker *w = p->r->w;
    uint64_t now = evloop_clock_ns();

    for (struct waiter *wt = p->waiters; wt; wt = wt->next) {
        size_t cap = wt->rt.tcp ? DNS_MAX_MSG : DNS_MAX_UDP;
        size_t len = 0;
        int trunc = 0;
        unsigned rcode = fail_rcode;

        if (src) {
            len = answer_write(w->obuf, cap, src, &wt->cq, &trunc);
            rcode = dns_get16(src->image + DNS_OFF_FLAGS) & DNS_F_RCODE;
        }
        if (!len) {
            uint8_t q[DNS_HEADER_LEN + DNS_MAX_NAME + DNS_QFIXED_LEN];

            /* Rebuild the client's question to echo it with the error. */
            memset(q, 0, DNS_HEADER_LEN);
            dns_put16(q + DNS_OFF_ID, wt->cq.id);
            dns_put16(q + DNS_OFF_FLAGS, wt->cq.flags);
            memcpy(q + DNS_HEADER_LEN, wt->cq.qname, wt->cq.qname_len);
            dns_put16(q + DNS_HEADER_LEN + wt->cq.qname_len, p->qtype);
            dns_put16(q + DNS_HEADER_LEN + wt->cq.qname_len + sizeof(uint16_t),
                      p->qclass);
            rcode = src ? DNS_R_SERVFAIL : fail_rcode;
            len = answer_error(w->obuf, cap, q,
                               DNS_HEADER_LEN + wt->cq.qname_len + DNS_QFIXED_LEN,
                               &wt->cq, rcode);
        }
        if (trunc)
            prom_inc(&w->m.truncated);
        metrics_response(&w->m, rcode);
        server_send(w->srv, &wt->rt, w->obuf, len);
        prom_histogram_observe(&w->m.request_duration,
                               (double)(now - wt->t0_ns) / 1e9);
    }
}

static void finish_failed(struct pending *p)
{
    struct worker *w = p->r->w;
    uint32_t hash = cache_hash(p->lname, p->nlen, p->qtype, p->qclass);
    struct cache_entry *e = cache_lookup(w->cache, p->lname, p->nlen,
                                         p->qtype, p->qclass, hash);
    uint64_t now = evloop_now_ms(w->loop);
    enum cache_state st = CACHE_DEAD;
    uint32_t ttl = 0;

    unlink_pending(p);
    if (e) {
        e->prefetching = 0;
        st = cache_state(e, now, &ttl);
    }
    if (st != CACHE_DEAD) {
        struct answer_src src = {
            .image = e->image, .image_len = e->image_len,
            .ttl_offs = e->ttl_offs, .nttl = e->nttl, .ttl = ttl,
        };

        if (st == CACHE_STALE || st == CACHE_STALE_NOW) {
            prom_add(&w->m.stale_served, p->nwaiters);
            cache_hold_stale(e, now);
        }
        serve_all(p, &src, DNS_R_SERVFAIL);
    } else {
        serve_all(p, NULL, DNS_R_SERVFAIL);
    }
    pending_free(p, 1);
}

static void finish_answer(struct pending *p, const struct dns_compiled *c,
                          size_t image_len)
{
    struct worker *w = p->r->w;
    const struct config *cfg = w->cfg;
    uint32_t hash = cache_hash(p->lname, p->nlen, p->qtype, p->qclass);
    struct cache_entry *old = cache_lookup(w->cache, p->lname, p->nlen,
                                           p->qtype, p->qclass, hash);
    struct cache_entry *e = NULL;
    struct answer_src src = {
        .image = w->wbuf, .image_len = image_len, .ttl_offs = c->ttl_offs,
        .nttl = 0,                  /* uncached: TTLs as received */
    };
    int negative = c->rcode == DNS_R_NXDOMAIN ||
                   (c->rcode == DNS_R_NOERROR && !c->has_answer_of_type);

    unlink_pending(p);
    if (old)
        old->prefetching = 0;
    if ((c->rcode == DNS_R_NOERROR || c->rcode == DNS_R_NXDOMAIN) &&
        !(c->flags & DNS_F_TC)) {
        uint32_t ttl = negative
            ? ttl_negative(c->soa_min, cfg->neg_ttl)
            : ttl_clamp(c->min_ttl == UINT32_MAX ? cfg->min_ttl : c->min_ttl,
                        cfg->min_ttl, cfg->max_ttl);

        if (ttl > 0)
            e = cache_insert(w->cache, p->qtype, p->qclass, w->wbuf,
                             image_len, c->ttl_offs, c->nttl, ttl,
                             evloop_now_ms(w->loop),
                             (uint64_t)cfg->stale_ttl * MS_PER_S);
        else if (old)
            cache_remove(w->cache, old);    /* do not serve it stale */
        if (e) {
            src.image = e->image;
            src.image_len = e->image_len;
            src.ttl_offs = e->ttl_offs;
            src.nttl = e->nttl;
            src.ttl = e->ttl;
        }
    }
    serve_all(p, &src, DNS_R_SERVFAIL);
    pending_free(p, 1);
}

static void attempt_next(struct pending *p);

/* The slot of try q, or MAX_TRIES if it is not one of p's. */
static size_t try_slot(const struct pending *p, const struct upq *q)
{
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->att[i] == q)
            return i;
    return MAX_TRIES;
}

static void forget_try(struct pending *p, struct upq *q)
{
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->att[i] == q)
            p->att[i] = NULL;
    if (p->last == q)
        p->last = NULL;
}

static int outstanding(const struct pending *p)
{
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->att[i])
            return 1;
    return 0;
}

static void on_answer(void *arg, struct upq *q, enum upq_status st,
                      const uint8_t *abuf, size_t alen);

/* The EDNS try in slot of upstream up was answered FORMERR or NOTIMP: asks
 * the same upstream again without EDNS, in the same slot (it is not a
 * failure and uses up no try). Returns 1 if sent. */
static int send_fallback(struct pending *p, size_t slot, size_t up,
                         int was_last)
{
    struct worker *w = p->r->w;
    uint8_t qb[QUERY_BUF];
    struct upq *q;
    int len = dns_query_build(qb, sizeof(qb), upstream_new_id(w->ups),
                              p->lname, p->nlen, p->qtype, p->qclass, 0);

    upstream_note_edns_fallback(w->ups, up);
    if (!(q = upstream_send(w->ups, up, qb, (size_t)len, on_answer, p)))
        return 0;
    p->att[slot] = q;
    p->kind[slot] = EDNS_TRY_FALLBACK;
    if (was_last) {
        p->last = q;
        evloop_timer_start(p->try_timer, upstream_try_timeout_ms(w->ups, up));
    }
    return 1;
}

static void on_answer(void *arg, struct upq *q, enum upq_status st,
                      const uint8_t *abuf, size_t alen)
{
    struct pending *p = arg;
    struct worker *w = p->r->w;
    int was_last = p->last == q;
    size_t up = upstream_index(q);
    size_t slot = try_slot(p, q);
    enum edns_try kind = slot < MAX_TRIES ? p->kind[slot] : EDNS_TRY_PLAIN;

    forget_try(p, q);
    if (st == UPQ_ANSWER) {
        struct dns_compiled c;
        enum edns_verdict v = alen >= DNS_HEADER_LEN
            ? edns_verdict(kind, dns_get16(abuf + DNS_OFF_FLAGS) & DNS_F_RCODE)
            : EDNS_ANSWER;

        if (v == EDNS_RETRY_PLAIN && send_fallback(p, slot, up, was_last))
            return;
        dnsw_init(w->wr, w->wbuf, DNS_MAX_MSG);
        if (dns_response_compile(abuf, alen, p->lname, p->nlen, p->qtype,
                                 p->qclass, w->wr, &c) < 0) {
            upstream_note_failure(w->ups, up, UF_MALFORMED);
        } else if (c.rcode != DNS_R_SERVFAIL && c.rcode != DNS_R_REFUSED) {
            if (v == EDNS_REMEMBER_PLAIN)
                upstream_note_no_edns(w->ups, up);
            finish_answer(p, &c, w->wr->len);
            return;
        }
        /* SERVFAIL/REFUSED were counted by the upstream layer. */
    }
    if (was_last || !outstanding(p)) {
        evloop_timer_stop(p->try_timer);
        attempt_next(p);
    }
}

static void attempt_next(struct pending *p)
{
    struct worker *w = p->r->w;
    size_t order[CFG_MAX_UPSTREAMS];
    size_t n = upstream_order(w->ups, order, CFG_MAX_UPSTREAMS);
    uint8_t qb[QUERY_BUF];

    while (p->ntries < n + 1 && p->ntries < MAX_TRIES) {
        size_t pick = order[0];
        struct upq *q;
        int len, edns;

        for (size_t k = 0; k < n; k++)
            if (!(p->tried & (1u << order[k]))) {
                pick = order[k];
                break;
            }
        p->tried |= 1u << pick;
        edns = upstream_edns_ok(w->ups, pick);
        len = dns_query_build(qb, sizeof(qb), upstream_new_id(w->ups),
                              p->lname, p->nlen, p->qtype, p->qclass,
                              edns ? DNS_EDNS_UDP : 0);
        q = upstream_send(w->ups, pick, qb, (size_t)len, on_answer, p);
        p->kind[p->ntries] = edns ? EDNS_TRY_EDNS : EDNS_TRY_PLAIN;
        p->att[p->ntries++] = q;
        if (q) {
            p->last = q;
            evloop_timer_start(p->try_timer,
                               upstream_try_timeout_ms(w->ups, pick));
            return;
        }
    }
    if (!outstanding(p))
        finish_failed(p);
    /* else: earlier tries may still answer before the deadline */
}

static void on_try_timeout(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct pending *p = arg;

    if (p->last)
        upstream_try_timeout(p->r->w->ups, p->last);
    attempt_next(p);
}

static void on_deadline(struct evloop *loop, struct ev_timer *t, void *arg)
{
    finish_failed(arg);
}

static struct pending *start(struct resolver *r, const uint8_t *lname,
                             size_t nlen, uint16_t qtype, uint16_t qclass,
                             uint32_t hash)
{
    struct worker *w = r->w;
    struct pending *p;

    if (r->n >= w->cfg->max_inflight || !(p = calloc(1, sizeof(*p))))
        return NULL;
    p->r = r;
    p->hash = hash;
    memcpy(p->lname, lname, nlen);
    p->nlen = nlen;
    p->qtype = qtype;
    p->qclass = qclass;
    p->try_timer = evloop_timer_new(w->loop, on_try_timeout, p);
    p->deadline = evloop_timer_new(w->loop, on_deadline, p);
    if (!p->try_timer || !p->deadline) {
        evloop_timer_free(p->try_timer);
        evloop_timer_free(p->deadline);
        free(p);
        return NULL;
    }
    p->hnext = r->buckets[hash & (r->nbuckets - 1)];
    r->buckets[hash & (r->nbuckets - 1)] = p;
    r->n++;
    prom_set(&w->m.inflight, r->n);
    evloop_timer_start(p->deadline, w->cfg->query_timeout_ms);
    return p;
}

int resolver_query(struct resolver *r, const struct dns_query *q,
                   const struct client_q *cq, const struct reply_to *rt,
                   uint64_t t0_ns)
{
    uint32_t hash = cache_hash(q->lname, q->qname_len, q->qtype, q->qclass);
    struct pending *p = find(r, q->lname, q->qname_len, q->qtype, q->qclass,
                             hash);
    struct waiter *wt;
    int fresh = 0;

    if (r->nwaiters >= MAX_WAITERS_TOTAL)
        return -1;
    if (p) {
        if (p->nwaiters >= MAX_WAITERS)
            return -1;
        prom_inc(&r->w->m.coalesced);
    } else {
        if (!(p = start(r, q->lname, q->qname_len, q->qtype, q->qclass, hash)))
            return -1;
        fresh = 1;
    }
    if (!(wt = malloc(sizeof(*wt)))) {
        if (fresh)
            finish_failed(p);       /* no waiters: just cleans up */
        return -1;
    }
    wt->rt = *rt;
    wt->cq = *cq;
    wt->t0_ns = t0_ns;
    wt->next = p->waiters;
    p->waiters = wt;
    p->nwaiters++;
    r->nwaiters++;
    if (rt->tcp)
        server_tcp_ref(rt->tcp);
    if (fresh)
        attempt_next(p);            /* may answer (and free p) at once */
    return 0;
}

int resolver_prefetch(struct resolver *r, const uint8_t *lname, size_t nlen,
                      uint16_t qtype, uint16_t qclass)
{
    uint32_t hash = cache_hash(lname, nlen, qtype, qclass);
    struct pending *p;

    if (find(r, lname, nlen, qtype, qclass, hash))
        return 0;
    if (!(p = start(r, lname, nlen, qtype, qclass, hash)))
        return -1;
    prom_inc(&r->w->m.prefetches);
    attempt_next(p);                /* may finish (and clear the flag) now */
    return 0;
}
