
/*
 * ngx_http_portico_route_module: the route table file (docs/routes.md,
 * "Table format, version 1"): reading, checking, lookup.
 *
 * A table lives in its own pool: the file's bytes are read once into it and
 * every name and path of the table points into them.  Hosts are found in
 * open-addressing tables (O(1) at any number of hosts); the rules of a host
 * are the slice of one array that its section covers.
 */


#include "ngx_http_portico_route_module.h"


/* a rule, its target, profile and words (docs/routes.md) */
#define NGX_HTTP_PORTICO_ROUTES_FIELDS_MAX   32

/* a host with more rules than this gets an index by path */
#define NGX_HTTP_PORTICO_ROUTES_INDEX_MIN    16

#define ngx_http_portico_route_is(s, lit)                                     \
    ((s)->len == sizeof(lit) - 1                                              \
     && ngx_strncmp((s)->data, lit, sizeof(lit) - 1) == 0)


typedef struct {
    ngx_http_portico_route_table_t  *table;
    ngx_http_portico_route_refs_t   *refs;
    ngx_http_portico_route_error_t  *err;
    ngx_log_t                       *log;

    /* a head: its folder (for the shards' files), the table in use */
    ngx_str_t                        dir;
    ngx_http_portico_route_table_t  *current;

    /* a shard file: its number and the head's count of shards */
    ngx_uint_t                       shard;
    ngx_uint_t                       nshards;
    unsigned                         is_shard:1;

    ngx_http_portico_route_host_t   *hosts;     /* [maxhosts] */
    ngx_uint_t                       nhosts;
    ngx_http_portico_route_host_t   *host;      /* current section */
    ngx_uint_t                       nrules;

    ngx_uint_t                       format;    /* line 1: 1, 2 or 3 (a
                                                   head); a shard: 2 */
    ngx_uint_t                       maxups;

    ngx_uint_t                       line;
    ngx_uint_t                       nfields;
    ngx_str_t                        field[NGX_HTTP_PORTICO_ROUTES_FIELDS_MAX];
} ngx_http_portico_route_parse_t;


static ngx_int_t ngx_http_portico_route_parse(
    ngx_http_portico_route_parse_t *ps, ngx_str_t *text);
static ngx_int_t ngx_http_portico_route_split(
    ngx_http_portico_route_parse_t *ps, u_char *p, u_char *last);
