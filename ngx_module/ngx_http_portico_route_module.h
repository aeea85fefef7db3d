
/*
 * ngx_http_portico_route_module: shared types (see docs/routes.md).
 *
 * The route table maps a request's host and URI to an upstream of the
 * running configuration.  It is parsed at configuration time (so "nginx -t"
 * validates it) and again by every worker when the file changes; a worker
 * swaps its table only when the new file parsed cleanly.  A request keeps
 * only the chosen upstream's configuration (which lives as long as the
 * cycle), never a pointer into a table, so a swap is safe at any time.
 *
 * Files:
 *   ngx_http_portico_route_module.c   directives, routing, dispatch, reload
 *   ngx_http_portico_route_table.c    table parse and lookup, name tables
 *   ngx_http_portico_route_status.c   versions of the workers (shared zone)
 *   ngx_http_portico_route_regex.c    regex rules and rewrites (PCRE2)
 *   ngx_http_portico_route_canary.c   canary releases
 *   ngx_http_portico_route_affinity.c session affinity by cookie
 *   ngx_http_portico_watch.c          the file watch, shared with the
 *                                     certificate table
 */


#ifndef _NGX_HTTP_PORTICO_ROUTE_MODULE_H_INCLUDED_
#define _NGX_HTTP_PORTICO_ROUTE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

typedef struct ngx_http_portico_route_table_s
    ngx_http_portico_route_table_t;

#include "ngx_http_upstream_resolve_module.h"
#include "ngx_http_portico_metrics_module.h"
#include "../lib/regex_limits.h"


#define NGX_HTTP_PORTICO_ROUTES_FILE_MAX     (64 * 1024 * 1024)
#define NGX_HTTP_PORTICO_ROUTES_LINE_MAX     4096
#define NGX_HTTP_PORTICO_ROUTES_VERSION_MAX  64
#define NGX_HTTP_PORTICO_ROUTES_SHARDS_MAX   4096   /* a head's "shards N" */
#define NGX_HTTP_PORTICO_ROUTES_SHARD_NAME_MAX 64   /* "shard I NAME" */
#define NGX_HTTP_PORTICO_ROUTES_SHARD_DIR    "routes.d/"
#define NGX_HTTP_PORTICO_ROUTES_CONFIG_MAX   64
#define NGX_HTTP_PORTICO_ROUTES_HOST_MAX     253
#define NGX_HTTP_PORTICO_ROUTES_PATH_MAX     1024
#define NGX_HTTP_PORTICO_ROUTES_LABEL_MAX    63         /* DNS label */
#define NGX_HTTP_PORTICO_ROUTES_HTTPS_PORT   443
#define NGX_HTTP_PORTICO_ROUTES_INTERVAL     100        /* ms */

/* a request to a table upstream not resolved yet waits this long at most,
   looking every ..._POLL */
#define NGX_HTTP_PORTICO_ROUTES_WAIT         2000       /* ms */
#define NGX_HTTP_PORTICO_ROUTES_WAIT_POLL    20         /* ms */

/* the text of a parse error, without "in FILE:LINE" */
#define NGX_HTTP_PORTICO_ROUTES_ERROR_LEN    256


#define NGX_HTTP_PORTICO_ROUTE_EXACT         0
#define NGX_HTTP_PORTICO_ROUTE_PREFIX        1
#define NGX_HTTP_PORTICO_ROUTE_PLAIN         2
#define NGX_HTTP_PORTICO_ROUTE_REGEX         3


/* an open-addressing table from names to pointers, sized once */

typedef struct {
    ngx_str_t                            name;
    void                                *value;
} ngx_http_portico_route_entry_t;

typedef struct {
    ngx_http_portico_route_entry_t      *slots;
    ngx_uint_t                           mask;      /* slots - 1 */
} ngx_http_portico_route_names_t;


/*
 * A regex rule's pattern P: "^P" compiled caseless for the match (as
 * ingress-nginx's location ~* "^P"); P alone for a rewrite when the two
 * may capture differently (an alternation in P), else NULL and the match's
 * captures serve the rewrite.  "logged": a match over the limits was
 * logged for this table.
 */

#if (NGX_PCRE2)

typedef struct {
    ngx_str_t                            pattern;
    ngx_regex_t                         *anchored;
    ngx_regex_t                         *rewrite;
    ngx_uint_t                           captures;
    unsigned                             logged:1;
    unsigned                             jit:1;     /* JIT tried */
} ngx_http_portico_route_regex_t;

