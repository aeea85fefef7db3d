
/*
 * ngx_http_portico_route_module: routes from a table file, without reloads
 * (docs/routes.md).
 *
 *   http {
 *       portico_routes routes config=1f2e3d4c5b6a7980 interval=100ms;
 *       upstream portico_dispatch { portico_dispatch; }
 *       server {
 *           location / { portico_route; proxy_pass http://portico_dispatch; }
 *           location @portico_p1 { client_max_body_size 10m;
 *                                  portico_route;
 *                                  proxy_pass http://portico_dispatch; }
 *       }
 *       server { location = /routes-version { portico_routes_status; } }
 *   }
 *
 * "portico_route" runs in the rewrite phase: host section, redirect, rule,
 * then 404/503/308, a jump to the rule's named location, or the chosen
 * upstream in the request's context.  In a server whose locations all
 * route, a rule's jump to its named location is made earlier, in the server
 * rewrite phase, so that nginx does not check the body size against
 * "location /" first.  "portico_dispatch" is the balancer of
 * the upstream that proxy_pass names: it initializes the peer with the
 * chosen upstream's own balancer (its keepalive, its resolved peers).
 * Its header filter sends the cookie of session affinity that the
 * balancer asked for.
 */


#include "ngx_http_portico_route_module.h"


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


typedef struct {
    ngx_flag_t                           enable;
    ngx_int_t                            errors;    /* portico_route_errors:
                                                       its code */
} ngx_http_portico_route_loc_conf_t;


typedef struct {
    unsigned                             dispatch:1;  /* upstream{} */
    unsigned                             dispatch_init:1; /* ours ran */

    /*
     * upstream{}: its balancer may keep connections (a "keepalive", or a
     * balancer we do not know); the kind of connection it keeps, set by
     * the first request of this worker (ngx_http_portico_dispatch_kind())
     */
    unsigned                             caches:1;
    ngx_int_t                          (*kind_create)(ngx_http_request_t *r);
    ngx_http_upstream_conf_t            *kind_tls;

    /* server{}: its locations with and without "portico_route" */
    unsigned                             routing:1;
    unsigned                             other:1;
} ngx_http_portico_route_srv_conf_t;


/*
 * what a request keeps: configuration, or a table upstream it holds (so
 * the zone keeps it until the request ends), never table memory
 */

typedef struct {
    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_entry_t   *entry;
    ngx_http_portico_route_sticky_t     *sticky;    /* affinity, or NULL */
    ngx_msec_t                           wait_start;  /* 0: not waited */
    unsigned                             waited:1;
    unsigned                             rewritten:1;
    unsigned                             canary_decided:1;
    unsigned                             canary:1;  /* to the canary */
    /* the rule's default backend, when its upstream has no address */
    ngx_http_upstream_resolve_entry_t   *fallback;
} ngx_http_portico_route_ctx_t;