static ngx_int_t ngx_http_portico_route_parse_line(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_format(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_config(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_shards(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_shard(
    ngx_http_portico_route_parse_t *ps);
static ngx_http_portico_route_table_t *ngx_http_portico_route_shard_load(
    ngx_http_portico_route_parse_t *head, ngx_str_t *file, ngx_uint_t shard);
static ngx_int_t ngx_http_portico_route_shard_check(
    ngx_http_portico_route_parse_t *ps);
static ngx_uint_t ngx_http_portico_route_shard_of(
    ngx_http_portico_route_table_t *head, char *prefix, u_char *name,
    size_t len);
static void ngx_http_portico_route_shards_release(void *data);
static ngx_http_portico_route_table_t *ngx_http_portico_route_part(
    ngx_http_portico_route_table_t *table, char *prefix, u_char *name,
    size_t len);
static ngx_int_t ngx_http_portico_route_parse_host(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_upstream(
    ngx_http_portico_route_parse_t *ps);
static ngx_int_t ngx_http_portico_route_parse_rule(
    ngx_http_portico_route_parse_t *ps, ngx_uint_t type);
static ngx_int_t ngx_http_portico_route_parse_target(
    ngx_http_portico_route_parse_t *ps, ngx_uint_t first,
    ngx_http_portico_route_target_t *target);
static ngx_int_t ngx_http_portico_route_parse_words(
    ngx_http_portico_route_parse_t *ps, ngx_str_t *word, ngx_uint_t n,
    ngx_http_portico_route_target_t *target);
static ngx_int_t ngx_http_portico_route_index(
    ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_host_t *host);
static ngx_http_portico_route_path_t *ngx_http_portico_route_index_find(
    ngx_http_portico_route_index_t *index, ngx_uint_t hash, u_char *path,
    size_t len);
static ngx_http_portico_route_target_t *ngx_http_portico_route_find_indexed(
    ngx_http_portico_route_host_t *host, ngx_http_portico_route_rule_t *rule,
    ngx_str_t *uri);


/* the path of a "default" rule, for its affinity cookie */
static ngx_str_t  ngx_http_portico_slash = ngx_string("/");


/* load */

ngx_http_portico_route_table_t *
ngx_http_portico_route_table_load(ngx_str_t *file,
    ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *current, ngx_log_t *log,
    ngx_http_portico_route_error_t *err)
{
    u_char                           *slash;
    ngx_str_t                         text;
    ngx_pool_t                       *pool;
    ngx_http_portico_route_parse_t    ps;
    ngx_http_portico_route_table_t   *table;
    ngx_http_portico_route_file_id_t  id;

    pool = ngx_http_portico_read_table(file, NGX_HTTP_PORTICO_ROUTES_FILE_MAX,
                                       log, &text, &id, err);
    if (pool == NULL) {
        return NULL;
    }

    table = ngx_pcalloc(pool, sizeof(ngx_http_portico_route_table_t));
    if (table == NULL) {
        (void) ngx_http_portico_route_fail(err, 0, "out of memory");
        goto failed;
    }

    table->pool = pool;
    table->id = id;
    table->https_port = NGX_HTTP_PORTICO_ROUTES_HTTPS_PORT;

    ngx_memzero(&ps, sizeof(ngx_http_portico_route_parse_t));

    ps.table = table;
    ps.refs = refs;
    ps.err = err;
    ps.log = log;
    ps.current = current;

    /* the folder of the file, with its "/" (file is NUL-terminated) */

    slash = (u_char *) ngx_strchr(file->data, '/');
    ps.dir.data = file->data;
    ps.dir.len = 0;

    while (slash != NULL) {
        ps.dir.len = slash + 1 - file->data;
        slash = (u_char *) ngx_strchr(slash + 1, '/');
    }

    if (ngx_http_portico_route_parse(&ps, &text) != NGX_OK) {
        goto failed;
    }

    return table;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


void
ngx_http_portico_route_table_free(ngx_http_portico_route_table_t *table)
{
    if (table != NULL) {
        ngx_destroy_pool(table->pool);
    }
}


/* parse */

static ngx_int_t
ngx_http_portico_route_parse(ngx_http_portico_route_parse_t *ps,
    ngx_str_t *text)
{
    u_char                          *p, *nl, *end;
    ngx_uint_t                       i, nlines, maxhosts, maxwild;
    ngx_http_portico_route_table_t  *table;

    table = ps->table;
    end = text->data + text->len;

    /* bounds for the arrays, from a first pass over the lines */

    nlines = 0;
    maxhosts = 0;
    maxwild = 0;

    /* memchr, not ngx_strlchr: a byte loop was most of this pass at 10k */

    for (p = text->data; p < end; p = nl + 1) {
        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            break;
        }

        nlines++;

        if (nl - p > 9 && ngx_strncmp(p, "upstream ", 9) == 0) {
            ps->maxups++;
        }

        if (nl - p > 5 && ngx_strncmp(p, "host ", 5) == 0) {
            maxhosts++;

            if (nl - p > 7 && p[5] == '*' && p[6] == '.') {
                maxwild++;
            }
        }
    }

    table->rules = ngx_palloc(table->pool,
                              (nlines + 1)
                              * sizeof(ngx_http_portico_route_rule_t));
    ps->hosts = ngx_palloc(table->pool,
                           (maxhosts + 1)
                           * sizeof(ngx_http_portico_route_host_t));

    table->upstreams = ngx_palloc(table->pool,
                                  (ps->maxups + 1)
                                  * sizeof(ngx_http_upstream_resolve_def_t));
    table->entries = ngx_pcalloc(table->pool,
                                 (ps->maxups + 1)
                                 * sizeof(ngx_http_upstream_resolve_entry_t *));

    if (table->rules == NULL || ps->hosts == NULL
        || table->upstreams == NULL || table->entries == NULL
        || ngx_http_portico_route_names_init(&table->upstream_names,
                                             table->pool, ps->maxups)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->hosts, table->pool,
                                             maxhosts)
           != NGX_OK
        || ngx_http_portico_route_names_init(&table->wildcards, table->pool,
                                             maxwild)
           != NGX_OK)
    {
        return ngx_http_portico_route_fail(ps->err, 0, "out of memory");
    }

    for (p = text->data; p < end; p = nl + 1) {
        ps->line++;

        nl = memchr(p, '\n', end - p);
        if (nl == NULL) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "no newline at the end of "
                                               "the last line");
        }

        if (nl - p > NGX_HTTP_PORTICO_ROUTES_LINE_MAX) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "line longer than %d bytes",
                                             NGX_HTTP_PORTICO_ROUTES_LINE_MAX);
        }

        if (ngx_http_portico_route_split(ps, p, nl) != NGX_OK) {
            return NGX_ERROR;
        }

        if (ngx_http_portico_route_parse_line(ps) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ps->line == 0) {
        return ngx_http_portico_route_fail(ps->err, 1,
                                           ps->is_shard
                                           ? "empty file, expected "
                                             "\"portico-routes-shard 1\""
                                           : "empty file, expected "
                                             "\"portico-routes 1\"");
    }

    if (ps->line < 2 && !ps->is_shard) {
        return ngx_http_portico_route_fail(ps->err, ps->line + 1,
                                           "expected \"version V\"");
    }

    if (ps->format == 3 && table->nshards == 0) {
        return ngx_http_portico_route_fail(ps->err, ps->line + 1,
                                           "expected \"shards N\"");
    }

    for (i = 0; i < ps->nhosts; i++) {
        ps->hosts[i].rules = &table->rules[ps->hosts[i].first];
    }

    if (ps->is_shard && ngx_http_portico_route_shard_check(ps) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < ps->nhosts; i++) {
        /* regex rules are tried in file order among the others */

        if (ps->hosts[i].nrules > NGX_HTTP_PORTICO_ROUTES_INDEX_MIN
            && !ps->hosts[i].regex
            && ngx_http_portico_route_index(table, &ps->hosts[i]) != NGX_OK)
        {
            return ngx_http_portico_route_fail(ps->err, 0, "out of memory");
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_route_index(ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_host_t *host)
{
    size_t                           j;
    ngx_uint_t                       i, k, size, hash, *first;
    ngx_http_portico_route_path_t   *e;
    ngx_http_portico_route_rule_t   *rule;
    ngx_http_portico_route_index_t  *index;

    index = ngx_palloc(table->pool, sizeof(ngx_http_portico_route_index_t));
    if (index == NULL) {
        return NGX_ERROR;
    }

    size = NGX_HTTP_PORTICO_ROUTES_NAMES_MIN;

    while (size < 2 * host->nrules) {
        size <<= 1;
    }

    index->slots = ngx_pcalloc(table->pool,
                               size * sizeof(ngx_http_portico_route_path_t));
    index->lengths = ngx_pcalloc(table->pool,
                                 NGX_HTTP_PORTICO_ROUTES_PATH_MAX / 8 + 1);

    if (index->slots == NULL || index->lengths == NULL) {
        return NGX_ERROR;
    }

    index->mask = size - 1;

    rule = &table->rules[host->first];

    for (i = 0; i < host->nrules; i++) {

        hash = 0;

        for (j = 0; j < rule[i].path.len; j++) {
            hash = ngx_hash(hash, rule[i].path.data[j]);
        }

        e = ngx_http_portico_route_index_find(index, hash, rule[i].path.data,
                                              rule[i].path.len);

        if (e == NULL) {
            for (k = hash & index->mask;
                 index->slots[k].path.data != NULL;
                 k = (k + 1) & index->mask)
            {
                /* void */
            }

            e = &index->slots[k];
            e->path = rule[i].path;
            e->hash = hash;
        }

        switch (rule[i].type) {

        case NGX_HTTP_PORTICO_ROUTE_EXACT:
            first = &e->exact;
            break;

        case NGX_HTTP_PORTICO_ROUTE_PREFIX:
            first = &e->prefix;
            break;

        default: /* NGX_HTTP_PORTICO_ROUTE_PLAIN */
            first = &e->plain;
            break;
        }

        if (*first == 0) {
            *first = i + 1;
        }

        j = rule[i].path.len;
        index->lengths[j / 8] |= (u_char) (1 << (j % 8));
    }

    host->index = index;

    return NGX_OK;
}


static ngx_http_portico_route_path_t *
ngx_http_portico_route_index_find(ngx_http_portico_route_index_t *index,
    ngx_uint_t hash, u_char *path, size_t len)
{
    ngx_uint_t                      k;
    ngx_http_portico_route_path_t  *e;

    for (k = hash & index->mask; /* void */ ; k = (k + 1) & index->mask) {
        e = &index->slots[k];

        if (e->path.data == NULL) {
            return NULL;
        }

        if (e->hash == hash && e->path.len == len
            && ngx_memcmp(e->path.data, path, len) == 0)
        {
            return e;
        }
    }
}


static ngx_int_t
ngx_http_portico_route_split(ngx_http_portico_route_parse_t *ps, u_char *p,
    u_char *last)
{
    return ngx_http_portico_split(p, last, ps->field,
                                  NGX_HTTP_PORTICO_ROUTES_FIELDS_MAX,
                                  &ps->nfields, ps->line, ps->err);
}


static ngx_int_t
ngx_http_portico_route_parse_line(ngx_http_portico_route_parse_t *ps)
{
    ngx_int_t                        n;
    ngx_str_t                       *f;
    ngx_http_portico_route_table_t  *table;

    f = ps->field;
    table = ps->table;

    if (ps->line == 1) {
        return ngx_http_portico_route_parse_format(ps);
    }

    if (ps->is_shard) {

        /* a shard: host sections and their upstreams, nothing else */

        if (ngx_http_portico_route_is(&f[0], "version")
            || ngx_http_portico_route_is(&f[0], "config")
            || ngx_http_portico_route_is(&f[0], "https-port")
            || ngx_http_portico_route_is(&f[0], "shards")
            || ngx_http_portico_route_is(&f[0], "shard"))
        {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "\"%V\" belongs in the "
                                               "head, not in a shard",
                                               &f[0]);
        }

    } else if (ps->line == 2) {
        if (ps->nfields != 2 || !ngx_http_portico_route_is(&f[0], "version")
            || f[1].len > NGX_HTTP_PORTICO_ROUTES_VERSION_MAX)
        {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "expected \"version V\", "
                                               "V of 1-%d characters",
                                          NGX_HTTP_PORTICO_ROUTES_VERSION_MAX);
        }

        if (ngx_http_portico_route_check_token(&f[1],
                                          NGX_HTTP_PORTICO_ROUTES_VERSION_MAX)
            != NGX_OK)
        {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "invalid version \"%V\", "
                                               "[0-9a-z] expected", &f[1]);
        }

        table->version = f[1];

        return NGX_OK;
    }

    if (ngx_http_portico_route_is(&f[0], "config")) {
        return ngx_http_portico_route_parse_config(ps);
    }

    if (ngx_http_portico_route_is(&f[0], "https-port")) {
        if (ps->line != 3 + (table->config.len != 0)) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "\"https-port\" must be "
                                               "line 3, or 4 after "
                                               "\"config\"");
        }

        n = (ps->nfields == 2) ? ngx_atoi(f[1].data, f[1].len) : NGX_ERROR;

        if (n < 1 || n > 65535) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "expected \"https-port N\", "
                                               "N in 1-65535");
        }

        table->https_port = n;

        return NGX_OK;
    }

    if (ps->format == 3) {

        /* a head: its shards, no routes */

        if (ngx_http_portico_route_is(&f[0], "shards")) {
            return ngx_http_portico_route_parse_shards(ps);
        }

        if (ngx_http_portico_route_is(&f[0], "shard")) {
            return ngx_http_portico_route_parse_shard(ps);
        }

        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"%V\" in a head (format 3): "
                                           "expected \"shards N\" or "
                                           "\"shard I NAME\"", &f[0]);
    }

    if (ngx_http_portico_route_is(&f[0], "upstream")) {
        return ngx_http_portico_route_parse_upstream(ps);
    }

    if (ngx_http_portico_route_is(&f[0], "host")) {
        return ngx_http_portico_route_parse_host(ps);
    }

    if (ngx_http_portico_route_is(&f[0], "exact")) {
        return ngx_http_portico_route_parse_rule(ps,
                                                NGX_HTTP_PORTICO_ROUTE_EXACT);
    }

    if (ngx_http_portico_route_is(&f[0], "prefix")) {
        return ngx_http_portico_route_parse_rule(ps,
                                               NGX_HTTP_PORTICO_ROUTE_PREFIX);
    }

    if (ngx_http_portico_route_is(&f[0], "plain")) {
        return ngx_http_portico_route_parse_rule(ps,
                                                NGX_HTTP_PORTICO_ROUTE_PLAIN);
    }

    if (ngx_http_portico_route_is(&f[0], "regex")) {
        return ngx_http_portico_route_parse_rule(ps,
                                                NGX_HTTP_PORTICO_ROUTE_REGEX);
    }

    if (ngx_http_portico_route_is(&f[0], "default")) {

        if (ps->host == NULL) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "rule before the first "
                                               "\"host\" line");
        }

        if (ps->host->has_default) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "second \"default\" for "
                                               "this host");
        }

        if (ps->nfields < 2) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "expected \"default TARGET\"");
        }

        if (ngx_http_portico_route_parse_target(ps, 1, &ps->host->deflt)
            != NGX_OK
            || ngx_http_portico_route_affinity_check(&ps->host->deflt,
                                                     &ngx_http_portico_slash,
                                                     0, ps->table, ps->line,
                                                     ps->err)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ps->host->has_default = 1;

        return NGX_OK;
    }

    return ngx_http_portico_route_fail(ps->err, ps->line,
                                       "unknown keyword \"%V\"", &f[0]);
}


