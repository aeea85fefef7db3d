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
#define DIRSOURCE_NAMED_MIN  4096   /* names kept for a pass, at least (more
                                       than twice the folder: a rescan) */
#define DIRSOURCE_REWATCH_MS 1000   /* a lost folder: watched again */

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
    unsigned char link;         /* a symbolic link (ConfigMap mounts): its
                                   target can change with no event naming
                                   it, so every pass looks at it again */
};

struct dirsource {
    struct evloop *loop;
    struct store *store;
    char *dir;
    int ifd;
    int wd;                     /* the folder's watch; -1 when lost */
    struct ev_timer *settle;
    struct file_entry *files;   /* [0, nsorted) sorted by name: found by
                                   binary search (no index to keep); files
                                   new in a rescan follow, sorted at its
                                   end (outside a rescan nsorted == nfiles) */
    size_t nfiles, capfiles, nsorted;
    char **named;               /* files inotify named since the last pass */
    size_t nnamed, capnamed;
    const char *rescan_why;     /* inotify could not tell what changed:
                                   the next pass rescans (NULL: it need not) */
    size_t looked, read;        /* files stat'ed and parsed by this pass */
};

/* One object a pass took from a file, removed from the store at the end
 * of the pass unless another file still holds it. */
struct dropped {
    enum resource_kind kind;
    int held;                   /* another file holds it: kept */
    char *key;
};

struct drops {
    struct dropped *v;
    size_t n, cap;
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

/* A new entry at its place in the sorted array (outside a rescan). */
static struct file_entry *insert_file(struct dirsource *ds, const char *name)
{
    size_t lo = 0, hi = ds->nsorted;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ds->files[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!add_file(ds, name))
        return NULL;
    struct file_entry f = ds->files[ds->nfiles - 1];
    memmove(&ds->files[lo + 1], &ds->files[lo],
            (ds->nfiles - 1 - lo) * sizeof(*ds->files));
    ds->files[lo] = f;
    ds->nsorted = ds->nfiles;
    return &ds->files[lo];
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

/* Notes an object that f's new version no longer holds (drops: NULL in a
 * rescan, whose sweep removes what no file touched). */
static void drop_later(struct drops *drops, enum resource_kind k,
                       const char *key)
{
    if (!drops)
        return;
    if (drops->n == drops->cap) {
        size_t cap = drops->cap ? drops->cap * 2 : 8;
        struct dropped *v = realloc(drops->v, cap * sizeof(*v));
        if (!v)
            return;
        drops->v = v;
        drops->cap = cap;
    }
    if ((drops->v[drops->n].key = strdup(key))) {
        drops->v[drops->n].kind = k;
        drops->v[drops->n++].held = 0;
    }
}

/* The objects of old that are not in f now go to drops. */
static void drop_missing(struct drops *drops, const struct file_objs *old,
                         const struct file_objs *now)
{
    for (size_t i = 0; old && i < old->n; i++) {
        size_t j = 0;
        while (now && j < now->n &&
               (now->v[j].kind != old->v[i].kind ||
                strcmp(now->v[j].key, old->v[i].key) != 0))
            j++;
        if (!now || j == now->n)
            drop_later(drops, old->v[i].kind, old->v[i].key);
    }
}

/* Reads one version of f (st: its stat) into the store. */
static void read_file(struct dirsource *ds, struct file_entry *f,
                      const char *path, const struct stat *st, int is_json,
                      struct drops *drops)
{
    char err[256], key[512];
    struct json_object *docs;
    size_t len, n;
    char *data;

