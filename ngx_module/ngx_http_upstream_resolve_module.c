
/*
 * ngx_http_upstream_resolve_module: directives and configuration.
 *
 *   upstream backend {
 *       zone backend 64k;
 *       resolve_server web.default.svc.cluster.local:80 weight=2;
 *       resolve_ttl 1s 30s;
 *       keepalive 32;
 *   }
 *
 * The peers are built in the upstream's zone when the zone is initialized
 * (ngx_http_upstream_resolve_zone.c).
 */


#include "ngx_http_upstream_resolve_module.h"


#define NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_PORT      80
#define NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_TIMEOUT   30000   /* ms */


static void *ngx_http_upstream_resolve_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_upstream_resolve_init_main_conf(ngx_conf_t *cf,
    void *conf);
static void *ngx_http_upstream_resolve_create_srv_conf(ngx_conf_t *cf);
static ngx_int_t ngx_http_upstream_resolve_postconfiguration(ngx_conf_t *cf);
static char *ngx_http_upstream_resolve_server(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_upstream_resolve_ttl(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_upstream_resolve_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_upstream_resolve_upstreams(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_upstream_resolve_upstreams_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_upstream_resolve_init_module(ngx_cycle_t *cycle);
static ngx_http_upstream_init_pt ngx_http_upstream_resolve_least_conn_init(
    ngx_conf_t *cf, ngx_http_upstream_srv_conf_t *uscf);
static ngx_int_t ngx_http_upstream_resolve_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_http_upstream_resolve_init_process(ngx_cycle_t *cycle);
static void ngx_http_upstream_resolve_exit_process(ngx_cycle_t *cycle);


/*
 * The address of the "server" entry that stands for a resolve_server line
 * (see ngx_http_upstream_resolve_server()); never connected to.
 */
struct sockaddr_in  ngx_http_upstream_resolve_placeholder = {
    .sin_family = AF_INET
};


static ngx_conf_num_bounds_t  ngx_http_upstream_resolve_max_in_flight_bounds = {
    ngx_conf_check_num_bounds, 1, NGX_HTTP_UPSTREAM_RESOLVE_MAX_IN_FLIGHT_MAX
};


static ngx_command_t  ngx_http_upstream_resolve_commands[] = {

    { ngx_string("resolve_server"),
      NGX_HTTP_UPS_CONF|NGX_CONF_1MORE,
      ngx_http_upstream_resolve_server,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("resolve_ttl"),
      NGX_HTTP_UPS_CONF|NGX_CONF_TAKE2,
      ngx_http_upstream_resolve_ttl,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("resolve_max_in_flight"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_upstream_resolve_main_conf_t, max_in_flight),
      &ngx_http_upstream_resolve_max_in_flight_bounds },

    { ngx_string("upstream_resolve_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_upstream_resolve_status,
      0,
      0,
      NULL },

    { ngx_string("resolve_upstreams"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_upstream_resolve_upstreams,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("resolve_upstreams_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_upstream_resolve_upstreams_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_upstream_resolve_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_upstream_resolve_postconfiguration, /* postconfiguration */

    ngx_http_upstream_resolve_create_main_conf, /* create main configuration */
    ngx_http_upstream_resolve_init_main_conf, /* init main configuration */

    ngx_http_upstream_resolve_create_srv_conf, /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_upstream_resolve_module = {
    NGX_MODULE_V1,
    &ngx_http_upstream_resolve_module_ctx, /* module context */
    ngx_http_upstream_resolve_commands,    /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_upstream_resolve_init_module, /* init module */
    ngx_http_upstream_resolve_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_upstream_resolve_exit_process, /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_upstream_resolve_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_upstream_resolve_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&rmcf->upstreams, cf->pool, 4,
                       sizeof(ngx_http_upstream_resolve_srv_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&rmcf->zones, cf->pool, 4,
                       sizeof(ngx_http_upstream_resolve_zone_t))
        != NGX_OK)
    {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->table_zone = NULL;
     *     rmcf->state_file = { 0, NULL };
     *     rmcf->registry = NULL;
     */

    rmcf->max_in_flight = NGX_CONF_UNSET;
    rmcf->table_ttl_min = NGX_CONF_UNSET_MSEC;
    rmcf->table_ttl_max = NGX_CONF_UNSET_MSEC;

    return rmcf;
}


static char *
ngx_http_upstream_resolve_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf = conf;

    ngx_conf_init_value(rmcf->max_in_flight,
                        NGX_HTTP_UPSTREAM_RESOLVE_MAX_IN_FLIGHT);
    ngx_conf_init_msec_value(rmcf->table_ttl_min,
                             NGX_HTTP_UPSTREAM_RESOLVE_TTL_MIN);
    ngx_conf_init_msec_value(rmcf->table_ttl_max,
                             NGX_HTTP_UPSTREAM_RESOLVE_TTL_MAX);

    return NGX_CONF_OK;
}


static void *
ngx_http_upstream_resolve_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_upstream_resolve_srv_conf_t  *rscf;

    rscf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_upstream_resolve_srv_conf_t));
    if (rscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rscf->hosts = NULL;
     *     rscf->upstream = NULL;
     *     rscf->shared = NULL;
     *     rscf->jobs = NULL;
     *     rscf->initialized = 0;
     */

    rscf->ttl_min = NGX_CONF_UNSET_MSEC;
    rscf->ttl_max = NGX_CONF_UNSET_MSEC;

    return rscf;
}


static char *
ngx_http_upstream_resolve_server(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_upstream_resolve_srv_conf_t  *rscf = conf;

    time_t                             fail_timeout;
    ngx_str_t                         *value, s;
    ngx_url_t                          u;
    ngx_int_t                          weight, max_fails;
    ngx_uint_t                         i;
    ngx_addr_t                         addr, *placeholder;
    ngx_http_upstream_server_t        *us;
    ngx_http_upstream_srv_conf_t      *uscf;
    ngx_http_upstream_resolve_host_t  *host;

    uscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_upstream_module);

    if (uscf->peer.init_upstream != NULL
        && uscf->peer.init_upstream != ngx_http_upstream_resolve_init_upstream)
    {
        if (uscf->peer.init_upstream
            != ngx_http_upstream_resolve_least_conn_init(cf, uscf))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"resolve_server\" must come before "
                               "\"keepalive\" and works with round robin "
                               "or \"least_conn\" (before it) only");
            return NGX_CONF_ERROR;
        }

        rscf->least_conn = 1;
    }

    value = cf->args->elts;

    weight = 1;
    max_fails = 1;
    fail_timeout = 10;

    if (rscf->hosts == NULL) {
        rscf->hosts = ngx_array_create(cf->pool, 4,
                                 sizeof(ngx_http_upstream_resolve_host_t));
        if (rscf->hosts == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    host = ngx_array_push(rscf->hosts);
    if (host == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(host, sizeof(ngx_http_upstream_resolve_host_t));

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "weight=", 7) == 0) {

            weight = ngx_atoi(&value[i].data[7], value[i].len - 7);

            if (weight == NGX_ERROR || weight == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_fails=", 10) == 0) {

            max_fails = ngx_atoi(&value[i].data[10], value[i].len - 10);

            if (max_fails == NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "fail_timeout=", 13) == 0) {

            s.len = value[i].len - 13;
            s.data = &value[i].data[13];

            fail_timeout = ngx_parse_time(&s, 1);

            if (fail_timeout == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "backup") == 0) {
            host->backup = 1;
            continue;
        }

        goto invalid;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_PORT;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in resolve_server \"%V\"", u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.family == AF_UNIX || u.uri.len || u.host.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid resolve_server \"%V\": "
                           "NAME[:PORT] expected", &u.url);
        return NGX_CONF_ERROR;
    }

    if (ngx_parse_addr(cf->pool, &addr, u.host.data, u.host.len) == NGX_OK
        || u.host.data[0] == '[')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "resolve_server \"%V\" is an address, "
                           "use \"server\"", &u.url);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_upstream_resolve_check_name(&u.host) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid host name in resolve_server \"%V\"",
                           &u.url);
        return NGX_CONF_ERROR;
    }

    host->server = value[1];
    host->name.len = u.host.len;
    host->name.data = ngx_pnalloc(cf->pool, u.host.len);
    if (host->name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_strlow(host->name.data, u.host.data, u.host.len);

    host->port = u.port;
    host->weight = weight;
    host->max_fails = max_fails;
    host->fail_timeout = fail_timeout;

    /*
     * "upstream {}" refuses a block without servers: a placeholder entry
     * stands for the name (our init skips it); it has an address so that
     * a balancer replacing ours fails with our message, not with
     * "no servers in upstream"
     */

    placeholder = ngx_pcalloc(cf->pool, sizeof(ngx_addr_t));
    if (placeholder == NULL) {
        return NGX_CONF_ERROR;
    }

    placeholder->sockaddr = (struct sockaddr *)
                                &ngx_http_upstream_resolve_placeholder;
    placeholder->socklen = sizeof(struct sockaddr_in);
    placeholder->name = value[1];

    us = ngx_array_push(uscf->servers);
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

    us->name = value[1];
    us->addrs = placeholder;
    us->naddrs = 1;
    us->weight = weight;
    us->max_fails = max_fails;
    us->fail_timeout = fail_timeout;
    us->backup = host->backup;

    rscf->upstream = uscf;
    uscf->peer.init_upstream = ngx_http_upstream_resolve_init_upstream;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/*
 * The init of nginx's least_conn balancer is static; its address is learnt
 * by running the "least_conn" directive's handler on this upstream and
 * restoring the upstream afterwards.  NULL if nginx has no least_conn.
 */

static ngx_http_upstream_init_pt
ngx_http_upstream_resolve_least_conn_init(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    char                       *rv;
    ngx_uint_t                  i, flags;
    ngx_command_t              *cmd;
    ngx_http_upstream_init_pt   init, saved;

    for (i = 0; cf->cycle->modules[i]; i++) {
        if (ngx_strcmp(cf->cycle->modules[i]->name,
                       "ngx_http_upstream_least_conn_module")
            == 0)
        {
            break;
        }
    }

    if (cf->cycle->modules[i] == NULL) {
        return NULL;
    }

    for (cmd = cf->cycle->modules[i]->commands; cmd->name.len; cmd++) {
        if (cmd->name.len == sizeof("least_conn") - 1
            && ngx_strncmp(cmd->name.data, "least_conn", cmd->name.len) == 0)
        {
            break;
        }
    }

    if (cmd->name.len == 0) {
        return NULL;
    }

    saved = uscf->peer.init_upstream;
    flags = uscf->flags;

    uscf->peer.init_upstream = NULL;

    rv = cmd->set(cf, cmd, NULL);

    init = (rv == NGX_CONF_OK) ? uscf->peer.init_upstream : NULL;

    uscf->peer.init_upstream = saved;
    uscf->flags = flags;

    return init;
}


static char *
ngx_http_upstream_resolve_ttl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_upstream_resolve_srv_conf_t  *rscf = conf;

    ngx_str_t   *value;
    ngx_msec_t   min, max;

    if (rscf->ttl_min != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    min = ngx_parse_time(&value[1], 0);
    max = ngx_parse_time(&value[2], 0);

    if (min == (ngx_msec_t) NGX_ERROR || max == (ngx_msec_t) NGX_ERROR
        || min == 0 || min > max)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"resolve_ttl %V %V\": "
                           "0 < MIN <= MAX expected", &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    rscf->ttl_min = min;
    rscf->ttl_max = max;

    return NGX_CONF_OK;
}


static char *
ngx_http_upstream_resolve_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_upstream_resolve_status_handler;

    return NGX_CONF_OK;
}


