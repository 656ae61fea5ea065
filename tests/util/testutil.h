/* tests/util/testutil.h — helpers shared by the Criterion suites: random inputs from
 * a generator independent of the library's Philox, comparisons against double
 * references, and a finite-difference gradient checker driven through the tape. */
#ifndef LDM_TESTS_TESTUTIL_H
#define LDM_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "autograd/tape.h"
#include "core/tensor.h"

/* Skips the running test and says why on stderr: Criterion's own cr_skip message is
 * shown only with --verbose, so a skipped check would otherwise pass unseen. The format
 * must be a string literal. TU_SKIPPED_PART says the same for a part of a test that
 * cannot run here (the rest of the test still runs). */
#define TU_SKIP(...)                                              \
    do {                                                          \
        fprintf(stderr, "SKIPPED: " __VA_ARGS__);                 \
        fputc('\n', stderr);                                      \
        cr_skip(__VA_ARGS__);                                     \
    } while (0)
/* The build folder of the running suite binary (<build>/tests/..), where the entry points are. */
void tu_build_dir(char *dir, size_t n);

/* The whole file at path, NUL-terminated, in a malloc'd buffer (free it); NULL when it
 * cannot be read. */
char *tu_read_text(const char *path);
/* Runs "<bindir>/<prog> <args>" (args printf-formatted; two passive OpenMP threads), its
 * stdout and stderr into out (NUL-terminated, cut at n - 1 bytes); returns the exit status,
 * or 128 + the signal that ended it. A prog that is not built skips the test, saying so. */
int tu_run_cli(const char *bindir, char *out, size_t n, const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define TU_SKIPPED_PART(...)                                      \
    do {                                                          \
        fprintf(stderr, "SKIPPED (part of a test): " __VA_ARGS__); \
        fputc('\n', stderr);                                      \
    } while (0)

/* Runs fn(ctx) in a forked child to which permission bits apply: as root (which ignores
 * them) the child first drops to uid and gid 65534 (nobody). Returns fn's value (0..254),
 * or -1 when the child could not run, drop its privileges or exit normally. */
int tu_run_unprivileged(int (*fn)(void *ctx), void *ctx);

/* Uniform floats in [lo, hi) from a splitmix64 stream (independent of core/philox). */
void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);
/* Heap CPU parameter (requires_grad, zeroed grad) filled uniformly in [lo, hi). */
Tensor *tu_param(int ndim, const int *shape, uint64_t seed, float lo, float hi);
/* Heap CPU tensor, no grad, filled uniformly in [lo, hi). */
Tensor *tu_data(int ndim, const int *shape, uint64_t seed, float lo, float hi);

/* max_i |got_i - want_i| / (atol + |want_i|). <= 1 means every element is within
 * atol + |want| * 1 ... callers compare it against their relative tolerance. Also
 * returns, through *worst, the index of the worst element (may be NULL). A NaN in
 * `got` gives +inf. */
double tu_max_rel_err(const float *got, const double *want, size_t n, double atol, size_t *worst);

/* Builds the op under test from `in` on tape `t`; returns its output (or NULL). */
typedef Tensor *(*TuBuildFn)(Tape *t, Tensor **in, void *ctx);

typedef struct {
    double eps;        /* finite-difference step (default 1e-2 when 0) */
    double rtol, atol; /* pass when |analytic - numeric| <= atol * scale + rtol * |numeric|, scale =
                        * max |numeric| over the checked elements of that input (defaults 3e-3, 3e-3) */
    int max_per_input; /* elements checked per input (all when 0); chosen spread out */
} TuGradOpts;

/* Central finite differences of L = sum(out * R), R a fixed random tensor, against the
 * tape's gradient, for every input with requires_grad. Inputs must be heap CPU
 * tensors (tu_param). Both tolerances are relative: to the element's own gradient and to
 * the input's gradient scale, so that the gradients of a mean over n elements (O(1/n))
 * are held to the same relative accuracy as O(1) ones: a backward that divides by n - 1
 * instead of n is off by 1/n relative, 1% at n = 100, above the 0.6% these allow.
 * Returns the number of mismatching elements (0 = pass) and prints the first few
 * mismatches; -1 on an error (message on stderr). */
int tu_gradcheck(TuBuildFn build, void *ctx, Tensor **in, int n_in, const TuGradOpts *opts);

#endif
