/* Unit tests for the resolver's policy (sidecar-dnsmasq/resolver.c) against
 * a scripted upstream: no sockets, the test decides when and how each
 * upstream answers. Coalescing, failover on a slow or failing upstream,
 * the cache fill (TTL clamp, negative TTL), serve-stale, slow answers
 * taken until the deadline, prefetch, overload and shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "evloop.h"
#include "sidecar-dnsmasq/answer.h"
#include "sidecar-dnsmasq/cache.h"
#include "sidecar-dnsmasq/config.h"
#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/metrics.h"
#include "sidecar-dnsmasq/resolver.h"
#include "sidecar-dnsmasq/upstream.h"

enum {
    MAX_SENT = 64,
    MAX_REPLIES = 16,
    NUPSTREAMS = 2,
    WAIT_CAP_MS = 3000,         /* a timer test gives up after this */
};

/* ---- the scripted upstream ----------------------------------------- */

/* One question sent to one scripted upstream. */
struct upq {
    size_t up;
    struct dns_question q;
    upq_cb cb;
    void *arg;
    int cancelled, ended;
};

struct script {
    struct upq sent[MAX_SENT];
    size_t nsent;
    int refuse_send[NUPSTREAMS];    /* send fails at once */
    size_t order[NUPSTREAMS];       /* healthiest first */
};

static size_t script_order(void *impl, size_t *idx, size_t cap)
{
    struct script *s = impl;

    for (size_t i = 0; i < NUPSTREAMS && i < cap; i++)
        idx[i] = s->order[i];
    return NUPSTREAMS;
}

static struct upq *script_send(void *impl, size_t i,
                               const struct dns_question *question,
                               upq_cb cb, void *arg)
{
    struct script *s = impl;
    struct upq *q;

    assert_true(s->nsent < MAX_SENT);
    if (s->refuse_send[i])
        return NULL;
    q = &s->sent[s->nsent++];
    memset(q, 0, sizeof(*q));
    q->up = i;
    q->q = *question;
    q->cb = cb;
    q->arg = arg;
    return q;
}

static void script_cancel(void *impl, struct upq *q)
{
    assert_false(q->ended);
    q->cancelled = 1;
}

/* The upstream answers q: rcode, and an A record (ttl) when ip is given, or
 * an SOA in the authority section (negative answers) when soa_min >= 0. */
static void upstream_answers(struct upq *q, unsigned rcode, const char *ip,
                             uint32_t ttl, int64_t soa_min)
{
    static const uint8_t zone[] = "\7example\0";
    static uint8_t wire[1024], image[DNS_MAX_MSG];
    static struct dns_writer w, iw;
    struct dns_header h = {0x1111, (uint16_t)(DNS_F_QR | DNS_F_RD | DNS_F_RA |
                                              rcode), 1, ip ? 1 : 0,
                           soa_min >= 0 ? 1 : 0, 0};
    struct dns_compiled c;
    struct upq_answer a;

    assert_false(q->ended || q->cancelled);
    dnsw_init(&w, wire, sizeof(wire));
    dnsw_header(&w, &h);
    dnsw_name(&w, q->q.name, q->q.len, 0);
    dnsw_u16(&w, q->q.qtype);
    dnsw_u16(&w, q->q.qclass);
    if (ip) {
        uint8_t addr[4];

        assert_int_equal(inet_pton(AF_INET, ip, addr), 1);
        dnsw_name(&w, q->q.name, q->q.len, 1);
        dnsw_u16(&w, DNS_T_A);
        dnsw_u16(&w, DNS_C_IN);
        dnsw_u32(&w, ttl);
        dnsw_u16(&w, sizeof(addr));
        dnsw_bytes(&w, addr, sizeof(addr));
    }
    if (soa_min >= 0) {
        size_t rdlen_at;

        dnsw_name(&w, zone, sizeof(zone) - 1, 1);
        dnsw_u16(&w, DNS_T_SOA);
        dnsw_u16(&w, DNS_C_IN);
        dnsw_u32(&w, 3600);
        rdlen_at = w.len;
        dnsw_u16(&w, 0);
        dnsw_name(&w, zone, sizeof(zone) - 1, 0);      /* mname */
        dnsw_name(&w, zone, sizeof(zone) - 1, 0);      /* rname */
        for (int i = 0; i < 4; i++)                     /* serial..expire */
            dnsw_u32(&w, 1);
        dnsw_u32(&w, (uint32_t)soa_min);
        dns_put16(wire + rdlen_at, (uint16_t)(w.len - rdlen_at - 2));
    }
    assert_false(w.overflow);
    dnsw_init(&iw, image, sizeof(image));
    assert_int_equal(dns_response_compile(wire, w.len, q->q.name, q->q.len,
                                          q->q.qtype, q->q.qclass, &iw, &c), 0);
    a.c = &c;
    a.image = image;
    a.len = iw.len;
    q->ended = 1;
    q->cb(q->arg, q, UPQ_ANSWER, &a);
}

