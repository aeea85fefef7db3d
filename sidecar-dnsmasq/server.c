/* server.c - UDP and TCP listeners for DNS clients; see server.h. */
#include "server.h"

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

enum {
    UDP_BATCH = 32,             /* datagrams per recvmmsg/sendmmsg */
    UDP_ROUNDS = 8,             /* batches per readiness event (fairness) */
    UDP_RCVBUF = 4 * 1024 * 1024,
    TCP_BACKLOG = 128,
    TCP_FRAME_LEN = 2,
    TCP_READ_CHUNK = 16384,
    TCP_OUT_INITIAL = 4096,
    TCP_MAX_OUT = 256 * 1024,   /* unread answers before we give up */
};

struct tcp_conn {
    struct server *srv;
    struct tcp_conn *prev, *next;
    int fd;
    int refs;
    int closed;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    struct ev_timer *idle;
};

struct listener {
    struct server *srv;
    int fd;
    int tcp;
    int wildcard;               /* bound to 0.0.0.0 or :: : use PKTINFO */
    int family;
};

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message. */
#define PKTINFO_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

struct server {
    struct evloop *loop;
    const struct config *cfg;
    struct worker_metrics *m;
    struct server_handler handler;
    struct listener ls[2 * CFG_MAX_LISTEN];
    size_t nls;
    struct tcp_conn *conns;
    size_t nconns;
    struct mmsghdr in_msgs[UDP_BATCH], out_msgs[UDP_BATCH];
    struct iovec in_iov[UDP_BATCH], out_iov[UDP_BATCH];
    struct sockaddr_storage addrs[UDP_BATCH];
    uint8_t in_bufs[UDP_BATCH][DNS_MAX_UDP];
    uint8_t in_ctrl[UDP_BATCH][PKTINFO_SPACE];
    uint8_t out_ctrl[UDP_BATCH][PKTINFO_SPACE];
    struct reply_to rts[UDP_BATCH];
    uint8_t out_bufs[UDP_BATCH][DNS_MAX_UDP];
    uint8_t tcp_out[DNS_MAX_MSG];
};

/* ---- UDP ----------------------------------------------------------- */

/* Remembers where a query on a wildcard socket was addressed. */
static void read_dst(struct msghdr *mh, struct reply_to *rt)
{
    rt->has_dst = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;

            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            memset(&rt->dst6, 0, sizeof(rt->dst6));
            memcpy(&rt->dst6, &pi.ipi_addr, sizeof(pi.ipi_addr));
            rt->dst_ifindex = pi.ipi_ifindex;
            rt->has_dst = AF_INET;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;

            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            rt->dst6 = pi.ipi6_addr;
            rt->dst_ifindex = (int)pi.ipi6_ifindex;
            rt->has_dst = AF_INET6;
        }
    }
}

/* Fills mh's control data so the answer leaves from rt's destination. */
static void set_src(struct msghdr *mh, const struct reply_to *rt, uint8_t *ctrl)
{
    struct cmsghdr *c;

    mh->msg_control = NULL;
    mh->msg_controllen = 0;
    if (!rt->has_dst)
        return;
    memset(ctrl, 0, PKTINFO_SPACE);
    mh->msg_control = ctrl;
    mh->msg_controllen = PKTINFO_SPACE;
    c = CMSG_FIRSTHDR(mh);
    if (rt->has_dst == AF_INET) {
        struct in_pktinfo pi;

        memset(&pi, 0, sizeof(pi));
        memcpy(&pi.ipi_spec_dst, &rt->dst6, sizeof(pi.ipi_spec_dst));
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    } else {
        struct in6_pktinfo pi;

        memset(&pi, 0, sizeof(pi));
        pi.ipi6_addr = rt->dst6;
        pi.ipi6_ifindex = (unsigned)rt->dst_ifindex;
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(c), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    }
}

