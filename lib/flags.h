/*
 * flags.h - command-line flags from tables, the same way in every program:
 * one row per flag (name, value, setter, field, help), parsed with
 * getopt_long and printed by --help.
 *
 * Contract:
 * - A program hands flags_parse() one or more tables; each table sets the
 *   fields of one target struct (the controller's options, a vault_config,
 *   a certs_config). A flag name appears in one table only.
 * - Values: required_argument rows take "--name=value" or "--name value";
 *   optional_argument rows take "--name" or "--name=value" (never a
 *   separate value; booleans); no_argument rows take "--name".
 * - Names are matched in full: getopt_long's abbreviations are refused, so
 *   that adding a flag never changes what an existing command line means.
 * - Setters check the value and write the field; on a bad value they
 *   return -1 with a message, which flags_parse prefixes with "--name: ".
 * - Arguments that are not flags (operands) are moved to the end of argv,
 *   in their order, from *first_operand on. "--" ends the flags.
 * - Nothing is printed: errors come back in err.
 */
#ifndef PORTICO_FLAGS_H
#define PORTICO_FLAGS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

struct flag;

/* Checks value (NULL for "--name" alone) and writes the flag's field of
 * target. 0, or -1 with a message in err (without the flag's name). */
typedef int flag_setter(void *target, const struct flag *f, const char *value,
                        char *err, size_t errlen);

struct flag {
    const char *name;           /* without the leading "--"; NULL: a
                                   section heading (help only) */
    int has_arg;                /* required_argument, optional_argument or
                                   no_argument (getopt.h) */
    const char *arg;            /* the value's name in --help ("N", "PATH") */
    flag_setter *set;
    size_t off;                 /* offsetof() the field set in target */
    const char *help;           /* "\n" starts an indented line */
};

/* A section heading in a table (help only). */
#define FLAG_SECTION(title) {NULL, no_argument, NULL, NULL, 0, (title)}

/* The field a row sets: *FLAG_FIELD(target, f, int) = 1. */
#define FLAG_FIELD(target, f, type) ((type *)((char *)(target) + (f)->off))

struct flag_table {
    const struct flag *flags;
    size_t nflags;
    void *target;               /* what the setters write into */
};

enum { FLAGS_OK = 0, FLAGS_HELP = 1 };

/* Parses argv[1..argc). Returns FLAGS_OK, FLAGS_HELP when --help or -h was
 * given (nothing after it is parsed), or -1 with a message in err (an
 * unknown flag, a missing or bad value). *first_operand: the index in argv
 * of the first operand (argc when there is none). */
int flags_parse(const struct flag_table *tables, size_t ntables, int argc,
                char **argv, int *first_operand, char *err, size_t errlen);

/* flags_parse for a program's main(): on --help or -h, usage(stdout) and
 * exit(0); on an error, "program: message" on stderr. Returns the index
 * of the first operand, or -1 after an error. */
int flags_parse_main(const char *program, const struct flag_table *tables,
                     size_t ntables, int argc, char **argv,
                     void (*usage)(FILE *out));

/* Prints a table's rows for --help: "  --name=ARG" then the help, aligned. */
void flags_usage(FILE *out, const struct flag *flags, size_t nflags);

/* "500ms", "10s", "5m", "1h", or plain seconds "30" (fractions too), at
 * most a year, to milliseconds. 0, or -1 when it is none of these. */
int flag_parse_duration_ms(const char *s, long *out_ms);

#define FLAG_COUNT_MAX 1000000000L

/* A macro's value as a string, for a flag's help: FLAG_STR(DEFAULT). */
#define FLAG_STR(x) FLAG_STR_(x)
#define FLAG_STR_(x) #x

/* Setters shared by the programs. */
flag_setter flag_set_str;       /* const char *, borrowed from argv */
flag_setter flag_set_bool;      /* int: "--x", "--x=true" 1; "--x=false" 0 */
flag_setter flag_set_port;      /* int: 1-65535 */
flag_setter flag_set_count;     /* long: 0-FLAG_COUNT_MAX */
flag_setter flag_set_duration_ms;           /* long ms, >= 0 */
flag_setter flag_set_positive_duration_ms;  /* long ms, > 0 */
flag_setter flag_set_log_level;             /* enum log_level (log.h) */

#endif
