/* Unit tests for the reverse side of --hosts (sidecar-dnsmasq/hosts.c):
 * reading in-addr.arpa / ip6.arpa names as addresses, and which name a
 * listed address gives in a PTR answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reverse_v4_name_reads_octets_backwards),
        cmocka_unit_test(reverse_v6_name_reads_nibbles_backwards),
        cmocka_unit_test(reverse_rejects_partial_odd_and_foreign_names),
        cmocka_unit_test(reverse_ignores_a_suffix_inside_a_longer_label),
        cmocka_unit_test(address_gives_first_name_of_first_line_like_dnsmasq),
        cmocka_unit_test(bad_lines_and_empty_tables_have_no_reverse_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
