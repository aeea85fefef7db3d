/*
 * clientcert.h - ingress-nginx's client certificate annotations
 * (auth-tls-*) as the words of a host's line in the certificate table
 * (docs/certificates.md, "Client certificates"): nginx's SSL module of
 * Portico applies them per handshake and per request, so a new CA or a
 * new setting is a table swap, never a reload.
 *
 * - auth-tls-secret (NAME or NAMESPACE/NAME, the Ingress's namespace
 *   only): its "ca.crt" (PEM certificates) and optional "ca.crl" (PEM
 *   CRLs, each signed by a certificate of ca.crt) become one
 *   content-addressed file DIR/ca-<sha256 prefix>.ca (tlsfiles.h); a
 *   Secret that is missing or does not parse refuses the Ingress.
 * - auth-tls-verify-client (on, the default; off, optional,
 *   optional_no_ca), auth-tls-verify-depth (default 1; 0 is 1, as in
 *   ingress-nginx), auth-tls-match-cn (a regex over the subject DN),
 *   auth-tls-error-page (495/496 become a 302 to it),
 *   auth-tls-pass-certificate-to-upstream (the certificate, URL-encoded
 *   PEM, in the ssl-client-cert header): the words verify=, depth=, cn=,
 *   error-page=, pass-cert=on.
 * - Any of them without auth-tls-secret refuses the Ingress (ingress-nginx
 *   would serve it without client certificates).
 *
 * The words belong to the host: every Ingress serving the host is
 * verified with them (nginx's ssl_verify_client is a server setting in
 * ingress-nginx too). Two Ingresses that ask for different settings on
 * one host: the newer one is refused (model.c).
 */
#ifndef PORTICO_CONTROLLER_CLIENTCERT_H
#define PORTICO_CONTROLLER_CLIENTCERT_H

#include <stddef.h>

#include "controller/model.h"

/* The words of a host whose client certificates cannot be checked (an
 * Ingress asked for them and was refused): every request is a 403. */
#define CLIENTCERT_DENY "verify=deny"

/* Sets mi->client (the words) and mi->ca_file from mi's validated
 * annotations, writing the CA file through tls->ca; both stay NULL when
 * the Ingress asks for no client certificates. 0, or -1 with the reason
 * (the Ingress is refused). */
int clientcert_resolve(struct model_ingress *mi, const struct model_tls *tls,
                       char *err, size_t errlen);

/* 1 if mi carries any auth-tls-* annotation, applied or refusing. */
int clientcert_asked(const struct model_ingress *mi);

#endif
