/* Unit tests for controller/kube/leader (client-go's leader election
 * decisions and Lease records) and controller/kube/backoff (jittered
 * exponential backoff). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/backoff.h"
#include "controller/kube/leader.h"

#define ME "portico-a"
#define OTHER "portico-b"
enum { LEASE_S = 15, T0 = 100000 };

static struct lease_record rec(const char *holder, long dur)
{
    struct lease_record r = {0};
    r.holder = (char *)holder;
    r.duration_s = dur;
    return r;
}

static void no_lease_means_create_and_acquire(void **st)
{
    assert_int_equal(leader_decide(NULL, 0, T0, ME), LEADER_ACQUIRE);
}

static void a_valid_lease_of_another_holder_means_wait(void **st)
{
    struct lease_record r = rec(OTHER, LEASE_S);
    /* Observed just now, and up to (not including) 15 s later. */
    assert_int_equal(leader_decide(&r, T0, T0, ME), LEADER_WAIT);
    assert_int_equal(leader_decide(&r, T0, T0 + LEASE_S * 1000 - 1, ME),
                     LEADER_WAIT);
}

static void expiry_is_judged_by_local_observation_time(void **st)
{
    struct lease_record r = rec(OTHER, LEASE_S);
    /* Whatever renewTime says, 15 s after we last saw the record change
     * the lease is free. */
    r.renew_time = "2000-01-01T00:00:00.000000Z";
    assert_int_equal(leader_decide(&r, T0, T0 + 5000, ME), LEADER_WAIT);
    assert_int_equal(leader_decide(&r, T0, T0 + LEASE_S * 1000, ME),
                     LEADER_ACQUIRE);
}

static void our_own_lease_is_renewed_and_a_released_one_taken(void **st)
{
    struct lease_record mine = rec(ME, LEASE_S), released = rec("", 1);
    assert_int_equal(leader_decide(&mine, T0, T0 + 1000, ME), LEADER_RENEW);
    assert_int_equal(leader_decide(&mine, T0, T0 + 99000, ME), LEADER_RENEW);
    assert_int_equal(leader_decide(&released, T0, T0, ME), LEADER_ACQUIRE);
}

static void record_changes_are_detected_field_by_field(void **st)
{
    struct lease_record a = rec(OTHER, LEASE_S), b = rec(OTHER, LEASE_S);
    a.renew_time = "t1";
    b.renew_time = "t1";
    assert_false(lease_record_changed(&a, &b));
    b.renew_time = "t2";
    assert_true(lease_record_changed(&a, &b));
    b.renew_time = "t1";
    b.transitions = 3;
    assert_true(lease_record_changed(&a, &b));
}

static struct json_object *spec_of(const char *json)
{
    struct json_object *o = json_tokener_parse(json), *spec;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "spec", &spec));
    json_object_get(spec);
    json_object_put(o);
    return spec;
}

static const char *s(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v))
        return NULL;
    return json_object_get_string(v);
}

static int64_t n(struct json_object *o, const char *k)
{
    return json_object_get_int64(json_object_object_get(o, k));
}

static void lease_writes_follow_client_go(void **st)
{
    struct lease_record obs = rec(OTHER, LEASE_S);
    struct json_object *spec, *full, *meta;
    char *j;

    obs.acquire_time = "2026-01-01T00:00:00.000000Z";
    obs.transitions = 4;
    obs.resource_version = "77";

    /* Taking over: our identity, new acquireTime, transitions + 1, and the
     * resourceVersion we read (so a race gets 409). */
    j = lease_build("ns1", "portico-leader", ME, LEASE_S, &obs,
                    LEADER_ACQUIRE, 0, "NOW");
    full = json_tokener_parse(j);
    meta = json_object_object_get(full, "metadata");
    assert_string_equal(s(meta, "resourceVersion"), "77");
    assert_string_equal(s(meta, "namespace"), "ns1");
    assert_string_equal(s(full, "kind"), "Lease");
    json_object_put(full);
    spec = spec_of(j);
    assert_string_equal(s(spec, "holderIdentity"), ME);
    assert_int_equal(n(spec, "leaseDurationSeconds"), LEASE_S);
    assert_string_equal(s(spec, "acquireTime"), "NOW");
    assert_string_equal(s(spec, "renewTime"), "NOW");
    assert_int_equal(n(spec, "leaseTransitions"), 5);
    json_object_put(spec);
    free(j);

    /* Renewing keeps acquireTime and transitions. */
    obs.holder = ME;
    j = lease_build("ns1", "portico-leader", ME, LEASE_S, &obs, LEADER_RENEW,
                    0, "LATER");
    spec = spec_of(j);
    assert_string_equal(s(spec, "acquireTime"), "2026-01-01T00:00:00.000000Z");
    assert_string_equal(s(spec, "renewTime"), "LATER");
    assert_int_equal(n(spec, "leaseTransitions"), 4);
    json_object_put(spec);
    free(j);

    /* Release: empty holder, 1 s, transitions kept. */
    j = lease_build("ns1", "portico-leader", ME, LEASE_S, &obs, LEADER_RENEW,
                    1, "END");
    spec = spec_of(j);
    assert_string_equal(s(spec, "holderIdentity"), "");
    assert_int_equal(n(spec, "leaseDurationSeconds"), 1);
    assert_int_equal(n(spec, "leaseTransitions"), 4);
    json_object_put(spec);
    free(j);

    /* The very first holder starts at 0 transitions, with no RV. */
    j = lease_build("ns1", "portico-leader", ME, LEASE_S, NULL,
                    LEADER_ACQUIRE, 0, "NOW");
    full = json_tokener_parse(j);
    assert_null(s(json_object_object_get(full, "metadata"),
                  "resourceVersion"));
    assert_int_equal(n(json_object_object_get(full, "spec"),
                       "leaseTransitions"), 0);
    json_object_put(full);
    free(j);
}

