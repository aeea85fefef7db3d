/* reflector.c - see reflector.h. */
#include "controller/kube/reflector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/backoff.h"
#include "controller/kube/watchstream.h"
#include "controller/object.h"
#include "evloop.h"
#include "log.h"

enum {
    LIST_PAGE_SIZE = 500,              /* client-go's pager */
    WATCH_TIMEOUT_MIN_S = 300,         /* reflector: random in [300, 600) */
    WATCH_TIMEOUT_SPAN_S = 300,
    WATCH_GRACE_S = 30,                /* client-side limit beyond that */
    WATCH_STALL_S = 180,               /* silent that long (servers send a
                                          BOOKMARK about every minute): the
                                          connection is presumed dead */
    MAX_EVENT_BYTES = 64 << 20,
    QUICK_END_MS = 1000,
    LIST_JSON_DEPTH = 64,               /* a watch that ends this fast, empty,
                                          is treated as an error */
};

struct reflector {
    struct kube_client *kc;
    struct reflector_opts o;
    char *name, *path, *fsel, *lsel;
    char *rv;                 /* last resourceVersion seen */
    char *cont;               /* list continue token */
    struct json_object *items;/* list pages accumulated (replace sinks) */
    size_t listed;            /* objects in the current list so far */
    struct kube_req *req;
    struct watch_stream *ws;
    struct ev_timer *retry;
    struct backoff backoff;
    int synced;
    int relist_wanted;        /* ERROR 410 seen in the stream */
    int watch_after_list;     /* this watch started from a fresh list */
    int watch_failed;         /* other ERROR event or bad stream */
    unsigned long events;     /* in the current watch */
    uint64_t watch_start_ms;
    enum { PHASE_LIST, PHASE_WATCH } phase;
};

/* metadata.managedFields (server-side apply bookkeeping) is often the
 * largest part of an object and nothing here reads it: drop it before
 * anything keeps the object, as informers' transforms do. */
static void trim(struct json_object *obj)
{
    struct json_object *meta;
    if (json_object_object_get_ex(obj, "metadata", &meta) &&
        json_object_is_type(meta, json_type_object))
        json_object_object_del(meta, "managedFields");
}

static void set_rv(char **rv, const char *v)
{
    char *n;
    if (!v || !*v)
        return;
    if (*rv && strcmp(*rv, v) == 0)
        return;
    n = strdup(v);
    if (!n)
        return;
    free(*rv);
    *rv = n;
}

enum reflector_verdict reflector_apply_event(const struct reflector_opts *o,
                                             char **rv, const char *type,
                                             struct json_object *obj)
{
    const struct reflector_sink *s = &o->sink;

    if (strcmp(type, "ERROR") == 0) {
        struct json_object *c;
        long code = 0;
        const char *reason = k8s_str(obj, "reason");
        if (json_object_object_get_ex(obj, "code", &c))
            code = (long)json_object_get_int64(c);
        if (code == HTTP_GONE || (reason && (strcmp(reason, "Expired") == 0 ||
                                       strcmp(reason, "Gone") == 0)))
            return REFLECTOR_RELIST;
        log_warn("kube: watch %s: ERROR event %ld %s: %s", o->name, code,
                 reason ? reason : "",
                 k8s_str(obj, "message") ?
                     k8s_str(obj, "message") : "");
        return REFLECTOR_REWATCH;
    }
    if (strcmp(type, "BOOKMARK") == 0) {
        set_rv(rv, k8s_str(obj, "metadata.resourceVersion"));
        return REFLECTOR_CONTINUE;
    }
    if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
        trim(obj);
        if (!o->accept || o->accept(obj))
            s->put(s->arg, obj);
        else
            s->remove(s->arg, obj);
    } else if (strcmp(type, "DELETED") == 0) {
        s->remove(s->arg, obj);
    } else {
        log_warn("kube: watch %s: unknown event type \"%s\" ignored",
                 o->name, type);
        return REFLECTOR_CONTINUE;
    }
    set_rv(rv, k8s_str(obj, "metadata.resourceVersion"));
    return REFLECTOR_CONTINUE;
}

