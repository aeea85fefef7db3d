/*
 * test_certs_files.c - the certificate pipeline's naming and file helpers:
 * no host string can name a file outside the folder, path templating,
 * parent wildcards, atomic 0600 writes, and the pipeline's flags.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vault/certs.h"

static void test_plain_hosts_keep_readable_names(void **state)
{
    char stem[CERTS_NAME_MAX];

    (void)state;
    assert_int_equal(certs_file_stem("a.example.com", stem, sizeof(stem)), 0);
    assert_string_equal(stem, "a.example.com");
    assert_int_equal(certs_file_stem("*.example.com", stem, sizeof(stem)), 0);
    assert_string_equal(stem, "_wildcard_.example.com");
}

static void test_no_host_string_escapes_the_folder(void **state)
{
    static const char *const hostile[] = {
        "..", ".", "../etc/passwd", "a/b.example.com", "/abs.example.com",
        "x\n.example.com", "A.Example.com", "_wildcard_.example.com",
        "*.*.example.com", "a..example.com", ".example.com", "-a.example.com",
        "localhost", "a b.example.com", "*",
        "very-long-label-very-long-label-very-long-label-very-long.example.com",
    };
    char stem[CERTS_NAME_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        assert_int_equal(certs_file_stem(hostile[i], stem, sizeof(stem)), 0);
        assert_null(strchr(stem, '/'));
        assert_true(strcmp(stem, ".") != 0 && strcmp(stem, "..") != 0);
        assert_true(stem[0] != '.');
        for (const char *p = stem; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                        *p == '.' || *p == '-' || *p == '_');
    }
    /* Hostile names are hashed, distinct and never collide with plain ones. */
    char a[CERTS_NAME_MAX], b[CERTS_NAME_MAX];
    certs_file_stem("../x", a, sizeof(a));
    certs_file_stem("../y", b, sizeof(b));
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, "h-", 2), 0);
    assert_int_equal(strlen(a), 2 + 64);
    certs_file_stem("_wildcard_.example.com", a, sizeof(a));
    certs_file_stem("*.example.com", b, sizeof(b));
    assert_string_not_equal(a, b);
    assert_int_equal(certs_file_stem("a.example.com", stem, 10), -1);
}

static void test_path_template_replaces_every_host_placeholder(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(certs_expand_path("secret/ssl/{host}", "a.example.com",
                                       out, sizeof(out)), 0);
    assert_string_equal(out, "secret/ssl/a.example.com");
    assert_int_equal(certs_expand_path("kv/{host}/tls-{host}", "h", out,
                                       sizeof(out)), 0);
    assert_string_equal(out, "kv/h/tls-h");
    assert_int_equal(certs_expand_path("secret/ssl/static", "h", out,
                                       sizeof(out)), -1);
    assert_int_equal(certs_expand_path("secret/ssl/{host}", "a.example.com",
                                       out, 12), -1);
}

static void test_parent_wildcard_replaces_the_first_label(void **state)
{
    char out[128];

    (void)state;
    assert_int_equal(certs_parent_wildcard("a.example.com", out, sizeof(out)), 0);
    assert_string_equal(out, "*.example.com");
    assert_int_equal(certs_parent_wildcard("a.b.example.com", out, sizeof(out)), 0);
    assert_string_equal(out, "*.b.example.com");
    assert_int_equal(certs_parent_wildcard("example.com", out, sizeof(out)), -1);
    assert_int_equal(certs_parent_wildcard("*.example.com", out, sizeof(out)), -1);
    assert_int_equal(certs_parent_wildcard("localhost", out, sizeof(out)), -1);
}

static void test_atomic_write_leaves_only_the_0600_file(void **state)
{
    char dir[] = "/tmp/portico-certs-test-XXXXXX", path[256], err[256];
    char data[64];
    struct stat st;
    FILE *f;
    DIR *d;
    struct dirent *de;
    int files = 0;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(certs_write_atomic(dir, "a.crt", "one\n", 4, 0600, err,
                                        sizeof(err)), 0);
    assert_int_equal(certs_write_atomic(dir, "a.crt", "two\n", 4, 0600, err,
                                        sizeof(err)), 0);
    snprintf(path, sizeof(path), "%s/a.crt", dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(data, sizeof(data), f));
    fclose(f);
    assert_string_equal(data, "two\n");
    d = opendir(dir);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.' || strncmp(de->d_name, ".a.crt", 6) == 0)
            files++;
    closedir(d);
    assert_int_equal(files, 1);   /* no temporary file left behind */
    assert_int_equal(certs_write_atomic(dir, "../x", "x", 1, 0600, err,
                                        sizeof(err)), -1);
    assert_int_equal(certs_write_atomic("/nonexistent-dir", "a", "x", 1, 0600,
                                        err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nonexistent-dir"));
    unlink(path);
    rmdir(dir);
}

static int parse_certs_flags(struct certs_config *c, int argc, char **argv,
                             char *err, size_t errlen)
{
    struct flag_table t = certs_config_flags(c);
    int first;

    return flags_parse(&t, 1, argc, argv, &first, err, errlen);
}

static void test_pipeline_flags_parse_and_validate(void **state)
{
    struct certs_config c;
    char err[200];
    char *argv[] = {"p", "--vault-refresh=2s", "--vault-cert-path",
                    "kv/tls/{host}", "--vault-pki-role=web", NULL};
    char *no_host[] = {"p", "--vault-cert-path=static", NULL};
    char *bad_refresh[] = {"p", "--vault-refresh", "soon", NULL};
    char *zero_refresh[] = {"p", "--vault-refresh=0s", NULL};

    (void)state;
    certs_config_init(&c);
    assert_string_equal(c.path_template, "secret/ssl/{host}");
    assert_int_equal(c.refresh_ms, 300000);
    assert_int_equal(parse_certs_flags(&c, 5, argv, err, sizeof(err)), 0);
    assert_int_equal(c.refresh_ms, 2000);
    assert_string_equal(c.path_template, "kv/tls/{host}");
    assert_string_equal(c.pki_role, "web");
    assert_int_equal(parse_certs_flags(&c, 2, no_host, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "{host}"));
    assert_string_equal(c.path_template, "kv/tls/{host}");
    assert_int_equal(parse_certs_flags(&c, 3, bad_refresh, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "--vault-refresh"));
    assert_int_equal(parse_certs_flags(&c, 2, zero_refresh, err, sizeof(err)),
                     -1);
    assert_int_equal(c.refresh_ms, 2000);
}

static void test_pipeline_refuses_a_config_without_folder(void **state)
{
    struct certs_config c;
    struct vault_config v;
    char err[200];

    (void)state;
    certs_config_init(&c);
    vault_config_init(&v);
    assert_null(certs_new(&c, &v, err, sizeof(err)));
    assert_non_null(strstr(err, "folder"));
    c.dir = "/proc/portico-cannot-create";
    assert_null(certs_new(&c, &v, err, sizeof(err)));
    vault_config_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_hosts_keep_readable_names),
        cmocka_unit_test(test_no_host_string_escapes_the_folder),
        cmocka_unit_test(test_path_template_replaces_every_host_placeholder),
        cmocka_unit_test(test_parent_wildcard_replaces_the_first_label),
        cmocka_unit_test(test_atomic_write_leaves_only_the_0600_file),
        cmocka_unit_test(test_pipeline_flags_parse_and_validate),
        cmocka_unit_test(test_pipeline_refuses_a_config_without_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
