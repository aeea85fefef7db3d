
/*
 * ngx_http_upstream_resolve_module: "upstream_resolve_status" handler.
 *
 * Answers a JSON document with every upstream that has resolve_server
 * lines, as the answering worker sees it (its pid is included):
 *
 *   {"pid":N,"upstreams":[{"name":..,"zone":..,
 *     "peers":[{"address":..,"resolve_server":..|null,"weight":N,
 *               "backup":B,"down":B,"fails":N,"conns":N}],
 *     "zombies":N,"zone_free_pages":N,
 *     "resolve":[{"server":..,"name":..,"port":N,"addresses":[..],
 *                 "ttl_ms":N,"last_resolution_ms":N|null,
 *                 "next_resolution_ms":N,"last_error":..|null,
 *                 "failures":N,"resolving_pid":N|null}]}]}
 *
 * Times are milliseconds since the epoch.
 */


#include "ngx_http_upstream_resolve_module.h"


/* room for one object's punctuation, keys and numbers */
#define NGX_HTTP_UPSTREAM_RESOLVE_JSON_OBJECT   512

/* longer than any ngx_resolver_strerror() text, quoted */
#define NGX_HTTP_UPSTREAM_RESOLVE_ERROR_LEN     64

/* pending and failed table upstreams listed, each */
#define NGX_HTTP_UPSTREAM_RESOLVE_STATUS_LIST   1000


static ngx_buf_t *ngx_http_upstream_resolve_status_buf(ngx_http_request_t *r,
    ngx_chain_t ***ll, size_t len);
static size_t ngx_http_upstream_resolve_json_len(ngx_str_t *s);
static u_char *ngx_http_upstream_resolve_json_str(u_char *p, ngx_str_t *s);
static ngx_int_t ngx_http_upstream_resolve_status_one(
    ngx_http_request_t *r, ngx_chain_t ***ll, off_t *total,
    ngx_http_upstream_resolve_shared_t *sh, ngx_str_t *zone,
    ngx_uint_t first);
static size_t ngx_http_upstream_resolve_status_len(
    ngx_http_upstream_resolve_shared_t *sh, ngx_str_t *zone);
static u_char *ngx_http_upstream_resolve_status_upstream(u_char *p,
    ngx_http_upstream_resolve_shared_t *sh, ngx_str_t *zone);
static u_char *ngx_http_upstream_resolve_status_peers(u_char *p,
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer, ngx_uint_t first);
static ngx_buf_t *ngx_http_upstream_resolve_table_status_text(
    ngx_http_request_t *r, ngx_http_upstream_resolve_registry_t *reg);


