/*
 * config.h - portico-dnscache command-line flags and their defaults.
 */
#ifndef PORTICO_DNSCACHE_CONFIG_H
#define PORTICO_DNSCACHE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "netaddr.h"

enum {
    CFG_MAX_LISTEN = 16,
    CFG_MAX_UPSTREAMS = 16,
    CFG_MAX_THREADS = 64,
    DNS_PORT = 53,
};

struct config {
    struct netaddr listen[CFG_MAX_LISTEN];
    size_t nlisten;
    struct netaddr upstream[CFG_MAX_UPSTREAMS];
    size_t nupstream;
    const char *resolv_conf;
    const char *hosts_file;         /* NULL: none */
    const char *metrics_addr;       /* NULL: disabled */
    size_t cache_size;
    uint32_t min_ttl, max_ttl, neg_ttl, local_ttl;
    uint32_t stale_ttl;             /* seconds an expired entry may be served */
    uint32_t try_timeout_ms;        /* per upstream try */
    uint32_t stale_timeout_ms;      /* a waiting client gets the stale
                                       answer, if any; the query goes on */
    uint32_t query_timeout_ms;      /* whole query, all tries: a later
                                       answer is dropped */
    uint32_t max_fails;             /* consecutive failures: down */
    uint32_t probe_interval_ms;
    uint32_t renew_interval_s;      /* new upstream sockets this often */
    uint32_t no_edns_ttl_s;         /* queries without EDNS to an upstream
                                       that rejected it, this long */
    uint32_t max_inflight;          /* upstream queries per thread */
    uint32_t tcp_idle_ms;
    uint32_t max_tcp_clients;       /* per thread */
    unsigned threads;
    enum log_level log_level;
};

/* Parses argv into cfg (defaults first). Returns 0 to run, 1 if --help or
 * --version was printed (exit 0), -1 on a bad flag (message printed). */
int config_parse(struct config *cfg, int argc, char **argv);

/* Reads "nameserver" lines of a resolv.conf file into cfg->upstream.
 * Returns the number added, or -1 if the file cannot be read. */
int config_read_resolv_conf(struct config *cfg, const char *path);

#endif
