
/*
 * ngx_http_portico_metrics_module: "portico_metrics_status", the zone in
 * Prometheus text format 0.0.4 (docs/metrics.md has every family).
 *
 * Families are written one after the other, each in one pass over the
 * routes; a pass takes the zone's lock for NGX_HTTP_PORTICO_METRICS_CHUNK
 * routes at a time, so a long scrape never holds the requests that make
 * a new series for long.  A route appears with its first request.  Routes
 * are freed only by a scrape (or by an attach that found the zone full),
 * after their grace, so one scrape never writes a label set twice.
 */


#include "ngx_http_portico_route_module.h"


#define NGX_HTTP_PORTICO_METRICS_CHUNK       256    /* routes a lock */
#define NGX_HTTP_PORTICO_METRICS_BUF         65536
#define NGX_HTTP_PORTICO_METRICS_GAUGES      5      /* of the zone */
/* the longest line: labels escaped (a path doubles at most) and a value */
#define NGX_HTTP_PORTICO_METRICS_LINE_MAX                                     \
    (512 + 2 * NGX_HTTP_PORTICO_ROUTES_PATH_MAX                               \
     + 2 * (NGX_HTTP_PORTICO_ROUTES_HOST_MAX + 2) + 330)


typedef struct {
    ngx_http_request_t                  *r;
    ngx_chain_t                         *out;
    ngx_chain_t                        **last;
    ngx_buf_t                           *b;
    ngx_uint_t                           failed;
} ngx_http_portico_metrics_writer_t;


/* a family of one value per route: its name, where the value is */

typedef struct {
    char                                *name;
    char                                *help;
    size_t                               offset;    /* in the route */
} ngx_http_portico_metrics_field_t;


typedef void (*ngx_http_portico_metrics_pass_pt)(
    ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data);


static u_char *ngx_http_portico_metrics_reserve(
    ngx_http_portico_metrics_writer_t *w, size_t size);
static void ngx_http_portico_metrics_family(
    ngx_http_portico_metrics_writer_t *w, char *name, char *type,
    char *help);
static void ngx_http_portico_metrics_pass(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_pass_pt write, void *data);
static u_char *ngx_http_portico_metrics_labels(u_char *p, char *name,
    char *suffix, ngx_http_portico_metrics_route_t *route);
static u_char *ngx_http_portico_metrics_ingress_labels(u_char *p,
    ngx_http_portico_metrics_ingress_t *ing);
static u_char *ngx_http_portico_metrics_escape(u_char *p, u_char *s,
    size_t len);
static ngx_uint_t ngx_http_portico_metrics_count(
    ngx_http_portico_metrics_hist_t *h);

static void ngx_http_portico_metrics_requests(
    ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data);
static void ngx_http_portico_metrics_overflow(
    ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf);
static void ngx_http_portico_metrics_histogram(
    ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data);
static void ngx_http_portico_metrics_counter(
    ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data);
static void ngx_http_portico_metrics_zone(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf);


static char  ngx_http_portico_metrics_bucket_names[][8] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
    "10", "+Inf"
};

/* the method classes' names, by class (ngx_http_portico_metrics_method) */
static ngx_str_t  ngx_http_portico_metrics_methods[] = {
    ngx_string("GET"),
    ngx_string("HEAD"),
    ngx_string("POST"),
    ngx_string("PUT"),
    ngx_string("DELETE"),
    ngx_string("PATCH"),
    ngx_string("OPTIONS"),
    ngx_string("OTHER")
};

static char  ngx_http_portico_metrics_class_names[][6] = {
    "1xx", "2xx", "3xx", "4xx", "5xx", "other"
};


static ngx_http_portico_metrics_field_t  ngx_http_portico_metrics_histograms[] = {

    { "portico_request_duration_seconds",
      "Time from the first byte read from the client to the log after the "
      "last byte sent, as nginx's $request_time (ms resolution).",
      offsetof(ngx_http_portico_metrics_route_t, duration) },

    { "portico_upstream_response_duration_seconds",
      "Time spent on the upstreams by requests proxied to one: the sum of "
      "$upstream_response_time over every try.",
      offsetof(ngx_http_portico_metrics_route_t, upstream) },

    { NULL, NULL, 0 }
};


