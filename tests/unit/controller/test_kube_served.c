/* Unit tests for controller/kube/served: the publisher's copy of the
 * served Ingresses. An update tells whether anything the status and
 * DNSEndpoint jobs read changed (uid, hosts, ExternalDNS annotations when
 * the details are kept; an Ingress served or no longer served), keeps what
 * says the same, and holds each Ingress in one block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/served.h"

static const char *const hosts_ab[] = {"a.example.com", "", NULL,
                                       "b.example.com"};

static struct served_ingress ingress(const char *ns, const char *name,
                                     const char *uid)
{
    struct served_ingress si = {.ns = ns, .name = name, .uid = uid,
                                .hosts = hosts_ab, .nhosts = 4};
    return si;
}

static size_t count_by_iteration(const struct served_set *s)
{
    size_t pos = 0, n = 0;

    while (served_set_next(s, &pos))
        n++;
    return n;
}

static void an_update_copies_what_the_jobs_read_and_skips_empty_hosts(
    void **st)
{
    struct served_set *s = served_set_new(1);
    struct json_object *ext = json_tokener_parse("{\"ttl\":\"60\"}");
    struct served_ingress list[3] = {ingress("web", "shop", "u-1"),
                                     ingress("web", "blog", NULL),
                                     ingress(NULL, "no-namespace", "u-3")};
    const struct served_entry *e;

    list[0].externaldns = ext;
    assert_int_equal(served_set_update(s, list, 3), 1);
    json_object_put(ext);       /* the set keeps its own reference */
    assert_int_equal(served_set_count(s), 2);
    assert_int_equal(count_by_iteration(s), 2);
    e = served_set_get(s, "web/shop");
    assert_non_null(e);
    assert_string_equal(e->key, "web/shop");
    assert_string_equal(e->details->ns, "web");
    assert_string_equal(e->details->name, "shop");
    assert_string_equal(e->details->uid, "u-1");
    assert_int_equal(e->details->nhosts, 2);
    assert_string_equal(e->details->hosts[0], "a.example.com");
    assert_string_equal(e->details->hosts[1], "b.example.com");
    assert_string_equal(json_object_get_string(json_object_object_get(
                            e->details->externaldns, "ttl")), "60");
    e = served_set_get(s, "web/blog");
    assert_non_null(e);
    assert_string_equal(e->details->uid, "");
    assert_null(e->details->externaldns);
    assert_null(served_set_get(s, "no-namespace"));
    served_set_free(s);
}

static void the_same_list_again_is_no_change_and_keeps_the_entries(
    void **st)
{
    struct served_set *s = served_set_new(1);
    struct json_object *ext = json_tokener_parse("{\"ttl\":\"60\"}");
    struct json_object *ext2 = json_tokener_parse("{\"ttl\":\"60\"}");
    struct served_ingress list[2] = {ingress("web", "shop", "u-1"),
                                     ingress("web", "blog", "u-2")};
    const struct served_entry *before;

    list[0].externaldns = ext;
    assert_int_equal(served_set_update(s, list, 2), 1);
    before = served_set_get(s, "web/shop");
    /* An equal (not the same) annotation object is no change either. */
    list[0].externaldns = ext2;
    assert_int_equal(served_set_update(s, list, 2), 0);
    assert_ptr_equal(served_set_get(s, "web/shop"), before);
    assert_int_equal(served_set_count(s), 2);
    json_object_put(ext);
    json_object_put(ext2);
    served_set_free(s);
}

static void a_new_uid_hosts_or_annotations_change_the_entry(void **st)
{
    static const char *const other_hosts[] = {"a.example.com"};
    struct served_set *s = served_set_new(1);
    struct json_object *ext = json_tokener_parse("{\"ttl\":\"60\"}");
    struct served_ingress list[1] = {ingress("web", "shop", "u-1")};

    assert_int_equal(served_set_update(s, list, 1), 1);
    list[0].uid = "u-2";                        /* recreated */
    assert_int_equal(served_set_update(s, list, 1), 1);
    assert_string_equal(served_set_get(s, "web/shop")->details->uid, "u-2");
    list[0].hosts = other_hosts;                /* a host less */
    list[0].nhosts = 1;
    assert_int_equal(served_set_update(s, list, 1), 1);
    assert_int_equal(served_set_get(s, "web/shop")->details->nhosts, 1);
    list[0].externaldns = ext;                  /* annotated */
    assert_int_equal(served_set_update(s, list, 1), 1);
    assert_non_null(served_set_get(s, "web/shop")->details->externaldns);
    list[0].externaldns = NULL;                 /* and no longer */
    assert_int_equal(served_set_update(s, list, 1), 1);
    assert_null(served_set_get(s, "web/shop")->details->externaldns);
    assert_int_equal(served_set_count(s), 1);
    json_object_put(ext);
    served_set_free(s);
}

