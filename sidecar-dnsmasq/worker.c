/* worker.c - a worker's lifecycle and the query path; see worker.h. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "answer.h"
#include "log.h"
#include "resolver.h"
#include "server.h"
#include "upstream.h"

enum {
    TICK_MS = 1000,             /* heartbeat and --hosts change check */
    MS_PER_S = 1000,
    NS_PER_S = 1000000000,
    PREFETCH_FRACTION = 10,     /* refresh in the last tenth of the TTL */
};

/* ---- --hosts ------------------------------------------------------- */

static void hosts_reload(struct worker *w, const char *why)
{
    struct stat st;
    struct hosts *h;
    size_t bad = 0;

    if (!w->cfg->hosts_file)
        return;
    if (stat(w->cfg->hosts_file, &st) < 0) {
        if (w->hosts_sig.present && w->id == 0)
            log_warn("hosts %s: %s; keeping %zu names", w->cfg->hosts_file,
                     strerror(errno), w->hosts ? hosts_count(w->hosts) : 0);
        w->hosts_sig.present = 0;
        return;
    }
    w->hosts_sig.present = 1;
    w->hosts_sig.mtime_ns = (int64_t)st.st_mtim.tv_sec * NS_PER_S + st.st_mtim.tv_nsec;
    w->hosts_sig.size = st.st_size;
    w->hosts_sig.ino = st.st_ino;
    if (!(h = hosts_load(w->cfg->hosts_file, &bad))) {
        log_warn("hosts %s: %s; keeping the previous table", w->cfg->hosts_file,
                 strerror(errno));
        return;
    }
    hosts_free(w->hosts);
    w->hosts = h;
    prom_inc(&w->m.hosts_reloads);
    prom_set(&w->m.hosts_entries, hosts_count(h));
    if (w->id == 0)
        log_info("hosts %s loaded (%s): %zu names, %zu bad lines",
                 w->cfg->hosts_file, why, hosts_count(h), bad);
}

static void hosts_check(struct worker *w)
{
    struct stat st;

    if (!w->cfg->hosts_file)
        return;
    if (stat(w->cfg->hosts_file, &st) < 0) {
        if (w->hosts_sig.present)
            hosts_reload(w, "removed");
        return;
    }
    if (!w->hosts_sig.present ||
        w->hosts_sig.mtime_ns != (int64_t)st.st_mtim.tv_sec * NS_PER_S + st.st_mtim.tv_nsec ||
        w->hosts_sig.size != st.st_size || w->hosts_sig.ino != st.st_ino)
        hosts_reload(w, "changed");
}

/* Starts a local (--hosts) answer in w->wbuf: AA header and the question. */
static void local_begin(struct worker *w, const struct dns_query *q)
{
    struct dns_header h = {0, DNS_F_QR | DNS_F_AA, 1, 0, 0, 0};

    dnsw_init(w->wr, w->wbuf, DNS_MAX_MSG);
    dnsw_header(w->wr, &h);
    dnsw_name(w->wr, q->lname, q->qname_len, 0);
    dnsw_u16(w->wr, q->qtype);
    dnsw_u16(w->wr, q->qclass);
}

/* Writes the owner (the question's name), type, class and TTL of one
 * local record, recording where its TTL is. */
static void local_rr_start(struct worker *w, const struct dns_query *q,
                           uint16_t type, uint16_t *offs, size_t *nttl)
{
    struct dns_writer *wr = w->wr;

    dnsw_name(wr, q->lname, q->qname_len, 1);
    dnsw_u16(wr, type);
    dnsw_u16(wr, DNS_C_IN);
    offs[(*nttl)++] = (uint16_t)wr->len;
    dnsw_u32(wr, w->cfg->local_ttl);
}

/* Ends a local answer of nttl records and shapes it for the client.
 * Returns its length, 0 if it did not fit. */
static size_t local_finish(struct worker *w, const uint16_t *offs,
                           size_t nttl, const struct client_q *cq,
                           uint8_t *out, size_t cap, int *trunc)
{
    if (w->wr->overflow)
        return 0;
    dns_put16(w->wbuf + DNS_OFF_AN, (uint16_t)nttl);
    struct answer_src src = {
        .image = w->wbuf, .image_len = w->wr->len, .ttl_offs = offs,
        .nttl = nttl, .ttl = w->cfg->local_ttl, .authoritative = 1,
    };
    return answer_write(out, cap, &src, cq, trunc);
}

