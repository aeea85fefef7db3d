/* validate.c - strict grammars for resource strings, and nginx quoting
 * (see validate.h). */
#include "validate.h"

#include <arpa/inet.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"

#define SHOW_MAX 64     /* bytes of an offending value echoed in a reason */

/* Writes a printable, truncated rendition of s for error messages. */
static void show(char *out, size_t outlen, const char *s, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && i < SHOW_MAX && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    if (len > SHOW_MAX && o + 4 < outlen) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

static int fail(char *err, size_t errlen, const char *what, const char *s,
                size_t len, const char *why)
{
    char shown[SHOW_MAX * 4 + 8];

    show(shown, sizeof(shown), s, len);
    snprintf(err, errlen, "invalid %s \"%s\": %s", what, shown, why);
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

int validate_dns_label(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len))
        return fail(err, errlen, "name", s, len, "contains a NUL byte");
    if (dnsname_check(s, len, DNSNAME_ONE_LABEL, NULL) != DNSNAME_OK)
        return fail(err, errlen, "name", s, len,
                    "must be a DNS-1123 label ([a-z0-9-], at most 63, "
                    "alphanumeric at both ends)");
    return 0;
}

int validate_dns_subdomain(const char *s, size_t len, char *err,
                           size_t errlen)
{
    if (has_nul(s, len))
        return fail(err, errlen, "name", s, len, "contains a NUL byte");
    if (dnsname_check(s, len, 0, NULL) != DNSNAME_OK)
        return fail(err, errlen, "name", s, len,
                    "must be a DNS-1123 subdomain (lowercase labels of "
                    "[a-z0-9-] joined by '.', at most 253)");
    return 0;
}

/* The last label all digits means an IPv4 address (or a bogus TLD). */
static int last_label_numeric(const char *s, size_t len)
{
    size_t i = len;

    while (i > 0 && s[i - 1] != '.')
        i--;
    for (size_t j = i; j < len; j++)
        if (!is_digit(s[j]))
            return 0;
    return 1;
}

/* The lowercase DNS grammar (lib/dnsname) plus the policy for hosts: no
 * port, no IP address, two labels at least after a wildcard. */
static int hostname_check(const char *what, const char *s, size_t len,
                          int allow_wildcard, char *err, size_t errlen)
{
    size_t labels;

    if (has_nul(s, len))
        return fail(err, errlen, what, s, len, "contains a NUL byte");
    switch (dnsname_check(s, len, allow_wildcard ? DNSNAME_WILDCARD : 0,
                          &labels)) {
    case DNSNAME_OK:
        break;
    case DNSNAME_EMPTY:
        return fail(err, errlen, what, s, len, "is empty");
    case DNSNAME_TOO_LONG:
        return fail(err, errlen, what, s, len, "longer than 253 bytes");
    case DNSNAME_BAD_WILDCARD:
        return fail(err, errlen, what, s, len,
                    "a wildcard must be the whole first label (*.example.com)");
    case DNSNAME_BAD_LABEL:
        if (memchr(s, ':', len))
            return fail(err, errlen, what, s, len, "must not contain a port");
        return fail(err, errlen, what, s, len,
                    "must be a lowercase RFC 1123 hostname "
                    "(labels of [a-z0-9-], at most 63 each)");
    }
    if (last_label_numeric(s, len))
        return fail(err, errlen, what, s, len,
                    "IP addresses are not allowed as hosts");
    if (s[0] == '*' && labels < 2)
        return fail(err, errlen, what, s, len,
                    "a wildcard needs at least two labels after it");
    return 0;
}

int validate_host(const char *s, size_t len, char *err, size_t errlen)
{
    return hostname_check("host", s, len, 1, err, errlen);
}

int validate_external_name(const char *s, size_t len, char *err,
                           size_t errlen)
{
    if (len > 1 && s[len - 1] == '.')
        len--;
    return hostname_check("externalName", s, len, 0, err, errlen);
}

static int path_char_ok(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
        return 1;
    return strchr("-._~/!*'()+,:@=&", c) != NULL && c != '\0';
}

int validate_path(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len))
        return fail(err, errlen, "path", s, len, "contains a NUL byte");
    if (len == 0 || s[0] != '/')
        return fail(err, errlen, "path", s, len, "must start with '/'");
    if (len > VALIDATE_PATH_MAX)
        return fail(err, errlen, "path", s, len, "longer than 1024 bytes");
    for (size_t i = 0; i < len; i++)
        if (!path_char_ok(s[i]))
            return fail(err, errlen, "path", s, len,
                        "only letters, digits and -._~/!*'()+,:@=& are "
                        "allowed");
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '/')
            continue;
        size_t j = i + 1;
        while (j < len && s[j] != '/')
            j++;
        size_t seg = j - i - 1;
        if (seg == 0 && j < len)
            return fail(err, errlen, "path", s, len,
                        "empty segment (\"//\")");
        if ((seg == 1 && s[i + 1] == '.') ||
            (seg == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
            return fail(err, errlen, "path", s, len,
                        "\".\" and \"..\" segments are not allowed");
    }
    return 0;
}

