/* worker.c - a worker's lifecycle and the query path; see worker.h.
 *
 * The worker wires the parts: the server hands every query to on_query
 * (hosts, cache, then the resolver); the resolver hands every answer that
 * comes later to on_resolved, which gives it to the server. */
#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "answer.h"
#include "cache.h"
#include "dnswire.h"
#include "evloop.h"
#include "hosts.h"
#include "log.h"
#include "resolver.h"
#include "server.h"
#include "upstream.h"

enum {
    TICK_MS = 1000,             /* heartbeat and --hosts change check */
    NS_PER_S = 1000000000,
};

struct worker {
    int id;
    const struct config *cfg;
    struct evloop *loop;
    struct cache *cache;
    struct hosts *hosts;
    struct upstream_set *ups;
    struct resolver *res;
    struct server *srv;
    struct worker_metrics m;
    struct dns_writer *wr;          /* scratch for --hosts answers, on wbuf */
    uint8_t *wbuf;                  /* DNS_MAX_MSG */
    int notify_fd;                  /* eventfd: stop / reload requests */
    int sig_fd;                     /* signalfd, worker 0 only, else -1 */
    int stop_req, reload_req;       /* set atomically, then notify_fd */
    struct worker **all;            /* every worker (for worker 0) */
    size_t nall;
    struct ev_timer *tick;
    struct { int64_t mtime_ns; off_t size; ino_t ino; int present; } hosts_sig;
};

/* ---- --hosts ------------------------------------------------------- */

static void reload_hosts(struct worker *w, const char *why)
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

static void check_hosts(struct worker *w)
{
    struct stat st;

    if (!w->cfg->hosts_file)
        return;
    if (stat(w->cfg->hosts_file, &st) < 0) {
        if (w->hosts_sig.present)
            reload_hosts(w, "removed");
        return;
    }
    if (!w->hosts_sig.present ||
        w->hosts_sig.mtime_ns != (int64_t)st.st_mtim.tv_sec * NS_PER_S + st.st_mtim.tv_nsec ||
        w->hosts_sig.size != st.st_size || w->hosts_sig.ino != st.st_ino)
        reload_hosts(w, "changed");
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

/* Answers from a cache entry with the given TTL, counted as a hit or (an
 * expired entry) as stale, and starts a background refresh when its state
 * asks for one and none is running. Returns the answer's length, 0 if it
 * could not be written. */
static size_t serve_cached(struct worker *w, struct cache_entry *e,
                           uint32_t ttl, enum cache_state st,
                           const struct dns_query *q,
                           const struct client_q *cq, uint8_t *out,
                           size_t cap)
{
    struct answer_src src = {
        .image = e->image, .image_len = e->image_len,
        .ttl_offs = e->ttl_offs, .nttl = e->nttl, .ttl = ttl,
    };
    unsigned rcode = dns_get16(e->image + DNS_OFF_FLAGS) & DNS_F_RCODE;
    enum metric_cache_type type =
        rcode == DNS_R_NOERROR && dns_get16(e->image + DNS_OFF_AN) > 0
            ? MC_SUCCESS : MC_DENIAL;
    int trunc = 0;
    size_t n;

    if (st != CACHE_FRESH && !e->prefetching) {
        e->prefetching = 1;
        if (resolver_prefetch(w->res, q->lname, q->qname_len, q->qtype,
                              q->qclass) < 0)
            e->prefetching = 0;
    }
    n = answer_write(out, cap, &src, cq, &trunc);
    if (n) {
        prom_inc(st == CACHE_STALE_NOW ? &w->m.stale_served
                                       : &w->m.cache_hits[type]);
        if (trunc)
            prom_inc(&w->m.truncated);
        metrics_response(&w->m, rcode);
    }
    return n;
}

/* The server's handler: the query path. */
static enum server_verdict on_query(void *arg, const uint8_t *msg,
                                    size_t len, const struct reply_to *rt,
                                    uint8_t *out, size_t cap, size_t *outlen)
{
    struct worker *w = arg;
    struct dns_query q;
    struct client_q cq;
    struct cache_entry *e;
    int tcp = rt->tcp != NULL;
    int trunc = 0;
    size_t n;
    int r = dns_query_parse(msg, len, &q);

    if (r != DNS_PARSE_OK) {
        prom_inc(&w->m.malformed);
        if (r == DNS_PARSE_DROP)
            return SERVER_DROPPED;
        *outlen = reply_error(w, msg, len, NULL,
                              r == DNS_PARSE_NOTIMP ? DNS_R_NOTIMP
                                                    : DNS_R_FORMERR,
                              out, cap);
        return *outlen ? SERVER_ANSWERED : SERVER_DROPPED;
    }
    prom_inc(&w->m.queries[tcp ? MP_TCP : MP_UDP][metrics_qtype(q.qtype)]);
    answer_client_from_query(&cq, &q, tcp);
    if (q.qtype == DNS_T_AXFR || q.qtype == DNS_T_IXFR) {
        *outlen = reply_error(w, msg, len, &cq, DNS_R_NOTIMP, out, cap);
        return *outlen ? SERVER_ANSWERED : SERVER_DROPPED;
    }
    if (q.has_edns && q.edns_version > 0) {
        metrics_response(&w->m, MR_NRCODES - 1);        /* "other" */
        *outlen = answer_badvers(out, cap, msg, len, &cq);
        return *outlen ? SERVER_ANSWERED : SERVER_DROPPED;
    }

    if (w->hosts && (n = hosts_answer(w->hosts, &q, &cq, w->cfg->local_ttl,
                                      w->wr, out, cap, &trunc))) {
        prom_inc(&w->m.local_answers);
        if (trunc)
            prom_inc(&w->m.truncated);
        metrics_response(&w->m, DNS_R_NOERROR);
        *outlen = n;
        return SERVER_ANSWERED;
    }

    e = cache_lookup(w->cache, q.lname, q.qname_len, q.qtype, q.qclass,
                     cache_hash(q.lname, q.qname_len, q.qtype, q.qclass));
    if (e) {
        uint32_t ttl;
        enum cache_state st = cache_state(e, evloop_now_ms(w->loop), &ttl);

        switch (st) {
        case CACHE_FRESH:
        case CACHE_PREFETCH:
        case CACHE_STALE_NOW:
            if ((n = serve_cached(w, e, ttl, st, &q, &cq, out, cap))) {
                *outlen = n;
                return SERVER_ANSWERED;
            }
            break;
        case CACHE_STALE:               /* only if no upstream answers */
            break;
        case CACHE_DEAD:
            cache_remove(w->cache, e);
            break;
        }
    }

    prom_inc(&w->m.cache_misses);
    if (resolver_query(w->res, &q, &cq, rt) < 0) {
        prom_inc(&w->m.overload);
        *outlen = reply_error(w, msg, len, &cq, DNS_R_SERVFAIL, out, cap);
        return *outlen ? SERVER_ANSWERED : SERVER_DROPPED;
    }
    return SERVER_DEFERRED;
}

/* The resolver's sink: an answer that came later goes to the server. */
static void on_resolved(void *arg, const struct reply_to *rt,
                        const uint8_t *msg, size_t len)
{
    struct worker *w = arg;

    server_reply(w->srv, rt, msg, len);
}

/* ---- lifecycle ----------------------------------------------------- */

static void on_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct worker *w = arg;

    prom_set(&w->m.heartbeat_ms, evloop_now_ms(loop));
    check_hosts(w);
    evloop_timer_start(t, TICK_MS);
}

