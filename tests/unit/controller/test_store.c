/* Unit tests for controller/store: keys by kind/namespace/name, change
 * detection (an identical put does not wake the controller), replace and
 * mark-and-sweep semantics, bulky fields dropped, sorted listing; and for
 * controller/manifest: multi-document YAML, List flattening, scalars,
 * aliases refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/manifest.h"
#include "controller/object.h"
#include "controller/store.h"

static int wakeups;

static void on_change(void *arg)
{
    wakeups++;
}

static struct json_object *obj(const char *json)
{
    struct json_object *o = json_tokener_parse(json);
    assert_non_null(o);
    return o;
}

static void identical_puts_do_not_wake_the_controller(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *a = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.1\"}}");
    struct json_object *b = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"None\"}}");

    wakeups = 0;
    assert_int_equal(store_put(s, RK_SERVICE, a), 0);
    assert_int_equal(wakeups, 1);
    assert_int_equal(store_put(s, RK_SERVICE, a), 0);
    assert_int_equal(wakeups, 1);
    assert_int_equal(store_put(s, RK_SERVICE, b), 0);
    assert_int_equal(wakeups, 2);
    assert_int_equal(store_count(s, RK_SERVICE), 1);
    struct json_object *got = store_get(s, RK_SERVICE, "n", "a");
    assert_string_equal(k8s_str(got, "spec.clusterIP"), "None");
    json_object_put(got);
    store_remove(s, RK_SERVICE, "n", "a");
    assert_int_equal(wakeups, 3);
    store_remove(s, RK_SERVICE, "n", "a");      /* unknown: ignored */
    assert_int_equal(wakeups, 3);
    assert_null(store_get(s, RK_SERVICE, "n", "a"));
    json_object_put(a);
    json_object_put(b);
    store_free(s);
}

/* An entry is one block (struct, key, namespace, JSON): its fields read
 * as separate strings did, for namespaced and cluster-scoped kinds, and a
 * changed object gets a new entry with a new revision. */
static void entries_keep_key_namespace_name_and_json_in_one_block(void **state)
{
    struct store *s = store_new(NULL, NULL);
    struct json_object *a = obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"team-a\",\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},\"spec\":{\"x\":1}}");
    struct json_object *b = obj("{\"metadata\":{\"name\":\"web\",\"namespace\":\"team-a\"},\"spec\":{\"x\":22}}");
    struct json_object *c = obj("{\"metadata\":{\"name\":\"portico\"},\"spec\":{}}");
    const struct store_entry *e;
    unsigned long long rev;

    assert_int_equal(store_put(s, RK_INGRESS, a), 0);
    assert_int_equal(store_put(s, RK_INGRESS_CLASS, c), 0);
    e = store_lookup(s, RK_INGRESS, "team-a", "web");
    assert_non_null(e);
    assert_string_equal(e->key, "team-a/web");
    assert_string_equal(e->ns, "team-a");
    assert_string_equal(e->name, "web");
    assert_int_equal(e->created, 1767323045);
    assert_int_equal(e->len, strlen(e->json));
    /* the creation time is the entry's, not in its text */
    assert_string_equal(e->json, "{\"metadata\":{\"name\":\"web\","
                                 "\"namespace\":\"team-a\"},"
                                 "\"spec\":{\"x\":1}}");
    rev = e->rev;
    e = store_lookup(s, RK_INGRESS_CLASS, NULL, "portico");
    assert_non_null(e);
    assert_string_equal(e->key, "portico");
    assert_string_equal(e->name, "portico");
    assert_null(e->ns);
    assert_int_equal(store_put(s, RK_INGRESS, b), 0);
    e = store_lookup(s, RK_INGRESS, "team-a", "web");
    assert_true(e->rev > rev);
    assert_string_equal(e->name, "web");
    assert_string_equal(e->ns, "team-a");
    struct json_object *got = store_entry_parse(e);
    assert_int_equal(json_object_get_int(k8s_get(got, "spec.x")), 22);
    json_object_put(got);
    json_object_put(a);
    json_object_put(b);
    json_object_put(c);
    store_free(s);
}

/* A LIST's items lack kind and apiVersion, a watch event's object has
 * them: the same object either way, not a change (nor kept: the store's
 * kind says it). */
