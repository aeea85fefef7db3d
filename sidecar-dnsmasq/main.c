/* main.c - portico-dnscache: flags, workers, the metrics endpoint. */
#include <ares.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "evloop.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

enum { HEALTHZ_STALE_MS = 5000 };   /* a loop silent this long is stuck */

struct app {
    struct config cfg;
    struct worker *workers[CFG_MAX_THREADS];
    struct worker_metrics *metrics[CFG_MAX_THREADS];
    size_t n;
};

static void http_handler(void *ctx, const char *path, struct httpd_response *r)
{
    struct app *app = ctx;

    if (strcmp(path, "/metrics") == 0) {
        r->content_type = PROM_CONTENT_TYPE;
        metrics_render(&r->body, &app->cfg, app->metrics, app->n);
    } else if (strcmp(path, "/healthz") == 0) {
        uint64_t now = evloop_clock_ms();

        for (size_t i = 0; i < app->n; i++) {
            uint64_t hb = prom_get(&app->metrics[i]->heartbeat_ms);

            if (now > hb + HEALTHZ_STALE_MS) {
                r->status = 503;
                buf_printf(&r->body, "worker %zu stalled\n", i);
                return;
            }
        }
        buf_puts(&r->body, "ok\n");
    } else {
        r->status = 404;
        buf_puts(&r->body, "not found\n");
    }
}

static void *worker_thread(void *arg)
{
    worker_run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    static struct app app;
    pthread_t threads[CFG_MAX_THREADS];
    struct httpd *httpd = NULL;
    char err[256], addr[64];
    sigset_t set;
    int rc, status = 1;

    rc = config_parse(&app.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    log_init("portico-dnscache", app.cfg.log_level);
    if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
        log_error("c-ares: %s", ares_strerror(rc));
        return 1;
    }
    /* Block the signals in every thread; worker 0 reads them (signalfd). */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    for (unsigned i = 0; i < app.cfg.threads; i++) {
        app.workers[i] = worker_new(&app.cfg, (int)i, app.cfg.threads > 1);
        if (!app.workers[i])
            goto out;
        app.metrics[i] = worker_get_metrics(app.workers[i]);
        app.n++;
    }
    if (worker_own_signals(app.workers[0], app.workers, app.n) < 0)
        goto out;
    if (app.cfg.metrics_addr) {
        httpd = httpd_start(app.cfg.metrics_addr, http_handler, &app, err,
                            sizeof(err));
        if (!httpd) {
            log_error("--metrics %s: %s", app.cfg.metrics_addr, err);
            goto out;
        }
    }
    for (size_t i = 0; i < app.cfg.nlisten; i++) {
        netaddr_format(&app.cfg.listen[i], addr, sizeof(addr));
        log_info("listening on %s (udp, tcp)", addr);
    }
    for (size_t i = 0; i < app.cfg.nupstream; i++) {
        netaddr_format(&app.cfg.upstream[i], addr, sizeof(addr));
        log_info("upstream %s", addr);
    }
    log_info("ready: %u thread(s), cache %zu entries per thread, ttl [%u, %u] s, metrics %s",
             app.cfg.threads, app.cfg.cache_size, app.cfg.min_ttl,
             app.cfg.max_ttl, app.cfg.metrics_addr ? app.cfg.metrics_addr : "off");

    size_t started = 1;
    for (; started < app.n; started++)
        if (pthread_create(&threads[started], NULL, worker_thread,
                           app.workers[started]) != 0) {
            log_error("pthread_create failed");
            break;
        }
    if (started == app.n)
        status = worker_run(app.workers[0]) < 0 ? 1 : 0;
    for (size_t i = 1; i < started; i++)
        worker_request_stop(app.workers[i]);
    for (size_t i = 1; i < started; i++)
        pthread_join(threads[i], NULL);
out:
    httpd_stop(httpd);
    for (size_t i = 0; i < app.n; i++)
        worker_free(app.workers[i]);
    ares_library_cleanup();
    return status;
}
