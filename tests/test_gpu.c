/* tests/test_gpu.c — the GPU parity checks of build/gpu-check under Criterion, so `make test`
 * shows them.
 *   - With a CUDA device: a subset (core device memory, elementwise, reductions, RNG, norms,
 *     attention) on quick shapes; the full set, the sanitizers and the benchmark are
 *     `make gpu-check`.
 *   - Under the emulator (make CUDA=emu; `make test` builds it in $(BUILD)/emu): every
 *     group, every kernel version, on the quick shapes (odd sizes, edge tiles, misaligned
 *     pointers, batch 1), each kernel checked for out-of-bounds and misaligned accesses,
 *     shared-memory races and barrier faults as it runs (core/emu/cuda_emu.h).
 *   - Without a device: one SKIPPED line; a CUDA that is installed but broken fails. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/device.h"
#include "core/error.h"
/* The checks are compiled into this suite (the Makefile links suites with tests/util/
 * only); build/gpu-check links the same file on its own. */
#include "tests/gpu/gpu_parity.c"

Test(gpu, parity_subset_matches_cpu, .timeout = 900) {
    const int probe = dev_cuda_probe();
    cr_assert_geq(probe, 0, "%s", ldm_last_error());
    if (probe == 0) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c; make gpu-check runs everything on a GPU)\n");
        return;
    }
    GpCtx c;
    const char *s = getenv("LDM_TEST_SEED");
    gp_init(&c, s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL), true);
    printf("test_gpu on %s: seed %llu (LDM_TEST_SEED=%llu repeats it)\n", dev_cuda_name(),
           (unsigned long long)c.rng, (unsigned long long)c.rng);
    if (dev_cuda_emulated()) {
        gp_check_all(&c);
    } else {
        gp_check_core(&c);
        gp_check_elementwise(&c);
        gp_check_reduce(&c);
        gp_check_random(&c);
        gp_check_norms(&c);
        gp_check_attention(&c);
    }
    cr_expect_eq(c.failed, 0, "%d GPU parity checks failed (FAIL lines above)", c.failed);
    cr_expect_gt(c.passed, 0);
}
