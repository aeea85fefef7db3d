/* Unit tests for the EDNS fallback policy (sidecar-dnsmasq/edns.c): which
 * upstream answers send a question again without EDNS, and which make an
 * upstream be asked without EDNS for a while. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/edns.h"

enum { RCODE_MAX = 15 };    /* the 4-bit header RCODE */

static void formerr_or_notimp_to_edns_retries_without_edns(void **state)
{
    for (unsigned rc = 0; rc <= RCODE_MAX; rc++) {
        enum edns_verdict want = rc == DNS_R_FORMERR || rc == DNS_R_NOTIMP
                                     ? EDNS_RETRY_PLAIN : EDNS_ANSWER;

        assert_int_equal(edns_verdict(EDNS_TRY_EDNS, rc), want);
    }
    /* SERVFAIL and REFUSED stay ordinary answers: the failover handles
     * them as before. */
    assert_int_equal(edns_verdict(EDNS_TRY_EDNS, DNS_R_SERVFAIL), EDNS_ANSWER);
    assert_int_equal(edns_verdict(EDNS_TRY_EDNS, DNS_R_REFUSED), EDNS_ANSWER);
}

static void only_a_real_answer_to_the_fallback_is_remembered(void **state)
{
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_NOERROR),
                     EDNS_REMEMBER_PLAIN);
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_NXDOMAIN),
                     EDNS_REMEMBER_PLAIN);
    /* Rejects the plain query too: not an EDNS problem, and no second
     * fallback (the answer goes to the client). */
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_FORMERR),
                     EDNS_ANSWER);
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_NOTIMP),
                     EDNS_ANSWER);
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_SERVFAIL),
                     EDNS_ANSWER);
    assert_int_equal(edns_verdict(EDNS_TRY_FALLBACK, DNS_R_REFUSED),
                     EDNS_ANSWER);
}

static void plain_tries_never_fall_back_again(void **state)
{
    for (unsigned rc = 0; rc <= RCODE_MAX; rc++)
        assert_int_equal(edns_verdict(EDNS_TRY_PLAIN, rc), EDNS_ANSWER);
}

static void plain_memory_lasts_the_ttl_and_zero_disables_it(void **state)
{
    assert_int_equal(edns_plain_until(5000, 900), 5000 + 900 * 1000);
    assert_int_equal(edns_plain_until(5000, 1), 6000);
    assert_int_equal(edns_plain_until(5000, 0), 0);
    /* No overflow at the largest TTL the flags accept (one week). */
    assert_int_equal(edns_plain_until(UINT64_C(1) << 40, 604800),
                     (UINT64_C(1) << 40) + UINT64_C(604800000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formerr_or_notimp_to_edns_retries_without_edns),
        cmocka_unit_test(only_a_real_answer_to_the_fallback_is_remembered),
        cmocka_unit_test(plain_tries_never_fall_back_again),
        cmocka_unit_test(plain_memory_lasts_the_ttl_and_zero_disables_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
