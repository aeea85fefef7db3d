
/*
 * ngx_http_portico_metrics_module: the shared zone (docs/metrics.md,
 * ngx_module/README.md): label sets ("routes") and series in fixed arrays
 * with free lists, found by hash under the zone's mutex; the tables a
 * worker attaches; freeing what no table has; series made on a request's
 * first status and method.
 */


#include "ngx_http_portico_route_module.h"


/* one worker's attach of a table */

typedef struct {
    ngx_uint_t                          epoch;
    ngx_uint_t                          missing;   /* rules without labels */
    unsigned                            collected:1;
} ngx_http_portico_metrics_attach_t;


static void ngx_http_portico_metrics_attach_part(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_table_t *part,
    ngx_http_portico_metrics_attach_t *at);
static void ngx_http_portico_metrics_attach_host(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_host_t *host,
    ngx_http_portico_metrics_attach_t *at);
static void ngx_http_portico_metrics_attach_target(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_target_t *target, ngx_str_t *host,
    ngx_str_t *path, ngx_http_portico_metrics_attach_t *at);
static uint32_t ngx_http_portico_metrics_hash(ngx_str_t *ingress,
    ngx_str_t *host, ngx_str_t *path, ngx_str_t *service, ngx_str_t *canary);
static void ngx_http_portico_metrics_attach_route(
    ngx_http_portico_metrics_main_conf_t *mmcf, ngx_str_t *ingress,
    ngx_str_t *host, ngx_str_t *path, ngx_str_t *service, ngx_str_t *canary,
    ngx_http_portico_metrics_ref_t *ref,
    ngx_http_portico_metrics_attach_t *at);
static uint32_t ngx_http_portico_metrics_find_route(
    ngx_http_portico_metrics_main_conf_t *mmcf, ngx_str_t *ingress,
    ngx_str_t *host, ngx_str_t *path, ngx_str_t *service, ngx_str_t *canary);
static ngx_http_portico_metrics_ingress_t *ngx_http_portico_metrics_ingress(
    ngx_http_portico_metrics_main_conf_t *mmcf, ngx_str_t *name);
static void ngx_http_portico_metrics_ingress_release(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_ingress_t *ing);
static void ngx_http_portico_metrics_free_route(
    ngx_http_portico_metrics_main_conf_t *mmcf, uint32_t index);
static void ngx_http_portico_metrics_collect_locked(
    ngx_http_portico_metrics_main_conf_t *mmcf, time_t now);
static ngx_http_portico_metrics_series_t *ngx_http_portico_metrics_alloc_series(
    ngx_http_portico_metrics_shared_t *sh, ngx_uint_t status,
    ngx_uint_t method);
static void ngx_http_portico_metrics_free_series(
    ngx_http_portico_metrics_shared_t *sh, uint32_t index);


/*
 * In the master: the arrays, carved once for the zone's size, every slot
 * on a free list; the route of requests that matched no rule ("unrouted",
 * empty labels) with its Ingress's overflow series made ahead, the last
 * resort when the zone is full.  A zone kept by a reload (same size) keeps
 * everything.  "nginx -t" carves nothing: no request ever uses its zone,
 * and touching every page of it was a third of the time the controller's
 * check of each route table change took.
 */

