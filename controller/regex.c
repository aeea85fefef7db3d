/* regex.c - route table regexes checked as the module compiles and
 * matches them (see regex.h). */
#include "controller/regex.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "hash.h"
#include "regex_limits.h"

#define PROBE_CHARS_MAX  24     /* distinct characters probed */
#define PROBE_PAIR_STEP  2      /* "/c" repeated: segment-like subjects */

/* PCRE2's metacharacters outside a class. */
static const char META[] = "\\^$.[]|()?*+{}";
/* Characters a URI probe is made of, besides the pattern's own. */
static const char BASE_CHARS[] = "a0A/-._ ";
/* Endings that make a match that needs more (or the end) fail. */
static const char *const ENDINGS[] = {"", "!", "\x01"};

/* Open addressing over the FNV-1a hashes of kind and pattern (0: free),
 * twice REGEX_MEMO_MAX slots. */
struct regex_memo {
    uint64_t slots[2 * REGEX_MEMO_MAX];
    size_t n;
};

struct checker {
    pcre2_code *re[2];
    size_t nre;
    pcre2_match_context *ctx;
    pcre2_match_data *data;
    pcre2_jit_stack *jit_stack;
};

static int is_quantifier(char c)
{
    return c == '?' || c == '*' || c == '+' || c == '{';
}

/* The literal text the pattern starts with (a character a quantifier
 * follows is not part of it). */
static size_t literal_prefix(const char *p, size_t len, char *out,
                             size_t outlen)
{
    size_t n = 0, i = 0;

    while (i < len && n + 1 < outlen) {
        char c = p[i];
        size_t step = 1;
        if (c == '\\') {
            /* an escaped punctuation character is itself; \d, \w, ...
             * are classes */
            if (i + 1 >= len || (p[i + 1] >= 'a' && p[i + 1] <= 'z') ||
                (p[i + 1] >= 'A' && p[i + 1] <= 'Z') ||
                (p[i + 1] >= '0' && p[i + 1] <= '9'))
                break;
            c = p[i + 1];
            step = 2;
        } else if (strchr(META, c)) {
            break;
        }
        if (i + step < len && is_quantifier(p[i + step]))
            break;
        out[n++] = c;
        i += step;
    }
    out[n] = '\0';
    return n;
}

/* The literal runs of the pattern (at most max, each under
 * RUN_MAX bytes), to reach what follows an alternative or a group. */
#define RUN_MAX   64
#define RUNS_MAX  6

static size_t literal_runs(const char *p, size_t len,
                           char runs[RUNS_MAX][RUN_MAX])
{
    size_t n = 0, k = 0, depth = 0;

    for (size_t i = 0; i <= len && n < RUNS_MAX; i++) {
        int literal = i < len && !strchr(META, p[i]) &&
                      !(i + 1 < len && is_quantifier(p[i + 1]));
        if (i < len && p[i] == '[')
            depth++;
        else if (i < len && p[i] == ']' && depth)
            depth--;
        if (i < len && p[i] == '\\') {
            i++;                    /* an escape ends a run */
            literal = 0;
        }
        if (literal && !depth && k + 1 < RUN_MAX) {
            runs[n][k++] = p[i];
            continue;
        }
        if (k > 1) {
            runs[n][k] = '\0';
            n++;
        }
        k = 0;
    }
    return n;
}

/* The characters to probe with: the pattern's printable ones (outside
 * escapes' letters), then BASE_CHARS, each once. */
static size_t probe_chars(const char *p, size_t len, char *out)
{
    size_t n = 0;
    char all[REGEX_PROBE_MAX + sizeof(BASE_CHARS)];
    size_t m = 0;

    for (size_t i = 0; i < len && m < REGEX_PROBE_MAX; i++) {
        if (p[i] == '\\') {
            i++;            /* \d, \., ...: the class, not the letter */
            continue;
        }
        if (!strchr(META, p[i]) && p[i] > ' ' && p[i] < 0x7f)
            all[m++] = p[i];
    }
    memcpy(all + m, BASE_CHARS, sizeof(BASE_CHARS) - 1);
    m += sizeof(BASE_CHARS) - 1;
    for (size_t i = 0; i < m && n < PROBE_CHARS_MAX; i++)
        if (!memchr(out, all[i], n))
            out[n++] = all[i];
    return n;
}

static int compile(struct checker *c, const char *p, size_t len,
                   uint32_t options, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[128];
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, len, options, &code, &off,
                                   NULL);

    if (!re) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        snprintf(err, errlen, "PCRE2 refuses the regular expression at "
                              "offset %zu: %s", (size_t)off, (char *)msg);
        return -1;
    }
    /* as the module matches it: JIT-compiled where PCRE2 can, else
     * interpreted (the match limit holds either way) */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    c->re[c->nre++] = re;
    return 0;
}

/* 0, or -1 when a regex goes past a limit on subject s. */
static int probe(struct checker *c, const char *s, size_t len, char *err,
                 size_t errlen)
{
    for (size_t i = 0; i < c->nre; i++) {
        int rc = pcre2_match(c->re[i], (PCRE2_SPTR)s, len, 0, 0, c->data,
                             c->ctx);
        if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH)
            continue;
        snprintf(err, errlen, "the regular expression is too costly: "
                              "matching a URI of %zu bytes went past the "
                              "limit of %d steps (nested or overlapping "
                              "repeats such as (a+)+ backtrack without "
                              "end)", len, PORTICO_REGEX_MATCH_LIMIT);
        return -1;
    }
    return 0;
}

/* Every probe subject: prefix, then one character (or "/" and it) up to
 * REGEX_PROBE_MAX bytes, then each ending. */
