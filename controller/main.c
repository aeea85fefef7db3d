/*
 * main.c - portico-controller: flags, wiring and the one event loop.
 *
 * Everything runs on one evloop: the source (Kubernetes watches through
 * controller/kube/, or a folder with --source=dir:PATH), the debounce and
 * confirmation timers of the reloader, nginx supervision and shutdown
 * (signalfd: SIGCHLD, SIGTERM, SIGINT), the Vault pipeline's notify fd.
 * Only the metrics endpoint (libmicrohttpd) and the Vault worker have
 * their own threads.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evloop.h"
#include "flags.h"
#include "httpd.h"
#include "log.h"
#include "netaddr.h"
#include "controller/access.h"
#include "controller/dirsource.h"
#include "controller/kube/externaldns.h"
#include "controller/kube/kube.h"
#include "controller/lint.h"
#include "controller/metrics.h"
#include "controller/model.h"
#include "controller/nginx.h"
#include "controller/reload.h"
#include "controller/render.h"
#include "controller/routes.h"
#include "controller/certtable.h"
#include "controller/selfsigned.h"
#include "controller/store.h"
#include "controller/supervisor.h"
#include "controller/tlsfiles.h"
#include "controller/validate.h"
#include "vault/certs.h"
#include "vault/vault.h"

#define PROGRAM               "portico-controller"
#define EXIT_USAGE            2
#define PATH_LEN              4096
#define LOCAL_HTTP_PORT       8080
#define LOCAL_HTTPS_PORT      8443
#define KUBE_HTTP_PORT        80
#define KUBE_HTTPS_PORT       443
#define STATUS_PORT           10246
#define REQUEST_METRICS_ZONE  "32m"
#define REQUEST_METRICS_ZONE_MIN      (128u << 10)    /* the module's */
/* idle upstream connections per worker in each dispatch upstream's
 * keepalive cache, every Service together (as ingress-nginx's
 * upstream-keepalive-connections) */
#define KEEPALIVE             320
#define METRICS_REFRESH_MS    1000
#define SHUTDOWN_PUBLISH_MS   3000
#define SHUTDOWN_POLL_MS      20
#define DRAIN_MS              0         /* local mode: stop at once */
#define SHUTDOWN_TIMEOUT_MS   55000     /* a little under the pod's 60 s */
#define WORKER_SHUTDOWN_TIMEOUT "40s"
#define LEASE_DURATION_S      15
#define RENEW_DEADLINE_S      10
#define RETRY_PERIOD_S        2
#define MAX_PUBLISH_ADDRESSES 16
#define MAX_RESOLVER_SOCKETS  64
#define RESOLVER_SOCKETS      1
#define NOTICE_EVENT_REASON   "AnnotationsNotApplied"
#define LIMIT_ZONE_MIN_BYTES  (32 * 1024)
#define CANDIDATE_DIR         "candidate"   /* under the prefix: nginx -t input */

/* Who runs what (--role). */
enum role {
    ROLE_ALL,           /* controller and nginx in one process tree */
    ROLE_CONTROLLER,    /* nginx is run by a --role=nginx process */
    ROLE_NGINX,         /* only run nginx from the state folder */
};

struct opts {
    enum role role;
    long drain_ms, shutdown_timeout_ms;
    const char *worker_shutdown_timeout;
    const char *nginx_config;
    const char *source;
    const char *kubeconfig;
    const char *watch_namespace;
    const char *controller_class;
    const char *ingress_class;
    int watch_without_class;
    const char *cluster_domain;
    const char *nginx_binary;
    const char *prefix;
    const char *module_path;
    const char *resolver;
    const char *resolve_ttl_arg;
    char resolve_ttl[64];
    int http_port, https_port, status_port;
    int resolver_sockets;
    const char *bind_address;
    const char *metrics_address;
    const char *request_metrics_zone;   /* "32m", or NULL: off */
    int request_metrics_per_ingress;
    const char *certs_dir;
    const char *worker_processes;
    const char *publish_service;
    const char *publish_status_address;
    int publish_dnsendpoints;
    const char *externaldns_prefix;
    int update_status_on_shutdown;
    const char *replica_selector;
    const char *election_id;
    const char *lease_namespace;
    const char *pod_name;
    long debounce_ms;
    long confirm_timeout_ms;
    long route_shard_hosts;
    enum log_level level;
    const char *annotations_prefix;
    int nginx_annotations;
    int allow_unenforced_access;
    const char *check;
    const char *output;
    int list_annotations;
    int vault_enabled;
    int use_forwarded_headers;
    const char *forwarded_for_header;
    int use_proxy_protocol;
    const char *proxy_real_ip_cidr;
    const char *limit_zone_size;
    const char *auth_cache_size;
    struct buf real_ip_from;        /* canonical proxy_real_ip_cidr */
    struct vault_config vault;
    struct certs_config certs;
};

struct controller {
    struct opts *o;
    struct evloop *loop;
    struct store *store;
    struct dirsource *dir;
    struct kube_client *kc;
    struct kube_events *events;
    struct kube_source *ks;
    struct publisher *pub;
    struct nginx *nginx;
    struct tlsfiles *tls;
    struct reloader *reloader;
    struct certs_pipeline *certs;
    struct metrics metrics;
    struct httpd *httpd;
    struct nginx_globals globals;
    struct ev_timer *metrics_timer, *shutdown_timer;
    int sigfd;
    int stopping;
    uint64_t shutdown_deadline_ms;
    uint64_t term_ms;               /* when SIGTERM came */
};

/* ---- flags -------------------------------------------------------------------- */

static int set_resolver_sockets(void *target, const struct flag *f,
                                const char *value, char *err, size_t errlen)
{
    int *n = FLAG_FIELD(target, f, int);

    if (flag_set_port(target, f, value, err, errlen) < 0 ||
        *n > MAX_RESOLVER_SOCKETS) {
        snprintf(err, errlen, "want 1-%d, not \"%.60s\"", MAX_RESOLVER_SOCKETS,
                 value);
        return -1;
    }
    return 0;
}

static int set_role(void *target, const struct flag *f, const char *value,
                    char *err, size_t errlen)
{
    static const char *const names[] = {"all", "controller", "nginx"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(value, names[i]) == 0) {
            *FLAG_FIELD(target, f, enum role) = (enum role)i;
            return 0;
        }
    snprintf(err, errlen, "all, controller or nginx, not \"%.60s\"", value);
    return -1;
}

