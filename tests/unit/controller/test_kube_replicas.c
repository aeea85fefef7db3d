/* Unit tests for controller/kube/replicas: which Pods are this
 * controller's fellow replicas, and which of them still run (ingress-nginx
 * internal/ingress/status/status.go isRunningMultiplePods L239-260, but a
 * Pod being deleted or finished does not count). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/replicas.h"

static void selector_is_the_pod_labels_but_those_a_rollout_changes(
    void **st)
{
    struct json_object *pod = json_tokener_parse(
        "{\"metadata\":{\"name\":\"portico-7d9f-abcde\",\"labels\":{"
        "\"app.kubernetes.io/name\":\"portico\","
        "\"pod-template-hash\":\"7d9f\","
        "\"app.kubernetes.io/instance\":\"edge\","
        "\"controller-revision-hash\":\"1\","
        "\"pod-template-generation\":\"3\"}}}");
    char *sel = replicas_selector_of(pod);

    assert_string_equal(sel, "app.kubernetes.io/instance=edge,"
                             "app.kubernetes.io/name=portico");
    free(sel);
    json_object_put(pod);
    /* Nothing left to select by: no selector (the check says unknown). */
    pod = json_tokener_parse("{\"metadata\":{\"labels\":{"
                             "\"pod-template-hash\":\"7d9f\"}}}");
    assert_null(replicas_selector_of(pod));
    json_object_put(pod);
    pod = json_tokener_parse("{\"metadata\":{}}");
    assert_null(replicas_selector_of(pod));
    json_object_put(pod);
}

static void others_are_pods_not_deleted_nor_finished(void **st)
{
    struct json_object *items = json_tokener_parse(
        "[{\"metadata\":{\"name\":\"self\"},\"status\":{\"phase\":"
        "\"Running\"}},"
        "{\"metadata\":{\"name\":\"old\",\"deletionTimestamp\":"
        "\"2026-12-05T10:00:00Z\"},\"status\":{\"phase\":\"Running\"}},"
        "{\"metadata\":{\"name\":\"done\"},\"status\":{\"phase\":"
        "\"Succeeded\"}},"
        "{\"metadata\":{\"name\":\"dead\"},\"status\":{\"phase\":"
        "\"Failed\"}},"
        "{\"metadata\":{\"name\":\"new\"},\"status\":{\"phase\":"
        "\"Pending\"}},"
        "{\"metadata\":{\"name\":\"peer\"},\"status\":{\"phase\":"
        "\"Running\"}}]");
    char names[64];

    assert_int_equal(replicas_others(items, "self", names, sizeof(names)),
                     2);
    assert_string_equal(names, "new, peer");
    json_object_put(items);
    /* Alone (or only replicas on their way out): the last one. */
    items = json_tokener_parse(
        "[{\"metadata\":{\"name\":\"self\"}},"
        "{\"metadata\":{\"name\":\"b\",\"deletionTimestamp\":"
        "\"2026-12-05T10:00:00Z\"}}]");
    assert_int_equal(replicas_others(items, "self", names, sizeof(names)),
                     0);
    assert_string_equal(names, "");
    json_object_put(items);
    assert_int_equal(replicas_others(NULL, "self", names, sizeof(names)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            selector_is_the_pod_labels_but_those_a_rollout_changes),
        cmocka_unit_test(others_are_pods_not_deleted_nor_finished),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