ngx_int_t
ngx_http_upstream_resolve_status_handler(ngx_http_request_t *r)
{
    off_t                                   total;
    ngx_int_t                               rc;
    ngx_buf_t                              *b;
    ngx_str_t                              *zone;
    ngx_uint_t                              i, first;
    ngx_queue_t                            *q;
    ngx_chain_t                            *out, **ll;
    ngx_slab_pool_t                        *shpool;
    ngx_http_upstream_resolve_entry_t      *e;
    ngx_http_upstream_resolve_srv_conf_t  **rscfp;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_resolve_module);
    rscfp = rmcf->upstreams.elts;

    /* one buffer per upstream, measured and written under its read lock */

    out = NULL;
    ll = &out;
    total = 0;

    b = ngx_http_upstream_resolve_status_buf(r, &ll,
                  sizeof("{\"pid\":,\"upstreams\":[") - 1 + NGX_INT64_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"pid\":%P,\"upstreams\":[", ngx_pid);
    total += b->last - b->pos;

    first = 1;

    for (i = 0; i < rmcf->upstreams.nelts; i++) {

        if (rscfp[i]->shared == NULL) {
            continue;
        }

        zone = &rscfp[i]->upstream->shm_zone->shm.name;

        if (ngx_http_upstream_resolve_status_one(r, &ll, &total,
                                                 rscfp[i]->shared, zone,
                                                 first)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        first = 0;
    }

    /* table upstreams: the zone's mutex keeps them while they are read */

    if (rmcf->registry != NULL) {
        shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;
        zone = &rmcf->table_zone->shm.name;

        ngx_shmtx_lock(&shpool->mutex);

        for (q = ngx_queue_head(&rmcf->registry->entries);
             q != ngx_queue_sentinel(&rmcf->registry->entries);
             q = ngx_queue_next(q))
        {
            e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, queue);

            if (ngx_http_upstream_resolve_status_one(r, &ll, &total,
                                                     &e->peers, zone, first)
                != NGX_OK)
            {
                ngx_shmtx_unlock(&shpool->mutex);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            first = 0;
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    b = ngx_http_upstream_resolve_status_buf(r, &ll, sizeof("]}\n") - 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, "]}\n", sizeof("]}\n") - 1);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    total += b->last - b->pos;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = total;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/* one upstream's object, measured and written under its read lock */

static ngx_int_t
ngx_http_upstream_resolve_status_one(ngx_http_request_t *r,
    ngx_chain_t ***ll, off_t *total, ngx_http_upstream_resolve_shared_t *sh,
    ngx_str_t *zone, ngx_uint_t first)
{
    size_t      len;
    ngx_buf_t  *b;

    ngx_rwlock_rlock(&sh->rwlock);

    len = ngx_http_upstream_resolve_status_len(sh, zone);

    b = ngx_http_upstream_resolve_status_buf(r, ll, len);
    if (b == NULL) {
        ngx_rwlock_unlock(&sh->rwlock);
        return NGX_ERROR;
    }

    if (!first) {
        *b->last++ = ',';
    }

    b->last = ngx_http_upstream_resolve_status_upstream(b->last, sh, zone);

    ngx_rwlock_unlock(&sh->rwlock);

    *total += b->last - b->pos;

    return NGX_OK;
}


/* a new temporary buffer of len bytes, linked at *ll */

static ngx_buf_t *
ngx_http_upstream_resolve_status_buf(ngx_http_request_t *r,
    ngx_chain_t ***ll, size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    **ll = cl;
    *ll = &cl->next;

    return b;
}


static size_t
ngx_http_upstream_resolve_json_len(ngx_str_t *s)
{
    return sizeof("\"\"") - 1 + s->len
           + ngx_escape_json(NULL, s->data, s->len);
}


static u_char *
ngx_http_upstream_resolve_json_str(u_char *p, ngx_str_t *s)
{
    *p++ = '"';
    p = (u_char *) ngx_escape_json(p, s->data, s->len);
    *p++ = '"';

    return p;
}


static size_t
ngx_http_upstream_resolve_status_len(ngx_http_upstream_resolve_shared_t *sh,
    ngx_str_t *zone)
{
    size_t                             len;
    ngx_uint_t                         i, npeers;
    ngx_http_upstream_resolve_host_t  *host;

    host = sh->hosts;

    len = NGX_HTTP_UPSTREAM_RESOLVE_JSON_OBJECT
          + ngx_http_upstream_resolve_json_len(sh->name)
          + ngx_http_upstream_resolve_json_len(zone);

    npeers = sh->number + sh->nbackup;

    for (i = 0; i < sh->nhosts; i++) {
        len += NGX_HTTP_UPSTREAM_RESOLVE_JSON_OBJECT
               + 2 * ngx_http_upstream_resolve_json_len(&host[i].server)
               + ngx_http_upstream_resolve_json_len(&host[i].name)
               + NGX_HTTP_UPSTREAM_RESOLVE_ERROR_LEN;
    }

    /* a peer names its resolve_server, and the name lists the address */

    for (i = 0; i < sh->nhosts; i++) {
        len += sh->state[i].naddrs
               * (ngx_http_upstream_resolve_json_len(&host[i].server)
                  + sizeof("\"\",") + NGX_HTTP_RESOLVE_PEER_NAME_LEN);
    }

    len += npeers * (NGX_HTTP_UPSTREAM_RESOLVE_JSON_OBJECT
                     + NGX_HTTP_RESOLVE_PEER_NAME_LEN);

    return len;
}


static u_char *
ngx_http_upstream_resolve_status_upstream(u_char *p,
    ngx_http_upstream_resolve_shared_t *sh, ngx_str_t *zone)
{
    uint64_t                            now;
    ngx_str_t                           addr, err;
    ngx_uint_t                          i, n;
    ngx_http_upstream_resolve_peer_t   *peer;
    ngx_http_upstream_resolve_host_t   *host;
    ngx_http_upstream_resolve_state_t  *st;

    host = sh->hosts;
    now = ngx_http_upstream_resolve_now();

    p = ngx_cpymem(p, "{\"name\":", sizeof("{\"name\":") - 1);
    p = ngx_http_upstream_resolve_json_str(p, sh->name);
    p = ngx_cpymem(p, ",\"zone\":", sizeof(",\"zone\":") - 1);
    p = ngx_http_upstream_resolve_json_str(p, zone);
    p = ngx_sprintf(p, ",\"table\":%s", sh->table ? "true" : "false");

    p = ngx_cpymem(p, ",\"peers\":[", sizeof(",\"peers\":[") - 1);
    p = ngx_http_upstream_resolve_status_peers(p, sh, sh->peer, 1);
    p = ngx_http_upstream_resolve_status_peers(p, sh, sh->backup,
                                               sh->peer == NULL);

    /* pfree is read without the pool's mutex: a snapshot */

    p = ngx_sprintf(p, "],\"zombies\":%ui,\"zone_free_pages\":%ui,"
                    "\"resolve\":[", sh->nzombies, sh->shpool->pfree);

    for (i = 0; i < sh->nhosts; i++) {
        st = &sh->state[i];

        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"server\":", sizeof("{\"server\":") - 1);
        p = ngx_http_upstream_resolve_json_str(p, &host[i].server);
        p = ngx_cpymem(p, ",\"name\":", sizeof(",\"name\":") - 1);
        p = ngx_http_upstream_resolve_json_str(p, &host[i].name);
        p = ngx_sprintf(p, ",\"port\":%ui,\"backup\":%s,\"addresses\":[",
                        (ngx_uint_t) host[i].port,
                        host[i].backup ? "true" : "false");

        n = 0;

        for (peer = host[i].backup ? sh->backup : sh->peer;
             peer;
             peer = peer->next)
        {
            if (peer->host != i) {
                continue;
            }

            if (n++ > 0) {
                *p++ = ',';
            }

            addr.len = peer->name_len;
            addr.data = peer->name;
            p = ngx_http_upstream_resolve_json_str(p, &addr);
        }

        p = ngx_sprintf(p, "],\"ttl_ms\":%M,\"last_resolution_ms\":",
                        st->ttl);

        if (st->last) {
            p = ngx_sprintf(p, "%uL", st->last);

        } else {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
        }

        /* the monotonic schedule as wall clock time */

        p = ngx_sprintf(p, ",\"next_resolution_ms\":%uL,\"last_error\":",
                        now + (int64_t) (st->next - ngx_current_msec));

        if (st->error == 0) {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);

        } else {
            if (st->error == NGX_ERROR) {
                ngx_str_set(&err, "resolver error");

            } else {
                err.data = (u_char *) ngx_resolver_strerror(st->error);
                err.len = ngx_strlen(err.data);
            }

            p = ngx_http_upstream_resolve_json_str(p, &err);
        }

        p = ngx_sprintf(p, ",\"failures\":%ui,\"resolving_pid\":",
                        st->failures);

        if (st->owner) {
            p = ngx_sprintf(p, "%P}", st->owner);

        } else {
            p = ngx_cpymem(p, "null}", sizeof("null}") - 1);
        }
    }

    *p++ = ']';
    *p++ = '}';

    return p;
}


static u_char *
ngx_http_upstream_resolve_status_peers(u_char *p,
    ngx_http_upstream_resolve_shared_t *sh,
    ngx_http_upstream_resolve_peer_t *peer, ngx_uint_t first)
{
    ngx_str_t                          addr;
    ngx_http_upstream_resolve_host_t  *host;

    host = sh->hosts;

    for ( /* void */ ; peer; peer = peer->next) {

        if (!first) {
            *p++ = ',';
        }

        first = 0;

        addr.len = peer->name_len;
        addr.data = peer->name;

        p = ngx_cpymem(p, "{\"address\":", sizeof("{\"address\":") - 1);
        p = ngx_http_upstream_resolve_json_str(p, &addr);
        p = ngx_cpymem(p, ",\"resolve_server\":",
                       sizeof(",\"resolve_server\":") - 1);

        if (peer->host == NGX_HTTP_UPSTREAM_RESOLVE_STATIC) {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);

        } else {
            p = ngx_http_upstream_resolve_json_str(p,
                                                   &host[peer->host].server);
        }

        p = ngx_sprintf(p, ",\"weight\":%i,\"backup\":%s,\"down\":%s,"
                        "\"fails\":%ui,\"conns\":%ui}",
                        peer->weight, peer->backup ? "true" : "false",
                        peer->down ? "true" : "false",
                        peer->fails, peer->conns);
    }

    return p;
}