/* Answers A/AAAA (and NODATA for other types) for a --hosts name. */
static size_t local_answer(struct worker *w, const struct hosts_name *hn,
                           const struct dns_query *q,
                           const struct client_q *cq, uint8_t *out,
                           size_t cap, int *trunc)
{
    uint16_t offs[DNS_MAX_TTLS];
    size_t nttl = 0;

    local_begin(w, q);
    for (size_t i = 0; i < hn->n4 + hn->n6 && nttl < DNS_MAX_TTLS; i++) {
        const struct hosts_addr *a = hosts_addr(w->hosts, hn->first + i);
        int v4 = a->family == AF_INET;
        uint16_t alen = v4 ? HOSTS_ADDR4_LEN : HOSTS_ADDR6_LEN;

        if (!(q->qtype == DNS_T_ANY || (v4 && q->qtype == DNS_T_A) ||
              (!v4 && q->qtype == DNS_T_AAAA)))
            continue;
        local_rr_start(w, q, v4 ? DNS_T_A : DNS_T_AAAA, offs, &nttl);
        dnsw_u16(w->wr, alen);
        dnsw_bytes(w->wr, a->bytes, alen);
    }
    return local_finish(w, offs, nttl, cq, out, cap, trunc);
}

/* Answers a PTR (or ANY) query for the reverse name of a --hosts address
 * with the one name the table gives for it. */
static size_t local_ptr_answer(struct worker *w, const struct hosts_name *hn,
                               const struct dns_query *q,
                               const struct client_q *cq, uint8_t *out,
                               size_t cap, int *trunc)
{
    uint16_t offs[1];
    size_t nttl = 0, rdlen_at;

    local_begin(w, q);
    local_rr_start(w, q, DNS_T_PTR, offs, &nttl);
    rdlen_at = w->wr->len;
    dnsw_u16(w->wr, 0);
    dnsw_name(w->wr, hn->name, hn->name_len, 1);
    if (!w->wr->overflow)
        dns_put16(w->wbuf + rdlen_at,
                  (uint16_t)(w->wr->len - rdlen_at - sizeof(uint16_t)));
    return local_finish(w, offs, nttl, cq, out, cap, trunc);
}

/* The local answer for q from --hosts: a listed name, or (PTR and ANY
 * only, as dnsmasq does; other types at a reverse name are forwarded) the
 * reverse name of a listed address. Returns 0 if --hosts has none. */
static size_t hosts_answer(struct worker *w, const struct dns_query *q,
                           const struct client_q *cq, uint8_t *out,
                           size_t cap, int *trunc)
{
    const struct hosts_name *hn;
    struct hosts_addr a;

    if (!w->hosts || q->qclass != DNS_C_IN)
        return 0;
    if ((hn = hosts_lookup(w->hosts, q->lname, q->qname_len)))
        return local_answer(w, hn, q, cq, out, cap, trunc);
    if ((q->qtype == DNS_T_PTR || q->qtype == DNS_T_ANY) &&
        hosts_reverse_addr(q->lname, q->qname_len, &a) == 0 &&
        (hn = hosts_lookup_addr(w->hosts, &a)))
        return local_ptr_answer(w, hn, q, cq, out, cap, trunc);
    return 0;
}

/* ---- the query path ------------------------------------------------ */

static size_t reply_error(struct worker *w, const uint8_t *msg, size_t len,
                          const struct client_q *cq, unsigned rcode,
                          uint8_t *out, size_t cap)
{
    size_t n = answer_error(out, cap, msg, len, cq, rcode);

    if (n)
        metrics_response(&w->m, rcode);
    return n;
}

/* Answers from a cache entry with the given TTL; with refresh, also starts
 * a background refresh of the entry unless one is running. counter counts
 * the answer (hit or stale). Returns the answer's length, 0 if it could not
 * be written. */
