/* Unit tests for controller/routes: the route table nginx workers load
 * without a reload (docs/routes.md). Exact rules first, then the others
 * longest first with Prefix before ImplementationSpecific; default, 503,
 * profile, redirect and wildcard lines, each rule with the Ingress and
 * Service it comes from; the same bytes whatever the input
 * order; a version that changes exactly when the content does; every
 * line traced to the Ingress that produced it; the upstream lines (format
 * 2), sorted, owned by the oldest Ingress using them; the configuration
 * token, the same in the table and in nginx.conf, that changes exactly
 * when the profiles do (upstreams are the table's own); a table in shards
 * (format 3): each host section in the shard its name's CRC-32 picks,
 * with exactly the upstreams it uses, the same lines as in one file, a
 * shard named by its content, a change that renames only its shard, a
 * shard count that follows the hosts without flapping, an nginx -t error
 * in a shard's line traced to its Ingress, and a check head naming only
 * the shards to check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "controller/manifest.h"
#include "controller/model.h"
#include "controller/profiles.h"
#include "controller/render.h"
#include "controller/routes.h"
#include "controller/store.h"
#include "tests/unit/controller/fixtures.h"

#define HTTPS_PORT 443

static const char CLASS[] =
    "kind: IngressClass\nmetadata: {name: portico}\n"
    "spec: {controller: portico.io/ingress-controller}\n---\n"
    "kind: Service\nmetadata: {name: web, namespace: ns}\n"
    "spec: {ports: [{name: http, port: 80}]}\n---\n"
    "kind: Service\nmetadata: {name: api, namespace: ns}\n"
    "spec: {ports: [{name: http, port: 80}]}\n---\n";

/* Loads CLASS and the YAML documents into a fresh store. */
static struct store *load(const char *yaml)
{
    char err[256], *all;
    struct store *s = store_new(NULL, NULL);

    if (asprintf(&all, "%s%s", CLASS, yaml) < 0)
        abort();
    struct json_object *docs = manifest_parse(all, strlen(all), 0, err,
                                              sizeof(err));
    free(all);
    if (!docs)
        fail_msg("YAML: %s", err);
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        struct json_object *d = json_object_array_get_idx(docs, i);
        const char *kind = json_object_get_string(
            json_object_object_get(d, "kind"));
        enum resource_kind k = strcmp(kind, "Ingress") == 0 ? RK_INGRESS
                             : strcmp(kind, "Service") == 0 ? RK_SERVICE
                                                           : RK_INGRESS_CLASS;
        assert_int_equal(store_put(s, k, d), 0);
    }
    json_object_put(docs);
    return s;
}

/* Model and table of the YAML. */
struct fixture {
    struct store *s;
    struct model m;
    struct routes_result rt;
};

static void build(struct fixture *f, const char *yaml, int https_port)
{
    struct profiles p;

    f->s = load(yaml);
    assert_int_equal(model_build(&f->m, f->s, &TEST_MODEL_OPTS), 0);
    assert_int_equal(profiles_build(&f->m, &p), 0);
    assert_int_equal(routes_render(&f->m, &p, https_port, &f->rt), 0);
    profiles_free(&p);
}

static void release(struct fixture *f)
{
    routes_result_free(&f->rt);
    model_free(&f->m);
    store_free(f->s);
}

/* The upstream name of Service ns/svc port 80 in f's model. */
static const char *ups(const struct fixture *f, const char *svc)
{
    char suffix[64];

    snprintf(suffix, sizeof(suffix), "_ns_%s_80", svc);
    for (size_t i = 0; i < f->m.nups; i++) {
        const char *n = f->m.ups[i].name;
        size_t nl = strlen(n), sl = strlen(suffix);
        if (nl > sl && strcmp(n + nl - sl, suffix) == 0)
            return n;
    }
    fail_msg("no upstream for %s", svc);
    return NULL;
}

/* "upstream NAME SVC.ns.svc.cluster.local:80\n" for the Services given
 * (up to 3), sorted by upstream name as the table has them. */
static const char *upstream_lines(const struct fixture *f, const char *a,
                                  const char *b, const char *c)
{
    static char out[1024];
    const char *svc[3] = {a, b, c}, *name[3];
    size_t n = 0;

    for (size_t i = 0; i < 3 && svc[i]; i++, n++)
        name[i] = ups(f, svc[i]);
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (name[best] == NULL ||
                (name[i] && strcmp(name[i], name[best]) < 0))
                best = i;
        snprintf(out + strlen(out), sizeof(out) - strlen(out),
                 "upstream %s %s.ns.svc.cluster.local:80\n", name[best],
                 svc[best]);
        name[best] = NULL;
    }
    return out;
}

/* The table from line 4 on (after the header, version and config). */
static const char *body(const struct fixture *f)
{
    const char *t = f->rt.t.text.data;

    t = strchr(t, '\n') + 1;
    t = strchr(t, '\n') + 1;
    return strchr(t, '\n') + 1;
}