ngx_int_t
ngx_http_portico_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                             i, size;
    ngx_str_t                              empty = ngx_null_string;
    ngx_slab_pool_t                       *shpool;
    ngx_http_portico_metrics_route_t      *route;
    ngx_http_portico_metrics_shared_t     *sh;
    ngx_http_portico_metrics_ingress_t    *ing;
    ngx_http_portico_metrics_series_t     *s;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    mmcf->shpool = shpool;

    if (data != NULL) {
        mmcf->shared = data;
        shm_zone->data = data;
        return NGX_OK;
    }

    if (ngx_test_config) {
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_portico_metrics_shared_t));
    if (sh == NULL) {
        goto small;
    }

    sh->nroutes = mmcf->size / NGX_HTTP_PORTICO_METRICS_ROUTE_BYTES;
    sh->nseries = sh->nroutes * NGX_HTTP_PORTICO_METRICS_SERIES_PER_ROUTE;

    for (size = 4; size < 2 * sh->nroutes; size <<= 1) { /* void */ }

    sh->route_mask = size - 1;
    sh->ingress_mask = size / 2 - 1;

    sh->routes = ngx_slab_calloc(shpool, sh->nroutes
                                 * sizeof(ngx_http_portico_metrics_route_t));
    sh->series = ngx_slab_calloc(shpool, sh->nseries
                                 * sizeof(ngx_http_portico_metrics_series_t));
    sh->route_hash = ngx_slab_calloc(shpool, size * sizeof(uint32_t));
    sh->ingress_hash = ngx_slab_calloc(shpool, size / 2
                              * sizeof(ngx_http_portico_metrics_ingress_t *));

    if (sh->routes == NULL || sh->series == NULL || sh->route_hash == NULL
        || sh->ingress_hash == NULL)
    {
        goto small;
    }

    for (i = 0; i < sh->nroutes; i++) {
        sh->routes[i].next = (i + 1 < sh->nroutes) ? i + 2 : 0;
    }

    for (i = 0; i < sh->nseries; i++) {
        sh->series[i].next = (i + 1 < sh->nseries) ? i + 2 : 0;
    }

    sh->free_routes = 1;
    sh->free_series = 1;

    mmcf->shared = sh;

    /* the unrouted route and its Ingress's overflow series */

    sh->unrouted = ngx_http_portico_metrics_find_route(mmcf, &empty, &empty,
                                                       &empty, &empty,
                                                       &empty);
    if (sh->unrouted == 0) {
        goto small;
    }

    route = &sh->routes[sh->unrouted - 1];
    route->epoch = (ngx_uint_t) -1;
    ing = route->ingress;

    for (i = 0; i < NGX_HTTP_PORTICO_METRICS_CLASSES; i++) {
        s = ngx_http_portico_metrics_alloc_series(sh,
                                        NGX_HTTP_PORTICO_METRICS_OVERFLOW + i,
                                        NGX_HTTP_PORTICO_METRICS_METHODS - 1);
        if (s == NULL) {
            goto small;
        }

        ing->overflow[i] = s - sh->series + 1;
    }

    shpool->log_nomem = 0;
    shm_zone->data = sh;

    return NGX_OK;

small:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "portico_metrics: zone \"%V\" is too small",
                  &shm_zone->shm.name);

    return NGX_ERROR;
}


/* a worker's table: every rule's route, found or made */

void
ngx_http_portico_metrics_attach(ngx_cycle_t *cycle,
    ngx_http_portico_route_table_t *table)
{
    ngx_uint_t                             i;
    ngx_http_portico_metrics_attach_t      at;
    ngx_http_portico_metrics_shared_t     *sh;
    ngx_http_portico_metrics_main_conf_t  *mmcf;

    mmcf = ngx_http_portico_cycle_main_conf(cycle,
                                            &ngx_http_portico_metrics_module);

    if (mmcf == NULL || mmcf->shared == NULL) {
        return;
    }

    sh = mmcf->shared;
    ngx_memzero(&at, sizeof(ngx_http_portico_metrics_attach_t));

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    at.epoch = ++sh->epoch;

    if (table->nshards == 0) {
        ngx_http_portico_metrics_attach_part(mmcf, table, &at);

    } else {
        for (i = 0; i < table->nshards; i++) {
            if (table->shards[i] != NULL) {
                ngx_http_portico_metrics_attach_part(mmcf, table->shards[i],
                                                     &at);
            }
        }
    }

    if (ngx_worker < NGX_MAX_PROCESSES) {
        sh->workers[ngx_worker].pid = ngx_pid;
        sh->workers[ngx_worker].epoch = at.epoch;
    }

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    if (at.missing) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "portico_metrics: zone \"%V\" is full, %ui rules of "
                      "table %V are counted without labels",
                      &mmcf->shm_zone->shm.name, at.missing, &table->version);
    }
}


/* the hosts of a table, or of one shard of a head */

static void
ngx_http_portico_metrics_attach_part(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_table_t *part,
    ngx_http_portico_metrics_attach_t *at)
{
    ngx_uint_t                       i;
    ngx_http_portico_route_entry_t  *slot;

    for (i = 0; i <= part->hosts.mask; i++) {
        slot = &part->hosts.slots[i];

        if (slot->name.data != NULL) {
            ngx_http_portico_metrics_attach_host(mmcf, slot->value, at);
        }
    }

    for (i = 0; i <= part->wildcards.mask; i++) {
        slot = &part->wildcards.slots[i];

        if (slot->name.data != NULL) {
            ngx_http_portico_metrics_attach_host(mmcf, slot->value, at);
        }
    }

    if (part->any != NULL) {
        ngx_http_portico_metrics_attach_host(mmcf, part->any, at);
    }
}


