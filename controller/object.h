/*
 * object.h - reading fields of Kubernetes objects held as json-c, in the
 * API's wire shape, whatever their source (watches or manifest files).
 *
 * Paths are dotted keys from the object's root ("metadata.name",
 * "status.loadBalancer.ingress"); a key holding a dot cannot be reached
 * this way (annotations and labels: take the map with k8s_get, then
 * k8s_key_str). Nothing here allocates or keeps references:
 * results are owned by obj.
 */
#ifndef PORTICO_CONTROLLER_OBJECT_H
#define PORTICO_CONTROLLER_OBJECT_H

#include <json-c/json.h>

/* The value at path, or NULL when a step is absent or not an object. */
struct json_object *k8s_get(struct json_object *obj, const char *path);
/* The string at path, or NULL when absent or not a string. */
const char *k8s_str(struct json_object *obj, const char *path);
/* The string under one key of obj, which may hold dots (annotation and
 * label keys, "ns/name" keys of our own maps); NULL when absent or not a
 * string. */
const char *k8s_key_str(struct json_object *obj, const char *key);
/* The integer at path (json-c's conversion), 0 when absent. */
long long k8s_int(struct json_object *obj, const char *path);
/* "2026-01-02T03:04:05Z" -> unix seconds; 0 when absent or malformed. */
long long k8s_parse_time(const char *s);

#endif
