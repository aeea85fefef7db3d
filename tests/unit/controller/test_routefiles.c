/* Unit tests for controller/routefiles: a sharded route table's files on
 * disk. The shard folder is made next to the live head and linked from
 * the candidate folder; a shard is written once, whole, under its name;
 * a shard of the installed head is not checked again, the others are;
 * a kept shard (not made again) is never written; only files this
 * process wrote count as on disk; files the installed head does not name
 * (and temporary ones) are collected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/routefiles.h"
#include "controller/routes.h"

struct dirs {
    char root[64], live[128], cand[160], shards[128], link[160];
};

static void make_dirs(struct dirs *d)
{
    char cand_dir[96];

    snprintf(d->root, sizeof(d->root), "/tmp/routefiles-XXXXXX");
    assert_non_null(mkdtemp(d->root));
    snprintf(d->live, sizeof(d->live), "%s/routes", d->root);
    snprintf(cand_dir, sizeof(cand_dir), "%s/candidate", d->root);
    assert_int_equal(mkdir(cand_dir, 0755), 0);
    snprintf(d->cand, sizeof(d->cand), "%s/routes", cand_dir);
    snprintf(d->shards, sizeof(d->shards), "%s/routes.d", d->root);
    snprintf(d->link, sizeof(d->link), "%s/routes.d", cand_dir);
}

static void remove_dirs(const struct dirs *d)
{
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
    assert_int_equal(system(cmd), 0);
}

/* A result of shards with the given names and texts (no model: the
 * fields routefiles reads). */
static void result(struct routes_result *r, size_t n, const char *const *names,
                   const char *const *texts)
{
    memset(r, 0, sizeof(*r));
    ownedtext_init(&r->t);
    ownedtext_init(&r->shards_text);
    r->nshards = 8;
    r->shards = calloc(n, sizeof(*r->shards));
    assert_non_null(r->shards);
    for (size_t k = 0; k < n; k++) {
        struct routes_shard *sh = &r->shards[k];
        sh->index = k;
        snprintf(sh->name, sizeof(sh->name), "%s", names[k]);
        if (!texts[k]) {
            sh->kept = 1;
            continue;
        }
        sh->from = r->shards_text.text.len;
        buf_puts(&r->shards_text.text, texts[k]);
        sh->len = strlen(texts[k]);
    }
    r->nused = n;
}

static char *read_all(const char *dir, const char *name)
{
    char path[256], *data = calloc(1, 256);
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (!f) {
        free(data);
        return NULL;
    }
    assert_true(fread(data, 1, 255, f) < 255);
    fclose(f);
    return data;
}