#else

typedef struct {
    ngx_str_t                            pattern;
} ngx_http_portico_route_regex_t;

#endif


/* "rewrite=T": literal text and $N captures, in order (capture -1: none) */

typedef struct {
    ngx_str_t                            text;
    ngx_int_t                            capture;
} ngx_http_portico_route_part_t;

typedef struct {
    ngx_http_portico_route_part_t       *parts;
    ngx_uint_t                           nparts;
    size_t                               literal;   /* bytes of text */
} ngx_http_portico_route_rewrite_t;


/*
 * "canary=UPSTREAM" and its words (ngx_http_portico_route_canary.c): the
 * upstream, weight/total, the header (and the value or pattern it must
 * have), the cookie
 */

#define NGX_HTTP_PORTICO_CANARY_TOTAL_MAX    1000000

typedef struct {
    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_entry_t  **entry;
    ngx_uint_t                           weight;
    ngx_uint_t                           total;
    ngx_str_t                            header;
    ngx_str_t                            value;
    ngx_str_t                            pattern_text;
    ngx_str_t                            cookie;
#if (NGX_PCRE2)
    ngx_regex_t                         *pattern;
#endif
    ngx_str_t                            name;      /* canary-name=: the
                                                       canary label of its
                                                       request metrics */
    ngx_http_portico_metrics_ref_t       metrics;
    unsigned                             weighted:1;
    unsigned                             jit:1;     /* JIT tried */
} ngx_http_portico_route_canary_t;


/*
 * "errors=UPSTREAM" (ngx_http_portico_route_errors.c): the rule's default
 * backend, ingress-nginx's default-backend annotation: where its requests
 * go when its upstream has no address, and what its error pages
 * ("portico_route_errors") proxy to
 */

typedef struct {
    ngx_str_t                            name;
    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_entry_t  **entry;
} ngx_http_portico_route_errors_t;

#define NGX_HTTP_PORTICO_ROUTES_PORT_NAME_MAX  15   /* a Service port name */


/* what a request of such a rule keeps for its error pages */

typedef struct {
    ngx_str_t                            upstream;  /* the default backend */
    ngx_str_t                            ns;
    ngx_str_t                            ingress;
    ngx_str_t                            service;
    ngx_str_t                            service_port;
} ngx_http_portico_route_errors_ctx_t;


/*
 * "affinity=cookie:NAME" and its words (ngx_http_portico_route_affinity.c):
 * the cookie, the attributes every Set-Cookie of it has ("; Path=P" and
 * any "; Domain=D", "; Max-Age=N"), those that depend on the request
 * (expires: seconds or -1; secure: 1, 0, or -1: when over TLS; samesite),
 * the tags of the rule's upstream and of its canary's (which upstream a
 * cookie is for), and the modes
 */

#define NGX_HTTP_PORTICO_SAMESITE_UNSET      0
#define NGX_HTTP_PORTICO_SAMESITE_NONE       1
#define NGX_HTTP_PORTICO_SAMESITE_LAX        2
#define NGX_HTTP_PORTICO_SAMESITE_STRICT     3

typedef struct {
    ngx_str_t                            name;
    ngx_str_t                            path;      /* empty: the rule's */
    ngx_str_t                            domain;
    ngx_str_t                            max_age;
    ngx_str_t                            attrs;
    ngx_int_t                            expires;
    ngx_int_t                            secure;
    ngx_uint_t                           samesite;
    uint32_t                             tag;
    uint32_t                             canary_tag;
    unsigned                             balanced:1;
    unsigned                             change_on_failure:1;
    unsigned                             conditional:1; /* SameSite=None */
    unsigned                             legacy:1;  /* canary first */
    unsigned                             mode_set:1;
    unsigned                             canary_set:1;
} ngx_http_portico_route_affinity_t;


/*
 * what a rule leads to: an upstream{} block of the configuration, or a
 * table upstream (its entry, set when the worker attaches the table, NULL
 * if it did not fit in the zone); neither is "-" (503).  "ingress" and
 * "service" name where the rule comes from (its "ingress=" and "service="
 * words, or empty); "metrics" is its series in the metrics zone, set when
 * the worker attaches the table.  "regex": a regex rule's pattern;
 * "rewrite": its "rewrite=" word.
 */