/* line 1: "portico-routes 1|2|3", or "portico-routes-shard 1" */

static ngx_int_t
ngx_http_portico_route_parse_format(ngx_http_portico_route_parse_t *ps)
{
    ngx_str_t  *f;

    f = ps->field;

    if (ps->is_shard) {
        if (ps->nfields != 2
            || !ngx_http_portico_route_is(&f[0], "portico-routes-shard")
            || !ngx_http_portico_route_is(&f[1], "1"))
        {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "expected "
                                               "\"portico-routes-shard 1\"");
        }

        return NGX_OK;
    }

    if (ps->nfields != 2 || !ngx_http_portico_route_is(&f[0],
                                                       "portico-routes"))
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"portico-routes 1\"");
    }

    if (ngx_http_portico_route_is(&f[1], "1")) {
        ps->format = 1;

    } else if (ngx_http_portico_route_is(&f[1], "2")) {
        ps->format = 2;

    } else if (ngx_http_portico_route_is(&f[1], "3")) {
        ps->format = 3;

    } else {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "unsupported table format "
                                           "\"%V\", expected 1, 2 or 3",
                                           &f[1]);
    }

    return NGX_OK;
}


/* a head's "shards N": N a power of two, before any "shard" line */

static ngx_int_t
ngx_http_portico_route_parse_shards(ngx_http_portico_route_parse_t *ps)
{
    ngx_int_t                        n;
    ngx_pool_cleanup_t              *cln;
    ngx_http_portico_route_table_t  *table;

    table = ps->table;

    if (table->nshards) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "second \"shards\" line");
    }

    n = (ps->nfields == 2) ? ngx_atoi(ps->field[1].data, ps->field[1].len)
                           : NGX_ERROR;

    if (n < 1 || n > NGX_HTTP_PORTICO_ROUTES_SHARDS_MAX || (n & (n - 1))) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"shards N\", N a power "
                                           "of two up to %d",
                                           NGX_HTTP_PORTICO_ROUTES_SHARDS_MAX);
    }

    table->shards = ngx_pcalloc(table->pool,
                                n * sizeof(ngx_http_portico_route_table_t *));
    cln = ngx_pool_cleanup_add(table->pool, 0);

    if (table->shards == NULL || cln == NULL) {
        return ngx_http_portico_route_fail(ps->err, 0, "out of memory");
    }

    /* the head's shards go with it, on any path */

    cln->handler = ngx_http_portico_route_shards_release;
    cln->data = table;

    table->nshards = n;

    return NGX_OK;
}


