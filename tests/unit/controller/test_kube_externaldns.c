/* Unit tests for controller/kube/externaldns: the DNSEndpoint records are
 * those ExternalDNS's ingress source (kubernetes-sigs/external-dns
 * v0.22.0, source/ingress.go endpointsFromIngress L230-290 and the
 * annotation processors it calls; externaldns.h names the lines) makes of
 * the same Ingress, annotation by annotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/externaldns.h"

#define P EXTERNALDNS_PREFIX_DEFAULT

static const char *const HOSTS[] = {"shop.example.com", "www.example.com"};
static const char *const TARGETS[] = {"192.0.2.2", "lb.example.net",
                                      "192.0.2.1", "2001:db8::1"};

/* One line per endpoint: "dnsName type ttl=N set=S targets... {ps}". */
static char *summary(struct json_object *eps)
{
    static char out[4096];
    size_t used = 0;

    out[0] = '\0';
    if (!eps)
        return NULL;
    for (size_t i = 0; i < json_object_array_length(eps); i++) {
        struct json_object *ep = json_object_array_get_idx(eps, i), *v;
        used += (size_t)snprintf(out + used, sizeof(out) - used, "%s%s %s",
                                 i ? "\n" : "",
                                 json_object_get_string(
                                     json_object_object_get(ep, "dnsName")),
                                 json_object_get_string(
                                     json_object_object_get(ep,
                                                            "recordType")));
        if (json_object_object_get_ex(ep, "recordTTL", &v))
            used += (size_t)snprintf(out + used, sizeof(out) - used,
                                     " ttl=%d", json_object_get_int(v));
        if (json_object_object_get_ex(ep, "setIdentifier", &v))
            used += (size_t)snprintf(out + used, sizeof(out) - used,
                                     " set=%s", json_object_get_string(v));
        v = json_object_object_get(ep, "targets");
        for (size_t j = 0; j < json_object_array_length(v); j++)
            used += (size_t)snprintf(out + used, sizeof(out) - used, " %s",
                                     json_object_get_string(
                                         json_object_array_get_idx(v, j)));
        if (json_object_object_get_ex(ep, "providerSpecific", &v))
            for (size_t j = 0; j < json_object_array_length(v); j++) {
                struct json_object *p = json_object_array_get_idx(v, j);
                used += (size_t)snprintf(
                    out + used, sizeof(out) - used, " {%s=%s}",
                    json_object_get_string(json_object_object_get(p, "name")),
                    json_object_get_string(json_object_object_get(p,
                                                                  "value")));
            }
    }
    return out;
}

/* The endpoints for an Ingress with these annotations (JSON object text
 * of metadata.annotations), the two hosts and the four targets. */
static char *endpoints_for(const char *annotations)
{
    char ing[2048];
    struct json_object *o, *ann, *eps;
    char *s;

    snprintf(ing, sizeof(ing), "{\"metadata\":{\"annotations\":%s}}",
             annotations);
    o = json_tokener_parse(ing);
    assert_non_null(o);
    ann = externaldns_annotations_of(o, P);
    eps = externaldns_endpoints((const char *const *)HOSTS, 2, ann, P,
                                (const char *const *)TARGETS, 4, NULL);
    s = summary(eps);
    s = s ? strdup(s) : NULL;
    json_object_put(eps);
    json_object_put(ann);
    json_object_put(o);
    return s;
}

static void expect(const char *annotations, const char *want)
{
    char *got = endpoints_for(annotations);

    if (!want) {
        if (got)
            fail_msg("%s: want no DNSEndpoint, got\n%s", annotations, got);
        return;
    }
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s:\ngot\n%s\nwant\n%s", annotations, got ? got : "NULL",
                 want);
    free(got);
}

static void ttl_annotation_accepts_seconds_and_go_durations(void **st)
{
    assert_int_equal(externaldns_parse_ttl("60"), 60);
    assert_int_equal(externaldns_parse_ttl("+60"), 60);
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
    assert_int_equal(externaldns_parse_ttl(" 60"), 0);
    assert_int_equal(externaldns_parse_ttl(""), 0);
    assert_int_equal(externaldns_parse_ttl(NULL), 0);
}

