/*
 * certtable.h - the model to the certificate table that nginx workers load
 * without a reload (format and semantics: docs/certificates.md).
 *
 * One line `host H STEM [WORDS]` per host with a certificate or client
 * certificate settings, in the model's host order; STEM names the pair
 * tlsfiles.c wrote as DIR/STEM.crt and DIR/STEM.key (content-addressed, so
 * a rotated certificate is a new STEM), or is "-" (the default
 * certificate); WORDS are the host's client certificate settings
 * (clientcert.h, with a content-addressed CA file: a rotated CA is a new
 * line too).
 * Deterministic: the same model gives the same bytes. Line 2 holds the
 * version, the first 16 hex digits of a SHA-256 over every other line.
 * Every line records the Ingress that produced it (ownedtext.h), so an
 * `nginx -t` error "in FILE:LINE" in the table leaves that Ingress out.
 */
#ifndef PORTICO_CONTROLLER_CERTTABLE_H
#define PORTICO_CONTROLLER_CERTTABLE_H

#include <stddef.h>

#include "controller/model.h"
#include "controller/ownedtext.h"

#define CERTTABLE_FILE         "certificates"  /* next to nginx.conf */
#define CERTTABLE_FORMAT       1
#define CERTTABLE_VERSION_LEN  16

struct certtable_result {
    struct ownedtext t;
    char version[CERTTABLE_VERSION_LEN + 1];
    size_t nhosts;                  /* host lines */
};

/* 0, or -1 out of memory. A server whose files are not DIR/STEM.crt and
 * DIR/STEM.key is left out (logged; tlsfiles.c never makes one). */
int certtable_render(const struct model *m, struct certtable_result *out);
void certtable_result_free(struct certtable_result *r);

#endif