/* --request-metrics-zone: an nginx size (k or m) of at least the module's
 * minimum, or "off" (NULL). */
static int set_metrics_zone(void *target, const struct flag *f,
                            const char *value, char *err, size_t errlen)
{
    const char **zone = FLAG_FIELD(target, f, const char *);
    size_t len = strlen(value);
    unsigned long long bytes;

    if (strcmp(value, "off") == 0) {
        *zone = NULL;
        return 0;
    }
    if (validate_buffer_size(value, len, err, errlen) < 0)
        return -1;
    bytes = strtoull(value, NULL, 10);
    if (value[len - 1] == 'k' || value[len - 1] == 'K')
        bytes <<= 10;
    else if (value[len - 1] == 'm' || value[len - 1] == 'M')
        bytes <<= 20;
    if (bytes < REQUEST_METRICS_ZONE_MIN) {
        snprintf(err, errlen, "at least %uk, not \"%.60s\"",
                 REQUEST_METRICS_ZONE_MIN >> 10, value);
        return -1;
    }
    *zone = value;
    return 0;
}

static int set_series_per_ingress(void *target, const struct flag *f,
                                  const char *value, char *err, size_t errlen)
{
    if (flag_set_port(target, f, value, err, errlen) < 0) {
        snprintf(err, errlen, "want 1-65535, not \"%.60s\"", value);
        return -1;
    }
    return 0;
}

static int set_nginx_duration(void *target, const struct flag *f,
                              const char *value, char *err, size_t errlen)
{
    if (validate_timeout(value, strlen(value), err, errlen) < 0)
        return -1;
    *FLAG_FIELD(target, f, const char *) = value;
    return 0;
}

#define OPT(field) offsetof(struct opts, field)

