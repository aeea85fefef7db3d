/* fileio.c - see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

char *file_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096 + 1) {
            char *nd;
            cap = cap ? cap * 2 : 8192;
            nd = realloc(data, cap);
            if (!nd)
                goto fail;
            data = nd;
        }
        size_t got = fread(data + n, 1, cap - n - 1, f);
        n += got;
        if (n > max) {
            errno = EFBIG;
            goto fail;
        }
        if (got == 0) {
            if (ferror(f))
                goto fail;
            break;
        }
    }
    fclose(f);
    data[n] = '\0';
    if (len)
        *len = n;
    return data;
fail:
    fclose(f);
    free(data);
    return NULL;
}
