/* tests/test_gpu.c — a subset of the GPU parity checks of build/gpu-check (quick shapes:
 * core device memory, elementwise, reductions, RNG, norms, attention) under Criterion,
 * so `make test` shows them. Without a CUDA device it prints one SKIPPED line and passes.
 * The full set, the sanitizers and the benchmark are `make gpu-check`. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "core/device.h"
/* The checks are compiled into this suite (the Makefile links suites with tests/util/
 * only); build/gpu-check links the same file on its own. */
#include "tests/gpu/gpu_parity.c"

Test(gpu, parity_subset_matches_cpu) {
    if (!dev_cuda_available()) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c; make gpu-check runs everything on a GPU)\n");
        return;
    }
    GpCtx c;
    gp_init(&c, (uint64_t)time(NULL), true);
    printf("test_gpu: seed %llu\n", (unsigned long long)c.rng);
    gp_check_core(&c);
    gp_check_elementwise(&c);
    gp_check_reduce(&c);
    gp_check_random(&c);
    gp_check_norms(&c);
    gp_check_attention(&c);
    cr_expect_eq(c.failed, 0, "%d GPU parity checks failed (FAIL lines above)", c.failed);
    cr_expect_gt(c.passed, 0);
}