/* 1-based line number of the line starting with prefix, 0 if none. */
static size_t line_of(const struct fixture *f, const char *prefix)
{
    const char *t = f->rt.t.text.data;
    size_t line = 1, n = strlen(prefix);

    for (const char *p = t; *p; line++) {
        if (strncmp(p, prefix, n) == 0)
            return line;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    return 0;
}

#define RULE(path, type, svc)                                                 \
    "      - {path: \"" path "\", pathType: " type ", backend: {service: "   \
    "{name: " svc ", port: {number: 80}}}}\n"

static const char MIXED[] =
    "kind: Ingress\nmetadata: {name: i, namespace: ns}\n"
    "spec:\n  ingressClassName: portico\n  rules:\n  - host: x.test\n"
    "    http:\n      paths:\n"
    RULE("/", "Prefix", "web")
    RULE("/a/", "Prefix", "web")
    RULE("/a/b", "ImplementationSpecific", "api")
    RULE("/a/b", "Prefix", "web")
    RULE("/z", "Exact", "api")
    RULE("/y/", "Exact", "web")
    "  - host: r.test\n    http:\n      paths:\n"
    RULE("/", "Exact", "api")
    RULE("/", "ImplementationSpecific", "web")
    "---\n";

static void header_version_config_and_https_port_come_first(void **state)
{
    struct fixture f;
    char want[128];

    build(&f, MIXED, 8443);
    const char *t = f.rt.t.text.data;
    assert_int_equal(strncmp(t, "portico-routes 2\nversion ", 25), 0);
    snprintf(want, sizeof(want), "version %s\nconfig %s\nhttps-port 8443\n",
             f.rt.version, f.rt.config);
    assert_non_null(strstr(t, want));
    assert_int_equal(strlen(f.rt.version), ROUTES_VERSION_LEN);
    assert_int_equal(strspn(f.rt.version, "0123456789abcdef"),
                     ROUTES_VERSION_LEN);
    assert_int_equal(t[f.rt.t.text.len - 1], '\n');
    release(&f);
}

static void rules_are_exact_first_then_longest_prefix_before_plain(void **state)
{
    struct fixture f;
    char want[1024];

    build(&f, MIXED, HTTPS_PORT);
    /* Hosts sorted; exact in path order, then longest first; the trailing slash of a
     * Prefix is gone, an Exact keeps it; Prefix or ImplementationSpecific
     * "/" is "prefix /" (the same rule), Exact "/" stays exact. */
    snprintf(want, sizeof(want),
             "https-port 443\n"
             "%s"
             "host *\n"
             "host r.test\n"
             "exact / %s ingress=ns/i service=api\n"
             "prefix / %s ingress=ns/i service=web\n"
             "host x.test\n"
             "exact /y/ %s ingress=ns/i service=web\n"
             "exact /z %s ingress=ns/i service=api\n"
             "prefix /a/b %s ingress=ns/i service=web\n"
             "plain /a/b %s ingress=ns/i service=api\n"
             "prefix /a %s ingress=ns/i service=web\n"
             "prefix / %s ingress=ns/i service=web\n",
             upstream_lines(&f, "api", "web", NULL),
             ups(&f, "api"), ups(&f, "web"),
             ups(&f, "web"), ups(&f, "api"), ups(&f, "web"), ups(&f, "api"),
             ups(&f, "web"), ups(&f, "web"));
    assert_string_equal(body(&f), want);
    release(&f);
}

static void default_backend_missing_service_and_profiles_have_lines(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: d, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: web, port: {number: 80}}}\n"
        "  rules:\n  - host: d.test\n    http:\n      paths:\n"
        RULE("/gone", "Prefix", "missing")
        "---\n"
        "kind: Ingress\nmetadata: {name: o, namespace: ns, "
        "creationTimestamp: \"2026-02-01T00:00:00Z\", annotations: "
        "{portico.io/proxy-body-size: 10m, portico.io/proxy-read-timeout: 5s}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - http:\n      paths:\n"
        RULE("/upload", "Prefix", "api")
        "---\n";
    struct fixture f;
    struct profiles p;
    char want[1024];

    build(&f, yaml, HTTPS_PORT);
    assert_int_equal(profiles_build(&f.m, &p), 0);
    assert_int_equal(p.n, 1);
    /* The rule of "o" (no host) is in the default section, with its
     * profile; d's defaultBackend applies to its hosts and to "*". */
    snprintf(want, sizeof(want),
             "https-port 443\n"
             "%s"
             "host *\n"
             "prefix /upload %s @%s ingress=ns/o service=api\n"
             "default %s ingress=ns/d service=web\n"
             "host d.test\n"
             "prefix /gone - ingress=ns/d service=missing\n"
             "default %s ingress=ns/d service=web\n",
             upstream_lines(&f, "api", "web", NULL),
             ups(&f, "api"), p.list[0].name, ups(&f, "web"), ups(&f, "web"));
    assert_string_equal(body(&f), want);
    assert_int_equal(strncmp(p.list[0].name, PROFILE_PREFIX,
                             strlen(PROFILE_PREFIX)), 0);
    profiles_free(&p);
    release(&f);
}

/* default-backend: errors= on every rule of the Ingress, and the target
 * of a rule whose Service is missing; custom-http-errors: error pages in
 * the profile, one named location per code. */
