/* upstream.c - c-ares channels per upstream, health, probes, socket
 * renewal, the per-try timeout and the EDNS fallback; see upstream.h.
 *
 * Two channels per upstream, because c-ares 1.18 takes a UDP answer over
 * 512 bytes as truncated (and repeats the query over TCP) unless the
 * channel has ARES_FLAG_EDNS, and that flag brings c-ares' own EDNS
 * fallback, which on a FORMERR without an OPT RR cuts the last 11 bytes
 * off the query and turns the flag off for the whole channel:
 *
 * - the EDNS channel (ARES_FLAG_EDNS, ednspsz DNS_EDNS_UDP, so answers up
 *   to the size we advertise arrive over UDP) carries only queries that
 *   edns_query_is_strippable() accepts: ours, whose last 11 bytes are our
 *   OPT RR. Its UDP reads go through our socket functions, which give
 *   every FORMERR an OPT RR (edns_formerr_add_opt), so c-ares passes it to
 *   us and the fallback stays ours (fall_back below, policy in edns.c);
 * - the plain channel (no flag: 512 bytes, as RFC 1035 says for a query
 *   without EDNS) carries every other query: fallbacks and queries to
 *   upstreams remembered as EDNS-less. c-ares never rewrites them. It is
 *   created on first use, so an upstream that speaks EDNS has one socket.
 *
 * What is left to c-ares: a FORMERR without OPT over TCP (to an EDNS query
 * whose UDP answer was truncated) is still stripped by c-ares, which then
 * sends exactly our query without EDNS (the cut bytes are our OPT RR), and
 * that channel takes 512 bytes as its UDP limit until it is renewed. */
#include "upstream.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dnswire.h"
#include "edns.h"
#include "log.h"

enum {
    ID_SPACE = 65536,
    ID_WORD_BITS = 64,          /* bits per word of the in-use ID bitmap */
    ID_RANDOM_TRIES = 16,
    MS_PER_S = 1000,
    US_PER_MS = 1000,
    QUERY_BUF = DNS_HEADER_LEN + DNS_MAX_NAME + DNS_QFIXED_LEN + DNS_OPT_RR_LEN,
};
#define RTT_ALPHA 0.2           /* weight of a new RTT sample */
#define RTT_TIMEOUT_FACTOR 4    /* per-try timeout vs smoothed RTT */

struct upstream_set;

/* Which queries a channel carries; see the top of the file. */
enum chan_kind { CHAN_EDNS, CHAN_PLAIN, CHAN_KINDS };

struct chan {
    struct upstream_set *s;
    size_t up;
    enum chan_kind kind;
    ares_channel ch;
    struct ev_timer *timer;
    unsigned outstanding;       /* queries not yet called back */
    uint64_t sent;              /* queries ever sent on it */
    int busy;                   /* inside ares_process_fd */
    int retiring;
    struct chan *next_retiring;
};

struct upstream {
    struct netaddr addr;
    char name[64];
    struct chan *cur[CHAN_KINDS];   /* CHAN_PLAIN: NULL until needed */
    uint32_t fails;             /* consecutive */
    double srtt_ms;             /* 0: no sample yet */
    struct upq *probe;          /* probe in flight, if any */
    uint64_t probe_sent_ms;
    uint64_t no_edns_until_ms;  /* queries without EDNS until then */
};

/* One question to one upstream. It may take two c-ares queries (with EDNS,
 * then without: the fallback); ch, id, kind and sent_ns are the current
 * one's. */
struct upq {
    struct upstream_set *s;
    size_t up;
    struct dns_question q;
    upq_cb cb;                  /* NULL: cancelled, or a probe */
    void *arg;
    struct chan *ch;
    uint16_t id;
    enum edns_try kind;
    uint64_t sent_ns;
    struct ev_timer *try_timer; /* the per-try timeout; NULL for probes */
    int timeout_counted;        /* the per-try timeout has passed */
    int in_send, failed_in_send;
    int is_probe;               /* any answer proves the server alive */
};

