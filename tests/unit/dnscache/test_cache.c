/* Unit tests for the answer cache (keying, LRU, bounds), the TTL policy
 * (clamping, negative TTL, fresh/prefetch/stale as an entry ages) and
 * hosts-file parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sidecar-dnsmasq/cache.h"
#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/hosts.h"

/* A minimal image: header, question, one A record with TTL at ttl_off. */
static size_t make_image(uint8_t *img, const char *text, uint16_t type,
                         uint16_t *ttl_off)
{
    uint8_t name[DNS_MAX_NAME];
    int n = dns_name_from_text(text, name);
    size_t off = DNS_HEADER_LEN;

    assert_true(n > 0);
    memset(img, 0, DNS_HEADER_LEN);
    dns_put16(img + DNS_OFF_FLAGS, DNS_F_QR);
    dns_put16(img + DNS_OFF_QD, 1);
    dns_put16(img + DNS_OFF_AN, 1);
    memcpy(img + off, name, (size_t)n);
    off += (size_t)n;
    dns_put16(img + off, type); dns_put16(img + off + 2, DNS_C_IN);
    off += 4;
    img[off++] = 0xC0; img[off++] = DNS_HEADER_LEN;
    dns_put16(img + off, type); dns_put16(img + off + 2, DNS_C_IN);
    *ttl_off = (uint16_t)(off + 4);
    dns_put32(img + off + 4, 999);
    dns_put16(img + off + 8, 4);
    off += 10;
    memcpy(img + off, "\x0a\x00\x00\x01", 4);
    return off + 4;
}

static struct cache_entry *put_stale(struct cache *c, const char *name,
                                     uint16_t type, uint32_t ttl,
                                     uint64_t now, uint64_t stale_ms)
{
    uint8_t img[512];
    uint16_t toff;
    size_t len = make_image(img, name, type, &toff);

    return cache_insert(c, type, DNS_C_IN, img, len, &toff, 1, ttl, now,
                        stale_ms);
}

static struct cache_entry *put(struct cache *c, const char *name,
                               uint16_t type, uint32_t ttl, uint64_t now)
{
    return put_stale(c, name, type, ttl, now, 0);
}

static struct cache_entry *get(struct cache *c, const char *text,
                               uint16_t type)
{
    uint8_t name[DNS_MAX_NAME];
    int n = dns_name_from_text(text, name);

    return cache_lookup(c, name, (size_t)n, type, DNS_C_IN,
                        cache_hash(name, (size_t)n, type, DNS_C_IN));
}

static void cache_keys_on_name_type_and_ignores_case(void **state)
{
    struct cache *c = cache_new(16);
    struct cache_entry *e;

    assert_non_null(put(c, "web.default.svc.cluster.local", DNS_T_A, 30, 1000));
    /* dns_name_from_text lower-cases, like the query path does. */
    e = get(c, "WEB.Default.svc.cluster.local", DNS_T_A);
    assert_non_null(e);
    assert_int_equal(e->ttl, 30);
    assert_int_equal(e->expire_ms, 1000 + 30 * 1000);
    assert_null(get(c, "web.default.svc.cluster.local", DNS_T_AAAA));
    assert_null(get(c, "web2.default.svc.cluster.local", DNS_T_A));
    /* The stored TTLs are rewritten to the entry's TTL. */
    assert_int_equal(dns_get32(e->image + e->ttl_offs[0]), 30);
    assert_int_equal(cache_count(c), 1);
    cache_free(c);
}

static void cache_replaces_an_entry_for_the_same_key(void **state)
{
    struct cache *c = cache_new(16);

    put(c, "a.example", DNS_T_A, 10, 0);
    put(c, "a.example", DNS_T_A, 20, 5);
    assert_int_equal(cache_count(c), 1);
    assert_int_equal(get(c, "a.example", DNS_T_A)->ttl, 20);
    cache_free(c);
}

static void cache_evicts_least_recently_used_at_the_bound(void **state)
{
    struct cache *c = cache_new(3);

    put(c, "a.example", DNS_T_A, 30, 0);
    put(c, "b.example", DNS_T_A, 30, 0);
    put(c, "c.example", DNS_T_A, 30, 0);
    assert_non_null(get(c, "a.example", DNS_T_A));  /* a is now recent */
    put(c, "d.example", DNS_T_A, 30, 0);            /* evicts b */
    assert_int_equal(cache_count(c), 3);
    assert_null(get(c, "b.example", DNS_T_A));
    assert_non_null(get(c, "a.example", DNS_T_A));
    assert_non_null(get(c, "c.example", DNS_T_A));
    assert_non_null(get(c, "d.example", DNS_T_A));
    assert_int_equal(*cache_evictions(c), 1);
    cache_free(c);
}

