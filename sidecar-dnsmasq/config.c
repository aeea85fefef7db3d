/* config.c - flags (a lib/flags table) and --help for portico-dnscache;
 * see config.h. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"

#define PROGRAM "portico-dnscache"
#define VERSION "0.1.0"

/* Defaults (macros: --help prints them). */
#define DEF_CACHE_SIZE 10000
#define DEF_MIN_TTL 5
#define DEF_MAX_TTL 30                  /* NodeLocal DNSCache's bounds */
#define DEF_NEG_TTL 5
#define DEF_LOCAL_TTL 5
#define DEF_STALE_TTL 3600
#define DEF_TRY_TIMEOUT_MS 50
#define DEF_STALE_TIMEOUT_MS 1500       /* RFC 8767's 1.8 s, a bit sooner */
#define DEF_QUERY_TIMEOUT_MS 5000       /* CoreDNS forward's 5 s */
#define DEF_MAX_FAILS 3
#define DEF_PROBE_INTERVAL_MS 500
#define DEF_RENEW_INTERVAL_S 60
#define DEF_NO_EDNS_TTL 900             /* unbound's infra-host-ttl */
#define DEF_MAX_INFLIGHT 4096
#define DEF_TCP_IDLE_MS 10000
#define DEF_MAX_TCP_CLIENTS 256
#define DEF_METRICS "0.0.0.0:9153"
#define DEF_RESOLV_CONF "/etc/resolv.conf"

enum {
    MAX_CACHE_SIZE = 10000000,
    MAX_TTL_LIMIT = 604800,             /* one week */
    MAX_TIMEOUT_MS = 60000,
    MAX_COUNT = 1000000,
};

/* ---- setters (see lib/flags.h) ------------------------------------- */

static int parse_uint(const char *s, unsigned long min, unsigned long max,
                      unsigned long *out, char *err, size_t errlen)
{
    char *end;
    unsigned long v;

    errno = 0;
    if (!s[0] || s[0] == '-') {
        snprintf(err, errlen, "'%.60s' is not a number", s);
        return -1;
    }
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        snprintf(err, errlen, "'%.60s' is not a number in [%lu, %lu]", s, min,
                 max);
        return -1;
    }
    *out = v;
    return 0;
}

/* A uint32_t field in [min, max]. */
static int set_u32(void *target, const struct flag *f, const char *value,
                   unsigned long min, unsigned long max, char *err,
                   size_t errlen)
{
    unsigned long v;

    if (parse_uint(value, min, max, &v, err, errlen) < 0)
        return -1;
    *FLAG_FIELD(target, f, uint32_t) = (uint32_t)v;
    return 0;
}

/* Seconds of a TTL or interval: 0 to a week. */
static int set_seconds(void *target, const struct flag *f, const char *value,
                       char *err, size_t errlen)
{
    return set_u32(target, f, value, 0, MAX_TTL_LIMIT, err, errlen);
}

/* Milliseconds of a timeout or interval: 1 ms to a minute. */
static int set_ms(void *target, const struct flag *f, const char *value,
                  char *err, size_t errlen)
{
    return set_u32(target, f, value, 1, MAX_TIMEOUT_MS, err, errlen);
}

static int set_count(void *target, const struct flag *f, const char *value,
                     char *err, size_t errlen)
{
    return set_u32(target, f, value, 1, MAX_COUNT, err, errlen);
}

static int set_cache_size(void *target, const struct flag *f,
                          const char *value, char *err, size_t errlen)
{
    unsigned long v;

    if (parse_uint(value, 1, MAX_CACHE_SIZE, &v, err, errlen) < 0)
        return -1;
    *FLAG_FIELD(target, f, size_t) = v;
    return 0;
}

static int set_threads(void *target, const struct flag *f, const char *value,
                       char *err, size_t errlen)
{
    unsigned long v;

    if (parse_uint(value, 1, CFG_MAX_THREADS, &v, err, errlen) < 0)
        return -1;
    *FLAG_FIELD(target, f, unsigned) = (unsigned)v;
    return 0;
}

