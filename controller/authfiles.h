/*
 * authfiles.h - the password files of basic authentication
 * (auth-secret), written from Secrets into the state folder for nginx's
 * auth_basic_user_file.
 *
 * One file per Secret and format: DIR/NS_NAME.file (auth-secret-type
 * auth-file: the Secret's key "auth", an htpasswd file as ingress-nginx
 * reads it) or DIR/NS_NAME.map (auth-map: one "user:hash" line per key).
 * The name is stable, so nginx.conf does not change when the Secret does:
 * a rotated Secret is written over the file (atomically, by rename) and
 * nginx workers, which open the file on each request, use it at once,
 * without a reload. Files are 0600, owned by nginx's worker user when the
 * controller runs as root (workers run as "nobody" then), else by us (the
 * pod runs everything as one user).
 *
 * Content is checked before anything is written: no NUL, CR or empty
 * user, at least one "user:hash" line; auth-map values hold no ':' (nginx
 * ends the password there), and the keys are Kubernetes Secret keys.
 */
#ifndef PORTICO_CONTROLLER_AUTHFILES_H
#define PORTICO_CONTROLLER_AUTHFILES_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/store.h"


struct authfiles;

/* dir is created (0711) when missing. */
struct authfiles *authfiles_new(const struct store *store, const char *dir,
                                char *err, size_t errlen);
void authfiles_free(struct authfiles *a);

/* model_auth callback (ctx is the authfiles): writes the file of Secret
 * ns/name (map: auth-map, else auth-file) when its content changed, and
 * gives its path. 0, or -1 with a reason. */
int authfiles_htpasswd(void *ctx, const char *ns, const char *name, int map,
                       char **path, char *err, size_t errlen);

/* Removes the files no served Ingress of m uses. */
void authfiles_gc(struct authfiles *a, const struct model *m);

#endif
