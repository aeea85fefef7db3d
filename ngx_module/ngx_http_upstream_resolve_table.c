
/*
 * ngx_http_upstream_resolve_module: table upstreams.
 *
 *   resolve_upstreams zone=64m ttl=1s:30s state=state/upstreams;
 *
 * The "upstream" lines of a route table (docs/routes.md) are upstreams
 * made while nginx runs: one entry each in a shared zone that reloads
 * keep.  A worker that loads a table "attaches" it: under the zone's mutex
 * it finds or makes the entry of every line (a changed definition is
 * applied to the entry: a new server drops its peers and resolves anew,
 * new max_fails/fail_timeout apply to its peers).  Entries nobody needs
 * any more are freed by the clean-up, once a second, in one worker.
 *
 * Who needs an entry.  Every table a process attaches gets a sequence
 * number (a new one for each new version); an entry records the first and
 * last numbers of the tables that had it, and every process records the
 * number of its current table in the zone's list of users.  An entry is
 * freed when it is not in the newest table, no live user's number is in
 * its range (a range may be wider than the truth, never narrower: a freed
 * entry is never in a table still in use), no request holds it (the route
 * module holds an entry from routing to the end of the request) and no
 * worker is resolving it.  A user that died without leaving is noticed by
 * its pid (kill(pid, 0) fails with ESRCH); a pid reused since only keeps
 * entries longer.
 *
 * Due names.  Entries wait in a heap ordered by their next resolution
 * time; a worker with free resolution slots takes the due ones off the
 * heap (a claim, moving them to the in-flight list) and puts them back
 * with their next time when the answer is applied.  A claim older than
 * the lease goes back to the heap (the worker died or stalls), so a tick
 * costs the names that are due, not every name.
 *
 * State file.  When addresses changed, one worker writes every entry's
 * addresses to the state file (at most every 2 s; a new file renamed in
 * place).  A master that makes the zone anew (first start, a master that
 * died and was restarted, a zone of another size) reads it and seeds the
 * entries with their last addresses, so a fresh nginx serves at once and
 * resolves as usual; entries the tables no longer name are cleaned up.
 *
 * Lock order: the zone's mutex, then an entry's peers lock.  The balancer
 * takes only the peers lock, and never frees a zombie of a table upstream
 * (the slab allocator would take the zone's mutex): zombies no request
 * holds are freed at the next answer or clean-up.
 */


#include "ngx_http_upstream_resolve_module.h"


#define NGX_HTTP_UPSTREAM_RESOLVE_ZONE_NAME   "resolve_upstreams"
#define NGX_HTTP_UPSTREAM_RESOLVE_ZONE_MIN    (256 * 1024)
#define NGX_HTTP_UPSTREAM_RESOLVE_HEAP_MIN    64
#define NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP     ((ngx_uint_t) -1)
#define NGX_HTTP_UPSTREAM_RESOLVE_CLEAN_EVERY 1000      /* ms */
#define NGX_HTTP_UPSTREAM_RESOLVE_PERSIST_EVERY 2000    /* ms */
#define NGX_HTTP_UPSTREAM_RESOLVE_STATE_MAX   (64 * 1024 * 1024)
#define NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD  "portico-upstreams-state 1\n"
#define NGX_HTTP_UPSTREAM_RESOLVE_STATE_ADDRS 64        /* per line, read */
#define NGX_HTTP_UPSTREAM_RESOLVE_WORDS                                       \
    (2 + NGX_HTTP_UPSTREAM_RESOLVE_STATE_ADDRS)
#define NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_FAILS 1
#define NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_FAIL_TIMEOUT 10   /* s */

#define ngx_http_upstream_resolve_before(a, b)                                \
    ((ngx_msec_int_t) ((a) - (b)) < 0)


static ngx_int_t ngx_http_upstream_resolve_parse_ip(u_char *text,
    size_t len, ngx_addr_t *addr);
static ngx_uint_t ngx_http_upstream_resolve_table_attach_part(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_part_t *part, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_log_t *log);
static ngx_int_t ngx_http_upstream_resolve_table_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static ngx_http_upstream_resolve_entry_t *
    ngx_http_upstream_resolve_table_create(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_def_t *def, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf);
static ngx_int_t ngx_http_upstream_resolve_table_set_server(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_def_t *def);
static void ngx_http_upstream_resolve_table_update(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_def_t *def, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_log_t *log);
static void ngx_http_upstream_resolve_table_free(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e);
static void ngx_http_upstream_resolve_table_readiness_set(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e);
static void ngx_http_upstream_resolve_table_unclass(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e);
static ngx_int_t ngx_http_upstream_resolve_table_user(
    ngx_http_upstream_resolve_registry_t *reg, ngx_uint_t seq);
static void ngx_http_upstream_resolve_table_clean(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool);
static ngx_int_t ngx_http_upstream_resolve_heap_push(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e);
static void ngx_http_upstream_resolve_heap_remove(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e);
static void ngx_http_upstream_resolve_heap_up(
    ngx_http_upstream_resolve_registry_t *reg, ngx_uint_t i);
static void ngx_http_upstream_resolve_heap_down(
    ngx_http_upstream_resolve_registry_t *reg, ngx_uint_t i);
static u_char *ngx_http_upstream_resolve_state_text(
    ngx_http_upstream_resolve_registry_t *reg, size_t *len, ngx_log_t *log);
static void ngx_http_upstream_resolve_state_write(ngx_str_t *file,
    u_char *text, size_t len, ngx_log_t *log);
static void ngx_http_upstream_resolve_state_read(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_log_t *log);
static ngx_int_t ngx_http_upstream_resolve_state_line(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_main_conf_t *rmcf, u_char *p, u_char *last);


/* names */

/*
 * a host name: letters, digits, "-", "_", single dots, at most 253; the
 * daemons' grammar (lib/dnsname.h) as nginx's resolver takes names, kept
 * here in nginx's types because the module links nothing of lib/
 */