/* Appends an address to the list of a repeatable flag. */
static int add_addr(struct netaddr *list, size_t *n, size_t max,
                    const char *value, const char *form, char *err,
                    size_t errlen)
{
    if (*n == max) {
        snprintf(err, errlen, "at most %zu", max);
        return -1;
    }
    if (netaddr_parse(value, DNS_PORT, &list[*n]) < 0) {
        snprintf(err, errlen, "'%.60s' is not %s", value, form);
        return -1;
    }
    (*n)++;
    return 0;
}

static int set_listen(void *target, const struct flag *f, const char *value,
                      char *err, size_t errlen)
{
    struct config *cfg = target;

    return add_addr(cfg->listen, &cfg->nlisten, CFG_MAX_LISTEN, value,
                    "ADDR[:PORT]", err, errlen);
}

static int set_upstream(void *target, const struct flag *f, const char *value,
                        char *err, size_t errlen)
{
    struct config *cfg = target;

    return add_addr(cfg->upstream, &cfg->nupstream, CFG_MAX_UPSTREAMS, value,
                    "a numeric HOST[:PORT]", err, errlen);
}

static int set_metrics(void *target, const struct flag *f, const char *value,
                       char *err, size_t errlen)
{
    *FLAG_FIELD(target, f, const char *) =
        strcmp(value, "off") == 0 ? NULL : value;
    return 0;
}

static int set_log_level(void *target, const struct flag *f,
                         const char *value, char *err, size_t errlen)
{
    if (log_level_parse(value, FLAG_FIELD(target, f, enum log_level)) < 0) {
        snprintf(err, errlen, "'%.60s' is not debug|info|warn|error", value);
        return -1;
    }
    return 0;
}

#define CF(field) offsetof(struct config, field)