    ds->read++;
    data = read_manifest(path, st, &len, err, sizeof(err));
    docs = data ? manifest_parse(data, len, is_json, err, sizeof(err)) : NULL;
    free(data);
    if (!docs) {
        /* Once per version of the file, not at every rescan. */
        log_warn("local source: %s: %s (keeping its previous objects)", path,
                 err);
        f->st = version_of(st);
        f->bad = 1;
        touch_file(ds, f);
        malloc_trim(0);
        return;
    }
    f->bad = 0;
    struct file_entry old = *f;     /* its keys, for refused objects */
    f->objs = NULL;
    f->st = version_of(st);
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
    drop_missing(drops, old.objs, f->objs);
    forget_keys(&old);
    json_object_put(docs);
    if (len > DIRSOURCE_TRIM_BYTES)
        malloc_trim(0);         /* a big file: give its memory back */
}

/* One file of a rescan (d_type: from readdir). */
static void load_file(struct dirsource *ds, const char *name,
                      unsigned char d_type, int is_json)
{
    char path[4096];
    struct file_entry *f = find_file(ds, name);
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", ds->dir, name);
    if (!f && !(f = add_file(ds, name)))
        return;
    f->seen = 1;
    ds->looked++;
    if (d_type == DT_UNKNOWN) {
        struct stat lst;
        f->link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    } else {
        f->link = d_type == DT_LNK;
    }
    if (stat(path, &st) < 0) {
        touch_file(ds, f);
        return;
    }
    if ((f->loaded || f->bad) && same_file(&f->st, &st)) {
        touch_file(ds, f);      /* unchanged: its objects are in the store */
        return;
    }
    read_file(ds, f, path, &st, is_json, NULL);
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
            load_file(ds, de->d_name, de->d_type, is_json);
    }
    closedir(d);
    /* Forget files that are gone (their objects are swept below). */
    settle_files(ds);
    for (int k = 0; k < RK_COUNT; k++)
        store_sweep_end(ds->store, (enum resource_kind)k);
    return 0;
}

/* ---- reading what inotify named ------------------------------------------ */

/* A file that is gone: its objects go to drops, its entry is forgotten. */
static void forget_file(struct dirsource *ds, struct file_entry *f,
                        struct drops *drops)
{
    size_t at = (size_t)(f - ds->files);

    drop_missing(drops, f->objs, NULL);
    drop_file(f);
    memmove(f, f + 1, (ds->nfiles - at - 1) * sizeof(*f));
    ds->nfiles--;
    ds->nsorted = ds->nfiles;
}

/* One file named by inotify (or a link looked at again): read when it is
 * new or changed, forgotten when it is gone. */
static void reread_file(struct dirsource *ds, const char *name,
                        struct drops *drops)
{
    char path[4096];
    struct file_entry *f = find_file(ds, name);
    struct stat st, lst;
    int is_json;