static void default_backend_and_custom_errors_have_words_and_pages(
    void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: e, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\", annotations: "
        "{nginx.ingress.kubernetes.io/default-backend: api, "
        "nginx.ingress.kubernetes.io/custom-http-errors: \"404,503\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: e.test\n    http:\n      paths:\n"
        RULE("/gone", "Prefix", "missing")
        RULE("/", "Prefix", "web")
        "---\n";
    struct fixture f;
    struct profiles p;
    struct ownedtext t;
    char want[2048], page[256];
    const char *name;

    (void)state;
    build(&f, yaml, HTTPS_PORT);
    assert_int_equal(profiles_build(&f.m, &p), 0);
    assert_int_equal(p.n, 1);
    name = p.list[0].name;
    snprintf(want, sizeof(want),
             "https-port 443\n"
             "%s"
             "host *\n"
             "host e.test\n"
             "prefix /gone %s @%s errors=%s service-port=80 ingress=ns/e "
             "service=missing\n"
             "prefix / %s @%s errors=%s service-port=80 ingress=ns/e "
             "service=web\n",
             upstream_lines(&f, "api", "web", NULL), ups(&f, "api"), name,
             ups(&f, "api"), ups(&f, "web"), name, ups(&f, "api"));
    assert_string_equal(body(&f), want);

    ownedtext_init(&t);
    profiles_render_location(&t, &f.m, &p, 0, "portico_dispatch");
    assert_false(ownedtext_failed(&t));
    snprintf(page, sizeof(page), " proxy_intercept_errors on; error_page "
             "404 = @%s_e404; error_page 503 = @%s_e503;", name, name);
    assert_non_null(strstr(t.text.data, page));
    for (int code = 404; code <= 503; code += 99) {
        snprintf(page, sizeof(page), "location @%s_e%d { "
                 "proxy_intercept_errors off; proxy_set_header X-Code %d;",
                 name, code, code);
        assert_non_null(strstr(t.text.data, page));
        snprintf(page, sizeof(page), " rewrite ^ / break; "
                 "portico_route_errors %d; proxy_pass "
                 "http://portico_dispatch; }\n", code);
        assert_non_null(strstr(t.text.data, page));
    }
    assert_non_null(strstr(t.text.data,
                           "X-Namespace $portico_namespace;"));
    ownedtext_free(&t);
    profiles_free(&p);
    release(&f);
}

static void affinity_annotations_become_the_rules_words(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: s, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\", annotations: {"
        "nginx.ingress.kubernetes.io/affinity: cookie, "
        "nginx.ingress.kubernetes.io/affinity-mode: persistent, "
        "nginx.ingress.kubernetes.io/session-cookie-name: route, "
        "nginx.ingress.kubernetes.io/session-cookie-max-age: \"60\", "
        "nginx.ingress.kubernetes.io/session-cookie-secure: \"false\", "
        "nginx.ingress.kubernetes.io/session-cookie-change-on-failure: "
        "\"true\", "
        "nginx.ingress.kubernetes.io/affinity-canary-behavior: legacy}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: web, port: {number: 80}}}\n"
        "  rules:\n  - host: s.test\n    http:\n      paths:\n"
        RULE("/a", "Prefix", "web")
        RULE("/gone", "Prefix", "missing")
        "---\n"
        "kind: Ingress\nmetadata: {name: d, namespace: ns, "
        "creationTimestamp: \"2026-01-02T00:00:00Z\", annotations: {"
        "portico.io/affinity: cookie}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: d.test\n    http:\n      paths:\n"
        RULE("/", "Prefix", "web")
        "---\n";
    static const char words[] =
        " affinity=cookie:route affinity-mode=persistent affinity-max-age=60"
        " affinity-secure=off affinity-change-on-failure=on";
    struct fixture f;
    char want[2048];

    build(&f, yaml, HTTPS_PORT);
    /* no canary: no affinity-canary word; "-" (no Service): no words; the
     * defaultBackend has them too; INGRESSCOOKIE by default */
    snprintf(want, sizeof(want),
             "https-port 443\n"
             "%s"
             "host *\n"
             "default %s%s ingress=ns/s service=web\n"
             "host d.test\n"
             "prefix / %s affinity=cookie:INGRESSCOOKIE ingress=ns/d "
             "service=web\n"
             "host s.test\n"
             "prefix /gone - ingress=ns/s service=missing\n"
             "prefix /a %s%s ingress=ns/s service=web\n"
             "default %s%s ingress=ns/s service=web\n",
             upstream_lines(&f, "web", NULL, NULL), ups(&f, "web"), words,
             ups(&f, "web"), ups(&f, "web"), words, ups(&f, "web"), words);
    assert_string_equal(body(&f), want);
    release(&f);
}

static void https_only_and_wildcard_hosts_have_their_section(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: r, namespace: ns, "
        "labels: {httpsOnly: \"true\"}}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: \"*.apps.test\"\n    http:\n      paths:\n"
        RULE("/", "Prefix", "web")
        "  - host: b.test\n    http:\n      paths:\n"
        RULE("/", "Prefix", "web")
        "---\n";
    struct fixture f;
    char want[512];

    build(&f, yaml, HTTPS_PORT);
    snprintf(want, sizeof(want),
             "https-port 443\n"
             "%s"
             "host *\n"
             "host *.apps.test redirect\n"
             "prefix / %s ingress=ns/r service=web\n"
             "host b.test redirect\n"
             "prefix / %s ingress=ns/r service=web\n",
             upstream_lines(&f, "web", NULL, NULL),
             ups(&f, "web"), ups(&f, "web"));
    assert_string_equal(body(&f), want);
    release(&f);
}

static void same_bytes_whatever_the_input_order(void **state)
{
    static const char a[] =
        "kind: Ingress\nmetadata: {name: a, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/a", "Prefix", "web") "---\n";
    static const char b[] =
        "kind: Ingress\nmetadata: {name: b, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/b", "Exact", "api") "---\n";
    char ab[1024], ba[1024];
    struct fixture f1, f2;

    snprintf(ab, sizeof(ab), "%s%s", a, b);
    snprintf(ba, sizeof(ba), "%s%s", b, a);
    build(&f1, ab, HTTPS_PORT);
    build(&f2, ba, HTTPS_PORT);
    assert_string_equal(f1.rt.t.text.data, f2.rt.t.text.data);
    assert_string_equal(f1.rt.version, f2.rt.version);
    release(&f1);
    release(&f2);
}

