/* bench/cpu_bench.h — CPU micro-benchmarks of the GEMM-based ops (kernels/cpu/gemm.h,
 * conv2d, linear): best time per call over repeated runs and the GFLOP/s it means. */
#ifndef LDM_BENCH_CPU_BENCH_H
#define LDM_BENCH_CPU_BENCH_H

#include <stdio.h>

/* Square SGEMM n x n x n in the three transpose layouts the ops use (NN, NT, TN). */
int cpu_bench_gemm(FILE *out, int n);
/* conv2d forward, dgrad, wgrad on the speed-goal shape (3x3, 128 -> 128, 32x32, batch 8,
 * stride 1, pad 1) and its stride-2 and 1x1 neighbours. */
int cpu_bench_conv2d(FILE *out);
/* add and SiLU forward from 2^10 to 2^20 elements on one thread and on all of them (cpu_util.h's
 * threshold forced off and on), best of 300 interleaved calls: where the threshold belongs. */
int cpu_bench_threads(FILE *out);
/* op: "gemm", "conv2d", "threads" or "all" (all: gemm and conv2d). Prints a table to out; 0, or -1 with an error. */
int cpu_bench_run(FILE *out, const char *op);

#endif