static size_t serve_cached(struct worker *w, struct cache_entry *e,
                           uint32_t ttl, int refresh, uint64_t *counter,
                           const struct dns_query *q,
                           const struct client_q *cq, uint8_t *out,
                           size_t cap)
{
    struct answer_src src = {
        .image = e->image, .image_len = e->image_len,
        .ttl_offs = e->ttl_offs, .nttl = e->nttl, .ttl = ttl,
    };
    unsigned rcode = dns_get16(e->image + DNS_OFF_FLAGS) & DNS_F_RCODE;
    int trunc = 0;
    size_t n;

    if (refresh && !e->prefetching) {
        e->prefetching = 1;
        if (resolver_prefetch(w->res, q->lname, q->qname_len, q->qtype,
                              q->qclass) < 0)
            e->prefetching = 0;
    }
    n = answer_write(out, cap, &src, cq, &trunc);
    if (n) {
        prom_inc(counter);
        if (trunc)
            prom_inc(&w->m.truncated);
        metrics_response(&w->m, rcode);
    }
    return n;
}

size_t worker_handle_query(struct worker *w, const uint8_t *msg, size_t len,
                           int tcp, const struct reply_to *rt, uint8_t *out,
                           size_t cap, uint64_t t0_ns)
{
    struct dns_query q;
    struct client_q cq;
    struct cache_entry *e;
    uint32_t hash;
    int trunc = 0;
    size_t n;
    int r = dns_query_parse(msg, len, &q);

    if (r != DNS_PARSE_OK) {
        prom_inc(&w->m.malformed);
        if (r == DNS_PARSE_DROP)
            return 0;
        return reply_error(w, msg, len, NULL,
                           r == DNS_PARSE_NOTIMP ? DNS_R_NOTIMP : DNS_R_FORMERR,
                           out, cap);
    }
    prom_inc(&w->m.queries[tcp ? MP_TCP : MP_UDP][metrics_qtype(q.qtype)]);
    answer_client_from_query(&cq, &q, tcp);
    if (q.qtype == DNS_T_AXFR || q.qtype == DNS_T_IXFR)
        return reply_error(w, msg, len, &cq, DNS_R_NOTIMP, out, cap);
    if (q.has_edns && q.edns_version > 0) {
        metrics_response(&w->m, MR_NRCODES - 1);        /* "other" */
        return answer_badvers(out, cap, msg, len, &cq);
    }

    if ((n = hosts_answer(w, &q, &cq, out, cap, &trunc))) {
        prom_inc(&w->m.local_answers);
        if (trunc)
            prom_inc(&w->m.truncated);
        metrics_response(&w->m, DNS_R_NOERROR);
        return n;
    }

    hash = cache_hash(q.lname, q.qname_len, q.qtype, q.qclass);
    e = cache_lookup(w->cache, q.lname, q.qname_len, q.qtype, q.qclass, hash);
    if (e) {
        uint64_t now = evloop_now_ms(w->loop);

        if (now < e->expire_ms) {
            uint64_t left_ms = e->expire_ms - now;
            /* Hit in the last tenth of its TTL: refresh in the background
             * (prefetch), so hot names never miss. */
            int refresh = left_ms * PREFETCH_FRACTION <=
                          (uint64_t)e->ttl * MS_PER_S;

            n = serve_cached(w, e, (uint32_t)((left_ms + MS_PER_S - 1) /
                                              MS_PER_S),
                             refresh, &w->m.cache_hits, &q, &cq, out, cap);
            if (n)
                return n;
        } else if (now < e->stale_until_ms && now < e->stale_hold_ms) {
            /* A refresh failed recently: stale now, retry in background. */
            n = serve_cached(w, e, CACHE_STALE_REPLY_TTL, 1,
                             &w->m.stale_served, &q, &cq, out, cap);
            if (n)
                return n;
        } else if (now >= e->stale_until_ms) {
            cache_remove(w->cache, e);
        }
    }

    prom_inc(&w->m.cache_misses);
    if (resolver_query(w->res, &q, &cq, rt, t0_ns) < 0) {
        prom_inc(&w->m.overload);
        return reply_error(w, msg, len, &cq, DNS_R_SERVFAIL, out, cap);
    }
    return 0;
}

/* ---- lifecycle ----------------------------------------------------- */

static void on_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct worker *w = arg;

    prom_set(&w->m.heartbeat_ms, evloop_now_ms(loop));
    hosts_check(w);
    evloop_timer_start(t, TICK_MS);
}

