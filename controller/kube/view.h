/*
 * view.h - the publisher's observed views: a json object mapping the
 * "namespace/name" key of each watched object to the canonical text of
 * what matters in it (publish.h), compared with what we want written.
 */
#ifndef PORTICO_KUBE_VIEW_H
#define PORTICO_KUBE_VIEW_H

#include <json-c/json.h>
#include <stddef.h>

#define VIEW_NAME_MAX 254           /* a namespace or a name, and its NUL */

/* "namespace/name" of obj (malloc'd), or NULL when it has no name. */
char *view_key(struct json_object *obj);
/* Sets obj's entry to canon(obj). */
void view_put(struct json_object *view, struct json_object *obj,
              char *(*canon)(struct json_object *));
void view_del(struct json_object *view, struct json_object *obj);
/* Splits a key into its namespace and name. */
void view_split_key(const char *key, char *ns, size_t nslen, char *name,
                    size_t namelen);

#endif
