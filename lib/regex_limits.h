/*
 * regex_limits.h - what one match of a route table regex may cost (PCRE2).
 *
 * The nginx module matches every regex rule, rewrite and canary header
 * pattern with these limits (a match over them is "no match", never a
 * stalled worker); the controller compiles the same patterns with the same
 * flags and refuses an Ingress whose pattern goes over them on its probe
 * URIs. Constants only: included by the module and the controller.
 */
#ifndef PORTICO_LIB_REGEX_LIMITS_H
#define PORTICO_LIB_REGEX_LIMITS_H

#define PORTICO_REGEX_MATCH_LIMIT   100000  /* pcre2_set_match_limit() */
#define PORTICO_REGEX_DEPTH_LIMIT   10000   /* pcre2_set_depth_limit() */
#define PORTICO_REGEX_HEAP_LIMIT    1024    /* KiB, pcre2_set_heap_limit(),
                                               and the JIT stack's most */
#define PORTICO_REGEX_JIT_STACK_START  (32 * 1024)  /* bytes, its first */
#define PORTICO_REGEX_CAPTURES      10      /* $0 .. $9 */
#define PORTICO_REGEX_PATTERN_MAX   1024    /* bytes, a route path */

#endif
