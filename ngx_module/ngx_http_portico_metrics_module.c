
/*
 * ngx_http_portico_metrics_module: request metrics per route rule in
 * shared memory, counted in the log phase (docs/metrics.md).
 *
 *   http {
 *       portico_metrics zone=64m [max_series_per_ingress=256] [grace=60s];
 *       portico_routes routes;
 *       server { listen 127.0.0.1:10246;
 *                location = /metrics { portico_metrics_status; } }
 *   }
 *
 * The route module tells this one which rule a request matched
 * (ngx_http_portico_metrics_match) and which table a worker loaded
 * (ngx_http_portico_metrics_attach); nothing here calls back into it.
 */


#include "ngx_http_portico_route_module.h"


typedef struct {
    ngx_http_portico_metrics_ref_t       ref;       /* index 0: no rule */
} ngx_http_portico_metrics_ctx_t;


static void *ngx_http_portico_metrics_create_main_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_portico_metrics_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_portico_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_metrics_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);


static ngx_int_t ngx_http_portico_metrics_log_handler(ngx_http_request_t *r);
static ngx_http_portico_metrics_ctx_t *ngx_http_portico_metrics_get_ctx(
    ngx_http_request_t *r);
static void ngx_http_portico_metrics_cleanup(void *data);
static void ngx_http_portico_metrics_observe(
    ngx_http_portico_metrics_hist_t *h, ngx_msec_int_t ms);
static ngx_uint_t ngx_http_portico_metrics_method(ngx_http_request_t *r);
static ngx_uint_t ngx_http_portico_metrics_status_code(ngx_http_request_t *r);


/* upper bounds of the histogram buckets, ms: 5ms .. 10s */
static ngx_msec_t  ngx_http_portico_metrics_bounds[] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};


static ngx_command_t  ngx_http_portico_metrics_commands[] = {

    { ngx_string("portico_metrics"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_portico_metrics,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_metrics_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_metrics_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_portico_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_portico_metrics_postconfiguration, /* postconfiguration */

    ngx_http_portico_metrics_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_portico_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_portico_metrics_module_ctx,  /* module context */
    ngx_http_portico_metrics_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */

static void *
ngx_http_portico_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_portico_metrics_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mmcf->shm_zone = NULL;
     *     mmcf->shared = NULL;
     */

    mmcf->per_ingress = NGX_CONF_UNSET_UINT;
    mmcf->grace = NGX_CONF_UNSET;

    return mmcf;
}


static char *
ngx_http_portico_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_metrics_main_conf_t  *mmcf = conf;

    ssize_t     size;
    ngx_int_t   n;
    ngx_str_t  *value, s, name = ngx_string(NGX_HTTP_PORTICO_METRICS_ZONE_NAME);
    ngx_uint_t  i;

    if (mmcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0 && size == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < NGX_HTTP_PORTICO_METRICS_ZONE_MIN) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small, at least %uzk",
                                   &value[i],
                                   (size_t) NGX_HTTP_PORTICO_METRICS_ZONE_MIN
                                   / 1024);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_series_per_ingress=", 23) == 0
            && mmcf->per_ingress == NGX_CONF_UNSET_UINT)
        {
            n = ngx_atoi(value[i].data + 23, value[i].len - 23);

            if (n < 1 || n > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\", 1-65535 expected",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            mmcf->per_ingress = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "grace=", 6) == 0
            && mmcf->grace == NGX_CONF_UNSET)
        {
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

            mmcf->grace = ngx_parse_time(&s, 1);

            if (mmcf->grace == (time_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"portico_metrics\" needs zone=SIZE");
        return NGX_CONF_ERROR;
    }

    if (mmcf->per_ingress == NGX_CONF_UNSET_UINT) {
        mmcf->per_ingress = NGX_HTTP_PORTICO_METRICS_PER_INGRESS;
    }

    if (mmcf->grace == NGX_CONF_UNSET) {
        mmcf->grace = NGX_HTTP_PORTICO_METRICS_GRACE;
    }

    mmcf->size = size;

    /* the same size at a reload: the zone and its counters are kept */

    mmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_portico_metrics_module);
    if (mmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mmcf->shm_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    mmcf->shm_zone->init = ngx_http_portico_metrics_init_zone;
    mmcf->shm_zone->data = mmcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_metrics_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t              *clcf;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_metrics_module);

    if (mmcf->shm_zone == NULL) {
        return "needs \"portico_metrics\" before it at http level";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_portico_metrics_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_portico_metrics_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt                   *h;
    ngx_http_core_main_conf_t             *cmcf;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_metrics_module);

    if (mmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_portico_metrics_log_handler;

    return NGX_OK;
}


/* requests */

void
ngx_http_portico_metrics_match(ngx_http_request_t *r,
    ngx_http_portico_metrics_ref_t *ref)
{
    ngx_pool_cleanup_t                    *cln;
    ngx_http_portico_metrics_ctx_t        *ctx;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_metrics_module);

    if (mmcf->shared == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_portico_metrics_module);

    if (ctx == NULL) {

        /*
         * kept in a pool cleanup, as the realip module keeps its context,
         * so that it outlives an internal redirect (error_page)
         */

        cln = ngx_pool_cleanup_add(r->pool,
                                   sizeof(ngx_http_portico_metrics_ctx_t));
        if (cln == NULL) {
            return;
        }

        cln->handler = ngx_http_portico_metrics_cleanup;
        ctx = cln->data;

        ngx_http_set_ctx(r, ctx, ngx_http_portico_metrics_module);
    }

    if (ref != NULL) {
        ctx->ref = *ref;

    } else {
        ctx->ref.index = 0;
        ctx->ref.generation = 0;
    }
}