static void kind_and_api_version_are_not_kept_nor_a_change(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *listed = obj(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"x\":1}}");
    struct json_object *watched = obj(
        "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\","
        "\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"x\":1}}");

    wakeups = 0;
    assert_int_equal(store_put(s, RK_INGRESS, listed), 0);
    assert_int_equal(store_put(s, RK_INGRESS, watched), 0);
    assert_int_equal(wakeups, 1);
    const struct store_entry *e = store_lookup(s, RK_INGRESS, "n", "a");
    assert_null(strstr(e->json, "apiVersion"));
    assert_null(strstr(e->json, "\"kind\""));
    /* the caller's object keeps them */
    assert_string_equal(k8s_str(watched, "kind"), "Ingress");
    assert_string_equal(k8s_str(watched, "apiVersion"), "networking.k8s.io/v1");
    json_object_put(listed);
    json_object_put(watched);
    store_free(s);
}

static void objects_without_identity_are_refused(void **state)
{
    struct store *s = store_new(NULL, NULL);
    struct json_object *noname = obj("{\"metadata\":{\"namespace\":\"n\"}}");
    struct json_object *nons = obj("{\"metadata\":{\"name\":\"a\"}}");

    assert_int_equal(store_put(s, RK_INGRESS, noname), -1);
    assert_int_equal(store_put(s, RK_INGRESS, nons), -1);
    /* IngressClass is cluster-scoped: no namespace needed */
    assert_int_equal(store_put(s, RK_INGRESS_CLASS, nons), 0);
    assert_non_null(store_lookup(s, RK_INGRESS_CLASS, "ignored", "a"));
    json_object_put(noname);
    json_object_put(nons);
    store_free(s);
}

static void replace_removes_what_the_list_no_longer_has(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *l1 = obj("[{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}},"
                                 "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}]");
    struct json_object *l2 = obj("[{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}]");

    wakeups = 0;
    store_replace(s, RK_INGRESS, l1);
    assert_int_equal(wakeups, 1);               /* one wake per replace */
    store_replace(s, RK_INGRESS, l1);
    assert_int_equal(wakeups, 1);               /* same set: no change */
    store_replace(s, RK_INGRESS, l2);
    assert_int_equal(wakeups, 2);
    assert_int_equal(store_count(s, RK_INGRESS), 1);
    assert_null(store_lookup(s, RK_INGRESS, "n", "a"));
    json_object_put(l1);
    json_object_put(l2);
    store_free(s);
}

/* The feed names every key of a kind whose content changed, in order,
 * from a mark on: puts with new content, removals, a replace's and a
 * sweep's; not identical puts nor other kinds. A mark older than what
 * the feed keeps is refused, and so is one it never gave. */
static void the_feed_names_each_changed_key_since_a_mark(void **state)
{
    struct store *s = store_new(NULL, NULL);
    char *const *keys;
    size_t n;
    char json[128];

    for (int i = 0; i < 3; i++) {
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"name\":\"i%d\",\"namespace\":\"n\"}}", i);
        struct json_object *o = obj(json);
        assert_int_equal(store_put(s, RK_INGRESS, o), 0);
        json_object_put(o);
    }
    unsigned long long mark = store_feed_mark(s, RK_INGRESS);
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark, &keys, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark - 3, &keys, &n),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "n/i0");
    assert_string_equal(keys[2], "n/i2");
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark + 1, &keys, &n),
                     -1);
    struct json_object *same = obj("{\"metadata\":{\"name\":\"i1\",\"namespace\":\"n\"}}");
    struct json_object *changed = obj("{\"metadata\":{\"name\":\"i1\",\"namespace\":\"n\"},\"spec\":{}}");
    struct json_object *svc = obj("{\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"}}");
    assert_int_equal(store_put(s, RK_INGRESS, same), 0);       /* no change */
    assert_int_equal(store_put(s, RK_SERVICE, svc), 0);        /* other kind */
    assert_int_equal(store_put(s, RK_INGRESS, changed), 0);
    store_remove(s, RK_INGRESS, "n", "i0");
    store_remove(s, RK_INGRESS, "n", "nothing");
    store_sweep_begin(s, RK_INGRESS);
    store_touch(s, RK_INGRESS, "n/i1");
    store_sweep_end(s, RK_INGRESS);                 /* n/i2 goes */
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark, &keys, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(keys[0], "n/i1");
    assert_string_equal(keys[1], "n/i0");
    assert_string_equal(keys[2], "n/i2");
    assert_int_equal(store_feed_since(s, RK_SERVICE, 0, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "n/s");
    /* a replace's changes; then more than the feed keeps */
    struct json_object *list = obj("[{\"metadata\":{\"name\":\"i1\",\"namespace\":\"n\"},\"spec\":{}},"
                                   "{\"metadata\":{\"name\":\"r\",\"namespace\":\"n\"}}]");
    mark = store_feed_mark(s, RK_INGRESS);
    assert_int_equal(store_replace(s, RK_INGRESS, list), 0);
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark, &keys, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "n/r");
    for (int i = 0; i < 2 * STORE_FEED_KEEP + 1; i++) {
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"name\":\"m%d\",\"namespace\":\"n\"}}", i);
        struct json_object *o = obj(json);
        assert_int_equal(store_put(s, RK_INGRESS, o), 0);
        json_object_put(o);
    }
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark, &keys, &n), -1);
    mark = store_feed_mark(s, RK_INGRESS);
    assert_int_equal(store_feed_since(s, RK_INGRESS, mark - STORE_FEED_KEEP,
                                      &keys, &n), 0);
    assert_int_equal(n, STORE_FEED_KEEP);
    snprintf(json, sizeof(json), "n/m%d", 2 * STORE_FEED_KEEP);
    assert_string_equal(keys[n - 1], json);
    json_object_put(same);
    json_object_put(changed);
    json_object_put(svc);
    json_object_put(list);
    store_free(s);
}

