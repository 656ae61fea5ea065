/* kernels/cpu/cpu_util.h — what the CPU kernels share (only the files of kernels/cpu include
 * it): when to use threads, and scratch memory that is allocated once and reused, so no
 * kernel calls malloc inside a training or sampling step.
 *
 * Threads. An OpenMP parallel region costs a wake-up and a barrier: about 2-5 us with spinning
 * threads, and 20-60 us with OMP_WAIT_POLICY=passive (what `make demo` uses) or when the other
 * core is busy. Below a size the second thread cannot repay that, so every CPU kernel asks
 * cpu_par(cost) in its `omp parallel ... if (...)`, where cost is the bytes the call moves (a
 * memory-bound op) or its FLOPs (a compute-bound one): one unit ~ 0.1-0.3 ns on one core.
 * Measured crossover (`ldm-bench cpu --op threads`: add and SiLU forward, 2^10..2^20
 * elements, one thread vs two, best of 300 interleaved calls; AMD EPYC, 2 cores shared with
 * other jobs): with OMP_WAIT_POLICY=passive, two threads first beat one on add at 2^15
 * elements = 384 KiB moved (13.2 vs 12.3 us; at 192 KiB 7.1 vs 9.2 us); with spinning threads
 * (active) the crossover drops to ~16-32 KiB. CPU_PAR_MIN_BYTES = 384 KiB is the passive
 * crossover, since that is how `make demo` runs (PyTorch's grain, 32768 elements, is the same
 * size for a binary op): up to it a region costs more than the second thread saves. (On that
 * loaded machine, passive SiLU never gained from a second thread, even at 8 MiB: the woken
 * thread was scheduled behind the other jobs; spinning, it ran 2x faster from 32 KiB up. At a
 * load of 15 on 2 cores, two threads lost to one at every size: no threshold can fix that.)
 *
 * Scratch. cpu_scratch(slot, bytes) returns a 64-byte aligned buffer owned by the calling
 * thread, one per slot, that only grows: the first step of a run allocates, later steps of the
 * same shapes reuse. Called from a parallel region, each thread gets its own. A kernel uses a
 * distinct slot for each buffer it holds at once; a slot's contents do not survive the next call
 * that asks for the same slot. The buffers live until the thread exits. NULL (with an error
 * naming the op) when the allocation fails.
 */
#ifndef LDM_KERNELS_CPU_CPU_UTIL_H
#define LDM_KERNELS_CPU_CPU_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#define CPU_PAR_MIN_BYTES (384.0 * 1024)

/* The current threshold (CPU_PAR_MIN_BYTES unless cpu_set_par_min changed it). */
double cpu_par_min(void);
/* Set the threshold (benchmarks measuring the crossover, tests); returns the old one. */
double cpu_set_par_min(double cost);
/* Whether an op of this cost (bytes moved, or FLOPs) should use more than one thread: only
 * above the threshold, as PyTorch's parallel_for only splits above its grain. */
static inline bool cpu_par(double cost) { return cost > cpu_par_min(); }

/* The same for the register-tiled kernels (the packed GEMM, the direct convolution), whose
 * cost is their FLOPs: one of their FLOPs takes ~1/16 of the time a memory-bound op spends
 * on a byte (50-70 GFLOP/s against 4-12 GB/s on one core), and they pay more than a region's
 * start for a second thread (a shared packing pass and its barrier; a serial weight pack).
 * Measured with the other core free (`chrt -f 1`, passive; sgemm (M, 64) x (64, 64)^T, one
 * thread vs two, best of 100): M = 256 (2.1 MFLOP) 37-48 us vs 57-63; M = 512 (4.2 MFLOP)
 * 80-94 vs 65-100; M = 1024 (8.4 MFLOP) 137-174 vs 111-131. So the crossover is ~6 MFLOP,
 * 16 x CPU_PAR_MIN_BYTES; before, those kernels split at 384 KFLOP, and the U-Net's
 * linear layers and small convolutions ran slower on two threads than on one. */
#define CPU_FLOPS_PER_UNIT 16.0
static inline bool cpu_par_flops(double flop) { return cpu_par(flop / CPU_FLOPS_PER_UNIT); }

typedef enum {
    SCRATCH_GROUP_NORM,    /* per-chunk statistics */
    SCRATCH_GROUP_NORM_GZ, /* the backward's dL/dz with the fused SiLU */
    SCRATCH_LAYER_NORM, /* per-chunk dgamma / dbeta partial sums */
    SCRATCH_ATTENTION,  /* one thread's score and accumulator tiles */
    SCRATCH_REDUCE,     /* block sums */
    SCRATCH_SUM_ROWS,   /* gemm_sum_rows: each chunk's column sums */
    SCRATCH_GEMM_PACK,  /* the SGEMM's packed blocks */
    SCRATCH_GEMM_THIN,  /* gemm_thin: w^T packed */
    SCRATCH_CONV,       /* conv2d: packed weights and slabs (forward, dgrad) */
    SCRATCH_CONV_PIXELS, /* conv2d: each thread's pixel pointer tables */
    SCRATCH_CONV_WGRAD, /* conv2d: the weight gradient's partials and slabs */
    SCRATCH_N_SLOTS
} CpuScratchSlot;

void *cpu_scratch(CpuScratchSlot slot, size_t bytes, const char *op);
/* How many times any thread's scratch grew (a test: a repeated step must not grow it). */
long cpu_scratch_grows(void);

#endif
