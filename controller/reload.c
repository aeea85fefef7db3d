/* reload.c - render, test, swap, signal and confirm (see reload.h). */
#include "controller/reload.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "prom.h"
#include "controller/authfiles.h"
#include "controller/certtable.h"
#include "controller/profiles.h"
#include "controller/regex.h"
#include "controller/routefiles.h"
#include "controller/routes.h"
#include "controller/validate.h"

#define NGINX_OUTPUT_MAX   8192
#define REASON_MAX         512
#define SHOWN_MAX          300
#define OLD_WORKERS_MAX    256
#define VERSION_MAX        64     /* a probed version line */
#define UPSTREAMS_STATE_MAX (512 * 1024)  /* /upstreams-state: 2000 lines */
#define ADOPT_PROBE_TRIES  10
#define ADOPT_PROBE_WAIT_MS 100

/* What a confirmation waits for. */
enum change_kind {
    CHANGE_RELOAD,      /* nginx.conf (and maybe the table): SIGHUP/start */
    CHANGE_ROUTES,      /* only the tables (route, certificate): renamed,
                           no signal */
    CHANGE_ADOPTED,     /* none: an adopted nginx already serves it */
};

struct exclusion {
    char *ns, *name;
    uint64_t hash;
    char *reason;
    int hit;            /* matched during the current build */
};

struct reloader {
    struct evloop *loop;
    struct store *store;
    struct nginx *nginx;
    struct tlsfiles *tls;
    struct authfiles *auth;         /* basic authentication files */
    struct regex_memo *regex_memo;  /* route regexes checked (regex.h) */
    struct metrics *metrics;
    struct reloader_config cfg;
    struct reloader_hooks hooks;
    char *check_conf;       /* RELOAD_CHECK_FILE next to the candidate
                               table; NULL: every change is nginx -t of
                               the candidate nginx.conf */
    struct routefiles *shards;  /* a sharded table's files (NULL: one
                                   file always) */
    size_t nshards;             /* the installed table's N (1: one file) */
    size_t shards_checked;      /* shards the last check read */
    struct routes_kept *kept;   /* the last render's shards, for the
                                   next (routes.h) */
    int warm_up;                /* on_idle builds once more */
    int warming;                /* that build runs */

    struct ev_timer *debounce, *confirm, *restart, *idle;
    uint64_t first_dirty_ms;
    uint64_t last_kick_ms;      /* the previous reloader_kick */
    int settling;               /* the debounce timer runs the settle */
    uint64_t noticed_ms;        /* the oldest change not yet built */
    int dirty_while_busy;

    char served_hash[RENDER_HASH_LEN + 1];  /* confirmed in nginx */
    char served_routes[ROUTES_VERSION_LEN + 1];
    char swapped_hash[RENDER_HASH_LEN + 1]; /* in nginx.conf */
    char swapped_routes[ROUTES_VERSION_LEN + 1];    /* in the live table */
    int have_conf;                          /* nginx.conf is a good config */
    char pending_hash[RENDER_HASH_LEN + 1]; /* awaiting confirmation */
    char pending_routes[ROUTES_VERSION_LEN + 1];
    char served_certs[CERTTABLE_VERSION_LEN + 1];   /* the certificate */
    char swapped_certs[CERTTABLE_VERSION_LEN + 1];  /* table, as the */
    char pending_certs[CERTTABLE_VERSION_LEN + 1];  /* route table's */
    size_t pending_certs_bytes, pending_certs_hosts;
    int swap_routes, swap_certs;            /* CHANGE_ROUTES: which tables */
    enum change_kind pending_kind;
    uint64_t pending_started_ms, pending_deadline_ms;
    uint64_t pending_noticed_ms, pending_installed_ms;
    int pending_late;   /* past its deadline, counted unconfirmed, still
                           polled */
    struct model pending_model;
    int pending;
    size_t pending_bytes, pending_routes_bytes;
    pid_t old_workers[OLD_WORKERS_MAX];     /* before the SIGHUP */
    size_t nold;
    uint64_t routes_seen_ms;    /* every worker on the pending table since */
    char *upstreams_state;      /* /upstreams-state when that settled */

    struct exclusion *excl;
    size_t nexcl, capexcl;
    struct json_object *reported;       /* "ns/name" -> last problem */
    struct json_object *noticed;        /* "ns/name" -> last annotation
                                           notice of a served Ingress */
    struct json_object *warned;         /* warnings logged, as keys */
    struct json_object *unresolved;     /* "ns/name upstream" -> reason,
                                           reported */
    char **vault_hosts;
    uint64_t vault_digest;
    size_t nvault;
    int restart_delay_ms;
    int stopping;
    int adopted;        /* nginx was running when we started: its served
                           versions are probed, not known */
};

/* ---- exclusions ---------------------------------------------------------- */

static int is_excluded(void *ctx, const char *ns, const char *name,
                       uint64_t hash, const char **reason)
{
    struct reloader *r = ctx;

    for (size_t i = 0; i < r->nexcl; i++) {
        struct exclusion *e = &r->excl[i];
        if (e->hash == hash && strcmp(e->ns, ns) == 0 &&
            strcmp(e->name, name) == 0) {
            e->hit = 1;
            *reason = e->reason;
            return 1;
        }
    }
    return 0;
}

static void add_exclusion(struct reloader *r, const struct model_ingress *mi,
                          const char *reason)
{
    if (r->nexcl == r->capexcl) {
        size_t cap = r->capexcl ? r->capexcl * 2 : 8;
        struct exclusion *e = realloc(r->excl, cap * sizeof(*e));
        if (!e)
            return;
        r->excl = e;
        r->capexcl = cap;
    }
    struct exclusion *e = &r->excl[r->nexcl];
    e->ns = strdup(mi->ns);
    e->name = strdup(mi->name);
    e->reason = strdup(reason);
    e->hash = mi->content_hash;
    e->hit = 1;
    if (!e->ns || !e->name || !e->reason) {
        free(e->ns);
        free(e->name);
        free(e->reason);
        return;
    }
    r->nexcl++;
}

/* Forgets exclusions of Ingresses that changed or disappeared. */
static void prune_exclusions(struct reloader *r)
{
    for (size_t i = 0; i < r->nexcl;) {
        if (!r->excl[i].hit) {
            free(r->excl[i].ns);
            free(r->excl[i].name);
            free(r->excl[i].reason);
            r->excl[i] = r->excl[--r->nexcl];
        } else {
            r->excl[i].hit = 0;
            i++;
        }
    }
}

/* ---- reporting ---------------------------------------------------------------- */

/* Annotations a served Ingress carries that are not applied (unknown,
 * ignored, unenforced): logged and reported once per Ingress, and again
 * when the list changes. */