static void sweep_keeps_touched_entries_only(void **state)
{
    struct store *s = store_new(NULL, NULL);
    struct json_object *a = obj("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"}}");
    struct json_object *b = obj("{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}");

    store_put(s, RK_SECRET, a);
    store_put(s, RK_SECRET, b);
    store_sweep_begin(s, RK_SECRET);
    store_touch(s, RK_SECRET, "n/b");
    store_sweep_end(s, RK_SECRET);
    assert_null(store_lookup(s, RK_SECRET, "n", "a"));
    assert_non_null(store_lookup(s, RK_SECRET, "n", "b"));
    json_object_put(a);
    json_object_put(b);
    store_free(s);
}

/* The index (lib/keytable) at a few thousand entries: a sweep removes
 * exactly the untouched ones, the others stay found with their content,
 * a replaced entry reads as its new content, removals free everything
 * (ASan). */
static void thousands_of_entries_stay_found_through_sweeps_and_removals(
    void **state)
{
    const int n = 5000;
    struct store *s = store_new(NULL, NULL);
    char json[160], key[64], name[32];

    for (int i = 0; i < n; i++) {
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"name\":\"ing-%d\",\"namespace\":\"n\"},"
                 "\"spec\":{\"i\":%d}}", i, i);
        struct json_object *o = obj(json);
        assert_int_equal(store_put(s, RK_INGRESS, o), 0);
        json_object_put(o);
    }
    assert_int_equal(store_count(s, RK_INGRESS), n);
    store_sweep_begin(s, RK_INGRESS);
    for (int i = 0; i < n; i += 3) {
        snprintf(key, sizeof(key), "n/ing-%d", i);
        store_touch(s, RK_INGRESS, key);
    }
    store_sweep_end(s, RK_INGRESS);
    assert_int_equal(store_count(s, RK_INGRESS), (n + 2) / 3);
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "ing-%d", i);
        const struct store_entry *e = store_lookup(s, RK_INGRESS, "n", name);
        if (i % 3) {
            assert_null(e);
            continue;
        }
        assert_non_null(e);
        snprintf(json, sizeof(json), "\"i\":%d}", i);
        assert_non_null(strstr(e->json, json));
    }
    struct json_object *o = obj("{\"metadata\":{\"name\":\"ing-3\","
                                "\"namespace\":\"n\"},\"spec\":{\"i\":-3}}");
    assert_int_equal(store_put(s, RK_INGRESS, o), 0);
    json_object_put(o);
    assert_non_null(strstr(store_lookup(s, RK_INGRESS, "n", "ing-3")->json,
                           "\"i\":-3"));
    for (int i = 0; i < n; i += 6) {
        snprintf(name, sizeof(name), "ing-%d", i);
        store_remove(s, RK_INGRESS, "n", name);
    }
    assert_int_equal(store_count(s, RK_INGRESS), (n + 2) / 3 - (n + 5) / 6);
    assert_non_null(store_lookup(s, RK_INGRESS, "n", "ing-3"));
    store_free(s);
}

static void status_only_updates_are_not_changes(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *a = obj(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"1\"},"
        "\"spec\":{},\"status\":{}}");
    struct json_object *b = obj(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"resourceVersion\":\"2\"},"
        "\"spec\":{},\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"1.2.3.4\"}]}}}");

    wakeups = 0;
    store_put(s, RK_INGRESS, a);
    store_put(s, RK_INGRESS, b);
    assert_int_equal(wakeups, 1);
    assert_null(strstr(store_lookup(s, RK_INGRESS, "n", "a")->json, "status"));
    assert_non_null(k8s_get(b, "status.loadBalancer"));   /* caller's kept */
    json_object_put(a);
    json_object_put(b);
    store_free(s);
}