static ngx_http_portico_metrics_field_t  ngx_http_portico_metrics_counters[] = {

    { "portico_request_bytes_total",
      "Bytes received from clients: request line, headers and body "
      "($request_length).",
      offsetof(ngx_http_portico_metrics_route_t, request_bytes) },

    { "portico_response_bytes_total",
      "Bytes sent to clients, headers included ($bytes_sent).",
      offsetof(ngx_http_portico_metrics_route_t, response_bytes) },

    { "portico_upstream_connect_failures_total",
      "Upstream tries that never connected: refused, timed out, or no live "
      "peer.",
      offsetof(ngx_http_portico_metrics_route_t, connect_failures) },

    { NULL, NULL, 0 }
};


ngx_int_t
ngx_http_portico_metrics_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                              rc;
    ngx_http_portico_metrics_field_t      *f;
    ngx_http_portico_metrics_writer_t      w;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_portico_metrics_module);

    if (mmcf->shared == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.status = NGX_HTTP_OK;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    ngx_http_portico_metrics_collect(mmcf, ngx_time());

    ngx_memzero(&w, sizeof(ngx_http_portico_metrics_writer_t));
    w.r = r;
    w.last = &w.out;

    ngx_http_portico_metrics_family(&w, "portico_requests_total", "counter",
        "Requests by the Ingress rule they matched (no Ingress: no rule "
        "matched), status code and method; status 1xx..5xx/other: the "
        "Ingress's overflow series, past max_series_per_ingress.");
    ngx_http_portico_metrics_pass(&w, mmcf, ngx_http_portico_metrics_requests,
                                  NULL);
    ngx_http_portico_metrics_overflow(&w, mmcf);

    for (f = ngx_http_portico_metrics_histograms; f->name; f++) {
        ngx_http_portico_metrics_family(&w, f->name, "histogram", f->help);
        ngx_http_portico_metrics_pass(&w, mmcf,
                                      ngx_http_portico_metrics_histogram, f);
    }

    for (f = ngx_http_portico_metrics_counters; f->name; f++) {
        ngx_http_portico_metrics_family(&w, f->name, "counter", f->help);
        ngx_http_portico_metrics_pass(&w, mmcf,
                                      ngx_http_portico_metrics_counter, f);
    }

    ngx_http_portico_metrics_zone(&w, mmcf);

    if (w.failed) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (w.b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w.b->last_buf = (r == r->main) ? 1 : 0;
    w.b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, w.out);
}


/* room for size bytes at the end of the output, or NULL (w->failed) */

static u_char *
ngx_http_portico_metrics_reserve(ngx_http_portico_metrics_writer_t *w,
    size_t size)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (w->failed) {
        return NULL;
    }

    if (w->b != NULL && (size_t) (w->b->end - w->b->last) >= size) {
        return w->b->last;
    }

    b = ngx_create_temp_buf(w->r->pool,
                            ngx_max(size, NGX_HTTP_PORTICO_METRICS_BUF));
    cl = ngx_alloc_chain_link(w->r->pool);

    if (b == NULL || cl == NULL) {
        w->failed = 1;
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;
    *w->last = cl;
    w->last = &cl->next;
    w->b = b;

    return b->last;
}


static void
ngx_http_portico_metrics_family(ngx_http_portico_metrics_writer_t *w,
    char *name, char *type, char *help)
{
    u_char  *p;

    p = ngx_http_portico_metrics_reserve(w, 2 * ngx_strlen(name)
                                            + ngx_strlen(help) + 64);
    if (p != NULL) {
        w->b->last = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s %s\n",
                                 name, help, name, type);
    }
}


/* write() for every route that has counted a request, a chunk a lock */

static void
ngx_http_portico_metrics_pass(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_pass_pt write, void *data)
{
    ngx_uint_t                          i, end;
    ngx_http_portico_metrics_route_t   *route;
    ngx_http_portico_metrics_shared_t  *sh;

    sh = mmcf->shared;

    for (i = 0; i < sh->nroutes; i = end) {
        end = ngx_min(i + NGX_HTTP_PORTICO_METRICS_CHUNK, sh->nroutes);

        ngx_shmtx_lock(&mmcf->shpool->mutex);

        for ( /* void */ ; i < end && !w->failed; i++) {
            route = &sh->routes[i];

            if (route->generation != 0
                && ngx_http_portico_metrics_count(&route->duration) != 0)
            {
                write(w, sh, route, data);
            }
        }

        ngx_shmtx_unlock(&mmcf->shpool->mutex);
    }
}