static void upstream_is_slow(struct upq *q)
{
    assert_false(q->ended || q->cancelled);
    q->cb(q->arg, q, UPQ_SLOW, NULL);
}

static void upstream_fails(struct upq *q)
{
    assert_false(q->ended || q->cancelled);
    q->ended = 1;
    q->cb(q->arg, q, UPQ_FAILED, NULL);
}

/* ---- the clients --------------------------------------------------- */

struct reply {
    struct reply_to rt;
    int none;                   /* replied NULL: no answer will come */
    uint8_t msg[DNS_MAX_UDP];
    size_t len;
};

struct clients {
    struct reply replies[MAX_REPLIES];
    size_t n;
};

static void sink_reply(void *arg, const struct reply_to *rt,
                       const uint8_t *msg, size_t len)
{
    struct clients *cl = arg;
    struct reply *r;

    assert_true(cl->n < MAX_REPLIES);
    r = &cl->replies[cl->n++];
    r->rt = *rt;
    r->none = msg == NULL;
    assert_true(len <= sizeof(r->msg));
    if (msg)
        memcpy(r->msg, msg, len);
    r->len = len;
}

/* What a reply says. */
struct said {
    uint16_t id;
    unsigned rcode;
    size_t nanswers;
    char ip[INET_ADDRSTRLEN];   /* first A record */
    uint32_t ttl;               /* its TTL */
};

static struct said said(const struct reply *r)
{
    struct dns_header h;
    struct said s;
    size_t off = DNS_HEADER_LEN;

    memset(&s, 0, sizeof(s));
    assert_false(r->none);
    assert_int_equal(dns_header_read(r->msg, r->len, &h), 0);
    s.id = h.id;
    s.rcode = h.flags & DNS_F_RCODE;
    s.nanswers = h.ancount;
    assert_true(dns_name_skip(r->msg, r->len, &off) > 0);
    off += DNS_QFIXED_LEN;
    if (h.ancount) {
        struct dns_rr rr;

        assert_int_equal(dns_rr_read(r->msg, r->len, &off, &rr), 0);
        assert_int_equal(rr.type, DNS_T_A);
        inet_ntop(AF_INET, r->msg + rr.rdata_off, s.ip, sizeof(s.ip));
        s.ttl = rr.ttl;
    }
    return s;
}

/* ---- the fixture --------------------------------------------------- */

struct fix {
    struct config cfg;
    struct evloop *loop;
    struct cache *cache;
    struct worker_metrics m;
    struct script script;
    struct clients clients;
    struct resolver *res;
};

static void fix_start(struct fix *f)
{
    struct upstream_iface ups = {
        .order = script_order, .send = script_send, .cancel = script_cancel,
        .impl = &f->script,
    };
    struct resolver_sink sink = {.reply = sink_reply, .arg = &f->clients};

    f->loop = evloop_new();
    f->cache = cache_new(64);
    assert_non_null(f->loop);
    assert_non_null(f->cache);
    assert_int_equal(metrics_init(&f->m), 0);
    f->res = resolver_new(f->loop, &f->cfg, f->cache, &f->m, &ups, &sink);
    assert_non_null(f->res);
}

/* Defaults, two upstreams (0 healthier than 1); flags may change cfg
 * before fix_start. */
