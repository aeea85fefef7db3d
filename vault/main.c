/*
 * main.c - portico-vault: the operator's Vault debugging tool, with the
 * same configuration (flags and VAULT_* env) as portico-controller.
 *
 *   portico-vault health
 *   portico-vault read PATH [--field NAME]
 *   portico-vault cert HOST [--out DIR]
 *   portico-vault check CRT_FILE KEY_FILE [HOST]
 *   portico-vault watch HOST... --vault-cert-dir DIR [--hosts-file FILE]
 *                 [--metrics-listen ADDR:PORT] [--for DUR]
 *
 * The exit status says what failed (see exit_for_reason and vault/README.md).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "evloop.h"
#include "httpd.h"
#include "fileio.h"
#include "log.h"
#include "prom.h"
#include "tlspair.h"
#include "vault.h"

#define EXIT_INTERNAL     1
#define EXIT_USAGE        2
#define EXIT_VAULT_BASE   10    /* + enum vault_err */
#define EXIT_INVALID_BASE 30    /* + enum tlspair_err; 30: missing fields */
#define WATCH_POLL_MS     100
#define MAX_WATCH_HOSTS   1024
#define HOSTS_FILE_MAX    (256 * 1024)

struct opts {
    struct vault_config vault;
    struct certs_config certs;
    enum log_level level;
    int level_set;
    const char *out_dir, *field, *hosts_file, *metrics_listen;
    long for_ms;
    char **args;                /* operands: the command and its own (in
                                   argv, after the flags) */
    int nargs;
};

static int set_log_level(void *target, const struct flag *f,
                         const char *value, char *err, size_t errlen)
{
    struct opts *o = target;

    if (log_level_parse(value, &o->level) < 0) {
        snprintf(err, errlen, "invalid value \"%s\"", value);
        return -1;
    }
    o->level_set = 1;
    return 0;
}

#define OPT(field) offsetof(struct opts, field)

/* Own flags of the CLI (not shared with the controller). */
static const struct flag cli_flags[] = {
    {"out", required_argument, "DIR", flag_set_str, OPT(out_dir),
     "cert: write DIR/<name>.crt|.key (0600)"},
    {"field", required_argument, "F", flag_set_str, OPT(field),
     "read: print only this field"},
    {"hosts-file", required_argument, "FILE", flag_set_str, OPT(hosts_file),
     "watch: hosts, one a line, re-read on change"},
    {"metrics-listen", required_argument, "ADDR:PORT", flag_set_str,
     OPT(metrics_listen), "watch: serve /metrics here"},
    {"for", required_argument, "DUR", flag_set_positive_duration_ms,
     OPT(for_ms), "watch: stop after this long"},
    {"log-level", required_argument, "LEVEL", set_log_level, OPT(level),
     "debug|info|warn|error\n(default warn; watch: info)"},
};

static void usage(FILE *out)
{
    fprintf(out,
        "usage: portico-vault [flags] COMMAND\n"
        "commands:\n"
        "  health                 sys/health: initialised, sealed, standby\n"
        "  read PATH [--field F]  read a KV v1/v2 secret (v2 detected)\n"
        "  cert HOST [--out DIR]  fetch, validate and describe HOST's pair\n"
        "                         (wildcard and PKI fallbacks as the controller);\n"
        "                         --out writes DIR/<name>.crt|.key (0600)\n"
        "  check CRT KEY [HOST]   validate local PEM files the same way (e.g. a\n"
        "                         kubernetes.io/tls Secret's tls.crt/tls.key)\n"
        "  watch HOST...          run the controller's certificate pipeline and\n"
        "                         print every change (needs --vault-cert-dir);\n"
        "                         --hosts-file FILE (one host a line, re-read on\n"
        "                         change), --metrics-listen ADDR:PORT, --for DUR\n"
        "flags:\n"
        "  --help, -h                    this text\n");
    flags_usage(out, cli_flags, sizeof(cli_flags) / sizeof(cli_flags[0]));
    vault_config_usage(out);
    certs_config_usage(out);
    fprintf(out,
        "exit status: 0 ok, 1 internal, 2 usage/config, 10+N Vault error N\n"
        "  (11 not found, 12 permission denied, 13 sealed, 14 rate limited,\n"
        "  15 server error, 16 bad request, 17 network, 18 timeout, 19 TLS,\n"
        "  20 malformed answer, 21 auth), 30 certificate fields missing,\n"
        "  31 bad certificate PEM, 32 bad key, 33 key mismatch, 34 expired,\n"
        "  35 not yet valid, 36 host mismatch, 37 chain order\n");
}

