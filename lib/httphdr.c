/* httphdr.c - see httphdr.h. */
#include "httphdr.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { RETRY_AFTER_VALUE_MAX = 32 };

int httphdr_retry_after(const char *line, size_t len, long *seconds)
{
    static const char name[] = "retry-after:";
    const size_t nlen = sizeof(name) - 1;
    char value[RETRY_AFTER_VALUE_MAX], *end;
    size_t vlen;
    long v;

    if (len <= nlen || strncasecmp(line, name, nlen) != 0)
        return 0;
    vlen = len - nlen;
    if (vlen >= sizeof(value))
        vlen = sizeof(value) - 1;
    memcpy(value, line + nlen, vlen);
    value[vlen] = '\0';
    v = strtol(value, &end, 10);
    if (end == value || v < 0)
        return 0;
    *seconds = v;
    return 1;
}
