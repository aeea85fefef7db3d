/* Unit tests for controller/model, controller/render and
 * controller/certtable: Ingress selection by class, the spec's path rules
 * as model locations, Service port resolution, conflicts decided by age,
 * rejection of one bad Ingress without affecting the others; TLS hosts as
 * certificate table lines (no server block of their own), option profiles
 * as named locations traced to their Ingress, and byte-identical
 * rendering whatever the input order; a build with the cache of earlier
 * builds equals one without, change after change. (The route table:
 * test_routes.c.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/certtable.h"
#include "controller/manifest.h"
#include "controller/model.h"
#include "controller/profiles.h"
#include "controller/render.h"
#include "controller/routes.h"
#include "controller/store.h"
#include "tests/unit/controller/fixtures.h"

/* nginx.conf of m, with its option profiles. */
static int render(const struct model *m, struct render_result *r)
{
    struct profiles p;
    int rc;

    assert_int_equal(profiles_build(m, &p), 0);
    rc = render_config(m, &p, &TEST_RENDER_OPTS, r);
    profiles_free(&p);
    return rc;
}

/* Every Secret is a valid pair at /c/NAME.crt and /c/NAME.key. */
static int any_secret(void *ctx, const char *ns, const char *name,
                      const char *host, char **crt, char **key, char *err,
                      size_t errlen)
{
    if (asprintf(crt, "/c/%s.crt", name) < 0 ||
        asprintf(key, "/c/%s.key", name) < 0)
        abort();
    return 0;
}

static const struct model_opts OPTS_TLS = {
    .controller_class = "portico.io/ingress-controller",
    .ingress_class = "portico",
    .cluster_domain = "cluster.local",
    .tls = {.secret = any_secret},
};

/* Loads YAML documents into a fresh store. */
static struct store *load(const char *yaml)
{
    char err[256];
    struct store *s = store_new(NULL, NULL);
    struct json_object *docs = manifest_parse(yaml, strlen(yaml), 0, err,
                                              sizeof(err));
    if (!docs)
        fail_msg("YAML: %s", err);
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        struct json_object *d = json_object_array_get_idx(docs, i);
        const char *kind = json_object_get_string(
            json_object_object_get(d, "kind"));
        enum resource_kind k = strcmp(kind, "Ingress") == 0 ? RK_INGRESS
                             : strcmp(kind, "Service") == 0 ? RK_SERVICE
                             : strcmp(kind, "Secret") == 0 ? RK_SECRET
                                                           : RK_INGRESS_CLASS;
        assert_int_equal(store_put(s, k, d), 0);
    }
    json_object_put(docs);
    return s;
}

static const char CLASS[] =
    "kind: IngressClass\nmetadata: {name: portico}\n"
    "spec: {controller: portico.io/ingress-controller}\n---\n"
    "kind: IngressClass\nmetadata: {name: other}\n"
    "spec: {controller: example.com/other}\n---\n";

static const char SVC_WEB[] =
    "kind: Service\nmetadata: {name: web, namespace: ns}\n"
    "spec: {ports: [{name: http, port: 80, targetPort: 8080}]}\n---\n";

/* An Ingress with one rule path. */
static char *ingress(const char *name, const char *created, const char *host,
                     const char *path, const char *type, const char *svc)
{
    char *s;
    if (asprintf(&s,
                 "kind: Ingress\nmetadata: {name: %s, namespace: ns, "
                 "creationTimestamp: \"%s\"}\n"
                 "spec:\n  ingressClassName: portico\n  rules:\n"
                 "  - host: \"%s\"\n    http:\n      paths:\n"
                 "      - {path: \"%s\", pathType: %s, backend: {service: "
                 "{name: %s, port: {number: 80}}}}\n---\n",
                 name, created, host, path, type, svc) < 0)
        abort();
    return s;
}

static const struct model_server *server(const struct model *m,
                                         const char *host)
{
    for (size_t i = 0; i < m->nservers; i++)
        if (strcmp(m->servers[i].host, host) == 0)
            return &m->servers[i];
    return NULL;
}

static const struct model_location *loc(const struct model_server *sv,
                                        enum loc_match match, const char *path)
{
    for (size_t i = 0; sv && i < sv->nlocs; i++)
        if (sv->locs[i].match == match && strcmp(sv->locs[i].path, path) == 0)
            return &sv->locs[i];
    return NULL;
}

static struct store *store_of(const char *a, const char *b, const char *c)
{
    char *all;
    if (asprintf(&all, "%s%s%s%s%s", CLASS, SVC_WEB, a ? a : "", b ? b : "",
                 c ? c : "") < 0)
        abort();
    struct store *s = load(all);
    free(all);
    return s;
}