ngx_int_t
ngx_http_upstream_resolve_check_name(ngx_str_t *name)
{
    u_char      ch;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HTTP_UPSTREAM_RESOLVE_NAME_MAX) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        ch = name->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
        {
            continue;
        }

        if (ch == '.' && i > 0 && name->data[i - 1] != '.') {
            continue;
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * "NAME HOST:PORT [max_fails=N] [fail_timeout=TIME] [least_conn]", the
 * words after "upstream"; NGX_ERROR with a reason in err.  The strings of
 * def point into args (HOST lowercased in place).
 */

ngx_int_t
ngx_http_upstream_resolve_parse_def(ngx_str_t *args, ngx_uint_t nargs,
    ngx_http_upstream_resolve_def_t *def, u_char *err, size_t errlen)
{
    u_char      ch, *colon, *last;
    ngx_int_t   n;
    ngx_str_t   s;
    ngx_uint_t  i;
    ngx_addr_t  addr;
    u_char      buf[NGX_SOCKADDRLEN];

    ngx_memzero(def, sizeof(ngx_http_upstream_resolve_def_t));

    last = err + errlen;

    if (nargs < 2) {
        (void) ngx_slprintf(err, last, "expected \"upstream NAME HOST:PORT "
                            "[max_fails=N] [fail_timeout=T] [least_conn]\"%Z");
        return NGX_ERROR;
    }

    def->name = args[0];

    if (def->name.len > NGX_HTTP_UPSTREAM_RESOLVE_UPSTREAM_MAX) {
        goto bad_name;
    }

    for (i = 0; i < def->name.len; i++) {
        ch = def->name.data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'
              || ch == '.'))
        {
            goto bad_name;
        }
    }

    /* HOST:PORT, HOST a name, an IPv4 address or [IPv6] */

    def->server = args[1];
    colon = ngx_strlchr(def->server.data, def->server.data + def->server.len,
                        ']');
    colon = ngx_strlchr(colon ? colon : def->server.data,
                        def->server.data + def->server.len, ':');

    if (colon == NULL || colon == def->server.data) {
        goto bad_server;
    }

    n = ngx_atoi(colon + 1, def->server.data + def->server.len - colon - 1);

    if (n < 1 || n > 65535) {
        goto bad_server;
    }

    def->port = (in_port_t) n;
    def->host.data = def->server.data;
    def->host.len = colon - def->server.data;

    if (def->host.data[0] == '[') {
        if (def->host.len < 3 || def->host.data[def->host.len - 1] != ']') {
            goto bad_server;
        }

        def->host.data++;
        def->host.len -= 2;
    }

    addr.sockaddr = (struct sockaddr *) buf;

    if (ngx_http_upstream_resolve_parse_ip(def->host.data, def->host.len,
                                           &addr)
        == NGX_OK)
    {
        def->address = 1;

    } else if (def->server.data[0] == '['
               || ngx_http_upstream_resolve_check_name(&def->host) != NGX_OK)
    {
        goto bad_server;

    } else {
        ngx_strlow(def->host.data, def->host.data, def->host.len);
    }

    def->max_fails = NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_FAILS;
    def->fail_timeout = NGX_HTTP_UPSTREAM_RESOLVE_DEFAULT_FAIL_TIMEOUT;

    for (i = 2; i < nargs; i++) {

        if (args[i].len > 10
            && ngx_strncmp(args[i].data, "max_fails=", 10) == 0)
        {
            n = ngx_atoi(args[i].data + 10, args[i].len - 10);

            if (n == NGX_ERROR) {
                goto bad_param;
            }

            def->max_fails = n;
            continue;
        }

        if (args[i].len > 13
            && ngx_strncmp(args[i].data, "fail_timeout=", 13) == 0)
        {
            s.data = args[i].data + 13;
            s.len = args[i].len - 13;

            def->fail_timeout = ngx_parse_time(&s, 1);

            if (def->fail_timeout == (time_t) NGX_ERROR) {
                goto bad_param;
            }

            continue;
        }

        if (args[i].len == sizeof("least_conn") - 1
            && ngx_strncmp(args[i].data, "least_conn", args[i].len) == 0)
        {
            def->least_conn = 1;
            continue;
        }

        goto bad_param;
    }

    return NGX_OK;

bad_name:

    (void) ngx_slprintf(err, last, "invalid upstream name \"%V\" (1-%d "
                        "characters [A-Za-z0-9_.-])%Z", &args[0],
                        NGX_HTTP_UPSTREAM_RESOLVE_UPSTREAM_MAX);
    return NGX_ERROR;

bad_server:

    (void) ngx_slprintf(err, last, "invalid server \"%V\" (HOST:PORT, HOST a "
                        "name or an address)%Z", &args[1]);
    return NGX_ERROR;

bad_param:

    (void) ngx_slprintf(err, last, "invalid parameter \"%V\"%Z", &args[i]);
    return NGX_ERROR;
}


/* an IPv4 or IPv6 address (no port) into addr->sockaddr, of at least
   NGX_SOCKADDRLEN bytes */

static ngx_int_t
ngx_http_upstream_resolve_parse_ip(u_char *text, size_t len,
    ngx_addr_t *addr)
{
    in_addr_t             inaddr;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct in6_addr       inaddr6;
    struct sockaddr_in6  *sin6;
#endif

    inaddr = ngx_inet_addr(text, len);

    if (inaddr != INADDR_NONE) {
        sin = (struct sockaddr_in *) addr->sockaddr;
        ngx_memzero(sin, sizeof(struct sockaddr_in));
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = inaddr;
        addr->socklen = sizeof(struct sockaddr_in);
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)

    if (len <= NGX_INET6_ADDRSTRLEN
        && ngx_inet6_addr(text, len, inaddr6.s6_addr) == NGX_OK)
    {
        sin6 = (struct sockaddr_in6 *) addr->sockaddr;
        ngx_memzero(sin6, sizeof(struct sockaddr_in6));
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = inaddr6;
        addr->socklen = sizeof(struct sockaddr_in6);
        return NGX_OK;
    }

#endif

    return NGX_ERROR;
}


/* configuration */

ngx_int_t
ngx_http_upstream_resolve_table_zone(ngx_conf_t *cf,
    ngx_http_upstream_resolve_main_conf_t *rmcf, size_t size)
{
    ngx_str_t  name = ngx_string(NGX_HTTP_UPSTREAM_RESOLVE_ZONE_NAME);

    if (size < NGX_HTTP_UPSTREAM_RESOLVE_ZONE_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "resolve_upstreams: zone of %uz bytes is too "
                           "small, at least %uz", size,
                           (size_t) NGX_HTTP_UPSTREAM_RESOLVE_ZONE_MIN);
        return NGX_ERROR;
    }

    rmcf->table_zone = ngx_shared_memory_add(cf, &name, size,
                                            &ngx_http_upstream_resolve_module);
    if (rmcf->table_zone == NULL) {
        return NGX_ERROR;
    }

    if (rmcf->table_zone->data != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_ERROR;
    }

    rmcf->table_zone->init = ngx_http_upstream_resolve_table_init_zone;
    rmcf->table_zone->data = rmcf;

    return NGX_OK;
}