/* One row per flag; the defaults are set in parse_args. */
static const struct flag controller_flags[] = {
    FLAG_SECTION("Source:"),
    {"source", required_argument, "kube|dir:PATH", flag_set_str, OPT(source),
     "kube (default): watch the Kubernetes API;\n"
     "dir:PATH: read *.yaml/*.yml/*.json manifests\n"
     "(Ingress, Service, Secret, IngressClass) from\n"
     "PATH and follow changes (local mode)"},
    {"kubeconfig", required_argument, "PATH", flag_set_str, OPT(kubeconfig),
     "kubeconfig file (default: in-cluster config)"},
    {"watch-namespace", required_argument, "NS", flag_set_str,
     OPT(watch_namespace), "only this namespace (default: all)"},
    FLAG_SECTION("Ingress selection:"),
    {"controller-class", required_argument, "NAME", flag_set_str,
     OPT(controller_class), "IngressClass spec.controller we own\n"
     "(default portico.io/ingress-controller)"},
    {"ingress-class", required_argument, "NAME", flag_set_str,
     OPT(ingress_class), "legacy kubernetes.io/ingress.class value\n"
     "(default portico)"},
    {"watch-ingress-without-class", optional_argument, NULL, flag_set_bool,
     OPT(watch_without_class), "serve Ingresses with no class at all (also\n"
     "done when our IngressClass is the default)"},
    {"cluster-domain", required_argument, "DOMAIN", flag_set_str,
     OPT(cluster_domain),
     "Service names: SVC.NS.svc.DOMAIN (cluster.local)"},
    FLAG_SECTION("nginx:"),
    {"role", required_argument, "all|controller|nginx", set_role, OPT(role),
     "all (default): this process also runs nginx:\n"
     "starts it when none runs, adopts a running one,\n"
     "restarts it, drains it on SIGTERM; controller:\n"
     "nginx is run by a --role=nginx process that\n"
     "shares the state folder and the process\n"
     "namespace (the pod); nginx: only run nginx\n"
     "from the state folder (the pod's nginx\n"
     "container; needs the nginx and Observability\n"
     "flags only)"},
    {"drain-period", required_argument, "DURATION", flag_set_duration_ms,
     OPT(drain_ms), "after SIGTERM nginx keeps accepting this long\n"
     "(/readyz fails meanwhile), then stops\n"
     "gracefully (default 0s)"},
    {"shutdown-timeout", required_argument, "DURATION", flag_set_duration_ms,
     OPT(shutdown_timeout_ms), "nginx is killed this long after SIGTERM if\n"
     "it has not stopped (default 55s; a little\n"
     "under terminationGracePeriodSeconds)"},
    {"worker-shutdown-timeout", required_argument, "DURATION",
     set_nginx_duration, OPT(worker_shutdown_timeout),
     "nginx's worker_shutdown_timeout: how long\n"
     "requests in flight may finish after the\n"
     "graceful stop or a reload (default 40s)"},
    {"nginx-config", required_argument, "DIR", flag_set_str,
     OPT(nginx_config), "nginx globals, one file per key (the chart's\n"
     "ConfigMap): worker-processes, keep-alive,\n"
     "keep-alive-requests, client-header-timeout,\n"
     "client-body-timeout, proxy-connect-timeout,\n"
     "proxy-read-timeout, proxy-send-timeout,\n"
     "proxy-body-size, log-format-upstream; read at\n"
     "start, a bad value or unknown key refused"},
    {"nginx-binary", required_argument, "PATH", flag_set_str,
     OPT(nginx_binary), "(default /usr/sbin/nginx)"},
    {"nginx-prefix", required_argument, "DIR", flag_set_str, OPT(prefix),
     "state folder: nginx.conf, route table, pid,\n"
     "certificates, temp files\n"
     "(default /var/lib/portico)"},
    {"module-path", required_argument, "PATH", flag_set_str, OPT(module_path),
     "ngx_http_upstream_resolve_module.so, with the\n"
     "resolve and the route modules (default\n"
     "/usr/lib/nginx/modules/ngx_http_upstream_resolve_module.so)"},
    {"resolver", required_argument, "ADDR[:PORT]", flag_set_str,
     OPT(resolver), "DNS for upstream names, i.e. portico-dnscache\n"
     "(default 127.0.0.1:53)"},
    {"resolve-ttl", required_argument, "MIN,MAX", flag_set_str,
     OPT(resolve_ttl_arg), "re-resolve bounds (default 1s,30s)"},
    {"resolver-sockets", required_argument, "N", set_resolver_sockets,
     OPT(resolver_sockets), "UDP sockets per nginx worker for DNS: the\n"
     "resolver is listed N times (default 1; the\n"
     "module paces its lookups, see\n"
     "resolve_max_in_flight)"},
    {"http-port", required_argument, "N", flag_set_port, OPT(http_port),
     "(default 80; 8080 with --source=dir)"},
    {"https-port", required_argument, "N", flag_set_port, OPT(https_port),
     "(default 443; 8443 with --source=dir)"},
    {"bind-address", required_argument, "ADDR", flag_set_str,
     OPT(bind_address), "listen only on ADDR (default: all)"},
    {"status-port", required_argument, "N", flag_set_port, OPT(status_port),
     "nginx status on 127.0.0.1:N: /nginx_status,\n"
     "/upstreams, /config-version, /routes-version,\n/metrics\n"
     "(default 10246)"},
    {"worker-processes", required_argument, "N|auto", flag_set_str,
     OPT(worker_processes), "(default auto)"},
    {"certs-dir", required_argument, "DIR", flag_set_str, OPT(certs_dir),
     "certificate files (default PREFIX/certs)"},
    {"debounce", required_argument, "DURATION", flag_set_duration_ms,
     OPT(debounce_ms), "coalesce changes for this long (default 100ms)"},
    {"confirm-timeout", required_argument, "DURATION", flag_set_duration_ms,
     OPT(confirm_timeout_ms), "a change nginx has not served within this\n"
     "long counts as unconfirmed; it is still\nconfirmed if served later "
     "(default 30s)"},
    {"route-shard-hosts", required_argument, "N", flag_set_count,
     OPT(route_shard_hosts), "above N hosts, write the route table in\n"
     "shards of about N hosts each: a change\n"
     "rewrites and re-reads only its shards\n"
     "(default " FLAG_STR(RELOAD_ROUTE_SHARD_HOSTS) "; 0: always one file)"},
    FLAG_SECTION("Access control (allow-lists and limits):"),
    {"use-forwarded-headers", optional_argument, NULL, flag_set_bool,
     OPT(use_forwarded_headers), "the client address is the rightmost one in\n"
     "--forwarded-for-header not in\n"
     "--proxy-real-ip-cidr, on connections from\n"
     "those proxies (needs --proxy-real-ip-cidr)"},
    {"forwarded-for-header", required_argument, "NAME", flag_set_str,
     OPT(forwarded_for_header), "(default X-Forwarded-For)"},
    {"use-proxy-protocol", optional_argument, NULL, flag_set_bool,
     OPT(use_proxy_protocol), "listeners expect the PROXY protocol (v1/v2)\n"
     "and take the client address from it, on\n"
     "connections from --proxy-real-ip-cidr"},
    {"proxy-real-ip-cidr", required_argument, "A,B", flag_set_str,
     OPT(proxy_real_ip_cidr), "the load balancers or proxies trusted to\n"
     "tell the client address (IPv4/IPv6 networks)"},
    {"limit-zone-size", required_argument, "SIZE", flag_set_str,
     OPT(limit_zone_size), "shared memory of each zone of limit-rps,\n"
     "limit-rpm and limit-connections, one per\n"
     "limited Ingress and kind (default 5m: about\n"
     "80k client addresses; at least 32k)"},
    {"auth-cache-size", required_argument, "SIZE", flag_set_str,
     OPT(auth_cache_size), "keys zone of the cache of auth-url answers\n"
     "(auth-cache-key; files under PREFIX/cache/auth,\n"
     "at most 128m; default 10m: about 80k\n"
     "answers; at least 32k)"},
    FLAG_SECTION("Publishing (kube source; only the leader writes):"),
    {"publish-service", required_argument, "NS/NAME", flag_set_str,
     OPT(publish_service), "copy this Service's load-balancer address\n"
     "into Ingress status"},
    {"publish-status-address", required_argument, "A,B", flag_set_str,
     OPT(publish_status_address), "or publish these IPs/hostnames"},
    {"publish-dnsendpoints", optional_argument, NULL, flag_set_bool,
     OPT(publish_dnsendpoints), "also write one DNSEndpoint per Ingress,\n"
     "as ExternalDNS's ingress source would read\n"
     "it (for its crd source; docs/externaldns.md)"},
    {"externaldns-annotation-prefix", required_argument, "PREFIX",
     flag_set_str, OPT(externaldns_prefix), "the ExternalDNS annotations read for\n"
     "DNSEndpoints, as ExternalDNS's\n"
     "--annotation-prefix (default\n"
     EXTERNALDNS_PREFIX_DEFAULT ", v0.22 on;\n"
     "up to v0.21: " EXTERNALDNS_PREFIX_ALPHA ")"},
    {"update-status-on-shutdown", optional_argument, NULL, flag_set_bool,
     OPT(update_status_on_shutdown), "clear the status when stopping, if\n"
     "no other replica runs (pod list)"},
    {"replica-selector", required_argument, "SELECTOR", flag_set_str,
     OPT(replica_selector), "label selector of this controller's Pods\n"
     "(default: this Pod's labels but\n"
     "pod-template-hash and the like)"},
    {"election-id", required_argument, "NAME", flag_set_str,
     OPT(election_id), "leader Lease name (default portico-leader)"},
    {"lease-namespace", required_argument, "NS", flag_set_str,
     OPT(lease_namespace), "(default $POD_NAMESPACE, else the\n"
     "kubeconfig's or service account's, else\n"
     "default)"},
    {"pod-name", required_argument, "NAME", flag_set_str, OPT(pod_name),
     "identity in the Lease (default $POD_NAME,\n"
     "else the host name)"},
    FLAG_SECTION("Annotations (portico.io/ is always read):"),
    {"annotations-prefix", required_argument, "PREFIX", flag_set_str,
     OPT(annotations_prefix), "also read annotations under PREFIX/, as\n"
     "ingress-nginx's flag of that name (default\n"
     "nginx.ingress.kubernetes.io)"},
    {"ingress-nginx-annotations", optional_argument, NULL, flag_set_bool,
     OPT(nginx_annotations), "=false: read portico.io/ only, never\n"
     "the --annotations-prefix (default true)"},
    {"allow-unenforced-access-annotations", optional_argument, NULL,
     flag_set_bool, OPT(allow_unenforced_access),
     "serve Ingresses whose access annotations\n"
     "(auth-*, whitelist-source-range, limit-*, ...)\n"
     "Portico does not enforce, WITHOUT that\n"
     "protection (default off: they are refused)"},
    FLAG_SECTION("Lint (no nginx, nothing changes):"),
    {"check", required_argument, "PATH|-", flag_set_str, OPT(check),
     "read manifests (a folder, a file, or - for\n"
     "stdin, e.g. kubectl get ingress -A -o yaml),\n"
     "print what would be served or refused and\n"
     "why, then exit: 0 all served, 1 something\n"
     "refused, 2 unreadable input"},
    {"output", required_argument, "text|json", flag_set_str, OPT(output),
     "format of --check (default text)"},
    {"list-annotations", optional_argument, NULL, flag_set_bool,
     OPT(list_annotations), "print every annotation Portico knows (JSON:\n"
     "supported, refused or ignored, and why), exit"},
    FLAG_SECTION("Observability:"),
    {"metrics-address", required_argument, "[ADDR]:PORT", flag_set_str,
     OPT(metrics_address), "/metrics /healthz /readyz (default :10254);\n"
     "nginx's request metrics are fetched from the\nstatus port at each "
     "scrape and served here too"},
    {"request-metrics-zone", required_argument, "SIZE|off", set_metrics_zone,
     OPT(request_metrics_zone),
     "nginx's shared zone of request metrics per\nIngress rule "
     "(docs/metrics.md): one label set\nper 1 KB (default 32m: 32768); "
     "off: none"},
    {"request-metrics-series-per-ingress", required_argument, "N",
     set_series_per_ingress, OPT(request_metrics_per_ingress),
     "status and method series an Ingress may have;\nthe rest count by "
     "status class (default 256)"},
    {"log-level", required_argument, "LEVEL", flag_set_log_level,
     OPT(level),
     "debug, info, warn or error (default info)"},
};

