/*
 * selfsigned.h - the default server's certificate: a fresh self-signed
 * EC P-256 pair made at start (OpenSSL), so unknown hosts on the HTTPS
 * port get a TLS handshake and a 404 rather than a connection error.
 */
#ifndef PORTICO_CONTROLLER_SELFSIGNED_H
#define PORTICO_CONTROLLER_SELFSIGNED_H

#include <stddef.h>

#define SELFSIGNED_DAYS 3650

/* Writes crt_path and key_path (0600). 0, or -1 with a message. */
int selfsigned_write(const char *crt_path, const char *key_path,
                     const char *common_name, char *err, size_t errlen);

#endif