static int probe_all(struct checker *c, const char *prefix, size_t plen,
                     const char *chars, size_t nchars, char *err,
                     size_t errlen)
{
    char s[REGEX_PROBE_MAX + 1];

    for (size_t k = 0; k < nchars; k++) {
        for (int pair = 0; pair < 2; pair++) {
            for (size_t e = 0; e < sizeof(ENDINGS) / sizeof(ENDINGS[0]);
                 e++) {
                size_t elen = strlen(ENDINGS[e]);
                size_t n = plen;
                if (plen + elen >= REGEX_PROBE_MAX)
                    return 0;
                memcpy(s, prefix, plen);
                while (n + elen + PROBE_PAIR_STEP <= REGEX_PROBE_MAX) {
                    if (pair)
                        s[n++] = '/';
                    s[n++] = chars[k];
                }
                memcpy(s + n, ENDINGS[e], elen);
                if (probe(c, s, n + elen, err, errlen) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

struct regex_memo *regex_memo_new(void)
{
    return calloc(1, sizeof(struct regex_memo));
}

void regex_memo_free(struct regex_memo *memo)
{
    free(memo);
}

static uint64_t memo_key(const char *pattern, size_t len,
                         enum regex_kind kind)
{
    unsigned char k = (unsigned char)kind;
    uint64_t h = hash_fnv1a64(HASH_FNV1A64_INIT, &k, 1);

    h = hash_fnv1a64(h, pattern, len);
    return h ? h : 1;
}

/* 1 if the key is in the memo; else adds it when add, and 0. */
static int memo_has(struct regex_memo *memo, uint64_t key, int add)
{
    const size_t mask = 2 * REGEX_MEMO_MAX - 1;
    size_t i = (size_t)key & mask;

    while (memo->slots[i]) {
        if (memo->slots[i] == key)
            return 1;
        i = (i + 1) & mask;
    }
    if (add) {
        if (memo->n == REGEX_MEMO_MAX) {
            memset(memo->slots, 0, sizeof(memo->slots));
            memo->n = 0;
            i = (size_t)key & mask;
        }
        memo->slots[i] = key;
        memo->n++;
    }
    return 0;
}

int regex_check(const char *pattern, size_t len, enum regex_kind kind,
                struct regex_memo *memo, char *err, size_t errlen)
{
    struct checker c = {.nre = 0};
    char anchored[PORTICO_REGEX_PATTERN_MAX + 2];
    char prefix[PORTICO_REGEX_PATTERN_MAX + 1];
    char chars[PROBE_CHARS_MAX];
    char runs[RUNS_MAX][RUN_MAX];
    size_t plen, nchars, nruns;
    int rc = -1;

    if (len > PORTICO_REGEX_PATTERN_MAX) {
        snprintf(err, errlen, "regular expression longer than %d bytes",
                 PORTICO_REGEX_PATTERN_MAX);
        return -1;
    }
    if (memo && memo_has(memo, memo_key(pattern, len, kind), 0))
        return 0;
    if (kind == REGEX_ROUTE) {
        anchored[0] = '^';
        memcpy(anchored + 1, pattern, len);
        if (compile(&c, anchored, len + 1, PCRE2_CASELESS, err, errlen) < 0)
            goto out;
        /* the rewrite's own match (the module's, for an alternation) */
        if (memchr(pattern, '|', len) &&
            compile(&c, pattern, len, PCRE2_CASELESS, err, errlen) < 0)
            goto out;
    } else if (compile(&c, pattern, len, 0, err, errlen) < 0) {
        goto out;
    }
    c.ctx = pcre2_match_context_create(NULL);
    c.data = pcre2_match_data_create(PORTICO_REGEX_CAPTURES, NULL);
    c.jit_stack = pcre2_jit_stack_create(PORTICO_REGEX_JIT_STACK_START,
                                         PORTICO_REGEX_HEAP_LIMIT * 1024,
                                         NULL);
    if (!c.ctx || !c.data || !c.jit_stack) {
        snprintf(err, errlen, "out of memory checking a regular "
                              "expression");
        goto out;
    }
    pcre2_set_match_limit(c.ctx, PORTICO_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(c.ctx, PORTICO_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(c.ctx, PORTICO_REGEX_HEAP_LIMIT);
    pcre2_jit_stack_assign(c.ctx, NULL, c.jit_stack);

    plen = literal_prefix(pattern, len, prefix, sizeof(prefix));
    nchars = probe_chars(pattern, len, chars);
    if (probe_all(&c, prefix, plen, chars, nchars, err, errlen) < 0 ||
        (plen > 1 && probe_all(&c, "/", 1, chars, nchars, err,
                               errlen) < 0))
        goto out;
    /* past a group: the literal prefix, a run of the pattern, "/" */
    nruns = literal_runs(pattern, len, runs);
    for (size_t i = 0; i < nruns; i++) {
        char ahead[sizeof(prefix) + RUN_MAX + 1];
        int n = snprintf(ahead, sizeof(ahead), "%s%s/", prefix, runs[i]);
        if (n > 0 && (size_t)n < sizeof(ahead) &&
            probe_all(&c, ahead, (size_t)n, chars, nchars, err, errlen) < 0)
            goto out;
    }
    if (memo)
        (void)memo_has(memo, memo_key(pattern, len, kind), 1);
    rc = 0;
out:
    for (size_t i = 0; i < c.nre; i++)
        pcre2_code_free(c.re[i]);
    pcre2_match_context_free(c.ctx);
    pcre2_match_data_free(c.data);
    pcre2_jit_stack_free(c.jit_stack);
    return rc;
}