int validate_port_name(const char *s, size_t len, char *err, size_t errlen)
{
    int letter = 0;

    if (has_nul(s, len))
        return fail(err, errlen, "port name", s, len, "contains a NUL byte");
    if (len == 0 || len > VALIDATE_PORT_NAME_MAX)
        return fail(err, errlen, "port name", s, len, "must be 1-15 bytes");
    for (size_t i = 0; i < len; i++) {
        if (s[i] >= 'a' && s[i] <= 'z')
            letter = 1;
        else if (!is_digit(s[i]) && s[i] != '-')
            return fail(err, errlen, "port name", s, len,
                        "only [a-z0-9-] allowed");
        if (s[i] == '-' && (i == 0 || i == len - 1 || s[i - 1] == '-'))
            return fail(err, errlen, "port name", s, len,
                        "'-' not allowed at either end or twice in a row");
    }
    if (!letter)
        return fail(err, errlen, "port name", s, len,
                    "must contain a letter");
    return 0;
}

/* digits (1..maxdigits) then an optional unit from units. */
static int number_with_unit(const char *s, size_t len, size_t maxdigits,
                            const char *units)
{
    size_t d = 0;

    while (d < len && is_digit(s[d]))
        d++;
    if (d == 0 || d > maxdigits)
        return 0;
    if (d == len)
        return 1;
    return d + 1 == len && s[d] != '\0' && strchr(units, s[d]) != NULL;
}

#define SIZE_DIGITS_MAX    12
#define TIMEOUT_DIGITS_MAX 6
#define COUNT_DIGITS_MAX   6
#define PORT_DIGITS_MAX    5
#define PORT_MAX           65535

/* 1-65535 in decimal digits. */
static int valid_port_digits(const char *s, size_t len)
{
    long v = 0;

    if (!number_with_unit(s, len, PORT_DIGITS_MAX, "") || s[0] == '0')
        return 0;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return v <= PORT_MAX;
}

int validate_size(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, SIZE_DIGITS_MAX, "kKmMgG"))
        return fail(err, errlen, "size", s, len,
                    "must be 1-12 digits with an optional k, m or g");
    return 0;
}

int validate_timeout(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, TIMEOUT_DIGITS_MAX, "smh"))
        return fail(err, errlen, "timeout", s, len,
                    "must be 1-6 digits with an optional s, m or h");
    return 0;
}

/* ---- access-control annotations ---------------------------------------- */

#define CIDR_ITEM_MAX 50        /* longest address text + "/128" */

/* One "addr[/len]" item into its canonical text; 0 or -1 with why. */
static int cidr_item(const char *s, size_t len, char out[VALIDATE_CIDR_TEXT_MAX],
                     const char **why)
{
    unsigned char a[16];
    char text[CIDR_ITEM_MAX + 1], addr[INET6_ADDRSTRLEN];
    const char *slash;
    int family, bits, prefix;

    if (len == 0) {
        *why = "empty item";
        return -1;
    }
    if (len > CIDR_ITEM_MAX) {
        *why = "item too long";
        return -1;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    slash = strchr(text, '/');
    family = strchr(text, ':') ? AF_INET6 : AF_INET;
    bits = family == AF_INET6 ? 128 : 32;
    prefix = bits;
    if (slash) {
        const char *d = slash + 1;
        size_t n = strlen(d);
        if (n == 0 || n > 3 || strspn(d, "0123456789") != n ||
            (n > 1 && d[0] == '0')) {
            *why = "the prefix length must be a number";
            return -1;
        }
        prefix = atoi(d);
        if (prefix > bits) {
            *why = family == AF_INET6 ? "an IPv6 prefix is at most 128"
                                      : "an IPv4 prefix is at most 32";
            return -1;
        }
        text[slash - text] = '\0';
    }
    if (inet_pton(family, text, a) != 1) {
        *why = "not an IPv4 or IPv6 address";
        return -1;
    }
    for (int i = prefix; i < bits; i++)
        a[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
    inet_ntop(family, a, addr, sizeof(addr));
    snprintf(out, VALIDATE_CIDR_TEXT_MAX, "%s/%d", addr, prefix);
    return 0;
}

/* Calls ok(arg, item, n) for every ','-separated item (spaces around
 * it trimmed); -1 at the first empty or refused item. */
static int each_item(const char *s, size_t len,
                     int (*ok)(void *, const char *, size_t), void *arg)
{
    size_t i = 0;

    if (has_nul(s, len))
        return -1;
    while (i <= len) {
        size_t end = i, a, b;
        while (end < len && s[end] != ',')
            end++;
        for (a = i; a < end && s[a] == ' '; a++)
            ;
        for (b = end; b > a && s[b - 1] == ' '; b--)
            ;
        if (b == a || !ok(arg, s + a, b - a))
            return -1;
        i = end + 1;
    }
    return 0;
}

struct canonical {
    struct buf *out;
    size_t items;
    const char *why;
};

static int cidr_item_out(void *arg, const char *s, size_t n)
{
    struct canonical *c = arg;
    char item[VALIDATE_CIDR_TEXT_MAX];

    if (cidr_item(s, n, item, &c->why) < 0)
        return 0;
    buf_printf(c->out, "%s%s", c->items++ ? " " : "", item);
    return 1;
}

int cidr_list_canonical(const char *s, size_t len, struct buf *out,
                        char *err, size_t errlen)
{
    struct canonical c = {out, 0, "empty item"};

    if (has_nul(s, len))
        return fail(err, errlen, "address list", s, len,
                    "contains a NUL byte");
    if (strspn(s, "0123456789abcdefABCDEF.:/, ") < len)
        return fail(err, errlen, "address list", s, len,
                    "only IPv4/IPv6 addresses or networks separated by ','");
    if (each_item(s, len, cidr_item_out, &c) < 0)
        return fail(err, errlen, "address list", s, len, c.why);
    return 0;
}

int validate_cidr_list(const char *s, size_t len, char *err, size_t errlen)
{
    struct buf b;
    int rc;

    buf_init(&b);
    rc = cidr_list_canonical(s, len, &b, err, errlen);
    buf_free(&b);
    return rc;
}

int validate_realm(const char *s, size_t len, char *err, size_t errlen)
{
    static const char extra[] = " _.,:/()-";

    if (has_nul(s, len))
        return fail(err, errlen, "realm", s, len, "contains a NUL byte");
    if (len == 0 || len > VALIDATE_REALM_MAX)
        return fail(err, errlen, "realm", s, len, "must be 1-128 bytes");
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              is_digit(c) || strchr(extra, c)))
            return fail(err, errlen, "realm", s, len,
                        "only letters, digits, spaces and _.,:/()- are "
                        "allowed");
    }
    return 0;
}

