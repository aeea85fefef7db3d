/* resolver.c - coalesced upstream queries with failover, the cache fill and
 * serve-stale; see resolver.h.
 *
 * A query's clock: the per-try timeouts (upstream.c) ask one upstream after
 * another; at --stale-timeout the waiting clients get the stale answer if
 * there is one; at --timeout the query ends (stale or SERVFAIL). An answer
 * that comes at any time before --timeout is taken: cached, and sent to
 * the clients still waiting. */
#include "resolver.h"

#include <stdlib.h>
#include <string.h>

#include "answer.h"

enum {
    MAX_WAITERS = 1024,             /* clients behind one query */
    MAX_WAITERS_TOTAL = 65536,      /* clients waiting, per thread (~20 MB) */
    MAX_TRIES = CFG_MAX_UPSTREAMS + 1,
    MS_PER_S = 1000,
    MIN_BUCKETS = 64,
};

struct waiter {
    struct waiter *next;
    struct reply_to rt;
    struct client_q cq;
};

struct pending {
    struct pending *hnext;
    struct resolver *r;
    uint32_t hash;
    struct dns_question q;
    struct waiter *waiters;
    size_t nwaiters;
    struct ev_timer *stale_timer;   /* --stale-timeout: clients get stale */
    struct ev_timer *deadline;      /* --timeout: the query ends */
    struct upq *tries[MAX_TRIES];   /* outstanding tries */
    struct upq *last;               /* the most recent try */
    size_t ntries;
    uint32_t tried;                 /* bitmask of upstream indices */
};

struct resolver {
    struct evloop *loop;
    const struct config *cfg;
    struct cache *cache;
    struct worker_metrics *m;
    struct upstream_iface ups;
    struct resolver_sink sink;
    uint8_t *obuf;                  /* DNS_MAX_MSG: one client's answer */
    struct pending **buckets;
    size_t nbuckets;
    size_t n;
    size_t nwaiters;                /* over all pending queries */
};

struct resolver *resolver_new(struct evloop *loop, const struct config *cfg,
                              struct cache *cache, struct worker_metrics *m,
                              const struct upstream_iface *ups,
                              const struct resolver_sink *sink)
{
    struct resolver *r = calloc(1, sizeof(*r));
    size_t nb = MIN_BUCKETS;

    if (!r)
        return NULL;
    while (nb < cfg->max_inflight)
        nb <<= 1;
    r->buckets = calloc(nb, sizeof(*r->buckets));
    r->obuf = malloc(DNS_MAX_MSG);
    if (!r->buckets || !r->obuf) {
        free(r->buckets);
        free(r->obuf);
        free(r);
        return NULL;
    }
    r->nbuckets = nb;
    r->loop = loop;
    r->cfg = cfg;
    r->cache = cache;
    r->m = m;
    r->ups = *ups;
    r->sink = *sink;
    return r;
}

/* Frees p, replying NULL to clients still waiting (none, but on
 * shutdown), and cancels its tries. */
static void pending_free(struct pending *p)
{
    struct resolver *r = p->r;

    r->nwaiters -= p->nwaiters;
    for (struct waiter *wt = p->waiters, *next; wt; wt = next) {
        next = wt->next;
        r->sink.reply(r->sink.arg, &wt->rt, NULL, 0);
        free(wt);
    }
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->tries[i])
            r->ups.cancel(r->ups.impl, p->tries[i]);
    evloop_timer_free(p->stale_timer);
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
            pending_free(p);
        }
    free(r->buckets);
    free(r->obuf);
    free(r);
}

static struct pending *find(struct resolver *r,
                            const struct dns_question *q, uint32_t hash)
{
    for (struct pending *p = r->buckets[hash & (r->nbuckets - 1)]; p;
         p = p->hnext)
        if (p->hash == hash && p->q.qtype == q->qtype &&
            p->q.qclass == q->qclass && p->q.len == q->len &&
            memcmp(p->q.name, q->name, q->len) == 0)
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
    prom_set(&r->m->inflight, r->n);
}

/* The cache entry for p's question, fresh or not; NULL if none. */
static struct cache_entry *cached(const struct pending *p)
{
    return cache_lookup(p->r->cache, p->q.name, p->q.len, p->q.qtype,
                        p->q.qclass, p->hash);
}

/* Sends src (or, when src is NULL or cannot be shaped for a client, an
 * error with fail_rcode) to every waiting client; none waits afterwards. */
