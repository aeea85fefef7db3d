
/*
 * ngx_http_upstream_resolve_module: peer lists in shared memory.
 *
 * The peers of one upstream: its primary and backup lists, and the zombies
 * (removed peers a request still holds).  A new answer for one of the
 * upstream's names replaces that name's peers: addresses that stay keep
 * their counters, new ones are added, removed ones are freed or become
 * zombies.  The caller holds the peers' write lock (or no process uses the
 * peers yet); for a table upstream, also the zone's mutex.
 */


#include <ngx_md5.h>

#include "ngx_http_upstream_resolve_module.h"


static ngx_int_t ngx_http_upstream_resolve_free_id(
    ngx_http_upstream_resolve_shared_t *sh, ngx_uint_t *id);
static void *ngx_http_upstream_resolve_peer_alloc(
    ngx_http_upstream_resolve_shared_t *sh);
static void ngx_http_upstream_resolve_peer_free(
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer);


/* milliseconds since the epoch */

uint64_t
ngx_http_upstream_resolve_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (uint64_t) tp->sec * 1000 + tp->msec;
}


/*
 * Makes the peers of host "index" exactly "addrs" (addresses without
 * port).  Peers that stay keep their counters; removed peers that a
 * request still holds become zombies.  NGX_ERROR: the zone is full (the
 * addresses that fit are in).
 */

ngx_int_t
ngx_http_upstream_resolve_set_addrs(ngx_http_upstream_resolve_shared_t *sh,
    ngx_uint_t index, ngx_addr_t *addrs, ngx_uint_t naddrs)
{
    ngx_uint_t                          i, *count;
    ngx_http_upstream_resolve_host_t   *host;
    ngx_http_upstream_resolve_peer_t   *peer, **pp, **tail;
    ngx_http_upstream_resolve_state_t  *st;

    st = &sh->state[index];
    host = &sh->hosts[index];

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
                    ngx_http_upstream_resolve_peer_free(sh, peer);

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

    peer = ngx_http_upstream_resolve_peer_alloc(sh);
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

    if (sh->name != NULL) {
        peer->affinity = ngx_http_upstream_resolve_affinity_of(sh->name,
                                                               peer->name,
                                                               peer->name_len);
    }

    return peer;
}


/*
 * A peer's key for session affinity: 8 bytes of MD5("UPSTREAM PEER"),
 * which names the peer without its address in clear
 */

uint64_t
ngx_http_upstream_resolve_affinity_of(ngx_str_t *upstream, u_char *peer,
    size_t len)
{
    u_char       digest[16];
    uint64_t     key;
    ngx_md5_t    md5;
    ngx_uint_t   i;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, upstream->data, upstream->len);
    ngx_md5_update(&md5, " ", 1);
    ngx_md5_update(&md5, peer, len);
    ngx_md5_final(digest, &md5);

    key = 0;

    for (i = 0; i < 8; i++) {
        key = (key << 8) | digest[i];
    }

    return key;
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


/* every peer and zombie of sh, for an upstream nobody uses any more */

void
ngx_http_upstream_resolve_free_peers(ngx_http_upstream_resolve_shared_t *sh)
{
    ngx_uint_t                          i;
    ngx_http_upstream_resolve_peer_t   *peer, *next, **list[3];

    list[0] = &sh->peer;
    list[1] = &sh->backup;
    list[2] = &sh->zombies;

    for (i = 0; i < 3; i++) {
        for (peer = *list[i]; peer; peer = next) {
            next = peer->next;
            ngx_http_upstream_resolve_peer_free(sh, peer);
        }

        *list[i] = NULL;
    }

    sh->number = 0;
    sh->nbackup = 0;
    sh->nzombies = 0;

    for (i = 0; i < sh->nhosts; i++) {
        sh->state[i].naddrs = 0;
    }
}


/* the zombies of a table upstream that no request holds any more */

void
ngx_http_upstream_resolve_free_zombies(ngx_http_upstream_resolve_shared_t *sh)
{
    ngx_http_upstream_resolve_peer_t  *peer, **pp;

    pp = &sh->zombies;

    while (*pp) {
        peer = *pp;

        if (peer->refs == 0) {
            *pp = peer->next;
            sh->nzombies--;
            ngx_http_upstream_resolve_peer_free(sh, peer);
            continue;
        }

        pp = &peer->next;
    }
}


/* a zombie whose last request just released it (upstream{} blocks) */

void
ngx_http_upstream_resolve_free_peer_locked(
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer)
{
    ngx_http_upstream_resolve_peer_t  **pp;

    for (pp = &sh->zombies; *pp; pp = &(*pp)->next) {
        if (*pp == peer) {
            *pp = peer->next;
            sh->nzombies--;
            break;
        }
    }

    ngx_http_upstream_resolve_peer_free(sh, peer);
}


static void *
ngx_http_upstream_resolve_peer_alloc(ngx_http_upstream_resolve_shared_t *sh)
{
    if (sh->table) {
        return ngx_slab_calloc_locked(sh->shpool,
                                 sizeof(ngx_http_upstream_resolve_peer_t));
    }

    return ngx_slab_calloc(sh->shpool,
                           sizeof(ngx_http_upstream_resolve_peer_t));
}


static void
ngx_http_upstream_resolve_peer_free(ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer)
{
    if (sh->table) {
        ngx_slab_free_locked(sh->shpool, peer);
        return;
    }

    ngx_slab_free(sh->shpool, peer);
}