struct upstream_set {
    struct evloop *loop;
    const struct config *cfg;
    struct worker_metrics *m;
    int worker_id;
    struct upstream ups[CFG_MAX_UPSTREAMS];
    size_t n;
    struct chan *retiring;
    struct ev_timer *probe_timer, *renew_timer;
    uint64_t ids[ID_SPACE / ID_WORD_BITS];
    uint64_t rng;
    struct dns_writer *wr;      /* compiles answers into wbuf */
    uint8_t *wbuf;              /* DNS_MAX_MSG */
    int closing;
};

static uint64_t rng_next(struct upstream_set *s)
{
    /* xorshift64* */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ull;
}

/* A query ID not used by any query of this set in flight; released when
 * the query completes. */
static uint16_t new_id(struct upstream_set *s)
{
    for (int i = 0; i < ID_RANDOM_TRIES; i++) {
        uint16_t id = (uint16_t)(rng_next(s) >> 32);

        if (!(s->ids[id / ID_WORD_BITS] & (1ull << (id % ID_WORD_BITS)))) {
            s->ids[id / ID_WORD_BITS] |= 1ull << (id % ID_WORD_BITS);
            return id;
        }
    }
    for (uint32_t id = 0; id < ID_SPACE; id++)
        if (!(s->ids[id / ID_WORD_BITS] & (1ull << (id % ID_WORD_BITS)))) {
            s->ids[id / ID_WORD_BITS] |= 1ull << (id % ID_WORD_BITS);
            return (uint16_t)id;
        }
    return (uint16_t)rng_next(s);   /* 65536 in flight: cannot happen */
}

static void release_id(struct upstream_set *s, uint16_t id)
{
    s->ids[id / ID_WORD_BITS] &= ~(1ull << (id % ID_WORD_BITS));
}

/* ---- channels ------------------------------------------------------ */

static void chan_io(struct evloop *loop, int fd, unsigned events, void *arg);
static void chan_after(struct chan *c);

static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable)
{
    struct chan *c = data;
    unsigned ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

    if (ev)
        evloop_io_set(c->s->loop, fd, ev, chan_io, c);
    else
        evloop_io_del(c->s->loop, fd);
}

static void chan_timer(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct chan *c = arg;

    c->busy++;
    ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    c->busy--;
    chan_after(c);
}