/*
 * A head's "shard I NAME": the shard file PATH/routes.d/NAME, taken from
 * the table in use when it has the same file at the same place (a shard's
 * name is its content's: the controller never writes another content
 * under it), else read.
 */

static ngx_int_t
ngx_http_portico_route_parse_shard(ngx_http_portico_route_parse_t *ps)
{
    u_char                            *p;
    ngx_int_t                          i;
    ngx_str_t                         *f, file;
    ngx_uint_t                         k;
    ngx_file_info_t                    fi;
    ngx_http_portico_route_file_id_t   id;
    ngx_http_portico_route_table_t    *table, *shard, *cur;

    f = ps->field;
    table = ps->table;

    if (table->nshards == 0) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"shard\" before \"shards N\"");
    }

    i = (ps->nfields == 3) ? ngx_atoi(f[1].data, f[1].len) : NGX_ERROR;

    if (i == NGX_ERROR || (ngx_uint_t) i >= table->nshards
        || f[2].len == 0 || f[2].len > NGX_HTTP_PORTICO_ROUTES_SHARD_NAME_MAX)
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"shard I NAME\", I "
                                           "below %ui, NAME of 1-%d [0-9a-z]",
                                           table->nshards,
                                     NGX_HTTP_PORTICO_ROUTES_SHARD_NAME_MAX);
    }

    for (k = 0; k < f[2].len; k++) {
        if (!((f[2].data[k] >= '0' && f[2].data[k] <= '9')
              || (f[2].data[k] >= 'a' && f[2].data[k] <= 'z')))
        {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "invalid shard name \"%V\", "
                                               "[0-9a-z] expected", &f[2]);
        }
    }

    if (table->shards[i] != NULL) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "second \"shard %i\"", i);
    }

    file.len = ps->dir.len + sizeof(NGX_HTTP_PORTICO_ROUTES_SHARD_DIR) - 1
               + f[2].len;
    file.data = ngx_pnalloc(table->pool, file.len + 1);
    if (file.data == NULL) {
        return ngx_http_portico_route_fail(ps->err, 0, "out of memory");
    }

    p = ngx_cpymem(file.data, ps->dir.data, ps->dir.len);
    p = ngx_cpymem(p, NGX_HTTP_PORTICO_ROUTES_SHARD_DIR,
                   sizeof(NGX_HTTP_PORTICO_ROUTES_SHARD_DIR) - 1);
    p = ngx_cpymem(p, f[2].data, f[2].len);
    *p = '\0';

    cur = ps->current;
    shard = NULL;

    if (cur != NULL && cur->nshards == table->nshards
        && cur->shards[i] != NULL
        && cur->shards[i]->name.len == f[2].len
        && ngx_strncmp(cur->shards[i]->name.data, f[2].data, f[2].len) == 0
        && ngx_file_info(file.data, &fi) != NGX_FILE_ERROR)
    {
        ngx_http_portico_route_file_id(&fi, &id);

        if (ngx_http_portico_route_file_same(&id, &cur->shards[i]->id)) {
            shard = cur->shards[i];
            table->reused++;
        }
    }

    if (shard == NULL) {
        shard = ngx_http_portico_route_shard_load(ps, &file, i);
        if (shard == NULL) {
            return NGX_ERROR;
        }
    }

    shard->heads++;
    table->shards[i] = shard;

    return NGX_OK;
}


/* a shard file, its errors told as the head's line's */

