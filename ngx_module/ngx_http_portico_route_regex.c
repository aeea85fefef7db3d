
/*
 * ngx_http_portico_route_module: regex rules and rewrites (docs/routes.md,
 * "regex" rules and the "rewrite=" word).
 *
 * A "regex P" rule matches as ingress-nginx's location ~* "^P" does: PCRE2,
 * caseless, against nginx's normalised URI.  Patterns are compiled with
 * nginx's ngx_regex_compile() (the flags the controller checks them with)
 * and matched with pcre2_match() under the match, depth and heap limits of
 * lib/regex_limits.h: a match that would backtrack further is "no match",
 * logged once per table, never a stalled worker.  A regex is compiled to
 * machine code (PCRE2's JIT) at its first match.  A rewrite is nginx's
 * "rewrite P T break": the URI becomes T with $0-$9 put in, the arguments
 * stay.
 */


#include "ngx_http_portico_route_module.h"


#if (NGX_PCRE2)

static ngx_regex_t *ngx_http_portico_route_regex_make(ngx_str_t *pattern,
    ngx_pool_t *pool, ngx_uint_t *captures, ngx_uint_t line,
    ngx_http_portico_route_error_t *err);
static void ngx_http_portico_route_regex_free(void *data);


ngx_int_t
ngx_http_portico_route_matcher_init(ngx_http_portico_route_matcher_t *m)
{
    m->context = pcre2_match_context_create(NULL);
    m->data = pcre2_match_data_create(PORTICO_REGEX_CAPTURES, NULL);
    m->jit_stack = pcre2_jit_stack_create(PORTICO_REGEX_JIT_STACK_START,
                                          PORTICO_REGEX_HEAP_LIMIT * 1024,
                                          NULL);

    if (m->context == NULL || m->data == NULL || m->jit_stack == NULL) {
        ngx_http_portico_route_matcher_free(m);
        return NGX_ERROR;
    }

    pcre2_set_match_limit(m->context, PORTICO_REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(m->context, PORTICO_REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(m->context, PORTICO_REGEX_HEAP_LIMIT);
    pcre2_jit_stack_assign(m->context, NULL, m->jit_stack);

    return NGX_OK;
}


void
ngx_http_portico_route_matcher_free(ngx_http_portico_route_matcher_t *m)
{
    if (m->context != NULL) {
        pcre2_match_context_free(m->context);
        m->context = NULL;
    }

    if (m->data != NULL) {
        pcre2_match_data_free(m->data);
        m->data = NULL;
    }

    if (m->jit_stack != NULL) {
        pcre2_jit_stack_free(m->jit_stack);
        m->jit_stack = NULL;
    }
}


/*
 * nginx compiles to machine code only the regexes of its configuration
 * (with "pcre_jit on"), never those of a table loaded later; interpreted,
 * a short route regex costs about 1,600 instructions more per request
 * (bench-module, case (r)).  Done at a regex's first match, so that a
 * table swap does not compile rules no request uses.  Where JIT is not
 * built in or fails, pcre2_match() interprets, as before: the limits hold
 * either way (the JIT stack is bounded by the heap limit).
 */

void
ngx_http_portico_route_regex_jit(ngx_regex_t *re)
{
    int  rc;

    rc = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);

    if (rc != 0) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "portico_routes: pcre2_jit_compile(): %d", rc);
    }
}


/* "^P" for the match; P alone for a rewrite later, if it may differ */

