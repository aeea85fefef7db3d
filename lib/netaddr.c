/* netaddr.c - see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NETADDR_HOST_MAX = 64 };

static int parse_port(const char *s, int *port)
{
    char *end;
    long v;

    if (*s == '\0')
        return -1;
    v = strtol(s, &end, 10);
    if (*end != '\0' || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

int netaddr_parse(const char *s, int default_port, struct netaddr *out)
{
    char host[NETADDR_HOST_MAX];
    const char *port_s = NULL;
    int port = default_port;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return -1;
        hlen = (size_t)(close - s - 1);
        if (hlen >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (close[1] == ':')
            port_s = close + 2;
        else if (close[1] != '\0')
            return -1;
    } else {
        const char *colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL;               /* bare IPv6 address, no port */
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (hlen >= sizeof(host))
            return -1;
        memcpy(host, s, hlen);
        host[hlen] = '\0';
        if (colon)
            port_s = colon + 1;
    }
    if (port_s && parse_port(port_s, &port) < 0)
        return -1;
    if (port < 0 || port > 65535)
        return -1;

    struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        out->len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        out->len = sizeof(*v6);
        return 0;
    }
    return -1;
}

void netaddr_format(const struct netaddr *a, char *out, size_t outlen)
{
    char host[INET6_ADDRSTRLEN];

    if (a->ss.ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        snprintf(out, outlen, "%s:%d", host, ntohs(v4->sin_port));
    } else if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        snprintf(out, outlen, "[%s]:%d", host, ntohs(v6->sin6_port));
    } else {
        snprintf(out, outlen, "?");
    }
}

int netaddr_port(const struct netaddr *a)
{
    if (a->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return -1;
}

int netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}
