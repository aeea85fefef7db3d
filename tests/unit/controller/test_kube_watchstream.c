/* Unit tests for controller/kube/watchstream and the reflector's event
 * handling: a recorded watch stream parsed identically at every split
 * point, malformed and oversized input refused, and what each event type
 * does (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR 410). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "controller/kube/reflector.h"
#include "controller/kube/watchstream.h"
#include "controller/object.h"

/* As the API server sends it: one event per line, chunked anywhere. */
static const char recorded[] =
    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Ingress\",\"apiVersion\":"
    "\"networking.k8s.io/v1\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"default\",\"resourceVersion\":\"101\",\"annotations\":{\"a\":"
    "\"{\\\"x\\\": \\\"}\\n\\\"}\"}},\"spec\":{\"rules\":[{\"host\":"
    "\"caf\\u00e9.example.com\",\"http\":{\"paths\":[{\"path\":\"/\","
    "\"pathType\":\"Prefix\",\"backend\":{\"service\":{\"name\":\"web\","
    "\"port\":{\"number\":80}}}}]}}]}}}\n"
    "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"default\",\"resourceVersion\":\"102\",\"labels\":{"
    "\"team\":\"caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80\"}},\"spec\":{}}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Ingress\",\"metadata\":"
    "{\"resourceVersion\":\"150\"}}}\n"
    "  \r\n"
    "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"web\","
    "\"namespace\":\"default\",\"resourceVersion\":\"151\"}}}\n"
    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource "
    "version: 99 (140)\",\"reason\":\"Expired\",\"code\":410}}\n";

struct seen {
    struct buf log;
    int stop_after;   /* stop (return 1) after this many events; 0 never */
    int n;
};

static int record(void *arg, const char *type, struct json_object *obj)
{
    struct seen *s = arg;
    struct json_object *m, *rv;
    const char *r = "-";
    if (json_object_object_get_ex(obj, "metadata", &m) &&
        json_object_object_get_ex(m, "resourceVersion", &rv))
        r = json_object_get_string(rv);
    buf_printf(&s->log, "%s@%s;", type, r);
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static const char expected[] = "ADDED@101;MODIFIED@102;BOOKMARK@150;"
                               "DELETED@151;ERROR@-;";

static void parse_in_pieces(const size_t *cuts, size_t ncuts, struct seen *s)
{
    struct watch_stream *ws = watch_stream_new(1 << 20, record, s);
    size_t len = sizeof(recorded) - 1, at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(watch_stream_feed(ws, recorded + at, end - at), 0);
        at = end;
    }
    assert_false(watch_stream_partial(ws));
    watch_stream_free(ws);
}

static void stream_parses_identically_at_every_split_point(void **st)
{
    size_t len = sizeof(recorded) - 1;
    for (size_t cut = 0; cut <= len; cut++) {
        struct seen s = {0};
        buf_init(&s.log);
        parse_in_pieces(&cut, 1, &s);
        if (strcmp(s.log.data, expected) != 0)
            fail_msg("split at %zu: got %s", cut, s.log.data);
        buf_free(&s.log);
    }
}

static void stream_parses_identically_at_every_pair_of_split_points(void **st)
{
    size_t len = sizeof(recorded) - 1;
    /* Every pair (i, j) with a stride keeps this fast yet dense. */
    for (size_t i = 0; i <= len; i += 3) {
        for (size_t j = i; j <= len; j += 7) {
            size_t cuts[2] = {i, j};
            struct seen s = {0};
            buf_init(&s.log);
            parse_in_pieces(cuts, 2, &s);
            if (strcmp(s.log.data, expected) != 0)
                fail_msg("split at %zu,%zu: got %s", i, j, s.log.data);
            buf_free(&s.log);
        }
    }
}

static void stream_parses_byte_by_byte(void **st)
{
    struct seen s = {0};
    struct watch_stream *ws;
    buf_init(&s.log);
    ws = watch_stream_new(1 << 20, record, &s);
    for (size_t i = 0; i < sizeof(recorded) - 1; i++)
        assert_int_equal(watch_stream_feed(ws, recorded + i, 1), 0);
    assert_string_equal(s.log.data, expected);
    watch_stream_free(ws);
    buf_free(&s.log);
}

