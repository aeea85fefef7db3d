/* Unit tests for controller/kube/publish and events: the addresses a
 * publish Service gives, Ingress status for them, DNSEndpoint objects and
 * which are ours, the Event body and its aggregation key. */
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

static struct lb_address addr(const char *ip, const char *hostname)
{
    struct lb_address a = {ip ? strdup(ip) : NULL,
                           hostname ? strdup(hostname) : NULL};
    return a;
}

static void status_patch_carries_ip_and_hostname_both_when_both_known(
    void **st)
{
    struct lb_address a[] = {addr("192.0.2.10", NULL),
                             addr(NULL, "lb.example.net"),
                             addr("2001:db8::1", "both.example.net")};
    char *j = lb_status_patch(a, 3);
    struct json_object *o = json_tokener_parse(j);
    assert_string_equal(gs(o, "status.loadBalancer.ingress.0.ip"),
                        "192.0.2.10");
    assert_null(get(o, "status.loadBalancer.ingress.0.hostname"));
    assert_string_equal(gs(o, "status.loadBalancer.ingress.1.hostname"),
                        "lb.example.net");
    assert_null(get(o, "status.loadBalancer.ingress.1.ip"));
    assert_string_equal(gs(o, "status.loadBalancer.ingress.2.ip"),
                        "2001:db8::1");
    assert_string_equal(gs(o, "status.loadBalancer.ingress.2.hostname"),
                        "both.example.net");
    json_object_put(o);
    free(j);
    /* What ExternalDNS reads from that status: each ip, then hostname. */
    const char *t[8];
    assert_int_equal(lb_dns_targets(a, 3, t, 8), 4);
    assert_string_equal(t[0], "192.0.2.10");
    assert_string_equal(t[1], "lb.example.net");
    assert_string_equal(t[2], "2001:db8::1");
    assert_string_equal(t[3], "both.example.net");
    for (size_t i = 0; i < 3; i++) {
        free(a[i].ip);
        free(a[i].hostname);
    }

    /* No addresses: a merge patch that removes the list. */
    j = lb_status_patch(NULL, 0);
    assert_string_equal(j, "{\"status\":{\"loadBalancer\":{\"ingress\":null}}}");
    free(j);
}

static void observed_and_desired_status_compare_canonically(void **st)
{
    struct lb_address a[] = {addr("192.0.2.10", NULL),
                             addr(NULL, "lb.example.net"),
                             addr("192.0.2.11", "x.example.net")};
    struct json_object *want = lb_ingress_json(a, 3);
    struct json_object *ing = json_tokener_parse(
        "{\"metadata\":{\"name\":\"x\"},\"status\":{\"loadBalancer\":{"
        "\"ingress\":[{\"ip\":\"192.0.2.10\",\"ports\":[]},{\"hostname\":"
        "\"lb.example.net\"},{\"hostname\":\"x.example.net\",\"ip\":"
        "\"192.0.2.11\"}]}}}");
    struct json_object *bare = json_tokener_parse("{\"status\":{}}");
    char *w = lb_canonical(want), *b = lb_canonical_of_ingress(ing);
    char *c = lb_canonical_of_ingress(bare);

    assert_string_equal(w, "ip:192.0.2.10|hostname:lb.example.net|"
                           "ip:192.0.2.11,hostname:x.example.net");
    assert_string_equal(w, b);
    assert_string_equal(c, "");
    free(w);
    free(b);
    free(c);
    json_object_put(want);
    json_object_put(ing);
    json_object_put(bare);
    for (size_t i = 0; i < 3; i++) {
        free(a[i].ip);
        free(a[i].hostname);
    }
}

/* Canonical text of the addresses a Service gives. */
static char *service_gives(const char *svc_json)
{
    struct json_object *svc = json_tokener_parse(svc_json);
    struct lb_address *a;
    size_t n = lb_addresses_of_service(svc, &a);
    struct json_object *arr = lb_ingress_json(a, n);
    char *c = lb_canonical(arr);

    json_object_put(arr);
    json_object_put(svc);
    lb_addresses_free(a, n);
    return c;
}