static void report_notices(struct reloader *r, const struct model *m)
{
    struct json_object *now = json_object_new_object();

    if (!now)
        return;
    for (size_t i = 0; i < m->ning; i++) {
        const struct model_ingress *mi = &m->ings[i];
        char key[600], shown_ns[SHOWN_MAX], shown_name[SHOWN_MAX];
        struct json_object *old;

        if (mi->state != ING_SERVED || !mi->notice)
            continue;
        snprintf(key, sizeof(key), "%s/%s", mi->ns, mi->name);
        json_object_object_add(now, key, json_object_new_string(mi->notice));
        if (r->noticed &&
            json_object_object_get_ex(r->noticed, key, &old) &&
            strcmp(json_object_get_string(old), mi->notice) == 0)
            continue;
        validate_printable(mi->ns, shown_ns, sizeof(shown_ns));
        validate_printable(mi->name, shown_name, sizeof(shown_name));
        log_warn("ingress %s/%s served, %s", shown_ns, shown_name,
                 mi->notice);
        if (r->hooks.notice)
            r->hooks.notice(r->hooks.arg, mi);
    }
    json_object_put(r->noticed);
    r->noticed = now;
}

/* Logs each rejection/exclusion once (and again if its reason changes). */
static void report(struct reloader *r, const struct model *m)
{
    struct json_object *now = json_object_new_object();
    size_t rejected = 0;

    if (!now)
        return;
    for (size_t i = 0; i < m->ning; i++) {
        const struct model_ingress *mi = &m->ings[i];
        char key[600], shown_ns[SHOWN_MAX], shown_name[SHOWN_MAX];
        struct json_object *old;

        if (mi->state == ING_SERVED)
            continue;
        snprintf(key, sizeof(key), "%s/%s", mi->ns, mi->name);
        json_object_object_add(now, key,
                               json_object_new_string(mi->reason ? mi->reason
                                                                 : ""));
        if (json_object_object_get_ex(r->reported, key, &old) &&
            strcmp(json_object_get_string(old), mi->reason ? mi->reason : "") == 0)
            continue;
        validate_printable(mi->ns, shown_ns, sizeof(shown_ns));
        validate_printable(mi->name, shown_name, sizeof(shown_name));
        log_warn("ingress %s/%s %s: %s", shown_ns, shown_name,
                 mi->state == ING_REJECTED ? "rejected" : "left out",
                 mi->reason ? mi->reason : "");
        rejected += mi->state == ING_REJECTED;
        if (r->hooks.problem)
            r->hooks.problem(r->hooks.arg, mi);
    }
    report_notices(r, m);
    /* Warnings: once each, as long as they persist. */
    struct json_object *warned = json_object_new_object();
    for (size_t i = 0; warned && i < m->nwarnings; i++) {
        json_object_object_add(warned, m->warnings[i], NULL);
        if (!r->warned ||
            !json_object_object_get_ex(r->warned, m->warnings[i], NULL))
            log_warn("%s", m->warnings[i]);
    }
    json_object_put(r->warned);
    r->warned = warned;
    json_object_object_foreach(r->reported, key, val) {
        (void)val;
        if (!json_object_object_get_ex(now, key, NULL)) {
            char shown[SHOWN_MAX];
            validate_printable(key, shown, sizeof(shown));
            log_info("ingress %s: no longer rejected", shown);
        }
    }
    json_object_put(r->reported);
    r->reported = now;
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->rejections += rejected;
    pthread_mutex_unlock(&r->metrics->lock);
}

static void update_vault_hosts(struct reloader *r, const struct model *m)
{
    int same = r->nvault == m->nvault;
    int changed = r->vault_digest != m->vault_digest;

    r->vault_digest = m->vault_digest;
    for (size_t i = 0; same && i < m->nvault; i++)
        same = strcmp(r->vault_hosts[i], m->vault_hosts[i]) == 0;
    if (same) {
        /* Same hosts, but an ssl Ingress changed: new hosts are fetched by
         * vault_hosts anyway, so this is only needed here. */
        if (changed && m->nvault > 0 && r->hooks.vault_refresh)
            r->hooks.vault_refresh(r->hooks.arg);
        return;
    }
    for (size_t i = 0; i < r->nvault; i++)
        free(r->vault_hosts[i]);
    free(r->vault_hosts);
    r->vault_hosts = calloc(m->nvault ? m->nvault : 1, sizeof(char *));
    r->nvault = 0;
    for (size_t i = 0; r->vault_hosts && i < m->nvault; i++)
        if ((r->vault_hosts[r->nvault] = strdup(m->vault_hosts[i])))
            r->nvault++;
    if (r->hooks.vault_hosts)
        r->hooks.vault_hosts(r->hooks.arg, r->vault_hosts, r->nvault);
}

static void record_result(struct reloader *r, enum change_kind kind,
                          enum reload_result res)
{
    pthread_mutex_lock(&r->metrics->lock);
    if (res != RELOAD_OK)
        r->metrics->config_applied = 0;
    if (kind == CHANGE_ROUTES) {
        if (r->swap_routes)
            r->metrics->route_updates[res]++;
        if (r->swap_certs)
            r->metrics->certificate_updates[res]++;
    } else {
        r->metrics->reloads[res]++;
        r->metrics->last_reload_ok = res == RELOAD_OK;
    }
    pthread_mutex_unlock(&r->metrics->lock);
}

static void record_states(struct reloader *r, const struct model *m)
{
    pthread_mutex_lock(&r->metrics->lock);
    for (int s = 0; s < ING_STATE_COUNT; s++)
        r->metrics->ingresses[s] = model_count_state(m, (enum ingress_state)s);
    pthread_mutex_unlock(&r->metrics->lock);
    metrics_set_annotations(r->metrics, m);
}

/* ---- the reconcile ---------------------------------------------------------------- */

/* The first "[emerg]" line of nginx's output without its "[emerg]
 * PID#TID: " head, control characters replaced. */