static int is_word(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

int validate_auth_type(const char *s, size_t len, char *err, size_t errlen)
{
    if (is_word(s, len, "basic"))
        return 0;
    if (is_word(s, len, "digest"))
        return fail(err, errlen, "auth-type", s, len,
                    "digest authentication is not available (Debian's "
                    "nginx has no digest module); use basic over HTTPS");
    return fail(err, errlen, "auth-type", s, len, "must be basic");
}

int validate_secret_ref(const char *s, size_t len, char *err, size_t errlen)
{
    const char *slash = memchr(s, '/', len);
    char sub[256];

    if (has_nul(s, len))
        return fail(err, errlen, "Secret", s, len, "contains a NUL byte");
    if (slash &&
        dnsname_check(s, (size_t)(slash - s), DNSNAME_ONE_LABEL, NULL) !=
            DNSNAME_OK)
        return fail(err, errlen, "Secret", s, len,
                    "the namespace must be a DNS-1123 label");
    if (slash) {
        len -= (size_t)(slash + 1 - s);
        s = slash + 1;
    }
    if (validate_dns_subdomain(s, len, sub, sizeof(sub)) < 0)
        return fail(err, errlen, "Secret", s, len,
                    "must be NAME or NAMESPACE/NAME (DNS-1123)");
    return 0;
}

int validate_auth_secret_type(const char *s, size_t len, char *err,
                              size_t errlen)
{
    if (is_word(s, len, "auth-file") || is_word(s, len, "auth-map"))
        return 0;
    return fail(err, errlen, "auth-secret-type", s, len,
                "must be auth-file or auth-map");
}

/* ---- annotation values ---------------------------------------------------- */

/* s is one of the words (exactly). */
static int one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return 1;
    return 0;
}

/* s[0..len) has only characters of set, and 1 to max of them. */
static int only(const char *s, size_t len, const char *set, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0' || !strchr(set, s[i]))
            return 0;
    return 1;
}

/* Words separated by single spaces, each checked by ok(); at most max. */
static int words_ok(const char *s, size_t len, size_t max,
                    int (*ok)(const char *, size_t))
{
    size_t n = 0, i = 0;

    if (len == 0 || has_nul(s, len))
        return 0;
    while (i < len) {
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        if (j == i || !ok(s + i, j - i) || ++n > max)
            return 0;
        i = j + 1;
        if (j + 1 == len)
            return 0;       /* a trailing space */
    }
    return 1;
}

#define ALNUM  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define HOST_LIST_MAX 16
#define WORDS_MAX 16

int validate_on_off(const char *s, size_t len, char *err, size_t errlen)
{
    static const char *const w[] = {"on", "off", NULL};

    if (!one_of(s, len, w))
        return fail(err, errlen, "value", s, len, "must be on or off");
    return 0;
}

int validate_bool(const char *s, size_t len, char *err, size_t errlen)
{
    if (validate_bool_value(s, len) < 0)
        return fail(err, errlen, "value", s, len, "must be true or false");
    return 0;
}

int validate_bool_value(const char *s, size_t len)
{
    /* strconv.ParseBool, as ingress-nginx reads them */
    static const char *const yes[] = {"true", "True", "TRUE", "t", "T", "1",
                                      NULL};
    static const char *const no[] = {"false", "False", "FALSE", "f", "F",
                                     "0", NULL};

    return one_of(s, len, yes) ? 1 : one_of(s, len, no) ? 0 : -1;
}

int validate_buffer_size(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, SIZE_DIGITS_MAX, "kKmM"))
        return fail(err, errlen, "size", s, len,
                    "must be 1-12 digits with an optional k or m");
    return 0;
}

int validate_count(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, COUNT_DIGITS_MAX, ""))
        return fail(err, errlen, "count", s, len, "must be 1-6 digits");
    return 0;
}