static int exit_for_vault(enum vault_err e)
{
    switch (e) {
    case VAULT_OK: return 0;
    case VAULT_ERR_CONFIG: return EXIT_USAGE;
    case VAULT_ERR_CANCELLED: case VAULT_ERR_INTERNAL: case VAULT_ERR_COUNT_:
        return EXIT_INTERNAL;
    default:
        return EXIT_VAULT_BASE + (int)e;
    }
}

/* Exit status for a failure reason label (see certs.h / vault.h). */
static int exit_for_reason(const char *reason)
{
    if (!reason)
        return EXIT_INTERNAL;
    if (strcmp(reason, "missing_field") == 0)
        return EXIT_INVALID_BASE;
    if (strcmp(reason, "bad_host") == 0)
        return EXIT_USAGE;
    for (int e = TLSPAIR_ERR_CERT_PEM; e < TLSPAIR_ERR_INTERNAL; e++)
        if (strcmp(reason, tlspair_err_name((enum tlspair_err)e)) == 0)
            return EXIT_INVALID_BASE + e;
    for (int e = VAULT_ERR_NOT_FOUND; e < VAULT_ERR_COUNT_; e++)
        if (strcmp(reason, vault_err_name((enum vault_err)e)) == 0)
            return exit_for_vault((enum vault_err)e);
    return EXIT_INTERNAL;
}


static int parse_args(struct opts *o, int argc, char **argv)
{
    struct flag_table tables[] = {
        {cli_flags, sizeof(cli_flags) / sizeof(cli_flags[0]), o},
        vault_config_flags(&o->vault),
        certs_config_flags(&o->certs),
    };
    char err[256];
    int first;

    vault_config_init(&o->vault);
    certs_config_init(&o->certs);
    o->level = LOG_WARN;
    if (vault_config_from_env(&o->vault, err, sizeof(err)) < 0) {
        fprintf(stderr, "portico-vault: %s\n", err);
        return -1;
    }
    first = flags_parse_main("portico-vault", tables,
                             sizeof(tables) / sizeof(tables[0]), argc, argv,
                             usage);
    if (first < 0)
        return -1;
    o->args = argv + first;
    o->nargs = argc - first;
    if (vault_config_check(&o->vault, err, sizeof(err)) < 0) {
        fprintf(stderr, "portico-vault: %s\n", err);
        return -1;
    }
    return 0;
}

static struct vault_client *client_or_die(const struct opts *o)
{
    struct vault_error e;
    struct vault_client *vc = vault_client_new(&o->vault, &e);

    if (!vc) {
        fprintf(stderr, "portico-vault: %s\n", e.msg);
        exit(exit_for_vault(e.code));
    }
    return vc;
}

static void print_time(const char *label, time_t t)
{
    char s[64];
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%s: %s\n", label, s);
}

/* ---- health ----------------------------------------------------------------- */

static int cmd_health(const struct opts *o)
{
    struct vault_client *vc = client_or_die(o);
    struct vault_health h;
    struct vault_error e;
    int rc = vault_health(vc, &h, &e);

    if (h.http_status) {
        printf("http_status: %d\ninitialized: %s\nsealed: %s\nstandby: %s\n",
               h.http_status, h.initialized ? "true" : "false",
               h.sealed ? "true" : "false", h.standby ? "true" : "false");
        if (h.version[0])
            printf("version: %s\n", h.version);
        if (h.cluster_name[0])
            printf("cluster_name: %s\n", h.cluster_name);
    }
    vault_client_free(vc);
    if (rc < 0) {
        fprintf(stderr, "portico-vault: %s\n", e.msg);
        return exit_for_vault(e.code);
    }
    return 0;
}

/* ---- read ----------------------------------------------------------------- */

static void print_value(const char *name, const char *v)
{
    if (!strchr(v, '\n')) {
        printf("  %s: %s\n", name, v);
        return;
    }
    printf("  %s: |\n", name);
    for (const char *line = v; *line;) {
        size_t n = strcspn(line, "\n");
        printf("    %.*s\n", (int)n, line);
        line += n;
        if (*line == '\n')
            line++;
    }
}