static int exists(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void the_shard_folder_is_made_and_linked_from_the_candidate_folder(
    void **state)
{
    struct dirs d;
    struct stat st;
    char err[256], target[256];
    struct routefiles *f;
    ssize_t n;

    make_dirs(&d);
    f = routefiles_new(d.live, d.cand, err, sizeof(err));
    assert_non_null(f);
    assert_int_equal(stat(d.shards, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    n = readlink(d.link, target, sizeof(target) - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_non_null(strstr(target, "/routes.d"));
    /* made again over an old link */
    routefiles_free(f);
    f = routefiles_new(d.live, d.cand, err, sizeof(err));
    assert_non_null(f);
    routefiles_free(f);
    /* a candidate folder that is not there: the reason */
    assert_null(routefiles_new(d.live, "/nonexistent/dir/routes", err,
                               sizeof(err)));
    assert_non_null(strstr(err, "cannot link"));
    remove_dirs(&d);
}

static void shards_are_written_once_and_only_new_ones_are_checked(
    void **state)
{
    struct dirs d;
    char err[256];
    struct routefiles *f;
    struct routes_result a, b;
    unsigned char check[3];
    const char *na[] = {"aaaa", "bbbb"};
    const char *ta[] = {"portico-routes-shard 1\nhost a\n",
                        "portico-routes-shard 1\nhost b\n"};
    const char *nb[] = {"aaaa", "cccc", "bbbb"};
    const char *tb[] = {NULL, "portico-routes-shard 1\nhost c\n",
                        "portico-routes-shard 1\nhost b\n"};

    make_dirs(&d);
    f = routefiles_new(d.live, d.cand, err, sizeof(err));
    assert_non_null(f);
    result(&a, 2, na, ta);
    /* nothing installed: every shard is checked, every file written */
    assert_int_equal(routefiles_write(f, &a, check), 2);
    assert_true(check[0] && check[1]);
    char *text = read_all(d.shards, "aaaa");
    assert_string_equal(text, ta[0]);
    free(text);
    assert_true(routefiles_has(f, "bbbb"));
    assert_false(routefiles_has(f, "cccc"));
    assert_int_equal(routefiles_installed(f, &a), 0);
    /* the next head: its installed shards are not checked; a kept one
     * (no text) is not written; a new one is */
    struct stat before, after;
    char path[256];
    snprintf(path, sizeof(path), "%s/bbbb", d.shards);
    assert_int_equal(stat(path, &before), 0);
    result(&b, 3, nb, tb);
    assert_int_equal(routefiles_write(f, &b, check), 1);
    assert_false(check[0]);
    assert_true(check[1]);
    assert_false(check[2]);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);      /* not rewritten */
    assert_true(exists(d.shards, "cccc"));
    /* another N: every shard is checked again */
    b.nshards = 16;
    assert_int_equal(routefiles_write(f, &b, check), 3);
    b.nshards = 8;
    routes_result_free(&a);
    routes_result_free(&b);
    routefiles_free(f);
    remove_dirs(&d);
}

static void files_the_installed_head_does_not_name_are_collected(
    void **state)
{
    struct dirs d;
    char err[256], path[256];
    struct routefiles *f;
    struct routes_result a, b;
    unsigned char check[2];
    const char *na[] = {"aaaa", "bbbb"};
    const char *ta[] = {"portico-routes-shard 1\nhost a\n",
                        "portico-routes-shard 1\nhost b\n"};
    const char *nb[] = {"aaaa", "cccc"};
    const char *tb[] = {NULL, "portico-routes-shard 1\nhost c\n"};
    FILE *tmp;

    make_dirs(&d);
    f = routefiles_new(d.live, d.cand, err, sizeof(err));
    assert_non_null(f);
    result(&a, 2, na, ta);
    assert_int_equal(routefiles_write(f, &a, check), 2);
    assert_int_equal(routefiles_installed(f, &a), 0);
    result(&b, 2, nb, tb);
    assert_int_equal(routefiles_write(f, &b, check), 1);
    assert_int_equal(routefiles_installed(f, &b), 0);
    /* a temporary file a crash left */
    snprintf(path, sizeof(path), "%s/.dddd.tmp", d.shards);
    tmp = fopen(path, "w");
    assert_non_null(tmp);
    fclose(tmp);
    assert_int_equal(routefiles_collect(f), 2);
    assert_true(exists(d.shards, "aaaa"));
    assert_true(exists(d.shards, "cccc"));
    assert_false(exists(d.shards, "bbbb"));
    assert_false(exists(d.shards, ".dddd.tmp"));
    /* a collected file is no longer this process's: written again */
    assert_false(routefiles_has(f, "bbbb"));
    assert_int_equal(routefiles_write(f, &a, check), 1);
    assert_true(exists(d.shards, "bbbb"));
    routes_result_free(&a);
    routes_result_free(&b);
    routefiles_free(f);
    remove_dirs(&d);
}

static void a_file_this_process_did_not_write_is_written_again(void **state)
{
    struct dirs d;
    char err[256], path[256];
    struct routefiles *f;
    struct routes_result a;
    unsigned char check[1];
    const char *na[] = {"aaaa"};
    const char *ta[] = {"portico-routes-shard 1\nhost a\n"};
    FILE *old;

    make_dirs(&d);
    assert_int_equal(mkdir(d.shards, 0755), 0);
    /* an earlier run's file, cut short */
    snprintf(path, sizeof(path), "%s/aaaa", d.shards);
    old = fopen(path, "w");
    assert_non_null(old);
    fputs("portico-routes-sh", old);
    fclose(old);
    f = routefiles_new(d.live, d.cand, err, sizeof(err));
    assert_non_null(f);
    assert_false(routefiles_has(f, "aaaa"));
    result(&a, 1, na, ta);
    assert_int_equal(routefiles_write(f, &a, check), 1);
    char *text = read_all(d.shards, "aaaa");
    assert_string_equal(text, ta[0]);
    free(text);
    routes_result_free(&a);
    routefiles_free(f);
    remove_dirs(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            the_shard_folder_is_made_and_linked_from_the_candidate_folder),
        cmocka_unit_test(
            shards_are_written_once_and_only_new_ones_are_checked),
        cmocka_unit_test(files_the_installed_head_does_not_name_are_collected),
        cmocka_unit_test(a_file_this_process_did_not_write_is_written_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
