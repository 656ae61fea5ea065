/* bench/timer.h — how ldm-bench times a call, and the ceilings it compares with.
 *
 * CPU: wall clock (omp_get_wtime). One warm-up call, then repetitions until both
 *      min_reps calls and budget_s seconds have passed (at most max_reps); the median.
 * CUDA: CUDA events around each call on the default stream after warm-up calls; the
 *      median. The caller rotates inputs (BenchFn gets the repetition index) so that the
 *      L2 cache does not hold them between calls.
 * Ceilings, measured at start on the device in use (CPU: the best of 9 runs, since a
 * ceiling is what the hardware can do and a shared machine only ever takes away;
 * CUDA: the median):
 *   bandwidth  CPU: memcpy of a 256 MiB buffer split across the OpenMP threads;
 *              CUDA: cudaMemcpy device-to-device of up to 1 GiB. Bytes = read + written.
 *   FMA        CPU: independent fused multiply-add chains in SIMD registers on every
 *              thread; CUDA: bench/cuda_timer.cu, FMA chains in every thread of a full grid.
 *              FLOP = 2 per FMA.
 */
#ifndef LDM_BENCH_TIMER_H
#define LDM_BENCH_TIMER_H

#include "core/device.h"

/* One call; rep counts from 0 (warm-up calls included). 0 or -1 with an error. */
typedef int (*BenchFn)(void *ctx, int rep);

typedef struct {
    double budget_s; /* keep repeating until this much time has passed */
    int min_reps, max_reps, warmup;
} TimerOpts;

/* Median seconds per call; -1 when a call fails. *reps (may be NULL) gets the count. */
double bench_time(Device dev, BenchFn fn, void *ctx, const TimerOpts *o, int *reps);

typedef struct {
    double bw_bytes_s;   /* bytes / s */
    double fma_flop_s;   /* FLOP / s */
    char name[128];      /* the device, in words */
    int threads;         /* CPU threads (0 on CUDA) */
    long long l2_bytes;  /* CUDA L2 size (0 on the CPU) */
} Ceilings;

int bench_ceilings(Device dev, Ceilings *c);

#ifdef LDM_CUDA
/* bench/cuda_timer.cu (everything that calls the CUDA runtime directly). */
/* Times fn with CUDA events: o->warmup calls, then until budget/min/max reps are met;
 * the per-call milliseconds go to ms[max_reps]. Returns how many, or -1. */
int bench_cuda_time(BenchFn fn, void *ctx, const TimerOpts *o, double *ms);
/* Bytes/s of a device-to-device cudaMemcpy (read + written); -1 on failure. */
double bench_cuda_copy_bw(void);
/* FLOP/s of an FMA-bound kernel: 8 independent FMA chains per thread, enough blocks
 * to fill every SM several times; -1 on failure. */
double bench_cuda_fma_flops(void);
long long bench_cuda_l2_bytes(void);
#endif

#endif
