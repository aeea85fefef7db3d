/* Unit tests for lib/flags: getopt_long from tables, the --help text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"

struct conf {
    const char *name;
    int port;
    int verbose;
    int level;
};

static int set_level(void *target, const struct flag *f, const char *value,
                     char *err, size_t errlen)
{
    if (strcmp(value, "high") != 0) {
        snprintf(err, errlen, "want high");
        return -1;
    }
    *FLAG_FIELD(target, f, int) = 9;
    return 0;
}

static const struct flag conf_flags[] = {
    FLAG_SECTION("Things:"),
    {"name", required_argument, "NAME", flag_set_str,
     offsetof(struct conf, name), "what it is called"},
    {"port", required_argument, "N", flag_set_port,
     offsetof(struct conf, port), "where it listens\n(default none)"},
    {"verbose", optional_argument, NULL, flag_set_bool,
     offsetof(struct conf, verbose), "say more"},
    {"level", required_argument, "high", set_level,
     offsetof(struct conf, level), "how much"},
    {"name-of-a-flag-too-long-to-align", required_argument, "X",
     flag_set_str, offsetof(struct conf, name), "long"},
};

/* Parses a NULL-terminated argv into *c; returns flags_parse's result. */
static int parse(struct conf *c, char **argv, int *first, char *err,
                 size_t errlen)
{
    struct flag_table t = {conf_flags,
                           sizeof(conf_flags) / sizeof(conf_flags[0]), c};
    int argc = 0;

    while (argv[argc])
        argc++;
    memset(c, 0, sizeof(*c));
    return flags_parse(&t, 1, argc, argv, first, err, errlen);
}

static void values_come_joined_or_separate_and_operands_go_last(void **state)
{
    char *argv[] = {"p", "read", "--name", "a", "x", "--port=80",
                    "--verbose", "--level", "high", NULL};
    struct conf c;
    char err[200];
    int first;

    assert_int_equal(parse(&c, argv, &first, err, sizeof(err)), FLAGS_OK);
    assert_string_equal(c.name, "a");
    assert_int_equal(c.port, 80);
    assert_int_equal(c.verbose, 1);
    assert_int_equal(c.level, 9);
    assert_int_equal(first, 7);
    assert_string_equal(argv[first], "read");
    assert_string_equal(argv[first + 1], "x");
}

static void booleans_take_only_an_attached_true_or_false(void **state)
{
    char *off[] = {"p", "--verbose=false", NULL};
    char *on[] = {"p", "--verbose=true", NULL};
    char *bad[] = {"p", "--verbose=maybe", NULL};
    char *separate[] = {"p", "--verbose", "false", NULL};
    struct conf c;
    char err[200];
    int first;

    assert_int_equal(parse(&c, off, &first, err, sizeof(err)), FLAGS_OK);
    assert_int_equal(c.verbose, 0);
    assert_int_equal(parse(&c, on, &first, err, sizeof(err)), FLAGS_OK);
    assert_int_equal(c.verbose, 1);
    assert_int_equal(parse(&c, bad, &first, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--verbose: "));
    assert_int_equal(parse(&c, separate, &first, err, sizeof(err)), FLAGS_OK);
    assert_int_equal(c.verbose, 1);
    assert_string_equal(separate[first], "false");      /* an operand */
}

static void abbreviations_and_unknown_flags_are_refused(void **state)
{
    char *abbrev[] = {"p", "--nam=a", NULL};
    char *abbrev_separate[] = {"p", "--po", "80", NULL};
    char *unknown[] = {"p", "--colour=red", NULL};
    char *dash[] = {"p", "-x", NULL};
    char *abbrev_missing[] = {"p", "--po", NULL};
    struct conf c;
    char err[200];
    int first;

    assert_int_equal(parse(&c, abbrev, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown flag \"--nam=a\" (see --help)");
    assert_null(c.name);
    assert_int_equal(parse(&c, abbrev_separate, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown flag \"--po\" (see --help)");
    assert_int_equal(parse(&c, unknown, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown flag \"--colour=red\" (see --help)");
    assert_int_equal(parse(&c, dash, &first, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "-x"));
    assert_int_equal(parse(&c, abbrev_missing, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "unknown flag \"--po\" (see --help)");
}

static void bad_and_missing_values_name_the_flag(void **state)
{
    char *missing[] = {"p", "--port", NULL};
    char *bad_port[] = {"p", "--port=0", NULL};
    char *bad_level[] = {"p", "--level", "low", NULL};
    struct conf c;
    char err[200];
    int first;

    assert_int_equal(parse(&c, missing, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "--port needs a value");
    assert_int_equal(parse(&c, bad_port, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "--port: invalid port \"0\"");
    assert_int_equal(parse(&c, bad_level, &first, err, sizeof(err)), -1);
    assert_string_equal(err, "--level: want high");
}

static void help_stops_parsing_and_double_dash_ends_flags(void **state)
{
    char *help[] = {"p", "--name=a", "--help", "--colour", NULL};
    char *h[] = {"p", "-h", NULL};
    char *dashdash[] = {"p", "--name=a", "--", "--port=80", NULL};
    struct conf c;
    char err[200];
    int first;

    assert_int_equal(parse(&c, help, &first, err, sizeof(err)), FLAGS_HELP);
    assert_int_equal(parse(&c, h, &first, err, sizeof(err)), FLAGS_HELP);
    assert_int_equal(parse(&c, dashdash, &first, err, sizeof(err)), FLAGS_OK);
    assert_int_equal(c.port, 0);
    assert_string_equal(dashdash[first], "--port=80");
}

static void usage_lists_every_flag_with_its_value_aligned(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    flags_usage(out, conf_flags, sizeof(conf_flags) / sizeof(conf_flags[0]));
    fclose(out);
    assert_string_equal(text,
        "Things:\n"
        "  --name=NAME                   what it is called\n"
        "  --port=N                      where it listens\n"
        "                                (default none)\n"
        "  --verbose                     say more\n"
        "  --level=high                  how much\n"
        "  --name-of-a-flag-too-long-to-align=X\n"
        "                                long\n");
    free(text);
}

static void durations_parse_with_units(void **state)
{
    long ms;

    assert_int_equal(flag_parse_duration_ms("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(flag_parse_duration_ms("10s", &ms), 0);
    assert_int_equal(ms, 10000);
    assert_int_equal(flag_parse_duration_ms("5m", &ms), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(flag_parse_duration_ms("30", &ms), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(flag_parse_duration_ms("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(flag_parse_duration_ms("-1s", &ms), -1);
    assert_int_equal(flag_parse_duration_ms("5x", &ms), -1);
    assert_int_equal(flag_parse_duration_ms("", &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(values_come_joined_or_separate_and_operands_go_last),
        cmocka_unit_test(booleans_take_only_an_attached_true_or_false),
        cmocka_unit_test(abbreviations_and_unknown_flags_are_refused),
        cmocka_unit_test(bad_and_missing_values_name_the_flag),
        cmocka_unit_test(help_stops_parsing_and_double_dash_ends_flags),
        cmocka_unit_test(usage_lists_every_flag_with_its_value_aligned),
        cmocka_unit_test(durations_parse_with_units),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
