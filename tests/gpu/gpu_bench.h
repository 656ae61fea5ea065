/* tests/gpu/gpu_bench.h — the short kernel benchmark of `build/gpu-check --bench`. */
#ifndef LDM_TESTS_GPU_BENCH_H
#define LDM_TESTS_GPU_BENCH_H

#include <stdio.h>

#include "tests/gpu/gpu_parity.h"

/* Runs the benchmark, printing progress and the final table to stdout (and the table
 * also to `table`, when non-NULL). 0, or 1 when an op failed to run. */
int gp_bench(GpCtx *c, FILE *table);

#endif
