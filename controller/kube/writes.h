/*
 * writes.h - the publisher's API writes in flight, shared by its jobs
 * (Ingress status, DNSEndpoints). Each write is tracked under its kind's
 * tag and an object key, so a job starts at most one write per object;
 * all count together against the publisher's bound; a write that settles
 * is reported to the job (what it means for its view) and then to the
 * publisher (run the next round, or back off after failures).
 *
 * Loop thread only. Freeing cancels what is in flight without callbacks.
 */
#ifndef PORTICO_KUBE_WRITES_H
#define PORTICO_KUBE_WRITES_H

#include <stddef.h>

#include "controller/kube/client_internal.h"

/* A job's completion of one write: returns 1 if the write counts as done
 * (it succeeded, or there is nothing left to do), 0 if it failed (it is
 * logged with the kind's name and the API's reason). */
typedef int (*kube_write_done)(void *arg, const char *key,
                               const struct kube_response *resp);

struct kube_write_kind {
    char tag;                   /* in-flight tracking: one write per tag
                                   and key at a time */
    const char *what;           /* for logs: "status of Ingress" */
    kube_write_done done;
};

struct kube_writes;

/* settled(arg, ok) after every tracked write's done. */
struct kube_writes *kube_writes_new(struct kube_client *kc,
                                    void (*settled)(void *arg, int ok),
                                    void *arg);
void kube_writes_free(struct kube_writes *w);

/* Starts method on path (body and its content type may be NULL) for the
 * object key. 0, or -1 when the request could not start. */
int kube_writes_start(struct kube_writes *w, const struct kube_write_kind *k,
                      void *done_arg, const char *key, const char *method,
                      const char *path, const char *ctype, const char *body);
/* A write nobody waits for (shutdown): counted until it finishes, no
 * callbacks. */
void kube_writes_forget(struct kube_writes *w, const char *method,
                        const char *path, const char *ctype,
                        const char *body);

int kube_writes_in_flight(const struct kube_writes *w, char tag,
                          const char *key);
size_t kube_writes_count(const struct kube_writes *w);
/* Tracked writes started since kube_writes_new (for the burst log). */
unsigned long kube_writes_started(const struct kube_writes *w);

#endif
