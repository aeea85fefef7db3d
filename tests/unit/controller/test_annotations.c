/* Unit tests for controller/annotations: the table covers every
 * annotation of ingress-nginx (tests/data/ingress-nginx-annotations.txt)
 * and is well formed; both prefixes are read, portico.io/ wins; every
 * access annotation that is not implemented refuses its Ingress (fail
 * closed) unless the operator's flag serves it unenforced; snippets are
 * always refused; unknown keys and ignored annotations are reported; a
 * value failing its grammar refuses, hostile values included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/annotations.h"

#define NAMES_FILE "tests/data/ingress-nginx-annotations.txt"
#define NAMES_MAX  512

static char *names[NAMES_MAX];
static size_t nnames;

static int load_names(void **state)
{
    FILE *f = fopen(NAMES_FILE, "r");
    char line[256];

    if (!f) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n",
                NAMES_FILE);
        return -1;
    }
    while (fgets(line, sizeof(line), f) && nnames < NAMES_MAX) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] && line[0] != '#')
            names[nnames++] = strdup(line);
    }
    fclose(f);
    return nnames > 100 ? 0 : -1;
}

static int free_names(void **state)
{
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    return 0;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int has_suffix(const char *s, const char *x)
{
    size_t n = strlen(s), m = strlen(x);
    return n >= m && strcmp(s + n - m, x) == 0;
}

/* Reads {key: value, ...} (NULL-terminated pairs) with cfg. */
static void read_pairs(const struct ann_config *cfg, int keep,
                       struct ann_result *res, ...)
{
    struct json_object *ann = json_object_new_object();
    va_list ap;
    const char *k;

    va_start(ap, res);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        json_object_object_add(ann, k, json_object_new_string(v));
    }
    va_end(ap);
    assert_int_equal(ann_read(cfg, ann, keep, res), 0);
    json_object_put(ann);
}

static const struct ann_finding *finding(const struct ann_result *r,
                                         const char *key)
{
    for (size_t i = 0; i < r->nfindings; i++)
        if (strcmp(r->findings[i].key, key) == 0)
            return &r->findings[i];
    return NULL;
}

static const struct ann_config DEFAULTS = {0};

/* ---- the table ---------------------------------------------------------- */

static void table_is_sorted_unique_and_complete_per_state(void **state)
{
    int ids[ANN_ID_COUNT] = {0};

    for (size_t i = 0; i < ann_table_len; i++) {
        const struct ann_def *d = &ann_table[i];
        if (i > 0 && strcmp(ann_table[i - 1].name, d->name) >= 0)
            fail_msg("table not sorted at %s", d->name);
        assert_ptr_equal(ann_lookup(d->name), d);
        if (d->state == ANN_SUPPORTED) {
            if (d->id == ANN_ID_NONE || !d->grammar ||
                d->effect == ANN_EFFECT_NONE)
                fail_msg("%s: supported without id, grammar or effect",
                         d->name);
            /* An alias shares the id of the name it stands for. */
            if (d->alias_of &&
                ann_lookup(d->alias_of)->id != d->id)
                fail_msg("%s: an alias with another id", d->name);
            if (!d->alias_of)
                ids[d->id]++;
        } else if (!d->why || !d->why[0] || d->id != ANN_ID_NONE) {
            fail_msg("%s: refused/ignored without a reason", d->name);
        }
        if (d->alias_of && !ann_lookup(d->alias_of))
            fail_msg("%s: alias of an unknown name", d->name);
    }
    for (int id = ANN_ID_NONE + 1; id < ANN_ID_COUNT; id++) {
        if (ids[id] != 1)
            fail_msg("id %d is supported by %d entries", id, ids[id]);
        assert_non_null(ann_def_of((enum ann_id)id));
    }
    assert_null(ann_lookup("no-such-annotation"));
}

static void every_ingress_nginx_annotation_is_in_the_table(void **state)
{
    for (size_t i = 0; i < nnames; i++)
        if (!ann_lookup(names[i]))
            fail_msg("ingress-nginx's %s is not in the table", names[i]);
}

/* What restricts access in ingress-nginx: authentication of every kind,
 * address filters, limits, satisfy, the firewall. */
