/* Unit tests for controller/kube/publish and events: Ingress status for
 * the published targets, DNSEndpoints as ExternalDNS reads them, the
 * ExternalDNS ttl annotation, the Event body and its aggregation key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/events.h"
#include "controller/kube/publish.h"

static struct json_object *get(struct json_object *o, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *k = strtok_r(buf, ".", &save); k && o;
         k = strtok_r(NULL, ".", &save)) {
        if (json_object_is_type(o, json_type_array))
            o = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &o))
            return NULL;
    }
    return o;
}

static const char *gs(struct json_object *o, const char *path)
{
    struct json_object *v = get(o, path);
    return v ? json_object_get_string(v) : NULL;
}

static void targets_are_typed_like_external_dns(void **st)
{
    assert_int_equal(target_type_of("192.0.2.10"), TARGET_A);
    assert_int_equal(target_type_of("2001:db8::1"), TARGET_AAAA);
    assert_int_equal(target_type_of("lb.example.net"), TARGET_CNAME);
    assert_int_equal(target_type_of("192.0.2.300"), TARGET_CNAME);
}

static void status_patch_puts_ips_in_ip_and_names_in_hostname(void **st)
{
    const char *t[] = {"192.0.2.10", "lb.example.net", "2001:db8::1"};
    char *j = lb_status_patch(t, 3);
    struct json_object *o = json_tokener_parse(j);
    assert_string_equal(gs(o, "status.loadBalancer.ingress.0.ip"),
                        "192.0.2.10");
    assert_string_equal(gs(o, "status.loadBalancer.ingress.1.hostname"),
                        "lb.example.net");
    assert_null(get(o, "status.loadBalancer.ingress.1.ip"));
    assert_string_equal(gs(o, "status.loadBalancer.ingress.2.ip"),
                        "2001:db8::1");
    json_object_put(o);
    free(j);

    /* No targets: a merge patch that removes the list. */
    j = lb_status_patch(NULL, 0);
    assert_string_equal(j, "{\"status\":{\"loadBalancer\":{\"ingress\":null}}}");
    free(j);
}

static void observed_and_desired_status_compare_canonically(void **st)
{
    const char *t[] = {"192.0.2.10", "lb.example.net"};
    struct json_object *want = lb_ingress_for_targets(t, 2);
    struct json_object *ing = json_tokener_parse(
        "{\"metadata\":{\"name\":\"x\"},\"status\":{\"loadBalancer\":{"
        "\"ingress\":[{\"ip\":\"192.0.2.10\",\"ports\":[]},{\"hostname\":"
        "\"lb.example.net\"}]}}}");
    struct json_object *bare = json_tokener_parse("{\"status\":{}}");
    char *a = lb_canonical(want), *b = lb_canonical_of_ingress(ing);
    char *c = lb_canonical_of_ingress(bare);

    assert_string_equal(a, "ip:192.0.2.10|hostname:lb.example.net");
    assert_string_equal(a, b);
    assert_string_equal(c, "");
    free(a);
    free(b);
    free(c);
    json_object_put(want);
    json_object_put(ing);
    json_object_put(bare);
}

static void service_load_balancer_gives_the_targets(void **st)
{
    struct json_object *svc = json_tokener_parse(
        "{\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.5\"},"
        "{\"hostname\":\"a.elb.example\"},{}]}}}");
    char **t;
    size_t n = targets_from_service(svc, &t);
    assert_int_equal(n, 2);
    assert_string_equal(t[0], "203.0.113.5");
    assert_string_equal(t[1], "a.elb.example");
    targets_free(t, n);
    json_object_put(svc);

    svc = json_tokener_parse("{\"spec\":{}}");
    assert_int_equal(targets_from_service(svc, &t), 0);
    targets_free(t, 0);
    json_object_put(svc);
}

static void ttl_annotation_accepts_seconds_and_go_durations(void **st)
{
    assert_int_equal(externaldns_parse_ttl("60"), 60);
    assert_int_equal(externaldns_parse_ttl("1m"), 60);
    assert_int_equal(externaldns_parse_ttl("1h30m"), 5400);
    assert_int_equal(externaldns_parse_ttl("1.5h"), 5400);
    assert_int_equal(externaldns_parse_ttl("90s"), 90);
    assert_int_equal(externaldns_parse_ttl("2500ms"), 2);
    assert_int_equal(externaldns_parse_ttl("2147483647"), 2147483647);
    /* Out of [1, MaxInt32] or not a number/duration: ignored. */
    assert_int_equal(externaldns_parse_ttl("0"), 0);
    assert_int_equal(externaldns_parse_ttl("-5"), 0);
    assert_int_equal(externaldns_parse_ttl("500ms"), 0);
    assert_int_equal(externaldns_parse_ttl("2147483648"), 0);
    assert_int_equal(externaldns_parse_ttl("10x"), 0);
    assert_int_equal(externaldns_parse_ttl("m"), 0);
    assert_int_equal(externaldns_parse_ttl("1h 5m"), 0);
    assert_int_equal(externaldns_parse_ttl(""), 0);
    assert_int_equal(externaldns_parse_ttl(NULL), 0);
}