/* ingress-nginx's statusAddressFromService, type by type. */
static void publish_service_addresses_follow_its_type_as_ingress_nginx(
    void **st)
{
    static const struct { const char *svc, *want; } cases[] = {
        /* LoadBalancer: its entries (ip and hostname both), then the
         * externalIPs not listed yet. */
        {"{\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0.5\","
         "\"externalIPs\":[\"198.51.100.1\",\"203.0.113.5\"]},\"status\":{"
         "\"loadBalancer\":{\"ingress\":[{\"ip\":\"203.0.113.5\",\"hostname\":"
         "\"a.elb.example\"},{}]}}}",
         "ip:203.0.113.5,hostname:a.elb.example|ip:198.51.100.1"},
        /* A load balancer not provisioned yet: nothing. */
        {"{\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0.5\"},"
         "\"status\":{\"loadBalancer\":{}}}", ""},
        /* NodePort: its externalIPs, else its ClusterIP. */
        {"{\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.6\","
         "\"externalIPs\":[\"198.51.100.7\"]}}", "ip:198.51.100.7"},
        {"{\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"10.96.0.6\"}}",
         "ip:10.96.0.6"},
        /* ClusterIP: the ClusterIPs (both families); headless: none. */
        {"{\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.96.0.8\","
         "\"clusterIPs\":[\"10.96.0.8\",\"fd00::8\"]}}",
         "ip:10.96.0.8|ip:fd00::8"},
        {"{\"spec\":{\"clusterIP\":\"10.96.0.9\"}}", "ip:10.96.0.9"},
        {"{\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"None\","
         "\"clusterIPs\":[\"None\"]}}", ""},
        /* ExternalName: the name. */
        {"{\"spec\":{\"type\":\"ExternalName\",\"externalName\":"
         "\"edge.example.net\"}}", "hostname:edge.example.net"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *c = service_gives(cases[i].svc);
        assert_non_null(c);
        if (strcmp(c, cases[i].want) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, c,
                     cases[i].want);
        free(c);
    }
}

static void fixed_addresses_are_ips_or_hostnames(void **st)
{
    struct lb_address a;

    assert_int_equal(lb_address_of_text(&a, "192.0.2.1"), 0);
    assert_string_equal(a.ip, "192.0.2.1");
    assert_null(a.hostname);
    free(a.ip);
    assert_int_equal(lb_address_of_text(&a, "lb.example.net"), 0);
    assert_null(a.ip);
    assert_string_equal(a.hostname, "lb.example.net");
    free(a.hostname);
}

static struct json_object *endpoints1(void)
{
    return json_tokener_parse("[{\"dnsName\":\"a.example.com\","
                              "\"recordType\":\"A\",\"targets\":["
                              "\"192.0.2.1\"],\"recordTTL\":60}]");
}

static void dnsendpoint_carries_label_owner_annotation_and_reference(
    void **st)
{
    struct json_object *d = dnsendpoint_build("shop", "web", "uid-1",
                                              "portico/portico-leader",
                                              endpoints1()), *v;
    assert_string_equal(gs(d, "apiVersion"), "externaldns.k8s.io/v1alpha1");
    assert_string_equal(gs(d, "kind"), "DNSEndpoint");
    assert_string_equal(gs(d, "metadata.name"), "web");
    assert_string_equal(gs(d, "metadata.namespace"), "shop");
    assert_true(json_object_object_get_ex(get(d, "metadata.labels"),
                                          PORTICO_MANAGED_BY_LABEL, &v));
    assert_string_equal(json_object_get_string(v), "portico-controller");
    assert_true(json_object_object_get_ex(get(d, "metadata.annotations"),
                                          PORTICO_OWNER_ANNOTATION, &v));
    assert_string_equal(json_object_get_string(v), "portico/portico-leader");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.kind"), "Ingress");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.apiVersion"),
                        "networking.k8s.io/v1");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.uid"), "uid-1");
    assert_string_equal(gs(d, "metadata.ownerReferences.0.name"), "web");
    assert_true(json_object_get_boolean(
        get(d, "metadata.ownerReferences.0.controller")));
    assert_string_equal(gs(d, "spec.endpoints.0.dnsName"), "a.example.com");
    assert_true(dnsendpoint_is_ours(d, "portico/portico-leader"));
    /* Another installation's: not ours. */
    assert_false(dnsendpoint_is_ours(d, "edge/portico-leader"));
    json_object_put(d);
}