static void usage(FILE *out)
{
    fprintf(out,
"Usage: " PROGRAM " [flags]\n"
"Keeps nginx configured from Kubernetes Ingresses (or a folder of manifests).\n"
"\n"
"  --help, -h                    this text\n");
    flags_usage(out, controller_flags,
                sizeof(controller_flags) / sizeof(controller_flags[0]));
    fprintf(out,
"Vault (Ingresses labelled ssl: \"true\"; on when VAULT_ADDR or\n"
"--vault-addr is set):\n");
    vault_config_usage(out);
    certs_config_usage(out);
    fprintf(out,
"\nLabels: ssl: \"true\" (certificates from Vault per host), httpsOnly: \"true\"\n"
"(redirect HTTP to HTTPS). Annotations: see docs/controller.md and\n"
"docs/migrating-from-ingress-nginx.md.\n");
}

/* "1s,30s" -> "1s 30s", each a number with an optional s/m/h unit. */
static int parse_resolve_ttl(const char *v, char *out, size_t outlen)
{
    const char *comma = strchr(v, ',');
    char err[128];

    if (!comma ||
        validate_timeout(v, (size_t)(comma - v), err, sizeof(err)) < 0 ||
        validate_timeout(comma + 1, strlen(comma + 1), err, sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": --resolve-ttl: want MIN,MAX like 1s,30s\n");
        return -1;
    }
    snprintf(out, outlen, "%.*s %s", (int)(comma - v), v, comma + 1);
    return 0;
}

/* A validated size ("5m", validate.h) in bytes. */
static unsigned long long size_bytes(const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);

    switch (*end) {
    case 'k': case 'K':
        return n << 10;
    case 'm': case 'M':
        return n << 20;
    case 'g': case 'G':
        return n << 30;
    }
    return n;
}

/* The flags that say how the client address is found (access.h). Trust
 * is never implied: forwarded headers and the PROXY protocol need the
 * proxies' networks, else any client could claim any address and pass
 * an allow-list (ingress-nginx trusts 0.0.0.0/0 by default). */
static int check_client_address(struct opts *o)
{
    char err[256];

    if (access_check_header_name(o->forwarded_for_header, err,
                                 sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": --forwarded-for-header: %s\n", err);
        return -1;
    }
    if (validate_size(o->limit_zone_size, strlen(o->limit_zone_size), err,
                      sizeof(err)) < 0 ||
        size_bytes(o->limit_zone_size) < LIMIT_ZONE_MIN_BYTES) {
        fprintf(stderr, PROGRAM ": --limit-zone-size: at least 32k (nginx's "
                "smallest shared zone)\n");
        return -1;
    }
    if (validate_size(o->auth_cache_size, strlen(o->auth_cache_size), err,
                      sizeof(err)) < 0 ||
        size_bytes(o->auth_cache_size) < LIMIT_ZONE_MIN_BYTES) {
        fprintf(stderr, PROGRAM ": --auth-cache-size: at least 32k\n");
        return -1;
    }
    if (o->use_forwarded_headers && o->use_proxy_protocol) {
        fprintf(stderr, PROGRAM ": --use-forwarded-headers and "
                "--use-proxy-protocol together are not supported: choose "
                "the one your load balancer speaks\n");
        return -1;
    }
    if (o->proxy_real_ip_cidr &&
        (cidr_list_canonical(o->proxy_real_ip_cidr,
                             strlen(o->proxy_real_ip_cidr), &o->real_ip_from,
                             err, sizeof(err)) < 0 ||
         buf_failed(&o->real_ip_from))) {
        fprintf(stderr, PROGRAM ": --proxy-real-ip-cidr: %s\n", err);
        return -1;
    }
    if ((o->use_forwarded_headers || o->use_proxy_protocol) &&
        !o->proxy_real_ip_cidr) {
        fprintf(stderr, PROGRAM ": --%s needs --proxy-real-ip-cidr (the "
                "proxies trusted to tell the client address)\n",
                o->use_forwarded_headers ? "use-forwarded-headers"
                                         : "use-proxy-protocol");
        return -1;
    }
    if (o->proxy_real_ip_cidr && !o->use_forwarded_headers &&
        !o->use_proxy_protocol) {
        fprintf(stderr, PROGRAM ": --proxy-real-ip-cidr needs "
                "--use-forwarded-headers or --use-proxy-protocol\n");
        return -1;
    }
    return 0;
}

/* Checks what the flags say together, and fills the defaults that depend
 * on other flags. */
