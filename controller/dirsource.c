/* dirsource.c - local mode source: a folder of manifests (see dirsource.h). */
#include "controller/dirsource.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <malloc.h>

#include <json-c/json.h>

#include "fileio.h"
#include "log.h"
#include "controller/manifest.h"
#include "controller/object.h"
#include "controller/validate.h"

#define DIRSOURCE_TRIM_BYTES (256 * 1024)

/* What tells one version of a file from another (a struct stat is 144
 * bytes: 100k Ingresses and their Services are 200k files). */
struct file_version {
    ino_t ino;
    off_t size;
    struct timespec mtim;
};

/* The objects one file contributed at its last successful parse: the
 * kind and store key of each (the objects themselves live in the store).
 * One block: the array, then the keys' text. */
struct file_objs {
    size_t n;
    struct file_obj {
        enum resource_kind kind;
        const char *key;
    } v[];
};

/* One file of the folder (kept small: 100k Ingresses and their Services
 * are 200k files). */
struct file_entry {
    char *name;
    struct file_version st;     /* when it was last read (loaded or bad) */
    struct file_objs *objs;     /* NULL: none */
    unsigned char loaded;       /* objs comes from a successful parse */
    unsigned char bad;          /* st is a version that failed to parse
                                   (objs: from the previous one) */
    unsigned char seen;         /* present in the current scan */
};

struct dirsource {
    struct evloop *loop;
    struct store *store;
    char *dir;
    int ifd;
    struct ev_timer *settle;
    struct file_entry *files;   /* [0, nsorted) sorted by name: found by
                                   binary search (no index to keep); files
                                   new in a scan follow, sorted at its end */
    size_t nfiles, capfiles, nsorted;
};

static int wanted_name(const char *name, int *is_json)
{
    size_t n = strlen(name);

    if (name[0] == '.')
        return 0;
    *is_json = n > 5 && strcmp(name + n - 5, ".json") == 0;
    return *is_json || (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* The file at path (st: its stat), refused unread when it is not a
 * regular file or larger than the limit. */
static char *read_manifest(const char *path, const struct stat *st,
                           size_t *len, char *err, size_t errlen)
{
    char *data;

    if (!S_ISREG(st->st_mode)) {
        snprintf(err, errlen, "not a regular file");
        return NULL;
    }
    if (st->st_size > DIRSOURCE_FILE_MAX) {
        snprintf(err, errlen, "refused unread: %lld bytes, more than the "
                 "limit of %d", (long long)st->st_size, DIRSOURCE_FILE_MAX);
        return NULL;
    }
    data = file_read(path, DIRSOURCE_FILE_MAX, len);
    if (!data)
        snprintf(err, errlen, "%s", strerror(errno));
    return data;
}

/* path, or all of stdin for "-", at most DIRSOURCE_FILE_MAX bytes. */
static char *read_input(const char *path, size_t *len, char *err,
                        size_t errlen)
{
    struct stat st;
    char *data;

    if (strcmp(path, "-") != 0) {
        if (stat(path, &st) < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            return NULL;
        }
        return read_manifest(path, &st, len, err, errlen);
    }
    data = file_read_fd(STDIN_FILENO, DIRSOURCE_FILE_MAX, len);
    if (!data && errno == EFBIG)
        snprintf(err, errlen, "more than %d bytes", DIRSOURCE_FILE_MAX);
    else if (!data)
        snprintf(err, errlen, "%s", strerror(errno));
    return data;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const struct file_entry *)a)->name,
                  ((const struct file_entry *)b)->name);
}

static struct file_entry *find_file(struct dirsource *ds, const char *name)
{
    struct file_entry key = {.name = (char *)name};

    return bsearch(&key, ds->files, ds->nsorted, sizeof(*ds->files),
                   cmp_file);
}

static struct file_entry *add_file(struct dirsource *ds, const char *name)
{
    if (ds->nfiles == ds->capfiles) {
        size_t cap = ds->capfiles ? ds->capfiles * 2 : 16;
        struct file_entry *f = realloc(ds->files, cap * sizeof(*f));
        if (!f)
            return NULL;
        ds->files = f;
        ds->capfiles = cap;
    }
    struct file_entry *f = &ds->files[ds->nfiles];
    memset(f, 0, sizeof(*f));
    if (!(f->name = strdup(name)))
        return NULL;
    ds->nfiles++;
    return f;
}

