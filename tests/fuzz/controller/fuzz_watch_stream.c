/* libFuzzer target for the watch-stream parser (controller/kube/
 * watchstream): arbitrary bytes, fed in pieces whose sizes come from the
 * input itself, must never crash, leak or hang; and a stream that parses
 * whole must parse identically in pieces. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller/kube/watchstream.h"

enum { FUZZ_MAX_EVENT = 1 << 16 };

struct tally {
    unsigned long events;
    unsigned long hash;
};

static int count(void *arg, const char *type, struct json_object *obj)
{
    struct tally *t = arg;
    const char *s = json_object_to_json_string(obj);
    t->events++;
    for (; *type; type++)
        t->hash = t->hash * 31 + (unsigned char)*type;
    for (; s && *s; s++)
        t->hash = t->hash * 31 + (unsigned char)*s;
    return 0;
}

static int run(const uint8_t *data, size_t size, size_t step,
               struct tally *t)
{
    struct watch_stream *ws = watch_stream_new(FUZZ_MAX_EVENT, count, t);
    int rc = 0;
    if (!ws)
        return -2;
    for (size_t at = 0; at < size && rc == 0; at += step) {
        size_t n = size - at < step ? size - at : step;
        rc = watch_stream_feed(ws, (const char *)data + at, n);
    }
    watch_stream_free(ws);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tally whole = {0, 0}, pieces = {0, 0};
    size_t step;
    int a, b;

    if (size == 0)
        return 0;
    step = (size_t)(data[0] % 17) + 1;
    a = run(data + 1, size - 1, size, &whole);
    b = run(data + 1, size - 1, step, &pieces);
    /* A stream that parses whole parses the same in pieces: the same
     * events, in order. (The converse does not hold for invalid input:
     * json-c 0.16 accepts "6" then "-4" in two chunks as the number 6, and
     * may look one byte past a closing brace. Either way the reflector
     * sees a bad or truncated stream and re-watches from the last
     * resourceVersion.) */
    if (a == 0 && (b != 0 || whole.events != pieces.events ||
                   whole.hash != pieces.hash))
        abort();
    return 0;
}