ngx_int_t
ngx_http_upstream_resolve_table_enabled(ngx_conf_t *cf)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_http_conf_get_module_main_conf(cf,
                                            ngx_http_upstream_resolve_module);

    return rmcf->table_zone != NULL;
}


/*
 * In the master (and "nginx -t"), once per configuration.  A zone kept
 * from the previous configuration keeps its entries; a new one is seeded
 * from the state file.
 */

static ngx_int_t
ngx_http_upstream_resolve_table_init_zone(ngx_shm_zone_t *shm_zone,
    void *data)
{
    ngx_slab_pool_t                        *shpool;
    ngx_http_upstream_resolve_registry_t   *reg;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data != NULL) {
        rmcf->registry = data;
        shm_zone->data = data;
        return NGX_OK;
    }

    reg = ngx_slab_calloc(shpool,
                          sizeof(ngx_http_upstream_resolve_registry_t));
    if (reg == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&reg->rbtree, &reg->sentinel, ngx_str_rbtree_insert_value);
    ngx_queue_init(&reg->entries);
    ngx_queue_init(&reg->pending);
    ngx_queue_init(&reg->failed);
    ngx_queue_init(&reg->inflight);

    reg->heap = ngx_slab_alloc(shpool, NGX_HTTP_UPSTREAM_RESOLVE_HEAP_MIN
                                 * sizeof(ngx_http_upstream_resolve_entry_t *));
    if (reg->heap == NULL) {
        return NGX_ERROR;
    }

    reg->heap_size = NGX_HTTP_UPSTREAM_RESOLVE_HEAP_MIN;

    shpool->log_nomem = 0;

    rmcf->registry = reg;
    shm_zone->data = reg;

    if (rmcf->state_file.len && !ngx_test_config) {
        ngx_http_upstream_resolve_state_read(reg, shpool, rmcf,
                                             shm_zone->shm.log);
    }

    return NGX_OK;
}


/*
 * The state file's folder, made by the master and given to the workers'
 * user, as nginx does with its temporary folders (the workers write the
 * file).
 */