static int restricts_access(const char *name)
{
    return has_prefix(name, "auth-") || has_suffix(name, "-source-range") ||
           has_prefix(name, "limit-") || strcmp(name, "satisfy") == 0 ||
           strcmp(name, "enable-modsecurity") == 0 ||
           strcmp(name, "enable-owasp-core-rules") == 0;
}

static void access_annotations_are_flagged_and_never_ignored(void **state)
{
    for (size_t i = 0; i < nnames; i++) {
        const struct ann_def *d = ann_lookup(names[i]);
        if (!restricts_access(names[i]))
            continue;
        if (!(d->flags & ANN_ACCESS))
            fail_msg("%s restricts access but is not flagged", d->name);
        if (d->state == ANN_IGNORED)
            fail_msg("%s restricts access and is ignored", d->name);
    }
}

/* ---- fail closed -------------------------------------------------------- */

static void each_unimplemented_access_annotation_refuses_its_ingress(
    void **state)
{
    static const char *const prefixes[] = {ANN_NGINX_PREFIX,
                                           ANN_PORTICO_PREFIX};
    size_t refused = 0;

    for (size_t i = 0; i < nnames; i++) {
        const struct ann_def *d = ann_lookup(names[i]);
        if (!restricts_access(names[i]) || d->state == ANN_SUPPORTED)
            continue;
        for (size_t p = 0; p < 2; p++) {
            char key[300], reason[ANN_REASON_MAX];
            struct ann_result r;
            snprintf(key, sizeof(key), "%s/%s", prefixes[p], names[i]);
            read_pairs(&DEFAULTS, 0, &r, key, "10.0.0.0/8", NULL);
            if (r.refusing != 1)
                fail_msg("%s did not refuse the Ingress", key);
            ann_refusal(&r, reason, sizeof(reason));
            if (!strstr(reason, key))
                fail_msg("reason does not name %s: %s", key, reason);
            ann_result_free(&r);
            refused++;
        }
    }
    /* Not vacuous: satisfy at least is never implemented. */
    assert_int_equal(ann_lookup("satisfy")->state, ANN_REFUSED);
    assert_true(refused >= 2);
}

static void the_operator_flag_serves_access_annotations_unenforced(
    void **state)
{
    const struct ann_config allow = {.allow_unenforced_access = 1};
    struct ann_result r;
    char notice[ANN_REASON_MAX];
    const struct ann_finding *f;

    read_pairs(&allow, 0, &r,
               ANN_NGINX_PREFIX "/satisfy", "any",
               ANN_NGINX_PREFIX "/auth-keepalive", "10",
               NULL);
    assert_int_equal(r.refusing, 0);
    f = finding(&r, ANN_NGINX_PREFIX "/satisfy");
    assert_non_null(f);
    assert_int_equal(f->outcome, ANN_UNENFORCED);
    ann_notice(&r, notice, sizeof(notice));
    assert_non_null(strstr(notice, "NOT ENFORCED"));
    assert_non_null(strstr(notice, ANN_NGINX_PREFIX "/auth-keepalive"));
    ann_result_free(&r);
}

static void snippets_are_refused_even_with_the_operator_flag(void **state)
{
    const struct ann_config allow = {.allow_unenforced_access = 1};
    static const char *const snippets[] = {
        "configuration-snippet", "server-snippet", "auth-snippet",
        "stream-snippet", "modsecurity-snippet"};

    for (size_t i = 0; i < sizeof(snippets) / sizeof(snippets[0]); i++) {
        char key[128], reason[ANN_REASON_MAX];
        struct ann_result r;
        snprintf(key, sizeof(key), ANN_NGINX_PREFIX "/%s", snippets[i]);
        assert_true(ann_lookup(snippets[i])->flags & ANN_SNIPPET);
        read_pairs(&allow, 0, &r, key, "more_set_headers \"X: y\";", NULL);
        assert_int_equal(r.refusing, 1);
        ann_refusal(&r, reason, sizeof(reason));
        assert_non_null(strstr(reason, "never rendered"));
        ann_result_free(&r);
    }
    /* Every name ending in -snippet in ingress-nginx is a snippet here. */
    for (size_t i = 0; i < nnames; i++)
        if (has_suffix(names[i], "-snippet") &&
            !(ann_lookup(names[i])->flags & ANN_SNIPPET))
            fail_msg("%s is not flagged as a snippet", names[i]);
}

/* ---- prefixes ----------------------------------------------------------- */