static void only_labelled_and_owned_dnsendpoints_are_ours(void **st)
{
    static const struct { const char *json; int ours; } cases[] = {
        /* Written by an earlier Portico (no owner annotation): ours. */
        {"{\"metadata\":{\"name\":\"web\",\"labels\":{"
         "\"app.kubernetes.io/managed-by\":\"portico-controller\"},"
         "\"ownerReferences\":[{\"apiVersion\":\"networking.k8s.io/v1\","
         "\"kind\":\"Ingress\",\"name\":\"web\",\"uid\":\"u\","
         "\"controller\":true}]}}", 1},
        /* Our label, no owner reference: somebody else's. */
        {"{\"metadata\":{\"name\":\"web\",\"labels\":{"
         "\"app.kubernetes.io/managed-by\":\"portico-controller\"}}}", 0},
        /* Owner reference, no label. */
        {"{\"metadata\":{\"name\":\"web\",\"ownerReferences\":[{"
         "\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"Ingress\","
         "\"name\":\"web\",\"uid\":\"u\",\"controller\":true}]}}", 0},
        /* An owner reference to another Ingress, or not as controller. */
        {"{\"metadata\":{\"name\":\"web\",\"labels\":{"
         "\"app.kubernetes.io/managed-by\":\"portico-controller\"},"
         "\"ownerReferences\":[{\"apiVersion\":\"networking.k8s.io/v1\","
         "\"kind\":\"Ingress\",\"name\":\"shop\",\"uid\":\"u\","
         "\"controller\":true}]}}", 0},
        {"{\"metadata\":{\"name\":\"web\",\"labels\":{"
         "\"app.kubernetes.io/managed-by\":\"portico-controller\"},"
         "\"ownerReferences\":[{\"apiVersion\":\"networking.k8s.io/v1\","
         "\"kind\":\"Ingress\",\"name\":\"web\",\"uid\":\"u\"}]}}", 0},
        /* Another tool's label value. */
        {"{\"metadata\":{\"name\":\"web\",\"labels\":{"
         "\"app.kubernetes.io/managed-by\":\"helm\"},"
         "\"ownerReferences\":[{\"apiVersion\":\"networking.k8s.io/v1\","
         "\"kind\":\"Ingress\",\"name\":\"web\",\"uid\":\"u\","
         "\"controller\":true}]}}", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *d = json_tokener_parse(cases[i].json);
        assert_non_null(d);
        if (dnsendpoint_is_ours(d, "portico/portico-leader") != cases[i].ours)
            fail_msg("case %zu", i);
        json_object_put(d);
    }
}

static void dnsendpoint_canonical_form_ignores_server_fields(void **st)
{
    struct json_object *d = dnsendpoint_build("ns", "web", "u1", "o/l",
                                              endpoints1());
    char *want = dnsendpoint_canonical(d), *got, *other;
    /* As read back: server metadata added, key order changed. */
    struct json_object *seen = json_tokener_parse(
        "{\"metadata\":{\"name\":\"web\",\"uid\":\"zz\",\"resourceVersion\":"
        "\"5\",\"annotations\":{\"portico.io/owner\":\"o/l\"},\"labels\":{"
        "\"app.kubernetes.io/managed-by\":\"portico-controller\"},"
        "\"ownerReferences\":[{\"uid\":\"u1\",\"kind\":\"Ingress\","
        "\"name\":\"web\",\"apiVersion\":\"networking.k8s.io/v1\","
        "\"controller\":true}]},\"spec\":{\"endpoints\":[{\"targets\":["
        "\"192.0.2.1\"],\"recordTTL\":60,\"recordType\":\"A\",\"dnsName\":"
        "\"a.example.com\"}]},\"status\":{\"observedGeneration\":1}}");
    got = dnsendpoint_canonical(seen);
    assert_string_equal(want, got);
    json_object_put(d);
    /* Any field of an endpoint counts (here the set identifier). */
    struct json_object *eps = endpoints1();
    json_object_object_add(json_object_array_get_idx(eps, 0),
                           "setIdentifier", json_object_new_string("eu"));
    d = dnsendpoint_build("ns", "web", "u1", "o/l", eps);
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
    struct kube_object_ref ing = {"networking.k8s.io/v1", "Ingress", "shop",
                                  "web", "uid-1"};
    char *j = kube_event_body(&ing, "Warning", "Rejected",
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
    struct kube_object_ref ing = {"networking.k8s.io/v1", "Ingress", "shop",
                                  "web", "uid-1"};
    struct kube_object_ref ing2 = ing, pod = ing;
    char *j = kube_event_body(&ing, "Warning", "Rejected", "bad path",
                              "web.abc", 7, "2026-01-01T00:00:00Z",
                              "2026-01-01T00:01:00Z");
    struct json_object *o = json_tokener_parse(j);
    char *want = kube_event_key(&ing, "Warning", "Rejected", "bad path");
    char *got = kube_event_key_of(o);
    char *other_msg = kube_event_key(&ing, "Warning", "Rejected",
                                     "bad host");
    char *other_uid, *other_kind;
    ing2.uid = "uid-2";
    pod.api_version = "v1";
    pod.kind = "Pod";
    other_uid = kube_event_key(&ing2, "Warning", "Rejected", "bad path");
    other_kind = kube_event_key(&pod, "Warning", "Rejected", "bad path");
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_string_not_equal(got, other_uid);
    assert_string_not_equal(got, other_msg);
    assert_string_not_equal(got, other_kind);
    /* About a Pod: its own key, read back the same. */
    json_object_object_add(json_object_object_get(o, "involvedObject"),
                           "kind", json_object_new_string("Pod"));
    free(got);
    got = kube_event_key_of(o);
    assert_string_equal(got, other_kind);
    assert_null(kube_event_key_of(NULL));
    free(other_kind);
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
        cmocka_unit_test(
            status_patch_carries_ip_and_hostname_both_when_both_known),
        cmocka_unit_test(observed_and_desired_status_compare_canonically),
        cmocka_unit_test(
            publish_service_addresses_follow_its_type_as_ingress_nginx),
        cmocka_unit_test(fixed_addresses_are_ips_or_hostnames),
        cmocka_unit_test(
            dnsendpoint_carries_label_owner_annotation_and_reference),
        cmocka_unit_test(only_labelled_and_owned_dnsendpoints_are_ours),
        cmocka_unit_test(dnsendpoint_canonical_form_ignores_server_fields),
        cmocka_unit_test(event_body_names_the_ingress_and_the_component),
        cmocka_unit_test(event_key_read_back_from_a_written_event_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
