/*
 * replicas.h - this controller's own Pod and its fellow replicas, read
 * from the pod list as ingress-nginx does (internal/ingress/status/
 * status.go: Shutdown L115-142, isRunningMultiplePods L239-260): at start
 * the Pod of this replica (its uid names it in Events, its labels select
 * the replicas), at shutdown whether another replica still runs, so that
 * only the last one clears the Ingress status.
 *
 * Needs "list pods" in the controller's namespace. Anything that keeps
 * us from knowing (no such Pod, 403, a failed list) answers "unknown",
 * which the caller treats as "others run": the status stays.
 */
#ifndef PORTICO_KUBE_REPLICAS_H
#define PORTICO_KUBE_REPLICAS_H

#include <json-c/json.h>
#include <stddef.h>

#include "controller/kube/client_internal.h"

struct replicas_opts {
    const char *ns;              /* the controller's namespace */
    const char *pod_name;        /* this replica's Pod */
    /* The replicas' label selector (the Deployment's), or NULL: this
     * Pod's own labels but those a rollout changes (pod-template-hash,
     * controller-revision-hash, pod-template-generation), as
     * ingress-nginx. */
    const char *selector;
};

enum replicas_verdict {
    REPLICAS_LAST,          /* no other replica runs */
    REPLICAS_OTHERS,        /* another replica runs (or may soon) */
    REPLICAS_UNKNOWN,       /* cannot tell */
};

struct replicas;

/* Checks the options and looks this Pod up. NULL with a message in err. */
struct replicas *replicas_start(struct kube_client *kc,
                                const struct replicas_opts *o, char *err,
                                size_t errlen);
void replicas_free(struct replicas *r);

/* This replica's Pod as an Event's involved object, once the lookup found
 * it; NULL before (or when not running in a Pod). */
const struct kube_object_ref *replicas_self(const struct replicas *r);

/* Lists the replicas now; done(arg, verdict, why) runs on the loop (why:
 * a sentence for the log). One check at a time. */
void replicas_check(struct replicas *r,
                    void (*done)(void *arg, enum replicas_verdict v,
                                 const char *why),
                    void *arg);
/* 1 while a lookup or a check is in flight. */
int replicas_busy(const struct replicas *r);

/* Pure parts (unit-tested). */
/* The selector of this Pod's replicas: its labels but those a rollout
 * changes, "k=v,k2=v2" in key order (malloc'd); NULL when none is left. */
char *replicas_selector_of(struct json_object *pod);
/* The pods (a list's items) other than self that run or will: not being
 * deleted (no deletionTimestamp), not Succeeded or Failed. Their count;
 * names of up to a few go to names (", "-joined). */
size_t replicas_others(struct json_object *items, const char *self,
                       char *names, size_t nameslen);

#endif
