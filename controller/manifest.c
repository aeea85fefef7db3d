/* manifest.c - YAML/JSON manifests to json-c (see manifest.h). */
#include "controller/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct parser {
    yaml_parser_t yp;
    char *err;
    size_t errlen;
    int failed;
};

static void perr(struct parser *p, const char *what, size_t line)
{
    if (!p->failed)
        snprintf(p->err, p->errlen, "line %zu: %s", line + 1, what);
    p->failed = 1;
}

static int next(struct parser *p, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&p->yp, ev)) {
        perr(p, p->yp.problem ? p->yp.problem : "YAML syntax error",
             p->yp.problem_mark.line);
        return -1;
    }
    return 0;
}

static int is_int(const char *s, size_t len)
{
    size_t i = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;

    if (i == len || len - i > 18)
        return 0;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static struct json_object *scalar(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;

    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        return json_object_new_string_len(v, (int)len);
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_object_new_string_len(v, (int)len);
    if (len == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0 ||
        strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0)
        return json_object_new_null();
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
        strcmp(v, "TRUE") == 0)
        return json_object_new_boolean(1);
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
        strcmp(v, "FALSE") == 0)
        return json_object_new_boolean(0);
    if (is_int(v, len))
        return json_object_new_int64(strtoll(v, NULL, 10));
    return json_object_new_string_len(v, (int)len);
}

static struct json_object *node(struct parser *p, yaml_event_t *ev, int depth);

/* Builds the node that starts with ev (consumed by the caller). */
static struct json_object *node(struct parser *p, yaml_event_t *ev, int depth)
{
    struct json_object *o = NULL;
    yaml_event_t e;

    if (depth > MANIFEST_MAX_DEPTH) {
        perr(p, "nested too deeply", ev->start_mark.line);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        o = scalar(ev);
        break;
    case YAML_ALIAS_EVENT:
        perr(p, "YAML aliases are not supported", ev->start_mark.line);
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
        o = json_object_new_array();
        for (;;) {
            if (next(p, &e) < 0)
                goto fail;
            if (e.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            struct json_object *item = node(p, &e, depth + 1);
            yaml_event_delete(&e);
            if (!item && p->failed)
                goto fail;
            json_object_array_add(o, item);
        }
        break;
    case YAML_MAPPING_START_EVENT:
        o = json_object_new_object();
        for (;;) {
            char *key;
            if (next(p, &e) < 0)
                goto fail;
            if (e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            if (e.type != YAML_SCALAR_EVENT) {
                perr(p, "mapping keys must be scalars", e.start_mark.line);
                yaml_event_delete(&e);
                goto fail;
            }
            key = strndup((const char *)e.data.scalar.value,
                          e.data.scalar.length);
            yaml_event_delete(&e);
            if (!key || next(p, &e) < 0) {
                free(key);
                goto fail;
            }
            struct json_object *val = node(p, &e, depth + 1);
            yaml_event_delete(&e);
            if (!val && p->failed) {
                free(key);
                goto fail;
            }
            json_object_object_add(o, key, val);
            free(key);
        }
        break;
    default:
        perr(p, "unexpected YAML event", ev->start_mark.line);
        return NULL;
    }
    return o;
fail:
    json_object_put(o);
    return NULL;
}

/* Adds doc (or, for a List, its items) to out. Takes doc's reference. */
static void add_doc(struct json_object *out, struct json_object *doc)
{
    struct json_object *items;
    const char *kind = NULL;
    struct json_object *k;

    if (!json_object_is_type(doc, json_type_object)) {
        json_object_put(doc);
        return;
    }
    if (json_object_object_get_ex(doc, "kind", &k))
        kind = json_object_get_string(k);
    if (kind && strcmp(kind, "List") == 0 &&
        json_object_object_get_ex(doc, "items", &items) &&
        json_object_is_type(items, json_type_array)) {
        size_t n = json_object_array_length(items);
        for (size_t i = 0; i < n; i++)
            add_doc(out, json_object_get(json_object_array_get_idx(items, i)));
        json_object_put(doc);
        return;
    }
    json_object_array_add(out, doc);
}

static struct json_object *parse_json(const char *data, size_t len, char *err,
                                      size_t errlen)
{
    struct json_tokener *tok = json_tokener_new_ex(MANIFEST_MAX_DEPTH);
    struct json_object *doc, *out;

    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    doc = json_tokener_parse_ex(tok, data, (int)len);
    if (!doc || tok->char_offset < (int)len) {
        enum json_tokener_error je = json_tokener_get_error(tok);
        /* Trailing whitespace after the document is fine. */
        int trailing_ok = doc != NULL;
        for (size_t i = doc ? (size_t)tok->char_offset : len; i < len; i++)
            if (data[i] != ' ' && data[i] != '\n' && data[i] != '\r' &&
                data[i] != '\t')
                trailing_ok = 0;
        if (!trailing_ok) {
            snprintf(err, errlen, "JSON: %s at offset %d",
                     doc ? "trailing data" : json_tokener_error_desc(je),
                     tok->char_offset);
            json_object_put(doc);
            json_tokener_free(tok);
            return NULL;
        }
    }
    json_tokener_free(tok);
    out = json_object_new_array();
    add_doc(out, doc);
    return out;
}

struct json_object *manifest_parse(const char *data, size_t len, int is_json,
                                   char *err, size_t errlen)
{
    struct parser p = {.err = err, .errlen = errlen};
    struct json_object *out;
    yaml_event_t ev;

    if (is_json)
        return parse_json(data, len, err, errlen);
    if (!yaml_parser_initialize(&p.yp)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)data, len);
    out = json_object_new_array();
    for (;;) {
        if (next(&p, &ev) < 0)
            break;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_t root;
            yaml_event_delete(&ev);
            if (next(&p, &root) < 0)
                break;
            if (root.type == YAML_DOCUMENT_END_EVENT) {
                yaml_event_delete(&root);
                continue;
            }
            struct json_object *doc = node(&p, &root, 0);
            yaml_event_delete(&root);
            if (p.failed)
                break;
            add_doc(out, doc);
            continue;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p.yp);
    if (p.failed) {
        json_object_put(out);
        return NULL;
    }
    return out;
}

int manifest_check_limits(struct json_object *doc, char *err, size_t errlen)
{
    struct json_object *meta, *ann;
    size_t len = 0, total = 0;

    json_object_to_json_string_length(doc, JSON_C_TO_STRING_PLAIN, &len);
    if (len > MANIFEST_OBJECT_MAX) {
        snprintf(err, errlen, "object of %zu bytes is larger than the API "
                 "server's limit of %d bytes", len, MANIFEST_OBJECT_MAX);
        return -1;
    }
    if (json_object_object_get_ex(doc, "metadata", &meta) &&
        json_object_object_get_ex(meta, "annotations", &ann) &&
        json_object_is_type(ann, json_type_object)) {
        json_object_object_foreach(ann, key, val) {
            total += strlen(key);
            if (json_object_is_type(val, json_type_string))
                total += (size_t)json_object_get_string_len(val);
        }
    }
    if (total > MANIFEST_ANNOTATIONS_MAX) {
        snprintf(err, errlen, "annotations of %zu bytes in all are larger "
                 "than the API server's limit of %d bytes", total,
                 MANIFEST_ANNOTATIONS_MAX);
        return -1;
    }
    return 0;
}
