/* dnsname.c - the DNS-name grammar and its options; see dnsname.h. */
#include "dnsname.h"

#include <string.h>

static int label_char(char c, unsigned options)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
        return 1;
    if ((options & DNSNAME_UPPERCASE) && c >= 'A' && c <= 'Z')
        return 1;
    return (options & DNSNAME_UNDERSCORE) && c == '_';
}

/* One label s[0..len): 1 to 63 bytes of the grammar, no '-' at an end. */
static int label_ok(const char *s, size_t len, unsigned options)
{
    if (len == 0 || len > DNSNAME_LABEL_MAX || s[0] == '-' ||
        s[len - 1] == '-')
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!label_char(s[i], options))
            return 0;
    return 1;
}

enum dnsname_result dnsname_check(const char *s, size_t len, unsigned options,
                                  size_t *labels)
{
    size_t start = 0, n = 0;

    if (labels)
        *labels = 0;
    if ((options & DNSNAME_TRAILING_DOT) && len > 1 && s[len - 1] == '.')
        len--;
    if (len == 0)
        return DNSNAME_EMPTY;
    if (len > DNSNAME_MAX)
        return DNSNAME_TOO_LONG;
    if ((options & DNSNAME_WILDCARD) && len >= 2 && s[0] == '*' &&
        s[1] == '.') {
        s += 2;
        len -= 2;
    }
    if (memchr(s, '*', len))
        return DNSNAME_BAD_WILDCARD;
    if ((options & DNSNAME_ONE_LABEL) && memchr(s, '.', len))
        return DNSNAME_BAD_LABEL;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (!label_ok(s + start, i - start, options))
            return DNSNAME_BAD_LABEL;
        n++;
        start = i + 1;
    }
    if (labels)
        *labels = n;
    return DNSNAME_OK;
}

int dnsname_valid(const char *s, unsigned options)
{
    return s && dnsname_check(s, strlen(s), options, NULL) == DNSNAME_OK;
}
