/*
 * supervisor.h - `portico-controller --role=nginx`: the pod's nginx
 * container. nginx lives in its own container so that a controller that
 * crashes, is OOM-killed (the kubelet kills every process of an
 * OOM-killed container) or is upgraded never takes nginx with it.
 *
 * It waits for the first valid configuration in the state folder (the
 * controller renames nginx.conf into place only after `nginx -t`
 * passed), starts nginx with the same lifecycle code as local mode
 * (nginx.h), restarts the master when it dies, reaps every child, and on
 * SIGTERM drains: nginx keeps accepting for the drain period, then stops
 * gracefully, and is killed only when the grace period is nearly spent.
 */
#ifndef PORTICO_CONTROLLER_SUPERVISOR_H
#define PORTICO_CONTROLLER_SUPERVISOR_H

#include "controller/nginx.h"

#define SUPERVISOR_CONF_POLL_MS     100
#define SUPERVISOR_RESTART_MAX_MS   5000
#define SUPERVISOR_STABLE_MS        10000   /* alive this long: backoff reset */

struct supervisor_opts {
    struct nginx_opts nginx;    /* loop, exited and external are set inside */
    long drain_ms;              /* keep accepting after SIGTERM */
    long kill_after_ms;         /* SIGKILL this long after SIGTERM */
};

/* Runs until SIGTERM/SIGINT and the drain are done. 0, or 1 on a setup
 * error (logged). */
int supervisor_run(const struct supervisor_opts *o);

#endif
