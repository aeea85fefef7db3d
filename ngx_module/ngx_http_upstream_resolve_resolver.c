
/*
 * ngx_http_upstream_resolve_module: periodic resolution and peer updates.
 *
 * Every worker runs a short timer ("tick") that looks for names whose next
 * resolution time has come.  A worker claims such a name in shared memory
 * (state->owner) and resolves it with nginx's resolver; the others skip
 * it, so a name is resolved once, not once per worker.  A claim older than
 * resolver_timeout plus a margin is taken over, so a worker that exits or
 * dies while resolving does not stop the name.
 *
 * Names of upstream{} blocks are found by a scan of this worker's jobs;
 * the names of table upstreams come from the zone's heap of due times
 * (ngx_http_upstream_resolve_table.c), which is what keeps 100k of them
 * cheap: a tick costs the names that are due, not all names.
 *
 * Pacing: a worker keeps at most "resolve_max_in_flight" resolutions in
 * flight.  The tick appends due names of upstream{} blocks to the worker's
 * FIFO queue (each name at most once, so the queue never holds more than
 * the names); whenever a resolution ends (answer, error or timeout) and
 * after each tick, names are taken from the head, claimed and started
 * until the cap is reached, then table upstreams are claimed from the heap
 * for the slots left.  A name of a block is claimed only when it starts,
 * so its lease runs from the query, and another worker with room may take
 * a queued name meanwhile (this worker then drops it from its queue when
 * the claim fails).  A queued name keeps its peers until its answer
 * arrives.  Without the cap, the start-up burst (every name at once)
 * overflows the resolver socket's receive buffer and the lost answers
 * wait for resolver_timeout.
 *
 * The resolver may call the handler from inside ngx_resolve_name() (cache
 * hit); the job therefore records the context before the call and the
 * handler clears it, and the queue is drained by one loop at a time (a
 * handler called from inside the loop only updates the count).
 */


#include "ngx_http_upstream_resolve_module.h"


/* table upstreams claimed at once, under one lock */
#define NGX_HTTP_UPSTREAM_RESOLVE_BATCH  64


/* what an answer changed, for the log */

typedef struct {
    ngx_int_t                            rc;
    ngx_int_t                            prev_error;
    ngx_uint_t                           prev_naddrs;
    ngx_uint_t                           failures;
} ngx_http_upstream_resolve_outcome_t;