static void both_prefixes_are_read_and_portico_wins(void **state)
{
    struct ann_result r;
    const struct ann_finding *f;

    read_pairs(&DEFAULTS, 1, &r,
               ANN_NGINX_PREFIX "/proxy-body-size", "1m",
               ANN_PORTICO_PREFIX "/proxy-body-size", "8m",
               ANN_NGINX_PREFIX "/proxy-read-timeout", "120",
               NULL);
    assert_int_equal(r.refusing, 0);
    assert_string_equal(ann_get(&r, ANN_PROXY_BODY_SIZE), "8m");
    assert_string_equal(ann_get(&r, ANN_PROXY_READ_TIMEOUT), "120");
    assert_null(ann_get(&r, ANN_PROXY_SEND_TIMEOUT));
    f = finding(&r, ANN_NGINX_PREFIX "/proxy-body-size");
    assert_int_equal(f->outcome, ANN_SHADOWED);
    f = finding(&r, ANN_PORTICO_PREFIX "/proxy-body-size");
    assert_int_equal(f->outcome, ANN_APPLIED);
    ann_result_free(&r);
}

static void a_custom_prefix_replaces_ingress_nginx_and_it_can_be_off(
    void **state)
{
    const struct ann_config custom = {.nginx_prefix = "ingress.example.com"};
    const struct ann_config off = {.nginx_prefix_off = 1};
    struct ann_result r;

    read_pairs(&custom, 0, &r,
               "ingress.example.com/proxy-read-timeout", "7",
               ANN_NGINX_PREFIX "/auth-url", "http://a/",
               NULL);
    assert_int_equal(r.refusing, 0);        /* not our prefix any more */
    assert_string_equal(ann_get(&r, ANN_PROXY_READ_TIMEOUT), "7");
    ann_result_free(&r);

    read_pairs(&off, 0, &r,
               ANN_NGINX_PREFIX "/proxy-read-timeout", "7",
               ANN_NGINX_PREFIX "/configuration-snippet", "x",
               ANN_PORTICO_PREFIX "/proxy-send-timeout", "9",
               NULL);
    assert_int_equal(r.refusing, 0);
    assert_int_equal(r.nfindings, 0);
    assert_null(ann_get(&r, ANN_PROXY_READ_TIMEOUT));
    assert_string_equal(ann_get(&r, ANN_PROXY_SEND_TIMEOUT), "9");
    ann_result_free(&r);

    char err[256];
    assert_int_equal(ann_check_prefix("ingress.example.com", err,
                                      sizeof(err)), 0);
    assert_int_equal(ann_check_prefix("portico.io", err, sizeof(err)), -1);
    assert_int_equal(ann_check_prefix("Bad_Prefix", err, sizeof(err)), -1);
    assert_int_equal(ann_check_prefix("a/b", err, sizeof(err)), -1);
}

static void other_prefixes_and_lookalikes_are_not_ours(void **state)
{
    struct ann_result r;

    read_pairs(&DEFAULTS, 1, &r,
               "kubernetes.io/ingress.class", "portico",
               "external-dns.kubernetes.io/ttl", "60",
               "portico.io.evil.com/proxy-body-size", "x",
               "xportico.io/proxy-body-size", "x",
               "nginx.ingress.kubernetes.io", "x",
               NULL);
    assert_int_equal(r.nfindings, 0);
    assert_int_equal(r.nvalues, 0);
    ann_result_free(&r);
}

/* ---- reports ------------------------------------------------------------ */

static void unknown_keys_and_ignored_annotations_are_reported(void **state)
{
    struct ann_result r;
    char notice[ANN_REASON_MAX];

    read_pairs(&DEFAULTS, 0, &r,
               ANN_PORTICO_PREFIX "/proxy-body-szie", "8m",
               ANN_NGINX_PREFIX "/enable-access-log", "false",
               ANN_NGINX_PREFIX "/proxy-read-timeout", "30",
               NULL);
    assert_int_equal(r.refusing, 0);
    assert_int_equal(r.nfindings, 2);       /* applied ones not kept */
    assert_int_equal(finding(&r, ANN_PORTICO_PREFIX "/proxy-body-szie")
                         ->outcome, ANN_UNKNOWN);
    assert_int_equal(finding(&r, ANN_NGINX_PREFIX "/enable-access-log")
                         ->outcome, ANN_NOT_APPLIED);
    ann_notice(&r, notice, sizeof(notice));
    assert_non_null(strstr(notice, "portico.io/proxy-body-szie (unknown"));
    assert_non_null(strstr(notice, "enable-access-log (ignored: "));
    assert_null(strstr(notice, "proxy-read-timeout"));
    ann_result_free(&r);

    read_pairs(&DEFAULTS, 0, &r, ANN_NGINX_PREFIX "/proxy-read-timeout",
               "30", NULL);
    ann_notice(&r, notice, sizeof(notice));
    assert_string_equal(notice, "");
    ann_result_free(&r);
}