static void one_prefix_is_read_and_it_must_end_in_a_slash(void **st)
{
    struct json_object *o = json_tokener_parse(
        "{\"metadata\":{\"annotations\":{"
        "\"external-dns.alpha.kubernetes.io/ttl\":\"120\","
        "\"external-dns.kubernetes.io/ttl\":\"300\","
        "\"external-dns.kubernetes.io/\":\"no key\","
        "\"other.io/ttl\":\"1\"}}}");
    struct json_object *a = externaldns_annotations_of(o, P), *v;

    assert_int_equal(json_object_object_length(a), 1);
    assert_true(json_object_object_get_ex(a, "ttl", &v));
    assert_string_equal(json_object_get_string(v), "300");
    json_object_put(a);
    a = externaldns_annotations_of(o, EXTERNALDNS_PREFIX_ALPHA);
    assert_true(json_object_object_get_ex(a, "ttl", &v));
    assert_string_equal(json_object_get_string(v), "120");
    json_object_put(a);
    a = externaldns_annotations_of(o, "internal.example.com/");
    assert_null(a);
    json_object_put(o);

    assert_true(externaldns_prefix_valid(P));
    assert_true(externaldns_prefix_valid("internal.example.com/"));
    assert_false(externaldns_prefix_valid("external-dns.kubernetes.io"));
    assert_false(externaldns_prefix_valid(""));
    assert_false(externaldns_prefix_valid(NULL));
}

/* EndpointsForHostname: one endpoint per host and record type (A, AAAA,
 * CNAME), MergeEndpoints' sorted targets. */
static void without_annotations_each_host_gets_every_published_target(
    void **st)
{
    expect("{}",
           "shop.example.com A 192.0.2.1 192.0.2.2\n"
           "shop.example.com AAAA 2001:db8::1\n"
           "shop.example.com CNAME lb.example.net\n"
           "www.example.com A 192.0.2.1 192.0.2.2\n"
           "www.example.com AAAA 2001:db8::1\n"
           "www.example.com CNAME lb.example.net");
}

/* HostnamesFromAnnotations + SplitHostnameAnnotation: spaces removed,
 * split at commas; NewEndpointWithTTL trims a trailing dot; merged with
 * the rule hosts. */
static void hostname_annotation_adds_hosts(void **st)
{
    expect("{\"" P "hostname\":\" api.example.com, shop.example.com.\","
           "\"" P "target\":\"192.0.2.9\"}",
           "shop.example.com A 192.0.2.9\n"
           "www.example.com A 192.0.2.9\n"
           "api.example.com A 192.0.2.9");
}

/* ingress-hostname-source (L276-289, compared in lower case). */
static void hostname_source_picks_rule_hosts_or_the_annotation(void **st)
{
    expect("{\"" P "hostname\":\"api.example.com\",\"" P "target\":"
           "\"192.0.2.9\",\"" P "ingress-hostname-source\":"
           "\"defined-hosts-only\"}",
           "shop.example.com A 192.0.2.9\nwww.example.com A 192.0.2.9");
    expect("{\"" P "hostname\":\"api.example.com\",\"" P "target\":"
           "\"192.0.2.9\",\"" P "ingress-hostname-source\":"
           "\"Annotation-Only\"}",
           "api.example.com A 192.0.2.9");
    /* Any other value: no hostname at all. */
    expect("{\"" P "hostname\":\"api.example.com\",\"" P
           "ingress-hostname-source\":\"both\"}", "");
}

/* TargetsFromTargetAnnotation: instead of the status, trailing dots
 * trimmed; typed by SuitableType. */
static void target_annotation_replaces_the_published_addresses(void **st)
{
    expect("{\"" P "target\":\"edge.example.net., 198.51.100.4\","
           "\"" P "ingress-hostname-source\":\"defined-hosts-only\"}",
           "shop.example.com A 198.51.100.4\n"
           "shop.example.com CNAME edge.example.net\n"
           "www.example.com A 198.51.100.4\n"
           "www.example.com CNAME edge.example.net");
}

/* TTLFromAnnotations, set-identifier and ProviderSpecificAnnotations
 * (provider_specific.go L23-104): alias and record-type first, then the
 * rest in key order; Cloudflare's keep the whole annotation key. */
