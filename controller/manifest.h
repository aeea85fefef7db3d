/*
 * manifest.h - Kubernetes manifests (YAML, possibly multi-document, or
 * JSON) to json-c objects, for local mode.
 *
 * YAML scalars follow the YAML 1.2 core schema where it matters for
 * manifests: plain null/~/empty -> null, true/false -> boolean, decimal
 * integers -> int, everything else (and every quoted scalar) -> string.
 * Aliases are refused (no expansion bombs), as are documents deeper than
 * MANIFEST_MAX_DEPTH. "kind: List" documents are flattened into their
 * items.
 */
#ifndef PORTICO_CONTROLLER_MANIFEST_H
#define PORTICO_CONTROLLER_MANIFEST_H

#include <stddef.h>

#include <json-c/json.h>

#define MANIFEST_MAX_DEPTH 64

/* The API server's limits, so local mode accepts what a cluster would:
 * an object is at most 1.5 MiB (etcd's request limit, as the API server
 * enforces it) and its annotations at most 256 KiB in all (keys and
 * values, apimachinery's TotalAnnotationSizeLimitB). */
#define MANIFEST_OBJECT_MAX       (1536 * 1024)
#define MANIFEST_ANNOTATIONS_MAX  (256 * 1024)

/* A json array of the objects in data (empty documents skipped), or NULL
 * with a message (including the line) in err. */
struct json_object *manifest_parse(const char *data, size_t len, int is_json,
                                   char *err, size_t errlen);

/* 0 when doc fits the API server's limits, else -1 with the reason. */
int manifest_check_limits(struct json_object *doc, char *err, size_t errlen);

#endif