static void on_udp(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct listener *l = arg;
    struct server *s = l->srv;

    for (int round = 0; round < UDP_ROUNDS; round++) {
        int n, nout = 0;
        uint64_t t0, t1;

        for (int i = 0; i < UDP_BATCH; i++) {
            s->in_iov[i].iov_base = s->in_bufs[i];
            s->in_iov[i].iov_len = DNS_MAX_UDP;
            memset(&s->in_msgs[i].msg_hdr, 0, sizeof(s->in_msgs[i].msg_hdr));
            s->in_msgs[i].msg_hdr.msg_name = &s->addrs[i];
            s->in_msgs[i].msg_hdr.msg_namelen = sizeof(s->addrs[i]);
            s->in_msgs[i].msg_hdr.msg_iov = &s->in_iov[i];
            s->in_msgs[i].msg_hdr.msg_iovlen = 1;
            if (l->wildcard) {
                s->in_msgs[i].msg_hdr.msg_control = s->in_ctrl[i];
                s->in_msgs[i].msg_hdr.msg_controllen = PKTINFO_SPACE;
            }
        }
        n = recvmmsg(fd, s->in_msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        t0 = evloop_clock_ns();
        for (int i = 0; i < n; i++) {
            struct reply_to *rt = &s->rts[i];
            size_t len = 0;

            if (s->in_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                prom_inc(&s->m->malformed);
                continue;
            }
            rt->udp_fd = fd;
            rt->tcp = NULL;
            rt->alen = s->in_msgs[i].msg_hdr.msg_namelen;
            memcpy(&rt->addr, &s->addrs[i], rt->alen);
            rt->has_dst = 0;
            rt->t0_ns = t0;
            if (l->wildcard)
                read_dst(&s->in_msgs[i].msg_hdr, rt);
            if (s->handler.query(s->handler.arg, s->in_bufs[i],
                                 s->in_msgs[i].msg_len, rt, s->out_bufs[nout],
                                 DNS_MAX_UDP, &len) != SERVER_ANSWERED)
                continue;
            s->out_iov[nout].iov_base = s->out_bufs[nout];
            s->out_iov[nout].iov_len = len;
            memset(&s->out_msgs[nout].msg_hdr, 0, sizeof(s->out_msgs[nout].msg_hdr));
            s->out_msgs[nout].msg_hdr.msg_name = &s->addrs[i];
            s->out_msgs[nout].msg_hdr.msg_namelen = s->in_msgs[i].msg_hdr.msg_namelen;
            s->out_msgs[nout].msg_hdr.msg_iov = &s->out_iov[nout];
            s->out_msgs[nout].msg_hdr.msg_iovlen = 1;
            set_src(&s->out_msgs[nout].msg_hdr, rt, s->out_ctrl[nout]);
            nout++;
        }
        for (int sent = 0; sent < nout;) {
            int r = sendmmsg(fd, s->out_msgs + sent, (unsigned)(nout - sent),
                             MSG_DONTWAIT);

            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                /* Buffer full or a bad peer: drop this one, keep going. */
                sent++;
                continue;
            }
            sent += r;
        }
        t1 = evloop_clock_ns();
        for (int i = 0; i < nout; i++)
            prom_histogram_observe(&s->m->request_duration,
                                   (double)(t1 - t0) / 1e9);
        if (n < UDP_BATCH)
            return;
    }
}

/* ---- TCP ----------------------------------------------------------- */

static void conn_release(struct tcp_conn *c)
{
    evloop_timer_free(c->idle);
    free(c->in);
    free(c->out);
    free(c);
}

static void conn_close(struct tcp_conn *c)
{
    struct server *s = c->srv;

    if (c->closed)
        return;
    c->closed = 1;
    evloop_io_del(s->loop, c->fd);
    close(c->fd);
    c->fd = -1;
    evloop_timer_stop(c->idle);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->refs == 0)
        conn_release(c);
}

/* A reference keeps c (not its socket) alive: held while a callback on c
 * runs and while an answer for it is deferred. */
static void conn_ref(struct tcp_conn *c)
{
    c->refs++;
}

static void conn_unref(struct tcp_conn *c)
{
    if (--c->refs == 0 && c->closed)
        conn_release(c);
}