/*
 * "resolve_upstreams_status": the table upstreams in a few lines of text,
 * cheap at any number of them (the controller polls it after a change):
 *
 *   upstreams N ready R pending P failed F
 *   table VERSION seq S
 *   waited W unresolved U
 *   pending NAME HOST:PORT                 (at most ..._LIST lines)
 *   failed NAME HOST:PORT ERROR            (at most ..._LIST lines)
 *
 * pending: not resolved since made (requests wait for it); failed:
 * resolved to no address (requests get 503); waited and unresolved count
 * such requests since the zone was made.
 */

ngx_int_t
ngx_http_upstream_resolve_table_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                               rc;
    ngx_buf_t                              *b;
    ngx_chain_t                             out;
    ngx_slab_pool_t                        *shpool;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_resolve_module);

    if (rmcf->registry == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);
    b = ngx_http_upstream_resolve_table_status_text(r, rmcf->registry);
    ngx_shmtx_unlock(&shpool->mutex);

    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* the text, under the zone's mutex */

static ngx_buf_t *
ngx_http_upstream_resolve_table_status_text(ngx_http_request_t *r,
    ngx_http_upstream_resolve_registry_t *reg)
{
    size_t                              len;
    ngx_str_t                           err, version;
    ngx_buf_t                          *b;
    ngx_uint_t                          n, k;
    ngx_queue_t                        *q, *list[2];
    ngx_http_upstream_resolve_entry_t  *e;

    list[0] = &reg->pending;
    list[1] = &reg->failed;

    len = sizeof("upstreams  ready  pending  failed \n") - 1
          + 4 * NGX_INT_T_LEN
          + sizeof("table  seq \n") - 1 + NGX_INT_T_LEN
          + NGX_HTTP_UPSTREAM_RESOLVE_VERSION_MAX
          + sizeof("waited  unresolved \n") - 1 + 2 * NGX_ATOMIC_T_LEN;

    for (k = 0; k < 2; k++) {
        n = 0;

        for (q = ngx_queue_head(list[k]);
             q != ngx_queue_sentinel(list[k])
             && n < NGX_HTTP_UPSTREAM_RESOLVE_STATUS_LIST;
             q = ngx_queue_next(q), n++)
        {
            e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, klass);
            len += sizeof("pending   \n") - 1 + e->name.len
                   + e->host.server.len + NGX_HTTP_UPSTREAM_RESOLVE_ERROR_LEN;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    version.data = reg->version;
    version.len = reg->version_len;

    if (version.len == 0) {
        ngx_str_set(&version, "-");
    }

    b->last = ngx_sprintf(b->last,
                          "upstreams %ui ready %ui pending %ui failed %ui\n"
                          "table %V seq %ui\n"
                          "waited %uA unresolved %uA\n",
                          reg->nentries,
                          reg->nentries - reg->npending - reg->nfailed,
                          reg->npending, reg->nfailed, &version, reg->seq,
                          reg->waited, reg->unresolved);

    for (k = 0; k < 2; k++) {
        n = 0;

        for (q = ngx_queue_head(list[k]);
             q != ngx_queue_sentinel(list[k])
             && n < NGX_HTTP_UPSTREAM_RESOLVE_STATUS_LIST;
             q = ngx_queue_next(q), n++)
        {
            e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, klass);

            b->last = ngx_sprintf(b->last, "%s %V %V",
                                  k == 0 ? "pending" : "failed",
                                  &e->name, &e->host.server);

            if (k == 1) {
                if (e->state.error == NGX_ERROR || e->state.error == 0) {
                    ngx_str_set(&err, "resolver error");

                } else {
                    err.data = (u_char *)
                               ngx_resolver_strerror(e->state.error);
                    err.len = ngx_strlen(err.data);
                }

                b->last = ngx_sprintf(b->last, " %V", &err);
            }

            *b->last++ = '\n';
        }
    }

    return b;
}