static void cache_stays_within_bound_under_many_inserts(void **state)
{
    struct cache *c = cache_new(100);
    char name[64];

    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "svc-%d.default.svc.cluster.local", i);
        assert_non_null(put(c, name, DNS_T_A, 30, 0));
        assert_true(cache_count(c) <= 100);
    }
    assert_int_equal(cache_count(c), 100);
    assert_int_equal(*cache_evictions(c), 9900);
    assert_non_null(get(c, "svc-9999.default.svc.cluster.local", DNS_T_A));
    assert_null(get(c, "svc-0.default.svc.cluster.local", DNS_T_A));
    cache_free(c);
}

static void cache_remove_unlinks_the_entry(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put(c, "x.example", DNS_T_A, 30, 0);

    cache_remove(c, e);
    assert_int_equal(cache_count(c), 0);
    assert_null(get(c, "x.example", DNS_T_A));
    cache_free(c);
}

static void ttl_clamped_to_min_and_max(void **state)
{
    assert_int_equal(ttl_clamp(0, 5, 30), 5);
    assert_int_equal(ttl_clamp(1, 5, 30), 5);
    assert_int_equal(ttl_clamp(17, 5, 30), 17);
    assert_int_equal(ttl_clamp(86400, 5, 30), 30);
}

static void negative_ttl_is_min_of_soa_and_neg_ttl(void **state)
{
    assert_int_equal(ttl_negative(3, 5), 3);
    assert_int_equal(ttl_negative(300, 5), 5);
    assert_int_equal(ttl_negative(-1, 5), 5);      /* no SOA */
    assert_int_equal(ttl_negative(0, 5), 0);       /* not cached */
}

static void fresh_entry_answers_with_its_remaining_ttl_rounded_up(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put_stale(c, "f.example", DNS_T_A, 30, 1000,
                                      3600 * 1000);
    uint32_t ttl = 0;

    assert_int_equal(cache_state(e, 1000, &ttl), CACHE_FRESH);
    assert_int_equal(ttl, 30);
    assert_int_equal(cache_state(e, 1001, &ttl), CACHE_FRESH);
    assert_int_equal(ttl, 30);                  /* 29.999 s left */
    assert_int_equal(cache_state(e, 11000, &ttl), CACHE_FRESH);
    assert_int_equal(ttl, 20);
    cache_free(c);
}

static void last_tenth_of_the_ttl_is_prefetched(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put_stale(c, "p.example", DNS_T_A, 30, 1000,
                                      3600 * 1000);
    uint32_t ttl = 0;

    /* Expires at 31000; the last tenth (3 s) starts at 28000. */
    assert_int_equal(cache_state(e, 27999, &ttl), CACHE_FRESH);
    assert_int_equal(ttl, 4);
    assert_int_equal(cache_state(e, 28000, &ttl), CACHE_PREFETCH);
    assert_int_equal(ttl, 3);
    assert_int_equal(cache_state(e, 30999, &ttl), CACHE_PREFETCH);
    assert_int_equal(ttl, 1);                   /* never 0 while fresh */
    cache_free(c);
}

static void expired_entry_is_stale_until_its_window_ends(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put_stale(c, "s.example", DNS_T_A, 5, 0, 60000);
    uint32_t ttl = 0;

    assert_int_equal(cache_state(e, 5000, &ttl), CACHE_STALE);
    assert_int_equal(ttl, CACHE_STALE_REPLY_TTL);
    assert_int_equal(cache_state(e, 64999, &ttl), CACHE_STALE);
    assert_int_equal(cache_state(e, 65000, &ttl), CACHE_DEAD);
    cache_free(c);
}

