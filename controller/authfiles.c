/* authfiles.c - basic authentication password files from Secrets (see
 * authfiles.h). */
#include "controller/authfiles.h"
#include "controller/nginx.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "controller/base64.h"
#include "controller/object.h"
#include "vault/certs.h"

#define FILE_MODE      0600
#define DIR_MODE       0711     /* workers pass through, never list */
#define PATH_LEN       4096
#define FILE_MAX       (1 << 20)
#define SUFFIX_FILE    ".file"
#define SUFFIX_MAP     ".map"
#define SECRET_KEY     "auth"   /* auth-file: the key ingress-nginx reads */

struct authfiles {
    const struct store *store;
    char *dir;
    uid_t owner;                /* (uid_t)-1: ours */
};

struct authfiles *authfiles_new(const struct store *store, const char *dir,
                                char *err, size_t errlen)
{
    struct authfiles *a = calloc(1, sizeof(*a));

    if (!a || !(a->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        authfiles_free(a);
        return NULL;
    }
    if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        authfiles_free(a);
        return NULL;
    }
    a->store = store;
    a->owner = (uid_t)-1;
    if (geteuid() == 0) {
        /* nginx started by root runs its workers as its default user;
         * they open the file on every request. */
        gid_t group;
        if (nginx_worker_user(&a->owner, &group) < 0) {
            snprintf(err, errlen, "user %s (nginx's workers) not found",
                     NGINX_WORKER_USER);
            authfiles_free(a);
            return NULL;
        }
        chmod(dir, DIR_MODE);
    }
    return a;
}

void authfiles_free(struct authfiles *a)
{
    if (!a)
        return;
    free(a->dir);
    free(a);
}

/* An htpasswd file nginx reads as we mean it: lines "user:hash" (CR LF
 * line ends allowed), no NUL, at least one user. */
static int check_htpasswd(const char *s, size_t len, char *err,
                          size_t errlen)
{
    size_t users = 0;

    if (memchr(s, '\0', len)) {
        snprintf(err, errlen, "contains a NUL byte");
        return -1;
    }
    for (size_t i = 0; i < len;) {
        size_t end = i, colon;
        while (end < len && s[end] != '\n')
            end++;
        if (end > i && s[end - 1] == '\r')
            end--;
        if (memchr(s + i, '\r', end - i)) {
            snprintf(err, errlen, "line %zu holds a carriage return",
                     users + 1);
            return -1;
        }
        if (end > i && s[i] != '#') {
            const char *c = memchr(s + i, ':', end - i);
            colon = c ? (size_t)(c - s) : end;
            if (colon == i || colon == end || colon + 1 == end) {
                snprintf(err, errlen, "a line is not user:hash");
                return -1;
            }
            users++;
        }
        i = end;
        while (i < len && (s[i] == '\r' || s[i] == '\n'))
            i++;
    }
    if (!users) {
        snprintf(err, errlen, "no user in it");
        return -1;
    }
    return 0;
}

static int secret_key_ok(const char *k)
{
    size_t n = strlen(k);

    return n > 0 && n <= 253 &&
           strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-._") == n;
}