static void *ngx_http_portico_route_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_portico_route_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_portico_route_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_portico_route_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_portico_route_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_portico_route_check_dispatch(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf);
static ngx_int_t ngx_http_portico_route_upstreams(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf);
static ngx_int_t ngx_http_portico_route_profiles(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf);
static ngx_int_t ngx_http_portico_route_profiles_add(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_http_core_srv_conf_t *cscf);
static void ngx_http_portico_route_cleanup(void *data);
static char *ngx_http_portico_routes(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_route(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_route_errors(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_dispatch(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_portico_routes_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

static ngx_int_t ngx_http_portico_route_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_portico_route_server_handler(
    ngx_http_request_t *r);
static ngx_int_t ngx_http_portico_route_error_page(ngx_http_request_t *r,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_int_t code);
static ngx_http_portico_route_ctx_t *ngx_http_portico_route_get_ctx(
    ngx_http_request_t *r);
static ngx_http_portico_route_target_t *ngx_http_portico_route_lookup(
    ngx_http_request_t *r, ngx_http_portico_route_main_conf_t *rmcf,
    ngx_int_t *rc);
static ngx_int_t ngx_http_portico_route_redirect(ngx_http_request_t *r,
    ngx_http_portico_route_table_t *table);
static ngx_int_t ngx_http_portico_route_table_upstream(ngx_http_request_t *r,
    ngx_http_portico_route_ctx_t *ctx, ngx_http_upstream_resolve_entry_t *e);
static void ngx_http_portico_route_wait_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_portico_route_unresolved(ngx_http_request_t *r,
    ngx_http_portico_route_ctx_t *ctx);
static void ngx_http_portico_route_release(void *data);
static ngx_int_t ngx_http_portico_dispatch_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_portico_dispatch_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_portico_dispatch_kind(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);

static ngx_int_t ngx_http_portico_route_header_filter(ngx_http_request_t *r);

static ngx_int_t ngx_http_portico_route_init_process(ngx_cycle_t *cycle);
static void ngx_http_portico_route_start(ngx_cycle_t *cycle);
static void ngx_http_portico_route_swap(ngx_http_portico_watch_t *watch,
    ngx_log_t *log);
static void ngx_http_portico_route_known_upstreams(
    ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_table_t *current);
static void ngx_http_portico_route_attach(ngx_cycle_t *cycle,
    ngx_http_portico_route_table_t *table);


/* the address of portico_dispatch's only "server"; never connected to */
static struct sockaddr_in  ngx_http_portico_dispatch_placeholder = {
    .sin_family = AF_INET
};


static ngx_command_t  ngx_http_portico_route_commands[] = {

    { ngx_string("portico_routes"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1234,
      ngx_http_portico_routes,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_route,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_route_errors"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_portico_route_errors,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_dispatch"),
      NGX_HTTP_UPS_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_dispatch,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("portico_routes_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_portico_routes_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_portico_route_module_ctx = {
    ngx_http_portico_route_errors_variables, /* preconfiguration */
    ngx_http_portico_route_postconfiguration, /* postconfiguration */

    ngx_http_portico_route_create_main_conf, /* create main configuration */
    NULL,                                  /* init main configuration */

    ngx_http_portico_route_create_srv_conf, /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_portico_route_create_loc_conf, /* create location configuration */
    ngx_http_portico_route_merge_loc_conf  /* merge location configuration */
};


ngx_module_t  ngx_http_portico_route_module = {
    NGX_MODULE_V1,
    &ngx_http_portico_route_module_ctx,    /* module context */
    ngx_http_portico_route_commands,       /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_portico_route_init_process,   /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* configuration */

static void *
ngx_http_portico_route_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_portico_route_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->watch.file = { 0, NULL };
     *     rmcf->table = NULL;
     *     rmcf->shm_zone = NULL;
     *     rmcf->shared = NULL;
     */

    rmcf->watch.interval = NGX_CONF_UNSET_MSEC;
    rmcf->wait = NGX_CONF_UNSET_MSEC;

    return rmcf;
}


static void *
ngx_http_portico_route_create_srv_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_portico_route_srv_conf_t));
}


static void *
ngx_http_portico_route_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_portico_route_loc_conf_t  *rlcf;

    rlcf = ngx_palloc(cf->pool, sizeof(ngx_http_portico_route_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    rlcf->enable = NGX_CONF_UNSET;
    rlcf->errors = NGX_CONF_UNSET;

    return rlcf;
}


static char *
ngx_http_portico_route_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_portico_route_loc_conf_t  *prev = parent;
    ngx_http_portico_route_loc_conf_t  *conf = child;


    ngx_http_core_loc_conf_t           *clcf;
    ngx_http_portico_route_srv_conf_t  *rscf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->errors, prev->errors, 0);

    /*
     * nginx merges every location with cf->ctx pointing at it and at its
     * server: note whether the server's regular locations all route
     * (server level, named locations, "if" and "limit_except" do not count)
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    rscf = ngx_http_conf_get_module_srv_conf(cf,
                                             ngx_http_portico_route_module);

    if (clcf == NULL || rscf == NULL || clcf->name.len == 0 || clcf->named
        || clcf->noname)
    {
        return NGX_CONF_OK;
    }

    if (conf->enable) {
        rscf->routing = 1;

    } else {
        rscf->other = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_routes(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_route_main_conf_t  *rmcf = conf;

    u_char      ch;
    ngx_int_t   rc;
    ngx_str_t  *value, s;
    ngx_uint_t  i, j;

    if (rmcf->watch.file.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rmcf->watch.file = value[1];

    if (ngx_conf_full_name(cf->cycle, &rmcf->watch.file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_http_portico_watch_interval(cf, &rmcf->watch, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "wait=", 5) == 0
            && rmcf->wait == NGX_CONF_UNSET_MSEC)
        {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            rmcf->wait = ngx_parse_time(&s, 0);

            if (rmcf->wait == (ngx_msec_t) NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid wait \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "config=", 7) == 0
            && rmcf->refs.config.data == NULL)
        {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            for (j = 0; j < s.len; j++) {
                ch = s.data[j];

                if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z'))) {
                    break;
                }
            }

            if (s.len == 0 || s.len > NGX_HTTP_PORTICO_ROUTES_CONFIG_MAX
                || j != s.len)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid config token \"%V\", 1-%d "
                                   "characters [0-9a-z] expected",
                                   &value[i],
                                   NGX_HTTP_PORTICO_ROUTES_CONFIG_MAX);
                return NGX_CONF_ERROR;
            }

            rmcf->refs.config = s;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rmcf->watch.interval == NGX_CONF_UNSET_MSEC) {
        rmcf->watch.interval = NGX_HTTP_PORTICO_ROUTES_INTERVAL;
    }

    rmcf->watch.directive = "portico_routes";
    rmcf->watch.load = ngx_http_portico_route_swap;
    rmcf->watch.start = ngx_http_portico_route_start;
    rmcf->watch.data = rmcf;
    if (rmcf->wait == NGX_CONF_UNSET_MSEC) {
        rmcf->wait = NGX_HTTP_PORTICO_ROUTES_WAIT;
    }

    if (ngx_http_portico_route_status_zone(cf, rmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_route_loc_conf_t  *rlcf = conf;

    ngx_http_portico_route_main_conf_t  *rmcf;

    if (rlcf->enable != NGX_CONF_UNSET || rlcf->errors != NGX_CONF_UNSET) {
        return "is duplicate or with \"portico_route_errors\"";
    }

    rlcf->enable = 1;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_route_module);
    rmcf->route_used = 1;

    return NGX_CONF_OK;
}


/*
 * "portico_route_errors CODE": an error page of a profile (a named
 * location), which proxies to the default backend of the request's rule;
 * without one, the answer is CODE
 */

static char *
ngx_http_portico_route_errors(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_route_loc_conf_t  *rlcf = conf;

    ngx_str_t                           *value;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_portico_route_main_conf_t  *rmcf;

    if (rlcf->errors != NGX_CONF_UNSET || rlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate or with \"portico_route\"";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (!clcf->named) {
        return "must be in a named location";
    }

    value = cf->args->elts;

    rlcf->errors = ngx_atoi(value[1].data, value[1].len);

    if (rlcf->errors < 400 || rlcf->errors > 599) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid code \"%V\", 400-599 expected",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_route_module);
    rmcf->route_used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_dispatch(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_portico_route_srv_conf_t  *rscf = conf;

    ngx_addr_t                    *placeholder;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (rscf->dispatch) {
        return "is duplicate";
    }

    if (uscf->peer.init_upstream != NULL || uscf->servers->nelts != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"portico_dispatch\" must be alone in its "
                           "upstream");
        return NGX_CONF_ERROR;
    }

    /*
     * "upstream {}" refuses a block without servers: a placeholder entry
     * (never used, our init replaces the balancer)
     */

    placeholder = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (placeholder == NULL) {
        return NGX_CONF_ERROR;
    }

    placeholder->sockaddr = (struct sockaddr *)
                                &ngx_http_portico_dispatch_placeholder;
    placeholder->socklen = sizeof(struct sockaddr_in);
    ngx_str_set(&placeholder->name, "portico_dispatch");

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    us->name = placeholder->name;
    us->addrs = placeholder;
    us->naddrs = 1;
    us->weight = 1;

    rscf->dispatch = 1;
    uscf->peer.init_upstream = ngx_http_portico_dispatch_init_upstream;

    return NGX_CONF_OK;
}


static char *
ngx_http_portico_routes_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_portico_route_main_conf_t  *rmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_portico_route_status_handler;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_route_module);
    rmcf->status_used = 1;

    return NGX_CONF_OK;
}


/*
 * After the whole http{} block: every upstream and location is known.  The
 * names of the upstreams and named locations a table may name, then the
 * table itself (so "nginx -t" checks it), then the rewrite phase handlers.
 */

static ngx_int_t
ngx_http_portico_route_postconfiguration(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t                  *cln;
    ngx_http_handler_pt                 *h;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_portico_route_error_t       err;
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_portico_route_module);

    if (ngx_http_portico_route_check_dispatch(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (rmcf->watch.file.data == NULL) {
        if (rmcf->route_used || rmcf->status_used) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_route\" and \"portico_routes_status\" "
                          "need \"portico_routes\" at http level");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_http_portico_route_upstreams(cf, rmcf) != NGX_OK
        || ngx_http_portico_route_profiles(cf, rmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rmcf->refs.table_upstreams = ngx_http_upstream_resolve_table_enabled(cf);

    if (ngx_http_portico_route_matcher_init(&rmcf->matcher) != NGX_OK) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_http_portico_route_matcher_free(&rmcf->matcher);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_portico_route_cleanup;
    cln->data = rmcf;

    /*
     * the table's pool logs to the cycle's log, which outlives cf->log;
     * its regexes are in nginx's list of the cycle (freed with the cycle),
     * so they live in the cycle's pool, the worker's tables' in their own
     */

    rmcf->refs.regex_pool = cf->pool;

    rmcf->table = ngx_http_portico_route_table_load(&rmcf->watch.file,
                                                    &rmcf->refs, NULL,
                                                    &cf->cycle->new_log,
                                                    &err);

    rmcf->refs.regex_pool = NULL;
    if (rmcf->table == NULL) {
        if (err.other_config) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "portico_routes: table made for another "
                          "configuration (%*s, \"portico_routes\" has "
                          "config=%V) in %V:%ui",
                          err.len, err.text, &rmcf->refs.config,
                          &rmcf->watch.file, err.line);
            return NGX_ERROR;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "portico_routes: %*s in %V:%ui",
                      err.len, err.text, &rmcf->watch.file, err.line);
        return NGX_ERROR;
    }

    rmcf->watch.seen = rmcf->table->id;
    rmcf->watch.version = rmcf->table->version;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_portico_route_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_portico_route_server_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_portico_route_header_filter;

    return NGX_OK;
}


/* the upstream{} blocks a table may name, by name */

static ngx_int_t
ngx_http_portico_route_upstreams(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf)
{
    ngx_uint_t                           i;
    ngx_http_upstream_srv_conf_t       **uscfp;
    ngx_http_upstream_main_conf_t       *umcf;
    ngx_http_portico_route_srv_conf_t   *rscf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    if (ngx_http_portico_route_names_init(&rmcf->refs.upstreams, cf->pool,
                                          umcf->upstreams.nelts)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        /* upstream{} blocks only, not the implicit ones of proxy_pass */

        if (uscfp[i]->srv_conf == NULL
            || !(uscfp[i]->flags & NGX_HTTP_UPSTREAM_CREATE))
        {
            continue;
        }

        rscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                               ngx_http_portico_route_module);
        if (rscf->dispatch) {
            continue;
        }

        if (ngx_http_portico_route_names_add(&rmcf->refs.upstreams,
                                             &uscfp[i]->host, uscfp[i])
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The named locations a table may name as "@PROFILE": those of every
 * routing server (a server with a location, regular or named, that has
 * "portico_route"), so that a jump from any of them finds its location.
 * Only the first routing server's names can be in all of them: they are
 * the entries, and each counts the routing servers that have it.  nginx
 * has split every server's named locations off by now.
 */

static ngx_int_t
ngx_http_portico_route_profiles(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf)
{
    ngx_uint_t                           s, n;
    ngx_http_core_loc_conf_t           **clcfp;
    ngx_http_core_srv_conf_t           **cscfp;
    ngx_http_core_main_conf_t           *cmcf;
    ngx_http_portico_route_profile_t    *profile;
    ngx_http_portico_route_loc_conf_t   *rlcf;
    ngx_http_portico_route_srv_conf_t   *rscf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    cscfp = cmcf->servers.elts;

    rmcf->refs.nrouting = 0;

    for (s = 0; s < cmcf->servers.nelts; s++) {

        rscf = cscfp[s]->ctx->srv_conf[ngx_http_portico_route_module.ctx_index];
        n = rscf->routing;

        for (clcfp = cscfp[s]->named_locations; clcfp && *clcfp; clcfp++) {
            rlcf = (*clcfp)->loc_conf[ngx_http_portico_route_module.ctx_index];
            n |= (rlcf->enable == 1);
        }

        if (!n) {
            continue;
        }

        if (rmcf->refs.nrouting++ == 0
            && ngx_http_portico_route_profiles_add(cf, rmcf, cscfp[s])
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (clcfp = cscfp[s]->named_locations; clcfp && *clcfp; clcfp++) {

            profile = ngx_http_portico_route_names_find(&rmcf->refs.profiles,
                                                        (*clcfp)->name.data,
                                                        (*clcfp)->name.len);

            /* a name twice in one server counts once */

            if (profile != NULL && profile->last != s + 1) {
                profile->last = s + 1;
                profile->servers++;
            }
        }
    }

    return NGX_OK;
}


/* the named locations of the first routing server, each seen by none yet */

static ngx_int_t
ngx_http_portico_route_profiles_add(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_http_core_srv_conf_t *cscf)
{
    ngx_uint_t                           n;
    ngx_http_core_loc_conf_t           **clcfp;
    ngx_http_portico_route_profile_t    *profile;

    n = 0;

    for (clcfp = cscf->named_locations; clcfp && *clcfp; clcfp++) {
        n++;
    }

    if (ngx_http_portico_route_names_init(&rmcf->refs.profiles, cf->pool, n)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (clcfp = cscf->named_locations; clcfp && *clcfp; clcfp++) {

        profile = ngx_pcalloc(cf->pool,
                              sizeof(ngx_http_portico_route_profile_t));
        if (profile == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_portico_route_names_add(&rmcf->refs.profiles,
                                             &(*clcfp)->name, profile)
            == NGX_ERROR)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * A portico_dispatch upstream must have nothing else in it.  Every
 * upstream{} notes whether its balancer may keep connections: nginx's
 * keepalive cache finds a connection by the peer's address alone, so a
 * cache that plain HTTP, gRPC and TLS locations (with their own
 * verification settings each) share would hand one kind's connection to
 * another (ngx_http_portico_dispatch_kind())
 */

static ngx_int_t
ngx_http_portico_route_check_dispatch(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf)
{
    ngx_uint_t                           i;
    ngx_http_upstream_srv_conf_t       **uscfp;
    ngx_http_upstream_main_conf_t       *umcf;
    ngx_http_portico_route_srv_conf_t   *rscf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        rscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                               ngx_http_portico_route_module);
        if (!rscf->dispatch) {
            rscf->caches =
                uscfp[i]->peer.init != ngx_http_upstream_init_round_robin_peer
                && uscfp[i]->peer.init != ngx_http_upstream_resolve_init_peer;
            continue;
        }

        rscf->caches =
                     uscfp[i]->peer.init != ngx_http_portico_dispatch_init_peer;

        /*
         * nginx has run the balancers' inits by now: ours must have run
         * (a "keepalive" after portico_dispatch wraps it, another balancer
         * would replace it)
         */

        if (!rscf->dispatch_init
            || uscfp[i]->servers->nelts != 1
            || uscfp[i]->shm_zone != NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"portico_dispatch\" must be alone in upstream "
                          "\"%V\" in %s:%ui, or followed by \"keepalive\" "
                          "only", &uscfp[i]->host, uscfp[i]->file_name,
                          uscfp[i]->line);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_portico_route_cleanup(void *data)
{
    ngx_http_portico_route_main_conf_t  *rmcf = data;

    ngx_http_portico_watch_stop(&rmcf->watch);

    ngx_http_portico_route_table_free(rmcf->table);
    rmcf->table = NULL;

    ngx_http_portico_route_matcher_free(&rmcf->matcher);
}


/* routing */

/*
 * The host section and rule for the request; NULL with *rc the answer
 * (308: the host redirects; 404, 503) when there is no upstream to go to.
 */

static ngx_http_portico_route_target_t *
ngx_http_portico_route_lookup(ngx_http_request_t *r,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_int_t *rc)
{
    ngx_http_portico_route_host_t    *host;
    ngx_http_portico_route_table_t   *table;
    ngx_http_portico_route_target_t  *target;

    table = rmcf->table;

    host = ngx_http_portico_route_find_host(table, &r->headers_in.server);

    /* the request counts without labels unless a rule says otherwise */

    ngx_http_portico_metrics_match(r, NULL);

    if (host == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "portico route: no host \"%V\"",
                       &r->headers_in.server);
        *rc = NGX_HTTP_NOT_FOUND;
        return NULL;
    }

    if (host->redirect
#if (NGX_HTTP_SSL)
        && r->connection->ssl == NULL
#endif
       )
    {
        *rc = NGX_HTTP_PERMANENT_REDIRECT;
        return NULL;
    }

    rmcf->matcher.log = r->connection->log;

    target = ngx_http_portico_route_find_target(table, host, &r->uri,
                                                &rmcf->matcher);

    if (target == NULL) {
        *rc = NGX_HTTP_NOT_FOUND;
        return NULL;
    }

    ngx_http_portico_metrics_match(r, &target->metrics);

    if (target->upstream == NULL && target->entry == NULL
        && target->errors == NULL)
    {
        *rc = NGX_HTTP_SERVICE_UNAVAILABLE;
        return NULL;
    }

    return target;
}


/*
 * Server rewrite phase, in a server whose regular locations all route:
 * a rule with a profile jumps to its named location before nginx picks a
 * location, so only the named location's client_max_body_size applies
 * (nginx's find config phase would otherwise refuse a body above the
 * limit of "location /" that the profile allows).  Everything else is
 * left to the location's handler.
 */

static ngx_int_t
ngx_http_portico_route_server_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_http_portico_route_table_t      *table;
    ngx_http_portico_route_target_t     *target;
    ngx_http_portico_route_srv_conf_t   *rscf;
    ngx_http_portico_route_main_conf_t  *rmcf;

    rscf = ngx_http_get_module_srv_conf(r, ngx_http_portico_route_module);

    if (!rscf->routing || rscf->other) {
        return NGX_DECLINED;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_route_module);
    table = rmcf->table;

    if (table == NULL) {
        return NGX_DECLINED;
    }

    rc = NGX_DECLINED;
    target = ngx_http_portico_route_lookup(r, rmcf, &rc);

    if (target == NULL || target->profile.len == 0) {
        /* the answer, if any, comes from the location's handler */
        return NGX_DECLINED;
    }

    (void) ngx_http_named_location(r, &target->profile);
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static ngx_int_t
ngx_http_portico_route_handler(ngx_http_request_t *r)
{
    ngx_int_t                            rc;
    ngx_str_t                            uri;
    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_entry_t  **entry;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_portico_route_ctx_t        *ctx;
    ngx_http_portico_route_table_t      *table;
    ngx_http_portico_route_target_t     *target;
    ngx_http_portico_route_loc_conf_t   *rlcf;
    ngx_http_portico_route_main_conf_t  *rmcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_portico_route_module);

    if (rlcf->errors) {
        rmcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_portico_route_module);
        return ngx_http_portico_route_error_page(r, rmcf, rlcf->errors);
    }

    if (!rlcf->enable) {
        return NGX_DECLINED;
    }

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_route_module);
    table = rmcf->table;

    if (table == NULL) {
        ngx_http_portico_metrics_match(r, NULL);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    rc = NGX_DECLINED;
    target = ngx_http_portico_route_lookup(r, rmcf, &rc);

    if (target == NULL) {
        return (rc == NGX_HTTP_PERMANENT_REDIRECT)
               ? ngx_http_portico_route_redirect(r, table) : rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (target->profile.len) {

        if (!clcf->named
            || clcf->name.len != target->profile.len
            || ngx_strncmp(clcf->name.data, target->profile.data,
                           clcf->name.len)
               != 0)
        {
            /*
             * the named location routes the request again (the same
             * table: this is synchronous); the reference it takes is ours
             * to release
             */

            (void) ngx_http_named_location(r, &target->profile);
            ngx_http_finalize_request(r, NGX_DONE);
            return NGX_DONE;
        }

        /* what the find config phase would have done in this location */

        if (r->headers_in.content_length_n != -1
            && !r->discard_body
            && clcf->client_max_body_size
            && clcf->client_max_body_size < r->headers_in.content_length_n)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "client intended to send too large body: "
                          "%O bytes", r->headers_in.content_length_n);

            r->expect_tested = 1;
            (void) ngx_http_discard_request_body(r);
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    ctx = ngx_http_portico_route_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the default backend: for its error pages, and instead of a 503 */

    ctx->fallback = NULL;

    if (target->errors != NULL) {

        if (ngx_http_portico_route_errors_save(r, target) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (target->errors->entry != NULL) {
            ctx->fallback = *target->errors->entry;
        }
    }

    /*
     * the URI the upstream is to get (a regex rule's rewrite), from this
     * match's captures: before anything else matches
     */

    if (target->rewrite != NULL) {

        if (ctx->rewritten
            || rmcf->matcher.matched != target
            || ngx_http_portico_route_rewrite(r, &rmcf->matcher, target, &uri)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* the request's affinity cookie, read once */

    if (target->affinity != NULL && ctx->sticky == NULL) {
        ctx->sticky = ngx_http_portico_route_affinity_start(r,
                                                            target->affinity);
        if (ctx->sticky == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /*
     * the canary or the rule's own upstream, chosen once per request: the
     * one the affinity cookie is for, else by the canary's words
     */

    upstream = target->upstream;
    entry = target->entry;

    if (target->canary != NULL) {

        if (!ctx->canary_decided && target->affinity != NULL) {
            rc = ngx_http_portico_route_affinity_canary(ctx->sticky,
                                                        target->affinity);
            if (rc != NGX_DECLINED) {
                ctx->canary = rc;
                ctx->canary_decided = 1;
            }
        }

        if (!ctx->canary_decided) {
            ctx->canary = ngx_http_portico_route_canary_pick(r, target->canary,
                                                             &rmcf->matcher);
            ctx->canary_decided = 1;
        }

        if (ctx->canary) {
            upstream = target->canary->upstream;
            entry = target->canary->entry;

            if (target->canary->name.len) {
                ngx_http_portico_metrics_match(r, &target->canary->metrics);
            }
        }
    }

    if (target->affinity != NULL) {
        ngx_http_portico_route_affinity_for(ctx->sticky, target->affinity,
                                            target->canary && ctx->canary);
    }

    if (entry != NULL) {
        rc = ngx_http_portico_route_table_upstream(r, ctx, *entry);

    } else if (upstream != NULL) {
        ctx->upstream = upstream;
        rc = NGX_DECLINED;

    } else if (target->errors->upstream != NULL) {
        /* "-" with a default backend of an upstream{} block */
        ctx->upstream = target->errors->upstream;
        rc = NGX_DECLINED;

    } else {
        /* "-" with a default backend of the table */
        rc = ngx_http_portico_route_unresolved(r, ctx);
    }

    if (rc != NGX_DECLINED || target->rewrite == NULL) {
        return rc;
    }

    /*
     * on to the upstream (after any wait for its first address, which
     * routes the request again): the URI it gets, as nginx's "rewrite ...
     * break"; as ngx_http_rewrite_module, an internal URI, which the proxy
     * escapes
     */

    r->uri = uri;
    ctx->rewritten = 1;
    r->internal = 1;
    r->valid_unparsed_uri = 0;
    r->valid_location = 0;

    return NGX_DECLINED;
}


/* the request's context, made on first use; NULL out of memory */

static ngx_http_portico_route_ctx_t *
ngx_http_portico_route_get_ctx(ngx_http_request_t *r)
{
    ngx_http_portico_route_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_portico_route_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_portico_route_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_portico_route_module);
    }

    return ctx;
}


/*
 * An error page of a profile ("portico_route_errors CODE", reached by
 * error_page): to the default backend its rule had when the request was
 * routed, found by name in the current table (or among the upstream{}
 * blocks), waiting for its first address as a rule would.  Without one,
 * or when it has no address, the answer is CODE: nginx's own error page
 * (an error page does not recurse).
 */

static ngx_int_t
ngx_http_portico_route_error_page(ngx_http_request_t *r,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_int_t code)
{
    ngx_int_t                              rc;
    ngx_http_portico_route_ctx_t          *ctx;
    ngx_http_upstream_srv_conf_t          *upstream;
    ngx_http_upstream_resolve_entry_t    **entry;
    ngx_http_portico_route_errors_ctx_t   *saved;

    saved = ngx_http_portico_route_errors_find(r);

    if (saved == NULL || rmcf->table == NULL) {
        return code;
    }

    ctx = ngx_http_portico_route_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    entry = ngx_http_portico_route_table_upstream_find(rmcf->table,
                                                       &saved->upstream);
    if (entry != NULL) {
        rc = ngx_http_portico_route_table_upstream(r, ctx, *entry);
        return (rc == NGX_HTTP_SERVICE_UNAVAILABLE) ? code : rc;
    }

    upstream = ngx_http_portico_route_names_find(&rmcf->refs.upstreams,
                                                 saved->upstream.data,
                                                 saved->upstream.len);
    if (upstream == NULL) {
        return code;
    }

    ctx->upstream = upstream;

    return NGX_DECLINED;
}


/*
 * A route to a table upstream: on to it when it has addresses; while it
 * was never resolved, the request waits for its first answer (up to
 * "wait=", looking every ..._WAIT_POLL); without addresses after that, or
 * resolved to none, or not in the zone at all: 503.
 */

static ngx_int_t
ngx_http_portico_route_table_upstream(ngx_http_request_t *r,
    ngx_http_portico_route_ctx_t *ctx, ngx_http_upstream_resolve_entry_t *e)
{
    ngx_event_t                         *wev;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_portico_route_main_conf_t  *rmcf;

    if (e == NULL) {
        return ngx_http_portico_route_unresolved(r, ctx);
    }

    switch (ngx_http_upstream_resolve_table_readiness(e)) {

    case NGX_HTTP_UPSTREAM_RESOLVE_READY:
        break;

    case NGX_HTTP_UPSTREAM_RESOLVE_PENDING:

        rmcf = ngx_http_get_module_main_conf(r,
                                             ngx_http_portico_route_module);

        if (ctx->wait_start == 0) {
            ctx->wait_start = ngx_current_msec;
        }

        if (r != r->main
            || ngx_current_msec - ctx->wait_start >= rmcf->wait)
        {
            return ngx_http_portico_route_unresolved(r, ctx);
        }

        ctx->waited = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "portico route: waiting for upstream \"%V\"",
                       &e->name);

        /* as nginx's limit_req delays a request */

        wev = r->connection->write;

        wev->delayed = 1;
        ngx_add_timer(wev, NGX_HTTP_PORTICO_ROUTES_WAIT_POLL);

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_portico_route_wait_handler;

        return NGX_DONE;

    default: /* NGX_HTTP_UPSTREAM_RESOLVE_FAILED */
        return ngx_http_portico_route_unresolved(r, ctx);
    }

    if (ctx->waited) {
        ctx->waited = 0;
        ngx_http_upstream_resolve_table_count((ngx_cycle_t *) ngx_cycle, 1,
                                              0);
    }

    if (ctx->entry == e) {
        return NGX_DECLINED;
    }

    /* held from here to the end of the request (its pool) */

    if (ctx->entry == NULL) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_http_portico_route_release;
        cln->data = ctx;

    } else {
        ngx_http_upstream_resolve_table_release(ctx->entry);
    }

    ngx_http_upstream_resolve_table_hold(e);
    ctx->entry = e;
    ctx->upstream = NULL;

    return NGX_DECLINED;
}


static void
ngx_http_portico_route_wait_handler(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {

        /* not the timer: a write event while waiting */

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/* 503, with a header saying why */

static ngx_int_t
ngx_http_portico_route_unresolved(ngx_http_request_t *r,
    ngx_http_portico_route_ctx_t *ctx)
{
    ngx_table_elt_t                    *h;
    ngx_http_upstream_resolve_entry_t  *fallback;

    /* once: the default backend, which may wait or fail in turn */

    fallback = ctx->fallback;

    if (fallback != NULL && fallback != ctx->entry) {
        ctx->fallback = NULL;
        return ngx_http_portico_route_table_upstream(r, ctx, fallback);
    }

    ngx_http_upstream_resolve_table_count((ngx_cycle_t *) ngx_cycle,
                                          ctx->waited, 1);
    ctx->waited = 0;

    h = ngx_list_push(&r->headers_out.headers);
    if (h != NULL) {
        h->hash = 1;
        ngx_str_set(&h->key, "X-Portico-Upstream");
        ngx_str_set(&h->value, "unresolved");
    }

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


static void
ngx_http_portico_route_release(void *data)
{
    ngx_http_portico_route_ctx_t  *ctx = data;

    if (ctx->entry != NULL) {
        ngx_http_upstream_resolve_table_release(ctx->entry);
        ctx->entry = NULL;
    }
}


/* 308 to https://HOST[:PORT]URI */

static ngx_int_t
ngx_http_portico_route_redirect(ngx_http_request_t *r,
    ngx_http_portico_route_table_t *table)
{
    u_char                     *p;
    size_t                      len;
    ngx_str_t                  *host;
    ngx_http_complex_value_t    cv;
    ngx_http_core_srv_conf_t   *cscf;

    host = &r->headers_in.server;

    if (host->len == 0) {
        cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
        host = &cscf->server_name;
    }

    len = sizeof("https://:65535") - 1 + host->len + r->unparsed_uri.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&cv, sizeof(ngx_http_complex_value_t));

    cv.value.data = p;

    p = ngx_cpymem(p, "https://", sizeof("https://") - 1);
    p = ngx_cpymem(p, host->data, host->len);

    if (table->https_port != NGX_HTTP_PORTICO_ROUTES_HTTPS_PORT) {
        p = ngx_sprintf(p, ":%ui", table->https_port);
    }

    p = ngx_cpymem(p, r->unparsed_uri.data, r->unparsed_uri.len);

    cv.value.len = p - cv.value.data;

    return ngx_http_send_response(r, NGX_HTTP_PERMANENT_REDIRECT, NULL, &cv);
}


/* a new affinity cookie, if the balancer chose a peer for one */

static ngx_int_t
ngx_http_portico_route_header_filter(ngx_http_request_t *r)
{
    ngx_http_portico_route_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_portico_route_module);

    if (ctx != NULL && ctx->sticky != NULL
        && ngx_http_portico_route_affinity_cookie(r, ctx->sticky) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


/* dispatch */

static ngx_int_t
ngx_http_portico_dispatch_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_portico_route_srv_conf_t  *rscf;

    rscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_portico_route_module);
    rscf->dispatch_init = 1;

    us->peer.init = ngx_http_portico_dispatch_init_peer;

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_dispatch_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_srv_conf_t  *target;
    ngx_http_portico_route_ctx_t  *ctx;

    if (ngx_http_portico_dispatch_kind(r, us) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_portico_route_module);

    if (ctx != NULL && ctx->entry != NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "portico dispatch to table upstream \"%V\"",
                       &ctx->entry->name);

        return ngx_http_upstream_resolve_init_table_peer(r, ctx->entry,
                                                 ctx->sticky ? &ctx->sticky->hint
                                                             : NULL);
    }

    if (ctx == NULL || ctx->upstream == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "upstream \"%V\" has no route for this request "
                      "(no \"portico_route\" in its location?)", &us->host);
        return NGX_ERROR;
    }

    target = ctx->upstream;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "portico dispatch to \"%V\"", &target->host);

    if (ngx_http_portico_dispatch_kind(r, target) != NGX_OK) {
        return NGX_ERROR;
    }

    r->upstream->upstream = target;

    return target->peer.init(r, target);
}


/*
 * One kind of upstream connection per cache: plain HTTP proxying (any
 * location), or the one location's own (gRPC, TLS with that location's
 * protocols, name and verification).  In a worker the first request sets
 * the kind of an upstream whose balancer may keep connections; a request of
 * another kind is refused (500), never given a connection of the first.
 * The controller gives each such location its own portico_dispatch.
 */

static ngx_int_t
ngx_http_portico_dispatch_kind(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_http_upstream_t                *u;
    ngx_http_upstream_conf_t           *tls;
    ngx_http_portico_route_srv_conf_t  *rscf;

    rscf = ngx_http_conf_upstream_srv_conf(us, ngx_http_portico_route_module);

    if (!rscf->caches) {
        return NGX_OK;
    }

    u = r->upstream;

#if (NGX_HTTP_SSL)
    tls = u->ssl ? u->conf : NULL;
#else
    tls = NULL;
#endif

    if (rscf->kind_create == NULL) {
        rscf->kind_create = u->create_request;
        rscf->kind_tls = tls;
        return NGX_OK;
    }

    if (rscf->kind_create == u->create_request && rscf->kind_tls == tls) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "upstream \"%V\" keeps connections of another protocol "
                  "or TLS setting: a location with its own (gRPC, TLS to the "
                  "upstream) needs a portico_dispatch upstream of its own",
                  &us->host);

    return NGX_ERROR;
}


/* table changes, in every worker */

static ngx_int_t
ngx_http_portico_route_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_http_portico_route_start(cycle);

    return NGX_OK;
}


/* publishes this process's version and starts watching the file */

static void
ngx_http_portico_route_start(ngx_cycle_t *cycle)
{
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = ngx_http_portico_cycle_main_conf(cycle,
                                            &ngx_http_portico_route_module);

    if (rmcf == NULL || rmcf->table == NULL || rmcf->watch.timer.timer_set) {
        return;
    }

    /*
     * the table parsed with the configuration names table upstreams of the
     * zone; a newer file found by the watch attaches its own
     */

    ngx_http_portico_route_attach(cycle, rmcf->table);

    ngx_http_portico_watch_start(&rmcf->watch, cycle);

    ngx_http_portico_route_status_publish(rmcf, NGX_HTTP_PORTICO_TABLE_ROUTES,
                                          &rmcf->table->version);
}


/* the file changed: the new table, or the reason to keep the current one */

static void
ngx_http_portico_route_swap(ngx_http_portico_watch_t *watch, ngx_log_t *log)
{
    ngx_http_portico_route_error_t       err;
    ngx_http_portico_route_table_t      *table;
    ngx_http_portico_route_main_conf_t  *rmcf;

    rmcf = watch->data;

    table = ngx_http_portico_route_table_load(&watch->file, &rmcf->refs,
                                              rmcf->table, log, &err);
    if (table == NULL) {

        if (err.other_config) {

            /*
             * a reload is under way: the new workers load this table,
             * this one keeps its own until it exits
             */

            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "portico_routes: %*s, this worker runs %V; "
                          "keeping version %V until the reload",
                          err.len, err.text, &rmcf->refs.config,
                          &rmcf->table->version);
            return;
        }

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "portico_routes: %*s in %V:%ui, keeping version %V",
                      err.len, err.text, &watch->file, err.line,
                      &rmcf->table->version);
        return;
    }

    watch->seen = table->id;

    ngx_http_portico_route_known_upstreams(table, rmcf->table);
    ngx_http_portico_route_attach((ngx_cycle_t *) ngx_cycle, table);

    if (table->nshards) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "portico_routes: version %V replaces %V (%ui of %ui "
                      "shards kept)", &table->version, &rmcf->table->version,
                      table->reused, table->nshards);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "portico_routes: version %V replaces %V",
                      &table->version, &rmcf->table->version);
    }

    ngx_http_portico_route_table_free(rmcf->table);
    rmcf->table = table;
    watch->version = table->version;

    ngx_http_portico_route_status_publish(rmcf, NGX_HTTP_PORTICO_TABLE_ROUTES,
                                          &table->version);
}