ngx_int_t
ngx_http_upstream_resolve_table_paths(ngx_cycle_t *cycle,
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    u_char           *slash;
    ngx_err_t         err;
    ngx_core_conf_t  *ccf;
    ngx_file_info_t   fi;
    u_char            dir[NGX_MAX_PATH];

    if (rmcf->state_file.len == 0) {
        return NGX_OK;
    }

    slash = ngx_strlchr(rmcf->state_file.data,
                        rmcf->state_file.data + rmcf->state_file.len, '/');
    if (slash == NULL) {
        return NGX_OK;
    }

    for (slash = rmcf->state_file.data + rmcf->state_file.len;
         *slash != '/';
         slash--)
    {
        /* void */
    }

    if (slash == rmcf->state_file.data
        || (size_t) (slash - rmcf->state_file.data) >= NGX_MAX_PATH)
    {
        return NGX_OK;
    }

    ngx_cpystrn(dir, rmcf->state_file.data, slash - rmcf->state_file.data + 1);

    if (ngx_create_dir(dir, 0700) == NGX_FILE_ERROR) {
        err = ngx_errno;

        if (err != NGX_EEXIST) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, err,
                          ngx_create_dir_n " \"%s\" failed", dir);
            return NGX_ERROR;
        }
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT || geteuid() != 0) {
        return NGX_OK;
    }

    if (ngx_file_info(dir, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_file_info_n " \"%s\" failed", dir);
        return NGX_ERROR;
    }

    if (fi.st_uid != ccf->user
        && chown((const char *) dir, ccf->user, (gid_t) -1) == -1)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "chown(\"%s\", %d) failed", dir, ccf->user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * attach: a process's table names these upstreams (of each of its parts:
 * the table, or a head's shards), all under one hold of the mutex, so no
 * clean-up ever sees a part not yet attached.  An entries[i] set on the
 * way in is the entry of that name in the table the process uses now (so
 * alive: its number is this process's in the list of users), taken
 * instead of a lookup in the zone: at 100k upstreams the lookups were a
 * fifth of a worker's time to take a new table.
 */

ngx_int_t
ngx_http_upstream_resolve_table_attach(ngx_cycle_t *cycle,
    ngx_str_t *version, ngx_http_upstream_resolve_part_t *parts,
    ngx_uint_t nparts)
{
    ngx_int_t                               rc;
    ngx_uint_t                              i, k, seq, full;
    ngx_slab_pool_t                        *shpool;
    ngx_http_upstream_resolve_registry_t   *reg;
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);
    reg = rmcf->registry;

    if (reg == NULL) {
        for (k = 0; k < nparts; k++) {
            for (i = 0; i < parts[k].n; i++) {
                parts[k].entries[i] = NULL;
            }
        }

        return NGX_DECLINED;
    }

    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;
    full = 0;

    ngx_shmtx_lock(&shpool->mutex);

    if (version->len != reg->version_len
        || ngx_strncmp(version->data, reg->version, version->len) != 0)
    {
        reg->seq++;
        reg->version_len = ngx_min(version->len,
                                   NGX_HTTP_UPSTREAM_RESOLVE_VERSION_MAX);
        ngx_memcpy(reg->version, version->data, reg->version_len);
    }

    seq = reg->seq;

    rc = ngx_http_upstream_resolve_table_user(reg, seq);

    for (k = 0; k < nparts; k++) {
        full += ngx_http_upstream_resolve_table_attach_part(reg, shpool,
                                                            &parts[k], seq,
                                                            rmcf, cycle->log);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "resolve_upstreams: no room for this process in the "
                      "list of users of zone \"%V\": its upstreams are "
                      "never freed", &rmcf->table_zone->shm.name);
    }

    if (full) {
        ngx_log_error(NGX_LOG_ERR, cycle->log, 0,
                      "resolve_upstreams: zone \"%V\" is full, %ui "
                      "upstream(s) of table %V left out (503)",
                      &rmcf->table_zone->shm.name, full, version);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* one part's entries, found or made; the number left out; mutex held */

static ngx_uint_t
ngx_http_upstream_resolve_table_attach_part(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_part_t *part, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_log_t *log)
{
    ngx_uint_t                          i, full;
    ngx_http_upstream_resolve_def_t    *def;
    ngx_http_upstream_resolve_entry_t  *e;

    full = 0;

    for (i = 0; i < part->n; i++) {
        def = &part->defs[i];
        e = part->entries[i];

        if (e == NULL
            || e->name.len != def->name.len
            || ngx_strncmp(e->name.data, def->name.data, e->name.len) != 0)
        {
            e = ngx_http_upstream_resolve_table_find(reg, &def->name);
        }

        if (e == NULL) {
            e = ngx_http_upstream_resolve_table_create(reg, shpool, def, seq,
                                                       rmcf);
            if (e == NULL) {
                full++;
            }

        } else {
            ngx_http_upstream_resolve_table_update(reg, shpool, e, def, seq,
                                                   rmcf, log);
        }

        if (e != NULL) {
            e->last = ngx_max(e->last, seq);
            e->first = ngx_min(e->first, seq);
        }

        part->entries[i] = e;
    }

    return full;
}


ngx_http_upstream_resolve_entry_t *
ngx_http_upstream_resolve_table_find(ngx_http_upstream_resolve_registry_t *reg,
    ngx_str_t *name)
{
    ngx_str_node_t  *node;

    node = ngx_str_rbtree_lookup(&reg->rbtree, name,
                                 ngx_crc32_short(name->data, name->len));

    return (ngx_http_upstream_resolve_entry_t *) node;
}


/* my slot in the list of users, with my table's number; mutex held */

static ngx_int_t
ngx_http_upstream_resolve_table_user(ngx_http_upstream_resolve_registry_t *reg,
    ngx_uint_t seq)
{
    ngx_uint_t                         i;
    ngx_http_upstream_resolve_user_t  *u, *free;

    free = NULL;

    for (i = 0; i < NGX_HTTP_UPSTREAM_RESOLVE_USERS; i++) {
        u = &reg->users[i];

        if (u->pid == ngx_pid) {
            u->seq = seq;
            return NGX_OK;
        }

        if (u->pid == 0 && free == NULL) {
            free = u;
        }
    }

    if (free == NULL) {
        /* the clean-up frees nothing without knowing every user */
        reg->users_lost = 1;
        return NGX_ERROR;
    }

    free->pid = ngx_pid;
    free->seq = seq;

    return NGX_OK;
}


static ngx_http_upstream_resolve_entry_t *
ngx_http_upstream_resolve_table_create(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_def_t *def, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    ngx_http_upstream_resolve_entry_t  *e;

    e = ngx_slab_calloc_locked(shpool,
                               sizeof(ngx_http_upstream_resolve_entry_t)
                               + def->name.len);
    if (e == NULL) {
        return NULL;
    }

    e->name.data = (u_char *) &e[1];
    e->name.len = def->name.len;
    ngx_memcpy(e->name.data, def->name.data, def->name.len);

    e->peers.shpool = shpool;
    e->peers.nhosts = 1;
    e->peers.hosts = &e->host;
    e->peers.state = &e->state;
    e->peers.name = &e->name;
    e->peers.ttl_min = rmcf->table_ttl_min;
    e->peers.ttl_max = rmcf->table_ttl_max;
    e->peers.least_conn = def->least_conn;
    e->peers.table = 1;

    e->host.weight = 1;
    e->host.max_fails = def->max_fails;
    e->host.fail_timeout = def->fail_timeout;

    e->heap = NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP;
    e->first = seq;
    e->last = seq;
    e->def_seq = seq;
    e->created = ngx_current_msec;

    ngx_queue_init(&e->klass);
    ngx_queue_init(&e->inflight);

    if (ngx_http_upstream_resolve_table_set_server(reg, shpool, e, def)
        != NGX_OK)
    {
        ngx_http_upstream_resolve_free_peers(&e->peers);

        if (e->host.server.data) {
            ngx_slab_free_locked(shpool, e->host.server.data);
        }

        ngx_slab_free_locked(shpool, e);
        return NULL;
    }

    e->node.str = e->name;
    e->node.node.key = ngx_crc32_short(e->name.data, e->name.len);
    ngx_rbtree_insert(&reg->rbtree, &e->node.node);

    ngx_queue_insert_tail(&reg->entries, &e->queue);
    reg->nentries++;

    ngx_http_upstream_resolve_table_readiness_set(reg, e);

    return e;
}


/*
 * The entry's server is def's: its strings, a new serial (an answer for
 * the old server is not applied), no peers, and for a name a resolution
 * due now (for an address, that address as the one peer).  Mutex held.
 */

static ngx_int_t
ngx_http_upstream_resolve_table_set_server(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_def_t *def)
{
    u_char      *p;
    ngx_addr_t   addr;
    u_char       buf[NGX_SOCKADDRLEN];

    p = ngx_slab_alloc_locked(shpool, def->server.len + def->host.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (e->host.server.data) {
        ngx_slab_free_locked(shpool, e->host.server.data);
    }

    e->host.server.data = p;
    e->host.server.len = def->server.len;
    e->host.name.data = ngx_cpymem(p, def->server.data, def->server.len);
    e->host.name.len = def->host.len;
    ngx_memcpy(e->host.name.data, def->host.data, def->host.len);
    e->host.port = def->port;

    e->serial = ++reg->serial;
    e->address = def->address;

    /* the old server's peers go (or become zombies), then its state */

    ngx_rwlock_wlock(&e->peers.rwlock);
    (void) ngx_http_upstream_resolve_set_addrs(&e->peers, 0, NULL, 0);
    ngx_rwlock_unlock(&e->peers.rwlock);

    ngx_memzero(&e->state, sizeof(ngx_http_upstream_resolve_state_t));

    if (!ngx_queue_empty(&e->inflight)) {
        ngx_queue_remove(&e->inflight);
        ngx_queue_init(&e->inflight);
    }

    reg->changes++;

    if (def->address) {
        addr.sockaddr = (struct sockaddr *) buf;

        if (ngx_http_upstream_resolve_parse_ip(def->host.data, def->host.len,
                                               &addr)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_http_upstream_resolve_heap_remove(reg, e);

        ngx_rwlock_wlock(&e->peers.rwlock);

        if (ngx_http_upstream_resolve_set_addrs(&e->peers, 0, &addr, 1)
            != NGX_OK)
        {
            ngx_rwlock_unlock(&e->peers.rwlock);
            return NGX_ERROR;
        }

        ngx_rwlock_unlock(&e->peers.rwlock);

        e->state.last = ngx_http_upstream_resolve_now();

        return NGX_OK;
    }

    e->state.next = ngx_current_msec;

    if (e->heap == NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP) {
        return ngx_http_upstream_resolve_heap_push(reg, shpool, e);
    }

    ngx_http_upstream_resolve_heap_up(reg, e->heap);

    return NGX_OK;
}


/* an existing entry named by a table of number seq; mutex held */

static void
ngx_http_upstream_resolve_table_update(
    ngx_http_upstream_resolve_registry_t *reg, ngx_slab_pool_t *shpool,
    ngx_http_upstream_resolve_entry_t *e,
    ngx_http_upstream_resolve_def_t *def, ngx_uint_t seq,
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_log_t *log)
{
    ngx_uint_t                         i;
    ngx_http_upstream_resolve_peer_t  *peer, *list[3];

    /* a table older than the definition's (a race of two reads) loses */

    if (seq < e->def_seq) {
        return;
    }

    e->def_seq = seq;
    e->peers.ttl_min = rmcf->table_ttl_min;
    e->peers.ttl_max = rmcf->table_ttl_max;
    e->peers.least_conn = def->least_conn;

    if (def->port != e->host.port
        || def->server.len != e->host.server.len
        || ngx_strncmp(def->server.data, e->host.server.data,
                       def->server.len)
           != 0)
    {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "upstream \"%V\": server \"%V\" replaces \"%V\", "
                      "resolving it", &e->name, &def->server,
                      &e->host.server);

        if (ngx_http_upstream_resolve_table_set_server(reg, shpool, e, def)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "upstream \"%V\": zone \"%V\" too small for "
                          "server \"%V\"", &e->name,
                          &rmcf->table_zone->shm.name, &def->server);
        }

        ngx_http_upstream_resolve_table_readiness_set(reg, e);
    }

    if (def->max_fails == e->host.max_fails
        && def->fail_timeout == e->host.fail_timeout)
    {
        return;
    }

    e->host.max_fails = def->max_fails;
    e->host.fail_timeout = def->fail_timeout;

    ngx_rwlock_wlock(&e->peers.rwlock);

    list[0] = e->peers.peer;
    list[1] = e->peers.backup;
    list[2] = e->peers.zombies;

    for (i = 0; i < 3; i++) {
        for (peer = list[i]; peer; peer = peer->next) {
            peer->max_fails = def->max_fails;
            peer->fail_timeout = def->fail_timeout;
        }
    }

    ngx_rwlock_unlock(&e->peers.rwlock);
}


/* everything of an entry nobody needs; mutex held */

static void
ngx_http_upstream_resolve_table_free(ngx_http_upstream_resolve_registry_t *reg,
    ngx_slab_pool_t *shpool, ngx_http_upstream_resolve_entry_t *e)
{
    ngx_rbtree_delete(&reg->rbtree, &e->node.node);
    ngx_queue_remove(&e->queue);

    ngx_http_upstream_resolve_table_unclass(reg, e);

    if (!ngx_queue_empty(&e->inflight)) {
        ngx_queue_remove(&e->inflight);
    }

    ngx_http_upstream_resolve_heap_remove(reg, e);
    ngx_http_upstream_resolve_free_peers(&e->peers);

    if (e->host.server.data) {
        ngx_slab_free_locked(shpool, e->host.server.data);
    }

    ngx_slab_free_locked(shpool, e);

    reg->nentries--;
    reg->changes++;
}


/* pending (not resolved yet), ready (addresses) or failed; mutex held */

static void
ngx_http_upstream_resolve_table_readiness_set(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e)
{
    ngx_uint_t  r;

    if (e->state.naddrs) {
        r = NGX_HTTP_UPSTREAM_RESOLVE_READY;

    } else if (e->state.last == 0) {
        r = NGX_HTTP_UPSTREAM_RESOLVE_PENDING;

    } else {
        r = NGX_HTTP_UPSTREAM_RESOLVE_FAILED;
    }

    ngx_http_upstream_resolve_table_unclass(reg, e);

    e->readiness = r;

    if (r == NGX_HTTP_UPSTREAM_RESOLVE_PENDING) {
        ngx_queue_insert_tail(&reg->pending, &e->klass);
        reg->npending++;

    } else if (r == NGX_HTTP_UPSTREAM_RESOLVE_FAILED) {
        ngx_queue_insert_tail(&reg->failed, &e->klass);
        reg->nfailed++;
    }
}


/* out of the pending or failed list; mutex held */

static void
ngx_http_upstream_resolve_table_unclass(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e)
{
    if (ngx_queue_empty(&e->klass)) {
        return;
    }

    ngx_queue_remove(&e->klass);
    ngx_queue_init(&e->klass);

    if (e->readiness == NGX_HTTP_UPSTREAM_RESOLVE_PENDING) {
        reg->npending--;

    } else {
        reg->nfailed--;
    }
}


/* requests */

ngx_uint_t
ngx_http_upstream_resolve_table_readiness(ngx_http_upstream_resolve_entry_t *e)
{
    return e->readiness;
}


/* a request routed to e holds it until its end (see the route module) */

void
ngx_http_upstream_resolve_table_hold(ngx_http_upstream_resolve_entry_t *e)
{
    (void) ngx_atomic_fetch_add(&e->requests, 1);
}


void
ngx_http_upstream_resolve_table_release(ngx_http_upstream_resolve_entry_t *e)
{
    (void) ngx_atomic_fetch_add(&e->requests, -1);
}


void
ngx_http_upstream_resolve_table_count(ngx_cycle_t *cycle, ngx_uint_t waited,
    ngx_uint_t unresolved)
{
    ngx_http_upstream_resolve_main_conf_t  *rmcf;

    rmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                            ngx_http_upstream_resolve_module);

    if (rmcf->registry == NULL) {
        return;
    }

    if (waited) {
        (void) ngx_atomic_fetch_add(&rmcf->registry->waited, waited);
    }

    if (unresolved) {
        (void) ngx_atomic_fetch_add(&rmcf->registry->unresolved, unresolved);
    }
}