static void managed_fields_are_dropped_and_the_caller_object_kept(void **state)
{
    struct store *s = store_new(NULL, NULL);
    struct json_object *a = obj(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
        "\"creationTimestamp\":\"2026-01-02T03:04:05Z\","
        "\"managedFields\":[{\"manager\":\"kubectl\"}],"
        "\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{}\","
        "\"keep\":\"me\"}}}");

    store_put(s, RK_INGRESS, a);
    const struct store_entry *e = store_lookup(s, RK_INGRESS, "n", "a");
    assert_non_null(e);
    assert_null(strstr(e->json, "managedFields"));
    assert_null(strstr(e->json, "last-applied"));
    assert_non_null(strstr(e->json, "\"keep\""));
    assert_int_equal(e->created, 1767323045);
    /* the caller's object is unchanged */
    assert_non_null(k8s_get(a, "metadata.managedFields"));
    json_object_put(a);
    store_free(s);
}

/* Of a Service the store keeps what the model reads (ports, type,
 * externalName, clusterIP): what the API server adds (clusterIPs, ip
 * families, policies, uid) and labels or annotations neither cost memory
 * nor wake the controller when they change. */
static void a_service_keeps_only_what_the_model_reads(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *a = obj(
        "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
        "\"uid\":\"9bb93b8d-4787-4d83-b558-6a6c865921d7\",\"resourceVersion\":\"5\","
        "\"creationTimestamp\":\"2026-01-02T03:04:05Z\",\"labels\":{\"app\":\"x\"}},"
        "\"spec\":{\"ports\":[{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\","
        "\"protocol\":\"TCP\"}],\"type\":\"ExternalName\",\"externalName\":\"db.example.com\","
        "\"sessionAffinity\":\"None\",\"clusterIP\":\"None\",\"clusterIPs\":[\"None\"],"
        "\"ipFamilies\":[\"IPv4\"],\"ipFamilyPolicy\":\"SingleStack\","
        "\"internalTrafficPolicy\":\"Cluster\"},\"status\":{\"loadBalancer\":{}}}");
    struct json_object *got;
    const struct store_entry *e;

    wakeups = 0;
    assert_int_equal(store_put(s, RK_SERVICE, a), 0);
    e = store_lookup(s, RK_SERVICE, "n", "a");
    assert_non_null(e);
    assert_string_equal(e->json,
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"ports\":"
        "[{\"name\":\"http\",\"port\":80,\"targetPort\":\"web\",\"protocol\":\"TCP\"}],"
        "\"type\":\"ExternalName\",\"externalName\":\"db.example.com\","
        "\"clusterIP\":\"None\"}}");
    assert_int_equal(e->created, 1767323045);
    got = store_get(s, RK_SERVICE, "n", "a");
    assert_string_equal(k8s_str(got, "spec.externalName"), "db.example.com");
    json_object_put(got);
    /* the caller's object is unchanged */
    assert_non_null(k8s_get(a, "spec.ipFamilies"));
    assert_non_null(k8s_get(a, "status.loadBalancer"));
    /* a new label is no change; a new port is one */
    json_object_object_add(k8s_get(a, "metadata.labels"), "tier",
                           json_object_new_string("db"));
    assert_int_equal(store_put(s, RK_SERVICE, a), 0);
    assert_int_equal(wakeups, 1);
    json_object_object_add(json_object_array_get_idx(k8s_get(a, "spec.ports"),
                                                     0),
                           "port", json_object_new_int(81));
    assert_int_equal(store_put(s, RK_SERVICE, a), 0);
    assert_int_equal(wakeups, 2);
    json_object_put(a);
    store_free(s);
}

/* creationTimestamp and generation are not kept in an Ingress's text
 * (the entry's created holds the time), yet a new creation time is a
 * change: the oldest Ingress wins a conflict. */
static void creation_time_is_the_entry_s_and_still_a_change(void **state)
{
    struct store *s = store_new(on_change, NULL);
    struct json_object *a = obj(
        "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"generation\":3,"
        "\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},\"spec\":{}}");
    const struct store_entry *e;

    wakeups = 0;
    store_put(s, RK_INGRESS, a);
    e = store_lookup(s, RK_INGRESS, "n", "a");
    assert_null(strstr(e->json, "creationTimestamp"));
    assert_null(strstr(e->json, "generation"));
    assert_int_equal(e->created, 1767323045);
    json_object_object_add(k8s_get(a, "metadata"), "generation",
                           json_object_new_int(4));
    store_put(s, RK_INGRESS, a);
    assert_int_equal(wakeups, 1);
    json_object_object_add(k8s_get(a, "metadata"), "creationTimestamp",
                           json_object_new_string("2026-01-02T03:04:06Z"));
    store_put(s, RK_INGRESS, a);
    assert_int_equal(wakeups, 2);
    assert_int_equal(store_lookup(s, RK_INGRESS, "n", "a")->created,
                     1767323046);
    json_object_put(a);
    store_free(s);
}

