/* Unit tests for portico-dnscache flag parsing (sidecar-dnsmasq/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sidecar-dnsmasq/config.h"

static int parse(struct config *cfg, int argc, const char **argv)
{
    return config_parse(cfg, argc, (char **)argv);
}

static void defaults_match_the_issue(void **state)
{
    static struct config cfg;
    const char *argv[] = {"dnscache", "--upstream", "127.0.0.2", NULL};
    char s[64];

    assert_int_equal(parse(&cfg, 3, argv), 0);
    assert_int_equal(cfg.nlisten, 1);
    netaddr_format(&cfg.listen[0], s, sizeof(s));
    assert_string_equal(s, "127.0.0.1:53");
    netaddr_format(&cfg.upstream[0], s, sizeof(s));
    assert_string_equal(s, "127.0.0.2:53");
    assert_int_equal(cfg.min_ttl, 5);
    assert_int_equal(cfg.max_ttl, 30);
    assert_int_equal(cfg.neg_ttl, 5);
    assert_int_equal(cfg.stale_ttl, 3600);
    assert_string_equal(cfg.metrics_addr, "0.0.0.0:9153");
    assert_int_equal(cfg.threads, 1);
    assert_int_equal(cfg.no_edns_ttl_s, 900);       /* unbound's 15 min */
    assert_int_equal(cfg.try_timeout_ms, 50);
    assert_int_equal(cfg.stale_timeout_ms, 1500);
    assert_int_equal(cfg.query_timeout_ms, 5000);   /* CoreDNS forward's */
}

static void stale_timeout_is_never_above_the_timeout(void **state)
{
    static struct config cfg;
    const char *shorter[] = {"dnscache", "--upstream", "127.0.0.2",
                             "--timeout", "500", NULL};
    const char *given[] = {"dnscache", "--upstream", "127.0.0.2",
                           "--stale-timeout", "200", "--timeout", "300",
                           NULL};
    const char *above[] = {"dnscache", "--upstream", "127.0.0.2",
                           "--stale-timeout", "2000", "--timeout", "1000",
                           NULL};

    /* Not given: the default, or --timeout when that is shorter. */
    assert_int_equal(parse(&cfg, 5, shorter), 0);
    assert_int_equal(cfg.stale_timeout_ms, 500);
    assert_int_equal(parse(&cfg, 7, given), 0);
    assert_int_equal(cfg.stale_timeout_ms, 200);
    assert_int_equal(cfg.query_timeout_ms, 300);
    assert_int_equal(parse(&cfg, 7, above), -1);
}

static void repeated_flags_accumulate(void **state)
{
    static struct config cfg;
    const char *argv[] = {"dnscache", "--listen", "127.0.0.1:5353",
                          "--listen", "[::1]:5353", "--upstream", "10.0.0.1",
                          "--upstream", "[fd00::1]:5300", "--metrics", "off",
                          "--cache-size", "100", "--no-edns-ttl", "0", NULL};

    assert_int_equal(parse(&cfg, 15, argv), 0);
    assert_int_equal(cfg.no_edns_ttl_s, 0);
    assert_int_equal(cfg.nlisten, 2);
    assert_int_equal(cfg.nupstream, 2);
    assert_int_equal(netaddr_port(&cfg.upstream[1]), 5300);
    assert_null(cfg.metrics_addr);
    assert_int_equal(cfg.cache_size, 100);
}

static void bad_values_are_refused(void **state)
{
    static struct config cfg;
    const char *bad[][3] = {
        {"dnscache", "--cache-size", "0"},
        {"dnscache", "--cache-size", "-5"},
        {"dnscache", "--min-ttl", "abc"},
        {"dnscache", "--threads", "999"},
        {"dnscache", "--upstream", "not-an-ip"},
        {"dnscache", "--listen", "1.2.3.4:99999"},
        {"dnscache", "--log-level", "loud"},
        {"dnscache", "--no-edns-ttl", "x"},
        {"dnscache", "--no-edns-ttl", "99999999"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = {bad[i][0], bad[i][1], bad[i][2], "--upstream",
                              "127.0.0.1", NULL};
        assert_int_equal(parse(&cfg, 5, argv), -1);
    }
    const char *inverted[] = {"dnscache", "--min-ttl", "60", "--max-ttl", "30",
                              "--upstream", "127.0.0.1", NULL};
    assert_int_equal(parse(&cfg, 7, inverted), -1);
}

static void flags_take_name_equals_value_and_refuse_abbreviations(
    void **state)
{
    static struct config cfg;
    const char *eq[] = {"dnscache", "--upstream=127.0.0.2:5300",
                        "--max-ttl=60", "--metrics=off", NULL};
    const char *abbrev[] = {"dnscache", "--upstream", "127.0.0.2",
                            "--max-t", "60", NULL};
    const char *operand[] = {"dnscache", "--upstream", "127.0.0.2", "extra",
                             NULL};

    assert_int_equal(parse(&cfg, 4, eq), 0);
    assert_int_equal(netaddr_port(&cfg.upstream[0]), 5300);
    assert_int_equal(cfg.max_ttl, 60);
    assert_null(cfg.metrics_addr);
    /* A flag added later must never change what a command line means. */
    assert_int_equal(parse(&cfg, 5, abbrev), -1);
    assert_int_equal(parse(&cfg, 4, operand), -1);
}

static void resolv_conf_supplies_default_upstreams(void **state)
{
    static struct config cfg;
    char path[] = "/tmp/portico-test-resolv-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");

    assert_non_null(f);
    fputs("search svc.cluster.local\nnameserver 10.96.0.10\n"
          "nameserver fe80::1%eth0\nnameserver ::1\noptions ndots:5\n", f);
    fclose(f);
    const char *argv[] = {"dnscache", "--resolv-conf", path, NULL};
    assert_int_equal(parse(&cfg, 3, argv), 0);
    unlink(path);
    assert_int_equal(cfg.nupstream, 2);     /* the scoped address is skipped */
    char s[64];
    netaddr_format(&cfg.upstream[0], s, sizeof(s));
    assert_string_equal(s, "10.96.0.10:53");
    netaddr_format(&cfg.upstream[1], s, sizeof(s));
    assert_string_equal(s, "[::1]:53");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_the_issue),
        cmocka_unit_test(repeated_flags_accumulate),
        cmocka_unit_test(stale_timeout_is_never_above_the_timeout),
        cmocka_unit_test(bad_values_are_refused),
        cmocka_unit_test(flags_take_name_equals_value_and_refuse_abbreviations),
        cmocka_unit_test(resolv_conf_supplies_default_upstreams),
    };
    /* config_parse prints refusals on stderr; that is expected here. */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
