/*
 * reflector.h - LIST then WATCH one collection, as client-go's reflector
 * does: paged list (limit=500, continue), then a watch from the list's
 * resourceVersion with bookmarks and a random 300-600 s timeout; re-watch
 * from the last resourceVersion after a clean end or a network error;
 * re-list on 410 (ERROR event or HTTP status); jittered backoff on errors
 * (Retry-After honoured). Objects go to a sink (the store, or the
 * publisher's own views).
 */
#ifndef PORTICO_KUBE_REFLECTOR_H
#define PORTICO_KUBE_REFLECTOR_H

#include <json-c/json.h>

#include "controller/kube/client_internal.h"

struct reflector_sink {
    /* The complete set after a (re)list; items is a json array. */
    void (*replace)(void *arg, struct json_object *items);
    /* Or, when begin is set, a list arrives page by page instead:
     * begin, put for every listed object, end; objects not put between
     * begin and end are gone. (A list cut short never reaches end; the
     * next one begins again.) */
    void (*begin)(void *arg);
    void (*end)(void *arg);
    /* ADDED/MODIFIED from the watch, and listed objects of paged sinks. */
    void (*put)(void *arg, struct json_object *obj);
    void (*remove)(void *arg, struct json_object *obj);
    /* After the first complete list. */
    void (*synced)(void *arg);
    /* Optional: a list or watch answered with an HTTP error status (e.g.
     * 404: the type is not served, 403: not allowed). Returns non-zero
     * when the sink reported it itself (the reflector then logs it at
     * debug level only). The reflector retries with backoff either way;
     * a watch answered 404 lists again. */
    int (*failed)(void *arg, long status);
    void *arg;
};

struct reflector_opts {
    const char *name;            /* for logs, e.g. "ingresses" */
    const char *path;            /* collection path, no query */
    const char *field_selector;  /* or NULL */
    const char *label_selector;  /* or NULL */
    /* Client-side filter: objects it rejects count as deleted. */
    int (*accept)(struct json_object *obj);
    struct reflector_sink sink;
};

struct reflector;
struct reflector *reflector_start(struct kube_client *kc,
                                  const struct reflector_opts *o);
void reflector_free(struct reflector *r);

/* What one watch event means for the reflector (pure; unit-tested). */
enum reflector_verdict {
    REFLECTOR_CONTINUE,
    REFLECTOR_RELIST,     /* ERROR 410 Expired/Gone: list again */
    REFLECTOR_REWATCH,    /* other ERROR: back off, watch from last RV */
};
/* Applies one event to the sink and updates *rv (malloc'd, may be NULL). */
enum reflector_verdict reflector_apply_event(const struct reflector_opts *o,
                                             char **rv, const char *type,
                                             struct json_object *obj);

#endif
