/*
 * worker.h - one worker thread: its event loop, listeners, cache, hosts
 * table, upstreams and in-flight queries, and the query path that ties them
 * together (hosts, then cache, then upstream). With --threads N there are N
 * independent workers on SO_REUSEPORT sockets; worker 0 also owns the
 * signalfd and tells the others to stop or reload through their eventfd.
 */
#ifndef PORTICO_DNSCACHE_WORKER_H
#define PORTICO_DNSCACHE_WORKER_H

#include <stddef.h>

#include "config.h"
#include "metrics.h"

struct worker;

/* Creates the worker and binds its sockets. Returns NULL (logged) on
 * failure. reuseport: set SO_REUSEPORT (--threads > 1). */
struct worker *worker_new(const struct config *cfg, int id, int reuseport);
void worker_free(struct worker *w);
/* Worker 0 only: SIGTERM/SIGINT stop and SIGHUP reloads --hosts in every
 * worker of all (the signals must be blocked in every thread). */
int worker_own_signals(struct worker *w, struct worker **all, size_t nall);
/* Runs the loop until stopped. */
int worker_run(struct worker *w);
/* Thread-safe: makes worker_run return. */
void worker_request_stop(struct worker *w);
/* The worker's counters, for /metrics and /healthz (another thread reads
 * them with prom_get). */
struct worker_metrics *worker_get_metrics(struct worker *w);

#endif
