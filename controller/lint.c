/* lint.c - the --check mode: manifests through the model, one verdict
 * per Ingress (see lint.h). */
#include "controller/lint.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/dirsource.h"
#include "controller/object.h"
#include "controller/store.h"
#include "controller/validate.h"

#define SHOWN_MAX 300

struct lint {
    const struct lint_opts *o;
    struct store *store;
    struct model m;
    struct json_object *errors;     /* array of strings */
    int have_services;
};

static void on_read_error(void *arg, const char *msg)
{
    struct lint *l = arg;

    json_object_array_add(l->errors, json_object_new_string(msg));
}

static const char *verdict_of(const struct model_ingress *mi)
{
    return mi->state == ING_SERVED ? "served" : "refused";
}

/* The words the output uses for an annotation's outcome. */
static const char *outcome_word(enum ann_outcome o)
{
    return o == ANN_APPLIED ? "supported" : ann_outcome_name(o);
}

/* Warnings of the model that are about this Ingress; missing Services are
 * left out when the input holds no Service at all (the usual case for
 * `kubectl get ingress`). */
static int warning_is_about(const struct lint *l, const char *w,
                            const struct model_ingress *mi)
{
    char prefix[600];

    snprintf(prefix, sizeof(prefix), "ingress %s/%s: ", mi->ns, mi->name);
    if (strncmp(w, prefix, strlen(prefix)) != 0)
        return 0;
    return l->have_services || !strstr(w, ": Service ");
}

