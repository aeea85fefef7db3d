/* libFuzzer target: arbitrary ExternalDNS annotations through
 * controller/kube/externaldns (what a DNSEndpoint holds for an Ingress).
 * The input is "KEY\nVALUE\n" pairs (KEY without the prefix: hostname,
 * target, ttl, ingress-hostname-source, aws-..., ...). Must never crash,
 * leak or hang, and every endpoint it makes must be publishable: a DNS
 * name, a record type that fits its targets, targets that are IPs or DNS
 * names, a TTL within ExternalDNS's range. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/kube/externaldns.h"
#include "controller/kube/publish.h"
#include "dnsname.h"
#include "log.h"

#define PAIRS_MAX 32
#define P EXTERNALDNS_PREFIX_DEFAULT

static const char *const hosts[] = {"shop.example.com", "*.example.com"};
static const char *const targets[] = {"192.0.2.1", "2001:db8::1",
                                      "lb.example.net"};

static const char *type_of(const char *t)
{
    enum target_type k = target_type_of(t);
    return k == TARGET_A ? "A" : k == TARGET_AAAA ? "AAAA" : "CNAME";
}

static void check(struct json_object *eps)
{
    for (size_t i = 0; eps && i < json_object_array_length(eps); i++) {
        struct json_object *ep = json_object_array_get_idx(eps, i), *v, *tl;
        const char *name = json_object_get_string(
            json_object_object_get(ep, "dnsName"));
        const char *type = json_object_get_string(
            json_object_object_get(ep, "recordType"));
        if (!name || !dnsname_valid(name, DNSNAME_UPPERCASE |
                                              DNSNAME_UNDERSCORE |
                                              DNSNAME_WILDCARD))
            abort();
        if (json_object_object_get_ex(ep, "recordTTL", &v) &&
            (json_object_get_int64(v) < 1 ||
             json_object_get_int64(v) > 2147483647))
            abort();
        tl = json_object_object_get(ep, "targets");
        if (!tl || json_object_array_length(tl) == 0)
            abort();
        for (size_t j = 0; j < json_object_array_length(tl); j++) {
            const char *t = json_object_get_string(
                json_object_array_get_idx(tl, j));
            if (!t || strcmp(type_of(t), type) != 0 ||
                (target_type_of(t) == TARGET_CNAME &&
                 !dnsname_valid(t, DNSNAME_UPPERCASE | DNSNAME_UNDERSCORE)))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *save = NULL, *key;
    char full[512];
    struct json_object *ing, *meta, *ann, *got, *eps, *skipped;
    long ttl;

    if (!text)
        return 0;
    log_init("fuzz", LOG_ERROR);
    memcpy(text, data, size);
    text[size] = '\0';
    ttl = externaldns_parse_ttl(text);
    if (ttl < 0 || ttl > 2147483647)
        abort();
    ing = json_object_new_object();
    meta = json_object_new_object();
    ann = json_object_new_object();
    key = strtok_r(text, "\n", &save);
    for (int n = 0; key && n < PAIRS_MAX; n++) {
        char *value = strtok_r(NULL, "\n", &save);
        snprintf(full, sizeof(full), P "%s", key);
        json_object_object_add(ann, full, json_object_new_string(
                                              value ? value : ""));
        key = strtok_r(NULL, "\n", &save);
    }
    json_object_object_add(meta, "annotations", ann);
    json_object_object_add(ing, "metadata", meta);
    got = externaldns_annotations_of(ing, P);
    skipped = json_object_new_array();
    eps = externaldns_endpoints(hosts, 2, got, P, targets, 3, skipped);
    check(eps);
    for (size_t i = 0; i < json_object_array_length(skipped); i++)
        if (!json_object_is_type(json_object_array_get_idx(skipped, i),
                                 json_type_string))
            abort();
    json_object_put(skipped);
    json_object_put(eps);
    json_object_put(got);
    json_object_put(ing);
    free(text);
    return 0;
}
