/* Unit tests for the reverse side of --hosts (sidecar-dnsmasq/hosts.c):
 * reading in-addr.arpa / ip6.arpa names as addresses, and which name a
 * listed address gives in a PTR answer; and the answers hosts_answer
 * writes (AA, the --local-ttl, the client's ID and spelling). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sidecar-dnsmasq/dnswire.h"
#include "sidecar-dnsmasq/hosts.h"

/* hosts_reverse_addr on a text name; returns its result. */
static int reverse(const char *text, struct hosts_addr *a)
{
    uint8_t name[DNS_MAX_NAME];
    int n = dns_name_from_text(text, name);

    assert_true(n > 0);
    return hosts_reverse_addr(name, (size_t)n, a);
}

static void expect_addr(const struct hosts_addr *a, int family,
                        const char *text)
{
    uint8_t want[HOSTS_ADDR6_LEN] = {0};

    assert_int_equal(inet_pton(family, text, want), 1);
    assert_int_equal(a->family, family);
    assert_memory_equal(a->bytes, want, sizeof(want));
}

/* The name a PTR query for the address text gets ("" if none). */
static const char *ptr_name(const struct hosts *h, int family,
                            const char *text, char *out, size_t outlen)
{
    struct hosts_addr a;
    const struct hosts_name *hn;

    memset(&a, 0, sizeof(a));
    a.family = family;
    assert_int_equal(inet_pton(family, text, a.bytes), 1);
    hn = hosts_lookup_addr(h, &a);
    if (!hn) {
        out[0] = 0;
        return out;
    }
    assert_int_equal(dns_name_to_text(hn->name, out, outlen), 0);
    return out;
}

static void reverse_v4_name_reads_octets_backwards(void **state)
{
    struct hosts_addr a;

    assert_int_equal(reverse("10.0.0.127.in-addr.arpa", &a), 0);
    expect_addr(&a, AF_INET, "127.0.0.10");
    assert_int_equal(reverse("255.254.0.1.in-addr.arpa.", &a), 0);
    expect_addr(&a, AF_INET, "1.0.254.255");
    /* dns_name_from_text lower-cases, as the query path does. */
    assert_int_equal(reverse("4.3.2.1.IN-ADDR.ARPA", &a), 0);
    expect_addr(&a, AF_INET, "1.2.3.4");
}

