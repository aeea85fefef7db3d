/*
 * certs_files.c - the certificate pipeline's file and naming helpers:
 * host -> folder-safe file stem, Vault path templating, parent wildcard,
 * atomic writes, and the pipeline's flags. See certs.h.
 */
#include "certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dnsname.h"

#define WILDCARD_STEM "_wildcard_"
#define HOST_PLACEHOLDER "{host}"

int certs_file_stem(const char *host, char *out, size_t outlen)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int n;

    if (outlen < CERTS_NAME_MAX)
        return -1;
    /* A readable name only for plain, dotted, short hosts. No collisions:
     * plain names always contain a dot and never '_'; "_wildcard_" names
     * start with '_'; "h-<sha256 hex>" names contain no dot. */
    if (dnsname_valid(host, DNSNAME_WILDCARD) && strchr(host, '.') &&
        strlen(host) + sizeof(WILDCARD_STEM) < CERTS_NAME_MAX - 5) {
        if (host[0] == '*')
            n = snprintf(out, outlen, WILDCARD_STEM "%s", host + 1);
        else
            n = snprintf(out, outlen, "%s", host);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
    }
    if (EVP_Digest(host, strlen(host), md, &mdlen, EVP_sha256(), NULL) != 1)
        return -1;
    memcpy(out, "h-", 3);
    for (unsigned int i = 0; i < mdlen && 2 + i * 2 + 2 < outlen; i++)
        snprintf(out + 2 + i * 2, 3, "%02x", md[i]);
    return 0;
}

int certs_expand_path(const char *tmpl, const char *host, char *out,
                      size_t outlen)
{
    size_t used = 0, hl = strlen(host), pl = strlen(HOST_PLACEHOLDER);
    int found = 0;

    if (outlen == 0)
        return -1;
    for (const char *p = tmpl; *p;) {
        if (strncmp(p, HOST_PLACEHOLDER, pl) == 0) {
            if (used + hl >= outlen)
                return -1;
            memcpy(out + used, host, hl);
            used += hl;
            p += pl;
            found = 1;
        } else {
            if (used + 1 >= outlen)
                return -1;
            out[used++] = *p++;
        }
    }
    out[used] = '\0';
    return found ? 0 : -1;
}

int certs_parent_wildcard(const char *host, char *out, size_t outlen)
{
    const char *dot = strchr(host, '.');
    int n;

    if (host[0] == '*' || !dot || dot == host || !strchr(dot + 1, '.') ||
        dot[1] == '.' || dot[1] == '\0')
        return -1;
    n = snprintf(out, outlen, "*%s", dot);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int certs_write_atomic(const char *dir, const char *name, const char *data,
                       size_t len, unsigned mode, char *err, size_t errlen)
{
    return certs_write_atomic_owned(dir, name, data, len, mode, (uid_t)-1,
                                    err, errlen);
}

int certs_write_atomic_owned(const char *dir, const char *name,
                             const char *data, size_t len, unsigned mode,
                             uid_t uid, char *err, size_t errlen)
{
    char tmp[4096], dst[4096];
    int fd, n1, n2;
    size_t off = 0;

    n1 = snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.XXXXXX", dir, name);
    n2 = snprintf(dst, sizeof(dst), "%s/%s", dir, name);
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof(tmp) ||
        (size_t)n2 >= sizeof(dst) || strchr(name, '/')) {
        snprintf(err, errlen, "bad file name");
        return -1;
    }
    fd = mkostemp(tmp, O_CLOEXEC);     /* created 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (fchmod(fd, mode) < 0 ||
        (uid != (uid_t)-1 && fchown(fd, uid, (gid_t)-1) < 0))
        goto fail;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, dst) < 0)
        goto fail;
    if (fsync_dir(dir) < 0) {
        snprintf(err, errlen, "fsync %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
fail:
    snprintf(err, errlen, "write %s: %s", dst, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

/* ---- flags ---------------------------------------------------------------- */

void certs_config_init(struct certs_config *c)
{
    memset(c, 0, sizeof(*c));
    c->path_template = CERTS_DEFAULT_PATH_TEMPLATE;
    c->refresh_ms = CERTS_DEFAULT_REFRESH_MS;
    c->pki_mount = CERTS_DEFAULT_PKI_MOUNT;
    c->retry_min_ms = CERTS_RETRY_MIN_MS;
}

static int set_string(void *target, const struct flag *f, const char *value,
                      char *err, size_t errlen)
{
    if (!*value) {
        snprintf(err, errlen, "invalid value \"\"");
        return -1;
    }
    *FLAG_FIELD(target, f, const char *) = value;
    return 0;
}

static int set_path_template(void *target, const struct flag *f,
                             const char *value, char *err, size_t errlen)
{
    if (*value && !strstr(value, HOST_PLACEHOLDER)) {
        snprintf(err, errlen, "must contain {host}");
        return -1;
    }
    return set_string(target, f, value, err, errlen);
}

#define CC(field) offsetof(struct certs_config, field)

static const struct flag certs_flags[] = {
    {"vault-cert-dir", required_argument, "DIR", set_string, CC(dir),
     "folder for the fetched pairs (mode 0600 files)"},
    {"vault-cert-path", required_argument, "TMPL", set_path_template,
     CC(path_template),
     "Vault KV path per host\n(default " CERTS_DEFAULT_PATH_TEMPLATE ")"},
    {"vault-refresh", required_argument, "DUR", flag_set_positive_duration_ms,
     CC(refresh_ms),
     "re-read every certificate this often\n(default 5m)"},
    {"vault-retry-min", required_argument, "DUR", flag_set_positive_duration_ms,
     CC(retry_min_ms),
     "first retry after a failed fetch, doubling\n"
     "up to the refresh (default 1s)"},
    {"vault-pki-role", required_argument, "ROLE", set_string, CC(pki_role),
     "issue certificates for hosts without one\nfrom PKI"},
    {"vault-pki-mount", required_argument, "MOUNT", set_string,
     CC(pki_mount),
     "PKI secrets engine mount (default " CERTS_DEFAULT_PKI_MOUNT ")"},
    {"vault-pki-ttl", required_argument, "TTL", set_string, CC(pki_ttl),
     "TTL asked for issued certificates\n(default: the role's)"},
};

struct flag_table certs_config_flags(struct certs_config *c)
{
    return (struct flag_table){certs_flags,
                               sizeof(certs_flags) / sizeof(certs_flags[0]), c};
}

void certs_config_usage(FILE *out)
{
    flags_usage(out, certs_flags, sizeof(certs_flags) / sizeof(certs_flags[0]));
}
