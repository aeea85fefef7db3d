
/*
 * ngx_http_portico_watch: a table file that every worker reloads by itself,
 * without an nginx reload: the route table (docs/routes.md) and the
 * certificate table (docs/certificates.md) are watched the same way.
 *
 * The worker stats the file as soon as inotify reports a change in its
 * folder (the controller renames a new table into place), and every
 * "interval" as well (every NGX_HTTP_PORTICO_WATCH_FALLBACK at least while
 * inotify works: a fallback for what inotify does not see).  When the
 * file's identity (device, inode, size, modification time) differs from
 * the last file looked at, the table's "load" parses it and swaps it in,
 * or logs why not and keeps the current table.  Either way that file
 * version is not looked at again, so a broken file is reported once, not
 * every interval.  A missing file keeps the current table (normal between
 * deployments); another stat() error is logged once per errno.  Neither
 * the timer nor the inotify descriptor (one per process for every watch:
 * a user has few inotify instances) delays a graceful shutdown.
 *
 * Also here: the "interval=" parameter of both directives, reading a table
 * file into a pool of its own (never blocking on a FIFO), a file's
 * identity, splitting a table line into fields and the error of a table
 * (ngx_http_portico_route_fail), which both tables' parsers use.
 */


#include "ngx_http_portico_route_module.h"

#include <sys/inotify.h>


#define NGX_HTTP_PORTICO_TABLE_POOL_SIZE     16384
#define NGX_HTTP_PORTICO_NOTIFY_EVENTS       (IN_MOVED_TO|IN_CLOSE_WRITE  \
                                              |IN_ATTRIB)
#define NGX_HTTP_PORTICO_NOTIFY_BUF          4096


static ngx_int_t ngx_http_portico_notify_add(ngx_http_portico_watch_t *watch,
    ngx_cycle_t *cycle);
static void ngx_http_portico_notify_remove(ngx_http_portico_watch_t *watch);
static void ngx_http_portico_notify_close(void);
static void ngx_http_portico_notify_handler(ngx_event_t *rev);
static void ngx_http_portico_watch_timer(ngx_event_t *ev);
static void ngx_http_portico_watch_check(ngx_http_portico_watch_t *watch,
    ngx_log_t *log);
static ngx_int_t ngx_http_portico_read_file(ngx_str_t *file, ngx_pool_t *pool,
    size_t max, ngx_str_t *text, ngx_http_portico_route_file_id_t *id,
    ngx_http_portico_route_error_t *err);


/* this process's inotify descriptor and the watches it serves */

static ngx_connection_t  *ngx_http_portico_notify;
static ngx_queue_t        ngx_http_portico_notified;


/* "interval=TIME": NGX_OK, NGX_DECLINED (another parameter), NGX_ERROR */

