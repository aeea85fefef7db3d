/* object.c - fields of Kubernetes objects by dotted path; see object.h. */
#include "controller/object.h"

#include <string.h>
#include <time.h>

#define KEY_MAX 128     /* one step of a path; Kubernetes keys are short */

struct json_object *k8s_get(struct json_object *obj, const char *path)
{
    char part[KEY_MAX];

    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        if (!json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, part, &obj))
            return NULL;
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

const char *k8s_str(struct json_object *obj, const char *path)
{
    struct json_object *v = k8s_get(obj, path);

    return v && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

const char *k8s_key_str(struct json_object *obj, const char *key)
{
    struct json_object *v;

    return obj && json_object_object_get_ex(obj, key, &v) &&
                   json_object_is_type(v, json_type_string)
               ? json_object_get_string(v) : NULL;
}

long long k8s_int(struct json_object *obj, const char *path)
{
    struct json_object *v = k8s_get(obj, path);

    return v ? (long long)json_object_get_int64(v) : 0;
}

long long k8s_parse_time(const char *s)
{
    struct tm tm;

    if (!s)
        return 0;
    memset(&tm, 0, sizeof(tm));
    if (!strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (long long)timegm(&tm);
}