static void on_tcp(struct evloop *loop, int fd, unsigned events, void *arg);

static void conn_flush(struct tcp_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t r = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            conn_close(c);
            return;
        }
        c->out_off += (size_t)r;
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    evloop_io_set(c->srv->loop, c->fd,
                  EV_READ | (c->out_len ? EV_WRITE : 0), on_tcp, c);
}

static void conn_queue(struct tcp_conn *c, const uint8_t *buf, size_t len)
{
    size_t need = c->out_len + TCP_FRAME_LEN + len;

    if (c->closed)
        return;
    if (need > c->out_cap) {
        size_t ncap = c->out_cap ? c->out_cap : TCP_OUT_INITIAL;
        uint8_t *p;

        while (ncap < need)
            ncap *= 2;
        if (ncap > TCP_MAX_OUT || !(p = realloc(c->out, ncap))) {
            conn_close(c);      /* the client does not read its answers */
            return;
        }
        c->out = p;
        c->out_cap = ncap;
    }
    dns_put16(c->out + c->out_len, (uint16_t)len);
    memcpy(c->out + c->out_len + TCP_FRAME_LEN, buf, len);
    c->out_len += TCP_FRAME_LEN + len;
}

static void conn_idle(struct evloop *loop, struct ev_timer *t, void *arg)
{
    conn_close(arg);
}

/* Handles every complete frame in the input buffer. */
static void conn_process(struct tcp_conn *c)
{
    struct server *s = c->srv;
    size_t off = 0;

    while (!c->closed && c->in_len - off >= TCP_FRAME_LEN) {
        size_t mlen = dns_get16(c->in + off);
        struct reply_to rt;
        enum server_verdict v;
        size_t len = 0;

        if (c->in_len - off < TCP_FRAME_LEN + mlen)
            break;
        memset(&rt, 0, sizeof(rt));
        rt.udp_fd = -1;
        rt.tcp = c;
        rt.t0_ns = evloop_clock_ns();
        /* The reference of a deferred answer, taken first: the answer
         * may come (server_reply) before the handler returns. */
        conn_ref(c);
        v = s->handler.query(s->handler.arg, c->in + off + TCP_FRAME_LEN,
                             mlen, &rt, s->tcp_out, sizeof(s->tcp_out), &len);
        if (v != SERVER_DEFERRED)
            conn_unref(c);          /* on_tcp holds c: never the last */
        if (v == SERVER_ANSWERED) {
            conn_queue(c, s->tcp_out, len);
            prom_histogram_observe(&s->m->request_duration,
                                   (double)(evloop_clock_ns() - rt.t0_ns) / 1e9);
        }
        off += TCP_FRAME_LEN + mlen;
    }
    if (c->closed)
        return;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void on_tcp(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct tcp_conn *c = arg;

    conn_ref(c);                /* c outlives a close inside this call */
    if (events & EV_READ) {
        for (;;) {
            ssize_t r;

            if (c->in_cap - c->in_len < TCP_READ_CHUNK) {
                size_t ncap = c->in_cap ? c->in_cap * 2 : TCP_READ_CHUNK * 2;
                uint8_t *p;

                if (ncap > 2 * (TCP_FRAME_LEN + DNS_MAX_MSG) + TCP_READ_CHUNK ||
                    !(p = realloc(c->in, ncap))) {
                    conn_close(c);
                    goto out;
                }
                c->in = p;
                c->in_cap = ncap;
            }
            r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (r <= 0) {
                conn_close(c);
                goto out;
            }
            c->in_len += (size_t)r;
            conn_process(c);
            if (c->closed)
                goto out;
        }
        evloop_timer_start(c->idle, c->srv->cfg->tcp_idle_ms);
    }
    conn_flush(c);
out:
    conn_unref(c);
}

static void on_accept(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct listener *l = arg;
    struct server *s = l->srv;

    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct tcp_conn *c;

        if (cfd < 0)
            return;         /* EAGAIN, or transient errors: try next event */
        if (s->nconns >= s->cfg->max_tcp_clients ||
            !(c = calloc(1, sizeof(*c)))) {
            close(cfd);
            continue;
        }
        c->srv = s;
        c->fd = cfd;
        c->idle = evloop_timer_new(loop, conn_idle, c);
        if (!c->idle || evloop_io_set(loop, cfd, EV_READ, on_tcp, c) < 0) {
            evloop_timer_free(c->idle);
            close(cfd);
            free(c);
            continue;
        }
        evloop_timer_start(c->idle, s->cfg->tcp_idle_ms);
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
        s->nconns++;
    }
}