static void first_error(const char *out, char *dst, size_t dstlen)
{
    const char *p = strstr(out, "[emerg]");
    size_t n, o = 0;

    if (p) {
        p += strlen("[emerg]");
        p += strspn(p, " ");
        const char *colon = strstr(p, ": ");
        if (colon && (size_t)(colon - p) == strspn(p, "0123456789#"))
            p = colon + 2;
    } else {
        p = out;
    }
    n = strcspn(p, "\n");
    for (size_t i = 0; i < n && o + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[o] = '\0';
}

static void start_confirm(struct reloader *r)
{
    r->pending_deadline_ms =
        evloop_clock_ms() + (uint64_t)r->cfg.confirm_timeout_ms;
    r->routes_seen_ms = 0;
    r->pending_late = 0;
    free(r->upstreams_state);
    r->upstreams_state = NULL;
    evloop_timer_start(r->confirm, 0);
}

/* The Ingress that produced the line an nginx -t error points at, in
 * a candidate table or the candidate nginx.conf; OWNER_NONE if none. */
static size_t error_owner(const struct reloader *r, const char *nginx_out,
                          const struct render_result *conf,
                          const struct routes_result *routes,
                          const struct certtable_result *certs)
{
    size_t line = ownedtext_error_line(nginx_out, r->cfg.candidate_routes);

    if (line)
        return routes_error_owner(routes, nginx_out, line);
    line = ownedtext_error_line(nginx_out, r->cfg.candidate_certs);
    if (line)
        return ownedtext_owner(&certs->t, line);
    line = ownedtext_error_line(nginx_out, r->cfg.candidate_conf);
    return line ? ownedtext_owner(&conf->t, line) : OWNER_NONE;
}

/* Renders the files of m (check: the route table check's configuration,
 * render_check_config()); 0 or -1 (out of memory, logged). */
static int render_all(struct reloader *r, const struct model *m,
                      struct render_result *conf,
                      struct render_result *check,
                      struct routes_result *routes,
                      struct certtable_result *certs)
{
    struct profiles p;

    if (profiles_build(m, &p) < 0)
        goto oom;
    if (render_config(m, &p, &r->cfg.render, conf) < 0) {
        profiles_free(&p);
        goto oom;
    }
    if (render_check_config(m, &p, &r->cfg.render, check) < 0) {
        render_result_free(conf);
        profiles_free(&p);
        goto oom;
    }
    size_t n = r->shards ? routes_shard_count(m->nservers,
                                              r->cfg.route_shard_hosts,
                                              r->nshards)
                         : 1;
    if (routes_render_sharded(m, &p, r->cfg.render.https_port, n, r->kept,
                              routefiles_has, r->shards, routes) < 0) {
        render_result_free(conf);
        render_result_free(check);
        profiles_free(&p);
        goto oom;
    }
    profiles_free(&p);
    if (certtable_render(m, certs) < 0) {
        render_result_free(conf);
        render_result_free(check);
        routes_result_free(routes);
        goto oom;
    }
    return 0;
oom:
    log_error("reload: out of memory rendering");
    return -1;
}

static int write_logged(const char *path, const char *data, size_t len)
{
    if (file_write(path, data, len) == 0)
        return 0;
    log_error("reload: cannot write %s: %s", path, strerror(errno));
    return -1;
}

/* The candidate route table. Sharded: the shard files not on disk yet,
 * then the head, naming every shard, or (check_only) only those the
 * installed head does not have (a table-only change checks only them:
 * the others were checked with it). 0, or -1 (logged). */
static int write_routes(struct reloader *r, const struct routes_result *rt,
                        int check_only)
{
    unsigned char *check;
    struct buf head;
    long nchecked;
    int rc;

    if (!rt->nshards)
        return write_logged(r->cfg.candidate_routes, rt->t.text.data,
                            rt->t.text.len);
    if (!(check = calloc(rt->nused ? rt->nused : 1, 1))) {
        log_error("reload: out of memory writing the route table");
        return -1;
    }
    nchecked = routefiles_write(r->shards, rt, check);
    if (nchecked < 0 || !check_only) {
        free(check);
        return nchecked < 0 ? -1
                            : write_logged(r->cfg.candidate_routes,
                                           rt->t.text.data, rt->t.text.len);
    }
    r->shards_checked = (size_t)nchecked;
    buf_init(&head);
    rc = routes_head_subset(rt, check, &head) < 0
             ? -1
             : write_logged(r->cfg.candidate_routes, head.data, head.len);
    buf_free(&head);
    free(check);
    return rc;
}

static int write_candidates(struct reloader *r,
                            const struct render_result *conf,
                            const struct routes_result *routes,
                            const struct certtable_result *certs)
{
    if (write_logged(r->cfg.candidate_certs, certs->t.text.data,
                     certs->t.text.len) < 0 ||
        write_routes(r, routes, 0) < 0)
        return -1;
    r->shards_checked = routes->nused;
    return write_logged(r->cfg.candidate_conf, conf->t.text.data,
                        conf->t.text.len);
}

/* A route table swap: the candidate table (a sharded table's head names
 * only the shards to check) and the configuration that checks it, next
 * to it. */
static int write_table_check(struct reloader *r,
                             const struct render_result *check,
                             const struct routes_result *routes)
{
    if (write_routes(r, routes, 1) < 0)
        return -1;
    return write_logged(r->check_conf, check->t.text.data,
                        check->t.text.len);
}

static void renders_free(struct render_result *conf,
                         struct render_result *check,
                         struct routes_result *routes,
                         struct certtable_result *certs)
{
    render_result_free(conf);
    render_result_free(check);
    routes_result_free(routes);
    certtable_result_free(certs);
}

/* Renames a candidate over its live file (atomic); 0, or -1 (logged). */
static int install(const char *candidate, const char *live)
{
    if (rename(candidate, live) == 0)
        return 0;
    log_error("reload: cannot install %s: %s", live, strerror(errno));
    return -1;
}

/* Where the time of one change went, in ms (summed over the attempts
 * that left an Ingress out). */
struct stage_times {
    uint64_t queued_ms;     /* first store change noticed -> build started */
    uint64_t model_ms, render_ms, write_ms, check_ms;
    int whole;              /* nginx -t of nginx.conf, not the table check */
};

static void stage_times_text(const struct stage_times *st, uint64_t total_ms,
                             char *out, size_t outlen)
{
    snprintf(out, outlen, "%llu ms since the change: queued %llu ms, model "
             "%llu ms, render %llu ms, write %llu ms, %s %llu ms",
             (unsigned long long)total_ms, (unsigned long long)st->queued_ms,
             (unsigned long long)st->model_ms,
             (unsigned long long)st->render_ms,
             (unsigned long long)st->write_ms,
             st->whole ? "nginx -t" : "table check",
             (unsigned long long)st->check_ms);
}

static void finish_unchanged(struct reloader *r, const struct model *m,
                             const char *hash)
{
    report(r, m);
    record_states(r, m);
    update_vault_hosts(r, m);
    /* Served as before, but what is published may differ (an ExternalDNS
     * annotation changes no byte of nginx's files). */
    if (r->hooks.served)
        r->hooks.served(r->hooks.arg, m);
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->skipped++;
    pthread_mutex_unlock(&r->metrics->lock);
    log_debug("reload: config %s, routes %s and certificates %s unchanged, "
              "nothing to do", hash, r->served_routes, r->served_certs);
}

/* rt is the live table now: its shards count as checked, its N stays
 * while the host count allows (routes_shard_count). */
static void installed_routes(struct reloader *r,
                             const struct routes_result *rt)
{
    r->nshards = rt->nshards ? rt->nshards : 1;
    if (r->shards && routefiles_installed(r->shards, rt) < 0)
        log_warn("routes: out of memory: the next table is checked whole");
}

static void reconcile(struct reloader *r)
{
    struct model m;
    struct render_result out, chk;
    struct routes_result rt;
    struct certtable_result ct;
    char nginx_out[NGINX_OUTPUT_MAX], reason[REASON_MAX], times[256];
    uint64_t started = evloop_clock_ms(), noticed, t;
    struct stage_times st = {0};
    enum change_kind kind = CHANGE_RELOAD;
    int attempt;

    for (int k = 0; k < RK_COUNT; k++)
        if (!store_is_synced(r->store, (enum resource_kind)k)) {
            log_debug("reload: waiting for %s to sync",
                      resource_kind_name((enum resource_kind)k));
            return;
        }
    if (r->pending) {
        r->dirty_while_busy = 1;
        return;
    }
    noticed = r->noticed_ms && r->noticed_ms < started ? r->noticed_ms
                                                       : started;
    r->noticed_ms = 0;
    st.queued_ms = started - noticed;
    for (attempt = 0;; attempt++) {
        t = evloop_clock_ms();
        int built = model_build(&m, r->store, &r->cfg.model);
        st.model_ms += evloop_clock_ms() - t;
        if (built < 0) {
            routes_kept_forget(r->kept);
            log_error("reload: out of memory building the model");
            record_result(r, CHANGE_RELOAD, RELOAD_ERROR);
            return;
        }
        prune_exclusions(r);
        t = evloop_clock_ms();
        int rendered = render_all(r, &m, &out, &chk, &rt, &ct);
        st.render_ms += evloop_clock_ms() - t;
        if (rendered < 0) {
            routes_kept_forget(r->kept);
            model_free(&m);
            record_result(r, CHANGE_RELOAD, RELOAD_ERROR);
            return;
        }
        /* Many shards made anew (a start, a burst: memos made, not yet
         * replayed): build once more when idle (on_idle). */
        r->warm_up = !r->warming && rt.nshards &&
                     rt.nused - rt.nkept > RELOAD_WARM_SHARDS;
        /* Unchanged only if nginx confirmed serving these very bytes; an
         * unconfirmed reload or swap is tried again. */
        int conf_served = r->have_conf && nginx_running(r->nginx) &&
                          strcmp(out.hash, r->served_hash) == 0;
        r->swap_routes = strcmp(rt.version, r->served_routes) != 0;
        r->swap_certs = strcmp(ct.version, r->served_certs) != 0;
        if (conf_served && !r->swap_routes && !r->swap_certs &&
            r->adopted) {
            /* The adopted nginx serves exactly this: confirm it and
             * publish, without a reload. */
            r->adopted = 0;
            report(r, &m);
            record_states(r, &m);
            update_vault_hosts(r, &m);
            kind = CHANGE_ADOPTED;
            installed_routes(r, &rt);
            log_info("nginx: the adopted master serves config %s with "
                     "routes %s and certificates %s: nothing to reload",
                     out.hash, rt.version, ct.version);
            goto pending;
        }
        if (conf_served && !r->swap_routes && !r->swap_certs) {
            finish_unchanged(r, &m, out.hash);
            renders_free(&out, &chk, &rt, &ct);
            model_free(&m);
            return;
        }
        kind = conf_served ? CHANGE_ROUTES : CHANGE_RELOAD;
        /* Only the route table changes: the module's parser checks it in
         * the small check configuration (render_check_config), with the
         * references of the nginx.conf that nginx serves. Anything else,
         * or a check that fails outside the table, is `nginx -t` of the
         * candidate nginx.conf. */
        int table_only = kind == CHANGE_ROUTES && !r->swap_certs &&
                         r->check_conf;
        int rc;
        t = evloop_clock_ms();
        if ((table_only ? write_table_check(r, &chk, &rt)
                        : write_candidates(r, &out, &rt, &ct)) < 0) {
            record_result(r, kind, RELOAD_ERROR);
            goto drop;
        }
        st.write_ms += evloop_clock_ms() - t;
        t = evloop_clock_ms();
        rc = nginx_test(r->nginx, table_only ? r->check_conf
                                             : r->cfg.candidate_conf,
                        nginx_out, sizeof(nginx_out));
        if (rc == -1 && table_only &&
            !ownedtext_error_line(nginx_out, r->cfg.candidate_routes)) {
            first_error(nginx_out, reason, sizeof(reason));
            log_warn("routes: the table check failed outside the table "
                     "(%s); testing the whole config", reason);
            table_only = 0;
            rc = write_candidates(r, &out, &rt, &ct) < 0
                     ? -2
                     : nginx_test(r->nginx, r->cfg.candidate_conf, nginx_out,
                                  sizeof(nginx_out));
        }
        st.check_ms += evloop_clock_ms() - t;
        st.whole |= !table_only;
        /* The check's head named only the new shards: now every one. */
        if (rc == 0 && table_only && rt.nshards &&
            write_routes(r, &rt, 0) < 0) {
            record_result(r, kind, RELOAD_ERROR);
            goto drop;
        }
        if (rc == 0)
            break;
        first_error(nginx_out, reason, sizeof(reason));
        /* A refused shard may be kept by the next render: make all anew. */
        routes_kept_forget(r->kept);
        if (rc == -2) {
            log_error("reload: cannot test the config: %s", reason);
            record_result(r, kind, RELOAD_ERROR);
            goto drop;
        }
        size_t owner = error_owner(r, nginx_out, &out, &rt, &ct);
        record_result(r, kind, RELOAD_INVALID);
        if (owner == OWNER_NONE && rt.nkept &&
            attempt < RELOAD_MAX_EXCLUSIONS) {
            /* Maybe a line of a kept shard (no owners: not made this
             * time): once more, every shard made. */
            renders_free(&out, &chk, &rt, &ct);
            model_free(&m);
            continue;
        }
        if (owner == OWNER_NONE || attempt >= RELOAD_MAX_EXCLUSIONS) {
            log_error("reload: nginx -t refused the config (%s); keeping the "
                      "running config", reason);
            goto drop;
        }
        char msg[REASON_MAX + 32];
        snprintf(msg, sizeof(msg), "nginx -t failed: %s", reason);
        add_exclusion(r, &m.ings[owner], msg);
        pthread_mutex_lock(&r->metrics->lock);
        r->metrics->exclusions++;
        pthread_mutex_unlock(&r->metrics->lock);
        renders_free(&out, &chk, &rt, &ct);
        model_free(&m);
    }
    report(r, &m);
    record_states(r, &m);
    update_vault_hosts(r, &m);
    /* The tables first: the nginx.conf renamed next refers to them. A
     * swap renames only a table that changed (workers parse a new file). */
    if (((kind != CHANGE_ROUTES || r->swap_certs) &&
         install(r->cfg.candidate_certs, r->cfg.certs_path) < 0) ||
        ((kind != CHANGE_ROUTES || r->swap_routes) &&
         install(r->cfg.candidate_routes, r->cfg.routes_path) < 0)) {
        record_result(r, kind, RELOAD_ERROR);
        goto drop;
    }
    memcpy(r->swapped_certs, ct.version, sizeof(r->swapped_certs));
    memcpy(r->swapped_routes, rt.version, sizeof(r->swapped_routes));
    if (kind != CHANGE_ROUTES || r->swap_routes)
        installed_routes(r, &rt);
    if (kind == CHANGE_ROUTES) {
        stage_times_text(&st, evloop_clock_ms() - noticed, times,
                         sizeof(times));
        if (r->swap_routes && rt.nshards)
            log_info("routes: table %s (%zu bytes, %zu hosts, %zu "
                     "ingresses; %zu of %zu shards checked, %zu made) "
                     "swapped in, no reload; %s", rt.version,
                     routes_bytes(&rt), m.nservers, m.ning,
                     r->shards_checked, rt.nused, rt.nused - rt.nkept,
                     times);
        else if (r->swap_routes)
            log_info("routes: table %s (%zu bytes, %zu hosts, %zu "
                     "ingresses) swapped in, no reload; %s", rt.version,
                     rt.t.text.len, m.nservers, m.ning, times);
        if (r->swap_certs)
            log_info("certificates: table %s (%zu bytes, %zu hosts) swapped "
                     "in, no reload; %s", ct.version, ct.t.text.len,
                     ct.nhosts, times);
    } else {
        if (rename(r->cfg.candidate_conf, r->cfg.conf_path) < 0) {
            log_error("reload: cannot install %s: %s", r->cfg.conf_path,
                      strerror(errno));
            record_result(r, kind, RELOAD_ERROR);
            goto drop;
        }
        memcpy(r->swapped_hash, out.hash, sizeof(r->swapped_hash));
        r->have_conf = 1;
        r->nold = nginx_running(r->nginx)
                      ? nginx_workers(r->nginx, r->old_workers,
                                      OLD_WORKERS_MAX)
                      : 0;
        if (nginx_running(r->nginx) ? nginx_reload(r->nginx)
                                    : nginx_start(r->nginx)) {
            log_error("reload: cannot signal nginx");
            record_result(r, kind, RELOAD_ERROR);
            goto drop;
        }
        stage_times_text(&st, evloop_clock_ms() - noticed, times,
                         sizeof(times));
        log_info("reload: config %s (%zu bytes, %zu upstreams), routes %s "
                 "(%zu bytes, %zu hosts, %zu ingresses), certificates %s "
                 "(%zu hosts) sent to nginx; %s", out.hash, out.t.text.len,
                 m.nups, rt.version, routes_bytes(&rt), m.nservers, m.ning,
                 ct.version, ct.nhosts, times);
    }
pending:
    r->adopted = 0;
    memcpy(r->pending_hash, out.hash, sizeof(r->pending_hash));
    memcpy(r->pending_routes, rt.version, sizeof(r->pending_routes));
    memcpy(r->pending_certs, ct.version, sizeof(r->pending_certs));
    r->pending_certs_bytes = ct.t.text.len;
    r->pending_certs_hosts = ct.nhosts;
    r->pending_kind = kind;
    r->pending_model = m;
    r->pending = 1;
    r->pending_started_ms = started;
    r->pending_noticed_ms = noticed;
    r->pending_installed_ms = evloop_clock_ms();
    r->pending_bytes = out.t.text.len;
    r->pending_routes_bytes = routes_bytes(&rt);
    renders_free(&out, &chk, &rt, &ct);
    start_confirm(r);
    return;
drop:
    renders_free(&out, &chk, &rt, &ct);
    model_free(&m);
}

/* ---- upstream readiness ------------------------------------------------- */

/* Line 1 of /upstreams-state: "upstreams N ready R pending P failed F". */
static int upstreams_counts(const char *text, size_t *pending, size_t *failed)
{
    size_t n, ready;

    return sscanf(text, "upstreams %zu ready %zu pending %zu failed %zu",
                  &n, &ready, pending, failed) == 4 ? 0 : -1;
}

/* The table is in every worker: its upstreams have their first answers
 * (none pending), or RELOAD_UPSTREAMS_WAIT_MS passed (requests to a
 * pending one wait for it that long at most, then get 503). An nginx
 * without the status location has nothing to wait for. The state that
 * settled is kept for report_upstreams(). */
static int upstreams_settled(struct reloader *r)
{
    uint64_t now = evloop_clock_ms();
    size_t pending, failed;
    struct buf text;

    if (!r->routes_seen_ms)
        r->routes_seen_ms = now;
    buf_init(&text);
    if (nginx_get(r->cfg.render.status_port, "/upstreams-state",
                  UPSTREAMS_STATE_MAX, NGINX_PROBE_TIMEOUT_MS, &text) < 0 ||
        buf_failed(&text) || !text.data ||
        upstreams_counts(text.data, &pending, &failed) < 0) {
        buf_free(&text);
        return 1;
    }
    if (pending && now - r->routes_seen_ms < RELOAD_UPSTREAMS_WAIT_MS) {
        buf_free(&text);
        return 0;
    }
    free(r->upstreams_state);
    r->upstreams_state = buf_steal(&text, NULL);
    buf_free(&text);
    return 1;
}

/* The upstreams nginx could not resolve, to the metrics, the log (once
 * each) and the Ingresses that route to them (a hook per Ingress, once
 * per upstream and reason, as long as it lasts). */
static void report_upstreams(struct reloader *r, const struct model *m)
{
    struct json_object *failed = json_object_new_object();
    struct json_object *now = json_object_new_object();
    size_t npending = 0, nfailed = 0;
    char *save = NULL;

    if (!failed || !now || !r->upstreams_state ||
        upstreams_counts(r->upstreams_state, &npending, &nfailed) < 0)
        goto out;
    /* "failed NAME HOST:PORT REASON..." */
    for (char *line = strtok_r(r->upstreams_state, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[MODEL_UPSTREAM_NAME_MAX], server[600];
        int off = 0;
        if (sscanf(line, "failed %159s %599s %n", name, server, &off) < 2 ||
            !off)
            continue;
        struct buf why;
        buf_init(&why);
        buf_printf(&why, "%s (%s) does not resolve: %s", name, server,
                   line + off);
        if (!buf_failed(&why))
            json_object_object_add(failed, name,
                                   json_object_new_string(why.data));
        buf_free(&why);
    }
    for (size_t s = 0; s <= m->nservers; s++) {
        const struct model_server *sv = s < m->nservers ? &m->servers[s]
                                                        : &m->def;
        for (size_t l = 0; l <= sv->nlocs; l++) {
            const char *ups = l < sv->nlocs ? sv->locs[l].upstream
                                            : sv->fallback;
            size_t ing = l < sv->nlocs ? sv->locs[l].ingress
                                       : sv->fallback_ingress;
            struct json_object *why, *old;
            char key[MODEL_UPSTREAM_NAME_MAX + 400];
            if (!ups || (l == sv->nlocs && !sv->has_fallback) ||
                !json_object_object_get_ex(failed, ups, &why))
                continue;
            const struct model_ingress *mi = &m->ings[ing];
            const char *text = json_object_get_string(why);
            snprintf(key, sizeof(key), "%s/%s %s", mi->ns, mi->name, ups);
            if (json_object_object_get_ex(now, key, NULL))
                continue;
            json_object_object_add(now, key, json_object_new_string(text));
            if (json_object_object_get_ex(r->unresolved, key, &old) &&
                strcmp(json_object_get_string(old), text) == 0)
                continue;
            log_warn("ingress %s/%s: upstream %s; its paths answer 503",
                     mi->ns, mi->name, text);
            if (r->hooks.unresolved)
                r->hooks.unresolved(r->hooks.arg, mi, text);
        }
    }
out:
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->upstreams_pending = npending;
    r->metrics->upstreams_unresolved = nfailed;
    pthread_mutex_unlock(&r->metrics->lock);
    json_object_put(failed);
    if (now) {
        json_object_put(r->unresolved);
        r->unresolved = now;
    }
    free(r->upstreams_state);
    r->upstreams_state = NULL;
}

static void confirmed(struct reloader *r)
{
    uint64_t now_ms = evloop_clock_ms();
    double took = (double)(now_ms - r->pending_started_ms) / 1000.0;
    double since = (double)(now_ms - r->pending_noticed_ms) / 1000.0;
    double after = (double)(now_ms - r->pending_installed_ms) / 1000.0;
    struct timespec now;
    const char **in_use;
    size_t nuse = 0;
    struct model *m = &r->pending_model;

    double at;

    clock_gettime(CLOCK_REALTIME, &now);
    at = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    memcpy(r->served_hash, r->pending_hash, sizeof(r->served_hash));
    memcpy(r->served_routes, r->pending_routes, sizeof(r->served_routes));
    memcpy(r->served_certs, r->pending_certs, sizeof(r->served_certs));
    r->restart_delay_ms = RELOAD_RESTART_MIN_MS;
    /* No worker reads a shard the served head does not name. */
    if (r->shards) {
        size_t removed = routefiles_collect(r->shards);
        if (removed)
            log_debug("routes: %zu shard files removed", removed);
    }
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->config_applied = 1;
    if (r->pending_late) {
        /* already counted (unconfirmed) at the timeout */
        r->metrics->late_confirmations++;
    } else if (r->pending_kind == CHANGE_ADOPTED) {
        /* neither a reload nor a swap */
    } else if (r->pending_kind == CHANGE_ROUTES) {
        if (r->swap_routes)
            r->metrics->route_updates[RELOAD_OK]++;
        if (r->swap_certs)
            r->metrics->certificate_updates[RELOAD_OK]++;
        r->metrics->last_route_update_ts = at;
        r->metrics->last_route_update_seconds = took;
    } else {
        r->metrics->reloads[RELOAD_OK]++;
        r->metrics->last_reload_ok = 1;
        r->metrics->last_reload_ts = at;
        r->metrics->last_reload_seconds = took;
    }
    snprintf(r->metrics->config_hash, sizeof(r->metrics->config_hash), "%s",
             r->served_hash);
    snprintf(r->metrics->routes_hash, sizeof(r->metrics->routes_hash), "%s",
             r->served_routes);
    snprintf(r->metrics->certificates_hash,
             sizeof(r->metrics->certificates_hash), "%s", r->served_certs);
    r->metrics->certificates_bytes = r->pending_certs_bytes;
    r->metrics->certificate_hosts = r->pending_certs_hosts;
    r->metrics->servers = m->nservers;
    r->metrics->upstreams = m->nups;
    r->metrics->config_bytes = r->pending_bytes;
    r->metrics->routes_bytes = r->pending_routes_bytes;
    r->metrics->ready = 1;
    pthread_mutex_unlock(&r->metrics->lock);
    report_upstreams(r, m);
    if (r->pending_late)
        log_warn("%s: served late, after the %d ms confirmation timeout "
                 "had counted it unconfirmed (%.3f s)",
                 r->pending_kind == CHANGE_ROUTES ? "routes" : "reload",
                 r->cfg.confirm_timeout_ms, took);
    if (r->pending_kind == CHANGE_ROUTES)
        log_info("%s: every nginx worker uses routes %s and certificates %s "
                 "(%.3f s; %.3f s since the change, %.3f s after the swap)",
                 r->swap_routes ? "routes" : "certificates",
                 r->served_routes, r->served_certs, took, since, after);
    else
        log_info("reload: nginx serves config %s with routes %s and "
                 "certificates %s (%.3f s; %.3f s since the change, %.3f s "
                 "after the signal)", r->served_hash, r->served_routes,
                 r->served_certs, took, since, after);

    /* Expiry of the Secret certificates nginx now serves, per host: the
     * samples of the one expiry family (metrics.h). */
    struct buf certs_text;
    int any = 0;
    buf_init(&certs_text);
    for (size_t i = 0; i < m->nservers; i++) {
        long long na = m->servers[i].crt
                           ? tlsfiles_not_after(r->tls, m->servers[i].crt) : 0;
        if (!na)
            continue;
        any++;
        const char *l[] = {"host", m->servers[i].host, "source", "secret",
                           NULL};
        prom_sample(&certs_text, CERTS_EXPIRY_METRIC, l, (double)na);
    }
    metrics_set_secret_certs(r->metrics, buf_failed(&certs_text) || !any
                                             ? NULL
                                             : buf_steal(&certs_text, NULL));
    buf_free(&certs_text);

    in_use = calloc(3 * m->nservers + 1, sizeof(*in_use));
    for (size_t i = 0; in_use && i < m->nservers; i++) {
        if (m->servers[i].crt) {
            in_use[nuse++] = m->servers[i].crt;
            in_use[nuse++] = m->servers[i].key;
        }
        if (m->servers[i].ca_file)
            in_use[nuse++] = m->servers[i].ca_file;
    }
    if (in_use)
        tlsfiles_gc(r->tls, in_use, nuse);
    free(in_use);
    if (r->auth)
        authfiles_gc(r->auth, m);
    if (r->hooks.served)
        r->hooks.served(r->hooks.arg, m);
}

static void finish_pending(struct reloader *r)
{
    model_free(&r->pending_model);
    r->pending = 0;
    /* The render's transient memory goes back to the system once changes
     * stop (on_idle): trimmed after every change, the next build would
     * fault all of it in again. */
    evloop_timer_start(r->idle, RELOAD_TRIM_IDLE_MS);
    if (r->dirty_while_busy) {
        r->dirty_while_busy = 0;
        reloader_kick(r);
    }
}

/* New workers answer; the change is served once no old worker can still
 * accept a connection with the previous config. */
static int old_workers_accepting(struct reloader *r)
{
    for (size_t i = 0; i < r->nold; i++)
        if (nginx_worker_accepting(r->old_workers[i]))
            return 1;
    return 0;
}

/* Every worker uses the pending table (line 1 of /routes-version). */
static int routes_served(struct reloader *r)
{
    char version[VERSION_MAX];

    return nginx_probe_routes_version(r->cfg.render.status_port, version,
                                      sizeof(version)) == 0 &&
           strcmp(version, r->pending_routes) == 0;
}

/* Every worker uses the pending certificate table. */
static int certs_served(struct reloader *r)
{
    char version[VERSION_MAX];

    return nginx_probe_certificates_version(r->cfg.render.status_port,
                                            version, sizeof(version)) == 0 &&
           strcmp(version, r->pending_certs) == 0;
}

/* The new workers answer with the pending nginx.conf hash. */
static int config_served(struct reloader *r)
{
    char version[VERSION_MAX];

    return nginx_probe_version(r->cfg.render.status_port, version,
                               sizeof(version)) == 0 &&
           strcmp(version, r->pending_hash) == 0;
}

static void on_confirm(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct reloader *r = arg;
    int done;

    if (!r->pending)
        return;
    if (r->pending_kind == CHANGE_ROUTES)
        done = routes_served(r) && certs_served(r);
    else if (r->pending_kind == CHANGE_ADOPTED)
        done = config_served(r) && routes_served(r) && certs_served(r);
    else
        done = config_served(r) && !old_workers_accepting(r) &&
               routes_served(r) && certs_served(r);
    done = done && upstreams_settled(r);
    if (done) {
        confirmed(r);
        finish_pending(r);
        return;
    }
    if (r->pending_late) {
        /* A newer change waits: render it rather than wait for this one
         * (the unconfirmed render is tried again if it is still the
         * newest). */
        if (r->dirty_while_busy) {
            log_info("reload: stopped waiting for config %s with routes %s: "
                     "a newer change is pending", r->pending_hash,
                     r->pending_routes);
            finish_pending(r);
            return;
        }
        evloop_timer_start(t, RELOAD_LATE_POLL_MS);
        return;
    }
    if (evloop_clock_ms() >= r->pending_deadline_ms) {
        if (r->pending_kind == CHANGE_ROUTES)
            log_error("routes: nginx workers did not load routes %s and "
                      "certificates %s within %d ms (still waiting)",
                      r->pending_routes, r->pending_certs,
                      r->cfg.confirm_timeout_ms);
        else
            log_error("reload: nginx did not serve config %s with routes %s "
                      "and certificates %s within %d ms (still waiting)",
                      r->pending_hash, r->pending_routes, r->pending_certs,
                      r->cfg.confirm_timeout_ms);
        record_result(r, r->pending_kind, RELOAD_UNCONFIRMED);
        r->pending_late = 1;
        evloop_timer_start(t, RELOAD_LATE_POLL_MS);
        return;
    }
    evloop_timer_start(t, RELOAD_CONFIRM_POLL_MS);
}

static void on_debounce(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct reloader *r = arg;

    r->first_dirty_ms = 0;
    r->settling = 0;
    if (!r->stopping)
        reconcile(r);
}

/* Changes stopped RELOAD_TRIM_IDLE_MS ago. A render that made many
 * shards anew (the model made its memos: a start, a burst) is followed,
 * now that nothing waits, by one more build: the model then replays its
 * memos, so that the next change's render makes only the shards it
 * touches (model_server.unchanged, routes.h). Then what the builds freed
 * goes back to the system. */
static void on_idle(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct reloader *r = arg;

    if (r->pending || evloop_timer_active(r->debounce)) {
        evloop_timer_start(t, RELOAD_TRIM_IDLE_MS);
        return;
    }
    if (r->warm_up && !r->stopping) {
        log_debug("routes: building once more while idle, so that the "
                  "next change makes only its own shards");
        r->warm_up = 0;
        r->warming = 1;
        reconcile(r);
        r->warming = 0;
        if (r->pending)
            return;     /* finish_pending starts this timer again */
    }
    malloc_trim(0);
}

/* A change after a quiet spell (none for the debounce) is built after
 * RELOAD_SETTLE_MS, which gathers the objects written with it (a Service
 * and its Ingress); one within the debounce of the previous is part of
 * a burst: built after DEBOUNCE of quiet, at most MAX_WAIT after the
 * first. */
void reloader_kick(struct reloader *r)
{
    uint64_t now = evloop_clock_ms(), delay = (uint64_t)r->cfg.debounce_ms;
    int quiet = !r->last_kick_ms || now - r->last_kick_ms >= delay;

    r->last_kick_ms = now;
    if (!r->noticed_ms) {
        r->noticed_ms = now;
        log_debug("reload: a change noticed%s", r->pending
                  ? " (built after the pending confirmation)" : "");
    }
    if (r->settling)
        return;
    if (!r->first_dirty_ms)
        r->first_dirty_ms = now;
    if (quiet && !evloop_timer_active(r->debounce)) {
        r->settling = 1;
        evloop_timer_start(r->debounce, delay < RELOAD_SETTLE_MS
                                            ? delay : RELOAD_SETTLE_MS);
        return;
    }
    if (now + delay > r->first_dirty_ms + (uint64_t)r->cfg.max_wait_ms)
        delay = r->first_dirty_ms + (uint64_t)r->cfg.max_wait_ms > now
                    ? r->first_dirty_ms + (uint64_t)r->cfg.max_wait_ms - now
                    : 0;
    evloop_timer_start(r->debounce, delay);
}

static void on_restart(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct reloader *r = arg;

    if (nginx_running(r->nginx) || !r->have_conf)
        return;
    log_info("nginx: restarting on config %s", r->swapped_hash);
    if (nginx_start(r->nginx) < 0) {
        evloop_timer_start(t, (uint64_t)r->restart_delay_ms);
        return;
    }
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->nginx_restarts++;
    pthread_mutex_unlock(&r->metrics->lock);
    if (!r->pending) {
        /* Confirm the restarted master; no model change to publish. A
         * build not rendered: the next render makes every shard. */
        routes_kept_forget(r->kept);
        if (model_build(&r->pending_model, r->store, &r->cfg.model) == 0) {
            memcpy(r->pending_hash, r->swapped_hash, sizeof(r->pending_hash));
            memcpy(r->pending_routes, r->swapped_routes,
                   sizeof(r->pending_routes));
            memcpy(r->pending_certs, r->swapped_certs,
                   sizeof(r->pending_certs));
            r->pending_kind = CHANGE_RELOAD;
            r->nold = 0;
            r->pending = 1;
            r->pending_started_ms = evloop_clock_ms();
            r->pending_noticed_ms = r->pending_started_ms;
            r->pending_installed_ms = r->pending_started_ms;
            start_confirm(r);
        }
    }
}

void reloader_shutdown_begin(struct reloader *r)
{
    r->stopping = 1;
    evloop_timer_stop(r->debounce);
    evloop_timer_stop(r->restart);
}

void reloader_on_sigchld(struct reloader *r)
{
    if (!nginx_reap(r->nginx) || r->stopping)
        return;
    pthread_mutex_lock(&r->metrics->lock);
    r->metrics->last_reload_ok = 0;
    r->metrics->config_applied = 0;
    pthread_mutex_unlock(&r->metrics->lock);
    evloop_timer_start(r->restart, (uint64_t)r->restart_delay_ms);
    if (r->restart_delay_ms < RELOAD_RESTART_MAX_MS)
        r->restart_delay_ms *= 2;
}

/* nginx ran before us (a restarted controller): what it serves, from the
 * status port, is what we compare renders with, so an unchanged config
 * is neither reloaded nor swapped. */
static void adopt_served(struct reloader *r)
{
    char conf[VERSION_MAX], routes[VERSION_MAX], certs[VERSION_MAX];

    for (int i = 0; i < ADOPT_PROBE_TRIES; i++) {
        if (nginx_probe_version(r->cfg.render.status_port, conf,
                                sizeof(conf)) == 0 &&
            nginx_probe_routes_version(r->cfg.render.status_port, routes,
                                       sizeof(routes)) == 0 &&
            strlen(conf) == RENDER_HASH_LEN &&
            strlen(routes) <= ROUTES_VERSION_LEN) {
            memcpy(r->served_hash, conf, sizeof(r->served_hash));
            memcpy(r->swapped_hash, conf, sizeof(r->swapped_hash));
            memcpy(r->served_routes, routes, sizeof(r->served_routes));
            memcpy(r->swapped_routes, routes, sizeof(r->swapped_routes));
            /* An nginx.conf without the certificate table (an older
             * controller's) differs from ours anyway: a reload. */
            if (nginx_probe_certificates_version(r->cfg.render.status_port,
                                                 certs, sizeof(certs)) == 0 &&
                strlen(certs) <= CERTTABLE_VERSION_LEN) {
                memcpy(r->served_certs, certs, sizeof(r->served_certs));
                memcpy(r->swapped_certs, certs, sizeof(r->swapped_certs));
            }
            r->have_conf = 1;
            r->adopted = 1;
            log_info("nginx: master %d serves config %s with routes %s and "
                     "certificates %s", (int)nginx_pid(r->nginx), conf,
                     routes, r->served_certs[0] ? r->served_certs : "-");
            return;
        }
        struct timespec ts = {0, ADOPT_PROBE_WAIT_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    log_warn("nginx: master %d does not tell what it serves; the first "
             "config is sent to it as a reload", (int)nginx_pid(r->nginx));
    r->have_conf = 1;
}

struct reloader *reloader_new(struct evloop *loop, struct store *store,
                              struct nginx *nginx, struct tlsfiles *tls,
                              struct metrics *metrics,
                              const struct reloader_config *cfg,
                              const struct reloader_hooks *hooks)
{
    struct reloader *r = calloc(1, sizeof(*r));

    if (!r)
        return NULL;
    r->loop = loop;
    r->store = store;
    r->nginx = nginx;
    r->tls = tls;
    r->metrics = metrics;
    r->cfg = *cfg;
    if (hooks)
        r->hooks = *hooks;
    r->cfg.model.tls.secret = tlsfiles_secret;
    r->cfg.model.tls.vault = tlsfiles_vault;
    r->cfg.model.tls.ca = tlsfiles_ca;
    r->cfg.model.tls.ctx = tls;
    if (cfg->render.prefix) {
        char dir[4096], err[256];
        snprintf(dir, sizeof(dir), "%s/" RELOAD_AUTH_DIR, cfg->render.prefix);
        if (!(r->auth = authfiles_new(store, dir, err, sizeof(err)))) {
            log_error("auth: %s", err);
            reloader_free(r);
            return NULL;
        }
        r->cfg.model.auth.htpasswd = authfiles_htpasswd;
        r->cfg.model.auth.ctx = r->auth;
    }
    /* the table check's configuration, next to the candidate table */
    if (cfg->candidate_routes)
        r->check_conf = file_sibling(cfg->candidate_routes,
                                     RELOAD_CHECK_FILE);
    if (cfg->candidate_routes && cfg->routes_path &&
        cfg->route_shard_hosts) {
        char err[512];
        if (!(r->shards = routefiles_new(cfg->routes_path,
                                         cfg->candidate_routes, err,
                                         sizeof(err)))) {
            log_error("routes: %s", err);
            reloader_free(r);
            return NULL;
        }
    }
    if (r->shards && !(r->kept = routes_kept_new())) {
        reloader_free(r);
        return NULL;
    }
    r->cfg.model.excluded = is_excluded;
    r->cfg.model.excluded_ctx = r;
    /* each route regex is compiled and probed once (regex.h) */
    r->cfg.model.regex_memo = r->regex_memo = regex_memo_new();
    /* Builds parse and check only what changed (NULL: everything). */
    r->cfg.model.cache = model_cache_new();
    if (r->cfg.debounce_ms < 0)
        r->cfg.debounce_ms = RELOAD_DEBOUNCE_MS;
    if (r->cfg.max_wait_ms < r->cfg.debounce_ms)
        r->cfg.max_wait_ms = r->cfg.debounce_ms;
    if (r->cfg.confirm_timeout_ms <= 0)
        r->cfg.confirm_timeout_ms = RELOAD_CONFIRM_TIMEOUT_MS;
    r->restart_delay_ms = RELOAD_RESTART_MIN_MS;
    r->debounce = evloop_timer_new(loop, on_debounce, r);
    r->confirm = evloop_timer_new(loop, on_confirm, r);
    r->restart = evloop_timer_new(loop, on_restart, r);
    r->idle = evloop_timer_new(loop, on_idle, r);
    r->reported = json_object_new_object();
    r->unresolved = json_object_new_object();
    if (!r->debounce || !r->confirm || !r->restart || !r->idle ||
        !r->reported ||
        !r->unresolved || !r->regex_memo) {
        reloader_free(r);
        return NULL;
    }
    if (nginx_running(nginx))
        adopt_served(r);
    return r;
}

void reloader_free(struct reloader *r)
{
    if (!r)
        return;
    evloop_timer_free(r->debounce);
    evloop_timer_free(r->confirm);
    evloop_timer_free(r->restart);
    evloop_timer_free(r->idle);
    if (r->pending)
        model_free(&r->pending_model);
    model_cache_free(r->cfg.model.cache);
    for (size_t i = 0; i < r->nexcl; i++) {
        free(r->excl[i].ns);
        free(r->excl[i].name);
        free(r->excl[i].reason);
    }
    free(r->excl);
    for (size_t i = 0; i < r->nvault; i++)
        free(r->vault_hosts[i]);
    free(r->vault_hosts);
    json_object_put(r->reported);
    json_object_put(r->unresolved);
    free(r->upstreams_state);
    json_object_put(r->warned);
    json_object_put(r->noticed);
    authfiles_free(r->auth);
    regex_memo_free(r->regex_memo);
    free(r->check_conf);
    routefiles_free(r->shards);
    routes_kept_free(r->kept);
    free(r);
}
