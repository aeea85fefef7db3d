/* config.c - flag parsing and --help for portico-dnscache; see config.h. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRAM "portico-dnscache"
#define VERSION "0.1.0"

enum {
    DEF_CACHE_SIZE = 10000,
    DEF_MIN_TTL = 5, DEF_MAX_TTL = 30, DEF_NEG_TTL = 5, DEF_LOCAL_TTL = 5,
    DEF_STALE_TTL = 3600,
    DEF_TRY_TIMEOUT_MS = 50,
    DEF_QUERY_TIMEOUT_MS = 1500,
    DEF_MAX_FAILS = 3,
    DEF_PROBE_INTERVAL_MS = 500,
    DEF_RENEW_INTERVAL_S = 60,
    DEF_NO_EDNS_TTL = 900,              /* unbound's infra-host-ttl */
    DEF_MAX_INFLIGHT = 4096,
    DEF_TCP_IDLE_MS = 10000,
    DEF_MAX_TCP_CLIENTS = 256,
    MAX_CACHE_SIZE = 10000000,
    MAX_TTL_LIMIT = 604800,             /* one week */
    MAX_TIMEOUT_MS = 60000,
};

enum opt_id {
    O_LISTEN = 256, O_UPSTREAM, O_RESOLV, O_HOSTS, O_METRICS, O_CACHE,
    O_MIN_TTL, O_MAX_TTL, O_NEG_TTL, O_LOCAL_TTL, O_STALE_TTL, O_TRY_TO,
    O_QUERY_TO, O_MAX_FAILS, O_PROBE, O_RENEW, O_INFLIGHT, O_TCP_IDLE,
    O_TCP_MAX, O_NO_EDNS_TTL, O_THREADS, O_LOG_LEVEL, O_HELP, O_VERSION,
};

static const struct option options[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"upstream", required_argument, NULL, O_UPSTREAM},
    {"resolv-conf", required_argument, NULL, O_RESOLV},
    {"hosts", required_argument, NULL, O_HOSTS},
    {"metrics", required_argument, NULL, O_METRICS},
    {"cache-size", required_argument, NULL, O_CACHE},
    {"min-ttl", required_argument, NULL, O_MIN_TTL},
    {"max-ttl", required_argument, NULL, O_MAX_TTL},
    {"neg-ttl", required_argument, NULL, O_NEG_TTL},
    {"local-ttl", required_argument, NULL, O_LOCAL_TTL},
    {"stale-ttl", required_argument, NULL, O_STALE_TTL},
    {"upstream-timeout", required_argument, NULL, O_TRY_TO},
    {"timeout", required_argument, NULL, O_QUERY_TO},
    {"max-fails", required_argument, NULL, O_MAX_FAILS},
    {"probe-interval", required_argument, NULL, O_PROBE},
    {"renew-interval", required_argument, NULL, O_RENEW},
    {"max-inflight", required_argument, NULL, O_INFLIGHT},
    {"tcp-idle-timeout", required_argument, NULL, O_TCP_IDLE},
    {"max-tcp-clients", required_argument, NULL, O_TCP_MAX},
    {"no-edns-ttl", required_argument, NULL, O_NO_EDNS_TTL},
    {"threads", required_argument, NULL, O_THREADS},
    {"log-level", required_argument, NULL, O_LOG_LEVEL},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