ngx_int_t
ngx_http_portico_route_regex_compile(ngx_http_portico_route_regex_t *rx,
    ngx_str_t *pattern, ngx_pool_t *pool, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    u_char     *p;
    ngx_str_t   anchored;

    anchored.len = pattern->len + 1;
    anchored.data = ngx_pnalloc(pool, anchored.len);
    if (anchored.data == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    p = anchored.data;
    *p++ = '^';
    ngx_memcpy(p, pattern->data, pattern->len);

    rx->pattern = *pattern;
    rx->rewrite = NULL;
    rx->logged = 0;
    rx->jit = 0;

    rx->anchored = ngx_http_portico_route_regex_make(&anchored, pool,
                                                     &rx->captures, line,
                                                     err);

    return (rx->anchored == NULL) ? NGX_ERROR : NGX_OK;
}


static ngx_regex_t *
ngx_http_portico_route_regex_make(ngx_str_t *pattern, ngx_pool_t *pool,
    ngx_uint_t *captures, ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    return ngx_http_portico_route_regex_new(pattern, PCRE2_CASELESS, pool,
                                            captures, line, err);
}


/*
 * A table regex, freed with the pool.  Not ngx_regex_compile(): its code
 * takes memory from nginx's pool only while it compiles, so PCRE2's JIT,
 * asked at the first match, would find no allocator and fail; the flags
 * and messages are the same.
 */

ngx_regex_t *
ngx_http_portico_route_regex_new(ngx_str_t *pattern, uint32_t options,
    ngx_pool_t *pool, ngx_uint_t *captures, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    int                  errcode;
    size_t               erroff;
    uint32_t             n;
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    pcre2_code          *re;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        (void) ngx_http_portico_route_fail(err, line, "out of memory");
        return NULL;
    }

    re = pcre2_compile(pattern->data, pattern->len, options, &errcode,
                       &erroff, NULL);

    if (re == NULL) {
        pcre2_get_error_message(errcode, errstr, NGX_MAX_CONF_ERRSTR);

        if (erroff == pattern->len) {
            (void) ngx_http_portico_route_fail(err, line,
                                               "pcre2_compile() failed: %s "
                                               "in \"%V\"", errstr, pattern);

        } else {
            (void) ngx_http_portico_route_fail(err, line,
                                               "pcre2_compile() failed: %s "
                                               "in \"%V\" at \"%*s\"",
                                               errstr, pattern,
                                               pattern->len - erroff,
                                               pattern->data + erroff);
        }

        return NULL;
    }

    cln->handler = ngx_http_portico_route_regex_free;
    cln->data = re;

    n = 0;
    (void) pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &n);

    if (captures != NULL) {
        *captures = n;
    }

    return re;
}


static void
ngx_http_portico_route_regex_free(void *data)
{
    pcre2_code_free(data);
}


/*
 * NGX_OK: matched (the captures are in m->data), NGX_DECLINED: no match,
 * also for a match over the limits (logged once for this regex)
 */

ngx_int_t
ngx_http_portico_route_regex_match(ngx_http_portico_route_matcher_t *m,
    ngx_http_portico_route_regex_t *rx, ngx_str_t *s)
{
    int  rc;

    if (!rx->jit) {
        rx->jit = 1;

        ngx_http_portico_route_regex_jit(rx->anchored);

        if (rx->rewrite != NULL) {
            ngx_http_portico_route_regex_jit(rx->rewrite);
        }
    }

    rc = pcre2_match(rx->anchored, s->data, s->len, 0, 0, m->data,
                     m->context);

    if (rc >= 0) {
        /* 0: more groups than PORTICO_REGEX_CAPTURES, the first are set */
        m->set = (rc == 0) ? PORTICO_REGEX_CAPTURES : (ngx_uint_t) rc;
        return NGX_OK;
    }

    if (rc == PCRE2_ERROR_NOMATCH) {
        return NGX_DECLINED;
    }

    if (!rx->logged) {
        rx->logged = 1;

        ngx_log_error(NGX_LOG_WARN, m->log, 0,
                      "portico_routes: regex \"%V\" treated as no match: "
                      "pcre2_match() failed: %d (match, depth or heap limit "
                      "of the route regexes)", &rx->pattern, rc);
    }

    return NGX_DECLINED;
}


/*
 * "rewrite=T": T starts with "/"; "$N" (one digit) is a capture.  A
 * pattern with an alternation gets a regex of its own for the rewrite, as
 * nginx's "rewrite P T" matches P without the anchor.
 */

ngx_int_t
ngx_http_portico_route_rewrite_parse(ngx_http_portico_route_target_t *target,
    ngx_str_t *value, ngx_pool_t *pool, ngx_pool_t *regex_pool,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    u_char                            *p, *last, *start;
    ngx_uint_t                         n, captures;
    ngx_http_portico_route_part_t     *part;
    ngx_http_portico_route_regex_t    *rx;
    ngx_http_portico_route_rewrite_t  *rw;

    rx = target->regex;

    if (rx == NULL) {
        return ngx_http_portico_route_fail(err, line, "\"rewrite=\" needs a "
                                           "\"regex\" rule");
    }

    if (value->len == 0 || value->data[0] != '/') {
        return ngx_http_portico_route_fail(err, line, "invalid rewrite "
                                           "\"%V\", \"/\" first expected",
                                           value);
    }

    last = value->data + value->len;
    n = 1;

    for (p = value->data; p < last; p++) {
        if (*p == '$') {
            n++;
        }
    }

    rw = ngx_palloc(pool, sizeof(ngx_http_portico_route_rewrite_t));
    part = ngx_palloc(pool, n * sizeof(ngx_http_portico_route_part_t));

    if (rw == NULL || part == NULL) {
        return ngx_http_portico_route_fail(err, line, "out of memory");
    }

    rw->parts = part;
    rw->nparts = 0;
    rw->literal = 0;

    start = value->data;

    for (p = value->data; p <= last; p++) {

        if (p < last && *p != '$') {
            continue;
        }

        part = &rw->parts[rw->nparts++];
        part->text.data = start;
        part->text.len = p - start;
        part->capture = -1;
        rw->literal += part->text.len;

        if (p == last) {
            break;
        }

        if (p + 1 == last || p[1] < '0' || p[1] > '9') {
            return ngx_http_portico_route_fail(err, line, "invalid rewrite "
                                               "\"%V\", \"$\" takes one "
                                               "digit ($0-$9)", value);
        }

        part->capture = p[1] - '0';
        p++;
        start = p + 1;
    }

    if (ngx_strlchr(rx->pattern.data, rx->pattern.data + rx->pattern.len,
                    '|')
        != NULL)
    {
        rx->rewrite = ngx_http_portico_route_regex_make(&rx->pattern,
                                                        regex_pool,
                                                        &captures, line, err);
        if (rx->rewrite == NULL) {
            return NGX_ERROR;
        }
    }

    target->rewrite = rw;

    return NGX_OK;
}