void server_reply(struct server *s, const struct reply_to *rt,
                  const uint8_t *msg, size_t len)
{
    if (rt->tcp) {
        if (msg) {
            conn_queue(rt->tcp, msg, len);
            if (!rt->tcp->closed)
                conn_flush(rt->tcp);
        }
        conn_unref(rt->tcp);        /* the reference of SERVER_DEFERRED */
    } else if (msg) {
        struct iovec iov = {(void *)msg, len};
        struct msghdr mh;
        uint8_t ctrl[PKTINFO_SPACE];

        memset(&mh, 0, sizeof(mh));
        mh.msg_name = (void *)&rt->addr;
        mh.msg_namelen = rt->alen;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        set_src(&mh, rt, ctrl);
        while (sendmsg(rt->udp_fd, &mh, MSG_DONTWAIT) < 0 && errno == EINTR)
            ;
    }
    if (msg)
        prom_histogram_observe(&s->m->request_duration,
                               (double)(evloop_clock_ns() - rt->t0_ns) / 1e9);
}

/* ---- setup --------------------------------------------------------- */

static int open_listener(struct server *s, const struct netaddr *a, int tcp,
                         int reuseport)
{
    char name[64];
    int one = 1, fd, type = tcp ? SOCK_STREAM : SOCK_DGRAM;
    struct listener *l = &s->ls[s->nls];

    netaddr_format(a, name, sizeof(name));
    fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("socket for %s: %s", name, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    l->wildcard = 0;
    if (!tcp) {
        int rcv = UDP_RCVBUF;

        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
        if (a->ss.ss_family == AF_INET)
            l->wildcard = ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
                          htonl(INADDR_ANY);
        else
            l->wildcard = IN6_IS_ADDR_UNSPECIFIED(
                &((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
        if (l->wildcard &&
            (a->ss.ss_family == AF_INET
                 ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
                 : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) < 0) {
            log_error("pktinfo on %s: %s", name, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
        (tcp && listen(fd, TCP_BACKLOG) < 0)) {
        log_error("bind %s/%s: %s", name, tcp ? "tcp" : "udp", strerror(errno));
        close(fd);
        return -1;
    }
    l->srv = s;
    l->fd = fd;
    l->tcp = tcp;
    if (evloop_io_set(s->loop, fd, EV_READ, tcp ? on_accept : on_udp, l) < 0) {
        close(fd);
        return -1;
    }
    s->nls++;
    return 0;
}

struct server *server_new(struct evloop *loop, const struct config *cfg,
                          struct worker_metrics *m, int reuseport,
                          const struct server_handler *handler)
{
    struct server *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    s->loop = loop;
    s->cfg = cfg;
    s->m = m;
    s->handler = *handler;
    for (size_t i = 0; i < cfg->nlisten; i++) {
        if (open_listener(s, &cfg->listen[i], 0, reuseport) < 0 ||
            open_listener(s, &cfg->listen[i], 1, reuseport) < 0) {
            server_free(s);
            return NULL;
        }
    }
    return s;
}

void server_free(struct server *s)
{
    if (!s)
        return;
    while (s->conns) {
        struct tcp_conn *c = s->conns;

        conn_close(c);          /* freed now, or by the last unref */
    }
    for (size_t i = 0; i < s->nls; i++) {
        evloop_io_del(s->loop, s->ls[i].fd);
        close(s->ls[i].fd);
    }
    free(s);
}
