
/*
 * ngx_http_upstream_resolve_module: the upstream zone.
 *
 * The upstream zone module's init (which copies round robin peers) is
 * wrapped: after it, the peers of every resolve_server upstream in the zone
 * are built there: the static "server" peers and the name states.  This
 * runs in the master, once per configuration cycle; the upstream zone is
 * never reused across reloads.  At a reload the addresses and schedule of
 * every name are carried over from the previous cycle's zone, so a reload
 * does not empty the peer list.
 */


#include "ngx_http_upstream_resolve_module.h"


/* ngx_rwlock.c's value of a write-locked lock */
#define NGX_HTTP_UPSTREAM_RESOLVE_WLOCKED  ((ngx_atomic_uint_t) -1)


static ngx_int_t ngx_http_upstream_resolve_init_shared(
    ngx_shm_zone_t *shm_zone, ngx_http_upstream_resolve_srv_conf_t *rscf);
static void ngx_http_upstream_resolve_carry_over(
    ngx_http_upstream_resolve_srv_conf_t *rscf, ngx_log_t *log);
static ngx_int_t ngx_http_upstream_resolve_try_rlock(ngx_atomic_t *lock);
static void ngx_http_upstream_resolve_forget(void *data);


/*
 * The configuration of the running cycle, read by the next cycle's zone
 * init (in the master) to carry the resolved addresses over a reload.
 */
static ngx_http_upstream_resolve_main_conf_t
    *ngx_http_upstream_resolve_previous;


ngx_int_t
ngx_http_upstream_resolve_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_int_t                               rc;
    ngx_uint_t                              i;
    ngx_http_upstream_srv_conf_t          **uscfp;
    ngx_http_upstream_main_conf_t          *umcf;
    ngx_http_upstream_resolve_zone_t       *zone;
    ngx_http_upstream_resolve_srv_conf_t   *rscf;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    umcf = shm_zone->data;
    uscfp = umcf->upstreams.elts;
    rmcf = NULL;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->shm_zone != shm_zone || uscfp[i]->srv_conf == NULL) {
            continue;
        }

        rscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                            ngx_http_upstream_resolve_module);
        if (rscf->initialized) {
            rmcf = rscf->main;
            break;
        }
    }

    if (rmcf == NULL) {
        return NGX_ERROR;
    }

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i].shm_zone == shm_zone) {
            break;
        }
    }

    if (i == rmcf->zones.nelts || zone[i].init(shm_zone, data) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->shm_zone != shm_zone || uscfp[i]->srv_conf == NULL) {
            continue;
        }

        rscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                            ngx_http_upstream_resolve_module);
        if (!rscf->initialized) {
            continue;
        }

        rc = ngx_http_upstream_resolve_init_shared(shm_zone, rscf);

        if (rc == NGX_DECLINED) {
            return NGX_ERROR;
        }

        if (rc != NGX_OK) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "upstream zone \"%V\" is too small for "
                          "upstream \"%V\"",
                          &shm_zone->shm.name, &uscfp[i]->host);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_resolve_init_shared(ngx_shm_zone_t *shm_zone,
    ngx_http_upstream_resolve_srv_conf_t *rscf)
{
    ngx_uint_t                           i, j;
    ngx_slab_pool_t                     *shpool;
    ngx_http_upstream_server_t          *server;
    ngx_http_upstream_resolve_peer_t    *peer, **primary, **backup;
    ngx_http_upstream_resolve_shared_t  *sh;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_upstream_resolve_shared_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->shpool = shpool;
    sh->nhosts = rscf->hosts->nelts;
    sh->hosts = rscf->hosts->elts;
    sh->name = &rscf->upstream->host;
    sh->ttl_min = rscf->ttl_min;
    sh->ttl_max = rscf->ttl_max;
    sh->least_conn = rscf->least_conn;

    sh->state = ngx_slab_calloc(shpool,
                       sh->nhosts * sizeof(ngx_http_upstream_resolve_state_t));
    if (sh->state == NULL) {
        return NGX_ERROR;
    }

    primary = &sh->peer;
    backup = &sh->backup;

    server = rscf->upstream->servers->elts;

    for (i = 0; i < rscf->upstream->servers->nelts; i++) {

        if (server[i].addrs[0].sockaddr
            == (struct sockaddr *) &ngx_http_upstream_resolve_placeholder)
        {
            continue;
        }

        for (j = 0; j < server[i].naddrs; j++) {

            if (server[i].addrs[j].sockaddr->sa_family != AF_INET
#if (NGX_HAVE_INET6)
                && server[i].addrs[j].sockaddr->sa_family != AF_INET6
#endif
               )
            {
                ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                              "upstream \"%V\": server \"%V\" is not an IP "
                              "address, resolve_server upstreams take "
                              "IPv4 and IPv6 only",
                              &rscf->upstream->host, &server[i].name);
                return NGX_DECLINED;
            }

            peer = ngx_http_upstream_resolve_new_peer(sh,
                                                 server[i].addrs[j].sockaddr,
                                                 server[i].addrs[j].socklen,
                                                 0);
            if (peer == NULL) {
                return NGX_ERROR;
            }

            peer->weight = server[i].weight;
            peer->effective_weight = server[i].weight;
            peer->max_conns = server[i].max_conns;
            peer->max_fails = server[i].max_fails;
            peer->fail_timeout = server[i].fail_timeout;
            peer->down = server[i].down ? 1 : 0;
            peer->backup = server[i].backup;
            peer->host = NGX_HTTP_UPSTREAM_RESOLVE_STATIC;

            if (server[i].backup) {
                *backup = peer;
                backup = &peer->next;
                sh->nbackup++;

            } else {
                *primary = peer;
                primary = &peer->next;
                sh->number++;
            }
        }
    }

    rscf->shared = sh;

    ngx_http_upstream_resolve_carry_over(rscf, shm_zone->shm.log);

    return NGX_OK;
}


