/* libFuzzer target: arbitrary bytes as a manifest file (YAML, then JSON)
 * through the whole local-mode path: parse, store, model, render
 * nginx.conf and the route table. Must never crash, leak or hang, whatever
 * the input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "controller/manifest.h"
#include "controller/model.h"
#include "controller/object.h"
#include "controller/profiles.h"
#include "controller/render.h"
#include "controller/routes.h"
#include "controller/store.h"
#include "tests/unit/controller/fixtures.h"

/* TEST_MODEL_OPTS, and Ingresses without a class served too. */
static const struct model_opts OPTS = {
    .controller_class = "portico.io/ingress-controller",
    .ingress_class = "portico",
    .watch_without_class = 1,
    .cluster_domain = "cluster.local",
};

static enum resource_kind kind_of(struct json_object *doc)
{
    const char *k = k8s_str(doc, "kind");

    if (!k)
        return RK_COUNT;
    if (strcmp(k, "Ingress") == 0)
        return RK_INGRESS;
    if (strcmp(k, "Service") == 0)
        return RK_SERVICE;
    if (strcmp(k, "IngressClass") == 0)
        return RK_INGRESS_CLASS;
    return RK_COUNT;    /* Secrets need files: not fuzzed here */
}

static void run(const uint8_t *data, size_t size, int is_json)
{
    char err[256];
    struct json_object *docs = manifest_parse((const char *)data, size,
                                              is_json, err, sizeof(err));
    struct store *s;
    struct model m;
    struct render_result r;
    struct routes_result rt;
    struct profiles p;

    if (!docs)
        return;
    s = store_new(NULL, NULL);
    for (size_t i = 0; s && i < json_object_array_length(docs); i++) {
        struct json_object *d = json_object_array_get_idx(docs, i);
        enum resource_kind k = kind_of(d);
        if (k != RK_COUNT && manifest_check_limits(d, err, sizeof(err)) == 0)
            store_put(s, k, d);
    }
    if (s && model_build(&m, s, &OPTS) == 0) {
        if (profiles_build(&m, &p) == 0) {
            if (render_config(&m, &p, &TEST_RENDER_OPTS, &r) == 0)
                render_result_free(&r);
            if (routes_render(&m, &p, TEST_RENDER_OPTS.https_port, &rt) == 0)
                routes_result_free(&rt);
            profiles_free(&p);
        }
        model_free(&m);
    }
    store_free(s);
    json_object_put(docs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int initialised;

    if (!initialised) {
        log_init("fuzz", LOG_ERROR);
        initialised = 1;
    }
    run(data, size, 0);
    run(data, size, 1);
    return 0;
}
