
/*
 * ngx_http_upstream_resolve_module: periodic resolution and peer updates.
 *
 * Every worker runs a short timer ("tick") that looks for names whose next
 * resolution time has come.  A worker claims such a name in shared memory
 * (state->owner, under the peers' write lock) and resolves it with nginx's
 * resolver; the others skip it, so a name is resolved once, not once per
 * worker.  A claim older than resolver_timeout plus a margin is taken over,
 * so a worker that exits or dies while resolving does not stop the name.
 *
 * Pacing: a worker keeps at most "resolve_max_in_flight" resolutions in
 * flight.  The tick appends due names to the worker's FIFO queue (each name
 * at most once, so the queue never holds more than the names); whenever a
 * resolution ends (answer, error or timeout) and after each tick, names are
 * taken from the head, claimed and started until the cap is reached.  A
 * name is claimed only when it starts, so its lease runs from the query,
 * and another worker with room may take a queued name meanwhile (this
 * worker then drops it from its queue when the claim fails).  A queued name
 * keeps its peers until its answer arrives.  Without the cap, the start-up
 * burst (every name at once) overflows the resolver socket's receive
 * buffer and the lost answers wait for resolver_timeout.
 *
 * The resolver may call the handler from inside ngx_resolve_name() (cache
 * hit); the job therefore records the context before the call and the
 * handler clears it, and the queue is drained by one loop at a time (a
 * handler called from inside the loop only updates the count).
 */


#include "ngx_http_upstream_resolve_module.h"


static ngx_int_t ngx_http_upstream_resolve_init_worker(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static void ngx_http_upstream_resolve_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_upstream_resolve_stopping(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static void ngx_http_upstream_resolve_drain(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static ngx_uint_t ngx_http_upstream_resolve_claim(
    ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_srv_conf_t *rscf, ngx_uint_t i, ngx_msec_t now);
static void ngx_http_upstream_resolve_start(
    ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_job_t *job);
static void ngx_http_upstream_resolve_handler(ngx_resolver_ctx_t *ctx);
static ngx_msec_t ngx_http_upstream_resolve_next(
    ngx_http_upstream_resolve_srv_conf_t *rscf, time_t valid);
static void ngx_http_upstream_resolve_apply(
    ngx_http_upstream_resolve_job_t *job, ngx_int_t state,
    ngx_addr_t *addrs, ngx_uint_t naddrs, time_t valid);
static void ngx_http_upstream_resolve_release(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static ngx_int_t ngx_http_upstream_resolve_free_id(
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t *id);


uint64_t
ngx_http_upstream_resolve_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Starts resolving for a cycle in this process: from init_process, or,
 * with "master_process off", from the previous cycle's timer after a
 * reload (nginx does not call init_process then).
 */

ngx_int_t
ngx_http_upstream_resolve_start_cycle(ngx_cycle_t *cycle)
{
    ngx_uint_t                              i;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i] == &ngx_http_upstream_resolve_module) {
            break;
        }
    }

    if (cycle->modules[i] == NULL) {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);

    if (rmcf == NULL || rmcf->upstreams.nelts == 0) {
        return NGX_OK;
    }

    return ngx_http_upstream_resolve_init_worker(cycle, rmcf);
}


static ngx_int_t
ngx_http_upstream_resolve_init_worker(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_uint_t                              i, j, n;
    ngx_http_upstream_resolve_srv_conf_t  **rscfp;

    rscfp = rmcf->upstreams.elts;

    for (i = 0; i < rmcf->upstreams.nelts; i++) {
        n = rscfp[i]->hosts->nelts;

        rscfp[i]->jobs = ngx_pcalloc(cycle->pool,
                                n * sizeof(ngx_http_upstream_resolve_job_t));
        if (rscfp[i]->jobs == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < n; j++) {
            rscfp[i]->jobs[j].conf = rscfp[i];
            rscfp[i]->jobs[j].index = j;
        }
    }

    rmcf->log = cycle->log;
    rmcf->cycle = cycle;

    ngx_queue_init(&rmcf->pending);
    rmcf->in_flight = 0;
    rmcf->draining = 0;

    rmcf->tick.handler = ngx_http_upstream_resolve_tick;
    rmcf->tick.data = rmcf;
    rmcf->tick.log = cycle->log;
    rmcf->tick.cancelable = 1;

    ngx_add_timer(&rmcf->tick, 1);

    return NGX_OK;
}


void
ngx_http_upstream_resolve_exit_worker(
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    /*
     * a resolution still in flight is freed with the resolver (cycle pool
     * cleanup) without calling its handler; give the names back now
     */

    ngx_http_upstream_resolve_release(rmcf);
}


static void
ngx_http_upstream_resolve_tick(ngx_event_t *ev)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf = ev->data;

    ngx_uint_t                              i, j;
    ngx_msec_t                              now, lease;
    ngx_http_upstream_resolve_job_t        *job;
    ngx_http_upstream_resolve_state_t      *st;
    ngx_http_upstream_resolve_srv_conf_t  **rscfp, *rscf;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        ngx_http_upstream_resolve_release(rmcf);
        return;
    }

    if ((ngx_cycle_t *) ngx_cycle != rmcf->cycle) {

        /* "master_process off" and a reload: hand over to the new cycle */

        ngx_http_upstream_resolve_release(rmcf);

        if (ngx_http_upstream_resolve_start_cycle((ngx_cycle_t *) ngx_cycle)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, ev->log, 0,
                          "upstream resolve: could not start resolving "
                          "for the new configuration");
        }

        return;
    }

    now = ngx_current_msec;
    lease = rmcf->resolver_timeout + NGX_HTTP_UPSTREAM_RESOLVE_LEASE_SLACK;
    rscfp = rmcf->upstreams.elts;

    for (i = 0; i < rmcf->upstreams.nelts; i++) {
        rscf = rscfp[i];

        for (j = 0; j < rscf->hosts->nelts; j++) {
            job = &rscf->jobs[j];

            if (job->ctx || job->queued) {
                continue;
            }

            st = &rscf->shared->state[j];

            /*
             * unlocked peek: not due yet, or another worker resolves it
             * (its claim is still good); the claim checks again under the
             * lock when the name leaves the queue
             */

            if (now < st->next
                || (st->owner != 0 && now <= st->claimed + lease))
            {
                continue;
            }

            ngx_queue_insert_tail(&rmcf->pending, &job->queue);
            job->queued = 1;
        }
    }

    ngx_http_upstream_resolve_drain(rmcf);

    ngx_add_timer(ev, NGX_HTTP_UPSTREAM_RESOLVE_TICK);
}