static void ingresses_no_longer_listed_leave_the_set(void **st)
{
    struct served_set *s = served_set_new(1);
    struct served_ingress list[3] = {ingress("web", "shop", "u-1"),
                                     ingress("web", "blog", "u-2"),
                                     ingress("api", "v1", "u-3")};

    assert_int_equal(served_set_update(s, list, 3), 1);
    assert_int_equal(served_set_update(s, list + 1, 1), 1);
    assert_int_equal(served_set_count(s), 1);
    assert_null(served_set_get(s, "web/shop"));
    assert_non_null(served_set_get(s, "web/blog"));
    assert_null(served_set_get(s, "api/v1"));
    assert_int_equal(served_set_update(s, NULL, 0), 1);
    assert_int_equal(served_set_count(s), 0);
    assert_int_equal(served_set_update(s, NULL, 0), 0);
    served_set_free(s);
}

static void many_ingresses_are_kept_and_dropped_by_key(void **st)
{
    enum { N = 5000 };
    struct served_set *s = served_set_new(1);
    struct served_ingress *list = calloc(N, sizeof(*list));
    static char names[N][16];
    char key[32];

    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "ing-%d", i);
        list[i] = ingress("bench", names[i], names[i]);
    }
    assert_int_equal(served_set_update(s, list, N), 1);
    assert_int_equal(served_set_count(s), N);
    /* Every other one goes: the rest stay, found by key. */
    for (int i = 0; i < N / 2; i++)
        list[i] = list[2 * i];
    assert_int_equal(served_set_update(s, list, N / 2), 1);
    assert_int_equal(served_set_count(s), N / 2);
    assert_int_equal(count_by_iteration(s), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "bench/ing-%d", i);
        if (i % 2)
            assert_null(served_set_get(s, key));
        else
            assert_string_equal(served_set_get(s, key)->details->uid, names[i]);
    }
    free(list);
    served_set_free(s);
}

/* Without details (no DNSEndpoints published) the set holds the keys
 * only: a new uid or other hosts are no change, a new or dropped key is. */
static void a_set_of_keys_only_changes_with_its_keys(void **st)
{
    static const char *const other_hosts[] = {"c.example.com"};
    struct served_set *s = served_set_new(0);
    struct served_ingress list[2] = {ingress("web", "shop", "u-1"),
                                     ingress("web", "blog", "u-2")};
    const struct served_entry *e;

    assert_int_equal(served_set_update(s, list, 2), 1);
    e = served_set_get(s, "web/shop");
    assert_non_null(e);
    assert_string_equal(e->key, "web/shop");
    assert_null(e->details);
    list[0].uid = "u-9";
    list[0].hosts = other_hosts;
    list[0].nhosts = 1;
    assert_int_equal(served_set_update(s, list, 2), 0);
    assert_int_equal(served_set_update(s, list, 1), 1);
    assert_int_equal(served_set_count(s), 1);
    assert_null(served_set_get(s, "web/blog"));
    served_set_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            an_update_copies_what_the_jobs_read_and_skips_empty_hosts),
        cmocka_unit_test(
            the_same_list_again_is_no_change_and_keeps_the_entries),
        cmocka_unit_test(a_new_uid_hosts_or_annotations_change_the_entry),
        cmocka_unit_test(ingresses_no_longer_listed_leave_the_set),
        cmocka_unit_test(many_ingresses_are_kept_and_dropped_by_key),
        cmocka_unit_test(a_set_of_keys_only_changes_with_its_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