static int kind_of(struct json_object *doc, enum resource_kind *out)
{
    const char *kind = k8s_str(doc, "kind");

    if (!kind)
        return -1;
    if (strcmp(kind, "Ingress") == 0)
        *out = RK_INGRESS;
    else if (strcmp(kind, "IngressClass") == 0)
        *out = RK_INGRESS_CLASS;
    else if (strcmp(kind, "Service") == 0)
        *out = RK_SERVICE;
    else if (strcmp(kind, "Secret") == 0)
        *out = RK_SECRET;
    else
        return -1;
    return 0;
}

/* Namespaced objects without a namespace get "default", like kubectl. */
static void default_namespace(struct json_object *doc, enum resource_kind k)
{
    struct json_object *meta;

    if (k == RK_INGRESS_CLASS || k8s_str(doc, "metadata.namespace"))
        return;
    if (json_object_object_get_ex(doc, "metadata", &meta) &&
        json_object_is_type(meta, json_type_object))
        json_object_object_add(meta, "namespace",
                               json_object_new_string("default"));
}

/* The kind and store key of one manifest object (namespaced objects
 * without a namespace get "default"); -1 when it is not a kind we read
 * or has no name. */
static int doc_key(struct json_object *doc, enum resource_kind *k, char *key,
                   size_t keylen)
{
    if (kind_of(doc, k) < 0)
        return -1;
    default_namespace(doc, *k);
    return store_key_of(*k, doc, key, keylen);
}

static void forget_keys(struct file_entry *f)
{
    free(f->objs);
    f->objs = NULL;
}

/* The n (kinds[i], keys[i]) packed into one block; NULL if n is 0 or out
 * of memory. */
static struct file_objs *pack_objs(const enum resource_kind *kinds,
                                   char *const *keys, size_t n)
{
    size_t text = 0;
    struct file_objs *o;
    char *p;

    if (n == 0)
        return NULL;
    for (size_t i = 0; i < n; i++)
        text += strlen(keys[i]) + 1;
    o = malloc(sizeof(*o) + n * sizeof(o->v[0]) + text);
    if (!o)
        return NULL;
    o->n = n;
    p = (char *)&o->v[n];
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(keys[i]) + 1;
        o->v[i].kind = kinds[i];
        o->v[i].key = memcpy(p, keys[i], len);
        p += len;
    }
    return o;
}

static void drop_file(struct file_entry *f)
{
    free(f->name);
    forget_keys(f);
}

/* Forgets the files not seen by the scan (their objects are swept by the
 * caller) and sorts the others by name (a name read twice, the folder
 * changing during the scan, is kept once). */
static void settle_files(struct dirsource *ds)
{
    size_t kept = 0;

    for (size_t i = 0; i < ds->nfiles; i++) {
        if (ds->files[i].seen)
            ds->files[kept++] = ds->files[i];
        else
            drop_file(&ds->files[i]);
    }
    ds->nfiles = kept;
    if (ds->nfiles > ds->nsorted)       /* new files: not in order */
        qsort(ds->files, ds->nfiles, sizeof(*ds->files), cmp_file);
    kept = 0;
    for (size_t i = 0; i < ds->nfiles; i++) {
        if (kept && strcmp(ds->files[kept - 1].name, ds->files[i].name) == 0)
            drop_file(&ds->files[i]);
        else
            ds->files[kept++] = ds->files[i];
    }
    ds->nfiles = ds->nsorted = kept;
}

/* Marks the objects a file contributed last time as still present. */
static void touch_file(struct dirsource *ds, const struct file_entry *f)
{
    for (size_t i = 0; f->objs && i < f->objs->n; i++)
        store_touch(ds->store, f->objs->v[i].kind, f->objs->v[i].key);
}

static struct file_version version_of(const struct stat *st)
{
    struct file_version v = {st->st_ino, st->st_size, st->st_mtim};

    return v;
}

