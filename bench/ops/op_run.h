/* bench/ops/op_run.h — the one runner of the op table (op_table.h), in every mode.
 *
 * The error measure, everywhere (device parity, gradient check, the benchmark's
 * validation):
 *     err(got, ref) = max_i |got_i - ref_i| / max_i |ref_i|      (1 when ref is all zero)
 * and +inf when got has a NaN or inf that ref does not. Why this one: it is scale-free (a
 * gradient of size 1e-2 is held to the same relative bound as one of size 1, which the
 * old absolute gradient tolerance was not); one wrong element of a million counts in
 * full (a mean or normalised MSE would dilute it a millionfold); and elements near zero
 * from cancellation are judged at the tensor's scale, where their rounding lives, instead
 * of elementwise-relative (where they would fail for no fault). What it cannot see: an
 * error in elements far smaller than the tensor's largest, below tol * max|ref|.
 *
 * Modes:
 *   op_parity     a pass on a device (CUDA, or the emulator) against the CPU, per kernel
 *                 version: outputs poisoned with NaN (an unwritten element fails),
 *                 accumulated gradients pre-filled (proves +=), arguments the pass does
 *                 not write must come back unchanged, a second run on a fresh copy of the
 *                 inputs must give the same bits, misaligned tensors where the case says.
 *   op_gradcheck  on the CPU: a backward pass against central finite differences of
 *                 L = sum_o <y_o, dy_o> through the op's forward pass, at up to 24
 *                 spread-out elements of every differentiated input.
 *   op_set_*      tensors for timing (bench/kernel_bench.c): one case's arguments on a
 *                 device, filled once, for rotation through the L2.
 * Each check prints one line: "OK|FAIL  op.pass  vN  err  [tensor] case  -- why". */
#ifndef LDM_BENCH_OPS_OP_RUN_H
#define LDM_BENCH_OPS_OP_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/ops/op_table.h"
#include "core/device.h"

typedef struct {
    int passed, failed;
    uint64_t rng;  /* splitmix64 state for the inputs */
    FILE *out;     /* one line per check (stdout when NULL) */
    bool quiet_ok; /* print FAIL lines only */
    bool misalign_all; /* op_run_table: every case's device tensors misaligned (the scalar paths and their guards) */
} OpRun;

void op_run_init(OpRun *r, uint64_t seed);

double op_err(const float *got, const float *want, size_t n);

/* One check each; 0 passed, 1 failed (counted in r and printed). version: 0 = default.
 * *err_out (may be NULL) gets the largest error over the written tensors. */
int op_parity(OpRun *r, const OpCase *c, int pass, int version, Device dev, double *err_out);
int op_gradcheck(OpRun *r, const OpCase *c, int pass);
/* Whether pass p of c's op has a gradient to check (an accumulated gradient of an input). */
bool op_has_grad(const OpCase *c, int pass);

/* Every case of `set` for every op (NULL: all) and pass: parity on dev at every version
 * (versions: -1 all, else only that one), or the gradient check (dev = DEV_CPU and
 * grad = true). Returns the number of failures. */
int op_run_table(OpRun *r, const char *op, OpShapeSet set, Device dev, int versions, bool grad);

/* Tensors of one case on a device. */
typedef struct {
    Tensor *t[OP_MAX_ARGS];
    float *base[OP_MAX_ARGS];
} OpSet;

/* Allocates and fills c's arguments on dev (inputs from `seed`), and for a backward pass
 * runs the forward first (its statistics). 0 or -1 with an error. */
int op_set_alloc(const OpCase *c, int pass, Device dev, uint64_t seed, OpSet *s);
int op_set_run(const OpCase *c, int pass, OpSet *s);
void op_set_free(OpSet *s);
double op_set_bytes(const OpSet *s);

#endif