/* the worker is leaving this cycle: start nothing more for it */

static ngx_uint_t
ngx_http_upstream_resolve_stopping(ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    return ngx_exiting || ngx_quit || ngx_terminate
           || (ngx_cycle_t *) ngx_cycle != rmcf->cycle;
}


/*
 * Starts queued names, oldest first, while fewer than max_in_flight are in
 * flight.  Every turn of the loop removes a name from the queue, so the
 * loop ends; a handler called from inside it (cached answer, error) only
 * lowers the count, which this loop then uses.
 */

static void
ngx_http_upstream_resolve_drain(ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_queue_t                      *q;
    ngx_http_upstream_resolve_job_t  *job;

    if (rmcf->draining || ngx_http_upstream_resolve_stopping(rmcf)) {
        return;
    }

    rmcf->draining = 1;

    while (rmcf->in_flight < (ngx_uint_t) rmcf->max_in_flight
           && !ngx_queue_empty(&rmcf->pending))
    {
        q = ngx_queue_head(&rmcf->pending);
        ngx_queue_remove(q);

        job = ngx_queue_data(q, ngx_http_upstream_resolve_job_t, queue);
        job->queued = 0;

        if (ngx_http_upstream_resolve_claim(rmcf, job->conf, job->index,
                                            ngx_current_msec))
        {
            ngx_http_upstream_resolve_start(rmcf, job);
        }
    }

    rmcf->draining = 0;
}


static ngx_uint_t
ngx_http_upstream_resolve_claim(ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_srv_conf_t *rscf, ngx_uint_t i, ngx_msec_t now)
{
    ngx_uint_t                           claimed;
    ngx_http_upstream_resolve_state_t   *st;
    ngx_http_upstream_resolve_shared_t  *sh;

    sh = rscf->shared;
    st = &sh->state[i];
    claimed = 0;

    ngx_rwlock_wlock(&sh->rwlock);

    if (now >= st->next
        && (st->owner == 0
            || now > st->claimed + rmcf->resolver_timeout
                     + NGX_HTTP_UPSTREAM_RESOLVE_LEASE_SLACK))
    {
        st->owner = ngx_pid;
        st->claimed = now;
        claimed = 1;
    }

    ngx_rwlock_unlock(&sh->rwlock);

    return claimed;
}