static ngx_http_portico_metrics_ctx_t *
ngx_http_portico_metrics_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_portico_metrics_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_portico_metrics_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_portico_metrics_cleanup) {
                ctx = cln->data;
                break;
            }
        }
    }

    return ctx;
}


static void
ngx_http_portico_metrics_cleanup(void *data)
{
    /* the context is only found by this handler's address */
}


/*
 * Log phase of a routed request: its route (or the unrouted one when the
 * rule had none, or its route was freed since), its series, its times and
 * bytes.  Lock-free except when a status and method are new for the route.
 */

static ngx_int_t
ngx_http_portico_metrics_log_handler(ngx_http_request_t *r)
{
    uint32_t                               index;
    ngx_msec_int_t                         ms, upstream;
    ngx_uint_t                             i, status, method, failures;
    ngx_time_t                            *tp;
    ngx_http_upstream_state_t             *state;
    ngx_http_portico_metrics_ctx_t        *ctx;
    ngx_http_portico_metrics_route_t      *route;
    ngx_http_portico_metrics_series_t     *s;
    ngx_http_portico_metrics_shared_t     *sh;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_metrics_module);
    sh = mmcf->shared;

    if (sh == NULL || r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_portico_metrics_get_ctx(r);

    if (ctx == NULL) {
        /* not a routed request (a status location, say) */
        return NGX_OK;
    }

    index = ctx->ref.index;

    if (index == 0 || index > sh->nroutes
        || sh->routes[index - 1].generation != ctx->ref.generation)
    {
        index = sh->unrouted;
    }

    route = &sh->routes[index - 1];

    status = ngx_http_portico_metrics_status_code(r);
    method = ngx_http_portico_metrics_method(r);

    s = ngx_http_portico_metrics_find_series(mmcf, route, status, method);

    if (s == NULL) {
        s = ngx_http_portico_metrics_add_series(mmcf, index,
                                                route->generation, status,
                                                method);
    }

    if (s != NULL) {
        (void) ngx_atomic_fetch_add(&s->requests, 1);
    }

    (void) ngx_atomic_fetch_add(&route->request_bytes, r->request_length);
    (void) ngx_atomic_fetch_add(&route->response_bytes, r->connection->sent);

    /* as $request_time */

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    ngx_http_portico_metrics_observe(&route->duration, ngx_max(ms, 0));

    if (r->upstream_states == NULL || r->upstream_states->nelts == 0) {
        return NGX_OK;
    }

    /*
     * every try: the response times summed (the time spent on the
     * upstreams), the tries that never connected (refused, timed out, no
     * live peer) counted; a state without a peer separates the upstreams
     * of internal redirects
     */

    state = r->upstream_states->elts;
    upstream = -1;
    failures = 0;

    for (i = 0; i < r->upstream_states->nelts; i++) {

        if (state[i].peer == NULL) {
            continue;
        }

        if (state[i].connect_time == (ngx_msec_t) -1) {
            failures++;
        }

        if (state[i].response_time != (ngx_msec_t) -1) {
            upstream = ngx_max(upstream, 0)
                       + ngx_max((ngx_msec_int_t) state[i].response_time, 0);
        }
    }

    if (failures) {
        (void) ngx_atomic_fetch_add(&route->connect_failures, failures);
    }

    if (upstream != -1) {
        ngx_http_portico_metrics_observe(&route->upstream, upstream);
    }

    return NGX_OK;
}


static void
ngx_http_portico_metrics_observe(ngx_http_portico_metrics_hist_t *h,
    ngx_msec_int_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_PORTICO_METRICS_BUCKETS; i++) {
        if ((ngx_msec_t) ms <= ngx_http_portico_metrics_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}


/* as $status: 0 for none, at most 999 */

static ngx_uint_t
ngx_http_portico_metrics_status_code(ngx_http_request_t *r)
{
    ngx_uint_t  status;

    if (r->err_status) {
        status = r->err_status;

    } else if (r->headers_out.status) {
        status = r->headers_out.status;

    } else {
        status = 0;
    }

    return ngx_min(status, 999);
}


static ngx_uint_t
ngx_http_portico_metrics_method(ngx_http_request_t *r)
{
    switch (r->method) {

    case NGX_HTTP_GET:
        return 0;

    case NGX_HTTP_HEAD:
        return 1;

    case NGX_HTTP_POST:
        return 2;

    case NGX_HTTP_PUT:
        return 3;

    case NGX_HTTP_DELETE:
        return 4;

    case NGX_HTTP_PATCH:
        return 5;

    case NGX_HTTP_OPTIONS:
        return 6;

    default:
        return NGX_HTTP_PORTICO_METRICS_METHODS - 1;
    }
}