static ngx_http_portico_route_table_t *
ngx_http_portico_route_shard_load(ngx_http_portico_route_parse_t *head,
    ngx_str_t *file, ngx_uint_t shard)
{
    u_char                           *p;
    ngx_str_t                         text;
    ngx_pool_t                       *pool;
    ngx_http_portico_route_error_t    err;
    ngx_http_portico_route_parse_t    ps;
    ngx_http_portico_route_table_t   *table;
    ngx_http_portico_route_file_id_t  id;

    table = NULL;

    pool = ngx_http_portico_read_table(file, NGX_HTTP_PORTICO_ROUTES_FILE_MAX,
                                       head->log, &text, &id, &err);
    if (pool == NULL) {
        goto failed;
    }

    table = ngx_pcalloc(pool, sizeof(ngx_http_portico_route_table_t));
    if (table == NULL) {
        (void) ngx_http_portico_route_fail(&err, 0, "out of memory");
        goto failed;
    }

    table->pool = pool;
    table->id = id;
    table->https_port = NGX_HTTP_PORTICO_ROUTES_HTTPS_PORT;

    /* its name (the head's last field), kept with it */

    table->name.len = head->field[2].len;
    table->name.data = ngx_pnalloc(pool, table->name.len);
    if (table->name.data == NULL) {
        (void) ngx_http_portico_route_fail(&err, 0, "out of memory");
        goto failed;
    }

    ngx_memcpy(table->name.data, head->field[2].data, table->name.len);

    ngx_memzero(&ps, sizeof(ngx_http_portico_route_parse_t));

    ps.table = table;
    ps.refs = head->refs;
    ps.err = &err;
    ps.log = head->log;
    ps.shard = shard;
    ps.nshards = head->table->nshards;
    ps.is_shard = 1;
    ps.format = 2;              /* a shard's lines are format 2's */

    if (ngx_http_portico_route_parse(&ps, &text) == NGX_OK) {
        return table;
    }

failed:

    if (table != NULL) {
        ngx_destroy_pool(table->pool);

    } else if (pool != NULL) {
        ngx_destroy_pool(pool);
    }

    p = ngx_snprintf(head->err->text, NGX_HTTP_PORTICO_ROUTES_ERROR_LEN,
                     "shard %ui \"%V\", line %ui: %*s", shard, file, err.line,
                     err.len, err.text);
    head->err->len = p - head->err->text;
    head->err->line = head->line;

    return NULL;
}


/* every host of a shard is where a lookup looks for it */

static ngx_int_t
ngx_http_portico_route_shard_check(ngx_http_portico_route_parse_t *ps)
{
    ngx_uint_t                      i, k;
    ngx_http_portico_route_table_t  head;
    ngx_http_portico_route_host_t  *host;

    head.nshards = ps->nshards;

    for (i = 0; i < ps->nhosts; i++) {
        host = &ps->hosts[i];

        if (host == ps->table->any) {
            k = ngx_http_portico_route_shard_of(&head, NULL, (u_char *) "*",
                                                1);

        } else {
            k = ngx_http_portico_route_shard_of(&head,
                                                host->wildcard ? "*." : NULL,
                                                host->name.data,
                                                host->name.len);
        }

        if (k != ps->shard) {
            return ngx_http_portico_route_fail(ps->err, host->line,
                                               "host \"%s%V\" belongs in "
                                               "shard %ui of %ui",
                                               host->wildcard ? "*." : "",
                                               &host->name, k, ps->nshards);
        }
    }

    return NGX_OK;
}


/*
 * The shard of a host section: the CRC-32 (IEEE, as zlib's crc32()) of
 * its name as written ("*.D" for a wildcard, "*" for any host), modulo
 * the count of shards
 */

static ngx_uint_t
ngx_http_portico_route_shard_of(ngx_http_portico_route_table_t *head,
    char *prefix, u_char *name, size_t len)
{
    uint32_t  crc;

    ngx_crc32_init(crc);

    if (prefix != NULL) {
        ngx_crc32_update(&crc, (u_char *) prefix, ngx_strlen(prefix));
    }

    ngx_crc32_update(&crc, name, len);
    ngx_crc32_final(crc);

    return crc & (head->nshards - 1);
}


/* the head's pool goes: its shards that no other head has go too */

static void
ngx_http_portico_route_shards_release(void *data)
{
    ngx_http_portico_route_table_t *head = data;

    ngx_uint_t                       i;
    ngx_http_portico_route_table_t  *shard;

    for (i = 0; i < head->nshards; i++) {
        shard = head->shards[i];

        if (shard != NULL && --shard->heads == 0) {
            ngx_destroy_pool(shard->pool);
        }
    }
}


/*
 * "config TOKEN", line 3: the configuration the table was made for.  A
 * token other than the one of "portico_routes config=" ends the parse
 * here, before any name of the table is looked up in a configuration that
 * may not have it.
 */

static ngx_int_t
ngx_http_portico_route_parse_config(ngx_http_portico_route_parse_t *ps)
{
    ngx_str_t                       *f, *want;
    ngx_http_portico_route_table_t  *table;

    f = ps->field;
    table = ps->table;
    want = &ps->refs->config;

    if (ps->line != 3) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"config\" must be line 3");
    }

    if (ps->nfields != 2
        || ngx_http_portico_route_check_token(&f[1],
                                          NGX_HTTP_PORTICO_ROUTES_CONFIG_MAX)
           != NGX_OK)
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"config TOKEN\", "
                                           "TOKEN of 1-%d characters "
                                           "[0-9a-z]",
                                           NGX_HTTP_PORTICO_ROUTES_CONFIG_MAX);
    }

    table->config = f[1];

    if (want->len == 0
        || (want->len == f[1].len
            && ngx_strncmp(want->data, f[1].data, f[1].len) == 0))
    {
        return NGX_OK;
    }

    ps->err->other_config = 1;

    return ngx_http_portico_route_fail(ps->err, ps->line,
                                       "table %V is for configuration %V",
                                       &table->version, &f[1]);
}


/* 1-max characters [0-9a-z] */