"Usage: " PROGRAM " [flags]\n"
"A caching DNS forwarder for loopback use (a sidecar next to nginx).\n"
"\n"
"  --listen ADDR[:PORT]      serve DNS over UDP and TCP here; repeatable, IPv4\n"
"                            or [IPv6] (default 127.0.0.1:53)\n"
"  --upstream HOST[:PORT]    forward cache misses here; repeatable, numeric\n"
"                            (default: the nameservers of --resolv-conf)\n"
"  --resolv-conf FILE        where to find default upstreams (/etc/resolv.conf)\n"
"  --hosts FILE              hosts-format records answered authoritatively;\n"
"                            reloaded when the file changes and on SIGHUP\n"
"  --local-ttl SECONDS       TTL of --hosts answers (%d)\n"
"  --cache-size N            cached answers per thread, LRU-evicted (%d)\n"
"  --min-ttl SECONDS         lower bound of cached TTLs (%d)\n"
"  --max-ttl SECONDS         upper bound of cached TTLs (%d)\n"
"  --neg-ttl SECONDS         upper bound for NXDOMAIN/NODATA, which are kept\n"
"                            min(SOA minimum, this) (%d)\n"
"  --stale-ttl SECONDS       serve expired answers up to this old when no\n"
"                            upstream answers, with TTL 30 (%d; 0 disables)\n"
"  --upstream-timeout MS     per-try timeout before also asking the next\n"
"                            upstream (the first try stays open); raised to\n"
"                            4x the upstream's smoothed RTT when longer (%d)\n"
"  --timeout MS              give up on a query after this long (%d)\n"
"  --max-fails N             consecutive failures that mark an upstream down (%d)\n"
"  --probe-interval MS       probe failing upstreams this often (%d)\n"
"  --renew-interval SECONDS  new upstream sockets (source ports) this often;\n"
"                            also after every timeout (%d; 0 disables)\n"
"  --max-inflight N          upstream queries in flight per thread (%d)\n"
"  --tcp-idle-timeout MS     close idle TCP clients after this (%d)\n"
"  --max-tcp-clients N       TCP clients per thread (%d)\n"
"  --no-edns-ttl SECONDS     an upstream whose answer to an EDNS query was\n"
"                            FORMERR/NOTIMP, and to the same query without\n"
"                            EDNS an answer, is asked without EDNS this long (%d)\n"
"  --threads N               worker threads, SO_REUSEPORT sockets, each with\n"
"                            its own cache (1)\n"
"  --metrics ADDR:PORT       /metrics and /healthz (0.0.0.0:9153; 'off' disables)\n"
"  --log-level LEVEL         debug, info, warn, error (info)\n"
"  --help                    this text\n"
"  --version                 print the version\n"
"\n"
"Signals: SIGTERM/SIGINT exit cleanly, SIGHUP reloads --hosts.\n",
        DEF_LOCAL_TTL, DEF_CACHE_SIZE, DEF_MIN_TTL, DEF_MAX_TTL, DEF_NEG_TTL,
        DEF_STALE_TTL, DEF_TRY_TIMEOUT_MS, DEF_QUERY_TIMEOUT_MS, DEF_MAX_FAILS,
        DEF_PROBE_INTERVAL_MS, DEF_RENEW_INTERVAL_S, DEF_MAX_INFLIGHT,
        DEF_TCP_IDLE_MS, DEF_MAX_TCP_CLIENTS, DEF_NO_EDNS_TTL);
}