static void a_value_failing_its_grammar_refuses_with_the_reason(void **state)
{
    static const char *const hostile[] = {
        "1m; include /etc/passwd", "1m\r\nlocation /x { return 200; }",
        "1m}", "\"1m\"", "$request_uri", "1m#", "1m ", "", "10mb", "-1",
        "1234567890123",
    };
    char reason[ANN_REASON_MAX];

    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct ann_result r;
        read_pairs(&DEFAULTS, 0, &r, ANN_NGINX_PREFIX "/proxy-body-size",
                   hostile[i], NULL);
        if (r.refusing != 1)
            fail_msg("accepted \"%s\"", hostile[i]);
        ann_refusal(&r, reason, sizeof(reason));
        assert_true(has_prefix(reason, "annotation " ANN_NGINX_PREFIX
                                       "/proxy-body-size: invalid"));
        assert_null(strchr(reason, '\r'));
        assert_null(strchr(reason, '\n'));
        assert_null(ann_get(&r, ANN_PROXY_BODY_SIZE));
        ann_result_free(&r);
    }
}

static void a_value_that_is_not_a_string_refuses(void **state)
{
    struct json_object *ann = json_object_new_object();
    struct ann_result r;
    char reason[ANN_REASON_MAX];

    json_object_object_add(ann, ANN_PORTICO_PREFIX "/proxy-read-timeout",
                           json_object_new_int(30));
    assert_int_equal(ann_read(&DEFAULTS, ann, 0, &r), 0);
    assert_int_equal(r.refusing, 1);
    ann_refusal(&r, reason, sizeof(reason));
    assert_string_equal(reason, "annotation portico.io/proxy-read-timeout: "
                                "must be a string");
    ann_result_free(&r);
    json_object_put(ann);
}

static void several_refusals_are_all_named_within_the_limit(void **state)
{
    struct ann_result r;
    char reason[ANN_REASON_MAX], small[64];

    read_pairs(&DEFAULTS, 0, &r,
               ANN_NGINX_PREFIX "/satisfy", "any",
               ANN_NGINX_PREFIX "/enable-modsecurity", "true",
               ANN_NGINX_PREFIX "/server-snippet", "return 200;",
               NULL);
    assert_int_equal(r.refusing, 3);
    ann_refusal(&r, reason, sizeof(reason));
    assert_non_null(strstr(reason, "/satisfy"));
    assert_non_null(strstr(reason, "/enable-modsecurity"));
    ann_refusal(&r, small, sizeof(small));
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_string_equal(small + sizeof(small) - 4, "...");
    ann_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_sorted_unique_and_complete_per_state),
        cmocka_unit_test(every_ingress_nginx_annotation_is_in_the_table),
        cmocka_unit_test(access_annotations_are_flagged_and_never_ignored),
        cmocka_unit_test(
            each_unimplemented_access_annotation_refuses_its_ingress),
        cmocka_unit_test(
            the_operator_flag_serves_access_annotations_unenforced),
        cmocka_unit_test(snippets_are_refused_even_with_the_operator_flag),
        cmocka_unit_test(both_prefixes_are_read_and_portico_wins),
        cmocka_unit_test(
            a_custom_prefix_replaces_ingress_nginx_and_it_can_be_off),
        cmocka_unit_test(other_prefixes_and_lookalikes_are_not_ours),
        cmocka_unit_test(unknown_keys_and_ignored_annotations_are_reported),
        cmocka_unit_test(a_value_failing_its_grammar_refuses_with_the_reason),
        cmocka_unit_test(a_value_that_is_not_a_string_refuses),
        cmocka_unit_test(several_refusals_are_all_named_within_the_limit),
    };
    return cmocka_run_group_tests(tests, load_names, free_names);
}
