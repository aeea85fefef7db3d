/* libFuzzer target: arbitrary annotations through the annotation layer.
 * The input is "KEY\nVALUE\n" pairs (keys get one of our prefixes by the
 * first byte); ann_read runs with both operator settings, then the
 * refusal and notice texts are built. Must never crash, leak or hang, and
 * no value it accepts may carry a byte that means something to nginx
 * (quotes, backslash, '$', ';', braces, '#', control bytes; a route or
 * certificate table word only no control byte), but for the few variables that
 * auth-url, auth-signin, auth-cache-key and rewrite-target allow. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "controller/annotations.h"
#include "controller/validate.h"

#define PAIRS_MAX 32

static const char *const prefixes[] = {"portico.io/",
                                       "nginx.ingress.kubernetes.io/",
                                       "ingress.example.com/", ""};

/* The length of an allowed nginx variable at c in a value of id (the
 * grammars of auth-url, auth-signin and auth-cache-key take a few,
 * rewrite-target a capture $0-$9), or 0. */
static size_t allowed_var(enum ann_id id, const char *c)
{
    int client;

    if (id == ANN_REWRITE_TARGET)
        return c[1] >= '0' && c[1] <= '9' ? 2 : 0;
    if (id == ANN_AUTH_URL || id == ANN_AUTH_SIGNIN)
        return validate_auth_url_var(c, strlen(c));
    if (id == ANN_AUTH_CACHE_KEY)
        return validate_auth_cache_key_var(c, strlen(c), &client);
    return 0;
}

static void check_values(const struct ann_result *r)
{
    for (size_t i = 0; i < r->nvalues; i++) {
        /* Route and certificate table words (a canary header pattern,
         * a client certificate's CN regex) never reach nginx.conf: only
         * control bytes are forbidden there (the module reads them as
         * data, never as configuration). */
        enum ann_effect effect = ann_def_of(r->values[i].id)->effect;
        int table = effect == ANN_EFFECT_CERTS || effect == ANN_EFFECT_TABLE;
        const char *c = r->values[i].value;
        while (*c) {
            size_t v = *c == '$' ? allowed_var(r->values[i].id, c) : 0;
            unsigned char u = (unsigned char)*c;
            if (!v && (u < 0x20 || u == 0x7f ||
                       (!table && strchr("\"\\$;{}#", u))))
                abort();
            c += v ? v : 1;
        }
    }
}

static void run(struct json_object *ann, const struct ann_config *cfg)
{
    struct ann_result r;
    char text[ANN_REASON_MAX];

    if (ann_read(cfg, ann, 1, &r) < 0)
        return;
    check_values(&r);
    ann_refusal(&r, text, sizeof(text));
    ann_notice(&r, text, sizeof(text));
    for (size_t i = 0; i < ann_table_len; i++)
        if (ann_table[i].state == ANN_SUPPORTED)
            (void)ann_get(&r, ann_table[i].id);
    ann_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct json_object *ann = json_object_new_object();
    const char *p = (const char *)data, *end = p + size;
    char key[512];
    const struct ann_config plain = {0};
    const struct ann_config custom = {.nginx_prefix = "ingress.example.com",
                                      .allow_unenforced_access = 1};
    const struct ann_config off = {.nginx_prefix_off = 1};

    for (int n = 0; ann && p < end && n < PAIRS_MAX; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *k = p;
        size_t klen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *v = nl ? nl + 1 : end;
        const char *vnl = v < end ? memchr(v, '\n', (size_t)(end - v)) : NULL;
        size_t vlen = vnl ? (size_t)(vnl - v) : (size_t)(end - v);
        unsigned pick = klen ? (unsigned char)k[0] % 4 : 0;
        if (klen) {
            k++;
            klen--;
        }
        snprintf(key, sizeof(key), "%s%.*s", prefixes[pick],
                 (int)(klen > 400 ? 400 : klen), k);
        json_object_object_add(ann, key,
                               json_object_new_string_len(v, (int)vlen));
        p = vnl ? vnl + 1 : end;
    }
    run(ann, &plain);
    run(ann, &custom);
    run(ann, &off);
    json_object_put(ann);
    return 0;
}