static void
ngx_http_upstream_resolve_start(ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_job_t *job)
{
    ngx_resolver_ctx_t                *ctx;
    ngx_http_upstream_resolve_host_t  *host;

    host = job->conf->hosts->elts;
    host = &host[job->index];

    ctx = ngx_resolve_start(rmcf->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_upstream_resolve_apply(job, NGX_ERROR, NULL, 0, 0);
        return;
    }

    ctx->name = host->name;
    ctx->handler = ngx_http_upstream_resolve_handler;
    ctx->data = job;
    ctx->timeout = rmcf->resolver_timeout;

    /* an exiting worker does not wait for the answer */
    ctx->cancelable = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rmcf->log, 0,
                   "upstream resolve: resolving \"%V\"", &host->name);

    job->ctx = ctx;
    rmcf->in_flight++;

    if (ngx_resolve_name(ctx) != NGX_OK) {

        /* the resolver has freed ctx without calling the handler */

        job->ctx = NULL;
        rmcf->in_flight--;
        ngx_http_upstream_resolve_apply(job, NGX_ERROR, NULL, 0, 0);
    }

    /* ctx may be gone here: the handler may have run already */
}


static void
ngx_http_upstream_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_http_upstream_resolve_job_t  *job = ctx->data;

    time_t                                  cap;
    ngx_uint_t                              i;
    ngx_addr_t                             *addrs;
    ngx_msec_t                              next;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = job->conf->main;

    job->ctx = NULL;
    addrs = NULL;

    /*
     * nginx's resolver keeps a fresh answer (ctx->node, still the node
     * answered while the handler runs) for the record's whole TTL; cap it
     * so that our next resolution, clamped to MAX, asks the DNS server
     * again instead of getting the same cached answer
     */

    if (ctx->state == NGX_OK && ctx->node && ctx->node->valid == ctx->valid) {
        next = ngx_http_upstream_resolve_next(job->conf, ctx->valid);
        cap = ngx_time() + (time_t) (next / 1000) - 1;

        if (ctx->node->valid > cap) {
            ctx->node->valid = cap;
        }
    }

    if (ctx->state == NGX_OK && ctx->naddrs) {
        addrs = ngx_alloc(ctx->naddrs * sizeof(ngx_addr_t),
                          ctx->resolver->log);

        if (addrs == NULL) {
            ngx_http_upstream_resolve_apply(job, NGX_ERROR, NULL, 0, 0);
            ngx_resolve_name_done(ctx);
            goto done;
        }

        for (i = 0; i < ctx->naddrs; i++) {
            addrs[i].sockaddr = ctx->addrs[i].sockaddr;
            addrs[i].socklen = ctx->addrs[i].socklen;
            ngx_str_null(&addrs[i].name);
        }
    }

    ngx_http_upstream_resolve_apply(job, ctx->state, addrs, ctx->naddrs,
                                    ctx->valid);

    if (addrs) {
        ngx_free(addrs);
    }

    ngx_resolve_name_done(ctx);

done:

    /* one slot is free: the next due name may go */

    rmcf->in_flight--;
    ngx_http_upstream_resolve_drain(rmcf);
}


