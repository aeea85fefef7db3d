/* flags.c - command-line flags from tables through getopt_long; see flags.h. */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_PORT        65535
#define MS_PER_S        1000L
#define MAX_DURATION_MS (24L * 3600L * MS_PER_S * 365L)  /* a year */
#define OPTION_BASE     256     /* getopt_long's val for row k: BASE + k */
#define HELP_COLUMN     32      /* where the help text starts */
#define SHORT_OPTIONS   ":h"    /* ':' reports a missing value as ':' */
#define ERR_MAX         320     /* a message: flag name and value cut */

struct row {
    const struct flag *flag;
    void *target;
};

/* The argument getopt_long just read as a flag: argv[optind - 1], or
 * argv[optind - 2] when the value came separately. */
static const char *flag_text(char **argv)
{
    if (optarg && optarg == argv[optind - 1] && optind >= 2)
        return argv[optind - 2];
    return argv[optind - 1];
}

/* "--name" or "--name=value", not an abbreviation of name. */
static int named_in_full(const char *text, const char *name)
{
    size_t n = strlen(name);

    return strncmp(text, "--", 2) == 0 && strncmp(text + 2, name, n) == 0 &&
           (text[2 + n] == '\0' || text[2 + n] == '=');
}

int flags_parse(const struct flag_table *tables, size_t ntables, int argc,
                char **argv, int *first_operand, char *err, size_t errlen)
{
    struct option *options;
    struct row *rows;
    size_t n = 0;
    int c, rc = FLAGS_OK;

    for (size_t t = 0; t < ntables; t++)
        n += tables[t].nflags;
    options = calloc(n + 2, sizeof(*options));
    rows = calloc(n + 1, sizeof(*rows));
    if (!options || !rows) {
        free(options);
        free(rows);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n = 0;
    for (size_t t = 0; t < ntables; t++)
        for (size_t k = 0; k < tables[t].nflags; k++) {
            const struct flag *f = &tables[t].flags[k];
            if (!f->name)
                continue;
            options[n] = (struct option){f->name, f->has_arg, NULL,
                                         OPTION_BASE + (int)n};
            rows[n++] = (struct row){f, tables[t].target};
        }
    options[n] = (struct option){"help", no_argument, NULL, 'h'};

    optind = 0;                 /* 0: getopt starts afresh, at argv[1] */
    opterr = 0;
    while (rc == FLAGS_OK &&
           (c = getopt_long(argc, argv, SHORT_OPTIONS, options, NULL)) != -1) {
        const char *text = flag_text(argv);
        const struct row *r;
        char why[256];

        if (c == 'h' && (strcmp(text, "-h") == 0 ||
                         named_in_full(text, "help"))) {
            rc = FLAGS_HELP;
            break;
        }
        if (c == ':' && named_in_full(text,
                                      rows[optopt - OPTION_BASE].flag->name)) {
            snprintf(err, errlen, "--%s needs a value",
                     rows[optopt - OPTION_BASE].flag->name);
            rc = -1;
            break;
        }
        if (c < OPTION_BASE ||
            !named_in_full(text, rows[c - OPTION_BASE].flag->name)) {
            snprintf(err, errlen, "unknown flag \"%s\" (see --help)", text);
            rc = -1;
            break;
        }
        r = &rows[c - OPTION_BASE];
        why[0] = '\0';
        if (r->flag->set(r->target, r->flag, optarg, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "--%s: %s", r->flag->name, why);
            rc = -1;
        }
    }
    *first_operand = optind;
    free(options);
    free(rows);
    return rc;
}

int flags_parse_main(const char *program, const struct flag_table *tables,
                     size_t ntables, int argc, char **argv,
                     void (*usage)(FILE *out))
{
    char err[ERR_MAX];
    int first, rc = flags_parse(tables, ntables, argc, argv, &first, err,
                                sizeof(err));

    if (rc == FLAGS_HELP) {
        usage(stdout);
        exit(0);
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        return -1;
    }
    return first;
}

void flags_usage(FILE *out, const struct flag *flags, size_t nflags)
{
    for (size_t k = 0; k < nflags; k++) {
        const struct flag *f = &flags[k];
        const char *h = f->help, *nl;
        int col;

        if (!f->name) {
            fprintf(out, "%s\n", h);
            continue;
        }
        if (!f->arg)
            col = fprintf(out, "  --%s", f->name);
        else if (f->has_arg == optional_argument)
            col = fprintf(out, "  --%s[=%s]", f->name, f->arg);
        else
            col = fprintf(out, "  --%s=%s", f->name, f->arg);
        if (col >= HELP_COLUMN) {
            fputc('\n', out);
            col = 0;
        }
        for (;;) {
            nl = strchr(h, '\n');
            fprintf(out, "%*s%.*s\n", HELP_COLUMN - col, "",
                    nl ? (int)(nl - h) : (int)strlen(h), h);
            if (!nl)
                break;
            h = nl + 1;
            col = 0;
        }
    }
}

int flag_set_str(void *target, const struct flag *f, const char *value,
                 char *err, size_t errlen)
{
    *FLAG_FIELD(target, f, const char *) = value;
    return 0;
}

int flag_set_bool(void *target, const struct flag *f, const char *value,
                  char *err, size_t errlen)
{
    int *field = FLAG_FIELD(target, f, int);

    if (!value || strcmp(value, "true") == 0)
        *field = 1;
    else if (strcmp(value, "false") == 0)
        *field = 0;
    else {
        snprintf(err, errlen, "want true or false, not \"%.60s\"", value);
        return -1;
    }
    return 0;
}

int flag_set_port(void *target, const struct flag *f, const char *value,
                  char *err, size_t errlen)
{
    char *end;
    long p = strtol(value, &end, 10);

    if (!*value || *end || p < 1 || p > MAX_PORT) {
        snprintf(err, errlen, "invalid port \"%.60s\"", value);
        return -1;
    }
    *FLAG_FIELD(target, f, int) = (int)p;
    return 0;
}

int flag_set_count(void *target, const struct flag *f, const char *value,
                   char *err, size_t errlen)
{
    char *end;
    long n = strtol(value, &end, 10);

    if (!isdigit((unsigned char)*value) || *end || n > FLAG_COUNT_MAX) {
        snprintf(err, errlen, "invalid count \"%.60s\" (0-%ld)", value,
                 FLAG_COUNT_MAX);
        return -1;
    }
    *FLAG_FIELD(target, f, long) = n;
    return 0;
}

int flag_parse_duration_ms(const char *s, long *out_ms)
{
    char *end;
    double v, mult;

    if (!s || !*s || isspace((unsigned char)*s) || *s == '-')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        mult = MS_PER_S;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60.0 * MS_PER_S;
    else if (strcmp(end, "h") == 0)
        mult = 3600.0 * MS_PER_S;
    else
        return -1;
    v *= mult;
    if (v > (double)MAX_DURATION_MS)
        return -1;
    *out_ms = (long)v;
    return 0;
}

static int invalid(const char *value, char *err, size_t errlen)
{
    snprintf(err, errlen, "invalid value \"%.60s\"", value);
    return -1;
}

int flag_set_duration_ms(void *target, const struct flag *f,
                         const char *value, char *err, size_t errlen)
{
    if (flag_parse_duration_ms(value, FLAG_FIELD(target, f, long)) < 0)
        return invalid(value, err, errlen);
    return 0;
}

int flag_set_positive_duration_ms(void *target, const struct flag *f,
                                  const char *value, char *err,
                                  size_t errlen)
{
    long ms;

    if (flag_parse_duration_ms(value, &ms) < 0 || ms <= 0)
        return invalid(value, err, errlen);
    *FLAG_FIELD(target, f, long) = ms;
    return 0;
}

int flag_set_log_level(void *target, const struct flag *f, const char *value,
                       char *err, size_t errlen)
{
    if (log_level_parse(value, FLAG_FIELD(target, f, enum log_level)) < 0) {
        snprintf(err, errlen, "want debug, info, warn or error, not "
                 "\"%.60s\"", value);
        return -1;
    }
    return 0;
}
