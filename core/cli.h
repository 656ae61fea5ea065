/* core/cli.h — the command-line helpers every entry point (ldm-train, ldm-sample, ldm-data,
 * ldm-bench, ldm-eval) shares, so a bad flag reads the same everywhere:
 *
 *   ldm-train: --batch 0: want a whole number in 1..4096
 *   Try 'ldm-train --help'.
 *
 * and the program exits with status 2 (usage error). Numbers are parsed whole: an empty
 * string, trailing characters, an out-of-range value or an overflow (errno) is refused,
 * and the message names the flag and the accepted range. */
#ifndef LDM_CORE_CLI_H
#define LDM_CORE_CLI_H

#include <stdint.h>

#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"

/* Print "<prog>: <formatted message>" and the --help hint to stderr; returns 2 (the usage
 * exit status), so an argument parser can write `return cli_usage_error(...)`. */
int cli_usage_error(const char *prog, const char *fmt, ...) LDM_PRINTF(2, 3);

/* getopt_long's answer c was '?' (an unknown option) or ':' (a value missing; the option string
 * must start with ':'): prints the usage error naming argv[optind - 1] and returns 2. */
int cli_getopt_error(const char *prog, int c, char *const *argv, int optind);

/* *out = the decimal integer s in [lo, hi]; else prints the usage error and returns 2. */
int cli_long(const char *prog, const char *flag, const char *s, long lo, long hi, long *out);
/* The same into an int (lo and hi must fit an int). */
int cli_int(const char *prog, const char *flag, const char *s, int lo, int hi, int *out);
/* *out = the finite number s in [lo, hi]; else prints the usage error and returns 2. */
int cli_double(const char *prog, const char *flag, const char *s, double lo, double hi, double *out);
/* *out = a seed: a whole number in 0..2^64-1 (no sign); else prints the usage error and returns 2. */
int cli_u64(const char *prog, const char *flag, const char *s, uint64_t *out);

/* --precision: *out = DT_BF16 for "bf16", DT_F32 for "fp32"; else prints the usage error and
 * returns 2. */
int cli_precision(const char *prog, const char *s, DType *out);
/* The default precision on a device: bf16 activations on a GPU (the tensor cores), fp32 on
 * the CPU (no bf16 arithmetic there: the bf16 path is the reference, slower than fp32). */
DType cli_default_precision(Device dev);
/* "bf16" or "fp32", as --precision spells it. */
const char *cli_precision_name(DType dt);

#endif