static void stream_reports_a_partial_event_at_the_end(void **st)
{
    struct seen s = {0};
    struct watch_stream *ws;
    buf_init(&s.log);
    ws = watch_stream_new(1 << 20, record, &s);
    assert_int_equal(watch_stream_feed(ws, recorded, 40), 0);
    assert_true(watch_stream_partial(ws));
    assert_int_equal(s.n, 0);
    watch_stream_free(ws);
    buf_free(&s.log);
}

static void stream_stops_when_the_callback_asks(void **st)
{
    struct seen s = {.stop_after = 2};
    struct watch_stream *ws;
    buf_init(&s.log);
    ws = watch_stream_new(1 << 20, record, &s);
    assert_int_equal(watch_stream_feed(ws, recorded, sizeof(recorded) - 1),
                     1);
    assert_string_equal(s.log.data, "ADDED@101;MODIFIED@102;");
    watch_stream_free(ws);
    buf_free(&s.log);
}

static void expect_refused(const char *input, size_t max, const char *why)
{
    struct seen s = {0};
    struct watch_stream *ws;
    buf_init(&s.log);
    ws = watch_stream_new(max, record, &s);
    assert_int_equal(watch_stream_feed(ws, input, strlen(input)), -1);
    if (!strstr(watch_stream_error(ws), why))
        fail_msg("error \"%s\" lacks \"%s\"", watch_stream_error(ws), why);
    /* A dead stream stays dead. */
    assert_int_equal(watch_stream_feed(ws, "{}", 2), -1);
    watch_stream_free(ws);
    buf_free(&s.log);
}

static void malformed_and_oversized_streams_are_refused(void **st)
{
    expect_refused("{\"type\":\"ADDED\",\"object\":{}]\n", 1 << 20,
                   "bad JSON");
    expect_refused("[1,2]\n", 1 << 20, "expected '{'");
    expect_refused("{\"type\":\"ADDED\"}\n", 1 << 20, "without type");
    expect_refused("{\"type\":1,\"object\":{}}\n", 1 << 20, "without type");
    expect_refused("{\"type\":\"ADDED\",\"object\":\"x\"}\n", 1 << 20,
                   "without type");
    expect_refused("{\"type\":\"ADDED\",\"object\":{\"a\":\"0123456789"
                   "0123456789\"}}\n", 32, "larger than");
    expect_refused("\x01{}\n", 1 << 20, "expected '{'");
}

/* ---- event handling (reflector_apply_event) ---- */

struct calls {
    struct buf log;
};

static void c_replace(void *arg, struct json_object *items) {}
static void c_put(void *arg, struct json_object *obj)
{
    struct calls *c = arg;
    struct json_object *meta;
    buf_printf(&c->log, "put %s;", k8s_str(obj, "metadata.name"));
    /* Nothing downstream reads managedFields: it is never kept. */
    assert_true(json_object_object_get_ex(obj, "metadata", &meta));
    assert_false(json_object_object_get_ex(meta, "managedFields", NULL));
}
static void c_remove(void *arg, struct json_object *obj)
{
    struct calls *c = arg;
    buf_printf(&c->log, "remove %s;", k8s_str(obj, "metadata.name"));
}

static int only_tls(struct json_object *obj)
{
    const char *t = k8s_str(obj, "type");
    return t && strcmp(t, "kubernetes.io/tls") == 0;
}

static enum reflector_verdict apply(struct reflector_opts *o, char **rv,
                                    const char *type, const char *json)
{
    struct json_object *obj = json_tokener_parse(json);
    enum reflector_verdict v;
    assert_non_null(obj);
    v = reflector_apply_event(o, rv, type, obj);
    json_object_put(obj);
    return v;
}

