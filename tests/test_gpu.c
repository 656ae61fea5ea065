/* tests/test_gpu.c — the op table's device parity (bench/ops/op_table.h) on the quick
 * shapes (odd sizes, edge tiles, misaligned pointers, batch 1), every op, pass and kernel
 * version, under Criterion so that `make test` shows it.
 *   - With a GPU, or under the emulator (make CUDA=emu; `make test` builds it in
 *     $(BUILD)/emu), where each kernel is also checked for out-of-bounds and misaligned
 *     accesses, shared-memory races and barrier faults as it runs: the whole table; on the
 *     emulator then all of it again with every tensor misaligned.
 *   - Without a device (or in a CPU-only build): a visible skip, never a pass.
 *   - CUDA installed but broken: a failure naming the CUDA error.
 * The full shapes, the sanitizers and the benchmark are bench/gpu_run.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/ops/op_run.h"
#include "core/device.h"
#include "core/error.h"

Test(gpu, op_table_parity_quick, .timeout = 900) {
    const int probe = dev_cuda_probe();
    cr_assert_geq(probe, 0, "%s", ldm_last_error());
    if (probe == 0) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c)\n");
        cr_skip_test("no CUDA device: device parity not run (bench/gpu_run.sh runs it on a GPU)");
    }
    const char *s = getenv("LDM_TEST_SEED");
    OpRun r;
    op_run_init(&r, s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL));
    printf("test_gpu on %s: seed %llu (LDM_TEST_SEED=%llu repeats it)\n", dev_cuda_name(),
           (unsigned long long)r.rng, (unsigned long long)r.rng);
    r.quiet_ok = true;
    op_run_table(&r, NULL, SHAPES_QUICK, DEV_CUDA, -1, false);
    if (dev_cuda_emulated()) { /* again with every tensor misaligned: the scalar paths and their guards */
        r.misalign_all = true;
        op_run_table(&r, NULL, SHAPES_QUICK, DEV_CUDA, -1, false);
    }
    cr_expect_eq(r.failed, 0, "%d device parity checks failed (FAIL lines above)", r.failed);
    cr_expect_gt(r.passed, 100);
}
