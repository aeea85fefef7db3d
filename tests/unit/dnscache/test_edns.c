/* Unit tests for the EDNS fallback policy (sidecar-dnsmasq/edns.c): which
 * upstream answers send a question again without EDNS, and which make an
 * upstream be asked without EDNS for a while; and the wire checks that keep
 * c-ares' own EDNS fallback from rewriting our queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

/* ---- the wire checks that keep c-ares' EDNS fallback off our queries */

static const uint8_t WWW[] = "\3www\7example\3com";   /* with the root 0 */
enum { QBUF = 512, ANSWER_CAP = 4097 };    /* c-ares' UDP read buffer */

static size_t build(uint8_t *q, uint16_t udp_size)
{
    int n = dns_query_build(q, QBUF, 0x1234, WWW, sizeof(WWW), DNS_T_A,
                            DNS_C_IN, udp_size);

    assert_true(n > 0);
    return (size_t)n;
}

static void our_edns_query_is_exactly_the_plain_one_plus_its_opt(void **state)
{
    uint8_t edns[QBUF], plain[QBUF];
    size_t elen = build(edns, DNS_EDNS_UDP), plen = build(plain, 0);

    assert_true(edns_query_is_strippable(edns, elen));
    /* What c-ares does on a FORMERR: 11 bytes off, ARCOUNT 0. */
    assert_int_equal(elen - DNS_OPT_RR_LEN, plen);
    dns_put16(edns + DNS_OFF_AR, 0);
    assert_memory_equal(edns, plain, plen);
}

static void queries_without_a_trailing_bare_opt_are_not_strippable(
    void **state)
{
    uint8_t q[QBUF];
    size_t len = build(q, 0);

    assert_false(edns_query_is_strippable(q, len));     /* no EDNS */
    len = build(q, DNS_EDNS_UDP);
    assert_false(edns_query_is_strippable(q, DNS_HEADER_LEN));
    assert_false(edns_query_is_strippable(q, len - 1)); /* cut short */
    q[len - 1] = 4;                                      /* RDLENGTH 4 */
    assert_false(edns_query_is_strippable(q, len));
    len = build(q, DNS_EDNS_UDP);
    dns_put16(q + DNS_OFF_AR, 2);                        /* another record */
    assert_false(edns_query_is_strippable(q, len));
    len = build(q, DNS_EDNS_UDP);
    dns_put16(q + DNS_OFF_AN, 1);
    assert_false(edns_query_is_strippable(q, len));
    len = build(q, DNS_EDNS_UDP);
    dns_put16(q + len - DNS_OPT_RR_LEN + 1, DNS_T_A);    /* not an OPT */
    assert_false(edns_query_is_strippable(q, len));
}

/* A FORMERR answer to our EDNS query as an EDNS-less server sends it:
 * the question echoed, one answer record (some servers do), no OPT. */
static size_t formerr(uint8_t *a, unsigned rcode)
{
    static const uint8_t rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
                                 10, 0, 0, 1};
    size_t len = build(a, 0);

    dns_put16(a + DNS_OFF_FLAGS, (uint16_t)(DNS_F_QR | DNS_F_RD | rcode));
    dns_put16(a + DNS_OFF_AN, 1);
    memcpy(a + len, rr, sizeof(rr));
    return len + sizeof(rr);
}

static void formerr_gets_an_opt_and_keeps_its_rcode_and_question(void **state)
{
    uint8_t a[ANSWER_CAP], plain[QBUF];
    size_t len = formerr(a, DNS_R_FORMERR), plen = build(plain, 0);
    size_t n = edns_formerr_add_opt(a, len, sizeof(a));
    struct dns_header h;

    assert_int_equal(n, plen + DNS_OPT_RR_LEN);
    assert_int_equal(dns_header_read(a, n, &h), 0);
    assert_int_equal(h.flags & DNS_F_RCODE, DNS_R_FORMERR);
    assert_int_equal(h.id, 0x1234);
    assert_int_equal(h.qdcount, 1);
    assert_int_equal(h.ancount, 0);
    assert_int_equal(h.nscount, 0);
    assert_int_equal(h.arcount, 1);
    assert_memory_equal(a + DNS_HEADER_LEN, plain + DNS_HEADER_LEN,
                        plen - DNS_HEADER_LEN);
    assert_int_equal(a[plen], 0);                        /* root owner */
    assert_int_equal(dns_get16(a + plen + 1), DNS_T_OPT);
    /* Applying it again changes nothing. */
    assert_int_equal(edns_formerr_add_opt(a, n, sizeof(a)), n);
}

static void other_answers_and_broken_formerrs_are_left_alone(void **state)
{
    uint8_t a[ANSWER_CAP], copy[ANSWER_CAP];
    size_t len;

    for (unsigned rc = 0; rc <= RCODE_MAX; rc++) {
        if (rc == DNS_R_FORMERR)
            continue;
        len = formerr(a, rc);
        memcpy(copy, a, len);
        assert_int_equal(edns_formerr_add_opt(a, len, sizeof(a)), len);
        assert_memory_equal(a, copy, len);
    }
    len = formerr(a, DNS_R_FORMERR);
    dns_put16(a + DNS_OFF_FLAGS, DNS_R_FORMERR);         /* a query (QR 0) */
    assert_int_equal(edns_formerr_add_opt(a, len, sizeof(a)), len);
    len = formerr(a, DNS_R_FORMERR);
    dns_put16(a + DNS_OFF_QD, 0);                        /* no question */
    assert_int_equal(edns_formerr_add_opt(a, len, sizeof(a)), len);
    len = formerr(a, DNS_R_FORMERR);
    /* The question cut inside its name, then inside qtype/qclass. */
    assert_int_equal(edns_formerr_add_opt(a, DNS_HEADER_LEN + 5, sizeof(a)),
                     DNS_HEADER_LEN + 5);
    assert_int_equal(edns_formerr_add_opt(a, DNS_HEADER_LEN + sizeof(WWW) + 2,
                                          sizeof(a)),
                     DNS_HEADER_LEN + sizeof(WWW) + 2);
    assert_int_equal(edns_formerr_add_opt(a, DNS_HEADER_LEN - 1, sizeof(a)),
                     DNS_HEADER_LEN - 1);
    /* No room for the OPT RR after the question. */
    len = formerr(a, DNS_R_FORMERR);
    assert_int_equal(edns_formerr_add_opt(a, DNS_HEADER_LEN + sizeof(WWW) +
                                                 DNS_QFIXED_LEN,
                                          DNS_HEADER_LEN + sizeof(WWW) +
                                              DNS_QFIXED_LEN + 1),
                     DNS_HEADER_LEN + sizeof(WWW) + DNS_QFIXED_LEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(formerr_or_notimp_to_edns_retries_without_edns),
        cmocka_unit_test(only_a_real_answer_to_the_fallback_is_remembered),
        cmocka_unit_test(plain_tries_never_fall_back_again),
        cmocka_unit_test(plain_memory_lasts_the_ttl_and_zero_disables_it),
        cmocka_unit_test(our_edns_query_is_exactly_the_plain_one_plus_its_opt),
        cmocka_unit_test(queries_without_a_trailing_bare_opt_are_not_strippable),
        cmocka_unit_test(formerr_gets_an_opt_and_keeps_its_rcode_and_question),
        cmocka_unit_test(other_answers_and_broken_formerrs_are_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