static void
ngx_http_portico_metrics_requests(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data)
{
    u_char                             *p;
    uint32_t                            i;
    ngx_http_portico_metrics_series_t  *s;

    for (i = route->series; i; i = s->next) {
        s = &sh->series[i - 1];

        p = ngx_http_portico_metrics_reserve(w,
                                           NGX_HTTP_PORTICO_METRICS_LINE_MAX);
        if (p == NULL) {
            return;
        }

        p = ngx_http_portico_metrics_labels(p, "portico_requests_total", "",
                                            route);
        p = ngx_sprintf(p, ",status=\"%03ui\",method=\"%V\"} %uA\n",
                        (ngx_uint_t) s->status,
                        &ngx_http_portico_metrics_methods[s->method],
                        s->requests);
        w->b->last = p;
    }
}


/* every Ingress's overflow series: host, path, service empty */

static void
ngx_http_portico_metrics_overflow(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf)
{
    u_char                              *p;
    ngx_uint_t                           i, c;
    ngx_http_portico_metrics_series_t   *s;
    ngx_http_portico_metrics_shared_t   *sh;
    ngx_http_portico_metrics_ingress_t  *ing;

    sh = mmcf->shared;

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    for (i = 0; i <= sh->ingress_mask && !w->failed; i++) {
        for (ing = sh->ingress_hash[i]; ing; ing = ing->next) {
            for (c = 0; c < NGX_HTTP_PORTICO_METRICS_CLASSES; c++) {

                if (ing->overflow[c] == 0) {
                    continue;
                }

                s = &sh->series[ing->overflow[c] - 1];

                if (s->requests == 0) {
                    continue;
                }

                p = ngx_http_portico_metrics_reserve(w,
                                           NGX_HTTP_PORTICO_METRICS_LINE_MAX);
                if (p == NULL) {
                    goto done;
                }

                p = ngx_cpymem(p, "portico_requests_total{",
                               sizeof("portico_requests_total{") - 1);
                p = ngx_http_portico_metrics_ingress_labels(p, ing);
                p = ngx_sprintf(p, ",host=\"\",path=\"\",service=\"\","
                                "status=\"%s\",method=\"\"} %uA\n",
                                ngx_http_portico_metrics_class_names[c],
                                s->requests);
                w->b->last = p;
            }
        }
    }

done:

    ngx_shmtx_unlock(&mmcf->shpool->mutex);
}


static void
ngx_http_portico_metrics_histogram(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data)
{
    ngx_http_portico_metrics_field_t *field = data;

    char                             *name;
    u_char                           *p;
    ngx_uint_t                        i, count;
    ngx_atomic_uint_t                 sum;
    ngx_http_portico_metrics_hist_t  *h;

    name = field->name;
    h = (ngx_http_portico_metrics_hist_t *) ((u_char *) route + field->offset);

    p = ngx_http_portico_metrics_reserve(w,
                                         (NGX_HTTP_PORTICO_METRICS_BUCKETS + 3)
                                         * NGX_HTTP_PORTICO_METRICS_LINE_MAX);
    if (p == NULL) {
        return;
    }

    /* cumulative counts from one read of each bucket: _count is +Inf's */

    count = 0;
    sum = h->sum;

    for (i = 0; i <= NGX_HTTP_PORTICO_METRICS_BUCKETS; i++) {
        count += h->bucket[i];

        p = ngx_http_portico_metrics_labels(p, name, "_bucket", route);
        p = ngx_sprintf(p, ",le=\"%s\"} %ui\n",
                        ngx_http_portico_metrics_bucket_names[i], count);
    }

    p = ngx_http_portico_metrics_labels(p, name, "_sum", route);
    p = ngx_sprintf(p, "} %uA.%03uA\n", sum / 1000, sum % 1000);

    p = ngx_http_portico_metrics_labels(p, name, "_count", route);
    p = ngx_sprintf(p, "} %ui\n", count);

    w->b->last = p;
}


static void
ngx_http_portico_metrics_counter(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_shared_t *sh,
    ngx_http_portico_metrics_route_t *route, void *data)
{
    ngx_http_portico_metrics_field_t *field = data;

    u_char             *p;
    ngx_atomic_uint_t   value;

    value = *(ngx_atomic_t *) ((u_char *) route + field->offset);

    p = ngx_http_portico_metrics_reserve(w, NGX_HTTP_PORTICO_METRICS_LINE_MAX);
    if (p == NULL) {
        return;
    }

    p = ngx_http_portico_metrics_labels(p, field->name, "", route);
    w->b->last = ngx_sprintf(p, "} %uA\n", value);
}


/* how full the zone is */