int validate_http_version(const char *s, size_t len, char *err,
                          size_t errlen)
{
    static const char *const w[] = {"1.0", "1.1", NULL};

    if (!one_of(s, len, w))
        return fail(err, errlen, "HTTP version", s, len, "must be 1.0 or 1.1");
    return 0;
}

static int next_upstream_word(const char *s, size_t len)
{
    static const char *const w[] = {
        "error", "timeout", "invalid_header", "http_500", "http_502",
        "http_503", "http_504", "http_403", "http_404", "http_429",
        "non_idempotent", NULL};

    return one_of(s, len, w);
}

int validate_next_upstream(const char *s, size_t len, char *err,
                           size_t errlen)
{
    static const char *const off[] = {"off", NULL};

    if (!one_of(s, len, off) &&
        !words_ok(s, len, WORDS_MAX, next_upstream_word))
        return fail(err, errlen, "proxy_next_upstream", s, len,
                    "must be off, or words of error, timeout, "
                    "invalid_header, http_500, http_502, http_503, "
                    "http_504, http_403, http_404, http_429, "
                    "non_idempotent separated by single spaces");
    return 0;
}

int validate_vhost(const char *s, size_t len, char *err, size_t errlen)
{
    const char *colon = has_nul(s, len) ? NULL : memchr(s, ':', len);
    size_t host = colon ? (size_t)(colon - s) : len;

    if (has_nul(s, len) ||
        dnsname_check(s, host, DNSNAME_UPPERCASE, NULL) != DNSNAME_OK ||
        (colon && !valid_port_digits(colon + 1, len - host - 1)))
        return fail(err, errlen, "host", s, len,
                    "must be a host name with an optional :PORT");
    return 0;
}

int validate_header_value_token(const char *s, size_t len, char *err,
                                size_t errlen)
{
    if (!only(s, len, ALNUM "-", VALIDATE_LABEL_MAX))
        return fail(err, errlen, "header value", s, len,
                    "must be 1-63 letters, digits or '-'");
    return 0;
}

static int url_token(const char *s, size_t len)
{
    return only(s, len, ALNUM "-._~/:?&=,%", VALIDATE_PATH_MAX);
}

int validate_cookie_rewrite(const char *s, size_t len, char *err,
                            size_t errlen)
{
    static const char *const off[] = {"off", NULL};
    const char *sp = has_nul(s, len) ? NULL : memchr(s, ' ', len);

    if (!one_of(s, len, off) &&
        !(sp && url_token(s, (size_t)(sp - s)) &&
          url_token(sp + 1, len - (size_t)(sp - s) - 1)))
        return fail(err, errlen, "cookie rewrite", s, len,
                    "must be off, or FROM and TO separated by one space "
                    "(letters, digits and -._~/:?&=,%)");
    return 0;
}

int validate_redirect_arg(const char *s, size_t len, char *err,
                          size_t errlen)
{
    if (has_nul(s, len) || !url_token(s, len))
        return fail(err, errlen, "proxy_redirect argument", s, len,
                    "must be off, default, or a URL of letters, digits "
                    "and -._~/:?&=,%");
    return 0;
}

int validate_backend_protocol(const char *s, size_t len, char *err,
                              size_t errlen)
{
    static const char *const ok[] = {"HTTP", "HTTPS", "GRPC", "GRPCS",
                                     "http", "https", "grpc", "grpcs", NULL};
    static const char *const no[] = {"AUTO_HTTP", "FCGI", "auto_http",
                                     "fcgi", NULL};

    if (one_of(s, len, no))
        return fail(err, errlen, "backend protocol", s, len,
                    "AUTO_HTTP and FCGI are not supported (HTTP, HTTPS, "
                    "GRPC or GRPCS)");
    if (!one_of(s, len, ok))
        return fail(err, errlen, "backend protocol", s, len,
                    "must be HTTP, HTTPS, GRPC or GRPCS");
    return 0;
}

static int ssl_protocol_word(const char *s, size_t len)
{
    static const char *const w[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3",
                                    NULL};

    return one_of(s, len, w);
}

int validate_ssl_protocols(const char *s, size_t len, char *err,
                           size_t errlen)
{
    if (!words_ok(s, len, WORDS_MAX, ssl_protocol_word))
        return fail(err, errlen, "TLS protocols", s, len,
                    "must be words of TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 "
                    "separated by single spaces");
    return 0;
}

int validate_ssl_ciphers(const char *s, size_t len, char *err, size_t errlen)
{
    if (!only(s, len, ALNUM ":+!@._-=", VALIDATE_PATH_MAX))
        return fail(err, errlen, "cipher list", s, len,
                    "must be an OpenSSL cipher list (letters, digits and "
                    ":+!@._-=)");
    return 0;
}

int validate_verify_depth(const char *s, size_t len, char *err,
                          size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, 2, ""))
        return fail(err, errlen, "verify depth", s, len, "must be 1-2 digits");
    return 0;
}

int validate_verify_client(const char *s, size_t len, char *err,
                           size_t errlen)
{
    static const char *const modes[] = {"on", "off", "optional",
                                        "optional_no_ca"};

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (len == strlen(modes[i]) && memcmp(s, modes[i], len) == 0)
            return 0;
    return fail(err, errlen, "client verification", s, len,
                "must be on, off, optional or optional_no_ca");
}

