/*
 * watchstream.h - incremental parser for a Kubernetes watch response: a
 * stream of JSON objects {"type":..., "object":{...}}, one per line, that
 * arrives in chunks split anywhere (json-c's json_tokener keeps the state
 * across chunks). Pure; unit-tested at every split point and fuzzed.
 */
#ifndef PORTICO_KUBE_WATCHSTREAM_H
#define PORTICO_KUBE_WATCHSTREAM_H

#include <json-c/json.h>
#include <stddef.h>

/* Called once per complete event. obj is borrowed (valid during the call).
 * Return 0 to go on, non-zero to stop (watch_stream_feed returns it). */
typedef int (*watch_event_cb)(void *arg, const char *type,
                              struct json_object *obj);

struct watch_stream;

/* max_event_bytes bounds one event (a runaway or hostile stream is an
 * error, not unbounded memory). */
struct watch_stream *watch_stream_new(size_t max_event_bytes,
                                      watch_event_cb cb, void *arg);
void watch_stream_free(struct watch_stream *ws);
/* Returns 0, the callback's non-zero value, or -1 on malformed input (the
 * reason in watch_stream_error()). After an error the stream is dead. */
int watch_stream_feed(struct watch_stream *ws, const char *data, size_t len);
/* 1 if a partial event is pending (the stream ended mid-object). */
int watch_stream_partial(const struct watch_stream *ws);
const char *watch_stream_error(const struct watch_stream *ws);

#endif
