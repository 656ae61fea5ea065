/* core/cli.c — see cli.h. */
#include "core/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    va_end(ap);
    return 2;
}

int cli_getopt_error(const char *prog, int c, char *const *argv, int optind) {
    return c == ':' ? cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1])
                    : cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
}

int cli_long(const char *prog, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return cli_usage_error(prog, "%s %s: want a whole number in %ld..%ld", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_int(const char *prog, const char *flag, const char *s, int lo, int hi, int *out) {
    long v;
    if (cli_long(prog, flag, s, lo, hi, &v)) return 2;
    *out = (int)v;
    return 0;
}

int cli_double(const char *prog, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return cli_usage_error(prog, "%s %s: want a number in [%g, %g]", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_u64(const char *prog, const char *flag, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    /* strtoull accepts a sign (and wraps "-1" to 2^64-1): refuse anything but digits first */
    if (*s < '0' || *s > '9') return cli_usage_error(prog, "%s %s: want a whole number >= 0", flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return cli_usage_error(prog, "%s %s: want a whole number in 0..%llu", flag, s, ULLONG_MAX);
    *out = (uint64_t)v;
    return 0;
}

int cli_precision(const char *prog, const char *s, DType *out) {
    if (!strcmp(s, "bf16")) *out = DT_BF16;
    else if (!strcmp(s, "fp32")) *out = DT_F32;
    else return cli_usage_error(prog, "--precision %s: want bf16 or fp32", s);
    return 0;
}

DType cli_default_precision(Device dev) { return dev == DEV_CUDA ? DT_BF16 : DT_F32; }

const char *cli_precision_name(DType dt) { return dt == DT_BF16 ? "bf16" : "fp32"; }
