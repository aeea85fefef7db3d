/*
 * dirsource.h - local mode: Ingress, Service, Secret and IngressClass
 * manifests read from a folder (*.yaml, *.yml, *.json; not recursive) and
 * followed with inotify: after the first full scan only the files inotify
 * names are read (and symbolic links looked at again: a ConfigMap volume's
 * `..data` swap names none of its files); a full rescan (which replaces
 * every kind in the store) only when inotify cannot tell (its queue
 * overflowed, the folder's watch was lost).
 * A file that fails to parse keeps the objects it had last time (a
 * half-written file never deletes routes); the error is logged once per
 * version of the file (not at every rescan). An object over the API
 * server's limits (manifest_check_limits) is refused with a reason and
 * its previous version, if any, kept; memory taken by a big file is
 * given back (malloc_trim) once it is parsed.
 */
#ifndef PORTICO_CONTROLLER_DIRSOURCE_H
#define PORTICO_CONTROLLER_DIRSOURCE_H

#include <stddef.h>

#include "evloop.h"
#include "controller/store.h"

#define DIRSOURCE_SETTLE_MS 10      /* coalesce inotify bursts (a pass
                                       reads only what they name: cheap) */
#define DIRSOURCE_FILE_MAX  (8 * 1024 * 1024)  /* refused unread above */

struct dirsource;

/* Scans once (synchronously), marks every kind synced and starts
 * following. NULL with a message if the folder cannot be watched. */
struct dirsource *dirsource_start(struct evloop *loop, struct store *store,
                                  const char *dir, char *err, size_t errlen);
void dirsource_free(struct dirsource *ds);

/* Reads one folder into the store now (also used by tests). */
int dirsource_rescan(struct dirsource *ds);

/* Reads manifests once, the same way, without following them (the lint
 * mode): path is a folder (its *.yaml, *.yml and *.json files), a file,
 * or "-" for stdin (YAML or JSON, at most DIRSOURCE_FILE_MAX bytes).
 * Each file that cannot be read or parsed is passed to on_error; the
 * others are still read. 0, or -1 when any failed. */
int dirsource_read_once(struct store *store, const char *path,
                        void (*on_error)(void *arg, const char *msg),
                        void *arg);

#endif