ngx_int_t
ngx_http_portico_route_check_token(ngx_str_t *s, size_t max)
{
    size_t  i;

    if (s->len == 0 || s->len > max) {
        return NGX_ERROR;
    }

    for (i = 0; i < s->len; i++) {
        if (!((s->data[i] >= '0' && s->data[i] <= '9')
              || (s->data[i] >= 'a' && s->data[i] <= 'z')))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * "upstream NAME HOST:PORT [max_fails=N] [fail_timeout=T] [least_conn]"
 * (format 2, before the first host): a table upstream, made by the resolve
 * module when a worker attaches the table
 */

static ngx_int_t
ngx_http_portico_route_parse_upstream(ngx_http_portico_route_parse_t *ps)
{
    ngx_int_t                         rc;
    ngx_http_upstream_resolve_def_t  *def;
    ngx_http_portico_route_table_t   *table;
    u_char                            err[NGX_HTTP_PORTICO_ROUTES_ERROR_LEN];

    table = ps->table;

    if (ps->format < 2) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"upstream\" lines need table "
                                           "format 2");
    }

    if (ps->host != NULL) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"upstream\" after the first "
                                           "\"host\" line");
    }

    if (!ps->refs->table_upstreams) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "\"upstream\" lines need "
                                           "\"resolve_upstreams\" at http "
                                           "level");
    }

    def = &table->upstreams[table->nupstreams];

    if (ngx_http_upstream_resolve_parse_def(&ps->field[1], ps->nfields - 1,
                                            def, err, sizeof(err))
        != NGX_OK)
    {
        return ngx_http_portico_route_fail(ps->err, ps->line, "%s", err);
    }

    if (ngx_http_portico_route_names_find(&ps->refs->upstreams,
                                          def->name.data, def->name.len)
        != NULL)
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "upstream \"%V\" is also an "
                                           "upstream{} block", &def->name);
    }

    rc = ngx_http_portico_route_names_add(&table->upstream_names, &def->name,
                                          &table->entries[table->nupstreams]);

    if (rc == NGX_BUSY) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "duplicate upstream \"%V\"",
                                           &def->name);
    }

    table->nupstreams++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_route_parse_host(ngx_http_portico_route_parse_t *ps)
{
    ngx_int_t                        rc;
    ngx_str_t                       *f;
    ngx_http_portico_route_host_t   *host;
    ngx_http_portico_route_table_t  *table;

    f = ps->field;
    table = ps->table;

    if (ps->nfields < 2 || ps->nfields > 3
        || (ps->nfields == 3 && !ngx_http_portico_route_is(&f[2], "redirect")))
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"host H [redirect]\"");
    }

    host = &ps->hosts[ps->nhosts];
    ngx_memzero(host, sizeof(ngx_http_portico_route_host_t));

    host->line = ps->line;
    host->first = ps->nrules;
    host->redirect = (ps->nfields == 3);

    if (ngx_http_portico_route_is(&f[1], "*")) {

        if (table->any != NULL) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "duplicate host \"*\" "
                                               "(first in line %ui)",
                                               table->any->line);
        }

        host->name = f[1];
        table->any = host;

    } else {

        if (f[1].len > 2 && f[1].data[0] == '*' && f[1].data[1] == '.') {
            host->wildcard = 1;
            host->name.data = f[1].data + 2;
            host->name.len = f[1].len - 2;

        } else {
            host->name = f[1];
        }

        if (ngx_http_portico_route_check_domain(&host->name) != NGX_OK) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "invalid host \"%V\"", &f[1]);
        }

        rc = ngx_http_portico_route_names_add(host->wildcard
                                              ? &table->wildcards
                                              : &table->hosts,
                                              &host->name, host);

        if (rc == NGX_BUSY) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "duplicate host \"%V\"",
                                               &f[1]);
        }
    }

    ps->nhosts++;
    ps->host = host;

    return NGX_OK;
}


static ngx_int_t
ngx_http_portico_route_parse_rule(ngx_http_portico_route_parse_t *ps,
    ngx_uint_t type)
{
    ngx_str_t                      *path;
    ngx_http_portico_route_rule_t  *rule;

    if (ps->host == NULL) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "rule before the first "
                                           "\"host\" line");
    }

    if (ps->nfields < 3) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "expected \"%V PATH TARGET\"",
                                           &ps->field[0]);
    }

    path = &ps->field[1];

    if (path->data[0] != '/'
        || path->len > NGX_HTTP_PORTICO_ROUTES_PATH_MAX)
    {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "invalid path (\"/\" first, "
                                           "at most %d bytes) \"%V\"",
                                           NGX_HTTP_PORTICO_ROUTES_PATH_MAX,
                                           path);
    }

    rule = &ps->table->rules[ps->nrules];

    rule->path = *path;
    rule->type = type;
    rule->target.regex = NULL;

    if (type == NGX_HTTP_PORTICO_ROUTE_REGEX) {
        rule->target.regex = ngx_palloc(ps->table->pool,
                                     sizeof(ngx_http_portico_route_regex_t));
        if (rule->target.regex == NULL) {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "out of memory");
        }

        if (ngx_http_portico_route_regex_compile(rule->target.regex, path,
                                                 ps->refs->regex_pool
                                                 ? ps->refs->regex_pool
                                                 : ps->table->pool,
                                                 ps->line, ps->err)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ps->host->regex = 1;
    }

    if (ngx_http_portico_route_parse_target(ps, 2, &rule->target) != NGX_OK
        || ngx_http_portico_route_affinity_check(&rule->target, path,
                                   type == NGX_HTTP_PORTICO_ROUTE_REGEX,
                                   ps->table, ps->line, ps->err)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ps->nrules++;
    ps->host->nrules++;

    return NGX_OK;
}


/*
 * fields [first ..]: "-" or "UPSTREAM", then "@PROFILE" (not after "-"),
 * then "key=value" words (docs/routes.md): "ingress=NAMESPACE/NAME" and
 * "service=NAME", the Ingress and Service the rule comes from (the labels
 * of its request metrics), each at most once
 */