static int setup(void **state)
{
    static char *argv[] = {"test", "--upstream", "192.0.2.1", "--upstream",
                           "192.0.2.2", "--metrics", "off"};
    struct fix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(config_parse(&f->cfg, sizeof(argv) / sizeof(argv[0]),
                                  argv), 0);
    f->script.order[0] = 0;
    f->script.order[1] = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fix *f = *state;

    resolver_free(f->res);
    cache_free(f->cache);
    evloop_free(f->loop);
    metrics_free(&f->m);
    free(f);
    return 0;
}

/* A client (its query ID and port) asks name/type. */
static int ask_as(struct fix *f, const char *name, uint16_t type, uint16_t id)
{
    uint8_t wire[512];
    struct dns_query q;
    struct client_q cq;
    struct reply_to rt;
    int n;
    uint8_t lname[DNS_MAX_NAME];

    assert_true((n = dns_name_from_text(name, lname)) > 0);
    n = dns_query_build(wire, sizeof(wire), id, lname, (size_t)n, type,
                        DNS_C_IN, 0);
    assert_int_equal(dns_query_parse(wire, (size_t)n, &q), DNS_PARSE_OK);
    answer_client_from_query(&cq, &q, 0);
    memset(&rt, 0, sizeof(rt));
    rt.udp_fd = -1;
    rt.alen = id;               /* tells the replies apart */
    return resolver_query(f->res, &q, &cq, &rt);
}

static int ask(struct fix *f, const char *name, uint16_t id)
{
    return ask_as(f, name, DNS_T_A, id);
}

static struct cache_entry *cached(struct fix *f, const char *name)
{
    uint8_t lname[DNS_MAX_NAME];
    int n = dns_name_from_text(name, lname);

    return cache_lookup(f->cache, lname, (size_t)n, DNS_T_A, DNS_C_IN,
                        cache_hash(lname, (size_t)n, DNS_T_A, DNS_C_IN));
}

/* Runs the loop until cl has want replies (or WAIT_CAP_MS passed). */
static void run_until_replies(struct fix *f, size_t want)
{
    uint64_t until = evloop_clock_ms() + WAIT_CAP_MS;

    while (f->clients.n < want && evloop_clock_ms() < until)
        assert_true(evloop_run_once(f->loop, 10) >= 0);
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct fix *f, uint64_t ms)
{
    uint64_t until = evloop_clock_ms() + ms;

    while (evloop_clock_ms() < until)
        assert_true(evloop_run_once(f->loop, 5) >= 0);
}

/* Whether the cached answer for name holds address ip. */
static int cached_ip(struct fix *f, const char *name, const char *ip)
{
    struct cache_entry *e = cached(f, name);
    uint8_t addr[4];

    assert_int_equal(inet_pton(AF_INET, ip, addr), 1);
    return e && memmem(e->image, e->image_len, addr, sizeof(addr)) != NULL;
}

/* ---- tests --------------------------------------------------------- */

static void identical_queries_share_one_upstream_query(void **state)
{
    struct fix *f = *state;

    fix_start(f);
    assert_int_equal(ask(f, "web.example", 101), 0);
    assert_int_equal(ask(f, "web.example", 102), 0);
    assert_int_equal(f->script.nsent, 1);
    assert_int_equal(f->script.sent[0].up, 0);          /* the healthiest */
    assert_int_equal(prom_get(&f->m.coalesced), 1);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.1.0.1", 20, -1);
    assert_int_equal(f->clients.n, 2);
    for (size_t i = 0; i < 2; i++) {
        struct said s = said(&f->clients.replies[i]);

        assert_int_equal(s.id, f->clients.replies[i].rt.alen);
        assert_int_equal(s.rcode, DNS_R_NOERROR);
        assert_string_equal(s.ip, "10.1.0.1");
        assert_int_equal(s.ttl, 20);
    }
    assert_non_null(cached(f, "web.example"));
    assert_int_equal(prom_get(&f->m.inflight), 0);
}