static void a_failed_refresh_serves_stale_at_once_for_the_recheck(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put_stale(c, "h.example", DNS_T_A, 5, 0,
                                      3600 * 1000);
    uint32_t ttl = 0;

    cache_hold_stale(e, 6000);
    assert_int_equal(cache_state(e, 6000, &ttl), CACHE_STALE_NOW);
    assert_int_equal(ttl, CACHE_STALE_REPLY_TTL);
    assert_int_equal(cache_state(e, 6000 + CACHE_STALE_RECHECK_MS - 1, &ttl),
                     CACHE_STALE_NOW);
    assert_int_equal(cache_state(e, 6000 + CACHE_STALE_RECHECK_MS, &ttl),
                     CACHE_STALE);
    /* The hold never outlives the stale window. */
    e->stale_until_ms = 7000;
    assert_int_equal(cache_state(e, 7000, &ttl), CACHE_DEAD);
    cache_free(c);
}

static void without_a_stale_window_an_expired_entry_is_dead(void **state)
{
    struct cache *c = cache_new(4);
    struct cache_entry *e = put(c, "d.example", DNS_T_A, 5, 0);
    uint32_t ttl = 0;

    assert_int_equal(cache_state(e, 4999, &ttl), CACHE_PREFETCH);
    assert_int_equal(cache_state(e, 5000, &ttl), CACHE_DEAD);
    cache_free(c);
}

static void hosts_parses_names_aliases_and_families(void **state)
{
    const char text[] =
        "# comment line\n"
        "10.0.0.1 web.cluster.local web-alias   # trailing comment\n"
        "10.0.0.2\tWEB.cluster.local\n"
        "fd00::1 web.cluster.local\n"
        "not-an-ip broken.local\n"
        "10.0.0.9\n"
        "\n"
        "10.0.0.1 web.cluster.local\n";     /* duplicate: ignored */
    size_t bad = 0;
    struct hosts *h = hosts_parse(text, sizeof(text) - 1, &bad);
    uint8_t name[DNS_MAX_NAME];
    int n;
    const struct hosts_name *hn;
    uint8_t v4[4];

    assert_non_null(h);
    assert_int_equal(bad, 2);
    assert_int_equal(hosts_count(h), 2);
    n = dns_name_from_text("web.cluster.local", name);
    hn = hosts_lookup(h, name, (size_t)n);
    assert_non_null(hn);
    assert_int_equal(hn->n4, 2);
    assert_int_equal(hn->n6, 1);
    inet_pton(AF_INET, "10.0.0.1", v4);
    assert_memory_equal(hosts_addr(h, hn->first)->bytes, v4, 4);
    assert_int_equal(hosts_addr(h, hn->first + 2)->family, AF_INET6);
    n = dns_name_from_text("web-alias", name);
    assert_non_null(hosts_lookup(h, name, (size_t)n));
    n = dns_name_from_text("broken.local", name);
    assert_null(hosts_lookup(h, name, (size_t)n));
    hosts_free(h);
}

static void hosts_empty_and_binary_input_is_harmless(void **state)
{
    const char junk[] = "\x01\x02\xff\xfe 1.2.3.4\x00 zz\n\n\n";
    struct hosts *h = hosts_parse("", 0, NULL);

    assert_non_null(h);
    assert_int_equal(hosts_count(h), 0);
    hosts_free(h);
    h = hosts_parse(junk, sizeof(junk) - 1, NULL);
    assert_non_null(h);
    hosts_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cache_keys_on_name_type_and_ignores_case),
        cmocka_unit_test(cache_replaces_an_entry_for_the_same_key),
        cmocka_unit_test(cache_evicts_least_recently_used_at_the_bound),
        cmocka_unit_test(cache_stays_within_bound_under_many_inserts),
        cmocka_unit_test(cache_remove_unlinks_the_entry),
        cmocka_unit_test(ttl_clamped_to_min_and_max),
        cmocka_unit_test(negative_ttl_is_min_of_soa_and_neg_ttl),
        cmocka_unit_test(fresh_entry_answers_with_its_remaining_ttl_rounded_up),
        cmocka_unit_test(last_tenth_of_the_ttl_is_prefetched),
        cmocka_unit_test(expired_entry_is_stale_until_its_window_ends),
        cmocka_unit_test(a_failed_refresh_serves_stale_at_once_for_the_recheck),
        cmocka_unit_test(without_a_stale_window_an_expired_entry_is_dead),
        cmocka_unit_test(hosts_parses_names_aliases_and_families),
        cmocka_unit_test(hosts_empty_and_binary_input_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