static void
ngx_http_portico_metrics_attach_host(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_host_t *host,
    ngx_http_portico_metrics_attach_t *at)
{
    u_char                          label[NGX_HTTP_PORTICO_ROUTES_HOST_MAX + 3];
    u_char                         *p;
    ngx_str_t                       name, none = ngx_null_string;
    ngx_uint_t                      i;
    ngx_http_portico_route_rule_t  *rule;

    /* the host label: the section as written, "*.D" for a wildcard */

    p = label;

    if (host->wildcard) {
        *p++ = '*';
        *p++ = '.';
    }

    p = ngx_cpymem(p, host->name.data, host->name.len);

    name.data = label;
    name.len = p - label;

    rule = host->rules;

    for (i = 0; i < host->nrules; i++) {
        ngx_http_portico_metrics_attach_target(mmcf, &rule[i].target, &name,
                                               &rule[i].path, at);
    }

    if (host->has_default) {
        ngx_http_portico_metrics_attach_target(mmcf, &host->deflt, &name,
                                               &none, at);
    }
}


static void
ngx_http_portico_metrics_attach_target(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_route_target_t *target, ngx_str_t *host,
    ngx_str_t *path, ngx_http_portico_metrics_attach_t *at)
{
    ngx_str_t                         none = ngx_null_string;
    ngx_http_portico_route_canary_t  *c;

    ngx_http_portico_metrics_attach_route(mmcf, &target->ingress, host, path,
                                          &target->service, &none,
                                          &target->metrics, at);

    /* a canary's requests: the same labels and "canary", as ingress-nginx */

    c = target->canary;

    if (c != NULL && c->name.len) {
        ngx_http_portico_metrics_attach_route(mmcf, &target->ingress, host,
                                              path, &target->service,
                                              &c->name, &c->metrics, at);
    }
}


static void
ngx_http_portico_metrics_attach_route(
    ngx_http_portico_metrics_main_conf_t *mmcf, ngx_str_t *ingress,
    ngx_str_t *host, ngx_str_t *path, ngx_str_t *service, ngx_str_t *canary,
    ngx_http_portico_metrics_ref_t *ref,
    ngx_http_portico_metrics_attach_t *at)
{
    uint32_t                            index;
    ngx_http_portico_metrics_route_t   *route;
    ngx_http_portico_metrics_shared_t  *sh;

    sh = mmcf->shared;

    /*
     * a rule attached before (a shard a head kept): its route, if still
     * the same (a freed and reused route has another generation), needs
     * no lookup by its labels
     */

    if (ref->index != 0) {
        route = &sh->routes[ref->index - 1];

        if (route->generation == ref->generation) {
            if (route->epoch != (ngx_uint_t) -1) {
                route->epoch = at->epoch;
                route->unused = 0;
            }

            return;
        }

    } else if (ref->generation != 0 && ref->generation == sh->frees + 1
               && sh->used_routes == sh->nroutes)
    {
        /*
         * no room when it was looked up, and none made since: at 100k
         * Ingresses a full zone left 33k rules out, and looking each up
         * at every attach was most of a worker's time to take a table
         */

        at->missing++;
        return;
    }

    index = ngx_http_portico_metrics_find_route(mmcf, ingress, host, path,
                                                service, canary);

    if (index == 0 && sh->used_routes == sh->nroutes && !at->collected) {

        /*
         * full: free what no worker uses any more, and try once more;
         * once per attach, for a second pass frees nothing new (what it
         * frees has been unused for the grace) and costs every route:
         * 33k rules over a full zone of 167k took a worker 20 s
         */

        ngx_http_portico_metrics_collect_locked(mmcf, ngx_time());
        at->collected = 1;

        index = ngx_http_portico_metrics_find_route(mmcf, ingress, host, path,
                                                    service, canary);
    }

    if (index == 0) {
        at->missing++;
        ref->index = 0;
        ref->generation = sh->frees + 1;
        return;
    }

    route = &sh->routes[index - 1];

    if (route->epoch != (ngx_uint_t) -1) {
        route->epoch = at->epoch;
        route->unused = 0;
    }

    ref->index = index;
    ref->generation = route->generation;
}