static void handle_requests(struct worker *w)
{
    if (__atomic_exchange_n(&w->reload_req, 0, __ATOMIC_ACQ_REL))
        reload_hosts(w, "SIGHUP");
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

static void request_reload(struct worker *w)
{
    uint64_t one = 1;

    __atomic_store_n(&w->reload_req, 1, __ATOMIC_RELEASE);
    if (write(w->notify_fd, &one, sizeof(one)) < 0)
        log_warn("eventfd write: %s", strerror(errno));
}

static void on_signal(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct worker *w = arg;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        for (size_t i = 0; i < w->nall; i++) {
            if (si.ssi_signo == SIGHUP)
                request_reload(w->all[i]);
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
    struct server_handler handler = {.query = on_query, .arg = w};
    struct resolver_sink sink = {.reply = on_resolved, .arg = w};
    struct upstream_iface ups;

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
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->loop || !w->cache || !w->wr || !w->wbuf || w->notify_fd < 0) {
        log_error("worker %d: out of memory or descriptors", id);
        goto fail;
    }
    dnsw_init(w->wr, w->wbuf, DNS_MAX_MSG);
    w->m.cache_entries = cache_count_atomic(w->cache);
    w->m.cache_evictions = cache_evictions(w->cache);
    if (!(w->ups = upstream_set_new(w->loop, cfg, &w->m, id)))
        goto fail;
    ups = upstream_iface(w->ups);
    if (!(w->res = resolver_new(w->loop, cfg, w->cache, &w->m, &ups, &sink)) ||
        !(w->srv = server_new(w->loop, cfg, &w->m, reuseport, &handler)))
        goto fail;
    if (evloop_io_set(w->loop, w->notify_fd, EV_READ, on_notify, w) < 0 ||
        !(w->tick = evloop_timer_new(w->loop, on_tick, w)))
        goto fail;
    if (cfg->hosts_file) {
        reload_hosts(w, "start");
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

struct worker_metrics *worker_get_metrics(struct worker *w)
{
    return &w->m;
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
    resolver_free(w->res);          /* replies to the server, cancels tries */
    upstream_set_free(w->ups);
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
    metrics_free(&w->m);
    free(w);
}