static void
ngx_http_upstream_resolve_apply(ngx_http_upstream_resolve_job_t *job,
    ngx_int_t state, ngx_addr_t *addrs, ngx_uint_t naddrs, time_t valid)
{
    uint64_t                                now;
    ngx_int_t                               rc, prev_error;
    ngx_uint_t                              prev_naddrs, failures;
    ngx_msec_t                              next;
    ngx_http_upstream_resolve_host_t       *host;
    ngx_http_upstream_resolve_state_t      *st;
    ngx_http_upstream_resolve_shared_t     *sh;
    ngx_http_upstream_resolve_srv_conf_t   *rscf;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rscf = job->conf;
    rmcf = rscf->main;
    sh = rscf->shared;
    st = &sh->state[job->index];
    host = rscf->hosts->elts;
    host = &host[job->index];

    now = ngx_http_upstream_resolve_now();
    rc = NGX_OK;

    ngx_rwlock_wlock(&sh->rwlock);

    if (st->owner != ngx_pid) {

        /* taken over after the lease ran out: the new owner decides */

        ngx_rwlock_unlock(&sh->rwlock);
        return;
    }

    prev_error = st->error;
    prev_naddrs = st->naddrs;
    next = rscf->ttl_min;

    if (state == NGX_OK) {
        rc = ngx_http_upstream_resolve_set_addrs(rscf, job->index, addrs,
                                                 naddrs, rmcf->log);

        next = ngx_http_upstream_resolve_next(rscf, valid);

        st->error = 0;
        st->failures = 0;

    } else if (state == NGX_RESOLVE_NXDOMAIN) {

        /* the name is gone (or has no address): so are its peers */

        rc = ngx_http_upstream_resolve_set_addrs(rscf, job->index, NULL, 0,
                                                 rmcf->log);
        st->error = state;
        st->failures++;

    } else {

        /* timeout, SERVFAIL, ...: keep the last good addresses */

        st->error = state;
        st->failures++;
    }

    failures = st->failures;

    st->ttl = next;
    st->last = now;
    st->next = ngx_current_msec + next;
    st->owner = 0;

    ngx_rwlock_unlock(&sh->rwlock);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, rmcf->log, 0,
                      "upstream \"%V\": zone \"%V\" too small for the "
                      "addresses of \"%V\"", &rscf->upstream->host,
                      &rscf->upstream->shm_zone->shm.name, &host->server);
    }

    if (state == NGX_OK) {
        if (prev_error) {
            ngx_log_error(NGX_LOG_NOTICE, rmcf->log, 0,
                          "upstream \"%V\": \"%V\" resolves again, "
                          "%ui address(es)", &rscf->upstream->host,
                          &host->server, naddrs);

        } else if (prev_naddrs != naddrs) {
            ngx_log_error(NGX_LOG_INFO, rmcf->log, 0,
                          "upstream \"%V\": \"%V\" now has %ui address(es)",
                          &rscf->upstream->host, &host->server, naddrs);
        }

        return;
    }

    if (state == prev_error) {
        return;
    }

    if (state == NGX_RESOLVE_NXDOMAIN) {
        ngx_log_error(NGX_LOG_WARN, rmcf->log, 0,
                      "upstream \"%V\": \"%V\" has no address (host not "
                      "found), no peers for it until it resolves",
                      &rscf->upstream->host, &host->server);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rmcf->log, 0,
                  "upstream \"%V\": \"%V\" could not be resolved (%i: %s), "
                  "keeping %ui address(es), failure %ui",
                  &rscf->upstream->host, &host->server, state,
                  state == NGX_ERROR ? "resolver error"
                                     : ngx_resolver_strerror(state),
                  prev_naddrs, failures);
}


/* the record's TTL (ctx->valid is absolute) clamped to [MIN, MAX], in ms */

static ngx_msec_t
ngx_http_upstream_resolve_next(ngx_http_upstream_resolve_srv_conf_t *rscf,
    time_t valid)
{
    time_t      ttl;
    ngx_msec_t  next;

    ttl = valid - ngx_time();
    next = (ttl > 0) ? (ngx_msec_t) ttl * 1000 : 0;
    next = ngx_max(next, rscf->ttl_min);
    next = ngx_min(next, rscf->ttl_max);

    return next;
}


/*
 * Makes the peers of resolve_server "index" exactly "addrs" (addresses
 * without port).  Peers that stay keep their counters; removed peers that
 * a request still holds become zombies.  Called with the write lock held,
 * or in the master before any worker uses the zone.
 */

ngx_int_t
ngx_http_upstream_resolve_set_addrs(ngx_http_upstream_resolve_srv_conf_t *rscf,
    ngx_uint_t index, ngx_addr_t *addrs, ngx_uint_t naddrs, ngx_log_t *log)
{
    ngx_uint_t                           i, *count;
    ngx_http_upstream_resolve_host_t    *host;
    ngx_http_upstream_resolve_peer_t    *peer, **pp, **tail;
    ngx_http_upstream_resolve_state_t   *st;
    ngx_http_upstream_resolve_shared_t  *sh;

    sh = rscf->shared;
    st = &sh->state[index];
    host = rscf->hosts->elts;
    host = &host[index];

    if (host->backup) {
        pp = &sh->backup;
        count = &sh->nbackup;

    } else {
        pp = &sh->peer;
        count = &sh->number;
    }

    /* drop the peers of this name that are not in the answer */

    while (*pp) {
        peer = *pp;

        if (peer->host == index) {
            for (i = 0; i < naddrs; i++) {
                if (ngx_cmp_sockaddr(addrs[i].sockaddr, addrs[i].socklen,
                                     &peer->sockaddr.sockaddr, peer->socklen,
                                     0)
                    == NGX_OK)
                {
                    break;
                }
            }

            if (i == naddrs) {
                *pp = peer->next;
                (*count)--;
                st->naddrs--;

                if (peer->refs == 0) {
                    ngx_slab_free(sh->shpool, peer);

                } else {
                    peer->zombie = 1;
                    peer->next = sh->zombies;
                    sh->zombies = peer;
                    sh->nzombies++;
                }

                continue;
            }
        }

        pp = &peer->next;
    }

    tail = pp;

    /* add the new ones at the end */

    for (i = 0; i < naddrs; i++) {

        for (peer = host->backup ? sh->backup : sh->peer;
             peer;
             peer = peer->next)
        {
            if (peer->host == index
                && ngx_cmp_sockaddr(addrs[i].sockaddr, addrs[i].socklen,
                                    &peer->sockaddr.sockaddr, peer->socklen,
                                    0)
                   == NGX_OK)
            {
                break;
            }
        }

        if (peer) {
            continue;
        }

        peer = ngx_http_upstream_resolve_new_peer(sh, addrs[i].sockaddr,
                                                  addrs[i].socklen,
                                                  host->port);
        if (peer == NULL) {
            return NGX_ERROR;
        }

        peer->weight = host->weight;
        peer->effective_weight = host->weight;
        peer->max_fails = host->max_fails;
        peer->fail_timeout = host->fail_timeout;
        peer->backup = host->backup;
        peer->host = index;

        *tail = peer;
        tail = &peer->next;

        (*count)++;
        st->naddrs++;
    }

    return NGX_OK;
}


