/* bench/kernel_bench.h — `ldm-bench kernels`: every op at the shapes a preset uses
 * (bench/shapes.h), validated against the CPU reference when it runs on the GPU, then
 * timed (bench/timer.h) and compared with the ceilings measured at start.
 *
 * Per op, pass, version and shape it prints the median time, GB/s and GFLOP/s from the
 * napkin math in shapes.h, and the share of the bandwidth ceiling (memory-bound ops) or
 * of the FMA ceiling (conv2d, linear, attention). --json writes the raw measurements:
 * integers only (times in ns, rates in bytes/s and FLOP/s), so core/json.h reads them
 * back for the chart and bench/torch_twin.py for the side-by-side table. */
#ifndef LDM_BENCH_KERNEL_BENCH_H
#define LDM_BENCH_KERNEL_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "core/device.h"

typedef struct {
    const char *preset;  /* "demo", "adni", ... */
    Device device;
    int batch;           /* 0: the preset's default (bench_default_batch) */
    bool quick;          /* shorter timing; at most 3 shapes per op, pass and model */
    const char *op;      /* NULL: all; else a bench_kind_name */
    int version;         /* -1: every version (CUDA); else only this one (0 = default) */
    const char *json;    /* NULL or a path */
    bool no_naive;       /* leave out each op's naive version (large shapes on a GPU) */
    int n_attn_lens;     /* > 0: instead of the preset's shapes, attention alone at these lengths */
    int attn_lens[8];    /*   (shapes_long_attention: 4 heads of 64, 4 context tokens) */
} KernelBenchOpts;

int kernel_bench_run(const KernelBenchOpts *o, FILE *out);

/* The batch the benchmarks use when none is given: 8 for small presets (image side <= 64),
 * 4 for adni/oasis; 1 for those on the CPU with quick. */
int bench_default_batch(const char *preset, Device dev, bool quick);

/* "git rev-parse --short HEAD" of the working directory, or "unknown". */
const char *bench_commit(void);
/* ISO date and time, UTC. */
const char *bench_date(void);

#endif