/*
 * The zone's entries of the new table's upstreams that the current one
 * has too, known without a lookup in the zone (its attach takes them)
 */

static void
ngx_http_portico_route_known_upstreams(ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_table_t *current)
{
    ngx_uint_t                           i;
    ngx_http_upstream_resolve_def_t     *def;
    ngx_http_upstream_resolve_entry_t  **known;

    /* a head's reused shards have their entries already */

    if (table->nshards || current->nshards) {
        return;
    }

    for (i = 0; i < table->nupstreams; i++) {
        def = &table->upstreams[i];

        known = ngx_http_portico_route_names_find(&current->upstream_names,
                                                  def->name.data,
                                                  def->name.len);
        if (known != NULL) {
            table->entries[i] = *known;
        }
    }
}


/*
 * The table's upstreams, found or made in the zone of table upstreams;
 * from now on this process uses this table (its sequence number there);
 * its rules' label sets in the metrics zone
 */

static void
ngx_http_portico_route_attach(ngx_cycle_t *cycle,
    ngx_http_portico_route_table_t *table)
{
    ngx_uint_t                         i, n;
    ngx_http_portico_route_table_t    *part;
    ngx_http_upstream_resolve_part_t  *parts, one;

    parts = &one;
    n = 0;

    if (table->nshards) {
        parts = ngx_alloc(table->nshards
                          * sizeof(ngx_http_upstream_resolve_part_t),
                          cycle->log);
        if (parts == NULL) {
            return;
        }
    }

    for (i = 0; i < ngx_max(table->nshards, 1); i++) {
        part = table->nshards ? table->shards[i] : table;

        if (part != NULL) {
            parts[n].defs = part->upstreams;
            parts[n].n = part->nupstreams;
            parts[n].entries = part->entries;
            n++;
        }
    }

    (void) ngx_http_upstream_resolve_table_attach(cycle, &table->version,
                                                  parts, n);

    if (parts != &one) {
        ngx_free(parts);
    }

    ngx_http_portico_metrics_attach(cycle, table);
}
