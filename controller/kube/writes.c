/* writes.c - the publisher's API writes in flight; see writes.h. */
#include "controller/kube/writes.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct write_op {
    struct kube_writes *w;
    struct kube_req *req;
    const struct kube_write_kind *kind;     /* NULL: fire and forget */
    void *done_arg;
    char *key;
    struct write_op *prev, *next;
};

struct kube_writes {
    struct kube_client *kc;
    struct write_op *ops;
    size_t n;
    unsigned long started;
    struct json_object *inflight;   /* "tag:key" -> true */
    void (*settled)(void *arg, int ok);
    void *arg;
};

static char *flight_key(char tag, const char *key)
{
    char *s;

    if (asprintf(&s, "%c:%s", tag, key) < 0)
        return NULL;
    return s;
}

static void op_link(struct write_op *op)
{
    struct kube_writes *w = op->w;

    op->next = w->ops;
    if (w->ops)
        w->ops->prev = op;
    w->ops = op;
    w->n++;
}

static void op_unlink(struct write_op *op)
{
    struct kube_writes *w = op->w;

    if (op->prev)
        op->prev->next = op->next;
    else
        w->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    w->n--;
}

static void op_free(struct write_op *op)
{
    free(op->key);
    free(op);
}

static void op_done(void *arg, const struct kube_response *resp)
{
    struct write_op *op = arg;
    struct kube_writes *w = op->w;
    const struct kube_write_kind *k = op->kind;
    char *fk = flight_key(k->tag, op->key);
    int ok;

    op_unlink(op);
    if (fk)
        json_object_object_del(w->inflight, fk);
    free(fk);
    ok = k->done(op->done_arg, op->key, resp);
    if (!ok) {
        char reason[64];
        kube_status_code(resp->body, resp->body_len, reason, sizeof(reason));
        log_warn("kube: writing %s %s failed: %s%ld %s", k->what, op->key,
                 resp->error ? resp->error : "HTTP ", resp->status, reason);
    }
    op_free(op);
    w->settled(w->arg, ok);
}

static void forgotten_done(void *arg, const struct kube_response *resp)
{
    struct write_op *op = arg;

    op_unlink(op);
    op_free(op);
}

static struct write_op *op_start(struct kube_writes *w,
                                 const struct kube_write_kind *k,
                                 void *done_arg, const char *key,
                                 const char *method, const char *path,
                                 const char *ctype, const char *body)
{
    struct write_op *op = calloc(1, sizeof(*op));

    if (!op || !(op->key = strdup(key))) {
        free(op);
        return NULL;
    }
    op->w = w;
    op->kind = k;
    op->done_arg = done_arg;
    struct kube_request_opts o = {
        .method = method, .verb = method, .path = path,
        .content_type = ctype, .body = body,
        .done = k ? op_done : forgotten_done, .arg = op,
    };
    op->req = kube_request(w->kc, &o);
    if (!op->req) {
        op_free(op);
        return NULL;
    }
    op_link(op);
    return op;
}

int kube_writes_start(struct kube_writes *w, const struct kube_write_kind *k,
                      void *done_arg, const char *key, const char *method,
                      const char *path, const char *ctype, const char *body)
{
    char *fk = flight_key(k->tag, key);

    if (!fk || !op_start(w, k, done_arg, key, method, path, ctype, body)) {
        free(fk);
        return -1;
    }
    w->started++;
    json_object_object_add(w->inflight, fk, json_object_new_boolean(1));
    free(fk);
    return 0;
}

void kube_writes_forget(struct kube_writes *w, const char *method,
                        const char *path, const char *ctype,
                        const char *body)
{
    op_start(w, NULL, NULL, path, method, path, ctype, body);
}

int kube_writes_in_flight(const struct kube_writes *w, char tag,
                          const char *key)
{
    char *fk = flight_key(tag, key);
    int r = fk && json_object_object_get_ex(w->inflight, fk, NULL);

    free(fk);
    return r;
}

size_t kube_writes_count(const struct kube_writes *w)
{
    return w->n;
}

unsigned long kube_writes_started(const struct kube_writes *w)
{
    return w->started;
}

struct kube_writes *kube_writes_new(struct kube_client *kc,
                                    void (*settled)(void *arg, int ok),
                                    void *arg)
{
    struct kube_writes *w = calloc(1, sizeof(*w));

    if (!w)
        return NULL;
    w->kc = kc;
    w->settled = settled;
    w->arg = arg;
    w->inflight = json_object_new_object();
    if (!w->inflight) {
        free(w);
        return NULL;
    }
    return w;
}

void kube_writes_free(struct kube_writes *w)
{
    if (!w)
        return;
    while (w->ops) {
        struct write_op *op = w->ops;
        kube_request_cancel(w->kc, op->req);
        op_unlink(op);
        op_free(op);
    }
    json_object_put(w->inflight);
    free(w);
}
