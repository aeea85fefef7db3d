/*
 * ownedtext.h - generated text that remembers which Ingress produced each
 * line, so that an error reported as "in FILE:LINE" (by `nginx -t`) can be
 * traced back to the Ingress to leave out. Used for nginx.conf (render.c)
 * and the route table (routes.c).
 *
 * Out-of-memory is sticky, as in buf.h: check ownedtext_failed() once at
 * the end.
 */
#ifndef PORTICO_CONTROLLER_OWNEDTEXT_H
#define PORTICO_CONTROLLER_OWNEDTEXT_H

#include <stddef.h>

#include "buf.h"

#define OWNER_NONE ((size_t)-1)     /* a line no Ingress produced */

struct ownedtext {
    struct buf text;
    size_t *line_owner;     /* per line (1-based line - 1): Ingress index
                               in model.ings, or OWNER_NONE */
    size_t nlines;
    size_t cap_lines;
    int failed;
};

void ownedtext_init(struct ownedtext *t);
void ownedtext_free(struct ownedtext *t);

/* Appends formatted text; every line it completes belongs to owner. */
void ownedtext_printf(struct ownedtext *t, size_t owner, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Room for bytes more of text and lines more owners, so that a large
 * text grows without copies; 0, or -1 out of memory (sticky). */
int ownedtext_reserve(struct ownedtext *t, size_t bytes, size_t lines);

/* For text appended to t->text directly: call with the length before the
 * append; every line completed since then belongs to owner. */
void ownedtext_track(struct ownedtext *t, size_t from, size_t owner);

/* Appends prefix, value quoted for nginx.conf (validate.h cfg_quote) and
 * suffix; the lines completed belong to owner. */
void ownedtext_quoted(struct ownedtext *t, size_t owner, const char *prefix,
                      const char *value, const char *suffix);

/* Appends all of src (text and owners); src must end with a newline. */
void ownedtext_append(struct ownedtext *t, const struct ownedtext *src);

/* The owner of 1-based line, OWNER_NONE when out of range. */
size_t ownedtext_owner(const struct ownedtext *t, size_t line);

int ownedtext_failed(const struct ownedtext *t);

/* Parses "... in /path/file:123" from an nginx -t error: the line number
 * for that very file, or 0 if none. */
size_t ownedtext_error_line(const char *nginx_output, const char *file);

#endif
