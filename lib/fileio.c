/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIRST_CHUNK 8192
#define MIN_ROOM    4096

char *file_read_fd(int fd, size_t max, size_t *len)
{
    char *data = NULL;
    size_t n = 0, cap = 0;

    for (;;) {
        ssize_t got;
        if (cap - n < MIN_ROOM + 1) {
            char *nd;
            cap = cap ? cap * 2 : FIRST_CHUNK;
            nd = realloc(data, cap);
            if (!nd)
                goto fail;
            data = nd;
        }
        got = read(fd, data + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        n += (size_t)got;
        if (n > max) {
            errno = EFBIG;
            goto fail;
        }
    }
    data[n] = '\0';
    if (len)
        *len = n;
    return data;
fail:
    free(data);
    return NULL;
}

char *file_read(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *data;
    int saved;

    if (fd < 0)
        return NULL;
    data = file_read_fd(fd, max, len);
    saved = errno;
    close(fd);
    errno = saved;
    return data;
}

char *file_sibling(const char *path, const char *name)
{
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path + 1) : 0;
    char *out;

    return asprintf(&out, "%.*s%s", dir, path, name) < 0 ? NULL : out;
}

int file_write(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t w = write(fd, (const char *)data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int saved = w < 0 ? errno : EIO;
            close(fd);
            errno = saved;
            return -1;
        }
        off += (size_t)w;
    }
    return close(fd);
}