typedef struct {
    ngx_http_upstream_srv_conf_t        *upstream;
    ngx_http_upstream_resolve_entry_t  **entry;
    ngx_str_t                            profile;   /* "@name" or empty */
    ngx_str_t                            ingress;   /* "namespace/name" */
    ngx_str_t                            service;
    ngx_http_portico_metrics_ref_t       metrics;

    ngx_http_portico_route_regex_t      *regex;
    ngx_http_portico_route_rewrite_t    *rewrite;
    ngx_http_portico_route_canary_t     *canary;
    ngx_http_portico_route_errors_t     *errors;    /* "errors=" or NULL */
    ngx_str_t                            service_port;
    ngx_http_portico_route_affinity_t   *affinity;
} ngx_http_portico_route_target_t;


typedef struct {
    ngx_str_t                            path;
    ngx_uint_t                           type;      /* ..._EXACT etc. */
    ngx_http_portico_route_target_t      target;
} ngx_http_portico_route_rule_t;


/*
 * A worker's PCRE2 match context (the limits of regex_limits.h, and the
 * stack of JIT-compiled matches), match data ($0-$9), and the captures of
 * the last match
 */

typedef struct {
#if (NGX_PCRE2)
    pcre2_match_context                 *context;
    pcre2_match_data                    *data;
    pcre2_jit_stack                     *jit_stack;
#endif
    ngx_log_t                           *log;
    ngx_http_portico_route_target_t     *matched;   /* its regex matched */
    ngx_uint_t                           set;       /* pairs it set */
} ngx_http_portico_route_matcher_t;


/*
 * The rules of a host with many of them, by path: the first rule (in
 * file order, an index into the host's rules + 1, 0: none) of each type
 * with that path, and which path lengths occur; a URI is matched by
 * looking up each of its prefixes of such a length.
 */

typedef struct {
    ngx_str_t                            path;
    ngx_uint_t                           hash;      /* ngx_hash() chain */
    ngx_uint_t                           exact;
    ngx_uint_t                           prefix;
    ngx_uint_t                           plain;
} ngx_http_portico_route_path_t;

typedef struct {
    ngx_http_portico_route_path_t       *slots;
    ngx_uint_t                           mask;      /* slots - 1 */
    u_char                              *lengths;   /* bit per length */
} ngx_http_portico_route_index_t;


/* one "host" section; its rules are rules[first .. first + nrules - 1] */

typedef struct {
    ngx_str_t                            name;      /* without "*." */
    ngx_uint_t                           line;
    ngx_uint_t                           first;
    ngx_uint_t                           nrules;
    ngx_http_portico_route_rule_t       *rules;     /* its table's, + first */
    ngx_http_portico_route_index_t      *index;     /* many rules only */
    ngx_http_portico_route_target_t      deflt;
    unsigned                             has_default:1;
    unsigned                             redirect:1;
    unsigned                             wildcard:1;
    unsigned                             regex:1;   /* has regex rules */
} ngx_http_portico_route_host_t;


/* what identifies one version of the file on disk */

typedef struct {
    dev_t                                dev;
    ino_t                                ino;
    off_t                                size;
    time_t                               mtime;
    long                                 mtime_nsec;
} ngx_http_portico_route_file_id_t;


struct ngx_http_portico_route_table_s {
    ngx_pool_t                          *pool;      /* owns everything */
    ngx_str_t                            version;
    ngx_str_t                            config;    /* empty: no line */
    ngx_uint_t                           https_port;

    ngx_http_portico_route_names_t       hosts;     /* exact names */
    ngx_http_portico_route_names_t       wildcards; /* "*.D" by D */
    ngx_http_portico_route_host_t       *any;       /* "*" or NULL */

    ngx_http_portico_route_rule_t       *rules;
    ngx_http_portico_route_file_id_t     id;

    /* the "upstream" lines (format 2), by name, and their entries */
    ngx_http_portico_route_names_t       upstream_names;
    ngx_http_upstream_resolve_def_t     *upstreams;
    ngx_http_upstream_resolve_entry_t  **entries;
    ngx_uint_t                           nupstreams;

    /*
     * format 3, a head: the hosts are in shard files, shards[i] (NULL: no
     * such shard) has the host sections whose key hashes to i; a shard
     * unchanged since the previous head is the same object, shared
     */
    ngx_uint_t                           nshards;   /* 0: not a head */
    ngx_http_portico_route_table_t     **shards;
    ngx_uint_t                           reused;    /* shards of the last */