/* SHA-256 of the table without its version line, first 16 hex digits. */
static void expected_version(const struct fixture *f, char out[17])
{
    const char *t = f->rt.t.text.data;
    const char *v = strchr(t, '\n') + 1, *rest = strchr(v, '\n') + 1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    assert_non_null(ctx);
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, t, (size_t)(v - t));
    EVP_DigestUpdate(ctx, rest, strlen(rest));
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void version_changes_exactly_when_the_content_does(void **state)
{
    static const char one[] =
        "kind: Ingress\nmetadata: {name: a, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/a", "Prefix", "web") "---\n";
    static const char two[] =
        "kind: Ingress\nmetadata: {name: a, namespace: ns, "
        "labels: {team: x}}\n"  /* not routing: same table */
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/a", "Prefix", "web") "---\n";
    static const char three[] =
        "kind: Ingress\nmetadata: {name: a, namespace: ns}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/a", "Prefix", "web")
        RULE("/changed", "Prefix", "web") "---\n";
    struct fixture f1, f2, f3, f4;
    char v[17];

    build(&f1, one, HTTPS_PORT);
    build(&f2, two, HTTPS_PORT);
    build(&f3, three, HTTPS_PORT);
    build(&f4, one, 8443);
    expected_version(&f1, v);
    assert_string_equal(f1.rt.version, v);
    expected_version(&f3, v);
    assert_string_equal(f3.rt.version, v);
    assert_string_equal(f1.rt.t.text.data, f2.rt.t.text.data);
    assert_string_equal(f1.rt.version, f2.rt.version);
    assert_string_not_equal(f1.rt.version, f3.rt.version);
    assert_string_not_equal(f1.rt.version, f4.rt.version);
    release(&f1);
    release(&f2);
    release(&f3);
    release(&f4);
}

static void every_line_is_traced_to_the_ingress_that_made_it(void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: old, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n"
        "  defaultBackend: {service: {name: web, port: {number: 80}}}\n"
        "  rules:\n  - host: m.test\n    http:\n      paths:\n"
        RULE("/old", "Prefix", "web") "---\n"
        "kind: Ingress\nmetadata: {name: young, namespace: ns, "
        "creationTimestamp: \"2026-05-01T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n"
        "  rules:\n  - host: m.test\n    http:\n      paths:\n"
        RULE("/young/path", "Exact", "api") "---\n";
    struct fixture f;
    char out[256];

    build(&f, yaml, HTTPS_PORT);
    assert_string_equal(f.m.ings[0].name, "old");
    assert_string_equal(f.m.ings[1].name, "young");
    size_t newlines = 0;
    for (const char *c = f.rt.t.text.data; *c; c++)
        newlines += *c == '\n';
    assert_int_equal(f.rt.t.nlines, newlines);
    /* header, version, config, https-port and "host *" belong to nobody */
    for (size_t l = 1; l <= 4; l++)
        assert_int_equal(ownedtext_owner(&f.rt.t, l), OWNER_NONE);
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, "host *")),
                     OWNER_NONE);
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, "host m.test")), 0);
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, "prefix /old")), 0);
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, "default ")), 0);
    size_t young = line_of(&f, "exact /young/path");
    assert_int_equal(ownedtext_owner(&f.rt.t, young), 1);
    /* an upstream line belongs to the oldest Ingress using it */
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "upstream %s ", ups(&f, "web"));
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, prefix)), 0);
    snprintf(prefix, sizeof(prefix), "upstream %s ", ups(&f, "api"));
    assert_int_equal(ownedtext_owner(&f.rt.t, line_of(&f, prefix)), 1);
    /* An nginx -t error in the table names that line. */
    snprintf(out, sizeof(out),
             "nginx: [emerg] unknown upstream \"x\" in "
             "/p/candidate/routes:%zu\n"
             "nginx: configuration file /p/candidate/nginx.conf test "
             "failed\n", young);
    assert_int_equal(ownedtext_error_line(out, "/p/candidate/routes"), young);
    assert_int_equal(ownedtext_error_line(out, "/p/candidate/nginx.conf"), 0);
    assert_int_equal(ownedtext_owner(&f.rt.t, f.rt.t.nlines + 1),
                     OWNER_NONE);
    release(&f);
}

static void options_shared_by_ingresses_make_one_profile_owned_by_the_oldest(
    void **state)
{
    static const char yaml[] =
        "kind: Ingress\nmetadata: {name: b, namespace: ns, "
        "creationTimestamp: \"2026-03-01T00:00:00Z\", "
        "annotations: {portico.io/proxy-read-timeout: 5s}}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: b.test\n"
        "    http:\n      paths:\n" RULE("/", "Prefix", "web") "---\n"
        "kind: Ingress\nmetadata: {name: a, namespace: ns, "
        "creationTimestamp: \"2026-02-01T00:00:00Z\", "
        "annotations: {portico.io/proxy-read-timeout: 5s}}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"
        "    http:\n      paths:\n" RULE("/", "Prefix", "web") "---\n"
        "kind: Ingress\nmetadata: {name: c, namespace: ns, "
        "creationTimestamp: \"2026-01-01T00:00:00Z\", "
        "annotations: {portico.io/proxy-send-timeout: 5s}}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: c.test\n"
        "    http:\n      paths:\n" RULE("/", "Prefix", "web") "---\n"
        "kind: Ingress\nmetadata: {name: d, namespace: ns, "
        "creationTimestamp: \"2026-04-01T00:00:00Z\"}\n"
        "spec:\n  ingressClassName: portico\n  rules:\n  - host: d.test\n"
        "    http:\n      paths:\n" RULE("/", "Prefix", "web") "---\n";
    struct fixture f;
    struct profiles p;

    build(&f, yaml, HTTPS_PORT);
    assert_int_equal(profiles_build(&f.m, &p), 0);
    assert_int_equal(p.n, 2);
    assert_true(strcmp(p.list[0].name, p.list[1].name) < 0);
    /* ings oldest first: c, a, b, d */
    assert_string_equal(f.m.ings[1].name, "a");
    const char *pa = profiles_of(&p, 1), *pb = profiles_of(&p, 2);
    assert_string_equal(pa, pb);
    assert_string_not_equal(pa, profiles_of(&p, 0));
    assert_null(profiles_of(&p, 3));
    for (size_t i = 0; i < p.n; i++)
        if (strcmp(p.list[i].name, pa) == 0)
            assert_string_equal(f.m.ings[p.list[i].owner].name, "a");
    profiles_free(&p);
    release(&f);
}

