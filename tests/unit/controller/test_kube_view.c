/* Unit tests for controller/kube/view's struct view: the publisher's
 * observed status of every Ingress. A new text keeps the entry's mark
 * and flag (a relisted Ingress whose status we wrote stays ours), a sweep
 * forgets exactly the unmarked ones and tells each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/view.h"

static void a_new_text_keeps_the_mark_and_the_flag(void **st)
{
    struct view *v = view_new();
    struct view_entry *e = view_set(v, "web/shop", "");

    assert_non_null(e);
    assert_int_equal(e->mark, 0);
    assert_int_equal(e->flag, 0);
    e->mark = 7;
    e->flag = 1;
    e = view_set(v, "web/shop", "ip:192.0.2.1");
    assert_string_equal(e->key, "web/shop");
    assert_string_equal(e->text, "ip:192.0.2.1");
    assert_int_equal(e->mark, 7);
    assert_int_equal(e->flag, 1);
    assert_ptr_equal(view_get(v, "web/shop"), e);
    /* The same text again: the same entry. */
    assert_ptr_equal(view_set(v, "web/shop", "ip:192.0.2.1"), e);
    assert_int_equal(view_count(v), 1);
    assert_int_equal(view_remove(v, "web/shop"), 1);
    assert_int_equal(view_remove(v, "web/shop"), 0);
    assert_null(view_get(v, "web/shop"));
    view_free(v);
}

struct gone_log {
    char keys[8][32];
    int n;
};

static void note_gone(void *arg, const char *key)
{
    struct gone_log *g = arg;

    if (g->n < 8)
        snprintf(g->keys[g->n++], sizeof(g->keys[0]), "%s", key);
}

static void a_sweep_forgets_what_the_list_did_not_mark(void **st)
{
    enum { N = 3000 };
    struct view *v = view_new();
    struct gone_log g = {.n = 0};
    char key[32];
    size_t pos = 0, n = 0;

    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "bench/ing-%d", i);
        view_set(v, key, "")->mark = i == 17 || i == 2999 ? 1 : 2;
    }
    view_sweep(v, 2, note_gone, &g);
    assert_int_equal(view_count(v), N - 2);
    assert_int_equal(g.n, 2);
    assert_true((strcmp(g.keys[0], "bench/ing-17") == 0 &&
                 strcmp(g.keys[1], "bench/ing-2999") == 0) ||
                (strcmp(g.keys[1], "bench/ing-17") == 0 &&
                 strcmp(g.keys[0], "bench/ing-2999") == 0));
    assert_null(view_get(v, "bench/ing-17"));
    assert_non_null(view_get(v, "bench/ing-18"));
    while (view_next(v, &pos))
        n++;
    assert_int_equal(n, N - 2);
    view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_new_text_keeps_the_mark_and_the_flag),
        cmocka_unit_test(a_sweep_forgets_what_the_list_did_not_mark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
