/* leader.c - see leader.h. */
#include "controller/kube/leader.h"

#include <stdlib.h>
#include <string.h>

#include "controller/object.h"

enum { RELEASED_LEASE_DURATION_S = 1 };

enum leader_action leader_decide(const struct lease_record *observed,
                                 uint64_t observed_ms, uint64_t now_ms,
                                 const char *identity)
{
    if (!observed)
        return LEADER_ACQUIRE;
    if (observed->holder && strcmp(observed->holder, identity) == 0)
        return LEADER_RENEW;
    if (observed->holder && *observed->holder &&
        observed_ms + (uint64_t)(observed->duration_s > 0
                                     ? observed->duration_s : 0) * 1000 >
            now_ms)
        return LEADER_WAIT;
    return LEADER_ACQUIRE;
}

/* A copy of the string at path, NULL when absent. */
static char *dup_str(struct json_object *o, const char *path)
{
    const char *v = k8s_str(o, path);

    return v ? strdup(v) : NULL;
}

int lease_record_parse(struct json_object *lease, struct lease_record *out)
{
    struct json_object *spec;

    memset(out, 0, sizeof(*out));
    if (!json_object_is_type(lease, json_type_object))
        return -1;
    out->resource_version = dup_str(lease, "metadata.resourceVersion");
    spec = k8s_get(lease, "spec");
    if (!spec || !json_object_is_type(spec, json_type_object)) {
        out->holder = strdup("");
        return 0;   /* an empty Lease: free to take */
    }
    out->holder = dup_str(spec, "holderIdentity");
    if (!out->holder)
        out->holder = strdup("");
    out->duration_s = (long)k8s_int(spec, "leaseDurationSeconds");
    out->acquire_time = dup_str(spec, "acquireTime");
    out->renew_time = dup_str(spec, "renewTime");
    out->transitions = (long)k8s_int(spec, "leaseTransitions");
    return out->holder ? 0 : -1;
}

void lease_record_free(struct lease_record *r)
{
    free(r->holder);
    free(r->acquire_time);
    free(r->renew_time);
    free(r->resource_version);
    memset(r, 0, sizeof(*r));
}

static int str_differs(const char *a, const char *b)
{
    if (!a || !b)
        return a != b;
    return strcmp(a, b) != 0;
}

int lease_record_changed(const struct lease_record *a,
                         const struct lease_record *b)
{
    return str_differs(a->holder, b->holder) ||
           a->duration_s != b->duration_s ||
           str_differs(a->acquire_time, b->acquire_time) ||
           str_differs(a->renew_time, b->renew_time) ||
           a->transitions != b->transitions;
}

char *lease_build(const char *ns, const char *name, const char *identity,
                  long duration_s, const struct lease_record *observed,
                  enum leader_action action, int release, const char *now)
{
    struct json_object *o = json_object_new_object();
    struct json_object *meta = json_object_new_object();
    struct json_object *spec = json_object_new_object();
    long transitions = observed ? observed->transitions : 0;
    const char *acquire = now;
    char *out;

    json_object_object_add(o, "apiVersion",
                           json_object_new_string("coordination.k8s.io/v1"));
    json_object_object_add(o, "kind", json_object_new_string("Lease"));
    json_object_object_add(meta, "name", json_object_new_string(name));
    json_object_object_add(meta, "namespace", json_object_new_string(ns));
    if (observed && observed->resource_version)
        json_object_object_add(meta, "resourceVersion",
            json_object_new_string(observed->resource_version));
    json_object_object_add(o, "metadata", meta);

    if (release) {
        /* client-go's release: empty holder, 1 s, transitions kept. */
        json_object_object_add(spec, "holderIdentity",
                               json_object_new_string(""));
        json_object_object_add(spec, "leaseDurationSeconds",
                               json_object_new_int(RELEASED_LEASE_DURATION_S));
    } else {
        if (action == LEADER_RENEW && observed && observed->acquire_time)
            acquire = observed->acquire_time;
        else if (observed)
            transitions++;      /* a new holder (the very first has 0) */
        json_object_object_add(spec, "holderIdentity",
                               json_object_new_string(identity));
        json_object_object_add(spec, "leaseDurationSeconds",
                               json_object_new_int((int)duration_s));
    }
    json_object_object_add(spec, "acquireTime",
                           json_object_new_string(acquire));
    json_object_object_add(spec, "renewTime", json_object_new_string(now));
    json_object_object_add(spec, "leaseTransitions",
                           json_object_new_int((int)transitions));
    json_object_object_add(o, "spec", spec);
    out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return out;
}