int validate_match_cn(const char *s, size_t len, char *err, size_t errlen)
{
    char message[128], why[200];
    PCRE2_SIZE offset;
    pcre2_code *re;
    int code;

    if (len == 0 || len > VALIDATE_MATCH_CN_MAX)
        return fail(err, errlen, "subject match", s, len,
                    "must be 1-1024 bytes");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return fail(err, errlen, "subject match", s, len,
                        "contains a control character");
    if (!memmem(s, len, "CN=", 3))
        return fail(err, errlen, "subject match", s, len,
                    "must name CN= (a regex over the subject DN, as "
                    "ingress-nginx requires)");
    re = pcre2_compile((PCRE2_SPTR)s, len, 0, &code, &offset, NULL);
    if (!re) {
        if (pcre2_get_error_message(code, (PCRE2_UCHAR *)message,
                                    sizeof(message)) < 0)
            snprintf(message, sizeof(message), "unknown error");
        snprintf(why, sizeof(why), "not a regex: %s at offset %zu", message,
                 (size_t)offset);
        return fail(err, errlen, "subject match", s, len, why);
    }
    pcre2_code_free(re);
    return 0;
}

int validate_redirect_url(const char *s, size_t len, char *err,
                          size_t errlen)
{
    size_t scheme = len > 8 && memcmp(s, "https://", 8) == 0   ? 8
                  : len > 7 && memcmp(s, "http://", 7) == 0    ? 7
                                                               : 0;

    if (has_nul(s, len) || !scheme ||
        !only(s + scheme, len - scheme, ALNUM "-._~/:,?&=", VALIDATE_PATH_MAX))
        return fail(err, errlen, "redirect URL", s, len,
                    "must be http:// or https:// followed by letters, "
                    "digits and -._~/:,?&= (no variables)");
    return 0;
}

int validate_rewrite_target(const char *s, size_t len, char *err,
                            size_t errlen)
{
    if (has_nul(s, len) || len == 0 || s[0] != '/' ||
        !only(s, len, ALNUM "-._~/:$", VALIDATE_PATH_MAX))
        return fail(err, errlen, "rewrite target", s, len,
                    "must start with '/' and hold letters, digits, "
                    "-._~/: and $1-$9 (no other variables, no query)");
    for (size_t i = 0; i < len; i++)
        if (s[i] == '$' && (i + 1 == len || !is_digit(s[i + 1]) ||
                            s[i + 1] == '0'))
            return fail(err, errlen, "rewrite target", s, len,
                        "'$' takes one digit: $1-$9, the captures of the "
                        "path's regular expression (as nginx's rewrite)");
    return 0;
}

int validate_regex_path(const char *s, size_t len, char *err,
                        size_t errlen)
{
    if (has_nul(s, len))
        return fail(err, errlen, "path", s, len, "contains a NUL byte");
    if (len == 0 || s[0] != '/')
        return fail(err, errlen, "path", s, len, "must start with '/'");
    if (!only(s, len, ALNUM "-._~/!*'()+,:@=&^$[]{}?|\\%",
              VALIDATE_PATH_MAX))
        return fail(err, errlen, "regular expression path", s, len,
                    "at most 1024 bytes of letters, digits, -._~/!*'()+,:@=& "
                    "and ^$[]{}?|\\%");
    return 0;
}

int validate_redirect_code(const char *s, size_t len, char *err,
                           size_t errlen)
{
    if (has_nul(s, len) || len != 3 || s[0] != '3' || s[1] != '0' ||
        s[2] < '0' || s[2] > '8')
        return fail(err, errlen, "redirect code", s, len,
                    "must be 300-308");
    return 0;
}

int validate_http_error_codes(const char *s, size_t len, char *err,
                              size_t errlen)
{
    char seen[VALIDATE_ERROR_CODE_MAX - VALIDATE_ERROR_CODE_MIN + 1] = {0};
    size_t i = 0;

    if (has_nul(s, len) || len == 0)
        return fail(err, errlen, "HTTP codes", s, len,
                    "must be codes 400-599 separated by ','");
    while (i < len) {
        int code;
        if (i + 3 > len || !is_digit(s[i]) || !is_digit(s[i + 1]) ||
            !is_digit(s[i + 2]) || (i + 3 < len && s[i + 3] != ','))
            return fail(err, errlen, "HTTP codes", s, len,
                        "must be codes 400-599 separated by ',' (no "
                        "spaces)");
        code = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
        if (code < VALIDATE_ERROR_CODE_MIN || code > VALIDATE_ERROR_CODE_MAX)
            return fail(err, errlen, "HTTP codes", s, len,
                        "each code must be 400-599");
        if (seen[code - VALIDATE_ERROR_CODE_MIN]++)
            return fail(err, errlen, "HTTP codes", s, len,
                        "a code is listed twice");
        i += 3;
        if (i < len && ++i == len)
            return fail(err, errlen, "HTTP codes", s, len,
                        "ends with ','");
    }
    return 0;
}

