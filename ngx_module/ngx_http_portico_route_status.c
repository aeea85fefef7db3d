
/*
 * ngx_http_portico_route_module: which table versions every worker uses,
 * of the route table and of the certificate table
 * (ngx_http_portico_ssl_module.c).
 *
 * A small shared zone of fixed size (so a reload reuses it) holds one slot
 * per worker number, under the zone's slab mutex (which the master releases
 * when a worker dies holding it).  Each configuration gets a new generation
 * number when the master initializes the zone; a worker writes its slot
 * (generation, pid, the version of one table) when it starts and after every
 * table swap, and never over a slot of a newer generation, so an old worker
 * finishing its requests after a reload cannot hide the new worker of the
 * same number.  The first write of a new generation clears the versions of
 * the other tables, so no version of the previous configuration shows.
 *
 * "portico_routes_status" (and "portico_certificates_status" for the
 * certificate table) answers, as text/plain:
 *
 *   VERSION | mixed
 *   worker 0 pid 1234 version VERSION
 *   worker 1 pid 0 version -           (not started with this config yet)
 */


#include "ngx_http_portico_route_module.h"


#define NGX_HTTP_PORTICO_ROUTES_ZONE_NAME    "portico_routes"
#define NGX_HTTP_PORTICO_ROUTES_ZONE_SIZE    (256 * 1024)

#define NGX_HTTP_PORTICO_ROUTES_LINE_LEN                                      \
    (sizeof("worker  pid  version \n") - 1 + 2 * NGX_INT_T_LEN               \
     + NGX_HTTP_PORTICO_ROUTES_VERSION_MAX)


static ngx_int_t ngx_http_portico_route_status_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_portico_route_status_workers(void);


ngx_int_t
ngx_http_portico_route_status_zone(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf)
{
    ngx_str_t  name = ngx_string(NGX_HTTP_PORTICO_ROUTES_ZONE_NAME);

    if (rmcf->shm_zone != NULL) {
        /* both tables' directives ask for it */
        return NGX_OK;
    }

    rmcf->shm_zone = ngx_shared_memory_add(cf, &name,
                                           NGX_HTTP_PORTICO_ROUTES_ZONE_SIZE,
                                           &ngx_http_portico_route_module);
    if (rmcf->shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (rmcf->shm_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_ERROR;
    }

    rmcf->shm_zone->init = ngx_http_portico_route_status_init;
    rmcf->shm_zone->data = rmcf;

    return NGX_OK;
}


/* in the master (or "nginx -t"), once per configuration */

static ngx_int_t
ngx_http_portico_route_status_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t                     *shpool;
    ngx_http_portico_route_shared_t     *sh;
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = shm_zone->data;

    /* a reused zone keeps its slots */

    sh = data;

    if (sh == NULL) {
        shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_portico_route_shared_t));
        if (sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "portico_routes: zone \"%V\" is too small",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }
    }

    sh->generation++;

    rmcf->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    rmcf->shared = sh;
    rmcf->generation = sh->generation;

    shm_zone->data = sh;

    return NGX_OK;
}


void
ngx_http_portico_route_status_publish(ngx_http_portico_route_main_conf_t *rmcf,
    ngx_uint_t table, ngx_str_t *version)
{
    ngx_uint_t                      i;
    ngx_http_portico_route_slot_t  *slot;

    if (rmcf->shared == NULL || ngx_worker >= NGX_MAX_PROCESSES) {
        return;
    }

    slot = &rmcf->shared->slots[ngx_worker];

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    if (slot->generation < rmcf->generation) {
        slot->generation = rmcf->generation;

        for (i = 0; i < NGX_HTTP_PORTICO_TABLES; i++) {
            slot->version_len[i] = 0;
        }
    }

    if (slot->generation == rmcf->generation) {
        slot->pid = ngx_pid;
        slot->version_len[table] = ngx_min(version->len,
                                          NGX_HTTP_PORTICO_ROUTES_VERSION_MAX);
        ngx_memcpy(slot->version[table], version->data,
                   slot->version_len[table]);
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);
}


static ngx_uint_t
ngx_http_portico_route_status_workers(void)
{
    ngx_core_conf_t  *ccf;

    if (ngx_process == NGX_PROCESS_SINGLE) {
        return 1;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf->worker_processes < 1) {
        return 1;
    }

    return ngx_min((ngx_uint_t) ccf->worker_processes, NGX_MAX_PROCESSES);
}


ngx_int_t
ngx_http_portico_route_status_handler(ngx_http_request_t *r)
{
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_route_module);

    return ngx_http_portico_route_status_send(r, rmcf,
                                              NGX_HTTP_PORTICO_TABLE_ROUTES);
}


ngx_int_t
ngx_http_portico_route_status_send(ngx_http_request_t *r,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_uint_t table)
{
    size_t                               len;
    u_char                              *p, *versions;
    ngx_int_t                            rc;
    ngx_buf_t                           *b;
    ngx_str_t                            first, v;
    ngx_uint_t                           i, n, mixed;
    ngx_pid_t                            pid;
    ngx_chain_t                          out;
    ngx_http_portico_route_slot_t       *slot;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (rmcf == NULL || rmcf->shared == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    n = ngx_http_portico_route_status_workers();

    len = NGX_HTTP_PORTICO_ROUTES_VERSION_MAX + sizeof("\n") - 1
          + n * NGX_HTTP_PORTICO_ROUTES_LINE_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    versions = ngx_pnalloc(r->pool, n * NGX_HTTP_PORTICO_ROUTES_VERSION_MAX);

    if (b == NULL || versions == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the worker lines first, then line 1 goes before them */

    p = b->start + NGX_HTTP_PORTICO_ROUTES_VERSION_MAX + sizeof("\n") - 1;
    b->pos = p;

    ngx_str_null(&first);
    mixed = 0;

    ngx_shmtx_lock(&rmcf->shpool->mutex);

    for (i = 0; i < n; i++) {
        slot = &rmcf->shared->slots[i];

        if (slot->generation == rmcf->generation
            && slot->version_len[table] != 0)
        {
            pid = slot->pid;
            v.len = slot->version_len[table];
            v.data = &versions[i * NGX_HTTP_PORTICO_ROUTES_VERSION_MAX];
            ngx_memcpy(v.data, slot->version[table], v.len);

        } else {
            pid = 0;
            ngx_str_set(&v, "-");
        }

        p = ngx_sprintf(p, "worker %ui pid %P version %V\n", i, pid, &v);

        if (i == 0) {
            first = v;

        } else if (first.len != v.len
                   || ngx_memcmp(first.data, v.data, v.len) != 0)
        {
            mixed = 1;
        }
    }

    ngx_shmtx_unlock(&rmcf->shpool->mutex);

    if (mixed) {
        ngx_str_set(&first, "mixed");
    }

    b->pos -= first.len + 1;
    ngx_memcpy(b->pos, first.data, first.len);
    b->pos[first.len] = '\n';

    b->last = p;
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
