/* replicas.c - this Pod and its fellow replicas; see replicas.h. */
#include "controller/kube/replicas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/backoff.h"
#include "controller/object.h"
#include "dnsname.h"
#include "evloop.h"
#include "log.h"

enum { LOOKUP_ATTEMPTS = 5 };       /* then the Pod stays unknown */

/* Labels a rollout changes between the old and the new Pods
 * (status.go L247). */
static const char *const rollout_labels[] = {
    "pod-template-hash", "controller-revision-hash",
    "pod-template-generation",
};

struct replicas {
    struct kube_client *kc;
    char *ns, *pod_name, *uid, *selector;
    struct kube_object_ref self;
    struct kube_req *lookup_req, *check_req;
    struct ev_timer *retry;
    struct backoff backoff;
    int attempts;
    void (*done)(void *arg, enum replicas_verdict v, const char *why);
    void *done_arg;
    int check_waiting;      /* a check waits for the lookup */
};

/* ---- pure parts --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int rollout_label(const char *key)
{
    for (size_t i = 0; i < sizeof(rollout_labels) / sizeof(*rollout_labels);
         i++)
        if (strcmp(key, rollout_labels[i]) == 0)
            return 1;
    return 0;
}

char *replicas_selector_of(struct json_object *pod)
{
    struct json_object *labels = k8s_get(pod, "metadata.labels");
    const char **keys;
    size_t n = 0;
    struct buf b;

    if (!labels || !json_object_is_type(labels, json_type_object))
        return NULL;
    keys = calloc((size_t)json_object_object_length(labels) + 1,
                  sizeof(*keys));
    if (!keys)
        return NULL;
    json_object_object_foreach(labels, key, val) {
        if (json_object_is_type(val, json_type_string) && !rollout_label(key))
            keys[n++] = key;
    }
    qsort(keys, n, sizeof(*keys), cmp_str);
    buf_init(&b);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s=%s", i ? "," : "", keys[i],
                   k8s_key_str(labels, keys[i]));
    free(keys);
    if (!n || buf_failed(&b)) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

size_t replicas_others(struct json_object *items, const char *self,
                       char *names, size_t nameslen)
{
    size_t n = 0, len = items && json_object_is_type(items, json_type_array)
                            ? json_object_array_length(items) : 0;
    size_t used = 0;

    if (nameslen)
        names[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        struct json_object *p = json_object_array_get_idx(items, i);
        const char *name = k8s_str(p, "metadata.name");
        const char *phase = k8s_str(p, "status.phase");
        if (!name || (self && strcmp(name, self) == 0) ||
            k8s_get(p, "metadata.deletionTimestamp") ||
            (phase && (strcmp(phase, "Succeeded") == 0 ||
                       strcmp(phase, "Failed") == 0)))
            continue;
        if (used < nameslen) {
            int w = snprintf(names + used, nameslen - used, "%s%s",
                             n ? ", " : "", name);
            used += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    return n;
}

/* ---- the lookup of this Pod ---------------------------------------------- */

static void list_pods(struct replicas *r, const char *field_selector,
                      const char *label_selector, kube_done_cb done,
                      struct kube_req **slot)
{
    struct buf q;

    buf_init(&q);
    buf_printf(&q, "/api/v1/namespaces/%s/pods?", r->ns);
    if (field_selector) {
        buf_puts(&q, "fieldSelector=");
        kube_query_escape(&q, field_selector);
    } else {
        buf_puts(&q, "labelSelector=");
        kube_query_escape(&q, label_selector);
    }
    struct kube_request_opts o = {
        .method = "GET", .verb = "LIST", .path = q.data,
        .done = done, .arg = r,
    };
    *slot = buf_failed(&q) ? NULL : kube_request(r->kc, &o);
    buf_free(&q);
}

static void start_check(struct replicas *r);
static void finish_check(struct replicas *r, enum replicas_verdict v,
                         const char *why);

static void lookup_done(void *arg, const struct kube_response *resp)
{
    struct replicas *r = arg;
    struct json_object *o = NULL, *items, *pod = NULL;
    char reason[64];

    r->lookup_req = NULL;
    if (resp->status == HTTP_OK && (o = json_tokener_parse(resp->body)) &&
        json_object_object_get_ex(o, "items", &items) &&
        json_object_is_type(items, json_type_array)) {
        if (json_object_array_length(items) > 0)
            pod = json_object_array_get_idx(items, 0);
        if (pod) {
            const char *uid = k8s_str(pod, "metadata.uid");
            free(r->uid);
            r->uid = uid ? strdup(uid) : NULL;
            r->self.uid = r->uid;
            if (!r->selector)
                r->selector = replicas_selector_of(pod);
            log_info("kube: this replica is Pod %s/%s; its replicas: %s",
                     r->ns, r->pod_name, r->selector ? r->selector
                                                     : "(no labels)");
        } else {
            log_warn("kube: Pod %s/%s not found: other replicas cannot be "
                     "told apart (the Ingress status is not cleared on "
                     "shutdown)", r->ns, r->pod_name);
        }
        r->attempts = LOOKUP_ATTEMPTS;
    } else {
        kube_status_code(resp->body, resp->body_len, reason, sizeof(reason));
        if (resp->status == HTTP_FORBIDDEN)
            r->attempts = LOOKUP_ATTEMPTS;
        log_warn("kube: cannot list Pod %s/%s (%s%ld %s)%s", r->ns,
                 r->pod_name, resp->error ? resp->error : "HTTP ",
                 resp->status, reason,
                 resp->status == HTTP_FORBIDDEN
                     ? ": grant \"list pods\" in this namespace" : "");
    }
    json_object_put(o);
    if (r->attempts < LOOKUP_ATTEMPTS && !r->check_waiting) {
        evloop_timer_start(r->retry, backoff_next(&r->backoff,
                                                  backoff_rand01(&r->backoff)));
        return;
    }
    if (r->check_waiting) {
        r->check_waiting = 0;
        start_check(r);
    }
}

