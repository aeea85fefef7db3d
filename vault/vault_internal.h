/*
 * vault_internal.h - helpers shared by the Vault client's own files (not
 * part of the public contract in vault.h).
 */
#ifndef PORTICO_VAULT_INTERNAL_H
#define PORTICO_VAULT_INTERNAL_H

#include "vault.h"

struct json_object;

/* Fills err (if not NULL) with code, status and a formatted one-line
 * message; always returns -1 so callers can `return vault_fail(...)`. */
int vault_fail(struct vault_error *err, enum vault_err code, int status,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Parses exactly one JSON value from body (only whitespace may follow);
 * NULL if it is not JSON. Depth-limited. */
struct json_object *vault_json_parse(const char *body, size_t len);

#endif
