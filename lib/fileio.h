/*
 * fileio.h - reading a whole (small) file into memory: the one reader of
 * the daemons.
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

#endif
