/*
 * buf.h - a growable byte buffer, always NUL-terminated.
 *
 * Out-of-memory is sticky: after a failed growth every append is a no-op
 * and buf_failed() is true, so callers check once at the end.
 */
#ifndef PORTICO_BUF_H
#define PORTICO_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_failed(const struct buf *b);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *buf_steal(struct buf *b, size_t *len);

#endif