static void answer_waiters(struct pending *p, const struct answer_src *src,
                           uint16_t fail_rcode)
{
    struct resolver *r = p->r;

    for (struct waiter *wt = p->waiters, *next; wt; wt = next) {
        size_t cap = wt->rt.tcp ? DNS_MAX_MSG : DNS_MAX_UDP;
        size_t len = 0;
        int trunc = 0;
        unsigned rcode = fail_rcode;

        next = wt->next;
        if (src) {
            len = answer_write(r->obuf, cap, src, &wt->cq, &trunc);
            rcode = dns_get16(src->image + DNS_OFF_FLAGS) & DNS_F_RCODE;
        }
        if (!len) {
            uint8_t q[DNS_HEADER_LEN + DNS_MAX_NAME + DNS_QFIXED_LEN];

            /* Rebuild the client's question to echo it with the error. */
            memset(q, 0, DNS_HEADER_LEN);
            dns_put16(q + DNS_OFF_ID, wt->cq.id);
            dns_put16(q + DNS_OFF_FLAGS, wt->cq.flags);
            memcpy(q + DNS_HEADER_LEN, wt->cq.qname, wt->cq.qname_len);
            dns_put16(q + DNS_HEADER_LEN + wt->cq.qname_len, p->q.qtype);
            dns_put16(q + DNS_HEADER_LEN + wt->cq.qname_len + sizeof(uint16_t),
                      p->q.qclass);
            rcode = src ? DNS_R_SERVFAIL : fail_rcode;
            len = answer_error(r->obuf, cap, q,
                               DNS_HEADER_LEN + wt->cq.qname_len + DNS_QFIXED_LEN,
                               &wt->cq, rcode);
        }
        if (trunc)
            prom_inc(&r->m->truncated);
        metrics_response(r->m, rcode);
        r->sink.reply(r->sink.arg, &wt->rt, r->obuf, len);
        free(wt);
    }
    r->nwaiters -= p->nwaiters;
    p->waiters = NULL;
    p->nwaiters = 0;
}

/* Waiting clients get entry e while it is fresh or stale (RFC 8767: a
 * stale answer is counted, and served at once to the next clients for
 * the failure recheck time). Returns -1 if e is past its stale window. */
static int answer_from_cache(struct pending *p, struct cache_entry *e)
{
    uint64_t now = evloop_now_ms(p->r->loop);
    uint32_t ttl;
    enum cache_state st = cache_state(e, now, &ttl);
    struct answer_src src = {
        .image = e->image, .image_len = e->image_len,
        .ttl_offs = e->ttl_offs, .nttl = e->nttl, .ttl = ttl,
    };

    if (st == CACHE_DEAD)
        return -1;
    if (st == CACHE_STALE || st == CACHE_STALE_NOW) {
        prom_add(&p->r->m->stale_served, p->nwaiters);
        cache_hold_stale(e, now);
    }
    answer_waiters(p, &src, DNS_R_SERVFAIL);
    return 0;
}

/* No upstream will answer: waiting clients get the cached entry while it
 * is fresh or stale, else SERVFAIL. */
static void finish_failed(struct pending *p)
{
    struct cache_entry *e = cached(p);

    unlink_pending(p);
    if (e)
        e->prefetching = 0;
    if (!e || answer_from_cache(p, e) < 0)
        answer_waiters(p, NULL, DNS_R_SERVFAIL);
    pending_free(p);
}

/* An upstream answered: cache it (with the clamped or negative TTL) and
 * send it to every waiting client. */
static void finish_answer(struct pending *p, const struct upq_answer *a)
{
    struct resolver *r = p->r;
    const struct config *cfg = r->cfg;
    const struct dns_compiled *c = a->c;
    struct cache_entry *old = cached(p), *e = NULL;
    struct answer_src src = {
        .image = a->image, .image_len = a->len, .ttl_offs = c->ttl_offs,
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
            e = cache_insert(r->cache, p->q.qtype, p->q.qclass, a->image, a->len,
                             c->ttl_offs, c->nttl, ttl,
                             evloop_now_ms(r->loop),
                             (uint64_t)cfg->stale_ttl * MS_PER_S);
        else if (old)
            cache_remove(r->cache, old);    /* do not serve it stale */
        if (e) {
            src.image = e->image;
            src.image_len = e->image_len;
            src.ttl_offs = e->ttl_offs;
            src.nttl = e->nttl;
            src.ttl = e->ttl;
        }
    }
    answer_waiters(p, &src, DNS_R_SERVFAIL);
    pending_free(p);
}

static void forget_try(struct pending *p, struct upq *q)
{
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->tries[i] == q)
            p->tries[i] = NULL;
    if (p->last == q)
        p->last = NULL;
}

static int outstanding(const struct pending *p)
{
    for (size_t i = 0; i < MAX_TRIES; i++)
        if (p->tries[i])
            return 1;
    return 0;
}

static void attempt_next(struct pending *p);

static void on_upstream(void *arg, struct upq *q, enum upq_status st,
                        const struct upq_answer *a)
{
    struct pending *p = arg;
    int was_last = p->last == q;

    if (st == UPQ_SLOW) {
        if (was_last)
            attempt_next(p);        /* also ask the next upstream */
        return;
    }
    forget_try(p, q);
    if (st == UPQ_ANSWER)
        finish_answer(p, a);
    else if (was_last || !outstanding(p))
        attempt_next(p);
}