static void ttl_set_identifier_and_provider_properties(void **st)
{
    expect("{\"" P "target\":\"192.0.2.9\",\"" P "ttl\":\"5m\","
           "\"" P "set-identifier\":\"eu-west\","
           "\"" P "aws-weight\":\"10\","
           "\"" P "alias\":\"true\","
           "\"" P "record-type\":\"ptr\","
           "\"" P "scw-x\":\"1\",\"" P "webhook-y\":\"2\","
           "\"" P "coredns-group\":\"g\",\"" P "azure-tags\":\"a=b\","
           "\"" P "cloudflare-proxied\":\"true\","
           "\"" P "cloudflare-unknown\":\"x\","
           "\"" P "ingress-hostname-source\":\"defined-hosts-only\"}",
           "shop.example.com A ttl=300 set=eu-west 192.0.2.9"
           " {alias=true} {record-type=ptr} {aws/weight=10}"
           " {azure/tags=a=b}"
           " {" P "cloudflare-proxied=true} {coredns/group=g} {scw/x=1}"
           " {webhook/y=2}\n"
           "www.example.com A ttl=300 set=eu-west 192.0.2.9"
           " {alias=true} {record-type=ptr} {aws/weight=10}"
           " {azure/tags=a=b}"
           " {" P "cloudflare-proxied=true} {coredns/group=g} {scw/x=1}"
           " {webhook/y=2}");
    /* alias only when "true"; a bad ttl is no ttl. */
    expect("{\"" P "target\":\"192.0.2.9\",\"" P "alias\":\"yes\","
           "\"" P "ttl\":\"0\",\"" P "hostname\":\"a.example.com\","
           "\"" P "ingress-hostname-source\":\"annotation-only\"}",
           "a.example.com A 192.0.2.9");
}

/* IsControllerMatch: absent or "dns-controller" keeps the Ingress. */
static void controller_annotation_other_than_dns_controller_skips(
    void **st)
{
    expect("{\"" P "controller\":\"someone-else\"}", NULL);
    expect("{\"" P "controller\":\"dns-controller\",\"" P "target\":"
           "\"192.0.2.9\",\"" P "ingress-hostname-source\":"
           "\"defined-hosts-only\"}",
           "shop.example.com A 192.0.2.9\nwww.example.com A 192.0.2.9");
}

static void names_that_are_no_dns_names_are_left_out(void **st)
{
    struct json_object *o = json_tokener_parse(
        "{\"metadata\":{\"annotations\":{\"" P "hostname\":\"ok.example.com,"
        "bad host!\",\"" P "target\":\"bad/target\"}}}");
    struct json_object *ann = externaldns_annotations_of(o, P);
    struct json_object *skipped = json_object_new_array();
    struct json_object *eps = externaldns_endpoints(NULL, 0, ann, P, NULL, 0,
                                                    skipped);

    assert_string_equal(json_object_to_json_string_ext(
                            skipped, JSON_C_TO_STRING_PLAIN),
                        "[\"badhost!\",\"bad\\/target\"]");
    json_object_put(eps);
    json_object_put(skipped);
    json_object_put(ann);
    json_object_put(o);
    expect("{\"" P "hostname\":\"ok.example.com,bad host!,,"
           "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
           ".com\",\"" P "target\":\"192.0.2.9,bad/target\","
           "\"" P "ingress-hostname-source\":\"annotation-only\"}",
           "ok.example.com A 192.0.2.9");
}

static void nothing_to_publish_without_targets(void **st)
{
    struct json_object *eps = externaldns_endpoints(
        (const char *const *)HOSTS, 2, NULL, P, NULL, 0, NULL);
    assert_non_null(eps);
    assert_int_equal(json_object_array_length(eps), 0);
    json_object_put(eps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ttl_annotation_accepts_seconds_and_go_durations),
        cmocka_unit_test(one_prefix_is_read_and_it_must_end_in_a_slash),
        cmocka_unit_test(
            without_annotations_each_host_gets_every_published_target),
        cmocka_unit_test(hostname_annotation_adds_hosts),
        cmocka_unit_test(hostname_source_picks_rule_hosts_or_the_annotation),
        cmocka_unit_test(target_annotation_replaces_the_published_addresses),
        cmocka_unit_test(ttl_set_identifier_and_provider_properties),
        cmocka_unit_test(
            controller_annotation_other_than_dns_controller_skips),
        cmocka_unit_test(names_that_are_no_dns_names_are_left_out),
        cmocka_unit_test(nothing_to_publish_without_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