static void start_list(struct reflector *r);
static void start_watch(struct reflector *r);

static void add_selectors(struct reflector *r, struct buf *q)
{
    if (r->fsel) {
        buf_puts(q, "&fieldSelector=");
        kube_query_escape(q, r->fsel);
    }
    if (r->lsel) {
        buf_puts(q, "&labelSelector=");
        kube_query_escape(q, r->lsel);
    }
}

static void retry_cb(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct reflector *r = arg;
    if (r->phase == PHASE_LIST)
        start_list(r);
    else
        start_watch(r);
}

static void retry_later(struct reflector *r, long retry_after_s)
{
    uint64_t d = backoff_next_after(&r->backoff, backoff_rand01(&r->backoff),
                                    retry_after_s);
    log_debug("kube: %s: retrying in %llu ms", r->name,
              (unsigned long long)d);
    evloop_timer_start(r->retry, d);
}

/* A watch whose resourceVersion is gone: list again. At once, unless the
 * watch came straight from a list and was refused at once too (a server
 * that cannot serve its own list's RV): then back off, never spin. */
static void relist(struct reflector *r, const char *why, int quick)
{
    log_info("kube: %s: re-listing (%s)", r->name, why);
    kube_client_count_relist(r->kc);
    free(r->cont);
    r->cont = NULL;
    json_object_put(r->items);
    r->items = NULL;
    r->phase = PHASE_LIST;
    if (quick)
        retry_later(r, -1);
    else
        start_list(r);
}

static void describe(const struct kube_response *resp, char *out, size_t n)
{
    char reason[64];
    if (resp->error) {
        snprintf(out, n, "%s", resp->error);
        return;
    }
    kube_status_code(resp->body, resp->body_len, reason, sizeof(reason));
    snprintf(out, n, "HTTP %ld%s%s", resp->status, reason[0] ? " " : "",
             reason);
}

/* An HTTP error told to the sink; 1 if the sink reported it. */
static int reported(struct reflector *r, const struct kube_response *resp)
{
    const struct reflector_sink *s = &r->o.sink;

    return resp->status >= HTTP_BAD_REQUEST && s->failed &&
           s->failed(s->arg, resp->status);
}

static struct json_object *parse_body(const char *body, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(LIST_JSON_DEPTH);
    struct json_object *o = NULL;
    if (!tok || len > 0x7fffffff) {
        json_tokener_free(tok);
        return NULL;
    }
    o = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    return o;
}

static void list_done(void *arg, const struct kube_response *resp)
{
    struct reflector *r = arg;
    struct json_object *body = NULL, *items, *meta, *v;
    char why[256];

    r->req = NULL;
    if (resp->error || resp->status != HTTP_OK) {
        describe(resp, why, sizeof(why));
        if (resp->status == HTTP_GONE && r->cont) {
            /* The continue token expired: start the list over. */
            relist(r, "continue token expired", 0);
            return;
        }
        if (reported(r, resp))
            log_debug("kube: list %s failed: %s", r->name, why);
        else
            log_warn("kube: list %s failed: %s", r->name, why);
        free(r->cont);
        r->cont = NULL;
        json_object_put(r->items);
        r->items = NULL;
        retry_later(r, resp->retry_after_s);
        return;
    }
    body = parse_body(resp->body, resp->body_len);
    if (!body || !json_object_object_get_ex(body, "items", &items) ||
        !(json_object_is_type(items, json_type_array) ||
          json_object_is_type(items, json_type_null))) {
        log_warn("kube: list %s: response is not a list", r->name);
        json_object_put(body);
        retry_later(r, -1);
        return;
    }
    const struct reflector_sink *s = &r->o.sink;
    int paged = s->begin != NULL;
    if (!r->cont) {                 /* the first page of this list */
        r->listed = 0;
        if (paged)
            s->begin(s->arg);
    }
    if (!paged && !r->items)
        r->items = json_object_new_array();
    size_t n = json_object_is_type(items, json_type_array)
                   ? json_object_array_length(items) : 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *it = json_object_array_get_idx(items, i);
        if (!json_object_is_type(it, json_type_object))
            continue;
        trim(it);
        if (r->o.accept && !r->o.accept(it))
            continue;
        r->listed++;
        /* Paged sinks take each page as it comes, so a big list never
         * sits in memory as json-c objects all at once. */
        if (paged)
            s->put(s->arg, it);
        else
            json_object_array_add(r->items, json_object_get(it));
    }
    free(r->cont);
    r->cont = NULL;
    if (json_object_object_get_ex(body, "metadata", &meta)) {
        if (json_object_object_get_ex(meta, "continue", &v) &&
            json_object_is_type(v, json_type_string) &&
            *json_object_get_string(v))
            r->cont = strdup(json_object_get_string(v));
        if (json_object_object_get_ex(meta, "resourceVersion", &v) &&
            json_object_is_type(v, json_type_string))
            set_rv(&r->rv, json_object_get_string(v));
    }
    json_object_put(body);
    if (r->cont) {
        start_list(r);
        return;
    }
    log_info("kube: listed %zu %s at resourceVersion %s", r->listed,
             r->name, r->rv ? r->rv : "?");
    if (paged) {
        s->end(s->arg);
    } else {
        s->replace(s->arg, r->items);
        json_object_put(r->items);
        r->items = NULL;
    }
    if (!r->synced) {
        r->synced = 1;
        if (r->o.sink.synced)
            r->o.sink.synced(r->o.sink.arg);
    }
    backoff_reset(&r->backoff);
    r->phase = PHASE_WATCH;
    r->watch_after_list = 1;
    start_watch(r);
}