static int same_file(const struct file_version *a, const struct stat *b)
{
    return a->ino == b->st_ino && a->size == b->st_size &&
           a->mtim.tv_sec == b->st_mtim.tv_sec &&
           a->mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A refused object keeps the version the store has, as the API server
 * keeps an object whose update it refused. 1 if there was one. */
static int keep_previous(struct dirsource *ds, const struct file_entry *old,
                         enum resource_kind k, const char *key)
{
    for (size_t i = 0; old->objs && i < old->objs->n; i++)
        if (old->objs->v[i].kind == k &&
            strcmp(old->objs->v[i].key, key) == 0) {
            store_touch(ds->store, k, key);
            return 1;
        }
    return 0;
}

static void load_file(struct dirsource *ds, const char *name, int is_json)
{
    char path[4096], err[256], key[512];
    struct file_entry *f = find_file(ds, name);
    struct json_object *docs;
    struct stat st;
    size_t len, n;
    char *data;

    snprintf(path, sizeof(path), "%s/%s", ds->dir, name);
    if (!f && !(f = add_file(ds, name)))
        return;
    f->seen = 1;
    if (stat(path, &st) < 0) {
        touch_file(ds, f);
        return;
    }
    if ((f->loaded || f->bad) && same_file(&f->st, &st)) {
        touch_file(ds, f);      /* unchanged: its objects are in the store */
        return;
    }
    data = read_manifest(path, &st, &len, err, sizeof(err));
    docs = data ? manifest_parse(data, len, is_json, err, sizeof(err)) : NULL;
    free(data);
    if (!docs) {
        /* Once per version of the file, not at every rescan. */
        log_warn("local source: %s: %s (keeping its previous objects)", path,
                 err);
        f->st = version_of(&st);
        f->bad = 1;
        touch_file(ds, f);
        malloc_trim(0);
        return;
    }
    f->bad = 0;
    struct file_entry old = *f;     /* its keys, for refused objects */
    f->objs = NULL;
    f->st = version_of(&st);
    f->loaded = 1;
    n = json_object_array_length(docs);
    char **keys = calloc(n ? n : 1, sizeof(*keys));
    enum resource_kind *kinds = calloc(n ? n : 1, sizeof(*kinds));
    size_t nkeys = 0;
    for (size_t i = 0; keys && kinds && i < n; i++) {
        struct json_object *doc = json_object_array_get_idx(docs, i);
        enum resource_kind k;
        if (doc_key(doc, &k, key, sizeof(key)) < 0)
            continue;
        if (manifest_check_limits(doc, err, sizeof(err)) < 0) {
            char shown[300];
            validate_printable(key, shown, sizeof(shown));
            log_warn("local source: %s: %s %s refused: %s", path,
                     resource_kind_name(k), shown, err);
            if (!keep_previous(ds, &old, k, key))
                continue;       /* not known before: nothing to keep */
        } else if (store_put(ds->store, k, doc) < 0) {
            continue;
        }
        if ((keys[nkeys] = strdup(key)))
            kinds[nkeys++] = k;
    }
    f->objs = pack_objs(kinds, keys, nkeys);
    if (nkeys && !f->objs)
        log_error("local source: %s: out of memory", path);
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    free(kinds);
    forget_keys(&old);
    json_object_put(docs);
    if (len > DIRSOURCE_TRIM_BYTES)
        malloc_trim(0);         /* a big file: give its memory back */
}

int dirsource_rescan(struct dirsource *ds)
{
    struct dirent *de;
    DIR *d = opendir(ds->dir);

    if (!d) {
        log_error("local source: cannot read %s: %s", ds->dir,
                  strerror(errno));
        return -1;
    }
    for (int k = 0; k < RK_COUNT; k++)
        store_sweep_begin(ds->store, (enum resource_kind)k);
    for (size_t i = 0; i < ds->nfiles; i++)
        ds->files[i].seen = 0;
    while ((de = readdir(d))) {
        int is_json;
        if (wanted_name(de->d_name, &is_json))
            load_file(ds, de->d_name, is_json);
    }
    closedir(d);
    /* Forget files that are gone (their objects are swept below). */
    settle_files(ds);
    for (int k = 0; k < RK_COUNT; k++)
        store_sweep_end(ds->store, (enum resource_kind)k);
    return 0;
}

/* ---- reading once (lint) ------------------------------------------------- */

/* The manifests of one file (or of stdin when fd is 0) into the store. */
static int read_once_file(struct store *store, const char *path, int is_json,
                          char *err, size_t errlen)
{
    char sub[256], key[512];
    size_t len = 0;
    int failed = 0;
    char *data = read_input(path, &len, sub, sizeof(sub));
    struct json_object *docs = data ? manifest_parse(data, len, is_json, sub,
                                                     sizeof(sub))
                                    : NULL;

    free(data);
    if (!docs) {
        snprintf(err, errlen, "%s: %s", strcmp(path, "-") ? path : "stdin",
                 sub);
        return -1;
    }
    for (size_t i = 0; i < json_object_array_length(docs); i++) {
        struct json_object *doc = json_object_array_get_idx(docs, i);
        enum resource_kind k;
        if (doc_key(doc, &k, key, sizeof(key)) < 0)
            continue;
        if (manifest_check_limits(doc, sub, sizeof(sub)) < 0) {
            char shown[300];
            validate_printable(key, shown, sizeof(shown));
            snprintf(err, errlen, "%.1024s: %s %.300s refused: %.256s", path,
                     resource_kind_name(k), shown, sub);
            failed = 1;     /* reported below; the others are read */
            continue;
        }
        store_put(store, k, doc);
    }
    json_object_put(docs);
    return failed ? -1 : 0;
}

int dirsource_read_once(struct store *store, const char *path,
                        void (*on_error)(void *arg, const char *msg),
                        void *arg)
{
    char err[2048], file[4096];
    struct stat st;
    struct dirent *de;
    DIR *d;
    int failed = 0, is_json;

    if (strcmp(path, "-") == 0 || (stat(path, &st) == 0 && !S_ISDIR(st.st_mode))) {
        size_t n = strlen(path);
        is_json = n > 5 && strcmp(path + n - 5, ".json") == 0;
        if (read_once_file(store, path, is_json, err, sizeof(err)) < 0) {
            on_error(arg, err);
            return -1;
        }
        return 0;
    }
    if (!(d = opendir(path))) {
        snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
        on_error(arg, err);
        return -1;
    }
    while ((de = readdir(d))) {
        if (!wanted_name(de->d_name, &is_json))
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        if (read_once_file(store, file, is_json, err, sizeof(err)) < 0) {
            on_error(arg, err);
            failed = 1;
        }
    }
    closedir(d);
    return failed ? -1 : 0;
}

static void on_settle(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct dirsource *ds = arg;
    uint64_t started = evloop_clock_ms();

    dirsource_rescan(ds);
    log_debug("local source: %zu files rescanned in %llu ms", ds->nfiles,
              (unsigned long long)(evloop_clock_ms() - started));
}

static void on_inotify(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct dirsource *ds = arg;
    char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

    while (read(fd, ev, sizeof(ev)) > 0)
        ;
    evloop_timer_start(ds->settle, DIRSOURCE_SETTLE_MS);
}

struct dirsource *dirsource_start(struct evloop *loop, struct store *store,
                                  const char *dir, char *err, size_t errlen)
{
    struct dirsource *ds = calloc(1, sizeof(*ds));

    if (!ds) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ds->loop = loop;
    ds->store = store;
    ds->ifd = -1;
    ds->dir = strdup(dir);
    ds->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (!ds->dir || ds->ifd < 0 ||
        inotify_add_watch(ds->ifd, dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                              IN_DELETE | IN_CREATE | IN_MODIFY |
                              IN_ATTRIB) < 0) {
        snprintf(err, errlen, "cannot watch %s: %s", dir, strerror(errno));
        dirsource_free(ds);
        return NULL;
    }
    ds->settle = evloop_timer_new(loop, on_settle, ds);
    if (!ds->settle || evloop_io_set(loop, ds->ifd, EV_READ, on_inotify, ds) < 0) {
        snprintf(err, errlen, "cannot register the inotify fd");
        dirsource_free(ds);
        return NULL;
    }
    if (dirsource_rescan(ds) < 0) {
        snprintf(err, errlen, "cannot read %s", dir);
        dirsource_free(ds);
        return NULL;
    }
    for (int k = 0; k < RK_COUNT; k++)
        store_mark_synced(store, (enum resource_kind)k);
    log_info("local source: following %s", dir);
    return ds;
}

void dirsource_free(struct dirsource *ds)
{
    if (!ds)
        return;
    if (ds->ifd >= 0) {
        evloop_io_del(ds->loop, ds->ifd);
        close(ds->ifd);
    }
    evloop_timer_free(ds->settle);
    for (size_t i = 0; i < ds->nfiles; i++)
        drop_file(&ds->files[i]);
    free(ds->files);

    free(ds->dir);
    free(ds);
}