static int parse_uint(const char *flag, const char *s, unsigned long min,
                      unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    if (!s[0] || s[0] == '-') {
        fprintf(stderr, PROGRAM ": --%s: '%s' is not a number\n", flag, s);
        return -1;
    }
    v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        fprintf(stderr, PROGRAM ": --%s: '%s' is not a number in [%lu, %lu]\n",
                flag, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->resolv_conf = "/etc/resolv.conf";
    cfg->metrics_addr = "0.0.0.0:9153";
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
    unsigned long v;
    int c;

    set_defaults(cfg);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        const char *name = NULL;

        for (const struct option *o = options; o->name; o++)
            if (o->val == c)
                name = o->name;
        switch (c) {
        case O_LISTEN:
            if (cfg->nlisten == CFG_MAX_LISTEN) {
                fprintf(stderr, PROGRAM ": at most %d --listen\n", CFG_MAX_LISTEN);
                return -1;
            }
            if (netaddr_parse(optarg, DNS_PORT, &cfg->listen[cfg->nlisten]) < 0) {
                fprintf(stderr, PROGRAM ": --listen: '%s' is not ADDR[:PORT]\n", optarg);
                return -1;
            }
            cfg->nlisten++;
            break;
        case O_UPSTREAM:
            if (cfg->nupstream == CFG_MAX_UPSTREAMS) {
                fprintf(stderr, PROGRAM ": at most %d --upstream\n", CFG_MAX_UPSTREAMS);
                return -1;
            }
            if (netaddr_parse(optarg, DNS_PORT, &cfg->upstream[cfg->nupstream]) < 0) {
                fprintf(stderr, PROGRAM ": --upstream: '%s' is not a numeric HOST[:PORT]\n", optarg);
                return -1;
            }
            cfg->nupstream++;
            break;
        case O_RESOLV: cfg->resolv_conf = optarg; break;
        case O_HOSTS: cfg->hosts_file = optarg; break;
        case O_METRICS:
            cfg->metrics_addr = strcmp(optarg, "off") == 0 ? NULL : optarg;
            break;
        case O_CACHE:
            if (parse_uint(name, optarg, 1, MAX_CACHE_SIZE, &v) < 0) return -1;
            cfg->cache_size = v;
            break;
        case O_MIN_TTL: case O_MAX_TTL: case O_NEG_TTL: case O_LOCAL_TTL:
        case O_STALE_TTL: case O_RENEW: case O_NO_EDNS_TTL:
            if (parse_uint(name, optarg, 0, MAX_TTL_LIMIT, &v) < 0) return -1;
            if (c == O_MIN_TTL) cfg->min_ttl = (uint32_t)v;
            else if (c == O_MAX_TTL) cfg->max_ttl = (uint32_t)v;
            else if (c == O_NEG_TTL) cfg->neg_ttl = (uint32_t)v;
            else if (c == O_LOCAL_TTL) cfg->local_ttl = (uint32_t)v;
            else if (c == O_STALE_TTL) cfg->stale_ttl = (uint32_t)v;
            else if (c == O_NO_EDNS_TTL) cfg->no_edns_ttl_s = (uint32_t)v;
            else cfg->renew_interval_s = (uint32_t)v;
            break;
        case O_TRY_TO: case O_QUERY_TO: case O_PROBE: case O_TCP_IDLE:
            if (parse_uint(name, optarg, 1, MAX_TIMEOUT_MS, &v) < 0) return -1;
            if (c == O_TRY_TO) cfg->try_timeout_ms = (uint32_t)v;
            else if (c == O_QUERY_TO) cfg->query_timeout_ms = (uint32_t)v;
            else if (c == O_PROBE) cfg->probe_interval_ms = (uint32_t)v;
            else cfg->tcp_idle_ms = (uint32_t)v;
            break;
        case O_MAX_FAILS: case O_INFLIGHT: case O_TCP_MAX:
            if (parse_uint(name, optarg, 1, 1000000, &v) < 0) return -1;
            if (c == O_MAX_FAILS) cfg->max_fails = (uint32_t)v;
            else if (c == O_INFLIGHT) cfg->max_inflight = (uint32_t)v;
            else cfg->max_tcp_clients = (uint32_t)v;
            break;
        case O_THREADS:
            if (parse_uint(name, optarg, 1, CFG_MAX_THREADS, &v) < 0) return -1;
            cfg->threads = (unsigned)v;
            break;
        case O_LOG_LEVEL:
            if (log_level_parse(optarg, &cfg->log_level) < 0) {
                fprintf(stderr, PROGRAM ": --log-level: '%s' is not debug|info|warn|error\n", optarg);
                return -1;
            }
            break;
        case O_HELP:
            usage(stdout);
            return 1;
        case O_VERSION:
            printf(PROGRAM " " VERSION "\n");
            return 1;
        default:
            fprintf(stderr, "Try '" PROGRAM " --help'.\n");
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (cfg->min_ttl > cfg->max_ttl) {
        fprintf(stderr, PROGRAM ": --min-ttl %u is above --max-ttl %u\n",
                cfg->min_ttl, cfg->max_ttl);
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
