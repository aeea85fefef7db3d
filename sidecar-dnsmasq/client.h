/*
 * client.h - a DNS client as the query path sees it: what it asked (what
 * its answer is shaped for: ID, flags, spelling, size limit) and where an
 * answer that comes later goes. The server fills reply_to, the query path
 * client_q; the resolver carries both while the client waits and hands
 * reply_to back with the answer. Only the server reads reply_to.
 */
#ifndef PORTICO_DNSCACHE_CLIENT_H
#define PORTICO_DNSCACHE_CLIENT_H

#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "dnswire.h"

/* What a client asked, as needed to shape its answer. */
struct client_q {
    uint16_t id;
    uint16_t flags;             /* the query's flags (RD, CD used) */
    uint8_t qname[DNS_MAX_NAME];/* as asked */
    uint8_t qname_len;
    uint8_t has_edns;
    uint16_t limit;             /* bytes the answer may take (UDP size, or
                                   DNS_MAX_MSG over TCP) */
};

struct tcp_conn;

/* Where an answer goes. */
struct reply_to {
    int udp_fd;                     /* -1 for TCP */
    struct sockaddr_storage addr;
    socklen_t alen;
    struct tcp_conn *tcp;           /* NULL for UDP */
    /* Wildcard UDP listeners: the address the query was sent to, so the
     * answer leaves from it (IP_PKTINFO / IPV6_PKTINFO). */
    int has_dst;
    int dst_ifindex;
    struct in6_addr dst6;           /* IPv4 in the first 4 bytes */
    uint64_t t0_ns;                 /* when the query arrived */
};

#endif
