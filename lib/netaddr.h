/*
 * netaddr.h - parsing and printing "HOST[:PORT]" socket addresses.
 *
 * Accepted forms: 127.0.0.1, 127.0.0.1:53, ::1, [::1], [::1]:53, and
 * ":PORT" / "PORT"-less forms are not accepted. Only numeric hosts: no name
 * resolution ever happens here.
 */
#ifndef PORTICO_NETADDR_H
#define PORTICO_NETADDR_H

#include <sys/socket.h>

struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Returns 0, or -1 if s is not a numeric address with an optional port.
 * default_port is used when s has no port. */
int netaddr_parse(const char *s, int default_port, struct netaddr *out);
/* Writes "1.2.3.4:53" or "[::1]:53" into out (at least 64 bytes). */
void netaddr_format(const struct netaddr *a, char *out, size_t outlen);
int netaddr_port(const struct netaddr *a);
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);

#endif