static int check_opts(struct opts *o)
{
    char err[256];
    int local = strncmp(o->source, "dir:", 4) == 0;

    if (!local && strcmp(o->source, "kube") != 0) {
        fprintf(stderr, PROGRAM ": --source must be kube or dir:PATH\n");
        return -1;
    }
    if (!o->http_port)
        o->http_port = local ? LOCAL_HTTP_PORT : KUBE_HTTP_PORT;
    if (!o->https_port)
        o->https_port = local ? LOCAL_HTTPS_PORT : KUBE_HTTPS_PORT;
    if (validate_host(o->cluster_domain, strlen(o->cluster_domain), err,
                      sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": --cluster-domain: %s\n", err);
        return -1;
    }
    struct netaddr na;
    if (netaddr_parse(o->resolver, 53, &na) < 0) {
        fprintf(stderr, PROGRAM ": --resolver: want a numeric ADDR[:PORT]\n");
        return -1;
    }
    if (o->bind_address && netaddr_parse(o->bind_address, 0, &na) < 0) {
        fprintf(stderr, PROGRAM ": --bind-address: want a numeric address\n");
        return -1;
    }
    if (parse_resolve_ttl(o->resolve_ttl_arg, o->resolve_ttl,
                          sizeof(o->resolve_ttl)) < 0)
        return -1;
    if (strcmp(o->worker_processes, "auto") != 0 &&
        strspn(o->worker_processes, "0123456789") !=
            strlen(o->worker_processes)) {
        fprintf(stderr, PROGRAM ": --worker-processes: a number or auto\n");
        return -1;
    }
    if (check_client_address(o) < 0)
        return -1;
    if (o->drain_ms >= o->shutdown_timeout_ms) {
        fprintf(stderr, PROGRAM ": --drain-period must be shorter than "
                "--shutdown-timeout\n");
        return -1;
    }
    if (o->annotations_prefix &&
        ann_check_prefix(o->annotations_prefix, err, sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        return -1;
    }
    if (!externaldns_prefix_valid(o->externaldns_prefix)) {
        fprintf(stderr, PROGRAM ": --externaldns-annotation-prefix must end "
                "with '/' (as ExternalDNS's --annotation-prefix)\n");
        return -1;
    }
    if (strcmp(o->output, "text") != 0 && strcmp(o->output, "json") != 0) {
        fprintf(stderr, PROGRAM ": --output: text or json\n");
        return -1;
    }
    o->vault_enabled = o->vault.addr_given;
    if (o->vault_enabled && vault_config_check(&o->vault, err, sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        return -1;
    }
    return 0;
}

static int parse_args(struct opts *o, int argc, char **argv)
{
    struct flag_table tables[] = {
        {controller_flags,
         sizeof(controller_flags) / sizeof(controller_flags[0]), o},
        vault_config_flags(&o->vault),
        certs_config_flags(&o->certs),
    };
    char err[256];
    int first;

    o->source = "kube";
    o->role = ROLE_ALL;
    o->drain_ms = DRAIN_MS;
    o->shutdown_timeout_ms = SHUTDOWN_TIMEOUT_MS;
    o->worker_shutdown_timeout = WORKER_SHUTDOWN_TIMEOUT;
    o->controller_class = "portico.io/ingress-controller";
    o->ingress_class = "portico";
    o->cluster_domain = "cluster.local";
    o->nginx_binary = "/usr/sbin/nginx";
    o->prefix = "/var/lib/portico";
    o->module_path =
        "/usr/lib/nginx/modules/ngx_http_upstream_resolve_module.so";
    o->resolver = "127.0.0.1:53";
    o->resolve_ttl_arg = "1s,30s";
    o->resolver_sockets = RESOLVER_SOCKETS;
    o->status_port = STATUS_PORT;
    o->metrics_address = ":10254";
    o->request_metrics_zone = REQUEST_METRICS_ZONE;
    o->request_metrics_per_ingress = RENDER_METRICS_PER_INGRESS;
    o->worker_processes = "auto";
    o->election_id = "portico-leader";
    o->externaldns_prefix = EXTERNALDNS_PREFIX_DEFAULT;
    o->debounce_ms = RELOAD_DEBOUNCE_MS;
    o->confirm_timeout_ms = RELOAD_CONFIRM_TIMEOUT_MS;
    o->route_shard_hosts = RELOAD_ROUTE_SHARD_HOSTS;
    o->level = LOG_INFO;
    o->nginx_annotations = 1;
    o->output = "text";
    o->forwarded_for_header = "X-Forwarded-For";
    o->limit_zone_size = ACCESS_LIMIT_ZONE_SIZE;
    o->auth_cache_size = ACCESS_AUTH_CACHE_SIZE;
    buf_init(&o->real_ip_from);
    vault_config_init(&o->vault);
    certs_config_init(&o->certs);
    if (vault_config_from_env(&o->vault, err, sizeof(err)) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        return -1;
    }
    first = flags_parse_main(PROGRAM, tables,
                             sizeof(tables) / sizeof(tables[0]), argc, argv,
                             usage);
    if (first < 0)
        return -1;
    if (first < argc) {
        fprintf(stderr, PROGRAM ": unexpected argument \"%s\" (see --help)\n",
                argv[first]);
        return -1;
    }
    return check_opts(o);
}

static struct ann_config ann_config_of(const struct opts *o)
{
    return (struct ann_config){
        .nginx_prefix = o->annotations_prefix,
        .nginx_prefix_off = !o->nginx_annotations,
        .allow_unenforced_access = o->allow_unenforced_access,
    };
}

/* Says at start how annotations are read; loudly when access annotations
 * are served without being enforced. */
static void log_annotation_config(const struct opts *o)
{
    if (o->nginx_annotations)
        log_info("annotations: reading portico.io/ and %s/",
                 o->annotations_prefix ? o->annotations_prefix
                                       : ANN_NGINX_PREFIX);
    else
        log_info("annotations: reading portico.io/ only "
                 "(--ingress-nginx-annotations=false)");
    if (o->allow_unenforced_access)
        log_warn("annotations: --allow-unenforced-access-annotations is ON: "
                 "Ingresses with access annotations Portico does not enforce "
                 "(auth-*, whitelist-source-range, limit-*, satisfy, ...) ARE "
                 "SERVED WITHOUT THAT PROTECTION; each is reported "
                 "(AnnotationsNotApplied, annotations{outcome=\"unenforced\"})");
}

/* --check: lint the manifests and exit. */
static int run_check(const struct opts *o)
{
    struct lint_opts lo = {
        .path = o->check,
        .format = strcmp(o->output, "json") == 0 ? LINT_JSON : LINT_TEXT,
        .model = {
            .controller_class = o->controller_class,
            .ingress_class = o->ingress_class,
            .watch_without_class = o->watch_without_class,
            .cluster_domain = o->cluster_domain,
            .annotations = ann_config_of(o),
        },
    };

    return lint_run(&lo, stdout, stderr);
}

/* ---- hooks from the reloader ----------------------------------------------- */

static void on_served(void *arg, const struct model *m)
{
    struct controller *c = arg;
    struct served_ingress *list;
    size_t n = 0;

    if (!c->pub)
        return;
    list = calloc(m->ning ? m->ning : 1, sizeof(*list));
    if (!list)
        return;
    for (size_t i = 0; i < m->ning; i++) {
        const struct model_ingress *mi = &m->ings[i];
        if (mi->state != ING_SERVED)
            continue;
        list[n].ns = mi->ns;
        list[n].name = mi->name;
        list[n].uid = mi->uid;
        list[n].hosts = (const char *const *)mi->hosts;
        list[n].nhosts = mi->nhosts;
        list[n].externaldns = mi->externaldns;
        n++;
    }
    publisher_update(c->pub, list, n);
    free(list);
    /* Served, but with annotations not applied: that Event stays the
     * Ingress's current one (publisher_update forgot it). */
    for (size_t i = 0; c->events && i < m->ning; i++) {
        const struct model_ingress *mi = &m->ings[i];
        if (mi->state == ING_SERVED && mi->notice)
            kube_events_remember(c->events, mi->ns, mi->name, mi->uid,
                                 "Warning", NOTICE_EVENT_REASON, mi->notice);
    }
}

static void on_problem(void *arg, const struct model_ingress *mi)
{
    struct controller *c = arg;

    if (c->events)
        kube_events_emit(c->events, mi->ns, mi->name, mi->uid, "Warning",
                         mi->state == ING_REJECTED ? "Rejected" : "Excluded",
                         mi->reason ? mi->reason : "");
}

static void on_unresolved(void *arg, const struct model_ingress *mi,
                          const char *message)
{
    struct controller *c = arg;

    if (c->events)
        kube_events_emit(c->events, mi->ns, mi->name, mi->uid, "Warning",
                         "Unresolved", message);
}

static void on_notice(void *arg, const struct model_ingress *mi)
{
    struct controller *c = arg;

    if (c->events && mi->notice)
        kube_events_emit(c->events, mi->ns, mi->name, mi->uid, "Warning",
                         NOTICE_EVENT_REASON, mi->notice);
}

static void on_vault_hosts(void *arg, char *const *hosts, size_t n)
{
    struct controller *c = arg;

    if (c->certs && certs_set_hosts(c->certs, (const char *const *)hosts, n) < 0)
        log_error("vault: out of memory setting hosts");
}

static void on_vault_refresh(void *arg)
{
    struct controller *c = arg;

    if (c->certs)
        certs_refresh_now(c->certs);
}

static void on_nginx_exited(void *arg)
{
    struct controller *c = arg;

    if (c->reloader)
        reloader_on_sigchld(c->reloader);
    else
        nginx_reap(c->nginx);
}

static void on_store_change(void *arg)
{
    struct controller *c = arg;

    if (c->reloader)
        reloader_kick(c->reloader);
}

static void on_certs(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct controller *c = arg;
    struct certs_snapshot *snap = calloc(1, sizeof(*snap));

    certs_notify_ack(c->certs);
    if (!snap || certs_snapshot(c->certs, snap) < 0) {
        free(snap);
        return;
    }
    tlsfiles_set_vault(c->tls, snap);
    reloader_kick(c->reloader);
}

static void on_metrics_timer(struct evloop *loop, struct ev_timer *t,
                             void *arg)
{
    struct controller *c = arg;

    if (c->kc) {
        struct buf b;
        buf_init(&b);
        kube_client_write_metrics(c->kc, &b);
        publisher_write_metrics(c->pub, &b);
        metrics_set_kube(&c->metrics, buf_failed(&b) ? NULL
                                                     : buf_steal(&b, NULL));
        buf_free(&b);
    }
    if (c->pub) {
        pthread_mutex_lock(&c->metrics.lock);
        c->metrics.leader = publisher_is_leader(c->pub) ? 1 : 0;
        pthread_mutex_unlock(&c->metrics.lock);
    }
    evloop_timer_start(t, METRICS_REFRESH_MS);
}

/* Stops the loop once the publisher's last writes are done (or after
 * SHUTDOWN_PUBLISH_MS). */
static void on_shutdown_timer(struct evloop *loop, struct ev_timer *t,
                              void *arg)
{
    struct controller *c = arg;

    if (c->pub && publisher_busy(c->pub) &&
        evloop_clock_ms() < c->shutdown_deadline_ms) {
        evloop_timer_start(t, SHUTDOWN_POLL_MS);
        return;
    }
    evloop_stop(loop);
}

static void on_signal(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct controller *c = arg;
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reloader_on_sigchld(c->reloader);
            continue;
        }
        if (c->stopping)
            continue;
        c->stopping = 1;
        c->term_ms = evloop_clock_ms();
        log_info("signal %u: shutting down", si.ssi_signo);
        /* Out of the Service's endpoints while nginx drains. */
        pthread_mutex_lock(&c->metrics.lock);
        c->metrics.ready = 0;
        pthread_mutex_unlock(&c->metrics.lock);
        reloader_shutdown_begin(c->reloader);
        if (c->pub) {
            publisher_shutdown(c->pub, SHUTDOWN_PUBLISH_MS);
            c->shutdown_deadline_ms = evloop_clock_ms() + SHUTDOWN_PUBLISH_MS;
            evloop_timer_start(c->shutdown_timer, SHUTDOWN_POLL_MS);
        } else {
            evloop_stop(loop);
        }
    }
}