static void lease_records_parse_from_the_wire(void **st)
{
    struct lease_record r;
    struct json_object *o = json_tokener_parse(
        "{\"metadata\":{\"resourceVersion\":\"9\"},\"spec\":{"
        "\"holderIdentity\":\"x\",\"leaseDurationSeconds\":15,"
        "\"acquireTime\":\"a\",\"renewTime\":\"b\",\"leaseTransitions\":2}}");
    assert_int_equal(lease_record_parse(o, &r), 0);
    assert_string_equal(r.holder, "x");
    assert_int_equal(r.duration_s, 15);
    assert_string_equal(r.renew_time, "b");
    assert_int_equal(r.transitions, 2);
    assert_string_equal(r.resource_version, "9");
    lease_record_free(&r);
    json_object_put(o);

    /* A Lease with an empty spec is free to take. */
    o = json_tokener_parse("{\"metadata\":{},\"spec\":{}}");
    assert_int_equal(lease_record_parse(o, &r), 0);
    assert_string_equal(r.holder, "");
    assert_int_equal(leader_decide(&r, T0, T0, ME), LEADER_ACQUIRE);
    lease_record_free(&r);
    json_object_put(o);
}

/* ---- backoff ---- */

static void backoff_doubles_up_to_the_cap_with_bounded_jitter(void **st)
{
    struct backoff b;
    uint64_t base = BACKOFF_INITIAL_MS;

    backoff_init(&b, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, BACKOFF_JITTER);
    for (int i = 0; i < 12; i++) {
        uint64_t lo = backoff_next(&b, 0.0);
        assert_int_equal(lo, base);
        base = base * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : base * 2;
    }
    /* At the cap, jitter stays within [d, d * (1 + jitter)). */
    for (int i = 0; i < 1000; i++) {
        uint64_t d = backoff_next(&b, backoff_rand01(&b));
        assert_true(d >= BACKOFF_MAX_MS);
        assert_true(d < (uint64_t)(BACKOFF_MAX_MS * (1 + BACKOFF_JITTER)));
    }
    assert_int_equal(backoff_next(&b, 0.999999999),
                     (uint64_t)(BACKOFF_MAX_MS * 1.999999));
    backoff_reset(&b);
    assert_int_equal(backoff_next(&b, 0.5),
                     BACKOFF_INITIAL_MS + BACKOFF_INITIAL_MS / 2);
}

static void backoff_jitter_spreads_and_retry_after_is_honoured(void **st)
{
    struct backoff b;
    uint64_t lo = UINT64_MAX, hi = 0;

    backoff_init(&b, 1000, 1000, 1.0);
    for (int i = 0; i < 2000; i++) {
        uint64_t d = backoff_next(&b, backoff_rand01(&b));
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 1000 && lo < 1100);   /* really spread over the range */
    assert_true(hi > 1900 && hi < 2000);

    backoff_init(&b, 800, 30000, 1.0);
    assert_int_equal(backoff_next_after(&b, 0.0, 5), 5000);
    assert_int_equal(backoff_next_after(&b, 0.0, -1), 1600);
    assert_int_equal(backoff_next_after(&b, 0.0, 1), 3200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_lease_means_create_and_acquire),
        cmocka_unit_test(a_valid_lease_of_another_holder_means_wait),
        cmocka_unit_test(expiry_is_judged_by_local_observation_time),
        cmocka_unit_test(our_own_lease_is_renewed_and_a_released_one_taken),
        cmocka_unit_test(record_changes_are_detected_field_by_field),
        cmocka_unit_test(lease_writes_follow_client_go),
        cmocka_unit_test(lease_records_parse_from_the_wire),
        cmocka_unit_test(backoff_doubles_up_to_the_cap_with_bounded_jitter),
        cmocka_unit_test(backoff_jitter_spreads_and_retry_after_is_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