static void a_slow_upstream_is_joined_by_the_next_and_first_answer_wins(
    void **state)
{
    struct fix *f = *state;

    fix_start(f);
    ask(f, "slow.example", 1);
    assert_int_equal(f->script.nsent, 1);
    upstream_is_slow(&f->script.sent[0]);
    assert_int_equal(f->script.nsent, 2);
    assert_int_equal(f->script.sent[1].up, 1);          /* the next one */
    assert_int_equal(f->clients.n, 0);                  /* nobody gave up */
    upstream_answers(&f->script.sent[1], DNS_R_NOERROR, "10.1.0.2", 20, -1);
    assert_int_equal(f->clients.n, 1);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.1.0.2");
    assert_true(f->script.sent[0].cancelled);           /* the slow try */
}

static void the_first_try_may_still_win_after_a_slow_report(void **state)
{
    struct fix *f = *state;

    fix_start(f);
    ask(f, "late.example", 1);
    upstream_is_slow(&f->script.sent[0]);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.1.0.3", 20, -1);
    assert_int_equal(f->clients.n, 1);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.1.0.3");
    assert_true(f->script.sent[1].cancelled);
}

static void a_failure_moves_to_the_next_upstream_at_once(void **state)
{
    struct fix *f = *state;

    fix_start(f);
    ask(f, "sf.example", 1);
    upstream_fails(&f->script.sent[0]);                 /* e.g. SERVFAIL */
    assert_int_equal(f->script.nsent, 2);
    assert_int_equal(f->script.sent[1].up, 1);
    upstream_answers(&f->script.sent[1], DNS_R_NOERROR, "10.1.0.4", 20, -1);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.1.0.4");
}

static void each_upstream_once_then_the_best_again_then_servfail(void **state)
{
    struct fix *f = *state;

    fix_start(f);
    ask(f, "down.example", 7);
    upstream_fails(&f->script.sent[0]);
    upstream_fails(&f->script.sent[1]);
    assert_int_equal(f->script.nsent, 3);
    assert_int_equal(f->script.sent[2].up, 0);          /* the best again */
    assert_int_equal(f->clients.n, 0);
    upstream_fails(&f->script.sent[2]);
    assert_int_equal(f->script.nsent, 3);               /* no fourth try */
    assert_int_equal(f->clients.n, 1);
    assert_int_equal(said(&f->clients.replies[0]).rcode, DNS_R_SERVFAIL);
    assert_int_equal(said(&f->clients.replies[0]).id, 7);
    assert_null(cached(f, "down.example"));
    assert_int_equal(prom_get(&f->m.responses[DNS_R_SERVFAIL]), 1);
}

static void a_send_that_fails_at_once_moves_on_and_may_answer_at_once(
    void **state)
{
    struct fix *f = *state;

    fix_start(f);
    f->script.refuse_send[0] = 1;
    ask(f, "half.example", 1);
    assert_int_equal(f->script.nsent, 1);
    assert_int_equal(f->script.sent[0].up, 1);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.1.0.5", 20, -1);
    assert_int_equal(f->clients.n, 1);
    /* No upstream takes the query: the client is answered SERVFAIL
     * from inside resolver_query. */
    f->script.refuse_send[1] = 1;
    assert_int_equal(ask(f, "none.example", 2), 0);
    assert_int_equal(f->clients.n, 2);
    assert_int_equal(said(&f->clients.replies[1]).rcode, DNS_R_SERVFAIL);
}

static void answers_are_cached_with_the_clamped_or_negative_ttl(void **state)
{
    struct fix *f = *state;
    struct cache_entry *e;

    fix_start(f);                           /* --min-ttl 5, --max-ttl 30 */
    ask(f, "long.example", 1);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.1.0.6", 3600, -1);
    assert_int_equal(said(&f->clients.replies[0]).ttl, 30);
    assert_non_null(e = cached(f, "long.example"));
    assert_int_equal(e->ttl, 30);
    ask(f, "short.example", 2);
    upstream_answers(&f->script.sent[1], DNS_R_NOERROR, "10.1.0.7", 1, -1);
    assert_int_equal(cached(f, "short.example")->ttl, 5);
    /* NXDOMAIN: min(SOA minimum, --neg-ttl 5). */
    ask(f, "gone.example", 3);
    upstream_answers(&f->script.sent[2], DNS_R_NXDOMAIN, NULL, 0, 2);
    assert_int_equal(said(&f->clients.replies[2]).rcode, DNS_R_NXDOMAIN);
    assert_int_equal(cached(f, "gone.example")->ttl, 2);
    /* SOA minimum 0: not cached at all. */
    ask(f, "never.example", 4);
    upstream_answers(&f->script.sent[3], DNS_R_NXDOMAIN, NULL, 0, 0);
    assert_int_equal(said(&f->clients.replies[3]).rcode, DNS_R_NXDOMAIN);
    assert_null(cached(f, "never.example"));
}