static void ttl_annotation_reads_both_prefixes_new_one_first(void **st)
{
    struct json_object *a = json_tokener_parse(
        "{\"metadata\":{\"annotations\":{"
        "\"external-dns.alpha.kubernetes.io/ttl\":\"120\"}}}");
    struct json_object *b = json_tokener_parse(
        "{\"metadata\":{\"annotations\":{"
        "\"external-dns.kubernetes.io/ttl\":\"5m\"}}}");
    struct json_object *both = json_tokener_parse(
        "{\"metadata\":{\"annotations\":{"
        "\"external-dns.alpha.kubernetes.io/ttl\":\"120\","
        "\"external-dns.kubernetes.io/ttl\":\"300\"}}}");
    struct json_object *none = json_tokener_parse("{\"metadata\":{}}");
    assert_int_equal(externaldns_ttl_of(a), 120);
    assert_int_equal(externaldns_ttl_of(b), 300);
    assert_int_equal(externaldns_ttl_of(both), 300);
    assert_int_equal(externaldns_ttl_of(none), 0);
    json_object_put(a);
    json_object_put(b);
    json_object_put(both);
    json_object_put(none);
}

static void dnsendpoint_has_owner_and_one_endpoint_per_host_and_type(void **st)
{
    const char *hosts[] = {"a.example.com", "*.b.example.com"};
    const char *t[] = {"192.0.2.1", "192.0.2.2", "2001:db8::1", "lb.example"};
    struct json_object *d = dnsendpoint_build("shop", "web", "uid-1", hosts,
                                              2, t, 4, 300);
    assert_string_equal(gs(d, "apiVersion"), "externaldns.k8s.io/v1alpha1");
    assert_string_equal(gs(d, "kind"), "DNSEndpoint");
    assert_string_equal(gs(d, "metadata.name"), "web");
    assert_string_equal(gs(d, "metadata.namespace"), "shop");
    {
        struct json_object *v;
        assert_true(json_object_object_get_ex(get(d, "metadata.labels"),
                                              PORTICO_MANAGED_BY_LABEL, &v));
        assert_string_equal(json_object_get_string(v), "portico-controller");
    }
    assert_string_equal(gs(d, "metadata.ownerReferences.0.kind"), "Ingress");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.uid"), "uid-1");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.name"), "web");
    assert_true(json_object_get_boolean(
        get(d, "metadata.ownerReferences.0.controller")));
    assert_int_equal(json_object_array_length(get(d, "spec.endpoints")), 6);
    assert_string_equal(gs(d, "spec.endpoints.0.dnsName"), "a.example.com");
    assert_string_equal(gs(d, "spec.endpoints.0.recordType"), "A");
    assert_int_equal(json_object_array_length(
        get(d, "spec.endpoints.0.targets")), 2);
    assert_string_equal(gs(d, "spec.endpoints.0.targets.1"), "192.0.2.2");
    assert_int_equal(json_object_get_int(
        get(d, "spec.endpoints.0.recordTTL")), 300);
    assert_string_equal(gs(d, "spec.endpoints.1.recordType"), "AAAA");
    assert_string_equal(gs(d, "spec.endpoints.2.recordType"), "CNAME");
    assert_string_equal(gs(d, "spec.endpoints.2.targets.0"), "lb.example");
    assert_string_equal(gs(d, "spec.endpoints.3.dnsName"), "*.b.example.com");
    json_object_put(d);

    /* Without a ttl there is no recordTTL; without hosts or targets there
     * is nothing to publish. */
    d = dnsendpoint_build("shop", "web", "uid-1", hosts, 1, t, 1, 0);
    assert_null(get(d, "spec.endpoints.0.recordTTL"));
    json_object_put(d);
    assert_null(dnsendpoint_build("shop", "web", "u", hosts, 0, t, 1, 0));
    assert_null(dnsendpoint_build("shop", "web", "u", hosts, 1, t, 0, 0));
}