static void chan_io(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct chan *c = arg;

    c->busy++;
    ares_process_fd(c->ch, (events & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    c->busy--;
    chan_after(c);
}

/* Socket functions of the EDNS channels: what c-ares does by default
 * (non-blocking, close-on-exec, TCP_NODELAY), plus the FORMERR rewrite on
 * UDP reads (a TCP read, without a source address, is a part of a stream
 * and left alone). */
static ares_socket_t edns_socket(int af, int type, int proto, void *arg)
{
    int fd = socket(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    int one = 1;

    (void)arg;
    if (fd >= 0 && type == SOCK_STREAM)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd < 0 ? ARES_SOCKET_BAD : fd;
}

static int edns_close(ares_socket_t fd, void *arg)
{
    (void)arg;
    return close(fd);
}

static int edns_connect(ares_socket_t fd, const struct sockaddr *sa,
                        ares_socklen_t salen, void *arg)
{
    (void)arg;
    return connect(fd, sa, salen);
}

static ares_ssize_t edns_recvfrom(ares_socket_t fd, void *buf, size_t cap,
                                  int flags, struct sockaddr *from,
                                  ares_socklen_t *fromlen, void *arg)
{
    ssize_t n = recvfrom(fd, buf, cap, flags, from, fromlen);

    (void)arg;
    if (n > 0 && from)
        n = (ssize_t)edns_formerr_add_opt(buf, (size_t)n, cap);
    return n;
}

static ares_ssize_t edns_sendv(ares_socket_t fd, const struct iovec *iov,
                               int iovcnt, void *arg)
{
    (void)arg;
    return writev(fd, iov, iovcnt);
}

static const struct ares_socket_functions edns_sock_funcs = {
    .asocket = edns_socket,
    .aclose = edns_close,
    .aconnect = edns_connect,
    .arecvfrom = edns_recvfrom,
    .asendv = edns_sendv,
};

static struct chan *chan_new(struct upstream_set *s, size_t up,
                             enum chan_kind kind)
{
    struct chan *c = calloc(1, sizeof(*c));
    struct ares_options o;
    struct ares_addr_port_node node;
    const struct netaddr *a = &s->ups[up].addr;
    int rc;

    if (!c)
        return NULL;
    c->s = s;
    c->up = up;
    c->kind = kind;
    c->timer = evloop_timer_new(s->loop, chan_timer, c);
    if (!c->timer) {
        free(c);
        return NULL;
    }
    memset(&o, 0, sizeof(o));
    /* We parse every rcode ourselves, never search, and let c-ares retry
     * a truncated UDP answer over TCP on its own. */
    o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    o.timeout = (int)s->cfg->query_timeout_ms;  /* a slow answer is taken */
    o.tries = 1;
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = c;
    o.resolvconf_path = (char *)"/dev/null";
    if (kind == CHAN_EDNS) {
        o.flags |= ARES_FLAG_EDNS;
        o.ednspsz = DNS_EDNS_UDP;
    }
    rc = ares_init_options(&c->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS |
                           ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
                           ARES_OPT_RESOLVCONF |
                           (kind == CHAN_EDNS ? ARES_OPT_EDNSPSZ : 0));
    if (rc != ARES_SUCCESS) {
        log_error("c-ares init for %s: %s", s->ups[up].name, ares_strerror(rc));
        evloop_timer_free(c->timer);
        free(c);
        return NULL;
    }
    memset(&node, 0, sizeof(node));
    if (a->ss.ss_family == AF_INET6) {
        node.family = AF_INET6;
        memcpy(&node.addr.addr6,
               &((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
               sizeof(node.addr.addr6));
    } else {
        node.family = AF_INET;
        node.addr.addr4 = ((const struct sockaddr_in *)&a->ss)->sin_addr;
    }
    node.udp_port = node.tcp_port = netaddr_port(a);
    rc = ares_set_servers_ports(c->ch, &node);
    if (rc != ARES_SUCCESS) {
        log_error("c-ares server %s: %s", s->ups[up].name, ares_strerror(rc));
        ares_destroy(c->ch);
        evloop_timer_free(c->timer);
        free(c);
        return NULL;
    }
    if (kind == CHAN_EDNS)
        ares_set_socket_functions(c->ch, &edns_sock_funcs, NULL);
    return c;
}

static void chan_destroy(struct chan *c)
{
    ares_destroy(c->ch);        /* closes its sockets via sock_state */
    evloop_timer_free(c->timer);
    free(c);
}

static void chan_rearm(struct chan *c)
{
    struct timeval tv;

    if (ares_timeout(c->ch, NULL, &tv))
        evloop_timer_start(c->timer, (uint64_t)tv.tv_sec * MS_PER_S +
                           ((uint64_t)tv.tv_usec + US_PER_MS - 1) / US_PER_MS);
    else
        evloop_timer_stop(c->timer);
}

static void unlink_retiring(struct upstream_set *s, struct chan *c)
{
    for (struct chan **pp = &s->retiring; *pp; pp = &(*pp)->next_retiring)
        if (*pp == c) {
            *pp = c->next_retiring;
            return;
        }
}

static void chan_after(struct chan *c)
{
    if (c->busy)
        return;
    if (c->retiring && c->outstanding == 0) {
        unlink_retiring(c->s, c);
        chan_destroy(c);
        return;
    }
    chan_rearm(c);
}

/* Replaces (or creates) upstream i's channel of that kind. trigger: the
 * channel whose query timed out; if it is no longer the current one, the
 * socket was renewed since and nothing is done (so a burst of timeouts
 * renews once, not once per query: every channel costs c-ares' tables,
 * ~50 kB, until it drains). */
static void renew(struct upstream_set *s, size_t i, enum chan_kind kind,
                  const struct chan *trigger)
{
    struct upstream *u = &s->ups[i];
    struct chan *old = u->cur[kind], *c;

    if (s->closing || (old && old->sent == 0) || (trigger && trigger != old))
        return;
    if (!(c = chan_new(s, i, kind)))
        return;                 /* keep the old one */
    u->cur[kind] = c;
    if (!old)
        return;
    old->retiring = 1;
    old->next_retiring = s->retiring;
    s->retiring = old;
    chan_after(old);
    log_debug("upstream %s: new socket", u->name);
}

/* ---- health -------------------------------------------------------- */

static void arm_probes(struct upstream_set *s);

static void health_fail(struct upstream_set *s, size_t i,
                        enum upstream_fail_reason why)
{
    static const char *const reasons[UF_NREASONS] = {
        "timeout", "SERVFAIL", "REFUSED", "connection refused", "malformed",
        "error",
    };
    struct upstream *u = &s->ups[i];

    prom_inc(&s->m->up_failures[i][why]);
    u->fails++;
    if (u->fails == s->cfg->max_fails) {
        prom_set(&s->m->up_up[i], 0);
        if (s->cfg->threads > 1)
            log_warn("upstream %s down (thread %d): %u consecutive failures, last: %s",
                     u->name, s->worker_id, u->fails, reasons[why]);
        else
            log_warn("upstream %s down: %u consecutive failures, last: %s",
                     u->name, u->fails, reasons[why]);
    }
    arm_probes(s);
}

static void health_ok(struct upstream_set *s, size_t i, uint64_t rtt_ns)
{
    struct upstream *u = &s->ups[i];
    double ms = (double)rtt_ns / 1e6;

    u->srtt_ms = u->srtt_ms > 0 ? (1 - RTT_ALPHA) * u->srtt_ms + RTT_ALPHA * ms
                                : ms;
    prom_histogram_observe(&s->m->up_duration[i], (double)rtt_ns / 1e9);
    if (u->fails >= s->cfg->max_fails) {
        prom_set(&s->m->up_up[i], 1);
        if (s->cfg->threads > 1)
            log_info("upstream %s up (thread %d), rtt %.2f ms", u->name,
                     s->worker_id, ms);
        else
            log_info("upstream %s up, rtt %.2f ms", u->name, ms);
    }
    u->fails = 0;
}

static int edns_ok(const struct upstream_set *s, size_t i)
{
    return evloop_now_ms(s->loop) >= s->ups[i].no_edns_until_ms;
}

/* Upstream i answered our query without EDNS (after rejecting it with
 * EDNS): ask it without EDNS for --no-edns-ttl. */
static void note_no_edns(struct upstream_set *s, size_t i)
{
    struct upstream *u = &s->ups[i];
    uint64_t now = evloop_now_ms(s->loop);
    uint64_t until = edns_plain_until(now, s->cfg->no_edns_ttl_s);

    if (!until)
        return;
    if (now >= u->no_edns_until_ms) {   /* one log line per change */
        if (s->cfg->threads > 1)
            log_warn("upstream %s rejects EDNS (thread %d): queries go "
                     "without EDNS for %u s", u->name, s->worker_id,
                     s->cfg->no_edns_ttl_s);
        else
            log_warn("upstream %s rejects EDNS: queries go without EDNS "
                     "for %u s", u->name, s->cfg->no_edns_ttl_s);
    }
    u->no_edns_until_ms = until;
}

static size_t order(void *impl, size_t *idx, size_t cap)
{
    struct upstream_set *s = impl;
    size_t n = s->n < cap ? s->n : cap;
    uint32_t maxf = s->cfg->max_fails;

    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    /* Insertion sort: at most CFG_MAX_UPSTREAMS elements. */
    for (size_t i = 1; i < n; i++) {
        size_t v = idx[i], j = i;
        const struct upstream *b = &s->ups[v];
        uint32_t bf = b->fails < maxf ? b->fails : maxf;

        while (j > 0) {
            const struct upstream *a = &s->ups[idx[j - 1]];
            uint32_t af = a->fails < maxf ? a->fails : maxf;

            if (af < bf || (af == bf && a->srtt_ms <= b->srtt_ms))
                break;
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    return n;
}

/* How long to wait for upstream i before also asking the next one: the
 * --upstream-timeout floor, or 4 x its smoothed RTT when that is longer
 * (a slow but healthy recursor is not hammered), at most half of
 * --stale-timeout (so another upstream is asked before a client would
 * get a stale answer). */
static uint32_t try_timeout_ms(const struct upstream_set *s, size_t i)
{
    double t = RTT_TIMEOUT_FACTOR * s->ups[i].srtt_ms;
    uint32_t floor_ms = s->cfg->try_timeout_ms;
    uint32_t cap = s->cfg->stale_timeout_ms / 2;

    if (t <= floor_ms)
        return floor_ms;
    return t >= cap ? (cap > floor_ms ? cap : floor_ms) : (uint32_t)t;
}

/* ---- queries ------------------------------------------------------- */

static void on_try_timeout(struct evloop *loop, struct ev_timer *t,
                           void *arg);

static struct upq *upq_new(struct upstream_set *s, size_t i,
                           const struct dns_question *question, int is_probe)
{
    struct upq *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    q->s = s;
    q->up = i;
    q->q = *question;
    q->is_probe = is_probe;
    if (!is_probe && !(q->try_timer = evloop_timer_new(s->loop,
                                                      on_try_timeout, q))) {
        free(q);
        return NULL;
    }
    return q;
}

static void upq_free(struct upq *q)
{
    struct upstream *u = &q->s->ups[q->up];

    if (u->probe == q)
        u->probe = NULL;
    evloop_timer_free(q->try_timer);
    free(q);
}

/* q's last callback (unless cancelled); then q is gone. */
static void upq_end(struct upq *q, enum upq_status st,
                    const struct upq_answer *a)
{
    if (q->try_timer)
        evloop_timer_stop(q->try_timer);
    if (q->cb)
        q->cb(q->arg, q, st, a);
    upq_free(q);
}

static void ares_done(void *arg, int status, int timeouts,
                      unsigned char *abuf, int alen);

/* Sends q's question to its upstream, with EDNS (kind EDNS_TRY_EDNS) or
 * without, on the channel that may carry it. Returns 0, or -1 if it failed
 * at once (counted against the upstream). */
static int ask(struct upq *q, enum edns_try kind)
{
    struct upstream_set *s = q->s;
    struct upstream *u = &s->ups[q->up];
    uint8_t qb[QUERY_BUF];
    uint16_t id = new_id(s);
    int len = dns_query_build(qb, sizeof(qb), id, q->q.name, q->q.len,
                              q->q.qtype, q->q.qclass,
                              kind == EDNS_TRY_EDNS ? DNS_EDNS_UDP : 0);
    enum chan_kind ck = len > 0 && edns_query_is_strippable(qb, (size_t)len)
                            ? CHAN_EDNS : CHAN_PLAIN;
    struct chan *c;

    if (len > 0 && !u->cur[ck])
        renew(s, q->up, ck, NULL);
    if (len <= 0 || !(c = u->cur[ck])) {
        health_fail(s, q->up, UF_ERROR);
        release_id(s, id);
        return -1;
    }
    q->ch = c;
    q->id = id;
    q->kind = kind;
    q->sent_ns = evloop_clock_ns();
    q->in_send = 1;
    q->failed_in_send = 0;
    c->outstanding++;
    c->sent++;
    prom_inc(&s->m->up_queries[q->up]);
    c->busy++;
    ares_send(c->ch, qb, len, ares_done, q);
    c->busy--;
    q->in_send = 0;
    chan_after(c);
    return q->failed_in_send ? -1 : 0;
}

/* The per-try timeout passed without an answer: counts a timeout against
 * the upstream (once) and renews its socket. */
static void count_timeout(struct upq *q)
{
    if (q->timeout_counted)
        return;
    q->timeout_counted = 1;
    health_fail(q->s, q->up, UF_TIMEOUT);
    renew(q->s, q->up, q->ch->kind, q->ch);
}

static void on_try_timeout(struct evloop *loop, struct ev_timer *t,
                           void *arg)
{
    struct upq *q = arg;

    count_timeout(q);
    if (q->cb)
        q->cb(q->arg, q, UPQ_SLOW, NULL);
}

/* q's EDNS query was answered FORMERR or NOTIMP: asks the same upstream the
 * same question without EDNS, in place (no failure, no try used up; the
 * per-try timeout starts again unless it has passed). Returns 0 if sent. */
static int fall_back(struct upq *q)
{
    prom_inc(&q->s->m->up_edns_fallbacks[q->up]);
    if (ask(q, EDNS_TRY_FALLBACK) < 0)
        return -1;
    if (!q->timeout_counted)
        evloop_timer_start(q->try_timer, try_timeout_ms(q->s, q->up));
    return 0;
}

/* An answer (any rcode) to q's current query: health first, then the
 * EDNS fallback, then the answer checked and compiled for the caller. */
static void answered(struct upq *q, const uint8_t *abuf, size_t alen)
{
    struct upstream_set *s = q->s;
    struct upstream *u = &s->ups[q->up];
    unsigned rcode = dns_get16(abuf + DNS_OFF_FLAGS) & DNS_F_RCODE;
    uint64_t rtt_ns = evloop_clock_ns() - q->sent_ns;
    enum edns_verdict v;
    struct dns_compiled c;

    if (!q->is_probe)
        metrics_upstream_response(s->m, q->up, rcode);
    if (q->is_probe) {
        health_ok(s, q->up, rtt_ns);
    } else if (rcode == DNS_R_SERVFAIL) {
        /* Counted, and retried elsewhere by the caller, but a server that
         * answers is alive: one broken domain must not mark the cluster
         * DNS down... */
        prom_inc(&s->m->up_failures[q->up][UF_SERVFAIL]);
        /* ...yet it should lose ties: its RTT estimate takes a long sample
         * (one that keeps its per-try timeout at the floor). */
        u->srtt_ms = (1 - RTT_ALPHA) * u->srtt_ms +
                     RTT_ALPHA * (double)s->cfg->try_timeout_ms /
                         RTT_TIMEOUT_FACTOR;
    } else if (rcode == DNS_R_REFUSED) {
        health_fail(s, q->up, UF_REFUSED);
    } else {
        health_ok(s, q->up, rtt_ns);
    }
    if (!q->cb) {
        upq_free(q);
        return;
    }
    v = edns_verdict(q->kind, rcode);
    if (v == EDNS_RETRY_PLAIN && fall_back(q) == 0)
        return;
    dnsw_init(s->wr, s->wbuf, DNS_MAX_MSG);
    if (dns_response_compile(abuf, alen, q->q.name, q->q.len, q->q.qtype,
                             q->q.qclass, s->wr, &c) < 0) {
        health_fail(s, q->up, UF_MALFORMED);    /* it answered, but badly */
        upq_end(q, UPQ_FAILED, NULL);
        return;
    }
    if (c.rcode == DNS_R_SERVFAIL || c.rcode == DNS_R_REFUSED) {
        upq_end(q, UPQ_FAILED, NULL);           /* counted above */
        return;
    }
    if (v == EDNS_REMEMBER_PLAIN)
        note_no_edns(s, q->up);
    struct upq_answer a = {&c, s->wbuf, s->wr->len};
    upq_end(q, UPQ_ANSWER, &a);
}

static void ares_done(void *arg, int status, int timeouts,
                      unsigned char *abuf, int alen)
{
    struct upq *q = arg;
    struct upstream_set *s = q->s;

    (void)timeouts;
    q->ch->outstanding--;
    release_id(s, q->id);
    if (status == ARES_EDESTRUCTION || s->closing) {
        upq_free(q);
        return;
    }
    if (status == ARES_SUCCESS && abuf && alen >= DNS_HEADER_LEN) {
        answered(q, abuf, (size_t)alen);
        return;
    }
    if (status == ARES_ETIMEOUT) {
        if (!q->timeout_counted)
            health_fail(s, q->up, UF_TIMEOUT);
        renew(s, q->up, q->ch->kind, q->ch);
    } else {
        health_fail(s, q->up, status == ARES_ECONNREFUSED ? UF_CONNREFUSED
                                                          : UF_ERROR);
    }
    if (q->in_send) {
        q->failed_in_send = 1;
        return;                 /* ask() reports it */
    }
    upq_end(q, UPQ_FAILED, NULL);
}

static struct upq *send_query(void *impl, size_t i,
                              const struct dns_question *question, upq_cb cb,
                              void *arg)
{
    struct upstream_set *s = impl;
    struct upq *q = upq_new(s, i, question, 0);

    if (!q) {
        health_fail(s, i, UF_ERROR);
        return NULL;
    }
    if (ask(q, edns_ok(s, i) ? EDNS_TRY_EDNS : EDNS_TRY_PLAIN) < 0) {
        upq_free(q);
        return NULL;
    }
    q->cb = cb;
    q->arg = arg;
    evloop_timer_start(q->try_timer, try_timeout_ms(s, i));
    return q;
}

static void cancel_query(void *impl, struct upq *q)
{
    q->cb = NULL;
    q->arg = NULL;
    if (q->try_timer)
        evloop_timer_stop(q->try_timer);
}

struct upstream_iface upstream_iface(struct upstream_set *s)
{
    struct upstream_iface iface = {
        .order = order, .send = send_query, .cancel = cancel_query,
        .impl = s,
    };

    return iface;
}

/* ---- probes and periodic renewal ----------------------------------- */

static void probe_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct upstream_set *s = arg;
    static const struct dns_question root_ns = {
        .name = {0}, .len = 1, .qtype = DNS_T_NS, .qclass = DNS_C_IN,
    };
    int any = 0;

    for (size_t i = 0; i < s->n; i++) {
        struct upstream *u = &s->ups[i];

        if (u->fails == 0)
            continue;
        any = 1;
        if (u->probe) {
            /* Unanswered within the per-try timeout: a failure, and the
             * next probe goes out on a fresh socket. The old one ends on
             * its own. */
            if (evloop_now_ms(loop) - u->probe_sent_ms < s->cfg->try_timeout_ms)
                continue;
            count_timeout(u->probe);
            u->probe = NULL;
        }
        u->probe_sent_ms = evloop_now_ms(loop);
        if (!(u->probe = upq_new(s, i, &root_ns, 1)))
            continue;
        if (ask(u->probe, EDNS_TRY_EDNS) < 0) {
            upq_free(u->probe);
            u->probe = NULL;
        }
    }
    if (any)
        evloop_timer_start(t, s->cfg->probe_interval_ms);
}

static void arm_probes(struct upstream_set *s)
{
    if (!s->closing && !evloop_timer_active(s->probe_timer))
        evloop_timer_start(s->probe_timer, s->cfg->probe_interval_ms);
}

static void renew_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct upstream_set *s = arg;

    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < CHAN_KINDS; k++)
            if (s->ups[i].cur[k])
                renew(s, i, (enum chan_kind)k, NULL);
    evloop_timer_start(t, (uint64_t)s->cfg->renew_interval_s * MS_PER_S);
}

struct upstream_set *upstream_set_new(struct evloop *loop,
                                      const struct config *cfg,
                                      struct worker_metrics *m, int worker_id)
{
    struct upstream_set *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->loop = loop;
    s->cfg = cfg;
    s->m = m;
    s->worker_id = worker_id;
    s->n = cfg->nupstream;
    s->rng = evloop_clock_ns() ^ ((uint64_t)(uintptr_t)s << 16) ^ (uint64_t)worker_id;
    if (!s->rng)
        s->rng = 1;
    s->probe_timer = evloop_timer_new(loop, probe_tick, s);
    s->renew_timer = evloop_timer_new(loop, renew_tick, s);
    s->wr = malloc(sizeof(*s->wr));
    s->wbuf = malloc(DNS_MAX_MSG);
    if (!s->probe_timer || !s->renew_timer || !s->wr || !s->wbuf) {
        upstream_set_free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->ups[i].addr = cfg->upstream[i];
        netaddr_format(&cfg->upstream[i], s->ups[i].name, sizeof(s->ups[i].name));
        prom_set(&m->up_up[i], 1);
        if (!(s->ups[i].cur[CHAN_EDNS] = chan_new(s, i, CHAN_EDNS))) {
            upstream_set_free(s);
            return NULL;
        }
    }
    if (cfg->renew_interval_s)
        evloop_timer_start(s->renew_timer,
                           (uint64_t)cfg->renew_interval_s * MS_PER_S);
    return s;
}

void upstream_set_free(struct upstream_set *s)
{
    if (!s)
        return;
    s->closing = 1;
    for (size_t i = 0; i < s->n; i++)
        for (int k = 0; k < CHAN_KINDS; k++)
            if (s->ups[i].cur[k])
                chan_destroy(s->ups[i].cur[k]);
    while (s->retiring) {
        struct chan *c = s->retiring;

        s->retiring = c->next_retiring;
        chan_destroy(c);
    }
    evloop_timer_free(s->probe_timer);
    evloop_timer_free(s->renew_timer);
    free(s->wr);
    free(s->wbuf);
    free(s);
}