ngx_int_t
ngx_http_portico_watch_interval(ngx_conf_t *cf,
    ngx_http_portico_watch_t *watch, ngx_str_t *value)
{
    ngx_str_t  s;

    if (ngx_strncmp(value->data, "interval=", 9) != 0
        || watch->interval != NGX_CONF_UNSET_MSEC)
    {
        return NGX_DECLINED;
    }

    s.data = value->data + 9;
    s.len = value->len - 9;

    watch->interval = ngx_parse_time(&s, 0);

    if (watch->interval == (ngx_msec_t) NGX_ERROR || watch->interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid interval \"%V\"",
                           value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the main configuration of module in cycle, or NULL if it is not loaded */

void *
ngx_http_portico_cycle_main_conf(ngx_cycle_t *cycle, ngx_module_t *module)
{
    ngx_uint_t  i;

    for (i = 0; cycle->modules[i]; i++) {
        if (cycle->modules[i] == module) {
            break;
        }
    }

    if (cycle->modules[i] == NULL || cycle->conf_ctx == NULL
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    return ngx_http_cycle_get_module_main_conf(cycle, (*module));
}


void
ngx_http_portico_watch_start(ngx_http_portico_watch_t *watch,
    ngx_cycle_t *cycle)
{
    if (watch->timer.timer_set) {
        return;
    }

    watch->cycle = cycle;
    watch->poll = watch->interval;

    /* watched before the first look: no change falls between the two */

    if (ngx_http_portico_notify_add(watch, cycle) == NGX_OK) {
        watch->poll = ngx_max(watch->interval,
                              NGX_HTTP_PORTICO_WATCH_FALLBACK);
    }

    /*
     * the table parsed with the configuration may be old already: a
     * worker respawned after a crash, or the file changed since the reload
     */

    ngx_http_portico_watch_check(watch, cycle->log);

    watch->timer.handler = ngx_http_portico_watch_timer;
    watch->timer.data = watch;
    watch->timer.log = cycle->log;
    watch->timer.cancelable = 1;

    ngx_add_timer(&watch->timer, watch->poll);
}


void
ngx_http_portico_watch_stop(ngx_http_portico_watch_t *watch)
{
    if (watch->timer.timer_set) {
        ngx_del_timer(&watch->timer);
    }

    ngx_http_portico_notify_remove(watch);
}


/*
 * Adds the folder of the watch's file to this process's inotify
 * descriptor (made by the first watch); NGX_OK, or NGX_DECLINED: the
 * watch polls at its interval.
 */

static ngx_int_t
ngx_http_portico_notify_add(ngx_http_portico_watch_t *watch,
    ngx_cycle_t *cycle)
{
    int                fd;
    size_t             len;
    ngx_err_t          err;
    ngx_connection_t  *c;
    u_char             dir[NGX_MAX_PATH];

    for (len = watch->file.len; len > 0; len--) {
        if (watch->file.data[len - 1] == '/') {
            break;
        }
    }

    if (len == 0 || len >= NGX_MAX_PATH) {
        return NGX_DECLINED;
    }

    /* "/prefix/routes" -> "/prefix/", "/routes" -> "/" */

    ngx_memcpy(dir, watch->file.data, len);
    dir[len] = '\0';

    if (ngx_http_portico_notify == NULL) {

        fd = inotify_init1(IN_NONBLOCK|IN_CLOEXEC);
        if (fd == -1) {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, ngx_errno,
                          "%s: inotify_init1() failed, polling \"%V\" "
                          "every %M ms", watch->directive, &watch->file,
                          watch->interval);
            return NGX_DECLINED;
        }

        c = ngx_get_connection(fd, cycle->log);
        if (c == NULL) {
            (void) close(fd);
            return NGX_DECLINED;
        }

        c->log = cycle->log;
        c->read->log = cycle->log;
        c->write->log = cycle->log;
        c->read->handler = ngx_http_portico_notify_handler;

        /* a graceful shutdown closes it (ngx_close_idle_connections) */

        c->idle = 1;

        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_close_connection(c);
            return NGX_DECLINED;
        }

        ngx_queue_init(&ngx_http_portico_notified);
        ngx_http_portico_notify = c;
    }

    if (inotify_add_watch(ngx_http_portico_notify->fd, (char *) dir,
                          NGX_HTTP_PORTICO_NOTIFY_EVENTS)
        == -1)
    {
        err = ngx_errno;

        ngx_log_error(NGX_LOG_NOTICE, cycle->log, err,
                      "%s: inotify_add_watch(\"%s\") failed, polling \"%V\" "
                      "every %M ms", watch->directive, dir, &watch->file,
                      watch->interval);

        if (ngx_queue_empty(&ngx_http_portico_notified)) {
            ngx_http_portico_notify_close();
        }

        return NGX_DECLINED;
    }

    ngx_queue_insert_tail(&ngx_http_portico_notified, &watch->notified);

    return NGX_OK;
}


static void
ngx_http_portico_notify_remove(ngx_http_portico_watch_t *watch)
{
    if (watch->notified.prev == NULL) {
        return;
    }

    ngx_queue_remove(&watch->notified);
    watch->notified.prev = NULL;
    watch->notified.next = NULL;

    if (ngx_queue_empty(&ngx_http_portico_notified)) {
        ngx_http_portico_notify_close();
    }
}


/* closes the inotify descriptor; its watches poll at their interval */

static void
ngx_http_portico_notify_close(void)
{
    ngx_queue_t               *q;
    ngx_http_portico_watch_t  *watch;

    if (ngx_http_portico_notify == NULL) {
        return;
    }

    while (!ngx_queue_empty(&ngx_http_portico_notified)) {
        q = ngx_queue_head(&ngx_http_portico_notified);
        ngx_queue_remove(q);

        watch = ngx_queue_data(q, ngx_http_portico_watch_t, notified);
        watch->notified.prev = NULL;
        watch->notified.next = NULL;
        watch->poll = watch->interval;
    }

    ngx_close_connection(ngx_http_portico_notify);
    ngx_http_portico_notify = NULL;
}


/* something changed in a watched folder: every watch looks at its file */

static void
ngx_http_portico_notify_handler(ngx_event_t *rev)
{
    ssize_t                    n;
    ngx_err_t                  err;
    ngx_queue_t               *q, *next;
    ngx_connection_t          *c;
    ngx_http_portico_watch_t  *watch;
    u_char                     buf[NGX_HTTP_PORTICO_NOTIFY_BUF];

    c = rev->data;

    if (c->close) {
        ngx_http_portico_notify_close();
        return;
    }

    /* the events themselves do not matter: each watch stats its file */

    err = 0;

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n > 0) {
            continue;
        }

        err = ngx_errno;

        if (n == -1 && err == NGX_EINTR) {
            continue;
        }

        break;
    }

    if (n == 0 || err != NGX_EAGAIN) {
        ngx_log_error(NGX_LOG_ALERT, rev->log, err,
                      "inotify read() failed, polling the tables");
        ngx_http_portico_notify_close();
        return;
    }

    rev->ready = 0;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_portico_notified);
         q != ngx_queue_sentinel(&ngx_http_portico_notified);
         q = next)
    {
        next = ngx_queue_next(q);
        watch = ngx_queue_data(q, ngx_http_portico_watch_t, notified);

        /* "master_process off": a previous cycle's watch ends soon */

        if (watch->cycle == (ngx_cycle_t *) ngx_cycle) {
            ngx_http_portico_watch_check(watch, rev->log);
        }
    }
}


