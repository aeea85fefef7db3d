
/*
 * ngx_http_upstream_resolve_module: per-request peer selection.
 *
 * Smooth weighted round robin with passive health checks (max_fails,
 * fail_timeout) and backup peers, as nginx's own round robin, or, when
 * "least_conn" precedes resolve_server, nginx's least connections choice,
 * over the peer list in the upstream's zone.  A chosen peer is referenced
 * (peer->refs) until the request frees it; the address and name handed to
 * the upstream are copies in the request's pool, so nothing the request
 * keeps points into the zone after free.
 *
 * A request with session affinity (a table upstream's, see
 * ngx_http_upstream_resolve_affinity_t) goes to the peer its cookie's key
 * names while that peer is usable; otherwise the choice above is made and
 * the route module sends the key of the chosen peer in a new cookie.
 */


#include "ngx_http_upstream_resolve_module.h"


/* what the upstream keeps of one attempt, in the request's pool */

typedef struct {
    ngx_http_upstream_resolve_sockaddr_t  sockaddr;
    ngx_str_t                             name;
    u_char                                text[NGX_HTTP_RESOLVE_PEER_NAME_LEN];
} ngx_http_upstream_resolve_attempt_t;


typedef struct {
    ngx_pool_t                          *pool;
    ngx_http_upstream_resolve_shared_t  *shared;
    ngx_http_upstream_resolve_peer_t    *current;

    /* bitmap by peer id, as nginx's round robin keeps one by position */
    uintptr_t                           *tried;
    ngx_uint_t                           ntried;    /* bits in it */
    ngx_uint_t                           attempts;
    ngx_uint_t                           ntries;

    ngx_http_upstream_resolve_affinity_t  *affinity;  /* or NULL */
} ngx_http_upstream_resolve_peer_data_t;


/* splitmix64's finalizer: the rank of a peer for a balanced key */
#define ngx_http_upstream_resolve_mix(x, k)                                  \
    (k = (x), k ^= k >> 30, k *= 0xbf58476d1ce4e5b9ULL,                       \
     k ^= k >> 27, k *= 0x94d049bb133111ebULL, k ^ (k >> 31))


static ngx_int_t ngx_http_upstream_resolve_init_shared_peer(
    ngx_http_request_t *r, ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_affinity_t *affinity);
static ngx_http_upstream_resolve_peer_t *ngx_http_upstream_resolve_sticky(
    ngx_http_upstream_resolve_peer_data_t *rp, ngx_uint_t single,
    ngx_uint_t *issue);
static ngx_int_t ngx_http_upstream_resolve_get_peer(ngx_peer_connection_t *pc,
    void *data);
static ngx_http_upstream_resolve_peer_t *ngx_http_upstream_resolve_choose(
    ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *list, ngx_uint_t single);
static ngx_uint_t ngx_http_upstream_resolve_usable(
    ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *peer, ngx_uint_t single, time_t now);
static ngx_uint_t ngx_http_upstream_resolve_tried(
    ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *peer);
static void ngx_http_upstream_resolve_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);

#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_upstream_resolve_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_upstream_resolve_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


ngx_int_t
ngx_http_upstream_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_resolve_srv_conf_t  *rscf;

    rscf = ngx_http_conf_upstream_srv_conf(us,
                                           ngx_http_upstream_resolve_module);

    return ngx_http_upstream_resolve_init_shared_peer(r, rscf->shared, NULL);
}


/*
 * a table upstream's: the request holds e (the route module), and
 * affinity (or NULL) lives as long as the request
 */

ngx_int_t
ngx_http_upstream_resolve_init_table_peer(ngx_http_request_t *r,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_affinity_t *affinity)
{
    return ngx_http_upstream_resolve_init_shared_peer(r, &e->peers, affinity);
}