/* Sends the next try: each upstream once, healthiest first, then the best
 * one again. With none left, and none outstanding, the query has failed. */
static void attempt_next(struct pending *p)
{
    struct resolver *r = p->r;
    size_t order[CFG_MAX_UPSTREAMS];
    size_t n = r->ups.order(r->ups.impl, order, CFG_MAX_UPSTREAMS);

    while (p->ntries < n + 1 && p->ntries < MAX_TRIES) {
        size_t pick = order[0];
        struct upq *q;

        for (size_t k = 0; k < n; k++)
            if (!(p->tried & (1u << order[k]))) {
                pick = order[k];
                break;
            }
        p->tried |= 1u << pick;
        q = r->ups.send(r->ups.impl, pick, &p->q, on_upstream, p);
        p->tries[p->ntries++] = q;
        if (q) {
            p->last = q;
            return;
        }
    }
    if (!outstanding(p))
        finish_failed(p);
    /* else: earlier tries may still answer before the deadline */
}

/* --stale-timeout passed without an answer (RFC 8767's client response
 * timer): clients waiting get the stale entry if there is one. The query
 * goes on until --timeout: an answer until then is cached, and sent to
 * the clients still waiting (those without a stale answer). */
static void on_stale_timeout(struct evloop *loop, struct ev_timer *t,
                             void *arg)
{
    struct pending *p = arg;
    struct cache_entry *e = cached(p);

    if (e)
        answer_from_cache(p, e);
}

static void on_deadline(struct evloop *loop, struct ev_timer *t, void *arg)
{
    finish_failed(arg);
}

static struct pending *start(struct resolver *r,
                             const struct dns_question *q, uint32_t hash)
{
    struct pending *p;

    if (r->n >= r->cfg->max_inflight || !(p = calloc(1, sizeof(*p))))
        return NULL;
    p->r = r;
    p->hash = hash;
    p->q = *q;
    p->stale_timer = evloop_timer_new(r->loop, on_stale_timeout, p);
    p->deadline = evloop_timer_new(r->loop, on_deadline, p);
    if (!p->stale_timer || !p->deadline) {
        evloop_timer_free(p->stale_timer);
        evloop_timer_free(p->deadline);
        free(p);
        return NULL;
    }
    p->hnext = r->buckets[hash & (r->nbuckets - 1)];
    r->buckets[hash & (r->nbuckets - 1)] = p;
    r->n++;
    prom_set(&r->m->inflight, r->n);
    if (r->cfg->stale_ttl && r->cfg->stale_timeout_ms < r->cfg->query_timeout_ms)
        evloop_timer_start(p->stale_timer, r->cfg->stale_timeout_ms);
    evloop_timer_start(p->deadline, r->cfg->query_timeout_ms);
    return p;
}

int resolver_query(struct resolver *r, const struct dns_query *q,
                   const struct client_q *cq, const struct reply_to *rt)
{
    struct dns_question qn;
    uint32_t hash;
    struct pending *p;
    struct waiter *wt;
    int fresh = 0;

    if (r->nwaiters >= MAX_WAITERS_TOTAL ||
        dns_question_set(&qn, q->lname, q->qname_len, q->qtype,
                         q->qclass) < 0)
        return -1;
    hash = cache_hash(qn.name, qn.len, qn.qtype, qn.qclass);
    if ((p = find(r, &qn, hash))) {
        if (p->nwaiters >= MAX_WAITERS)
            return -1;
        prom_inc(&r->m->coalesced);
    } else {
        if (!(p = start(r, &qn, hash)))
            return -1;
        fresh = 1;
    }
    if (!(wt = malloc(sizeof(*wt)))) {
        if (fresh) {
            unlink_pending(p);      /* no waiters, no tries: just free */
            pending_free(p);
        }
        return -1;
    }
    wt->rt = *rt;
    wt->cq = *cq;
    wt->next = p->waiters;
    p->waiters = wt;
    p->nwaiters++;
    r->nwaiters++;
    if (fresh)
        attempt_next(p);            /* may answer (and free p) at once */
    return 0;
}

int resolver_prefetch(struct resolver *r, const uint8_t *lname, size_t nlen,
                      uint16_t qtype, uint16_t qclass)
{
    struct dns_question qn;
    uint32_t hash;
    struct pending *p;

    if (dns_question_set(&qn, lname, nlen, qtype, qclass) < 0)
        return -1;
    hash = cache_hash(qn.name, qn.len, qn.qtype, qn.qclass);
    if (find(r, &qn, hash))
        return 0;
    if (!(p = start(r, &qn, hash)))
        return -1;
    prom_inc(&r->m->prefetches);
    attempt_next(p);                /* may finish (and clear the flag) now */
    return 0;
}