int validate_host_list(const char *s, size_t len, char *err, size_t errlen)
{
    size_t i = 0, n = 0;
    char sub[256];

    if (has_nul(s, len) || len == 0)
        return fail(err, errlen, "host list", s, len,
                    "must be host names separated by ','");
    while (i <= len) {
        size_t end = i, a, b;
        while (end < len && s[end] != ',')
            end++;
        for (a = i; a < end && s[a] == ' '; a++)
            ;
        for (b = end; b > a && s[b - 1] == ' '; b--)
            ;
        if (++n > HOST_LIST_MAX)
            return fail(err, errlen, "host list", s, len, "too many hosts");
        if (validate_host(s + a, b - a, sub, sizeof(sub)) < 0)
            return fail(err, errlen, "host list", s, len,
                        "must be host names separated by ','");
        i = end + 1;
    }
    return 0;
}

int validate_server_name(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) ||
        dnsname_check(s, len, DNSNAME_UPPERCASE, NULL) != DNSNAME_OK)
        return fail(err, errlen, "server name", s, len,
                    "must be a host name");
    return 0;
}

#define SECONDS_DIGITS_MAX 9
#define ITEM_MAX           64   /* a method or header name */
#define ORIGIN_MAX         300  /* scheme, host (253), port */

int validate_seconds(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !number_with_unit(s, len, SECONDS_DIGITS_MAX, ""))
        return fail(err, errlen, "seconds", s, len, "must be 1-9 digits");
    return 0;
}

int validate_affinity(const char *s, size_t len, char *err, size_t errlen)
{
    if (!is_word(s, len, "cookie"))
        return fail(err, errlen, "affinity", s, len,
                    "must be cookie (the only type of session affinity)");
    return 0;
}

int validate_affinity_mode(const char *s, size_t len, char *err,
                           size_t errlen)
{
    static const char *const w[] = {"balanced", "persistent", NULL};

    if (!one_of(s, len, w))
        return fail(err, errlen, "affinity-mode", s, len,
                    "must be balanced or persistent (persistent-drainable "
                    "needs the pods' termination state, which Portico does "
                    "not see)");
    return 0;
}

int validate_affinity_canary_behavior(const char *s, size_t len, char *err,
                                      size_t errlen)
{
    static const char *const w[] = {"sticky", "legacy", NULL};

    if (!one_of(s, len, w))
        return fail(err, errlen, "affinity-canary-behavior", s, len,
                    "must be sticky or legacy");
    return 0;
}

int validate_samesite(const char *s, size_t len, char *err, size_t errlen)
{
    static const char *const w[] = {"None", "Lax", "Strict", NULL};

    if (!one_of(s, len, w))
        return fail(err, errlen, "SameSite", s, len,
                    "must be None, Lax or Strict");
    return 0;
}

int validate_cookie_domain(const char *s, size_t len, char *err,
                           size_t errlen)
{
    char sub[256];

    if (len > 1 && s[0] == '.') {
        s++;
        len--;
    }
    if (validate_host(s, len, sub, sizeof(sub)) < 0)
        return fail(err, errlen, "cookie domain", s, len,
                    "must be a domain name, with an optional leading dot");
    return 0;
}

