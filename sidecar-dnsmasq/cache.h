/*
 * cache.h - the answer cache: (lower-cased name, type, class) -> a stored
 * wire image of the answer, bounded in entries with LRU eviction, and the
 * TTL policy (clamping, negative TTL from the SOA, and what an entry is
 * good for as it ages: cache_state).
 *
 * One allocation per entry holds the entry, its wire image (whose question
 * name, at DNS_HEADER_LEN, is the lower-cased key) and the offsets of the
 * TTLs inside the image. A hit allocates nothing. Expired entries stay until
 * their stale window ends (serve-stale) or they are evicted.
 * Not thread-safe: one cache per worker thread.
 */
#ifndef PORTICO_CACHE_H
#define PORTICO_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache_entry {
    struct cache_entry *hnext;              /* hash chain */
    struct cache_entry *lru_prev, *lru_next;
    uint32_t hash;
    uint16_t qtype, qclass;
    uint16_t name_len;
    uint16_t image_len;
    uint16_t nttl;
    uint16_t prefetching;                   /* a refresh is in flight */
    uint32_t ttl;                           /* seconds, after clamping */
    uint64_t stored_ms;
    uint64_t expire_ms;                     /* stored_ms + ttl */
    uint64_t stale_until_ms;                /* expire_ms + stale window */
    uint64_t stale_hold_ms;                 /* upstreams failed: serve stale
                                               at once until then */
    uint16_t *ttl_offs;                     /* nttl offsets into image */
    uint8_t *image;                         /* image_len bytes */
};

/* RFC 8767: stale answers carry TTL 30; after a failed refresh the stale
 * answer is served at once (refreshing in the background) for 30 s. A hit
 * in the last tenth of its TTL is refreshed in the background (prefetch),
 * so hot names never miss. */
enum {
    CACHE_STALE_REPLY_TTL = 30,
    CACHE_STALE_RECHECK_MS = 30000,
    CACHE_PREFETCH_FRACTION = 10,
};

/* What an entry is good for at a given time. The one place where the
 * query path and the resolver decide between fresh, prefetch and stale. */
enum cache_state {
    CACHE_FRESH,        /* answer with its remaining TTL */
    CACHE_PREFETCH,     /* fresh, in the last tenth of its TTL: answer and
                           refresh in the background */
    CACHE_STALE_NOW,    /* expired, and a refresh failed less than
                           CACHE_STALE_RECHECK_MS ago: answer stale at
                           once and refresh in the background */
    CACHE_STALE,        /* expired, inside the stale window: answer only
                           when no upstream answers in time */
    CACHE_DEAD,         /* past the stale window: never answer; remove */
};

/* The state of e at now_ms. *ttl gets the TTL an answer from e carries:
 * while fresh, its remaining TTL rounded up to a whole second; once
 * expired, CACHE_STALE_REPLY_TTL. */
enum cache_state cache_state(const struct cache_entry *e, uint64_t now_ms,
                             uint32_t *ttl);
/* No upstream answered in time and e was served stale: serve it stale at
 * once (CACHE_STALE_NOW) for CACHE_STALE_RECHECK_MS. */
void cache_hold_stale(struct cache_entry *e, uint64_t now_ms);

struct cache;

/* max_entries >= 1. Returns NULL on allocation failure. */
struct cache *cache_new(size_t max_entries);
void cache_free(struct cache *c);

uint32_t cache_hash(const uint8_t *lname, size_t len, uint16_t qtype,
                    uint16_t qclass);

/* Finds the entry for the key (lname lower-case wire form), fresh or
 * expired, and marks it most recently used. NULL if absent. */
struct cache_entry *cache_lookup(struct cache *c, const uint8_t *lname,
                                 size_t len, uint16_t qtype, uint16_t qclass,
                                 uint32_t hash);

/* Stores image (whose question name is the key) replacing any entry for the
 * key, evicting the least recently used entry when full. The TTLs in the
 * stored image are all set to ttl. Returns the entry, or NULL when out of
 * memory or the image is malformed (the old entry, if any, is removed). */
struct cache_entry *cache_insert(struct cache *c, uint16_t qtype,
                                 uint16_t qclass, const uint8_t *image,
                                 size_t image_len, const uint16_t *ttl_offs,
                                 size_t nttl, uint32_t ttl, uint64_t now_ms,
                                 uint64_t stale_ms);
void cache_remove(struct cache *c, struct cache_entry *e);

size_t cache_count(const struct cache *c);
size_t cache_capacity(const struct cache *c);
/* Entries evicted to make room, since creation (read with prom_get). */
const uint64_t *cache_evictions(const struct cache *c);
/* Approximate entry count, safe to read from another thread. */
const uint64_t *cache_count_atomic(const struct cache *c);

/* TTL policy. */
uint32_t ttl_clamp(uint32_t ttl, uint32_t min_ttl, uint32_t max_ttl);
/* Negative TTL: min(soa_min, neg_ttl); soa_min < 0 means no SOA. */
uint32_t ttl_negative(int64_t soa_min, uint32_t neg_ttl);

#endif