static void start_list(struct reflector *r)
{
    struct buf q;
    buf_init(&q);
    buf_printf(&q, "%s?limit=%d", r->path, LIST_PAGE_SIZE);
    if (r->cont) {
        buf_puts(&q, "&continue=");
        kube_query_escape(&q, r->cont);
    }
    add_selectors(r, &q);
    struct kube_request_opts o = {
        .method = "GET", .verb = "LIST", .path = q.data,
        .done = list_done, .arg = r,
    };
    r->phase = PHASE_LIST;
    r->req = buf_failed(&q) ? NULL : kube_request(r->kc, &o);
    buf_free(&q);
    if (!r->req)
        retry_later(r, -1);
}

static int on_event(void *arg, const char *type, struct json_object *obj)
{
    struct reflector *r = arg;
    r->events++;
    switch (reflector_apply_event(&r->o, &r->rv, type, obj)) {
    case REFLECTOR_CONTINUE:
        return 0;
    case REFLECTOR_RELIST:
        r->relist_wanted = 1;
        return 1;
    case REFLECTOR_REWATCH:
        r->watch_failed = 1;
        return 1;
    }
    return 0;
}

static int on_watch_data(void *arg, const char *data, size_t len)
{
    struct reflector *r = arg;
    int rc = watch_stream_feed(r->ws, data, len);
    if (rc < 0) {
        log_warn("kube: watch %s: %s", r->name, watch_stream_error(r->ws));
        r->watch_failed = 1;
    }
    return rc != 0;
}