/* SHA-256 of "profile NAME\n"..., 16 hex digits. */
static void expected_token(const struct profiles *p, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    for (size_t i = 0; i < p->n; i++)
        fprintf(f, "profile %s\n", p->list[i].name);
    fclose(f);
    EVP_Digest(text, len, md, &n, EVP_sha256(), NULL);
    free(text);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The token of the YAML's table, checked against nginx.conf's directive
 * and against the definition. */
static void token_of(const char *yaml, char out[17])
{
    struct fixture f;
    struct profiles p;
    struct render_result r;
    char want[17], directive[64];

    build(&f, yaml, HTTPS_PORT);
    assert_int_equal(profiles_build(&f.m, &p), 0);
    expected_token(&p, want);
    assert_string_equal(f.rt.config, want);
    assert_int_equal(render_config(&f.m, &p, &TEST_RENDER_OPTS, &r), 0);
    snprintf(directive, sizeof(directive),
             "\nportico_routes routes config=%s;\n", want);
    assert_non_null(strstr(r.t.text.data, directive));
    render_result_free(&r);
    profiles_free(&p);
    memcpy(out, want, sizeof(want));
    release(&f);
}

static void config_token_changes_exactly_when_the_profiles_do(
    void **state)
{
#define ING(extra, rules)                                                   \
    "kind: Ingress\nmetadata: {name: a, namespace: ns" extra "}\n"          \
    "spec:\n  ingressClassName: portico\n  rules:\n  - host: a.test\n"     \
    "    http:\n      paths:\n" rules "---\n"
    static const char base[] = ING("", RULE("/a", "Prefix", "web"));
    /* other paths and hosts, the same Service: the same token */
    static const char paths[] = ING("", RULE("/b", "Exact", "web")
                                        RULE("/c", "Prefix", "web"));
    /* a new Service: a new upstream, in the table only */
    static const char service[] = ING("", RULE("/a", "Prefix", "web")
                                          RULE("/b", "Prefix", "api"));
    /* proxy options: a new profile */
    static const char profile[] =
        ING(", annotations: {portico.io/proxy-read-timeout: 5s}",
            RULE("/a", "Prefix", "web"));
    static const char other_profile[] =
        ING(", annotations: {portico.io/proxy-read-timeout: 6s}",
            RULE("/a", "Prefix", "web"));
#undef ING
    char t_base[17], t_paths[17], t_service[17], t_profile[17], t_other[17];

    token_of(base, t_base);
    token_of(paths, t_paths);
    token_of(service, t_service);
    token_of(profile, t_profile);
    token_of(other_profile, t_other);
    assert_int_equal(strspn(t_base, "0123456789abcdef"), ROUTES_CONFIG_LEN);
    assert_string_equal(t_base, t_paths);
    assert_string_equal(t_base, t_service);
    assert_string_not_equal(t_base, t_profile);
    assert_string_not_equal(t_profile, t_other);
}

/* ---- format 3: a head and its shards ------------------------------------ */

#define SHARDED_HOSTS 40
#define SHARDS 8

/* SHARDED_HOSTS Ingresses "iK" for host "hK.test" ("/" to web or api by
 * parity; K == changed gets path "/changed"), and one without a host
 * whose defaultBackend is web. */
static char *many_hosts(int changed)
{
    struct buf b;

    buf_init(&b);
    for (int k = 0; k < SHARDED_HOSTS; k++)
        buf_printf(&b,
                   "kind: Ingress\nmetadata: {name: i%d, namespace: ns}\n"
                   "spec:\n  ingressClassName: portico\n  rules:\n"
                   "  - host: h%d.test\n    http:\n      paths:\n"
                   "      - {path: \"%s\", pathType: Prefix, backend: "
                   "{service: {name: %s, port: {number: 80}}}}\n---\n",
                   k, k, k == changed ? "/changed" : "/",
                   k % 2 ? "api" : "web");
    buf_puts(&b, "kind: Ingress\nmetadata: {name: fallback, namespace: ns}\n"
                 "spec:\n  ingressClassName: portico\n"
                 "  defaultBackend: {service: {name: web, port: {number: "
                 "80}}}\n---\n");
    assert_false(buf_failed(&b));
    return b.data;
}

/* f's model rendered again in n shards, into rt. */
static void shard(struct fixture *f, size_t n, struct routes_result *rt)
{
    struct profiles p;

    assert_int_equal(profiles_build(&f->m, &p), 0);
    assert_int_equal(routes_render_sharded(&f->m, &p, HTTPS_PORT, n, NULL,
                                           NULL, NULL, rt),
                     0);
    profiles_free(&p);
}

/* The text of the section "host NAME" up to the next "host " line (or
 * the end) in text[0..len): malloc'd, NULL if absent. */
static char *section_of(const char *text, size_t len, const char *line)
{
    const char *end = text + len, *at = text, *next;
    size_t n = strlen(line);

    /* every line of the text ends with '\n' */
    for (; at < end; at = strchr(at, '\n') + 1)
        if ((size_t)(end - at) > n && strncmp(at, line, n) == 0 &&
            at[n] == '\n')
            break;
    if (at >= end)
        return NULL;
    for (next = strchr(at, '\n') + 1;
         next < end && strncmp(next, "host ", 5) != 0;
         next = strchr(next, '\n') + 1)
        ;
    return strndup(at, (size_t)(next - at));
}

static void a_table_in_shards_puts_each_host_in_its_crc_shard_as_in_one_file(
    void **state)
{
    struct fixture f;
    struct routes_result rt;
    char *yaml = many_hosts(-1), want[256], name[ROUTES_SHARD_NAME_LEN + 1];
    size_t sections = 0, from;
    unsigned char md[32];
    unsigned int mdlen;

    build(&f, yaml, HTTPS_PORT);
    shard(&f, SHARDS, &rt);
    assert_int_equal(rt.nshards, SHARDS);
    /* the head: format 2's header lines, N, then its shards in order */
    snprintf(want, sizeof(want), "portico-routes 3\nversion %s\nconfig %s\n"
             "https-port %d\nshards %d\n", rt.version, f.rt.config,
             HTTPS_PORT, SHARDS);
    assert_int_equal(strncmp(rt.t.text.data, want, strlen(want)), 0);
    from = strlen(want);
    for (size_t k = 0; k < rt.nused; k++) {
        const struct routes_shard *sh = &rt.shards[k];
        const char *text = rt.shards_text.text.data + sh->from;
        snprintf(want, sizeof(want), "shard %zu %s\n", sh->index, sh->name);
        assert_int_equal(strncmp(rt.t.text.data + from, want, strlen(want)),
                         0);
        from += strlen(want);
        if (k)
            assert_true(sh->index > rt.shards[k - 1].index);
        /* named by its content */
        assert_int_equal(EVP_Digest(text, sh->len, md, &mdlen, EVP_sha256(),
                                    NULL), 1);
        for (int i = 0; i < ROUTES_SHARD_NAME_LEN / 2; i++)
            snprintf(name + 2 * i, 3, "%02x", md[i]);
        assert_string_equal(sh->name, name);
        assert_int_equal(strncmp(text, "portico-routes-shard 1\n", 23), 0);
        /* its sections: where their names' CRC says, as in one file */
        int uses_web = 0, uses_api = 0;
        for (const char *l = text; l < text + sh->len;
             l = strchr(l, '\n') + 1) {
            if (strncmp(l, "host ", 5) != 0)
                continue;
            size_t n = strcspn(l + 5, " \n");
            assert_int_equal(crc32(0, (const Bytef *)l + 5, (uInt)n) &
                                 (SHARDS - 1),
                             sh->index);
            char line[64];
            snprintf(line, sizeof(line), "%.*s", (int)(n + 5), l);
            char *mine = section_of(text, sh->len, line);
            char *one = section_of(f.rt.t.text.data, f.rt.t.text.len, line);
            assert_non_null(one);
            assert_string_equal(mine, one);
            uses_web |= strstr(mine, ups(&f, "web")) != NULL;
            uses_api |= strstr(mine, ups(&f, "api")) != NULL;
            free(mine);
            free(one);
            sections++;
        }
        /* exactly the upstreams its sections use, as one file has them */
        const char *used[2] = {NULL, NULL};
        size_t nused = 0;
        if (uses_api)
            used[nused++] = "api";
        if (uses_web)
            used[nused++] = "web";
        snprintf(want, sizeof(want), "portico-routes-shard 1\n%s",
                 upstream_lines(&f, used[0], used[1], NULL));
        assert_int_equal(strncmp(text, want, strlen(want)), 0);
        assert_int_not_equal(strncmp(text + strlen(want), "upstream ", 9), 0);
    }
    assert_int_equal(from, rt.t.text.len);
    assert_int_equal(sections, f.m.nservers + 1);   /* and "host *" */
    routes_result_free(&rt);
    release(&f);
    free(yaml);
}

static void one_change_renames_only_its_shard_and_changes_the_version(
    void **state)
{
    struct fixture a, b;
    struct routes_result ra, rb, again;
    char *ya = many_hosts(-1), *yb = many_hosts(7);
    size_t changed = crc32(0, (const Bytef *)"h7.test", 7) & (SHARDS - 1);

    build(&a, ya, HTTPS_PORT);
    build(&b, yb, HTTPS_PORT);
    shard(&a, SHARDS, &ra);
    shard(&a, SHARDS, &again);
    shard(&b, SHARDS, &rb);
    /* the same model, the same bytes */
    assert_string_equal(ra.version, again.version);
    assert_int_equal(ra.shards_text.text.len, again.shards_text.text.len);
    assert_memory_equal(ra.shards_text.text.data, again.shards_text.text.data,
                        ra.shards_text.text.len);
    assert_string_not_equal(ra.version, rb.version);
    assert_int_equal(ra.nused, rb.nused);
    for (size_t k = 0; k < ra.nused; k++) {
        assert_int_equal(ra.shards[k].index, rb.shards[k].index);
        if (ra.shards[k].index == changed)
            assert_string_not_equal(ra.shards[k].name, rb.shards[k].name);
        else
            assert_string_equal(ra.shards[k].name, rb.shards[k].name);
    }
    routes_result_free(&ra);
    routes_result_free(&again);
    routes_result_free(&rb);
    release(&a);
    release(&b);
    free(ya);
    free(yb);
}

static void one_shard_is_format_2(void **state)
{
    struct fixture f;
    struct routes_result rt;
    char *yaml = many_hosts(-1);

    build(&f, yaml, HTTPS_PORT);
    shard(&f, 1, &rt);
    assert_int_equal(rt.nshards, 0);
    assert_int_equal(rt.nused, 0);
    assert_string_equal(rt.t.text.data, f.rt.t.text.data);
    routes_result_free(&rt);
    release(&f);
    free(yaml);
}

static void the_shard_count_follows_the_hosts_within_a_factor_of_two(
    void **state)
{
    assert_int_equal(routes_shard_count(0, 512, 0), 1);
    assert_int_equal(routes_shard_count(512, 512, 0), 1);
    assert_int_equal(routes_shard_count(513, 512, 0), 2);
    assert_int_equal(routes_shard_count(100000, 512, 0), 256);
    /* kept within a factor of two of the ideal count */
    assert_int_equal(routes_shard_count(100000, 512, 128), 128);
    assert_int_equal(routes_shard_count(100000, 512, 512), 512);
    assert_int_equal(routes_shard_count(100000, 512, 64), 256);
    assert_int_equal(routes_shard_count(100000, 512, 1024), 256);
    assert_int_equal(routes_shard_count(600, 512, 1), 1);
    assert_int_equal(routes_shard_count(10, 512, 256), 1);
    /* never more than the module takes; 0 hosts a shard: one file */
    assert_int_equal(routes_shard_count(100000000, 1, 0), ROUTES_SHARDS_MAX);
    assert_int_equal(routes_shard_count(100000, 0, 256), 1);
}

static void an_nginx_t_error_in_a_shard_line_names_its_ingress(void **state)
{
    struct fixture f;
    struct routes_result rt;
    char *yaml = many_hosts(-1), out[512];
    size_t index = crc32(0, (const Bytef *)"h7.test", 7) & (SHARDS - 1);
    const struct routes_shard *sh = NULL;
    size_t line = 1, i7 = OWNER_NONE;

    build(&f, yaml, HTTPS_PORT);
    shard(&f, SHARDS, &rt);
    for (size_t k = 0; k < rt.nused; k++)
        if (rt.shards[k].index == index)
            sh = &rt.shards[k];
    assert_non_null(sh);
    for (size_t i = 0; i < f.m.ning; i++)
        if (strcmp(f.m.ings[i].name, "i7") == 0)
            i7 = i;
    /* the line after "host h7.test" in its shard's file */
    const char *text = rt.shards_text.text.data + sh->from;
    for (const char *l = text; strncmp(l, "host h7.test\n", 13) != 0;
         l = strchr(l, '\n') + 1)
        line++;
    snprintf(out, sizeof(out), "nginx: [emerg] portico_routes: shard %zu "
             "\"/p/candidate/routes.d/%s\", line %zu: bad in "
             "/p/candidate/routes:7\n", index, sh->name, line + 1);
    assert_int_equal(routes_error_owner(&rt, out, 7), i7);
    assert_int_equal(routes_error_owner(&rt, out, 7), i7);
    /* its host line too; the file's first line and the head's: nobody */
    snprintf(out, sizeof(out), "portico_routes: shard %zu \"x\", line %zu: "
             "bad in /p/routes:7", index, line);
    assert_int_equal(routes_error_owner(&rt, out, 7), i7);
    snprintf(out, sizeof(out), "portico_routes: shard %zu \"x\", line 1: "
             "bad in /p/routes:7", index);
    assert_int_equal(routes_error_owner(&rt, out, 7), OWNER_NONE);
    assert_int_equal(routes_error_owner(&rt, "portico_routes: expected "
                                             "\"shard I NAME\" in /p/routes:6",
                                        6),
                     OWNER_NONE);
    routes_result_free(&rt);
    release(&f);
    free(yaml);
}

static void a_check_head_names_only_the_shards_asked_for(void **state)
{
    struct fixture f;
    struct routes_result rt;
    char *yaml = many_hosts(-1), want[128];
    unsigned char named[SHARDS] = {0};
    struct buf b;

    build(&f, yaml, HTTPS_PORT);
    shard(&f, SHARDS, &rt);
    assert_true(rt.nused >= 3);
    named[1] = 1;
    buf_init(&b);
    assert_int_equal(routes_head_subset(&rt, named, &b), 0);
    /* the head's lines up to "shards N", then shard 1's line alone */
    const char *first = strstr(rt.t.text.data, "shard ");
    snprintf(want, sizeof(want), "shard %zu %s\n", rt.shards[1].index,
             rt.shards[1].name);
    assert_int_equal(b.len, (size_t)(first - rt.t.text.data) + strlen(want));
    assert_memory_equal(b.data, rt.t.text.data,
                        (size_t)(first - rt.t.text.data));
    assert_string_equal(b.data + (first - rt.t.text.data), want);
    buf_free(&b);
    routes_result_free(&rt);
    release(&f);
    free(yaml);
}

static int always_on_disk(void *ctx, const char *name)
{
    (*(int *)ctx)++;
    return name[0] != '\0';
}

static int never_on_disk(void *ctx, const char *name)
{
    return 0;
}

/* Puts the YAML's one document (an Ingress) into s. */
static void put_ingress(struct store *s, const char *yaml)
{
    char err[256];
    struct json_object *docs = manifest_parse(yaml, strlen(yaml), 0, err,
                                              sizeof(err));

    assert_non_null(docs);
    assert_int_equal(store_put(s, RK_INGRESS,
                               json_object_array_get_idx(docs, 0)),
                     0);
    json_object_put(docs);
}

/* m rendered in SHARDS shards with kept (and on_disk) into rt. */
static void shard_kept(const struct model *m, struct routes_kept *kept,
                       routes_on_disk_fn on_disk, int *asked,
                       struct routes_result *rt)
{
    struct profiles p;

    assert_int_equal(profiles_build(m, &p), 0);
    assert_int_equal(routes_render_sharded(m, &p, HTTPS_PORT, SHARDS, kept,
                                           on_disk, asked, rt),
                     0);
    profiles_free(&p);
}

static void a_render_keeps_the_shards_of_unchanged_servers_as_made_before(
    void **state)
{
    char *yaml = many_hosts(-1);
    struct store *s = load(yaml);
    struct model_opts o = TEST_MODEL_OPTS;
    struct routes_kept *kept = routes_kept_new();
    struct model m;
    struct routes_result rt, fresh;
    size_t changed = crc32(0, (const Bytef *)"h7.test", 7) & (SHARDS - 1);
    size_t any = crc32(0, (const Bytef *)"*", 1) & (SHARDS - 1);
    int asked = 0;

    o.cache = model_cache_new();
    assert_non_null(kept);
    /* two builds of the same store: the second replays every memo */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(model_build(&m, s, &o), 0);
        shard_kept(&m, kept, always_on_disk, &asked, &rt);
        routes_result_free(&rt);
        model_free(&m);
    }
    /* one Ingress changes: its shard and the default section's are made
     * again, the others are kept, and the table is a fresh render's */
    char *changed_yaml = many_hosts(7);
    put_ingress(s, strstr(changed_yaml, "kind: Ingress\nmetadata: {name: i7,"));
    free(changed_yaml);
    assert_int_equal(model_build(&m, s, &o), 0);
    shard_kept(&m, kept, always_on_disk, &asked, &rt);
    shard(&(struct fixture){.m = m}, SHARDS, &fresh);
    assert_string_equal(rt.version, fresh.version);
    assert_string_equal(rt.t.text.data, fresh.t.text.data);
    assert_int_equal(routes_bytes(&rt), routes_bytes(&fresh));
    size_t made = 0;
    for (size_t k = 0; k < rt.nused; k++) {
        int must = rt.shards[k].index == changed || rt.shards[k].index == any;
        assert_int_equal(rt.shards[k].kept, !must);
        made += !rt.shards[k].kept;
        if (rt.shards[k].kept)
            assert_int_equal(rt.shards[k].nlines, 0);
    }
    assert_int_equal(made, changed == any ? 1 : 2);
    /* only the shards made have text */
    assert_true(rt.shards_text.text.len < fresh.shards_text.text.len / 2);
    routes_result_free(&rt);
    routes_result_free(&fresh);
    model_free(&m);
    /* a shard whose file is not on disk is made; so is every shard after
     * a forget, or under another N */
    assert_int_equal(model_build(&m, s, &o), 0);
    shard_kept(&m, kept, never_on_disk, &asked, &rt);
    for (size_t k = 0; k < rt.nused; k++)
        assert_false(rt.shards[k].kept);
    routes_result_free(&rt);
    model_free(&m);
    routes_kept_forget(kept);
    assert_int_equal(model_build(&m, s, &o), 0);
    asked = 0;
    shard_kept(&m, kept, always_on_disk, &asked, &rt);
    assert_int_equal(asked, 0);
    routes_result_free(&rt);
    model_free(&m);
    routes_kept_free(kept);
    model_cache_free(o.cache);
    store_free(s);
    free(yaml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_version_config_and_https_port_come_first),
        cmocka_unit_test(rules_are_exact_first_then_longest_prefix_before_plain),
        cmocka_unit_test(default_backend_missing_service_and_profiles_have_lines),
        cmocka_unit_test(
            default_backend_and_custom_errors_have_words_and_pages),
        cmocka_unit_test(https_only_and_wildcard_hosts_have_their_section),
        cmocka_unit_test(affinity_annotations_become_the_rules_words),
        cmocka_unit_test(same_bytes_whatever_the_input_order),
        cmocka_unit_test(version_changes_exactly_when_the_content_does),
        cmocka_unit_test(every_line_is_traced_to_the_ingress_that_made_it),
        cmocka_unit_test(
            options_shared_by_ingresses_make_one_profile_owned_by_the_oldest),
        cmocka_unit_test(config_token_changes_exactly_when_the_profiles_do),
        cmocka_unit_test(
            a_table_in_shards_puts_each_host_in_its_crc_shard_as_in_one_file),
        cmocka_unit_test(
            one_change_renames_only_its_shard_and_changes_the_version),
        cmocka_unit_test(one_shard_is_format_2),
        cmocka_unit_test(
            the_shard_count_follows_the_hosts_within_a_factor_of_two),
        cmocka_unit_test(an_nginx_t_error_in_a_shard_line_names_its_ingress),
        cmocka_unit_test(a_check_head_names_only_the_shards_asked_for),
        cmocka_unit_test(
            a_render_keeps_the_shards_of_unchanged_servers_as_made_before),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