/* Stores an answer for name that expired a second ago (stale window 1 h). */
static void store_expired(struct fix *f, const char *name, const char *ip)
{
    struct cache_entry *e;

    ask(f, name, 900);
    upstream_answers(&f->script.sent[f->script.nsent - 1], DNS_R_NOERROR, ip,
                     5, -1);
    assert_non_null(e = cached(f, name));
    e->expire_ms = evloop_now_ms(f->loop) - 1000;
    f->clients.n = 0;
}

static void when_no_upstream_answers_an_expired_entry_is_served_stale(
    void **state)
{
    struct fix *f = *state;
    uint32_t ttl;

    fix_start(f);
    store_expired(f, "old.example", "10.1.0.8");
    ask(f, "old.example", 11);
    while (f->clients.n == 0)                           /* 0, 1, then 0 */
        upstream_fails(&f->script.sent[f->script.nsent - 1]);
    assert_int_equal(f->clients.n, 1);
    assert_int_equal(said(&f->clients.replies[0]).rcode, DNS_R_NOERROR);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.1.0.8");
    assert_int_equal(said(&f->clients.replies[0]).ttl, CACHE_STALE_REPLY_TTL);
    assert_int_equal(prom_get(&f->m.stale_served), 1);
    /* For the recheck time, the next client gets it stale at once. */
    assert_int_equal(cache_state(cached(f, "old.example"),
                                 evloop_now_ms(f->loop), &ttl),
                     CACHE_STALE_NOW);
}

static void the_deadline_ends_a_query_no_upstream_answers(void **state)
{
    struct fix *f = *state;
    uint64_t t0;

    f->cfg.query_timeout_ms = 50;
    fix_start(f);
    evloop_update_time(f->loop);        /* timers start from the loop's */
    t0 = evloop_now_ms(f->loop);        /* time */
    ask(f, "blackhole.example", 5);
    upstream_is_slow(&f->script.sent[0]);
    upstream_is_slow(&f->script.sent[1]);
    upstream_is_slow(&f->script.sent[2]);
    assert_int_equal(f->script.nsent, 3);
    run_until_replies(f, 1);
    assert_int_equal(f->clients.n, 1);
    assert_true(evloop_clock_ms() - t0 >= 50);
    assert_int_equal(said(&f->clients.replies[0]).rcode, DNS_R_SERVFAIL);
    for (size_t i = 0; i < 3; i++)
        assert_true(f->script.sent[i].cancelled);
    assert_int_equal(prom_get(&f->m.inflight), 0);
}

static void a_slow_answer_after_the_stale_timeout_still_reaches_the_client(
    void **state)
{
    struct fix *f = *state;

    f->cfg.stale_timeout_ms = 20;
    f->cfg.query_timeout_ms = 2000;
    fix_start(f);
    ask(f, "cold.example", 21);
    upstream_is_slow(&f->script.sent[0]);
    upstream_is_slow(&f->script.sent[1]);
    run_for(f, 100);                    /* past --stale-timeout */
    /* Nothing stale to give: the client keeps waiting, tries stay open. */
    assert_int_equal(f->clients.n, 0);
    assert_false(f->script.sent[0].cancelled);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.2.0.1", 20, -1);
    assert_int_equal(f->clients.n, 1);
    assert_int_equal(said(&f->clients.replies[0]).id, 21);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.2.0.1");
    assert_true(cached_ip(f, "cold.example", "10.2.0.1"));
}

