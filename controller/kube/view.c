/* view.c - the publisher's observed views; see view.h. */
#include "controller/kube/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/object.h"

char *view_key(struct json_object *obj)
{
    const char *ns = k8s_str(obj, "metadata.namespace");
    const char *name = k8s_str(obj, "metadata.name");
    char *k;

    if (!name || asprintf(&k, "%s/%s", ns ? ns : "", name) < 0)
        return NULL;
    return k;
}

void view_put(struct json_object *view, struct json_object *obj,
              char *(*canon)(struct json_object *))
{
    char *k = view_key(obj), *c = canon(obj);

    if (k && c)
        json_object_object_add(view, k, json_object_new_string(c));
    free(k);
    free(c);
}

void view_del(struct json_object *view, struct json_object *obj)
{
    char *k = view_key(obj);

    if (k)
        json_object_object_del(view, k);
    free(k);
}

void view_split_key(const char *key, char *ns, size_t nslen, char *name,
                    size_t namelen)
{
    const char *slash = strchr(key, '/');
    size_t l = slash ? (size_t)(slash - key) : 0;

    snprintf(ns, nslen, "%.*s", (int)l, key);
    snprintf(name, namelen, "%s", slash ? slash + 1 : key);
}
