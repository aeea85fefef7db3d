/*
 * fileio.h - reading a whole (small) file into memory.
 */
#ifndef PORTICO_FILEIO_H
#define PORTICO_FILEIO_H

#include <stddef.h>

/* Returns the file's bytes, NUL-terminated (len excludes the NUL), or NULL
 * with errno set (EFBIG when the file is larger than max). Caller frees. */
char *file_read(const char *path, size_t max, size_t *len);

#endif