static int method_ok(void *arg, const char *s, size_t n)
{
    if (n > 20)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

static int header_ok(void *arg, const char *s, size_t n)
{
    if (n > ITEM_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              is_digit(c) || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int origin_ok(void *arg, const char *s, size_t n)
{
    size_t host, end, labels;
    const char *colon;

    if (n > ORIGIN_MAX)
        return 0;
    if (n > 7 && memcmp(s, "http://", 7) == 0)
        host = 7;
    else if (n > 8 && memcmp(s, "https://", 8) == 0)
        host = 8;
    else
        return 0;
    colon = memchr(s + host, ':', n - host);
    end = colon ? (size_t)(colon - s) : n;
    if (colon) {
        size_t d = n - end - 1;
        long port = 0;
        if (d == 0 || d > 5 || s[end + 1] == '0')
            return 0;
        for (size_t i = end + 1; i < n; i++) {
            if (!is_digit(s[i]))
                return 0;
            port = port * 10 + (s[i] - '0');
        }
        if (port > 65535)
            return 0;
    }
    if (dnsname_check(s + host, end - host, DNSNAME_WILDCARD, &labels) !=
        DNSNAME_OK)
        return 0;
    return s[host] != '*' || labels >= 2;
}

int validate_method_list(const char *s, size_t len, char *err, size_t errlen)
{
    if (each_item(s, len, method_ok, NULL) < 0)
        return fail(err, errlen, "method list", s, len,
                    "method names (letters) separated by ','");
    return 0;
}

int validate_header_list(const char *s, size_t len, char *err, size_t errlen)
{
    if (is_word(s, len, "*"))
        return 0;
    if (each_item(s, len, header_ok, NULL) < 0)
        return fail(err, errlen, "header list", s, len,
                    "\"*\" or header names ([A-Za-z0-9_-], at most 64) "
                    "separated by ','");
    return 0;
}

int validate_header_names(const char *s, size_t len, char *err,
                          size_t errlen)
{
    if (each_item(s, len, header_ok, NULL) < 0)
        return fail(err, errlen, "header list", s, len,
                    "header names ([A-Za-z0-9_-], at most 64) separated by "
                    "','");
    return 0;
}

/* The nginx variables an auth-url or auth-signin may hold, as
 * ingress-nginx's oauth2-proxy examples use them. */
static const char *const auth_url_vars[] = {
    "$host", "$http_host", "$scheme", "$request_uri", "$escaped_request_uri",
    NULL,
};

size_t validate_auth_url_var(const char *s, size_t len)
{
    for (size_t i = 0; auth_url_vars[i]; i++) {
        size_t n = strlen(auth_url_vars[i]);
        if (len >= n && memcmp(s, auth_url_vars[i], n) == 0 &&
            (len == n || !(s[n] == '_' || is_digit(s[n]) ||
                           (s[n] >= 'a' && s[n] <= 'z') ||
                           (s[n] >= 'A' && s[n] <= 'Z'))))
            return n;
    }
    return 0;
}

int validate_auth_url(const char *s, size_t len, char *err, size_t errlen)
{
    char plain[VALIDATE_PATH_MAX + 1];
    size_t scheme, end, labels, n = 0;
    const char *colon;

    if (has_nul(s, len) || len > VALIDATE_PATH_MAX)
        return fail(err, errlen, "URL", s, len, "too long or NUL");
    /* Each allowed variable stands for one letter of URL text. */
    for (size_t i = 0; i < len;) {
        size_t v = s[i] == '$' ? validate_auth_url_var(s + i, len - i) : 0;
        if (s[i] == '$' && !v)
            return fail(err, errlen, "URL", s, len,
                        "the only variables allowed are $host, $http_host, "
                        "$scheme, $request_uri and $escaped_request_uri");
        plain[n++] = v ? 'v' : s[i];
        i += v ? v : 1;
    }
    plain[n] = '\0';
    s = plain;
    len = n;
    scheme = len > 8 && memcmp(s, "https://", 8) == 0 ? 8 : 7;
    if (validate_redirect_url(s, len, err, errlen) < 0)
        return -1;
    end = scheme;
    while (end < len && s[end] != '/' && s[end] != '?')
        end++;
    colon = memchr(s + scheme, ':', end - scheme);
    if (colon) {
        size_t d = end - (size_t)(colon - s) - 1;
        if (d == 0 || d > 5 || colon[1] == '0' ||
            strspn(colon + 1, "0123456789") < d ||
            atol(colon + 1) > 65535)
            return fail(err, errlen, "URL", s, len, "bad port");
        end = (size_t)(colon - s);
    }
    if (dnsname_check(s + scheme, end - scheme, DNSNAME_UPPERCASE, &labels) !=
        DNSNAME_OK)
        return fail(err, errlen, "URL", s, len,
                    "needs a host name or IPv4 address after the scheme");
    return 0;
}

/* The nginx variables that tell clients apart, which an auth-cache-key
 * must hold one of (besides those of auth-url): the credentials an auth
 * service decides on. $http_NAME (not $http_host) and $cookie_NAME are
 * families. */
static const char *const auth_client_vars[] = {
    "$remote_user", "$remote_addr", "$binary_remote_addr", NULL,
};

#define AUTH_KEY_VAR_NAME_MAX  64   /* after $http_ or $cookie_ */

static int is_var_char(char c)
{
    return c == '_' || is_digit(c) || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* 1 when s[0, n) is PREFIX followed by 1-64 characters of set. */
static int var_family(const char *s, size_t n, const char *prefix,
                      int lowercase_only)
{
    size_t p = strlen(prefix);

    if (n <= p || n - p > AUTH_KEY_VAR_NAME_MAX || memcmp(s, prefix, p) != 0)
        return 0;
    for (size_t i = p; i < n; i++)
        if (lowercase_only && s[i] >= 'A' && s[i] <= 'Z')
            return 0;
    return 1;
}

size_t validate_auth_cache_key_var(const char *s, size_t len, int *client)
{
    size_t n = 1, v;

    *client = 0;
    if (len == 0 || s[0] != '$')
        return 0;
    /* nginx reads a variable name greedily: so do we. */
    while (n < len && is_var_char(s[n]))
        n++;
    if ((v = validate_auth_url_var(s, len)) == n)
        return n;
    for (size_t i = 0; auth_client_vars[i]; i++)
        if (is_word(s, n, auth_client_vars[i])) {
            *client = 1;
            return n;
        }
    if (var_family(s, n, "$http_", 1) || var_family(s, n, "$cookie_", 0)) {
        *client = 1;
        return n;
    }
    return 0;
}

int validate_auth_cache_key(const char *s, size_t len, char *err,
                            size_t errlen)
{
    int clients = 0;

    if (len == 0 || len > VALIDATE_AUTH_CACHE_KEY_MAX || has_nul(s, len))
        return fail(err, errlen, "auth cache key", s, len,
                    "must be 1-256 characters");
    for (size_t i = 0; i < len;) {
        int client;
        size_t v = validate_auth_cache_key_var(s + i, len - i, &client);
        if (s[i] == '$' && !v)
            return fail(err, errlen, "auth cache key", s, len,
                        "the variables allowed are those of auth-url and "
                        "$remote_user, $remote_addr, $binary_remote_addr, "
                        "$http_NAME, $cookie_NAME");
        if (!v && !is_var_char(s[i]) && !strchr("-.:/|,=@", s[i]))
            return fail(err, errlen, "auth cache key", s, len,
                        "variables, letters, digits and -_.:/|,=@ only");
        clients += client;
        i += v ? v : 1;
    }
    if (!clients)
        return fail(err, errlen, "auth cache key", s, len,
                    "must hold a variable that tells clients apart "
                    "($http_authorization, $cookie_NAME, $http_NAME, "
                    "$remote_user, $remote_addr): without one, one "
                    "client's answer would be every client's");
    return 0;
}

struct cache_durations {
    size_t entries;
};

/* "CODE... TIME": 0-16 status codes (100-599), then one time with its
 * unit (s, m, h, d), at least 1, as nginx's proxy_cache_valid takes it. */
static int cache_duration_ok(void *arg, const char *s, size_t n)
{
    struct cache_durations *c = arg;
    size_t i = 0, codes = 0;

    if (++c->entries > VALIDATE_AUTH_CACHE_ENTRIES_MAX)
        return 0;
    for (;;) {
        size_t t = i, d;
        while (t < n && s[t] != ' ')
            t++;
        for (d = i; d < t && is_digit(s[d]); d++)
            ;
        if (t == n) {
            /* The last word: the time. */
            return d > i && d - i <= 6 && d + 1 == t &&
                   strchr("smhd", s[d]) && s[d] != '\0' &&
                   strspn(s + i, "0") < d - i;
        }
        if (d != t || t - i != 3 || s[i] < '1' || s[i] > '5' ||
            ++codes > VALIDATE_AUTH_CACHE_CODES_MAX)
            return 0;
        for (i = t; i < n && s[i] == ' '; i++)
            ;
    }
}

int validate_auth_cache_duration(const char *s, size_t len, char *err,
                                 size_t errlen)
{
    struct cache_durations c = {0};

    if (len > VALIDATE_PATH_MAX || each_item(s, len, cache_duration_ok, &c) < 0)
        return fail(err, errlen, "auth cache duration", s, len,
                    "entries \"[CODE...] TIME\" separated by ',', e.g. "
                    "\"200 202 401 5m\" or \"200 10m, 401 30s\" (codes "
                    "100-599, TIME with s, m, h or d)");
    return 0;
}

int validate_auth_method(const char *s, size_t len, char *err,
                         size_t errlen)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT",
                                          "PATCH", "DELETE", "OPTIONS"};

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (is_word(s, len, methods[i]))
            return 0;
    return fail(err, errlen, "method", s, len,
                "must be GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS");
}

int validate_auth_redirect(const char *s, size_t len, char *err,
                           size_t errlen)
{
    if (has_nul(s, len) ||
        !only(s, len, ALNUM "-._~/:,?&=", VALIDATE_PATH_MAX))
        return fail(err, errlen, "redirect", s, len,
                    "letters, digits and -._~/:,?&= only, at most 1024");
    return 0;
}

int validate_param_name(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || len > ITEM_MAX || !header_ok(NULL, s, len) || !len)
        return fail(err, errlen, "parameter name", s, len,
                    "1-64 of [A-Za-z0-9_-]");
    return 0;
}

int validate_header_name(const char *s, size_t len, char *err,
                         size_t errlen)
{
    if (has_nul(s, len) || !len || !header_ok(NULL, s, len))
        return fail(err, errlen, "header name", s, len,
                    "1-64 of [A-Za-z0-9_-]");
    return 0;
}

int validate_cookie_name(const char *s, size_t len, char *err, size_t errlen)
{
    if (has_nul(s, len) || !len || !header_ok(NULL, s, len))
        return fail(err, errlen, "cookie name", s, len,
                    "1-64 of [A-Za-z0-9_-]");
    return 0;
}

int validate_word(const char *s, size_t len, char *err, size_t errlen)
{
    if (len == 0 || len > VALIDATE_WORD_MAX)
        return fail(err, errlen, "value", s, len,
                    "1-1024 visible ASCII characters");
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x21 || s[i] > 0x7e)
            return fail(err, errlen, "value", s, len,
                        "visible ASCII characters only: no space (the "
                        "route table cannot hold one)");
    return 0;
}

int validate_cors_origins(const char *s, size_t len, char *err,
                          size_t errlen)
{
    if (is_word(s, len, "*"))
        return 0;
    if (each_item(s, len, origin_ok, NULL) < 0)
        return fail(err, errlen, "origin list", s, len,
                    "\"*\" or origins (http:// or https://, a lowercase "
                    "host, \"*.\" for one label, an optional :PORT) "
                    "separated by ','");
    return 0;
}

void validate_printable(const char *s, char *out, size_t outlen)
{
    show(out, outlen, s, strlen(s));
}

void cfg_quote(struct buf *out, const char *s)
{
    buf_puts(out, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(out, esc, 2);
        } else if (c < 0x20 || c >= 0x7f || c == '$') {
            /* Never reached with validated input; the second layer
             * still refuses to emit a control byte or a variable. */
            buf_puts(out, "_");
        } else {
            buf_append(out, (const char *)&c, 1);
        }
    }
    buf_puts(out, "\"");
}