/* resolution */

/*
 * Takes up to max due entries off the heap for this worker and fills one
 * job for each (the name copied: the zone's may change while the query is
 * out).  The number of jobs filled.
 */

ngx_uint_t
ngx_http_upstream_resolve_table_claim(
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_msec_t now,
    ngx_http_upstream_resolve_job_t **jobs, ngx_uint_t max)
{
    ngx_uint_t                             n;
    ngx_slab_pool_t                       *shpool;
    ngx_http_upstream_resolve_job_t       *job;
    ngx_http_upstream_resolve_entry_t     *e;
    ngx_http_upstream_resolve_registry_t  *reg;

    reg = rmcf->registry;
    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;
    n = 0;

    ngx_shmtx_lock(&shpool->mutex);

    while (n < max && reg->nheap > 0) {
        e = reg->heap[0];

        if (ngx_http_upstream_resolve_before(now, e->state.next)) {
            break;
        }

        ngx_http_upstream_resolve_heap_remove(reg, e);

        e->state.owner = ngx_pid;
        e->state.claimed = now;
        ngx_queue_insert_tail(&reg->inflight, &e->inflight);

        job = jobs[n++];
        job->entry = e;
        job->serial = e->serial;
        job->shared = &e->peers;
        job->index = 0;
        job->name.data = job->buf;
        job->name.len = e->host.name.len;
        ngx_memcpy(job->buf, e->host.name.data, e->host.name.len);
        job->upstream.data = job->upstream_buf;
        job->upstream.len = e->name.len;
        ngx_memcpy(job->upstream_buf, e->name.data, e->name.len);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return n;
}


/* an answer was applied to e; mutex held */

void
ngx_http_upstream_resolve_table_resolved(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e, ngx_uint_t changed)
{
    ngx_slab_pool_t  *shpool;

    if (!ngx_queue_empty(&e->inflight)) {
        ngx_queue_remove(&e->inflight);
        ngx_queue_init(&e->inflight);
    }

    ngx_http_upstream_resolve_table_readiness_set(reg, e);

    if (changed) {
        reg->changes++;
    }

    shpool = e->peers.shpool;

    if (ngx_http_upstream_resolve_heap_push(reg, shpool, e) != NGX_OK) {

        /* no room to grow the heap: due again after the lease */

        e->state.owner = ngx_pid;
        e->state.claimed = ngx_current_msec;
        ngx_queue_insert_tail(&reg->inflight, &e->inflight);
    }
}


/*
 * Every tick: claims past their lease go back to the heap; once a second
 * (in one worker) the clean-up; after address changes, at most every 2 s,
 * the state file.
 */

void
ngx_http_upstream_resolve_table_tick(
    ngx_http_upstream_resolve_main_conf_t *rmcf)
{
    size_t                                 len;
    u_char                                *text;
    ngx_msec_t                             now, lease;
    ngx_queue_t                           *q, *next;
    ngx_slab_pool_t                       *shpool;
    ngx_http_upstream_resolve_entry_t     *e;
    ngx_http_upstream_resolve_registry_t  *reg;

    reg = rmcf->registry;
    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;
    now = ngx_current_msec;
    lease = rmcf->resolver_timeout + NGX_HTTP_UPSTREAM_RESOLVE_LEASE_SLACK;
    text = NULL;
    len = 0;

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&reg->inflight);
         q != ngx_queue_sentinel(&reg->inflight);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, inflight);

        if (now - e->state.claimed <= lease) {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_init(q);

        e->state.owner = 0;
        e->state.next = now;

        if (ngx_http_upstream_resolve_heap_push(reg, shpool, e) != NGX_OK) {
            e->state.owner = ngx_pid;
            e->state.claimed = now;
            ngx_queue_insert_tail(&reg->inflight, q);
        }
    }

    if (!ngx_http_upstream_resolve_before(now, reg->clean_next)) {
        reg->clean_next = now + NGX_HTTP_UPSTREAM_RESOLVE_CLEAN_EVERY;
        ngx_http_upstream_resolve_table_clean(reg, shpool);
    }

    if (rmcf->state_file.len
        && reg->changes != reg->persisted
        && !ngx_http_upstream_resolve_before(now, reg->persist_next))
    {
        reg->persist_next = now + NGX_HTTP_UPSTREAM_RESOLVE_PERSIST_EVERY;
        reg->persisted = reg->changes;
        text = ngx_http_upstream_resolve_state_text(reg, &len, rmcf->log);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (text != NULL) {
        ngx_http_upstream_resolve_state_write(&rmcf->state_file, text, len,
                                              rmcf->log);
        ngx_free(text);
    }
}