static ngx_int_t
ngx_http_portico_route_parse_target(ngx_http_portico_route_parse_t *ps,
    ngx_uint_t first, ngx_http_portico_route_target_t *target)
{
    u_char                             ch;
    ngx_str_t                         *f;
    ngx_uint_t                         i, n;
    ngx_http_portico_route_regex_t    *regex;
    ngx_http_portico_route_profile_t  *profile;

    f = &ps->field[first];
    n = ps->nfields - first;

    /* a regex rule's pattern is compiled already */

    regex = target->regex;
    ngx_memzero(target, sizeof(ngx_http_portico_route_target_t));
    target->regex = regex;

    if (ngx_http_portico_route_is(&f[0], "-")) {
        if (n > 1 && f[1].data[0] == '@') {
            return ngx_http_portico_route_fail(ps->err, ps->line,
                                               "\"-\" takes no profile");
        }

        return ngx_http_portico_route_parse_words(ps, &f[1], n - 1, target);
    }

    target->entry = ngx_http_portico_route_names_find(
                                            &ps->table->upstream_names,
                                            f[0].data, f[0].len);

    if (target->entry == NULL) {
        target->upstream = ngx_http_portico_route_names_find(
                                            &ps->refs->upstreams,
                                            f[0].data, f[0].len);
    }

    if (target->entry == NULL && target->upstream == NULL) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "unknown upstream \"%V\"", &f[0]);
    }

    if (n == 1 || f[1].data[0] != '@') {
        return ngx_http_portico_route_parse_words(ps, &f[1], n - 1, target);
    }

    if (f[1].len < 2) {
        goto invalid;
    }

    for (i = 1; i < f[1].len; i++) {
        ch = f[1].data[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_'))
        {
            goto invalid;
        }
    }

    /* a profile is a named location of every routing server */

    profile = ngx_http_portico_route_names_find(&ps->refs->profiles,
                                                f[1].data, f[1].len);

    if (profile == NULL || profile->servers != ps->refs->nrouting) {
        return ngx_http_portico_route_fail(ps->err, ps->line,
                                           "unknown profile \"%V\" (not a "
                                           "named location of every server "
                                           "with \"portico_route\")", &f[1]);
    }

    target->profile = f[1];

    return ngx_http_portico_route_parse_words(ps, &f[2], n - 2, target);

invalid:

    return ngx_http_portico_route_fail(ps->err, ps->line,
                                       "invalid profile \"%V\", "
                                       "@[A-Za-z0-9_]+ expected", &f[1]);
}


/* the "key=value" words after a rule's target */

