/* cache.c - chained hash table + intrusive LRU list, and the TTL policy;
 * see cache.h. */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "dnswire.h"
#include "hash.h"
#include "prom.h"

enum { MS_PER_S = 1000, MIN_BUCKETS = 16, BUCKETS_PER_ENTRY = 2 };

struct cache {
    struct cache_entry **buckets;
    size_t nbuckets;            /* power of two, >= 2 * max */
    size_t count, max;
    struct cache_entry *lru_head, *lru_tail;  /* head = most recent */
    uint64_t evictions;
    uint64_t count_pub;         /* count, published atomically */
};

struct cache *cache_new(size_t max_entries)
{
    struct cache *c = calloc(1, sizeof(*c));
    size_t n = MIN_BUCKETS;

    if (!c || max_entries == 0) {
        free(c);
        return NULL;
    }
    while (n < max_entries * BUCKETS_PER_ENTRY)
        n <<= 1;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (!c->buckets) {
        free(c);
        return NULL;
    }
    c->nbuckets = n;
    c->max = max_entries;
    return c;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (struct cache_entry *e = c->lru_head, *next; e; e = next) {
        next = e->lru_next;
        free(e);
    }
    free(c->buckets);
    free(c);
}

uint32_t cache_hash(const uint8_t *lname, size_t len, uint16_t qtype,
                    uint16_t qclass)
{
    /* FNV-1a over the name, then mix in type and class. */
    uint32_t h = hash_fnv1a32(HASH_FNV1A32_INIT, lname, len);

    h ^= (uint32_t)qtype << 16 | qclass;
    h *= HASH_FNV1A32_PRIME;
    h ^= h >> 15;
    return h;
}

static void lru_unlink(struct cache *c, struct cache_entry *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct cache *c, struct cache_entry *e)
{
    e->lru_prev = NULL;
    e->lru_next = c->lru_head;
    if (c->lru_head)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static int key_equal(const struct cache_entry *e, const uint8_t *lname,
                     size_t len, uint16_t qtype, uint16_t qclass,
                     uint32_t hash)
{
    return e->hash == hash && e->qtype == qtype && e->qclass == qclass &&
           e->name_len == len &&
           memcmp(e->image + DNS_HEADER_LEN, lname, len) == 0;
}

struct cache_entry *cache_lookup(struct cache *c, const uint8_t *lname,
                                 size_t len, uint16_t qtype, uint16_t qclass,
                                 uint32_t hash)
{
    struct cache_entry *e = c->buckets[hash & (c->nbuckets - 1)];

    for (; e; e = e->hnext) {
        if (key_equal(e, lname, len, qtype, qclass, hash)) {
            if (c->lru_head != e) {
                lru_unlink(c, e);
                lru_push_front(c, e);
            }
            return e;
        }
    }
    return NULL;
}

void cache_remove(struct cache *c, struct cache_entry *e)
{
    struct cache_entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];

    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->count--;
    prom_set(&c->count_pub, c->count);
    free(e);
}

struct cache_entry *cache_insert(struct cache *c, uint16_t qtype,
                                 uint16_t qclass, const uint8_t *image,
                                 size_t image_len, const uint16_t *ttl_offs,
                                 size_t nttl, uint32_t ttl, uint64_t now_ms,
                                 uint64_t stale_ms)
{
    size_t off = DNS_HEADER_LEN;
    uint8_t lname[DNS_MAX_NAME];
    struct cache_entry *e;
    uint32_t hash;
    int n;

    if (image_len > UINT16_MAX || nttl > UINT16_MAX)
        return NULL;
    n = dns_name_read(image, image_len, &off, lname);
    if (n < 0 || off - DNS_HEADER_LEN != (size_t)n)
        return NULL;
    hash = cache_hash(lname, (size_t)n, qtype, qclass);
    e = cache_lookup(c, lname, (size_t)n, qtype, qclass, hash);
    if (e)
        cache_remove(c, e);
    while (c->count >= c->max && c->lru_tail) {
        cache_remove(c, c->lru_tail);
        prom_inc(&c->evictions);
    }

    e = malloc(sizeof(*e) + nttl * sizeof(uint16_t) + image_len);
    if (!e)
        return NULL;
    memset(e, 0, sizeof(*e));
    e->ttl_offs = (uint16_t *)(e + 1);
    e->image = (uint8_t *)(e->ttl_offs + nttl);
    memcpy(e->ttl_offs, ttl_offs, nttl * sizeof(uint16_t));
    memcpy(e->image, image, image_len);
    for (size_t i = 0; i < nttl; i++) {
        if ((size_t)ttl_offs[i] + DNS_TTL_LEN > image_len) {
            free(e);
            return NULL;
        }
        dns_put32(e->image + ttl_offs[i], ttl);
    }
    e->hash = hash;
    e->qtype = qtype;
    e->qclass = qclass;
    e->name_len = (uint16_t)n;
    e->image_len = (uint16_t)image_len;
    e->nttl = (uint16_t)nttl;
    e->ttl = ttl;
    e->stored_ms = now_ms;
    e->expire_ms = now_ms + (uint64_t)ttl * MS_PER_S;
    e->stale_until_ms = e->expire_ms + stale_ms;

    size_t b = hash & (c->nbuckets - 1);
    e->hnext = c->buckets[b];
    c->buckets[b] = e;
    lru_push_front(c, e);
    c->count++;
    prom_set(&c->count_pub, c->count);
    return e;
}

size_t cache_count(const struct cache *c)
{
    return c->count;
}

size_t cache_capacity(const struct cache *c)
{
    return c->max;
}

const uint64_t *cache_evictions(const struct cache *c)
{
    return &c->evictions;
}

const uint64_t *cache_count_atomic(const struct cache *c)
{
    return &c->count_pub;
}

uint32_t ttl_clamp(uint32_t ttl, uint32_t min_ttl, uint32_t max_ttl)
{
    if (ttl < min_ttl)
        ttl = min_ttl;
    if (ttl > max_ttl)
        ttl = max_ttl;
    return ttl;
}

uint32_t ttl_negative(int64_t soa_min, uint32_t neg_ttl)
{
    if (soa_min >= 0 && (uint64_t)soa_min < neg_ttl)
        return (uint32_t)soa_min;
    return neg_ttl;
}

enum cache_state cache_state(const struct cache_entry *e, uint64_t now_ms,
                             uint32_t *ttl)
{
    if (now_ms < e->expire_ms) {
        uint64_t left_ms = e->expire_ms - now_ms;

        *ttl = (uint32_t)((left_ms + MS_PER_S - 1) / MS_PER_S);
        return left_ms * CACHE_PREFETCH_FRACTION <= (uint64_t)e->ttl * MS_PER_S
                   ? CACHE_PREFETCH : CACHE_FRESH;
    }
    *ttl = CACHE_STALE_REPLY_TTL;
    if (now_ms >= e->stale_until_ms)
        return CACHE_DEAD;
    return now_ms < e->stale_hold_ms ? CACHE_STALE_NOW : CACHE_STALE;
}

void cache_hold_stale(struct cache_entry *e, uint64_t now_ms)
{
    e->stale_hold_ms = now_ms + CACHE_STALE_RECHECK_MS;
}