    if (!wanted_name(name, &is_json))
        return;
    snprintf(path, sizeof(path), "%s/%s", ds->dir, name);
    ds->looked++;
    if (lstat(path, &lst) < 0) {
        if (f && (errno == ENOENT || errno == ENOTDIR))
            forget_file(ds, f, drops);
        return;         /* another error: keep what it had, as a rescan */
    }
    st = lst;
    if (S_ISLNK(lst.st_mode) && stat(path, &st) < 0)
        return;         /* a dangling link keeps what it had, as a rescan */
    if (!f && !(f = insert_file(ds, name)))
        return;
    f->link = S_ISLNK(lst.st_mode);
    if ((f->loaded || f->bad) && same_file(&f->st, &st))
        return;
    read_file(ds, f, path, &st, is_json, drops);
}

static int cmp_dropped(const void *a, const void *b)
{
    const struct dropped *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Removes the dropped objects no file holds any more (a name can be in
 * two files, as a rescan allows): one pass over every file's keys, and
 * only when something was dropped. */
static void remove_dropped(struct dirsource *ds, struct drops *drops)
{
    char ns[512];

    if (drops->n == 0) {
        free(drops->v);
        return;
    }
    qsort(drops->v, drops->n, sizeof(*drops->v), cmp_dropped);
    for (size_t i = 0; i < ds->nfiles; i++) {
        const struct file_objs *o = ds->files[i].objs;
        for (size_t j = 0; o && j < o->n; j++) {
            struct dropped key = {o->v[j].kind, 0, (char *)o->v[j].key};
            struct dropped *d = bsearch(&key, drops->v, drops->n,
                                        sizeof(*drops->v), cmp_dropped);
            if (d)
                d->held = 1;    /* bsearch finds one of equal keys: */
            while (d && d > drops->v && cmp_dropped(d - 1, d) == 0)
                (--d)->held = 1;    /* every copy is held */
            while (d && d + 1 < drops->v + drops->n &&
                   cmp_dropped(d, d + 1) == 0)
                (++d)->held = 1;
        }
    }
    for (size_t i = 0; i < drops->n; i++) {
        char *key = drops->v[i].key, *slash;
        if (drops->v[i].held) {
            free(key);
            continue;
        }
        slash = drops->v[i].kind == RK_INGRESS_CLASS ? NULL
                                                     : strchr(key, '/');
        if (slash && (size_t)(slash - key) < sizeof(ns)) {
            memcpy(ns, key, (size_t)(slash - key));
            ns[slash - key] = '\0';
            store_remove(ds->store, drops->v[i].kind, ns, slash + 1);
        } else {
            store_remove(ds->store, drops->v[i].kind, NULL, key);
        }
        free(key);
    }
    free(drops->v);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the files inotify named, and looks at every link again. */
static void read_named(struct dirsource *ds)
{
    struct drops drops = {0};
    char **names = ds->named;
    size_t n = ds->nnamed;

    ds->named = NULL;
    ds->nnamed = ds->capnamed = 0;
    qsort(names, n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i - 1], names[i]) != 0)
            reread_file(ds, names[i], &drops);
    for (size_t i = 0; i < ds->nfiles; i++) {
        if (!ds->files[i].link ||
            bsearch(&ds->files[i].name, names, n, sizeof(*names), cmp_name))
            continue;
        char *name = strdup(ds->files[i].name);
        size_t before = ds->nfiles;
        if (!name)
            break;
        reread_file(ds, name, &drops);
        free(name);
        if (ds->nfiles < before)
            i--;                /* forgotten: the next one moved here */
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    remove_dropped(ds, &drops);
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

/* (Re)adds the folder's watch; 0, or -1 with errno. */
static int watch_folder(struct dirsource *ds)
{
    ds->wd = inotify_add_watch(ds->ifd, ds->dir,
                               IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
                                   IN_DELETE | IN_CREATE | IN_ATTRIB |
                                   IN_DELETE_SELF | IN_MOVE_SELF);
    return ds->wd < 0 ? -1 : 0;
}

static void on_settle(struct evloop *loop, struct ev_timer *t, void *arg)
{
    struct dirsource *ds = arg;
    uint64_t started = evloop_clock_ms();
    const char *why = ds->rescan_why;
    size_t named = ds->nnamed;

    if (ds->wd < 0 && watch_folder(ds) < 0) {
        log_warn("local source: cannot watch %s again: %s (retrying)",
                 ds->dir, strerror(errno));
        evloop_timer_start(ds->settle, DIRSOURCE_REWATCH_MS);
        return;
    }
    ds->looked = ds->read = 0;
    if (why) {
        ds->rescan_why = NULL;
        for (size_t i = 0; i < ds->nnamed; i++)
            free(ds->named[i]);
        ds->nnamed = 0;     /* the rescan reads them */
        dirsource_rescan(ds);
        log_debug("local source: rescan (%s): %zu looked at, %zu read, of "
                  "%zu in %llu ms", why, ds->looked, ds->read, ds->nfiles,
                  (unsigned long long)(evloop_clock_ms() - started));
        return;
    }
    read_named(ds);
    log_debug("local source: %zu files named by inotify: %zu looked at, %zu "
              "read, of %zu in %llu ms", named, ds->looked, ds->read,
              ds->nfiles, (unsigned long long)(evloop_clock_ms() - started));
}

/* Remembers a file inotify named, for the next pass. Past a bound (a
 * burst larger than the folder) the pass rescans instead. */
static void note_name(struct dirsource *ds, const char *name)
{
    if (ds->rescan_why)
        return;
    if (ds->nnamed == ds->capnamed) {
        size_t cap = ds->capnamed ? ds->capnamed * 2 : 16;
        char **v = cap > DIRSOURCE_NAMED_MIN && cap > 2 * ds->nfiles
                       ? NULL
                       : realloc(ds->named, cap * sizeof(*v));
        if (!v) {
            ds->rescan_why = "too many files named";
            return;
        }
        ds->named = v;
        ds->capnamed = cap;
    }
    if (!(ds->named[ds->nnamed] = strdup(name)))
        ds->rescan_why = "out of memory";
    else
        ds->nnamed++;
}

static void on_inotify(struct evloop *loop, int fd, unsigned events, void *arg)
{
    struct dirsource *ds = arg;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const void *)p;
            int is_json;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                log_info("local source: the inotify queue overflowed: "
                         "rescanning %s", ds->dir);
                ds->rescan_why = "inotify queue overflow";
            }
            if (ev->wd == ds->wd &&
                (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))) {
                if (ds->wd >= 0 && !(ev->mask & IN_IGNORED))
                    inotify_rm_watch(fd, ds->wd);   /* moved: by path */
                ds->wd = -1;
                ds->rescan_why = "the folder's watch was lost";
            }
            if (ev->len && !(ev->mask & IN_ISDIR) &&
                wanted_name(ev->name, &is_json))
                note_name(ds, ev->name);
        }
    }
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
    ds->wd = -1;
    ds->dir = strdup(dir);
    ds->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (!ds->dir || ds->ifd < 0 || watch_folder(ds) < 0) {
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
    for (size_t i = 0; i < ds->nnamed; i++)
        free(ds->named[i]);
    free(ds->named);
    free(ds->dir);
    free(ds);
}