static ngx_int_t
ngx_http_upstream_resolve_init_shared_peer(ngx_http_request_t *r,
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_affinity_t *affinity)
{
    ngx_uint_t                              n, words;
    ngx_http_upstream_resolve_peer_data_t  *rp;

    /*
     * the counts are read without the lock: they only size the tries and
     * the bitmap, and get() copes with any change since (a peer whose id
     * is beyond the bitmap counts as not tried)
     */

    n = sh->number + sh->nbackup;

    /* an empty upstream still makes one attempt, which answers 502 */

    if (n == 0) {
        n = 1;
    }

    words = ngx_http_upstream_resolve_id_words(ngx_max(sh->ids, 1));

    rp = ngx_palloc(r->pool, sizeof(ngx_http_upstream_resolve_peer_data_t)
                             + words * sizeof(uintptr_t));
    if (rp == NULL) {
        return NGX_ERROR;
    }

    rp->tried = (uintptr_t *) &rp[1];
    ngx_memzero(rp->tried, words * sizeof(uintptr_t));
    rp->ntried = words * NGX_HTTP_UPSTREAM_RESOLVE_ID_BITS;
    rp->attempts = 0;
    rp->ntries = n;
    rp->pool = r->pool;
    rp->shared = sh;
    rp->current = NULL;
    rp->affinity = affinity;

    r->upstream->peer.data = rp;
    r->upstream->peer.get = ngx_http_upstream_resolve_get_peer;
    r->upstream->peer.free = ngx_http_upstream_resolve_free_peer;
    r->upstream->peer.tries = rp->ntries;

#if (NGX_HTTP_SSL)
    r->upstream->peer.set_session = ngx_http_upstream_resolve_set_session;
    r->upstream->peer.save_session = ngx_http_upstream_resolve_save_session;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_resolve_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_upstream_resolve_peer_data_t  *rp = data;

    ngx_uint_t                            single, issue;
    ngx_http_upstream_resolve_peer_t     *peer;
    ngx_http_upstream_resolve_shared_t   *sh;
    ngx_http_upstream_resolve_attempt_t  *at;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "get resolve peer, try: %ui", pc->tries);

    pc->cached = 0;
    pc->connection = NULL;

    sh = rp->shared;

    if (rp->attempts == rp->ntries) {
        goto busy;
    }

    /* the copies outlive the peer: $upstream_addr is logged after free */

    at = ngx_palloc(rp->pool, sizeof(ngx_http_upstream_resolve_attempt_t));
    if (at == NULL) {
        return NGX_ERROR;
    }

    ngx_rwlock_wlock(&sh->rwlock);

    single = (sh->number == 1 && sh->nbackup == 0);

    peer = NULL;
    issue = 0;

    if (rp->affinity != NULL) {
        peer = ngx_http_upstream_resolve_sticky(rp, single, &issue);
    }

    if (peer == NULL) {
        peer = ngx_http_upstream_resolve_choose(rp, sh->peer, single);
    }

    if (peer == NULL && sh->backup) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                       "resolve peer: backup servers");

        peer = ngx_http_upstream_resolve_choose(rp, sh->backup, 0);
    }

    if (peer == NULL) {
        ngx_rwlock_unlock(&sh->rwlock);
        goto busy;
    }

    /* the write lock excludes free(), which counts under the peer lock */

    peer->conns++;
    peer->refs++;

    rp->current = peer;
    rp->attempts++;

    if (issue) {
        rp->affinity->issue = 1;
        rp->affinity->issue_key = peer->affinity;
    }

    if (peer->id < rp->ntried) {
        ngx_http_upstream_resolve_id_set(rp->tried, peer->id);
    }

    ngx_memcpy(&at->sockaddr, &peer->sockaddr, peer->socklen);
    ngx_memcpy(at->text, peer->name, peer->name_len);
    at->name.len = peer->name_len;
    at->name.data = at->text;

    pc->sockaddr = &at->sockaddr.sockaddr;
    pc->socklen = peer->socklen;
    pc->name = &at->name;

    ngx_rwlock_unlock(&sh->rwlock);

    return NGX_OK;

busy:

    pc->name = sh->name;

    return NGX_BUSY;
}


/*
 * Session affinity, under the write lock: the peer of the request's key,
 * or NULL for the usual choice; *issue: the peer chosen then is to be
 * named by a new cookie (persistent mode).  A key for a peer that failed,
 * or an attempt after a failed one, moves the cookie only with
 * change_on_failure.
 */

static ngx_http_upstream_resolve_peer_t *
ngx_http_upstream_resolve_sticky(ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_uint_t single, ngx_uint_t *issue)
{
    time_t                                 now;
    uint64_t                               key, rank, best_rank, k;
    ngx_uint_t                             renew;
    ngx_http_upstream_resolve_peer_t      *peer, *best;
    ngx_http_upstream_resolve_affinity_t  *a;

    a = rp->affinity;
    now = ngx_time();

    renew = !a->has_key || (rp->attempts > 0 && a->change_on_failure);

    if (a->balanced) {

        if (renew) {
            key = ((uint64_t) ngx_random() << 33)
                  ^ ((uint64_t) ngx_random() << 11) ^ (uint64_t) ngx_random();
        } else {
            key = a->key;
        }

        best = NULL;
        best_rank = 0;

        for (peer = rp->shared->peer; peer; peer = peer->next) {

            if (!ngx_http_upstream_resolve_usable(rp, peer, single, now)) {
                continue;
            }

            rank = ngx_http_upstream_resolve_mix(key ^ peer->affinity, k);

            if (best == NULL || rank > best_rank) {
                best = peer;
                best_rank = rank;
            }
        }

        if (best != NULL && now - best->checked > best->fail_timeout) {
            best->checked = now;
        }

        if (best != NULL && renew) {
            a->key = key;
            a->has_key = 1;
            a->issue = 1;
            a->issue_key = key;
        }

        return best;
    }

    *issue = 1;

    if (renew) {
        return NULL;
    }

    for (peer = rp->shared->peer; peer; peer = peer->next) {

        if (peer->affinity != a->key) {
            continue;
        }

        if (ngx_http_upstream_resolve_usable(rp, peer, single, now)) {
            *issue = 0;

            if (now - peer->checked > peer->fail_timeout) {
                peer->checked = now;
            }

            return peer;
        }

        /* failed, or tried by this request: the cookie stays */

        *issue = a->change_on_failure;

        return NULL;
    }

    /* the peer is gone */

    return NULL;
}