static int cmd_read(const struct opts *o)
{
    struct vault_client *vc;
    struct vault_kv kv;
    struct vault_error e;
    int rc = 0;

    if (o->nargs != 2) {
        fprintf(stderr, "portico-vault: usage: read PATH [--field NAME]\n");
        return EXIT_USAGE;
    }
    vc = client_or_die(o);
    if (vault_kv_read(vc, o->args[1], &kv, &e) < 0) {
        fprintf(stderr, "portico-vault: %s\n", e.msg);
        vault_client_free(vc);
        return exit_for_vault(e.code);
    }
    if (o->field) {
        const char *v = vault_kv_get(&kv, o->field);
        if (v) {
            fputs(v, stdout);
            if (!*v || v[strlen(v) - 1] != '\n')
                putchar('\n');
        } else {
            fprintf(stderr, "portico-vault: %s: no field \"%s\"\n",
                    o->args[1], o->field);
            rc = exit_for_vault(VAULT_ERR_NOT_FOUND);
        }
    } else {
        printf("path: %s\nkv_version: %d\n", o->args[1], kv.kv_version);
        if (kv.kv_version == 2)
            printf("version: %ld\n", kv.version);
        printf("fields:\n");
        for (size_t i = 0; i < kv.nfields; i++)
            print_value(kv.fields[i].name, kv.fields[i].value);
    }
    vault_kv_free(&kv);
    vault_client_free(vc);
    return rc;
}

/* ---- cert ----------------------------------------------------------------- */

static void print_info(const struct tlspair_info *in)
{
    if (!in->subject[0])
        return;
    printf("subject: %s\nissuer: %s\nsans: %s\nserial: %s\nsha256: %s\n"
           "chain: %d certificate%s\n", in->subject, in->issuer,
           in->sans[0] ? in->sans : "(none)", in->serial, in->sha256,
           in->chain_len, in->chain_len == 1 ? "" : "s");
    print_time("not_before", in->not_before);
    print_time("not_after", in->not_after);
}

static int write_out(const char *dir, const char *host,
                     const struct certs_fetch *f)
{
    char stem[CERTS_NAME_MAX], name[CERTS_NAME_MAX + 8], err[300];

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "portico-vault: mkdir %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (certs_file_stem(host, stem, sizeof(stem)) < 0)
        return -1;
    snprintf(name, sizeof(name), "%s.key", stem);
    if (certs_write_atomic(dir, name, f->key, strlen(f->key), 0600, err,
                           sizeof(err)) < 0)
        goto fail;
    snprintf(name, sizeof(name), "%s.crt", stem);
    if (certs_write_atomic(dir, name, f->crt, strlen(f->crt), 0600, err,
                           sizeof(err)) < 0)
        goto fail;
    printf("crt_path: %s/%s.crt\nkey_path: %s/%s.key\n", dir, stem, dir, stem);
    return 0;
fail:
    fprintf(stderr, "portico-vault: %s\n", err);
    return -1;
}

static int cmd_cert(const struct opts *o)
{
    struct vault_client *vc;
    struct certs_fetch f;
    int rc = 0;

    if (o->nargs != 2) {
        fprintf(stderr, "portico-vault: usage: cert HOST [--out DIR]\n");
        return EXIT_USAGE;
    }
    vc = client_or_die(o);
    printf("host: %s\n", o->args[1]);
    if (certs_fetch_host(vc, &o->certs, o->args[1], &f) < 0) {
        printf("status: %s\nreason: %s\n", certs_status_name(f.status),
               f.reason ? f.reason : "unknown");
        print_info(&f.info);
        fprintf(stderr, "portico-vault: %s: %s\n", o->args[1], f.msg);
        rc = exit_for_reason(f.reason);
    } else {
        printf("status: ok\nsource: %s\n", f.source);
        if (f.version)
            printf("source_version: %ld\n", f.version);
        print_info(&f.info);
        if (o->out_dir && write_out(o->out_dir, o->args[1], &f) < 0)
            rc = EXIT_INTERNAL;
    }
    certs_fetch_free(&f);
    vault_client_free(vc);
    return rc;
}

/* ---- check ---------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    char *data = file_read(path, TLSPAIR_MAX_PEM, len);

    if (!data)
        fprintf(stderr, "portico-vault: %s: %s\n", path, strerror(errno));
    return data;
}

static int cmd_check(const struct opts *o)
{
    struct tlspair_info info;
    char msg[300], *crt, *key;
    size_t crt_len = 0, key_len = 0;
    enum tlspair_err e;

    if (o->nargs != 3 && o->nargs != 4) {
        fprintf(stderr, "portico-vault: usage: check CRT_FILE KEY_FILE "
                "[HOST]\n");
        return EXIT_USAGE;
    }
    crt = slurp(o->args[1], &crt_len);
    key = crt ? slurp(o->args[2], &key_len) : NULL;
    if (!crt || !key) {
        free(crt);
        free(key);
        return EXIT_USAGE;
    }
    e = tlspair_validate(crt, crt_len, key, key_len,
                         o->nargs == 4 ? o->args[3] : NULL, time(NULL), &info,
                         msg, sizeof(msg));
    explicit_bzero(key, key_len);
    free(key);
    free(crt);
    printf("status: %s\n", e == TLSPAIR_OK ? "ok" : tlspair_err_name(e));
    print_info(&info);
    if (e != TLSPAIR_OK) {
        fprintf(stderr, "portico-vault: %s\n", msg);
        return e == TLSPAIR_ERR_INTERNAL ? EXIT_INTERNAL
                                         : EXIT_INVALID_BASE + (int)e;
    }
    return 0;
}

/* ---- watch ----------------------------------------------------------------- */