static const struct flag config_flags[] = {
    {"listen", required_argument, "ADDR[:PORT]", set_listen, 0,
     "serve DNS over UDP and TCP here; repeatable,\n"
     "IPv4 or [IPv6] (default 127.0.0.1:53)"},
    {"upstream", required_argument, "HOST[:PORT]", set_upstream, 0,
     "forward cache misses here; repeatable, numeric\n"
     "(default: the nameservers of --resolv-conf)"},
    {"resolv-conf", required_argument, "FILE", flag_set_str,
     CF(resolv_conf),
     "where to find default upstreams\n(default " DEF_RESOLV_CONF ")"},
    {"hosts", required_argument, "FILE", flag_set_str, CF(hosts_file),
     "hosts-format records answered authoritatively;\n"
     "reloaded when the file changes and on SIGHUP"},
    {"local-ttl", required_argument, "SECONDS", set_seconds, CF(local_ttl),
     "TTL of --hosts answers (default " FLAG_STR(DEF_LOCAL_TTL) ")"},
    {"cache-size", required_argument, "N", set_cache_size, CF(cache_size),
     "cached answers per thread, LRU-evicted\n"
     "(default " FLAG_STR(DEF_CACHE_SIZE) ")"},
    {"min-ttl", required_argument, "SECONDS", set_seconds, CF(min_ttl),
     "lower bound of cached TTLs (default " FLAG_STR(DEF_MIN_TTL) ")"},
    {"max-ttl", required_argument, "SECONDS", set_seconds, CF(max_ttl),
     "upper bound of cached TTLs (default " FLAG_STR(DEF_MAX_TTL) ")"},
    {"neg-ttl", required_argument, "SECONDS", set_seconds, CF(neg_ttl),
     "upper bound for NXDOMAIN/NODATA, which are kept\n"
     "min(SOA minimum, this) (default " FLAG_STR(DEF_NEG_TTL) ")"},
    {"stale-ttl", required_argument, "SECONDS", set_seconds, CF(stale_ttl),
     "serve expired answers up to this old when no\n"
     "upstream answers, with TTL 30 (default "
     FLAG_STR(DEF_STALE_TTL) ";\n0 disables)"},
    {"upstream-timeout", required_argument, "MS", set_ms,
     CF(try_timeout_ms),
     "per-try timeout before also asking the next\n"
     "upstream (the first try stays open); raised to\n"
     "4x the upstream's smoothed RTT when longer\n"
     "(default " FLAG_STR(DEF_TRY_TIMEOUT_MS) ")"},
    {"stale-timeout", required_argument, "MS", set_ms, CF(stale_timeout_ms),
     "a client still waiting this long gets the stale\n"
     "answer if there is one (see --stale-ttl); the\n"
     "upstream query goes on until --timeout and its\n"
     "answer is cached (default " FLAG_STR(DEF_STALE_TIMEOUT_MS) ", at most\n"
     "--timeout)"},
    {"timeout", required_argument, "MS", set_ms, CF(query_timeout_ms),
     "the longest a query is worked on: an upstream\n"
     "answer until then is taken, cached and sent to\n"
     "the clients still waiting; then they get the\n"
     "stale answer or SERVFAIL (default "
     FLAG_STR(DEF_QUERY_TIMEOUT_MS) ")"},
    {"max-fails", required_argument, "N", set_count, CF(max_fails),
     "consecutive failures that mark an upstream down\n"
     "(default " FLAG_STR(DEF_MAX_FAILS) ")"},
    {"probe-interval", required_argument, "MS", set_ms,
     CF(probe_interval_ms),
     "probe failing upstreams this often (default "
     FLAG_STR(DEF_PROBE_INTERVAL_MS) ")"},
    {"renew-interval", required_argument, "SECONDS", set_seconds,
     CF(renew_interval_s),
     "new upstream sockets (source ports) this often;\n"
     "also after every timeout (default "
     FLAG_STR(DEF_RENEW_INTERVAL_S) "; 0 disables)"},
    {"max-inflight", required_argument, "N", set_count, CF(max_inflight),
     "upstream queries in flight per thread\n"
     "(default " FLAG_STR(DEF_MAX_INFLIGHT) ")"},
    {"tcp-idle-timeout", required_argument, "MS", set_ms, CF(tcp_idle_ms),
     "close idle TCP clients after this (default "
     FLAG_STR(DEF_TCP_IDLE_MS) ")"},
    {"max-tcp-clients", required_argument, "N", set_count,
     CF(max_tcp_clients),
     "TCP clients per thread (default " FLAG_STR(DEF_MAX_TCP_CLIENTS) ")"},
    {"no-edns-ttl", required_argument, "SECONDS", set_seconds,
     CF(no_edns_ttl_s),
     "an upstream whose answer to an EDNS query was\n"
     "FORMERR/NOTIMP, and to the same query without\n"
     "EDNS an answer, is asked without EDNS this long\n"
     "(default " FLAG_STR(DEF_NO_EDNS_TTL) ")"},
    {"threads", required_argument, "N", set_threads, CF(threads),
     "worker threads, SO_REUSEPORT sockets, each with\n"
     "its own cache (default 1)"},
    {"metrics", required_argument, "ADDR:PORT", set_metrics,
     CF(metrics_addr),
     "/metrics and /healthz (default " DEF_METRICS ";\n"
     "'off' disables)"},
    {"log-level", required_argument, "LEVEL", set_log_level, CF(log_level),
     "debug, info, warn, error (default info)"},
};

/* Flags that are not configuration. */
struct cli {
    int version;
};

static const struct flag cli_flags[] = {
    {"version", no_argument, NULL, flag_set_bool,
     offsetof(struct cli, version), "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f,
"Usage: " PROGRAM " [flags]\n"
"A caching DNS forwarder for loopback use (a sidecar next to nginx).\n"
"\n");
    flags_usage(f, config_flags, sizeof(config_flags) / sizeof(config_flags[0]));
    fprintf(f, "  --help, -h                    this text\n");
    flags_usage(f, cli_flags, sizeof(cli_flags) / sizeof(cli_flags[0]));
    fprintf(f,
"\n"
"Signals: SIGTERM/SIGINT exit cleanly, SIGHUP reloads --hosts.\n");
}

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->resolv_conf = DEF_RESOLV_CONF;
    cfg->metrics_addr = DEF_METRICS;
    cfg->cache_size = DEF_CACHE_SIZE;
    cfg->min_ttl = DEF_MIN_TTL;
    cfg->max_ttl = DEF_MAX_TTL;
    cfg->neg_ttl = DEF_NEG_TTL;
    cfg->local_ttl = DEF_LOCAL_TTL;
    cfg->stale_ttl = DEF_STALE_TTL;
    cfg->try_timeout_ms = DEF_TRY_TIMEOUT_MS;
    cfg->query_timeout_ms = DEF_QUERY_TIMEOUT_MS;
    cfg->max_fails = DEF_MAX_FAILS;
    cfg->probe_interval_ms = DEF_PROBE_INTERVAL_MS;
    cfg->renew_interval_s = DEF_RENEW_INTERVAL_S;
    cfg->no_edns_ttl_s = DEF_NO_EDNS_TTL;
    cfg->max_inflight = DEF_MAX_INFLIGHT;
    cfg->tcp_idle_ms = DEF_TCP_IDLE_MS;
    cfg->max_tcp_clients = DEF_MAX_TCP_CLIENTS;
    cfg->threads = 1;
    cfg->log_level = LOG_INFO;
}

