/*
 * lint.h - `portico-controller --check PATH|-`: what Portico would do with
 * a set of manifests, before anyone switches.
 *
 * The manifests are read as --source=dir: reads them (a folder, a file, or
 * stdin; multi-document YAML, JSON, and `kind: List`, so the output of
 * `kubectl get ingress -A -o yaml` works) and go through the controller's
 * own model: every Ingress, whatever its class, is reported as served or
 * refused (with the reason), with every annotation under our prefixes and
 * what becomes of it (supported, ignored, unenforced, unknown, shadowed,
 * refused). Nothing is rendered, nginx is not run: a value the grammar
 * accepts but nginx refuses (e.g. a body size that overflows) is found
 * only by the controller's `nginx -t`.
 */
#ifndef PORTICO_CONTROLLER_LINT_H
#define PORTICO_CONTROLLER_LINT_H

#include <stdio.h>

#include "controller/model.h"

enum lint_format {
    LINT_TEXT,
    LINT_JSON,
};

/* Exit statuses of --check. */
#define LINT_ALL_SERVED   0
#define LINT_REFUSED      1     /* an Ingress would be refused */
#define LINT_INPUT_ERROR  2     /* a manifest could not be read */

struct lint_opts {
    const char *path;               /* folder, file, or "-" */
    enum lint_format format;
    struct model_opts model;        /* class names and annotation config;
                                       select_all and keep_applied are
                                       set inside */
};

/* Reads, checks and prints; returns the exit status. */
int lint_run(const struct lint_opts *o, FILE *out, FILE *errout);

/* --list-annotations: the annotation table as JSON (name, state, access,
 * snippet, renders, directive, reason, alias_of per entry). */
int lint_list_annotations(FILE *out);

#endif
