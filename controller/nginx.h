/*
 * nginx.h - the nginx master as a child of the controller: start it, test
 * candidate configs (`nginx -t`, with a timeout), reload it (SIGHUP), read
 * the config and route table versions it serves on the loopback status
 * port, notice when it dies, stop it.
 *
 * The controller makes itself a child subreaper, so when a master dies
 * its orphaned workers become our children: nginx_reap() kills them so
 * the restarted master can bind the ports again.
 */
#ifndef PORTICO_CONTROLLER_NGINX_H
#define PORTICO_CONTROLLER_NGINX_H

#include <stddef.h>
#include <sys/types.h>

#define NGINX_TEST_TIMEOUT_MS   30000
#define NGINX_PROBE_TIMEOUT_MS  300

struct nginx_opts {
    const char *binary;     /* /usr/sbin/nginx */
    const char *prefix;     /* -p */
    const char *conf;       /* the live nginx.conf */
    int status_port;        /* 127.0.0.1:PORT/config-version */
    int test_timeout_ms;
};

struct nginx;

struct nginx *nginx_new(const struct nginx_opts *o);
void nginx_free(struct nginx *n);

/* Runs `nginx -t` on candidate. 0 when valid; -1 when nginx rejected it
 * (its output in out); -2 when it could not run or timed out. */
int nginx_test(const struct nginx *n, const char *candidate, char *out,
               size_t outlen);
/* Starts the master on the live config. 0 or -1. */
int nginx_start(struct nginx *n);
/* SIGHUP to the master. 0 or -1 (not running). */
int nginx_reload(struct nginx *n);
int nginx_running(const struct nginx *n);
pid_t nginx_pid(const struct nginx *n);
/* Reaps exited children (call on SIGCHLD). Returns 1 if the master died
 * (its orphaned workers have been told to stop), else 0. */
int nginx_reap(struct nginx *n);
/* Graceful stop (SIGQUIT), then SIGKILL after timeout_ms. */
void nginx_stop(struct nginx *n, int timeout_ms);

/* The worker processes of the current master (children of it), up to
 * max, into pids; returns how many. */
size_t nginx_workers(const struct nginx *n, pid_t *pids, size_t max);
/* 1 while pid is a worker that still accepts connections (alive and not
 * yet "shutting down"), else 0. */
int nginx_worker_accepting(pid_t pid);

/* GET http://127.0.0.1:port/config-version; 0 with the trimmed body in
 * out, or -1. Blocks at most NGINX_PROBE_TIMEOUT_MS. */
int nginx_probe_version(int port, char *out, size_t outlen);
/* GET http://127.0.0.1:port/routes-version; 0 with its first line (the
 * route table version every worker uses, or "mixed") in out, or -1. */
int nginx_probe_routes_version(int port, char *out, size_t outlen);

#endif