static void handle_requests(struct worker *w)
{
    if (__atomic_exchange_n(&w->reload_req, 0, __ATOMIC_ACQ_REL))
        hosts_reload(w, "SIGHUP");
    if (__atomic_load_n(&w->stop_req, __ATOMIC_ACQUIRE))
        evloop_stop(w->loop);
}

static void on_notify(struct evloop *loop, int fd, unsigned events, void *arg)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("eventfd read: %s", strerror(errno));
    handle_requests(arg);
}

static void on_signal(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct worker *w = arg;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        for (size_t i = 0; i < w->nall; i++) {
            if (si.ssi_signo == SIGHUP)
                worker_request_reload(w->all[i]);
            else
                worker_request_stop(w->all[i]);
        }
        if (si.ssi_signo != SIGHUP)
            log_info("signal %u: exiting", si.ssi_signo);
    }
}

void worker_request_stop(struct worker *w)
{
    uint64_t one = 1;

    __atomic_store_n(&w->stop_req, 1, __ATOMIC_RELEASE);
    if (write(w->notify_fd, &one, sizeof(one)) < 0)
        log_warn("eventfd write: %s", strerror(errno));
}

void worker_request_reload(struct worker *w)
{
    uint64_t one = 1;

    __atomic_store_n(&w->reload_req, 1, __ATOMIC_RELEASE);
    if (write(w->notify_fd, &one, sizeof(one)) < 0)
        log_warn("eventfd write: %s", strerror(errno));
}

int worker_own_signals(struct worker *w, struct worker **all, size_t nall)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    w->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (w->sig_fd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    w->all = all;
    w->nall = nall;
    return evloop_io_set(w->loop, w->sig_fd, EV_READ, on_signal, w);
}

struct worker *worker_new(const struct config *cfg, int id, int reuseport)
{
    struct worker *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->id = id;
    w->cfg = cfg;
    w->sig_fd = -1;
    w->notify_fd = -1;
    if (metrics_init(&w->m) < 0)
        goto fail;
    w->loop = evloop_new();
    w->cache = cache_new(cfg->cache_size);
    w->wr = malloc(sizeof(*w->wr));
    w->wbuf = malloc(DNS_MAX_MSG);
    w->obuf = malloc(DNS_MAX_MSG);
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->loop || !w->cache || !w->wr || !w->wbuf || !w->obuf ||
        w->notify_fd < 0) {
        log_error("worker %d: out of memory or descriptors", id);
        goto fail;
    }
    w->m.cache_entries = cache_count_atomic(w->cache);
    w->m.cache_evictions = cache_evictions(w->cache);
    if (!(w->ups = upstream_set_new(w->loop, cfg, &w->m, id)) ||
        !(w->res = resolver_new(w)) || !(w->srv = server_new(w, reuseport)))
        goto fail;
    if (evloop_io_set(w->loop, w->notify_fd, EV_READ, on_notify, w) < 0 ||
        !(w->tick = evloop_timer_new(w->loop, on_tick, w)))
        goto fail;
    if (cfg->hosts_file) {
        hosts_reload(w, "start");
        if (!w->hosts) {
            log_error("hosts %s: cannot load", cfg->hosts_file);
            goto fail;
        }
    }
    prom_set(&w->m.heartbeat_ms, evloop_now_ms(w->loop));
    evloop_timer_start(w->tick, TICK_MS);
    return w;
fail:
    worker_free(w);
    return NULL;
}

int worker_run(struct worker *w)
{
    handle_requests(w);     /* a stop may have come before the loop ran */
    return evloop_run(w->loop);
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    upstream_set_free(w->ups);
    resolver_free(w->res);
    server_free(w->srv);
    if (w->tick)
        evloop_timer_free(w->tick);
    if (w->sig_fd >= 0) {
        evloop_io_del(w->loop, w->sig_fd);
        close(w->sig_fd);
    }
    if (w->notify_fd >= 0) {
        if (w->loop)
            evloop_io_del(w->loop, w->notify_fd);
        close(w->notify_fd);
    }
    hosts_free(w->hosts);
    cache_free(w->cache);
    evloop_free(w->loop);
    free(w->wr);
    free(w->wbuf);
    free(w->obuf);
    metrics_free(&w->m);
    free(w);
}