/*
 * Frees the entries nobody needs and the zombies no request holds; mutex
 * held.
 */

static void
ngx_http_upstream_resolve_table_clean(ngx_http_upstream_resolve_registry_t *reg,
    ngx_slab_pool_t *shpool)
{
    ngx_uint_t                          i, n, used;
    ngx_queue_t                        *q, *next;
    ngx_http_upstream_resolve_user_t   *u;
    ngx_http_upstream_resolve_entry_t  *e;
    ngx_uint_t                  seqs[NGX_HTTP_UPSTREAM_RESOLVE_USERS];

    if (reg->users_lost) {
        return;     /* a user was not recorded: nothing is known free */
    }

    n = 0;

    for (i = 0; i < NGX_HTTP_UPSTREAM_RESOLVE_USERS; i++) {
        u = &reg->users[i];

        if (u->pid == 0) {
            continue;
        }

        if (u->pid != ngx_pid && kill(u->pid, 0) == -1
            && ngx_errno == NGX_ESRCH)
        {
            u->pid = 0;     /* died without leaving */
            continue;
        }

        seqs[n++] = u->seq;
    }

    for (q = ngx_queue_head(&reg->entries);
         q != ngx_queue_sentinel(&reg->entries);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, queue);

        if (e->peers.nzombies) {
            ngx_rwlock_wlock(&e->peers.rwlock);
            ngx_http_upstream_resolve_free_zombies(&e->peers);
            ngx_rwlock_unlock(&e->peers.rwlock);
        }

        if (e->last >= reg->seq || e->requests != 0 || e->state.owner != 0) {
            continue;
        }

        used = 0;

        for (i = 0; i < n; i++) {
            if (seqs[i] >= e->first && seqs[i] <= e->last) {
                used = 1;
                break;
            }
        }

        if (!used) {
            ngx_http_upstream_resolve_table_free(reg, shpool, e);
        }
    }
}