    /* a shard: its name in the head, and the heads that have it */
    ngx_str_t                            name;
    ngx_uint_t                           heads;
};


typedef struct {
    ngx_uint_t      line;           /* 0: the whole file */
    size_t          len;
    u_char          text[NGX_HTTP_PORTICO_ROUTES_ERROR_LEN];

    /* the text is "table V is for configuration X": not an error in a
       worker whose reload is under way */
    unsigned        other_config:1;
} ngx_http_portico_route_error_t;


/*
 * A table file that every worker reloads by itself
 * (ngx_http_portico_watch.c): at once when inotify reports a change in
 * the file's folder, and stat() every interval (every
 * NGX_HTTP_PORTICO_WATCH_FALLBACK at least while inotify works); when the
 * file's identity changed, "load" parses it and swaps it in (or logs why
 * not and keeps the current table).  "start" starts the watch of a new
 * cycle ("master_process off" runs no init_process after a reload).
 */

#define NGX_HTTP_PORTICO_WATCH_FALLBACK      1000       /* ms */

typedef struct ngx_http_portico_watch_s  ngx_http_portico_watch_t;

typedef void (*ngx_http_portico_watch_load_pt)(
    ngx_http_portico_watch_t *watch, ngx_log_t *log);
typedef void (*ngx_http_portico_watch_start_pt)(ngx_cycle_t *cycle);

struct ngx_http_portico_watch_s {
    ngx_str_t                            file;      /* full path, NUL */
    ngx_msec_t                           interval;
    const char                          *directive; /* for the logs */
    ngx_str_t                            version;   /* of the table in use */

    ngx_http_portico_route_file_id_t     seen;      /* last file looked at */
    ngx_err_t                            stat_err;  /* last stat() error
                                                       reported, or 0 */

    ngx_http_portico_watch_load_pt       load;
    ngx_http_portico_watch_start_pt      start;
    void                                *data;

    ngx_event_t                          timer;
    ngx_cycle_t                         *cycle;     /* the timer's */
    ngx_msec_t                           poll;      /* the timer's period */
    ngx_queue_t                          notified;  /* in the process's
                                                       inotify list */
};


/* a named location every routing server has (see refs.profiles) */

typedef struct {
    ngx_uint_t      servers;        /* routing servers that have it */
    ngx_uint_t      last;           /* the last of them + 1 */
} ngx_http_portico_route_profile_t;


/*
 * What a table may refer to, from the configuration it is loaded into:
 * upstream blocks by name, named locations ("@name") by name with the
 * number of routing servers that have them (a profile must be in all
 * "nrouting" of them), the "config=" token of "portico_routes" (empty:
 * tables are not matched to configurations), and whether "upstream" lines
 * may be used ("resolve_upstreams" is there).
 */

typedef struct {
    ngx_http_portico_route_names_t       upstreams;
    ngx_http_portico_route_names_t       profiles;
    ngx_uint_t                           nrouting;
    ngx_str_t                            config;
    unsigned                             table_upstreams:1;

    /*
     * the pool of the regexes compiled while nginx reads its
     * configuration (nginx's regex module frees them with the cycle), NULL
     * in a worker: the table's own pool
     */
    ngx_pool_t                          *regex_pool;
} ngx_http_portico_route_refs_t;


/*
 * The tables a worker reports the version of (the shared zone of
 * ngx_http_portico_route_status.c): the route table and the certificate
 * table (ngx_http_portico_ssl_module.c, docs/certificates.md).
 */

#define NGX_HTTP_PORTICO_TABLE_ROUTES        0
#define NGX_HTTP_PORTICO_TABLE_CERTIFICATES  1
#define NGX_HTTP_PORTICO_TABLES              2


/* one worker's versions in the shared zone, under the zone's mutex */

typedef struct {
    ngx_uint_t      generation;
    ngx_pid_t       pid;
    size_t          version_len[NGX_HTTP_PORTICO_TABLES];   /* 0: none */
    u_char          version[NGX_HTTP_PORTICO_TABLES]
                           [NGX_HTTP_PORTICO_ROUTES_VERSION_MAX];
} ngx_http_portico_route_slot_t;

typedef struct {
    ngx_atomic_t                         generation; /* one per config */
    ngx_http_portico_route_slot_t        slots[NGX_MAX_PROCESSES];
} ngx_http_portico_route_shared_t;