static void at_the_stale_timeout_stale_is_served_and_a_late_answer_cached(
    void **state)
{
    struct fix *f = *state;
    uint32_t ttl;
    uint64_t t0;

    f->cfg.stale_timeout_ms = 20;
    f->cfg.query_timeout_ms = 2000;
    fix_start(f);
    store_expired(f, "kube.example", "10.2.0.2");
    evloop_update_time(f->loop);        /* timers start from the loop's */
    t0 = evloop_now_ms(f->loop);        /* time */
    ask(f, "kube.example", 22);
    run_until_replies(f, 1);
    assert_true(evloop_clock_ms() - t0 >= 20);
    assert_int_equal(f->clients.n, 1);
    assert_string_equal(said(&f->clients.replies[0]).ip, "10.2.0.2");
    assert_int_equal(said(&f->clients.replies[0]).ttl, CACHE_STALE_REPLY_TTL);
    assert_int_equal(prom_get(&f->m.stale_served), 1);
    /* The query goes on; its answer, when it comes, is cached (and sent
     * to nobody: the client has its answer). */
    assert_false(f->script.sent[f->script.nsent - 1].cancelled);
    upstream_answers(&f->script.sent[f->script.nsent - 1], DNS_R_NOERROR,
                     "10.2.0.3", 20, -1);
    assert_int_equal(f->clients.n, 1);
    assert_true(cached_ip(f, "kube.example", "10.2.0.3"));
    assert_int_equal(cache_state(cached(f, "kube.example"),
                                 evloop_now_ms(f->loop), &ttl), CACHE_FRESH);
    assert_int_equal(prom_get(&f->m.inflight), 0);
}

static void prefetch_refreshes_the_cache_without_a_client(void **state)
{
    struct fix *f = *state;
    uint8_t lname[DNS_MAX_NAME];
    int n = dns_name_from_text("hot.example", lname);

    fix_start(f);
    assert_int_equal(resolver_prefetch(f->res, lname, (size_t)n, DNS_T_A,
                                       DNS_C_IN), 0);
    /* A second refresh joins the first. */
    assert_int_equal(resolver_prefetch(f->res, lname, (size_t)n, DNS_T_A,
                                       DNS_C_IN), 0);
    assert_int_equal(f->script.nsent, 1);
    assert_int_equal(prom_get(&f->m.prefetches), 1);
    upstream_answers(&f->script.sent[0], DNS_R_NOERROR, "10.1.0.9", 20, -1);
    assert_int_equal(f->clients.n, 0);
    assert_non_null(cached(f, "hot.example"));
}

static void beyond_max_inflight_queries_are_refused(void **state)
{
    struct fix *f = *state;

    f->cfg.max_inflight = 2;
    fix_start(f);
    assert_int_equal(ask(f, "a.example", 1), 0);
    assert_int_equal(ask(f, "b.example", 2), 0);
    assert_int_equal(ask(f, "c.example", 3), -1);
    assert_int_equal(ask(f, "a.example", 4), 0);        /* joins one */
    assert_int_equal(f->script.nsent, 2);
}

static void freeing_replies_none_to_waiting_clients_and_cancels(void **state)
{
    struct fix *f = *state;

    fix_start(f);
    ask(f, "a.example", 1);
    ask(f, "a.example", 2);
    upstream_is_slow(&f->script.sent[0]);
    resolver_free(f->res);
    f->res = NULL;
    assert_int_equal(f->clients.n, 2);
    assert_true(f->clients.replies[0].none);
    assert_true(f->clients.replies[1].none);
    assert_true(f->script.sent[0].cancelled);
    assert_true(f->script.sent[1].cancelled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(identical_queries_share_one_upstream_query),
        T(a_slow_upstream_is_joined_by_the_next_and_first_answer_wins),
        T(the_first_try_may_still_win_after_a_slow_report),
        T(a_failure_moves_to_the_next_upstream_at_once),
        T(each_upstream_once_then_the_best_again_then_servfail),
        T(a_send_that_fails_at_once_moves_on_and_may_answer_at_once),
        T(answers_are_cached_with_the_clamped_or_negative_ttl),
        T(when_no_upstream_answers_an_expired_entry_is_served_stale),
        T(the_deadline_ends_a_query_no_upstream_answers),
        T(a_slow_answer_after_the_stale_timeout_still_reaches_the_client),
        T(at_the_stale_timeout_stale_is_served_and_a_late_answer_cached),
        T(prefetch_refreshes_the_cache_without_a_client),
        T(beyond_max_inflight_queries_are_refused),
        T(freeing_replies_none_to_waiting_clients_and_cancels),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