/* ---- setup -------------------------------------------------------------------- */

static int make_dirs(const struct opts *o, char *err, size_t errlen)
{
    static const char *const sub[] = {"", "/tmp", "/tmp/client_body",
                                      "/tmp/proxy", "/tmp/fastcgi",
                                      "/tmp/uwsgi", "/tmp/scgi", "/logs",
                                      "/cache", "/" CANDIDATE_DIR};
    char path[PATH_LEN];

    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", o->prefix, sub[i]);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create %.300s: %s", path,
                     strerror(errno));
            return -1;
        }
    }
    /* nginx workers run unprivileged: they must reach the temp paths. */
    chmod(o->prefix, 0755);
    return 0;
}

static int split_addresses(char *list, const char **out, size_t *n)
{
    char *save = NULL;

    *n = 0;
    for (char *tok = strtok_r(list, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (*n == MAX_PUBLISH_ADDRESSES)
            return -1;
        out[(*n)++] = tok;
    }
    return 0;
}

static int start_kube(struct controller *c, char *err, size_t errlen)
{
    struct opts *o = c->o;
    static const char *addrs[MAX_PUBLISH_ADDRESSES];
    static char hostname[256];
    size_t naddrs = 0;

    if (!o->pod_name) {
        o->pod_name = getenv("POD_NAME");
        if (!o->pod_name) {
            gethostname(hostname, sizeof(hostname) - 1);
            o->pod_name = hostname;
        }
    }
    struct kube_client_opts ko = {.kubeconfig = o->kubeconfig,
                                  .user_agent = PROGRAM,
                                  .identity = o->pod_name};
    c->kc = kube_client_new(c->loop, &ko, err, errlen);
    if (!c->kc)
        return -1;
    c->events = kube_events_new(c->kc, o->watch_namespace);
    if (!c->events) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->ks = kube_source_start(c->kc, c->store, o->watch_namespace, err, errlen);
    if (!c->ks)
        return -1;
    if (o->publish_status_address) {
        char *copy = strdup(o->publish_status_address);
        if (!copy || split_addresses(copy, addrs, &naddrs) < 0) {
            snprintf(err, errlen, "--publish-status-address: at most %d",
                     MAX_PUBLISH_ADDRESSES);
            return -1;
        }
    }
    if (!o->lease_namespace)
        o->lease_namespace = getenv("POD_NAMESPACE");
    if (!o->lease_namespace)
        o->lease_namespace = kube_client_namespace(c->kc);
    if (!o->lease_namespace)
        o->lease_namespace = "default";
    struct publisher_opts po = {
        .identity = o->pod_name,
        .lease_namespace = o->lease_namespace,
        .lease_name = o->election_id,
        .lease_duration_s = LEASE_DURATION_S,
        .renew_deadline_s = RENEW_DEADLINE_S,
        .retry_period_s = RETRY_PERIOD_S,
        .publish_service = o->publish_service,
        .publish_addresses = naddrs ? addrs : NULL,
        .npublish_addresses = naddrs,
        .publish_dnsendpoints = o->publish_dnsendpoints,
        .externaldns_prefix = o->externaldns_prefix,
        .clear_status_on_shutdown = o->update_status_on_shutdown,
        .pod_namespace = getenv("POD_NAMESPACE"),
        .replica_selector = o->replica_selector,
        .watch_namespace = o->watch_namespace,
    };
    c->pub = publisher_start(c->kc, c->events, c->ks, &po, err, errlen);
    return c->pub ? 0 : -1;
}

static int start_vault(struct controller *c, char *err, size_t errlen)
{
    static char dir[PATH_LEN];

    if (!c->o->certs.dir) {
        snprintf(dir, sizeof(dir), "%s/vault", c->o->certs_dir);
        c->o->certs.dir = dir;
    }
    c->certs = certs_new(&c->o->certs, &c->o->vault, err, errlen);
    if (!c->certs || certs_start(c->certs) < 0)
        return -1;
    c->metrics.certs = c->certs;
    return evloop_io_set(c->loop, certs_notify_fd(c->certs), EV_READ,
                         on_certs, c);
}

static const char *metrics_listen(const char *addr, char *buf, size_t len)
{
    if (addr[0] == ':') {
        snprintf(buf, len, "0.0.0.0%s", addr);
        return buf;
    }
    return addr;
}

static int run(struct controller *c)
{
    struct opts *o = c->o;
    char err[512], conf[PATH_LEN], routes[PATH_LEN], cand_conf[PATH_LEN],
        cand_routes[PATH_LEN], dcrt[PATH_LEN], dkey[PATH_LEN], mlisten[128],
        certs[PATH_LEN], cand_certs[PATH_LEN];
    static char certs_dir[PATH_LEN];
    sigset_t mask;

    if (make_dirs(o, err, sizeof(err)) < 0)
        goto fail;
    if (globals_load(o->nginx_config, &c->globals, err, sizeof(err)) < 0) {
        log_error("--nginx-config: %s", err);
        return 1;
    }
    if (!o->certs_dir) {
        snprintf(certs_dir, sizeof(certs_dir), "%s/certs", o->prefix);
        o->certs_dir = certs_dir;
    }
    snprintf(conf, sizeof(conf), "%s/nginx.conf", o->prefix);
    snprintf(routes, sizeof(routes), "%s/" ROUTES_FILE, o->prefix);
    snprintf(cand_conf, sizeof(cand_conf), "%s/" CANDIDATE_DIR "/nginx.conf",
             o->prefix);
    snprintf(cand_routes, sizeof(cand_routes),
             "%s/" CANDIDATE_DIR "/" ROUTES_FILE, o->prefix);
    snprintf(certs, sizeof(certs), "%s/" CERTTABLE_FILE, o->prefix);
    snprintf(cand_certs, sizeof(cand_certs),
             "%s/" CANDIDATE_DIR "/" CERTTABLE_FILE, o->prefix);
    snprintf(dcrt, sizeof(dcrt), "%s/default.crt", o->prefix);
    snprintf(dkey, sizeof(dkey), "%s/default.key", o->prefix);
    if (selfsigned_write(dcrt, dkey, "portico-default", err, sizeof(err)) < 0)
        goto fail;

    /* Signals go to the signalfd; threads started below inherit the mask. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    c->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

    c->loop = evloop_new();
    if (!c->loop || c->sigfd < 0 ||
        evloop_io_set(c->loop, c->sigfd, EV_READ, on_signal, c) < 0) {
        snprintf(err, sizeof(err), "cannot set up the event loop");
        goto fail;
    }
    c->store = store_new(on_store_change, c);
    c->tls = c->store ? tlsfiles_new(c->store, o->certs_dir, err, sizeof(err))
                      : NULL;
    if (!c->tls)
        goto fail;
    metrics_init(&c->metrics);
    if (o->request_metrics_zone)
        c->metrics.nginx_status_port = o->status_port;
    c->httpd = httpd_start(metrics_listen(o->metrics_address, mlisten,
                                          sizeof(mlisten)),
                           metrics_http_handler, &c->metrics, err, sizeof(err));
    if (!c->httpd)
        goto fail;

    struct nginx_opts no = {.binary = o->nginx_binary, .prefix = o->prefix,
                            .conf = conf, .status_port = o->status_port,
                            .external = o->role == ROLE_CONTROLLER,
                            .loop = c->loop, .exited = on_nginx_exited,
                            .arg = c};
    c->nginx = nginx_new(&no);
    struct reloader_config rc = {
        .render = {
            .module_path = o->module_path,
            .resolver = o->resolver,
            .resolver_sockets = o->resolver_sockets,
            .resolve_ttl = o->resolve_ttl,
            .bind_address = o->bind_address,
            .http_port = o->http_port,
            .https_port = o->https_port,
            .status_port = o->status_port,
            .prefix = o->prefix,
            .default_crt = dcrt,
            .default_key = dkey,
            .certs_dir = o->certs_dir,
            .worker_processes = o->worker_processes,
            .worker_shutdown_timeout = o->worker_shutdown_timeout,
            .keepalive = KEEPALIVE,
            .error_log = "stderr",
            .metrics_zone = o->request_metrics_zone,
            .metrics_per_ingress = o->request_metrics_per_ingress,
            .access = {
                .real_ip_header = o->use_proxy_protocol ? "proxy_protocol"
                                  : o->use_forwarded_headers
                                      ? o->forwarded_for_header
                                      : NULL,
                .real_ip_from = o->real_ip_from.data,
                .proxy_protocol = o->use_proxy_protocol,
                .limit_zone_size = o->limit_zone_size,
                .auth_cache_size = o->auth_cache_size,
            },
            .globals = &c->globals,
        },
        .model = {
            .controller_class = o->controller_class,
            .ingress_class = o->ingress_class,
            .watch_without_class = o->watch_without_class,
            .cluster_domain = o->cluster_domain,
            /* Kept per Ingress only for its DNSEndpoint. */
            .externaldns_prefix = o->publish_dnsendpoints
                                      ? o->externaldns_prefix : NULL,
            .annotations = ann_config_of(o),
        },
        .conf_path = conf,
        .routes_path = routes,
        .certs_path = certs,
        .candidate_conf = cand_conf,
        .candidate_routes = cand_routes,
        .candidate_certs = cand_certs,
        .debounce_ms = (int)o->debounce_ms,
        .max_wait_ms = RELOAD_MAX_WAIT_MS,
        .confirm_timeout_ms = (int)o->confirm_timeout_ms,
        .route_shard_hosts = (size_t)o->route_shard_hosts,
    };
    struct reloader_hooks hooks = {.served = on_served, .problem = on_problem,
                                   .unresolved = on_unresolved,
                                   .notice = on_notice,
                                   .vault_hosts = on_vault_hosts,
                                   .vault_refresh = on_vault_refresh, .arg = c};
    c->reloader = c->nginx ? reloader_new(c->loop, c->store, c->nginx, c->tls,
                                          &c->metrics, &rc, &hooks)
                           : NULL;
    c->metrics_timer = evloop_timer_new(c->loop, on_metrics_timer, c);
    c->shutdown_timer = evloop_timer_new(c->loop, on_shutdown_timer, c);
    if (!c->reloader || !c->metrics_timer || !c->shutdown_timer) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail;
    }
    if (o->vault_enabled && start_vault(c, err, sizeof(err)) < 0)
        goto fail;
    if (strncmp(o->source, "dir:", 4) == 0) {
        c->dir = dirsource_start(c->loop, c->store, o->source + 4, err,
                                 sizeof(err));
        if (!c->dir)
            goto fail;
    } else if (start_kube(c, err, sizeof(err)) < 0) {
        goto fail;
    }
    evloop_timer_start(c->metrics_timer, 0);
    log_info("serving HTTP on port %d, HTTPS on %d, status on "
             "127.0.0.1:%d, metrics on %s",
             o->http_port, o->https_port, o->status_port, o->metrics_address);
    evloop_run(c->loop);
    /* Local mode drains and stops the nginx it runs; in the pod the nginx
     * container does (nginx_shutdown does nothing for external nginx). */
    nginx_shutdown(c->nginx, c->term_ms + (uint64_t)o->drain_ms,
                   c->term_ms + (uint64_t)o->shutdown_timeout_ms);
    return 0;