/*
 * resolve_upstreams zone=SIZE [ttl=MIN:MAX] [state=FILE]: the zone of the
 * upstreams that route tables define (ngx_http_upstream_resolve_table.c)
 */

static char *
ngx_http_upstream_resolve_upstreams(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf = conf;

    u_char      *colon;
    ssize_t      size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_msec_t   min, max;

    if (rmcf->table_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = NGX_ERROR;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            colon = ngx_strlchr(s.data, s.data + s.len, ':');
            if (colon == NULL) {
                goto invalid;
            }

            s.len = colon - s.data;
            min = ngx_parse_time(&s, 0);

            s.data = colon + 1;
            s.len = value[i].data + value[i].len - s.data;
            max = ngx_parse_time(&s, 0);

            if (min == (ngx_msec_t) NGX_ERROR
                || max == (ngx_msec_t) NGX_ERROR
                || min == 0 || min > max)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": 0 < MIN <= MAX "
                                   "expected", &value[i]);
                return NGX_CONF_ERROR;
            }

            rmcf->table_ttl_min = min;
            rmcf->table_ttl_max = max;
            continue;
        }

        if (ngx_strncmp(value[i].data, "state=", 6) == 0
            && value[i].len > 6)
        {
            rmcf->state_file.data = value[i].data + 6;
            rmcf->state_file.len = value[i].len - 6;

            if (ngx_conf_full_name(cf->cycle, &rmcf->state_file, 0)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        goto invalid;
    }

    if (size == NGX_ERROR) {
        return "needs \"zone=SIZE\"";
    }

    if (ngx_http_upstream_resolve_table_zone(cf, rmcf, size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_upstream_resolve_upstreams_status(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_upstream_resolve_table_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_upstream_resolve_init_upstream(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                               i;
    ngx_http_upstream_rr_peers_t            *peers;
    ngx_http_upstream_resolve_zone_t        *zone;
    ngx_http_upstream_resolve_srv_conf_t    *rscf, **rscfp;
    ngx_http_upstream_resolve_main_conf_t   *rmcf;

    rscf = ngx_http_conf_upstream_srv_conf(us,
                                           ngx_http_upstream_resolve_module);
    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_upstream_resolve_module);

    if (us->shm_zone == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "resolve_server in upstream \"%V\" in %s:%ui "
                      "requires \"zone\"",
                      &us->host, us->file_name, us->line);
        return NGX_ERROR;
    }

    if (rscf->ttl_min == NGX_CONF_UNSET_MSEC) {
        rscf->ttl_min = NGX_HTTP_UPSTREAM_RESOLVE_TTL_MIN;
        rscf->ttl_max = NGX_HTTP_UPSTREAM_RESOLVE_TTL_MAX;
    }

    /*
     * the upstream zone module copies round robin peers into the zone:
     * give it an empty list, the peers of this upstream are ours
     */

    peers = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_rr_peers_t));
    if (peers == NULL) {
        return NGX_ERROR;
    }

    peers->name = &us->host;

    us->peer.data = peers;
    us->peer.init = ngx_http_upstream_resolve_init_peer;

    rscf->upstream = us;
    rscf->main = rmcf;
    rscf->initialized = 1;

    rscfp = ngx_array_push(&rmcf->upstreams);
    if (rscfp == NULL) {
        return NGX_ERROR;
    }

    *rscfp = rscf;

    zone = rmcf->zones.elts;

    for (i = 0; i < rmcf->zones.nelts; i++) {
        if (zone[i].shm_zone == us->shm_zone) {
            return NGX_OK;
        }
    }

    zone = ngx_array_push(&rmcf->zones);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->shm_zone = us->shm_zone;
    zone->init = us->shm_zone->init;

    us->shm_zone->init = ngx_http_upstream_resolve_init_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_resolve_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                              i;
    ngx_http_core_loc_conf_t               *clcf;
    ngx_http_upstream_srv_conf_t          **uscfp;
    ngx_http_upstream_main_conf_t          *umcf;
    ngx_http_upstream_resolve_srv_conf_t   *rscf;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_upstream_resolve_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (uscfp[i]->srv_conf == NULL) {
            continue;
        }

        rscf = ngx_http_conf_upstream_srv_conf(uscfp[i],
                                            ngx_http_upstream_resolve_module);

        if (rscf->hosts != NULL && !rscf->initialized) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "resolve_server in upstream \"%V\" in %s:%ui "
                          "works with round robin, or \"least_conn\" given "
                          "before it, and \"keepalive\" after it only",
                          &uscfp[i]->host, uscfp[i]->file_name,
                          uscfp[i]->line);
            return NGX_ERROR;
        }
    }

    if (rmcf->upstreams.nelts == 0 && rmcf->table_zone == NULL) {
        return NGX_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver == NULL || clcf->resolver->connections.nelts == 0) {

        if (rmcf->upstreams.nelts == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "no \"resolver\" at http level for "
                          "\"resolve_upstreams\"");
            return NGX_ERROR;
        }

        rscf = ((ngx_http_upstream_resolve_srv_conf_t **)
                rmcf->upstreams.elts)[0];

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "no \"resolver\" at http level for resolve_server "
                      "in upstream \"%V\"", &rscf->upstream->host);
        return NGX_ERROR;
    }

    rmcf->resolver = clcf->resolver;
    rmcf->resolver_timeout = clcf->resolver_timeout;

    if (rmcf->resolver_timeout == NGX_CONF_UNSET_MSEC) {
        rmcf->resolver_timeout = NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_TIMEOUT;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_upstream_resolve_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    return ngx_http_upstream_resolve_start_cycle(cycle);
}


/* the zones' carry-over (upstream{} blocks), the state file's folder */

static ngx_int_t
ngx_http_upstream_resolve_init_module(ngx_cycle_t *cycle)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    if (ngx_http_upstream_resolve_zone_init_module(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);

    if (rmcf == NULL || rmcf->table_zone == NULL) {
        return NGX_OK;
    }

    return ngx_http_upstream_resolve_table_paths(cycle, rmcf);
}


static void
ngx_http_upstream_resolve_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);

    if (rmcf == NULL
        || (rmcf->upstreams.nelts == 0 && rmcf->registry == NULL)
        || rmcf->cycle == NULL)
    {
        return;
    }

    ngx_http_upstream_resolve_exit_worker(rmcf);
}
