/* Unit tests for lib/: buffers, address parsing, Prometheus exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "httphdr.h"
#include "netaddr.h"
#include "prom.h"

static void buf_grows_and_stays_nul_terminated(void **state)
{
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    assert_false(buf_failed(&b));
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "0,1,2,", 6);
    assert_int_equal(strlen(b.data), b.len);
    buf_free(&b);
}

static void netaddr_parses_v4_v6_and_ports(void **state)
{
    struct netaddr a;
    char s[64];

    assert_int_equal(netaddr_parse("127.0.0.1", 53, &a), 0);
    netaddr_format(&a, s, sizeof(s));
    assert_string_equal(s, "127.0.0.1:53");
    assert_int_equal(netaddr_parse("127.0.0.2:5353", 53, &a), 0);
    assert_int_equal(netaddr_port(&a), 5353);
    assert_int_equal(netaddr_parse("[::1]:99", 53, &a), 0);
    netaddr_format(&a, s, sizeof(s));
    assert_string_equal(s, "[::1]:99");
    assert_int_equal(netaddr_parse("::1", 53, &a), 0);
    assert_int_equal(netaddr_port(&a), 53);
}

static void netaddr_rejects_names_and_bad_ports(void **state)
{
    struct netaddr a;
    assert_int_equal(netaddr_parse("localhost:53", 53, &a), -1);
    assert_int_equal(netaddr_parse("127.0.0.1:65536", 53, &a), -1);
    assert_int_equal(netaddr_parse("127.0.0.1:", 53, &a), -1);
    assert_int_equal(netaddr_parse("127.0.0.1:5x", 53, &a), -1);
    assert_int_equal(netaddr_parse("[::1", 53, &a), -1);
    assert_int_equal(netaddr_parse("", 53, &a), -1);
}

static void prom_escapes_label_values_and_help(void **state)
{
    struct buf b;
    const char *l[] = {"host", "a\"b\\c\nd", NULL};
    buf_init(&b);
    prom_family(&b, "x_total", "counter", "line1\nline2 \\");
    prom_sample_u64(&b, "x_total", l, 7);
    assert_string_equal(b.data,
        "# HELP x_total line1\\nline2 \\\\\n"
        "# TYPE x_total counter\n"
        "x_total{host=\"a\\\"b\\\\c\\nd\"} 7\n");
    buf_free(&b);
}

static void prom_histogram_is_cumulative_with_inf_equal_count(void **state)
{
    static const double bounds[] = {0.1, 1};
    struct prom_histogram h;
    struct buf b;

    assert_int_equal(prom_histogram_init(&h, bounds, 2), 0);
    prom_histogram_observe(&h, 0.05);
    prom_histogram_observe(&h, 0.5);
    prom_histogram_observe(&h, 5);
    buf_init(&b);
    prom_histogram_write(&b, "d_seconds", NULL, &h);
    assert_string_equal(b.data,
        "d_seconds_bucket{le=\"0.1\"} 1\n"
        "d_seconds_bucket{le=\"1\"} 2\n"
        "d_seconds_bucket{le=\"+Inf\"} 3\n"
        "d_seconds_sum 5.5499999999999998\n"
        "d_seconds_count 3\n");
    buf_free(&b);
    prom_histogram_free(&h);
}

static void retry_after_reads_seconds_in_any_case_and_ignores_dates(
    void **state)
{
    long v = -1;
    const char ok[] = "Retry-After: 7\r\n";
    const char lower[] = "retry-after:30\r\n";
    const char date[] = "Retry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n";
    const char other[] = "Content-Type: text/plain\r\n";

    assert_int_equal(httphdr_retry_after(ok, sizeof(ok) - 1, &v), 1);
    assert_int_equal(v, 7);
    assert_int_equal(httphdr_retry_after(lower, sizeof(lower) - 1, &v), 1);
    assert_int_equal(v, 30);
    assert_int_equal(httphdr_retry_after(date, sizeof(date) - 1, &v), 0);
    assert_int_equal(httphdr_retry_after(other, sizeof(other) - 1, &v), 0);
    assert_int_equal(httphdr_retry_after("Retry-After:", 12, &v), 0);
    assert_int_equal(v, 30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_and_stays_nul_terminated),
        cmocka_unit_test(netaddr_parses_v4_v6_and_ports),
        cmocka_unit_test(netaddr_rejects_names_and_bad_ports),
        cmocka_unit_test(prom_escapes_label_values_and_help),
        cmocka_unit_test(prom_histogram_is_cumulative_with_inf_equal_count),
        cmocka_unit_test(retry_after_reads_seconds_in_any_case_and_ignores_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
