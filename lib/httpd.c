/* httpd.c - see httpd.h. */
#include "httpd.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

struct httpd {
    struct MHD_Daemon *daemon;
    httpd_handler handler;
    void *ctx;
    int port;
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct httpd *h = cls;
    struct httpd_response resp;
    struct MHD_Response *r;
    enum MHD_Result ret;
    size_t len;
    char *body;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "method not allowed\n";
        r = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
                                            MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Allow", "GET, HEAD");
        ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return ret;
    }

    resp.status = 200;
    resp.content_type = "text/plain; charset=utf-8";
    buf_init(&resp.body);
    h->handler(h->ctx, url, &resp);
    if (buf_failed(&resp.body)) {
        buf_free(&resp.body);
        return MHD_NO;
    }
    body = buf_steal(&resp.body, &len);
    if (!body)
        return MHD_NO;
    r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", resp.content_type);
    ret = MHD_queue_response(conn, (unsigned)resp.status, r);
    MHD_destroy_response(r);
    return ret;
}

struct httpd *httpd_start(const char *listen, httpd_handler handler,
                          void *ctx, char *err, size_t errlen)
{
    struct netaddr addr;
    struct httpd *h;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

    if (netaddr_parse(listen, -1, &addr) < 0 || netaddr_port(&addr) < 0) {
        snprintf(err, errlen, "invalid listen address \"%s\" (want ADDR:PORT)",
                 listen);
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->handler = handler;
    h->ctx = ctx;
    if (addr.ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, (uint16_t)netaddr_port(&addr), NULL,
                                 NULL, answer, h,
                                 MHD_OPTION_SOCK_ADDR, &addr.ss,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errlen, "cannot listen on %s", listen);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : netaddr_port(&addr);
    return h;
}

int httpd_port(const struct httpd *h)
{
    return h->port;
}

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