static void entries_are_sorted_by_namespace_and_name(void **state)
{
    struct store *s = store_new(NULL, NULL);
    const char *names[] = {"n2/a", "n1/b", "n1/a"};
    const struct store_entry **list;
    size_t n;

    for (size_t i = 0; i < 3; i++) {
        char json[128];
        snprintf(json, sizeof(json),
                 "{\"metadata\":{\"namespace\":\"%.2s\",\"name\":\"%s\"}}",
                 names[i], names[i] + 3);
        struct json_object *o = obj(json);
        store_put(s, RK_INGRESS, o);
        json_object_put(o);
    }
    assert_int_equal(store_entries(s, RK_INGRESS, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0]->key, "n1/a");
    assert_string_equal(list[1]->key, "n1/b");
    assert_string_equal(list[2]->key, "n2/a");
    free(list);
    store_free(s);
}

static void yaml_documents_lists_and_scalars_become_json(void **state)
{
    static const char yaml[] =
        "kind: Service\nmetadata: {name: a}\nspec:\n  ports:\n  - port: 80\n"
        "    name: \"80\"\n  flag: true\n  none: ~\n  text: |\n    line\n"
        "---\n"
        "---\n"
        "kind: List\nitems:\n- kind: Ingress\n  metadata: {name: x}\n"
        "- kind: Ingress\n  metadata: {name: y}\n";
    char err[256];
    struct json_object *docs = manifest_parse(yaml, strlen(yaml), 0, err,
                                              sizeof(err));

    assert_non_null(docs);
    assert_int_equal(json_object_array_length(docs), 3);
    struct json_object *svc = json_object_array_get_idx(docs, 0);
    struct json_object *port = json_object_array_get_idx(
        k8s_get(svc, "spec.ports"), 0);
    assert_true(json_object_is_type(k8s_get(port, "port"), json_type_int));
    assert_true(json_object_is_type(k8s_get(port, "name"), json_type_string));
    assert_true(json_object_is_type(k8s_get(svc, "spec.flag"),
                                    json_type_boolean));
    assert_null(k8s_get(svc, "spec.none"));
    assert_string_equal(k8s_str(svc, "spec.text"), "line\n");
    assert_string_equal(k8s_str(json_object_array_get_idx(docs, 2),
                                "metadata.name"), "y");
    json_object_put(docs);
}

static void yaml_aliases_and_syntax_errors_are_refused_with_a_line(void **state)
{
    static const char alias[] = "a: &x [1, 2]\nb: *x\n";
    static const char broken[] = "a: [1, 2\nb: c\n";
    char err[256];

    assert_null(manifest_parse(alias, strlen(alias), 0, err, sizeof(err)));
    assert_non_null(strstr(err, "aliases"));
    assert_null(manifest_parse(broken, strlen(broken), 0, err, sizeof(err)));
    assert_non_null(strstr(err, "line"));
    assert_null(manifest_parse("{\"a\": 1} x", 10, 1, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identical_puts_do_not_wake_the_controller),
        cmocka_unit_test(a_service_keeps_only_what_the_model_reads),
        cmocka_unit_test(creation_time_is_the_entry_s_and_still_a_change),
        cmocka_unit_test(entries_keep_key_namespace_name_and_json_in_one_block),
        cmocka_unit_test(kind_and_api_version_are_not_kept_nor_a_change),
        cmocka_unit_test(objects_without_identity_are_refused),
        cmocka_unit_test(replace_removes_what_the_list_no_longer_has),
        cmocka_unit_test(sweep_keeps_touched_entries_only),
        cmocka_unit_test(the_feed_names_each_changed_key_since_a_mark),
        cmocka_unit_test(
            thousands_of_entries_stay_found_through_sweeps_and_removals),
        cmocka_unit_test(status_only_updates_are_not_changes),
        cmocka_unit_test(managed_fields_are_dropped_and_the_caller_object_kept),
        cmocka_unit_test(entries_are_sorted_by_namespace_and_name),
        cmocka_unit_test(yaml_documents_lists_and_scalars_become_json),
        cmocka_unit_test(yaml_aliases_and_syntax_errors_are_refused_with_a_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