int config_read_resolv_conf(struct config *cfg, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int added = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *save = NULL, *kw = strtok_r(line, " \t\r\n", &save);
        char *addr = kw ? strtok_r(NULL, " \t\r\n", &save) : NULL;

        if (!kw || !addr || strcmp(kw, "nameserver") != 0)
            continue;
        if (cfg->nupstream == CFG_MAX_UPSTREAMS)
            break;
        /* "fe80::1%eth0" scoped addresses are not supported; skipped. */
        if (netaddr_parse(addr, DNS_PORT, &cfg->upstream[cfg->nupstream]) == 0) {
            cfg->nupstream++;
            added++;
        }
    }
    fclose(f);
    return added;
}

int config_parse(struct config *cfg, int argc, char **argv)
{
    struct cli cli = {0};
    const struct flag_table tables[] = {
        {config_flags, sizeof(config_flags) / sizeof(config_flags[0]), cfg},
        {cli_flags, sizeof(cli_flags) / sizeof(cli_flags[0]), &cli},
    };
    char err[256];
    int first, rc;

    set_defaults(cfg);
    rc = flags_parse(tables, sizeof(tables) / sizeof(tables[0]), argc, argv,
                     &first, err, sizeof(err));
    if (rc == FLAGS_HELP) {
        usage(stdout);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        return -1;
    }
    if (cli.version) {
        printf(PROGRAM " " VERSION "\n");
        return 1;
    }
    if (first < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument '%s'\n", argv[first]);
        return -1;
    }
    if (cfg->min_ttl > cfg->max_ttl) {
        fprintf(stderr, PROGRAM ": --min-ttl %u is above --max-ttl %u\n",
                cfg->min_ttl, cfg->max_ttl);
        return -1;
    }
    if (!cfg->stale_timeout_ms)         /* not given: at most --timeout */
        cfg->stale_timeout_ms = DEF_STALE_TIMEOUT_MS < cfg->query_timeout_ms
                                    ? DEF_STALE_TIMEOUT_MS
                                    : cfg->query_timeout_ms;
    if (cfg->stale_timeout_ms > cfg->query_timeout_ms) {
        fprintf(stderr, PROGRAM ": --stale-timeout %u is above --timeout %u\n",
                cfg->stale_timeout_ms, cfg->query_timeout_ms);
        return -1;
    }
    if (cfg->try_timeout_ms > cfg->query_timeout_ms)
        cfg->try_timeout_ms = cfg->query_timeout_ms;
    if (cfg->nlisten == 0) {
        netaddr_parse("127.0.0.1", DNS_PORT, &cfg->listen[0]);
        cfg->nlisten = 1;
    }
    if (cfg->nupstream == 0) {
        if (config_read_resolv_conf(cfg, cfg->resolv_conf) < 0) {
            fprintf(stderr, PROGRAM ": cannot read %s: %s\n", cfg->resolv_conf,
                    strerror(errno));
            return -1;
        }
        if (cfg->nupstream == 0) {
            fprintf(stderr, PROGRAM ": no --upstream and no nameserver in %s\n",
                    cfg->resolv_conf);
            return -1;
        }
    }
    return 0;
}