/*
 * Copies the addresses and schedule of every name that the previous cycle
 * had in the same upstream.  Runs in the master; the previous zone is still
 * mapped there and its workers may be updating it, hence the read lock,
 * which is only tried (a worker that died holding the lock must not block
 * the master).
 */

static void
ngx_http_upstream_resolve_carry_over(
    ngx_http_upstream_resolve_srv_conf_t *rscf, ngx_log_t *log)
{
    ngx_uint_t                              i, j, k, n;
    ngx_addr_t                             *addrs;
    ngx_http_upstream_resolve_host_t       *host, *ohost;
    ngx_http_upstream_resolve_peer_t       *opeer;
    ngx_http_upstream_resolve_shared_t     *osh;
    ngx_http_upstream_resolve_srv_conf_t  **orscfp, *orscf;
    ngx_http_upstream_resolve_main_conf_t  *prev;

    prev = ngx_http_upstream_resolve_previous;

    if (prev == NULL) {
        return;
    }

    orscf = NULL;
    orscfp = prev->upstreams.elts;

    for (i = 0; i < prev->upstreams.nelts; i++) {
        if (orscfp[i]->shared != NULL
            && orscfp[i]->upstream->host.len == rscf->upstream->host.len
            && ngx_strncmp(orscfp[i]->upstream->host.data,
                           rscf->upstream->host.data,
                           rscf->upstream->host.len)
               == 0)
        {
            orscf = orscfp[i];
            break;
        }
    }

    if (orscf == NULL) {
        return;
    }

    osh = orscf->shared;

    if (ngx_http_upstream_resolve_try_rlock(&osh->rwlock) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "upstream \"%V\": previous peers are locked, "
                      "resolving anew", &rscf->upstream->host);
        return;
    }

    host = rscf->hosts->elts;
    ohost = orscf->hosts->elts;

    for (i = 0; i < rscf->hosts->nelts; i++) {

        for (j = 0; j < orscf->hosts->nelts; j++) {
            if (host[i].port == ohost[j].port
                && host[i].name.len == ohost[j].name.len
                && ngx_strncmp(host[i].name.data, ohost[j].name.data,
                               host[i].name.len)
                   == 0)
            {
                break;
            }
        }

        if (j == orscf->hosts->nelts) {
            continue;
        }

        n = osh->state[j].naddrs;
        addrs = NULL;

        if (n) {
            addrs = ngx_alloc(n * sizeof(ngx_addr_t), log);
            if (addrs == NULL) {
                continue;
            }

            k = 0;

            for (opeer = ohost[j].backup ? osh->backup : osh->peer;
                 opeer && k < n;
                 opeer = opeer->next)
            {
                if (opeer->host != j) {
                    continue;
                }

                addrs[k].sockaddr = &opeer->sockaddr.sockaddr;
                addrs[k].socklen = opeer->socklen;
                k++;
            }

            n = k;
        }

        rscf->shared->state[i] = osh->state[j];
        rscf->shared->state[i].owner = 0;
        rscf->shared->state[i].naddrs = 0;

        if (n) {
            (void) ngx_http_upstream_resolve_set_addrs(rscf->shared, i,
                                                       addrs, n);
        }

        if (addrs) {
            ngx_free(addrs);
        }
    }

    ngx_rwlock_unlock(&osh->rwlock);
}


static ngx_int_t
ngx_http_upstream_resolve_try_rlock(ngx_atomic_t *lock)
{
    ngx_uint_t         i;
    ngx_atomic_uint_t  readers;

    for (i = 0; i < NGX_HTTP_UPSTREAM_RESOLVE_RLOCK_TRIES; i++) {
        readers = *lock;

        if (readers != NGX_HTTP_UPSTREAM_RESOLVE_WLOCKED
            && ngx_atomic_cmp_set(lock, readers, readers + 1))
        {
            return NGX_OK;
        }

        ngx_sched_yield();
    }

    return NGX_BUSY;
}


ngx_int_t
ngx_http_upstream_resolve_zone_init_module(ngx_cycle_t *cycle)
{
    ngx_pool_cleanup_t                     *cln;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);

    ngx_http_upstream_resolve_previous = rmcf;

    if (rmcf == NULL) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_upstream_resolve_forget;
    cln->data = rmcf;

    return NGX_OK;
}


static void
ngx_http_upstream_resolve_forget(void *data)
{
    if (ngx_http_upstream_resolve_previous == data) {
        ngx_http_upstream_resolve_previous = NULL;
    }
}