static ngx_http_upstream_resolve_peer_t *
ngx_http_upstream_resolve_choose(ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *list, ngx_uint_t single)
{
    time_t                             now;
    ngx_int_t                          total;
    ngx_uint_t                         many;
    ngx_http_upstream_resolve_peer_t  *peer, *best, *first;

    now = ngx_time();

    best = NULL;
    first = list;
    total = 0;

    if (rp->shared->least_conn) {

        /*
         * least connections relative to weight; when several peers tie,
         * round robin among them, as nginx's least_conn
         */

        many = 0;

        for (peer = list; peer; peer = peer->next) {

            if (!ngx_http_upstream_resolve_usable(rp, peer, single, now)) {
                continue;
            }

            if (best == NULL
                || peer->conns * best->weight < best->conns * peer->weight)
            {
                best = peer;
                many = 0;

            } else if (peer->conns * best->weight
                       == best->conns * peer->weight)
            {
                many = 1;
            }
        }

        if (best == NULL || !many) {
            goto done;
        }

        first = best;
    }

    for (peer = first; peer; peer = peer->next) {

        if (!ngx_http_upstream_resolve_usable(rp, peer, single, now)) {
            continue;
        }

        if (rp->shared->least_conn
            && peer->conns * first->weight != first->conns * peer->weight)
        {
            continue;
        }

        peer->current_weight += peer->effective_weight;
        total += peer->effective_weight;

        if (peer->effective_weight < peer->weight) {
            peer->effective_weight++;
        }

        if (best == NULL || peer->current_weight > best->current_weight) {
            best = peer;
        }
    }

done:

    if (best == NULL) {
        return NULL;
    }

    best->current_weight -= total;

    if (now - best->checked > best->fail_timeout) {
        best->checked = now;
    }

    return best;
}


static ngx_uint_t
ngx_http_upstream_resolve_usable(ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *peer, ngx_uint_t single, time_t now)
{
    if (peer->down || ngx_http_upstream_resolve_tried(rp, peer)) {
        return 0;
    }

    /* one peer in all: like round robin, it is never marked failed */

    if (!single
        && peer->max_fails
        && peer->fails >= peer->max_fails
        && now - peer->checked <= peer->fail_timeout)
    {
        return 0;
    }

    if (peer->max_conns && peer->conns >= peer->max_conns) {
        return 0;
    }

    return 1;
}


static ngx_uint_t
ngx_http_upstream_resolve_tried(ngx_http_upstream_resolve_peer_data_t *rp,
    ngx_http_upstream_resolve_peer_t *peer)
{
    return peer->id < rp->ntried
           && ngx_http_upstream_resolve_id_isset(rp->tried, peer->id);
}


static void
ngx_http_upstream_resolve_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_upstream_resolve_peer_data_t  *rp = data;

    time_t                               now;
    ngx_uint_t                           last;
    ngx_http_upstream_resolve_peer_t    *peer;
    ngx_http_upstream_resolve_shared_t  *sh;

    peer = rp->current;

    if (peer == NULL) {
        return;
    }

    rp->current = NULL;
    sh = rp->shared;

    ngx_rwlock_rlock(&sh->rwlock);
    ngx_rwlock_wlock(&peer->lock);

    if (state & NGX_PEER_FAILED) {
        now = ngx_time();

        peer->fails++;
        peer->accessed = now;
        peer->checked = now;

        if (peer->max_fails) {
            peer->effective_weight -= peer->weight / peer->max_fails;

            if (peer->fails >= peer->max_fails) {
                ngx_log_error(NGX_LOG_WARN, pc->log, 0,
                              "upstream server temporarily disabled");
            }
        }

        if (peer->effective_weight < 0) {
            peer->effective_weight = 0;
        }

    } else {

        /* mark peer live if check passed */

        if (peer->accessed < peer->checked) {
            peer->fails = 0;
        }
    }

    peer->conns--;
    peer->refs--;

    /* a table upstream's zombie is freed under the zone's mutex, later */

    last = (peer->zombie && peer->refs == 0 && !sh->table);

    ngx_rwlock_unlock(&peer->lock);
    ngx_rwlock_unlock(&sh->rwlock);

    if (last) {

        /*
         * nobody else can reach a zombie without a reference,
         * and only the request dropping the last one frees it
         */

        ngx_rwlock_wlock(&sh->rwlock);
        ngx_http_upstream_resolve_free_peer_locked(sh, peer);
        ngx_rwlock_unlock(&sh->rwlock);
    }

    if (pc->tries) {
        pc->tries--;
    }
}


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_upstream_resolve_set_session(ngx_peer_connection_t *pc, void *data)
{
    return NGX_OK;
}


static void
ngx_http_upstream_resolve_save_session(ngx_peer_connection_t *pc, void *data)
{
    return;
}

#endif