static void reverse_v6_name_reads_nibbles_backwards(void **state)
{
    struct hosts_addr a;

    assert_int_equal(reverse("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                             "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", &a), 0);
    expect_addr(&a, AF_INET6, "::1");
    assert_int_equal(reverse("b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0."
                             "2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", &a), 0);
    expect_addr(&a, AF_INET6, "4321:0:1:2:3:4:567:89ab");
    assert_int_equal(reverse("F.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                             "0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", &a), 0);
    expect_addr(&a, AF_INET6, "fd00::f");
}

static void reverse_rejects_partial_odd_and_foreign_names(void **state)
{
    struct hosts_addr a;
    static const char *const bad[] = {
        "0.127.in-addr.arpa",               /* a zone, not an address */
        "1.10.0.0.127.in-addr.arpa",        /* five labels */
        "256.0.0.127.in-addr.arpa",
        "010.0.0.127.in-addr.arpa",         /* leading zero */
        "1000.0.0.127.in-addr.arpa",
        "x.0.0.127.in-addr.arpa",
        "in-addr.arpa",
        "10.0.0.127.in-addr.arpa.example",
        "10.0.0.127.xin-addr.arpa",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        "g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        "10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa",
        "web.cluster.local",
        "arpa",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (reverse(bad[i], &a) == 0)
            fail_msg("%s read as an address", bad[i]);
}

static void reverse_ignores_a_suffix_inside_a_longer_label(void **state)
{
    /* "\012ab\7in-addr" then "\4arpa": the bytes end like in-addr.arpa,
     * but the labels are not. */
    static const uint8_t name[] = "\012ab\7in-addr\4arpa";
    struct hosts_addr a;

    assert_int_equal(hosts_reverse_addr(name, sizeof(name), &a), -1);
}

static void address_gives_first_name_of_first_line_like_dnsmasq(void **state)
{
    static const char text[] =
        "127.0.0.10 web.default.svc.cluster.local web alias\n"
        "127.0.0.10 other.local\n"
        "127.0.0.11 web.default.svc.cluster.local\n"
        "127.0.0.12 zz.local\n"
        "127.0.0.12 aa.local\n"
        "::10 web.default.svc.cluster.local\n"
        "::11 six.local six2.local\n";
    struct hosts *h = hosts_parse(text, sizeof(text) - 1, NULL);
    char s[DNS_MAX_NAME * 4];

    assert_non_null(h);
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.10", s, sizeof(s)),
                        "web.default.svc.cluster.local");
    /* A name's second address still maps back to it. */
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.11", s, sizeof(s)),
                        "web.default.svc.cluster.local");
    /* File order, not name order. */
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.12", s, sizeof(s)),
                        "zz.local");
    assert_string_equal(ptr_name(h, AF_INET6, "::10", s, sizeof(s)),
                        "web.default.svc.cluster.local");
    assert_string_equal(ptr_name(h, AF_INET6, "::11", s, sizeof(s)),
                        "six.local");
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.13", s, sizeof(s)), "");
    /* Same bytes, other family: not listed. */
    assert_string_equal(ptr_name(h, AF_INET6, "7f00:a::", s, sizeof(s)), "");
    hosts_free(h);
}

static void bad_lines_and_empty_tables_have_no_reverse_entries(void **state)
{
    static const char text[] = "not-an-address web.local\n"
                               "127.0.0.20\n"
                               "127.0.0.21 ok.local # comment 127.0.0.22 x\n";
    size_t bad = 0;
    struct hosts *h = hosts_parse(text, sizeof(text) - 1, &bad);
    char s[DNS_MAX_NAME * 4];

    assert_non_null(h);
    assert_int_equal(bad, 2);
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.20", s, sizeof(s)), "");
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.21", s, sizeof(s)),
                        "ok.local");
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.22", s, sizeof(s)), "");
    hosts_free(h);
    h = hosts_parse("", 0, NULL);
    assert_non_null(h);
    assert_string_equal(ptr_name(h, AF_INET, "127.0.0.21", s, sizeof(s)), "");
    hosts_free(h);
}

/* ---- answers ------------------------------------------------------- */

static const char ANSWER_HOSTS[] =
    "10.0.0.1 web.cluster.local\n"
    "10.0.0.2 web.cluster.local\n"
    "fd00::1 web.cluster.local\n"
    "10.0.0.9 only4.local\n";

struct asked {
    uint8_t wire[512];
    struct dns_query q;
    struct client_q cq;
};

/* Parses a query for text/type (with EDNS when edns) as the server does. */
static void ask(struct asked *a, const char *text, uint16_t type, int edns)
{
    uint8_t name[DNS_MAX_NAME];
    int n = dns_name_from_text(text, name);
    int len;

    assert_true(n > 0);
    len = dns_query_build(a->wire, sizeof(a->wire), 0x4242, name, (size_t)n,
                          type, DNS_C_IN, edns ? DNS_EDNS_UDP : 0);
    assert_true(len > 0);
    if (islower(a->wire[DNS_HEADER_LEN + 1]))   /* "Web...": 0x20 case */
        a->wire[DNS_HEADER_LEN + 1] = (uint8_t)toupper(a->wire[DNS_HEADER_LEN + 1]);
    assert_int_equal(dns_query_parse(a->wire, (size_t)len, &a->q),
                     DNS_PARSE_OK);
    answer_client_from_query(&a->cq, &a->q, 0);
}

struct answered {
    uint8_t out[DNS_MAX_UDP];
    size_t len;
    struct dns_header h;
    size_t ntype;               /* answer records of the asked type */
    uint32_t ttls[8];
    uint8_t rdata[8][HOSTS_ADDR6_LEN];
    uint8_t ptr[DNS_MAX_NAME];  /* PTR target, if any */
};

static void answer(const struct hosts *h, struct asked *a, uint32_t ttl,
                   struct answered *r)
{
    struct dns_writer *wr = malloc(sizeof(*wr));
    uint8_t *scratch = malloc(DNS_MAX_MSG);
    size_t off = DNS_HEADER_LEN;
    int trunc = -1;

    assert_non_null(wr);
    assert_non_null(scratch);
    dnsw_init(wr, scratch, DNS_MAX_MSG);
    memset(r, 0, sizeof(*r));
    r->len = hosts_answer(h, &a->q, &a->cq, ttl, wr, r->out, sizeof(r->out),
                          &trunc);
    free(wr);
    free(scratch);
    if (!r->len)
        return;
    assert_int_equal(trunc, 0);
    assert_int_equal(dns_header_read(r->out, r->len, &r->h), 0);
    assert_true(dns_name_skip(r->out, r->len, &off) > 0);
    off += DNS_QFIXED_LEN;
    for (uint16_t i = 0; i < r->h.ancount; i++) {
        struct dns_rr rr;

        assert_int_equal(dns_rr_read(r->out, r->len, &off, &rr), 0);
        assert_true(r->ntype < 8);
        r->ttls[r->ntype] = rr.ttl;
        if (rr.type == DNS_T_PTR) {
            size_t at = rr.rdata_off;

            assert_true(dns_name_read(r->out, r->len, &at, r->ptr) > 0);
        } else {
            assert_true(rr.rdlen <= HOSTS_ADDR6_LEN);
            memcpy(r->rdata[r->ntype], r->out + rr.rdata_off, rr.rdlen);
        }
        r->ntype++;
    }
}

static void listed_name_gets_its_addresses_with_aa_and_the_local_ttl(
    void **state)
{
    struct hosts *h = hosts_parse(ANSWER_HOSTS, sizeof(ANSWER_HOSTS) - 1,
                                  NULL);
    struct asked a;
    struct answered r;

    assert_non_null(h);
    ask(&a, "web.cluster.local", DNS_T_A, 0);
    answer(h, &a, 7, &r);
    assert_true(r.len > 0);
    assert_int_equal(r.h.id, 0x4242);
    assert_true(r.h.flags & DNS_F_AA);
    assert_true(r.h.flags & DNS_F_QR);
    assert_int_equal(r.h.flags & DNS_F_RCODE, DNS_R_NOERROR);
    assert_int_equal(r.ntype, 2);               /* both A, not the AAAA */
    assert_int_equal(r.ttls[0], 7);
    assert_int_equal(r.ttls[1], 7);
    assert_memory_equal(r.rdata[0], "\x0a\x00\x00\x01", 4);
    assert_memory_equal(r.rdata[1], "\x0a\x00\x00\x02", 4);
    /* The question as the client spelled it. */
    assert_int_equal(r.out[DNS_HEADER_LEN + 1], 'W');
    assert_int_equal(r.h.arcount, 0);           /* no EDNS asked */

    ask(&a, "web.cluster.local", DNS_T_AAAA, 1);
    answer(h, &a, 7, &r);
    assert_int_equal(r.ntype, 1);
    assert_memory_equal(r.rdata[0],
                        "\xfd\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    assert_int_equal(r.h.arcount, 1);           /* the client's OPT */
    hosts_free(h);
}

static void listed_name_without_that_type_gets_nodata(void **state)
{
    struct hosts *h = hosts_parse(ANSWER_HOSTS, sizeof(ANSWER_HOSTS) - 1,
                                  NULL);
    struct asked a;
    struct answered r;

    assert_non_null(h);
    ask(&a, "only4.local", DNS_T_AAAA, 0);
    answer(h, &a, 5, &r);
    assert_true(r.len > 0);
    assert_true(r.h.flags & DNS_F_AA);
    assert_int_equal(r.h.flags & DNS_F_RCODE, DNS_R_NOERROR);
    assert_int_equal(r.h.ancount, 0);
    ask(&a, "web.cluster.local", DNS_T_MX, 0);
    answer(h, &a, 5, &r);
    assert_true(r.len > 0);
    assert_int_equal(r.h.ancount, 0);
    hosts_free(h);
}

static void reverse_name_of_a_listed_address_gets_one_ptr(void **state)
{
    struct hosts *h = hosts_parse(ANSWER_HOSTS, sizeof(ANSWER_HOSTS) - 1,
                                  NULL);
    uint8_t want[DNS_MAX_NAME];
    int n = dns_name_from_text("web.cluster.local", want);
    struct asked a;
    struct answered r;

    assert_non_null(h);
    ask(&a, "2.0.0.10.in-addr.arpa", DNS_T_PTR, 0);
    answer(h, &a, 5, &r);
    assert_true(r.len > 0);
    assert_int_equal(r.ntype, 1);
    assert_int_equal(r.ttls[0], 5);
    assert_memory_equal(r.ptr, want, (size_t)n);
    /* Other types at a reverse name are forwarded, not answered. */
    ask(&a, "2.0.0.10.in-addr.arpa", DNS_T_TXT, 0);
    answer(h, &a, 5, &r);
    assert_int_equal(r.len, 0);
    hosts_free(h);
}

static void unlisted_names_and_addresses_are_not_answered(void **state)
{
    struct hosts *h = hosts_parse(ANSWER_HOSTS, sizeof(ANSWER_HOSTS) - 1,
                                  NULL);
    struct asked a;
    struct answered r;

    assert_non_null(h);
    ask(&a, "db.cluster.local", DNS_T_A, 0);
    answer(h, &a, 5, &r);
    assert_int_equal(r.len, 0);
    ask(&a, "3.0.0.10.in-addr.arpa", DNS_T_PTR, 0);
    answer(h, &a, 5, &r);
    assert_int_equal(r.len, 0);
    /* Class CHAOS: never ours. */
    ask(&a, "web.cluster.local", DNS_T_A, 0);
    a.q.qclass = 3;
    answer(h, &a, 5, &r);
    assert_int_equal(r.len, 0);
    hosts_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reverse_v4_name_reads_octets_backwards),
        cmocka_unit_test(reverse_v6_name_reads_nibbles_backwards),
        cmocka_unit_test(reverse_rejects_partial_odd_and_foreign_names),
        cmocka_unit_test(reverse_ignores_a_suffix_inside_a_longer_label),
        cmocka_unit_test(address_gives_first_name_of_first_line_like_dnsmasq),
        cmocka_unit_test(bad_lines_and_empty_tables_have_no_reverse_entries),
        cmocka_unit_test(listed_name_gets_its_addresses_with_aa_and_the_local_ttl),
        cmocka_unit_test(listed_name_without_that_type_gets_nodata),
        cmocka_unit_test(reverse_name_of_a_listed_address_gets_one_ptr),
        cmocka_unit_test(unlisted_names_and_addresses_are_not_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