static ngx_int_t
ngx_http_portico_route_parse_words(ngx_http_portico_route_parse_t *ps,
    ngx_str_t *word, ngx_uint_t n, ngx_http_portico_route_target_t *target)
{
    u_char      *slash, *eq;
    ngx_int_t    rc;
    ngx_str_t    key, value, ns, name;
    ngx_uint_t   i;
    ngx_pool_t  *regex_pool;

    regex_pool = ps->refs->regex_pool ? ps->refs->regex_pool
                                      : ps->table->pool;

    for (i = 0; i < n; i++) {

        if (word[i].len > 8 && ngx_strncmp(word[i].data, "ingress=", 8) == 0
            && target->ingress.len == 0)
        {
            value.data = word[i].data + 8;
            value.len = word[i].len - 8;

            slash = ngx_strlchr(value.data, value.data + value.len, '/');

            if (slash == NULL) {
                goto invalid;
            }

            ns.data = value.data;
            ns.len = slash - value.data;
            name.data = slash + 1;
            name.len = value.data + value.len - name.data;

            if (ns.len > NGX_HTTP_PORTICO_ROUTES_LABEL_MAX
                || ngx_strlchr(ns.data, ns.data + ns.len, '.') != NULL
                || ngx_http_portico_route_check_domain(&ns) != NGX_OK
                || ngx_http_portico_route_check_domain(&name) != NGX_OK)
            {
                goto invalid;
            }

            target->ingress = value;
            continue;
        }

        if (word[i].len > 8 && ngx_strncmp(word[i].data, "service=", 8) == 0
            && target->service.len == 0)
        {
            value.data = word[i].data + 8;
            value.len = word[i].len - 8;

            if (value.len > NGX_HTTP_PORTICO_ROUTES_LABEL_MAX
                || ngx_strlchr(value.data, value.data + value.len, '.')
                   != NULL
                || ngx_http_portico_route_check_domain(&value) != NGX_OK)
            {
                goto invalid;
            }

            target->service = value;
            continue;
        }

        if (word[i].len > 8 && ngx_strncmp(word[i].data, "rewrite=", 8) == 0
            && target->rewrite == NULL)
        {
            value.data = word[i].data + 8;
            value.len = word[i].len - 8;

            if (ngx_http_portico_route_rewrite_parse(target, &value,
                                                 ps->table->pool, regex_pool,
                                                 ps->line, ps->err)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        eq = ngx_strlchr(word[i].data, word[i].data + word[i].len, '=');

        if (eq != NULL) {
            key.data = word[i].data;
            key.len = eq - word[i].data;
            value.data = eq + 1;
            value.len = word[i].data + word[i].len - value.data;

            rc = ngx_http_portico_route_canary_word(target, &key, &value,
                                                    ps->refs, ps->table,
                                                    ps->line, ps->err);

            if (rc == NGX_DECLINED) {
                rc = ngx_http_portico_route_errors_word(target, &key, &value,
                                                        ps->refs, ps->table,
                                                        ps->line, ps->err);
            }

            if (rc == NGX_DECLINED) {
                rc = ngx_http_portico_route_affinity_word(target, &key,
                                                          &value, ps->table,
                                                          ps->line, ps->err);
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_OK) {
                continue;
            }
        }

        goto invalid;
    }

    return ngx_http_portico_route_canary_check(target, regex_pool, ps->line,
                                               ps->err);

invalid:

    return ngx_http_portico_route_fail(ps->err, ps->line,
                                       "invalid word \"%V\" after the "
                                       "target (expected ingress=NS/NAME, "
                                       "service=NAME, rewrite=/PATH, "
                                       "canary=UPSTREAM and its words, "
                                       "errors=UPSTREAM, service-port=PORT, "
                                       "affinity=cookie:NAME and its words, "
                                       "each once)", &word[i]);
}


/* lookup */

ngx_http_portico_route_host_t *
ngx_http_portico_route_find_host(ngx_http_portico_route_table_t *table,
    ngx_str_t *host)
{
    u_char                          *dot, *last;
    ngx_http_portico_route_host_t   *h;
    ngx_http_portico_route_table_t  *part;

    if (host->len) {
        part = ngx_http_portico_route_part(table, NULL, host->data,
                                           host->len);
        if (part != NULL) {
            h = ngx_http_portico_route_names_find(&part->hosts, host->data,
                                                  host->len);
            if (h != NULL) {
                return h;
            }
        }

        last = host->data + host->len;
        dot = ngx_strlchr(host->data, last, '.');

        if (dot != NULL && dot + 1 < last) {
            part = ngx_http_portico_route_part(table, "*.", dot + 1,
                                               last - dot - 1);
            if (part != NULL) {
                h = ngx_http_portico_route_names_find(&part->wildcards,
                                                      dot + 1,
                                                      last - dot - 1);
                if (h != NULL) {
                    return h;
                }
            }
        }
    }

    part = ngx_http_portico_route_part(table, NULL, (u_char *) "*", 1);

    return (part != NULL) ? part->any : NULL;
}


/* where a host section named PREFIX NAME is: the table, or a shard */

static ngx_http_portico_route_table_t *
ngx_http_portico_route_part(ngx_http_portico_route_table_t *table,
    char *prefix, u_char *name, size_t len)
{
    if (table->nshards == 0) {
        return table;
    }

    return table->shards[ngx_http_portico_route_shard_of(table, prefix, name,
                                                         len)];
}


/* a table upstream by name: a head's is in one of its shards */

void *
ngx_http_portico_route_table_upstream_find(
    ngx_http_portico_route_table_t *table, ngx_str_t *name)
{
    void        *entry;
    ngx_uint_t   i;

    if (table->nshards == 0) {
        return ngx_http_portico_route_names_find(&table->upstream_names,
                                                 name->data, name->len);
    }

    for (i = 0; i < table->nshards; i++) {
        if (table->shards[i] == NULL) {
            continue;
        }

        entry = ngx_http_portico_route_names_find(
                                          &table->shards[i]->upstream_names,
                                          name->data, name->len);
        if (entry != NULL) {
            return entry;
        }
    }

    return NULL;
}


ngx_http_portico_route_target_t *
ngx_http_portico_route_find_target(ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_host_t *host, ngx_str_t *uri,
    ngx_http_portico_route_matcher_t *matcher)
{
    ngx_str_t                      *path;
    ngx_uint_t                      i;
    ngx_http_portico_route_rule_t  *rule;

    rule = host->rules;
    matcher->matched = NULL;

    if (host->index != NULL) {
        return ngx_http_portico_route_find_indexed(host, rule, uri);
    }

    for (i = 0; i < host->nrules; i++) {
        if (rule[i].type == NGX_HTTP_PORTICO_ROUTE_EXACT
            && rule[i].path.len == uri->len
            && ngx_memcmp(rule[i].path.data, uri->data, uri->len) == 0)
        {
            return &rule[i].target;
        }
    }

    for (i = 0; i < host->nrules; i++) {
        path = &rule[i].path;

        if (rule[i].type == NGX_HTTP_PORTICO_ROUTE_REGEX) {

            if (ngx_http_portico_route_regex_match(matcher,
                                                   rule[i].target.regex, uri)
                == NGX_OK)
            {
                matcher->matched = &rule[i].target;
                return &rule[i].target;
            }

            continue;
        }

        if (rule[i].type == NGX_HTTP_PORTICO_ROUTE_EXACT
            || path->len > uri->len
            || ngx_memcmp(path->data, uri->data, path->len) != 0)
        {
            continue;
        }

        /* "prefix": whole path elements */

        if (rule[i].type == NGX_HTTP_PORTICO_ROUTE_PREFIX
            && path->len < uri->len
            && path->data[path->len - 1] != '/'
            && uri->data[path->len] != '/')
        {
            continue;
        }

        return &rule[i].target;
    }

    return host->has_default ? &host->deflt : NULL;
}


/*
 * The same answer as the scan in ngx_http_portico_route_find_target():
 * an exact rule for the whole URI, else the first in file order of the
 * prefix and plain rules whose path is a prefix of the URI, else default.
 */

static ngx_http_portico_route_target_t *
ngx_http_portico_route_find_indexed(ngx_http_portico_route_host_t *host,
    ngx_http_portico_route_rule_t *rule, ngx_str_t *uri)
{
    size_t                           len, max;
    ngx_uint_t                       hash, best;
    ngx_http_portico_route_path_t   *e;
    ngx_http_portico_route_index_t  *index;

    index = host->index;
    best = 0;
    hash = 0;

    max = ngx_min(uri->len, NGX_HTTP_PORTICO_ROUTES_PATH_MAX);

    for (len = 1; len <= max; len++) {

        hash = ngx_hash(hash, uri->data[len - 1]);

        if (!(index->lengths[len / 8] & (1 << (len % 8)))) {
            continue;
        }

        e = ngx_http_portico_route_index_find(index, hash, uri->data, len);

        if (e == NULL) {
            continue;
        }

        if (len == uri->len && e->exact) {
            return &rule[e->exact - 1].target;
        }

        if (e->plain && (best == 0 || e->plain < best)) {
            best = e->plain;
        }

        /* "prefix": whole path elements */

        if (e->prefix && (best == 0 || e->prefix < best)
            && (len == uri->len || uri->data[len] == '/'
                || uri->data[len - 1] == '/'))
        {
            best = e->prefix;
        }
    }

    if (best) {
        return &rule[best - 1].target;
    }

    return host->has_default ? &host->deflt : NULL;
}