/*
 * A peer of the upstream whose peers are sh, not linked yet.  Its id is
 * the lowest that no peer of the upstream has: below the number of peers
 * plus one, so the ids (and a request's bitmap of tried peers) stay as
 * small as the peer list, however often addresses come and go.
 */

ngx_http_upstream_resolve_peer_t *
ngx_http_upstream_resolve_new_peer(ngx_http_upstream_resolve_shared_t *sh,
    struct sockaddr *sockaddr, socklen_t socklen, in_port_t port)
{
    ngx_uint_t                         id;
    ngx_http_upstream_resolve_peer_t  *peer;

    if (socklen > sizeof(ngx_http_upstream_resolve_sockaddr_t)) {
        return NULL;
    }

    if (ngx_http_upstream_resolve_free_id(sh, &id) != NGX_OK) {
        return NULL;
    }

    peer = ngx_slab_calloc(sh->shpool,
                           sizeof(ngx_http_upstream_resolve_peer_t));
    if (peer == NULL) {
        return NULL;
    }

    ngx_memcpy(&peer->sockaddr, sockaddr, socklen);
    peer->socklen = socklen;
    peer->id = id;

    if (id >= sh->ids) {
        sh->ids = id + 1;
    }

    if (port) {
        ngx_inet_set_port(&peer->sockaddr.sockaddr, port);
    }

    peer->name_len = ngx_sock_ntop(&peer->sockaddr.sockaddr, socklen,
                                   peer->name,
                                   NGX_HTTP_RESOLVE_PEER_NAME_LEN, 1);

    return peer;
}


static ngx_int_t
ngx_http_upstream_resolve_free_id(ngx_http_upstream_resolve_shared_t *sh,
    ngx_uint_t *id)
{
    uintptr_t                         *used;
    ngx_uint_t                         i, n, words;
    ngx_http_upstream_resolve_peer_t  *peer, *list[2];
    uintptr_t                local[NGX_HTTP_UPSTREAM_RESOLVE_ID_WORDS];


    n = sh->number + sh->nbackup + 1;
    words = ngx_http_upstream_resolve_id_words(n);

    used = local;

    if (words > NGX_HTTP_UPSTREAM_RESOLVE_ID_WORDS) {
        used = ngx_alloc(words * sizeof(uintptr_t), ngx_cycle->log);
        if (used == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_memzero(used, words * sizeof(uintptr_t));

    list[0] = sh->peer;
    list[1] = sh->backup;

    for (i = 0; i < 2; i++) {
        for (peer = list[i]; peer; peer = peer->next) {
            if (peer->id < n) {
                ngx_http_upstream_resolve_id_set(used, peer->id);
            }
        }
    }

    for (i = 0; ngx_http_upstream_resolve_id_isset(used, i); i++) {
        /* void: i < n, there are fewer than n peers */
    }

    *id = i;

    if (used != local) {
        ngx_free(used);
    }

    return NGX_OK;
}


static void
ngx_http_upstream_resolve_release(ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_uint_t                              i, j;
    ngx_http_upstream_resolve_state_t      *st;
    ngx_http_upstream_resolve_shared_t     *sh;
    ngx_http_upstream_resolve_srv_conf_t  **rscfp;

    rscfp = rmcf->upstreams.elts;

    for (i = 0; i < rmcf->upstreams.nelts; i++) {
        sh = rscfp[i]->shared;

        if (sh == NULL) {
            continue;
        }

        ngx_rwlock_wlock(&sh->rwlock);

        for (j = 0; j < sh->nhosts; j++) {
            st = &sh->state[j];

            if (st->owner == ngx_pid) {
                st->owner = 0;
            }
        }

        ngx_rwlock_unlock(&sh->rwlock);
    }
}
