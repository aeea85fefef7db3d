/* ownedtext.c - text with an owning Ingress per line (see ownedtext.h). */
#include "controller/ownedtext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/validate.h"

#define FIRST_LINES  1024
#define SMALL_FORMAT 512

void ownedtext_init(struct ownedtext *t)
{
    memset(t, 0, sizeof(*t));
    buf_init(&t->text);
}

void ownedtext_free(struct ownedtext *t)
{
    buf_free(&t->text);
    free(t->line_owner);
    memset(t, 0, sizeof(*t));
}

void ownedtext_quoted(struct ownedtext *t, size_t owner, const char *prefix,
                      const char *value, const char *suffix)
{
    size_t from = t->text.len;

    buf_puts(&t->text, prefix);
    cfg_quote(&t->text, value);
    buf_puts(&t->text, suffix);
    ownedtext_track(t, from, owner);
}

int ownedtext_reserve(struct ownedtext *t, size_t bytes, size_t lines)
{
    if (buf_reserve(&t->text, bytes) < 0)
        return -1;
    if (t->nlines + lines > t->cap_lines) {
        size_t *n = realloc(t->line_owner,
                            (t->nlines + lines) * sizeof(*n));
        if (!n) {
            t->failed = 1;
            return -1;
        }
        t->line_owner = n;
        t->cap_lines = t->nlines + lines;
    }
    return 0;
}

void ownedtext_track(struct ownedtext *t, size_t from, size_t owner)
{
    const char *end;

    if (!t->text.data)
        return;
    end = t->text.data + t->text.len;
    for (const char *c = t->text.data + from;
         c < end && (c = memchr(c, '\n', (size_t)(end - c))) != NULL;
         c++) {
        if (t->nlines == t->cap_lines) {
            size_t cap = t->cap_lines ? t->cap_lines * 2 : FIRST_LINES;
            size_t *n = realloc(t->line_owner, cap * sizeof(*n));
            if (!n) {
                t->failed = 1;
                return;
            }
            t->line_owner = n;
            t->cap_lines = cap;
        }
        t->line_owner[t->nlines++] = owner;
    }
}

void ownedtext_printf(struct ownedtext *t, size_t owner, const char *fmt, ...)
{
    size_t from = t->text.len;
    char small[SMALL_FORMAT];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = 1;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        buf_append(&t->text, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (!big) {
            t->failed = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_append(&t->text, big, (size_t)n);
        free(big);
    }
    ownedtext_track(t, from, owner);
}

void ownedtext_append(struct ownedtext *t, const struct ownedtext *src)
{
    size_t need = t->nlines + src->nlines;

    if (need > t->cap_lines) {
        size_t *n = realloc(t->line_owner, need * sizeof(*n));
        if (!n) {
            t->failed = 1;
            return;
        }
        t->line_owner = n;
        t->cap_lines = need;
    }
    buf_append(&t->text, src->text.data, src->text.len);
    if (src->nlines)
        memcpy(t->line_owner + t->nlines, src->line_owner,
           src->nlines * sizeof(*src->line_owner));
    t->nlines = need;
}

size_t ownedtext_owner(const struct ownedtext *t, size_t line)
{
    return line >= 1 && line <= t->nlines ? t->line_owner[line - 1]
                                          : OWNER_NONE;
}

int ownedtext_failed(const struct ownedtext *t)
{
    return t->failed || buf_failed(&t->text);
}

size_t ownedtext_error_line(const char *output, const char *file)
{
    size_t flen = strlen(file);
    const char *p = output;

    while ((p = strstr(p, file)) != NULL) {
        p += flen;
        if (*p == ':' && p[1] >= '0' && p[1] <= '9')
            return (size_t)strtoul(p + 1, NULL, 10);
    }
    return 0;
}