typedef struct {
    ngx_http_portico_watch_t             watch;     /* file: the table's */
    ngx_msec_t                           wait;      /* for a first address */

    ngx_http_portico_route_refs_t        refs;
    ngx_http_portico_route_table_t      *table;     /* current */
    ngx_http_portico_route_matcher_t     matcher;

    /* the versions zone, also used by "portico_certificates" */
    ngx_shm_zone_t                      *shm_zone;
    ngx_slab_pool_t                     *shpool;    /* its mutex: slots */
    ngx_http_portico_route_shared_t     *shared;
    ngx_uint_t                           generation;

    unsigned                             route_used:1;
    unsigned                             status_used:1;
} ngx_http_portico_route_main_conf_t;


extern ngx_module_t  ngx_http_portico_route_module;


/* watch: files, lines and names shared with the certificate table */
void ngx_http_portico_watch_start(ngx_http_portico_watch_t *watch,
    ngx_cycle_t *cycle);
void ngx_http_portico_watch_stop(ngx_http_portico_watch_t *watch);
ngx_int_t ngx_http_portico_watch_interval(ngx_conf_t *cf,
    ngx_http_portico_watch_t *watch, ngx_str_t *value);
void *ngx_http_portico_cycle_main_conf(ngx_cycle_t *cycle,
    ngx_module_t *module);