/* spec.ingressClassName, else the legacy annotation, else NULL. */
static const char *class_of(struct json_object *ing)
{
    const char *c = k8s_str(ing, "spec.ingressClassName");
    struct json_object *ann = k8s_get(ing, "metadata.annotations"), *v;

    if (c)
        return c;
    if (ann && json_object_object_get_ex(ann, "kubernetes.io/ingress.class",
                                         &v) &&
        json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static struct json_object *ingress_json(const struct lint *l,
                                        const struct model_ingress *mi)
{
    struct json_object *o = json_object_new_object(), *anns, *warns;
    struct json_object *ing = store_get(l->store, RK_INGRESS, mi->ns,
                                        mi->name);
    const char *cls = ing ? class_of(ing) : NULL;

    json_object_object_add(o, "namespace", json_object_new_string(mi->ns));
    json_object_object_add(o, "name", json_object_new_string(mi->name));
    json_object_object_add(o, "class", cls ? json_object_new_string(cls)
                                           : NULL);
    json_object_object_add(o, "selected_as_configured",
                           json_object_new_boolean(
                               ing && model_ingress_selected(
                                          l->store, ing, &l->o->model)));
    json_object_object_add(o, "verdict",
                           json_object_new_string(verdict_of(mi)));
    json_object_object_add(o, "reason", mi->reason
                                            ? json_object_new_string(
                                                  mi->reason)
                                            : NULL);
    anns = json_object_new_array();
    for (size_t i = 0; i < mi->ann.nfindings; i++) {
        const struct ann_finding *f = &mi->ann.findings[i];
        struct json_object *a = json_object_new_object();
        json_object_object_add(a, "key", json_object_new_string(f->key));
        json_object_object_add(a, "outcome",
                               json_object_new_string(
                                   outcome_word(f->outcome)));
        json_object_object_add(a, "reason",
                               f->reason ? json_object_new_string(f->reason)
                                         : NULL);
        json_object_array_add(anns, a);
    }
    json_object_object_add(o, "annotations", anns);
    warns = json_object_new_array();
    for (size_t i = 0; i < l->m.nwarnings; i++)
        if (warning_is_about(l, l->m.warnings[i], mi))
            json_object_array_add(warns,
                                  json_object_new_string(l->m.warnings[i]));
    json_object_object_add(o, "warnings", warns);
    json_object_put(ing);
    return o;
}

static void print_text(const struct lint *l, struct json_object *all,
                       size_t served, FILE *out)
{
    size_t n = json_object_array_length(all);

    for (size_t i = 0; i < n; i++) {
        struct json_object *o = json_object_array_get_idx(all, i), *v;
        struct json_object *anns = json_object_object_get(o, "annotations");
        struct json_object *warns = json_object_object_get(o, "warnings");
        const char *cls = json_object_get_string(
            json_object_object_get(o, "class"));
        char ns[SHOWN_MAX], name[SHOWN_MAX], shown[SHOWN_MAX];

        validate_printable(json_object_get_string(
                               json_object_object_get(o, "namespace")),
                           ns, sizeof(ns));
        validate_printable(json_object_get_string(
                               json_object_object_get(o, "name")),
                           name, sizeof(name));
        fprintf(out, "%s/%s: %s", ns, name,
                strcmp(json_object_get_string(
                           json_object_object_get(o, "verdict")),
                       "served") == 0 ? "served" : "REFUSED");
        if (cls)
            validate_printable(cls, shown, sizeof(shown));
        fprintf(out, " (class %s%s)\n", cls ? shown : "none",
                json_object_get_boolean(json_object_object_get(
                    o, "selected_as_configured"))
                    ? ""
                    : "; not selected by Portico as configured");
        if ((v = json_object_object_get(o, "reason")))
            fprintf(out, "  reason: %s\n", json_object_get_string(v));
        for (size_t j = 0; j < json_object_array_length(anns); j++) {
            struct json_object *a = json_object_array_get_idx(anns, j);
            struct json_object *why = json_object_object_get(a, "reason");
            validate_printable(json_object_get_string(
                                   json_object_object_get(a, "key")),
                               shown, sizeof(shown));
            fprintf(out, "  %-10s %s%s%s\n",
                    json_object_get_string(json_object_object_get(
                        a, "outcome")),
                    shown, why ? ": " : "",
                    why ? json_object_get_string(why) : "");
        }
        for (size_t j = 0; j < json_object_array_length(warns); j++)
            fprintf(out, "  warning: %s\n", json_object_get_string(
                                                json_object_array_get_idx(
                                                    warns, j)));
    }
    for (size_t i = 0; i < json_object_array_length(l->errors); i++)
        fprintf(out, "error: %s\n", json_object_get_string(
                                        json_object_array_get_idx(l->errors,
                                                                  i)));
    fprintf(out, "%zu Ingresses: %zu served, %zu refused%s\n", n, served,
            n - served,
            l->have_services ? "" : " (no Services in the input: backends "
                                    "not checked)");
}

int lint_run(const struct lint_opts *o, FILE *out, FILE *errout)
{
    struct lint l = {.o = o};
    struct model_opts mo = o->model;
    struct json_object *all = NULL, *doc = NULL;
    size_t served = 0;
    int rc = LINT_INPUT_ERROR;

    l.store = store_new(NULL, NULL);
    l.errors = json_object_new_array();
    all = json_object_new_array();
    if (!l.store || !l.errors || !all) {
        fprintf(errout, "out of memory\n");
        goto out;
    }
    dirsource_read_once(l.store, o->path, on_read_error, &l);
    l.have_services = store_count(l.store, RK_SERVICE) > 0;
    mo.select_all = 1;
    mo.keep_applied_annotations = 1;
    mo.excluded = NULL;
    if (model_build(&l.m, l.store, &mo) < 0) {
        fprintf(errout, "out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < l.m.ning; i++) {
        served += l.m.ings[i].state == ING_SERVED;
        json_object_array_add(all, ingress_json(&l, &l.m.ings[i]));
    }
    if (o->format == LINT_JSON) {
        doc = json_object_new_object();
        struct json_object *sum = json_object_new_object();
        json_object_object_add(doc, "ingresses", json_object_get(all));
        json_object_object_add(doc, "errors", json_object_get(l.errors));
        json_object_object_add(sum, "ingresses",
                               json_object_new_int64((int64_t)l.m.ning));
        json_object_object_add(sum, "served",
                               json_object_new_int64((int64_t)served));
        json_object_object_add(sum, "refused",
                               json_object_new_int64(
                                   (int64_t)(l.m.ning - served)));
        json_object_object_add(sum, "services_checked",
                               json_object_new_boolean(l.have_services));
        json_object_object_add(doc, "summary", sum);
        fprintf(out, "%s\n", json_object_to_json_string_ext(
                                 doc, JSON_C_TO_STRING_PRETTY |
                                          JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        print_text(&l, all, served, out);
    }
    rc = json_object_array_length(l.errors) ? LINT_INPUT_ERROR
         : served < l.m.ning                ? LINT_REFUSED
                                            : LINT_ALL_SERVED;
    model_free(&l.m);
out:
    json_object_put(doc);
    json_object_put(all);
    json_object_put(l.errors);
    store_free(l.store);
    return rc;
}

static const char *effect_name(enum ann_effect e)
{
    return e == ANN_EFFECT_PROFILE ? "nginx.conf (reload)"
         : e == ANN_EFFECT_ACCESS  ? "nginx.conf (reload)"
         : e == ANN_EFFECT_TABLE   ? "route table (swap)"
         : e == ANN_EFFECT_CERTS   ? "certificate table (swap)"
                                   : NULL;
}

int lint_list_annotations(FILE *out)
{
    struct json_object *all = json_object_new_array();

    if (!all)
        return LINT_INPUT_ERROR;
    for (size_t i = 0; i < ann_table_len; i++) {
        const struct ann_def *d = &ann_table[i];
        struct json_object *o = json_object_new_object();
        const char *effect = effect_name(d->effect);
        json_object_object_add(o, "name", json_object_new_string(d->name));
        json_object_object_add(o, "state",
                               json_object_new_string(
                                   ann_state_name(d->state)));
        json_object_object_add(o, "access", json_object_new_boolean(
                                                (d->flags & ANN_ACCESS) != 0));
        json_object_object_add(o, "snippet", json_object_new_boolean(
                                                 (d->flags & ANN_SNIPPET) != 0));
        json_object_object_add(o, "renders", effect ? json_object_new_string(
                                                          effect)
                                                    : NULL);
        json_object_object_add(o, "directive",
                               d->directive ? json_object_new_string(
                                                  d->directive)
                                            : NULL);
        json_object_object_add(o, "reason", d->why ? json_object_new_string(
                                                         d->why)
                                                   : NULL);
        json_object_object_add(o, "alias_of",
                               d->alias_of ? json_object_new_string(
                                                 d->alias_of)
                                           : NULL);
        json_object_array_add(all, o);
    }
    fprintf(out, "%s\n", json_object_to_json_string_ext(
                             all, JSON_C_TO_STRING_PRETTY |
                                      JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(all);
    return LINT_ALL_SERVED;
}