struct watch {
    const struct opts *o;
    struct certs_pipeline *p;
    struct evloop *loop;
    struct ev_timer *tick;
    struct certs_snapshot last;
    struct stat hosts_st;
    uint64_t deadline_ms;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int same_state(const struct certs_host_state *a,
                      const struct certs_host_state *b)
{
    return a->status == b->status && a->has_pair == b->has_pair &&
           a->pair_generation == b->pair_generation &&
           !strcmp(a->error_reason ? a->error_reason : "",
                   b->error_reason ? b->error_reason : "");
}

static void print_event(const char *event, const struct certs_host_state *h,
                        uint64_t gen)
{
    printf("event=%s host=%s status=%s has_pair=%d gen=%llu", event, h->host,
           certs_status_name(h->status), h->has_pair,
           (unsigned long long)gen);
    if (h->has_pair)
        printf(" source=%s version=%ld not_after=%ld sha256=%s crt=%s key=%s",
               h->source ? h->source : "-", h->source_version,
               (long)h->not_after, h->sha256, h->crt_path, h->key_path);
    if (h->error_reason)
        printf(" reason=%s error=\"%s\"", h->error_reason,
               h->last_error ? h->last_error : "");
    printf("\n");
}

/* Prints what changed since the last snapshot. */
static void watch_diff(struct watch *w)
{
    struct certs_snapshot s;

    if (certs_snapshot(w->p, &s) < 0)
        return;
    for (size_t i = 0; i < s.n; i++) {
        const struct certs_host_state *h = &s.hosts[i];
        const struct certs_host_state *old = certs_snapshot_find(&w->last,
                                                                 h->host);
        if (old && same_state(old, h))
            continue;
        int pair_changed = h->has_pair &&
                           (!old || old->pair_generation != h->pair_generation);
        print_event(pair_changed ? "pair" : "status", h, s.generation);
    }
    for (size_t i = 0; i < w->last.n; i++)
        if (!certs_snapshot_find(&s, w->last.hosts[i].host))
            printf("event=removed host=%s\n", w->last.hosts[i].host);
    fflush(stdout);
    certs_snapshot_free(&w->last);
    w->last = s;
}

static void on_notify(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct watch *w = arg;

    (void)loop; (void)fd; (void)events;
    certs_notify_ack(w->p);
    printf("notify\n");
    watch_diff(w);
}

/* Collects hosts from the command line and the hosts file. */
static int set_hosts(struct watch *w)
{
    const char *hosts[MAX_WATCH_HOSTS];
    size_t n = 0;
    char *data = NULL;
    int rc;

    for (int i = 1; i < w->o->nargs && n < MAX_WATCH_HOSTS; i++)
        hosts[n++] = w->o->args[i];
    if (w->o->hosts_file) {
        /* A missing file is no hosts (it is watched and may come); one
         * that cannot be read (too large...) changes nothing. */
        data = file_read(w->o->hosts_file, HOSTS_FILE_MAX, NULL);
        if (!data && errno != ENOENT) {
            fprintf(stderr, "portico-vault: cannot read %s: %s (hosts "
                    "unchanged)\n", w->o->hosts_file, strerror(errno));
            return 0;
        }
        for (char *save = NULL, *t = data ? strtok_r(data, " \t\r\n", &save)
                                          : NULL;
             t && n < MAX_WATCH_HOSTS; t = strtok_r(NULL, " \t\r\n", &save))
            hosts[n++] = t;
    }
    rc = certs_set_hosts(w->p, hosts, n);
    free(data);
    return rc;
}

static void on_tick(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct watch *w = arg;
    struct stat st;

    if (stop_requested ||
        (w->deadline_ms && evloop_clock_ms() >= w->deadline_ms)) {
        evloop_stop(loop);
        return;
    }
    if (w->o->hosts_file && stat(w->o->hosts_file, &st) == 0 &&
        (st.st_mtim.tv_sec != w->hosts_st.st_mtim.tv_sec ||
         st.st_mtim.tv_nsec != w->hosts_st.st_mtim.tv_nsec ||
         st.st_size != w->hosts_st.st_size || st.st_ino != w->hosts_st.st_ino)) {
        w->hosts_st = st;
        set_hosts(w);
        printf("hosts reloaded\n");
    }
    watch_diff(w);
    evloop_timer_start(t, WATCH_POLL_MS);
}

static void metrics_handler(void *ctx, const char *path,
                            struct httpd_response *resp)
{
    if (strcmp(path, "/metrics") == 0) {
        resp->content_type = PROM_CONTENT_TYPE;
        certs_expiry_family(&resp->body);
        certs_expiry_write(ctx, &resp->body);
        certs_metrics_write(ctx, &resp->body);
    } else if (strcmp(path, "/healthz") == 0) {
        buf_puts(&resp->body, "ok\n");
    } else {
        resp->status = 404;
        buf_puts(&resp->body, "not found\n");
    }
}

static int cmd_watch(const struct opts *o)
{
    struct watch w;
    struct httpd *httpd = NULL;
    char err[300];
    int rc = 0;

    if (!o->certs.dir) {
        fprintf(stderr, "portico-vault: watch needs --vault-cert-dir DIR\n");
        return EXIT_USAGE;
    }
    if (o->nargs < 2 && !o->hosts_file) {
        fprintf(stderr, "portico-vault: watch needs hosts or --hosts-file\n");
        return EXIT_USAGE;
    }
    memset(&w, 0, sizeof(w));
    w.o = o;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    w.p = certs_new(&o->certs, &o->vault, err, sizeof(err));
    if (!w.p) {
        fprintf(stderr, "portico-vault: %s\n", err);
        return EXIT_USAGE;
    }
    if (o->hosts_file)
        stat(o->hosts_file, &w.hosts_st);
    w.loop = evloop_new();
    if (!w.loop || set_hosts(&w) < 0 || certs_start(w.p) < 0) {
        fprintf(stderr, "portico-vault: cannot start the pipeline\n");
        rc = EXIT_INTERNAL;
        goto out;
    }
    if (o->metrics_listen) {
        httpd = httpd_start(o->metrics_listen, metrics_handler, w.p, err,
                            sizeof(err));
        if (!httpd) {
            fprintf(stderr, "portico-vault: %s\n", err);
            rc = EXIT_USAGE;
            goto out;
        }
        printf("metrics on port %d\n", httpd_port(httpd));
    }
    if (o->for_ms)
        w.deadline_ms = evloop_clock_ms() + (uint64_t)o->for_ms;
    evloop_io_set(w.loop, certs_notify_fd(w.p), EV_READ, on_notify, &w);
    w.tick = evloop_timer_new(w.loop, on_tick, &w);
    evloop_timer_start(w.tick, WATCH_POLL_MS);
    printf("watching\n");
    if (evloop_run(w.loop) < 0)
        rc = EXIT_INTERNAL;
    printf("stopping\n");
out:
    if (httpd)
        httpd_stop(httpd);
    if (w.tick)
        evloop_timer_free(w.tick);
    if (w.loop) {
        evloop_io_del(w.loop, certs_notify_fd(w.p));
        evloop_free(w.loop);
    }
    certs_free(w.p);
    certs_snapshot_free(&w.last);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    int rc;

    memset(&o, 0, sizeof(o));
    if (parse_args(&o, argc, argv) < 0) {
        vault_config_free(&o.vault);
        return EXIT_USAGE;
    }
    if (o.nargs == 0) {
        usage(stderr);
        rc = EXIT_USAGE;
    } else {
        const char *cmd = o.args[0];
        int watch = strcmp(cmd, "watch") == 0;
        log_init("portico-vault",
                 o.level_set ? o.level : (watch ? LOG_INFO : LOG_WARN));
        if (strcmp(cmd, "health") == 0)
            rc = o.nargs == 1 ? cmd_health(&o)
                 : (fprintf(stderr, "portico-vault: usage: health\n"),
                    EXIT_USAGE);
        else if (strcmp(cmd, "read") == 0)
            rc = cmd_read(&o);
        else if (strcmp(cmd, "cert") == 0)
            rc = cmd_cert(&o);
        else if (strcmp(cmd, "check") == 0)
            rc = cmd_check(&o);
        else if (watch)
            rc = cmd_watch(&o);
        else {
            fprintf(stderr, "portico-vault: unknown command \"%s\" (see "
                    "--help)\n", cmd);
            rc = EXIT_USAGE;
        }
    }
    vault_config_free(&o.vault);
    return rc;
}