fail:
    /* nginx, if one runs, keeps serving: the data plane outlives us. */
    log_error("%s", err);
    return 1;
}

/* --role=nginx: the pod's nginx container (supervisor.h). */
static int run_nginx(const struct opts *o)
{
    char conf[PATH_LEN];
    struct supervisor_opts so = {
        .nginx = {.binary = o->nginx_binary, .prefix = o->prefix,
                  .conf = conf, .status_port = o->status_port},
        .drain_ms = o->drain_ms,
        .kill_after_ms = o->shutdown_timeout_ms,
    };

    snprintf(conf, sizeof(conf), "%s/nginx.conf", o->prefix);
    return supervisor_run(&so);
}

static void cleanup(struct controller *c)
{
    dirsource_free(c->dir);
    publisher_free(c->pub);         /* before what it was given */
    kube_source_free(c->ks);
    kube_events_free(c->events);
    reloader_free(c->reloader);
    if (c->httpd)
        httpd_stop(c->httpd);
    if (c->certs)
        certs_free(c->certs);
    kube_client_free(c->kc);
    tlsfiles_free(c->tls);
    nginx_free(c->nginx);
    store_free(c->store);
    evloop_timer_free(c->metrics_timer);
    evloop_timer_free(c->shutdown_timer);
    if (c->sigfd >= 0)
        close(c->sigfd);
    if (c->loop)
        evloop_free(c->loop);
    metrics_destroy(&c->metrics);
    globals_free(&c->globals);
    vault_config_free(&c->o->vault);
    buf_free(&c->o->real_ip_from);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct controller c;
    int rc;

    memset(&o, 0, sizeof(o));
    memset(&c, 0, sizeof(c));
    c.sigfd = -1;
    c.o = &o;
    if (parse_args(&o, argc, argv) < 0)
        return EXIT_USAGE;
    log_init(PROGRAM, o.level);
    if (o.list_annotations)
        return lint_list_annotations(stdout);
    if (o.check)
        return run_check(&o);
    if (o.role == ROLE_NGINX)
        return run_nginx(&o);
    log_annotation_config(&o);
    rc = run(&c);
    cleanup(&c);
    return rc;
}