ngx_pool_t *ngx_http_portico_read_table(ngx_str_t *file, size_t max,
    ngx_log_t *log, ngx_str_t *text, ngx_http_portico_route_file_id_t *id,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_split(u_char *p, u_char *last, ngx_str_t *field,
    ngx_uint_t max, ngx_uint_t *nfields, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_route_fail(ngx_http_portico_route_error_t *err,
    ngx_uint_t line, const char *fmt, ...);
void ngx_http_portico_route_file_id(ngx_file_info_t *fi,
    ngx_http_portico_route_file_id_t *id);
ngx_uint_t ngx_http_portico_route_file_same(
    ngx_http_portico_route_file_id_t *a, ngx_http_portico_route_file_id_t *b);
ngx_int_t ngx_http_portico_route_check_token(ngx_str_t *s, size_t max);

/* names (ngx_http_portico_route_names.c); the smallest table has 4 slots */
#define NGX_HTTP_PORTICO_ROUTES_NAMES_MIN    4

ngx_int_t ngx_http_portico_route_names_init(
    ngx_http_portico_route_names_t *names, ngx_pool_t *pool, ngx_uint_t n);
ngx_int_t ngx_http_portico_route_names_add(
    ngx_http_portico_route_names_t *names, ngx_str_t *name, void *value);
void *ngx_http_portico_route_names_find(ngx_http_portico_route_names_t *names,
    u_char *name, size_t len);
ngx_int_t ngx_http_portico_route_check_domain(ngx_str_t *name);

/* table */
ngx_http_portico_route_table_t *ngx_http_portico_route_table_load(
    ngx_str_t *file, ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *current, ngx_log_t *log,
    ngx_http_portico_route_error_t *err);
void ngx_http_portico_route_table_free(ngx_http_portico_route_table_t *table);
void *ngx_http_portico_route_table_upstream_find(
    ngx_http_portico_route_table_t *table, ngx_str_t *name);

ngx_http_portico_route_host_t *ngx_http_portico_route_find_host(
    ngx_http_portico_route_table_t *table, ngx_str_t *host);
ngx_http_portico_route_target_t *ngx_http_portico_route_find_target(
    ngx_http_portico_route_table_t *table,
    ngx_http_portico_route_host_t *host, ngx_str_t *uri,
    ngx_http_portico_route_matcher_t *matcher);

/* regex rules and rewrites */
ngx_int_t ngx_http_portico_route_matcher_init(
    ngx_http_portico_route_matcher_t *m);
void ngx_http_portico_route_matcher_free(ngx_http_portico_route_matcher_t *m);
ngx_int_t ngx_http_portico_route_regex_compile(
    ngx_http_portico_route_regex_t *rx, ngx_str_t *pattern,
    ngx_pool_t *pool, ngx_uint_t line, ngx_http_portico_route_error_t *err);
#if (NGX_PCRE2)
ngx_regex_t *ngx_http_portico_route_regex_new(ngx_str_t *pattern,
    uint32_t options, ngx_pool_t *pool, ngx_uint_t *captures,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
void ngx_http_portico_route_regex_jit(ngx_regex_t *re);
#endif
ngx_int_t ngx_http_portico_route_regex_match(
    ngx_http_portico_route_matcher_t *m, ngx_http_portico_route_regex_t *rx,
    ngx_str_t *s);
ngx_int_t ngx_http_portico_route_rewrite_parse(
    ngx_http_portico_route_target_t *target, ngx_str_t *value,
    ngx_pool_t *pool, ngx_pool_t *regex_pool, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_route_rewrite(ngx_http_request_t *r,
    ngx_http_portico_route_matcher_t *m,
    ngx_http_portico_route_target_t *target, ngx_str_t *uri);

/* canary releases */
ngx_int_t ngx_http_portico_route_canary_word(
    ngx_http_portico_route_target_t *target, ngx_str_t *key,
    ngx_str_t *value, ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_route_canary_check(
    ngx_http_portico_route_target_t *target, ngx_pool_t *regex_pool,
    ngx_uint_t line, ngx_http_portico_route_error_t *err);
ngx_uint_t ngx_http_portico_route_canary_pick(ngx_http_request_t *r,
    ngx_http_portico_route_canary_t *c, ngx_http_portico_route_matcher_t *m);

/* default backends and error pages */
ngx_int_t ngx_http_portico_route_errors_word(
    ngx_http_portico_route_target_t *target, ngx_str_t *key,
    ngx_str_t *value, ngx_http_portico_route_refs_t *refs,
    ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_route_errors_save(ngx_http_request_t *r,
    ngx_http_portico_route_target_t *target);
ngx_http_portico_route_errors_ctx_t *ngx_http_portico_route_errors_find(
    ngx_http_request_t *r);
ngx_int_t ngx_http_portico_route_errors_variables(ngx_conf_t *cf);

/*
 * session affinity: a request's cookie and what it is to be sent, in the
 * request's pool (never table memory: a swap may free the table before
 * the response goes out)
 */

typedef struct {
    ngx_http_upstream_resolve_affinity_t  hint;     /* for the balancer */
    ngx_str_t                            name;      /* copies */
    ngx_str_t                            attrs;
    ngx_int_t                            expires;
    ngx_int_t                            secure;
    ngx_uint_t                           samesite;
    uint64_t                             key;       /* of the cookie */
    uint32_t                             tag;       /* of the cookie */
    uint32_t                             upstream;  /* the chosen one's tag */
    unsigned                             valid:1;   /* a cookie of ours */
} ngx_http_portico_route_sticky_t;

ngx_int_t ngx_http_portico_route_affinity_word(
    ngx_http_portico_route_target_t *target, ngx_str_t *key,
    ngx_str_t *value, ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_int_t ngx_http_portico_route_affinity_check(
    ngx_http_portico_route_target_t *target, ngx_str_t *path,
    ngx_uint_t regex, ngx_http_portico_route_table_t *table, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
ngx_http_portico_route_sticky_t *ngx_http_portico_route_affinity_start(
    ngx_http_request_t *r, ngx_http_portico_route_affinity_t *a);
ngx_int_t ngx_http_portico_route_affinity_canary(
    ngx_http_portico_route_sticky_t *s, ngx_http_portico_route_affinity_t *a);
void ngx_http_portico_route_affinity_for(ngx_http_portico_route_sticky_t *s,
    ngx_http_portico_route_affinity_t *a, ngx_uint_t canary);
ngx_int_t ngx_http_portico_route_affinity_cookie(ngx_http_request_t *r,
    ngx_http_portico_route_sticky_t *s);

/* status: the versions zone of both tables (table: NGX_HTTP_PORTICO_TABLE_*) */
ngx_int_t ngx_http_portico_route_status_zone(ngx_conf_t *cf,
    ngx_http_portico_route_main_conf_t *rmcf);
void ngx_http_portico_route_status_publish(
    ngx_http_portico_route_main_conf_t *rmcf, ngx_uint_t table,
    ngx_str_t *version);
ngx_int_t ngx_http_portico_route_status_send(ngx_http_request_t *r,
    ngx_http_portico_route_main_conf_t *rmcf, ngx_uint_t table);
ngx_int_t ngx_http_portico_route_status_handler(ngx_http_request_t *r);


#endif /* _NGX_HTTP_PORTICO_ROUTE_MODULE_H_INCLUDED_ */