static void prefix_matches_whole_path_elements(void **state)
{
    char *i = ingress("a", "2026-01-01T00:00:00Z", "x.test", "/foo.v1",
                      "Prefix", "web");
    struct store *s = store_of(i, NULL, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_server *sv = server(&m, "x.test");
    assert_non_null(sv);
    assert_non_null(loc(sv, LOC_ELEMENTS, "/foo.v1"));
    assert_int_equal(sv->nlocs, 1);
    model_free(&m);
    store_free(s);
    free(i);
}

static void prefix_trailing_slash_is_ignored_and_root_is_plain(void **state)
{
    char *a = ingress("a", "2026-01-01T00:00:00Z", "x.test", "/aaa/bbb/",
                      "Prefix", "web");
    char *b = ingress("b", "2026-01-01T00:00:00Z", "y.test", "/", "Prefix",
                      "web");
    struct store *s = store_of(a, b, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_non_null(loc(server(&m, "x.test"), LOC_ELEMENTS, "/aaa/bbb"));
    assert_int_equal(server(&m, "x.test")->nlocs, 1);
    assert_non_null(loc(server(&m, "y.test"), LOC_PREFIX, "/"));
    assert_int_equal(server(&m, "y.test")->nlocs, 1);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

static void rules_are_ordered_exact_first_then_longest(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: i, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: x.test\n"
        "    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n"
        "      - {path: /a, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n"
        "      - {path: /a/b, pathType: ImplementationSpecific, backend: {service: {name: web, port: {number: 80}}}}\n"
        "      - {path: /a/b, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}\n"
        "      - {path: /z, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}\n";
    char *all;
    assert_true(asprintf(&all, "%s%s%s", CLASS, SVC_WEB, yaml) > 0);
    struct store *s = load(all);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_server *sv = server(&m, "x.test");
    assert_int_equal(sv->nlocs, 5);
    assert_int_equal(sv->locs[0].match, LOC_EXACT);
    assert_string_equal(sv->locs[1].path, "/a/b");
    assert_int_equal(sv->locs[1].match, LOC_ELEMENTS);  /* Prefix first */
    assert_string_equal(sv->locs[2].path, "/a/b");
    assert_int_equal(sv->locs[2].match, LOC_PREFIX);
    assert_string_equal(sv->locs[3].path, "/a");
    assert_string_equal(sv->locs[4].path, "/");
    model_free(&m);
    store_free(s);
    free(all);
}

static void exact_and_implementation_specific_map_directly(void **state)
{
    char *a = ingress("a", "2026-01-01T00:00:00Z", "x.test", "/foo/", "Exact",
                      "web");
    char *b = ingress("b", "2026-01-01T00:00:00Z", "x.test", "/bar",
                      "ImplementationSpecific", "web");
    struct store *s = store_of(a, b, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_server *sv = server(&m, "x.test");
    assert_non_null(loc(sv, LOC_EXACT, "/foo/"));
    assert_non_null(loc(sv, LOC_PREFIX, "/bar"));
    assert_int_equal(sv->nlocs, 2);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

static void exact_beats_prefix_on_a_tie_even_when_younger(void **state)
{
    char *old = ingress("old", "2026-01-01T00:00:00Z", "x.test", "/foo",
                        "Prefix", "web");
    char *young = ingress("young", "2026-06-01T00:00:00Z", "x.test", "/foo",
                          "Exact", "web");
    struct store *s = store_of(old, young, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_server *sv = server(&m, "x.test");
    /* nginx takes "= /foo" before any regex: Exact wins for "/foo", the
     * Prefix rule still serves "/foo/..." */
    const struct model_location *l = loc(sv, LOC_EXACT, "/foo");
    assert_non_null(l);
    assert_string_equal(m.ings[l->ingress].name, "young");
    l = loc(sv, LOC_ELEMENTS, "/foo");
    assert_non_null(l);
    assert_string_equal(m.ings[l->ingress].name, "old");
    model_free(&m);
    store_free(s);
    free(old);
    free(young);
}

static void oldest_ingress_wins_a_conflict_whatever_its_name(void **state)
{
    /* "zzz" is older than "aaa": age decides, not the name. */
    char *a = ingress("aaa", "2026-03-01T00:00:00Z", "x.test", "/p", "Prefix",
                      "web");
    char *z = ingress("zzz", "2026-02-01T00:00:00Z", "x.test", "/p", "Prefix",
                      "other");
    struct store *s = store_of(a, z, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_location *l =
        loc(server(&m, "x.test"), LOC_ELEMENTS, "/p");
    assert_non_null(l);
    assert_string_equal(m.ings[l->ingress].name, "zzz");
    assert_string_equal(m.ings[0].name, "zzz");
    model_free(&m);
    store_free(s);
    free(a);
    free(z);
}

static void same_age_conflicts_go_to_namespace_then_name_order(void **state)
{
    char *b = ingress("b", "2026-03-01T00:00:00Z", "x.test", "/p", "Exact",
                      "web");
    char *a = ingress("a", "2026-03-01T00:00:00Z", "x.test", "/p", "Exact",
                      "other");
    struct store *s = store_of(b, a, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    const struct model_location *l = loc(server(&m, "x.test"), LOC_EXACT, "/p");
    assert_string_equal(m.ings[l->ingress].name, "a");
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

static void paths_of_one_host_merge_across_ingresses(void **state)
{
    char *a = ingress("a", "2026-01-01T00:00:00Z", "x.test", "/a", "Exact",
                      "web");
    char *b = ingress("b", "2026-01-02T00:00:00Z", "x.test", "/b", "Exact",
                      "web");
    struct store *s = store_of(a, b, NULL);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(m.nservers, 1);
    assert_int_equal(server(&m, "x.test")->nlocs, 2);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

static void one_invalid_ingress_is_rejected_and_others_served(void **state)
{
    char *good = ingress("good", "2026-01-01T00:00:00Z", "x.test", "/ok",
                         "Exact", "web");
    char *bad = ingress("bad", "2026-01-01T00:00:00Z", "y.test",
                        "/x;} server { listen 1; }", "Prefix", "web");
    char *badhost = ingress("badhost", "2026-01-01T00:00:00Z",
                            "evil.test\\r\\nhost", "/", "Prefix", "web");
    struct store *s = store_of(good, bad, badhost);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(model_count_state(&m, ING_SERVED), 1);
    assert_int_equal(model_count_state(&m, ING_REJECTED), 2);
    assert_int_equal(m.nservers, 1);
    assert_non_null(server(&m, "x.test"));
    for (size_t i = 0; i < m.ning; i++)
        if (m.ings[i].state == ING_REJECTED)
            assert_non_null(strstr(m.ings[i].reason, "invalid"));
    model_free(&m);
    store_free(s);
    free(good);
    free(bad);
    free(badhost);
}

static void ingress_class_selection_follows_the_spec(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: by-class, namespace: ns}\n"
        "spec: {ingressClassName: portico}\n---\n"
        "kind: Ingress\nmetadata: {name: other-class, namespace: ns}\n"
        "spec: {ingressClassName: other}\n---\n"
        "kind: Ingress\nmetadata: {name: unknown-class, namespace: ns}\n"
        "spec: {ingressClassName: nope}\n---\n"
        "kind: Ingress\nmetadata: {name: legacy, namespace: ns, annotations: "
        "{kubernetes.io/ingress.class: portico}}\nspec: {}\n---\n"
        "kind: Ingress\nmetadata: {name: legacy-other, namespace: ns, "
        "annotations: {kubernetes.io/ingress.class: nginx}}\nspec: {}\n---\n"
        "kind: Ingress\nmetadata: {name: classless, namespace: ns}\nspec: {}\n";
    char *all;
    assert_true(asprintf(&all, "%s%s", CLASS, yaml) > 0);
    struct store *s = load(all);
    struct model_opts o = TEST_MODEL_OPTS;
    const char *want[] = {"by-class", "legacy"};
    struct model m;

    assert_int_equal(model_build(&m, s, &o), 0);
    assert_int_equal(m.ning, 2);
    for (size_t i = 0; i < m.ning; i++)
        assert_true(strcmp(m.ings[i].name, want[0]) == 0 ||
                    strcmp(m.ings[i].name, want[1]) == 0);
    model_free(&m);

    o.watch_without_class = 1;
    assert_int_equal(model_build(&m, s, &o), 0);
    assert_int_equal(m.ning, 3);
    model_free(&m);
    store_free(s);
    free(all);

    /* Our IngressClass marked default also takes class-less Ingresses. */
    assert_true(asprintf(&all,
        "kind: IngressClass\nmetadata: {name: portico, annotations: "
        "{ingressclass.kubernetes.io/is-default-class: \"true\"}}\n"
        "spec: {controller: portico.io/ingress-controller}\n---\n%s",
        yaml) > 0);
    s = load(all);
    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(m.ning, 3);
    model_free(&m);
    store_free(s);
    free(all);
}

static const char SERVICES[] =
    "kind: Service\nmetadata: {name: named, namespace: ns}\n"
    "spec: {ports: [{name: web, port: 8080, targetPort: 9000}]}\n---\n"
    "kind: Service\nmetadata: {name: headless, namespace: ns}\n"
    "spec: {clusterIP: None, ports: [{name: web, port: 80, targetPort: 9090}]}\n---\n"
    "kind: Service\nmetadata: {name: ext, namespace: ns}\n"
    "spec: {type: ExternalName, externalName: db.example.org.}\n---\n";

/* The resolve_server target of the upstream whose name ends in suffix. */
static const char *upstream_server(const struct model *m, const char *suffix)
{
    for (size_t i = 0; i < m->nups; i++) {
        size_t n = strlen(m->ups[i].name), k = strlen(suffix);
        if (n > k && strcmp(m->ups[i].name + n - k, suffix) == 0)
            return m->ups[i].server;
    }
    return "(none)";
}

static void service_ports_resolve_by_name_headless_and_external(void **state)
{
    static const char ing[] =
        "kind: Ingress\nmetadata: {name: i, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: x.test\n"
        "    http:\n      paths:\n"
        "      - {path: /a, pathType: Exact, backend: {service: {name: named, port: {name: web}}}}\n"
        "      - {path: /b, pathType: Exact, backend: {service: {name: headless, port: {number: 80}}}}\n"
        "      - {path: /c, pathType: Exact, backend: {service: {name: ext, port: {number: 5432}}}}\n"
        "      - {path: /d, pathType: Exact, backend: {service: {name: missing, port: {number: 80}}}}\n"
        "      - {path: /e, pathType: Exact, backend: {service: {name: named, port: {name: nope}}}}\n";
    char *all;
    assert_true(asprintf(&all, "%s%s%s", CLASS, SERVICES, ing) > 0);
    struct store *s = load(all);
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(m.nups, 3);
    assert_string_equal(upstream_server(&m, "_ns_ext_5432"),
                        "db.example.org:5432");
    assert_string_equal(upstream_server(&m, "_ns_headless_9090"),
                        "headless.ns.svc.cluster.local:9090");
    assert_string_equal(upstream_server(&m, "_ns_named_8080"),
                        "named.ns.svc.cluster.local:8080");
    for (size_t i = 1; i < m.nups; i++)
        assert_true(strcmp(m.ups[i - 1].name, m.ups[i].name) < 0);
    const struct model_server *sv = server(&m, "x.test");
    assert_null(loc(sv, LOC_EXACT, "/d")->upstream);    /* 503 */
    assert_null(loc(sv, LOC_EXACT, "/e")->upstream);    /* 503 */
    assert_int_equal(m.nwarnings, 2);
    model_free(&m);
    store_free(s);
    free(all);
}

/* An Ingress with one Prefix "/" rule for host and TLS from Secret
 * "tls-NAME" for it. */
static char *tls_ingress(const char *name, const char *host)
{
    char *s;
    if (asprintf(&s,
                 "kind: Ingress\nmetadata: {name: %s, namespace: ns, "
                 "creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
                 "spec:\n  ingressClassName: portico\n"
                 "  tls: [{hosts: [\"%s\"], secretName: tls-%s}]\n"
                 "  rules:\n  - host: \"%s\"\n    http:\n      paths:\n"
                 "      - {path: /, pathType: Prefix, backend: {service: "
                 "{name: web, port: {number: 80}}}}\n---\n",
                 name, host, name, host) < 0)
        abort();
    return s;
}

/* The pair of host h: /c/tls-NAME.crt with the key of another stem. */
static int split_secret(void *ctx, const char *ns, const char *name,
                        const char *host, char **crt, char **key, char *err,
                        size_t errlen)
{
    if (asprintf(crt, "/c/%s.crt", name) < 0 ||
        asprintf(key, "/c/other-%s.key", name) < 0)
        abort();
    return 0;
}

static void certificate_table_names_each_host_with_its_pair(void **state)
{
    char *w = tls_ingress("w", "*.foo.com");
    char *a = tls_ingress("a", "secure.test");
    char *b = ingress("b", "2026-01-01T00:00:00Z", "plain.test", "/x",
                      "Prefix", "web");
    struct store *s = store_of(w, a, b);
    struct model m;
    struct certtable_result c;
    char want[256];

    assert_int_equal(model_build(&m, s, &OPTS_TLS), 0);
    assert_int_equal(certtable_render(&m, &c), 0);
    /* hosts in the model's order; the stem is the files' name */
    snprintf(want, sizeof(want), "portico-certificates 1\nversion %s\n"
             "host *.foo.com tls-w\nhost secure.test tls-a\n", c.version);
    assert_string_equal(c.t.text.data, want);
    assert_int_equal(c.nhosts, 2);
    assert_int_equal(strlen(c.version), CERTTABLE_VERSION_LEN);
    /* every line names the Ingress that made it (nginx -t errors) */
    assert_int_equal(ownedtext_owner(&c.t, 1), OWNER_NONE);
    assert_string_equal(m.ings[ownedtext_owner(&c.t, 4)].name, "a");
    certtable_result_free(&c);
    model_free(&m);

    /* a pair whose files are not DIR/STEM.crt and .key is left out */
    struct model_opts split = OPTS_TLS;
    split.tls.secret = split_secret;
    assert_int_equal(model_build(&m, s, &split), 0);
    assert_int_equal(certtable_render(&m, &c), 0);
    assert_int_equal(c.nhosts, 0);
    assert_null(strstr(c.t.text.data, "host "));
    certtable_result_free(&c);
    model_free(&m);
    store_free(s);
    free(w);
    free(a);
    free(b);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static void tls_hosts_get_no_server_block_of_their_own(void **state)
{
    char *a = tls_ingress("a", "secure.test");
    char *b = ingress("b", "2026-01-01T00:00:00Z", "plain.test", "/x",
                      "Prefix", "web");
    struct store *s = store_of(a, b, NULL);
    struct model m;
    struct render_result r;

    assert_int_equal(model_build(&m, s, &OPTS_TLS), 0);
    assert_int_equal(render(&m, &r), 0);
    const char *t = r.t.text.data;
    assert_null(strstr(t, "secure.test"));
    assert_null(strstr(t, "tls-a"));
    assert_null(strstr(t, "plain.test"));
    assert_null(strstr(t, "/x"));
    /* the default server and the status server */
    assert_int_equal(count(t, "server {"), 2);
    assert_int_equal(count(t, "location / { portico_route; proxy_pass "
                              "http://portico_dispatch; }"), 1);
    /* the default server takes each host's certificate from the table */
    assert_non_null(strstr(t, "    ssl_certificate \"/p/d.crt\";\n"
                              "    ssl_certificate_key \"/p/d.key\";\n"
                              "    portico_certificate_by_sni;\n"));
    assert_non_null(strstr(t, "portico_certificates certificates "
                              "\"dir=/c\";\n"));
    assert_non_null(strstr(t, "location = /certificates-version { "
                              "portico_certificates_status; }"));
    /* the upstreams are the table's: their zone and the dispatch with the
     * one keepalive cache, no upstream block per Service */
    assert_non_null(strstr(t, "upstream portico_dispatch { portico_dispatch; "
                              "keepalive 32; }"));
    assert_int_equal(count(t, "\nupstream "), 1);
    assert_null(strstr(t, "resolve_server"));
    assert_non_null(strstr(t, "resolve_upstreams zone=32m ttl="));
    assert_non_null(strstr(t, "/state/upstreams\";"));
    assert_non_null(strstr(t, "location = /upstreams-state { "
                              "resolve_upstreams_status; }"));
    assert_non_null(strstr(t, "portico_routes routes config="));
    assert_non_null(strstr(t, "location = /routes-version { "
                              "portico_routes_status; }"));
    render_result_free(&r);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

static void render_is_byte_identical_whatever_the_input_order(void **state)
{
    char *a = ingress("a", "2026-01-01T00:00:00Z", "a.test", "/a", "Prefix",
                      "web");
    char *b = ingress("b", "2026-01-02T00:00:00Z", "b.test", "/b", "Exact",
                      "other");
    char *c = tls_ingress("c", "c.test");
    struct store *s1 = store_of(a, b, c), *s2 = store_of(c, b, a);
    struct model m1, m2;
    struct render_result r1, r2;

    assert_int_equal(model_build(&m1, s1, &OPTS_TLS), 0);
    assert_int_equal(model_build(&m2, s2, &OPTS_TLS), 0);
    assert_int_equal(render(&m1, &r1), 0);
    assert_int_equal(render(&m2, &r2), 0);
    assert_int_equal(r1.t.text.len, r2.t.text.len);
    assert_memory_equal(r1.t.text.data, r2.t.text.data, r1.t.text.len);
    assert_string_equal(r1.hash, r2.hash);
    struct certtable_result c1, c2;
    assert_int_equal(certtable_render(&m1, &c1), 0);
    assert_int_equal(certtable_render(&m2, &c2), 0);
    assert_string_equal(c1.t.text.data, c2.t.text.data);
    certtable_result_free(&c2);
    /* A TLS host less: the same nginx.conf, another certificate table. */
    store_remove(s2, RK_INGRESS, "ns", "c");
    model_free(&m2);
    render_result_free(&r2);
    assert_int_equal(model_build(&m2, s2, &OPTS_TLS), 0);
    assert_int_equal(render(&m2, &r2), 0);
    assert_int_equal(certtable_render(&m2, &c2), 0);
    assert_string_equal(r1.hash, r2.hash);
    assert_string_not_equal(c1.version, c2.version);
    certtable_result_free(&c1);
    certtable_result_free(&c2);
    render_result_free(&r1);
    render_result_free(&r2);
    model_free(&m1);
    model_free(&m2);
    store_free(s1);
    store_free(s2);
    free(a);
    free(b);
    free(c);
}

static void a_path_change_leaves_nginx_conf_unchanged(void **state)
{
    char *a = ingress("a", "2026-01-01T00:00:00Z", "a.test", "/a", "Prefix",
                      "web");
    char *a2 = ingress("a", "2026-01-01T00:00:00Z", "a.test", "/changed",
                       "Exact", "web");
    char *b = ingress("b", "2026-01-01T00:00:00Z", "new-host.test", "/b",
                      "Prefix", "web");
    struct store *s1 = store_of(a, NULL, NULL), *s2 = store_of(a2, b, NULL);
    struct model m1, m2;
    struct render_result r1, r2;

    assert_int_equal(model_build(&m1, s1, &TEST_MODEL_OPTS), 0);
    assert_int_equal(model_build(&m2, s2, &TEST_MODEL_OPTS), 0);
    assert_int_equal(render(&m1, &r1), 0);
    assert_int_equal(render(&m2, &r2), 0);
    assert_string_equal(r1.hash, r2.hash);
    render_result_free(&r1);
    render_result_free(&r2);
    model_free(&m1);
    model_free(&m2);
    store_free(s1);
    store_free(s2);
    free(a);
    free(a2);
    free(b);
}

/* An Ingress with one rule and annotations (YAML flow map body). */
static char *annotated(const char *name, const char *created,
                       const char *host, const char *annotations)
{
    char *s;
    if (asprintf(&s,
                 "kind: Ingress\nmetadata: {name: %s, namespace: ns, "
                 "creationTimestamp: \"%s\", annotations: {%s}}\n"
                 "spec:\n  ingressClassName: portico\n  rules:\n"
                 "  - host: \"%s\"\n    http:\n      paths:\n"
                 "      - {path: /, pathType: Prefix, backend: {service: "
                 "{name: web, port: {number: 80}}}}\n---\n",
                 name, created, annotations, host) < 0)
        abort();
    return s;
}

/* Every CA Secret is /c/ca-NAME.ca, except "broken". */
static int some_ca(void *ctx, const char *ns, const char *name, char **path,
                   char *err, size_t errlen)
{
    if (strcmp(name, "broken") == 0) {
        snprintf(err, errlen, "ca.crt holds no PEM certificate");
        return -1;
    }
    if (asprintf(path, "/c/ca-%s.ca", name) < 0)
        abort();
    return 0;
}

static void client_certificates_belong_to_the_host_and_disagreeing_ingresses_are_refused(
    void **state)
{
    /* a: the host's settings (and its alias's); b: the same host, other
     * settings, newer: refused; c: y.test's settings from a broken CA:
     * refused, and d, which serves y.test too, is then denied. */
    char *a = annotated("a", "2026-01-01T00:00:00Z", "x.test",
                        "nginx.ingress.kubernetes.io/auth-tls-secret: ns/ca1, "
                        "portico.io/auth-tls-match-cn: \"CN=John Doe%\", "
                        "portico.io/auth-tls-verify-depth: \"0\", "
                        "portico.io/server-alias: alias.test");
    char *b = annotated("b", "2026-02-01T00:00:00Z", "x.test",
                        "portico.io/auth-tls-secret: ca1, "
                        "portico.io/auth-tls-verify-client: optional");
    char *c = annotated("c", "2026-01-01T00:00:00Z", "y.test",
                        "portico.io/auth-tls-secret: broken");
    char *d = annotated("d", "2026-03-01T00:00:00Z", "y.test", "");
    char *all;
    struct model m;
    struct certtable_result t;
    struct model_opts o = OPTS_TLS;
    char want[512];

    if (asprintf(&all, "%s%s", c, d) < 0)
        abort();
    struct store *s = store_of(a, b, all);
    o.tls.ca = some_ca;
    assert_int_equal(model_build(&m, s, &o), 0);
    assert_int_equal(m.ings[0].state, ING_SERVED);              /* a */
    assert_int_equal(m.ings[1].state, ING_REJECTED);            /* c */
    assert_string_equal(m.ings[1].reason, "auth-tls-secret ns/broken: "
                        "ca.crt holds no PEM certificate");
    assert_int_equal(m.ings[2].state, ING_REJECTED);            /* b */
    assert_string_equal(m.ings[2].reason,
                        "host x.test already has other client certificate "
                        "settings (auth-tls-*) from the older Ingress ns/a: "
                        "every Ingress of a host must ask for the same ones");
    assert_int_equal(m.ings[3].state, ING_SERVED);              /* d */
    assert_int_equal(certtable_render(&m, &t), 0);
    /* no certificate of their own: the default ("-"); the regex's space
     * and '%' encoded; depth 0 is ingress-nginx's default, 1 */
    snprintf(want, sizeof(want), "portico-certificates 1\nversion %s\n"
             "host alias.test - ca=ca-ca1 verify=on depth=1 "
             "cn=CN=John%%20Doe%%25\n"
             "host x.test - ca=ca-ca1 verify=on depth=1 "
             "cn=CN=John%%20Doe%%25\n"
             "host y.test - verify=deny\n", t.version);
    assert_string_equal(t.t.text.data, want);
    certtable_result_free(&t);
    model_free(&m);
    store_free(s);

    /* without b and c, d serves y.test unverified */
    s = store_of(a, d, NULL);
    assert_int_equal(model_build(&m, s, &o), 0);
    assert_int_equal(certtable_render(&m, &t), 0);
    assert_null(strstr(t.t.text.data, "y.test"));
    assert_int_equal(t.nhosts, 2);
    certtable_result_free(&t);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
    free(c);
    free(d);
    free(all);
}

static void profile_lines_are_traced_to_their_oldest_ingress(void **state)
{
    /* b and c share one option set: one named location, owned by the
     * older (c); a has another. */
    char *a = annotated("a", "2026-01-01T00:00:00Z", "a.test",
                        "portico.io/proxy-read-timeout: 5s");
    char *b = annotated("b", "2026-03-01T00:00:00Z", "b.test",
                        "portico.io/proxy-body-size: 999999999999g");
    char *c = annotated("c", "2026-02-01T00:00:00Z", "c.test",
                        "portico.io/proxy-body-size: 999999999999g");
    struct store *s = store_of(a, b, c);
    struct model m;
    struct render_result r;
    char out[256];

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(render(&m, &r), 0);
    assert_int_equal(count(r.t.text.data, "location @portico_p"), 2);
    assert_int_equal(count(r.t.text.data, "proxy_read_timeout \"5s\";"), 1);
    /* Find the line number of the body size and check its owner. */
    const char *at = strstr(r.t.text.data, "client_max_body_size \"9999");
    assert_non_null(at);
    size_t line = 1;
    for (const char *p = r.t.text.data; p < at; p++)
        line += *p == '\n';
    assert_string_equal(m.ings[ownedtext_owner(&r.t, line)].name, "c");
    snprintf(out, sizeof(out),
             "nginx: [emerg] \"client_max_body_size\" directive invalid value "
             "in /p/candidate/nginx.conf:%zu\n"
             "nginx: configuration file /p/candidate/nginx.conf test failed\n",
             line);
    assert_int_equal(ownedtext_error_line(out, "/p/candidate/nginx.conf"),
                     line);
    assert_int_equal(ownedtext_error_line(out, "/p/candidate/routes"), 0);
    /* Shared lines have no owner. */
    assert_int_equal(ownedtext_owner(&r.t, 1), OWNER_NONE);
    assert_int_equal(ownedtext_owner(&r.t, r.t.nlines + 1), OWNER_NONE);
    render_result_free(&r);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
    free(c);
}

/* nginx's keepalive cache finds a connection by address alone: a TLS or
 * gRPC profile passes to a dispatch upstream of its own, plain HTTP ones to
 * the shared one, and no Service's upstream keeps connections. */
static void tls_and_grpc_profiles_get_keepalive_caches_of_their_own(
    void **state)
{
    char *tls = annotated("tls", "2026-01-01T00:00:00Z", "tls.test",
                          "nginx.ingress.kubernetes.io/backend-protocol: "
                          "HTTPS");
    char *verify = annotated("verify", "2026-01-02T00:00:00Z", "verify.test",
                             "nginx.ingress.kubernetes.io/backend-protocol: "
                             "HTTPS, nginx.ingress.kubernetes.io/"
                             "proxy-ssl-verify: \"on\"");
    char *plain = annotated("plain", "2026-01-03T00:00:00Z", "plain.test",
                            "portico.io/proxy-read-timeout: 5s");
    struct store *s = store_of(tls, verify, plain);
    struct model m;
    struct render_result r;
    struct profiles p;
    char name[PROFILE_DISPATCH_MAX];

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(render(&m, &r), 0);
    const char *t = r.t.text.data;
    assert_int_equal(count(t, "{ portico_dispatch; keepalive 32; }"), 3);
    assert_int_equal(count(t, " keepalive "), 3);
    assert_int_equal(count(t, "proxy_pass http://portico_dispatch; }"), 2);
    assert_int_equal(count(t, "proxy_pass https://portico_dispatch_p"), 2);
    assert_int_equal(profiles_build(&m, &p), 0);
    assert_int_equal(p.n, 3);
    for (size_t i = 0; i < p.n; i++) {
        const char *owner = m.ings[p.list[i].owner].name;
        int own = profiles_dispatch(&m, &p, i, "portico_dispatch", name);
        char line[256];

        assert_int_equal(own, strcmp(owner, "plain") != 0);
        snprintf(line, sizeof(line), "upstream %s { portico_dispatch;", name);
        assert_int_equal(count(t, line), 1);
        snprintf(line, sizeof(line), "://%s; }", name);
        assert_int_equal(count(t, line), own ? 1 : 2);
    }
    profiles_free(&p);
    render_result_free(&r);
    model_free(&m);
    store_free(s);
    free(tls);
    free(verify);
    free(plain);
}

static void annotations_refuse_or_are_noticed_and_render_under_both_prefixes(
    void **state)
{
    char *open_ = annotated("open", "2026-01-01T00:00:00Z", "open.test",
                            "nginx.ingress.kubernetes.io/proxy-read-timeout: "
                            "\"120\", portico.io/proxy-body-szie: 8m");
    char *guarded = annotated("guarded", "2026-01-01T00:00:00Z",
                              "guarded.test",
                              "nginx.ingress.kubernetes.io/"
                              "satisfy: any");
    char *snippet = annotated("snippet", "2026-01-01T00:00:00Z",
                              "snippet.test",
                              "nginx.ingress.kubernetes.io/server-snippet: "
                              "\"return 200;\"");
    struct store *s = store_of(open_, guarded, snippet);
    struct model m;
    struct render_result r;
    struct model_opts allow = TEST_MODEL_OPTS;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    for (size_t i = 0; i < m.ning; i++) {
        const struct model_ingress *mi = &m.ings[i];
        if (strcmp(mi->name, "open") == 0) {
            assert_int_equal(mi->state, ING_SERVED);
            assert_non_null(strstr(mi->notice,
                                   "portico.io/proxy-body-szie (unknown"));
        } else {
            assert_int_equal(mi->state, ING_REJECTED);
            assert_null(mi->notice);
            assert_non_null(strstr(mi->reason, strcmp(mi->name, "guarded")
                                ? "/server-snippet: raw nginx"
                                : "/satisfy: combining access"));
        }
    }
    assert_int_equal(render(&m, &r), 0);
    assert_int_equal(count(r.t.text.data, "proxy_read_timeout \"120\";"), 1);
    assert_null(strstr(r.t.text.data, "return 200;"));
    render_result_free(&r);
    model_free(&m);

    /* The operator's flag serves the guarded one, noticed; never the
     * snippet. */
    allow.annotations.allow_unenforced_access = 1;
    assert_int_equal(model_build(&m, s, &allow), 0);
    assert_int_equal(model_count_state(&m, ING_SERVED), 2);
    for (size_t i = 0; i < m.ning; i++)
        if (strcmp(m.ings[i].name, "guarded") == 0)
            assert_non_null(strstr(m.ings[i].notice, "NOT ENFORCED"));
    model_free(&m);
    store_free(s);
    free(open_);
    free(guarded);
    free(snippet);
}

/* server-alias copies the host's section and from-to-www-redirect adds a
 * twin's: each owns its strings and names the Service of its rule, so the
 * model frees cleanly (ASan) and the route table labels their requests. */
static void aliases_and_www_twins_own_their_rules_and_name_the_service(
    void **state)
{
    char *a = annotated("a", "2026-01-01T00:00:00Z", "main.test",
                        "nginx.ingress.kubernetes.io/server-alias: "
                        "\"www.main.test, main.example\", "
                        "nginx.ingress.kubernetes.io/from-to-www-redirect: "
                        "\"true\"");
    char *b = annotated("b", "2026-01-02T00:00:00Z", "shop.test",
                        "nginx.ingress.kubernetes.io/from-to-www-redirect: "
                        "\"true\"");
    struct store *s = store_of(a, b, NULL);
    const struct model_server *sv;
    struct model m;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(model_count_state(&m, ING_SERVED), 2);
    /* main.test's twin is an alias, a host of its own: no twin there. */
    assert_int_equal(m.nservers, 5);
    for (size_t i = 0; i < m.nservers; i++) {
        sv = &m.servers[i];
        assert_int_equal(sv->nlocs, 1);
        assert_string_equal(sv->locs[0].path, "/");
        assert_string_equal(sv->locs[0].service, "web");
    }
    sv = server(&m, "main.example");
    assert_non_null(sv);
    assert_ptr_not_equal(sv->locs[0].service,
                         server(&m, "main.test")->locs[0].service);
    assert_ptr_not_equal(sv->locs[0].path,
                         server(&m, "main.test")->locs[0].path);
    assert_non_null(server(&m, "www.main.test"));
    assert_non_null(server(&m, "www.shop.test"));
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
}

/* A canary Ingress serves no location of its own: its path becomes the
 * canary of the same host and path of the other Ingresses, even when it
 * is older than them, and an alias of that host copies it; a canary with
 * no such location is left out with a warning; the model frees cleanly. */
static void a_canary_ingress_attaches_to_the_same_host_and_path(void **state)
{
    char *a = annotated("a", "2026-01-01T00:00:00Z", "main.test",
                        "nginx.ingress.kubernetes.io/server-alias: "
                        "main.example");
    char *b = annotated("b", "2025-12-01T00:00:00Z", "main.test",
                        "nginx.ingress.kubernetes.io/canary: \"true\", "
                        "nginx.ingress.kubernetes.io/canary-weight: \"10\"");
    char *c = annotated("c", "2026-01-02T00:00:00Z", "lone.test",
                        "nginx.ingress.kubernetes.io/canary: \"true\"");
    struct store *s = store_of(a, b, c);
    const struct model_server *sv;
    struct model m;
    int warned = 0;

    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(model_count_state(&m, ING_SERVED), 3);
    assert_null(server(&m, "lone.test"));
    sv = server(&m, "main.test");
    assert_non_null(sv);
    assert_int_equal(sv->nlocs, 1);
    assert_true(sv->locs[0].has_canary);
    assert_non_null(sv->locs[0].canary);
    assert_string_equal(m.ings[sv->locs[0].canary_ingress].name, "b");
    assert_string_equal(m.ings[sv->locs[0].ingress].name, "a");
    sv = server(&m, "main.example");
    assert_non_null(sv);
    assert_true(sv->locs[0].has_canary);
    for (size_t i = 0; i < m.nwarnings; i++)
        warned += strstr(m.warnings[i], "ingress ns/c: canary of / on host "
                         "lone.test left out: no other Ingress") != NULL;
    assert_int_equal(warned, 1);
    model_free(&m);
    store_free(s);
    free(a);
    free(b);
    free(c);
}

static void size_per_ingress_stays_under_one_kilobyte(void **state)
{
    struct buf all;
    struct model m;
    struct render_result r0, r1;
    enum { N = 200 };

    buf_init(&all);
    buf_puts(&all, CLASS);
    for (int i = 0; i < N; i++)
        buf_printf(&all,
            "kind: Service\nmetadata: {name: svc-%d, namespace: bench}\n"
            "spec: {ports: [{name: http, port: 80}]}\n---\n"
            "kind: Ingress\nmetadata: {name: ing-%d, namespace: bench}\n"
            "spec:\n  ingressClassName: portico\n  rules:\n"
            "  - host: host-%d.bench.example.com\n    http:\n      paths:\n"
            "      - {path: /api, pathType: Prefix, backend: {service: {name: svc-%d, port: {number: 80}}}}\n"
            "      - {path: /static, pathType: Prefix, backend: {service: {name: svc-%d, port: {number: 80}}}}\n---\n",
            i, i, i, i, i);
    struct store *s = load(all.data);
    struct store *empty = load(CLASS);
    assert_int_equal(model_build(&m, empty, &TEST_MODEL_OPTS), 0);
    assert_int_equal(render(&m, &r0), 0);
    model_free(&m);
    assert_int_equal(model_build(&m, s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(render(&m, &r1), 0);
    size_t per = (r1.t.text.len - r0.t.text.len) / N;
    print_message("config bytes per Ingress: %zu\n", per);
    assert_true(per <= 1024);
    render_result_free(&r0);
    render_result_free(&r1);
    model_free(&m);
    store_free(s);
    store_free(empty);
    buf_free(&all);
}

/* ---- the cache of builds ------------------------------------------------ */

/* Everything a model gives nginx and the publisher, as one text. */
static char *model_text(const struct model *m)
{
    struct profiles p;
    struct render_result r;
    struct routes_result rt;
    struct certtable_result ct;
    struct buf b;

    buf_init(&b);
    assert_int_equal(profiles_build(m, &p), 0);
    assert_int_equal(render_config(m, &p, &TEST_RENDER_OPTS, &r), 0);
    assert_int_equal(routes_render(m, &p, 443, &rt), 0);
    assert_int_equal(certtable_render(m, &ct), 0);
    buf_printf(&b, "%s\n%s\n%s\n", r.t.text.data, rt.t.text.data,
               ct.t.text.data);
    for (size_t i = 0; i < m->ning; i++) {
        const struct model_ingress *mi = &m->ings[i];
        buf_printf(&b, "ingress %s/%s %s %s %s hosts", mi->ns, mi->name,
                   ingress_state_name(mi->state),
                   mi->reason ? mi->reason : "-",
                   mi->notice ? mi->notice : "-");
        for (size_t j = 0; j < mi->nhosts; j++)
            buf_printf(&b, " %s", mi->hosts[j]);
        buf_printf(&b, " auth %s ann %zu/%zu\n",
                   mi->auth_file ? mi->auth_file : "-", mi->ann.nvalues,
                   mi->ann.nfindings);
    }
    for (size_t i = 0; i < m->nwarnings; i++)
        buf_printf(&b, "warning %s\n", m->warnings[i]);
    for (size_t i = 0; i < m->nups; i++)
        buf_printf(&b, "upstream %s %s owner %zu\n", m->ups[i].name,
                   m->ups[i].server, m->ups[i].owner);
    for (size_t i = 0; i < m->nvault; i++)
        buf_printf(&b, "vault %s\n", m->vault_hosts[i]);
    buf_printf(&b, "vault digest %llx\n",
               (unsigned long long)m->vault_digest);
    profiles_free(&p);
    render_result_free(&r);
    routes_result_free(&rt);
    certtable_result_free(&ct);
    return b.data;
}

/* Each password file read counts; its path names the count. */
static int htpasswd_reads;

static int fake_htpasswd(void *ctx, const char *ns, const char *name,
                         int map, char **path, char *err, size_t errlen)
{
    htpasswd_reads++;
    if (strcmp(name, "missing") == 0) {
        snprintf(err, errlen, "Secret %s/%s not found", ns, name);
        return -1;
    }
    if (asprintf(path, "/p/auth/%s-%s", ns, name) < 0)
        abort();
    return 0;
}

static int excluded_b3(void *ctx, const char *ns, const char *name,
                       uint64_t content_hash, const char **reason)
{
    *reason = "nginx -t failed: test";
    return *(int *)ctx && strcmp(name, "b3") == 0;
}

/* Puts one YAML document into s. */
static void put(struct store *s, const char *yaml)
{
    char err[256];
    struct json_object *docs = manifest_parse(yaml, strlen(yaml), 0, err,
                                              sizeof(err));
    if (!docs)
        fail_msg("YAML: %s", err);
    struct json_object *d = json_object_array_get_idx(docs, 0);
    const char *kind = json_object_get_string(json_object_object_get(d,
                                                                     "kind"));
    enum resource_kind k = strcmp(kind, "Ingress") == 0 ? RK_INGRESS
                         : strcmp(kind, "Service") == 0 ? RK_SERVICE
                         : strcmp(kind, "Secret") == 0 ? RK_SECRET
                                                       : RK_INGRESS_CLASS;
    assert_int_equal(store_put(s, k, d), 0);
    json_object_put(docs);
}

static void a_cached_build_equals_a_fresh_one_change_after_change(
    void **state)
{
    static const char *const start[] = {
        "kind: IngressClass\nmetadata: {name: other}\n"
        "spec: {controller: example.com/other}\n",
        "kind: Service\nmetadata: {name: api, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 8080}]}\n",
        "kind: Service\nmetadata: {name: hl, namespace: ns}\n"
        "spec: {clusterIP: None, ports: [{name: web, port: 80, "
        "targetPort: 9090}]}\n",
        "kind: Service\nmetadata: {name: ext, namespace: ns}\n"
        "spec: {type: ExternalName, externalName: db.example.org.}\n",
        "kind: Ingress\nmetadata: {name: a1, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\", labels: {ssl: \"true\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: web, port: {name: http}}}\n"
        "  tls: [{hosts: [a.test], secretName: tls-a}]\n"
        "  rules:\n  - host: a.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n"
        "      - {path: /api, pathType: Exact, backend: {service: {name: api, "
        "port: {name: http}}}}\n",
        "kind: Ingress\nmetadata: {name: b2, namespace: ns, "
        "creationTimestamp: \"2026-01-02T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: a.test\n    http:\n      paths:\n"
        "      - {path: /api, pathType: Prefix, backend: {service: {name: hl, "
        "port: {number: 80}}}}\n"
        "  - host: b.test\n    http:\n      paths:\n"
        "      - {path: /db, pathType: ImplementationSpecific, backend: "
        "{service: {name: ext, port: {number: 5432}}}}\n",
        "kind: Ingress\nmetadata: {name: b3, namespace: ns, "
        "creationTimestamp: \"2026-01-03T00:00:00Z\", annotations: "
        "{nginx.ingress.kubernetes.io/auth-type: basic, "
        "nginx.ingress.kubernetes.io/auth-secret: users}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: c.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n",
        "kind: Ingress\nmetadata: {name: c4, namespace: ns, "
        "creationTimestamp: \"2026-01-04T00:00:00Z\", annotations: "
        "{nginx.ingress.kubernetes.io/server-snippet: \"return 200;\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: d.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n",
        "kind: Ingress\nmetadata: {name: d5, namespace: ns, "
        "creationTimestamp: \"2026-01-05T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: other\n"
        "  rules:\n  - host: e.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n",
        "kind: Ingress\nmetadata: {name: f8, namespace: ns, "
        "creationTimestamp: \"2026-01-07T00:00:00Z\", annotations: "
        "{nginx.ingress.kubernetes.io/server-alias: \"www.g.test, g.example\", "
        "nginx.ingress.kubernetes.io/from-to-www-redirect: \"true\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: api, port: {name: http}}}\n"
        "  rules:\n  - host: g.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n",
        "kind: Ingress\nmetadata: {name: e6, namespace: ns, "
        "creationTimestamp: \"2026-01-06T00:00:00Z\", annotations: "
        "{kubernetes.io/ingress.class: portico}}\n"
        "spec:\n  rules:\n  - host: f.test\n    http:\n      paths:\n"
        "      - {path: /f, pathType: Prefix, backend: {service: {name: "
        "missing, port: {number: 80}}}}\n",
    };
    /* Each step: a document to put, or "-KIND NAME" to remove. */
    static const char *const steps[] = {
        /* a path and a Service port of the oldest Ingress */
        "kind: Ingress\nmetadata: {name: a1, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\", labels: {ssl: \"true\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  tls: [{hosts: [a.test], secretName: tls-a}]\n"
        "  rules:\n  - host: a.test\n    http:\n      paths:\n"
        "      - {path: /v2, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n",
        /* the missing Service appears, then a port changes */
        "kind: Service\nmetadata: {name: missing, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 80}]}\n",
        "kind: Service\nmetadata: {name: api, namespace: ns}\n"
        "spec: {ports: [{name: http, port: 8081}]}\n",
        "kind: Service\nmetadata: {name: hl, namespace: ns}\n"
        "spec: {clusterIP: None, ports: [{name: web, port: 80, "
        "targetPort: web}]}\n",
        /* the other class becomes ours, then the Secret of b3 changes */
        "kind: IngressClass\nmetadata: {name: other}\n"
        "spec: {controller: portico.io/ingress-controller}\n",
        "kind: Secret\nmetadata: {name: users, namespace: ns}\n"
        "data: {auth: Zm9v}\n",
        "exclude",
        "kind: Ingress\nmetadata: {name: g7, namespace: ns, "
        "creationTimestamp: \"2025-12-31T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: b.test\n    http:\n      paths:\n"
        "      - {path: /db, pathType: ImplementationSpecific, backend: "
        "{service: {name: web, port: {number: 80}}}}\n",
        "include",
        "-Service ext",
        "-Ingress b2",
        "-IngressClass other",
        "-Ingress a1",
    };
    struct model_opts o = OPTS_TLS;
    int exclude = 0;
    struct store *s = store_new(NULL, NULL);
    struct model previous = {0};
    char *previous_text = NULL;

    o.auth.htpasswd = fake_htpasswd;
    o.excluded = excluded_b3;
    o.excluded_ctx = &exclude;
    o.cache = model_cache_new();
    assert_non_null(o.cache);
    put(s, CLASS);
    put(s, SVC_WEB);
    for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++)
        put(s, start[i]);
    for (size_t i = 0; i <= sizeof(steps) / sizeof(steps[0]); i++) {
        const char *step = i ? steps[i - 1] : NULL;
        struct model cached, fresh;
        struct model_opts uncached = o;
        char kind[32], name[64];

        if (step && strcmp(step, "exclude") == 0)
            exclude = 1;
        else if (step && strcmp(step, "include") == 0)
            exclude = 0;
        else if (step && sscanf(step, "-%31s %63s", kind, name) == 2)
            store_remove(s, strcmp(kind, "Ingress") == 0 ? RK_INGRESS
                            : strcmp(kind, "Service") == 0 ? RK_SERVICE
                                                           : RK_INGRESS_CLASS,
                         "ns", name);
        else if (step)
            put(s, step);
        uncached.cache = NULL;
        int reads = htpasswd_reads;
        assert_int_equal(model_build(&cached, s, &o), 0);
        /* b3 reads its Secret in every build that serves it */
        assert_int_equal(htpasswd_reads - reads, exclude ? 0 : 1);
        assert_int_equal(model_build(&fresh, s, &uncached), 0);
        /* every compiled Ingress, valid or not, in its two blocks */
        assert_int_equal(model_cache_loose_strings(o.cache), 0);
        char *a = model_text(&cached), *b = model_text(&fresh);
        if (strcmp(a, b) != 0)
            fail_msg("step %zu: cached build differs:\n%s\n---- fresh:\n%s",
                     i, a, b);
        /* The model of the step before still reads as it did. */
        if (previous_text) {
            char *again = model_text(&previous);
            assert_string_equal(again, previous_text);
            free(again);
            free(previous_text);
            model_free(&previous);
        }
        previous = cached;
        previous_text = a;
        free(b);
        model_free(&fresh);
    }
    /* The model outlives its cache. */
    model_cache_free(o.cache);
    char *again = model_text(&previous);
    assert_string_equal(again, previous_text);
    free(again);
    free(previous_text);
    model_free(&previous);
    store_free(s);
}

/* An Ingress of namespace ns created at second sec of 2026, named in
 * class cls, with one rule (host, /NAME to Service web). */
static char *aged(const char *ns, const char *name, int sec,
                  const char *host, const char *cls)
{
    char *y;

    if (asprintf(&y, "kind: Ingress\nmetadata: {name: %s, namespace: %s, "
                 "creationTimestamp: \"2026-01-01T00:00:%02dZ\"}\n"
                 "spec:\n  ingressClassName: %s\n"
                 "  rules:\n  - host: %s\n    http:\n      paths:\n"
                 "      - {path: /%s, pathType: Prefix, backend: {service: "
                 "{name: web, port: {number: 80}}}}\n",
                 name, ns, sec, cls, host, name) < 0)
        abort();
    return y;
}

/* A build puts the Ingresses the store's feed names since the build
 * before in that build's age order (oldest first, then namespace, then
 * name), instead of sorting them all: after each kind of change the
 * Ingresses, the conflicts they decide and everything rendered equal a
 * build without a cache; after more changes than it patches, the order
 * is made again. */
static void a_build_patches_the_age_order_of_the_one_before(void **state)
{
    /* namespaces n, ns, ns-b: "ns/x" sorts after "ns-b/x" as a key but
     * before it as (namespace, name) */
    static const char *const nss[] = {"n", "ns", "ns-b"};
    /* each step: changes before one build ("ns name second host [class]"
     * put, "-ns/name" removed); patched: that build patches the order */
    static const struct {
        const char *what;
        const char *change[4];
        int patched;
    } steps[] = {
        {"first build", {NULL}, 0},
        {"nothing changed", {NULL}, 1},
        {"a new Ingress older than all", {"ns-b z 1 h0.test"}, 1},
        {"ties: same second, namespaces n, ns, ns-b",
         {"ns a 12 h0.test", "n a 12 h0.test", "ns-b a 12 h0.test"}, 1},
        {"an Ingress made younger (its creation time changes)",
         {"n i0 59 h0.test"}, 1},
        {"removed, then back between two builds",
         {"-ns/i1", "ns i1 2 h0.test"}, 1},
        {"changed twice", {"ns i4 30 h4.test", "ns i4 3 h0.test"}, 1},
        {"an Ingress of another class", {"n o1 4 h0.test other"}, 1},
        {"it becomes ours", {"n o1 4 h0.test"}, 1},
        {"the oldest goes", {"-ns-b/z"}, 1},
        {"more changes than a build patches", {"bulk"}, 0},
        {"after that, patched again", {"-n/a"}, 1},
    };
    struct model_opts o = OPTS_TLS;
    struct store *s = store_new(NULL, NULL);
    char name[32], host[64], *doc;

    o.cache = model_cache_new();
    assert_non_null(o.cache);
    put(s, CLASS);
    put(s, SVC_WEB);
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "i%d", i);
        /* every third one on host h0: conflicts decided by age */
        snprintf(host, sizeof(host), "h%d.test", i % 3 ? i : 0);
        doc = aged(nss[i % 3], name, 10 + i % 5, host, "portico");
        put(s, doc);
        free(doc);
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct model cached, fresh;
        struct model_opts uncached = o;

        for (size_t j = 0; j < 4 && steps[i].change[j]; j++) {
            const char *c = steps[i].change[j];
            char ns[16], nm[16], h[32], cls[16] = "portico";
            int sec;
            if (strcmp(c, "bulk") == 0) {
                for (int k = 0; k < 100; k++) {
                    snprintf(nm, sizeof(nm), "b%d", k);
                    snprintf(h, sizeof(h), "b%d.test", k);
                    doc = aged(nss[k % 3], nm, 20 + k % 7, h, "portico");
                    put(s, doc);
                    free(doc);
                }
            } else if (c[0] == '-') {
                assert_int_equal(sscanf(c + 1, "%15[^/]/%15s", ns, nm), 2);
                store_remove(s, RK_INGRESS, ns, nm);
            } else {
                assert_true(sscanf(c, "%15s %15s %d %31s %15s", ns, nm, &sec,
                                   h, cls) >= 4);
                doc = aged(ns, nm, sec, h, cls);
                put(s, doc);
                free(doc);
            }
        }
        uncached.cache = NULL;
        assert_int_equal(model_build(&cached, s, &o), 0);
        if (model_cache_patched(o.cache) != steps[i].patched)
            fail_msg("%s: the order was %s", steps[i].what,
                     steps[i].patched ? "sorted again" : "patched");
        assert_int_equal(model_build(&fresh, s, &uncached), 0);
        char *a = model_text(&cached), *b = model_text(&fresh);
        if (strcmp(a, b) != 0)
            fail_msg("%s: the patched build differs:\n%s\n---- fresh:\n%s",
                     steps[i].what, a, b);
        free(a);
        free(b);
        model_free(&fresh);
        model_free(&cached);
    }
    model_cache_free(o.cache);
    store_free(s);
}

/* A compiled Ingress keeps its strings (names, hosts, routes, annotation
 * values and findings, TLS, reason) in two blocks: they read as the
 * Ingress wrote them, in models that outlive the cache, and freeing
 * frees them all (the ASan run finds a leak or a double free). */
static void a_compiled_ingress_keeps_its_strings_in_two_blocks(void **state)
{
    struct model_opts o = OPTS_TLS;
    struct store *s;
    struct model m;
    char *yaml;

    assert_true(asprintf(&yaml, "%s%s%s", CLASS, SVC_WEB,
        "---\nkind: Ingress\nmetadata: {name: packed, namespace: ns, "
        "uid: u-1, creationTimestamp: \"2026-01-01T00:00:00Z\", "
        "annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m, "
        "nginx.ingress.kubernetes.io/not-a-real-one: x}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: web, port: {number: 80}}}\n"
        "  tls: [{hosts: [t.test], secretName: tls-t}]\n"
        "  rules:\n  - host: p.test\n    http:\n      paths:\n"
        "      - {path: /a/, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n"
        "---\nkind: Ingress\nmetadata: {name: refused, namespace: ns, "
        "creationTimestamp: \"2026-01-02T00:00:00Z\", annotations: "
        "{nginx.ingress.kubernetes.io/configuration-snippet: x}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: r.test\n    http:\n      paths:\n"
        "      - {path: /, pathType: Prefix, backend: {service: {name: web, "
        "port: {number: 80}}}}\n") > 0);
    s = load(yaml);
    free(yaml);
    o.cache = model_cache_new();
    assert_non_null(o.cache);
    assert_int_equal(model_build(&m, s, &o), 0);
    assert_int_equal(model_cache_loose_strings(o.cache), 0);
    model_cache_free(o.cache);      /* the model holds its Ingresses */
    assert_int_equal(m.ning, 2);
    const struct model_ingress *p = &m.ings[0], *r = &m.ings[1];
    assert_string_equal(p->ns, "ns");
    assert_string_equal(p->name, "packed");
    assert_string_equal(p->uid, "u-1");
    assert_int_equal(p->state, ING_SERVED);
    assert_int_equal(p->nhosts, 2);
    assert_string_equal(p->hosts[0], "p.test");
    assert_string_equal(p->hosts[1], "t.test");
    assert_string_equal(ann_get(&p->ann, ANN_PROXY_BODY_SIZE), "8m");
    assert_non_null(p->notice);
    assert_non_null(strstr(p->notice, "not-a-real-one"));
    assert_string_equal(r->name, "refused");
    assert_int_equal(r->state, ING_REJECTED);
    assert_non_null(strstr(r->reason, "configuration-snippet"));
    /* its routes: the Prefix path as written and its Service */
    assert_int_equal(m.nservers, 1);  /* a TLS host gets no server */
    const struct model_server *sv = &m.servers[0];
    assert_string_equal(sv->host, "p.test");
    assert_int_equal(sv->nlocs, 1);
    assert_string_equal(sv->locs[0].path, "/a");
    assert_string_equal(sv->locs[0].raw, "/a/");
    assert_string_equal(sv->locs[0].service, "web");
    assert_string_equal(m.def.fallback_service, "web");
    model_free(&m);
    store_free(s);
}

/* One Ingress with one rule path as a document for put(): created on
 * day of January 2026, ann the annotations ("" for none). */
static char *plain(const char *name, int day, const char *host,
                   const char *path, const char *type, const char *svc,
                   const char *ann)
{
    char *y;

    if (asprintf(&y, "kind: Ingress\nmetadata: {name: %s, namespace: ns, "
                 "creationTimestamp: \"2026-01-%02dT00:00:00Z\", "
                 "annotations: {%s}}\n"
                 "spec:\n  ingressClassName: portico\n"
                 "  rules:\n  - host: %s\n    http:\n      paths:\n"
                 "      - {path: %s, pathType: %s, backend: {service: "
                 "{name: %s, port: {number: 80}}}}\n",
                 name, day, ann, host, path, type, svc) < 0)
        abort();
    return y;
}

/* An Ingress alone on its hosts is merged once; later builds make its
 * servers from its routes and what that merge kept (its memo) while it and
 * its Services are unchanged: after every kind of change, the build
 * equals one without a cache, and the untouched Ingress's server comes
 * from its memo whenever it is still alone on its host. */
static void an_incremental_build_equals_a_fresh_one_after_each_kind_of_change(
    void **state)
{
    static const char svc[] =
        "kind: Service\nmetadata: {name: %s, namespace: ns}\n"
        "spec: {ports: [{name: http, port: %d}]}\n";
    struct {
        const char *what;
        char *put;              /* a document, or NULL */
        const char *removed;    /* "Ingress x" / "Service x", or NULL */
        int memos;              /* the cached model borrows from memos */
        int keep_alone;         /* keep.test comes from keep's memo */
    } steps[] = {
        {"first build (the memos are made)", NULL, NULL, 0, 0},
        {"a new Ingress", plain("p4", 10, "p4.test", "/d", "Prefix", "s1",
                                ""), NULL, 1, 1},
        {"a changed path", plain("p1", 4, "p1.test", "/a2", "Prefix", "s1",
                                 ""), NULL, 1, 1},
        {"a Service's port changes", NULL, NULL, 1, 1},
        {"a missing Service appears", NULL, NULL, 1, 1},
        {"a used Service is removed", NULL, "Service s2", 1, 1},
        {"a host moves onto another Ingress's host",
         plain("p2", 5, "p1.test", "/b", "Exact", "s2", ""), NULL, 1, 1},
        {"an older Ingress wins a conflict",
         plain("old", 1, "p4.test", "/d", "Prefix", "web", ""), NULL, 1, 1},
        {"it goes: the younger one is alone again", NULL, "Ingress old", 1,
         1},
        {"an Ingress is refused",
         plain("p3", 6, "p3.test", "/c", "Wrong", "later", ""), NULL, 1, 1},
        {"a refused Ingress asked for client certificates",
         plain("cc", 2, "p4.test", "/", "Prefix", "web",
               "portico.io/auth-tls-secret: broken"), NULL, 0, 1},
        {"it goes", NULL, "Ingress cc", 1, 1},
        {"an alias names a host of its own",
         plain("al", 11, "al.test", "/", "Prefix", "web",
               "portico.io/server-alias: keep.test"), NULL, 1, 0},
        {"it goes", NULL, "Ingress al", 1, 1},
        {"a www twin names a host of its own",
         plain("ww", 12, "www.keep.test", "/", "Prefix", "web",
               "portico.io/from-to-www-redirect: \"true\""), NULL, 1, 0},
        {"it goes", NULL, "Ingress ww", 1, 1},
        {"a canary of keep's path",
         plain("cn", 13, "keep.test", "/k", "Prefix", "s1",
               "portico.io/canary: \"true\""), NULL, 1, 0},
        {"it goes, and so does p1", NULL, "Ingress cn", 1, 1},
    };
    struct model_opts o = OPTS_TLS;
    struct store *s = store_new(NULL, NULL);
    char *doc;
    int keep_replayed = 0, p5_replayed = 0;

    o.tls.ca = some_ca;
    o.cache = model_cache_new();
    assert_non_null(o.cache);
    put(s, CLASS);
    put(s, SVC_WEB);
    for (int i = 1; i <= 2; i++) {
        char name[8];
        snprintf(name, sizeof(name), "s%d", i);
        assert_true(asprintf(&doc, svc, name, 8080 + i) > 0);
        put(s, doc);
        free(doc);
    }
    /* p5: a redirect to HTTPS, two paths (one twice) and hosts */
    const char *const start[][5] = {
        {"keep", "keep.test", "/k", "web", ""},
        {"p1", "p1.test", "/a", "s1", ""},
        {"p2", "p2.test", "/b", "s2", ""},
        {"p3", "p3.test", "/c", "later", ""},
        {"p5", "p5.test", "/e", "s1",
         "nginx.ingress.kubernetes.io/force-ssl-redirect: \"true\""},
    };
    for (size_t i = 0; i < sizeof(start) / sizeof(start[0]); i++) {
        doc = plain(start[i][0], 3 + (int)i, start[i][1], start[i][2],
                    "Prefix", start[i][3], start[i][4]);
        if (strcmp(start[i][0], "p5") == 0) {
            char *more;
            assert_true(asprintf(&more, "%s"
                "      - {path: /e, pathType: Prefix, backend: {service: "
                "{name: s2, port: {number: 80}}}}\n"
                "      - {path: /, pathType: ImplementationSpecific, "
                "backend: {service: {name: web, port: {number: 80}}}}\n"
                "  - host: q5.test\n    http:\n      paths:\n"
                "      - {path: /e, pathType: Exact, backend: {service: "
                "{name: s1, port: {number: 80}}}}\n", doc) > 0);
            free(doc);
            doc = more;
        }
        put(s, doc);
        free(doc);
    }
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct model cached, fresh;
        struct model_opts uncached = o;
        char kind[32], name[64];

        if (steps[i].put)
            put(s, steps[i].put);
        if (steps[i].removed &&
            sscanf(steps[i].removed, "%31s %63s", kind, name) == 2)
            store_remove(s, strcmp(kind, "Ingress") == 0 ? RK_INGRESS
                                                          : RK_SERVICE,
                         "ns", name);
        if (strcmp(steps[i].what, "a Service's port changes") == 0 ||
            strcmp(steps[i].what, "a missing Service appears") == 0) {
            int later = steps[i].what[2] == 'm';
            assert_true(asprintf(&doc, svc, later ? "later" : "s1",
                                 later ? 9000 : 7070) > 0);
            put(s, doc);
            free(doc);
        }
        if (strcmp(steps[i].what, "it goes, and so does p1") == 0)
            store_remove(s, RK_INGRESS, "ns", "p1");
        uncached.cache = NULL;
        assert_int_equal(model_build(&cached, s, &o), 0);
        assert_int_equal(model_build(&fresh, s, &uncached), 0);
        char *a = model_text(&cached), *b = model_text(&fresh);
        if (strcmp(a, b) != 0)
            fail_msg("%s: the incremental build differs:\n%s\n---- fresh:"
                     "\n%s", steps[i].what, a, b);
        if ((cached.nmemos > 0) != steps[i].memos)
            fail_msg("%s: %zu memos", steps[i].what, cached.nmemos);
        const struct model_server *keep = server(&cached, "keep.test");
        assert_non_null(keep);
        if (keep->borrowed != (steps[i].memos && steps[i].keep_alone))
            fail_msg("%s: keep.test %s from a memo", steps[i].what,
                     keep->borrowed ? "comes" : "does not come");
        /* unchanged: replayed from the memo the build before replayed */
        if (keep->unchanged != (keep->borrowed && keep_replayed))
            fail_msg("%s: keep.test %s unchanged", steps[i].what,
                     keep->unchanged ? "is" : "is not");
        keep_replayed = keep->borrowed;
        const struct model_server *p5 = server(&cached, "p5.test");
        assert_non_null(p5);
        assert_true(p5->redirect);
        assert_int_equal(p5->nlocs, 2);
        /* (made again when a Service it names changes) */
        int p5_memo = i > 0 && steps[i].memos &&
                      strcmp(steps[i].what, "a Service's port changes") &&
                      strcmp(steps[i].what, "a used Service is removed");
        if (p5->borrowed != p5_memo)
            fail_msg("%s: p5.test %s from a memo", steps[i].what,
                     p5->borrowed ? "comes" : "does not come");
        if (p5->unchanged != (p5->borrowed && p5_replayed) ||
            server(&cached, "q5.test")->unchanged != p5->unchanged)
            fail_msg("%s: p5.test %s unchanged", steps[i].what,
                     p5->unchanged ? "is" : "is not");
        p5_replayed = p5->borrowed;
        for (size_t j = 0; j < fresh.nservers; j++)
            assert_false(fresh.servers[j].unchanged);
        assert_int_equal(fresh.nmemos, 0);
        free(a);
        free(b);
        model_free(&fresh);
        model_free(&cached);
        free(steps[i].put);
    }
    model_cache_free(o.cache);
    store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(prefix_matches_whole_path_elements),
        cmocka_unit_test(
            aliases_and_www_twins_own_their_rules_and_name_the_service),
        cmocka_unit_test(rules_are_ordered_exact_first_then_longest),
        cmocka_unit_test(prefix_trailing_slash_is_ignored_and_root_is_plain),
        cmocka_unit_test(exact_and_implementation_specific_map_directly),
        cmocka_unit_test(exact_beats_prefix_on_a_tie_even_when_younger),
        cmocka_unit_test(oldest_ingress_wins_a_conflict_whatever_its_name),
        cmocka_unit_test(same_age_conflicts_go_to_namespace_then_name_order),
        cmocka_unit_test(paths_of_one_host_merge_across_ingresses),
        cmocka_unit_test(one_invalid_ingress_is_rejected_and_others_served),
        cmocka_unit_test(ingress_class_selection_follows_the_spec),
        cmocka_unit_test(service_ports_resolve_by_name_headless_and_external),
        cmocka_unit_test(certificate_table_names_each_host_with_its_pair),
        cmocka_unit_test(tls_hosts_get_no_server_block_of_their_own),
        cmocka_unit_test(render_is_byte_identical_whatever_the_input_order),
        cmocka_unit_test(a_path_change_leaves_nginx_conf_unchanged),
        cmocka_unit_test(profile_lines_are_traced_to_their_oldest_ingress),
        cmocka_unit_test(
            annotations_refuse_or_are_noticed_and_render_under_both_prefixes),
        cmocka_unit_test(
            client_certificates_belong_to_the_host_and_disagreeing_ingresses_are_refused),
        cmocka_unit_test(
            tls_and_grpc_profiles_get_keepalive_caches_of_their_own),
        cmocka_unit_test(a_canary_ingress_attaches_to_the_same_host_and_path),
        cmocka_unit_test(size_per_ingress_stays_under_one_kilobyte),
        cmocka_unit_test(a_compiled_ingress_keeps_its_strings_in_two_blocks),
        cmocka_unit_test(
            a_cached_build_equals_a_fresh_one_change_after_change),
        cmocka_unit_test(
            an_incremental_build_equals_a_fresh_one_after_each_kind_of_change),
        cmocka_unit_test(a_build_patches_the_age_order_of_the_one_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
