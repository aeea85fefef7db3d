/* watchstream.c - see watchstream.h. */
#include "controller/kube/watchstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WATCH_JSON_DEPTH = 64, FEED_MAX = 1 << 30 };

struct watch_stream {
    struct json_tokener *tok;
    watch_event_cb cb;
    void *arg;
    size_t max_event_bytes;
    size_t pending;       /* bytes of the current, incomplete event */
    int dead;
    char error[160];
};

struct watch_stream *watch_stream_new(size_t max_event_bytes,
                                      watch_event_cb cb, void *arg)
{
    struct watch_stream *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->tok = json_tokener_new_ex(WATCH_JSON_DEPTH);
    if (!ws->tok) {
        free(ws);
        return NULL;
    }
    /* Go's encoding/json writes strict JSON; json-c's lenient mode is not
     * chunk-invariant. (Not JSON_TOKENER_VALIDATE_UTF8: json-c 0.16
     * rejects a multi-byte character split across two chunks. Strings
     * are checked against strict grammars downstream anyway.) */
    json_tokener_set_flags(ws->tok, JSON_TOKENER_STRICT |
                                    JSON_TOKENER_ALLOW_TRAILING_CHARS);
    ws->cb = cb;
    ws->arg = arg;
    ws->max_event_bytes = max_event_bytes;
    return ws;
}

void watch_stream_free(struct watch_stream *ws)
{
    if (!ws)
        return;
    json_tokener_free(ws->tok);
    free(ws);
}

static int fail(struct watch_stream *ws, const char *fmt, const char *what)
{
    ws->dead = 1;
    snprintf(ws->error, sizeof(ws->error), fmt, what);
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Hands one complete top-level value to the callback. */
static int deliver(struct watch_stream *ws, struct json_object *ev)
{
    struct json_object *type, *obj;
    int rc;

    if (!json_object_is_type(ev, json_type_object) ||
        !json_object_object_get_ex(ev, "type", &type) ||
        !json_object_is_type(type, json_type_string) ||
        !json_object_object_get_ex(ev, "object", &obj) ||
        !json_object_is_type(obj, json_type_object)) {
        json_object_put(ev);
        return fail(ws, "watch event %s", "without type or object");
    }
    rc = ws->cb(ws->arg, json_object_get_string(type), obj);
    json_object_put(ev);
    return rc;
}

int watch_stream_feed(struct watch_stream *ws, const char *data, size_t len)
{
    if (ws->dead)
        return -1;
    while (len > 0) {
        /* Between events only whitespace is allowed; skip it here so
         * that a trailing newline never looks like a partial event. */
        if (ws->pending == 0) {
            while (len > 0 && is_space(*data)) {
                data++;
                len--;
            }
            if (len == 0)
                break;
            if (*data != '{')
                return fail(ws, "watch stream: %s", "expected '{'");
        }
        size_t chunk = len > FEED_MAX ? FEED_MAX : len;
        if (ws->max_event_bytes && ws->pending + chunk > ws->max_event_bytes)
            chunk = ws->max_event_bytes - ws->pending + 1;
        if (chunk > len)
            chunk = len;
        struct json_object *ev = json_tokener_parse_ex(ws->tok, data,
                                                       (int)chunk);
        enum json_tokener_error jerr = json_tokener_get_error(ws->tok);
        if (ev) {
            size_t used = json_tokener_get_parse_end(ws->tok);
            json_tokener_reset(ws->tok);
            ws->pending = 0;
            data += used;
            len -= used;
            int rc = deliver(ws, ev);
            if (rc != 0)
                return rc;
            continue;
        }
        if (jerr != json_tokener_continue) {
            json_tokener_reset(ws->tok);
            return fail(ws, "watch stream: bad JSON (%s)",
                        json_tokener_error_desc(jerr));
        }
        ws->pending += chunk;
        data += chunk;
        len -= chunk;
        if (ws->max_event_bytes && ws->pending > ws->max_event_bytes)
            return fail(ws, "watch stream: event larger than %s",
                        "the limit");
    }
    return 0;
}

int watch_stream_partial(const struct watch_stream *ws)
{
    return ws->pending > 0;
}

const char *watch_stream_error(const struct watch_stream *ws)
{
    return ws->error[0] ? ws->error : "no error";
}