/*
 * The rewritten URI of a request whose regex rule just matched: the
 * captures of the match (or of the pattern's own regex), unset ones empty
 */

ngx_int_t
ngx_http_portico_route_rewrite(ngx_http_request_t *r,
    ngx_http_portico_route_matcher_t *m,
    ngx_http_portico_route_target_t *target, ngx_str_t *uri)
{
    int                                rc;
    u_char                            *p, *start;
    size_t                             len, *ov;
    ngx_uint_t                         i, n, c;
    ngx_http_portico_route_regex_t    *rx;
    ngx_http_portico_route_rewrite_t  *rw;

    rx = target->regex;
    rw = target->rewrite;

    if (rx->rewrite != NULL) {
        rc = pcre2_match(rx->rewrite, r->uri.data, r->uri.len, 0, 0, m->data,
                         m->context);

        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && !rx->logged) {
            rx->logged = 1;

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "portico_routes: rewrite regex \"%V\" failed: "
                          "pcre2_match(): %d, the URI is not rewritten",
                          &rx->pattern, rc);
        }

        if (rc < 0) {
            *uri = r->uri;
            return NGX_OK;
        }

        m->set = (rc == 0) ? PORTICO_REGEX_CAPTURES : (ngx_uint_t) rc;
    }

    /* the pairs after the last set group are not written by a match */

    ov = pcre2_get_ovector_pointer(m->data);
    n = m->set;

    len = rw->literal;

    for (i = 0; i < rw->nparts; i++) {
        c = rw->parts[i].capture;

        if (rw->parts[i].capture >= 0 && c < n
            && ov[2 * c] != PCRE2_UNSET)
        {
            len += ov[2 * c + 1] - ov[2 * c];
        }
    }

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    for (i = 0; i < rw->nparts; i++) {
        p = ngx_cpymem(p, rw->parts[i].text.data, rw->parts[i].text.len);

        c = rw->parts[i].capture;

        if (rw->parts[i].capture >= 0 && c < n
            && ov[2 * c] != PCRE2_UNSET)
        {
            p = ngx_cpymem(p, r->uri.data + ov[2 * c],
                           ov[2 * c + 1] - ov[2 * c]);
        }
    }

    /* uri may be r->uri, the subject of the captures */

    uri->data = start;
    uri->len = p - start;

    return NGX_OK;
}


#else


ngx_int_t
ngx_http_portico_route_matcher_init(ngx_http_portico_route_matcher_t *m)
{
    return NGX_OK;
}


void
ngx_http_portico_route_matcher_free(ngx_http_portico_route_matcher_t *m)
{
}


ngx_int_t
ngx_http_portico_route_regex_compile(ngx_http_portico_route_regex_t *rx,
    ngx_str_t *pattern, ngx_pool_t *pool, ngx_uint_t line,
    ngx_http_portico_route_error_t *err)
{
    return ngx_http_portico_route_fail(err, line, "\"regex\" rules need "
                                       "nginx built with PCRE2");
}


ngx_int_t
ngx_http_portico_route_regex_match(ngx_http_portico_route_matcher_t *m,
    ngx_http_portico_route_regex_t *rx, ngx_str_t *s)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_http_portico_route_rewrite_parse(ngx_http_portico_route_target_t *target,
    ngx_str_t *value, ngx_pool_t *pool, ngx_pool_t *regex_pool,
    ngx_uint_t line, ngx_http_portico_route_error_t *err)
{
    return ngx_http_portico_route_fail(err, line, "\"rewrite=\" needs a "
                                       "\"regex\" rule");
}


ngx_int_t
ngx_http_portico_route_rewrite(ngx_http_request_t *r,
    ngx_http_portico_route_matcher_t *m,
    ngx_http_portico_route_target_t *target, ngx_str_t *uri)
{
    *uri = r->uri;
    return NGX_OK;
}

#endif