static uint32_t
ngx_http_portico_metrics_hash(ngx_str_t *ingress, ngx_str_t *host,
    ngx_str_t *path, ngx_str_t *service, ngx_str_t *canary)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, ingress->data, ingress->len);
    ngx_crc32_update(&crc, (u_char *) "\n", 1);
    ngx_crc32_update(&crc, host->data, host->len);
    ngx_crc32_update(&crc, (u_char *) "\n", 1);
    ngx_crc32_update(&crc, path->data, path->len);
    ngx_crc32_update(&crc, (u_char *) "\n", 1);
    ngx_crc32_update(&crc, service->data, service->len);
    ngx_crc32_update(&crc, (u_char *) "\n", 1);
    ngx_crc32_update(&crc, canary->data, canary->len);
    ngx_crc32_final(crc);

    return crc;
}


/*
 * The route of these labels, found or made (locked); route + 1, or 0 when
 * the zone has no room for it
 */

static uint32_t
ngx_http_portico_metrics_find_route(ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_str_t *ingress, ngx_str_t *host, ngx_str_t *path, ngx_str_t *service,
    ngx_str_t *canary)
{
    size_t                               len;
    u_char                              *p;
    uint32_t                             hash, i, *bucket;
    ngx_http_portico_metrics_route_t    *route;
    ngx_http_portico_metrics_shared_t   *sh;
    ngx_http_portico_metrics_ingress_t  *ing;

    sh = mmcf->shared;

    hash = ngx_http_portico_metrics_hash(ingress, host, path, service,
                                         canary);
    bucket = &sh->route_hash[hash & sh->route_mask];

    for (i = *bucket; i; i = route->next) {
        route = &sh->routes[i - 1];

        if (route->hash == hash
            && route->ingress->name.len == ingress->len
            && route->host_len == host->len
            && route->path_len == path->len
            && route->service_len == service->len
            && route->canary_len == canary->len
            && ngx_memcmp(route->ingress->name.data, ingress->data,
                          ingress->len) == 0
            && ngx_memcmp(route->labels, host->data, host->len) == 0
            && ngx_memcmp(route->labels + host->len, path->data, path->len)
               == 0
            && ngx_memcmp(route->labels + host->len + path->len,
                          service->data, service->len) == 0
            && ngx_memcmp(route->labels + host->len + path->len
                          + service->len, canary->data, canary->len) == 0)
        {
            return i;
        }
    }

    if (sh->free_routes == 0) {
        return 0;
    }

    i = sh->free_routes;
    route = &sh->routes[i - 1];

    p = NULL;
    len = host->len + path->len + service->len + canary->len;

    if (len) {
        p = ngx_slab_alloc_locked(mmcf->shpool, len);
        if (p == NULL) {
            return 0;
        }
    }

    ing = ngx_http_portico_metrics_ingress(mmcf, ingress);

    if (ing == NULL) {
        if (p) {
            ngx_slab_free_locked(mmcf->shpool, p);
        }

        return 0;
    }

    sh->free_routes = route->next;
    sh->used_routes++;

    ngx_memzero(route, sizeof(ngx_http_portico_metrics_route_t));

    if (++sh->generation == 0) {
        sh->generation = 1;
    }

    route->generation = sh->generation;
    route->hash = hash;
    route->ingress = ing;
    route->labels = p;
    route->host_len = host->len;
    route->path_len = path->len;
    route->service_len = service->len;
    route->canary_len = canary->len;

    if (p) {
        p = ngx_cpymem(p, host->data, host->len);
        p = ngx_cpymem(p, path->data, path->len);
        p = ngx_cpymem(p, service->data, service->len);
        ngx_memcpy(p, canary->data, canary->len);
    }

    ing->routes++;

    route->next = *bucket;
    *bucket = i;

    return i;
}


/* the Ingress "namespace/name" (or ""), found or made (locked) */

static ngx_http_portico_metrics_ingress_t *
ngx_http_portico_metrics_ingress(ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_str_t *name)
{
    u_char                               *slash;
    uint32_t                              hash;
    ngx_http_portico_metrics_shared_t    *sh;
    ngx_http_portico_metrics_ingress_t   *ing, **bucket;

    sh = mmcf->shared;

    hash = ngx_crc32_short(name->data, name->len);
    bucket = &sh->ingress_hash[hash & sh->ingress_mask];

    for (ing = *bucket; ing; ing = ing->next) {
        if (ing->hash == hash && ing->name.len == name->len
            && ngx_memcmp(ing->name.data, name->data, name->len) == 0)
        {
            return ing;
        }
    }

    ing = ngx_slab_calloc_locked(mmcf->shpool,
                                 sizeof(ngx_http_portico_metrics_ingress_t)
                                 + name->len);
    if (ing == NULL) {
        return NULL;
    }

    ing->hash = hash;
    ing->name.data = (u_char *) (ing + 1);
    ing->name.len = name->len;
    ngx_memcpy(ing->name.data, name->data, name->len);

    slash = ngx_strlchr(name->data, name->data + name->len, '/');
    ing->ns_len = slash ? (size_t) (slash - name->data) : 0;

    ing->next = *bucket;
    *bucket = ing;

    return ing;
}


