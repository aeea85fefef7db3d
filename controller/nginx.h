/*
 * nginx.h - the nginx master's life: start it, adopt one already running,
 * test candidate configs (`nginx -t`, with a timeout), reload it
 * (SIGHUP), read the config and route table versions it serves on the
 * loopback status port, notice when it dies, drain and stop it.
 *
 * nginx's life does not hang on ours: the master runs in its own session
 * (setsid, no parent-death signal), so a controller that crashes, is
 * OOM-killed or restarted leaves nginx serving. nginx writes its pid to
 * PREFIX/nginx.pid (the rendered `pid` directive); a controller that
 * starts while a master runs adopts it (the pid file names a live
 * "nginx: master process" whose command line has our -c PREFIX/nginx.conf)
 * instead of starting another. A master that is not our child (adopted)
 * is watched with a pidfd (pidfd_open(2), Linux >= 5.3), readable when it
 * exits; a child is also reaped on SIGCHLD. Every exited child is reaped
 * (nginx_reap): no zombie is left.
 *
 * Two ways to run it (struct nginx_opts.external):
 * - own (local mode, tests, and the pod's nginx container): we start the
 *   master when none runs, restart it when it dies and drain it on
 *   shutdown. We are a child subreaper, so the workers orphaned by a
 *   dead master come back to us; they keep serving until the new master
 *   is about to bind, then get SIGQUIT (they close their listeners at
 *   once and finish the requests they have), so the refusal window is
 *   only the new master's start.
 * - external (the pod's controller container): another process (the
 *   nginx container's `--role=nginx`) starts and stops the master; we
 *   only adopt it through the shared state folder and process namespace,
 *   test configs and send SIGHUP.
 */
#ifndef PORTICO_CONTROLLER_NGINX_H
#define PORTICO_CONTROLLER_NGINX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "evloop.h"

#define NGINX_TEST_TIMEOUT_MS   30000
#define NGINX_PROBE_TIMEOUT_MS  300
#define NGINX_PID_FILE          "nginx.pid"     /* under the prefix */

struct nginx_opts {
    const char *binary;     /* /usr/sbin/nginx */
    const char *prefix;     /* -p; also holds NGINX_PID_FILE */
    const char *conf;       /* the live nginx.conf */
    int status_port;        /* 127.0.0.1:PORT/config-version */
    int test_timeout_ms;
    int external;           /* another process starts and stops the master */
    struct evloop *loop;    /* watches the master's pidfd; may be NULL */
    /* The master exited (called from the loop): call nginx_reap(). */
    void (*exited)(void *arg);
    void *arg;
};

struct nginx;

struct nginx *nginx_new(const struct nginx_opts *o);
void nginx_free(struct nginx *n);

/* Runs `nginx -t` on candidate. 0 when valid; -1 when nginx rejected it
 * (its output in out); -2 when it could not run or timed out. */
int nginx_test(const struct nginx *n, const char *candidate, char *out,
               size_t outlen);
/* Makes a master serve the live config: adopts the one that runs, else
 * (own mode) starts one. In external mode with no master yet, 0: the
 * other process will start it. 0 or -1. */
int nginx_start(struct nginx *n);
/* Adopts the master named by the pid file if it is ours and alive:
 * 1 adopted (or already known), 0 none. */
int nginx_adopt(struct nginx *n);
/* SIGHUP to the master. 0 or -1 (not running). */
int nginx_reload(struct nginx *n);
/* 1 while a master is known (adopting one that appeared), else 0. */
int nginx_running(struct nginx *n);
pid_t nginx_pid(const struct nginx *n);
/* Reaps every exited child (call on SIGCHLD and from opts.exited).
 * Returns 1 once when the master died, else 0. */
int nginx_reap(struct nginx *n);
/* Shutdown (own mode; nothing in external mode): nginx keeps accepting
 * until quit_at_ms (the drain), then SIGQUIT (graceful: listeners closed,
 * requests in flight finish within worker_shutdown_timeout); if it has
 * not exited at kill_at_ms, SIGKILL to its process group. Every child is
 * reaped. Times are evloop_clock_ms() values. Blocks. */
void nginx_shutdown(struct nginx *n, uint64_t quit_at_ms, uint64_t kill_at_ms);

/* The worker processes of the current master (children of it), up to
 * max, into pids; returns how many. */
size_t nginx_workers(const struct nginx *n, pid_t *pids, size_t max);
/* 1 while pid is a worker that still accepts connections (alive and not
 * yet "shutting down"), else 0. */
int nginx_worker_accepting(pid_t pid);

/* The user nginx's workers run as when its master runs as root without a
 * `user` directive (the controller's nginx.conf has none): Debian's
 * build default, NGINX_WORKER_USER. Files the workers read themselves (the
 * certificate pairs, the auth files) belong to it when we run as root.
 * 0 with its uid and gid, or -1 (no such user). */
#define NGINX_WORKER_USER "nobody"
int nginx_worker_user(uid_t *uid, gid_t *gid);


/* GET http://127.0.0.1:port PATH over HTTP/1.0: 0 with the body of a 200
 * answer appended to out, or -1 (no answer within timeout_ms, another
 * status, or a response over max bytes, headers included). */
int nginx_get(int port, const char *path, size_t max, int timeout_ms,
              struct buf *out);
/* GET http://127.0.0.1:port/config-version; 0 with the trimmed body in
 * out, or -1. Blocks at most NGINX_PROBE_TIMEOUT_MS. */
int nginx_probe_version(int port, char *out, size_t outlen);
/* GET http://127.0.0.1:port/routes-version; 0 with its first line (the
 * route table version every worker uses, or "mixed") in out, or -1. */
int nginx_probe_routes_version(int port, char *out, size_t outlen);
/* The same for /certificates-version (docs/certificates.md). */
int nginx_probe_certificates_version(int port, char *out, size_t outlen);

#endif