static void
ngx_http_portico_watch_timer(ngx_event_t *ev)
{
    ngx_http_portico_watch_t  *watch = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (watch->cycle != (ngx_cycle_t *) ngx_cycle) {

        /*
         * "master_process off" after a reload: nginx calls no init_process
         * for the new cycle, it starts from here and this one stops
         */

        watch->start((ngx_cycle_t *) ngx_cycle);
        return;
    }

    ngx_http_portico_watch_check(watch, ev->log);

    ngx_add_timer(ev, watch->poll);
}


static void
ngx_http_portico_watch_check(ngx_http_portico_watch_t *watch, ngx_log_t *log)
{
    ngx_err_t                         err_no;
    ngx_file_info_t                   fi;
    ngx_http_portico_route_file_id_t  id;

    if (ngx_file_info(watch->file.data, &fi) == NGX_FILE_ERROR) {
        err_no = ngx_errno;

        if (err_no != NGX_ENOENT && err_no != watch->stat_err) {
            ngx_log_error(NGX_LOG_ERR, log, err_no,
                          "%s: " ngx_file_info_n " \"%V\" failed, keeping "
                          "version %V", watch->directive, &watch->file,
                          &watch->version);
        }

        watch->stat_err = err_no;
        return;
    }

    watch->stat_err = 0;

    ngx_http_portico_route_file_id(&fi, &id);

    if (ngx_http_portico_route_file_same(&id, &watch->seen)) {
        return;
    }

    /* "load" may set the identity of the file it read instead */

    watch->seen = id;

    watch->load(watch, log);
}


/*
 * A new pool of the table's (logging to log) holding the file's text, and
 * the file's identity; NULL with err set.
 */

ngx_pool_t *
ngx_http_portico_read_table(ngx_str_t *file, size_t max, ngx_log_t *log,
    ngx_str_t *text, ngx_http_portico_route_file_id_t *id,
    ngx_http_portico_route_error_t *err)
{
    ngx_pool_t  *pool;

    err->line = 0;
    err->len = 0;
    err->other_config = 0;

    pool = ngx_create_pool(NGX_HTTP_PORTICO_TABLE_POOL_SIZE, log);
    if (pool == NULL) {
        (void) ngx_http_portico_route_fail(err, 0, "out of memory");
        return NULL;
    }

    if (ngx_http_portico_read_file(file, pool, max, text, id, err) != NGX_OK) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return pool;
}


/*
 * The whole file into pool (one more byte, for the caller), with its
 * identity; non-blocking: a FIFO in the file's place must not hang the
 * worker.
 */