static void
ngx_http_portico_metrics_zone(ngx_http_portico_metrics_writer_t *w,
    ngx_http_portico_metrics_main_conf_t *mmcf)
{
    u_char                             *p;
    ngx_uint_t                          i;
    ngx_uint_t                          value[NGX_HTTP_PORTICO_METRICS_GAUGES];
    ngx_http_portico_metrics_shared_t  *sh;

    static char  *gauge[NGX_HTTP_PORTICO_METRICS_GAUGES][2] = {
        { "portico_request_metrics_routes",
          "Label sets (Ingress, host, path, Service) in the metrics zone, "
          "the unrouted one included." },
        { "portico_request_metrics_routes_capacity",
          "Label sets the metrics zone holds at most." },
        { "portico_request_metrics_series",
          "Status and method series of portico_requests_total in the "
          "metrics zone, overflow series included." },
        { "portico_request_metrics_series_capacity",
          "Series the metrics zone holds at most." },
        { "portico_request_metrics_series_per_ingress",
          "Series an Ingress may have before its requests count in its "
          "overflow series (max_series_per_ingress)." }
    };

    sh = mmcf->shared;

    /* the counts change under the lock: read them under it */

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    value[0] = sh->used_routes;
    value[1] = sh->nroutes;
    value[2] = sh->used_series;
    value[3] = sh->nseries;
    value[4] = mmcf->per_ingress;

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    for (i = 0; i < NGX_HTTP_PORTICO_METRICS_GAUGES; i++) {
        ngx_http_portico_metrics_family(w, gauge[i][0], "gauge", gauge[i][1]);

        p = ngx_http_portico_metrics_reserve(w, 128);
        if (p == NULL) {
            return;
        }

        w->b->last = ngx_sprintf(p, "%s %ui\n", gauge[i][0], value[i]);
    }
}


/*
 * NAME SUFFIX{namespace="..",ingress="..",host="..",path="..",service=".."
 * [,canary=".."] without the closing brace
 */

static u_char *
ngx_http_portico_metrics_labels(u_char *p, char *name, char *suffix,
    ngx_http_portico_metrics_route_t *route)
{
    p = ngx_cpymem(p, name, ngx_strlen(name));
    p = ngx_cpymem(p, suffix, ngx_strlen(suffix));
    *p++ = '{';

    p = ngx_http_portico_metrics_ingress_labels(p, route->ingress);

    p = ngx_cpymem(p, ",host=\"", sizeof(",host=\"") - 1);
    p = ngx_cpymem(p, route->labels, route->host_len);
    p = ngx_cpymem(p, "\",path=\"", sizeof("\",path=\"") - 1);
    p = ngx_http_portico_metrics_escape(p, route->labels + route->host_len,
                                        route->path_len);
    p = ngx_cpymem(p, "\",service=\"", sizeof("\",service=\"") - 1);
    p = ngx_cpymem(p, route->labels + route->host_len + route->path_len,
                   route->service_len);
    *p++ = '"';

    /* a canary's (only: an empty label is no label to Prometheus) */

    if (route->canary_len) {
        p = ngx_cpymem(p, ",canary=\"", sizeof(",canary=\"") - 1);
        p = ngx_cpymem(p, route->labels + route->host_len + route->path_len
                          + route->service_len, route->canary_len);
        *p++ = '"';
    }

    return p;
}


static u_char *
ngx_http_portico_metrics_ingress_labels(u_char *p,
    ngx_http_portico_metrics_ingress_t *ing)
{
    size_t  skip;

    skip = ing->name.len ? ing->ns_len + 1 : 0;

    p = ngx_cpymem(p, "namespace=\"", sizeof("namespace=\"") - 1);
    p = ngx_cpymem(p, ing->name.data, ing->ns_len);
    p = ngx_cpymem(p, "\",ingress=\"", sizeof("\",ingress=\"") - 1);
    p = ngx_cpymem(p, ing->name.data + skip, ing->name.len - skip);
    *p++ = '"';

    return p;
}


/* a label value: \ and " escaped (paths are 0x21-0x7e, no newline) */

static u_char *
ngx_http_portico_metrics_escape(u_char *p, u_char *s, size_t len)
{
    while (len--) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
        }

        *p++ = *s++;
    }

    return p;
}


static ngx_uint_t
ngx_http_portico_metrics_count(ngx_http_portico_metrics_hist_t *h)
{
    ngx_uint_t  i, n;

    n = 0;

    for (i = 0; i <= NGX_HTTP_PORTICO_METRICS_BUCKETS; i++) {
        n += h->bucket[i];
    }

    return n;
}