/*
 * This worker leaves the cycle: its claims go back to the heap, due now;
 * at the end of the process (gone) also its place among the users.
 */

void
ngx_http_upstream_resolve_table_exit(
    ngx_http_upstream_resolve_main_conf_t *rmcf, ngx_uint_t gone)
{
    ngx_uint_t                             i;
    ngx_queue_t                           *q, *next;
    ngx_slab_pool_t                       *shpool;
    ngx_http_upstream_resolve_entry_t     *e;
    ngx_http_upstream_resolve_registry_t  *reg;

    reg = rmcf->registry;
    shpool = (ngx_slab_pool_t *) rmcf->table_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    for (q = ngx_queue_head(&reg->inflight);
         q != ngx_queue_sentinel(&reg->inflight);
         q = next)
    {
        next = ngx_queue_next(q);
        e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, inflight);

        if (e->state.owner != ngx_pid) {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_init(q);

        e->state.owner = 0;
        e->state.next = ngx_current_msec;

        if (ngx_http_upstream_resolve_heap_push(reg, shpool, e) != NGX_OK) {
            /* taken over after the lease */
            e->state.owner = ngx_pid;
            ngx_queue_insert_tail(&reg->inflight, q);
        }
    }

    for (i = 0; gone && i < NGX_HTTP_UPSTREAM_RESOLVE_USERS; i++) {
        if (reg->users[i].pid == ngx_pid) {
            reg->users[i].pid = 0;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);
}


/* the heap of due times; mutex held */

static ngx_int_t
ngx_http_upstream_resolve_heap_push(ngx_http_upstream_resolve_registry_t *reg,
    ngx_slab_pool_t *shpool, ngx_http_upstream_resolve_entry_t *e)
{
    ngx_uint_t                           size;
    ngx_http_upstream_resolve_entry_t  **heap;

    if (e->heap != NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP) {
        ngx_http_upstream_resolve_heap_up(reg, e->heap);
        ngx_http_upstream_resolve_heap_down(reg, e->heap);
        return NGX_OK;
    }

    if (reg->nheap == reg->heap_size) {
        size = 2 * reg->heap_size;

        heap = ngx_slab_alloc_locked(shpool, size * sizeof(*heap));
        if (heap == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(heap, reg->heap, reg->nheap * sizeof(*heap));
        ngx_slab_free_locked(shpool, reg->heap);

        reg->heap = heap;
        reg->heap_size = size;
    }

    e->heap = reg->nheap++;
    reg->heap[e->heap] = e;

    ngx_http_upstream_resolve_heap_up(reg, e->heap);

    return NGX_OK;
}


static void
ngx_http_upstream_resolve_heap_remove(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_http_upstream_resolve_entry_t *e)
{
    ngx_uint_t                          i;
    ngx_http_upstream_resolve_entry_t  *last;

    i = e->heap;

    if (i == NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP) {
        return;
    }

    e->heap = NGX_HTTP_UPSTREAM_RESOLVE_NO_HEAP;
    last = reg->heap[--reg->nheap];

    if (last == e) {
        return;
    }

    reg->heap[i] = last;
    last->heap = i;

    ngx_http_upstream_resolve_heap_up(reg, i);
    ngx_http_upstream_resolve_heap_down(reg, last->heap);
}


static void
ngx_http_upstream_resolve_heap_up(ngx_http_upstream_resolve_registry_t *reg,
    ngx_uint_t i)
{
    ngx_uint_t                          parent;
    ngx_http_upstream_resolve_entry_t  *e;

    e = reg->heap[i];

    while (i > 0) {
        parent = (i - 1) / 2;

        if (!ngx_http_upstream_resolve_before(e->state.next,
                                              reg->heap[parent]->state.next))
        {
            break;
        }

        reg->heap[i] = reg->heap[parent];
        reg->heap[i]->heap = i;
        i = parent;
    }

    reg->heap[i] = e;
    e->heap = i;
}


static void
ngx_http_upstream_resolve_heap_down(ngx_http_upstream_resolve_registry_t *reg,
    ngx_uint_t i)
{
    ngx_uint_t                          child;
    ngx_http_upstream_resolve_entry_t  *e;

    e = reg->heap[i];

    for ( ;; ) {
        child = 2 * i + 1;

        if (child >= reg->nheap) {
            break;
        }

        if (child + 1 < reg->nheap
            && ngx_http_upstream_resolve_before(
                   reg->heap[child + 1]->state.next,
                   reg->heap[child]->state.next))
        {
            child++;
        }

        if (!ngx_http_upstream_resolve_before(reg->heap[child]->state.next,
                                              e->state.next))
        {
            break;
        }

        reg->heap[i] = reg->heap[child];
        reg->heap[i]->heap = i;
        i = child;
    }

    reg->heap[i] = e;
    e->heap = i;
}


/* the state file */

/*
 * "portico-upstreams-state 1", then one line per upstream with addresses:
 * "NAME HOST:PORT ADDRESS...", the addresses without port.  Mutex held;
 * NULL when there is nothing to write or no memory (logged).
 */

static u_char *
ngx_http_upstream_resolve_state_text(ngx_http_upstream_resolve_registry_t *reg,
    size_t *len, ngx_log_t *log)
{
    u_char                             *text, *p;
    size_t                              size;
    ngx_queue_t                        *q;
    ngx_http_upstream_resolve_peer_t   *peer;
    ngx_http_upstream_resolve_entry_t  *e;

    size = sizeof(NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD) - 1;

    for (q = ngx_queue_head(&reg->entries);
         q != ngx_queue_sentinel(&reg->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, queue);

        if (e->state.naddrs && !e->address) {
            size += e->name.len + e->host.server.len + sizeof("  \n")
                    + e->state.naddrs * (NGX_SOCKADDR_STRLEN + 1);
        }
    }

    text = ngx_alloc(size, log);
    if (text == NULL) {
        return NULL;
    }

    p = ngx_cpymem(text, NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD,
                   sizeof(NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD) - 1);

    for (q = ngx_queue_head(&reg->entries);
         q != ngx_queue_sentinel(&reg->entries);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_upstream_resolve_entry_t, queue);

        if (e->state.naddrs == 0 || e->address) {
            continue;
        }

        p = ngx_sprintf(p, "%V %V", &e->name, &e->host.server);

        for (peer = e->peers.peer; peer; peer = peer->next) {
            *p++ = ' ';
            p += ngx_sock_ntop(&peer->sockaddr.sockaddr, peer->socklen, p,
                               NGX_SOCKADDR_STRLEN, 0);
        }

        *p++ = '\n';
    }

    *len = p - text;

    return text;
}


static void
ngx_http_upstream_resolve_state_write(ngx_str_t *file, u_char *text,
    size_t len, ngx_log_t *log)
{
    ngx_fd_t  fd;
    ssize_t   n;
    u_char    tmp[NGX_MAX_PATH];

    if (ngx_snprintf(tmp, NGX_MAX_PATH - 1, "%V.%P.tmp%Z", file, ngx_pid)
        == tmp + NGX_MAX_PATH - 1)
    {
        return;
    }

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "resolve_upstreams: " ngx_open_file_n " \"%s\" "
                      "failed", tmp);
        return;
    }

    n = ngx_write_fd(fd, text, len);

    if (ngx_close_file(fd) == NGX_FILE_ERROR || n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "resolve_upstreams: writing \"%s\" failed", tmp);
        (void) ngx_delete_file(tmp);
        return;
    }

    if (ngx_rename_file(tmp, file->data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "resolve_upstreams: " ngx_rename_file_n " \"%s\" to "
                      "\"%V\" failed", tmp, file);
        (void) ngx_delete_file(tmp);
    }
}