static void dnsendpoint_canonical_form_ignores_server_fields(void **st)
{
    const char *hosts[] = {"a.example.com"};
    const char *t[] = {"192.0.2.1"};
    struct json_object *d = dnsendpoint_build("ns", "web", "u1", hosts, 1, t,
                                              1, 60);
    char *want = dnsendpoint_canonical(d), *got, *other;
    /* As read back: server metadata added, key order changed. */
    struct json_object *seen = json_tokener_parse(
        "{\"metadata\":{\"name\":\"web\",\"uid\":\"zz\",\"resourceVersion\":"
        "\"5\",\"labels\":{\"app.kubernetes.io/managed-by\":"
        "\"portico-controller\"},\"ownerReferences\":[{\"uid\":\"u1\","
        "\"kind\":\"Ingress\"}]},\"spec\":{\"endpoints\":[{\"targets\":["
        "\"192.0.2.1\"],\"recordTTL\":60,\"recordType\":\"A\",\"dnsName\":"
        "\"a.example.com\"}]},\"status\":{\"observedGeneration\":1}}");
    got = dnsendpoint_canonical(seen);
    assert_string_equal(want, got);
    json_object_put(d);
    d = dnsendpoint_build("ns", "web", "u1", hosts, 1, t, 1, 61);
    other = dnsendpoint_canonical(d);
    assert_string_not_equal(want, other);
    free(want);
    free(got);
    free(other);
    json_object_put(d);
    json_object_put(seen);
}

static void event_body_names_the_ingress_and_the_component(void **st)
{
    char *j = kube_event_body("shop", "web", "uid-1", "Warning", "Rejected",
                              "path \"/a;b\" is invalid", "web.abc", 3,
                              "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
    struct json_object *o = json_tokener_parse(j);
    assert_string_equal(gs(o, "kind"), "Event");
    assert_string_equal(gs(o, "metadata.name"), "web.abc");
    assert_string_equal(gs(o, "involvedObject.kind"), "Ingress");
    assert_string_equal(gs(o, "involvedObject.apiVersion"),
                        "networking.k8s.io/v1");
    assert_string_equal(gs(o, "involvedObject.namespace"), "shop");
    assert_string_equal(gs(o, "involvedObject.name"), "web");
    assert_string_equal(gs(o, "involvedObject.uid"), "uid-1");
    assert_string_equal(gs(o, "reason"), "Rejected");
    assert_string_equal(gs(o, "message"), "path \"/a;b\" is invalid");
    assert_string_equal(gs(o, "type"), "Warning");
    assert_string_equal(gs(o, "source.component"), "portico-controller");
    assert_int_equal(json_object_get_int(get(o, "count")), 3);
    assert_string_equal(gs(o, "firstTimestamp"), "2026-01-01T00:00:00Z");
    assert_string_equal(gs(o, "lastTimestamp"), "2026-01-01T00:01:00Z");
    json_object_put(o);
    free(j);
}

/* A new leader recognises the Events an earlier one wrote: the key read
 * back from a written Event is the key of the problem it was written for,
 * and any difference in what makes an Event "the same" changes it. */
static void event_key_read_back_from_a_written_event_matches(void **st)
{
    char *j = kube_event_body("shop", "web", "uid-1", "Warning", "Rejected",
                              "bad path", "web.abc", 7,
                              "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z");
    struct json_object *o = json_tokener_parse(j);
    char *want = kube_event_key("shop", "web", "uid-1", "Warning",
                                "Rejected", "bad path");
    char *got = kube_event_key_of(o);
    char *other_uid = kube_event_key("shop", "web", "uid-2", "Warning",
                                     "Rejected", "bad path");
    char *other_msg = kube_event_key("shop", "web", "uid-1", "Warning",
                                     "Rejected", "bad host");
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_string_not_equal(got, other_uid);
    assert_string_not_equal(got, other_msg);
    /* Not about an Ingress: no key. */
    json_object_object_add(json_object_object_get(o, "involvedObject"),
                           "kind", json_object_new_string("Pod"));
    assert_null(kube_event_key_of(o));
    assert_null(kube_event_key_of(NULL));
    json_object_put(o);
    free(j);
    free(want);
    free(got);
    free(other_uid);
    free(other_msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(targets_are_typed_like_external_dns),
        cmocka_unit_test(status_patch_puts_ips_in_ip_and_names_in_hostname),
        cmocka_unit_test(observed_and_desired_status_compare_canonically),
        cmocka_unit_test(service_load_balancer_gives_the_targets),
        cmocka_unit_test(ttl_annotation_accepts_seconds_and_go_durations),
        cmocka_unit_test(ttl_annotation_reads_both_prefixes_new_one_first),
        cmocka_unit_test(dnsendpoint_has_owner_and_one_endpoint_per_host_and_type),
        cmocka_unit_test(dnsendpoint_canonical_form_ignores_server_fields),
        cmocka_unit_test(event_body_names_the_ingress_and_the_component),
        cmocka_unit_test(event_key_read_back_from_a_written_event_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
