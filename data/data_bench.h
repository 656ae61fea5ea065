/* data/data_bench.h — how fast the data loader turns ADNI-sized JPEGs into batches.
 *
 * Without a path it writes `images` synthetic 256x240 gray JPEGs (a textured ellipse,
 * quality 90, like the ADNI slices in size and entropy) in the ADNI layout under a
 * temporary folder, and removes them afterwards. It then times, over every training
 * image: (1) decode alone on one thread, (2) decode + transform on one thread, and
 * (3) the Loader on `threads` decode threads, no cache, whole epochs of batches.
 * Run it with `ldm-data bench [PATH]`; the target is >= 1500 images/s for (3)
 * on 2 cores. On a shared machine the wall-clock rate drops with other jobs' load, so
 * the CPU time spent is reported too: images per CPU-second x threads is the rate the
 * loader reaches when its cores are its own.
 */
#ifndef LDM_BENCH_DATA_BENCH_H
#define LDM_BENCH_DATA_BENCH_H

#include <stdio.h>

typedef struct {
    const char *path; /* a data set, or NULL for synthetic ADNI JPEGs */
    int images;       /* synthetic images (default 2000) */
    int threads;      /* loader decode threads (default 2) */
    int batch;        /* default 32 */
    int size;         /* transform output side (default 64) */
    int epochs;       /* loader epochs timed (default 2) */
} DataBenchOptions;

typedef struct {
    int images;              /* training images timed per pass */
    double decode_per_s;     /* (1) */
    double transform_per_s;  /* (2) */
    double loader_per_s;     /* (3), wall clock */
    double loader_per_cpu_s; /* (3) per CPU-second of the process: unaffected by other jobs sharing the cores */
} DataBenchResult;

/* Runs the three measurements and prints a table to `out` (may be NULL). */
int data_bench(const DataBenchOptions *o, DataBenchResult *r, FILE *out);

#endif