static void
ngx_http_portico_metrics_ingress_release(
    ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_ingress_t *ing)
{
    ngx_uint_t                            i;
    ngx_http_portico_metrics_shared_t    *sh;
    ngx_http_portico_metrics_ingress_t  **pp;

    if (--ing->routes) {
        return;
    }

    sh = mmcf->shared;

    for (i = 0; i < NGX_HTTP_PORTICO_METRICS_CLASSES; i++) {
        if (ing->overflow[i]) {
            ngx_http_portico_metrics_free_series(sh, ing->overflow[i]);
        }
    }

    for (pp = &sh->ingress_hash[ing->hash & sh->ingress_mask];
         *pp != ing;
         pp = &(*pp)->next)
    {
        /* void */
    }

    *pp = ing->next;

    ngx_slab_free_locked(mmcf->shpool, ing);
}


/* locked; a request holding the route sees its generation change */

static void
ngx_http_portico_metrics_free_route(ngx_http_portico_metrics_main_conf_t *mmcf,
    uint32_t index)
{
    uint32_t                            i, next, *pp;
    ngx_http_portico_metrics_route_t   *route;
    ngx_http_portico_metrics_shared_t  *sh;

    sh = mmcf->shared;
    route = &sh->routes[index - 1];

    for (i = route->series; i; i = next) {
        next = sh->series[i - 1].next;
        ngx_http_portico_metrics_free_series(sh, i);
        route->ingress->series--;
    }

    for (pp = &sh->route_hash[route->hash & sh->route_mask];
         *pp != index;
         pp = &sh->routes[*pp - 1].next)
    {
        /* void */
    }

    *pp = route->next;
    sh->frees++;

    ngx_http_portico_metrics_ingress_release(mmcf, route->ingress);

    if (route->labels) {
        ngx_slab_free_locked(mmcf->shpool, route->labels);
    }

    route->generation = 0;
    route->series = 0;
    route->labels = NULL;
    route->ingress = NULL;

    route->next = sh->free_routes;
    sh->free_routes = index;
    sh->used_routes--;
}


/*
 * Frees the routes that no live worker's table has had for
 * NGX_HTTP_PORTICO_METRICS_GRACE seconds.  A route is in no live table
 * when its epoch (the last attach that had it) is older than every live
 * worker's: each has attached a table without it since.
 */

void
ngx_http_portico_metrics_collect(ngx_http_portico_metrics_main_conf_t *mmcf,
    time_t now)
{
    ngx_shmtx_lock(&mmcf->shpool->mutex);
    ngx_http_portico_metrics_collect_locked(mmcf, now);
    ngx_shmtx_unlock(&mmcf->shpool->mutex);
}


static void
ngx_http_portico_metrics_collect_locked(
    ngx_http_portico_metrics_main_conf_t *mmcf, time_t now)
{
    ngx_uint_t                          i, live, oldest;
    ngx_http_portico_metrics_route_t   *route;
    ngx_http_portico_metrics_worker_t  *w;
    ngx_http_portico_metrics_shared_t  *sh;

    sh = mmcf->shared;
    live = 0;
    oldest = (ngx_uint_t) -1;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        w = &sh->workers[i];

        if (w->pid == 0) {
            continue;
        }

        if (w->pid != ngx_pid && kill(w->pid, 0) == -1
            && ngx_errno == NGX_ESRCH)
        {
            w->pid = 0;
            continue;
        }

        live++;
        oldest = ngx_min(oldest, w->epoch);
    }

    if (live == 0) {
        return;
    }

    for (i = 0; i < sh->nroutes; i++) {
        route = &sh->routes[i];

        if (route->generation == 0 || route->epoch >= oldest) {
            route->unused = 0;
            continue;
        }

        if (route->unused == 0) {
            route->unused = now;
            continue;
        }

        if (now - route->unused >= mmcf->grace) {
            ngx_http_portico_metrics_free_route(mmcf, i + 1);
        }
    }
}