static ngx_int_t
ngx_http_portico_read_file(ngx_str_t *file, ngx_pool_t *pool, size_t max,
    ngx_str_t *text, ngx_http_portico_route_file_id_t *id,
    ngx_http_portico_route_error_t *err)
{
    u_char           *buf, *p, *last;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_err_t         e;
    ngx_int_t         rc;
    ngx_file_info_t   fi;
    u_char            reason[NGX_MAX_ERROR_STR];

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY|NGX_FILE_NONBLOCK,
                       NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        e = ngx_errno;
        last = ngx_strerror(e, reason, NGX_MAX_ERROR_STR);
        return ngx_http_portico_route_fail(err, 0,
                                           ngx_open_file_n " failed (%d: %*s)",
                                           e, last - reason, reason);
    }

    rc = NGX_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        e = ngx_errno;
        last = ngx_strerror(e, reason, NGX_MAX_ERROR_STR);
        (void) ngx_http_portico_route_fail(err, 0,
                                           ngx_fd_info_n " failed (%d: %*s)",
                                           e, last - reason, reason);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        (void) ngx_http_portico_route_fail(err, 0, "not a regular file");
        goto done;
    }

    if (ngx_file_size(&fi) > (off_t) max) {
        (void) ngx_http_portico_route_fail(err, 0,
                                           "file larger than %uz bytes", max);
        goto done;
    }

    ngx_http_portico_route_file_id(&fi, id);

    size = (size_t) ngx_file_size(&fi);

    buf = ngx_pnalloc(pool, size + 1);
    if (buf == NULL) {
        (void) ngx_http_portico_route_fail(err, 0, "out of memory");
        goto done;
    }

    for (p = buf; p < buf + size; p += n) {
        n = ngx_read_fd(fd, p, buf + size - p);

        if (n == -1) {
            e = ngx_errno;
            last = ngx_strerror(e, reason, NGX_MAX_ERROR_STR);
            (void) ngx_http_portico_route_fail(err, 0,
                                               ngx_read_fd_n
                                               " failed (%d: %*s)",
                                               e, last - reason, reason);
            goto done;
        }

        if (n == 0) {
            (void) ngx_http_portico_route_fail(err, 0,
                                               "file shrank while read");
            goto done;
        }
    }

    text->data = buf;
    text->len = size;

    rc = NGX_OK;

done:

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, pool->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", file);
    }

    return rc;
}


/*
 * A table line (without its newline) into at most max fields separated by
 * one space; every byte printable ASCII (0x21-0x7e) or that space.
 */

ngx_int_t
ngx_http_portico_split(u_char *p, u_char *last, ngx_str_t *field,
    ngx_uint_t max, ngx_uint_t *nfields, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    u_char  *start;

    *nfields = 0;

    if (p == last) {
        return ngx_http_portico_route_fail(err, line, "empty line");
    }

    for (start = p; /* void */ ; p++) {

        if (p == last || *p == ' ') {

            if (p == start) {
                return ngx_http_portico_route_fail(err, line,
                                                   "empty field (a space at "
                                                   "the start or end, or two "
                                                   "spaces)");
            }

            if (*nfields == max) {
                return ngx_http_portico_route_fail(err, line,
                                                   "too many fields");
            }

            field[*nfields].data = start;
            field[*nfields].len = p - start;
            (*nfields)++;

            if (p == last) {
                return NGX_OK;
            }

            start = p + 1;
            continue;
        }

        if (*p < 0x21 || *p > 0x7e) {
            return ngx_http_portico_route_fail(err, line,
                                               "invalid character (code %ui)",
                                               (ngx_uint_t) *p);
        }
    }
}


void
ngx_http_portico_route_file_id(ngx_file_info_t *fi,
    ngx_http_portico_route_file_id_t *id)
{
    id->dev = fi->st_dev;
    id->ino = fi->st_ino;
    id->size = fi->st_size;
    id->mtime = fi->st_mtim.tv_sec;
    id->mtime_nsec = fi->st_mtim.tv_nsec;
}


ngx_uint_t
ngx_http_portico_route_file_same(ngx_http_portico_route_file_id_t *a,
    ngx_http_portico_route_file_id_t *b)
{
    return a->ino == b->ino && a->dev == b->dev && a->size == b->size
           && a->mtime == b->mtime && a->mtime_nsec == b->mtime_nsec;
}


ngx_int_t
ngx_http_portico_route_fail(ngx_http_portico_route_error_t *err,
    ngx_uint_t line, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(err->text, err->text + NGX_HTTP_PORTICO_ROUTES_ERROR_LEN,
                      fmt, args);
    va_end(args);

    err->len = p - err->text;
    err->line = line;

    return NGX_ERROR;
}
