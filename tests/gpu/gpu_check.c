/* tests/gpu/gpu_check.c — build/gpu-check: the GPU parity harness and kernel benchmark,
 * with no test framework (the GPU machine may lack Criterion).
 *
 *   build/gpu-check                 every parity check (gpu_parity.h); one line per check,
 *                                   then 'N passed, N failed'; exit 1 on any failure
 *   build/gpu-check --quick         small shapes only (for compute-sanitizer)
 *   build/gpu-check --only GROUP    one group: core elementwise resample embedding reduce
 *                                   vae adamw random norms conv2d linear attention
 *   build/gpu-check --seed N        reproduce a run's random inputs (the seed is printed)
 *   build/gpu-check --bench [--table FILE]   the kernel benchmark (gpu_bench.h)
 * Without a CUDA device it prints "SKIPPED: no CUDA device" and exits 0.
 * `make gpu-check` runs all of this, plus compute-sanitizer (tests/gpu/run_gpu_check.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/device.h"
#include "core/error.h"
#include "tests/gpu/gpu_bench.h"
#include "tests/gpu/gpu_parity.h"

static const struct {
    const char *name;
    void (*run)(GpCtx *);
} k_groups[] = {
    {"core", gp_check_core},         {"elementwise", gp_check_elementwise}, {"resample", gp_check_resample},
    {"embedding", gp_check_embedding}, {"reduce", gp_check_reduce},       {"vae", gp_check_vae},
    {"adamw", gp_check_adamw},       {"random", gp_check_random},           {"norms", gp_check_norms},
    {"conv2d", gp_check_conv2d},     {"linear", gp_check_linear},           {"attention", gp_check_attention},
};

static int usage(void) {
    fprintf(stderr, "usage: gpu-check [--quick] [--only GROUP] [--seed N] [--bench [--table FILE]]\n");
    return 2;
}

int main(int argc, char **argv) {
    int quick = 0, bench = 0;
    const char *only = NULL, *table_path = NULL;
    unsigned long long seed = (unsigned long long)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--bench") == 0) bench = 1;
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--table") == 0 && i + 1 < argc) table_path = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else return usage();
    }
    const int probe = dev_cuda_probe();
    if (probe < 0) { /* CUDA is there but broken: never a pass */
        printf("FAIL: %s\n", ldm_last_error());
        return 1;
    }
    if (probe == 0) {
        printf("SKIPPED: no CUDA device\n");
        return 0;
    }
    GpCtx c;
    gp_init(&c, seed, quick);
    if (bench) {
        FILE *table = table_path ? fopen(table_path, "w") : NULL;
        if (table_path && !table) {
            fprintf(stderr, "gpu-check: cannot write %s\n", table_path);
            return 1;
        }
        int rc = gp_bench(&c, table);
        if (table) fclose(table);
        return rc ? 1 : 0;
    }
    printf("gpu-check on %s, seed %llu%s\n", dev_cuda_name(), seed, quick ? ", quick shapes" : "");
    int found = 0;
    for (size_t i = 0; i < sizeof k_groups / sizeof k_groups[0]; i++)
        if (!only || strcmp(only, k_groups[i].name) == 0) {
            k_groups[i].run(&c);
            found = 1;
        }
    if (!found) return usage();
    if (c.absent) printf("%d kernel versions absent (not counted)\n", c.absent);
    printf("%d passed, %d failed\n", c.passed, c.failed);
    return c.failed ? 1 : 0;
}
