/* routefiles.c - a format-3 route table's shard files (see routefiles.h). */
#include "controller/routefiles.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"

#define DIR_MODE 0755

typedef char shard_name[ROUTES_SHARD_NAME_LEN + 1];

/* A sorted set of shard names. */
struct names {
    shard_name *v;
    size_t n, cap;
};

struct routefiles {
    char *dir;              /* the live shard folder */
    /* Files this process wrote and has not removed: only those are
     * trusted to hold their name's content (a file of an earlier run may
     * be cut short by a crash), so the first change after a start
     * rewrites the others once. */
    struct names written;
    /* The installed head's shards (checked with it) and its N. */
    struct names installed;
    size_t installed_nshards;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int names_has(const struct names *s, const char *name)
{
    return s->n && bsearch(name, s->v, s->n, sizeof(*s->v), cmp_name);
}

static int names_add(struct names *s, const char *name)
{
    size_t at = 0;

    if (names_has(s, name))
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        shard_name *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    while (at < s->n && strcmp(s->v[at], name) < 0)
        at++;
    memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
    snprintf(s->v[at], sizeof(s->v[at]), "%s", name);
    s->n++;
    return 0;
}

struct routefiles *routefiles_new(const char *routes_path,
                                  const char *candidate_routes, char *err,
                                  size_t errlen)
{
    struct routefiles *f = calloc(1, sizeof(*f));
    char *link = NULL, *target = NULL, real[PATH_MAX];

    if (!f || !(f->dir = file_sibling(routes_path, ROUTES_SHARD_DIR)) ||
        !(link = file_sibling(candidate_routes, ROUTES_SHARD_DIR))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (mkdir(f->dir, DIR_MODE) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot make %s: %s", f->dir, strerror(errno));
        goto fail;
    }
    /* The link names the folder by its absolute path: the candidate
     * folder may be anywhere. */
    target = realpath(f->dir, real) ? real : f->dir;
    if ((unlink(link) < 0 && errno != ENOENT) || symlink(target, link) < 0) {
        snprintf(err, errlen, "cannot link %s to %s: %s", link, target,
                 strerror(errno));
        goto fail;
    }
    free(link);
    return f;
fail:
    free(link);
    routefiles_free(f);
    return NULL;
}

void routefiles_free(struct routefiles *f)
{
    if (!f)
        return;
    free(f->dir);
    free(f->written.v);
    free(f->installed.v);
    free(f);
}

/* Writes one shard under a temporary name, then renames it: a reader
 * sees the whole file or none. 0, or -1 (logged). */
static int write_shard(struct routefiles *f, const struct routes_result *r,
                       const struct routes_shard *sh)
{
    char path[PATH_MAX], tmp[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", f->dir, sh->name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", f->dir, sh->name);
    if (file_write(tmp, r->shards_text.text.data + sh->from, sh->len) < 0 ||
        rename(tmp, path) < 0) {
        log_error("routes: cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (names_add(&f->written, sh->name) < 0) {
        log_error("routes: out of memory");
        return -1;
    }
    return 0;
}

int routefiles_has(void *ctx, const char *name)
{
    struct routefiles *f = ctx;
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    return names_has(&f->written, name) && access(path, F_OK) == 0;
}

long routefiles_write(struct routefiles *f, const struct routes_result *r,
                      unsigned char *check)
{
    int same_n = r->nshards == f->installed_nshards;
    long nchecked = 0;

    for (size_t k = 0; k < r->nused; k++) {
        const struct routes_shard *sh = &r->shards[k];
        check[k] = !same_n || !names_has(&f->installed, sh->name);
        nchecked += check[k];
        if (sh->kept || routefiles_has(f, sh->name))
            continue;
        if (write_shard(f, r, sh) < 0)
            return -1;
    }
    return nchecked;
}

int routefiles_installed(struct routefiles *f, const struct routes_result *r)
{
    f->installed.n = 0;
    f->installed_nshards = r->nshards;
    for (size_t k = 0; k < r->nused; k++)
        if (names_add(&f->installed, r->shards[k].name) < 0) {
            /* Nothing counts as checked: the next head is checked whole. */
            f->installed.n = 0;
            f->installed_nshards = 0;
            return -1;
        }
    return 0;
}

/* Drops name from the written set (its file is gone). */
static void forget(struct names *s, const char *name)
{
    shard_name *at;

    if (!s->n || !(at = bsearch(name, s->v, s->n, sizeof(*s->v), cmp_name)))
        return;
    memmove(at, at + 1, (size_t)(s->v + s->n - (at + 1)) * sizeof(*s->v));
    s->n--;
}

size_t routefiles_collect(struct routefiles *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    size_t removed = 0;
    char path[PATH_MAX];

    if (!d) {
        log_warn("routes: cannot read %s: %s", f->dir, strerror(errno));
        return 0;
    }
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (e->d_name[0] != '.' && names_has(&f->installed, e->d_name)))
            continue;
        snprintf(path, sizeof(path), "%s/%s", f->dir, e->d_name);
        if (unlink(path) == 0) {
            removed++;
            forget(&f->written, e->d_name);
        } else if (errno != ENOENT) {
            log_warn("routes: cannot remove %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}