static ngx_http_portico_metrics_series_t *
ngx_http_portico_metrics_alloc_series(ngx_http_portico_metrics_shared_t *sh,
    ngx_uint_t status, ngx_uint_t method)
{
    ngx_http_portico_metrics_series_t  *s;

    if (sh->free_series == 0) {
        return NULL;
    }

    s = &sh->series[sh->free_series - 1];
    sh->free_series = s->next;
    sh->used_series++;

    s->next = 0;
    s->status = (uint16_t) status;
    s->method = (uint8_t) method;
    s->requests = 0;
    s->used = 1;

    return s;
}


static void
ngx_http_portico_metrics_free_series(ngx_http_portico_metrics_shared_t *sh,
    uint32_t index)
{
    ngx_http_portico_metrics_series_t  *s;

    s = &sh->series[index - 1];

    s->used = 0;
    s->next = sh->free_series;
    sh->free_series = index;
    sh->used_series--;
}


/* the series of (status, method) in the route's list, without a lock */

ngx_http_portico_metrics_series_t *
ngx_http_portico_metrics_find_series(ngx_http_portico_metrics_main_conf_t *mmcf,
    ngx_http_portico_metrics_route_t *route, ngx_uint_t status,
    ngx_uint_t method)
{
    uint32_t                            i;
    ngx_uint_t                          hops;
    ngx_http_portico_metrics_series_t  *s;
    ngx_http_portico_metrics_shared_t  *sh;

    sh = mmcf->shared;

    /*
     * a list is changed under the lock only, each new series published
     * after it is written; a walk that races a route being freed may wander
     * into other lists, so it is bounded (then the slow path decides)
     */

    for (i = route->series, hops = 0;
         i && i <= sh->nseries && hops <= mmcf->per_ingress;
         i = s->next, hops++)
    {
        s = &sh->series[i - 1];

        if (s->status == status && s->method == method && s->used) {
            return s;
        }
    }

    return NULL;
}


/*
 * A status and method new for the route (locked): a new series while the
 * route's Ingress has fewer than max_series_per_ingress, else the
 * Ingress's overflow series of the status class (made once; the unrouted
 * one when the zone is full)
 */

ngx_http_portico_metrics_series_t *
ngx_http_portico_metrics_add_series(ngx_http_portico_metrics_main_conf_t *mmcf,
    uint32_t index, uint32_t generation, ngx_uint_t status, ngx_uint_t method)
{
    ngx_uint_t                           class;
    ngx_http_portico_metrics_route_t    *route;
    ngx_http_portico_metrics_series_t   *s;
    ngx_http_portico_metrics_shared_t   *sh;
    ngx_http_portico_metrics_ingress_t  *ing;

    sh = mmcf->shared;

    ngx_shmtx_lock(&mmcf->shpool->mutex);

    route = &sh->routes[index - 1];

    if (route->generation != generation) {
        /* freed (and maybe reused) since the request looked */
        route = &sh->routes[sh->unrouted - 1];
    }

    s = ngx_http_portico_metrics_find_series(mmcf, route, status, method);

    if (s != NULL) {
        goto done;
    }

    ing = route->ingress;

    if (ing->series < mmcf->per_ingress) {
        s = ngx_http_portico_metrics_alloc_series(sh, status, method);

        if (s != NULL) {
            s->next = route->series;
            ngx_memory_barrier();
            route->series = s - sh->series + 1;
            ing->series++;
            goto done;
        }
    }

    class = (status >= 100 && status < 600) ? status / 100 - 1
                                            : NGX_HTTP_PORTICO_METRICS_CLASSES
                                              - 1;

    if (ing->overflow[class] == 0) {
        s = ngx_http_portico_metrics_alloc_series(sh,
                                    NGX_HTTP_PORTICO_METRICS_OVERFLOW + class,
                                    NGX_HTTP_PORTICO_METRICS_METHODS - 1);
        if (s != NULL) {
            ngx_memory_barrier();
            ing->overflow[class] = s - sh->series + 1;
        }
    }

    if (ing->overflow[class] == 0) {
        ing = sh->routes[sh->unrouted - 1].ingress;
    }

    s = &sh->series[ing->overflow[class] - 1];

done:

    ngx_shmtx_unlock(&mmcf->shpool->mutex);

    return s;
}
