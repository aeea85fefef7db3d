/*
 * client_internal.h - the asynchronous request API that the reflectors,
 * the leader election and the publisher share. Loop thread only.
 *
 * A request either buffers its whole body (on_data NULL) and hands it to
 * done, or streams it through on_data (watches). done is called exactly
 * once, from the loop, unless the request was cancelled first.
 */
#ifndef PORTICO_KUBE_CLIENT_INTERNAL_H
#define PORTICO_KUBE_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "controller/kube/kube.h"

/* HTTP statuses the callers act on. */
enum {
    HTTP_OK = 200,
    HTTP_CREATED = 201,
    HTTP_MULTIPLE_CHOICES = 300,   /* first non-2xx */
    HTTP_BAD_REQUEST = 400,        /* first error */
    HTTP_UNAUTHORIZED = 401,
    HTTP_FORBIDDEN = 403,
    HTTP_NOT_FOUND = 404,
    HTTP_CONFLICT = 409,
    HTTP_GONE = 410,               /* watch/list resourceVersion expired */
};

struct kube_response {
    long status;             /* HTTP status; 0 when no response arrived
                                (a transfer cut short keeps its status,
                                with error set) */
    int aborted;             /* on_data asked to stop */
    const char *error;       /* transport error text, or NULL */
    const char *body;        /* buffered body (NUL-terminated), or "" */
    size_t body_len;
    long retry_after_s;      /* Retry-After in seconds, or -1 */
};

/* Returns 0 to continue, non-zero to abort the transfer. */
typedef int (*kube_data_cb)(void *arg, const char *data, size_t len);
typedef void (*kube_done_cb)(void *arg, const struct kube_response *resp);

struct kube_request_opts {
    const char *method;        /* GET, POST, PUT, PATCH, DELETE */
    const char *verb;          /* metric label: LIST, WATCH, GET, ... */
    const char *path;          /* starting with '/', query included */
    const char *content_type;  /* for the body, or NULL */
    const char *body;          /* NULL for none */
    long timeout_s;            /* whole transfer; 0 -> default */
    long stall_s;              /* abort if no byte arrives for this long
                                  (0: never) */
    kube_data_cb on_data;      /* NULL: buffer the body. Only 2xx bodies
                                  stream; others are buffered. */
    kube_done_cb done;
    void *arg;
};

struct kube_req;
struct kube_req *kube_request(struct kube_client *kc,
                              const struct kube_request_opts *o);
/* No callback runs for r afterwards. Safe from any callback. */
void kube_request_cancel(struct kube_client *kc, struct kube_req *r);

struct evloop *kube_client_loop(struct kube_client *kc);
void kube_client_count_watch_restart(struct kube_client *kc);
void kube_client_count_relist(struct kube_client *kc);
void kube_client_count_api_error(struct kube_client *kc);

/* Helpers shared by the callers. */
/* The Status object's reason/code of an error body, if any. */
long kube_status_code(const char *body, size_t len, char *reason,
                      size_t reasonlen);
/* Appends s to out, percent-encoded for a query value. */
struct buf;
void kube_query_escape(struct buf *out, const char *s);
/* Appends the path of a collection: "GROUP/namespaces/NS/RESOURCE", or
 * "GROUP/RESOURCE" (all namespaces, or cluster-scoped) when ns is NULL.
 * group is "/api/v1" or "/apis/<group>/<version>". */
void kube_collection_path(struct buf *out, const char *group, const char *ns,
                          const char *resource);
/* RFC 3339 UTC now with microseconds ("...000000Z"). */
void kube_format_time(char *out, size_t outlen, int micro);

#endif