static ngx_int_t ngx_http_upstream_resolve_init_worker(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static void ngx_http_upstream_resolve_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_upstream_resolve_stopping(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static void ngx_http_upstream_resolve_drain(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static void ngx_http_upstream_resolve_drain_table(
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static ngx_uint_t ngx_http_upstream_resolve_claim(
    ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t i, ngx_msec_t now);
static void ngx_http_upstream_resolve_start(
    ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_job_t *job);
static void ngx_http_upstream_resolve_handler(ngx_resolver_ctx_t *ctx);
static ngx_msec_t ngx_http_upstream_resolve_next(
    ngx_http_upstream_resolve_shared_t *sh, time_t valid);
static void ngx_http_upstream_resolve_apply(
    ngx_http_upstream_resolve_job_t *job, ngx_int_t state,
    ngx_addr_t *addrs, ngx_uint_t naddrs, time_t valid);
static void ngx_http_upstream_resolve_apply_table(
    ngx_http_upstream_resolve_job_t *job, ngx_int_t state,
    ngx_addr_t *addrs, ngx_uint_t naddrs, ngx_msec_t next);
static void ngx_http_upstream_resolve_answer(
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t index,
    ngx_int_t state, ngx_addr_t *addrs, ngx_uint_t naddrs, ngx_msec_t next,
    ngx_http_upstream_resolve_outcome_t *out);
static void ngx_http_upstream_resolve_log(ngx_log_t *log,
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t index,
    ngx_int_t state, ngx_uint_t naddrs,
    ngx_http_upstream_resolve_outcome_t *out);
static void ngx_http_upstream_resolve_release(
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_uint_t gone);


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

    if (rmcf == NULL
        || (rmcf->upstreams.nelts == 0 && rmcf->registry == NULL))
    {
        return NGX_OK;
    }

    return ngx_http_upstream_resolve_init_worker(cycle, rmcf);
}


static ngx_int_t
ngx_http_upstream_resolve_init_worker(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_uint_t                              i, j, n;
    ngx_http_upstream_resolve_job_t        *job;
    ngx_http_upstream_resolve_host_t       *host;
    ngx_http_upstream_resolve_srv_conf_t  **rscfp;

    rscfp = rmcf->upstreams.elts;

    for (i = 0; i < rmcf->upstreams.nelts; i++) {
        n = rscfp[i]->hosts->nelts;
        host = rscfp[i]->hosts->elts;

        rscfp[i]->jobs = ngx_pcalloc(cycle->pool,
                                n * sizeof(ngx_http_upstream_resolve_job_t));
        if (rscfp[i]->jobs == NULL) {
            return NGX_ERROR;
        }

        for (j = 0; j < n; j++) {
            job = &rscfp[i]->jobs[j];
            job->main = rmcf;
            job->shared = rscfp[i]->shared;
            job->index = j;
            job->name = host[j].name;
        }
    }

    ngx_queue_init(&rmcf->pending);
    ngx_queue_init(&rmcf->free_jobs);

    /* one job for every slot: table upstreams never wait for a job */

    if (rmcf->registry != NULL) {
        n = (ngx_uint_t) rmcf->max_in_flight;

        job = ngx_pcalloc(cycle->pool,
                          n * sizeof(ngx_http_upstream_resolve_job_t));
        if (job == NULL) {
            return NGX_ERROR;
        }

        for (i = 0; i < n; i++) {
            job[i].main = rmcf;
            ngx_queue_insert_tail(&rmcf->free_jobs, &job[i].queue);
        }
    }

    rmcf->log = cycle->log;
    rmcf->cycle = cycle;

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

    ngx_http_upstream_resolve_release(rmcf, 1);
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
        ngx_http_upstream_resolve_release(rmcf, 0);
        return;
    }

    if ((ngx_cycle_t *) ngx_cycle != rmcf->cycle) {

        /* "master_process off" and a reload: hand over to the new cycle */

        ngx_http_upstream_resolve_release(rmcf, 0);

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

    if (rmcf->registry != NULL) {
        ngx_http_upstream_resolve_table_tick(rmcf);
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
 * flight, then due table upstreams.  Every turn of the loop removes a name
 * from the queue, so the loop ends; a handler called from inside it
 * (cached answer, error) only lowers the count, which this loop then uses.
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

        if (ngx_http_upstream_resolve_claim(rmcf, job->shared, job->index,
                                            ngx_current_msec))
        {
            ngx_http_upstream_resolve_start(rmcf, job);
        }
    }

    if (rmcf->registry != NULL) {
        ngx_http_upstream_resolve_drain_table(rmcf);
    }

    rmcf->draining = 0;
}


/* claims due table upstreams for the free slots and starts them */

static void
ngx_http_upstream_resolve_drain_table(
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_uint_t                        i, n, room;
    ngx_queue_t                      *q;
    ngx_http_upstream_resolve_job_t  *jobs[NGX_HTTP_UPSTREAM_RESOLVE_BATCH];

    for ( ;; ) {
        if (rmcf->in_flight >= (ngx_uint_t) rmcf->max_in_flight) {
            return;
        }

        room = (ngx_uint_t) rmcf->max_in_flight - rmcf->in_flight;
        room = ngx_min(room, NGX_HTTP_UPSTREAM_RESOLVE_BATCH);

        for (n = 0; n < room && !ngx_queue_empty(&rmcf->free_jobs); n++) {
            q = ngx_queue_head(&rmcf->free_jobs);
            ngx_queue_remove(q);
            jobs[n] = ngx_queue_data(q, ngx_http_upstream_resolve_job_t,
                                     queue);
        }

        i = ngx_http_upstream_resolve_table_claim(rmcf, ngx_current_msec,
                                                  jobs, n);

        /* the jobs not used go back */

        while (n > i) {
            n--;
            ngx_queue_insert_head(&rmcf->free_jobs, &jobs[n]->queue);
        }

        for (n = 0; n < i; n++) {
            ngx_http_upstream_resolve_start(rmcf, jobs[n]);
        }

        if (i < room) {
            return;
        }
    }
}


static ngx_uint_t
ngx_http_upstream_resolve_claim(ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t i, ngx_msec_t now)
{
    ngx_uint_t                          claimed;
    ngx_http_upstream_resolve_state_t  *st;

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
    ngx_resolver_ctx_t  *ctx;

    ctx = ngx_resolve_start(rmcf->resolver, NULL);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_upstream_resolve_apply(job, NGX_ERROR, NULL, 0, 0);
        return;
    }

    /* a copy for table upstreams: the zone's may change meanwhile */

    ctx->name = job->name;
    ctx->handler = ngx_http_upstream_resolve_handler;
    ctx->data = job;
    ctx->timeout = rmcf->resolver_timeout;

    /* an exiting worker does not wait for the answer */
    ctx->cancelable = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, rmcf->log, 0,
                   "upstream resolve: resolving \"%V\"", &job->name);

    job->ctx = ctx;
    rmcf->in_flight++;

    if (ngx_resolve_name(ctx) != NGX_OK) {

        /* the resolver has freed ctx without calling the handler */

        job->ctx = NULL;
        ngx_http_upstream_resolve_apply(job, NGX_ERROR, NULL, 0, 0);
        rmcf->in_flight--;
    }

    /* ctx and job may be gone here: the handler may have run already */
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

    rmcf = job->main;

    job->ctx = NULL;
    addrs = NULL;

    /*
     * nginx's resolver keeps a fresh answer (ctx->node, still the node
     * answered while the handler runs) for the record's whole TTL; cap it
     * so that our next resolution, clamped to MAX, asks the DNS server
     * again instead of getting the same cached answer
     */

    if (ctx->state == NGX_OK && ctx->node && ctx->node->valid == ctx->valid) {
        next = ngx_http_upstream_resolve_next(job->shared, ctx->valid);
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


/*
 * The answer for a job's name.  A table upstream's job goes back to the
 * worker's free jobs here, after its last use.
 */

static void
ngx_http_upstream_resolve_apply(ngx_http_upstream_resolve_job_t *job,
    ngx_int_t state, ngx_addr_t *addrs, ngx_uint_t naddrs, time_t valid)
{
    ngx_msec_t                              next;
    ngx_http_upstream_resolve_state_t      *st;
    ngx_http_upstream_resolve_shared_t     *sh;
    ngx_http_upstream_resolve_outcome_t     out;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = job->main;
    sh = job->shared;

    next = (state == NGX_OK) ? ngx_http_upstream_resolve_next(sh, valid)
                             : 0;

    if (job->entry != NULL) {
        ngx_http_upstream_resolve_apply_table(job, state, addrs, naddrs,
                                              next);
        job->entry = NULL;
        ngx_queue_insert_head(&rmcf->free_jobs, &job->queue);
        return;
    }

    st = &sh->state[job->index];

    ngx_rwlock_wlock(&sh->rwlock);

    if (st->owner != ngx_pid) {

        /* taken over after the lease ran out: the new owner decides */

        ngx_rwlock_unlock(&sh->rwlock);
        return;
    }

    ngx_http_upstream_resolve_answer(sh, job->index, state, addrs, naddrs,
                                     next, &out);

    ngx_rwlock_unlock(&sh->rwlock);

    ngx_http_upstream_resolve_log(rmcf->log, sh, job->index, state, naddrs,
                                  &out);
}


/*
 * A table upstream's answer, under the zone's mutex: only for the entry
 * the job was claimed for (same name, same serial: not removed nor given
 * another server since) and only while this worker still owns the claim.
 * Logged under the mutex too: the entry may be gone right after.
 */

static void
ngx_http_upstream_resolve_apply_table(ngx_http_upstream_resolve_job_t *job,
    ngx_int_t state, ngx_addr_t *addrs, ngx_uint_t naddrs, ngx_msec_t next)
{
    ngx_uint_t                              changed;
    ngx_slab_pool_t                        *shpool;
    ngx_http_upstream_resolve_outcome_t     out;
    ngx_http_upstream_resolve_entry_t      *e;
    ngx_http_upstream_resolve_registry_t   *reg;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = job->main;
    reg = rmcf->registry;
    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    e = ngx_http_upstream_resolve_table_find(reg, &job->upstream);

    if (e != job->entry || e->serial != job->serial
        || e->state.owner != ngx_pid)
    {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    ngx_rwlock_wlock(&e->peers.rwlock);

    ngx_http_upstream_resolve_answer(&e->peers, 0, state, addrs, naddrs,
                                     next, &out);

    /* the zombies of the last answers that no request holds any more */
    ngx_http_upstream_resolve_free_zombies(&e->peers);

    ngx_rwlock_unlock(&e->peers.rwlock);

    changed = (state == NGX_OK || state == NGX_RESOLVE_NXDOMAIN);

    ngx_http_upstream_resolve_table_resolved(reg, e, changed);

    ngx_http_upstream_resolve_log(rmcf->log, &e->peers, 0, state, naddrs,
                                  &out);

    ngx_shmtx_unlock(&shpool->mutex);
}


/* under the peers' write lock */

static void
ngx_http_upstream_resolve_answer(ngx_http_upstream_resolve_shared_t *sh,
    ngx_uint_t index, ngx_int_t state, ngx_addr_t *addrs, ngx_uint_t naddrs,
    ngx_msec_t next, ngx_http_upstream_resolve_outcome_t *out)
{
    ngx_http_upstream_resolve_state_t  *st;

    st = &sh->state[index];

    out->rc = NGX_OK;
    out->prev_error = st->error;
    out->prev_naddrs = st->naddrs;

    if (state == NGX_OK) {
        out->rc = ngx_http_upstream_resolve_set_addrs(sh, index, addrs,
                                                      naddrs);
        st->error = 0;
        st->failures = 0;

    } else if (state == NGX_RESOLVE_NXDOMAIN) {

        /* the name is gone (or has no address): so are its peers */

        out->rc = ngx_http_upstream_resolve_set_addrs(sh, index, NULL, 0);
        st->error = state;
        st->failures++;
        next = sh->ttl_min;

    } else {

        /* timeout, SERVFAIL, ...: keep the last good addresses */

        st->error = state;
        st->failures++;
        next = sh->ttl_min;
    }

    out->failures = st->failures;

    st->ttl = next;
    st->last = ngx_http_upstream_resolve_now();
    st->next = ngx_current_msec + next;
    st->owner = 0;
}


static void
ngx_http_upstream_resolve_log(ngx_log_t *log,
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t index,
    ngx_int_t state, ngx_uint_t naddrs,
    ngx_http_upstream_resolve_outcome_t *out)
{
    ngx_str_t  *server;

    server = &sh->hosts[index].server;

    if (out->rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "upstream \"%V\": zone too small for the addresses "
                      "of \"%V\"", sh->name, server);
    }

    if (state == NGX_OK) {
        if (out->prev_error) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "upstream \"%V\": \"%V\" resolves again, "
                          "%ui address(es)", sh->name, server, naddrs);

        } else if (out->prev_naddrs != naddrs) {
            ngx_log_error(NGX_LOG_INFO, log, 0,
                          "upstream \"%V\": \"%V\" now has %ui address(es)",
                          sh->name, server, naddrs);
        }

        return;
    }

    if (state == out->prev_error) {
        return;
    }

    if (state == NGX_RESOLVE_NXDOMAIN) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "upstream \"%V\": \"%V\" has no address (host not "
                      "found), no peers for it until it resolves",
                      sh->name, server);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, log, 0,
                  "upstream \"%V\": \"%V\" could not be resolved (%i: %s), "
                  "keeping %ui address(es), failure %ui",
                  sh->name, server, state,
                  state == NGX_ERROR ? "resolver error"
                                     : ngx_resolver_strerror(state),
                  out->prev_naddrs, out->failures);
}


/* the record's TTL (ctx->valid is absolute) clamped to [MIN, MAX], in ms */

static ngx_msec_t
ngx_http_upstream_resolve_next(ngx_http_upstream_resolve_shared_t *sh,
    time_t valid)
{
    time_t      ttl;
    ngx_msec_t  next;

    ttl = valid - ngx_time();
    next = (ttl > 0) ? (ngx_msec_t) ttl * 1000 : 0;
    next = ngx_max(next, sh->ttl_min);
    next = ngx_min(next, sh->ttl_max);

    return next;
}


/*
 * Gives back this worker's claims; gone: the process ends, its route
 * table with it (an exiting worker still routes its last requests).
 */

static void
ngx_http_upstream_resolve_release(ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_uint_t gone)
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

    if (rmcf->registry != NULL) {
        ngx_http_upstream_resolve_table_exit(rmcf, gone);
    }
}