/* The file's content from the Secret, checked; NULL with a reason. */
static char *content_of(struct json_object *secret, int map, size_t *len,
                        char *err, size_t errlen)
{
    struct json_object *data = k8s_get(secret, "data"), *v;
    struct buf b;

    if (!data || !json_object_is_type(data, json_type_object)) {
        snprintf(err, errlen, "has no data");
        return NULL;
    }
    buf_init(&b);
    if (!map) {
        size_t n = 0;
        char *raw;
        if (!json_object_object_get_ex(data, SECRET_KEY, &v) ||
            !json_object_is_type(v, json_type_string)) {
            snprintf(err, errlen, "has no key \"" SECRET_KEY "\" (an "
                     "htpasswd file; auth-secret-type auth-map takes one "
                     "key per user)");
            return NULL;
        }
        raw = base64_decode(json_object_get_string(v),
                            (size_t)json_object_get_string_len(v),
                            BASE64_STRICT, &n);
        if (!raw) {
            snprintf(err, errlen, "key \"" SECRET_KEY "\" is not base64");
            return NULL;
        }
        if (check_htpasswd(raw, n, err, errlen) < 0) {
            char sub[128];
            snprintf(sub, sizeof(sub), "%.120s", err);
            snprintf(err, errlen, "key \"" SECRET_KEY "\": %s", sub);
            OPENSSL_cleanse(raw, n);
            free(raw);
            return NULL;
        }
        buf_append(&b, raw, n);
        if (n && raw[n - 1] != '\n')
            buf_puts(&b, "\n");
        OPENSSL_cleanse(raw, n);
        free(raw);
    } else {
        json_object_object_foreach(data, user, val) {
            size_t n = 0;
            char *hash;
            if (!secret_key_ok(user) ||
                !json_object_is_type(val, json_type_string)) {
                snprintf(err, errlen, "bad key");
                buf_free(&b);
                return NULL;
            }
            hash = base64_decode(json_object_get_string(val),
                                 (size_t)json_object_get_string_len(val),
                                 BASE64_STRICT, &n);
            if (!hash || n == 0 || strcspn(hash, ":\r\n") != n) {
                snprintf(err, errlen, "the value of user %s is not one "
                         "line without ':'", user);
                if (hash)
                    OPENSSL_cleanse(hash, n);
                free(hash);
                buf_free(&b);
                return NULL;
            }
            buf_printf(&b, "%s:%s\n", user, hash);
            OPENSSL_cleanse(hash, n);
            free(hash);
        }
        if (!b.len) {
            snprintf(err, errlen, "has no user");
            return NULL;
        }
    }
    if (buf_failed(&b)) {
        snprintf(err, errlen, "out of memory");
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, len);
}

/* 1 when path holds exactly data, with our mode and owner. */
static int unchanged(const struct authfiles *a, const char *path,
                     const char *data, size_t len)
{
    struct stat st;
    size_t n = 0;
    char *old;
    int same;

    if (stat(path, &st) < 0 || (st.st_mode & 07777) != FILE_MODE ||
        (a->owner != (uid_t)-1 && st.st_uid != a->owner) ||
        (size_t)st.st_size != len)
        return 0;
    if (!(old = file_read(path, FILE_MAX, &n)))
        return 0;
    same = n == len && memcmp(old, data, len) == 0;
    OPENSSL_cleanse(old, n);
    free(old);
    return same;
}

int authfiles_htpasswd(void *ctx, const char *ns, const char *name, int map,
                       char **path, char *err, size_t errlen)
{
    struct authfiles *a = ctx;
    struct json_object *secret = store_get_secret(a->store, ns, name);
    char file[PATH_LEN / 2], full[PATH_LEN], why[256];
    char *data;
    size_t len = 0;

    if (!secret) {
        snprintf(err, errlen, "auth-secret: Secret %s/%s not found", ns,
                 name);
        return -1;
    }
    data = content_of(secret, map, &len, why, sizeof(why));
    json_object_put(secret);
    if (!data) {
        snprintf(err, errlen, "auth-secret: Secret %s/%s %s", ns, name, why);
        return -1;
    }
    /* ns is a DNS label (no '_'), name a subdomain: NS_NAME is unique. */
    snprintf(file, sizeof(file), "%s_%s%s", ns, name,
             map ? SUFFIX_MAP : SUFFIX_FILE);
    snprintf(full, sizeof(full), "%s/%s", a->dir, file);
    if (!unchanged(a, full, data, len) &&
        certs_write_atomic_owned(a->dir, file, data, len, FILE_MODE,
                                 a->owner, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "auth-secret: %s", why);
        OPENSSL_cleanse(data, len);
        free(data);
        return -1;
    }
    OPENSSL_cleanse(data, len);
    free(data);
    if (!(*path = strdup(full))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void authfiles_gc(struct authfiles *a, const struct model *m)
{
    DIR *d = opendir(a->dir);
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d))) {
        char path[PATH_LEN];
        int used = 0;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", a->dir, de->d_name);
        for (size_t i = 0; i < m->ning && !used; i++)
            used = m->ings[i].state == ING_SERVED && m->ings[i].auth_file &&
                   strcmp(m->ings[i].auth_file, path) == 0;
        if (!used && unlink(path) == 0)
            log_debug("auth: removed unused %s", path);
    }
    closedir(d);
}