static void events_feed_the_sink_and_track_the_resource_version(void **st)
{
    struct calls c;
    char *rv = strdup("10");
    buf_init(&c.log);
    struct reflector_opts o = {.name = "secrets", .accept = only_tls,
        .sink = {.replace = c_replace, .put = c_put, .remove = c_remove,
                 .arg = &c}};

    assert_int_equal(apply(&o, &rv, "ADDED", "{\"metadata\":{\"name\":\"a\","
        "\"resourceVersion\":\"11\"},\"type\":\"kubernetes.io/tls\"}"),
        REFLECTOR_CONTINUE);
    assert_string_equal(rv, "11");
    assert_int_equal(apply(&o, &rv, "MODIFIED", "{\"metadata\":{\"name\":"
        "\"a\",\"resourceVersion\":\"12\",\"managedFields\":[{\"manager\":"
        "\"kubectl\",\"fieldsV1\":{\"f:data\":{}}}]},\"type\":"
        "\"kubernetes.io/tls\"}"), REFLECTOR_CONTINUE);
    /* A Secret of another type that slipped through is not kept. */
    assert_int_equal(apply(&o, &rv, "ADDED", "{\"metadata\":{\"name\":\"o\","
        "\"resourceVersion\":\"13\"},\"type\":\"Opaque\"}"),
        REFLECTOR_CONTINUE);
    assert_int_equal(apply(&o, &rv, "DELETED", "{\"metadata\":{\"name\":"
        "\"a\",\"resourceVersion\":\"14\"},\"type\":\"kubernetes.io/tls\"}"),
        REFLECTOR_CONTINUE);
    assert_string_equal(rv, "14");
    assert_int_equal(apply(&o, &rv, "BOOKMARK", "{\"kind\":\"Secret\","
        "\"metadata\":{\"resourceVersion\":\"20\"}}"), REFLECTOR_CONTINUE);
    assert_string_equal(rv, "20");
    /* Unknown types are ignored and do not move the RV. */
    assert_int_equal(apply(&o, &rv, "SURPRISE", "{\"metadata\":{\"name\":"
        "\"z\",\"resourceVersion\":\"99\"}}"), REFLECTOR_CONTINUE);
    assert_string_equal(rv, "20");
    assert_string_equal(c.log.data, "put a;put a;remove o;remove a;");
    free(rv);
    buf_free(&c.log);
}

static void error_410_relists_and_other_errors_rewatch(void **st)
{
    struct calls c;
    char *rv = strdup("5");
    buf_init(&c.log);
    struct reflector_opts o = {.name = "ingresses",
        .sink = {.replace = c_replace, .put = c_put, .remove = c_remove,
                 .arg = &c}};

    assert_int_equal(apply(&o, &rv, "ERROR", "{\"kind\":\"Status\","
        "\"status\":\"Failure\",\"message\":\"too old resource version: 1 "
        "(4)\",\"reason\":\"Expired\",\"code\":410}"), REFLECTOR_RELIST);
    /* Servers <= 1.17 said Gone. */
    assert_int_equal(apply(&o, &rv, "ERROR", "{\"kind\":\"Status\","
        "\"reason\":\"Gone\",\"code\":410}"), REFLECTOR_RELIST);
    assert_int_equal(apply(&o, &rv, "ERROR", "{\"kind\":\"Status\","
        "\"reason\":\"InternalError\",\"code\":500}"), REFLECTOR_REWATCH);
    assert_string_equal(rv, "5");
    assert_int_equal(c.log.len, 0);
    free(rv);
    buf_free(&c.log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_parses_identically_at_every_split_point),
        cmocka_unit_test(stream_parses_identically_at_every_pair_of_split_points),
        cmocka_unit_test(stream_parses_byte_by_byte),
        cmocka_unit_test(stream_reports_a_partial_event_at_the_end),
        cmocka_unit_test(stream_stops_when_the_callback_asks),
        cmocka_unit_test(malformed_and_oversized_streams_are_refused),
        cmocka_unit_test(events_feed_the_sink_and_track_the_resource_version),
        cmocka_unit_test(error_410_relists_and_other_errors_rewatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
