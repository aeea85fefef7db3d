/*
 * fileio.h - reading a whole (small) file into memory: the one reader of
 * the daemons; and writing one.
 */
#ifndef PORTICO_FILEIO_H
#define PORTICO_FILEIO_H

#include <stddef.h>

/* Returns the file's bytes, NUL-terminated (len excludes the NUL; len may
 * be NULL), or NULL with errno set (EFBIG when the file is larger than
 * max). Caller frees. */
char *file_read(const char *path, size_t max, size_t *len);
/* The same from an open descriptor (a pipe, stdin), read to its end; fd
 * stays open. */
char *file_read_fd(int fd, size_t max, size_t *len);

/* "DIR/name" for path "DIR/FILE" (name alone for a path without '/'):
 * malloc'd, or NULL out of memory. */
char *file_sibling(const char *path, const char *name);

/* Creates or truncates path (mode 0644) and writes len bytes of data:
 * 0, or -1 with errno set. Not atomic: write a temporary name and rename
 * it where readers must never see part of it. */
int file_write(const char *path, const void *data, size_t len);

#endif