static void lookup(struct replicas *r)
{
    char *fsel = NULL;

    if (r->lookup_req)
        return;
    r->attempts++;
    if (asprintf(&fsel, "metadata.name=%s", r->pod_name) < 0)
        fsel = NULL;
    if (fsel)
        list_pods(r, fsel, NULL, lookup_done, &r->lookup_req);
    free(fsel);
    if (!r->lookup_req && r->check_waiting) {
        r->check_waiting = 0;
        finish_check(r, REPLICAS_UNKNOWN, "cannot list the Pods");
    }
}

static void retry_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    lookup(arg);
}

/* ---- the check at shutdown ----------------------------------------------- */

static void finish_check(struct replicas *r, enum replicas_verdict v,
                         const char *why)
{
    void (*done)(void *, enum replicas_verdict, const char *) = r->done;

    r->done = NULL;
    if (done)
        done(r->done_arg, v, why);
}

static void check_done(void *arg, const struct kube_response *resp)
{
    struct replicas *r = arg;
    struct json_object *o = NULL, *items;
    char names[256], why[512];
    size_t n;

    r->check_req = NULL;
    if (resp->status != HTTP_OK || !(o = json_tokener_parse(resp->body)) ||
        !json_object_object_get_ex(o, "items", &items)) {
        snprintf(why, sizeof(why), "cannot list the replicas (%s%ld)",
                 resp->error ? resp->error : "HTTP ", resp->status);
        json_object_put(o);
        finish_check(r, REPLICAS_UNKNOWN, why);
        return;
    }
    n = replicas_others(items, r->pod_name, names, sizeof(names));
    json_object_put(o);
    if (n == 0) {
        finish_check(r, REPLICAS_LAST, "no other replica runs");
        return;
    }
    snprintf(why, sizeof(why), "%zu other replica%s run%s (%s)", n,
             n == 1 ? "" : "s", n == 1 ? "s" : "", names);
    finish_check(r, REPLICAS_OTHERS, why);
}

static void start_check(struct replicas *r)
{
    if (!r->selector) {
        finish_check(r, REPLICAS_UNKNOWN, "the replicas' labels are unknown");
        return;
    }
    list_pods(r, NULL, r->selector, check_done, &r->check_req);
    if (!r->check_req)
        finish_check(r, REPLICAS_UNKNOWN, "cannot list the replicas");
}

void replicas_check(struct replicas *r,
                    void (*done)(void *arg, enum replicas_verdict v,
                                 const char *why),
                    void *arg)
{
    if (r->done || r->check_req)
        return;
    r->done = done;
    r->done_arg = arg;
    evloop_timer_stop(r->retry);
    if (r->selector) {
        start_check(r);
        return;
    }
    /* The lookup is still under way (or failed): once more, then check. */
    if (!*r->pod_name || !*r->ns) {
        finish_check(r, REPLICAS_UNKNOWN, "this replica names no Pod");
        return;
    }
    r->check_waiting = 1;
    if (!r->lookup_req)
        lookup(r);
}

int replicas_busy(const struct replicas *r)
{
    return r && (r->lookup_req || r->check_req || r->done);
}

const struct kube_object_ref *replicas_self(const struct replicas *r)
{
    return r && r->uid ? &r->self : NULL;
}

/* ---- life ---------------------------------------------------------------- */

struct replicas *replicas_start(struct kube_client *kc,
                                const struct replicas_opts *o, char *err,
                                size_t errlen)
{
    struct replicas *r;
    int named = o->ns && dnsname_valid(o->ns, DNSNAME_ONE_LABEL) &&
                o->pod_name && dnsname_valid(o->pod_name, 0);

    if (!(r = calloc(1, sizeof(*r)))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->kc = kc;
    r->ns = strdup(o->ns ? o->ns : "");
    r->pod_name = strdup(o->pod_name ? o->pod_name : "");
    r->selector = o->selector && *o->selector ? strdup(o->selector) : NULL;
    r->retry = evloop_timer_new(kube_client_loop(kc), retry_cb, r);
    backoff_init(&r->backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS,
                 BACKOFF_JITTER);
    if (!r->ns || !r->pod_name || !r->retry ||
        (o->selector && *o->selector && !r->selector)) {
        snprintf(err, errlen, "out of memory");
        replicas_free(r);
        return NULL;
    }
    r->self = (struct kube_object_ref){.api_version = "v1", .kind = "Pod",
                                       .ns = r->ns, .name = r->pod_name};
    if (named) {
        lookup(r);
    } else {
        /* Not a Pod name (a local run): no Pod to find. */
        log_info("kube: \"%s/%s\" names no Pod: other replicas cannot be "
                 "told apart (the Ingress status is not cleared on "
                 "shutdown)", r->ns, r->pod_name);
        r->attempts = LOOKUP_ATTEMPTS;
    }
    return r;
}

void replicas_free(struct replicas *r)
{
    if (!r)
        return;
    if (r->lookup_req)
        kube_request_cancel(r->kc, r->lookup_req);
    if (r->check_req)
        kube_request_cancel(r->kc, r->check_req);
    evloop_timer_free(r->retry);
    free(r->ns);
    free(r->pod_name);
    free(r->uid);
    free(r->selector);
    free(r);
}