/*
 * Seeds a new zone from the state file: an entry per line, with its
 * addresses, due for resolution now.  A missing file is not an error; a
 * line that does not parse is skipped (logged once with the count).
 */

static void
ngx_http_upstream_resolve_state_read(ngx_http_upstream_resolve_registry_t *reg,
    ngx_slab_pool_t *shpool, ngx_http_upstream_resolve_main_conf_t *rmcf,
    ngx_log_t *log)
{
    u_char           *text, *p, *nl, *end;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_uint_t        lines, bad;
    ngx_file_info_t   fi;

    fd = ngx_open_file(rmcf->state_file.data, NGX_FILE_RDONLY
                       |NGX_FILE_NONBLOCK, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                          "resolve_upstreams: " ngx_open_file_n " \"%V\" "
                          "failed, resolving every upstream anew",
                          &rmcf->state_file);
        }

        return;
    }

    text = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !ngx_is_file(&fi)
        || ngx_file_size(&fi) > NGX_HTTP_UPSTREAM_RESOLVE_STATE_MAX)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "resolve_upstreams: \"%V\" is not a regular file of "
                      "at most %uz bytes, not read", &rmcf->state_file,
                      (size_t) NGX_HTTP_UPSTREAM_RESOLVE_STATE_MAX);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    text = ngx_alloc(size + 1, log);
    if (text == NULL) {
        goto done;
    }

    n = ngx_read_fd(fd, text, size);

    if (n != (ssize_t) size
        || size < sizeof(NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD) - 1
        || ngx_strncmp(text, NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD,
                       sizeof(NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD) - 1)
           != 0)
    {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "resolve_upstreams: \"%V\" is not a state file, "
                      "not read", &rmcf->state_file);
        goto done;
    }

    end = text + size;
    lines = 0;
    bad = 0;

    for (p = text + sizeof(NGX_HTTP_UPSTREAM_RESOLVE_STATE_HEAD) - 1;
         p < end;
         p = nl + 1)
    {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            bad++;      /* cut short */
            break;
        }

        lines++;

        if (ngx_http_upstream_resolve_state_line(reg, shpool, rmcf, p, nl)
            != NGX_OK)
        {
            bad++;
        }
    }

    if (bad) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "resolve_upstreams: %ui upstream(s) seeded from "
                      "\"%V\", %ui line(s) skipped", lines - bad,
                      &rmcf->state_file, bad);

    } else {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "resolve_upstreams: %ui upstream(s) seeded from "
                      "\"%V\"", lines, &rmcf->state_file);
    }

done:

    if (text != NULL) {
        ngx_free(text);
    }

    (void) ngx_close_file(fd);
}


static ngx_int_t
ngx_http_upstream_resolve_state_line(
    ngx_http_upstream_resolve_registry_t *reg,
    ngx_slab_pool_t *shpool, ngx_http_upstream_resolve_main_conf_t *rmcf,
    u_char *p, u_char *last)
{
    u_char                             *start;
    ngx_int_t                           rc;
    ngx_uint_t                          n, i;
    ngx_addr_t                         *addrs;
    ngx_http_upstream_resolve_def_t     def;
    ngx_http_upstream_resolve_entry_t  *e;
    u_char                              err[NGX_MAX_ERROR_STR];
    ngx_str_t                           words[NGX_HTTP_UPSTREAM_RESOLVE_WORDS];

    n = 0;

    while (p < last && n < NGX_HTTP_UPSTREAM_RESOLVE_WORDS) {
        start = p;

        while (p < last && *p != ' ') {
            p++;
        }

        words[n].data = start;
        words[n].len = p - start;
        n++;

        if (p < last) {
            p++;
        }
    }

    if (n < 3
        || ngx_http_upstream_resolve_parse_def(words, 2, &def, err,
                                               sizeof(err))
           != NGX_OK
        || def.address
        || ngx_http_upstream_resolve_table_find(reg, &def.name) != NULL)
    {
        return NGX_ERROR;
    }

    addrs = ngx_alloc((n - 2) * (sizeof(ngx_addr_t) + NGX_SOCKADDRLEN),
                      ngx_cycle->log);
    if (addrs == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    for (i = 0; i < n - 2; i++) {
        addrs[i].sockaddr = (struct sockaddr *)
                            ((u_char *) &addrs[n - 2] + i * NGX_SOCKADDRLEN);

        if (ngx_http_upstream_resolve_parse_ip(words[2 + i].data,
                                               words[2 + i].len, &addrs[i])
            != NGX_OK)
        {
            goto done;
        }
    }

    /* number 0: no table had it yet; attach() or the clean-up decide */

    e = ngx_http_upstream_resolve_table_create(reg, shpool, &def, 0, rmcf);
    if (e == NULL) {
        goto done;
    }

    if (ngx_http_upstream_resolve_set_addrs(&e->peers, 0, addrs, n - 2)
        == NGX_OK)
    {
        ngx_http_upstream_resolve_table_readiness_set(reg, e);
        rc = NGX_OK;
    }

done:

    ngx_free(addrs);

    return rc;
}