static void watch_done(void *arg, const struct kube_response *resp)
{
    struct reflector *r = arg;
    char why[256];
    int partial = r->ws && watch_stream_partial(r->ws);
    uint64_t lasted;
    int quick;

    r->req = NULL;
    watch_stream_free(r->ws);
    r->ws = NULL;
    kube_client_count_watch_restart(r->kc);
    evloop_update_time(kube_client_loop(r->kc));
    lasted = evloop_now_ms(kube_client_loop(r->kc)) - r->watch_start_ms;

    /* Refused at once although it came straight from a list? */
    quick = r->watch_after_list && r->events <= 1 && lasted < QUICK_END_MS;
    r->watch_after_list = 0;
    if (r->relist_wanted) {
        relist(r, "watch expired: ERROR 410", quick);
        return;
    }
    if (resp->status == HTTP_GONE) {
        relist(r, "watch expired: HTTP 410", quick);
        return;
    }
    if (resp->status == HTTP_NOT_FOUND) {
        /* The type is no longer served (a CRD deleted): list it again,
         * with backoff, to see when it is back. */
        if (!reported(r, resp))
            log_warn("kube: watch %s: HTTP 404: the type is not served",
                     r->name);
        json_object_put(r->items);
        r->items = NULL;
        r->phase = PHASE_LIST;
        retry_later(r, resp->retry_after_s);
        return;
    }
    if (resp->error || resp->status != HTTP_OK || r->watch_failed || partial) {
        /* A watch that was up for a while or delivered events says the
         * server is fine: the next attempt starts from the initial
         * backoff. */
        if (resp->status == HTTP_OK && (lasted >= QUICK_END_MS || r->events))
            backoff_reset(&r->backoff);
        describe(resp, why, sizeof(why));
        if (reported(r, resp))
            log_debug("kube: watch %s failed: %s", r->name, why);
        else
            log_warn("kube: watch %s ended with an error (%s%s); resuming "
                     "from resourceVersion %s", r->name,
                     r->watch_failed ? "bad event stream" : why,
                     partial ? ", mid-event" : "", r->rv ? r->rv : "?");
        retry_later(r, resp->retry_after_s);
        return;
    }
    if (r->events == 0 && lasted < QUICK_END_MS) {
        log_debug("kube: watch %s ended at once; backing off", r->name);
        retry_later(r, -1);
        return;
    }
    backoff_reset(&r->backoff);
    log_debug("kube: watch %s ended cleanly after %lu events", r->name,
              r->events);
    start_watch(r);
}

static void start_watch(struct reflector *r)
{
    struct buf q;
    long timeout = WATCH_TIMEOUT_MIN_S +
        (long)(backoff_rand01(&r->backoff) * WATCH_TIMEOUT_SPAN_S);

    r->phase = PHASE_WATCH;
    r->relist_wanted = r->watch_failed = 0;
    r->events = 0;
    r->ws = watch_stream_new(MAX_EVENT_BYTES, on_event, r);
    if (!r->ws) {
        retry_later(r, -1);
        return;
    }
    buf_init(&q);
    buf_printf(&q, "%s?watch=1&resourceVersion=", r->path);
    kube_query_escape(&q, r->rv ? r->rv : "");
    buf_printf(&q, "&allowWatchBookmarks=true&timeoutSeconds=%ld", timeout);
    add_selectors(r, &q);
    struct kube_request_opts o = {
        .method = "GET", .verb = "WATCH", .path = q.data,
        .timeout_s = timeout + WATCH_GRACE_S, .stall_s = WATCH_STALL_S,
        .on_data = on_watch_data, .done = watch_done, .arg = r,
    };
    evloop_update_time(kube_client_loop(r->kc));
    r->watch_start_ms = evloop_now_ms(kube_client_loop(r->kc));
    r->req = buf_failed(&q) ? NULL : kube_request(r->kc, &o);
    buf_free(&q);
    if (!r->req) {
        watch_stream_free(r->ws);
        r->ws = NULL;
        retry_later(r, -1);
    }
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

struct reflector *reflector_start(struct kube_client *kc,
                                  const struct reflector_opts *o)
{
    struct reflector *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kc = kc;
    r->o = *o;
    r->name = strdup(o->name);
    r->path = strdup(o->path);
    r->fsel = dup_or_null(o->field_selector);
    r->lsel = dup_or_null(o->label_selector);
    r->o.name = r->name;
    r->o.path = r->path;
    r->o.field_selector = r->fsel;
    r->o.label_selector = r->lsel;
    r->retry = evloop_timer_new(kube_client_loop(kc), retry_cb, r);
    backoff_init(&r->backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS,
                 BACKOFF_JITTER);
    if (!r->name || !r->path || !r->retry) {
        reflector_free(r);
        return NULL;
    }
    start_list(r);
    return r;
}

void reflector_free(struct reflector *r)
{
    if (!r)
        return;
    if (r->req)
        kube_request_cancel(r->kc, r->req);
    watch_stream_free(r->ws);
    evloop_timer_free(r->retry);
    json_object_put(r->items);
    free(r->rv);
    free(r->cont);
    free(r->name);
    free(r->path);
    free(r->fsel);
    free(r->lsel);
    free(r);
}
