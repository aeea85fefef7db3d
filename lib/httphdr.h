/*
 * httphdr.h - small parsers for HTTP response header lines, as libcurl's
 * CURLOPT_HEADERFUNCTION hands them over (not NUL-terminated, with CRLF).
 */
#ifndef PORTICO_HTTPHDR_H
#define PORTICO_HTTPHDR_H

#include <stddef.h>

/* If line is "Retry-After: N" (delay-seconds form, any case), stores N in
 * *seconds and returns 1; otherwise returns 0 and leaves *seconds alone.
 * The HTTP-date form is not understood (returns 0). */
int httphdr_retry_after(const char *line, size_t len, long *seconds);

#endif
