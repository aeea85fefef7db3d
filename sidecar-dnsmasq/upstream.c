/* upstream.c - c-ares channels per upstream, health, probes, socket
 * renewal; see upstream.h.
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
 *   us and the fallback stays ours (resolver.c, edns.c);
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
    PROBE_QUERY_MAX = 64,
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

struct upq {
    struct upstream_set *s;
    size_t up;
    struct chan *ch;
    upq_cb cb;
    void *arg;
    uint16_t id;
    uint64_t sent_ns;
    int timeout_counted;
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

uint16_t upstream_new_id(struct upstream_set *s)
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
    o.timeout = (int)s->cfg->query_timeout_ms;
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

int upstream_edns_ok(const struct upstream_set *s, size_t i)
{
    return evloop_now_ms(s->loop) >= s->ups[i].no_edns_until_ms;
}

void upstream_note_edns_fallback(struct upstream_set *s, size_t i)
{
    prom_inc(&s->m->up_edns_fallbacks[i]);
}

void upstream_note_no_edns(struct upstream_set *s, size_t i)
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

void upstream_note_failure(struct upstream_set *s, size_t i,
                           enum upstream_fail_reason why)
{
    health_fail(s, i, why);
}

size_t upstream_order(struct upstream_set *s, size_t *idx, size_t cap)
{
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

/* ---- queries ------------------------------------------------------- */

static void ares_done(void *arg, int status, int timeouts,
                      unsigned char *abuf, int alen)
{
    struct upq *q = arg;
    struct upstream_set *s = q->s;

    (void)timeouts;
    q->ch->outstanding--;
    release_id(s, q->id);
    if (status == ARES_EDESTRUCTION || s->closing) {
        free(q);
        return;
    }
    if (status == ARES_SUCCESS && abuf && alen >= DNS_HEADER_LEN) {
        unsigned rcode = abuf[3] & DNS_F_RCODE;

        if (q->is_probe) {
            health_ok(s, q->up, evloop_clock_ns() - q->sent_ns);
        } else if (rcode == DNS_R_SERVFAIL) {
            /* Counted, and retried elsewhere by the caller, but a server
             * that answers is alive: one broken domain must not mark the
             * cluster DNS down. */
            struct upstream *u = &s->ups[q->up];

            prom_inc(&s->m->up_failures[q->up][UF_SERVFAIL]);
            /* ...yet it should lose ties: its RTT estimate takes a long
             * sample (one that keeps its per-try timeout at the floor). */
            u->srtt_ms = (1 - RTT_ALPHA) * u->srtt_ms +
                         RTT_ALPHA * (double)s->cfg->try_timeout_ms /
                             RTT_TIMEOUT_FACTOR;
        } else if (rcode == DNS_R_REFUSED)
            health_fail(s, q->up, UF_REFUSED);
        else
            health_ok(s, q->up, evloop_clock_ns() - q->sent_ns);
        if (q->cb)
            q->cb(q->arg, q, UPQ_ANSWER, abuf, (size_t)alen);
        free(q);
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
        return;                 /* upstream_send reports it */
    }
    if (q->cb)
        q->cb(q->arg, q, UPQ_FAILED, NULL, 0);
    free(q);
}

struct upq *upstream_send(struct upstream_set *s, size_t i, const uint8_t *qb,
                          size_t qlen, upq_cb cb, void *arg)
{
    struct upstream *u = &s->ups[i];
    enum chan_kind kind = edns_query_is_strippable(qb, qlen) ? CHAN_EDNS
                                                             : CHAN_PLAIN;
    struct upq *q;
    struct chan *c;

    if (!u->cur[kind])
        renew(s, i, kind, NULL);
    if (!(c = u->cur[kind]) || !(q = calloc(1, sizeof(*q)))) {
        health_fail(s, i, UF_ERROR);
        if (qlen >= 2)
            release_id(s, dns_get16(qb));
        return NULL;
    }
    q->s = s;
    q->up = i;
    q->ch = c;
    q->cb = cb;
    q->arg = arg;
    q->id = dns_get16(qb);
    q->sent_ns = evloop_clock_ns();
    q->in_send = 1;
    c->outstanding++;
    c->sent++;
    prom_inc(&s->m->up_queries[i]);
    c->busy++;
    ares_send(c->ch, qb, (int)qlen, ares_done, q);
    c->busy--;
    q->in_send = 0;
    chan_after(c);
    if (q->failed_in_send) {
        free(q);
        return NULL;
    }
    return q;
}

void upstream_try_timeout(struct upstream_set *s, struct upq *q)
{
    if (q->timeout_counted)
        return;
    q->timeout_counted = 1;
    health_fail(s, q->up, UF_TIMEOUT);
    renew(s, q->up, q->ch->kind, q->ch);
}

void upstream_detach(struct upq *q)
{
    q->cb = NULL;
    q->arg = NULL;
}

size_t upstream_index(const struct upq *q)
{
    return q->up;
}

uint32_t upstream_try_timeout_ms(const struct upstream_set *s, size_t i)
{
    double t = RTT_TIMEOUT_FACTOR * s->ups[i].srtt_ms;
    uint32_t floor_ms = s->cfg->try_timeout_ms;
    uint32_t cap = s->cfg->query_timeout_ms / 2;

    if (t <= floor_ms)
        return floor_ms;
    return t >= cap ? (cap > floor_ms ? cap : floor_ms) : (uint32_t)t;
}

/* ---- probes and periodic renewal ----------------------------------- */

static void probe_done(void *arg, struct upq *q, enum upq_status st,
                       const uint8_t *abuf, size_t alen)
{
    struct upstream_set *s = arg;

    (void)st; (void)abuf; (void)alen;
    s->ups[q->up].probe = NULL;
}

static void probe_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct upstream_set *s = arg;
    static const uint8_t root[] = {0};
    uint8_t qb[PROBE_QUERY_MAX];
    int any = 0;

    for (size_t i = 0; i < s->n; i++) {
        struct upstream *u = &s->ups[i];
        int len;

        if (u->fails == 0)
            continue;
        any = 1;
        if (u->probe) {
            /* Unanswered within the per-try timeout: a failure, and the
             * next probe goes out on a fresh socket. */
            if (evloop_now_ms(loop) - u->probe_sent_ms < s->cfg->try_timeout_ms)
                continue;
            upstream_try_timeout(s, u->probe);
            upstream_detach(u->probe);
            u->probe = NULL;
        }
        len = dns_query_build(qb, sizeof(qb), upstream_new_id(s), root,
                              sizeof(root), DNS_T_NS, DNS_C_IN, DNS_EDNS_UDP);
        u->probe_sent_ms = evloop_now_ms(loop);
        u->probe = upstream_send(s, i, qb, (size_t)len, probe_done, s);
        if (u->probe)
            u->probe->is_probe = 1;
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
    if (!s->probe_timer || !s->renew_timer) {
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
    free(s);
}
