/* tests/gpu/gpu_parity.h — GPU-against-CPU parity checks for every op header in kernels/,
 * usable without Criterion (build/gpu-check) and from the Criterion suite
 * tests/test_gpu.c.
 *
 * Each check builds fresh random inputs on the CPU, copies them to the GPU, runs the
 * same front function (e.g. group_norm_forward) on both devices, and compares every
 * output and accumulated gradient. GPU outputs are poisoned with NaN before the call, so
 * an element a kernel never writes fails; gradients start from the same random values
 * on both sides, so the += contract is checked too; each GPU call is run twice and must
 * give the same bits (determinism). Versioned kernels (conv2d, linear, attention) are
 * checked at every version (kernel_version_set), the default (0) included.
 *
 * Error measure, per tensor: max_i |gpu_i - cpu_i| / (|cpu_i| + rms(cpu)) — relative
 * where values have their typical size, absolute at the tensor's rms scale near zero
 * (where cancellation makes elementwise relative error meaningless). A NaN or inf that
 * the CPU does not have gives +inf. Tolerances: see gpu_parity.c.
 *
 * Every result prints one line: "OK|FAIL|ABSENT  op  vN  max_rel_err  [tensor] detail". */
#ifndef LDM_TESTS_GPU_PARITY_H
#define LDM_TESTS_GPU_PARITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct GpCtx {
    int passed, failed, absent;
    bool quick;   /* small shapes only (for compute-sanitizer) */
    bool misalign; /* every case's GPU tensors one float past a 16-byte boundary (scalar paths) */
    uint64_t rng; /* splitmix64 state for inputs */
} GpCtx;

void gp_init(GpCtx *c, uint64_t seed, bool quick);

/* Groups of checks; each adds to c->passed / c->failed / c->absent. */
void gp_check_core(GpCtx *c);        /* arena on CUDA, host <-> device copies */
void gp_check_elementwise(GpCtx *c); /* silu, fill, axpy, add, mul, scale, scale_shift */
void gp_check_resample(GpCtx *c);    /* upsample2x, concat, slice */
void gp_check_embedding(GpCtx *c);   /* embedding, timestep embedding */
void gp_check_reduce(GpCtx *c);      /* sum, mean, broadcast, mse, l1, sumsq */
void gp_check_vae(GpCtx *c);         /* gaussian_kl, reparameterize */
void gp_check_adamw(GpCtx *c);
void gp_check_random(GpCtx *c);      /* rng_uniform, rng_normal: bit-exact */
void gp_check_norms(GpCtx *c);       /* group_norm (+ SiLU), layer_norm */
void gp_check_conv2d(GpCtx *c);
void gp_check_linear(GpCtx *c);
void gp_check_attention(GpCtx *c);
void gp_check_all(GpCtx *c);

/* The error measure above, for n floats. */
double gp_max_rel_err(const float *got, const float *want, size_t n);

/* Uniform floats in [lo, hi) from the context's stream. */
void gp_fill_uniform(GpCtx *c, float *x, size_t n, float lo, float hi);

#endif
