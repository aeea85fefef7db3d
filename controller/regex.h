/*
 * regex.h - the regular expressions an Ingress hands to the route table,
 * checked before nginx sees them.
 *
 * The module compiles a route path P of a regex rule (use-regex,
 * rewrite-target) as "^P", caseless, with nginx's PCRE2 compile, and a
 * canary-by-header-pattern as it is, case-sensitive (ngx.re.match's
 * default in ingress-nginx); it matches both under the limits of
 * lib/regex_limits.h, so a pattern that backtracks past them matches
 * nothing. regex_check() compiles the pattern with the same library and
 * flags (a pattern PCRE2 refuses refuses the Ingress with PCRE2's reason)
 * and matches it under the same limits against probe URIs up to
 * REGEX_PROBE_MAX bytes built from the pattern's own characters (its
 * literal text followed by long runs of one character, with and without a
 * character that makes the match fail at the end): a pattern that goes
 * past a limit on one of them is refused as too costly. At 256 bytes an
 * exponential pattern ((a+)+$, (a|aa)+$, (\w+\s?)+$, ([a-z]+)*$) is far
 * past the limit and a quadratic one ((.*)/(.*)/x) well under it: a long
 * URI may still take a polynomial pattern past the limit in the module
 * (no match, logged). The probes are not a proof, which is why the
 * module keeps its limits.
 */
#ifndef PORTICO_CONTROLLER_REGEX_H
#define PORTICO_CONTROLLER_REGEX_H

#include <stddef.h>

#define REGEX_PROBE_MAX  256    /* bytes of the longest probe URI */

enum regex_kind {
    REGEX_ROUTE,    /* "^P" caseless (and P alone when P has a "|") */
    REGEX_HEADER,   /* P as it is, case-sensitive */
};

/* The patterns that passed, so that a model rebuilt for every change
 * checks each pattern once (a check costs up to a few milliseconds). At
 * most REGEX_MEMO_MAX of them; then it starts again. */
#define REGEX_MEMO_MAX  16384

struct regex_memo;

struct regex_memo *regex_memo_new(void);
void regex_memo_free(struct regex_memo *memo);

/* 0, or -1 with a one-line reason in err. memo may be NULL. */
int regex_check(const char *pattern, size_t len, enum regex_kind kind,
                struct regex_memo *memo, char *err, size_t errlen);

#endif
